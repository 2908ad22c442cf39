/* sqlite_util.h - consistent copies and checks of SQLite databases. */
#ifndef HERO_SQLITE_UTIL_H
#define HERO_SQLITE_UTIL_H

#include "hero/error.h"

/* Copy database SRC (WAL included) into the new file DST with the online
 * backup API, in one step under one read transaction, so the copy is one
 * instant of the database while other connections keep writing. DST is fsync'd. */
int hero_sqlite_snapshot(const char *src, const char *dst, struct hero_error *err);

/* The same copy as a temporary file, for hero-snap to stream into the archive and
 * remove: written without a journal and not fsync'd, since it never has to survive
 * a crash (docs/decisions/0017-sqlite-copies.md). */
int hero_sqlite_snapshot_temp(const char *src, const char *dst, struct hero_error *err);

/* Run PRAGMA integrity_check and foreign_key_check on PATH, opened read-only
 * with triggers and untrusted schema disabled. NAME labels messages. */
int hero_sqlite_check(const char *path, const char *name, struct hero_error *err);

#endif
