/* svcyaml.h - YAML <-> JSON for supervisor service files and probe panels (private).
 *
 * Service files (zinit's `<name>.yaml`), reconcile's desired state and the
 * smoke-probe panels are small YAML documents. They are converted to jansson
 * values once, so comparison, canonical forms and the JSON-RPC wire all work
 * on the same representation.
 */
#ifndef HERO_SVCYAML_H
#define HERO_SVCYAML_H

#include <stddef.h>

#include <jansson.h>

#include "hero/error.h"

/* Where ${NAME} and ${NAME:-default} take their values from: first the
 * NULL-terminated list SET of "NAME=VALUE" strings (later entries win), then
 * the environment when USE_ENV is set, then the list FALLBACK. */
struct hero_vars {
	const char *const *set;
	int use_env;
	const char *const *fallback;
};

/* Expand ${NAME} and ${NAME:-default} in IN into a malloc'd *OUT. "$${" is a
 * literal "${"; any other '$' is kept as is (so shell text like $HOME passes).
 * An undefined NAME without a default is an error naming it. */
int hero_expand(const char *in, const struct hero_vars *vars, char **out, struct hero_error *err);

/* Look NAME up in VARS (set list, environment, fallback list). NULL if unset. */
const char *hero_vars_get(const struct hero_vars *vars, const char *name);

/* Parse the first YAML document in BUF (LEN bytes) into *OUT (new reference).
 * Plain scalars resolve by the YAML 1.2 core schema (null, true/false, integers,
 * reals), every other scalar is a string. Mapping keys must be scalars and
 * unique. When VARS is not NULL, ${...} in scalar values is expanded first.
 * An empty document gives JSON null. */
int hero_yaml_parse(const char *buf, size_t len, const struct hero_vars *vars, json_t **out,
		    struct hero_error *err);

/* As hero_yaml_parse, reading the file PATH (at most 4 MiB). */
int hero_yaml_load(const char *path, const struct hero_vars *vars, json_t **out,
		   struct hero_error *err);

/* Serialise VALUE as a block-style YAML document into a malloc'd, NUL-terminated
 * *OUT. Strings that would read back as another type are quoted. */
int hero_yaml_dump(const json_t *value, char **out, struct hero_error *err);

/* Write VALUE as YAML to PATH atomically (temporary file, fsync, rename), mode 0644. */
int hero_yaml_write_file(const char *path, const json_t *value, struct hero_error *err);

/* A zinit service name: non-empty, at most 128 bytes, no '/', '\\' or '.',
 * no control characters or whitespace. Returns 1 when valid. */
int hero_svc_name_valid(const char *name);

/* Signal number for a zinit signal name ("SIGTERM", "sigterm", "TERM"), or -1. */
int hero_signal_number(const char *name);

/* Canonical form of a service definition IN for service NAME, in *OUT.
 * Fields: exec (required), test, oneshot, after, shutdown_timeout, signal.stop,
 * log, env, dir, and hero_proc's retry {max_attempts, delay_ms, backoff,
 * stability_period_ms} and health {http | rpc, socket, url, interval_ms,
 * timeout_ms}. Values are coerced to one type each (env values to strings,
 * signal names to upper case, after sorted), and fields equal to zinit's
 * defaults are dropped, so two definitions that behave alike compare equal with
 * json_equal. STRICT refuses unknown keys (desired files); otherwise unknown
 * keys are kept verbatim (files found on a supervisor). */
int hero_svc_canon(const char *name, const json_t *in, int strict, json_t **out,
		   struct hero_error *err);

#endif
