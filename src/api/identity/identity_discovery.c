/* identity_discovery.c owns the identity provider's public documents: the OpenID configuration
 * of each tenant path (what MSAL reads before it asks for a token: issuer, endpoints, JWKS URI)
 * and the JSON Web Key Set of the keys that sign kluis access tokens. Every URL is built from the
 * request's own Host header (validated by identity_begin), never from configuration: MSAL checks
 * that the issuer's origin is the authority's, and each node and load balancer has its own name.
 * Must never serve a private key member or anything of a credential. */
#include <stdio.h>

#include "api/identity/identity_internal.h"
#include "util/b64url.h"
#include "util/json.h"
#include "util/jwk.h"
#include "vault/identity.h"

#define URL_MAX 512

/* The document for tenant path `tenant` (already checked). */
static json_t *openid_config(const struct api_call *c, const char *tenant, bool is_adfs)
{
	char issuer[URL_MAX], base[URL_MAX], authz[URL_MAX + 32], token[URL_MAX + 32],
		jwks[URL_MAX + 32];

	identity_issuer(c, is_adfs, true, issuer, sizeof(issuer));
	/* the endpoints under the tenant as the client spelled it: its authority, echoed */
	snprintf(base, sizeof(base), "https://%s/%s", c->host, is_adfs ? "adfs" : tenant);
	snprintf(authz, sizeof(authz), "%s/oauth2/v2.0/authorize", base);
	snprintf(token, sizeof(token), "%s/oauth2/v2.0/token", base);
	snprintf(jwks, sizeof(jwks), "%s/discovery/v2.0/keys", base);
	/* jansson keeps insertion order: Entra ID's order, as far as kluis has the members. The
	 * authorization endpoint is named because MSAL requires the member; kluis serves only the
	 * client credentials grant, so nothing is served there. */
	return json_pack("{s:s, s:s, s:[sss], s:s, s:[s], s:[s], s:[s], s:[sss], s:s, s:[s],"
			 " s:n, s:s, s:b, s:[sssssssssssss]}",
			 "token_endpoint", token,
			 "jwks_uri", jwks,
			 "token_endpoint_auth_methods_supported", "client_secret_post",
			 "client_secret_basic", "private_key_jwt",
			 "issuer", issuer,
			 "grant_types_supported", "client_credentials",
			 "response_types_supported", "token",
			 "subject_types_supported", "public",
			 "token_endpoint_auth_signing_alg_values_supported",
			 "RS256", "PS256", "ES256",
			 "authorization_endpoint", authz,
			 "id_token_signing_alg_values_supported", "RS256",
			 "tenant_region_scope",
			 "cloud_instance_name", "kluis",
			 "request_uri_parameter_supported", 0,
			 "claims_supported", "aud", "iss", "iat", "nbf", "exp", "jti", "sub", "oid",
			 "appid", "azp", "tid", "ver", "idtyp");
}

/* GET /{tenant}/.well-known/openid-configuration, and /adfs/adfs/... (az's ADFS cloud). */
int identity_openid_config(struct api_call *c)
{
	const char *tenant = c->st->n_params > 0 ? api_param(c, 0) : "adfs";
	bool is_adfs;

	if (identity_tenant(c, tenant, &is_adfs) != 0)
		return -1;
	return api_reply_json(c, 200, openid_config(c, tenant, is_adfs));
}

/* GET /{tenant}/v2.0/.well-known/openid-configuration */
int identity_openid_config_v2(struct api_call *c)
{
	const char *tenant = api_param(c, 0);
	bool is_adfs;

	if (identity_tenant(c, tenant, &is_adfs) != 0)
		return -1;
	return api_reply_json(c, 200, openid_config(c, tenant, is_adfs));
}

/* A member of key set entry o: bytes b in base64url. */
static int put_b64(json_t *o, const char *name, const struct buf *b, struct kl_err *err)
{
	struct buf enc;
	int rc = -1;

	buf_init(&enc, 4096);
	if (b64url_encode(b->data, b->len, &enc, err) != 0)
		goto out;
	if (json_object_set_new(o, name, json_stringn((const char *)enc.data, enc.len)) != 0) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	rc = 0;
out:
	buf_clear(&enc);
	return rc;
}

/* GET /{tenant}/discovery/v2.0/keys and /{tenant}/discovery/keys */
int identity_jwks_get(struct api_call *c)
{
	struct jwk *keys = NULL;
	char (*kids)[IDENTITY_KID_MAX + 1] = NULL;
	json_t *set = NULL, *arr, *o;
	size_t n = 0, i;
	bool is_adfs;
	int rc = -1;

	if (identity_tenant(c, api_param(c, 0), &is_adfs) != 0 ||
	    identity_signing_jwks(c->ctx->core, &keys, &kids, &n, &c->err) != 0)
		goto out;
	if ((set = json_pack("{s:[]}", "keys")) == NULL) {
		kl_fail(&c->err, KL_ENOMEM, "out of memory");
		goto out;
	}
	arr = json_object_get(set, "keys");
	for (i = 0; i < n; i++) {
		o = json_pack("{s:s, s:s, s:s}", "kty", "RSA", "use", "sig", "kid", kids[i]);
		if (o == NULL || json_array_append_new(arr, o) != 0) {
			kl_fail(&c->err, KL_ENOMEM, "out of memory");
			goto out;
		}
		if (put_b64(o, "n", &keys[i].n, &c->err) != 0 ||
		    put_b64(o, "e", &keys[i].e, &c->err) != 0)
			goto out;
		if (json_object_set_new(o, "alg", json_string("RS256")) != 0) {
			kl_fail(&c->err, KL_ENOMEM, "out of memory");
			goto out;
		}
	}
	rc = api_reply_json(c, 200, set);
	set = NULL;
out:
	json_decref(set);
	for (i = 0; keys != NULL && i < n; i++)
		jwk_clear(&keys[i]);
	free(keys);
	free(kids);
	return rc;
}
