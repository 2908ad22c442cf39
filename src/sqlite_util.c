/* sqlite_util.c - consistent copies and checks of SQLite databases. */
#include "sqlite_util.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "internal.h"

static int db_error(sqlite3 *db, const char *what, const char *path, struct hero_error *err)
{
	return hero_error(err, HERO_EFAIL, "%s '%s': %s", what, path, db ? sqlite3_errmsg(db) : "out of memory");
}

int hero_sqlite_snapshot(const char *src, const char *dst, struct hero_error *err)
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
	if (ret == 0) {
		int fd = open(dst, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return hero_error(err, HERO_EFAIL, "cannot reopen database copy '%s'", dst);
		ret = hero_fsync(fd, dst, err);
		close(fd);
	}
	return ret;
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
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int hero_sqlite_check(const char *path, const char *name, struct hero_error *err)
{
	sqlite3 *db = NULL;
	int ret = 0;
	char res[512];
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		ret = hero_error(err, HERO_EINTEGRITY, "database '%s' cannot be opened: %s", name,
				 db ? sqlite3_errmsg(db) : "out of memory");
		goto out;
	}
	sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, NULL);
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
out:
	sqlite3_close(db);
	return ret;
}
