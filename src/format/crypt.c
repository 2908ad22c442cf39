/* crypt.c - file key wrapping and the key commitment (formats/hero-archive-v1.md 7). */
#include "format/crypt.h"

#include <stdlib.h>
#include <string.h>

#include "base/internal.h"

#define ST_X25519 1
#define ST_PASS 2
#define WRAPPED (HERO_FILE_KEY_BYTES + crypto_aead_xchacha20poly1305_ietf_ABYTES) /* 48 */
#define X25519_BODY (32 + WRAPPED)                  /* eph pk || wrapped: 80 */
#define PASS_BODY (16 + 8 + 8 + WRAPPED)            /* salt || ops || mem || wrapped: 80 */
#define COMMIT 32
#define PASS_OPS crypto_pwhash_OPSLIMIT_INTERACTIVE
#define PASS_MEM crypto_pwhash_MEMLIMIT_INTERACTIVE
/* A reader's bounds on an (unauthenticated) passphrase stanza: the key is
 * derived before the signature can be checked, so a tampered header must not
 * be able to make it cost more than a few seconds. The writer uses 2 and 64 MiB. */
#define PASS_OPS_MAX 8ull
#define PASS_MEM_MAX (512ull << 20)

/* BLAKE2b-256 keyed with KEY over LABEL || A || B. */
static void kdf(uint8_t out[32], const uint8_t *key, size_t keylen, const char *label, const uint8_t *a, size_t alen,
		const uint8_t *b, size_t blen)
{
	crypto_generichash_state st;
	crypto_generichash_init(&st, key, keylen, 32);
	crypto_generichash_update(&st, (const uint8_t *)label, strlen(label) + 1);
	if (a)
		crypto_generichash_update(&st, a, alen);
	if (b)
		crypto_generichash_update(&st, b, blen);
	crypto_generichash_final(&st, out, 32);
	sodium_memzero(&st, sizeof st);
}

static void commitment(uint8_t out[COMMIT], const uint8_t file_key[32], const uint8_t id[16])
{
	kdf(out, file_key, 32, "hero-snap v1 commit", id, 16, NULL, 0);
}

void hero_crypt_payload_key(const uint8_t file_key[32], const uint8_t id[16], uint8_t out[32])
{
	kdf(out, file_key, 32, "hero-snap v1 payload", id, 16, NULL, 0);
}

static const uint8_t zero_nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];

static void wrap(uint8_t out[WRAPPED], const uint8_t file_key[32], const uint8_t wk[32], const uint8_t id[16])
{
	unsigned long long n;
	crypto_aead_xchacha20poly1305_ietf_encrypt(out, &n, file_key, 32, id, 16, NULL, zero_nonce, wk);
}

static int unwrap(uint8_t file_key[32], const uint8_t in[WRAPPED], const uint8_t wk[32], const uint8_t id[16])
{
	unsigned long long n;
	return crypto_aead_xchacha20poly1305_ietf_decrypt(file_key, &n, NULL, in, WRAPPED, id, 16, zero_nonce, wk);
}

static void x25519_wrap_key(uint8_t wk[32], const uint8_t shared[32], const uint8_t eph[32], const uint8_t rcpt[32])
{
	kdf(wk, shared, 32, "hero-snap x25519 v1", eph, 32, rcpt, 32);
}

static int pass_key(uint8_t wk[32], const char *pass, const uint8_t salt[16], uint64_t ops, uint64_t mem,
		    struct hero_error *err)
{
	if (crypto_pwhash(wk, 32, pass, strlen(pass), salt, ops, (size_t)mem, crypto_pwhash_ALG_ARGON2ID13) != 0)
		return hero_error(err, HERO_EFAIL, "cannot derive a key from the passphrase (out of memory?)");
	return 0;
}

static int seal_x25519(uint8_t *body, const struct hero_pubkey *r, const uint8_t fk[32], const uint8_t id[16],
		       struct hero_error *err)
{
	uint8_t esk[32], shared[32], wk[32];
	crypto_box_keypair(body, esk);
	int bad = crypto_scalarmult(shared, esk, r->pk) != 0 || sodium_is_zero(shared, 32);
	sodium_memzero(esk, sizeof esk);
	if (bad)
		return hero_error(err, HERO_EFAIL, "recipient key is not a valid X25519 key");
	x25519_wrap_key(wk, shared, body, r->pk);
	wrap(body + 32, fk, wk, id);
	sodium_memzero(shared, sizeof shared);
	sodium_memzero(wk, sizeof wk);
	return 0;
}

static int seal_pass(uint8_t *body, const char *pass, const uint8_t fk[32], const uint8_t id[16],
		     struct hero_error *err)
{
	uint8_t wk[32];
	randombytes_buf(body, 16);
	hero_put64(body + 16, PASS_OPS);
	hero_put64(body + 24, PASS_MEM);
	int ret = pass_key(wk, pass, body, PASS_OPS, PASS_MEM, err);
	if (ret == 0)
		wrap(body + 32, fk, wk, id);
	sodium_memzero(wk, sizeof wk);
	return ret;
}

int hero_crypt_seal(const struct hero_pubkey *rcpt, size_t n, const char *pass, const uint8_t id[16],
		    uint8_t fk[32], uint8_t **ext, size_t *ext_len, struct hero_error *err)
{
	if ((n == 0) == !(pass && *pass))
		return hero_error(err, HERO_EUSAGE, "encrypt to recipients or to a passphrase, not both or neither");
	if (n > HERO_CRYPT_MAX_STANZAS)
		return hero_error(err, HERO_EUSAGE, "at most %d recipients", HERO_CRYPT_MAX_STANZAS);
	size_t stanzas = n ? n : 1, len = COMMIT + 2 + stanzas * (3 + 80);
	uint8_t *e = calloc(1, len);
	if (!e)
		return hero_error(err, HERO_EFAIL, "out of memory");
	randombytes_buf(fk, 32);
	commitment(e, fk, id);
	hero_put16(e + COMMIT, (uint16_t)stanzas);
	uint8_t *p = e + COMMIT + 2;
	int ret = 0;
	for (size_t i = 0; i < stanzas && ret == 0; i++, p += 3 + 80) {
		p[0] = n ? ST_X25519 : ST_PASS;
		hero_put16(p + 1, 80);
		ret = n ? seal_x25519(p + 3, &rcpt[i], fk, id, err) : seal_pass(p + 3, pass, fk, id, err);
	}
	if (ret < 0) {
		sodium_memzero(fk, 32);
		free(e);
		return ret;
	}
	*ext = e;
	*ext_len = len;
	return 0;
}

/* Walk the stanzas; CB is called for each (type, body). */
static int walk(const uint8_t *ext, size_t len, int (*cb)(void *, int, const uint8_t *), void *ctx,
		struct hero_error *err)
{
	if (len < COMMIT + 2)
		return hero_error(err, HERO_EINTEGRITY, "archive damaged: encryption header too short");
	size_t count = hero_get16(ext + COMMIT), off = COMMIT + 2;
	if (count == 0 || count > HERO_CRYPT_MAX_STANZAS)
		return hero_error(err, HERO_EINTEGRITY, "archive refused: %zu recipient stanzas (1 to %d allowed)", count,
				  HERO_CRYPT_MAX_STANZAS);
	int have_pass = 0;
	for (size_t i = 0; i < count; i++) {
		if (off + 3 > len)
			return hero_error(err, HERO_EINTEGRITY, "archive damaged: truncated recipient stanza");
		int type = ext[off];
		size_t blen = hero_get16(ext + off + 1);
		if (blen != 80 || off + 3 + blen > len || (type != ST_X25519 && type != ST_PASS))
			return hero_error(err, HERO_EINTEGRITY, "archive refused: malformed recipient stanza");
		have_pass |= type == ST_PASS;
		int r = cb ? cb(ctx, type, ext + off + 3) : 0;
		if (r != 0)
			return r;
		off += 3 + blen;
	}
	if (off != len)
		return hero_error(err, HERO_EINTEGRITY, "archive damaged: bytes after the recipient stanzas");
	if (have_pass && count != 1)
		return hero_error(err, HERO_EINTEGRITY, "archive refused: a passphrase stanza must stand alone");
	return 0;
}

static int count_cb(void *ctx, int type, const uint8_t *body)
{
	struct hero_crypt_info *info = ctx;
	(void)body;
	if (type == ST_X25519)
		info->recipients++;
	else
		info->passphrase = 1;
	return 0;
}

int hero_crypt_info(const uint8_t *ext, size_t len, struct hero_crypt_info *info, struct hero_error *err)
{
	memset(info, 0, sizeof *info);
	return walk(ext, len, count_cb, info, err);
}

struct opener {
	const uint8_t *id;
	const struct hero_seckey *identity;
	const char *pass;
	uint8_t *fk;
	int found;
	struct hero_error *err;
};

static int open_cb(void *ctx, int type, const uint8_t *body)
{
	struct opener *o = ctx;
	uint8_t wk[32], shared[32];
	if (o->found)
		return 0;
	if (type == ST_X25519 && o->identity) {
		struct hero_pubkey me;
		struct hero_error ignored = HERO_ERROR_INIT;
		hero_seckey_pubkey(o->identity, &me);
		if (hero_x25519_shared(o->identity, body, shared, &ignored) < 0)
			return 0; /* not for us (or a bad share): try the next stanza */
		x25519_wrap_key(wk, shared, body, me.pk);
		o->found = unwrap(o->fk, body + 32, wk, o->id) == 0;
	} else if (type == ST_PASS && o->pass) {
		uint64_t ops = hero_get64(body + 16), mem = hero_get64(body + 24);
		if (ops > PASS_OPS_MAX || mem > PASS_MEM_MAX || ops < crypto_pwhash_OPSLIMIT_MIN ||
		    mem < crypto_pwhash_MEMLIMIT_MIN)
			return hero_error(o->err, HERO_EINTEGRITY, "archive refused: passphrase cost out of bounds");
		if (pass_key(wk, o->pass, body, ops, mem, o->err) < 0)
			return -o->err->code;
		o->found = unwrap(o->fk, body + 32, wk, o->id) == 0;
	}
	sodium_memzero(wk, sizeof wk);
	sodium_memzero(shared, sizeof shared);
	return 0;
}

int hero_crypt_open(const uint8_t *ext, size_t len, const uint8_t id[16], const struct hero_seckey *identity,
		    const char *pass, uint8_t fk[32], struct hero_error *err)
{
	struct hero_crypt_info info;
	int ret = hero_crypt_info(ext, len, &info, err);
	if (ret < 0)
		return ret;
	if (!identity && !pass)
		return hero_error(err, HERO_EUSAGE, "archive is encrypted: give --identity FILE or a passphrase");
	struct opener o = { id, identity, pass, fk, 0, err };
	if ((ret = walk(ext, len, open_cb, &o, err)) < 0)
		return ret;
	if (!o.found)
		return hero_error(err, HERO_EINTEGRITY, "cannot decrypt: %s",
				  info.passphrase ? "wrong passphrase" : "not encrypted to this identity");
	uint8_t c[COMMIT];
	commitment(c, fk, id);
	if (sodium_memcmp(c, ext, COMMIT) != 0) {
		sodium_memzero(fk, 32);
		return hero_error(err, HERO_EINTEGRITY, "archive damaged: file key does not match its commitment");
	}
	return 0;
}
