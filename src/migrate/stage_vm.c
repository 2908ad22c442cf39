/* stage_vm.c - the stages on ComputeService: provision, wait, gateway; and
 * what cutover and abort do there. Names chosen by the job are the
 * idempotence keys: each side effect is preceded by a journaled intent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "migrate/migrate_internal.h"

#define SECRET_NAME "vm_secret"

/* The job's VM secret: the stored one, or a new one from the CSPRNG,
 * journaled before anything uses it. sodium_malloc'd in *OUT. */
static int vm_secret(struct mig *m, char **out, struct hero_error *err)
{
	int ret = hero_journal_secret_get(m->j, m->id, SECRET_NAME, out, err);
	if (ret < 0 || *out)
		return ret;
	unsigned char raw[32];
	char *hex = sodium_init() < 0 ? NULL : sodium_malloc(2 * sizeof raw + 1);
	if (!hex)
		return hero_error(err, HERO_EFAIL, "out of memory");
	randombytes_buf(raw, sizeof raw);
	sodium_bin2hex(hex, 2 * sizeof raw + 1, raw, sizeof raw);
	sodium_memzero(raw, sizeof raw);
	if ((ret = hero_journal_secret_put(m->j, m->id, SECRET_NAME, hex, err)) < 0) {
		sodium_free(hex);
		return ret;
	}
	hero_mig_log(m, "minted the VM secret (kept in the journal, never shown)");
	*out = hex;
	return 0;
}

static void set_str(struct mig *m, const char *key, const char *v)
{
	json_object_set_new(m->out, key, json_string(v));
}

int hero_stage_provision(struct mig *m, struct hero_error *err)
{
	struct hero_compute *c;
	struct hero_vm vm;
	char *secret = NULL;
	const char *name = hero_mig_str(m, "vm_name");
	int found = 0, ret;
	if ((ret = hero_mig_compute(m, &c, err)) < 0 || (ret = vm_secret(m, &secret, err)) < 0)
		return ret;
	set_str(m, "name", name);
	if ((ret = hero_mig_record(m, err)) < 0 || (ret = hero_compute_find_vm(c, name, &vm, &found, m->deadline, err)) < 0)
		goto out;
	if (found && !strcmp(vm.state, "deleting")) {
		m->permanent = 1;
		ret = hero_error(err, HERO_EFAIL, "a VM named '%s' is being deleted: wait, or use another --vm-name", name);
		goto out;
	}
	if (found) {
		hero_mig_log(m, "VM '%s' already exists as %s (%s): adopted, not deployed again", name, vm.id, vm.state);
		json_object_set_new(m->out, "adopted", json_true());
	} else {
		json_t *keys = json_object_get(m->spec, "ssh_keys");
		const char *k[64];
		size_t n = json_array_size(keys) < 64 ? json_array_size(keys) : 64;
		for (size_t i = 0; i < n; i++)
			k[i] = json_string_value(json_array_get(keys, i));
		struct hero_vm_spec s = { .name = name, .slice_count = (int)hero_mig_int(m, "slices"), .secret = secret,
					  .image = hero_mig_str(m, "image"), .ssh_keys = k, .n_keys = n,
					  .node_sid = *hero_mig_str(m, "node") ? hero_mig_str(m, "node") : NULL };
		if ((ret = hero_compute_deploy_vm(c, &s, &vm, m->deadline, err)) < 0)
			goto out;
		hero_mig_log(m, "deploy_vm '%s': %s is %s", name, vm.id, vm.state);
	}
	set_str(m, "vm_id", vm.id);
	ret = 0;
out:
	hero_journal_secret_free(secret);
	return ret;
}

/* Poll `ssh true` until it answers or the deadline passes. */
static int ssh_ready(struct mig *m, struct hero_error *err)
{
	long long interval = hero_mig_int(m, "poll_ms");
	for (int n = 1;; n++) {
		int status = -1;
		struct hero_error e = HERO_ERROR_INIT;
		if (hero_mig_command(m, "ssh probe", "true", -1, NULL, &status, &e) == 0) {
			json_object_set_new(m->out, "ssh_probes", json_integer(n));
			return 0;
		}
		if (status != 255) /* not the transport: something answered and refused */
			return hero_error(err, HERO_EFAIL, "%s", e.msg);
		if (hero_mono_ms() + interval >= m->deadline)
			return hero_error(err, HERO_EFAIL, "ssh never answered: %s", e.msg);
		struct timespec ts = { (time_t)(interval / 1000), (long)(interval % 1000) * 1000000L };
		nanosleep(&ts, NULL);
		interval = interval * 3 / 2 > 15000 ? 15000 : interval * 3 / 2;
	}
}

/* Copy the VM's log (vm_logs) into the job's log; best effort. */
static void log_vm(struct mig *m, struct hero_compute *c, const char *id)
{
	struct hero_error e = HERO_ERROR_INIT;
	char *secret = NULL;
	json_t *r = NULL, *line;
	size_t i;
	if (hero_journal_secret_get(m->j, m->id, SECRET_NAME, &secret, &e) < 0 || !secret ||
	    hero_compute_vm_logs(c, id, secret, &r, m->deadline + 10000, &e) < 0) {
		hero_mig_log(m, "no VM log: %s", e.msg[0] ? e.msg : "no secret");
	} else {
		json_array_foreach(json_is_array(r) ? r : json_object_get(r, "lines"), i, line)
			hero_mig_log(m, "vm_logs| %s", json_string_value(line) ? json_string_value(line) : "");
	}
	json_decref(r);
	hero_journal_secret_free(secret);
}

int hero_stage_wait(struct mig *m, struct hero_error *err)
{
	struct hero_compute *c;
	struct hero_vm vm;
	int ret;
	if (!strcmp(hero_mig_kind(m), "vm")) {
		const char *id = hero_mig_output_str(m, "provision", "vm_id");
		if (!id)
			return hero_error(err, HERO_EFAIL, "provision recorded no VM id");
		if ((ret = hero_mig_compute(m, &c, err)) < 0)
			return ret;
		if ((ret = hero_compute_wait_vm(c, id, &vm, m->deadline, err)) < 0) {
			if ((m->permanent = !strcmp(vm.state, "error")))
				log_vm(m, c, id);
			return ret;
		}
		set_str(m, "vm_state", vm.state);
		set_str(m, "mycelium_ip", vm.mycelium_ip);
		hero_mig_log(m, "VM %s is running at %s", id, vm.mycelium_ip);
	}
	return ssh_ready(m, err);
}

char *hero_mig_vm_backend(const struct mig *m)
{
	const char *ip = hero_mig_output_str(m, "wait", "mycelium_ip");
	char *b = NULL;
	if (!ip)
		return NULL;
	if (asprintf(&b, strchr(ip, ':') ? "http://[%s]:%lld" : "http://%s:%lld", ip, hero_mig_int(m, "router_port")) < 0)
		return NULL;
	return b;
}

int hero_stage_gateway(struct mig *m, struct hero_error *err)
{
	struct hero_compute *c;
	struct hero_gw gw;
	const char *name = hero_mig_str(m, "gateway"), *backend = hero_mig_str(m, "source_backend");
	int found = 0, ret;
	if ((ret = hero_mig_compute(m, &c, err)) < 0 || (ret = hero_compute_find_gw(c, name, &gw, &found, m->deadline, err)) < 0)
		return ret;
	if (found) {
		/* ours when the journal recorded the intent to create it; else it predates the job */
		if (!json_is_true(json_object_get(m->out, "created")))
			json_object_set_new(m->out, "created", json_false());
		hero_mig_log(m, "gateway '%s' exists as %s (%s): adopted%s", name, gw.id, gw.backend,
			json_is_true(json_object_get(m->out, "created")) ? "" : ", not ours: abort leaves it");
		set_str(m, "backend_before", gw.backend);
	} else {
		if (!backend) {
			m->permanent = 1;
			return hero_error(err, HERO_EUSAGE, "gateway '%s' does not exist: --source-backend URL says where"
							    " it serves until cutover", name);
		}
		json_object_set_new(m->out, "created", json_true());
		if ((ret = hero_mig_record(m, err)) < 0 || (ret = hero_compute_deploy_gw(c, name, backend, &gw, m->deadline, err)) < 0)
			return ret;
		hero_mig_log(m, "deploy_webgateway '%s' to %s: %s", name, backend, gw.id);
		set_str(m, "backend_before", backend);
	}
	set_str(m, "id", gw.id);
	if ((ret = hero_compute_wait_gw(c, gw.id, &gw, m->deadline, err)) < 0)
		return ret;
	set_str(m, "fqdn", gw.fqdn);
	return 0;
}

int hero_mig_repoint_gateway(struct mig *m, struct hero_error *err)
{
	struct hero_compute *c;
	struct hero_gw gw;
	const char *name = hero_mig_str(m, "gateway");
	char *backend = hero_mig_vm_backend(m);
	int found = 0, ret;
	if (!backend)
		return hero_error(err, HERO_EFAIL, "the new VM's address is unknown");
	if ((ret = hero_mig_compute(m, &c, err)) < 0 || (ret = hero_compute_find_gw(c, name, &gw, &found, m->deadline, err)) < 0)
		goto out;
	if (found && strcmp(gw.backend, backend)) {
		/* no update method on ComputeService: delete, wait until gone, deploy again */
		json_object_set_new(m->out, "repointing", json_true());
		if ((ret = hero_mig_record(m, err)) < 0 || (ret = hero_compute_delete_gw(c, gw.id, m->deadline, err)) < 0 ||
		    (ret = hero_compute_wait_gw_gone(c, gw.id, m->deadline, err)) < 0)
			goto out;
		hero_mig_log(m, "gateway '%s' (%s to %s) deleted", name, gw.id, gw.backend);
		found = 0;
	}
	if (!found) {
		if ((ret = hero_compute_deploy_gw(c, name, backend, &gw, m->deadline, err)) < 0)
			goto out;
		hero_mig_log(m, "deploy_webgateway '%s' to %s: %s", name, backend, gw.id);
	}
	if ((ret = hero_compute_wait_gw(c, gw.id, &gw, m->deadline, err)) < 0)
		goto out;
	json_object_set_new(m->out, "gateway_id", json_string(gw.id));
	json_object_set_new(m->out, "fqdn", json_string(gw.fqdn));
	json_object_set_new(m->out, "backend", json_string(backend));
	ret = 0;
out:
	free(backend);
	return ret;
}

/* Undo the job's gateway: delete it if the job created it; put an adopted one
 * (that cutover re-pointed) back to the backend it had before the job. */
static int undo_gateway(struct mig *m, struct hero_compute *c, struct hero_error *err)
{
	struct hero_gw gw;
	const char *name = hero_mig_str(m, "gateway"), *before = hero_mig_output_str(m, "gateway", "backend_before");
	int found = 0, ret;
	int created = json_is_true(hero_mig_output(m, "gateway", "created"));
	int repointed = hero_mig_output(m, "cutover", "gateway_id") || json_is_true(hero_mig_output(m, "cutover", "repointing"));
	if (!name || (!created && !repointed))
		return 0;
	if ((ret = hero_compute_find_gw(c, name, &gw, &found, m->deadline, err)) < 0)
		return ret;
	if (found && (created || !before || strcmp(gw.backend, before))) {
		if ((ret = hero_compute_delete_gw(c, gw.id, m->deadline, err)) < 0 ||
		    (ret = hero_compute_wait_gw_gone(c, gw.id, m->deadline, err)) < 0)
			return ret;
		hero_mig_log(m, "gateway '%s' (%s) deleted", name, gw.id);
		found = 0;
	}
	if (created || found || !before)
		return 0;
	if ((ret = hero_compute_deploy_gw(c, name, before, &gw, m->deadline, err)) < 0 ||
	    (ret = hero_compute_wait_gw(c, gw.id, &gw, m->deadline, err)) < 0)
		return ret;
	hero_mig_log(m, "gateway '%s' points at %s again, as before the job (%s)", name, before, gw.id);
	return 0;
}

int hero_mig_delete_created(struct mig *m, struct hero_error *err)
{
	struct hero_compute *c;
	struct hero_vm vm;
	char *secret = NULL;
	const char *name = hero_mig_output_str(m, "provision", "name");
	int found = 0, ret;
	if ((ret = hero_mig_compute(m, &c, err)) < 0 || (ret = undo_gateway(m, c, err)) < 0)
		return ret;
	if (!name)
		return 0; /* provision never recorded its intent: no VM */
	if ((ret = hero_compute_find_vm(c, name, &vm, &found, m->deadline, err)) < 0 || !found)
		return ret;
	if ((ret = hero_journal_secret_get(m->j, m->id, SECRET_NAME, &secret, err)) < 0)
		return ret;
	if (!secret)
		return hero_error(err, HERO_EFAIL, "the secret of VM '%s' is not in the journal: it cannot be deleted", name);
	ret = hero_compute_delete_vm(c, vm.id, secret, m->deadline, err);
	hero_journal_secret_free(secret);
	if (ret == 0)
		ret = hero_compute_wait_vm_gone(c, vm.id, m->deadline, err);
	if (ret == 0)
		hero_mig_log(m, "VM '%s' (%s) deleted", name, vm.id);
	return ret;
}
