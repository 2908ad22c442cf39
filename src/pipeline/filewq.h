/* filewq.h - write restored files on a thread of their own.
 *
 * The restore reads entry data straight into the queue's slots; a thread
 * writes them to the files, in order, then sets each file's mode and time,
 * starts the writeback of large ones and closes them. Copying into the page
 * cache is then off the thread that decompresses and checks the archive
 * (docs/decisions/0019-restore-pipeline.md). Errors name the file and come
 * back from a later call or from hero_fwq_drain.
 */
#ifndef HERO_FILEWQ_H
#define HERO_FILEWQ_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hero/error.h"

struct hero_fwq;

int hero_fwq_new(struct hero_fwq **out, struct hero_error *err);
/* Start a file: the queue owns FD from now on (even on error). PATH labels errors. */
int hero_fwq_open(struct hero_fwq *q, int fd, const char *path, struct hero_error *err);
/* Room for the file's next bytes: *CAP bytes at the pointer returned. */
uint8_t *hero_fwq_room(struct hero_fwq *q, size_t *cap);
/* N bytes of that room are filled. */
int hero_fwq_put(struct hero_fwq *q, size_t n, struct hero_error *err);
/* The file is complete: MODE, MTIME (seconds), writeback started when WRITEBACK, closed. */
int hero_fwq_close(struct hero_fwq *q, mode_t mode, int64_t mtime, int writeback, struct hero_error *err);
/* Wait until every file handed over is written and closed; the first error, if any. */
int hero_fwq_drain(struct hero_fwq *q, struct hero_error *err);
/* Stop the thread; descriptors still held are closed. NULL is fine. */
void hero_fwq_free(struct hero_fwq *q);

#endif
