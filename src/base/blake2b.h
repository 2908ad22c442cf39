/* blake2b.h - unkeyed BLAKE2b (RFC 7693), the hash of the archive format.
 *
 * The same function as libsodium's crypto_generichash with no key: the
 * outputs are identical byte for byte (tests/unit/test_blake2b.c). The
 * archive hashes every byte twice (entry data and the signature prehash),
 * and this portable implementation is about twice as fast as the one the
 * distribution's libsodium selects (docs/decisions/0015-own-blake2b.md).
 */
#ifndef HERO_BLAKE2B_H
#define HERO_BLAKE2B_H

#include <stddef.h>
#include <stdint.h>

#define HERO_BLAKE2B_BLOCK 128
#define HERO_BLAKE2B_MAX 64

struct hero_blake2b {
	uint64_t h[8];
	uint64_t t[2];                    /* bytes compressed so far, 128-bit */
	uint8_t buf[HERO_BLAKE2B_BLOCK];  /* the last block is held back until final */
	size_t buflen;
	size_t outlen;
};

/* Start a hash with an output of OUTLEN bytes (1..64). */
void hero_blake2b_init(struct hero_blake2b *s, size_t outlen);
/* Absorb N bytes of IN. */
void hero_blake2b_update(struct hero_blake2b *s, const void *in, size_t n);
/* Write the OUTLEN-byte digest to OUT; the state must be initialised again before reuse. */
void hero_blake2b_final(struct hero_blake2b *s, uint8_t *out);

#endif
