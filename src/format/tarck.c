/* tarck.c - an independent check of the tar block structure (tarck.h).
 *
 * Every decompressed byte passes here before libarchive sees it. This second,
 * deliberately narrow parser accepts only what the writer produces (ustar
 * headers of type 0 and 5, pax 'x' headers with a few keys, no owner, modes
 * within 0755, zero bytes after the end blocks), checks that a pax size
 * agrees with the ustar size, and records where each entry starts and how
 * large it is, so the reader can hold libarchive to the same boundaries
 * (docs/security.md, "parser differentials"). */
#include "format/tarck.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/internal.h"

static int tarck_fail(struct hero_tarck *t, struct hero_error *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int tarck_fail(struct hero_tarck *t, struct hero_error *err, const char *fmt, ...)
{
	char what[512], q[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	hero_path_quote(t->name, q, sizeof q);
	return hero_error(err, HERO_EINTEGRITY, "archive refused: tar entry '%s': %s", q, what);
}

/* A numeric header field: octal (leading spaces, then digits, then spaces or
 * NULs) or base-256 (first byte 0x80). Returns -1 when malformed. */
static int tar_num(const uint8_t *f, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;
	if (f[0] == 0x80) {
		for (i = 1; i < n; i++) {
			if (v >> 55)
				return -1;
			v = (v << 8) | f[i];
		}
		*out = v;
		return 0;
	}
	while (i < n && f[i] == ' ')
		i++;
	for (; i < n && f[i] >= '0' && f[i] <= '7'; i++) {
		if (v >> 60)
			return -1;
		v = (v << 3) | (uint64_t)(f[i] - '0');
	}
	for (; i < n; i++)
		if (f[i] != ' ' && f[i] != '\0')
			return -1;
	*out = v;
	return 0;
}

static int pax_decimal(const char *v, size_t n, uint64_t *out)
{
	uint64_t x = 0;
	if (n == 0 || n > 19)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	*out = x;
	return 0;
}

static int pax_record(struct hero_tarck *t, const char *key, const char *v, size_t vn, struct hero_error *err)
{
	if (memchr(v, '\0', vn))
		return tarck_fail(t, err, "pax record '%.40s' holds a NUL byte", key);
	if (!strcmp(key, "path")) {
		/* libarchive falls back to the ustar name on an empty pax path */
		if (vn == 0)
			return tarck_fail(t, err, "pax path is empty");
		free(t->pax_path);
		if (!(t->pax_path = strndup(v, vn)))
			return hero_error(err, HERO_EFAIL, "out of memory");
		return 0;
	}
	if (!strcmp(key, "size")) {
		if (pax_decimal(v, vn, &t->pax_size) < 0)
			return tarck_fail(t, err, "malformed pax size");
		t->has_pax_size = 1;
		return 0;
	}
	if (!strcmp(key, "mtime") || !strcmp(key, "atime") || !strcmp(key, "ctime"))
		return strspn(v, "-0123456789.") >= vn && vn > 0 && vn < 40 ? 0 : tarck_fail(t, err, "malformed pax time");
	if (!strcmp(key, "uid") || !strcmp(key, "gid"))
		return vn == 1 && v[0] == '0' ? 0 : tarck_fail(t, err, "has an owner (pax %s); archives carry none", key);
	if (!strcmp(key, "uname") || !strcmp(key, "gname"))
		return vn == 0 ? 0 : tarck_fail(t, err, "has an owner (pax %s); archives carry none", key);
	if (!strcmp(key, "hdrcharset")) {
		t->pax_binary = vn == 6 && !memcmp(v, "BINARY", 6);
		return 0;
	}
	char q[64];
	hero_path_quote(key, q, sizeof q);
	return tarck_fail(t, err, "pax record '%s' is not allowed", q);
}

/* Parse the pax extended header collected in T->pax. */
static int pax_parse(struct hero_tarck *t, struct hero_error *err)
{
	size_t off = 0;
	while (off < t->pax_len) {
		const char *rec = t->pax + off;
		size_t avail = t->pax_len - off, len = 0, i = 0;
		while (i < avail && i < 8 && rec[i] >= '0' && rec[i] <= '9')
			len = len * 10 + (size_t)(rec[i++] - '0');
		if (i == 0 || i >= avail || rec[i] != ' ' || len > avail || len < i + 4 || rec[len - 1] != '\n')
			return tarck_fail(t, err, "malformed pax record");
		const char *kv = rec + i + 1, *eq = memchr(kv, '=', len - i - 2);
		if (!eq || eq == kv)
			return tarck_fail(t, err, "malformed pax record");
		char key[64];
		size_t kn = (size_t)(eq - kv);
		if (kn >= sizeof key || memchr(kv, '\0', kn))
			return tarck_fail(t, err, "malformed pax record key");
		memcpy(key, kv, kn);
		key[kn] = '\0';
		int ret = pax_record(t, key, eq + 1, (size_t)(rec + len - 1 - (eq + 1)), err);
		if (ret < 0)
			return ret;
		off += len;
	}
	return 0;
}

/* The ustar name of the header in T->blk into OUT (N bytes), joined as
 * libarchive joins it: the prefix, a '/' unless the prefix ends in one, the name. */
static void ustar_name(const struct hero_tarck *t, char *out, size_t n)
{
	const char *prefix = (const char *)t->blk + 345, *name = (const char *)t->blk;
	size_t pl = strnlen(prefix, 155), nl = strnlen(name, 100);
	snprintf(out, n, "%.*s%s%.*s", (int)pl, prefix, pl && prefix[pl - 1] != '/' ? "/" : "", (int)nl, name);
}

/* The name of the entry whose header is in T->blk, for messages. */
static void tarck_name(struct hero_tarck *t)
{
	if (t->pax_path)
		snprintf(t->name, sizeof t->name, "%s", t->pax_path);
	else
		ustar_name(t, t->name, sizeof t->name);
}

/* Whether S is valid UTF-8: no overlong forms, surrogates or code points above U+10FFFF. */
static int valid_utf8(const unsigned char *s)
{
	while (*s) {
		size_t n = s[0] < 0x80 ? 1 : s[0] >= 0xC2 && s[0] < 0xE0 ? 2 : s[0] >= 0xE0 && s[0] <= 0xEF ? 3
			 : s[0] >= 0xF0 && s[0] <= 0xF4 ? 4 : 0;
		if (!n)
			return 0;
		for (size_t i = 1; i < n; i++)
			if ((s[i] & 0xC0) != 0x80)
				return 0;
		if ((n == 3 && s[0] == 0xE0 && s[1] < 0xA0) || (n == 3 && s[0] == 0xED && s[1] >= 0xA0) ||
		    (n == 4 && ((s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] >= 0x90))))
			return 0;
		s += n;
	}
	return 1;
}

static int ends_in_slash(const char *s)
{
	size_t n = strlen(s);
	return n > 0 && s[n - 1] == '/';
}

static int tarck_checksum(const uint8_t *b)
{
	uint64_t want, sum = 0;
	for (size_t i = 0; i < 512; i++)
		sum += i >= 148 && i < 156 ? ' ' : b[i];
	return tar_num(b + 148, 8, &want) == 0 && want == sum ? 0 : -1;
}

static int tarck_pax_header(struct hero_tarck *t, uint64_t size, struct hero_error *err)
{
	if (t->pax_pending)
		return tarck_fail(t, err, "two pax headers in a row");
	if (size > HERO_TARCK_PAX_MAX)
		return tarck_fail(t, err, "pax header of %llu bytes is too large", (unsigned long long)size);
	if (!t->pax && !(t->pax = malloc(HERO_TARCK_PAX_MAX)))
		return hero_error(err, HERO_EFAIL, "out of memory");
	t->ent_off = t->off - 512;
	t->pax_len = 0;
	t->pax_pending = 1;
	t->data_left = size;
	t->left = (size + 511) & ~(uint64_t)511;
	t->st = t->left ? HERO_TARCK_DATA : HERO_TARCK_HEADER;
	t->in_pax = t->left != 0;
	return 0;
}

/* Append the entry whose header was just parsed, named PATH, to the records. */
static int tarck_record(struct hero_tarck *t, const char *path, uint64_t size, int dir, struct hero_error *err)
{
	if (t->qlen >= t->qmax)
		return tarck_fail(t, err, "more than %zu tar headers ahead of libarchive", t->qmax);
	if (t->qhead + t->qlen == t->qcap) {
		if (t->qhead) {
			memmove(t->q, t->q + t->qhead, t->qlen * sizeof *t->q);
			t->qhead = 0;
		} else {
			size_t cap = t->qcap ? t->qcap * 2 : 16;
			struct hero_tarck_rec *v = realloc(t->q, cap * sizeof *v);
			if (!v)
				return hero_error(err, HERO_EFAIL, "out of memory");
			t->q = v;
			t->qcap = cap;
		}
	}
	struct hero_tarck_rec *rec = &t->q[t->qhead + t->qlen];
	if (!(rec->path = strdup(path)))
		return hero_error(err, HERO_EFAIL, "out of memory");
	rec->off = t->ent_off;
	rec->size = size;
	rec->dir = dir;
	/* a fault in this parser: the entry seems to start one block later */
	if (hero_fault("tarck-record") < 0)
		rec->off += 512;
	t->qlen++;
	return 0;
}

static int tarck_header(struct hero_tarck *t, struct hero_error *err)
{
	const uint8_t *b = t->blk;
	size_t z = 0;
	while (z < 512 && !b[z])
		z++;
	if (z == 512) {
		if (t->pax_pending)
			return tarck_fail(t, err, "pax header without an entry");
		if (++t->zero_blocks == 2)
			t->st = HERO_TARCK_END;
		else
			t->end_off = t->off - 512;
		return 0;
	}
	tarck_name(t);
	if (t->zero_blocks)
		return tarck_fail(t, err, "follows a lone zero block");
	if (tarck_checksum(b) < 0)
		return tarck_fail(t, err, "header checksum mismatch");
	if (memcmp(b + 257, "ustar", 6) != 0 || memcmp(b + 263, "00", 2) != 0)
		return tarck_fail(t, err, "not a POSIX ustar header");
	uint64_t size, mode, uid, gid, unused;
	if (tar_num(b + 124, 12, &size) < 0 || tar_num(b + 100, 8, &mode) < 0 || tar_num(b + 108, 8, &uid) < 0 ||
	    tar_num(b + 116, 8, &gid) < 0 || tar_num(b + 136, 12, &unused) < 0 || tar_num(b + 329, 8, &unused) < 0 ||
	    tar_num(b + 337, 8, &unused) < 0) /* libarchive refuses a first header with these malformed */
		return tarck_fail(t, err, "malformed numeric field");
	uint8_t type = b[156];
	if (type == 'x')
		return tarck_pax_header(t, size, err);
	if (type != '0' && type != '5')
		return tarck_fail(t, err, "type '%c' refused: only regular files and directories are allowed",
				  type >= 0x21 && type < 0x7f ? type : '?');
	if (mode & ~(uint64_t)0755)
		return tarck_fail(t, err, "mode %04llo refused (setuid, setgid, sticky or group/other write)",
				  (unsigned long long)mode);
	if (uid || gid || b[265] || b[297])
		return tarck_fail(t, err, "has an owner (uid, gid, uname or gname); archives carry none");
	if (t->has_pax_size && t->pax_size != size)
		return tarck_fail(t, err, "pax size %llu differs from the ustar size %llu",
				  (unsigned long long)t->pax_size, (unsigned long long)size);
	if (type == '5' && size)
		return tarck_fail(t, err, "directory with data");
	/* libarchive takes a regular entry whose name ends in '/' for a directory
	 * and then reads its data as headers: either name decides */
	char uname[512];
	ustar_name(t, uname, sizeof uname);
	if (type == '0' && (ends_in_slash(uname) || (t->pax_path && ends_in_slash(t->pax_path))))
		return tarck_fail(t, err, "regular file whose name ends in '/'");
	/* libarchive converts a pax path from UTF-8 unless hdrcharset is BINARY, and fails on invalid UTF-8 */
	if (t->pax_path && !t->pax_binary && !valid_utf8((const unsigned char *)t->pax_path))
		return tarck_fail(t, err, "pax path is not valid UTF-8");
	if (!t->pax_pending)
		t->ent_off = t->off - 512;
	int ret = tarck_record(t, t->pax_path ? t->pax_path : uname, size, type == '5', err);
	if (ret < 0)
		return ret;
	t->entries++;
	t->pax_pending = t->has_pax_size = t->pax_binary = 0;
	free(t->pax_path);
	t->pax_path = NULL;
	t->data_left = size;
	t->left = (size + 511) & ~(uint64_t)511;
	t->st = t->left ? HERO_TARCK_DATA : HERO_TARCK_HEADER;
	return 0;
}

int hero_tarck_feed(struct hero_tarck *t, const uint8_t *p, size_t n, struct hero_error *err)
{
	int ret;
	while (n > 0) {
		if (t->st == HERO_TARCK_END) {
			for (size_t i = 0; i < n; i++)
				if (p[i])
					return hero_error(err, HERO_EINTEGRITY,
							  "archive damaged: non-zero bytes after the end of the tar archive");
			t->off += n;
			return 0;
		}
		if (t->st == HERO_TARCK_DATA) {
			size_t k = n < t->left ? n : (size_t)t->left;
			size_t d = k < t->data_left ? k : (size_t)t->data_left;
			if (t->in_pax) {
				memcpy(t->pax + t->pax_len, p, d);
				t->pax_len += d;
			}
			t->data_left -= d;
			t->left -= k;
			t->off += k;
			p += k;
			n -= k;
			if (t->left == 0) {
				t->st = HERO_TARCK_HEADER;
				if (t->in_pax && (ret = pax_parse(t, err)) < 0)
					return ret;
				t->in_pax = 0;
			}
			continue;
		}
		size_t k = 512 - t->have < n ? 512 - t->have : n;
		memcpy(t->blk + t->have, p, k);
		t->have += k;
		t->off += k;
		p += k;
		n -= k;
		if (t->have == 512) {
			t->have = 0;
			if ((ret = tarck_header(t, err)) < 0)
				return ret;
		}
	}
	return 0;
}

void hero_tarck_init(struct hero_tarck *t, size_t qmax)
{
	memset(t, 0, sizeof *t);
	t->qmax = qmax;
}

const struct hero_tarck_rec *hero_tarck_peek(const struct hero_tarck *t)
{
	return t->qlen ? &t->q[t->qhead] : NULL;
}

void hero_tarck_take(struct hero_tarck *t)
{
	if (!t->qlen)
		return;
	free(t->q[t->qhead].path);
	t->qhead++;
	if (--t->qlen == 0)
		t->qhead = 0;
}

void hero_tarck_release(struct hero_tarck *t)
{
	while (t->qlen)
		hero_tarck_take(t);
	free(t->q);
	free(t->pax);
	free(t->pax_path);
	memset(t, 0, sizeof *t);
}
