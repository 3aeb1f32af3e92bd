/* What the identity provider's files of vault/ (signkeys.c, accesstoken.c, assertion.c,
 * replay.c) share and nobody else sees: the signing key cache, and the clock-taking forms of the
 * public functions of identity.h (which pass clock_now_s()), for tests that need another time. */
#ifndef KLUIS_VAULT_IDENTITY_INTERNAL_H
#define KLUIS_VAULT_IDENTITY_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "crypto/jws.h"
#include "vault/identity.h"

#define IDENTITY_SKEW_S 60	/* clock difference tolerated on exp, nbf and iat */

/* ---- signkeys.c: the cache of unsealed signing keys (struct vault_core's signkeys) ---- */

struct signkeys;
struct signkeys *signkeys_new(struct kl_err *err);
void signkeys_free(struct signkeys *s);

/* Signs header.claims with the newest active key (sets the header's kid; jws_sign adds alg and
 * typ). KL_EUNAVAIL when the store holds no active key yet. Thread-safe. */
int signkeys_sign(struct vault_core *core, json_t *header, json_t *claims, struct buf *out,
		  struct kl_err *err);
/* Checks p's signature over tok with the key named kid (RS256 only): 0 with *valid, or
 * KL_EUNAUTH when no signing key has this kid (after one reload from the store, at most once a
 * second). Thread-safe. */
int signkeys_verify(struct vault_core *core, const char *kid, const char *tok,
		    const struct jws_parts *p, bool *valid, struct kl_err *err);
/* Drops the cache so that the next use reloads it (after a rotation here). */
void signkeys_invalidate(struct vault_core *core);

/* ---- accesstoken.c ---- */

int accesstoken_issue_at(struct vault_core *core, const struct identity_grant *g, int64_t now,
			 struct buf *token, int64_t *expires_on, struct kl_err *err);
/* When until_s is not NULL, the time the answer stops being good goes in it (Unix seconds): the
 * token's exp, or its credential's expiry when that comes first. For caches of the answer
 * (vault/authcache.h). */
int accesstoken_verify_at(struct vault_core *core, const char *tok, size_t len, int64_t now,
			  struct principal_ref *who, int64_t *until_s, struct kl_err *err);
/* The first 32 hex digits of the SHA-256 of an OpenID subject: a federated credential's id. */
int accesstoken_subject_id(const char *subject, char out[33], struct kl_err *err);

/* ---- assertion.c ---- */

int assertion_check_at(struct vault_core *core, const char *client_id, const char *assertion,
		       size_t len, const char *token_url, int64_t now, struct principal_ref *who,
		       enum identity_cred_kind *kind, char *cred_id, struct kl_err *err);

/* ---- replay.c: the in-process register of a read-only node (struct vault_core's replay) ---- */

struct replay_mem;
struct replay_mem *replay_mem_new(struct kl_err *err);
void replay_mem_free(struct replay_mem *r);
int replay_note_at(struct vault_core *core, const char *iss, const char *jti, int64_t exp,
		   int64_t now, struct kl_err *err);

#endif
