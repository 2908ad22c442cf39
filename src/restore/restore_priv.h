/* restore_priv.h - the state of one restore, shared by restore.c and
 * restore_chain.c (chains of increments), which restore.c calls. Not installed. */
#ifndef HERO_RESTORE_PRIV_H
#define HERO_RESTORE_PRIV_H

#include <stdint.h>

#include <jansson.h>

#include "format/chain.h"
#include "hero/restore.h"
#include "restore/swap.h"

#define COPY_BUF (256 * 1024)
#define INCOMING ".hero/incoming"

/* Where an archive entry goes. */
enum dest { D_SKIP = 0, D_STAGE, D_INCOMING, D_SECRET };

/* A state declaration of a selected service: the archive's claim, found equal
 * to a declaration of the target's manifests, which is what the restore
 * follows from then on (docs/security.md section 4a, "the target governs"). */
struct decl {
	json_t *svc;                   /* the service in the archive's manifest */
	const struct hero_service *t;  /* the target's service of that name */
	const struct hero_state *st;   /* the target's declaration */
	int schema;                    /* the schema the archive declares for the service */
};

struct where {
	enum dest dest;
	const struct decl *d; /* the declaration the entry lies in, or NULL */
	char ctx[256];       /* the context the entry belongs to, or "" */
	char *path;          /* staged path relative to the staging root (malloc'd) */
};

/* A database of a context column, extracted aside and merged later. */
struct column_db {
	char *path;          /* target path, relative to the root */
	char *incoming;      /* extracted copy, relative to the staging root */
	const char *col;
	const char *service;
};

struct restore {
	const struct hero_restore_opts *o;
	struct hero_restore_result *res;
	struct hero_areader *r;
	struct hero_swap swap;
	json_t *manifest;
	json_t *index;
	json_t *selected;    /* services restored (array, borrowed references) */
	struct decl *decls;  /* their state declarations, as the target's manifests have them */
	size_t n_decls;
	int context_mode;
	struct hero_strlist from, to; /* contexts restored, and their names in the target */
	struct column_db *cdb;
	size_t n_cdb;
	struct hero_strlist secret_paths, secret_incoming; /* secrets files carried encrypted */
	struct hero_strlist log; /* lines for .hero/restore.log */
	uint8_t *buf;
	struct hero_fwq *fwq; /* writes extracted files on its own thread */
	uint64_t bytes, n_incoming;
	int quiesced;
	int in_fd;           /* the archive stream: o->in_fd, or the one file of o->chain */
	char *dry_dir;       /* a dry run: the scratch directory its databases are checked in */
	int applying;        /* reading an increment: entries replace what staging holds */
	const struct hero_chain *links; /* the links of a chain, or NULL */
	const struct rs_steps *steps;   /* a chain: restore.c's steps for each link */
	struct hero_error *err;
};

/* A string member of a JSON object, or "" (never NULL). */
static inline const char *hero_rs_jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

/* The steps of restore.c that a chain runs for its links, handed to
 * restore_chain.c so that it sits below restore.c and never calls into it. */
struct rs_steps {
	/* Decide the scope from the options and the archive's manifest, and
	 * check the manifest against the target's: contexts, services,
	 * compatibility, every state declaration, secrets. Nothing is written. */
	int (*decide)(struct restore *x);
	/* Where the entry PATH (a directory when IS_DIR) goes. */
	int (*classify)(struct restore *x, const char *path, int is_dir, struct where *w);
	/* Read the whole archive stream into staging. */
	int (*read_all)(struct restore *x);
};

/* restore_chain.c: verify and stage every link of a chain into x's staging
 * tree, with STEPS (restore.c's) for each link. */
int hero_rs_restore_chain(struct restore *x, struct hero_chain *c, const struct rs_steps *steps);

#endif
