/* test_secretfile.c - secrets lines: names, merging without overriding the target. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "secretfile.h"

static void test_line_names(void **state)
{
	(void)state;
	const char *start;
	assert_int_equal(hero_secret_line_name("export OSIS_KEY=abc", &start), 8);
	assert_memory_equal(start, "OSIS_KEY", 8);
	assert_int_equal(hero_secret_line_name("  A_B=1", &start), 3);
	assert_int_equal(hero_secret_line_name("# comment=1", &start), 0);
	assert_int_equal(hero_secret_line_name("echo hi", &start), 0);
	assert_int_equal(hero_secret_line_name("", &start), 0);
}

static void test_merge_keeps_the_targets_values(void **state)
{
	(void)state;
	struct hero_error err = HERO_ERROR_INIT;
	struct hero_strlist added = { 0 };
	char *out = NULL;
	const char *target = "# the target's file\nexport A=target-a\nexport B=target-b";
	const char *archive = "export A=archive-a\nexport C=archive-c\nexport D=archive-d\n";
	assert_int_equal(hero_secrets_merge(target, archive, &out, &added, &err), 0);
	assert_string_equal(out, "# the target's file\nexport A=target-a\nexport B=target-b\n"
				 "export C=archive-c\nexport D=archive-d\n");
	assert_int_equal(added.n, 2);
	assert_string_equal(added.v[0], "C");
	assert_string_equal(added.v[1], "D");
	free(out);
	hero_strlist_release(&added);
	/* no target file: the archive's lines as they are */
	assert_int_equal(hero_secrets_merge(NULL, archive, &out, &added, &err), 0);
	assert_string_equal(out, archive);
	assert_int_equal(added.n, 3);
	free(out);
	hero_strlist_release(&added);
	/* nothing to add */
	assert_int_equal(hero_secrets_merge("export A=1\n", "export A=2\n", &out, &added, &err), 0);
	assert_string_equal(out, "export A=1\n");
	assert_int_equal(added.n, 0);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_names),
		cmocka_unit_test(test_merge_keeps_the_targets_values),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
