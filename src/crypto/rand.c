/* rand.c owns kluis's randomness: OpenSSL's DRBG, as bytes, hex and UUIDs. It never falls back to
 * a weaker source: when the DRBG fails, the caller fails. */
#include <limits.h>
#include <stdio.h>

#include <openssl/err.h>
#include <openssl/rand.h>

#include "crypto/rand.h"
#include "util/log.h"
#include "util/secbuf.h"

/* OpenSSL's reason for the last failure, for the log (never holds key material). */
static const char *ossl_reason(void)
{
	const char *r = ERR_reason_error_string(ERR_get_error());

	ERR_clear_error();
	return r != NULL ? r : "unknown reason";
}

int crypto_random(void *out, size_t n, struct kl_err *err)
{
	unsigned char *p = out;
	size_t chunk;
	int rc = -1;

	while (n > 0) {
		chunk = n > INT_MAX ? INT_MAX : n;
		if (RAND_bytes(p, (int)chunk) != 1) {
			LOG_ERROR(NULL, "RAND_bytes failed: %s", ossl_reason());
			kl_fail(err, KL_EINTERNAL, "the random number generator failed");
			goto out;
		}
		p += chunk;
		n -= chunk;
	}
	rc = 0;
out:
	return rc;
}

int crypto_random_hex(char *out, size_t n_bytes, struct kl_err *err)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char r[32];
	size_t i, k, o = 0;
	int rc = -1;

	while (n_bytes > 0) {
		k = n_bytes < sizeof(r) ? n_bytes : sizeof(r);
		if (crypto_random(r, k, err) != 0)
			goto out;
		for (i = 0; i < k; i++) {
			out[o++] = hex[r[i] >> 4];
			out[o++] = hex[r[i] & 15];
		}
		n_bytes -= k;
	}
	rc = 0;
out:
	out[o] = '\0';
	secure_wipe(r, sizeof(r));
	return rc;
}

int crypto_random_uuid(char out[37], struct kl_err *err)
{
	unsigned char b[16];
	int rc = -1;

	out[0] = '\0';
	if (crypto_random(b, sizeof(b), err) != 0)
		goto out;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);	/* version 4 */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);	/* variant 10 (RFC 4122) */
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
	rc = 0;
out:
	secure_wipe(b, sizeof(b));
	return rc;
}
