/* test_ctxdb.c - rows of a context in shared databases: list, filter (no byte of
 * another context left), merge in one transaction, conflicts named and rolled
 * back, forward migrations. */
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

#include "ctxdb.h"

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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
