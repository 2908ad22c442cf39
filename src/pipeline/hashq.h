/* hashq.h - hash archive entries on a thread of their own, in order.
 *
 * The archive reader hands each entry's data over as it reads it (copied
 * into slots of a ring) and marks the end of each entry with a number; the
 * thread computes each entry's BLAKE2b-256. Before comparing with the index
 * the reader waits for the thread and collects the digests, so verification
 * is the same while hashing overlaps decompressing and writing
 * (docs/decisions/0019-restore-pipeline.md).
 */
#ifndef HERO_HASHQ_H
#define HERO_HASHQ_H

#include <stddef.h>
#include <stdint.h>

#include "hero/error.h"

struct hero_hashq;

int hero_hashq_new(struct hero_hashq **out, struct hero_error *err);
/* Hash N bytes of BUF (copied; the caller keeps BUF) as part of the current entry. */
int hero_hashq_data(struct hero_hashq *q, const void *buf, size_t n, struct hero_error *err);
/* End the current entry; its digest is kept under ID (each ID once). */
int hero_hashq_end(struct hero_hashq *q, size_t id, struct hero_error *err);
/* Wait until every entry ended so far is hashed. */
void hero_hashq_drain(struct hero_hashq *q);
/* After a drain: the digest kept under ID; -1 if no entry ended with that ID. */
int hero_hashq_digest(const struct hero_hashq *q, size_t id, uint8_t out[32]);
/* Stop the thread and free everything. NULL is fine. */
void hero_hashq_free(struct hero_hashq *q);

#endif
