/* libFuzzer target: JWK import as an import request delivers it (the "key" member of the body):
 * json_util_parse, jwk_from_json, keyops_from_jwk. A key that comes out must give its public JWK
 * and survive serialisation; a JWK that does not must be refused as the client's fault (400),
 * never as a server error, and must leave nothing in the struct jwk. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/keyops.h"
#include "util/json.h"
#include "util/jwk.h"
#include "util/log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	json_util_init();
	log_set_min_level(LOG_LV_ERROR);	/* a logged error is an OpenSSL surprise: keep it */
	return 0;
}

/* What a key that was accepted must also do. */
static void exercise(const struct keyops_key *k)
{
	struct kl_err err = { 0 };
	struct keyops_key *back = NULL;
	struct jwk pub;
	struct buf der;
	json_t *v = NULL;

	jwk_init(&pub);
	buf_init_secret(&der, 16384);
	if (keyops_public_jwk(k, &pub, &err) != 0 || (v = jwk_public_json(&pub, "kid")) == NULL ||
	    keyops_serialize(k, &der, &err) != 0 ||
	    (back = keyops_deserialize(keyops_type(k), der.data, der.len, &err)) == NULL ||
	    keyops_bits(back) != keyops_bits(k)) {
		fprintf(stderr, "accepted key fails: %s\n", err.msg);
		abort();
	}
	keyops_free(back);
	json_decref(v);
	buf_clear(&der);
	jwk_clear(&pub);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kl_err err = { 0 };
	struct keyops_key *k = NULL;
	struct jwk j;
	json_t *v;

	jwk_init(&j);
	if ((v = json_util_parse(data, size, &err)) == NULL)
		goto out;
	if (jwk_from_json(v, &j, &err) != 0) {
		if (err.code != KL_EINVAL || j.kty[0] != '\0' || j.n.len != 0 || j.d.len != 0 ||
		    j.k.len != 0)
			abort();	/* refused, but not as the client's fault or not emptied */
		goto out;
	}
	if ((k = keyops_from_jwk(&j, &err)) == NULL) {
		if (err.code != KL_EINVAL && err.code != KL_ENOMEM) {
			fprintf(stderr, "JWK refused with %s: %s\n", kl_errc_name(err.code),
				err.msg);
			abort();
		}
		goto out;
	}
	exercise(k);
out:
	keyops_free(k);
	json_decref(v);
	jwk_clear(&j);
	return 0;
}
