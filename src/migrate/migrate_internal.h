/* migrate_internal.h - what the migration runner gives its stages
 * (stage_common.c); not installed. */
#ifndef HERO_MIGRATE_INTERNAL_H
#define HERO_MIGRATE_INTERNAL_H

#include <jansson.h>

#include "hero/error.h"
#include "hero/journal.h"
#include "hero/migrate.h"
#include "migrate/compute.h"
#include "migrate/ssh.h"

/* One job being run (or aborted). */
struct mig {
	struct hero_journal *j;
	const char *id;
	json_t *job;          /* hero_journal_get of the job, reloaded after each stage */
	const json_t *spec;   /* in JOB */
	const struct hero_mig_env *env;
	char *jobdir;
	int log_fd;
	/* the current attempt */
	const char *stage;
	int attempt;
	long long deadline;   /* hero_mono_ms() */
	json_t *out;          /* the stage's outputs, starting from what earlier attempts recorded */
	int permanent;        /* set by a stage: retrying cannot help */
	struct hero_compute *compute;
	struct hero_target *target;
};

/* The spec's string KEY (NULL when absent or null), integer, boolean. */
const char *hero_mig_str(const struct mig *m, const char *key);
long long hero_mig_int(const struct mig *m, const char *key);
int hero_mig_bool(const struct mig *m, const char *key);
/* KEY of the outputs of STAGE (the current one reads M->out). */
json_t *hero_mig_output(const struct mig *m, const char *stage, const char *key);
const char *hero_mig_output_str(const struct mig *m, const char *stage, const char *key);
/* The journal's row of STAGE in the job as loaded, or NULL. */
json_t *hero_mig_stage_row(const struct mig *m, const char *stage);
/* The state of STAGE in the journal as loaded. */
const char *hero_mig_stage_state(const struct mig *m, const char *stage);

/* Journal M->out now: an intent recorded before a side effect. */
int hero_mig_record(struct mig *m, struct hero_error *err);
/* A line in the job's log. */
void hero_mig_log(struct mig *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The ComputeService client and the target (made once per run). */
int hero_mig_compute(struct mig *m, struct hero_compute **c, struct hero_error *err);
int hero_mig_target(struct mig *m, struct hero_target **t, struct hero_error *err);
/* "vm", "ssh" or "dir". */
const char *hero_mig_kind(const struct mig *m);

/* Shell text that sets R to the target root and W to the job's work
 * directory at the target (R/.hero/migrate/JOB); malloc'd. */
char *hero_mig_prelude(const struct mig *m);
/* The quoted command for the toolkit program NAME at the target. Malloc'd. */
char *hero_mig_remote_tool(const struct mig *m, const char *name);
/* The path of the toolkit program NAME on this host. Malloc'd. */
char *hero_mig_local_tool(const struct mig *m, const char *name);
/* The spec's vars as --set options for a command line (quoted), malloc'd. */
char *hero_mig_set_args(const struct mig *m);

/* Run CMD at the target, output to the log (stdout captured into *OUT when
 * OUT is not NULL), stdin from IN (-1: none), bounded by the deadline. */
int hero_mig_command(struct mig *m, const char *label, const char *cmd, int in_fd, char **out, int *status,
	    struct hero_error *err);

/* Map a target command's exit status to an error code: the toolkit's 2-7
 * pass through (and are permanent), ssh's 255 is a transient failure. */
int hero_mig_status_code(struct mig *m, int status);

/* Whether stage I does not apply to SPEC (journaled as skipped). */
int hero_mig_stage_skipped(const json_t *spec, size_t i);

/* The stages (stage_vm.c, stage_data.c, stage_finish.c). */
int hero_stage_provision(struct mig *m, struct hero_error *err);
int hero_stage_wait(struct mig *m, struct hero_error *err);
int hero_stage_gateway(struct mig *m, struct hero_error *err);
int hero_stage_bootstrap(struct mig *m, struct hero_error *err);
int hero_stage_snapshot(struct mig *m, struct hero_error *err);
int hero_stage_transfer(struct mig *m, struct hero_error *err);
int hero_stage_restore(struct mig *m, struct hero_error *err);
int hero_stage_reconcile(struct mig *m, struct hero_error *err);
int hero_stage_verify(struct mig *m, struct hero_error *err);
int hero_stage_cutover(struct mig *m, struct hero_error *err);
int hero_stage_cleanup(struct mig *m, struct hero_error *err);

/* abort: delete the job's VM and (if it created it) gateway. */
int hero_mig_delete_created(struct mig *m, struct hero_error *err);
/* cutover's half on ComputeService: point the gateway at the new VM. */
int hero_mig_repoint_gateway(struct mig *m, struct hero_error *err);
/* The backend URL of the new VM: http://[ip]:port. Malloc'd. */
char *hero_mig_vm_backend(const struct mig *m);

#endif
