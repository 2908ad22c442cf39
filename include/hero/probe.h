/* hero/probe.h - smoke probes: a panel of checks declared in YAML, run after a
 * restore and on demand (from cron, as a live smoke loop).
 *
 * A panel file:
 *
 *   vars:                          # defaults; --set and the environment win
 *     SOCK: ${HERO_ROOT}/var/sockets/hero_osis/rpc.sock
 *     PHOTO: {glob: "${HERO_ROOT}/var/hero_foundry/files/root/photos/IMG_*.jpg", basename: true}
 *   defaults: {timeout: 5s}
 *   probes:
 *     - name: osis-health
 *       kind: http                 # http | jsonrpc | file | sqlite | command | services
 *       socket: ${SOCK}
 *       path: /health
 *
 * Kinds and their keys (see docs/smoke-probes.md for every key):
 *   http      url, socket, path, method, headers, context, body, status,
 *             body_contains, content_type, min_bytes, magic
 *   jsonrpc   url, socket, path, call, params, headers, context | contexts,
 *             nonempty, min_items, differ, result_contains
 *   file      path (a glob), min_count, min_size, magic, type
 *   sqlite    path, query, min_rows
 *   command   run, exit, output_contains
 *   services  supervisor, health_socket, health_path, ignore, require_health
 * Every probe has name, kind and timeout ("500ms", "5s", "1m"; a bare number
 * is seconds; default 10s).
 */
#ifndef HERO_PROBE_H
#define HERO_PROBE_H

#include <stddef.h>

#include "hero/error.h"

struct hero_panel;

struct hero_probe_result {
	char name[128];
	char kind[16];
	int ok;           /* 1 passed, 0 failed */
	long ms;          /* wall-clock duration */
	char detail[768]; /* one line: what was seen, or why it failed */
};

/* Load the panel at PATH. VARS is NULL or a NULL-terminated list of
 * "NAME=VALUE" that wins over the environment, which wins over the panel's
 * own vars. Every ${NAME} is expanded here, so an undefined variable, an
 * unknown kind or key, or a missing required key fails the load (HERO_EUSAGE)
 * naming the probe. Free with hero_panel_free. */
int hero_panel_new(const char *path, const char *const *vars, struct hero_panel **out,
		    struct hero_error *err);
void hero_panel_free(struct hero_panel *p);

size_t hero_panel_size(const struct hero_panel *p);
const char *hero_panel_probe_name(const struct hero_panel *p, size_t i);

/* Run probe I of P within its timeout and describe the outcome in RES. A
 * probe that fails is not an error of this call: RES->ok says. */
void hero_probe_run(const struct hero_panel *p, size_t i, struct hero_probe_result *res);

/* The type of a file from its first bytes: "jpeg", "png", "gif", "webp",
 * "pdf", "sqlite", "gzip", "zstd", "zip", or NULL. */
const char *hero_magic_type(const unsigned char *buf, size_t len);

/* 1 when BUF is of type WANT (one of the names above, or "image" for any of
 * jpeg, png, gif and webp). */
int hero_magic_match(const char *want, const unsigned char *buf, size_t len);

/* "250ms", "5s", "2m", "1h" or a bare number of seconds, in milliseconds;
 * -1 when malformed. */
long hero_duration_ms(const char *s);

#endif
