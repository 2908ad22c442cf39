/* restore.c - verify an archive into staging, check it, and swap it in.
 *
 * Order: lock and recover; read the manifest; decide the scope and check
 * compatibility and secrets (nothing written yet); stream every selected
 * entry into staging while the reader verifies; check databases; migrate
 * older state; quiesce; merge context rows; carry over what is not
 * replaced; swap; resume and wait for health.
 */
#include "hero/restore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "base/internal.h"
#include "format/chain.h"
#include "pipeline/filewq.h"
#include "restore/swap.h"
#include "state/ctxdb.h"
#include "state/hooks.h"
#include "state/plan.h"
#include "state/secretfile.h"
#include "state/sqlite_util.h"

#include "restore/restore_priv.h"

static void say(const struct restore *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const struct restore *x, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	hero_vsay(x->o->say, x->o->say_ctx, fmt, ap);
	va_end(ap);
}

static int in_list(const struct hero_strlist *l, const char *s)
{
	for (size_t i = 0; l && i < l->n; i++)
		if (!strcmp(l->v[i], s))
			return (int)i + 1;
	return 0;
}

static const struct hero_service *target_service(const struct restore *x, const char *name)
{
	return x->o->inv ? hero_inventory_find(x->o->inv, name) : NULL;
}

/* ---- scope ---- */

static json_t *find_service(json_t *manifest, const char *name)
{
	json_t *s;
	size_t i;
	json_array_foreach(json_object_get(manifest, "services"), i, s)
		if (!strcmp(hero_rs_jstr(s, "name"), name))
			return s;
	return NULL;
}

static int service_has_context(json_t *svc, const char *ctx)
{
	json_t *c;
	size_t i;
	json_array_foreach(json_object_get(svc, "contexts"), i, c)
		if (!strcmp(json_string_value(c), ctx))
			return 1;
	return 0;
}

static int select_services(struct restore *x)
{
	const struct hero_strlist *want = x->o->services;
	x->selected = json_array();
	for (size_t i = 0; want && i < want->n; i++)
		if (!find_service(x->manifest, want->v[i]))
			return hero_error(x->err, HERO_EUSAGE, "archive holds no service '%s'", want->v[i]);
	json_t *s;
	size_t i;
	json_array_foreach(json_object_get(x->manifest, "services"), i, s)
	{
		if (want && want->n && !in_list(want, hero_rs_jstr(s, "name")))
			continue;
		if (x->context_mode && !json_is_true(json_object_get(s, "per_context")))
			continue; /* a context restore leaves instance-wide services alone */
		json_array_append(x->selected, s);
	}
	if (!json_array_size(x->selected))
		return hero_error(x->err, HERO_EUSAGE, "nothing to restore: no selected service in the archive");
	return 0;
}

static int select_contexts(struct restore *x)
{
	const struct hero_restore_opts *o = x->o;
	json_t *scope = json_object_get(x->manifest, "scope");
	if (o->as && !o->context)
		return hero_error(x->err, HERO_EUSAGE, "--as needs --context");
	if (o->context) {
		if (!hero_context_valid(o->context))
			return hero_error(x->err, HERO_EUSAGE, "invalid context name '%.80s'", o->context);
		if (o->as && !hero_context_valid(o->as))
			return hero_error(x->err, HERO_EUSAGE, "invalid context name '%.80s'", o->as);
		x->context_mode = 1;
		if (hero_strlist_push(&x->from, o->context) < 0 || hero_strlist_push(&x->to, o->as ? o->as : o->context) < 0)
			return hero_error(x->err, HERO_EFAIL, "out of memory");
		return 0;
	}
	if (strcmp(hero_rs_jstr(scope, "kind"), "contexts") != 0)
		return 0;
	/* An archive made for some contexts restores exactly those, never whole services. */
	x->context_mode = 1;
	json_t *c;
	size_t i;
	json_array_foreach(json_object_get(scope, "contexts"), i, c)
	{
		const char *name = json_string_value(c);
		if (!name || !hero_context_valid(name))
			return hero_error(x->err, HERO_EINTEGRITY, "archive refused: invalid context name in its scope");
		if (hero_strlist_push(&x->from, name) < 0 || hero_strlist_push(&x->to, name) < 0)
			return hero_error(x->err, HERO_EFAIL, "out of memory");
	}
	return 0;
}

static int check_contexts_present(struct restore *x)
{
	for (size_t k = 0; k < x->from.n; k++) {
		int found = 0;
		json_t *s;
		size_t i;
		json_array_foreach(x->selected, i, s)
			found |= service_has_context(s, x->from.v[k]);
		if (!found)
			return hero_error(x->err, HERO_EUSAGE, "archive holds no context '%s'", x->from.v[k]);
	}
	return 0;
}

/* ---- compatibility and secrets: checked before any byte is written ---- */

static int check_compat(struct restore *x)
{
	json_t *s;
	size_t i;
	if (!x->o->inv)
		return hero_error(x->err, HERO_EFAIL, "cannot check compatibility: the target's manifests did not load");
	json_array_foreach(x->selected, i, s)
	{
		const struct hero_service *t = target_service(x, hero_rs_jstr(s, "name"));
		long long schema = json_integer_value(json_object_get(s, "schema"));
		if (!t)
			return hero_error(x->err, HERO_ECOMPAT, "target does not know service '%s' (no manifest for it)",
					  hero_rs_jstr(s, "name"));
		if (schema > t->schema)
			return hero_error(x->err, HERO_ECOMPAT,
					  "service '%s': archive schema %lld is newer than the target's schema %d", t->name,
					  schema, t->schema);
	}
	return 0;
}

static int check_secrets(struct restore *x)
{
	struct hero_strlist have = { 0 }, missing = { 0 };
	int ret = hero_secret_names(x->o->inv, x->o->root, x->o->secrets_command, &have, x->err);
	json_t *s, *n;
	size_t i, j;
	/* names the archive carries (encrypted) will be added to the target */
	json_array_foreach(json_object_get(x->manifest, "secrets_included"), i, n)
		if (ret == 0 && json_string_value(n) && hero_strlist_push(&have, json_string_value(n)) < 0)
			ret = hero_error(x->err, HERO_EFAIL, "out of memory");
	json_array_foreach(x->selected, i, s)
		json_array_foreach(json_object_get(s, "secrets"), j, n)
	{
		const char *name = json_string_value(n);
		if (ret == 0 && name && !in_list(&have, name) && !in_list(&missing, name) &&
		    hero_strlist_push(&missing, name) < 0)
			ret = hero_error(x->err, HERO_EFAIL, "out of memory");
	}
	if (ret == 0 && missing.n) {
		char list[1024] = "";
		size_t off = 0;
		for (size_t k = 0; k < missing.n && off < sizeof list; k++)
			off += (size_t)snprintf(list + off, sizeof list - off, "%s%s", k ? ", " : "", missing.v[k]);
		if (x->o->allow_missing_secrets)
			say(x, "warning: the target lacks secrets %s (allowed)", list);
		else
			ret = hero_error(x->err, HERO_ESECRETS,
					 "the target lacks secrets the archive needs: %s (provide them, or --allow-missing-secrets)",
					 list);
	}
	hero_strlist_release(&have);
	hero_strlist_release(&missing);
	return ret;
}

/* ---- the target governs: the archive's manifest is a claim, checked ---- */

/* The archive's manifest names services, contexts and schemas that are printed,
 * looked up and compared: each must be well formed before anything uses it. */
static int check_manifest(struct restore *x)
{
	json_t *s, *c;
	size_t i, j;
	char q[160];
	json_t *services = json_object_get(x->manifest, "services");
	if (!json_is_array(services))
		return hero_error(x->err, HERO_EINTEGRITY, "archive refused: its manifest lists no services");
	json_array_foreach(services, i, s)
	{
		json_t *name = json_object_get(s, "name"), *schema = json_object_get(s, "schema");
		if (!json_is_string(name) || !hero_service_valid(json_string_value(name))) {
			hero_path_quote(json_is_string(name) ? json_string_value(name) : "", q, sizeof q);
			return hero_error(x->err, HERO_EINTEGRITY, "archive refused: invalid service name '%s' in its manifest", q);
		}
		const char *n = json_string_value(name);
		if (!json_is_integer(schema) || json_integer_value(schema) < 0 || json_integer_value(schema) > 999999999)
			return hero_error(x->err, HERO_EINTEGRITY,
					  "archive refused: service '%s' declares no valid schema (a non-negative integer)", n);
		if (!json_is_boolean(json_object_get(s, "per_context")) || !json_is_array(json_object_get(s, "state")))
			return hero_error(x->err, HERO_EINTEGRITY, "archive refused: service '%s' is malformed in its manifest", n);
		json_array_foreach(json_object_get(s, "contexts"), j, c)
			if (!json_is_string(c) || !hero_context_valid(json_string_value(c))) {
				hero_path_quote(json_is_string(c) ? json_string_value(c) : "", q, sizeof q);
				return hero_error(x->err, HERO_EINTEGRITY,
						  "archive refused: service '%s' lists an invalid context name '%s'", n, q);
			}
		for (size_t k = 0; k < i; k++)
			if (!strcmp(hero_rs_jstr(json_array_get(services, k), "name"), n))
				return hero_error(x->err, HERO_EINTEGRITY, "archive refused: service '%s' is listed twice", n);
	}
	return 0;
}

static const struct hero_state *target_decl(const struct hero_service *t, const char *path)
{
	for (size_t j = 0; j < t->n_state; j++)
		if (!strcmp(t->state[j].path, path))
			return &t->state[j];
	return NULL;
}

/* Every state declaration of every selected service must be one the target's
 * manifest has, alike in path, type, class and context column, and one the
 * target archives: a declaration the target does not have, or has otherwise,
 * is refused, never followed. From here on the restore uses the target's. */
static int govern(struct restore *x)
{
	json_t *s, *d;
	size_t i, j, n = 0;
	json_array_foreach(x->selected, i, s)
		n += json_array_size(json_object_get(s, "state"));
	if (!(x->decls = calloc(n ? n : 1, sizeof *x->decls)))
		return hero_error(x->err, HERO_EFAIL, "out of memory");
	json_array_foreach(x->selected, i, s)
	{
		const char *name = hero_rs_jstr(s, "name");
		const struct hero_service *t = target_service(x, name); /* check_compat: it has one */
		if (json_is_true(json_object_get(s, "per_context")) != !!t->per_context)
			return hero_error(x->err, HERO_EINTEGRITY,
					  "archive refused: service '%s' is %s in the archive but %s on the target", name,
					  t->per_context ? "not per-context" : "per-context",
					  t->per_context ? "per-context" : "not per-context");
		json_array_foreach(json_object_get(s, "state"), j, d)
		{
			char q[160];
			json_t *col = json_object_get(d, "context_column");
			const char *path = hero_rs_jstr(d, "path");
			const struct hero_state *st = target_decl(t, path);
			hero_path_quote(path, q, sizeof q);
			if (!st)
				return hero_error(x->err, HERO_EINTEGRITY,
						  "archive refused: service '%s' declares state '%s' that the target's manifest does not have",
						  name, q);
			if (strcmp(hero_rs_jstr(d, "type"), hero_state_type_name(st->type)) ||
			    strcmp(hero_rs_jstr(d, "class"), hero_class_name(st->class)) ||
			    (col && !json_is_null(col) && !json_is_string(col)) ||
			    strcmp(json_is_string(col) ? json_string_value(col) : "",
				   st->context_column ? st->context_column : ""))
				return hero_error(x->err, HERO_EINTEGRITY,
						  "archive refused: service '%s' declares state '%s' with another type, class or "
						  "context column than the target's manifest (%s, %s%s%s)",
						  name, q, hero_state_type_name(st->type), hero_class_name(st->class),
						  st->context_column ? ", context column " : "",
						  st->context_column ? st->context_column : "");
			if (!hero_state_archived(st))
				return hero_error(x->err, HERO_EINTEGRITY,
						  "archive refused: service '%s' carries state '%s' that the target never restores (%s)",
						  name, q, st->type == HERO_STATE_SECRETS ? "secrets" : hero_class_name(st->class));
			for (size_t k = 0; k < x->n_decls; k++)
				if (x->decls[k].st == st)
					return hero_error(x->err, HERO_EINTEGRITY,
							  "archive refused: service '%s' declares state '%s' twice", name, q);
			x->decls[x->n_decls++] = (struct decl){ s, t, st, (int)json_integer_value(json_object_get(s, "schema")) };
		}
	}
	return 0;
}

static int hero_rs_decide(struct restore *x)
{
	int ret;
	if ((ret = check_manifest(x)) < 0 || (ret = select_contexts(x)) < 0 || (ret = select_services(x)) < 0 ||
	    (ret = check_contexts_present(x)) < 0 || (ret = check_compat(x)) < 0 || (ret = govern(x)) < 0)
		return ret;
	return check_secrets(x);
}

/* Whether PATH (a directory when IS_DIR) is an entry of declaration ST: its
 * file, its directory, or something beneath its directory that its include
 * and exclude globs take. {context} matches one whole component that is a
 * valid context name, copied into CTX (N bytes; "" without {context}). */
static int decl_match(const struct hero_state *st, const char *path, int is_dir, char *ctx, size_t n)
{
	const char *a = st->path, *b = path;
	ctx[0] = '\0';
	for (;;) {
		size_t pl = strcspn(a, "/"), bl = strcspn(b, "/");
		if (bl == 0)
			return 0;
		if (pl == 9 && !strncmp(a, "{context}", 9)) {
			if (bl >= n)
				return 0;
			memcpy(ctx, b, bl);
			ctx[bl] = '\0';
			if (!hero_context_valid(ctx))
				return 0;
		} else if (pl != bl || strncmp(a, b, pl) != 0) {
			return 0;
		}
		a += pl;
		b += bl;
		if (a[0] == '\0' || (a[0] == '/' && a[1] == '\0'))
			break;
		if (*b != '/')
			return 0;
		a++;
		b++;
	}
	int dir_decl = *a == '/';
	if (*b == '\0')
		return dir_decl ? is_dir : !is_dir; /* the declared file or directory itself */
	if (!dir_decl || *b != '/')
		return 0;
	/* beneath a declared directory: every directory on the way, then the entry */
	for (b++;;) {
		size_t l = strcspn(b, "/");
		char comp[256];
		if (l == 0 || l >= sizeof comp)
			return 0;
		memcpy(comp, b, l);
		comp[l] = '\0';
		if (b[l] == '\0')
			return hero_state_match(st, comp, is_dir);
		if (!hero_state_match(st, comp, 1))
			return 0;
		b += l + 1;
	}
}

/* The selected declaration PATH lies in, or NULL. */
static const struct decl *find_decl(const struct restore *x, const char *path, int is_dir, char *ctx, size_t n)
{
	for (size_t i = 0; i < x->n_decls; i++)
		if (decl_match(x->decls[i].st, path, is_dir, ctx, n))
			return &x->decls[i];
	return NULL;
}

/* ---- a dry run's private scratch directory ---- */

/* A dry run writes nothing beside or inside the target: the databases it
 * checks go to a private directory (mode 0700) under $TMPDIR, removed at the end. */
static int dry_begin(struct restore *x)
{
	const char *tmp = getenv("TMPDIR");
	char tmpl[4096];
	snprintf(tmpl, sizeof tmpl, "%s/hero-restore-dry.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(tmpl))
		return hero_error_errno(x->err, HERO_EFAIL, errno, "cannot create a scratch directory in '%s'",
					tmp && *tmp ? tmp : "/tmp");
	if (!(x->dry_dir = strdup(tmpl))) {
		rmdir(tmpl);
		return hero_error(x->err, HERO_EFAIL, "out of memory");
	}
	x->swap.stagingfd = open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (x->swap.stagingfd < 0)
		return hero_error_errno(x->err, HERO_EFAIL, errno, "cannot open '%s'", tmpl);
	return 0;
}

static void dry_end(struct restore *x)
{
	if (!x->dry_dir)
		return;
	struct hero_error ignored = HERO_ERROR_INIT;
	if (x->swap.stagingfd >= 0)
		close(x->swap.stagingfd);
	x->swap.stagingfd = -1;
	hero_rmtree_at(AT_FDCWD, x->dry_dir, &ignored);
	free(x->dry_dir);
	x->dry_dir = NULL;
}

/* ---- where each entry goes ---- */

static int hero_rs_classify(struct restore *x, const char *path, int is_dir, struct where *w)
{
	memset(w, 0, sizeof *w);
	if (!strncmp(path, HERO_SECRETS_PREFIX, strlen(HERO_SECRETS_PREFIX))) {
		w->dest = D_SECRET; /* merged into the target's secrets file */
		w->path = strdup(path + strlen(HERO_SECRETS_PREFIX));
		return w->path ? 0 : hero_error(x->err, HERO_EFAIL, "out of memory");
	}
	const struct decl *d = find_decl(x, path, is_dir, w->ctx, sizeof w->ctx);
	if (!d)
		return 0;
	w->d = d;
	if (!x->context_mode) {
		w->dest = D_STAGE;
		w->path = strdup(path);
	} else if (d->st->context_column) {
		w->dest = D_INCOMING;
		w->path = strdup(path);
	} else if (w->ctx[0] && in_list(&x->from, w->ctx)) {
		w->dest = D_STAGE;
		w->path = hero_pattern_rename(d->st->path, path, x->to.v[in_list(&x->from, w->ctx) - 1]);
	} else {
		return 0; /* another context, or state not partitioned by context */
	}
	return w->path ? 0 : hero_error(x->err, HERO_EFAIL, "out of memory");
}

#define WRITEBACK_MIN (1024 * 1024) /* files this large start their writeback when closed */

/* Create PATH in staging; its parent directories only when they are missing
 * (an archive lists a directory before its entries, so they rarely are). */
static int create_staged(struct restore *x, const char *path, int *fdp)
{
	int dfd = x->swap.stagingfd, flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
	int fd = openat(dfd, path, flags, 0600);
	if (fd < 0 && errno == ENOENT) {
		char *parent, *base;
		int ret = hero_split_path(path, &parent, &base, x->err);
		if (ret < 0)
			return ret;
		if (strcmp(parent, ".") != 0)
			ret = hero_mkdirs_at(dfd, parent, x->err);
		free(parent);
		free(base);
		if (ret < 0)
			return ret;
		fd = openat(dfd, path, flags, 0600);
	}
	if (fd < 0)
		return hero_error_errno(x->err, HERO_EFAIL, errno, "cannot create '%s' in staging", path);
	*fdp = fd;
	return 0;
}

static int extract_to(struct restore *x, const char *path, const struct hero_aentry *e)
{
	int fd = -1, ret = create_staged(x, path, &fd);
	if (ret < 0 || (ret = hero_fwq_open(x->fwq, fd, path, x->err)) < 0)
		return ret;
	for (;;) {
		size_t cap;
		uint8_t *room = hero_fwq_room(x->fwq, &cap);
		ssize_t n = hero_areader_data(x->r, room, cap, x->err);
		if (n <= 0) {
			ret = (int)n;
			break;
		}
		if ((ret = hero_fwq_put(x->fwq, (size_t)n, x->err)) < 0)
			break;
		x->bytes += (uint64_t)n;
		if (x->o->progress)
			x->o->progress(x->o->progress_ctx, x->bytes);
	}
	/* The writing thread (src/filewq.c) writes the file, sets its mode and time
	 * (what the next increment compares), starts the writeback of a large one
	 * and closes it; hero_rs_read_all() waits for it, hero_rs_sync_staging() makes it
	 * durable before the swap (docs/decisions/0018-restore-syncfs.md). */
	struct hero_error ignored = HERO_ERROR_INIT;
	int closed = hero_fwq_close(x->fwq, e->mode, e->mtime, e->size >= WRITEBACK_MIN, ret < 0 ? &ignored : x->err);
	return ret < 0 ? ret : closed;
}

/* Make every file written into staging durable with one syncfs(2) of its file
 * system instead of one fsync(2) per file: one journal commit and one device
 * flush, and the same errors (Linux 5.8 and later report any writeback error
 * of the file system since STAGINGFD was opened). */
static int hero_rs_sync_staging(struct restore *x)
{
	if (syncfs(x->swap.stagingfd) < 0)
		return hero_error_errno(x->err, HERO_EFAIL, errno, "cannot flush the restored files to disk");
	return 0;
}

static int add_column_db(struct restore *x, const struct where *w, char **incoming)
{
	char name[64];
	snprintf(name, sizeof name, INCOMING "/%llu.db", (unsigned long long)x->n_incoming++);
	struct column_db *v = realloc(x->cdb, (x->n_cdb + 1) * sizeof *v);
	if (!v)
		return hero_error(x->err, HERO_EFAIL, "out of memory");
	x->cdb = v;
	struct column_db *c = &x->cdb[x->n_cdb++];
	c->path = strdup(w->path);
	c->incoming = strdup(name);
	c->col = w->d->st->context_column;
	c->service = w->d->t->name;
	*incoming = c->incoming;
	return c->path && c->incoming ? 0 : hero_error(x->err, HERO_EFAIL, "out of memory");
}

/* An entry of an increment replaces what staging holds at PATH, except that a
 * directory keeps its content (the entries beneath are listed on their own). */
static int clear_for(struct restore *x, const char *path, int isdir)
{
	struct stat st;
	if (fstatat(x->swap.stagingfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0
			: hero_error_errno(x->err, HERO_EFAIL, errno, "cannot stat '%s' in staging", path);
	if (isdir && S_ISDIR(st.st_mode))
		return 0;
	return hero_rmtree_at(x->swap.stagingfd, path, x->err);
}

static int extract(struct restore *x, const struct hero_aentry *e)
{
	struct where w;
	int ret = hero_rs_classify(x, e->path, e->type == HERO_E_DIR, &w);
	if (ret < 0 || w.dest == D_SKIP)
		goto out;
	/* a dry run extracts only the databases and the secret lines, to check them as the restore would */
	if (x->o->dry_run && w.dest != D_SECRET && (e->type == HERO_E_DIR || w.d->st->type != HERO_STATE_SQLITE))
		goto out;
	if (x->applying && w.dest == D_STAGE && (ret = clear_for(x, w.path, e->type == HERO_E_DIR)) < 0)
		goto out;
	if (e->type == HERO_E_DIR) {
		if (w.dest == D_STAGE && (ret = hero_mkdirs_at(x->swap.stagingfd, w.path, x->err)) == 0 &&
		    fchmodat(x->swap.stagingfd, w.path, e->mode, 0) < 0)
			ret = hero_error_errno(x->err, HERO_EFAIL, errno, "cannot set mode of '%s'", w.path);
		goto out;
	}
	if (w.dest == D_INCOMING) {
		char *incoming = NULL;
		if ((ret = add_column_db(x, &w, &incoming)) == 0)
			ret = extract_to(x, incoming, e);
	} else if (w.dest == D_SECRET) {
		char name[64];
		snprintf(name, sizeof name, INCOMING "/secrets-%zu", x->secret_paths.n);
		if (hero_strlist_push(&x->secret_paths, w.path) < 0 || hero_strlist_push(&x->secret_incoming, name) < 0)
			ret = hero_error(x->err, HERO_EFAIL, "out of memory");
		else
			ret = extract_to(x, name, e);
	} else {
		ret = extract_to(x, w.path, e);
	}
out:
	free(w.path);
	return ret;
}

static int hero_rs_read_all(struct restore *x)
{
	struct hero_aentry e;
	int ret;
	while ((ret = hero_areader_next(x->r, &e, x->err)) == 1)
		if ((ret = extract(x, &e)) < 0)
			return ret;
	if (ret < 0 || (ret = hero_fwq_drain(x->fwq, x->err)) < 0)
		return ret;
	json_error_t je;
	x->index = json_loads(hero_areader_index(x->r), 0, &je);
	if (!x->index)
		return hero_error(x->err, HERO_EINTEGRITY, "archive damaged: index is not valid JSON");
	hero_areader_stats(x->r, &x->res->st);
	return 0;
}

/* ---- checks after verification ---- */

static int staged_full_path(const struct restore *x, const char *rel, char *buf, size_t n)
{
	int w = x->dry_dir ? snprintf(buf, n, "%s/%s", x->dry_dir, rel)
			   : snprintf(buf, n, "%s/%s/%s", x->swap.parent, x->swap.staging, rel);
	return w < 0 || (size_t)w >= n ? -1 : 0;
}

/* Whether the target's manifests declare PATH as an instance-wide secrets file. */
static int target_declares_secrets(const struct restore *x, const char *path)
{
	for (size_t i = 0; x->o->inv && i < x->o->inv->n; i++) {
		const struct hero_service *s = &x->o->inv->services[i];
		for (size_t j = 0; j < s->n_state; j++)
			if (s->state[j].type == HERO_STATE_SECRETS && !hero_state_per_context(&s->state[j]) &&
			    !strcmp(s->state[j].path, path))
				return 1;
	}
	return 0;
}

/* The target's own database a restored one at PATH (of declaration ST) is
 * compared with: the live one at PATH, else, for a context the target does
 * not have yet, the same database of the first context it has (malloc'd;
 * NULL when there is none, or out of memory). */
static char *reference_db(const struct restore *x, const struct hero_state *st, const char *path)
{
	struct stat sb;
	char *live = hero_join(x->o->root, path);
	if (!live || (stat(live, &sb) == 0 && S_ISREG(sb.st_mode)))
		return live;
	free(live);
	const char *mark = strstr(st->path, "{context}");
	if (!mark)
		return NULL;
	char *parent = strndup(st->path, (size_t)(mark - st->path));
	char *dir = parent ? hero_join(x->o->root, parent) : NULL;
	free(parent);
	DIR *d = dir ? opendir(dir) : NULL;
	free(dir);
	struct dirent *de;
	char *best = NULL;
	while (d && (de = readdir(d))) {
		if (!hero_context_valid(de->d_name) || (best && strcmp(de->d_name, best) >= 0))
			continue;
		char *rel = hero_pattern_rename(st->path, path, de->d_name);
		char *full = rel ? hero_join(x->o->root, rel) : NULL;
		if (full && stat(full, &sb) == 0 && S_ISREG(sb.st_mode)) {
			free(best);
			best = strdup(de->d_name);
		}
		free(rel);
		free(full);
	}
	if (d)
		closedir(d);
	if (!best)
		return NULL;
	char *rel = hero_pattern_rename(st->path, path, best);
	live = rel ? hero_join(x->o->root, rel) : NULL;
	free(rel);
	free(best);
	return live;
}

static int selected_service(const struct restore *x, const char *name)
{
	json_t *s;
	size_t i;
	json_array_foreach(x->selected, i, s)
		if (!strcmp(hero_rs_jstr(s, "name"), name))
			return 1;
	return 0;
}

/* Every entry of a selected service lies inside a declaration of the target's,
 * in the service the target puts it, and is labelled with the target's type;
 * every entry at a database path is checked as a database, whatever its label. */
static int check_entries(struct restore *x)
{
	json_t *e;
	size_t i;
	size_t next_cdb = 0;
	json_array_foreach(json_object_get(x->index, "entries"), i, e)
	{
		const char *path = hero_rs_jstr(e, "path"), *type = hero_rs_jstr(e, "type");
		char q[256];
		if (!strcmp(type, "deleted"))
			continue;
		hero_path_quote(path, q, sizeof q);
		if (!strncmp(path, HERO_SECRETS_PREFIX, strlen(HERO_SECRETS_PREFIX))) {
			if (!target_declares_secrets(x, path + strlen(HERO_SECRETS_PREFIX)))
				return hero_error(x->err, HERO_EINTEGRITY,
						  "archive refused: secrets file '%s' is not declared by the target's manifests",
						  q + strlen(HERO_SECRETS_PREFIX));
			continue;
		}
		int is_dir = !strcmp(type, "dir");
		struct where w;
		int ret = hero_rs_classify(x, path, is_dir, &w);
		if (ret < 0)
			return ret;
		const char *svc = hero_rs_jstr(e, "service");
		if (!w.d) {
			if (!find_service(x->manifest, svc) || selected_service(x, svc))
				return hero_error(x->err, HERO_EINTEGRITY,
						  "archive refused: entry '%s' lies outside the state its service declares", q);
			continue; /* a service this restore leaves alone */
		}
		const char *want = is_dir ? "dir" : w.d->st->type == HERO_STATE_SQLITE ? "sqlite" : "file";
		if (strcmp(svc, w.d->t->name) != 0)
			ret = hero_error(x->err, HERO_EINTEGRITY,
					 "archive refused: entry '%s' belongs to service '%s' on the target, not to the one its index names",
					 q, w.d->t->name);
		else if (strcmp(type, want) != 0)
			ret = hero_error(x->err, HERO_EINTEGRITY,
					 "archive refused: entry '%s' is labelled '%.20s' in the index, but the target declares it %s", q,
					 type, want);
		else if (w.dest != D_SKIP && w.d->st->type == HERO_STATE_SQLITE && !is_dir) {
			char full[8192];
			const char *rel = w.dest == D_INCOMING ? x->cdb[next_cdb++].incoming : w.path;
			/* its user_version is the schema its archive declares; at the target's own
			 * schema, its triggers and views are those of the target's live copy */
			char *live = w.d->schema == w.d->t->schema ? reference_db(x, w.d->st, w.dest == D_INCOMING ? path : w.path)
								     : NULL;
			struct hero_dbcheck dbw = { w.d->schema, live };
			if (staged_full_path(x, rel, full, sizeof full) < 0)
				ret = hero_error(x->err, HERO_EFAIL, "path too long: '%.200s'", rel);
			else if ((ret = hero_sqlite_check(full, path, &dbw, x->err)) == 0)
				x->res->databases_checked++;
			free(live);
		}
		free(w.path);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* ---- migrations of older state ---- */

static int migrate_file(struct restore *x, const char *rel, const char *label, const struct hero_strlist *files,
			int to)
{
	char full[8192];
	if (staged_full_path(x, rel, full, sizeof full) < 0)
		return hero_error(x->err, HERO_EFAIL, "path too long: '%.200s'", rel);
	int ret = hero_db_migrate(full, label, files, to, x->err);
	if (ret == 0)
		x->res->migrations += files->n;
	return ret;
}

static int migrate(struct restore *x)
{
	json_t *s, *e;
	size_t i, j;
	json_array_foreach(x->selected, i, s)
	{
		const struct hero_service *t = target_service(x, hero_rs_jstr(s, "name"));
		int from = (int)json_integer_value(json_object_get(s, "schema"));
		if (!t || from >= t->schema)
			continue;
		struct hero_strlist files = { 0 };
		int ret = hero_service_migrations(t, x->o->inv->dir, from, &files, x->err);
		for (size_t k = 0; ret == 0 && k < files.n; k++) {
			say(x, "migrate %s schema %d -> %d: %s", t->name, from, t->schema, files.v[k]);
			char line[2048];
			snprintf(line, sizeof line, "%s migration %s", t->name, files.v[k]);
			hero_strlist_push(&x->log, line);
		}
		size_t next_cdb = 0;
		json_array_foreach(json_object_get(x->index, "entries"), j, e)
		{
			if (ret < 0 || x->o->dry_run || !strcmp(hero_rs_jstr(e, "type"), "dir") || !strcmp(hero_rs_jstr(e, "type"), "deleted"))
				continue;
			struct where w;
			if ((ret = hero_rs_classify(x, hero_rs_jstr(e, "path"), 0, &w)) < 0)
				break;
			if (!w.d || w.d->st->type != HERO_STATE_SQLITE) {
				free(w.path);
				continue;
			}
			int mine = w.d->svc == s;
			const char *rel = w.dest == D_INCOMING ? x->cdb[next_cdb++].incoming : w.path;
			if (w.dest != D_SKIP && mine && files.n)
				ret = migrate_file(x, rel, hero_rs_jstr(e, "path"), &files, t->schema);
			free(w.path);
		}
		hero_strlist_release(&files);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* ---- rows of context-column databases ---- */

static int merge_one(struct restore *x, const struct column_db *c)
{
	char staged[8192], incoming[8192];
	char *live = hero_join(x->o->root, c->path);
	int ret = 0;
	if (!live || staged_full_path(x, c->path, staged, sizeof staged) < 0 ||
	    staged_full_path(x, c->incoming, incoming, sizeof incoming) < 0) {
		free(live);
		return hero_error(x->err, HERO_EFAIL, "path too long: '%.200s'", c->path);
	}
	char *parent, *base;
	if ((ret = hero_split_path(c->path, &parent, &base, x->err)) < 0)
		goto out;
	ret = strcmp(parent, ".") ? hero_mkdirs_at(x->swap.stagingfd, parent, x->err) : 0;
	free(parent);
	free(base);
	if (ret < 0)
		goto out;
	struct stat st;
	int have_live = x->swap.root_exists && stat(live, &st) == 0;
	for (size_t k = 0; ret == 0 && k < x->from.n; k++) {
		if (k == 0 && have_live)
			ret = hero_sqlite_snapshot_live(live, staged, x->err);
		if (k == 0 && !have_live) {
			/* no such database in the target yet: start from the archive's, this context only */
			ret = hero_sqlite_snapshot(incoming, staged, x->err);
			if (ret == 0)
				ret = hero_ctxdb_filter(staged, c->col, &x->from, x->err);
			for (size_t m = 0; ret == 0 && m < x->from.n; m++)
				if (strcmp(x->from.v[m], x->to.v[m]) != 0)
					ret = hero_ctxdb_rename(staged, c->col, x->from.v[m], x->to.v[m], x->err);
			break;
		}
		uint64_t rows = 0;
		if (ret == 0)
			ret = hero_ctxdb_merge(staged, incoming, c->col, x->from.v[k], x->to.v[k], &rows, x->err);
		x->res->rows += rows;
		if (ret == 0) {
			char line[1024];
			snprintf(line, sizeof line, "%s rows of context %s in %s: %llu", c->service, x->to.v[k], c->path,
				 (unsigned long long)rows);
			hero_strlist_push(&x->log, line);
		}
	}
	if (ret == 0)
		ret = hero_sqlite_check(staged, c->path, &(struct hero_dbcheck){ -1, NULL }, x->err);
out:
	free(live);
	return ret;
}

/* Create PATH in staging (parents too) holding TEXT, with MODE, fsync'd. */
static int write_staged(struct restore *x, const char *path, const char *text, mode_t mode)
{
	char *parent, *base;
	int ret = hero_split_path(path, &parent, &base, x->err);
	if (ret < 0)
		return ret;
	if (strcmp(parent, ".") != 0)
		ret = hero_mkdirs_at(x->swap.stagingfd, parent, x->err);
	free(parent);
	free(base);
	if (ret < 0)
		return ret;
	int fd = openat(x->swap.stagingfd, path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return hero_error_errno(x->err, HERO_EFAIL, errno, "cannot create '%s' in staging", path);
	ret = hero_write_all(fd, text, strlen(text), path, x->err);
	if (ret == 0 && fchmod(fd, mode) < 0)
		ret = hero_error_errno(x->err, HERO_EFAIL, errno, "cannot set mode of '%s'", path);
	if (ret == 0)
		ret = hero_fsync(fd, path, x->err);
	close(fd);
	return ret;
}

/* Put the target's secrets file LIVE (stat LST) at PATH in the new tree: itself
 * (a hard link, as carried over) when nothing is added, else TEXT with its mode
 * and owner, so the service that reads it still can; 0600 for a new file. */
static int stage_secrets(struct restore *x, const char *live, const struct stat *lst, const char *path,
			 const char *text, size_t added)
{
	if (lst && !added) {
		int ret = 0;
		char *parent, *base;
		if ((ret = hero_split_path(path, &parent, &base, x->err)) < 0)
			return ret;
		if (strcmp(parent, ".") != 0)
			ret = hero_mkdirs_at(x->swap.stagingfd, parent, x->err);
		free(parent);
		free(base);
		if (ret == 0 && linkat(AT_FDCWD, live, x->swap.stagingfd, path, 0) < 0)
			ret = hero_error_errno(x->err, HERO_EFAIL, errno, "cannot keep '%s'", path);
		return ret;
	}
	int reg = lst && S_ISREG(lst->st_mode);
	int ret = write_staged(x, path, text, reg ? lst->st_mode & 0777 : 0600);
	if (ret == 0 && reg && fchownat(x->swap.stagingfd, path, lst->st_uid, lst->st_gid, AT_SYMLINK_NOFOLLOW) < 0)
		ret = hero_error_errno(x->err, HERO_EFAIL, errno, "cannot give '%s' its owner back", path);
	return ret;
}

/* *ALLOWED: the secret names the TARGET's manifests declare for the services
 * this restore selects (hero_secrets_merge refuses any other name). Returns
 * the archive's secrets TEXT without the lines of names that only services
 * this restore leaves out declare (NULL when out of memory). */
static char *keep_selected_secrets(struct restore *x, const char *text, struct hero_strlist *allowed)
{
	struct hero_strlist skip = { 0 };
	json_t *s, *n, *sel;
	size_t i, j, k;
	int fail = 0;
	json_array_foreach(x->selected, i, s)
	{
		const struct hero_service *t = target_service(x, hero_rs_jstr(s, "name"));
		for (j = 0; t && j < t->secrets.n; j++)
			fail |= hero_strlist_push(allowed, t->secrets.v[j]) < 0;
	}
	json_array_foreach(json_object_get(x->manifest, "services"), i, s)
	{
		int selected = 0;
		json_array_foreach(x->selected, k, sel)
			selected |= sel == s;
		json_array_foreach(json_object_get(s, "secrets"), j, n)
			if (!selected && json_string_value(n) && !in_list(allowed, json_string_value(n)))
				fail |= hero_strlist_push(&skip, json_string_value(n)) < 0;
	}
	char *out = fail ? NULL : hero_secrets_drop(text, &skip);
	hero_strlist_release(&skip);
	return out;
}

/* The target's secrets file, plus the names it lacks from the archive's copy;
 * the target's own values always win. */
static int merge_secrets(struct restore *x)
{
	int ret = 0;
	for (size_t i = 0; i < x->secret_paths.n && ret == 0; i++) {
		const char *path = x->secret_paths.v[i];
		char staged[8192], incoming[8192];
		char *live = hero_join(x->o->root, path);
		if (!live || staged_full_path(x, x->secret_incoming.v[i], incoming, sizeof incoming) < 0 ||
		    staged_full_path(x, path, staged, sizeof staged) < 0) {
			free(live);
			return hero_error(x->err, HERO_EFAIL, "path too long: '%.200s'", path);
		}
		struct stat lst;
		int have = x->swap.root_exists && lstat(live, &lst) == 0;
		char *mine = have ? hero_read_text(live) : NULL, *theirs = hero_read_text(incoming), *merged = NULL;
		struct hero_strlist added = { 0 }, allowed = { 0 };
		/* only the names the target declares for the services this restore selects */
		char *wanted = theirs ? keep_selected_secrets(x, theirs, &allowed) : NULL;
		if (have && !mine)
			ret = hero_error_errno(x->err, HERO_EFAIL, errno, "cannot read the target's secrets file '%s'", path);
		else if (!wanted)
			ret = hero_error(x->err, HERO_EFAIL, "cannot read the archive's secrets for '%s'", path);
		else if ((ret = hero_secrets_merge(mine, wanted, &allowed, &merged, &added, x->err)) < 0)
			hero_error_prefix(x->err, "archive's secrets for '%s'", path);
		hero_strlist_release(&allowed);
		if (ret == 0 && have && S_ISLNK(lst.st_mode) && added.n)
			ret = hero_error(x->err, HERO_EFAIL,
					 "secrets file '%s' is a symbolic link: add %s%s to the file it points to, then restore again",
					 path, added.v[0], added.n > 1 ? " and the other missing names" : "");
		if (wanted) {
			sodium_memzero(wanted, strlen(wanted));
			free(wanted);
		}
		if (ret == 0 && !x->o->dry_run)
			ret = stage_secrets(x, live, have ? &lst : NULL, path, merged, added.n);
		free(live);
		if (ret == 0) {
			char line[1024] = "";
			size_t off = 0;
			for (size_t k = 0; k < added.n && off < sizeof line; k++)
				off += (size_t)snprintf(line + off, sizeof line - off, "%s%s", k ? ", " : "", added.v[k]);
			say(x, "secrets %s to %s: %s", x->o->dry_run ? "to add" : "added", path,
			    added.n ? line : "none (the target has them all)");
			char entry[1200];
			snprintf(entry, sizeof entry, "secrets added to %s: %s", path, added.n ? line : "none");
			hero_strlist_push(&x->log, entry);
		}
		char *bufs[] = { mine, theirs, merged };
		for (size_t k = 0; k < 3; k++)
			if (bufs[k]) {
				sodium_memzero(bufs[k], strlen(bufs[k]));
				free(bufs[k]);
			}
		hero_strlist_release(&added);
	}
	return ret;
}

static int merge_rows(struct restore *x)
{
	for (size_t i = 0; i < x->n_cdb; i++) {
		int ret = merge_one(x, &x->cdb[i]);
		if (ret < 0)
			return ret;
	}
	return hero_rmtree_at(x->swap.stagingfd, INCOMING, x->err);
}

/* ---- what the restore replaces ---- */

static int owned_derived(const struct restore *x, json_t *svc, const char *rel, const char *ctx)
{
	const struct hero_service *t = target_service(x, hero_rs_jstr(svc, "name"));
	for (size_t j = 0; t && j < t->n_state; j++) {
		const struct hero_state *st = &t->state[j];
		if (st->class != HERO_CLASS_DERIVED || st->type == HERO_STATE_SECRETS)
			continue;
		if (ctx && !hero_state_per_context(st))
			continue;
		if (hero_pattern_covers(st->path, rel, ctx))
			return 1;
	}
	return 0;
}

static int decl_has_globs(const struct hero_state *st)
{
	return st->include.n || st->exclude.n;
}

/* Whether the target's path REL (a directory when IS_DIR) is replaced as part
 * of declaration ST (in context CTX, when not NULL): 1 for an entry of it, or
 * the journal of one of its databases, never carried next to a restored one;
 * HERO_CARRY_BENEATH for a directory of it whose content the globs sort entry
 * by entry (what they leave out is not the declared state, and stays). */
static int decl_owns(const struct hero_state *st, const char *rel, int is_dir, const char *ctx)
{
	char c[256];
	if (decl_match(st, rel, is_dir, c, sizeof c) && (!ctx || !strcmp(c, ctx)))
		return is_dir && decl_has_globs(st) ? HERO_CARRY_BENEATH : 1;
	static const char *const sfx[] = { "-wal", "-shm", "-journal" };
	size_t n = strlen(rel);
	for (size_t i = 0; !is_dir && st->type == HERO_STATE_SQLITE && i < 3; i++) {
		size_t l = strlen(sfx[i]);
		if (n <= l || strcmp(rel + n - l, sfx[i]) != 0)
			continue;
		char *db = strndup(rel, n - l);
		int hit = db && decl_match(st, db, 0, c, sizeof c) && (!ctx || !strcmp(c, ctx));
		free(db);
		if (hit)
			return 1;
	}
	return 0;
}

/* Paths of the target the restore replaces: the selected declarations (in
 * context mode: the target contexts' part of them and the merged databases),
 * plus the selected services' derived state, stale once its source changed. */
static int owned_as(struct restore *x, const char *rel, int is_dir)
{
	if (!strcmp(rel, ".hero/restore.log") || in_list(&x->secret_paths, rel))
		return 1;
	int own = 0;
	for (size_t i = 0; i < x->n_decls && own != 1; i++) {
		const struct decl *d = &x->decls[i];
		for (size_t k = 0; k < (x->context_mode ? x->to.n : 1) && own != 1; k++) {
			if (x->context_mode && !strstr(d->st->path, "{context}"))
				break;
			int o = decl_owns(d->st, rel, is_dir, x->context_mode ? x->to.v[k] : NULL);
			own = o > own ? o : own;
		}
	}
	if (own == 1)
		return 1;
	json_t *s;
	size_t i;
	json_array_foreach(x->selected, i, s)
	{
		if (!x->context_mode && owned_derived(x, s, rel, NULL))
			return 1;
		for (size_t k = 0; x->context_mode && k < x->to.n; k++)
			if (owned_derived(x, s, rel, x->to.v[k]))
				return 1;
	}
	for (size_t k = 0; k < x->n_cdb; k++)
		if (hero_pattern_covers(x->cdb[k].path, rel, NULL))
			return 1;
	return own;
}

static int owned(void *ctx, const char *rel, int is_dir)
{
	return owned_as(ctx, rel, is_dir);
}

/* .hero/restore.log of the new tree: the old lines, then this restore's. */
static int write_log(struct restore *x)
{
	char *old = hero_join(x->o->root, ".hero/restore.log");
	FILE *in = old && x->swap.root_exists ? fopen(old, "r") : NULL;
	free(old);
	if (hero_mkdirs_at(x->swap.stagingfd, ".hero", x->err) < 0) {
		if (in)
			fclose(in);
		return -x->err->code;
	}
	int fd = openat(x->swap.stagingfd, ".hero/restore.log", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			0644);
	FILE *out = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!out) {
		if (fd >= 0)
			close(fd);
		if (in)
			fclose(in);
		return hero_error_errno(x->err, HERO_EFAIL, errno, "cannot write the restore log");
	}
	char buf[4096];
	size_t n;
	while (in && (n = fread(buf, 1, sizeof buf, in)) > 0)
		fwrite(buf, 1, n, out);
	if (in)
		fclose(in);
	char when[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(out, "%s restore of archive %s\n", when, x->res->archive_id);
	for (size_t k = 0; x->links && k < x->links->n; k++)
		fprintf(out, "%s   chain link %zu: %s %s\n", when, k + 1, x->links->v[k].id, x->links->v[k].path);
	for (size_t i = 0; i < x->log.n; i++)
		fprintf(out, "%s   %s\n", when, x->log.v[i]);
	int ret = fflush(out) == 0 && !ferror(out) ? hero_fsync(fileno(out), ".hero/restore.log", x->err)
						   : hero_error_errno(x->err, HERO_EFAIL, errno, "cannot write the restore log");
	fclose(out);
	return ret;
}

/* ---- hooks ---- */

static int run_hooks(struct restore *x, int resume)
{
	json_t *s;
	size_t i;
	int ret = 0;
	json_array_foreach(x->selected, i, s)
	{
		const struct hero_service *t = target_service(x, hero_rs_jstr(s, "name"));
		const char *cmd = t ? (resume ? t->hook_resume : t->hook_quiesce) : NULL;
		char what[256];
		snprintf(what, sizeof what, "%s hook of %s", resume ? "resume" : "quiesce", t ? t->name : "?");
		struct hero_error e = HERO_ERROR_INIT;
		int r = cmd ? hero_run_hook(cmd, x->o->root, t->name, t->hook_timeout, what, &e) : 0;
		if (r == 0 && resume && t)
			r = hero_wait_health(t, x->o->root, &e);
		if (r < 0 && ret == 0) {
			*x->err = e;
			ret = r;
			if (!resume)
				return ret; /* resume what was quiesced so far: the caller does */
		}
	}
	return ret;
}

/* ---- plan (dry run) ---- */

static void describe(struct restore *x)
{
	json_t *s;
	size_t i;
	say(x, "archive %s: %llu entries, %llu bytes, signature verified", x->res->archive_id,
	    (unsigned long long)x->res->st.entries, (unsigned long long)x->res->st.data_bytes);
	for (size_t k = 0; x->links && k < x->links->n; k++)
		say(x, "link %zu: %s %s %s, verified", k + 1, x->links->v[k].id, k ? "increment" : "full   ",
		    x->links->v[k].path);
	say(x, "scope: %s", x->context_mode ? "contexts" : "services");
	for (size_t k = 0; k < x->from.n; k++)
		say(x, "context %s%s%s", x->from.v[k], strcmp(x->from.v[k], x->to.v[k]) ? " as " : "",
		    strcmp(x->from.v[k], x->to.v[k]) ? x->to.v[k] : "");
	json_array_foreach(x->selected, i, s)
	{
		const struct hero_service *t = target_service(x, hero_rs_jstr(s, "name"));
		say(x, "service %s: version %s -> %s, schema %lld -> %d", hero_rs_jstr(s, "name"), hero_rs_jstr(s, "version"),
		    t && t->version ? t->version : "?", json_integer_value(json_object_get(s, "schema")), t ? t->schema : -1);
		for (size_t j = 0; j < x->n_decls; j++) {
			if (x->decls[j].svc != s)
				continue;
			const char *pat = x->decls[j].st->path;
			const char *col = x->decls[j].st->context_column;
			if (!x->context_mode) {
				say(x, "  replace %s", pat);
			} else if (col) {
				for (size_t k = 0; k < x->to.n; k++) {
					uint64_t rows = 0;
					char *live = hero_join(x->o->root, pat);
					struct hero_error ignored = HERO_ERROR_INIT;
					if (live && access(live, R_OK) == 0)
						hero_ctxdb_count(live, col, x->to.v[k], &rows, &ignored);
					free(live);
					say(x, "  replace rows of context %s in %s (%llu rows there now)", x->to.v[k], pat,
					    (unsigned long long)rows);
				}
			} else if (strstr(pat, "{context}")) {
				for (size_t k = 0; k < x->to.n; k++) {
					char *p = hero_pattern_rename(pat, pat, x->to.v[k]);
					say(x, "  replace %s", p ? p : pat);
					free(p);
				}
			}
		}
	}
	say(x, "keep everything else under %s/%s", x->swap.parent, x->swap.name);
}

/* ---- the whole restore ---- */

/* A refusal decided from the manifest stands only once the whole stream has
 * verified: a damaged archive is reported as damaged, whatever its manifest says. */
static int refuse_verified(struct restore *x, int ret)
{
	struct hero_error saved = *x->err;
	struct hero_aentry e;
	int r;
	while ((r = hero_areader_next(x->r, &e, x->err)) == 1)
		;
	if (r < 0)
		return r;
	*x->err = saved;
	return ret;
}

static int prepare(struct restore *x)
{
	const char *json;
	size_t len;
	json_error_t je;
	int ret;
	struct hero_areader_opts ro = { x->o->trust, x->o->limits, x->o->identity, x->o->passphrase };
	if ((ret = hero_areader_new2(&x->r, x->in_fd, &ro, x->err)) < 0 ||
	    (ret = hero_areader_manifest(x->r, &json, &len, x->err)) < 0)
		return ret;
	x->manifest = json_loadb(json, len, 0, &je);
	if (!x->manifest)
		return hero_error(x->err, HERO_EINTEGRITY, "archive damaged: manifest is not valid JSON");
	const struct hero_header *h = hero_areader_header(x->r);
	hero_hex(h->archive_id, HERO_ID_BYTES, x->res->archive_id);
	x->res->links = 1;
	if (h->flags & HERO_FLAG_INCREMENTAL)
		return refuse_verified(x, hero_error(x->err, HERO_EINTEGRITY,
						     "archive chain refused: archive %s is an increment of %s: give the "
						     "whole chain, base first, or the directory that holds it",
						     x->res->archive_id, hero_rs_jstr(x->manifest, "parent")));
	if ((ret = hero_rs_decide(x)) < 0)
		return refuse_verified(x, ret);
	return 0;
}

static int commit(struct restore *x)
{
	int ret;
	if (x->o->hooks) {
		x->quiesced = 1;
		if ((ret = run_hooks(x, 0)) < 0)
			return ret;
	}
	if ((ret = merge_secrets(x)) < 0 || (ret = merge_rows(x)) < 0 || (ret = hero_swap_carry(&x->swap, owned, x, &x->res->kept, x->err)) < 0 ||
	    (ret = write_log(x)) < 0 || (ret = hero_rs_sync_staging(x)) < 0)
		return ret;
	return hero_swap_commit(&x->swap, x->err);
}

/* What a chain of increments runs for each link (restore_chain.c). */
static const struct rs_steps chain_steps = { hero_rs_decide, hero_rs_classify, hero_rs_read_all };

int hero_restore(const struct hero_restore_opts *o, struct hero_restore_result *res, struct hero_error *err)
{
	struct restore x = { .o = o, .res = res, .err = err };
	int ret;
	memset(res, 0, sizeof *res);
	x.swap.parentfd = x.swap.stagingfd = x.swap.lock_root = x.swap.lock_staging = -1;
	if (!o->trust || !o->trust->n)
		return hero_error(err, HERO_EUSAGE, "no trusted public key: give -p PUBKEY or a trusted-keys directory");
	if (!(x.buf = malloc(COPY_BUF)))
		return hero_error(err, HERO_EFAIL, "out of memory");
	if ((ret = hero_fwq_new(&x.fwq, err)) < 0) {
		free(x.buf);
		return ret;
	}
	if (o->dry_run) {
		ret = hero_swap_recover(o->root, &res->recovered, err);
		if (ret == 0)
			ret = hero_split_path(o->root, &x.swap.parent, &x.swap.name, err);
		if (ret == 0)
			ret = dry_begin(&x);
	} else {
		ret = hero_swap_begin(&x.swap, o->root, err);
		res->recovered = x.swap.recovered;
	}
	struct hero_chain links = HERO_CHAIN_INIT;
	int own_fd = -1;
	x.in_fd = o->in_fd;
	if (ret == 0 && o->chain && o->chain->n == 1 && (x.in_fd = own_fd = open(o->chain->v[0], O_RDONLY | O_CLOEXEC)) < 0)
		ret = hero_error_errno(err, HERO_EFAIL, errno, "cannot open archive '%s'", o->chain->v[0]);
	if (ret == 0 && o->chain && o->chain->n > 1)
		ret = hero_rs_restore_chain(&x, &links, &chain_steps);
	else if (ret == 0 && (ret = prepare(&x)) == 0)
		ret = hero_rs_read_all(&x);
	if (ret < 0 || (ret = check_entries(&x)) < 0 || (ret = migrate(&x)) < 0)
		goto out;
	if (o->dry_run) {
		if ((ret = merge_secrets(&x)) == 0)
			describe(&x);
		goto out;
	}
	ret = commit(&x);
out:
	if (x.quiesced) {
		struct hero_error e2 = HERO_ERROR_INIT;
		x.err = &e2;
		int r2 = run_hooks(&x, 1);
		if (r2 < 0 && ret == 0) {
			*err = e2;
			ret = r2;
		}
	}
	hero_areader_free(x.r);
	dry_end(&x);
	if (own_fd >= 0)
		close(own_fd);
	hero_chain_release(&links);
	hero_fwq_free(x.fwq);
	hero_swap_end(&x.swap);
	json_decref(x.manifest);
	json_decref(x.index);
	json_decref(x.selected);
	free(x.decls);
	for (size_t i = 0; i < x.n_cdb; i++) {
		free(x.cdb[i].path);
		free(x.cdb[i].incoming);
	}
	free(x.cdb);
	hero_strlist_release(&x.from);
	hero_strlist_release(&x.to);
	hero_strlist_release(&x.log);
	hero_strlist_release(&x.secret_paths);
	hero_strlist_release(&x.secret_incoming);
	if (x.buf)
		sodium_memzero(x.buf, COPY_BUF); /* it held file data, secret values included */
	free(x.buf);
	return ret;
}
