/* pathsafe.c - what an archive entry path may be (formats/hero-archive-v1.md 2.3). */
#include <string.h>

#include "hero/archive.h"
#include "internal.h"

/* Length of the valid UTF-8 sequence at S (0 if invalid). */
static size_t utf8_len(const unsigned char *s)
{
	if (s[0] < 0x80)
		return 1;
	size_t n = s[0] >= 0xF0 && s[0] <= 0xF4 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 && s[0] < 0xE0 ? 2 : 0;
	if (!n)
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xC0) != 0x80)
			return 0;
	if (n == 3 && s[0] == 0xE0 && s[1] < 0xA0)
		return 0; /* overlong */
	if (n == 3 && s[0] == 0xED && s[1] >= 0xA0)
		return 0; /* surrogate */
	if (n == 4 && ((s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] >= 0x90)))
		return 0;
	return n;
}

static int bad(struct hero_error *err, const char *path, const char *why)
{
	return hero_error(err, HERO_EINTEGRITY, "unsafe entry path '%.200s': %s", path, why);
}

int hero_path_check(const char *path, const struct hero_limits *lim, struct hero_error *err)
{
	size_t len = strlen(path);
	if (len == 0)
		return bad(err, path, "empty");
	if (len > lim->max_path)
		return bad(err, path, "too long");
	if (path[0] == '/')
		return bad(err, path, "absolute");
	if (!strcmp(path, ".hero") || !strncmp(path, ".hero/", 6))
		return bad(err, path, "reserved name");
	const unsigned char *s = (const unsigned char *)path;
	size_t comp = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || s[i] == '/') {
			const char *start = path + i - comp;
			if (comp == 0)
				return bad(err, path, "empty component");
			if ((comp == 1 && start[0] == '.') || (comp == 2 && start[0] == '.' && start[1] == '.'))
				return bad(err, path, "'.' or '..' component");
			if (comp > lim->max_component)
				return bad(err, path, "component too long");
			comp = 0;
			continue;
		}
		if (s[i] < 0x20 || s[i] == 0x7f || s[i] == '\\')
			return bad(err, path, "control character or backslash");
		size_t n = utf8_len(s + i);
		if (!n)
			return bad(err, path, "invalid utf-8");
		comp += n;
		i += n - 1;
	}
	return 0;
}
