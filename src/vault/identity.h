/* The identity provider's domain (docs/identity.md): the keys that sign kluis access tokens, the
 * credentials a principal proves itself with besides its kluis tokens (client secrets and
 * registered client certificates), access tokens (issue and verify), client assertions (a JWT
 * signed by a registered certificate, or a federated token from the trusted OpenID issuer) and
 * the register of assertions already used. No JSON on the wire, no HTTP.
 *
 * Records:
 *   K/<kid>                  a signing key: RSA-2048, its private part sealed under the data key
 *   C/<principal id>/<id>    a client secret (the SHA-256 of its text) or a client certificate
 *                            (its DER, thumbprints, subject, notAfter)
 *   J/<hex SHA-256>          a client assertion seen (its issuer and jti), kept until its exp
 *
 * An access token is a JWT (RS256, header kid = a signing key's kid, which starts "kl-") with the
 * claims aud (the resource asked for), iss, iat, nbf, exp, jti, sub = oid = appid = azp (the
 * principal's id), tid (the deployment's tenant), ver "2.0", idtyp "app", kl_cred (which
 * credential got it: "<kind>:<id>", kinds below) and, for a principal bound to a TLS client
 * certificate, cnf {"x5t#S256"}. Verifying one reads the principal and its credential, so a
 * deleted principal or a revoked credential stops its tokens on the next request of every node. */
#ifndef KLUIS_VAULT_IDENTITY_H
#define KLUIS_VAULT_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"
#include "vault/principals.h"

struct vault_core;
struct jwk;

#define IDENTITY_LIFETIME_DEFAULT_S 3600
#define IDENTITY_LIFETIME_MIN_S 300
#define IDENTITY_LIFETIME_MAX_S 86400
#define IDENTITY_KID_MAX 32
#define IDENTITY_SIGNING_KEYS_MAX 16	/* keys that verify tokens at once (the active one too) */
#define IDENTITY_CRED_ID_MAX 64		/* a credential id as kl_cred carries it */
#define IDENTITY_SECRET_TEXT_LEN 56	/* "kls1." + 43 base64url characters + NUL fits */
#define IDENTITY_CREDENTIALS_MAX 16	/* client secrets and certificates per principal */
#define IDENTITY_RESOURCE_MAX 255
#define IDENTITY_ASSERTION_MAX_S 3600	/* a certificate assertion may live (exp - now) at most */

/* What a token is for (principal_ref.audience). ANY for credentials that are not access tokens
 * (kluis tokens, the admin token, tokens of the trusted OpenID issuer): they open every plane. */
enum identity_audience { IDENTITY_AUD_ANY, IDENTITY_AUD_DATA, IDENTITY_AUD_MGMT };

/* The credential an access token came from (kl_cred "<kind>:<id>"). */
enum identity_cred_kind {
	IDENTITY_CRED_TOKEN = 't',	/* a kluis token (App Service route): its token id */
	IDENTITY_CRED_SECRET = 's',	/* a client secret: its credential id */
	IDENTITY_CRED_CERT = 'c',	/* a registered client certificate: its credential id */
	IDENTITY_CRED_FEDERATED = 'f',	/* the principal's OpenID subject: hex SHA-256 of it, 32 digits */
};

/* Set once by main before the listener starts. */
struct identity_config {
	const char *dns_suffix;		/* the data plane's resource host ("vault.localhost") */
	int lifetime_s;			/* access tokens; 0: IDENTITY_LIFETIME_DEFAULT_S */
};
void identity_configure(struct vault_core *core, const struct identity_config *cfg);

/* What a resource (or a scope: a trailing "/.default" or "/" is dropped) names: DATA for
 * https://vault.azure.net, the deployment's DNS suffix or a host under it (any port); MGMT for
 * https://management.azure.com and https://management.core.windows.net; ANY (= unknown, refused
 * by the caller) otherwise. *norm (IDENTITY_RESOURCE_MAX + 1) gets the resource as aud carries it. */
enum identity_audience identity_audience_of(const struct vault_core *core, const char *resource,
					    char *norm);

/* ---- signing keys (signkeys.c) ---- */

struct identity_signing_key {
	char kid[IDENTITY_KID_MAX + 1];
	int64_t created;
	int64_t retired;	/* 0 for the active key */
};

/* At start: when the store is writable and holds no active signing key, makes one. */
int identity_signing_ensure(struct vault_core *core, struct kl_err *err);
/* Makes a new active key and retires the previous one, which still verifies the tokens it signed
 * until they expire; keys retired longer ago than IDENTITY_LIFETIME_MAX_S + skew are deleted.
 * Every node signs with the new key within a minute. KL_EREADONLY on a read-only node;
 * KL_ECONFLICT "TooManySigningKeys" when IDENTITY_SIGNING_KEYS_MAX keys still verify tokens. */
int identity_signing_rotate(struct vault_core *core, struct identity_signing_key *out,
			    struct kl_err *err);
/* The keys that verify tokens now, newest first; *out is malloc'd. */
int identity_signing_list(struct vault_core *core, struct identity_signing_key **out, size_t *n,
			  struct kl_err *err);
/* Their public parts as JWKs (kty RSA, n, e), in the order of identity_signing_list; kids[i]
 * holds key i's kid. *keys and *kids are malloc'd; jwk_clear each key, then free both. */
int identity_signing_jwks(struct vault_core *core, struct jwk **keys,
			  char (**kids)[IDENTITY_KID_MAX + 1], size_t *n, struct kl_err *err);

/* ---- access tokens (accesstoken.c) ---- */

struct identity_grant {
	const struct principal_ref *who;	/* id, name and client_cert of the principal */
	enum identity_cred_kind cred_kind;
	const char *cred_id;
	const char *resource;		/* normalised by identity_audience_of */
	const char *issuer;		/* iss, e.g. "https://HOST/TENANT/v2.0" */
};

/* Signs an access token for g: token (a wiping buffer) gets its text, *expires_on its exp (Unix
 * seconds). Works on a read-only node (nothing is written). */
int identity_token_issue(struct vault_core *core, const struct identity_grant *g, struct buf *token,
			 int64_t *expires_on, struct kl_err *err);

/* Is tok shaped like a kluis access token (a JWT whose header kid starts "kl-")? Cheap, no check. */
bool identity_token_is_ours(const char *tok, size_t len);

/* Verifies a kluis access token: signature by a signing key of the store, exp and nbf (60 s skew),
 * tid, the principal still there and its credential still live. who gets the principal (with
 * client_cert) and its audience. Every failure is KL_EUNAUTH with a message for the server log
 * saying which check failed (never the token). */
int identity_token_verify(struct vault_core *core, const char *tok, size_t len,
			  struct principal_ref *who, struct kl_err *err);

/* ---- credentials (credentials.c) ---- */

enum identity_credential_type { IDENTITY_CLIENT_SECRET, IDENTITY_CLIENT_CERT };

struct identity_credential {
	char id[37];
	enum identity_credential_type type;
	char description[129];
	int64_t created;
	int64_t expires;	/* 0: never (secrets); a certificate's notAfter otherwise */
	bool revoked;
	char hint[4];		/* a secret's first three characters after its prefix, for lists */
	char sha256[65];	/* a certificate's thumbprints, lowercase hex */
	char sha1[41];
	char subject[256];	/* a certificate's subject, RFC 4514 text */
};

/* A new client secret for principal id_or_name (expires 0: never): secret gets its text, shown
 * once (the caller wipes it); only its SHA-256 is stored. KL_ECONFLICT "TooManyCredentials". */
int identity_secret_add(struct vault_core *core, const char *id_or_name, const char *description,
			int64_t expires, struct identity_credential *out,
			char secret[IDENTITY_SECRET_TEXT_LEN], struct kl_err *err);
/* Registers an X.509 certificate (PEM or DER, public part only: a private key in the input is
 * KL_EINVAL) for principal id_or_name. KL_ECONFLICT "CertificateAlreadyRegistered" when this
 * principal has it already. */
int identity_cert_add(struct vault_core *core, const char *id_or_name, const void *cert,
		      size_t cert_len, const char *description, struct identity_credential *out,
		      struct kl_err *err);
/* The credentials of principal id (revoked ones too), oldest first; *out is malloc'd. */
int identity_credentials_list(struct vault_core *core, const char *id,
			      struct identity_credential **out, size_t *n, struct kl_err *err);
/* Revokes one; its access tokens stop at once. KL_ENOTFOUND "CredentialNotFound". */
int identity_credential_revoke(struct vault_core *core, const char *id, const char *cred_id,
			       struct identity_credential *out, struct kl_err *err);

/* Authenticates client_id (a principal's id or name) with a client secret: who and cred_id
 * (IDENTITY_CRED_ID_MAX + 1) filled. KL_ENOTFOUND "PrincipalNotFound" for an unknown client,
 * KL_EUNAUTH "InvalidClientSecret" for a wrong, revoked or expired secret. Constant time in the
 * secret. */
int identity_secret_check(struct vault_core *core, const char *client_id, const char *secret,
			  size_t secret_len, struct principal_ref *who, char *cred_id,
			  struct kl_err *err);

/* The live certificate registered for client_id (a principal's id or name) whose thumbprint is
 * thumb: thumb_len 20 for SHA-1 (x5t), 32 for SHA-256 (x5t#S256). who and cred_id
 * (IDENTITY_CRED_ID_MAX + 1) filled, der (initialised by the caller) gets the certificate's DER.
 * KL_ENOTFOUND "PrincipalNotFound" for an unknown client; KL_EUNAUTH for a thumbprint of no live
 * certificate of it (none, revoked or expired: the same error). */
int identity_cert_find(struct vault_core *core, const char *client_id, const unsigned char *thumb,
		       size_t thumb_len, struct principal_ref *who, char *cred_id, struct buf *der,
		       struct kl_err *err);

/* Is credential cred_id (a secret or a certificate) of principal principal_id still live (there,
 * not revoked, not expired)? 0, or KL_EUNAUTH. For access tokens' kl_cred. When expires_s is not
 * NULL, the credential's expiry goes in it (Unix seconds; 0: never): caches of the access tokens
 * it backs (vault/authcache.h) must not outlive it. */
int identity_credential_live(struct vault_core *core, const char *principal_id,
			     const char *cred_id, int64_t *expires_s, struct kl_err *err);

/* ---- client assertions (assertion.c) ---- */

/* Authenticates client_id with a client assertion (RFC 7523) posted to token_url (the absolute
 * URL the request addressed, for aud):
 *  - signed by a certificate registered for the principal (header x5t or x5t#S256; RS256, PS256
 *    or ES256): iss = sub = client_id, aud = token_url, exp in the future and at most
 *    IDENTITY_ASSERTION_MAX_S ahead, a jti never seen before (identity_replay_note);
 *  - otherwise a token of the trusted OpenID issuer (--oidc-issuer, jwt.h) whose sub is mapped to
 *    the principal client_id names (a federated credential: the same token may be exchanged again
 *    until it expires, as Azure allows).
 * who, *kind and cred_id filled. KL_ENOTFOUND "PrincipalNotFound"; every other failure KL_EUNAUTH
 * with azure_code "InvalidClientAssertion" and a message saying which check failed. */
int identity_assertion_check(struct vault_core *core, const char *client_id, const char *assertion,
			     size_t len, const char *token_url, struct principal_ref *who,
			     enum identity_cred_kind *kind, char *cred_id, struct kl_err *err);

/* ---- the register of used assertions (replay.c) ---- */

/* Notes that the assertion (iss, jti) was used; it stays noted until exp. KL_ECONFLICT
 * "AssertionReplayed" when it was noted before. On a read-only node it is noted in this process
 * only. The jobs delete records past their exp (identity_replay_sweep). */
int identity_replay_note(struct vault_core *core, const char *iss, const char *jti, int64_t exp,
			 struct kl_err *err);
int identity_replay_sweep(struct vault_core *core, int64_t now, struct kl_err *err);

#endif
