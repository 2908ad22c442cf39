/* ctxdb.h - row-level work on databases partitioned by a context column,
 * and forward-only schema migrations. */
#ifndef HERO_CTXDB_H
#define HERO_CTXDB_H

#include <stdint.h>

#include "hero/error.h"
#include "hero/manifest.h"

/* Append to OUT the distinct values of column COL over every table of DB that
 * has it, told apart byte for byte whatever the column's collation. */
int hero_ctxdb_contexts(const char *db, const char *col, struct hero_strlist *out, struct hero_error *err);

/* In the database copy DB, keep only rows whose COL is in KEEP (byte for
 * byte): delete the others from every table that has COL and every row of
 * tables without it, with secure_delete, then VACUUM so no deleted byte
 * remains in the file. */
int hero_ctxdb_filter(const char *db, const char *col, const struct hero_strlist *keep,
		      struct hero_error *err);

/* In one transaction on the database DB (a staging copy of the target's):
 * delete the rows of context TO from every table that has COL, as the
 * target's table compares them (its collation and keys), then insert the
 * rows of context FROM of the database INCOMING (byte for byte, whatever the
 * archive's collation), with COL set to TO, into the target's own columns
 * (by name; its generated columns are computed). Tables without COL are left
 * alone. The target's schema decides: an archive's table that is missing, is
 * not a plain table or lacks one of those columns as a plain column, and an
 * archive's table the target does not have, fail with HERO_EINTEGRITY naming
 * table and column. A primary-key or unique collision with another
 * context's row fails with HERO_ECONFLICT naming table and key. Any failure
 * rolls back. *ROWS receives the number of rows inserted. */
int hero_ctxdb_merge(const char *db, const char *incoming, const char *col, const char *from, const char *to,
		     uint64_t *rows, struct hero_error *err);

/* In DB, set COL to TO on every row where it is FROM (every table that has COL),
 * after deleting the rows already of TO; both compared byte for byte. */
int hero_ctxdb_rename(const char *db, const char *col, const char *from, const char *to, struct hero_error *err);

/* Rows of context CTX in DB over every table with COL (for plans), as a merge
 * would delete them. DB is a live database of the target: read through
 * hero_sqlite_open_live_ro, nothing is created beside it. */
int hero_ctxdb_count(const char *db, const char *col, const char *ctx, uint64_t *rows, struct hero_error *err);

/* Apply the migration FILES (in order) to DB in one transaction and set its
 * user_version to TO. NAME labels messages. */
int hero_db_migrate(const char *db, const char *name, const struct hero_strlist *files, int to,
		    struct hero_error *err);

/* PRAGMA user_version of DB, or <0 with an error. */
int hero_db_schema(const char *db, int *version, struct hero_error *err);

#endif
