/* hero/error.h - error reporting shared by the whole library.
 *
 * The library never prints and never exits. A failing function stores one
 * message in a caller-provided struct hero_error and returns the negative of
 * a code below. The codes double as the tools' documented exit codes.
 */
#ifndef HERO_ERROR_H
#define HERO_ERROR_H

#include <stddef.h>

enum hero_code {
	HERO_OK = 0,
	HERO_EFAIL = 1,      /* I/O, environment, anything not listed below */
	HERO_EUSAGE = 2,     /* bad options or arguments */
	HERO_EINTEGRITY = 3, /* archive damaged, forged, untrusted, unsafe or of an unknown format */
	HERO_ECOMPAT = 4,    /* archive newer than the target supports */
	HERO_EBUSY = 5,      /* another operation holds the instance lock */
	HERO_ESECRETS = 6,   /* the target lacks secret names the archive needs */
	HERO_ECONFLICT = 7,  /* a restored row would collide with another context's key */
};

struct hero_error {
	int code;       /* one of enum hero_code; 0 when no error is stored */
	char msg[1024]; /* one line, lowercase, no trailing period */
};

#define HERO_ERROR_INIT { 0, { 0 } }

/* Store a formatted message and CODE in ERR (which may be NULL).
 * Returns -CODE so callers can write `return hero_error(err, HERO_EFAIL, ...)`. */
int hero_error(struct hero_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* As hero_error, appending ": strerror(errno)" for the errno value ERRNUM. */
int hero_error_errno(struct hero_error *err, int code, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Prefix the stored message with "PREFIX: " (formatted); returns -err->code. */
int hero_error_prefix(struct hero_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void hero_error_clear(struct hero_error *err);

#endif
