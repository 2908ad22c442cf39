/* pathsafe.h - what an archive entry path may be, and the claims of the paths
 * of one archive (pathsafe.c). Not installed. */
#ifndef HERO_PATHSAFE_H
#define HERO_PATHSAFE_H

#include "base/strset.h"
#include "hero/error.h"

struct hero_limits;
/* Check an archive entry path (formats/hero-archive-v1.md section 2.3). */
int hero_path_check(const char *path, const struct hero_limits *lim, struct hero_error *err);

/* The paths one archive claims, keyed by their case-folded NFKC form. */
struct hero_claims {
	struct hero_strset exact, files, dirs, parents, rawparents;
};
int hero_claims_init(struct hero_claims *c); /* -1 when out of memory; release anyway */
/* Refuse a duplicate, a case/normalisation collision, a file/directory clash,
 * the reserved name .hero in any case, and SQLite sidecars beside a database. */
int hero_claims_add(struct hero_claims *c, const char *path, int isdir, struct hero_error *err);
void hero_claims_release(struct hero_claims *c);

#endif
