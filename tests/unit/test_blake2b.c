/* test_blake2b.c - the private BLAKE2b equals RFC 7693 and libsodium's crypto_generichash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "base/blake2b.h"

static void hex(const uint8_t *in, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", in[i]);
}

/* RFC 7693 appendix A: BLAKE2b-512("abc"). */
static void test_rfc7693_abc(void **state)
{
	(void)state;
	struct hero_blake2b s;
	uint8_t out[64];
	char got[129];
	hero_blake2b_init(&s, 64);
	hero_blake2b_update(&s, "abc", 3);
	hero_blake2b_final(&s, out);
	hex(out, 64, got);
	assert_string_equal(got, "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1"
				 "7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923");
}

/* The empty input has its own digest (one compression of a zero block). */
static void test_empty(void **state)
{
	(void)state;
	struct hero_blake2b s;
	uint8_t out[32], want[32];
	hero_blake2b_init(&s, 32);
	hero_blake2b_final(&s, out);
	crypto_generichash(want, 32, NULL, 0, NULL, 0);
	assert_memory_equal(out, want, 32);
}

/* Every length around the block boundaries, for both output sizes the format uses. */
static void test_lengths_match_libsodium(void **state)
{
	(void)state;
	static uint8_t data[1200];
	randombytes_buf(data, sizeof data);
	for (size_t outlen = 32; outlen <= 64; outlen += 32) {
		for (size_t n = 0; n <= sizeof data; n++) {
			struct hero_blake2b s;
			uint8_t out[64], want[64];
			hero_blake2b_init(&s, outlen);
			hero_blake2b_update(&s, data, n);
			hero_blake2b_final(&s, out);
			crypto_generichash(want, outlen, data, n, NULL, 0);
			if (memcmp(out, want, outlen) != 0)
				fail_msg("BLAKE2b-%zu of %zu bytes differs from libsodium", 8 * outlen, n);
		}
	}
}

/* Splitting the input into pieces of any size gives the same digest. */
static void test_pieces_match_libsodium(void **state)
{
	(void)state;
	static uint8_t data[100000];
	randombytes_buf(data, sizeof data);
	uint8_t want[64];
	crypto_generichash(want, 64, data, sizeof data, NULL, 0);
	static const size_t steps[] = { 1, 7, 127, 128, 129, 255, 256, 1000, 4096, 65536 };
	for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
		struct hero_blake2b s;
		uint8_t out[64];
		hero_blake2b_init(&s, 64);
		for (size_t off = 0; off < sizeof data; off += steps[k]) {
			size_t n = sizeof data - off < steps[k] ? sizeof data - off : steps[k];
			hero_blake2b_update(&s, data + off, n);
			hero_blake2b_update(&s, data, 0);
		}
		hero_blake2b_final(&s, out);
		if (memcmp(out, want, 64) != 0)
			fail_msg("pieces of %zu bytes give another digest", steps[k]);
	}
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc7693_abc),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_lengths_match_libsodium),
		cmocka_unit_test(test_pieces_match_libsodium),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
