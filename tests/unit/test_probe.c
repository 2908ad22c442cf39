/* test_probe.c - probe panels: magic bytes, durations, loading and variables, the local probe kinds. */
#include <ftw.h>
#include <limits.h>
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

#include "hero/probe.h"

struct fx {
	char dir[PATH_MAX];
};

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof *fx);
	snprintf(fx->dir, sizeof fx->dir, "/tmp/hero-probe-XXXXXX");
	if (!mkdtemp(fx->dir))
		return -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	nftw(fx->dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

static void put(const struct fx *fx, const char *name, const void *data, size_t len)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/%s", fx->dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

static void put_text(const struct fx *fx, const char *name, const char *text)
{
	put(fx, name, text, strlen(text));
}

/* Load the panel text, with VARS; on failure, ERR holds the message. */
static struct hero_panel *load(const struct fx *fx, const char *text, const char *const *vars,
			       struct hero_error *err)
{
	char path[PATH_MAX];
	struct hero_panel *p = NULL;
	put_text(fx, "panel.yaml", text);
	snprintf(path, sizeof path, "%s/panel.yaml", fx->dir);
	hero_error_clear(err);
	if (hero_panel_new(path, vars, &p, err) < 0)
		return NULL;
	return p;
}

/* ---- pure helpers ---- */

static void test_magic(void **state)
{
	(void)state;
	const unsigned char jpeg[] = { 0xff, 0xd8, 0xff, 0xe0, 0, 0x10 };
	const unsigned char png[] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0 };
	const unsigned char webp[] = "RIFF\x10\0\0\0WEBPVP8 ";
	const unsigned char notwebp[] = "RIFX\x10\0\0\0WEBPVP8 ";
	const unsigned char sqlite[] = "SQLite format 3";
	assert_string_equal(hero_magic_type(jpeg, sizeof jpeg), "jpeg");
	assert_string_equal(hero_magic_type(png, sizeof png), "png");
	assert_string_equal(hero_magic_type(webp, 16), "webp");
	assert_null(hero_magic_type(notwebp, 16));
	assert_string_equal(hero_magic_type((const unsigned char *)"GIF89a..", 8), "gif");
	assert_string_equal(hero_magic_type((const unsigned char *)"%PDF-1.7", 8), "pdf");
	assert_string_equal(hero_magic_type(sqlite, sizeof sqlite), "sqlite");
	assert_null(hero_magic_type(jpeg, 2)); /* too short */
	assert_null(hero_magic_type((const unsigned char *)"hello", 5));
	assert_true(hero_magic_match("image", jpeg, sizeof jpeg));
	assert_true(hero_magic_match("image", png, sizeof png));
	assert_false(hero_magic_match("image", sqlite, sizeof sqlite));
	assert_true(hero_magic_match("jpeg", jpeg, sizeof jpeg));
	assert_false(hero_magic_match("png", jpeg, sizeof jpeg));
}

static void test_duration(void **state)
{
	(void)state;
	assert_int_equal(hero_duration_ms("250ms"), 250);
	assert_int_equal(hero_duration_ms("5s"), 5000);
	assert_int_equal(hero_duration_ms("1.5s"), 1500);
	assert_int_equal(hero_duration_ms("2m"), 120000);
	assert_int_equal(hero_duration_ms("1h"), 3600000);
	assert_int_equal(hero_duration_ms("3"), 3000);
	assert_int_equal(hero_duration_ms("5x"), -1);
	assert_int_equal(hero_duration_ms("ms"), -1);
	assert_int_equal(hero_duration_ms("-1s"), -1);
	assert_int_equal(hero_duration_ms(""), -1);
	assert_int_equal(hero_duration_ms(NULL), -1);
	assert_int_equal(hero_duration_ms("30d"), -1);
}

/* ---- loading ---- */

static void test_load_vars(void **state)
{
	struct fx *fx = *state;
	struct hero_error err = HERO_ERROR_INIT;
	const unsigned char jpeg[] = { 0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4 };
	put(fx, "b.jpg", jpeg, sizeof jpeg);
	put(fx, "a.jpg", jpeg, sizeof jpeg);
	char text[2048];
	snprintf(text, sizeof text,
		 "vars:\n"
		 "  DIR: %s\n"
		 "  FIRST: {glob: \"${DIR}/*.jpg\", basename: true}\n"
		 "  NONE: {glob: \"${DIR}/*.png\"}\n"
		 "  WHO: panel\n"
		 "probes:\n"
		 "  - name: first-${FIRST}\n"
		 "    kind: file\n"
		 "    path: ${DIR}/${FIRST}\n"
		 "    magic: jpeg\n"
		 "  - name: who-${WHO}${NONE}\n"
		 "    kind: command\n"
		 "    run: \"true\"\n",
		 fx->dir);
	unsetenv("WHO");
	struct hero_panel *p = load(fx, text, NULL, &err);
	assert_non_null(p);
	assert_int_equal(hero_panel_size(p), 2);
	assert_string_equal(hero_panel_probe_name(p, 0), "first-a.jpg");
	assert_string_equal(hero_panel_probe_name(p, 1), "who-panel");
	struct hero_probe_result r;
	hero_probe_run(p, 0, &r);
	assert_true(r.ok);
	assert_string_equal(r.kind, "file");
	assert_non_null(strstr(r.detail, "a.jpg' is jpeg"));
	hero_panel_free(p);
	/* the environment wins over the panel, --set over both */
	setenv("WHO", "env", 1);
	p = load(fx, text, NULL, &err);
	assert_string_equal(hero_panel_probe_name(p, 1), "who-env");
	hero_panel_free(p);
	const char *set[] = { "WHO=cli", NULL };
	p = load(fx, text, set, &err);
	assert_string_equal(hero_panel_probe_name(p, 1), "who-cli");
	hero_panel_free(p);
	unsetenv("WHO");
}

static void expect_load_error(const struct fx *fx, const char *text, const char *msg)
{
	struct hero_error err = HERO_ERROR_INIT;
	struct hero_panel *p = load(fx, text, NULL, &err);
	if (p)
		hero_panel_free(p);
	assert_null(p);
	assert_int_equal(err.code, HERO_EUSAGE);
	if (!strstr(err.msg, msg))
		fail_msg("error '%s' lacks '%s'", err.msg, msg);
}

static void test_load_errors(void **state)
{
	struct fx *fx = *state;
	expect_load_error(fx, "probes: []\n", "'probes' must be a non-empty list");
	expect_load_error(fx, "probs:\n  - name: a\n", "unknown top-level key 'probs'");
	expect_load_error(fx, "probes:\n  - kind: file\n    path: /x\n", "'name' is required");
	expect_load_error(fx, "probes:\n  - name: a\n    kind: ftp\n", "probe 'a': kind must be one of");
	expect_load_error(fx, "probes:\n  - name: a\n    kind: file\n    pth: /x\n", "unknown key 'pth' for kind file");
	expect_load_error(fx, "probes:\n  - name: a\n    kind: file\n", "kind file needs 'path'");
	expect_load_error(fx, "probes:\n  - name: a\n    kind: http\n    path: /\n", "needs 'url' or 'socket'");
	expect_load_error(fx, "probes:\n  - name: a\n    kind: http\n    url: http://x\n    status: ok\n",
			  "'status' must be a non-negative integer");
	expect_load_error(fx, "probes:\n  - name: a\n    kind: file\n    path: /x\n    magic: tiff\n",
			  "unknown magic type 'tiff'");
	expect_load_error(fx, "probes:\n  - name: a\n    kind: file\n    path: /x\n    timeout: soon\n", "bad timeout");
	expect_load_error(fx, "probes:\n  - name: a\n    kind: file\n    path: /x\n  - name: a\n    kind: file\n"
			      "    path: /y\n", "probe 'a' is declared twice");
	expect_load_error(fx, "probes:\n  - name: a\n    kind: file\n    path: ${NOT_DEFINED_ANYWHERE}\n",
			  "probe 'a': 'path': undefined variable 'NOT_DEFINED_ANYWHERE'");
	expect_load_error(fx, "defaults: {timeout: never}\nprobes:\n  - name: a\n    kind: file\n    path: /x\n",
			  "defaults: bad timeout");
	expect_load_error(fx, "vars: {X: {glob: 1}}\nprobes:\n  - name: a\n    kind: file\n    path: /x\n",
			  "vars: 'X' must be a string or {glob");
}

/* ---- local probe kinds ---- */

static void test_file_probe(void **state)
{
	struct fx *fx = *state;
	struct hero_error err = HERO_ERROR_INIT;
	struct hero_probe_result r;
	char text[2048];
	put_text(fx, "small.txt", "abc");
	snprintf(text, sizeof text,
		 "probes:\n"
		 "  - {name: missing, kind: file, path: %s/nope.jpg}\n"
		 "  - {name: too-small, kind: file, path: %s/small.txt, min_size: 10}\n"
		 "  - {name: not-jpeg, kind: file, path: %s/small.txt, magic: jpeg}\n"
		 "  - {name: no-match, kind: file, path: \"%s/*.png\"}\n"
		 "  - {name: is-dir, kind: file, path: %s, type: dir}\n",
		 fx->dir, fx->dir, fx->dir, fx->dir, fx->dir);
	struct hero_panel *p = load(fx, text, NULL, &err);
	assert_non_null(p);
	hero_probe_run(p, 0, &r);
	assert_false(r.ok);
	assert_non_null(strstr(r.detail, "nope.jpg' does not exist"));
	hero_probe_run(p, 1, &r);
	assert_false(r.ok);
	assert_non_null(strstr(r.detail, "is 3 bytes, want at least 10"));
	hero_probe_run(p, 2, &r);
	assert_false(r.ok);
	assert_non_null(strstr(r.detail, "is not jpeg (unknown type)"));
	hero_probe_run(p, 3, &r);
	assert_false(r.ok);
	assert_non_null(strstr(r.detail, "0 files match"));
	hero_probe_run(p, 4, &r);
	assert_true(r.ok);
	hero_panel_free(p);
}

static void test_sqlite_probe(void **state)
{
	struct fx *fx = *state;
	struct hero_error err = HERO_ERROR_INIT;
	struct hero_probe_result r;
	char db[PATH_MAX], text[2048];
	sqlite3 *h;
	snprintf(db, sizeof db, "%s/t.db", fx->dir);
	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "CREATE TABLE t(x); INSERT INTO t VALUES (1),(2),(3);", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(h);
	snprintf(text, sizeof text,
		 "probes:\n"
		 "  - {name: three, kind: sqlite, path: %s, query: SELECT x FROM t, min_rows: 3}\n"
		 "  - {name: four, kind: sqlite, path: %s, query: SELECT x FROM t, min_rows: 4}\n"
		 "  - {name: writes, kind: sqlite, path: %s, query: DELETE FROM t}\n"
		 "  - {name: two, kind: sqlite, path: %s, query: SELECT 1; SELECT 2}\n"
		 "  - {name: typo, kind: sqlite, path: %s, query: SELECT x FROM nope}\n"
		 "  - {name: absent, kind: sqlite, path: %s/none.db, query: SELECT 1}\n",
		 db, db, db, db, db, fx->dir);
	struct hero_panel *p = load(fx, text, NULL, &err);
	assert_non_null(p);
	hero_probe_run(p, 0, &r);
	assert_true(r.ok);
	assert_string_equal(r.detail, "3 rows");
	hero_probe_run(p, 1, &r);
	assert_false(r.ok);
	assert_string_equal(r.detail, "3 rows, want at least 4");
	hero_probe_run(p, 2, &r);
	assert_false(r.ok);
	assert_string_equal(r.detail, "query must be read-only");
	hero_probe_run(p, 3, &r);
	assert_false(r.ok);
	assert_string_equal(r.detail, "query must be one statement");
	hero_probe_run(p, 4, &r);
	assert_false(r.ok);
	assert_non_null(strstr(r.detail, "no such table: nope"));
	hero_probe_run(p, 5, &r);
	assert_false(r.ok);
	assert_non_null(strstr(r.detail, "none.db' does not exist"));
	hero_panel_free(p);
	/* the rows are still there: the DELETE never ran */
	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	sqlite3_stmt *st;
	sqlite3_prepare_v2(h, "SELECT count(*) FROM t", -1, &st, NULL);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 3);
	sqlite3_finalize(st);
	sqlite3_close(h);
}

static void test_command_probe(void **state)
{
	struct fx *fx = *state;
	struct hero_error err = HERO_ERROR_INIT;
	struct hero_probe_result r;
	struct hero_panel *p = load(fx,
				    "probes:\n"
				    "  - {name: ok, kind: command, run: echo fine, output_contains: fine}\n"
				    "  - {name: code, kind: command, run: 'echo first; echo last >&2; exit 4'}\n"
				    "  - {name: want4, kind: command, run: exit 4, exit: 4}\n"
				    "  - {name: slow, kind: command, run: sleep 10, timeout: 200ms}\n"
				    "  - {name: quiet, kind: command, run: echo x, output_contains: y}\n",
				    NULL, &err);
	assert_non_null(p);
	hero_probe_run(p, 0, &r);
	assert_true(r.ok);
	assert_string_equal(r.detail, "exit 0: fine");
	hero_probe_run(p, 1, &r);
	assert_false(r.ok);
	assert_string_equal(r.detail, "exit 4, want 0: last");
	hero_probe_run(p, 2, &r);
	assert_true(r.ok);
	hero_probe_run(p, 3, &r);
	assert_false(r.ok);
	assert_string_equal(r.detail, "timed out after 200 ms");
	assert_true(r.ms >= 190 && r.ms < 2000);
	hero_probe_run(p, 4, &r);
	assert_false(r.ok);
	assert_string_equal(r.detail, "output does not contain 'y'");
	hero_panel_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_magic),
		cmocka_unit_test(test_duration),
		cmocka_unit_test_setup_teardown(test_load_vars, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_probe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sqlite_probe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_command_probe, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
