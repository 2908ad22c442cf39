/* chain.h - helpers of incremental archives shared by snapshot and restore. */
#ifndef HERO_CHAIN_H
#define HERO_CHAIN_H

#include <jansson.h>

#include "hero/archive.h"
#include "hero/incremental.h"

/* The scope object of a manifest as a canonical string ("KIND", then
 * " services=A,B" and " contexts=C" when not empty, names sorted), so equal
 * scopes compare equal; malloc'd, NULL when out of memory. */
char *hero_scope_canon(json_t *scope);

/* Read the archive file PATH through and verify it (signature with TRUST, and
 * every entry; with LISTING only the signature, see hero_areader_listing). On
 * success *MANIFEST and *INDEX (both may be NULL) receive the parsed manifest
 * and index (json_decref them) and HDR (may be NULL) the header. */
int hero_archive_verify_file(const char *path, const struct hero_trust *trust, const struct hero_limits *lim,
			     int listing, json_t **manifest, json_t **index, struct hero_header *hdr,
			     struct hero_error *err);

/* The elements of INDEX that describe the state: everything but deleted
 * paths, as an object mapping each path to its element (borrowed from
 * INDEX: keep INDEX alive). NULL when out of memory. */
json_t *hero_index_state(json_t *index);

/* Every element of INDEX (an increment, LABEL in messages) marked unchanged
 * must equal the element its parent's index PREV lists for the path: same
 * type, size and BLAKE2b. Refuses with HERO_EINTEGRITY. */
int hero_index_check_unchanged(json_t *prev, json_t *index, const char *label, struct hero_error *err);

/* The tree under the directory DFD must hold exactly WANT: an object mapping
 * each path (relative to DFD) to its index element; every path listed there
 * with its type and (files) size, and nothing else, except directories that
 * lead to listed paths. A directory that neither is listed nor leads to a
 * listed path is removed (an increment deleted what it held). WANT is
 * emptied as paths are met. Refuses with HERO_EINTEGRITY, naming the path. */
int hero_tree_check(int dfd, json_t *want, struct hero_error *err);

/* The 64 hex digits of an element's BLAKE2b as 32 bytes; -1 when malformed. */
int hero_hash_unhex(const char *hex, uint8_t out[32]);

/* ---- writing an increment (increment.c) ---- */

struct hero_seckey;
struct hero_increment;

/* The parent archive PATH and its state. Unless VERIFY, when ROOT remembers
 * the index of the archive whose id PATH's header holds (it wrote it: see
 * hero_increment_remember), only PATH's header and manifest are read.
 * Otherwise PATH is read through and verified with SK's own public key and
 * the keys of EXTRA (may be NULL). Free with hero_increment_free. */
int hero_increment_new(struct hero_increment **out, const char *path, const struct hero_seckey *sk,
			const struct hero_trust *extra, const char *root, int verify, struct hero_error *err);
/* Whether the parent was read through and verified (1) or its remembered index used (0). */
int hero_increment_verified(const struct hero_increment *inc);
/* Remember INDEX_TEXT, the index of archive ARCHIVE_ID just written, under
 * ROOT/.hero for the next increment (with its length and hash, so a damaged
 * copy is never used). */
int hero_increment_remember(const char *root, const char *archive_id, const char *index_text,
			    struct hero_error *err);
/* Refuse (HERO_EUSAGE) a parent of another instance or another SCOPE (the
 * manifest scope object of the archive being written). */
int hero_increment_check(const struct hero_increment *inc, const char *instance_id, json_t *scope,
			 struct hero_error *err);
const char *hero_increment_parent_id(const struct hero_increment *inc);
/* Take PATH out of the parent's state; returns its element when it is of
 * TYPE (borrowed, valid until free), else NULL. */
json_t *hero_increment_take(struct hero_increment *inc, const char *path, enum hero_etype type);
/* Write a deleted element for every path of the parent not taken; *COUNT receives how many. */
int hero_increment_finish(struct hero_increment *inc, struct hero_awriter *w, uint64_t *count,
			  struct hero_error *err);
void hero_increment_free(struct hero_increment *inc);

#endif
