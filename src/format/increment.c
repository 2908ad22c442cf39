/* increment.c - the parent of an incremental archive being written: verified
 * once, then consulted entry by entry (docs/decisions/0025-incremental-archives.md). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/blake2b.h"
#include "base/internal.h"
#include "format/chain.h"
#include "hero/keys.h"

#define CACHE ".hero/last-index"
#define CACHE_TAG "hero-snap index 1"
#define CACHE_MAX (1024u << 20)

struct hero_increment {
	char *path;
	char id[HERO_ID_HEX];
	json_t *manifest, *index;
	json_t *state; /* path -> element; entries are taken out as the snapshot meets them */
	int verified;
};

int hero_increment_remember(const char *root, const char *archive_id, const char *index_text,
			    struct hero_error *err)
{
	char *path = hero_join(root, CACHE), head[256], hex[65];
	uint8_t digest[32];
	size_t len = strlen(index_text);
	struct hero_blake2b h;
	struct hero_atomic a = HERO_ATOMIC_INIT;
	int ret = 0;
	hero_blake2b_init(&h, 32);
	hero_blake2b_update(&h, index_text, len);
	hero_blake2b_final(&h, digest);
	hero_hex(digest, sizeof digest, hex);
	int n = snprintf(head, sizeof head, "%s %s %zu %s\n", CACHE_TAG, archive_id, len, hex);
	if (!path || n < 0 || (size_t)n >= sizeof head) {
		ret = hero_error(err, HERO_EFAIL, "out of memory");
		goto out;
	}
	/* a cache, checked against its digest when read: not fsync'd */
	if ((ret = hero_atomic_open(&a, path, 0600, HERO_ATOMIC_NOSYNC, err)) < 0 ||
	    (ret = hero_write_all(a.fd, head, (size_t)n, a.tmp, err)) < 0 ||
	    (ret = hero_write_all(a.fd, index_text, len, a.tmp, err)) < 0)
		goto out;
	ret = hero_atomic_commit(&a, err);
out:
	hero_atomic_release(&a);
	free(path);
	return ret;
}

/* The index ROOT remembers for archive ID, or NULL (none, another one, damaged). */
static json_t *recall(const char *root, const char *id)
{
	char *path = hero_join(root, CACHE), head[256], want[65], hex[65], tag[32];
	FILE *f = path ? fopen(path, "re") : NULL;
	json_t *index = NULL;
	char *text = NULL, cid[HERO_ID_HEX];
	size_t len;
	free(path);
	if (!f || !fgets(head, sizeof head, f) ||
	    sscanf(head, "hero-snap index %31s %32s %zu %64s", tag, cid, &len, want) != 4 || strcmp(tag, "1") != 0 ||
	    strcmp(cid, id) != 0 || len > CACHE_MAX || !(text = malloc(len + 1)) || fread(text, 1, len, f) != len)
		goto out;
	uint8_t digest[32];
	struct hero_blake2b h;
	hero_blake2b_init(&h, 32);
	hero_blake2b_update(&h, text, len);
	hero_blake2b_final(&h, digest);
	hero_hex(digest, sizeof digest, hex);
	json_error_t je;
	const char *iid;
	if (!strcmp(hex, want) && (index = json_loadb(text, len, 0, &je)) &&
	    (!(iid = json_string_value(json_object_get(index, "archive_id"))) || strcmp(iid, id) != 0)) {
		json_decref(index);
		index = NULL;
	}
out:
	free(text);
	if (f)
		fclose(f);
	return index;
}

/* The parent from its header and manifest, and the index ROOT remembers for it. */
static int open_remembered(struct hero_increment *inc, const char *path, const char *root)
{
	struct hero_link l;
	struct hero_error ignored = HERO_ERROR_INIT;
	json_error_t je;
	int ret = -1;
	if (hero_link_read(&l, path, &ignored) == 0 && (inc->index = recall(root, l.id)) &&
	    (inc->manifest = json_loadb(l.manifest, l.manifest_len, 0, &je))) {
		snprintf(inc->id, sizeof inc->id, "%s", l.id);
		ret = 0;
	}
	hero_link_release(&l);
	if (ret < 0) {
		json_decref(inc->index);
		inc->index = NULL;
	}
	return ret;
}

int hero_increment_new(struct hero_increment **out, const char *path, const struct hero_seckey *sk,
			const struct hero_trust *extra, const char *root, int verify, struct hero_error *err)
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
	if (verify || !root || open_remembered(inc, path, root) < 0) {
		ret = hero_archive_verify_file(path, &t, NULL, 1, &inc->manifest, &inc->index, &h, err);
		if (ret < 0) {
			hero_error_prefix(err, "parent");
			goto out;
		}
		hero_hex(h.archive_id, HERO_ID_BYTES, inc->id);
		inc->verified = 1;
	}
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

int hero_increment_verified(const struct hero_increment *inc)
{
	return inc->verified;
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
