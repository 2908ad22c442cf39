/* hashq.c - hash archive entries on a thread of their own, in order.
 *
 * A work queue (workq.h) of SLOTS: the reader fills a slot (stage 0), the
 * thread hashes it (stage 1). A slot
 * holds entry data back to back and the positions where entries end, so a
 * slot carries many small entries and a large entry spans many slots.
 */
#include "pipeline/hashq.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/blake2b.h"
#include "base/internal.h"
#include "pipeline/workq.h"

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
	struct hero_workq *wq;   /* stage 0 the reader, stage 1 the hashing thread */
	struct slot s[SLOTS];
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

/* The hashing thread's stage; a slot left when stopping is dropped. */
static int hash_stage(void *ctx, unsigned i, uint64_t seq, int skip, struct hero_error *err)
{
	struct hero_hashq *q = ctx;
	struct slot *sl = &q->s[i];
	(void)seq;
	(void)err;
	if (!skip)
		hash_slot(q, sl);
	sl->len = 0;
	sl->n_ends = 0;
	return 0;
}

int hero_hashq_new(struct hero_hashq **out, struct hero_error *err)
{
	struct hero_hashq *q = calloc(1, sizeof *q);
	int ret;
	if (!q)
		return hero_error(err, HERO_EFAIL, "out of memory");
	hero_blake2b_init(&q->h, 32);
	for (unsigned i = 0; i < SLOTS; i++)
		if (!(q->s[i].data = malloc(SLOT_SIZE))) {
			ret = hero_error(err, HERO_EFAIL, "out of memory");
			goto out;
		}
	static const hero_workq_fn stages[] = { NULL, hash_stage };
	if ((ret = hero_workq_new(&q->wq, SLOTS, 2, stages, q, "hashing", err)) < 0)
		goto out;
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
	hero_workq_pass(q->wq, 0);
	hero_workq_next(q->wq, 0);
}

/* The slot being filled: owned by the reader until pushed. */
static struct slot *current(struct hero_hashq *q)
{
	return &q->s[hero_workq_next(q->wq, 0)];
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
	hero_workq_drain(q->wq);
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
	hero_workq_free(q->wq);
	for (unsigned i = 0; i < SLOTS; i++) {
		if (q->s[i].data) /* it held entry data, secret values included */
			sodium_memzero(q->s[i].data, SLOT_SIZE);
		free(q->s[i].data);
	}
	free(q->dig);
	free(q->have);
	free(q);
}
