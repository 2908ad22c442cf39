/* hero/migrate.h - move one context to another instance as journaled,
 * resumable pipeline stages (docs/migration.md, docs/decisions/0030).
 *
 * Stages, in order: provision, wait, gateway, bootstrap, snapshot, transfer,
 * restore, reconcile, verify, cutover, cleanup. Each is idempotent, retried
 * with backoff, bounded by a timeout and journaled (hero/journal.h) with its
 * inputs, outputs, attempts and errors, so `resume` after a crash finishes
 * the job without repeating finished stages or creating a second VM or
 * gateway. Nothing at the source changes before cutover; the source's data
 * is deleted only by cleanup, and only when asked.
 */
#ifndef HERO_MIGRATE_H
#define HERO_MIGRATE_H

#include <stddef.h>

#include <jansson.h>

#include "hero/error.h"
#include "hero/journal.h"

#define HERO_MIG_NSTAGES 11

/* The stage names in order. */
const char *hero_mig_stage_name(size_t i);
/* The index of stage NAME, or -1. */
int hero_mig_stage_index(const char *name);

struct hero_mig_opts {
	const char *context, *as;        /* the context, and its name at the target (NULL: the same) */
	const char *source_root;         /* the source instance (this host) */
	const char *manifests;           /* the source's manifests directory */
	const char *seckey, *pubkey;     /* signing key for the archive, and its public key for the target */
	const char *passphrase_file;     /* for a protected SECKEY, or NULL */
	/* the target: exactly one of the three */
	const char *target_dir;          /* a local directory */
	const char *target_ssh;          /* an existing instance: HOST */
	const char *compute;             /* a new VM through ComputeService: unix:PATH or URL */
	const char *target_root;         /* the instance root at the target; NULL: its $HERO_ROOT or ~/hero */
	const char *target_supervisor;   /* unix:PATH of the target's zinit; NULL: its default */
	const char *remote_bin;          /* directory of the toolkit at the target; NULL: its PATH */
	/* a new VM */
	const char *vm_name, *image, *node;
	int slices;
	const char *const *ssh_keys;     /* public key files, given to deploy_vm */
	size_t n_ssh_keys;
	const char *gateway;             /* the tenant's public gateway name, or NULL */
	const char *source_backend;      /* URL the gateway serves until cutover, if it must be created */
	int router_port;                 /* hero_router's port on the VM (0: 9988) */
	/* ssh */
	const char *ssh_user;
	int ssh_port, ssh_connect_timeout;
	/* stages */
	const char *bootstrap;           /* script run with sh -s at the target, or NULL */
	const char *secrets_file;        /* `export NAME=value` lines merged into the target; NULL: the source's */
	int no_secrets;                  /* merge no secrets */
	const char *desired;             /* reconcile: the declared services directory, or NULL (skipped) */
	const char *probes;              /* verify: the probe panel (required) */
	const char *const *vars;         /* NAME=VALUE for reconcile and verify */
	size_t n_vars;
	int delete_source;               /* cleanup deletes the context at the source */
	int attempts, backoff_ms, poll_ms;
	int timeouts[HERO_MIG_NSTAGES];  /* seconds per attempt; 0: the stage's default */
};

/* Validate O, read what the job needs from files now (the ssh public keys)
 * and build the job's spec (*SPEC, a new JSON object). Paths are made
 * absolute. HERO_EUSAGE names the option at fault. */
int hero_mig_spec(const struct hero_mig_opts *o, json_t **spec, struct hero_error *err);

/* What each stage will do for SPEC, without any I/O: a new array of
 * {stage, skip, does}. */
json_t *hero_mig_plan(const json_t *spec);

struct hero_mig_env {
	const char *identity;   /* ssh private key for this run (passed to ssh, never stored) */
	const char *tools_dir;  /* where hero-snap is found (NULL: PATH) */
	/* progress: called with the stage and a one-line message; may be NULL */
	void (*say)(void *ctx, const char *stage, const char *msg);
	void *say_ctx;
};

/* Create a job for SPEC in J: a new random id in ID. Refused (HERO_EUSAGE)
 * when an unfinished job moves the same context from the same source. */
int hero_mig_create(struct hero_journal *j, const json_t *spec, char id[32], struct hero_error *err);

/* Run job ID from its first stage that is not done: under the job lock
 * (HERO_EBUSY when held). Returns 0 when the job is done; else the failing
 * stage's error (its code: 1, or 2-7 as the tools' exit codes). */
int hero_mig_run(struct hero_journal *j, const char *id, const struct hero_mig_env *env, struct hero_error *err);

/* Delete what job ID created (VM, gateway; the work directory at a
 * reachable target) and its secret, then mark it aborted. Refused once
 * cutover has started unless FORCE. Idempotent. */
int hero_mig_abort(struct hero_journal *j, const char *id, const struct hero_mig_env *env, int force,
		   struct hero_error *err);

#endif
