/* secretfile.h - secret values in encrypted archives (formats/hero-archive-v1.md 7.4):
 * collect the `export NAME=value` lines an archive may carry, and merge their
 * values into a target's secrets file without overriding what the target has
 * and without ever copying the archive's shell text. */
#ifndef HERO_SECRETFILE_H
#define HERO_SECRETFILE_H

#include <stddef.h>

#include "hero/error.h"
#include "hero/manifest.h"

/* The NAME of a line "export NAME=..." or "NAME=..." (leading blanks allowed):
 * its length, 0 if the line assigns nothing; *START points at it. */
size_t hero_secret_line_name(const char *line, const char **start);

struct hero_secret_file {
	char *path;             /* the secrets file, relative to the root */
	const char *service;    /* the service declaring it */
	char *text;             /* `export NAME='value'` lines of NEEDED names */
	size_t len;
};

struct hero_secret_set {
	struct hero_secret_file *f;
	size_t n;
	struct hero_strlist names; /* every name collected */
};

/* For every secrets file the inventory declares (not per-context) and ROOT
 * holds, the assignments of names in NEEDED, parsed as hero_secrets_merge
 * parses an archive's lines: only well-formed ones are carried, rewritten as
 * `export NAME='value'`, one per name with the value of its last assignment
 * (a name whose last assignment is not well-formed is left out). */
int hero_secrets_collect(const struct hero_inventory *inv, const char *root, const struct hero_strlist *needed,
			 struct hero_secret_set *out, struct hero_error *err);
void hero_secrets_release(struct hero_secret_set *s);

/* The lines of TEXT except those whose name (hero_secret_line_name) is in
 * NAMES (malloc'd; NULL when out of memory). */
char *hero_secrets_drop(const char *text, const struct hero_strlist *names);

/* TARGET (may be NULL) as it is, followed by one line the toolkit writes,
 * `export NAME='value'` (a ' in the value as '\''), for each name ARCHIVE
 * assigns and TARGET does not. The archive's text itself is never copied.
 *
 * ARCHIVE's lines are parsed strictly: blank lines and `#` comments, else
 * `[export ]NAME=VALUE` with NAME [A-Za-z_][A-Za-z0-9_]* and VALUE made of
 * bare runs of [A-Za-z0-9_./:@%+,=-], '...' (no ' inside), "..." (no $,
 * backtick or backslash inside) and \' (so '\'' works), then only blanks
 * and a comment; the decoded value holds no control byte (NUL, newline,
 * carriage return, tab...). Refused with HERO_EINTEGRITY and one line giving
 * the line number and the NAME (never the value): any other line (command
 * substitution, unquoted $, a second command or assignment), a name assigned
 * twice, a name not in ALLOWED (the secret names the target's manifests
 * declare for the services restored).
 *
 * A name TARGET already assigns, in any form (with or without export, more
 * than once, after `;`...), is never overridden. *OUT is malloc'd (wipe it);
 * the names added are appended to ADDED (required). */
int hero_secrets_merge(const char *target, const char *archive, const struct hero_strlist *allowed, char **out,
		       struct hero_strlist *added, struct hero_error *err);

#endif
