/* strset.c - a set of strings with open addressing and FNV-1a hashing. */
#include "base/strset.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

int hero_strset_init(struct hero_strset *s)
{
	s->cap = 1024;
	s->n = 0;
	s->slot = calloc(s->cap, sizeof *s->slot);
	return s->slot ? 0 : -1;
}

static size_t find(char **slot, size_t cap, const char *str)
{
	size_t i = (size_t)fnv1a(str) & (cap - 1);
	while (slot[i] && strcmp(slot[i], str) != 0)
		i = (i + 1) & (cap - 1);
	return i;
}

static int grow(struct hero_strset *s)
{
	size_t cap = s->cap * 2;
	char **slot = calloc(cap, sizeof *slot);
	if (!slot)
		return -1;
	for (size_t i = 0; i < s->cap; i++)
		if (s->slot[i])
			slot[find(slot, cap, s->slot[i])] = s->slot[i];
	free(s->slot);
	s->slot = slot;
	s->cap = cap;
	return 0;
}

int hero_strset_add(struct hero_strset *s, const char *str)
{
	if ((s->n + 1) * 2 > s->cap && grow(s) < 0)
		return -1;
	size_t i = find(s->slot, s->cap, str);
	if (s->slot[i])
		return 0;
	s->slot[i] = strdup(str);
	if (!s->slot[i])
		return -1;
	s->n++;
	return 1;
}

int hero_strset_has(const struct hero_strset *s, const char *str)
{
	return s->slot && s->slot[find(s->slot, s->cap, str)] != NULL;
}

void hero_strset_release(struct hero_strset *s)
{
	if (!s->slot)
		return;
	for (size_t i = 0; i < s->cap; i++)
		free(s->slot[i]);
	free(s->slot);
	s->slot = NULL;
	s->cap = s->n = 0;
}
