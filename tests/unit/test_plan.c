/* test_plan.c - state path patterns: what a declaration covers, its context, renames. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "state/plan.h"

static void test_covers_directories_and_files(void **state)
{
	(void)state;
	const char *dir = "var/hero_osis/{context}/";
	assert_true(hero_pattern_covers(dir, "var/hero_osis/root", NULL));
	assert_true(hero_pattern_covers(dir, "var/hero_osis/root/objects.db", NULL));
	assert_true(hero_pattern_covers(dir, "var/hero_osis/root/a/b/c", NULL));
	assert_false(hero_pattern_covers(dir, "var/hero_osis", NULL));        /* the parent is not state */
	assert_false(hero_pattern_covers(dir, "var/hero_osisx/root", NULL));  /* no prefix matches */
	assert_false(hero_pattern_covers(dir, "var/hero_db/root/data.db", NULL));
	/* a context constraint */
	assert_true(hero_pattern_covers(dir, "var/hero_osis/alice/x.db", "alice"));
	assert_false(hero_pattern_covers(dir, "var/hero_osis/alicex/x.db", "alice"));
	assert_false(hero_pattern_covers(dir, "var/hero_osis/bob/x.db", "alice"));
	/* a file pattern covers itself and its SQLite sidecars, nothing else */
	const char *file = "var/hero_biz/biz.db";
	assert_true(hero_pattern_covers(file, "var/hero_biz/biz.db", NULL));
	assert_true(hero_pattern_covers(file, "var/hero_biz/biz.db-wal", NULL));
	assert_true(hero_pattern_covers(file, "var/hero_biz/biz.db-shm", NULL));
	assert_true(hero_pattern_covers(file, "var/hero_biz/biz.db-journal", NULL));
	assert_false(hero_pattern_covers(file, "var/hero_biz/biz.db-old", NULL));
	assert_false(hero_pattern_covers(file, "var/hero_biz/biz.dbx", NULL));
	assert_false(hero_pattern_covers(file, "var/hero_biz", NULL));
	/* {context} in the middle of a file path */
	const char *mid = "var/hero_books/{context}/books.db";
	assert_true(hero_pattern_covers(mid, "var/hero_books/geomind/books.db", NULL));
	assert_false(hero_pattern_covers(mid, "var/hero_books/geomind/other.db", NULL));
	assert_false(hero_pattern_covers(mid, "var/hero_books//books.db", NULL)); /* empty context */
}

static void test_match_reports_the_context(void **state)
{
	(void)state;
	char ctx[64];
	assert_true(hero_pattern_match("var/hero_foundry/files/{context}/", "var/hero_foundry/files/alice/p/1.jpg", ctx,
				       sizeof ctx));
	assert_string_equal(ctx, "alice");
	assert_true(hero_pattern_match("var/hero_biz/biz.db", "var/hero_biz/biz.db", ctx, sizeof ctx));
	assert_string_equal(ctx, "");
	assert_false(hero_pattern_match("var/hero_biz/biz.db", "var/hero_voice/voice.db", ctx, sizeof ctx));
}

static void test_rename(void **state)
{
	(void)state;
	char *p = hero_pattern_rename("var/hero_osis/{context}/", "var/hero_osis/alice/objects.db", "dora");
	assert_string_equal(p, "var/hero_osis/dora/objects.db");
	free(p);
	p = hero_pattern_rename("var/hero_books/{context}/books.db", "var/hero_books/al/books.db", "a-much-longer-name");
	assert_string_equal(p, "var/hero_books/a-much-longer-name/books.db");
	free(p);
	p = hero_pattern_rename("var/hero_biz/biz.db", "var/hero_biz/biz.db", "dora");
	assert_string_equal(p, "var/hero_biz/biz.db"); /* no {context}: unchanged */
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_covers_directories_and_files),
		cmocka_unit_test(test_match_reports_the_context),
		cmocka_unit_test(test_rename),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
