/* hero-faultfs.so - an LD_PRELOAD shim that makes the file system fail on cue,
 * for the crash and fault tests (tests/cli/t41_crash.sh). Test-only.
 *
 *   HERO_SHIM_FSYNC_EIO=N   the N-th fsync/fdatasync of the process fails with EIO
 *                           (only that one: a retry would succeed, so a caller
 *                           that retries and reports success is caught)
 *   HERO_SHIM_ENOSPC=N      from the N-th write to a regular file on, every
 *                           write fails with ENOSPC (a full disk)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

static unsigned long env_num(const char *name)
{
	const char *v = getenv(name);
	return v ? strtoul(v, NULL, 10) : 0;
}

static int fsync_fails(void)
{
	static unsigned long calls;
	unsigned long n = env_num("HERO_SHIM_FSYNC_EIO");
	return n && ++calls == n;
}

static int write_fails(int fd)
{
	static unsigned long calls;
	unsigned long n = env_num("HERO_SHIM_ENOSPC");
	struct stat st;
	if (!n || fd <= 2 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return 0;
	return ++calls >= n;
}

int fsync(int fd)
{
	static int (*real)(int);
	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	if (fsync_fails()) {
		errno = EIO;
		return -1;
	}
	return real(fd);
}

int fdatasync(int fd)
{
	static int (*real)(int);
	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	if (fsync_fails()) {
		errno = EIO;
		return -1;
	}
	return real(fd);
}

ssize_t write(int fd, const void *buf, size_t n)
{
	static ssize_t (*real)(int, const void *, size_t);
	if (!real)
		real = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
	if (write_fails(fd)) {
		errno = ENOSPC;
		return -1;
	}
	return real(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	static ssize_t (*real)(int, const void *, size_t, off_t);
	if (!real)
		real = (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
	if (write_fails(fd)) {
		errno = ENOSPC;
		return -1;
	}
	return real(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
	return pwrite(fd, buf, n, off);
}
