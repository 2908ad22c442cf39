/* hero/journal.h - the SQLite journal of migration jobs.
 *
 * One database holds every job: its options (spec), one row per stage with
 * inputs, outputs, attempts, timestamps and the last error, one row per
 * attempt, and the job's secrets in a table of their own that no reading
 * function here returns. The file is created readable by its owner only
 * (0600, in a 0700 directory). Every call commits before it returns, so a
 * process killed at any moment leaves the journal as of its last call.
 * See docs/decisions/0030-migration-pipeline.md for the schema.
 */
#ifndef HERO_JOURNAL_H
#define HERO_JOURNAL_H

#include <stddef.h>

#include <jansson.h>

#include "hero/error.h"

struct hero_journal;

/* Stage states. */
#define HERO_STAGE_PENDING "pending"
#define HERO_STAGE_RUNNING "running"
#define HERO_STAGE_DONE "done"
#define HERO_STAGE_FAILED "failed"
#define HERO_STAGE_SKIPPED "skipped"

/* Job states. */
#define HERO_JOB_RUNNING "running"
#define HERO_JOB_FAILED "failed"
#define HERO_JOB_DONE "done"
#define HERO_JOB_ABORTED "aborted"

/* Open (creating if needed) the journal at PATH. Missing parent directories
 * are created with mode 0700 and a new file with mode 0600; an existing file
 * readable by others is refused. Free with hero_journal_free. */
int hero_journal_new(const char *path, struct hero_journal **out, struct hero_error *err);
void hero_journal_free(struct hero_journal *j);

/* The directory of job ID beside the journal (created 0700): its log,
 * known_hosts and lock live there. Malloc'd. */
char *hero_journal_job_dir(struct hero_journal *j, const char *id, struct hero_error *err);

/* Take job ID's lock (an exclusive flock on <job dir>/lock) without waiting;
 * *FD holds it until closed. HERO_EBUSY when another process holds it. */
int hero_journal_lock(struct hero_journal *j, const char *id, int *fd, struct hero_error *err);

/* Create job ID in state running with SPEC (a JSON object, copied) and the
 * stages NAMES[0..N-1] in order, those with SKIPPED[i] set as skipped. */
int hero_journal_create(struct hero_journal *j, const char *id, const char *context, const char *source,
			const char *target, const json_t *spec, const char *const *names, const int *skipped,
			size_t n, struct hero_error *err);

/* Job ID as a new JSON object: id, state, created, updated, context, source,
 * target, error, spec, and stages: [{name, state, attempts, started,
 * finished, inputs, outputs, error, history: [{n, started, finished, ok,
 * error}]}] in order. Never holds a secret. HERO_EUSAGE when unknown. */
int hero_journal_get(struct hero_journal *j, const char *id, json_t **out, struct hero_error *err);

/* Every job, newest first, as an array of {id, state, created, updated,
 * context, source, target, stage (the first stage not done or skipped), error}. */
int hero_journal_list(struct hero_journal *j, json_t **out, struct hero_error *err);

/* The id of an unfinished (running or failed) job for SOURCE and CONTEXT,
 * malloc'd in *ID, or NULL when there is none. */
int hero_journal_find_unfinished(struct hero_journal *j, const char *source, const char *context, char **id,
				 struct hero_error *err);

/* Set job ID's state and error (NULL clears it). */
int hero_journal_set_job(struct hero_journal *j, const char *id, const char *state, const char *error,
			 struct hero_error *err);

/* A stage attempt begins: state running, attempts + 1, started now, INPUTS
 * (may be NULL: kept) recorded, an attempt row opened. *ATTEMPT receives the
 * attempt number (1 for the first). */
int hero_journal_stage_begin(struct hero_journal *j, const char *id, const char *stage, const json_t *inputs,
			     int *attempt, struct hero_error *err);

/* Replace the outputs of a stage (mid-stage records, e.g. an intent before
 * a side effect). */
int hero_journal_stage_output(struct hero_journal *j, const char *id, const char *stage, const json_t *outputs,
			      struct hero_error *err);

/* A stage attempt ends. OK: state done, the error cleared. Not OK: the
 * attempt's ERROR recorded and the stage's state set to STATE (pending when
 * it will be retried, failed when not). OUTPUTS (may be NULL: kept). */
int hero_journal_stage_end(struct hero_journal *j, const char *id, const char *stage, int ok, const char *state,
			   const json_t *outputs, const char *error, struct hero_error *err);

/* Store, read and delete job ID's secret NAME. The value read is in
 * sodium_malloc'd memory in *VALUE (free with hero_journal_secret_free), or
 * NULL when absent. */
int hero_journal_secret_put(struct hero_journal *j, const char *id, const char *name, const char *value,
			    struct hero_error *err);
int hero_journal_secret_get(struct hero_journal *j, const char *id, const char *name, char **value,
			    struct hero_error *err);
int hero_journal_secret_delete(struct hero_journal *j, const char *id, struct hero_error *err);
void hero_journal_secret_free(char *value);

/* Milliseconds since the epoch (the journal's timestamps), and of a monotonic
 * clock (deadlines). */
long long hero_now_ms(void);
long long hero_mono_ms(void);

#endif
