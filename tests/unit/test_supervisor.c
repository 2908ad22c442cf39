/* test_supervisor.c - zinit state parsing, JSON framing, service files and their canonical form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "hero/supervisor.h"
#include "supervise/svcyaml.h"

/* ---- states by prefix ---- */

static void test_state_parse(void **state)
{
	(void)state;
	assert_int_equal(hero_sv_state_parse("Running"), HERO_SV_RUNNING);
	assert_int_equal(hero_sv_state_parse("Success"), HERO_SV_SUCCESS);
	assert_int_equal(hero_sv_state_parse("Spawned"), HERO_SV_SPAWNED);
	assert_int_equal(hero_sv_state_parse("Blocked"), HERO_SV_BLOCKED);
	assert_int_equal(hero_sv_state_parse("TestFailure"), HERO_SV_TEST_FAILURE);
	assert_int_equal(hero_sv_state_parse("Failure"), HERO_SV_FAILURE);
	assert_int_equal(hero_sv_state_parse("Error(Exited(Pid(812), 1))"), HERO_SV_ERROR);
	assert_int_equal(hero_sv_state_parse("Error(Signaled(Pid(9), SIGTERM, false))"), HERO_SV_ERROR);
	assert_int_equal(hero_sv_state_parse("Unknown"), HERO_SV_UNKNOWN);
	/* a prefix must end the word: no partial matches */
	assert_int_equal(hero_sv_state_parse("Runningish"), HERO_SV_UNKNOWN);
	assert_int_equal(hero_sv_state_parse("Errors"), HERO_SV_UNKNOWN);
	assert_int_equal(hero_sv_state_parse("running"), HERO_SV_UNKNOWN);
	assert_int_equal(hero_sv_state_parse(""), HERO_SV_UNKNOWN);
	assert_int_equal(hero_sv_state_parse(NULL), HERO_SV_UNKNOWN);
	for (int s = HERO_SV_UNKNOWN; s <= HERO_SV_FAILURE; s++)
		assert_int_equal(hero_sv_state_parse(hero_sv_state_name((enum hero_sv_state)s)), s);
}

/* ---- brace-depth framing ---- */

static long frame(const char *s)
{
	return hero_json_frame(s, strlen(s));
}

static void test_json_frame(void **state)
{
	(void)state;
	assert_int_equal(frame("{\"a\":1}"), 7);
	assert_int_equal(frame("  \n{\"a\":1}\n"), 10);
	assert_int_equal(frame("{\"a\":1}{\"b\":2}"), 7);
	assert_int_equal(frame("[1,[2,{\"x\":[]}]] tail"), 16);
	/* braces and escaped quotes inside strings do not count */
	assert_int_equal(frame("{\"a\":\"}\\\"{\"}"), 12);
	assert_int_equal(frame("{\"a\":\"\\\\\"}"), 10);
	/* incomplete: wait for more */
	assert_int_equal(frame("{\"a\":{\"b\":1}"), 0);
	assert_int_equal(frame("{\"a\":\"}"), 0);
	assert_int_equal(frame("   "), 0);
	assert_int_equal(frame(""), 0);
	/* not JSON at all (a line-protocol command) */
	assert_int_equal(frame("list\n"), -1);
	assert_int_equal(frame("  status x"), -1);
}

/* ---- names and signals ---- */

static void test_names_signals(void **state)
{
	(void)state;
	assert_true(hero_svc_name_valid("hero_osis"));
	assert_true(hero_svc_name_valid("a-b_c9"));
	assert_false(hero_svc_name_valid("a.b"));
	assert_false(hero_svc_name_valid("a/b"));
	assert_false(hero_svc_name_valid("a\\b"));
	assert_false(hero_svc_name_valid("a b"));
	assert_false(hero_svc_name_valid(""));
	assert_false(hero_svc_name_valid(NULL));
	assert_int_equal(hero_signal_number("SIGTERM"), 15);
	assert_int_equal(hero_signal_number("sigkill"), 9);
	assert_int_equal(hero_signal_number("HUP"), 1);
	assert_int_equal(hero_signal_number("SIGNOPE"), -1);
	assert_int_equal(hero_signal_number(""), -1);
}

/* ---- ${VAR} expansion ---- */

static char *expand(const char *in, const struct hero_vars *v)
{
	char *out = NULL;
	struct hero_error err = HERO_ERROR_INIT;
	if (hero_expand(in, v, &out, &err) < 0)
		return NULL;
	return out;
}

static void test_expand(void **state)
{
	(void)state;
	const char *set[] = { "A=alpha", "B=", "A=again", NULL };
	const char *fb[] = { "F=fallback", "HOME=from-fallback", NULL };
	struct hero_vars v = { set, 1, fb };
	char *s;
	setenv("HERO_TEST_ENV", "env", 1);
	setenv("F", "env-wins", 1);
	assert_string_equal(s = expand("x${A}y", &v), "xagainy"); /* later --set wins */
	free(s);
	assert_string_equal(s = expand("${HERO_TEST_ENV}/${F}", &v), "env/env-wins");
	free(s);
	unsetenv("F");
	assert_string_equal(s = expand("${F}", &v), "fallback");
	free(s);
	assert_string_equal(s = expand("${B:-dflt} ${NOPE_X:-${A}-d}", &v), "dflt again-d");
	free(s);
	assert_string_equal(s = expand("${B}|", &v), "|"); /* set but empty, no default */
	free(s);
	assert_string_equal(s = expand("sh -c 'echo $HOME $$'", &v), "sh -c 'echo $HOME $$'");
	free(s);
	assert_string_equal(s = expand("$${A}", &v), "${A}");
	free(s);
	struct hero_error err = HERO_ERROR_INIT;
	assert_int_equal(hero_expand("${NOPE_X}", &v, &s, &err), -HERO_EUSAGE);
	assert_string_equal(err.msg, "undefined variable 'NOPE_X'");
	assert_int_equal(hero_expand("${A", &v, &s, &err), -HERO_EUSAGE);
	assert_int_equal(hero_expand("${a b}", &v, &s, &err), -HERO_EUSAGE);
}

/* ---- YAML <-> JSON ---- */

static json_t *yaml(const char *text)
{
	json_t *v = NULL;
	struct hero_error err = HERO_ERROR_INIT;
	if (hero_yaml_parse(text, strlen(text), NULL, &v, &err) < 0) {
		fprintf(stderr, "yaml: %s\n", err.msg);
		return NULL;
	}
	return v;
}

static void test_yaml_types(void **state)
{
	(void)state;
	json_t *v = yaml("a: 1\nb: -7\nc: 1.5\nd: true\ne: ~\nf: '1'\ng: \"true\"\nh: x y\ni: 0x1f\nj: [1, two]\n"
			 "k: {m: n}\nl: 08x\n");
	assert_non_null(v);
	assert_int_equal(json_integer_value(json_object_get(v, "a")), 1);
	assert_int_equal(json_integer_value(json_object_get(v, "b")), -7);
	assert_true(json_is_real(json_object_get(v, "c")));
	assert_true(json_is_true(json_object_get(v, "d")));
	assert_true(json_is_null(json_object_get(v, "e")));
	assert_string_equal(json_string_value(json_object_get(v, "f")), "1");
	assert_string_equal(json_string_value(json_object_get(v, "g")), "true");
	assert_string_equal(json_string_value(json_object_get(v, "h")), "x y");
	assert_int_equal(json_integer_value(json_object_get(v, "i")), 31);
	assert_string_equal(json_string_value(json_array_get(json_object_get(v, "j"), 1)), "two");
	assert_string_equal(json_string_value(json_object_get(json_object_get(v, "k"), "m")), "n");
	assert_string_equal(json_string_value(json_object_get(v, "l")), "08x");
	json_decref(v);
	struct hero_error err = HERO_ERROR_INIT;
	json_t *bad = NULL;
	assert_int_equal(hero_yaml_parse("a: 1\na: 2\n", 10, NULL, &bad, &err), -HERO_EUSAGE);
	assert_non_null(strstr(err.msg, "duplicate key 'a'"));
	assert_int_equal(hero_yaml_parse("a: [1\n", 6, NULL, &bad, &err), -HERO_EUSAGE);
}

static void test_yaml_roundtrip(void **state)
{
	(void)state;
	json_t *v = json_pack("{sss{ssssssss}s[ss]sbsisfsn}", "exec", "sleep 1", "env", "PORT", "8080", "FLAG",
			      "true", "NUL", "null", "Q", "a: b # c", "after", "x", "y", "oneshot", 1, "n", 3, "r",
			      2.0, "z");
	char *text = NULL;
	struct hero_error err = HERO_ERROR_INIT;
	assert_int_equal(hero_yaml_dump(v, &text, &err), 0);
	/* strings that would read back as another type are quoted */
	assert_non_null(strstr(text, "PORT: \"8080\""));
	assert_non_null(strstr(text, "FLAG: \"true\""));
	json_t *back = yaml(text);
	assert_non_null(back);
	assert_true(json_equal(v, back));
	free(text);
	json_decref(v);
	json_decref(back);
}

/* ---- canonical service form ---- */

static json_t *canon(const char *text, int strict, struct hero_error *err)
{
	json_t *in = yaml(text), *out = NULL;
	if (!in)
		return NULL;
	int rc = hero_svc_canon("svc", in, strict, &out, err);
	json_decref(in);
	return rc < 0 ? NULL : out;
}

static void test_canon_defaults(void **state)
{
	(void)state;
	struct hero_error err = HERO_ERROR_INIT;
	json_t *a = canon("exec: sleep 1\n", 1, &err);
	json_t *b = canon("exec: sleep 1\ntest: ''\noneshot: false\nafter: []\nshutdown_timeout: 10\n"
			  "signal: {stop: sigterm}\nlog: ring\nenv: {}\ndir: ''\nretry: {}\n", 1, &err);
	assert_non_null(a);
	assert_non_null(b);
	assert_true(json_equal(a, b));
	assert_int_equal(json_object_size(a), 1);
	json_decref(a);
	json_decref(b);
}

static void test_canon_coercion(void **state)
{
	(void)state;
	struct hero_error err = HERO_ERROR_INIT;
	json_t *a = canon("exec: x\nenv: {PORT: 8080, ON: true}\nafter: [b, a, b]\nsignal: {stop: hup}\n"
			  "shutdown_timeout: '3'\nretry: {max_attempts: 3, backoff: 2}\n", 1, &err);
	json_t *b = canon("exec: x\nenv: {PORT: '8080', ON: 'true'}\nafter: [a, b]\nsignal: {stop: SIGHUP}\n"
			  "shutdown_timeout: 3\nretry: {backoff: 2.0, max_attempts: 3}\n", 1, &err);
	assert_non_null(a);
	assert_non_null(b);
	assert_true(json_equal(a, b));
	assert_string_equal(json_string_value(json_object_get(json_object_get(a, "env"), "PORT")), "8080");
	assert_string_equal(json_string_value(json_object_get(json_object_get(a, "signal"), "stop")), "SIGHUP");
	assert_int_equal(json_array_size(json_object_get(a, "after")), 2);
	/* a real difference stays one */
	json_t *c = canon("exec: x\nenv: {PORT: 8081, ON: true}\nafter: [a, b]\nsignal: {stop: hup}\n"
			  "shutdown_timeout: 3\nretry: {max_attempts: 3, backoff: 2}\n", 1, &err);
	assert_false(json_equal(a, c));
	json_decref(a);
	json_decref(b);
	json_decref(c);
}

static void test_canon_errors(void **state)
{
	(void)state;
	struct hero_error err = HERO_ERROR_INIT;
	assert_null(canon("exce: x\n", 1, &err));
	assert_string_equal(err.msg, "service 'svc': unknown key 'exce'");
	assert_null(canon("test: x\n", 1, &err));
	assert_string_equal(err.msg, "service 'svc': 'exec' is required");
	assert_null(canon("exec: x\nlog: null\n", 1, &err));
	assert_null(canon("exec: x\nsignal: {stop: SIGNOPE}\n", 1, &err));
	assert_null(canon("exec: x\noneshot: yes\n", 1, &err));
	assert_null(canon("exec: x\nafter: [a.b]\n", 1, &err));
	assert_null(canon("exec: x\nretry: {attempts: 3}\n", 1, &err));
	assert_string_equal(err.msg, "service 'svc': unknown key 'retry.attempts'");
	assert_null(canon("exec: x\nshutdown_timeout: -1\n", 1, &err));
	assert_null(canon("exec: x\nenv: {A: [1]}\n", 1, &err));
	/* files found on a supervisor keep keys this version does not know */
	json_t *v = canon("exec: x\nextra: 1\n", 0, &err);
	assert_non_null(v);
	assert_int_equal(json_integer_value(json_object_get(v, "extra")), 1);
	json_decref(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_state_parse),
		cmocka_unit_test(test_json_frame),
		cmocka_unit_test(test_names_signals),
		cmocka_unit_test(test_expand),
		cmocka_unit_test(test_yaml_types),
		cmocka_unit_test(test_yaml_roundtrip),
		cmocka_unit_test(test_canon_defaults),
		cmocka_unit_test(test_canon_coercion),
		cmocka_unit_test(test_canon_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
