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
#include "hero/atomic.h"
#include "hero/incremental.h"
#include "hero/metrics.h"
#include "hero/snapshot.h"

struct run_metrics;

static int keep_count(const char *s, const char *opt);

struct snap_cli {
	const char *seckey, *output, *root, *manifests, *passfile, *tmpdir, *enc_passfile;
	const char *parent, *metrics, *trustdir;
	struct hero_strlist services, contexts, recipients, pubs;
	int max_chain, verify_parent;
	int level, threads, progress, json, hooks, include_secrets;
	struct run_metrics *rm;
};

/* The metrics of one run, written when the process exits, whatever the exit
 * code (docs/cron.md). */
struct run_metrics {
	const char *path, *prefix;
	struct timespec start;
	struct hero_metric m[12];
	size_t n;
};

static void metric(struct run_metrics *rm, const char *name, const char *help, double v)
{
	if (!rm || rm->n >= sizeof rm->m / sizeof *rm->m)
		return;
	rm->m[rm->n++] = (struct hero_metric){ name, help, v };
}

static void metrics_at_exit(int status, void *arg)
{
	struct run_metrics *rm = arg;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	double t = (double)now.tv_sec + now.tv_nsec / 1e9;
	double t0 = (double)rm->start.tv_sec + rm->start.tv_nsec / 1e9;
	metric(rm, "duration_seconds", "How long the last run took.", t - t0);
	metric(rm, "exit_code", "Exit code of the last run (0 ok; see hero-snap(1)).", status);
	struct hero_error err = HERO_ERROR_INIT;
	if (hero_metrics_write(rm->path, rm->prefix, rm->m, rm->n, status == 0, t, &err) < 0)
		fe_warn("%s", err.msg);
	free(rm);
}

/* From here on, exiting writes the metrics file PATH (if set). */
static struct run_metrics *metrics_arm(const char *path, const char *prefix)
{
	if (!path)
		return NULL;
	struct run_metrics *rm = calloc(1, sizeof *rm);
	if (!rm)
		fe_die(HERO_EFAIL, "out of memory");
	rm->path = path;
	rm->prefix = prefix;
	clock_gettime(CLOCK_REALTIME, &rm->start);
	if (on_exit(metrics_at_exit, rm) != 0)
		fe_die(HERO_EFAIL, "cannot arrange for the metrics to be written");
	return rm;
}

static _Noreturn void usage(int code)
{
	FILE *f = code ? stderr : stdout;
	fprintf(f, "usage: hero-snap -s SECKEY -o FILE|- [--service NAME]... [--context NAME]...\n"
		   "                 [--root DIR] [--manifests DIR] [--passphrase-file FILE]\n"
		   "                 [--level N] [--threads N] [--tmpdir DIR] [--hooks] [--json] [--quiet|--progress]\n"
		   "                 [--encrypt-to RECIPIENT.pub]... [--encrypt-passphrase-file FILE] [--include-secrets]\n"
		   "                 [--parent ARCHIVE|DIR [--max-chain N] [--verify-parent] [-p PUBKEY]...\n"
		   "                 [--trusted-keys DIR]]\n"
		   "                 [--metrics FILE]\n"
		   "       hero-snap prune DIR [--keep-daily N] [--keep-weekly N] [--keep-monthly N]\n"
		   "                 [--dry-run] [--json] [--metrics FILE]\n"
		   "       hero-snap keygen [--encryption] -s SECKEY -p PUBKEY [--passphrase-file FILE | --no-passphrase] [--force]\n"
		   "       hero-snap --help | --version\n"
		   "-s, -p and -o are short for --secret-key, --public-key and --output.\n"
		   "Exit: 0 ok, 1 failure, 2 usage, 3 parent archive damaged or untrusted, 5 busy. See hero-snap(1).\n");
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

/* Open the archive's destination. A regular file (or a new name) is written
 * as PATH.tmp.XXXXXX and renamed into place when complete; a symbolic link is
 * followed, so the archive replaces its target, not the link; a device or a
 * FIFO (/dev/null, a tape, a pipe) is written as it is, never replaced
 * (hero_atomic_open with HERO_ATOMIC_FOLLOW). Standard output leaves OUT as
 * HERO_ATOMIC_INIT. */
static int open_output(const char *path, struct hero_atomic *out)
{
	*out = (struct hero_atomic)HERO_ATOMIC_INIT;
	if (!strcmp(path, "-")) {
		if (isatty(STDOUT_FILENO))
			fe_die(HERO_EUSAGE, "refusing to write an archive to a terminal (use -o FILE)");
		return STDOUT_FILENO;
	}
	struct stat st;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		fe_die(HERO_EUSAGE, "output '%s' is a directory", path);
	struct hero_error err = HERO_ERROR_INIT;
	if (hero_atomic_open(out, path, 0640, HERO_ATOMIC_FOLLOW | HERO_ATOMIC_EXACT | HERO_ATOMIC_SYNCDIR, &err) < 0)
		fe_die(HERO_EFAIL, "%s", err.msg);
	return out->fd;
}

/* Make the written file durable and give it its final name (the directory
 * fsync'd too: the new name must survive a crash); or, when not OK, remove it. */
static int close_output(struct hero_atomic *out, int ok)
{
	if (out->fd < 0) /* standard output */
		return ok ? 0 : -1;
	if (!ok) {
		hero_atomic_release(out);
		return -1;
	}
	struct hero_error err = HERO_ERROR_INIT;
	if (hero_atomic_commit(out, &err) < 0) {
		fe_warn("%s", err.msg);
		return -1;
	}
	return 0;
}

static void parse(struct snap_cli *c, int argc, char **argv)
{
	enum { O_CONTEXT = 256, O_ENCPASS, O_ENCTO, O_HOOKS, O_INCSECRETS, O_JSON, O_LEVEL, O_MANIFESTS, O_MAXCHAIN, O_METRICS,
	       O_PARENT, O_PASSFILE, O_PROGRESS, O_ROOT, O_SERVICE, O_THREADS, O_TMPDIR, O_TRUSTDIR, O_VERIFYPARENT,
	       O_VERSION };
	static const struct option opts[] = {
		{ "context", required_argument, NULL, O_CONTEXT },
		{ "encrypt-passphrase-file", required_argument, NULL, O_ENCPASS },
		{ "encrypt-to", required_argument, NULL, O_ENCTO },
		{ "help", no_argument, NULL, 'h' },
		{ "hooks", no_argument, NULL, O_HOOKS },
		{ "include-secrets", no_argument, NULL, O_INCSECRETS },
		{ "json", no_argument, NULL, O_JSON },
		{ "level", required_argument, NULL, O_LEVEL },
		{ "manifests", required_argument, NULL, O_MANIFESTS },
		{ "max-chain", required_argument, NULL, O_MAXCHAIN },
		{ "metrics", required_argument, NULL, O_METRICS },
		{ "output", required_argument, NULL, 'o' },
		{ "parent", required_argument, NULL, O_PARENT },
		{ "passphrase-file", required_argument, NULL, O_PASSFILE },
		{ "progress", no_argument, NULL, O_PROGRESS },
		{ "public-key", required_argument, NULL, 'p' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "root", required_argument, NULL, O_ROOT },
		{ "secret-key", required_argument, NULL, 's' },
		{ "service", required_argument, NULL, O_SERVICE },
		{ "threads", required_argument, NULL, O_THREADS },
		{ "tmpdir", required_argument, NULL, O_TMPDIR },
		{ "trusted-keys", required_argument, NULL, O_TRUSTDIR },
		{ "verify-parent", no_argument, NULL, O_VERIFYPARENT },
		{ "version", no_argument, NULL, O_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "ho:p:qs:", opts, NULL)) != -1) {
		switch (ch) {
		case 'h': usage(0);
		case 'o': c->output = optarg; break;
		case 'p': hero_strlist_push(&c->pubs, optarg); break;
		case 'q': c->progress = -1; break;
		case 's': c->seckey = optarg; break;
		case O_CONTEXT: hero_strlist_push(&c->contexts, optarg); break;
		case O_ENCPASS: c->enc_passfile = optarg; break;
		case O_ENCTO: hero_strlist_push(&c->recipients, optarg); break;
		case O_HOOKS: c->hooks = 1; break;
		case O_INCSECRETS: c->include_secrets = 1; break;
		case O_JSON: c->json = 1; break;
		case O_LEVEL: c->level = atoi(optarg); break;
		case O_MANIFESTS: c->manifests = optarg; break;
		case O_MAXCHAIN: c->max_chain = keep_count(optarg, "--max-chain"); break;
		case O_METRICS: c->metrics = optarg; break;
		case O_PARENT: c->parent = optarg; break;
		case O_PASSFILE: c->passfile = optarg; break;
		case O_PROGRESS: c->progress = 1; break;
		case O_ROOT: c->root = optarg; break;
		case O_SERVICE: hero_strlist_push(&c->services, optarg); break;
		case O_THREADS: c->threads = atoi(optarg); break;
		case O_TMPDIR: c->tmpdir = optarg; break;
		case O_TRUSTDIR: c->trustdir = optarg; break;
		case O_VERIFYPARENT: c->verify_parent = 1; break;
		case O_VERSION: printf("hero-snap %s\n", HERO_VERSION); exit(0);
		default: usage(HERO_EUSAGE);
		}
	}
	c->rm = metrics_arm(c->metrics, "hero_snap");
	if (optind != argc)
		fe_die(HERO_EUSAGE, "unexpected argument '%s' (see --help)", argv[optind]);
	if (!c->seckey && !(c->seckey = getenv("HERO_SECKEY")))
		fe_die(HERO_EUSAGE, "no signing key: give -s SECKEY");
	if (!c->output)
		fe_die(HERO_EUSAGE, "no output: give -o FILE or -o - for stdout");
	if (c->json && !strcmp(c->output, "-"))
		fe_die(HERO_EUSAGE, "can't combine --json with -o - (stdout carries the archive)");
	if (c->include_secrets && !c->recipients.n && !c->enc_passfile)
		fe_die(HERO_EUSAGE, "secret values travel only encrypted: --include-secrets needs --encrypt-to or --encrypt-passphrase-file");
	if (c->recipients.n && c->enc_passfile)
		fe_die(HERO_EUSAGE, "can't combine --encrypt-to and --encrypt-passphrase-file");
	if ((c->pubs.n || c->trustdir) && !c->parent)
		fe_die(HERO_EUSAGE, "-p and --trusted-keys name the keys of a parent: they need --parent");
	if ((c->max_chain || c->verify_parent) && !c->parent)
		fe_die(HERO_EUSAGE, "--max-chain and --verify-parent need --parent");
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
	metric(c->rm, "archive_bytes", "Bytes of the last archive written.", (double)res->st.archive_bytes);
	metric(c->rm, "data_bytes", "State bytes written into the last archive (before compression).",
	       (double)res->st.data_bytes);
	metric(c->rm, "entries", "Entries written into the last archive (directories and files).",
	       (double)res->st.entries);
	metric(c->rm, "unchanged_entries", "Entries an increment listed as unchanged since its parent.",
	       (double)res->unchanged);
	metric(c->rm, "deleted_entries", "Paths an increment listed as deleted since its parent.", (double)res->deleted);
	metric(c->rm, "incremental", "1 if the last archive is an increment, 0 if full.", res->parent_id[0] != 0);
	if (c->json) {
		printf("{\"archive_id\":\"%s\",\"parent\":%s%s%s,\"parent_verified\":%s,\"entries\":%llu,\"files\":%llu,"
		       "\"unchanged\":%llu,\"deleted\":%llu,\"data_bytes\":%llu,\"archive_bytes\":%llu,\"skipped\":%llu}\n",
		       res->archive_id, res->parent_id[0] ? "\"" : "", res->parent_id[0] ? res->parent_id : "null",
		       res->parent_id[0] ? "\"" : "", res->parent_verified ? "true" : "false",
		       (unsigned long long)res->st.entries, (unsigned long long)res->st.files,
		       (unsigned long long)res->unchanged, (unsigned long long)res->deleted,
		       (unsigned long long)res->st.data_bytes, (unsigned long long)res->st.archive_bytes,
		       (unsigned long long)res->skipped);
		return;
	}
	if (c->progress < 0)
		return;
	if (res->parent_id[0])
		fprintf(stderr, "hero-snap: archive %s (increment of %s): %llu entries written (%llu files), "
				"%llu unchanged, %llu deleted, %s of state -> %s archive\n",
			res->archive_id, res->parent_id, (unsigned long long)res->st.entries,
			(unsigned long long)res->st.files, (unsigned long long)res->unchanged,
			(unsigned long long)res->deleted, fe_size(res->st.data_bytes, a, sizeof a),
			fe_size(res->st.archive_bytes, b, sizeof b));
	else
		fprintf(stderr, "hero-snap: archive %s: %llu entries (%llu files), %s of state -> %s archive\n",
			res->archive_id, (unsigned long long)res->st.entries, (unsigned long long)res->st.files,
			fe_size(res->st.data_bytes, a, sizeof a), fe_size(res->st.archive_bytes, b, sizeof b));
}

/* A snapshot writing into a directory holds its shared lock, so a prune of
 * that directory cannot run at the same time. Returns the lock fd or -1. */
static int lock_output_dir(const char *output)
{
	if (!strcmp(output, "-"))
		return -1;
	const char *slash = strrchr(output, '/');
	char dir[4096];
	int n = slash ? snprintf(dir, sizeof dir, "%.*s", (int)(slash - output), output) : snprintf(dir, sizeof dir, ".");
	if (n < 0 || (size_t)n >= sizeof dir)
		fe_die(HERO_EUSAGE, "output path too long");
	if (!dir[0])
		snprintf(dir, sizeof dir, "/");
	struct hero_error err = HERO_ERROR_INIT;
	int fd = -1;
	if (hero_lock_archive_dir(dir, 1, &fd, &err) < 0)
		exit(fe_report(&err));
	return fd;
}

/* The instance id of ROOT if it has one yet (32 hex digits into ID), else 0. */
static int read_instance_id(const char *root, char id[HERO_ID_HEX])
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

/* --parent DIR: the newest archive of this instance and scope in DIR; none (a
 * full archive) when DIR holds none yet, when its chain already has
 * --max-chain links, or when that chain is broken (with a warning). Returns
 * the parent's path (malloc'd) or NULL. */
static char *pick_parent(const struct snap_cli *c, const char *root)
{
	struct stat st, out;
	if (stat(c->parent, &st) < 0 || !S_ISDIR(st.st_mode)) {
		if (c->max_chain)
			fe_die(HERO_EUSAGE, "--max-chain needs --parent DIR, and '%s' is not a directory", c->parent);
		if (strcmp(c->output, "-") != 0 && stat(c->output, &out) == 0 && stat(c->parent, &st) == 0 &&
		    st.st_dev == out.st_dev && st.st_ino == out.st_ino)
			fe_die(HERO_EUSAGE, "the parent '%s' is the output file: writing would replace it", c->parent);
		return strdup(c->parent);
	}
	char id[HERO_ID_HEX], *pick = NULL, *scope = NULL;
	struct hero_chain ch = HERO_CHAIN_INIT;
	struct hero_error err = HERO_ERROR_INIT;
	if (!read_instance_id(root, id))
		return NULL; /* never archived: nothing in DIR can be its parent */
	if (!(scope = hero_scope_string(&c->services, &c->contexts)))
		fe_die(HERO_EFAIL, "out of memory");
	/* an archive there that cannot be read is never skipped: tonight's increment
	 * would chain from an older night; the operator moves it aside first */
	struct hero_strlist bad = { 0 };
	if (hero_dir_scan(c->parent, &ch, &bad, &err) == 0 && bad.n)
		fe_die(HERO_EINTEGRITY, "archive directory '%s' holds an unreadable archive (%s): move it aside", c->parent,
		       bad.v[0]);
	hero_strlist_release(&bad);
	hero_chain_release(&ch);
	if (hero_dir_chain_for(c->parent, id, scope, strcmp(c->output, "-") ? c->output : NULL, &ch, &err) < 0)
		fe_warn("%s: writing a full archive", err.msg);
	else if (ch.n && (!c->max_chain || ch.n < (size_t)c->max_chain) && !(pick = strdup(ch.v[ch.n - 1].path)))
		fe_die(HERO_EFAIL, "out of memory");
	free(scope);
	hero_chain_release(&ch);
	return pick;
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
	struct hero_trust ptrust = HERO_TRUST_INIT;
	char *parent = c.parent ? pick_parent(&c, root) : NULL;
	if (parent)
		fe_load_trust(&ptrust, &c.pubs, c.trustdir);
	int dirlock = lock_output_dir(c.output);
	struct hero_atomic output;
	int fd = open_output(c.output, &output);
	int show = fe_progress_enabled(c.progress);
	struct hero_snap_opts o = { .root = root, .inv = &inv, .sk = sk, .out_fd = fd, .services = &c.services,
				    .contexts = &c.contexts, .level = c.level, .threads = c.threads,
				    .tmpdir = c.tmpdir, .hooks = c.hooks, .include_secrets = c.include_secrets, .recipients = rcpt,
				    .n_recipients = c.recipients.n, .passphrase = encpass, .parent = parent,
				    .verify_parent = c.verify_parent,
				    .parent_trust = &ptrust, .progress = show ? progress_cb : NULL };
	struct hero_snap_result res;
	int ret = hero_snapshot(&o, &res, &err);
	if (show)
		fputc('\n', stderr);
	int code = 0;
	if (close_output(&output, ret == 0) < 0 && ret == 0)
		code = HERO_EFAIL;
	if (ret < 0)
		code = fe_report(&err);
	else if (!code)
		report(&c, &res);
	if (dirlock >= 0)
		close(dirlock);
	hero_trust_release(&ptrust);
	free(parent);
	hero_strlist_release(&c.pubs);
	hero_seckey_free(sk);
	free(rcpt);
	fe_passphrase_free(encpass);
	hero_strlist_release(&c.recipients);
	hero_inventory_release(&inv);
	hero_strlist_release(&c.services);
	hero_strlist_release(&c.contexts);
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

static void prune_say(void *ctx, const char *line)
{
	fe_say(ctx, "", line);
}

static int keep_count(const char *s, const char *opt)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > 100000)
		fe_die(HERO_EUSAGE, "%s needs a count from 0 to 100000, not '%s'", opt, s);
	return (int)v;
}

static int cmd_prune(int argc, char **argv)
{
	enum { O_DAILY = 256, O_DRY, O_JSON, O_METRICS, O_MONTHLY, O_WEEKLY };
	static const struct option opts[] = {
		{ "dry-run", no_argument, NULL, O_DRY },
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, O_JSON },
		{ "keep-daily", required_argument, NULL, O_DAILY },
		{ "keep-monthly", required_argument, NULL, O_MONTHLY },
		{ "keep-weekly", required_argument, NULL, O_WEEKLY },
		{ "metrics", required_argument, NULL, O_METRICS },
		{ "quiet", no_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 },
	};
	struct hero_prune_opts o = { 0 };
	const char *metrics = NULL;
	int json = 0, quiet = 0, ch;
	while ((ch = getopt_long(argc, argv, "hq", opts, NULL)) != -1) {
		switch (ch) {
		case 'h': usage(0);
		case 'q': quiet = 1; break;
		case O_DAILY: o.policy.daily = keep_count(optarg, "--keep-daily"); break;
		case O_DRY: o.dry_run = 1; break;
		case O_JSON: json = 1; break;
		case O_METRICS: metrics = optarg; break;
		case O_MONTHLY: o.policy.monthly = keep_count(optarg, "--keep-monthly"); break;
		case O_WEEKLY: o.policy.weekly = keep_count(optarg, "--keep-weekly"); break;
		default: usage(HERO_EUSAGE);
		}
	}
	struct run_metrics *rm = metrics_arm(metrics, "hero_snap_prune");
	if (argc - optind != 1)
		fe_die(HERO_EUSAGE, "prune needs exactly one archive directory");
	o.dir = argv[optind];
	/* a dry run always shows its decisions; a real one unless --quiet */
	o.say = prune_say;
	o.say_ctx = json ? stderr : stdout;
	if (quiet && !o.dry_run)
		o.say = NULL;
	struct hero_prune_result res;
	struct hero_error err = HERO_ERROR_INIT;
	if (hero_prune(&o, &res, &err) < 0)
		return fe_report(&err);
	metric(rm, "kept_archives", "Archives the last prune kept.", (double)res.kept);
	metric(rm, "removed_archives", "Archives the last prune removed (or would remove, in a dry run).",
	       (double)res.removed);
	metric(rm, "kept_bytes", "Bytes of the archives kept.", (double)res.bytes_kept);
	metric(rm, "removed_bytes", "Bytes of the archives removed.", (double)res.bytes_removed);
	metric(rm, "skipped_files", "*.hsnap files that could not be read as archives and were left alone.",
	       (double)res.skipped);
	if (json)
		printf("{\"dry_run\":%s,\"kept\":%llu,\"removed\":%llu,\"skipped\":%llu,\"kept_bytes\":%llu,"
		       "\"removed_bytes\":%llu}\n",
		       o.dry_run ? "true" : "false", (unsigned long long)res.kept, (unsigned long long)res.removed,
		       (unsigned long long)res.skipped, (unsigned long long)res.bytes_kept,
		       (unsigned long long)res.bytes_removed);
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
	if (argc > 1 && !strcmp(argv[1], "prune"))
		return cmd_prune(argc - 1, argv + 1);
	return cmd_snapshot(argc, argv);
}
