/* test_archive.c - the archive reader against damage and hostile paths, in process.
 *
 * Every single-bit flip and every truncation of a small signed archive is
 * refused with the integrity code (never accepted, never another code); the
 * path rules and the collision keys refuse what docs/security.md says; the
 * two tar parsers are held to the same entry boundaries; the fault knob
 * behaves as documented. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>
#include <zstd.h>

#include "base/internal.h"
#include "format/pathsafe.h"
#include "format/tarck.h"
#include "hero/archive.h"
#include "hero/keys.h"

struct fixture {
	struct hero_seckey *sk;
	struct hero_trust trust;
	uint8_t *arc;
	size_t len;
};

static char *src_path(const char *rel)
{
	const char *top = getenv("HERO_SRCDIR");
	char *p = malloc(4096);
	snprintf(p, 4096, "%s/%s", top ? top : ".", rel);
	return p;
}

static int mem_fd(const void *p, size_t n)
{
	int fd = memfd_create("hero-test", MFD_CLOEXEC);
	assert_true(fd >= 0);
	struct hero_error err = HERO_ERROR_INIT;
	assert_int_equal(hero_write_all(fd, p, n, "memfd", &err), 0);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

/* Build a small archive: manifest, a directory, two files. */
static void build(struct fixture *f)
{
	struct hero_error err = HERO_ERROR_INIT;
	struct hero_awriter *w = NULL;
	struct hero_awriter_opts o = { .level = 3, .threads = 1 };
	int out = memfd_create("hero-arc", MFD_CLOEXEC);
	assert_true(out >= 0);
	assert_int_equal(hero_awriter_new(&w, out, f->sk, &o, &err), 0);
	char id[2 * HERO_ID_BYTES + 1], m[512];
	hero_hex(hero_awriter_header(w)->archive_id, HERO_ID_BYTES, id);
	int n = snprintf(m, sizeof m,
			 "{\"format\":\"hero-archive\",\"format_version\":\"1.0\",\"archive_id\":\"%s\","
			 "\"encrypted\":false,\"services\":[]}",
			 id);
	assert_int_equal(hero_awriter_manifest(w, m, (size_t)n, &err), 0);
	assert_int_equal(hero_awriter_dir(w, "var/a", 0755, 1700000000, "svc", NULL, &err), 0);
	const char *data[2] = { "hello, world\n", "second file, a little longer than the first\n" };
	const char *names[2] = { "var/a/one.txt", "var/a/two.txt" };
	for (int i = 0; i < 2; i++) {
		int fd = mem_fd(data[i], strlen(data[i]));
		assert_int_equal(hero_awriter_file(w, names[i], HERO_E_FILE, fd, strlen(data[i]), 0644, 1700000000,
						   "svc", NULL, &err),
				 0);
		close(fd);
	}
	assert_int_equal(hero_awriter_finish(w, NULL, &err), 0);
	hero_awriter_free(w);
	off_t len = lseek(out, 0, SEEK_END);
	assert_true(len > 0);
	f->len = (size_t)len;
	f->arc = malloc(f->len);
	assert_int_equal(pread(out, f->arc, f->len, 0), (ssize_t)f->len);
	close(out);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	struct hero_error err = HERO_ERROR_INIT;
	char *key = src_path("tests/golden/keys/test.key"), *pub = src_path("tests/golden/keys/test.pub");
	if (hero_crypto_init(&err) < 0 || hero_seckey_load(&f->sk, key, NULL, &err) < 0 ||
	    hero_trust_add_file(&f->trust, pub, &err) < 0) {
		fprintf(stderr, "setup: %s\n", err.msg);
		return -1;
	}
	free(key);
	free(pub);
	build(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	hero_seckey_free(f->sk);
	hero_trust_release(&f->trust);
	free(f->arc);
	free(f);
	return 0;
}

/* Read the whole archive at P (N bytes); returns 0 when verified, else the
 * negative code, and the entries handed out. */
static int read_all(struct fixture *f, const uint8_t *p, size_t n, struct hero_error *err, int *entries)
{
	int fd = mem_fd(p, n), ret;
	struct hero_areader *r = NULL;
	const char *json;
	size_t len;
	struct hero_aentry e;
	uint8_t buf[4096];
	*entries = 0;
	if ((ret = hero_areader_new(&r, fd, &f->trust, NULL, err)) < 0 || (ret = hero_areader_manifest(r, &json, &len, err)) < 0)
		goto out;
	while ((ret = hero_areader_next(r, &e, err)) == 1) {
		(*entries)++;
		ssize_t k;
		while ((k = hero_areader_data(r, buf, sizeof buf, err)) > 0)
			;
		if (k < 0) {
			ret = (int)k;
			break;
		}
	}
	if (ret == 0 && !hero_areader_signature_checked(r))
		ret = -99;
out:
	hero_areader_free(r);
	close(fd);
	return ret;
}

static void test_intact_archive_verifies(void **state)
{
	struct fixture *f = *state;
	struct hero_error err = HERO_ERROR_INIT;
	int entries;
	assert_int_equal(read_all(f, f->arc, f->len, &err, &entries), 0);
	assert_int_equal(entries, 3);
}

static void test_every_bit_flip_is_refused(void **state)
{
	struct fixture *f = *state;
	uint8_t *copy = malloc(f->len);
	size_t flips = 0;
	for (size_t bit = 0; bit < f->len * 8; bit++) {
		memcpy(copy, f->arc, f->len);
		copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		struct hero_error err = HERO_ERROR_INIT;
		int entries;
		int ret = read_all(f, copy, f->len, &err, &entries);
		if (ret != -HERO_EINTEGRITY) {
			fprintf(stderr, "bit %zu (byte %zu of %zu): returned %d: %s\n", bit, bit / 8, f->len, ret, err.msg);
			fail();
		}
		assert_null(strchr(err.msg, '\n'));
		flips++;
	}
	free(copy);
	printf("refused all %zu single-bit flips of a %zu-byte archive\n", flips, f->len);
}

static void test_every_truncation_is_refused(void **state)
{
	struct fixture *f = *state;
	for (size_t n = 0; n < f->len; n++) {
		struct hero_error err = HERO_ERROR_INIT;
		int entries;
		int ret = read_all(f, f->arc, n, &err, &entries);
		if (ret != -HERO_EINTEGRITY) {
			fprintf(stderr, "truncated to %zu of %zu: returned %d: %s\n", n, f->len, ret, err.msg);
			fail();
		}
	}
}

static void test_trailing_bytes_are_refused(void **state)
{
	struct fixture *f = *state;
	uint8_t *copy = malloc(f->len + 1);
	memcpy(copy, f->arc, f->len);
	copy[f->len] = 0;
	struct hero_error err = HERO_ERROR_INIT;
	int entries;
	assert_int_equal(read_all(f, copy, f->len + 1, &err, &entries), -HERO_EINTEGRITY);
	assert_non_null(strstr(err.msg, "after the signature frame"));
	free(copy);
}

static void test_untrusted_signer_is_refused_before_the_body(void **state)
{
	struct fixture *f = *state;
	struct hero_trust none = HERO_TRUST_INIT;
	struct hero_error err = HERO_ERROR_INIT;
	char *other = src_path("tests/golden/keys/other.pub");
	assert_int_equal(hero_trust_add_file(&none, other, &err), 0);
	int fd = mem_fd(f->arc, f->len);
	struct hero_areader *r = NULL;
	assert_int_equal(hero_areader_new(&r, fd, &none, NULL, &err), -HERO_EINTEGRITY);
	assert_non_null(strstr(err.msg, "untrusted key"));
	hero_areader_free(r);
	hero_trust_release(&none);
	free(other);
	close(fd);
}

/* ---- the two tar parsers ---- */

struct tarbuf {
	uint8_t *p;
	size_t n;
};

static void tar_put(struct tarbuf *t, const void *p, size_t n)
{
	t->p = realloc(t->p, t->n + n);
	assert_non_null(t->p);
	if (n)
		memcpy(t->p + t->n, p, n);
	t->n += n;
}

static void tar_zeros(struct tarbuf *t, size_t n)
{
	static const uint8_t z[512];
	while (n) {
		size_t k = n < sizeof z ? n : sizeof z;
		tar_put(t, z, k);
		n -= k;
	}
}

/* A ustar header of TYPE for NAME declaring SIZE, then DATA (LEN bytes) padded to a block. */
static void tar_entry(struct tarbuf *t, const char *name, char type, size_t size, const void *data, size_t len)
{
	uint8_t b[512] = { 0 };
	unsigned sum = 0;
	snprintf((char *)b, 100, "%s", name);
	memcpy(b + 100, "0000644", 8);
	memcpy(b + 108, "0000000", 8);
	memcpy(b + 116, "0000000", 8);
	snprintf((char *)b + 124, 12, "%011zo", size);
	memcpy(b + 136, "15000000000", 12);
	b[156] = (uint8_t)type;
	memcpy(b + 257, "ustar", 6);
	memcpy(b + 263, "00", 2);
	memset(b + 148, ' ', 8);
	for (int i = 0; i < 512; i++)
		sum += b[i];
	snprintf((char *)b + 148, 8, "%06o", sum);
	tar_put(t, b, 512);
	tar_put(t, data, len);
	tar_zeros(t, (512 - len % 512) % 512);
}

/* The tar stream TAR (N bytes) as a signed archive of ID: header, one zstd frame, signature. */
static uint8_t *seal_tar(struct fixture *f, const uint8_t id[HERO_ID_BYTES], const uint8_t *tar, size_t n,
			 size_t *out_len)
{
	size_t cap = HERO_HEADER_FRAME + ZSTD_compressBound(n) + HERO_SIG_FRAME;
	uint8_t *out = calloc(1, cap), prehash[64];
	assert_non_null(out);
	struct hero_pubkey pk;
	hero_seckey_pubkey(f->sk, &pk);
	hero_put32(out, HERO_MAGIC_HEADER);
	hero_put32(out + 4, HERO_HEADER_FRAME - 8);
	memcpy(out + 8, "HEROSNAP", 8);
	out[16] = 1;
	memcpy(out + 24, id, HERO_ID_BYTES);
	memcpy(out + 40, pk.keyid, HERO_KEYID_BYTES);
	size_t z = ZSTD_compress(out + HERO_HEADER_FRAME, cap - HERO_HEADER_FRAME - HERO_SIG_FRAME, tar, n, 3);
	assert_false(ZSTD_isError(z));
	size_t len = HERO_HEADER_FRAME + z;
	crypto_generichash(prehash, sizeof prehash, out, len, NULL, 0);
	uint8_t *sig = out + len;
	hero_put32(sig, HERO_MAGIC_SIG);
	hero_put32(sig + 4, HERO_SIG_FRAME - 8);
	memcpy(sig + 8, "ED", 2);
	memcpy(sig + 10, pk.keyid, HERO_KEYID_BYTES);
	struct hero_error err = HERO_ERROR_INIT;
	assert_int_equal(hero_sign_prehash(f->sk, prehash, sig + 18, &err), 0);
	*out_len = len + HERO_SIG_FRAME;
	return out;
}

/* A regular entry named var/a/x/ whose data is the header of var/a/smuggled,
 * sized to swallow the entry var/a/e that follows. libarchive takes var/a/x/
 * for a directory (no data) and reads var/a/smuggled; tarck reads var/a/x/
 * and var/a/e: both count the same number of entries, and the index lists
 * what libarchive reads. Signed with the trusted key. */
static uint8_t *smuggling_archive(struct fixture *f, size_t *len)
{
	uint8_t id[HERO_ID_BYTES];
	char hex[2 * HERO_ID_BYTES + 1], m[512], idx[1024], sum[65];
	struct tarbuf t = { 0 }, e = { 0 }, d = { 0 };
	randombytes_buf(id, sizeof id);
	hero_hex(id, sizeof id, hex);
	int n = snprintf(m, sizeof m,
			 "{\"format\":\"hero-archive\",\"format_version\":\"1.0\",\"archive_id\":\"%s\","
			 "\"encrypted\":false,\"services\":[]}",
			 hex);
	tar_entry(&e, "var/a/e", '0', 1, "e", 1);
	tar_entry(&d, "var/a/smuggled", '0', e.n, NULL, 0);
	uint8_t h[32];
	crypto_generichash(h, sizeof h, e.p, e.n, NULL, 0);
	hero_hex(h, sizeof h, sum);
	int k = snprintf(idx, sizeof idx,
			 "{\"archive_id\":\"%s\",\"entries\":["
			 "{\"path\":\"var/a\",\"type\":\"dir\",\"service\":\"svc\",\"context\":\"root\"},"
			 "{\"path\":\"var/a/x\",\"type\":\"dir\",\"service\":\"svc\",\"context\":\"root\"},"
			 "{\"path\":\"var/a/smuggled\",\"type\":\"file\",\"service\":\"svc\",\"context\":\"root\","
			 "\"size\":%zu,\"blake2b\":\"%s\"}]}",
			 hex, e.n, sum);
	tar_entry(&t, HERO_MANIFEST_PATH, '0', (size_t)n, m, (size_t)n);
	tar_entry(&t, "var/a", '5', 0, NULL, 0);
	tar_entry(&t, "var/a/x/", '0', d.n, d.p, d.n);
	tar_put(&t, e.p, e.n);
	tar_entry(&t, HERO_INDEX_PATH, '0', (size_t)k, idx, (size_t)k);
	tar_zeros(&t, 1024);
	uint8_t *arc = seal_tar(f, id, t.p, t.n, len);
	free(t.p);
	free(e.p);
	free(d.p);
	return arc;
}

static void test_regular_entry_named_like_a_directory_is_refused(void **state)
{
	struct fixture *f = *state;
	struct hero_error err = HERO_ERROR_INIT;
	size_t len;
	int entries;
	uint8_t *arc = smuggling_archive(f, &len);
	assert_int_equal(read_all(f, arc, len, &err, &entries), -HERO_EINTEGRITY);
	assert_non_null(strstr(err.msg, "tar entry 'var/a/x/': regular file whose name ends in '/'"));
	assert_null(strchr(err.msg, '\n'));
	free(arc);
}

/* With a fault that shifts tarck's record of the third entry by a block, the
 * reader refuses an intact archive at that entry: each entry libarchive
 * returns is compared with tarck's record, not only the count. Run in a child:
 * the fault knob arms one point per process. */
static void test_entry_boundaries_are_compared(void **state)
{
	struct fixture *f = *state;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct hero_error err = HERO_ERROR_INIT;
		int entries;
		setenv("HERO_FAULT", "tarck-record:3:eio", 1);
		int ret = read_all(f, f->arc, f->len, &err, &entries);
		if (ret != -HERO_EINTEGRITY ||
		    !strstr(err.msg, "archive refused: the tar parsers disagree at entry 3 ('var/a/one.txt')")) {
			fprintf(stderr, "returned %d: %s\n", ret, err.msg);
			_exit(1);
		}
		_exit(0);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

/* tarck's records: where each entry's first header block starts (its pax
 * header, if any), size, type, path; and the cap on records not yet taken. */
static void test_tarck_records(void **state)
{
	(void)state;
	struct tarbuf t = { 0 };
	const char pax[] = "17 path=var/long\n";
	tar_entry(&t, "PaxHeader/x", 'x', sizeof pax - 1, pax, sizeof pax - 1);
	tar_entry(&t, "var/short", '0', 600, NULL, 0);
	tar_zeros(&t, 1024); /* the data of var/short, padded */
	tar_entry(&t, "var/d", '5', 0, NULL, 0);
	tar_entry(&t, "var/f", '0', 1, "f", 1);
	tar_zeros(&t, 1024);
	struct hero_tarck ck;
	struct hero_error err = HERO_ERROR_INIT;
	hero_tarck_init(&ck, 8);
	for (size_t i = 0; i < t.n; i += 100) /* in pieces that straddle blocks */
		assert_int_equal(hero_tarck_feed(&ck, t.p + i, t.n - i < 100 ? t.n - i : 100, &err), 0);
	assert_int_equal(ck.st, HERO_TARCK_END);
	const struct hero_tarck_rec *r = hero_tarck_peek(&ck);
	assert_non_null(r);
	assert_true(r->off == 0 && r->size == 600 && !r->dir);
	assert_string_equal(r->path, "var/long");
	hero_tarck_take(&ck);
	r = hero_tarck_peek(&ck);
	assert_true(r->off == 2560 && r->size == 0 && r->dir);
	assert_string_equal(r->path, "var/d");
	hero_tarck_take(&ck);
	r = hero_tarck_peek(&ck);
	assert_true(r->off == 3072 && r->size == 1 && !r->dir);
	hero_tarck_take(&ck);
	assert_null(hero_tarck_peek(&ck));
	assert_true(ck.end_off == 4096);
	hero_tarck_release(&ck);

	hero_tarck_init(&ck, 2); /* three entries, none taken */
	assert_int_equal(hero_tarck_feed(&ck, t.p, t.n, &err), -HERO_EINTEGRITY);
	assert_non_null(strstr(err.msg, "more than 2 tar headers ahead of libarchive"));
	hero_tarck_release(&ck);
	free(t.p);
}

static void tar_rechecksum(uint8_t *b)
{
	unsigned sum = 0;
	memset(b + 148, ' ', 8);
	for (int i = 0; i < 512; i++)
		sum += b[i];
	snprintf((char *)b + 148, 8, "%06o", sum);
}

/* Feed T to a fresh tarck; 0 when accepted to the end, else the refusal in ERR. */
static int tarck_all(const struct tarbuf *t, struct hero_error *err)
{
	struct hero_tarck ck;
	hero_tarck_init(&ck, 64);
	int ret = hero_tarck_feed(&ck, t->p, t->n, err);
	if (ret == 0 && ck.st != HERO_TARCK_END)
		ret = -1;
	hero_tarck_release(&ck);
	return ret;
}

/* What libarchive reads differently from what the header says, tarck refuses. */
static void test_tarck_refuses_what_libarchive_reads_otherwise(void **state)
{
	(void)state;
	static const struct {
		const char *pax; /* records of a pax header before the entry, or NULL */
		const char *name, *prefix, *devmajor, *want;
	} cases[] = {
		{ NULL, "var/x/", NULL, NULL, "regular file whose name ends in '/'" },
		{ NULL, "", "var/x", NULL, "regular file whose name ends in '/'" },
		{ "15 path=var/x/\n", "var/x", NULL, NULL, "regular file whose name ends in '/'" },
		{ "8 path=\n", "var/x/", NULL, NULL, "pax path is empty" },
		{ "14 path=var/\xff\n", "var/x", NULL, NULL, "pax path is not valid UTF-8" },
		{ "16 path=var/\xed\xa0\x80\n", "var/x", NULL, NULL, "pax path is not valid UTF-8" },
		{ "21 hdrcharset=BINARY\n14 path=var/\xff\n", "var/x", NULL, NULL, NULL },
		{ "18 path=var/\xc3\xa9t\xc3\xa9\n", "var/x", NULL, NULL, NULL },
		{ NULL, "var/x", NULL, "0 00000", "malformed numeric field" },
		{ NULL, "var/x", NULL, "0000000", NULL },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct tarbuf t = { 0 };
		struct hero_error err = HERO_ERROR_INIT;
		if (cases[i].pax)
			tar_entry(&t, "PaxHeader/x", 'x', strlen(cases[i].pax), cases[i].pax, strlen(cases[i].pax));
		size_t h = t.n;
		tar_entry(&t, cases[i].name, '0', 3, "abc", 3);
		if (cases[i].prefix)
			memcpy(t.p + h + 345, cases[i].prefix, strlen(cases[i].prefix));
		if (cases[i].devmajor)
			memcpy(t.p + h + 329, cases[i].devmajor, 8);
		tar_rechecksum(t.p + h);
		tar_zeros(&t, 1024);
		int ret = tarck_all(&t, &err);
		if (cases[i].want ? ret != -HERO_EINTEGRITY || !strstr(err.msg, cases[i].want) : ret != 0) {
			fprintf(stderr, "case %zu: returned %d: %s\n", i, ret, err.msg);
			fail();
		}
		free(t.p);
	}
}

/* Zeros after the end of the tar are drained up to the signature under the
 * same compression ratio cap as the tar itself. */
static void test_ratio_cap_holds_after_the_tar(void **state)
{
	struct fixture *f = *state;
	uint8_t id[HERO_ID_BYTES];
	char hex[2 * HERO_ID_BYTES + 1], m[512], idx[256];
	struct tarbuf t = { 0 };
	randombytes_buf(id, sizeof id);
	hero_hex(id, sizeof id, hex);
	int n = snprintf(m, sizeof m,
			 "{\"format\":\"hero-archive\",\"format_version\":\"1.0\",\"archive_id\":\"%s\","
			 "\"encrypted\":false,\"services\":[]}",
			 hex);
	int k = snprintf(idx, sizeof idx, "{\"archive_id\":\"%s\",\"entries\":[]}", hex);
	tar_entry(&t, HERO_MANIFEST_PATH, '0', (size_t)n, m, (size_t)n);
	tar_entry(&t, HERO_INDEX_PATH, '0', (size_t)k, idx, (size_t)k);
	size_t body = t.n, total = body + (80u << 20);
	uint8_t *big = calloc(1, total); /* the end blocks, then 80 MiB more zeros */
	assert_non_null(big);
	memcpy(big, t.p, body);
	struct hero_error err = HERO_ERROR_INIT;
	size_t len;
	int entries;
	uint8_t *arc = seal_tar(f, id, big, body + 1024, &len);
	assert_int_equal(read_all(f, arc, len, &err, &entries), 0); /* the same without the zeros */
	free(arc);
	arc = seal_tar(f, id, big, total, &len);
	assert_int_equal(read_all(f, arc, len, &err, &entries), -HERO_EINTEGRITY);
	assert_non_null(strstr(err.msg, "compression ratio above 1000"));
	free(arc);
	free(big);
	free(t.p);
}

/* ---- paths ---- */

static void expect_path(const char *path, const char *why)
{
	struct hero_limits lim;
	struct hero_error err = HERO_ERROR_INIT;
	hero_limits_default(&lim);
	int ret = hero_path_check(path, &lim, &err);
	if (!why) {
		if (ret != 0)
			fprintf(stderr, "'%s' refused: %s\n", path, err.msg);
		assert_int_equal(ret, 0);
		return;
	}
	assert_int_equal(ret, -HERO_EINTEGRITY);
	if (!strstr(err.msg, why))
		fprintf(stderr, "'%s': got '%s', want '%s'\n", path, err.msg, why);
	assert_non_null(strstr(err.msg, why));
	assert_null(strchr(err.msg, '\n'));
}

static void test_path_rules(void **state)
{
	(void)state;
	char long_comp[300], long_path[4200];
	memset(long_comp, 'a', 256);
	long_comp[256] = '\0';
	memset(long_path, 'a', 4097);
	for (int i = 100; i < 4097; i += 101)
		long_path[i] = '/';
	long_path[4097] = '\0';
	expect_path("var/ok/caf\xc3\xa9.txt", NULL);
	expect_path("var/ok/\xe6\x97\xa5\xe6\x9c\xac.txt", NULL);
	expect_path("", "empty");
	expect_path("/etc/passwd", "absolute");
	expect_path("a/../b", "'..'");
	expect_path("./a", "'.'");
	expect_path("a//b", "empty component");
	expect_path("a/", "empty component");
	expect_path(".hero/x", "reserved");
	expect_path(long_comp, "component too long");
	expect_path(long_path, "too long");
	char deep[2 * 1025 + 1];
	for (int i = 0; i < 1025; i++)
		memcpy(deep + 2 * i, "a/", 2);
	deep[2 * 1024 - 1] = '\0';
	expect_path(deep, NULL); /* 1024 components: the cap */
	deep[2 * 1024 - 1] = '/';
	deep[2 * 1025 - 1] = '\0';
	expect_path(deep, "more than 1024 levels");
	expect_path("a\nb", "control");
	expect_path("a\x7f", "control");
	expect_path("a\xc2\x85", "control");
	expect_path("a\xe2\x80\xae", "control");
	expect_path("a\xef\xbb\xbf", "control");
	expect_path("a\\b", "backslash");
	expect_path("a\xff", "invalid utf-8");
	expect_path("a\xc0\xaf", "invalid utf-8");
	expect_path("a\xed\xa0\x80", "invalid utf-8");
	expect_path("a\xf4\x90\x80\x80", "invalid utf-8");
	expect_path("a\xe2\x82", "invalid utf-8");
}

static void test_path_quote_is_one_safe_line(void **state)
{
	(void)state;
	char out[64];
	hero_path_quote("a\nb'c\\d\xff", out, sizeof out);
	assert_string_equal(out, "a\\x0ab\\x27c\\x5cd\\xff");
	hero_path_quote("caf\xc3\xa9", out, sizeof out);
	assert_string_equal(out, "caf\xc3\xa9");
	char big[300];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	hero_path_quote(big, out, sizeof out);
	assert_int_equal(strlen(out), sizeof out - 1);
	assert_string_equal(out + strlen(out) - 3, "...");
}

/* Add PATHS in order; the last must be refused with WHY (NULL: all accepted). */
static void claims(const char *why, ...)
{
	struct hero_claims c;
	struct hero_error err = HERO_ERROR_INIT;
	assert_int_equal(hero_claims_init(&c), 0);
	va_list ap;
	va_start(ap, why);
	const char *p, *next = va_arg(ap, const char *);
	int ret = 0;
	while ((p = next)) {
		next = va_arg(ap, const char *);
		size_t n = strlen(p);
		int isdir = n && p[n - 1] == '/';
		char *path = strndup(p, isdir ? n - 1 : n);
		ret = hero_claims_add(&c, path, isdir, &err);
		free(path);
		if (next && ret != 0) {
			fprintf(stderr, "'%s' refused early: %s\n", p, err.msg);
			fail();
		}
	}
	va_end(ap);
	hero_claims_release(&c);
	if (!why) {
		assert_int_equal(ret, 0);
		return;
	}
	assert_int_equal(ret, -HERO_EINTEGRITY);
	if (!strstr(err.msg, why))
		fprintf(stderr, "got '%s', want '%s'\n", err.msg, why);
	assert_non_null(strstr(err.msg, why));
}

static void test_claims(void **state)
{
	(void)state;
	claims(NULL, "a/", "a/b", "a/c/", "a/c/d", "A.txt", "b.txt", "x.db", "x.db.bak", NULL);
	claims("duplicate", "a/b", "a/b", NULL);
	claims("collides", "a/Config.db", "a/config.db", NULL);
	claims("collides", "a/caf\xc3\xa9", "a/cafe\xcc\x81", NULL);
	claims("collides", "a/\xe2\x84\xaa", "a/k", NULL);                 /* KELVIN SIGN */
	claims("collides", "a/stra\xc3\x9f" "e", "a/STRASSE", NULL);      /* sharp s folds to ss */
	claims("collides", "a/\xef\xbc\xa1" "b", "a/ab", NULL);           /* FULLWIDTH A */
	claims("collides", "Photos/a", "photos/b", NULL);
	claims("collides", "photos/", "Photos/b", NULL);
	claims("collides", "d/x", "D/", NULL);
	claims("reserved", ".HERO/x", NULL);
	claims("beneath an entry that is a file", "f", "f/g", NULL);
	claims("earlier entries lie beneath it", "f/g", "f", NULL);
	claims("SQLite sidecar", "d/app.db", "d/app.db-wal", NULL);
	claims("SQLite sidecar", "d/app.bin", "d/app.bin-journal", NULL);
	claims("SQLite sidecar", "d/app.sqlite-shm", NULL);
	claims("SQLite sidecar", "d/App.bin-wal", "d/app.bin", NULL);
	claims(NULL, "d/notes-wal", "d/notes-shm.txt", NULL);
}

static void test_fault_knob(void **state)
{
	(void)state;
	unsetenv("HERO_FAULT");
	assert_int_equal(hero_fault("unit-point"), 0);
	setenv("HERO_FAULT", "unit-point:2:eio", 1);
	assert_int_equal(hero_fault("other-point"), 0);
	assert_int_equal(hero_fault("unit-poin"), 0);
	assert_int_equal(hero_fault("unit-point"), 0);
	errno = 0;
	assert_int_equal(hero_fault("unit-point"), -1);
	assert_int_equal(errno, EIO);
	assert_int_equal(hero_fault("unit-point"), 0);
	unsetenv("HERO_FAULT");
}

static void test_limit_defaults(void **state)
{
	(void)state;
	struct hero_limits l;
	hero_limits_default(&l);
	assert_true(l.max_entries == 1000000);
	assert_true(l.max_file_bytes == 64ull << 30);
	assert_true(l.max_total_bytes == 1ull << 40);
	assert_int_equal(l.max_path, 4096);
	assert_int_equal(l.max_component, 255);
	assert_int_equal(l.max_ratio, 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_intact_archive_verifies),
		cmocka_unit_test(test_every_bit_flip_is_refused),
		cmocka_unit_test(test_every_truncation_is_refused),
		cmocka_unit_test(test_trailing_bytes_are_refused),
		cmocka_unit_test(test_untrusted_signer_is_refused_before_the_body),
		cmocka_unit_test(test_regular_entry_named_like_a_directory_is_refused),
		cmocka_unit_test(test_entry_boundaries_are_compared),
		cmocka_unit_test(test_tarck_records),
		cmocka_unit_test(test_tarck_refuses_what_libarchive_reads_otherwise),
		cmocka_unit_test(test_ratio_cap_holds_after_the_tar),
		cmocka_unit_test(test_path_rules),
		cmocka_unit_test(test_path_quote_is_one_safe_line),
		cmocka_unit_test(test_claims),
		cmocka_unit_test(test_fault_knob),
		cmocka_unit_test(test_limit_defaults),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
