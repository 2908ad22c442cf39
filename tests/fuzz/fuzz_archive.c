/* fuzz_archive - bytes in as a whole archive stream: verify and extract into
 * a scratch target; the oracle aborts if anything escapes it. Mostly reaches
 * the header, frame, decompression and signature code (a random input is
 * never validly signed). */
#include <stdint.h>
#include <unistd.h>

#include "common.h"

static struct fuzz_env env;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_env_init(&env);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = fuzz_memfd(data, size);
	fuzz_restore(&env, fd);
	close(fd);
	return 0;
}
