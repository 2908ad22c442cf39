/* test_workq.c - the work queue passes every slot through its stages in order,
 * keeps the first error, and releases every slot when stopped early. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pipeline/workq.h"

#define SLOTS 4
#define ITEMS 10000

struct pipe {
	struct hero_workq *wq;
	uint64_t val[SLOTS];
	uint64_t sum1, sum2, seen2, skipped;
	uint64_t fail_at;       /* stage 2 fails on this item (0: never) */
	uint64_t produce;       /* a stage-0 thread produces this many items */
	uint64_t got;           /* the caller's stage 1 of a producer queue */
};

static int double_stage(void *ctx, unsigned i, uint64_t seq, int skip, struct hero_error *err)
{
	struct pipe *p = ctx;
	(void)seq;
	(void)err;
	if (!skip) {
		p->sum1 += p->val[i];
		p->val[i] *= 2;
	}
	return 0;
}

static int check_stage(void *ctx, unsigned i, uint64_t seq, int skip, struct hero_error *err)
{
	struct pipe *p = ctx;
	if (skip) {
		p->skipped++;
		return 0;
	}
	if (p->fail_at && seq == p->fail_at)
		return hero_error(err, HERO_EFAIL, "item %llu refused", (unsigned long long)seq);
	p->sum2 += p->val[i];
	p->seen2++;
	return p->val[i] == 2 * (seq + 1) ? 0 : hero_error(err, HERO_EFAIL, "out of order at %llu",
							   (unsigned long long)seq);
}

static int produce_stage(void *ctx, unsigned i, uint64_t seq, int skip, struct hero_error *err)
{
	struct pipe *p = ctx;
	(void)skip;
	(void)err;
	p->val[i] = seq;
	return seq + 1 == p->produce ? HERO_WORKQ_LAST : 0;
}

static void fill(struct pipe *p, uint64_t n)
{
	for (uint64_t k = 0; k < n; k++) {
		int i = hero_workq_next(p->wq, 0);
		assert_true(i >= 0 && i < SLOTS);
		p->val[i] = k + 1;
		hero_workq_pass(p->wq, 0);
	}
}

/* Three stages, two on threads: every item through both, in order. */
static void test_in_order(void **state)
{
	(void)state;
	struct pipe p = { 0 };
	struct hero_error err = HERO_ERROR_INIT;
	const hero_workq_fn fns[] = { NULL, double_stage, check_stage };
	assert_int_equal(hero_workq_new(&p.wq, SLOTS, 3, fns, &p, "test", &err), 0);
	fill(&p, ITEMS);
	hero_workq_drain(p.wq);
	assert_int_equal(hero_workq_error(p.wq, &err), 0);
	assert_true(p.seen2 == ITEMS);
	assert_true(p.sum1 == (uint64_t)ITEMS * (ITEMS + 1) / 2);
	assert_true(p.sum2 == 2 * p.sum1);
	hero_workq_join(p.wq);
	hero_workq_free(p.wq);
}

/* The first error is kept; later slots go through with SKIP. */
static void test_first_error(void **state)
{
	(void)state;
	struct pipe p = { .fail_at = 100 };
	struct hero_error err = HERO_ERROR_INIT;
	const hero_workq_fn fns[] = { NULL, double_stage, check_stage };
	assert_int_equal(hero_workq_new(&p.wq, SLOTS, 3, fns, &p, "test", &err), 0);
	fill(&p, 1000);
	hero_workq_drain(p.wq);
	assert_int_equal(hero_workq_error(p.wq, &err), -HERO_EFAIL);
	assert_string_equal(err.msg, "item 100 refused");
	assert_true(p.seen2 == 100);
	assert_true(p.seen2 + 1 + p.skipped == 1000);
	hero_workq_free(p.wq);
}

/* Freed with slots queued: the threads release them (SKIP) and end. */
static void test_stop_early(void **state)
{
	(void)state;
	struct pipe p = { 0 };
	struct hero_error err = HERO_ERROR_INIT;
	const hero_workq_fn fns[] = { NULL, double_stage, check_stage };
	assert_int_equal(hero_workq_new(&p.wq, SLOTS, 3, fns, &p, "test", &err), 0);
	fill(&p, 3);
	hero_workq_free(p.wq);
	assert_true(p.seen2 + p.skipped == 3);
}

/* A thread produces, the caller consumes to the end; idle then. */
static void test_producer_thread(void **state)
{
	(void)state;
	struct pipe p = { .produce = ITEMS };
	struct hero_error err = HERO_ERROR_INIT;
	const hero_workq_fn fns[] = { produce_stage, NULL };
	assert_int_equal(hero_workq_new(&p.wq, SLOTS, 2, fns, &p, "test", &err), 0);
	int i;
	while ((i = hero_workq_next(p.wq, 1)) >= 0) {
		assert_true(p.val[i] == p.got);
		p.got++;
		hero_workq_pass(p.wq, 1);
	}
	assert_true(p.got == ITEMS);
	assert_true(hero_workq_idle(p.wq));
	hero_workq_free(p.wq);

	/* freed while the producer waits for a free slot */
	struct pipe q = { .produce = ITEMS };
	assert_int_equal(hero_workq_new(&q.wq, SLOTS, 2, fns, &q, "test", &err), 0);
	assert_true(hero_workq_next(q.wq, 1) >= 0);
	hero_workq_free(q.wq);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_in_order),
		cmocka_unit_test(test_first_error),
		cmocka_unit_test(test_stop_early),
		cmocka_unit_test(test_producer_thread),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
