/* internal.h - helpers shared inside the library; not installed. */
#ifndef HERO_INTERNAL_H
#define HERO_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hero/error.h"
#include "hero/quote.h"

#define HERO_MAGIC_HEADER 0x184D2A50u
#define HERO_MAGIC_CRYPT 0x184D2A51u
#define HERO_MAGIC_SIG 0x184D2A5Eu
#define HERO_MAGIC_ZSTD 0xFD2FB528u
#define HERO_HEADER_FRAME 56
#define HERO_SIG_FRAME 82

/* The most path components an archive entry may have (formats/hero-archive-v1.md
 * section 2.3): hero-snap refuses a deeper tree, the reader a deeper entry.
 * Trees on disk may be deeper; what walks them (carry-over, rmtree) takes
 * bounded stack and descriptors at any depth. */
#define HERO_MAX_DEPTH 1024
/* The longest entry path in bytes, the reader's default cap (max_path). */
#define HERO_MAX_PATH 4096
#define HERO_STR_(x) #x
#define HERO_STR(x) HERO_STR_(x)

/* error.c: the library's one message sink. Format a line (at most
 * HERO_SAY_MAX - 1 bytes, truncated beyond) and hand it to SAY with CTX;
 * nothing happens when SAY is NULL. The library never prints: a tool passes
 * SAY to print the line where it wants. */
#define HERO_SAY_MAX 2048
typedef void (*hero_say_fn)(void *ctx, const char *line);
void hero_say(hero_say_fn say, void *ctx, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void hero_vsay(hero_say_fn say, void *ctx, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));

static inline void hero_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}
static inline void hero_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline void hero_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t hero_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t hero_get32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}
static inline uint64_t hero_get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* fsutil.c */
/* Write all N bytes to FD, retrying on EINTR; WHAT names the output in errors. */
int hero_write_all(int fd, const void *buf, size_t n, const char *what, struct hero_error *err);
/* Read up to N bytes, retrying on EINTR and short reads; returns bytes read (< N only at EOF). */
ssize_t hero_read_full(int fd, void *buf, size_t n);
/* Remove NAME under DIRFD and everything beneath it, never following symlinks.
 * A missing NAME is fine. Any depth: the stack and the descriptors it takes
 * stay bounded (one directory open at a time). */
int hero_rmtree_at(int dirfd, const char *name, struct hero_error *err);
/* Open the parent ("..") of the directory at FD and check that it is the
 * directory (DEV, INO) seen on the way down: -1 with errno set otherwise,
 * ESTALE when it is another directory (the tree was moved meanwhile). */
int hero_open_parent(int fd, dev_t dev, ino_t ino);
/* A growable list of names (with a mode each), for walking trees of any
 * depth with the levels on the heap. */
struct hero_name {
	char *name;
	mode_t mode;
	int flags;      /* the user's; 0 when pushed */
};
struct hero_names {
	struct hero_name *v;
	size_t n, cap;
};
int hero_names_push(struct hero_names *l, const char *name, mode_t mode); /* -1 when out of memory */
void hero_names_sort(struct hero_names *l);
void hero_names_release(struct hero_names *l);
#include "hero/atomic.h" /* hero_atomic_*, hero_write_atomic */
/* fsync FD; any failure is fatal (never retried). WHAT names it. */
int hero_fsync(int fd, const char *what, struct hero_error *err);
/* fsync the directory at PATH. */
int hero_fsync_path(const char *path, struct hero_error *err);
/* The whole content of the file at PATH as a malloc'd NUL-terminated string,
 * or NULL (missing, unreadable, or out of memory). */
char *hero_read_text(const char *path);
/* Join A and B with '/' into a malloc'd string (NULL when out of memory). */
char *hero_join(const char *a, const char *b);
/* mkdir -p of PATH relative to DIRFD, mode 0755; existing directories are fine. */
int hero_mkdirs_at(int dirfd, const char *path, struct hero_error *err);
/* Split PATH into its parent directory and base name (both malloc'd). */
int hero_split_path(const char *path, char **parent, char **base, struct hero_error *err);

/* quote.c: the UTF-8 reading shared with the path checks. Length of the
 * valid UTF-8 sequence at S (0 if invalid); *CP gets the code point. */
size_t hero_utf8_len(const unsigned char *s, uint32_t *cp);
/* C0 and C1 controls, DEL, and the invisible format characters that reorder
 * or hide text (bidi controls, zero-width joiners, the BOM). */
int hero_is_control(uint32_t cp);

/* fsutil.c: test-only fault injection (docs/security.md), compiled in only
 * with -DHERO_TESTING (the test build, `make test`). When $HERO_FAULT is
 * "POINT[:N[:ACTION]]" and this is the N-th (default 1st) time POINT is
 * reached, ACTION happens: "kill" (default, SIGKILL), "stop" (SIGSTOP), or
 * "eio" (the call returns -1 so the caller fails as on an I/O error).
 * Inert (returns 0) when unset, and always in a release build. */
#ifdef HERO_TESTING
int hero_fault(const char *point);
#else
static inline int hero_fault(const char *point)
{
	(void)point;
	return 0;
}
#endif

#endif
