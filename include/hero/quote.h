/* hero/quote.h - text made safe for one line of a terminal. */
#ifndef HERO_QUOTE_H
#define HERO_QUOTE_H

#include <stddef.h>

/* TEXT made safe for one line of a terminal into OUT (N bytes, at least 8):
 * C0 and C1 controls, DEL, invalid UTF-8 and the invisible characters that
 * reorder or hide text (bidi controls, zero-width characters, the BOM)
 * escaped as \xNN per byte; with MARKS backslash and quote too, so the
 * escaped form is unambiguous and fits between quotes. Cut with "..." when
 * too long. The one escaper of everything printed: the tools use it for
 * names and paths (MARKS) and, without MARKS, for whole message lines. */
void hero_quote_text(const char *text, int marks, char *out, size_t n);
/* PATH made safe for a one-line message: hero_quote_text with MARKS. */
void hero_path_quote(const char *path, char *out, size_t n);

#endif
