/* The identity provider's endpoints through api_begin and api_dispatch, without sockets: the
 * route rows (last in the table, public), the OpenID configuration built from the Host header,
 * the OAuth error shape of every refusal, a token issued for a client secret and used on the data
 * plane, the App Service route, the per-address throttle's 429, and what api_req_done makes of a
 * token request (the counters of /metrics). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "api_fixture.h"
#include "vault/identity.h"

#define HOST "kv.example.test:8443"
#define FORM "application/x-www-form-urlencoded"

struct answer {
	int status;
	json_t *body;
	char error_code[64];	/* x-ms-error-code */
	char retry_after[16];
	char cache_control[32];
};

static void answer_clear(struct answer *a)
{
	json_decref(a->body);
	memset(a, 0, sizeof(*a));
}

/* One request without a bearer token, finished with api_req_done as http/ does. */
static void call(struct api_env *e, const char *method, const char *host, const char *path,
		 const char *query, const char *ctype, const char *body, const char *identity,
		 const char *client_addr, struct answer *a)
{
	const struct api_drive_req d = { .method = method, .host = host, .path = path,
					 .query = query, .content_type = ctype,
					 .identity_header = identity,
					 .client_addr = client_addr ? client_addr : "127.0.0.1:40000",
					 .body = body, .body_len = api_drive_len(body) };
	struct api_resp resp;

	memset(a, 0, sizeof(*a));
	api_env_drive(e, &d, &resp);
	a->status = resp.status;
	a->body = api_drive_json(&resp);
	api_drive_header_copy(&resp, "x-ms-error-code", a->error_code, sizeof(a->error_code));
	api_drive_header_copy(&resp, "Retry-After", a->retry_after, sizeof(a->retry_after));
	api_drive_header_copy(&resp, "Cache-Control", a->cache_control, sizeof(a->cache_control));
	api_resp_free(&resp);
}

static const char *str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	if (s == NULL)
		fail_msg("no string member %s", k);
	return s;
}

/* a is the OAuth error `error` with AADSTS code. */
static void assert_oauth(const struct answer *a, int status, const char *error, int code)
{
	json_t *codes;
	char prefix[32];

	if (a->status != status || a->body == NULL)
		fail_msg("status %d, wanted %d", a->status, status);
	assert_string_equal(str(a->body, "error"), error);
	assert_string_equal(a->error_code, error);
	codes = json_object_get(a->body, "error_codes");
	assert_int_equal(json_array_size(codes), 1);
	assert_int_equal(json_integer_value(json_array_get(codes, 0)), code);
	snprintf(prefix, sizeof(prefix), "AADSTS%d: ", code);
	assert_memory_equal(str(a->body, "error_description"), prefix, strlen(prefix));
	assert_non_null(strstr(str(a->body, "error_description"), "Trace ID: "));
	assert_int_equal(strlen(str(a->body, "timestamp")), 20);
	assert_int_equal(strlen(str(a->body, "trace_id")), 36);
	assert_true(str(a->body, "correlation_id")[0] != '\0');
	assert_string_equal(a->cache_control, "no-store");
}

static int setup(void **state)
{
	struct api_config cfg = { .dns_suffix = "vault.localhost", .default_vault = "default" };
	struct throttle_config tcfg;
	struct identity_config icfg = { .dns_suffix = "vault.localhost" };
	struct kl_err err = { 0 };
	struct api_env *e;

	assert_int_equal(throttle_config_parse("identity=40", &tcfg, &err), 0);
	cfg.throttle = &tcfg;
	if (api_env_setup(state, &cfg, 0) != 0)
		return -1;
	e = *state;
	identity_configure(e->core, &icfg);
	return identity_signing_ensure(e->core, &err) == 0 ? 0 : -1;
}

static void test_rows_are_last_and_public(void **state)
{
	const struct route *t;
	size_t n, i, first = 0;

	(void)state;
	t = routes_table(&n);
	for (i = 0; i < n; i++)
		if (route_plane_of(&t[i]) == PLANE_IDENTITY) {
			if (first == 0)
				first = i;
			assert_int_equal(t[i].cls, ROUTE_READ);	/* a read-only node issues */
		} else {
			assert_true(first == 0);	/* no identity row before another plane's */
		}
	assert_true(first > 0 && n - first == 8);
}

static void test_openid_configuration(void **state)
{
	struct api_env *e = *state;
	struct answer a;
	char want[256];

	call(e, "GET", HOST, "/adfs/.well-known/openid-configuration", NULL, NULL, NULL, NULL, NULL,
	     &a);
	assert_int_equal(a.status, 200);
	assert_string_equal(str(a.body, "issuer"), "https://" HOST "/adfs");
	assert_string_equal(str(a.body, "token_endpoint"), "https://" HOST "/adfs/oauth2/v2.0/token");
	assert_string_equal(str(a.body, "jwks_uri"), "https://" HOST "/adfs/discovery/v2.0/keys");
	assert_true(json_is_null(json_object_get(a.body, "tenant_region_scope")));
	answer_clear(&a);
	call(e, "GET", "node2:9", "/Common/v2.0/.well-known/openid-configuration", NULL, NULL, NULL,
	     NULL, NULL, &a);
	assert_int_equal(a.status, 200);
	snprintf(want, sizeof(want), "https://node2:9/%s/v2.0", vault_core_tenant(e->core));
	assert_string_equal(str(a.body, "issuer"), want);
	assert_string_equal(str(a.body, "token_endpoint"), "https://node2:9/Common/oauth2/v2.0/token");
	answer_clear(&a);
	call(e, "GET", HOST, "/contoso/v2.0/.well-known/openid-configuration", NULL, NULL, NULL, NULL,
	     NULL, &a);
	assert_oauth(&a, 400, "invalid_tenant", 90002);
	answer_clear(&a);
	call(e, "GET", NULL, "/adfs/.well-known/openid-configuration", NULL, NULL, NULL, NULL, NULL,
	     &a);	/* no Host: no URL can be built */
	assert_oauth(&a, 400, "invalid_request", 900144);
	answer_clear(&a);
	call(e, "GET", HOST, "/adfs/discovery/keys", NULL, NULL, NULL, NULL, NULL, &a);
	assert_int_equal(a.status, 200);
	assert_true(json_array_size(json_object_get(a.body, "keys")) >= 1);
	assert_string_equal(str(json_array_get(json_object_get(a.body, "keys"), 0), "alg"), "RS256");
	answer_clear(&a);
}

static void test_token_refusals(void **state)
{
	static const struct {
		const char *ctype, *body;
		int status;
		const char *error;
		int code;
	} cases[] = {
		{ NULL, "grant_type=client_credentials", 400, "invalid_request", 900144 },
		{ "application/json", "{}", 400, "invalid_request", 900144 },
		{ FORM, "client_id=x&scope=https%3A%2F%2Fvault.azure.net%2F.default", 400,
		  "invalid_request", 900144 },
		{ FORM, "grant_type=password&client_id=x", 400, "unsupported_grant_type", 70003 },
		{ FORM, "grant_type=client_credentials&client_id=x&scope=s", 401, "invalid_client",
		  7000218 },
		{ FORM, "grant_type=client_credentials&client_id=nobody&client_secret=kls1.x"
		  "&scope=https://vault.azure.net/.default", 400, "unauthorized_client", 700016 },
		{ FORM, "grant_type=client_credentials&client_id=x&client_secret=y", 400,
		  "invalid_request", 900144 },
		{ FORM, "a=%zz", 400, "invalid_request", 900144 },
		{ FORM, "a=1&a=2", 400, "invalid_request", 900144 },
		{ FORM "; charset=utf-8", "grant_type=client_credentials&client_id=x&client_secret=y"
		  "&scope=https://graph.microsoft.com/.default", 400, "invalid_scope", 500011 },
	};
	struct api_env *e = *state;
	struct answer a;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		call(e, "POST", HOST, "/adfs/oauth2/v2.0/token", NULL, cases[i].ctype, cases[i].body,
		     NULL, NULL, &a);
		assert_oauth(&a, cases[i].status, cases[i].error, cases[i].code);
		answer_clear(&a);
	}
	call(e, "POST", HOST, "/nowhere/oauth2/token", NULL, FORM, "resource=x", NULL, NULL, &a);
	assert_oauth(&a, 400, "invalid_tenant", 90002);
	answer_clear(&a);
}

/* A client secret's token, its answer, and the data plane accepting it. */
static void test_client_secret_grant(void **state)
{
	struct api_env *e = *state;
	struct identity_credential cred;
	char secret[IDENTITY_SECRET_TEXT_LEN], bearer[4096], body[512], bad[512];
	struct kl_err err = { 0 };
	struct answer a;
	struct api_drive_req d = { .method = "GET", .host = "default.vault.localhost",
				   .path = "/secrets", .api_version = "7.6" };
	json_t *j;

	assert_int_equal(api_env_admin_post(e, "localhost", "/kluis/v1/principals",
					    "{\"name\":\"billing\"}", &j), 201);
	json_decref(j);
	assert_int_equal(api_env_admin_post(e, "localhost", "/kluis/v1/roleAssignments",
					    "{\"principal\":\"billing\",\"role\":\"secrets-user\","
					    "\"vault\":\"default\"}", &j), 201);
	json_decref(j);
	assert_int_equal(identity_secret_add(e->core, "billing", "t", 0, &cred, secret, &err), 0);
	snprintf(body, sizeof(body), "grant_type=client_credentials&client_id=billing&scope=https"
		 "%%3A%%2F%%2Fvault.azure.net%%2F.default&client_secret=%s", secret);
	snprintf(bad, sizeof(bad), "%.*sx", (int)strlen(body) - 1, body);
	call(e, "POST", HOST, "/adfs/oauth2/v2.0/token", NULL, FORM, bad, NULL, NULL, &a);
	assert_oauth(&a, 401, "invalid_client", 7000215);
	assert_null(strstr(str(a.body, "error_description"), secret));
	answer_clear(&a);
	call(e, "POST", HOST, "/adfs/oauth2/v2.0/token", NULL, FORM, body, NULL, NULL, &a);
	assert_int_equal(a.status, 200);
	assert_string_equal(str(a.body, "token_type"), "Bearer");
	assert_true(json_integer_value(json_object_get(a.body, "expires_in")) > 3000);
	assert_string_equal(a.cache_control, "no-store");
	snprintf(bearer, sizeof(bearer), "Bearer %s", str(a.body, "access_token"));
	d.authorization = bearer;
	assert_int_equal(api_env_send(e, &d, NULL), 200);
	answer_clear(&a);
	secure_wipe(secret, sizeof(secret));
}

static void test_msi_route(void **state)
{
	struct api_env *e = *state;
	struct answer a;

	call(e, "GET", HOST, "/msi/token", "api-version=2019-08-01&resource=https://vault.azure.net",
	     NULL, NULL, NULL, NULL, &a);
	assert_oauth(&a, 401, "invalid_client", 7000218);
	answer_clear(&a);
	call(e, "GET", HOST, "/msi/token", "api-version=2019-08-01&resource=https://vault.azure.net",
	     NULL, NULL, e->token, NULL, &a);	/* never the admin token */
	assert_oauth(&a, 401, "invalid_client", 7000215);
	answer_clear(&a);
}

/* The per-address budget (identity=40): a 41st request from one address is a 429 in OAuth's
 * shape; another address still gets through. */
static void test_throttle_per_address(void **state)
{
	struct api_env *e = *state;
	struct answer a;
	int i;

	for (i = 0; i < 40; i++) {
		call(e, "GET", HOST, "/adfs/.well-known/openid-configuration", NULL, NULL, NULL, NULL,
		     "[2001:db8::7]:1234", &a);
		assert_int_equal(a.status, 200);
		answer_clear(&a);
	}
	call(e, "POST", HOST, "/adfs/oauth2/v2.0/token", NULL, FORM, "x=1", NULL,
	     "[2001:db8::7]:999", &a);
	assert_oauth(&a, 429, "temporarily_unavailable", 50196);
	assert_true(atoi(a.retry_after) >= 1);
	answer_clear(&a);
	call(e, "GET", HOST, "/adfs/.well-known/openid-configuration", NULL, NULL, NULL, NULL,
	     "10.1.2.3:5", &a);
	assert_int_equal(a.status, 200);
	answer_clear(&a);
}

static void test_metrics_count_tokens(void **state)
{
	struct api_env *e = *state;
	const struct api_drive_req d = { .method = "GET", .host = HOST, .path = "/metrics" };
	struct api_resp resp;
	const char *text;

	api_env_drive(e, &d, &resp);
	assert_int_equal(resp.status, 200);
	assert_int_equal(buf_putc(&resp.body, '\0', &(struct kl_err){ 0 }), 0);
	text = (const char *)resp.body.data;
	/* the earlier tests of this group: one issued, refusals of each kind */
	assert_non_null(strstr(text, "kluis_identity_tokens_total{grant=\"client_secret\","
				     "outcome=\"issued\"} 1\n"));
	assert_non_null(strstr(text, "kluis_identity_tokens_total{grant=\"managed_identity\","
				     "outcome=\"refused\"} 2\n"));
	assert_non_null(strstr(text, "kluis_identity_tokens_total{grant=\"federated\","
				     "outcome=\"issued\"} 0\n"));
	assert_non_null(strstr(text, "kluis_request_duration_seconds_count{class=\"identity\"}"));
	api_resp_free(&resp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows_are_last_and_public),
		cmocka_unit_test(test_openid_configuration),
		cmocka_unit_test(test_token_refusals),
		cmocka_unit_test(test_client_secret_grant),
		cmocka_unit_test(test_msi_route),
		cmocka_unit_test(test_throttle_per_address),
		cmocka_unit_test(test_metrics_count_tokens),
	};

	return cmocka_run_group_tests(tests, setup, api_env_teardown);
}
