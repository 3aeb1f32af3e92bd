/* libFuzzer target: compact JWS as client assertions and access tokens arrive (jws.c), split and
 * decoded, then checked with an RSA key, an EC P-256 key and a certificate under the header's alg
 * and under each allowed one; and the cheap "is it a kluis access token" look. Any input must be
 * refused or parsed without a crash; since the fuzzer cannot sign, no signature may verify. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/jws.h"
#include "crypto/keyops.h"
#include "crypto/x509.h"
#include "util/json.h"
#include "vault/identity.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct keyops_key *rsa, *ec;
static struct buf cert;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct x509_profile p = { .subject = "CN=fuzz", .not_before = 1700000000,
				  .not_after = 1900000000 };
	struct kl_err err = { 0 };

	(void)argc;
	(void)argv;
	json_util_init();
	buf_init(&cert, 64 * 1024);
	if ((rsa = keyops_generate_rsa(2048, 0, &err)) == NULL ||
	    (ec = keyops_generate_ec("P-256", &err)) == NULL ||
	    x509_self_sign(rsa, &p, &cert, &err) != 0)
		abort();
	return 0;
}

static void must_not_verify(const struct keyops_key *k, const char *alg, const char *tok,
			    const struct jws_parts *p)
{
	struct kl_err err = { 0 };
	bool valid = false;

	if (jws_verify_key(k, alg, tok, p, &valid, &err) == 0 && valid)
		abort();
	if (jws_verify_cert(cert.data, cert.len, alg, tok, p, &valid, &err) == 0 && valid)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const algs[] = { "RS256", "PS256", "ES256", "HS256", "none" };
	struct kl_err err = { 0 };
	struct jws_parts p;
	char *tok = malloc(size + 1);
	size_t i;

	if (tok == NULL)
		return 0;
	memcpy(tok, data, size);
	tok[size] = '\0';
	(void)identity_token_is_ours(tok, size);
	jws_parts_init(&p);
	if (jws_parse(tok, size, &p, &err) == 0) {
		const char *alg = json_string_value(json_object_get(p.header, "alg"));

		if (p.header == NULL || p.claims == NULL || p.signing_input_len >= size)
			abort();
		if (alg != NULL) {
			must_not_verify(rsa, alg, tok, &p);
			must_not_verify(ec, alg, tok, &p);
		}
		for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
			must_not_verify(rsa, algs[i], tok, &p);
			must_not_verify(ec, algs[i], tok, &p);
		}
	} else if (err.code != KL_EINVAL) {
		abort();
	}
	jws_parts_clear(&p);
	free(tok);
	return 0;
}
