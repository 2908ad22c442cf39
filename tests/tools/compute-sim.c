/* compute-sim - a ComputeService (hero_compute) simulator for tests and the demo.
 *
 *   compute-sim --socket PATH --state FILE --dir DIR [--slices N] [--ssh-port N]
 *               [--provision-ms N] [--ip-ms N] [--gateway-ms N] [--delete-ms N]
 *               [--deploy-error N] [--slow-ms N] [--drop N] [--domain NAME] [--sshd PATH]
 *   compute-sim --teardown --state FILE
 *
 * JSON-RPC 2.0 over HTTP/1.1 on a Unix socket (POST /rpc, GET /health), one
 * request per connection. Methods (named params):
 *   ComputeService.deploy_vm {name, slice_count, secret, image, ssh_keys, node_sid}
 *       returns at once with state "provisioning"; after --provision-ms the VM
 *       is "running" (or "error" when a deploy error fault is armed), after
 *       --ip-ms more its mycelium_ip is set. Refused beyond --slices slices
 *       in use, and for a name already taken.
 *   ComputeService.get_vm {id}, list_vms, vm_logs {id, secret}
 *   ComputeService.delete_vm {id, secret}: "deleting", then the record goes
 *       after --delete-ms; deleting an absent or deleting VM is not an error
 *   ComputeService.deploy_webgateway {name, kind: "name", backends: [URL]}:
 *       "provisioning", then "ready" with fqdn NAME.DOMAIN after --gateway-ms
 *   ComputeService.get_webgateway {id}, list_webgateways, delete_webgateway {id}
 *   ComputeService.start_vm, stop_vm, restart_vm, inject_ssh_keys, vm_exec,
 *       vm_stats: errors, as on TFGrid
 *   sim.fault {deploy_error?, slow_ms?, drop?, drop_method?}: the fault knobs (test
 *       only); drop_method limits the drop to requests for that method
 *
 * Each VM is a real sshd (run as root) on its own loopback address 127.0.0.N,
 * port --ssh-port, with a generated host key and AuthorizedKeysFile holding
 * exactly the ssh_keys given to deploy_vm. Its directory DIR/vm-ID/ is its
 * "filesystem": sessions get HERO_ROOT=fs/root/hero, PATH=fs/usr/local/bin:...,
 * HERO_SUPERVISOR=unix:fs/run/zinit.sock, HERO_MANIFESTS, HERO_TRUSTED_KEYS and
 * HERO_VM_FS=fs. Deleting a VM stops its sshd and every process named by a
 * fs/run/NAME.pid file. Faults: --deploy-error N makes the next N deploys end in
 * error; --slow-ms delays every reply; --drop N closes the next N connections
 * after the request was processed, without a reply. The state (faults
 * included) is written to FILE after every change; a restarted simulator
 * reloads it and restarts any VM's sshd that is gone, so a restart loses
 * nothing. --teardown stops every VM of FILE and removes the file.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
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

#define MAX_HEAD (64u << 10)
#define MAX_BODY (1u << 20)

struct sim {
	const char *socket, *state_path, *dir, *domain, *sshd;
	int slices, ssh_port;
	long provision_ms, ip_ms, gateway_ms, delete_ms;
	json_t *st; /* {next_vm, next_gw, vms: [], gws: [], faults: {deploy_error, slow_ms, drop}} */
};

static volatile sig_atomic_t stop_flag;

static void on_term(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static const char *sget(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

static long long iget(const json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

static json_t *faults(struct sim *s)
{
	return json_object_get(s->st, "faults");
}

static void save(struct sim *s)
{
	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s.tmp", s->state_path);
	json_object_set_new(s->st, "pid", json_integer(getpid()));
	if (json_dump_file(s->st, tmp, JSON_INDENT(1)) == 0)
		rename(tmp, s->state_path);
}

/* ---- processes ---------------------------------------------------------- */

static int run_wait(const char *const argv[])
{
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open("/dev/null", O_RDWR);
		dup2(fd, 0);
		dup2(fd, 1);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	int status = 0;
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int alive(long pid)
{
	return pid > 0 && kill((pid_t)pid, 0) == 0;
}

/* Signal every process named by a DIR/fs/run/NAME.pid file, and its process group. */
static void signal_vm_procs(const char *vmdir, int sig)
{
	char run[4096];
	snprintf(run, sizeof run, "%s/fs/run", vmdir);
	DIR *d = opendir(run);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (n < 5 || strcmp(e->d_name + n - 4, ".pid"))
			continue;
		char path[4400], buf[32] = "";
		snprintf(path, sizeof path, "%s/%s", run, e->d_name);
		FILE *f = fopen(path, "r");
		if (f && fgets(buf, sizeof buf, f)) {
			long pid = strtol(buf, NULL, 10);
			if (pid > 1) {
				kill((pid_t)-pid, sig);
				kill((pid_t)pid, sig);
			}
		}
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
}

static void stop_vm_procs(json_t *vm, int final)
{
	long pid = (long)iget(vm, "sshd_pid");
	signal_vm_procs(sget(vm, "dir"), final ? SIGKILL : SIGTERM);
	if (pid > 1)
		kill((pid_t)pid, final ? SIGKILL : SIGTERM);
}

/* ---- a VM's sshd -------------------------------------------------------- */

static int write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd < 0)
		return -1;
	size_t n = strlen(text);
	int ok = write(fd, text, n) == (ssize_t)n;
	fchmod(fd, mode);
	return close(fd) == 0 && ok ? 0 : -1;
}

static int mkdirs(const char *base, const char *const *subs)
{
	char p[4096];
	for (size_t i = 0; subs[i]; i++) {
		snprintf(p, sizeof p, "%s/%s", base, subs[i]);
		for (char *q = strchr(p + 1, '/'); q; q = strchr(q + 1, '/')) {
			*q = '\0';
			mkdir(p, 0755);
			*q = '/';
		}
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return -1;
	}
	return 0;
}

/* The VM directory: fs tree, authorized keys, host key, sshd_config. */
static int prepare_vm(struct sim *s, json_t *vm)
{
	static const char *const subs[] = { "fs/root/hero", "fs/usr/local/bin", "fs/usr/local/share/hero/manifests",
					    "fs/etc/hero/trusted-keys.d", "fs/etc/zinit", "fs/run", "fs/tmp", NULL };
	const char *dir = sget(vm, "dir");
	char path[4096], *keys = NULL, *conf = NULL;
	size_t klen = 0;
	FILE *kf = open_memstream(&keys, &klen);
	json_t *k;
	size_t i;
	if (mkdirs(dir, subs) < 0 || !kf)
		return -1;
	json_array_foreach(json_object_get(vm, "ssh_keys"), i, k)
		fprintf(kf, "%s\n", json_string_value(k));
	fclose(kf);
	snprintf(path, sizeof path, "%s/authorized_keys", dir);
	int ret = write_file(path, keys, 0600);
	free(keys);
	snprintf(path, sizeof path, "%s/ssh_host_ed25519_key", dir);
	if (ret == 0 && access(path, F_OK) != 0) {
		const char *const argv[] = { "/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "compute-sim", "-f",
				       path, NULL };
		ret = run_wait(argv) == 0 ? 0 : -1;
	}
	char fs[4096];
	snprintf(fs, sizeof fs, "%s/fs", dir);
	if (ret == 0 && asprintf(&conf,
				 "Port %d\nListenAddress %s\nHostKey %s/ssh_host_ed25519_key\nPidFile %s/sshd.pid\n"
				 "AuthorizedKeysFile %s/authorized_keys\nPermitRootLogin prohibit-password\n"
				 "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
				 "StrictModes no\nPrintMotd no\nAllowTcpForwarding no\nX11Forwarding no\n"
				 "SetEnv HERO_VM_FS=%s HERO_ROOT=%s/root/hero PATH=%s/usr/local/bin:/usr/local/bin:/usr/bin:/bin"
				 " HERO_SUPERVISOR=unix:%s/run/zinit.sock HERO_MANIFESTS=%s/usr/local/share/hero/manifests"
				 " HERO_TRUSTED_KEYS=%s/etc/hero/trusted-keys.d TMPDIR=%s/tmp\n",
				 s->ssh_port, sget(vm, "ip"), dir, dir, dir, fs, fs, fs, fs, fs, fs, fs) < 0)
		ret = -1;
	snprintf(path, sizeof path, "%s/sshd_config", dir);
	if (ret == 0)
		ret = write_file(path, conf, 0644);
	free(conf);
	return ret;
}

/* Wait until something accepts on IP:PORT (up to MS). */
static int listening(const char *ip, int port, long ms)
{
	for (long waited = 0; waited <= ms; waited += 20) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
		inet_pton(AF_INET, ip, &a.sin_addr);
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
		if (fd >= 0)
			close(fd);
		if (ok)
			return 1;
		sleep_ms(20);
	}
	return 0;
}

/* Whether IP:PORT can be bound (nobody else listens there). */
static int addr_free(const char *ip, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	inet_pton(AF_INET, ip, &a.sin_addr);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	int ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

static int start_sshd(struct sim *s, json_t *vm)
{
	char conf[4096], log[4096];
	if (!addr_free(sget(vm, "ip"), s->ssh_port))
		return -1; /* someone else listens there: never pass it off as this VM */
	snprintf(conf, sizeof conf, "%s/sshd_config", sget(vm, "dir"));
	snprintf(log, sizeof log, "%s/sshd.log", sget(vm, "dir"));
	mkdir("/run/sshd", 0755);
	pid_t pid = fork();
	if (pid == 0) {
		setsid();
		int fd = open("/dev/null", O_RDWR);
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execl(s->sshd, s->sshd, "-D", "-f", conf, "-E", log, (char *)NULL); /* sshd re-execs itself: argv[0] must be absolute */
		_exit(127);
	}
	if (pid < 0)
		return -1;
	json_object_set_new(vm, "sshd_pid", json_integer(pid));
	return listening(sget(vm, "ip"), s->ssh_port, 3000) ? 0 : -1;
}

/* ---- state transitions ---------------------------------------------------- */

__attribute__((format(printf, 2, 3))) static void vm_event(json_t *vm, const char *fmt, ...)
{
	char line[512], when[32];
	va_list ap;
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	int n = snprintf(line, sizeof line, "%s ", when);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	va_end(ap);
	json_array_append_new(json_object_get(vm, "events"), json_string(line));
}

static void vm_fail(json_t *vm, const char *why)
{
	json_object_set_new(vm, "state", json_string("error"));
	json_object_set_new(vm, "error", json_string(why));
	vm_event(vm, "error: %s", why);
}

/* Advance VM by the clock; returns 1 when something changed, -1 when it is gone. */
static int tick_vm(struct sim *s, json_t *vm, long long now)
{
	const char *state = sget(vm, "state");
	if (!strcmp(state, "provisioning") && now >= iget(vm, "created_ms") + s->provision_ms) {
		if (json_is_true(json_object_get(vm, "fail")))
			vm_fail(vm, "deployment failed on node: zmachine did not boot (simulated)");
		else if (prepare_vm(s, vm) < 0 || start_sshd(s, vm) < 0)
			vm_fail(vm, "cannot start the VM's sshd");
		else {
			json_object_set_new(vm, "state", json_string("running"));
			json_object_set_new(vm, "running_ms", json_integer(now));
			vm_event(vm, "%s", "running");
		}
		return 1;
	}
	if (!strcmp(state, "running") && json_is_null(json_object_get(vm, "mycelium_ip")) &&
	    now >= iget(vm, "running_ms") + s->ip_ms) {
		json_object_set(vm, "mycelium_ip", json_object_get(vm, "ip"));
		vm_event(vm, "mycelium ip %s", sget(vm, "ip"));
		return 1;
	}
	if (!strcmp(state, "deleting") && now >= iget(vm, "deleting_ms") + s->delete_ms) {
		char cmd[4200];
		stop_vm_procs(vm, 1);
		snprintf(cmd, sizeof cmd, "%s", sget(vm, "dir"));
		if (strstr(cmd, "/vm-")) {
			const char *const argv[] = { "/bin/rm", "-rf", cmd, NULL };
			run_wait(argv);
		}
		return -1;
	}
	return 0;
}

static int tick_gw(struct sim *s, json_t *gw, long long now)
{
	const char *state = sget(gw, "state");
	if (!strcmp(state, "provisioning") && now >= iget(gw, "created_ms") + s->gateway_ms) {
		char fqdn[300];
		snprintf(fqdn, sizeof fqdn, "%s.%s", sget(gw, "name"), s->domain);
		json_object_set_new(gw, "state", json_string("ready"));
		json_object_set_new(gw, "fqdn", json_string(fqdn));
		return 1;
	}
	if (!strcmp(state, "deleting") && now >= iget(gw, "deleting_ms") + s->delete_ms)
		return -1;
	return 0;
}

static void tick(struct sim *s)
{
	long long now = now_ms();
	int changed = 0;
	json_t *vms = json_object_get(s->st, "vms"), *gws = json_object_get(s->st, "gws");
	for (size_t i = 0; i < json_array_size(vms);) {
		int r = tick_vm(s, json_array_get(vms, i), now);
		changed |= r != 0;
		if (r < 0)
			json_array_remove(vms, i);
		else if (r == 0)
			i++;
	}
	for (size_t i = 0; i < json_array_size(gws);) {
		int r = tick_gw(s, json_array_get(gws, i), now);
		changed |= r != 0;
		if (r < 0)
			json_array_remove(gws, i);
		else
			i++;
	}
	if (changed)
		save(s);
}

/* After a restart: a running VM whose sshd is gone gets it back. */
static void revive(struct sim *s)
{
	json_t *vm;
	size_t i;
	json_array_foreach(json_object_get(s->st, "vms"), i, vm) {
		if (strcmp(sget(vm, "state"), "running") || alive((long)iget(vm, "sshd_pid")))
			continue;
		if (prepare_vm(s, vm) < 0 || start_sshd(s, vm) < 0)
			vm_fail(vm, "cannot restart the VM's sshd");
		else
			vm_event(vm, "%s", "sshd restarted after a simulator restart");
	}
	save(s);
}

/* ---- JSON-RPC ------------------------------------------------------------ */

struct rpc_err {
	int code;
	char msg[512];
};

__attribute__((format(printf, 3, 4))) static json_t *fail(struct rpc_err *e, int code, const char *fmt, ...)
{
	va_list ap;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	return NULL;
}

static json_t *find(json_t *list, const char *key, const char *value)
{
	json_t *o;
	size_t i;
	json_array_foreach(list, i, o) if (!strcmp(sget(o, key), value)) return o;
	return NULL;
}

static json_t *vm_view(const json_t *vm)
{
	json_t *v = json_pack("{sOsOsOsOsOsOsOsO}", "id", json_object_get(vm, "id"), "name", json_object_get(vm, "name"),
			      "state", json_object_get(vm, "state"), "slice_count", json_object_get(vm, "slice_count"),
			      "image", json_object_get(vm, "image"), "node_sid", json_object_get(vm, "node_sid"),
			      "mycelium_ip", json_object_get(vm, "mycelium_ip"), "created_ms",
			      json_object_get(vm, "created_ms"));
	if (json_object_get(vm, "error"))
		json_object_set(v, "error", json_object_get(vm, "error"));
	return v;
}

static json_t *gw_view(const json_t *gw)
{
	return json_pack("{sOsOsssOsOsOsb}", "id", json_object_get(gw, "id"), "name", json_object_get(gw, "name"),
			 "kind", "name", "state", json_object_get(gw, "state"), "backends",
			 json_object_get(gw, "backends"), "fqdn", json_object_get(gw, "fqdn"), "tls_passthrough", 0);
}

static int name_ok(const char *n)
{
	if (!*n || strlen(n) > 64)
		return 0;
	for (; *n; n++)
		if (!isalnum((unsigned char)*n) && *n != '-' && *n != '_')
			return 0;
	return 1;
}

static int used_slices(struct sim *s)
{
	json_t *vm;
	size_t i;
	int n = 0;
	json_array_foreach(json_object_get(s->st, "vms"), i, vm) n += (int)iget(vm, "slice_count");
	return n;
}

/* The lowest free 127.0.0.N (2..254) whose port can be bound. */
static int pick_ip(struct sim *s, char *out, size_t n)
{
	for (int k = 2; k < 255; k++) {
		snprintf(out, n, "127.0.0.%d", k);
		if (!find(json_object_get(s->st, "vms"), "ip", out) && addr_free(out, s->ssh_port))
			return 0;
	}
	return -1;
}

static json_t *deploy_vm(struct sim *s, json_t *p, struct rpc_err *e)
{
	const char *name = sget(p, "name"), *secret = sget(p, "secret");
	json_t *keys = json_object_get(p, "ssh_keys"), *k;
	long long slices = iget(p, "slice_count");
	size_t i;
	char ip[32], id[32], dir[4096];
	if (!name_ok(name))
		return fail(e, -32602, "invalid VM name '%s'", name);
	if (!json_is_integer(json_object_get(p, "slice_count")) || slices < 1)
		return fail(e, -32602, "slice_count must be a positive integer");
	if (strlen(secret) < 16)
		return fail(e, -32602, "secret must be at least 16 characters");
	if (!json_is_string(json_object_get(p, "image")))
		return fail(e, -32602, "image must be a flist URL");
	if (!json_is_array(keys))
		return fail(e, -32602, "ssh_keys must be a list of OpenSSH public keys");
	json_array_foreach(keys, i, k) if (!json_is_string(k) || strncmp(json_string_value(k), "ssh-", 4) || strchr(json_string_value(k), '\n'))
		return fail(e, -32602, "ssh_keys: not an OpenSSH public key: '%.40s'", json_is_string(k) ? json_string_value(k) : "?");
	if (find(json_object_get(s->st, "vms"), "name", name))
		return fail(e, -32010, "a VM named '%s' already exists", name);
	if (used_slices(s) + slices > s->slices) {
		char why[64];
		snprintf(why, sizeof why, "%lld requested, %d free", slices, s->slices - used_slices(s));
		return fail(e, -32011, "not enough capacity on the node: %s", why);
	}
	if (pick_ip(s, ip, sizeof ip) < 0)
		return fail(e, -32011, "no free address");
	long long n = iget(s->st, "next_vm");
	json_object_set_new(s->st, "next_vm", json_integer(n + 1));
	snprintf(id, sizeof id, "vm-%lld", n);
	snprintf(dir, sizeof dir, "%s/%s", s->dir, id);
	json_t *f = faults(s);
	int fail_it = iget(f, "deploy_error") > 0;
	if (fail_it)
		json_object_set_new(f, "deploy_error", json_integer(iget(f, "deploy_error") - 1));
	json_t *vm = json_pack("{sssssIsssOsOsOsssnsssIsbs[]}", "id", id, "name", name, "slice_count", (json_int_t)slices,
			       "secret", secret, "image", json_object_get(p, "image"), "node_sid",
			       json_object_get(p, "node_sid") ? json_object_get(p, "node_sid") : json_string("tfnode-1"),
			       "ssh_keys", keys, "state", "provisioning", "mycelium_ip", "ip", ip, "created_ms",
			       (json_int_t)now_ms(), "fail", fail_it, "events");
	json_object_set_new(vm, "dir", json_string(dir));
	vm_event(vm, "deploy requested as '%s'", name);
	json_array_append_new(json_object_get(s->st, "vms"), vm);
	save(s);
	return vm_view(vm);
}

static json_t *owned_vm(struct sim *s, json_t *p, struct rpc_err *e)
{
	json_t *vm = find(json_object_get(s->st, "vms"), "id", sget(p, "id"));
	if (!vm)
		return fail(e, -32004, "VM '%s' not found", sget(p, "id"));
	if (strcmp(sget(vm, "secret"), sget(p, "secret")))
		return fail(e, -32003, "the secret does not match VM '%s'", sget(p, "id"));
	return vm;
}

static json_t *delete_vm(struct sim *s, json_t *p, struct rpc_err *e)
{
	if (!find(json_object_get(s->st, "vms"), "id", sget(p, "id")))
		return json_pack("{sssb}", "id", sget(p, "id"), "deleted", 1); /* idempotent */
	json_t *vm = owned_vm(s, p, e);
	if (!vm)
		return NULL;
	if (strcmp(sget(vm, "state"), "deleting")) {
		json_object_set_new(vm, "state", json_string("deleting"));
		json_object_set_new(vm, "deleting_ms", json_integer(now_ms()));
		vm_event(vm, "%s", "deleting");
		stop_vm_procs(vm, 0);
		save(s);
	}
	return vm_view(vm);
}

static json_t *vm_logs(struct sim *s, json_t *p, struct rpc_err *e)
{
	json_t *vm = owned_vm(s, p, e);
	return vm ? json_pack("{sO}", "lines", json_object_get(vm, "events")) : NULL;
}

static json_t *deploy_gw(struct sim *s, json_t *p, struct rpc_err *e)
{
	const char *name = sget(p, "name");
	json_t *b = json_object_get(p, "backends");
	char id[32];
	if (strcmp(sget(p, "kind"), "name"))
		return fail(e, -32602, "kind '%s' is not supported: use \"name\"", sget(p, "kind"));
	if (!name_ok(name))
		return fail(e, -32602, "invalid gateway name '%s'", name);
	if (!json_is_array(b) || json_array_size(b) != 1 || !json_is_string(json_array_get(b, 0)) ||
	    strncmp(json_string_value(json_array_get(b, 0)), "http://", 7))
		return fail(e, -32602, "backends must hold exactly one http:// URL");
	if (find(json_object_get(s->st, "gws"), "name", name))
		return fail(e, -32010, "the name '%s' is taken", name);
	long long n = iget(s->st, "next_gw");
	json_object_set_new(s->st, "next_gw", json_integer(n + 1));
	snprintf(id, sizeof id, "gw-%lld", n);
	json_t *gw = json_pack("{sssssssOsnsI}", "id", id, "name", name, "state", "provisioning", "backends", b,
			       "fqdn", "created_ms", (json_int_t)now_ms());
	json_array_append_new(json_object_get(s->st, "gws"), gw);
	save(s);
	return gw_view(gw);
}

static json_t *delete_gw(struct sim *s, json_t *p)
{
	json_t *gw = find(json_object_get(s->st, "gws"), "id", sget(p, "id"));
	if (!gw)
		return json_pack("{sssb}", "id", sget(p, "id"), "deleted", 1);
	if (strcmp(sget(gw, "state"), "deleting")) {
		json_object_set_new(gw, "state", json_string("deleting"));
		json_object_set_new(gw, "deleting_ms", json_integer(now_ms()));
		save(s);
	}
	return gw_view(gw);
}

static json_t *list(json_t *items, json_t *(*view)(const json_t *))
{
	json_t *a = json_array(), *o;
	size_t i;
	json_array_foreach(items, i, o) json_array_append_new(a, view(o));
	return a;
}

static json_t *set_faults(struct sim *s, json_t *p)
{
	static const char *const keys[] = { "deploy_error", "slow_ms", "drop" };
	for (size_t i = 0; i < 3; i++)
		if (json_is_integer(json_object_get(p, keys[i])))
			json_object_set(faults(s), keys[i], json_object_get(p, keys[i]));
	if (json_is_string(json_object_get(p, "drop_method")) || json_is_null(json_object_get(p, "drop_method")))
		json_object_set(faults(s), "drop_method", json_object_get(p, "drop_method"));
	save(s);
	return json_deep_copy(faults(s));
}

static json_t *dispatch(struct sim *s, const char *m, json_t *p, struct rpc_err *e)
{
	static const char *const stubs[] = { "start_vm", "stop_vm", "restart_vm", "inject_ssh_keys", "vm_exec", "vm_stats" };
	json_t *o;
	if (!strcmp(m, "sim.fault"))
		return set_faults(s, p);
	if (strncmp(m, "ComputeService.", 15))
		return fail(e, -32601, "method '%s' not found", m);
	m += 15;
	for (size_t i = 0; i < sizeof stubs / sizeof stubs[0]; i++)
		if (!strcmp(m, stubs[i]))
			return fail(e, -32000, "%s is not supported on TFGrid (stop = delete, restart = delete and redeploy,"
					      " exec and stats over ssh)", m);
	if (!strcmp(m, "deploy_vm"))
		return deploy_vm(s, p, e);
	if (!strcmp(m, "get_vm"))
		return (o = find(json_object_get(s->st, "vms"), "id", sget(p, "id"))) ? vm_view(o)
			: fail(e, -32004, "VM '%s' not found", sget(p, "id"));
	if (!strcmp(m, "list_vms"))
		return list(json_object_get(s->st, "vms"), vm_view);
	if (!strcmp(m, "delete_vm"))
		return delete_vm(s, p, e);
	if (!strcmp(m, "vm_logs"))
		return vm_logs(s, p, e);
	if (!strcmp(m, "deploy_webgateway"))
		return deploy_gw(s, p, e);
	if (!strcmp(m, "get_webgateway"))
		return (o = find(json_object_get(s->st, "gws"), "id", sget(p, "id"))) ? gw_view(o)
			: fail(e, -32004, "gateway '%s' not found", sget(p, "id"));
	if (!strcmp(m, "list_webgateways"))
		return list(json_object_get(s->st, "gws"), gw_view);
	if (!strcmp(m, "delete_webgateway"))
		return delete_gw(s, p);
	return fail(e, -32601, "method 'ComputeService.%s' not found", m);
}

/* ---- HTTP --------------------------------------------------------------- */

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

static void respond(int fd, int status, const char *body)
{
	char head[256];
	int n = snprintf(head, sizeof head,
			 "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
			 status, status == 200 ? "OK" : status == 404 ? "Not Found" : "Bad Request", strlen(body));
	write_all(fd, head, (size_t)n);
	write_all(fd, body, strlen(body));
}

/* Read one request: method, target and body (malloc'd). 0 on success. */
static int read_request(int fd, char *method, char *target, char **body)
{
	char *buf = malloc(MAX_HEAD + 1), *end = NULL;
	size_t len = 0;
	int ret = -1;
	if (!buf)
		return -1;
	buf[0] = '\0';
	while (!(end = strstr(buf, "\r\n\r\n"))) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t n;
		if (len == MAX_HEAD || poll(&p, 1, 5000) <= 0 || (n = read(fd, buf + len, MAX_HEAD - len)) <= 0)
			goto out;
		len += (size_t)n;
		buf[len] = '\0';
	}
	*end = '\0';
	if (sscanf(buf, "%15s %255s", method, target) != 2)
		goto out;
	size_t want = 0, have = len - (size_t)(end + 4 - buf);
	for (char *h = strstr(buf, "\r\n"); h; h = strstr(h + 2, "\r\n"))
		if (!strncasecmp(h + 2, "Content-Length:", 15))
			want = strtoul(h + 17, NULL, 10);
	if (want > MAX_BODY || !(*body = malloc(want + 1)))
		goto out;
	memcpy(*body, end + 4, have < want ? have : want);
	while (have < want) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t n;
		if (poll(&p, 1, 5000) <= 0 || (n = read(fd, *body + have, want - have)) <= 0)
			goto out;
		have += (size_t)n;
	}
	(*body)[want] = '\0';
	ret = 0;
out:
	free(buf);
	return ret;
}

/* The method named in BODY (for the drop fault), or "". */
static int method_is(const char *body, const char *method)
{
	json_t *req = json_loads(body ? body : "", 0, NULL);
	int yes = !strcmp(sget(req, "method"), method);
	json_decref(req);
	return yes;
}

static char *rpc(struct sim *s, const char *body)
{
	json_error_t je;
	json_t *req = json_loads(body, 0, &je), *res = NULL, *rep;
	struct rpc_err e = { 0, "" };
	if (!req || !json_is_object(req)) {
		rep = json_pack("{sss{siss}sn}", "jsonrpc", "2.0", "error", "code", -32700, "message", "parse error", "id");
	} else {
		json_t *p = json_object_get(req, "params");
		json_t *empty = json_object();
		res = dispatch(s, sget(req, "method"), json_is_object(p) ? p : empty, &e);
		json_decref(empty);
		json_t *id = json_object_get(req, "id");
		rep = res ? json_pack("{sssoso}", "jsonrpc", "2.0", "result", res, "id", id ? json_incref(id) : json_null())
			  : json_pack("{sss{siss}so}", "jsonrpc", "2.0", "error", "code", e.code, "message", e.msg, "id",
				      id ? json_incref(id) : json_null());
	}
	char *text = json_dumps(rep, JSON_COMPACT);
	json_decref(rep);
	json_decref(req);
	return text;
}

static void handle(struct sim *s, int fd)
{
	char method[16], target[256], *body = NULL;
	if (read_request(fd, method, target, &body) < 0) {
		respond(fd, 400, "{\"error\":\"bad request\"}");
		free(body);
		return;
	}
	tick(s);
	char *reply = NULL;
	json_t *f = faults(s);
	const char *only = json_string_value(json_object_get(f, "drop_method"));
	int drop = iget(f, "drop") > 0 && (!only || method_is(body, only));
	if (!strcmp(method, "GET") && !strcmp(target, "/health"))
		reply = strdup("{\"status\":\"ok\",\"service\":\"hero_compute\"}");
	else if (!strcmp(method, "POST") && !strcmp(target, "/rpc"))
		reply = rpc(s, body);
	free(body);
	if (iget(f, "slow_ms") > 0)
		sleep_ms((long)iget(f, "slow_ms"));
	if (drop) {
		json_object_set_new(f, "drop", json_integer(iget(f, "drop") - 1));
		save(s);
	} else {
		respond(fd, reply ? 200 : 404, reply ? reply : "{\"error\":\"not found\"}");
	}
	free(reply);
}

/* ---- main --------------------------------------------------------------- */

static int listen_on(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof sa.sun_path) {
		fprintf(stderr, "compute-sim: socket path too long\n");
		return -1;
	}
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	unlink(path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 64) < 0) {
		fprintf(stderr, "compute-sim: cannot listen on '%s': %s\n", path, strerror(errno));
		return -1;
	}
	return fd;
}

static int load_state(struct sim *s, long deploy_error, long slow_ms, long drop)
{
	json_error_t je;
	if (access(s->state_path, F_OK) == 0) {
		if (!(s->st = json_load_file(s->state_path, 0, &je))) {
			fprintf(stderr, "compute-sim: %s: %s\n", s->state_path, je.text);
			return -1;
		}
	} else {
		s->st = json_pack("{sIsIs[]s[]s{sisisi}}", "next_vm", (json_int_t)1, "next_gw", (json_int_t)1, "vms", "gws",
				  "faults", "deploy_error", 0, "slow_ms", 0, "drop", 0);
	}
	json_t *f = faults(s);
	if (deploy_error >= 0)
		json_object_set_new(f, "deploy_error", json_integer(deploy_error));
	if (slow_ms >= 0)
		json_object_set_new(f, "slow_ms", json_integer(slow_ms));
	if (drop >= 0)
		json_object_set_new(f, "drop", json_integer(drop));
	return 0;
}

/* Stop every VM of the state file (sshd and its processes) and remove the file. */
static int teardown(struct sim *s)
{
	json_t *vm;
	size_t i;
	if (load_state(s, -1, -1, -1) < 0)
		return 1;
	json_array_foreach(json_object_get(s->st, "vms"), i, vm) stop_vm_procs(vm, 0);
	for (int k = 0; k < 50; k++) {
		int any = 0;
		json_array_foreach(json_object_get(s->st, "vms"), i, vm) any |= alive((long)iget(vm, "sshd_pid"));
		if (!any)
			break;
		sleep_ms(20);
	}
	json_array_foreach(json_object_get(s->st, "vms"), i, vm) stop_vm_procs(vm, 1);
	unlink(s->state_path);
	json_decref(s->st);
	return 0;
}

static void usage(int code)
{
	fprintf(code ? stderr : stdout,
		"usage: compute-sim --socket PATH --state FILE --dir DIR [--slices N] [--ssh-port N]\n"
		"                   [--provision-ms N] [--ip-ms N] [--gateway-ms N] [--delete-ms N]\n"
		"                   [--deploy-error N] [--slow-ms N] [--drop N] [--domain NAME] [--sshd PATH]\n"
		"       compute-sim --teardown --state FILE\n");
	exit(code);
}

static void serve(struct sim *s, int lfd)
{
	while (!stop_flag) {
		struct pollfd p = { lfd, POLLIN, 0 };
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		if (poll(&p, 1, 25) <= 0) {
			tick(s);
			continue;
		}
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		handle(s, fd);
		shutdown(fd, SHUT_RDWR);
		close(fd);
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "delete-ms", required_argument, NULL, 'D' },
		{ "deploy-error", required_argument, NULL, 'E' },
		{ "dir", required_argument, NULL, 'd' },
		{ "domain", required_argument, NULL, 'n' },
		{ "drop", required_argument, NULL, 'X' },
		{ "gateway-ms", required_argument, NULL, 'G' },
		{ "help", no_argument, NULL, 'h' },
		{ "ip-ms", required_argument, NULL, 'I' },
		{ "provision-ms", required_argument, NULL, 'P' },
		{ "slices", required_argument, NULL, 'c' },
		{ "slow-ms", required_argument, NULL, 'W' },
		{ "socket", required_argument, NULL, 's' },
		{ "ssh-port", required_argument, NULL, 'p' },
		{ "sshd", required_argument, NULL, 'S' },
		{ "state", required_argument, NULL, 't' },
		{ "teardown", no_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 },
	};
	struct sim s = { .domain = "gw1.sim.grid.tf", .sshd = "/usr/sbin/sshd", .slices = 4, .ssh_port = 2222,
			 .provision_ms = 300, .ip_ms = 200, .gateway_ms = 200, .delete_ms = 200 };
	long deploy_error = -1, slow_ms = -1, drop = -1;
	int opt, down = 0;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'D': s.delete_ms = atol(optarg); break;
		case 'E': deploy_error = atol(optarg); break;
		case 'd': s.dir = optarg; break;
		case 'n': s.domain = optarg; break;
		case 'X': drop = atol(optarg); break;
		case 'G': s.gateway_ms = atol(optarg); break;
		case 'h': usage(0); break;
		case 'I': s.ip_ms = atol(optarg); break;
		case 'P': s.provision_ms = atol(optarg); break;
		case 'c': s.slices = atoi(optarg); break;
		case 'W': slow_ms = atol(optarg); break;
		case 's': s.socket = optarg; break;
		case 'p': s.ssh_port = atoi(optarg); break;
		case 'S': s.sshd = optarg; break;
		case 't': s.state_path = optarg; break;
		case 'T': down = 1; break;
		default: usage(2);
		}
	}
	if (optind != argc || !s.state_path)
		usage(2);
	if (down)
		return teardown(&s);
	if (!s.socket || !s.dir || s.dir[0] != '/')
		usage(2);
	if (mkdir(s.dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "compute-sim: cannot create '%s': %s\n", s.dir, strerror(errno));
		return 1;
	}
	if (load_state(&s, deploy_error, slow_ms, drop) < 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = { .sa_handler = on_term };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	revive(&s);
	int lfd = listen_on(s.socket);
	if (lfd < 0)
		return 1;
	serve(&s, lfd);
	save(&s);
	unlink(s.socket);
	json_decref(s.st);
	return 0;
}
