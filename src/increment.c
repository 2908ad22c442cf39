/* increment.c - the parent of an incremental archive being written: verified
 * once, then consulted entry by entry (docs/decisions/0025-incremental-archives.md). */
#include <stdlib.h>
#include <string.h>

#include "chain.h"
#include "hero/keys.h"
#include "internal.h"

struct hero_increment {
	char *path;
	char id[HERO_ID_HEX];
	json_t *manifest, *index;
	json_t *state; /* path -> element; entries are taken out as the snapshot meets them */
};

int hero_increment_open(struct hero_increment **out, const char *path, const struct hero_seckey *sk,
			const struct hero_trust *extra, struct hero_error *err)
{
	struct hero_increment *inc = calloc(1, sizeof *inc);
	size_t n = extra ? extra->n : 0;
	struct hero_trust t = { calloc(n + 1, sizeof(struct hero_pubkey)), n + 1 };
	struct hero_header h;
	int ret;
	if (!inc || !t.keys || !(inc->path = strdup(path))) {
		ret = hero_error(err, HERO_EFAIL, "out of memory");
		goto out;
	}
	if (n)
		memcpy(t.keys, extra->keys, n * sizeof *t.keys);
	hero_seckey_pubkey(sk, &t.keys[n]);
	ret = hero_archive_verify_file(path, &t, NULL, 1, &inc->manifest, &inc->index, &h, err);
	if (ret < 0) {
		hero_error_prefix(err, "parent");
		goto out;
	}
	hero_hex(h.archive_id, HERO_ID_BYTES, inc->id);
	if (!(inc->state = hero_index_state(inc->index))) {
		ret = hero_error(err, HERO_EFAIL, "out of memory");
		goto out;
	}
	*out = inc;
	inc = NULL;
	ret = 0;
out:
	free(t.keys);
	hero_increment_free(inc);
	return ret;
}

int hero_increment_check(const struct hero_increment *inc, const char *instance_id, json_t *scope,
			 struct hero_error *err)
{
	const char *inst = json_string_value(json_object_get(inc->manifest, "instance_id"));
	if (!inst || strcmp(inst, instance_id) != 0)
		return hero_error(err, HERO_EUSAGE, "parent '%s' is an archive of instance %s, not of this one (%s)",
				  inc->path, inst ? inst : "?", instance_id);
	char *a = hero_scope_canon(json_object_get(inc->manifest, "scope")), *b = hero_scope_canon(scope);
	int ret = 0;
	if (!a || !b)
		ret = hero_error(err, HERO_EFAIL, "out of memory");
	else if (strcmp(a, b) != 0)
		ret = hero_error(err, HERO_EUSAGE, "parent '%s' has scope '%s', this snapshot '%s': an increment keeps its parent's scope",
				 inc->path, a, b);
	free(a);
	free(b);
	return ret;
}

const char *hero_increment_parent_id(const struct hero_increment *inc)
{
	return inc->id;
}

json_t *hero_increment_take(struct hero_increment *inc, const char *path, enum hero_etype type)
{
	json_t *e = json_object_get(inc->state, path);
	if (!e)
		return NULL;
	/* still referenced by the index array after leaving the map */
	json_object_del(inc->state, path);
	const char *t = json_string_value(json_object_get(e, "type"));
	return t && !strcmp(t, hero_etype_name(type)) ? e : NULL;
}

int hero_increment_finish(struct hero_increment *inc, struct hero_awriter *w, uint64_t *count,
			  struct hero_error *err)
{
	json_t *e;
	size_t i;
	*count = 0;
	json_array_foreach(json_object_get(inc->index, "entries"), i, e)
	{
		const char *p = json_string_value(json_object_get(e, "path"));
		if (!p || !json_object_get(inc->state, p))
			continue;
		int ret = hero_awriter_deleted(w, p, err);
		if (ret < 0)
			return ret;
		(*count)++;
	}
	return 0;
}

void hero_increment_free(struct hero_increment *inc)
{
	if (!inc)
		return;
	free(inc->path);
	json_decref(inc->state);
	json_decref(inc->manifest);
	json_decref(inc->index);
	free(inc);
}
