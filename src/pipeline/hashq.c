/* hashq.c - hash archive entries on a thread of their own, in order.
 *
 * A ring of SLOTS: slots head .. head+count-1 are queued for the thread (it
 * works on the one at head); the reader fills the slot at head+count. A slot
 * holds entry data back to back and the positions where entries end, so a
 * slot carries many small entries and a large entry spans many slots.
 */
#include "pipeline/hashq.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/blake2b.h"
#include "base/internal.h"

#define SLOTS 8
#define SLOT_SIZE (256 * 1024)
#define SLOT_ENDS 128

struct end {
	size_t at;   /* offset in the slot's data where the entry ends */
	size_t id;
};

struct slot {
	uint8_t *data;
	size_t len;
	struct end ends[SLOT_ENDS];
	unsigned n_ends;
};

struct hero_hashq {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t th;
	int started, stop;
	struct slot s[SLOTS];
	unsigned head, count;
	int busy;                /* the thread is working on the slot at head */
	struct hero_blake2b h;   /* the entry being hashed (thread only) */
	uint8_t (*dig)[32];      /* digests by ID (thread only until drained) */
	uint8_t *have;
	size_t cap;
	int oom;
};

static int keep(struct hero_hashq *q, size_t id, const uint8_t d[32])
{
	if (id >= q->cap) {
		size_t cap = q->cap ? q->cap : 1024;
		while (cap <= id)
			cap *= 2;
		uint8_t(*dig)[32] = realloc(q->dig, cap * sizeof *dig);
		if (dig)
			q->dig = dig;
		uint8_t *have = realloc(q->have, cap);
		if (have)
			q->have = have;
		if (!dig || !have)
			return -1;
		memset(q->have + q->cap, 0, cap - q->cap);
		q->cap = cap;
	}
	memcpy(q->dig[id], d, 32);
	q->have[id] = 1;
	return 0;
}

static void hash_slot(struct hero_hashq *q, const struct slot *sl)
{
	size_t at = 0;
	for (unsigned k = 0; k < sl->n_ends; k++) {
		uint8_t d[32];
		hero_blake2b_update(&q->h, sl->data + at, sl->ends[k].at - at);
		hero_blake2b_final(&q->h, d);
		hero_blake2b_init(&q->h, 32);
		if (keep(q, sl->ends[k].id, d) < 0)
			q->oom = 1;
		at = sl->ends[k].at;
	}
	hero_blake2b_update(&q->h, sl->data + at, sl->len - at);
}

static void *hashq_main(void *arg)
{
	struct hero_hashq *q = arg;
	for (;;) {
		pthread_mutex_lock(&q->mu);
		while (q->count == 0 && !q->stop)
			pthread_cond_wait(&q->cv, &q->mu);
		if (q->stop) { /* queued slots are dropped */
			pthread_mutex_unlock(&q->mu);
			return NULL;
		}
		struct slot *sl = &q->s[q->head];
		q->busy = 1;
		pthread_mutex_unlock(&q->mu);
		hash_slot(q, sl);
		pthread_mutex_lock(&q->mu);
		sl->len = 0;
		sl->n_ends = 0;
		q->head = (q->head + 1) % SLOTS;
		q->count--;
		q->busy = 0;
		pthread_cond_broadcast(&q->cv);
		pthread_mutex_unlock(&q->mu);
	}
}

int hero_hashq_new(struct hero_hashq **out, struct hero_error *err)
{
	struct hero_hashq *q = calloc(1, sizeof *q);
	int ret;
	if (!q)
		return hero_error(err, HERO_EFAIL, "out of memory");
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	hero_blake2b_init(&q->h, 32);
	for (unsigned i = 0; i < SLOTS; i++)
		if (!(q->s[i].data = malloc(SLOT_SIZE))) {
			ret = hero_error(err, HERO_EFAIL, "out of memory");
			goto out;
		}
	if ((ret = pthread_create(&q->th, NULL, hashq_main, q)) != 0) {
		ret = hero_error_errno(err, HERO_EFAIL, ret, "cannot start the hashing thread");
		goto out;
	}
	q->started = 1;
	*out = q;
	q = NULL;
	ret = 0;
out:
	hero_hashq_free(q);
	return ret;
}

/* Hand the slot being filled to the thread; wait for the next one to be free. */
static void push(struct hero_hashq *q)
{
	pthread_mutex_lock(&q->mu);
	q->count++;
	pthread_cond_broadcast(&q->cv);
	while (q->count == SLOTS)
		pthread_cond_wait(&q->cv, &q->mu);
	pthread_mutex_unlock(&q->mu);
}

/* The slot being filled: owned by the reader until pushed. */
static struct slot *current(struct hero_hashq *q)
{
	pthread_mutex_lock(&q->mu);
	struct slot *sl = &q->s[(q->head + q->count) % SLOTS];
	pthread_mutex_unlock(&q->mu);
	return sl;
}

int hero_hashq_data(struct hero_hashq *q, const void *buf, size_t n, struct hero_error *err)
{
	const uint8_t *p = buf;
	(void)err;
	while (n > 0) {
		struct slot *sl = current(q);
		size_t k = SLOT_SIZE - sl->len < n ? SLOT_SIZE - sl->len : n;
		memcpy(sl->data + sl->len, p, k);
		sl->len += k;
		p += k;
		n -= k;
		if (sl->len == SLOT_SIZE)
			push(q);
	}
	return 0;
}

int hero_hashq_end(struct hero_hashq *q, size_t id, struct hero_error *err)
{
	struct slot *sl = current(q);
	(void)err;
	sl->ends[sl->n_ends].at = sl->len;
	sl->ends[sl->n_ends].id = id;
	if (++sl->n_ends == SLOT_ENDS)
		push(q);
	return 0;
}

void hero_hashq_drain(struct hero_hashq *q)
{
	struct slot *sl = current(q);
	if (sl->len || sl->n_ends)
		push(q);
	pthread_mutex_lock(&q->mu);
	while (q->count > 0 || q->busy)
		pthread_cond_wait(&q->cv, &q->mu);
	pthread_mutex_unlock(&q->mu);
}

int hero_hashq_digest(const struct hero_hashq *q, size_t id, uint8_t out[32])
{
	if (q->oom || id >= q->cap || !q->have[id])
		return -1;
	memcpy(out, q->dig[id], 32);
	return 0;
}

void hero_hashq_free(struct hero_hashq *q)
{
	if (!q)
		return;
	if (q->started) {
		pthread_mutex_lock(&q->mu);
		q->stop = 1;
		pthread_cond_broadcast(&q->cv);
		pthread_mutex_unlock(&q->mu);
		pthread_join(q->th, NULL);
	}
	for (unsigned i = 0; i < SLOTS; i++) {
		if (q->s[i].data) /* it held entry data, secret values included */
			sodium_memzero(q->s[i].data, SLOT_SIZE);
		free(q->s[i].data);
	}
	free(q->dig);
	free(q->have);
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv);
	free(q);
}
