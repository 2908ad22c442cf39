/* keys.c - Ed25519 signing keys, their files and the trusted key set.
 *
 * File formats: formats/keys-v1.md. Secret material (keys, derived keys,
 * decoded secret key files) only ever sits in sodium_malloc'd memory, which
 * sodium_free wipes.
 */
#include "hero/keys.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#define KEY_FILE_MAX 4096 /* a key file is under 300 bytes; larger files are refused */
#define COMMENT_PREFIX "untrusted comment: "
#define B64 sodium_base64_VARIANT_ORIGINAL

/* Public key blob: "ED" | keyid | pk. */
#define PUB_BLOB_BYTES (2 + HERO_KEYID_BYTES + HERO_PK_BYTES)

/* Secret key blob, offsets of its fields. */
#define SEC_OFF_KDF 2
#define SEC_OFF_KEYID 4
#define SEC_OFF_SALT 12
#define SEC_OFF_OPS 28
#define SEC_OFF_MEM 36
#define SEC_OFF_NONCE 44
#define SEC_OFF_SEALED 68
#define SEC_SEALED_BYTES (HERO_SK_BYTES + 16)
#define SEC_BLOB_BYTES (SEC_OFF_SEALED + SEC_SEALED_BYTES) /* 148 */
#define SEC_OPSLIMIT_MAX (1ULL << 32)
#define SEC_MEMLIMIT_MAX (1ULL << 30)

/* Signed message: this string, its terminating 0x00, then the 64-byte prehash. */
static const char sig_domain[] = "hero-snap archive v1 signature";

struct hero_seckey {
	uint8_t alg[2]; /* "ED" signing (Ed25519) or "XC" encryption identity (X25519) */
	uint8_t keyid[HERO_KEYID_BYTES];
	uint8_t sk[HERO_SK_BYTES];
};

int hero_crypto_init(struct hero_error *err)
{
	if (sodium_init() < 0)
		return hero_error(err, HERO_EFAIL, "cannot initialise libsodium");
	return 0;
}

void hero_keyid_hex(const uint8_t keyid[HERO_KEYID_BYTES], char buf[2 * HERO_KEYID_BYTES + 1])
{
	sodium_bin2hex(buf, 2 * HERO_KEYID_BYTES + 1, keyid, HERO_KEYID_BYTES);
}

static void store_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t load_le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* Two-byte tag as text for a message: printable as is, otherwise in hex. */
static void tag_text(const uint8_t *tag, char buf[16])
{
	if (tag[0] >= 0x21 && tag[0] < 0x7f && tag[1] >= 0x21 && tag[1] < 0x7f && tag[0] != '\'' &&
	    tag[1] != '\'')
		snprintf(buf, 16, "%c%c", tag[0], tag[1]);
	else
		snprintf(buf, 16, "0x%02x%02x", tag[0], tag[1]);
}

/* ---- reading and parsing key files ---- */

/* Read the key file PATH (WHAT names it in messages) into a sodium_malloc'd,
 * NUL-terminated buffer of KEY_FILE_MAX + 1 bytes. */
static int read_key_file(const char *path, const char *what, char **out, size_t *outlen,
			 struct hero_error *err)
{
	char *buf = NULL;
	size_t len = 0;
	struct stat st;
	int ret = -HERO_EFAIL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot open %s '%s'", what, path);
	if (fstat(fd, &st) < 0) {
		ret = hero_error_errno(err, HERO_EFAIL, errno, "cannot stat %s '%s'", what, path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = hero_error(err, HERO_EFAIL, "%s '%s' is not a regular file", what, path);
		goto out;
	}
	buf = sodium_malloc(KEY_FILE_MAX + 1);
	if (!buf) {
		ret = hero_error(err, HERO_EFAIL, "out of memory reading %s '%s'", what, path);
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, KEY_FILE_MAX + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = hero_error_errno(err, HERO_EFAIL, errno, "cannot read %s '%s'", what, path);
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > KEY_FILE_MAX) {
			ret = hero_error(err, HERO_EFAIL, "%s '%s' is too large (more than %d bytes)",
					 what, path, KEY_FILE_MAX);
			goto out;
		}
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	buf = NULL;
	ret = 0;
out:
	sodium_free(buf);
	close(fd);
	return ret;
}

/* Check the two-line shape of a key file; point *KEY at the key line. */
static int split_key_text(const char *text, size_t len, const char **key, size_t *keylen,
			  struct hero_error *err)
{
	size_t lines = 0;
	if (memchr(text, '\0', len))
		return hero_error(err, HERO_EFAIL, "unexpected NUL byte");
	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n';
	if (len > 0 && text[len - 1] != '\n')
		lines++;
	if (len < strlen(COMMENT_PREFIX) || memcmp(text, COMMENT_PREFIX, strlen(COMMENT_PREFIX)) != 0)
		return hero_error(err, HERO_EFAIL, "missing 'untrusted comment:' line");
	if (lines != 2)
		return hero_error(err, HERO_EFAIL,
				  "expected 2 lines (comment and key), found %zu", lines);
	const char *nl = memchr(text, '\n', len);
	*key = nl + 1;
	*keylen = len - (size_t)(*key - text);
	if (*keylen > 0 && (*key)[*keylen - 1] == '\n')
		(*keylen)--;
	if (*keylen == 0)
		return hero_error(err, HERO_EFAIL, "empty key line");
	return 0;
}

static int is_b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/' || c == '=';
}

/* Decode canonical padded standard base64 B64[LEN] into BIN (room for LEN bytes). */
static int decode_key_line(const char *b64, size_t len, uint8_t *bin, size_t *binlen,
			   struct hero_error *err)
{
	const char *end = NULL;
	char *enc = NULL;
	int ret = -HERO_EFAIL;
	if (sodium_base642bin(bin, len, b64, len, NULL, binlen, &end, B64) != 0) {
		size_t bad = 0;
		while (bad < len && is_b64_char(b64[bad]))
			bad++;
		if (bad < len)
			return hero_error(err, HERO_EFAIL,
					  "bad base64 in key line (invalid character at offset %zu)", bad);
		return hero_error(err, HERO_EFAIL,
				  "non-canonical base64 in key line (wrong padding or trailing bits)");
	}
	if (end != b64 + len)
		return hero_error(err, HERO_EFAIL, "trailing garbage after the base64 key at offset %zu",
				  (size_t)(end - b64));
	size_t enclen = sodium_base64_ENCODED_LEN(*binlen, B64);
	enc = sodium_malloc(enclen);
	if (!enc)
		return hero_error(err, HERO_EFAIL, "out of memory");
	sodium_bin2base64(enc, enclen, bin, *binlen, B64);
	if (strlen(enc) != len || memcmp(enc, b64, len) != 0) {
		ret = hero_error(err, HERO_EFAIL, "non-canonical base64 in key line");
		goto out;
	}
	ret = 0;
out:
	sodium_free(enc);
	return ret;
}

/* Parse a key file's text into its binary blob: BIN is sodium_malloc'd, KEY_FILE_MAX bytes. */
static int decode_key_text(const char *text, size_t len, uint8_t **bin, size_t *binlen,
			   struct hero_error *err)
{
	const char *key = NULL;
	size_t keylen = 0;
	int ret = split_key_text(text, len, &key, &keylen, err);
	if (ret < 0)
		return ret;
	uint8_t *buf = sodium_malloc(KEY_FILE_MAX);
	if (!buf)
		return hero_error(err, HERO_EFAIL, "out of memory");
	ret = decode_key_line(key, keylen, buf, binlen, err);
	if (ret < 0) {
		sodium_free(buf);
		return ret;
	}
	*bin = buf;
	return 0;
}

/* ALG is "ED" or "XC"; NULL accepts either (for questions that apply to both). */
static int check_algorithm(const uint8_t *bin, size_t n, size_t want, const char *alg,
			   struct hero_error *err)
{
	char tag[16];
	if (n < 2)
		return hero_error(err, HERO_EFAIL, "wrong key length: %zu bytes, expected %zu", n, want);
	if (!alg && (!memcmp(bin, "ED", 2) || !memcmp(bin, "XC", 2)))
		return 0;
	if (!alg || memcmp(bin, alg, 2) != 0) {
		tag_text(bin, tag);
		if (!alg || !strcmp(alg, "ED"))
			return hero_error(err, HERO_EFAIL, "unknown signature algorithm '%s' (expected 'ED')",
					  tag);
		return hero_error(err, HERO_EFAIL,
				  "not an encryption key: algorithm '%s' (expected 'XC')", tag);
	}
	return 0;
}

static int pubkey_parse_alg(struct hero_pubkey *out, const char *text, size_t len, const char *alg,
			    struct hero_error *err)
{
	uint8_t *bin = NULL;
	size_t n = 0;
	int ret = decode_key_text(text, len, &bin, &n, err);
	if (ret < 0)
		return ret;
	ret = check_algorithm(bin, n, PUB_BLOB_BYTES, alg, err);
	if (ret < 0)
		goto out;
	if (n != PUB_BLOB_BYTES) {
		ret = hero_error(err, HERO_EFAIL, "wrong public key length: %zu bytes, expected %d", n,
				 PUB_BLOB_BYTES);
		goto out;
	}
	memcpy(out->keyid, bin + 2, HERO_KEYID_BYTES);
	memcpy(out->pk, bin + 2 + HERO_KEYID_BYTES, HERO_PK_BYTES);
	ret = 0;
out:
	sodium_free(bin);
	return ret;
}

int hero_pubkey_parse(struct hero_pubkey *out, const char *text, size_t len,
		      struct hero_error *err)
{
	return pubkey_parse_alg(out, text, len, "ED", err);
}

static int pubkey_load_alg(struct hero_pubkey *out, const char *path, const char *alg, const char *what,
			   struct hero_error *err)
{
	char *text = NULL;
	size_t len = 0;
	int ret = read_key_file(path, what, &text, &len, err);
	if (ret < 0)
		return ret;
	ret = pubkey_parse_alg(out, text, len, alg, err);
	if (ret < 0)
		hero_error_prefix(err, "%s '%s'", what, path);
	sodium_free(text);
	return ret;
}

int hero_pubkey_load(struct hero_pubkey *out, const char *path, struct hero_error *err)
{
	return pubkey_load_alg(out, path, "ED", "public key", err);
}

int hero_recipient_load(struct hero_pubkey *out, const char *path, struct hero_error *err)
{
	return pubkey_load_alg(out, path, "XC", "recipient key", err);
}

/* Check the fields of a decoded secret key blob (the sealed part stays sealed). */
static int check_sec_blob(const uint8_t *bin, size_t n, const char *alg, struct hero_error *err)
{
	char tag[16];
	int ret = check_algorithm(bin, n, SEC_BLOB_BYTES, alg, err);
	if (ret < 0)
		return ret;
	if (n < 4)
		return hero_error(err, HERO_EFAIL, "wrong secret key length: %zu bytes, expected %d", n,
				  SEC_BLOB_BYTES);
	int protected = memcmp(bin + SEC_OFF_KDF, "A2", 2) == 0;
	if (!protected && memcmp(bin + SEC_OFF_KDF, "NO", 2) != 0) {
		tag_text(bin + SEC_OFF_KDF, tag);
		return hero_error(err, HERO_EFAIL, "unknown key derivation '%s' (expected 'A2' or 'NO')",
				  tag);
	}
	if (n != SEC_BLOB_BYTES)
		return hero_error(err, HERO_EFAIL, "wrong secret key length: %zu bytes, expected %d", n,
				  SEC_BLOB_BYTES);
	if (!protected) {
		if (!sodium_is_zero(bin + SEC_OFF_SALT, SEC_OFF_SEALED - SEC_OFF_SALT))
			return hero_error(err, HERO_EFAIL,
					  "unprotected secret key with non-zero kdf fields");
		return 0;
	}
	uint64_t ops = load_le64(bin + SEC_OFF_OPS), mem = load_le64(bin + SEC_OFF_MEM);
	if (ops > SEC_OPSLIMIT_MAX || mem > SEC_MEMLIMIT_MAX)
		return hero_error(err, HERO_EFAIL,
				  "kdf cost too high (opslimit %llu, memlimit %llu; at most 2^32 and 1 GiB)",
				  (unsigned long long)ops, (unsigned long long)mem);
	if (ops < crypto_pwhash_OPSLIMIT_MIN || mem < crypto_pwhash_MEMLIMIT_MIN)
		return hero_error(err, HERO_EFAIL,
				  "kdf cost below the minimum (opslimit %llu, memlimit %llu)",
				  (unsigned long long)ops, (unsigned long long)mem);
	return 1;
}

/* Read and check the secret key file PATH; *BIN is sodium_malloc'd. Returns 1
 * if protected, 0 if not, <0 on error (message prefixed with the path). */
static int load_sec_blob(const char *path, const char *alg, uint8_t **bin, struct hero_error *err)
{
	char *text = NULL;
	uint8_t *blob = NULL;
	size_t len = 0, n = 0;
	int ret = read_key_file(path, "secret key", &text, &len, err);
	if (ret < 0)
		return ret;
	ret = decode_key_text(text, len, &blob, &n, err);
	if (ret >= 0)
		ret = check_sec_blob(blob, n, alg, err);
	if (ret < 0) {
		hero_error_prefix(err, "secret key '%s'", path);
		sodium_free(blob);
		blob = NULL;
	}
	sodium_free(text);
	*bin = blob;
	return ret;
}

/* BLAKE2b-128(keyid || sk): the checksum of an unprotected secret key. */
static void sec_checksum(const uint8_t *keyid, const uint8_t *sk, uint8_t out[16])
{
	crypto_generichash_state st;
	crypto_generichash_init(&st, NULL, 0, 16);
	crypto_generichash_update(&st, keyid, HERO_KEYID_BYTES);
	crypto_generichash_update(&st, sk, HERO_SK_BYTES);
	crypto_generichash_final(&st, out, 16);
	sodium_memzero(&st, sizeof st);
}

/* Derive the Argon2id key for a protected blob into KEY (32 bytes). */
static int sec_derive(const uint8_t *bin, const char *passphrase, uint8_t *key,
		      struct hero_error *err)
{
	if (crypto_pwhash(key, crypto_secretbox_KEYBYTES, passphrase, strlen(passphrase),
			  bin + SEC_OFF_SALT, load_le64(bin + SEC_OFF_OPS),
			  (size_t)load_le64(bin + SEC_OFF_MEM), crypto_pwhash_ALG_ARGON2ID13) != 0)
		return hero_error(err, HERO_EFAIL,
				  "cannot derive a key from the passphrase (out of memory?)");
	return 0;
}

/* Unseal a checked blob into SK. */
static int sec_open(struct hero_seckey *sk, const uint8_t *bin, int protected,
		    const char *passphrase, const char *path, struct hero_error *err)
{
	uint8_t sum[16];
	uint8_t *key = NULL;
	int ret = -HERO_EFAIL;
	memcpy(sk->alg, bin, 2);
	memcpy(sk->keyid, bin + SEC_OFF_KEYID, HERO_KEYID_BYTES);
	if (!protected) {
		memcpy(sk->sk, bin + SEC_OFF_SEALED, HERO_SK_BYTES);
		sec_checksum(sk->keyid, sk->sk, sum);
		if (sodium_memcmp(sum, bin + SEC_OFF_SEALED + HERO_SK_BYTES, 16) != 0)
			return hero_error(err, HERO_EFAIL, "secret key '%s' is damaged (bad checksum)",
					  path);
		return 0;
	}
	if (!passphrase || !*passphrase)
		return hero_error(err, HERO_EFAIL,
				  "secret key '%s' is protected by a passphrase and none was given", path);
	key = sodium_malloc(crypto_secretbox_KEYBYTES);
	if (!key)
		return hero_error(err, HERO_EFAIL, "out of memory");
	ret = sec_derive(bin, passphrase, key, err);
	if (ret < 0)
		goto out;
	if (crypto_secretbox_open_easy(sk->sk, bin + SEC_OFF_SEALED, SEC_SEALED_BYTES,
				       bin + SEC_OFF_NONCE, key) != 0) {
		ret = hero_error(err, HERO_EFAIL, "wrong passphrase for secret key '%s'", path);
		goto out;
	}
	ret = 0;
out:
	sodium_free(key);
	return ret;
}

/* The public half stored in SK must be the one its seed derives. */
static int sec_consistent(const struct hero_seckey *sk, const char *path, struct hero_error *err)
{
	uint8_t pk[HERO_PK_BYTES];
	if (!memcmp(sk->alg, "XC", 2)) {
		if (crypto_scalarmult_base(pk, sk->sk) != 0)
			return hero_error(err, HERO_EFAIL, "identity '%s' is not a valid X25519 key", path);
	} else {
		uint8_t *tmp = sodium_malloc(HERO_SK_BYTES);
		if (!tmp)
			return hero_error(err, HERO_EFAIL, "out of memory");
		crypto_sign_seed_keypair(pk, tmp, sk->sk);
		sodium_free(tmp);
	}
	if (memcmp(pk, sk->sk + 32, HERO_PK_BYTES) != 0)
		return hero_error(err, HERO_EFAIL,
				  "secret key '%s' is inconsistent (its public half does not match)",
				  path);
	return 0;
}

static int seckey_load_alg(struct hero_seckey **out, const char *path, const char *passphrase,
			   const char *alg, struct hero_error *err)
{
	uint8_t *bin = NULL;
	struct hero_seckey *sk = NULL;
	int ret = load_sec_blob(path, alg, &bin, err);
	if (ret < 0)
		return ret;
	int protected = ret;
	sk = sodium_malloc(sizeof *sk);
	if (!sk) {
		ret = hero_error(err, HERO_EFAIL, "out of memory");
		goto out;
	}
	ret = sec_open(sk, bin, protected, passphrase, path, err);
	if (ret < 0)
		goto out;
	ret = sec_consistent(sk, path, err);
	if (ret < 0)
		goto out;
	sodium_mprotect_readonly(sk);
	*out = sk;
	sk = NULL;
	ret = 0;
out:
	hero_seckey_free(sk);
	sodium_free(bin);
	return ret;
}

int hero_seckey_load(struct hero_seckey **out, const char *path, const char *passphrase,
		     struct hero_error *err)
{
	return seckey_load_alg(out, path, passphrase, "ED", err);
}

int hero_identity_load(struct hero_seckey **out, const char *path, const char *passphrase,
		       struct hero_error *err)
{
	return seckey_load_alg(out, path, passphrase, "XC", err);
}

int hero_x25519_shared(const struct hero_seckey *id, const uint8_t peer[HERO_PK_BYTES],
		       uint8_t shared[32], struct hero_error *err)
{
	if (memcmp(id->alg, "XC", 2) != 0)
		return hero_error(err, HERO_EFAIL, "not an encryption identity");
	if (crypto_scalarmult(shared, id->sk, peer) != 0 || sodium_is_zero(shared, 32))
		return hero_error(err, HERO_EINTEGRITY, "bad ephemeral key in archive");
	return 0;
}

void hero_seckey_free(struct hero_seckey *sk)
{
	if (!sk)
		return;
	sodium_mprotect_readwrite(sk);
	sodium_memzero(sk, sizeof *sk);
	sodium_free(sk);
}

int hero_seckey_is_protected(const char *path, struct hero_error *err)
{
	uint8_t *bin = NULL;
	int ret = load_sec_blob(path, NULL, &bin, err);
	sodium_free(bin);
	return ret;
}

void hero_seckey_pubkey(const struct hero_seckey *sk, struct hero_pubkey *out)
{
	memcpy(out->keyid, sk->keyid, HERO_KEYID_BYTES);
	memcpy(out->pk, sk->sk + 32, HERO_PK_BYTES);
}

/* ---- writing key files ---- */

/* Build the secret key blob for SK into BIN (SEC_BLOB_BYTES). */
static int sec_seal(uint8_t *bin, const struct hero_seckey *sk, const char *passphrase,
		    struct hero_error *err)
{
	uint8_t *key = NULL;
	int ret = -HERO_EFAIL;
	memset(bin, 0, SEC_BLOB_BYTES);
	memcpy(bin, sk->alg, 2);
	memcpy(bin + SEC_OFF_KEYID, sk->keyid, HERO_KEYID_BYTES);
	if (!passphrase || !*passphrase) {
		memcpy(bin + SEC_OFF_KDF, "NO", 2);
		memcpy(bin + SEC_OFF_SEALED, sk->sk, HERO_SK_BYTES);
		sec_checksum(sk->keyid, sk->sk, bin + SEC_OFF_SEALED + HERO_SK_BYTES);
		return 0;
	}
	memcpy(bin + SEC_OFF_KDF, "A2", 2);
	randombytes_buf(bin + SEC_OFF_SALT, crypto_pwhash_SALTBYTES);
	store_le64(bin + SEC_OFF_OPS, crypto_pwhash_OPSLIMIT_INTERACTIVE);
	store_le64(bin + SEC_OFF_MEM, crypto_pwhash_MEMLIMIT_INTERACTIVE);
	randombytes_buf(bin + SEC_OFF_NONCE, crypto_secretbox_NONCEBYTES);
	key = sodium_malloc(crypto_secretbox_KEYBYTES);
	if (!key)
		return hero_error(err, HERO_EFAIL, "out of memory");
	ret = sec_derive(bin, passphrase, key, err);
	if (ret < 0)
		goto out;
	crypto_secretbox_easy(bin + SEC_OFF_SEALED, sk->sk, HERO_SK_BYTES, bin + SEC_OFF_NONCE, key);
	ret = 0;
out:
	sodium_free(key);
	return ret;
}

/* Format "untrusted comment: hero-snap KIND key HEX\nBASE64\n" into BUF[CAP]. */
static int format_key_text(char *buf, size_t cap, const char *kind, const uint8_t *keyid,
			   const uint8_t *bin, size_t n, size_t *outlen, struct hero_error *err)
{
	char hex[2 * HERO_KEYID_BYTES + 1];
	hero_keyid_hex(keyid, hex);
	int k = snprintf(buf, cap, COMMENT_PREFIX "hero-snap %s key %s\n", kind, hex);
	if (k < 0 || (size_t)k >= cap)
		return hero_error(err, HERO_EFAIL, "key file text too long");
	size_t need = sodium_base64_ENCODED_LEN(n, B64);
	if ((size_t)k + need + 1 > cap)
		return hero_error(err, HERO_EFAIL, "key file text too long");
	sodium_bin2base64(buf + k, cap - (size_t)k, bin, n, B64);
	size_t len = (size_t)k + strlen(buf + k);
	buf[len++] = '\n';
	buf[len] = '\0';
	*outlen = len;
	return 0;
}

/* Open PATH for writing a key file: never through a symlink, O_EXCL unless
 * FORCE (then an existing file is opened and truncated only once both files
 * are open). *CREATED tells whether this call created the file. */
static int open_key_file(const char *path, const char *what, mode_t mode, int force,
			 int *created, struct hero_error *err)
{
	struct stat st;
	int flags = O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
	int fd = open(path, flags | O_EXCL, mode);
	*created = fd >= 0;
	if (fd < 0 && errno == EEXIST && force)
		fd = open(path, flags, mode);
	if (fd < 0 && errno == ELOOP)
		return hero_error(err, HERO_EFAIL, "refusing to write %s through symlink '%s'", what,
				  path);
	if (fd < 0 && errno == EEXIST)
		return hero_error(err, HERO_EFAIL, "%s '%s' already exists (not overwriting)", what,
				  path);
	if (fd < 0)
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot create %s '%s'", what, path);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink > 1) {
		close(fd);
		return hero_error(err, HERO_EFAIL,
				  "refusing to write %s '%s': not a regular file with one link", what,
				  path);
	}
	if (fchmod(fd, mode) < 0) {
		int e = errno;
		close(fd);
		return hero_error_errno(err, HERO_EFAIL, e, "cannot chmod %s '%s'", what, path);
	}
	return fd;
}

static int fsync_parent(const char *path, struct hero_error *err)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int n = slash ? snprintf(dir, sizeof dir, "%.*s", (int)(slash - path + 1), path)
		      : snprintf(dir, sizeof dir, ".");
	if (n < 0 || (size_t)n >= sizeof dir)
		return hero_error(err, HERO_EFAIL, "path too long: '%s'", path);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return hero_error_errno(err, HERO_EFAIL, errno, "cannot open directory '%s'", dir);
	int r = fsync(fd);
	int e = errno;
	close(fd);
	if (r < 0 && e != EINVAL)
		return hero_error_errno(err, HERO_EFAIL, e, "cannot fsync directory '%s'", dir);
	return 0;
}

/* Truncate FD, write TEXT[LEN], fsync and close it (always closed). */
static int write_key_fd(int fd, const char *text, size_t len, const char *what, const char *path,
			struct hero_error *err)
{
	int ret = 0;
	if (ftruncate(fd, 0) < 0) {
		ret = hero_error_errno(err, HERO_EFAIL, errno, "cannot truncate %s '%s'", what, path);
		goto out;
	}
	for (size_t off = 0; off < len;) {
		ssize_t n = write(fd, text + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = hero_error_errno(err, HERO_EFAIL, errno, "cannot write %s '%s'", what,
					       path);
			goto out;
		}
		off += (size_t)n;
	}
	if (fsync(fd) < 0)
		ret = hero_error_errno(err, HERO_EFAIL, errno, "cannot fsync %s '%s'", what, path);
out:
	if (close(fd) < 0 && ret == 0)
		ret = hero_error_errno(err, HERO_EFAIL, errno, "cannot close %s '%s'", what, path);
	return ret;
}

/* Write both key files; on failure remove the files this call created. */
static int write_key_pair(const char *secpath, const char *sectext, size_t seclen,
			  const char *pubpath, const char *pubtext, size_t publen, int force,
			  struct hero_error *err)
{
	int sec_created = 0, pub_created = 0, ret;
	int sfd = open_key_file(secpath, "secret key", 0600, force, &sec_created, err);
	if (sfd < 0)
		return sfd;
	int pfd = open_key_file(pubpath, "public key", 0644, force, &pub_created, err);
	if (pfd < 0) {
		close(sfd);
		ret = pfd;
		goto fail;
	}
	ret = write_key_fd(sfd, sectext, seclen, "secret key", secpath, err);
	if (ret < 0) {
		close(pfd);
		goto fail;
	}
	ret = write_key_fd(pfd, pubtext, publen, "public key", pubpath, err);
	if (ret < 0)
		goto fail;
	ret = fsync_parent(secpath, err);
	if (ret == 0)
		ret = fsync_parent(pubpath, err);
	return ret;
fail:
	if (sec_created)
		unlink(secpath);
	if (pub_created)
		unlink(pubpath);
	return ret;
}

/* Serialise SK (secret) and its public key into sodium_malloc'd texts. */
static int keygen_texts(const struct hero_seckey *sk, const char *passphrase, char *sectext,
			size_t *seclen, char *pubtext, size_t *publen, struct hero_error *err)
{
	uint8_t pub[PUB_BLOB_BYTES];
	uint8_t *bin = sodium_malloc(SEC_BLOB_BYTES);
	if (!bin)
		return hero_error(err, HERO_EFAIL, "out of memory");
	int ret = sec_seal(bin, sk, passphrase, err);
	int enc = !memcmp(sk->alg, "XC", 2);
	if (ret == 0)
		ret = format_key_text(sectext, KEY_FILE_MAX, enc ? "identity" : "secret", sk->keyid, bin,
				      SEC_BLOB_BYTES, seclen, err);
	sodium_free(bin);
	if (ret < 0)
		return ret;
	memcpy(pub, sk->alg, 2);
	memcpy(pub + 2, sk->keyid, HERO_KEYID_BYTES);
	memcpy(pub + 2 + HERO_KEYID_BYTES, sk->sk + 32, HERO_PK_BYTES);
	return format_key_text(pubtext, KEY_FILE_MAX, enc ? "recipient" : "public", sk->keyid, pub,
			       sizeof pub, publen, err);
}

static int keygen_alg(const char *alg, const char *secpath, const char *pubpath, const char *passphrase,
		      int force, struct hero_pubkey *out_pub, struct hero_error *err)
{
	struct hero_seckey *sk = sodium_malloc(sizeof *sk);
	char *sectext = sodium_malloc(KEY_FILE_MAX);
	char pubtext[KEY_FILE_MAX];
	size_t seclen = 0, publen = 0;
	uint8_t pk[HERO_PK_BYTES];
	int ret = -HERO_EFAIL;
	if (!sk || !sectext) {
		ret = hero_error(err, HERO_EFAIL, "out of memory");
		goto out;
	}
	memcpy(sk->alg, alg, 2);
	if (!strcmp(alg, "XC")) {
		crypto_box_keypair(pk, sk->sk);
		memcpy(sk->sk + 32, pk, HERO_PK_BYTES);
	} else {
		crypto_sign_keypair(pk, sk->sk);
	}
	randombytes_buf(sk->keyid, HERO_KEYID_BYTES);
	ret = keygen_texts(sk, passphrase, sectext, &seclen, pubtext, &publen, err);
	if (ret < 0)
		goto out;
	ret = write_key_pair(secpath, sectext, seclen, pubpath, pubtext, publen, force, err);
	if (ret < 0)
		goto out;
	if (out_pub)
		hero_seckey_pubkey(sk, out_pub);
	ret = 0;
out:
	hero_seckey_free(sk);
	sodium_free(sectext);
	return ret;
}

int hero_keygen(const char *secpath, const char *pubpath, const char *passphrase, int force,
		struct hero_pubkey *out_pub, struct hero_error *err)
{
	return keygen_alg("ED", secpath, pubpath, passphrase, force, out_pub, err);
}

int hero_keygen_x25519(const char *idpath, const char *rcptpath, const char *passphrase, int force,
		       struct hero_pubkey *out_rcpt, struct hero_error *err)
{
	return keygen_alg("XC", idpath, rcptpath, passphrase, force, out_rcpt, err);
}

/* ---- signatures ---- */

static void sig_message(uint8_t msg[sizeof sig_domain + 64], const uint8_t prehash[64])
{
	memcpy(msg, sig_domain, sizeof sig_domain); /* includes the 0x00 separator */
	memcpy(msg + sizeof sig_domain, prehash, 64);
}

int hero_sign_prehash(const struct hero_seckey *sk, const uint8_t prehash[64],
		      uint8_t sig[HERO_SIG_BYTES], struct hero_error *err)
{
	uint8_t msg[sizeof sig_domain + 64];
	sig_message(msg, prehash);
	if (crypto_sign_detached(sig, NULL, msg, sizeof msg, sk->sk) != 0)
		return hero_error(err, HERO_EFAIL, "cannot sign");
	return 0;
}

int hero_verify_prehash(const struct hero_pubkey *pk, const uint8_t prehash[64],
			const uint8_t sig[HERO_SIG_BYTES], struct hero_error *err)
{
	uint8_t msg[sizeof sig_domain + 64];
	char hex[2 * HERO_KEYID_BYTES + 1];
	sig_message(msg, prehash);
	if (crypto_sign_verify_detached(sig, msg, sizeof msg, pk->pk) != 0) {
		hero_keyid_hex(pk->keyid, hex);
		return hero_error(err, HERO_EINTEGRITY, "bad signature (key %s)", hex);
	}
	return 0;
}

/* ---- trusted keys ---- */

int hero_trust_add_file(struct hero_trust *t, const char *path, struct hero_error *err)
{
	struct hero_pubkey pk;
	char hex[2 * HERO_KEYID_BYTES + 1];
	int ret = hero_pubkey_load(&pk, path, err);
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < t->n; i++) {
		if (memcmp(t->keys[i].keyid, pk.keyid, HERO_KEYID_BYTES) != 0)
			continue;
		if (memcmp(t->keys[i].pk, pk.pk, HERO_PK_BYTES) == 0)
			return 0; /* the same key twice */
		hero_keyid_hex(pk.keyid, hex);
		return hero_error(err, HERO_EFAIL,
				  "public key '%s': key id %s is already trusted with a different key",
				  path, hex);
	}
	struct hero_pubkey *keys = realloc(t->keys, (t->n + 1) * sizeof *keys);
	if (!keys)
		return hero_error(err, HERO_EFAIL, "out of memory");
	keys[t->n] = pk;
	t->keys = keys;
	t->n++;
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_pub_name(const char *name)
{
	size_t l = strlen(name);
	return name[0] != '.' && l > 4 && strcmp(name + l - 4, ".pub") == 0;
}

/* The sorted *.pub names in the open directory D; *NAMES malloc'd. */
static int list_pub_names(DIR *d, const char *dir, char ***names, size_t *count,
			  struct hero_error *err)
{
	struct dirent *de;
	char **v = NULL;
	size_t n = 0;
	int ret = -HERO_EFAIL;
	for (errno = 0; (de = readdir(d)) != NULL; errno = 0) {
		if (!is_pub_name(de->d_name))
			continue;
		char **nv = realloc(v, (n + 1) * sizeof *nv);
		if (!nv || !(nv[n] = strdup(de->d_name))) {
			v = nv ? nv : v;
			ret = hero_error(err, HERO_EFAIL, "out of memory");
			goto out;
		}
		v = nv;
		n++;
	}
	if (errno) {
		ret = hero_error_errno(err, HERO_EFAIL, errno, "cannot read directory '%s'", dir);
		goto out;
	}
	if (n)
		qsort(v, n, sizeof *v, cmp_names);
	*names = v;
	*count = n;
	v = NULL;
	n = 0;
	ret = 0;
out:
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	return ret;
}

int hero_trust_add_dir(struct hero_trust *t, const char *dir, struct hero_error *err)
{
	char **names = NULL;
	size_t count = 0, before = t->n;
	char path[PATH_MAX];
	DIR *d = opendir(dir);
	if (!d && errno == ENOENT)
		return 0;
	if (!d)
		return hero_error_errno(err, HERO_EFAIL, errno,
					"cannot open trusted keys directory '%s'", dir);
	int ret = list_pub_names(d, dir, &names, &count, err);
	closedir(d);
	for (size_t i = 0; ret == 0 && i < count; i++) {
		int k = snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		if (k < 0 || (size_t)k >= sizeof path)
			ret = hero_error(err, HERO_EFAIL, "path too long: '%s/%s'", dir, names[i]);
		else
			ret = hero_trust_add_file(t, path, err);
	}
	if (ret < 0)
		t->n = before; /* all or nothing */
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
	return ret;
}

const struct hero_pubkey *hero_trust_find(const struct hero_trust *t,
					  const uint8_t keyid[HERO_KEYID_BYTES])
{
	for (size_t i = 0; i < t->n; i++)
		if (memcmp(t->keys[i].keyid, keyid, HERO_KEYID_BYTES) == 0)
			return &t->keys[i];
	return NULL;
}

void hero_trust_release(struct hero_trust *t)
{
	if (!t)
		return;
	free(t->keys);
	t->keys = NULL;
	t->n = 0;
}
