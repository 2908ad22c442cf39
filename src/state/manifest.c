/* manifest.c - the state inventory: parse and check schema v1 manifests
 * (formats/manifest-v1.md) with libyaml's document API, resolve versions,
 * match state entries' globs, list migrations. */
#include "hero/manifest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

#include "base/internal.h"
#include "state/manifest_priv.h"

extern char **environ;

#define MANIFEST_MAX (1024 * 1024) /* bytes of one manifest file */
#define PATH_MAX_LEN 1024          /* bytes of a declared path */
#define GLOB_MAX 255               /* bytes of an include / exclude glob */
#define VERSION_MAX 128            /* bytes of a version string */
#define HOOK_TIMEOUT_DEFAULT 60
#define HEALTH_TIMEOUT_DEFAULT 30
#define CONTEXT_TOKEN "{context}"
#define CONTEXT_TOKEN_LEN 9

static const char *const class_names[] = { "authoritative", "config", "derived", "ephemeral", NULL };
static const char *const type_names[] = { "sqlite", "files", "secrets", NULL };
static const char *const contexts_names[] = { "none", "per-context", NULL };

/* ---- small helpers ---------------------------------------------------- */

static int strlist_has(const struct hero_strlist *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i], s))
			return 1;
	return 0;
}

const char *hero_class_name(enum hero_class c)
{
	return (unsigned)c < 4 ? class_names[c] : "unknown";
}

const char *hero_state_type_name(enum hero_state_type t)
{
	return (unsigned)t < 3 ? type_names[t] : "unknown";
}

/* "A/B" without doubling a '/' at the end of A; NULL when out of memory. */
static int valid_secret_name(const char *s)
{
	if (!(*s == '_' || (*s >= 'A' && *s <= 'Z')))
		return 0;
	for (; *s; s++)
		if (!(*s == '_' || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
			return 0;
	return 1;
}

static int valid_identifier(const char *s)
{
	if (!(*s == '_' || (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z')))
		return 0;
	for (; *s; s++)
		if (!(*s == '_' || (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= '0' && *s <= '9')))
			return 0;
	return 1;
}

int hero_context_valid(const char *name)
{
	size_t n = 0;

	if (!name || name[0] == '.' || name[0] == '-')
		return 0;
	for (const char *c = name; *c; c++, n++) {
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '_' || *c == '.' || *c == '-'))
			return 0;
	}
	return n >= 1 && n <= 64;
}

int hero_service_valid(const char *name)
{
	return hero_context_valid(name); /* formats/manifest-v1.md section 3: the same rule */
}

/* Why version string S is unacceptable, or NULL. */
int hero_state_per_context(const struct hero_state *st)
{
	return st->path && strstr(st->path, CONTEXT_TOKEN) != NULL;
}

const char *hero_version_problem(const char *s)
{
	size_t n = strlen(s);

	if (!n)
		return "is empty";
	if (n > VERSION_MAX)
		return "is longer than 128 bytes";
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return "has a byte that is not printable ASCII";
	if (s[0] == ' ' || s[n - 1] == ' ')
		return "has leading or trailing space";
	return NULL;
}

/* Why declared path S is unacceptable, or NULL; *NCTX counts its
 * `{context}` components. */
static const char *path_problem(const char *s, int *nctx)
{
	const char *c = s;

	*nctx = 0;
	if (!*s)
		return "is empty";
	if (strlen(s) > PATH_MAX_LEN)
		return "is longer than 1024 bytes";
	if (*s == '/')
		return "is absolute";
	if (!strncmp(s, ".hero", 5))
		return "starts with '.hero' (reserved for the toolkit)";
	for (const char *d = s; *d; d++)
		if ((unsigned char)*d < 0x20 || *d == 0x7f)
			return "has a control character";
	while (*c) {
		const char *e = strchrnul(c, '/');
		size_t len = (size_t)(e - c);
		int is_ctx = len == CONTEXT_TOKEN_LEN && !memcmp(c, CONTEXT_TOKEN, len);

		if (!len)
			return "has an empty component";
		if (len == 1 && c[0] == '.')
			return "has a '.' component";
		if (len == 2 && c[0] == '.' && c[1] == '.')
			return "has a '..' component";
		if (!is_ctx && (memchr(c, '{', len) || memchr(c, '}', len)))
			return "has '{' or '}' outside a whole '{context}' component";
		if (is_ctx && !*e)
			return "ends in '{context}' without '/' ('{context}' names a directory)";
		*nctx += is_ctx;
		c = *e ? e + 1 : e;
	}
	if (*nctx > 1)
		return "has '{context}' more than once";
	return NULL;
}

static int is_dir_path(const char *s)
{
	size_t n = strlen(s);
	return n && s[n - 1] == '/';
}

/* ---- parsing ---------------------------------------------------------- */

struct parse {
	const char *file;
	yaml_document_t *doc;
	struct hero_error *err;
};

/* "FILE:LINE:COL: MSG" at node N; control characters in MSG become '?'. */
static int perr(const struct parse *p, const yaml_node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int perr(const struct parse *p, const yaml_node_t *n, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (r < 0)
		msg[0] = '\0';
	for (char *c = msg; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	return hero_error(p->err, HERO_EFAIL, "%s:%zu:%zu: %s", p->file, n->start_mark.line + 1,
			  n->start_mark.column + 1, msg);
}

static int oom(const struct parse *p)
{
	return hero_error(p->err, HERO_EFAIL, "%s: out of memory", p->file);
}

static const char *sval(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static int is_null(const yaml_node_t *n)
{
	const char *s;

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	s = sval(n);
	return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
	       !strcmp(s, "NULL");
}

static yaml_node_t *node(const struct parse *p, int id)
{
	return yaml_document_get_node(p->doc, id);
}

/* A non-empty string value of KEY at N. */
static int want_scalar(const struct parse *p, const yaml_node_t *n, const char *key,
		       const char **out)
{
	if (n->type != YAML_SCALAR_NODE)
		return perr(p, n, "'%s' must be a string", key);
	if (is_null(n) || !n->data.scalar.length)
		return perr(p, n, "'%s' needs a value", key);
	if (strlen(sval(n)) != n->data.scalar.length)
		return perr(p, n, "'%s' holds a NUL byte", key);
	*out = sval(n);
	return 0;
}

static int want_string(const struct parse *p, const yaml_node_t *n, const char *key, char **dst)
{
	const char *s;
	int rc = want_scalar(p, n, key, &s);

	if (rc)
		return rc;
	*dst = strdup(s);
	return *dst ? 0 : oom(p);
}

/* A plain decimal integer >= MIN. */
static int want_int(const struct parse *p, const yaml_node_t *n, const char *key, int min,
		    int *dst)
{
	const char *what = min > 0 ? "a positive integer" : "a non-negative integer";
	const char *s;
	long v = 0;

	if (n->type != YAML_SCALAR_NODE || is_null(n))
		return perr(p, n, "'%s' must be %s", key, what);
	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return perr(p, n, "'%s' must be %s, not the quoted string '%s'", key, what, sval(n));
	s = sval(n);
	for (const char *c = s; *c; c++) {
		if (*c < '0' || *c > '9' || c - s >= 9)
			return perr(p, n, "'%s' must be %s, not '%s'", key, what, s);
		v = v * 10 + (*c - '0');
	}
	if (v < min)
		return perr(p, n, "'%s' must be %s, not '%s'", key, what, s);
	*dst = (int)v;
	return 0;
}

static int want_enum(const struct parse *p, const yaml_node_t *n, const char *key,
		     const char *const *names, int *dst)
{
	char list[128] = "";
	size_t len = 0;
	const char *s;
	int rc = want_scalar(p, n, key, &s);

	if (rc)
		return rc;
	for (int i = 0; names[i]; i++) {
		if (!strcmp(names[i], s)) {
			*dst = i;
			return 0;
		}
		int w = snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", names[i]);
		if (w < 0 || (size_t)w >= sizeof list - len)
			break;
		len += (size_t)w;
	}
	return perr(p, n, "bad %s '%s' (one of: %s)", key, s, list);
}

typedef int (*item_check)(const struct parse *p, const yaml_node_t *n, const char *s);

/* A sequence of distinct non-empty strings, each passing CHECK. */
static int want_list(const struct parse *p, const yaml_node_t *n, const char *key,
		     item_check check, struct hero_strlist *dst)
{
	if (n->type != YAML_SEQUENCE_NODE)
		return perr(p, n, "'%s' must be a list", key);
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++) {
		const yaml_node_t *item = node(p, *it);
		const char *s;
		int rc = want_scalar(p, item, key, &s);

		if (!rc)
			rc = check(p, item, s);
		if (rc)
			return rc;
		if (strlist_has(dst, s))
			return perr(p, item, "duplicate '%s' in '%s'", s, key);
		if (hero_strlist_push(dst, s))
			return oom(p);
	}
	return 0;
}

/* Check MAP is a mapping whose keys are all in KEYS (NULL-terminated), each
 * at most once; VALS[i] receives the value of KEYS[i] or stays NULL. */
static int collect(const struct parse *p, const yaml_node_t *map, const char *what,
		   const char *const *keys, yaml_node_t **vals)
{
	if (map->type != YAML_MAPPING_NODE)
		return perr(p, map, "%s must be a mapping", what);
	for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top;
	     pr++) {
		yaml_node_t *k = node(p, pr->key), *v = node(p, pr->value);
		size_t i;

		if (!k || !v)
			return perr(p, map, "malformed mapping");
		if (k->type != YAML_SCALAR_NODE)
			return perr(p, k, "keys must be strings");
		for (i = 0; keys[i] && strcmp(keys[i], sval(k)); i++)
			;
		if (!keys[i])
			return perr(p, k, "unknown key '%s'", sval(k));
		if (vals[i])
			return perr(p, k, "duplicate key '%s'", sval(k));
		vals[i] = v;
	}
	return 0;
}

static int check_secret(const struct parse *p, const yaml_node_t *n, const char *s)
{
	if (!valid_secret_name(s))
		return perr(p, n, "invalid secret name '%s' (want [A-Z_][A-Z0-9_]*)", s);
	return 0;
}

static int check_include(const struct parse *p, const yaml_node_t *n, const char *s)
{
	if (strlen(s) > GLOB_MAX)
		return perr(p, n, "glob '%s' is longer than %d bytes", s, GLOB_MAX);
	if (strchr(s, '/'))
		return perr(p, n, "include glob '%s' has a '/' (include globs match file names only)",
			    s);
	return 0;
}

static int check_exclude(const struct parse *p, const yaml_node_t *n, const char *s)
{
	const char *slash = strchr(s, '/');

	if (strlen(s) > GLOB_MAX)
		return perr(p, n, "glob '%s' is longer than %d bytes", s, GLOB_MAX);
	if (slash && (slash == s || slash[1]))
		return perr(p, n, "exclude glob '%s' must match one name ('/' only at the end)", s);
	return 0;
}

/* A path value of KEY at N that must not hold `{context}`. */
static int want_plain_path(const struct parse *p, const yaml_node_t *n, const char *key,
			   char **dst)
{
	const char *why;
	int nctx, rc = want_string(p, n, key, dst);

	if (rc)
		return rc;
	why = path_problem(*dst, &nctx);
	if (why)
		return perr(p, n, "path '%s' %s", *dst, why);
	if (nctx)
		return perr(p, n, "'{context}' is only allowed in state paths, not in '%s'", key);
	return 0;
}

enum { VF_FILE, VF_COMMAND, VF_N };
static const char *const version_from_keys[] = { "file", "command", NULL };

static int parse_version_from(const struct parse *p, const yaml_node_t *n,
			      struct hero_service *svc)
{
	yaml_node_t *v[VF_N] = { 0 };
	int rc = collect(p, n, "'version_from'", version_from_keys, v);

	if (rc)
		return rc;
	if (!v[VF_FILE] == !v[VF_COMMAND])
		return perr(p, n, "'version_from' takes exactly one of 'file' or 'command'");
	if (v[VF_FILE]) {
		rc = want_plain_path(p, v[VF_FILE], "file", &svc->version_file);
		if (!rc && is_dir_path(svc->version_file))
			rc = perr(p, v[VF_FILE], "version file '%s' names a directory",
				  svc->version_file);
		return rc;
	}
	return want_string(p, v[VF_COMMAND], "command", &svc->version_command);
}

enum { S_PATH, S_TYPE, S_CLASS, S_INCLUDE, S_EXCLUDE, S_CONTEXT_COLUMN, S_N };
static const char *const state_keys[] = { "path", "type", "class", "include", "exclude",
					  "context_column", NULL };

/* The cross-key rules of one state entry whose keys are in V. */
static int check_state(const struct parse *p, yaml_node_t **v, const struct hero_service *svc,
		       const struct hero_state *st)
{
	int dir = is_dir_path(st->path), ctx = hero_state_per_context(st);
	yaml_node_t *globs = v[S_INCLUDE] ? v[S_INCLUDE] : v[S_EXCLUDE];

	if (ctx && !svc->per_context)
		return perr(p, v[S_PATH], "'{context}' in path '%s' but contexts is none", st->path);
	if (st->type == HERO_STATE_SECRETS && dir)
		return perr(p, v[S_PATH], "a secrets entry names one file, not directory '%s'",
			    st->path);
	if (st->type == HERO_STATE_SECRETS && globs)
		return perr(p, globs, "a secrets entry takes no include or exclude");
	if (globs && !dir)
		return perr(p, globs, "include and exclude need a directory path (ending in '/')");
	if (!v[S_CONTEXT_COLUMN])
		return 0;
	if (st->type != HERO_STATE_SQLITE)
		return perr(p, v[S_CONTEXT_COLUMN], "context_column is only for sqlite entries");
	if (!svc->per_context)
		return perr(p, v[S_CONTEXT_COLUMN], "context_column needs 'contexts: per-context'");
	if (ctx)
		return perr(p, v[S_CONTEXT_COLUMN],
			    "context_column and '{context}' in one path: choose one partition");
	if (!valid_identifier(st->context_column))
		return perr(p, v[S_CONTEXT_COLUMN], "invalid context_column '%s' (want an SQL "
			    "identifier [A-Za-z_][A-Za-z0-9_]*)", st->context_column);
	return 0;
}

static int parse_state(const struct parse *p, const yaml_node_t *n,
		       const struct hero_service *svc, struct hero_state *st)
{
	yaml_node_t *v[S_N] = { 0 };
	const char *why;
	int e, nctx, rc = collect(p, n, "a state entry", state_keys, v);

	if (rc)
		return rc;
	st->line = (int)n->start_mark.line + 1;
	st->column = (int)n->start_mark.column + 1;
	st->class = svc->class;
	if (!v[S_PATH])
		return perr(p, n, "missing key 'path' in state entry");
	if (!v[S_TYPE])
		return perr(p, n, "missing key 'type' in state entry");
	if ((rc = want_string(p, v[S_PATH], "path", &st->path)))
		return rc;
	if ((why = path_problem(st->path, &nctx)))
		return perr(p, v[S_PATH], "path '%s' %s", st->path, why);
	if ((rc = want_enum(p, v[S_TYPE], "type", type_names, &e)))
		return rc;
	st->type = (enum hero_state_type)e;
	if (v[S_CLASS]) {
		if ((rc = want_enum(p, v[S_CLASS], "class", class_names, &e)))
			return rc;
		st->class = (enum hero_class)e;
	}
	if (v[S_INCLUDE] && (rc = want_list(p, v[S_INCLUDE], "include", check_include,
					    &st->include)))
		return rc;
	if (v[S_EXCLUDE] && (rc = want_list(p, v[S_EXCLUDE], "exclude", check_exclude,
					    &st->exclude)))
		return rc;
	if (v[S_CONTEXT_COLUMN] &&
	    (rc = want_string(p, v[S_CONTEXT_COLUMN], "context_column", &st->context_column)))
		return rc;
	return check_state(p, v, svc, st);
}

/* Whether components A and B (lengths LA, LB) can name the same thing;
 * A_FILE / B_FILE: the component is the last of a file path. */
static int component_match(const char *a, size_t la, int a_file, const char *b, size_t lb,
			   int b_file)
{
	int a_ctx = la == CONTEXT_TOKEN_LEN && !memcmp(a, CONTEXT_TOKEN, la);
	int b_ctx = lb == CONTEXT_TOKEN_LEN && !memcmp(b, CONTEXT_TOKEN, lb);

	if (a_ctx || b_ctx)
		return (a_ctx || !a_file) && (b_ctx || !b_file); /* a context is a directory */
	return la == lb && !memcmp(a, b, la);
}

/* Whether state paths A and B can hold a common file: one is a prefix of the
 * other, `{context}` matching any directory name. */
static int paths_overlap(const char *a, const char *b)
{
	while (*a && *b) {
		const char *ea = strchrnul(a, '/'), *eb = strchrnul(b, '/');

		if (!component_match(a, (size_t)(ea - a), !*ea, b, (size_t)(eb - b), !*eb))
			return 0;
		a = *ea ? ea + 1 : ea;
		b = *eb ? eb + 1 : eb;
	}
	return 1;
}

static int parse_state_list(const struct parse *p, const yaml_node_t *n,
			    struct hero_service *svc)
{
	size_t count;
	int partitioned = 0;

	if (n->type != YAML_SEQUENCE_NODE)
		return perr(p, n, "'state' must be a list");
	count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (!count)
		return perr(p, n, "'state' is empty");
	if (!(svc->state = calloc(count, sizeof *svc->state)))
		return oom(p);
	for (size_t i = 0; i < count; i++) {
		const yaml_node_t *item = node(p, n->data.sequence.items.start[i]);
		struct hero_state *st = &svc->state[i];
		int rc;

		svc->n_state++;
		if ((rc = parse_state(p, item, svc, st)))
			return rc;
		for (size_t j = 0; j < i; j++)
			if (paths_overlap(svc->state[j].path, st->path))
				return perr(p, item, "state path '%s' overlaps '%s' (line %d)",
					    st->path, svc->state[j].path, svc->state[j].line);
		partitioned |= hero_state_per_context(st) || st->context_column;
	}
	if (svc->per_context && !partitioned)
		return perr(p, n, "contexts is per-context but no state entry has '{context}' "
			    "or context_column");
	return 0;
}

enum { H_QUIESCE, H_RESUME, H_TIMEOUT, H_N };
static const char *const hooks_keys[] = { "quiesce", "resume", "timeout", NULL };

static int parse_hooks(const struct parse *p, const yaml_node_t *n, struct hero_service *svc)
{
	yaml_node_t *v[H_N] = { 0 };
	int rc = collect(p, n, "'hooks'", hooks_keys, v);

	if (!rc && v[H_QUIESCE])
		rc = want_string(p, v[H_QUIESCE], "quiesce", &svc->hook_quiesce);
	if (!rc && v[H_RESUME])
		rc = want_string(p, v[H_RESUME], "resume", &svc->hook_resume);
	if (!rc && v[H_TIMEOUT])
		rc = want_int(p, v[H_TIMEOUT], "timeout", 1, &svc->hook_timeout);
	return rc;
}

/* "METHOD /path": an upper-case method, one space, a path without spaces. */
static int valid_http_check(const char *s)
{
	const char *c = s;

	while (*c >= 'A' && *c <= 'Z')
		c++;
	if (c == s || c[0] != ' ' || c[1] != '/')
		return 0;
	for (c++; *c; c++)
		if ((unsigned char)*c <= 0x20 || *c == 0x7f)
			return 0;
	return 1;
}

enum { HL_HTTP, HL_SOCKET, HL_COMMAND, HL_TIMEOUT, HL_N };
static const char *const health_keys[] = { "http", "socket", "command", "timeout", NULL };

static int parse_health(const struct parse *p, const yaml_node_t *n, struct hero_service *svc)
{
	yaml_node_t *v[HL_N] = { 0 };
	int rc = collect(p, n, "'health'", health_keys, v);

	if (rc)
		return rc;
	if (v[HL_HTTP]) {
		if ((rc = want_string(p, v[HL_HTTP], "http", &svc->health_http)))
			return rc;
		if (!valid_http_check(svc->health_http))
			return perr(p, v[HL_HTTP], "bad http check '%s' (want \"METHOD /path\")",
				    svc->health_http);
		if (!v[HL_SOCKET])
			return perr(p, n, "health 'http' needs 'socket'");
	}
	if (v[HL_SOCKET] && (rc = want_plain_path(p, v[HL_SOCKET], "socket", &svc->health_socket)))
		return rc;
	if (v[HL_COMMAND] && (rc = want_string(p, v[HL_COMMAND], "command", &svc->health_command)))
		return rc;
	if (v[HL_TIMEOUT])
		rc = want_int(p, v[HL_TIMEOUT], "timeout", 1, &svc->health_timeout);
	return rc;
}

enum { K_SERVICE, K_VERSION, K_VERSION_FROM, K_SCHEMA, K_CLASS, K_CONTEXTS, K_SECRETS,
       K_STATE, K_HOOKS, K_HEALTH, K_MIGRATIONS, K_N };
static const char *const top_keys[] = { "service", "version", "version_from", "schema", "class",
					"contexts", "secrets", "state", "hooks", "health",
					"migrations", NULL };

/* service, version, schema, class, contexts, secrets: what the state list depends on. */
static int parse_head(const struct parse *p, yaml_node_t **v, struct hero_service *svc)
{
	const char *why;
	int e, rc;

	if ((rc = want_string(p, v[K_SERVICE], "service", &svc->name)))
		return rc;
	svc->line = (int)v[K_SERVICE]->start_mark.line + 1;
	svc->column = (int)v[K_SERVICE]->start_mark.column + 1;
	if (!hero_service_valid(svc->name))
		return perr(p, v[K_SERVICE], "invalid service name '%s' (want 1-64 bytes of "
			    "[A-Za-z0-9_.-], not starting with '.' or '-')", svc->name);
	if (v[K_VERSION]) {
		if ((rc = want_string(p, v[K_VERSION], "version", &svc->version)))
			return rc;
		if ((why = hero_version_problem(svc->version)))
			return perr(p, v[K_VERSION], "version '%s' %s", svc->version, why);
	} else if ((rc = parse_version_from(p, v[K_VERSION_FROM], svc))) {
		return rc;
	}
	if ((rc = want_int(p, v[K_SCHEMA], "schema", 0, &svc->schema)))
		return rc;
	if (v[K_CLASS]) {
		if ((rc = want_enum(p, v[K_CLASS], "class", class_names, &e)))
			return rc;
		svc->class = (enum hero_class)e;
	}
	if (v[K_CONTEXTS]) {
		if ((rc = want_enum(p, v[K_CONTEXTS], "contexts", contexts_names, &e)))
			return rc;
		svc->per_context = e;
	}
	if (v[K_SECRETS])
		return want_list(p, v[K_SECRETS], "secrets", check_secret, &svc->secrets);
	return 0;
}

static int parse_top(const struct parse *p, const yaml_node_t *root, struct hero_service *svc)
{
	yaml_node_t *v[K_N] = { 0 };
	int rc = collect(p, root, "a manifest", top_keys, v);

	if (rc)
		return rc;
	if (!v[K_SERVICE])
		return perr(p, root, "missing key 'service'");
	if (!v[K_SCHEMA])
		return perr(p, root, "missing key 'schema'");
	if (!v[K_STATE])
		return perr(p, root, "missing key 'state'");
	if (v[K_VERSION] && v[K_VERSION_FROM])
		return perr(p, v[K_VERSION_FROM], "both 'version' and 'version_from' given");
	if (!v[K_VERSION] && !v[K_VERSION_FROM])
		return perr(p, root, "missing key 'version' or 'version_from'");
	svc->class = HERO_CLASS_AUTHORITATIVE;
	svc->hook_timeout = HOOK_TIMEOUT_DEFAULT;
	svc->health_timeout = HEALTH_TIMEOUT_DEFAULT;
	if ((rc = parse_head(p, v, svc)) || (rc = parse_state_list(p, v[K_STATE], svc)))
		return rc;
	if (v[K_HOOKS] && (rc = parse_hooks(p, v[K_HOOKS], svc)))
		return rc;
	if (v[K_HEALTH] && (rc = parse_health(p, v[K_HEALTH], svc)))
		return rc;
	if (v[K_MIGRATIONS])
		rc = want_plain_path(p, v[K_MIGRATIONS], "migrations", &svc->migrations);
	return rc;
}

static int yaml_fail(const char *path, const yaml_parser_t *ps, struct hero_error *err)
{
	const char *problem = ps->problem ? ps->problem : "out of memory";

	if (ps->error == YAML_READER_ERROR)
		return hero_error(err, HERO_EFAIL, "%s: %s at byte %zu", path, problem,
				  ps->problem_offset);
	if (ps->context)
		return hero_error(err, HERO_EFAIL, "%s:%zu:%zu: %s (%s at line %zu, column %zu)",
				  path, ps->problem_mark.line + 1, ps->problem_mark.column + 1,
				  problem, ps->context, ps->context_mark.line + 1,
				  ps->context_mark.column + 1);
	return hero_error(err, HERO_EFAIL, "%s:%zu:%zu: %s", path, ps->problem_mark.line + 1,
			  ps->problem_mark.column + 1, problem);
}

/* The one YAML document of parser PS into DOC (deleted again on error). */
static int load_one_document(const char *path, yaml_parser_t *ps, yaml_document_t *doc,
			     struct hero_error *err)
{
	yaml_document_t extra;
	yaml_node_t *more;
	int rc = 0;

	if (!yaml_parser_load(ps, doc))
		return yaml_fail(path, ps, err);
	if (!yaml_document_get_root_node(doc)) {
		rc = hero_error(err, HERO_EFAIL, "%s:1:1: empty manifest", path);
		goto out;
	}
	if (!yaml_parser_load(ps, &extra)) {
		rc = yaml_fail(path, ps, err);
		goto out;
	}
	if ((more = yaml_document_get_root_node(&extra)))
		rc = hero_error(err, HERO_EFAIL, "%s:%zu:%zu: more than one YAML document", path,
				more->start_mark.line + 1, more->start_mark.column + 1);
	yaml_document_delete(&extra);
out:
	if (rc)
		yaml_document_delete(doc);
	return rc;
}

static int load_document(const char *path, yaml_document_t *doc, struct hero_error *err)
{
	yaml_parser_t ps;
	struct stat sb;
	FILE *f = fopen(path, "rb");
	int rc;

	if (!f)
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot open '%s'", path);
	if (fstat(fileno(f), &sb)) {
		rc = hero_error_errno(err, HERO_EFAIL, errno, "cannot stat '%s'", path);
		goto out_file;
	}
	if (!S_ISREG(sb.st_mode) || sb.st_size > MANIFEST_MAX) {
		rc = hero_error(err, HERO_EFAIL, "'%s' is not a regular file of at most 1 MiB", path);
		goto out_file;
	}
	if (!yaml_parser_initialize(&ps)) {
		rc = hero_error(err, HERO_EFAIL, "%s: out of memory", path);
		goto out_file;
	}
	yaml_parser_set_input_file(&ps, f);
	rc = load_one_document(path, &ps, doc, err);
	yaml_parser_delete(&ps);
out_file:
	fclose(f);
	return rc;
}

int hero_service_load(struct hero_service *svc, const char *path, struct hero_error *err)
{
	yaml_document_t doc;
	struct parse p = { path, &doc, err };
	int rc = load_document(path, &doc, err);

	if (rc)
		return rc;
	rc = parse_top(&p, yaml_document_get_root_node(&doc), svc);
	yaml_document_delete(&doc);
	if (!rc && !(svc->file = strdup(path)))
		rc = hero_error(err, HERO_EFAIL, "%s: out of memory", path);
	if (rc)
		hero_service_release(svc);
	return rc;
}

static void state_release(struct hero_state *st)
{
	free(st->path);
	hero_strlist_release(&st->include);
	hero_strlist_release(&st->exclude);
	free(st->context_column);
}

void hero_service_release(struct hero_service *svc)
{
	if (!svc)
		return;
	free(svc->name);
	free(svc->version);
	free(svc->version_file);
	free(svc->version_command);
	hero_strlist_release(&svc->secrets);
	for (size_t i = 0; i < svc->n_state; i++)
		state_release(&svc->state[i]);
	free(svc->state);
	free(svc->hook_quiesce);
	free(svc->hook_resume);
	free(svc->health_http);
	free(svc->health_socket);
	free(svc->health_command);
	free(svc->migrations);
	free(svc->file);
	memset(svc, 0, sizeof *svc);
}

/* ---- the inventory ---------------------------------------------------- */

static int has_manifest_suffix(const char *name)
{
	size_t n = strlen(name);

	return (n > 5 && !strcmp(name + n - 5, ".yaml")) || (n > 4 && !strcmp(name + n - 4, ".yml"));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of DIR's manifest files (regular *.yaml / *.yml, not hidden), sorted. */
static int list_manifests(const char *dir, struct hero_strlist *out, struct hero_error *err)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int rc = 0;

	if (!d)
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot open directory '%s'", dir);
	while ((de = readdir(d))) {
		struct stat sb;

		if (de->d_name[0] == '.' || !has_manifest_suffix(de->d_name))
			continue;
		if (fstatat(dirfd(d), de->d_name, &sb, 0) || !S_ISREG(sb.st_mode))
			continue;
		if (hero_strlist_push(out, de->d_name)) {
			rc = hero_error(err, HERO_EFAIL, "out of memory");
			break;
		}
	}
	closedir(d);
	if (!rc && out->n)
		qsort(out->v, out->n, sizeof *out->v, cmp_str);
	return rc;
}

static int cmp_service(const void *a, const void *b)
{
	const struct hero_service *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->file, y->file);
}

/* Duplicate names and state paths shared between services. */
static int check_inventory(const struct hero_inventory *inv, struct hero_error *err)
{
	for (size_t i = 0; i < inv->n; i++) {
		const struct hero_service *s = &inv->services[i];

		if (i && !strcmp(s->name, inv->services[i - 1].name))
			return hero_error(err, HERO_EFAIL, "%s:%d:%d: duplicate service '%s' "
					  "(also in '%s')", s->file, s->line, s->column, s->name,
					  inv->services[i - 1].file);
		for (size_t j = 0; j < i; j++) {
			const struct hero_service *o = &inv->services[j];

			for (size_t a = 0; a < s->n_state; a++)
				for (size_t b = 0; b < o->n_state; b++)
					if (paths_overlap(s->state[a].path, o->state[b].path))
						return hero_error(err, HERO_EFAIL,
							"%s:%d:%d: state path '%s' overlaps '%s' "
							"of service '%s' (%s:%d)", s->file,
							s->state[a].line, s->state[a].column,
							s->state[a].path, o->state[b].path, o->name,
							o->file, o->state[b].line);
		}
	}
	return 0;
}

int hero_inventory_load(struct hero_inventory *inv, const char *dir, struct hero_error *err)
{
	struct hero_strlist names = { NULL, 0 };
	int rc = list_manifests(dir, &names, err);

	if (rc)
		goto out;
	if (!names.n) {
		rc = hero_error(err, HERO_EFAIL, "no manifests (*.yaml) in '%s'", dir);
		goto out;
	}
	inv->dir = strdup(dir);
	inv->services = calloc(names.n, sizeof *inv->services);
	if (!inv->dir || !inv->services) {
		rc = hero_error(err, HERO_EFAIL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < names.n; i++) {
		char *path = hero_join(dir, names.v[i]);

		if (!path) {
			rc = hero_error(err, HERO_EFAIL, "out of memory");
			goto out;
		}
		rc = hero_service_load(&inv->services[inv->n], path, err);
		free(path);
		if (rc)
			goto out;
		inv->n++;
	}
	qsort(inv->services, inv->n, sizeof *inv->services, cmp_service);
	rc = check_inventory(inv, err);
out:
	hero_strlist_release(&names);
	if (rc)
		hero_inventory_release(inv);
	return rc;
}

void hero_inventory_release(struct hero_inventory *inv)
{
	if (!inv)
		return;
	for (size_t i = 0; i < inv->n; i++)
		hero_service_release(&inv->services[i]);
	free(inv->services);
	free(inv->dir);
	inv->services = NULL;
	inv->n = 0;
	inv->dir = NULL;
}

const struct hero_service *hero_inventory_find(const struct hero_inventory *inv, const char *name)
{
	size_t lo = 0, hi = inv ? inv->n : 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, inv->services[mid].name);

		if (!c)
			return &inv->services[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}
