/* ssh.h - run commands at a migration target: over the OpenSSH client
 * (a subprocess), or under /bin/sh on this host for a local directory target.
 *
 * Commands are sh strings (quote every value with hero_sh_quote). Each runs
 * in its own process group with PR_SET_PDEATHSIG(SIGKILL), so a killed caller
 * takes it along; a deadline kills the group. Output goes to a log
 * descriptor line by line, prefixed with a label, and the last line written
 * on stderr is kept for the error message. The caller must ignore SIGPIPE.
 */
#ifndef HERO_SSH_H
#define HERO_SSH_H

#include <stddef.h>

#include "hero/error.h"

struct hero_target;

struct hero_ssh_opts {
	const char *host;        /* a name or an address (IPv6 as is) */
	const char *user;        /* NULL: root */
	int port;                /* 0: 22 */
	const char *identity;    /* private key for -i (used, never stored), or NULL for the agent */
	const char *known_hosts; /* the job's own UserKnownHostsFile (required) */
	int connect_timeout;     /* seconds; 0: 10 */
	const char *program;     /* the ssh client; NULL: "ssh" */
	const char *control_path; /* a socket path for one master connection shared by every command
	                           * (OpenSSH ControlMaster, owned by this process), or NULL */
};

/* A target reached with ssh: BatchMode=yes, IdentitiesOnly=yes with -i,
 * StrictHostKeyChecking=accept-new against O->known_hosts only,
 * ConnectTimeout, ServerAliveInterval=5 / ServerAliveCountMax=3,
 * LogLevel=ERROR. With O->control_path, the first command starts a master
 * connection (a child that dies with this process) and later commands go
 * through it; when it cannot start, commands connect on their own.
 * The strings are copied. */
int hero_target_ssh(const struct hero_ssh_opts *o, struct hero_target **out, struct hero_error *err);

/* This host: commands run as /bin/sh -c CMD with ENV ("NAME=VALUE", NULL-
 * terminated, may be NULL) added to the environment. */
int hero_target_local(const char *const *env, struct hero_target **out, struct hero_error *err);
void hero_target_free(struct hero_target *t);

int hero_target_is_local(const struct hero_target *t);
/* "user@host:port" or "this host". */
const char *hero_target_name(const struct hero_target *t);

struct hero_exec {
	const char *label;      /* prefixes log lines and names the command in errors */
	int in_fd;              /* stdin of the command; -1: /dev/null */
	int log_fd;             /* where output lines go; -1: dropped */
	int capture;            /* 1: stdout is collected into OUT instead of logged */
	long long deadline;     /* hero_mono_ms() time to kill it at; 0: none */
	/* results */
	char *out;              /* captured stdout, NUL-terminated (malloc'd; the caller frees) */
	size_t out_len;
	int status;             /* exit status, 128 + signal when killed, -1 when it did not run */
	int timed_out;
	char last_line[512];    /* the last non-empty stderr line */
};

#define HERO_EXEC_INIT { NULL, -1, -1, 0, 0, NULL, 0, -1, 0, { 0 } }

/* Run CMD at T. 0 when it exited 0; otherwise -HERO_EFAIL with a message
 * naming X->label, the exit status (or the timeout) and the last stderr line,
 * and X->status set: for ssh, 255 is the client's own failure (transport). */
int hero_target_run(struct hero_target *t, const char *cmd, struct hero_exec *x, struct hero_error *err);

/* Run ARGV on this host (execvp) with ENV added, as hero_target_run. */
int hero_run_argv(const char *const *argv, const char *const *env, struct hero_exec *x, struct hero_error *err);

struct hero_pipe_stats {
	unsigned long long bytes;   /* bytes that went from the source into the target command */
	int src_status;             /* the source's exit status */
	char src_last[512];         /* its last stderr line */
	int broken;                 /* the target side stopped reading before the end */
};

/* Stream the stdout of SRC_ARGV (run here) into CMD at T, with no temporary
 * file. Fails when either side exits non-zero, the pipe breaks or the
 * deadline passes (both are killed). X describes the target command (its
 * stdout may be captured); SRC_LABEL names the source in the log and errors.
 * DROP_AFTER > 0 is a test fault: the target command (the ssh client) is
 * killed once that many bytes went into it, as a dropped connection. */
int hero_target_pipe(struct hero_target *t, const char *const *src_argv, const char *src_label, const char *cmd,
		     struct hero_exec *x, unsigned long long drop_after, struct hero_pipe_stats *ps,
		     struct hero_error *err);

/* S as one sh word: single-quoted, with ' written as '\''. Malloc'd. */
char *hero_sh_quote(const char *s);

#endif
