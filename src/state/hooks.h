/* hooks.h - service hooks (quiesce, resume), health waits, secret names. */
#ifndef HERO_HOOKS_H
#define HERO_HOOKS_H

#include "hero/error.h"
#include "hero/manifest.h"

/* Run shell command CMD (/bin/sh -c) in ROOT with HERO_ROOT and HERO_SERVICE
 * set, its stdout and stderr sent to our stderr, killed (whole process group)
 * after TIMEOUT seconds. WHAT labels messages ("quiesce hook of hero_osis"). */
int hero_run_hook(const char *cmd, const char *root, const char *service, int timeout, const char *what,
		  struct hero_error *err);

/* Wait until SVC is healthy: its health command exits 0, or its HTTP check
 * ("GET /health") over its Unix socket answers 2xx; polls until the
 * service's health timeout. A service with no health check is healthy. */
int hero_wait_health(const struct hero_service *svc, const char *root, struct hero_error *err);

/* Secret NAMES available in ROOT: every `export NAME=...` (or `NAME=...`)
 * line of every secrets file the inventory declares, or, when COMMAND is not
 * NULL, the lines COMMAND prints. Appended to OUT. */
int hero_secret_names(const struct hero_inventory *inv, const char *root, const char *command,
		      struct hero_strlist *out, struct hero_error *err);

#endif
