/* restore.c - verify an archive into staging, check it, and swap it in. */
#include "hero/restore.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "internal.h"
#include "plan.h"
#include "sqlite_util.h"
#include "swap.h"

#define COPY_BUF (256 * 1024)

struct restore {
	const struct hero_restore_opts *o;
	struct hero_restore_result *res;
	struct hero_areader *r;
	struct hero_swap swap;
	json_t *manifest;
	json_t *index;
	uint8_t *buf;
	uint64_t bytes;
	struct hero_error *err;
};

static void say(const struct restore *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const struct restore *x, const char *fmt, ...)
{
	if (!x->o->say)
		return;
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	x->o->say(x->o->say_ctx, line);
}

static int parse_manifest(struct restore *x, const char *text, size_t len)
{
	json_error_t je;
	x->manifest = json_loadb(text, len, 0, &je); /* already checked by the reader */
	if (!x->manifest)
		return hero_error(x->err, HERO_EINTEGRITY, "archive damaged: manifest is not valid JSON");
	hero_hex(hero_areader_header(x->r)->archive_id, HERO_ID_BYTES, x->res->archive_id);
	return 0;
}

/* Write the current file entry to PATH under the staging tree. */
static int extract_file(struct restore *x, const struct hero_aentry *e)
{
	int dfd = x->swap.stagingfd;
	char *parent, *base;
	int ret = hero_split_path(e->path, &parent, &base, x->err);
	if (ret < 0)
		return ret;
	if (strcmp(parent, ".") != 0)
		ret = hero_mkdirs_at(dfd, parent, x->err);
	free(parent);
	free(base);
	if (ret < 0)
		return ret;
	int fd = openat(dfd, e->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return hero_error_errno(x->err, HERO_EFAIL, errno, "cannot create '%s' in staging", e->path);
	for (;;) {
		ssize_t n = hero_areader_data(x->r, x->buf, COPY_BUF, x->err);
		if (n < 0) {
			ret = (int)n;
			break;
		}
		if (n == 0)
			break;
		if ((ret = hero_write_all(fd, x->buf, (size_t)n, e->path, x->err)) < 0)
			break;
		x->bytes += (uint64_t)n;
		if (x->o->progress)
			x->o->progress(x->o->progress_ctx, x->bytes);
	}
	if (ret == 0 && fchmod(fd, e->mode) < 0)
		ret = hero_error_errno(x->err, HERO_EFAIL, errno, "cannot set mode of '%s'", e->path);
	if (ret == 0)
		futimens(fd, (struct timespec[2]){ { 0, UTIME_OMIT }, { e->mtime, 0 } });
	if (ret == 0)
		ret = hero_fsync(fd, e->path, x->err);
	close(fd);
	return ret;
}

static int extract_dir(struct restore *x, const struct hero_aentry *e)
{
	int ret = hero_mkdirs_at(x->swap.stagingfd, e->path, x->err);
	if (ret == 0 && fchmodat(x->swap.stagingfd, e->path, e->mode, 0) < 0)
		ret = hero_error_errno(x->err, HERO_EFAIL, errno, "cannot set mode of '%s'", e->path);
	return ret;
}

/* Read every entry; extract unless this is a dry run. Returns once verified. */
static int read_all(struct restore *x)
{
	struct hero_aentry e;
	int ret;
	while ((ret = hero_areader_next(x->r, &e, x->err)) == 1) {
		if (x->o->dry_run)
			continue;
		ret = e.type == HERO_E_DIR ? extract_dir(x, &e) : extract_file(x, &e);
		if (ret < 0)
			return ret;
	}
	if (ret < 0)
		return ret;
	json_error_t je;
	x->index = json_loads(hero_areader_index(x->r), 0, &je);
	if (!x->index)
		return hero_error(x->err, HERO_EINTEGRITY, "archive damaged: index is not valid JSON");
	hero_areader_stats(x->r, &x->res->st);
	return 0;
}

static json_t *find_service(json_t *manifest, const char *name)
{
	json_t *svcs = json_object_get(manifest, "services"), *s;
	size_t i;
	json_array_foreach(svcs, i, s)
	{
		const char *n = json_string_value(json_object_get(s, "name"));
		if (n && name && !strcmp(n, name))
			return s;
	}
	return NULL;
}

static int covered_by_service(json_t *svc, const char *path, const char *context)
{
	json_t *states = json_object_get(svc, "state"), *st;
	size_t i;
	json_array_foreach(states, i, st)
	{
		const char *pat = json_string_value(json_object_get(st, "path"));
		if (pat && hero_pattern_covers(pat, path, context))
			return 1;
	}
	return 0;
}

/* Every entry must lie inside the state its service declares in the manifest,
 * and every database must pass its checks. */
static int check_entries(struct restore *x)
{
	json_t *entries = json_object_get(x->index, "entries"), *e;
	size_t i;
	json_array_foreach(entries, i, e)
	{
		const char *path = json_string_value(json_object_get(e, "path"));
		const char *svc = json_string_value(json_object_get(e, "service"));
		const char *type = json_string_value(json_object_get(e, "type"));
		const char *ctx = json_string_value(json_object_get(e, "context"));
		json_t *s = find_service(x->manifest, svc);
		if (!path || !s || !covered_by_service(s, path, ctx))
			return hero_error(x->err, HERO_EINTEGRITY,
					  "archive refused: entry '%.200s' lies outside the state its service declares",
					  path ? path : "?");
		if (x->o->dry_run || !type || strcmp(type, "sqlite") != 0)
			continue;
		char full[8192];
		snprintf(full, sizeof full, "%s/%s/%s", x->swap.parent, x->swap.staging, path);
		int ret = hero_sqlite_check(full, path, x->err);
		if (ret < 0)
			return ret;
		x->res->databases_checked++;
	}
	return 0;
}

/* Paths of the target that the archive replaces: the archived state of every
 * service it holds, plus that service's derived state (stale once its source
 * data changes) when the target's manifests are known. */
static int owned(void *ctx, const char *rel)
{
	struct restore *x = ctx;
	json_t *svcs = json_object_get(x->manifest, "services"), *s;
	size_t i;
	json_array_foreach(svcs, i, s)
	{
		if (covered_by_service(s, rel, NULL))
			return 1;
		const char *name = json_string_value(json_object_get(s, "name"));
		const struct hero_service *ts = x->o->inv && name ? hero_inventory_find(x->o->inv, name) : NULL;
		for (size_t j = 0; ts && j < ts->n_state; j++)
			if (ts->state[j].class == HERO_CLASS_DERIVED && ts->state[j].type != HERO_STATE_SECRETS &&
			    hero_pattern_covers(ts->state[j].path, rel, NULL))
				return 1;
	}
	return 0;
}

static void describe(struct restore *x)
{
	json_t *svcs = json_object_get(x->manifest, "services"), *s;
	size_t i;
	say(x, "archive %s: %llu entries, %llu bytes, signature verified", x->res->archive_id,
	    (unsigned long long)x->res->st.entries, (unsigned long long)x->res->st.data_bytes);
	json_array_foreach(svcs, i, s)
	{
		say(x, "replace %s %s (schema %lld): %lld entries, %lld bytes",
		    json_string_value(json_object_get(s, "name")), json_string_value(json_object_get(s, "version")),
		    json_integer_value(json_object_get(s, "schema")), json_integer_value(json_object_get(s, "entries")),
		    json_integer_value(json_object_get(s, "bytes")));
	}
	say(x, "keep everything else under %s/%s (secrets, ephemeral and unmanaged files)", x->swap.parent,
	    x->swap.name);
}

int hero_restore(const struct hero_restore_opts *o, struct hero_restore_result *res, struct hero_error *err)
{
	struct restore x = { .o = o, .res = res, .err = err };
	int ret;
	const char *json;
	size_t len;
	memset(res, 0, sizeof *res);
	x.swap.parentfd = x.swap.stagingfd = x.swap.lock_root = x.swap.lock_staging = -1;
	if (!o->trust || !o->trust->n)
		return hero_error(err, HERO_EUSAGE, "no trusted public key: give -p PUBKEY or a trusted-keys directory");
	if (!(x.buf = malloc(COPY_BUF)))
		return hero_error(err, HERO_EFAIL, "out of memory");
	if (o->dry_run)
		ret = hero_swap_recover(o->root, &res->recovered, err) < 0 ? -err->code : 0;
	else
		ret = hero_swap_begin(&x.swap, o->root, err);
	if (ret < 0)
		goto out;
	res->recovered = res->recovered || x.swap.recovered;
	if ((ret = hero_areader_open(&x.r, o->in_fd, o->trust, o->limits, err)) < 0 ||
	    (ret = hero_areader_manifest(x.r, &json, &len, err)) < 0 || (ret = parse_manifest(&x, json, len)) < 0 ||
	    (ret = read_all(&x)) < 0 || (ret = check_entries(&x)) < 0)
		goto out;
	if (o->dry_run) {
		if (hero_split_path(o->root, &x.swap.parent, &x.swap.name, err) == 0)
			describe(&x);
		ret = 0;
		goto out;
	}
	if ((ret = hero_swap_carry(&x.swap, owned, &x, &res->kept, err)) < 0 ||
	    (ret = hero_swap_commit(&x.swap, err)) < 0)
		goto out;
	ret = 0;
out:
	hero_areader_free(x.r);
	hero_swap_end(&x.swap);
	json_decref(x.manifest);
	json_decref(x.index);
	free(x.buf);
	return ret;
}
