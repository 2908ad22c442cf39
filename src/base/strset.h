/* strset.h - a set of strings (open addressing), for duplicate detection. */
#ifndef HERO_STRSET_H
#define HERO_STRSET_H

#include <stddef.h>

struct hero_strset {
	char **slot;
	size_t cap, n;
};

int hero_strset_init(struct hero_strset *s);
/* Returns 1 if added, 0 if already present, -1 when out of memory. */
int hero_strset_add(struct hero_strset *s, const char *str);
int hero_strset_has(const struct hero_strset *s, const char *str);
void hero_strset_release(struct hero_strset *s);

#endif
