/* probe_http.c - HTTP and JSON-RPC-over-HTTP probes, over TCP or a Unix socket. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <curl/curl.h>

#include "hero/supervisor.h"
#include "supervise/probe_priv.h"

#define HTTP_MAX_BODY (64u << 20)

char *hero_probe_url(const char *base, const char *path)
{
	char *out = NULL;
	size_t bl = strlen(base);
	if (!path || !*path)
		return strdup(base);
	int slash_b = bl && base[bl - 1] == '/', slash_p = path[0] == '/';
	const char *sep = slash_b || slash_p ? "" : "/";
	if (asprintf(&out, "%.*s%s%s", (int)(bl - (slash_b && slash_p)), base, sep, path) < 0)
		return NULL;
	return out;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct probe_http *h = arg;
	size_t len = size * n;
	if (h->len + len > HTTP_MAX_BODY) {
		snprintf(h->error, sizeof h->error, "response body larger than %u MiB", HTTP_MAX_BODY >> 20);
		return 0;
	}
	char *p = realloc(h->resp, h->len + len + 1);
	if (!p)
		return 0;
	memcpy(p + h->len, data, len);
	h->resp = p;
	h->len += len;
	h->resp[h->len] = '\0';
	return len;
}

static struct curl_slist *build_headers(const struct probe_http *h)
{
	struct curl_slist *list = NULL, *l;
	char line[1024];
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)h->headers, k, v) {
		snprintf(line, sizeof line, "%s: %s", k, json_string_value(v) ? json_string_value(v) : "");
		if (!(l = curl_slist_append(list, line)))
			break;
		list = l;
	}
	if (h->context) {
		snprintf(line, sizeof line, "X-Hero-Context: %s", h->context);
		if ((l = curl_slist_append(list, line)))
			list = l;
	}
	if (h->body) {
		snprintf(line, sizeof line, "Content-Type: %s", h->content_type ? h->content_type : "application/json");
		if ((l = curl_slist_append(list, line)))
			list = l;
	}
	return list;
}

int hero_probe_http_do(struct probe_http *h)
{
	char ebuf[CURL_ERROR_SIZE] = "";
	CURL *c = curl_easy_init();
	if (!c) {
		snprintf(h->error, sizeof h->error, "cannot start an HTTP client");
		return -1;
	}
	struct curl_slist *hdrs = build_headers(h);
	curl_easy_setopt(c, CURLOPT_URL, h->url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	if (h->socket)
		curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, h->socket);
	if (h->body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, h->body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(h->body));
	}
	if (h->method && !strcmp(h->method, "HEAD"))
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (h->method)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, h->method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, h->timeout_ms > 0 ? h->timeout_ms : 1L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	CURLcode rc = curl_easy_perform(c);
	int ret = 0;
	if (rc != CURLE_OK) {
		if (!h->error[0])
			snprintf(h->error, sizeof h->error, "%s", ebuf[0] ? ebuf : curl_easy_strerror(rc));
		ret = -1;
	} else {
		char *ct = NULL;
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &h->status);
		curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
		snprintf(h->ctype, sizeof h->ctype, "%s", ct ? ct : "");
		if (!h->resp && (h->resp = calloc(1, 1)) == NULL)
			ret = -1;
	}
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	return ret;
}

void hero_probe_http_release(struct probe_http *h)
{
	free(h->resp);
	h->resp = NULL;
	h->len = 0;
}

/* Where a probe talks to: "socket PATH" or the URL, for messages. */
static const char *target(const struct probe_http *h)
{
	return h->socket ? h->socket : h->url;
}

/* ---- http --------------------------------------------------------------- */

static int check_body(const json_t *spec, const struct probe_http *h, struct hero_probe_result *res)
{
	const json_t *want = json_object_get(spec, "body_contains");
	size_t i;
	const json_t *w;
	if (json_is_string(want) && !strstr(h->resp, json_string_value(want))) {
		hero_probe_fail(res, "body does not contain '%s'", json_string_value(want));
		return -1;
	}
	json_array_foreach(want, i, w) {
		if (!strstr(h->resp, json_string_value(w))) {
			hero_probe_fail(res, "body does not contain '%s'", json_string_value(w));
			return -1;
		}
	}
	return 0;
}

static int check_response(const json_t *spec, const struct probe_http *h, struct hero_probe_result *res)
{
	long want = hero_spec_int(spec, "status", 200);
	const char *ct = hero_spec_str(spec, "content_type", NULL), *magic = hero_spec_str(spec, "magic", NULL);
	long min = hero_spec_int(spec, "min_bytes", 0);
	if (h->status != want) {
		hero_probe_fail(res, "%s %s: status %ld, want %ld", h->method ? h->method : h->body ? "POST" : "GET", h->url,
			   h->status, want);
		return -1;
	}
	if (ct && strncasecmp(h->ctype, ct, strlen(ct))) {
		hero_probe_fail(res, "content type '%s', want '%s'", h->ctype, ct);
		return -1;
	}
	if ((long)h->len < min) {
		hero_probe_fail(res, "body is %zu bytes, want at least %ld", h->len, min);
		return -1;
	}
	if (magic && !hero_magic_match(magic, (const unsigned char *)h->resp, h->len)) {
		const unsigned char *b = (const unsigned char *)h->resp;
		hero_probe_fail(res, "body is not %s (starts %02x %02x %02x %02x)", magic, h->len > 0 ? b[0] : 0,
			   h->len > 1 ? b[1] : 0, h->len > 2 ? b[2] : 0, h->len > 3 ? b[3] : 0);
		return -1;
	}
	return check_body(spec, h, res);
}

void hero_probe_run_http(const struct probe *pr, long long deadline, struct hero_probe_result *res)
{
	const json_t *s = pr->spec;
	struct probe_http h = { 0 };
	char *url = hero_probe_url(hero_spec_str(s, "url", "http://localhost"), hero_spec_str(s, "path", "/"));
	h.url = url;
	h.socket = hero_spec_str(s, "socket", NULL);
	h.method = hero_spec_str(s, "method", NULL);
	h.headers = json_object_get(s, "headers");
	h.context = hero_spec_str(s, "context", NULL);
	h.body = hero_spec_str(s, "body", NULL);
	h.timeout_ms = hero_probe_left_ms(deadline);
	if (!url)
		hero_probe_fail(res, "out of memory");
	else if (hero_probe_http_do(&h) < 0)
		hero_probe_fail(res, "cannot reach %s: %s", target(&h), h.error);
	else if (check_response(s, &h, res) == 0)
		hero_probe_pass(res, "%ld %s %zu bytes", h.status, h.ctype[0] ? h.ctype : "-", h.len);
	hero_probe_http_release(&h);
	free(url);
}

/* ---- jsonrpc ------------------------------------------------------------ */

static int is_empty(const json_t *v)
{
	return !v || json_is_null(v) || json_is_false(v) ||
	       (json_is_string(v) && !json_string_length(v)) || (json_is_array(v) && !json_array_size(v)) ||
	       (json_is_object(v) && !json_object_size(v));
}

static void describe(const json_t *v, char *buf, size_t cap)
{
	if (json_is_array(v))
		snprintf(buf, cap, "%zu items", json_array_size(v));
	else if (json_is_object(v))
		snprintf(buf, cap, "%zu keys", json_object_size(v));
	else if (json_is_string(v))
		snprintf(buf, cap, "%zu chars", json_string_length(v));
	else
		snprintf(buf, cap, "%s", is_empty(v) ? "empty" : "a value");
}

/* One call for context CTX (may be NULL); *OUT receives the result. */
static int rpc_once(const struct probe *pr, const char *ctx, long long deadline, json_t **out,
		    struct hero_probe_result *res)
{
	const json_t *s = pr->spec;
	const char *call = hero_spec_str(s, "call", "");
	const char *label = ctx ? ctx : "-";
	json_t *req = json_pack("{sssiss}", "jsonrpc", "2.0", "id", 1, "method", call), *reply = NULL;
	struct probe_http h = { 0 };
	int rc = -1;
	if (json_object_get(s, "params"))
		json_object_set(req, "params", json_object_get(s, "params"));
	char *body = json_dumps(req, JSON_COMPACT);
	char *url = hero_probe_url(hero_spec_str(s, "url", "http://localhost"), hero_spec_str(s, "path", "/rpc"));
	h.url = url;
	h.socket = hero_spec_str(s, "socket", NULL);
	h.headers = json_object_get(s, "headers");
	h.context = ctx;
	h.body = body;
	h.timeout_ms = hero_probe_left_ms(deadline);
	if (!body || !url) {
		hero_probe_fail(res, "out of memory");
	} else if (hero_probe_http_do(&h) < 0) {
		hero_probe_fail(res, "%s: cannot reach %s: %s", call, target(&h), h.error);
	} else if (h.status != 200) {
		hero_probe_fail(res, "%s (context %s): status %ld", call, label, h.status);
	} else if (!(reply = json_loadb(h.resp, h.len, 0, NULL)) || !json_is_object(reply)) {
		hero_probe_fail(res, "%s (context %s): reply is not JSON-RPC", call, label);
	} else if (json_object_get(reply, "error")) {
		json_t *e = json_object_get(reply, "error");
		hero_probe_fail(res, "%s (context %s): error %" JSON_INTEGER_FORMAT ": %s", call, label,
			   json_integer_value(json_object_get(e, "code")),
			   json_string_value(json_object_get(e, "message")) ? json_string_value(json_object_get(e, "message")) : "");
	} else if (!json_object_get(reply, "result")) {
		hero_probe_fail(res, "%s (context %s): reply has no result", call, label);
	} else {
		*out = json_incref(json_object_get(reply, "result"));
		rc = 0;
	}
	json_decref(reply);
	json_decref(req);
	hero_probe_http_release(&h);
	free(body);
	free(url);
	return rc;
}

static int check_result(const struct probe *pr, const char *ctx, const json_t *r, struct hero_probe_result *res)
{
	const json_t *s = pr->spec;
	const char *label = ctx ? ctx : "-", *want = hero_spec_str(s, "result_contains", NULL);
	long min = hero_spec_int(s, "min_items", 0);
	size_t size = json_is_array(r) ? json_array_size(r) : json_is_object(r) ? json_object_size(r) : 0;
	if (hero_spec_bool(s, "nonempty", 1) && is_empty(r)) {
		hero_probe_fail(res, "%s (context %s): empty result", hero_spec_str(s, "call", ""), label);
		return -1;
	}
	if (min && (long)size < min) {
		hero_probe_fail(res, "%s (context %s): %zu items, want at least %ld", hero_spec_str(s, "call", ""), label, size, min);
		return -1;
	}
	if (want) {
		char *text = json_dumps(r, JSON_COMPACT | JSON_ENCODE_ANY);
		int found = text && strstr(text, want);
		free(text);
		if (!found) {
			hero_probe_fail(res, "%s (context %s): result does not contain '%s'", hero_spec_str(s, "call", ""), label, want);
			return -1;
		}
	}
	return 0;
}

void hero_probe_run_jsonrpc(const struct probe *pr, long long deadline, struct hero_probe_result *res)
{
	const json_t *s = pr->spec, *list = json_object_get(s, "contexts");
	const char *ctxs[16];
	json_t *results[16] = { 0 };
	size_t n = 0;
	char summary[600] = "", one[64];
	if (json_is_array(list))
		for (size_t i = 0; i < json_array_size(list) && n < 16; i++)
			ctxs[n++] = json_string_value(json_array_get(list, i));
	else if (json_is_string(list))
		ctxs[n++] = json_string_value(list);
	else
		ctxs[n++] = hero_spec_str(s, "context", NULL);
	for (size_t i = 0; i < n; i++) {
		if (rpc_once(pr, ctxs[i], deadline, &results[i], res) < 0 ||
		    check_result(pr, ctxs[i], results[i], res) < 0)
			goto out;
		describe(results[i], one, sizeof one);
		size_t len = strlen(summary);
		snprintf(summary + len, sizeof summary - len, "%s%s: %s", len ? "; " : "", ctxs[i] ? ctxs[i] : "-", one);
	}
	if (n > 1 && hero_spec_bool(s, "differ", 1)) {
		for (size_t a = 0; a < n; a++)
			for (size_t b = a + 1; b < n; b++)
				if (json_equal(results[a], results[b])) {
					hero_probe_fail(res, "%s: contexts '%s' and '%s' returned the same result",
						   hero_spec_str(s, "call", ""), ctxs[a], ctxs[b]);
					goto out;
				}
		hero_probe_pass(res, "%s; results differ", summary);
	} else {
		hero_probe_pass(res, "%s", summary);
	}
out:
	for (size_t i = 0; i < n; i++)
		json_decref(results[i]);
}

/* ---- services ----------------------------------------------------------- */

/* PATTERN with every "{service}" replaced by NAME, malloc'd. */
static char *subst_service(const char *pattern, const char *name)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	if (!f)
		return NULL;
	for (const char *p = pattern; *p;) {
		if (!strncmp(p, "{service}", 9)) {
			fputs(name, f);
			p += 9;
		} else {
			fputc(*p++, f);
		}
	}
	fclose(f);
	return out;
}

struct health {
	char *socket, *url;
	const char *path, *rpc;
};

/* Where NAME's health check is: its declared `health` (hero_proc's field,
 * kept in the service file), else the probe's health_socket pattern. */
static int health_of(const json_t *s, struct hero_sv *sv, const char *name, struct health *h, json_t **cfg)
{
	struct hero_error err = HERO_ERROR_INIT;
	json_t *decl = NULL;
	if (hero_sv_get(sv, name, cfg, &err) == 0)
		decl = json_object_get(*cfg, "health");
	if (json_is_object(decl) && (json_object_get(decl, "http") || json_object_get(decl, "rpc"))) {
		const char *sock = json_string_value(json_object_get(decl, "socket"));
		const char *url = json_string_value(json_object_get(decl, "url"));
		h->socket = sock ? strdup(sock) : NULL;
		h->url = strdup(url ? url : "http://localhost");
		h->path = json_string_value(json_object_get(decl, "http"));
		h->rpc = json_string_value(json_object_get(decl, "rpc"));
		return 1;
	}
	const char *pattern = hero_spec_str(s, "health_socket", NULL);
	if (!pattern)
		return 0;
	h->socket = subst_service(pattern, name);
	h->url = strdup("http://localhost");
	h->path = hero_spec_str(s, "health_path", "/health");
	return 1;
}

/* 1 when BODY is a JSON-RPC reply with a result and no error. */
static int rpc_succeeded(const char *body, size_t len)
{
	json_t *reply = body ? json_loadb(body, len, 0, NULL) : NULL;
	int ok = json_object_get(reply, "result") && !json_object_get(reply, "error");
	json_decref(reply);
	return ok;
}

/* Call the health check HL; on failure describe it in WHY. */
static void health_call(const struct health *hl, long timeout_ms, char *why, size_t cap)
{
	struct probe_http h = { 0 };
	json_t *req = hl->rpc ? json_pack("{sssiss}", "jsonrpc", "2.0", "id", 1, "method", hl->rpc) : NULL;
	char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
	char *url = hero_probe_url(hl->url ? hl->url : "http://localhost", hl->rpc ? "/rpc" : hl->path);
	h.url = url;
	h.socket = hl->socket;
	h.body = body;
	h.timeout_ms = timeout_ms;
	if (!url || (hl->rpc && !body))
		snprintf(why, cap, "out of memory");
	else if (hero_probe_http_do(&h) < 0)
		snprintf(why, cap, "health unreachable: %s", h.error);
	else if (h.status < 200 || h.status > 299)
		snprintf(why, cap, "health status %ld", h.status);
	else if (hl->rpc && !rpc_succeeded(h.resp, h.len))
		snprintf(why, cap, "health %s returned an error", hl->rpc);
	hero_probe_http_release(&h);
	json_decref(req);
	free(body);
	free(url);
}

/* Check NAME's health; on failure append to BAD and return -1. */
static int check_health(const json_t *s, struct hero_sv *sv, const char *name, long long deadline, char *bad,
			size_t cap, int *checked)
{
	struct health hl = { 0 };
	json_t *cfg = NULL;
	struct stat st;
	char why[300] = "";
	int rc = 0;
	if (!health_of(s, sv, name, &hl, &cfg))
		goto out;
	if (hl.socket && (stat(hl.socket, &st) < 0 || !S_ISSOCK(st.st_mode))) {
		if (hero_spec_bool(s, "require_health", 0))
			snprintf(why, sizeof why, "no health socket '%s'", hl.socket);
		goto out;
	}
	(*checked)++;
	health_call(&hl, hero_probe_left_ms(deadline), why, sizeof why);
out:
	if (why[0]) {
		size_t len = strlen(bad);
		snprintf(bad + len, cap - len, "%s%s %s", len ? "; " : "", name, why);
		rc = -1;
	}
	free(hl.socket);
	free(hl.url);
	json_decref(cfg);
	return rc;
}

static int ignored(const json_t *s, const char *name)
{
	const json_t *ig = json_object_get(s, "ignore");
	size_t i;
	const json_t *v;
	if (json_is_string(ig))
		return !strcmp(json_string_value(ig), name);
	json_array_foreach(ig, i, v) {
		if (!strcmp(json_string_value(v), name))
			return 1;
	}
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void hero_probe_run_services(const struct probe *pr, long long deadline, struct hero_probe_result *res)
{
	const json_t *s = pr->spec;
	struct hero_error err = HERO_ERROR_INIT;
	struct hero_sv *sv = NULL;
	json_t *list = NULL, *v;
	const char *name, **names = NULL;
	char bad[700] = "";
	int failing = 0, checked = 0;
	size_t n = 0;
	if (hero_sv_new(hero_spec_str(s, "supervisor", ""), (int)hero_probe_left_ms(deadline), &sv, &err) < 0 ||
	    hero_sv_list(sv, &list, &err) < 0) {
		hero_probe_fail(res, "%s", err.msg);
		goto out;
	}
	if (!(names = calloc(json_object_size(list) + 1, sizeof *names)))
		goto out;
	json_object_foreach(list, name, v) {
		if (!ignored(s, name))
			names[n++] = name;
	}
	qsort(names, n, sizeof *names, cmp_str);
	for (size_t i = 0; i < n; i++) {
		const char *state = json_string_value(json_object_get(list, names[i]));
		enum hero_sv_state st = hero_sv_state_parse(state);
		if (st != HERO_SV_RUNNING && st != HERO_SV_SUCCESS) {
			size_t len = strlen(bad);
			snprintf(bad + len, sizeof bad - len, "%s%s %s", len ? "; " : "", names[i], state ? state : "?");
			failing++;
		} else if (check_health(s, sv, names[i], deadline, bad, sizeof bad, &checked) < 0) {
			failing++;
		}
	}
	if (!n)
		hero_probe_fail(res, "the supervisor has no services");
	else if (failing)
		hero_probe_fail(res, "%d of %zu services failing: %s", failing, n, bad);
	else
		hero_probe_pass(res, "%zu service%s up, %d health check%s passed", n, n == 1 ? "" : "s", checked,
			   checked == 1 ? "" : "s");
out:
	free(names);
	json_decref(list);
	hero_sv_free(sv);
}
