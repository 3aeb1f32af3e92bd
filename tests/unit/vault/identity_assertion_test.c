/* vault/assertion and vault/replay: client assertions signed by a registered certificate in the
 * forms msal-node (PS256, x5t#S256, integer claims) and msal Python (RS256, padded x5t, float
 * claims, no nbf) send, and ES256; accepted once, refused on replay; refused for a wrong aud, iss
 * or sub, an expired one or one too far ahead, nbf or iat in the future, no jti, an unregistered
 * or revoked certificate, a signature by another key; federated tokens of the trusted OpenID
 * issuer; the replay register on a read-only node and its sweep. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/sha.h>

#include "crypto/jws.h"
#include "crypto/jwt.h"
#include "crypto/keyops.h"
#include "crypto/x509.h"
#include "util/b64url.h"
#include "util/clock.h"
#include "util/json.h"
#include "vault_fixture.h"
#include "vault/identity.h"
#include "vault/identity_internal.h"
#include "vault/internal.h"
#include "vault/principals.h"

#define URL "https://kluis.test:8443/adfs/oauth2/v2.0/token"
#define OIDC_ISS "https://issuer.test"
#define OIDC_AUD "api://AzureADTokenExchange"

struct afx {
	struct vault_env env;
	struct principal p;
	struct keyops_key *rsa, *ec, *other, *oidc;
	struct buf rsa_der, ec_der, other_der;
	struct identity_credential rsa_cred, ec_cred;
	struct jwt_keyset *ks;
};

static void self_signed(struct keyops_key *k, const char *cn, struct buf *der)
{
	struct x509_profile prof = { .subject = cn, .not_before = clock_now_s() - 60,
				     .not_after = clock_now_s() + 86400 * 30 };
	struct kl_err err = { 0 };

	buf_init(der, 64 * 1024);
	if (x509_self_sign(k, &prof, der, &err) != 0)
		fail_msg("self_sign: %s", err.msg);
}

/* A JWKS file holding key's public part under kid "oidc-1"; the issuer trusted with it. */
static struct jwt_keyset *trust(struct afx *f)
{
	struct kl_err err = { 0 };
	char path[] = "/tmp/kluis-assert-jwks-XXXXXX";
	struct jwt_keyset *ks;
	struct jwk j;
	json_t *o, *doc;
	int fd;

	jwk_init(&j);
	assert_int_equal(keyops_public_jwk(f->oidc, &j, &err), 0);
	o = jwk_public_json(&j, "oidc-1");
	jwk_clear(&j);
	doc = json_pack("{s:[o]}", "keys", o);
	assert_true((fd = mkstemp(path)) >= 0);
	assert_int_equal(json_dumpfd(doc, fd, 0), 0);
	close(fd);
	json_decref(doc);
	ks = jwt_keyset_load(path, &err);
	unlink(path);
	assert_non_null(ks);
	vault_core_trust_oidc(f->env.core, ks, OIDC_ISS, OIDC_AUD);
	return ks;
}

static int setup(void **state)
{
	struct kl_err err = { 0 };
	struct afx *f = calloc(1, sizeof(*f));
	struct principal_token t;
	char token[TOKEN_TEXT_LEN];

	json_util_init();
	if (f == NULL || vault_env_open(&f->env.dir, &f->env.core, NULL, 7) != 0)
		return -1;
	if ((f->rsa = keyops_generate_rsa(2048, 0, &err)) == NULL ||
	    (f->ec = keyops_generate_ec("P-256", &err)) == NULL ||
	    (f->other = keyops_generate_rsa(2048, 0, &err)) == NULL ||
	    (f->oidc = keyops_generate_rsa(2048, 0, &err)) == NULL)
		return -1;
	self_signed(f->rsa, "CN=app1-rsa", &f->rsa_der);
	self_signed(f->ec, "CN=app1-ec", &f->ec_der);
	self_signed(f->other, "CN=unregistered", &f->other_der);
	if (principal_create(f->env.core, "app1", "application", "system:serviceaccount:ns:app1", 0,
			     &f->p, &t, token, &err) != 0 ||
	    identity_cert_add(f->env.core, "app1", f->rsa_der.data, f->rsa_der.len, "rsa",
			      &f->rsa_cred, &err) != 0 ||
	    identity_cert_add(f->env.core, f->p.id, f->ec_der.data, f->ec_der.len, "ec", &f->ec_cred,
			      &err) != 0) {
		fprintf(stderr, "setup: %s\n", err.msg);
		return -1;
	}
	f->ks = trust(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct afx *f = *state;

	vault_env_close(&f->env.dir, f->env.core);
	jwt_keyset_free(f->ks);
	keyops_free(f->rsa);
	keyops_free(f->ec);
	keyops_free(f->other);
	keyops_free(f->oidc);
	buf_clear(&f->rsa_der);
	buf_clear(&f->ec_der);
	buf_clear(&f->other_der);
	free(f);
	return 0;
}

/* The thumbprint members: x5t#S256 unpadded (msal-node), or x5t with padding (msal Python). */
static json_t *header_for(const char *alg, const struct buf *der, bool sha1)
{
	unsigned char d[32];
	struct kl_err err = { 0 };
	struct buf t;
	json_t *h;

	buf_init(&t, 64);
	if (sha1) {
		SHA1(der->data, der->len, d);
		assert_int_equal(b64url_encode(d, 20, &t, &err), 0);
		assert_int_equal(buf_putc(&t, '=', &err), 0);	/* 20 bytes: 27 characters + "=" */
	} else {
		SHA256(der->data, der->len, d);
		assert_int_equal(b64url_encode(d, 32, &t, &err), 0);
	}
	h = json_pack("{s:s, s:s, s:s}", "alg", alg, "typ", "JWT", sha1 ? "x5t" : "x5t#S256",
		      buf_cstr(&t));
	buf_clear(&t);
	return h;
}

/* header.claims signed by key with alg, by hand (jws_sign knows RS256 and ES256 only). */
static void sign_with(const struct keyops_key *key, const char *alg, json_t *header,
		      json_t *claims, struct buf *out)
{
	unsigned char d[32];
	struct kl_err err = { 0 };
	struct buf sig, text;

	buf_init_secret(out, JWS_MAX_BYTES);
	buf_init(&sig, 1024);
	buf_init(&text, JWS_MAX_BYTES);
	assert_int_equal(json_util_dump(header, &text, &err), 0);
	assert_int_equal(b64url_encode(text.data, text.len, out, &err), 0);
	assert_int_equal(buf_putc(out, '.', &err), 0);
	buf_reset(&text);
	assert_int_equal(json_util_dump(claims, &text, &err), 0);
	assert_int_equal(b64url_encode(text.data, text.len, out, &err), 0);
	SHA256(out->data, out->len, d);
	assert_int_equal(keyops_sign(key, alg, d, sizeof(d), &sig, &err), 0);
	assert_int_equal(buf_putc(out, '.', &err), 0);
	assert_int_equal(b64url_encode(sig.data, sig.len, out, &err), 0);
	buf_clear(&sig);
	buf_clear(&text);
	json_decref(header);
	json_decref(claims);
}

/* msal-node's claims: integers, nbf = iat, exp = iat + 600, a fresh jti. */
static json_t *js_claims(const char *client, const char *aud, int64_t now, const char *jti)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "aud", aud, "iss", client, "sub",
			 client, "jti", jti, "iat", (json_int_t)now, "nbf", (json_int_t)now, "exp",
			 (json_int_t)(now + 600));
}

static int check(struct afx *f, const char *client, const struct buf *a, int64_t now,
		 struct principal_ref *who, enum identity_cred_kind *kind, char *cred,
		 struct kl_err *err)
{
	return assertion_check_at(f->env.core, client, (const char *)a->data, a->len, URL, now, who,
				  kind, cred, err);
}

static void expect_refused(struct afx *f, const char *client, const struct buf *a, int64_t now,
			   const char *why)
{
	char cred[IDENTITY_CRED_ID_MAX + 1];
	enum identity_cred_kind kind;
	struct principal_ref who;
	struct kl_err err = { 0 };

	assert_int_equal(check(f, client, a, now, &who, &kind, cred, &err), -1);
	assert_int_equal(err.code, KL_EUNAUTH);
	assert_string_equal(err.azure_code, "InvalidClientAssertion");
	if (strstr(err.msg, why) == NULL)
		fail_msg("refused for '%s', expected '%s'", err.msg, why);
	assert_string_equal(who.id, "");
}

static void test_msal_node_form_once(void **state)
{
	struct afx *f = *state;
	char cred[IDENTITY_CRED_ID_MAX + 1];
	enum identity_cred_kind kind = IDENTITY_CRED_TOKEN;
	struct principal_ref who;
	struct kl_err err = { 0 };
	int64_t now = clock_now_s();
	struct buf a;

	sign_with(f->rsa, "PS256", header_for("PS256", &f->rsa_der, false),
		  js_claims("app1", URL, now, "jti-node-1"), &a);
	assert_int_equal(check(f, "app1", &a, now, &who, &kind, cred, &err), 0);
	assert_string_equal(who.id, f->p.id);
	assert_string_equal(who.name, "app1");
	assert_int_equal(kind, IDENTITY_CRED_CERT);
	assert_string_equal(cred, f->rsa_cred.id);
	/* the same assertion again: a replay */
	expect_refused(f, "app1", &a, now, "used before");
	buf_clear(&a);
	/* by the principal's id as client id, ES256 with the EC certificate */
	sign_with(f->ec, "ES256", header_for("ES256", &f->ec_der, false),
		  js_claims(f->p.id, URL, now, "jti-node-2"), &a);
	assert_int_equal(check(f, f->p.id, &a, now, &who, &kind, cred, &err), 0);
	assert_string_equal(cred, f->ec_cred.id);
	buf_clear(&a);
}

static void test_msal_python_form(void **state)
{
	struct afx *f = *state;
	char cred[IDENTITY_CRED_ID_MAX + 1];
	enum identity_cred_kind kind;
	struct principal_ref who;
	struct kl_err err = { 0 };
	double now = (double)clock_now_s() + 0.25;
	struct buf a;

	/* floats, no nbf, padded SHA-1 x5t, aud with the default port written out and a slash */
	sign_with(f->rsa, "RS256", header_for("RS256", &f->rsa_der, true),
		  json_pack("{s:s, s:s, s:s, s:s, s:f, s:f}", "aud",
			    "https://KLUIS.test:8443/adfs/oauth2/v2.0/token/", "iss", "app1", "sub",
			    "app1", "jti", "py-1", "iat", now, "exp", now + 600),
		  &a);
	assert_int_equal(check(f, "app1", &a, (int64_t)now, &who, &kind, cred, &err), 0);
	assert_string_equal(cred, f->rsa_cred.id);
	expect_refused(f, "app1", &a, (int64_t)now, "used before");
	buf_clear(&a);
	/* ":443" is the default port of https */
	sign_with(f->rsa, "RS256", header_for("RS256", &f->rsa_der, true),
		  js_claims("app1", "https://kluis.test:443/adfs/oauth2/v2.0/token", (int64_t)now,
			    "py-2"),
		  &a);
	assert_int_equal(assertion_check_at(f->env.core, "app1", (const char *)a.data, a.len,
					    "https://kluis.test/adfs/oauth2/v2.0/token",
					    (int64_t)now, &who, &kind, cred, &err), 0);
	buf_clear(&a);
}

static void test_claim_refusals(void **state)
{
	struct afx *f = *state;
	int64_t now = clock_now_s();
	struct buf a;
	json_t *c;

	sign_with(f->rsa, "PS256", header_for("PS256", &f->rsa_der, false),
		  js_claims("app1", "https://kluis.test:8443/common/oauth2/v2.0/token", now, "r1"), &a);
	expect_refused(f, "app1", &a, now, "aud");
	buf_clear(&a);
	sign_with(f->rsa, "PS256", header_for("PS256", &f->rsa_der, false),
		  js_claims("app1", "https://other.test:8443/adfs/oauth2/v2.0/token", now, "r2"), &a);
	expect_refused(f, "app1", &a, now, "aud");
	buf_clear(&a);
	sign_with(f->rsa, "PS256", header_for("PS256", &f->rsa_der, false),
		  js_claims("someone-else", URL, now, "r3"), &a);
	expect_refused(f, "app1", &a, now, "iss and sub");
	buf_clear(&a);
	c = js_claims("app1", URL, now, "r4");
	json_object_set_new(c, "sub", json_string("other"));
	sign_with(f->rsa, "PS256", header_for("PS256", &f->rsa_der, false), c, &a);
	expect_refused(f, "app1", &a, now, "iss and sub");
	buf_clear(&a);
	/* expired (past the skew), and too far ahead */
	sign_with(f->rsa, "PS256", header_for("PS256", &f->rsa_der, false),
		  js_claims("app1", URL, now - 600 - 61, "r5"), &a);
	expect_refused(f, "app1", &a, now, "expired");
	buf_clear(&a);
	c = js_claims("app1", URL, now, "r6");
	json_object_set_new(c, "exp", json_integer(now + IDENTITY_ASSERTION_MAX_S + 120));
	sign_with(f->rsa, "PS256", header_for("PS256", &f->rsa_der, false), c, &a);
	expect_refused(f, "app1", &a, now, "too far ahead");
	buf_clear(&a);
	c = js_claims("app1", URL, now, "r7");
	json_object_set_new(c, "nbf", json_integer(now + 120));
	sign_with(f->rsa, "PS256", header_for("PS256", &f->rsa_der, false), c, &a);
	expect_refused(f, "app1", &a, now, "nbf");
	buf_clear(&a);
	c = js_claims("app1", URL, now, "r8");
	json_object_set_new(c, "iat", json_integer(now + 120));
	sign_with(f->rsa, "PS256", header_for("PS256", &f->rsa_der, false), c, &a);
	expect_refused(f, "app1", &a, now, "iat");
	buf_clear(&a);
	c = js_claims("app1", URL, now, "r9");
	json_object_del(c, "jti");
	sign_with(f->rsa, "PS256", header_for("PS256", &f->rsa_der, false), c, &a);
	expect_refused(f, "app1", &a, now, "jti");
	buf_clear(&a);
	c = js_claims("app1", URL, now, "r10");
	json_object_set_new(c, "exp", json_string("soon"));
	sign_with(f->rsa, "PS256", header_for("PS256", &f->rsa_der, false), c, &a);
	expect_refused(f, "app1", &a, now, "exp");
	buf_clear(&a);
	/* the refusals above were the claims': the same form with good claims passes */
	sign_with(f->rsa, "PS256", header_for("PS256", &f->rsa_der, false),
		  js_claims("app1", URL, now, "r11"), &a);
	{
		char cred[IDENTITY_CRED_ID_MAX + 1];
		enum identity_cred_kind kind;
		struct principal_ref who;
		struct kl_err err = { 0 };

		assert_int_equal(check(f, "app1", &a, now, &who, &kind, cred, &err), 0);
	}
	buf_clear(&a);
}

static void test_certificate_refusals(void **state)
{
	struct afx *f = *state;
	struct identity_credential out;
	char cred[IDENTITY_CRED_ID_MAX + 1];
	enum identity_cred_kind kind;
	struct principal_ref who;
	struct kl_err err = { 0 };
	int64_t now = clock_now_s();
	struct buf a;

	/* a certificate nobody registered */
	sign_with(f->other, "PS256", header_for("PS256", &f->other_der, false),
		  js_claims("app1", URL, now, "c1"), &a);
	expect_refused(f, "app1", &a, now, "thumbprint");
	buf_clear(&a);
	/* the registered certificate's thumbprint, another key's signature */
	sign_with(f->other, "PS256", header_for("PS256", &f->rsa_der, false),
		  js_claims("app1", URL, now, "c2"), &a);
	expect_refused(f, "app1", &a, now, "signature");
	buf_clear(&a);
	/* an RSA algorithm over the EC certificate, HS256 over the RSA one */
	sign_with(f->rsa, "RS256", header_for("RS256", &f->ec_der, false),
		  js_claims("app1", URL, now, "c3"), &a);
	expect_refused(f, "app1", &a, now, "alg");
	buf_clear(&a);
	sign_with(f->rsa, "RS256", header_for("HS256", &f->rsa_der, false),
		  js_claims("app1", URL, now, "c4"), &a);
	expect_refused(f, "app1", &a, now, "alg");
	buf_clear(&a);
	/* a thumbprint of the wrong length */
	sign_with(f->rsa, "RS256", json_pack("{s:s, s:s}", "alg", "RS256", "x5t", "AAAA"),
		  js_claims("app1", URL, now, "c5"), &a);
	expect_refused(f, "app1", &a, now, "thumbprint");
	buf_clear(&a);
	/* not a JWS */
	buf_init(&a, 64);
	assert_int_equal(buf_append_str(&a, "not.a.jws!", &err), 0);
	expect_refused(f, "app1", &a, now, "compact JWS");
	buf_clear(&a);
	/* an unknown client, whatever it sends */
	buf_init(&a, 64);
	assert_int_equal(buf_append_str(&a, "garbage", &err), 0);
	assert_int_equal(check(f, "nobody", &a, now, &who, &kind, cred, &err), -1);
	assert_int_equal(err.code, KL_ENOTFOUND);
	buf_clear(&a);
	sign_with(f->rsa, "PS256", header_for("PS256", &f->rsa_der, false),
		  js_claims("nobody", URL, now, "c6"), &a);
	assert_int_equal(check(f, "nobody", &a, now, &who, &kind, cred, &err), -1);
	assert_int_equal(err.code, KL_ENOTFOUND);
	assert_string_equal(err.azure_code, "PrincipalNotFound");
	buf_clear(&a);
	/* a revoked certificate: a good assertion first, then after the revocation */
	sign_with(f->rsa, "PS256", header_for("PS256", &f->rsa_der, false),
		  js_claims("app1", URL, now, "c7"), &a);
	assert_int_equal(check(f, "app1", &a, now, &who, &kind, cred, &err), 0);
	buf_clear(&a);
	assert_int_equal(identity_credential_revoke(f->env.core, f->p.id, f->rsa_cred.id, &out, &err),
			 0);
	sign_with(f->rsa, "PS256", header_for("PS256", &f->rsa_der, false),
		  js_claims("app1", URL, now, "c8"), &a);
	expect_refused(f, "app1", &a, now, "thumbprint");
	buf_clear(&a);
}

/* A token of the trusted OpenID issuer for subject sub; with x5t, its header names the issuer's
 * certificate as GitHub's and Entra ID's tokens do. */
static void federated_x5t(struct afx *f, const char *iss, const char *sub, int64_t now,
			  bool x5t, struct buf *a)
{
	struct kl_err err = { 0 };
	json_t *h = x5t ? json_pack("{s:s, s:s}", "kid", "oidc-1", "x5t",
				    "nYkDCVS5Ma2GSZIqOfBqkmN9yYc")
			: json_pack("{s:s}", "kid", "oidc-1");
	json_t *c = json_pack("{s:s, s:s, s:s, s:I, s:I}", "iss", iss, "sub", sub, "aud", OIDC_AUD,
			      "iat", (json_int_t)now, "exp", (json_int_t)(now + 3600));

	buf_init_secret(a, JWS_MAX_BYTES);
	assert_int_equal(jws_sign(f->oidc, h, c, a, &err), 0);
	json_decref(h);
	json_decref(c);
}

static void federated(struct afx *f, const char *iss, const char *sub, int64_t now, struct buf *a)
{
	federated_x5t(f, iss, sub, now, false, a);
}

static void test_federated(void **state)
{
	struct afx *f = *state;
	char cred[IDENTITY_CRED_ID_MAX + 1], sid[33];
	enum identity_cred_kind kind = IDENTITY_CRED_CERT;
	struct principal other;
	struct principal_token t;
	struct principal_ref who;
	struct kl_err err = { 0 };
	char token[TOKEN_TEXT_LEN];
	int64_t now = clock_now_s();
	struct buf a;

	federated(f, OIDC_ISS, "system:serviceaccount:ns:app1", now, &a);
	assert_int_equal(check(f, "app1", &a, now, &who, &kind, cred, &err), 0);
	assert_string_equal(who.id, f->p.id);
	assert_int_equal(kind, IDENTITY_CRED_FEDERATED);
	assert_int_equal(accesstoken_subject_id("system:serviceaccount:ns:app1", sid, &err), 0);
	assert_string_equal(cred, sid);
	buf_clear(&a);
	/* the issuer's certificate named in the header does not make it a certificate assertion */
	federated_x5t(f, OIDC_ISS, "system:serviceaccount:ns:app1", now, true, &a);
	kind = IDENTITY_CRED_CERT;
	assert_int_equal(check(f, "app1", &a, now, &who, &kind, cred, &err), 0);
	assert_int_equal(kind, IDENTITY_CRED_FEDERATED);
	/* Azure lets a federated token be exchanged again until it expires */
	assert_int_equal(check(f, "app1", &a, now, &who, &kind, cred, &err), 0);
	/* ... but not for another principal */
	assert_int_equal(principal_create(f->env.core, "app2", "application", NULL, 0, &other, &t,
					  token, &err), 0);
	expect_refused(f, "app2", &a, now, "another principal");
	buf_clear(&a);
	/* a subject nobody has, another issuer, an expired token */
	federated(f, OIDC_ISS, "system:serviceaccount:ns:nobody", now, &a);
	expect_refused(f, "app1", &a, now, "subject");
	buf_clear(&a);
	federated(f, "https://evil.test", "system:serviceaccount:ns:app1", now, &a);
	expect_refused(f, "app1", &a, now, "issuer");
	buf_clear(&a);
	federated(f, OIDC_ISS, "system:serviceaccount:ns:app1", now - 7200, &a);
	expect_refused(f, "app1", &a, now, "expired");
	buf_clear(&a);
	/* without a trusted issuer there is no federated route at all */
	vault_core_trust_oidc(f->env.core, NULL, NULL, NULL);
	federated(f, OIDC_ISS, "system:serviceaccount:ns:app1", now, &a);
	expect_refused(f, "app1", &a, now, "no OpenID issuer");
	buf_clear(&a);
}

static size_t count_replay_records(struct vault_core *core)
{
	struct key_list l = { 0 };
	struct kl_err err = { 0 };
	size_t n;

	assert_int_equal(store_scan(core->st, "J/", 2, NULL, 0, key_list_collect, &l, &err), 0);
	n = l.n;
	key_list_clear(&l);
	return n;
}

static void test_replay_register(void **state)
{
	struct afx *f = *state;
	struct kl_err err = { 0 };
	int64_t now = clock_now_s();

	assert_int_equal(replay_note_at(f->env.core, "app1", "j1", now + 600, now, &err), 0);
	assert_int_equal(replay_note_at(f->env.core, "app1", "j1", now + 600, now, &err), -1);
	assert_int_equal(err.code, KL_ECONFLICT);
	assert_string_equal(err.azure_code, "AssertionReplayed");
	/* another issuer with the same jti is another assertion */
	assert_int_equal(replay_note_at(f->env.core, "app2", "j1", now + 600, now, &err), 0);
	/* iss "a" + jti "bc" is not iss "ab" + jti "c" */
	assert_int_equal(replay_note_at(f->env.core, "a", "bc", now + 600, now, &err), 0);
	assert_int_equal(replay_note_at(f->env.core, "ab", "c", now + 600, now, &err), 0);
	assert_int_equal(count_replay_records(f->env.core), 4);
	/* past exp and skew the record may be reused, and the sweep removes it */
	assert_int_equal(replay_note_at(f->env.core, "app1", "j1", now + 2000, now + 700, &err), 0);
	assert_int_equal(identity_replay_sweep(f->env.core, now + 700, &err), 0);
	assert_int_equal(count_replay_records(f->env.core), 1);	/* app1/j1 until now + 2000 */
	assert_int_equal(identity_replay_sweep(f->env.core, now + 2100, &err), 0);
	assert_int_equal(count_replay_records(f->env.core), 0);
	assert_int_equal(replay_note_at(f->env.core, "", "j", now + 1, now, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
}

static void test_replay_read_only(void **state)
{
	struct fixture_dir dir;
	struct vault_core *core = NULL;
	struct kl_err err = { 0 };
	int64_t now = clock_now_s();

	(void)state;
	assert_int_equal(vault_env_open(&dir, &core, NULL, 7), 0);
	/* noted by the writable node: the read-only one refuses it too */
	assert_int_equal(replay_note_at(core, "app1", "seen", now + 600, now, &err), 0);
	vault_core_close(core);
	assert_non_null(core = fixture_core_open_mode(&dir, 7, true, &err));
	assert_int_equal(replay_note_at(core, "app1", "seen", now + 600, now, &err), -1);
	assert_int_equal(err.code, KL_ECONFLICT);
	assert_int_equal(replay_note_at(core, "app1", "new", now + 600, now, &err), 0);
	assert_int_equal(replay_note_at(core, "app1", "new", now + 600, now, &err), -1);
	assert_int_equal(err.code, KL_ECONFLICT);
	assert_int_equal(count_replay_records(core), 1);	/* nothing written */
	/* the sweep forgets the in-process entries past their time */
	assert_int_equal(identity_replay_sweep(core, now + 700, &err), 0);
	assert_int_equal(replay_note_at(core, "app1", "new", now + 1400, now + 700, &err), 0);
	vault_env_close(&dir, core);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_msal_node_form_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msal_python_form, setup, teardown),
		cmocka_unit_test_setup_teardown(test_claim_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_certificate_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_federated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replay_register, setup, teardown),
		cmocka_unit_test(test_replay_read_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
