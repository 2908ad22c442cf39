/* restore_chain.c - restore a chain of increments: verify each link, apply it
 * to staging in order, and check the staged tree against the last index
 * (docs/decisions/0025-incremental-archives.md). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/internal.h"
#include "restore/restore_priv.h"


/* A refusal decided from the unverified headers and manifests of a chain
 * stands once the links up to LAST (included) have verified. */
static int chain_refuse(struct restore *x, size_t last, int ret)
{
	struct hero_error saved = *x->err;
	for (size_t i = 0; i <= last && i < x->links->n; i++) {
		int r = hero_archive_verify_file(x->links->v[i].path, x->o->trust, x->o->limits, 0, NULL, NULL, NULL,
						 x->err);
		if (r < 0)
			return r;
	}
	*x->err = saved;
	return ret;
}

/* Check the links and, with the last manifest (the state restored), the scope,
 * compatibility and secrets. */
static int chain_prepare(struct restore *x, struct hero_chain *c)
{
	size_t bad = 0;
	json_error_t je;
	int ret;
	for (size_t i = 0; i < x->o->chain->n; i++) {
		struct hero_link l;
		if ((ret = hero_link_read(&l, x->o->chain->v[i], x->err)) == 0)
			ret = hero_chain_push(c, &l, x->err);
		hero_link_release(&l);
		if (ret < 0)
			return ret;
	}
	x->links = c;
	x->res->links = c->n;
	if ((ret = hero_chain_check(c, &bad, x->err)) < 0)
		return chain_refuse(x, bad, ret);
	const struct hero_link *last = &c->v[c->n - 1];
	snprintf(x->res->archive_id, sizeof x->res->archive_id, "%s", last->id);
	if (!(x->manifest = json_loadb(last->manifest, last->manifest_len, 0, &je)))
		return hero_error(x->err, HERO_EINTEGRITY, "archive damaged: manifest is not valid JSON");
	if ((ret = x->steps->decide(x)) < 0)
		return chain_refuse(x, c->n, ret);
	if (x->context_mode)
		return chain_refuse(x, c->n, hero_error(x->err, HERO_EUSAGE,
						       "a chain of increments cannot be restored per context: restore it "
						       "whole into a scratch root, snapshot the context there, and restore that"));
	return 0;
}

/* Remove from staging the paths an increment lists as deleted. A path may be
 * gone already, also when one of its parents became a file in this increment. */
static int apply_deleted(struct restore *x)
{
	json_t *e;
	size_t i;
	json_array_foreach(json_object_get(x->index, "entries"), i, e)
	{
		if (strcmp(hero_rs_jstr(e, "type"), "deleted") != 0)
			continue;
		struct where w;
		struct stat st;
		int ret = x->steps->classify(x, hero_rs_jstr(e, "path"), 0, &w);
		if (ret == 0 && !w.d) {
			free(w.path);
			ret = x->steps->classify(x, hero_rs_jstr(e, "path"), 1, &w);
		}
		if (ret == 0 && w.dest == D_STAGE) {
			if (fstatat(x->swap.stagingfd, w.path, &st, AT_SYMLINK_NOFOLLOW) == 0)
				ret = hero_rmtree_at(x->swap.stagingfd, w.path, x->err);
			else if (errno != ENOENT && errno != ENOTDIR)
				ret = hero_error_errno(x->err, HERO_EFAIL, errno, "cannot stat '%s' in staging", w.path);
		}
		free(w.path);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* Read link L (the I-th) into staging; its manifest must be the one checked. */
static int chain_link(struct restore *x, const struct hero_link *l, size_t i, json_t *prev)
{
	const char *json;
	size_t len;
	struct hero_areader_opts ro = { x->o->trust, x->o->limits, x->o->identity, x->o->passphrase };
	/* a link found in a directory is a regular file: never wait on a FIFO put in its place */
	struct stat sb;
	int ret, fd = open(l->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return hero_error_errno(x->err, HERO_EFAIL, errno, "cannot open archive '%s'", l->path);
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || fcntl(fd, F_SETFL, 0) < 0) {
		close(fd);
		return hero_error(x->err, HERO_EFAIL, "archive '%s' is no longer a regular file", l->path);
	}
	x->applying = i > 0;
	if ((ret = hero_areader_new2(&x->r, fd, &ro, x->err)) < 0 ||
	    (ret = hero_areader_manifest(x->r, &json, &len, x->err)) < 0)
		goto out;
	if (len != l->manifest_len || memcmp(json, l->manifest, len) != 0) {
		ret = hero_error(x->err, HERO_EINTEGRITY, "archive changed while being read");
		goto out;
	}
	if ((ret = x->steps->read_all(x)) < 0 || (prev && (ret = hero_index_check_unchanged(prev, x->index, l->path, x->err)) < 0))
		goto out;
	if (i > 0 && !x->o->dry_run)
		ret = apply_deleted(x);
out:
	if (ret < 0 && !strstr(x->err->msg, l->path))
		hero_error_prefix(x->err, "'%s'", l->path);
	hero_areader_free(x->r);
	x->r = NULL;
	close(fd);
	return ret;
}

/* The staged tree must be exactly the last index's state (within the scope restored). */
static int chain_tree(struct restore *x)
{
	json_t *want = json_object(), *e;
	size_t i;
	int ret = want ? 0 : hero_error(x->err, HERO_EFAIL, "out of memory");
	json_array_foreach(json_object_get(x->index, "entries"), i, e)
	{
		struct where w;
		if (ret < 0 || !strcmp(hero_rs_jstr(e, "type"), "deleted"))
			continue;
		if ((ret = x->steps->classify(x, hero_rs_jstr(e, "path"), !strcmp(hero_rs_jstr(e, "type"), "dir"), &w)) == 0 && w.dest == D_STAGE && json_object_set(want, w.path, e) < 0)
			ret = hero_error(x->err, HERO_EFAIL, "out of memory");
		free(w.path);
	}
	if (ret == 0)
		ret = hero_tree_check(x->swap.stagingfd, want, x->err);
	json_decref(want);
	return ret;
}

/* Counts of the state restored: the last index, every link's bytes. */
static void chain_stats(struct restore *x, const struct hero_chain *c)
{
	struct hero_archive_stats *st = &x->res->st;
	json_t *e;
	size_t i;
	memset(st, 0, sizeof *st);
	json_array_foreach(json_object_get(x->index, "entries"), i, e)
	{
		const char *t = hero_rs_jstr(e, "type");
		if (!strcmp(t, "deleted"))
			continue;
		st->entries++;
		if (strcmp(t, "dir") != 0) {
			st->files++;
			st->data_bytes += (uint64_t)json_integer_value(json_object_get(e, "size"));
		}
	}
	for (size_t k = 0; k < c->n; k++)
		st->archive_bytes += c->v[k].bytes;
}

int hero_rs_restore_chain(struct restore *x, struct hero_chain *c, const struct rs_steps *steps)
{
	x->steps = steps;
	int ret = chain_prepare(x, c);
	json_t *prev = NULL;
	for (size_t i = 0; ret == 0 && i < c->n; i++) {
		ret = chain_link(x, &c->v[i], i, prev);
		json_decref(prev);
		prev = x->index;
		x->index = NULL;
	}
	x->index = prev;
	if (ret == 0 && !x->o->dry_run)
		ret = chain_tree(x);
	if (ret == 0)
		chain_stats(x, c);
	return ret;
}

