/* hero-liar - write validly signed archives whose manifests, index labels,
 * databases and secret lines lie, through the toolkit's own archive writer.
 *
 *   hero-liar -s KEY -r RECIPIENT.pub -o DIR [--only NAME]
 *
 * A signature proves who wrote an archive, not that what it declares is
 * safe: every archive here is validly signed with KEY, and each tells one lie
 * that a restore must refuse because the TARGET's manifests govern (docs/
 * security.md section 4a). For every case, DIR/NAME.hsnap is the plain archive
 * and DIR/NAME.enc.hsnap the same archive encrypted to RECIPIENT, carrying a
 * secret value as hero-snap --include-secrets does (the secrets cases exist
 * only encrypted). DIR/EXPECT has one line per case:
 *
 *   NAME <TAB> exit code <TAB> substring of the one error line <TAB> SERVICE <TAB> MODES
 *
 * SERVICE is the service to name with --service; MODES says which restores
 * the case is run in (tests/cli/t46_governance.sh): "ctx" whole, --context,
 * --context --as, --service, and encrypted; "noctx" without the --context
 * ones (an instance-wide service); "enc" encrypted only.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "base/internal.h"
#include "hero/archive.h"
#include "hero/keys.h"

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("hero-liar: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

/* ---- what one archive holds ---- */

#define MAX_ENT 16

struct ent {
	char path[512];
	enum hero_etype type; /* as the index labels it */
	int is_dir;
	char *data;
	size_t len;
	char service[128], context[128];
};

struct lie {
	json_t *man;        /* the manifest, without archive_id and encrypted */
	struct ent e[MAX_ENT];
	size_t n;
};

static json_t *base_manifest(const char *kind, const char *contexts_csv, const char *services_csv)
{
	json_t *m = json_object(), *scope = json_object(), *c = json_array(), *s = json_array();
	char buf[256];
	snprintf(buf, sizeof buf, "%s", contexts_csv ? contexts_csv : "");
	for (char *t = strtok(buf, ","); t; t = strtok(NULL, ","))
		json_array_append_new(c, json_string(t));
	snprintf(buf, sizeof buf, "%s", services_csv ? services_csv : "");
	for (char *t = strtok(buf, ","); t; t = strtok(NULL, ","))
		json_array_append_new(s, json_string(t));
	json_object_set_new(m, "format", json_string("hero-archive"));
	json_object_set_new(m, "format_version", json_string("1.0"));
	json_object_set_new(m, "tool", json_string("hero-liar"));
	json_object_set_new(m, "created", json_string("2026-11-30T00:00:00Z"));
	json_object_set_new(m, "instance_id", json_string("0000000000000000000000000000abcd"));
	json_object_set_new(scope, "kind", json_string(kind));
	json_object_set_new(scope, "services", s);
	json_object_set_new(scope, "contexts", c);
	json_object_set_new(m, "scope", scope);
	json_object_set_new(m, "parent", json_null());
	json_object_set_new(m, "services", json_array());
	json_object_set_new(m, "skipped", json_array());
	return m;
}

/* A service of the manifest, listing context "root" unless CONTEXTS says otherwise. */
static json_t *service(struct lie *l, const char *name, int schema, int per_context, const char *contexts_csv)
{
	json_t *s = json_object(), *c = json_array();
	char buf[256];
	snprintf(buf, sizeof buf, "%s", contexts_csv ? contexts_csv : per_context ? "root" : "");
	for (char *t = strtok(buf, ","); t; t = strtok(NULL, ","))
		json_array_append_new(c, json_string(t));
	json_object_set_new(s, "name", json_string(name));
	json_object_set_new(s, "version", json_string("1.0.0"));
	json_object_set_new(s, "schema", json_integer(schema));
	json_object_set_new(s, "class", json_string("authoritative"));
	json_object_set_new(s, "per_context", json_boolean(per_context));
	json_object_set_new(s, "secrets", json_array());
	json_object_set_new(s, "contexts", c);
	json_object_set_new(s, "entries", json_integer(1));
	json_object_set_new(s, "bytes", json_integer(1));
	json_object_set_new(s, "state", json_array());
	json_array_append_new(json_object_get(l->man, "services"), s);
	return s;
}

static void decl(json_t *svc, const char *path, const char *type, const char *class, const char *column)
{
	json_t *d = json_object();
	json_object_set_new(d, "path", json_string(path));
	json_object_set_new(d, "type", json_string(type));
	json_object_set_new(d, "class", json_string(class));
	json_object_set_new(d, "context_column", column ? json_string(column) : json_null());
	json_array_append_new(json_object_get(svc, "state"), d);
}

static struct ent *add(struct lie *l, const char *path, enum hero_etype type, const char *service, const char *ctx)
{
	if (l->n == MAX_ENT)
		die("too many entries");
	struct ent *e = &l->e[l->n++];
	memset(e, 0, sizeof *e);
	snprintf(e->path, sizeof e->path, "%s", path);
	snprintf(e->service, sizeof e->service, "%s", service);
	snprintf(e->context, sizeof e->context, "%s", ctx ? ctx : "");
	e->type = type;
	return e;
}

static void add_dir(struct lie *l, const char *path, const char *service, const char *ctx)
{
	add(l, path, HERO_E_DIR, service, ctx)->is_dir = 1;
}

static void add_file(struct lie *l, const char *path, const char *text, const char *service, const char *ctx)
{
	struct ent *e = add(l, path, HERO_E_FILE, service, ctx);
	e->data = strdup(text);
	e->len = strlen(text);
}

/* A database made from SQL, as the bytes of its file (rollback journal mode
 * unless the SQL says otherwise). */
static void add_db(struct lie *l, const char *path, enum hero_etype label, const char *sql, const char *service,
		   const char *ctx)
{
	char tmpl[] = "/tmp/hero-liar.XXXXXX";
	if (!mkdtemp(tmpl))
		die("mkdtemp: %s", strerror(errno));
	char file[64];
	snprintf(file, sizeof file, "%s/x.db", tmpl);
	sqlite3 *db;
	char *msg = NULL;
	if (sqlite3_open(file, &db) != SQLITE_OK || sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		die("cannot build database: %s", msg ? msg : sqlite3_errmsg(db));
	sqlite3_close(db);
	struct ent *e = add(l, path, label, service, ctx);
	FILE *f = fopen(file, "rb");
	if (!f)
		die("cannot read database back");
	fseek(f, 0, SEEK_END);
	e->len = (size_t)ftell(f);
	fseek(f, 0, SEEK_SET);
	e->data = malloc(e->len ? e->len : 1);
	if (!e->data || fread(e->data, 1, e->len, f) != e->len)
		die("cannot read database back");
	fclose(f);
	unlink(file);
	char side[80];
	snprintf(side, sizeof side, "%s-wal", file);
	unlink(side);
	snprintf(side, sizeof side, "%s-shm", file);
	unlink(side);
	rmdir(tmpl);
}

/* ---- the cases ---- */

/* hero_books as the sample instance has it (tests/tools/hero-sample.c), schema 1. */
#define BOOKS_SQL "CREATE TABLE entries(id INTEGER PRIMARY KEY, date TEXT, account TEXT, amount_cents INTEGER, memo TEXT);" \
		  "INSERT INTO entries(date, account, amount_cents, memo) VALUES ('2026-01-01', 'liar', 1, 'archived');"
#define V1 "PRAGMA user_version=1;"

/* A plain, truthful part of every archive: a foundry file and a books database of context root. */
static json_t *truthful(struct lie *l)
{
	json_t *f = service(l, "hero_foundry", 1, 1, NULL);
	decl(f, "var/hero_foundry/files/{context}/", "files", "authoritative", NULL);
	add_dir(l, "var/hero_foundry/files/root", "hero_foundry", "root");
	add_file(l, "var/hero_foundry/files/root/liar.md", "archived\n", "hero_foundry", "root");
	return f;
}

static json_t *books(struct lie *l, int schema)
{
	json_t *b = service(l, "hero_books", schema, 1, NULL);
	decl(b, "var/hero_books/{context}/books.db", "sqlite", "authoritative", NULL);
	return b;
}

typedef void (*case_fn)(struct lie *l);

/* {context} declared as the first component: context "var" would be all of var/. */
static void ctx_wildcard_var(struct lie *l)
{
	l->man = base_manifest("contexts", "var,root", NULL);
	json_t *f = service(l, "hero_foundry", 1, 1, "root,var");
	decl(f, "{context}/", "files", "authoritative", NULL);
	add_dir(l, "var", "hero_foundry", "var");
	add_file(l, "var/liar.txt", "x\n", "hero_foundry", "var");
	add_dir(l, "root", "hero_foundry", "root");
}

static void services_wildcard(struct lie *l)
{
	l->man = base_manifest("services", NULL, "hero_foundry");
	json_t *f = service(l, "hero_foundry", 1, 1, "root,cfg,var");
	decl(f, "{context}/", "files", "authoritative", NULL);
	add_dir(l, "cfg", "hero_foundry", "cfg");
	add_file(l, "cfg/liar.txt", "x\n", "hero_foundry", "cfg");
	add_dir(l, "root", "hero_foundry", "root");
}

/* A state path of the target's secrets, claimed as files state. */
static void claims_cfg_env(struct lie *l)
{
	l->man = base_manifest("instance", NULL, NULL);
	json_t *f = truthful(l);
	decl(f, "cfg/env/", "files", "config", NULL);
	add_dir(l, "cfg/env", "hero_foundry", NULL);
	add_file(l, "cfg/env/env.sh", "export LD_PRELOAD=/tmp/hero-liar-evil.so\n", "hero_foundry", NULL);
}

/* A context named cfg under a {context} the target puts elsewhere. */
static void ctx_named_cfg(struct lie *l)
{
	l->man = base_manifest("contexts", "cfg,root", NULL);
	json_t *f = service(l, "hero_foundry", 1, 1, "cfg,root");
	decl(f, "{context}/env/", "files", "authoritative", NULL);
	add_dir(l, "cfg/env", "hero_foundry", "cfg");
	add_file(l, "cfg/env/env.sh", "export OSIS_MASTER_KEY=stolen\n", "hero_foundry", "cfg");
}

/* --service hero_books, whose archive claims hero_osis's databases. */
static void other_service_db(struct lie *l)
{
	l->man = base_manifest("services", NULL, "hero_books");
	json_t *b = service(l, "hero_books", 1, 1, NULL);
	decl(b, "var/hero_osis/{context}/", "sqlite", "authoritative", NULL);
	add_dir(l, "var/hero_osis/root", "hero_books", "root");
	add_db(l, "var/hero_osis/root/objects.db", HERO_E_SQLITE, BOOKS_SQL V1, "hero_books", "root");
}

/* Rows of a context column in another context's own database. */
static void rows_into_other_db(struct lie *l)
{
	l->man = base_manifest("contexts", "root", NULL);
	json_t *d = service(l, "hero_db", 2, 1, NULL);
	decl(d, "var/hero_db/geomind/data.db", "sqlite", "authoritative", "context");
	add_db(l, "var/hero_db/geomind/data.db", HERO_E_SQLITE,
	       "CREATE TABLE kv(k TEXT PRIMARY KEY, v BLOB, context TEXT); PRAGMA user_version=2;", "hero_db", "root");
}

/* The context column declared as another column: a restore would delete every context's rows. */
static void column_renamed(struct lie *l)
{
	l->man = base_manifest("contexts", "root", NULL);
	json_t *b = service(l, "hero_biz", 2, 1, NULL);
	decl(b, "var/hero_biz/biz.db", "sqlite", "authoritative", "customer_id");
	add_db(l, "var/hero_biz/biz.db", HERO_E_SQLITE,
	       "CREATE TABLE invoices(id INTEGER PRIMARY KEY, context TEXT NOT NULL, customer_id INTEGER, "
	       "amount_cents INTEGER, issued TEXT, due TEXT); PRAGMA user_version=2;",
	       "hero_biz", "root");
}

/* Derived state (thumbnails) declared authoritative, and declared derived. */
static void derived_as_authoritative(struct lie *l)
{
	l->man = base_manifest("instance", NULL, NULL);
	json_t *f = truthful(l);
	decl(f, "var/hero_foundry/thumbs/{context}/", "files", "authoritative", NULL);
	add_dir(l, "var/hero_foundry/thumbs/root", "hero_foundry", "root");
	add_file(l, "var/hero_foundry/thumbs/root/t.jpg", "not a thumbnail\n", "hero_foundry", "root");
}

static void derived_declared(struct lie *l)
{
	l->man = base_manifest("instance", NULL, NULL);
	json_t *f = truthful(l);
	decl(f, "var/hero_foundry/thumbs/{context}/", "files", "derived", NULL);
	add_dir(l, "var/hero_foundry/thumbs/root", "hero_foundry", "root");
	add_file(l, "var/hero_foundry/thumbs/root/t.jpg", "not a thumbnail\n", "hero_foundry", "root");
}

/* Ephemeral state (sockets), and the secrets file, of an instance-wide service. */
static void ephemeral_declared(struct lie *l)
{
	l->man = base_manifest("services", NULL, "hero_proc");
	json_t *p = service(l, "hero_proc", 1, 0, NULL);
	decl(p, "var/sockets/", "files", "ephemeral", NULL);
	add_dir(l, "var/sockets", "hero_proc", NULL);
	add_file(l, "var/sockets/hero_osis.sock", "not a socket\n", "hero_proc", NULL);
}

static void secrets_declared(struct lie *l)
{
	l->man = base_manifest("services", NULL, "hero_proc");
	json_t *p = service(l, "hero_proc", 1, 0, NULL);
	decl(p, "cfg/env/env.sh", "secrets", "config", NULL);
	add_file(l, "cfg/env/env.sh", "export PATH=/tmp/hero-liar:$PATH\n", "hero_proc", NULL);
}

/* A database declared as plain files. */
static void db_as_files(struct lie *l)
{
	l->man = base_manifest("instance", NULL, NULL);
	truthful(l);
	json_t *b = service(l, "hero_books", 1, 1, NULL);
	decl(b, "var/hero_books/{context}/books.db", "files", "authoritative", NULL);
	add_db(l, "var/hero_books/root/books.db", HERO_E_FILE, "PRAGMA journal_mode=WAL;" BOOKS_SQL V1, "hero_books",
	       "root");
}

/* An instance-wide service claimed per-context. */
static void per_context_lie(struct lie *l)
{
	l->man = base_manifest("instance", NULL, NULL);
	truthful(l);
	json_t *e = service(l, "hero_embedder", 1, 1, NULL);
	(void)e;
}

/* A database entry the index labels as a plain file: WAL mode, and a trigger. */
static void label_file_wal(struct lie *l)
{
	l->man = base_manifest("instance", NULL, NULL);
	truthful(l);
	books(l, 1);
	add_db(l, "var/hero_books/root/books.db", HERO_E_FILE, "PRAGMA journal_mode=WAL;" BOOKS_SQL V1, "hero_books",
	       "root");
}

static void label_file_trigger(struct lie *l)
{
	l->man = base_manifest("instance", NULL, NULL);
	truthful(l);
	books(l, 1);
	add_db(l, "var/hero_books/root/books.db", HERO_E_FILE,
	       BOOKS_SQL V1 "CREATE TRIGGER t AFTER INSERT ON entries BEGIN SELECT load_extension('/tmp/hero-liar-evil.so'); END;",
	       "hero_books", "root");
}

/* The same databases with their true label: refused by content. */
static void wal_db(struct lie *l)
{
	l->man = base_manifest("instance", NULL, NULL);
	truthful(l);
	books(l, 1);
	add_db(l, "var/hero_books/root/books.db", HERO_E_SQLITE, "PRAGMA journal_mode=WAL;" BOOKS_SQL V1, "hero_books",
	       "root");
}

/* At an older schema than the target's, no allow-list applies: every trigger
 * kind is compiled (never run), and this one calls what is unsafe in a schema. */
static void trigger_update_of(struct lie *l)
{
	l->man = base_manifest("instance", NULL, NULL);
	truthful(l);
	books(l, 0);
	add_db(l, "var/hero_books/root/books.db", HERO_E_SQLITE,
	       BOOKS_SQL "CREATE TRIGGER t AFTER UPDATE OF memo ON entries BEGIN SELECT load_extension('/tmp/hero-liar-evil.so'); END;",
	       "hero_books", "root");
}

/* A view the target's own database does not have (at the target's schema). */
static void view_not_in_target(struct lie *l)
{
	l->man = base_manifest("instance", NULL, NULL);
	truthful(l);
	books(l, 1);
	add_db(l, "var/hero_books/root/books.db", HERO_E_SQLITE, BOOKS_SQL V1 "CREATE VIEW liar AS SELECT memo FROM entries;",
	       "hero_books", "root");
}

/* A database whose user_version is not the schema the archive declares. */
static void user_version_lie(struct lie *l)
{
	l->man = base_manifest("instance", NULL, NULL);
	truthful(l);
	books(l, 1);
	add_db(l, "var/hero_books/root/books.db", HERO_E_SQLITE, BOOKS_SQL "PRAGMA user_version=7;", "hero_books", "root");
}

/* A schema given as a string. */
static void schema_string(struct lie *l)
{
	l->man = base_manifest("instance", NULL, NULL);
	truthful(l);
	json_t *b = books(l, 1);
	json_object_set_new(b, "schema", json_string("1"));
	add_db(l, "var/hero_books/root/books.db", HERO_E_SQLITE, BOOKS_SQL V1, "hero_books", "root");
}

/* Names that would drive a terminal. */
static void name_escape(struct lie *l)
{
	l->man = base_manifest("instance", NULL, NULL);
	truthful(l);
	json_t *s = service(l, "hero_books", 1, 1, NULL);
	json_object_set_new(s, "name", json_string("hero_books\n\033[31mforged line"));
}

static void context_name_escape(struct lie *l)
{
	l->man = base_manifest("instance", NULL, NULL);
	truthful(l);
	json_t *s = service(l, "hero_books", 1, 1, "root,x\033[2Jy");
	(void)s;
}

/* Entries the target's globs leave out: not a database under an include of
 * *.db, a file in an excluded directory, something beneath a declared file. */
static void include_glob(struct lie *l)
{
	l->man = base_manifest("instance", NULL, NULL);
	truthful(l);
	json_t *o = service(l, "hero_osis", 3, 1, NULL);
	decl(o, "var/hero_osis/{context}/", "sqlite", "authoritative", NULL);
	add_dir(l, "var/hero_osis/root", "hero_osis", "root");
	add_file(l, "var/hero_osis/root/run.sh", "#!/bin/sh\n", "hero_osis", "root");
	l->e[l->n - 1].type = HERO_E_SQLITE;
}

static void excluded_dir(struct lie *l)
{
	l->man = base_manifest("instance", NULL, NULL);
	truthful(l);
	add_dir(l, "var/hero_foundry/files/root/.cache", "hero_foundry", "root");
	add_file(l, "var/hero_foundry/files/root/.cache/x", "cached\n", "hero_foundry", "root");
}

static void beneath_file_decl(struct lie *l)
{
	l->man = base_manifest("instance", NULL, NULL);
	truthful(l);
	books(l, 1);
	add_dir(l, "var/hero_books/root/books.db", "hero_books", "root");
	add_file(l, "var/hero_books/root/books.db/x", "x\n", "hero_books", "root");
}

/* ---- secret lines of an encrypted archive ---- */

static void secrets_case(struct lie *l, const char *text)
{
	l->man = base_manifest("instance", NULL, NULL);
	json_t *f = truthful(l);
	json_array_append_new(json_object_get(f, "secrets"), json_string("FOUNDRY_WEBDAV_TOKEN"));
	json_t *names = json_array();
	json_array_append_new(names, json_string("FOUNDRY_WEBDAV_TOKEN"));
	json_object_set_new(l->man, "secrets_included", names);
	add_file(l, HERO_SECRETS_PREFIX "cfg/env/env.sh", text, "hero_proc", NULL);
}

static void secrets_ld_preload(struct lie *l)
{
	secrets_case(l, "export LD_PRELOAD=/tmp/hero-liar-evil.so\n");
}
static void secrets_path(struct lie *l)
{
	secrets_case(l, "export PATH=/tmp/hero-liar:$PATH\n");
}
static void secrets_cmdsubst(struct lie *l)
{
	secrets_case(l, "export FOUNDRY_WEBDAV_TOKEN=$(touch /tmp/hero-liar-pwned)\n");
}
static void secrets_second_export(struct lie *l)
{
	secrets_case(l, "export FOUNDRY_WEBDAV_TOKEN=mine\nexport FOUNDRY_WEBDAV_TOKEN=theirs\n");
}

struct item {
	const char *name;
	case_fn fn;
	int code;
	const char *expect;
	const char *service;
	const char *modes;
};

static const struct item items[] = {
	{ "ctx_wildcard_var", ctx_wildcard_var, 3, "declares state '{context}/' that the target", "hero_foundry", "ctx" },
	{ "services_wildcard", services_wildcard, 3, "declares state '{context}/' that the target", "hero_foundry", "ctx" },
	{ "claims_cfg_env", claims_cfg_env, 3, "declares state 'cfg/env/' that the target", "hero_foundry", "ctx" },
	{ "ctx_named_cfg", ctx_named_cfg, 3, "declares state '{context}/env/' that the target", "hero_foundry", "ctx" },
	{ "other_service_db", other_service_db, 3, "declares state 'var/hero_osis/{context}/' that the target", "hero_books", "ctx" },
	{ "rows_into_other_db", rows_into_other_db, 3, "declares state 'var/hero_db/geomind/data.db' that", "hero_db", "ctx" },
	{ "column_renamed", column_renamed, 3, "another type, class or context column", "hero_biz", "ctx" },
	{ "derived_as_authoritative", derived_as_authoritative, 3, "another type, class or context column", "hero_foundry", "ctx" },
	{ "derived_declared", derived_declared, 3, "never restores (derived)", "hero_foundry", "ctx" },
	{ "ephemeral_declared", ephemeral_declared, 3, "never restores (ephemeral)", "hero_proc", "noctx" },
	{ "secrets_declared", secrets_declared, 3, "never restores (secrets)", "hero_proc", "noctx" },
	{ "db_as_files", db_as_files, 3, "another type, class or context column", "hero_books", "ctx" },
	{ "per_context_lie", per_context_lie, 3, "is per-context in the archive but not per-context on the target", "hero_embedder", "noctx" },
	{ "label_file_wal", label_file_wal, 3, "is labelled 'file' in the index, but the target declares it sqlite", "hero_books", "ctx" },
	{ "label_file_trigger", label_file_trigger, 3, "is labelled 'file' in the index", "hero_books", "ctx" },
	{ "wal_db", wal_db, 3, "WAL", "hero_books", "ctx" },
	{ "trigger_update_of", trigger_update_of, 3, "load_extension", "hero_books", "ctx" },
	{ "view_not_in_target", view_not_in_target, 3, "not in the target", "hero_books", "ctx" },
	{ "user_version_lie", user_version_lie, 3, "user_version 7", "hero_books", "ctx" },
	{ "schema_string", schema_string, 3, "declares no valid schema", "hero_books", "ctx" },
	{ "name_escape", name_escape, 3, "invalid service name 'hero_books\\x0a\\x1b[31mforged line'", "hero_foundry", "ctx" },
	{ "context_name_escape", context_name_escape, 3, "invalid context name 'x\\x1b[2Jy'", "hero_books", "ctx" },
	{ "include_glob", include_glob, 3, "'var/hero_osis/root/run.sh' lies outside the state", "hero_osis", "ctx" },
	{ "excluded_dir", excluded_dir, 3, "'var/hero_foundry/files/root/.cache' lies outside the state", "hero_foundry", "ctx" },
	{ "beneath_file_decl", beneath_file_decl, 3, "'var/hero_books/root/books.db' lies outside the state", "hero_books", "ctx" },
	{ "secrets_ld_preload", secrets_ld_preload, 3, "LD_PRELOAD", "hero_foundry", "enc" },
	{ "secrets_path", secrets_path, 3, "PATH", "hero_foundry", "enc" },
	{ "secrets_cmdsubst", secrets_cmdsubst, 3, "FOUNDRY_WEBDAV_TOKEN", "hero_foundry", "enc" },
	{ "secrets_second_export", secrets_second_export, 3, "FOUNDRY_WEBDAV_TOKEN", "hero_foundry", "enc" },
};

/* ---- writing ---- */

static void write_one(const struct item *it, struct lie *l, const char *dir, const struct hero_seckey *sk,
		      const struct hero_pubkey *rcpt)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s%s.hsnap", dir, it->name, rcpt ? ".enc" : "");
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		die("cannot create '%s': %s", path, strerror(errno));
	struct hero_error err = HERO_ERROR_INIT;
	struct hero_awriter_opts o = { .level = 3, .threads = 1, .recipients = rcpt, .n_recipients = rcpt ? 1 : 0 };
	struct hero_awriter *w = NULL;
	if (hero_awriter_new(&w, fd, sk, &o, &err) < 0)
		die("%s", err.msg);
	char id[2 * HERO_ID_BYTES + 1];
	hero_hex(hero_awriter_header(w)->archive_id, HERO_ID_BYTES, id);
	json_object_set_new(l->man, "archive_id", json_string(id));
	json_object_set_new(l->man, "encrypted", json_boolean(rcpt != NULL));
	/* an encrypted archive carries secret values too: a restore of it merges them */
	size_t n = l->n;
	int carries_env = 0; /* the reader takes .hero/secrets/P and P for one path */
	for (size_t i = 0; i < n; i++)
		carries_env |= !strcmp(l->e[i].path, "cfg/env/env.sh");
	if (rcpt && !carries_env && !json_object_get(l->man, "secrets_included")) {
		json_t *names = json_array();
		json_array_append_new(names, json_string("FOUNDRY_WEBDAV_TOKEN"));
		json_object_set_new(l->man, "secrets_included", names);
		add_file(l, HERO_SECRETS_PREFIX "cfg/env/env.sh", "export FOUNDRY_WEBDAV_TOKEN=from-archive\n", "hero_proc",
			 NULL);
	}
	char *m = json_dumps(l->man, JSON_COMPACT);
	if (!m || hero_awriter_manifest(w, m, strlen(m), &err) < 0)
		die("%s: %s", it->name, err.msg);
	free(m);
	for (size_t i = 0; i < l->n; i++) {
		const struct ent *e = &l->e[i];
		const char *ctx = e->context[0] ? e->context : NULL;
		int ret;
		if (e->is_dir) {
			ret = hero_awriter_dir(w, e->path, 0755, 1764460800, e->service, ctx, &err);
		} else {
			int dfd = memfd_create("hero-liar", MFD_CLOEXEC);
			if (dfd < 0 || hero_write_all(dfd, e->data, e->len, "data", &err) < 0 || lseek(dfd, 0, SEEK_SET) < 0)
				die("cannot stage data");
			ret = hero_awriter_file(w, e->path, e->type, dfd, e->len, 0644, 1764460800LL * 1000000000LL,
						e->service, ctx, &err);
			close(dfd);
		}
		if (ret < 0)
			die("%s: %s", it->name, err.msg);
	}
	for (size_t i = n; i < l->n; i++)
		free(l->e[i].data);
	l->n = n;
	struct hero_archive_stats st;
	if (hero_awriter_finish(w, &st, &err) < 0)
		die("%s: %s", it->name, err.msg);
	hero_awriter_free(w);
	close(fd);
}

static void release(struct lie *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->e[i].data);
	json_decref(l->man);
	memset(l, 0, sizeof *l);
}

int main(int argc, char **argv)
{
	const char *key = NULL, *rcpt_path = NULL, *out = NULL, *only = NULL;
	static const struct option opts[] = { { "only", required_argument, NULL, 'n' }, { NULL, 0, NULL, 0 } };
	int ch;
	while ((ch = getopt_long(argc, argv, "s:r:o:", opts, NULL)) != -1) {
		switch (ch) {
		case 's': key = optarg; break;
		case 'r': rcpt_path = optarg; break;
		case 'o': out = optarg; break;
		case 'n': only = optarg; break;
		default: return 2;
		}
	}
	if (!key || !rcpt_path || !out) {
		fprintf(stderr, "usage: hero-liar -s KEY -r RECIPIENT.pub -o DIR [--only NAME]\n");
		return 2;
	}
	struct hero_error err = HERO_ERROR_INIT;
	struct hero_seckey *sk = NULL;
	struct hero_pubkey rcpt;
	if (hero_crypto_init(&err) < 0 || hero_seckey_load(&sk, key, NULL, &err) < 0 ||
	    hero_recipient_load(&rcpt, rcpt_path, &err) < 0)
		die("%s", err.msg);
	if (mkdir(out, 0755) < 0 && errno != EEXIST)
		die("cannot create '%s': %s", out, strerror(errno));
	char path[4096];
	snprintf(path, sizeof path, "%s/EXPECT", out);
	FILE *ex = fopen(path, "w");
	if (!ex)
		die("cannot create '%s'", path);
	fprintf(ex, "# name\texit code\tsubstring of the one error line\tservice\tmodes\n");
	size_t count = 0;
	for (size_t i = 0; i < sizeof items / sizeof *items; i++) {
		const struct item *it = &items[i];
		if (only && strcmp(only, it->name) != 0)
			continue;
		struct lie l = { 0 };
		it->fn(&l);
		if (strcmp(it->modes, "enc") != 0)
			write_one(it, &l, out, sk, NULL);
		write_one(it, &l, out, sk, &rcpt);
		release(&l);
		fprintf(ex, "%s\t%d\t%s\t%s\t%s\n", it->name, it->code, it->expect, it->service, it->modes);
		count++;
	}
	fclose(ex);
	printf("hero-liar: %zu cases in %s\n", count, out);
	hero_seckey_free(sk);
	return 0;
}
