/* hero/incremental.h - chains of incremental archives, and their retention.
 *
 * An incremental archive (formats/hero-archive-v1.md section 8) names its
 * parent by archive id; a chain is a full archive followed by increments,
 * each the child of the one before (docs/decisions/0025-incremental-archives.md).
 */
#ifndef HERO_INCREMENTAL_H
#define HERO_INCREMENTAL_H

#include <stddef.h>
#include <stdint.h>

#include "hero/archive.h"
#include "hero/strlist.h"

#define HERO_ID_HEX (2 * HERO_ID_BYTES + 1)

/* One archive file as its header and manifest describe it. Nothing of it is
 * verified: a restore verifies every link as it reads it. */
struct hero_link {
	char *path;               /* the file, as given */
	char id[HERO_ID_HEX];     /* archive id */
	char parent[HERO_ID_HEX]; /* parent's archive id; "" for a full archive */
	char instance_id[HERO_ID_HEX];
	char keyid[2 * HERO_KEYID_BYTES + 1];
	char *scope;              /* the scope, canonical: "KIND[ services=A,B][ contexts=C]" */
	char created_text[32];    /* the manifest's "created" */
	uint64_t created;         /* the header's creation time, seconds since the epoch */
	uint16_t flags;           /* header flags */
	uint64_t bytes;           /* file size */
	int64_t mtime_ns;         /* the file's modification time: orders archives of one second */
	char *manifest;           /* the manifest text, NUL-terminated */
	size_t manifest_len;
};

/* A list of links; a chain when hero_chain_check accepts it. */
struct hero_chain {
	struct hero_link *v;
	size_t n;
};

#define HERO_CHAIN_INIT { NULL, 0 }

/* Read the header and the manifest of the archive file PATH into L. Refuses
 * (HERO_EINTEGRITY) what is not an archive, and a manifest whose `parent`
 * disagrees with the header's incremental flag. Release with hero_link_release. */
int hero_link_read(struct hero_link *l, const char *path, struct hero_error *err);
void hero_link_release(struct hero_link *l);

/* Every *.hsnap file of DIR, sorted by name, appended to ALL. Files that
 * cannot be read as archives are left out and described, one line each
 * ("NAME: message", NAME escaped as hero_path_quote does), in BAD (may be
 * NULL). Only regular files, and symlinks to regular files, are read: a
 * FIFO, socket, device or directory named *.hsnap (or a symlink to one) is
 * never read from (a FIFO would block the scan), and is reported to the
 * scan warning function, if set. A symlink to a file DIR holds under another
 * name (latest.hsnap -> 0042.hsnap) is that archive: left out, silently. */
int hero_dir_scan(const char *dir, struct hero_chain *all, struct hero_strlist *bad, struct hero_error *err);

/* Where directory scans (hero_dir_scan, and everything that scans: chains
 * from a directory, prune) report each *.hsnap they skip, one line
 * ("warning: skipping 'DIR/NAME': not a regular file (fifo)", the path
 * escaped). Process-wide; NULL (the default) reports nothing. The library
 * never prints: the tools set this to print on stderr. */
void hero_set_scan_warn(void (*fn)(void *ctx, const char *line), void *ctx);

/* The chain in ALL that ends at its newest archive (latest header time; in
 * one second, a descendant before its ancestors, then the latest file
 * modification time, then the file name), base first, copied into OUT. A
 * parent not in ALL refuses with HERO_EINTEGRITY, naming it. */
int hero_chain_resolve(const struct hero_chain *all, struct hero_chain *out, struct hero_error *err);

/* Check that C is a chain: the first link is a full archive, each link's
 * parent is the previous link's id, all links share instance id and scope.
 * Returns 0, or -HERO_EINTEGRITY with *BAD (may be NULL) the first bad link. */
int hero_chain_check(const struct hero_chain *c, size_t *bad, struct hero_error *err);

/* Archive arguments as a chain: one directory (resolved as above) or files
 * in the order given (read, not checked). */
int hero_chain_from_args(const struct hero_strlist *args, struct hero_chain *out, struct hero_error *err);

/* The canonical scope string (as in struct hero_link) of a snapshot of
 * SERVICES and CONTEXTS (either may be NULL or empty); malloc'd. */
char *hero_scope_string(const struct hero_strlist *services, const struct hero_strlist *contexts);

/* The chain in DIR that ends at the newest archive of instance INSTANCE_ID
 * and scope SCOPE (a string of hero_scope_string; NULL: any), base first, into OUT; OUT
 * stays empty when DIR holds no such archive. The file EXCLUDE (may be NULL;
 * compared by device and inode) and other files are ignored; a broken chain
 * refuses with HERO_EINTEGRITY. */
int hero_dir_chain_for(const char *dir, const char *instance_id, const char *scope, const char *exclude,
		       struct hero_chain *out, struct hero_error *err);

/* Copy link L onto the end of C. */
int hero_chain_push(struct hero_chain *c, const struct hero_link *l, struct hero_error *err);
void hero_chain_release(struct hero_chain *c);

/* ---- retention ---- */

/* Keep the newest archive of each of the last DAILY days, WEEKLY ISO weeks
 * and MONTHLY months that have archives (local time), as restic's forget. */
struct hero_prune_policy {
	int daily, weekly, monthly;
};

/* One archive to decide on. GROUP separates archives of different
 * instances or scopes: the policy applies to each group on its own. */
struct hero_prune_item {
	int64_t created;      /* seconds since the epoch */
	const char *id;
	const char *parent;   /* "" for a full archive */
	const char *group;
	int64_t tiebreak;     /* orders archives of one second that are not each other's ancestors (file mtime, ns) */
	int keep;             /* out: 1 to keep */
	char why[96];         /* out: "daily 1, weekly 1", "parent of ID", or "" */
};

/* Decide which of the N ITEMS to keep: what the policy selects, then every
 * ancestor (by parent id, within its group) of a kept archive. A pure
 * function of its input and the TZ environment. Returns the number kept. */
size_t hero_prune_plan(struct hero_prune_item *items, size_t n, const struct hero_prune_policy *p);

struct hero_prune_opts {
	const char *dir;
	struct hero_prune_policy policy;
	int dry_run;          /* decide and report, remove nothing */
	/* Receives one line per archive ("keep ..." / "remove ...") and per file
	 * left alone ("skip ..."); may be NULL. */
	void (*say)(void *ctx, const char *line);
	void *say_ctx;
};

struct hero_prune_result {
	uint64_t kept, removed, skipped; /* skipped: files not read as archives */
	uint64_t bytes_kept, bytes_removed;
};

/* Take the archive directory's lock (exclusive), read every *.hsnap of DIR,
 * decide with hero_prune_plan and unlink what is not kept (unless dry_run).
 * Refuses a policy that keeps nothing (HERO_EUSAGE). */
int hero_prune(const struct hero_prune_opts *o, struct hero_prune_result *res, struct hero_error *err);

/* Lock the archive directory DIR without waiting: a flock on DIR itself,
 * SHARED for a snapshot writing into it, exclusive for prune. *FD holds the
 * lock until closed; a held lock fails with HERO_EBUSY. */
int hero_lock_archive_dir(const char *dir, int shared, int *fd, struct hero_error *err);

#endif
