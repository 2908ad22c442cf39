/* archive_write.c - write the signed archive stream (formats/hero-archive-v1.md).
 *
 * libarchive produces the pax tar; libzstd compresses it here rather than
 * through libarchive's zstd filter because the format needs control of the
 * frame boundaries (skippable header and signature frames) and a hash of
 * every compressed byte (docs/decisions/0002-archive-container.md).
 */
#include "hero/archive.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <sodium.h>
#include <zstd.h>

#include "base/blake2b.h"
#include "base/internal.h"
#include "format/crypt.h"
#include "pipeline/sink.h"

#define DATA_BUF (256 * 1024)
#define OUT_SLOTS 4
#define OUT_SLOT (1024 * 1024)
#define TAR_RECORD 10240
#define ZSTD_JOB (2 * 1024 * 1024)

struct hero_awriter {
	int fd;
	const struct hero_seckey *sk;
	struct hero_header hdr;
	ZSTD_CCtx *cctx;
	struct hero_sink *sink;  /* hashes and writes the output on its own thread */
	size_t fill;             /* bytes used in the sink's current slot */
	uint64_t tar_bytes;      /* tar stream length so far */
	struct archive *tar;
	uint8_t *dbuf;
	/* The index document as compact JSON text, "]}" still to come: a few hundred
	 * bytes per entry, where a JSON tree took over a kilobyte. */
	char *index;
	size_t index_len, index_cap;
	uint64_t index_n;
	struct hero_archive_stats st;
	int manifest_done;
	int finished;
	int aborting;  /* freeing an unfinished writer: emit nothing more */
	/* Encrypted body (formats/hero-archive-v1.md section 7): the compressed
	 * stream collects in PBUF and leaves as one crypt frame per full chunk. */
	int crypt;
	crypto_secretstream_xchacha20poly1305_state ss;
	uint8_t ss_header[crypto_secretstream_xchacha20poly1305_HEADERBYTES];
	int ss_header_sent;
	uint8_t *pbuf, *cbuf;
	size_t pfill;
	struct hero_error cb_err; /* error raised inside a libarchive callback */
};

static int index_put(struct hero_awriter *w, const char *s, size_t n, struct hero_error *err);

/* Account for N bytes put in the current slot; hand it to the sink once full. */
static int filled(struct hero_awriter *w, size_t n, struct hero_error *err)
{
	w->fill += n;
	w->st.archive_bytes += n;
	if (w->fill < OUT_SLOT)
		return 0;
	w->fill = 0;
	return hero_sink_push(w->sink, OUT_SLOT, err);
}

/* Queue raw bytes (the header frame) for hashing and writing. */
static int emit(struct hero_awriter *w, const void *buf, size_t n, struct hero_error *err)
{
	const uint8_t *p = buf;
	while (n > 0) {
		size_t k = OUT_SLOT - w->fill < n ? OUT_SLOT - w->fill : n;
		memcpy(hero_sink_slot(w->sink) + w->fill, p, k);
		p += k;
		n -= k;
		if (filled(w, k, err) < 0)
			return -err->code;
	}
	return 0;
}

/* Seal the plaintext collected in PBUF as one crypt frame; FINAL marks the last. */
static int crypt_flush(struct hero_awriter *w, int final, struct hero_error *err)
{
	const size_t hb = crypto_secretstream_xchacha20poly1305_HEADERBYTES;
	size_t head = w->ss_header_sent ? 0 : hb;
	size_t size = head + w->pfill + crypto_secretstream_xchacha20poly1305_ABYTES;
	hero_put32(w->cbuf, HERO_MAGIC_CRYPT);
	hero_put32(w->cbuf + 4, (uint32_t)size);
	memcpy(w->cbuf + 8, w->ss_header, head);
	crypto_secretstream_xchacha20poly1305_push(&w->ss, w->cbuf + 8 + head, NULL, w->pbuf, w->pfill, NULL, 0,
						   final ? crypto_secretstream_xchacha20poly1305_TAG_FINAL
							 : crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
	w->ss_header_sent = 1;
	w->pfill = 0;
	return emit(w, w->cbuf, 8 + size, err);
}

/* Compress straight into the sink's slots (or, encrypted, into PBUF). */
static int compress_some(struct hero_awriter *w, const void *buf, size_t n, ZSTD_EndDirective mode,
			 struct hero_error *err)
{
	ZSTD_inBuffer in = { buf, n, 0 };
	for (;;) {
		ZSTD_outBuffer out = { hero_sink_slot(w->sink) + w->fill, OUT_SLOT - w->fill, 0 };
		if (w->crypt)
			out = (ZSTD_outBuffer){ w->pbuf + w->pfill, HERO_CRYPT_CHUNK - w->pfill, 0 };
		size_t left = ZSTD_compressStream2(w->cctx, &out, &in, mode);
		if (ZSTD_isError(left))
			return hero_error(err, HERO_EFAIL, "zstd compression failed: %s",
					  ZSTD_getErrorName(left));
		if (w->crypt) {
			w->pfill += out.pos;
			if (w->pfill == HERO_CRYPT_CHUNK && crypt_flush(w, 0, err) < 0)
				return -err->code;
		} else if (out.pos && filled(w, out.pos, err) < 0) {
			return -err->code;
		}
		if (mode == ZSTD_e_end ? left == 0 : in.pos == in.size)
			return mode == ZSTD_e_end && w->crypt ? crypt_flush(w, 1, err) : 0;
	}
}

static la_ssize_t tar_write_cb(struct archive *a, void *ctx, const void *buf, size_t n)
{
	struct hero_awriter *w = ctx;
	(void)a;
	if (w->aborting)
		return -1;
	if (compress_some(w, buf, n, ZSTD_e_continue, &w->cb_err) < 0)
		return -1;
	w->tar_bytes += n;
	return (la_ssize_t)n;
}

/* Report a libarchive failure, preferring an error our callback stored. */
static int tar_error(struct hero_awriter *w, const char *what, struct hero_error *err)
{
	if (w->cb_err.code) {
		*err = w->cb_err;
		return -err->code;
	}
	return hero_error(err, HERO_EFAIL, "%s: %s", what, archive_error_string(w->tar));
}

/* The fixed header frame; EXTRA bytes of extension follow it (encryption). */
static void put_header(uint8_t out[HERO_HEADER_FRAME], const struct hero_header *h, size_t extra)
{
	hero_put32(out, HERO_MAGIC_HEADER);
	hero_put32(out + 4, (uint32_t)(HERO_HEADER_FRAME - 8 + extra));
	memcpy(out + 8, "HEROSNAP", 8);
	out[16] = h->major;
	out[17] = h->minor;
	hero_put16(out + 18, h->flags);
	hero_put32(out + 20, 0);
	memcpy(out + 24, h->archive_id, HERO_ID_BYTES);
	memcpy(out + 40, h->keyid, HERO_KEYID_BYTES);
	hero_put64(out + 48, h->created);
}

static int setup_zstd(struct hero_awriter *w, const struct hero_awriter_opts *o, struct hero_error *err)
{
	int level = o && o->level ? o->level : 3;
	int threads = o ? o->threads : 0;
	if (threads <= 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		threads = n > 0 ? (int)n : 1;
	}
	w->cctx = ZSTD_createCCtx();
	if (!w->cctx)
		return hero_error(err, HERO_EFAIL, "out of memory");
	ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, level);
	ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 1);
	/* Multi-threading is optional in libzstd; ignore the error of a single-threaded build.
	 * 2 MiB jobs instead of the default 8 MiB at level 3: each worker holds about four
	 * job-sized buffers, and the ratio changes by 0.02% (docs/performance.md). */
	if (threads > 1) {
		ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_nbWorkers, threads);
		ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_jobSize, ZSTD_JOB);
	}
	w->dbuf = malloc(DATA_BUF);
	if (!w->dbuf)
		return hero_error(err, HERO_EFAIL, "out of memory");
	return hero_sink_new(&w->sink, w->fd, OUT_SLOTS, OUT_SLOT, err);
}

static int setup_tar(struct hero_awriter *w, struct hero_error *err)
{
	w->tar = archive_write_new();
	if (!w->tar)
		return hero_error(err, HERO_EFAIL, "out of memory");
	if (archive_write_set_format_pax_restricted(w->tar) != ARCHIVE_OK ||
	    archive_write_add_filter_none(w->tar) != ARCHIVE_OK ||
	    archive_write_set_bytes_per_block(w->tar, 0) != ARCHIVE_OK ||
	    archive_write_open(w->tar, w, NULL, tar_write_cb, NULL) != ARCHIVE_OK)
		return tar_error(w, "cannot start tar stream", err);
	return 0;
}

static int start_plain(struct hero_awriter *w, struct hero_error *err)
{
	uint8_t hdr[HERO_HEADER_FRAME];
	put_header(hdr, &w->hdr, 0);
	return emit(w, hdr, sizeof hdr, err);
}

/* The header frame with its encryption extension; the payload key starts the stream. */
static int start_encrypted(struct hero_awriter *w, const struct hero_awriter_opts *o, struct hero_error *err)
{
	uint8_t fk[HERO_FILE_KEY_BYTES], key[crypto_secretstream_xchacha20poly1305_KEYBYTES], *ext = NULL;
	size_t ext_len = 0;
	w->hdr.flags |= HERO_FLAG_ENCRYPTED;
	int ret = hero_crypt_seal(o->recipients, o->n_recipients, o->passphrase, w->hdr.archive_id, fk, &ext,
				  &ext_len, err);
	if (ret < 0)
		return ret;
	hero_crypt_payload_key(fk, w->hdr.archive_id, key);
	crypto_secretstream_xchacha20poly1305_init_push(&w->ss, w->ss_header, key);
	sodium_memzero(fk, sizeof fk);
	sodium_memzero(key, sizeof key);
	w->pbuf = malloc(HERO_CRYPT_CHUNK);
	w->cbuf = malloc(8 + crypto_secretstream_xchacha20poly1305_HEADERBYTES + HERO_CRYPT_CHUNK +
			 crypto_secretstream_xchacha20poly1305_ABYTES);
	uint8_t hdr[HERO_HEADER_FRAME + 4];
	if (!w->pbuf || !w->cbuf) {
		free(ext);
		return hero_error(err, HERO_EFAIL, "out of memory");
	}
	w->crypt = 1;
	put_header(hdr, &w->hdr, 4 + ext_len);
	hero_put32(hdr + HERO_HEADER_FRAME, (uint32_t)ext_len);
	ret = emit(w, hdr, sizeof hdr, err);
	if (ret == 0)
		ret = emit(w, ext, ext_len, err);
	free(ext);
	return ret;
}

int hero_awriter_new(struct hero_awriter **out, int fd, const struct hero_seckey *sk,
		      const struct hero_awriter_opts *opts, struct hero_error *err)
{
	struct hero_awriter *w = calloc(1, sizeof *w);
	int ret;
	if (!w)
		return hero_error(err, HERO_EFAIL, "out of memory");
	w->fd = fd;
	w->sk = sk;
	w->hdr.major = HERO_ARCHIVE_MAJOR;
	w->hdr.minor = HERO_ARCHIVE_MINOR;
	w->hdr.flags = opts ? opts->flags : 0;
	randombytes_buf(w->hdr.archive_id, sizeof w->hdr.archive_id);
	struct hero_pubkey pk;
	hero_seckey_pubkey(sk, &pk);
	memcpy(w->hdr.keyid, pk.keyid, HERO_KEYID_BYTES);
	w->hdr.created = (uint64_t)time(NULL);
	char id[2 * HERO_ID_BYTES + 1], head[80];
	hero_hex(w->hdr.archive_id, HERO_ID_BYTES, id);
	int hn = snprintf(head, sizeof head, "{\"archive_id\":\"%s\",\"entries\":[", id);
	if ((ret = index_put(w, head, (size_t)hn, err)) < 0)
		goto out;
	if ((ret = setup_zstd(w, opts, err)) < 0)
		goto out;
	if (opts && (opts->n_recipients || opts->passphrase))
		ret = start_encrypted(w, opts, err);
	else
		ret = start_plain(w, err);
	if (ret < 0)
		goto out;
	if ((ret = setup_tar(w, err)) < 0)
		goto out;
	*out = w;
	w = NULL;
	ret = 0;
out:
	hero_awriter_free(w);
	return ret;
}

const struct hero_header *hero_awriter_header(const struct hero_awriter *w)
{
	return &w->hdr;
}

static int write_entry_header(struct hero_awriter *w, const char *path, mode_t type, mode_t mode,
			      uint64_t size, int64_t mtime, struct hero_error *err)
{
	struct archive_entry *e = archive_entry_new();
	if (!e)
		return hero_error(err, HERO_EFAIL, "out of memory");
	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, mode & 0755);
	archive_entry_set_size(e, type == AE_IFDIR ? 0 : (la_int64_t)size);
	archive_entry_set_mtime(e, mtime, 0);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	int r = archive_write_header(w->tar, e);
	archive_entry_free(e);
	if (r != ARCHIVE_OK)
		return tar_error(w, "cannot write tar header", err);
	return 0;
}

static int write_buffer_entry(struct hero_awriter *w, const char *path, const char *data, size_t len,
			      struct hero_error *err)
{
	int ret = write_entry_header(w, path, AE_IFREG, 0644, len, (int64_t)w->hdr.created, err);
	if (ret < 0)
		return ret;
	if (len && archive_write_data(w->tar, data, len) != (la_ssize_t)len)
		return tar_error(w, "cannot write tar data", err);
	return 0;
}

int hero_awriter_manifest(struct hero_awriter *w, const char *json, size_t len, struct hero_error *err)
{
	if (w->manifest_done)
		return hero_error(err, HERO_EFAIL, "manifest already written");
	w->manifest_done = 1;
	return write_buffer_entry(w, HERO_MANIFEST_PATH, json, len, err);
}

static int index_put(struct hero_awriter *w, const char *s, size_t n, struct hero_error *err)
{
	if (w->index_len + n + 1 > w->index_cap) {
		size_t cap = w->index_cap ? w->index_cap : 4096;
		while (w->index_len + n + 1 > cap)
			cap *= 2;
		char *p = realloc(w->index, cap);
		if (!p)
			return hero_error(err, HERO_EFAIL, "out of memory");
		w->index = p;
		w->index_cap = cap;
	}
	memcpy(w->index + w->index_len, s, n);
	w->index_len += n;
	w->index[w->index_len] = '\0';
	return 0;
}

/* Append KEY (a literal) and the JSON string S, or null; jansson escapes it. */
static int index_str(struct hero_awriter *w, const char *key, const char *s, struct hero_error *err)
{
	if (index_put(w, key, strlen(key), err) < 0)
		return -err->code;
	if (!s)
		return index_put(w, "null", 4, err);
	json_t *j = json_string(s);
	char *t = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
	json_decref(j);
	if (!t)
		return hero_error(err, HERO_EFAIL, "'%s' cannot be recorded in the index (not UTF-8)", s);
	int ret = index_put(w, t, strlen(t), err);
	free(t);
	return ret;
}

/* Open the index element of PATH: a separator, then its path. */
static int index_open(struct hero_awriter *w, const char *path, struct hero_error *err)
{
	if (w->index_n++ && index_put(w, ",", 1, err) < 0)
		return -err->code;
	return index_str(w, "{\"path\":", path, err);
}

/* One index element (section 5); UNCHANGED marks one with no tar entry (section 8). */
static int index_add(struct hero_awriter *w, const struct hero_unchanged *u, int unchanged,
		     struct hero_error *err)
{
	char buf[256];
	int n;
	if (index_open(w, u->path, err) < 0 || index_str(w, ",\"type\":", hero_etype_name(u->type), err) < 0 ||
	    index_str(w, ",\"service\":", u->service, err) < 0 || index_str(w, ",\"context\":", u->context, err) < 0)
		return -err->code;
	if (u->type != HERO_E_DIR) {
		char hex[65];
		hero_hex(u->hash, 32, hex);
		n = snprintf(buf, sizeof buf, ",\"size\":%llu,\"blake2b\":\"%s\",\"mtime_ns\":%lld",
			     (unsigned long long)u->size, hex, (long long)u->mtime_ns);
		if (index_put(w, buf, (size_t)n, err) < 0)
			return -err->code;
	}
	n = snprintf(buf, sizeof buf, ",\"mode\":%u%s}", (unsigned)(u->mode & 0755),
		     unchanged ? ",\"unchanged\":true" : "");
	return index_put(w, buf, (size_t)n, err);
}

int hero_awriter_unchanged(struct hero_awriter *w, const struct hero_unchanged *u, struct hero_error *err)
{
	if (!w->manifest_done)
		return hero_error(err, HERO_EFAIL, "manifest must be written first");
	if (!(w->hdr.flags & HERO_FLAG_INCREMENTAL))
		return hero_error(err, HERO_EFAIL, "unchanged entry '%s' in a full archive", u->path);
	return index_add(w, u, 1, err);
}

int hero_awriter_deleted(struct hero_awriter *w, const char *path, struct hero_error *err)
{
	if (!(w->hdr.flags & HERO_FLAG_INCREMENTAL))
		return hero_error(err, HERO_EFAIL, "deleted path '%s' in a full archive", path);
	if (index_open(w, path, err) < 0)
		return -err->code;
	return index_put(w, ",\"type\":\"deleted\"}", 18, err);
}

int hero_awriter_dir(struct hero_awriter *w, const char *path, mode_t mode, int64_t mtime,
		     const char *service, const char *context, struct hero_error *err)
{
	if (!w->manifest_done)
		return hero_error(err, HERO_EFAIL, "manifest must be written first");
	int ret = write_entry_header(w, path, AE_IFDIR, mode, 0, mtime, err);
	if (ret < 0)
		return ret;
	w->st.entries++;
	struct hero_unchanged u = { .path = path, .type = HERO_E_DIR, .service = service, .context = context,
				    .mode = mode };
	return index_add(w, &u, 0, err);
}

int hero_awriter_file(struct hero_awriter *w, const char *path, enum hero_etype type, int data_fd,
		      uint64_t size, mode_t mode, int64_t mtime_ns, const char *service,
		      const char *context, struct hero_error *err)
{
	if (!w->manifest_done)
		return hero_error(err, HERO_EFAIL, "manifest must be written first");
	int64_t secs = mtime_ns / 1000000000 - (mtime_ns % 1000000000 < 0);
	int ret = write_entry_header(w, path, AE_IFREG, mode, size, secs, err);
	if (ret < 0)
		return ret;
	struct hero_blake2b h;
	hero_blake2b_init(&h, 32);
	uint64_t left = size;
	while (left > 0) {
		size_t want = left < DATA_BUF ? (size_t)left : DATA_BUF;
		ssize_t got = read(data_fd, w->dbuf, want);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return hero_error_errno(err, HERO_EFAIL, errno, "cannot read '%s'", path);
		if (got == 0)
			return hero_error(err, HERO_EFAIL,
					  "'%s' changed while being archived (shorter than %llu bytes)",
					  path, (unsigned long long)size);
		hero_blake2b_update(&h, w->dbuf, (size_t)got);
		if (archive_write_data(w->tar, w->dbuf, (size_t)got) != got)
			return tar_error(w, "cannot write tar data", err);
		left -= (uint64_t)got;
	}
	struct hero_unchanged u = { .path = path, .type = type, .service = service, .context = context,
				    .size = size, .mtime_ns = mtime_ns, .mode = mode };
	hero_blake2b_final(&h, u.hash);
	w->st.entries++;
	w->st.files++;
	w->st.data_bytes += size;
	return index_add(w, &u, 0, err);
}

/* Pad the tar stream with zeros to a whole record, as the format requires. */
static int pad_record(struct hero_awriter *w, struct hero_error *err)
{
	static const uint8_t zeros[TAR_RECORD];
	size_t n = (size_t)((TAR_RECORD - w->tar_bytes % TAR_RECORD) % TAR_RECORD);
	return n ? compress_some(w, zeros, n, ZSTD_e_continue, err) : 0;
}

/* Once the sink has written everything: sign its prehash and append the frame. */
static int write_signature(struct hero_awriter *w, struct hero_error *err)
{
	uint8_t prehash[64], frame[HERO_SIG_FRAME];
	if (w->fill && hero_sink_push(w->sink, w->fill, err) < 0)
		return -err->code;
	w->fill = 0;
	int ret = hero_sink_close(w->sink, prehash, err);
	if (ret < 0)
		return ret;
	hero_put32(frame, HERO_MAGIC_SIG);
	hero_put32(frame + 4, HERO_SIG_FRAME - 8);
	memcpy(frame + 8, "ED", 2);
	memcpy(frame + 10, w->hdr.keyid, HERO_KEYID_BYTES);
	ret = hero_sign_prehash(w->sk, prehash, frame + 18, err);
	if (ret < 0)
		return ret;
	w->st.archive_bytes += sizeof frame;
	return hero_write_all(w->fd, frame, sizeof frame, "archive output", err);
}

char *hero_awriter_index_text(const struct hero_awriter *w)
{
	char *text = malloc(w->index_len + 3);
	if (text) /* once finished, the text is complete */
		snprintf(text, w->index_len + 3, "%s%s", w->index, w->finished ? "" : "]}");
	return text;
}

int hero_awriter_finish(struct hero_awriter *w, struct hero_archive_stats *stats,
			struct hero_error *err)
{
	if (w->finished)
		return hero_error(err, HERO_EFAIL, "archive already finished");
	w->finished = 1;
	int ret = index_put(w, "]}", 2, err);
	if (ret < 0 || (ret = write_buffer_entry(w, HERO_INDEX_PATH, w->index, w->index_len, err)) < 0)
		return ret;
	if (archive_write_close(w->tar) != ARCHIVE_OK)
		return tar_error(w, "cannot end tar stream", err);
	if ((ret = pad_record(w, err)) < 0)
		return ret;
	if ((ret = compress_some(w, NULL, 0, ZSTD_e_end, err)) < 0)
		return ret;
	if ((ret = write_signature(w, err)) < 0)
		return ret;
	if (stats)
		*stats = w->st;
	return 0;
}

void hero_awriter_free(struct hero_awriter *w)
{
	if (!w)
		return;
	w->aborting = !w->finished;
	if (w->tar)
		archive_write_free(w->tar);
	hero_sink_free(w->sink);
	ZSTD_freeCCtx(w->cctx);
	sodium_memzero(&w->ss, sizeof w->ss);
	free(w->pbuf);
	free(w->cbuf);
	free(w->index);
	free(w->dbuf);
	free(w);
}
