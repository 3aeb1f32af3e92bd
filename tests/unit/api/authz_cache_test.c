/* The node's authentication and authorization caches (vault/authcache.h) seen through requests
 * (api_begin + api_dispatch) on one node: a principal's repeated GET is answered from the caches,
 * and each change that takes a right away (a revoked token, a deleted principal, a removed role
 * assignment, a changed access policy, a deleted vault, a revoked client secret behind an access
 * token) is refused on the very next request. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "api/roles.h"
#include "api_fixture.h"
#include "crypto/jws.h"
#include "util/clock.h"
#include "util/secbuf.h"
#include "vault/assignments.h"
#include "vault/authcache.h"
#include "vault/identity.h"
#include "vault/principals.h"
#include "vault/vaults.h"

struct who {
	struct principal p;
	struct principal_token tok;
	char bearer[128];
};

/* A principal with a token, holding role (a short name) on vault ("": the deployment; role NULL:
 * no role); the assignment's id into assignment_id (37 bytes) when given. */
static void make_principal(struct api_env *e, const char *name, const char *role,
			   const char *vault, struct who *w, char *assignment_id)
{
	char text[TOKEN_TEXT_LEN];
	struct assignment a = { 0 };
	struct kl_err err = { 0 };

	if (principal_create(e->core, name, "application", NULL, 0, &w->p, &w->tok, text,
			     &err) != 0)
		fail_msg("principal_create: %s", err.msg);
	snprintf(w->bearer, sizeof(w->bearer), "Bearer %s", text);
	secure_wipe(text, sizeof(text));
	if (role == NULL)
		return;
	memcpy(a.principal_id, w->p.id, sizeof(a.principal_id));
	snprintf(a.role_id, sizeof(a.role_id), "%s", roles_find(role)->id);
	snprintf(a.vault, sizeof(a.vault), "%s", vault);
	if (assignment_create(e->core, &a, &err) != 0)
		fail_msg("assignment_create: %s", err.msg);
	if (assignment_id != NULL)
		memcpy(assignment_id, a.id, sizeof(a.id));
}

/* One data-plane request with bearer (a whole Authorization value); the status. */
static int call(struct api_env *e, const char *method, const char *vault, const char *path,
		const char *body, const char *bearer)
{
	char host[128];
	const struct api_drive_req d = { .method = method, .host = host, .path = path,
					 .api_version = "7.6", .authorization = bearer,
					 .body = body, .body_len = api_drive_len(body) };

	snprintf(host, sizeof(host), "%s.vault.localhost", vault);
	return api_env_send(e, &d, NULL);
}

static int put_secret(struct api_env *e, const char *vault, const char *name, const char *bearer)
{
	char path[64];

	snprintf(path, sizeof(path), "/secrets/%s", name);
	return call(e, "PUT", vault, path, "{\"value\":\"v\"}", bearer);
}

static int get_secret(struct api_env *e, const char *vault, const char *bearer)
{
	return call(e, "GET", vault, "/secrets/s1", NULL, bearer);
}

static uint64_t hits(struct api_env *e)
{
	uint64_t h, m;

	authcache_stats(e->core, &h, &m);
	return h;
}

/* A principal's GET twice: the second is answered from the caches. */
static void warm(struct api_env *e, const char *vault, const char *bearer)
{
	uint64_t before;

	assert_int_equal(get_secret(e, vault, bearer), 200);
	before = hits(e);
	assert_int_equal(get_secret(e, vault, bearer), 200);
	/* the credential, the vault (dispatch and authz) and the rights */
	assert_true(hits(e) >= before + 3);
}

static int setup(void **state)
{
	struct api_env *e;

	if (api_env_setup_default(state) != 0)
		return -1;
	e = *state;
	return put_secret(e, "default", "s1", e->bearer) == 200 ? 0 : -1;
}

static void test_steady_state_get_is_cached(void **state)
{
	struct api_env *e = *state;
	struct who w;
	uint64_t h0, m0, h1, m1;
	int i;

	make_principal(e, "steady", "secrets-officer", "default", &w, NULL);
	assert_int_equal(get_secret(e, "default", w.bearer), 200);
	authcache_stats(e->core, &h0, &m0);
	for (i = 0; i < 10; i++)
		assert_int_equal(get_secret(e, "default", w.bearer), 200);
	authcache_stats(e->core, &h1, &m1);
	assert_int_equal(m1, m0);	/* nothing read again */
	assert_true(h1 - h0 >= 30);
	/* the admin token is never cached, and changes nothing */
	assert_int_equal(get_secret(e, "default", e->bearer), 200);
	authcache_stats(e->core, &h0, &m0);
	assert_int_equal(m0, m1);
}

static void test_revoked_token_refused_next_request(void **state)
{
	struct api_env *e = *state;
	struct principal_token out;
	struct kl_err err = { 0 };
	struct who w;

	make_principal(e, "revoked", "secrets-officer", "default", &w, NULL);
	warm(e, "default", w.bearer);
	assert_int_equal(principal_token_revoke(e->core, w.p.id, w.tok.id, &out, &err), 0);
	assert_int_equal(get_secret(e, "default", w.bearer), 401);
}

static void test_deleted_principal_refused_next_request(void **state)
{
	struct api_env *e = *state;
	struct kl_err err = { 0 };
	struct who w;

	make_principal(e, "deleted", "secrets-officer", "default", &w, NULL);
	warm(e, "default", w.bearer);
	assert_int_equal(principal_delete(e->core, w.p.id, &err), 0);
	assert_int_equal(get_secret(e, "default", w.bearer), 401);
}

static void test_removed_role_refused_next_request(void **state)
{
	struct api_env *e = *state;
	struct assignment a;
	struct kl_err err = { 0 };
	char aid[37];
	struct who w;

	make_principal(e, "unassigned", "secrets-officer", "default", &w, aid);
	warm(e, "default", w.bearer);
	assert_int_equal(put_secret(e, "default", "s2", w.bearer), 200);
	assert_int_equal(assignment_delete(e->core, aid, &a, &err), 0);
	assert_int_equal(get_secret(e, "default", w.bearer), 403);
	assert_int_equal(put_secret(e, "default", "s2", w.bearer), 403);
}

static void test_deployment_role_removed_refused_next_request(void **state)
{
	struct api_env *e = *state;
	struct assignment a;
	struct kl_err err = { 0 };
	char aid[37];
	struct who w;

	make_principal(e, "everywhere", "secrets-user", "", &w, aid);
	warm(e, "default", w.bearer);
	assert_int_equal(assignment_delete(e->core, aid, &a, &err), 0);
	assert_int_equal(get_secret(e, "default", w.bearer), 403);
}

/* A vault that uses access policies, granting principal_id secrets/get when grant (else only
 * secrets/list); made when create, changed otherwise. */
static void policy_vault(struct api_env *e, const char *name, const char *principal_id,
			 bool grant, bool create)
{
	struct vault_info vi;
	struct kl_err err = { 0 };
	uint64_t version = 0;
	char props[512];

	vault_info_init(&vi);
	snprintf(props, sizeof(props),
		 "{\"p\":{\"accessPolicies\":[{\"tenantId\":\"t\",\"objectId\":\"%s\","
		 "\"permissions\":{\"secrets\":[%s]}}]}}",
		 principal_id, grant ? "\"get\"" : "\"list\"");
	if (create) {
		snprintf(vi.name, sizeof(vi.name), "%s", name);
		vi.retention_days = 90;
	} else {
		assert_int_equal(vaults_get(e->core, name, false, &vi, &version, &err), 0);
	}
	vi.rbac = false;
	buf_reset(&vi.props);
	assert_int_equal(buf_append_str(&vi.props, props, &err), 0);
	if (create)
		assert_int_equal(vaults_create(e->core, &vi, &err), 0);
	else if (vaults_update(e->core, &vi, version, &err) != 0)
		fail_msg("vaults_update: %s", err.msg);
	vault_info_clear(&vi);
}

static void test_changed_access_policy_refused_next_request(void **state)
{
	struct api_env *e = *state;
	struct who w;

	make_principal(e, "policyholder", NULL, NULL, &w, NULL);
	policy_vault(e, "pol", w.p.id, true, true);
	assert_int_equal(put_secret(e, "pol", "s1", e->bearer), 200);
	warm(e, "pol", w.bearer);
	policy_vault(e, "pol", w.p.id, false, false);
	assert_int_equal(get_secret(e, "pol", w.bearer), 403);
	policy_vault(e, "pol", w.p.id, true, false);	/* and back */
	assert_int_equal(get_secret(e, "pol", w.bearer), 200);
}

static void test_deleted_vault_refused_next_request(void **state)
{
	struct api_env *e = *state;
	struct vault_info vi;
	struct kl_err err = { 0 };
	struct who w;

	vault_info_init(&vi);
	snprintf(vi.name, sizeof(vi.name), "gone");
	vi.retention_days = 90;
	vi.rbac = true;
	assert_int_equal(vaults_create(e->core, &vi, &err), 0);
	vault_info_clear(&vi);
	assert_int_equal(put_secret(e, "gone", "s1", e->bearer), 200);
	make_principal(e, "vaultuser", "secrets-officer", "gone", &w, NULL);
	warm(e, "gone", w.bearer);
	assert_int_equal(vaults_delete(e->core, "gone", &err), 0);
	assert_int_equal(get_secret(e, "gone", w.bearer), 404);
	assert_int_equal(get_secret(e, "gone", e->bearer), 404);
}

static void test_revoked_client_secret_stops_access_token(void **state)
{
	struct api_env *e = *state;
	struct identity_credential cred, out;
	struct principal_ref ref = { 0 };
	struct identity_grant g = { .who = &ref, .cred_kind = IDENTITY_CRED_SECRET,
				    .resource = "https://vault.azure.net",
				    .issuer = "https://x/t" };
	char secret[IDENTITY_SECRET_TEXT_LEN], bearer[JWS_MAX_BYTES + 16];
	struct kl_err err = { 0 };
	struct buf tok;
	int64_t exp;
	struct who w;

	assert_int_equal(identity_signing_ensure(e->core, &err), 0);
	make_principal(e, "secretapp", "secrets-user", "default", &w, NULL);
	assert_int_equal(identity_secret_add(e->core, w.p.id, "d", 0, &cred, secret, &err), 0);
	secure_wipe(secret, sizeof(secret));
	memcpy(ref.id, w.p.id, sizeof(ref.id));
	g.cred_id = cred.id;
	buf_init_secret(&tok, JWS_MAX_BYTES);
	if (identity_token_issue(e->core, &g, &tok, &exp, &err) != 0)
		fail_msg("issue: %s", err.msg);
	snprintf(bearer, sizeof(bearer), "Bearer %.*s", (int)tok.len, (const char *)tok.data);
	warm(e, "default", bearer);
	assert_int_equal(identity_credential_revoke(e->core, w.p.id, cred.id, &out, &err), 0);
	assert_int_equal(get_secret(e, "default", bearer), 401);
	/* the principal's kluis token is another credential: still good */
	assert_int_equal(get_secret(e, "default", w.bearer), 200);
	buf_clear(&tok);
	secure_wipe(bearer, sizeof(bearer));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_steady_state_get_is_cached),
		cmocka_unit_test(test_revoked_token_refused_next_request),
		cmocka_unit_test(test_deleted_principal_refused_next_request),
		cmocka_unit_test(test_removed_role_refused_next_request),
		cmocka_unit_test(test_deployment_role_removed_refused_next_request),
		cmocka_unit_test(test_changed_access_policy_refused_next_request),
		cmocka_unit_test(test_deleted_vault_refused_next_request),
		cmocka_unit_test(test_revoked_client_secret_stops_access_token),
	};

	return cmocka_run_group_tests(tests, setup, api_env_teardown);
}
