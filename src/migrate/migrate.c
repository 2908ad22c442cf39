/* migrate.c - the runner of migration jobs: stages in order, each journaled,
 * retried with backoff and bounded by a timeout (docs/decisions/0030). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "base/internal.h"
#include "migrate/migrate_internal.h"

typedef int (*stage_fn)(struct mig *m, struct hero_error *err);

static const stage_fn fns[HERO_MIG_NSTAGES] = {
	hero_stage_provision, hero_stage_wait,	  hero_stage_gateway,   hero_stage_bootstrap, hero_stage_snapshot, hero_stage_transfer,
	hero_stage_restore,	 hero_stage_reconcile, hero_stage_verify,	   hero_stage_cutover,   hero_stage_cleanup,
};

/* The spec keys journaled as each stage's inputs. */
static const char *const inputs[HERO_MIG_NSTAGES] = {
	"vm_name slices image node compute",
	"target_host ssh_user ssh_port",
	"gateway source_backend",
	"bootstrap secrets_file pubkey",
	"source_root context manifests",
	"source_root context as target_root target_dir",
	"as",
	"desired target_supervisor vars",
	"probes vars",
	"gateway context router_port",
	"delete_source",
};

/* ---- messages ------------------------------------------------------------- */

static void say(struct mig *m, const char *stage, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
struct say_to {
	struct mig *m;
	const char *stage;
};

/* A progress line goes to the caller's callback, with its stage, and to the job's log. */
static void say_line(void *ctx, const char *line)
{
	const struct say_to *t = ctx;
	if (t->m->env && t->m->env->say)
		t->m->env->say(t->m->env->say_ctx, t->stage, line);
	hero_mig_log(t->m, "%s", line);
}

static void say(struct mig *m, const char *stage, const char *fmt, ...)
{
	struct say_to t = { m, stage };
	va_list ap;
	va_start(ap, fmt);
	hero_vsay(say_line, &t, fmt, ap);
	va_end(ap);
}

/* ---- the runner ------------------------------------------------------------ */

/* Test fault point: HERO_MIGRATE_KILL_AT=STAGE:before|after (test builds only). */
static void kill_point(const char *stage, const char *when)
{
#ifndef HERO_TESTING
	(void)stage;
	(void)when;
#else
	const char *spec = getenv("HERO_MIGRATE_KILL_AT");
	size_t n = strlen(stage);
	if (spec && !strncmp(spec, stage, n) && spec[n] == ':' && !strcmp(spec + n + 1, when))
		raise(SIGKILL);
#endif
}

static json_t *stage_inputs(const struct mig *m, size_t i)
{
	json_t *in = json_object();
	char keys[128], *save = NULL;
	snprintf(keys, sizeof keys, "%s", inputs[i]);
	for (char *k = strtok_r(keys, " ", &save); k; k = strtok_r(NULL, " ", &save)) {
		json_t *v = json_object_get(m->spec, k);
		if (v && !json_is_null(v))
			json_object_set(in, k, v);
	}
	if (i == 1 && hero_mig_output(m, "provision", "vm_id"))
		json_object_set(in, "vm_id", hero_mig_output(m, "provision", "vm_id"));
	return in;
}

static void sleep_ms(long long ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* One attempt of stage I; 0 when it succeeded. */
static int attempt(struct mig *m, size_t i, struct hero_error *err)
{
	const char *name = hero_mig_stage_name(i);
	json_t *in = stage_inputs(m, i), *prev = json_object_get(hero_mig_stage_row(m, name), "outputs");
	int ret = hero_journal_stage_begin(m->j, m->id, name, in, &m->attempt, err);
	json_decref(in);
	if (ret < 0)
		return ret;
	kill_point(name, "before");
	m->stage = name;
	m->out = json_is_object(prev) ? json_deep_copy(prev) : json_object();
	m->permanent = 0;
	m->deadline = hero_mono_ms() + 1000LL * json_integer_value(json_object_get(json_object_get(m->spec, "timeouts"), name));
	long long t0 = hero_mono_ms();
	say(m, name, "attempt %d", m->attempt);
	ret = fns[i](m, err);
	if (ret == 0) {
		kill_point(name, "after");
		ret = hero_journal_stage_end(m->j, m->id, name, 1, NULL, m->out, NULL, err);
		if (ret == 0)
			say(m, name, "done in %.1f s", (double)(hero_mono_ms() - t0) / 1000.0);
	}
	return ret;
}

static int run_stage(struct mig *m, size_t i, struct hero_error *err)
{
	const char *name = hero_mig_stage_name(i);
	long long max = hero_mig_int(m, "attempts"), backoff = hero_mig_int(m, "backoff_ms");
	for (long long tries = 1;; tries++) {
		int ret = attempt(m, i, err);
		json_t *out = m->out;
		m->out = NULL;
		m->stage = name;
		if (ret == 0) {
			json_decref(out);
			m->stage = NULL;
			return 0;
		}
		int code = -ret;
		int final = m->permanent || (code >= 2 && code <= 7 && code != HERO_EBUSY) || tries >= max;
		struct hero_error jerr = HERO_ERROR_INIT;
		hero_journal_stage_end(m->j, m->id, name, 0, final ? HERO_STAGE_FAILED : HERO_STAGE_PENDING, out,
				       err->msg, &jerr);
		json_decref(out);
		if (final) {
			say(m, name, "failed: %s", err->msg);
			m->stage = NULL;
			return ret;
		}
		long long wait = backoff << (tries - 1 < 10 ? tries - 1 : 10);
		wait = wait > 60000 ? 60000 : wait;
		say(m, name, "attempt %d failed: %s (again in %lld ms)", m->attempt, err->msg, wait);
		sleep_ms(wait);
	}
}

static int load(struct mig *m, struct hero_error *err)
{
	json_decref(m->job);
	m->job = NULL;
	int ret = hero_journal_get(m->j, m->id, &m->job, err);
	if (ret == 0)
		m->spec = json_object_get(m->job, "spec");
	return ret;
}

static int open_job(struct mig *m, struct hero_journal *j, const char *id, const struct hero_mig_env *env,
		    int *lock, struct hero_error *err)
{
	memset(m, 0, sizeof *m);
	m->j = j;
	m->id = id;
	m->env = env;
	m->log_fd = -1;
	int ret = load(m, err);
	if (ret < 0 || (ret = hero_journal_lock(j, id, lock, err)) < 0)
		return ret;
	if (!(m->jobdir = hero_journal_job_dir(j, id, err)))
		return -err->code;
	char *log = hero_join(m->jobdir, "log");
	m->log_fd = log ? open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600) : -1;
	free(log);
	return load(m, err);
}

static void close_job(struct mig *m, int lock)
{
	hero_compute_free(m->compute);
	hero_target_free(m->target);
	json_decref(m->job);
	free(m->jobdir);
	if (m->log_fd >= 0)
		close(m->log_fd);
	if (lock >= 0)
		close(lock);
}

int hero_mig_run(struct hero_journal *j, const char *id, const struct hero_mig_env *env, struct hero_error *err)
{
	struct mig m;
	int lock = -1, ret = open_job(&m, j, id, env, &lock, err);
	if (ret < 0)
		goto out;
	const char *state = json_string_value(json_object_get(m.job, "state"));
	if (!strcmp(state, HERO_JOB_DONE))
		goto out;
	if (!strcmp(state, HERO_JOB_ABORTED)) {
		ret = hero_error(err, HERO_EUSAGE, "job '%s' was aborted", id);
		goto out;
	}
	if ((ret = hero_journal_set_job(j, id, HERO_JOB_RUNNING, NULL, err)) < 0)
		goto out;
	for (size_t i = 0; i < HERO_MIG_NSTAGES; i++) {
		const char *st = hero_mig_stage_state(&m, hero_mig_stage_name(i));
		if (!strcmp(st, HERO_STAGE_DONE) || !strcmp(st, HERO_STAGE_SKIPPED))
			continue;
		if ((ret = run_stage(&m, i, err)) < 0) {
			hero_error_prefix(err, "%s", hero_mig_stage_name(i));
			hero_journal_set_job(j, id, HERO_JOB_FAILED, err->msg, &(struct hero_error)HERO_ERROR_INIT);
			goto out;
		}
		if ((ret = load(&m, err)) < 0)
			goto out;
	}
	ret = hero_journal_set_job(j, id, HERO_JOB_DONE, NULL, err);
	if (ret == 0)
		say(&m, "job", "done");
out:
	close_job(&m, lock);
	return ret;
}

int hero_mig_create(struct hero_journal *j, const json_t *spec, char id[32], struct hero_error *err)
{
	const char *src = json_string_value(json_object_get(spec, "source_root"));
	const char *ctx = json_string_value(json_object_get(spec, "context"));
	const char *kind = json_string_value(json_object_get(spec, "target_kind"));
	char *busy = NULL, target[600];
	unsigned char raw[6];
	int skipped[HERO_MIG_NSTAGES];
	const char *stage_names[HERO_MIG_NSTAGES];
	int ret = hero_journal_find_unfinished(j, src, ctx, &busy, err);
	if (ret < 0)
		return ret;
	if (busy) {
		ret = hero_error(err, HERO_EUSAGE, "job '%s' already moves context '%s' of '%s': resume or abort it",
				 busy, ctx, src);
		free(busy);
		return ret;
	}
	if (sodium_init() < 0)
		return hero_error(err, HERO_EFAIL, "cannot initialise libsodium");
	randombytes_buf(raw, sizeof raw);
	sodium_bin2hex(id, 32, raw, sizeof raw);
	snprintf(target, sizeof target, "%s %s", kind,
		 !strcmp(kind, "dir")  ? json_string_value(json_object_get(spec, "target_dir"))
		 : !strcmp(kind, "ssh") ? json_string_value(json_object_get(spec, "target_host"))
					: json_string_value(json_object_get(spec, "vm_name")));
	for (size_t i = 0; i < HERO_MIG_NSTAGES; i++) {
		stage_names[i] = hero_mig_stage_name(i);
		skipped[i] = hero_mig_stage_skipped(spec, i);
	}
	return hero_journal_create(j, id, ctx, src, target, spec, stage_names, skipped, HERO_MIG_NSTAGES, err);
}

/* ---- abort ----------------------------------------------------------------- */

static int abort_work_dir(struct mig *m)
{
	struct hero_error e = HERO_ERROR_INIT;
	char *pre = hero_mig_prelude(m), *cmd = NULL;
	if (!pre || asprintf(&cmd, "%srm -rf \"$W\"", pre) < 0) {
		free(pre);
		return -1;
	}
	int ret = hero_mig_command(m, "remove the work directory", cmd, -1, NULL, NULL, &e);
	if (ret < 0)
		hero_mig_log(m, "abort: %s (left behind)", e.msg);
	free(cmd);
	free(pre);
	return ret;
}

/* Remove the moved mark at the source if this job wrote it: the source is the
 * tenant's home again. */
static void unmark_moved(struct mig *m)
{
	char *path = NULL;
	if (asprintf(&path, "%s/.hero/moved/%s", hero_mig_str(m, "source_root"), hero_mig_str(m, "context")) < 0)
		return;
	json_t *mark = json_load_file(path, 0, NULL);
	if (json_is_string(json_object_get(mark, "job")) && !strcmp(json_string_value(json_object_get(mark, "job")), m->id) &&
	    unlink(path) == 0)
		hero_mig_log(m, "moved mark '%s' removed: the source serves the context again", path);
	json_decref(mark);
	free(path);
}

int hero_mig_abort(struct hero_journal *j, const char *id, const struct hero_mig_env *env, int force,
		   struct hero_error *err)
{
	struct mig m;
	int lock = -1, ret = open_job(&m, j, id, env, &lock, err);
	if (ret < 0)
		goto out;
	if (!strcmp(json_string_value(json_object_get(m.job, "state")), HERO_JOB_ABORTED))
		goto out;
	if (json_is_true(hero_mig_output(&m, "cleanup", "source_deleted"))) {
		ret = hero_error(err, HERO_EUSAGE, "job '%s' deleted the context at the source: its target holds the only copy,"
						   " abort refused", id);
		goto out;
	}
	if (json_integer_value(json_object_get(hero_mig_stage_row(&m, "cutover"), "attempts")) > 0 && !force) {
		ret = hero_error(err, HERO_EUSAGE,
				 "the cutover of job '%s' has started: the new instance may serve the tenant"
				 " (abort --force deletes it anyway)", id);
		goto out;
	}
	m.stage = "abort";
	m.deadline = hero_mono_ms() + 1000LL * json_integer_value(json_object_get(json_object_get(m.spec, "timeouts"),
										     "provision"));
	say(&m, "abort", "deleting what the job created");
	if (!strcmp(hero_mig_kind(&m), "vm")) {
		if ((ret = hero_mig_delete_created(&m, err)) < 0)
			goto out;
	} else if (strcmp(hero_mig_stage_state(&m, "bootstrap"), HERO_STAGE_PENDING) ||
		   json_integer_value(json_object_get(hero_mig_stage_row(&m, "bootstrap"), "attempts")) > 0) {
		abort_work_dir(&m);
	}
	unmark_moved(&m);
	if ((ret = hero_journal_secret_delete(j, id, err)) < 0 ||
	    (ret = hero_journal_set_job(j, id, HERO_JOB_ABORTED, "aborted", err)) < 0)
		goto out;
	say(&m, "abort", "job aborted");
out:
	close_job(&m, lock);
	return ret;
}
