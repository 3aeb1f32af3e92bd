/* libFuzzer target: the crypto-operation requests (encrypt, decrypt, wrapkey, unwrapkey, sign,
 * verify) as the network delivers them, through api_begin and api_dispatch (api_drive.h) to real
 * keys in a real deployment. The first input byte picks the operation and the key; the rest is
 * the body. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "api_drive.h"
#include "fixture.h"
#include "util/json.h"
#include "vault/keys.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fixture_dir dir;
static struct vault_core *core;
static struct api_ctx *api;
static char bearer[160];

static void make_key(struct vault *v, const char *name, const char *kty, unsigned bits,
		     const char *crv)
{
	struct key_spec spec = { .kty = kty, .bits = bits, .crv = crv };
	struct key_meta m;
	struct obj in, out;
	struct kl_err err = { 0 };

	key_meta_init(&m);
	obj_init(&in);
	obj_init(&out);
	in.attrs.enabled = true;
	if (key_create(v, name, &spec, &in, NULL, &out, &m, &err) != 0) {
		fprintf(stderr, "fuzz setup: %s\n", err.msg);
		abort();
	}
	obj_clear(&in);
	obj_clear(&out);
	key_meta_clear(&m);
}

static void cleanup(void)
{
	api_ctx_free(api);
	vault_core_close(core);
	fixture_dir_remove(&dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct api_config cfg = { .dns_suffix = "vault.localhost", .default_vault = "default" };
	struct kl_err err = { 0 };
	struct vault v;
	char token[128];

	(void)argc;
	(void)argv;
	json_util_init();
	if (fixture_dir_make(&dir) != 0 || (core = fixture_core_open(&dir, 90, &err)) == NULL ||
	    (api = api_ctx_new(&cfg, core, &err)) == NULL || vault_open(core, "default", &v, &err) != 0 ||
	    fixture_admin_token(&dir, token, sizeof(token)) != 0)
		abort();
	snprintf(bearer, sizeof(bearer), "Bearer %s", token);
	atexit(cleanup);
	make_key(&v, "rsa", "RSA", 2048, NULL);
	make_key(&v, "ec", "EC", 0, "P-256");
	make_key(&v, "oct", "oct", 256, NULL);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const ops[] = { "encrypt", "decrypt", "wrapkey", "unwrapkey", "sign",
					   "verify" };
	static const char *const keys[] = { "rsa", "ec", "oct" };
	struct api_drive_req d = { .method = "POST", .host = "default.vault.localhost:8443",
				   .api_version = "7.5", .authorization = bearer };
	struct kl_err err = { 0 };
	char path[64];
	int status;

	if (size < 1)
		return 0;
	snprintf(path, sizeof(path), "/keys/%s//%s", keys[(data[0] >> 4) % 3], ops[(data[0] & 15) % 6]);
	d.path = path;
	d.body = data + 1;
	d.body_len = size - 1;
	status = api_drive_status(api, &d, NULL, &err);
	if (status < 200 || status >= 500)
		abort();	/* every input gets an answer, and never a server error */
	return 0;
}
