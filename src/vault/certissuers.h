/* Certificate issuers and certificate contacts of a vault. An issuer is one record per name,
 * replaced or merged whole, never versioned or soft-deleted; its password is sealed and never
 * returned. Contacts are one list per vault. No JSON, no HTTP. Thread-safe like object.h.
 *   o/<vault>/i/<lowercase issuer name>   an issuer
 *   o/<vault>/n                           the contacts */
#ifndef KLUIS_VAULT_CERTISSUERS_H
#define KLUIS_VAULT_CERTISSUERS_H

#include <stddef.h>

#include "vault/vault.h"

#define CERT_PROVIDER_MAX 64

/* The provider of issuer name (any case) into provider (CERT_PROVIDER_MAX + 1 bytes), and whether
 * the issuer is enabled. KL_ENOTFOUND CertificateIssuerNotFound "Issuer not found" when absent. */
int cert_issuer_provider(struct vault *v, const char *name, char *provider, bool *enabled,
			 struct kl_err *err);

#endif
