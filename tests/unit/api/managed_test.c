/* The keys and secrets routes on a certificate's managed key and secret, through api_dispatch:
 * writes answer 403 Forbidden with the innererror the SDKs see, reads answer, and the deleted
 * lists leave the managed objects out while the deleted objects answer by name. */
#include "api_fixture.h"
#include "certfixture.h"
#include "vault/certlife.h"

#define HOST "default.vault.localhost"

struct env {
	struct api_env a;
	struct vault v;
	char ver[33];
};

/* One request; returns the status and the body in *out (NULL when empty) when out is given. */
static int call(struct env *e, const char *method, const char *path, const char *body,
		json_t **out)
{
	return api_env_call(&e->a, method, HOST, path, "7.6", body, out);
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	struct kl_err err = { 0 };

	if (e == NULL || api_env_open(&e->a, NULL, 0) != 0 ||
	    vault_open(e->a.core, "default", &e->v, &err) != 0)
		return -1;
	*state = e;
	certfix_version(&e->v, "web", false, e->ver);
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	api_env_close(&e->a);
	free(e);
	return 0;
}

/* method path (body) answers 403 Forbidden / inner / the managed message with op. */
static void expect_refused(struct env *e, const char *method, const char *path, const char *body,
			   const char *inner, const char *op)
{
	char msg[192];
	json_t *j = NULL, *err;

	snprintf(msg, sizeof(msg), "Operation \"%s\" is not allowed as this object's lifetime is "
		 "managed by Key Vault.", op);
	assert_int_equal(call(e, method, path, body, &j), 403);
	assert_non_null(j);
	err = json_object_get(j, "error");
	assert_string_equal(json_string_value(json_object_get(err, "code")), "Forbidden");
	assert_string_equal(json_string_value(json_object_get(err, "message")), msg);
	assert_string_equal(json_string_value(json_object_get(json_object_get(err, "innererror"),
							      "code")), inner);
	json_decref(j);
}

static void test_secret_writes_answer_403(void **state)
{
	struct env *e = *state;
	char path[128];
	json_t *j = NULL;

	expect_refused(e, "PUT", "/secrets/web", "{\"value\":\"mine\"}", "SecretManagedByKeyVault",
		       "set");
	expect_refused(e, "PATCH", "/secrets/web", "{\"attributes\":{\"enabled\":false}}",
		       "SecretManagedByKeyVault", "update");
	snprintf(path, sizeof(path), "/secrets/web/%s", e->ver);
	expect_refused(e, "PATCH", path, "{\"tags\":{\"a\":\"b\"}}", "SecretManagedByKeyVault",
		       "update");
	expect_refused(e, "DELETE", "/secrets/web", NULL, "SecretManagedByKeyVault", "delete");
	expect_refused(e, "POST", "/secrets/web/backup", NULL, "SecretManagedByKeyVault", "backup");
	/* reads still answer, with the value */
	assert_int_equal(call(e, "GET", path, NULL, &j), 200);
	assert_true(json_is_true(json_object_get(j, "managed")));
	assert_non_null(strstr(json_string_value(json_object_get(j, "value")), "pfx web"));
	json_decref(j);
}

static void test_key_writes_answer_403(void **state)
{
	struct env *e = *state;
	json_t *j = NULL;

	expect_refused(e, "POST", "/keys/web/create", "{\"kty\":\"EC\"}", "KeyManagedByKeyVault",
		       "create");
	expect_refused(e, "PUT", "/keys/web", "{\"key\":{\"kty\":\"oct\",\"k\":"
		       "\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY\"}}", "KeyManagedByKeyVault",
		       "import");
	expect_refused(e, "PATCH", "/keys/web", "{\"attributes\":{\"enabled\":false}}",
		       "KeyManagedByKeyVault", "update");
	expect_refused(e, "DELETE", "/keys/web", NULL, "KeyManagedByKeyVault", "delete");
	expect_refused(e, "POST", "/keys/web/rotate", NULL, "KeyManagedByKeyVault", "rotate");
	expect_refused(e, "PUT", "/keys/web/rotationpolicy", "{\"attributes\":{}}",
		       "KeyManagedByKeyVault", "setrotationpolicy");
	expect_refused(e, "POST", "/keys/web/release", "{\"target\":\"x\"}", "KeyManagedByKeyVault",
		       "release");
	expect_refused(e, "POST", "/keys/web/backup", NULL, "KeyManagedByKeyVault", "backup");
	assert_int_equal(call(e, "GET", "/keys/web", NULL, &j), 200);
	assert_true(json_is_true(json_object_get(j, "managed")));
	json_decref(j);
}

static void test_deleted_lists_omit_managed(void **state)
{
	struct env *e = *state;
	struct kl_err err = { 0 };
	struct obj o;
	json_t *j = NULL;

	obj_init(&o);
	assert_int_equal(call(e, "PUT", "/secrets/other", "{\"value\":\"v\"}", NULL), 200);
	assert_int_equal(call(e, "DELETE", "/secrets/other", NULL, NULL), 200);
	assert_int_equal(cert_delete(&e->v, "web", &o, &err), 0);
	obj_clear(&o);
	assert_int_equal(call(e, "GET", "/deletedsecrets", NULL, &j), 200);
	assert_int_equal(json_array_size(json_object_get(j, "value")), 1);
	assert_non_null(strstr(json_string_value(json_object_get(
				       json_array_get(json_object_get(j, "value"), 0), "id")),
			       "/secrets/other"));
	json_decref(j);
	assert_int_equal(call(e, "GET", "/deletedkeys", NULL, &j), 200);
	assert_int_equal(json_array_size(json_object_get(j, "value")), 0);
	json_decref(j);
	assert_int_equal(call(e, "GET", "/deletedsecrets/web", NULL, &j), 200);
	assert_true(json_is_true(json_object_get(j, "managed")));
	json_decref(j);
	assert_int_equal(call(e, "GET", "/deletedkeys/web", NULL, NULL), 200);
	expect_refused(e, "POST", "/deletedsecrets/web/recover", NULL, "SecretManagedByKeyVault",
		       "recover");
	expect_refused(e, "DELETE", "/deletedkeys/web", NULL, "KeyManagedByKeyVault", "purge");
	expect_refused(e, "PUT", "/secrets/web", "{\"value\":\"mine\"}", "SecretManagedByKeyVault",
		       "set");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_secret_writes_answer_403, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_writes_answer_403, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deleted_lists_omit_managed, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
