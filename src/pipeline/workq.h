/* workq.h - a bounded ring of slots passed in order through stages, some on threads.
 *
 * The one primitive under the pipelines of snapshot and restore (hashq, filewq,
 * prefetch, sink, dbahead; docs/decisions/0016-snapshot-pipeline.md and
 * 0019-restore-pipeline.md). The queue holds no data: its user keeps SLOTS
 * buffers indexed by slot number; the queue says which slot each stage may
 * work on and when.
 *
 * Every slot goes through stages 0, 1, .. N-1 in turn, in order: stage 0
 * fills it, the last stage frees it for stage 0 again. A stage runs either on
 * a thread of the queue (it has a function) or in the caller (it has none);
 * the caller asks for its stage's next slot with hero_workq_next and hands it
 * on with hero_workq_pass.
 *
 * A stage function returns 0 to pass the slot on, HERO_WORKQ_LAST to pass it
 * and end its stage, HERO_WORKQ_NONE to end its stage without passing it, or
 * a negative code with ERR set: the queue keeps its first error, passes the
 * slot on, and calls every stage from then on with SKIP set (do nothing but
 * release what the slot holds). SKIP is also set once the queue is stopping.
 *
 * Stopping (hero_workq_free): a stage-0 thread ends at once; later stages go
 * on, with SKIP, through what earlier stages passed, so every slot is
 * released; stages run by the caller count as ended.
 */
#ifndef HERO_WORKQ_H
#define HERO_WORKQ_H

#include <stdint.h>

#include "hero/error.h"

#define HERO_WORKQ_MAX_STAGES 3
#define HERO_WORKQ_LAST 1
#define HERO_WORKQ_NONE 2

struct hero_workq;

/* A stage on a thread: work on SLOT, the SEQ-th slot of the stream (from 0). */
typedef int (*hero_workq_fn)(void *ctx, unsigned slot, uint64_t seq, int skip, struct hero_error *err);

/* A queue of SLOTS slots through N_STAGES stages; FNS[k] runs stage k on a thread
 * of its own, or is NULL for a stage the caller runs. CTX goes to every FNS[k] and
 * must outlive the queue. WHAT names the threads in errors ("cannot start the WHAT
 * thread"). */
int hero_workq_new(struct hero_workq **out, unsigned slots, unsigned n_stages, const hero_workq_fn *fns,
		   void *ctx, const char *what, struct hero_error *err);
/* The caller's STAGE: wait for its next slot; the slot, or -1 if there will be
 * none (the stage before it ended and everything it passed is through). A slot
 * returned stays the stage's until passed: asking again returns it at once. */
int hero_workq_next(struct hero_workq *q, unsigned stage);
/* The caller's STAGE is done with its slot: hand it to the next stage. */
void hero_workq_pass(struct hero_workq *q, unsigned stage);
/* The caller's STAGE passes nothing more (the end of the stream). */
void hero_workq_end(struct hero_workq *q, unsigned stage);
/* Wait until every slot stage 0 passed is through the last stage. */
void hero_workq_drain(struct hero_workq *q);
/* Stage 0 ended and every slot it passed is through the last stage (no waiting). */
int hero_workq_idle(struct hero_workq *q);
/* The first error of a stage function: copied to ERR, its negative code; 0 if none. */
int hero_workq_error(struct hero_workq *q, struct hero_error *err);
/* The queue is stopping (a stage function waiting on something slow may give up). */
int hero_workq_stopping(struct hero_workq *q);
/* End the caller's stages and wait for every thread to finish what it was passed. */
void hero_workq_join(struct hero_workq *q);
/* Stop, wait for the threads, free. NULL is fine. */
void hero_workq_free(struct hero_workq *q);

#endif
