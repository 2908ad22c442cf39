/* hero-migrate - tenant moves as pipeline stages; reconcile and verify on their own.
 *
 * main() only dispatches: each subcommand parses its own options into an
 * options struct, calls the library and maps the result to an exit code.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "common.h"
#include "hero/journal.h"
#include "hero/migrate.h"
#include "hero/probe.h"
#include "hero/reconcile.h"
#include "hero/supervisor.h"

#define MAX_VARS 64

/* ---- shared option helpers ---------------------------------------------- */

struct varlist {
	const char *v[MAX_VARS + 1];
	int n;
};

static void add_var(struct varlist *vl, const char *arg)
{
	const char *eq = strchr(arg, '=');
	if (!eq || eq == arg)
		fe_die(HERO_EUSAGE, "--set wants NAME=VALUE, not '%s'", arg);
	if (vl->n == MAX_VARS)
		fe_die(HERO_EUSAGE, "too many --set options (at most %d)", MAX_VARS);
	vl->v[vl->n++] = arg;
	vl->v[vl->n] = NULL;
}

static int parse_secs(const char *opt, const char *arg)
{
	char *end;
	long v = strtol(arg, &end, 10);
	if (*arg == '\0' || *end || v < 0 || v > 86400)
		fe_die(HERO_EUSAGE, "%s wants a number of seconds, not '%s'", opt, arg);
	return (int)v;
}

/* The supervisor socket: OPT, else $HERO_SUPERVISOR, else the first of zinit's
 * two usual sockets that exists. */
static const char *default_supervisor(const char *opt)
{
	const char *env = getenv("HERO_SUPERVISOR");
	if (opt)
		return opt;
	if (env && *env)
		return env;
	if (access("/var/run/zinit.sock", F_OK) == 0)
		return "unix:/var/run/zinit.sock";
	if (access("/tmp/zinit.sock", F_OK) == 0)
		return "unix:/tmp/zinit.sock";
	return "unix:/var/run/zinit.sock";
}

/* ---- reconcile ---------------------------------------------------------- */

struct rc_cli {
	struct hero_rc_opts o;
	struct varlist vars;
	const char *supervisor, *config_dir;
	int check, json, quiet;
};

static void reconcile_usage(int code)
{
	fprintf(code ? stderr : stdout,
		"usage: %s reconcile --desired DIR [--supervisor unix:PATH] [--owner ID]\n"
		"         [--config-dir DIR] [--set NAME=VALUE]... [--adopt] [--stop-timeout SECS]\n"
		"         [--wait SECS]\n"
		"         [--check] [--json] [--quiet]\n"
		"Bring the supervisor's services to the state declared in DIR (one NAME.yaml per\n"
		"service). Only services marked as owned (env %s=ID) are changed.\n"
		"  --check   change nothing; exit 1 listing the drift\n",
		hero_progname, HERO_RC_OWNER_ENV);
	exit(code);
}

static void reconcile_parse(int argc, char **argv, struct rc_cli *c)
{
	static const struct option opts[] = {
		{ "adopt", no_argument, NULL, 'A' },
		{ "check", no_argument, NULL, 'c' },
		{ "config-dir", required_argument, NULL, 'C' },
		{ "desired", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, 'j' },
		{ "owner", required_argument, NULL, 'o' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "set", required_argument, NULL, 'S' },
		{ "stop-timeout", required_argument, NULL, 'T' },
		{ "supervisor", required_argument, NULL, 's' },
		{ "wait", required_argument, NULL, 'W' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "cd:hqs:", opts, NULL)) != -1) {
		switch (opt) {
		case 'A': c->o.adopt = 1; break;
		case 'c': c->check = 1; break;
		case 'C': c->config_dir = optarg; break;
		case 'd': c->o.desired_dir = optarg; break;
		case 'h': reconcile_usage(0); break;
		case 'j': c->json = 1; break;
		case 'o': c->o.owner = optarg; break;
		case 'q': c->quiet = 1; break;
		case 'S': add_var(&c->vars, optarg); break;
		case 'T': c->o.stop_timeout_ms = parse_secs("--stop-timeout", optarg) * 1000; break;
		case 's': c->supervisor = optarg; break;
		case 'W': c->o.wait_ms = parse_secs("--wait", optarg) * 1000; c->o.wait_ms = c->o.wait_ms ? c->o.wait_ms : -1; break;
		default: reconcile_usage(HERO_EUSAGE);
		}
	}
	if (optind != argc)
		fe_die(HERO_EUSAGE, "reconcile: unexpected argument '%s'", argv[optind]);
	if (!c->o.desired_dir)
		fe_die(HERO_EUSAGE, "reconcile: --desired DIR is required");
	if (c->o.owner && !hero_rc_owner_valid(c->o.owner))
		fe_die(HERO_EUSAGE, "reconcile: invalid owner id '%s' (1-64 of A-Z a-z 0-9 . _ -)", c->o.owner);
	c->o.vars = c->vars.v;
	c->supervisor = default_supervisor(c->supervisor);
}

static void print_action(const struct hero_rc_action *a)
{
	if (a->detail)
		printf("%-9s %-24s %s\n", hero_rc_kind_name(a->kind), fe_q(a->name), fe_qt(a->detail));
	else
		printf("%-9s %s\n", hero_rc_kind_name(a->kind), fe_q(a->name));
}

static void report_progress(const struct hero_rc_action *a, void *arg)
{
	(void)arg;
	if (a->error)
		fe_warn("%s '%s': %s", hero_rc_kind_name(a->kind), a->name, a->error);
}

static json_t *plan_json(const struct rc_cli *c, struct hero_sv *sv, const struct hero_rc_plan *p)
{
	json_t *acts = json_array();
	for (size_t i = 0; i < p->n; i++) {
		const struct hero_rc_action *a = &p->actions[i];
		const char *status = a->kind == HERO_RC_CONFLICT ? "skipped"
				     : c->check		     ? "planned"
				     : a->error		     ? "failed"
				     : a->done		     ? "applied"
							     : "planned";
		json_array_append_new(acts, json_pack("{ssssss?ssss?}", "action", hero_rc_kind_name(a->kind), "service",
						       a->name, "detail", a->detail, "status", status, "error",
						       a->error));
	}
	return json_pack("{sssssssssssOsOsiso}", "mode", c->check ? "check" : "apply", "desired", c->o.desired_dir,
			 "supervisor", hero_sv_address(sv), "protocol", hero_sv_protocol_name(hero_sv_protocol(sv)),
			 "owner", c->o.owner ? c->o.owner : HERO_RC_DEFAULT_OWNER, "unchanged", p->unchanged,
			 "unowned", p->unowned, "drift", (int)hero_rc_drift(p), "actions", acts);
}

static size_t count_conflicts(const struct hero_rc_plan *p)
{
	size_t n = 0;
	for (size_t i = 0; i < p->n; i++)
		n += p->actions[i].kind == HERO_RC_CONFLICT;
	return n;
}

static size_t count_done(const struct hero_rc_plan *p)
{
	size_t n = 0;
	for (size_t i = 0; i < p->n; i++)
		n += p->actions[i].done;
	return n;
}

static int reconcile_report(const struct rc_cli *c, struct hero_sv *sv, const struct hero_rc_plan *p,
			    int applied_rc)
{
	size_t drift = hero_rc_drift(p), conflicts = count_conflicts(p);
	if (c->json) {
		json_t *doc = plan_json(c, sv, p);
		json_dumpf(doc, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(doc);
	} else if (!c->quiet) {
		if (!drift)
			printf("in sync: %zu services declared, %zu not owned left alone\n",
			       json_array_size(p->unchanged), json_array_size(p->unowned));
		else if (!c->check)
			printf("applied %zu of %zu actions\n", count_done(p), drift);
	}
	for (size_t i = 0; i < p->n; i++)
		if (p->actions[i].kind == HERO_RC_CONFLICT)
			fe_warn("conflict: '%s' exists and is not owned by '%s' (left alone; --adopt takes it over)",
				p->actions[i].name, c->o.owner ? c->o.owner : HERO_RC_DEFAULT_OWNER);
	if (applied_rc < 0 || conflicts)
		return HERO_EFAIL;
	if (c->check && drift) {
		fe_warn("drift: %zu difference%s from '%s'", drift, drift == 1 ? "" : "s", c->o.desired_dir);
		return HERO_EFAIL;
	}
	return 0;
}

static int cmd_reconcile(int argc, char **argv)
{
	struct rc_cli c = { 0 };
	struct hero_error err = HERO_ERROR_INIT;
	struct hero_sv *sv = NULL;
	struct hero_rc_plan *plan = NULL;
	int code, rc = 0;
	reconcile_parse(argc, argv, &c);
	if (hero_sv_new(c.supervisor, 0, &sv, &err) < 0)
		return fe_report(&err);
	if (c.config_dir && hero_sv_set_config_dir(sv, c.config_dir, &err) < 0) {
		code = fe_report(&err);
		goto out;
	}
	if (hero_rc_plan_new(sv, &c.o, &plan, &err) < 0) {
		if (hero_sv_protocol(sv) == HERO_SV_LINE && !c.config_dir)
			hero_error_prefix(&err, "zinit v0.2.14 needs --config-dir");
		code = fe_report(&err);
		goto out;
	}
	if (!c.json && !c.quiet)
		for (size_t i = 0; i < plan->n; i++)
			print_action(&plan->actions[i]);
	if (!c.check && hero_rc_drift(plan))
		rc = hero_rc_apply(sv, plan, &c.o, report_progress, NULL, &err);
	if (rc < 0)
		fe_report(&err);
	code = reconcile_report(&c, sv, plan, rc);
out:
	hero_rc_plan_free(plan);
	hero_sv_free(sv);
	return code;
}

/* ---- verify ------------------------------------------------------------- */

struct verify_cli {
	const char *panel, *on_fail;
	struct varlist vars;
	const char *only[MAX_VARS + 1];
	int nonly, json, quiet;
};

static void verify_usage(int code)
{
	fprintf(code ? stderr : stdout,
		"usage: %s verify --probes FILE [--set NAME=VALUE]... [--only NAME]...\n"
		"         [--on-fail CMD] [--json] [--quiet]\n"
		"Run the smoke probes declared in FILE: one line per probe with its duration;\n"
		"exit 1 when any fails, after running CMD (if given) with the failures in\n"
		"HERO_VERIFY_FAILED, HERO_VERIFY_FAILED_COUNT and HERO_VERIFY_REPORT.\n",
		hero_progname);
	exit(code);
}

static void verify_parse(int argc, char **argv, struct verify_cli *c)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, 'j' },
		{ "on-fail", required_argument, NULL, 'F' },
		{ "only", required_argument, NULL, 'O' },
		{ "probes", required_argument, NULL, 'p' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "set", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "hp:q", opts, NULL)) != -1) {
		switch (opt) {
		case 'h': verify_usage(0); break;
		case 'j': c->json = 1; break;
		case 'F': c->on_fail = optarg; break;
		case 'O':
			if (c->nonly == MAX_VARS)
				fe_die(HERO_EUSAGE, "verify: too many --only options");
			c->only[c->nonly++] = optarg;
			break;
		case 'p': c->panel = optarg; break;
		case 'q': c->quiet = 1; break;
		case 'S': add_var(&c->vars, optarg); break;
		default: verify_usage(HERO_EUSAGE);
		}
	}
	if (optind != argc)
		fe_die(HERO_EUSAGE, "verify: unexpected argument '%s'", argv[optind]);
	if (!c->panel)
		fe_die(HERO_EUSAGE, "verify: --probes FILE is required");
}

static int selected(const struct verify_cli *c, const char *name)
{
	if (!c->nonly)
		return 1;
	for (int i = 0; i < c->nonly; i++)
		if (!strcmp(c->only[i], name))
			return 1;
	return 0;
}

/* Run CMD with the failing probes described in its environment. */
static void run_on_fail(const struct verify_cli *c, const struct hero_probe_result *r, size_t n, size_t failed)
{
	char *names = NULL, *report = NULL, count[32], total[32];
	size_t nlen = 0, rlen = 0;
	FILE *fn = open_memstream(&names, &nlen), *fr = open_memstream(&report, &rlen);
	if (!fn || !fr)
		fe_die(HERO_EFAIL, "out of memory");
	for (size_t i = 0; i < n; i++) {
		if (r[i].ok)
			continue;
		fprintf(fn, "%s%s", ftell(fn) ? " " : "", r[i].name);
		fprintf(fr, "%s: %s\n", r[i].name, r[i].detail);
	}
	fclose(fn);
	fclose(fr);
	snprintf(count, sizeof count, "%zu", failed);
	snprintf(total, sizeof total, "%zu", n);
	pid_t pid = fork();
	if (pid == 0) {
		setenv("HERO_VERIFY_FAILED", names, 1);
		setenv("HERO_VERIFY_FAILED_COUNT", count, 1);
		setenv("HERO_VERIFY_TOTAL", total, 1);
		setenv("HERO_VERIFY_REPORT", report, 1);
		setenv("HERO_VERIFY_PANEL", c->panel, 1);
		execl("/bin/sh", "sh", "-c", c->on_fail, (char *)NULL);
		_exit(127);
	}
	int status = 0;
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
		fe_warn("verify: --on-fail command failed");
	free(names);
	free(report);
}

static void print_result(const struct verify_cli *c, const struct hero_probe_result *r)
{
	if (c->json || (c->quiet && r->ok))
		return;
	printf("%-4s %-30s %6ld ms  %s\n", r->ok ? "ok" : "FAIL", fe_q(r->name), r->ms, fe_qt(r->detail));
	fflush(stdout);
}

static void print_json(const struct verify_cli *c, const struct hero_probe_result *r, size_t n, size_t failed)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{sssssbsIss}", "name", r[i].name, "kind", r[i].kind, "ok",
						     r[i].ok, "ms", (json_int_t)r[i].ms, "detail", r[i].detail));
	json_t *doc = json_pack("{sssIsIso}", "panel", c->panel, "passed", (json_int_t)(n - failed), "failed",
				(json_int_t)failed, "probes", arr);
	json_dumpf(doc, stdout, JSON_INDENT(2));
	putchar('\n');
	json_decref(doc);
}

static int cmd_verify(int argc, char **argv)
{
	struct verify_cli c = { 0 };
	struct hero_error err = HERO_ERROR_INIT;
	struct hero_panel *panel = NULL;
	verify_parse(argc, argv, &c);
	if (hero_panel_new(c.panel, c.vars.v, &panel, &err) < 0)
		return fe_report(&err);
	for (int i = 0; i < c.nonly; i++) {
		size_t j = 0;
		while (j < hero_panel_size(panel) && strcmp(hero_panel_probe_name(panel, j), c.only[i]))
			j++;
		if (j == hero_panel_size(panel)) {
			hero_panel_free(panel);
			fe_die(HERO_EUSAGE, "verify: no probe named '%s' in '%s'", c.only[i], c.panel);
		}
	}
	struct hero_probe_result *res = calloc(hero_panel_size(panel), sizeof *res);
	size_t n = 0, failed = 0;
	if (!res)
		fe_die(HERO_EFAIL, "out of memory");
	for (size_t i = 0; i < hero_panel_size(panel); i++) {
		if (!selected(&c, hero_panel_probe_name(panel, i)))
			continue;
		hero_probe_run(panel, i, &res[n]);
		failed += !res[n].ok;
		print_result(&c, &res[n++]);
	}
	if (c.json)
		print_json(&c, res, n, failed);
	if (failed) {
		fe_warn("verify: %zu of %zu probes failed", failed, n);
		if (c.on_fail)
			run_on_fail(&c, res, n, failed);
	}
	free(res);
	hero_panel_free(panel);
	return failed ? HERO_EFAIL : 0;
}

/* ---- the migration job: plan, run, resume, status, abort ----------------- */

struct job_cli {
	struct hero_mig_opts o;
	const char *keys[MAX_VARS + 1];
	const char *vars[MAX_VARS + 1];
	const char *journal, *identity;
	int json, quiet, force, dry_run;
};

/* The journal: OPT, else $HERO_MIGRATE_JOURNAL, else ~/.hero-migrate/journal.db. Malloc'd. */
static char *journal_path(const char *opt)
{
	const char *env = getenv("HERO_MIGRATE_JOURNAL"), *home = getenv("HOME");
	char *p = NULL;
	if (opt)
		return strdup(opt);
	if (env && *env)
		return strdup(env);
	if (asprintf(&p, "%s/.hero-migrate/journal.db", home && *home ? home : ".") < 0)
		fe_die(HERO_EFAIL, "out of memory");
	return p;
}

/* The directory of this program, where hero-snap is installed beside it. */
static char *tools_dir(void)
{
	static char buf[4096];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	char *slash = strrchr(buf, '/');
	if (slash)
		*slash = '\0';
	return buf;
}

static int parse_count(const char *opt, const char *arg, int max)
{
	char *end;
	long v = strtol(arg, &end, 10);
	if (*arg == '\0' || *end || v < 1 || v > max)
		fe_die(HERO_EUSAGE, "%s wants a number from 1 to %d, not '%s'", opt, max, arg);
	return (int)v;
}

/* --timeout SECS (every stage) or STAGE=SECS. */
static void parse_timeout(struct job_cli *c, const char *arg)
{
	const char *eq = strchr(arg, '=');
	char name[32];
	if (!eq) {
		int s = parse_count("--timeout", arg, 86400);
		for (int i = 0; i < HERO_MIG_NSTAGES; i++)
			c->o.timeouts[i] = s;
		return;
	}
	snprintf(name, sizeof name, "%.*s", (int)(eq - arg < 31 ? eq - arg : 31), arg);
	int i = hero_mig_stage_index(name);
	if (i < 0)
		fe_die(HERO_EUSAGE, "--timeout: no stage '%s'", name);
	c->o.timeouts[i] = parse_count("--timeout", eq + 1, 86400);
}

static void job_usage(const char *cmd, int code)
{
	fprintf(code ? stderr : stdout,
		"usage: %s %s --context NAME [--as NEW] -s SECKEY -p PUBKEY --probes FILE\n"
		"         (--target-dir DIR | --target-ssh HOST | --compute unix:PATH|URL --ssh-key FILE...)\n"
		"         [--root DIR] [--manifests DIR] [--passphrase-file FILE] [--target-root DIR]\n"
		"         [--target-supervisor unix:PATH] [--remote-bin DIR] [--vm-name NAME] [--image URL]\n"
		"         [--node SID] [--slices N] [--gateway NAME] [--source-backend URL] [--router-port N]\n"
		"         [--ssh-user USER] [--ssh-port N] [--ssh-connect-timeout SECS] [--ssh-identity FILE]\n"
		"         [--bootstrap FILE] [--secrets-file FILE | --no-secrets] [--desired DIR]\n"
		"         [--set NAME=VALUE]... [--delete-source] [--attempts N] [--backoff-ms MS]\n"
		"         [--poll-ms MS] [--timeout [STAGE=]SECS]... [--journal FILE] [--dry-run] [--json] [--quiet]\n"
		"Move context NAME of the instance at --root to the target, as journaled stages:\n"
		"provision wait gateway bootstrap snapshot transfer restore reconcile verify cutover\n"
		"cleanup. 'plan' prints what each stage will do; 'run' creates the job and runs it.\n"
		"-s and -p are short for --secret-key and --public-key.\n",
		hero_progname, cmd);
	exit(code);
}

enum {
	O_AS = 256, O_ATTEMPTS, O_BACKOFF, O_BOOTSTRAP, O_COMPUTE, O_CONTEXT, O_DELETE_SOURCE, O_DESIRED, O_GATEWAY,
	O_IMAGE, O_JOURNAL, O_JSON, O_MANIFESTS, O_NO_SECRETS, O_NODE, O_PASSFILE, O_POLL, O_PROBES, O_REMOTE_BIN,
	O_ROOT, O_ROUTER_PORT, O_SECRETS_FILE, O_SET, O_SLICES, O_SOURCE_BACKEND, O_SSH_CT, O_SSH_IDENTITY,
	O_SSH_KEY, O_SSH_PORT, O_SSH_USER, O_TARGET_DIR, O_TARGET_ROOT, O_TARGET_SSH, O_TARGET_SV, O_TIMEOUT,
	O_VM_NAME, O_DRY_RUN,
};

static void push_list(const char **list, size_t *n, const char *opt, const char *arg)
{
	if (*n == MAX_VARS)
		fe_die(HERO_EUSAGE, "too many %s options (at most %d)", opt, MAX_VARS);
	list[(*n)++] = arg;
	list[*n] = NULL;
}

static void job_option(struct job_cli *c, const char *cmd, int opt, const char *arg)
{
	struct hero_mig_opts *o = &c->o;
	switch (opt) {
	case O_AS: o->as = arg; break;
	case O_ATTEMPTS: o->attempts = parse_count("--attempts", arg, 100); break;
	case O_BACKOFF: o->backoff_ms = parse_count("--backoff-ms", arg, 3600000); break;
	case O_BOOTSTRAP: o->bootstrap = arg; break;
	case O_COMPUTE: o->compute = arg; break;
	case O_CONTEXT: o->context = arg; break;
	case O_DELETE_SOURCE: o->delete_source = 1; break;
	case O_DESIRED: o->desired = arg; break;
	case O_DRY_RUN: c->dry_run = 1; break;
	case O_GATEWAY: o->gateway = arg; break;
	case O_IMAGE: o->image = arg; break;
	case O_JOURNAL: c->journal = arg; break;
	case O_JSON: c->json = 1; break;
	case O_MANIFESTS: o->manifests = arg; break;
	case O_NO_SECRETS: o->no_secrets = 1; break;
	case O_NODE: o->node = arg; break;
	case O_PASSFILE: o->passphrase_file = arg; break;
	case O_POLL: o->poll_ms = parse_count("--poll-ms", arg, 600000); break;
	case O_PROBES: o->probes = arg; break;
	case O_REMOTE_BIN: o->remote_bin = arg; break;
	case O_ROOT: o->source_root = arg; break;
	case O_ROUTER_PORT: o->router_port = parse_count("--router-port", arg, 65535); break;
	case O_SECRETS_FILE: o->secrets_file = arg; break;
	case O_SET: push_list(c->vars, &o->n_vars, "--set", arg); break;
	case O_SLICES: o->slices = parse_count("--slices", arg, 64); break;
	case O_SOURCE_BACKEND: o->source_backend = arg; break;
	case O_SSH_CT: o->ssh_connect_timeout = parse_count("--ssh-connect-timeout", arg, 3600); break;
	case O_SSH_IDENTITY: c->identity = arg; break;
	case O_SSH_KEY: push_list(c->keys, &o->n_ssh_keys, "--ssh-key", arg); break;
	case O_SSH_PORT: o->ssh_port = parse_count("--ssh-port", arg, 65535); break;
	case O_SSH_USER: o->ssh_user = arg; break;
	case O_TARGET_DIR: o->target_dir = arg; break;
	case O_TARGET_ROOT: o->target_root = arg; break;
	case O_TARGET_SSH: o->target_ssh = arg; break;
	case O_TARGET_SV: o->target_supervisor = arg; break;
	case O_TIMEOUT: parse_timeout(c, arg); break;
	case O_VM_NAME: o->vm_name = arg; break;
	case 'h': job_usage(cmd, 0); break;
	case 'p': o->pubkey = arg; break;
	case 'q': c->quiet = 1; break;
	case 's': o->seckey = arg; break;
	default: job_usage(cmd, HERO_EUSAGE);
	}
}

static void job_parse(int argc, char **argv, const char *cmd, struct job_cli *c)
{
	static const struct option opts[] = {
		{ "as", required_argument, NULL, O_AS },
		{ "attempts", required_argument, NULL, O_ATTEMPTS },
		{ "backoff-ms", required_argument, NULL, O_BACKOFF },
		{ "bootstrap", required_argument, NULL, O_BOOTSTRAP },
		{ "compute", required_argument, NULL, O_COMPUTE },
		{ "context", required_argument, NULL, O_CONTEXT },
		{ "delete-source", no_argument, NULL, O_DELETE_SOURCE },
		{ "desired", required_argument, NULL, O_DESIRED },
		{ "dry-run", no_argument, NULL, O_DRY_RUN },
		{ "gateway", required_argument, NULL, O_GATEWAY },
		{ "help", no_argument, NULL, 'h' },
		{ "image", required_argument, NULL, O_IMAGE },
		{ "journal", required_argument, NULL, O_JOURNAL },
		{ "json", no_argument, NULL, O_JSON },
		{ "manifests", required_argument, NULL, O_MANIFESTS },
		{ "no-secrets", no_argument, NULL, O_NO_SECRETS },
		{ "node", required_argument, NULL, O_NODE },
		{ "passphrase-file", required_argument, NULL, O_PASSFILE },
		{ "poll-ms", required_argument, NULL, O_POLL },
		{ "probes", required_argument, NULL, O_PROBES },
		{ "public-key", required_argument, NULL, 'p' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "remote-bin", required_argument, NULL, O_REMOTE_BIN },
		{ "root", required_argument, NULL, O_ROOT },
		{ "router-port", required_argument, NULL, O_ROUTER_PORT },
		{ "secret-key", required_argument, NULL, 's' },
		{ "secrets-file", required_argument, NULL, O_SECRETS_FILE },
		{ "set", required_argument, NULL, O_SET },
		{ "slices", required_argument, NULL, O_SLICES },
		{ "source-backend", required_argument, NULL, O_SOURCE_BACKEND },
		{ "ssh-connect-timeout", required_argument, NULL, O_SSH_CT },
		{ "ssh-identity", required_argument, NULL, O_SSH_IDENTITY },
		{ "ssh-key", required_argument, NULL, O_SSH_KEY },
		{ "ssh-port", required_argument, NULL, O_SSH_PORT },
		{ "ssh-user", required_argument, NULL, O_SSH_USER },
		{ "target-dir", required_argument, NULL, O_TARGET_DIR },
		{ "target-root", required_argument, NULL, O_TARGET_ROOT },
		{ "target-ssh", required_argument, NULL, O_TARGET_SSH },
		{ "target-supervisor", required_argument, NULL, O_TARGET_SV },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "vm-name", required_argument, NULL, O_VM_NAME },
		{ NULL, 0, NULL, 0 },
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "hp:qs:", opts, NULL)) != -1)
		job_option(c, cmd, opt, optarg);
	if (optind != argc)
		fe_die(HERO_EUSAGE, "%s: unexpected argument '%s'", cmd, argv[optind]);
	c->o.ssh_keys = c->keys;
	c->o.vars = c->vars;
}

static void say_progress(void *ctx, const char *stage, const char *msg)
{
	const struct job_cli *c = ctx;
	if (!c->quiet)
		fe_warn("%s: %s", stage, msg);
}

static json_t *build_spec(struct job_cli *c)
{
	struct hero_error err = HERO_ERROR_INIT;
	json_t *spec = NULL;
	char *root = fe_root(c->o.source_root), *man = fe_manifests(c->o.manifests);
	c->o.source_root = root;
	c->o.manifests = man;
	if (hero_mig_spec(&c->o, &spec, &err) < 0)
		exit(fe_report(&err));
	/* the strings are copied into the spec */
	free(root);
	free(man);
	c->o.source_root = c->o.manifests = NULL;
	return spec;
}

static int print_plan(struct job_cli *c)
{
	json_t *spec = build_spec(c), *plan = hero_mig_plan(spec), *s;
	size_t i;
	if (c->json) {
		json_dumpf(plan, stdout, JSON_INDENT(2));
		putchar('\n');
	} else {
		json_array_foreach(plan, i, s)
			printf("%-10s %s%s\n", fe_q(json_string_value(json_object_get(s, "stage"))),
			       json_is_true(json_object_get(s, "skip")) ? "skipped: " : "",
			       fe_qt(json_string_value(json_object_get(s, "does"))));
	}
	json_decref(plan);
	json_decref(spec);
	return 0;
}

static int cmd_plan(int argc, char **argv)
{
	struct job_cli c = { 0 };
	job_parse(argc, argv, "plan", &c);
	return print_plan(&c);
}

static struct hero_journal *open_journal(const char *opt)
{
	struct hero_error err = HERO_ERROR_INIT;
	struct hero_journal *j = NULL;
	char *path = journal_path(opt);
	if (hero_journal_new(path, &j, &err) < 0)
		exit(fe_report(&err));
	free(path);
	return j;
}

static int finish_job(struct hero_journal *j, int ret, struct hero_error *err)
{
	int code = ret < 0 ? fe_report(err) : 0;
	hero_journal_free(j);
	return code;
}

static int cmd_run(int argc, char **argv)
{
	struct job_cli c = { 0 };
	struct hero_error err = HERO_ERROR_INIT;
	char id[32];
	job_parse(argc, argv, "run", &c);
	if (c.dry_run)
		return print_plan(&c); /* run --dry-run is plan */
	json_t *spec = build_spec(&c);
	struct hero_journal *j = open_journal(c.journal);
	struct hero_mig_env env = { .identity = c.identity, .tools_dir = tools_dir(), .say = say_progress, .say_ctx = &c };
	int ret = hero_mig_create(j, spec, id, &err), created = ret == 0;
	json_decref(spec);
	if (created) {
		if (!c.json)
			printf("job %s\n", id);
		fflush(stdout);
		ret = hero_mig_run(j, id, &env, &err);
	}
	json_t *doc = NULL;
	struct hero_error ignored = HERO_ERROR_INIT;
	if (created && c.json && hero_journal_get(j, id, &doc, &ignored) == 0) {
		/* the job as `status --json` shows it, whatever the outcome */
		json_dumpf(doc, stdout, JSON_INDENT(2));
		putchar('\n');
	}
	json_decref(doc);
	return finish_job(j, ret, &err);
}

/* resume JOB / abort JOB: [--ssh-identity FILE] [--journal FILE] [--quiet] [--force] */
static const char *job_arg(int argc, char **argv, const char *cmd, struct job_cli *c, int allow_force)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ "journal", required_argument, NULL, 'J' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "ssh-identity", required_argument, NULL, 'i' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "hq", opts, NULL)) != -1) {
		switch (opt) {
		case 'f':
			if (!allow_force)
				fe_die(HERO_EUSAGE, "%s: unknown option --force", cmd);
			c->force = 1;
			break;
		case 'h':
			printf("usage: %s %s JOB [--ssh-identity FILE] [--journal FILE] [--quiet]%s\n", hero_progname, cmd,
			       allow_force ? " [--force]" : "");
			exit(0);
		case 'J': c->journal = optarg; break;
		case 'q': c->quiet = 1; break;
		case 'i': c->identity = optarg; break;
		default: exit(HERO_EUSAGE);
		}
	}
	if (argc - optind != 1)
		fe_die(HERO_EUSAGE, "%s: want exactly one JOB", cmd);
	return argv[optind];
}

static int cmd_resume(int argc, char **argv)
{
	struct job_cli c = { 0 };
	struct hero_error err = HERO_ERROR_INIT;
	const char *id = job_arg(argc, argv, "resume", &c, 0);
	struct hero_journal *j = open_journal(c.journal);
	struct hero_mig_env env = { .identity = c.identity, .tools_dir = tools_dir(), .say = say_progress, .say_ctx = &c };
	return finish_job(j, hero_mig_run(j, id, &env, &err), &err);
}

static int cmd_abort(int argc, char **argv)
{
	struct job_cli c = { 0 };
	struct hero_error err = HERO_ERROR_INIT;
	const char *id = job_arg(argc, argv, "abort", &c, 1);
	struct hero_journal *j = open_journal(c.journal);
	struct hero_mig_env env = { .identity = c.identity, .tools_dir = tools_dir(), .say = say_progress, .say_ctx = &c };
	return finish_job(j, hero_mig_abort(j, id, &env, c.force, &err), &err);
}

static const char *when(json_t *v, char *buf, size_t n)
{
	if (!json_is_integer(v))
		return "-";
	time_t t = (time_t)(json_integer_value(v) / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

/* The scalar outputs of a stage as "key=value ..." (lists as their size). */
static void print_outputs(json_t *out)
{
	const char *k;
	json_t *v;
	json_object_foreach(out, k, v) {
		if (json_is_string(v))
			printf(" %s=%s", fe_q(k), fe_q(json_string_value(v)));
		else if (json_is_integer(v))
			printf(" %s=%lld", fe_q(k), (long long)json_integer_value(v));
		else if (json_is_boolean(v))
			printf(" %s=%s", fe_q(k), json_is_true(v) ? "yes" : "no");
	}
}

static void print_job(json_t *job)
{
	char a[32], b[32];
	json_t *s;
	size_t i;
	json_t *spec = json_object_get(job, "spec");
	printf("job      %s\nstate    %s\ncontext  %s -> %s\nsource   %s\ntarget   %s\ncreated  %s\nupdated  %s\n",
	       fe_q(json_string_value(json_object_get(job, "id"))), fe_q(json_string_value(json_object_get(job, "state"))),
	       fe_q(json_string_value(json_object_get(job, "context"))), fe_q(json_string_value(json_object_get(spec, "as"))),
	       fe_q(json_string_value(json_object_get(job, "source"))), fe_q(json_string_value(json_object_get(job, "target"))),
	       when(json_object_get(job, "created"), a, sizeof a), when(json_object_get(job, "updated"), b, sizeof b));
	if (json_is_string(json_object_get(job, "error")))
		printf("error    %s\n", fe_qt(json_string_value(json_object_get(job, "error"))));
	printf("\n%-10s %-8s %-8s %8s  %s\n", "stage", "state", "attempts", "seconds", "outputs / error");
	json_array_foreach(json_object_get(job, "stages"), i, s) {
		json_t *st = json_object_get(s, "started"), *fi = json_object_get(s, "finished");
		char secs[32] = "-";
		if (json_is_integer(st) && json_is_integer(fi))
			snprintf(secs, sizeof secs, "%.1f",
				 (double)(json_integer_value(fi) - json_integer_value(st)) / 1000.0);
		printf("%-10s %-8s %-8lld %8s ", fe_q(json_string_value(json_object_get(s, "name"))),
		       fe_q(json_string_value(json_object_get(s, "state"))),
		       (long long)json_integer_value(json_object_get(s, "attempts")), secs);
		print_outputs(json_object_get(s, "outputs"));
		if (json_is_string(json_object_get(s, "error")))
			printf(" error: %s", fe_qt(json_string_value(json_object_get(s, "error"))));
		putchar('\n');
	}
}

static int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "journal", required_argument, NULL, 'J' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct hero_error err = HERO_ERROR_INIT;
	const char *journal = NULL;
	int json = 0, opt;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'h') {
			printf("usage: %s status [JOB] [--json] [--journal FILE]\n", hero_progname);
			return 0;
		}
		if (opt == 'J')
			journal = optarg;
		else if (opt == 'j')
			json = 1;
		else
			return HERO_EUSAGE;
	}
	if (argc - optind > 1)
		fe_die(HERO_EUSAGE, "status: at most one JOB");
	struct hero_journal *j = open_journal(journal);
	json_t *doc = NULL;
	int ret = optind < argc ? hero_journal_get(j, argv[optind], &doc, &err) : hero_journal_list(j, &doc, &err);
	if (ret == 0 && json) {
		json_dumpf(doc, stdout, JSON_INDENT(2));
		putchar('\n');
	} else if (ret == 0 && optind < argc) {
		print_job(doc);
	} else if (ret == 0) {
		json_t *r;
		size_t i;
		char a[32];
		json_array_foreach(doc, i, r)
			printf("%-12s %-8s %-10s %-20s %-10s %s\n", fe_q(json_string_value(json_object_get(r, "id"))),
			       fe_q(json_string_value(json_object_get(r, "state"))),
			       fe_q(json_string_value(json_object_get(r, "context"))),
			       fe_q(json_string_value(json_object_get(r, "target"))),
			       fe_q(json_string_value(json_object_get(r, "stage"))), when(json_object_get(r, "updated"), a, sizeof a));
	}
	json_decref(doc);
	return finish_job(j, ret, &err);
}

/* ---- dispatch ----------------------------------------------------------- */

static const struct subcommand {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} subcommands[] = {
	{ "plan", cmd_plan, "print every stage of moving a context, and what it will do" },
	{ "run", cmd_run, "move a context to another instance as journaled stages" },
	{ "resume", cmd_resume, "continue a job from its first unfinished stage" },
	{ "status", cmd_status, "show the jobs, or one job's stages, outputs and errors" },
	{ "abort", cmd_abort, "delete what a job created and mark it aborted" },
	{ "reconcile", cmd_reconcile, "bring the supervisor's services to a declared state" },
	{ "verify", cmd_verify, "run a panel of smoke probes against an instance" },
};

static void usage(int code)
{
	FILE *f = code ? stderr : stdout;
	fprintf(f, "usage: %s COMMAND [OPTIONS]\n\ncommands:\n", hero_progname);
	for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
		fprintf(f, "  %-10s %s\n", subcommands[i].name, subcommands[i].summary);
	fprintf(f, "\n'%s COMMAND --help' describes each command; '%s --version' prints the version.\n"
		   "Exit: 0 ok, 1 failure, 2 usage, 3 archive refused by the target, 4 schema newer than the\n"
		   "target, 5 busy, 6 missing secrets, 7 key conflict. See hero-migrate(1).\n",
		hero_progname, hero_progname);
	exit(code);
}

int main(int argc, char **argv)
{
	fe_init(argv[0]);
	signal(SIGPIPE, SIG_IGN); /* a broken pipe to ssh is an error to report, not a death */
	if (argc < 2)
		usage(HERO_EUSAGE);
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help"))
		usage(0);
	if (!strcmp(cmd, "--version")) {
		printf("%s %s\n", hero_progname, HERO_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++) {
		if (strcmp(cmd, subcommands[i].name))
			continue;
		/* getopt names argv[0] in its messages: "hero-migrate reconcile: ..." */
		static char name[64];
		snprintf(name, sizeof name, "%s %s", hero_progname, cmd);
		argv[1] = name;
		return subcommands[i].run(argc - 1, argv + 1);
	}
	fe_warn("unknown command '%s'", cmd);
	usage(HERO_EUSAGE);
}
