/* swap.c - staging beside the root, carry-over, atomic exchange, recovery. */
#include "swap.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hero/lock.h"
#include "internal.h"

#define MARKER ".hero/restore-new"

static int open_dir_at(int dfd, const char *name)
{
	return openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

static int exists_at(int dfd, const char *name)
{
	struct stat st;
	return fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Lock the tree NAME under PARENTFD (only if the tree exists). */
static int lock_tree(struct hero_swap *s, const char *name, int *lockfd, struct hero_error *err)
{
	int fd = open_dir_at(s->parentfd, name);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot open '%s/%s'", s->parent, name);
	}
	char label[4096];
	snprintf(label, sizeof label, "%s/%s", s->parent, name);
	int ret = hero_lock_at(fd, label, lockfd, err);
	close(fd);
	return ret;
}

static int fsync_parent(struct hero_swap *s, struct hero_error *err)
{
	return hero_fsync(s->parentfd, s->parent, err);
}

/* Finish (roll forward) or roll back a swap interrupted by a crash. */
static int recover(struct hero_swap *s, struct hero_error *err)
{
	int ret;
	char marker[4096];
	snprintf(marker, sizeof marker, "%s/" MARKER, s->name);
	int marked = exists_at(s->parentfd, marker);
	if (exists_at(s->parentfd, s->staging)) {
		/* The staging name holds either an unfinished new tree (no exchange yet:
		 * roll back) or the old tree (exchange done, ROOT is marked: roll forward).
		 * Either way it goes. */
		if ((ret = lock_tree(s, s->staging, &s->lock_staging, err)) < 0)
			return ret;
		if ((ret = hero_rmtree_at(s->parentfd, s->staging, err)) < 0)
			return ret;
		s->recovered = 1;
		hero_fault("recover-removed");
	}
	if (marked) {
		if (unlinkat(s->parentfd, marker, 0) < 0 && errno != ENOENT)
			return hero_error_errno(err, HERO_EFAIL, errno, "cannot remove '%s'", marker);
		s->recovered = 1;
	}
	if (s->lock_staging >= 0) {
		close(s->lock_staging);
		s->lock_staging = -1;
	}
	return s->recovered ? fsync_parent(s, err) : 0;
}

static int setup(struct hero_swap *s, const char *root, struct hero_error *err)
{
	memset(s, 0, sizeof *s);
	s->parentfd = s->stagingfd = s->lock_root = s->lock_staging = -1;
	if (root[0] != '/')
		return hero_error(err, HERO_EUSAGE, "instance root '%s' is not an absolute path", root);
	int ret = hero_split_path(root, &s->parent, &s->name, err);
	if (ret < 0)
		return ret;
	if (!strcmp(s->name, "/") || !strcmp(s->name, ".") || !strcmp(s->name, ".."))
		return hero_error(err, HERO_EUSAGE, "refusing instance root '%s'", root);
	size_t n = strlen(s->name) + sizeof ".hero-staging" + 2;
	if (!(s->staging = malloc(n)))
		return hero_error(err, HERO_EFAIL, "out of memory");
	snprintf(s->staging, n, ".%s.hero-staging", s->name);
	s->parentfd = open(s->parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->parentfd < 0)
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot open '%s'", s->parent);
	struct stat st;
	if (fstatat(s->parentfd, s->name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (!S_ISDIR(st.st_mode))
			return hero_error(err, HERO_EUSAGE, "instance root '%s' is not a directory", root);
		struct stat pst;
		if (fstat(s->parentfd, &pst) < 0)
			return hero_error_errno(err, HERO_EFAIL, errno, "cannot stat '%s'", s->parent);
		struct statx sx;
		int mroot = statx(s->parentfd, s->name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx) == 0 &&
			    (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) && (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
		if (pst.st_dev != st.st_dev || mroot)
			return hero_error(err, HERO_EFAIL,
					  "instance root '%s' is a mount point: the staging tree beside it would be on another file system",
					  root);
		s->root_exists = 1;
	} else if (errno != ENOENT) {
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot stat '%s'", root);
	}
	if (s->root_exists && (ret = lock_tree(s, s->name, &s->lock_root, err)) < 0)
		return ret;
	return recover(s, err);
}

int hero_swap_recover(const char *root, int *recovered, struct hero_error *err)
{
	struct hero_swap s;
	int ret = setup(&s, root, err);
	*recovered = s.recovered;
	hero_swap_end(&s);
	return ret;
}

int hero_swap_begin(struct hero_swap *s, const char *root, struct hero_error *err)
{
	int ret = setup(s, root, err);
	if (ret < 0)
		return ret;
	if (faccessat(s->parentfd, ".", W_OK, AT_EACCESS) < 0)
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot write beside the instance root in '%s'",
					s->parent);
	if (mkdirat(s->parentfd, s->staging, 0755) < 0)
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot create staging directory '%s/%s'", s->parent,
					s->staging);
	s->stagingfd = open_dir_at(s->parentfd, s->staging);
	if (s->stagingfd < 0)
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot open staging directory '%s'", s->staging);
	if ((ret = hero_lock_at(s->stagingfd, s->staging, &s->lock_staging, err)) < 0)
		return ret;
	hero_fault("swap-staged");
	return 0;
}

struct carry {
	struct hero_swap *s;
	int (*owned)(void *, const char *);
	void *ctx;
	uint64_t kept;
	struct hero_error *err;
};

static int carry_dir(struct carry *c, int from, int to, const char *rel);

static int carry_one(struct carry *c, int from, int to, const char *rel, const char *name)
{
	char path[8192];
	int n = snprintf(path, sizeof path, "%s%s%s", rel, *rel ? "/" : "", name);
	if (n < 0 || (size_t)n >= sizeof path)
		return hero_error(c->err, HERO_EFAIL, "path too long under '%s'", rel);
	if (!strcmp(path, MARKER) || c->owned(c->ctx, path))
		return 0;
	struct stat st;
	if (fstatat(from, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return hero_error_errno(c->err, HERO_EFAIL, errno, "cannot stat '%s'", path);
	if (!S_ISDIR(st.st_mode)) {
		hero_fault("carry-entry");
		if (linkat(from, name, to, name, 0) < 0)
			return hero_error_errno(c->err, HERO_EFAIL, errno, "cannot keep '%s'", path);
		c->kept++;
		return 0;
	}
	if (mkdirat(to, name, st.st_mode & 07777) < 0 && errno != EEXIST)
		return hero_error_errno(c->err, HERO_EFAIL, errno, "cannot create '%s'", path);
	int f = open_dir_at(from, name), t = open_dir_at(to, name);
	int ret = f < 0 || t < 0 ? hero_error_errno(c->err, HERO_EFAIL, errno, "cannot open '%s'", path)
				 : carry_dir(c, f, t, path);
	if (f >= 0)
		close(f);
	if (t >= 0)
		close(t);
	return ret;
}

static int carry_dir(struct carry *c, int from, int to, const char *rel)
{
	int dup_from = dup(from);
	DIR *d = dup_from >= 0 ? fdopendir(dup_from) : NULL;
	if (!d) {
		if (dup_from >= 0)
			close(dup_from);
		return hero_error_errno(c->err, HERO_EFAIL, errno, "cannot list '%s'", *rel ? rel : ".");
	}
	int ret = 0;
	struct dirent *de;
	while (ret == 0 && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			ret = carry_one(c, from, to, rel, de->d_name);
	closedir(d);
	return ret;
}

int hero_swap_carry(struct hero_swap *s, int (*owned)(void *ctx, const char *rel), void *ctx,
		    uint64_t *kept, struct hero_error *err)
{
	*kept = 0;
	hero_fault("swap-carry");
	if (!s->root_exists)
		return 0;
	int rootfd = open_dir_at(s->parentfd, s->name);
	if (rootfd < 0)
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot open '%s/%s'", s->parent, s->name);
	struct carry c = { s, owned, ctx, 0, err };
	int ret = carry_dir(&c, rootfd, s->stagingfd, "");
	close(rootfd);
	*kept = c.kept;
	return ret;
}

/* fsync every directory of the tree at FD (files were fsync'd when written). */
static int fsync_tree(int fd, const char *label, struct hero_error *err)
{
	int dup_fd = dup(fd);
	DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
	if (!d) {
		if (dup_fd >= 0)
			close(dup_fd);
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot list '%s'", label);
	}
	int ret = 0;
	struct dirent *de;
	while (ret == 0 && (de = readdir(d))) {
		if (de->d_type != DT_DIR || !strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		int sub = open_dir_at(fd, de->d_name);
		if (sub < 0) {
			ret = hero_error_errno(err, HERO_EFAIL, errno, "cannot open '%s'", de->d_name);
			break;
		}
		ret = fsync_tree(sub, de->d_name, err);
		close(sub);
	}
	closedir(d);
	return ret ? ret : hero_fsync(fd, label, err);
}

static int write_marker(struct hero_swap *s, struct hero_error *err)
{
	if (mkdirat(s->stagingfd, ".hero", 0700) < 0 && errno != EEXIST)
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot create staging '.hero'");
	int fd = openat(s->stagingfd, MARKER, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot create restore marker");
	int ret = hero_fsync(fd, MARKER, err);
	close(fd);
	if (ret < 0)
		return ret;
	int hd = open_dir_at(s->stagingfd, ".hero");
	if (hd < 0)
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot open staging '.hero'");
	ret = hero_fsync(hd, ".hero", err);
	close(hd);
	return ret;
}

/* A failure once ROOT holds the new tree: say so, keep what is left. */
static int after_exchange(struct hero_swap *s, struct hero_error *err)
{
	s->keep_staging = 1;
	return hero_error_prefix(err, "the restored tree is in place at '%s/%s' but the swap did not finish (the next run completes it)",
				 s->parent, s->name);
}

int hero_swap_commit(struct hero_swap *s, struct hero_error *err)
{
	int ret;
	if ((ret = fsync_tree(s->stagingfd, s->staging, err)) < 0)
		return ret;
	hero_fault("swap-synced");
	if ((ret = write_marker(s, err)) < 0)
		return ret;
	hero_fault("swap-marked");
	if (s->root_exists) {
		if (renameat2(s->parentfd, s->staging, s->parentfd, s->name, RENAME_EXCHANGE) < 0)
			return hero_error_errno(err, HERO_EFAIL, errno, "cannot swap the restored tree into '%s/%s'",
						s->parent, s->name);
	} else if (renameat2(s->parentfd, s->staging, s->parentfd, s->name, RENAME_NOREPLACE) < 0) {
		if (errno == EEXIST || errno == ENOTEMPTY)
			return hero_error(err, HERO_EBUSY, "instance '%s/%s' appeared during the restore", s->parent,
					  s->name);
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot move the restored tree to '%s/%s'", s->parent,
					s->name);
	}
	/* From here on ROOT is the new tree; a crash is finished by the next begin.
	 * A failure stops everything: the old tree stays at the staging name and
	 * the marker in ROOT, for the next begin to finish (an fsync error is
	 * never retried into success). */
	s->exchanged = 1;
	hero_fault("swap-exchanged");
	if ((ret = fsync_parent(s, err)) < 0)
		return after_exchange(s, err);
	hero_fault("swap-parent-synced");
	if ((ret = hero_rmtree_at(s->parentfd, s->staging, err)) < 0)
		return after_exchange(s, err);
	hero_fault("swap-old-removed");
	char marker[4096];
	snprintf(marker, sizeof marker, "%s/" MARKER, s->name);
	if (unlinkat(s->parentfd, marker, 0) < 0) {
		hero_error_errno(err, HERO_EFAIL, errno, "cannot remove '%s'", marker);
		return after_exchange(s, err);
	}
	hero_fault("swap-unmarked");
	if ((ret = fsync_parent(s, err)) < 0)
		return after_exchange(s, err);
	return 0;
}

void hero_swap_end(struct hero_swap *s)
{
	if (s->stagingfd >= 0) {
		close(s->stagingfd);
		struct hero_error ignored = HERO_ERROR_INIT;
		if (!s->keep_staging)
			hero_rmtree_at(s->parentfd, s->staging, &ignored);
		s->stagingfd = -1;
	}
	if (s->lock_staging >= 0)
		close(s->lock_staging);
	if (s->lock_root >= 0)
		close(s->lock_root);
	if (s->parentfd >= 0)
		close(s->parentfd);
	free(s->parent);
	free(s->name);
	free(s->staging);
	s->parentfd = s->lock_staging = s->lock_root = -1;
	s->parent = s->name = s->staging = NULL;
}
