/* hero-snap - archive a Hero instance; make signing keys. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "hero/snapshot.h"

struct snap_cli {
	const char *seckey, *output, *root, *manifests, *passfile, *tmpdir, *enc_passfile;
	struct hero_strlist services, contexts, recipients;
	int level, threads, progress, json, hooks;
};

static _Noreturn void usage(int code)
{
	FILE *f = code ? stderr : stdout;
	fprintf(f, "usage: hero-snap -s SECKEY -o FILE|- [--service NAME]... [--context NAME]...\n"
		   "                 [--root DIR] [--manifests DIR] [--passphrase-file FILE]\n"
		   "                 [--level N] [--threads N] [--tmpdir DIR] [--hooks] [--json] [--quiet|--progress]\n"
		   "                 [--encrypt-to RECIPIENT.pub]... [--encrypt-passphrase-file FILE]\n"
		   "       hero-snap keygen [--encryption] -s SECKEY -p PUBKEY [--passphrase-file FILE | --no-passphrase] [--force]\n"
		   "Exit: 0 ok, 1 failure, 2 usage, 5 instance busy. See hero-snap(1).\n");
	exit(code);
}

static void progress_cb(void *ctx, uint64_t done, uint64_t total)
{
	(void)ctx;
	static time_t last;
	time_t now = time(NULL);
	if (now != last || done == total) {
		last = now;
		fe_progress_line("hero-snap", done, total, 0);
	}
}

static int open_output(const char *path, char **tmp)
{
	*tmp = NULL;
	if (!strcmp(path, "-")) {
		if (isatty(STDOUT_FILENO))
			fe_die(HERO_EUSAGE, "refusing to write an archive to a terminal (use -o FILE)");
		return STDOUT_FILENO;
	}
	size_t n = strlen(path) + 16;
	*tmp = malloc(n);
	if (!*tmp)
		fe_die(HERO_EFAIL, "out of memory");
	snprintf(*tmp, n, "%s.tmp.XXXXXX", path);
	int fd = mkstemp(*tmp);
	if (fd < 0)
		fe_die(HERO_EFAIL, "cannot create '%s': %s", *tmp, strerror(errno));
	fchmod(fd, 0640);
	return fd;
}

/* Make the written file durable and give it its final name. */
static int close_output(int fd, const char *path, const char *tmp, int ok)
{
	if (!tmp)
		return ok ? 0 : -1;
	if (ok && fsync(fd) < 0) {
		fe_warn("cannot fsync '%s': %s", tmp, strerror(errno));
		ok = 0;
	}
	close(fd);
	if (ok && rename(tmp, path) < 0) {
		fe_warn("cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
		ok = 0;
	}
	if (!ok)
		unlink(tmp);
	return ok ? 0 : -1;
}

static void parse(struct snap_cli *c, int argc, char **argv)
{
	enum { O_CONTEXT = 256, O_ENCPASS, O_ENCTO, O_HOOKS, O_JSON, O_LEVEL, O_MANIFESTS, O_PASSFILE, O_PROGRESS, O_ROOT, O_SERVICE,
	       O_THREADS, O_TMPDIR, O_VERSION };
	static const struct option opts[] = {
		{ "context", required_argument, NULL, O_CONTEXT },
		{ "encrypt-passphrase-file", required_argument, NULL, O_ENCPASS },
		{ "encrypt-to", required_argument, NULL, O_ENCTO },
		{ "help", no_argument, NULL, 'h' },
		{ "hooks", no_argument, NULL, O_HOOKS },
		{ "json", no_argument, NULL, O_JSON },
		{ "level", required_argument, NULL, O_LEVEL },
		{ "manifests", required_argument, NULL, O_MANIFESTS },
		{ "output", required_argument, NULL, 'o' },
		{ "passphrase-file", required_argument, NULL, O_PASSFILE },
		{ "progress", no_argument, NULL, O_PROGRESS },
		{ "quiet", no_argument, NULL, 'q' },
		{ "root", required_argument, NULL, O_ROOT },
		{ "secret-key", required_argument, NULL, 's' },
		{ "service", required_argument, NULL, O_SERVICE },
		{ "threads", required_argument, NULL, O_THREADS },
		{ "tmpdir", required_argument, NULL, O_TMPDIR },
		{ "version", no_argument, NULL, O_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "ho:qs:", opts, NULL)) != -1) {
		switch (ch) {
		case 'h': usage(0);
		case 'o': c->output = optarg; break;
		case 'q': c->progress = -1; break;
		case 's': c->seckey = optarg; break;
		case O_CONTEXT: hero_strlist_push(&c->contexts, optarg); break;
		case O_ENCPASS: c->enc_passfile = optarg; break;
		case O_ENCTO: hero_strlist_push(&c->recipients, optarg); break;
		case O_HOOKS: c->hooks = 1; break;
		case O_JSON: c->json = 1; break;
		case O_LEVEL: c->level = atoi(optarg); break;
		case O_MANIFESTS: c->manifests = optarg; break;
		case O_PASSFILE: c->passfile = optarg; break;
		case O_PROGRESS: c->progress = 1; break;
		case O_ROOT: c->root = optarg; break;
		case O_SERVICE: hero_strlist_push(&c->services, optarg); break;
		case O_THREADS: c->threads = atoi(optarg); break;
		case O_TMPDIR: c->tmpdir = optarg; break;
		case O_VERSION: printf("hero-snap %s\n", HERO_VERSION); exit(0);
		default: usage(HERO_EUSAGE);
		}
	}
	if (optind != argc)
		fe_die(HERO_EUSAGE, "unexpected argument '%s' (see --help)", argv[optind]);
	if (!c->seckey && !(c->seckey = getenv("HERO_SECKEY")))
		fe_die(HERO_EUSAGE, "no signing key: give -s SECKEY");
	if (!c->output)
		fe_die(HERO_EUSAGE, "no output: give -o FILE or -o - for stdout");
	if (c->json && !strcmp(c->output, "-"))
		fe_die(HERO_EUSAGE, "can't combine --json with -o - (stdout carries the archive)");
	if (c->recipients.n && c->enc_passfile)
		fe_die(HERO_EUSAGE, "can't combine --encrypt-to and --encrypt-passphrase-file");
	if (c->level < 0 || c->level > 19)
		fe_die(HERO_EUSAGE, "--level must be between 1 and 19");
}

static struct hero_seckey *load_key(const char *path, const char *passfile)
{
	struct hero_error err = HERO_ERROR_INIT;
	struct hero_seckey *sk = NULL;
	int prot = hero_seckey_is_protected(path, &err);
	if (prot < 0)
		exit(fe_report(&err));
	char *pass = prot ? fe_passphrase(passfile, "Passphrase for secret key: ", 0) : NULL;
	if (prot && !pass)
		exit(HERO_EFAIL);
	int ret = hero_seckey_load(&sk, path, pass, &err);
	fe_passphrase_free(pass);
	if (ret < 0)
		exit(fe_report(&err));
	return sk;
}

static void report(const struct snap_cli *c, const struct hero_snap_result *res)
{
	char a[32], b[32];
	if (c->json) {
		printf("{\"archive_id\":\"%s\",\"entries\":%llu,\"files\":%llu,\"data_bytes\":%llu,"
		       "\"archive_bytes\":%llu,\"skipped\":%llu}\n",
		       res->archive_id, (unsigned long long)res->st.entries, (unsigned long long)res->st.files,
		       (unsigned long long)res->st.data_bytes, (unsigned long long)res->st.archive_bytes,
		       (unsigned long long)res->skipped);
		return;
	}
	if (c->progress < 0)
		return;
	fprintf(stderr, "hero-snap: archive %s: %llu entries (%llu files), %s of state -> %s archive\n",
		res->archive_id, (unsigned long long)res->st.entries, (unsigned long long)res->st.files,
		fe_size(res->st.data_bytes, a, sizeof a), fe_size(res->st.archive_bytes, b, sizeof b));
}

static int cmd_snapshot(int argc, char **argv)
{
	struct snap_cli c = { 0 };
	parse(&c, argc, argv);
	struct hero_error err = HERO_ERROR_INIT;
	struct hero_inventory inv = HERO_INVENTORY_INIT;
	char *root = fe_root(c.root), *mdir = fe_manifests(c.manifests);
	fe_load_inventory(&inv, mdir);
	struct hero_seckey *sk = load_key(c.seckey, c.passfile);
	struct hero_pubkey *rcpt = calloc(c.recipients.n + 1, sizeof *rcpt);
	for (size_t i = 0; rcpt && i < c.recipients.n; i++)
		if (hero_recipient_load(&rcpt[i], c.recipients.v[i], &err) < 0)
			exit(fe_report(&err));
	char *encpass = NULL;
	if (c.enc_passfile && !(encpass = fe_passphrase(c.enc_passfile, "", 0)))
		exit(HERO_EUSAGE);
	char *tmp;
	int fd = open_output(c.output, &tmp);
	int show = fe_progress_enabled(c.progress);
	struct hero_snap_opts o = { .root = root, .inv = &inv, .sk = sk, .out_fd = fd, .services = &c.services,
				    .contexts = &c.contexts, .level = c.level, .threads = c.threads,
				    .tmpdir = c.tmpdir, .hooks = c.hooks, .recipients = rcpt,
				    .n_recipients = c.recipients.n, .passphrase = encpass, .progress = show ? progress_cb : NULL };
	struct hero_snap_result res;
	int ret = hero_snapshot(&o, &res, &err);
	if (show)
		fputc('\n', stderr);
	int code = 0;
	if (close_output(fd, c.output, tmp, ret == 0) < 0 && ret == 0)
		code = HERO_EFAIL;
	if (ret < 0)
		code = fe_report(&err);
	else if (!code)
		report(&c, &res);
	hero_seckey_free(sk);
	free(rcpt);
	fe_passphrase_free(encpass);
	hero_strlist_release(&c.recipients);
	hero_inventory_release(&inv);
	hero_strlist_release(&c.services);
	hero_strlist_release(&c.contexts);
	free(tmp);
	free(root);
	free(mdir);
	return code;
}

static int cmd_keygen(int argc, char **argv)
{
	const char *sec = NULL, *pub = NULL, *passfile = NULL;
	int nopass = 0, force = 0, enc = 0, ch;
	static const struct option opts[] = {
		{ "encryption", no_argument, NULL, 'e' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ "no-passphrase", no_argument, NULL, 'W' },
		{ "passphrase-file", required_argument, NULL, 'P' },
		{ "public-key", required_argument, NULL, 'p' },
		{ "secret-key", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	while ((ch = getopt_long(argc, argv, "efhp:s:W", opts, NULL)) != -1) {
		switch (ch) {
		case 'e': enc = 1; break;
		case 'f': force = 1; break;
		case 'h': usage(0);
		case 'W': nopass = 1; break;
		case 'P': passfile = optarg; break;
		case 'p': pub = optarg; break;
		case 's': sec = optarg; break;
		default: usage(HERO_EUSAGE);
		}
	}
	if (!sec || !pub || optind != argc)
		fe_die(HERO_EUSAGE, "keygen needs -s SECKEY and -p PUBKEY");
	if (nopass && passfile)
		fe_die(HERO_EUSAGE, "can't combine --no-passphrase and --passphrase-file");
	char *pass = NULL;
	if (!nopass && !(pass = fe_passphrase(passfile, "Passphrase for the new secret key: ", 1)))
		fe_die(HERO_EUSAGE, "give --passphrase-file FILE, or --no-passphrase for an unprotected key");
	struct hero_error err = HERO_ERROR_INIT;
	struct hero_pubkey pk;
	int ret = enc ? hero_keygen_x25519(sec, pub, pass, force, &pk, &err)
		      : hero_keygen(sec, pub, pass, force, &pk, &err);
	fe_passphrase_free(pass);
	if (ret < 0)
		return fe_report(&err);
	char hex[17];
	hero_keyid_hex(pk.keyid, hex);
	fprintf(stderr, "hero-snap: key %s: %s '%s'%s, %s '%s'\n", hex, enc ? "identity" : "secret key", sec,
		nopass ? " (unprotected)" : "", enc ? "recipient key" : "public key", pub);
	return 0;
}

int main(int argc, char **argv)
{
	fe_init(argv[0]);
	signal(SIGPIPE, SIG_IGN);
	struct hero_error err = HERO_ERROR_INIT;
	if (hero_crypto_init(&err) < 0)
		return fe_report(&err);
	if (argc > 1 && !strcmp(argv[1], "keygen"))
		return cmd_keygen(argc - 1, argv + 1);
	return cmd_snapshot(argc, argv);
}
