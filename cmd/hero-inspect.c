/* hero-inspect - show an archive's manifest and entries; verify every byte. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "common.h"
#include "hero/archive.h"
#include "hero/incremental.h"

struct inspect_cli {
	const char *trustdir, *input, *identity, *idpass, *passfile;
	struct hero_strlist pubs, inputs;
	int verify, list, json, chain;
};

static _Noreturn void usage(int code)
{
	FILE *f = code ? stderr : stdout;
	fprintf(f, "usage: hero-inspect [--verify] [--list] [--json] [-p PUBKEY]... [--trusted-keys DIR]\n"
		   "                    [--identity FILE [--identity-passphrase-file F]] [--passphrase-file FILE] FILE|-\n"
		   "       hero-inspect --chain [--verify] [--json] [-p PUBKEY]... [--trusted-keys DIR] DIR|FILE...\n"
		   "       hero-inspect --help | --version\n"
		   "-p is short for --public-key.\n"
		   "Exit: 0 ok, 1 failure, 2 usage, 3 archive damaged, forged or signed by an untrusted key.\n");
	exit(code);
}

static void parse(struct inspect_cli *c, int argc, char **argv)
{
	enum { O_JSON = 256, O_TRUSTDIR, O_VERSION, O_IDENTITY, O_IDPASS, O_PASSFILE, O_CHAIN };
	static const struct option opts[] = {
		{ "chain", no_argument, NULL, O_CHAIN },
		{ "help", no_argument, NULL, 'h' },
		{ "identity", required_argument, NULL, O_IDENTITY },
		{ "identity-passphrase-file", required_argument, NULL, O_IDPASS },
		{ "json", no_argument, NULL, O_JSON },
		{ "list", no_argument, NULL, 'l' },
		{ "passphrase-file", required_argument, NULL, O_PASSFILE },
		{ "public-key", required_argument, NULL, 'p' },
		{ "trusted-keys", required_argument, NULL, O_TRUSTDIR },
		{ "verify", no_argument, NULL, 'V' },
		{ "version", no_argument, NULL, O_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "hlp:V", opts, NULL)) != -1) {
		switch (ch) {
		case 'h': usage(0);
		case 'l': c->list = 1; break;
		case 'p': hero_strlist_push(&c->pubs, optarg); break;
		case 'V': c->verify = 1; break;
		case O_CHAIN: c->chain = 1; break;
		case O_JSON: c->json = 1; break;
		case O_IDENTITY: c->identity = optarg; break;
		case O_IDPASS: c->idpass = optarg; break;
		case O_PASSFILE: c->passfile = optarg; break;
		case O_TRUSTDIR: c->trustdir = optarg; break;
		case O_VERSION: printf("hero-inspect %s\n", HERO_VERSION); exit(0);
		default: usage(HERO_EUSAGE);
		}
	}
	if (c->chain) {
		if (argc - optind < 1)
			fe_die(HERO_EUSAGE, "--chain needs a directory or the archives of a chain, base first");
		if (c->list)
			fe_die(HERO_EUSAGE, "can't combine --chain and --list (inspect one link with --list)");
		for (int i = optind; i < argc; i++)
			hero_strlist_push(&c->inputs, argv[i]);
		return;
	}
	if (argc - optind != 1)
		fe_die(HERO_EUSAGE, "give exactly one archive (FILE, or - for stdin)");
	c->input = argv[optind];
}

/* The string K of O, escaped for the terminal (fe_q): the manifest is printed
 * before anything is verified, so every byte of it may be hostile. */
static const char *jstr(json_t *o, const char *k)
{
	return fe_q(json_string_value(json_object_get(o, k)));
}

static void print_list(json_t *arr, const char *label)
{
	size_t i;
	json_t *v;
	printf("%s", label);
	json_array_foreach(arr, i, v)
		printf("%s%s", i ? ", " : "", fe_q(json_string_value(v)));
	if (!json_array_size(arr))
		printf("-");
}

static void print_manifest(json_t *m, const char *signer, const char *status)
{
	printf("archive    %s\n", jstr(m, "archive_id"));
	printf("format     %s %s (%s)\n", jstr(m, "format"), jstr(m, "format_version"), jstr(m, "tool"));
	printf("created    %s\n", jstr(m, "created"));
	printf("instance   %s\n", jstr(m, "instance_id"));
	json_t *scope = json_object_get(m, "scope");
	printf("scope      %s", jstr(scope, "kind"));
	if (json_array_size(json_object_get(scope, "services")))
		print_list(json_object_get(scope, "services"), " services: ");
	if (json_array_size(json_object_get(scope, "contexts")))
		print_list(json_object_get(scope, "contexts"), " contexts: ");
	printf("\nparent     %s\n", json_is_string(json_object_get(m, "parent")) ? jstr(m, "parent") : "none");
	printf("encrypted  %s\n", json_is_true(json_object_get(m, "encrypted")) ? "yes" : "no");
	printf("signed by  %s (%s)\n", signer, status);
	printf("services:\n");
	json_t *s;
	size_t i;
	json_array_foreach(json_object_get(m, "services"), i, s)
	{
		char sz[32];
		printf("  %-14s %-8s schema %-3lld %-13s %5lld entries %10s", jstr(s, "name"), jstr(s, "version"),
		       json_integer_value(json_object_get(s, "schema")), jstr(s, "class"),
		       json_integer_value(json_object_get(s, "entries")),
		       fe_size((unsigned long long)json_integer_value(json_object_get(s, "bytes")), sz, sizeof sz));
		print_list(json_object_get(s, "contexts"), "  contexts: ");
		print_list(json_object_get(s, "secrets"), "  secrets: ");
		printf("\n");
	}
	if (json_array_size(json_object_get(m, "skipped"))) {
		printf("skipped:\n");
		json_array_foreach(json_object_get(m, "skipped"), i, s)
			printf("  %-14s %-40s %s\n", jstr(s, "service"), jstr(s, "path"),
			       fe_qt(json_string_value(json_object_get(s, "why"))));
	}
}

static void print_entries(json_t *index)
{
	json_t *e;
	size_t i;
	json_array_foreach(json_object_get(index, "entries"), i, e)
	{
		json_t *sz = json_object_get(e, "size");
		int same = json_is_true(json_object_get(e, "unchanged"));
		printf("%-7s %12lld  %-13s %s%s\n", jstr(e, "type"), sz ? json_integer_value(sz) : 0LL, jstr(e, "service"),
		       jstr(e, "path"), same ? "  (unchanged)" : "");
	}
}

/* Read the archive file PATH through with TRUST; 0 when every byte verified. */
static int verify_file(const char *path, const struct hero_trust *trust, struct hero_error *err)
{
	struct hero_areader *r = NULL;
	struct hero_aentry e;
	int ret, fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot open archive '%s'", path);
	struct hero_areader_opts ro = { trust, NULL, NULL, NULL };
	if ((ret = hero_areader_new2(&r, fd, &ro, err)) == 0)
		while ((ret = hero_areader_next(r, &e, err)) == 1)
			;
	hero_areader_free(r);
	close(fd);
	return ret;
}

static void chain_json(const struct hero_chain *ch, const char *const *status, int ok)
{
	json_t *links = json_array();
	for (size_t i = 0; i < ch->n; i++) {
		const struct hero_link *l = &ch->v[i];
		json_array_append_new(links, json_pack("{s:s, s:s, s:o, s:s, s:s, s:I, s:s, s:s}", "path", l->path,
						       "archive_id", l->id, "parent",
						       l->parent[0] ? json_string(l->parent) : json_null(), "created",
						       l->created_text, "kind", l->parent[0] ? "incremental" : "full", "bytes",
						       (json_int_t)l->bytes, "scope", l->scope, "link", status[i]));
	}
	json_t *out = json_pack("{s:b, s:o}", "ok", ok, "links", links);
	json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	printf("\n");
	json_decref(out);
}

/* --chain: the links of a chain (a directory resolves to the chain ending at
 * its newest archive), whether each is the child of the one before, and
 * with --verify whether each verifies. Exit 3 when a link is broken. */
static int show_chain(const struct inspect_cli *c, const struct hero_trust *trust)
{
	struct hero_chain ch = HERO_CHAIN_INIT;
	struct hero_error err = HERO_ERROR_INIT, cerr = HERO_ERROR_INIT;
	if (hero_chain_from_args(&c->inputs, &ch, &err) < 0)
		return fe_report(&err);
	size_t bad = ch.n;
	int ok = hero_chain_check(&ch, &bad, &cerr) == 0, code = 0;
	const char **status = calloc(ch.n, sizeof *status);
	for (size_t i = 0; status && i < ch.n; i++) {
		status[i] = !ok && i == bad ? "broken" : !ok && i > bad ? "unchecked" : "ok";
		if (c->verify && strcmp(status[i], "unchecked") != 0) {
			struct hero_error verr = HERO_ERROR_INIT;
			if (verify_file(ch.v[i].path, trust, &verr) == 0) {
				status[i] = !strcmp(status[i], "ok") ? "ok, verified" : status[i];
			} else {
				status[i] = "damaged";
				if (!code)
					code = fe_die_soft(verr.code, "'%s': %s", fe_q(ch.v[i].path), verr.msg);
			}
		}
	}
	if (!status)
		fe_die(HERO_EFAIL, "out of memory");
	if (c->json) {
		chain_json(&ch, status, ok && !code);
	} else if (ch.n) {
		printf("chain      %zu archive%s, instance %s, scope %s\n", ch.n, ch.n == 1 ? "" : "s",
		       fe_q(ch.v[0].instance_id), fe_q(ch.v[0].scope));
		for (size_t i = 0; i < ch.n; i++) {
			const struct hero_link *l = &ch.v[i];
			char sz[32];
			printf("%4zu  %s  %-20s  %-11s %10s  %s  %s%s%.8s\n", i + 1, l->id, fe_q(l->created_text),
			       l->parent[0] ? "incremental" : "full", fe_size(l->bytes, sz, sizeof sz), fe_q(l->path),
			       status[i], l->parent[0] ? ", parent " : "", l->parent);
		}
	}
	if (!ok && !code)
		code = fe_report(&cerr);
	free(status);
	hero_chain_release(&ch);
	return code;
}

/* An encrypted archive and no key: what can be said without the plaintext. */
static int show_sealed(struct hero_areader *r, const struct inspect_cli *c, const char *keyid)
{
	struct hero_error err = HERO_ERROR_INIT;
	unsigned recipients;
	int pass;
	uint64_t chunks = 0;
	hero_areader_sealed(r, &recipients, &pass);
	const struct hero_header *h = hero_areader_header(r);
	char id[2 * HERO_ID_BYTES + 1];
	hero_hex(h->archive_id, HERO_ID_BYTES, id);
	int ret = hero_areader_verify_sealed(r, &chunks, &err);
	if (ret < 0)
		return fe_report(&err);
	struct hero_archive_stats st;
	hero_areader_stats(r, &st);
	const char *status = c->verify ? "signature verified" : "not verified (use --verify)";
	if (c->json) {
		printf("{\"archive_id\":\"%s\",\"encrypted\":true,\"recipients\":%u,\"passphrase\":%s,"
		       "\"signer\":\"%s\",\"verified\":%s,\"chunks\":%llu,\"archive_bytes\":%llu,\"created\":%llu}\n",
		       id, recipients, pass ? "true" : "false", keyid, c->verify ? "true" : "false",
		       (unsigned long long)chunks, (unsigned long long)st.archive_bytes, (unsigned long long)h->created);
		return 0;
	}
	char sz[32];
	printf("archive    %s\n", id);
	printf("encrypted  yes, %s (give --identity or --passphrase-file to see the manifest)\n",
	       pass ? "to a passphrase" : recipients == 1 ? "to 1 recipient" : "to several recipients");
	if (!pass)
		printf("recipients %u\n", recipients);
	printf("signed by  %s (%s)\n", keyid, status);
	printf("size       %s in %llu chunks\n", fe_size(st.archive_bytes, sz, sizeof sz), (unsigned long long)chunks);
	return 0;
}

/* Read every entry; returns 0 when the whole stream verified. */
static int read_all(struct hero_areader *r, struct hero_error *err)
{
	struct hero_aentry e;
	int ret;
	while ((ret = hero_areader_next(r, &e, err)) == 1)
		;
	return ret;
}

int main(int argc, char **argv)
{
	fe_init(argv[0]);
	struct inspect_cli c = { 0 };
	parse(&c, argc, argv);
	struct hero_error err = HERO_ERROR_INIT;
	if (hero_crypto_init(&err) < 0)
		return fe_report(&err);
	struct hero_trust trust = HERO_TRUST_INIT;
	if (c.verify)
		fe_load_trust(&trust, &c.pubs, c.trustdir);
	if (c.verify && !trust.n)
		fe_die(HERO_EUSAGE, "--verify needs a trusted public key: give -p PUBKEY or --trusted-keys DIR");
	if (c.chain) {
		int code = show_chain(&c, &trust);
		hero_trust_release(&trust);
		hero_strlist_release(&c.pubs);
		hero_strlist_release(&c.inputs);
		return code;
	}
	struct hero_seckey *identity;
	char *pass;
	fe_decrypt_keys(c.identity, c.idpass, c.passfile, &identity, &pass);
	int fd = strcmp(c.input, "-") ? open(c.input, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
	if (fd < 0)
		fe_die(HERO_EFAIL, "cannot open archive '%s': %s", c.input, strerror(errno));
	struct hero_areader *r = NULL;
	json_t *m = NULL, *index = NULL;
	const char *text;
	size_t len;
	int code = 0;
	struct hero_areader_opts ro = { c.verify ? &trust : NULL, NULL, identity, pass };
	char keyid[17];
	if (hero_areader_new2(&r, fd, &ro, &err) < 0) {
		code = fe_report(&err);
		goto out;
	}
	hero_keyid_hex(hero_areader_header(r)->keyid, keyid);
	if (hero_areader_sealed(r, NULL, NULL)) {
		code = show_sealed(r, &c, keyid);
		goto out;
	}
	if (hero_areader_manifest(r, &text, &len, &err) < 0) {
		code = fe_report(&err);
		goto out;
	}
	json_error_t je;
	if (!(m = json_loadb(text, len, 0, &je))) {
		code = fe_die_soft(HERO_EINTEGRITY, "archive damaged: manifest is not valid JSON");
		goto out;
	}
	if ((c.verify || c.list) && read_all(r, &err) < 0) {
		code = fe_report(&err);
		goto out;
	}
	if (c.list)
		index = json_loads(hero_areader_index(r), 0, &je);
	const char *status = c.verify ? "signature and every entry verified" : "not verified (use --verify)";
	if (c.json) {
		json_t *out = json_object();
		json_object_set(out, "manifest", m);
		json_object_set_new(out, "signer", json_string(keyid));
		json_object_set_new(out, "verified", json_boolean(c.verify));
		if (index)
			json_object_set(out, "entries", json_object_get(index, "entries"));
		json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		printf("\n");
		json_decref(out);
	} else {
		print_manifest(m, keyid, status);
		if (index)
			print_entries(index);
	}
out:
	json_decref(m);
	json_decref(index);
	hero_areader_free(r);
	if (fd != STDIN_FILENO)
		close(fd);
	hero_trust_release(&trust);
	hero_seckey_free(identity);
	fe_passphrase_free(pass);
	hero_strlist_release(&c.pubs);
	return code;
}
