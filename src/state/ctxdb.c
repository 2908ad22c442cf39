/* ctxdb.c - per-context rows in shared databases, and schema migrations. */
#include "state/ctxdb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "base/internal.h"
#include "state/sqlite_util.h"

/* A double-quoted SQL identifier in BUF. */
static const char *ident(const char *name, char *buf, size_t n)
{
	size_t j = 0;
	if (n < 3)
		return "\"\"";
	buf[j++] = '"';
	for (const char *p = name; *p && j + 3 < n; p++) {
		if (*p == '"')
			buf[j++] = '"';
		buf[j++] = *p;
	}
	buf[j++] = '"';
	buf[j] = '\0';
	return buf;
}

static int open_db(const char *path, int flags, sqlite3 **db, struct hero_error *err)
{
	if (sqlite3_open_v2(path, db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		int ret = hero_error(err, HERO_EFAIL, "cannot open database '%s': %s", path,
				     *db ? sqlite3_errmsg(*db) : "out of memory");
		sqlite3_close(*db);
		*db = NULL;
		return ret;
	}
	sqlite3_busy_timeout(*db, 10000);
	sqlite3_db_config(*db, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, NULL);
	sqlite3_db_config(*db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	return 0;
}

static int exec(sqlite3 *db, const char *sql, const char *what, struct hero_error *err)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		int ret = hero_error(err, HERO_EFAIL, "%s: %s", what, msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return ret;
	}
	return 0;
}

/* Ordinary tables of schema SCHEMA ("main" or "inc"), each with whether it has COL. */
struct table {
	char *name;
	int has_col;
};

static void tables_free(struct table *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(t[i].name);
	free(t);
}

static int has_column(sqlite3 *db, const char *schema, const char *table, const char *col)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info(?1, ?2) WHERE name = ?3", -1, &st, NULL) !=
	    SQLITE_OK)
		return 0;
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, schema, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, col, -1, SQLITE_STATIC);
	int found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return found;
}

static int list_tables(sqlite3 *db, const char *schema, const char *col, struct table **out, size_t *n,
		       struct hero_error *err)
{
	char sql[256];
	snprintf(sql, sizeof sql,
		 "SELECT name FROM %s.sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%%' "
		 "AND sql NOT LIKE 'CREATE VIRTUAL%%' ORDER BY name",
		 schema);
	sqlite3_stmt *st;
	*out = NULL;
	*n = 0;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return hero_error(err, HERO_EFAIL, "cannot list tables: %s", sqlite3_errmsg(db));
	size_t cap = 0;
	int ret = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? 2 * cap : 16;
			struct table *v = realloc(*out, cap * sizeof *v);
			if (!v) {
				ret = hero_error(err, HERO_EFAIL, "out of memory");
				break;
			}
			*out = v;
		}
		(*out)[*n].name = strdup((const char *)sqlite3_column_text(st, 0));
		(*out)[*n].has_col = 0;
		if (!(*out)[*n].name) {
			ret = hero_error(err, HERO_EFAIL, "out of memory");
			break;
		}
		(*n)++;
	}
	sqlite3_finalize(st);
	for (size_t i = 0; ret == 0 && i < *n; i++)
		(*out)[i].has_col = has_column(db, schema, (*out)[i].name, col);
	return ret;
}

int hero_ctxdb_contexts(const char *path, const char *col, struct hero_strlist *out, struct hero_error *err)
{
	sqlite3 *db = NULL;
	struct table *t = NULL;
	size_t n = 0;
	int ret = open_db(path, SQLITE_OPEN_READONLY, &db, err);
	if (ret < 0)
		return ret;
	if ((ret = list_tables(db, "main", col, &t, &n, err)) < 0)
		goto out;
	for (size_t i = 0; i < n && ret == 0; i++) {
		if (!t[i].has_col)
			continue;
		char sql[1200], qt[512], qc[256];
		/* contexts are names: told apart byte by byte, whatever the column's collation */
		snprintf(sql, sizeof sql, "SELECT DISTINCT %s COLLATE BINARY FROM %s WHERE %s IS NOT NULL",
			 ident(col, qc, sizeof qc), ident(t[i].name, qt, sizeof qt), qc);
		sqlite3_stmt *st;
		if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
			ret = hero_error(err, HERO_EFAIL, "cannot read contexts of '%s': %s", path, sqlite3_errmsg(db));
			break;
		}
		while (ret == 0 && sqlite3_step(st) == SQLITE_ROW) {
			const char *v = (const char *)sqlite3_column_text(st, 0);
			int dup = 0;
			for (size_t k = 0; v && k < out->n; k++)
				dup |= !strcmp(out->v[k], v);
			if (v && !dup && hero_strlist_push(out, v) < 0)
				ret = hero_error(err, HERO_EFAIL, "out of memory");
		}
		sqlite3_finalize(st);
	}
out:
	tables_free(t, n);
	sqlite3_close(db);
	return ret;
}

/* The contexts to keep, in a temporary table (any number of them). */
static int keep_table(sqlite3 *db, const struct hero_strlist *keep, struct hero_error *err)
{
	int ret = exec(db, "CREATE TEMP TABLE hero_keep(c TEXT PRIMARY KEY)", "cannot filter", err);
	if (ret < 0)
		return ret;
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO temp.hero_keep VALUES (?)", -1, &st, NULL) != SQLITE_OK)
		return hero_error(err, HERO_EFAIL, "cannot filter rows: %s", sqlite3_errmsg(db));
	for (size_t i = 0; ret == 0 && i < keep->n; i++) {
		sqlite3_bind_text(st, 1, keep->v[i], -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			ret = hero_error(err, HERO_EFAIL, "cannot filter rows: %s", sqlite3_errmsg(db));
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return ret;
}

int hero_ctxdb_filter(const char *path, const char *col, const struct hero_strlist *keep, struct hero_error *err)
{
	sqlite3 *db = NULL;
	struct table *t = NULL;
	size_t n = 0;
	int ret = open_db(path, SQLITE_OPEN_READWRITE, &db, err);
	if (ret < 0)
		return ret;
	if ((ret = exec(db, "PRAGMA secure_delete=ON; PRAGMA foreign_keys=OFF; BEGIN", "cannot filter", err)) < 0 ||
	    (ret = keep_table(db, keep, err)) < 0 || (ret = list_tables(db, "main", col, &t, &n, err)) < 0)
		goto out;
	for (size_t i = 0; i < n && ret == 0; i++) {
		char sql[1200], qt[512], qc[256];
		if (t[i].has_col)
			snprintf(sql, sizeof sql,
				 "DELETE FROM %s WHERE %s IS NULL OR %s COLLATE BINARY NOT IN (SELECT c FROM temp.hero_keep)",
				 ident(t[i].name, qt, sizeof qt), ident(col, qc, sizeof qc), qc);
		else
			snprintf(sql, sizeof sql, "DELETE FROM %s", ident(t[i].name, qt, sizeof qt));
		ret = exec(db, sql, "cannot filter rows", err);
	}
	if (ret == 0)
		ret = exec(db, "COMMIT", "cannot filter", err);
	if (ret == 0)
		ret = exec(db, "DROP TABLE temp.hero_keep; VACUUM", "cannot compact filtered database", err);
out:
	tables_free(t, n);
	sqlite3_close(db);
	return ret;
}

/* The rows that a merge of CTX would replace: compared with the target
 * table's own collation, as the merge deletes them. PATH is a live database
 * of the target, read without creating any file beside it. */
int hero_ctxdb_count(const char *path, const char *col, const char *ctx, uint64_t *rows, struct hero_error *err)
{
	sqlite3 *db = NULL;
	struct table *t = NULL;
	size_t n = 0;
	*rows = 0;
	int ret = hero_sqlite_open_live_ro(path, &db, err);
	if (ret < 0)
		return ret;
	if ((ret = list_tables(db, "main", col, &t, &n, err)) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (!t[i].has_col)
			continue;
		char sql[1200], qt[512], qc[256];
		snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE %s = ?", ident(t[i].name, qt, sizeof qt),
			 ident(col, qc, sizeof qc));
		sqlite3_stmt *st;
		if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
			continue;
		sqlite3_bind_text(st, 1, ctx, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			*rows += (uint64_t)sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
out:
	tables_free(t, n);
	sqlite3_close(db);
	return ret;
}

/* The columns a merge writes in main.TABLE, as a comma-separated quoted list:
 * the target's own, by name, but its generated ones. The archive's table of
 * that name must be a plain table with each of them as a plain column. */
static int merge_columns(sqlite3 *db, const char *table, char *buf, size_t n, struct hero_error *err)
{
	sqlite3_stmt *st;
	int ret = 0;
	if (sqlite3_prepare_v2(db, "SELECT type, sql LIKE 'CREATE VIRTUAL%' FROM inc.sqlite_schema WHERE "
				   "type IN ('table','view') AND name = ?1 COLLATE NOCASE",
			       -1, &st, NULL) != SQLITE_OK)
		return hero_error(err, HERO_EFAIL, "cannot read the archive's schema: %s", sqlite3_errmsg(db));
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW)
		ret = hero_error(err, HERO_EINTEGRITY, "table '%s' of the target is missing from the archive's database",
				 table);
	else if (strcmp((const char *)sqlite3_column_text(st, 0), "table") != 0 || sqlite3_column_int(st, 1))
		ret = hero_error(err, HERO_EINTEGRITY, "table '%s' of the archive's database is not a plain table (%s)",
				 table, sqlite3_column_int(st, 1) ? "a virtual table" : "a view");
	sqlite3_finalize(st);
	if (ret < 0)
		return ret;
	if (sqlite3_prepare_v2(db,
			       "SELECT m.name, m.hidden, i.name IS NOT NULL, i.hidden FROM pragma_table_xinfo(?1, 'main') AS m "
			       "LEFT JOIN pragma_table_xinfo(?1, 'inc') AS i ON i.name = m.name COLLATE NOCASE ORDER BY m.cid",
			       -1, &st, NULL) != SQLITE_OK)
		return hero_error(err, HERO_EFAIL, "cannot read columns of table '%s': %s", table, sqlite3_errmsg(db));
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	size_t off = 0;
	buf[0] = '\0';
	while (ret == 0 && sqlite3_step(st) == SQLITE_ROW) {
		const char *c = (const char *)sqlite3_column_text(st, 0);
		char q[256];
		if (sqlite3_column_int(st, 1) != 0)
			continue; /* generated in the target: computed there */
		if (!sqlite3_column_int(st, 2)) {
			ret = hero_error(err, HERO_EINTEGRITY, "table '%s': column '%s' is missing from the archive's database",
					 table, c);
			break;
		}
		if (sqlite3_column_int(st, 3) != 0) {
			ret = hero_error(err, HERO_EINTEGRITY,
					 "table '%s': column '%s' of the archive's database is generated or hidden", table, c);
			break;
		}
		int w = snprintf(buf + off, n - off, "%s%s", off ? "," : "", ident(c, q, sizeof q));
		if (w < 0 || (size_t)w >= n - off || strlen(c) + 3 > sizeof q)
			ret = hero_error(err, HERO_EFAIL, "columns of table '%s' too long", table);
		else
			off += (size_t)w;
	}
	sqlite3_finalize(st);
	if (ret == 0 && !off)
		ret = hero_error(err, HERO_EFAIL, "cannot read columns of table '%s'", table);
	return ret;
}

/* Every table of the archive's database must be one of the target's: the
 * target's schema decides what a restore may bring. */
static int extra_tables(sqlite3 *db, struct hero_error *err)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "SELECT i.name FROM inc.sqlite_schema AS i WHERE i.type = 'table' AND "
				   "i.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND NOT EXISTS (SELECT 1 FROM "
				   "main.sqlite_schema AS m WHERE m.type = 'table' AND m.name = i.name COLLATE NOCASE) "
				   "ORDER BY i.name LIMIT 1",
			       -1, &st, NULL) != SQLITE_OK)
		return hero_error(err, HERO_EFAIL, "cannot read the archive's schema: %s", sqlite3_errmsg(db));
	int ret = 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		ret = hero_error(err, HERO_EINTEGRITY, "table '%s' of the archive's database is not in the target's",
				 (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return ret;
}

/* After a constraint failure on TABLE, name the colliding key. */
static int conflict(sqlite3 *db, const char *table, const char *col, const char *to, struct hero_error *err)
{
	const char *msg = sqlite3_errmsg(db);
	const char *cols = strstr(msg, "failed: ");
	char keycols[1024] = "", qt[512], qc[256];
	if (cols) {
		/* "UNIQUE constraint failed: t.a, t.b" -> a, b */
		size_t off = 0;
		for (const char *p = cols + 8; *p && off + 1 < sizeof keycols;) {
			const char *dot = strchr(p, '.');
			if (!dot)
				break;
			const char *end = strchr(dot, ',');
			size_t len = end ? (size_t)(end - dot - 1) : strlen(dot + 1);
			off += (size_t)snprintf(keycols + off, sizeof keycols - off, "%s%.*s", off ? ", " : "", (int)len,
						dot + 1);
			p = end ? end + 2 : dot + 1 + len;
		}
	}
	char value[512] = "?", owner[256] = "another context";
	if (*keycols) {
		char sql[4096];
		ident(col, qc, sizeof qc);
		ident(table, qt, sizeof qt);
		/* show the value of the first key column */
		char first[256];
		snprintf(first, sizeof first, "%.*s", (int)strcspn(keycols, ","), keycols);
		snprintf(sql, sizeof sql,
			 "SELECT quote(i.%s), m.%s FROM inc.%s AS i JOIN main.%s AS m USING (%s) WHERE m.%s IS NOT ? "
			 "AND i.%s = ? COLLATE BINARY LIMIT 1",
			 first, qc, qt, qt, keycols, qc, qc);
		sqlite3_stmt *st;
		if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
			sqlite3_bind_text(st, 1, to, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, to, -1, SQLITE_STATIC);
			if (sqlite3_step(st) == SQLITE_ROW) {
				snprintf(value, sizeof value, "%s", (const char *)sqlite3_column_text(st, 0));
				if (sqlite3_column_text(st, 1))
					snprintf(owner, sizeof owner, "context '%s'", (const char *)sqlite3_column_text(st, 1));
			}
			sqlite3_finalize(st);
		}
	}
	return hero_error(err, HERO_ECONFLICT, "key conflict in table '%s': %s = %s already belongs to %s", table,
			  *keycols ? keycols : "key", value, owner);
}

static int merge_table(sqlite3 *db, const char *table, const char *col, const char *to, uint64_t *rows,
		       struct hero_error *err)
{
	char cols[8192], sql[20000], qt[512], qc[256];
	int ret = merge_columns(db, table, cols, sizeof cols, err);
	if (ret < 0)
		return ret;
	ident(table, qt, sizeof qt);
	ident(col, qc, sizeof qc);
	/* the target's rows go as the target's table compares them; the archive's
	 * rows come only when their context is TO byte for byte */
	snprintf(sql, sizeof sql, "DELETE FROM main.%s WHERE %s = ?", qt, qc);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return hero_error(err, HERO_EFAIL, "cannot clear table '%s': %s", table, sqlite3_errmsg(db));
	sqlite3_bind_text(st, 1, to, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return hero_error(err, HERO_EFAIL, "cannot clear table '%s': %s", table, sqlite3_errmsg(db));
	snprintf(sql, sizeof sql, "INSERT INTO main.%s (%s) SELECT %s FROM inc.%s WHERE %s = ? COLLATE BINARY", qt, cols,
		 cols, qt, qc);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return hero_error(err, HERO_EFAIL, "cannot restore table '%s': %s", table, sqlite3_errmsg(db));
	sqlite3_bind_text(st, 1, to, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if ((rc & 0xff) == SQLITE_CONSTRAINT)
		return conflict(db, table, col, to, err);
	if (rc != SQLITE_DONE)
		return hero_error(err, HERO_EFAIL, "cannot restore table '%s': %s", table, sqlite3_errmsg(db));
	*rows += (uint64_t)sqlite3_changes(db);
	return 0;
}

/* In the incoming copy, move the rows of FROM to TO (the rename of --as). The
 * copy's own rows of TO go first: they are another context of the archive,
 * and must neither join FROM's rows under TO nor collide with them. */
int hero_ctxdb_rename(const char *incoming, const char *col, const char *from, const char *to,
		      struct hero_error *err)
{
	sqlite3 *db = NULL;
	struct table *t = NULL;
	size_t n = 0;
	int ret = open_db(incoming, SQLITE_OPEN_READWRITE, &db, err);
	if (ret < 0)
		return ret;
	if ((ret = exec(db, "BEGIN", "cannot rename context", err)) < 0 ||
	    (ret = list_tables(db, "main", col, &t, &n, err)) < 0)
		goto out;
	for (size_t i = 0; i < n && ret == 0; i++) {
		if (!t[i].has_col)
			continue;
		char sql[2][1200], qt[512], qc[256];
		ident(t[i].name, qt, sizeof qt);
		ident(col, qc, sizeof qc);
		snprintf(sql[0], sizeof sql[0], "DELETE FROM %s WHERE %s = ?1 COLLATE BINARY", qt, qc);
		snprintf(sql[1], sizeof sql[1], "UPDATE %s SET %s = ?1 WHERE %s = ?2 COLLATE BINARY", qt, qc, qc);
		for (int k = 0; k < 2 && ret == 0; k++) {
			sqlite3_stmt *st;
			if (sqlite3_prepare_v2(db, sql[k], -1, &st, NULL) != SQLITE_OK) {
				ret = hero_error(err, HERO_EFAIL, "cannot rename context: %s", sqlite3_errmsg(db));
				break;
			}
			sqlite3_bind_text(st, 1, to, -1, SQLITE_STATIC);
			if (k == 1)
				sqlite3_bind_text(st, 2, from, -1, SQLITE_STATIC);
			if (sqlite3_step(st) != SQLITE_DONE)
				ret = hero_error(err, HERO_EFAIL, "cannot rename context in '%s': %s", t[i].name,
						 sqlite3_errmsg(db));
			sqlite3_finalize(st);
		}
	}
	if (ret == 0)
		ret = exec(db, "COMMIT", "cannot rename context", err);
out:
	tables_free(t, n);
	sqlite3_close(db);
	return ret;
}

int hero_ctxdb_merge(const char *path, const char *incoming, const char *col, const char *from, const char *to,
		     uint64_t *rows, struct hero_error *err)
{
	sqlite3 *db = NULL;
	struct table *t = NULL;
	size_t n = 0;
	*rows = 0;
	int ret;
	if (strcmp(from, to) != 0 && (ret = hero_ctxdb_rename(incoming, col, from, to, err)) < 0)
		return ret;
	if ((ret = open_db(path, SQLITE_OPEN_READWRITE, &db, err)) < 0)
		return ret;
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "ATTACH ? AS inc", -1, &st, NULL) != SQLITE_OK) {
		ret = hero_error(err, HERO_EFAIL, "cannot attach '%s': %s", incoming, sqlite3_errmsg(db));
		goto out;
	}
	sqlite3_bind_text(st, 1, incoming, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		ret = hero_error(err, HERO_EFAIL, "cannot attach '%s': %s", incoming, sqlite3_errmsg(db));
		goto out;
	}
	if ((ret = list_tables(db, "main", col, &t, &n, err)) < 0 ||
	    (ret = exec(db, "BEGIN IMMEDIATE", "cannot start the restore transaction", err)) < 0)
		goto out;
	for (size_t i = 0; i < n && ret == 0; i++)
		if (t[i].has_col)
			ret = merge_table(db, t[i].name, col, to, rows, err);
	if (ret == 0)
		ret = extra_tables(db, err);
	if (ret == 0)
		ret = exec(db, "COMMIT", "cannot commit the restore transaction", err);
	else
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
out:
	tables_free(t, n);
	sqlite3_close(db);
	return ret;
}

int hero_db_schema(const char *path, int *version, struct hero_error *err)
{
	sqlite3 *db = NULL;
	int ret = open_db(path, SQLITE_OPEN_READONLY, &db, err);
	if (ret < 0)
		return ret;
	sqlite3_stmt *st;
	*version = 0;
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		*version = sqlite3_column_int(st, 0);
	else
		ret = hero_error(err, HERO_EFAIL, "cannot read the schema version of '%s'", path);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return ret;
}

int hero_db_migrate(const char *path, const char *name, const struct hero_strlist *files, int to,
		    struct hero_error *err)
{
	sqlite3 *db = NULL;
	int ret = open_db(path, SQLITE_OPEN_READWRITE, &db, err);
	if (ret < 0)
		return ret;
	if ((ret = exec(db, "BEGIN IMMEDIATE", "cannot start migration", err)) < 0)
		goto out;
	for (size_t i = 0; i < files->n && ret == 0; i++) {
		char *sql = hero_read_text(files->v[i]);
		if (!sql) {
			ret = hero_error(err, HERO_EFAIL, "cannot read migration '%s'", files->v[i]);
			break;
		}
		char *msg = NULL;
		if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
			ret = hero_error(err, HERO_EFAIL, "migration '%s' failed on '%s': %s", files->v[i], name,
					 msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		free(sql);
	}
	if (ret == 0) {
		char sql[64];
		snprintf(sql, sizeof sql, "PRAGMA user_version = %d", to);
		ret = exec(db, sql, "cannot set the schema version", err);
	}
	if (ret == 0)
		ret = exec(db, "COMMIT", "cannot commit migration", err);
	else
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
out:
	sqlite3_close(db);
	return ret;
}
