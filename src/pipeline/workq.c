/* workq.c - a bounded ring of slots passed in order through stages, some on threads.
 *
 * DONE[k] counts the slots stage k has passed since the start; stage k works
 * on slot DONE[k] % SLOTS. Stage k > 0 may go on while DONE[k] < DONE[k-1];
 * stage 0 while fewer than SLOTS slots are between it and the last stage.
 * One mutex and one condition guard the counters; slot contents are handed
 * over by the mutex (written before a pass, read after a next).
 */
#include "pipeline/workq.h"

#include <pthread.h>
#include <stdlib.h>

struct stage_thread {
	struct hero_workq *q;
	unsigned k;
};

struct hero_workq {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned slots, n;
	hero_workq_fn fn[HERO_WORKQ_MAX_STAGES];
	void *ctx;
	uint64_t done[HERO_WORKQ_MAX_STAGES];
	int ended[HERO_WORKQ_MAX_STAGES];
	pthread_t th[HERO_WORKQ_MAX_STAGES];
	int running[HERO_WORKQ_MAX_STAGES];    /* started and not joined */
	struct stage_thread arg[HERO_WORKQ_MAX_STAGES];
	int stop;
	int failed;                            /* ERR holds the first error */
	struct hero_error err;
};

/* Stage K has a slot to work on (under the mutex). */
static int ready(const struct hero_workq *q, unsigned k)
{
	if (k == 0)
		return !q->stop && !q->ended[0] && q->done[0] - q->done[q->n - 1] < q->slots;
	return q->done[k] < q->done[k - 1];
}

/* Stage K will have no slot again (under the mutex). */
static int finished(const struct hero_workq *q, unsigned k)
{
	if (k == 0)
		return q->stop || q->ended[0];
	int before_ended = q->ended[k - 1] || (q->stop && !q->fn[k - 1]);
	return before_ended && q->done[k] == q->done[k - 1];
}

static void *stage_main(void *arg)
{
	struct stage_thread *t = arg;
	struct hero_workq *q = t->q;
	unsigned k = t->k;
	pthread_mutex_lock(&q->mu);
	for (;;) {
		while (!ready(q, k) && !finished(q, k))
			pthread_cond_wait(&q->cv, &q->mu);
		if (!ready(q, k))
			break;
		uint64_t seq = q->done[k];
		int skip = q->failed || q->stop;
		pthread_mutex_unlock(&q->mu);
		struct hero_error e = HERO_ERROR_INIT;
		int r = q->fn[k](q->ctx, (unsigned)(seq % q->slots), seq, skip, &e);
		pthread_mutex_lock(&q->mu);
		if (r < 0 && !q->failed) {
			q->err = e;
			q->failed = 1;
		}
		if (r < 0 || !(r & HERO_WORKQ_NONE))
			q->done[k]++;
		pthread_cond_broadcast(&q->cv);
		if (r > 0)
			break;
	}
	q->ended[k] = 1;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

int hero_workq_new(struct hero_workq **out, unsigned slots, unsigned n_stages, const hero_workq_fn *fns,
		   void *ctx, const char *what, struct hero_error *err)
{
	if (n_stages < 2 || n_stages > HERO_WORKQ_MAX_STAGES || slots == 0)
		return hero_error(err, HERO_EFAIL, "invalid work queue");
	struct hero_workq *q = calloc(1, sizeof *q);
	if (!q)
		return hero_error(err, HERO_EFAIL, "out of memory");
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	q->slots = slots;
	q->n = n_stages;
	q->ctx = ctx;
	for (unsigned k = 0; k < n_stages; k++)
		q->fn[k] = fns[k];
	*out = q; /* before the threads start: a stage function may ask for it */
	for (unsigned k = 0; k < n_stages; k++) {
		if (!q->fn[k])
			continue;
		q->arg[k] = (struct stage_thread){ q, k };
		int r = pthread_create(&q->th[k], NULL, stage_main, &q->arg[k]);
		if (r != 0) {
			int ret = hero_error_errno(err, HERO_EFAIL, r, "cannot start the %s thread", what);
			hero_workq_free(q);
			*out = NULL;
			return ret;
		}
		q->running[k] = 1;
	}
	return 0;
}

int hero_workq_next(struct hero_workq *q, unsigned stage)
{
	pthread_mutex_lock(&q->mu);
	while (!ready(q, stage) && !finished(q, stage))
		pthread_cond_wait(&q->cv, &q->mu);
	int slot = ready(q, stage) ? (int)(q->done[stage] % q->slots) : -1;
	pthread_mutex_unlock(&q->mu);
	return slot;
}

void hero_workq_pass(struct hero_workq *q, unsigned stage)
{
	pthread_mutex_lock(&q->mu);
	q->done[stage]++;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

void hero_workq_end(struct hero_workq *q, unsigned stage)
{
	pthread_mutex_lock(&q->mu);
	q->ended[stage] = 1;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

void hero_workq_drain(struct hero_workq *q)
{
	pthread_mutex_lock(&q->mu);
	while (q->done[q->n - 1] != q->done[0])
		pthread_cond_wait(&q->cv, &q->mu);
	pthread_mutex_unlock(&q->mu);
}

int hero_workq_idle(struct hero_workq *q)
{
	pthread_mutex_lock(&q->mu);
	int idle = q->ended[0] && q->done[q->n - 1] == q->done[0];
	pthread_mutex_unlock(&q->mu);
	return idle;
}

int hero_workq_error(struct hero_workq *q, struct hero_error *err)
{
	pthread_mutex_lock(&q->mu);
	int failed = q->failed;
	if (failed)
		*err = q->err;
	pthread_mutex_unlock(&q->mu);
	return failed ? -err->code : 0;
}

int hero_workq_stopping(struct hero_workq *q)
{
	pthread_mutex_lock(&q->mu);
	int stop = q->stop;
	pthread_mutex_unlock(&q->mu);
	return stop;
}

static void join_all(struct hero_workq *q)
{
	for (unsigned k = 0; k < q->n; k++)
		if (q->running[k]) {
			pthread_join(q->th[k], NULL);
			q->running[k] = 0;
		}
}

void hero_workq_join(struct hero_workq *q)
{
	pthread_mutex_lock(&q->mu);
	for (unsigned k = 0; k < q->n; k++)
		if (!q->fn[k])
			q->ended[k] = 1;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
	join_all(q);
}

void hero_workq_free(struct hero_workq *q)
{
	if (!q)
		return;
	pthread_mutex_lock(&q->mu);
	q->stop = 1;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
	join_all(q);
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv);
	free(q);
}
