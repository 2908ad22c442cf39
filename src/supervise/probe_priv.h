/* probe_priv.h - shared between the probe runners (private): probe_common.c
 * below probe_http.c below probe.c. */
#ifndef HERO_PROBE_PRIV_H
#define HERO_PROBE_PRIV_H

#include <stddef.h>

#include <jansson.h>

#include "hero/probe.h"

struct probe {
	char *name;
	char kind[16];
	long timeout_ms;
	json_t *spec; /* the probe's mapping, variables expanded */
};

struct hero_panel {
	struct probe *probes;
	size_t n;
	int curl_ready;
};

long long hero_probe_now_ms(void);
long hero_probe_left_ms(long long deadline);

/* Record the outcome in RES (one line, control characters replaced). */
void hero_probe_pass(struct hero_probe_result *res, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void hero_probe_fail(struct hero_probe_result *res, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Typed access to a probe's keys (types were checked at load). */
const char *hero_spec_str(const json_t *spec, const char *key, const char *dflt);
long hero_spec_int(const json_t *spec, const char *key, long dflt);
int hero_spec_bool(const json_t *spec, const char *key, int dflt);

/* WANT is a content type hero_magic_match knows ("image" or a magic's name). */
int hero_probe_magic_known(const char *want);

/* One HTTP exchange over TCP or a Unix socket (libcurl). */
struct probe_http {
	const char *url;          /* full URL */
	const char *socket;       /* Unix socket path, or NULL for TCP */
	const char *method;       /* NULL: GET, or POST when BODY is set */
	const json_t *headers;    /* NULL or an object of header -> value */
	const char *context;      /* NULL or the X-Hero-Context value */
	const char *body;         /* NULL or the request body */
	const char *content_type; /* of BODY */
	long timeout_ms;
	/* results */
	long status;
	char ctype[128];
	char *resp; /* malloc'd, NUL-terminated */
	size_t len;
	char error[256];
};

/* 0 when a response arrived (any status), -1 with H->error set otherwise. */
int hero_probe_http_do(struct probe_http *h);
void hero_probe_http_release(struct probe_http *h);

/* BASE + PATH with one '/' between them, malloc'd. */
char *hero_probe_url(const char *base, const char *path);

void hero_probe_run_http(const struct probe *pr, long long deadline, struct hero_probe_result *res);
void hero_probe_run_jsonrpc(const struct probe *pr, long long deadline, struct hero_probe_result *res);
void hero_probe_run_services(const struct probe *pr, long long deadline, struct hero_probe_result *res);

#endif
