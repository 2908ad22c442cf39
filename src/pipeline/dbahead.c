/* dbahead.c - make the SQLite copies of a snapshot on a thread, a few ahead. */
#include "pipeline/dbahead.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/internal.h"
#include "pipeline/workq.h"

struct item {
	char path[4096];
	int made;                /* a file may exist at PATH */
	struct hero_error err;
};

/* A work queue (workq.h) of DEPTH slots: the copy thread makes item SEQ
 * (stage 0), the writer takes it and is done with it (stage 1). */
struct hero_dbahead {
	struct hero_workq *wq;
	size_t n;
	size_t taken;            /* items 0 .. TAKEN-1 were handed to the writer */
	size_t done;             /* items 0 .. DONE-1 are finished with */
	unsigned depth;
	struct item *v;
	char *tmpdir;
	hero_dbahead_fn fn;
	void *ctx;
};

/* A fresh name under TMPDIR for the backup API to create. */
static int temp_name(struct hero_dbahead *a, struct item *it)
{
	int n = snprintf(it->path, sizeof it->path, "%s/db.XXXXXX", a->tmpdir);
	if (n < 0 || (size_t)n >= sizeof it->path)
		return hero_error(&it->err, HERO_EFAIL, "temporary directory path too long");
	int fd = mkstemp(it->path);
	if (fd < 0)
		return hero_error_errno(&it->err, HERO_EFAIL, errno, "cannot create a temporary file in '%s'",
					a->tmpdir);
	close(fd);
	unlink(it->path); /* the backup API creates it afresh */
	it->made = 1;
	return 0;
}

/* The copy thread's stage: item SEQ; the last item, or a failed one, ends it
 * (the writer stops at that item). */
static int copy_stage(void *ctx, unsigned slot, uint64_t seq, int skip, struct hero_error *err)
{
	struct hero_dbahead *a = ctx;
	struct item *it = &a->v[seq];
	(void)slot;
	(void)skip;
	(void)err;
	int ret = temp_name(a, it);
	if (ret == 0)
		ret = a->fn(a->ctx, (size_t)seq, it->path, &it->err);
	return ret < 0 || seq + 1 == a->n ? HERO_WORKQ_LAST : 0;
}

int hero_dbahead_new(struct hero_dbahead **out, const char *tmpdir, size_t n, unsigned depth,
		     hero_dbahead_fn fn, void *ctx, struct hero_error *err)
{
	struct hero_dbahead *a = calloc(1, sizeof *a);
	int ret;
	if (!a)
		return hero_error(err, HERO_EFAIL, "out of memory");
	a->n = n;
	a->depth = depth ? depth : 1;
	a->fn = fn;
	a->ctx = ctx;
	a->tmpdir = strdup(tmpdir);
	a->v = calloc(n ? n : 1, sizeof *a->v);
	if (!a->tmpdir || !a->v) {
		ret = hero_error(err, HERO_EFAIL, "out of memory");
		goto out;
	}
	static const hero_workq_fn stages[] = { copy_stage, NULL };
	if (n && (ret = hero_workq_new(&a->wq, a->depth, 2, stages, a, "database copy", err)) < 0)
		goto out;
	*out = a;
	a = NULL;
	ret = 0;
out:
	hero_dbahead_free(a);
	return ret;
}

int hero_dbahead_take(struct hero_dbahead *a, size_t i, const char **path, struct hero_error *err)
{
	if (i >= a->n || i != a->taken || hero_workq_next(a->wq, 1) < 0)
		return hero_error(err, HERO_EFAIL, "no database copy %zu", i);
	a->taken = i + 1;
	struct item *it = &a->v[i];
	if (it->err.code) {
		*err = it->err;
		return -err->code;
	}
	*path = it->path;
	return 0;
}

void hero_dbahead_done(struct hero_dbahead *a, size_t i)
{
	if (i >= a->n)
		return;
	if (a->v[i].made)
		unlink(a->v[i].path);
	a->v[i].made = 0;
	if (i + 1 == a->taken && a->done < a->taken) {
		a->done = a->taken;
		hero_workq_pass(a->wq, 1);
	}
}

void hero_dbahead_free(struct hero_dbahead *a)
{
	if (!a)
		return;
	hero_workq_free(a->wq);
	for (size_t i = 0; a->v && i < a->n; i++)
		if (a->v[i].made)
			unlink(a->v[i].path);
	free(a->v);
	free(a->tmpdir);
	free(a);
}
