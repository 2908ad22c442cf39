/* lock.c - the instance lock: an exclusive flock on the root directory itself.
 *
 * Locking the directory (not a file inside it) creates nothing in the
 * instance, so a refused operation leaves it byte-identical. A restore also
 * locks its staging tree before the exchange, so whoever opens the root path
 * after the swap finds it locked too. */
#include "base/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

int hero_lock_at(int dirfd, const char *label, int *out, struct hero_error *err)
{
	/* a new open file description: flock belongs to it, not to DIRFD's */
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot open '%s' to lock it", label);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		close(fd);
		if (e == EWOULDBLOCK)
			return hero_error(err, HERO_EBUSY,
					  "instance '%s' is busy: another snapshot or restore holds its lock", label);
		return hero_error_errno(err, HERO_EFAIL, e, "cannot lock '%s'", label);
	}
	*out = fd;
	return 0;
}

int hero_lock_instance(const char *root, int *out, struct hero_error *err)
{
	int dfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot open instance root '%s'", root);
	int ret = hero_lock_at(dfd, root, out, err);
	close(dfd);
	return ret;
}
