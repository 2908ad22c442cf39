/* hooks.c - run service hooks with a timeout; wait for health; list secret names. */
#include "state/hooks.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "base/internal.h"
#include "state/secretfile.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int hero_run_hook(const char *cmd, const char *root, const char *service, int timeout, const char *what,
		  struct hero_error *err)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot run %s", what);
	if (pid == 0) {
		setpgid(0, 0);
		dup2(STDERR_FILENO, STDOUT_FILENO);
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull >= 0)
			dup2(devnull, STDIN_FILENO);
		if (root && chdir(root) < 0)
			_exit(126);
		if (root)
			setenv("HERO_ROOT", root, 1);
		if (service)
			setenv("HERO_SERVICE", service, 1);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid);
	double deadline = now_s() + (timeout > 0 ? timeout : 60);
	int status;
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			return hero_error_errno(err, HERO_EFAIL, errno, "cannot wait for %s", what);
		if (now_s() > deadline) {
			kill(-pid, SIGKILL);
			waitpid(pid, &status, 0);
			return hero_error(err, HERO_EFAIL, "%s timed out after %d s", what, timeout);
		}
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	/* what the hook started in the background (a service) is left running */
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		return hero_error(err, HERO_EFAIL, "%s failed with exit code %d", what, WEXITSTATUS(status));
	return hero_error(err, HERO_EFAIL, "%s killed by signal %d", what, WTERMSIG(status));
}

static size_t discard(char *p, size_t s, size_t n, void *u)
{
	(void)p;
	(void)u;
	return s * n;
}

/* One HTTP health probe over a Unix socket: 1 if 2xx, 0 otherwise. */
static int http_ok(const char *spec, const char *socket_path)
{
	char method[16] = "GET", path[1024] = "/health";
	if (sscanf(spec, "%15s %1023s", method, path) < 1)
		return 0;
	if (path[0] != '/')
		return 0;
	char url[1100];
	snprintf(url, sizeof url, "http://localhost%s", path);
	CURL *c = curl_easy_init();
	if (!c)
		return 0;
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, socket_path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	long code = 0;
	int ok = curl_easy_perform(c) == CURLE_OK && curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK &&
		 code >= 200 && code < 300;
	curl_easy_cleanup(c);
	return ok;
}

int hero_wait_health(const struct hero_service *svc, const char *root, struct hero_error *err)
{
	if (!svc->health_command && !(svc->health_http && svc->health_socket))
		return 0;
	int timeout = svc->health_timeout > 0 ? svc->health_timeout : 30;
	double deadline = now_s() + timeout;
	char *sock = svc->health_socket ? hero_join(root, svc->health_socket) : NULL;
	char what[256];
	snprintf(what, sizeof what, "health check of %s", svc->name);
	int ok = 0;
	while (!ok) {
		if (svc->health_command) {
			struct hero_error ignored = HERO_ERROR_INIT;
			int left = (int)(deadline - now_s()) + 1;
			ok = hero_run_hook(svc->health_command, root, svc->name, left > 0 ? left : 1, what, &ignored) == 0;
		} else {
			ok = http_ok(svc->health_http, sock);
		}
		if (ok || now_s() > deadline)
			break;
		struct timespec ts = { 0, 200 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	free(sock);
	if (!ok)
		return hero_error(err, HERO_EFAIL, "service %s not healthy after %d s (%s)", svc->name, timeout,
				  svc->health_command ? svc->health_command : svc->health_http);
	return 0;
}

static int push_unique(struct hero_strlist *out, const char *name, size_t len, struct hero_error *err)
{
	char buf[256];
	if (len == 0 || len >= sizeof buf)
		return 0;
	memcpy(buf, name, len);
	buf[len] = '\0';
	for (size_t i = 0; i < out->n; i++)
		if (!strcmp(out->v[i], buf))
			return 0;
	return hero_strlist_push(out, buf) < 0 ? hero_error(err, HERO_EFAIL, "out of memory") : 0;
}

static int names_from(FILE *f, struct hero_strlist *out, int whole_lines, struct hero_error *err)
{
	char line[4096];
	int ret = 0;
	while (ret == 0 && fgets(line, sizeof line, f)) {
		const char *start;
		size_t n;
		if (whole_lines) {
			start = line;
			n = strcspn(line, " \t\r\n=");
		} else {
			n = hero_secret_line_name(line, &start);
		}
		ret = push_unique(out, start, n, err);
	}
	return ret;
}

int hero_secret_names(const struct hero_inventory *inv, const char *root, const char *command,
		      struct hero_strlist *out, struct hero_error *err)
{
	if (command) {
		fflush(NULL);
		FILE *p = popen(command, "r");
		if (!p)
			return hero_error_errno(err, HERO_EFAIL, errno, "cannot run secrets command '%s'", command);
		int ret = names_from(p, out, 1, err);
		int st = pclose(p);
		if (ret == 0 && st != 0)
			ret = hero_error(err, HERO_EFAIL, "secrets command '%s' failed", command);
		return ret;
	}
	for (size_t i = 0; inv && i < inv->n; i++) {
		const struct hero_service *s = &inv->services[i];
		for (size_t j = 0; j < s->n_state; j++) {
			if (s->state[j].type != HERO_STATE_SECRETS || hero_state_per_context(&s->state[j]))
				continue;
			char *path = hero_join(root, s->state[j].path);
			FILE *f = path ? fopen(path, "r") : NULL;
			free(path);
			if (!f)
				continue; /* a missing secrets file holds no names */
			int ret = names_from(f, out, 0, err);
			fclose(f);
			if (ret < 0)
				return ret;
		}
	}
	return 0;
}
