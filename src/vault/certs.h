/* Certificates of a vault: versioned objects of kind OBJ_CERT, each issued version backed by a
 * managed key version and a managed secret version of the same name and the same version id,
 * written in one store transaction with it; the policy, the pending certificate operation,
 * creation (self-signed, or a CSR completed by merge), import, reads and updates. No JSON, no
 * HTTP: api/ translates. Thread-safe like object.h.
 *
 * Store layout, besides the object records of object.h under kinds 'c', 'k' and 's':
 *   o/<vault>/c/r/<name>   the certificate's policy (one record per name, not versioned)
 *   o/<vault>/c/q/<name>   the certificate operation (pending, completed, cancelled, failed)
 *   a/<vault>/<name>       index of names whose policy has lifetime actions (the renewal job)
 * A delete keeps r and a (the deleted certificate still answers with its policy) and drops q; a
 * purge removes all three; a backup carries r.
 *
 * A certificate version's obj.pub (cert_pub_encode) holds its chain, leaf first (none while the
 * version is pending), the x5t of the leaf, the preserveCertOrder flag and the version that was
 * latest before it; obj.content_type is the content type of its secret. */
#ifndef KLUIS_VAULT_CERTS_H
#define KLUIS_VAULT_CERTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/secbuf.h"
#include "vault/object.h"

#define CERT_SUBJECT_MAX 1024		/* bytes of a policy subject */
#define CERT_SAN_MAX 100		/* entries of each kind of subject alternative name */
#define CERT_SAN_CHARS 1024		/* bytes of one SAN or EKU string */
#define CERT_EKUS_MAX 20
#define CERT_ISSUER_MAX 127		/* bytes of an issuer name */
#define CERT_CTY_MAX 64
#define CERT_CHAIN_MAX 10
#define CERT_MAX_ACTIONS 2		/* one EmailContacts, one AutoRenew */
#define CERT_CT_PKCS12 "application/x-pkcs12"
#define CERT_CT_PEM "application/x-pem-file"

/* keyUsage names, in the bit order of crypto/x509.h's enum x509_ku (bit i = names[i]). */
#define CERT_KU_COUNT 9
extern const char *const cert_key_usage_names[CERT_KU_COUNT];

enum cert_action { CERT_EMAIL_CONTACTS = 1, CERT_AUTO_RENEW = 2 };

struct cert_lifetime_action {
	int percentage;			/* 1..99, or 0 */
	int days_before_expiry;		/* 1.., or 0; exactly one of the two is set */
	enum cert_action action;
};

/* Subject alternative names: owned arrays of owned strings. */
struct cert_sans {
	char **dns, **emails, **upns, **uris, **ips;
	size_t n_dns, n_emails, n_upns, n_uris, n_ips;
};

/* Members of a policy, as bits of cert_policy.given: which ones a request carried. */
enum cert_policy_member {
	CERT_P_EXPORTABLE = 1 << 0,
	CERT_P_KTY = 1 << 1,
	CERT_P_KEY_SIZE = 1 << 2,
	CERT_P_REUSE_KEY = 1 << 3,
	CERT_P_CRV = 1 << 4,
	CERT_P_CONTENT_TYPE = 1 << 5,
	CERT_P_SUBJECT = 1 << 6,
	CERT_P_SANS = 1 << 7,
	CERT_P_EKUS = 1 << 8,
	CERT_P_KEY_USAGE = 1 << 9,
	CERT_P_VALIDITY = 1 << 10,
	CERT_P_ACTIONS = 1 << 11,
	CERT_P_ISSUER = 1 << 12,
	CERT_P_CTY = 1 << 13,
	CERT_P_TRANSPARENCY = 1 << 14,
	CERT_P_ENABLED = 1 << 15,
};

/* A certificate policy (C2/C7). Strings owned; cert_policy_clear frees them. */
struct cert_policy {
	unsigned given;			/* enum cert_policy_member bits: present in a request */
	bool exportable;
	char kty[8];			/* RSA, RSA-HSM, EC, EC-HSM */
	unsigned key_size;
	bool reuse_key;
	char crv[8];			/* "" when none */
	char content_type[32];
	char *subject;			/* NULL when none */
	bool has_sans;
	struct cert_sans sans;
	char **ekus;
	size_t n_ekus;
	unsigned key_usage;		/* bits of cert_key_usage_names */
	int validity_months;
	struct cert_lifetime_action actions[CERT_MAX_ACTIONS];
	size_t n_actions;
	char issuer[CERT_ISSUER_MAX + 1];
	char *cty;			/* NULL when none */
	bool has_transparency, transparency;
	bool enabled;
	int64_t created, updated;
};

void cert_policy_init(struct cert_policy *p);
void cert_policy_clear(struct cert_policy *p);
/* Deep copy of src into dst (cleared first). */
int cert_policy_copy(struct cert_policy *dst, const struct cert_policy *src, struct kl_err *err);
/* The defaults of C7 for every member p->given lacks, then cert_policy_validate. */
int cert_policy_complete(struct cert_policy *p, struct kl_err *err);
/* The rules of C7; KL_EINVAL BadParameter naming the member. */
int cert_policy_validate(const struct cert_policy *p, struct kl_err *err);
/* Member-wise update of stored by the members in->given has, then validation. */
int cert_policy_merge(struct cert_policy *stored, const struct cert_policy *in, struct kl_err *err);
/* Is the issuer name Self / Unknown (any case)? */
bool cert_issuer_is_self(const char *issuer);
bool cert_issuer_is_unknown(const char *issuer);

/* The stored policy of a live certificate; KL_ENOTFOUND CertificateNotFound when the name is not
 * a live certificate. */
int cert_policy_get(struct vault *v, const char *name, struct cert_policy *out, struct kl_err *err);
/* The stored policy of name in any state (deleted certificates keep theirs); KL_ENOTFOUND when
 * none is stored. */
int cert_policy_load(struct vault *v, const char *name, struct cert_policy *out,
		     struct kl_err *err);
/* #15: merges in into the stored policy; out is the result. */
int cert_policy_update(struct vault *v, const char *name, const struct cert_policy *in,
		       struct cert_policy *out, struct kl_err *err);
/* The record codec (backups carry it). */
int cert_policy_encode(const struct cert_policy *p, struct buf *out, struct kl_err *err);
int cert_policy_decode(const void *p, size_t n, struct cert_policy *out, struct kl_err *err);

/* The certificate operation. */
enum cert_op_status { CERT_OP_IN_PROGRESS, CERT_OP_COMPLETED, CERT_OP_CANCELLED, CERT_OP_FAILED };
enum cert_op_kind { CERT_OP_SELF, CERT_OP_UNKNOWN, CERT_OP_ISSUER };

struct cert_op {
	enum cert_op_kind kind;
	char version[OBJ_VERSION_LEN + 1];	/* the certificate version it makes */
	char request_id[33];
	char issuer[CERT_ISSUER_MAX + 1];
	char cty[CERT_CTY_MAX + 1];		/* "" when none */
	bool has_transparency, transparency;
	char provider[65];			/* CERT_OP_ISSUER: the issuer's provider */
	int64_t created_ms;			/* when it was written, Unix milliseconds: D is
						 * counted from then, not from a whole second */
	int64_t delay_s;			/* issue delay D when it was created */
	bool cancellation_requested;
	bool merged;				/* completed by merge (or import-free end) */
	bool preserve_order;
	struct buf csr;				/* PKCS#10 DER */
	enum cert_op_status status;		/* at the time of the read (cert_op_status_at) */
};

void cert_op_init(struct cert_op *op);
void cert_op_clear(struct cert_op *op);
/* The state of op at now_ms (Unix milliseconds): a function of its stored facts and the clock
 * (C4). */
enum cert_op_status cert_op_status_at(const struct cert_op *op, int64_t now_ms);
/* #16: the operation of name, status as of now. KL_ENOTFOUND PendingCertificateNotFound. */
int cert_op_get(struct vault *v, const char *name, struct cert_op *out, struct kl_err *err);
/* #17: records the cancellation request (requested false: no change). In progress only, else
 * KL_EFORBIDDEN Forbidden. out is the operation as answered (still inProgress). */
int cert_op_cancel(struct vault *v, const char *name, bool requested, struct cert_op *out,
		   struct kl_err *err);
/* #18: removes the operation; out is it as it stood. An unissued version stays a skeleton. */
int cert_op_delete(struct vault *v, const char *name, struct cert_op *out, struct kl_err *err);

/* A certificate version as the API shows it. */
struct cert {
	struct obj o;			/* attributes, tags, content type of the secret */
	bool issued;			/* false: pending (no chain, no key/secret ids) */
	struct buf *chain;		/* n_chain DER certificates, leaf first */
	size_t n_chain;
	char x5t[28];			/* base64url SHA-1 of the leaf; "" when pending */
	bool preserve_order;
	char prev[OBJ_VERSION_LEN + 1];	/* the latest version before this one; "" when none */
	bool has_op;			/* an operation object exists (bundle's "pending") */
	bool has_policy;		/* policy loaded (cert_get of the latest, writes) */
	struct cert_policy policy;
};

void cert_init(struct cert *c);
void cert_clear(struct cert *c);

/* The pub record of a certificate version. */
int cert_pub_encode(const struct cert *c, struct buf *out, struct kl_err *err);
int cert_pub_decode(const void *p, size_t n, struct cert *c, struct kl_err *err);

/* #3: version "" = the newest issued version, else the pending one, with the policy; an explicit
 * version without it. KL_ENOTFOUND CertificateNotFound. */
int cert_get(struct vault *v, const char *name, const char *version, struct cert *out,
	     struct kl_err *err);
/* Fills out (cleared by the caller) from a stored certificate version o (moved into out->o,
 * o is left empty), consulting the operation of its name: for lists, and for cert-life. */
int cert_from_obj(struct vault *v, struct obj *o, struct cert *out, struct kl_err *err);

/* Pages of certificates: live names (latest issued version; names with only a pending one only
 * when include_pending) and the versions of a name (an unknown name gives an empty page). */
struct cert_page {
	struct cert items[OBJ_PAGE_MAX];
	size_t n;
	char next[OBJ_NAME_MAX + 1];
};
void cert_page_clear(struct cert_page *p);
int cert_list(struct vault *v, const char *after, size_t max, bool include_pending,
	      struct cert_page *page, struct kl_err *err);
int cert_list_versions(struct vault *v, const char *name, const char *after, size_t max,
		       struct cert_page *page, struct kl_err *err);
/* Deleted certificates (their latest versions, with the deletion fields). */
int cert_list_deleted(struct vault *v, const char *after, size_t max, struct cert_page *page,
		      struct kl_err *err);

/* What a create, import or merge request adds besides the policy: enabled and tags. */
struct cert_new {
	bool enabled;			/* default true */
	bool has_tags;
	const struct obj_tag *tags;
	size_t n_tags;
	bool preserve_order;
};

/* #1: policy NULL (no member) or giving nothing = the stored one; for the first version a policy
 * is required (NULL: 400) and one giving nothing is completed with the defaults and validated.
 * out is the new operation. 409 Forbidden while an operation is in progress; 409 Conflict for a
 * deleted name or an unmanaged key or secret of that name; 400 for a missing issuer object. */
int cert_create(struct vault *v, const char *name, const struct cert_policy *policy,
		const struct cert_new *in, struct cert_op *out, struct kl_err *err);
/* #2: value is the upload (PEM text, base64 of a PFX or of PEM), pwd may be NULL. */
int cert_import(struct vault *v, const char *name, const char *value, size_t value_len,
		const char *pwd, const struct cert_policy *policy, const struct cert_new *in,
		struct cert *out, struct kl_err *err);
/* #19: items are the decoded x5c entries. */
int cert_merge(struct vault *v, const char *name, const struct buf *items, size_t n_items,
	       const struct cert_new *in, struct cert *out, struct kl_err *err);
/* #6: enabled (mirrored onto the key and secret version) and tags of a version ("" = latest),
 * and the policy when policy is not NULL. */
int cert_update(struct vault *v, const char *name, const char *version, bool set_enabled,
		bool enabled, bool set_tags, const struct obj_tag *tags, size_t n_tags,
		const struct cert_policy *policy, struct cert *out, struct kl_err *err);

/* The managed secret's value (secret and value as secret_get gives them) in out_type, for GET
 * /secrets/{n}/{v}?outContentType= (C3): a PKCS#12 secret as PEM, or a value already in that
 * form as is; anything else, or a secret no certificate manages, KL_EINVAL BadParameter. The
 * caller secbuf_free()s *out. */
int cert_secret_convert(const struct obj *secret, const struct secbuf *value, const char *out_type,
			struct secbuf **out, struct kl_err *err);
/* previousVersion of a certificate's secret: the certificate version that was latest before
 * version of name, into out (OBJ_VERSION_LEN + 1 bytes; "" when none or not a certificate). */
int cert_previous_version(struct vault *v, const char *name, const char *version, char *out,
			  struct kl_err *err);

/* The issue delay D of the core (seconds), for cert_create. */
int64_t cert_issue_delay(const struct vault *v);

/* Lifetime actions of every certificate that are due at now: AutoRenew of Self certificates
 * makes a new version; EmailContacts writes a log record. *n_acted counts the actions. */
int cert_lifetime_due(struct vault_core *core, int64_t now, size_t *n_acted, struct kl_err *err);

#endif
