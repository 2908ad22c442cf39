/* plan.h - what a snapshot of a root will contain, worked out from the manifests. */
#ifndef HERO_PLAN_H
#define HERO_PLAN_H

#include <stdint.h>
#include <sys/types.h>

#include "base/strset.h"
#include "hero/archive.h"
#include "hero/manifest.h"

struct plan_entry {
	char *path;             /* relative to the root */
	enum hero_etype type;
	uint64_t size;
	mode_t mode;
	int64_t mtime;
	size_t svc;             /* index into inv->services */
	const struct hero_state *st;
	char *context;          /* NULL when not per-context */
};

struct plan_skip {
	size_t svc;
	char *path;
	const char *why;        /* "derived", "ephemeral", "secrets", "symlink", ... */
};

struct plan_svc {
	int selected;
	uint64_t entries, bytes;
	struct hero_strlist contexts; /* contexts seen, sorted */
};

struct hero_plan {
	const struct hero_inventory *inv;
	struct plan_entry *e;
	size_t n, cap;
	struct plan_skip *skip;
	size_t n_skip, cap_skip;
	struct plan_svc *svc;   /* one per inventory service */
	struct hero_strset seen;
};

/* Scope of a plan: NULL lists mean "all". */
struct plan_scope {
	const struct hero_strlist *services;
	const struct hero_strlist *contexts;
};

int hero_plan_build(struct hero_plan *p, const struct hero_inventory *inv, const char *root,
		    const struct plan_scope *scope, struct hero_error *err);
void hero_plan_release(struct hero_plan *p);

/* Match relative PATH against state path PATTERN ({context} matches one
 * component; CONTEXT, if not NULL, must be that component). Returns 1 if PATH
 * is the pattern's file, lies under its directory, or is a SQLite sidecar
 * (-wal, -shm, -journal) of a file pattern. */
int hero_pattern_covers(const char *pattern, const char *path, const char *context);

/* As hero_pattern_covers, also copying the component that matched {context}
 * into CTX (empty when the pattern has none). */
int hero_pattern_match(const char *pattern, const char *path, char *ctx, size_t n);

/* PATH (covered by PATTERN) with its {context} component replaced by TO; malloc'd. */
char *hero_pattern_rename(const char *pattern, const char *path, const char *to);

#endif
