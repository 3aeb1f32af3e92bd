/* libFuzzer target: bearer tokens that look like OpenID JWTs, verified against a key set of one
 * RSA and one EC key. Any input must be refused or accepted without a crash; since the fuzzer
 * cannot sign, every input must be refused. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/jwt.h"
#include "crypto/keyops.h"
#include "util/json.h"
#include "util/jwk.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct jwt_keyset *keys;

static json_t *public_jwk(struct keyops_key *k, const char *kid)
{
	struct kl_err err = { 0 };
	struct jwk j;
	json_t *o;

	jwk_init(&j);
	if (keyops_public_jwk(k, &j, &err) != 0)
		abort();
	o = jwk_public_json(&j, NULL);
	json_object_set_new(o, "kid", json_string(kid));
	jwk_clear(&j);
	keyops_free(k);
	return o;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[] = "/tmp/kluis-jwt-fuzz-XXXXXX";
	struct kl_err err = { 0 };
	json_t *doc;
	int fd;

	(void)argc;
	(void)argv;
	json_util_init();
	doc = json_pack("{s:[o, o]}", "keys",
			public_jwk(keyops_generate_rsa(2048, 0, &err), "rsa-1"),
			public_jwk(keyops_generate_ec("P-256", &err), "ec-1"));
	if (doc == NULL || (fd = mkstemp(path)) < 0 || json_dumpfd(doc, fd, 0) != 0)
		abort();
	close(fd);
	json_decref(doc);
	keys = jwt_keyset_load(path, &err);
	unlink(path);
	if (keys == NULL || jwt_keyset_size(keys) != 2)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kl_err err = { 0 };
	char sub[JWT_SUB_MAX + 1];

	if (jwt_verify(keys, (const char *)data, size, "iss", "aud", 1700000000, sub, NULL, &err) == 0)
		abort();	/* nothing unsigned gets through */
	if (err.code != KL_EUNAUTH)
		abort();
	return 0;
}
