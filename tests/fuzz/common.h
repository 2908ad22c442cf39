/* common.h - shared by the libFuzzer targets: keys, a scratch target
 * with sentinels, and the oracle that a restore never reaches outside it. */
#ifndef HERO_FUZZ_COMMON_H
#define HERO_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "hero/keys.h"
#include "hero/manifest.h"

struct fuzz_env {
	struct hero_seckey *sk;
	struct hero_trust trust;
	struct hero_inventory inv;
	char dir[256];     /* scratch: DIR/parent/inst, DIR/parent/sentinel, DIR/outside/sentinel */
	char root[300];
};

/* Load the test keys and manifests (from $HERO_SRCDIR, default "."), make the scratch tree. */
void fuzz_env_init(struct fuzz_env *e);
/* An in-memory file holding P[0..N), positioned at 0. */
int fuzz_memfd(const void *p, size_t n);
/* Restore the archive in FD into the scratch target, then check the oracle
 * (abort() on a violation). Returns hero_restore's result. */
int fuzz_restore(struct fuzz_env *e, int fd);
/* Wrap a tar stream into a signed archive (header, one zstd frame, signature). */
uint8_t *fuzz_wrap_tar(struct fuzz_env *e, const uint8_t *tar, size_t n, size_t *out_len);

#endif
