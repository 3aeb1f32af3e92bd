/* Keys of a vault: RSA, EC and oct keys as versioned objects (vault/object.h with OBJ_KEY) whose
 * private material is sealed and never leaves the vault; the operations done with them, with
 * key_ops, enabled and nbf/exp enforced on every call; rotation and rotation policies. No JSON,
 * no HTTP: api/data/keys.c translates. Thread-safe like object.h. */
#ifndef KLUIS_VAULT_KEYS_H
#define KLUIS_VAULT_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/jwk.h"
#include "vault/object.h"

/* The public description of a key version, kept with it (obj.pub). */
struct key_meta {
	char kty[16];		/* as asked for: "RSA", "RSA-HSM", "EC", "EC-HSM", "oct", "oct-HSM" */
	unsigned key_ops;	/* enum jwk_op bits */
	unsigned bits;		/* RSA modulus, oct key size, EC field size */
	struct jwk pub;		/* public members (n, e or crv, x, y); kty as asked for */
};

void key_meta_init(struct key_meta *m);
void key_meta_clear(struct key_meta *m);

/* Parameters of a new key (create). */
struct key_spec {
	const char *kty;	/* required */
	unsigned bits;		/* 0: the default of the type (RSA 2048, oct 256) */
	unsigned long exponent;	/* RSA; 0: 65537 */
	const char *crv;	/* EC; NULL: P-256 */
	bool has_key_ops;
	unsigned key_ops;	/* default: RSA all six, EC sign/verify, oct encrypt/decrypt/wrap/unwrap */
};

/* attrs/tags come from in (as for obj_create); out and meta receive the stored version. idem: the
 * request's idempotency (obj_create_idem), NULL for none; a replayed create answers with the
 * version the first attempt made (the key generated for this attempt is discarded). */
struct obj_idem;
int key_create(struct vault *v, const char *name, const struct key_spec *spec,
	       const struct obj *in, const struct obj_idem *idem, struct obj *out,
	       struct key_meta *meta, struct kl_err *err);
/* Import a JWK with its private members; hsm adds "-HSM" to the type label. key_ops from the JWK
 * when it has them, else the type's default. idem as for key_create. */
int key_import(struct vault *v, const char *name, const struct jwk *jwk, bool hsm,
	       const struct obj *in, const struct obj_idem *idem, struct obj *out,
	       struct key_meta *meta, struct kl_err *err);

/* Reads a version's public description; a thin wrapper over obj_get. */
int key_get(struct vault *v, const char *name, const char *version, struct obj *out,
	    struct key_meta *meta, struct kl_err *err);
/* Decodes the key_meta stored in o->pub. */
int key_meta_of(const struct obj *o, struct key_meta *meta, struct kl_err *err);
/* Encodes m as key versions store it in obj.pub (for versions written outside this file: the
 * managed keys of certificates, vault/certs.h). */
int key_meta_encode(const struct key_meta *m, struct buf *out, struct kl_err *err);

/* Update attributes/tags (patch) and, when set_ops, the key_ops. */
int key_update(struct vault *v, const char *name, const char *version,
	       const struct obj_patch *patch, bool set_ops, unsigned key_ops, struct obj *out,
	       struct key_meta *meta, struct kl_err *err);

/* A new version with the latest's type, size or curve, key_ops and tags; with a rotation policy
 * that sets expiryTime, exp = now + expiryTime. idem as for key_create (NULL for the policy's
 * own rotations). */
int key_rotate(struct vault *v, const char *name, const struct obj_idem *idem, struct obj *out,
	       struct key_meta *meta, struct kl_err *err);

enum key_op { KEY_OP_ENCRYPT, KEY_OP_DECRYPT, KEY_OP_WRAP, KEY_OP_UNWRAP, KEY_OP_SIGN, KEY_OP_VERIFY };

struct key_op_in {
	const unsigned char *value;	/* plaintext, ciphertext, key, or digest */
	size_t value_len;
	const unsigned char *iv, *aad, *tag;
	size_t iv_len, aad_len, tag_len;
	const unsigned char *signature;	/* verify */
	size_t signature_len;
};

struct key_op_out {
	struct buf *out;		/* wiping buffer from the caller */
	unsigned char iv[16], tag[16];
	size_t iv_len, tag_len;
	bool valid;			/* verify */
	char kty[16];			/* the key's type and size, as key_meta has them (for the */
	unsigned bits;			/* throttle's weight of the operation) */
};

/* Runs op with the key version (latest when version is empty). Refused with KL_EFORBIDDEN when
 * the version is disabled (KeyDisabled), the op is not in key_ops (KeyOperationForbidden), or,
 * for encrypt, wrap and sign, now is outside nbf/exp. o receives the version used (for its kid). */
int key_operate(struct vault *v, const char *name, const char *version, enum key_op op,
		const char *alg, const struct key_op_in *in, struct key_op_out *out, struct obj *o,
		struct kl_err *err);

/* Rotation policies. */
enum policy_trigger { POLICY_AFTER_CREATE = 1, POLICY_BEFORE_EXPIRY = 2 };
enum policy_action { POLICY_ROTATE = 1, POLICY_NOTIFY = 2 };

#define POLICY_MAX_ACTIONS 8

struct policy_action_rule {
	enum policy_trigger trigger;
	char duration[32];		/* ISO 8601 as given */
	int64_t seconds;
	enum policy_action action;
};

struct key_policy {
	bool is_set;			/* false: the key never had one */
	struct policy_action_rule actions[POLICY_MAX_ACTIONS];
	size_t n_actions;
	bool has_expiry;
	char expiry[32];		/* ISO 8601 duration, e.g. P90D */
	int64_t expiry_seconds;
	int64_t created, updated;
};

/* KL_ENOTFOUND when the key does not exist (live). */
int key_policy_get(struct vault *v, const char *name, struct key_policy *out, struct kl_err *err);
/* Validates (expiry >= 28 days, one trigger per action...) and stores; adds the service's default
 * Notify action (30 days before expiry) when none is given. out is the stored policy. */
int key_policy_set(struct vault *v, const char *name, const struct key_policy *in,
		   struct key_policy *out, struct kl_err *err);

/* Rotates every key whose policy says it is due at now; *n_rotated counts them. */
int key_rotate_due(struct vault_core *core, int64_t now, size_t *n_rotated, struct kl_err *err);

/* Parses an ISO 8601 duration (PnYnMnWnDTnHnMnS; years 365 days, months 30) into seconds. */
int key_duration_parse(const char *s, int64_t *seconds, struct kl_err *err);

/* obj_delete and obj_purge for keys, which also drop the key's parsed versions from the cache
 * (wiping them) so no deleted key stays in memory. */
int key_delete(struct vault *v, const char *name, struct obj *out, struct kl_err *err);
int key_purge(struct vault *v, const char *name, struct kl_err *err);

/* Secure key release, which kluis does not support: always -1. A missing key or version is
 * KL_ENOTFOUND KeyNotFound, a certificate's (managed) key KL_EFORBIDDEN KeyManagedByKeyVault,
 * any other KL_EINVAL. */
int key_release(struct vault *v, const char *name, const char *version, struct kl_err *err);

/* Fresh random bytes for POST /rng. */
int key_random(unsigned char *out, size_t n, struct kl_err *err);

#endif
