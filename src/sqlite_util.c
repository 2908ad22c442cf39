/* sqlite_util.c - consistent copies and checks of SQLite databases. */
#include "sqlite_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "internal.h"

static int db_error(sqlite3 *db, const char *what, const char *path, struct hero_error *err)
{
	return hero_error(err, HERO_EFAIL, "%s '%s': %s", what, path, db ? sqlite3_errmsg(db) : "out of memory");
}

/* DURABLE: DST is written with a journal and fsync'd; otherwise it is a
 * temporary copy, read once and removed, written with neither. */
static int copy_db(const char *src, const char *dst, int durable, struct hero_error *err)
{
	sqlite3 *from = NULL, *to = NULL;
	int ret = 0;
	if (sqlite3_open_v2(src, &from, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
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
	return copy_db(src, dst, 1, err);
}

int hero_sqlite_snapshot_temp(const char *src, const char *dst, struct hero_error *err)
{
	return copy_db(src, dst, 0, err);
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
 * trusted_schema off, a function unknown here or unsafe in a schema fails. */
static int compile_only(sqlite3 *db, const char *sql, const char *name, struct hero_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	sqlite3_finalize(st);
	if (rc == SQLITE_OK)
		return 0;
	return hero_error(err, HERO_EINTEGRITY, "database '%s' has schema code refused here: %s", name, sqlite3_errmsg(db));
}

static char *quote_ident(const char *s)
{
	return sqlite3_mprintf("\"%w\"", s);
}

/* Compile what would fire each trigger and read each view. */
static int check_schema_code(sqlite3 *db, const char *name, struct hero_error *err)
{
	sqlite3_stmt *st;
	int ret = 0;
	if (sqlite3_prepare_v2(db, "SELECT type, name, tbl_name FROM sqlite_schema WHERE type IN ('view','table','trigger')",
			       -1, &st, NULL) != SQLITE_OK)
		return hero_error(err, HERO_EINTEGRITY, "database '%s' has an unreadable schema: %s", name, sqlite3_errmsg(db));
	while (ret == 0 && sqlite3_step(st) == SQLITE_ROW) {
		const char *type = (const char *)sqlite3_column_text(st, 0);
		const char *obj = (const char *)sqlite3_column_text(st, 1);
		const char *tbl = (const char *)sqlite3_column_text(st, 2);
		if (!type || !obj || !tbl || !strncmp(obj, "sqlite_", 7))
			continue;
		char *q = quote_ident(!strcmp(type, "trigger") ? tbl : obj);
		char *sql[3] = { NULL, NULL, NULL };
		if (!q) {
			ret = hero_error(err, HERO_EFAIL, "out of memory");
			break;
		}
		if (!strcmp(type, "view")) {
			sql[0] = sqlite3_mprintf("SELECT * FROM %s", q);
		} else {
			sql[0] = sqlite3_mprintf("INSERT INTO %s DEFAULT VALUES", q);
			sql[1] = sqlite3_mprintf("DELETE FROM %s", q);
			sql[2] = sqlite3_mprintf("UPDATE %s SET rowid = rowid", q);
		}
		for (int i = 0; i < 3 && ret == 0; i++)
			if (sql[i] && (ret = compile_only(db, sql[i], name, err)) < 0 &&
			    strstr(err->msg, "no such column: rowid"))
				ret = 0; /* a WITHOUT ROWID table or a view: nothing fires on rowid */
		for (int i = 0; i < 3; i++)
			sqlite3_free(sql[i]);
		sqlite3_free(q);
	}
	sqlite3_finalize(st);
	return ret;
}

int hero_sqlite_check(const char *path, const char *name, struct hero_error *err)
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
	sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL);
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
	ret = check_schema_code(db, name, err);
out:
	sqlite3_close(db);
	return ret;
}
