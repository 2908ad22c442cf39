/* prune.c - retention of an archive directory: keep what a policy selects
 * and every archive a kept increment needs, remove the rest. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "base/internal.h"
#include "hero/incremental.h"

int hero_lock_archive_dir(const char *dir, int shared, int *out, struct hero_error *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot open archive directory '%s'", dir);
	if (flock(fd, (shared ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
		int e = errno;
		close(fd);
		if (e == EWOULDBLOCK)
			return hero_error(err, HERO_EBUSY, "archive directory '%s' is busy: %s", dir,
					  shared ? "a prune holds its lock" : "a snapshot or a prune is using it");
		return hero_error_errno(err, HERO_EFAIL, e, "cannot lock '%s'", dir);
	}
	*out = fd;
	return 0;
}

/* ---- the policy: a pure function ---- */

struct order {
	struct hero_prune_item *items;
	int64_t *eff;
};

static size_t find(const struct hero_prune_item *it, size_t n, const char *group, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(it[i].id, id) && !strcmp(it[i].group, group))
			return i;
	return (size_t)-1;
}

/* The tie-break of item I, raised above its parent's when both have one
 * creation second, so a descendant always sorts after its ancestors. */
static int64_t effective(const struct hero_prune_item *it, size_t n, size_t i, size_t depth)
{
	size_t p = it[i].parent[0] ? find(it, n, it[i].group, it[i].parent) : (size_t)-1;
	if (p == (size_t)-1 || depth >= n || it[p].created != it[i].created)
		return it[i].tiebreak;
	int64_t up = effective(it, n, p, depth + 1) + 1;
	return up > it[i].tiebreak ? up : it[i].tiebreak;
}

/* Newest first: creation second, then the effective tie-break, then id. */
static int newer_first(const struct order *o, size_t a, size_t b)
{
	const struct hero_prune_item *x = &o->items[a], *y = &o->items[b];
	if (x->created != y->created)
		return x->created > y->created ? -1 : 1;
	if (o->eff[a] != o->eff[b])
		return o->eff[a] > o->eff[b] ? -1 : 1;
	return -strcmp(x->id, y->id);
}

static void sort_newest(const struct order *o, size_t *idx, size_t n)
{
	for (size_t i = 1; i < n; i++) /* insertion sort: directories hold hundreds, not millions */
		for (size_t j = i; j > 0 && newer_first(o, idx[j], idx[j - 1]) < 0; j--) {
			size_t t = idx[j];
			idx[j] = idx[j - 1];
			idx[j - 1] = t;
		}
}

static void bucket(int64_t t, int rule, char *out, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;
	size_t w = 0;
	if (localtime_r(&tt, &tm))
		w = rule == 0 ? strftime(out, n, "%Y-%m-%d", &tm)
		    : rule == 1 ? strftime(out, n, "%G-W%V", &tm) : strftime(out, n, "%Y-%m", &tm);
	if (!w)
		snprintf(out, n, "?");
}

static void add_why(struct hero_prune_item *it, const char *why)
{
	size_t len = strlen(it->why);
	snprintf(it->why + len, sizeof it->why - len, "%s%s", len ? ", " : "", why);
	it->keep = 1;
}

/* Keep the newest archive of each of the last COUNT buckets of RULE that
 * have archives, within GROUP; IDX is sorted newest first. */
static void apply_rule(struct hero_prune_item *it, const size_t *idx, size_t n, const char *group, int rule,
		       int count)
{
	static const char *const names[] = { "daily", "weekly", "monthly" };
	char last[32] = "", b[32];
	int kept = 0;
	for (size_t k = 0; k < n && kept < count; k++) {
		struct hero_prune_item *x = &it[idx[k]];
		if (strcmp(x->group, group) != 0)
			continue;
		bucket(x->created, rule, b, sizeof b);
		if (!strcmp(b, last))
			continue;
		snprintf(last, sizeof last, "%s", b);
		add_why(x, names[rule]);
		kept++;
	}
}

/* Every ancestor of a kept archive is kept: restoring it needs them. */
static void keep_ancestors(struct hero_prune_item *it, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!it[i].keep)
			continue;
		size_t at = i;
		for (size_t steps = 0; it[at].parent[0] && steps < n; steps++) {
			size_t p = find(it, n, it[at].group, it[at].parent);
			if (p == (size_t)-1)
				break;
			char why[64];
			snprintf(why, sizeof why, "needed by %.8s", it[at].id);
			if (!it[p].keep || !strstr(it[p].why, "needed by"))
				add_why(&it[p], why);
			at = p;
		}
	}
}

size_t hero_prune_plan(struct hero_prune_item *it, size_t n, const struct hero_prune_policy *p)
{
	size_t *idx = calloc(n ? n : 1, sizeof *idx), kept = 0;
	int64_t *eff = calloc(n ? n : 1, sizeof *eff);
	if (!idx || !eff) { /* out of memory: keep everything */
		for (size_t i = 0; i < n; i++)
			add_why(&it[i], "kept (out of memory)");
		free(idx);
		free(eff);
		return n;
	}
	for (size_t i = 0; i < n; i++) {
		it[i].keep = 0;
		it[i].why[0] = '\0';
		idx[i] = i;
		eff[i] = effective(it, n, i, 0);
	}
	struct order o = { it, eff };
	sort_newest(&o, idx, n);
	for (size_t i = 0; i < n; i++) {
		size_t first = 0;
		while (first < i && strcmp(it[first].group, it[i].group) != 0)
			first++;
		if (first < i)
			continue; /* group already handled */
		apply_rule(it, idx, n, it[i].group, 0, p->daily);
		apply_rule(it, idx, n, it[i].group, 1, p->weekly);
		apply_rule(it, idx, n, it[i].group, 2, p->monthly);
	}
	keep_ancestors(it, n);
	for (size_t i = 0; i < n; i++)
		kept += it[i].keep != 0;
	free(idx);
	free(eff);
	return kept;
}

/* ---- an archive directory ---- */

static void say(const struct hero_prune_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const struct hero_prune_opts *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	hero_vsay(o->say, o->say_ctx, fmt, ap);
	va_end(ap);
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

/* The decision for each archive of ALL, newest first; removes (unless a dry
 * run) what is not kept. */
static int decide(const struct hero_prune_opts *o, const struct hero_chain *all, struct hero_prune_item *it,
		  struct hero_prune_result *res, struct hero_error *err)
{
	size_t n = all->n, *idx = calloc(n ? n : 1, sizeof *idx);
	int64_t *eff = calloc(n ? n : 1, sizeof *eff);
	if (!idx || !eff) {
		free(idx);
		free(eff);
		return hero_error(err, HERO_EFAIL, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		idx[i] = i;
		eff[i] = effective(it, n, i, 0);
	}
	sort_newest(&(struct order){ it, eff }, idx, n);
	int ret = 0;
	char dir[512];
	hero_path_quote(o->dir, dir, sizeof dir);
	for (size_t k = 0; k < n; k++) {
		const struct hero_link *l = &all->v[idx[k]];
		const struct hero_prune_item *x = &it[idx[k]];
		const char *kind = l->parent[0] ? "incremental" : "full";
		char name[512], created[128];
		/* names from the directory, the creation time from an unverified manifest */
		hero_path_quote(base_name(l->path), name, sizeof name);
		hero_path_quote(l->created_text, created, sizeof created);
		if (x->keep) {
			say(o, "keep   %s  %s  %s %-11s (%s)", name, created, l->id, kind, x->why);
			res->kept++;
			res->bytes_kept += l->bytes;
			if (l->parent[0] && find(it, n, x->group, l->parent) == (size_t)-1)
				say(o, "warning: '%s' needs parent %s, which is not in '%s': its chain is broken", name,
				    l->parent, dir);
			continue;
		}
		say(o, "remove %s  %s  %s %s", name, created, l->id, kind);
		res->removed++;
		res->bytes_removed += l->bytes;
		if (!o->dry_run && unlink(l->path) < 0 && errno != ENOENT && ret == 0) {
			int e = errno;
			char q[512];
			hero_path_quote(l->path, q, sizeof q);
			ret = hero_error_errno(err, HERO_EFAIL, e, "cannot remove '%s'", q);
		}
	}
	free(idx);
	free(eff);
	return ret;
}

int hero_prune(const struct hero_prune_opts *o, struct hero_prune_result *res, struct hero_error *err)
{
	const struct hero_prune_policy *p = &o->policy;
	memset(res, 0, sizeof *res);
	if (p->daily < 0 || p->weekly < 0 || p->monthly < 0)
		return hero_error(err, HERO_EUSAGE, "keep counts must not be negative");
	if (!p->daily && !p->weekly && !p->monthly)
		return hero_error(err, HERO_EUSAGE,
				  "a policy that keeps nothing would remove every archive: give --keep-daily, --keep-weekly or --keep-monthly");
	int lockfd = -1, ret;
	struct hero_chain all = HERO_CHAIN_INIT;
	struct hero_strlist bad = { 0 };
	struct hero_prune_item *it = NULL;
	char **groups = NULL;
	if ((ret = hero_lock_archive_dir(o->dir, 0, &lockfd, err)) < 0 || (ret = hero_dir_scan(o->dir, &all, &bad, err)) < 0)
		goto out;
	for (size_t i = 0; i < bad.n; i++)
		say(o, "skip   %s (left alone)", bad.v[i]);
	res->skipped = bad.n;
	it = calloc(all.n ? all.n : 1, sizeof *it);
	groups = calloc(all.n ? all.n : 1, sizeof *groups);
	if (!it || !groups) {
		ret = hero_error(err, HERO_EFAIL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < all.n; i++) {
		size_t len = strlen(all.v[i].instance_id) + strlen(all.v[i].scope) + 2;
		if (!(groups[i] = malloc(len))) {
			ret = hero_error(err, HERO_EFAIL, "out of memory");
			goto out;
		}
		snprintf(groups[i], len, "%s %s", all.v[i].instance_id, all.v[i].scope);
		it[i] = (struct hero_prune_item){ .created = (int64_t)all.v[i].created, .id = all.v[i].id,
						  .parent = all.v[i].parent, .group = groups[i],
						  .tiebreak = all.v[i].mtime_ns };
	}
	hero_prune_plan(it, all.n, p);
	if ((ret = decide(o, &all, it, res, err)) == 0 && !o->dry_run && res->removed)
		ret = hero_fsync(lockfd, o->dir, err);
out:
	for (size_t i = 0; groups && i < all.n; i++)
		free(groups[i]);
	free(groups);
	free(it);
	hero_chain_release(&all);
	hero_strlist_release(&bad);
	if (lockfd >= 0)
		close(lockfd);
	return ret;
}
