/* hero/strlist.h - a growable list of owned strings. */
#ifndef HERO_STRLIST_H
#define HERO_STRLIST_H

#include <stddef.h>

struct hero_strlist {
	char **v;
	size_t n;
};

/* Free every string and the array; L is empty and reusable after. NULL is fine. */
void hero_strlist_release(struct hero_strlist *l);
/* Append a copy of S: 0, or -HERO_EFAIL when out of memory. */
int hero_strlist_push(struct hero_strlist *l, const char *s);

#endif
