/* compute.h - a client for ComputeService (hero_compute): VMs and web
 * gateways on the ThreeFold Grid.
 *
 * JSON-RPC 2.0 over HTTP/1.1 (libcurl): POST /rpc on a Unix socket
 * ("unix:PATH"), or a URL ("http://HOST:9988/hero_compute/rpc" through
 * hero_router). Methods are called as "ComputeService.<name>" with named
 * params. Deploys and deletes are asynchronous: the wait functions poll with
 * backoff (first interval, x1.5, capped) until an absolute deadline on the
 * monotonic clock (hero_mono_ms). Every error names the method and, for a
 * JSON-RPC error, the server's message. The methods that are stubs on TFGrid
 * (start_vm, stop_vm, restart_vm, inject_ssh_keys, vm_exec, vm_stats) are
 * refused by hero_compute_call: stop is delete, restart is delete and
 * redeploy, exec and stats go over ssh.
 */
#ifndef HERO_COMPUTE_H
#define HERO_COMPUTE_H

#include <stddef.h>

#include <jansson.h>

#include "hero/error.h"

struct hero_compute;

struct hero_vm {
	char id[64];
	char name[128];
	char state[32];        /* provisioning | running | error | deleting */
	char mycelium_ip[64];  /* "" until known */
	char error[256];       /* the server's reason when state is error */
};

struct hero_vm_spec {
	const char *name;
	int slice_count;                /* 1 slice = 1 vCPU + 4 GB RAM + a fixed disk */
	const char *secret;             /* the caller's ownership token (CSPRNG) */
	const char *image;              /* a full flist URL */
	const char *const *ssh_keys;    /* OpenSSH public keys, injected at deploy time only */
	size_t n_keys;
	const char *node_sid;           /* "tfnode-<id>", or NULL for the service's choice */
};

struct hero_gw {
	char id[64];
	char name[128];
	char state[32];     /* provisioning | ready | error | deleting */
	char fqdn[256];     /* "" until ready */
	char backend[256];
	char error[256];
};

/* Open a client for ADDR ("unix:PATH", or an http(s) URL). No I/O happens
 * here. Free with hero_compute_free. */
int hero_compute_new(const char *addr, struct hero_compute **out, struct hero_error *err);
void hero_compute_free(struct hero_compute *c);

/* Polling intervals: FIRST_MS, growing by half each time up to CAP_MS
 * (defaults 1000 and 15000). */
void hero_compute_set_poll(struct hero_compute *c, int first_ms, int cap_ms);

/* After a failed call: the JSON-RPC error code (0 for a transport failure),
 * and whether the failure was in transport (no JSON-RPC reply at all). */
int hero_compute_last_code(const struct hero_compute *c);
int hero_compute_last_transport(const struct hero_compute *c);

/* Call ComputeService.METHOD with PARAMS (an object, reference stolen; NULL
 * for none) before DEADLINE. On success *RESULT (may be NULL) receives a new
 * reference. A stub method is refused (HERO_EUSAGE) without any I/O. */
int hero_compute_call(struct hero_compute *c, const char *method, json_t *params, json_t **result,
		      long long deadline, struct hero_error *err);

/* deploy_vm: returns at once (state provisioning) with the VM's id. */
int hero_compute_deploy_vm(struct hero_compute *c, const struct hero_vm_spec *spec, struct hero_vm *vm,
			   long long deadline, struct hero_error *err);
int hero_compute_get_vm(struct hero_compute *c, const char *id, struct hero_vm *vm, long long deadline,
			struct hero_error *err);
/* list_vms, searched for NAME: *FOUND is 1 and VM filled when present. */
int hero_compute_find_vm(struct hero_compute *c, const char *name, struct hero_vm *vm, int *found,
			 long long deadline, struct hero_error *err);
int hero_compute_list_vms(struct hero_compute *c, json_t **out, long long deadline, struct hero_error *err);
/* delete_vm (asynchronous; deleting a VM being deleted is fine). */
int hero_compute_delete_vm(struct hero_compute *c, const char *id, const char *secret, long long deadline,
			   struct hero_error *err);
/* vm_logs: *OUT is the result (new reference). */
int hero_compute_vm_logs(struct hero_compute *c, const char *id, const char *secret, json_t **out,
			 long long deadline, struct hero_error *err);

/* Poll get_vm until the VM is running with a mycelium IP. A VM in state
 * error fails at once with the server's reason, VM->state left "error".
 * Transport failures are retried until DEADLINE. */
int hero_compute_wait_vm(struct hero_compute *c, const char *id, struct hero_vm *vm, long long deadline,
			 struct hero_error *err);
/* Poll list_vms until no VM has id ID. */
int hero_compute_wait_vm_gone(struct hero_compute *c, const char *id, long long deadline, struct hero_error *err);

/* deploy_webgateway of kind "name" to one BACKEND URL; returns at once. */
int hero_compute_deploy_gw(struct hero_compute *c, const char *name, const char *backend, struct hero_gw *gw,
			   long long deadline, struct hero_error *err);
int hero_compute_get_gw(struct hero_compute *c, const char *id, struct hero_gw *gw, long long deadline,
			struct hero_error *err);
/* list_webgateways, searched for NAME. */
int hero_compute_find_gw(struct hero_compute *c, const char *name, struct hero_gw *gw, int *found,
			 long long deadline, struct hero_error *err);
int hero_compute_list_gws(struct hero_compute *c, json_t **out, long long deadline, struct hero_error *err);
int hero_compute_delete_gw(struct hero_compute *c, const char *id, long long deadline, struct hero_error *err);
/* Poll get_webgateway until ready with its FQDN (error state fails at once). */
int hero_compute_wait_gw(struct hero_compute *c, const char *id, struct hero_gw *gw, long long deadline,
			 struct hero_error *err);
/* Poll list_webgateways until no gateway has id ID. */
int hero_compute_wait_gw_gone(struct hero_compute *c, const char *id, long long deadline, struct hero_error *err);

#endif
