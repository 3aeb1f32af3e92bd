/* token.c owns bearer tokens: making them, hashing them for storage, checking them in constant
 * time. It never logs a token or a digest, and wipes every copy it makes. */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "crypto/evpcache.h"
#include "crypto/rand.h"
#include "crypto/token.h"
#include "util/b64url.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/secbuf.h"

#define TOKEN_PREFIX "kl1."
#define TOKEN_RANDOM_BYTES 32

/* OpenSSL's reason for the last failure, for the log (never holds key material). */
static const char *ossl_reason(void)
{
	const char *r = ERR_reason_error_string(ERR_get_error());

	ERR_clear_error();
	return r != NULL ? r : "unknown reason";
}

int token_new(char out[TOKEN_TEXT_LEN], struct kl_err *err)
{
	unsigned char r[TOKEN_RANDOM_BYTES];
	struct buf text;
	int rc = -1;

	buf_init_secret(&text, TOKEN_TEXT_LEN - 1);
	out[0] = '\0';
	if (crypto_random(r, sizeof(r), err) != 0 ||
	    buf_append_str(&text, TOKEN_PREFIX, err) != 0 ||
	    b64url_encode(r, sizeof(r), &text, err) != 0)
		goto out;
	memcpy(out, text.data, text.len + 1);
	rc = 0;
out:
	OPENSSL_cleanse(r, sizeof(r));
	buf_clear(&text);
	return rc;
}

int token_digest(const char *tok, size_t tok_len, unsigned char out[TOKEN_DIGEST_LEN],
		 struct kl_err *err)
{
	EVP_MD_CTX *ctx = evpcache_md_ctx();
	unsigned int n = 0;
	int rc = -1;

	if (ctx == NULL || EVP_DigestInit_ex(ctx, evpcache_sha(256), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, tok_len > 0 ? tok : "", tok_len) != 1 ||
	    EVP_DigestFinal_ex(ctx, out, &n) != 1 || n != TOKEN_DIGEST_LEN) {
		LOG_ERROR(NULL, "SHA-256 failed: %s", ossl_reason());
		kl_fail(err, KL_EINTERNAL, "cannot hash the token");
		goto out;
	}
	rc = 0;
out:
	return rc;
}

bool token_matches(const char *tok, size_t tok_len, const unsigned char digest[TOKEN_DIGEST_LEN])
{
	unsigned char d[TOKEN_DIGEST_LEN];
	bool ok;

	ok = (tok != NULL || tok_len == 0) && token_digest(tok, tok_len, d, NULL) == 0 &&
	     CRYPTO_memcmp(d, digest, sizeof(d)) == 0;
	OPENSSL_cleanse(d, sizeof(d));
	return ok;
}
