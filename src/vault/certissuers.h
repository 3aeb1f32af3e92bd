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
#define CERT_FIELD_MAX 256		/* bytes of an account id, org id, name, email or phone */
#define CERT_ISSUER_PWD_MAX 1024	/* bytes of an issuer password */
#define CERT_ISSUER_ADMINS_MAX 16	/* org_details.admin_details entries */
#define CERT_CONTACTS_MAX 64		/* contacts of a vault */

/* The provider of issuer name (any case) into provider (CERT_PROVIDER_MAX + 1 bytes), and whether
 * the issuer is enabled. KL_ENOTFOUND CertificateIssuerNotFound "Issuer not found" when absent. */
int cert_issuer_provider(struct vault *v, const char *name, char *provider, bool *enabled,
			 struct kl_err *err);

/* One administrator of an issuer's organisation; NULL members are absent. */
struct cert_admin {
	char *first_name, *last_name, *email, *phone;
};

/* An issuer as stored, without its password. Members are owned; cert_issuer_clear frees them. */
struct cert_issuer {
	char name[OBJ_NAME_MAX + 1];	/* as given when it was first set */
	char provider[CERT_PROVIDER_MAX + 1];
	bool has_credentials;		/* an account id or a password was given */
	char *account_id;		/* NULL when absent */
	bool has_pwd;			/* a password is stored (sealed; never read back here) */
	char *org_id;			/* NULL when absent */
	struct cert_admin *admins;
	size_t n_admins;
	bool enabled;
	int64_t created, updated;	/* Unix seconds */
};

void cert_issuer_clear(struct cert_issuer *i);

/* What a set or an update carries; borrowed for the call. For a set, a member not given is
 * absent from the result (enabled: true); for an update, it keeps its stored value. */
struct cert_issuer_in {
	const char *provider;		/* required for set; NULL keeps it (update) */
	const char *account_id;		/* NULL: not given */
	const char *pwd; /* NULL: not given; pwd_len bytes, sealed before it is stored */
	size_t pwd_len;
	const char *org_id;		/* NULL: not given */
	bool set_admins;		/* admins[0..n_admins) replace the list */
	const struct cert_admin *admins;
	size_t n_admins;
	bool set_enabled, enabled;
};

/* Creates or replaces issuer name (created is kept on replace). Bad or reserved name (Self,
 * Unknown), missing provider, a member past its limit: KL_EINVAL. out receives the result. */
int cert_issuer_set(struct vault *v, const char *name, const struct cert_issuer_in *in,
		    struct cert_issuer *out, struct kl_err *err);
/* Merges in into the stored issuer, member by member. KL_ENOTFOUND CertificateIssuerNotFound
 * when absent; KL_EINVAL as for set. */
int cert_issuer_update(struct vault *v, const char *name, const struct cert_issuer_in *in,
		       struct cert_issuer *out, struct kl_err *err);
/* Reads issuer name (any case). KL_ENOTFOUND CertificateIssuerNotFound when absent. */
int cert_issuer_get(struct vault *v, const char *name, struct cert_issuer *out,
		    struct kl_err *err);
/* Removes issuer name for good; out is what it was. KL_ENOTFOUND as for get. */
int cert_issuer_delete(struct vault *v, const char *name, struct cert_issuer *out,
		       struct kl_err *err);

struct cert_issuer_item {
	char name[OBJ_NAME_MAX + 1];
	char provider[CERT_PROVIDER_MAX + 1];
};

struct cert_issuer_page {
	struct cert_issuer_item items[OBJ_PAGE_MAX];
	size_t n;
	char next[OBJ_NAME_MAX + 1];	/* cursor of the next page; "" when this is the last */
};

/* One page of issuers in name order, after the cursor `after` (NULL or "" for the first), at
 * most max (1..OBJ_PAGE_MAX) items. A bad cursor or max: KL_EINVAL. */
int cert_issuer_list(struct vault *v, const char *after, size_t max, struct cert_issuer_page *page,
		     struct kl_err *err);

/* A certificate contact; email is required, name and phone may be NULL. */
struct cert_contact {
	char *email, *name, *phone;
};

/* The contacts of a vault; owned, cert_contacts_clear frees them. */
struct cert_contacts {
	struct cert_contact *items;
	size_t n;
};

void cert_contacts_clear(struct cert_contacts *c);

/* Replaces the vault's contacts with in[0..n) (1..CERT_CONTACTS_MAX, each with an email, members
 * within CERT_FIELD_MAX: else KL_EINVAL); out receives the stored list. */
int cert_contacts_set(struct vault *v, const struct cert_contact *in, size_t n,
		      struct cert_contacts *out, struct kl_err *err);
/* The vault's contacts. KL_ENOTFOUND ContactsNotFound "Contacts not found" when none are set. */
int cert_contacts_get(struct vault *v, struct cert_contacts *out, struct kl_err *err);
/* Removes the contacts; out is the removed list. KL_ENOTFOUND as for get. */
int cert_contacts_delete(struct vault *v, struct cert_contacts *out, struct kl_err *err);

#endif
