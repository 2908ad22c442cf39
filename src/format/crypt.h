/* crypt.h - the encryption layer of formats/hero-archive-v1.md section 7:
 * a random file key wrapped for each recipient (X25519) or for a passphrase
 * (Argon2id), committed to in the header, and a secretstream of the
 * compressed body in chunks with a required final tag. */
#ifndef HERO_CRYPT_H
#define HERO_CRYPT_H

#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "hero/error.h"
#include "hero/keys.h"

#define HERO_FILE_KEY_BYTES 32
#define HERO_CRYPT_CHUNK (1u << 20)  /* plaintext bytes per crypt frame, at most */
#define HERO_CRYPT_MAX_STANZAS 64
#define HERO_CRYPT_EXT_MAX 8192

/* Build the header extension for RECIPIENTS (or, if N is 0, for PASSPHRASE)
 * and a fresh file key. *EXT is malloc'd. */
int hero_crypt_seal(const struct hero_pubkey *recipients, size_t n, const char *passphrase,
		    const uint8_t archive_id[16], uint8_t file_key[HERO_FILE_KEY_BYTES], uint8_t **ext,
		    size_t *ext_len, struct hero_error *err);

/* What a header extension says without any key. */
struct hero_crypt_info {
	unsigned recipients;  /* X25519 stanzas */
	int passphrase;       /* a passphrase stanza */
};
int hero_crypt_info(const uint8_t *ext, size_t len, struct hero_crypt_info *info, struct hero_error *err);

/* Recover the file key with identity ID or PASSPHRASE (either may be NULL);
 * checks the key commitment. */
int hero_crypt_open(const uint8_t *ext, size_t len, const uint8_t archive_id[16], const struct hero_seckey *id,
		    const char *passphrase, uint8_t file_key[HERO_FILE_KEY_BYTES], struct hero_error *err);

/* The secretstream key of the body. */
void hero_crypt_payload_key(const uint8_t file_key[HERO_FILE_KEY_BYTES], const uint8_t archive_id[16],
			    uint8_t out[crypto_secretstream_xchacha20poly1305_KEYBYTES]);

#endif
