/* api/api.c's audience gate and api/admin/admin_identity.c: a data-plane access token opens the
 * data plane only, a management-plane one Resource Manager and the admin API only (401 with the
 * challenge elsewhere); the signing key list and rotation through the admin API. */
#include "api_fixture.h"
#include "vault/identity.h"
#include "vault/principals.h"

#define ADMIN_HOST "localhost:8443"
#define DATA_HOST "default.vault.localhost:8443"
#define ARM_PATH "/subscriptions/sub-1/providers/Microsoft.KeyVault/vaults"

struct afx {
	struct api_env e;
	char kluis_bearer[160];
	struct buf data_bearer, mgmt_bearer;
};

/* "Bearer <access token>" for principal p (through its kluis token id tid) and resource. */
static void bearer_for(struct afx *f, const struct principal *p, const char *tid,
		       const char *resource, struct buf *out)
{
	struct principal_ref who = { 0 };
	struct identity_grant g = { .who = &who, .cred_kind = IDENTITY_CRED_TOKEN, .cred_id = tid,
				    .resource = resource, .issuer = "https://" ADMIN_HOST "/adfs" };
	struct kl_err err = { 0 };
	int64_t exp;

	memcpy(who.id, p->id, sizeof(who.id));
	buf_init_secret(out, 16384);
	assert_int_equal(buf_append_str(out, "Bearer ", &err), 0);
	if (identity_token_issue(f->e.core, &g, out, &exp, &err) != 0)
		fail_msg("issue: %s", err.msg);
}

static int setup(void **state)
{
	struct identity_config cfg = { .dns_suffix = "vault.localhost" };
	struct afx *f = calloc(1, sizeof(*f));
	struct principal_token *toks = NULL;
	struct principal p;
	struct kl_err err = { 0 };
	size_t n = 0;

	if (f == NULL || api_env_open(&f->e, NULL, 0) != 0)
		return -1;
	identity_configure(f->e.core, &cfg);
	if (identity_signing_ensure(f->e.core, &err) != 0)
		return -1;
	api_env_make_principal(&f->e, ADMIN_HOST, "reader-app", "secrets-user", f->kluis_bearer,
			       sizeof(f->kluis_bearer));
	if (principal_get(f->e.core, "reader-app", &p, &err) != 0 ||
	    principal_tokens(f->e.core, p.id, &toks, &n, &err) != 0 || n != 1)
		return -1;
	bearer_for(f, &p, toks[0].id, "https://vault.azure.net/.default", &f->data_bearer);
	bearer_for(f, &p, toks[0].id, "https://management.azure.com/.default", &f->mgmt_bearer);
	free(toks);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct afx *f = *state;

	buf_clear(&f->data_bearer);
	buf_clear(&f->mgmt_bearer);
	api_env_close(&f->e);
	free(f);
	return 0;
}

/* The status of one request; *challenge tells whether a WWW-Authenticate header came back. */
static int send(struct afx *f, const char *method, const char *host, const char *path,
		const char *version, const char *authz, bool *challenge, json_t **body)
{
	const struct api_drive_req d = { .method = method, .host = host, .path = path,
					 .api_version = version, .authorization = authz };
	struct api_resp resp;
	int status;

	api_env_drive(&f->e, &d, &resp);
	status = resp.status;
	if (challenge != NULL)
		*challenge = api_drive_header(&resp, "WWW-Authenticate") != NULL;
	if (body != NULL)
		*body = api_drive_json(&resp);
	api_resp_free(&resp);
	return status;
}

static void test_data_plane(void **state)
{
	struct afx *f = *state;
	bool challenge = false;

	assert_int_equal(send(f, "GET", DATA_HOST, "/secrets", "7.4", buf_cstr(&f->data_bearer),
			      NULL, NULL), 200);
	assert_int_equal(send(f, "GET", DATA_HOST, "/secrets", "7.4", buf_cstr(&f->mgmt_bearer),
			      &challenge, NULL), 401);
	assert_true(challenge);
	/* a kluis token opens every plane, as before */
	assert_int_equal(send(f, "GET", DATA_HOST, "/secrets", "7.4", f->kluis_bearer, NULL, NULL),
			 200);
}

static void test_management_and_admin(void **state)
{
	struct afx *f = *state;
	bool challenge = false;

	assert_int_equal(send(f, "GET", ADMIN_HOST, ARM_PATH, "2026-02-01",
			      buf_cstr(&f->data_bearer), &challenge, NULL), 401);
	assert_true(challenge);
	/* the management token gets past the gate; the role then decides */
	assert_int_not_equal(send(f, "GET", ADMIN_HOST, ARM_PATH, "2026-02-01",
				  buf_cstr(&f->mgmt_bearer), NULL, NULL), 401);
	assert_int_equal(send(f, "GET", ADMIN_HOST, "/kluis/v1/identity/signingKeys", NULL,
			      buf_cstr(&f->data_bearer), &challenge, NULL), 401);
	assert_true(challenge);
	assert_int_equal(send(f, "GET", ADMIN_HOST, "/kluis/v1/identity/signingKeys", NULL,
			      buf_cstr(&f->mgmt_bearer), NULL, NULL), 403);
}

static void test_signing_keys_admin(void **state)
{
	struct afx *f = *state;
	const char *kid, *new_kid;
	json_t *list = NULL, *made = NULL, *after = NULL, *v;

	assert_int_equal(send(f, "GET", ADMIN_HOST, "/kluis/v1/identity/signingKeys", NULL,
			      f->e.bearer, NULL, &list), 200);
	v = json_object_get(list, "value");
	assert_int_equal(json_array_size(v), 1);
	kid = json_string_value(json_object_get(json_array_get(v, 0), "kid"));
	assert_non_null(kid);
	assert_memory_equal(kid, "kl-", 3);
	assert_true(json_is_integer(json_object_get(json_array_get(v, 0), "created")));
	assert_true(json_is_null(json_object_get(json_array_get(v, 0), "retired")));
	assert_int_equal(send(f, "POST", ADMIN_HOST, "/kluis/v1/identity/signingKeys/rotate", NULL,
			      f->e.bearer, NULL, &made), 200);
	new_kid = json_string_value(json_object_get(made, "kid"));
	assert_non_null(new_kid);
	assert_string_not_equal(new_kid, kid);
	assert_int_equal(send(f, "GET", ADMIN_HOST, "/kluis/v1/identity/signingKeys", NULL,
			      f->e.bearer, NULL, &after), 200);
	v = json_object_get(after, "value");
	assert_int_equal(json_array_size(v), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(v, 0), "kid")), new_kid);
	assert_string_equal(json_string_value(json_object_get(json_array_get(v, 1), "kid")), kid);
	assert_true(json_is_integer(json_object_get(json_array_get(v, 1), "retired")));
	/* a token signed before the rotation still opens the data plane */
	assert_int_equal(send(f, "GET", DATA_HOST, "/secrets", "7.4", buf_cstr(&f->data_bearer),
			      NULL, NULL), 200);
	/* rotation is for administrators only */
	assert_int_equal(send(f, "POST", ADMIN_HOST, "/kluis/v1/identity/signingKeys/rotate", NULL,
			      f->kluis_bearer, NULL, NULL), 403);
	json_decref(list);
	json_decref(made);
	json_decref(after);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_data_plane, setup, teardown),
		cmocka_unit_test_setup_teardown(test_management_and_admin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signing_keys_admin, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
