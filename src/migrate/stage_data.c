/* stage_data.c - bootstrap, snapshot, transfer and restore: the data path
 * from the source instance to the target (docs/decisions/0030). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "base/internal.h"
#include "hero/keys.h"
#include "hero/manifest.h"
#include "hero/snapshot.h"
#include "migrate/migrate_internal.h"

/* Run CMD at the target with FILE as its stdin. */
static int run_with_file(struct mig *m, const char *label, const char *cmd, const char *file, char **out,
			 struct hero_error *err)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot open '%s'", file);
	int status = -1, ret = hero_mig_command(m, label, cmd, fd, out, &status, err);
	close(fd);
	return ret < 0 ? -hero_mig_status_code(m, status) : 0;
}

/* ---- bootstrap ---------------------------------------------------------- */

/* The key id from the public key file's comment line, else the job id. */
static void key_id(const struct mig *m, char *out, size_t n)
{
	char line[256] = "";
	const char *tag = "public key ";
	FILE *f = fopen(hero_mig_str(m, "pubkey"), "r");
	if (f && fgets(line, sizeof line, f) && strstr(line, tag)) {
		const char *p = strstr(line, tag) + strlen(tag);
		size_t k = strspn(p, "0123456789abcdef");
		snprintf(out, n, "%.*s", (int)(k ? k : 0), p);
	}
	if (f)
		fclose(f);
	if (!out[0])
		snprintf(out, n, "%s", m->id);
}

static int trust_source_key(struct mig *m, struct hero_error *err)
{
	char id[64] = "", *cmd = NULL;
	key_id(m, id, sizeof id);
	if (asprintf(&cmd, "d=\"${HERO_TRUSTED_KEYS:-/etc/hero/trusted-keys.d}\"; f=\"$d/hero-migrate-%s.pub\";"
			   " mkdir -p \"$d\" && cat >\"$f.tmp\" && mv -f \"$f.tmp\" \"$f\"", id) < 0)
		return hero_error(err, HERO_EFAIL, "out of memory");
	int ret = run_with_file(m, "trust the source key", cmd, hero_mig_str(m, "pubkey"), NULL, err);
	free(cmd);
	if (ret == 0)
		json_object_set_new(m->out, "trusted_key", json_string(id));
	return ret;
}

/* Append to the target's cfg/env/env.sh the `export NAME=` lines of the
 * secrets file whose NAME it lacks; values never reach the log. */
static const char merge_sh[] =
	"f=\"$R/cfg/env/env.sh\"; umask 077; mkdir -p \"$R/cfg/env\" && touch \"$f\" || exit 1; n=0;"
	" while IFS= read -r l || [ -n \"$l\" ]; do case \"$l\" in \"export \"*=*) ;; *) continue;; esac;"
	" k=${l#export }; k=${k%%=*}; case \"$k\" in \"\"|*[!A-Za-z0-9_]*) continue;; esac;"
	" grep -q \"^export $k=\" \"$f\" && continue; printf '%s\\n' \"$l\" >>\"$f\" || exit 1; n=$((n+1)); done;"
	" echo \"$n\"";

static int merge_secrets(struct mig *m, struct hero_error *err)
{
	char *pre = hero_mig_prelude(m), *cmd = NULL, *out = NULL;
	int ret;
	if (!pre || asprintf(&cmd, "%s%s", pre, merge_sh) < 0) {
		free(pre);
		return hero_error(err, HERO_EFAIL, "out of memory");
	}
	free(pre);
	ret = run_with_file(m, "merge secrets", cmd, hero_mig_str(m, "secrets_file"), &out, err);
	if (ret == 0)
		json_object_set_new(m->out, "secrets_added", json_integer(strtol(out ? out : "0", NULL, 10)));
	free(out);
	free(cmd);
	return ret;
}

static void file_sha256(const char *path, char hex[65])
{
	unsigned char buf[65536], h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256_state st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	crypto_hash_sha256_init(&st);
	while (fd >= 0 && (n = read(fd, buf, sizeof buf)) > 0)
		crypto_hash_sha256_update(&st, buf, (unsigned long long)n);
	if (fd >= 0)
		close(fd);
	crypto_hash_sha256_final(&st, h);
	sodium_bin2hex(hex, 65, h, sizeof h);
}

static int run_script(struct mig *m, struct hero_error *err)
{
	const char *script = hero_mig_str(m, "bootstrap"), *fqdn = hero_mig_output_str(m, "gateway", "fqdn");
	char *pre = hero_mig_prelude(m), *ctx = hero_sh_quote(hero_mig_str(m, "as")), *gw = hero_sh_quote(fqdn ? fqdn : "");
	char *cmd = NULL, hex[65];
	int ret = -HERO_EFAIL;
	if (!pre || !ctx || !gw ||
	    asprintf(&cmd, "%sexport HERO_ROOT=\"$R\" HERO_CONTEXT=%s HERO_MIGRATE_JOB=%s HERO_GATEWAY_FQDN=%s; sh -s", pre,
		     ctx, m->id, gw) < 0) {
		ret = hero_error(err, HERO_EFAIL, "out of memory");
		cmd = NULL;
		goto out;
	}
	ret = run_with_file(m, "bootstrap script", cmd, script, NULL, err);
	if (ret == 0) {
		file_sha256(script, hex);
		json_object_set_new(m->out, "script_sha256", json_string(hex));
	}
out:
	free(cmd);
	free(pre);
	free(ctx);
	free(gw);
	return ret;
}

int hero_stage_bootstrap(struct mig *m, struct hero_error *err)
{
	int ret = 0;
	if (strcmp(hero_mig_kind(m), "dir"))
		ret = trust_source_key(m, err);
	if (ret == 0 && hero_mig_str(m, "secrets_file"))
		ret = merge_secrets(m, err);
	if (ret == 0 && hero_mig_str(m, "bootstrap"))
		ret = run_script(m, err);
	return ret;
}

/* ---- snapshot: the pre-flight at the source ---------------------------- */

/* Whether any per-context path of the manifests exists for CTX under ROOT. */
static int context_present(const struct hero_inventory *inv, const char *root, const char *ctx)
{
	for (size_t i = 0; i < inv->n; i++) {
		const struct hero_service *s = &inv->services[i];
		for (size_t k = 0; k < s->n_state; k++) {
			char *rel = NULL, *full = NULL;
			int hit = 0;
			if (!hero_state_per_context(&s->state[k]) || hero_state_path(&s->state[k], ctx, &rel, NULL) < 0)
				continue;
			full = hero_join(root, rel);
			hit = full && access(full, F_OK) == 0;
			free(full);
			free(rel);
			if (hit)
				return 1;
		}
	}
	return 0;
}

static char *read_passphrase(const char *file, struct hero_error *err)
{
	char line[1024];
	FILE *f = fopen(file, "r");
	if (!f) {
		hero_error_errno(err, HERO_EFAIL, errno, "cannot read passphrase file '%s'", file);
		return NULL;
	}
	char *p = fgets(line, sizeof line, f) ? sodium_malloc(strlen(line) + 1) : NULL;
	fclose(f);
	if (p) {
		line[strcspn(line, "\r\n")] = '\0';
		memcpy(p, line, strlen(line) + 1);
	} else {
		hero_error(err, HERO_EFAIL, "passphrase file '%s' is empty", file);
	}
	sodium_memzero(line, sizeof line);
	return p;
}

static int preflight(struct mig *m, const struct hero_inventory *inv, struct hero_seckey *sk, struct hero_error *err)
{
	const char *ctx = hero_mig_str(m, "context");
	char *cv[] = { (char *)ctx };
	struct hero_strlist contexts = { cv, 1 };
	struct hero_snap_result res;
	int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot open /dev/null");
	struct hero_snap_opts o = { .root = hero_mig_str(m, "source_root"), .inv = inv, .sk = sk, .out_fd = fd,
				    .contexts = &contexts };
	memset(&res, 0, sizeof res);
	int ret = hero_snapshot(&o, &res, err);
	close(fd);
	if (ret < 0)
		return ret;
	json_object_set_new(m->out, "preflight_archive_id", json_string(res.archive_id));
	json_object_set_new(m->out, "entries", json_integer((json_int_t)res.st.entries));
	json_object_set_new(m->out, "files", json_integer((json_int_t)res.st.files));
	json_object_set_new(m->out, "data_bytes", json_integer((json_int_t)res.st.data_bytes));
	json_object_set_new(m->out, "archive_bytes", json_integer((json_int_t)res.st.archive_bytes));
	hero_mig_log(m, "pre-flight archive %s: %llu entries, %llu bytes of state", res.archive_id,
		(unsigned long long)res.st.entries, (unsigned long long)res.st.data_bytes);
	return 0;
}

int hero_stage_snapshot(struct mig *m, struct hero_error *err)
{
	struct hero_inventory inv = HERO_INVENTORY_INIT;
	struct hero_seckey *sk = NULL;
	char *pass = NULL;
	const char *root = hero_mig_str(m, "source_root"), *ctx = hero_mig_str(m, "context");
	int ret;
	if ((ret = hero_crypto_init(err)) < 0 || (ret = hero_inventory_load(&inv, hero_mig_str(m, "manifests"), err)) < 0)
		goto out;
	if (!context_present(&inv, root, ctx)) {
		m->permanent = 1;
		ret = hero_error(err, HERO_EUSAGE, "context '%s' has no state under '%s'", ctx, root);
		goto out;
	}
	if (hero_mig_str(m, "passphrase_file") && !(pass = read_passphrase(hero_mig_str(m, "passphrase_file"), err))) {
		ret = -err->code;
		goto out;
	}
	if ((ret = hero_seckey_load(&sk, hero_mig_str(m, "seckey"), pass, err)) < 0) {
		m->permanent = 1;
		goto out;
	}
	ret = preflight(m, &inv, sk, err);
out:
	hero_seckey_free(sk);
	if (pass)
		sodium_free(pass);
	hero_inventory_release(&inv);
	return ret;
}

/* ---- transfer: hero-snap | ssh hero-restore ----------------------------- */

static char *restore_cmd(const struct mig *m)
{
	char *pre = hero_mig_prelude(m), *tool = hero_mig_remote_tool(m, "hero-restore"), *ctx = hero_sh_quote(hero_mig_str(m, "context"));
	char *as = hero_sh_quote(hero_mig_str(m, "as")), *extra = NULL, *cmd = NULL;
	int local = !strcmp(hero_mig_kind(m), "dir");
	char *pub = local ? hero_sh_quote(hero_mig_str(m, "pubkey")) : NULL, *man = local ? hero_sh_quote(hero_mig_str(m, "manifests")) : NULL;
	if (pre && tool && ctx && as && (!local || (pub && man)) &&
	    asprintf(&extra, local ? " -p %s --manifests %s" : "%s%s", local ? pub : "", local ? man : "") >= 0 &&
	    asprintf(&cmd, "%s%s --root \"$R\" --context %s --as %s --json%s -", pre, tool, ctx, as, extra) < 0)
		cmd = NULL;
	free(pre);
	free(tool);
	free(ctx);
	free(as);
	free(extra);
	free(pub);
	free(man);
	return cmd;
}

/* Test fault: HERO_MIGRATE_FAULT=transfer-drop:BYTES[:N] kills the ssh client after
 * BYTES in the first N attempts (every attempt without N). Test builds only. */
static unsigned long long drop_fault(const struct mig *m)
{
#ifndef HERO_TESTING
	(void)m;
	return 0;
#else
	const char *f = getenv("HERO_MIGRATE_FAULT");
	char *end;
	if (!f || strncmp(f, "transfer-drop:", 14))
		return 0;
	unsigned long long bytes = strtoull(f + 14, &end, 10);
	return *end == ':' && m->attempt > atoi(end + 1) ? 0 : bytes;
#endif
}

static int transfer_result(struct mig *m, const char *out, unsigned long long bytes, struct hero_error *err)
{
	json_t *r = json_loads(out ? out : "", JSON_DISABLE_EOF_CHECK, NULL);
	if (!json_is_object(r) || !json_is_string(json_object_get(r, "archive_id"))) {
		json_decref(r);
		return hero_error(err, HERO_EFAIL, "hero-restore on the target printed no result");
	}
	json_object_set(m->out, "archive_id", json_object_get(r, "archive_id"));
	json_object_set_new(m->out, "bytes", json_integer((json_int_t)bytes));
	static const char *const keys[] = { "entries", "rows", "databases_checked", "migrations" };
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (json_object_get(r, keys[i]))
			json_object_set(m->out, keys[i], json_object_get(r, keys[i]));
	json_decref(r);
	hero_mig_log(m, "archive %s restored on the target (%llu bytes over the pipe)", hero_mig_output_str(m, "transfer", "archive_id"), bytes);
	return 0;
}

int hero_stage_transfer(struct mig *m, struct hero_error *err)
{
	struct hero_target *t;
	struct hero_exec x = HERO_EXEC_INIT;
	struct hero_pipe_stats ps;
	char *snap = hero_mig_local_tool(m, "hero-snap"), *cmd = restore_cmd(m);
	const char *argv[16];
	int n = 0, ret;
	if (!snap || !cmd) {
		ret = hero_error(err, HERO_EFAIL, "out of memory");
		goto out;
	}
	argv[n++] = snap;
	argv[n++] = "-q";
	argv[n++] = "-s";
	argv[n++] = hero_mig_str(m, "seckey");
	if (hero_mig_str(m, "passphrase_file")) {
		argv[n++] = "--passphrase-file";
		argv[n++] = hero_mig_str(m, "passphrase_file");
	}
	argv[n++] = "--root";
	argv[n++] = hero_mig_str(m, "source_root");
	argv[n++] = "--manifests";
	argv[n++] = hero_mig_str(m, "manifests");
	argv[n++] = "--context";
	argv[n++] = hero_mig_str(m, "context");
	argv[n++] = "-o";
	argv[n++] = "-";
	argv[n] = NULL;
	if ((ret = hero_mig_target(m, &t, err)) < 0)
		goto out;
	x.label = "hero-restore";
	x.log_fd = m->log_fd;
	x.capture = 1;
	x.deadline = m->deadline;
	hero_mig_log(m, "streaming context '%s' to %s", hero_mig_str(m, "context"), hero_target_name(t));
	ret = hero_target_pipe(t, argv, "hero-snap", cmd, &x, drop_fault(m), &ps, err);
	if (ret < 0 && !x.timed_out && x.status >= 2 && x.status <= 7)
		ret = -hero_mig_status_code(m, x.status);
	if (ret == 0)
		ret = transfer_result(m, x.out, ps.bytes, err);
	free(x.out);
out:
	free(snap);
	free(cmd);
	return ret;
}

/* ---- restore: the target recorded what was sent -------------------------- */

int hero_stage_restore(struct mig *m, struct hero_error *err)
{
	const char *id = hero_mig_output_str(m, "transfer", "archive_id");
	char *pre = hero_mig_prelude(m), *cmd = NULL, *out = NULL, want[128];
	int ret;
	if (!id)
		return hero_error(err, HERO_EFAIL, "transfer recorded no archive id");
	if (!pre || asprintf(&cmd, "%stail -n 500 \"$R/.hero/restore.log\"", pre) < 0) {
		free(pre);
		return hero_error(err, HERO_EFAIL, "out of memory");
	}
	free(pre);
	ret = hero_mig_command(m, "read the restore log", cmd, -1, &out, NULL, err);
	free(cmd);
	snprintf(want, sizeof want, "restore of archive %s", id);
	if (ret == 0 && (!out || !strstr(out, want))) {
		m->permanent = 1;
		ret = hero_error(err, HERO_EFAIL, "the target's restore log does not name archive %s: abort and run again", id);
	}
	if (ret == 0) {
		json_object_set_new(m->out, "archive_id", json_string(id));
		json_object_set_new(m->out, "confirmed", json_true());
	}
	free(out);
	return ret;
}
