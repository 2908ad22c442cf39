/* secretfile.h - secret values in encrypted archives (formats/hero-archive-v1.md 7.4):
 * collect the `export NAME=value` lines an archive may carry, and merge them
 * into a target's secrets file without overriding what the target has. */
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
	char *text;             /* only the lines of NEEDED names */
	size_t len;
};

struct hero_secret_set {
	struct hero_secret_file *f;
	size_t n;
	struct hero_strlist names; /* every name collected */
};

/* For every secrets file the inventory declares (not per-context) and ROOT
 * holds, keep the lines assigning a name in NEEDED. */
int hero_secrets_collect(const struct hero_inventory *inv, const char *root, const struct hero_strlist *needed,
			 struct hero_secret_set *out, struct hero_error *err);
void hero_secrets_release(struct hero_secret_set *s);

/* The lines of TEXT assigning a name in NAMES (malloc'd; NULL when out of memory). */
char *hero_secrets_keep(const char *text, const struct hero_strlist *names);

/* TARGET (may be NULL) followed by the lines of ARCHIVE whose names TARGET
 * does not assign: the target's own values always win. *OUT is malloc'd;
 * the names added are appended to ADDED. */
int hero_secrets_merge(const char *target, const char *archive, char **out, struct hero_strlist *added,
		       struct hero_error *err);

#endif
