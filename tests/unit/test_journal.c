/* test_journal.c - the migration journal: file modes, stage bookkeeping, attempt history,
 * secrets kept out of every read, the job lock, unfinished-job lookup. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "hero/journal.h"

struct fx {
	char dir[64];
	char path[128];
	struct hero_journal *j;
};

static const char *const names[] = { "provision", "wait", "transfer" };
static const char secret[] = "5ec12e7-5ec12e7-5ec12e7-value";

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	struct hero_error err = HERO_ERROR_INIT;
	snprintf(f->dir, sizeof f->dir, "/tmp/hero-journal.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	/* a parent that does not exist yet: created 0700 */
	snprintf(f->path, sizeof f->path, "%s/state/journal.db", f->dir);
	if (hero_journal_new(f->path, &f->j, &err) < 0) {
		fprintf(stderr, "open: %s\n", err.msg);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[160];
	hero_journal_free(f->j);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static void create_job(struct fx *f, const char *id)
{
	struct hero_error err = HERO_ERROR_INIT;
	static const int skipped[] = { 0, 0, 0 };
	json_t *spec = json_pack("{ssss}", "context", "geomind", "target", "vm");
	assert_int_equal(hero_journal_create(f->j, id, "geomind", "/srv/a", "vm", spec, names, skipped, 3, &err), 0);
	json_decref(spec);
}

static void test_modes(void **state)
{
	struct fx *f = *state;
	struct stat st;
	char dir[96];
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(dir, sizeof dir, "%s/state", f->dir);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	/* a journal others can read is refused, naming it */
	struct hero_journal *j2 = NULL;
	struct hero_error err = HERO_ERROR_INIT;
	assert_int_equal(chmod(f->path, 0644), 0);
	assert_int_equal(hero_journal_new(f->path, &j2, &err), -HERO_EFAIL);
	assert_non_null(strstr(err.msg, "readable by others"));
	assert_null(j2);
	assert_int_equal(chmod(f->path, 0600), 0);
	/* the job directory is private too */
	char *jd = hero_journal_job_dir(f->j, "job1", &err);
	assert_non_null(jd);
	assert_int_equal(stat(jd, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	free(jd);
}

static const char *stage_field(json_t *job, size_t i, const char *key)
{
	return json_string_value(json_object_get(json_array_get(json_object_get(job, "stages"), i), key));
}

static void test_stages(void **state)
{
	struct fx *f = *state;
	struct hero_error err = HERO_ERROR_INIT;
	json_t *job = NULL;
	int attempt = 0;
	create_job(f, "job1");
	assert_int_equal(hero_journal_stage_begin(f->j, "job1", "provision", NULL, &attempt, &err), 0);
	assert_int_equal(attempt, 1);
	json_t *intent = json_pack("{ss}", "name", "hero-geomind-job1");
	assert_int_equal(hero_journal_stage_output(f->j, "job1", "provision", intent, &err), 0);
	assert_int_equal(hero_journal_stage_end(f->j, "job1", "provision", 0, HERO_STAGE_PENDING, NULL,
						"ComputeService.deploy_vm: capacity", &err), 0);
	assert_int_equal(hero_journal_stage_begin(f->j, "job1", "provision", NULL, &attempt, &err), 0);
	assert_int_equal(attempt, 2);
	json_t *out = json_pack("{ssss}", "name", "hero-geomind-job1", "vm_id", "vm-7");
	assert_int_equal(hero_journal_stage_end(f->j, "job1", "provision", 1, NULL, out, NULL, &err), 0);

	assert_int_equal(hero_journal_get(f->j, "job1", &job, &err), 0);
	assert_string_equal(stage_field(job, 0, "state"), "done");
	assert_string_equal(stage_field(job, 1, "state"), "pending");
	json_t *p = json_array_get(json_object_get(job, "stages"), 0);
	assert_int_equal(json_integer_value(json_object_get(p, "attempts")), 2);
	assert_string_equal(json_string_value(json_object_get(json_object_get(p, "outputs"), "vm_id")), "vm-7");
	assert_true(json_is_null(json_object_get(p, "error")));
	json_t *hist = json_object_get(p, "history");
	assert_int_equal(json_array_size(hist), 2);
	assert_false(json_is_true(json_object_get(json_array_get(hist, 0), "ok")));
	assert_string_equal(json_string_value(json_object_get(json_array_get(hist, 0), "error")),
			    "ComputeService.deploy_vm: capacity");
	assert_true(json_is_true(json_object_get(json_array_get(hist, 1), "ok")));

	/* an interrupted attempt stays "running" in the journal */
	assert_int_equal(hero_journal_stage_begin(f->j, "job1", "wait", NULL, &attempt, &err), 0);
	json_decref(job);
	assert_int_equal(hero_journal_get(f->j, "job1", &job, &err), 0);
	assert_string_equal(stage_field(job, 1, "state"), "running");
	json_decref(job);

	json_t *list = NULL;
	assert_int_equal(hero_journal_list(f->j, &list, &err), 0);
	assert_int_equal(json_array_size(list), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "stage")), "wait");
	json_decref(list);
	json_decref(intent);
	json_decref(out);

	assert_int_equal(hero_journal_get(f->j, "nope", &job, &err), -HERO_EUSAGE);
	assert_int_equal(hero_journal_stage_begin(f->j, "job1", "nope", NULL, &attempt, &err), -HERO_EUSAGE);
}

static void test_secrets(void **state)
{
	struct fx *f = *state;
	struct hero_error err = HERO_ERROR_INIT;
	char *v = NULL;
	json_t *job = NULL, *list = NULL;
	create_job(f, "job2");
	create_job(f, "job2b");
	assert_int_equal(hero_journal_secret_put(f->j, "job2b", "vm_secret", "another job keeps its secret", &err), 0);
	assert_int_equal(hero_journal_secret_put(f->j, "job2", "vm_secret", secret, &err), 0);
	assert_int_equal(hero_journal_secret_get(f->j, "job2", "vm_secret", &v, &err), 0);
	assert_non_null(v);
	assert_string_equal(v, secret);
	hero_journal_secret_free(v);
	/* no read of the job returns it */
	assert_int_equal(hero_journal_get(f->j, "job2", &job, &err), 0);
	assert_int_equal(hero_journal_list(f->j, &list, &err), 0);
	char *a = json_dumps(job, 0), *b = json_dumps(list, 0);
	assert_null(strstr(a, secret));
	assert_null(strstr(b, secret));
	free(a);
	free(b);
	json_decref(job);
	json_decref(list);
	/* deleted: gone, and its bytes are not left in the file */
	assert_int_equal(hero_journal_secret_delete(f->j, "job2", &err), 0);
	assert_int_equal(hero_journal_secret_get(f->j, "job2", "vm_secret", &v, &err), 0);
	assert_null(v);
	hero_journal_free(f->j);
	f->j = NULL;
	FILE *fp = fopen(f->path, "rb");
	assert_non_null(fp);
	static char buf[1 << 20];
	size_t n = fread(buf, 1, sizeof buf, fp);
	fclose(fp);
	assert_null(memmem(buf, n, secret, strlen(secret)));
	assert_int_equal(hero_journal_new(f->path, &f->j, &err), 0);
}

static void test_lock_and_unfinished(void **state)
{
	struct fx *f = *state;
	struct hero_error err = HERO_ERROR_INIT;
	int fd1 = -1, fd2 = -1;
	char *id = NULL;
	create_job(f, "job3");
	assert_int_equal(hero_journal_lock(f->j, "job3", &fd1, &err), 0);
	assert_int_equal(hero_journal_lock(f->j, "job3", &fd2, &err), -HERO_EBUSY);
	assert_non_null(strstr(err.msg, "job3"));
	close(fd1);
	assert_int_equal(hero_journal_lock(f->j, "job3", &fd2, &err), 0);
	close(fd2);

	assert_int_equal(hero_journal_find_unfinished(f->j, "/srv/a", "geomind", &id, &err), 0);
	assert_string_equal(id, "job3");
	free(id);
	assert_int_equal(hero_journal_find_unfinished(f->j, "/srv/a", "alice", &id, &err), 0);
	assert_null(id);
	assert_int_equal(hero_journal_set_job(f->j, "job3", HERO_JOB_DONE, NULL, &err), 0);
	assert_int_equal(hero_journal_find_unfinished(f->j, "/srv/a", "geomind", &id, &err), 0);
	assert_null(id);
	assert_int_equal(hero_journal_set_job(f->j, "nope", HERO_JOB_DONE, NULL, &err), -HERO_EUSAGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_secrets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_and_unfinished, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
