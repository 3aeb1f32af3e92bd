/* api/mgmt/arm_metadata.c: the cloud metadata document az reads at `az cloud register`, and the
 * subscriptions az lists at `az login`: which ones a caller sees, and their shape. */
#include "api_fixture.h"

#define RG(sub) "/subscriptions/" sub "/resourceGroups/rg/providers/Microsoft.KeyVault"
#define NEW_VAULT "{\"location\":\"here\",\"properties\":{\"tenantId\":\"t\",\"sku\":{\"family\":" \
		  "\"A\",\"name\":\"standard\"}}}"

struct env {
	struct api_env api;
	char bearer_app[256];	/* a principal with a role on vault payments only */
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	json_t *j = NULL;
	char body[256];

	if (e == NULL || api_env_open(&e->api, NULL, 0) != 0)
		return -1;
	*state = e;
	if (api_env_call(&e->api, "PUT", "localhost", RG("Sub-Pay") "/vaults/payments",
			 "2026-02-01", NEW_VAULT, NULL) != 201 ||
	    api_env_call(&e->api, "PUT", "localhost", RG("sub-hr") "/vaults/people", "2026-02-01",
			 NEW_VAULT, NULL) != 201 ||
	    api_env_admin_post(&e->api, "localhost", "/kluis/v1/principals", "{\"name\":\"app\"}",
			       &j) != 201)
		return -1;
	snprintf(e->bearer_app, sizeof(e->bearer_app), "Bearer %s",
		 json_string_value(json_object_get(j, "token")));
	json_decref(j);
	snprintf(body, sizeof(body), "{\"principal\":\"app\",\"role\":\"secrets-user\","
		 "\"vault\":\"payments\"}");
	if (api_env_admin_post(&e->api, "localhost", "/kluis/v1/roleAssignments", body, &j) != 201)
		return -1;
	json_decref(j);
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	api_env_close(&e->api);
	free(e);
	return 0;
}

/* One request with authz (NULL: none) and query; the status, the body in *out (NULL if empty). */
static int get(struct env *e, const char *host, const char *path, const char *query,
	       const char *authz, json_t **out)
{
	const struct api_drive_req d = { .method = "GET", .host = host, .path = path,
					 .query = query, .authorization = authz };

	return api_env_send(&e->api, &d, out);
}

/* The member at a dotted path ("authentication.loginEndpoint"), or NULL. */
static json_t *at(const json_t *j, const char *path)
{
	char buf[128], *save = NULL, *part;
	json_t *v = (json_t *)j;

	snprintf(buf, sizeof(buf), "%s", path);
	for (part = strtok_r(buf, ".", &save); part && v; part = strtok_r(NULL, ".", &save))
		v = json_object_get(v, part);
	return v;
}

static const char *str(const json_t *j, const char *path)
{
	return json_string_value(at(j, path));
}

static void test_metadata_is_public_and_names_the_host(void **state)
{
	struct env *e = *state;
	json_t *j, *aud;

	assert_int_equal(get(e, "localhost:8443", "/metadata/endpoints", "api-version=2015-01-01",
			     NULL, &j), 200);
	assert_string_equal(str(j, "authentication.loginEndpoint"), "https://localhost:8443/adfs");
	aud = at(j, "authentication.audiences");
	assert_int_equal(json_array_size(aud), 2);
	assert_string_equal(json_string_value(json_array_get(aud, 0)),
			    "https://management.core.windows.net/");
	assert_string_equal(json_string_value(json_array_get(aud, 1)),
			    "https://management.azure.com/");
	assert_string_equal(str(j, "graphEndpoint"), "");
	json_decref(j);

	/* another node, another name: never a configured one */
	assert_int_equal(get(e, "kluis2.example:9443", "/metadata/endpoints",
			     "api-version=2015-01-01", NULL, &j), 200);
	assert_string_equal(str(j, "authentication.loginEndpoint"),
			    "https://kluis2.example:9443/adfs");
	json_decref(j);

	/* the path az asks for when the resource manager URL ends in '/' */
	assert_int_equal(get(e, "localhost:8443", "//metadata/endpoints", "api-version=2015-01-01",
			     NULL, &j), 200);
	assert_string_equal(str(j, "authentication.loginEndpoint"), "https://localhost:8443/adfs");
	json_decref(j);
}

static void test_metadata_cloud_list_form(void **state)
{
	struct env *e = *state;
	json_t *j, *cloud;

	assert_int_equal(get(e, "localhost:8443", "/metadata/endpoints", "api-version=2022-09-01",
			     NULL, &j), 200);
	assert_true(json_is_array(j) && json_array_size(j) == 1);
	cloud = json_array_get(j, 0);
	assert_string_equal(str(cloud, "name"), "kluis");
	assert_string_equal(str(cloud, "resourceManager"), "https://localhost:8443/");
	assert_string_equal(str(cloud, "suffixes.keyVaultDns"), "vault.localhost:8443");
	assert_string_equal(str(cloud, "authentication.tenant"), vault_core_tenant(e->api.core));
	json_decref(j);

	/* port 443 is left out, as a vault URL leaves it out */
	assert_int_equal(get(e, "localhost:443", "/metadata/endpoints", "api-version=2019-05-01",
			     NULL, &j), 200);
	assert_string_equal(str(json_array_get(j, 0), "suffixes.keyVaultDns"), "vault.localhost");
	json_decref(j);
}

static void test_metadata_needs_api_version(void **state)
{
	struct env *e = *state;
	json_t *j;

	assert_int_equal(get(e, "localhost", "/metadata/endpoints", NULL, NULL, &j), 400);
	assert_string_equal(str(j, "error.code"), "MissingApiVersionParameter");
	json_decref(j);
}

/* The subscription ids of a list answer, in order, joined by ','. */
static void ids(const json_t *list, char *out, size_t n)
{
	const json_t *s;
	size_t i, len = 0;

	out[0] = '\0';
	json_array_foreach(json_object_get(list, "value"), i, s)
		len += (size_t)snprintf(out + len, n - len, "%s%s", i ? "," : "",
					str(s, "subscriptionId"));
}

static void test_admin_sees_every_subscription(void **state)
{
	struct env *e = *state;
	const char *tenant = vault_core_tenant(e->api.core);
	char want[256], got[256];
	json_t *j, *first;

	assert_int_equal(get(e, "localhost", "/subscriptions", "api-version=2019-11-01",
			     e->api.bearer, &j), 200);
	ids(j, got, sizeof(got));
	/* sorted by lowercase label (a tenant id is lowercase hex); the deployment's own always */
	if (strcmp(tenant, "sub-hr") < 0)
		snprintf(want, sizeof(want), "%s,sub-hr,Sub-Pay", tenant);
	else
		snprintf(want, sizeof(want), "sub-hr,Sub-Pay,%s", tenant);
	assert_string_equal(got, want);
	assert_int_equal(json_integer_value(at(j, "count.value")), 3);
	first = json_array_get(json_object_get(j, "value"), 0);
	assert_string_equal(str(first, "state"), "Enabled");
	assert_string_equal(str(first, "tenantId"), tenant);
	assert_non_null(strstr(str(first, "id"), "/subscriptions/"));
	json_decref(j);
}

static void test_principal_sees_only_its_vaults_subscriptions(void **state)
{
	struct env *e = *state;
	const char *tenant = vault_core_tenant(e->api.core);
	char got[256];
	json_t *j;

	assert_int_equal(get(e, "localhost", "/subscriptions", "api-version=2019-11-01",
			     e->bearer_app, &j), 200);
	ids(j, got, sizeof(got));
	assert_non_null(strstr(got, "Sub-Pay"));
	assert_non_null(strstr(got, tenant));
	assert_null(strstr(got, "sub-hr"));
	json_decref(j);

	assert_int_equal(get(e, "localhost", "/subscriptions/sub-pay", "api-version=2019-11-01",
			     e->bearer_app, &j), 200);
	assert_string_equal(str(j, "subscriptionId"), "Sub-Pay");
	assert_string_equal(str(j, "displayName"), "Sub-Pay");
	json_decref(j);
	assert_int_equal(get(e, "localhost", "/subscriptions/sub-hr", "api-version=2019-11-01",
			     e->bearer_app, &j), 404);
	assert_string_equal(str(j, "error.code"), "SubscriptionNotFound");
	json_decref(j);
	assert_int_equal(get(e, "localhost", "/subscriptions/bad!label", "api-version=2019-11-01",
			     e->bearer_app, &j), 400);
	assert_string_equal(str(j, "error.code"), "InvalidSubscriptionId");
	json_decref(j);
}

static void test_subscriptions_need_a_token_and_version(void **state)
{
	struct env *e = *state;
	json_t *j;

	assert_int_equal(get(e, "localhost", "/subscriptions", "api-version=2019-11-01", NULL, &j),
			 401);
	assert_string_equal(str(j, "error.code"), "InvalidAuthenticationToken");
	json_decref(j);
	assert_int_equal(get(e, "localhost", "/subscriptions", NULL, e->api.bearer, &j), 400);
	assert_string_equal(str(j, "error.code"), "MissingApiVersionParameter");
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_metadata_is_public_and_names_the_host),
		cmocka_unit_test(test_metadata_cloud_list_form),
		cmocka_unit_test(test_metadata_needs_api_version),
		cmocka_unit_test(test_admin_sees_every_subscription),
		cmocka_unit_test(test_principal_sees_only_its_vaults_subscriptions),
		cmocka_unit_test(test_subscriptions_need_a_token_and_version),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
