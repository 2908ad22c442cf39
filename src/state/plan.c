/* plan.c - walk the state surfaces the manifests declare and list what to archive. */
#include "state/plan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/internal.h"
#include "state/ctxdb.h"

struct walk {
	struct hero_plan *p;
	const struct plan_scope *scope;
	const char *root;
	int rootfd;
	size_t svc;
	const struct hero_state *st;
	struct hero_error *err;
};

static int push_skip(struct hero_plan *p, size_t svc, const char *path, const char *why,
		     struct hero_error *err)
{
	if (p->n_skip == p->cap_skip) {
		size_t cap = p->cap_skip ? 2 * p->cap_skip : 32;
		struct plan_skip *v = realloc(p->skip, cap * sizeof *v);
		if (!v)
			return hero_error(err, HERO_EFAIL, "out of memory");
		p->skip = v;
		p->cap_skip = cap;
	}
	p->skip[p->n_skip].svc = svc;
	p->skip[p->n_skip].why = why;
	if (!(p->skip[p->n_skip].path = strdup(path)))
		return hero_error(err, HERO_EFAIL, "out of memory");
	p->n_skip++;
	return 0;
}

static int push_entry(struct walk *w, const char *path, enum hero_etype type, const struct stat *st,
		      const char *context)
{
	struct hero_plan *p = w->p;
	int added = hero_strset_add(&p->seen, path);
	if (added < 0)
		return hero_error(w->err, HERO_EFAIL, "out of memory");
	if (added == 0)
		return 0; /* declared twice (overlapping state entries): first one wins */
	if (p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 256;
		struct plan_entry *v = realloc(p->e, cap * sizeof *v);
		if (!v)
			return hero_error(w->err, HERO_EFAIL, "out of memory");
		p->e = v;
		p->cap = cap;
	}
	struct plan_entry *e = &p->e[p->n];
	memset(e, 0, sizeof *e);
	e->path = strdup(path);
	e->context = context ? strdup(context) : NULL;
	if (!e->path || (context && !e->context))
		return hero_error(w->err, HERO_EFAIL, "out of memory");
	e->type = type;
	e->size = type == HERO_E_DIR ? 0 : (uint64_t)st->st_size;
	e->mode = st->st_mode & 0755;
	e->mtime = st->st_mtim.tv_sec;
	e->svc = w->svc;
	e->st = w->st;
	p->n++;
	struct plan_svc *ps = &p->svc[w->svc];
	ps->entries++;
	ps->bytes += e->size;
	return 0;
}

static int is_sidecar(const char *name)
{
	size_t n = strlen(name);
	static const char *const sfx[] = { "-wal", "-shm", "-journal" };
	for (size_t i = 0; i < 3; i++) {
		size_t l = strlen(sfx[i]);
		if (n > l && !strcmp(name + n - l, sfx[i]))
			return 1;
	}
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The directory to reach PATH (relative to the root) from, and in *BASE the
 * name to give the kernel there: the root and PATH itself, or for a path the
 * kernel refuses in one call (PATH_MAX bytes or more) its parent, opened,
 * and its last component. The parent is never that long: the walk refuses a
 * path longer than the archive format takes before it descends into it.
 * -1 with errno set on failure; close the result unless it is the root. */
static int reach(struct walk *w, const char *path, const char **base)
{
	*base = path;
	if (strlen(path) < PATH_MAX)
		return w->rootfd;
	const char *slash = strrchr(path, '/');
	char *dir = slash ? strndup(path, (size_t)(slash - path)) : NULL;
	if (!dir) {
		errno = slash ? ENOMEM : ENAMETOOLONG;
		return -1;
	}
	*base = slash + 1;
	int fd = openat(w->rootfd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	free(dir);
	return fd;
}

static int stat_at(struct walk *w, const char *path, struct stat *st)
{
	const char *base;
	int dfd = reach(w, path, &base);
	int ret = dfd < 0 ? -1 : fstatat(dfd, base, st, AT_SYMLINK_NOFOLLOW);
	if (dfd >= 0 && dfd != w->rootfd) {
		int e = errno;
		close(dfd);
		errno = e;
	}
	return ret;
}

/* Sorted names in directory PATH (relative to the root), without . and .. */
static int list_dir(struct walk *w, const char *path, struct hero_strlist *out)
{
	const char *base;
	int dfd = reach(w, path, &base);
	int fd = dfd < 0 ? -1 : openat(dfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd >= 0 && dfd != w->rootfd) {
		int e = errno;
		close(dfd);
		errno = e;
	}
	if (fd < 0)
		return hero_error_errno(w->err, HERO_EFAIL, errno, "cannot open directory '%s'", path);
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return hero_error_errno(w->err, HERO_EFAIL, errno, "cannot list '%s'", path);
	}
	struct dirent *de;
	int ret = 0;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && hero_strlist_push(out, de->d_name) < 0) {
			ret = hero_error(w->err, HERO_EFAIL, "out of memory");
			break;
		}
	closedir(d);
	if (out->n)
		qsort(out->v, out->n, sizeof *out->v, cmp_str);
	return ret;
}

static int walk_path(struct walk *w, const char *path, const char *context, int top);

static int context_in_scope(const struct plan_scope *scope, const char *ctx);

/* A database partitioned by a context column: record the contexts it holds
 * (within the scope); with one context in scope, the entry belongs to it. */
static int push_column_db(struct walk *w, const char *path, const struct stat *st)
{
	struct hero_strlist found = { 0 };
	char *full = hero_join(w->root, path);
	int ret = full ? hero_ctxdb_contexts(full, w->st->context_column, &found, w->err)
		       : hero_error(w->err, HERO_EFAIL, "out of memory");
	free(full);
	struct hero_strlist *ctxs = &w->p->svc[w->svc].contexts;
	for (size_t i = 0; ret == 0 && i < found.n; i++)
		if (hero_context_valid(found.v[i]) && context_in_scope(w->scope, found.v[i]) &&
		    hero_strlist_push(ctxs, found.v[i]) < 0)
			ret = hero_error(w->err, HERO_EFAIL, "out of memory");
	hero_strlist_release(&found);
	const struct hero_strlist *sc = w->scope ? w->scope->contexts : NULL;
	if (ret == 0)
		ret = push_entry(w, path, HERO_E_SQLITE, st, sc && sc->n == 1 ? sc->v[0] : NULL);
	return ret;
}

static int walk_dir(struct walk *w, const char *path, const struct stat *st, const char *context)
{
	int ret = push_entry(w, path, HERO_E_DIR, st, context);
	if (ret < 0)
		return ret;
	struct hero_strlist names = { 0 };
	if ((ret = list_dir(w, path, &names)) < 0)
		goto out;
	for (size_t i = 0; i < names.n; i++) {
		char *child = hero_join(path, names.v[i]);
		if (!child) {
			ret = hero_error(w->err, HERO_EFAIL, "out of memory");
			goto out;
		}
		ret = walk_path(w, child, context, 0);
		free(child);
		if (ret < 0)
			goto out;
	}
out:
	hero_strlist_release(&names);
	return ret;
}

/* What the archive format takes (formats/hero-archive-v1.md section 2.3):
 * at most HERO_MAX_DEPTH components and 4096 bytes. Checked before a
 * directory is entered, so the walk's recursion is bounded by the cap. */
static int check_fits(struct walk *w, const char *path, int isdir)
{
	char q[200];
	size_t depth = 1;
	for (const char *p = path; *p; p++)
		depth += *p == '/';
	if (depth > HERO_MAX_DEPTH) {
		hero_path_quote(path, q, sizeof q);
		return hero_error(w->err, HERO_EFAIL,
				  "%s '%s' is more than %d levels deep: the archive format caps depth at %d (move or flatten it, or exclude it in the service's manifest)",
				  isdir ? "directory" : "file", q, HERO_MAX_DEPTH, HERO_MAX_DEPTH);
	}
	if (strlen(path) > HERO_MAX_PATH) {
		hero_path_quote(path, q, sizeof q);
		return hero_error(w->err, HERO_EFAIL,
				  "path '%s' is longer than %d bytes: the archive format caps paths at %d bytes (move or rename it, or exclude it in the service's manifest)",
				  q, HERO_MAX_PATH, HERO_MAX_PATH);
	}
	return 0;
}

static int walk_path(struct walk *w, const char *path, const char *context, int top)
{
	struct stat st;
	if (stat_at(w, path, &st) < 0) {
		if (errno == ENOENT)
			return 0; /* vanished, or a declared path that does not exist here */
		return hero_error_errno(w->err, HERO_EFAIL, errno, "cannot stat '%s'", path);
	}
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	if (S_ISDIR(st.st_mode)) {
		if (!top && !hero_state_match(w->st, base, 1))
			return 0;
		int ret = check_fits(w, path, 1);
		return ret < 0 ? ret : walk_dir(w, path, &st, context);
	}
	if (!S_ISREG(st.st_mode))
		return push_skip(w->p, w->svc, path, S_ISLNK(st.st_mode) ? "symlink" : "special file", w->err);
	if (!top && !hero_state_match(w->st, base, 0))
		return 0;
	int ret = check_fits(w, path, 0);
	if (ret < 0)
		return ret;
	if (w->st->type == HERO_STATE_SQLITE) {
		if (is_sidecar(base))
			return 0; /* captured through the database itself */
		if (w->st->context_column)
			return push_column_db(w, path, &st);
		return push_entry(w, path, HERO_E_SQLITE, &st, context);
	}
	return push_entry(w, path, HERO_E_FILE, &st, context);
}

static int context_in_scope(const struct plan_scope *scope, const char *ctx)
{
	if (!scope || !scope->contexts || !scope->contexts->n)
		return 1;
	for (size_t i = 0; i < scope->contexts->n; i++)
		if (!strcmp(scope->contexts->v[i], ctx))
			return 1;
	return 0;
}

/* Expand the {context} component of the state path, then walk what it names. */
static int expand(struct walk *w, const char *pattern)
{
	const char *mark = strstr(pattern, "{context}");
	size_t plen = strlen(pattern);
	char *path = strndup(pattern, plen && pattern[plen - 1] == '/' ? plen - 1 : plen);
	if (!path)
		return hero_error(w->err, HERO_EFAIL, "out of memory");
	int ret = 0;
	if (!mark) {
		ret = walk_path(w, path, NULL, 1);
		free(path);
		return ret;
	}
	size_t pre = (size_t)(mark - pattern);
	char *parent = strndup(pattern, pre ? pre - 1 : 0);
	const char *rest = mark + strlen("{context}");
	struct hero_strlist names = { 0 };
	struct stat st;
	if (!parent) {
		ret = hero_error(w->err, HERO_EFAIL, "out of memory");
		goto out;
	}
	if (fstatat(w->rootfd, *parent ? parent : ".", &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
		goto out; /* nothing of this state here */
	if ((ret = list_dir(w, *parent ? parent : ".", &names)) < 0)
		goto out;
	for (size_t i = 0; i < names.n && ret == 0; i++) {
		const char *ctx = names.v[i];
		if (!hero_context_valid(ctx) || !context_in_scope(w->scope, ctx))
			continue;
		size_t n = strlen(parent) + strlen(ctx) + strlen(rest) + 2;
		char *p = malloc(n);
		if (!p) {
			ret = hero_error(w->err, HERO_EFAIL, "out of memory");
			break;
		}
		snprintf(p, n, "%s%s%s%s", parent, *parent ? "/" : "", ctx, rest);
		size_t pl = strlen(p);
		if (pl > 1 && p[pl - 1] == '/')
			p[pl - 1] = '\0';
		if (fstatat(w->rootfd, p, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			ret = walk_path(w, p, ctx, 1);
			if (ret == 0)
				ret = hero_strlist_push(&w->p->svc[w->svc].contexts, ctx) < 0
					      ? hero_error(w->err, HERO_EFAIL, "out of memory")
					      : 0;
		}
		free(p);
	}
out:
	hero_strlist_release(&names);
	free(parent);
	free(path);
	return ret;
}

static int service_in_scope(const struct plan_scope *scope, const char *name)
{
	if (!scope || !scope->services || !scope->services->n)
		return 1;
	for (size_t i = 0; i < scope->services->n; i++)
		if (!strcmp(scope->services->v[i], name))
			return 1;
	return 0;
}

static const char *skip_reason(const struct hero_state *st)
{
	if (st->type == HERO_STATE_SECRETS)
		return "secrets";
	return st->class == HERO_CLASS_DERIVED ? "derived" : "ephemeral";
}

static void dedupe_contexts(struct hero_strlist *l)
{
	if (l->n < 2)
		return;
	qsort(l->v, l->n, sizeof *l->v, cmp_str);
	size_t j = 1;
	for (size_t i = 1; i < l->n; i++) {
		if (!strcmp(l->v[i], l->v[j - 1]))
			free(l->v[i]);
		else
			l->v[j++] = l->v[i];
	}
	l->n = j;
}

int hero_plan_build(struct hero_plan *p, const struct hero_inventory *inv, const char *root,
		    const struct plan_scope *scope, struct hero_error *err)
{
	memset(p, 0, sizeof *p);
	p->inv = inv;
	p->svc = calloc(inv->n ? inv->n : 1, sizeof *p->svc);
	if (!p->svc || hero_strset_init(&p->seen) < 0)
		return hero_error(err, HERO_EFAIL, "out of memory");
	int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot open instance root '%s'", root);
	struct walk w = { p, scope, root, rootfd, 0, NULL, err };
	int ret = 0;
	for (size_t i = 0; i < inv->n && ret == 0; i++) {
		const struct hero_service *s = &inv->services[i];
		if (!service_in_scope(scope, s->name))
			continue;
		if (scope && scope->contexts && scope->contexts->n && !s->per_context)
			continue; /* instance-wide service: not part of a context's archive */
		p->svc[i].selected = 1;
		w.svc = i;
		for (size_t j = 0; j < s->n_state && ret == 0; j++) {
			w.st = &s->state[j];
			if (scope && scope->contexts && scope->contexts->n && !hero_state_per_context(w.st) &&
			    !w.st->context_column)
				continue; /* not partitioned by context: not part of a context's archive */
			if (!hero_state_archived(w.st))
				ret = push_skip(p, i, w.st->path, skip_reason(w.st), err);
			else
				ret = expand(&w, w.st->path);
		}
		dedupe_contexts(&p->svc[i].contexts);
	}
	close(rootfd);
	return ret;
}

void hero_plan_release(struct hero_plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->e[i].path);
		free(p->e[i].context);
	}
	free(p->e);
	for (size_t i = 0; i < p->n_skip; i++)
		free(p->skip[i].path);
	free(p->skip);
	if (p->svc && p->inv)
		for (size_t i = 0; i < p->inv->n; i++)
			hero_strlist_release(&p->svc[i].contexts);
	free(p->svc);
	hero_strset_release(&p->seen);
	memset(p, 0, sizeof *p);
}

int hero_pattern_covers(const char *pattern, const char *path, const char *context)
{
	const char *a = pattern, *b = path;
	for (;;) {
		if (*a == '\0' || (*a == '/' && a[1] == '\0')) {
			/* end of pattern: PATH equals it or lies beneath it */
			if (*b == '\0' || *b == '/')
				return 1;
			if (*a == '\0' && (!strcmp(b, "-wal") || !strcmp(b, "-shm") || !strcmp(b, "-journal")))
				return 1;
			return 0;
		}
		if (!strncmp(a, "{context}", 9)) {
			size_t n = strcspn(b, "/");
			char comp[65];
			if (n == 0 || n >= sizeof comp || (context && (strlen(context) != n || strncmp(b, context, n) != 0)))
				return 0;
			memcpy(comp, b, n);
			comp[n] = '\0';
			if (!hero_context_valid(comp))
				return 0; /* {context} is one whole component that is a valid context name */
			a += 9;
			b += n;
			continue;
		}
		if (*b == '\0' || *a != *b)
			return 0;
		a++;
		b++;
	}
}

int hero_pattern_match(const char *pattern, const char *path, char *ctx, size_t n)
{
	const char *mark = strstr(pattern, "{context}");
	if (n)
		ctx[0] = '\0';
	if (!hero_pattern_covers(pattern, path, NULL))
		return 0;
	if (mark && n) {
		const char *c = path + (mark - pattern);
		size_t len = strcspn(c, "/");
		snprintf(ctx, n, "%.*s", (int)len, c);
	}
	return 1;
}

char *hero_pattern_rename(const char *pattern, const char *path, const char *to)
{
	const char *mark = strstr(pattern, "{context}");
	if (!mark)
		return strdup(path);
	size_t pre = (size_t)(mark - pattern);
	const char *rest = path + pre + strcspn(path + pre, "/");
	size_t n = pre + strlen(to) + strlen(rest) + 1;
	char *out = malloc(n);
	if (out)
		snprintf(out, n, "%.*s%s%s", (int)pre, path, to, rest);
	return out;
}
