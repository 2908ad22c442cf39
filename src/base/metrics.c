/* metrics.c - OpenMetrics text for node_exporter's textfile collector. */
#include "hero/metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/internal.h"

int hero_metrics_read(const char *path, const char *name, double *out)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	char line[512];
	size_t n = strlen(name);
	int ret = -1;
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, name, n) != 0 || line[n] != ' ')
			continue;
		char *end;
		double v = strtod(line + n + 1, &end);
		if (end != line + n + 1) {
			*out = v;
			ret = 0;
		}
	}
	fclose(f);
	return ret;
}

static void gauge(FILE *f, const char *prefix, const char *name, const char *help, double v)
{
	fprintf(f, "# HELP %s_%s %s\n# TYPE %s_%s gauge\n%s_%s %.17g\n", prefix, name, help, prefix, name, prefix,
		name, v);
}

static int write_text(FILE *f, const char *path, const char *prefix, const struct hero_metric *m, size_t n,
		      int success, double now)
{
	char name[256];
	double last;
	int have_last = 0;
	if (success) {
		last = now;
		have_last = 1;
	} else {
		int w = snprintf(name, sizeof name, "%s_last_success_timestamp_seconds", prefix);
		have_last = w > 0 && (size_t)w < sizeof name && hero_metrics_read(path, name, &last) == 0;
	}
	for (size_t i = 0; i < n; i++)
		gauge(f, prefix, m[i].name, m[i].help, m[i].value);
	gauge(f, prefix, "last_run_timestamp_seconds", "When the last run ended, successful or not.", now);
	if (have_last)
		gauge(f, prefix, "last_success_timestamp_seconds", "When the last successful run ended.", last);
	fputs("# EOF\n", f);
	return fflush(f);
}

int hero_metrics_write(const char *path, const char *prefix, const struct hero_metric *m, size_t n, int success,
		       double now, struct hero_error *err)
{
	struct hero_atomic a;
	int ret = hero_atomic_open(&a, path, 0644, 0, err);
	if (ret < 0)
		return ret;
	int fd = dup(a.fd); /* the stream's own: fclose flushes it, the commit fsyncs */
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	ret = 0;
	if (!f) {
		ret = hero_error_errno(err, HERO_EFAIL, errno, "cannot write metrics '%s'", a.tmp);
		if (fd >= 0)
			close(fd);
		goto out;
	}
	if (write_text(f, path, prefix, m, n, success, now) != 0)
		ret = hero_error_errno(err, HERO_EFAIL, errno, "cannot write metrics '%s'", a.tmp);
	if (fclose(f) != 0 && ret == 0)
		ret = hero_error_errno(err, HERO_EFAIL, errno, "cannot write metrics '%s'", a.tmp);
	if (ret == 0)
		ret = hero_atomic_commit(&a, err);
out:
	hero_atomic_release(&a);
	return ret;
}
