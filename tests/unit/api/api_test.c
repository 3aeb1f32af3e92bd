/* api/api.c: which vault the Host header addresses, against hosts a hostile client picks. A fully
 * qualified host ("payments.vault.localhost.") named vault payments in the ids of its answers but
 * read and wrote the default vault (found while writing tests/e2e/raw/test_cross_vault.py). */
#include "api_fixture.h"

#define RG "/subscriptions/sub-1/resourceGroups/rg/providers/Microsoft.KeyVault"

/* One request; returns the status, the body in *out (NULL when empty) when out is given. */
static int call(struct api_env *e, const char *method, const char *host, const char *path,
		const char *version, const char *body, json_t **out)
{
	return api_env_call(e, method, host, path, version, body, out);
}

static int setup(void **state)
{
	struct api_env *e;

	if (api_env_setup(state, NULL, 0) != 0)
		return -1;
	e = *state;
	if (call(e, "PUT", "localhost", RG "/vaults/payments", "2026-02-01",
		 "{\"location\":\"here\",\"properties\":{\"tenantId\":\"t\",\"sku\":{\"family\":"
		 "\"A\",\"name\":\"standard\"}}}", NULL) != 201 ||
	    call(e, "PUT", "payments.vault.localhost", "/secrets/s", "7.6",
		 "{\"value\":\"of payments\"}", NULL) != 200 ||
	    call(e, "PUT", "default.vault.localhost", "/secrets/s", "7.6",
		 "{\"value\":\"of default\"}", NULL) != 200)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	return api_env_teardown(state);
}

/* The value of secret s read through host, or NULL when the read is not a 200. */
static char *value_through(struct api_env *e, const char *host)
{
	json_t *j = NULL;
	char *v = NULL;

	if (call(e, "GET", host, "/secrets/s", "7.6", NULL, &j) == 200)
		v = strdup(json_string_value(json_object_get(j, "value")));
	json_decref(j);
	return v;
}

static void expect_secret(struct api_env *e, const char *host, const char *want)
{
	char *v = value_through(e, host);

	assert_non_null(v);
	assert_string_equal(v, want);
	free(v);
}

static void test_fully_qualified_host_names_its_vault(void **state)
{
	struct api_env *e = *state;

	expect_secret(e, "payments.vault.localhost", "of payments");
	expect_secret(e, "payments.vault.localhost.", "of payments");
	expect_secret(e, "payments.vault.localhost.:8443", "of payments");
	expect_secret(e, "PAYMENTS.Vault.LocalHost.:8443", "of payments");
	expect_secret(e, "default.vault.localhost.", "of default");
	assert_int_equal(call(e, "GET", "nosuch.vault.localhost.", "/secrets/s", "7.6", NULL, NULL),
			 404);
	/* A write through the fully qualified name lands in the vault it names. */
	assert_int_equal(call(e, "PUT", "payments.vault.localhost.", "/secrets/s", "7.6",
			      "{\"value\":\"new of payments\"}", NULL), 200);
	expect_secret(e, "payments.vault.localhost", "new of payments");
	expect_secret(e, "default.vault.localhost", "of default");
}

static void test_hosts_outside_the_suffix_are_the_default_vault(void **state)
{
	struct api_env *e = *state;

	expect_secret(e, "localhost", "of default");
	expect_secret(e, "127.0.0.1:8443", "of default");
	expect_secret(e, "payments.vault.localhost.evil.example", "of default");
	expect_secret(e, "vault.localhost.", "of default");
	/* Never another vault through a name that only contains its host. */
	assert_int_equal(call(e, "GET", "default.payments.vault.localhost", "/secrets/s", "7.6", NULL,
			      NULL), 404);
	assert_int_equal(call(e, "GET", "payments.vault.localhost@default.vault.localhost",
			      "/secrets/s", "7.6", NULL, NULL), 400);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fully_qualified_host_names_its_vault, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_hosts_outside_the_suffix_are_the_default_vault,
						setup, teardown),
	};

	json_util_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
