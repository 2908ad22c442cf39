/* hero/keys.h - Ed25519 signing keys, their files, and the trusted key set.
 *
 * File formats: formats/keys-v1.md. Secret keys live in sodium_malloc'd
 * memory and are wiped when freed.
 */
#ifndef HERO_KEYS_H
#define HERO_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "hero/error.h"

#define HERO_KEYID_BYTES 8
#define HERO_PK_BYTES 32
#define HERO_SK_BYTES 64
#define HERO_SIG_BYTES 64

struct hero_seckey; /* opaque */

struct hero_pubkey {
	uint8_t keyid[HERO_KEYID_BYTES];
	uint8_t pk[HERO_PK_BYTES];
};

/* A set of trusted public keys. */
struct hero_trust {
	struct hero_pubkey *keys;
	size_t n;
};

#define HERO_TRUST_INIT { NULL, 0 }

/* Must be called once before any other function here (wraps sodium_init). */
int hero_crypto_init(struct hero_error *err);

/* Generate a key pair and write SECPATH (mode 0600, O_EXCL|O_NOFOLLOW unless
 * FORCE) and PUBPATH. PASSPHRASE NULL or "" writes an unprotected secret key;
 * otherwise the key is sealed with Argon2id + XSalsa20-Poly1305. On success,
 * *OUT_PUB (if not NULL) receives the public key. */
int hero_keygen(const char *secpath, const char *pubpath, const char *passphrase, int force,
		struct hero_pubkey *out_pub, struct hero_error *err);

/* Load a secret key file. PASSPHRASE is needed only for a protected key (NULL
 * otherwise; a protected key without one fails with a message saying so).
 * Free with hero_seckey_free. */
int hero_seckey_load(struct hero_seckey **out, const char *path, const char *passphrase,
		     struct hero_error *err);
void hero_seckey_free(struct hero_seckey *sk);
/* 1 if the secret key or identity file at PATH is passphrase-protected, 0 if not, <0 on error. */
int hero_seckey_is_protected(const char *path, struct hero_error *err);
void hero_seckey_pubkey(const struct hero_seckey *sk, struct hero_pubkey *out);

/* Load / parse a public key file. */
int hero_pubkey_load(struct hero_pubkey *out, const char *path, struct hero_error *err);
int hero_pubkey_parse(struct hero_pubkey *out, const char *text, size_t len, struct hero_error *err);

/* Sign the 64-byte prehash (BLAKE2b-512 of the signed bytes, see
 * formats/hero-archive-v1.md) with SK: SIG = Ed25519(domain || prehash). */
int hero_sign_prehash(const struct hero_seckey *sk, const uint8_t prehash[64],
		      uint8_t sig[HERO_SIG_BYTES], struct hero_error *err);
/* Verify; returns 0 if SIG is valid for PK over PREHASH, -HERO_EINTEGRITY otherwise. */
int hero_verify_prehash(const struct hero_pubkey *pk, const uint8_t prehash[64],
			const uint8_t sig[HERO_SIG_BYTES], struct hero_error *err);

/* Encryption keys (formats/keys-v1.md, algorithm "XC"): an X25519 identity
 * (secret, 0600, optionally passphrase-protected like a signing key) and its
 * recipient key (public). A struct hero_pubkey holds a recipient key too. */
int hero_keygen_x25519(const char *idpath, const char *rcptpath, const char *passphrase, int force,
		       struct hero_pubkey *out_rcpt, struct hero_error *err);
int hero_identity_load(struct hero_seckey **out, const char *path, const char *passphrase,
		       struct hero_error *err);
int hero_recipient_load(struct hero_pubkey *out, const char *path, struct hero_error *err);
/* X25519(identity, PEER) into SHARED; an all-zero result is refused. */
int hero_x25519_shared(const struct hero_seckey *id, const uint8_t peer[HERO_PK_BYTES],
		       uint8_t shared[32], struct hero_error *err);

/* Trusted keys: add one file, or every *.pub in a directory (missing
 * directory is not an error). */
int hero_trust_add_file(struct hero_trust *t, const char *path, struct hero_error *err);
int hero_trust_add_dir(struct hero_trust *t, const char *dir, struct hero_error *err);
/* The trusted key with KEYID, or NULL. */
const struct hero_pubkey *hero_trust_find(const struct hero_trust *t,
					  const uint8_t keyid[HERO_KEYID_BYTES]);
void hero_trust_release(struct hero_trust *t);

/* Hex of a key id into BUF (17 bytes). */
void hero_keyid_hex(const uint8_t keyid[HERO_KEYID_BYTES], char buf[2 * HERO_KEYID_BYTES + 1]);

#endif
