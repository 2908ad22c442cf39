/* service.c - what a loaded manifest tells about a live instance: the
 * service's version, which files its state entries match, and its
 * forward-only migrations (formats/manifest-v1.md). */
#include "hero/manifest.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

#include "base/internal.h"
#include "state/manifest_priv.h"
#define GLOB_MAX 255               /* bytes of an include / exclude glob */
#define VERSION_MAX 128            /* bytes of a version string */
#ifndef VERSION_TIMEOUT_MS
#define VERSION_TIMEOUT_MS 30000   /* a version_from command's time limit */
#endif
#define CONTEXT_TOKEN "{context}"
#define CONTEXT_TOKEN_LEN 9

/* ---- versions --------------------------------------------------------- */

/* The first line of a stream fed in pieces, trimmed of surrounding space. */
struct first_line {
	char buf[VERSION_MAX + 2];
	size_t len;
	int done;     /* the first newline was seen */
	int overflow; /* the first line is longer than VERSION_MAX */
};

static void first_line_feed(struct first_line *fl, const char *data, size_t n)
{
	for (size_t i = 0; i < n && !fl->done; i++) {
		if (data[i] == '\n')
			fl->done = 1;
		else if (fl->len < VERSION_MAX + 1)
			fl->buf[fl->len++] = data[i];
		else
			fl->overflow = 1;
	}
}

static const char *first_line_get(struct first_line *fl)
{
	char *s = fl->buf;
	size_t n = fl->len;

	if (fl->overflow || n > VERSION_MAX)
		return NULL;
	while (n && (s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	s[n] = '\0';
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

static int version_from_file(const struct hero_service *svc, const char *root,
			     struct first_line *fl, struct hero_error *err)
{
	char *path = hero_join(root, svc->version_file);
	char buf[4096];
	ssize_t n;
	int fd, rc = 0;

	if (!path)
		return hero_error(err, HERO_EFAIL, "out of memory");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = hero_error_errno(err, HERO_EFAIL, errno, "service '%s': cannot open version "
				      "file '%s'", svc->name, path);
		goto out;
	}
	while (!fl->done && (n = read(fd, buf, sizeof buf)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = hero_error_errno(err, HERO_EFAIL, errno, "service '%s': cannot read "
					      "version file '%s'", svc->name, path);
			break;
		}
		first_line_feed(fl, buf, (size_t)n);
	}
	close(fd);
out:
	free(path);
	return rc;
}

static long elapsed_ms(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000L + (t.tv_nsec - t0->tv_nsec) / 1000000L;
}

/* Spawn `/bin/sh -c CMD` in directory ROOT, in its own process group, with
 * stdin and stderr on /dev/null and stdout on *OUT_FD. */
static int spawn_shell(const char *cmd, const char *root, pid_t *pid, int *out_fd)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, deflt;
	char *argv[] = { (char *)"sh", (char *)"-c", (char *)cmd, NULL };
	int pfd[2], rc;

	if (pipe2(pfd, O_CLOEXEC))
		return errno;
	sigemptyset(&none);
	sigemptyset(&deflt);
	sigaddset(&deflt, SIGPIPE);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], STDOUT_FILENO);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addchdir_np(&fa, root);
	posix_spawnattr_init(&at);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
					      POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &deflt);
	rc = posix_spawn(pid, "/bin/sh", &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(pfd[1]);
	if (rc)
		close(pfd[0]);
	else
		*out_fd = pfd[0];
	return rc;
}

/* Read FD to its end into FL; wait for PID. Returns 0, or -1 after killing
 * the process group when VERSION_TIMEOUT_MS passed first. */
static int drain_and_wait(int fd, pid_t pid, struct first_line *fl, int *status)
{
	struct timespec t0;
	char buf[4096];
	int eof = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		long left = VERSION_TIMEOUT_MS - elapsed_ms(&t0);
		struct pollfd pfd = { fd, POLLIN, 0 };

		if (left <= 0)
			break;
		if (eof) {
			pid_t w = waitpid(pid, status, WNOHANG);
			if (w == pid || (w < 0 && errno != EINTR))
				return 0;
			nanosleep(&(struct timespec){ 0, 10 * 1000000L }, NULL);
			continue;
		}
		if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
			break;
		if (pfd.revents) {
			ssize_t n = read(fd, buf, sizeof buf);
			if (n > 0)
				first_line_feed(fl, buf, (size_t)n);
			else if (n == 0 || errno != EINTR)
				eof = 1;
		}
	}
	kill(-pid, SIGKILL);
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
	return -1;
}

static int version_from_command(const struct hero_service *svc, const char *root,
				struct first_line *fl, struct hero_error *err)
{
	const char *cmd = svc->version_command;
	pid_t pid;
	int fd = -1, status = 0, rc = spawn_shell(cmd, root, &pid, &fd);

	if (rc)
		return hero_error_errno(err, HERO_EFAIL, rc, "service '%s': cannot run version "
					"command '%s' in '%s'", svc->name, cmd, root);
	rc = drain_and_wait(fd, pid, fl, &status);
	close(fd);
	if (rc)
		return hero_error(err, HERO_EFAIL, "service '%s': version command '%s' timed out "
				  "after %d s", svc->name, cmd, VERSION_TIMEOUT_MS / 1000);
	if (WIFSIGNALED(status))
		return hero_error(err, HERO_EFAIL, "service '%s': version command '%s' killed by "
				  "signal %d", svc->name, cmd, WTERMSIG(status));
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		return hero_error(err, HERO_EFAIL, "service '%s': version command '%s' failed "
				  "with exit status %d", svc->name, cmd, WEXITSTATUS(status));
	return 0;
}

int hero_service_version(const struct hero_service *svc, const char *root, char **out,
			 struct hero_error *err)
{
	struct first_line fl;
	const char *v, *why, *from;
	int rc;

	*out = NULL;
	memset(&fl, 0, sizeof fl);
	if (svc->version) {
		v = svc->version;
	} else {
		if (svc->version_file)
			rc = version_from_file(svc, root, &fl, err);
		else if (svc->version_command)
			rc = version_from_command(svc, root, &fl, err);
		else
			rc = hero_error(err, HERO_EFAIL, "service '%s' declares no version",
					svc->name);
		if (rc)
			return rc;
		from = svc->version_file ? "version file" : "version command";
		if (!(v = first_line_get(&fl)))
			return hero_error(err, HERO_EFAIL, "service '%s': the first line from %s "
					  "'%s' is longer than %d bytes", svc->name, from,
					  svc->version_file ? svc->version_file : svc->version_command,
					  VERSION_MAX);
		if ((why = hero_version_problem(v)))
			return hero_error(err, HERO_EFAIL, "service '%s': version '%s' from %s '%s' %s",
					  svc->name, v, from,
					  svc->version_file ? svc->version_file : svc->version_command,
					  why);
	}
	if (!(*out = strdup(v)))
		return hero_error(err, HERO_EFAIL, "out of memory");
	return 0;
}

/* ---- state entries ---------------------------------------------------- */

int hero_state_archived(const struct hero_state *st)
{
	return st->type != HERO_STATE_SECRETS &&
	       (st->class == HERO_CLASS_AUTHORITATIVE || st->class == HERO_CLASS_CONFIG);
}

/* A SQLite journal, WAL or shared-memory file, which belongs to its database. */
static int sqlite_companion(const char *name)
{
	static const char *const tails[] = { "-wal", "-shm", "-journal" };
	size_t n = strlen(name);

	for (size_t i = 0; i < 3; i++) {
		size_t t = strlen(tails[i]);
		if (n > t && !strcmp(name + n - t, tails[i]))
			return 1;
	}
	return 0;
}

int hero_state_match(const struct hero_state *st, const char *name, int is_dir)
{
	char pat[GLOB_MAX + 1];

	for (size_t i = 0; i < st->exclude.n; i++) {
		const char *g = st->exclude.v[i];
		size_t len = strlen(g);
		int dir_glob = len && g[len - 1] == '/';

		if (dir_glob != !!is_dir || len > GLOB_MAX)
			continue;
		memcpy(pat, g, len - (size_t)dir_glob);
		pat[len - (size_t)dir_glob] = '\0';
		if (!fnmatch(pat, name, 0))
			return 0;
	}
	if (is_dir)
		return 1;
	if (st->type == HERO_STATE_SQLITE && sqlite_companion(name))
		return 0;
	if (!st->include.n)
		return 1;
	for (size_t i = 0; i < st->include.n; i++)
		if (!fnmatch(st->include.v[i], name, 0))
			return 1;
	return 0;
}

int hero_state_path(const struct hero_state *st, const char *context, char **out,
		    struct hero_error *err)
{
	const char *at = strstr(st->path, CONTEXT_TOKEN);
	int n;

	*out = NULL;
	if (!at) {
		*out = strdup(st->path);
		return *out ? 0 : hero_error(err, HERO_EFAIL, "out of memory");
	}
	if (!hero_context_valid(context))
		return hero_error(err, HERO_EUSAGE, "invalid context name '%s'",
				  context ? context : "");
	n = asprintf(out, "%.*s%s%s", (int)(at - st->path), st->path, context,
		     at + CONTEXT_TOKEN_LEN);
	if (n < 0) {
		*out = NULL;
		return hero_error(err, HERO_EFAIL, "out of memory");
	}
	return 0;
}

/* ---- migrations ------------------------------------------------------- */

struct migration {
	int to;
	char *name;
};

/* The target version of migration file NAME ("NNNN_name.sql"), or -1. */
static int migration_version(const char *name)
{
	size_t n = strlen(name);
	const char *c;

	if (n < 10 || strcmp(name + n - 4, ".sql") || name[4] != '_')
		return -1;
	for (int i = 0; i < 4; i++)
		if (name[i] < '0' || name[i] > '9')
			return -1;
	for (c = name + 5; c < name + n - 4; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '_' || *c == '-'))
			return -1;
	return (name[0] - '0') * 1000 + (name[1] - '0') * 100 + (name[2] - '0') * 10 +
	       (name[3] - '0');
}

static int cmp_migration(const void *a, const void *b)
{
	const struct migration *x = a, *y = b;

	return (x->to > y->to) - (x->to < y->to);
}

/* Every *.sql file of DIR into *M / *N, each checked against SVC. */
static int read_migrations(const struct hero_service *svc, const char *dir,
			   struct migration **m, size_t *n, struct hero_error *err)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int rc = 0;

	if (!d)
		return hero_error_errno(err, HERO_EFAIL, errno, "service '%s': cannot open "
					"migrations directory '%s'", svc->name, dir);
	while (!rc && (de = readdir(d))) {
		size_t len = strlen(de->d_name);
		int to = migration_version(de->d_name);
		struct migration *grown;

		if (de->d_name[0] == '.' || len < 4 || strcmp(de->d_name + len - 4, ".sql"))
			continue;
		if (to < 1 || to > svc->schema) {
			rc = hero_error(err, HERO_EFAIL, "service '%s': migration '%s/%s' %s",
					svc->name, dir, de->d_name, to < 0 ?
					"is not named NNNN_name.sql" :
					"targets a schema outside 1..schema");
			break;
		}
		for (size_t i = 0; i < *n && !rc; i++)
			if ((*m)[i].to == to)
				rc = hero_error(err, HERO_EFAIL, "service '%s': migrations '%s' and "
						"'%s' both target schema %d", svc->name,
						(*m)[i].name, de->d_name, to);
		if (rc)
			break;
		if (!(grown = realloc(*m, (*n + 1) * sizeof **m)) ||
		    !(grown[*n].name = strdup(de->d_name))) {
			if (grown)
				*m = grown;
			rc = hero_error(err, HERO_EFAIL, "out of memory");
			break;
		}
		*m = grown;
		(*m)[(*n)++].to = to;
	}
	closedir(d);
	return rc;
}

int hero_service_migrations(const struct hero_service *svc, const char *manifests_dir, int from,
			    struct hero_strlist *out, struct hero_error *err)
{
	struct migration *m = NULL;
	size_t n = 0;
	char *dir = NULL;
	int rc = 0;

	if (!svc->migrations || from >= svc->schema)
		return 0;
	if (!(dir = hero_join(manifests_dir, svc->migrations)))
		return hero_error(err, HERO_EFAIL, "out of memory");
	if ((rc = read_migrations(svc, dir, &m, &n, err)))
		goto out;
	if (n)
		qsort(m, n, sizeof *m, cmp_migration);
	for (size_t i = 0; i < n && !rc; i++) {
		char *path;

		if (m[i].to <= from)
			continue;
		if (!(path = hero_join(dir, m[i].name)) || hero_strlist_push(out, path))
			rc = hero_error(err, HERO_EFAIL, "out of memory");
		free(path);
	}
out:
	for (size_t i = 0; i < n; i++)
		free(m[i].name);
	free(m);
	free(dir);
	return rc;
}
