/* dbahead.c - make the SQLite copies of a snapshot on a thread, a few ahead. */
#include "pipeline/dbahead.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/internal.h"

struct item {
	char path[4096];
	int made;                /* a file may exist at PATH */
	int ready;               /* copied, or failed with ERR */
	struct hero_error err;
};

struct hero_dbahead {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t th;
	int started, stop;
	size_t n, done;          /* items 0 .. DONE-1 are finished with */
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

static void *ahead_main(void *arg)
{
	struct hero_dbahead *a = arg;
	for (size_t i = 0; i < a->n; i++) {
		pthread_mutex_lock(&a->mu);
		while (i >= a->done + a->depth && !a->stop)
			pthread_cond_wait(&a->cv, &a->mu);
		int stop = a->stop;
		pthread_mutex_unlock(&a->mu);
		if (stop)
			break;
		struct item *it = &a->v[i];
		int ret = temp_name(a, it);
		if (ret == 0)
			ret = a->fn(a->ctx, i, it->path, &it->err);
		pthread_mutex_lock(&a->mu);
		it->ready = 1;
		pthread_cond_broadcast(&a->cv);
		pthread_mutex_unlock(&a->mu);
		if (ret < 0)
			break; /* the writer stops at this item */
	}
	return NULL;
}

int hero_dbahead_new(struct hero_dbahead **out, const char *tmpdir, size_t n, unsigned depth,
		     hero_dbahead_fn fn, void *ctx, struct hero_error *err)
{
	struct hero_dbahead *a = calloc(1, sizeof *a);
	int ret;
	if (!a)
		return hero_error(err, HERO_EFAIL, "out of memory");
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
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
	if (n && (ret = pthread_create(&a->th, NULL, ahead_main, a)) != 0) {
		ret = hero_error_errno(err, HERO_EFAIL, ret, "cannot start the database copy thread");
		goto out;
	}
	a->started = n > 0;
	*out = a;
	a = NULL;
	ret = 0;
out:
	hero_dbahead_free(a);
	return ret;
}

int hero_dbahead_take(struct hero_dbahead *a, size_t i, const char **path, struct hero_error *err)
{
	if (i >= a->n)
		return hero_error(err, HERO_EFAIL, "no database copy %zu", i);
	struct item *it = &a->v[i];
	pthread_mutex_lock(&a->mu);
	while (!it->ready)
		pthread_cond_wait(&a->cv, &a->mu);
	pthread_mutex_unlock(&a->mu);
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
	pthread_mutex_lock(&a->mu);
	if (i + 1 > a->done)
		a->done = i + 1;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

void hero_dbahead_free(struct hero_dbahead *a)
{
	if (!a)
		return;
	if (a->started) {
		pthread_mutex_lock(&a->mu);
		a->stop = 1;
		pthread_cond_broadcast(&a->cv);
		pthread_mutex_unlock(&a->mu);
		pthread_join(a->th, NULL);
	}
	for (size_t i = 0; a->v && i < a->n; i++)
		if (a->v[i].made)
			unlink(a->v[i].path);
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->cv);
	free(a->v);
	free(a->tmpdir);
	free(a);
}
