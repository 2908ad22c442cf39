/* hero/supervisor.h - a client for the process supervisor (zinit) of a Hero instance.
 *
 * zinit v0.2.15 and later speak JSON-RPC 2.0 raw over a Unix socket: one compact
 * request, one response ending in "\n", on a persistent connection. zinit
 * v0.2.14 (shipped in the TFGrid micro-VM images) speaks a line protocol: one
 * command line in, one JSON object {"state":"ok|error","body":...} out, then
 * EOF. hero_sv_new detects which one answers and refuses anything else.
 *
 * The line protocol has no service_create / service_get / service_delete. When
 * a configuration directory is set (hero_sv_set_config_dir), those three work
 * on the service files in it directly, for either protocol.
 */
#ifndef HERO_SUPERVISOR_H
#define HERO_SUPERVISOR_H

#include <jansson.h>

#include "hero/error.h"

enum hero_sv_proto {
	HERO_SV_JSONRPC = 1, /* zinit >= v0.2.15 */
	HERO_SV_LINE = 2,    /* zinit v0.2.14 */
};

/* zinit's State, parsed by prefix (the Error state carries a payload such as
 * "Error(Exited(Pid(812), 1))"). */
enum hero_sv_state {
	HERO_SV_UNKNOWN = 0,
	HERO_SV_BLOCKED,
	HERO_SV_SPAWNED,
	HERO_SV_RUNNING,
	HERO_SV_SUCCESS,
	HERO_SV_ERROR,
	HERO_SV_TEST_FAILURE,
	HERO_SV_FAILURE,
};

/* zinit's JSON-RPC error codes (src/app/rpc.rs). */
enum {
	HERO_SV_E_NOT_FOUND = -32000,
	HERO_SV_E_ALREADY_MONITORED = -32001,
	HERO_SV_E_IS_UP = -32002,
	HERO_SV_E_IS_DOWN = -32003,
	HERO_SV_E_INVALID_SIGNAL = -32004,
	HERO_SV_E_CONFIG = -32005,
	HERO_SV_E_SHUTTING_DOWN = -32006,
	HERO_SV_E_ALREADY_EXISTS = -32007,
	HERO_SV_E_FILE = -32008,
	HERO_SV_E_INVALID_PARAMS = -32602,
};

struct hero_sv_status {
	char name[160];
	long pid;                 /* 0 when not running */
	enum hero_sv_state state;
	char state_raw[256];      /* as reported, payload included */
	int target_up;            /* 1 for target Up, 0 for Down */
};

struct hero_sv;

/* Connect to the supervisor at ADDR ("unix:PATH" or a plain PATH) and detect
 * its protocol. TIMEOUT_MS bounds every exchange (0 means 10 s). On success
 * *OUT is a handle to free with hero_sv_free. Fails with a message naming the
 * socket when nothing listens or the peer speaks neither protocol. */
int hero_sv_new(const char *addr, int timeout_ms, struct hero_sv **out, struct hero_error *err);
void hero_sv_free(struct hero_sv *sv);

enum hero_sv_proto hero_sv_protocol(const struct hero_sv *sv);
const char *hero_sv_protocol_name(enum hero_sv_proto p); /* "zinit-jsonrpc" | "zinit-line" */
const char *hero_sv_address(const struct hero_sv *sv);    /* the socket path */

/* Read and write service files in DIR instead of calling service_create /
 * service_get / service_delete (required for the line protocol). DIR is
 * copied; NULL unsets it. */
int hero_sv_set_config_dir(struct hero_sv *sv, const char *dir, struct hero_error *err);

/* The JSON-RPC error code of the last call (one of the HERO_SV_E_* values or
 * a standard JSON-RPC code), or 0 when it succeeded or failed in transport.
 * On the line protocol, "service name ... unknown" maps to HERO_SV_E_NOT_FOUND. */
int hero_sv_last_code(const struct hero_sv *sv);

/* Call METHOD with PARAMS (a JSON array or object, reference stolen; NULL for
 * none). On success *RESULT (may be NULL) receives a new reference to the
 * result. On the line protocol the zinit methods with a line equivalent are
 * translated. */
int hero_sv_call(struct hero_sv *sv, const char *method, json_t *params, json_t **result,
		 struct hero_error *err);

/* service_list: *OUT is an object mapping each monitored service to its raw state. */
int hero_sv_list(struct hero_sv *sv, json_t **out, struct hero_error *err);
int hero_sv_status(struct hero_sv *sv, const char *name, struct hero_sv_status *st,
		   struct hero_error *err);
int hero_sv_start(struct hero_sv *sv, const char *name, struct hero_error *err);
int hero_sv_stop(struct hero_sv *sv, const char *name, struct hero_error *err);
int hero_sv_monitor(struct hero_sv *sv, const char *name, struct hero_error *err);
int hero_sv_forget(struct hero_sv *sv, const char *name, struct hero_error *err);
int hero_sv_kill(struct hero_sv *sv, const char *name, const char *signal, struct hero_error *err);

/* Service files: create NAME.yaml from CONTENT (not monitored yet), read it
 * back as JSON (*OUT, new reference), delete it. */
int hero_sv_create(struct hero_sv *sv, const char *name, const json_t *content, struct hero_error *err);
int hero_sv_get(struct hero_sv *sv, const char *name, json_t **out, struct hero_error *err);
int hero_sv_delete(struct hero_sv *sv, const char *name, struct hero_error *err);

/* Poll service_status every 50 ms until pid is 0 and target is Down, for at
 * most TIMEOUT_MS; then send SIGKILL and wait up to 5 s more. */
int hero_sv_wait_down(struct hero_sv *sv, const char *name, int timeout_ms, struct hero_error *err);

/* zinit has no restart call: stop, hero_sv_wait_down, start. */
int hero_sv_restart(struct hero_sv *sv, const char *name, int timeout_ms, struct hero_error *err);

/* Parse a zinit state string by prefix; anything unrecognised is HERO_SV_UNKNOWN. */
enum hero_sv_state hero_sv_state_parse(const char *s);
const char *hero_sv_state_name(enum hero_sv_state st);

/* Length of the first complete JSON value in BUF (LEN bytes), found by brace
 * and bracket depth with strings and escapes skipped, leading whitespace
 * included. Returns 0 when the value is not complete yet, and -1 when BUF
 * does not start (after whitespace) with '{' or '['. */
long hero_json_frame(const char *buf, size_t len);

#endif
