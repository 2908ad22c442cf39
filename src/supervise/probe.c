/* probe.c - smoke-probe panels: loading, variables, and the local probe kinds. */
#include "hero/probe.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sqlite3.h>

#include "hero/supervisor.h"
#include "supervise/probe_priv.h"
#include "supervise/svcyaml.h"

#define DEFAULT_TIMEOUT_MS 10000L

/* ---- loading: variables ------------------------------------------------- */

struct strlist {
	char **v;
	size_t n;
};

static int strlist_add(struct strlist *l, char *s)
{
	char **v = realloc(l->v, (l->n + 2) * sizeof *v);
	if (!v) {
		free(s);
		return -1;
	}
	l->v = v;
	l->v[l->n++] = s;
	l->v[l->n] = NULL;
	return 0;
}

static void strlist_release(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* {glob: PATTERN, basename: BOOL}: the first match, or "" when none. */
static int glob_value(const char *name, const json_t *spec, const struct hero_vars *hv, char **out,
		      struct hero_error *err)
{
	const char *pat = json_string_value(json_object_get(spec, "glob"));
	const json_t *base = json_object_get(spec, "basename");
	char *exp = NULL;
	glob_t g;
	if (!pat || (base && !json_is_boolean(base)) || json_object_size(spec) != 1 + (base != NULL))
		return hero_error(err, HERO_EUSAGE, "vars: '%s' must be a string or {glob: PATTERN, basename: BOOL}",
				  name);
	if (hero_expand(pat, hv, &exp, err) < 0)
		return hero_error_prefix(err, "vars: '%s'", name);
	int found = glob(exp, 0, NULL, &g) == 0;
	const char *first = found && g.gl_pathc ? g.gl_pathv[0] : "";
	if (json_is_true(base) && strrchr(first, '/'))
		first = strrchr(first, '/') + 1;
	*out = strdup(first);
	if (found)
		globfree(&g);
	free(exp);
	return *out ? 0 : hero_error(err, HERO_EFAIL, "out of memory");
}

static int var_name_ok(const char *s)
{
	if (!isalpha((unsigned char)*s) && *s != '_')
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_')
			return 0;
	return 1;
}

/* Compute the panel's vars in order into OUT ("NAME=VALUE" strings), each
 * seeing --set, the environment and the vars before it. */
static int panel_vars(const json_t *vars, const char *const *set, struct strlist *out, struct hero_error *err)
{
	const char *k;
	json_t *v;
	if (vars && !json_is_object(vars))
		return hero_error(err, HERO_EUSAGE, "'vars' must be a mapping");
	json_object_foreach((json_t *)vars, k, v) {
		struct hero_vars hv = { set, 1, (const char *const *)out->v };
		char *val = NULL, *line = NULL;
		int rc = 0;
		if (!var_name_ok(k))
			return hero_error(err, HERO_EUSAGE, "vars: bad variable name '%s'", k);
		if (json_is_string(v))
			rc = hero_expand(json_string_value(v), &hv, &val, err);
		else if (json_is_object(v))
			rc = glob_value(k, v, &hv, &val, err);
		else if (json_is_number(v) || json_is_boolean(v))
			val = json_dumps(v, JSON_ENCODE_ANY);
		else
			rc = hero_error(err, HERO_EUSAGE, "vars: '%s' must be a plain value", k);
		if (rc < 0)
			return rc;
		if (!val || asprintf(&line, "%s=%s", k, val) < 0) {
			free(val);
			return hero_error(err, HERO_EFAIL, "out of memory");
		}
		free(val);
		if (strlist_add(out, line) < 0)
			return hero_error(err, HERO_EFAIL, "out of memory");
	}
	return 0;
}

/* Replace every string in V (not keys) by its expansion. */
static int expand_tree(json_t *v, const struct hero_vars *hv, struct hero_error *err)
{
	const char *k;
	json_t *x;
	size_t i;
	if (json_is_string(v)) {
		char *exp = NULL;
		if (hero_expand(json_string_value(v), hv, &exp, err) < 0)
			return -err->code;
		json_string_set(v, exp);
		free(exp);
		return 0;
	}
	json_object_foreach(v, k, x) {
		if (expand_tree(x, hv, err) < 0)
			return hero_error_prefix(err, "'%s'", k);
	}
	json_array_foreach(v, i, x) {
		if (expand_tree(x, hv, err) < 0)
			return -err->code;
	}
	return 0;
}

/* ---- loading: probes ---------------------------------------------------- */

/* Keys per kind as "name:type": s string, i non-negative integer, b boolean,
 * m mapping of strings, l string or list of strings, a anything, d duration. */
static const struct kind_spec {
	const char *kind;
	const char *const keys[16];
	const char *required;
} kinds[] = {
	{ "http", { "url:s", "socket:s", "path:s", "method:s", "headers:m", "context:s", "body:s", "status:i",
		    "body_contains:l", "content_type:s", "min_bytes:i", "magic:s", NULL }, NULL },
	{ "jsonrpc", { "url:s", "socket:s", "path:s", "call:s", "params:a", "headers:m", "context:s",
		       "contexts:l", "nonempty:b", "min_items:i", "differ:b", "result_contains:s", NULL }, "call" },
	{ "file", { "path:s", "min_count:i", "min_size:i", "magic:s", "type:s", NULL }, "path" },
	{ "sqlite", { "path:s", "query:s", "min_rows:i", NULL }, "query" },
	{ "command", { "run:s", "exit:i", "output_contains:s", NULL }, "run" },
	{ "services", { "supervisor:s", "health_socket:s", "health_path:s", "ignore:l", "require_health:b", NULL },
	  "supervisor" },
};

static int type_ok(char t, const json_t *v)
{
	size_t i;
	const json_t *x;
	const char *k;
	switch (t) {
	case 's': return json_is_string(v);
	case 'i': return (json_is_integer(v) && json_integer_value(v) >= 0) ||
			 (json_is_string(v) && *json_string_value(v) &&
			  strspn(json_string_value(v), "0123456789") == strlen(json_string_value(v)));
	case 'b': return json_is_boolean(v);
	case 'm':
		if (!json_is_object(v))
			return 0;
		json_object_foreach((json_t *)v, k, x) {
			if (!json_is_string(x))
				return 0;
		}
		return 1;
	case 'l':
		if (json_is_string(v))
			return 1;
		if (!json_is_array(v))
			return 0;
		json_array_foreach(v, i, x) {
			if (!json_is_string(x))
				return 0;
		}
		return 1;
	default: return 1;
	}
}

static const char *type_name(char t)
{
	return t == 's' ? "a string" : t == 'i' ? "a non-negative integer" : t == 'b' ? "true or false"
	       : t == 'm' ? "a mapping of strings" : t == 'l' ? "a string or a list of strings" : "a value";
}

static int check_keys(const char *name, const struct kind_spec *ks, const json_t *spec, struct hero_error *err)
{
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)spec, k, v) {
		char t = 0;
		if (!strcmp(k, "name") || !strcmp(k, "kind") || !strcmp(k, "timeout") || !strcmp(k, "description"))
			continue;
		for (const char *const *s = ks->keys; *s; s++)
			if (!strncmp(*s, k, strlen(k)) && (*s)[strlen(k)] == ':')
				t = (*s)[strlen(k) + 1];
		if (!t)
			return hero_error(err, HERO_EUSAGE, "probe '%s': unknown key '%s' for kind %s", name, k, ks->kind);
		if (!type_ok(t, v))
			return hero_error(err, HERO_EUSAGE, "probe '%s': '%s' must be %s", name, k, type_name(t));
	}
	if (ks->required && !json_object_get(spec, ks->required))
		return hero_error(err, HERO_EUSAGE, "probe '%s': kind %s needs '%s'", name, ks->kind, ks->required);
	if (!strcmp(ks->kind, "sqlite") && !json_object_get(spec, "path"))
		return hero_error(err, HERO_EUSAGE, "probe '%s': kind sqlite needs 'path'", name);
	if (!strcmp(ks->kind, "http") && !json_object_get(spec, "url") && !json_object_get(spec, "socket"))
		return hero_error(err, HERO_EUSAGE, "probe '%s': kind http needs 'url' or 'socket'", name);
	if (!strcmp(ks->kind, "jsonrpc") && !json_object_get(spec, "url") && !json_object_get(spec, "socket"))
		return hero_error(err, HERO_EUSAGE, "probe '%s': kind jsonrpc needs 'url' or 'socket'", name);
	const char *magic = json_string_value(json_object_get(spec, "magic"));
	if (magic && !hero_probe_magic_known(magic))
		return hero_error(err, HERO_EUSAGE, "probe '%s': unknown magic type '%s'", name, magic);
	return 0;
}

static int load_probe(struct hero_panel *p, size_t idx, json_t *spec, long dflt_timeout, struct hero_error *err)
{
	const char *name = json_string_value(json_object_get(spec, "name"));
	const char *kind = json_string_value(json_object_get(spec, "kind"));
	const json_t *t = json_object_get(spec, "timeout");
	struct probe *pr = &p->probes[idx];
	if (!json_is_object(spec))
		return hero_error(err, HERO_EUSAGE, "probe %zu: must be a mapping", idx + 1);
	if (!name || !*name || strlen(name) >= sizeof((struct hero_probe_result *)0)->name)
		return hero_error(err, HERO_EUSAGE, "probe %zu: 'name' is required (at most 127 characters)", idx + 1);
	for (size_t i = 0; i < idx; i++)
		if (!strcmp(p->probes[i].name, name))
			return hero_error(err, HERO_EUSAGE, "probe '%s' is declared twice", name);
	const struct kind_spec *ks = NULL;
	for (size_t i = 0; kind && i < sizeof kinds / sizeof kinds[0]; i++)
		if (!strcmp(kinds[i].kind, kind))
			ks = &kinds[i];
	if (!ks)
		return hero_error(err, HERO_EUSAGE, "probe '%s': kind must be one of http, jsonrpc, file, sqlite, "
				  "command, services", name);
	int rc = check_keys(name, ks, spec, err);
	if (rc < 0)
		return rc;
	pr->timeout_ms = dflt_timeout;
	if (t) {
		char num[32];
		const char *ts = json_is_string(t) ? json_string_value(t) : num;
		snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_is_integer(t) ? json_integer_value(t) : -1);
		if ((pr->timeout_ms = hero_duration_ms(ts)) <= 0)
			return hero_error(err, HERO_EUSAGE, "probe '%s': bad timeout (use 500ms, 5s, 1m)", name);
	}
	if (!(pr->name = strdup(name)))
		return hero_error(err, HERO_EFAIL, "out of memory");
	snprintf(pr->kind, sizeof pr->kind, "%s", kind);
	pr->spec = json_incref(spec);
	return 0;
}

static int load_defaults(const json_t *doc, long *timeout, struct hero_error *err)
{
	const json_t *d = json_object_get(doc, "defaults");
	const char *k;
	json_t *v;
	*timeout = DEFAULT_TIMEOUT_MS;
	json_object_foreach((json_t *)d, k, v) {
		if (strcmp(k, "timeout"))
			return hero_error(err, HERO_EUSAGE, "defaults: unknown key '%s'", k);
		char *s = json_dumps(v, JSON_ENCODE_ANY);
		const char *txt = json_is_string(v) ? json_string_value(v) : s;
		*timeout = hero_duration_ms(txt);
		free(s);
		if (*timeout <= 0)
			return hero_error(err, HERO_EUSAGE, "defaults: bad timeout (use 500ms, 5s, 1m)");
	}
	return 0;
}

static int load_doc(struct hero_panel *p, json_t *doc, const char *const *set, struct hero_error *err)
{
	struct strlist vars = { 0 };
	const char *k;
	json_t *v, *probes = json_object_get(doc, "probes");
	long timeout;
	int rc;
	json_object_foreach(doc, k, v) {
		if (strcmp(k, "vars") && strcmp(k, "defaults") && strcmp(k, "probes"))
			return hero_error(err, HERO_EUSAGE, "unknown top-level key '%s' (vars, defaults, probes)", k);
	}
	if (!json_is_array(probes) || !json_array_size(probes))
		return hero_error(err, HERO_EUSAGE, "'probes' must be a non-empty list");
	if ((rc = load_defaults(doc, &timeout, err)) < 0 ||
	    (rc = panel_vars(json_object_get(doc, "vars"), set, &vars, err)) < 0)
		goto out;
	struct hero_vars hv = { set, 1, (const char *const *)vars.v };
	if (!(p->probes = calloc(json_array_size(probes), sizeof *p->probes))) {
		rc = hero_error(err, HERO_EFAIL, "out of memory");
		goto out;
	}
	size_t i;
	json_array_foreach(probes, i, v) {
		char name[128];
		const char *raw = json_string_value(json_object_get(v, "name"));
		snprintf(name, sizeof name, "%s", raw ? raw : "?");
		if (json_is_object(v) && (rc = expand_tree(v, &hv, err)) < 0) {
			hero_error_prefix(err, "probe '%s'", name);
			goto out;
		}
		if ((rc = load_probe(p, i, v, timeout, err)) < 0)
			goto out;
		p->n++;
	}
	rc = 0;
out:
	strlist_release(&vars);
	return rc;
}

int hero_panel_new(const char *path, const char *const *vars, struct hero_panel **out, struct hero_error *err)
{
	json_t *doc = NULL;
	struct hero_panel *p = calloc(1, sizeof *p);
	if (!p)
		return hero_error(err, HERO_EFAIL, "out of memory");
	int rc = hero_yaml_load(path, NULL, &doc, err);
	if (rc == 0 && !json_is_object(doc))
		rc = hero_error(err, HERO_EUSAGE, "%s: a panel is a mapping with 'probes'", path);
	else if (rc == 0 && (rc = load_doc(p, doc, vars, err)) < 0)
		hero_error_prefix(err, "%s", path);
	if (rc == 0 && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		rc = hero_error(err, HERO_EFAIL, "cannot initialise libcurl");
	json_decref(doc);
	if (rc < 0) {
		hero_panel_free(p);
		return rc;
	}
	p->curl_ready = 1;
	*out = p;
	return 0;
}

void hero_panel_free(struct hero_panel *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++) {
		free(p->probes[i].name);
		json_decref(p->probes[i].spec);
	}
	free(p->probes);
	if (p->curl_ready)
		curl_global_cleanup();
	free(p);
}

size_t hero_panel_size(const struct hero_panel *p)
{
	return p->n;
}

const char *hero_panel_probe_name(const struct hero_panel *p, size_t i)
{
	return i < p->n ? p->probes[i].name : NULL;
}

/* ---- file --------------------------------------------------------------- */

static int check_file(const json_t *s, const char *path, struct hero_probe_result *res, const char **seen_type)
{
	struct stat st;
	const char *want_type = hero_spec_str(s, "type", "file"), *magic = hero_spec_str(s, "magic", NULL);
	long min = hero_spec_int(s, "min_size", 0);
	if (stat(path, &st) < 0) {
		if (errno == ENOENT)
			hero_probe_fail(res, "'%s' does not exist", path);
		else
			hero_probe_fail(res, "'%s': %s", path, strerror(errno));
		return -1;
	}
	int is_dir = S_ISDIR(st.st_mode);
	if ((!strcmp(want_type, "dir")) != is_dir || (!is_dir && !S_ISREG(st.st_mode))) {
		hero_probe_fail(res, "'%s' is not a %s", path, !strcmp(want_type, "dir") ? "directory" : "regular file");
		return -1;
	}
	if (!is_dir && st.st_size < min) {
		hero_probe_fail(res, "'%s' is %lld bytes, want at least %ld", path, (long long)st.st_size, min);
		return -1;
	}
	if (magic && !is_dir) {
		unsigned char head[32];
		ssize_t n = -1;
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			n = read(fd, head, sizeof head);
			close(fd);
		}
		if (n < 0 || !hero_magic_match(magic, head, (size_t)n)) {
			const char *t = n > 0 ? hero_magic_type(head, (size_t)n) : NULL;
			hero_probe_fail(res, "'%s' is not %s (%s)", path, magic, t ? t : "unknown type");
			return -1;
		}
		*seen_type = hero_magic_type(head, (size_t)n);
	}
	return 0;
}

static void run_file(const struct probe *pr, struct hero_probe_result *res)
{
	const char *pat = hero_spec_str(pr->spec, "path", "");
	long min_count = hero_spec_int(pr->spec, "min_count", 1);
	const char *type = NULL;
	glob_t g;
	if (!strpbrk(pat, "*?[")) {
		if (check_file(pr->spec, pat, res, &type) == 0)
			hero_probe_pass(res, "'%s'%s%s", pat, type ? " is " : "", type ? type : "");
		return;
	}
	int grc = glob(pat, 0, NULL, &g);
	size_t count = grc == 0 ? g.gl_pathc : 0;
	if ((grc != 0 && grc != GLOB_NOMATCH) || (long)count < min_count) {
		hero_probe_fail(res, "%zu files match '%s', want at least %ld", count, pat, min_count);
		goto out;
	}
	for (size_t i = 0; i < count; i++)
		if (check_file(pr->spec, g.gl_pathv[i], res, &type) < 0)
			goto out;
	hero_probe_pass(res, "%zu files match%s%s", count, type ? ", all " : "", type ? type : "");
out:
	if (grc == 0)
		globfree(&g);
}

/* ---- sqlite ------------------------------------------------------------- */

static int sqlite_deadline(void *arg)
{
	return hero_probe_now_ms() > *(const long long *)arg;
}

static void run_sqlite(const struct probe *pr, long long deadline, struct hero_probe_result *res)
{
	const char *path = hero_spec_str(pr->spec, "path", ""), *query = hero_spec_str(pr->spec, "query", ""), *tail = NULL;
	long min = hero_spec_int(pr->spec, "min_rows", 1), rows = 0;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	if (access(path, F_OK) < 0) {
		hero_probe_fail(res, "'%s' does not exist", path);
		return;
	}
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		hero_probe_fail(res, "cannot open '%s': %s", path, db ? sqlite3_errmsg(db) : "out of memory");
		goto out;
	}
	sqlite3_busy_timeout(db, (int)hero_probe_left_ms(deadline));
	sqlite3_progress_handler(db, 1000, sqlite_deadline, &deadline);
	if (sqlite3_prepare_v2(db, query, -1, &st, &tail) != SQLITE_OK) {
		hero_probe_fail(res, "'%s': %s", path, sqlite3_errmsg(db));
		goto out;
	}
	if (!st) {
		hero_probe_fail(res, "query is empty");
		goto out;
	}
	if (tail && tail[strspn(tail, " \t\r\n;")]) {
		hero_probe_fail(res, "query must be one statement");
		goto out;
	}
	if (!sqlite3_stmt_readonly(st)) {
		hero_probe_fail(res, "query must be read-only");
		goto out;
	}
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		rows++;
	if (rc == SQLITE_INTERRUPT)
		hero_probe_fail(res, "query timed out after %ld ms", pr->timeout_ms);
	else if (rc != SQLITE_DONE)
		hero_probe_fail(res, "'%s': %s", path, sqlite3_errmsg(db));
	else if (rows < min)
		hero_probe_fail(res, "%ld rows, want at least %ld", rows, min);
	else
		hero_probe_pass(res, "%ld rows", rows);
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* ---- command ------------------------------------------------------------ */

/* Read the child's output until EOF or DEADLINE, keeping the last bytes in TAIL. */
static void drain(int fd, long long deadline, char *tail, size_t cap)
{
	size_t len = 0;
	char buf[1024];
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		int r = poll(&p, 1, (int)hero_probe_left_ms(deadline));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || hero_probe_now_ms() >= deadline)
			break;
		ssize_t n = read(fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++) {
			if (len + 1 == cap) {
				memmove(tail, tail + cap / 2, len - cap / 2);
				len -= cap / 2;
			}
			tail[len++] = buf[i];
		}
	}
	tail[len] = '\0';
}

static int wait_child(pid_t pid, long long deadline, int *status)
{
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
		if (hero_probe_now_ms() >= deadline)
			return 1;
		struct timespec ts = { 0, 10 * 1000000L };
		nanosleep(&ts, NULL);
	}
}

static const char *last_line(char *text)
{
	size_t n = strlen(text);
	while (n && (text[n - 1] == '\n' || text[n - 1] == '\r'))
		text[--n] = '\0';
	char *nl = strrchr(text, '\n');
	return nl ? nl + 1 : text;
}

static void run_command(const struct probe *pr, long long deadline, struct hero_probe_result *res)
{
	const char *cmd = hero_spec_str(pr->spec, "run", "true"), *want = hero_spec_str(pr->spec, "output_contains", NULL);
	long code = hero_spec_int(pr->spec, "exit", 0);
	char tail[2048];
	int pfd[2], status = 0;
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		hero_probe_fail(res, "cannot create a pipe: %s", strerror(errno));
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		setpgid(0, 0);
		int null = open("/dev/null", O_RDONLY);
		dup2(null, 0);
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	if (pid < 0) {
		close(pfd[0]);
		hero_probe_fail(res, "cannot fork: %s", strerror(errno));
		return;
	}
	setpgid(pid, pid);
	drain(pfd[0], deadline, tail, sizeof tail);
	close(pfd[0]);
	int w = wait_child(pid, deadline, &status);
	if (w != 0) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		hero_probe_fail(res, "timed out after %ld ms", pr->timeout_ms);
		return;
	}
	const char *line = last_line(tail);
	if (!WIFEXITED(status))
		hero_probe_fail(res, "killed by signal %d%s%s", WTERMSIG(status), *line ? ": " : "", line);
	else if (WEXITSTATUS(status) != code)
		hero_probe_fail(res, "exit %d, want %ld%s%s", WEXITSTATUS(status), code, *line ? ": " : "", line);
	else if (want && !strstr(tail, want))
		hero_probe_fail(res, "output does not contain '%s'", want);
	else
		hero_probe_pass(res, "exit %d%s%s", WEXITSTATUS(status), *line ? ": " : "", line);
}

/* ---- dispatch ----------------------------------------------------------- */

void hero_probe_run(const struct hero_panel *p, size_t i, struct hero_probe_result *res)
{
	memset(res, 0, sizeof *res);
	if (i >= p->n) {
		hero_probe_fail(res, "no such probe");
		return;
	}
	const struct probe *pr = &p->probes[i];
	long long start = hero_probe_now_ms(), deadline = start + pr->timeout_ms;
	snprintf(res->name, sizeof res->name, "%s", pr->name);
	snprintf(res->kind, sizeof res->kind, "%s", pr->kind);
	if (!strcmp(pr->kind, "http"))
		hero_probe_run_http(pr, deadline, res);
	else if (!strcmp(pr->kind, "jsonrpc"))
		hero_probe_run_jsonrpc(pr, deadline, res);
	else if (!strcmp(pr->kind, "file"))
		run_file(pr, res);
	else if (!strcmp(pr->kind, "sqlite"))
		run_sqlite(pr, deadline, res);
	else if (!strcmp(pr->kind, "command"))
		run_command(pr, deadline, res);
	else
		hero_probe_run_services(pr, deadline, res);
	res->ms = (long)(hero_probe_now_ms() - start);
	if (res->ok && res->ms > pr->timeout_ms)
		hero_probe_fail(res, "took %ld ms, over its %ld ms timeout", res->ms, pr->timeout_ms);
}
