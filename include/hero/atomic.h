/* atomic.h - the library's one way to replace a file atomically, for the
 * tools too (hero-snap -o). */
#ifndef HERO_ATOMIC_H
#define HERO_ATOMIC_H

#include <stddef.h>
#include <sys/types.h>

#include "hero/error.h"

/* Replace a file atomically: its content goes to a new temporary file beside it
 * (PATH.tmp.XXXXXX, created O_EXCL with MODE less the umask), which is fsync'd
 * and renamed over PATH only when complete; on failure it is removed and PATH is
 * left as it was. The rename replaces whatever PATH names, a symbolic link
 * included, unless FLAGS say otherwise: */
#define HERO_ATOMIC_NOSYNC 1  /* no fsync of the file (a cache, checked when read) */
#define HERO_ATOMIC_SYNCDIR 2 /* fsync the directory after the rename: the new name survives a crash */
#define HERO_ATOMIC_FOLLOW 4  /* a symbolic link at PATH is followed (its target is replaced, not
			       * the link); a device or FIFO at PATH is written as it is, never replaced */
#define HERO_ATOMIC_EXACT 8   /* the file gets MODE exactly, whatever the umask */
struct hero_atomic {
	int fd;
	unsigned flags;
	char *path;                 /* the final name (the link's target with FOLLOW) */
	char *tmp;                  /* NULL when written in place (a device or FIFO) */
};
#define HERO_ATOMIC_INIT { -1, 0, NULL, NULL }
/* Start replacing PATH: the descriptor to write to (also in A->fd), or a negative code. */
int hero_atomic_open(struct hero_atomic *a, const char *path, mode_t mode, unsigned flags, struct hero_error *err);
/* Complete it: fsync, close, rename (fsync the directory). A is released either way. */
int hero_atomic_commit(struct hero_atomic *a, struct hero_error *err);
/* Give it up: close, remove the temporary file. Fine after a commit, or on HERO_ATOMIC_INIT. */
void hero_atomic_release(struct hero_atomic *a);
/* The whole of it for N bytes of DATA. */
int hero_write_atomic(const char *path, const void *data, size_t n, mode_t mode, unsigned flags,
		      struct hero_error *err);

#endif
