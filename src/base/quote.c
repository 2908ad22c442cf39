/* quote.c - text made safe for one line of a terminal: the one escaper of
 * everything the library and the tools print (docs/security.md). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/internal.h"
#include "hero/quote.h"

/* Length of the valid UTF-8 sequence at S (0 if invalid); *CP gets the code point. */
size_t hero_utf8_len(const unsigned char *s, uint32_t *cp)
{
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	size_t n = s[0] >= 0xF0 && s[0] <= 0xF4 ? 4 : s[0] >= 0xE0 && s[0] <= 0xEF ? 3 : s[0] >= 0xC2 && s[0] < 0xE0 ? 2 : 0;
	if (!n)
		return 0;
	uint32_t v = s[0] & (0x7F >> n);
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3F);
	}
	if (n == 3 && s[0] == 0xE0 && s[1] < 0xA0)
		return 0; /* overlong */
	if (n == 3 && s[0] == 0xED && s[1] >= 0xA0)
		return 0; /* surrogate */
	if (n == 4 && ((s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] >= 0x90)))
		return 0;
	*cp = v;
	return n;
}

/* C0 and C1 controls, DEL, and the invisible format characters that reorder
 * or hide text (bidi controls, zero-width joiners, the BOM). */
int hero_is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || (cp >= 0x200B && cp <= 0x200F) ||
	       (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2060 && cp <= 0x206F) || cp == 0xFEFF;
}

void hero_quote_text(const char *text, int marks, char *out, size_t n)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t o = 0, i = 0;
	if (n < 8) {
		if (n)
			out[0] = '\0';
		return;
	}
	size_t room = n - 4; /* room for "..." and the NUL */
	while (s[i]) {
		uint32_t cp = 0;
		size_t len = hero_utf8_len(s + i, &cp);
		int esc = len == 0 || hero_is_control(cp) || (marks && (cp == '\\' || cp == '\''));
		size_t k = len ? len : 1, need = esc ? 4 * k : k;
		if (o + need > room)
			break;
		for (size_t j = 0; j < k; j++) {
			if (esc)
				o += (size_t)snprintf(out + o, 5, "\\x%02x", s[i + j]);
			else
				out[o++] = (char)s[i + j];
		}
		i += k;
	}
	out[o] = '\0';
	if (s[i])
		memcpy(out + o, "...", 4);
}

void hero_path_quote(const char *path, char *out, size_t n)
{
	hero_quote_text(path, 1, out, n);
}
