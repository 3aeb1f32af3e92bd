/* What the certificate files of vault/ share and nobody else sees: store keys of the per-name
 * records, the operation record's codec and the writer that stores a certificate version with
 * its managed key and secret versions in one transaction. */
#ifndef KLUIS_VAULT_CERTS_INTERNAL_H
#define KLUIS_VAULT_CERTS_INTERNAL_H

#include "crypto/keyops.h"
#include "crypto/x509.h"
#include "store/store.h"
#include "vault/certs.h"
#include "vault/internal.h"

/* Store keys (KEYBUF bytes) of the policy, its job index entry and the operation of lname. */
void cert_key_policy(char *out, const struct vault *v, const char *lname);
void cert_key_index(char *out, const struct vault *v, const char *lname);
void cert_key_op(char *out, const struct vault *v, const char *lname);

/* The two store ops that write policy p of lname (the record and its index entry). */
struct cert_policy_rec {
	char key[KEYBUF], index_key[KEYBUF];
	struct buf val;			/* buf_init'd by the caller */
	struct store_op ops[2];
};
int cert_policy_ops(const struct vault *v, const char *lname, const struct cert_policy *p,
		    struct cert_policy_rec *rec, struct kl_err *err);

int cert_op_encode(const struct cert_op *op, struct buf *out, struct kl_err *err);
int cert_op_decode(const void *p, size_t n, struct cert_op *op, struct kl_err *err);
/* The operation record of lname: *found false (and *store_version 0) when there is none; the
 * status is computed at now. */
int cert_op_load(const struct vault *v, const char *lname, struct cert_op *op, bool *found,
		 uint64_t *store_version, struct kl_err *err);

/* One certificate write: up to three object versions of one name with the same version id (the
 * certificate, its key, its secret; each may be absent), the policy and operation records, all in
 * one store transaction that checks every head it moves and that the name is not deleted. */
struct cert_write_obj {
	bool present;
	struct obj *o;			/* version, attrs, tags, pub, content_type, managed */
	const void *material;		/* plaintext, sealed here; NULL: none */
	size_t material_len;
	bool material_sealed;		/* material is already sealed (a rewrite) */
	bool move_head;			/* make it the latest version of its name */
	bool replace;			/* overwrite the version record there (CHECKed) */
	uint64_t replace_version;	/* with replace: the store version read */
};

struct cert_write {
	const char *name;		/* as given (display name of new heads) */
	struct cert_write_obj objs[3];	/* indexed by enum obj_kind */
	const struct cert_policy *policy;	/* NULL: unchanged */
	const struct cert_op *op;		/* NULL: unchanged (unless drop_op) */
	bool drop_op;
	bool check_op;			/* the operation record must still be at op_version */
	uint64_t op_version;
	bool check_no_unmanaged;	/* 409 when a key or secret of the name is unmanaged */
	const struct store_op *extra;	/* more steps, appended as they are (keys borrowed) */
	size_t n_extra;
};

/* Runs w; retries while concurrent writers conflict. Deleted certificate: 409
 * ObjectIsDeletedButRecoverable; deleted key or secret of the name: 409 Conflict too. */
int cert_write_run(struct vault *v, const struct cert_write *w, struct kl_err *err);

/* 409 Forbidden: an operation is in progress (C4). Returns -1. */
int cert_fail_in_progress(struct kl_err *err);
/* The live head of lname: its latest version into latest ("" when the name is free). A deleted
 * certificate is 409 ObjectIsDeletedButRecoverable. */
int cert_live_latest(struct vault *v, const char *name, const char *lname, char *latest,
		     struct kl_err *err);

/* Before a create or an import: name checked into lname (OBJ_NAME_MAX + 1), its live latest
 * version into latest (as cert_live_latest), its operation record (if any) into op with its
 * store version in *op_version. An operation in progress is 409 (cert_fail_in_progress). */
int cert_new_version_check(struct vault *v, const char *name, char *lname, char *latest,
			   struct cert_op *op, uint64_t *op_version, struct kl_err *err);

/* key_ops bits (util/jwk.h) a managed key of type kty gets from key_usage (C3). */
unsigned cert_key_ops_of(unsigned key_usage, bool is_ec);

/* The x509 profile of policy p (borrowing its strings) for a certificate valid from nbf to exp. */
void cert_profile_of(const struct cert_policy *p, int64_t nbf, int64_t exp,
		     struct x509_profile *out);
/* nbf/exp of a self-signed certificate made at t with policy p. */
void cert_validity(const struct cert_policy *p, int64_t t, int64_t *nbf, int64_t *exp);

/* The stored key version (parsed) of name/version; caller keyops_free()s it. */
struct keyops_key *cert_load_key(struct vault *v, const char *lname, const char *version,
				 struct kl_err *err);

/* Builds the key, secret and certificate version objects of an issued version from key k and
 * chain (leaf first), with the policy's content type and exportability, into w (which points at
 * the objs given; material is in secret_val and key_val, wiping buffers the caller clears). */
struct cert_issue {
	struct obj key, secret, cert;
	struct buf key_val, secret_val, pub;
};
void cert_issue_init(struct cert_issue *is);
void cert_issue_clear(struct cert_issue *is);
int cert_issue_build(const struct cert_policy *p, const struct keyops_key *k,
		     const struct x509_chain *chain, const char *version, const char *prev,
		     bool preserve_order, const struct cert_new *in, struct cert_issue *is,
		     struct kl_err *err);

#endif
