/* prefetch.c - read and hash an archive stream ahead of its reader.
 *
 * A work queue (workq.h) of SLOTS buffers: the thread fills a slot (stage 0),
 * the reader works through it (stage 1). A slot is hashed before it is
 * handed over, so once the reader sees the end the prehash is complete.
 */
#include "pipeline/prefetch.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/blake2b.h"
#include "pipeline/workq.h"

#define SLOTS 4
#define SLOT_SIZE (1024 * 1024)
#define KEEP_MAX 128

struct hero_prefetch {
	struct hero_workq *wq; /* stage 0 the input thread, stage 1 the reader */
	int fd;
	int regular;        /* FD is a regular file: read never blocks for long */
	uint8_t *buf[SLOTS];
	size_t len[SLOTS];
	size_t rpos;        /* reader's position in its slot */
	int eof, error;     /* set by the thread: the end, or the errno of a failed read */
	size_t keep;        /* bytes at the end of the stream left out of the prehash */
	uint8_t tail[KEEP_MAX];
	size_t tlen;
	struct hero_blake2b prehash;
};

/* Hash everything but the last KEEP bytes seen so far. */
static void hash_keep_back(struct hero_prefetch *p, const uint8_t *d, size_t n)
{
	size_t total = p->tlen + n;
	if (total <= p->keep) {
		memcpy(p->tail + p->tlen, d, n);
		p->tlen = total;
		return;
	}
	size_t hash_n = total - p->keep;
	size_t from_tail = hash_n < p->tlen ? hash_n : p->tlen;
	hero_blake2b_update(&p->prehash, p->tail, from_tail);
	hero_blake2b_update(&p->prehash, d, hash_n - from_tail);
	size_t rest = p->tlen - from_tail;
	memmove(p->tail, p->tail + from_tail, rest);
	memcpy(p->tail + rest, d + (hash_n - from_tail), n - (hash_n - from_tail));
	p->tlen = p->keep;
}

/* Wait until FD is readable, or stop is asked (a pipe may stay silent). */
static int wait_readable(struct hero_prefetch *p)
{
	if (p->regular)
		return 1;
	for (;;) {
		struct pollfd pf = { p->fd, POLLIN, 0 };
		int r = poll(&pf, 1, 100);
		if (hero_workq_stopping(p->wq))
			return 0;
		if (r != 0)
			return 1; /* readable, hung up, or an error read() will report */
	}
}

/* Fill one slot: up to SLOT_SIZE bytes; sets *eof or *error. */
static size_t fill(struct hero_prefetch *p, uint8_t *b, int *eof, int *error)
{
	size_t n = 0;
	while (n < SLOT_SIZE) {
		if (!wait_readable(p))
			break;
		ssize_t r = read(p->fd, b + n, SLOT_SIZE - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			*error = errno ? errno : EIO;
			break;
		}
		if (r == 0) {
			*eof = 1;
			break;
		}
		n += (size_t)r;
		if (!p->regular)
			break; /* hand a pipe's data over as it comes */
	}
	return n;
}

/* The input thread's stage: fill slot I and hash it; the stream ends at the end
 * of FD, at a read error, or when stopping. */
static int read_stage(void *ctx, unsigned i, uint64_t seq, int skip, struct hero_error *err)
{
	struct hero_prefetch *p = ctx;
	(void)seq;
	(void)skip;
	(void)err;
	size_t n = fill(p, p->buf[i], &p->eof, &p->error);
	hash_keep_back(p, p->buf[i], n);
	p->len[i] = n;
	if (p->eof || p->error || hero_workq_stopping(p->wq))
		return n ? HERO_WORKQ_LAST : HERO_WORKQ_NONE;
	return n ? 0 : HERO_WORKQ_NONE;
}

int hero_prefetch_new(struct hero_prefetch **out, int fd, size_t keep_back, struct hero_error *err)
{
	struct hero_prefetch *p = calloc(1, sizeof *p);
	int ret;
	if (!p)
		return hero_error(err, HERO_EFAIL, "out of memory");
	p->fd = fd;
	p->keep = keep_back < KEEP_MAX ? keep_back : KEEP_MAX;
	struct stat st;
	p->regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
	hero_blake2b_init(&p->prehash, 64);
	for (unsigned i = 0; i < SLOTS; i++)
		if (!(p->buf[i] = malloc(SLOT_SIZE))) {
			ret = hero_error(err, HERO_EFAIL, "out of memory");
			goto out;
		}
	static const hero_workq_fn stages[] = { read_stage, NULL };
	if ((ret = hero_workq_new(&p->wq, SLOTS, 2, stages, p, "input", err)) < 0)
		goto out;
	*out = p;
	p = NULL;
	ret = 0;
out:
	hero_prefetch_free(p);
	return ret;
}

ssize_t hero_prefetch_read(struct hero_prefetch *p, void *buf, size_t n)
{
	int i = hero_workq_next(p->wq, 1);
	if (i < 0) { /* the thread ended and everything it read is read */
		if (!p->error)
			return 0;
		errno = p->error;
		return -1;
	}
	size_t k = p->len[i] - p->rpos < n ? p->len[i] - p->rpos : n;
	memcpy(buf, p->buf[i] + p->rpos, k);
	p->rpos += k;
	if (p->rpos == p->len[i]) {
		p->rpos = 0;
		hero_workq_pass(p->wq, 1);
	}
	return (ssize_t)k;
}

int hero_prefetch_prehash(struct hero_prefetch *p, uint8_t out[64])
{
	if (!hero_workq_idle(p->wq) || !p->eof)
		return -1;
	hero_blake2b_final(&p->prehash, out);
	return 0;
}

void hero_prefetch_free(struct hero_prefetch *p)
{
	if (!p)
		return;
	hero_workq_free(p->wq);
	for (unsigned i = 0; i < SLOTS; i++)
		free(p->buf[i]);
	free(p);
}
