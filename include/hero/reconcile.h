/* hero/reconcile.h - bring a supervisor's services to a declared state (GitOps).
 *
 * The desired state is a directory of service files, one `<name>.yaml` per
 * service, holding zinit's fields (exec, test, oneshot, after,
 * shutdown_timeout, signal, log, env, dir) and hero_proc's retry and health.
 * Reconcile reads the running state from the supervisor, computes the
 * difference (add, change, remove, start) and applies it in dependency order.
 *
 * Ownership: every service reconcile creates carries the environment variable
 * HERO_RECONCILE_OWNER=<owner> in its definition, so the mark lives in the
 * supervisor itself. Services without the mark of this owner are never
 * changed, stopped or removed; a desired service whose name is taken by one of
 * them is reported as a conflict (unless adopting is asked for).
 */
#ifndef HERO_RECONCILE_H
#define HERO_RECONCILE_H

#include <stddef.h>

#include <jansson.h>

#include "hero/error.h"
#include "hero/supervisor.h"

#define HERO_RC_OWNER_ENV "HERO_RECONCILE_OWNER"
#define HERO_RC_DEFAULT_OWNER "hero-reconcile"

enum hero_rc_kind {
	HERO_RC_ADD,      /* declared, absent: create and monitor */
	HERO_RC_CHANGE,   /* owned, definition differs: stop, wait, forget, rewrite, monitor */
	HERO_RC_REMOVE,   /* owned, no longer declared: stop, wait, forget, delete */
	HERO_RC_START,    /* owned and in sync but not monitored or target Down */
	HERO_RC_CONFLICT, /* declared, but the name belongs to a service not owned: left alone */
};

struct hero_rc_action {
	enum hero_rc_kind kind;
	char *name;
	char *detail; /* CHANGE: changed keys ("env.PORT, exec"); START/CONFLICT: why; else NULL */
	int done;     /* set once applied */
	char *error;  /* set when applying failed */
};

struct hero_rc_plan {
	struct hero_rc_action *actions; /* in the order they apply */
	size_t n;
	json_t *desired;   /* name -> canonical definition (owner mark included) */
	json_t *actual;    /* name -> {"monitored","owned","config","state","target","pid"} */
	json_t *unchanged; /* names of owned services already in sync */
	json_t *unowned;   /* names of services not owned and not declared: left alone */
};

struct hero_rc_opts {
	const char *desired_dir;
	const char *owner;       /* NULL: HERO_RC_DEFAULT_OWNER */
	const char *const *vars; /* NULL-terminated "NAME=VALUE" for ${NAME} in the files (before the environment) */
	int stop_timeout_ms;     /* 0: the service's shutdown_timeout + 1 s */
	int adopt;               /* take over declared names held by services not owned */
	int wait_ms;             /* after applying, wait this long for added, changed and started
	                          * services to run (a oneshot: to succeed); 0: 30 s; <0: do not wait */
};

/* An owner id: 1-64 characters of [A-Za-z0-9._-]. Returns 1 when valid. */
int hero_rc_owner_valid(const char *owner);

/* Load every DIR/NAME.yaml (and .yml) into *OUT: name -> canonical definition with the
 * owner mark added. ${NAME} / ${NAME:-default} in values are expanded from
 * VARS, then the environment. Fails naming the file on an invalid name, an
 * unknown key, a bad value, or a definition that sets the owner mark itself. */
int hero_rc_load_desired(const char *dir, const char *owner, const char *const *vars, json_t **out,
			 struct hero_error *err);

/* Read the supervisor's services into *OUT: for each monitored service (and
 * each service file found for a DESIRED name or in the configuration
 * directory) its canonical definition, ownership, state and target. */
int hero_rc_read_actual(struct hero_sv *sv, const char *owner, const json_t *desired, json_t **out,
			struct hero_error *err);

/* Order the names of SERVICES (name -> definition) so every service comes
 * after the services named in its `after` that are also in SERVICES; ties go
 * alphabetically. *OUT is a new array of names. Fails naming a cycle. */
int hero_rc_order(const json_t *services, json_t **out, struct hero_error *err);

/* The difference between DESIRED and ACTUAL (shapes as above) for OWNER, as a
 * plan: removals first (dependents before their dependencies), then adds,
 * changes and starts in dependency order, conflicts last. Pure: no I/O.
 * The plan takes its own references to DESIRED and ACTUAL. */
int hero_rc_diff(const json_t *desired, const json_t *actual, const char *owner, int adopt,
		 struct hero_rc_plan **out, struct hero_error *err);

/* hero_rc_load_desired + hero_rc_read_actual + hero_rc_diff. */
int hero_rc_plan_new(struct hero_sv *sv, const struct hero_rc_opts *opts, struct hero_rc_plan **out,
		     struct hero_error *err);

/* Number of actions that are drift (everything but nothing). */
size_t hero_rc_drift(const struct hero_rc_plan *plan);

typedef void (*hero_rc_progress_fn)(const struct hero_rc_action *a, void *arg);

/* Apply PLAN on SV in order, calling PROGRESS (may be NULL) after each action.
 * A failed action records its message and the others still run. Then wait
 * (opts->wait_ms) until every service added, changed or started runs; one
 * that does not is a failed action. Returns 0 when every action (conflicts
 * excepted) applied, else -HERO_EFAIL with ERR naming how many failed. */
int hero_rc_apply(struct hero_sv *sv, struct hero_rc_plan *plan, const struct hero_rc_opts *opts,
		  hero_rc_progress_fn progress, void *arg, struct hero_error *err);

void hero_rc_plan_free(struct hero_rc_plan *plan);

const char *hero_rc_kind_name(enum hero_rc_kind k); /* "add", "change", ... */

#endif
