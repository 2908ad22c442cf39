/* sqlite_util.c - consistent copies and checks of SQLite databases. */
#include "state/sqlite_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "base/internal.h"

static int db_error(sqlite3 *db, const char *what, const char *path, struct hero_error *err)
{
	return hero_error(err, HERO_EFAIL, "%s '%s': %s", what, path, db ? sqlite3_errmsg(db) : "out of memory");
}

/* Copy SRC, or the connection OPENED to it when not NULL (left open), to DST.
 * DURABLE: DST is written with a journal and fsync'd; otherwise it is a
 * temporary copy, read once and removed, written with neither. */
static int copy_db(sqlite3 *opened, const char *src, const char *dst, int durable, struct hero_error *err)
{
	sqlite3 *from = opened, *to = NULL;
	int ret = 0;
	if (!from && sqlite3_open_v2(src, &from, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		ret = db_error(from, "cannot open database", src, err);
		goto out;
	}
	sqlite3_busy_timeout(from, 10000);
	if (sqlite3_open_v2(dst, &to, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		ret = db_error(to, "cannot create database copy", dst, err);
		goto out;
	}
	if (!durable && sqlite3_exec(to, "PRAGMA synchronous=OFF; PRAGMA journal_mode=OFF", NULL, NULL, NULL) !=
			       SQLITE_OK) {
		ret = db_error(to, "cannot set up database copy", dst, err);
		goto out;
	}
	sqlite3_backup *b = sqlite3_backup_init(to, "main", from, "main");
	if (!b) {
		ret = db_error(to, "cannot start backup of", src, err);
		goto out;
	}
	int rc;
	/* -1: every page in one step, i.e. under one read transaction of SRC. */
	while ((rc = sqlite3_backup_step(b, -1)) == SQLITE_BUSY || rc == SQLITE_LOCKED)
		sqlite3_sleep(20);
	sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE) {
		ret = hero_error(err, HERO_EFAIL, "cannot copy database '%s': %s", src, sqlite3_errstr(rc));
		goto out;
	}
	/* The copy is a single file: no WAL travels with it. */
	if (sqlite3_exec(to, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL) != SQLITE_OK) {
		ret = db_error(to, "cannot finish copy of", src, err);
		goto out;
	}
out:
	if (from != opened)
		sqlite3_close(from);
	if (sqlite3_close(to) != SQLITE_OK && ret == 0)
		ret = hero_error(err, HERO_EFAIL, "cannot close database copy '%s'", dst);
	if (ret == 0 && durable) {
		int fd = open(dst, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return hero_error(err, HERO_EFAIL, "cannot reopen database copy '%s'", dst);
		ret = hero_fsync(fd, dst, err);
		close(fd);
	}
	return ret;
}

int hero_sqlite_snapshot(const char *src, const char *dst, struct hero_error *err)
{
	return copy_db(NULL, src, dst, 1, err);
}

int hero_sqlite_snapshot_temp(const char *src, const char *dst, struct hero_error *err)
{
	return copy_db(NULL, src, dst, 0, err);
}

/* ---- live databases of the target, read without a trace ---- */

static char *sidecar(const char *path, const char *suffix)
{
	return sqlite3_mprintf("%s%s", path, suffix);
}

static int sidecar_exists(const char *path, const char *suffix)
{
	char *p = sidecar(path, suffix);
	struct stat st;
	int yes = p && lstat(p, &st) == 0;
	sqlite3_free(p);
	return yes;
}

/* Whether the header of PATH says WAL mode (bytes 18 and 19). */
static int header_says_wal(const char *path)
{
	uint8_t h[20];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = hero_read_full(fd, h, sizeof h);
	close(fd);
	return n == (ssize_t)sizeof h && (h[18] == 2 || h[19] == 2);
}

/* "file:PATH?QUERY" with PATH percent-encoded. */
static char *file_uri(const char *path, const char *query)
{
	size_t n = strlen(path);
	char *u = sqlite3_malloc64(8 + 3 * (uint64_t)n + strlen(query) + 2);
	if (!u)
		return NULL;
	size_t j = (size_t)sprintf(u, path[0] == '/' ? "file://" : "file:");
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    strchr("/._-~", *p))
			u[j++] = (char)*p;
		else
			j += (size_t)sprintf(u + j, "%%%02X", *p);
	}
	sprintf(u + j, "?%s", query);
	return u;
}

/* Defensive, no untrusted schema code, no extensions; TRIGGERS: whether
 * triggers are compiled into the statements that would fire them. */
static void reader_config(sqlite3 *db, int triggers)
{
	sqlite3_busy_timeout(db, 10000);
	sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_TRIGGER, triggers, NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL);
}

/* Open NAME (a path, or a URI with SQLITE_OPEN_URI in FLAGS) and read its
 * schema once, so a database that cannot be read fails here. Returns the
 * extended SQLite result code; *DB is NULL unless SQLITE_OK. */
static int open_and_read(const char *name, int flags, sqlite3 **db)
{
	*db = NULL;
	int rc = sqlite3_open_v2(name, db, flags | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK) {
		reader_config(*db, 0);
		sqlite3_db_config(*db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
		sqlite3_extended_result_codes(*db, 1);
		rc = sqlite3_exec(*db, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL);
	}
	if (rc != SQLITE_OK) {
		rc = *db ? sqlite3_extended_errcode(*db) : SQLITE_NOMEM;
		sqlite3_close(*db);
		*db = NULL;
	}
	return rc;
}

static int same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static const char *const sidecars[] = { "-wal", "-shm", "-journal" };
#define N_SIDECARS (sizeof sidecars / sizeof *sidecars)

/* PATH and its sidecars as they are now (a missing file: all zero). */
struct live_state {
	struct stat f[1 + N_SIDECARS];
};

static void live_state(const char *path, struct live_state *s)
{
	memset(s, 0, sizeof *s);
	stat(path, &s->f[0]);
	for (size_t i = 0; i < N_SIDECARS; i++) {
		char *p = sidecar(path, sidecars[i]);
		if (p)
			lstat(p, &s->f[1 + i]);
		sqlite3_free(p);
	}
}

static int same_state(const struct live_state *a, const struct live_state *b)
{
	for (size_t i = 0; i < 1 + N_SIDECARS; i++)
		if (!same_file(&a->f[i], &b->f[i]))
			return 0;
	return 1;
}

/* Copy FROM to the new file TO (0600). A missing FROM is fine (nothing is
 * copied) when MISSING_OK. */
static int copy_file(const char *from, const char *to, int missing_ok, struct hero_error *err)
{
	int in = open(from, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (in < 0)
		return errno == ENOENT && missing_ok ? 0 :
		       hero_error_errno(err, HERO_EFAIL, errno, "cannot open database '%s'", from);
	int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0) {
		close(in);
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot create '%s'", to);
	}
	int ret = 0;
	char buf[1 << 16];
	ssize_t n;
	while ((n = hero_read_full(in, buf, sizeof buf)) > 0 && (ret = hero_write_all(out, buf, (size_t)n, to, err)) == 0)
		;
	if (ret == 0 && n < 0)
		ret = hero_error_errno(err, HERO_EFAIL, errno, "cannot read '%s'", from);
	close(in);
	if (close(out) < 0 && ret == 0)
		ret = hero_error_errno(err, HERO_EFAIL, errno, "cannot write '%s'", to);
	return ret;
}

/* Remove the copy COPY with any sidecar, and its directory DIR if not NULL. */
static void remove_copy(const char *dir, const char *copy)
{
	unlink(copy);
	for (size_t i = 0; i < N_SIDECARS; i++) {
		char *p = sidecar(copy, sidecars[i]);
		if (p)
			unlink(p);
		sqlite3_free(p);
	}
	if (dir)
		rmdir(dir);
}

/* PATH through a private copy: PATH with its -wal and -journal is copied into
 * a new 0700 directory (again while any of them changes under the copy),
 * where SQLite recovers the copy and makes it a rollback-journal file; that
 * is opened read-only, and its files are removed at once. */
static int open_copy(const char *path, sqlite3 **db, struct hero_error *err)
{
	const char *tmp = getenv("TMPDIR");
	char dir[4096], copy[4200];
	snprintf(dir, sizeof dir, "%s/hero-livedb.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot create a directory in '%s'",
					tmp && *tmp ? tmp : "/tmp");
	snprintf(copy, sizeof copy, "%s/db", dir);
	int ret = 0, stable = 0;
	for (int attempt = 0; ret == 0 && !stable && attempt < 10; attempt++) {
		struct live_state a, b;
		if (attempt)
			sqlite3_sleep(50);
		remove_copy(NULL, copy);
		live_state(path, &a);
		ret = copy_file(path, copy, 0, err);
		for (size_t i = 0; ret == 0 && i < N_SIDECARS; i++) {
			if (!strcmp(sidecars[i], "-shm")) /* rebuilt from the -wal */
				continue;
			char *from = sidecar(path, sidecars[i]), *to = sidecar(copy, sidecars[i]);
			ret = from && to ? copy_file(from, to, 1, err) : hero_error(err, HERO_EFAIL, "out of memory");
			sqlite3_free(from);
			sqlite3_free(to);
		}
		live_state(path, &b);
		stable = same_state(&a, &b);
	}
	if (ret == 0 && !stable)
		ret = hero_error(err, HERO_EFAIL, "database '%s' kept changing while it was copied", path);
	sqlite3 *w = NULL;
	int rc = SQLITE_OK;
	if (ret == 0 && ((rc = open_and_read(copy, SQLITE_OPEN_READWRITE, &w)) != SQLITE_OK ||
			 (rc = sqlite3_exec(w, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL)) != SQLITE_OK))
		ret = hero_error(err, HERO_EFAIL, "cannot read a copy of database '%s': %s", path,
				 w ? sqlite3_errmsg(w) : sqlite3_errstr(rc));
	if (w && sqlite3_close(w) != SQLITE_OK && ret == 0)
		ret = hero_error(err, HERO_EFAIL, "cannot close a copy of database '%s'", path);
	if (ret == 0 && (rc = open_and_read(copy, SQLITE_OPEN_READONLY, db)) != SQLITE_OK)
		ret = hero_error(err, HERO_EFAIL, "cannot read a copy of database '%s': %s", path, sqlite3_errstr(rc));
	remove_copy(dir, copy);
	return ret;
}

int hero_sqlite_open_live_ro(const char *path, sqlite3 **db, struct hero_error *err)
{
	int wal = sidecar_exists(path, "-wal"), shm = sidecar_exists(path, "-shm");
	int jrn = sidecar_exists(path, "-journal");
	int rc;
	*db = NULL;
	if (!wal && !shm && !jrn) {
		char *uri = file_uri(path, "immutable=1");
		if (!uri)
			return hero_error(err, HERO_EFAIL, "out of memory");
		rc = open_and_read(uri, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, db);
		sqlite3_free(uri);
	} else if (wal && shm) {
		/* the -shm opened read-only too: without it SQLite would set read marks
		 * in it, or, when no other connection has it open, truncate and rebuild
		 * it; this way it is used as it is, or, left by a writer gone, not
		 * trusted and the -wal read instead */
		char *uri = file_uri(path, "readonly_shm=1");
		if (!uri)
			return hero_error(err, HERO_EFAIL, "out of memory");
		rc = open_and_read(uri, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, db);
		sqlite3_free(uri);
	} else if (jrn && !wal && !shm && !header_says_wal(path)) {
		rc = open_and_read(path, SQLITE_OPEN_READONLY, db);
		if (rc == SQLITE_READONLY_ROLLBACK) /* a hot journal: only a writer rolls it back */
			return open_copy(path, db, err);
	} else {
		return open_copy(path, db, err);
	}
	if (rc != SQLITE_OK)
		return hero_error(err, HERO_EFAIL, "cannot read database '%s': %s", path, sqlite3_errstr(rc));
	return 0;
}

int hero_sqlite_snapshot_live(const char *src, const char *dst, struct hero_error *err)
{
	/* An immutable read assumes that no writer comes by: when the file
	 * changed meanwhile, the copy is taken again (a WAL writer's new frames
	 * in a -wal that appeared are not in it: it is the instant before). */
	for (int attempt = 0;; attempt++) {
		struct live_state a, b;
		live_state(src, &a);
		int immutable = !a.f[1].st_ino && !a.f[2].st_ino && !a.f[3].st_ino;
		sqlite3 *from = NULL;
		int ret = hero_sqlite_open_live_ro(src, &from, err);
		if (ret == 0)
			ret = copy_db(from, src, dst, 1, err);
		sqlite3_close(from);
		if (ret < 0 || !immutable)
			return ret;
		live_state(src, &b);
		if (same_file(&a.f[0], &b.f[0]))
			return 0;
		unlink(dst);
		if (attempt == 10)
			return hero_error(err, HERO_EFAIL, "database '%s' kept changing while it was copied", src);
	}
}

static int first_row_text(sqlite3 *db, const char *sql, char *buf, size_t n)
{
	sqlite3_stmt *st;
	buf[0] = '\0';
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(st, 0);
		snprintf(buf, n, "%s", t ? (const char *)t : "");
		for (char *p = buf; *p; p++)
			if ((unsigned char)*p < 0x20)
				*p = ' '; /* one line: integrity_check reports one problem per line */
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The file itself, before SQLite opens it: a self-contained rollback-journal
 * database whose header agrees with its size (an empty file would open as
 * an empty database; a WAL-mode file would make even a reader create -wal
 * and -shm files beside it). */
static int check_header(const char *path, const char *name, struct hero_error *err)
{
	uint8_t h[100];
	struct stat st;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot open database '%s'", name);
	ssize_t n = fstat(fd, &st) < 0 ? -1 : hero_read_full(fd, h, sizeof h);
	close(fd);
	if (n != (ssize_t)sizeof h || memcmp(h, "SQLite format 3", 16) != 0)
		return hero_error(err, HERO_EINTEGRITY, "database '%s' is not a SQLite database", name);
	uint32_t page = (uint32_t)h[16] << 8 | h[17];
	if (page == 1)
		page = 65536;
	if (page < 512 || (page & (page - 1)) != 0 || st.st_size % page != 0)
		return hero_error(err, HERO_EINTEGRITY, "database '%s' has a page size that does not fit its file", name);
	if (h[18] != 1 || h[19] != 1)
		return hero_error(err, HERO_EINTEGRITY,
				  "database '%s' is in WAL mode (or of an unknown file format); archived databases are self-contained",
				  name);
	if (be32(h + 24) == be32(h + 92) && (uint64_t)be32(h + 28) * page != (uint64_t)st.st_size)
		return hero_error(err, HERO_EINTEGRITY, "database '%s' is %lld bytes but its header says %llu", name,
				  (long long)st.st_size, (unsigned long long)be32(h + 28) * page);
	return 0;
}

/* Prepare (never run) SQL, so SQLite compiles the triggers, views, CHECK
 * constraints, generated columns and index expressions it involves. With
 * trusted_schema off, a function unknown here or unsafe in a schema fails.
 * A view without an INSTEAD OF trigger of the kind SQL would fire cannot be
 * written at all: that failure is fine when VIEW (not NULL) is what SQL writes. */
static int compile_only(sqlite3 *db, const char *sql, const char *view, const char *name, struct hero_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	sqlite3_finalize(st);
	if (rc == SQLITE_OK)
		return 0;
	if (view) {
		char *no = sqlite3_mprintf("cannot modify %s because it is a view", view);
		int fine = no && !strcmp(sqlite3_errmsg(db), no);
		sqlite3_free(no);
		if (fine)
			return 0;
	}
	return hero_error(err, HERO_EINTEGRITY, "database '%s' has schema code refused here: %s", name, sqlite3_errmsg(db));
}

static char *quote_ident(const char *s)
{
	return sqlite3_mprintf("\"%w\"", s);
}

static int prepared(sqlite3 *db, const char *sql, sqlite3_stmt **st, const char *name, struct hero_error *err)
{
	if (sqlite3_prepare_v2(db, sql, -1, st, NULL) == SQLITE_OK)
		return 0;
	return hero_error(err, HERO_EINTEGRITY, "database '%s' has an unreadable schema: %s", name, sqlite3_errmsg(db));
}

/* "UPDATE Q SET c = c, ..." over every column of TABLE that can be set, and
 * the rowid under each of its names, so every UPDATE OF trigger fires. */
static char *update_all(sqlite3 *db, const char *table, const char *q)
{
	sqlite3_stmt *st;
	char *sql = sqlite3_mprintf("UPDATE %s SET ", q);
	int n = 0;
	if (sqlite3_prepare_v2(db, "SELECT name FROM pragma_table_xinfo(?1, 'main') WHERE hidden = 0", -1, &st,
					NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
		while (sql && sqlite3_step(st) == SQLITE_ROW) {
			char *next = sqlite3_mprintf("%z%s\"%w\" = \"%w\"", sql, n++ ? ", " : "", sqlite3_column_text(st, 0),
						     sqlite3_column_text(st, 0));
			sql = next;
		}
		sqlite3_finalize(st);
	}
	/* the rowid, unless a column has its name; a WITHOUT ROWID table has none */
	char *probe = sqlite3_mprintf("SELECT rowid FROM %s", q);
	int has_rowid = probe && sqlite3_prepare_v2(db, probe, -1, &st, NULL) == SQLITE_OK;
	if (has_rowid)
		sqlite3_finalize(st);
	sqlite3_free(probe);
	static const char *const rowid[] = { "rowid", "_rowid_", "oid" };
	for (size_t i = 0; has_rowid && sql && i < 3; i++) {
		int shadowed = 0;
		if (sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_xinfo(?1, 'main') WHERE name = ?2 COLLATE NOCASE", -1,
				       &st, NULL) == SQLITE_OK) {
			sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, rowid[i], -1, SQLITE_STATIC);
			shadowed = sqlite3_step(st) == SQLITE_ROW;
			sqlite3_finalize(st);
		}
		if (!shadowed)
			sql = sqlite3_mprintf("%z%s%s = %s", sql, n++ ? ", " : "", rowid[i], rowid[i]);
	}
	if (sql && !n) {
		sqlite3_free(sql);
		return sqlite3_mprintf("");
	}
	return sql;
}

/* Compile what would fire each trigger and read each view: for every table,
 * an INSERT, a DELETE and an UPDATE of every column; for every view, a
 * SELECT, and an INSERT, an UPDATE of every column and a DELETE, which
 * compile its INSTEAD OF triggers (a view is found to have them by writing
 * it, not from sqlite_schema's tbl_name, which a forged schema can set). */
static int check_schema_code(sqlite3 *db, const char *name, struct hero_error *err)
{
	sqlite3_stmt *st;
	int ret = prepared(db, "SELECT type, name FROM sqlite_schema WHERE type IN ('view','table') ORDER BY rowid", &st,
			   name, err);
	if (ret < 0)
		return ret;
	while (ret == 0 && sqlite3_step(st) == SQLITE_ROW) {
		const char *type = (const char *)sqlite3_column_text(st, 0);
		const char *obj = (const char *)sqlite3_column_text(st, 1);
		if (!type || !obj || !strncmp(obj, "sqlite_", 7))
			continue;
		int view = !strcmp(type, "view");
		char *q = quote_ident(obj);
		char *sql[4] = { NULL, NULL, NULL, NULL };
		if (q) {
			sql[0] = view ? sqlite3_mprintf("SELECT * FROM %s", q) : sqlite3_mprintf("");
			sql[1] = sqlite3_mprintf("INSERT INTO %s DEFAULT VALUES", q);
			sql[2] = sqlite3_mprintf("DELETE FROM %s", q);
			sql[3] = update_all(db, obj, q);
		}
		for (int i = 0; i < 4 && ret == 0; i++) {
			if (!sql[i])
				ret = hero_error(err, HERO_EFAIL, "out of memory");
			else if (*sql[i])
				ret = compile_only(db, sql[i], view && i ? obj : NULL, name, err);
		}
		for (int i = 0; i < 4; i++)
			sqlite3_free(sql[i]);
		sqlite3_free(q);
	}
	sqlite3_finalize(st);
	return ret;
}

/* Each trigger and view of DB must be in REF with the same name and SQL. */
static int check_allowed(sqlite3 *db, const char *ref, const char *name, struct hero_error *err)
{
	sqlite3 *r = NULL;
	struct stat st;
	if (stat(ref, &st) < 0 && errno == ENOENT)
		return 0; /* the target has no such database yet */
	int ret = hero_sqlite_open_live_ro(ref, &r, err);
	if (ret < 0)
		return ret;
	sqlite3_stmt *mine = NULL, *theirs = NULL;
	if ((ret = prepared(db, "SELECT type, name, sql FROM sqlite_schema WHERE type IN ('trigger','view') ORDER BY rowid",
			    &mine, name, err)) < 0)
		goto out;
	if (sqlite3_prepare_v2(r, "SELECT sql FROM sqlite_schema WHERE type = ?1 AND name = ?2", -1, &theirs, NULL) !=
	    SQLITE_OK) {
		ret = hero_error(err, HERO_EFAIL, "cannot read the schema of '%s': %s", ref, sqlite3_errmsg(r));
		goto out;
	}
	while (ret == 0 && sqlite3_step(mine) == SQLITE_ROW) {
		const char *type = (const char *)sqlite3_column_text(mine, 0);
		const char *obj = (const char *)sqlite3_column_text(mine, 1);
		const char *sql = (const char *)sqlite3_column_text(mine, 2);
		sqlite3_reset(theirs);
		sqlite3_bind_text(theirs, 1, type, -1, SQLITE_STATIC);
		sqlite3_bind_text(theirs, 2, obj, -1, SQLITE_STATIC);
		if (sqlite3_step(theirs) != SQLITE_ROW)
			ret = hero_error(err, HERO_EINTEGRITY, "database '%s': %s '%s' is not in the target's schema", name,
					 type ? type : "?", obj ? obj : "?");
		else if (!sql || !sqlite3_column_text(theirs, 0) || strcmp(sql, (const char *)sqlite3_column_text(theirs, 0)))
			ret = hero_error(err, HERO_EINTEGRITY,
					 "database '%s': %s '%s' differs from the one in the target's schema", name, type,
					 obj);
	}
out:
	sqlite3_finalize(mine);
	sqlite3_finalize(theirs);
	sqlite3_close(r);
	return ret;
}

int hero_sqlite_check(const char *path, const char *name, const struct hero_dbcheck *want, struct hero_error *err)
{
	sqlite3 *db = NULL;
	int ret = check_header(path, name, err);
	char res[512];
	if (ret < 0)
		return ret;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		ret = hero_error(err, HERO_EINTEGRITY, "database '%s' cannot be opened: %s", name,
				 db ? sqlite3_errmsg(db) : "out of memory");
		goto out;
	}
	reader_config(db, 1);
	sqlite3_exec(db, "PRAGMA cell_size_check=ON; PRAGMA mmap_size=0", NULL, NULL, NULL);
	int rc = first_row_text(db, "PRAGMA integrity_check", res, sizeof res);
	if (rc < 0 || strcmp(res, "ok") != 0) {
		ret = hero_error(err, HERO_EINTEGRITY, "database '%s' fails integrity_check: %s", name,
				 rc < 0 ? sqlite3_errmsg(db) : res);
		goto out;
	}
	rc = first_row_text(db, "PRAGMA foreign_key_check", res, sizeof res);
	if (rc != 0) {
		ret = hero_error(err, HERO_EINTEGRITY, "database '%s' fails foreign_key_check%s%s", name,
				 rc > 0 ? " in table " : ": ", rc > 0 ? res : sqlite3_errmsg(db));
		goto out;
	}
	if ((ret = check_schema_code(db, name, err)) < 0)
		goto out;
	if (want && want->user_version >= 0) {
		rc = first_row_text(db, "PRAGMA user_version", res, sizeof res);
		if (rc <= 0) {
			ret = hero_error(err, HERO_EINTEGRITY, "database '%s': cannot read its user_version", name);
			goto out;
		}
		if (strtol(res, NULL, 10) != want->user_version) {
			ret = hero_error(err, HERO_EINTEGRITY,
					 "database '%s': user_version %s differs from the schema %d its archive declares", name,
					 res, want->user_version);
			goto out;
		}
	}
	if (want && want->reference)
		ret = check_allowed(db, want->reference, name, err);
out:
	sqlite3_close(db);
	return ret;
}
