/* hero-sample-service - a small Hero service for tests and the demo.
 *
 *   hero-sample-service --root DIR --socket PATH [--ignore-context]
 *
 * JSON-RPC 2.0 over HTTP/1.1 on a Unix socket, like the Hero services behind
 * hero_router, reading a (restored) instance in the reference layout:
 *   GET  /health                     {"status":"ok"}
 *   GET  /openrpc.json               the method list
 *   GET  /.well-known/heroservice.json
 *   GET  /                           the UI page (HTML with a <nav> element)
 *   GET  /files/<ctx>/<path>         a file of var/hero_foundry/files/<ctx>/
 *   POST /rpc                        methods below; the context comes from the
 *                                    X-Hero-Context header (default "root")
 *     server.health, rpc.discover
 *     objects.list {kind?, limit?}   rows of var/hero_osis/<ctx>/objects.db
 *     biz.customers {limit?}         var/hero_biz/biz.db customers of the context
 *     biz.invoices {limit?}          var/hero_biz/biz.db invoices of the context
 *     files.list {dir?}              names under var/hero_foundry/files/<ctx>/<dir>
 *     files.get {path}               {path, size, content_type, data (base64)}
 * --ignore-context serves every request as context "root": a routing bug,
 * for tests that must catch it. One process per connection; Connection: close.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#define MAX_HEAD (64u << 10)
#define MAX_BODY (1u << 20)
#define MAX_FILE (32u << 20)

struct svc {
	const char *root;
	int ignore_context;
};

struct req {
	char method[16], target[2048], context[80];
	char *body;
	size_t body_len;
};

static volatile sig_atomic_t stop_flag;

static void on_term(int sig)
{
	(void)sig;
	stop_flag = 1;
}

/* ---- responses ---------------------------------------------------------- */

static void write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t w = write(fd, buf, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		buf += w;
		len -= (size_t)w;
	}
}

static void respond(int fd, int status, const char *ctype, const char *body, size_t len)
{
	const char *reason = status == 200 ? "OK" : status == 400 ? "Bad Request" : status == 404 ? "Not Found"
			     : status == 405 ? "Method Not Allowed" : status == 413 ? "Payload Too Large"
			     : "Internal Server Error";
	char head[512];
	int n = snprintf(head, sizeof head,
			 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
			 status, reason, ctype, len);
	if (n > 0 && (size_t)n < sizeof head)
		write_all(fd, head, (size_t)n);
	write_all(fd, body, len);
}

static void respond_json(int fd, int status, json_t *v)
{
	char *text = json_dumps(v, JSON_COMPACT);
	respond(fd, status, "application/json", text ? text : "{}", text ? strlen(text) : 2);
	free(text);
	json_decref(v);
}

static void respond_text(int fd, int status, const char *text)
{
	respond(fd, status, "text/plain; charset=utf-8", text, strlen(text));
}

/* ---- request parsing ---------------------------------------------------- */

static int read_some(int fd, char *buf, size_t cap)
{
	struct pollfd p = { fd, POLLIN, 0 };
	if (poll(&p, 1, 5000) <= 0)
		return -1;
	ssize_t n = read(fd, buf, cap);
	return n <= 0 ? -1 : (int)n;
}

static void header_value(const char *head, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);
	out[0] = '\0';
	for (const char *l = strstr(head, "\r\n"); l && l[2]; l = strstr(l + 2, "\r\n")) {
		const char *h = l + 2;
		if (!strncasecmp(h, name, nl) && h[nl] == ':') {
			h += nl + 1;
			while (*h == ' ' || *h == '\t')
				h++;
			size_t len = strcspn(h, "\r\n");
			snprintf(out, cap, "%.*s", (int)len, h);
			return;
		}
	}
}

/* Read and parse one request; returns an HTTP status to fail with, or 0. */
static int read_request(int fd, struct req *r)
{
	char *buf = malloc(MAX_HEAD + 1), *end = NULL, clen[32];
	size_t len = 0;
	int status = 400;
	if (!buf)
		return 500;
	while (!(end = strstr(buf, "\r\n\r\n"))) {
		if (len == MAX_HEAD)
			goto out;
		int n = read_some(fd, buf + len, MAX_HEAD - len);
		if (n < 0)
			goto out;
		len += (size_t)n;
		buf[len] = '\0';
		if (!isupper((unsigned char)buf[0]))
			goto out; /* not a request line: refuse at once, as real HTTP servers do */
	}
	end[2] = '\0';
	if (sscanf(buf, "%15s %2047s HTTP/1.", r->method, r->target) != 2)
		goto out;
	header_value(buf, "X-Hero-Context", r->context, sizeof r->context);
	header_value(buf, "Content-Length", clen, sizeof clen);
	size_t want = strtoul(clen, NULL, 10), have = len - (size_t)(end + 4 - buf);
	if (want > MAX_BODY) {
		status = 413;
		goto out;
	}
	if (!(r->body = malloc(want + 1))) {
		status = 500;
		goto out;
	}
	memcpy(r->body, end + 4, have < want ? have : want);
	while (have < want) {
		int n = read_some(fd, r->body + have, want - have);
		if (n < 0)
			goto out;
		have += (size_t)n;
	}
	r->body[want] = '\0';
	r->body_len = want;
	status = 0;
out:
	free(buf);
	return status;
}

static int context_ok(const char *c)
{
	size_t n = strlen(c);
	if (n == 0 || n > 64)
		return 0;
	for (; *c; c++)
		if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-')
			return 0;
	return 1;
}

/* ---- data access -------------------------------------------------------- */

static const char *content_type(const char *path)
{
	const char *dot = strrchr(path, '.');
	static const char *const map[][2] = {
		{ ".jpg", "image/jpeg" }, { ".jpeg", "image/jpeg" }, { ".png", "image/png" },
		{ ".gif", "image/gif" },  { ".pdf", "application/pdf" }, { ".txt", "text/plain" },
		{ ".md", "text/markdown" }, { ".json", "application/json" }, { ".html", "text/html" },
	};
	for (size_t i = 0; dot && i < sizeof map / sizeof map[0]; i++)
		if (!strcasecmp(dot, map[i][0]))
			return map[i][1];
	return "application/octet-stream";
}

/* ROOT/var/hero_foundry/files/CTX/REL, refusing anything that leaves that directory. */
static int file_path(const struct svc *s, const char *ctx, const char *rel, char *out, size_t cap)
{
	char base[PATH_MAX], want[PATH_MAX], real[PATH_MAX];
	if (!context_ok(ctx) || !*rel || rel[0] == '/' || strstr(rel, ".."))
		return -1;
	snprintf(base, sizeof base, "%s/var/hero_foundry/files/%s", s->root, ctx);
	int n = snprintf(want, sizeof want, "%s/%s", base, rel);
	if (n < 0 || (size_t)n >= sizeof want || !realpath(want, real))
		return -1;
	char rbase[PATH_MAX];
	if (!realpath(base, rbase) || strncmp(real, rbase, strlen(rbase)) || real[strlen(rbase)] != '/')
		return -1;
	snprintf(out, cap, "%s", real);
	return 0;
}

static char *read_file(const char *path, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *buf = NULL;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t)MAX_FILE)
		goto out;
	if (!(buf = malloc((size_t)st.st_size + 1)))
		goto out;
	size_t off = 0;
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + off, (size_t)st.st_size - off);
		if (n <= 0) {
			free(buf);
			buf = NULL;
			goto out;
		}
		off += (size_t)n;
	}
	*len = off;
out:
	if (fd >= 0)
		close(fd);
	return buf;
}

static char *base64(const unsigned char *in, size_t len)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;
	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (i + 1 < len ? (unsigned)in[i + 1] << 8 : 0) |
			     (i + 2 < len ? in[i + 2] : 0);
		*o++ = tab[v >> 18 & 63];
		*o++ = tab[v >> 12 & 63];
		*o++ = i + 1 < len ? tab[v >> 6 & 63] : '=';
		*o++ = i + 2 < len ? tab[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

/* Run SQL with text/integer parameters on DB (read-only) into an array of row objects. */
static json_t *query(const char *db_path, const char *sql, const char *p1, long p2, char *why, size_t cap)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	json_t *rows = NULL;
	if (access(db_path, F_OK) < 0) {
		snprintf(why, cap, "no database '%s'", strrchr(db_path, '/') + 1);
		return NULL;
	}
	if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_busy_timeout(db, 2000) != SQLITE_OK || sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		snprintf(why, cap, "%s", db ? sqlite3_errmsg(db) : "out of memory");
		goto out;
	}
	int idx = 1;
	if (p1)
		sqlite3_bind_text(st, idx++, p1, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, idx, p2);
	rows = json_array();
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *row = json_object();
		for (int c = 0; c < sqlite3_column_count(st); c++) {
			const char *name = sqlite3_column_name(st, c);
			if (sqlite3_column_type(st, c) == SQLITE_INTEGER)
				json_object_set_new(row, name, json_integer(sqlite3_column_int64(st, c)));
			else if (sqlite3_column_type(st, c) == SQLITE_NULL)
				json_object_set_new(row, name, json_null());
			else
				json_object_set_new(row, name, json_string((const char *)sqlite3_column_text(st, c)));
		}
		json_array_append_new(rows, row);
	}
	if (rc != SQLITE_DONE) {
		snprintf(why, cap, "%s", sqlite3_errmsg(db));
		json_decref(rows);
		rows = NULL;
	}
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rows;
}

/* ---- JSON-RPC methods --------------------------------------------------- */

struct rpc {
	const struct svc *s;
	const char *ctx;
	json_t *params;
	int code;
	char msg[300];
};

static json_t *rpc_fail(struct rpc *r, int code, const char *msg)
{
	r->code = code;
	snprintf(r->msg, sizeof r->msg, "%s", msg);
	return NULL;
}

static long param_limit(const json_t *params, long dflt)
{
	json_t *l = json_object_get(params, "limit");
	return json_is_integer(l) && json_integer_value(l) > 0 ? (long)json_integer_value(l) : dflt;
}

static json_t *m_objects(struct rpc *r)
{
	char path[PATH_MAX], why[300];
	const char *kind = json_string_value(json_object_get(r->params, "kind"));
	snprintf(path, sizeof path, "%s/var/hero_osis/%s/objects.db", r->s->root, r->ctx);
	json_t *rows = kind ? query(path, "SELECT id, kind, key, body, updated FROM objects WHERE kind = ? "
					  "ORDER BY id LIMIT ?", kind, param_limit(r->params, 50), why, sizeof why)
			    : query(path, "SELECT id, kind, key, body, updated FROM objects ORDER BY id LIMIT ?", NULL,
				    param_limit(r->params, 50), why, sizeof why);
	return rows ? rows : rpc_fail(r, -32000, why);
}

static json_t *m_biz(struct rpc *r, int invoices)
{
	char path[PATH_MAX], why[300];
	snprintf(path, sizeof path, "%s/var/hero_biz/biz.db", r->s->root);
	json_t *rows = query(path, invoices ? "SELECT id, customer_id, amount_cents, issued, due FROM invoices "
					      "WHERE context = ? ORDER BY id LIMIT ?"
					    : "SELECT id, name, email FROM customers WHERE context = ? ORDER BY id LIMIT ?",
			     r->ctx, param_limit(r->params, 100), why, sizeof why);
	return rows ? rows : rpc_fail(r, -32000, why);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(json_string_value(*(json_t *const *)a), json_string_value(*(json_t *const *)b));
}

static json_t *m_files_list(struct rpc *r)
{
	char path[PATH_MAX];
	const char *dir = json_string_value(json_object_get(r->params, "dir"));
	if (file_path(r->s, r->ctx, dir ? dir : "photos", path, sizeof path) < 0)
		return rpc_fail(r, -32000, "no such directory");
	DIR *d = opendir(path);
	if (!d)
		return rpc_fail(r, -32000, "no such directory");
	json_t *names = json_array();
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			json_array_append_new(names, json_string(e->d_name));
	closedir(d);
	size_t n = json_array_size(names);
	json_t **v = calloc(n + 1, sizeof *v);
	for (size_t i = 0; v && i < n; i++)
		v[i] = json_incref(json_array_get(names, i));
	if (v)
		qsort(v, n, sizeof *v, cmp_names);
	json_array_clear(names);
	for (size_t i = 0; v && i < n; i++)
		json_array_append_new(names, v[i]);
	free(v);
	return names;
}

static json_t *m_files_get(struct rpc *r)
{
	char path[PATH_MAX];
	size_t len = 0;
	const char *rel = json_string_value(json_object_get(r->params, "path"));
	if (!rel)
		return rpc_fail(r, -32602, "Invalid params: 'path' is required");
	char *data = file_path(r->s, r->ctx, rel, path, sizeof path) == 0 ? read_file(path, &len) : NULL;
	if (!data)
		return rpc_fail(r, -32000, "no such file");
	char *b64 = base64((const unsigned char *)data, len);
	json_t *res = json_pack("{sssIssss}", "path", rel, "size", (json_int_t)len, "content_type", content_type(rel),
				"data", b64 ? b64 : "");
	free(data);
	free(b64);
	return res;
}

static json_t *openrpc(void)
{
	return json_pack("{sss{ssss}s[{ss}{ss}{ss}{ss}{ss}{ss}{ss}{ss}]}", "openrpc", "1.2.6", "info", "title",
			 "hero_sample", "version", "0.1.0", "methods", "name", "server.health", "name", "rpc.discover",
			 "name", "objects.list", "name", "biz.customers", "name", "biz.invoices", "name", "files.list",
			 "name", "files.get", "name", "server.context");
}

static json_t *dispatch(struct rpc *r, const char *method)
{
	if (!strcmp(method, "server.health"))
		return json_pack("{ss}", "status", "ok");
	if (!strcmp(method, "rpc.discover"))
		return openrpc();
	if (!strcmp(method, "server.context"))
		return json_pack("{ss}", "context", r->ctx);
	if (!strcmp(method, "objects.list"))
		return m_objects(r);
	if (!strcmp(method, "biz.customers"))
		return m_biz(r, 0);
	if (!strcmp(method, "biz.invoices"))
		return m_biz(r, 1);
	if (!strcmp(method, "files.list"))
		return m_files_list(r);
	if (!strcmp(method, "files.get"))
		return m_files_get(r);
	return rpc_fail(r, -32601, "Method not found");
}

static void handle_rpc(int fd, const struct svc *s, const struct req *q, const char *ctx)
{
	json_t *req = json_loadb(q->body ? q->body : "", q->body_len, 0, NULL);
	json_t *id = json_object_get(req, "id");
	const char *method = json_string_value(json_object_get(req, "method"));
	struct rpc r = { s, ctx, json_object_get(req, "params"), 0, "" };
	json_t *res = NULL;
	if (!req)
		rpc_fail(&r, -32700, "Parse error");
	else if (!method)
		rpc_fail(&r, -32600, "Invalid request");
	else
		res = dispatch(&r, method);
	json_t *out = json_pack("{sssO}", "jsonrpc", "2.0", "id", id ? id : json_null());
	if (res)
		json_object_set_new(out, "result", res);
	else
		json_object_set_new(out, "error", json_pack("{siss}", "code", r.code, "message", r.msg));
	respond_json(fd, 200, out);
	json_decref(req);
}

/* ---- pages -------------------------------------------------------------- */

static void handle_ui(int fd, const struct svc *s, const char *ctx)
{
	char path[PATH_MAX], *html = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&html, &len);
	if (!f) {
		respond_text(fd, 500, "out of memory\n");
		return;
	}
	fprintf(f, "<!doctype html>\n<html><head><title>Hero (%s)</title></head><body>\n"
		   "<nav id=\"main-nav\"><ul>\n", ctx);
	snprintf(path, sizeof path, "%s/var/hero_osis", s->root);
	DIR *d = opendir(path);
	struct dirent *e;
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.' && context_ok(e->d_name))
			fprintf(f, "<li><a href=\"/?context=%s\">%s</a></li>\n", e->d_name, e->d_name);
	if (d)
		closedir(d);
	fprintf(f, "</ul></nav>\n<main><h1>Context %s</h1></main>\n</body></html>\n", ctx);
	fclose(f);
	respond(fd, 200, "text/html; charset=utf-8", html, len);
	free(html);
}

static void handle_file(int fd, const struct svc *s, const char *target)
{
	char ctx[80], path[PATH_MAX];
	const char *rest = target + strlen("/files/"), *slash = strchr(rest, '/');
	size_t len = 0;
	if (!slash || (size_t)(slash - rest) >= sizeof ctx) {
		respond_text(fd, 404, "not found\n");
		return;
	}
	snprintf(ctx, sizeof ctx, "%.*s", (int)(slash - rest), rest);
	char *data = file_path(s, ctx, slash + 1, path, sizeof path) == 0 ? read_file(path, &len) : NULL;
	if (!data) {
		respond_text(fd, 404, "not found\n");
		return;
	}
	respond(fd, 200, content_type(path), data, len);
	free(data);
}

static void handle(int fd, const struct svc *s)
{
	struct req q = { 0 };
	int status = read_request(fd, &q);
	const char *ctx = s->ignore_context || !q.context[0] ? "root" : q.context;
	if (status)
		respond_text(fd, status, "bad request\n");
	else if (!context_ok(ctx))
		respond_text(fd, 400, "bad X-Hero-Context\n");
	else if (!strcmp(q.target, "/rpc") && strcmp(q.method, "POST"))
		respond_text(fd, 405, "use POST\n");
	else if (!strcmp(q.target, "/rpc"))
		handle_rpc(fd, s, &q, ctx);
	else if (strcmp(q.method, "GET") && strcmp(q.method, "HEAD"))
		respond_text(fd, 405, "use GET\n");
	else if (!strcmp(q.target, "/health"))
		respond_json(fd, 200, json_pack("{ssss}", "status", "ok", "service", "hero_sample"));
	else if (!strcmp(q.target, "/openrpc.json"))
		respond_json(fd, 200, openrpc());
	else if (!strcmp(q.target, "/.well-known/heroservice.json"))
		respond_json(fd, 200, json_pack("{ssssss}", "name", "hero_sample", "version", "0.1.0", "rpc", "/rpc"));
	else if (!strcmp(q.target, "/") || !strncmp(q.target, "/?", 2))
		handle_ui(fd, s, ctx);
	else if (!strncmp(q.target, "/files/", 7))
		handle_file(fd, s, q.target);
	else
		respond_text(fd, 404, "not found\n");
	free(q.body);
}

/* ---- main --------------------------------------------------------------- */

static int listen_on(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof sa.sun_path) {
		fprintf(stderr, "hero-sample-service: socket path too long\n");
		return -1;
	}
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	/* the socket directory is ephemeral state: a restored instance lacks it */
	for (char *p = strchr(sa.sun_path + 1, '/'); p; p = strchr(p + 1, '/')) {
		*p = '\0';
		mkdir(sa.sun_path, 0755);
		*p = '/';
	}
	unlink(path); /* a stale socket from an earlier run, or from a restored instance */
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 64) < 0) {
		fprintf(stderr, "hero-sample-service: cannot listen on '%s': %s\n", path, strerror(errno));
		return -1;
	}
	return fd;
}

static void usage(int code)
{
	fprintf(code ? stderr : stdout, "usage: hero-sample-service --root DIR --socket PATH [--ignore-context]\n");
	exit(code);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "ignore-context", no_argument, NULL, 'i' },
		{ "root", required_argument, NULL, 'r' },
		{ "socket", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	struct svc s = { 0 };
	const char *sock = NULL;
	int opt;
	while ((opt = getopt_long(argc, argv, "hr:s:", opts, NULL)) != -1) {
		switch (opt) {
		case 'h': usage(0); break;
		case 'i': s.ignore_context = 1; break;
		case 'r': s.root = optarg; break;
		case 's': sock = optarg; break;
		default: usage(2);
		}
	}
	if (!s.root || !sock || optind != argc)
		usage(2);
	int lfd = listen_on(sock);
	if (lfd < 0)
		return 1;
	struct sigaction sa = { .sa_handler = on_term };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGCHLD, SIG_IGN); /* children are reaped automatically */
	signal(SIGPIPE, SIG_IGN);
	while (!stop_flag) {
		struct pollfd p = { lfd, POLLIN, 0 };
		if (poll(&p, 1, 200) <= 0)
			continue;
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		pid_t pid = fork();
		if (pid == 0) {
			close(lfd);
			handle(fd, &s);
			shutdown(fd, SHUT_WR);
			close(fd);
			_exit(0);
		}
		close(fd);
	}
	unlink(sock);
	return 0;
}
