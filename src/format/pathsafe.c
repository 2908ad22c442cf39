/* pathsafe.c - what an archive entry path may be (formats/hero-archive-v1.md 2.3),
 * and the claims of the paths of one archive on a file system: duplicates,
 * case and Unicode-normalisation collisions, and file/directory clashes
 * (docs/security.md, docs/decisions/0010-hostile-archives.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unicode/unorm2.h>
#include <unicode/ustring.h>

#include "base/internal.h"
#include "format/pathsafe.h"
#include "hero/archive.h"

static int bad(struct hero_error *err, const char *path, const char *why)
{
	char q[256];
	hero_path_quote(path, q, sizeof q);
	return hero_error(err, HERO_EINTEGRITY, "unsafe entry path '%s': %s", q, why);
}

int hero_path_check(const char *path, const struct hero_limits *lim, struct hero_error *err)
{
	size_t len = strlen(path);
	if (len == 0)
		return bad(err, path, "empty");
	if (len > lim->max_path)
		return bad(err, path, "too long");
	if (path[0] == '/')
		return bad(err, path, "absolute");
	if (!strcmp(path, ".hero") || !strncmp(path, ".hero/", 6))
		return bad(err, path, "reserved name");
	const unsigned char *s = (const unsigned char *)path;
	size_t comp = 0, depth = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || s[i] == '/') {
			const char *start = path + i - comp;
			if (comp == 0)
				return bad(err, path, "empty component");
			if ((comp == 1 && start[0] == '.') || (comp == 2 && start[0] == '.' && start[1] == '.'))
				return bad(err, path, "'.' or '..' component");
			if (comp > lim->max_component)
				return bad(err, path, "component too long");
			if (++depth > HERO_MAX_DEPTH)
				return bad(err, path, "more than " HERO_STR(HERO_MAX_DEPTH) " levels");
			comp = 0;
			continue;
		}
		uint32_t cp = 0;
		size_t n = hero_utf8_len(s + i, &cp);
		if (!n)
			return bad(err, path, "invalid utf-8");
		if (hero_is_control(cp) || cp == '\\')
			return bad(err, path, "control character or backslash");
		comp += n;
		i += n - 1;
	}
	return 0;
}

/* ---- the collision key ---- */

/* NFKC_Casefold of the UTF-8 string S[0..N) (ICU): case folded, compatibility
 * normalised, default-ignorable code points removed. Coarser than what any
 * file system identifies (NFD/NFC with simple or full case folding), so two
 * names a file system could confuse always get the same key. */
static char *fold_unicode(const char *s, size_t n)
{
	UErrorCode e = U_ZERO_ERROR;
	const UNormalizer2 *nf = unorm2_getNFKCCasefoldInstance(&e);
	int32_t l16 = 0, lout = 0, l8 = 0;
	UChar *src = NULL, *dst = NULL;
	char *out = NULL;
	if (U_FAILURE(e) || n > INT32_MAX / 4)
		return NULL;
	u_strFromUTF8(NULL, 0, &l16, s, (int32_t)n, &e);
	e = U_ZERO_ERROR;
	if (!(src = malloc(((size_t)l16 + 1) * sizeof *src)))
		goto out;
	u_strFromUTF8(src, l16 + 1, NULL, s, (int32_t)n, &e);
	lout = U_SUCCESS(e) ? unorm2_normalize(nf, src, l16, NULL, 0, &e) : 0;
	if (e != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(e))
		goto out;
	e = U_ZERO_ERROR;
	if (!(dst = malloc(((size_t)lout + 1) * sizeof *dst)))
		goto out;
	unorm2_normalize(nf, src, l16, dst, lout + 1, &e);
	u_strToUTF8(NULL, 0, &l8, dst, lout, &e);
	if (e != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(e))
		goto out;
	e = U_ZERO_ERROR;
	if ((out = malloc((size_t)l8 + 1)))
		u_strToUTF8(out, l8 + 1, NULL, dst, lout, &e);
	if (out && U_FAILURE(e)) {
		free(out);
		out = NULL;
	}
out:
	free(src);
	free(dst);
	return out;
}

/* The collision key of PATH, component by component (so folding never moves
 * a '/'); malloc'd, NULL when out of memory. */
static char *fold_path(const char *path)
{
	size_t len = strlen(path), cap = len + 1, o = 0;
	char *key = malloc(cap);
	if (!key)
		return NULL;
	for (const char *p = path; *p;) {
		size_t c = strcspn(p, "/");
		int ascii = 1;
		for (size_t i = 0; i < c; i++)
			ascii &= (unsigned char)p[i] < 0x80;
		char *f = ascii ? NULL : fold_unicode(p, c);
		if (!ascii && !f) {
			free(key);
			return NULL;
		}
		size_t fl = f ? strlen(f) : c;
		if (o + fl + 2 > cap) {
			cap = o + fl + 2 + len;
			char *k = realloc(key, cap);
			if (!k) {
				free(f);
				free(key);
				return NULL;
			}
			key = k;
		}
		for (size_t i = 0; i < fl; i++) {
			char ch = f ? f[i] : p[i];
			if (ch == '/')
				ch = '\x1f'; /* a folded FULLWIDTH SOLIDUS: keep the component count */
			key[o++] = ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
		}
		free(f);
		p += c;
		if (*p == '/')
			key[o++] = *p++;
	}
	key[o] = '\0';
	return key;
}

/* ---- claims ---- */

int hero_claims_init(struct hero_claims *c)
{
	memset(c, 0, sizeof *c);
	if (hero_strset_init(&c->exact) < 0 || hero_strset_init(&c->files) < 0 || hero_strset_init(&c->dirs) < 0 ||
	    hero_strset_init(&c->parents) < 0 || hero_strset_init(&c->rawparents) < 0)
		return -1;
	return 0;
}

void hero_claims_release(struct hero_claims *c)
{
	hero_strset_release(&c->exact);
	hero_strset_release(&c->files);
	hero_strset_release(&c->dirs);
	hero_strset_release(&c->parents);
	hero_strset_release(&c->rawparents);
}

static int claim_error(struct hero_error *err, const char *path, const char *why)
{
	char q[256];
	hero_path_quote(path, q, sizeof q);
	return hero_error(err, HERO_EINTEGRITY, "archive refused: '%s' %s", q, why);
}

static const char *const sidecars[] = { "-wal", "-shm", "-journal" };

/* The SQLite sidecar suffix PATH ends in, or NULL. */
static const char *sidecar_suffix(const char *key)
{
	size_t n = strlen(key);
	for (size_t i = 0; i < sizeof sidecars / sizeof *sidecars; i++) {
		size_t s = strlen(sidecars[i]);
		if (n > s && !strcmp(key + n - s, sidecars[i]))
			return sidecars[i];
	}
	return NULL;
}

static int looks_like_db(const char *key, size_t n)
{
	static const char *const ext[] = { ".db", ".db3", ".sqlite", ".sqlite3" };
	for (size_t i = 0; i < sizeof ext / sizeof *ext; i++) {
		size_t e = strlen(ext[i]);
		if (n > e && !strncmp(key + n - e, ext[i], e))
			return 1;
	}
	return 0;
}

/* A -wal, -shm or -journal file beside a database (an entry of this archive,
 * or a name that looks like one) would be replayed into it: refused. */
static int check_sidecar(struct hero_claims *c, const char *path, const char *key, int isdir,
			 struct hero_error *err)
{
	const char *suf = sidecar_suffix(key);
	if (suf) {
		size_t stem = strlen(key) - strlen(suf);
		char *s = strndup(key, stem);
		if (!s)
			return hero_error(err, HERO_EFAIL, "out of memory");
		int hit = looks_like_db(key, stem) || hero_strset_has(&c->files, s);
		free(s);
		if (hit)
			return claim_error(err, path, "is a SQLite sidecar (-wal, -shm, -journal); databases travel alone");
	}
	if (isdir)
		return 0;
	char buf[8192];
	for (size_t i = 0; i < sizeof sidecars / sizeof *sidecars; i++) {
		int m = snprintf(buf, sizeof buf, "%s%s", key, sidecars[i]);
		if (m > 0 && (size_t)m < sizeof buf && hero_strset_has(&c->files, buf))
			return claim_error(err, path, "has a SQLite sidecar (-wal, -shm, -journal) in the archive");
	}
	return 0;
}

/* KEY is known (as an entry or a parent) under another spelling than RAW. */
static int spelled_otherwise(struct hero_claims *c, const char *key, const char *raw)
{
	if (hero_strset_has(&c->dirs, key) || hero_strset_has(&c->files, key))
		return !hero_strset_has(&c->exact, raw);
	if (hero_strset_has(&c->parents, key))
		return !hero_strset_has(&c->rawparents, raw);
	return 0;
}

/* Every proper prefix of KEY must not be a file nor collide with another
 * spelling of itself; record them as parents. RAW is PATH, cut as KEY is. */
static int check_parents(struct hero_claims *c, const char *path, char *key, char *raw, struct hero_error *err)
{
	char *p = strchr(key, '/'), *q = strchr(raw, '/');
	for (; p && q; p = strchr(p + 1, '/'), q = strchr(q + 1, '/')) {
		*p = *q = '\0';
		int isfile = hero_strset_has(&c->files, key), other = spelled_otherwise(c, key, raw);
		int added = isfile || other ? 0 : hero_strset_add(&c->parents, key);
		if (added > 0)
			added = hero_strset_add(&c->rawparents, raw);
		*p = *q = '/';
		if (isfile)
			return claim_error(err, path, "lies beneath an entry that is a file");
		if (other)
			return claim_error(err, path,
					   "has a parent that collides with an earlier one (same name after case folding and unicode normalisation)");
		if (added < 0)
			return hero_error(err, HERO_EFAIL, "out of memory");
	}
	return 0;
}

int hero_claims_add(struct hero_claims *c, const char *path, int isdir, struct hero_error *err)
{
	int ret = hero_strset_add(&c->exact, path);
	if (ret < 0)
		return hero_error(err, HERO_EFAIL, "out of memory");
	if (ret == 0)
		return claim_error(err, path, "is a duplicate entry");
	char *key = fold_path(path), *raw = strdup(path);
	if (!key || !raw) {
		free(key);
		free(raw);
		return hero_error(err, HERO_EFAIL, "out of memory");
	}
	if (!strcmp(key, ".hero") || !strncmp(key, ".hero/", 6)) {
		ret = claim_error(err, path, "collides with the reserved name '.hero'");
		goto out;
	}
	if (hero_strset_has(&c->files, key) || hero_strset_has(&c->dirs, key)) {
		ret = claim_error(err, path,
				  "collides with an earlier entry (same name after case folding and unicode normalisation)");
		goto out;
	}
	if (!isdir && hero_strset_has(&c->parents, key)) {
		ret = claim_error(err, path, "is a file, but earlier entries lie beneath it");
		goto out;
	}
	if (hero_strset_has(&c->parents, key) && !hero_strset_has(&c->rawparents, path)) {
		ret = claim_error(err, path,
				  "collides with an earlier entry (same name after case folding and unicode normalisation)");
		goto out;
	}
	if ((ret = check_parents(c, path, key, raw, err)) < 0 || (ret = check_sidecar(c, path, key, isdir, err)) < 0)
		goto out;
	ret = hero_strset_add(isdir ? &c->dirs : &c->files, key);
	ret = ret < 0 ? hero_error(err, HERO_EFAIL, "out of memory") : 0;
out:
	free(key);
	free(raw);
	return ret;
}
