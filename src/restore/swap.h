/* swap.h - a staging tree beside an instance root, swapped in atomically.
 *
 *   begin:  lock ROOT (and the staging tree), finish or roll back an
 *           interrupted swap, create PARENT/.NAME.hero-staging
 *   carry:  hard-link what the new tree does not own from ROOT into staging
 *   commit: fsync the staging tree, mark it, exchange it with ROOT in one
 *           renameat2(RENAME_EXCHANGE), fsync PARENT, remove the old tree
 *   abort:  remove the staging tree
 * A crash at any point leaves ROOT entirely old or entirely new; the next
 * begin cleans up (docs/decisions/0003-atomic-restore.md). */
#ifndef HERO_SWAP_H
#define HERO_SWAP_H

#include <stdint.h>

#include "hero/error.h"

struct hero_swap {
	int parentfd;
	char *parent, *name, *staging;
	int stagingfd;
	int root_exists;
	int lock_root, lock_staging;
	int recovered;
	int exchanged;     /* ROOT holds the new tree */
	int keep_staging;  /* a failure after the exchange: leave the old tree for the next begin */
};

int hero_swap_begin(struct hero_swap *s, const char *root, struct hero_error *err);
/* Carry over every path of ROOT for which OWNED(ctx, rel, is_dir) returns 0
 * (directories are descended into), HERO_CARRY_BENEATH for a directory whose
 * entries are judged one by one (descended into, and kept only if something
 * beneath it is), and 1 for what is replaced (skipped whole). */
#define HERO_CARRY_BENEATH 2
int hero_swap_carry(struct hero_swap *s, int (*owned)(void *ctx, const char *rel, int is_dir), void *ctx,
		    uint64_t *kept, struct hero_error *err);
int hero_swap_commit(struct hero_swap *s, struct hero_error *err);
/* Remove the staging tree (if any) and release everything. Safe after commit. */
void hero_swap_end(struct hero_swap *s);

/* Only check for, and clean up, an interrupted swap of ROOT (takes the locks). */
int hero_swap_recover(const char *root, int *recovered, struct hero_error *err);

#endif
