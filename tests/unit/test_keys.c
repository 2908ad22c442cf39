/* test_keys.c - signing keys, their files (formats/keys-v1.md), signatures, trusted keys. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "hero/keys.h"

#define SEC_BLOB 148
#define PUB_BLOB 42
#define PASS "correct horse battery staple"

struct fx {
	char dir[PATH_MAX];
};

/* ---- helpers ---- */

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	chmod(p, 0700);
	return remove(p);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	if (!f)
		return -1;
	snprintf(f->dir, sizeof f->dir, "/tmp/hero-test-keys.XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* DIR/NAME into BUF (PATH_MAX). */
static const char *pth(const struct fx *f, const char *name, char *buf)
{
	int n = snprintf(buf, PATH_MAX, "%s/%s", f->dir, name);
	assert_true(n > 0 && n < PATH_MAX);
	return buf;
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

static void write_str(const char *path, const char *s)
{
	write_file(path, s, strlen(s));
}

/* Whole file into a malloc'd NUL-terminated string. */
static char *read_all(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return NULL;
	char *buf = calloc(1, 65536);
	assert_non_null(buf);
	size_t n = fread(buf, 1, 65535, fp);
	fclose(fp);
	if (len)
		*len = n;
	return buf;
}

static int exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

/* The binary blob of a key file (the base64 of its second line). */
static size_t file_blob(const char *path, uint8_t *bin, size_t cap)
{
	char *text = read_all(path, NULL);
	assert_non_null(text);
	char *line = strchr(text, '\n');
	assert_non_null(line);
	line++;
	size_t len = strcspn(line, "\n");
	size_t n = 0;
	assert_int_equal(sodium_base642bin(bin, cap, line, len, NULL, &n, NULL,
					   sodium_base64_VARIANT_ORIGINAL),
			 0);
	free(text);
	return n;
}

/* Key file text for BIN[N] with a given comment line. */
static void key_text(char *out, size_t cap, const char *comment, const uint8_t *bin, size_t n)
{
	char b64[1024];
	sodium_bin2base64(b64, sizeof b64, bin, n, sodium_base64_VARIANT_ORIGINAL);
	int k = snprintf(out, cap, "%s\n%s\n", comment, b64);
	assert_true(k > 0 && (size_t)k < cap);
}

static void write_blob(const char *path, const uint8_t *bin, size_t n)
{
	char text[2048];
	key_text(text, sizeof text, "untrusted comment: crafted", bin, n);
	write_str(path, text);
}

/* Require RET to be -CODE and ERR's message to contain WANT. */
static void expect_err(int ret, const struct hero_error *err, int code, const char *want)
{
	if (ret != -code || !strstr(err->msg, want))
		fail_msg("expected error %d containing \"%s\", got %d: \"%s\"", code, want, ret,
			 err->msg);
}

static void keygen_ok(const struct fx *f, const char *base, const char *pass,
		      struct hero_pubkey *pub)
{
	char sp[PATH_MAX], pp[PATH_MAX], name[256];
	struct hero_error err = HERO_ERROR_INIT;
	snprintf(name, sizeof name, "%s.key", base);
	pth(f, name, sp);
	snprintf(name, sizeof name, "%s.pub", base);
	pth(f, name, pp);
	int ret = hero_keygen(sp, pp, pass, 0, pub, &err);
	if (ret != 0)
		fail_msg("keygen %s: %s", base, err.msg);
}

static void sign_verify_ok(struct hero_seckey *sk, const struct hero_pubkey *pub)
{
	struct hero_error err = HERO_ERROR_INIT;
	uint8_t prehash[64], sig[HERO_SIG_BYTES];
	randombytes_buf(prehash, sizeof prehash);
	assert_int_equal(hero_sign_prehash(sk, prehash, sig, &err), 0);
	assert_int_equal(hero_verify_prehash(pub, prehash, sig, &err), 0);
}

/* ---- key generation and loading ---- */

static void test_keygen_unprotected(void **state)
{
	struct fx *f = *state;
	char sp[PATH_MAX], pp[PATH_MAX];
	struct hero_error err = HERO_ERROR_INIT;
	struct hero_pubkey pub, loaded, fromsk;
	struct hero_seckey *sk = NULL;

	keygen_ok(f, "a", NULL, &pub);
	assert_int_equal(hero_pubkey_load(&loaded, pth(f, "a.pub", pp), &err), 0);
	assert_memory_equal(&loaded, &pub, sizeof pub);
	assert_int_equal(hero_seckey_is_protected(pth(f, "a.key", sp), &err), 0);
	assert_int_equal(hero_seckey_load(&sk, sp, NULL, &err), 0);
	hero_seckey_pubkey(sk, &fromsk);
	assert_memory_equal(&fromsk, &pub, sizeof pub);
	sign_verify_ok(sk, &pub);
	hero_seckey_free(sk);

	/* a passphrase given for an unprotected key is not needed and not an error */
	assert_int_equal(hero_seckey_load(&sk, sp, "ignored", &err), 0);
	hero_seckey_free(sk);

	/* an empty passphrase also means unprotected */
	keygen_ok(f, "b", "", &pub);
	assert_int_equal(hero_seckey_is_protected(pth(f, "b.key", sp), &err), 0);
	hero_seckey_free(NULL);
}

static void test_keygen_protected(void **state)
{
	struct fx *f = *state;
	char sp[PATH_MAX], want[PATH_MAX + 64];
	struct hero_error err = HERO_ERROR_INIT;
	struct hero_pubkey pub, fromsk;
	struct hero_seckey *sk = NULL;

	keygen_ok(f, "p", PASS, &pub);
	pth(f, "p.key", sp);
	assert_int_equal(hero_seckey_is_protected(sp, &err), 1);
	assert_int_equal(hero_seckey_load(&sk, sp, PASS, &err), 0);
	hero_seckey_pubkey(sk, &fromsk);
	assert_memory_equal(&fromsk, &pub, sizeof pub);
	sign_verify_ok(sk, &pub);
	hero_seckey_free(sk);

	sk = NULL;
	int ret = hero_seckey_load(&sk, sp, "correct horse battery stapler", &err);
	assert_int_equal(ret, -HERO_EFAIL);
	snprintf(want, sizeof want, "wrong passphrase for secret key '%s'", sp);
	assert_string_equal(err.msg, want);
	assert_null(sk);

	expect_err(hero_seckey_load(&sk, sp, NULL, &err), &err, HERO_EFAIL, "protected by a passphrase");
	expect_err(hero_seckey_load(&sk, sp, "", &err), &err, HERO_EFAIL, "protected by a passphrase");
	assert_null(sk);
}

/* The files are laid out byte by byte as formats/keys-v1.md says. */
static void test_file_layout(void **state)
{
	struct fx *f = *state;
	char sp[PATH_MAX], pp[PATH_MAX], hex[17], line[128];
	uint8_t bin[512], sum[16];
	struct hero_pubkey pub;

	keygen_ok(f, "u", NULL, &pub);
	hero_keyid_hex(pub.keyid, hex);
	assert_int_equal(strlen(hex), 16);
	char *text = read_all(pth(f, "u.pub", pp), NULL);
	snprintf(line, sizeof line, "untrusted comment: hero-snap public key %s\n", hex);
	assert_memory_equal(text, line, strlen(line));
	assert_int_equal(strlen(text), strlen(line) + 56 + 1);
	free(text);
	assert_int_equal(file_blob(pp, bin, sizeof bin), PUB_BLOB);
	assert_memory_equal(bin, "ED", 2);
	assert_memory_equal(bin + 2, pub.keyid, 8);
	assert_memory_equal(bin + 10, pub.pk, 32);

	text = read_all(pth(f, "u.key", sp), NULL);
	snprintf(line, sizeof line, "untrusted comment: hero-snap secret key %s\n", hex);
	assert_memory_equal(text, line, strlen(line));
	assert_int_equal(strlen(text), strlen(line) + 200 + 1);
	free(text);
	assert_int_equal(file_blob(sp, bin, sizeof bin), SEC_BLOB);
	assert_memory_equal(bin, "EDNO", 4);
	assert_memory_equal(bin + 4, pub.keyid, 8);
	assert_true(sodium_is_zero(bin + 12, 16 + 8 + 8 + 24));
	assert_memory_equal(bin + 68 + 32, pub.pk, 32); /* sk[32..64] is the public key */
	crypto_generichash_state st;
	crypto_generichash_init(&st, NULL, 0, 16);
	crypto_generichash_update(&st, bin + 4, 8);
	crypto_generichash_update(&st, bin + 68, 64);
	crypto_generichash_final(&st, sum, 16);
	assert_memory_equal(bin + 132, sum, 16);

	/* protected: Argon2id parameters little-endian, secretbox under the derived key */
	keygen_ok(f, "q", PASS, &pub);
	assert_int_equal(file_blob(pth(f, "q.key", sp), bin, sizeof bin), SEC_BLOB);
	assert_memory_equal(bin, "EDA2", 4);
	assert_memory_equal(bin + 4, pub.keyid, 8);
	uint64_t ops = 0, mem = 0;
	for (int i = 7; i >= 0; i--) {
		ops = ops << 8 | bin[28 + i];
		mem = mem << 8 | bin[36 + i];
	}
	assert_int_equal(ops, crypto_pwhash_OPSLIMIT_INTERACTIVE);
	assert_int_equal(mem, crypto_pwhash_MEMLIMIT_INTERACTIVE);
	uint8_t key[32], plain[64];
	assert_int_equal(crypto_pwhash(key, 32, PASS, strlen(PASS), bin + 12, ops, mem,
				       crypto_pwhash_ALG_ARGON2ID13),
			 0);
	assert_int_equal(crypto_secretbox_open_easy(plain, bin + 68, 80, bin + 44, key), 0);
	assert_memory_equal(plain + 32, pub.pk, 32);
}

static void test_file_modes(void **state)
{
	struct fx *f = *state;
	char sp[PATH_MAX], pp[PATH_MAX];
	struct stat st;
	struct hero_error err = HERO_ERROR_INIT;
	mode_t old = umask(0);

	keygen_ok(f, "m", NULL, NULL);
	assert_int_equal(stat(pth(f, "m.key", sp), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(stat(pth(f, "m.pub", pp), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);

	/* force over a world-readable file leaves it 0600 */
	assert_int_equal(chmod(sp, 0644), 0);
	umask(077);
	assert_int_equal(hero_keygen(sp, pp, NULL, 1, NULL, &err), 0);
	assert_int_equal(stat(sp, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(stat(pp, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	umask(old);
}

static void test_no_overwrite(void **state)
{
	struct fx *f = *state;
	char sp[PATH_MAX], pp[PATH_MAX], sp2[PATH_MAX], pp2[PATH_MAX];
	struct hero_error err = HERO_ERROR_INIT;
	struct hero_pubkey pub, pub2, loaded;

	keygen_ok(f, "o", NULL, &pub);
	pth(f, "o.key", sp);
	pth(f, "o.pub", pp);
	char *before = read_all(sp, NULL);

	/* the secret key exists: refused, nothing changed, no public key written */
	expect_err(hero_keygen(sp, pth(f, "new.pub", pp2), NULL, 0, NULL, &err), &err, HERO_EFAIL,
		   "already exists");
	char *after = read_all(sp, NULL);
	assert_string_equal(before, after);
	free(after);
	assert_false(exists(pp2));

	/* the public key exists: refused, and no secret key is left behind */
	expect_err(hero_keygen(pth(f, "new.key", sp2), pp, NULL, 0, NULL, &err), &err, HERO_EFAIL,
		   "already exists");
	assert_false(exists(sp2));
	assert_int_equal(hero_pubkey_load(&loaded, pp, &err), 0);
	assert_memory_equal(&loaded, &pub, sizeof pub);

	/* with force both are replaced by a new pair */
	assert_int_equal(hero_keygen(sp, pp, NULL, 1, &pub2, &err), 0);
	assert_memory_not_equal(&pub2, &pub, sizeof pub);
	assert_int_equal(hero_pubkey_load(&loaded, pp, &err), 0);
	assert_memory_equal(&loaded, &pub2, sizeof pub2);
	after = read_all(sp, NULL);
	assert_string_not_equal(before, after);
	free(after);
	free(before);
}

static void test_nofollow(void **state)
{
	struct fx *f = *state;
	char sp[PATH_MAX], pp[PATH_MAX], sentinel[PATH_MAX], dangling[PATH_MAX];
	struct hero_error err = HERO_ERROR_INIT;

	assert_int_equal(mkdir(pth(f, "outside", sentinel), 0700), 0);
	write_str(pth(f, "outside/sentinel", sentinel), "sentinel-original\n");
	assert_int_equal(symlink(sentinel, pth(f, "s.key", sp)), 0);
	pth(f, "s.pub", pp);

	for (int force = 0; force <= 1; force++) {
		int ret = hero_keygen(sp, pp, NULL, force, NULL, &err);
		assert_int_equal(ret, -HERO_EFAIL);
		if (force)
			expect_err(ret, &err, HERO_EFAIL, "symlink");
		char *s = read_all(sentinel, NULL);
		assert_string_equal(s, "sentinel-original\n");
		free(s);
		assert_false(exists(pp));
	}

	/* a dangling symlink is not followed to create its target */
	assert_int_equal(symlink(pth(f, "outside/created", dangling), pth(f, "d.key", sp)), 0);
	for (int force = 0; force <= 1; force++) {
		assert_int_equal(hero_keygen(sp, pth(f, "d.pub", pp), NULL, force, NULL, &err),
				 -HERO_EFAIL);
		assert_false(exists(dangling));
	}

	/* a symlink at the public key path: refused, the new secret key removed */
	assert_int_equal(symlink(sentinel, pth(f, "t.pub", pp)), 0);
	expect_err(hero_keygen(pth(f, "t.key", sp), pp, NULL, 1, NULL, &err), &err, HERO_EFAIL,
		   "symlink");
	assert_false(exists(sp));
	char *s = read_all(sentinel, NULL);
	assert_string_equal(s, "sentinel-original\n");
	free(s);
}

/* ---- signatures ---- */

static void test_sign_verify(void **state)
{
	struct fx *f = *state;
	char sp[PATH_MAX];
	struct hero_error err = HERO_ERROR_INIT;
	struct hero_pubkey pub, other;
	struct hero_seckey *sk = NULL;
	uint8_t prehash[64], sig[HERO_SIG_BYTES], msg[31 + 64];

	keygen_ok(f, "k", NULL, &pub);
	keygen_ok(f, "other", NULL, &other);
	assert_int_equal(hero_seckey_load(&sk, pth(f, "k.key", sp), NULL, &err), 0);
	randombytes_buf(prehash, sizeof prehash);
	assert_int_equal(hero_sign_prehash(sk, prehash, sig, &err), 0);
	assert_int_equal(hero_verify_prehash(&pub, prehash, sig, &err), 0);

	/* the signed message is exactly domain || 0x00 || prehash */
	memcpy(msg, "hero-snap archive v1 signature", 30);
	msg[30] = 0;
	memcpy(msg + 31, prehash, 64);
	assert_int_equal(crypto_sign_verify_detached(sig, msg, sizeof msg, pub.pk), 0);
	assert_int_not_equal(crypto_sign_verify_detached(sig, prehash, 64, pub.pk), 0);

	expect_err(hero_verify_prehash(&other, prehash, sig, &err), &err, HERO_EINTEGRITY,
		   "bad signature");
	for (int bit = 0; bit < 8 * HERO_SIG_BYTES; bit++) {
		sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		if (hero_verify_prehash(&pub, prehash, sig, &err) != -HERO_EINTEGRITY)
			fail_msg("signature with bit %d flipped was accepted", bit);
		sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	for (int bit = 0; bit < 8 * 64; bit++) {
		prehash[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		if (hero_verify_prehash(&pub, prehash, sig, &err) != -HERO_EINTEGRITY)
			fail_msg("prehash with bit %d flipped was accepted", bit);
		prehash[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	assert_int_equal(hero_verify_prehash(&pub, prehash, sig, &err), 0);
	hero_seckey_free(sk);
}

/* ---- parse refusals ---- */

static void pub_refused(const char *text, size_t len, const char *want)
{
	struct hero_error err = HERO_ERROR_INIT;
	struct hero_pubkey pub;
	int ret = hero_pubkey_parse(&pub, text, len, &err);
	if (ret != -HERO_EFAIL || !strstr(err.msg, want))
		fail_msg("text \"%.*s\": expected refusal \"%s\", got %d \"%s\"", (int)len, text, want,
			 ret, err.msg);
}

static void pub_refused_blob(const uint8_t *bin, size_t n, const char *want)
{
	char text[1024];
	key_text(text, sizeof text, "untrusted comment: x", bin, n);
	pub_refused(text, strlen(text), want);
}

static void test_pub_parse(void **state)
{
	(void)state;
	uint8_t bin[64];
	char b64[128], text[1024];
	struct hero_pubkey pub;
	struct hero_error err = HERO_ERROR_INIT;

	memcpy(bin, "ED", 2);
	randombytes_buf(bin + 2, sizeof bin - 2);
	sodium_bin2base64(b64, sizeof b64, bin, PUB_BLOB, sodium_base64_VARIANT_ORIGINAL);

	/* accepted: with and without a final newline, any comment text */
	snprintf(text, sizeof text, "untrusted comment: anything at all\n%s\n", b64);
	assert_int_equal(hero_pubkey_parse(&pub, text, strlen(text), &err), 0);
	assert_memory_equal(pub.keyid, bin + 2, 8);
	assert_memory_equal(pub.pk, bin + 10, 32);
	snprintf(text, sizeof text, "untrusted comment: x\n%s", b64);
	assert_int_equal(hero_pubkey_parse(&pub, text, strlen(text), &err), 0);
	/* the length argument bounds the parse: text after it is ignored */
	snprintf(text, sizeof text, "untrusted comment: x\n%s\nGARBAGE", b64);
	assert_int_equal(hero_pubkey_parse(&pub, text, strlen(text) - 7, &err), 0);

	/* line structure */
	pub_refused("", 0, "missing 'untrusted comment:' line");
	snprintf(text, sizeof text, "%s\n", b64);
	pub_refused(text, strlen(text), "missing 'untrusted comment:' line");
	snprintf(text, sizeof text, "comment: x\n%s\n", b64);
	pub_refused(text, strlen(text), "missing 'untrusted comment:' line");
	pub_refused("untrusted comment: x\n", 21, "expected 2 lines (comment and key), found 1");
	snprintf(text, sizeof text, "untrusted comment: x\n%s\nextra\n", b64);
	pub_refused(text, strlen(text), "found 3");
	snprintf(text, sizeof text, "untrusted comment: x\n%s\n\n", b64);
	pub_refused(text, strlen(text), "found 3");
	pub_refused("untrusted comment: x\n\n", 22, "empty key line");
	snprintf(text, sizeof text, "untrusted comment: x\n%s\n", b64);
	text[25] = '\0';
	pub_refused(text, strlen(b64) + 22, "NUL byte");

	/* base64 */
	snprintf(text, sizeof text, "untrusted comment: x\n%s\n", b64);
	text[21 + 10] = '!';
	pub_refused(text, strlen(text), "bad base64 in key line (invalid character at offset 10)");
	snprintf(text, sizeof text, "untrusted comment: x\n%s x\n", b64);
	pub_refused(text, strlen(text), "trailing garbage after the base64 key at offset 56");
	snprintf(text, sizeof text, "untrusted comment: x\n%s====\n", b64);
	pub_refused(text, strlen(text), "trailing garbage");
	snprintf(text, sizeof text, "untrusted comment: x\r\n%s\r\n", b64);
	pub_refused(text, strlen(text), "trailing garbage");

	/* non-canonical: 43 bytes encode as "..xx==": drop the padding, or set the unused bits */
	char b43[128];
	sodium_bin2base64(b43, sizeof b43, bin, 43, sodium_base64_VARIANT_ORIGINAL);
	size_t l43 = strlen(b43);
	assert_string_equal(b43 + l43 - 2, "==");
	snprintf(text, sizeof text, "untrusted comment: x\n%.*s\n", (int)(l43 - 2), b43);
	pub_refused(text, strlen(text), "non-canonical base64");
	snprintf(text, sizeof text, "untrusted comment: x\n%s\n", b43);
	char *last = text + 21 + l43 - 3; /* its low 4 bits are unused padding bits */
	*last = *last == 'A' ? 'B' : (*last == 'Q' ? 'R' : *last == 'g' ? 'h' : 'x');
	pub_refused(text, strlen(text), "non-canonical base64");

	/* length and algorithm */
	pub_refused_blob(bin, 41, "wrong public key length: 41 bytes, expected 42");
	pub_refused_blob(bin, 43, "wrong public key length: 43 bytes, expected 42");
	pub_refused_blob(bin, 1, "wrong key length: 1 bytes");
	memcpy(bin, "Ed", 2);
	pub_refused_blob(bin, PUB_BLOB, "unknown signature algorithm 'Ed' (expected 'ED')");
	bin[0] = 0;
	bin[1] = 0xff;
	pub_refused_blob(bin, PUB_BLOB, "unknown signature algorithm '0x00ff'");
}

/* Load PATH as a secret key with PASS; require a refusal containing WANT. */
static void sec_refused(const char *path, const char *pass, const char *want)
{
	struct hero_error err = HERO_ERROR_INIT;
	struct hero_seckey *sk = NULL;
	int ret = hero_seckey_load(&sk, path, pass, &err);
	if (ret != -HERO_EFAIL || !strstr(err.msg, want) || !strstr(err.msg, path))
		fail_msg("%s: expected refusal \"%s\" naming the file, got %d \"%s\"", path, want, ret,
			 err.msg);
	assert_null(sk);
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void test_sec_parse(void **state)
{
	struct fx *f = *state;
	char sp[PATH_MAX], bad[PATH_MAX];
	uint8_t orig[512], bin[512];
	struct hero_error err = HERO_ERROR_INIT;

	keygen_ok(f, "n", NULL, NULL);
	assert_int_equal(file_blob(pth(f, "n.key", sp), orig, sizeof orig), SEC_BLOB);
	pth(f, "bad.key", bad);

	/* the unchanged blob through the test's own writer loads */
	write_blob(bad, orig, SEC_BLOB);
	struct hero_seckey *sk = NULL;
	assert_int_equal(hero_seckey_load(&sk, bad, NULL, &err), 0);
	hero_seckey_free(sk);

	write_blob(bad, orig, SEC_BLOB - 1);
	sec_refused(bad, NULL, "wrong secret key length: 147 bytes, expected 148");
	memcpy(bin, orig, SEC_BLOB);
	bin[SEC_BLOB] = 0;
	write_blob(bad, bin, SEC_BLOB + 1);
	sec_refused(bad, NULL, "wrong secret key length: 149 bytes");
	write_blob(bad, orig, 3);
	sec_refused(bad, NULL, "wrong secret key length: 3 bytes");

	memcpy(bin, orig, SEC_BLOB);
	memcpy(bin, "XX", 2);
	write_blob(bad, bin, SEC_BLOB);
	sec_refused(bad, NULL, "unknown signature algorithm 'XX'");
	memcpy(bin, orig, SEC_BLOB);
	memcpy(bin + 2, "SC", 2);
	write_blob(bad, bin, SEC_BLOB);
	sec_refused(bad, NULL, "unknown key derivation 'SC'");
	assert_int_equal(hero_seckey_is_protected(bad, &err), -HERO_EFAIL);

	/* unprotected: kdf fields must be zero, the checksum must match, halves must agree */
	memcpy(bin, orig, SEC_BLOB);
	bin[12] = 1;
	write_blob(bad, bin, SEC_BLOB);
	sec_refused(bad, NULL, "non-zero kdf fields");
	memcpy(bin, orig, SEC_BLOB);
	bin[68] ^= 1;
	write_blob(bad, bin, SEC_BLOB);
	sec_refused(bad, NULL, "damaged (bad checksum)");
	memcpy(bin, orig, SEC_BLOB);
	bin[68 + 40] ^= 1;
	crypto_generichash_state st;
	crypto_generichash_init(&st, NULL, 0, 16);
	crypto_generichash_update(&st, bin + 4, 8);
	crypto_generichash_update(&st, bin + 68, 64);
	crypto_generichash_final(&st, bin + 132, 16);
	write_blob(bad, bin, SEC_BLOB);
	sec_refused(bad, NULL, "inconsistent");

	/* the file shape is checked as for public keys */
	write_str(bad, "untrusted comment: x\n");
	sec_refused(bad, NULL, "expected 2 lines");
	write_str(bad, "not a key\n");
	sec_refused(bad, NULL, "missing 'untrusted comment:' line");
	static char big[8192];
	memset(big, 'A', sizeof big);
	write_file(bad, big, sizeof big);
	sec_refused(bad, NULL, "too large");
	sec_refused(f->dir, NULL, "not a regular file");
	sec_refused(pth(f, "missing.key", bad), NULL, "cannot open secret key");
}

static void test_sec_kdf_limits(void **state)
{
	struct fx *f = *state;
	char sp[PATH_MAX], bad[PATH_MAX];
	uint8_t orig[512], bin[512];

	keygen_ok(f, "a2", PASS, NULL);
	assert_int_equal(file_blob(pth(f, "a2.key", sp), orig, sizeof orig), SEC_BLOB);
	pth(f, "bad.key", bad);

	memcpy(bin, orig, SEC_BLOB);
	put_le64(bin + 28, (1ULL << 32) + 1);
	write_blob(bad, bin, SEC_BLOB);
	sec_refused(bad, PASS, "kdf cost too high");
	memcpy(bin, orig, SEC_BLOB);
	put_le64(bin + 36, (1ULL << 30) + 1);
	write_blob(bad, bin, SEC_BLOB);
	sec_refused(bad, PASS, "kdf cost too high");
	memcpy(bin, orig, SEC_BLOB);
	put_le64(bin + 28, 0);
	write_blob(bad, bin, SEC_BLOB);
	sec_refused(bad, PASS, "kdf cost below the minimum");

	/* a changed salt, nonce or sealed byte reads as a wrong passphrase */
	const int offs[] = { 12, 44, 68, 147 };
	for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
		memcpy(bin, orig, SEC_BLOB);
		bin[offs[i]] ^= 0x80;
		write_blob(bad, bin, SEC_BLOB);
		sec_refused(bad, PASS, "wrong passphrase for secret key");
	}
}

/* ---- trusted keys ---- */

static void test_trust_dir(void **state)
{
	struct fx *f = *state;
	char d[PATH_MAX], p[PATH_MAX], q[PATH_MAX];
	struct hero_error err = HERO_ERROR_INIT;
	struct hero_trust t = HERO_TRUST_INIT;
	struct hero_pubkey a, b, c;

	keygen_ok(f, "ka", NULL, &a);
	keygen_ok(f, "kb", NULL, &b);
	keygen_ok(f, "kc", NULL, &c);
	assert_null(hero_trust_find(&t, a.keyid));

	assert_int_equal(hero_trust_add_dir(&t, pth(f, "no-such-dir", d), &err), 0);
	assert_int_equal(t.n, 0);

	assert_int_equal(mkdir(pth(f, "trust", d), 0755), 0);
	assert_int_equal(rename(pth(f, "ka.pub", p), pth(f, "trust/a.pub", q)), 0);
	assert_int_equal(rename(pth(f, "kb.pub", p), pth(f, "trust/b.pub", q)), 0);
	write_str(pth(f, "trust/notes.txt", p), "not a key\n");
	write_str(pth(f, "trust/.hidden.pub", p), "not a key\n");
	assert_int_equal(hero_trust_add_dir(&t, d, &err), 0);
	assert_int_equal(t.n, 2);
	const struct hero_pubkey *k = hero_trust_find(&t, a.keyid);
	assert_non_null(k);
	assert_memory_equal(k, &a, sizeof a);
	k = hero_trust_find(&t, b.keyid);
	assert_non_null(k);
	assert_memory_equal(k, &b, sizeof b);
	assert_null(hero_trust_find(&t, c.keyid));

	/* loading the same directory again adds nothing */
	assert_int_equal(hero_trust_add_dir(&t, d, &err), 0);
	assert_int_equal(t.n, 2);

	/* a malformed *.pub is an error naming it; the set is unchanged */
	assert_int_equal(rename(pth(f, "kc.pub", p), pth(f, "trust/c.pub", q)), 0);
	write_str(pth(f, "trust/broken.pub", p), "untrusted comment: x\nAAAA\n");
	expect_err(hero_trust_add_dir(&t, d, &err), &err, HERO_EFAIL, "broken.pub");
	assert_int_equal(t.n, 2);
	assert_null(hero_trust_find(&t, c.keyid));
	assert_int_equal(unlink(p), 0);

	/* so is one that cannot be read */
	assert_int_equal(mkdir(pth(f, "trust/dir.pub", p), 0755), 0);
	expect_err(hero_trust_add_dir(&t, d, &err), &err, HERO_EFAIL, "dir.pub' is not a regular file");
	assert_int_equal(t.n, 2);
	assert_int_equal(rmdir(p), 0);
	if (geteuid() != 0) {
		assert_int_equal(chmod(pth(f, "trust/c.pub", p), 0), 0);
		expect_err(hero_trust_add_dir(&t, d, &err), &err, HERO_EFAIL, "c.pub");
		assert_int_equal(chmod(p, 0644), 0);
	}
	assert_int_equal(hero_trust_add_dir(&t, d, &err), 0);
	assert_int_equal(t.n, 3);
	assert_non_null(hero_trust_find(&t, c.keyid));

	/* a path that is not a directory is an error */
	expect_err(hero_trust_add_dir(&t, pth(f, "ka.key", p), &err), &err, HERO_EFAIL,
		   "cannot open trusted keys directory");
	hero_trust_release(&t);
	assert_null(t.keys);
	assert_int_equal(t.n, 0);
	hero_trust_release(&t);
}

static void test_trust_conflict(void **state)
{
	struct fx *f = *state;
	char p[PATH_MAX], q[PATH_MAX], text[1024];
	uint8_t bin[PUB_BLOB];
	struct hero_error err = HERO_ERROR_INIT;
	struct hero_trust t = HERO_TRUST_INIT;
	struct hero_pubkey a, fake;

	keygen_ok(f, "a", NULL, &a);
	assert_int_equal(hero_trust_add_file(&t, pth(f, "a.pub", p), &err), 0);
	assert_int_equal(hero_trust_add_file(&t, p, &err), 0);
	assert_int_equal(t.n, 1);

	/* same key id, another public key */
	memcpy(bin, "ED", 2);
	memcpy(bin + 2, a.keyid, 8);
	randombytes_buf(bin + 10, 32);
	key_text(text, sizeof text, "untrusted comment: impostor", bin, sizeof bin);
	write_str(pth(f, "impostor.pub", q), text);
	assert_int_equal(hero_pubkey_load(&fake, q, &err), 0);
	expect_err(hero_trust_add_file(&t, q, &err), &err, HERO_EFAIL,
		   "is already trusted with a different key");
	assert_int_equal(t.n, 1);
	assert_memory_equal(hero_trust_find(&t, a.keyid)->pk, a.pk, 32);
	expect_err(hero_trust_add_file(&t, pth(f, "none.pub", q), &err), &err, HERO_EFAIL,
		   "cannot open public key");
	hero_trust_release(&t);
}

/* ---- committed test keys ---- */

static void golden(char *buf, const char *name)
{
	const char *src = getenv("HERO_SRCDIR");
	int n = snprintf(buf, PATH_MAX, "%s/tests/golden/keys/%s", src && *src ? src : ".", name);
	assert_true(n > 0 && n < PATH_MAX);
}

static void test_golden_keys(void **state)
{
	(void)state;
	char p[PATH_MAX], hex[17], want[128];
	struct hero_error err = HERO_ERROR_INIT;
	struct hero_pubkey tpub, ppub, opub, fromsk;
	struct hero_seckey *tsk = NULL, *psk = NULL, *osk = NULL;
	uint8_t prehash[64], sig[HERO_SIG_BYTES];

	golden(p, "test.pub");
	if (hero_pubkey_load(&tpub, p, &err) != 0)
		fail_msg("%s (set HERO_SRCDIR to the source tree)", err.msg);
	char *text = read_all(p, NULL);
	hero_keyid_hex(tpub.keyid, hex);
	assert_string_equal(hex, "2cd288805a534108"); /* the committed key never changes */
	snprintf(want, sizeof want, "untrusted comment: hero-snap public key %s\n", hex);
	assert_memory_equal(text, want, strlen(want));
	free(text);
	golden(p, "test.key");
	assert_int_equal(hero_seckey_is_protected(p, &err), 0);
	assert_int_equal(hero_seckey_load(&tsk, p, NULL, &err), 0);
	hero_seckey_pubkey(tsk, &fromsk);
	assert_memory_equal(&fromsk, &tpub, sizeof tpub);

	golden(p, "test-protected.pass");
	text = read_all(p, NULL);
	assert_non_null(text);
	text[strcspn(text, "\n")] = '\0';
	assert_string_equal(text, PASS);
	golden(p, "test-protected.pub");
	assert_int_equal(hero_pubkey_load(&ppub, p, &err), 0);
	golden(p, "test-protected.key");
	assert_int_equal(hero_seckey_is_protected(p, &err), 1);
	expect_err(hero_seckey_load(&psk, p, "wrong", &err), &err, HERO_EFAIL, "wrong passphrase");
	assert_int_equal(hero_seckey_load(&psk, p, text, &err), 0);
	free(text);
	hero_seckey_pubkey(psk, &fromsk);
	assert_memory_equal(&fromsk, &ppub, sizeof ppub);

	golden(p, "other.pub");
	assert_int_equal(hero_pubkey_load(&opub, p, &err), 0);
	golden(p, "other.key");
	assert_int_equal(hero_seckey_load(&osk, p, NULL, &err), 0);
	assert_memory_not_equal(opub.keyid, tpub.keyid, 8);
	assert_memory_not_equal(opub.pk, tpub.pk, 32);
	assert_memory_not_equal(ppub.pk, tpub.pk, 32);

	memset(prehash, 0x5a, sizeof prehash);
	assert_int_equal(hero_sign_prehash(tsk, prehash, sig, &err), 0);
	assert_int_equal(hero_verify_prehash(&tpub, prehash, sig, &err), 0);
	assert_int_equal(hero_verify_prehash(&opub, prehash, sig, &err), -HERO_EINTEGRITY);
	assert_int_equal(hero_verify_prehash(&ppub, prehash, sig, &err), -HERO_EINTEGRITY);
	sign_verify_ok(psk, &ppub);
	sign_verify_ok(osk, &opub);
	hero_seckey_free(tsk);
	hero_seckey_free(psk);
	hero_seckey_free(osk);
}

int main(void)
{
	struct hero_error err = HERO_ERROR_INIT;
	if (hero_crypto_init(&err) != 0) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_keygen_unprotected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keygen_protected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_overwrite, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nofollow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sign_verify, setup, teardown),
		cmocka_unit_test(test_pub_parse),
		cmocka_unit_test_setup_teardown(test_sec_parse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sec_kdf_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trust_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trust_conflict, setup, teardown),
		cmocka_unit_test(test_golden_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
