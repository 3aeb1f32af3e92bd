/* Principals (users and applications) and their bearer tokens. A token is shown once, when it is
 * made; the store keeps only its SHA-256 digest, so a token is found by the digest of what a
 * client presents and no comparison of secrets happens here. Records:
 *   P/<id>              the principal
 *   N/<lowercase name>  its id (names are unique)
 *   Q/<id>/<token id>   a token's metadata (digest, dates, revoked)
 *   T/<hex digest>      the live token: principal id, token id, expiry
 *   S/<hex digest>      the principal an OpenID subject maps to (digest of the subject)
 * No JSON, no HTTP. */
#ifndef KLUIS_VAULT_PRINCIPALS_H
#define KLUIS_VAULT_PRINCIPALS_H

#include <stdbool.h>
#include <stdint.h>

#include "crypto/token.h"
#include "util/err.h"

struct vault_core;

#define PRINCIPAL_NAME_MAX 64
#define PRINCIPAL_TOKENS_MAX 16	/* live tokens per principal */
#define PRINCIPAL_SUBJECT_MAX 255	/* an OpenID token's sub */
#define PRINCIPAL_CERT_HEX 64		/* a SHA-256 fingerprint in hex */

struct principal {
	char id[37];
	char name[PRINCIPAL_NAME_MAX + 1];	/* as given */
	char type[16];				/* "user" or "application" */
	char subject[PRINCIPAL_SUBJECT_MAX + 1];	/* OpenID subject; "" for none */
	int64_t created;
	char client_cert[PRINCIPAL_CERT_HEX + 1];	/* SHA-256 of the client certificate its
							 * tokens need, lowercase hex; "" for none */
};

struct principal_token {
	char id[37];
	int64_t created;
	int64_t expires;	/* 0: never */
	bool revoked;
};

/* Who a request comes from: the deployment's bootstrap administrator, or a principal. */
struct principal_ref {
	bool is_admin;		/* the admin token of DATA_DIR/admin-token */
	char id[37];		/* "" for the bootstrap administrator */
	char name[PRINCIPAL_NAME_MAX + 1];
	char client_cert[PRINCIPAL_CERT_HEX + 1];	/* the certificate it must present; "" none */
	int audience;		/* enum identity_audience (vault/identity.h): the plane a kluis
				 * access token is for; 0 (any) for every other credential */
};

/* A SHA-256 certificate fingerprint as 64 hex digits, with or without ':' between bytes, in any
 * case, into 64 lowercase digits. false when it is not one. */
bool principal_cert_parse(const char *s, char out[PRINCIPAL_CERT_HEX + 1]);

/* Binds principal id (or name) to a client certificate's SHA-256 fingerprint (normalised by
 * principal_cert_parse), or unbinds it (cert ""). From then on its tokens, and OpenID tokens
 * mapped to it, are accepted only on a TLS connection that presented that certificate, verified
 * against kluisd's --client-ca (the API refuses them otherwise). *out gets the principal. */
int principal_set_client_cert(struct vault_core *core, const char *id_or_name, const char *cert,
			      struct principal *out, struct kl_err *err);

/* 1-64 of letters, digits, '.', '_', '-', starting with a letter or digit. */
bool principal_name_is_valid(const char *s);

/* Creates a principal with one token (expires 0: never); token_out receives the token text,
 * which the caller shows once and wipes. subject (NULL: none) maps an OpenID token's sub to it.
 * KL_ECONFLICT "PrincipalAlreadyExists" for a taken name, "SubjectAlreadyMapped" for a subject
 * another principal has. */
int principal_create(struct vault_core *core, const char *name, const char *type,
		     const char *subject, int64_t expires, struct principal *out,
		     struct principal_token *tok, char token_out[TOKEN_TEXT_LEN], struct kl_err *err);

/* By id or by name (case-insensitive); KL_ENOTFOUND "PrincipalNotFound". */
int principal_get(struct vault_core *core, const char *id_or_name, struct principal *out,
		  struct kl_err *err);

/* Calls fn for every principal, in name order; fn returns 0 to go on, 1 to stop, -1 to fail. */
typedef int (*principal_fn)(void *arg, const struct principal *p, struct kl_err *err);
int principal_each(struct vault_core *core, principal_fn fn, void *arg, struct kl_err *err);

/* The tokens of principal id, live and revoked, oldest first; *out is malloc'd. */
int principal_tokens(struct vault_core *core, const char *id, struct principal_token **out,
		     size_t *n, struct kl_err *err);

/* One more token for principal id. KL_ECONFLICT "TooManyTokens" past PRINCIPAL_TOKENS_MAX. */
int principal_token_add(struct vault_core *core, const char *id, int64_t expires,
			struct principal_token *tok, char token_out[TOKEN_TEXT_LEN],
			struct kl_err *err);

/* Revokes one token; KL_ENOTFOUND "TokenNotFound". */
int principal_token_revoke(struct vault_core *core, const char *id, const char *token_id,
			   struct principal_token *out, struct kl_err *err);

/* Deletes the principal, every token of it, its client secrets and certificates
 * (vault/identity.h) and every role assignment it holds. */
int principal_delete(struct vault_core *core, const char *id, struct kl_err *err);

/* Who presents the kluis token tok (never the admin token, never a JWT: vault/authenticate.h
 * tells those apart): 0 with *who filled, token_id (37 bytes) the token's id and, when expires_s
 * is not NULL, the token's expiry in it (Unix seconds; 0: never; for caches of the answer,
 * vault/authcache.h, which must not outlive it); or KL_EUNAUTH for an unknown, revoked or expired
 * token, or one whose principal is gone. */
int principal_authenticate_token(struct vault_core *core, const char *tok, size_t tok_len,
				 struct principal_ref *who, char token_id[37], int64_t *expires_s,
				 struct kl_err *err);

/* Is token token_id of principal id still live (there, not revoked, not expired)? 0, with its
 * expiry in *expires_s when not NULL (Unix seconds; 0: never), or KL_EUNAUTH. */
int principal_token_live(struct vault_core *core, const char *id, const char *token_id,
			 int64_t *expires_s, struct kl_err *err);

/* The principal an OpenID subject (already verified) maps to; KL_EUNAUTH when none. */
int principal_by_subject(struct vault_core *core, const char *subject, struct principal_ref *who,
			 struct kl_err *err);

#endif
