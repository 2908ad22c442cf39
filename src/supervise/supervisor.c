/* supervisor.c - zinit client: JSON-RPC over a Unix socket, or the v0.2.14 line protocol. */
#include "hero/supervisor.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "supervise/svcyaml.h"

#define SV_MAX_REPLY (10u << 20) /* zinit's (reth-ipc) response limit */

struct hero_sv {
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	enum hero_sv_proto proto;
	int fd;           /* persistent JSON-RPC connection, -1 when closed */
	int timeout_ms;
	long next_id;
	int last_code;
	char *cfgdir;
	char *in;         /* bytes read past the last response */
	size_t inlen, incap;
};

/* ---- time and I/O ------------------------------------------------------- */

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int left_ms(long long deadline)
{
	long long d = deadline - now_ms();
	return d < 0 ? 0 : (int)d;
}

static int sv_connect(const char *path, struct hero_error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof sa.sun_path)
		return hero_error(err, HERO_EFAIL, "socket path too long '%s'", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot create socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int e = errno;
		close(fd);
		return hero_error_errno(err, HERO_EFAIL, e, "cannot connect to supervisor '%s'", path);
	}
	return fd;
}

static int send_all(int fd, const char *buf, size_t len, long long deadline, struct hero_error *err)
{
	size_t off = 0;
	while (off < len) {
		struct pollfd p = { fd, POLLOUT, 0 };
		int r = poll(&p, 1, left_ms(deadline));
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			return hero_error(err, HERO_EFAIL, "timed out writing to supervisor");
		ssize_t w = send(fd, buf + off, len - off, MSG_NOSIGNAL);
		if (w < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (w < 0)
			return hero_error_errno(err, HERO_EFAIL, errno, "cannot write to supervisor");
		off += (size_t)w;
	}
	return 0;
}

/* Append what is readable before DEADLINE to sv->in; returns bytes read, 0 at EOF. */
static long read_more(struct hero_sv *sv, int fd, long long deadline, struct hero_error *err)
{
	if (sv->inlen + 4096 + 1 > sv->incap) {
		size_t cap = sv->incap ? sv->incap * 2 : 8192;
		if (cap > SV_MAX_REPLY + 8192)
			return hero_error(err, HERO_EFAIL, "supervisor reply larger than 10 MiB");
		char *p = realloc(sv->in, cap);
		if (!p)
			return hero_error(err, HERO_EFAIL, "out of memory");
		sv->in = p;
		sv->incap = cap;
	}
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		int r = poll(&p, 1, left_ms(deadline));
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			return hero_error(err, HERO_EFAIL, "no reply from supervisor '%s' within %d ms",
					  sv->path, sv->timeout_ms);
		ssize_t n = read(fd, sv->in + sv->inlen, sv->incap - sv->inlen - 1);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return hero_error_errno(err, HERO_EFAIL, errno, "cannot read from supervisor");
		sv->inlen += (size_t)n;
		sv->in[sv->inlen] = '\0';
		return n;
	}
}

static void consume(struct hero_sv *sv, size_t n)
{
	memmove(sv->in, sv->in + n, sv->inlen - n);
	sv->inlen -= n;
	if (sv->in)
		sv->in[sv->inlen] = '\0';
}

/* ---- framing and states ------------------------------------------------- */

long hero_json_frame(const char *buf, size_t len)
{
	size_t i = 0;
	int depth = 0, in_str = 0, esc = 0;
	while (i < len && isspace((unsigned char)buf[i]))
		i++;
	if (i == len)
		return 0;
	if (buf[i] != '{' && buf[i] != '[')
		return -1;
	for (; i < len; i++) {
		char c = buf[i];
		if (in_str) {
			if (esc)
				esc = 0;
			else if (c == '\\')
				esc = 1;
			else if (c == '"')
				in_str = 0;
			continue;
		}
		if (c == '"')
			in_str = 1;
		else if (c == '{' || c == '[')
			depth++;
		else if ((c == '}' || c == ']') && --depth == 0)
			return (long)(i + 1);
	}
	return 0;
}

static const char *const state_names[] = {
	[HERO_SV_UNKNOWN] = "Unknown",	   [HERO_SV_BLOCKED] = "Blocked",
	[HERO_SV_SPAWNED] = "Spawned",	   [HERO_SV_RUNNING] = "Running",
	[HERO_SV_SUCCESS] = "Success",	   [HERO_SV_ERROR] = "Error",
	[HERO_SV_TEST_FAILURE] = "TestFailure", [HERO_SV_FAILURE] = "Failure",
};

enum hero_sv_state hero_sv_state_parse(const char *s)
{
	if (!s)
		return HERO_SV_UNKNOWN;
	for (int i = HERO_SV_FAILURE; i > HERO_SV_UNKNOWN; i--) {
		size_t n = strlen(state_names[i]);
		if (!strncmp(s, state_names[i], n) && (s[n] == '\0' || s[n] == '(' || s[n] == ' '))
			return (enum hero_sv_state)i;
	}
	return HERO_SV_UNKNOWN;
}

const char *hero_sv_state_name(enum hero_sv_state st)
{
	return st <= HERO_SV_FAILURE ? state_names[st] : "Unknown";
}

const char *hero_sv_protocol_name(enum hero_sv_proto p)
{
	return p == HERO_SV_LINE ? "zinit-line" : "zinit-jsonrpc";
}

/* ---- JSON-RPC ----------------------------------------------------------- */

static int rpc_error(struct hero_sv *sv, const char *method, const json_t *e, struct hero_error *err)
{
	json_t *code = json_object_get(e, "code");
	const char *msg = json_string_value(json_object_get(e, "message"));
	sv->last_code = json_is_integer(code) ? (int)json_integer_value(code) : -32603;
	return hero_error(err, HERO_EFAIL, "supervisor: %s: %s (%d)", method, msg ? msg : "error",
			  sv->last_code);
}

/* Read lines until the response with ID arrives; *OUT receives it. */
static int rpc_read(struct hero_sv *sv, long id, long long deadline, json_t **out, struct hero_error *err)
{
	for (;;) {
		char *nl = sv->in ? memchr(sv->in, '\n', sv->inlen) : NULL;
		if (nl) {
			size_t n = (size_t)(nl - sv->in) + 1;
			json_t *msg = json_loadb(sv->in, n, 0, NULL);
			consume(sv, n);
			json_t *jid = json_object_get(msg, "id");
			if (json_is_integer(jid) && json_integer_value(jid) == id) {
				*out = msg;
				return 0;
			}
			/* a notification or a stray reply: not ours */
			json_decref(msg);
			continue;
		}
		long r = read_more(sv, sv->fd, deadline, err);
		if (r < 0)
			return (int)r;
		if (r == 0)
			return hero_error(err, HERO_EFAIL, "supervisor '%s' closed the connection", sv->path);
	}
}

static int rpc_call(struct hero_sv *sv, const char *method, json_t *params, json_t **result,
		    struct hero_error *err)
{
	long long deadline = now_ms() + sv->timeout_ms;
	long id = ++sv->next_id;
	json_t *req = json_pack("{sssIssso}", "jsonrpc", "2.0", "id", (json_int_t)id, "method", method,
				"params", params ? json_incref(params) : json_array());
	json_t *reply = NULL;
	char *text = req ? json_dumps(req, JSON_COMPACT) : NULL;
	int rc = -HERO_EFAIL;
	if (!text) {
		rc = hero_error(err, HERO_EFAIL, "out of memory");
		goto out;
	}
	size_t tlen = strlen(text);
	text[tlen] = '\n'; /* json_dumps leaves room only for the NUL: rewrite it */
	for (int attempt = 0; attempt < 2; attempt++) {
		if (sv->fd < 0 && (sv->fd = sv_connect(sv->path, err)) < 0)
			goto out_fd;
		rc = send_all(sv->fd, text, tlen + 1, deadline, err);
		if (rc == 0)
			break;
		/* the server may have dropped an idle connection: reconnect once */
		close(sv->fd);
		sv->fd = -1;
		sv->inlen = 0;
	}
	if (rc < 0)
		goto out;
	if ((rc = rpc_read(sv, id, deadline, &reply, err)) < 0) {
		close(sv->fd);
		sv->fd = -1;
		sv->inlen = 0;
		goto out;
	}
	json_t *e = json_object_get(reply, "error");
	if (e) {
		rc = rpc_error(sv, method, e, err);
		goto out;
	}
	if (result)
		*result = json_incref(json_object_get(reply, "result"));
	rc = 0;
	goto out;
out_fd:
	rc = sv->fd;
	sv->fd = -1;
out:
	if (text)
		text[tlen] = '\0';
	free(text);
	json_decref(req);
	json_decref(reply);
	json_decref(params);
	return rc;
}

/* ---- line protocol (zinit v0.2.14) -------------------------------------- */

static int shell_safe(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("_@%+=:,./-", *s))
			return 0;
	return 1;
}

static int add_word(char *line, size_t cap, const char *w)
{
	size_t len = strlen(line);
	int n;
	if (shell_safe(w)) {
		n = snprintf(line + len, cap - len, "%s%s", len ? " " : "", w);
		return n < 0 || (size_t)n >= cap - len ? -1 : 0;
	}
	n = snprintf(line + len, cap - len, "%s'", len ? " " : "");
	for (const char *p = w; n >= 0 && *p; p++) {
		len = strlen(line);
		n = *p == '\'' ? snprintf(line + len, cap - len, "'\"'\"'")
			       : snprintf(line + len, cap - len, "%c", *p);
		if (n < 0 || (size_t)n >= cap - len)
			return -1;
	}
	len = strlen(line);
	n = snprintf(line + len, cap - len, "'");
	return n < 0 || (size_t)n >= cap - len ? -1 : 0;
}

static const char *param_at(const json_t *params, size_t i, const char *key)
{
	if (json_is_array(params))
		return json_string_value(json_array_get(params, i));
	return json_string_value(json_object_get(params, key));
}

/* Translate a JSON-RPC method into a command line. */
static int line_command(const char *method, const json_t *params, char *line, size_t cap,
			struct hero_error *err)
{
	static const struct {
		const char *method, *cmd;
		int nargs;
	} map[] = {
		{ "service_list", "list", 0 },	   { "service_status", "status", 1 },
		{ "service_start", "start", 1 },   { "service_stop", "stop", 1 },
		{ "service_monitor", "monitor", 1 }, { "service_forget", "forget", 1 },
		{ "service_kill", "kill", 2 },	   { "system_shutdown", "shutdown", 0 },
		{ "system_reboot", "reboot", 0 },
	};
	line[0] = '\0';
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
		if (strcmp(map[i].method, method))
			continue;
		add_word(line, cap, map[i].cmd);
		const char *name = param_at(params, 0, "name"), *sig = param_at(params, 1, "signal");
		if ((map[i].nargs >= 1 && !name) || (map[i].nargs == 2 && !sig))
			return hero_error(err, HERO_EUSAGE, "supervisor: %s: missing parameters", method);
		if ((map[i].nargs >= 1 && add_word(line, cap, name)) ||
		    (map[i].nargs == 2 && add_word(line, cap, sig)))
			return hero_error(err, HERO_EUSAGE, "supervisor: %s: parameters too long", method);
		return 0;
	}
	return hero_error(err, HERO_EFAIL,
			  "supervisor: '%s' is not available on the zinit v0.2.14 line protocol", method);
}

/* One exchange: connect, send LINE, read one JSON object to EOF. */
static int line_exchange(struct hero_sv *sv, const char *line, json_t **reply, struct hero_error *err)
{
	long long deadline = now_ms() + sv->timeout_ms;
	int fd = sv_connect(sv->path, err), rc;
	if (fd < 0)
		return fd;
	sv->inlen = 0;
	char buf[4200];
	int n = snprintf(buf, sizeof buf, "%s\n", line);
	if (n < 0 || (size_t)n >= sizeof buf) {
		rc = hero_error(err, HERO_EUSAGE, "supervisor command too long");
		goto out;
	}
	if ((rc = send_all(fd, buf, (size_t)n, deadline, err)) < 0)
		goto out;
	long r;
	while ((r = read_more(sv, fd, deadline, err)) > 0)
		;
	if (r < 0) {
		rc = (int)r;
		goto out;
	}
	json_error_t je;
	*reply = json_loadb(sv->in ? sv->in : "", sv->inlen, 0, &je);
	if (!*reply)
		rc = hero_error(err, HERO_EFAIL, "supervisor '%s': unreadable reply: %s", sv->path, je.text);
out:
	sv->inlen = 0;
	close(fd);
	return rc;
}

static int line_call(struct hero_sv *sv, const char *method, json_t *params, json_t **result,
		     struct hero_error *err)
{
	char line[4096];
	json_t *reply = NULL;
	int rc = line_command(method, params, line, sizeof line, err);
	if (rc < 0 || (rc = line_exchange(sv, line, &reply, err)) < 0)
		goto out;
	const char *state = json_string_value(json_object_get(reply, "state"));
	json_t *body = json_object_get(reply, "body");
	if (state && !strcmp(state, "ok")) {
		if (result)
			*result = json_incref(body);
		rc = 0;
		goto out;
	}
	const char *msg = json_is_string(body) ? json_string_value(body) : "error";
	size_t ml = strlen(msg);
	if (!strncmp(msg, "service name ", 13) && ml > 8 && !strcmp(msg + ml - 8, " unknown"))
		sv->last_code = HERO_SV_E_NOT_FOUND;
	else
		sv->last_code = -32603;
	rc = hero_error(err, HERO_EFAIL, "supervisor: %s: %s", line, msg);
out:
	json_decref(reply);
	json_decref(params);
	return rc;
}

int hero_sv_call(struct hero_sv *sv, const char *method, json_t *params, json_t **result,
		 struct hero_error *err)
{
	sv->last_code = 0;
	if (result)
		*result = NULL;
	if (sv->proto == HERO_SV_LINE)
		return line_call(sv, method, params, result, err);
	return rpc_call(sv, method, params, result, err);
}

/* ---- open and detect ---------------------------------------------------- */

/* Send a JSON-RPC service_list and judge the first reply. */
static int detect(struct hero_sv *sv, struct hero_error *err)
{
	static const char probe[] = "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"service_list\",\"params\":[]}\n";
	long long deadline = now_ms() + sv->timeout_ms;
	int rc;
	if ((rc = send_all(sv->fd, probe, sizeof probe - 1, deadline, err)) < 0)
		return rc;
	for (;;) {
		char *nl = sv->in ? memchr(sv->in, '\n', sv->inlen) : NULL;
		long r = nl ? 1 : read_more(sv, sv->fd, deadline, err);
		if (r < 0)
			return (int)r;
		if (nl || r == 0)
			break;
	}
	char *nl = memchr(sv->in ? sv->in : "", '\n', sv->inlen);
	size_t n = nl ? (size_t)(nl - sv->in) + 1 : sv->inlen;
	json_t *reply = json_loadb(sv->in ? sv->in : "", n, 0, NULL);
	const char *jv = json_string_value(json_object_get(reply, "jsonrpc"));
	const char *st = json_string_value(json_object_get(reply, "state"));
	json_t *e = json_object_get(reply, "error");
	rc = 0;
	if (jv && !strcmp(jv, "2.0") && json_integer_value(json_object_get(e, "code")) == -32601) {
		rc = hero_error(err, HERO_EFAIL,
				"supervisor '%s' speaks JSON-RPC but has no 'service_list': not zinit "
				"v0.2.15+ (a newer zinit or hero_proc is not supported yet)", sv->path);
	} else if (jv && !strcmp(jv, "2.0")) {
		sv->proto = HERO_SV_JSONRPC;
		consume(sv, n);
	} else if (st && (!strcmp(st, "ok") || !strcmp(st, "error"))) {
		sv->proto = HERO_SV_LINE;
		close(sv->fd);
		sv->fd = -1;
		sv->inlen = 0;
	} else {
		char shown[64];
		size_t k = 0;
		for (size_t i = 0; i < sv->inlen && k + 1 < sizeof shown; i++)
			shown[k++] = isprint((unsigned char)sv->in[i]) ? sv->in[i] : ' ';
		shown[k] = '\0';
		rc = hero_error(err, HERO_EFAIL,
				"supervisor '%s' speaks neither zinit JSON-RPC nor the zinit line protocol "
				"(reply '%s')", sv->path, shown);
	}
	json_decref(reply);
	return rc;
}

int hero_sv_new(const char *addr, int timeout_ms, struct hero_sv **out, struct hero_error *err)
{
	const char *path = addr;
	if (!strncmp(addr, "unix://", 7))
		path = addr + 7;
	else if (!strncmp(addr, "unix:", 5))
		path = addr + 5;
	else if (strstr(addr, "://"))
		return hero_error(err, HERO_EUSAGE, "supervisor address '%s' must be unix:PATH", addr);
	if (!*path)
		return hero_error(err, HERO_EUSAGE, "supervisor address '%s' has no socket path", addr);
	struct hero_sv *sv = calloc(1, sizeof *sv);
	if (!sv)
		return hero_error(err, HERO_EFAIL, "out of memory");
	sv->fd = -1;
	sv->timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
	int rc;
	if (strlen(path) >= sizeof sv->path) {
		rc = hero_error(err, HERO_EUSAGE, "socket path too long '%s'", path);
		goto fail;
	}
	memcpy(sv->path, path, strlen(path) + 1);
	if ((sv->fd = sv_connect(sv->path, err)) < 0) {
		rc = sv->fd;
		sv->fd = -1;
		goto fail;
	}
	if ((rc = detect(sv, err)) < 0)
		goto fail;
	*out = sv;
	return 0;
fail:
	hero_sv_free(sv);
	return rc;
}

void hero_sv_free(struct hero_sv *sv)
{
	if (!sv)
		return;
	if (sv->fd >= 0)
		close(sv->fd);
	free(sv->cfgdir);
	free(sv->in);
	free(sv);
}

enum hero_sv_proto hero_sv_protocol(const struct hero_sv *sv)
{
	return sv->proto;
}

const char *hero_sv_address(const struct hero_sv *sv)
{
	return sv->path;
}

int hero_sv_last_code(const struct hero_sv *sv)
{
	return sv->last_code;
}

int hero_sv_set_config_dir(struct hero_sv *sv, const char *dir, struct hero_error *err)
{
	char *d = NULL;
	if (dir) {
		struct stat st;
		if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
			return hero_error(err, HERO_EUSAGE, "config directory '%s' does not exist", dir);
		if (!(d = strdup(dir)))
			return hero_error(err, HERO_EFAIL, "out of memory");
	}
	free(sv->cfgdir);
	sv->cfgdir = d;
	return 0;
}

/* ---- typed calls -------------------------------------------------------- */

static int call_name(struct hero_sv *sv, const char *method, const char *name, json_t **result,
		     struct hero_error *err)
{
	return hero_sv_call(sv, method, json_pack("[s]", name), result, err);
}

int hero_sv_list(struct hero_sv *sv, json_t **out, struct hero_error *err)
{
	json_t *res = NULL;
	int rc = hero_sv_call(sv, "service_list", NULL, &res, err);
	if (rc < 0)
		return rc;
	if (!json_is_object(res)) {
		json_decref(res);
		return hero_error(err, HERO_EFAIL, "supervisor: service_list: reply is not an object");
	}
	*out = res;
	return 0;
}

int hero_sv_status(struct hero_sv *sv, const char *name, struct hero_sv_status *st, struct hero_error *err)
{
	json_t *res = NULL;
	int rc = call_name(sv, "service_status", name, &res, err);
	if (rc < 0)
		return rc;
	const char *state = json_string_value(json_object_get(res, "state"));
	const char *target = json_string_value(json_object_get(res, "target"));
	json_t *pid = json_object_get(res, "pid");
	if (!state || !target || !json_is_integer(pid)) {
		json_decref(res);
		return hero_error(err, HERO_EFAIL, "supervisor: service_status '%s': unexpected reply", name);
	}
	memset(st, 0, sizeof *st);
	snprintf(st->name, sizeof st->name, "%s", name);
	snprintf(st->state_raw, sizeof st->state_raw, "%s", state);
	st->state = hero_sv_state_parse(state);
	st->pid = (long)json_integer_value(pid);
	st->target_up = !strcmp(target, "Up");
	json_decref(res);
	return 0;
}

int hero_sv_start(struct hero_sv *sv, const char *name, struct hero_error *err)
{
	return call_name(sv, "service_start", name, NULL, err);
}

int hero_sv_stop(struct hero_sv *sv, const char *name, struct hero_error *err)
{
	return call_name(sv, "service_stop", name, NULL, err);
}

int hero_sv_monitor(struct hero_sv *sv, const char *name, struct hero_error *err)
{
	return call_name(sv, "service_monitor", name, NULL, err);
}

int hero_sv_forget(struct hero_sv *sv, const char *name, struct hero_error *err)
{
	return call_name(sv, "service_forget", name, NULL, err);
}

int hero_sv_kill(struct hero_sv *sv, const char *name, const char *signal, struct hero_error *err)
{
	return hero_sv_call(sv, "service_kill", json_pack("[ss]", name, signal), NULL, err);
}

/* ---- service files ------------------------------------------------------ */

static int file_path(struct hero_sv *sv, const char *action, const char *name, char *buf, size_t cap,
		     struct hero_error *err)
{
	sv->last_code = 0;
	if (!hero_svc_name_valid(name)) {
		sv->last_code = HERO_SV_E_INVALID_PARAMS;
		return hero_error(err, HERO_EUSAGE, "%s: invalid service name '%s'", action, name);
	}
	int n = snprintf(buf, cap, "%s/%s.yaml", sv->cfgdir, name);
	if (n < 0 || (size_t)n >= cap)
		return hero_error(err, HERO_EFAIL, "%s: path too long for '%s'", action, name);
	return 0;
}

int hero_sv_create(struct hero_sv *sv, const char *name, const json_t *content, struct hero_error *err)
{
	if (!sv->cfgdir)
		return hero_sv_call(sv, "service_create", json_pack("[sO]", name, content), NULL, err);
	char path[4096];
	struct stat st;
	int rc = file_path(sv, "creating service", name, path, sizeof path, err);
	if (rc < 0)
		return rc;
	if (lstat(path, &st) == 0) {
		sv->last_code = HERO_SV_E_ALREADY_EXISTS;
		return hero_error(err, HERO_EFAIL, "creating service: service '%s' already exists", name);
	}
	if ((rc = hero_yaml_write_file(path, content, err)) < 0)
		sv->last_code = HERO_SV_E_FILE;
	return rc;
}

int hero_sv_get(struct hero_sv *sv, const char *name, json_t **out, struct hero_error *err)
{
	if (!sv->cfgdir)
		return call_name(sv, "service_get", name, out, err);
	char path[4096];
	int rc = file_path(sv, "getting service", name, path, sizeof path, err);
	if (rc < 0)
		return rc;
	if (access(path, F_OK) < 0) {
		sv->last_code = HERO_SV_E_NOT_FOUND;
		return hero_error(err, HERO_EFAIL, "getting service: service '%s' not found", name);
	}
	if ((rc = hero_yaml_load(path, NULL, out, err)) < 0)
		sv->last_code = HERO_SV_E_CONFIG;
	return rc;
}

int hero_sv_delete(struct hero_sv *sv, const char *name, struct hero_error *err)
{
	if (!sv->cfgdir)
		return call_name(sv, "service_delete", name, NULL, err);
	char path[4096];
	int rc = file_path(sv, "deleting service", name, path, sizeof path, err);
	if (rc < 0)
		return rc;
	if (unlink(path) < 0) {
		sv->last_code = errno == ENOENT ? HERO_SV_E_NOT_FOUND : HERO_SV_E_FILE;
		return hero_error_errno(err, HERO_EFAIL, errno, "deleting service '%s'", name);
	}
	return 0;
}

/* ---- stop and restart --------------------------------------------------- */

static int poll_down(struct hero_sv *sv, const char *name, int timeout_ms, int *down, struct hero_error *err)
{
	long long deadline = now_ms() + timeout_ms;
	struct hero_sv_status st;
	for (;;) {
		int rc = hero_sv_status(sv, name, &st, err);
		if (rc < 0)
			return rc;
		if (st.pid == 0 && !st.target_up) {
			*down = 1;
			return 0;
		}
		if (now_ms() >= deadline) {
			*down = 0;
			return 0;
		}
		struct timespec ts = { 0, 50 * 1000000L };
		nanosleep(&ts, NULL);
	}
}

int hero_sv_wait_down(struct hero_sv *sv, const char *name, int timeout_ms, struct hero_error *err)
{
	int down = 0, rc = poll_down(sv, name, timeout_ms, &down, err);
	if (rc < 0 || down)
		return rc;
	/* the stop signal was not enough: escalate as zinit's own clients do */
	struct hero_error kerr = HERO_ERROR_INIT;
	hero_sv_kill(sv, name, "SIGKILL", &kerr);
	if ((rc = poll_down(sv, name, 5000, &down, err)) < 0)
		return rc;
	if (!down)
		return hero_error(err, HERO_EFAIL, "service '%s' did not stop within %d ms", name,
				  timeout_ms + 5000);
	return 0;
}

int hero_sv_restart(struct hero_sv *sv, const char *name, int timeout_ms, struct hero_error *err)
{
	int rc = hero_sv_stop(sv, name, err);
	if (rc == 0)
		rc = hero_sv_wait_down(sv, name, timeout_ms, err);
	if (rc == 0)
		rc = hero_sv_start(sv, name, err);
	return rc;
}
