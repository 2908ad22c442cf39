/* fuzz_signature - bytes in as everything after the body of a valid small
 * archive: the signature frame and whatever follows it. Nothing but the one
 * genuine frame may verify. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/internal.h"
#include "common.h"
#include "hero/archive.h"

static struct fuzz_env env;
static uint8_t *good;
static size_t good_len;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A minimal valid tar: the manifest, the index, the end blocks. */
static void block(uint8_t *b, const char *name, size_t size)
{
	memset(b, 0, 512);
	memcpy(b, name, strlen(name));
	memcpy(b + 100, "0000644", 8);
	memcpy(b + 108, "0000000", 8);
	memcpy(b + 116, "0000000", 8);
	snprintf((char *)b + 124, 12, "%011zo", size);
	memcpy(b + 136, "00000000000", 12);
	b[156] = '0';
	memcpy(b + 257, "ustar", 6);
	memcpy(b + 263, "00", 2);
	memset(b + 148, ' ', 8);
	unsigned sum = 0;
	for (int i = 0; i < 512; i++)
		sum += b[i];
	snprintf((char *)b + 148, 8, "%06o", sum);
}

/* Read the whole archive with the reader; 0 only when it verified. */
static int verify(int fd)
{
	struct hero_error err = HERO_ERROR_INIT;
	struct hero_areader *r = NULL;
	struct hero_aentry e;
	const char *json;
	size_t len;
	int ret = hero_areader_new(&r, fd, &env.trust, NULL, &err);
	if (ret == 0)
		ret = hero_areader_manifest(r, &json, &len, &err);
	while (ret == 0 && (ret = hero_areader_next(r, &e, &err)) == 1)
		ret = 0;
	if (ret == 0 && !hero_areader_signature_checked(r))
		__builtin_trap();
	if (ret < 0 && (!err.code || strchr(err.msg, '\n')))
		__builtin_trap();
	hero_areader_free(r);
	return ret;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_env_init(&env);
	static const char m[] = "{\"format\":\"hero-archive\",\"format_version\":\"1.0\","
				"\"archive_id\":\"42424242424242424242424242424242\",\"encrypted\":false,"
				"\"scope\":{\"kind\":\"instance\",\"services\":[],\"contexts\":[]},\"services\":[]}";
	static const char ix[] = "{\"archive_id\":\"42424242424242424242424242424242\",\"entries\":[]}";
	uint8_t tar[512 * 6] = { 0 };
	block(tar, ".hero/manifest.json", sizeof m - 1);
	memcpy(tar + 512, m, sizeof m - 1);
	block(tar + 1024, ".hero/index.json", sizeof ix - 1);
	memcpy(tar + 1536, ix, sizeof ix - 1);
	good = fuzz_wrap_tar(&env, tar, sizeof tar, &good_len);
	int fd = fuzz_memfd(good, good_len);
	if (verify(fd) != 0)
		__builtin_trap(); /* the genuine archive must verify */
	close(fd);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t body = good_len - HERO_SIG_FRAME;
	uint8_t *arc = malloc(body + size);
	memcpy(arc, good, body);
	memcpy(arc + body, data, size);
	int fd = fuzz_memfd(arc, body + size);
	int ret = verify(fd);
	if (ret == 0 && (size != HERO_SIG_FRAME || memcmp(data, good + body, HERO_SIG_FRAME) != 0))
		__builtin_trap(); /* a signature frame other than the genuine one verified */
	close(fd);
	free(arc);
	return 0;
}
