/* sink.h - threads that hash and write the archive's compressed stream.
 *
 * The writer fills fixed-size slots and hands them over in order; one sink
 * thread feeds each to the BLAKE2b-512 prehash, another writes it to the file
 * descriptor. So hashing and writing the output overlap reading, hashing and
 * compressing the input, and each other (docs/decisions/0016-snapshot-pipeline.md).
 */
#ifndef HERO_SINK_H
#define HERO_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "hero/error.h"

struct hero_sink;

/* Start the thread writing to FD with SLOTS buffers of SLOT_SIZE bytes. */
int hero_sink_new(struct hero_sink **out, int fd, unsigned slots, size_t slot_size, struct hero_error *err);
/* The slot to fill next, SLOT_SIZE bytes; owned by the caller until pushed. */
uint8_t *hero_sink_slot(struct hero_sink *s);
/* Hand the current slot over with its first LEN bytes; waits for a free slot.
 * Fails once the thread has failed (its error is returned). */
int hero_sink_push(struct hero_sink *s, size_t len, struct hero_error *err);
/* Push nothing more: wait until everything is hashed and written, then give the
 * prehash of every byte written. Returns the thread's first error, if any. */
int hero_sink_close(struct hero_sink *s, uint8_t prehash[64], struct hero_error *err);
/* Stop the thread (unwritten slots are dropped) and free everything. NULL is fine. */
void hero_sink_free(struct hero_sink *s);

#endif
