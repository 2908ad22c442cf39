/* test_crypt.c - file key wrapping: recipients, passphrases, commitment, malformed stanzas. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "format/crypt.h"
#include "hero/keys.h"

struct fix {
	char dir[64];
	struct hero_seckey *id[3];
	struct hero_pubkey rcpt[3];
	uint8_t archive_id[16];
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof *f);
	struct hero_error err = HERO_ERROR_INIT;
	assert_int_equal(hero_crypto_init(&err), 0);
	snprintf(f->dir, sizeof f->dir, "/tmp/hero-crypt.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	for (int i = 0; i < 3; i++) {
		char sec[128], pub[128];
		snprintf(sec, sizeof sec, "%s/id%d.key", f->dir, i);
		snprintf(pub, sizeof pub, "%s/id%d.pub", f->dir, i);
		assert_int_equal(hero_keygen_x25519(sec, pub, NULL, 0, &f->rcpt[i], &err), 0);
		assert_int_equal(hero_identity_load(&f->id[i], sec, NULL, &err), 0);
		struct hero_pubkey again;
		assert_int_equal(hero_recipient_load(&again, pub, &err), 0);
		assert_memory_equal(again.pk, f->rcpt[i].pk, 32);
	}
	randombytes_buf(f->archive_id, sizeof f->archive_id);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	for (int i = 0; i < 3; i++)
		hero_seckey_free(f->id[i]);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void test_two_recipients_each_open(void **state)
{
	struct fix *f = *state;
	struct hero_error err = HERO_ERROR_INIT;
	uint8_t fk[32], got[32], *ext;
	size_t len;
	assert_int_equal(hero_crypt_seal(f->rcpt, 2, NULL, f->archive_id, fk, &ext, &len, &err), 0);
	struct hero_crypt_info info;
	assert_int_equal(hero_crypt_info(ext, len, &info, &err), 0);
	assert_int_equal(info.recipients, 2);
	assert_int_equal(info.passphrase, 0);
	for (int i = 0; i < 2; i++) {
		memset(got, 0, sizeof got);
		assert_int_equal(hero_crypt_open(ext, len, f->archive_id, f->id[i], NULL, got, &err), 0);
		assert_memory_equal(got, fk, 32);
	}
	/* the third identity is not a recipient */
	assert_int_equal(hero_crypt_open(ext, len, f->archive_id, f->id[2], NULL, got, &err), -HERO_EINTEGRITY);
	assert_non_null(strstr(err.msg, "not encrypted to this identity"));
	/* bound to the archive id */
	uint8_t other[16];
	memcpy(other, f->archive_id, 16);
	other[0] ^= 1;
	assert_int_equal(hero_crypt_open(ext, len, other, f->id[0], NULL, got, &err), -HERO_EINTEGRITY);
	/* no key at all */
	assert_int_equal(hero_crypt_open(ext, len, f->archive_id, NULL, NULL, got, &err), -HERO_EUSAGE);
	free(ext);
}

static void test_every_bit_of_the_header_matters(void **state)
{
	struct fix *f = *state;
	struct hero_error err = HERO_ERROR_INIT;
	uint8_t fk[32], got[32], *ext;
	size_t len;
	assert_int_equal(hero_crypt_seal(f->rcpt, 1, NULL, f->archive_id, fk, &ext, &len, &err), 0);
	for (size_t i = 0; i < len; i++)
		for (int b = 0; b < 8; b++) {
			ext[i] ^= (uint8_t)(1 << b);
			int r = hero_crypt_open(ext, len, f->archive_id, f->id[0], NULL, got, &err);
			if (r == 0)
				fail_msg("bit %d of byte %zu flipped, still opened", b, i);
			ext[i] ^= (uint8_t)(1 << b);
		}
	assert_int_equal(hero_crypt_open(ext, len, f->archive_id, f->id[0], NULL, got, &err), 0);
	free(ext);
}

static void test_passphrase(void **state)
{
	struct fix *f = *state;
	struct hero_error err = HERO_ERROR_INIT;
	uint8_t fk[32], got[32], *ext;
	size_t len;
	assert_int_equal(hero_crypt_seal(NULL, 0, "correct horse", f->archive_id, fk, &ext, &len, &err), 0);
	struct hero_crypt_info info;
	assert_int_equal(hero_crypt_info(ext, len, &info, &err), 0);
	assert_int_equal(info.passphrase, 1);
	assert_int_equal(hero_crypt_open(ext, len, f->archive_id, NULL, "correct horse", got, &err), 0);
	assert_memory_equal(got, fk, 32);
	assert_int_equal(hero_crypt_open(ext, len, f->archive_id, NULL, "wrong horse", got, &err), -HERO_EINTEGRITY);
	assert_non_null(strstr(err.msg, "wrong passphrase"));
	/* a tampered cost beyond the reader's bounds is refused before any derivation */
	uint8_t saved = ext[32 + 2 + 3 + 16];
	ext[32 + 2 + 3 + 16] = 9; /* opslimit, little-endian low byte: 9 passes */
	assert_int_equal(hero_crypt_open(ext, len, f->archive_id, NULL, "correct horse", got, &err), -HERO_EINTEGRITY);
	assert_non_null(strstr(err.msg, "cost out of bounds"));
	ext[32 + 2 + 3 + 16] = saved;
	/* an identity does not open a passphrase archive */
	assert_int_equal(hero_crypt_open(ext, len, f->archive_id, f->id[0], NULL, got, &err), -HERO_EINTEGRITY);
	free(ext);
}

static void test_malformed(void **state)
{
	struct fix *f = *state;
	struct hero_error err = HERO_ERROR_INIT;
	uint8_t fk[32], got[32], *ext, *pext;
	size_t len, plen;
	/* neither or both */
	assert_int_equal(hero_crypt_seal(NULL, 0, NULL, f->archive_id, fk, &ext, &len, &err), -HERO_EUSAGE);
	assert_int_equal(hero_crypt_seal(f->rcpt, 1, "x", f->archive_id, fk, &ext, &len, &err), -HERO_EUSAGE);
	assert_int_equal(hero_crypt_seal(f->rcpt, 2, NULL, f->archive_id, fk, &ext, &len, &err), 0);
	assert_int_equal(hero_crypt_seal(NULL, 0, "pw", f->archive_id, fk, &pext, &plen, &err), 0);
	struct hero_crypt_info info;
	/* a passphrase stanza mixed with a recipient stanza */
	memcpy(ext + 32 + 2 + 83, pext + 32 + 2, 83);
	assert_int_equal(hero_crypt_info(ext, len, &info, &err), -HERO_EINTEGRITY);
	assert_non_null(strstr(err.msg, "stand alone"));
	/* zero stanzas, too many, truncated, trailing bytes */
	ext[32] = 0, ext[33] = 0;
	assert_int_equal(hero_crypt_info(ext, len, &info, &err), -HERO_EINTEGRITY);
	ext[32] = 200;
	assert_int_equal(hero_crypt_info(ext, len, &info, &err), -HERO_EINTEGRITY);
	ext[32] = 2;
	assert_int_equal(hero_crypt_info(ext, len - 1, &info, &err), -HERO_EINTEGRITY);
	ext[32] = 1;
	assert_int_equal(hero_crypt_info(ext, len, &info, &err), -HERO_EINTEGRITY);
	assert_int_equal(hero_crypt_open(pext, plen - 5, f->archive_id, NULL, "pw", got, &err), -HERO_EINTEGRITY);
	free(ext);
	free(pext);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_two_recipients_each_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_bit_of_the_header_matters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_passphrase, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
