/* error.c - the error struct every library function reports through. */
#include "hero/error.h"

#include "base/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void set_msg(struct hero_error *err, const char *fmt, va_list ap)
{
	int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	if (n < 0)
		err->msg[0] = '\0';
	/* truncation is acceptable for a diagnostic: the buffer stays terminated */
}

int hero_error(struct hero_error *err, int code, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		set_msg(err, fmt, ap);
		va_end(ap);
		err->code = code;
	}
	return -code;
}

int hero_error_errno(struct hero_error *err, int code, int errnum, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		set_msg(err, fmt, ap);
		va_end(ap);
		size_t len = strlen(err->msg);
		if (len < sizeof err->msg)
			snprintf(err->msg + len, sizeof err->msg - len, ": %s", strerror(errnum));
		err->code = code;
	}
	return -code;
}

int hero_error_prefix(struct hero_error *err, const char *fmt, ...)
{
	if (!err)
		return -HERO_EFAIL;
	char prefix[512], old[sizeof err->msg];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(prefix, sizeof prefix, fmt, ap);
	va_end(ap);
	if (n < 0)
		prefix[0] = '\0';
	memcpy(old, err->msg, sizeof old);
	snprintf(err->msg, sizeof err->msg, "%s: %s", prefix, old);
	if (!err->code)
		err->code = HERO_EFAIL;
	return -err->code;
}

void hero_error_clear(struct hero_error *err)
{
	if (err) {
		err->code = 0;
		err->msg[0] = '\0';
	}
}

void hero_vsay(hero_say_fn say, void *ctx, const char *fmt, va_list ap)
{
	if (!say)
		return;
	char line[HERO_SAY_MAX];
	if (vsnprintf(line, sizeof line, fmt, ap) < 0)
		line[0] = '\0';
	/* truncation is acceptable for a progress line: the buffer stays terminated */
	say(ctx, line);
}

void hero_say(hero_say_fn say, void *ctx, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	hero_vsay(say, ctx, fmt, ap);
	va_end(ap);
}
