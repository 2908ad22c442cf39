/* test_prune.c - the retention policy: restic-style buckets, chains kept whole, groups apart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "hero/incremental.h"

#define DAY 86400
#define MON_2026_11_02 1793584800 /* Monday 2026-11-02 02:00 UTC, ISO week 45 */

struct fixture {
	struct hero_prune_item it[64];
	char ids[64][16];
	size_t n;
};

/* Add an archive created at T; PARENT is the index of its parent, or -1. */
static size_t add(struct fixture *f, int64_t t, int parent, const char *group)
{
	size_t i = f->n++;
	snprintf(f->ids[i], sizeof f->ids[i], "id%02zu", i);
	f->it[i] = (struct hero_prune_item){ .created = t, .id = f->ids[i],
					     .parent = parent < 0 ? "" : f->ids[parent], .group = group };
	return i;
}

/* "1100..." : which items are kept, in order. */
static void kept(const struct fixture *f, char *out)
{
	for (size_t i = 0; i < f->n; i++)
		out[i] = f->it[i].keep ? '1' : '0';
	out[f->n] = '\0';
}

static int setup(void **state)
{
	setenv("TZ", "UTC", 1);
	tzset();
	*state = calloc(1, sizeof(struct fixture));
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	free(*state);
	return 0;
}

/* Ten nightly full archives, keep-daily 3: the newest three. */
static void test_daily(void **state)
{
	struct fixture *f = *state;
	char got[65];
	for (int d = 0; d < 10; d++)
		add(f, MON_2026_11_02 + d * DAY, -1, "g");
	struct hero_prune_policy p = { 3, 0, 0 };
	assert_int_equal(hero_prune_plan(f->it, f->n, &p), 3);
	kept(f, got);
	assert_string_equal(got, "0000000111");
	assert_string_equal(f->it[9].why, "daily");
}

/* Several archives a day: only the newest of each day counts, and days
 * without archives do not use up the count. */
static void test_newest_of_each_day(void **state)
{
	struct fixture *f = *state;
	char got[65];
	add(f, MON_2026_11_02, -1, "g");             /* Mon 02:00 */
	add(f, MON_2026_11_02 + 3600, -1, "g");      /* Mon 03:00: newest of Monday */
	add(f, MON_2026_11_02 + 3 * DAY, -1, "g");   /* Thu */
	add(f, MON_2026_11_02 + 3 * DAY + 60, -1, "g"); /* Thu, newest */
	struct hero_prune_policy p = { 2, 0, 0 };
	assert_int_equal(hero_prune_plan(f->it, f->n, &p), 2);
	kept(f, got);
	assert_string_equal(got, "0101");
}

/* Weekly and monthly buckets, and reasons that add up. */
static void test_weekly_monthly(void **state)
{
	struct fixture *f = *state;
	char got[65];
	for (int d = 0; d < 35; d++) /* 2026-11-02 .. 2026-12-06, one a day */
		add(f, MON_2026_11_02 + d * DAY, -1, "g");
	struct hero_prune_policy p = { 1, 3, 2 };
	hero_prune_plan(f->it, f->n, &p);
	kept(f, got);
	/* daily: Dec 6 (Sun, W49); weekly: Dec 6, Nov 29 (Sun W48), Nov 22 (Sun W47);
	 * monthly: Dec 6, Nov 30 (the newest of November) */
	assert_string_equal(got, "00000000000000000000100000011000001");
	assert_string_equal(f->it[34].why, "daily, weekly, monthly");
	assert_string_equal(f->it[28].why, "monthly");
	assert_string_equal(f->it[27].why, "weekly");
}

/* A kept increment keeps every ancestor up to its full archive, and nothing
 * older than that full archive. */
static void test_chains_kept_whole(void **state)
{
	struct fixture *f = *state;
	char got[65];
	size_t prev = add(f, MON_2026_11_02, -1, "g"); /* full, Monday W45 */
	for (int d = 1; d < 7; d++)
		prev = add(f, MON_2026_11_02 + d * DAY, (int)prev, "g");
	prev = add(f, MON_2026_11_02 + 7 * DAY, -1, "g"); /* full, Monday W46 */
	for (int d = 8; d < 10; d++)
		prev = add(f, MON_2026_11_02 + d * DAY, (int)prev, "g");
	struct hero_prune_policy p = { 2, 0, 0 };
	assert_int_equal(hero_prune_plan(f->it, f->n, &p), 3);
	kept(f, got);
	assert_string_equal(got, "0000000111");
	assert_string_equal(f->it[7].why, "needed by id08");
	/* one week back: the previous week's newest increment needs its whole chain */
	p = (struct hero_prune_policy){ 0, 2, 0 };
	assert_int_equal(hero_prune_plan(f->it, f->n, &p), 10);
	kept(f, got);
	assert_string_equal(got, "1111111111");
	assert_string_equal(f->it[6].why, "weekly");
	assert_string_equal(f->it[0].why, "needed by id01");
}

/* Archives of different instances or scopes are decided apart. */
static void test_groups(void **state)
{
	struct fixture *f = *state;
	char got[65];
	for (int d = 0; d < 4; d++) {
		add(f, MON_2026_11_02 + d * DAY, -1, "instance-a");
		add(f, MON_2026_11_02 + d * DAY + 60, -1, "instance-b");
	}
	struct hero_prune_policy p = { 1, 0, 0 };
	assert_int_equal(hero_prune_plan(f->it, f->n, &p), 2);
	kept(f, got);
	assert_string_equal(got, "00000011");
}

/* An increment made in the same second as its parent is the newer one. */
static void test_same_second(void **state)
{
	struct fixture *f = *state;
	char got[65];
	size_t a = add(f, MON_2026_11_02, -1, "g");
	size_t b = add(f, MON_2026_11_02, (int)a, "g");
	add(f, MON_2026_11_02, (int)b, "g");
	struct hero_prune_policy p = { 1, 0, 0 };
	hero_prune_plan(f->it, f->n, &p);
	kept(f, got);
	assert_string_equal(got, "111");
	assert_string_equal(f->it[2].why, "daily");
	assert_string_equal(f->it[1].why, "needed by id02");
}

/* In one second, an unrelated archive written after a chain's tip (a later
 * file time) is the newest, and the chain goes. */
static void test_same_second_unrelated(void **state)
{
	struct fixture *f = *state;
	char got[65];
	size_t a = add(f, MON_2026_11_02, -1, "g");
	f->it[a].tiebreak = 100;
	size_t b = add(f, MON_2026_11_02, (int)a, "g");
	f->it[b].tiebreak = 50; /* copied in another order: still newer than its parent */
	f->it[add(f, MON_2026_11_02, -1, "g")].tiebreak = 200;
	struct hero_prune_policy p = { 1, 0, 0 };
	assert_int_equal(hero_prune_plan(f->it, f->n, &p), 1);
	kept(f, got);
	assert_string_equal(got, "001");
	f->it[2].tiebreak = 101; /* now the child (raised to 101) and the full one tie: id decides */
	hero_prune_plan(f->it, f->n, &p);
	kept(f, got);
	assert_string_equal(got, "001");
	f->it[2].tiebreak = 60;
	hero_prune_plan(f->it, f->n, &p);
	kept(f, got);
	assert_string_equal(got, "110");
}

/* A parent that is not there (a broken chain) keeps what is there; a
 * policy of zeros keeps nothing (the caller refuses it). */
static void test_broken_and_empty(void **state)
{
	struct fixture *f = *state;
	char got[65];
	add(f, MON_2026_11_02, -1, "g");
	f->it[add(f, MON_2026_11_02 + DAY, -1, "g")].parent = "gone";
	struct hero_prune_policy p = { 1, 0, 0 };
	assert_int_equal(hero_prune_plan(f->it, f->n, &p), 1);
	kept(f, got);
	assert_string_equal(got, "01");
	p = (struct hero_prune_policy){ 0, 0, 0 };
	assert_int_equal(hero_prune_plan(f->it, f->n, &p), 0);
	assert_int_equal(hero_prune_plan(NULL, 0, &p), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_daily, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newest_of_each_day, setup, teardown),
		cmocka_unit_test_setup_teardown(test_weekly_monthly, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chains_kept_whole, setup, teardown),
		cmocka_unit_test_setup_teardown(test_groups, setup, teardown),
		cmocka_unit_test_setup_teardown(test_same_second, setup, teardown),
		cmocka_unit_test_setup_teardown(test_same_second_unrelated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_broken_and_empty, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
