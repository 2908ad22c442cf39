/* test_sqlite_util.c - checks of archived databases by content (user_version,
 * every kind of trigger compiled, triggers and views allowed by the target's
 * schema), and live target databases read without leaving a file behind. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "state/ctxdb.h"
#include "state/sqlite_util.h"

struct fix {
	char dir[64];   /* the archive's databases */
	char live[64];  /* the target's live directory */
	char tmp[64];   /* TMPDIR: private copies go there */
	char db[128];   /* an archived database */
	char ref[128];  /* the target's live copy of it */
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

static long long count(sqlite3 *db, const char *q)
{
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	long long n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

static const char schema[] = "CREATE TABLE t(id INTEGER PRIMARY KEY, context TEXT NOT NULL, v TEXT);"
			     "INSERT INTO t VALUES (1, 'root', 'one'), (2, 'other', 'two');";

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/hero-sqlu.XXXXXX");
	snprintf(f->live, sizeof f->live, "/tmp/hero-sqlu-live.XXXXXX");
	snprintf(f->tmp, sizeof f->tmp, "/tmp/hero-sqlu-tmp.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_non_null(mkdtemp(f->live));
	assert_non_null(mkdtemp(f->tmp));
	setenv("TMPDIR", f->tmp, 1);
	snprintf(f->db, sizeof f->db, "%s/app.db", f->dir);
	snprintf(f->ref, sizeof f->ref, "%s/app.db", f->live);
	sql(f->db, schema);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	char cmd[256];
	snprintf(cmd, sizeof cmd, "rm -rf %s %s %s", f->dir, f->live, f->tmp);
	assert_int_equal(system(cmd), 0);
	unsetenv("TMPDIR");
	free(f);
	return 0;
}

static const struct hero_dbcheck no_want = { -1, NULL };

static void test_plain_database_passes(void **state)
{
	struct fix *f = *state;
	struct hero_error err = HERO_ERROR_INIT;
	sql(f->db, "CREATE VIEW vt AS SELECT v FROM t;"
		   "CREATE TRIGGER ok AFTER UPDATE OF v ON t BEGIN SELECT upper(new.v); END;"
		   "CREATE TABLE w(a TEXT PRIMARY KEY, b TEXT) WITHOUT ROWID;"
		   "CREATE TRIGGER okw AFTER UPDATE OF b ON w BEGIN SELECT length(new.b); END;");
	assert_int_equal(hero_sqlite_check(f->db, "app.db", &no_want, &err), 0);
}

static void test_update_of_trigger_is_compiled(void **state)
{
	struct fix *f = *state;
	struct hero_error err = HERO_ERROR_INIT;
	/* fires only on an UPDATE that sets v: an UPDATE of the rowid alone never compiles it */
	sql(f->db, "CREATE TRIGGER evil AFTER UPDATE OF v ON t BEGIN SELECT evilf(new.v); END;");
	assert_int_equal(hero_sqlite_check(f->db, "app.db", &no_want, &err), -HERO_EINTEGRITY);
	assert_non_null(strstr(err.msg, "no such function: evilf"));
}

static void test_update_of_rowid_alias_is_compiled(void **state)
{
	struct fix *f = *state;
	struct hero_error err = HERO_ERROR_INIT;
	sql(f->db, "CREATE TABLE r(a TEXT, b TEXT);"
		   "CREATE TRIGGER evil AFTER UPDATE OF _rowid_ ON r BEGIN SELECT evilf(new.a); END;");
	assert_int_equal(hero_sqlite_check(f->db, "app.db", &no_want, &err), -HERO_EINTEGRITY);
	assert_non_null(strstr(err.msg, "no such function: evilf"));
}

static void test_instead_of_trigger_on_view_is_compiled(void **state)
{
	struct fix *f = *state;
	struct hero_error err = HERO_ERROR_INIT;
	const char *kinds[] = { "INSERT", "UPDATE", "DELETE", "UPDATE OF v" };
	for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
		char q[512];
		sql(f->db, "DROP VIEW IF EXISTS vt; CREATE VIEW vt AS SELECT id, v FROM t;");
		snprintf(q, sizeof q,
			 "CREATE TRIGGER evil INSTEAD OF %s ON vt BEGIN SELECT load_extension('/tmp/nosuch.so'); END;",
			 kinds[i]);
		sql(f->db, q);
		assert_int_equal(hero_sqlite_check(f->db, "app.db", &no_want, &err), -HERO_EINTEGRITY);
		if (!strstr(err.msg, "unsafe use of load_extension()"))
			fail_msg("INSTEAD OF %s: %s", kinds[i], err.msg);
	}
}

static void test_user_version_must_match(void **state)
{
	struct fix *f = *state;
	struct hero_error err = HERO_ERROR_INIT;
	sql(f->db, "PRAGMA user_version = 7");
	struct hero_dbcheck want = { 3, NULL };
	assert_int_equal(hero_sqlite_check(f->db, "app.db", &want, &err), -HERO_EINTEGRITY);
	assert_string_equal(err.msg, "database 'app.db': user_version 7 differs from the schema 3 its archive declares");
	want.user_version = 7;
	assert_int_equal(hero_sqlite_check(f->db, "app.db", &want, &err), 0);
	want.user_version = 0;
	assert_int_equal(hero_sqlite_check(f->db, "app.db", &want, &err), -HERO_EINTEGRITY);
}

static void test_triggers_and_views_only_from_the_reference(void **state)
{
	struct fix *f = *state;
	struct hero_error err = HERO_ERROR_INIT;
	static const char trig[] = "CREATE TRIGGER evil AFTER INSERT ON t BEGIN SELECT upper(new.v); END;";
	sql(f->db, trig);
	sql(f->ref, schema);
	struct hero_dbcheck want = { -1, f->ref };
	assert_int_equal(hero_sqlite_check(f->db, "app.db", &want, &err), -HERO_EINTEGRITY);
	assert_string_equal(err.msg, "database 'app.db': trigger 'evil' is not in the target's schema");
	/* the same trigger in the target's own database: accepted */
	sql(f->ref, trig);
	assert_int_equal(hero_sqlite_check(f->db, "app.db", &want, &err), 0);
	/* a view the target lacks */
	sql(f->db, "CREATE VIEW vt AS SELECT v FROM t;");
	assert_int_equal(hero_sqlite_check(f->db, "app.db", &want, &err), -HERO_EINTEGRITY);
	assert_string_equal(err.msg, "database 'app.db': view 'vt' is not in the target's schema");
	/* one of the same name but another body */
	sql(f->ref, "CREATE VIEW vt AS SELECT id FROM t;");
	assert_int_equal(hero_sqlite_check(f->db, "app.db", &want, &err), -HERO_EINTEGRITY);
	assert_non_null(strstr(err.msg, "view 'vt' differs from the one in the target's schema"));
	sql(f->ref, "DROP VIEW vt; CREATE VIEW vt AS SELECT v FROM t;");
	assert_int_equal(hero_sqlite_check(f->db, "app.db", &want, &err), 0);
	/* no such database in the target yet: no list to compare with */
	want.reference = "/tmp/hero-sqlu-no-such-dir/app.db";
	sql(f->db, "CREATE TRIGGER other AFTER DELETE ON t BEGIN SELECT 1; END;");
	assert_int_equal(hero_sqlite_check(f->db, "app.db", &want, &err), 0);
}

/* Every name in DIR with the bytes of its file (in hex), for byte-identical comparison. */
static char *listing(const char *dir)
{
	char *out = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&out, &len);
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);
	assert_true(n >= 0);
	for (int i = 0; i < n; i++) {
		char p[512];
		snprintf(p, sizeof p, "%s/%s", dir, names[i]->d_name);
		fprintf(m, "== %s\n", names[i]->d_name);
		struct stat st;
		if (lstat(p, &st) == 0 && S_ISREG(st.st_mode)) {
			FILE *fp = fopen(p, "rb");
			char buf[4096];
			size_t k;
			while ((k = fread(buf, 1, sizeof buf, fp)) > 0)
				for (size_t j = 0; j < k; j++)
					fprintf(m, "%02x", (unsigned char)buf[j]);
			fputc('\n', m);
			fclose(fp);
		}
		free(names[i]);
	}
	free(names);
	fclose(m);
	return out;
}

static void assert_empty_dir(const char *dir)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, NULL);
	int entries = 0;
	for (int i = 0; i < n; i++) {
		if (strcmp(names[i]->d_name, ".") && strcmp(names[i]->d_name, ".."))
			entries++;
		free(names[i]);
	}
	free(names);
	assert_int_equal(entries, 0);
}

static void test_live_wal_database_leaves_no_file(void **state)
{
	struct fix *f = *state;
	struct hero_error err = HERO_ERROR_INIT;
	/* WAL mode, closed: its -wal and -shm are gone, the header still says WAL */
	sql(f->ref, "PRAGMA journal_mode=WAL;");
	sql(f->ref, schema);
	sql(f->ref, "CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END;");
	sql(f->db, "CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END;");
	char *before = listing(f->live);
	assert_null(strstr(before, "-wal"));
	assert_null(strstr(before, "-shm"));

	sqlite3 *db = NULL;
	assert_int_equal(hero_sqlite_open_live_ro(f->ref, &db, &err), 0);
	assert_int_equal(count(db, "SELECT count(*) FROM t"), 2);
	sqlite3_close(db);

	char copy[160];
	snprintf(copy, sizeof copy, "%s/copy.db", f->dir);
	assert_int_equal(hero_sqlite_snapshot_live(f->ref, copy, &err), 0);
	assert_int_equal(sqlite3_open_v2(copy, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(count(db, "SELECT count(*) FROM t"), 2);
	sqlite3_close(db);

	uint64_t rows = 0;
	assert_int_equal(hero_ctxdb_count(f->ref, "context", "root", &rows, &err), 0);
	assert_int_equal(rows, 1);

	struct hero_dbcheck want = { -1, f->ref };
	assert_int_equal(hero_sqlite_check(f->db, "app.db", &want, &err), 0);

	char *after = listing(f->live);
	assert_string_equal(before, after);
	assert_empty_dir(f->tmp);
	free(before);
	free(after);
}

static void test_live_writer_files_are_used_not_added(void **state)
{
	struct fix *f = *state;
	struct hero_error err = HERO_ERROR_INIT;
	/* the writer is another process (as a service is): within one process
	 * SQLite shares a -shm between connections, read-only or not */
	int ready[2], done[2];
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(done), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		sqlite3 *w;
		char c = 'x';
		close(ready[0]);
		close(done[1]); /* a parent gone (a failed assertion) ends the wait below */
		if (sqlite3_open(f->ref, &w) != SQLITE_OK ||
		    sqlite3_exec(w, "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;", NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_exec(w, schema, NULL, NULL, NULL) != SQLITE_OK)
			_exit(1);
		if (write(ready[1], &c, 1) != 1 || read(done[0], &c, 1) != 1) /* keeps it open until told */
			_exit(1);
		sqlite3_close(w);
		_exit(0);
	}
	char c;
	close(ready[1]);
	close(done[0]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	/* the writer keeps the database open: -wal and -shm are its own */
	char *before = listing(f->live);
	assert_non_null(strstr(before, "== app.db-wal\n"));
	assert_non_null(strstr(before, "== app.db-shm\n"));
	sqlite3 *db = NULL;
	assert_int_equal(hero_sqlite_open_live_ro(f->ref, &db, &err), 0);
	assert_int_equal(count(db, "SELECT count(*) FROM t"), 2); /* the rows only in the -wal */
	sqlite3_close(db);
	char copy[160];
	snprintf(copy, sizeof copy, "%s/copy.db", f->dir);
	assert_int_equal(hero_sqlite_snapshot_live(f->ref, copy, &err), 0);
	uint64_t rows = 0;
	assert_int_equal(hero_ctxdb_count(f->ref, "context", "root", &rows, &err), 0);
	assert_int_equal(rows, 1);
	char *after = listing(f->live); /* no file added, none written to */
	assert_string_equal(before, after);
	assert_empty_dir(f->tmp);
	assert_int_equal(write(done[1], "x", 1), 1);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(ready[0]);
	close(done[1]);
	free(before);
	free(after);
}

/* A writer that dies in the middle of a transaction, its pages already in
 * the database file: what it leaves is a hot -journal (or, in WAL mode, a
 * -wal and -shm holding its committed rows). */
static void die_writing(const char *path, int wal)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		sqlite3 *db;
		if (sqlite3_open(path, &db) != SQLITE_OK)
			_exit(1);
		if (wal)
			sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;"
					 "INSERT INTO t VALUES (3, 'root', 'in the wal only');",
				     NULL, NULL, NULL);
		else
			sqlite3_exec(db, "PRAGMA cache_size=1; BEGIN; UPDATE t SET v = 'uncommitted';"
					 "INSERT INTO t SELECT id + 100, context, zeroblob(3000) FROM t;"
					 "INSERT INTO t SELECT id + 1000, context, zeroblob(3000) FROM t;",
				     NULL, NULL, NULL);
		_exit(0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_hot_journal_is_rolled_back_in_a_copy(void **state)
{
	struct fix *f = *state;
	struct hero_error err = HERO_ERROR_INIT;
	sql(f->ref, schema);
	die_writing(f->ref, 0);
	char *before = listing(f->live);
	assert_non_null(strstr(before, "== app.db-journal\n"));
	sqlite3 *db = NULL;
	assert_int_equal(hero_sqlite_open_live_ro(f->ref, &db, &err), 0);
	assert_int_equal(count(db, "SELECT count(*) FROM t"), 2);
	assert_int_equal(count(db, "SELECT count(*) FROM t WHERE v = 'uncommitted'"), 0);
	sqlite3_close(db);
	char *after = listing(f->live);
	assert_string_equal(before, after); /* still hot: only a writer rolls it back */
	assert_empty_dir(f->tmp);
	free(before);
	free(after);
}

static void test_wal_left_by_a_writer_gone_is_read_untouched(void **state)
{
	struct fix *f = *state;
	struct hero_error err = HERO_ERROR_INIT;
	sql(f->ref, schema);
	die_writing(f->ref, 1); /* its -wal and -shm stay, nobody has them open */
	char *before = listing(f->live);
	assert_non_null(strstr(before, "== app.db-wal\n"));
	assert_non_null(strstr(before, "== app.db-shm\n"));
	sqlite3 *db = NULL;
	assert_int_equal(hero_sqlite_open_live_ro(f->ref, &db, &err), 0);
	assert_int_equal(count(db, "SELECT count(*) FROM t"), 3); /* the -wal's row */
	sqlite3_close(db);
	uint64_t rows = 0;
	assert_int_equal(hero_ctxdb_count(f->ref, "context", "root", &rows, &err), 0);
	assert_int_equal(rows, 2);
	char copy[160];
	snprintf(copy, sizeof copy, "%s/copy.db", f->dir);
	assert_int_equal(hero_sqlite_snapshot_live(f->ref, copy, &err), 0);
	char *after = listing(f->live);
	assert_string_equal(before, after);
	assert_empty_dir(f->tmp);
	free(before);
	free(after);
}

static void test_lone_wal_is_read_in_a_copy(void **state)
{
	struct fix *f = *state;
	struct hero_error err = HERO_ERROR_INIT;
	sql(f->ref, schema);
	die_writing(f->ref, 1);
	char shm[160];
	snprintf(shm, sizeof shm, "%s-shm", f->ref);
	assert_int_equal(unlink(shm), 0);
	char *before = listing(f->live);
	assert_non_null(strstr(before, "== app.db-wal\n"));
	sqlite3 *db = NULL;
	assert_int_equal(hero_sqlite_open_live_ro(f->ref, &db, &err), 0);
	assert_int_equal(count(db, "SELECT count(*) FROM t"), 3); /* the -wal's row recovered */
	sqlite3_close(db);
	uint64_t rows = 0;
	assert_int_equal(hero_ctxdb_count(f->ref, "context", "root", &rows, &err), 0);
	assert_int_equal(rows, 2);
	char *after = listing(f->live);
	assert_string_equal(before, after);
	assert_empty_dir(f->tmp);
	free(before);
	free(after);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_plain_database_passes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_update_of_trigger_is_compiled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_update_of_rowid_alias_is_compiled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_instead_of_trigger_on_view_is_compiled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_user_version_must_match, setup, teardown),
		cmocka_unit_test_setup_teardown(test_triggers_and_views_only_from_the_reference, setup, teardown),
		cmocka_unit_test_setup_teardown(test_live_wal_database_leaves_no_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_live_writer_files_are_used_not_added, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hot_journal_is_rolled_back_in_a_copy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wal_left_by_a_writer_gone_is_read_untouched, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lone_wal_is_read_in_a_copy, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
