/* test_manifest.c - the state inventory: reference manifests, refusals with
 * their file:line:col messages, glob matching, context names, versions,
 * migrations. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "hero/manifest.h"

/* ---- helpers ---------------------------------------------------------- */

static const char *srcdir(void)
{
	const char *s = getenv("HERO_SRCDIR");
	return s && *s ? s : ".";
}

static char *path_in(const char *dir, const char *name)
{
	char *s;
	assert_true(asprintf(&s, "%s/%s", dir, name) > 0);
	return s;
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char *p = path_in(dir, name);
	FILE *f = fopen(p, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	free(p);
}

static void unlink_in(const char *dir, const char *name)
{
	char *p = path_in(dir, name);
	assert_int_equal(unlink(p), 0);
	free(p);
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void rm_tree(char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

static char *temp_dir(void)
{
	char *d = strdup("/tmp/hero-manifest-test.XXXXXX");
	assert_non_null(d);
	assert_non_null(mkdtemp(d));
	return d;
}

/* Load manifest TEXT written as DIR/NAME into SVC; returns the load's code. */
static int load_text(const char *dir, const char *name, const char *text,
		     struct hero_service *svc, struct hero_error *err)
{
	char *p = path_in(dir, name);
	int rc;

	write_file(dir, name, text);
	memset(svc, 0, sizeof *svc);
	rc = hero_service_load(svc, p, err);
	free(p);
	return rc;
}

static int inv_setup(void **state)
{
	struct hero_inventory *inv = calloc(1, sizeof *inv);
	struct hero_error err = HERO_ERROR_INIT;
	char *dir = path_in(srcdir(), "manifests");
	int rc = hero_inventory_load(inv, dir, &err);

	if (rc)
		fprintf(stderr, "cannot load the reference manifests: %s\n", err.msg);
	free(dir);
	*state = inv;
	return rc ? -1 : 0;
}

static int inv_teardown(void **state)
{
	hero_inventory_release(*state);
	free(*state);
	return 0;
}

static const struct hero_service *svc_of(void **state, const char *name)
{
	const struct hero_service *s = hero_inventory_find(*state, name);

	if (!s)
		fail_msg("service '%s' missing from the reference inventory", name);
	return s;
}

/* ---- the reference manifests ------------------------------------------ */

struct want_state {
	const char *path;
	enum hero_state_type type;
	enum hero_class class;
	const char *include; /* globs joined by ',' or NULL */
	const char *exclude;
	const char *context_column;
};

struct want_service {
	const char *name, *version;
	int schema;
	enum hero_class class;
	int per_context;
	const char *secrets; /* names joined by ',' or "" */
	struct want_state state[6];
};

#define A HERO_CLASS_AUTHORITATIVE
#define C HERO_CLASS_CONFIG
#define D HERO_CLASS_DERIVED
#define E HERO_CLASS_EPHEMERAL
#define SQL HERO_STATE_SQLITE
#define FIL HERO_STATE_FILES
#define SEC HERO_STATE_SECRETS

static const struct want_service reference[] = {
	{ "hero_biz", "0.7.4", 2, A, 1, "BIZ_SMTP_PASSWORD",
	  { { "var/hero_biz/biz.db", SQL, A, NULL, NULL, "context" } } },
	{ "hero_books", "0.5.0", 1, A, 1, "",
	  { { "var/hero_books/{context}/books.db", SQL, A, NULL, NULL, NULL },
	    { "var/hero_books/{context}/attachments/", FIL, A, NULL, NULL, NULL } } },
	{ "hero_collab", "0.3.0", 1, A, 1, "",
	  { { "var/hero_collab/{context}/collab.db", SQL, A, NULL, NULL, NULL } } },
	{ "hero_db", "0.4.1", 2, A, 1, "HERO_DB_KEY",
	  { { "var/hero_db/{context}/data.db", SQL, A, NULL, NULL, NULL } } },
	{ "hero_embedder", "0.2.0", 1, D, 0, "",
	  { { "var/hero_embedder/", FIL, D, NULL, NULL, NULL } } },
	{ "hero_foundry", "1.2.0", 1, A, 1, "FOUNDRY_WEBDAV_TOKEN",
	  { { "var/hero_foundry/files/{context}/", FIL, A, NULL, "*.tmp,.cache/", NULL },
	    { "var/hero_foundry/foundry.db", SQL, A, NULL, NULL, "context" },
	    { "var/hero_foundry/thumbs/{context}/", FIL, D, NULL, NULL, NULL } } },
	{ "hero_indexer", "0.2.0", 1, D, 1, "",
	  { { "var/hero_indexer/{context}/", FIL, D, NULL, NULL, NULL } } },
	{ "hero_osis", "0.9.2", 3, A, 1, "OSIS_MASTER_KEY",
	  { { "var/hero_osis/{context}/", SQL, A, "*.db", NULL, NULL },
	    { "cfg/hero_osis/", FIL, C, NULL, NULL, NULL } } },
	{ "hero_proc", "0.4.0", 1, C, 0, "",
	  { { "cfg/actions/", FIL, C, "*.yaml,*.toml", NULL, NULL },
	    { "cfg/env/env.sh", SEC, C, NULL, NULL, NULL },
	    { "var/sockets/", FIL, E, NULL, NULL, NULL },
	    { "var/log/", FIL, E, NULL, NULL, NULL },
	    { "var/run/", FIL, E, NULL, NULL, NULL } } },
	{ "hero_voice", "0.1.3", 1, A, 1, "",
	  { { "var/hero_voice/{context}/recordings/", FIL, A, NULL, NULL, NULL },
	    { "var/hero_voice/voice.db", SQL, A, NULL, NULL, "context" } } },
};

static void assert_list(const struct hero_strlist *l, const char *joined, const char *what)
{
	char buf[512] = "";
	size_t len = 0;

	for (size_t i = 0; i < l->n; i++) {
		int n = snprintf(buf + len, sizeof buf - len, "%s%s", i ? "," : "", l->v[i]);
		assert_true(n >= 0 && (size_t)n < sizeof buf - len);
		len += (size_t)n;
	}
	if (strcmp(buf, joined ? joined : ""))
		fail_msg("%s: got '%s', want '%s'", what, buf, joined ? joined : "");
}

static void check_service(const struct hero_service *s, const struct want_service *w)
{
	size_t n = 0;

	assert_string_equal(s->name, w->name);
	assert_non_null(s->version);
	assert_string_equal(s->version, w->version);
	assert_null(s->version_file);
	assert_null(s->version_command);
	assert_int_equal(s->schema, w->schema);
	assert_int_equal(s->class, w->class);
	assert_int_equal(s->per_context, w->per_context);
	assert_list(&s->secrets, w->secrets, w->name);
	while (n < 6 && w->state[n].path)
		n++;
	assert_int_equal(s->n_state, n);
	for (size_t i = 0; i < n; i++) {
		const struct hero_state *st = &s->state[i];
		const struct want_state *ws = &w->state[i];

		assert_string_equal(st->path, ws->path);
		assert_int_equal(st->type, ws->type);
		assert_int_equal(st->class, ws->class);
		assert_list(&st->include, ws->include, st->path);
		assert_list(&st->exclude, ws->exclude, st->path);
		if (ws->context_column)
			assert_string_equal(st->context_column, ws->context_column);
		else
			assert_null(st->context_column);
		assert_true(st->line > 0 && st->column > 0);
	}
}

static void test_reference_inventory(void **state)
{
	const struct hero_inventory *inv = *state;
	size_t nref = sizeof reference / sizeof reference[0];

	assert_int_equal(inv->n, nref);
	for (size_t i = 0; i < nref; i++)
		check_service(&inv->services[i], &reference[i]); /* also checks the sort */
	assert_null(hero_inventory_find(inv, "hero_nothing"));
	assert_ptr_equal(hero_inventory_find(inv, "hero_proc"), &inv->services[8]);
}

static void test_reference_hooks_health(void **state)
{
	const struct hero_service *osis = svc_of(state, "hero_osis");
	const struct hero_service *db = svc_of(state, "hero_db");

	assert_string_equal(osis->hook_quiesce, "hero_proc service stop hero_osis_server");
	assert_string_equal(osis->hook_resume, "hero_proc service start hero_osis_server");
	assert_int_equal(osis->hook_timeout, 60);
	assert_string_equal(osis->health_http, "GET /health");
	assert_string_equal(osis->health_socket, "var/sockets/hero_osis/rpc.sock");
	assert_null(osis->health_command);
	assert_int_equal(osis->health_timeout, 30);
	assert_null(db->hook_quiesce);
	assert_null(db->health_http);
	assert_null(db->migrations);
	assert_string_equal(svc_of(state, "hero_biz")->migrations, "migrations/hero_biz/");
	assert_non_null(strstr(osis->file, "manifests/hero_osis.yaml"));
}

static void test_reference_archived(void **state)
{
	const struct hero_service *proc = svc_of(state, "hero_proc");
	const struct hero_service *foundry = svc_of(state, "hero_foundry");
	const struct hero_service *embedder = svc_of(state, "hero_embedder");

	assert_true(hero_state_archived(&proc->state[0]));     /* config */
	assert_false(hero_state_archived(&proc->state[1]));    /* secrets */
	assert_false(hero_state_archived(&proc->state[2]));    /* ephemeral */
	assert_true(hero_state_archived(&foundry->state[0]));  /* authoritative */
	assert_false(hero_state_archived(&foundry->state[2])); /* derived */
	assert_false(hero_state_archived(&embedder->state[0]));
	assert_string_equal(hero_class_name(HERO_CLASS_EPHEMERAL), "ephemeral");
	assert_string_equal(hero_state_type_name(HERO_STATE_SECRETS), "secrets");
}

/* ---- refusals --------------------------------------------------------- */

struct bad {
	const char *file; /* under tests/unit/data/manifests/bad/ */
	const char *msg;  /* the message after "PATH:" */
};

static const struct bad bad_manifests[] = {
	{ "unknown_key.yaml", "7:5: unknown key 'pathh'" },
	{ "missing_service.yaml", "2:1: missing key 'service'" },
	{ "missing_schema.yaml", "1:1: missing key 'schema'" },
	{ "missing_state.yaml", "1:1: missing key 'state'" },
	{ "both_versions.yaml", "3:15: both 'version' and 'version_from' given" },
	{ "version_from_both.yaml", "3:3: 'version_from' takes exactly one of 'file' or 'command'" },
	{ "bad_class.yaml",
	  "4:8: bad class 'precious' (one of: authoritative, config, derived, ephemeral)" },
	{ "bad_type.yaml", "6:11: bad type 'blob' (one of: sqlite, files, secrets)" },
	{ "absolute_path.yaml", "5:11: path '/etc/passwd' is absolute" },
	{ "dotdot_path.yaml", "5:11: path 'var/../../etc/' has a '..' component" },
	{ "dot_hero_path.yaml",
	  "5:11: path '.hero/manifest.json' starts with '.hero' (reserved for the toolkit)" },
	{ "context_when_none.yaml",
	  "6:11: '{context}' in path 'var/x/{context}/' but contexts is none" },
	{ "context_partial.yaml", "6:11: path 'var/x-{context}/' has '{' or '}' outside a "
				  "whole '{context}' component" },
	{ "context_column_files.yaml", "10:21: context_column is only for sqlite entries" },
	{ "context_column_none.yaml", "7:21: context_column needs 'contexts: per-context'" },
	{ "secrets_include.yaml", "7:14: a secrets entry takes no include or exclude" },
	{ "secrets_dir.yaml", "5:11: a secrets entry names one file, not directory 'cfg/env/'" },
	{ "include_on_file.yaml",
	  "7:14: include and exclude need a directory path (ending in '/')" },
	{ "bad_secret_name.yaml",
	  "4:22: invalid secret name 'lower_name' (want [A-Z_][A-Z0-9_]*)" },
	{ "schema_negative.yaml", "3:9: 'schema' must be a non-negative integer, not '-1'" },
	{ "schema_text.yaml",
	  "3:9: 'schema' must be a non-negative integer, not the quoted string '2'" },
	{ "duplicate_key.yaml", "6:1: duplicate key 'schema'" },
	{ "syntax.yaml", "6:4: did not find expected '-' indicator (while parsing a block "
			 "collection at line 5, column 3)" },
	{ "empty.yaml", "1:1: empty manifest" },
	{ "two_documents.yaml", "7:1: more than one YAML document" },
	{ "overlap.yaml", "8:5: state path 'var/x/root/data.db' overlaps 'var/x/{context}/' "
			  "(line 6)" },
	{ "unpartitioned.yaml", "6:3: contexts is per-context but no state entry has "
				"'{context}' or context_column" },
	{ "health_http.yaml", "7:9: bad http check '/health' (want \"METHOD /path\")" },
	{ "hook_timeout.yaml", "6:35: 'timeout' must be a positive integer, not '0'" },
};

static void test_bad_manifests(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof bad_manifests / sizeof bad_manifests[0]; i++) {
		const struct bad *b = &bad_manifests[i];
		struct hero_service svc;
		struct hero_error err = HERO_ERROR_INIT;
		char *path, *want;

		assert_true(asprintf(&path, "%s/tests/unit/data/manifests/bad/%s", srcdir(),
				     b->file) > 0);
		assert_true(asprintf(&want, "%s:%s", path, b->msg) > 0);
		memset(&svc, 0, sizeof svc);
		if (hero_service_load(&svc, path, &err) != -HERO_EFAIL)
			fail_msg("'%s' was accepted", path);
		if (strcmp(err.msg, want))
			fail_msg("%s:\n  got  '%s'\n  want '%s'", b->file, err.msg, want);
		assert_null(svc.name); /* released on error */
		assert_int_equal(svc.n_state, 0);
		free(path);
		free(want);
	}
}

/* Every refused manifest, loaded as part of a directory, refuses the directory. */
static void test_bad_inventory(void **state)
{
	struct hero_inventory inv = HERO_INVENTORY_INIT;
	struct hero_error err = HERO_ERROR_INIT;
	char *dir = path_in(srcdir(), "tests/unit/data/manifests/bad");

	(void)state;
	assert_int_equal(hero_inventory_load(&inv, dir, &err), -HERO_EFAIL);
	assert_non_null(strstr(err.msg, "/bad/absolute_path.yaml:5:11:")); /* first by name */
	assert_int_equal(inv.n, 0);
	assert_null(inv.services);
	free(dir);
}

static void test_inline_refusals(void **state)
{
	static const struct {
		const char *text, *msg;
	} cases[] = {
		{ "service: x\nversion: 1\nschema: 1\nstate: [{path: \"var/a/../b\", type: files}]\n",
		  "4:16: path 'var/a/../b' has a '..' component" },
		{ "service: x\nversion: 1\nschema: 1\nstate: [{path: \"var//b\", type: files}]\n",
		  "4:16: path 'var//b' has an empty component" },
		{ "service: x\nversion: 1\nschema: 1\nstate: [{path: .heroine/, type: files}]\n",
		  "4:16: path '.heroine/' starts with '.hero' (reserved for the toolkit)" },
		{ "service: x\nversion: 1\nschema: 1\ncontexts: per-context\n"
		  "state: [{path: \"var/{context}\", type: files}]\n",
		  "5:16: path 'var/{context}' ends in '{context}' without '/' ('{context}' names "
		  "a directory)" },
		{ "service: x\nversion: 1\nschema: 1\ncontexts: per-context\n"
		  "state: [{path: \"a/{context}/{context}/\", type: files}]\n",
		  "5:16: path 'a/{context}/{context}/' has '{context}' more than once" },
		{ "service: x\nversion: 1\nschema: 1.5\nstate: [{path: a/, type: files}]\n",
		  "3:9: 'schema' must be a non-negative integer, not '1.5'" },
		{ "service: x\nversion: 1\nschema: 1\nsecrets: [A, A]\nstate: [{path: a/, type: files}]\n",
		  "4:14: duplicate 'A' in 'secrets'" },
		{ "service: x\nversion: 1\nschema: 1\nsecrets: [9LIVES]\nstate: [{path: a/, type: files}]\n",
		  "4:11: invalid secret name '9LIVES' (want [A-Z_][A-Z0-9_]*)" },
		{ "service: x\nversion: 1\nschema: 1\nstate: []\n", "4:8: 'state' is empty" },
		{ "service: \"../x\"\nversion: 1\nschema: 1\nstate: [{path: a/, type: files}]\n",
		  "1:10: invalid service name '../x' (want 1-64 bytes of [A-Za-z0-9_.-], not "
		  "starting with '.' or '-')" },
		{ "service: x\nversion: 1\nschema: 1\nstate: [{path: a/, type: files}]\n"
		  "migrations: /abs/\n", "5:13: path '/abs/' is absolute" },
		{ "service: x\nversion: 1\nschema: 1\nstate: [{path: a/, type: files}]\n"
		  "health: {http: GET /health}\n", "5:9: health 'http' needs 'socket'" },
		{ "service: x\nversion: 1\nschema: 1\nstate: [{path: a/, type: files, "
		  "exclude: [\"a/b\"]}]\n",
		  "4:43: exclude glob 'a/b' must match one name ('/' only at the end)" },
		{ "service: x\nversion: 1\nschema: 1\nstate: [{path: a/, type: files, "
		  "include: [\"d/\"]}]\n",
		  "4:43: include glob 'd/' has a '/' (include globs match file names only)" },
		{ "service: x\nversion: 1\nschema: 1\ncontexts: per-context\n"
		  "state: [{path: a.db, type: sqlite, context_column: \"1; DROP\"}]\n",
		  "5:52: invalid context_column '1; DROP' (want an SQL identifier "
		  "[A-Za-z_][A-Za-z0-9_]*)" },
		{ "- just\n- a list\n", "1:1: a manifest must be a mapping" },
		{ "service: x\nversion: 1\nschema: 1\nstate: [{path: a/, type: files}]\n"
		  "hooks: {quiesce: [a]}\n", "5:18: 'quiesce' must be a string" },
		{ "service: x\nversion: 1\nschema: 1\nstate: [{path: a/, type: files}]\n"
		  "version_from: {file: VERSION}\n",
		  "5:15: both 'version' and 'version_from' given" },
		{ "service: x\nschema: 1\nstate: [{path: a/, type: files}]\n",
		  "1:1: missing key 'version' or 'version_from'" },
	};
	char *dir = temp_dir();

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct hero_service svc;
		struct hero_error err = HERO_ERROR_INIT;
		char *want;

		if (load_text(dir, "m.yaml", cases[i].text, &svc, &err) != -HERO_EFAIL)
			fail_msg("case %zu was accepted:\n%s", i, cases[i].text);
		assert_true(asprintf(&want, "%s/m.yaml:%s", dir, cases[i].msg) > 0);
		if (strcmp(err.msg, want))
			fail_msg("case %zu:\n  got  '%s'\n  want '%s'", i, err.msg, want);
		free(want);
	}
	rm_tree(dir);
}

/* ---- accepted manifests and defaults ---------------------------------- */

static void test_good_manifests(void **state)
{
	struct hero_inventory inv = HERO_INVENTORY_INIT;
	struct hero_error err = HERO_ERROR_INIT;
	char *dir = path_in(srcdir(), "tests/unit/data/manifests/good");
	const struct hero_service *s;

	(void)state;
	if (hero_inventory_load(&inv, dir, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(inv.n, 3);
	assert_string_equal(inv.services[0].name, "from_command");
	assert_string_equal(inv.services[1].name, "from_file");
	assert_string_equal(inv.services[2].name, "minimal");

	s = hero_inventory_find(&inv, "minimal");
	assert_string_equal(s->version, "2.0");
	assert_int_equal(s->schema, 0);
	assert_int_equal(s->class, HERO_CLASS_AUTHORITATIVE);
	assert_int_equal(s->per_context, 0);
	assert_int_equal(s->secrets.n, 0);
	assert_int_equal(s->hook_timeout, 60);
	assert_int_equal(s->health_timeout, 30);
	assert_null(s->migrations);
	assert_int_equal(s->line, 2);
	assert_int_equal(s->column, 10);

	s = hero_inventory_find(&inv, "from_file");
	assert_null(s->version);
	assert_string_equal(s->version_file, "share/from_file/VERSION");
	assert_int_equal(s->class, HERO_CLASS_CONFIG);
	assert_int_equal(s->state[0].class, HERO_CLASS_CONFIG); /* inherited */
	assert_list(&s->secrets, "A_KEY,_B2", "secrets");
	assert_string_equal(s->hook_quiesce, "stop it");
	assert_string_equal(s->hook_resume, "start it");
	assert_int_equal(s->hook_timeout, 5);
	assert_string_equal(s->health_command, "true");
	assert_int_equal(s->health_timeout, 7);
	assert_null(s->health_http);

	s = hero_inventory_find(&inv, "from_command");
	assert_null(s->version);
	assert_string_equal(s->version_command, "echo ' 3.1.4 '; echo ignored");
	hero_inventory_release(&inv);
	hero_inventory_release(&inv); /* twice is harmless */
	free(dir);
}

static void test_inventory_dir_rules(void **state)
{
	static const char a[] = "service: dup\nversion: 1\nschema: 1\nstate: [{path: a/, type: files}]\n";
	static const char b[] = "# second\nservice: dup\nversion: 2\nschema: 1\n"
				"state: [{path: b/, type: files}]\n";
	struct hero_inventory inv = HERO_INVENTORY_INIT;
	struct hero_error err = HERO_ERROR_INIT;
	char *dir = temp_dir(), *want, *sub;

	(void)state;
	/* an empty directory has no inventory */
	assert_int_equal(hero_inventory_load(&inv, dir, &err), -HERO_EFAIL);
	assert_non_null(strstr(err.msg, "no manifests"));

	/* files not ending in .yaml / .yml, hidden files and directories are ignored */
	write_file(dir, "a.yaml", a);
	write_file(dir, "README", "not: [yaml");
	write_file(dir, "a.yaml.bak", "not: [yaml");
	write_file(dir, ".#a.yaml", "not: [yaml");
	sub = path_in(dir, "sub.yaml");
	assert_int_equal(mkdir(sub, 0755), 0);
	free(sub);
	if (hero_inventory_load(&inv, dir, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(inv.n, 1);
	assert_string_equal(inv.dir, dir);
	hero_inventory_release(&inv);

	/* a duplicate service name is refused, naming both files */
	write_file(dir, "b.yml", b);
	assert_int_equal(hero_inventory_load(&inv, dir, &err), -HERO_EFAIL);
	assert_true(asprintf(&want, "%s/b.yml:2:10: duplicate service 'dup' (also in '%s/a.yaml')",
			     dir, dir) > 0);
	assert_string_equal(err.msg, want);
	assert_int_equal(inv.n, 0);
	free(want);

	/* two services may not claim the same state */
	write_file(dir, "b.yml", "service: other\nversion: 1\nschema: 1\ncontexts: per-context\n"
				 "state:\n  - {path: \"a/{context}/x.db\", type: sqlite}\n");
	assert_int_equal(hero_inventory_load(&inv, dir, &err), -HERO_EFAIL);
	assert_true(asprintf(&want, "%s/b.yml:6:5: state path 'a/{context}/x.db' overlaps 'a/' "
			     "of service 'dup' (%s/a.yaml:4)", dir, dir) > 0);
	assert_string_equal(err.msg, want);
	free(want);

	/* a missing directory is an error naming it */
	assert_int_equal(hero_inventory_load(&inv, "/nonexistent/manifests", &err), -HERO_EFAIL);
	assert_non_null(strstr(err.msg, "'/nonexistent/manifests'"));
	rm_tree(dir);
}

/* A per-context directory and a sibling file do not overlap: a context is a directory. */
static void test_overlap_rules(void **state)
{
	struct hero_service svc;
	struct hero_error err = HERO_ERROR_INIT;
	char *dir = temp_dir();

	(void)state;
	if (load_text(dir, "m.yaml", "service: x\nversion: 1\nschema: 1\ncontexts: per-context\n"
		      "state:\n  - {path: \"v/{context}/r/\", type: files}\n"
		      "  - {path: v/x.db, type: sqlite, context_column: ctx}\n"
		      "  - {path: \"v/{context}/y.db\", type: sqlite}\n", &svc, &err))
		fail_msg("%s", err.msg);
	hero_service_release(&svc);
	hero_service_release(&svc);
	assert_int_equal(load_text(dir, "m.yaml", "service: x\nversion: 1\nschema: 1\n"
				   "state:\n  - {path: v/, type: files}\n"
				   "  - {path: v/, type: files}\n", &svc, &err), -HERO_EFAIL);
	assert_non_null(strstr(err.msg, "m.yaml:6:5: state path 'v/' overlaps 'v/' (line 5)"));
	rm_tree(dir);
}

/* ---- matching, contexts, paths ---------------------------------------- */

static void test_state_match(void **state)
{
	const struct hero_state *files = &svc_of(state, "hero_foundry")->state[0];
	const struct hero_state *osis = &svc_of(state, "hero_osis")->state[0];
	const struct hero_state *actions = &svc_of(state, "hero_proc")->state[0];
	const struct hero_state *books = &svc_of(state, "hero_books")->state[1];

	/* exclude ["*.tmp", ".cache/"] */
	assert_true(hero_state_match(files, "photo.jpg", 0));
	assert_true(hero_state_match(files, ".hidden", 0));
	assert_false(hero_state_match(files, "upload.tmp", 0));
	assert_false(hero_state_match(files, ".tmp", 0));
	assert_false(hero_state_match(files, ".cache", 1));
	assert_true(hero_state_match(files, ".cache", 0)); /* a dir glob spares files */
	assert_true(hero_state_match(files, "x.tmp", 1));  /* a file glob spares dirs */
	assert_true(hero_state_match(files, "albums", 1));
	/* include ["*.db"] on a sqlite directory: files only; journals follow their db */
	assert_true(hero_state_match(osis, "objects.db", 0));
	assert_false(hero_state_match(osis, "notes.txt", 0));
	assert_false(hero_state_match(osis, "objects.db-wal", 0));
	assert_false(hero_state_match(osis, "objects.db-shm", 0));
	assert_true(hero_state_match(osis, "anything", 1));
	/* include ["*.yaml", "*.toml"] */
	assert_true(hero_state_match(actions, "web.yaml", 0));
	assert_true(hero_state_match(actions, "web.toml", 0));
	assert_false(hero_state_match(actions, "web.yml", 0));
	assert_false(hero_state_match(actions, "web.yaml.orig", 0));
	/* no globs: everything */
	assert_true(hero_state_match(books, "scan.pdf", 0));
	assert_true(hero_state_match(books, "x.db-wal", 0)); /* files entries keep journals */
	assert_true(hero_state_match(books, "2024", 1));
}

static void test_context_valid(void **state)
{
	char long_name[80];

	(void)state;
	assert_true(hero_context_valid("root"));
	assert_true(hero_context_valid("geomind"));
	assert_true(hero_context_valid("a"));
	assert_true(hero_context_valid("A-b_c.d9"));
	assert_true(hero_context_valid("9lives"));
	memset(long_name, 'x', sizeof long_name);
	long_name[64] = '\0';
	assert_true(hero_context_valid(long_name));
	long_name[64] = 'x';
	long_name[65] = '\0';
	assert_false(hero_context_valid(long_name));
	assert_false(hero_context_valid(""));
	assert_false(hero_context_valid(NULL));
	assert_false(hero_context_valid(".hidden"));
	assert_false(hero_context_valid(".."));
	assert_false(hero_context_valid("-rf"));
	assert_false(hero_context_valid("a/b"));
	assert_false(hero_context_valid("a b"));
	assert_false(hero_context_valid("caf\xc3\xa9"));
	assert_false(hero_context_valid("{context}"));
}

static void test_state_path(void **state)
{
	const struct hero_state *db = &svc_of(state, "hero_db")->state[0];
	const struct hero_state *biz = &svc_of(state, "hero_biz")->state[0];
	struct hero_error err = HERO_ERROR_INIT;
	char *p;

	assert_true(hero_state_per_context(db));
	assert_false(hero_state_per_context(biz));
	assert_int_equal(hero_state_path(db, "geomind", &p, &err), 0);
	assert_string_equal(p, "var/hero_db/geomind/data.db");
	free(p);
	assert_int_equal(hero_state_path(biz, NULL, &p, &err), 0);
	assert_string_equal(p, "var/hero_biz/biz.db");
	free(p);
	assert_int_equal(hero_state_path(db, "../x", &p, &err), -HERO_EUSAGE);
	assert_null(p);
	assert_non_null(strstr(err.msg, "'../x'"));
}

/* ---- versions --------------------------------------------------------- */

static void test_service_version(void **state)
{
	char *root = temp_dir(), *mdir = temp_dir(), *share, *v = NULL;
	struct hero_service svc;
	struct hero_error err = HERO_ERROR_INIT;

	(void)state;
	/* a literal */
	assert_int_equal(load_text(mdir, "m.yaml", "service: lit\nversion: 0.9.2\nschema: 1\n"
				   "state: [{path: a/, type: files}]\n", &svc, &err), 0);
	assert_int_equal(hero_service_version(&svc, root, &v, &err), 0);
	assert_string_equal(v, "0.9.2");
	free(v);
	hero_service_release(&svc);

	/* version_from.file: its first line, trimmed, relative to the root */
	share = path_in(root, "share");
	assert_int_equal(mkdir(share, 0755), 0);
	write_file(share, "VERSION", "  1.2.3 \r\n9.9.9\n");
	assert_int_equal(load_text(mdir, "m.yaml", "service: vf\nversion_from: {file: share/VERSION}\n"
				   "schema: 1\nstate: [{path: a/, type: files}]\n", &svc, &err), 0);
	assert_int_equal(hero_service_version(&svc, root, &v, &err), 0);
	assert_string_equal(v, "1.2.3");
	free(v);
	write_file(share, "VERSION", "\n");
	assert_int_equal(hero_service_version(&svc, root, &v, &err), -HERO_EFAIL);
	assert_null(v);
	assert_non_null(strstr(err.msg, "service 'vf'"));
	assert_non_null(strstr(err.msg, "is empty"));
	unlink_in(share, "VERSION");
	assert_int_equal(hero_service_version(&svc, root, &v, &err), -HERO_EFAIL);
	assert_non_null(strstr(err.msg, "service 'vf': cannot open version file"));
	hero_service_release(&svc);

	/* version_from.command: the first line of its stdout, run in the root */
	write_file(root, "REL", "4.5.6\n");
	assert_int_equal(load_text(mdir, "m.yaml", "service: vc\nversion_from: {command: "
				   "\"echo noise >&2; cat REL; echo 7.7.7\"}\nschema: 1\n"
				   "state: [{path: a/, type: files}]\n", &svc, &err), 0);
	assert_int_equal(hero_service_version(&svc, root, &v, &err), 0);
	assert_string_equal(v, "4.5.6");
	free(v);
	hero_service_release(&svc);

	/* a failing command is an error naming the service */
	assert_int_equal(load_text(mdir, "m.yaml", "service: vfail\nversion_from: {command: "
				   "\"echo 1.0; exit 3\"}\nschema: 1\n"
				   "state: [{path: a/, type: files}]\n", &svc, &err), 0);
	assert_int_equal(hero_service_version(&svc, root, &v, &err), -HERO_EFAIL);
	assert_null(v);
	assert_string_equal(err.msg, "service 'vfail': version command 'echo 1.0; exit 3' failed "
				     "with exit status 3");
	hero_service_release(&svc);

	/* the exit status counts even after stdout is closed; a signal is a failure */
	assert_int_equal(load_text(mdir, "m.yaml", "service: vlate\nversion_from: {command: "
				   "\"echo 5.0; exec >&-; sleep 0.2; exit 4\"}\nschema: 1\n"
				   "state: [{path: a/, type: files}]\n", &svc, &err), 0);
	assert_int_equal(hero_service_version(&svc, root, &v, &err), -HERO_EFAIL);
	assert_non_null(strstr(err.msg, "failed with exit status 4"));
	hero_service_release(&svc);
	assert_int_equal(load_text(mdir, "m.yaml", "service: vsig\nversion_from: {command: "
				   "\"echo 5.0; kill -9 $$\"}\nschema: 1\n"
				   "state: [{path: a/, type: files}]\n", &svc, &err), 0);
	assert_int_equal(hero_service_version(&svc, root, &v, &err), -HERO_EFAIL);
	assert_non_null(strstr(err.msg, "service 'vsig': version command 'echo 5.0; kill -9 $$' "
					"killed by signal 9"));
	hero_service_release(&svc);

	/* a command that prints nothing is an error too */
	assert_int_equal(load_text(mdir, "m.yaml", "service: vnone\nversion_from: {command: "
				   "\"true\"}\nschema: 1\nstate: [{path: a/, type: files}]\n",
				   &svc, &err), 0);
	assert_int_equal(hero_service_version(&svc, root, &v, &err), -HERO_EFAIL);
	assert_non_null(strstr(err.msg, "service 'vnone': version '' from version command 'true' "
					"is empty"));
	/* and so is a root the command cannot run in */
	assert_int_equal(hero_service_version(&svc, "/nonexistent/root", &v, &err), -HERO_EFAIL);
	assert_non_null(strstr(err.msg, "service 'vnone': cannot run version command"));
	hero_service_release(&svc);

	/* the reference command manifest */
	{
		char *p = path_in(srcdir(), "tests/unit/data/manifests/good/version_command.yaml");
		memset(&svc, 0, sizeof svc);
		assert_int_equal(hero_service_load(&svc, p, &err), 0);
		assert_int_equal(hero_service_version(&svc, root, &v, &err), 0);
		assert_string_equal(v, "3.1.4");
		free(v);
		hero_service_release(&svc);
		free(p);
	}
	free(share);
	rm_tree(root);
	rm_tree(mdir);
}

/* ---- migrations ------------------------------------------------------- */

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 65536);
	size_t n;

	assert_non_null(f);
	assert_non_null(buf);
	n = fread(buf, 1, 65535, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static int has_column(sqlite3 *db, const char *table, const char *column)
{
	sqlite3_stmt *st;
	char *sql = sqlite3_mprintf("PRAGMA table_info(%Q)", table);
	int found = 0;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW)
		found |= !strcmp((const char *)sqlite3_column_text(st, 1), column);
	sqlite3_finalize(st);
	sqlite3_free(sql);
	return found;
}

/* hero_biz 1 -> 2 adds invoices.due to a schema-1 database. */
static void test_reference_migration(void **state)
{
	const struct hero_service *biz = svc_of(state, "hero_biz");
	const struct hero_inventory *inv = *state;
	struct hero_strlist l = { NULL, 0 };
	struct hero_error err = HERO_ERROR_INIT;
	sqlite3 *db;
	char *sql, *msg = NULL;

	if (hero_service_migrations(biz, inv->dir, 1, &l, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(l.n, 1);
	assert_non_null(strstr(l.v[0], "manifests/migrations/hero_biz/0002_invoice_due.sql"));
	sql = slurp(l.v[0]);
	assert_non_null(strstr(sql, "ALTER TABLE invoices ADD COLUMN due TEXT;"));
	assert_null(strstr(sql, "user_version"));

	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE invoices(id INTEGER PRIMARY KEY, "
				      "context TEXT NOT NULL, customer_id INTEGER, amount_cents "
				      "INTEGER, issued TEXT); PRAGMA user_version = 1;",
				      NULL, NULL, NULL), SQLITE_OK);
	assert_false(has_column(db, "invoices", "due"));
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("migration failed: %s", msg);
	assert_true(has_column(db, "invoices", "due"));
	sqlite3_close(db);
	free(sql);
	hero_strlist_release(&l);

	/* nothing to do at the current schema, nor for services without migrations */
	assert_int_equal(hero_service_migrations(biz, inv->dir, 2, &l, &err), 0);
	assert_int_equal(l.n, 0);
	assert_int_equal(hero_service_migrations(svc_of(state, "hero_osis"), inv->dir, 0, &l,
						 &err), 0);
	assert_int_equal(l.n, 0);
}

static void test_migration_rules(void **state)
{
	char *mdir = temp_dir(), *mig = path_in(mdir, "mig");
	struct hero_service svc;
	struct hero_strlist l = { NULL, 0 };
	struct hero_error err = HERO_ERROR_INIT;

	(void)state;
	assert_int_equal(mkdir(mig, 0755), 0);
	assert_int_equal(load_text(mdir, "m.yaml", "service: m\nversion: 1\nschema: 4\n"
				   "state: [{path: a.db, type: sqlite}]\nmigrations: mig\n",
				   &svc, &err), 0);
	write_file(mig, "0004_d.sql", "SELECT 4;");
	write_file(mig, "0002_b.sql", "SELECT 2;");
	write_file(mig, "0003_c-x.sql", "SELECT 3;");
	write_file(mig, "README.md", "ignored");
	if (hero_service_migrations(&svc, mdir, 2, &l, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(l.n, 2); /* 2 -> 3 -> 4, in order */
	assert_non_null(strstr(l.v[0], "/mig/0003_c-x.sql"));
	assert_non_null(strstr(l.v[1], "/mig/0004_d.sql"));
	hero_strlist_release(&l);
	assert_int_equal(hero_service_migrations(&svc, mdir, 0, &l, &err), 0);
	assert_int_equal(l.n, 3);
	hero_strlist_release(&l);

	write_file(mig, "0002_again.sql", "SELECT 2;");
	assert_int_equal(hero_service_migrations(&svc, mdir, 0, &l, &err), -HERO_EFAIL);
	assert_non_null(strstr(err.msg, "both target schema 2"));
	unlink_in(mig, "0002_again.sql");

	write_file(mig, "0005_future.sql", "SELECT 5;");
	assert_int_equal(hero_service_migrations(&svc, mdir, 0, &l, &err), -HERO_EFAIL);
	assert_non_null(strstr(err.msg, "0005_future.sql' targets a schema outside 1..schema"));
	unlink_in(mig, "0005_future.sql");

	write_file(mig, "7_short.sql", "SELECT 7;");
	assert_int_equal(hero_service_migrations(&svc, mdir, 0, &l, &err), -HERO_EFAIL);
	assert_non_null(strstr(err.msg, "7_short.sql' is not named NNNN_name.sql"));
	assert_int_equal(l.n, 0);
	hero_service_release(&svc);
	free(mig);
	rm_tree(mdir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reference_inventory),
		cmocka_unit_test(test_reference_hooks_health),
		cmocka_unit_test(test_reference_archived),
		cmocka_unit_test(test_state_match),
		cmocka_unit_test(test_state_path),
		cmocka_unit_test(test_reference_migration),
	};
	const struct CMUnitTest plain[] = {
		cmocka_unit_test(test_bad_manifests),
		cmocka_unit_test(test_bad_inventory),
		cmocka_unit_test(test_inline_refusals),
		cmocka_unit_test(test_good_manifests),
		cmocka_unit_test(test_inventory_dir_rules),
		cmocka_unit_test(test_overlap_rules),
		cmocka_unit_test(test_context_valid),
		cmocka_unit_test(test_service_version),
		cmocka_unit_test(test_migration_rules),
	};
	int failed = cmocka_run_group_tests_name("reference manifests", tests, inv_setup,
						 inv_teardown);

	failed += cmocka_run_group_tests_name("manifest rules", plain, NULL, NULL);
	return failed ? 1 : 0;
}
