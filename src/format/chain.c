/* chain.c - links and chains of incremental archives (formats/hero-archive-v1.md
 * section 8, docs/decisions/0025-incremental-archives.md). */
#include "format/chain.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/internal.h"

/* S quoted for a message (hero_path_quote: control bytes escaped) in BUF. */
static const char *qs(const char *s, char *buf, size_t n)
{
	hero_path_quote(s, buf, n);
	return buf;
}
#define QS(s, buf) qs((s), (buf), sizeof(buf))

static int is_id(const char *s)
{
	return s && strlen(s) == 2 * HERO_ID_BYTES && strspn(s, "0123456789abcdef") == 2 * HERO_ID_BYTES;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "NAME=a,b" of the sorted strings of array A, appended to BUF. */
static int canon_list(char *buf, size_t n, size_t *off, const char *name, json_t *a)
{
	struct hero_strlist l = { 0 };
	json_t *v;
	size_t i;
	json_array_foreach(a, i, v)
		if (json_is_string(v) && hero_strlist_push(&l, json_string_value(v)) < 0) {
			hero_strlist_release(&l);
			return -1;
		}
	if (!l.n)
		return 0;
	qsort(l.v, l.n, sizeof *l.v, cmp_str);
	int w = snprintf(buf + *off, n - *off, " %s=", name);
	for (size_t k = 0; w >= 0 && (size_t)w < n - *off && k < l.n; k++) {
		*off += (size_t)w;
		w = snprintf(buf + *off, n - *off, "%s%s", k ? "," : "", l.v[k]);
	}
	hero_strlist_release(&l);
	if (w < 0 || (size_t)w >= n - *off)
		return -1;
	*off += (size_t)w;
	return 0;
}

char *hero_scope_canon(json_t *scope)
{
	char buf[8192];
	const char *kind = json_string_value(json_object_get(scope, "kind"));
	int w = snprintf(buf, sizeof buf, "%s", kind ? kind : "?");
	size_t off = w > 0 ? (size_t)w : 0;
	if (canon_list(buf, sizeof buf, &off, "services", json_object_get(scope, "services")) < 0 ||
	    canon_list(buf, sizeof buf, &off, "contexts", json_object_get(scope, "contexts")) < 0)
		return strdup("(scope too long)");
	return strdup(buf);
}

/* ---- links ---- */

static int link_fill(struct hero_link *l, const struct hero_header *h, const char *text, size_t len,
		     struct hero_error *err)
{
	json_error_t je;
	json_t *m = json_loadb(text, len, 0, &je);
	int ret = 0;
	hero_hex(h->archive_id, HERO_ID_BYTES, l->id);
	hero_keyid_hex(h->keyid, l->keyid);
	l->created = h->created;
	l->flags = h->flags;
	json_t *parent = json_object_get(m, "parent");
	const char *inst = json_string_value(json_object_get(m, "instance_id"));
	const char *created = json_string_value(json_object_get(m, "created"));
	int incremental = !!(h->flags & HERO_FLAG_INCREMENTAL);
	if (!json_is_object(m)) {
		ret = hero_error(err, HERO_EINTEGRITY, "archive damaged: manifest is not valid JSON");
	} else if (incremental != json_is_string(parent) || (incremental && !is_id(json_string_value(parent))) ||
		   (!incremental && parent && !json_is_null(parent))) {
		ret = hero_error(err, HERO_EINTEGRITY, "archive damaged: manifest parent and header disagree on the increment");
	} else {
		snprintf(l->parent, sizeof l->parent, "%s", incremental ? json_string_value(parent) : "");
		snprintf(l->instance_id, sizeof l->instance_id, "%s", inst ? inst : "");
		snprintf(l->created_text, sizeof l->created_text, "%s", created ? created : "");
		l->scope = hero_scope_canon(json_object_get(m, "scope"));
		l->manifest = strndup(text, len);
		l->manifest_len = len;
		if (!l->scope || !l->manifest)
			ret = hero_error(err, HERO_EFAIL, "out of memory");
	}
	json_decref(m);
	return ret;
}

/* Read the link PATH from FD (-1: open failed with errno ERRNUM); closes FD. */
static int link_read_fd(struct hero_link *l, const char *path, int fd, int errnum, struct hero_error *err)
{
	struct hero_areader *r = NULL;
	struct stat st;
	const char *text;
	size_t len;
	int ret;
	memset(l, 0, sizeof *l);
	if (!(l->path = strdup(path))) {
		if (fd >= 0)
			close(fd);
		return hero_error(err, HERO_EFAIL, "out of memory");
	}
	if (fd < 0 || fstat(fd, &st) < 0) {
		char q[512];
		ret = hero_error_errno(err, HERO_EFAIL, fd < 0 ? errnum : errno, "cannot open archive '%s'", QS(path, q));
		goto out;
	}
	l->bytes = (uint64_t)st.st_size;
	l->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	if ((ret = hero_areader_new(&r, fd, NULL, NULL, err)) < 0 ||
	    (ret = hero_areader_manifest(r, &text, &len, err)) < 0 ||
	    (ret = link_fill(l, hero_areader_header(r), text, len, err)) < 0) {
		char q[512];
		hero_error_prefix(err, "'%s'", QS(path, q));
		goto out;
	}
	ret = 0;
out:
	hero_areader_free(r);
	if (fd >= 0)
		close(fd);
	return ret;
}

int hero_link_read(struct hero_link *l, const char *path, struct hero_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	return link_read_fd(l, path, fd, errno, err);
}

void hero_link_release(struct hero_link *l)
{
	if (!l)
		return;
	free(l->path);
	free(l->scope);
	free(l->manifest);
	memset(l, 0, sizeof *l);
}

int hero_chain_push(struct hero_chain *c, const struct hero_link *l, struct hero_error *err)
{
	struct hero_link *v = realloc(c->v, (c->n + 1) * sizeof *v);
	if (!v)
		return hero_error(err, HERO_EFAIL, "out of memory");
	c->v = v;
	struct hero_link *d = &c->v[c->n];
	*d = *l;
	d->path = strdup(l->path);
	d->scope = strdup(l->scope ? l->scope : "");
	d->manifest = l->manifest ? strndup(l->manifest, l->manifest_len) : NULL;
	if (!d->path || !d->scope || (l->manifest && !d->manifest)) {
		hero_link_release(d);
		return hero_error(err, HERO_EFAIL, "out of memory");
	}
	c->n++;
	return 0;
}

void hero_chain_release(struct hero_chain *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		hero_link_release(&c->v[i]);
	free(c->v);
	c->v = NULL;
	c->n = 0;
}

/* ---- directories ---- */

static void (*scan_warn)(void *ctx, const char *line);
static void *scan_warn_ctx;

void hero_set_scan_warn(void (*fn)(void *ctx, const char *line), void *ctx)
{
	scan_warn = fn;
	scan_warn_ctx = ctx;
}

static const char *kind_name(mode_t m)
{
	return S_ISFIFO(m) ? "fifo" : S_ISSOCK(m) ? "socket" : S_ISCHR(m) ? "character device" : S_ISBLK(m) ? "block device"
	       : S_ISDIR(m) ? "directory" : "other type";
}

static void skip_warn(const char *path, mode_t m)
{
	char q[1024], line[1200];
	if (!scan_warn)
		return;
	hero_path_quote(path, q, sizeof q);
	snprintf(line, sizeof line, "warning: skipping '%s': not a regular file (%s)", q, kind_name(m));
	scan_warn(scan_warn_ctx, line);
}

/* What a scan found under one *.hsnap name. */
struct found {
	dev_t dev;
	ino_t ino;
	int link;   /* a symlink (to a regular file) */
	int state;  /* FOUND_READ, FOUND_SKIP, FOUND_SAME, or FOUND_ERR with errnum */
	int errnum;
};

enum { FOUND_READ, FOUND_SKIP, FOUND_SAME, FOUND_ERR };

/* A regular file counts, and so does a symlink to one (latest.hsnap -> ...).
 * Anything else (FIFO, socket, device, directory, or a symlink to one) is
 * skipped with a warning and never opened: opening a FIFO would block. */
static void classify(int dfd, const char *name, const char *path, struct found *f)
{
	struct stat st;
	memset(f, 0, sizeof *f);
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    ((f->link = S_ISLNK(st.st_mode)) && fstatat(dfd, name, &st, 0) < 0)) {
		f->state = FOUND_ERR; /* a dangling symlink too: an unreadable archive */
		f->errnum = errno;
	} else if (!S_ISREG(st.st_mode)) {
		skip_warn(path, st.st_mode);
		f->state = FOUND_SKIP;
	} else {
		f->dev = st.st_dev;
		f->ino = st.st_ino;
	}
}

/* A symlink to a file the directory holds under its own name (or that an
 * earlier symlink already names) is that archive, not another one: left
 * out, so a chain never holds one archive twice and prune never keeps the
 * symlink while removing the file it points to. */
static void drop_aliases(struct found *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!f[i].link || f[i].state != FOUND_READ)
			continue;
		for (size_t j = 0; j < n; j++)
			if (j != i && f[j].state == FOUND_READ && f[j].dev == f[i].dev && f[j].ino == f[i].ino &&
			    (!f[j].link || j < i)) {
				f[i].state = FOUND_SAME;
				break;
			}
	}
}

/* Open NAME (classified as a regular file) without blocking, so that a FIFO
 * swapped in since cannot hang the scan either, and check again that it is
 * a regular file. Returns the descriptor (blocking again), -1 with errno set
 * when NAME cannot be opened (an unreadable archive), or -2 when skipped. */
static int open_regular(int dfd, const char *name, const char *path)
{
	struct stat st;
	int fd = openat(dfd, name, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC), fl, ret;
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || (fl = fcntl(fd, F_GETFL)) < 0)
		ret = -1;
	else if (!S_ISREG(st.st_mode))
		ret = -2;
	else if (fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		ret = -1;
	else
		return fd;
	int e = errno;
	if (ret == -2)
		skip_warn(path, st.st_mode);
	close(fd);
	errno = e;
	return ret;
}

static int hsnap_names(DIR *d, struct hero_strlist *names, struct hero_error *err)
{
	struct dirent *de;
	int ret = 0;
	while (ret == 0 && (de = readdir(d))) {
		size_t n = strlen(de->d_name);
		if (de->d_name[0] == '.' || n <= 6 || strcmp(de->d_name + n - 6, ".hsnap") != 0)
			continue;
		if (hero_strlist_push(names, de->d_name) < 0)
			ret = hero_error(err, HERO_EFAIL, "out of memory");
	}
	if (names->n)
		qsort(names->v, names->n, sizeof *names->v, cmp_str);
	return ret;
}

int hero_dir_scan(const char *dir, struct hero_chain *all, struct hero_strlist *bad, struct hero_error *err)
{
	struct hero_strlist names = { 0 };
	struct found *f = NULL;
	DIR *d = opendir(dir);
	char q[512];
	if (!d)
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot open archive directory '%s'", QS(dir, q));
	int ret = hsnap_names(d, &names, err);
	if (ret == 0 && names.n && !(f = calloc(names.n, sizeof *f)))
		ret = hero_error(err, HERO_EFAIL, "out of memory");
	for (size_t i = 0; ret == 0 && i < names.n; i++) {
		char *path = hero_join(dir, names.v[i]);
		if (!path) {
			ret = hero_error(err, HERO_EFAIL, "out of memory");
			break;
		}
		classify(dirfd(d), names.v[i], path, &f[i]);
		free(path);
	}
	if (ret == 0)
		drop_aliases(f, names.n);
	for (size_t i = 0; ret == 0 && i < names.n; i++) {
		if (f[i].state == FOUND_SKIP || f[i].state == FOUND_SAME)
			continue;
		char *path = hero_join(dir, names.v[i]);
		struct hero_link l;
		struct hero_error e = HERO_ERROR_INIT;
		if (!path) {
			ret = hero_error(err, HERO_EFAIL, "out of memory");
			break;
		}
		int fd = f[i].state == FOUND_ERR ? -1 : open_regular(dirfd(d), names.v[i], path);
		int errnum = f[i].state == FOUND_ERR ? f[i].errnum : errno;
		if (fd == -2) {
			free(path);
			continue;
		}
		if (link_read_fd(&l, path, fd, errnum, &e) == 0) {
			ret = hero_chain_push(all, &l, err);
		} else if (bad) {
			char line[1400];
			snprintf(line, sizeof line, "%s: %s", QS(names.v[i], q), e.msg);
			if (hero_strlist_push(bad, line) < 0)
				ret = hero_error(err, HERO_EFAIL, "out of memory");
		}
		hero_link_release(&l);
		free(path);
	}
	free(f);
	closedir(d);
	hero_strlist_release(&names);
	return ret;
}

static size_t find_id(const struct hero_chain *all, const char *id)
{
	for (size_t i = 0; i < all->n; i++)
		if (!strcmp(all->v[i].id, id))
			return i;
	return (size_t)-1;
}

/* The file time of archive I, raised above its parent's when both have one
 * creation second, so a descendant is always the newer. */
static int64_t effective(const struct hero_chain *all, size_t i, size_t depth)
{
	size_t p = all->v[i].parent[0] ? find_id(all, all->v[i].parent) : (size_t)-1;
	if (p == (size_t)-1 || depth >= all->n || all->v[p].created != all->v[i].created)
		return all->v[i].mtime_ns;
	int64_t up = effective(all, p, depth + 1) + 1;
	return up > all->v[i].mtime_ns ? up : all->v[i].mtime_ns;
}

static int newer(const struct hero_chain *all, size_t a, size_t b)
{
	const struct hero_link *x = &all->v[a], *y = &all->v[b];
	if (x->created != y->created)
		return x->created > y->created;
	int64_t ea = effective(all, a, 0), eb = effective(all, b, 0);
	if (ea != eb)
		return ea > eb;
	return strcmp(x->path, y->path) > 0;
}

int hero_chain_resolve(const struct hero_chain *all, struct hero_chain *out, struct hero_error *err)
{
	if (!all->n)
		return hero_error(err, HERO_EUSAGE, "no archives to resolve a chain from");
	size_t tip = 0;
	for (size_t i = 1; i < all->n; i++)
		if (newer(all, i, tip))
			tip = i;
	size_t *path = calloc(all->n, sizeof *path), n = 0, i = tip;
	if (!path)
		return hero_error(err, HERO_EFAIL, "out of memory");
	int ret = 0;
	char q[512];
	for (;;) {
		if (n == all->n) {
			ret = hero_error(err, HERO_EINTEGRITY, "archive chain refused: the parents of '%s' form a loop",
					 QS(all->v[tip].path, q));
			break;
		}
		path[n++] = i;
		if (!all->v[i].parent[0])
			break;
		size_t p = find_id(all, all->v[i].parent);
		if (p == (size_t)-1) {
			ret = hero_error(err, HERO_EINTEGRITY,
					 "archive chain refused: parent %s of '%s' is missing (a link of the chain is gone)",
					 all->v[i].parent, QS(all->v[i].path, q));
			break;
		}
		i = p;
	}
	while (ret == 0 && n > 0)
		ret = hero_chain_push(out, &all->v[path[--n]], err);
	free(path);
	return ret;
}

int hero_chain_check(const struct hero_chain *c, size_t *bad, struct hero_error *err)
{
	for (size_t i = 0; i < c->n; i++) {
		const struct hero_link *l = &c->v[i], *prev = i ? &c->v[i - 1] : NULL;
		int ret = 0;
		char a[256], b[256], sa[256], sb[256];
		if (bad)
			*bad = i;
		if (!prev && l->parent[0])
			ret = hero_error(err, HERO_EINTEGRITY,
					 "archive chain refused: '%s' is incremental (parent %s): a chain starts with a full archive",
					 QS(l->path, a), l->parent);
		else if (prev && !l->parent[0])
			ret = hero_error(err, HERO_EINTEGRITY,
					 "archive chain refused: '%s' is a full archive, not an increment of '%s'",
					 QS(l->path, a), QS(prev->path, b));
		else if (prev && strcmp(l->parent, prev->id) != 0)
			ret = hero_error(err, HERO_EINTEGRITY,
					 "archive chain refused: '%s' is an increment of %s, not of '%s' (%s): a link is missing or out of order",
					 QS(l->path, a), l->parent, QS(prev->path, b), prev->id);
		else if (prev && strcmp(l->instance_id, prev->instance_id) != 0)
			ret = hero_error(err, HERO_EINTEGRITY,
					 "archive chain refused: '%s' is of instance %s, '%s' of instance %s",
					 QS(l->path, a), l->instance_id, QS(prev->path, b), prev->instance_id);
		else if (prev && strcmp(l->scope, prev->scope) != 0)
			ret = hero_error(err, HERO_EINTEGRITY, "archive chain refused: '%s' has scope '%s', '%s' scope '%s'",
					 QS(l->path, a), QS(l->scope, sa), QS(prev->path, b), QS(prev->scope, sb));
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* Scan DIR for a chain to restore or extend: an archive that cannot be read
 * there is refused by name, never skipped, so a damaged newest archive can
 * not silently turn "last night" into an older night. */
static int dir_scan_strict(const char *dir, struct hero_chain *all, struct hero_error *err)
{
	struct hero_strlist bad = { 0 };
	char q[512];
	int ret = hero_dir_scan(dir, all, &bad, err);
	if (ret == 0 && bad.n)
		ret = hero_error(err, HERO_EINTEGRITY,
				 "archive directory '%s' holds an unreadable archive (%s%s): move it aside, or name the archives",
				 QS(dir, q), bad.v[0], bad.n > 1 ? ", and more" : "");
	hero_strlist_release(&bad);
	return ret;
}

int hero_chain_from_args(const struct hero_strlist *args, struct hero_chain *out, struct hero_error *err)
{
	struct stat st;
	char q[512];
	int ret = 0;
	if (args->n == 1 && stat(args->v[0], &st) == 0 && S_ISDIR(st.st_mode)) {
		struct hero_chain all = HERO_CHAIN_INIT;
		ret = dir_scan_strict(args->v[0], &all, err);
		if (ret == 0 && !all.n)
			ret = hero_error(err, HERO_EUSAGE, "no readable archive (*.hsnap) in '%s'", QS(args->v[0], q));
		if (ret == 0)
			ret = hero_chain_resolve(&all, out, err);
		hero_chain_release(&all);
		return ret;
	}
	for (size_t i = 0; ret == 0 && i < args->n; i++) {
		struct hero_link l;
		if ((ret = hero_link_read(&l, args->v[i], err)) == 0)
			ret = hero_chain_push(out, &l, err);
		hero_link_release(&l);
	}
	return ret;
}

/* ---- verified reading and index comparisons ---- */

int hero_archive_verify_file(const char *path, const struct hero_trust *trust, const struct hero_limits *lim,
			     int listing, json_t **manifest, json_t **index, struct hero_header *hdr,
			     struct hero_error *err)
{
	struct hero_areader *r = NULL;
	struct hero_aentry e;
	const char *text;
	size_t len;
	json_error_t je;
	char q[512];
	int ret, fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot open archive '%s'", QS(path, q));
	if ((ret = hero_areader_new(&r, fd, trust, lim, err)) < 0 || (listing && (ret = hero_areader_listing(r, err)) < 0) ||
	    (ret = hero_areader_manifest(r, &text, &len, err)) < 0)
		goto out;
	if (manifest && !(*manifest = json_loadb(text, len, 0, &je))) {
		ret = hero_error(err, HERO_EINTEGRITY, "archive damaged: manifest is not valid JSON");
		goto out;
	}
	while ((ret = hero_areader_next(r, &e, err)) == 1)
		;
	if (ret < 0)
		goto out;
	if (index && !(*index = json_loads(hero_areader_index(r), 0, &je))) {
		ret = hero_error(err, HERO_EINTEGRITY, "archive damaged: index is not valid JSON");
		goto out;
	}
	if (hdr)
		*hdr = *hero_areader_header(r);
	ret = 0;
out:
	if (ret < 0) {
		hero_error_prefix(err, "'%s'", QS(path, q));
		if (manifest) {
			json_decref(*manifest);
			*manifest = NULL;
		}
	}
	hero_areader_free(r);
	close(fd);
	return ret;
}

json_t *hero_index_state(json_t *index)
{
	json_t *map = json_object(), *e;
	size_t i;
	json_array_foreach(json_object_get(index, "entries"), i, e)
	{
		const char *p = json_string_value(json_object_get(e, "path"));
		const char *t = json_string_value(json_object_get(e, "type"));
		if (!map || !p || !t || !strcmp(t, "deleted"))
			continue;
		if (json_object_set(map, p, e) < 0) {
			json_decref(map);
			return NULL;
		}
	}
	return map;
}

static int same_str(json_t *a, json_t *b, const char *key)
{
	const char *x = json_string_value(json_object_get(a, key)), *y = json_string_value(json_object_get(b, key));
	return (!x && !y) || (x && y && !strcmp(x, y));
}

int hero_index_check_unchanged(json_t *prev, json_t *index, const char *label, struct hero_error *err)
{
	json_t *map = hero_index_state(prev), *e;
	size_t i;
	int ret = map ? 0 : hero_error(err, HERO_EFAIL, "out of memory");
	json_array_foreach(json_object_get(index, "entries"), i, e)
	{
		if (ret < 0 || !json_is_true(json_object_get(e, "unchanged")))
			continue;
		const char *p = json_string_value(json_object_get(e, "path"));
		json_t *was = json_object_get(map, p ? p : "");
		json_t *sa = json_object_get(e, "size"), *sb = json_object_get(was, "size");
		if (!was || !same_str(e, was, "type") || !same_str(e, was, "blake2b") ||
		    json_is_integer(sa) != json_is_integer(sb) || json_integer_value(sa) != json_integer_value(sb)) {
			char q[256];
			hero_path_quote(p ? p : "?", q, sizeof q);
			ret = hero_error(err, HERO_EINTEGRITY,
					 "archive chain refused: '%s' lists '%s' as unchanged, but its parent %s", label, q,
					 was ? "holds other content there" : "does not hold it");
		}
	}
	json_decref(map);
	return ret;
}

int hero_hash_unhex(const char *hex, uint8_t out[32])
{
	if (!hex || strlen(hex) != 64)
		return -1;
	for (size_t i = 0; i < 32; i++) {
		int v = 0;
		for (int k = 0; k < 2; k++) {
			char c = hex[2 * i + (size_t)k];
			int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
			if (d < 0)
				return -1;
			v = v * 16 + d;
		}
		out[i] = (uint8_t)v;
	}
	return 0;
}

/* ---- the tree a chain restored ---- */

static int tree_refuse(struct hero_error *err, const char *path, const char *why)
{
	char q[256];
	hero_path_quote(path, q, sizeof q);
	return hero_error(err, HERO_EINTEGRITY, "archive chain refused: the restored tree %s '%s'", why, q);
}

/* Walk the directory DFD (REL from the top); *KEPT counts what remains in it. */
static int tree_walk(int dfd, const char *rel, json_t *want, size_t *kept, struct hero_error *err)
{
	int dup_fd = dup(dfd);
	DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
	if (!d) {
		if (dup_fd >= 0)
			close(dup_fd);
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot list '%s'", *rel ? rel : ".");
	}
	struct dirent *de;
	int ret = 0;
	*kept = 0;
	while (ret == 0 && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char *path = *rel ? hero_join(rel, de->d_name) : strdup(de->d_name);
		struct stat st;
		if (!path) {
			ret = hero_error(err, HERO_EFAIL, "out of memory");
			break;
		}
		json_t *e = json_object_get(want, path);
		const char *type = json_string_value(json_object_get(e, "type"));
		int isdir = type && !strcmp(type, "dir");
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			ret = hero_error_errno(err, HERO_EFAIL, errno, "cannot stat '%s'", path);
		} else if (S_ISDIR(st.st_mode)) {
			size_t below = 0;
			int sub = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			ret = sub < 0 ? hero_error_errno(err, HERO_EFAIL, errno, "cannot open '%s'", path)
				      : tree_walk(sub, path, want, &below, err);
			if (sub >= 0)
				close(sub);
			if (ret == 0 && e && !isdir)
				ret = tree_refuse(err, path, "holds a directory where the last archive lists a file:");
			else if (ret == 0 && !e && below == 0 && unlinkat(dfd, de->d_name, AT_REMOVEDIR) < 0)
				ret = hero_error_errno(err, HERO_EFAIL, errno, "cannot remove '%s'", path);
			*kept += ret == 0 && (e || below);
		} else if (!S_ISREG(st.st_mode) || !e || isdir) {
			ret = tree_refuse(err, path, e ? "holds a file where the last archive lists a directory:"
						 : "holds a path the last archive does not list:");
		} else if ((uint64_t)json_integer_value(json_object_get(e, "size")) != (uint64_t)st.st_size) {
			ret = tree_refuse(err, path, "holds a file of another size than the last archive lists:");
		} else {
			(*kept)++;
		}
		if (ret == 0 && e)
			json_object_del(want, path);
		free(path);
	}
	closedir(d);
	return ret;
}

int hero_tree_check(int dfd, json_t *want, struct hero_error *err)
{
	size_t kept;
	int ret = tree_walk(dfd, "", want, &kept, err);
	if (ret == 0 && json_object_size(want)) {
		const char *path = json_object_iter_key(json_object_iter(want));
		ret = tree_refuse(err, path ? path : "?", "lacks a path the last archive lists:");
	}
	return ret;
}

/* ---- choosing a parent ---- */

char *hero_scope_string(const struct hero_strlist *services, const struct hero_strlist *contexts)
{
	int has_s = services && services->n, has_c = contexts && contexts->n;
	json_t *scope = json_object(), *sv = json_array(), *cv = json_array();
	for (size_t i = 0; has_s && i < services->n; i++)
		json_array_append_new(sv, json_string(services->v[i]));
	for (size_t i = 0; has_c && i < contexts->n; i++)
		json_array_append_new(cv, json_string(contexts->v[i]));
	json_object_set_new(scope, "kind", json_string(has_c ? "contexts" : has_s ? "services" : "instance"));
	json_object_set_new(scope, "services", sv);
	json_object_set_new(scope, "contexts", cv);
	char *s = hero_scope_canon(scope);
	json_decref(scope);
	return s;
}

static int same_file(const char *a, const struct stat *b)
{
	struct stat st;
	return b && stat(a, &st) == 0 && st.st_dev == b->st_dev && st.st_ino == b->st_ino;
}

int hero_dir_chain_for(const char *dir, const char *instance_id, const char *scope, const char *exclude,
		       struct hero_chain *out, struct hero_error *err)
{
	struct hero_chain all = HERO_CHAIN_INIT, mine = HERO_CHAIN_INIT;
	struct stat ex;
	const struct stat *exp = exclude && stat(exclude, &ex) == 0 ? &ex : NULL;
	int ret = dir_scan_strict(dir, &all, err);
	for (size_t i = 0; ret == 0 && i < all.n; i++)
		if (!strcmp(all.v[i].instance_id, instance_id) && (!scope || !strcmp(all.v[i].scope, scope)) &&
		    !same_file(all.v[i].path, exp))
			ret = hero_chain_push(&mine, &all.v[i], err);
	if (ret == 0 && mine.n)
		ret = hero_chain_resolve(&mine, out, err);
	hero_chain_release(&all);
	hero_chain_release(&mine);
	return ret;
}
