/* probe_common.c - what every probe runner uses: clocks and deadlines, the
 * outcome line, typed access to a probe's keys, durations, and content magic. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hero/probe.h"
#include "supervise/probe_priv.h"

/* ---- helpers ------------------------------------------------------------ */

long long hero_probe_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long hero_probe_left_ms(long long deadline)
{
	long long d = deadline - hero_probe_now_ms();
	return d < 1 ? 1 : (long)d;
}

static void set_detail(struct hero_probe_result *res, int ok, const char *fmt, va_list ap)
{
	vsnprintf(res->detail, sizeof res->detail, fmt, ap);
	for (char *p = res->detail; *p; p++)
		if (iscntrl((unsigned char)*p))
			*p = ' ';
	res->ok = ok;
}

void hero_probe_pass(struct hero_probe_result *res, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_detail(res, 1, fmt, ap);
	va_end(ap);
}

void hero_probe_fail(struct hero_probe_result *res, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_detail(res, 0, fmt, ap);
	va_end(ap);
}

const char *hero_spec_str(const json_t *spec, const char *key, const char *dflt)
{
	const char *v = json_string_value(json_object_get(spec, key));
	return v && *v ? v : dflt;
}

long hero_spec_int(const json_t *spec, const char *key, long dflt)
{
	const json_t *v = json_object_get(spec, key);
	if (json_is_integer(v))
		return (long)json_integer_value(v);
	if (json_is_string(v) && *json_string_value(v))
		return strtol(json_string_value(v), NULL, 10);
	return dflt;
}

int hero_spec_bool(const json_t *spec, const char *key, int dflt)
{
	const json_t *v = json_object_get(spec, key);
	return json_is_boolean(v) ? json_is_true(v) : dflt;
}

long hero_duration_ms(const char *s)
{
	char *end;
	if (!s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || v < 0)
		return -1;
	double mult = !*end || !strcmp(end, "s") ? 1000 : !strcmp(end, "ms") ? 1 : !strcmp(end, "m") ? 60000
		      : !strcmp(end, "h") ? 3600000 : -1;
	if (mult < 0 || v * mult > 7 * 86400000.0)
		return -1;
	return (long)(v * mult);
}

/* ---- magic bytes -------------------------------------------------------- */

static const struct {
	const char *name;
	size_t off;
	const char *bytes;
	size_t len;
} magics[] = {
	{ "jpeg", 0, "\xff\xd8\xff", 3 },
	{ "png", 0, "\x89PNG\r\n\x1a\n", 8 },
	{ "gif", 0, "GIF87a", 6 },
	{ "gif", 0, "GIF89a", 6 },
	{ "webp", 8, "WEBP", 4 },
	{ "pdf", 0, "%PDF-", 5 },
	{ "sqlite", 0, "SQLite format 3", 16 },
	{ "gzip", 0, "\x1f\x8b", 2 },
	{ "zstd", 0, "\x28\xb5\x2f\xfd", 4 },
	{ "zip", 0, "PK\x03\x04", 4 },
};

const char *hero_magic_type(const unsigned char *buf, size_t len)
{
	for (size_t i = 0; i < sizeof magics / sizeof magics[0]; i++) {
		size_t end = magics[i].off + magics[i].len;
		if (len >= end && !memcmp(buf + magics[i].off, magics[i].bytes, magics[i].len)) {
			if (!strcmp(magics[i].name, "webp") && memcmp(buf, "RIFF", 4))
				continue;
			return magics[i].name;
		}
	}
	return NULL;
}

int hero_magic_match(const char *want, const unsigned char *buf, size_t len)
{
	const char *t = hero_magic_type(buf, len);
	if (!t || !want)
		return 0;
	if (!strcmp(want, "image"))
		return !strcmp(t, "jpeg") || !strcmp(t, "png") || !strcmp(t, "gif") || !strcmp(t, "webp");
	return !strcmp(want, t);
}

int hero_probe_magic_known(const char *want)
{
	if (!strcmp(want, "image"))
		return 1;
	for (size_t i = 0; i < sizeof magics / sizeof magics[0]; i++)
		if (!strcmp(want, magics[i].name))
			return 1;
	return 0;
}
