/* hero/archive.h - the archive stream of formats/hero-archive-v1.md.
 *
 * A writer turns a manifest, state entries and an index into one signed,
 * zstd-compressed pax tar stream on a file descriptor; a reader does the
 * reverse in one pass and reports success only once every byte is verified.
 */
#ifndef HERO_ARCHIVE_H
#define HERO_ARCHIVE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hero/error.h"
#include "hero/keys.h"

#define HERO_ARCHIVE_MAJOR 1
#define HERO_ARCHIVE_MINOR 0
#define HERO_ID_BYTES 16
#define HERO_FLAG_ENCRYPTED 0x0001u
#define HERO_FLAG_INCREMENTAL 0x0002u
#define HERO_MANIFEST_PATH ".hero/manifest.json"
#define HERO_INDEX_PATH ".hero/index.json"
#define HERO_SECRETS_PREFIX ".hero/secrets/" /* secret values, encrypted archives only */

/* The fixed header of every archive. */
struct hero_header {
	uint8_t major, minor;
	uint16_t flags;
	uint8_t archive_id[HERO_ID_BYTES];
	uint8_t keyid[HERO_KEYID_BYTES];
	uint64_t created;
};

/* What a finished writer or a verified reader counted. */
struct hero_archive_stats {
	uint64_t entries;      /* state entries (directories and files) */
	uint64_t files;
	uint64_t data_bytes;   /* file bytes before compression */
	uint64_t archive_bytes; /* bytes of the archive stream */
};

/* Reader caps (formats/hero-archive-v1.md section 6); HERO_LIMITS_DEFAULT fills them. */
struct hero_limits {
	uint64_t max_entries;
	uint64_t max_file_bytes;
	uint64_t max_total_bytes;
	uint32_t max_path;
	uint32_t max_component;
	uint32_t max_ratio;
};

void hero_limits_default(struct hero_limits *l);

/* Entry types as named in the index. */
enum hero_etype { HERO_E_DIR = 0, HERO_E_FILE, HERO_E_SQLITE };
const char *hero_etype_name(enum hero_etype t);

/* ---- writer ---- */

struct hero_awriter;

struct hero_awriter_opts {
	int level;    /* zstd level, default 3 */
	int threads;  /* zstd workers; 0 = one per online CPU */
	uint16_t flags;
	/* Encrypt the body (section 7) to these recipients, or to PASSPHRASE. */
	const struct hero_pubkey *recipients;
	size_t n_recipients;
	const char *passphrase;
};

/* Start an archive on FD (not closed by the writer), signed with SK
 * (borrowed; must outlive the writer). Fills a fresh archive id.
 * Free with hero_awriter_free. */
int hero_awriter_new(struct hero_awriter **out, int fd, const struct hero_seckey *sk,
		      const struct hero_awriter_opts *opts, struct hero_error *err);
const struct hero_header *hero_awriter_header(const struct hero_awriter *w);

/* The manifest entry: must be the first call after open. */
int hero_awriter_manifest(struct hero_awriter *w, const char *json, size_t len,
			  struct hero_error *err);

/* Add a directory entry. SERVICE and CONTEXT (may be NULL) go to the index. */
int hero_awriter_dir(struct hero_awriter *w, const char *path, mode_t mode, int64_t mtime,
		     const char *service, const char *context, struct hero_error *err);

/* Add a file entry of exactly SIZE bytes read from DATA_FD; fails if DATA_FD
 * ends early (the file changed while being read). MTIME_NS is the source's
 * modification time in nanoseconds: whole seconds go to the tar header, the
 * exact value to the index (`mtime_ns`), for the change test of increments. */
int hero_awriter_file(struct hero_awriter *w, const char *path, enum hero_etype type, int data_fd,
		      uint64_t size, mode_t mode, int64_t mtime_ns, const char *service,
		      const char *context, struct hero_error *err);

/* An index element of an incremental archive (formats/hero-archive-v1.md
 * section 8) for an entry the parent already holds, unchanged. */
struct hero_unchanged {
	const char *path;
	enum hero_etype type;
	const char *service, *context; /* may be NULL */
	uint64_t size;                 /* files and databases */
	uint8_t hash[32];              /* BLAKE2b-256 of the data, from the parent's index */
	int64_t mtime_ns;
	mode_t mode;
};

/* Record an unchanged entry: an index element with "unchanged": true and no
 * tar entry. Only in an archive opened with HERO_FLAG_INCREMENTAL. */
int hero_awriter_unchanged(struct hero_awriter *w, const struct hero_unchanged *u,
			   struct hero_error *err);

/* Record a path of the parent that is gone: {"path": PATH, "type": "deleted"},
 * no tar entry. Only in an archive opened with HERO_FLAG_INCREMENTAL. */
int hero_awriter_deleted(struct hero_awriter *w, const char *path, struct hero_error *err);

/* The index as a JSON document ({"archive_id", "entries"}), as far as written;
 * malloc'd (free it), NULL when out of memory. */
char *hero_awriter_index_text(const struct hero_awriter *w);

/* Write the index, end the tar and the zstd stream, and sign. STATS may be NULL. */
int hero_awriter_finish(struct hero_awriter *w, struct hero_archive_stats *stats,
			struct hero_error *err);
void hero_awriter_free(struct hero_awriter *w);

/* ---- reader ---- */

struct hero_areader;

/* One state entry as the reader hands it out. Strings are owned by the reader
 * and valid until the next call. */
struct hero_aentry {
	const char *path;
	enum hero_etype type; /* DIR or FILE; SQLITE is known only from the index */
	uint64_t size;
	mode_t mode;          /* already masked with 0755 */
	int64_t mtime;
};

struct hero_areader_opts {
	const struct hero_trust *trust;     /* NULL: do not check the signer (listing only) */
	const struct hero_limits *limits;   /* NULL: defaults */
	const struct hero_seckey *identity; /* X25519 identity for an encrypted archive, or NULL */
	const char *passphrase;             /* passphrase for an encrypted archive, or NULL */
};

/* As hero_areader_new, with a key for an encrypted archive. Without one, an
 * encrypted archive opens "sealed": only hero_areader_verify_sealed works. */
int hero_areader_new2(struct hero_areader **out, int fd, const struct hero_areader_opts *opts,
		       struct hero_error *err);

/* 1 if the archive is encrypted and no key was given; fills the recipient
 * stanza count and whether it is sealed to a passphrase (both may be NULL). */
int hero_areader_sealed(const struct hero_areader *r, unsigned *recipients, int *passphrase);

/* For a sealed archive: read every chunk, check the framing, read the
 * signature and verify it (if a trust set was given). *CHUNKS may be NULL. */
int hero_areader_verify_sealed(struct hero_areader *r, uint64_t *chunks, struct hero_error *err);

/* Open a reader on FD (not closed). If TRUST is not NULL the signer's key id
 * must be in it, checked before the body is read. LIMITS may be NULL
 * (defaults). Reads and checks the header. */
int hero_areader_new(struct hero_areader **out, int fd, const struct hero_trust *trust,
		      const struct hero_limits *limits, struct hero_error *err);
const struct hero_header *hero_areader_header(const struct hero_areader *r);

/* Read the manifest entry (the first). *JSON is owned by the reader. */
int hero_areader_manifest(struct hero_areader *r, const char **json, size_t *len,
			  struct hero_error *err);

/* Next state entry: returns 1 and fills E, or 0 when the stream is complete
 * and fully verified (index and, if a trust set was given, signature), or
 * <0 on error. The data of a file entry is read with hero_areader_data;
 * what the caller does not read is read and hashed on the next call. */
int hero_areader_next(struct hero_areader *r, struct hero_aentry *e, struct hero_error *err);

/* Read up to N bytes of the current file entry's data; returns the count,
 * 0 at its end, <0 on error. */
ssize_t hero_areader_data(struct hero_areader *r, void *buf, size_t n, struct hero_error *err);

/* After hero_areader_next returned 0: the index (JSON owned by the reader),
 * the counts, and whether the signature was verified against a trusted key. */
const char *hero_areader_index(const struct hero_areader *r);
void hero_areader_stats(const struct hero_areader *r, struct hero_archive_stats *st);
int hero_areader_signature_checked(const struct hero_areader *r);

/* Read for the index only (a parent of an increment): entry data is read but
 * not hashed, nor compared with the index's hashes; paths, types and sizes
 * still are, and the signature, which covers every byte, vouches for the
 * index. Only on a reader opened with a trust set, before the manifest is read. */
int hero_areader_listing(struct hero_areader *r, struct hero_error *err);
void hero_areader_free(struct hero_areader *r);

/* Lowercase hex of N bytes into OUT (2N+1 bytes). */
void hero_hex(const uint8_t *in, size_t n, char *out);

#endif
