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
	int in_fd;                          /* the archive stream (unless CHAIN is set) */
	/* Archive files instead of IN_FD: a full archive, then its increments in
	 * order (formats/hero-archive-v1.md section 8). Each link is verified as it
	 * is read, each must be the child of the one before, and the result is the
	 * state of the last; a per-context restore of a chain is refused. */
	const struct hero_strlist *chain;
	const struct hero_limits *limits;   /* NULL = defaults */
	int dry_run;                        /* verify and describe, change nothing */
	const struct hero_strlist *services; /* restore only these services (NULL/empty: all) */
	const char *context;                /* restore only this context (NULL: see below) */
	const char *as;                     /* with CONTEXT: its name in the target */
	int allow_missing_secrets;          /* report missing secret names instead of refusing */
	const char *secrets_command;        /* prints the target's secret names; NULL: read its secrets files */
	int hooks;                          /* run quiesce / resume hooks and wait for health */
	const struct hero_seckey *identity; /* to decrypt an encrypted archive, or... */
	const char *passphrase;             /* ...its passphrase (both NULL: not encrypted) */
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
	uint64_t rows;                      /* rows restored into context-column databases */
	uint64_t migrations;                /* migration files applied */
	int recovered;                      /* 1 if an interrupted restore was cleaned up first */
	uint64_t links;                     /* archives read: 1, or the length of the chain */
};

/* Verify the whole stream into a staging directory beside ROOT, check every
 * database, carry over what the restore does not replace (secrets,
 * ephemeral and unmanaged files, other services and contexts), then swap
 * staging and ROOT in one rename. Nothing in ROOT changes unless everything
 * succeeded. An interrupted earlier restore is finished or rolled back first.
 *
 * Scope: every service of the archive, or opts->services. Without a context
 * each service's state is replaced whole; with opts->context (or when the
 * archive was made for contexts) only that context's directories, files and
 * rows are replaced, renamed to opts->as if given. Refuses (before any change)
 * an archive schema newer than the target's manifest (HERO_ECOMPAT), secret
 * names the target lacks (HERO_ESECRETS), and rows colliding with another
 * context's keys (HERO_ECONFLICT); applies forward migrations to older state. */
int hero_restore(const struct hero_restore_opts *opts, struct hero_restore_result *res,
		 struct hero_error *err);

#endif
