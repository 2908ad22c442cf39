/* sink.c - hash and write the compressed stream on threads of their own.
 *
 * A ring of SLOTS buffers: slots head .. head+count-1 are the sink's, the
 * first HASHED of them already fed to the prehash; the caller fills the slot
 * at head+count, which is free whenever count < SLOTS. One thread hashes the
 * slots in order, another writes the hashed ones in order, so hashing goes on
 * while a write waits for the device.
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
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/blake2b.h"
#include "base/internal.h"

struct hero_sink {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t hasher, writer;
	int fd;
	unsigned slots, head, count, hashed;
	size_t slot_size;
	uint8_t **buf;
	size_t *len;
	int closing;   /* no more pushes */
	int dropping;  /* freeing early: write nothing more */
	int failed;    /* err holds the thread's error */
	int started;
	int flags;     /* the descriptor's status flags before O_DIRECT */
	int direct;    /* O_DIRECT is on */
	struct hero_blake2b prehash;
	struct hero_error err;
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

static void *hasher_main(void *arg)
{
	struct hero_sink *s = arg;
	for (;;) {
		pthread_mutex_lock(&s->mu);
		while (s->hashed == s->count && !s->closing)
			pthread_cond_wait(&s->cv, &s->mu);
		if (s->hashed == s->count) {
			pthread_mutex_unlock(&s->mu);
			return NULL;
		}
		unsigned i = (s->head + s->hashed) % s->slots;
		int skip = s->failed || s->dropping;
		pthread_mutex_unlock(&s->mu);
		if (!skip)
			hero_blake2b_update(&s->prehash, s->buf[i], s->len[i]);
		pthread_mutex_lock(&s->mu);
		s->hashed++;
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
	}
}

static void *writer_main(void *arg)
{
	struct hero_sink *s = arg;
	for (;;) {
		pthread_mutex_lock(&s->mu);
		while (s->hashed == 0 && !(s->closing && s->count == 0))
			pthread_cond_wait(&s->cv, &s->mu);
		if (s->hashed == 0) {
			pthread_mutex_unlock(&s->mu);
			return NULL;
		}
		unsigned i = s->head;
		int skip = s->failed || s->dropping;
		pthread_mutex_unlock(&s->mu);
		struct hero_error e = HERO_ERROR_INIT;
		int ret = skip ? 0 : write_out(s, s->buf[i], s->len[i], &e);
		pthread_mutex_lock(&s->mu);
		if (ret < 0 && !s->failed) {
			s->err = e;
			s->failed = 1;
		}
		s->head = (s->head + 1) % s->slots;
		s->count--;
		s->hashed--;
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
	}
}

int hero_sink_new(struct hero_sink **out, int fd, unsigned slots, size_t slot_size, struct hero_error *err)
{
	struct hero_sink *s = calloc(1, sizeof *s);
	int ret;
	if (!s)
		return hero_error(err, HERO_EFAIL, "out of memory");
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
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
	if ((ret = pthread_create(&s->hasher, NULL, hasher_main, s)) != 0) {
		ret = hero_error_errno(err, HERO_EFAIL, ret, "cannot start the output thread");
		goto out;
	}
	s->started = 1;
	if ((ret = pthread_create(&s->writer, NULL, writer_main, s)) != 0) {
		ret = hero_error_errno(err, HERO_EFAIL, ret, "cannot start the output thread");
		goto out;
	}
	s->started = 2;
	*out = s;
	s = NULL;
	ret = 0;
out:
	hero_sink_free(s);
	return ret;
}

uint8_t *hero_sink_slot(struct hero_sink *s)
{
	return s->buf[(s->head + s->count) % s->slots];
}

static int thread_error(struct hero_sink *s, struct hero_error *err)
{
	*err = s->err;
	return -err->code;
}

int hero_sink_push(struct hero_sink *s, size_t len, struct hero_error *err)
{
	pthread_mutex_lock(&s->mu);
	if (s->failed) {
		pthread_mutex_unlock(&s->mu);
		return thread_error(s, err);
	}
	s->len[(s->head + s->count) % s->slots] = len;
	s->count++;
	pthread_cond_broadcast(&s->cv);
	while (s->count == s->slots && !s->failed)
		pthread_cond_wait(&s->cv, &s->mu);
	int failed = s->failed;
	pthread_mutex_unlock(&s->mu);
	return failed ? thread_error(s, err) : 0;
}

/* End the thread (if running) and give the descriptor its flags back. */
static void stop(struct hero_sink *s, int drop)
{
	if (s->started) {
		pthread_mutex_lock(&s->mu);
		s->closing = 1;
		s->dropping = drop;
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->hasher, NULL);
		if (s->started > 1)
			pthread_join(s->writer, NULL);
		s->started = 0;
	}
	direct_off(s);
}

int hero_sink_close(struct hero_sink *s, uint8_t prehash[64], struct hero_error *err)
{
	stop(s, 0);
	if (s->failed)
		return thread_error(s, err);
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
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s);
}
