/* hero-sample - generate a sample Hero OS instance in the reference layout.
 *
 * A test and demo tool: it writes every service's state (SQLite databases in
 * WAL mode with their latest transaction still in the -wal file, photos,
 * documents, recordings, configuration, secrets, sockets, logs) for a list of
 * contexts, sized to a byte budget. Every context's files and text rows carry
 * the string SENTINEL-<context>. See docs/sample-instance.md.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#define BLOCK ((size_t)1 << 20)
#define MAX_CTX 64
#define KIB ((uint64_t)1024)
#define MIB (KIB * 1024)
#define DAY0 19358 /* 2023-01-01, in days since 1970-01-01 */

#define PATHF(buf, ...) pathf((buf), sizeof(buf), __VA_ARGS__)

struct opts {
	const char *root;
	uint64_t size;
	uint64_t seed;
	char *ctx_store;          /* owns the strings ctx[] points into */
	const char *ctx[MAX_CTX];
	int nctx;
	int force;
	int schema_biz;           /* 1 or 2 */
};

struct rng {
	uint64_t s[4];
};

/* Everything the generators share; instance-level databases stay open across contexts. */
struct gen {
	const struct opts *o;
	unsigned char *buf;       /* BLOCK bytes of scratch */
	sqlite3 *foundry, *voice;
	sqlite3_stmt *foundry_ins, *voice_ins;
};

enum fill { FILL_RANDOM, FILL_TEXT };
enum head { HEAD_JPEG, HEAD_OGG, HEAD_MD, HEAD_PDF, HEAD_PLAIN };

/* A run of files of random sizes that together spend a byte budget. */
struct series {
	const char *label;        /* names the PRNG stream */
	char dir[PATH_MAX];       /* directory relative to the root */
	const char *sub;          /* prefix recorded in database rows, e.g. "photos/" */
	const char *prefix, *ext; /* file name: prefix, 4-digit number, ext */
	enum head head;
	enum fill fill;
	uint64_t budget, max_file;
	unsigned min_count;       /* at least this many files */
	unsigned count;           /* if set: exactly this many files of equal size */
	void (*row)(struct gen *g, const char *ctx, const char *rel, uint64_t size, struct rng *r);
};

static const char *const default_ctx[] = { "root", "geomind", "alice", "bob" };

static const char *const services[] = {
	"hero_db", "hero_osis", "hero_foundry", "hero_collab", "hero_biz",
	"hero_books", "hero_indexer", "hero_embedder", "hero_voice",
};
#define NSERVICES (sizeof services / sizeof services[0])

static const char *const secret_names[] = {
	"HERO_DB_KEY", "OSIS_MASTER_KEY", "FOUNDRY_WEBDAV_TOKEN", "BIZ_SMTP_PASSWORD",
};

static const char *const words[64] = {
	"hero", "grid", "node", "sovereign", "data", "context", "ledger", "invoice",
	"photo", "meeting", "budget", "garden", "river", "mountain", "signal", "archive",
	"tenant", "service", "object", "storage", "network", "mycelium", "quantum", "ledger",
	"summer", "winter", "project", "review", "draft", "final", "customer", "order",
	"payment", "travel", "family", "friend", "school", "music", "recipe", "market",
	"the", "a", "of", "and", "to", "in", "for", "with",
	"is", "was", "will", "can", "should", "must", "our", "their",
	"quick", "brown", "quiet", "bright", "small", "large", "early", "late",
};

static _Noreturn void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void die(int code, const char *fmt, ...)
{
	va_list ap;
	fputs("hero-sample: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

static void pathf(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void pathf(char *out, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, cap, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap)
		die(1, "'%s...' is too long", out);
}

/* ---- pseudo-random bytes: xoshiro256** seeded through splitmix64 ---- */

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s;
	uint64_t res = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return res;
}

/* One independent stream per (seed, label, context), so a change in one part
 * of the layout never shifts the bytes of another. */
static void rng_seed(struct rng *r, uint64_t seed, const char *label, const char *ctx)
{
	uint64_t h = 1469598103934665603ULL;
	for (const char *p = label; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	h = (h ^ '/') * 1099511628211ULL;
	for (const char *p = ctx ? ctx : ""; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	uint64_t x = seed ^ h;
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
}

static uint64_t rng_range(struct rng *r, uint64_t lo, uint64_t hi)
{
	if (hi <= lo)
		return lo;
	return lo + rng_next(r) % (hi - lo + 1);
}

static void rng_fill(struct rng *r, unsigned char *p, size_t n)
{
	for (; n >= 8; p += 8, n -= 8) {
		uint64_t v = rng_next(r);
		memcpy(p, &v, 8);
	}
	if (n) {
		uint64_t v = rng_next(r);
		memcpy(p, &v, n);
	}
}

/* Fill BUF with N bytes of lowercase prose (compressible); NEWLINES allows line breaks. */
static void text_fill(struct rng *r, char *buf, size_t n, int newlines)
{
	uint64_t bits = 0;
	int left = 0;
	unsigned nw = 0;
	size_t i = 0;
	while (i < n) {
		if (left == 0) {
			bits = rng_next(r);
			left = 10;
		}
		const char *w = words[bits & 63];
		bits >>= 6;
		left--;
		for (; *w && i < n; w++)
			buf[i++] = *w;
		const char *sep = ++nw % 12 ? " " : (newlines && nw % 60 == 0 ? ".\n\n" : ". ");
		for (; *sep && i < n; sep++)
			buf[i++] = *sep;
	}
}

/* ---- files ---- */

static void mkdirs(const char *path)
{
	char tmp[PATH_MAX];
	PATHF(tmp, "%s", path);
	for (char *p = tmp + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			die(1, "cannot create '%s': %s", tmp, strerror(errno));
		*p = c;
		if (c == '\0')
			break;
	}
}

static void mkparents(const char *path)
{
	char dir[PATH_MAX];
	PATHF(dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		mkdirs(dir);
	}
}

static int open_out(const char *path, mode_t mode)
{
	mkparents(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		die(1, "cannot create '%s': %s", path, strerror(errno));
	if (fchmod(fd, mode) < 0)
		die(1, "cannot chmod '%s': %s", path, strerror(errno));
	return fd;
}

static void write_all(int fd, const void *p, size_t n, const char *path)
{
	const unsigned char *c = p;
	while (n > 0) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			die(1, "cannot write '%s': %s", path, strerror(errno));
		c += w;
		n -= (size_t)w;
	}
}

static void close_out(int fd, const char *path)
{
	if (close(fd) < 0)
		die(1, "cannot write '%s': %s", path, strerror(errno));
}

static void write_text(const char *path, mode_t mode, const char *text)
{
	int fd = open_out(path, mode);
	write_all(fd, text, strlen(text), path);
	close_out(fd, path);
}

/* Write SIZE bytes to PATH in BLOCK pieces: HEAD, then random bytes or prose. */
static void write_file(struct gen *g, const char *path, const unsigned char *head, size_t headlen,
		       uint64_t size, enum fill fill, struct rng *r)
{
	int fd = open_out(path, 0644);
	if (size < headlen)
		size = headlen;
	for (uint64_t done = 0; done < size; ) {
		size_t n = size - done < BLOCK ? (size_t)(size - done) : BLOCK;
		size_t off = 0;
		if (done == 0) {
			off = headlen;
			memcpy(g->buf, head, headlen);
		}
		if (fill == FILL_RANDOM)
			rng_fill(r, g->buf + off, n - off);
		else
			text_fill(r, (char *)g->buf + off, n - off, 1);
		write_all(fd, g->buf, n, path);
		done += n;
	}
	close_out(fd, path);
}

static size_t put(unsigned char *out, size_t at, size_t cap, const void *p, size_t n)
{
	if (at + n > cap)
		die(1, "internal: file header too long");
	memcpy(out + at, p, n);
	return at + n;
}

/* A plausible JPEG start (SOI, JFIF APP0) with MARKER in a comment segment. */
static size_t head_jpeg(const char *marker, unsigned char *out, size_t cap)
{
	static const unsigned char app0[] = {
		0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0x00,
		0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00,
	};
	size_t len = strlen(marker) + 2;
	unsigned char com[4] = { 0xFF, 0xFE, (unsigned char)(len >> 8), (unsigned char)len };
	size_t at = put(out, 0, cap, app0, sizeof app0);
	at = put(out, at, cap, com, sizeof com);
	return put(out, at, cap, marker, strlen(marker));
}

/* An Ogg page carrying an OpusHead packet, then MARKER. */
static size_t head_ogg(const char *marker, unsigned char *out, size_t cap)
{
	static const unsigned char page[] = {
		'O', 'g', 'g', 'S', 0, 0x02, 0, 0, 0, 0, 0, 0, 0, 0,
		0x48, 0x45, 0x52, 0x4F, 0, 0, 0, 0, 0, 0, 0, 0, 1, 19,
		'O', 'p', 'u', 's', 'H', 'e', 'a', 'd', 1, 1, 0x38, 0x01,
		0x80, 0xBB, 0x00, 0x00, 0, 0, 0,
	};
	size_t at = put(out, 0, cap, page, sizeof page);
	at = put(out, at, cap, marker, strlen(marker));
	return put(out, at, cap, "\n", 1);
}

static size_t head_build(enum head h, const char *marker, unsigned n, unsigned char *out, size_t cap)
{
	char text[256];
	switch (h) {
	case HEAD_JPEG:
		return head_jpeg(marker, out, cap);
	case HEAD_OGG:
		return head_ogg(marker, out, cap);
	case HEAD_MD:
		PATHF(text, "# Note %u\n\n%s\n\n", n, marker);
		break;
	case HEAD_PDF:
		PATHF(text, "%%PDF-1.4\n%% %s\n", marker);
		break;
	case HEAD_PLAIN:
		PATHF(text, "%s\n", marker);
		break;
	}
	return put(out, 0, cap, text, strlen(text));
}

/* A small file with a MARKER header and random bytes after it. */
static void write_marked(struct gen *g, const char *path, enum head h, const char *marker,
			 uint64_t size, struct rng *r)
{
	unsigned char head[512];
	size_t hl = head_build(h, marker, 1, head, sizeof head);
	write_file(g, path, head, hl, size, h == HEAD_MD ? FILL_TEXT : FILL_RANDOM, r);
}

static uint64_t clamp(uint64_t v, uint64_t lo, uint64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* Write the files of S for context CTX; sizes scale with the budget. */
static void series_run(struct gen *g, const struct series *s, const char *ctx)
{
	struct rng r;
	char marker[128], path[PATH_MAX], rel[PATH_MAX];
	unsigned char head[512];
	rng_seed(&r, g->o->seed, s->label, ctx);
	PATHF(marker, "SENTINEL-%s", ctx);
	mkdirs(s->dir);
	uint64_t hi = s->count ? s->budget / s->count : clamp(s->budget / 6, 8 * KIB, s->max_file);
	uint64_t lo = s->count ? hi : hi / 4, spent = 0;
	for (unsigned n = 1; s->count ? n <= s->count : spent < s->budget || n <= s->min_count; n++) {
		uint64_t left = s->budget > spent ? s->budget - spent : 0;
		uint64_t size = rng_range(&r, lo, hi);
		if (left < size + lo && left >= 512)
			size = left;
		size = size < 512 ? 512 : size;
		PATHF(rel, "%s%s%04u%s", s->sub, s->prefix, n, s->ext);
		PATHF(path, "%s/%s%04u%s", s->dir, s->prefix, n, s->ext);
		size_t hl = head_build(s->head, marker, n, head, sizeof head);
		write_file(g, path, head, hl, size, s->fill, &r);
		if (s->row)
			s->row(g, ctx, rel, size, &r);
		spent += size;
	}
}

/* ---- databases ---- */

static void db_exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		die(1, "'%s': %s", sqlite3_db_filename(db, "main"), msg ? msg : sqlite3_errmsg(db));
}

static sqlite3_stmt *db_prepare(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		die(1, "'%s': %s", sqlite3_db_filename(db, "main"), sqlite3_errmsg(db));
	return st;
}

static void db_step(sqlite3_stmt *st)
{
	if (sqlite3_step(st) != SQLITE_DONE) {
		sqlite3 *db = sqlite3_db_handle(st);
		die(1, "'%s': %s", sqlite3_db_filename(db, "main"), sqlite3_errmsg(db));
	}
	sqlite3_reset(st);
}

static void unlink_quiet(const char *path)
{
	if (unlink(path) < 0 && errno != ENOENT)
		die(1, "cannot remove '%s': %s", path, strerror(errno));
}

/* Create a fresh WAL database at PATH, run SCHEMA, and open a transaction. */
static sqlite3 *db_create(const char *path, const char *schema)
{
	char side[PATH_MAX];
	sqlite3 *db = NULL;
	mkparents(path);
	unlink_quiet(path);
	PATHF(side, "%s-wal", path);
	unlink_quiet(side);
	PATHF(side, "%s-shm", path);
	unlink_quiet(side);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
		die(1, "cannot create '%s': %s", path, db ? sqlite3_errmsg(db) : "out of memory");
	db_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF; PRAGMA cache_size=-16384");
	db_exec(db, schema);
	db_exec(db, "BEGIN");
	return db;
}

/* Commit every few MiB so the WAL stays small during bulk loading. */
static void db_batch(sqlite3 *db, uint64_t *pending, uint64_t n)
{
	*pending += n;
	if (*pending >= 8 * MIB) {
		db_exec(db, "COMMIT; BEGIN");
		*pending = 0;
	}
}

/* Commit and checkpoint the bulk data, then make sure the next transaction
 * stays in the -wal file: no automatic checkpoint, none on close either. */
static void db_seal(sqlite3 *db)
{
	db_exec(db, "COMMIT; PRAGMA wal_checkpoint(TRUNCATE); PRAGMA wal_autocheckpoint=0");
	if (sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)0) != SQLITE_OK)
		die(1, "'%s': cannot disable the checkpoint on close", sqlite3_db_filename(db, "main"));
	db_exec(db, "BEGIN");
}

/* Set the schema version in the last transaction, commit it and close. */
static void db_finish(sqlite3 *db, int user_version)
{
	char sql[64];
	PATHF(sql, "PRAGMA user_version=%d; COMMIT", user_version);
	db_exec(db, sql);
	if (sqlite3_close(db) != SQLITE_OK)
		die(1, "'%s': cannot close: %s", sqlite3_db_filename(db, "main"), sqlite3_errmsg(db));
}

static void bind_text(sqlite3_stmt *st, int i, const char *s, int n)
{
	sqlite3_bind_text(st, i, s, n, SQLITE_TRANSIENT);
}

static void day_to_date(int64_t z, char *out, size_t cap)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int64_t d = doy - (153 * mp + 2) / 5 + 1;
	int64_t m = mp < 10 ? mp + 3 : mp - 9;
	int64_t y = yoe + era * 400 + (m <= 2);
	pathf(out, cap, "%04d-%02d-%02d", (int)y, (int)m, (int)d);
}

/* hero_db: an encrypted key-value backend, so the values are random bytes. */
static void gen_hero_db(struct gen *g, const char *ctx, uint64_t budget)
{
	char path[PATH_MAX], key[64], sentinel[128];
	struct rng r;
	uint64_t pending = 0, spent = 0;
	rng_seed(&r, g->o->seed, "hero_db", ctx);
	PATHF(path, "var/hero_db/%s/data.db", ctx);
	sqlite3 *db = db_create(path, "CREATE TABLE kv(k TEXT PRIMARY KEY, v BLOB)");
	sqlite3_stmt *ins = db_prepare(db, "INSERT INTO kv(k, v) VALUES(?, ?)");
	for (unsigned i = 1; spent < budget || i <= 4; i++) {
		size_t len = (size_t)rng_range(&r, 256, 8192);
		rng_fill(&r, g->buf, len);
		PATHF(key, "obj/%08u", i);
		bind_text(ins, 1, key, -1);
		sqlite3_bind_blob(ins, 2, g->buf, (int)len, SQLITE_STATIC);
		db_step(ins);
		spent += len + 16;
		db_batch(db, &pending, len);
	}
	db_seal(db);
	PATHF(sentinel, "SENTINEL-%s", ctx);
	bind_text(ins, 1, "sentinel", -1);
	sqlite3_bind_blob(ins, 2, sentinel, (int)strlen(sentinel), SQLITE_TRANSIENT);
	db_step(ins);
	sqlite3_finalize(ins);
	db_finish(db, 2);
}

/* One hero_osis object body: a JSON document whose text carries the sentinel. */
static int osis_body(struct rng *r, const char *ctx, unsigned i, char *out, size_t cap)
{
	int n = snprintf(out, cap, "{\"context\":\"%s\",\"n\":%u,\"text\":\"SENTINEL-%s ", ctx, i, ctx);
	if (n < 0 || (size_t)n + 16 >= cap)
		die(1, "internal: object body too long");
	size_t len = (size_t)rng_range(r, 200, 4000);
	len = len > cap - (size_t)n - 4 ? cap - (size_t)n - 4 : len;
	text_fill(r, out + n, len, 0);
	memcpy(out + n + len, "\"}", 3);
	return n + (int)len + 2;
}

static void gen_osis(struct gen *g, const char *ctx, uint64_t budget)
{
	static const char *const kinds[] = { "note", "contact", "event", "task", "bookmark" };
	char path[PATH_MAX], key[64];
	struct rng r;
	uint64_t pending = 0, spent = 0;
	rng_seed(&r, g->o->seed, "hero_osis", ctx);
	PATHF(path, "var/hero_osis/%s/objects.db", ctx);
	sqlite3 *db = db_create(path, "CREATE TABLE objects(id INTEGER PRIMARY KEY, kind TEXT, "
				"key TEXT UNIQUE, body TEXT, updated INTEGER)");
	sqlite3_stmt *ins = db_prepare(db, "INSERT INTO objects(kind, key, body, updated) VALUES(?, ?, ?, ?)");
	unsigned i;
	for (i = 1; spent < budget || i <= 4; i++) {
		const char *kind = kinds[rng_next(&r) % 5];
		int len = osis_body(&r, ctx, i, (char *)g->buf, 8192);
		PATHF(key, "%s/%06u", kind, i);
		bind_text(ins, 1, kind, -1);
		bind_text(ins, 2, key, -1);
		sqlite3_bind_text(ins, 3, (char *)g->buf, len, SQLITE_STATIC);
		sqlite3_bind_int64(ins, 4, 1700000000 + (int64_t)i * 60 + (int64_t)(rng_next(&r) % 60));
		db_step(ins);
		spent += (uint64_t)len + 40;
		db_batch(db, &pending, (uint64_t)len);
	}
	db_seal(db);
	int len = osis_body(&r, ctx, i, (char *)g->buf, 8192);
	PATHF(key, "sentinel/%s", ctx);
	bind_text(ins, 1, "sentinel", -1);
	bind_text(ins, 2, key, -1);
	sqlite3_bind_text(ins, 3, (char *)g->buf, len, SQLITE_STATIC);
	sqlite3_bind_int64(ins, 4, 1700000000 + (int64_t)i * 60);
	db_step(ins);
	sqlite3_finalize(ins);
	db_finish(db, 3);
}

/* Insert one hero_collab document of about LEN bytes of markdown. */
static uint64_t collab_doc(struct gen *g, sqlite3_stmt *ins, struct rng *r, const char *ctx,
			   unsigned i, size_t len)
{
	char title[128];
	int n = snprintf((char *)g->buf, 256, "# Meeting notes %u\n\nSENTINEL-%s\n\n", i, ctx);
	if (n < 0 || n >= 256)
		die(1, "internal: document header too long");
	text_fill(r, (char *)g->buf + n, len, 1);
	PATHF(title, "Meeting notes %u", i);
	bind_text(ins, 1, title, -1);
	sqlite3_bind_text(ins, 2, (char *)g->buf, n + (int)len, SQLITE_STATIC);
	db_step(ins);
	return (uint64_t)n + len;
}

static void gen_collab(struct gen *g, const char *ctx, uint64_t budget)
{
	char path[PATH_MAX];
	struct rng r;
	uint64_t pending = 0, spent = 0;
	rng_seed(&r, g->o->seed, "hero_collab", ctx);
	PATHF(path, "var/hero_collab/%s/collab.db", ctx);
	sqlite3 *db = db_create(path, "CREATE TABLE docs(id INTEGER PRIMARY KEY, title TEXT, body TEXT)");
	sqlite3_stmt *ins = db_prepare(db, "INSERT INTO docs(title, body) VALUES(?, ?)");
	unsigned i;
	for (i = 1; spent < budget || i <= 2; i++) {
		uint64_t n = collab_doc(g, ins, &r, ctx, i, (size_t)rng_range(&r, 1024, 16384));
		spent += n;
		db_batch(db, &pending, n);
	}
	db_seal(db);
	collab_doc(g, ins, &r, ctx, i, 512);
	sqlite3_finalize(ins);
	db_finish(db, 1);
}

/* Insert one hero_books journal entry dated DAY. */
static uint64_t books_entry(sqlite3_stmt *ins, struct rng *r, const char *ctx, int64_t day)
{
	static const char *const accounts[] = {
		"1000 Cash", "1200 Receivables", "2100 VAT", "4000 Revenue", "6000 Expenses", "6100 Travel",
	};
	char date[16], memo[256];
	int n = snprintf(memo, sizeof memo, "SENTINEL-%s ", ctx);
	if (n < 0 || (size_t)n >= sizeof memo - 128)
		die(1, "internal: memo too long");
	size_t len = (size_t)rng_range(r, 40, 120);
	text_fill(r, memo + n, len, 0);
	day_to_date(day, date, sizeof date);
	bind_text(ins, 1, date, -1);
	bind_text(ins, 2, accounts[rng_next(r) % 6], -1);
	sqlite3_bind_int64(ins, 3, (int64_t)rng_range(r, 0, 2000000) - 1000000);
	bind_text(ins, 4, memo, n + (int)len);
	db_step(ins);
	return (uint64_t)n + len + 40;
}

static void gen_books(struct gen *g, const char *ctx, uint64_t budget)
{
	char path[PATH_MAX];
	struct rng r;
	uint64_t pending = 0, spent = 0;
	rng_seed(&r, g->o->seed, "hero_books", ctx);
	PATHF(path, "var/hero_books/%s/books.db", ctx);
	sqlite3 *db = db_create(path, "CREATE TABLE entries(id INTEGER PRIMARY KEY, date TEXT, "
				"account TEXT, amount_cents INTEGER, memo TEXT)");
	sqlite3_stmt *ins = db_prepare(db, "INSERT INTO entries(date, account, amount_cents, memo) "
				       "VALUES(?, ?, ?, ?)");
	unsigned i;
	for (i = 0; spent < budget || i < 4; i++) {
		uint64_t n = books_entry(ins, &r, ctx, DAY0 + i / 16);
		spent += n;
		db_batch(db, &pending, n);
	}
	db_seal(db);
	books_entry(ins, &r, ctx, DAY0 + i / 16);
	sqlite3_finalize(ins);
	db_finish(db, 1);
}

/* ---- instance-level databases with a context column ---- */

static void foundry_row(struct gen *g, const char *ctx, const char *rel, uint64_t size, const char *mime)
{
	bind_text(g->foundry_ins, 1, ctx, -1);
	bind_text(g->foundry_ins, 2, rel, -1);
	sqlite3_bind_int64(g->foundry_ins, 3, (int64_t)size);
	bind_text(g->foundry_ins, 4, mime, -1);
	db_step(g->foundry_ins);
}

/* A photo: its files row and its derived thumbnail. */
static void photo_row(struct gen *g, const char *ctx, const char *rel, uint64_t size, struct rng *r)
{
	char path[PATH_MAX], marker[128];
	foundry_row(g, ctx, rel, size, "image/jpeg");
	PATHF(path, "var/hero_foundry/thumbs/%s/%s", ctx, strrchr(rel, '/') + 1);
	PATHF(marker, "DERIVED SENTINEL-%s", ctx);
	write_marked(g, path, HEAD_JPEG, marker, clamp(size / 64, 512, 64 * KIB), r);
}

static void document_row(struct gen *g, const char *ctx, const char *rel, uint64_t size, struct rng *r)
{
	(void)r;
	foundry_row(g, ctx, rel, size, "text/markdown");
}

static void voice_row(struct gen *g, const char *ctx, const char *rel, uint64_t size, struct rng *r)
{
	(void)r;
	bind_text(g->voice_ins, 1, ctx, -1);
	bind_text(g->voice_ins, 2, rel, -1);
	sqlite3_bind_int64(g->voice_ins, 3, (int64_t)(size / 4000 + 1));
	db_step(g->voice_ins);
}

static void open_instance_dbs(struct gen *g)
{
	g->foundry = db_create("var/hero_foundry/foundry.db",
		"CREATE TABLE files(id INTEGER PRIMARY KEY, context TEXT NOT NULL, path TEXT, "
		"size INTEGER, mime TEXT, UNIQUE(context, path))");
	g->foundry_ins = db_prepare(g->foundry,
		"INSERT INTO files(context, path, size, mime) VALUES(?, ?, ?, ?)");
	g->voice = db_create("var/hero_voice/voice.db",
		"CREATE TABLE recordings(id INTEGER PRIMARY KEY, context TEXT NOT NULL, file TEXT, "
		"seconds INTEGER)");
	g->voice_ins = db_prepare(g->voice, "INSERT INTO recordings(context, file, seconds) VALUES(?, ?, ?)");
}

/* The latest upload and recording of every context exist only in the -wal files. */
static void close_instance_dbs(struct gen *g)
{
	char path[PATH_MAX], marker[128];
	db_seal(g->foundry);
	db_seal(g->voice);
	for (int c = 0; c < g->o->nctx; c++) {
		const char *ctx = g->o->ctx[c];
		struct rng r;
		rng_seed(&r, g->o->seed, "latest", ctx);
		PATHF(marker, "SENTINEL-%s", ctx);
		PATHF(path, "var/hero_foundry/files/%s/documents/latest-upload.md", ctx);
		write_marked(g, path, HEAD_MD, marker, 2048, &r);
		foundry_row(g, ctx, "documents/latest-upload.md", 2048, "text/markdown");
		PATHF(path, "var/hero_voice/%s/recordings/latest.opus", ctx);
		write_marked(g, path, HEAD_OGG, marker, 8192, &r);
		voice_row(g, ctx, "recordings/latest.opus", 8192, &r);
	}
	sqlite3_finalize(g->foundry_ins);
	sqlite3_finalize(g->voice_ins);
	db_finish(g->foundry, 1);
	db_finish(g->voice, 1);
}

/* ---- hero_biz: one database, rows of all contexts interleaved ---- */

static void biz_customer(sqlite3_stmt *ins, struct rng *r, int64_t id, const char *ctx, unsigned i)
{
	static const char *const first[] = { "Ada", "Bram", "Chloe", "Dries", "Eva", "Finn", "Greet", "Hugo" };
	static const char *const last[] = { "Peeters", "Janssens", "Maes", "Claes", "Wouters", "Dubois" };
	char name[160], email[96];
	PATHF(name, "%s %s (SENTINEL-%s)", first[rng_next(r) % 8], last[rng_next(r) % 6], ctx);
	if (i)
		PATHF(email, "customer%06u@example.org", i);
	else
		PATHF(email, "latest@example.org");
	if (id)
		sqlite3_bind_int64(ins, 1, id);
	else
		sqlite3_bind_null(ins, 1);
	bind_text(ins, 2, ctx, -1);
	bind_text(ins, 3, name, -1);
	bind_text(ins, 4, email, -1);
	db_step(ins);
}

static void biz_invoice(sqlite3_stmt *ins, struct rng *r, int64_t id, const char *ctx,
			int64_t customer, int64_t day, int with_due)
{
	char issued[16], due[16];
	day_to_date(day, issued, sizeof issued);
	day_to_date(day + 30, due, sizeof due);
	if (id)
		sqlite3_bind_int64(ins, 1, id);
	else
		sqlite3_bind_null(ins, 1);
	bind_text(ins, 2, ctx, -1);
	sqlite3_bind_int64(ins, 3, customer);
	sqlite3_bind_int64(ins, 4, (int64_t)rng_range(r, 1000, 500000));
	bind_text(ins, 5, issued, -1);
	if (with_due)
		bind_text(ins, 6, due, -1);
	db_step(ins);
}

static const char biz_schema_v2[] =
	"CREATE TABLE customers(id INTEGER PRIMARY KEY, context TEXT NOT NULL, name TEXT, email TEXT, "
	"UNIQUE(context, email));"
	"CREATE TABLE invoices(id INTEGER PRIMARY KEY, context TEXT NOT NULL, customer_id INTEGER, "
	"amount_cents INTEGER, issued TEXT, due TEXT);"
	"CREATE TABLE settings(key TEXT PRIMARY KEY, value TEXT);";
static const char biz_schema_v1[] =
	"CREATE TABLE customers(id INTEGER PRIMARY KEY, context TEXT NOT NULL, name TEXT, email TEXT, "
	"UNIQUE(context, email));"
	"CREATE TABLE invoices(id INTEGER PRIMARY KEY, context TEXT NOT NULL, customer_id INTEGER, "
	"amount_cents INTEGER, issued TEXT);"
	"CREATE TABLE settings(key TEXT PRIMARY KEY, value TEXT);";
static const char biz_settings[] =
	"INSERT INTO settings VALUES('company_name', 'Hero Sample Ltd');"
	"INSERT INTO settings VALUES('currency', 'EUR');"
	"INSERT INTO settings VALUES('invoice_prefix', 'INV-');"
	"INSERT INTO settings VALUES('payment_terms_days', '30');"
	"INSERT INTO settings VALUES('smtp_host', 'smtp.example.org');"
	"INSERT INTO settings VALUES('smtp_user', 'billing@example.org');";

/* Customers, then invoices; ids are explicit and interleave the contexts
 * (id = i * nctx + c + 1), as concurrent tenants would leave them. */
static void biz_rows(sqlite3 *db, const struct opts *o, struct rng *r, unsigned ncust, unsigned ninv)
{
	uint64_t pending = 0;
	int64_t n = o->nctx;
	sqlite3_stmt *cust = db_prepare(db, "INSERT INTO customers(id, context, name, email) VALUES(?, ?, ?, ?)");
	sqlite3_stmt *inv = db_prepare(db, o->schema_biz >= 2
		? "INSERT INTO invoices(id, context, customer_id, amount_cents, issued, due) VALUES(?, ?, ?, ?, ?, ?)"
		: "INSERT INTO invoices(id, context, customer_id, amount_cents, issued) VALUES(?, ?, ?, ?, ?)");
	for (unsigned i = 0; i < ncust; i++)
		for (int c = 0; c < o->nctx; c++) {
			biz_customer(cust, &r[c], (int64_t)i * n + c + 1, o->ctx[c], i + 1);
			db_batch(db, &pending, 100);
		}
	for (unsigned i = 0; i < ninv; i++)
		for (int c = 0; c < o->nctx; c++) {
			int64_t customer = (int64_t)rng_range(&r[c], 0, ncust - 1) * n + c + 1;
			biz_invoice(inv, &r[c], (int64_t)i * n + c + 1, o->ctx[c], customer,
				    DAY0 + i / 8, o->schema_biz >= 2);
			db_batch(db, &pending, 64);
		}
	db_seal(db);
	for (int c = 0; c < o->nctx; c++) {
		biz_customer(cust, &r[c], 0, o->ctx[c], 0);
		biz_invoice(inv, &r[c], 0, o->ctx[c], sqlite3_last_insert_rowid(db),
			    DAY0 + ninv / 8 + 1, o->schema_biz >= 2);
	}
	sqlite3_finalize(cust);
	sqlite3_finalize(inv);
}

static void gen_biz(struct gen *g, uint64_t budget_per_ctx)
{
	const struct opts *o = g->o;
	struct rng r[MAX_CTX];
	for (int c = 0; c < o->nctx; c++)
		rng_seed(&r[c], o->seed, "hero_biz", o->ctx[c]);
	sqlite3 *db = db_create("var/hero_biz/biz.db", o->schema_biz >= 2 ? biz_schema_v2 : biz_schema_v1);
	db_exec(db, biz_settings);
	unsigned ncust = (unsigned)(budget_per_ctx / 2 / 100), ninv = (unsigned)(budget_per_ctx / 2 / 64);
	biz_rows(db, o, r, ncust < 2 ? 2 : ncust, ninv < 2 ? 2 : ninv);
	db_finish(db, o->schema_biz);
}

/* ---- per-context state ---- */

static void gen_foundry_files(struct gen *g, const char *ctx, uint64_t photos, uint64_t documents)
{
	char path[PATH_MAX];
	struct rng r;
	struct series s = { .label = "photos", .sub = "photos/", .prefix = "IMG_", .ext = ".jpg",
			    .head = HEAD_JPEG, .fill = FILL_RANDOM, .budget = photos,
			    .max_file = 4 * MIB, .min_count = 2, .row = photo_row };
	PATHF(s.dir, "var/hero_foundry/files/%s/photos", ctx);
	series_run(g, &s, ctx);
	struct series d = { .label = "documents", .sub = "documents/", .prefix = "note-", .ext = ".md",
			    .head = HEAD_MD, .fill = FILL_TEXT, .budget = documents,
			    .max_file = 1 * MIB, .min_count = 2, .row = document_row };
	PATHF(d.dir, "var/hero_foundry/files/%s/documents", ctx);
	series_run(g, &d, ctx);
	/* scratch the manifest excludes: *.tmp files and a .cache/ directory */
	rng_seed(&r, g->o->seed, "excluded", ctx);
	char marker[128];
	PATHF(marker, "EXCLUDED SENTINEL-%s", ctx);
	PATHF(path, "var/hero_foundry/files/%s/upload-0001.tmp", ctx);
	write_marked(g, path, HEAD_PLAIN, marker, 4096, &r);
	PATHF(path, "var/hero_foundry/files/%s/photos/IMG_0001.jpg.tmp", ctx);
	write_marked(g, path, HEAD_PLAIN, marker, 8192, &r);
	PATHF(path, "var/hero_foundry/files/%s/.cache/preview-0001.bin", ctx);
	write_marked(g, path, HEAD_PLAIN, marker, 16384, &r);
	PATHF(path, "var/hero_foundry/files/%s/.cache/index/state.bin", ctx);
	write_marked(g, path, HEAD_PLAIN, marker, 2048, &r);
}

static void gen_media(struct gen *g, const char *ctx, uint64_t recordings, uint64_t attachments)
{
	struct series v = { .label = "recordings", .sub = "recordings/", .prefix = "rec-", .ext = ".opus",
			    .head = HEAD_OGG, .fill = FILL_RANDOM, .budget = recordings,
			    .max_file = 8 * MIB, .min_count = 1, .row = voice_row };
	PATHF(v.dir, "var/hero_voice/%s/recordings", ctx);
	series_run(g, &v, ctx);
	struct series a = { .label = "attachments", .sub = "attachments/", .prefix = "receipt-", .ext = ".pdf",
			    .head = HEAD_PDF, .fill = FILL_TEXT, .budget = attachments,
			    .count = 3, .row = NULL };
	PATHF(a.dir, "var/hero_books/%s/attachments", ctx);
	series_run(g, &a, ctx);
}

/* One context: 60% incompressible files, 20% text files, 20% database rows. */
static void gen_context(struct gen *g, const char *ctx, uint64_t per_ctx)
{
	char path[PATH_MAX], marker[128];
	struct rng r;
	uint64_t rows = per_ctx / 5;
	gen_foundry_files(g, ctx, per_ctx * 45 / 100, per_ctx * 15 / 100);
	gen_media(g, ctx, per_ctx * 15 / 100, per_ctx * 5 / 100);
	gen_hero_db(g, ctx, rows * 40 / 100);
	gen_osis(g, ctx, rows * 25 / 100);
	gen_collab(g, ctx, rows * 15 / 100);
	gen_books(g, ctx, rows * 8 / 100);
	/* the remaining 12% of the rows go to hero_biz, see gen_biz */
	rng_seed(&r, g->o->seed, "hero_indexer", ctx);
	PATHF(path, "var/hero_indexer/%s/index.bin", ctx);
	PATHF(marker, "HIDX1 DERIVED SENTINEL-%s", ctx);
	write_marked(g, path, HEAD_PLAIN, marker, clamp(per_ctx / 100, 4 * KIB, 64 * MIB), &r);
}

/* ---- instance-wide configuration, secrets and ephemeral state ---- */

static const char *service_after(const char *svc)
{
	static const char *const deps[][2] = {
		{ "hero_osis", "[hero_db]" }, { "hero_foundry", "[hero_osis]" },
		{ "hero_collab", "[hero_osis]" }, { "hero_biz", "[hero_db]" },
		{ "hero_books", "[hero_biz]" }, { "hero_indexer", "[hero_osis, hero_foundry]" },
		{ "hero_embedder", "[hero_indexer]" }, { "hero_voice", "[hero_foundry]" },
	};
	for (size_t i = 0; i < sizeof deps / sizeof deps[0]; i++)
		if (strcmp(deps[i][0], svc) == 0)
			return deps[i][1];
	return "[]";
}

static void gen_actions(void)
{
	char path[PATH_MAX], yaml[1024];
	for (size_t i = 0; i < NSERVICES; i++) {
		const char *s = services[i];
		PATHF(path, "cfg/actions/%s.yaml", s);
		PATHF(yaml, "# %s, supervised by hero_proc\n"
		      "exec: \"%s_server --socket var/sockets/%s/rpc.sock\"\n"
		      "test: \"test -S var/sockets/%s/rpc.sock\"\n"
		      "oneshot: false\n"
		      "after: %s\n"
		      "shutdown_timeout: 10\n"
		      "signal: { stop: SIGTERM }\n"
		      "log: ring\n"
		      "env: { RUST_LOG: \"info\", HERO_SERVICE: \"%s\" }\n",
		      s, s, s, s, service_after(s), s);
		write_text(path, 0644, yaml);
	}
}

/* Secrets: fresh random values on every run (never derived from --seed). */
static void gen_env(void)
{
	char text[1024], hex[33];
	unsigned char raw[16];
	int fd = open_out("cfg/env/env.sh", 0600);
	const char *top = "# secrets of this instance, read by hero_proc\n";
	write_all(fd, top, strlen(top), "cfg/env/env.sh");
	for (size_t i = 0; i < sizeof secret_names / sizeof secret_names[0]; i++) {
		randombytes_buf(raw, sizeof raw);
		sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
		PATHF(text, "export %s=secret-%s-%s\n", secret_names[i], secret_names[i], hex);
		write_all(fd, text, strlen(text), "cfg/env/env.sh");
	}
	sodium_memzero(text, sizeof text);
	sodium_memzero(hex, sizeof hex);
	close_out(fd, "cfg/env/env.sh");
}

static void gen_osis_config(const struct opts *o)
{
	char toml[4096] = "", list[2048] = "";
	size_t at = 0;
	for (int c = 0; c < o->nctx; c++) {
		int n = snprintf(list + at, sizeof list - at, "%s\"%s\"", c ? ", " : "", o->ctx[c]);
		if (n < 0 || (size_t)n >= sizeof list - at)
			die(1, "internal: context list too long");
		at += (size_t)n;
	}
	PATHF(toml, "# hero_osis configuration (the master key comes from OSIS_MASTER_KEY)\n"
	      "[server]\nsocket = \"var/sockets/hero_osis/rpc.sock\"\n\n"
	      "[storage]\nroot = \"var/hero_osis\"\ncontexts = [%s]\n\n"
	      "[limits]\nmax_object_bytes = 1048576\n", list);
	write_text("cfg/hero_osis/config.toml", 0644, toml);
}

/* A real Unix socket: bind, then close; the socket file stays behind. */
static void make_socket(const char *dir)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char path[PATH_MAX];
	mkdirs(dir);
	PATHF(path, "%s/rpc.sock", dir);
	unlink_quiet(path);
	if (strlen(path) >= sizeof sa.sun_path)
		die(1, "socket path too long: '%s'", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		die(1, "cannot bind '%s': %s", path, strerror(errno));
	close(fd);
}

static void gen_ephemeral(void)
{
	char path[PATH_MAX], text[512];
	for (size_t i = 0; i <= NSERVICES; i++) {
		const char *s = i < NSERVICES ? services[i] : "hero_proc";
		PATHF(path, "var/sockets/%s", s);
		make_socket(path);
		PATHF(path, "var/log/%s.log", s);
		PATHF(text, "2024-05-01T08:00:00Z INFO %s starting (EPHEMERAL log)\n"
		      "2024-05-01T08:00:01Z INFO %s listening on var/sockets/%s/rpc.sock\n", s, s, s);
		write_text(path, 0644, text);
		PATHF(path, "var/run/%s.pid", s);
		PATHF(text, "%zu\n", 4100 + i);
		write_text(path, 0644, text);
	}
}

static void gen_instance(struct gen *g)
{
	char marker[64];
	struct rng r;
	rng_seed(&r, g->o->seed, "hero_embedder", NULL);
	PATHF(marker, "HEMB1 DERIVED embeddings");
	write_marked(g, "var/hero_embedder/embeddings.bin", HEAD_PLAIN, marker,
		     clamp(g->o->size / 100, 8 * KIB, 256 * MIB), &r);
	gen_actions();
	gen_env();
	gen_osis_config(g->o);
	gen_ephemeral();
}

/* ---- summary ---- */

struct tally {
	uint64_t files, dbs, bytes;
};

static void walk(int parent, const char *name, struct tally *t)
{
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (!d)
		die(1, "cannot read '%s': %s", name, strerror(errno));
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		struct stat st;
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			die(1, "cannot stat '%s': %s", e->d_name, strerror(errno));
		if (S_ISDIR(st.st_mode)) {
			walk(dirfd(d), e->d_name, t);
		} else if (S_ISREG(st.st_mode)) {
			size_t len = strlen(e->d_name);
			t->files++;
			t->bytes += (uint64_t)st.st_size;
			t->dbs += len > 3 && strcmp(e->d_name + len - 3, ".db") == 0;
		}
	}
	closedir(d);
}

/* ---- options ---- */

static uint64_t parse_size(const char *s)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	uint64_t mult = 1;
	if (errno || end == s || *s == '-')
		die(2, "invalid size '%s'", s);
	switch (*end) {
	case 'k': case 'K': mult = KIB; end++; break;
	case 'm': case 'M': mult = MIB; end++; break;
	case 'g': case 'G': mult = 1024 * MIB; end++; break;
	case 't': case 'T': mult = 1024 * 1024 * MIB; end++; break;
	}
	if (*end == 'i')
		end++;
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end || v > UINT64_MAX / mult)
		die(2, "invalid size '%s'", s);
	if (v * mult < 256 * KIB)
		die(2, "size '%s' is too small (at least 256K)", s);
	return v * mult;
}

static int valid_ctx_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 32 || s[0] == '-' || s[0] == '_')
		return 0;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
			return 0;
	return 1;
}

/* Sentinels are substrings: refuse names where one is a prefix of another. */
static void check_ctx_names(const struct opts *o)
{
	for (int i = 0; i < o->nctx; i++) {
		if (!valid_ctx_name(o->ctx[i]))
			die(2, "invalid context name '%s' (use a-z, 0-9, '-' and '_', at most 32)", o->ctx[i]);
		for (int j = 0; j < o->nctx; j++)
			if (i != j && strncmp(o->ctx[i], o->ctx[j], strlen(o->ctx[i])) == 0)
				die(2, "context names '%s' and '%s' overlap: their sentinels would be ambiguous",
				    o->ctx[i], o->ctx[j]);
	}
}

/* N contexts: the default names first, then ctx005, ctx006, ... */
static void default_contexts(struct opts *o, long n)
{
	if (n < 1 || n > MAX_CTX)
		die(2, "--contexts: between 1 and %d contexts", MAX_CTX);
	o->ctx_store = calloc((size_t)n, 8);
	if (!o->ctx_store)
		die(1, "out of memory");
	for (int i = 0; i < n; i++) {
		char *name = o->ctx_store + 8 * i;
		pathf(name, 8, "ctx%03d", i + 1);
		o->ctx[i] = i < 4 ? default_ctx[i] : name;
	}
	o->nctx = (int)n;
}

static void parse_contexts(struct opts *o, const char *arg)
{
	char *end;
	long n = strtol(arg, &end, 10);
	free(o->ctx_store);
	o->ctx_store = NULL;
	o->nctx = 0;
	if (*arg && *end == '\0') {
		default_contexts(o, n);
		return;
	}
	o->ctx_store = strdup(arg);
	if (!o->ctx_store)
		die(1, "out of memory");
	for (char *p = o->ctx_store, *next = NULL; p; p = next) {
		next = strchr(p, ',');
		if (next)
			*next++ = '\0';
		if (o->nctx == MAX_CTX)
			die(2, "--contexts: at most %d contexts", MAX_CTX);
		o->ctx[o->nctx++] = p;
	}
}

static _Noreturn void usage(int code)
{
	fprintf(code ? stderr : stdout,
		"usage: hero-sample --root DIR [--size BYTES|123M|1G] [--contexts a,b,c | --contexts N]\n"
		"                   [--seed N] [--schema-biz 1|2] [--force]\n"
		"Generate a sample Hero OS instance in the reference layout (default 32M, contexts\n"
		"root,geomind,alice,bob, seed 1). DIR must be empty or absent unless --force.\n");
	exit(code);
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "contexts", required_argument, NULL, 'c' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ "root", required_argument, NULL, 'r' },
		{ "schema-biz", required_argument, NULL, 'b' },
		{ "seed", required_argument, NULL, 'S' },
		{ "size", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	char *end;
	while ((c = getopt_long(argc, argv, "c:fhr:s:", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': parse_contexts(o, optarg); break;
		case 'f': o->force = 1; break;
		case 'h': usage(0);
		case 'r': o->root = optarg; break;
		case 'b':
			o->schema_biz = (int)strtol(optarg, &end, 10);
			if (*end || (o->schema_biz != 1 && o->schema_biz != 2))
				die(2, "--schema-biz: 1 or 2, not '%s'", optarg);
			break;
		case 'S':
			errno = 0;
			o->seed = strtoull(optarg, &end, 0);
			if (errno || *end || !*optarg)
				die(2, "invalid seed '%s'", optarg);
			break;
		case 's': o->size = parse_size(optarg); break;
		default: usage(2);
		}
	}
	if (optind < argc || !o->root || !*o->root)
		usage(2);
	if (!o->nctx)
		parse_contexts(o, "4");
	check_ctx_names(o);
}

/* Create ROOT (or accept it empty, or anything with --force) and enter it. */
static void enter_root(const struct opts *o)
{
	DIR *d = opendir(o->root);
	if (!d && errno == ENOENT) {
		mkdirs(o->root);
		d = opendir(o->root);
	}
	if (!d)
		die(1, "cannot open '%s': %s", o->root, strerror(errno));
	struct dirent *e;
	int empty = 1;
	while (empty && (e = readdir(d)) != NULL)
		empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
	closedir(d);
	if (!empty && !o->force)
		die(1, "'%s' is not empty (use --force to generate into it)", o->root);
	if (chdir(o->root) < 0)
		die(1, "cannot enter '%s': %s", o->root, strerror(errno));
}

int main(int argc, char **argv)
{
	struct opts o = { .size = 32 * MIB, .seed = 1, .schema_biz = 2 };
	struct gen g = { .o = &o };
	struct tally t = { 0, 0, 0 };
	parse_opts(argc, argv, &o);
	if (sodium_init() < 0)
		die(1, "cannot initialise libsodium");
	enter_root(&o);
	g.buf = malloc(BLOCK);
	if (!g.buf)
		die(1, "out of memory");
	uint64_t per_ctx = o.size / (uint64_t)o.nctx;
	open_instance_dbs(&g);
	for (int c = 0; c < o.nctx; c++)
		gen_context(&g, o.ctx[c], per_ctx);
	gen_biz(&g, per_ctx / 5 * 12 / 100);
	gen_instance(&g);
	close_instance_dbs(&g);
	walk(AT_FDCWD, ".", &t);
	printf("hero-sample: %d contexts, %" PRIu64 " files, %" PRIu64 " databases, %" PRIu64
	       " bytes in %s\n", o.nctx, t.files, t.dbs, t.bytes, o.root);
	free(g.buf);
	free(o.ctx_store);
	return 0;
}
