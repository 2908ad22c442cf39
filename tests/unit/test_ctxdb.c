/* test_ctxdb.c - rows of a context in shared databases: list, filter (no byte of
 * another context left), merge in one transaction, conflicts named and rolled
 * back, contexts told apart byte for byte in the archive whatever its
 * collation, the target's tables and columns deciding a merge, forward
 * migrations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "state/ctxdb.h"

struct fix {
	char dir[64];
	char db[128], in[128];
};

static void sql(const char *path, const char *q)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	char *msg = NULL;
	if (sqlite3_exec(db, q, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", q, msg);
	sqlite3_close(db);
}

static long long count(const char *path, const char *q)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	long long n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

static const char schema[] =
	"CREATE TABLE customers(id INTEGER PRIMARY KEY, context TEXT NOT NULL, email TEXT, UNIQUE(context, email));"
	"CREATE TABLE settings(k TEXT PRIMARY KEY, v TEXT);"
	"INSERT INTO settings VALUES ('theme', 'instance-wide-setting');";

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/hero-ctxdb.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof f->db, "%s/target.db", f->dir);
	snprintf(f->in, sizeof f->in, "%s/incoming.db", f->dir);
	sql(f->db, schema);
	sql(f->db, "INSERT INTO customers VALUES (1,'a','x@a'); INSERT INTO customers VALUES (2,'b','x@b');"
		   "INSERT INTO customers VALUES (3,'a','y@a');");
	sql(f->in, schema);
	sql(f->in, "INSERT INTO customers VALUES (1,'a','new@a'); INSERT INTO customers VALUES (7,'a','z@a');"
		   "INSERT INTO customers VALUES (8,'b','b-row-in-incoming');");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void test_contexts(void **state)
{
	struct fix *f = *state;
	struct hero_error err = HERO_ERROR_INIT;
	struct hero_strlist l = { 0 };
	assert_int_equal(hero_ctxdb_contexts(f->db, "context", &l, &err), 0);
	assert_int_equal(l.n, 2);
	hero_strlist_release(&l);
}

static void test_filter_leaves_no_byte_of_other_contexts(void **state)
{
	struct fix *f = *state;
	struct hero_error err = HERO_ERROR_INIT;
	sql(f->db, "INSERT INTO customers VALUES (9,'b','SECRET-OF-CONTEXT-B-0123456789')");
	struct hero_strlist keep = { 0 };
	hero_strlist_push(&keep, "a");
	assert_int_equal(hero_ctxdb_filter(f->db, "context", &keep, &err), 0);
	hero_strlist_release(&keep);
	assert_int_equal(count(f->db, "SELECT count(*) FROM customers WHERE context != 'a'"), 0);
	assert_int_equal(count(f->db, "SELECT count(*) FROM customers WHERE context = 'a'"), 2);
	assert_int_equal(count(f->db, "SELECT count(*) FROM settings"), 0); /* instance-wide rows go too */
	FILE *fp = fopen(f->db, "rb");
	char buf[1 << 16];
	size_t n = fread(buf, 1, sizeof buf, fp);
	fclose(fp);
	assert_null(memmem(buf, n, "SECRET-OF-CONTEXT-B", 19));
	assert_null(memmem(buf, n, "instance-wide-setting", 21));
}

static void test_filter_keeps_any_number_of_contexts(void **state)
{
	struct fix *f = *state;
	struct hero_error err = HERO_ERROR_INIT;
	struct hero_strlist keep = { 0 };
	char name[32];
	for (int i = 0; i < 3000; i++) {
		snprintf(name, sizeof name, "ctx%04d", i);
		hero_strlist_push(&keep, name);
	}
	hero_strlist_push(&keep, "a"); /* last: a list cut short would drop it */
	assert_int_equal(hero_ctxdb_filter(f->db, "context", &keep, &err), 0);
	hero_strlist_release(&keep);
	assert_int_equal(count(f->db, "SELECT count(*) FROM customers WHERE context = 'a'"), 2);
	assert_int_equal(count(f->db, "SELECT count(*) FROM customers WHERE context = 'b'"), 0);
}

static void test_merge_replaces_one_context(void **state)
{
	struct fix *f = *state;
	struct hero_error err = HERO_ERROR_INIT;
	uint64_t rows = 0;
	assert_int_equal(hero_ctxdb_merge(f->db, f->in, "context", "a", "a", &rows, &err), 0);
	assert_int_equal(rows, 2);
	assert_int_equal(count(f->db, "SELECT count(*) FROM customers WHERE context = 'a'"), 2);
	assert_int_equal(count(f->db, "SELECT count(*) FROM customers WHERE email = 'new@a'"), 1);
	assert_int_equal(count(f->db, "SELECT count(*) FROM customers WHERE id = 3"), 0);
	/* b untouched, the incoming b row ignored, instance-wide rows kept */
	assert_int_equal(count(f->db, "SELECT count(*) FROM customers WHERE context = 'b'"), 1);
	assert_int_equal(count(f->db, "SELECT count(*) FROM customers WHERE email = 'b-row-in-incoming'"), 0);
	assert_int_equal(count(f->db, "SELECT count(*) FROM settings"), 1);
}

static void test_conflict_is_named_and_rolled_back(void **state)
{
	struct fix *f = *state;
	struct hero_error err = HERO_ERROR_INIT;
	uint64_t rows = 0;
	/* a renamed to d: incoming id 1 collides with a's row 1 in the target */
	assert_int_equal(hero_ctxdb_merge(f->db, f->in, "context", "a", "d", &rows, &err), -HERO_ECONFLICT);
	assert_non_null(strstr(err.msg, "key conflict in table 'customers'"));
	assert_non_null(strstr(err.msg, "id = 1"));
	assert_non_null(strstr(err.msg, "context 'a'"));
	assert_int_equal(count(f->db, "SELECT count(*) FROM customers"), 3); /* nothing changed */
	assert_int_equal(count(f->db, "SELECT count(*) FROM customers WHERE context = 'd'"), 0);
	/* once the ids are distinct the rename goes through */
	sql(f->in, "UPDATE customers SET id = id + 100");
	assert_int_equal(hero_ctxdb_merge(f->db, f->in, "context", "d", "d", &rows, &err), 0);
	assert_int_equal(count(f->db, "SELECT count(*) FROM customers WHERE context = 'd'"), 2);
	assert_int_equal(count(f->db, "SELECT count(*) FROM customers WHERE context = 'a'"), 2);
}

static void test_as_takes_only_the_renamed_context(void **state)
{
	struct fix *f = *state;
	struct hero_error err = HERO_ERROR_INIT;
	uint64_t rows = 0;
	/* a restored as b: the archive's own b row must not join a's rows under b */
	sql(f->in, "UPDATE customers SET id = id + 100; INSERT INTO customers VALUES (200,'b','new@a')");
	assert_int_equal(hero_ctxdb_merge(f->db, f->in, "context", "a", "b", &rows, &err), 0);
	assert_int_equal(rows, 2);
	assert_int_equal(count(f->db, "SELECT count(*) FROM customers WHERE context = 'b'"), 2);
	assert_int_equal(count(f->db, "SELECT count(*) FROM customers WHERE email = 'b-row-in-incoming'"), 0);
	assert_int_equal(count(f->db, "SELECT count(*) FROM customers WHERE context = 'b' AND email = 'new@a'"), 1);
	assert_int_equal(count(f->db, "SELECT count(*) FROM customers WHERE context = 'a'"), 2); /* a untouched */
}

static void test_migrations(void **state)
{
	struct fix *f = *state;
	struct hero_error err = HERO_ERROR_INIT;
	char good[160], bad[160];
	snprintf(good, sizeof good, "%s/0002_add.sql", f->dir);
	snprintf(bad, sizeof bad, "%s/0003_bad.sql", f->dir);
	FILE *fp = fopen(good, "w");
	fputs("ALTER TABLE customers ADD COLUMN note TEXT;", fp);
	fclose(fp);
	fp = fopen(bad, "w");
	fputs("ALTER TABLE nosuch ADD COLUMN x TEXT;", fp);
	fclose(fp);
	struct hero_strlist files = { 0 };
	hero_strlist_push(&files, good);
	assert_int_equal(hero_db_migrate(f->db, "target.db", &files, 2, &err), 0);
	int v = 0;
	assert_int_equal(hero_db_schema(f->db, &v, &err), 0);
	assert_int_equal(v, 2);
	assert_int_equal(count(f->db, "SELECT count(*) FROM pragma_table_info('customers') WHERE name = 'note'"), 1);
	hero_strlist_release(&files);
	/* a failing migration changes nothing, not even the version */
	hero_strlist_push(&files, bad);
	assert_int_equal(hero_db_migrate(f->db, "target.db", &files, 3, &err), -HERO_EFAIL);
	assert_non_null(strstr(err.msg, "0003_bad.sql"));
	assert_int_equal(hero_db_schema(f->db, &v, &err), 0);
	assert_int_equal(v, 2);
	hero_strlist_release(&files);
}

/* A target table and an archive's table of the same name, with their rows. */
static void pair(struct fix *f, const char *target, const char *incoming)
{
	unlink(f->db);
	unlink(f->in);
	sql(f->db, target);
	sql(f->in, incoming);
}

static void test_incoming_collation_is_ignored(void **state)
{
	struct fix *f = *state;
	struct hero_error err = HERO_ERROR_INIT;
	uint64_t rows = 0;
	/* the archive declares its context column NOCASE: 'ROOT' and 'Root' are other contexts all the same */
	pair(f,
	     "CREATE TABLE t(id INTEGER PRIMARY KEY, context TEXT NOT NULL, v TEXT);"
	     "INSERT INTO t VALUES (1, 'root', 'old'), (2, 'ROOT', 'target-ROOT'), (3, 'Root', 'target-Root');",
	     "CREATE TABLE t(id INTEGER PRIMARY KEY, context TEXT COLLATE NOCASE NOT NULL, v TEXT);"
	     "INSERT INTO t VALUES (11, 'root', 'new'), (12, 'ROOT', 'archive-ROOT'), (13, 'Root', 'archive-Root');");
	assert_int_equal(hero_ctxdb_merge(f->db, f->in, "context", "root", "root", &rows, &err), 0);
	assert_int_equal(rows, 1);
	assert_int_equal(count(f->db, "SELECT count(*) FROM t WHERE context = 'root'"), 1);
	assert_int_equal(count(f->db, "SELECT count(*) FROM t WHERE context = 'root' AND v = 'new'"), 1);
	assert_int_equal(count(f->db, "SELECT count(*) FROM t WHERE v LIKE 'archive-%'"), 0);
	assert_int_equal(count(f->db, "SELECT count(*) FROM t WHERE v LIKE 'target-%'"), 2); /* the target's stay */

	/* restored under another name (--as): the same, in the rename */
	unlink(f->in);
	sql(f->in, "CREATE TABLE t(id INTEGER PRIMARY KEY, context TEXT COLLATE NOCASE NOT NULL, v TEXT);"
		   "INSERT INTO t VALUES (111, 'root', 'new'), (112, 'ROOT', 'archive-ROOT'), (113, 'Root', 'archive-Root');");
	assert_int_equal(hero_ctxdb_merge(f->db, f->in, "context", "root", "copy", &rows, &err), 0);
	assert_int_equal(rows, 1);
	assert_int_equal(count(f->db, "SELECT count(*) FROM t WHERE context = 'copy'"), 1);
	assert_int_equal(count(f->in, "SELECT count(*) FROM t WHERE context = 'ROOT' COLLATE BINARY"), 1);
	assert_int_equal(count(f->db, "SELECT count(*) FROM t WHERE v LIKE 'target-%'"), 2);
}

static void test_target_collation_decides_what_goes(void **state)
{
	struct fix *f = *state;
	struct hero_error err = HERO_ERROR_INIT;
	uint64_t rows = 0;
	/* the target's own table compares contexts without case: its rows of 'ROOT' are 'root' to it */
	pair(f,
	     "CREATE TABLE t(id INTEGER PRIMARY KEY, context TEXT COLLATE NOCASE NOT NULL, v TEXT);"
	     "INSERT INTO t VALUES (1, 'root', 'old'), (2, 'ROOT', 'target-ROOT'), (3, 'other', 'kept');",
	     "CREATE TABLE t(id INTEGER PRIMARY KEY, context TEXT NOT NULL, v TEXT);"
	     "INSERT INTO t VALUES (11, 'root', 'new'), (12, 'ROOT', 'archive-ROOT');");
	assert_int_equal(hero_ctxdb_count(f->db, "context", "root", &rows, &err), 0);
	assert_int_equal(rows, 2);
	assert_int_equal(hero_ctxdb_merge(f->db, f->in, "context", "root", "root", &rows, &err), 0);
	assert_int_equal(rows, 1);
	assert_int_equal(count(f->db, "SELECT count(*) FROM t"), 2);
	assert_int_equal(count(f->db, "SELECT count(*) FROM t WHERE v = 'new'"), 1);
	assert_int_equal(count(f->db, "SELECT count(*) FROM t WHERE v = 'kept'"), 1);
}

static void test_contexts_and_filter_compare_bytes(void **state)
{
	struct fix *f = *state;
	struct hero_error err = HERO_ERROR_INIT;
	pair(f,
	     "CREATE TABLE t(id INTEGER PRIMARY KEY, context TEXT COLLATE NOCASE NOT NULL, v TEXT);"
	     "INSERT INTO t VALUES (1, 'root', 'a'), (2, 'ROOT', 'SECRET-OF-ROOT-UPPER'), (3, 'Root', 'c');",
	     "CREATE TABLE unused(x);");
	struct hero_strlist l = { 0 };
	assert_int_equal(hero_ctxdb_contexts(f->db, "context", &l, &err), 0);
	assert_int_equal(l.n, 3);
	hero_strlist_release(&l);
	struct hero_strlist keep = { 0 };
	hero_strlist_push(&keep, "root");
	assert_int_equal(hero_ctxdb_filter(f->db, "context", &keep, &err), 0);
	hero_strlist_release(&keep);
	assert_int_equal(count(f->db, "SELECT count(*) FROM t"), 1);
	assert_int_equal(count(f->db, "SELECT count(*) FROM t WHERE context = 'root' COLLATE BINARY"), 1);
}

static void test_target_columns_decide(void **state)
{
	struct fix *f = *state;
	struct hero_error err = HERO_ERROR_INIT;
	uint64_t rows = 0;
	/* columns by name, in another order; the archive's extra column is left
	 * behind, the target's generated column computed by the target */
	pair(f,
	     "CREATE TABLE t(id INTEGER PRIMARY KEY, context TEXT NOT NULL, v TEXT,"
	     " up TEXT GENERATED ALWAYS AS (upper(v)) VIRTUAL);",
	     "CREATE TABLE t(v TEXT, extra TEXT, context TEXT, id INTEGER PRIMARY KEY);"
	     "INSERT INTO t VALUES ('new', 'archive-only', 'root', 5);");
	assert_int_equal(hero_ctxdb_merge(f->db, f->in, "context", "root", "root", &rows, &err), 0);
	assert_int_equal(rows, 1);
	assert_int_equal(count(f->db, "SELECT count(*) FROM t WHERE id = 5 AND v = 'new' AND up = 'NEW'"), 1);

	struct {
		const char *incoming, *msg;
	} bad[] = {
		{ "CREATE TABLE t(id INTEGER PRIMARY KEY, context TEXT);",
		  "table 't': column 'v' is missing from the archive's database" },
		{ "CREATE TABLE t(id INTEGER PRIMARY KEY, context TEXT, w TEXT, v TEXT GENERATED ALWAYS AS (w) VIRTUAL);",
		  "table 't': column 'v' of the archive's database is generated or hidden" },
		{ "CREATE VIEW t AS SELECT 1 AS id, 'root' AS context, 'x' AS v;",
		  "table 't' of the archive's database is not a plain table (a view)" },
		{ "CREATE VIRTUAL TABLE t USING fts5(id, context, v);",
		  "table 't' of the archive's database is not a plain table (a virtual table)" },
		{ "CREATE TABLE u(id INTEGER PRIMARY KEY, context TEXT, v TEXT);",
		  "table 't' of the target is missing from the archive's database" },
		{ "CREATE TABLE t(id INTEGER PRIMARY KEY, context TEXT, v TEXT); CREATE TABLE evil(x);",
		  "table 'evil' of the archive's database is not in the target's" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		pair(f,
		     "CREATE TABLE t(id INTEGER PRIMARY KEY, context TEXT NOT NULL, v TEXT);"
		     "INSERT INTO t VALUES (1, 'root', 'old');",
		     bad[i].incoming);
		assert_int_equal(hero_ctxdb_merge(f->db, f->in, "context", "root", "root", &rows, &err), -HERO_EINTEGRITY);
		if (strcmp(err.msg, bad[i].msg) != 0)
			fail_msg("case %zu: %s", i, err.msg);
		assert_int_equal(count(f->db, "SELECT count(*) FROM t WHERE v = 'old'"), 1); /* nothing changed */
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_contexts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_filter_leaves_no_byte_of_other_contexts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_filter_keeps_any_number_of_contexts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_merge_replaces_one_context, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conflict_is_named_and_rolled_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_as_takes_only_the_renamed_context, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrations, setup, teardown),
		cmocka_unit_test_setup_teardown(test_incoming_collation_is_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_target_collation_decides_what_goes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_contexts_and_filter_compare_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_target_columns_decide, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
