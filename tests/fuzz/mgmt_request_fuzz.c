/* libFuzzer target: the bodies of the management plane and the administration API (vault create
 * and update, access policies, name checks, principals, tokens, role assignments) through
 * api_begin and api_dispatch (api_drive.h) on a real deployment. The first input byte picks the
 * operation; the rest is the body. Every input must get an answer below 500, and the vault the
 * operations change must still read back afterwards: nothing stored is left unreadable. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "api_drive.h"
#include "fixture.h"
#include "util/json.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RG "/subscriptions/sub-1/resourceGroups/rg/providers/Microsoft.KeyVault"

static struct fixture_dir dir;
static struct vault_core *core;
static struct api_ctx *api;
static char bearer[160];

static const struct {
	const char *method, *path;
} ops[] = {
	{ "PUT", RG "/vaults/fuzzv" },
	{ "PATCH", RG "/vaults/fuzzv" },
	{ "PUT", RG "/vaults/fuzzv/accessPolicies/add" },
	{ "PUT", RG "/vaults/fuzzv/accessPolicies/replace" },
	{ "PUT", RG "/vaults/fuzzv/accessPolicies/remove" },
	{ "POST", "/subscriptions/sub-1/providers/Microsoft.KeyVault/checkNameAvailability" },
	{ "POST", "/kluis/v1/principals" },
	{ "POST", "/kluis/v1/principals/fuzz-app/tokens" },
	{ "POST", "/kluis/v1/roleAssignments" },
};

static int call(const char *method, const char *path, const char *version, const uint8_t *body,
		size_t len)
{
	const struct api_drive_req d = { .method = method, .host = "localhost:8443", .path = path,
					 .api_version = version, .authorization = bearer,
					 .body = body, .body_len = len };
	struct kl_err err = { 0 };
	int status = api_drive_status(api, &d, NULL, &err);

	if (status < 0)
		abort();
	return status;
}

static void cleanup(void)
{
	api_ctx_free(api);
	vault_core_close(core);
	fixture_dir_remove(&dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char vault[] = "{\"location\":\"here\",\"properties\":{\"tenantId\":\"t\","
				    "\"sku\":{\"family\":\"A\",\"name\":\"standard\"}}}";
	static const char app[] = "{\"name\":\"fuzz-app\"}";
	struct api_config cfg = { .dns_suffix = "vault.localhost", .default_vault = "default" };
	struct kl_err err = { 0 };
	char token[128];

	(void)argc;
	(void)argv;
	json_util_init();
	if (fixture_dir_make(&dir) != 0 || (core = fixture_core_open(&dir, 90, &err)) == NULL ||
	    (api = api_ctx_new(&cfg, core, &err)) == NULL ||
	    fixture_admin_token(&dir, token, sizeof(token)) != 0)
		abort();
	snprintf(bearer, sizeof(bearer), "Bearer %s", token);
	atexit(cleanup);
	if (call("PUT", RG "/vaults/fuzzv", "2026-02-01", (const uint8_t *)vault, strlen(vault)) != 201 ||
	    call("POST", "/kluis/v1/principals", NULL, (const uint8_t *)app, strlen(app)) != 201)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t i;
	int status;

	if (size < 1)
		return 0;
	i = data[0] % (sizeof(ops) / sizeof(ops[0]));
	status = call(ops[i].method, ops[i].path, strncmp(ops[i].path, "/kluis/", 7) ? "2022-07-01" : NULL,
		      data + 1, size - 1);
	if (status < 200 || status >= 500)
		abort();	/* every input gets an answer, and never a server error */
	if (call("GET", RG "/vaults/fuzzv", "2026-02-01", NULL, 0) != 200 ||
	    call("GET", "/kluis/v1/principals/fuzz-app", NULL, NULL, 0) != 200)
		abort();	/* what was stored still reads back */
	return 0;
}
