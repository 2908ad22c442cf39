/* filewq.c - write restored files on a thread of their own.
 *
 * A ring of SLOTS chunks: slots head .. head+count-1 are queued for the
 * thread (it works on the one at head); the restore fills the slot at
 * head+count. A chunk holds data of one file and, on its last chunk, what
 * to do to finish the file; a small file is one chunk.
 */
#include "pipeline/filewq.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "base/internal.h"

#define SLOTS 8
#define SLOT_SIZE (256 * 1024)

struct chunk {
	int fd;
	char *path;
	uint8_t *data;
	size_t len;
	int last;            /* finish and close the file after this chunk */
	mode_t mode;
	int64_t mtime;
	int writeback;
};

struct hero_fwq {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t th;
	int started, stop;
	struct chunk c[SLOTS];
	unsigned head, count;
	int busy;
	int failed;          /* ERR holds the thread's first error */
	struct hero_error err;
	int fd;              /* the file being handed over, or -1 */
	char *path;
};

/* Write a chunk; finish and close its file if it is the last. */
static int write_chunk(struct chunk *k, int skip, struct hero_error *err)
{
	int ret = 0;
	if (!skip && k->len)
		ret = hero_write_all(k->fd, k->data, k->len, k->path, err);
	if (!k->last)
		return ret;
	if (!skip && ret == 0 && fchmod(k->fd, k->mode) < 0)
		ret = hero_error_errno(err, HERO_EFAIL, errno, "cannot set mode of '%s'", k->path);
	/* the modification time is what the next increment compares: it must be right */
	if (!skip && ret == 0 && futimens(k->fd, (struct timespec[2]){ { 0, UTIME_OMIT }, { k->mtime, 0 } }) < 0)
		ret = hero_error_errno(err, HERO_EFAIL, errno, "cannot set the time of '%s'", k->path);
	if (!skip && ret == 0 && k->writeback && sync_file_range(k->fd, 0, 0, SYNC_FILE_RANGE_WRITE) < 0)
		ret = hero_error_errno(err, HERO_EFAIL, errno, "cannot write '%s' back", k->path);
	close(k->fd);
	return ret;
}

static void *fwq_main(void *arg)
{
	struct hero_fwq *q = arg;
	for (;;) {
		pthread_mutex_lock(&q->mu);
		while (q->count == 0 && !q->stop)
			pthread_cond_wait(&q->cv, &q->mu);
		if (q->count == 0) {
			pthread_mutex_unlock(&q->mu);
			return NULL;
		}
		struct chunk *k = &q->c[q->head];
		int skip = q->failed || q->stop;
		q->busy = 1;
		pthread_mutex_unlock(&q->mu);
		struct hero_error e = HERO_ERROR_INIT;
		int ret = write_chunk(k, skip, &e);
		pthread_mutex_lock(&q->mu);
		if (ret < 0 && !q->failed) {
			q->err = e;
			q->failed = 1;
		}
		free(k->path);
		k->path = NULL;
		k->len = 0;
		k->last = 0;
		q->head = (q->head + 1) % SLOTS;
		q->count--;
		q->busy = 0;
		pthread_cond_broadcast(&q->cv);
		pthread_mutex_unlock(&q->mu);
	}
}

int hero_fwq_new(struct hero_fwq **out, struct hero_error *err)
{
	struct hero_fwq *q = calloc(1, sizeof *q);
	int ret;
	if (!q)
		return hero_error(err, HERO_EFAIL, "out of memory");
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	q->fd = -1;
	for (unsigned i = 0; i < SLOTS; i++)
		if (!(q->c[i].data = malloc(SLOT_SIZE))) {
			ret = hero_error(err, HERO_EFAIL, "out of memory");
			goto out;
		}
	if ((ret = pthread_create(&q->th, NULL, fwq_main, q)) != 0) {
		ret = hero_error_errno(err, HERO_EFAIL, ret, "cannot start the file writing thread");
		goto out;
	}
	q->started = 1;
	*out = q;
	q = NULL;
	ret = 0;
out:
	hero_fwq_free(q);
	return ret;
}

static struct chunk *current(struct hero_fwq *q)
{
	pthread_mutex_lock(&q->mu);
	struct chunk *k = &q->c[(q->head + q->count) % SLOTS];
	pthread_mutex_unlock(&q->mu);
	return k;
}

/* The thread's error, if it failed. */
static int failure(struct hero_fwq *q, struct hero_error *err)
{
	pthread_mutex_lock(&q->mu);
	int failed = q->failed;
	if (failed)
		*err = q->err;
	pthread_mutex_unlock(&q->mu);
	return failed ? -err->code : 0;
}

/* Queue the current chunk of the current file; wait for a free one. */
static int push(struct hero_fwq *q, int last, struct hero_error *err)
{
	struct chunk *k = current(q);
	k->fd = q->fd;
	k->last = last;
	if (!(k->path = strdup(q->path))) {
		if (last) {
			close(q->fd);
			q->fd = -1;
		}
		return hero_error(err, HERO_EFAIL, "out of memory");
	}
	pthread_mutex_lock(&q->mu);
	q->count++;
	pthread_cond_broadcast(&q->cv);
	while (q->count == SLOTS)
		pthread_cond_wait(&q->cv, &q->mu);
	pthread_mutex_unlock(&q->mu);
	if (last)
		q->fd = -1; /* the thread closes it */
	return failure(q, err);
}

int hero_fwq_open(struct hero_fwq *q, int fd, const char *path, struct hero_error *err)
{
	free(q->path);
	q->fd = fd;
	if (!(q->path = strdup(path))) {
		close(fd);
		q->fd = -1;
		return hero_error(err, HERO_EFAIL, "out of memory");
	}
	return failure(q, err);
}

uint8_t *hero_fwq_room(struct hero_fwq *q, size_t *cap)
{
	struct chunk *k = current(q);
	*cap = SLOT_SIZE - k->len;
	return k->data + k->len;
}

int hero_fwq_put(struct hero_fwq *q, size_t n, struct hero_error *err)
{
	struct chunk *k = current(q);
	k->len += n;
	return k->len == SLOT_SIZE ? push(q, 0, err) : 0;
}

int hero_fwq_close(struct hero_fwq *q, mode_t mode, int64_t mtime, int writeback, struct hero_error *err)
{
	if (q->fd < 0)
		return 0;
	struct chunk *k = current(q);
	k->mode = mode;
	k->mtime = mtime;
	k->writeback = writeback;
	return push(q, 1, err);
}

int hero_fwq_drain(struct hero_fwq *q, struct hero_error *err)
{
	pthread_mutex_lock(&q->mu);
	while (q->count > 0 || q->busy)
		pthread_cond_wait(&q->cv, &q->mu);
	pthread_mutex_unlock(&q->mu);
	return failure(q, err);
}

void hero_fwq_free(struct hero_fwq *q)
{
	if (!q)
		return;
	if (q->started) {
		pthread_mutex_lock(&q->mu);
		q->stop = 1; /* queued chunks are not written, their files are closed */
		pthread_cond_broadcast(&q->cv);
		pthread_mutex_unlock(&q->mu);
		pthread_join(q->th, NULL);
	}
	if (q->fd >= 0)
		close(q->fd);
	for (unsigned i = 0; i < SLOTS; i++) {
		if (q->c[i].data) /* it held file data, secret values included */
			sodium_memzero(q->c[i].data, SLOT_SIZE);
		free(q->c[i].data);
		free(q->c[i].path);
	}
	free(q->path);
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv);
	free(q);
}
