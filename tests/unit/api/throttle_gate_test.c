/* api/throttle_gate: the budget of every route; requests built in memory through api_begin and
 * api_dispatch against a real deployment, with low limits and an hour-long window (so nothing
 * here depends on timing): the data plane's 429 body and Retry-After, a caller's budget and the
 * vault's, Resource Manager's 429 on the management plane and its separate budget, weighted key
 * operations, and the metrics counter of 429s. */
#include "api_fixture.h"

static int setup_with(void **state, const char *spec)
{
	struct api_config cfg = { .dns_suffix = "vault.localhost", .default_vault = "default" };
	struct throttle_config tcfg;
	struct kl_err err = { 0 };

	if (throttle_config_parse(spec, &tcfg, &err) != 0)
		return -1;
	cfg.throttle = &tcfg;
	return api_env_setup(state, &cfg, 0);
}

static int setup_data(void **state)
{
	return setup_with(state, "window=3600,secrets=3,principal.secrets=2");
}

static int setup_mgmt(void **state)
{
	return setup_with(state, "window=3600,mgmt-read=3,principal.mgmt-read=2,keys=1");
}

static int setup_keys(void **state)
{
	return setup_with(state, "window=3600,keys=10");
}

static int teardown(void **state)
{
	return api_env_teardown(state);
}

struct result {
	int status;
	json_t *body;
	char text[65536];	/* the body as sent, cut */
	char retry_after[16];
};

static void result_clear(struct result *r)
{
	json_decref(r->body);
	memset(r, 0, sizeof(*r));
}

/* One request, answered and then counted (api_req_done) as http/ does. */
static void send_req(struct api_env *e, const char *method, const char *host, const char *path,
		     const char *query, const char *authz, const char *body, struct result *out)
{
	const struct api_drive_req d = { .method = method, .host = host, .path = path,
					 .query = query, .authorization = authz, .body = body,
					 .body_len = api_drive_len(body) };
	struct api_resp resp;

	memset(out, 0, sizeof(*out));
	api_env_drive(e, &d, &resp);
	out->status = resp.status;
	api_drive_body_copy(&resp, out->text, sizeof(out->text));
	out->body = api_drive_json(&resp);
	api_drive_header_copy(&resp, "Retry-After", out->retry_after, sizeof(out->retry_after));
	api_resp_free(&resp);
}

#define HOST "default.vault.localhost:8443"
#define ADMIN_HOST "localhost:8443"
#define V "api-version=7.6"
#define ARM_V "api-version=2023-07-01"

static const char *err_member(const struct result *r, const char *member)
{
	return json_string_value(json_object_get(json_object_get(r->body, "error"), member));
}

/* A 429 with the service's shape and a Retry-After of nearly the whole window. */
static void assert_throttled(const struct result *r, const char *code, const char *text)
{
	long secs;

	assert_int_equal(r->status, 429);
	assert_non_null(r->body);
	assert_string_equal(err_member(r, "code"), code);
	if (strstr(err_member(r, "message"), text) == NULL)
		fail_msg("message '%s' lacks '%s'", err_member(r, "message"), text);
	secs = strtol(r->retry_after, NULL, 10);
	assert_true(secs >= 3590 && secs <= 3600);
}

/* A principal with a role on the default vault; its "Bearer ..." into bearer. */
static void make_principal(struct api_env *e, const char *name, const char *role, char *bearer,
			   size_t n)
{
	api_env_make_principal(e, ADMIN_HOST, name, role, bearer, n);
}

static void test_every_route_draws_on_a_budget(void **state)
{
	static const struct {
		const char *method, *op;
		enum throttle_budget b;
	} expect[] = {
		{ "GET", "Health", THROTTLE_NONE }, { "GET", "GetMetrics", THROTTLE_NONE },
		{ "PUT", "SetSecret", THROTTLE_SECRET_CREATE },
		{ "PATCH", "UpdateSecret", THROTTLE_SECRETS },
		{ "POST", "RestoreSecret", THROTTLE_SECRET_CREATE },
		{ "GET", "GetSecret", THROTTLE_SECRETS }, { "GET", "GetSecrets", THROTTLE_SECRETS },
		{ "DELETE", "PurgeDeletedSecret", THROTTLE_SECRETS },
		{ "POST", "CreateKey", THROTTLE_KEY_CREATE },
		{ "PUT", "ImportKey", THROTTLE_KEY_CREATE },
		{ "POST", "RotateKey", THROTTLE_KEY_CREATE },
		{ "POST", "RestoreKey", THROTTLE_KEY_CREATE },
		{ "GET", "GetKey", THROTTLE_KEYS }, { "POST", "Sign", THROTTLE_KEYS },
		{ "POST", "UnwrapKey", THROTTLE_KEYS }, { "GET", "GetKeys", THROTTLE_KEYS },
		{ "POST", "GetRandomBytes", THROTTLE_KEYS },
		{ "GET", "VaultsGet", THROTTLE_MGMT_READ },
		{ "POST", "VaultsCheckNameAvailability", THROTTLE_MGMT_READ },
		{ "PUT", "VaultsCreateOrUpdate", THROTTLE_MGMT_WRITE },
		{ "DELETE", "VaultsDelete", THROTTLE_MGMT_WRITE },
		{ "GET", "GetDeployment", THROTTLE_MGMT_READ },
		{ "POST", "CreatePrincipal", THROTTLE_MGMT_WRITE },
	};
	const struct route *t;
	size_t n, i, j, found = 0;

	(void)state;
	t = routes_table(&n);
	for (i = 0; i < n; i++) {
		enum throttle_budget b = throttle_gate_budget(&t[i]);

		/* only the unauthenticated probes are never throttled */
		assert_true((b == THROTTLE_NONE) == (route_plane_of(&t[i]) == PLANE_PUBLIC));
		for (j = 0; j < sizeof(expect) / sizeof(expect[0]); j++)
			if (strcmp(t[i].op, expect[j].op) == 0 &&
			    strcmp(t[i].method, expect[j].method) == 0) {
				if (b != expect[j].b)
					fail_msg("%s %s: budget %s", t[i].method, t[i].op,
						 throttle_budget_name(b));
				found++;
			}
	}
	assert_true(found >= sizeof(expect) / sizeof(expect[0]));
}

static void test_data_plane_caller_then_vault(void **state)
{
	struct api_env *e = *state;
	char reader[256];
	struct result r;
	int i;

	make_principal(e, "reader-app", "Key Vault Secrets User", reader, sizeof(reader));
	/* the admin's two, then its own budget is spent */
	for (i = 0; i < 2; i++) {
		send_req(e, "GET", HOST, "/secrets", V, e->bearer, NULL, &r);
		assert_int_equal(r.status, 200);
		assert_string_equal(r.retry_after, "");
		result_clear(&r);
	}
	send_req(e, "GET", HOST, "/secrets", V, e->bearer, NULL, &r);
	assert_throttled(&r, "Throttled", "Request was not processed because too many requests were "
			 "received. Reason: PrincipalRequestTypeLimitReached");
	assert_null(json_object_get(json_object_get(r.body, "error"), "innererror"));
	result_clear(&r);
	/* the vault had 3: one left for the other caller, then the vault's budget is spent */
	send_req(e, "GET", HOST, "/secrets", V, reader, NULL, &r);
	assert_int_equal(r.status, 200);
	result_clear(&r);
	send_req(e, "GET", HOST, "/secrets", V, reader, NULL, &r);
	assert_throttled(&r, "Throttled", "Reason: VaultRequestTypeLimitReached");
	assert_string_equal(r.text, "{\"error\":{\"code\":\"Throttled\",\"message\":\"Request was not "
			    "processed because too many requests were received. Reason: "
			    "VaultRequestTypeLimitReached\"}}");
	result_clear(&r);
	/* other budgets, unauthenticated requests and probes are not affected */
	send_req(e, "PUT", HOST, "/secrets/s1", V, e->bearer, "{\"value\":\"v\"}", &r);
	assert_int_equal(r.status, 200);
	result_clear(&r);
	send_req(e, "GET", HOST, "/secrets", V, NULL, NULL, &r);
	assert_int_equal(r.status, 401);
	result_clear(&r);
	for (i = 0; i < 5; i++) {
		send_req(e, "GET", HOST, "/health", NULL, NULL, NULL, &r);
		assert_int_equal(r.status, 200);
		result_clear(&r);
	}
	/* every 429 is counted */
	send_req(e, "GET", HOST, "/metrics", NULL, NULL, NULL, &r);
	assert_non_null(strstr(r.text, "\nkluis_throttled_requests_total 2\n"));
	assert_non_null(strstr(r.text, "\nkluis_throttle_evictions_total 0\n"));
	result_clear(&r);
}

static void test_management_plane_shape_and_budget(void **state)
{
	struct api_env *e = *state;
	struct result r;
	char other[256];
	int i;

	make_principal(e, "ops", "Key Vault Reader", other, sizeof(other));
	send_req(e, "POST", ADMIN_HOST, "/kluis/v1/roleAssignments", NULL, e->bearer,
		 "{\"principal\":\"ops\",\"role\":\"Kluis Administrator\"}", &r);
	assert_int_equal(r.status, 201);
	result_clear(&r);
	for (i = 0; i < 2; i++) {
		send_req(e, "GET", ADMIN_HOST, "/subscriptions/sub-1/providers/Microsoft.KeyVault/vaults",
			 ARM_V, e->bearer, NULL, &r);
		assert_int_equal(r.status, 200);
		result_clear(&r);
	}
	send_req(e, "GET", ADMIN_HOST, "/subscriptions/sub-1/providers/Microsoft.KeyVault/vaults",
		 ARM_V, e->bearer, NULL, &r);
	assert_throttled(&r, "ResourceRequestsThrottled", "Number of 'read' requests of the caller "
			 "'admin' exceeded the limit of '2' for time interval '01:00:00'. Please try "
			 "again after '");
	result_clear(&r);
	/* the administration API shares the management plane's budgets */
	send_req(e, "GET", ADMIN_HOST, "/kluis/v1/deployment", NULL, e->bearer, NULL, &r);
	assert_throttled(&r, "Throttled", "Reason: PrincipalRequestTypeLimitReached");
	result_clear(&r);
	/* another caller gets what is left of the deployment's 3 */
	send_req(e, "GET", ADMIN_HOST, "/kluis/v1/deployment", NULL, other, NULL, &r);
	assert_int_equal(r.status, 200);
	result_clear(&r);
	send_req(e, "GET", ADMIN_HOST, "/subscriptions/sub-1/providers/Microsoft.KeyVault/vaults",
		 ARM_V, other, NULL, &r);
	assert_throttled(&r, "ResourceRequestsThrottled", "Number of 'read' requests to this "
			 "deployment exceeded the limit of '3'");
	result_clear(&r);
	send_req(e, "GET", ADMIN_HOST, "/kluis/v1/principals", NULL, other, NULL, &r);
	assert_throttled(&r, "Throttled", "Reason: DeploymentRequestTypeLimitReached");
	result_clear(&r);
	/* writes have their own budget, and the data plane its own */
	send_req(e, "POST", ADMIN_HOST, "/kluis/v1/principals", NULL, e->bearer, "{\"name\":\"w\"}",
		 &r);
	assert_int_equal(r.status, 201);
	result_clear(&r);
	send_req(e, "GET", HOST, "/keys", V, e->bearer, NULL, &r);
	assert_int_equal(r.status, 200);
	result_clear(&r);
	send_req(e, "GET", HOST, "/keys", V, e->bearer, NULL, &r);
	assert_throttled(&r, "Throttled", "Reason: VaultRequestTypeLimitReached");
	result_clear(&r);
}

static void test_key_operations_are_weighted(void **state)
{
	struct api_env *e = *state;
	struct result r;

	/* creation draws on key-create, not keys */
	send_req(e, "POST", HOST, "/keys/ec/create", V, e->bearer, "{\"kty\":\"EC\"}", &r);
	assert_int_equal(r.status, 200);
	result_clear(&r);
	send_req(e, "POST", HOST, "/keys/rsa3k/create", V, e->bearer,
		 "{\"kty\":\"RSA\",\"key_size\":3072}", &r);
	assert_int_equal(r.status, 200);
	result_clear(&r);
	/* EC: 1 unit each; RSA-3072: 4 (Azure: 4,000 vs 1,000 per 10 s) */
	send_req(e, "GET", HOST, "/keys/ec", V, e->bearer, NULL, &r);	/* 1 */
	assert_int_equal(r.status, 200);
	result_clear(&r);
	send_req(e, "POST", HOST, "/keys/ec//sign", V, e->bearer,
		 "{\"alg\":\"ES256\",\"value\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\"}",
		 &r);	/* 2 */
	assert_int_equal(r.status, 200);
	result_clear(&r);
	send_req(e, "GET", HOST, "/keys/rsa3k", V, e->bearer, NULL, &r);	/* 6 */
	assert_int_equal(r.status, 200);
	result_clear(&r);
	send_req(e, "POST", HOST, "/keys/rsa3k//encrypt", V, e->bearer,
		 "{\"alg\":\"RSA-OAEP-256\",\"value\":\"aGVsbG8\"}", &r);	/* 10 */
	assert_int_equal(r.status, 200);
	result_clear(&r);
	send_req(e, "GET", HOST, "/keys/ec", V, e->bearer, NULL, &r);
	assert_throttled(&r, "Throttled", "Reason: VaultRequestTypeLimitReached");
	result_clear(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_route_draws_on_a_budget),
		cmocka_unit_test_setup_teardown(test_data_plane_caller_then_vault, setup_data,
						teardown),
		cmocka_unit_test_setup_teardown(test_management_plane_shape_and_budget, setup_mgmt,
						teardown),
		cmocka_unit_test_setup_teardown(test_key_operations_are_weighted, setup_keys,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
