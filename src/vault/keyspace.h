/* The store keyspace: every record kluis writes, by key prefix, with its key layout and its
 * value, and the builders of those keys. The one place that says what is on disk
 * (docs/storage.md is written from it); a key's bytes never change (existing stores are read).
 *
 * Both backends store the same key bytes and value bytes; only the envelope differs:
 *  - LMDB (store_lmdb.c): one unnamed database; the key as is, the value as an 8-byte big-endian
 *    record version followed by the value's bytes.
 *  - PostgreSQL (store_pg*.c): one table kluis_kv(key bytea primary key, value bytea, version
 *    bigint); the table's comment names the schema ("kluis-schema N").
 * A record's version grows by one on every put (1 when new); a STORE_CHECK compares it, 0 meaning
 * absent. Keys are ASCII built here; names in keys are lower-cased, so a name's case is kept in
 * the record (e.g. a head's display name). Values are util/rec.h records (big-endian integers,
 * length-prefixed strings) whose first byte is the record's format number, unless said below.
 * Sealed material is seal.c's output under the data key, its additional data the version key.
 *
 * Thread safety: the builders write only into out (KEYBUF bytes) and keep no state. */
#ifndef KLUIS_VAULT_KEYSPACE_H
#define KLUIS_VAULT_KEYSPACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vault/object.h"

struct vault;

/* ---- objects of a vault: o/<vault>/... (vault names are lower case) ---- */
/* o/<vault>/<tag>/h/<lname> live head, o/<vault>/<tag>/d/<lname> deleted head (tag: s secret,
 * k key, c certificate): HEAD_FORMAT 1, display name, latest version id, deleted date, scheduled
 * purge (record.c). o/<vault>/<tag>/v/<lname>/<version id, 32 hex> a version: VERSION_FORMAT 1,
 * attributes, content type, tags, managed flag, public part, sealed material (record.c).
 * o/<vault>/k/r/<lname> a key's rotation policy (policy.c), o/<vault>/c/r/<lname> a
 * certificate's policy (certpolicy.c), o/<vault>/c/q/<lname> its pending operation (certop.c),
 * o/<vault>/i/<lname> a certificate issuer (certissuers.c), o/<vault>/n the certificate contacts
 * (certissuers.c). */
#define KEYSPACE_OBJECTS "o/"
/* p/<deleted date + retention, 16 hex>/<vault>/<tag>/<lname>: the purge schedule of a deleted
 * head, empty value; scanned in key order by the purge job (objpurge.c). */
#define KEYSPACE_PURGE_SCHEDULE "p/"
/* r/<vault>/<lname>: index of the keys with a rotation policy, empty value (policy.c). */
#define KEYSPACE_ROTATION_INDEX "r/"
/* a/<vault>/<lname>: index of certificates to renew, empty value (certpolicy.c). */
#define KEYSPACE_RENEWAL_INDEX "a/"
/* i/<vault>/<hex SHA-256 of the principal's identity and an x-ms-client-request-id>: the
 * idempotency record of a create (idem.h): IDEM_FORMAT 1, the kind's tag, the creation time, the
 * version id made, the request's fingerprint sealed with this key as additional data (idem.c);
 * written with the version (objcreate.c), swept IDEM_RETENTION_S after its creation (idemsweep.c). */
#define KEYSPACE_IDEMPOTENCY "i/"

/* ---- the deployment: vaults, identities, rights ---- */
/* V/<vault lname>: a vault record, VAULT_FORMAT 2 (record.c). */
#define KEYSPACE_VAULTS "V/"
/* P/<principal id, uuid>: a principal, PRINCIPAL_FORMAT 3 (principals.c). */
#define KEYSPACE_PRINCIPALS "P/"
/* N/<principal lname>: the principal's id (36 bytes, not a rec record): names are unique. */
#define KEYSPACE_PRINCIPAL_NAMES "N/"
/* S/<hex SHA-256 of an OpenID subject>: the principal's id (36 bytes): subjects are unique. */
#define KEYSPACE_SUBJECTS "S/"
/* Q/<principal id>/<token id>: a token's metadata, TOKEN_FORMAT 1 (principals.c). */
#define KEYSPACE_PRINCIPAL_TOKENS "Q/"
/* T/<hex SHA-256 of a live token>: the same token record as its Q/ (principals.c). */
#define KEYSPACE_TOKENS "T/"
/* C/<principal id>/<credential id>: a client secret (its SHA-256 only) or certificate,
 * CRED_FORMAT 1 (credentials.c). */
#define KEYSPACE_CREDENTIALS "C/"
/* A/<vault lname, or "-" for the deployment>/<principal id>/<role id>: a role assignment,
 * ASSIGN_FORMAT 1 (assignments.c); I/<assignment id>: the same record, by id. */
#define KEYSPACE_ASSIGNMENTS "A/"
#define KEYSPACE_ASSIGNMENT_IDS "I/"
#define KEYSPACE_DEPLOYMENT_SCOPE "-"
/* K/<kid, "kl-...">: a token-signing key, SIGNKEY_FORMAT 1, its private key sealed
 * (signkeys.c). */
#define KEYSPACE_SIGNING_KEYS "K/"
/* J/<hex SHA-256 of iss, NUL, jti>: a client assertion already used, REPLAY_FORMAT 1 and its exp
 * (replay.c); swept once expired. */
#define KEYSPACE_REPLAY "J/"

/* ---- meta records of the store (m/...) ---- */
#define KEYSPACE_META "m/"
#define KEYSPACE_META_FORMAT "m/format"	  /* the store format, text "kluis-store-1" (core.c) */
#define KEYSPACE_META_TENANT "m/tenant"	  /* the tenant id, text (core.c) */
#define KEYSPACE_META_ADMIN "m/admin"	  /* the admin token's digest (core.c) */
#define KEYSPACE_META_DATA_KEY "m/datakey" /* the data key wrapped under the master key
					    * (masterkey.c) */
#define KEYSPACE_META_SIGNKEY "m/signkey"  /* the kid of the active signing key (signkeys.c) */
#define KEYSPACE_META_JOBS_LEASE "m/lease/jobs" /* which node runs the jobs, until when (mode.c) */
#define KEYSPACE_META_REGION_EPOCH "m/region-epoch" /* which region takes writes, since when
							   (fence.c) */
#define KEYSPACE_META_AUTH_EPOCH "m/authepoch"	/* empty; put with every change under a watched
						 * prefix (store_watch; authcache.c) */

/* The prefixes whose changes the node caches depend on (authcache.c watches them): tokens and
 * their metadata, principals, subjects, credentials, role assignments, vaults, signing keys. N/
 * and I/ change only together with P/ and A/. */
extern const char *const keyspace_watched[];
extern const size_t keyspace_n_watched;

/* ---- builders: each writes a NUL-terminated key of at most KEYBUF bytes into out ---- */
void keyspace_obj_head(char *out, const struct vault *v, enum obj_kind k, char state,
		       const char *lname);
void keyspace_obj_version(char *out, const struct vault *v, enum obj_kind k, const char *lname,
			  const char *ver);
/* o/<vault>/<tag>/v/<lname>/: every version of a name. */
void keyspace_obj_versions(char *out, const char *vname, char tag, const char *lname);
/* o/<vault>/<tag>/r/<lname>: a name's side record (a key's rotation policy, a certificate's). */
void keyspace_obj_side(char *out, const char *vname, char tag, const char *lname);
void keyspace_cert_operation(char *out, const char *vname, const char *lname);
void keyspace_cert_issuer(char *out, const char *vname, const char *lname);
void keyspace_cert_contacts(char *out, const char *vname);
void keyspace_purge_schedule(char *out, int64_t when, const char *vname, char tag,
			     const char *lname);
void keyspace_rotation_index(char *out, const char *vname, const char *lname);
void keyspace_renewal_index(char *out, const char *vname, const char *lname);
/* i/<vault>/<64 hex digits of digest>. */
void keyspace_idempotency(char *out, const char *vname, const unsigned char digest[32]);
/* V/<lower-cased name>; false when the name does not fit. */
bool keyspace_vault(char *out, const char *name);
void keyspace_principal(char *out, const char *id);
void keyspace_principal_name(char *out, const char *lname);
/* Q/<principal id>/<token id>; with token_id NULL, Q/<principal id>/ (every token). */
void keyspace_principal_token(char *out, const char *pid, const char *token_id);
/* T/<hex digest>. */
void keyspace_token(char *out, const char *digest_hex);
/* C/<principal id>/<credential id>; with cred_id NULL, C/<principal id>/. */
void keyspace_credential(char *out, const char *pid, const char *cred_id);
/* A/<scope>/<principal id>/<role id>, scope "-" for an empty vault. */
void keyspace_assignment(char *out, const char *vault, const char *pid, const char *role_id);
void keyspace_assignment_id(char *out, const char *id);
void keyspace_signing_key(char *out, const char *kid);

#endif
