/* lock.c - the instance lock: flock on ROOT/.hero/lock. */
#include "hero/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int hero_lock_at(int dirfd, const char *label, int *out, struct hero_error *err)
{
	if (mkdirat(dirfd, ".hero", 0700) < 0 && errno != EEXIST)
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot create '%s/.hero'", label);
	int fd = openat(dirfd, ".hero/lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot open lock '%s/.hero/lock'", label);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		close(fd);
		if (e == EWOULDBLOCK)
			return hero_error(err, HERO_EBUSY, "instance '%s' is busy: another snapshot or restore holds its lock",
					  label);
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
