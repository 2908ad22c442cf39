/* fsutil.c - small file-system helpers: full writes, fsync, rmtree, paths. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

int hero_fault(const char *point)
{
	static unsigned long hits; /* one point is armed per process: a plain counter does */
	const char *spec = getenv("HERO_FAULT");
	size_t pl = strlen(point);
	if (!spec || strncmp(spec, point, pl) != 0 || (spec[pl] != '\0' && spec[pl] != ':'))
		return 0;
	unsigned long want = 1;
	const char *action = "kill";
	if (spec[pl] == ':') {
		char *end;
		want = strtoul(spec + pl + 1, &end, 10);
		if (*end == ':')
			action = end + 1;
	}
	if (++hits != want)
		return 0;
	if (!strcmp(action, "stop")) {
		raise(SIGSTOP);
		return 0;
	}
	if (!strcmp(action, "eio") || !strcmp(action, "enospc")) {
		errno = action[1] == 'i' ? EIO : ENOSPC;
		return -1;
	}
	kill(getpid(), SIGKILL);
	return 0;
}

int hero_write_all(int fd, const void *buf, size_t n, const char *what, struct hero_error *err)
{
	const char *p = buf;
	if (hero_fault("write") < 0)
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot write %s", what);
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return hero_error_errno(err, HERO_EFAIL, errno, "cannot write %s", what);
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

ssize_t hero_read_full(int fd, void *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, (char *)buf + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

int hero_fsync(int fd, const char *what, struct hero_error *err)
{
	if (hero_fault("fsync") < 0 || (fsync(fd) < 0 && errno != EINVAL))
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot fsync '%s'", what);
	return 0;
}

int hero_fsync_path(const char *path, struct hero_error *err)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot open '%s'", path);
	int ret = hero_fsync(fd, path, err);
	close(fd);
	return ret;
}

static int rm_children(int fd, const char *name, struct hero_error *err)
{
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot list '%s'", name);
	}
	int ret = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if ((ret = hero_rmtree_at(dirfd(d), de->d_name, err)) < 0)
			break;
	}
	closedir(d);
	return ret;
}

int hero_rmtree_at(int dfd, const char *name, struct hero_error *err)
{
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot stat '%s'", name);
	}
	if (S_ISDIR(st.st_mode)) {
		int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return hero_error_errno(err, HERO_EFAIL, errno, "cannot open '%s'", name);
		int ret = rm_children(fd, name, err);
		if (ret < 0)
			return ret;
		if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
			return hero_error_errno(err, HERO_EFAIL, errno, "cannot remove '%s'", name);
		return 0;
	}
	hero_fault("rmtree");
	if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot remove '%s'", name);
	return 0;
}

char *hero_join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *p = malloc(la + lb + 2);
	if (!p)
		return NULL;
	memcpy(p, a, la);
	size_t off = la;
	if (la && a[la - 1] != '/')
		p[off++] = '/';
	memcpy(p + off, b, lb + 1);
	return p;
}

int hero_mkdirs_at(int dfd, const char *path, struct hero_error *err)
{
	char *buf = strdup(path);
	if (!buf)
		return hero_error(err, HERO_EFAIL, "out of memory");
	int ret = 0;
	for (char *p = buf;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (*buf && mkdirat(dfd, buf, 0755) < 0 && errno != EEXIST) {
			ret = hero_error_errno(err, HERO_EFAIL, errno, "cannot create directory '%s'", buf);
			break;
		}
		*p = c;
		if (!c)
			break;
	}
	free(buf);
	return ret;
}

int hero_split_path(const char *path, char **parent, char **base, struct hero_error *err)
{
	char *copy = strdup(path);
	if (!copy)
		return hero_error(err, HERO_EFAIL, "out of memory");
	size_t n = strlen(copy);
	while (n > 1 && copy[n - 1] == '/')
		copy[--n] = '\0';
	char *slash = strrchr(copy, '/');
	if (!slash) {
		*parent = strdup(".");
		*base = strdup(copy);
	} else {
		*base = strdup(slash + 1);
		if (slash == copy)
			slash[1] = '\0';
		else
			*slash = '\0';
		*parent = strdup(copy);
	}
	free(copy);
	if (!*parent || !*base) {
		free(*parent);
		free(*base);
		return hero_error(err, HERO_EFAIL, "out of memory");
	}
	return 0;
}

char *hero_read_text(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	char chunk[4096];
	size_t got;
	while (m && (got = fread(chunk, 1, sizeof chunk, f)) > 0)
		fwrite(chunk, 1, got, m);
	fclose(f);
	if (m)
		fclose(m);
	return buf;
}
