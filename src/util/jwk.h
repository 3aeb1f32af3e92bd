/* JSON Web Keys as plain data: the members of a JWK decoded from base64url, and back. Shared by
 * api/ (request bodies, responses), vault/ (stored public parts) and crypto/ (building keys), so
 * it holds bytes and names only, no cryptography. Private members live in wiping buffers. */
#ifndef KLUIS_UTIL_JWK_H
#define KLUIS_UTIL_JWK_H

#include <jansson.h>
#include <stdbool.h>

#include "util/buf.h"

#define JWK_MEMBER_MAX 2048	/* bytes of one decoded member: RSA 4096 is 512 */

/* key_ops as a bit set. */
enum jwk_op {
	JWK_OP_ENCRYPT = 1 << 0,
	JWK_OP_DECRYPT = 1 << 1,
	JWK_OP_SIGN = 1 << 2,
	JWK_OP_VERIFY = 1 << 3,
	JWK_OP_WRAP = 1 << 4,
	JWK_OP_UNWRAP = 1 << 5,
	JWK_OP_IMPORT = 1 << 6,
	JWK_OP_EXPORT = 1 << 7,
};

struct jwk {
	char kty[16];		/* as given: "RSA", "RSA-HSM", "EC", "EC-HSM", "oct", "oct-HSM" */
	char crv[16];		/* "P-256", "P-256K", "P-384", "P-521"; "" when absent */
	struct buf n, e, x, y;	/* public members */
	struct buf d, p, q, dp, dq, qi, k;	/* private members (wiping buffers) */
	bool has_key_ops;
	unsigned key_ops;	/* enum jwk_op bits */
};

void jwk_init(struct jwk *j);
/* Wipes the private members and frees everything; j can be reused after jwk_init. */
void jwk_clear(struct jwk *j);

/* Reads a JWK object: kty (required string), crv, key_ops (array of known names), and every
 * binary member (base64url, padded or not, either alphabet). Unknown members are ignored, and a
 * member that is JSON null counts as absent. Wrong types, bad base64url, unknown key_ops names or
 * oversize members are KL_EINVAL (azure_code "BadParameter") naming the member. out must have
 * been through jwk_init; it is emptied first, and on failure it is left empty (private members
 * wiped). */
int jwk_from_json(json_t *obj, struct jwk *out, struct kl_err *err);

/* The public JWK as the service returns it: kid (may be NULL), kty, key_ops, and n/e or
 * crv/x/y; never a private member. NULL on allocation failure. */
json_t *jwk_public_json(const struct jwk *j, const char *kid);

/* key_ops names to bits and back ("wrapKey", "unwrapKey" spelled as the service does). */
int jwk_key_ops_from_json(json_t *arr, unsigned *ops, struct kl_err *err);
json_t *jwk_key_ops_json(unsigned ops);
/* The name of one op bit ("decrypt"), for messages; "unknown" for anything else. */
const char *jwk_op_name(unsigned op);

#endif
