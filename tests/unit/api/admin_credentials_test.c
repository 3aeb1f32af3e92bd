/* api/admin_credentials: a principal's client secrets and certificates through api_dispatch, as
 * the admin: the shapes of the answers, the secret shown once and never after, the 400s, 404s
 * and 409s, and a principal without the administrator role refused. */
#include <time.h>

#include "api_fixture.h"
#include "crypto/keyops.h"
#include "crypto/x509.h"
#include "util/b64url.h"
#include "vault/identity.h"

#define HOST "localhost"

static int setup(void **state)
{
	return api_env_setup_default(state);
}

static int teardown(void **state)
{
	return api_env_teardown(state);
}

/* One admin API request (authz NULL: the admin's); the status, the body in *out (may be NULL). */
static int call(struct api_env *e, const char *method, const char *path, const char *body,
		const char *authz, json_t **out)
{
	const struct api_drive_req d = { .method = method, .host = HOST, .path = path,
					 .authorization = authz ? authz : e->bearer, .body = body,
					 .body_len = api_drive_len(body) };

	return api_env_send(e, &d, out);
}

static const char *code_of(const json_t *j)
{
	return json_string_value(json_object_get(json_object_get(j, "error"), "code"));
}

static void expect_error(struct api_env *e, const char *method, const char *path,
			 const char *body, int status, const char *code)
{
	json_t *j = NULL;
	int got = call(e, method, path, body, NULL, &j);
	const char *got_code = j != NULL && code_of(j) != NULL ? code_of(j) : "(none)";

	if (got != status || strcmp(got_code, code) != 0)
		fail_msg("%s %s %s: want %d %s, got %d %s", method, path, body ? body : "", status,
			 code, got, got_code);
	json_decref(j);
}

static void make_principal(struct api_env *e, const char *name)
{
	char body[128];
	json_t *j;

	snprintf(body, sizeof(body), "{\"name\":\"%s\"}", name);
	assert_int_equal(call(e, "POST", "/kluis/v1/principals", body, NULL, &j), 201);
	json_decref(j);
}

static void test_secrets(void **state)
{
	struct api_env *e = *state;
	char path[256], secret[IDENTITY_SECRET_TEXT_LEN], id[64], body[128];
	json_t *j, *list;

	make_principal(e, "app");
	assert_int_equal(call(e, "POST", "/kluis/v1/principals/app/secrets",
			      "{\"description\":\"d1\"}", NULL, &j), 201);
	assert_string_equal(json_string_value(json_object_get(j, "type")), "secret");
	assert_string_equal(json_string_value(json_object_get(j, "description")), "d1");
	assert_true(json_is_null(json_object_get(j, "expires")));
	assert_false(json_is_true(json_object_get(j, "revoked")));
	snprintf(secret, sizeof(secret), "%s", json_string_value(json_object_get(j, "secret")));
	snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(j, "id")));
	assert_int_equal(strlen(secret), 48);
	assert_memory_equal(json_string_value(json_object_get(j, "hint")), secret + 5, 3);
	json_decref(j);

	snprintf(body, sizeof(body), "{\"expires\":%lld}", (long long)time(NULL) + 3600);
	assert_int_equal(call(e, "POST", "/kluis/v1/principals/APP/secrets", body, NULL, &j), 201);
	assert_true(json_integer_value(json_object_get(j, "expires")) > time(NULL));
	json_decref(j);
	assert_int_equal(call(e, "POST", "/kluis/v1/principals/app/secrets", NULL, NULL, &j), 201);
	json_decref(j);

	assert_int_equal(call(e, "GET", "/kluis/v1/principals/app/secrets", NULL, NULL, &list),
			 200);
	assert_int_equal(json_array_size(json_object_get(list, "value")), 3);
	{
		char text[8192];
		size_t n = json_dumpb(list, text, sizeof(text) - 1, 0);

		assert_true(n > 0 && n < sizeof(text));
		text[n] = '\0';
		assert_null(strstr(text, secret + 5));
	}
	assert_null(json_object_get(json_array_get(json_object_get(list, "value"), 0), "secret"));
	json_decref(list);
	assert_int_equal(call(e, "GET", "/kluis/v1/principals/app/certificates", NULL, NULL, &list),
			 200);
	assert_int_equal(json_array_size(json_object_get(list, "value")), 0);
	json_decref(list);

	snprintf(path, sizeof(path), "/kluis/v1/principals/app/secrets/%s", id);
	assert_int_equal(call(e, "DELETE", path, NULL, NULL, &j), 200);
	assert_true(json_is_true(json_object_get(j, "revoked")));
	assert_null(json_object_get(j, "secret"));
	json_decref(j);
	snprintf(path, sizeof(path), "/kluis/v1/principals/app/certificates/%s", id);
	expect_error(e, "DELETE", path, NULL, 404, "CredentialNotFound");

	expect_error(e, "POST", "/kluis/v1/principals/app/secrets", "[]", 400, "BadParameter");
	expect_error(e, "POST", "/kluis/v1/principals/app/secrets", "{", 400, "BadParameter");
	expect_error(e, "POST", "/kluis/v1/principals/app/secrets", "{\"description\":1}", 400,
		     "BadParameter");
	expect_error(e, "POST", "/kluis/v1/principals/app/secrets", "{\"expires\":\"x\"}", 400,
		     "BadParameter");
	expect_error(e, "POST", "/kluis/v1/principals/app/secrets", "{\"expires\":5}", 400,
		     "BadParameter");
	expect_error(e, "POST", "/kluis/v1/principals/nobody/secrets", "{}", 404,
		     "PrincipalNotFound");
	expect_error(e, "GET", "/kluis/v1/principals/nobody/secrets", NULL, 404,
		     "PrincipalNotFound");
	expect_error(e, "DELETE", "/kluis/v1/principals/app/secrets/nope", NULL, 404,
		     "CredentialNotFound");
}

static void test_certificates(void **state)
{
	struct api_env *e = *state;
	struct keyops_key *k;
	struct x509_profile p;
	struct kl_err err = { 0 };
	struct buf der, b64;
	char body[8192], path[256];
	json_t *j, *list;
	int i;

	make_principal(e, "certapp");
	assert_non_null(k = keyops_generate_ec("P-256", &err));
	memset(&p, 0, sizeof(p));
	p.subject = "CN=api";
	p.not_before = (int64_t)time(NULL) - 60;
	p.not_after = (int64_t)time(NULL) + 86400;
	buf_init(&der, X509_CERT_MAX);
	buf_init(&b64, 2 * X509_CERT_MAX);
	assert_int_equal(x509_self_sign(k, &p, &der, &err), 0);
	assert_int_equal(b64_std_encode(der.data, der.len, &b64, &err), 0);
	snprintf(body, sizeof(body), "{\"certificate\":\"%s\",\"description\":\"c\"}",
		 buf_cstr(&b64));

	assert_int_equal(call(e, "POST", "/kluis/v1/principals/certapp/certificates", body, NULL,
			      &j), 201);
	assert_string_equal(json_string_value(json_object_get(j, "type")), "certificate");
	assert_string_equal(json_string_value(json_object_get(j, "subject")), "CN=api");
	assert_int_equal(strlen(json_string_value(json_object_get(j, "thumbprint"))), 64);
	assert_int_equal(strlen(json_string_value(json_object_get(j, "x5t"))), 40);
	assert_int_equal(json_integer_value(json_object_get(j, "expires")), p.not_after);
	snprintf(path, sizeof(path), "/kluis/v1/principals/certapp/certificates/%s",
		 json_string_value(json_object_get(j, "id")));
	json_decref(j);
	expect_error(e, "POST", "/kluis/v1/principals/certapp/certificates", body, 409,
		     "CertificateAlreadyRegistered");
	assert_int_equal(call(e, "GET", "/kluis/v1/principals/certapp/certificates", NULL, NULL,
			      &list), 200);
	assert_int_equal(json_array_size(json_object_get(list, "value")), 1);
	json_decref(list);
	assert_int_equal(call(e, "DELETE", path, NULL, NULL, &j), 200);
	assert_true(json_is_true(json_object_get(j, "revoked")));
	json_decref(j);

	expect_error(e, "POST", "/kluis/v1/principals/certapp/certificates", NULL, 400,
		     "BadParameter");
	expect_error(e, "POST", "/kluis/v1/principals/certapp/certificates", "{}", 400,
		     "BadParameter");
	expect_error(e, "POST", "/kluis/v1/principals/certapp/certificates",
		     "{\"certificate\":7}", 400, "BadParameter");
	expect_error(e, "POST", "/kluis/v1/principals/certapp/certificates",
		     "{\"certificate\":\"junk\"}", 400, "BadParameter");

	/* The limit, counting both kinds. */
	for (i = 0; i < IDENTITY_CREDENTIALS_MAX; i++) {
		assert_int_equal(call(e, "POST", "/kluis/v1/principals/certapp/secrets", "{}", NULL,
				      &j), 201);
		json_decref(j);
	}
	expect_error(e, "POST", "/kluis/v1/principals/certapp/certificates", body, 409,
		     "TooManyCredentials");
	keyops_free(k);
	buf_clear(&der);
	buf_clear(&b64);
}

/* A principal that is not an administrator gets 403 on every route; no token, 401. */
static void test_not_admin(void **state)
{
	struct api_env *e = *state;
	static const char *const routes[][2] = {
		{ "GET", "/kluis/v1/principals/x/secrets" },
		{ "POST", "/kluis/v1/principals/x/secrets" },
		{ "DELETE", "/kluis/v1/principals/x/secrets/y" },
		{ "GET", "/kluis/v1/principals/x/certificates" },
		{ "POST", "/kluis/v1/principals/x/certificates" },
		{ "DELETE", "/kluis/v1/principals/x/certificates/y" },
	};
	char bearer[200];
	size_t i;

	api_env_make_principal(e, HOST, "officer", "Key Vault Secrets Officer", bearer,
			       sizeof(bearer));
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		assert_int_equal(call(e, routes[i][0], routes[i][1], "{}", bearer, NULL), 403);
		assert_int_equal(call(e, routes[i][0], routes[i][1], "{}", "Bearer kl1.nope", NULL),
				 401);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_secrets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_certificates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_admin, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
