/* fuzz_keys - bytes in as a public key file, then as a secret key file
 * (formats/keys-v1.md). A protected key is loaded without a passphrase, so
 * the parser is fuzzed, not Argon2id. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	struct hero_error err = HERO_ERROR_INIT;
	return hero_crypto_init(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hero_pubkey pk;
	struct hero_error err = HERO_ERROR_INIT;
	if (hero_pubkey_parse(&pk, (const char *)data, size, &err) < 0 && strchr(err.msg, '\n'))
		__builtin_trap();
	int fd = fuzz_memfd(data, size);
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	struct hero_seckey *sk = NULL;
	hero_error_clear(&err);
	if (hero_seckey_load(&sk, path, NULL, &err) < 0 && strchr(err.msg, '\n'))
		__builtin_trap();
	hero_seckey_free(sk);
	close(fd);
	return 0;
}
