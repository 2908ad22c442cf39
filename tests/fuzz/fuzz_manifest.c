/* fuzz_manifest - bytes in as a service manifest (YAML, formats/manifest-v1.md). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = fuzz_memfd(data, size);
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	struct hero_service svc;
	struct hero_error err = HERO_ERROR_INIT;
	memset(&svc, 0, sizeof svc);
	if (hero_service_load(&svc, path, &err) < 0 && (!err.code || strchr(err.msg, '\n')))
		__builtin_trap(); /* every refusal is one error line */
	hero_service_release(&svc);
	close(fd);
	return 0;
}
