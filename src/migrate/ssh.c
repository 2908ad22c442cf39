/* ssh.c - commands at a migration target: OpenSSH client subprocesses, or /bin/sh here. */
#include "migrate/ssh.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/internal.h"
#include "hero/journal.h"

#define MAX_ARGS 40
#define MAX_CAPTURE (16u << 20)

struct hero_target {
	int local;
	char *args[MAX_ARGS]; /* ssh and its options; the destination is HOST */
	int nargs;
	char *host;
	char **env;
	char name[300];
	char *control;        /* -oControlPath=PATH of the master, or NULL */
	char *control_path;
	pid_t master;         /* the running master connection, or 0 */
};

/* ---- targets ------------------------------------------------------------ */

/* Append the argument A followed by B. */
static int push(struct hero_target *t, const char *a, const char *b)
{
	if (t->nargs == MAX_ARGS - 3 || asprintf(&t->args[t->nargs], "%s%s", a, b) < 0)
		return -1;
	t->nargs++;
	return 0;
}

int hero_target_ssh(const struct hero_ssh_opts *o, struct hero_target **out, struct hero_error *err)
{
	struct hero_target *t = calloc(1, sizeof *t);
	char port[16], timeout[16];
	int bad = !t;
	if (!o->host || !*o->host || o->host[0] == '-' || !o->known_hosts) {
		free(t);
		return hero_error(err, HERO_EUSAGE, "ssh target: a host and a known_hosts file are required");
	}
	snprintf(port, sizeof port, "%d", o->port ? o->port : 22);
	snprintf(timeout, sizeof timeout, "%d", o->connect_timeout ? o->connect_timeout : 10);
	bad = bad || push(t, o->program ? o->program : "ssh", "") || push(t, "-T", "") ||
	      push(t, "-oBatchMode=", "yes") || push(t, "-oUserKnownHostsFile=", o->known_hosts) ||
	      push(t, "-oGlobalKnownHostsFile=", "/dev/null") || push(t, "-oStrictHostKeyChecking=", "accept-new") || push(t, "-oHashKnownHosts=", "no") ||
	      push(t, "-oConnectTimeout=", timeout) || push(t, "-oServerAliveInterval=", "5") ||
	      push(t, "-oServerAliveCountMax=", "3") || push(t, "-oLogLevel=", "ERROR") ||
	      push(t, "-p", port) || push(t, "-l", o->user ? o->user : "root");
	if (!bad && o->identity)
		bad = push(t, "-oIdentitiesOnly=", "yes") || push(t, "-i", o->identity);
	if (!bad && o->control_path && strlen(o->control_path) < 100)
		bad = !(t->control_path = strdup(o->control_path)) || asprintf(&t->control, "-oControlPath=%s", o->control_path) < 0;
	bad = bad || !(t->host = strdup(o->host));
	if (bad) {
		hero_target_free(t);
		return hero_error(err, HERO_EFAIL, "out of memory");
	}
	snprintf(t->name, sizeof t->name, "%s@%s:%s", o->user ? o->user : "root", o->host, port);
	*out = t;
	return 0;
}

int hero_target_local(const char *const *env, struct hero_target **out, struct hero_error *err)
{
	struct hero_target *t = calloc(1, sizeof *t);
	size_t n = 0;
	while (env && env[n])
		n++;
	if (!t || !(t->env = calloc(n + 1, sizeof *t->env)))
		goto oom;
	for (size_t i = 0; i < n; i++)
		if (!(t->env[i] = strdup(env[i])))
			goto oom;
	t->local = 1;
	snprintf(t->name, sizeof t->name, "this host");
	*out = t;
	return 0;
oom:
	hero_target_free(t);
	return hero_error(err, HERO_EFAIL, "out of memory");
}

void hero_target_free(struct hero_target *t)
{
	if (!t)
		return;
	if (t->master > 0) {
		kill(t->master, SIGTERM);
		waitpid(t->master, NULL, 0);
	}
	if (t->control_path)
		unlink(t->control_path);
	free(t->control);
	free(t->control_path);
	free(t->host);
	for (int i = 0; i < t->nargs; i++)
		free(t->args[i]);
	for (size_t i = 0; t->env && t->env[i]; i++)
		free(t->env[i]);
	free(t->env);
	free(t);
}

int hero_target_is_local(const struct hero_target *t)
{
	return t->local;
}

const char *hero_target_name(const struct hero_target *t)
{
	return t->name;
}

char *hero_sh_quote(const char *s)
{
	size_t n = 3;
	for (const char *p = s; *p; p++)
		n += *p == '\'' ? 4 : 1;
	char *q = malloc(n), *o = q;
	if (!q)
		return NULL;
	*o++ = '\'';
	for (const char *p = s; *p; p++) {
		if (*p == '\'') {
			memcpy(o, "'\\''", 4);
			o += 4;
		} else {
			*o++ = *p;
		}
	}
	*o++ = '\'';
	*o = '\0';
	return q;
}

/* ---- children ----------------------------------------------------------- */

struct child {
	pid_t pid;
	int out, err; /* read ends, -1 when closed */
};

/* In the child: its own group, death with the parent, plain SIGPIPE, fds 0-2. */
static void child_setup(int in, int out, int errfd, const char *const *env)
{
	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGPIPE, SIG_DFL);
	if (in < 0)
		in = open("/dev/null", O_RDONLY);
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(errfd, 2) < 0)
		_exit(126);
	for (size_t i = 0; env && env[i]; i++)
		putenv((char *)env[i]);
}

/* Start ARGV with stdin IN; its stdout and stderr become pipes in *C. */
static int spawn(const char *const *argv, const char *const *env, int in, struct child *c, struct hero_error *err)
{
	int po[2] = { -1, -1 }, pe[2] = { -1, -1 };
	pid_t parent = getpid();
	if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0) {
		int e = errno;
		for (int i = 0; i < 2; i++) {
			if (po[i] >= 0)
				close(po[i]);
			if (pe[i] >= 0)
				close(pe[i]);
		}
		return hero_error_errno(err, HERO_EFAIL, e, "cannot create a pipe");
	}
	c->pid = fork();
	if (c->pid == 0) {
		child_setup(in, po[1], pe[1], env);
		if (getppid() != parent)
			_exit(126); /* the parent died before PDEATHSIG was armed */
		execvp(argv[0], (char *const *)argv);
		dprintf(2, "cannot run '%s': %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	int e = errno;
	close(po[1]);
	close(pe[1]);
	if (c->pid < 0) {
		close(po[0]);
		close(pe[0]);
		return hero_error_errno(err, HERO_EFAIL, e, "cannot start '%s'", argv[0]);
	}
	c->out = po[0];
	c->err = pe[0];
	return 0;
}

/* Wait for PID until DEADLINE (0: forever); kill its group at the deadline. */
static int reap(pid_t pid, long long deadline, int *timed_out)
{
	int status = 0;
	for (;;) {
		pid_t r = waitpid(pid, &status, deadline ? WNOHANG : 0);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			return -1;
		if (deadline && hero_mono_ms() >= deadline) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			*timed_out = 1;
			deadline = 0;
			continue;
		}
		struct timespec ts = { 0, 10 * 1000000L };
		nanosleep(&ts, NULL);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
}

/* ---- output ------------------------------------------------------------- */

struct lines {
	char buf[2048];
	size_t n;
	const char *label;
	int log_fd;
	char *last;   /* where the last non-empty line goes (may be NULL) */
	size_t last_size;
};

static void emit(struct lines *l)
{
	size_t n = l->n;
	while (n && (l->buf[n - 1] == '\r' || l->buf[n - 1] == ' '))
		n--;
	if (l->log_fd >= 0)
		dprintf(l->log_fd, "%s| %.*s\n", l->label ? l->label : "", (int)n, l->buf);
	if (n && l->last)
		snprintf(l->last, l->last_size, "%.*s", (int)n, l->buf);
	l->n = 0;
}

static void feed(struct lines *l, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n' || l->n == sizeof l->buf) {
			emit(l);
			if (p[i] == '\n')
				continue;
		}
		l->buf[l->n++] = p[i];
	}
}

static void flush_lines(struct lines *l)
{
	if (l->n)
		emit(l);
}

struct capture {
	char *p;
	size_t n;
	int over;
};

static void keep(struct capture *c, const char *p, size_t n)
{
	if (c->over || c->n + n > MAX_CAPTURE) {
		c->over = 1;
		return;
	}
	char *q = realloc(c->p, c->n + n + 1);
	if (!q) {
		c->over = 1;
		return;
	}
	memcpy(q + c->n, p, n);
	c->p = q;
	c->n += n;
	c->p[c->n] = '\0';
}

/* Read what FD has; returns 0 at EOF (FD closed and set to -1). */
static int drain(int *fd, struct lines *l, struct capture *cap)
{
	char buf[8192];
	ssize_t n = read(*fd, buf, sizeof buf);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 1;
	if (n <= 0) {
		close(*fd);
		*fd = -1;
		return 0;
	}
	if (cap)
		keep(cap, buf, (size_t)n);
	else
		feed(l, buf, (size_t)n);
	return 1;
}

static int poll_ms(long long deadline)
{
	if (!deadline)
		return 200;
	long long left = deadline - hero_mono_ms();
	return left <= 0 ? 0 : left > 200 ? 200 : (int)left;
}

/* ---- run ---------------------------------------------------------------- */

static int finish(struct hero_exec *x, struct capture *cap, struct hero_error *err)
{
	if (x->capture) {
		x->out = cap->p ? cap->p : strdup("");
		x->out_len = cap->n;
	} else {
		free(cap->p);
	}
	if (x->timed_out)
		return hero_error(err, HERO_EFAIL, "%s: timed out", x->label ? x->label : "command");
	if (x->status == 0)
		return 0;
	if (x->last_line[0])
		return hero_error(err, HERO_EFAIL, "%s: exit %d: %s", x->label ? x->label : "command", x->status,
				  x->last_line);
	return hero_error(err, HERO_EFAIL, "%s: exit %d", x->label ? x->label : "command", x->status);
}

int hero_run_argv(const char *const *argv, const char *const *env, struct hero_exec *x, struct hero_error *err)
{
	struct child c;
	struct capture cap = { 0 };
	char label_out[96];
	snprintf(label_out, sizeof label_out, "%s", x->label ? x->label : argv[0]);
	struct lines lo = { .label = label_out, .log_fd = x->log_fd };
	struct lines le = { .label = label_out, .log_fd = x->log_fd, .last = x->last_line,
			    .last_size = sizeof x->last_line };
	x->status = -1;
	x->timed_out = 0;
	x->last_line[0] = '\0';
	int ret = spawn(argv, env, x->in_fd, &c, err);
	if (ret < 0)
		return ret;
	while (c.out >= 0 || c.err >= 0) {
		struct pollfd p[2] = { { c.out, POLLIN, 0 }, { c.err, POLLIN, 0 } };
		int wait = poll_ms(x->deadline);
		if (x->deadline && wait == 0) {
			kill(-c.pid, SIGKILL);
			break;
		}
		if (poll(p, 2, wait) <= 0)
			continue;
		if (c.out >= 0 && p[0].revents)
			drain(&c.out, &lo, x->capture ? &cap : NULL);
		if (c.err >= 0 && p[1].revents)
			drain(&c.err, &le, NULL);
	}
	if (c.out >= 0)
		close(c.out);
	if (c.err >= 0)
		close(c.err);
	flush_lines(&lo);
	flush_lines(&le);
	x->status = reap(c.pid, x->deadline, &x->timed_out);
	if (x->deadline && hero_mono_ms() >= x->deadline && x->status != 0)
		x->timed_out = 1;
	return finish(x, &cap, err);
}

/* Start the master connection when there is none (best effort: without it,
 * every command connects on its own). */
static void ensure_master(struct hero_target *t, long long deadline)
{
	struct stat st;
	if (t->local || !t->control)
		return;
	if (t->master > 0 && waitpid(t->master, NULL, WNOHANG) == 0)
		return;
	t->master = 0;
	unlink(t->control_path);
	const char *argv[MAX_ARGS + 8];
	int n = 0;
	for (int i = 0; i < t->nargs; i++)
		argv[n++] = t->args[i];
	argv[n++] = t->control;
	argv[n++] = "-oControlMaster=yes";
	argv[n++] = "-oControlPersist=no";
	argv[n++] = "-N";
	argv[n++] = "--";
	argv[n++] = t->host;
	argv[n] = NULL;
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	pid_t parent = getpid(), pid = fork();
	if (pid == 0) {
		child_setup(-1, null, null, NULL);
		if (getppid() != parent)
			_exit(126);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (null >= 0)
		close(null);
	if (pid < 0)
		return;
	long long until = hero_mono_ms() + 15000;
	if (deadline && deadline < until)
		until = deadline;
	while (hero_mono_ms() < until) {
		if (stat(t->control_path, &st) == 0 && S_ISSOCK(st.st_mode)) {
			t->master = pid;
			return;
		}
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return; /* it could not connect: commands will say why */
		struct timespec ts = { 0, 10 * 1000000L };
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* ARGV for CMD at T (pointers into T and CMD; nothing to free). */
static void target_argv(const struct hero_target *t, const char *cmd, const char **argv)
{
	int n = 0;
	if (t->local) {
		argv[n++] = "/bin/sh";
		argv[n++] = "-c";
	} else {
		for (int i = 0; i < t->nargs; i++)
			argv[n++] = t->args[i];
		if (t->control && t->master > 0) {
			argv[n++] = t->control;
			argv[n++] = "-oControlMaster=no";
		}
		argv[n++] = "--";
		argv[n++] = t->host;
	}
	argv[n++] = cmd;
	argv[n] = NULL;
}

int hero_target_run(struct hero_target *t, const char *cmd, struct hero_exec *x, struct hero_error *err)
{
	const char *argv[MAX_ARGS + 6];
	ensure_master(t, x->deadline);
	target_argv(t, cmd, argv);
	int ret = hero_run_argv(argv, t->local ? (const char *const *)t->env : NULL, x, err);
	if (ret < 0 && !t->local && x->status == 255)
		hero_error_prefix(err, "ssh to %s failed", t->name);
	return ret;
}

/* ---- the transfer pipe -------------------------------------------------- */

struct pump {
	int src_out, src_err, dst_in, dst_out, dst_err;
	char buf[65536];
	size_t off, len;
	unsigned long long bytes, drop_after;
	pid_t dst_pid;
	int broken;
};

/* Move bytes from the source to the target command. */
static void pump_step(struct pump *m, short rev_in, short rev_out)
{
	if (m->len == 0 && m->src_out >= 0 && rev_in) {
		ssize_t n = read(m->src_out, m->buf, sizeof m->buf);
		if (n > 0) {
			m->off = 0;
			m->len = (size_t)n;
		} else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
			close(m->src_out);
			m->src_out = -1;
		}
	}
	if (m->len && m->dst_in >= 0 && rev_out) {
		size_t want = m->len;
		/* test fault: never more than DROP_AFTER bytes reach the connection, however
		 * much the pipe would take, so the drop is certain to cut the stream short */
		if (m->drop_after && m->dst_pid > 0 && m->bytes + want > m->drop_after)
			want = (size_t)(m->drop_after - m->bytes);
		ssize_t n = want ? write(m->dst_in, m->buf + m->off, want) : 0;
		if (n > 0) {
			m->off += (size_t)n;
			m->len -= (size_t)n;
			m->bytes += (unsigned long long)n;
		} else if (n < 0 && errno != EINTR && errno != EAGAIN) {
			m->broken = 1; /* EPIPE: the target stopped reading */
			close(m->dst_in);
			m->dst_in = -1;
			m->len = 0;
		}
	}
	if (m->drop_after && m->bytes >= m->drop_after && m->dst_pid > 0) {
		kill(m->dst_pid, SIGKILL); /* test fault: the connection drops */
		m->dst_pid = 0;
	}
	if (m->src_out < 0 && m->len == 0 && m->dst_in >= 0) {
		close(m->dst_in);
		m->dst_in = -1;
	}
	if (m->dst_in < 0 && m->src_out >= 0) {
		close(m->src_out); /* nobody will read the rest: let the source see EPIPE */
		m->src_out = -1;
	}
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void pump_loop(struct pump *m, struct hero_exec *x, struct lines *ls, struct lines *ld, struct lines *lo,
		      struct capture *cap, pid_t src, pid_t dst)
{
	while (m->src_out >= 0 || m->dst_in >= 0 || m->src_err >= 0 || m->dst_out >= 0 || m->dst_err >= 0) {
		struct pollfd p[5] = { { m->src_out, m->len ? 0 : POLLIN, 0 }, { m->dst_in, m->len ? POLLOUT : 0, 0 },
				       { m->src_err, POLLIN, 0 }, { m->dst_out, POLLIN, 0 }, { m->dst_err, POLLIN, 0 } };
		int wait = poll_ms(x->deadline);
		if (x->deadline && wait == 0) {
			kill(-src, SIGKILL);
			kill(-dst, SIGKILL);
			x->timed_out = 1;
			break;
		}
		if (poll(p, 5, wait) <= 0)
			continue;
		pump_step(m, p[0].revents, p[1].revents);
		if (m->src_err >= 0 && p[2].revents)
			drain(&m->src_err, ls, NULL);
		if (m->dst_out >= 0 && p[3].revents)
			drain(&m->dst_out, lo, x->capture ? cap : NULL);
		if (m->dst_err >= 0 && p[4].revents)
			drain(&m->dst_err, ld, NULL);
	}
	close_fd(&m->src_out);
	close_fd(&m->dst_in);
	close_fd(&m->src_err);
	close_fd(&m->dst_out);
	close_fd(&m->dst_err);
}

static int pipe_result(struct hero_target *t, const char *src_label, struct hero_exec *x, struct hero_pipe_stats *ps,
		       struct capture *cap, struct hero_error *err)
{
	const char *label = x->label ? x->label : "target";
	if (x->capture) {
		x->out = cap->p ? cap->p : strdup("");
		x->out_len = cap->n;
	} else {
		free(cap->p);
	}
	if (x->timed_out)
		return hero_error(err, HERO_EFAIL, "transfer timed out after %llu bytes", ps->bytes);
	if (!t->local && (x->status == 255 || x->status > 128)) /* the client failed or died: the connection is gone */
		return hero_error(err, HERO_EFAIL, "ssh to %s failed after %llu bytes%s%s", t->name, ps->bytes,
				  x->last_line[0] ? ": " : " (connection dropped)", x->last_line);
	if (x->status != 0)
		return hero_error(err, HERO_EFAIL, "%s exited %d after %llu bytes%s%s", label, x->status, ps->bytes,
				  x->last_line[0] ? ": " : "", x->last_line);
	if (ps->src_status != 0)
		return hero_error(err, HERO_EFAIL, "%s exited %d%s%s", src_label, ps->src_status,
				  ps->src_last[0] ? ": " : "", ps->src_last);
	if (ps->broken)
		return hero_error(err, HERO_EFAIL, "the pipe to %s broke after %llu bytes", label, ps->bytes);
	return 0;
}

int hero_target_pipe(struct hero_target *t, const char *const *src_argv, const char *src_label, const char *cmd,
		     struct hero_exec *x, unsigned long long drop_after, struct hero_pipe_stats *ps,
		     struct hero_error *err)
{
	const char *argv[MAX_ARGS + 6];
	struct child s = { -1, -1, -1 }, d = { -1, -1, -1 };
	struct capture cap = { 0 };
	int pin[2];
	memset(ps, 0, sizeof *ps);
	x->status = ps->src_status = -1;
	x->timed_out = 0;
	x->last_line[0] = '\0';
	ensure_master(t, x->deadline);
	if (pipe2(pin, O_CLOEXEC) < 0)
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot create a pipe");
	target_argv(t, cmd, argv);
	int ret = spawn(argv, t->local ? (const char *const *)t->env : NULL, pin[0], &d, err);
	close(pin[0]);
	if (ret == 0)
		ret = spawn(src_argv, NULL, -1, &s, err);
	if (ret < 0) {
		close(pin[1]);
		if (d.pid > 0) {
			kill(-d.pid, SIGKILL);
			reap(d.pid, 0, &(int){ 0 });
			close(d.out);
			close(d.err);
		}
		return ret;
	}
	struct lines ls = { .label = src_label, .log_fd = x->log_fd, .last = ps->src_last, .last_size = sizeof ps->src_last };
	struct lines ld = { .label = x->label, .log_fd = x->log_fd, .last = x->last_line, .last_size = sizeof x->last_line };
	struct lines lo = { .label = x->label, .log_fd = x->log_fd };
	struct pump m = { .src_out = s.out, .src_err = s.err, .dst_in = pin[1], .dst_out = d.out, .dst_err = d.err,
			  .drop_after = drop_after, .dst_pid = d.pid };
	pump_loop(&m, x, &ls, &ld, &lo, &cap, s.pid, d.pid);
	flush_lines(&ls);
	flush_lines(&ld);
	flush_lines(&lo);
	ps->bytes = m.bytes;
	ps->broken = m.broken;
	ps->src_status = reap(s.pid, x->deadline ? x->deadline + 5000 : 0, &x->timed_out);
	x->status = reap(d.pid, x->deadline ? x->deadline + 5000 : 0, &x->timed_out);
	return pipe_result(t, src_label, x, ps, &cap, err);
}
