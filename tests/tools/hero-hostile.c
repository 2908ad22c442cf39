/* hero-hostile - write a corpus of hostile archives, validly signed.
 *
 *   hero-hostile -s KEY [-S OTHERKEY] -o DIR [--only NAME] [--million]
 *
 * Each archive is built with libarchive's tar writer (plus byte surgery where
 * libarchive cannot say what an attacker can), compressed with zstd and
 * signed with KEY, so the signature is valid and only the content is
 * hostile. DIR/EXPECT lists, per archive, the exit code hero-restore must
 * give and a substring of its one error line (tests/cli/t40_hostile.sh).
 * --million adds million-empty.hsnap: 1,000,001 empty files.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <sodium.h>
#include <sqlite3.h>
#include <zstd.h>

#include "base/internal.h"
#include "hero/archive.h"
#include "hero/keys.h"

#define FILES "var/hero_foundry/files/root/"
#define OSIS "var/hero_osis/root/"

struct buf {
	uint8_t *p;
	size_t n, cap;
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("hero-hostile: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static void put(struct buf *b, const void *p, size_t n)
{
	if (b->n + n > b->cap) {
		size_t cap = b->cap ? b->cap : 65536;
		while (cap < b->n + n)
			cap *= 2;
		if (!(b->p = realloc(b->p, cap)))
			die("out of memory");
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->n, p, n);
	b->n += n;
}

static void zeros(struct buf *b, size_t n)
{
	static const uint8_t z[4096];
	while (n) {
		size_t k = n < sizeof z ? n : sizeof z;
		put(b, z, k);
		n -= k;
	}
}

/* ---- the archive being built ---- */

struct gen {
	struct archive *a;
	struct buf tar;       /* uncompressed tar stream */
	struct buf idx;       /* index entries (JSON array elements) */
	int nidx;
	/* knobs for the wrapper */
	const struct hero_seckey *sk;
	int major, flags;
	int bad_sig_keyid, sig_tag_ed, sig_noncanonical, no_sig;
	size_t cut_tail;      /* bytes removed from the end of the finished file */
	struct buf after_sig; /* bytes appended after the signature frame */
	struct buf extra_frame; /* raw bytes compressed as a separate frame after the tar */
	int bomb_frames;      /* repeated 128 MiB frames of zeros after the tar prefix */
	size_t bomb_at;       /* the bomb frames go after this many tar bytes */
	uint8_t keyid[HERO_KEYID_BYTES]; /* the header's key id, also in the signature frame */
	uint8_t id[HERO_ID_BYTES];
};

static la_ssize_t tar_cb(struct archive *a, void *ctx, const void *p, size_t n)
{
	(void)a;
	put(&((struct gen *)ctx)->tar, p, n);
	return (la_ssize_t)n;
}

static void gen_start(struct gen *g, const struct hero_seckey *sk)
{
	memset(g, 0, sizeof *g);
	g->sk = sk;
	g->major = 1;
	g->a = archive_write_new();
	if (!g->a || archive_write_set_format_pax_restricted(g->a) != ARCHIVE_OK ||
	    archive_write_add_filter_none(g->a) != ARCHIVE_OK || archive_write_set_bytes_per_block(g->a, 0) != ARCHIVE_OK ||
	    archive_write_open(g->a, g, NULL, tar_cb, NULL) != ARCHIVE_OK)
		die("cannot start tar writer");
}

struct spec {
	const char *path;
	mode_t type;          /* AE_IFREG, AE_IFDIR, AE_IFLNK, AE_IFCHR, ... */
	mode_t mode;
	const void *data;
	size_t len;
	const char *symlink, *hardlink;
	int64_t uid, gid;
	const char *uname;
	int64_t size;         /* declared size when data is NULL and size > 0 */
};

/* Write one entry with libarchive; never fails on a warning. */
static void entry(struct gen *g, const struct spec *s)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, s->path);
	archive_entry_set_filetype(e, s->type ? s->type : AE_IFREG);
	archive_entry_set_perm(e, s->mode ? s->mode : (s->type == AE_IFDIR ? 0755 : 0644));
	archive_entry_set_size(e, s->data ? (la_int64_t)s->len : s->size);
	archive_entry_set_mtime(e, 1700000000, 0);
	archive_entry_set_uid(e, s->uid);
	archive_entry_set_gid(e, s->gid);
	if (s->uname)
		archive_entry_set_uname(e, s->uname);
	if (s->symlink)
		archive_entry_set_symlink(e, s->symlink);
	if (s->hardlink)
		archive_entry_set_hardlink(e, s->hardlink);
	if (s->type == AE_IFCHR || s->type == AE_IFBLK)
		archive_entry_set_rdev(e, makedev(1, 3));
	if (archive_write_header(g->a, e) < ARCHIVE_WARN)
		die("cannot write header of '%s': %s", s->path, archive_error_string(g->a));
	if (s->data && s->len && archive_write_data(g->a, s->data, s->len) != (la_ssize_t)s->len)
		die("cannot write data of '%s'", s->path);
	archive_write_finish_entry(g->a);
	archive_entry_free(e);
}

/* Add an index element for PATH. */
static void index_add(struct gen *g, const char *path, const char *type, const char *service,
		      const void *data, size_t len)
{
	char line[9000], hex[65];
	uint8_t h[32];
	int n;
	if (!strcmp(type, "dir")) {
		n = snprintf(line, sizeof line, "%s{\"path\":\"%s\",\"type\":\"dir\",\"service\":\"%s\",\"context\":\"root\"}",
			     g->nidx ? "," : "", path, service);
	} else {
		crypto_generichash(h, sizeof h, data, len, NULL, 0);
		hero_hex(h, sizeof h, hex);
		n = snprintf(line, sizeof line,
			     "%s{\"path\":\"%s\",\"type\":\"%s\",\"service\":\"%s\",\"context\":\"root\",\"size\":%zu,\"blake2b\":\"%s\"}",
			     g->nidx ? "," : "", path, type, service, len, hex);
	}
	if (n < 0 || (size_t)n >= sizeof line)
		die("index line too long");
	put(&g->idx, line, (size_t)n);
	g->nidx++;
}

static void file(struct gen *g, const char *path, const char *data)
{
	struct spec s = { .path = path, .data = data, .len = strlen(data) };
	entry(g, &s);
	index_add(g, path, "file", "hero_foundry", data, s.len);
}

static void dir_of(struct gen *g, const char *path, const char *service)
{
	struct spec s = { .path = path, .type = AE_IFDIR };
	entry(g, &s);
	index_add(g, path, "dir", service, NULL, 0);
}

static void dir(struct gen *g, const char *path)
{
	dir_of(g, path, "hero_foundry");
}

static void db(struct gen *g, const char *path, const void *data, size_t len)
{
	struct spec s = { .path = path, .data = data, .len = len };
	entry(g, &s);
	index_add(g, path, "sqlite", "hero_osis", data, len);
}

/* A raw entry the index does not list (the hostile part of most items). */
static void hostile(struct gen *g, const struct spec *s)
{
	entry(g, s);
}

static char archive_id_hex[33];

static void manifest(struct gen *g)
{
	uint8_t id[HERO_ID_BYTES];
	randombytes_buf(id, sizeof id);
	hero_hex(id, sizeof id, archive_id_hex);
	char m[4096];
	int n = snprintf(m, sizeof m,
			 "{\"format\":\"hero-archive\",\"format_version\":\"1.0\",\"tool\":\"hero-hostile\","
			 "\"archive_id\":\"%s\",\"created\":\"2026-01-01T00:00:00Z\","
			 "\"instance_id\":\"00000000000000000000000000000001\","
			 "\"scope\":{\"kind\":\"instance\",\"services\":[],\"contexts\":[]},\"parent\":null,\"encrypted\":false,"
			 "\"services\":["
			 "{\"name\":\"hero_foundry\",\"version\":\"1.2.0\",\"schema\":1,\"class\":\"authoritative\","
			 "\"per_context\":true,\"secrets\":[],\"contexts\":[\"root\"],\"entries\":1,\"bytes\":1,"
			 "\"state\":[{\"path\":\"var/hero_foundry/files/{context}/\",\"type\":\"files\",\"class\":\"authoritative\",\"context_column\":null}]},"
			 "{\"name\":\"hero_osis\",\"version\":\"0.9.2\",\"schema\":3,\"class\":\"authoritative\","
			 "\"per_context\":true,\"secrets\":[],\"contexts\":[\"root\"],\"entries\":1,\"bytes\":1,"
			 "\"state\":[{\"path\":\"var/hero_osis/{context}/\",\"type\":\"sqlite\",\"class\":\"authoritative\",\"context_column\":null}]}"
			 "],\"skipped\":[]}",
			 archive_id_hex);
	struct spec s = { .path = HERO_MANIFEST_PATH, .data = m, .len = (size_t)n };
	entry(g, &s);
	memcpy(g->id, id, sizeof id);
}

/* The index entry (unless OMIT) and the end of the tar stream. */
static void finish_tar(struct gen *g, int omit_index, size_t pad_index)
{
	if (!omit_index) {
		struct buf j = { 0 };
		char head[128];
		int n = snprintf(head, sizeof head, "{\"archive_id\":\"%s\",\"entries\":[", archive_id_hex);
		put(&j, head, (size_t)n);
		put(&j, g->idx.p, g->idx.n);
		put(&j, "]}", 2);
		for (size_t i = 0; i < pad_index; i++)
			put(&j, " ", 1);
		struct spec s = { .path = HERO_INDEX_PATH, .data = j.p, .len = j.n };
		entry(g, &s);
		free(j.p);
	}
	if (archive_write_close(g->a) != ARCHIVE_OK)
		die("cannot close tar: %s", archive_error_string(g->a));
	archive_write_free(g->a);
	g->a = NULL;
}

static void compress_frame(struct buf *out, const void *p, size_t n)
{
	size_t cap = ZSTD_compressBound(n);
	uint8_t *z = malloc(cap);
	if (!z)
		die("out of memory");
	size_t r = ZSTD_compress(z, cap, p, n, 1);
	if (ZSTD_isError(r))
		die("zstd: %s", ZSTD_getErrorName(r));
	put(out, z, r);
	free(z);
}

/* S + L (the Ed25519 group order): the same signature, not canonical. */
static void add_order(uint8_t s[32])
{
	static const uint8_t L[32] = { 0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7,
				       0xa2, 0xde, 0xf9, 0xde, 0x14, 0,    0,    0,    0,    0,    0,
				       0,    0,    0,    0,    0,    0,    0,    0,    0,    0x10 };
	unsigned c = 0;
	for (int i = 0; i < 32; i++) {
		c += s[i] + L[i];
		s[i] = (uint8_t)c;
		c >>= 8;
	}
}

static void sign(struct gen *g, struct buf *out)
{
	uint8_t prehash[64], frame[HERO_SIG_FRAME];
	crypto_generichash(prehash, sizeof prehash, out->p, out->n, NULL, 0);
	hero_put32(frame, HERO_MAGIC_SIG);
	hero_put32(frame + 4, HERO_SIG_FRAME - 8);
	memcpy(frame + 8, g->sig_tag_ed ? "Ed" : "ED", 2);
	memcpy(frame + 10, g->keyid, HERO_KEYID_BYTES);
	if (g->bad_sig_keyid)
		frame[10] ^= 1;
	struct hero_error err = HERO_ERROR_INIT;
	if (hero_sign_prehash(g->sk, prehash, frame + 18, &err) < 0)
		die("%s", err.msg);
	if (g->sig_noncanonical)
		add_order(frame + 18 + 32);
	put(out, frame, sizeof frame);
}

static void wrap(struct gen *g, const char *dirpath, const char *name, const struct hero_seckey *header_key)
{
	struct buf out = { 0 };
	uint8_t h[HERO_HEADER_FRAME] = { 0 };
	struct hero_pubkey pk;
	hero_seckey_pubkey(header_key ? header_key : g->sk, &pk);
	hero_put32(h, HERO_MAGIC_HEADER);
	hero_put32(h + 4, HERO_HEADER_FRAME - 8);
	memcpy(h + 8, "HEROSNAP", 8);
	h[16] = (uint8_t)g->major;
	hero_put16(h + 18, (uint16_t)g->flags);
	memcpy(h + 24, g->id, HERO_ID_BYTES);
	memcpy(h + 40, pk.keyid, HERO_KEYID_BYTES);
	memcpy(g->keyid, pk.keyid, HERO_KEYID_BYTES);
	hero_put64(h + 48, 1767225600);
	put(&out, h, sizeof h);
	if (g->bomb_frames) {
		compress_frame(&out, g->tar.p, g->bomb_at);
		struct buf z = { 0 }, one = { 0 };
		zeros(&z, 128u << 20);
		compress_frame(&one, z.p, z.n);
		for (int i = 0; i < g->bomb_frames; i++)
			put(&out, one.p, one.n);
		compress_frame(&out, g->tar.p + g->bomb_at, g->tar.n - g->bomb_at);
		free(z.p);
		free(one.p);
	} else {
		compress_frame(&out, g->tar.p, g->tar.n);
	}
	if (g->extra_frame.n)
		compress_frame(&out, g->extra_frame.p, g->extra_frame.n);
	if (!g->no_sig)
		sign(g, &out);
	put(&out, g->after_sig.p, g->after_sig.n);
	if (g->cut_tail)
		out.n = g->cut_tail < out.n ? out.n - g->cut_tail : 0;
	char path[4096];
	snprintf(path, sizeof path, "%s/%s.hsnap", dirpath, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		die("cannot create '%s': %s", path, strerror(errno));
	struct hero_error err = HERO_ERROR_INIT;
	if (hero_write_all(fd, out.p, out.n, path, &err) < 0)
		die("%s", err.msg);
	close(fd);
	free(out.p);
	free(g->tar.p);
	free(g->idx.p);
	free(g->after_sig.p);
	free(g->extra_frame.p);
}

/* ---- byte surgery on the tar stream ---- */

/* Offset of the ustar header of the entry whose name field is NAME. */
static size_t find_header(struct gen *g, const char *name)
{
	size_t n = strlen(name);
	for (size_t off = 0; off + 512 <= g->tar.n; off += 512)
		if (!memcmp(g->tar.p + off, name, n) && g->tar.p[off + n] == 0 && !memcmp(g->tar.p + off + 257, "ustar", 5))
			return off;
	die("no header named '%s'", name);
}

static void rechecksum(uint8_t *b)
{
	unsigned sum = 0;
	memset(b + 148, ' ', 8);
	for (int i = 0; i < 512; i++)
		sum += b[i];
	snprintf((char *)b + 148, 8, "%06o", sum);
	b[155] = ' ';
}

/* A raw pax 'x' header block plus its records, appended to the tar. */
static void raw_pax(struct gen *g, const char *records, size_t len)
{
	uint8_t b[512] = { 0 };
	snprintf((char *)b, 100, "PaxHeader/x");
	memcpy(b + 100, "0000644", 8);
	memcpy(b + 108, "0000000", 8);
	memcpy(b + 116, "0000000", 8);
	snprintf((char *)b + 124, 12, "%011zo", len);
	memcpy(b + 136, "00000000000", 12);
	b[156] = 'x';
	memcpy(b + 257, "ustar", 6);
	memcpy(b + 263, "00", 2);
	rechecksum(b);
	put(&g->tar, b, 512);
	put(&g->tar, records, len);
	zeros(&g->tar, (512 - len % 512) % 512);
}

/* A raw ustar header of TYPE for PATH declaring SIZE, followed by DATA (LEN bytes). */
static void raw_entry(struct gen *g, const char *path, char type, uint64_t size, const void *data, size_t len)
{
	uint8_t b[512] = { 0 };
	snprintf((char *)b, 100, "%s", path);
	memcpy(b + 100, "0000644", 8);
	memcpy(b + 108, "0000000", 8);
	memcpy(b + 116, "0000000", 8);
	if (size < (1ull << 33)) {
		snprintf((char *)b + 124, 12, "%011llo", (unsigned long long)size);
	} else {
		b[124] = 0x80;
		for (int i = 0; i < 8; i++)
			b[135 - i] = (uint8_t)(size >> (8 * i));
	}
	memcpy(b + 136, "15000000000", 12);
	b[156] = (uint8_t)type;
	memcpy(b + 257, "ustar", 6);
	memcpy(b + 263, "00", 2);
	rechecksum(b);
	put(&g->tar, b, 512);
	put(&g->tar, data, len);
	zeros(&g->tar, (512 - len % 512) % 512);
}

static void pax_rec(struct buf *b, const char *key, const char *value)
{
	size_t base = strlen(key) + strlen(value) + 3, len = base;
	char num[24];
	for (;;) {
		int d = snprintf(num, sizeof num, "%zu", len);
		if (base + (size_t)d == len)
			break;
		len = base + (size_t)d;
	}
	put(b, num, strlen(num));
	put(b, " ", 1);
	put(b, key, strlen(key));
	put(b, "=", 1);
	put(b, value, strlen(value));
	put(b, "\n", 1);
}

static void *make_db(const char *sql, size_t *len)
{
	char path[] = "/tmp/hero-hostile-db.XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		die("mkstemp: %s", strerror(errno));
	close(fd);
	unlink(path);
	sqlite3 *d;
	char *msg = NULL;
	if (sqlite3_open(path, &d) != SQLITE_OK || sqlite3_exec(d, sql, NULL, NULL, &msg) != SQLITE_OK)
		die("sqlite: %s", msg ? msg : sqlite3_errmsg(d));
	sqlite3_close(d);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		die("cannot read back '%s'", path);
	void *p = malloc((size_t)st.st_size + 1);
	if (!p || hero_read_full(fd, p, (size_t)st.st_size) != st.st_size)
		die("cannot read back '%s'", path);
	close(fd);
	unlink(path);
	*len = (size_t)st.st_size;
	return p;
}

#define GOOD_DB "PRAGMA user_version=3; CREATE TABLE o(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO o(v) VALUES ('a'),('b');"

/* ---- the corpus ---- */

static void base(struct gen *g)
{
	dir(g, "var/hero_foundry/files/root");
	file(g, FILES "ok.txt", "fine\n");
}

static void done(struct gen *g)
{
	finish_tar(g, 0, 0);
}

/* base, one hostile entry, the index */
static void one(struct gen *g, struct spec s)
{
	base(g);
	hostile(g, &s);
	done(g);
}

static void one_file(struct gen *g, const char *path)
{
	one(g, (struct spec){ .path = path, .data = "x", .len = 1 });
}

#define ITEM(fn) static void fn(struct gen *g)
ITEM(dotdot_sentinel) { one_file(g, "../outside/sentinel"); }
ITEM(dotdot_mid) { one_file(g, FILES "../../../../../outside/sentinel"); }
ITEM(dot_dotdot) { one_file(g, "./../x"); }
ITEM(dotdot_only) { one_file(g, ".."); }
ITEM(abs_etc) { one_file(g, "/etc/hero-hostile"); }
ITEM(abs_double) { one_file(g, "//hero-hostile"); }
ITEM(abs_root) { one(g, (struct spec){ .path = "/", .type = AE_IFDIR }); }
ITEM(empty_name) { one_file(g, ""); }
ITEM(symlink_then_write)
{
	base(g);
	hostile(g, &(struct spec){ .path = FILES "d", .type = AE_IFLNK, .symlink = "../../../../../outside" });
	hostile(g, &(struct spec){ .path = FILES "d/sentinel", .data = "pwned", .len = 5 });
	done(g);
}
ITEM(symlink_tmp)
{
	base(g);
	hostile(g, &(struct spec){ .path = "tmp", .type = AE_IFLNK, .symlink = "/tmp" });
	hostile(g, &(struct spec){ .path = "tmp/hero-hostile-moo", .data = "moo", .len = 3 });
	done(g);
}
ITEM(symlink_chain)
{
	base(g);
	hostile(g, &(struct spec){ .path = FILES "l", .type = AE_IFLNK, .symlink = ".." });
	hostile(g, &(struct spec){ .path = FILES "l/l/l/l/l/l/x", .data = "x", .len = 1 });
	done(g);
}
ITEM(symlink_alone) { one(g, (struct spec){ .path = FILES "passwd", .type = AE_IFLNK, .symlink = "/etc/shadow" }); }
ITEM(symlink_to_root) { one(g, (struct spec){ .path = FILES "here", .type = AE_IFLNK, .symlink = "." }); }
ITEM(hardlink_outside) { one(g, (struct spec){ .path = FILES "h", .hardlink = "../outside/sentinel" }); }
ITEM(hardlink_etc) { one(g, (struct spec){ .path = FILES "h", .hardlink = "/etc/passwd" }); }
ITEM(hardlink_with_data)
{
	base(g);
	size_t off = g->tar.n;
	raw_entry(g, FILES "h", '1', 5, "pwned", 5);
	snprintf((char *)g->tar.p + off + 157, 100, FILES "ok.txt");
	rechecksum(g->tar.p + off);
	done(g);
}
ITEM(hardlink_to_symlink)
{
	base(g);
	hostile(g, &(struct spec){ .path = FILES "s", .type = AE_IFLNK, .symlink = "/etc/shadow" });
	hostile(g, &(struct spec){ .path = FILES "h", .hardlink = FILES "s" });
	done(g);
}
ITEM(char_device) { one(g, (struct spec){ .path = FILES "null", .type = AE_IFCHR }); }
ITEM(block_device) { one(g, (struct spec){ .path = FILES "sda", .type = AE_IFBLK }); }
ITEM(fifo) { one(g, (struct spec){ .path = FILES "fifo", .type = AE_IFIFO }); }
ITEM(socket_mode)
{
	base(g);
	hostile(g, &(struct spec){ .path = FILES "sock", .data = "", .len = 0 });
	done(g);
	uint8_t *b = g->tar.p + find_header(g, FILES "sock");
	memcpy(b + 100, "0140755", 8);
	rechecksum(b);
}
ITEM(mode_setuid) { one(g, (struct spec){ .path = FILES "su", .mode = 04755, .data = "x", .len = 1 }); }
ITEM(mode_setgid) { one(g, (struct spec){ .path = FILES "sg", .mode = 02755, .data = "x", .len = 1 }); }
ITEM(sticky_dir) { one(g, (struct spec){ .path = FILES "st", .type = AE_IFDIR, .mode = 01755 }); }
ITEM(world_writable) { one(g, (struct spec){ .path = FILES "ww", .mode = 0777, .data = "x", .len = 1 }); }
ITEM(group_writable_dir) { one(g, (struct spec){ .path = FILES "gw", .type = AE_IFDIR, .mode = 0775 }); }
ITEM(owner_uid) { one(g, (struct spec){ .path = FILES "o", .uid = 1000, .data = "x", .len = 1 }); }
ITEM(owner_gid) { one(g, (struct spec){ .path = FILES "o", .gid = 1000, .data = "x", .len = 1 }); }
ITEM(owner_max) { one(g, (struct spec){ .path = FILES "o", .uid = 4294967295LL, .data = "x", .len = 1 }); }
ITEM(owner_uname) { one(g, (struct spec){ .path = FILES "o", .uname = "root", .data = "x", .len = 1 }); }
ITEM(duplicate)
{
	base(g);
	file(g, FILES "dup", "one");
	file(g, FILES "dup", "two");
	done(g);
}
ITEM(file_then_dir)
{
	base(g);
	file(g, FILES "fd", "one");
	dir(g, FILES "fd");
	done(g);
}
ITEM(file_then_child)
{
	base(g);
	file(g, FILES "f", "one");
	file(g, FILES "f/child", "two");
	done(g);
}
ITEM(child_then_file)
{
	base(g);
	file(g, FILES "d2/child", "one");
	file(g, FILES "d2", "two");
	done(g);
}
ITEM(dir_then_symlink)
{
	base(g);
	dir(g, FILES "ds");
	hostile(g, &(struct spec){ .path = FILES "ds", .type = AE_IFLNK, .symlink = "/tmp" });
	done(g);
}
static void pair(struct gen *g, const char *a, const char *b)
{
	base(g);
	file(g, a, "one");
	file(g, b, "two");
	done(g);
}
ITEM(case_collision) { pair(g, FILES "Config.db", FILES "config.db"); }
ITEM(case_collision_dir) { pair(g, FILES "Photos/a.jpg", FILES "photos/b.jpg"); }
ITEM(nfc_nfd) { pair(g, FILES "caf\xc3\xa9.txt", FILES "cafe\xcc\x81.txt"); }
ITEM(kelvin_sign) { pair(g, FILES "\xe2\x84\xaa.txt", FILES "k.txt"); }
ITEM(long_s) { pair(g, FILES "s.txt", FILES "\xc5\xbf.txt"); }
ITEM(hero_upper) { one_file(g, ".HERO/manifest.json"); }
ITEM(hero_reserved) { one_file(g, ".hero/lock"); }
ITEM(secrets_unencrypted) { one_file(g, ".hero/secrets/cfg/env/env.sh"); }
ITEM(zero_width) { pair(g, FILES "ab.txt", FILES "a\xe2\x80\x8d" "b.txt"); }
ITEM(component_256)
{
	char p[512];
	snprintf(p, sizeof p, FILES "%0256d", 0);
	one_file(g, p);
}
ITEM(path_4097)
{
	char p[4200];
	size_t n = snprintf(p, sizeof p, FILES);
	while (n < 4097) {
		size_t k = 4097 - n > 201 ? 200 : 4097 - n;
		memset(p + n, 'a', k);
		n += k;
		if (n < 4097)
			p[n++] = '/';
	}
	p[4097] = '\0';
	one_file(g, p);
}
ITEM(pax_path_1mib)
{
	base(g);
	struct buf r = { 0 }, v = { 0 };
	put(&v, FILES, strlen(FILES));
	while (v.n < (1u << 20))
		put(&v, "aaaaaaaaaaaaaaa/", 16);
	put(&v, "x", 2);
	pax_rec(&r, "path", (char *)v.p);
	raw_pax(g, (char *)r.p, r.n);
	raw_entry(g, "x", '0', 1, "x", 1);
	free(r.p);
	free(v.p);
	done(g);
}
ITEM(newline_name) { one_file(g, FILES "a\nb"); }
ITEM(control_name) { one_file(g, FILES "a\x01z"); }
ITEM(del_name) { one_file(g, FILES "a\x7fz"); }
ITEM(invalid_utf8) { one_file(g, FILES "a\xff" "b"); }
ITEM(overlong_utf8) { one_file(g, FILES "a\xc0\xae"); }
ITEM(c1_control) { one_file(g, FILES "a\xc2\x85z"); }
ITEM(bidi_override) { one_file(g, FILES "evil\xe2\x80\xaetxt.exe"); }
ITEM(backslash) { one_file(g, FILES "a\\b"); }
ITEM(zstd_bomb)
{
	base(g);
	raw_entry(g, FILES "bomb", '0', 10ull << 30, NULL, 0);
	g->bomb_at = g->tar.n;
	g->bomb_frames = 80;
	done(g);
}
ITEM(huge_size)
{
	base(g);
	raw_entry(g, FILES "huge", '0', 1ull << 62, NULL, 0);
	done(g);
}
ITEM(pax_huge_size)
{
	base(g);
	struct buf r = { 0 };
	pax_rec(&r, "size", "4611686018427387904");
	raw_pax(g, (char *)r.p, r.n);
	raw_entry(g, FILES "huge", '0', 1ull << 62, NULL, 0);
	free(r.p);
	done(g);
}
ITEM(sparse_1tib)
{
	base(g);
	struct buf r = { 0 };
	pax_rec(&r, "GNU.sparse.major", "1");
	pax_rec(&r, "GNU.sparse.minor", "0");
	pax_rec(&r, "GNU.sparse.name", FILES "sparse");
	pax_rec(&r, "GNU.sparse.realsize", "1099511627776");
	raw_pax(g, (char *)r.p, r.n);
	raw_entry(g, FILES "GNUSparseFile.0/sparse", '0', 512, NULL, 0);
	zeros(&g->tar, 512);
	free(r.p);
	done(g);
}
ITEM(pax_size_mismatch)
{
	base(g);
	struct buf r = { 0 };
	pax_rec(&r, "size", "1024");
	raw_pax(g, (char *)r.p, r.n);
	raw_entry(g, FILES "smuggle", '0', 512, NULL, 0);
	zeros(&g->tar, 1024);
	free(r.p);
	done(g);
}
ITEM(pax_malformed)
{
	base(g);
	raw_pax(g, "99 path=x\n", 10);
	raw_entry(g, FILES "m", '0', 1, "x", 1);
	done(g);
}
ITEM(pax_unknown_key)
{
	base(g);
	struct buf r = { 0 };
	pax_rec(&r, "SCHILY.xattr.security.capability", "x");
	raw_pax(g, (char *)r.p, r.n);
	raw_entry(g, FILES "cap", '0', 1, "x", 1);
	free(r.p);
	done(g);
}
ITEM(gnu_longname)
{
	base(g);
	raw_entry(g, "././@LongLink", 'L', 4, "evil", 4);
	raw_entry(g, FILES "short", '0', 1, "x", 1);
	done(g);
}
ITEM(pax_global)
{
	base(g);
	raw_entry(g, "pax_global_header", 'g', 12, "12 path=/x\n", 12);
	done(g);
}
ITEM(regular_slash_with_data)
{
	/* a regular entry named x/ whose data is a header sized to swallow the next
	 * entry: libarchive reads x/ as a directory, then smuggled; a parser that
	 * skips the data reads x/, then e. The counts agree; the index lists
	 * what libarchive reads. */
	struct gen e = { 0 }, d = { 0 };
	raw_entry(&e, FILES "e", '0', 1, "e", 1);
	raw_entry(&d, FILES "smuggled", '0', e.tar.n, NULL, 0);
	base(g);
	raw_entry(g, FILES "x/", '0', d.tar.n, d.tar.p, d.tar.n);
	put(&g->tar, e.tar.p, e.tar.n);
	index_add(g, FILES "x", "dir", "hero_foundry", NULL, 0);
	index_add(g, FILES "smuggled", "file", "hero_foundry", e.tar.p, e.tar.n);
	free(e.tar.p);
	free(d.tar.p);
	done(g);
}
ITEM(bad_checksum)
{
	base(g);
	file(g, FILES "c", "x");
	done(g);
	g->tar.p[find_header(g, FILES "c") + 150] ^= 1;
}
ITEM(gnu_magic)
{
	base(g);
	file(g, FILES "gm", "x");
	done(g);
	uint8_t *b = g->tar.p + find_header(g, FILES "gm");
	memcpy(b + 257, "ustar  ", 8);
	rechecksum(b);
}
ITEM(lone_zero_block)
{
	base(g);
	zeros(&g->tar, 512);
	file(g, FILES "after", "x");
	done(g);
}
ITEM(truncated_header)
{
	base(g);
	file(g, FILES "t", "x");
	size_t off = find_header(g, FILES "t");
	g->tar.n = off + 200;
	finish_tar(g, 1, 0);
	g->tar.n = off + 200;
}
ITEM(truncated_data)
{
	char data[5000];
	memset(data, 'd', sizeof data);
	base(g);
	struct spec s = { .path = FILES "t", .data = data, .len = sizeof data };
	entry(g, &s);
	size_t off = find_header(g, FILES "t");
	finish_tar(g, 1, 0);
	g->tar.n = off + 512 + 3000;
}
ITEM(no_end_blocks)
{
	base(g);
	done(g);
	g->tar.n -= 1024;
}
ITEM(tar_trailing_garbage)
{
	base(g);
	done(g);
	put(&g->tar, "garbage", 7);
}
ITEM(extra_frame_in_body)
{
	base(g);
	done(g);
	put(&g->extra_frame, "garbage", 7);
}
ITEM(frame_after_signature)
{
	base(g);
	done(g);
	compress_frame(&g->after_sig, "x", 1);
}
ITEM(not_in_index)
{
	base(g);
	hostile(g, &(struct spec){ .path = FILES "extra", .data = "x", .len = 1 });
	done(g);
}
ITEM(index_lists_missing)
{
	base(g);
	index_add(g, FILES "ghost", "file", "hero_foundry", "x", 1);
	done(g);
}
ITEM(index_wrong_hash)
{
	base(g);
	struct spec s = { .path = FILES "w", .data = "abc", .len = 3 };
	entry(g, &s);
	index_add(g, FILES "w", "file", "hero_foundry", "abd", 3);
	done(g);
}
ITEM(outside_state)
{
	base(g);
	struct spec s = { .path = "var/hero_biz/evil.txt", .data = "x", .len = 1 };
	entry(g, &s);
	index_add(g, s.path, "file", "hero_foundry", "x", 1);
	done(g);
}
ITEM(unknown_service)
{
	base(g);
	struct spec s = { .path = FILES "svc", .data = "x", .len = 1 };
	entry(g, &s);
	index_add(g, s.path, "file", "hero_evil", "x", 1);
	done(g);
}
ITEM(index_too_large)
{
	base(g);
	finish_tar(g, 0, 1u << 20);
}
ITEM(manifest_not_first)
{
	file(g, FILES "first", "x");
	manifest(g);
	done(g);
}
ITEM(entry_after_index)
{
	base(g);
	finish_tar(g, 0, 0);
	g->tar.n -= 1024;
	raw_entry(g, FILES "late", '0', 1, "x", 1);
	zeros(&g->tar, 1024);
}
ITEM(sidecar_wal)
{
	size_t n;
	void *d = make_db(GOOD_DB, &n);
	dir_of(g, "var/hero_osis/root", "hero_osis");
	db(g, OSIS "objects.db", d, n);
	file(g, OSIS "objects.db-wal", "stale wal");
	done(g);
	free(d);
}
ITEM(sidecar_first)
{
	size_t n;
	void *d = make_db(GOOD_DB, &n);
	dir_of(g, "var/hero_osis/root", "hero_osis");
	file(g, OSIS "objects.db-shm", "stale shm");
	db(g, OSIS "objects.db", d, n);
	done(g);
	free(d);
}
ITEM(sidecar_journal) { one_file(g, FILES "notes.sqlite-journal"); }

/* ---- signature side (the tar is fine) ---- */
ITEM(fine) { base(g); done(g); }
#define untrusted_key fine
#define trusted_id_other_key fine
#define sig_keyid_mismatch fine
#define sig_truncated fine
#define noncanonical_sig fine
#define legacy_sig_tag fine
#define unsigned_archive fine
#define major_2 fine
#define flag_encrypted fine
#define flag_unknown fine

/* ---- databases ---- */
static void with_db(struct gen *g, void *d, size_t n)
{
	dir_of(g, "var/hero_osis/root", "hero_osis");
	db(g, OSIS "objects.db", d, n);
	done(g);
	free(d);
}
#define BIG_DB "PRAGMA user_version=3; CREATE TABLE o(id INTEGER PRIMARY KEY, v TEXT); WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 2000) INSERT INTO o(v) SELECT printf('%0100d', i) FROM c; CREATE INDEX ov ON o(v);"
ITEM(db_corrupt_page)
{
	size_t n;
	uint8_t *d = make_db(BIG_DB, &n);
	for (size_t i = 4096 * 3 + 100; i < 4096 * 3 + 400 && i < n; i++)
		d[i] ^= 0x55;
	with_db(g, d, n);
}
ITEM(db_truncated)
{
	size_t n;
	void *d = make_db(BIG_DB, &n);
	with_db(g, d, n * 6 / 10 / 4096 * 4096);
}
ITEM(db_fk_violation)
{
	size_t n;
	void *d = make_db("CREATE TABLE p(id INTEGER PRIMARY KEY); CREATE TABLE c(pid INTEGER REFERENCES p(id));"
			  "INSERT INTO c VALUES (42);", &n);
	with_db(g, d, n);
}
ITEM(db_trigger_load_extension)
{
	size_t n;
	void *d = make_db(GOOD_DB "CREATE TRIGGER t AFTER INSERT ON o BEGIN SELECT load_extension('/tmp/hero-hostile-evil.so'); END;", &n);
	with_db(g, d, n);
}
ITEM(db_view_unknown_function)
{
	size_t n;
	void *d = make_db(GOOD_DB "CREATE VIEW v AS SELECT upper(v) FROM o;", &n);
	/* rename the function in the stored schema text: a function of the writer's, unknown here */
	char *p = memmem(d, n, "upper(v)", 8);
	if (!p)
		die("view text not found");
	memcpy(p, "evilf", 5);
	with_db(g, d, n);
}
ITEM(db_not_sqlite)
{
	char *d = strdup("this is not a database, just text that claims the name objects.db\n");
	with_db(g, d, strlen(d));
}
ITEM(db_empty)
{
	with_db(g, strdup(""), 0);
}
ITEM(db_wal_mode)
{
	size_t n;
	void *d = make_db("PRAGMA journal_mode=WAL;" GOOD_DB "PRAGMA wal_checkpoint(TRUNCATE);", &n);
	with_db(g, d, n);
}
ITEM(db_page_size_mismatch)
{
	size_t n;
	uint8_t *d = make_db(BIG_DB, &n);
	d[16] = 0x20; /* header says 8192-byte pages; the file has 4096-byte pages */
	d[17] = 0x00;
	with_db(g, d, n);
}

/* ---- benign: restored, and the live symlink it replaces is never followed ---- */
ITEM(benign)
{
	size_t n;
	void *d = make_db(GOOD_DB, &n);
	base(g);
	dir(g, FILES "photos");
	file(g, FILES "photos/p.jpg", "jpeg");
	dir_of(g, "var/hero_osis/root", "hero_osis");
	db(g, OSIS "objects.db", d, n);
	done(g);
	free(d);
}

enum {
	F_NOMAN = 1 << 0,     /* the item writes the manifest itself */
	F_UNTRUSTED = 1 << 1, /* signed by the other key, which names itself */
	F_OTHERSIG = 1 << 2,  /* the trusted key id in front, signed by the other key */
	F_SIGKEYID = 1 << 3,
	F_SIGCUT = 1 << 4,
	F_NONCANON = 1 << 5,
	F_LEGACY = 1 << 6,
	F_NOSIG = 1 << 7,
	F_MAJOR2 = 1 << 8,
	F_ENCRYPTED = 1 << 9,
	F_FLAGX = 1 << 10,
};

struct item {
	const char *name;
	void (*fn)(struct gen *g);
	int code;
	const char *expect;
	int flags;
};

#define I(n, c, e) { #n, n, c, e, 0 }
#define IF(n, c, e, f) { #n, n, c, e, f }
static const struct item items[] = {
	I(dotdot_sentinel, 3, "'.' or '..' component"),
	I(dotdot_mid, 3, "'.' or '..' component"),
	I(dot_dotdot, 3, "'.' or '..' component"),
	I(dotdot_only, 3, "'.' or '..' component"),
	I(abs_etc, 3, "absolute"),
	I(abs_double, 3, "absolute"),
	I(abs_root, 3, "absolute"),
	I(empty_name, 3, "empty"),
	I(symlink_then_write, 3, "type '2' refused"),
	I(symlink_tmp, 3, "type '2' refused"),
	I(symlink_chain, 3, "type '2' refused"),
	I(symlink_alone, 3, "type '2' refused"),
	I(symlink_to_root, 3, "type '2' refused"),
	I(hardlink_outside, 3, "type '1' refused"),
	I(hardlink_etc, 3, "type '1' refused"),
	I(hardlink_with_data, 3, "type '1' refused"),
	I(hardlink_to_symlink, 3, "type '2' refused"),
	I(char_device, 3, "type '3' refused"),
	I(block_device, 3, "type '4' refused"),
	I(fifo, 3, "type '6' refused"),
	I(socket_mode, 3, "mode 140755 refused"),
	I(mode_setuid, 3, "mode 4755 refused"),
	I(mode_setgid, 3, "mode 2755 refused"),
	I(sticky_dir, 3, "mode 1755 refused"),
	I(world_writable, 3, "mode 0777 refused"),
	I(group_writable_dir, 3, "mode 0775 refused"),
	I(owner_uid, 3, "has an owner"),
	I(owner_gid, 3, "has an owner"),
	I(owner_max, 3, "has an owner"),
	I(owner_uname, 3, "has an owner"),
	I(duplicate, 3, "is a duplicate entry"),
	I(file_then_dir, 3, "is a duplicate entry"),
	I(file_then_child, 3, "lies beneath an entry that is a file"),
	I(child_then_file, 3, "earlier entries lie beneath it"),
	I(dir_then_symlink, 3, "type '2' refused"),
	I(case_collision, 3, "collides with an earlier entry"),
	I(case_collision_dir, 3, "collides with an earlier"),
	I(nfc_nfd, 3, "collides with an earlier entry"),
	I(kelvin_sign, 3, "collides with an earlier entry"),
	I(long_s, 3, "collides with an earlier entry"),
	I(hero_upper, 3, "reserved name"),
	I(hero_reserved, 3, "reserved name"),
	I(secrets_unencrypted, 3, "secret values outside an encrypted archive"),
	I(zero_width, 3, "control character"),
	I(component_256, 3, "component too long"),
	I(path_4097, 3, "too long"),
	I(pax_path_1mib, 3, "is too large"),
	I(newline_name, 3, "control character"),
	I(control_name, 3, "control character"),
	I(del_name, 3, "control character"),
	I(invalid_utf8, 3, "invalid utf-8"),
	I(overlong_utf8, 3, "invalid utf-8"),
	I(c1_control, 3, "control character"),
	I(bidi_override, 3, "control character"),
	I(backslash, 3, "backslash"),
	I(zstd_bomb, 3, "compression ratio above 1000"),
	I(huge_size, 3, "file size cap"),
	I(pax_huge_size, 3, "file size cap"),
	I(sparse_1tib, 3, "'GNU.sparse.major' is not allowed"),
	I(pax_size_mismatch, 3, "pax size 1024 differs from the ustar size 512"),
	I(pax_malformed, 3, "malformed pax record"),
	I(pax_unknown_key, 3, "is not allowed"),
	I(gnu_longname, 3, "type 'L' refused"),
	I(pax_global, 3, "type 'g' refused"),
	I(regular_slash_with_data, 3, "regular file whose name ends in '/'"),
	I(bad_checksum, 3, "checksum mismatch"),
	I(gnu_magic, 3, "not a POSIX ustar header"),
	I(lone_zero_block, 3, "lone zero block"),
	I(truncated_header, 3, "archive"),
	I(truncated_data, 3, "archive"),
	I(no_end_blocks, 3, "does not end with two zero blocks"),
	I(tar_trailing_garbage, 3, "non-zero bytes after the end"),
	I(extra_frame_in_body, 3, "non-zero bytes after the end"),
	I(frame_after_signature, 3, "after the signature frame"),
	I(not_in_index, 3, "is not in the index"),
	I(index_lists_missing, 3, "is missing"),
	I(index_wrong_hash, 3, "has the wrong content"),
	I(outside_state, 3, "lies outside the state"),
	I(unknown_service, 3, "belongs to service 'hero_foundry' on the target"),
	I(index_too_large, 3, "larger than its"),
	IF(manifest_not_first, 3, "first entry is not the manifest", F_NOMAN),
	I(entry_after_index, 3, "follows the index"),
	I(sidecar_wal, 3, "SQLite sidecar"),
	I(sidecar_first, 3, "SQLite sidecar"),
	I(sidecar_journal, 3, "SQLite sidecar"),
	IF(untrusted_key, 3, "untrusted key", F_UNTRUSTED),
	IF(trusted_id_other_key, 3, "bad signature", F_OTHERSIG),
	IF(sig_keyid_mismatch, 3, "key id differs", F_SIGKEYID),
	IF(sig_truncated, 3, "truncated signature frame", F_SIGCUT),
	IF(noncanonical_sig, 3, "bad signature", F_NONCANON),
	IF(legacy_sig_tag, 3, "unknown signature algorithm", F_LEGACY),
	IF(unsigned_archive, 3, "no signature frame", F_NOSIG),
	IF(major_2, 3, "unsupported archive version 2", F_MAJOR2),
	IF(flag_encrypted, 3, "header", F_ENCRYPTED),
	IF(flag_unknown, 3, "unknown flags", F_FLAGX),
	I(db_corrupt_page, 3, "database"),
	I(db_truncated, 3, "database"),
	I(db_fk_violation, 3, "foreign_key_check"),
	I(db_trigger_load_extension, 3, "load_extension"),
	I(db_view_unknown_function, 3, "evilf"),
	I(db_not_sqlite, 3, "database"),
	I(db_empty, 3, "database"),
	I(db_wal_mode, 3, "WAL"),
	I(db_page_size_mismatch, 3, "database"),
	I(benign, 0, ""),
};

static void million(struct gen *g)
{
	dir(g, "var/hero_foundry/files/root");
	dir(g, FILES "m");
	char p[128];
	for (int i = 0; i < 1000001; i++) {
		snprintf(p, sizeof p, FILES "m/%07d", i);
		struct spec s = { .path = p, .data = "", .len = 0 };
		entry(g, &s);
		index_add(g, p, "file", "hero_foundry", "", 0);
	}
	done(g);
}

static void build(const struct item *it, const char *out, const struct hero_seckey *sk, const struct hero_seckey *other)
{
	struct gen g;
	int f = it->flags;
	gen_start(&g, f & (F_UNTRUSTED | F_OTHERSIG) ? other : sk);
	if (!(f & F_NOMAN))
		manifest(&g);
	else
		randombytes_buf(g.id, sizeof g.id);
	it->fn(&g);
	if (f & F_NOMAN)
		hero_hex(g.id, sizeof g.id, archive_id_hex);
	g.bad_sig_keyid = !!(f & F_SIGKEYID);
	g.cut_tail = f & F_SIGCUT ? 10 : 0;
	g.sig_noncanonical = !!(f & F_NONCANON);
	g.sig_tag_ed = !!(f & F_LEGACY);
	g.no_sig = !!(f & F_NOSIG);
	g.major = f & F_MAJOR2 ? 2 : 1;
	g.flags = f & F_ENCRYPTED ? HERO_FLAG_ENCRYPTED : f & F_FLAGX ? 0x0100 : 0;
	wrap(&g, out, it->name, f & F_OTHERSIG ? sk : NULL);
}

int main(int argc, char **argv)
{
	const char *key = NULL, *otherkey = NULL, *out = NULL, *only = NULL;
	int with_million = 0, ch;
	static const struct option opts[] = {
		{ "million", no_argument, NULL, 'M' },
		{ "only", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	while ((ch = getopt_long(argc, argv, "s:S:o:", opts, NULL)) != -1) {
		switch (ch) {
		case 's': key = optarg; break;
		case 'S': otherkey = optarg; break;
		case 'o': out = optarg; break;
		case 'n': only = optarg; break;
		case 'M': with_million = 1; break;
		default: return 2;
		}
	}
	if (!key || !otherkey || !out) {
		fprintf(stderr, "usage: hero-hostile -s KEY -S OTHERKEY -o DIR [--only NAME] [--million]\n");
		return 2;
	}
	struct hero_error err = HERO_ERROR_INIT;
	struct hero_seckey *sk = NULL, *other = NULL;
	if (hero_crypto_init(&err) < 0 || hero_seckey_load(&sk, key, NULL, &err) < 0 ||
	    hero_seckey_load(&other, otherkey, NULL, &err) < 0)
		die("%s", err.msg);
	if (mkdir(out, 0755) < 0 && errno != EEXIST)
		die("cannot create '%s': %s", out, strerror(errno));
	char path[4096];
	snprintf(path, sizeof path, "%s/EXPECT", out);
	FILE *ex = fopen(path, "w");
	if (!ex)
		die("cannot create '%s'", path);
	fprintf(ex, "# name\texit code\tsubstring of the one error line\n");
	size_t count = 0;
	for (size_t i = 0; i < sizeof items / sizeof *items; i++) {
		if (only && strcmp(only, items[i].name) != 0)
			continue;
		build(&items[i], out, sk, other);
		fprintf(ex, "%s\t%d\t%s\n", items[i].name, items[i].code, items[i].expect);
		count++;
	}
	if (with_million) {
		struct item m = { "million_empty", million, 3, "more than", 0 };
		build(&m, out, sk, other);
		count++;
	}
	fclose(ex);
	printf("hero-hostile: %zu archives in %s\n", count, out);
	hero_seckey_free(sk);
	hero_seckey_free(other);
	return 0;
}
