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

#include "internal.h"
#include "migrate_internal.h"

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

/* ---- accessors ------------------------------------------------------------ */

const char *hero_mig_str(const struct mig *m, const char *key)
{
	return json_string_value(json_object_get(m->spec, key));
}

long long hero_mig_int(const struct mig *m, const char *key)
{
	return (long long)json_integer_value(json_object_get(m->spec, key));
}

int hero_mig_bool(const struct mig *m, const char *key)
{
	return json_is_true(json_object_get(m->spec, key));
}

static json_t *stage_row(const struct mig *m, const char *stage)
{
	json_t *s;
	size_t i;
	json_array_foreach(json_object_get(m->job, "stages"), i, s)
		if (!strcmp(json_string_value(json_object_get(s, "name")), stage))
			return s;
	return NULL;
}

json_t *hero_mig_output(const struct mig *m, const char *stage, const char *key)
{
	if (m->stage && !strcmp(stage, m->stage))
		return json_object_get(m->out, key);
	return json_object_get(json_object_get(stage_row(m, stage), "outputs"), key);
}

const char *hero_mig_output_str(const struct mig *m, const char *stage, const char *key)
{
	return json_string_value(hero_mig_output(m, stage, key));
}

const char *hero_mig_stage_state(const struct mig *m, const char *stage)
{
	const char *s = json_string_value(json_object_get(stage_row(m, stage), "state"));
	return s ? s : "";
}

const char *hero_mig_kind(const struct mig *m)
{
	return hero_mig_str(m, "target_kind");
}

int hero_mig_record(struct mig *m, struct hero_error *err)
{
	return hero_journal_stage_output(m->j, m->id, m->stage, m->out, err);
}

void hero_mig_log(struct mig *m, const char *fmt, ...)
{
	char line[1536], when[32];
	struct tm tm;
	time_t t = time(NULL);
	va_list ap;
	if (m->log_fd < 0)
		return;
	gmtime_r(&t, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	dprintf(m->log_fd, "%s %s: %s\n", when, m->stage ? m->stage : "job", line);
}

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

/* ---- compute and target ---------------------------------------------------- */

int hero_mig_compute(struct mig *m, struct hero_compute **c, struct hero_error *err)
{
	if (!m->compute) {
		int ret = hero_compute_new(hero_mig_str(m, "compute"), &m->compute, err);
		if (ret < 0)
			return ret;
		int poll = (int)hero_mig_int(m, "poll_ms");
		hero_compute_set_poll(m->compute, poll, poll * 15 < 15000 ? poll * 15 : 15000);
	}
	*c = m->compute;
	return 0;
}

static const char *target_host(const struct mig *m)
{
	const char *h = hero_mig_str(m, "target_host");
	return h ? h : hero_mig_output_str(m, "wait", "mycelium_ip");
}

int hero_mig_target(struct mig *m, struct hero_target **t, struct hero_error *err)
{
	int ret = 0;
	if (m->target) {
		*t = m->target;
		return 0;
	}
	if (!strcmp(hero_mig_kind(m), "dir")) {
		char *root = NULL;
		if (asprintf(&root, "HERO_ROOT=%s", hero_mig_str(m, "target_dir")) < 0)
			return hero_error(err, HERO_EFAIL, "out of memory");
		const char *env[] = { root, NULL };
		ret = hero_target_local(env, &m->target, err);
		free(root);
	} else {
		char *kh = hero_join(m->jobdir, "known_hosts"), *ctl = hero_join(m->jobdir, "ssh.sock");
		struct hero_ssh_opts o = { .host = target_host(m), .user = hero_mig_str(m, "ssh_user"),
					   .port = (int)hero_mig_int(m, "ssh_port"), .identity = m->env ? m->env->identity : NULL,
					   .known_hosts = kh, .connect_timeout = (int)hero_mig_int(m, "ssh_connect_timeout"),
					   .control_path = ctl };
		if (!o.host)
			ret = hero_error(err, HERO_EFAIL, "the target's address is not known yet (stage wait has not run)");
		else
			ret = kh ? hero_target_ssh(&o, &m->target, err) : hero_error(err, HERO_EFAIL, "out of memory");
		free(kh);
		free(ctl);
	}
	if (ret == 0)
		*t = m->target;
	return ret;
}

char *hero_mig_prelude(const struct mig *m)
{
	const char *root = !strcmp(hero_mig_kind(m), "dir") ? hero_mig_str(m, "target_dir") : hero_mig_str(m, "target_root");
	char *q = root ? hero_sh_quote(root) : NULL, *p = NULL;
	if (root && !q)
		return NULL;
	if (asprintf(&p, "R=%s; W=\"$R/.hero/migrate/%s\"; ", q ? q : "\"${HERO_ROOT:-$HOME/hero}\"", m->id) < 0)
		p = NULL;
	free(q);
	return p;
}

char *hero_mig_local_tool(const struct mig *m, const char *name)
{
	const char *dir = m->env ? m->env->tools_dir : NULL;
	char *p = dir ? hero_join(dir, name) : NULL;
	if (p && access(p, X_OK) == 0)
		return p;
	free(p);
	return strdup(name);
}

char *hero_mig_remote_tool(const struct mig *m, const char *name)
{
	if (!strcmp(hero_mig_kind(m), "dir")) {
		char *p = hero_mig_local_tool(m, name), *q = p ? hero_sh_quote(p) : NULL;
		free(p);
		return q;
	}
	const char *bin = hero_mig_str(m, "remote_bin");
	char *p = bin ? hero_join(bin, name) : strdup(name), *q = p ? hero_sh_quote(p) : NULL;
	free(p);
	return q;
}

char *hero_mig_set_args(const struct mig *m)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	json_t *v;
	size_t i;
	if (!f)
		return NULL;
	json_array_foreach(json_object_get(m->spec, "vars"), i, v) {
		char *q = hero_sh_quote(json_string_value(v));
		fprintf(f, " --set %s", q ? q : "''");
		free(q);
	}
	fclose(f);
	return buf;
}

int hero_mig_command(struct mig *m, const char *label, const char *cmd, int in_fd, char **out, int *status,
	    struct hero_error *err)
{
	struct hero_target *t;
	struct hero_exec x = HERO_EXEC_INIT;
	int ret = hero_mig_target(m, &t, err);
	if (ret < 0)
		return ret;
	x.label = label;
	x.in_fd = in_fd;
	x.log_fd = m->log_fd;
	x.capture = out != NULL;
	x.deadline = m->deadline;
	hero_mig_log(m, "%s on %s", label, hero_target_name(t));
	ret = hero_target_run(t, cmd, &x, err);
	if (status)
		*status = x.status;
	if (out)
		*out = x.out;
	else
		free(x.out);
	return ret;
}

int hero_mig_status_code(struct mig *m, int status)
{
	if (status >= 2 && status <= 7 && status != HERO_EBUSY) {
		m->permanent = 1;
		return status;
	}
	return HERO_EFAIL;
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
	json_t *in = stage_inputs(m, i), *prev = json_object_get(stage_row(m, name), "outputs");
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
	if (json_integer_value(json_object_get(stage_row(&m, "cutover"), "attempts")) > 0 && !force) {
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
		   json_integer_value(json_object_get(stage_row(&m, "bootstrap"), "attempts")) > 0) {
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
