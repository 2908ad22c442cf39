/* sqlite_util.h - consistent copies and checks of SQLite databases. */
#ifndef HERO_SQLITE_UTIL_H
#define HERO_SQLITE_UTIL_H

#include <sqlite3.h>

#include "hero/error.h"

/* Copy database SRC (WAL included) into the new file DST with the online
 * backup API, in one step under one read transaction, so the copy is one
 * instant of the database while other connections keep writing. DST is fsync'd. */
int hero_sqlite_snapshot(const char *src, const char *dst, struct hero_error *err);

/* The same copy as a temporary file, for hero-snap to stream into the archive and
 * remove: written without a journal and not fsync'd, since it never has to survive
 * a crash (docs/decisions/0017-sqlite-copies.md). */
int hero_sqlite_snapshot_temp(const char *src, const char *dst, struct hero_error *err);

/* The copy of hero_sqlite_snapshot from a live database of the target, read
 * through hero_sqlite_open_live_ro: nothing is created beside SRC. */
int hero_sqlite_snapshot_live(const char *src, const char *dst, struct hero_error *err);

/* Open the live database PATH read-only without creating any file beside it
 * (no -wal, -shm or -journal appears, whatever its journal mode):
 * - neither -wal nor -shm nor -journal there: opened immutable (no writer can
 *   be mid-write without them);
 * - -wal and -shm both there (a WAL writer has it open, or had): opened
 *   read-only with the -shm read-only too, so neither file is written to;
 * - only a -journal there, rollback-journal mode: opened read-only as usual
 *   (a writer's journal is waited for); a hot journal, which only a writer
 *   may roll back, makes it read a private copy instead;
 * - anything else (only one of -wal and -shm): a private copy of the database
 *   and its sidecars, recovered there, is opened; its files are already
 *   removed when this returns (the connection keeps it open).
 * Triggers, untrusted schema code and extension loading are off on *DB. */
int hero_sqlite_open_live_ro(const char *path, sqlite3 **db, struct hero_error *err);

/* What hero_sqlite_check compares a database with. */
struct hero_dbcheck {
	int user_version;      /* the schema its archive declares; -1: not checked */
	const char *reference; /* the target's live copy of it, whose triggers and views
				* are the only ones allowed; NULL or missing: no list */
};

/* Check the archived database PATH before the restore uses it, opened
 * read-only with SQLITE_DBCONFIG_DEFENSIVE, untrusted schema and extension
 * loading off (docs/security.md section 4): its header (self-contained
 * rollback-journal file of the size it says), integrity_check,
 * foreign_key_check, PRAGMA user_version against WANT->user_version, its
 * triggers and views against those of WANT->reference, and every piece of
 * schema code compiled, never run. NAME labels messages. */
int hero_sqlite_check(const char *path, const char *name, const struct hero_dbcheck *want, struct hero_error *err);

#endif
