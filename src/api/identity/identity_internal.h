/* What the identity provider's files of api/identity/ share (identity_errors.c,
 * identity_discovery.c, identity_token.c, identity_msi.c): OAuth errors and the tenants kluis
 * answers for.
 *
 * An OAuth failure is a kl_err like any other, made by identity_error: its kind gives the status
 * (KL_EINVAL 400, KL_EUNAUTH 401, KL_ETOOBIG 413, KL_ETHROTTLED 429, KL_EUNAVAIL 503), its
 * azure_code the OAuth error ("invalid_client"), and its message starts "AADSTS<n>: ", from which
 * identity_reply_error takes error_codes. The body is Microsoft Entra ID's:
 *   {"error","error_description","error_codes":[n],"timestamp","trace_id","correlation_id"}
 * which MSAL and azure-identity turn into their usual messages. */
#ifndef KLUIS_API_IDENTITY_INTERNAL_H
#define KLUIS_API_IDENTITY_INTERNAL_H

#include <stdbool.h>

#include "api/internal.h"

/* The AADSTS codes kluis sends, as Entra ID uses them. */
#define AADSTS_MISSING_PARAMETER 900144	/* invalid_request: a field missing or malformed */
#define AADSTS_INVALID_TENANT 90002	/* invalid_tenant: no such tenant */
#define AADSTS_UNSUPPORTED_GRANT 70003	/* unsupported_grant_type */
#define AADSTS_UNKNOWN_CLIENT 700016	/* unauthorized_client: no such application */
#define AADSTS_BAD_SECRET 7000215	/* invalid_client: wrong client secret */
#define AADSTS_NO_CREDENTIAL 7000218	/* invalid_client: neither secret nor assertion */
#define AADSTS_BAD_ASSERTION 700027	/* invalid_client: the client assertion failed a check */
#define AADSTS_UNKNOWN_RESOURCE 500011	/* invalid_resource/invalid_scope: no such resource */
#define AADSTS_INVALID_SCOPE 70011	/* invalid_scope: not one resource's scope */
#define AADSTS_THROTTLED 50196		/* temporarily_unavailable (429): too many requests */
#define AADSTS_TRANSIENT 90033		/* temporarily_unavailable (503): try again */
#define AADSTS_SERVER_ERROR 90100	/* server_error (500) */

/* Fills c->err with the OAuth error `error` (a static string), status from kind, and the
 * description "AADSTS<aadsts>: " + fmt. Returns -1, for a handler's return. The message must hold
 * no secret: never a client secret, an assertion or a token. */
int identity_error(struct api_call *c, enum kl_errc kind, const char *error, unsigned aadsts,
		   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* s when it is printable ASCII of at most 200 bytes, for quoting client text in a message;
 * "(not printable)" otherwise. */
const char *identity_quotable(const char *s);

/* The tenants of a path: the deployment's tenant id, "adfs", "organizations" or "common" (any
 * case). 0 with *is_adfs set, or -1 with c->err a 400 invalid_tenant. */
int identity_tenant(struct api_call *c, const char *tenant, bool *is_adfs);

/* The issuer of tokens and discovery documents for a tenant path on origin https://{c->host}:
 * "https://H/adfs" for adfs, otherwise "https://H/<the deployment's tenant id>" followed by
 * "/v2.0" when is_v2, or "/" (v1). */
void identity_issuer(const struct api_call *c, bool is_adfs, bool is_v2, char *out, size_t n);

/* The principal a token endpoint has authenticated, for the audit line (api_state.who). */
void identity_note_principal(struct api_call *c, const struct principal_ref *who);

/* A principal bound to a TLS client certificate (who->client_cert) gets tokens only on a
 * connection that presented that certificate, as its kluis tokens work only there: 0, or -1 with
 * c->err a 401 invalid_client (AADSTS aadsts). */
int identity_check_client_cert(struct api_call *c, const struct principal_ref *who,
			       unsigned aadsts);

#endif
