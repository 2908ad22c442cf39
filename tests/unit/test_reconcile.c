/* test_reconcile.c - desired-state loading, dependency order and the diff (pure, no supervisor). */
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
#include <jansson.h>

#include "hero/reconcile.h"

#define OWNER "team-a"

/* ---- helpers ---- */

static json_t *J(const char *text)
{
	json_error_t e;
	json_t *v = json_loads(text, 0, &e);
	if (!v)
		fprintf(stderr, "bad test JSON: %s: %s\n", e.text, text);
	return v;
}

/* An "actual" entry: monitored, owned or not, with CONFIG and target. */
static json_t *entry(const char *config, int owned, int monitored, const char *target)
{
	return json_pack("{sbsbsosssssi}", "monitored", monitored, "owned", owned, "config", J(config), "state",
			 "Running", "target", target, "pid", 42);
}

static const char *kinds(const struct hero_rc_plan *p, char *buf, size_t cap)
{
	buf[0] = '\0';
	for (size_t i = 0; i < p->n; i++) {
		size_t len = strlen(buf);
		snprintf(buf + len, cap - len, "%s%s:%s", i ? " " : "", hero_rc_kind_name(p->actions[i].kind),
			 p->actions[i].name);
	}
	return buf;
}

/* ---- ordering ---- */

static char *order_of(const char *services)
{
	json_t *svc = J(services), *order = NULL;
	struct hero_error err = HERO_ERROR_INIT;
	char *out = NULL;
	if (hero_rc_order(svc, &order, &err) == 0) {
		out = calloc(1, 256);
		for (size_t i = 0; i < json_array_size(order); i++)
			snprintf(out + strlen(out), 256 - strlen(out), "%s%s", i ? "," : "",
				 json_string_value(json_array_get(order, i)));
	} else {
		out = strdup(err.msg);
	}
	json_decref(svc);
	json_decref(order);
	return out;
}

static void test_order(void **state)
{
	(void)state;
	char *s;
	/* dependencies first, whatever the alphabet says */
	assert_string_equal(s = order_of("{\"app\":{\"after\":[\"store\"]},\"job\":{\"after\":[\"app\"]},"
					 "\"store\":{}}"), "store,app,job");
	free(s);
	/* ties go alphabetically; dependencies outside the set do not block */
	assert_string_equal(s = order_of("{\"c\":{},\"b\":{\"after\":[\"elsewhere\"]},\"a\":{}}"), "a,b,c");
	free(s);
	assert_string_equal(s = order_of("{\"d\":{\"after\":[\"b\",\"c\"]},\"c\":{\"after\":[\"a\"]},"
					 "\"b\":{\"after\":[\"a\"]},\"a\":{}}"), "a,b,c,d");
	free(s);
	assert_string_equal(s = order_of("{\"x\":{\"after\":[\"y\"]},\"y\":{\"after\":[\"z\"]},"
					 "\"z\":{\"after\":[\"x\"]},\"ok\":{}}"),
			    "dependency cycle among services: x, y, z");
	free(s);
	assert_string_equal(s = order_of("{}"), "");
	free(s);
}

/* ---- the diff ---- */

static void test_diff_all_kinds(void **state)
{
	(void)state;
	char buf[512];
	struct hero_error err = HERO_ERROR_INIT;
	struct hero_rc_plan *p = NULL;
	json_t *desired = J("{\"same\":{\"exec\":\"a\",\"env\":{\"HERO_RECONCILE_OWNER\":\"team-a\"}},"
			    "\"new\":{\"exec\":\"n\",\"after\":[\"same\"],\"env\":{\"HERO_RECONCILE_OWNER\":\"team-a\"}},"
			    "\"edited\":{\"exec\":\"e2\",\"env\":{\"PORT\":\"1\",\"HERO_RECONCILE_OWNER\":\"team-a\"}},"
			    "\"stopped\":{\"exec\":\"s\",\"env\":{\"HERO_RECONCILE_OWNER\":\"team-a\"}},"
			    "\"theirs\":{\"exec\":\"t\",\"env\":{\"HERO_RECONCILE_OWNER\":\"team-a\"}}}");
	json_t *actual = json_object();
	json_object_set_new(actual, "same", entry("{\"exec\":\"a\",\"env\":{\"HERO_RECONCILE_OWNER\":\"team-a\"}}", 1, 1, "Up"));
	json_object_set_new(actual, "edited", entry("{\"exec\":\"e1\",\"env\":{\"PORT\":\"2\",\"HERO_RECONCILE_OWNER\":\"team-a\"}}", 1, 1, "Up"));
	json_object_set_new(actual, "stopped", entry("{\"exec\":\"s\",\"env\":{\"HERO_RECONCILE_OWNER\":\"team-a\"}}", 1, 1, "Down"));
	json_object_set_new(actual, "theirs", entry("{\"exec\":\"t\"}", 0, 1, "Up"));
	json_object_set_new(actual, "gone", entry("{\"exec\":\"g\",\"env\":{\"HERO_RECONCILE_OWNER\":\"team-a\"}}", 1, 1, "Up"));
	json_object_set_new(actual, "foreign", entry("{\"exec\":\"f\"}", 0, 1, "Up"));
	assert_int_equal(hero_rc_diff(desired, actual, OWNER, 0, &p, &err), 0);
	/* removals first, then dependency order, conflicts last */
	assert_string_equal(kinds(p, buf, sizeof buf), "remove:gone change:edited add:new start:stopped conflict:theirs");
	assert_string_equal(p->actions[1].detail, "env.PORT, exec");
	assert_string_equal(p->actions[3].detail, "target Down");
	assert_int_equal(hero_rc_drift(p), 5);
	assert_int_equal(json_array_size(p->unchanged), 1);
	assert_string_equal(json_string_value(json_array_get(p->unchanged, 0)), "same");
	assert_int_equal(json_array_size(p->unowned), 1);
	assert_string_equal(json_string_value(json_array_get(p->unowned, 0)), "foreign");
	hero_rc_plan_free(p);
	/* adopting turns the conflict into a change */
	assert_int_equal(hero_rc_diff(desired, actual, OWNER, 1, &p, &err), 0);
	assert_string_equal(kinds(p, buf, sizeof buf), "remove:gone change:edited add:new start:stopped change:theirs");
	assert_string_equal(p->actions[4].detail, "env.HERO_RECONCILE_OWNER");
	hero_rc_plan_free(p);
	/* another owner owns none of these */
	json_t *none = json_object();
	assert_int_equal(hero_rc_diff(none, actual, "team-b", 0, &p, &err), 0);
	assert_int_equal(hero_rc_drift(p), 0);
	assert_int_equal(json_array_size(p->unowned), 6);
	hero_rc_plan_free(p);
	json_decref(none);
	json_decref(desired);
	json_decref(actual);
}

static void test_diff_in_sync_and_unmonitored(void **state)
{
	(void)state;
	char buf[256];
	struct hero_error err = HERO_ERROR_INIT;
	struct hero_rc_plan *p = NULL;
	json_t *desired = J("{\"a\":{\"exec\":\"a\",\"env\":{\"HERO_RECONCILE_OWNER\":\"team-a\"}}}");
	json_t *actual = json_object();
	json_object_set_new(actual, "a", entry("{\"exec\":\"a\",\"env\":{\"HERO_RECONCILE_OWNER\":\"team-a\"}}", 1, 1, "Up"));
	assert_int_equal(hero_rc_diff(desired, actual, OWNER, 0, &p, &err), 0);
	assert_int_equal(hero_rc_drift(p), 0);
	hero_rc_plan_free(p);
	/* the file exists (an interrupted run) but the service is not monitored */
	json_object_set_new(actual, "a", entry("{\"exec\":\"a\",\"env\":{\"HERO_RECONCILE_OWNER\":\"team-a\"}}", 1, 0, "Up"));
	assert_int_equal(hero_rc_diff(desired, actual, OWNER, 0, &p, &err), 0);
	assert_string_equal(kinds(p, buf, sizeof buf), "start:a");
	assert_string_equal(p->actions[0].detail, "not monitored");
	hero_rc_plan_free(p);
	json_decref(desired);
	json_decref(actual);
}

static void test_diff_removal_order(void **state)
{
	(void)state;
	char buf[256];
	struct hero_error err = HERO_ERROR_INIT;
	struct hero_rc_plan *p = NULL;
	json_t *actual = json_object();
	json_object_set_new(actual, "db", entry("{\"exec\":\"d\",\"env\":{\"HERO_RECONCILE_OWNER\":\"team-a\"}}", 1, 1, "Up"));
	json_object_set_new(actual, "api", entry("{\"exec\":\"a\",\"after\":[\"db\"],\"env\":{\"HERO_RECONCILE_OWNER\":\"team-a\"}}", 1, 1, "Up"));
	json_object_set_new(actual, "web", entry("{\"exec\":\"w\",\"after\":[\"api\"],\"env\":{\"HERO_RECONCILE_OWNER\":\"team-a\"}}", 1, 1, "Up"));
	json_t *none = json_object();
	assert_int_equal(hero_rc_diff(none, actual, OWNER, 0, &p, &err), 0);
	/* dependents go before what they depend on */
	assert_string_equal(kinds(p, buf, sizeof buf), "remove:web remove:api remove:db");
	hero_rc_plan_free(p);
	json_decref(none);
	json_decref(actual);
}

/* ---- loading a desired directory ---- */

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
	snprintf(fx->dir, sizeof fx->dir, "/tmp/hero-rc-XXXXXX");
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

static void put(const struct fx *fx, const char *name, const char *text)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/%s", fx->dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_load_desired(void **state)
{
	struct fx *fx = *state;
	struct hero_error err = HERO_ERROR_INIT;
	json_t *d = NULL;
	const char *vars[] = { "ROOT=/srv/hero", NULL };
	put(fx, "osis.yaml", "exec: osis --root ${ROOT}\nenv: {PORT: 80}\n");
	put(fx, "biz.yml", "exec: biz\nafter: [osis]\n");
	put(fx, ".hidden.yaml", "not: [valid\n");
	put(fx, "README.md", "not a service\n");
	assert_int_equal(hero_rc_load_desired(fx->dir, OWNER, vars, &d, &err), 0);
	assert_int_equal(json_object_size(d), 2);
	json_t *osis = json_object_get(d, "osis");
	assert_string_equal(json_string_value(json_object_get(osis, "exec")), "osis --root /srv/hero");
	assert_string_equal(json_string_value(json_object_get(json_object_get(osis, "env"), "PORT")), "80");
	assert_string_equal(json_string_value(json_object_get(json_object_get(osis, "env"), HERO_RC_OWNER_ENV)),
			    OWNER);
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(d, "biz"), "env"),
							      HERO_RC_OWNER_ENV)), OWNER);
	json_decref(d);

	put(fx, "sneaky.yaml", "exec: x\nenv: {HERO_RECONCILE_OWNER: someone}\n");
	assert_int_equal(hero_rc_load_desired(fx->dir, OWNER, vars, &d, &err), -HERO_EUSAGE);
	assert_non_null(strstr(err.msg, "sneaky.yaml: 'HERO_RECONCILE_OWNER' is set by reconcile"));
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/sneaky.yaml", fx->dir);
	unlink(path);

	put(fx, "a.b.yaml", "exec: x\n");
	assert_int_equal(hero_rc_load_desired(fx->dir, OWNER, vars, &d, &err), -HERO_EUSAGE);
	assert_non_null(strstr(err.msg, "'a.b' is not a valid service name"));
	snprintf(path, sizeof path, "%s/a.b.yaml", fx->dir);
	unlink(path);

	put(fx, "osis.yml", "exec: again\n");
	assert_int_equal(hero_rc_load_desired(fx->dir, OWNER, vars, &d, &err), -HERO_EUSAGE);
	assert_non_null(strstr(err.msg, "service 'osis' is declared twice"));

	assert_int_equal(hero_rc_load_desired("/nonexistent/dir", OWNER, vars, &d, &err), -HERO_EFAIL);
}

static void test_owner_valid(void **state)
{
	(void)state;
	assert_true(hero_rc_owner_valid("hero-reconcile"));
	assert_true(hero_rc_owner_valid("team.a_1"));
	assert_false(hero_rc_owner_valid(""));
	assert_false(hero_rc_owner_valid("a b"));
	assert_false(hero_rc_owner_valid("a=b"));
	assert_false(hero_rc_owner_valid(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_diff_all_kinds),
		cmocka_unit_test(test_diff_in_sync_and_unmonitored),
		cmocka_unit_test(test_diff_removal_order),
		cmocka_unit_test_setup_teardown(test_load_desired, setup, teardown),
		cmocka_unit_test(test_owner_valid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
