/* common.c - see common.h. Compiled into every fuzz target. */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>
#include <sodium.h>
#include <zstd.h>

#include "base/internal.h"
#include "hero/archive.h"
#include "hero/restore.h"

static void die(const char *what, const char *msg)
{
	fprintf(stderr, "fuzz setup: %s: %s\n", what, msg);
	abort();
}

static void put_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		die(path, strerror(errno));
	close(fd);
}

static void make_target(struct fuzz_env *e)
{
	char p[512];
	snprintf(p, sizeof p, "%s/parent", e->dir);
	mkdir(p, 0755);
	snprintf(p, sizeof p, "%s/outside", e->dir);
	mkdir(p, 0755);
	snprintf(p, sizeof p, "%s/parent/sentinel", e->dir);
	put_file(p, "beside\n");
	snprintf(p, sizeof p, "%s/outside/sentinel", e->dir);
	put_file(p, "outside\n");
	struct hero_error err = HERO_ERROR_INIT;
	hero_rmtree_at(AT_FDCWD, e->root, &err);
	if (mkdir(e->root, 0755) < 0)
		die(e->root, strerror(errno));
	snprintf(p, sizeof p, "%s/keep.txt", e->root);
	put_file(p, "keep\n");
}

void fuzz_env_init(struct fuzz_env *e)
{
	struct hero_error err = HERO_ERROR_INIT;
	const char *top = getenv("HERO_SRCDIR");
	char key[1024], pub[1024], man[1024];
	memset(e, 0, sizeof *e);
	snprintf(key, sizeof key, "%s/tests/golden/keys/test.key", top ? top : ".");
	snprintf(pub, sizeof pub, "%s/tests/golden/keys/test.pub", top ? top : ".");
	snprintf(man, sizeof man, "%s/manifests", top ? top : ".");
	if (hero_crypto_init(&err) < 0 || hero_seckey_load(&e->sk, key, NULL, &err) < 0 ||
	    hero_trust_add_file(&e->trust, pub, &err) < 0 || hero_inventory_load(&e->inv, man, &err) < 0)
		die("keys and manifests (set HERO_SRCDIR to the source tree)", err.msg);
	snprintf(e->dir, sizeof e->dir, "/tmp/hero-fuzz.XXXXXX");
	if (!mkdtemp(e->dir))
		die("mkdtemp", strerror(errno));
	snprintf(e->root, sizeof e->root, "%s/parent/inst", e->dir);
	make_target(e);
}

int fuzz_memfd(const void *p, size_t n)
{
	int fd = memfd_create("hero-fuzz", MFD_CLOEXEC);
	struct hero_error err = HERO_ERROR_INIT;
	if (fd < 0 || hero_write_all(fd, p, n, "memfd", &err) < 0 || lseek(fd, 0, SEEK_SET) != 0)
		die("memfd", strerror(errno));
	return fd;
}

static int read_is(const char *path, const char *want)
{
	char buf[64] = { 0 };
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	return n == (ssize_t)strlen(want) && !memcmp(buf, want, (size_t)n);
}

/* Only NAMES may be in DIR. */
static int only(const char *dir, const char *a, const char *b)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int ok = d != NULL;
	while (ok && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && strcmp(de->d_name, a) &&
		    (!b || strcmp(de->d_name, b)))
			ok = 0;
	if (d)
		closedir(d);
	return ok;
}

int fuzz_restore(struct fuzz_env *e, int fd)
{
	struct hero_error err = HERO_ERROR_INIT;
	struct hero_restore_result res;
	struct hero_restore_opts o = { .root = e->root, .inv = &e->inv, .trust = &e->trust, .in_fd = fd,
				       .allow_missing_secrets = 1 };
	int ret = hero_restore(&o, &res, &err);
	char p[512], q[512];
	snprintf(p, sizeof p, "%s/parent", e->dir);
	snprintf(q, sizeof q, "%s/outside", e->dir);
	if (!only(p, "inst", "sentinel") || !only(q, "sentinel", NULL)) {
		fprintf(stderr, "oracle: something appeared beside or outside the target (ret %d: %s)\n", ret, err.msg);
		abort();
	}
	snprintf(p, sizeof p, "%s/parent/sentinel", e->dir);
	snprintf(q, sizeof q, "%s/outside/sentinel", e->dir);
	if (!read_is(p, "beside\n") || !read_is(q, "outside\n")) {
		fprintf(stderr, "oracle: a sentinel changed (ret %d: %s)\n", ret, err.msg);
		abort();
	}
	if (ret < 0) {
		if (!err.code || strchr(err.msg, '\n')) {
			fprintf(stderr, "oracle: a failure without one error line: '%s'\n", err.msg);
			abort();
		}
		snprintf(p, sizeof p, "%s/keep.txt", e->root);
		if (!read_is(p, "keep\n")) {
			fprintf(stderr, "oracle: a refused restore changed the target (%s)\n", err.msg);
			abort();
		}
	} else {
		make_target(e); /* accepted: start the next input from the same target */
	}
	return ret;
}

static int hexval(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static void take_archive_id(uint8_t id[HERO_ID_BYTES], const uint8_t *tar, size_t n)
{
	static const char key[] = "\"archive_id\":\"";
	const uint8_t *p = memmem(tar, n, key, sizeof key - 1);
	if (!p || (size_t)(tar + n - p) < sizeof key - 1 + 2 * HERO_ID_BYTES)
		return;
	p += sizeof key - 1;
	for (int i = 0; i < HERO_ID_BYTES; i++) {
		int hi = hexval(p[2 * i]), lo = hexval(p[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return;
		id[i] = (uint8_t)(hi << 4 | lo);
	}
}

uint8_t *fuzz_wrap_tar(struct fuzz_env *e, const uint8_t *tar, size_t n, size_t *out_len)
{
	size_t cap = HERO_HEADER_FRAME + ZSTD_compressBound(n) + HERO_SIG_FRAME;
	uint8_t *out = malloc(cap), prehash[64];
	if (!out)
		die("wrap", "out of memory");
	struct hero_pubkey pk;
	hero_seckey_pubkey(e->sk, &pk);
	memset(out, 0, HERO_HEADER_FRAME);
	hero_put32(out, HERO_MAGIC_HEADER);
	hero_put32(out + 4, HERO_HEADER_FRAME - 8);
	memcpy(out + 8, "HEROSNAP", 8);
	out[16] = 1;
	memset(out + 24, 0x42, HERO_ID_BYTES);
	take_archive_id(out + 24, tar, n); /* the manifest's id, so mutations get past that check */
	memcpy(out + 40, pk.keyid, HERO_KEYID_BYTES);
	size_t z = ZSTD_compress(out + HERO_HEADER_FRAME, cap - HERO_HEADER_FRAME - HERO_SIG_FRAME, tar, n, 1);
	if (ZSTD_isError(z))
		die("zstd", ZSTD_getErrorName(z));
	size_t len = HERO_HEADER_FRAME + z;
	crypto_generichash(prehash, sizeof prehash, out, len, NULL, 0);
	uint8_t *sig = out + len;
	hero_put32(sig, HERO_MAGIC_SIG);
	hero_put32(sig + 4, HERO_SIG_FRAME - 8);
	memcpy(sig + 8, "ED", 2);
	memcpy(sig + 10, pk.keyid, HERO_KEYID_BYTES);
	struct hero_error err = HERO_ERROR_INIT;
	if (hero_sign_prehash(e->sk, prehash, sig + 18, &err) < 0)
		die("sign", err.msg);
	*out_len = len + HERO_SIG_FRAME;
	return out;
}
