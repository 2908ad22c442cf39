/* filewq.c - write restored files on a thread of their own.
 *
 * A work queue (workq.h) of SLOTS chunks: the restore fills a chunk
 * (stage 0), the thread writes it (stage 1). A chunk holds data of one file and, on its last chunk, what
 * to do to finish the file; a small file is one chunk.
 */
#include "pipeline/filewq.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "base/internal.h"
#include "pipeline/workq.h"

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
	struct hero_workq *wq; /* stage 0 the restore, stage 1 the writing thread */
	struct chunk c[SLOTS];
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

/* The writing thread's stage: after an error, or when stopping, chunks are not
 * written but their files are closed; the first error is the queue's. */
static int write_stage(void *ctx, unsigned i, uint64_t seq, int skip, struct hero_error *err)
{
	struct hero_fwq *q = ctx;
	struct chunk *k = &q->c[i];
	(void)seq;
	int ret = write_chunk(k, skip, err);
	free(k->path);
	k->path = NULL;
	k->len = 0;
	k->last = 0;
	return ret < 0 ? ret : 0;
}

int hero_fwq_new(struct hero_fwq **out, struct hero_error *err)
{
	struct hero_fwq *q = calloc(1, sizeof *q);
	int ret;
	if (!q)
		return hero_error(err, HERO_EFAIL, "out of memory");
	q->fd = -1;
	for (unsigned i = 0; i < SLOTS; i++)
		if (!(q->c[i].data = malloc(SLOT_SIZE))) {
			ret = hero_error(err, HERO_EFAIL, "out of memory");
			goto out;
		}
	static const hero_workq_fn stages[] = { NULL, write_stage };
	if ((ret = hero_workq_new(&q->wq, SLOTS, 2, stages, q, "file writing", err)) < 0)
		goto out;
	*out = q;
	q = NULL;
	ret = 0;
out:
	hero_fwq_free(q);
	return ret;
}

static struct chunk *current(struct hero_fwq *q)
{
	return &q->c[hero_workq_next(q->wq, 0)];
}

/* The thread's error, if it failed. */
static int failure(struct hero_fwq *q, struct hero_error *err)
{
	return hero_workq_error(q->wq, err);
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
	hero_workq_pass(q->wq, 0);
	hero_workq_next(q->wq, 0);
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
	hero_workq_drain(q->wq);
	return failure(q, err);
}

void hero_fwq_free(struct hero_fwq *q)
{
	if (!q)
		return;
	hero_workq_free(q->wq); /* queued chunks are not written, their files are closed */
	if (q->fd >= 0)
		close(q->fd);
	for (unsigned i = 0; i < SLOTS; i++) {
		if (q->c[i].data) /* it held file data, secret values included */
			sodium_memzero(q->c[i].data, SLOT_SIZE);
		free(q->c[i].data);
		free(q->c[i].path);
	}
	free(q->path);
	free(q);
}
