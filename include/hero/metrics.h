/* hero/metrics.h - run metrics for node_exporter's textfile collector. */
#ifndef HERO_METRICS_H
#define HERO_METRICS_H

#include <stddef.h>

#include "hero/error.h"

/* One gauge: NAME is appended to the prefix ("duration_seconds"). */
struct hero_metric {
	const char *name;
	const char *help;
	double value;
};

/* Write the gauges M[0..N) to PATH in the OpenMetrics text format (which the
 * Prometheus text parser of node_exporter also reads), every name prefixed
 * with PREFIX and "_", followed by PREFIX_last_run_timestamp_seconds (NOW)
 * and PREFIX_last_success_timestamp_seconds: NOW when SUCCESS, else the value
 * the previous PATH holds (left out when it holds none), so a failed run never
 * hides the time of the last good one. Written atomically: PATH.tmp, fsync,
 * rename. */
int hero_metrics_write(const char *path, const char *prefix, const struct hero_metric *m, size_t n, int success,
		       double now, struct hero_error *err);

/* The value of the gauge NAME (full name) in the metrics file PATH; returns
 * 0 and fills *OUT, or -1 when the file or the gauge is absent. */
int hero_metrics_read(const char *path, const char *name, double *out);

#endif
