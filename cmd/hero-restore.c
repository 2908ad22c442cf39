/* hero-restore - verify an archive, then restore it atomically into an instance root. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "hero/incremental.h"
#include "hero/restore.h"

struct restore_cli {
	const char *root, *manifests, *trustdir, *input, *context, *as, *secrets_cmd, *identity, *idpass, *passfile;
	struct hero_strlist pubs, services, inputs;
	int dry_run, progress, json, allow_missing, hooks;
	struct hero_limits lim;
};

static _Noreturn void usage(int code)
{
	FILE *f = code ? stderr : stdout;
	fprintf(f, "usage: hero-restore -p PUBKEY [-p PUBKEY]... [--trusted-keys DIR] --root DIR\n"
		   "                    [--service NAME]... [--context NAME [--as NEWNAME]]\n"
		   "                    [--allow-missing-secrets] [--secrets-command CMD] [--hooks]\n"
		   "                    [--identity FILE [--identity-passphrase-file F]] [--passphrase-file FILE]\n"
		   "                    [--manifests DIR] [--dry-run] [--json] [--quiet|--progress]\n"
		   "                    [--max-entries N] [--max-file-size N] [--max-total-size N]\n"
		   "                    [--max-path-length N] [--max-ratio N]\n"
		   "                    FILE|-|DIR|BASE INCREMENT...\n"
		   "       hero-restore --help | --version\n"
		   "-p is short for --public-key.\n"
		   "Exit: 0 ok, 1 failure, 2 usage, 3 archive damaged/untrusted/unsafe, 4 schema newer than\n"
		   "the target, 5 busy, 6 missing secrets, 7 key conflict. See hero-restore(1).\n");
	exit(code);
}

/* Lines of the library name services, contexts and paths of the archive:
 * escaped for the terminal as a whole (fe_say). */
static void say_cb(void *ctx, const char *line)
{
	FILE *f = ctx;
	fe_say(f, f == stderr ? "hero-restore: " : "", line);
}

static void progress_cb(void *ctx, uint64_t bytes)
{
	(void)ctx;
	static time_t last;
	time_t now = time(NULL);
	if (now != last) {
		last = now;
		fe_progress_line("hero-restore", bytes, 0, 0);
	}
}

static unsigned long long parse_num(const char *s, const char *opt)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-')
		fe_die(HERO_EUSAGE, "%s needs a positive number, not '%s'", opt, s);
	return v;
}

static uint32_t parse_u32(const char *s, const char *opt)
{
	unsigned long long v = parse_num(s, opt);
	if (v == 0 || v > UINT32_MAX)
		fe_die(HERO_EUSAGE, "%s needs a number from 1 to %u, not '%s'", opt, UINT32_MAX, s);
	return (uint32_t)v;
}

static void parse(struct restore_cli *c, int argc, char **argv)
{
	enum { O_ALLOW = 256, O_AS, O_CONTEXT, O_HOOKS, O_IDENTITY, O_IDPASS, O_PASSFILE, O_SECCMD, O_SERVICE, O_DRY, O_JSON, O_MANIFESTS, O_MAXENT, O_MAXFILE, O_MAXTOTAL, O_MAXPATH, O_MAXRATIO, O_PROGRESS, O_ROOT, O_TRUSTDIR,
	       O_VERSION };
	static const struct option opts[] = {
		{ "allow-missing-secrets", no_argument, NULL, O_ALLOW },
		{ "as", required_argument, NULL, O_AS },
		{ "context", required_argument, NULL, O_CONTEXT },
		{ "dry-run", no_argument, NULL, O_DRY },
		{ "help", no_argument, NULL, 'h' },
		{ "hooks", no_argument, NULL, O_HOOKS },
		{ "identity", required_argument, NULL, O_IDENTITY },
		{ "identity-passphrase-file", required_argument, NULL, O_IDPASS },
		{ "json", no_argument, NULL, O_JSON },
		{ "manifests", required_argument, NULL, O_MANIFESTS },
		{ "max-entries", required_argument, NULL, O_MAXENT },
		{ "max-file-size", required_argument, NULL, O_MAXFILE },
		{ "max-path-length", required_argument, NULL, O_MAXPATH },
		{ "max-ratio", required_argument, NULL, O_MAXRATIO },
		{ "max-total-size", required_argument, NULL, O_MAXTOTAL },
		{ "passphrase-file", required_argument, NULL, O_PASSFILE },
		{ "progress", no_argument, NULL, O_PROGRESS },
		{ "public-key", required_argument, NULL, 'p' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "root", required_argument, NULL, O_ROOT },
		{ "secrets-command", required_argument, NULL, O_SECCMD },
		{ "service", required_argument, NULL, O_SERVICE },
		{ "trusted-keys", required_argument, NULL, O_TRUSTDIR },
		{ "version", no_argument, NULL, O_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	hero_limits_default(&c->lim);
	while ((ch = getopt_long(argc, argv, "hp:q", opts, NULL)) != -1) {
		switch (ch) {
		case 'h': usage(0);
		case 'p': hero_strlist_push(&c->pubs, optarg); break;
		case 'q': c->progress = -1; break;
		case O_ALLOW: c->allow_missing = 1; break;
		case O_AS: c->as = optarg; break;
		case O_CONTEXT: c->context = optarg; break;
		case O_HOOKS: c->hooks = 1; break;
		case O_IDENTITY: c->identity = optarg; break;
		case O_IDPASS: c->idpass = optarg; break;
		case O_PASSFILE: c->passfile = optarg; break;
		case O_SECCMD: c->secrets_cmd = optarg; break;
		case O_SERVICE: hero_strlist_push(&c->services, optarg); break;
		case O_DRY: c->dry_run = 1; break;
		case O_JSON: c->json = 1; break;
		case O_MANIFESTS: c->manifests = optarg; break;
		case O_MAXENT: c->lim.max_entries = parse_num(optarg, "--max-entries"); break;
		case O_MAXFILE: c->lim.max_file_bytes = parse_num(optarg, "--max-file-size"); break;
		case O_MAXTOTAL: c->lim.max_total_bytes = parse_num(optarg, "--max-total-size"); break;
		case O_MAXPATH: c->lim.max_path = parse_u32(optarg, "--max-path-length"); break;
		case O_MAXRATIO: c->lim.max_ratio = parse_u32(optarg, "--max-ratio"); break;
		case O_PROGRESS: c->progress = 1; break;
		case O_ROOT: c->root = optarg; break;
		case O_TRUSTDIR: c->trustdir = optarg; break;
		case O_VERSION: printf("hero-restore %s\n", HERO_VERSION); exit(0);
		default: usage(HERO_EUSAGE);
		}
	}
	if (argc - optind < 1)
		fe_die(HERO_EUSAGE, "give an archive (FILE, or - for stdin), a chain (BASE INCREMENT...) or its directory");
	c->input = argv[optind];
	for (int i = optind; i < argc; i++) {
		if (!strcmp(argv[i], "-") && argc - optind > 1)
			fe_die(HERO_EUSAGE, "stdin (-) carries one archive: a chain is given as files or a directory");
		hero_strlist_push(&c->inputs, argv[i]);
	}
	if (c->as && !c->context)
		fe_die(HERO_EUSAGE, "--as needs --context");
	if (c->context && !hero_context_valid(c->context))
		fe_die(HERO_EUSAGE, "invalid context name '%.80s'", c->context);
	if (c->as && !hero_context_valid(c->as))
		fe_die(HERO_EUSAGE, "invalid context name '%.80s'", c->as);
}

static int is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The instance id of ROOT if it has one (32 hex digits into ID), else 0. */
static int root_instance(const char *root, char id[HERO_ID_HEX])
{
	char path[4096], line[64] = "";
	int n = snprintf(path, sizeof path, "%s/.hero/instance-id", root);
	FILE *f = n > 0 && (size_t)n < sizeof path ? fopen(path, "r") : NULL;
	int ok = f && fgets(line, sizeof line, f) && strspn(line, "0123456789abcdef") == HERO_ID_HEX - 1;
	if (f)
		fclose(f);
	if (ok)
		snprintf(id, HERO_ID_HEX, "%.32s", line);
	return ok;
}

/* The archive files to read: the files given, in their order, or the chain
 * ending at the newest archive of the one directory given; of ROOT's own
 * instance when ROOT has an instance id and the directory holds its archives. */
static void resolve_chain(const struct hero_strlist *inputs, const char *root, struct hero_strlist *out)
{
	if (!(inputs->n == 1 && is_dir(inputs->v[0]))) {
		for (size_t i = 0; i < inputs->n; i++)
			hero_strlist_push(out, inputs->v[i]);
		return;
	}
	struct hero_chain c = HERO_CHAIN_INIT;
	struct hero_error err = HERO_ERROR_INIT;
	char id[HERO_ID_HEX];
	if (root_instance(root, id) && hero_dir_chain_for(inputs->v[0], id, NULL, NULL, &c, &err) < 0)
		exit(fe_report(&err));
	if (!c.n && hero_chain_from_args(inputs, &c, &err) < 0)
		exit(fe_report(&err));
	for (size_t i = 0; i < c.n; i++)
		hero_strlist_push(out, c.v[i].path);
	hero_chain_release(&c);
}

/* Refuse roots a restore must never touch, before any archive byte is read. */
static void check_root(const char *root)
{
	if (!*root)
		fe_die(HERO_EUSAGE, "empty instance root");
	if (root[0] != '/')
		fe_die(HERO_EUSAGE, "instance root '%s' must be an absolute path", root);
	if (strspn(root, "/") == strlen(root))
		fe_die(HERO_EUSAGE, "refusing to restore over '/'");
	if (strstr(root, "/../") || strstr(root, "/./") || (strlen(root) >= 3 && !strcmp(root + strlen(root) - 3, "/..")) ||
	    (strlen(root) >= 2 && !strcmp(root + strlen(root) - 2, "/.")))
		fe_die(HERO_EUSAGE, "instance root '%s' must not contain '.' or '..' components", root);
	for (const char *p = root; *p; p++)
		if ((unsigned char)*p < 0x20)
			fe_die(HERO_EUSAGE, "instance root contains a control character");
}

int main(int argc, char **argv)
{
	fe_init(argv[0]);
	struct restore_cli c = { 0 };
	parse(&c, argc, argv);
	struct hero_error err = HERO_ERROR_INIT;
	if (hero_crypto_init(&err) < 0)
		return fe_report(&err);
	char *root = fe_root(c.root), *mdir = fe_manifests(c.manifests);
	check_root(root);
	struct hero_trust trust = HERO_TRUST_INIT;
	fe_load_trust(&trust, &c.pubs, c.trustdir);
	struct hero_inventory inv = HERO_INVENTORY_INIT;
	/* the target's manifests are the other half of the compatibility contract */
	fe_load_inventory(&inv, mdir);
	struct hero_seckey *identity;
	char *pass;
	fe_decrypt_keys(c.identity, c.idpass, c.passfile, &identity, &pass);
	struct hero_strlist chain = { 0 };
	int fd = -1;
	if (!strcmp(c.input, "-"))
		fd = STDIN_FILENO;
	else if (c.inputs.n == 1 && !is_dir(c.input) && (fd = open(c.input, O_RDONLY | O_CLOEXEC)) < 0)
		fe_die(HERO_EFAIL, "cannot open archive '%s': %s", c.input, strerror(errno));
	else if (fd < 0)
		resolve_chain(&c.inputs, root, &chain);
	int show = fe_progress_enabled(c.progress);
	struct hero_restore_opts o = { .root = root, .inv = &inv, .trust = &trust, .in_fd = fd,
				       .chain = fd < 0 ? &chain : NULL,
				       .limits = &c.lim, .dry_run = c.dry_run, .services = &c.services,
				       .context = c.context, .as = c.as, .allow_missing_secrets = c.allow_missing,
				       .secrets_command = c.secrets_cmd, .hooks = c.hooks, .identity = identity,
				       .passphrase = pass, .say = say_cb,
				       .say_ctx = c.dry_run ? stdout : stderr,
				       .progress = show ? progress_cb : NULL };
	struct hero_restore_result res;
	int ret = hero_restore(&o, &res, &err), code = 0;
	if (show)
		fputc('\n', stderr);
	if (ret < 0) {
		code = fe_report(&err);
	} else if (c.json) {
		printf("{\"archive_id\":\"%s\",\"links\":%llu,\"dry_run\":%s,\"entries\":%llu,\"files\":%llu,\"bytes\":%llu,"
		       "\"databases_checked\":%llu,\"kept\":%llu,\"rows\":%llu,\"migrations\":%llu,\"recovered\":%s}\n",
		       res.archive_id, (unsigned long long)res.links, c.dry_run ? "true" : "false", (unsigned long long)res.st.entries,
		       (unsigned long long)res.st.files, (unsigned long long)res.st.data_bytes,
		       (unsigned long long)res.databases_checked, (unsigned long long)res.kept,
		       (unsigned long long)res.rows, (unsigned long long)res.migrations, res.recovered ? "true" : "false");
	} else if (c.progress >= 0 && !c.dry_run) {
		char a[32];
		char links[64] = "";
		if (res.links > 1)
			snprintf(links, sizeof links, " (chain of %llu archives)", (unsigned long long)res.links);
		fprintf(stderr, "hero-restore: archive %s%s restored into '%s': %llu entries, %s, %llu databases checked, %llu paths kept\n",
			res.archive_id, links, root, (unsigned long long)res.st.entries, fe_size(res.st.data_bytes, a, sizeof a),
			(unsigned long long)res.databases_checked, (unsigned long long)res.kept);
	}
	if (res.recovered && c.progress >= 0)
		fe_warn("finished or rolled back an interrupted earlier restore of '%s'", root);
	if (fd > STDIN_FILENO)
		close(fd);
	hero_strlist_release(&chain);
	hero_strlist_release(&c.inputs);
	hero_trust_release(&trust);
	hero_seckey_free(identity);
	fe_passphrase_free(pass);
	hero_inventory_release(&inv);
	hero_strlist_release(&c.pubs);
	hero_strlist_release(&c.services);
	free(root);
	free(mdir);
	return code;
}
