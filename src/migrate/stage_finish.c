/* stage_finish.c - reconcile, verify, cutover and cleanup: the target is made
 * to run the declared services, checked, then traffic and the source follow. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "base/internal.h"
#include "base/lock.h"
#include "hero/manifest.h"
#include "hero/probe.h"
#include "hero/reconcile.h"
#include "hero/supervisor.h"
#include "migrate/migrate_internal.h"

/* The spec's vars, then HERO_ROOT and HERO_CONTEXT of the target, NULL-ended;
 * the first definition of a name wins. Free the array and element ROOT_AT. */
static const char **target_vars(const struct mig *m, char **root, char **ctx)
{
	json_t *vars = json_object_get(m->spec, "vars"), *v;
	size_t i, n = json_array_size(vars);
	const char **out = calloc(n + 3, sizeof *out);
	*root = *ctx = NULL;
	if (!out || asprintf(root, "HERO_ROOT=%s", hero_mig_str(m, "target_dir")) < 0 ||
	    asprintf(ctx, "HERO_CONTEXT=%s", hero_mig_str(m, "as")) < 0) {
		free(out);
		return NULL;
	}
	json_array_foreach(vars, i, v) out[i] = json_string_value(v);
	out[n] = *root;
	out[n + 1] = *ctx;
	return out;
}

/* The remote --set options for HERO_ROOT and HERO_CONTEXT, after the spec's. */
static char *remote_sets(const struct mig *m)
{
	char *sets = hero_mig_set_args(m), *ctx = NULL, *q = NULL, *out = NULL;
	if (sets && asprintf(&ctx, "HERO_CONTEXT=%s", hero_mig_str(m, "as")) >= 0 && (q = hero_sh_quote(ctx)) &&
	    asprintf(&out, "%s --set HERO_ROOT=\"$R\" --set %s", sets, q) < 0)
		out = NULL;
	free(sets);
	free(ctx);
	free(q);
	return out;
}

/* ---- reconcile ------------------------------------------------------------ */

static int reconcile_here(struct mig *m, struct hero_error *err)
{
	const char *addr = hero_mig_str(m, "target_supervisor"), *env = getenv("HERO_SUPERVISOR");
	char *root = NULL, *ctx = NULL;
	const char **vars = target_vars(m, &root, &ctx);
	struct hero_sv *sv = NULL;
	struct hero_rc_plan *plan = NULL;
	int ret = vars ? 0 : hero_error(err, HERO_EFAIL, "out of memory");
	struct hero_rc_opts o = { .desired_dir = hero_mig_str(m, "desired"), .vars = vars };
	if (ret == 0)
		ret = hero_sv_new(addr ? addr : env && *env ? env : "unix:/var/run/zinit.sock", 0, &sv, err);
	if (ret == 0)
		ret = hero_rc_plan_new(sv, &o, &plan, err);
	if (ret == 0 && hero_rc_drift(plan))
		ret = hero_rc_apply(sv, plan, &o, NULL, NULL, err);
	if (plan) {
		size_t done = 0;
		for (size_t i = 0; i < plan->n; i++)
			done += plan->actions[i].done;
		json_object_set_new(m->out, "drift", json_integer((json_int_t)hero_rc_drift(plan)));
		json_object_set_new(m->out, "applied", json_integer((json_int_t)done));
		hero_mig_log(m, "reconcile: %zu differences, %zu applied", hero_rc_drift(plan), done);
	}
	hero_rc_plan_free(plan);
	hero_sv_free(sv);
	free(vars);
	free(root);
	free(ctx);
	return ret;
}

static int reconcile_remote(struct mig *m, struct hero_error *err)
{
	struct hero_target *t;
	struct hero_exec x = HERO_EXEC_INIT;
	struct hero_pipe_stats ps;
	const char *sv = hero_mig_str(m, "target_supervisor");
	char *pre = hero_mig_prelude(m), *tool = hero_mig_remote_tool(m, "hero-migrate"), *sets = remote_sets(m);
	char *svq = sv ? hero_sh_quote(sv) : NULL, *cmd = NULL;
	const char *argv[] = { "tar", "-C", hero_mig_str(m, "desired"), "-cf", "-", ".", NULL };
	int ret = hero_mig_target(m, &t, err);
	if (ret == 0 && (!pre || !tool || !sets || (sv && !svq) ||
			 asprintf(&cmd, "%srm -rf \"$W/desired\" && mkdir -p \"$W/desired\" && tar -xf - -C \"$W/desired\""
					" && %s reconcile --desired \"$W/desired\"%s%s%s --json", pre, tool, sets,
				  sv ? " --supervisor " : "", sv ? svq : "") < 0)) {
		cmd = NULL;
		ret = hero_error(err, HERO_EFAIL, "out of memory");
	}
	if (ret == 0) {
		x.label = "reconcile";
		x.log_fd = m->log_fd;
		x.capture = 1;
		x.deadline = m->deadline;
		ret = hero_target_pipe(t, argv, "tar", cmd, &x, 0, &ps, err);
		if (ret < 0 && x.status >= 2 && x.status <= 7)
			ret = -hero_mig_status_code(m, x.status);
	}
	json_t *r = x.out ? json_loads(x.out, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
	if (json_is_object(r)) {
		json_object_set(m->out, "drift", json_object_get(r, "drift"));
		json_object_set_new(m->out, "actions", json_integer((json_int_t)json_array_size(json_object_get(r, "actions"))));
	}
	json_decref(r);
	free(x.out);
	free(pre);
	free(tool);
	free(sets);
	free(svq);
	free(cmd);
	return ret;
}

int hero_stage_reconcile(struct mig *m, struct hero_error *err)
{
	return !strcmp(hero_mig_kind(m), "dir") ? reconcile_here(m, err) : reconcile_remote(m, err);
}

/* ---- verify ----------------------------------------------------------------- */

/* Record the panel's outcome; a failing probe fails the stage (retried: the
 * services may still be starting). */
static int verdict(struct mig *m, size_t passed, json_t *failures, struct hero_error *err)
{
	size_t failed = json_array_size(failures);
	json_object_set_new(m->out, "passed", json_integer((json_int_t)passed));
	json_object_set_new(m->out, "failed", json_integer((json_int_t)failed));
	json_object_set_new(m->out, "failures", failures);
	if (!failed)
		return 0;
	char list[700] = "";
	size_t len = 0;
	json_t *f;
	size_t i;
	json_array_foreach(failures, i, f) {
		int n = snprintf(list + len, sizeof list - len, "%s%s", i ? "; " : "", json_string_value(f));
		if (n < 0 || (size_t)n >= sizeof list - len)
			break;
		len += (size_t)n;
	}
	return hero_error(err, HERO_EFAIL, "%zu of %zu probes failed: %s", failed, failed + passed, list);
}

static int verify_here(struct mig *m, struct hero_error *err)
{
	char *root = NULL, *ctx = NULL;
	const char **vars = target_vars(m, &root, &ctx);
	struct hero_panel *panel = NULL;
	size_t passed = 0;
	json_t *failures = json_array();
	int ret = vars ? hero_panel_new(hero_mig_str(m, "probes"), vars, &panel, err) : hero_error(err, HERO_EFAIL, "out of memory");
	if (ret < 0)
		m->permanent = err->code == HERO_EUSAGE;
	for (size_t i = 0; ret == 0 && i < hero_panel_size(panel); i++) {
		struct hero_probe_result r;
		hero_probe_run(panel, i, &r);
		hero_mig_log(m, "%-4s %s %ld ms %s", r.ok ? "ok" : "FAIL", r.name, r.ms, r.detail);
		if (r.ok)
			passed++;
		else
			json_array_append_new(failures, json_sprintf("%s: %s", r.name, r.detail));
	}
	if (ret == 0) {
		ret = verdict(m, passed, failures, err);
		failures = NULL;
	}
	json_decref(failures);
	hero_panel_free(panel);
	free(vars);
	free(root);
	free(ctx);
	return ret;
}

static int verify_remote(struct mig *m, struct hero_error *err)
{
	char *pre = hero_mig_prelude(m), *tool = hero_mig_remote_tool(m, "hero-migrate"), *sets = remote_sets(m), *cmd = NULL;
	char *out = NULL;
	int status = -1, ret = 0, fd = open(hero_mig_str(m, "probes"), O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		ret = hero_error_errno(err, HERO_EFAIL, errno, "cannot open '%s'", hero_mig_str(m, "probes"));
	else if (!pre || !tool || !sets ||
		 asprintf(&cmd, "%smkdir -p \"$W\" && cat >\"$W/panel.yaml\" && %s verify --probes \"$W/panel.yaml\"%s --json",
			  pre, tool, sets) < 0)
		ret = hero_error(err, HERO_EFAIL, "out of memory");
	if (ret == 0)
		ret = hero_mig_command(m, "verify", cmd, fd, &out, &status, err);
	json_t *r = out ? json_loads(out, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
	if (json_is_object(r) && (ret == 0 || status == 1)) {
		json_t *failures = json_array(), *p;
		size_t i, passed = 0;
		json_array_foreach(json_object_get(r, "probes"), i, p) {
			hero_mig_log(m, "%-4s %s %s", json_is_true(json_object_get(p, "ok")) ? "ok" : "FAIL",
				json_string_value(json_object_get(p, "name")), json_string_value(json_object_get(p, "detail")));
			if (json_is_true(json_object_get(p, "ok")))
				passed++;
			else
				json_array_append_new(failures, json_sprintf("%s: %s", json_string_value(json_object_get(p, "name")),
									     json_string_value(json_object_get(p, "detail"))));
		}
		ret = verdict(m, passed, failures, err);
	} else if (ret < 0 && status >= 2 && status <= 7) {
		ret = -hero_mig_status_code(m, status);
	}
	json_decref(r);
	if (fd >= 0)
		close(fd);
	free(out);
	free(pre);
	free(tool);
	free(sets);
	free(cmd);
	return ret;
}

int hero_stage_verify(struct mig *m, struct hero_error *err)
{
	return !strcmp(hero_mig_kind(m), "dir") ? verify_here(m, err) : verify_remote(m, err);
}

/* ---- cutover ---------------------------------------------------------------- */

/* Write ROOT/.hero/moved/CTX atomically. */
static int write_mark(struct mig *m, const char *path, struct hero_error *err)
{
	char when[32], *text = NULL;
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_t *mark = json_pack("{ss ss ss ss ss? ss? ss}", "job", m->id, "context", hero_mig_str(m, "context"), "as",
				 hero_mig_str(m, "as"), "target", hero_mig_kind(m), "archive_id",
				 hero_mig_output_str(m, "transfer", "archive_id"), "gateway", hero_mig_str(m, "gateway"), "moved_at", when);
	struct hero_atomic a = HERO_ATOMIC_INIT;
	int ret = 0;
	if (!mark || !(text = json_dumps(mark, JSON_INDENT(2)))) {
		ret = hero_error(err, HERO_EFAIL, "out of memory");
		goto out;
	}
	if ((ret = hero_atomic_open(&a, path, 0644, 0, err)) < 0 ||
	    (ret = hero_write_all(a.fd, text, strlen(text), a.tmp, err)) < 0 ||
	    (ret = hero_write_all(a.fd, "\n", 1, a.tmp, err)) < 0)
		goto out;
	ret = hero_atomic_commit(&a, err);
out:
	hero_atomic_release(&a);
	free(text);
	json_decref(mark);
	return ret;
}

static char *mark_path(const struct mig *m)
{
	char *p = NULL;
	if (asprintf(&p, "%s/.hero/moved/%s", hero_mig_str(m, "source_root"), hero_mig_str(m, "context")) < 0)
		return NULL;
	return p;
}

int hero_stage_cutover(struct mig *m, struct hero_error *err)
{
	char *path = NULL;
	int ret;
	if (strcmp(hero_mig_stage_state(m, "verify"), HERO_STAGE_DONE) || json_integer_value(hero_mig_output(m, "verify", "failed")) ||
	    !hero_mig_output(m, "verify", "passed")) {
		m->permanent = 1;
		return hero_error(err, HERO_EFAIL, "refused: verify has not passed on the target");
	}
	if (!strcmp(hero_mig_kind(m), "vm") && hero_mig_str(m, "gateway") && (ret = hero_mig_repoint_gateway(m, err)) < 0)
		return ret;
	if (!(path = mark_path(m)))
		return hero_error(err, HERO_EFAIL, "out of memory");
	int rootfd = open(hero_mig_str(m, "source_root"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ret = rootfd < 0 ? hero_error_errno(err, HERO_EFAIL, errno, "cannot open '%s'", hero_mig_str(m, "source_root"))
			 : hero_mkdirs_at(rootfd, ".hero/moved", err);
	if (rootfd >= 0)
		close(rootfd);
	if (ret == 0)
		ret = write_mark(m, path, err);
	if (ret == 0) {
		json_object_set_new(m->out, "moved_mark", json_string(path));
		hero_mig_log(m, "context '%s' marked as moved at the source (%s)", hero_mig_str(m, "context"), path);
	}
	free(path);
	return ret;
}

/* ---- cleanup: the job's leftovers, and the source only when asked ------------- */

static int delete_rows(const char *db_path, const char *col, const char *ctx, long long *rows, struct hero_error *err)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *tables = NULL;
	int ret = 0;
	if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, NULL) != SQLITE_OK) {
		ret = hero_error(err, HERO_EFAIL, "cannot open '%s': %s", db_path, sqlite3_errmsg(db));
		goto out;
	}
	sqlite3_busy_timeout(db, 10000);
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT m.name FROM sqlite_schema m JOIN pragma_table_info(m.name) c"
				   " WHERE m.type = 'table' AND c.name = ?", -1, &tables, NULL) != SQLITE_OK ||
	    sqlite3_bind_text(tables, 1, col, -1, SQLITE_TRANSIENT) != SQLITE_OK) {
		ret = hero_error(err, HERO_EFAIL, "'%s': %s", db_path, sqlite3_errmsg(db));
		goto out;
	}
	while (ret == 0 && sqlite3_step(tables) == SQLITE_ROW) {
		char *sql = sqlite3_mprintf("DELETE FROM \"%w\" WHERE \"%w\" = ?", sqlite3_column_text(tables, 0), col);
		sqlite3_stmt *del = NULL;
		if (!sql || sqlite3_prepare_v2(db, sql, -1, &del, NULL) != SQLITE_OK ||
		    sqlite3_bind_text(del, 1, ctx, -1, SQLITE_TRANSIENT) != SQLITE_OK || sqlite3_step(del) != SQLITE_DONE)
			ret = hero_error(err, HERO_EFAIL, "'%s': %s", db_path, sqlite3_errmsg(db));
		else
			*rows += sqlite3_changes(db);
		sqlite3_finalize(del);
		sqlite3_free(sql);
	}
	if (ret == 0 && sqlite3_finalize(tables) == SQLITE_OK && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		ret = hero_error(err, HERO_EFAIL, "'%s': cannot commit: %s", db_path, sqlite3_errmsg(db));
	tables = NULL;
out:
	sqlite3_finalize(tables);
	if (ret < 0 && db)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(db);
	return ret;
}

/* REL (the expanded path of a per-context entry whose template is TMPL) cut
 * after the component that holds {context}: the context's own directory. */
static void context_dir(const char *tmpl, char *rel)
{
	const char *at = strstr(tmpl, "{context}");
	size_t parts = 0;
	for (const char *p = tmpl; at && p < at; p++)
		parts += *p == '/';
	for (char *p = rel; *p; p++)
		if (*p == '/' && parts-- == 0) {
			*p = '\0';
			return;
		}
}

/* Remove context CTX from the source: its directories (whole) and its rows. */
static int delete_context(struct mig *m, struct hero_error *err)
{
	struct hero_inventory inv = HERO_INVENTORY_INIT;
	const char *root = hero_mig_str(m, "source_root"), *ctx = hero_mig_str(m, "context");
	long long paths = 0, rows = 0;
	int lock = -1, rootfd = -1, ret;
	if ((ret = hero_inventory_load(&inv, hero_mig_str(m, "manifests"), err)) < 0 ||
	    (ret = hero_lock_instance(root, &lock, err)) < 0)
		goto out;
	if ((rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		ret = hero_error_errno(err, HERO_EFAIL, errno, "cannot open '%s'", root);
		goto out;
	}
	for (size_t i = 0; ret == 0 && i < inv.n; i++) {
		const struct hero_service *s = &inv.services[i];
		for (size_t k = 0; ret == 0 && k < s->n_state; k++) {
			const struct hero_state *st = &s->state[k];
			char *rel = NULL, *full = NULL;
			if (st->type == HERO_STATE_SECRETS || (ret = hero_state_path(st, ctx, &rel, err)) < 0)
				continue;
			size_t n = strlen(rel);
			while (n > 1 && rel[n - 1] == '/')
				rel[--n] = '\0';
			if (hero_state_per_context(st)) {
				context_dir(st->path, rel);
				paths += faccessat(rootfd, rel, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
				ret = hero_rmtree_at(rootfd, rel, err);
			} else if (st->context_column && st->type == HERO_STATE_SQLITE && (full = hero_join(root, rel)) &&
				   access(full, F_OK) == 0) {
				ret = delete_rows(full, st->context_column, ctx, &rows, err);
			}
			free(full);
			free(rel);
		}
	}
	json_object_set_new(m->out, "deleted_paths", json_integer(paths));
	json_object_set_new(m->out, "deleted_rows", json_integer(rows));
	if (ret == 0)
		hero_mig_log(m, "context '%s' deleted at the source: %lld paths, %lld rows", ctx, paths, rows);
out:
	if (rootfd >= 0)
		close(rootfd);
	if (lock >= 0)
		close(lock);
	hero_inventory_release(&inv);
	return ret;
}

int hero_stage_cleanup(struct mig *m, struct hero_error *err)
{
	char *pre = hero_mig_prelude(m), *cmd = NULL, *mark = mark_path(m);
	int ret = 0;
	if (!pre || !mark || asprintf(&cmd, "%srm -rf \"$W\"", pre) < 0) {
		cmd = NULL;
		ret = hero_error(err, HERO_EFAIL, "out of memory");
	}
	if (ret == 0)
		ret = hero_mig_command(m, "remove the work directory", cmd, -1, NULL, NULL, err);
	if (ret == 0 && hero_mig_bool(m, "delete_source")) {
		if (access(mark, F_OK) != 0) {
			m->permanent = 1;
			ret = hero_error(err, HERO_EFAIL, "refused: '%s' is not marked as moved", hero_mig_str(m, "context"));
		} else {
			ret = delete_context(m, err);
		}
	}
	json_object_set_new(m->out, "source_deleted", json_boolean(ret == 0 && hero_mig_bool(m, "delete_source")));
	free(pre);
	free(cmd);
	free(mark);
	return ret;
}
