/* hero/snapshot.h - archive the state of an instance. */
#ifndef HERO_SNAPSHOT_H
#define HERO_SNAPSHOT_H

#include <stdint.h>

#include "hero/archive.h"
#include "hero/keys.h"
#include "hero/manifest.h"

struct hero_snap_opts {
	const char *root;                     /* instance root */
	const struct hero_inventory *inv;     /* loaded manifests */
	const struct hero_seckey *sk;         /* signing key */
	int out_fd;                           /* where the archive goes */
	const struct hero_strlist *services;  /* NULL or empty: every service */
	const struct hero_strlist *contexts;  /* NULL or empty: every context */
	int level, threads;                   /* zstd; 0 = defaults */
	const char *tmpdir;                   /* for database copies; NULL = $TMPDIR or /tmp */
	int hooks;                            /* quiesce the services first, resume them after */
	const struct hero_pubkey *recipients; /* encrypt to these X25519 recipients... */
	size_t n_recipients;
	const char *passphrase;               /* ...or to this passphrase (NULL: not encrypted) */
	int include_secrets;                  /* carry the secret values the services need (encrypted only) */
	/* Write an increment of this archive file (formats/hero-archive-v1.md
	 * section 8), which must be of this instance and scope. Its index is the
	 * one ROOT remembers when ROOT's last snapshot wrote it; otherwise it is
	 * read and verified first, with SK's own public key and PARENT_TRUST (may
	 * be NULL). */
	const char *parent;
	const struct hero_trust *parent_trust;
	/* Read and verify the parent even when ROOT remembers its index (the
	 * index of the last archive a snapshot of ROOT wrote, docs/decisions/0025). */
	int verify_parent;
	/* Called after each entry with bytes done and bytes planned; may be NULL. */
	void (*progress)(void *ctx, uint64_t done, uint64_t total);
	void *progress_ctx;
};

struct hero_snap_result {
	char archive_id[2 * HERO_ID_BYTES + 1];
	struct hero_archive_stats st;
	uint64_t skipped;                     /* state surfaces deliberately left out */
	char parent_id[2 * HERO_ID_BYTES + 1]; /* "" for a full archive */
	uint64_t unchanged, deleted;          /* increment: entries listed without data, paths gone */
	int parent_verified;                  /* the parent was read through and verified, not remembered */
};

/* Take the instance lock, plan from the manifests, and write one signed
 * archive to opts->out_fd. Databases are copied one at a time through the
 * SQLite backup API into TMPDIR and streamed from there. With opts->parent,
 * only what changed since the parent is written: files whose size, mode and
 * mtime (ns) are the parent's are listed as unchanged without being read,
 * databases whose copy hashes to the parent's are listed as unchanged, and
 * paths gone since are listed as deleted (docs/decisions/0025). */
int hero_snapshot(const struct hero_snap_opts *opts, struct hero_snap_result *res,
		  struct hero_error *err);

/* The instance id of ROOT (ROOT/.hero/instance-id, created on first use). */
int hero_instance_id(const char *root, char out[2 * HERO_ID_BYTES + 1], struct hero_error *err);

#endif
