/* sink.c - hash and write the compressed stream on threads of their own.
 *
 * A work queue (workq.h) of SLOTS buffers through three stages: the caller
 * fills a slot, one thread hashes the slots in order, another writes the
 * hashed ones in order, so hashing goes on while a write waits for the device.
 *
 * When the output is a regular file at an aligned offset, whole slots are
 * written with O_DIRECT: no copy into the page cache, no page cache evicted
 * from the instance being backed up, and the fsync that ends hero-snap finds
 * the data already on the device (docs/decisions/0016-snapshot-pipeline.md).
 * The last, partial slot and anything the file system refuses go through the
 * page cache as before; the descriptor's flags are restored at the end.
 */
#include "pipeline/sink.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/blake2b.h"
#include "base/internal.h"
#include "pipeline/workq.h"

struct hero_sink {
	struct hero_workq *wq; /* stage 0 the caller, 1 the hashing thread, 2 the writing thread */
	int fd;
	unsigned slots;
	size_t slot_size;
	uint8_t **buf;
	size_t *len;
	int flags;     /* the descriptor's status flags before O_DIRECT */
	int direct;    /* O_DIRECT is on */
	struct hero_blake2b prehash;
};

#define DIRECT_ALIGN 4096

static void direct_off(struct hero_sink *s)
{
	if (s->direct)
		fcntl(s->fd, F_SETFL, s->flags);
	s->direct = 0;
}

/* O_DIRECT for a regular file at an aligned offset, if the file system takes it. */
static void direct_on(struct hero_sink *s)
{
	struct stat st;
	s->flags = fcntl(s->fd, F_GETFL);
	if (s->flags < 0 || (s->flags & O_APPEND) || s->slot_size % DIRECT_ALIGN != 0 ||
	    fstat(s->fd, &st) < 0 || !S_ISREG(st.st_mode))
		return;
	off_t at = lseek(s->fd, 0, SEEK_CUR);
	if (at < 0 || at % DIRECT_ALIGN != 0)
		return;
	s->direct = fcntl(s->fd, F_SETFL, s->flags | O_DIRECT) == 0;
}

static int write_out(struct hero_sink *s, const uint8_t *p, size_t n, struct hero_error *err)
{
	if (s->direct && n % DIRECT_ALIGN != 0)
		direct_off(s);
	if (s->direct) {
		ssize_t w;
		if (hero_fault("write") < 0) /* the fault point hero_write_all has */
			return hero_error_errno(err, HERO_EFAIL, errno, "cannot write archive output");
		do
			w = write(s->fd, p, n);
		while (w < 0 && errno == EINTR);
		if (w == (ssize_t)n)
			return 0;
		if (w < 0 && errno != EINVAL)
			return hero_error_errno(err, HERO_EFAIL, errno, "cannot write archive output");
		direct_off(s); /* refused or short: the rest through the page cache */
		if (w > 0) {
			p += w;
			n -= (size_t)w;
		}
	}
	return hero_write_all(s->fd, p, n, "archive output", err);
}

/* The hashing thread's stage; after an error or when freeing early, nothing is hashed. */
static int hash_stage(void *ctx, unsigned i, uint64_t seq, int skip, struct hero_error *err)
{
	struct hero_sink *s = ctx;
	(void)seq;
	(void)err;
	if (!skip)
		hero_blake2b_update(&s->prehash, s->buf[i], s->len[i]);
	return 0;
}

/* The writing thread's stage; after an error or when freeing early, nothing is written. */
static int write_stage(void *ctx, unsigned i, uint64_t seq, int skip, struct hero_error *err)
{
	struct hero_sink *s = ctx;
	(void)seq;
	return skip ? 0 : write_out(s, s->buf[i], s->len[i], err);
}

int hero_sink_new(struct hero_sink **out, int fd, unsigned slots, size_t slot_size, struct hero_error *err)
{
	struct hero_sink *s = calloc(1, sizeof *s);
	int ret;
	if (!s)
		return hero_error(err, HERO_EFAIL, "out of memory");
	s->fd = fd;
	s->slots = slots < 2 ? 2 : slots;
	s->slot_size = slot_size;
	hero_blake2b_init(&s->prehash, 64);
	s->buf = calloc(s->slots, sizeof *s->buf);
	s->len = calloc(s->slots, sizeof *s->len);
	if (!s->buf || !s->len) {
		ret = hero_error(err, HERO_EFAIL, "out of memory");
		goto out;
	}
	for (unsigned i = 0; i < s->slots; i++)
		if (posix_memalign((void **)&s->buf[i], DIRECT_ALIGN, slot_size) != 0) {
			s->buf[i] = NULL;
			ret = hero_error(err, HERO_EFAIL, "out of memory");
			goto out;
		}
	direct_on(s);
	static const hero_workq_fn stages[] = { NULL, hash_stage, write_stage };
	if ((ret = hero_workq_new(&s->wq, s->slots, 3, stages, s, "output", err)) < 0)
		goto out;
	*out = s;
	s = NULL;
	ret = 0;
out:
	hero_sink_free(s);
	return ret;
}

uint8_t *hero_sink_slot(struct hero_sink *s)
{
	return s->buf[hero_workq_next(s->wq, 0)];
}

int hero_sink_push(struct hero_sink *s, size_t len, struct hero_error *err)
{
	int ret = hero_workq_error(s->wq, err);
	if (ret < 0)
		return ret;
	s->len[hero_workq_next(s->wq, 0)] = len;
	hero_workq_pass(s->wq, 0);
	hero_workq_next(s->wq, 0); /* a free slot (the threads go through the rest once failed) */
	return hero_workq_error(s->wq, err);
}

/* End the threads (if running) and give the descriptor its flags back. */
static void stop(struct hero_sink *s, int drop)
{
	if (s->wq) {
		if (drop) {
			hero_workq_free(s->wq);
			s->wq = NULL;
		} else {
			hero_workq_join(s->wq);
		}
	}
	direct_off(s);
}

int hero_sink_close(struct hero_sink *s, uint8_t prehash[64], struct hero_error *err)
{
	stop(s, 0);
	int ret = hero_workq_error(s->wq, err);
	if (ret < 0)
		return ret;
	hero_blake2b_final(&s->prehash, prehash);
	return 0;
}

void hero_sink_free(struct hero_sink *s)
{
	if (!s)
		return;
	stop(s, 1);
	for (unsigned i = 0; s->buf && i < s->slots; i++)
		free(s->buf[i]);
	free(s->buf);
	free(s->len);
	free(s);
}
