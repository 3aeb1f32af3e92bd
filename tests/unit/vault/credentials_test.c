/* vault/credentials: client secrets and registered client certificates of principals (add,
 * list, revoke, the limit, checking a secret, finding a certificate by either thumbprint, a
 * credential's liveness), the kluis-token lookups of principals.c for the identity routes, and
 * the cascade when a principal is deleted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "crypto/keyops.h"
#include "crypto/x509.h"
#include "util/b64url.h"
#include "util/clock.h"
#include "util/rec.h"
#include "vault/authenticate.h"
#include "vault/identity.h"
#include "vault/internal.h"
#include "vault_fixture.h"

struct cenv {
	struct vault_env e;
	struct keyops_key *key;
	struct principal p;
	char token[TOKEN_TEXT_LEN];
	struct principal_token tok;
};

static int setup(void **state)
{
	struct cenv *c = calloc(1, sizeof(*c));
	struct kl_err err = { 0 };

	if (c == NULL || vault_env_open(&c->e.dir, &c->e.core, NULL, 7) != 0 ||
	    (c->key = keyops_generate_ec("P-256", &err)) == NULL ||
	    principal_create(c->e.core, "app-one", "application", NULL, 0, &c->p, &c->tok,
			     c->token, &err) != 0) {
		fprintf(stderr, "setup: %s\n", err.msg);
		return -1;
	}
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct cenv *c = *state;

	keyops_free(c->key);
	vault_env_close(&c->e.dir, c->e.core);
	free(c);
	return 0;
}

/* A self-signed certificate of c's key, valid from not_before to not_after, as DER. */
static void make_cert(struct cenv *c, const char *subject, int64_t not_before, int64_t not_after,
		      struct buf *der)
{
	struct x509_profile p;
	struct kl_err err = { 0 };

	memset(&p, 0, sizeof(p));
	p.subject = subject;
	p.not_before = not_before;
	p.not_after = not_after;
	buf_init(der, X509_CERT_MAX);
	if (x509_self_sign(c->key, &p, der, &err) != 0)
		fail_msg("x509_self_sign: %s", err.msg);
}

/* A self-signed certificate of an RSA-1024 key, valid until 2126: too weak to register. */
static const char weak_rsa_pem[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIB/DCCAWWgAwIBAgIUEWta9GvJBkM1lNR76VdXCYmyhm0wDQYJKoZIhvcNAQEL\n"
	"BQAwDzENMAsGA1UEAwwEd2VhazAgFw0yNjEyMDcwODIwMThaGA8yMTI2MTExMzA4\n"
	"MjAxOFowDzENMAsGA1UEAwwEd2VhazCBnzANBgkqhkiG9w0BAQEFAAOBjQAwgYkC\n"
	"gYEArmTXyqXNws+A3zf4n8X5FBxsoOwuUUToFNP24kXwNGYx5NlEgzAl6FH9cpgG\n"
	"Rt6KkRhMc6ueYqRt2FVAN+kMAY/DVvTXqG6mhUhqd186+hNyy5mejBeR359z7FJr\n"
	"Ne+SHJ5lE0irmwN1Tg7FdTMpnYhEr1YLpBfBTMQsMdJE8tMCAwEAAaNTMFEwHQYD\n"
	"VR0OBBYEFFaBAmRJIA8nF+YP29SRWwRKK0EyMB8GA1UdIwQYMBaAFFaBAmRJIA8n\n"
	"F+YP29SRWwRKK0EyMA8GA1UdEwEB/wQFMAMBAf8wDQYJKoZIhvcNAQELBQADgYEA\n"
	"k9t2DGDZrR+KEuJkWAfu8BbvyD5zDe26PGfj7vS/psOCame919D9efwtF8fDOn+k\n"
	"dKEk3jC8ZmVAWIOw5xmc1jpJSZBYm2q44x4JSlR2R9DmKYnTYt0yRfIzr7Jhlbt9\n"
	"/tV4nd0RcwsOOVA/6vZAj8bbU87oHHDnt7j5a2hEtrg=\n"
	"-----END CERTIFICATE-----\n";

static void pem_of(const struct keyops_key *key, const struct buf *der, struct buf *pem)
{
	struct x509_chain chain;
	struct kl_err err = { 0 };

	x509_chain_init(&chain);
	buf_init_secret(pem, 1u << 20);
	assert_int_equal(x509_chain_add(&chain, der->data, der->len, &err), 0);
	assert_int_equal(x509_export_pem(key, &chain, pem, &err), 0);
	x509_chain_clear(&chain);
}

/* Rewrites the expiry of credential cred_id of principal pid in the store, as time passing
 * would make it: the record is format, type, id, description, created, expires... */
static void set_expiry(struct cenv *c, const char *pid, const char *cred_id, int64_t expires)
{
	char key[KEYBUF];
	struct buf val;
	struct rec_reader r;
	struct kl_err err = { 0 };
	size_t n, off;

	snprintf(key, sizeof(key), "C/%s/%s", pid, cred_id);
	buf_init(&val, 1u << 20);
	assert_int_equal(store_get(c->e.core->st, key, strlen(key), &val, NULL, &err), 0);
	rec_reader_init(&r, val.data, val.len);
	rec_get_u8(&r);
	rec_get_u8(&r);
	assert_non_null(rec_get_bytes(&r, &n));
	assert_non_null(rec_get_bytes(&r, &n));
	rec_get_i64(&r);	/* created */
	off = r.off;
	assert_false(r.bad);
	rec_be64(val.data + off, (uint64_t)expires);
	assert_int_equal(store_put(c->e.core->st, key, strlen(key), val.data, val.len, &err), 0);
	buf_clear(&val);
}

static void test_secret_lifecycle(void **state)
{
	struct cenv *c = *state;
	char secret[IDENTITY_SECRET_TEXT_LEN], other[IDENTITY_SECRET_TEXT_LEN];
	char cred_id[IDENTITY_CRED_ID_MAX + 1];
	struct identity_credential s1, s2, got, *list = NULL;
	struct principal_ref who;
	struct kl_err err = { 0 };
	size_t n = 0, i;

	assert_int_equal(identity_secret_add(c->e.core, "APP-ONE", "ci deploy", 0, &s1, secret,
					     &err), 0);
	assert_int_equal(strlen(secret), 48);
	assert_memory_equal(secret, "kls1.", 5);
	for (i = 5; i < 48; i++)
		assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				       "0123456789-_", secret[i]));
	assert_int_equal(s1.type, IDENTITY_CLIENT_SECRET);
	assert_string_equal(s1.description, "ci deploy");
	assert_memory_equal(s1.hint, secret + 5, 3);
	assert_int_equal(s1.expires, 0);
	assert_false(s1.revoked);

	/* By name and by id; the right secret only. */
	assert_int_equal(identity_secret_check(c->e.core, "app-one", secret, strlen(secret), &who,
					       cred_id, &err), 0);
	assert_string_equal(who.id, c->p.id);
	assert_string_equal(who.name, "app-one");
	assert_false(who.is_admin);
	assert_string_equal(cred_id, s1.id);
	assert_int_equal(identity_secret_check(c->e.core, c->p.id, secret, strlen(secret), &who,
					       cred_id, &err), 0);
	memcpy(other, secret, sizeof(other));
	other[20] = other[20] == 'A' ? 'B' : 'A';
	assert_int_equal(identity_secret_check(c->e.core, "app-one", other, strlen(other), &who,
					       cred_id, &err), -1);
	assert_int_equal(err.code, KL_EUNAUTH);
	assert_string_equal(err.azure_code, "InvalidClientSecret");
	assert_null(strstr(err.msg, secret));
	assert_string_equal(who.id, "");
	assert_int_equal(identity_secret_check(c->e.core, "app-one", secret, strlen(secret) - 1,
					       &who, cred_id, &err), -1);
	assert_int_equal(err.code, KL_EUNAUTH);
	assert_int_equal(identity_secret_check(c->e.core, "app-one", "", 0, &who, cred_id, &err), -1);
	assert_int_equal(err.code, KL_EUNAUTH);
	/* A kluis token is not a client secret. */
	assert_int_equal(identity_secret_check(c->e.core, "app-one", c->token, strlen(c->token),
					       &who, cred_id, &err), -1);
	assert_int_equal(err.code, KL_EUNAUTH);
	assert_int_equal(identity_secret_check(c->e.core, "nobody", secret, strlen(secret), &who,
					       cred_id, &err), -1);
	assert_int_equal(err.code, KL_ENOTFOUND);
	assert_string_equal(err.azure_code, "PrincipalNotFound");

	/* A second secret works beside the first; revoking one leaves the other. */
	assert_int_equal(identity_secret_add(c->e.core, c->p.id, NULL, clock_now_s() + 3600, &s2,
					     other, &err), 0);
	assert_string_not_equal(other, secret);
	assert_int_equal(s2.expires > clock_now_s(), 1);
	assert_int_equal(identity_credential_live(c->e.core, c->p.id, s1.id, NULL, &err), 0);
	assert_int_equal(identity_credential_revoke(c->e.core, "app-one", s1.id, &got, &err), 0);
	assert_true(got.revoked);
	assert_string_equal(got.id, s1.id);
	assert_int_equal(identity_credential_revoke(c->e.core, "app-one", s1.id, &got, &err), 0);
	assert_true(got.revoked);	/* again: nothing changes */
	assert_int_equal(identity_secret_check(c->e.core, "app-one", secret, strlen(secret), &who,
					       cred_id, &err), -1);
	assert_int_equal(err.code, KL_EUNAUTH);
	assert_int_equal(identity_credential_live(c->e.core, c->p.id, s1.id, NULL, &err), -1);
	assert_int_equal(err.code, KL_EUNAUTH);
	assert_int_equal(identity_secret_check(c->e.core, "app-one", other, strlen(other), &who,
					       cred_id, &err), 0);
	assert_string_equal(cred_id, s2.id);

	/* Expired: refused, and no longer live. */
	set_expiry(c, c->p.id, s2.id, clock_now_s() - 1);
	assert_int_equal(identity_secret_check(c->e.core, "app-one", other, strlen(other), &who,
					       cred_id, &err), -1);
	assert_int_equal(err.code, KL_EUNAUTH);
	assert_int_equal(identity_credential_live(c->e.core, c->p.id, s2.id, NULL, &err), -1);
	assert_int_equal(err.code, KL_EUNAUTH);

	/* Listed oldest first, revoked ones too; no secret text anywhere in a list. */
	assert_int_equal(identity_credentials_list(c->e.core, c->p.id, &list, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_true(list[0].created <= list[1].created);
	i = strcmp(list[0].id, s1.id) == 0 ? 0 : 1;	/* both may be of the same millisecond */
	assert_string_equal(list[i].id, s1.id);
	assert_true(list[i].revoked);
	assert_string_equal(list[1 - i].id, s2.id);
	assert_false(list[1 - i].revoked);
	assert_int_equal(list[1 - i].type, IDENTITY_CLIENT_SECRET);
	for (i = 0; i < n; i++)
		assert_null(memmem(&list[i], sizeof(list[i]), secret + 5, 10));
	free(list);

	/* Bad input. */
	assert_int_equal(identity_credential_revoke(c->e.core, "app-one", "not-an-id", &got, &err),
			 -1);
	assert_int_equal(err.code, KL_ENOTFOUND);
	assert_string_equal(err.azure_code, "CredentialNotFound");
	assert_int_equal(identity_credential_revoke(c->e.core, "app-one",
						    "00000000-0000-0000-0000-000000000000", &got,
						    &err), -1);
	assert_int_equal(err.code, KL_ENOTFOUND);
	assert_int_equal(identity_credential_revoke(c->e.core, "nobody", s2.id, &got, &err), -1);
	assert_int_equal(err.code, KL_ENOTFOUND);
	assert_int_equal(identity_secret_add(c->e.core, "app-one", NULL, clock_now_s() - 5, &got,
					     secret, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	assert_string_equal(secret, "");
	assert_int_equal(identity_secret_add(c->e.core, "app-one", "line\nbreak", 0, &got, secret,
					     &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	assert_int_equal(identity_secret_add(c->e.core, "app-one", "bad \xff utf8", 0, &got, secret,
					     &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	{
		char longd[200];

		memset(longd, 'd', sizeof(longd) - 1);
		longd[sizeof(longd) - 1] = '\0';
		assert_int_equal(identity_secret_add(c->e.core, "app-one", longd, 0, &got, secret,
						     &err), -1);
		assert_int_equal(err.code, KL_EINVAL);
	}
	assert_int_equal(identity_secret_add(c->e.core, "nobody", NULL, 0, &got, secret, &err), -1);
	assert_int_equal(err.code, KL_ENOTFOUND);
	assert_int_equal(identity_credentials_list(c->e.core, "nobody", &list, &n, &err), -1);
	assert_int_equal(err.code, KL_ENOTFOUND);
	assert_int_equal(identity_credential_live(c->e.core, "x", s2.id, NULL, &err), -1);
	assert_int_equal(err.code, KL_EUNAUTH);
	assert_int_equal(identity_credential_live(c->e.core, c->p.id, "../x", NULL, &err), -1);
	assert_int_equal(err.code, KL_EUNAUTH);
}

static void test_limit(void **state)
{
	struct cenv *c = *state;
	char secret[IDENTITY_SECRET_TEXT_LEN];
	struct identity_credential first, got;
	struct buf der;
	struct kl_err err = { 0 };
	int i;

	for (i = 0; i < IDENTITY_CREDENTIALS_MAX - 1; i++) {
		assert_int_equal(identity_secret_add(c->e.core, "app-one", NULL, 0, &got, secret,
						     &err), 0);
		if (i == 0)
			first = got;
	}
	make_cert(c, "CN=limit", clock_now_s() - 60, clock_now_s() + 86400, &der);
	assert_int_equal(identity_cert_add(c->e.core, "app-one", der.data, der.len, NULL, &got,
					   &err), 0);
	assert_int_equal(identity_secret_add(c->e.core, "app-one", NULL, 0, &got, secret, &err), -1);
	assert_int_equal(err.code, KL_ECONFLICT);
	assert_string_equal(err.azure_code, "TooManyCredentials");
	assert_string_equal(secret, "");
	/* Revoked and expired ones do not count. */
	assert_int_equal(identity_credential_revoke(c->e.core, "app-one", first.id, &got, &err), 0);
	assert_int_equal(identity_secret_add(c->e.core, "app-one", NULL, 0, &got, secret, &err), 0);
	assert_int_equal(identity_secret_add(c->e.core, "app-one", NULL, 0, &got, secret, &err), -1);
	assert_int_equal(err.code, KL_ECONFLICT);
	set_expiry(c, c->p.id, got.id, clock_now_s() - 1);	/* the last one added */
	assert_int_equal(identity_secret_add(c->e.core, "app-one", NULL, 0, &got, secret, &err), 0);
	assert_int_equal(identity_secret_add(c->e.core, "app-one", NULL, 0, &got, secret, &err), -1);
	assert_int_equal(err.code, KL_ECONFLICT);
	buf_clear(&der);
}

static void check_found(struct cenv *c, const char *client, const unsigned char *thumb,
			size_t len, const struct identity_credential *want, const struct buf *der)
{
	char cred_id[IDENTITY_CRED_ID_MAX + 1];
	struct principal_ref who;
	struct buf got;
	struct kl_err err = { 0 };

	buf_init(&got, X509_CERT_MAX);
	if (identity_cert_find(c->e.core, client, thumb, len, &who, cred_id, &got, &err) != 0)
		fail_msg("identity_cert_find: %s", err.msg);
	assert_string_equal(cred_id, want->id);
	assert_string_equal(who.id, c->p.id);
	assert_int_equal(got.len, der->len);
	assert_memory_equal(got.data, der->data, der->len);
	buf_clear(&got);
}

static void test_certificates(void **state)
{
	struct cenv *c = *state;
	unsigned char sha1[20], sha256[32];
	char hex1[41], hex256[65], cred_id[IDENTITY_CRED_ID_MAX + 1];
	struct identity_credential pem_cred, der_cred, b64_cred, got, *list = NULL;
	struct principal_ref who;
	struct principal other;
	struct principal_token ot;
	char otoken[TOKEN_TEXT_LEN];
	struct buf der, der2, der3, pem, pem_key, b64, found, expired;
	struct kl_err err = { 0 };
	int64_t now = clock_now_s();
	size_t n = 0, i;

	make_cert(c, "CN=app one, O=Example", now - 60, now + 86400, &der);
	make_cert(c, "CN=second", now - 60, now + 2 * 86400, &der2);
	make_cert(c, "CN=third", now - 60, now + 3 * 86400, &der3);
	assert_int_equal(x509_thumbprints(der.data, der.len, sha1, sha256, &err), 0);
	for (i = 0; i < 20; i++)
		snprintf(hex1 + 2 * i, 3, "%02x", sha1[i]);
	for (i = 0; i < 32; i++)
		snprintf(hex256 + 2 * i, 3, "%02x", sha256[i]);

	/* PEM text. */
	pem_of(NULL, &der, &pem);
	assert_int_equal(identity_cert_add(c->e.core, "app-one", pem.data, pem.len, "laptop",
					   &pem_cred, &err), 0);
	assert_int_equal(pem_cred.type, IDENTITY_CLIENT_CERT);
	assert_string_equal(pem_cred.sha1, hex1);
	assert_string_equal(pem_cred.sha256, hex256);
	assert_string_equal(pem_cred.subject, "CN=app one, O=Example");
	assert_string_equal(pem_cred.description, "laptop");
	assert_int_equal(pem_cred.expires, now + 86400);
	/* The same certificate again, in any form: refused. */
	assert_int_equal(identity_cert_add(c->e.core, c->p.id, der.data, der.len, NULL, &got, &err),
			 -1);
	assert_int_equal(err.code, KL_ECONFLICT);
	assert_string_equal(err.azure_code, "CertificateAlreadyRegistered");
	/* DER, and base64 of DER with line breaks. */
	assert_int_equal(identity_cert_add(c->e.core, c->p.id, der2.data, der2.len, NULL, &der_cred,
					   &err), 0);
	assert_string_equal(der_cred.subject, "CN=second");
	buf_init(&b64, 1u << 16);
	assert_int_equal(b64_std_encode(der3.data, der3.len, &b64, &err), 0);
	assert_int_equal(buf_append(&b64, "\n", 1, &err), 0);
	assert_int_equal(identity_cert_add(c->e.core, c->p.id, b64.data, b64.len, NULL, &b64_cred,
					   &err), 0);
	assert_string_equal(b64_cred.subject, "CN=third");

	/* Found by either thumbprint, by name or id; a wrong thumbprint or client is not. */
	check_found(c, "app-one", sha1, 20, &pem_cred, &der);
	check_found(c, c->p.id, sha256, 32, &pem_cred, &der);
	assert_int_equal(x509_thumbprints(der2.data, der2.len, sha1, sha256, &err), 0);
	check_found(c, "APP-ONE", sha256, 32, &der_cred, &der2);
	buf_init(&found, X509_CERT_MAX);
	sha256[0] ^= 1;
	assert_int_equal(identity_cert_find(c->e.core, "app-one", sha256, 32, &who, cred_id,
					    &found, &err), -1);
	assert_int_equal(err.code, KL_EUNAUTH);
	assert_int_equal(identity_cert_find(c->e.core, "app-one", sha256, 31, &who, cred_id,
					    &found, &err), -1);
	assert_int_equal(err.code, KL_EUNAUTH);
	assert_int_equal(identity_cert_find(c->e.core, "nobody", sha1, 20, &who, cred_id, &found,
					    &err), -1);
	assert_int_equal(err.code, KL_ENOTFOUND);
	assert_int_equal(principal_create(c->e.core, "app-two", "application", NULL, 0, &other, &ot,
					  otoken, &err), 0);
	assert_int_equal(identity_cert_find(c->e.core, "app-two", sha1, 20, &who, cred_id, &found,
					    &err), -1);
	assert_int_equal(err.code, KL_EUNAUTH);	/* registered for app-one, not app-two */
	assert_int_equal(found.len, 0);

	/* Revoked: not found; it may be registered again. Expired: not found. */
	assert_int_equal(identity_credential_revoke(c->e.core, "app-one", der_cred.id, &got, &err),
			 0);
	assert_int_equal(identity_cert_find(c->e.core, "app-one", sha1, 20, &who, cred_id, &found,
					    &err), -1);
	assert_int_equal(err.code, KL_EUNAUTH);
	assert_int_equal(identity_cert_add(c->e.core, "app-one", der2.data, der2.len, NULL, &got,
					   &err), 0);
	check_found(c, "app-one", sha1, 20, &got, &der2);
	assert_int_equal(x509_thumbprints(der3.data, der3.len, sha1, sha256, &err), 0);
	set_expiry(c, c->p.id, b64_cred.id, now - 1);
	assert_int_equal(identity_cert_find(c->e.core, "app-one", sha256, 32, &who, cred_id, &found,
					    &err), -1);
	assert_int_equal(err.code, KL_EUNAUTH);
	assert_int_equal(identity_credential_live(c->e.core, c->p.id, b64_cred.id, NULL, &err), -1);
	assert_int_equal(identity_credential_live(c->e.core, c->p.id, pem_cred.id, NULL, &err), 0);

	assert_int_equal(identity_credentials_list(c->e.core, "app-one", &list, &n, &err), 0);
	assert_int_equal(n, 4);
	for (i = 0; i < n && strcmp(list[i].id, pem_cred.id) != 0; i++)
		;
	assert_true(i < n);
	assert_string_equal(list[i].sha256, hex256);
	assert_string_equal(list[i].sha1, hex1);
	assert_true(list[i].created >= now && list[i].created <= clock_now_s());
	free(list);

	/* Refused: a private key with the certificate, a PKCS#12, an expired certificate,
	 * garbage, nothing, two certificates. */
	pem_of(c->key, &der, &pem_key);
	assert_int_equal(identity_cert_add(c->e.core, "app-two", pem_key.data, pem_key.len, NULL,
					   &got, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	assert_non_null(strstr(err.msg, "private key"));
	{
		struct x509_chain chain;
		struct buf pfx;

		x509_chain_init(&chain);
		buf_init_secret(&pfx, 1u << 20);
		assert_int_equal(x509_chain_add(&chain, der.data, der.len, &err), 0);
		assert_int_equal(x509_export_pfx(c->key, &chain, &pfx, &err), 0);
		assert_int_equal(identity_cert_add(c->e.core, "app-two", pfx.data, pfx.len, NULL,
						   &got, &err), -1);
		assert_int_equal(err.code, KL_EINVAL);
		assert_non_null(strstr(err.msg, "private key"));
		x509_chain_clear(&chain);
		buf_clear(&pfx);
	}
	assert_int_equal(identity_cert_add(c->e.core, "app-two", weak_rsa_pem, strlen(weak_rsa_pem),
					   NULL, &got, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	assert_non_null(strstr(err.msg, "1024"));
	{	/* a P-384 key: assertions are checked with P-256 or RSA keys only */
		struct keyops_key *p384 = keyops_generate_ec("P-384", &err), *k = c->key;
		struct buf der384;

		assert_non_null(p384);
		c->key = p384;
		make_cert(c, "CN=p384", now - 60, now + 86400, &der384);
		c->key = k;
		assert_int_equal(identity_cert_add(c->e.core, "app-two", der384.data, der384.len,
						   NULL, &got, &err), -1);
		assert_int_equal(err.code, KL_EINVAL);
		assert_non_null(strstr(err.msg, "P-256"));
		keyops_free(p384);
		buf_clear(&der384);
	}
	make_cert(c, "CN=old", now - 2 * 86400, now - 86400, &expired);
	assert_int_equal(identity_cert_add(c->e.core, "app-two", expired.data, expired.len, NULL,
					   &got, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	assert_non_null(strstr(err.msg, "expired"));
	assert_int_equal(identity_cert_add(c->e.core, "app-two", "garbage", 7, NULL, &got, &err),
			 -1);
	assert_int_equal(err.code, KL_EINVAL);
	assert_int_equal(identity_cert_add(c->e.core, "app-two", "\x30\x03\x02\x01\x01", 5, NULL,
					   &got, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	assert_int_equal(identity_cert_add(c->e.core, "app-two", "", 0, NULL, &got, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	assert_int_equal(identity_cert_add(c->e.core, "app-two", der.data, der.len - 1, NULL, &got,
					   &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	{
		struct buf two;

		buf_init(&two, 1u << 20);
		assert_int_equal(buf_append(&two, pem.data, pem.len, &err), 0);
		buf_clear(&pem);
		pem_of(NULL, &der2, &pem);
		assert_int_equal(buf_append(&two, pem.data, pem.len, &err), 0);
		assert_int_equal(identity_cert_add(c->e.core, "app-two", two.data, two.len, NULL,
						   &got, &err), -1);
		assert_int_equal(err.code, KL_EINVAL);
		buf_clear(&two);
	}
	assert_int_equal(identity_cert_add(c->e.core, "nobody", der.data, der.len, NULL, &got,
					   &err), -1);
	assert_int_equal(err.code, KL_ENOTFOUND);
	assert_int_equal(identity_credentials_list(c->e.core, "app-two", &list, &n, &err), 0);
	assert_int_equal(n, 0);
	free(list);

	buf_clear(&der);
	buf_clear(&der2);
	buf_clear(&der3);
	buf_clear(&pem);
	buf_clear(&pem_key);
	buf_clear(&b64);
	buf_clear(&found);
	buf_clear(&expired);
}

static void test_token_lookups(void **state)
{
	struct cenv *c = *state;
	char token_id[37], admin[128], token2[TOKEN_TEXT_LEN];
	struct principal_token t2, got;
	struct principal_ref who;
	struct kl_err err = { 0 };

	assert_int_equal(principal_authenticate_token(c->e.core, c->token, strlen(c->token), &who,
						      token_id, NULL, &err), 0);
	assert_string_equal(who.id, c->p.id);
	assert_string_equal(who.name, "app-one");
	assert_false(who.is_admin);
	assert_string_equal(token_id, c->tok.id);
	assert_int_equal(principal_token_live(c->e.core, c->p.id, c->tok.id, NULL, &err), 0);

	/* Never the admin token; nothing that is not a live kluis token. */
	assert_int_equal(fixture_admin_token(&c->e.dir, admin, sizeof(admin)), 0);
	assert_int_equal(authenticate_bearer(c->e.core, admin, strlen(admin), &who, &err), 0);
	assert_true(who.is_admin);
	assert_int_equal(principal_authenticate_token(c->e.core, admin, strlen(admin), &who,
						      token_id, NULL, &err), -1);
	assert_int_equal(err.code, KL_EUNAUTH);
	assert_false(who.is_admin);
	assert_string_equal(token_id, "");
	assert_int_equal(principal_authenticate_token(c->e.core, "kl1.nope", 8, &who, token_id,
						      NULL, &err), -1);
	assert_int_equal(err.code, KL_EUNAUTH);
	assert_int_equal(principal_authenticate_token(c->e.core, "", 0, &who, token_id, NULL, &err), -1);
	assert_int_equal(err.code, KL_EUNAUTH);
	assert_int_equal(principal_authenticate_token(c->e.core, "eyJhbGciOiJIUzI1NiJ9.e30.c2ln"
						      "bmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU", 62,
						      &who, token_id, NULL, &err), -1);
	assert_int_equal(err.code, KL_EUNAUTH);

	/* A second token; revoking it stops it on both paths, the first one keeps working. */
	assert_int_equal(principal_token_add(c->e.core, c->p.id, 0, &t2, token2, &err), 0);
	assert_int_equal(principal_authenticate_token(c->e.core, token2, strlen(token2), &who,
						      token_id, NULL, &err), 0);
	assert_string_equal(token_id, t2.id);
	assert_int_equal(principal_token_revoke(c->e.core, c->p.id, t2.id, &got, &err), 0);
	assert_int_equal(principal_authenticate_token(c->e.core, token2, strlen(token2), &who,
						      token_id, NULL, &err), -1);
	assert_int_equal(err.code, KL_EUNAUTH);
	assert_int_equal(principal_token_live(c->e.core, c->p.id, t2.id, NULL, &err), -1);
	assert_int_equal(err.code, KL_EUNAUTH);
	assert_int_equal(principal_token_live(c->e.core, c->p.id, c->tok.id, NULL, &err), 0);
	assert_int_equal(principal_token_live(c->e.core, c->p.id,
					      "00000000-0000-0000-0000-000000000000", NULL, &err), -1);
	assert_int_equal(err.code, KL_EUNAUTH);
	assert_int_equal(principal_token_live(c->e.core, "app-one", c->tok.id, NULL, &err), -1);
	assert_int_equal(err.code, KL_EUNAUTH);	/* an id, not a name */
	assert_int_equal(principal_token_live(c->e.core, c->p.id, "../../x", NULL, &err), -1);
	assert_int_equal(err.code, KL_EUNAUTH);
}

static void test_delete_cascade(void **state)
{
	struct cenv *c = *state;
	char secret[IDENTITY_SECRET_TEXT_LEN], cred_id[IDENTITY_CRED_ID_MAX + 1], token_id[37];
	unsigned char sha1[20], sha256[32];
	struct identity_credential s, cert, *list = NULL;
	struct principal p2;
	struct principal_token t2;
	char token2[TOKEN_TEXT_LEN];
	struct principal_ref who;
	struct buf der, found, left;
	struct kl_err err = { 0 };
	size_t n = 0;

	make_cert(c, "CN=gone", clock_now_s() - 60, clock_now_s() + 86400, &der);
	assert_int_equal(x509_thumbprints(der.data, der.len, sha1, sha256, &err), 0);
	assert_int_equal(identity_secret_add(c->e.core, "app-one", NULL, 0, &s, secret, &err), 0);
	assert_int_equal(identity_cert_add(c->e.core, "app-one", der.data, der.len, NULL, &cert,
					   &err), 0);
	assert_int_equal(principal_delete(c->e.core, c->p.id, &err), 0);

	assert_int_equal(identity_secret_check(c->e.core, "app-one", secret, strlen(secret), &who,
					       cred_id, &err), -1);
	assert_int_equal(err.code, KL_ENOTFOUND);
	assert_int_equal(identity_secret_check(c->e.core, c->p.id, secret, strlen(secret), &who,
					       cred_id, &err), -1);
	assert_int_equal(err.code, KL_ENOTFOUND);
	buf_init(&found, X509_CERT_MAX);
	assert_int_equal(identity_cert_find(c->e.core, c->p.id, sha256, 32, &who, cred_id, &found,
					    &err), -1);
	assert_int_equal(err.code, KL_ENOTFOUND);
	assert_int_equal(identity_credential_live(c->e.core, c->p.id, s.id, NULL, &err), -1);
	assert_int_equal(err.code, KL_EUNAUTH);
	assert_int_equal(identity_credential_live(c->e.core, c->p.id, cert.id, NULL, &err), -1);
	assert_int_equal(principal_token_live(c->e.core, c->p.id, c->tok.id, NULL, &err), -1);
	assert_int_equal(err.code, KL_EUNAUTH);
	assert_int_equal(principal_authenticate_token(c->e.core, c->token, strlen(c->token), &who,
						      token_id, NULL, &err), -1);
	assert_int_equal(err.code, KL_EUNAUTH);
	assert_int_equal(identity_credentials_list(c->e.core, c->p.id, &list, &n, &err), -1);
	assert_int_equal(err.code, KL_ENOTFOUND);

	/* No record of it is left under C/. */
	buf_init(&left, 1u << 20);
	{
		char key[KEYBUF];

		snprintf(key, sizeof(key), "C/%s/%s", c->p.id, s.id);
		assert_int_equal(store_get(c->e.core->st, key, strlen(key), &left, NULL, &err), -1);
		assert_int_equal(err.code, KL_ENOTFOUND);
		snprintf(key, sizeof(key), "C/%s/%s", c->p.id, cert.id);
		assert_int_equal(store_get(c->e.core->st, key, strlen(key), &left, NULL, &err), -1);
		assert_int_equal(err.code, KL_ENOTFOUND);
	}

	/* A new principal of the same name starts with none. */
	assert_int_equal(principal_create(c->e.core, "app-one", "application", NULL, 0, &p2, &t2,
					  token2, &err), 0);
	assert_int_equal(identity_credentials_list(c->e.core, "app-one", &list, &n, &err), 0);
	assert_int_equal(n, 0);
	free(list);
	assert_int_equal(identity_secret_check(c->e.core, "app-one", secret, strlen(secret), &who,
					       cred_id, &err), -1);
	assert_int_equal(err.code, KL_EUNAUTH);
	buf_clear(&der);
	buf_clear(&found);
	buf_clear(&left);
}

/* Stored credentials survive a restart and a damaged record is reported, not trusted. */
static void test_restart_and_damage(void **state)
{
	struct cenv *c = *state;
	char secret[IDENTITY_SECRET_TEXT_LEN], cred_id[IDENTITY_CRED_ID_MAX + 1], key[KEYBUF];
	struct identity_credential s, *list = NULL;
	struct principal_ref who;
	struct kl_err err = { 0 };
	size_t n = 0;

	assert_int_equal(identity_secret_add(c->e.core, "app-one", "kept", 0, &s, secret, &err), 0);
	vault_core_close(c->e.core);
	assert_non_null(c->e.core = fixture_core_open(&c->e.dir, 7, &err));
	assert_int_equal(identity_secret_check(c->e.core, "app-one", secret, strlen(secret), &who,
					       cred_id, &err), 0);
	assert_string_equal(cred_id, s.id);

	snprintf(key, sizeof(key), "C/%s/%s", c->p.id, s.id);
	assert_int_equal(store_put(c->e.core->st, key, strlen(key), "\x01s", 2, &err), 0);
	assert_int_equal(identity_secret_check(c->e.core, "app-one", secret, strlen(secret), &who,
					       cred_id, &err), -1);
	assert_int_equal(err.code, KL_ECORRUPT);
	assert_int_equal(identity_credentials_list(c->e.core, "app-one", &list, &n, &err), -1);
	assert_int_equal(err.code, KL_ECORRUPT);
	assert_null(list);
	assert_int_equal(identity_credential_live(c->e.core, c->p.id, s.id, NULL, &err), -1);
	assert_int_equal(err.code, KL_ECORRUPT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_secret_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_certificates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_lookups, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_cascade, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_and_damage, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
