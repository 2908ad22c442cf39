/* sink.c - hash and write the compressed stream on a thread of its own.
 *
 * A ring of SLOTS buffers: slots head .. head+count-1 are queued (the thread
 * owns the one at head while it works on it); the caller fills the slot at
 * head+count, which is free whenever count < SLOTS.
 */
#include "sink.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "blake2b.h"
#include "internal.h"

struct hero_sink {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t th;
	int fd;
	unsigned slots, head, count;
	size_t slot_size;
	uint8_t **buf;
	size_t *len;
	int closing;   /* no more pushes */
	int dropping;  /* freeing early: write nothing more */
	int failed;    /* err holds the thread's error */
	int started;
	struct hero_blake2b prehash;
	struct hero_error err;
};

static void *sink_main(void *arg)
{
	struct hero_sink *s = arg;
	for (;;) {
		pthread_mutex_lock(&s->mu);
		while (s->count == 0 && !s->closing)
			pthread_cond_wait(&s->cv, &s->mu);
		if (s->count == 0) {
			pthread_mutex_unlock(&s->mu);
			return NULL;
		}
		unsigned i = s->head;
		int skip = s->failed || s->dropping;
		pthread_mutex_unlock(&s->mu);
		struct hero_error e = HERO_ERROR_INIT;
		int ret = 0;
		if (!skip) {
			hero_blake2b_update(&s->prehash, s->buf[i], s->len[i]);
			ret = hero_write_all(s->fd, s->buf[i], s->len[i], "archive output", &e);
		}
		pthread_mutex_lock(&s->mu);
		if (ret < 0 && !s->failed) {
			s->err = e;
			s->failed = 1;
		}
		s->head = (s->head + 1) % s->slots;
		s->count--;
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
		if (!(s->buf[i] = malloc(slot_size))) {
			ret = hero_error(err, HERO_EFAIL, "out of memory");
			goto out;
		}
	if ((ret = pthread_create(&s->th, NULL, sink_main, s)) != 0) {
		ret = hero_error_errno(err, HERO_EFAIL, ret, "cannot start the output thread");
		goto out;
	}
	s->started = 1;
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

static void stop(struct hero_sink *s, int drop)
{
	if (!s->started)
		return;
	pthread_mutex_lock(&s->mu);
	s->closing = 1;
	s->dropping = drop;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->th, NULL);
	s->started = 0;
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
