/* prefetch.c - read and hash an archive stream ahead of its reader.
 *
 * A ring of SLOTS buffers: slots head .. head+count-1 hold data for the
 * reader (which works through the one at head); the thread fills the slot
 * at head+count whenever count < SLOTS. A slot is hashed before it is
 * handed over, so once the reader sees the end the prehash is complete.
 */
#include "pipeline/prefetch.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/blake2b.h"

#define SLOTS 4
#define SLOT_SIZE (1024 * 1024)
#define KEEP_MAX 128

struct hero_prefetch {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t th;
	int started;
	int fd;
	int regular;        /* FD is a regular file: read never blocks for long */
	uint8_t *buf[SLOTS];
	size_t len[SLOTS];
	unsigned head, count;
	size_t rpos;        /* reader's position in the slot at head */
	int eof, error;     /* set by the thread: the end, or the errno of a failed read */
	int stop;           /* set by free */
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
		pthread_mutex_lock(&p->mu);
		int stop = p->stop;
		pthread_mutex_unlock(&p->mu);
		if (stop)
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

static void *prefetch_main(void *arg)
{
	struct hero_prefetch *p = arg;
	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (p->count == SLOTS && !p->stop)
			pthread_cond_wait(&p->cv, &p->mu);
		unsigned i = (p->head + p->count) % SLOTS;
		int stop = p->stop;
		pthread_mutex_unlock(&p->mu);
		if (stop)
			return NULL;
		int eof = 0, error = 0;
		size_t n = fill(p, p->buf[i], &eof, &error);
		hash_keep_back(p, p->buf[i], n);
		pthread_mutex_lock(&p->mu);
		p->len[i] = n;
		if (n)
			p->count++;
		p->eof = eof;
		p->error = error;
		stop = p->stop;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
		if (eof || error || stop)
			return NULL;
	}
}

int hero_prefetch_new(struct hero_prefetch **out, int fd, size_t keep_back, struct hero_error *err)
{
	struct hero_prefetch *p = calloc(1, sizeof *p);
	int ret;
	if (!p)
		return hero_error(err, HERO_EFAIL, "out of memory");
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
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
	if ((ret = pthread_create(&p->th, NULL, prefetch_main, p)) != 0) {
		ret = hero_error_errno(err, HERO_EFAIL, ret, "cannot start the input thread");
		goto out;
	}
	p->started = 1;
	*out = p;
	p = NULL;
	ret = 0;
out:
	hero_prefetch_free(p);
	return ret;
}

ssize_t hero_prefetch_read(struct hero_prefetch *p, void *buf, size_t n)
{
	pthread_mutex_lock(&p->mu);
	while (p->count == 0 && !p->eof && !p->error)
		pthread_cond_wait(&p->cv, &p->mu);
	if (p->count == 0) {
		int e = p->error;
		pthread_mutex_unlock(&p->mu);
		if (!e)
			return 0;
		errno = e;
		return -1;
	}
	unsigned i = p->head;
	pthread_mutex_unlock(&p->mu);
	size_t k = p->len[i] - p->rpos < n ? p->len[i] - p->rpos : n;
	memcpy(buf, p->buf[i] + p->rpos, k);
	p->rpos += k;
	if (p->rpos == p->len[i]) {
		pthread_mutex_lock(&p->mu);
		p->head = (p->head + 1) % SLOTS;
		p->count--;
		p->rpos = 0;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
	}
	return (ssize_t)k;
}

int hero_prefetch_prehash(struct hero_prefetch *p, uint8_t out[64])
{
	pthread_mutex_lock(&p->mu);
	int done = p->eof && p->count == 0;
	pthread_mutex_unlock(&p->mu);
	if (!done)
		return -1;
	hero_blake2b_final(&p->prehash, out);
	return 0;
}

void hero_prefetch_free(struct hero_prefetch *p)
{
	if (!p)
		return;
	if (p->started) {
		pthread_mutex_lock(&p->mu);
		p->stop = 1;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
		pthread_join(p->th, NULL);
	}
	for (unsigned i = 0; i < SLOTS; i++)
		free(p->buf[i]);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p);
}
