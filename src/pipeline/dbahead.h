/* dbahead.h - make the SQLite copies of a snapshot ahead of the archive writer.
 *
 * hero-snap archives each database from a temporary copy made with the backup
 * API (docs/decisions/0017-sqlite-copies.md). Made in turn, every copy stalls
 * the whole pipeline; made on a thread of their own, a few entries ahead,
 * they overlap reading, hashing and compressing the files in between.
 * Each copy is still one instant of its database.
 */
#ifndef HERO_DBAHEAD_H
#define HERO_DBAHEAD_H

#include <stddef.h>

#include "hero/error.h"

struct hero_dbahead;

/* Copy item I into the new file TMP (absent when called); runs on the copy thread. */
typedef int (*hero_dbahead_fn)(void *ctx, size_t i, const char *tmp, struct hero_error *err);

/* Start copying items 0 .. N-1 in order into temporary files under TMPDIR, at most
 * DEPTH of them finished and not yet done with. CTX must outlive the object. */
int hero_dbahead_new(struct hero_dbahead **out, const char *tmpdir, size_t n, unsigned depth,
		     hero_dbahead_fn fn, void *ctx, struct hero_error *err);
/* Wait for the copy of item I (items are taken in order) and give its path, valid
 * until hero_dbahead_done(I); or the copy's error. */
int hero_dbahead_take(struct hero_dbahead *a, size_t i, const char **path, struct hero_error *err);
/* Done with item I: its file is removed and the next copy may start. */
void hero_dbahead_done(struct hero_dbahead *a, size_t i);
/* Stop copying, wait for the thread, remove every file left. NULL is fine. */
void hero_dbahead_free(struct hero_dbahead *a);

#endif
