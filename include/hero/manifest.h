/* hero/manifest.h - the state inventory: one YAML manifest per service.
 *
 * Schema v1 is specified in formats/manifest-v1.md. A manifest is data, not
 * code: a layout that differs from the reference is a manifest edit.
 */
#ifndef HERO_MANIFEST_H
#define HERO_MANIFEST_H

#include <stddef.h>

#include "hero/error.h"
#include "hero/strlist.h"

enum hero_class {
	HERO_CLASS_AUTHORITATIVE = 0, /* archived */
	HERO_CLASS_CONFIG,            /* archived */
	HERO_CLASS_DERIVED,           /* skipped, rebuilt after restore */
	HERO_CLASS_EPHEMERAL,         /* never archived */
};

enum hero_state_type {
	HERO_STATE_SQLITE = 0,
	HERO_STATE_FILES,
	HERO_STATE_SECRETS,
};

/* One entry of a manifest's `state:` list. */
struct hero_state {
	char *path;              /* relative to the root; may hold {context}; a trailing '/' marks a directory */
	enum hero_state_type type;
	enum hero_class class;   /* the entry's own `class:` key, else the service's class */
	struct hero_strlist include; /* basename globs; empty = everything */
	struct hero_strlist exclude; /* basename globs; a trailing '/' matches directories */
	char *context_column;    /* NULL unless rows are partitioned by this column */
	int line;                /* line of the entry in the manifest file, for messages */
	int column;              /* its column */
};

struct hero_service {
	char *name;
	char *version;           /* literal `version:`, or NULL when version_from is used */
	char *version_file;      /* version_from: {file: PATH}, relative to the root */
	char *version_command;   /* version_from: {command: CMD} */
	int schema;              /* >= 0 */
	enum hero_class class;
	int per_context;         /* contexts: per-context */
	struct hero_strlist secrets; /* secret NAMES */
	struct hero_state *state;
	size_t n_state;
	char *hook_quiesce;      /* shell commands, or NULL */
	char *hook_resume;
	int hook_timeout;        /* seconds, default 60 */
	char *health_http;       /* e.g. "GET /health" */
	char *health_socket;     /* relative to the root */
	char *health_command;
	int health_timeout;      /* seconds, default 30 */
	char *migrations;        /* directory relative to the manifests directory, or NULL */
	char *file;              /* the manifest file it was read from */
	int line, column;        /* position of the `service:` value, for messages */
};

struct hero_inventory {
	struct hero_service *services; /* sorted by name */
	size_t n;
	char *dir;                     /* the manifests directory */
};

#define HERO_INVENTORY_INIT { NULL, 0, NULL }

/* Parse one manifest file into SVC (zeroed by the caller). On error the
 * message names the file, line and column. Release with hero_service_release. */
int hero_service_load(struct hero_service *svc, const char *path, struct hero_error *err);
void hero_service_release(struct hero_service *svc);

/* Load every *.yaml / *.yml in DIR. Duplicate service names are refused.
 * Release with hero_inventory_release (accepts a zeroed or partly filled one). */
int hero_inventory_load(struct hero_inventory *inv, const char *dir, struct hero_error *err);
void hero_inventory_release(struct hero_inventory *inv);

/* The service called NAME, or NULL. */
const struct hero_service *hero_inventory_find(const struct hero_inventory *inv, const char *name);

/* Resolve the service's version against instance ROOT: the literal version,
 * the first line of version_from.file, or the first line of version_from.command's
 * output. *OUT is malloc'd; the caller frees it. */
int hero_service_version(const struct hero_service *svc, const char *root, char **out,
			 struct hero_error *err);

/* Whether state entry ST is archived by default (authoritative or config,
 * never secrets). */
int hero_state_archived(const struct hero_state *st);

/* Whether basename NAME of a file (IS_DIR = 0) or directory (IS_DIR = 1)
 * found under ST passes its include / exclude globs. */
int hero_state_match(const struct hero_state *st, const char *name, int is_dir);

/* Whether NAME is a valid context name: 1-64 bytes of [A-Za-z0-9_.-], not
 * starting with '.' or '-'. */
int hero_context_valid(const char *name);

/* Whether NAME is a valid service name (formats/manifest-v1.md section 3):
 * 1-64 bytes of [A-Za-z0-9_.-], not starting with '.' or '-'. Manifests are
 * checked with it as they load; a reader checks the names an archive's
 * manifest carries with it before using or printing them. */
int hero_service_valid(const char *name);

/* The path of ST for context CONTEXT: `{context}` replaced by CONTEXT, which
 * must be valid (hero_context_valid). CONTEXT is ignored (may be NULL) when
 * the path has no `{context}`. *OUT is malloc'd; the caller frees it. */
int hero_state_path(const struct hero_state *st, const char *context, char **out,
		    struct hero_error *err);

/* Whether ST's path holds `{context}`. */
int hero_state_per_context(const struct hero_state *st);

/* The migration files that bring a database of SVC from schema FROM to
 * svc->schema: each MANIFESTS_DIR/<migrations>/NNNN_name.sql with
 * FROM < NNNN <= svc->schema, as paths in ascending NNNN order, appended to
 * OUT (release with hero_strlist_release). Empty when the service has no
 * migrations or FROM >= svc->schema. Refused: a .sql file not named
 * NNNN_name.sql, two files for one NNNN, NNNN 0 or above svc->schema. */
int hero_service_migrations(const struct hero_service *svc, const char *manifests_dir, int from,
			    struct hero_strlist *out, struct hero_error *err);

/* The YAML spelling of a class ("authoritative", ...) and of a state type ("sqlite", ...). */
const char *hero_class_name(enum hero_class c);
const char *hero_state_type_name(enum hero_state_type t);

#endif
