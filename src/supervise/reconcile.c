/* reconcile.c - diff declared service files against the supervisor and apply it. */
#include "hero/reconcile.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "supervise/svcyaml.h"

static const char *const kind_names[] = {
	[HERO_RC_ADD] = "add",	       [HERO_RC_CHANGE] = "change", [HERO_RC_REMOVE] = "remove",
	[HERO_RC_START] = "start",     [HERO_RC_CONFLICT] = "conflict",
};

const char *hero_rc_kind_name(enum hero_rc_kind k)
{
	return k <= HERO_RC_CONFLICT ? kind_names[k] : "?";
}

int hero_rc_owner_valid(const char *owner)
{
	size_t n = owner ? strlen(owner) : 0;
	if (n == 0 || n > 64)
		return 0;
	for (const char *p = owner; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("._-", *p))
			return 0;
	return 1;
}

/* ---- desired state ------------------------------------------------------ */

static int has_suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a > b && !strcmp(s + a - b, suf);
}

/* Canonical definition of one desired file, with the owner mark added. */
static int load_one(const char *path, const char *name, const char *owner, const struct hero_vars *vars,
		    json_t **out, struct hero_error *err)
{
	json_t *raw = NULL, *canon = NULL;
	int rc = hero_yaml_load(path, vars, &raw, err);
	if (rc < 0)
		return rc;
	if ((rc = hero_svc_canon(name, raw, 1, &canon, err)) < 0) {
		hero_error_prefix(err, "%s", path);
		goto out;
	}
	json_t *env = json_object_get(canon, "env");
	if (json_object_get(env, HERO_RC_OWNER_ENV)) {
		rc = hero_error(err, HERO_EUSAGE, "%s: '%s' is set by reconcile, not by service files", path,
				HERO_RC_OWNER_ENV);
		goto out;
	}
	if (!env) {
		env = json_object();
		json_object_set_new(canon, "env", env);
	}
	json_object_set_new(env, HERO_RC_OWNER_ENV, json_string(owner));
	*out = canon;
	canon = NULL;
	rc = 0;
out:
	json_decref(raw);
	json_decref(canon);
	return rc;
}

int hero_rc_load_desired(const char *dir, const char *owner, const char *const *vars, json_t **out,
			 struct hero_error *err)
{
	struct hero_vars hv = { vars, 1, NULL };
	struct dirent **ents = NULL;
	json_t *all = json_object();
	int rc = 0, n = scandir(dir, &ents, NULL, alphasort);
	if (n < 0) {
		json_decref(all);
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot read desired directory '%s'", dir);
	}
	for (int i = 0; i < n && rc == 0; i++) {
		const char *f = ents[i]->d_name;
		size_t sl = has_suffix(f, ".yaml") ? 5 : has_suffix(f, ".yml") ? 4 : 0;
		char name[256], path[4096];
		if (!sl || f[0] == '.')
			continue;
		int m = snprintf(path, sizeof path, "%s/%s", dir, f);
		snprintf(name, sizeof name, "%.*s", (int)(strlen(f) - sl), f);
		json_t *def = NULL;
		if (m < 0 || (size_t)m >= sizeof path)
			rc = hero_error(err, HERO_EFAIL, "path too long in '%s'", dir);
		else if (!hero_svc_name_valid(name))
			rc = hero_error(err, HERO_EUSAGE, "%s: '%s' is not a valid service name", path, name);
		else if (json_object_get(all, name))
			rc = hero_error(err, HERO_EUSAGE, "%s: service '%s' is declared twice", path, name);
		else if ((rc = load_one(path, name, owner, &hv, &def, err)) == 0)
			json_object_set_new(all, name, def);
	}
	for (int i = 0; i < n; i++)
		free(ents[i]);
	free(ents);
	if (rc < 0) {
		json_decref(all);
		return rc;
	}
	*out = all;
	return 0;
}

/* ---- actual state ------------------------------------------------------- */

static int owned_by(const json_t *config, const char *owner)
{
	const char *mark = json_string_value(json_object_get(json_object_get(config, "env"), HERO_RC_OWNER_ENV));
	return mark && !strcmp(mark, owner);
}

/* Fill ENTRY with NAME's definition (if a file exists) and ownership. Returns
 * 1 when a file was found, 0 when not, negative on error. */
static int read_config(struct hero_sv *sv, const char *name, const char *owner, json_t *entry,
		       struct hero_error *err)
{
	json_t *raw = NULL, *canon = NULL;
	struct hero_error cerr = HERO_ERROR_INIT;
	int rc = hero_sv_get(sv, name, &raw, err);
	if (rc < 0 && hero_sv_last_code(sv) == HERO_SV_E_NOT_FOUND) {
		hero_error_clear(err);
		return 0;
	}
	if (rc < 0)
		return rc;
	if (hero_svc_canon(name, raw, 0, &canon, &cerr) < 0) {
		/* a hand-broken file: keep it raw, it will differ from any declaration */
		json_object_set_new(entry, "invalid", json_string(cerr.msg));
		canon = json_incref(raw);
	}
	json_object_set_new(entry, "owned", json_boolean(owned_by(canon, owner)));
	json_object_set_new(entry, "config", canon);
	json_decref(raw);
	return 1;
}

static int read_status(struct hero_sv *sv, const char *name, json_t *entry, struct hero_error *err)
{
	struct hero_sv_status st;
	int rc = hero_sv_status(sv, name, &st, err);
	if (rc < 0)
		return rc;
	json_object_set_new(entry, "state", json_string(st.state_raw));
	json_object_set_new(entry, "target", json_string(st.target_up ? "Up" : "Down"));
	json_object_set_new(entry, "pid", json_integer(st.pid));
	return 0;
}

static json_t *new_entry(int monitored)
{
	return json_pack("{sbsbsn}", "monitored", monitored, "owned", 0, "config");
}

int hero_rc_read_actual(struct hero_sv *sv, const char *owner, const json_t *desired, json_t **out,
			struct hero_error *err)
{
	json_t *list = NULL, *all = json_object(), *v;
	const char *name;
	int rc = hero_sv_list(sv, &list, err);
	if (rc < 0)
		goto out;
	json_object_foreach(list, name, v) {
		json_t *e = new_entry(1);
		json_object_set_new(all, name, e);
		if ((rc = read_config(sv, name, owner, e, err)) < 0 || (rc = read_status(sv, name, e, err)) < 0)
			goto fail;
	}
	/* a file written but never monitored (an interrupted run) still counts */
	json_object_foreach((json_t *)desired, name, v) {
		if (json_object_get(all, name))
			continue;
		json_t *e = new_entry(0);
		if ((rc = read_config(sv, name, owner, e, err)) < 0) {
			json_decref(e);
			goto fail;
		}
		if (rc == 1)
			json_object_set_new(all, name, e);
		else
			json_decref(e);
	}
	*out = all;
	all = NULL;
	rc = 0;
	goto out;
fail:
	hero_error_prefix(err, "reading service '%s'", name);
out:
	json_decref(all);
	json_decref(list);
	return rc;
}

/* ---- ordering ----------------------------------------------------------- */

static int placed(const json_t *order, const char *name)
{
	size_t i;
	json_t *v;
	json_array_foreach(order, i, v) {
		if (!strcmp(json_string_value(v), name))
			return 1;
	}
	return 0;
}

static int deps_placed(const json_t *services, const json_t *def, const json_t *order)
{
	size_t i;
	json_t *d;
	json_array_foreach(json_object_get(def, "after"), i, d) {
		const char *dep = json_string_value(d);
		if (dep && json_object_get(services, dep) && !placed(order, dep))
			return 0;
	}
	return 1;
}

int hero_rc_order(const json_t *services, json_t **out, struct hero_error *err)
{
	json_t *order = json_array();
	size_t total = json_object_size(services);
	while (json_array_size(order) < total) {
		const char *best = NULL, *name;
		json_t *def;
		json_object_foreach((json_t *)services, name, def) {
			if (!placed(order, name) && deps_placed(services, def, order) &&
			    (!best || strcmp(name, best) < 0))
				best = name;
		}
		if (!best) {
			char cycle[512] = "";
			json_object_foreach((json_t *)services, name, def) {
				size_t len = strlen(cycle);
				if (!placed(order, name) && len + 2 < sizeof cycle)
					snprintf(cycle + len, sizeof cycle - len, "%s%s", len ? ", " : "", name);
			}
			json_decref(order);
			return hero_error(err, HERO_EUSAGE, "dependency cycle among services: %s", cycle);
		}
		json_array_append_new(order, json_string(best));
	}
	*out = order;
	return 0;
}

/* ---- diff --------------------------------------------------------------- */

static int cmp_json_str(const void *a, const void *b)
{
	return strcmp(json_string_value(*(json_t *const *)a), json_string_value(*(json_t *const *)b));
}

/* Join the names in the object KEYS, sorted, with ", ". */
static char *join_sorted(json_t *keys)
{
	size_t n = json_object_size(keys), i = 0, len = 0;
	json_t **v = calloc(n + 1, sizeof *v), *x;
	const char *k;
	char *out = NULL;
	FILE *f = v ? open_memstream(&out, &len) : NULL;
	if (!f) {
		free(v);
		return NULL;
	}
	json_object_foreach(keys, k, x) v[i++] = json_string(k);
	qsort(v, n, sizeof *v, cmp_json_str);
	for (i = 0; i < n; i++) {
		fprintf(f, "%s%s", i ? ", " : "", json_string_value(v[i]));
		json_decref(v[i]);
	}
	fclose(f);
	free(v);
	return out;
}

/* Mark in OUT every key of A or B whose values differ, as PREFIX + key. */
static void differing(const json_t *a, const json_t *b, const char *prefix, json_t *out)
{
	const char *k;
	json_t *v;
	char name[300];
	for (int side = 0; side < 2; side++) {
		json_object_foreach((json_t *)(side ? b : a), k, v) {
			const json_t *x = json_object_get(a, k), *y = json_object_get(b, k);
			if (x && y && json_equal((json_t *)x, (json_t *)y))
				continue;
			if (!*prefix && !strcmp(k, "env")) {
				json_t *empty = json_object();
				differing(x ? x : empty, y ? y : empty, "env.", out);
				json_decref(empty);
				continue;
			}
			snprintf(name, sizeof name, "%s%s", prefix, k);
			json_object_set_new(out, name, json_true());
		}
	}
}

/* The keys whose values differ, "env.NAME" for environment entries. Values
 * are never shown: environments hold secrets. */
static char *changed_fields(const json_t *want, const json_t *have)
{
	json_t *keys = json_object();
	if (json_is_object(want) && json_is_object(have))
		differing(want, have, "", keys);
	char *out = json_object_size(keys) ? join_sorted(keys) : strdup("definition");
	json_decref(keys);
	return out;
}

static int push(struct hero_rc_plan *p, enum hero_rc_kind kind, const char *name, char *detail)
{
	struct hero_rc_action *a = realloc(p->actions, (p->n + 1) * sizeof *a);
	if (!a) {
		free(detail);
		return -1;
	}
	p->actions = a;
	a[p->n] = (struct hero_rc_action){ kind, strdup(name), detail, 0, NULL };
	if (!a[p->n].name)
		return -1;
	p->n++;
	return 0;
}

static int diff_declared(struct hero_rc_plan *p, const char *name, int adopt)
{
	json_t *want = json_object_get(p->desired, name);
	json_t *have = json_object_get(p->actual, name);
	if (!have)
		return push(p, HERO_RC_ADD, name, NULL);
	if (!json_is_true(json_object_get(have, "owned")) && !adopt)
		return push(p, HERO_RC_CONFLICT, name, strdup("exists and is not owned"));
	json_t *config = json_object_get(have, "config");
	if (!json_equal(want, config))
		return push(p, HERO_RC_CHANGE, name, changed_fields(want, config));
	if (!json_is_true(json_object_get(have, "monitored")))
		return push(p, HERO_RC_START, name, strdup("not monitored"));
	const char *target = json_string_value(json_object_get(have, "target"));
	if (target && strcmp(target, "Up"))
		return push(p, HERO_RC_START, name, strdup("target Down"));
	return json_array_append_new(p->unchanged, json_string(name));
}

/* Removals: owned services no longer declared, dependents first. */
static int diff_removed(struct hero_rc_plan *p, const char *owner, struct hero_error *err)
{
	json_t *gone = json_object(), *order = NULL, *v;
	const char *name;
	int rc = 0;
	json_object_foreach(p->actual, name, v) {
		if (json_object_get(p->desired, name))
			continue;
		if (owned_by(json_object_get(v, "config"), owner))
			json_object_set(gone, name, json_object_get(v, "config"));
		else
			json_array_append_new(p->unowned, json_string(name));
	}
	if ((rc = hero_rc_order(gone, &order, err)) < 0) {
		/* a cycle among leftovers should not block their removal: go alphabetically */
		hero_error_clear(err);
		order = json_array();
		json_object_foreach(gone, name, v) json_array_append_new(order, json_string(name));
		rc = 0;
	}
	for (size_t i = json_array_size(order); i > 0 && rc == 0; i--)
		if (push(p, HERO_RC_REMOVE, json_string_value(json_array_get(order, i - 1)), NULL))
			rc = hero_error(err, HERO_EFAIL, "out of memory");
	json_decref(order);
	json_decref(gone);
	return rc;
}

int hero_rc_diff(const json_t *desired, const json_t *actual, const char *owner, int adopt,
		 struct hero_rc_plan **out, struct hero_error *err)
{
	struct hero_rc_plan *p = calloc(1, sizeof *p);
	json_t *order = NULL;
	int rc = -HERO_EFAIL;
	if (!p)
		return hero_error(err, HERO_EFAIL, "out of memory");
	p->desired = json_incref((json_t *)desired);
	p->actual = json_incref((json_t *)actual);
	p->unchanged = json_array();
	p->unowned = json_array();
	if ((rc = diff_removed(p, owner, err)) < 0 || (rc = hero_rc_order(desired, &order, err)) < 0)
		goto fail;
	size_t i;
	json_t *v;
	json_array_foreach(order, i, v) {
		if (diff_declared(p, json_string_value(v), adopt) < 0) {
			rc = hero_error(err, HERO_EFAIL, "out of memory");
			goto fail;
		}
	}
	/* conflicts are reported last: they are never applied */
	for (size_t a = 0, moved = 0; a + moved < p->n;) {
		if (p->actions[a].kind != HERO_RC_CONFLICT) {
			a++;
			continue;
		}
		struct hero_rc_action c = p->actions[a];
		memmove(&p->actions[a], &p->actions[a + 1], (p->n - a - 1) * sizeof c);
		p->actions[p->n - 1] = c;
		moved++;
	}
	json_decref(order);
	*out = p;
	return 0;
fail:
	json_decref(order);
	hero_rc_plan_free(p);
	return rc;
}

size_t hero_rc_drift(const struct hero_rc_plan *plan)
{
	return plan ? plan->n : 0;
}

void hero_rc_plan_free(struct hero_rc_plan *plan)
{
	if (!plan)
		return;
	for (size_t i = 0; i < plan->n; i++) {
		free(plan->actions[i].name);
		free(plan->actions[i].detail);
		free(plan->actions[i].error);
	}
	free(plan->actions);
	json_decref(plan->desired);
	json_decref(plan->actual);
	json_decref(plan->unchanged);
	json_decref(plan->unowned);
	free(plan);
}

int hero_rc_plan_new(struct hero_sv *sv, const struct hero_rc_opts *opts, struct hero_rc_plan **out,
		     struct hero_error *err)
{
	const char *owner = opts->owner ? opts->owner : HERO_RC_DEFAULT_OWNER;
	json_t *desired = NULL, *actual = NULL;
	if (!hero_rc_owner_valid(owner))
		return hero_error(err, HERO_EUSAGE, "invalid owner id '%s'", owner);
	int rc = hero_rc_load_desired(opts->desired_dir, owner, opts->vars, &desired, err);
	if (rc == 0)
		rc = hero_rc_read_actual(sv, owner, desired, &actual, err);
	if (rc == 0)
		rc = hero_rc_diff(desired, actual, owner, opts->adopt, out, err);
	json_decref(desired);
	json_decref(actual);
	return rc;
}

/* ---- apply -------------------------------------------------------------- */

static int stop_timeout(const struct hero_rc_plan *p, const char *name, const struct hero_rc_opts *o)
{
	if (o && o->stop_timeout_ms > 0)
		return o->stop_timeout_ms;
	json_t *cfg = json_object_get(json_object_get(p->actual, name), "config");
	json_t *t = json_object_get(cfg, "shutdown_timeout");
	long secs = json_is_integer(t) ? (long)json_integer_value(t) : 10;
	return (int)(secs * 1000 + 1000);
}

/* Stop a monitored service, wait until it is down and forget it. */
static int take_down(struct hero_sv *sv, const struct hero_rc_plan *p, const char *name,
		     const struct hero_rc_opts *o, struct hero_error *err)
{
	json_t *have = json_object_get(p->actual, name);
	if (!json_is_true(json_object_get(have, "monitored")))
		return 0;
	int rc = hero_sv_stop(sv, name, err);
	if (rc == 0)
		rc = hero_sv_wait_down(sv, name, stop_timeout(p, name, o), err);
	if (rc == 0)
		rc = hero_sv_forget(sv, name, err);
	return rc;
}

static int delete_file(struct hero_sv *sv, const char *name, struct hero_error *err)
{
	int rc = hero_sv_delete(sv, name, err);
	if (rc < 0 && hero_sv_last_code(sv) == HERO_SV_E_NOT_FOUND) {
		hero_error_clear(err);
		rc = 0;
	}
	return rc;
}

static int apply_one(struct hero_sv *sv, const struct hero_rc_plan *p, const struct hero_rc_action *a,
		     const struct hero_rc_opts *o, struct hero_error *err)
{
	json_t *want = json_object_get(p->desired, a->name);
	json_t *have = json_object_get(p->actual, a->name);
	int rc = 0;
	switch (a->kind) {
	case HERO_RC_ADD:
		if ((rc = hero_sv_create(sv, a->name, want, err)) == 0)
			rc = hero_sv_monitor(sv, a->name, err);
		return rc;
	case HERO_RC_CHANGE:
		if ((rc = take_down(sv, p, a->name, o, err)) == 0 && (rc = delete_file(sv, a->name, err)) == 0 &&
		    (rc = hero_sv_create(sv, a->name, want, err)) == 0)
			rc = hero_sv_monitor(sv, a->name, err);
		return rc;
	case HERO_RC_REMOVE:
		if ((rc = take_down(sv, p, a->name, o, err)) == 0)
			rc = delete_file(sv, a->name, err);
		return rc;
	case HERO_RC_START:
		if (!json_is_true(json_object_get(have, "monitored")))
			return hero_sv_monitor(sv, a->name, err);
		return hero_sv_start(sv, a->name, err);
	default:
		return 0;
	}
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until service A runs (Success for a oneshot), or fail at DEADLINE. */
static int wait_running(struct hero_sv *sv, const struct hero_rc_plan *p, const struct hero_rc_action *a, long deadline,
			struct hero_error *err)
{
	int oneshot = json_is_true(json_object_get(json_object_get(p->desired, a->name), "oneshot"));
	struct hero_sv_status st;
	for (;;) {
		if (hero_sv_status(sv, a->name, &st, err) < 0)
			return -err->code;
		if (st.state == HERO_SV_RUNNING || (oneshot && st.state == HERO_SV_SUCCESS))
			return 0;
		if (now_ms() >= deadline)
			return hero_error(err, HERO_EFAIL, "service '%s' is not running after applying (state %s)", a->name,
					  st.state_raw);
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}

int hero_rc_apply(struct hero_sv *sv, struct hero_rc_plan *plan, const struct hero_rc_opts *opts,
		  hero_rc_progress_fn progress, void *arg, struct hero_error *err)
{
	size_t failed = 0;
	const char *first = NULL;
	for (size_t i = 0; i < plan->n; i++) {
		struct hero_rc_action *a = &plan->actions[i];
		if (a->kind == HERO_RC_CONFLICT)
			continue;
		struct hero_error one = HERO_ERROR_INIT;
		if (apply_one(sv, plan, a, opts, &one) < 0) {
			a->error = strdup(one.msg[0] ? one.msg : "failed");
			failed++;
			first = first ? first : a->name;
		} else {
			a->done = 1;
		}
		if (progress)
			progress(a, arg);
	}
	long wait = opts && opts->wait_ms ? opts->wait_ms : 30000;
	long deadline = now_ms() + wait;
	for (size_t i = 0; wait > 0 && i < plan->n; i++) {
		struct hero_rc_action *a = &plan->actions[i];
		if (!a->done || (a->kind != HERO_RC_ADD && a->kind != HERO_RC_CHANGE && a->kind != HERO_RC_START))
			continue;
		struct hero_error one = HERO_ERROR_INIT;
		if (wait_running(sv, plan, a, deadline, &one) < 0) {
			a->done = 0;
			a->error = strdup(one.msg);
			failed++;
			first = first ? first : a->name;
		}
	}
	if (failed)
		return hero_error(err, HERO_EFAIL, "%zu of %zu actions failed (first: '%s')", failed, plan->n, first);
	return 0;
}
