/* test_secretfile.c - secrets lines: names, strict parsing of an archive's
 * lines, merging without overriding the target, what sh reads back. */
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

#include "state/secretfile.h"

static struct hero_strlist list(const char *const *names)
{
	struct hero_strlist l = { 0 };
	for (; *names; names++)
		assert_int_equal(hero_strlist_push(&l, *names), 0);
	return l;
}

/* hero_secrets_merge(TARGET, ARCHIVE, ALLOWED "A" "B" "C" "D" "TOKEN" "S"):
 * the return code; *OUT and ERR filled. */
static int merge(const char *target, const char *archive, char **out, struct hero_strlist *added,
		 struct hero_error *err)
{
	static const char *const names[] = { "A", "B", "C", "D", "TOKEN", "S", NULL };
	struct hero_strlist allowed = list(names);
	hero_error_clear(err);
	*out = NULL;
	int ret = hero_secrets_merge(target, archive, &allowed, out, added, err);
	hero_strlist_release(&allowed);
	return ret;
}

/* ARCHIVE is refused as an integrity error whose message holds WANT and not SECRET. */
static void refused(const char *archive, const char *want, const char *secret)
{
	struct hero_error err = HERO_ERROR_INIT;
	struct hero_strlist added = { 0 };
	char *out = NULL;
	int ret = merge("export B=1\n", archive, &out, &added, &err);
	if (ret != -HERO_EINTEGRITY)
		fail_msg("not refused: %s (got %d, out %s)", archive, ret, out ? out : "(null)");
	assert_null(out);
	assert_int_equal(err.code, HERO_EINTEGRITY);
	if (!strstr(err.msg, want))
		fail_msg("message '%s' lacks '%s'", err.msg, want);
	if (secret && strstr(err.msg, secret))
		fail_msg("message '%s' shows the value", err.msg);
	assert_null(strchr(err.msg, '\n'));
	hero_strlist_release(&added);
}

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
	const char *archive = "# from the archive\n\nexport A=archive-a\nexport C=archive-c\n  D=archive-d  # note\n";
	assert_int_equal(merge(target, archive, &out, &added, &err), 0);
	assert_string_equal(out, "# the target's file\nexport A=target-a\nexport B=target-b\n"
				 "export C='archive-c'\nexport D='archive-d'\n");
	assert_int_equal(added.n, 2);
	assert_string_equal(added.v[0], "C");
	assert_string_equal(added.v[1], "D");
	free(out);
	hero_strlist_release(&added);
	/* no target file: every name, written by the toolkit */
	assert_int_equal(merge(NULL, archive, &out, &added, &err), 0);
	assert_string_equal(out, "export A='archive-a'\nexport C='archive-c'\nexport D='archive-d'\n");
	assert_int_equal(added.n, 3);
	free(out);
	hero_strlist_release(&added);
	/* nothing to add */
	assert_int_equal(merge("export A=1\n", "export A=2\n", &out, &added, &err), 0);
	assert_string_equal(out, "export A=1\n");
	assert_int_equal(added.n, 0);
	free(out);
}

static void test_names_the_target_does_not_declare(void **state)
{
	(void)state;
	refused("export A=1\nexport LD_PRELOAD=/tmp/evil.so\n",
		"line 2: archive carries secret 'LD_PRELOAD' that the target's manifests do not declare", "evil");
	refused("PATH=/tmp/evil:/usr/bin\n", "archive carries secret 'PATH'", "evil");
	/* not even when the target already has the name */
	struct hero_error err = HERO_ERROR_INIT;
	struct hero_strlist added = { 0 };
	char *out = NULL;
	assert_int_equal(merge("PATH=/usr/bin\n", "export PATH=/usr/bin\n", &out, &added, &err), -HERO_EINTEGRITY);
	assert_null(out);
	/* an empty ALLOWED list takes nothing */
	struct hero_strlist none = { 0 };
	assert_int_equal(hero_secrets_merge(NULL, "export A=1\n", &none, &out, &added, &err), -HERO_EINTEGRITY);
	assert_int_equal(added.n, 0);
}

static void test_shell_code_refused(void **state)
{
	(void)state;
	refused("export A=$(touch /tmp/pwned)\n", "line 1 (A): an unquoted '$'", "pwned");
	refused("\nexport A=`touch /tmp/pwned`\n", "line 2 (A): a backtick", "pwned");
	refused("export A=x; touch /tmp/pwned\n", "(A): a second command", "pwned");
	refused("export A=x && touch /tmp/pwned\n", "(A): more than one word", "pwned");
	refused("export A=x&&touch\n", "(A): a second command", NULL);
	refused("export A=$HOME\n", "(A): an unquoted '$'", "HOME");
	refused("export A=pre${IFS}post\n", "(A): an unquoted '$'", "IFS");
	refused("export A=\"$(touch /tmp/pwned)\"\n", "(A): a '$', backtick or backslash inside double quotes", "pwned");
	refused("export A=\"`whoami`\"\n", "inside double quotes", "whoami");
	refused("export A=\"x\\\"y\"\n", "inside double quotes", NULL);
	refused("export A=x\\ y\n", "(A): a backslash", NULL);
	refused("export A=1 B=2\n", "(A): more than one word", NULL);
	refused("export A=1 export B=2\n", "(A): more than one word", NULL);
	refused("export A=*\n", "(A): an unquoted byte that needs quoting", NULL);
	refused("export A=~/x\n", "(A): an unquoted byte", NULL);
	refused("export A='s3cr3t\n", "(A): a quote left open", "s3cr3t");
	refused("export A=\"s3cr3t\n", "(A): a quote left open", "s3cr3t");
	refused("touch /tmp/pwned\n", "line 1: not an assignment", NULL);
	refused("$(touch /tmp/pwned)\n", "line 1: not an assignment", NULL);
	refused("export A\n", "line 1: not an assignment", NULL);
	refused("export -n A=1\n", "line 1: not an assignment", NULL);
	refused("A+=x\n", "line 1: not an assignment", NULL);
	refused("s3cr3t-pasted-alone\n", "line 1: not an assignment", "s3cr3t");
	refused("1A=x\n", "not an assignment", NULL);
	char longname[400];
	memset(longname, 'N', 300);
	strcpy(longname + 300, "=x\n");
	refused(longname, "a name longer than 255 bytes", NULL);
}

static void test_control_bytes_refused(void **state)
{
	(void)state;
	/* a value that spans lines: the first line's quote is left open */
	refused("export A='first\nsecond'\n", "line 1 (A): a quote left open", "first");
	refused("export A=\"first\nsecond\"\n", "line 1 (A): a quote left open", "first");
	refused("export A=xyzzy\r\n", "(A): an unquoted byte", "xyzzy");
	refused("export A='xyzzy\r'\n", "(A): a control character", "xyzzy");
	refused("export A='tab\there'\n", "(A): a control character", "tab");
	refused("export A=\"bell\a\"\n", "(A): a control character", "bell");
	refused("export A='del\x7f'\n", "(A): a control character", "del");
}

static void test_duplicates_refused(void **state)
{
	(void)state;
	refused("export A=1\nexport C=2\nA=3\n", "line 3 (A): the archive assigns the name twice", NULL);
	/* even when the target has the name, and when both say the same */
	refused("export B=1\nexport B=1\n", "line 2 (B): the archive assigns the name twice", NULL);
}

static int count(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static void test_target_keeps_its_value(void **state)
{
	(void)state;
	static const char *const targets[] = {
		"export TOKEN=mine\n",
		"TOKEN=mine\n",
		"  export   TOKEN='mine'\n",
		"TOKEN=old\nexport TOKEN=mine\n",
		"set -a; TOKEN=mine\n",
		"x=1;TOKEN=mine\n",
		"[ -n \"$X\" ]&&TOKEN=mine\n",
		"readonly TOKEN=mine",
		"TOKEN+=mine\n",
	};
	for (size_t i = 0; i < sizeof targets / sizeof *targets; i++) {
		struct hero_error err = HERO_ERROR_INIT;
		struct hero_strlist added = { 0 };
		char *out = NULL;
		assert_int_equal(merge(targets[i], "export A=1\nexport TOKEN=theirs\n", &out, &added, &err), 0);
		size_t tl = strlen(targets[i]);
		assert_memory_equal(out, targets[i], tl);
		if (!strstr(out, "export A='1'\n") || strstr(out, "theirs") || count(out, "TOKEN") != count(targets[i], "TOKEN"))
			fail_msg("target '%s' became '%s'", targets[i], out);
		assert_int_equal(added.n, 1);
		assert_string_equal(added.v[0], "A");
		free(out);
		hero_strlist_release(&added);
	}
	/* a commented-out assignment does not count */
	struct hero_error err = HERO_ERROR_INIT;
	struct hero_strlist added = { 0 };
	char *out = NULL;
	assert_int_equal(merge("# TOKEN=old\n", "TOKEN=new\n", &out, &added, &err), 0);
	assert_string_equal(out, "# TOKEN=old\nexport TOKEN='new'\n");
	free(out);
	hero_strlist_release(&added);
}

/* What /bin/sh sees in $NAME after sourcing TEXT (malloc'd); fails when sh
 * runs anything else (the marker file appears). */
static char *sourced(const char *text, const char *name)
{
	char dir[] = "/tmp/hero-secretfile-XXXXXX", file[64], marker[64], cmd[256];
	assert_non_null(mkdtemp(dir));
	snprintf(file, sizeof file, "%s/env.sh", dir);
	snprintf(marker, sizeof marker, "%s/pwned", dir);
	FILE *f = fopen(file, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	snprintf(cmd, sizeof cmd, "cd %s && /bin/sh -c '. ./env.sh; printf %%s \"$%s\"'", dir, name);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	char buf[4096];
	size_t n = fread(buf, 1, sizeof buf - 1, p);
	buf[n] = '\0';
	assert_int_equal(pclose(p), 0);
	struct stat st;
	int ran = stat(marker, &st) == 0;
	unlink(marker);
	unlink(file);
	rmdir(dir);
	if (ran)
		fail_msg("sourcing '%s' ran a command", text);
	return strdup(buf);
}

static void test_values_read_back_by_sh(void **state)
{
	(void)state;
	static const struct {
		const char *line, *value;
	} cases[] = {
		{ "export S='it'\\''s $(touch pwned) `touch pwned` \"q\" ; && | * ~ \\'\n",
		  "it's $(touch pwned) `touch pwned` \"q\" ; && | * ~ \\" },
		{ "S=\"double 'quoted' with spaces; & | * ~ # {a,b}\"\n", "double 'quoted' with spaces; & | * ~ # {a,b}" },
		{ "export S=bare/./:@%+,=-_value\n", "bare/./:@%+,=-_value" },
		{ "export S=a\\'b'c d'\"e f\"\n", "a'bc de f" },
		{ "S=''\n", "" },
		{ "S=''\\'''\n", "'" },
		{ "S=\\'\n", "'" },
		{ "export S='caf\xc3\xa9 \xe2\x82\xac'\n", "caf\xc3\xa9 \xe2\x82\xac" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct hero_error err = HERO_ERROR_INIT;
		struct hero_strlist added = { 0 };
		char *out = NULL;
		/* a target file with a value of its own for another name */
		if (merge("export B='kept'\n", cases[i].line, &out, &added, &err) < 0)
			fail_msg("'%s' refused: %s", cases[i].line, err.msg);
		assert_int_equal(count(out, "\n"), 2); /* one line added, no more */
		assert_int_equal(strncmp(out + strlen("export B='kept'\n"), "export S='", 10), 0);
		char *got = sourced(out, "S");
		if (strcmp(got, cases[i].value))
			fail_msg("line '%s': sh reads '%s', want '%s' (file '%s')", cases[i].line, got, cases[i].value, out);
		free(got);
		got = sourced(out, "B");
		assert_string_equal(got, "kept");
		free(got);
		free(out);
		hero_strlist_release(&added);
	}
}

static void test_drop(void **state)
{
	(void)state;
	static const char *const names[] = { "B", NULL };
	struct hero_strlist skip = list(names);
	char *out = hero_secrets_drop("export A=1\nexport B=$(x)\n$(y)\nB=2", &skip);
	assert_string_equal(out, "export A=1\n$(y)\n");
	free(out);
	hero_strlist_release(&skip);
}

static void test_collect_well_formed_only(void **state)
{
	(void)state;
	char dir[] = "/tmp/hero-secretfile-XXXXXX", file[64];
	assert_non_null(mkdtemp(dir));
	snprintf(file, sizeof file, "%s/env.sh", dir);
	FILE *f = fopen(file, "w");
	assert_non_null(f);
	fputs("# instance secrets\n"
	      "export A=first\n"
	      "export B=\"$(cat /run/b)\"\n"
	      "export C='it'\\''s'\n"
	      "export A=second\n"
	      "export D=good\n"
	      "export D=$HOME/x\n"
	      "export E=not-needed\n"
	      "echo hi\n",
	      f);
	fclose(f);
	char path[] = "env.sh", name[] = "svc";
	struct hero_state st = { .path = path, .type = HERO_STATE_SECRETS };
	struct hero_service svc = { .name = name, .state = &st, .n_state = 1 };
	struct hero_inventory inv = { &svc, 1, NULL };
	static const char *const names[] = { "A", "B", "C", "D", NULL };
	struct hero_strlist needed = list(names);
	struct hero_secret_set set;
	struct hero_error err = HERO_ERROR_INIT;
	assert_int_equal(hero_secrets_collect(&inv, dir, &needed, &set, &err), 0);
	assert_int_equal(set.n, 1);
	/* A: its last value; B and D: last assignment not well-formed, left out */
	assert_string_equal(set.f[0].text, "export A='second'\nexport C='it'\\''s'\n");
	assert_int_equal(set.names.n, 2);
	assert_string_equal(set.names.v[0], "A");
	assert_string_equal(set.names.v[1], "C");
	/* what the snapshot carries, the restore takes back */
	struct hero_strlist added = { 0 };
	char *out = NULL;
	assert_int_equal(hero_secrets_merge(NULL, set.f[0].text, &needed, &out, &added, &err), 0);
	assert_string_equal(out, set.f[0].text);
	free(out);
	hero_strlist_release(&added);
	hero_secrets_release(&set);
	hero_strlist_release(&needed);
	unlink(file);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_names),
		cmocka_unit_test(test_merge_keeps_the_targets_values),
		cmocka_unit_test(test_names_the_target_does_not_declare),
		cmocka_unit_test(test_shell_code_refused),
		cmocka_unit_test(test_control_bytes_refused),
		cmocka_unit_test(test_duplicates_refused),
		cmocka_unit_test(test_target_keeps_its_value),
		cmocka_unit_test(test_values_read_back_by_sh),
		cmocka_unit_test(test_drop),
		cmocka_unit_test(test_collect_well_formed_only),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
