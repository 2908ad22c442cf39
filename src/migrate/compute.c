/* compute.c - ComputeService JSON-RPC 2.0 client over HTTP (libcurl). */
#include "migrate/compute.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "hero/journal.h"

#define MAX_REPLY (8u << 20)
#define CALL_TIMEOUT_MS 30000LL
#define METHOD_PREFIX "ComputeService."

struct hero_compute {
	char *addr;
	char *url;        /* the URL to POST to */
	char *socket;     /* Unix socket path, or NULL for TCP */
	long long id;     /* the next request id */
	int poll_ms, poll_cap_ms;
	int last_code, last_transport;
};

struct buf {
	char *p;
	size_t n;
	int over;
};

static const char *const stubs[] = { "start_vm", "stop_vm", "restart_vm", "inject_ssh_keys", "vm_exec", "vm_stats" };

int hero_compute_new(const char *addr, struct hero_compute **out, struct hero_error *err)
{
	struct hero_compute *c = calloc(1, sizeof *c);
	if (!c || !(c->addr = strdup(addr)))
		goto oom;
	if (!strncmp(addr, "unix:", 5)) {
		if (addr[5] != '/') {
			hero_compute_free(c);
			return hero_error(err, HERO_EUSAGE, "ComputeService address '%s': want unix:/ABSOLUTE/PATH", addr);
		}
		if (!(c->socket = strdup(addr + 5)) || !(c->url = strdup("http://localhost/rpc")))
			goto oom;
	} else if (!strncmp(addr, "http://", 7) || !strncmp(addr, "https://", 8)) {
		if (!(c->url = strdup(addr)))
			goto oom;
	} else {
		hero_compute_free(c);
		return hero_error(err, HERO_EUSAGE, "ComputeService address '%s': want unix:PATH or an http(s) URL", addr);
	}
	c->poll_ms = 1000;
	c->poll_cap_ms = 15000;
	c->id = 1;
	*out = c;
	return 0;
oom:
	hero_compute_free(c);
	return hero_error(err, HERO_EFAIL, "out of memory");
}

void hero_compute_free(struct hero_compute *c)
{
	if (!c)
		return;
	free(c->addr);
	free(c->url);
	free(c->socket);
	free(c);
}

void hero_compute_set_poll(struct hero_compute *c, int first_ms, int cap_ms)
{
	c->poll_ms = first_ms > 0 ? first_ms : 1000;
	c->poll_cap_ms = cap_ms >= c->poll_ms ? cap_ms : c->poll_ms;
}

int hero_compute_last_code(const struct hero_compute *c)
{
	return c->last_code;
}

int hero_compute_last_transport(const struct hero_compute *c)
{
	return c->last_transport;
}

/* ---- one call ----------------------------------------------------------- */

static size_t on_data(char *p, size_t size, size_t nmemb, void *arg)
{
	struct buf *b = arg;
	size_t n = size * nmemb;
	if (b->n + n > MAX_REPLY) {
		b->over = 1;
		return 0;
	}
	char *q = realloc(b->p, b->n + n + 1);
	if (!q)
		return 0;
	memcpy(q + b->n, p, n);
	b->p = q;
	b->n += n;
	b->p[b->n] = '\0';
	return n;
}

/* POST BODY; the reply body lands in *B. Transport failures are errors. */
static int post(struct hero_compute *c, const char *method, const char *body, long long deadline, struct buf *b,
		long *status, struct hero_error *err)
{
	long long left = deadline - hero_mono_ms();
	if (left <= 0)
		return hero_error(err, HERO_EFAIL, "%s%s: timed out before the call", METHOD_PREFIX, method);
	CURL *h = curl_easy_init();
	struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	int ret = 0;
	if (!h || !hdrs) {
		ret = hero_error(err, HERO_EFAIL, "out of memory");
		goto out;
	}
	curl_easy_setopt(h, CURLOPT_URL, c->url);
	if (c->socket)
		curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, c->socket);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(left < 5000 ? left : 5000));
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(left < CALL_TIMEOUT_MS ? left : CALL_TIMEOUT_MS));
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
	CURLcode rc = curl_easy_perform(h);
	if (rc != CURLE_OK) {
		c->last_transport = 1;
		ret = hero_error(err, HERO_EFAIL, "%s%s: cannot reach '%s': %s", METHOD_PREFIX, method, c->addr,
				 b->over ? "reply too large" : curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
out:
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	return ret;
}

/* The error object of a reply, as "METHOD: message" in ERR. */
static int rpc_error(struct hero_compute *c, const char *method, json_t *e, struct hero_error *err)
{
	const char *msg = json_string_value(json_object_get(e, "message"));
	json_t *data = json_object_get(e, "data");
	c->last_code = (int)json_integer_value(json_object_get(e, "code"));
	if (json_is_string(data))
		return hero_error(err, HERO_EFAIL, "%s%s: %s (%s)", METHOD_PREFIX, method, msg ? msg : "error",
				  json_string_value(data));
	return hero_error(err, HERO_EFAIL, "%s%s: %s", METHOD_PREFIX, method, msg ? msg : "unspecified error");
}

static int is_stub(const char *method)
{
	for (size_t i = 0; i < sizeof stubs / sizeof stubs[0]; i++)
		if (!strcmp(method, stubs[i]))
			return 1;
	return 0;
}

int hero_compute_call(struct hero_compute *c, const char *method, json_t *params, json_t **result,
		      long long deadline, struct hero_error *err)
{
	struct buf b = { 0 };
	json_t *req = NULL, *rep = NULL;
	char *body = NULL, full[128];
	long status = 0;
	int ret;
	c->last_code = c->last_transport = 0;
	if (is_stub(method)) {
		json_decref(params);
		return hero_error(err, HERO_EUSAGE, "%s%s is a stub on TFGrid: not called", METHOD_PREFIX, method);
	}
	snprintf(full, sizeof full, "%s%s", METHOD_PREFIX, method);
	long long id = c->id++;
	req = json_pack("{sssIssso}", "jsonrpc", "2.0", "id", (json_int_t)id, "method", full, "params",
			params ? params : json_object());
	if (!req || !(body = json_dumps(req, JSON_COMPACT))) {
		ret = hero_error(err, HERO_EFAIL, "out of memory");
		goto out;
	}
	if ((ret = post(c, method, body, deadline, &b, &status, err)) < 0)
		goto out;
	json_error_t je;
	if (!(rep = json_loadb(b.p ? b.p : "", b.n, 0, &je)) || !json_is_object(rep)) {
		c->last_transport = 1;
		ret = hero_error(err, HERO_EFAIL, "%s: not a JSON-RPC reply (HTTP status %ld)", full, status);
		goto out;
	}
	json_t *e = json_object_get(rep, "error");
	if (e) {
		ret = rpc_error(c, method, e, err);
		goto out;
	}
	if (json_integer_value(json_object_get(rep, "id")) != id || !json_object_get(rep, "result")) {
		ret = hero_error(err, HERO_EFAIL, "%s: reply without a result for request %lld", full, id);
		goto out;
	}
	if (result)
		*result = json_incref(json_object_get(rep, "result"));
	ret = 0;
out:
	free(b.p);
	free(body);
	json_decref(rep);
	json_decref(req);
	return ret;
}

/* ---- records ------------------------------------------------------------ */

static void copy_field(char *dst, size_t n, const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);
	if (json_is_string(v))
		snprintf(dst, n, "%s", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(dst, n, "%lld", (long long)json_integer_value(v));
	else
		dst[0] = '\0';
}

static void vm_from(struct hero_vm *vm, const json_t *o)
{
	copy_field(vm->id, sizeof vm->id, o, "id");
	copy_field(vm->name, sizeof vm->name, o, "name");
	copy_field(vm->state, sizeof vm->state, o, "state");
	copy_field(vm->mycelium_ip, sizeof vm->mycelium_ip, o, "mycelium_ip");
	copy_field(vm->error, sizeof vm->error, o, "error");
}

static void gw_from(struct hero_gw *gw, const json_t *o)
{
	copy_field(gw->id, sizeof gw->id, o, "id");
	copy_field(gw->name, sizeof gw->name, o, "name");
	copy_field(gw->state, sizeof gw->state, o, "state");
	copy_field(gw->fqdn, sizeof gw->fqdn, o, "fqdn");
	const json_t *b = json_array_get(json_object_get(o, "backends"), 0);
	snprintf(gw->backend, sizeof gw->backend, "%s", json_is_string(b) ? json_string_value(b) : "");
	copy_field(gw->error, sizeof gw->error, o, "error");
}

/* Call METHOD and require an object result (new reference in *OUT). */
static int call_obj(struct hero_compute *c, const char *method, json_t *params, json_t **out, long long deadline,
		    struct hero_error *err)
{
	json_t *r = NULL;
	int ret = hero_compute_call(c, method, params, &r, deadline, err);
	if (ret < 0)
		return ret;
	if (!json_is_object(r)) {
		json_decref(r);
		return hero_error(err, HERO_EFAIL, "%s%s: the result is not an object", METHOD_PREFIX, method);
	}
	*out = r;
	return 0;
}

/* The array of a list result, which may be bare or under KEY. */
static int call_list(struct hero_compute *c, const char *method, const char *key, json_t **out, long long deadline,
		     struct hero_error *err)
{
	json_t *r = NULL;
	int ret = hero_compute_call(c, method, NULL, &r, deadline, err);
	if (ret < 0)
		return ret;
	json_t *a = json_is_array(r) ? r : json_object_get(r, key);
	if (!json_is_array(a)) {
		json_decref(r);
		return hero_error(err, HERO_EFAIL, "%s%s: the result is not a list", METHOD_PREFIX, method);
	}
	*out = json_incref(a);
	json_decref(r);
	return 0;
}

int hero_compute_deploy_vm(struct hero_compute *c, const struct hero_vm_spec *s, struct hero_vm *vm,
			   long long deadline, struct hero_error *err)
{
	json_t *keys = json_array(), *r = NULL;
	for (size_t i = 0; i < s->n_keys; i++)
		json_array_append_new(keys, json_string(s->ssh_keys[i]));
	json_t *p = json_pack("{ss si ss ss so ss?}", "name", s->name, "slice_count", s->slice_count, "secret", s->secret,
			      "image", s->image, "ssh_keys", keys, "node_sid", s->node_sid);
	if (!p)
		return hero_error(err, HERO_EFAIL, "deploy_vm: cannot build the request");
	int ret = call_obj(c, "deploy_vm", p, &r, deadline, err);
	if (ret == 0) {
		vm_from(vm, r);
		if (!vm->id[0])
			ret = hero_error(err, HERO_EFAIL, "%sdeploy_vm: the reply has no VM id", METHOD_PREFIX);
	}
	json_decref(r);
	return ret;
}

int hero_compute_get_vm(struct hero_compute *c, const char *id, struct hero_vm *vm, long long deadline,
			struct hero_error *err)
{
	json_t *r = NULL;
	int ret = call_obj(c, "get_vm", json_pack("{ss}", "id", id), &r, deadline, err);
	if (ret == 0)
		vm_from(vm, r);
	json_decref(r);
	return ret;
}

int hero_compute_list_vms(struct hero_compute *c, json_t **out, long long deadline, struct hero_error *err)
{
	return call_list(c, "list_vms", "vms", out, deadline, err);
}

int hero_compute_find_vm(struct hero_compute *c, const char *name, struct hero_vm *vm, int *found,
			 long long deadline, struct hero_error *err)
{
	json_t *l = NULL, *o;
	size_t i;
	int ret = hero_compute_list_vms(c, &l, deadline, err);
	*found = 0;
	if (ret < 0)
		return ret;
	json_array_foreach(l, i, o) {
		if (json_is_string(json_object_get(o, "name")) &&
		    !strcmp(json_string_value(json_object_get(o, "name")), name)) {
			vm_from(vm, o);
			*found = 1;
			break;
		}
	}
	json_decref(l);
	return 0;
}

int hero_compute_delete_vm(struct hero_compute *c, const char *id, const char *secret, long long deadline,
			   struct hero_error *err)
{
	return hero_compute_call(c, "delete_vm", json_pack("{ssss}", "id", id, "secret", secret), NULL, deadline,
				 err);
}

int hero_compute_vm_logs(struct hero_compute *c, const char *id, const char *secret, json_t **out,
			 long long deadline, struct hero_error *err)
{
	return hero_compute_call(c, "vm_logs", json_pack("{ssss}", "id", id, "secret", secret), out, deadline, err);
}

/* ---- polling ------------------------------------------------------------ */

/* Sleep the next interval (never past DEADLINE); 0 when time is left. */
static int poll_sleep(struct hero_compute *c, int *interval, long long deadline)
{
	long long left = deadline - hero_mono_ms();
	if (left <= 0)
		return -1;
	long long ms = *interval < left ? *interval : left;
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
	*interval = *interval + *interval / 2 > c->poll_cap_ms ? c->poll_cap_ms : *interval + *interval / 2;
	return 0;
}

int hero_compute_wait_vm(struct hero_compute *c, const char *id, struct hero_vm *vm, long long deadline,
			 struct hero_error *err)
{
	int interval = c->poll_ms;
	struct hero_error last = HERO_ERROR_INIT;
	for (;;) {
		if (hero_compute_get_vm(c, id, vm, deadline, &last) == 0) {
			if (!strcmp(vm->state, "running") && vm->mycelium_ip[0])
				return 0;
			if (!strcmp(vm->state, "error"))
				return hero_error(err, HERO_EFAIL, "VM '%s' ended in state error: %s", id,
						  vm->error[0] ? vm->error : "no reason given");
			snprintf(last.msg, sizeof last.msg, "VM '%s' is %s%s", id, vm->state,
				 strcmp(vm->state, "running") ? "" : " without a mycelium IP yet");
		} else if (!c->last_transport) {
			*err = last;
			return -last.code;
		}
		if (poll_sleep(c, &interval, deadline) < 0)
			return hero_error(err, HERO_EFAIL, "timed out waiting for VM '%s': %s", id, last.msg);
	}
}

/* Poll METHOD until no element has id ID. */
static int wait_gone(struct hero_compute *c, const char *method, const char *key, const char *what, const char *id,
		     long long deadline, struct hero_error *err)
{
	int interval = c->poll_ms;
	struct hero_error last = HERO_ERROR_INIT;
	for (;;) {
		json_t *l = NULL, *o;
		size_t i;
		int present = 0;
		if (call_list(c, method, key, &l, deadline, &last) == 0) {
			json_array_foreach(l, i, o) {
				char oid[64];
				copy_field(oid, sizeof oid, o, "id");
				present |= !strcmp(oid, id);
			}
			json_decref(l);
			if (!present)
				return 0;
			snprintf(last.msg, sizeof last.msg, "%s '%s' still listed", what, id);
		} else if (!c->last_transport) {
			*err = last;
			return -last.code;
		}
		if (poll_sleep(c, &interval, deadline) < 0)
			return hero_error(err, HERO_EFAIL, "timed out waiting for %s '%s' to go: %s", what, id, last.msg);
	}
}

int hero_compute_wait_vm_gone(struct hero_compute *c, const char *id, long long deadline, struct hero_error *err)
{
	return wait_gone(c, "list_vms", "vms", "VM", id, deadline, err);
}

/* ---- web gateways ------------------------------------------------------- */

int hero_compute_deploy_gw(struct hero_compute *c, const char *name, const char *backend, struct hero_gw *gw,
			   long long deadline, struct hero_error *err)
{
	json_t *r = NULL;
	json_t *p = json_pack("{sssss[s]sb}", "name", name, "kind", "name", "backends", backend, "tls_passthrough", 0);
	int ret = call_obj(c, "deploy_webgateway", p, &r, deadline, err);
	if (ret == 0) {
		gw_from(gw, r);
		if (!gw->id[0])
			ret = hero_error(err, HERO_EFAIL, "%sdeploy_webgateway: the reply has no gateway id", METHOD_PREFIX);
	}
	json_decref(r);
	return ret;
}

int hero_compute_get_gw(struct hero_compute *c, const char *id, struct hero_gw *gw, long long deadline,
			struct hero_error *err)
{
	json_t *r = NULL;
	int ret = call_obj(c, "get_webgateway", json_pack("{ss}", "id", id), &r, deadline, err);
	if (ret == 0)
		gw_from(gw, r);
	json_decref(r);
	return ret;
}

int hero_compute_list_gws(struct hero_compute *c, json_t **out, long long deadline, struct hero_error *err)
{
	return call_list(c, "list_webgateways", "webgateways", out, deadline, err);
}

int hero_compute_find_gw(struct hero_compute *c, const char *name, struct hero_gw *gw, int *found,
			 long long deadline, struct hero_error *err)
{
	json_t *l = NULL, *o;
	size_t i;
	int ret = hero_compute_list_gws(c, &l, deadline, err);
	*found = 0;
	if (ret < 0)
		return ret;
	json_array_foreach(l, i, o) {
		if (json_is_string(json_object_get(o, "name")) &&
		    !strcmp(json_string_value(json_object_get(o, "name")), name)) {
			gw_from(gw, o);
			*found = 1;
			break;
		}
	}
	json_decref(l);
	return 0;
}

int hero_compute_delete_gw(struct hero_compute *c, const char *id, long long deadline, struct hero_error *err)
{
	return hero_compute_call(c, "delete_webgateway", json_pack("{ss}", "id", id), NULL, deadline, err);
}

int hero_compute_wait_gw(struct hero_compute *c, const char *id, struct hero_gw *gw, long long deadline,
			 struct hero_error *err)
{
	int interval = c->poll_ms;
	struct hero_error last = HERO_ERROR_INIT;
	for (;;) {
		if (hero_compute_get_gw(c, id, gw, deadline, &last) == 0) {
			if (!strcmp(gw->state, "ready") && gw->fqdn[0])
				return 0;
			if (!strcmp(gw->state, "error"))
				return hero_error(err, HERO_EFAIL, "gateway '%s' ended in state error: %s", id,
						  gw->error[0] ? gw->error : "no reason given");
			snprintf(last.msg, sizeof last.msg, "gateway '%s' is %s", id, gw->state);
		} else if (!c->last_transport) {
			*err = last;
			return -last.code;
		}
		if (poll_sleep(c, &interval, deadline) < 0)
			return hero_error(err, HERO_EFAIL, "timed out waiting for gateway '%s': %s", id, last.msg);
	}
}

int hero_compute_wait_gw_gone(struct hero_compute *c, const char *id, long long deadline, struct hero_error *err)
{
	return wait_gone(c, "list_webgateways", "webgateways", "gateway", id, deadline, err);
}
