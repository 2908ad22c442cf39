/* fuzz_tar - bytes in as the tar stream of an archive that the harness
 * compresses and signs with the test key, so every input passes the
 * signature and reaches the tar parsers, the path and collision checks, the
 * index comparison, extraction into staging and the database checks. The
 * oracle aborts if anything escapes the scratch target. */
#include <stdint.h>
#include <stdlib.h>
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
	size_t n;
	uint8_t *arc = fuzz_wrap_tar(&env, data, size, &n);
	int fd = fuzz_memfd(arc, n);
	fuzz_restore(&env, fd);
	close(fd);
	free(arc);
	return 0;
}
