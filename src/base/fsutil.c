/* fsutil.c - small file-system helpers: full writes, fsync, atomic replacement, rmtree, paths. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/internal.h"

#ifdef HERO_TESTING
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
#endif

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

int hero_open_parent(int fd, dev_t dev, ino_t ino)
{
	int p = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (p < 0)
		return -1;
	struct stat st;
	int e = fstat(p, &st) < 0 ? errno : st.st_dev != dev || st.st_ino != ino ? ESTALE : 0;
	if (e) {
		close(p);
		errno = e;
		return -1;
	}
	return p;
}

int hero_names_push(struct hero_names *l, const char *name, mode_t mode)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		struct hero_name *v = realloc(l->v, cap * sizeof *v);
		if (!v)
			return -1;
		l->v = v;
		l->cap = cap;
	}
	if (!(l->v[l->n].name = strdup(name)))
		return -1;
	l->v[l->n].flags = 0;
	l->v[l->n++].mode = mode;
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(((const struct hero_name *)a)->name, ((const struct hero_name *)b)->name);
}

void hero_names_sort(struct hero_names *l)
{
	if (l->n > 1)
		qsort(l->v, l->n, sizeof *l->v, cmp_name);
}

void hero_names_release(struct hero_names *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
	memset(l, 0, sizeof *l);
}

/* One directory on the way down: its subdirectories still to remove, and
 * its identity, checked when coming back up through "..". */
struct rm_level {
	struct hero_names sub;
	size_t pos;
	dev_t dev;
	ino_t ino;
};

/* Remove what is not a directory in FD (NAME in messages); list the
 * subdirectories into L, sorted. */
static int rm_scan(int fd, const char *name, struct rm_level *l, struct hero_error *err)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot stat '%s'", name);
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	int lfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = lfd >= 0 ? fdopendir(lfd) : NULL;
	if (!d) {
		if (lfd >= 0)
			close(lfd);
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot list '%s'", name);
	}
	int ret = 0;
	struct dirent *de;
	while (ret == 0 && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT)
				ret = hero_error_errno(err, HERO_EFAIL, errno, "cannot stat '%s'", de->d_name);
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			if (hero_names_push(&l->sub, de->d_name, st.st_mode) < 0)
				ret = hero_error(err, HERO_EFAIL, "out of memory");
			continue;
		}
		hero_fault("rmtree");
		if (unlinkat(fd, de->d_name, 0) < 0 && errno != ENOENT)
			ret = hero_error_errno(err, HERO_EFAIL, errno, "cannot remove '%s'", de->d_name);
	}
	closedir(d);
	hero_names_sort(&l->sub);
	return ret;
}

/* Depth first with the levels on the heap and one directory open at a time
 * (plus DFD): any depth takes bounded stack and descriptors. Coming back up
 * goes through "..", checked against the identity recorded on the way down:
 * a tree moved meanwhile stops the removal rather than letting it wander. */
int hero_rmtree_at(int dfd, const char *name, struct hero_error *err)
{
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot stat '%s'", name);
	}
	if (!S_ISDIR(st.st_mode)) {
		hero_fault("rmtree");
		if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
			return hero_error_errno(err, HERO_EFAIL, errno, "cannot remove '%s'", name);
		return 0;
	}
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot open '%s'", name);
	struct rm_level *lv = calloc(16, sizeof *lv);
	size_t depth = 1, cap = 16;
	int ret = lv ? rm_scan(fd, name, &lv[0], err) : hero_error(err, HERO_EFAIL, "out of memory");
	while (ret == 0 && depth > 0) {
		struct rm_level *l = &lv[depth - 1];
		const char *here = depth > 1 ? lv[depth - 2].sub.v[lv[depth - 2].pos - 1].name : name;
		if (l->pos < l->sub.n) {
			const char *sub = l->sub.v[l->pos++].name;
			if (depth == cap) {
				struct rm_level *v = realloc(lv, 2 * cap * sizeof *v);
				if (!v) {
					ret = hero_error(err, HERO_EFAIL, "out of memory");
					break;
				}
				memset(v + cap, 0, cap * sizeof *v);
				lv = v;
				cap *= 2;
				l = &lv[depth - 1];
			}
			int sfd = openat(fd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sfd < 0) {
				if (errno == ENOENT)
					continue;
				ret = hero_error_errno(err, HERO_EFAIL, errno, "cannot open '%s'", sub);
				break;
			}
			close(fd);
			fd = sfd;
			ret = rm_scan(fd, sub, &lv[depth++], err);
			continue;
		}
		/* every child of HERE is gone: go up and remove it */
		hero_names_release(&l->sub);
		l->pos = 0;
		if (--depth == 0)
			break;
		int up = hero_open_parent(fd, lv[depth - 1].dev, lv[depth - 1].ino);
		if (up < 0) {
			ret = errno == ESTALE ? hero_error(err, HERO_EFAIL, "'%s' was moved while it was removed", here)
					      : hero_error_errno(err, HERO_EFAIL, errno, "cannot open the parent of '%s'", here);
			break;
		}
		close(fd);
		fd = up;
		if (unlinkat(fd, here, AT_REMOVEDIR) < 0 && errno != ENOENT)
			ret = hero_error_errno(err, HERO_EFAIL, errno, "cannot remove '%s'", here);
	}
	close(fd);
	for (size_t i = 0; lv && i < cap; i++)
		hero_names_release(&lv[i].sub);
	free(lv);
	if (ret < 0)
		return ret;
	if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
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

/* A fresh temporary name beside FINAL, created with MODE (less the umask). */
static int atomic_create(struct hero_atomic *a, mode_t mode, struct hero_error *err)
{
	size_t n = strlen(a->path) + 16;
	if (!(a->tmp = malloc(n)))
		return hero_error(err, HERO_EFAIL, "out of memory");
	for (int tries = 0; tries < 100; tries++) {
		uint32_t r;
		if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
			r = (uint32_t)getpid() * 2654435761u + (uint32_t)tries;
		snprintf(a->tmp, n, "%s.tmp.%06x", a->path, r & 0xffffff);
		a->fd = open(a->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
		if (a->fd >= 0 || errno != EEXIST)
			break;
	}
	if (a->fd < 0) {
		int ret = hero_error_errno(err, HERO_EFAIL, errno, "cannot create '%s'", a->tmp);
		free(a->tmp);
		a->tmp = NULL;
		return ret;
	}
	if ((a->flags & HERO_ATOMIC_EXACT) && fchmod(a->fd, mode) < 0)
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot set the mode of '%s'", a->tmp);
	return a->fd;
}

int hero_atomic_open(struct hero_atomic *a, const char *path, mode_t mode, unsigned flags, struct hero_error *err)
{
	*a = (struct hero_atomic)HERO_ATOMIC_INIT;
	a->flags = flags;
	struct stat st;
	if ((flags & HERO_ATOMIC_FOLLOW) && stat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
		a->fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
		if (a->fd < 0)
			return hero_error_errno(err, HERO_EFAIL, errno, "cannot open '%s'", path);
		return a->fd;
	}
	if ((flags & HERO_ATOMIC_FOLLOW))
		a->path = realpath(path, NULL); /* an existing file, through any symlink */
	if (!a->path && !(a->path = strdup(path)))
		return hero_error(err, HERO_EFAIL, "out of memory");
	int ret = atomic_create(a, mode, err);
	if (ret < 0)
		hero_atomic_release(a);
	return ret;
}

void hero_atomic_release(struct hero_atomic *a)
{
	if (a->fd >= 0)
		close(a->fd);
	if (a->tmp)
		unlink(a->tmp);
	free(a->tmp);
	free(a->path);
	*a = (struct hero_atomic)HERO_ATOMIC_INIT;
}

/* fsync the directory holding PATH. */
static int sync_dir_of(const char *path, struct hero_error *err)
{
	const char *slash = strrchr(path, '/');
	char dir[4096];
	snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) + (slash == path) : 1, slash ? path : ".");
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || (fsync(dfd) < 0 && errno != EINVAL)) {
		int ret = hero_error_errno(err, HERO_EFAIL, errno, "cannot fsync directory '%s'", dir);
		if (dfd >= 0)
			close(dfd);
		return ret;
	}
	close(dfd);
	return 0;
}

int hero_atomic_commit(struct hero_atomic *a, struct hero_error *err)
{
	int ret = 0;
	if (!a->tmp) { /* written in place */
		if (a->fd >= 0 && close(a->fd) < 0)
			ret = hero_error_errno(err, HERO_EFAIL, errno, "cannot write '%s'", a->path ? a->path : "output");
		a->fd = -1;
		hero_atomic_release(a);
		return ret;
	}
	if (!(a->flags & HERO_ATOMIC_NOSYNC))
		ret = hero_fsync(a->fd, a->tmp, err);
	if (ret == 0 && close(a->fd) < 0)
		ret = hero_error_errno(err, HERO_EFAIL, errno, "cannot write '%s'", a->tmp);
	a->fd = -1;
	if (ret == 0 && rename(a->tmp, a->path) < 0)
		ret = hero_error_errno(err, HERO_EFAIL, errno, "cannot rename '%s' to '%s'", a->tmp, a->path);
	if (ret < 0) {
		hero_atomic_release(a);
		return ret;
	}
	free(a->tmp);
	a->tmp = NULL; /* renamed: nothing to remove */
	if (a->flags & HERO_ATOMIC_SYNCDIR)
		ret = sync_dir_of(a->path, err);
	hero_atomic_release(a);
	return ret;
}

int hero_write_atomic(const char *path, const void *data, size_t n, mode_t mode, unsigned flags,
		      struct hero_error *err)
{
	struct hero_atomic a;
	int ret = hero_atomic_open(&a, path, mode, flags, err);
	if (ret >= 0 && (ret = hero_write_all(a.fd, data, n, a.tmp ? a.tmp : path, err)) == 0)
		return hero_atomic_commit(&a, err);
	hero_atomic_release(&a);
	return ret;
}
