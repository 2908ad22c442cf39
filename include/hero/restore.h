/* hero/restore.h - verify an archive and restore it atomically. */
#ifndef HERO_RESTORE_H
#define HERO_RESTORE_H

#include <stdint.h>

#include "hero/archive.h"
#include "hero/keys.h"
#include "hero/manifest.h"

struct hero_restore_opts {
	const char *root;                   /* absolute path of the target instance root */
	const struct hero_inventory *inv;   /* the target's manifests (may be NULL) */
	const struct hero_trust *trust;     /* keys the archive must be signed by */
	int in_fd;                          /* the archive stream */
	const struct hero_limits *limits;   /* NULL = defaults */
	int dry_run;                        /* verify and describe, change nothing */
	/* Receives the lines of the plan (dry run) and of the summary; may be NULL. */
	void (*say)(void *ctx, const char *line);
	void *say_ctx;
	void (*progress)(void *ctx, uint64_t bytes);
	void *progress_ctx;
};

struct hero_restore_result {
	char archive_id[2 * HERO_ID_BYTES + 1];
	struct hero_archive_stats st;
	uint64_t databases_checked;
	uint64_t kept;                      /* paths carried over from the old root */
	int recovered;                      /* 1 if an interrupted restore was cleaned up first */
};

/* Verify the whole stream into a staging directory beside ROOT, check every
 * database, carry over what the archive does not own (secrets, ephemeral
 * and unmanaged files), then swap staging and ROOT in one rename. Nothing in
 * ROOT changes unless everything succeeded. An interrupted earlier restore is
 * finished or rolled back first. */
int hero_restore(const struct hero_restore_opts *opts, struct hero_restore_result *res,
		 struct hero_error *err);

#endif
