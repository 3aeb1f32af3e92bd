/* vault/accesstoken and vault/signkeys: what a resource names; access tokens issued and verified
 * (claims, authenticate_bearer's dispatch, the audience); refusals for an expired or not yet
 * valid token, a revoked kluis token, a revoked client secret, a deleted principal, a changed
 * OpenID subject, an unknown kid, a foreign signature, changed claims and another tenant; signing
 * key rotation (old tokens still verify, new ones use the new kid), the key list and JWKS; a
 * read-only node. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "crypto/jws.h"
#include "crypto/keyops.h"
#include "util/clock.h"
#include "util/json.h"
#include "vault_fixture.h"
#include "vault/authenticate.h"
#include "vault/identity.h"
#include "vault/identity_internal.h"
#include "vault/internal.h"
#include "vault/principals.h"

#define ISSUER "https://kluis.test/adfs"

struct tfx {
	struct vault_env env;
	struct principal p;
	struct principal_token t;
	struct principal_ref who;
};

static int setup(void **state)
{
	struct identity_config cfg = { .dns_suffix = "vault.localhost", .lifetime_s = 0 };
	struct kl_err err = { 0 };
	struct tfx *f = calloc(1, sizeof(*f));
	char token[TOKEN_TEXT_LEN];

	json_util_init();
	if (f == NULL || vault_env_open(&f->env.dir, &f->env.core, NULL, 7) != 0)
		return -1;
	identity_configure(f->env.core, &cfg);
	if (identity_signing_ensure(f->env.core, &err) != 0 ||
	    principal_create(f->env.core, "app1", "application", "system:sa:app1", 0, &f->p, &f->t,
			     token, &err) != 0) {
		fprintf(stderr, "setup: %s\n", err.msg);
		return -1;
	}
	memcpy(f->who.id, f->p.id, sizeof(f->who.id));
	memcpy(f->who.name, f->p.name, sizeof(f->who.name));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct tfx *f = *state;

	vault_env_close(&f->env.dir, f->env.core);
	free(f);
	return 0;
}

/* A token for f's principal through its kluis token (kind t), issued at `at`. */
static void issue_at(struct tfx *f, enum identity_cred_kind kind, const char *cred,
		     const char *resource, int64_t at, struct buf *tok)
{
	struct identity_grant g = { .who = &f->who, .cred_kind = kind, .cred_id = cred,
				    .resource = resource, .issuer = ISSUER };
	struct kl_err err = { 0 };
	int64_t exp = 0;

	buf_init_secret(tok, JWS_MAX_BYTES);
	if (accesstoken_issue_at(f->env.core, &g, at, tok, &exp, &err) != 0)
		fail_msg("issue: %s", err.msg);
	assert_int_equal(exp, at + IDENTITY_LIFETIME_DEFAULT_S);
}

static int verify(struct tfx *f, const struct buf *tok, int64_t at, struct principal_ref *who,
		  struct kl_err *err)
{
	return accesstoken_verify_at(f->env.core, (const char *)tok->data, tok->len, at, who, NULL,
				     err);
}

static void expect_refused(struct tfx *f, const struct buf *tok, int64_t at, const char *why)
{
	struct principal_ref who;
	struct kl_err err = { 0 };

	assert_int_equal(verify(f, tok, at, &who, &err), -1);
	assert_int_equal(err.code, KL_EUNAUTH);
	if (strstr(err.msg, why) == NULL)
		fail_msg("refused for '%s', expected '%s'", err.msg, why);
	assert_string_equal(who.id, "");
}

static void test_audience_of(void **state)
{
	static const struct {
		const char *in;
		enum identity_audience a;
		const char *norm;
	} cases[] = {
		{ "https://vault.azure.net", IDENTITY_AUD_DATA, "https://vault.azure.net" },
		{ "https://vault.azure.net/.default", IDENTITY_AUD_DATA, "https://vault.azure.net" },
		{ "https://vault.azure.net/", IDENTITY_AUD_DATA, "https://vault.azure.net" },
		{ "HTTPS://Vault.Azure.NET:443/.default", IDENTITY_AUD_DATA, "https://vault.azure.net" },
		{ "https://vault.localhost", IDENTITY_AUD_DATA, "https://vault.localhost" },
		{ "https://billing.vault.localhost:8443/.default", IDENTITY_AUD_DATA,
		  "https://billing.vault.localhost:8443" },
		{ "https://management.azure.com/.default", IDENTITY_AUD_MGMT,
		  "https://management.azure.com/" },
		{ "https://management.core.windows.net/", IDENTITY_AUD_MGMT,
		  "https://management.core.windows.net/" },
		{ "https://management.azure.com", IDENTITY_AUD_MGMT, "https://management.azure.com/" },
		{ "https://evilvault.localhost", IDENTITY_AUD_ANY, "" },
		{ "https://vault.localhost.evil.com", IDENTITY_AUD_ANY, "" },
		{ "http://vault.azure.net", IDENTITY_AUD_ANY, "" },
		{ "https://vault.azure.net/secrets", IDENTITY_AUD_ANY, "" },
		{ "https://vault.azure.net:8443", IDENTITY_AUD_ANY, "" },
		{ "https://user@vault.azure.net", IDENTITY_AUD_ANY, "" },
		{ "https://vault.azure.net:", IDENTITY_AUD_ANY, "" },
		{ "https://vault.azure.net:443443", IDENTITY_AUD_ANY, "" },
		{ "https://graph.microsoft.com/.default", IDENTITY_AUD_ANY, "" },
		{ "", IDENTITY_AUD_ANY, "" },
		{ "https://", IDENTITY_AUD_ANY, "" },
	};
	struct tfx *f = *state;
	char norm[IDENTITY_RESOURCE_MAX + 1], big[400];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum identity_audience a = identity_audience_of(f->env.core, cases[i].in, norm);

		if (a != cases[i].a || strcmp(norm, cases[i].norm) != 0)
			fail_msg("%s: %d '%s', expected %d '%s'", cases[i].in, a, norm, cases[i].a,
				 cases[i].norm);
	}
	memset(big, 'a', sizeof(big));
	memcpy(big, "https://", 8);
	strcpy(big + sizeof(big) - 17, ".vault.localhost");
	assert_int_equal(identity_audience_of(f->env.core, big, norm), IDENTITY_AUD_ANY);
	assert_int_equal(identity_audience_of(f->env.core, NULL, norm), IDENTITY_AUD_ANY);
}

static void test_issue_and_verify(void **state)
{
	struct tfx *f = *state;
	struct principal_ref who;
	struct kl_err err = { 0 };
	struct jws_parts p;
	struct buf tok;
	int64_t now = clock_now_s();
	json_t *c;

	issue_at(f, IDENTITY_CRED_TOKEN, f->t.id, "https://vault.azure.net/.default", now, &tok);
	assert_true(identity_token_is_ours((const char *)tok.data, tok.len));
	jws_parts_init(&p);
	assert_int_equal(jws_parse((const char *)tok.data, tok.len, &p, &err), 0);
	assert_string_equal(json_string_value(json_object_get(p.header, "alg")), "RS256");
	assert_memory_equal(json_string_value(json_object_get(p.header, "kid")), "kl-", 3);
	c = p.claims;
	assert_string_equal(json_string_value(json_object_get(c, "aud")), "https://vault.azure.net");
	assert_string_equal(json_string_value(json_object_get(c, "iss")), ISSUER);
	assert_string_equal(json_string_value(json_object_get(c, "tid")), vault_core_tenant(f->env.core));
	assert_string_equal(json_string_value(json_object_get(c, "sub")), f->p.id);
	assert_string_equal(json_string_value(json_object_get(c, "oid")), f->p.id);
	assert_string_equal(json_string_value(json_object_get(c, "appid")), f->p.id);
	assert_string_equal(json_string_value(json_object_get(c, "azp")), f->p.id);
	assert_string_equal(json_string_value(json_object_get(c, "ver")), "2.0");
	assert_string_equal(json_string_value(json_object_get(c, "idtyp")), "app");
	assert_int_equal(json_integer_value(json_object_get(c, "iat")), now);
	assert_int_equal(json_integer_value(json_object_get(c, "nbf")), now);
	assert_int_equal(json_integer_value(json_object_get(c, "exp")), now + 3600);
	assert_int_equal(json_string_length(json_object_get(c, "jti")), 36);
	assert_memory_equal(json_string_value(json_object_get(c, "kl_cred")), "t:", 2);
	assert_null(json_object_get(c, "cnf"));
	jws_parts_clear(&p);

	assert_int_equal(verify(f, &tok, now, &who, &err), 0);
	assert_string_equal(who.id, f->p.id);
	assert_string_equal(who.name, "app1");
	assert_false(who.is_admin);
	assert_int_equal(who.audience, IDENTITY_AUD_DATA);
	/* the request path: authenticate_bearer recognises it */
	memset(&who, 0, sizeof(who));
	assert_int_equal(authenticate_bearer(f->env.core, (const char *)tok.data, tok.len, &who,
						&err), 0);
	assert_string_equal(who.id, f->p.id);
	assert_int_equal(who.audience, IDENTITY_AUD_DATA);
	buf_clear(&tok);

	issue_at(f, IDENTITY_CRED_TOKEN, f->t.id, "https://management.azure.com/", now, &tok);
	assert_int_equal(identity_token_verify(f->env.core, (const char *)tok.data, tok.len, &who,
					       &err), 0);
	assert_int_equal(who.audience, IDENTITY_AUD_MGMT);
	buf_clear(&tok);
	/* a kluis token and a JWT of someone else are not ours */
	assert_false(identity_token_is_ours("kl1.abc", 7));
	assert_false(identity_token_is_ours("eyJhbGciOiJSUzI1NiIsImtpZCI6ImFiYyJ9.e30.AAAA", 45));
	assert_true(identity_token_is_ours("eyJhbGciOiJSUzI1NiIsImtpZCI6ImtsLTEifQ.e30.AAAA", 47));
}

static void test_issue_refusals(void **state)
{
	struct tfx *f = *state;
	struct principal_ref admin = { .is_admin = true };
	struct identity_grant g = { .who = &f->who, .cred_kind = IDENTITY_CRED_TOKEN,
				    .cred_id = f->t.id, .resource = "https://graph.microsoft.com",
				    .issuer = ISSUER };
	struct kl_err err = { 0 };
	struct buf tok;
	int64_t exp = 0;

	buf_init_secret(&tok, JWS_MAX_BYTES);
	assert_int_equal(identity_token_issue(f->env.core, &g, &tok, &exp, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	g.resource = "https://vault.azure.net";
	g.cred_id = "";
	assert_int_equal(identity_token_issue(f->env.core, &g, &tok, &exp, &err), -1);
	g.cred_id = f->t.id;
	g.cred_kind = (enum identity_cred_kind)'x';
	assert_int_equal(identity_token_issue(f->env.core, &g, &tok, &exp, &err), -1);
	g.cred_kind = IDENTITY_CRED_TOKEN;
	g.who = &admin;
	assert_int_equal(identity_token_issue(f->env.core, &g, &tok, &exp, &err), -1);
	assert_int_equal(tok.len, 0);
	g.who = &f->who;
	assert_int_equal(identity_token_issue(f->env.core, &g, &tok, &exp, &err), 0);
	assert_true(tok.len > 0);
	buf_clear(&tok);
}

static void test_expired_and_not_yet_valid(void **state)
{
	struct tfx *f = *state;
	struct principal_ref who;
	struct kl_err err = { 0 };
	int64_t now = clock_now_s();
	struct buf tok;

	issue_at(f, IDENTITY_CRED_TOKEN, f->t.id, "https://vault.azure.net", now - 3600 - 61, &tok);
	expect_refused(f, &tok, now, "expired");
	/* within the skew it still works: the refusal above is the clock's doing */
	assert_int_equal(verify(f, &tok, now - 2, &who, &err), 0);
	buf_clear(&tok);
	issue_at(f, IDENTITY_CRED_TOKEN, f->t.id, "https://vault.azure.net", now + 61, &tok);
	expect_refused(f, &tok, now, "not valid yet");
	assert_int_equal(verify(f, &tok, now + 2, &who, &err), 0);
	buf_clear(&tok);
}

static void test_revoked_kluis_token(void **state)
{
	struct tfx *f = *state;
	struct principal_ref who;
	struct principal_token t2, out;
	struct kl_err err = { 0 };
	char text[TOKEN_TEXT_LEN];
	int64_t now = clock_now_s();
	struct buf tok, tok2;

	assert_int_equal(principal_token_add(f->env.core, f->p.id, 0, &t2, text, &err), 0);
	issue_at(f, IDENTITY_CRED_TOKEN, t2.id, "https://vault.azure.net", now, &tok);
	issue_at(f, IDENTITY_CRED_TOKEN, f->t.id, "https://vault.azure.net", now, &tok2);
	assert_int_equal(verify(f, &tok, now, &who, &err), 0);
	assert_int_equal(principal_token_revoke(f->env.core, f->p.id, t2.id, &out, &err), 0);
	expect_refused(f, &tok, now, "no longer live");
	/* the principal's other credential is untouched */
	assert_int_equal(verify(f, &tok2, now, &who, &err), 0);
	buf_clear(&tok);
	buf_clear(&tok2);
	/* a token id the principal never had */
	issue_at(f, IDENTITY_CRED_TOKEN, "00000000-0000-4000-8000-000000000000",
		 "https://vault.azure.net", now, &tok);
	expect_refused(f, &tok, now, "no longer live");
	buf_clear(&tok);
}

static void test_revoked_client_secret(void **state)
{
	struct tfx *f = *state;
	struct identity_credential cred, out;
	struct principal_ref who;
	struct kl_err err = { 0 };
	char secret[IDENTITY_SECRET_TEXT_LEN];
	int64_t now = clock_now_s();
	struct buf tok;

	assert_int_equal(identity_secret_add(f->env.core, "app1", "ci", 0, &cred, secret, &err), 0);
	issue_at(f, IDENTITY_CRED_SECRET, cred.id, "https://vault.azure.net", now, &tok);
	assert_int_equal(verify(f, &tok, now, &who, &err), 0);
	assert_int_equal(identity_credential_revoke(f->env.core, f->p.id, cred.id, &out, &err), 0);
	expect_refused(f, &tok, now, "credential");
	buf_clear(&tok);
	/* a credential id the principal does not have */
	issue_at(f, IDENTITY_CRED_CERT, "no-such-credential", "https://vault.azure.net", now, &tok);
	expect_refused(f, &tok, now, "credential");
	buf_clear(&tok);
}

static void test_federated_subject(void **state)
{
	struct tfx *f = *state;
	struct principal_ref who;
	struct kl_err err = { 0 };
	char sid[33], other[33];
	int64_t now = clock_now_s();
	struct buf tok;

	assert_int_equal(accesstoken_subject_id("system:sa:app1", sid, &err), 0);
	assert_int_equal(strlen(sid), 32);
	issue_at(f, IDENTITY_CRED_FEDERATED, sid, "https://vault.azure.net", now, &tok);
	assert_int_equal(verify(f, &tok, now, &who, &err), 0);
	assert_string_equal(who.id, f->p.id);
	buf_clear(&tok);
	assert_int_equal(accesstoken_subject_id("system:sa:other", other, &err), 0);
	assert_string_not_equal(sid, other);
	issue_at(f, IDENTITY_CRED_FEDERATED, other, "https://vault.azure.net", now, &tok);
	expect_refused(f, &tok, now, "subject changed");
	buf_clear(&tok);
}

static void test_deleted_principal(void **state)
{
	struct tfx *f = *state;
	struct principal q;
	struct principal_token qt;
	struct principal_ref qwho = { 0 }, who;
	struct identity_grant g = { .who = &qwho, .cred_kind = IDENTITY_CRED_TOKEN,
				    .resource = "https://vault.azure.net", .issuer = ISSUER };
	struct kl_err err = { 0 };
	char text[TOKEN_TEXT_LEN];
	int64_t now = clock_now_s(), exp;
	struct buf tok;

	assert_int_equal(principal_create(f->env.core, "doomed", "application", NULL, 0, &q, &qt,
					  text, &err), 0);
	memcpy(qwho.id, q.id, sizeof(qwho.id));
	g.cred_id = qt.id;
	buf_init_secret(&tok, JWS_MAX_BYTES);
	assert_int_equal(accesstoken_issue_at(f->env.core, &g, now, &tok, &exp, &err), 0);
	assert_int_equal(verify(f, &tok, now, &who, &err), 0);
	assert_int_equal(principal_delete(f->env.core, q.id, &err), 0);
	expect_refused(f, &tok, now, "principal is gone");
	buf_clear(&tok);
}

/* The token's claims re-signed by key under kid (a forgery, or the right key with other claims). */
static void resign(const struct buf *tok, const struct keyops_key *key, const char *kid,
		   const char *claim, json_t *value, struct buf *out)
{
	struct kl_err err = { 0 };
	struct jws_parts p;
	json_t *h = json_pack("{s:s}", "kid", kid);

	jws_parts_init(&p);
	assert_int_equal(jws_parse((const char *)tok->data, tok->len, &p, &err), 0);
	if (claim != NULL)
		json_object_set_new(p.claims, claim, value);
	buf_init_secret(out, JWS_MAX_BYTES);
	assert_int_equal(jws_sign(key, h, p.claims, out, &err), 0);
	json_decref(h);
	jws_parts_clear(&p);
}

static void test_forgeries_refused(void **state)
{
	struct tfx *f = *state;
	struct kl_err err = { 0 };
	struct keyops_key *mine = keyops_generate_rsa(2048, 0, &err);
	struct jws_parts p;
	struct buf tok, forged;
	char kid[IDENTITY_KID_MAX + 1], *dot;
	int64_t now = clock_now_s();

	assert_non_null(mine);
	issue_at(f, IDENTITY_CRED_TOKEN, f->t.id, "https://vault.azure.net", now, &tok);
	jws_parts_init(&p);
	assert_int_equal(jws_parse((const char *)tok.data, tok.len, &p, &err), 0);
	snprintf(kid, sizeof(kid), "%s", json_string_value(json_object_get(p.header, "kid")));
	jws_parts_clear(&p);
	/* an unknown kid */
	resign(&tok, mine, "kl-00000000deadbeef", NULL, NULL, &forged);
	expect_refused(f, &forged, now, "no signing key has its kid");
	buf_clear(&forged);
	/* the right kid, another key */
	resign(&tok, mine, kid, NULL, NULL, &forged);
	expect_refused(f, &forged, now, "signature");
	buf_clear(&forged);
	/* a kid that is not ours at all */
	resign(&tok, mine, "abc", NULL, NULL, &forged);
	expect_refused(f, &forged, now, "kid");
	buf_clear(&forged);
	/* the claims changed under the original signature */
	resign(&tok, mine, kid, "sub", json_string("00000000-0000-4000-8000-000000000000"), &forged);
	dot = strrchr((char *)forged.data, '.');
	buf_truncate(&forged, (size_t)(dot - (char *)forged.data));
	assert_int_equal(buf_append_str(&forged, strrchr((char *)tok.data, '.'), &err), 0);
	expect_refused(f, &forged, now, "signature");
	buf_clear(&forged);
	/* not a JWS at all */
	buf_init(&forged, 64);
	assert_int_equal(buf_append_str(&forged, "kl1.not-a-jwt", &err), 0);
	expect_refused(f, &forged, now, "not a compact JWS");
	buf_clear(&forged);
	/* a token of another deployment (tenant) signed with a key of the same kid */
	{
		char tenant[sizeof(f->env.core->tenant)];

		memcpy(tenant, f->env.core->tenant, sizeof(tenant));
		snprintf(f->env.core->tenant, sizeof(tenant), "00000000-0000-4000-8000-00000000beef");
		expect_refused(f, &tok, now, "another tenant");
		memcpy(f->env.core->tenant, tenant, sizeof(tenant));
	}
	/* the original still verifies: the refusals above were the forgeries' */
	{
		struct principal_ref who;

		assert_int_equal(verify(f, &tok, now, &who, &err), 0);
	}
	buf_clear(&tok);
	keyops_free(mine);
}

static void test_rotation(void **state)
{
	struct tfx *f = *state;
	struct identity_signing_key *list = NULL, made;
	struct jwk *keys = NULL;
	char(*kids)[IDENTITY_KID_MAX + 1] = NULL;
	struct principal_ref who;
	struct kl_err err = { 0 };
	struct jws_parts p;
	struct buf old, fresh;
	char old_kid[IDENTITY_KID_MAX + 1];
	int64_t now = clock_now_s();
	size_t n = 0, i;

	issue_at(f, IDENTITY_CRED_TOKEN, f->t.id, "https://vault.azure.net", now, &old);
	jws_parts_init(&p);
	assert_int_equal(jws_parse((const char *)old.data, old.len, &p, &err), 0);
	snprintf(old_kid, sizeof(old_kid), "%s", json_string_value(json_object_get(p.header, "kid")));
	jws_parts_clear(&p);
	assert_int_equal(identity_signing_list(f->env.core, &list, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].kid, old_kid);
	assert_int_equal(list[0].retired, 0);
	free(list);

	assert_int_equal(identity_signing_rotate(f->env.core, &made, &err), 0);
	assert_string_not_equal(made.kid, old_kid);
	assert_memory_equal(made.kid, "kl-", 3);
	issue_at(f, IDENTITY_CRED_TOKEN, f->t.id, "https://vault.azure.net", now, &fresh);
	assert_int_equal(jws_parse((const char *)fresh.data, fresh.len, &p, &err), 0);
	assert_string_equal(json_string_value(json_object_get(p.header, "kid")), made.kid);
	jws_parts_clear(&p);
	assert_int_equal(verify(f, &old, now, &who, &err), 0);
	assert_int_equal(verify(f, &fresh, now, &who, &err), 0);

	assert_int_equal(identity_signing_list(f->env.core, &list, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].kid, made.kid);
	assert_int_equal(list[0].retired, 0);
	assert_string_equal(list[1].kid, old_kid);
	assert_true(list[1].retired >= now);
	free(list);
	assert_int_equal(identity_signing_jwks(f->env.core, &keys, &kids, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(kids[0], made.kid);
	assert_string_equal(kids[1], old_kid);
	for (i = 0; i < n; i++) {
		assert_string_equal(keys[i].kty, "RSA");
		assert_int_equal(keys[i].n.len, 256);
		assert_int_equal(keys[i].d.len, 0);	/* never a private member */
		jwk_clear(&keys[i]);
	}
	free(keys);
	free(kids);
	/* ensure leaves an active key alone */
	assert_int_equal(identity_signing_ensure(f->env.core, &err), 0);
	assert_int_equal(identity_signing_list(f->env.core, &list, &n, &err), 0);
	assert_int_equal(n, 2);
	free(list);
	buf_clear(&old);
	buf_clear(&fresh);
}

/* Rotations stop short of the number of keys a node loads (IDENTITY_SIGNING_KEYS_MAX): past it
 * the active key could be left out of a node's cache and every token request would fail. */
static void test_rotation_limit(void **state)
{
	struct tfx *f = *state;
	struct identity_signing_key *list = NULL, made;
	struct principal_ref who;
	struct kl_err err = { 0 };
	struct buf first, last;
	int64_t now = clock_now_s();
	size_t n = 0, i;

	issue_at(f, IDENTITY_CRED_TOKEN, f->t.id, "https://vault.azure.net", now, &first);
	for (i = 1; i < IDENTITY_SIGNING_KEYS_MAX; i++)
		assert_int_equal(identity_signing_rotate(f->env.core, &made, &err), 0);
	assert_int_equal(identity_signing_rotate(f->env.core, &made, &err), -1);
	assert_int_equal(err.code, KL_ECONFLICT);
	assert_string_equal(err.azure_code, "TooManySigningKeys");
	kl_err_clear(&err);
	assert_int_equal(identity_signing_list(f->env.core, &list, &n, &err), 0);
	assert_int_equal(n, IDENTITY_SIGNING_KEYS_MAX);
	assert_int_equal(list[0].retired, 0);
	free(list);
	issue_at(f, IDENTITY_CRED_TOKEN, f->t.id, "https://vault.azure.net", now, &last);
	assert_int_equal(verify(f, &first, now, &who, &err), 0);
	assert_int_equal(verify(f, &last, now, &who, &err), 0);
	buf_clear(&first);
	buf_clear(&last);
}

/* A read-only node: no key is made at start, none can be rotated, tokens cannot be issued until
 * a key exists; once the writable node made one, the read-only node signs and verifies. */
static void test_read_only_node(void **state)
{
	struct fixture_dir dir;
	struct vault_core *core = NULL;
	struct identity_signing_key *list = NULL, made;
	struct principal_ref who = { 0 };
	struct identity_grant g = { .who = &who, .cred_kind = IDENTITY_CRED_FEDERATED,
				    .cred_id = "x", .resource = "https://vault.azure.net",
				    .issuer = ISSUER };
	struct kl_err err = { 0 };
	struct buf tok;
	size_t n = 9;
	int64_t exp;

	(void)state;
	assert_int_equal(vault_env_open(&dir, &core, NULL, 7), 0);
	vault_core_close(core);
	assert_non_null(core = fixture_core_open_mode(&dir, 7, true, &err));
	assert_int_equal(identity_signing_ensure(core, &err), 0);
	assert_int_equal(identity_signing_list(core, &list, &n, &err), 0);
	assert_int_equal(n, 0);
	free(list);
	assert_int_equal(identity_signing_rotate(core, &made, &err), -1);
	assert_int_equal(err.code, KL_EREADONLY);
	snprintf(who.id, sizeof(who.id), "00000000-0000-4000-8000-000000000000");
	buf_init_secret(&tok, JWS_MAX_BYTES);
	assert_int_equal(identity_token_issue(core, &g, &tok, &exp, &err), -1);
	assert_int_equal(err.code, KL_EUNAVAIL);
	vault_core_close(core);
	/* a writable node makes the key when it first needs one (here without a start-up ensure);
	 * the read-only one then signs with it */
	assert_non_null(core = fixture_core_open(&dir, 7, &err));
	assert_int_equal(identity_token_issue(core, &g, &tok, &exp, &err), 0);
	buf_reset(&tok);
	assert_int_equal(identity_signing_list(core, &list, &n, &err), 0);
	assert_int_equal(n, 1);
	free(list);
	vault_core_close(core);
	assert_non_null(core = fixture_core_open_mode(&dir, 7, true, &err));
	assert_int_equal(identity_token_issue(core, &g, &tok, &exp, &err), 0);
	buf_clear(&tok);
	vault_env_close(&dir, core);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_audience_of, setup, teardown),
		cmocka_unit_test_setup_teardown(test_issue_and_verify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_issue_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expired_and_not_yet_valid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revoked_kluis_token, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revoked_client_secret, setup, teardown),
		cmocka_unit_test_setup_teardown(test_federated_subject, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deleted_principal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forgeries_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotation_limit, setup, teardown),
		cmocka_unit_test(test_read_only_node),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
