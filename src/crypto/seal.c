/* seal.c owns the master key, data keys and sealed records (AES-256-GCM, random 96-bit nonces,
 * the record's key as additional data). It is the only code that sees the master key. It must
 * never put key bytes or plaintext in a log or an error message, never return partial plaintext
 * from a record that failed authentication, and never overwrite an existing master key file. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "crypto/evpcache.h"
#include "crypto/rand.h"
#include "crypto/seal.h"
#include "util/hex.h"
#include "util/lockedmem.h"
#include "util/log.h"

#define SEAL_KEY_LEN 32
#define SEAL_FORMAT_V1 0x01
#define SEAL_NONCE_LEN 12
#define SEAL_TAG_LEN 16
#define SEAL_OVERHEAD (1 + SEAL_NONCE_LEN + SEAL_TAG_LEN)
_Static_assert(SEAL_NONCE_LEN == EVPCACHE_GCM_IV_LEN, "the cached GCM contexts take this nonce");
#define SEAL_CHUNK 1024
/* EVP takes int lengths; records are far smaller than this anyway. */
#define SEAL_PLAIN_MAX ((size_t)INT_MAX - SEAL_OVERHEAD)
#define SEAL_WRAP_AAD "kluis/data-key/v1"
/* Format 2 of a wrapped data key names its master key: 0x02, the key id (8 bytes), then a sealed
 * record whose additional data is SEAL_WRAP_AAD_V2 followed by that id. */
#define SEAL_WRAP_V2 0x02
#define SEAL_KID_LEN 8
#define SEAL_WRAP_AAD_V2 "kluis/data-key/v2:"
#define SEAL_KID_LABEL "kluis/master-key-id/v1"

struct seal_key {
	unsigned char k[SEAL_KEY_LEN];
};

/* OpenSSL's reason for the last failure, for the log (never holds key material). */
static const char *ossl_reason(void)
{
	const char *r = ERR_reason_error_string(ERR_get_error());

	ERR_clear_error();
	return r != NULL ? r : "unknown reason";
}

/* Keys live on pages of their own, locked in RAM and left out of core dumps (util/lockedmem.h):
 * few keys exist (the data key for the process's life, master keys for a moment). */
static struct seal_key *seal_key_alloc(struct kl_err *err)
{
	return lockedmem_alloc(sizeof(struct seal_key), NULL, err);
}

void seal_key_free(struct seal_key *k)
{
	if (k != NULL) {
		OPENSSL_cleanse(k->k, sizeof(k->k));
		lockedmem_free(k, sizeof(*k));
	}
}

/* The raw id of a master key: SHA-256 of a label and the key, cut to SEAL_KID_LEN bytes. It names
 * the key without revealing anything of it (the key is 256 random bits). */
static int seal_kid(const struct seal_key *k, unsigned char out[SEAL_KID_LEN])
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
		 EVP_DigestUpdate(ctx, SEAL_KID_LABEL, strlen(SEAL_KID_LABEL)) == 1 &&
		 EVP_DigestUpdate(ctx, k->k, sizeof(k->k)) == 1 &&
		 EVP_DigestFinal_ex(ctx, d, &n) == 1 && n >= SEAL_KID_LEN;

	EVP_MD_CTX_free(ctx);
	if (ok)
		memcpy(out, d, SEAL_KID_LEN);
	OPENSSL_cleanse(d, sizeof(d));
	return ok ? 0 : -1;
}

void seal_key_id(const struct seal_key *k, char out[SEAL_KEY_ID_HEX + 1])
{
	unsigned char kid[SEAL_KID_LEN];

	if (seal_kid(k, kid) != 0) {	/* SHA-256 does not fail short of memory */
		snprintf(out, SEAL_KEY_ID_HEX + 1, "%s", "unknown");
		return;
	}
	hex_encode(kid, sizeof(kid), out);
}

bool seal_wrapped_key_id(const void *wrapped, size_t n, char out[SEAL_KEY_ID_HEX + 1])
{
	const unsigned char *w = wrapped;

	if (n < 1 + SEAL_KID_LEN + SEAL_OVERHEAD || w[0] != SEAL_WRAP_V2)
		return false;
	hex_encode(w + 1, SEAL_KID_LEN, out);
	return true;
}

bool seal_key_equal(const struct seal_key *a, const struct seal_key *b)
{
	return CRYPTO_memcmp(a->k, b->k, sizeof(a->k)) == 0;
}

struct seal_key *seal_key_generate(struct kl_err *err)
{
	struct seal_key *k = NULL;
	struct seal_key *res = NULL;

	if ((k = seal_key_alloc(err)) == NULL || crypto_random(k->k, sizeof(k->k), err) != 0)
		goto out;
	res = k;
	k = NULL;
out:
	seal_key_free(k);
	return res;
}

int seal_seal(const struct seal_key *k, const void *aad, size_t aad_len, const void *plain,
	      size_t plain_len, struct buf *out, struct kl_err *err)
{
	EVP_CIPHER_CTX *ctx = NULL;
	unsigned char head[1 + SEAL_NONCE_LEN];
	unsigned char chunk[SEAL_CHUNK + 32];	/* GCM is a stream mode: output == input */
	unsigned char tag[SEAL_TAG_LEN];
	const unsigned char *p = plain;
	size_t start = out->len, done = 0, step;
	int n = 0, rc = -1;

	if (plain_len > SEAL_PLAIN_MAX || aad_len > INT_MAX) {
		kl_fail(err, KL_ETOOBIG, "value too large to seal");
		goto out;
	}
	head[0] = SEAL_FORMAT_V1;
	if (crypto_random(head + 1, SEAL_NONCE_LEN, err) != 0)
		goto out;
	if ((ctx = evpcache_gcm(true)) == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	if (EVP_EncryptInit_ex(ctx, NULL, NULL, k->k, head + 1) != 1 ||
	    (aad_len > 0 && EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1))
		goto ossl_fail;
	if (buf_append(out, head, sizeof(head), err) != 0)
		goto out;
	while (done < plain_len) {
		step = plain_len - done < SEAL_CHUNK ? plain_len - done : SEAL_CHUNK;
		if (EVP_EncryptUpdate(ctx, chunk, &n, p + done, (int)step) != 1)
			goto ossl_fail;
		if (buf_append(out, chunk, (size_t)n, err) != 0)
			goto out;
		done += step;
	}
	if (EVP_EncryptFinal_ex(ctx, chunk, &n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SEAL_TAG_LEN, tag) != 1)
		goto ossl_fail;
	if ((n > 0 && buf_append(out, chunk, (size_t)n, err) != 0) ||
	    buf_append(out, tag, sizeof(tag), err) != 0)
		goto out;
	rc = 0;
	goto out;
ossl_fail:
	LOG_ERROR(NULL, "AES-256-GCM encryption failed: %s", ossl_reason());
	kl_fail(err, KL_EINTERNAL, "encryption failed");
out:
	if (rc != 0)
		buf_truncate(out, start);
	evpcache_gcm_done(ctx);
	OPENSSL_cleanse(chunk, sizeof(chunk));
	return rc;
}

int seal_open(const struct seal_key *k, const void *aad, size_t aad_len, const void *sealed,
	      size_t sealed_len, struct secbuf **out, struct kl_err *err)
{
	const unsigned char *s = sealed;
	EVP_CIPHER_CTX *ctx = NULL;
	struct secbuf *plain = NULL;
	unsigned char tag[SEAL_TAG_LEN];
	size_t ct_len;
	int n = 0, fin = 0, rc = -1;

	/* One message for every way a record can be wrong, and never any of its bytes. */
	if (sealed_len < SEAL_OVERHEAD || sealed_len - SEAL_OVERHEAD > SEAL_PLAIN_MAX ||
	    s[0] != SEAL_FORMAT_V1 || aad_len > INT_MAX) {
		kl_fail(err, KL_ECORRUPT, "sealed record failed authentication");
		goto out;
	}
	ct_len = sealed_len - SEAL_OVERHEAD;
	memcpy(tag, s + sealed_len - SEAL_TAG_LEN, SEAL_TAG_LEN);
	if ((plain = secbuf_new(ct_len, err)) == NULL)
		goto out;
	if ((ctx = evpcache_gcm(false)) == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	if (EVP_DecryptInit_ex(ctx, NULL, NULL, k->k, s + 1) != 1 ||
	    (aad_len > 0 && EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1) ||
	    (ct_len > 0 &&
	     EVP_DecryptUpdate(ctx, plain->data, &n, s + 1 + SEAL_NONCE_LEN, (int)ct_len) != 1) ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SEAL_TAG_LEN, tag) != 1) {
		LOG_ERROR(NULL, "AES-256-GCM decryption failed: %s", ossl_reason());
		kl_fail(err, KL_EINTERNAL, "decryption failed");
		goto out;
	}
	/* The tag is checked here; until then plain holds unauthenticated bytes. */
	if (EVP_DecryptFinal_ex(ctx, plain->data + (ct_len > 0 ? (size_t)n : 0), &fin) != 1) {
		ERR_clear_error();
		kl_fail(err, KL_ECORRUPT, "sealed record failed authentication");
		goto out;
	}
	*out = plain;
	plain = NULL;
	rc = 0;
out:
	secbuf_free(plain);	/* wipes anything decrypted from a record that failed */
	evpcache_gcm_done(ctx);
	return rc;
}

/* The additional data of a format 2 wrapped key: the label and the master key's id. */
static size_t seal_wrap_aad(unsigned char *aad, const unsigned char kid[SEAL_KID_LEN])
{
	size_t n = strlen(SEAL_WRAP_AAD_V2);

	memcpy(aad, SEAL_WRAP_AAD_V2, n);
	memcpy(aad + n, kid, SEAL_KID_LEN);
	return n + SEAL_KID_LEN;
}

int seal_key_wrap(const struct seal_key *master, const struct seal_key *key, struct buf *out,
		  struct kl_err *err)
{
	unsigned char head[1 + SEAL_KID_LEN], aad[sizeof(SEAL_WRAP_AAD_V2) + SEAL_KID_LEN];
	size_t start = out->len, aad_len;

	head[0] = SEAL_WRAP_V2;
	if (seal_kid(master, head + 1) != 0)
		return kl_fail(err, KL_EINTERNAL, "cannot compute the master key's id");
	aad_len = seal_wrap_aad(aad, head + 1);
	if (buf_append(out, head, sizeof(head), err) != 0)
		return -1;
	if (seal_seal(master, aad, aad_len, key->k, sizeof(key->k), out, err) != 0) {
		buf_truncate(out, start);
		return -1;
	}
	return 0;
}

struct seal_key *seal_key_unwrap(const struct seal_key *master, const void *wrapped, size_t n,
				 struct kl_err *err)
{
	const unsigned char *w = wrapped;
	unsigned char kid[SEAL_KID_LEN], aad[sizeof(SEAL_WRAP_AAD_V2) + SEAL_KID_LEN];
	char want[SEAL_KEY_ID_HEX + 1], have[SEAL_KEY_ID_HEX + 1];
	struct secbuf *raw = NULL;
	struct seal_key *k = NULL;
	struct seal_key *res = NULL;
	int rc;

	if (n > 0 && w[0] == SEAL_WRAP_V2) {
		/* The id says at once whether this is the master key that wrapped it. */
		if (seal_kid(master, kid) != 0) {
			kl_fail(err, KL_EINTERNAL, "cannot compute the master key's id");
			goto out;
		}
		if (n < 1 + SEAL_KID_LEN || CRYPTO_memcmp(kid, w + 1, SEAL_KID_LEN) != 0) {
			if (seal_wrapped_key_id(wrapped, n, want)) {
				hex_encode(kid, sizeof(kid), have);
				kl_fail(err, KL_ECORRUPT, "the data key is wrapped under master key %s, "
					"not under this one (%s)", want, have);
			} else {
				kl_fail(err, KL_ECORRUPT, "the wrapped data key is damaged");
			}
			goto out;
		}
		rc = seal_open(master, aad, seal_wrap_aad(aad, kid), w + 1 + SEAL_KID_LEN,
			       n - 1 - SEAL_KID_LEN, &raw, err);
	} else {	/* format 1, before master keys had ids */
		rc = seal_open(master, SEAL_WRAP_AAD, strlen(SEAL_WRAP_AAD), wrapped, n, &raw, err);
	}
	if (rc != 0) {
		if (err != NULL && err->code == KL_ECORRUPT)
			kl_fail(err, KL_ECORRUPT, "the wrapped data key failed authentication: "
				"wrong master key or damaged record");
		goto out;
	}
	if (raw->len != SEAL_KEY_LEN) {
		kl_fail(err, KL_ECORRUPT, "the wrapped data key has the wrong length");
		goto out;
	}
	if ((k = seal_key_alloc(err)) == NULL)
		goto out;
	memcpy(k->k, raw->data, SEAL_KEY_LEN);
	res = k;
	k = NULL;
out:
	secbuf_free(raw);
	seal_key_free(k);
	return res;
}

/* fsync of the directory holding path, so a new entry survives a crash. */
static int seal_sync_dir(const char *path, struct kl_err *err)
{
	char *dir = NULL, *slash;
	int fd = -1, rc = -1;

	if ((dir = strdup(path)) == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	if ((slash = strrchr(dir, '/')) == NULL)
		strcpy(dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 || fsync(fd) != 0) {
		kl_fail(err, KL_EINTERNAL, "cannot sync directory of master key file %.100s: %s",
			path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(dir);
	return rc;
}

/* Creates path holding fresh key bytes. NULL with *exists set (and err untouched) when the file
 * appeared since the caller looked. */
static struct seal_key *seal_master_new_file(const char *path, bool *exists, struct kl_err *err)
{
	struct seal_key *k = NULL;
	struct seal_key *res = NULL;
	size_t off = 0;
	ssize_t w;
	int fd = -1, created = 0;

	*exists = false;
	if ((fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600)) < 0) {
		if (errno == EEXIST)
			*exists = true;
		else
			kl_fail(err, KL_EINTERNAL, "cannot create master key file %.100s: %s", path,
				strerror(errno));
		goto out;
	}
	created = 1;
	/* A umask can only drop bits from 0600; set it anyway so the mode is never a guess. */
	if (fchmod(fd, 0600) != 0) {
		kl_fail(err, KL_EINTERNAL, "cannot chmod master key file %.100s: %s", path,
			strerror(errno));
		goto out;
	}
	if ((k = seal_key_generate(err)) == NULL)
		goto out;
	while (off < sizeof(k->k)) {
		w = write(fd, k->k + off, sizeof(k->k) - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			kl_fail(err, KL_EINTERNAL, "cannot write master key file %.100s: %s", path,
				w < 0 ? strerror(errno) : "short write");
			goto out;
		}
		off += (size_t)w;
	}
	if (fsync(fd) != 0) {
		kl_fail(err, KL_EINTERNAL, "cannot sync master key file %.100s: %s", path,
			strerror(errno));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		kl_fail(err, KL_EINTERNAL, "cannot close master key file %.100s: %s", path,
			strerror(errno));
		goto out;
	}
	fd = -1;
	if (seal_sync_dir(path, err) != 0)
		goto out;
	LOG_INFO(NULL, "created master key file %.200s", path);
	res = k;
	k = NULL;
out:
	if (fd >= 0)
		close(fd);
	/* Never leave a half-written key behind to be refused (or trusted) at the next start. */
	if (res == NULL && created)
		unlink(path);
	seal_key_free(k);
	return res;
}

struct seal_key *seal_master_load(const char *path, int create, struct kl_err *err)
{
	struct seal_key *k = NULL;
	struct seal_key *res = NULL;
	struct stat st;
	bool exists = false;
	size_t off = 0;
	ssize_t r;
	int fd = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && create) {
		if ((res = seal_master_new_file(path, &exists, err)) != NULL || !exists)
			goto out;
		/* Another process created it between our open and our O_EXCL: read theirs. */
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0) {
		kl_fail(err, errno == ENOENT ? KL_ENOTFOUND : KL_EINTERNAL,
			"cannot open master key file %.100s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		kl_fail(err, KL_EINTERNAL, "cannot stat master key file %.100s: %s", path,
			strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		kl_fail(err, KL_ECORRUPT, "master key file %.100s is not a regular file", path);
		goto out;
	}
	if ((st.st_mode & 077) != 0) {
		kl_fail(err, KL_EFORBIDDEN,
			"master key file %.100s must not be readable by group or others "
			"(chmod 600)", path);
		goto out;
	}
	if (st.st_size != SEAL_KEY_LEN) {
		kl_fail(err, KL_ECORRUPT, "master key file %.100s has %lld bytes, expected %d",
			path, (long long)st.st_size, SEAL_KEY_LEN);
		goto out;
	}
	if ((k = seal_key_alloc(err)) == NULL)
		goto out;
	while (off < sizeof(k->k)) {
		r = read(fd, k->k + off, sizeof(k->k) - off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			kl_fail(err, KL_ECORRUPT, "cannot read master key file %.100s: %s", path,
				r < 0 ? strerror(errno) : "file shrank while reading");
			goto out;
		}
		off += (size_t)r;
	}
	res = k;
	k = NULL;
out:
	if (fd >= 0)
		close(fd);
	seal_key_free(k);
	return res;
}

struct seal_key *seal_master_create(const char *path, struct kl_err *err)
{
	struct seal_key *k;
	bool exists = false;

	k = seal_master_new_file(path, &exists, err);
	if (k == NULL && exists)
		kl_fail(err, KL_ECONFLICT, "master key file %.100s already exists", path);
	return k;
}
