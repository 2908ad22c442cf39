/* archive_read.c - read and verify an archive stream in one pass
 * (formats/hero-archive-v1.md section 3).
 *
 * Layers, bottom up: `zin` reads the file descriptor, hashes every byte
 * before the signature frame and decompresses the zstd frames while
 * watching frame boundaries; tarck (tarck.c) and libarchive both parse the
 * tar from what zin yields and must agree on every entry's boundaries;
 * the entry loop checks paths, types and caps, hashes entry data, and at
 * the index compares what was read with what the writer recorded.
 */
#include "hero/archive.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <sodium.h>
#include <zstd.h>

#include "base/blake2b.h"
#include "base/internal.h"
#include "format/crypt.h"
#include "format/pathsafe.h"
#include "format/tarck.h"
#include "pipeline/hashq.h"
#include "pipeline/prefetch.h"

#define IN_BUF (256 * 1024)
#define MANIFEST_MAX (16u << 20)
#define INDEX_MAX (1024u << 20)

enum zstate { Z_BOUNDARY, Z_FRAME, Z_DONE };

struct zin {
	int fd;
	uint8_t *buf;
	size_t pos, len;
	int eof;
	enum zstate state;
	ZSTD_DCtx *dctx;
	struct hero_prefetch *src; /* reads FD ahead and computes the prehash */
	uint64_t consumed;   /* compressed bytes consumed */
	uint64_t produced;   /* decompressed bytes produced */
	uint8_t sig[HERO_SIG_FRAME];
	/* An encrypted body (section 7): crypt frames are read from FD into RAW and
	 * hashed there; their plaintext (the zstd stream) is appended to BUF. */
	int crypt;
	int keyed;           /* the payload key is known: decrypt, else only hash */
	uint8_t *raw;
	size_t rpos, rlen;
	int reof;
	crypto_secretstream_xchacha20poly1305_state ss;
	int ss_started, final_seen;
	uint64_t chunks;
	uint8_t key[crypto_secretstream_xchacha20poly1305_KEYBYTES];
};

#define CRYPT_FRAME_MAX (crypto_secretstream_xchacha20poly1305_HEADERBYTES + HERO_CRYPT_CHUNK + \
			 crypto_secretstream_xchacha20poly1305_ABYTES)
#define RAW_BUF (8 + CRYPT_FRAME_MAX + HERO_SIG_FRAME + 1)
#define PLAIN_BUF (HERO_CRYPT_CHUNK + IN_BUF)

struct computed {
	char *path;
	enum hero_etype type;
	uint64_t size;
	uint8_t hash[32];
};

struct hero_areader {
	struct zin z;
	struct hero_limits lim;
	const struct hero_trust *trust;
	const struct hero_seckey *identity; /* to decrypt, with PASSPHRASE; both may be NULL */
	const char *passphrase;
	struct hero_crypt_info crypt_info;
	struct hero_header hdr;
	struct archive *tar;
	uint8_t *obuf;         /* handed to libarchive: never written elsewhere */
	uint8_t *scratch;      /* for draining unread entry data */
	char *manifest;
	size_t manifest_len;
	char *index;
	struct computed *seen;
	size_t n_seen, cap_seen;
	struct hero_claims claims;
	struct hero_tarck tck;
	uint64_t tar_entries;  /* entries libarchive returned, each matched with tarck's */
	uint64_t index_budget; /* the largest index the entries read can explain */
	int in_file;           /* a file entry is current */
	struct hero_hashq *hq; /* hashes entry data on its own thread */
	uint64_t e_size, e_read;
	uint64_t total_bytes;
	int done, sig_checked, failed;
	int listing;           /* entry data is not hashed: the signature vouches for the index */
	struct hero_error cb_err;
};

void hero_limits_default(struct hero_limits *l)
{
	l->max_entries = 1000000;
	l->max_file_bytes = 64ull << 30;
	l->max_total_bytes = 1ull << 40;
	l->max_path = 4096;
	l->max_component = 255;
	l->max_ratio = 1000;
}

const char *hero_etype_name(enum hero_etype t)
{
	return t == HERO_E_DIR ? "dir" : t == HERO_E_SQLITE ? "sqlite" : "file";
}

void hero_hex(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static int refuse(struct hero_error *err, const char *path, const char *why)
{
	char q[256];
	hero_path_quote(path, q, sizeof q);
	return hero_error(err, HERO_EINTEGRITY, "archive refused: '%s' %s", q, why);
}

/* ---- zin: the compressed layer ---- */

/* ---- the crypt layer: frames of an encrypted body ---- */

static int raw_fill(struct zin *z, size_t need, struct hero_error *err)
{
	if (z->rlen - z->rpos >= need || z->reof)
		return 0;
	memmove(z->raw, z->raw + z->rpos, z->rlen - z->rpos);
	z->rlen -= z->rpos;
	z->rpos = 0;
	while (z->rlen < need && !z->reof) {
		ssize_t r = hero_prefetch_read(z->src, z->raw + z->rlen, RAW_BUF - z->rlen);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return hero_error_errno(err, HERO_EFAIL, errno, "cannot read archive");
		if (r == 0)
			z->reof = 1;
		z->rlen += (size_t)r;
	}
	return 0;
}

/* Hashing is done as the bytes are read (prefetch.c): every byte but the signature frame. */
static void raw_take(struct zin *z, size_t n)
{
	z->rpos += n;
	z->consumed += n;
}

/* Read the signature frame from the raw layer, then require EOF. */
static int raw_signature(struct zin *z, struct hero_error *err)
{
	if (raw_fill(z, HERO_SIG_FRAME + 1, err) < 0)
		return -HERO_EFAIL;
	size_t avail = z->rlen - z->rpos;
	if (avail < HERO_SIG_FRAME || hero_get32(z->raw + z->rpos) != HERO_MAGIC_SIG ||
	    hero_get32(z->raw + z->rpos + 4) != HERO_SIG_FRAME - 8)
		return hero_error(err, HERO_EINTEGRITY, "archive damaged: no signature frame after the final chunk");
	if (avail > HERO_SIG_FRAME)
		return hero_error(err, HERO_EINTEGRITY, "archive damaged: data after the signature frame");
	memcpy(z->sig, z->raw + z->rpos, HERO_SIG_FRAME);
	z->rpos += HERO_SIG_FRAME;
	z->state = Z_DONE;
	return 0;
}

/* Decrypt the message of a crypt frame at the raw position into BUF. */
static int crypt_open_frame(struct zin *z, const uint8_t *c, size_t clen, struct hero_error *err)
{
	const size_t hb = crypto_secretstream_xchacha20poly1305_HEADERBYTES;
	if (!z->ss_started) {
		if (clen < hb || crypto_secretstream_xchacha20poly1305_init_pull(&z->ss, c, z->key) != 0)
			return hero_error(err, HERO_EINTEGRITY, "archive damaged: bad encryption stream header");
		c += hb;
		clen -= hb;
		z->ss_started = 1;
	}
	if (clen < crypto_secretstream_xchacha20poly1305_ABYTES)
		return hero_error(err, HERO_EINTEGRITY, "archive damaged: chunk %llu too short",
				  (unsigned long long)z->chunks);
	unsigned long long mlen;
	unsigned char tag;
	if (crypto_secretstream_xchacha20poly1305_pull(&z->ss, z->buf + z->len, &mlen, &tag, c, clen, NULL, 0) != 0)
		return hero_error(err, HERO_EINTEGRITY,
				  "archive damaged: chunk %llu fails authentication (changed, reordered or duplicated)",
				  (unsigned long long)z->chunks);
	z->len += (size_t)mlen;
	if (tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL)
		z->final_seen = 1;
	else if (tag != crypto_secretstream_xchacha20poly1305_TAG_MESSAGE)
		return hero_error(err, HERO_EINTEGRITY, "archive damaged: unexpected tag in chunk %llu",
				  (unsigned long long)z->chunks);
	return 0;
}

/* Consume one crypt frame: returns 1, or 0 when the signature frame is next. */
static int crypt_frame(struct zin *z, struct hero_error *err)
{
	if (raw_fill(z, 8, err) < 0)
		return -HERO_EFAIL;
	if (z->rlen - z->rpos < 8)
		return hero_error(err, HERO_EINTEGRITY, "archive truncated: no final chunk");
	uint32_t magic = hero_get32(z->raw + z->rpos), size = hero_get32(z->raw + z->rpos + 4);
	if (magic == HERO_MAGIC_SIG)
		return 0;
	if (magic != HERO_MAGIC_CRYPT)
		return hero_error(err, HERO_EINTEGRITY, "archive damaged: unexpected frame 0x%08x in body", magic);
	if (z->final_seen)
		return hero_error(err, HERO_EINTEGRITY, "archive damaged: a chunk after the final chunk");
	if (size > CRYPT_FRAME_MAX)
		return hero_error(err, HERO_EINTEGRITY, "archive damaged: chunk %llu too large",
				  (unsigned long long)z->chunks);
	if (raw_fill(z, 8 + (size_t)size, err) < 0)
		return -HERO_EFAIL;
	if (z->rlen - z->rpos < 8 + (size_t)size)
		return hero_error(err, HERO_EINTEGRITY, "archive truncated inside chunk %llu",
				  (unsigned long long)z->chunks);
	int ret = 0;
	if (z->keyed)
		ret = crypt_open_frame(z, z->raw + z->rpos + 8, size, err);
	else if (!z->ss_started && size >= crypto_secretstream_xchacha20poly1305_HEADERBYTES)
		z->ss_started = 1;
	raw_take(z, 8 + (size_t)size);
	z->chunks++;
	return ret < 0 ? ret : 1;
}

static int zin_fill_crypt(struct zin *z, size_t need, struct hero_error *err)
{
	if (z->len - z->pos >= need || z->eof)
		return 0;
	memmove(z->buf, z->buf + z->pos, z->len - z->pos);
	z->len -= z->pos;
	z->pos = 0;
	while (z->len < need && !z->final_seen) {
		int r = crypt_frame(z, err);
		if (r < 0)
			return r;
		if (r == 0)
			return hero_error(err, HERO_EINTEGRITY, "archive truncated: no final chunk");
	}
	if (z->len < need)
		z->eof = 1;
	return 0;
}

/* Make at least NEED unread bytes available unless EOF comes first. */
static int zin_fill(struct zin *z, size_t need, struct hero_error *err)
{
	if (z->crypt)
		return zin_fill_crypt(z, need, err);
	if (z->len - z->pos >= need || z->eof)
		return 0;
	memmove(z->buf, z->buf + z->pos, z->len - z->pos);
	z->len -= z->pos;
	z->pos = 0;
	while (z->len < need && !z->eof) {
		ssize_t r = hero_prefetch_read(z->src, z->buf + z->len, IN_BUF - z->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return hero_error_errno(err, HERO_EFAIL, errno, "cannot read archive");
		if (r == 0)
			z->eof = 1;
		z->len += (size_t)r;
	}
	return 0;
}

static void zin_take(struct zin *z, size_t n)
{
	if (!z->crypt) /* an encrypted body is counted as ciphertext, in raw_take */
		z->consumed += n;
	z->pos += n;
}

/* At a frame boundary: decide what comes next. */
static int zin_boundary(struct zin *z, struct hero_error *err)
{
	if (zin_fill(z, 8, err) < 0)
		return -err->code;
	if (z->crypt && z->final_seen && z->len == z->pos)
		return raw_signature(z, err);
	if (z->len - z->pos < 4)
		return hero_error(err, HERO_EINTEGRITY, "archive truncated: no signature frame");
	uint32_t magic = hero_get32(z->buf + z->pos);
	if (magic == HERO_MAGIC_ZSTD) {
		z->state = Z_FRAME;
		return 0;
	}
	if (magic != HERO_MAGIC_SIG || z->crypt)
		return hero_error(err, HERO_EINTEGRITY, "archive damaged: unexpected frame 0x%08x in body",
				  magic);
	if (zin_fill(z, HERO_SIG_FRAME + 1, err) < 0)
		return -HERO_EFAIL;
	size_t avail = z->len - z->pos;
	if (avail < HERO_SIG_FRAME || hero_get32(z->buf + z->pos + 4) != HERO_SIG_FRAME - 8)
		return hero_error(err, HERO_EINTEGRITY, "archive damaged: truncated signature frame");
	if (avail > HERO_SIG_FRAME)
		return hero_error(err, HERO_EINTEGRITY, "archive damaged: data after the signature frame");
	memcpy(z->sig, z->buf + z->pos, HERO_SIG_FRAME);
	z->pos += HERO_SIG_FRAME;
	z->state = Z_DONE;
	return 0;
}

/* Decompress into OUT; returns bytes produced, 0 once the signature frame is reached. */
static ssize_t zin_read(struct zin *z, uint8_t *out, size_t cap, struct hero_error *err)
{
	for (;;) {
		if (z->state == Z_DONE)
			return 0;
		if (z->state == Z_BOUNDARY) {
			if (zin_boundary(z, err) < 0)
				return -1;
			continue;
		}
		if (zin_fill(z, 1, err) < 0)
			return -1;
		if (z->pos == z->len)
			return hero_error(err, HERO_EINTEGRITY, "archive truncated inside a compressed frame");
		if (z->crypt && !z->keyed)
			return hero_error(err, HERO_EUSAGE, "archive is encrypted: no key to read it");
		ZSTD_inBuffer in = { z->buf + z->pos, z->len - z->pos, 0 };
		ZSTD_outBuffer o = { out, cap, 0 };
		size_t r = ZSTD_decompressStream(z->dctx, &o, &in);
		if (ZSTD_isError(r))
			return hero_error(err, HERO_EINTEGRITY, "archive damaged: %s", ZSTD_getErrorName(r));
		zin_take(z, in.pos);
		z->produced += o.pos;
		if (r == 0)
			z->state = Z_BOUNDARY;
		if (o.pos)
			return (ssize_t)o.pos;
	}
}

/* ---- tar callback ---- */

/* tarck runs ahead of libarchive by what libarchive holds unread: at most one
 * callback buffer (IN_BUF) past its largest read-ahead (a pax header), so
 * fewer than 700 headers of 512 bytes. Four times that is refused. */
#define TAR_AHEAD_MAX (4 * ((IN_BUF + HERO_TARCK_PAX_MAX) / 512 + 16))

/* N decompressed bytes at P go to the tar parsers: the ratio cap, then tarck. */
static int tar_take(struct hero_areader *r, const uint8_t *p, size_t n, struct hero_error *err)
{
	if (r->z.produced > (64u << 20) && r->z.produced / (r->z.consumed + 1) > r->lim.max_ratio)
		return hero_error(err, HERO_EINTEGRITY, "archive refused: compression ratio above %u",
				  r->lim.max_ratio);
	return hero_tarck_feed(&r->tck, p, n, err);
}

static la_ssize_t tar_read_cb(struct archive *a, void *ctx, const void **buf)
{
	struct hero_areader *r = ctx;
	(void)a;
	ssize_t n = zin_read(&r->z, r->obuf, IN_BUF, &r->cb_err);
	if (n < 0)
		return -1;
	if (tar_take(r, r->obuf, (size_t)n, &r->cb_err) < 0)
		return -1;
	*buf = r->obuf;
	return n;
}

/* The entry libarchive just returned must be the one tarck recorded next:
 * its first header block (the pax header, if any) at the same offset of the
 * tar stream, the same size, the same type. A disagreement means one parser
 * reads headers where the other reads data. */
static int tar_agree(struct hero_areader *r, struct archive_entry *e, struct hero_error *err)
{
	const struct hero_tarck_rec *t = hero_tarck_peek(&r->tck);
	la_int64_t pos = archive_read_header_position(r->tar), size = archive_entry_size(e);
	int dir = archive_entry_filetype(e) == AE_IFDIR;
	r->tar_entries++;
	if (!t || pos < 0 || (uint64_t)pos != t->off || size < 0 || (uint64_t)size != t->size || dir != t->dir) {
		char q[256];
		hero_path_quote(archive_entry_pathname(e) ? archive_entry_pathname(e) : "?", q, sizeof q);
		r->failed = 1;
		return hero_error(err, HERO_EINTEGRITY, "archive refused: the tar parsers disagree at entry %llu ('%s')",
				  (unsigned long long)r->tar_entries, q);
	}
	hero_tarck_take(&r->tck);
	return 0;
}

static int tar_error(struct hero_areader *r, const char *what, struct hero_error *err)
{
	r->failed = 1;
	if (r->cb_err.code) {
		*err = r->cb_err;
		return -err->code;
	}
	return hero_error(err, HERO_EINTEGRITY, "archive damaged: %s: %s", what,
			  archive_error_string(r->tar) ? archive_error_string(r->tar) : "unknown error");
}

/* ---- open and header ---- */

static int check_signature(struct hero_areader *r, struct hero_error *err);

/* The encryption extension of the header: recover the payload key if a key
 * was given, and move what was read beyond the header to the raw layer. */
static int parse_crypt_header(struct hero_areader *r, uint32_t hsize, struct hero_error *err)
{
	const struct hero_seckey *identity = r->identity;
	const char *passphrase = r->passphrase;
	struct zin *z = &r->z;
	size_t total = 8 + (size_t)hsize;
	if (zin_fill(z, total, err) < 0)
		return -err->code;
	if (z->len - z->pos < total)
		return hero_error(err, HERO_EINTEGRITY, "archive truncated in its header");
	const uint8_t *ext = z->buf + z->pos + HERO_HEADER_FRAME;
	uint32_t ext_len = hero_get32(ext);
	if (ext_len != hsize - (HERO_HEADER_FRAME - 8) - 4)
		return hero_error(err, HERO_EINTEGRITY, "archive damaged: bad encryption header size");
	int ret = hero_crypt_info(ext + 4, ext_len, &r->crypt_info, err);
	if (ret < 0)
		return ret;
	if (identity || passphrase) {
		uint8_t fk[HERO_FILE_KEY_BYTES];
		ret = hero_crypt_open(ext + 4, ext_len, r->hdr.archive_id, identity, passphrase, fk, err);
		if (ret < 0)
			return ret;
		hero_crypt_payload_key(fk, r->hdr.archive_id, z->key);
		sodium_memzero(fk, sizeof fk);
		z->keyed = 1;
	}
	zin_take(z, total);
	z->raw = malloc(RAW_BUF);
	uint8_t *plain = malloc(PLAIN_BUF);
	if (!z->raw || !plain) {
		free(plain);
		return hero_error(err, HERO_EFAIL, "out of memory");
	}
	memcpy(z->raw, z->buf + z->pos, z->len - z->pos);
	z->rlen = z->len - z->pos;
	z->reof = z->eof;
	free(z->buf);
	z->buf = plain;
	z->pos = z->len = 0;
	z->eof = 0;
	z->crypt = 1;
	return 0;
}

static int parse_header(struct hero_areader *r, struct hero_error *err)
{
	struct zin *z = &r->z;
	if (zin_fill(z, HERO_HEADER_FRAME, err) < 0)
		return -HERO_EFAIL;
	const uint8_t *p = z->buf + z->pos;
	if (z->len - z->pos < 8 || hero_get32(p) != HERO_MAGIC_HEADER || z->len - z->pos < 16 ||
	    memcmp(p + 8, "HEROSNAP", 8) != 0)
		return hero_error(err, HERO_EINTEGRITY, "not a hero-snap archive");
	if (z->len - z->pos < 18)
		return hero_error(err, HERO_EINTEGRITY, "archive truncated in its header");
	if (p[16] != HERO_ARCHIVE_MAJOR)
		return hero_error(err, HERO_EINTEGRITY, "unsupported archive version %u.%u (this reader knows 1.x)",
				  p[16], p[17]);
	uint32_t hsize = z->len - z->pos >= 8 ? hero_get32(p + 4) : 0;
	int encrypted = z->len - z->pos >= 20 && (hero_get16(p + 18) & HERO_FLAG_ENCRYPTED);
	if (z->len - z->pos < HERO_HEADER_FRAME ||
	    (encrypted ? hsize < HERO_HEADER_FRAME - 8 + 4 || hsize > HERO_HEADER_FRAME - 8 + 4 + HERO_CRYPT_EXT_MAX
		       : hsize != HERO_HEADER_FRAME - 8))
		return hero_error(err, HERO_EINTEGRITY, "archive damaged: bad header size");
	r->hdr.major = p[16];
	r->hdr.minor = p[17];
	r->hdr.flags = hero_get16(p + 18);
	memcpy(r->hdr.archive_id, p + 24, HERO_ID_BYTES);
	memcpy(r->hdr.keyid, p + 40, HERO_KEYID_BYTES);
	r->hdr.created = hero_get64(p + 48);
	if (r->hdr.flags & ~(HERO_FLAG_ENCRYPTED | HERO_FLAG_INCREMENTAL))
		return hero_error(err, HERO_EINTEGRITY, "archive has unknown flags 0x%04x", r->hdr.flags);
	if (hero_get32(p + 20) != 0)
		return hero_error(err, HERO_EINTEGRITY, "archive damaged: reserved header bytes set");
	/* before any key derivation: a stanza's Argon2id costs what its header says */
	if (r->trust && !hero_trust_find(r->trust, r->hdr.keyid)) {
		char hex[17];
		hero_keyid_hex(r->hdr.keyid, hex);
		return hero_error(err, HERO_EINTEGRITY, "archive signed by untrusted key %s", hex);
	}
	if (encrypted)
		return parse_crypt_header(r, hsize, err);
	zin_take(z, HERO_HEADER_FRAME);
	return 0;
}

int hero_areader_new(struct hero_areader **out, int fd, const struct hero_trust *trust,
		      const struct hero_limits *limits, struct hero_error *err)
{
	struct hero_areader_opts o = { trust, limits, NULL, NULL };
	return hero_areader_new2(out, fd, &o, err);
}

int hero_areader_new2(struct hero_areader **out, int fd, const struct hero_areader_opts *opts,
		       struct hero_error *err)
{
	struct hero_areader *r = calloc(1, sizeof *r);
	const struct hero_trust *trust = opts->trust;
	const struct hero_limits *limits = opts->limits;
	int ret;
	if (!r)
		return hero_error(err, HERO_EFAIL, "out of memory");
	r->z.fd = fd;
	r->trust = trust;
	r->identity = opts->identity;
	r->passphrase = opts->passphrase;
	if (limits)
		r->lim = *limits;
	else
		hero_limits_default(&r->lim);
	r->z.buf = malloc(IN_BUF);
	r->obuf = malloc(IN_BUF);
	r->scratch = malloc(IN_BUF);
	r->z.dctx = ZSTD_createDCtx();
	r->index_budget = 64 << 10;
	hero_tarck_init(&r->tck, TAR_AHEAD_MAX);
	if (!r->z.buf || !r->obuf || !r->scratch || !r->z.dctx || hero_claims_init(&r->claims) < 0) {
		ret = hero_error(err, HERO_EFAIL, "out of memory");
		goto out;
	}
	if ((ret = hero_prefetch_new(&r->z.src, fd, HERO_SIG_FRAME, err)) < 0 ||
	    (ret = hero_hashq_new(&r->hq, err)) < 0)
		goto out;
	ZSTD_DCtx_setParameter(r->z.dctx, ZSTD_d_windowLogMax, 27);
	if ((ret = parse_header(r, err)) < 0)
		goto out;
	if (r->z.crypt && !r->z.keyed)
		goto sealed; /* no key: only hero_areader_verify_sealed applies */
	r->tar = archive_read_new();
	if (!r->tar || archive_read_support_format_tar(r->tar) != ARCHIVE_OK ||
	    archive_read_support_filter_none(r->tar) != ARCHIVE_OK) {
		ret = hero_error(err, HERO_EFAIL, "cannot set up tar reader");
		goto out;
	}
	if (archive_read_open(r->tar, r, NULL, tar_read_cb, NULL) != ARCHIVE_OK) {
		ret = tar_error(r, "cannot open tar stream", err);
		goto out;
	}
sealed:
	*out = r;
	r = NULL;
	ret = 0;
out:
	hero_areader_free(r);
	return ret;
}

const struct hero_header *hero_areader_header(const struct hero_areader *r)
{
	return &r->hdr;
}

int hero_areader_sealed(const struct hero_areader *r, unsigned *recipients, int *passphrase)
{
	if (recipients)
		*recipients = r->crypt_info.recipients;
	if (passphrase)
		*passphrase = r->crypt_info.passphrase;
	return r->z.crypt && !r->z.keyed;
}

int hero_areader_verify_sealed(struct hero_areader *r, uint64_t *chunks, struct hero_error *err)
{
	int ret;
	if (!r->z.crypt)
		return hero_error(err, HERO_EFAIL, "archive is not encrypted");
	while ((ret = crypt_frame(&r->z, err)) == 1)
		;
	if (ret < 0 || (ret = raw_signature(&r->z, err)) < 0 || (ret = check_signature(r, err)) < 0) {
		r->failed = 1;
		return ret;
	}
	if (chunks)
		*chunks = r->z.chunks;
	r->done = 1;
	return 0;
}

/* ---- manifest ---- */

/* The manifest must name this format, a 1.x version, and the header's archive id. */
static int check_manifest(struct hero_areader *r, struct hero_error *err)
{
	json_error_t je;
	json_t *m = json_loadb(r->manifest, r->manifest_len, 0, &je);
	int ret = 0;
	char id[2 * HERO_ID_BYTES + 1];
	hero_hex(r->hdr.archive_id, HERO_ID_BYTES, id);
	const char *fmt = json_string_value(json_object_get(m, "format"));
	const char *ver = json_string_value(json_object_get(m, "format_version"));
	const char *mid = json_string_value(json_object_get(m, "archive_id"));
	if (!json_is_object(m))
		ret = hero_error(err, HERO_EINTEGRITY, "archive damaged: manifest is not valid JSON");
	else if (!fmt || strcmp(fmt, "hero-archive") != 0)
		ret = hero_error(err, HERO_EINTEGRITY, "archive refused: manifest format is not 'hero-archive'");
	else if (!ver || strncmp(ver, "1.", 2) != 0)
		ret = hero_error(err, HERO_EINTEGRITY, "archive refused: unsupported manifest version '%.20s'",
				 ver ? ver : "?");
	else if (!mid || strcmp(mid, id) != 0)
		ret = hero_error(err, HERO_EINTEGRITY, "archive damaged: manifest id differs from the header's");
	else if (!json_is_array(json_object_get(m, "services")))
		ret = hero_error(err, HERO_EINTEGRITY, "archive damaged: manifest has no service list");
	else if (json_is_true(json_object_get(m, "encrypted")) != !!(r->hdr.flags & HERO_FLAG_ENCRYPTED))
		ret = hero_error(err, HERO_EINTEGRITY, "archive damaged: manifest and header disagree on encryption");
	else if (json_is_string(json_object_get(m, "parent")) != !!(r->hdr.flags & HERO_FLAG_INCREMENTAL))
		ret = hero_error(err, HERO_EINTEGRITY, "archive damaged: manifest parent and header disagree on the increment");
	json_decref(m);
	return ret;
}

int hero_areader_manifest(struct hero_areader *r, const char **json, size_t *len, struct hero_error *err)
{
	if (!r->tar)
		return hero_error(err, HERO_EUSAGE, "archive is encrypted: give --identity FILE or a passphrase");
	if (r->manifest) {
		*json = r->manifest;
		*len = r->manifest_len;
		return 0;
	}
	struct archive_entry *e;
	int rc = archive_read_next_header(r->tar, &e);
	if (rc != ARCHIVE_OK)
		return tar_error(r, "cannot read the manifest", err);
	int ret = tar_agree(r, e, err);
	if (ret < 0)
		return ret;
	if (strcmp(archive_entry_pathname(e), HERO_MANIFEST_PATH) != 0 ||
	    archive_entry_filetype(e) != AE_IFREG)
		return hero_error(err, HERO_EINTEGRITY, "archive damaged: first entry is not the manifest");
	la_int64_t size = archive_entry_size(e);
	if (size < 0 || (uint64_t)size > MANIFEST_MAX)
		return hero_error(err, HERO_EINTEGRITY, "archive refused: manifest too large");
	r->manifest = malloc((size_t)size + 1);
	if (!r->manifest)
		return hero_error(err, HERO_EFAIL, "out of memory");
	la_ssize_t got = archive_read_data(r->tar, r->manifest, (size_t)size);
	if (got != size)
		return tar_error(r, "cannot read the manifest", err);
	r->manifest[size] = '\0';
	r->manifest_len = (size_t)size;
	ret = check_manifest(r, err);
	if (ret < 0)
		return ret;
	*json = r->manifest;
	*len = r->manifest_len;
	return 0;
}

/* ---- entries ---- */

static int record(struct hero_areader *r, const char *path, enum hero_etype type, uint64_t size,
		  const uint8_t *hash, struct hero_error *err)
{
	if (r->n_seen == r->cap_seen) {
		size_t cap = r->cap_seen ? r->cap_seen * 2 : 256;
		struct computed *v = realloc(r->seen, cap * sizeof *v);
		if (!v)
			return hero_error(err, HERO_EFAIL, "out of memory");
		r->seen = v;
		r->cap_seen = cap;
	}
	struct computed *c = &r->seen[r->n_seen];
	c->path = strdup(path);
	if (!c->path)
		return hero_error(err, HERO_EFAIL, "out of memory");
	c->type = type;
	c->size = size;
	if (hash)
		memcpy(c->hash, hash, 32);
	else
		memset(c->hash, 0, 32);
	r->n_seen++;
	return 0;
}

ssize_t hero_areader_data(struct hero_areader *r, void *buf, size_t n, struct hero_error *err)
{
	if (!r->in_file)
		return 0;
	la_ssize_t got = archive_read_data(r->tar, buf, n);
	if (got < 0)
		return tar_error(r, "cannot read entry data", err);
	if (got == 0 && r->e_read != r->e_size)
		return refuse(err, r->seen[r->n_seen - 1].path, "is truncated");
	if (!r->listing && hero_hashq_data(r->hq, buf, (size_t)got, err) < 0)
		return -err->code;
	r->e_read += (uint64_t)got;
	return got;
}

/* Read what is left of the current file entry and seal its hash. */
static int finish_entry(struct hero_areader *r, struct hero_error *err)
{
	if (!r->in_file)
		return 0;
	for (;;) {
		ssize_t n = hero_areader_data(r, r->scratch, IN_BUF, err);
		if (n < 0)
			return (int)n;
		if (n == 0)
			break;
	}
	if (!r->listing && hero_hashq_end(r->hq, r->n_seen - 1, err) < 0)
		return -err->code;
	r->in_file = 0;
	return 0;
}

static int check_entry(struct hero_areader *r, struct archive_entry *e, char *path, struct hero_error *err)
{
	mode_t type = archive_entry_filetype(e);
	if (archive_entry_hardlink(e) || archive_entry_symlink(e))
		return refuse(err, path, "is a link");
	if (type != AE_IFREG && type != AE_IFDIR)
		return refuse(err, path, "is not a regular file or directory");
	if (archive_entry_sparse_count(e) > 0)
		return refuse(err, path, "is a sparse file");
	if (archive_entry_perm(e) & ~(mode_t)0755)
		return refuse(err, path, "has a mode with setuid, setgid, sticky or group/other write bits");
	if (archive_entry_uid(e) || archive_entry_gid(e))
		return refuse(err, path, "has an owner; archives carry none");
	size_t len = strlen(path);
	if (type == AE_IFDIR && len > 1 && path[len - 1] == '/')
		path[len - 1] = '\0';
	char *checked = path;
	if (!strncmp(path, HERO_SECRETS_PREFIX, strlen(HERO_SECRETS_PREFIX))) {
		/* secret values: only inside the encryption layer (section 7.4) */
		if (!(r->hdr.flags & HERO_FLAG_ENCRYPTED))
			return refuse(err, path, "holds secret values outside an encrypted archive");
		if (type != AE_IFREG)
			return refuse(err, path, "is not a regular file");
		checked = path + strlen(HERO_SECRETS_PREFIX);
	}
	int ret = hero_path_check(checked, &r->lim, err);
	if (ret < 0)
		return ret;
	if (r->n_seen >= r->lim.max_entries)
		return hero_error(err, HERO_EINTEGRITY, "archive refused: more than %llu entries (raise with --max-entries)",
				  (unsigned long long)r->lim.max_entries);
	la_int64_t size = archive_entry_size(e);
	if (size < 0 || (uint64_t)size > r->lim.max_file_bytes)
		return refuse(err, path, "is larger than the file size cap (raise with --max-file-size)");
	r->total_bytes += (uint64_t)size;
	if (r->total_bytes > r->lim.max_total_bytes)
		return refuse(err, path, "takes the archive above the total size cap (raise with --max-total-size)");
	r->index_budget += 6 * (uint64_t)len + 512;
	return hero_claims_add(&r->claims, checked, type == AE_IFDIR, err);
}

static enum hero_etype index_type(const char *s)
{
	if (!s)
		return (enum hero_etype)-1;
	if (!strcmp(s, "dir"))
		return HERO_E_DIR;
	if (!strcmp(s, "file") || !strcmp(s, "sqlite"))
		return HERO_E_FILE;
	return (enum hero_etype)-1;
}

/* Whether index element O has no tar entry: unchanged since the parent, or deleted. */
static int index_no_entry(json_t *o)
{
	const char *t = json_string_value(json_object_get(o, "type"));
	return json_is_true(json_object_get(o, "unchanged")) || (t && !strcmp(t, "deleted"));
}

/* An index element without a tar entry (section 8): an entry unchanged since
 * the parent, or a deleted path. Only an incremental archive has them; their
 * paths are checked like any entry's, and a path is listed at most once. */
static int index_only(struct hero_areader *r, json_t *o, struct hero_strset *deleted, struct hero_error *err)
{
	const char *p = json_string_value(json_object_get(o, "path"));
	const char *t = json_string_value(json_object_get(o, "type"));
	char q[256];
	hero_path_quote(p ? p : "?", q, sizeof q);
	if (!(r->hdr.flags & HERO_FLAG_INCREMENTAL))
		return hero_error(err, HERO_EINTEGRITY, "archive damaged: index element '%s' has no entry in a full archive", q);
	if (!p || !t)
		return hero_error(err, HERO_EINTEGRITY, "archive damaged: malformed index element '%s'", q);
	int ret = hero_path_check(p, &r->lim, err);
	if (ret < 0)
		return ret;
	if (!strcmp(t, "deleted")) {
		int added = hero_strset_add(deleted, p);
		if (added < 0)
			return hero_error(err, HERO_EFAIL, "out of memory");
		if (added == 0 || hero_strset_has(&r->claims.exact, p))
			return hero_error(err, HERO_EINTEGRITY, "archive damaged: deleted path '%s' is listed twice", q);
		return 0;
	}
	enum hero_etype type = index_type(t);
	json_t *sz = json_object_get(o, "size");
	const char *h = json_string_value(json_object_get(o, "blake2b"));
	if ((int)type < 0 || (type != HERO_E_DIR && (!json_is_integer(sz) || json_integer_value(sz) < 0 || !h ||
						      strlen(h) != 64 || strspn(h, "0123456789abcdef") != 64)))
		return hero_error(err, HERO_EINTEGRITY, "archive damaged: malformed index element '%s'", q);
	if (hero_strset_has(deleted, p))
		return hero_error(err, HERO_EINTEGRITY, "archive damaged: deleted path '%s' is listed twice", q);
	return hero_claims_add(&r->claims, p, type == HERO_E_DIR, err);
}

/* Wait for the hashing thread and put each file entry's digest in place. */
static int collect_hashes(struct hero_areader *r, struct hero_error *err)
{
	if (r->listing)
		return 0;
	hero_hashq_drain(r->hq);
	for (size_t i = 0; i < r->n_seen; i++)
		if (r->seen[i].type != HERO_E_DIR && hero_hashq_digest(r->hq, i, r->seen[i].hash) < 0)
			return hero_error(err, HERO_EFAIL, "out of memory");
	return 0;
}

static int compare_index(struct hero_areader *r, struct hero_error *err)
{
	json_error_t je;
	json_t *doc = json_loads(r->index, 0, &je);
	struct hero_strset deleted;
	int ret = hero_strset_init(&deleted) < 0 ? hero_error(err, HERO_EFAIL, "out of memory") : 0;
	json_t *entries = doc ? json_object_get(doc, "entries") : NULL;
	if (ret == 0 && !json_is_array(entries))
		ret = hero_error(err, HERO_EINTEGRITY, "archive damaged: index is not valid");
	else if (ret == 0 && json_array_size(entries) > r->lim.max_entries)
		ret = hero_error(err, HERO_EINTEGRITY, "archive refused: more than %llu entries (raise with --max-entries)",
				 (unsigned long long)r->lim.max_entries);
	if (ret < 0)
		goto out;
	size_t n = json_array_size(entries), k = 0; /* k: tar entries matched so far */
	char q[256];
	for (size_t i = 0; i < n || k < r->n_seen; i++) {
		json_t *o = json_array_get(entries, i);
		if (i < n && index_no_entry(o)) {
			if ((ret = index_only(r, o, &deleted, err)) < 0)
				goto out;
			continue;
		}
		if (k >= r->n_seen) {
			const char *p = json_string_value(json_object_get(o, "path"));
			hero_path_quote(p ? p : "?", q, sizeof q);
			ret = hero_error(err, HERO_EINTEGRITY, "archive damaged: entry '%s' is missing", q);
			goto out;
		}
		struct computed *c = &r->seen[k++];
		hero_path_quote(c->path, q, sizeof q);
		if (i >= n) {
			ret = hero_error(err, HERO_EINTEGRITY, "archive damaged: entry '%s' is not in the index", q);
			goto out;
		}
		if (hero_strset_has(&deleted, c->path)) {
			ret = hero_error(err, HERO_EINTEGRITY, "archive damaged: deleted path '%s' is listed twice", q);
			goto out;
		}
		const char *p = json_string_value(json_object_get(o, "path"));
		const char *t = json_string_value(json_object_get(o, "type"));
		if (!p || strcmp(p, c->path) != 0 || index_type(t) != (c->type == HERO_E_DIR ? HERO_E_DIR : HERO_E_FILE)) {
			ret = hero_error(err, HERO_EINTEGRITY, "archive damaged: entry '%s' does not match the index", q);
			goto out;
		}
		if (c->type == HERO_E_DIR)
			continue;
		char hex[65];
		hero_hex(c->hash, 32, hex);
		json_t *sz = json_object_get(o, "size");
		const char *h = json_string_value(json_object_get(o, "blake2b"));
		if (!json_is_integer(sz) || (uint64_t)json_integer_value(sz) != c->size || !h ||
		    (!r->listing && strcmp(h, hex) != 0)) {
			ret = hero_error(err, HERO_EINTEGRITY, "archive damaged: entry '%s' has the wrong content", q);
			goto out;
		}
	}
out:
	hero_strset_release(&deleted);
	json_decref(doc);
	return ret;
}

static int read_index(struct hero_areader *r, struct archive_entry *e, struct hero_error *err)
{
	la_int64_t size = archive_entry_size(e);
	if (archive_entry_filetype(e) != AE_IFREG || size < 0)
		return hero_error(err, HERO_EINTEGRITY, "archive damaged: bad index entry");
	/* an increment lists unchanged entries that have no tar entry: only the cap bounds its index */
	uint64_t budget = r->hdr.flags & HERO_FLAG_INCREMENTAL ? INDEX_MAX : r->index_budget;
	if ((uint64_t)size > INDEX_MAX || (uint64_t)size > budget)
		return hero_error(err, HERO_EINTEGRITY, "archive refused: index of %lld bytes is larger than its %llu entries explain",
				  (long long)size, (unsigned long long)r->n_seen);
	r->index = malloc((size_t)size + 1);
	if (!r->index)
		return hero_error(err, HERO_EFAIL, "out of memory");
	la_ssize_t got = archive_read_data(r->tar, r->index, (size_t)size);
	if (got != size)
		return tar_error(r, "cannot read the index", err);
	r->index[size] = '\0';
	int ret = collect_hashes(r, err);
	return ret < 0 ? ret : compare_index(r, err);
}

/* After the index: the tar must end, then the signature frame and EOF. */
static int finish_stream(struct hero_areader *r, struct hero_error *err)
{
	struct archive_entry *e;
	int rc = archive_read_next_header(r->tar, &e);
	if (rc == ARCHIVE_OK)
		return refuse(err, archive_entry_pathname(e) ? archive_entry_pathname(e) : "?", "follows the index");
	if (rc != ARCHIVE_EOF)
		return tar_error(r, "cannot read the end of the tar stream", err);
	/* Drain the rest of the compressed stream (tar padding) up to the signature. */
	for (;;) {
		ssize_t n = zin_read(&r->z, r->scratch, IN_BUF, err);
		if (n < 0)
			return -err->code;
		if (n == 0)
			break;
		if (tar_take(r, r->scratch, (size_t)n, err) < 0)
			return -err->code;
	}
	if (r->tck.st != HERO_TARCK_END)
		return hero_error(err, HERO_EINTEGRITY, "archive damaged: the tar archive does not end with two zero blocks");
	/* each entry libarchive returned matched tarck's next record (tar_agree): tarck found no more */
	if (r->tck.entries != r->n_seen + 2)
		return hero_error(err, HERO_EINTEGRITY, "archive damaged: %llu tar headers for %llu entries",
				  (unsigned long long)r->tck.entries, (unsigned long long)r->n_seen + 2);
	return check_signature(r, err);
}

/* The signature frame has been read: check it against the prehash. */
static int check_signature(struct hero_areader *r, struct hero_error *err)
{
	const uint8_t *s = r->z.sig;
	if (memcmp(s + 8, "ED", 2) != 0)
		return hero_error(err, HERO_EINTEGRITY, "archive refused: unknown signature algorithm");
	if (memcmp(s + 10, r->hdr.keyid, HERO_KEYID_BYTES) != 0)
		return hero_error(err, HERO_EINTEGRITY, "archive damaged: signature key id differs from the header's");
	uint8_t prehash[64];
	if (hero_prefetch_prehash(r->z.src, prehash) < 0) /* the reader stopped short of the end */
		return hero_error(err, HERO_EINTEGRITY, "archive damaged: data after the signature frame");
	if (r->trust) {
		const struct hero_pubkey *pk = hero_trust_find(r->trust, r->hdr.keyid);
		if (!pk)
			return hero_error(err, HERO_EINTEGRITY, "archive signed by an untrusted key");
		if (hero_verify_prehash(pk, prehash, s + 18, err) < 0)
			return hero_error(err, HERO_EINTEGRITY, "archive damaged or forged: bad signature");
		r->sig_checked = 1;
	}
	return 0;
}

int hero_areader_next(struct hero_areader *r, struct hero_aentry *out, struct hero_error *err)
{
	int ret;
	if (r->failed)
		return hero_error(err, HERO_EFAIL, "reader already failed");
	if (r->done)
		return 0;
	if (hero_fault("read-entry") < 0) {
		ret = hero_error_errno(err, HERO_EFAIL, errno, "cannot read archive");
		goto fail;
	}
	if (!r->tar)
		return hero_error(err, HERO_EUSAGE, "archive is encrypted: give --identity FILE or a passphrase");
	if (!r->manifest) {
		const char *j;
		size_t l;
		if ((ret = hero_areader_manifest(r, &j, &l, err)) < 0)
			goto fail;
	}
	if ((ret = finish_entry(r, err)) < 0)
		goto fail;
	struct archive_entry *e;
	int rc = archive_read_next_header(r->tar, &e);
	if (rc == ARCHIVE_EOF) {
		ret = hero_error(err, HERO_EINTEGRITY, "archive truncated: no index");
		goto fail;
	}
	if (rc != ARCHIVE_OK) {
		ret = tar_error(r, "cannot read entry header", err);
		goto fail;
	}
	if ((ret = tar_agree(r, e, err)) < 0)
		goto fail;
	char *path = strdup(archive_entry_pathname(e) ? archive_entry_pathname(e) : "");
	if (!path) {
		ret = hero_error(err, HERO_EFAIL, "out of memory");
		goto fail;
	}
	if (!strcmp(path, HERO_INDEX_PATH)) {
		free(path);
		if ((ret = read_index(r, e, err)) < 0 || (ret = finish_stream(r, err)) < 0)
			goto fail;
		r->done = 1;
		return 0;
	}
	ret = check_entry(r, e, path, err);
	int isdir = archive_entry_filetype(e) == AE_IFDIR;
	uint64_t size = isdir ? 0 : (uint64_t)archive_entry_size(e);
	if (ret == 0)
		ret = record(r, path, isdir ? HERO_E_DIR : HERO_E_FILE, size, NULL, err);
	free(path);
	if (ret < 0)
		goto fail;
	struct computed *c = &r->seen[r->n_seen - 1];
	out->path = c->path;
	out->type = c->type;
	out->size = size;
	out->mode = archive_entry_perm(e) & 0755;
	out->mtime = archive_entry_mtime(e);
	if (!isdir) {
		r->in_file = 1;
		r->e_size = size;
		r->e_read = 0;
	}
	return 1;
fail:
	r->failed = 1;
	return ret;
}

const char *hero_areader_index(const struct hero_areader *r)
{
	return r->index;
}

void hero_areader_stats(const struct hero_areader *r, struct hero_archive_stats *st)
{
	memset(st, 0, sizeof *st);
	st->entries = r->n_seen;
	for (size_t i = 0; i < r->n_seen; i++)
		if (r->seen[i].type != HERO_E_DIR) {
			st->files++;
			st->data_bytes += r->seen[i].size;
		}
	st->archive_bytes = r->z.consumed + (r->z.state == Z_DONE ? HERO_SIG_FRAME : 0);
}

int hero_areader_signature_checked(const struct hero_areader *r)
{
	return r->sig_checked;
}

int hero_areader_listing(struct hero_areader *r, struct hero_error *err)
{
	if (!r->trust)
		return hero_error(err, HERO_EUSAGE, "a listing without entry hashes needs a trusted key");
	if (r->manifest)
		return hero_error(err, HERO_EUSAGE, "a listing must be asked for before the manifest is read");
	r->listing = 1;
	return 0;
}

void hero_areader_free(struct hero_areader *r)
{
	if (!r)
		return;
	if (r->tar)
		archive_read_free(r->tar);
	hero_prefetch_free(r->z.src);
	hero_hashq_free(r->hq);
	ZSTD_freeDCtx(r->z.dctx);
	free(r->z.buf);
	free(r->z.raw);
	sodium_memzero(r->z.key, sizeof r->z.key);
	sodium_memzero(&r->z.ss, sizeof r->z.ss);
	free(r->obuf);
	free(r->scratch);
	free(r->manifest);
	free(r->index);
	for (size_t i = 0; i < r->n_seen; i++)
		free(r->seen[i].path);
	free(r->seen);
	hero_claims_release(&r->claims);
	hero_tarck_release(&r->tck);
	free(r);
}
