/* Streaming digests over EVP (digest.h). */
#include <stdlib.h>

#include <openssl/evp.h>

#include "crypto/digest.h"
#include "crypto/evpcache.h"

struct crypto_digest {
	EVP_MD_CTX *ctx;
};

struct crypto_digest *crypto_digest_new(int bits, struct kl_err *err)
{
	const EVP_MD *md = evpcache_sha(bits);
	struct crypto_digest *d;

	if (md == NULL) {
		kl_fail(err, KL_EINVAL, "no SHA-2 digest of %d bits", bits);
		return NULL;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL || (d->ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(d->ctx, md, NULL) != 1) {
		crypto_digest_free(d);
		kl_fail(err, KL_ENOMEM, "cannot start a digest");
		return NULL;
	}
	return d;
}

int crypto_digest_update(struct crypto_digest *d, const void *p, size_t n, struct kl_err *err)
{
	if (EVP_DigestUpdate(d->ctx, p, n) != 1)
		return kl_fail(err, KL_EINTERNAL, "digest update failed");
	return 0;
}

int crypto_digest_final(struct crypto_digest *d, unsigned char out[CRYPTO_DIGEST_MAX],
			struct kl_err *err)
{
	unsigned int len = 0;

	if (EVP_DigestFinal_ex(d->ctx, out, &len) != 1)
		return kl_fail(err, KL_EINTERNAL, "digest failed");
	return 0;
}

void crypto_digest_free(struct crypto_digest *d)
{
	if (d == NULL)
		return;
	EVP_MD_CTX_free(d->ctx);
	free(d);
}
