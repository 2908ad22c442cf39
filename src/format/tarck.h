/* tarck.h - the second, deliberately narrow tar parser of the archive
 * reader (docs/security.md section 3).
 *
 * The reader feeds every decompressed byte here before libarchive sees it.
 * tarck refuses whatever the writer does not produce and records, for each
 * entry, where its first header block starts (its pax header, if one
 * precedes it), its data size, its type and its path. The reader takes the
 * records in order and compares each with the entry libarchive returns, so
 * the two parsers must agree on every entry boundary, not only on the count.
 * Not installed: the reader and the differential fuzz target use it.
 */
#ifndef HERO_TARCK_H
#define HERO_TARCK_H

#include <stddef.h>
#include <stdint.h>

#include "hero/error.h"

#define HERO_TARCK_PAX_MAX (64u << 10) /* the largest pax extended header */

enum hero_tarck_state { HERO_TARCK_HEADER, HERO_TARCK_DATA, HERO_TARCK_END };

/* One entry as tarck parsed it. */
struct hero_tarck_rec {
	uint64_t off;         /* offset of the entry's first header block in the tar stream */
	uint64_t size;        /* data bytes */
	int dir;              /* type '5' */
	char *path;           /* the pax path, else the ustar prefix/name */
};

struct hero_tarck {
	enum hero_tarck_state st;
	uint8_t blk[512];
	size_t have;          /* bytes of blk filled */
	uint64_t left;        /* bytes of the current entry (data and padding) still to pass */
	uint64_t data_left;   /* of which data */
	int in_pax;           /* the current data is a pax extended header */
	char *pax;            /* HERO_TARCK_PAX_MAX bytes */
	size_t pax_len;
	int pax_pending;      /* a pax header applies to the next entry */
	int has_pax_size;
	uint64_t pax_size;
	char *pax_path;
	int pax_binary;       /* hdrcharset=BINARY: the pax path is raw bytes */
	int zero_blocks;
	uint64_t entries;     /* headers of type 0 and 5 */
	char name[512];       /* the entry at hand, for messages */
	uint64_t off;         /* bytes fed so far */
	uint64_t ent_off;     /* where the entry at hand began (its pax header, if any) */
	uint64_t end_off;     /* where the end-of-archive blocks begin, once in HERO_TARCK_END */
	/* entries parsed and not yet taken: a ring of at most qmax */
	struct hero_tarck_rec *q;
	size_t qhead, qlen, qcap, qmax;
};

/* Start a parser that holds at most QMAX records not yet taken (more is refused). */
void hero_tarck_init(struct hero_tarck *t, size_t qmax);
void hero_tarck_release(struct hero_tarck *t);
/* Parse N more bytes of the tar stream; refuses with HERO_EINTEGRITY. */
int hero_tarck_feed(struct hero_tarck *t, const uint8_t *p, size_t n, struct hero_error *err);
/* The oldest record not yet taken, or NULL; valid until the next feed or take. */
const struct hero_tarck_rec *hero_tarck_peek(const struct hero_tarck *t);
/* Drop the oldest record. */
void hero_tarck_take(struct hero_tarck *t);

#endif
