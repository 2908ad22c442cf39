/* cmd/common.h - front-end helpers shared by the hero-* tools (outside the library). */
#ifndef HERO_CMD_COMMON_H
#define HERO_CMD_COMMON_H

#include <stdio.h>

#include "hero/error.h"

extern const char *hero_progname;

/* Set hero_progname from argv[0]. */
void fe_init(const char *argv0);

/* Everything the tools print in text goes through the library's one escaper
 * (hero_quote_text, src/pathsafe.c): control bytes, DEL, C1 controls, invalid
 * UTF-8 and the bidi and zero-width characters become \xNN. Names, paths and
 * other strings from an archive, a manifest or the file system are printed
 * with fe_q (messages with fe_qt); whole message lines (fe_warn, fe_die, fe_die_soft, fe_report,
 * fe_say) are escaped once more as a whole, for the strings the library put
 * in them. JSON output keeps exact strings (jansson escapes them). */

/* A name or path TEXT (NULL: "-") escaped as hero_path_quote does (backslash
 * and quote too, so the form is unambiguous), in one of 8 static buffers used
 * in turn (shared with fe_qt): at most 8 in one printf call. */
const char *fe_q(const char *text);
/* A message TEXT (an error, a probe's detail) escaped as fe_q, but its
 * backslashes and quotes kept. */
const char *fe_qt(const char *text);

/* Print PREFIX and LINE (escaped as a whole, backslash and quote kept) on F. */
void fe_say(FILE *f, const char *prefix, const char *line);

/* Print "PROG: MSG" on stderr. */
void fe_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print "PROG: MSG" and exit with CODE. */
_Noreturn void fe_die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Report ERR on stderr ("PROG: msg") and return its code as an exit status. */
int fe_report(const struct hero_error *err);

/* The instance root: OPT if set, else $HERO_ROOT, else $HOME/hero. Malloc'd.
 * An empty OPT (--root '') is a usage error, never the default. */
char *fe_root(const char *opt);

/* The manifests directory: OPT if set, else $HERO_MANIFESTS, else the reference
 * manifests installed beside the tool (BINDIR/../share/hero/manifests), else
 * HERO_DATADIR/manifests, else ./manifests. Malloc'd. */
char *fe_manifests(const char *opt);

/* Read a passphrase: from FILE if given (first line), else $HERO_PASSPHRASE,
 * else prompt on the terminal with PROMPT. Returns a sodium_malloc'd string
 * (free with fe_passphrase_free) or NULL with a message printed. */
char *fe_passphrase(const char *file, const char *prompt, int confirm);
void fe_passphrase_free(char *p);

/* Progress: enabled when FORCE > 0, disabled when FORCE < 0, else when stderr is a tty. */
int fe_progress_enabled(int force);

#endif

#include "hero/keys.h"
#include "hero/manifest.h"

/* Load the trusted keys: every -p FILE in PUBS, plus the directory DIR (or
 * $HERO_TRUSTED_KEYS, else /etc/hero/trusted-keys.d) when it exists.
 * Exits with a message on error. */
void fe_load_trust(struct hero_trust *t, const struct hero_strlist *pubs, const char *dir);

/* Load the manifests in DIR; exits with a message on error. */
void fe_load_inventory(struct hero_inventory *inv, const char *dir);

/* "1.5 GiB" style size into BUF. */
const char *fe_size(unsigned long long n, char *buf, size_t len);

/* Progress line on stderr: "\rLABEL  DONE / TOTAL (P%)"; FINAL ends the line. */
void fe_progress_line(const char *label, unsigned long long done, unsigned long long total, int final);

/* Print "PROG: MSG" and return CODE (for paths that must still clean up). */
int fe_die_soft(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Keys to decrypt an archive: the identity at IDPATH (its own passphrase, if
 * protected, from IDPASSFILE or a prompt) and/or the archive passphrase from
 * PASSFILE (or $HERO_ARCHIVE_PASSPHRASE). Exits with a message on error.
 * Free with hero_seckey_free and fe_passphrase_free. */
void fe_decrypt_keys(const char *idpath, const char *idpassfile, const char *passfile,
		     struct hero_seckey **id, char **pass);
