/* hero-migrate - tenant moves as pipeline stages; reconcile and verify on their own.
 *
 * main() only dispatches: each subcommand parses its own options into an
 * options struct, calls the library and maps the result to an exit code.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "common.h"
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
		printf("%-9s %-24s %s\n", hero_rc_kind_name(a->kind), a->name, a->detail);
	else
		printf("%-9s %s\n", hero_rc_kind_name(a->kind), a->name);
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
	if (hero_sv_open(c.supervisor, 0, &sv, &err) < 0)
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
	printf("%-4s %-30s %6ld ms  %s\n", r->ok ? "ok" : "FAIL", r->name, r->ms, r->detail);
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
	if (hero_panel_load(c.panel, c.vars.v, &panel, &err) < 0)
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

/* ---- dispatch ----------------------------------------------------------- */

static const struct subcommand {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} subcommands[] = {
	{ "reconcile", cmd_reconcile, "bring the supervisor's services to a declared state" },
	{ "verify", cmd_verify, "run a panel of smoke probes against an instance" },
};

static void usage(int code)
{
	FILE *f = code ? stderr : stdout;
	fprintf(f, "usage: %s COMMAND [OPTIONS]\n\ncommands:\n", hero_progname);
	for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
		fprintf(f, "  %-10s %s\n", subcommands[i].name, subcommands[i].summary);
	fprintf(f, "\n'%s COMMAND --help' describes each command.\n", hero_progname);
	exit(code);
}

int main(int argc, char **argv)
{
	fe_init(argv[0]);
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
