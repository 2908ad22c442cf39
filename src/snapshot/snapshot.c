/* snapshot.c - plan an instance's state and stream it into a signed archive. */
#include "hero/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "base/blake2b.h"
#include "base/internal.h"
#include "base/lock.h"
#include "format/chain.h"
#include "pipeline/dbahead.h"
#include "state/ctxdb.h"
#include "state/hooks.h"
#include "state/plan.h"
#include "state/secretfile.h"
#include "state/sqlite_util.h"

static const char *class_name(enum hero_class c)
{
	static const char *const names[] = { "authoritative", "config", "derived", "ephemeral" };
	return names[c];
}

static const char *type_name(enum hero_state_type t)
{
	static const char *const names[] = { "sqlite", "files", "secrets" };
	return names[t];
}

int hero_instance_id(const char *root, char out[2 * HERO_ID_BYTES + 1], struct hero_error *err)
{
	char *path = hero_join(root, ".hero/instance-id");
	if (!path)
		return hero_error(err, HERO_EFAIL, "out of memory");
	int ret = 0;
	FILE *f = fopen(path, "r");
	if (f) {
		char buf[64] = "";
		if (!fgets(buf, sizeof buf, f) || strspn(buf, "0123456789abcdef") != 2 * HERO_ID_BYTES)
			ret = hero_error(err, HERO_EFAIL, "malformed instance id in '%s'", path);
		else
			snprintf(out, 2 * HERO_ID_BYTES + 1, "%.32s", buf);
		fclose(f);
		goto out;
	}
	uint8_t id[HERO_ID_BYTES];
	randombytes_buf(id, sizeof id);
	hero_hex(id, sizeof id, out);
	char *dir = hero_join(root, ".hero");
	if (!dir || (mkdir(dir, 0700) < 0 && errno != EEXIST)) {
		ret = hero_error_errno(err, HERO_EFAIL, errno, "cannot create '%s'", dir ? dir : ".hero");
		free(dir);
		goto out;
	}
	free(dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		ret = hero_error_errno(err, HERO_EFAIL, errno, "cannot create '%s'", path);
		goto out;
	}
	char line[2 * HERO_ID_BYTES + 2];
	snprintf(line, sizeof line, "%s\n", out);
	ret = hero_write_all(fd, line, strlen(line), path, err);
	if (ret == 0)
		ret = hero_fsync(fd, path, err);
	close(fd);
out:
	free(path);
	return ret;
}

static json_t *strlist_json(const struct hero_strlist *l)
{
	json_t *a = json_array();
	for (size_t i = 0; l && i < l->n; i++)
		json_array_append_new(a, json_string(l->v[i]));
	return a;
}

static json_t *service_json(const struct hero_service *s, const struct plan_svc *ps, const char *version)
{
	json_t *o = json_object();
	json_object_set_new(o, "name", json_string(s->name));
	json_object_set_new(o, "version", json_string(version));
	json_object_set_new(o, "schema", json_integer(s->schema));
	json_object_set_new(o, "class", json_string(class_name(s->class)));
	json_object_set_new(o, "per_context", json_boolean(s->per_context));
	json_object_set_new(o, "secrets", strlist_json(&s->secrets));
	json_object_set_new(o, "contexts", strlist_json(&ps->contexts));
	json_object_set_new(o, "entries", json_integer((json_int_t)ps->entries));
	json_object_set_new(o, "bytes", json_integer((json_int_t)ps->bytes));
	json_t *states = json_array();
	for (size_t j = 0; j < s->n_state; j++) {
		const struct hero_state *st = &s->state[j];
		if (!hero_state_archived(st))
			continue;
		json_t *d = json_object();
		json_object_set_new(d, "path", json_string(st->path));
		json_object_set_new(d, "type", json_string(type_name(st->type)));
		json_object_set_new(d, "class", json_string(class_name(st->class)));
		json_object_set_new(d, "context_column",
				    st->context_column ? json_string(st->context_column) : json_null());
		json_array_append_new(states, d);
	}
	json_object_set_new(o, "state", states);
	return o;
}

static void iso_time(uint64_t t, char *buf, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int scope_json(json_t *m, const struct hero_snap_opts *o)
{
	int has_s = o->services && o->services->n, has_c = o->contexts && o->contexts->n;
	json_t *scope = json_object();
	json_object_set_new(scope, "kind", json_string(has_c ? "contexts" : has_s ? "services" : "instance"));
	json_object_set_new(scope, "services", strlist_json(has_s ? o->services : NULL));
	json_object_set_new(scope, "contexts", strlist_json(has_c ? o->contexts : NULL));
	return json_object_set_new(m, "scope", scope);
}

static char *build_manifest(const struct hero_snap_opts *o, const struct hero_plan *p,
			    const struct hero_header *h, const char *instance_id, const char *parent,
			    const struct hero_secret_set *secrets, struct hero_error *err)
{
	char id[2 * HERO_ID_BYTES + 1], when[32];
	hero_hex(h->archive_id, HERO_ID_BYTES, id);
	iso_time(h->created, when, sizeof when);
	json_t *m = json_object();
	json_object_set_new(m, "format", json_string("hero-archive"));
	json_object_set_new(m, "format_version", json_string("1.0"));
	json_object_set_new(m, "tool", json_string("hero-snap " HERO_VERSION));
	json_object_set_new(m, "archive_id", json_string(id));
	if (secrets)
		json_object_set_new(m, "secrets_included", strlist_json(&secrets->names));
	json_object_set_new(m, "created", json_string(when));
	json_object_set_new(m, "instance_id", json_string(instance_id));
	scope_json(m, o);
	json_object_set_new(m, "parent", parent ? json_string(parent) : json_null());
	json_object_set_new(m, "encrypted", json_boolean(o->n_recipients || o->passphrase));
	json_t *svcs = json_array(), *skipped = json_array();
	char *text = NULL;
	for (size_t i = 0; i < o->inv->n; i++) {
		if (!p->svc[i].selected)
			continue;
		char *version = NULL;
		if (hero_service_version(&o->inv->services[i], o->root, &version, err) < 0)
			goto out;
		json_array_append_new(svcs, service_json(&o->inv->services[i], &p->svc[i], version));
		free(version);
	}
	for (size_t i = 0; i < p->n_skip; i++) {
		json_t *s = json_object();
		json_object_set_new(s, "service", json_string(o->inv->services[p->skip[i].svc].name));
		json_object_set_new(s, "path", json_string(p->skip[i].path));
		json_object_set_new(s, "why", json_string(p->skip[i].why));
		json_array_append_new(skipped, s);
	}
	json_object_set(m, "services", svcs);
	json_object_set(m, "skipped", skipped);
	text = json_dumps(m, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	if (!text)
		hero_error(err, HERO_EFAIL, "out of memory");
out:
	json_decref(svcs);
	json_decref(skipped);
	json_decref(m);
	return text;
}

struct copier {
	const struct hero_snap_opts *o;
	int rootfd;
	char *tmpdir;
	uint64_t done, total;
	struct hero_increment *inc; /* the parent, when writing an increment */
	uint64_t unchanged;
	struct hero_dbahead *ahead;         /* the databases' copies, made ahead */
	const struct plan_entry **dbs;      /* the databases of the plan, in order */
	size_t n_dbs, next_db;
};

static int64_t mtime_ns(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

static int has_int(json_t *o, const char *key, long long v)
{
	json_t *x = json_object_get(o, key);
	return json_is_integer(x) && json_integer_value(x) == v;
}

/* List E as unchanged since the parent, whose element is WAS. */
static int add_unchanged(struct copier *c, struct hero_awriter *w, const struct plan_entry *e, const char *svc,
			 json_t *was, mode_t mode, int64_t mtime, struct hero_error *err)
{
	struct hero_unchanged u = { .path = e->path, .type = e->type, .service = svc, .context = e->context,
				    .mode = mode, .mtime_ns = mtime };
	if (e->type != HERO_E_DIR) {
		u.size = (uint64_t)json_integer_value(json_object_get(was, "size"));
		if (hero_hash_unhex(json_string_value(json_object_get(was, "blake2b")), u.hash) < 0)
			return hero_error(err, HERO_EINTEGRITY, "parent lists '%s' with a malformed hash", e->path);
	}
	c->unchanged++;
	return hero_awriter_unchanged(w, &u, err);
}

/* BLAKE2b-256 of the file open at FD, read from its start. */
static int hash_fd(int fd, uint8_t out[32], struct hero_error *err)
{
	uint8_t buf[65536];
	struct hero_blake2b h;
	hero_blake2b_init(&h, 32);
	for (;;) {
		ssize_t n = hero_read_full(fd, buf, sizeof buf);
		if (n < 0)
			return hero_error_errno(err, HERO_EFAIL, errno, "cannot read a database copy");
		hero_blake2b_update(&h, buf, (size_t)n);
		if ((size_t)n < sizeof buf)
			break;
	}
	hero_blake2b_final(&h, out);
	return lseek(fd, 0, SEEK_SET) < 0 ? hero_error_errno(err, HERO_EFAIL, errno, "cannot rewind a database copy") : 0;
}

/* An increment lists a database as unchanged when its copy (open at FD, of
 * size SIZE) hashes to what the parent holds. Returns 1 when it did. */
static int sqlite_unchanged(struct copier *c, struct hero_awriter *w, const struct plan_entry *e, const char *svc,
			    int fd, uint64_t size, int64_t mtime, struct hero_error *err)
{
	json_t *was = c->inc ? hero_increment_take(c->inc, e->path, HERO_E_SQLITE) : NULL;
	uint8_t digest[32], had[32];
	if (!was || !has_int(was, "size", (long long)size) || !has_int(was, "mode", e->mode) ||
	    hero_hash_unhex(json_string_value(json_object_get(was, "blake2b")), had) < 0)
		return 0;
	int ret = hash_fd(fd, digest, err);
	if (ret < 0)
		return ret;
	if (memcmp(digest, had, sizeof had) != 0)
		return 0;
	return (ret = add_unchanged(c, w, e, svc, was, e->mode, mtime, err)) < 0 ? ret : 1;
}

static int add_sqlite(struct copier *c, struct hero_awriter *w, const struct plan_entry *e,
		      const char *svc, struct hero_error *err)
{
	const char *tmp;
	size_t k = c->next_db++;
	int ret = hero_dbahead_take(c->ahead, k, &tmp, err);
	if (ret < 0)
		goto out;
	int fd = open(tmp, O_RDONLY | O_CLOEXEC);
	struct stat st, sst;
	if (fd < 0 || fstat(fd, &st) < 0) {
		ret = hero_error_errno(err, HERO_EFAIL, errno, "cannot open database copy of '%s'", e->path);
		if (fd >= 0)
			close(fd);
		goto out;
	}
	int64_t mtime = fstatat(c->rootfd, e->path, &sst, AT_SYMLINK_NOFOLLOW) == 0 ? mtime_ns(&sst)
										  : (int64_t)e->mtime * 1000000000;
	ret = sqlite_unchanged(c, w, e, svc, fd, (uint64_t)st.st_size, mtime, err);
	if (ret == 0)
		ret = hero_awriter_file(w, e->path, HERO_E_SQLITE, fd, (uint64_t)st.st_size, e->mode, mtime, svc,
					e->context, err);
	close(fd);
	ret = ret < 0 ? ret : 0;
out:
	hero_dbahead_done(c->ahead, k);
	return ret;
}

/* On the copy thread: the consistent copy of the I-th database of the plan. */
static int copy_db(void *ctx, size_t i, const char *tmp, struct hero_error *err)
{
	const struct copier *c = ctx;
	const struct plan_entry *e = c->dbs[i];
	char *src = hero_join(c->o->root, e->path);
	int ret = src ? hero_sqlite_snapshot_temp(src, tmp, err) : hero_error(err, HERO_EFAIL, "out of memory");
	free(src);
	/* a restore refuses a database whose user_version is not the schema its
	 * archive declares (docs/security.md section 4): never write one it would refuse */
	const struct hero_service *svc = &c->o->inv->services[e->svc];
	int version = 0;
	if (ret == 0 && (ret = hero_db_schema(tmp, &version, err)) == 0 && version != svc->schema)
		ret = hero_error(err, HERO_EFAIL,
				 "database '%s': user_version %d differs from the schema %d service '%s' declares, and a "
				 "restore would refuse it (set the manifest's schema, or migrate the database)",
				 e->path, version, svc->schema, svc->name);
	if (ret == 0 && e->st->context_column && c->o->contexts && c->o->contexts->n)
		ret = hero_ctxdb_filter(tmp, e->st->context_column, c->o->contexts, err);
	return ret;
}

/* Start copying the plan's databases, two ahead of the writer (docs/decisions/0017). */
static int start_copies(struct copier *c, const struct hero_plan *p, struct hero_error *err)
{
	c->dbs = calloc(p->n ? p->n : 1, sizeof *c->dbs);
	if (!c->dbs)
		return hero_error(err, HERO_EFAIL, "out of memory");
	for (size_t i = 0; i < p->n; i++)
		if (p->e[i].type == HERO_E_SQLITE)
			c->dbs[c->n_dbs++] = &p->e[i];
	return hero_dbahead_new(&c->ahead, c->tmpdir, c->n_dbs, 2, copy_db, c, err);
}

static int add_file(struct copier *c, struct hero_awriter *w, const struct plan_entry *e, const char *svc,
		    struct hero_error *err)
{
	struct stat st;
	json_t *was = c->inc ? hero_increment_take(c->inc, e->path, HERO_E_FILE) : NULL;
	/* unchanged since the parent: same size, mode and mtime; not even opened */
	if (was && fstatat(c->rootfd, e->path, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
	    has_int(was, "size", (long long)st.st_size) && has_int(was, "mode", st.st_mode & 0755) &&
	    has_int(was, "mtime_ns", mtime_ns(&st)))
		return add_unchanged(c, w, e, svc, was, st.st_mode & 0755, mtime_ns(&st), err);
	int fd = openat(c->rootfd, e->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		int en = errno;
		if (fd >= 0)
			close(fd);
		return hero_error_errno(err, HERO_EFAIL, en, "cannot open '%s'", e->path);
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	int ret = hero_awriter_file(w, e->path, HERO_E_FILE, fd, (uint64_t)st.st_size, st.st_mode & 0755,
				    mtime_ns(&st), svc, e->context, err);
	close(fd);
	return ret;
}

static int write_plan(struct copier *c, struct hero_awriter *w, const struct hero_plan *p,
		      struct hero_error *err)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_entry *e = &p->e[i];
		const char *svc = c->o->inv->services[e->svc].name;
		int ret;
		json_t *was = e->type == HERO_E_DIR && c->inc ? hero_increment_take(c->inc, e->path, HERO_E_DIR) : NULL;
		if (was && has_int(was, "mode", e->mode))
			ret = add_unchanged(c, w, e, svc, was, e->mode, 0, err);
		else if (e->type == HERO_E_DIR)
			ret = hero_awriter_dir(w, e->path, e->mode, e->mtime, svc, e->context, err);
		else if (e->type == HERO_E_SQLITE)
			ret = add_sqlite(c, w, e, svc, err);
		else
			ret = add_file(c, w, e, svc, err);
		if (ret < 0)
			return ret;
		c->done += e->size;
		if (c->o->progress)
			c->o->progress(c->o->progress_ctx, c->done, c->total);
	}
	return 0;
}

static int write_entries(struct copier *c, struct hero_awriter *w, const struct hero_plan *p,
			 struct hero_error *err)
{
	int ret = start_copies(c, p, err);
	if (ret == 0)
		ret = write_plan(c, w, p, err);
	hero_dbahead_free(c->ahead);
	free(c->dbs);
	c->ahead = NULL;
	c->dbs = NULL;
	return ret;
}

static int check_scope(const struct hero_snap_opts *o, struct hero_error *err)
{
	for (size_t i = 0; o->services && i < o->services->n; i++)
		if (!hero_inventory_find(o->inv, o->services->v[i]))
			return hero_error(err, HERO_EUSAGE, "unknown service '%s'", o->services->v[i]);
	for (size_t i = 0; o->contexts && i < o->contexts->n; i++)
		if (!hero_context_valid(o->contexts->v[i]))
			return hero_error(err, HERO_EUSAGE, "invalid context name '%.80s'", o->contexts->v[i]);
	return 0;
}

static int in_scope(const struct hero_snap_opts *o, const char *name)
{
	if (!o->services || !o->services->n)
		return 1;
	for (size_t i = 0; i < o->services->n; i++)
		if (!strcmp(o->services->v[i], name))
			return 1;
	return 0;
}

/* Run every in-scope service's quiesce (RESUME = 0) or resume hook, and after
 * resuming wait for its health. Resuming goes on past a failure; the first
 * error is returned. */
static int snapshot_hooks(const struct hero_snap_opts *o, int resume, struct hero_error *err)
{
	int ret = 0;
	for (size_t i = 0; i < o->inv->n; i++) {
		const struct hero_service *s = &o->inv->services[i];
		const char *cmd = resume ? s->hook_resume : s->hook_quiesce;
		if (!in_scope(o, s->name) || !cmd)
			continue;
		char what[256];
		snprintf(what, sizeof what, "%s hook of %s", resume ? "resume" : "quiesce", s->name);
		struct hero_error e = HERO_ERROR_INIT;
		int r = hero_run_hook(cmd, o->root, s->name, s->hook_timeout, what, &e);
		if (r == 0 && resume)
			r = hero_wait_health(s, o->root, &e);
		if (r < 0 && ret == 0) {
			*err = e;
			ret = r;
			if (!resume)
				break;
		}
	}
	return ret;
}

/* Keep the index of the archive just written for the next increment; a
 * failure only costs that increment a read of its parent. */
static void remember(const struct hero_snap_opts *o, const struct hero_awriter *w, const char *id)
{
	struct hero_error ignored = HERO_ERROR_INIT;
	char *text = hero_awriter_index_text(w);
	if (text)
		hero_increment_remember(o->root, id, text, &ignored);
	free(text);
}

/* The parent of an increment must be of this instance and this scope. */
static int check_parent(const struct hero_snap_opts *o, const struct hero_increment *inc, const char *instance_id,
			struct hero_error *err)
{
	if (!inc)
		return 0;
	json_t *m = json_object();
	if (!m)
		return hero_error(err, HERO_EFAIL, "out of memory");
	scope_json(m, o);
	int ret = hero_increment_check(inc, instance_id, json_object_get(m, "scope"), err);
	json_decref(m);
	return ret;
}

/* The secret values the archived services declare, from the instance's secrets files. */
static int collect_secrets(const struct hero_snap_opts *o, const struct hero_plan *p, struct hero_secret_set *out,
			   struct hero_error *err)
{
	struct hero_strlist needed = { 0 };
	int ret = 0;
	for (size_t i = 0; i < o->inv->n && ret == 0; i++) {
		const struct hero_strlist *names = &o->inv->services[i].secrets;
		for (size_t j = 0; p->svc[i].selected && j < names->n && ret == 0; j++)
			if (hero_strlist_push(&needed, names->v[j]) < 0)
				ret = hero_error(err, HERO_EFAIL, "out of memory");
	}
	if (ret == 0)
		ret = hero_secrets_collect(o->inv, o->root, &needed, out, err);
	hero_strlist_release(&needed);
	return ret;
}

/* Each collected secrets file as the entry .hero/secrets/PATH (encrypted archives only). */
static int write_secrets(struct hero_awriter *w, const struct hero_secret_set *s, struct hero_error *err)
{
	for (size_t i = 0; i < s->n; i++) {
		int fd = memfd_create("hero-secrets", MFD_CLOEXEC);
		if (fd < 0)
			return hero_error_errno(err, HERO_EFAIL, errno, "cannot stage secrets");
		char path[4096];
		snprintf(path, sizeof path, HERO_SECRETS_PREFIX "%s", s->f[i].path);
		int ret = hero_write_all(fd, s->f[i].text, s->f[i].len, "secrets", err);
		if (ret == 0 && lseek(fd, 0, SEEK_SET) < 0)
			ret = hero_error_errno(err, HERO_EFAIL, errno, "cannot stage secrets");
		if (ret == 0)
			ret = hero_awriter_file(w, path, HERO_E_FILE, fd, s->f[i].len, 0600, 0, s->f[i].service, NULL, err);
		close(fd);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int hero_snapshot(const struct hero_snap_opts *o, struct hero_snap_result *res, struct hero_error *err)
{
	struct hero_plan plan;
	struct hero_awriter *w = NULL;
	char *manifest = NULL, instance_id[2 * HERO_ID_BYTES + 1];
	int lockfd = -1, ret;
	struct copier c = { .o = o, .rootfd = -1 };
	struct hero_secret_set secrets = { 0 };
	memset(&plan, 0, sizeof plan);
	memset(res, 0, sizeof *res);
	if ((ret = check_scope(o, err)) < 0)
		return ret;
	if (o->include_secrets && !o->n_recipients && !o->passphrase)
		return hero_error(err, HERO_EUSAGE,
				  "secret values travel only encrypted: --include-secrets needs --encrypt-to or --encrypt-passphrase-file");
	if (o->parent && (o->n_recipients || o->passphrase))
		return hero_error(err, HERO_EUSAGE, "can't combine an increment (--parent) with encryption");
	/* the parent is verified before the instance is locked or quiesced */
	if (o->parent &&
	    (ret = hero_increment_new(&c.inc, o->parent, o->sk, o->parent_trust, o->root, o->verify_parent, err)) < 0)
		return ret;
	int quiesced = 0;
	if ((ret = hero_lock_instance(o->root, &lockfd, err)) < 0)
		goto out;
	if (o->hooks) {
		quiesced = 1;
		if ((ret = snapshot_hooks(o, 0, err)) < 0)
			goto out;
	}
	if ((ret = hero_instance_id(o->root, instance_id, err)) < 0 || (ret = check_parent(o, c.inc, instance_id, err)) < 0)
		goto out;
	if ((ret = hero_plan_build(&plan, o->inv, o->root, &(struct plan_scope){ o->services, o->contexts }, err)) < 0)
		goto out;
	for (size_t i = 0; i < plan.n; i++)
		c.total += plan.e[i].size;
	const char *td = o->tmpdir ? o->tmpdir : getenv("TMPDIR");
	c.tmpdir = strdup(td && *td ? td : "/tmp");
	c.rootfd = open(o->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (!c.tmpdir || c.rootfd < 0) {
		ret = hero_error_errno(err, HERO_EFAIL, errno, "cannot open instance root '%s'", o->root);
		goto out;
	}
	struct hero_awriter_opts wo = { o->level, o->threads, c.inc ? HERO_FLAG_INCREMENTAL : 0, o->recipients,
					o->n_recipients, o->passphrase };
	if ((ret = hero_awriter_new(&w, o->out_fd, o->sk, &wo, err)) < 0)
		goto out;
	const char *parent_id = c.inc ? hero_increment_parent_id(c.inc) : NULL;
	if (o->include_secrets && (ret = collect_secrets(o, &plan, &secrets, err)) < 0)
		goto out;
	if (!(manifest = build_manifest(o, &plan, hero_awriter_header(w), instance_id, parent_id,
					o->include_secrets ? &secrets : NULL, err))) {
		ret = -err->code;
		goto out;
	}
	if ((ret = hero_awriter_manifest(w, manifest, strlen(manifest), err)) < 0 ||
	    (ret = write_entries(&c, w, &plan, err)) < 0 || (ret = write_secrets(w, &secrets, err)) < 0 ||
	    (c.inc && (ret = hero_increment_finish(c.inc, w, &res->deleted, err)) < 0) ||
	    (ret = hero_awriter_finish(w, &res->st, err)) < 0)
		goto out;
	hero_hex(hero_awriter_header(w)->archive_id, HERO_ID_BYTES, res->archive_id);
	res->skipped = plan.n_skip;
	res->unchanged = c.unchanged;
	res->parent_verified = c.inc && hero_increment_verified(c.inc);
	remember(o, w, res->archive_id);
	snprintf(res->parent_id, sizeof res->parent_id, "%s", parent_id ? parent_id : "");
	ret = 0;
out:
	free(manifest);
	hero_secrets_release(&secrets);
	free(c.tmpdir);
	if (c.rootfd >= 0)
		close(c.rootfd);
	hero_awriter_free(w);
	hero_plan_release(&plan);
	hero_increment_free(c.inc);
	if (quiesced) {
		struct hero_error e2 = HERO_ERROR_INIT;
		if (snapshot_hooks(o, 1, &e2) < 0 && ret == 0) {
			*err = e2;
			ret = -e2.code;
		}
	}
	if (lockfd >= 0)
		close(lockfd);
	return ret;
}
