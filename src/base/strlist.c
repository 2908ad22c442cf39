/* strlist.c - a growable list of owned strings. */
#include <stdlib.h>
#include <string.h>

#include "hero/error.h"
#include "hero/strlist.h"

void hero_strlist_release(struct hero_strlist *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int hero_strlist_push(struct hero_strlist *l, const char *s)
{
	char *dup = strdup(s);
	char **v;

	if (!dup)
		return -HERO_EFAIL;
	v = realloc(l->v, (l->n + 1) * sizeof *v);
	if (!v) {
		free(dup);
		return -HERO_EFAIL;
	}
	v[l->n++] = dup;
	l->v = v;
	return 0;
}
