/* prefetch.h - read and hash an archive stream ahead of its reader, on a thread.
 *
 * The thread reads FD in 1 MiB pieces and feeds every byte but the last
 * KEEP_BACK of the stream to a BLAKE2b-512 prehash before handing the piece
 * over. The archive reader keeps only decompressing, checking and hashing
 * entries; the signature prehash costs it nothing
 * (docs/decisions/0019-restore-pipeline.md).
 *
 * With KEEP_BACK the size of the signature frame, the prehash is that of
 * every byte before the signature frame exactly when the stream ends with
 * it, which is the only case the reader accepts.
 */
#ifndef HERO_PREFETCH_H
#define HERO_PREFETCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hero/error.h"

struct hero_prefetch;

/* Start reading FD (not owned: it must stay open until hero_prefetch_free). */
int hero_prefetch_new(struct hero_prefetch **out, int fd, size_t keep_back, struct hero_error *err);
/* Like read(2) on FD: up to N bytes, 0 at the end, -1 with errno set on a read error. */
ssize_t hero_prefetch_read(struct hero_prefetch *p, void *buf, size_t n);
/* The prehash, once hero_prefetch_read has returned 0; -1 before. */
int hero_prefetch_prehash(struct hero_prefetch *p, uint8_t out[64]);
/* Stop the thread and free everything. NULL is fine. */
void hero_prefetch_free(struct hero_prefetch *p);

#endif
