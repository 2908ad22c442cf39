/* stage_common.c - what the migration runner gives its stages: the job's spec
 * and outputs, the log, the ComputeService client and the target, and commands
 * run there (migrate_internal.h). Below the stages and the runner (migrate.c). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/internal.h"
#include "migrate/migrate_internal.h"

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

json_t *hero_mig_stage_row(const struct mig *m, const char *stage)
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
	return json_object_get(json_object_get(hero_mig_stage_row(m, stage), "outputs"), key);
}

const char *hero_mig_output_str(const struct mig *m, const char *stage, const char *key)
{
	return json_string_value(hero_mig_output(m, stage, key));
}

const char *hero_mig_stage_state(const struct mig *m, const char *stage)
{
	const char *s = json_string_value(json_object_get(hero_mig_stage_row(m, stage), "state"));
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
