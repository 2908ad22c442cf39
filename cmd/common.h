/* cmd/common.h - front-end helpers shared by the hero-* tools (outside the library). */
#ifndef HERO_CMD_COMMON_H
#define HERO_CMD_COMMON_H

#include <stdio.h>

#include "hero/error.h"

extern const char *hero_progname;

/* Set hero_progname from argv[0]. */
void fe_init(const char *argv0);

/* Print "PROG: MSG" on stderr. */
void fe_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print "PROG: MSG" and exit with CODE. */
_Noreturn void fe_die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Report ERR on stderr ("PROG: msg") and return its code as an exit status. */
int fe_report(const struct hero_error *err);

/* The instance root: OPT if set, else $HERO_ROOT, else $HOME/hero. Malloc'd. */
char *fe_root(const char *opt);

/* The manifests directory: OPT if set, else $HERO_MANIFESTS, else the installed
 * reference manifests (HERO_DATADIR/manifests), else ./manifests. Malloc'd. */
char *fe_manifests(const char *opt);

/* Read a passphrase: from FILE if given (first line), else $HERO_PASSPHRASE,
 * else prompt on the terminal with PROMPT. Returns a sodium_malloc'd string
 * (free with fe_passphrase_free) or NULL with a message printed. */
char *fe_passphrase(const char *file, const char *prompt, int confirm);
void fe_passphrase_free(char *p);

/* Progress: enabled when FORCE > 0, disabled when FORCE < 0, else when stderr is a tty. */
int fe_progress_enabled(int force);

#endif
