/* migrate_spec.c - a migration job's options as its journaled spec, and its plan. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hero/manifest.h"
#include "migrate/migrate_internal.h"

static const char *const names[HERO_MIG_NSTAGES] = {
	"provision", "wait", "gateway", "bootstrap", "snapshot", "transfer",
	"restore", "reconcile", "verify", "cutover", "cleanup",
};

/* Seconds per attempt. */
static const int default_timeouts[HERO_MIG_NSTAGES] = {
	600, 1800, 600, 1800, 3600, 21600, 600, 600, 600, 600, 1800,
};

#define DEFAULT_IMAGE "https://hub.grid.tf/tf-official-vms/ubuntu-24.04-full.flist"

const char *hero_mig_stage_name(size_t i)
{
	return i < HERO_MIG_NSTAGES ? names[i] : NULL;
}

int hero_mig_stage_index(const char *name)
{
	for (int i = 0; i < HERO_MIG_NSTAGES; i++)
		if (!strcmp(names[i], name))
			return i;
	return -1;
}

int hero_mig_stage_skipped(const json_t *spec, size_t i)
{
	const char *kind = json_string_value(json_object_get(spec, "target_kind"));
	switch (i) {
	case 0: return strcmp(kind, "vm") != 0;
	case 1: return strcmp(kind, "dir") == 0;
	case 2: return strcmp(kind, "vm") != 0 || json_is_null(json_object_get(spec, "gateway"));
	case 7: return json_is_null(json_object_get(spec, "desired"));
	default: return 0;
	}
}

/* ---- building the spec --------------------------------------------------- */

/* The absolute, resolved path of an existing file or directory OPT names. */
static int existing(const char *opt, const char *path, int want_dir, json_t *spec, const char *key,
		    struct hero_error *err)
{
	char buf[PATH_MAX];
	struct stat st;
	if (!path) {
		json_object_set_new(spec, key, json_null());
		return 0;
	}
	if (!realpath(path, buf) || stat(buf, &st) < 0)
		return hero_error_errno(err, HERO_EUSAGE, errno, "%s '%s'", opt, path);
	if (want_dir != !!S_ISDIR(st.st_mode))
		return hero_error(err, HERO_EUSAGE, "%s '%s' is not a %s", opt, path, want_dir ? "directory" : "file");
	json_object_set_new(spec, key, json_string(buf));
	return 0;
}

/* One OpenSSH public key line from FILE (never a private key). */
static int read_pubkey(const char *file, json_t *keys, struct hero_error *err)
{
	FILE *f = fopen(file, "r");
	char line[16384];
	int ret = hero_error(err, HERO_EUSAGE, "--ssh-key '%s' holds no OpenSSH public key", file);
	if (!f)
		return hero_error_errno(err, HERO_EUSAGE, errno, "--ssh-key '%s'", file);
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (strstr(line, "PRIVATE KEY")) {
			ret = hero_error(err, HERO_EUSAGE, "--ssh-key '%s' is a private key: give its .pub", file);
			break;
		}
		if (!strncmp(line, "ssh-", 4) || !strncmp(line, "ecdsa-", 6) || !strncmp(line, "sk-", 3)) {
			json_array_append_new(keys, json_string(line));
			ret = 0;
			break;
		}
	}
	fclose(f);
	return ret;
}

static int name_ok(const char *s)
{
	if (!s || !*s || strlen(s) > 64)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_')
			return 0;
	return 1;
}

static int target_part(const struct hero_mig_opts *o, json_t *spec, struct hero_error *err)
{
	int n = !!o->target_dir + !!o->target_ssh + !!o->compute;
	if (n != 1)
		return hero_error(err, HERO_EUSAGE, "give exactly one target: --target-dir DIR, --target-ssh HOST or"
						    " --compute ADDR");
	if (o->target_dir && o->target_dir[0] != '/')
		return hero_error(err, HERO_EUSAGE, "--target-dir '%s' must be an absolute path", o->target_dir);
	if (o->target_root && o->target_root[0] != '/')
		return hero_error(err, HERO_EUSAGE, "--target-root '%s' must be an absolute path", o->target_root);
	if (o->target_ssh && (o->target_ssh[0] == '-' || strpbrk(o->target_ssh, " @'\"\\")))
		return hero_error(err, HERO_EUSAGE, "--target-ssh '%s': want a host name or address (user: --ssh-user)",
				  o->target_ssh);
	if (o->compute && strncmp(o->compute, "unix:/", 6) && strncmp(o->compute, "http://", 7) &&
	    strncmp(o->compute, "https://", 8))
		return hero_error(err, HERO_EUSAGE, "--compute '%s': want unix:/PATH or an http(s) URL", o->compute);
	if (!o->compute && (o->gateway || o->n_ssh_keys || o->vm_name))
		return hero_error(err, HERO_EUSAGE, "--gateway, --ssh-key and --vm-name need --compute");
	if (o->compute && !o->n_ssh_keys)
		return hero_error(err, HERO_EUSAGE, "a new VM needs --ssh-key FILE (its public key is how ssh gets in)");
	if (o->gateway && !name_ok(o->gateway))
		return hero_error(err, HERO_EUSAGE, "--gateway '%s': 1-64 of A-Z a-z 0-9 - _", o->gateway);
	if (o->vm_name && !name_ok(o->vm_name))
		return hero_error(err, HERO_EUSAGE, "--vm-name '%s': 1-64 of A-Z a-z 0-9 - _", o->vm_name);
	if (o->source_backend && strncmp(o->source_backend, "http://", 7))
		return hero_error(err, HERO_EUSAGE, "--source-backend '%s': want an http:// URL", o->source_backend);
	const char *kind = o->compute ? "vm" : o->target_ssh ? "ssh" : "dir";
	json_t *keys = json_array();
	json_object_set_new(spec, "ssh_keys", keys);
	for (size_t i = 0; i < o->n_ssh_keys; i++)
		if (read_pubkey(o->ssh_keys[i], keys, err) < 0)
			return -HERO_EUSAGE;
	json_t *t = json_pack("{ss ss? ss? ss? ss? ss? ss?}", "target_kind", kind, "target_dir", o->target_dir, "target_host",
			      o->target_ssh, "compute", o->compute, "target_root", o->target_root, "target_supervisor",
			      o->target_supervisor, "remote_bin", o->remote_bin);
	if (!t)
		return hero_error(err, HERO_EFAIL, "out of memory");
	json_object_update(spec, t);
	json_decref(t);
	return 0;
}

static int vm_part(const struct hero_mig_opts *o, json_t *spec)
{
	char vm[80];
	snprintf(vm, sizeof vm, "hero-%.40s", o->as ? o->as : o->context);
	for (char *p = vm; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
			*p = '-';
	json_t *v = json_pack("{ss ss si ss ss ss? ss? si ss si si}", "vm_name", o->vm_name ? o->vm_name : vm, "image",
			      o->image ? o->image : DEFAULT_IMAGE, "slices", o->slices > 0 ? o->slices : 1, "node",
			      o->node ? o->node : "", "ssh_user", o->ssh_user ? o->ssh_user : "root", "gateway",
			      o->gateway, "source_backend", o->source_backend, "router_port",
			      o->router_port > 0 ? o->router_port : 9988, "context", o->context, "ssh_port",
			      o->ssh_port > 0 ? o->ssh_port : 22, "ssh_connect_timeout",
			      o->ssh_connect_timeout > 0 ? o->ssh_connect_timeout : 10);
	if (!v)
		return -1;
	json_object_update(spec, v);
	json_decref(v);
	return 0;
}

static int files_part(const struct hero_mig_opts *o, json_t *spec, struct hero_error *err)
{
	char envsh[PATH_MAX];
	int ret;
	if ((ret = existing("--root", o->source_root, 1, spec, "source_root", err)) < 0 ||
	    (ret = existing("--manifests", o->manifests, 1, spec, "manifests", err)) < 0 ||
	    (ret = existing("-s", o->seckey, 0, spec, "seckey", err)) < 0 ||
	    (ret = existing("-p", o->pubkey, 0, spec, "pubkey", err)) < 0 ||
	    (ret = existing("--passphrase-file", o->passphrase_file, 0, spec, "passphrase_file", err)) < 0 ||
	    (ret = existing("--bootstrap", o->bootstrap, 0, spec, "bootstrap", err)) < 0 ||
	    (ret = existing("--desired", o->desired, 1, spec, "desired", err)) < 0 ||
	    (ret = existing("--probes", o->probes, 0, spec, "probes", err)) < 0)
		return ret;
	if (!o->seckey || !o->pubkey)
		return hero_error(err, HERO_EUSAGE, "-s SECKEY and -p PUBKEY are required (the archive is signed)");
	if (!o->probes)
		return hero_error(err, HERO_EUSAGE, "--probes FILE is required: cutover needs a verified target");
	const char *src = json_string_value(json_object_get(spec, "source_root"));
	if (o->target_dir && !strcmp(o->target_dir, src))
		return hero_error(err, HERO_EUSAGE, "--target-dir is the source root '%s'", src);
	snprintf(envsh, sizeof envsh, "%s/cfg/env/env.sh", src);
	const char *secrets = o->no_secrets ? NULL : o->secrets_file ? o->secrets_file
					      : access(envsh, R_OK) == 0 ? envsh : NULL;
	return existing("--secrets-file", secrets, 0, spec, "secrets_file", err);
}

static int tuning_part(const struct hero_mig_opts *o, json_t *spec, struct hero_error *err)
{
	json_t *vars = json_array(), *t = json_object();
	json_object_set_new(spec, "vars", vars);
	json_object_set_new(spec, "timeouts", t);
	for (size_t i = 0; i < o->n_vars; i++) {
		const char *eq = strchr(o->vars[i], '=');
		if (!eq || eq == o->vars[i])
			return hero_error(err, HERO_EUSAGE, "--set wants NAME=VALUE, not '%s'", o->vars[i]);
		json_array_append_new(vars, json_string(o->vars[i]));
	}
	for (int i = 0; i < HERO_MIG_NSTAGES; i++)
		json_object_set_new(t, names[i], json_integer(o->timeouts[i] > 0 ? o->timeouts[i] : default_timeouts[i]));
	json_object_set_new(spec, "attempts", json_integer(o->attempts > 0 ? o->attempts : 3));
	json_object_set_new(spec, "backoff_ms", json_integer(o->backoff_ms > 0 ? o->backoff_ms : 2000));
	json_object_set_new(spec, "poll_ms", json_integer(o->poll_ms > 0 ? o->poll_ms : 1000));
	json_object_set_new(spec, "delete_source", json_boolean(o->delete_source));
	return 0;
}

int hero_mig_spec(const struct hero_mig_opts *o, json_t **out, struct hero_error *err)
{
	json_t *spec = NULL;
	int ret;
	if (!o->context || !hero_context_valid(o->context))
		return hero_error(err, HERO_EUSAGE, "--context '%s' is not a valid context name",
				  o->context ? o->context : "");
	if (o->as && !hero_context_valid(o->as))
		return hero_error(err, HERO_EUSAGE, "--as '%s' is not a valid context name", o->as);
	if (!(spec = json_object()))
		return hero_error(err, HERO_EFAIL, "out of memory");
	if ((ret = target_part(o, spec, err)) < 0 || (ret = files_part(o, spec, err)) < 0 ||
	    (ret = tuning_part(o, spec, err)) < 0)
		goto out;
	if (vm_part(o, spec) < 0) {
		ret = hero_error(err, HERO_EFAIL, "out of memory");
		goto out;
	}
	json_object_set_new(spec, "as", json_string(o->as ? o->as : o->context));
	json_object_set_new(spec, "spec", json_integer(1));
	*out = spec;
	spec = NULL;
	ret = 0;
out:
	json_decref(spec);
	return ret;
}

/* ---- the plan ------------------------------------------------------------- */

static const char *s(const json_t *spec, const char *k)
{
	const char *v = json_string_value(json_object_get(spec, k));
	return v ? v : "";
}

static char *describe_target(const json_t *spec)
{
	char *d = NULL;
	const char *kind = s(spec, "target_kind");
	if (!strcmp(kind, "dir"))
		return asprintf(&d, "the local directory %s", s(spec, "target_dir")) < 0 ? NULL : d;
	if (!strcmp(kind, "ssh"))
		return asprintf(&d, "%s@%s port %lld over ssh", s(spec, "ssh_user"), s(spec, "target_host"),
				(long long)json_integer_value(json_object_get(spec, "ssh_port"))) < 0 ? NULL : d;
	return asprintf(&d, "the new VM '%s' over ssh", s(spec, "vm_name")) < 0 ? NULL : d;
}

static char *does(const json_t *spec, size_t i, const char *tgt)
{
	char *d = NULL;
	const char *as = s(spec, "as"), *ctx = s(spec, "context");
	int r = -1;
	switch (i) {
	case 0: r = asprintf(&d, "deploy_vm '%s' (%lld slice(s), %s%s%s) with %zu ssh key(s) and a new secret via %s",
			     s(spec, "vm_name"), (long long)json_integer_value(json_object_get(spec, "slices")),
			     s(spec, "image"), *s(spec, "node") ? " on " : "", s(spec, "node"),
			     json_array_size(json_object_get(spec, "ssh_keys")), s(spec, "compute")); break;
	case 1: r = asprintf(&d, "poll get_vm until running with a mycelium IP, then until ssh answers"); break;
	case 2: r = asprintf(&d, "gateway '%s': create it to %s (or adopt it), wait for its FQDN", s(spec, "gateway"),
			     *s(spec, "source_backend") ? s(spec, "source_backend") : "the source"); break;
	case 3: r = asprintf(&d, "on %s: %smerge secrets%s%s, run %s", tgt,
			     strcmp(s(spec, "target_kind"), "dir") ? "trust the source key, " : "",
			     *s(spec, "secrets_file") ? " from " : " (none)", s(spec, "secrets_file"),
			     *s(spec, "bootstrap") ? s(spec, "bootstrap") : "no bootstrap script"); break;
	case 4: r = asprintf(&d, "check a signed archive of context '%s' of %s can be made", ctx, s(spec, "source_root")); break;
	case 5: r = asprintf(&d, "hero-snap --context %s -o - | hero-restore --context %s%s%s - on %s (no temporary file)",
			     ctx, ctx, strcmp(as, ctx) ? " --as " : "", strcmp(as, ctx) ? as : "", tgt); break;
	case 6: r = asprintf(&d, "confirm %s recorded the archive", tgt); break;
	case 7: r = asprintf(&d, "reconcile the services declared in %s on %s", s(spec, "desired"), tgt); break;
	case 8: r = asprintf(&d, "run the probes of %s on %s (HERO_CONTEXT=%s)", s(spec, "probes"), tgt, as); break;
	case 9: r = asprintf(&d, "%s%s%smark '%s' as moved at the source (only after verify passed)",
			     *s(spec, "gateway") && !strcmp(s(spec, "target_kind"), "vm") ? "point gateway '" : "",
			     !strcmp(s(spec, "target_kind"), "vm") ? s(spec, "gateway") : "",
			     *s(spec, "gateway") && !strcmp(s(spec, "target_kind"), "vm") ? "' at the new VM, " : "", ctx); break;
	case 10: r = asprintf(&d, "remove the job's work directory on the target%s",
			      json_is_true(json_object_get(spec, "delete_source")) ? "; DELETE the context at the source"
										: "; keep the source's data"); break;
	}
	return r < 0 ? NULL : d;
}

static const char *skip_reason(const json_t *spec, size_t i)
{
	const char *kind = s(spec, "target_kind");
	if (i == 7)
		return "no --desired directory";
	if (!strcmp(kind, "dir"))
		return "the target is a local directory";
	return !strcmp(kind, "ssh") ? "the target instance exists" : "no --gateway";
}

json_t *hero_mig_plan(const json_t *spec)
{
	json_t *plan = json_array();
	char *tgt = describe_target(spec);
	for (size_t i = 0; i < HERO_MIG_NSTAGES; i++) {
		char *d = hero_mig_stage_skipped(spec, i) ? strdup(skip_reason(spec, i)) : does(spec, i, tgt ? tgt : "the target");
		json_array_append_new(plan, json_pack("{sssbss}", "stage", names[i], "skip", hero_mig_stage_skipped(spec, i),
						      "does", d ? d : ""));
		free(d);
	}
	free(tgt);
	return plan;
}
