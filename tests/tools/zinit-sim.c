/* zinit-sim - a zinit supervisor simulator for tests and the demo.
 *
 *   zinit-sim --socket PATH --config DIR [--line-protocol] [--state FILE]
 *             [--restart-delay-ms N] [--test-interval-ms N] [--no-autoload]
 *
 * A real server on a Unix socket. By default it speaks zinit v0.2.15+'s raw
 * JSON-RPC 2.0 (requests found by brace depth, compact responses ending in
 * "\n", persistent connections, batches); with --line-protocol it speaks
 * zinit v0.2.14's line protocol (one command line, one JSON object, EOF).
 *
 * Service files are DIR/<name>.yaml; like `zinit init` it monitors all of them
 * at start. Each exec really runs as a child (/bin/sh -c, its own process
 * group) with the service env and dir, and goes through zinit's states:
 * Blocked while an `after` dependency is not Running/Success, Spawned until
 * the `test` command exits 0 (re-run every --test-interval-ms), Running,
 * then Success or Error(Exited(Pid(N), CODE)) / Error(Signaled(Pid(N), SIG,
 * false)) on exit; a non-oneshot service whose target is Up is started again
 * after --restart-delay-ms (zinit: 2 s). A program that cannot be found gives
 * Failure. Errors carry zinit's codes -32000..-32011 and data
 * {code_name, service, action, retryable, cause_chain, hint}.
 *
 * --state FILE receives a JSON snapshot after every change:
 * {"pid":N,"services":{"NAME":{"state","pid","target","spawns"}}}.
 * SIGTERM stops every service (stop signal, then SIGKILL after 3 s) and exits.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "hero/supervisor.h"
#include "supervise/svcyaml.h"

#define MAX_SVC 256
#define MAX_CLIENTS 100
#define MAX_REQUEST (10u << 20)
#define RING_LINES 2000

enum { LOG_RING, LOG_STDOUT, LOG_NONE };

struct svc {
	char name[160];
	json_t *cfg; /* canonical definition */
	const char *exec, *test, *dir;
	int oneshot, stop_sig, log;
	json_t *after, *env;
	enum hero_sv_state state;
	char state_str[160];
	int target_up, want;
	pid_t pid, test_pid;
	long long next_spawn, next_test;
	unsigned spawns;
	int pipe_fd[2];      /* stdout, stderr of the running exec; -1 when closed */
	char part[2][1024];  /* partial output lines */
	size_t partlen[2];
};

struct client {
	int fd;
	char *in, *out;
	size_t inlen, incap, outlen, outoff, outcap;
	int close_after;
};

struct sim {
	int lfd, line_mode, restart_delay, test_interval, dirty, exiting;
	long long exit_deadline;
	char sock_path[108];
	char *state_path;
	struct svc *svcs[MAX_SVC];
	int nsvc;
	struct svc *dead[MAX_SVC]; /* forgotten, freed at the next loop turn */
	int ndead;
	struct client cl[MAX_CLIENTS];
	char *ring[RING_LINES];
	int ring_next, ring_count;
};

static int sig_pipe[2] = { -1, -1 }; /* self-pipe for SIGCHLD / SIGTERM */
static volatile sig_atomic_t got_term;

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_signal(int sig)
{
	int e = errno;
	if (sig == SIGTERM || sig == SIGINT)
		got_term = 1;
	if (write(sig_pipe[1], "x", 1) < 0) {
		/* the pipe is full: a wake-up is already pending */
	}
	errno = e;
}

/* ---- log ring ----------------------------------------------------------- */

static void ring_push(struct sim *sim, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ring_push(struct sim *sim, const char *fmt, ...)
{
	char line[1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	free(sim->ring[sim->ring_next]);
	sim->ring[sim->ring_next] = strdup(line);
	sim->ring_next = (sim->ring_next + 1) % RING_LINES;
	if (sim->ring_count < RING_LINES)
		sim->ring_count++;
}

/* ---- services ----------------------------------------------------------- */

static struct svc *find_svc(struct sim *sim, const char *name)
{
	for (int i = 0; i < sim->nsvc; i++)
		if (!strcmp(sim->svcs[i]->name, name))
			return sim->svcs[i];
	return NULL;
}

static void set_state(struct sim *sim, struct svc *s, enum hero_sv_state st, const char *raw)
{
	s->state = st;
	snprintf(s->state_str, sizeof s->state_str, "%s", raw ? raw : hero_sv_state_name(st));
	sim->dirty = 1;
}

static void close_pipes(struct svc *s)
{
	for (int i = 0; i < 2; i++) {
		if (s->pipe_fd[i] >= 0)
			close(s->pipe_fd[i]);
		s->pipe_fd[i] = -1;
		s->partlen[i] = 0;
	}
}

static void svc_free(struct svc *s)
{
	if (!s)
		return;
	close_pipes(s);
	json_decref(s->cfg);
	free(s);
}

/* Load DIR/<name>.yaml (the process runs in the config directory). */
static int load_config(const char *name, json_t **cfg, struct hero_error *err)
{
	char path[256];
	json_t *raw = NULL;
	snprintf(path, sizeof path, "%s.yaml", name);
	int rc = hero_yaml_load(path, NULL, &raw, err);
	if (rc == 0)
		rc = hero_svc_canon(name, raw, 0, cfg, err);
	json_decref(raw);
	return rc;
}

static struct svc *svc_new(const char *name, json_t *cfg)
{
	struct svc *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	snprintf(s->name, sizeof s->name, "%s", name);
	s->cfg = cfg;
	s->exec = json_string_value(json_object_get(cfg, "exec"));
	s->test = json_string_value(json_object_get(cfg, "test"));
	s->dir = json_string_value(json_object_get(cfg, "dir"));
	s->oneshot = json_is_true(json_object_get(cfg, "oneshot"));
	s->after = json_object_get(cfg, "after");
	s->env = json_object_get(cfg, "env");
	const char *sig = json_string_value(json_object_get(json_object_get(cfg, "signal"), "stop"));
	s->stop_sig = sig ? hero_signal_number(sig) : SIGTERM;
	const char *log = json_string_value(json_object_get(cfg, "log"));
	s->log = !log ? LOG_RING : !strcmp(log, "stdout") ? LOG_STDOUT : !strcmp(log, "none") ? LOG_NONE : LOG_RING;
	s->pipe_fd[0] = s->pipe_fd[1] = -1;
	snprintf(s->state_str, sizeof s->state_str, "Unknown");
	return s;
}

/* zinit splits exec with shlex and runs the program itself: a program that
 * does not exist is a spawn failure (state Failure), not a shell error. */
static int program_exists(const char *cmd)
{
	char word[512];
	size_t n = 0;
	const char *p = cmd;
	while (isspace((unsigned char)*p))
		p++;
	char q = (*p == '\'' || *p == '"') ? *p++ : 0;
	while (*p && n + 1 < sizeof word && (q ? *p != q : !isspace((unsigned char)*p)))
		word[n++] = *p++;
	word[n] = '\0';
	if (!n)
		return 0;
	if (strchr(word, '/'))
		return access(word, X_OK) == 0;
	const char *path = getenv("PATH");
	char dir[4096];
	for (const char *d = path ? path : "/usr/bin:/bin"; *d;) {
		size_t len = strcspn(d, ":");
		int m = snprintf(dir, sizeof dir, "%.*s/%s", (int)len, d, word);
		if (m > 0 && (size_t)m < sizeof dir && access(dir, X_OK) == 0)
			return 1;
		d += len + (d[len] == ':');
	}
	return 0;
}

static pid_t spawn(struct svc *s, const char *cmd, int *pipes)
{
	int out[2] = { -1, -1 }, errp[2] = { -1, -1 };
	if (pipes && (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0))
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		setsid();
		const char *k;
		json_t *v;
		json_object_foreach(s->env, k, v)
			setenv(k, json_string_value(v), 1);
		if (s->dir && chdir(s->dir) < 0)
			_exit(127);
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		dup2(null, 0);
		if (pipes) {
			dup2(out[1], 1);
			dup2(errp[1], 2);
		} else if (s->log == LOG_NONE || cmd == s->test) {
			dup2(null, 1);
			dup2(null, 2);
		}
		signal(SIGPIPE, SIG_DFL);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	if (pipes) {
		close(out[1]);
		close(errp[1]);
		if (pid < 0) {
			close(out[0]);
			close(errp[0]);
		} else {
			pipes[0] = out[0];
			pipes[1] = errp[0];
			fcntl(out[0], F_SETFL, O_NONBLOCK);
			fcntl(errp[0], F_SETFL, O_NONBLOCK);
		}
	}
	return pid;
}

static void start_exec(struct sim *sim, struct svc *s, long long now)
{
	if (!program_exists(s->exec)) {
		ring_push(sim, "[-] %s: failed to spawn: program not found", s->name);
		set_state(sim, s, HERO_SV_FAILURE, NULL);
		s->want = 0;
		return;
	}
	close_pipes(s);
	int pipes[2] = { -1, -1 };
	ring_push(sim, "[-] %s: ------------ [start] ------------", s->name);
	pid_t pid = spawn(s, s->exec, s->log == LOG_RING ? pipes : NULL);
	if (pid < 0) {
		set_state(sim, s, HERO_SV_FAILURE, NULL);
		s->want = 0;
		return;
	}
	s->pid = pid;
	s->spawns++;
	s->pipe_fd[0] = pipes[0];
	s->pipe_fd[1] = pipes[1];
	s->next_test = now;
	if (s->oneshot || !s->test)
		set_state(sim, s, HERO_SV_RUNNING, NULL); /* no test: zinit marks it Running at once */
	else
		set_state(sim, s, HERO_SV_SPAWNED, NULL);
}

static int deps_ready(struct sim *sim, const struct svc *s)
{
	size_t i;
	json_t *d;
	json_array_foreach(s->after, i, d) {
		struct svc *dep = find_svc(sim, json_string_value(d));
		if (!dep)
			return 0;
		if (!((dep->state == HERO_SV_RUNNING && !dep->oneshot) || dep->state == HERO_SV_SUCCESS))
			return 0;
	}
	return 1;
}

static void on_exit_status(struct sim *sim, struct svc *s, int status, long long now)
{
	char raw[160];
	pid_t pid = s->pid;
	s->pid = 0;
	if (s->test_pid > 0) {
		kill(-s->test_pid, SIGKILL);
		s->test_pid = 0;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		set_state(sim, s, HERO_SV_SUCCESS, NULL);
	} else {
		if (WIFEXITED(status))
			snprintf(raw, sizeof raw, "Error(Exited(Pid(%d), %d))", (int)pid, WEXITSTATUS(status));
		else
			snprintf(raw, sizeof raw, "Error(Signaled(Pid(%d), SIG%s, %s))", (int)pid,
				 sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "UNKNOWN",
				 WCOREDUMP(status) ? "true" : "false");
		set_state(sim, s, HERO_SV_ERROR, raw);
	}
	ring_push(sim, "[-] %s: exited: %s", s->name, s->state_str);
	if (s->oneshot)
		s->want = 0;
	else if (s->want && s->target_up)
		s->next_spawn = now + sim->restart_delay;
}

static void on_test_status(struct sim *sim, struct svc *s, int status, long long now)
{
	s->test_pid = 0;
	if (s->pid && s->state == HERO_SV_SPAWNED && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		set_state(sim, s, HERO_SV_RUNNING, NULL);
		return;
	}
	s->next_test = now + sim->test_interval;
}

static void reap(struct sim *sim, long long now)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (int i = 0; i < sim->nsvc; i++) {
			struct svc *s = sim->svcs[i];
			if (s->pid == pid)
				on_exit_status(sim, s, status, now);
			else if (s->test_pid == pid)
				on_test_status(sim, s, status, now);
		}
	}
}

/* Advance every service; returns the delay in ms until the next timer. */
static int tick(struct sim *sim, long long now)
{
	long long next = now + 200;
	for (int i = 0; i < sim->nsvc; i++) {
		struct svc *s = sim->svcs[i];
		if (s->want && s->target_up && !s->pid) {
			if (now < s->next_spawn) {
				next = s->next_spawn < next ? s->next_spawn : next;
			} else if (!deps_ready(sim, s)) {
				if (s->state != HERO_SV_BLOCKED)
					set_state(sim, s, HERO_SV_BLOCKED, NULL);
			} else {
				start_exec(sim, s, now);
			}
		}
		if (s->pid && s->state == HERO_SV_SPAWNED && s->test && !s->test_pid) {
			if (now < s->next_test) {
				next = s->next_test < next ? s->next_test : next;
			} else if (!program_exists(s->test)) {
				set_state(sim, s, HERO_SV_TEST_FAILURE, NULL);
				s->next_test = now + sim->test_interval;
			} else if ((s->test_pid = spawn(s, s->test, NULL)) < 0) {
				s->test_pid = 0;
				set_state(sim, s, HERO_SV_TEST_FAILURE, NULL);
			}
		}
	}
	return next > now ? (int)(next - now) : 0;
}

static void write_state(struct sim *sim)
{
	if (!sim->state_path || !sim->dirty)
		return;
	sim->dirty = 0;
	json_t *svcs = json_object();
	for (int i = 0; i < sim->nsvc; i++) {
		struct svc *s = sim->svcs[i];
		json_object_set_new(svcs, s->name,
				    json_pack("{sssIsssI}", "state", s->state_str, "pid", (json_int_t)s->pid,
					      "target", s->target_up ? "Up" : "Down", "spawns",
					      (json_int_t)s->spawns));
	}
	json_t *doc = json_pack("{sIso}", "pid", (json_int_t)getpid(), "services", svcs);
	char tmp[4200];
	snprintf(tmp, sizeof tmp, "%s.tmp", sim->state_path);
	if (json_dump_file(doc, tmp, JSON_COMPACT) == 0)
		rename(tmp, sim->state_path);
	json_decref(doc);
}

/* ---- the service API (shared by both protocols) ------------------------- */

struct rpc_err {
	int code;
	char msg[512];
	const char *code_name, *action, *service, *hint;
};

static int fail(struct rpc_err *e, int code, const char *code_name, const char *action,
		const char *service, const char *hint, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));
static int fail(struct rpc_err *e, int code, const char *code_name, const char *action,
		const char *service, const char *hint, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	e->code = code;
	e->code_name = code_name;
	e->action = action;
	e->service = service;
	e->hint = hint;
	return -1;
}

static int not_found(struct rpc_err *e, const char *action, const char *name)
{
	return fail(e, HERO_SV_E_NOT_FOUND, "ServiceNotFound", action, name,
		    "Ensure the service is monitored or the name is correct", "%s: service '%s' not found",
		    action, name);
}

static int bad_name(struct rpc_err *e, const char *action, const char *name)
{
	return fail(e, HERO_SV_E_INVALID_PARAMS, "InvalidServiceName", action, name,
		    "Name must not contain '/', '\\\\' or '.'", "%s: invalid service name '%s'", action, name);
}

static int shutting_down(struct rpc_err *e, const char *action)
{
	return fail(e, HERO_SV_E_SHUTTING_DOWN, "ShuttingDown", action, NULL,
		    "Wait for shutdown to complete or avoid mutating operations during shutdown",
		    "%s: system is shutting down", action);
}

static void stop_svc(struct svc *s)
{
	s->target_up = 0;
	s->want = 0;
	if (s->pid > 0 && kill(-s->pid, s->stop_sig) < 0)
		kill(s->pid, s->stop_sig);
	if (s->test_pid > 0)
		kill(-s->test_pid, SIGKILL);
}

static json_t *api_status(struct sim *sim, struct svc *s)
{
	json_t *after = json_object();
	size_t i;
	json_t *d;
	json_array_foreach(s->after, i, d) {
		struct svc *dep = find_svc(sim, json_string_value(d));
		json_object_set_new(after, json_string_value(d), json_string(dep ? dep->state_str : "Unknown"));
	}
	return json_pack("{sssIssssso}", "name", s->name, "pid", (json_int_t)s->pid, "state", s->state_str,
			 "target", s->target_up ? "Up" : "Down", "after", after);
}

static int api_monitor(struct sim *sim, const char *name, struct rpc_err *e)
{
	const char *act = "monitoring service";
	struct hero_error herr = HERO_ERROR_INIT;
	json_t *cfg = NULL;
	if (!hero_svc_name_valid(name))
		return bad_name(e, act, name);
	if (sim->exiting)
		return shutting_down(e, act);
	if (find_svc(sim, name))
		return fail(e, HERO_SV_E_ALREADY_MONITORED, "ServiceAlreadyMonitored", act, name,
			    "The service is already monitored; call service_forget or control it with start/stop",
			    "%s: service '%s' already monitored", act, name);
	if (load_config(name, &cfg, &herr) < 0)
		return fail(e, HERO_SV_E_CONFIG, "ConfigError", "loading service config", name,
			    "Verify the YAML file exists and is valid", "%s: failed to load '%s.yaml'", act, name);
	if (sim->nsvc == MAX_SVC) {
		json_decref(cfg);
		return fail(e, -32603, "InternalError", act, name, "", "%s: too many services", act);
	}
	struct svc *s = svc_new(name, cfg);
	if (!s) {
		json_decref(cfg);
		return fail(e, -32603, "InternalError", act, name, "", "%s: out of memory", act);
	}
	s->target_up = s->want = 1;
	sim->svcs[sim->nsvc++] = s;
	sim->dirty = 1;
	return 0;
}

static int api_forget(struct sim *sim, const char *name, struct rpc_err *e)
{
	const char *act = "forgetting service";
	struct svc *s = find_svc(sim, name);
	if (!s)
		return not_found(e, act, name);
	if (s->target_up || s->pid)
		return fail(e, HERO_SV_E_IS_UP, "ServiceIsUp", act, name,
			    "Service is already up; use service_stop or restart", "%s: service '%s' is up", act, name);
	for (int i = 0; i < sim->nsvc; i++)
		if (sim->svcs[i] == s) {
			if (s->test_pid > 0)
				kill(-s->test_pid, SIGKILL);
			memmove(&sim->svcs[i], &sim->svcs[i + 1], (size_t)(sim->nsvc - i - 1) * sizeof s);
			sim->nsvc--;
			break;
		}
	close_pipes(s);
	if (sim->ndead < MAX_SVC)
		sim->dead[sim->ndead++] = s;
	else
		svc_free(s);
	sim->dirty = 1;
	return 0;
}

static int api_kill(struct sim *sim, const char *name, const char *signame, struct rpc_err *e)
{
	int sig = hero_signal_number(signame);
	if (sig < 0 || strncasecmp(signame, "SIG", 3))
		return fail(e, HERO_SV_E_INVALID_SIGNAL, "InvalidSignal", "parsing signal", NULL,
			    "Use a valid POSIX signal like SIGTERM or SIGKILL", "parsing signal: invalid signal '%s'",
			    signame);
	struct svc *s = find_svc(sim, name);
	if (!s)
		return not_found(e, "sending signal", name);
	if (!s->pid)
		return fail(e, HERO_SV_E_IS_DOWN, "ServiceIsDown", "sending signal", name,
			    "Service is down; start it before sending signals or requesting stats",
			    "sending signal: service '%s' is down", name);
	if (kill(-s->pid, sig) < 0)
		kill(s->pid, sig);
	return 0;
}

static int file_check(const char *act, const char *name, int must_exist, struct rpc_err *e)
{
	char path[256];
	if (!hero_svc_name_valid(name))
		return bad_name(e, act, name);
	snprintf(path, sizeof path, "%s.yaml", name);
	int exists = access(path, F_OK) == 0;
	if (must_exist && !exists)
		return fail(e, HERO_SV_E_NOT_FOUND, "ServiceNotFound", act, name, "Ensure the service file exists",
			    "%s: Service '%s' not found", act, name);
	if (!must_exist && exists)
		return fail(e, HERO_SV_E_ALREADY_EXISTS, "ServiceAlreadyExists", act, name,
			    "Use a different name or delete the existing service first",
			    "%s: Service '%s' already exists", act, name);
	return 0;
}

static int api_files(const char *method, const char *name, json_t *content, json_t **res, struct rpc_err *e)
{
	char path[256];
	struct hero_error herr = HERO_ERROR_INIT;
	snprintf(path, sizeof path, "%s.yaml", name);
	if (!strcmp(method, "service_create")) {
		if (file_check("creating service", name, 0, e) < 0)
			return -1;
		if (!json_is_object(content))
			return fail(e, HERO_SV_E_INVALID_PARAMS, "InvalidParams", "creating service", name, "",
				    "Invalid params");
		if (hero_yaml_write_file(path, content, &herr) < 0)
			return fail(e, HERO_SV_E_FILE, "ServiceFileError", "creating service file", name,
				    "Check permissions and filesystem availability",
				    "creating service file: failed to create service file");
		*res = json_sprintf("Service '%s' created successfully", name);
		return 0;
	}
	if (!strcmp(method, "service_delete")) {
		if (file_check("deleting service", name, 1, e) < 0)
			return -1;
		if (unlink(path) < 0)
			return fail(e, HERO_SV_E_FILE, "ServiceFileError", "deleting service file", name,
				    "Check permissions and filesystem availability",
				    "deleting service file: failed to delete service file");
		*res = json_sprintf("Service '%s' deleted successfully", name);
		return 0;
	}
	if (file_check("getting service", name, 1, e) < 0)
		return -1;
	if (hero_yaml_load(path, NULL, res, &herr) < 0)
		return fail(e, HERO_SV_E_CONFIG, "ConfigError", "parsing service file", name,
			    "Ensure the YAML is valid", "getting service: failed to parse YAML");
	return 0;
}

static json_t *api_stats(struct svc *s)
{
	long pages = 0;
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/statm", (int)s->pid);
	FILE *f = fopen(path, "re");
	if (f) {
		long size;
		if (fscanf(f, "%ld %ld", &size, &pages) != 2)
			pages = 0;
		fclose(f);
	}
	return json_pack("{sssIsIsfs[]}", "name", s->name, "pid", (json_int_t)s->pid, "memory_usage",
			 (json_int_t)pages * sysconf(_SC_PAGESIZE), "cpu_usage", 0.0, "children");
}

static json_t *api_logs(struct sim *sim, const char *name)
{
	json_t *arr = json_array();
	char prefix[200];
	snprintf(prefix, sizeof prefix, "%s:", name ? name : "");
	for (int i = 0; i < sim->ring_count; i++) {
		int idx = (sim->ring_next - sim->ring_count + i + RING_LINES) % RING_LINES;
		const char *l = sim->ring[idx];
		if (l && (!name || (strlen(l) > 4 && !strncmp(l + 4, prefix, strlen(prefix)))))
			json_array_append_new(arr, json_string(l));
	}
	return arr;
}

static json_t *openrpc_doc(void)
{
	static const char *const methods[] = {
		"rpc.discover", "service_list", "service_status", "service_start", "service_stop",
		"service_monitor", "service_forget", "service_kill", "service_create", "service_delete",
		"service_get", "service_stats", "system_shutdown", "system_reboot", "system_start_http_server",
		"system_stop_http_server", "stream_currentLogs", "stream_subscribeLogs", NULL,
	};
	json_t *arr = json_array();
	for (const char *const *m = methods; *m; m++)
		json_array_append_new(arr, json_pack("{ss}", "name", *m));
	json_t *doc = json_pack("{sss{ssss}so}", "openrpc", "1.2.6", "info", "title", "Zinit JSON-RPC API",
				"version", "1.0.0", "methods", arr);
	char *text = json_dumps(doc, JSON_COMPACT);
	json_t *s = json_string(text ? text : "{}");
	free(text);
	json_decref(doc);
	return s;
}

static void begin_exit(struct sim *sim)
{
	if (sim->exiting)
		return;
	sim->exiting = 1;
	sim->exit_deadline = now_ms() + 3000;
	for (int i = 0; i < sim->nsvc; i++)
		stop_svc(sim->svcs[i]);
}

static int ok(json_t **res, json_t *v)
{
	*res = v;
	return 0;
}

/* Methods on one monitored service: status, start, stop, stats. */
static int api_service(struct sim *sim, const char *method, const char *name, json_t **res, struct rpc_err *e)
{
	struct svc *s = find_svc(sim, name);
	if (!strcmp(method, "service_status"))
		return s ? ok(res, api_status(sim, s)) : not_found(e, "getting status", name);
	if (!strcmp(method, "service_start")) {
		if (sim->exiting)
			return shutting_down(e, "starting service");
		if (!s)
			return not_found(e, "starting service", name);
		s->target_up = 1;
		if (!s->want) {
			s->want = 1;
			s->next_spawn = 0;
		}
		sim->dirty = 1;
		return ok(res, json_null());
	}
	if (!strcmp(method, "service_stop")) {
		if (!s)
			return not_found(e, "stopping service", name);
		stop_svc(s);
		sim->dirty = 1;
		return ok(res, json_null());
	}
	if (!s)
		return not_found(e, "collecting stats", name);
	if (!s->pid)
		return fail(e, HERO_SV_E_IS_DOWN, "ServiceIsDown", "collecting stats", name,
			    "Service is down; start it before sending signals or requesting stats",
			    "collecting stats: service '%s' is down", name);
	return ok(res, api_stats(s));
}

/* Run one method; *RES receives the result (JSON null when none). */
static int api_call(struct sim *sim, const char *method, const char *name, const char *arg2, json_t *content,
		    json_t **res, struct rpc_err *e)
{
	static const char *const known[] = {
		"rpc.discover", "service_list", "service_status", "service_start", "service_stop",
		"service_monitor", "service_forget", "service_kill", "service_create", "service_delete",
		"service_get", "service_stats", "system_shutdown", "system_reboot", "stream_currentLogs", NULL,
	};
	const char *const *k = known;
	while (*k && strcmp(*k, method))
		k++;
	*res = NULL;
	if (!*k)
		return fail(e, -32601, NULL, NULL, NULL, NULL, "Method not found");
	if (!strcmp(method, "rpc.discover"))
		return ok(res, openrpc_doc());
	if (!strcmp(method, "service_list")) {
		json_t *list = json_object();
		for (int i = 0; i < sim->nsvc; i++)
			json_object_set_new(list, sim->svcs[i]->name, json_string(sim->svcs[i]->state_str));
		return ok(res, list);
	}
	if (!strcmp(method, "system_shutdown") || !strcmp(method, "system_reboot")) {
		begin_exit(sim);
		return ok(res, json_null());
	}
	if (!strcmp(method, "stream_currentLogs"))
		return ok(res, api_logs(sim, name));
	if (!name || (!strcmp(method, "service_kill") && !arg2))
		return fail(e, HERO_SV_E_INVALID_PARAMS, "InvalidParams", method, name, "", "Invalid params");
	if (!strcmp(method, "service_create") || !strcmp(method, "service_delete") || !strcmp(method, "service_get"))
		return api_files(method, name, content, res, e);
	if (!strcmp(method, "service_monitor"))
		return api_monitor(sim, name, e) ? -1 : ok(res, json_null());
	if (!strcmp(method, "service_forget"))
		return api_forget(sim, name, e) ? -1 : ok(res, json_null());
	if (!strcmp(method, "service_kill"))
		return api_kill(sim, name, arg2, e) ? -1 : ok(res, json_null());
	return api_service(sim, method, name, res, e);
}

/* ---- JSON-RPC framing --------------------------------------------------- */

static const char *param(json_t *params, size_t i, const char *key)
{
	json_t *v = json_is_array(params) ? json_array_get(params, i) : json_object_get(params, key);
	return json_string_value(v);
}

static json_t *error_obj(const struct rpc_err *e)
{
	json_t *err = json_pack("{siss}", "code", e->code, "message", e->msg);
	if (e->code_name) {
		int retryable = e->code == HERO_SV_E_ALREADY_MONITORED || e->code == HERO_SV_E_IS_DOWN;
		json_object_set_new(err, "data",
				    json_pack("{sssosssbsnss}", "code_name", e->code_name, "service",
					      e->service ? json_string(e->service) : json_null(), "action",
					      e->action ? e->action : "", "retryable", retryable, "cause_chain",
					      "hint", e->hint ? e->hint : ""));
	}
	return err;
}

static json_t *rpc_one(struct sim *sim, json_t *req)
{
	struct rpc_err e = { 0 };
	json_t *id = json_object_get(req, "id"), *res = NULL, *out;
	const char *jv = json_string_value(json_object_get(req, "jsonrpc"));
	const char *method = json_string_value(json_object_get(req, "method"));
	json_t *params = json_object_get(req, "params");
	if (!json_is_object(req) || !jv || strcmp(jv, "2.0") || !method) {
		fail(&e, -32600, NULL, NULL, NULL, NULL, "Invalid request");
		id = json_is_object(req) ? id : NULL;
	} else if (params && !json_is_array(params) && !json_is_object(params)) {
		fail(&e, HERO_SV_E_INVALID_PARAMS, NULL, NULL, NULL, NULL, "Invalid params");
	} else {
		const char *key2 = !strcmp(method, "service_kill") ? "signal" : "content";
		json_t *content = json_is_array(params) ? json_array_get(params, 1) : json_object_get(params, "content");
		int rc = api_call(sim, method, param(params, 0, "name"), param(params, 1, key2), content, &res, &e);
		if (rc == 0 && !res)
			fail(&e, -32603, NULL, NULL, NULL, NULL, "Internal error");
		if (rc == 0 && !id) {
			json_decref(res);
			return NULL; /* a notification gets no reply */
		}
	}
	out = json_pack("{sssO}", "jsonrpc", "2.0", "id", id ? id : json_null());
	if (res)
		json_object_set_new(out, "result", res);
	else
		json_object_set_new(out, "error", error_obj(&e));
	return out;
}

static void client_send(struct client *c, const char *buf, size_t len)
{
	if (c->outlen + len > c->outcap) {
		size_t cap = c->outcap ? c->outcap : 4096;
		while (cap < c->outlen + len)
			cap *= 2;
		char *p = realloc(c->out, cap);
		if (!p) {
			c->close_after = 1;
			return;
		}
		c->out = p;
		c->outcap = cap;
	}
	memcpy(c->out + c->outlen, buf, len);
	c->outlen += len;
}

static void send_json(struct client *c, json_t *v, int newline)
{
	char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (text) {
		client_send(c, text, strlen(text));
		if (newline)
			client_send(c, "\n", 1);
	}
	free(text);
	json_decref(v);
}

static void rpc_request(struct sim *sim, struct client *c, const char *buf, size_t len)
{
	json_t *req = json_loadb(buf, len, 0, NULL);
	if (!req) {
		send_json(c, json_pack("{sssns{siss}}", "jsonrpc", "2.0", "id", "error", "code", -32700, "message",
				       "Parse error"), 1);
		return;
	}
	if (json_is_array(req)) {
		json_t *out = json_array(), *r;
		size_t i;
		json_t *one;
		if (!json_array_size(req)) {
			struct rpc_err e = { 0 };
			fail(&e, -32600, NULL, NULL, NULL, NULL, "Invalid request");
			json_array_append_new(out, json_pack("{sssno}", "jsonrpc", "2.0", "id", "error", error_obj(&e)));
		}
		json_array_foreach(req, i, one)
			if ((r = rpc_one(sim, one)))
				json_array_append_new(out, r);
		send_json(c, out, 1);
	} else {
		json_t *r = rpc_one(sim, req);
		if (r)
			send_json(c, r, 1);
	}
	json_decref(req);
}

static void rpc_input(struct sim *sim, struct client *c)
{
	for (;;) {
		long n = hero_json_frame(c->in, c->inlen);
		if (n == 0)
			return;
		if (n < 0) {
			/* not JSON (a line-protocol client, say): answer as reth-ipc does */
			char *nl = memchr(c->in, '\n', c->inlen);
			if (!nl && c->inlen < 4096)
				return;
			n = nl ? nl - c->in + 1 : (long)c->inlen;
			send_json(c, json_pack("{sssns{siss}}", "jsonrpc", "2.0", "id", "error", "code", -32700,
					       "message", "Parse error"), 1);
		} else {
			rpc_request(sim, c, c->in, (size_t)n);
		}
		memmove(c->in, c->in + n, c->inlen - (size_t)n);
		c->inlen -= (size_t)n;
	}
}

/* ---- line protocol (zinit v0.2.14) -------------------------------------- */

static int split_words(char *line, char **w, int max)
{
	int n = 0;
	char *p = line, *o;
	while (*p) {
		while (isspace((unsigned char)*p))
			p++;
		if (!*p || n == max)
			break;
		w[n++] = o = p;
		char q = 0;
		for (; *p && (q || !isspace((unsigned char)*p)); p++) {
			if (q && *p == q)
				q = 0;
			else if (!q && (*p == '\'' || *p == '"'))
				q = *p;
			else if (*p == '\\' && q != '\'' && p[1])
				*o++ = *++p;
			else
				*o++ = *p;
		}
		if (*p)
			p++;
		*o = '\0';
	}
	return n;
}

static void line_request(struct sim *sim, struct client *c, char *line)
{
	static const struct {
		const char *cmd, *method;
		int nargs;
	} map[] = {
		{ "list", "service_list", 0 },	     { "status", "service_status", 1 },
		{ "start", "service_start", 1 },     { "stop", "service_stop", 1 },
		{ "monitor", "service_monitor", 1 }, { "forget", "service_forget", 1 },
		{ "kill", "service_kill", 2 },	     { "shutdown", "system_shutdown", 0 },
		{ "reboot", "system_reboot", 0 },
	};
	char *w[4], copy[4096];
	snprintf(copy, sizeof copy, "%s", line);
	int n = split_words(line, w, 4);
	c->close_after = 1;
	if (n >= 1 && !strcmp(w[0], "log")) {
		json_t *lines = api_logs(sim, NULL);
		size_t i;
		json_t *l;
		json_array_foreach(lines, i, l) {
			client_send(c, json_string_value(l), strlen(json_string_value(l)));
			client_send(c, "\n", 1);
		}
		json_decref(lines);
		return;
	}
	for (size_t i = 0; n >= 1 && i < sizeof map / sizeof map[0]; i++) {
		if (strcmp(w[0], map[i].cmd) || n - 1 != map[i].nargs)
			continue;
		struct rpc_err e = { 0 };
		json_t *res = NULL;
		if (api_call(sim, map[i].method, n > 1 ? w[1] : NULL, n > 2 ? w[2] : NULL, NULL, &res, &e) == 0) {
			send_json(c, json_pack("{ssso}", "state", "ok", "body", res), 0);
		} else {
			char msg[600];
			if (e.code == HERO_SV_E_NOT_FOUND)
				snprintf(msg, sizeof msg, "service name \"%s\" unknown", w[1]);
			else
				snprintf(msg, sizeof msg, "%s", e.msg);
			send_json(c, json_pack("{ssss}", "state", "error", "body", msg), 0);
		}
		return;
	}
	char msg[4200];
	snprintf(msg, sizeof msg, "unknown command '%s' or wrong arguments count", copy);
	send_json(c, json_pack("{ssss}", "state", "error", "body", msg), 0);
}

static void line_input(struct sim *sim, struct client *c)
{
	char *nl = memchr(c->in, '\n', c->inlen);
	if (!nl || c->close_after)
		return;
	*nl = '\0';
	line_request(sim, c, c->in);
	c->inlen = 0;
}

/* ---- connections and the loop ------------------------------------------- */

static void client_close(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->in);
	free(c->out);
	memset(c, 0, sizeof *c);
	c->fd = -1;
}

static void client_flush(struct client *c)
{
	while (c->outoff < c->outlen) {
		ssize_t w = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return;
		if (w < 0) {
			client_close(c);
			return;
		}
		c->outoff += (size_t)w;
	}
	c->outoff = c->outlen = 0;
	if (c->close_after)
		client_close(c);
}

static void client_read(struct sim *sim, struct client *c)
{
	if (c->inlen + 4097 > c->incap) {
		size_t cap = c->incap ? c->incap * 2 : 8192;
		char *p = cap <= MAX_REQUEST + 8192 ? realloc(c->in, cap) : NULL;
		if (!p) {
			client_close(c);
			return;
		}
		c->in = p;
		c->incap = cap;
	}
	ssize_t n = read(c->fd, c->in + c->inlen, c->incap - c->inlen - 1);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		client_close(c);
		return;
	}
	c->inlen += (size_t)n;
	c->in[c->inlen] = '\0';
	if (sim->line_mode)
		line_input(sim, c);
	else
		rpc_input(sim, c);
	client_flush(c);
}

static void accept_client(struct sim *sim)
{
	int fd = accept4(sim->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (sim->cl[i].fd < 0) {
			sim->cl[i].fd = fd;
			return;
		}
	static const char busy[] = "Too many connections. Please try again later.";
	if (send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
		/* nothing more to do for a refused peer */
	}
	close(fd);
}

static void read_output(struct sim *sim, struct svc *s, int which)
{
	char buf[4096];
	ssize_t n = read(s->pipe_fd[which], buf, sizeof buf);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		if (s->partlen[which])
			ring_push(sim, "[%c] %s: %.*s", which ? '-' : '+', s->name, (int)s->partlen[which],
				  s->part[which]);
		close(s->pipe_fd[which]);
		s->pipe_fd[which] = -1;
		s->partlen[which] = 0;
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		char ch = buf[i];
		if (ch == '\n' || s->partlen[which] == sizeof s->part[which] - 1) {
			ring_push(sim, "[%c] %s: %.*s", which ? '-' : '+', s->name, (int)s->partlen[which],
				  s->part[which]);
			s->partlen[which] = 0;
			if (ch == '\n')
				continue;
		}
		s->part[which][s->partlen[which]++] = ch;
	}
}

static void autoload(struct sim *sim)
{
	struct dirent **ents = NULL;
	int n = scandir(".", &ents, NULL, alphasort);
	for (int i = 0; i < n; i++) {
		char name[256];
		size_t len = strlen(ents[i]->d_name);
		if (len > 5 && !strcmp(ents[i]->d_name + len - 5, ".yaml") && len - 5 < sizeof name) {
			snprintf(name, sizeof name, "%.*s", (int)(len - 5), ents[i]->d_name);
			struct rpc_err e = { 0 };
			if (api_monitor(sim, name, &e) < 0)
				fprintf(stderr, "zinit-sim: %s\n", e.msg);
		}
		free(ents[i]);
	}
	free(ents);
}

static int any_running(struct sim *sim)
{
	for (int i = 0; i < sim->nsvc; i++)
		if (sim->svcs[i]->pid || sim->svcs[i]->test_pid)
			return 1;
	return 0;
}

static void loop(struct sim *sim)
{
	struct pollfd pf[2 + MAX_CLIENTS + 2 * MAX_SVC];
	void *who[2 + MAX_CLIENTS + 2 * MAX_SVC];
	int kind[2 + MAX_CLIENTS + 2 * MAX_SVC];
	for (;;) {
		long long now = now_ms();
		while (sim->ndead)
			svc_free(sim->dead[--sim->ndead]);
		reap(sim, now);
		if (got_term)
			begin_exit(sim);
		int timeout = tick(sim, now);
		write_state(sim);
		if (sim->exiting) {
			if (!any_running(sim))
				return;
			if (now >= sim->exit_deadline)
				for (int i = 0; i < sim->nsvc; i++)
					if (sim->svcs[i]->pid)
						kill(-sim->svcs[i]->pid, SIGKILL);
			timeout = 50;
		}
		int n = 0;
		pf[n] = (struct pollfd){ sig_pipe[0], POLLIN, 0 };
		kind[n++] = 0;
		pf[n] = (struct pollfd){ sim->lfd, POLLIN, 0 };
		kind[n++] = 1;
		for (int i = 0; i < MAX_CLIENTS; i++)
			if (sim->cl[i].fd >= 0) {
				pf[n] = (struct pollfd){ sim->cl[i].fd,
							 (short)(POLLIN | (sim->cl[i].outlen ? POLLOUT : 0)), 0 };
				who[n] = &sim->cl[i];
				kind[n++] = 2;
			}
		for (int i = 0; i < sim->nsvc; i++)
			for (int j = 0; j < 2; j++)
				if (sim->svcs[i]->pipe_fd[j] >= 0) {
					pf[n] = (struct pollfd){ sim->svcs[i]->pipe_fd[j], POLLIN, 0 };
					who[n] = sim->svcs[i];
					kind[n++] = 3 + j;
				}
		if (poll(pf, (nfds_t)n, timeout) <= 0)
			continue;
		for (int i = 0; i < n; i++) {
			if (!pf[i].revents)
				continue;
			if (kind[i] == 0) {
				char junk[64];
				while (read(sig_pipe[0], junk, sizeof junk) > 0)
					;
			} else if (kind[i] == 1) {
				accept_client(sim);
			} else if (kind[i] == 2) {
				struct client *c = who[i];
				if (c->fd >= 0 && (pf[i].revents & POLLOUT))
					client_flush(c);
				if (c->fd >= 0 && (pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
					client_read(sim, c);
			} else {
				read_output(sim, who[i], kind[i] - 3);
			}
		}
	}
}

/* PATH made absolute against the current directory (malloc'd). */
static char *abs_path(const char *path)
{
	char cwd[4096], *out = NULL;
	if (path[0] == '/')
		return strdup(path);
	if (!getcwd(cwd, sizeof cwd) || asprintf(&out, "%s/%s", cwd, path) < 0)
		return NULL;
	return out;
}

static int listen_on(struct sim *sim, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof sa.sun_path) {
		fprintf(stderr, "zinit-sim: socket path too long\n");
		return -1;
	}
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	char *abs = abs_path(path);
	snprintf(sim->sock_path, sizeof sim->sock_path, "%s", abs ? abs : path);
	free(abs);
	unlink(path);
	sim->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (sim->lfd < 0 || bind(sim->lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(sim->lfd, 64) < 0) {
		fprintf(stderr, "zinit-sim: cannot listen on '%s': %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

static void usage(int code)
{
	fprintf(code ? stderr : stdout,
		"usage: zinit-sim --socket PATH --config DIR [--line-protocol] [--state FILE]\n"
		"                 [--restart-delay-ms N] [--test-interval-ms N] [--no-autoload]\n");
	exit(code);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "line-protocol", no_argument, NULL, 'l' },
		{ "no-autoload", no_argument, NULL, 'n' },
		{ "restart-delay-ms", required_argument, NULL, 'r' },
		{ "socket", required_argument, NULL, 's' },
		{ "state", required_argument, NULL, 'S' },
		{ "test-interval-ms", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	static struct sim sim = { .restart_delay = 2000, .test_interval = 2000 };
	const char *sock = NULL, *config = NULL, *state = NULL;
	int opt, noload = 0;
	while ((opt = getopt_long(argc, argv, "c:hs:", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': config = optarg; break;
		case 'h': usage(0); break;
		case 'l': sim.line_mode = 1; break;
		case 'n': noload = 1; break;
		case 'r': sim.restart_delay = atoi(optarg); break;
		case 's': sock = optarg; break;
		case 'S': state = optarg; break;
		case 't': sim.test_interval = atoi(optarg); break;
		default: usage(2);
		}
	}
	if (!sock || !config || optind != argc)
		usage(2);
	if (state && !(sim.state_path = abs_path(state)))
		return 1;
	for (int i = 0; i < MAX_CLIENTS; i++)
		sim.cl[i].fd = -1;
	if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return 1;
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART | SA_NOCLDSTOP };
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (listen_on(&sim, sock) < 0)
		return 1;
	if (chdir(config) < 0) {
		fprintf(stderr, "zinit-sim: cannot enter '%s': %s\n", config, strerror(errno));
		return 1;
	}
	if (!noload)
		autoload(&sim);
	sim.dirty = 1;
	loop(&sim);
	sim.dirty = 1;
	write_state(&sim);
	unlink(sim.sock_path);
	for (int i = 0; i < sim.nsvc; i++)
		svc_free(sim.svcs[i]);
	for (int i = 0; i < RING_LINES; i++)
		free(sim.ring[i]);
	free(sim.state_path);
	return 0;
}
