/* lock.h - one operation per instance at a time. */
#ifndef HERO_LOCK_H
#define HERO_LOCK_H

#include "hero/error.h"

/* Take the instance lock of ROOT without waiting: an exclusive flock on the
 * directory ROOT itself (nothing is created). On success *FD holds the lock
 * until closed. A held lock fails with HERO_EBUSY. */
int hero_lock_instance(const char *root, int *fd, struct hero_error *err);

/* Lock the directory open at DIRFD (used on a staging tree); LABEL names it. */
int hero_lock_at(int dirfd, const char *label, int *fd, struct hero_error *err);

#endif
