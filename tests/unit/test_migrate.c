/* test_migrate.c - the pieces of hero-migrate that need no server: shell quoting, the
 * ComputeService client's refusals, job specs and plans. */
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

#include "hero/journal.h"
#include "hero/migrate.h"
#include "migrate/compute.h"
#include "migrate/ssh.h"

static void test_sh_quote(void **state)
{
	(void)state;
	static const char *const cases[][2] = {
		{ "plain", "'plain'" },
		{ "", "''" },
		{ "it's", "'it'\\''s'" },
		{ "$(rm -rf /) `x` \"y\" ;|&", "'$(rm -rf /) `x` \"y\" ;|&'" },
		{ "''", "''\\'''\\'''" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *q = hero_sh_quote(cases[i][0]);
		assert_non_null(q);
		assert_string_equal(q, cases[i][1]);
		free(q);
	}
}

static void test_compute_refusals(void **state)
{
	(void)state;
	struct hero_compute *c = NULL;
	struct hero_error err = HERO_ERROR_INIT;
	assert_int_equal(hero_compute_new("tcp:host", &c, &err), -HERO_EUSAGE);
	assert_int_equal(hero_compute_new("unix:relative.sock", &c, &err), -HERO_EUSAGE);
	assert_null(c);
	/* a socket nobody listens on: the stubs are refused before any I/O, by name */
	assert_int_equal(hero_compute_new("unix:/nonexistent/hero_compute.sock", &c, &err), 0);
	static const char *const stubs[] = { "start_vm", "stop_vm", "restart_vm", "inject_ssh_keys", "vm_exec", "vm_stats" };
	for (size_t i = 0; i < sizeof stubs / sizeof stubs[0]; i++) {
		assert_int_equal(hero_compute_call(c, stubs[i], json_object(), NULL, hero_mono_ms() + 1000, &err),
				 -HERO_EUSAGE);
		assert_non_null(strstr(err.msg, stubs[i]));
		assert_non_null(strstr(err.msg, "stub on TFGrid"));
		assert_false(hero_compute_last_transport(c));
	}
	/* a real method fails in transport, naming the method and the address */
	struct hero_vm vm;
	assert_int_equal(hero_compute_get_vm(c, "vm-1", &vm, hero_mono_ms() + 2000, &err), -HERO_EFAIL);
	assert_non_null(strstr(err.msg, "ComputeService.get_vm: cannot reach 'unix:/nonexistent/hero_compute.sock'"));
	assert_true(hero_compute_last_transport(c));
	/* a deadline already past: no call at all */
	assert_int_equal(hero_compute_get_vm(c, "vm-1", &vm, hero_mono_ms() - 1, &err), -HERO_EFAIL);
	assert_non_null(strstr(err.msg, "timed out"));
	hero_compute_free(c);
	hero_compute_free(NULL);
}

/* Options pointing at files of the source tree (every path must exist). */
static void base_opts(struct hero_mig_opts *o, char *buf, size_t n)
{
	const char *top = getenv("HERO_SRCDIR");
	snprintf(buf, n, "%s", top ? top : ".");
	memset(o, 0, sizeof *o);
	o->context = "geomind";
	o->source_root = buf;
	o->manifests = "manifests";
	o->seckey = "tests/golden/keys/test.key";
	o->pubkey = "tests/golden/keys/test.pub";
	o->probes = "examples/probes/hero-panel.yaml";
	o->target_dir = "/srv/hero-target";
}

static int chdir_top(void **state)
{
	(void)state;
	const char *top = getenv("HERO_SRCDIR");
	return top && chdir(top) < 0 ? -1 : 0;
}

static void test_spec_refusals(void **state)
{
	(void)state;
	struct hero_mig_opts o;
	struct hero_error err = HERO_ERROR_INIT;
	json_t *spec = NULL;
	char top[4096];
	const char *keys[] = { "tests/golden/keys/test.key" };

	base_opts(&o, top, sizeof top);
	o.target_ssh = "nodeB";
	assert_int_equal(hero_mig_spec(&o, &spec, &err), -HERO_EUSAGE);
	assert_non_null(strstr(err.msg, "exactly one target"));

	base_opts(&o, top, sizeof top);
	o.context = "../x";
	assert_int_equal(hero_mig_spec(&o, &spec, &err), -HERO_EUSAGE);

	base_opts(&o, top, sizeof top);
	o.probes = NULL;
	assert_int_equal(hero_mig_spec(&o, &spec, &err), -HERO_EUSAGE);
	assert_non_null(strstr(err.msg, "--probes"));

	base_opts(&o, top, sizeof top);
	o.target_dir = NULL;
	o.compute = "unix:/run/hero_compute.sock";
	assert_int_equal(hero_mig_spec(&o, &spec, &err), -HERO_EUSAGE);
	assert_non_null(strstr(err.msg, "--ssh-key"));
	o.ssh_keys = keys; /* a secret key given where a public one is wanted */
	o.n_ssh_keys = 1;
	assert_int_equal(hero_mig_spec(&o, &spec, &err), -HERO_EUSAGE);

	base_opts(&o, top, sizeof top);
	o.target_dir = NULL;
	o.target_ssh = "root@nodeB";
	assert_int_equal(hero_mig_spec(&o, &spec, &err), -HERO_EUSAGE);
	assert_null(spec);
}

static void test_spec_and_plan(void **state)
{
	(void)state;
	struct hero_mig_opts o;
	struct hero_error err = HERO_ERROR_INIT;
	json_t *spec = NULL;
	char top[4096];
	base_opts(&o, top, sizeof top);
	o.as = "dora";
	o.timeouts[hero_mig_stage_index("transfer")] = 77;
	assert_int_equal(hero_mig_spec(&o, &spec, &err), 0);
	assert_string_equal(json_string_value(json_object_get(spec, "target_kind")), "dir");
	assert_string_equal(json_string_value(json_object_get(spec, "as")), "dora");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(spec, "timeouts"), "transfer")), 77);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(spec, "timeouts"), "provision")), 600);
	assert_int_equal(json_integer_value(json_object_get(spec, "attempts")), 3);
	assert_true(json_string_value(json_object_get(spec, "seckey"))[0] == '/');

	json_t *plan = hero_mig_plan(spec);
	assert_int_equal(json_array_size(plan), HERO_MIG_NSTAGES);
	for (size_t i = 0; i < HERO_MIG_NSTAGES; i++) {
		json_t *s = json_array_get(plan, i);
		assert_string_equal(json_string_value(json_object_get(s, "stage")), hero_mig_stage_name(i));
		int skip = json_is_true(json_object_get(s, "skip"));
		/* a local directory: no VM, no wait, no gateway; no --desired: no reconcile */
		assert_int_equal(skip, i == 0 || i == 1 || i == 2 || i == 7);
	}
	assert_non_null(strstr(json_string_value(json_object_get(json_array_get(plan, 5), "does")), "--as dora"));
	json_decref(plan);
	json_decref(spec);
	assert_int_equal(hero_mig_stage_index("cleanup"), HERO_MIG_NSTAGES - 1);
	assert_int_equal(hero_mig_stage_index("nope"), -1);
	assert_null(hero_mig_stage_name(HERO_MIG_NSTAGES));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sh_quote),
		cmocka_unit_test(test_compute_refusals),
		cmocka_unit_test_setup(test_spec_refusals, chdir_top),
		cmocka_unit_test_setup(test_spec_and_plan, chdir_top),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
