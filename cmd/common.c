/* cmd/common.c - program name, diagnostics, defaults and prompts for the tools. */
#include "common.h"

#include <errno.h>
#include <locale.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "hero/incremental.h"
#include "hero/quote.h"

const char *hero_progname = "hero";

/* "PROG: " and the line formatted from FMT on F, with every control byte
 * (and invalid UTF-8, bidi and zero-width character) of it escaped: messages
 * carry names and paths from archives, manifests and the file system. */
static void put_line(FILE *f, const char *fmt, va_list ap)
{
	char line[4096], safe[4 * sizeof line + 4];
	vsnprintf(line, sizeof line, fmt, ap);
	hero_quote_text(line, 0, safe, sizeof safe);
	fprintf(f, "%s: %s\n", hero_progname, safe);
}

static void put(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(FILE *f, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	put_line(f, fmt, ap);
	va_end(ap);
}

void fe_say(FILE *f, const char *prefix, const char *line)
{
	char safe[16384];
	hero_quote_text(line ? line : "", 0, safe, sizeof safe);
	fprintf(f, "%s%s\n", prefix ? prefix : "", safe);
}

/* Not for threads: the tools print from their main thread only. */
static const char *ring_quote(const char *text, int marks)
{
	static char ring[8][16384];
	static unsigned next;
	char *buf = ring[next++ % 8];
	hero_quote_text(text ? text : "-", marks, buf, sizeof ring[0]);
	return buf;
}

const char *fe_q(const char *text)
{
	return ring_quote(text, 1);
}

const char *fe_qt(const char *text)
{
	return ring_quote(text, 0);
}

/* A warning of a directory scan, once per run: a tool may scan a directory twice. */
static void scan_warn(void *ctx, const char *line)
{
	static char *seen[64];
	size_t i;
	(void)ctx;
	for (i = 0; i < sizeof seen / sizeof *seen && seen[i]; i++)
		if (!strcmp(seen[i], line))
			return;
	if (i < sizeof seen / sizeof *seen)
		seen[i] = strdup(line);
	put(stderr, "%s", line);
}

void fe_init(const char *argv0)
{
	const char *s = argv0 ? strrchr(argv0, '/') : NULL;
	hero_progname = s ? s + 1 : (argv0 ? argv0 : "hero");
	/* Archive paths are UTF-8 (formats/hero-archive-v1.md) and libarchive converts
	 * names through the locale's character set: under the C locale (cron, ssh
	 * without a locale) it could not name a non-ASCII file. Use the user's
	 * locale when it is UTF-8, else C.UTF-8, for character types only. */
	if (!setlocale(LC_CTYPE, "") || MB_CUR_MAX == 1)
		setlocale(LC_CTYPE, "C.UTF-8");
	hero_set_scan_warn(scan_warn, NULL);
}

void fe_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	put_line(stderr, fmt, ap);
	va_end(ap);
}

void fe_die(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	put_line(stderr, fmt, ap);
	va_end(ap);
	exit(code);
}

int fe_report(const struct hero_error *err)
{
	int code = err->code ? err->code : HERO_EFAIL;
	put(stderr, "%s", err->msg[0] ? err->msg : "failed");
	return code;
}

char *fe_root(const char *opt)
{
	if (opt && !*opt)
		fe_die(HERO_EUSAGE, "empty instance root (--root '')"); /* never fall back to ~/hero */
	if (opt)
		return strdup(opt);
	const char *env = getenv("HERO_ROOT");
	if (env && *env)
		return strdup(env);
	const char *home = getenv("HOME");
	if (!home || !*home)
		home = "/root";
	size_t n = strlen(home) + sizeof "/hero";
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/hero", home);
	return p;
}

char *fe_manifests(const char *opt)
{
	if (opt && *opt)
		return strdup(opt);
	const char *env = getenv("HERO_MANIFESTS");
	if (env && *env)
		return strdup(env);
	/* installed tools find the manifests beside them: BINDIR/../share/hero/manifests,
	 * wherever the tree was installed or moved to */
	char exe[4096], path[4200];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			int k = snprintf(path, sizeof path, "%s/../share/hero/manifests", exe);
			if (k > 0 && (size_t)k < sizeof path && access(path, R_OK | X_OK) == 0)
				return strdup(path);
		}
	}
	if (access(HERO_DATADIR "/manifests", R_OK | X_OK) == 0)
		return strdup(HERO_DATADIR "/manifests");
	return strdup("manifests");
}

static char *read_line_secure(FILE *f)
{
	char *buf = sodium_malloc(1024);
	if (!buf)
		return NULL;
	if (!fgets(buf, 1024, f)) {
		sodium_free(buf);
		return NULL;
	}
	buf[strcspn(buf, "\r\n")] = '\0';
	return buf;
}

static char *prompt_tty(const char *prompt)
{
	FILE *tty = fopen("/dev/tty", "r+");
	if (!tty)
		return NULL;
	struct termios old, quiet;
	int have = tcgetattr(fileno(tty), &old) == 0;
	if (have) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
	}
	fprintf(tty, "%s", prompt);
	fflush(tty);
	char *p = read_line_secure(tty);
	if (have)
		tcsetattr(fileno(tty), TCSAFLUSH, &old);
	fputc('\n', tty);
	fclose(tty);
	return p;
}

char *fe_passphrase(const char *file, const char *prompt, int confirm)
{
	if (file) {
		FILE *f = fopen(file, "r");
		if (!f) {
			fe_warn("cannot open passphrase file '%s': %s", file, strerror(errno));
			return NULL;
		}
		char *p = read_line_secure(f);
		fclose(f);
		if (!p || !*p) {
			fe_warn("passphrase file '%s' is empty", file);
			fe_passphrase_free(p);
			return NULL;
		}
		return p;
	}
	const char *env = getenv("HERO_PASSPHRASE");
	if (env) {
		size_t n = strlen(env) + 1;
		char *p = sodium_malloc(n);
		if (p)
			memcpy(p, env, n);
		return p;
	}
	char *p = prompt_tty(prompt);
	if (!p) {
		fe_warn("no passphrase: no terminal to ask on (use --passphrase-file or HERO_PASSPHRASE)");
		return NULL;
	}
	if (confirm) {
		char *q = prompt_tty("Confirm passphrase: ");
		if (!q || strcmp(p, q) != 0) {
			fe_warn("passphrases do not match");
			fe_passphrase_free(p);
			fe_passphrase_free(q);
			return NULL;
		}
		fe_passphrase_free(q);
	}
	return p;
}

void fe_passphrase_free(char *p)
{
	if (p)
		sodium_free(p);
}

int fe_progress_enabled(int force)
{
	if (force > 0)
		return 1;
	if (force < 0)
		return 0;
	return isatty(STDERR_FILENO);
}

void fe_load_trust(struct hero_trust *t, const struct hero_strlist *pubs, const char *dir)
{
	struct hero_error err = HERO_ERROR_INIT;
	for (size_t i = 0; pubs && i < pubs->n; i++)
		if (hero_trust_add_file(t, pubs->v[i], &err) < 0)
			exit(fe_report(&err));
	if (!dir)
		dir = getenv("HERO_TRUSTED_KEYS");
	if (!dir || !*dir)
		dir = "/etc/hero/trusted-keys.d";
	if (hero_trust_add_dir(t, dir, &err) < 0)
		exit(fe_report(&err));
}

void fe_load_inventory(struct hero_inventory *inv, const char *dir)
{
	struct hero_error err = HERO_ERROR_INIT;
	if (hero_inventory_load(inv, dir, &err) < 0) {
		hero_error_prefix(&err, "cannot load the manifests");
		exit(fe_report(&err));
	}
}

const char *fe_size(unsigned long long n, char *buf, size_t len)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	size_t u = 0;
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu B", n);
	else
		snprintf(buf, len, "%.1f %s", v, unit[u]);
	return buf;
}

void fe_progress_line(const char *label, unsigned long long done, unsigned long long total, int final)
{
	char a[32], b[32];
	if (total)
		fprintf(stderr, "\r%s  %s / %s (%3.0f%%)\033[K", label, fe_size(done, a, sizeof a),
			fe_size(total, b, sizeof b), 100.0 * (double)done / (double)total);
	else
		fprintf(stderr, "\r%s  %s\033[K", label, fe_size(done, a, sizeof a));
	if (final)
		fputc('\n', stderr);
}

int fe_die_soft(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	put_line(stderr, fmt, ap);
	va_end(ap);
	return code;
}

static char *env_secret(const char *name)
{
	const char *v = getenv(name);
	if (!v || !*v)
		return NULL;
	size_t n = strlen(v) + 1;
	char *p = sodium_malloc(n);
	if (p)
		memcpy(p, v, n);
	return p;
}

void fe_decrypt_keys(const char *idpath, const char *idpassfile, const char *passfile,
		     struct hero_seckey **id, char **pass)
{
	struct hero_error err = HERO_ERROR_INIT;
	*id = NULL;
	*pass = NULL;
	if (idpath) {
		int prot = hero_seckey_is_protected(idpath, &err);
		if (prot < 0)
			exit(fe_report(&err));
		char *ip = prot ? fe_passphrase(idpassfile, "Passphrase for the identity: ", 0) : NULL;
		if (prot && !ip)
			exit(HERO_EUSAGE);
		int ret = hero_identity_load(id, idpath, ip, &err);
		fe_passphrase_free(ip);
		if (ret < 0)
			exit(fe_report(&err));
	}
	if (passfile) {
		if (!(*pass = fe_passphrase(passfile, "", 0)))
			exit(HERO_EUSAGE);
	} else {
		*pass = env_secret("HERO_ARCHIVE_PASSPHRASE");
	}
}
