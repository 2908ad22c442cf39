/* swap.c - staging beside the root, carry-over, atomic exchange, recovery. */
#include "restore/swap.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/internal.h"
#include "base/lock.h"

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

/* One directory on the way down a tree walked depth first: its
 * subdirectories still to visit, and the identity of the directories
 * (source and destination) checked when coming back up through "..". */
struct level {
	struct hero_names sub;
	int prune;      /* created by the carry for HERO_CARRY_BENEATH: removed if left empty */
	size_t pos;
	size_t rel_len; /* length of its path in the carry's REL */
	dev_t dev[2];
	ino_t ino[2];
};

/* The stack of levels, on the heap: any depth takes bounded stack. */
struct levels {
	struct level *v;
	size_t n, cap;
};

static struct level *level_push(struct levels *ls)
{
	if (ls->n == ls->cap) {
		size_t cap = ls->cap ? 2 * ls->cap : 16;
		struct level *v = realloc(ls->v, cap * sizeof *v);
		if (!v)
			return NULL;
		ls->v = v;
		ls->cap = cap;
	}
	struct level *l = &ls->v[ls->n++];
	memset(l, 0, sizeof *l);
	return l;
}

static void level_pop(struct levels *ls)
{
	hero_names_release(&ls->v[--ls->n].sub);
}

static void levels_release(struct levels *ls)
{
	while (ls->n)
		level_pop(ls);
	free(ls->v);
	ls->v = NULL;
	ls->cap = 0;
}

/* Record in L the identity of directory FD (I: 0 source, 1 destination). */
static int level_id(struct level *l, int i, int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -1;
	l->dev[i] = st.st_dev;
	l->ino[i] = st.st_ino;
	return 0;
}

/* Carry-over, depth first and without recursion: only the current source
 * and destination directories are open (besides the roots), and coming back
 * up goes through "..", checked against the identity recorded on the way
 * down, so a tree of any depth takes bounded stack and descriptors, and a
 * tree moved meanwhile stops the carry instead of sending it elsewhere. The
 * path relative to the root, for OWNED and for messages, is built on the
 * heap: it may be longer than PATH_MAX and is never given to the kernel. */
struct carry {
	struct hero_swap *s;
	int (*owned)(void *, const char *, int);
	void *ctx;
	uint64_t kept;
	struct hero_error *err;
	int rootfd;
	int from, to;   /* the current directories */
	char *rel;      /* the current path, relative to the root */
	size_t rel_len, rel_cap;
	struct levels ls;
};

/* REL becomes the path of NAME in the directory whose path is REL[0..BASE). */
static int set_rel(struct carry *c, size_t base, const char *name)
{
	size_t n = strlen(name), need = base + 1 + n + 1;
	if (need > c->rel_cap) {
		size_t cap = c->rel_cap ? c->rel_cap : 256;
		while (cap < need)
			cap *= 2;
		char *r = realloc(c->rel, cap);
		if (!r)
			return hero_error(c->err, HERO_EFAIL, "out of memory");
		c->rel = r;
		c->rel_cap = cap;
	}
	size_t o = base;
	if (base)
		c->rel[o++] = '/';
	memcpy(c->rel + o, name, n + 1);
	c->rel_len = o + n;
	return 0;
}

/* Link what is not a directory in the current directory into the
 * destination, and list its subdirectories (not owned) into L, sorted. */
static int carry_scan(struct carry *c, struct level *l)
{
	const char *label = l->rel_len ? c->rel : ".";
	int lfd = openat(c->from, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = lfd >= 0 ? fdopendir(lfd) : NULL;
	if (!d) {
		if (lfd >= 0)
			close(lfd);
		return hero_error_errno(c->err, HERO_EFAIL, errno, "cannot list '%s'", label);
	}
	int ret = 0;
	struct dirent *de;
	while (ret == 0 && (de = readdir(d))) {
		const char *name = de->d_name;
		if (!strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		if ((ret = set_rel(c, l->rel_len, name)) < 0)
			break;
		if (!strcmp(c->rel, MARKER))
			continue;
		struct stat st;
		if (fstatat(c->from, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue; /* gone since it was listed: nothing to keep */
			ret = hero_error_errno(c->err, HERO_EFAIL, errno, "cannot stat '%s'", c->rel);
			break;
		}
		int own = c->owned(c->ctx, c->rel, S_ISDIR(st.st_mode));
		struct stat dst;
		if (own == 1 || (own == HERO_CARRY_BENEATH && !S_ISDIR(st.st_mode)))
			continue;
		if (S_ISDIR(st.st_mode) && fstatat(c->to, name, &dst, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(dst.st_mode))
			continue; /* the restored state has a file there: nothing beneath it can stay */
		if (S_ISDIR(st.st_mode)) {
			if (hero_names_push(&l->sub, name, st.st_mode) < 0)
				ret = hero_error(c->err, HERO_EFAIL, "out of memory");
			else
				l->sub.v[l->sub.n - 1].flags = own == HERO_CARRY_BENEATH;
			continue;
		}
		hero_fault("carry-entry");
		if (linkat(c->from, name, c->to, name, 0) < 0) {
			ret = hero_error_errno(c->err, HERO_EFAIL, errno, "cannot keep '%s'", c->rel);
			break;
		}
		c->kept++;
	}
	closedir(d);
	c->rel_len = l->rel_len;
	c->rel[c->rel_len] = '\0';
	hero_names_sort(&l->sub);
	return ret;
}

/* Make the current directories the ones at NF and NT (closing the previous
 * ones unless they are the roots). */
static void carry_move(struct carry *c, int nf, int nt)
{
	if (c->from != c->rootfd)
		close(c->from);
	if (c->to != c->s->stagingfd)
		close(c->to);
	c->from = nf;
	c->to = nt;
}

/* Descend into subdirectory SUB (mode MODE) of the current directory. */
static int carry_down(struct carry *c, const struct level *parent, const char *sub, mode_t mode, int beneath)
{
	int ret = set_rel(c, parent->rel_len, sub);
	if (ret < 0)
		return ret;
	int created = mkdirat(c->to, sub, mode & 07777) == 0;
	if (!created && errno != EEXIST)
		return hero_error_errno(c->err, HERO_EFAIL, errno, "cannot create '%s'", c->rel);
	int f = open_dir_at(c->from, sub), t = open_dir_at(c->to, sub);
	if (f < 0 || t < 0) {
		ret = hero_error_errno(c->err, HERO_EFAIL, errno, "cannot open '%s'", c->rel);
		if (f >= 0)
			close(f);
		if (t >= 0)
			close(t);
		return ret;
	}
	carry_move(c, f, t);
	struct level *l = level_push(&c->ls);
	if (!l)
		return hero_error(c->err, HERO_EFAIL, "out of memory");
	l->rel_len = c->rel_len;
	l->prune = created && beneath;
	if (level_id(l, 0, c->from) < 0 || level_id(l, 1, c->to) < 0)
		return hero_error_errno(c->err, HERO_EFAIL, errno, "cannot stat '%s'", c->rel);
	return carry_scan(c, l);
}

/* Leave the current directory (done) for its parent, the level below it. */
static int carry_up(struct carry *c)
{
	int prune = c->ls.v[c->ls.n - 1].prune;
	level_pop(&c->ls);
	struct level *p = &c->ls.v[c->ls.n - 1];
	if (c->ls.n == 1) {
		carry_move(c, c->rootfd, c->s->stagingfd);
	} else {
		int nf = hero_open_parent(c->from, p->dev[0], p->ino[0]);
		int nt = nf >= 0 ? hero_open_parent(c->to, p->dev[1], p->ino[1]) : -1;
		if (nf < 0 || nt < 0) {
			int e = errno;
			if (nf >= 0)
				close(nf);
			if (e == ESTALE)
				return hero_error(c->err, HERO_EFAIL, "'%s' was moved while it was carried over", c->rel);
			return hero_error_errno(c->err, HERO_EFAIL, e, "cannot open the parent of '%s'", c->rel);
		}
		carry_move(c, nf, nt);
	}
	/* a directory of state the carry made only to look beneath: gone if nothing was kept there */
	const char *name = c->rel + p->rel_len + (p->rel_len ? 1 : 0);
	if (prune && unlinkat(c->to, name, AT_REMOVEDIR) < 0 && errno != ENOTEMPTY && errno != EEXIST)
		return hero_error_errno(c->err, HERO_EFAIL, errno, "cannot remove '%s'", c->rel);
	c->rel_len = p->rel_len;
	c->rel[c->rel_len] = '\0';
	return 0;
}

int hero_swap_carry(struct hero_swap *s, int (*owned)(void *ctx, const char *rel, int is_dir), void *ctx,
		    uint64_t *kept, struct hero_error *err)
{
	*kept = 0;
	hero_fault("swap-carry");
	if (!s->root_exists)
		return 0;
	int rootfd = open_dir_at(s->parentfd, s->name);
	if (rootfd < 0)
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot open '%s/%s'", s->parent, s->name);
	struct carry c = { s, owned, ctx, 0, err, rootfd, rootfd, s->stagingfd, NULL, 0, 0, { 0 } };
	struct level *l = level_push(&c.ls);
	int ret = l && set_rel(&c, 0, "") == 0 ? carry_scan(&c, l) : hero_error(err, HERO_EFAIL, "out of memory");
	while (ret == 0 && c.ls.n > 0) {
		l = &c.ls.v[c.ls.n - 1];
		if (l->pos < l->sub.n) {
			const struct hero_name *sub = &l->sub.v[l->pos++];
			ret = carry_down(&c, l, sub->name, sub->mode, sub->flags);
		} else if (c.ls.n > 1) {
			ret = carry_up(&c);
		} else {
			level_pop(&c.ls);
		}
	}
	carry_move(&c, rootfd, s->stagingfd);
	levels_release(&c.ls);
	free(c.rel);
	close(rootfd);
	*kept = c.kept;
	return ret;
}

/* fsync every directory of the tree at TOP (files were fsync'd when written),
 * each after the directories beneath it; depth first with the levels on the
 * heap and one directory open at a time besides TOP. */
static int fsync_tree(int top, const char *label, struct hero_error *err)
{
	struct levels ls = { 0 };
	int fd = top, ret = 0;
	struct level *l = level_push(&ls);
	if (!l || level_id(l, 0, fd) < 0)
		ret = !l ? hero_error(err, HERO_EFAIL, "out of memory")
			 : hero_error_errno(err, HERO_EFAIL, errno, "cannot stat '%s'", label);
	const char *here = label;
	int scan = 1;
	while (ret == 0 && ls.n > 0) {
		l = &ls.v[ls.n - 1];
		if (scan) {
			/* list the subdirectories of HERE */
			scan = 0;
			int lfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			DIR *d = lfd >= 0 ? fdopendir(lfd) : NULL;
			if (!d) {
				if (lfd >= 0)
					close(lfd);
				ret = hero_error_errno(err, HERO_EFAIL, errno, "cannot list '%s'", here);
				break;
			}
			struct dirent *de;
			while (ret == 0 && (de = readdir(d)))
				if (de->d_type == DT_DIR && strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
				    hero_names_push(&l->sub, de->d_name, 0) < 0)
					ret = hero_error(err, HERO_EFAIL, "out of memory");
			closedir(d);
			hero_names_sort(&l->sub);
			continue;
		}
		if (l->pos < l->sub.n) {
			const char *sub = l->sub.v[l->pos++].name;
			int sfd = open_dir_at(fd, sub);
			if (sfd < 0) {
				ret = hero_error_errno(err, HERO_EFAIL, errno, "cannot open '%s'", sub);
				break;
			}
			if (fd != top)
				close(fd);
			fd = sfd;
			here = sub;
			if (!(l = level_push(&ls)))
				ret = hero_error(err, HERO_EFAIL, "out of memory");
			else if (level_id(l, 0, fd) < 0)
				ret = hero_error_errno(err, HERO_EFAIL, errno, "cannot stat '%s'", sub);
			scan = 1;
			continue;
		}
		if ((ret = hero_fsync(fd, here, err)) < 0)
			break;
		level_pop(&ls);
		if (ls.n == 0)
			break;
		l = &ls.v[ls.n - 1];
		const char *up_name = ls.n > 1 ? ls.v[ls.n - 2].sub.v[ls.v[ls.n - 2].pos - 1].name : label;
		int up = ls.n == 1 ? top : hero_open_parent(fd, l->dev[0], l->ino[0]);
		if (up < 0) {
			ret = errno == ESTALE ? hero_error(err, HERO_EFAIL, "'%s' was moved while it was synced", here)
					      : hero_error_errno(err, HERO_EFAIL, errno, "cannot open the parent of '%s'", here);
			break;
		}
		if (fd != top)
			close(fd);
		fd = up;
		here = up_name;
	}
	if (fd != top)
		close(fd);
	levels_release(&ls);
	return ret;
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
