/* What the files of api/ share: the context, the call being served, the route table's types and
 * the helpers that turn domain objects into Azure JSON and back. */
#ifndef KLUIS_API_INTERNAL_H
#define KLUIS_API_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>

#include "api/api.h"
#include "api/throttle.h"
#include "util/secbuf.h"
#include "vault/object.h"
#include "vault/principals.h"
#include "vault/vault.h"

struct api_ctx {
	struct api_config cfg;
	struct vault_core *core;
	size_t max_body;
	struct metrics *metrics;	/* api/metrics.h: counters for GET /metrics */
	struct throttle *throttle;	/* api/throttle.h: request budgets */
};

struct route;
enum route_plane { PLANE_PUBLIC, PLANE_DATA, PLANE_ARM, PLANE_ADMIN, PLANE_IDENTITY };

/* The request as api/ knows it, made by api_begin in the request's arena (api_req.state) and
 * read by api_dispatch, the handlers and the audit line: nothing of it is kept in http/'s view
 * and nothing is recomputed. */
struct api_state {
	const struct route *route;	/* NULL: no route matched */
	enum route_plane plane;		/* route_plane_of(route), once */
	char *vault_name;		/* data plane: the vault the Host names; else NULL */
	char *params[API_MAX_PARAMS];	/* path parameters of the route, in order (arena) */
	size_t n_params;
	struct principal_ref who;	/* who sent it; zero until authenticated */
};

/* What api_begin made of req, for the audit line, tests and fuzz drivers: its route (NULL before
 * api_begin or when none matched), its principal (all zero until authenticated) and its vault
 * name (NULL off the data plane). */
const struct route *api_req_route(const struct api_req *req);
const struct principal_ref *api_req_who(const struct api_req *req);
const char *api_req_vault(const struct api_req *req);

/* One request being served, handed to a handler. */
struct api_call {
	struct api_ctx *ctx;
	struct api_state *st;		/* c->req->state */
	const struct principal_ref *who;	/* &st->who */
	struct api_req *req;
	struct api_resp *resp;
	struct vault vault;		/* the vault the Host header names */
	const char *api_version;	/* validated */
	const char *host;		/* sanitised authority for ids and links */
	struct kl_err err;
	unsigned retry_after_s;		/* a refusal's Retry-After when not the default 1 */
	unsigned key_weight;		/* throttle units the operation's key costs; 0: not known */
};

typedef int (*api_handler)(struct api_call *c);

/* What an operation does, for the read-only gate: only WRITE and ADMIN change state. */
enum route_class { ROUTE_PUBLIC, ROUTE_READ, ROUTE_CRYPTO, ROUTE_WRITE, ROUTE_ADMIN };

/* The permission an operation needs (checked against the principal's role per vault). */
enum route_perm {
	PERM_NONE,
	PERM_SECRET_GET,
	PERM_SECRET_LIST,
	PERM_SECRET_SET,
	PERM_SECRET_DELETE,
	PERM_SECRET_BACKUP,
	PERM_SECRET_RESTORE,
	PERM_SECRET_RECOVER,
	PERM_SECRET_PURGE,
	PERM_KEY_GET,
	PERM_KEY_LIST,
	PERM_KEY_CREATE,
	PERM_KEY_IMPORT,
	PERM_KEY_UPDATE,
	PERM_KEY_DELETE,
	PERM_KEY_BACKUP,
	PERM_KEY_RESTORE,
	PERM_KEY_RECOVER,
	PERM_KEY_PURGE,
	PERM_KEY_ROTATE,
	PERM_KEY_GET_POLICY,
	PERM_KEY_SET_POLICY,
	PERM_KEY_ENCRYPT,
	PERM_KEY_DECRYPT,
	PERM_KEY_WRAP,
	PERM_KEY_UNWRAP,
	PERM_KEY_SIGN,
	PERM_KEY_VERIFY,
	PERM_KEY_RELEASE,
	PERM_RNG,
	PERM_CERT_GET,
	PERM_CERT_LIST,
	PERM_CERT_CREATE,
	PERM_CERT_IMPORT,
	PERM_CERT_UPDATE,
	PERM_CERT_DELETE,
	PERM_CERT_RECOVER,
	PERM_CERT_PURGE,
	PERM_CERT_BACKUP,
	PERM_CERT_RESTORE,
	PERM_CERT_CONTACTS,		/* managecontacts: set, get, delete contacts */
	PERM_CERT_ISSUERS_GET,
	PERM_CERT_ISSUERS_LIST,
	PERM_CERT_ISSUERS_SET,
	PERM_CERT_ISSUERS_DELETE,
	/* outside the data plane: */
	PERM_DEPLOYMENT,	/* any authenticated principal (who am I, which deployment) */
	PERM_MGMT_READ,		/* management plane (ARM) reads */
	PERM_MGMT_WRITE,	/* management plane (ARM) writes */
	PERM_MGMT_SIGNED_IN,	/* management plane: any principal (what it may see is filtered) */
	PERM_ADMIN,		/* the administration API (principals, role assignments) */
	PERM_IDENTITY,		/* the identity provider: discovery, JWKS, token endpoints; no
				 * bearer token (each token endpoint authenticates its client) */
};
#define PERM_BIT(p) (UINT64_C(1) << (p))

/* Which API a route belongs to, from its permission. */
struct route {
	const char *method;
	const char *path;	/* segments: literal, {param}, or a final {param?} that may be empty */
	api_handler handler;
	enum route_class cls;
	enum route_perm perm;
	const char *op;		/* operation name for logs and metrics */
};

enum route_plane route_plane_of(const struct route *r);

/* The route table (routes.c) and its matcher. The route of req into *out, st's path parameters
 * copied into req's arena; -1 with *err set when there is none (NotFound, or MethodNotAllowed
 * when the path exists under another method) or the copy finds no memory. */
int routes_match(struct api_req *req, struct api_state *st, const struct route **out,
		 struct kl_err *err);
const struct route *routes_table(size_t *n);

/* Path parameter 0, the object name, checked against the service's rule: NULL with c->err set
 * (400 naming the kind, "secret" or "key") when invalid. */
const char *api_name_param(struct api_call *c, const char *kind);
/* Path parameter 1, the version: "" when absent (the latest). */
const char *api_version_param(struct api_call *c);
/* Path parameter i as matched, "" when the route has fewer. */
const char *api_param(const struct api_call *c, size_t i);

/* Is h a Host header kluis accepts (letters, digits, '.', '-', ':', '[', ']'; 1-255 bytes)? */
bool api_host_is_valid(const char *h);

/* Query parameter by name, NULL when absent. */
const char *api_query(const struct api_req *req, const char *name);

/* Replies: JSON (takes ownership of body), or an empty body. Return 0. */
int api_reply_json(struct api_call *c, int status, json_t *body);
int api_reply_empty(struct api_call *c, int status);

/* The 401 answer with the challenge the SDKs expect for this host. */
void api_resp_challenge(const struct api_ctx *ctx, const struct api_req *req, const char *host,
			struct api_resp *resp, const char *message);

/* throttle_gate.c: the throttle's step of the pipeline. The budget route r draws on. */
enum throttle_budget throttle_gate_budget(const struct route *r);
/* After authorization: counts the call in its vault's and its caller's buckets, or refuses it
 * (-1, c->err a 429 in the service's shape, c->retry_after_s set). */
int throttle_gate_admit(struct api_call *c, const struct route *r);
/* The handler has used a key of type kty and size bits: the weight of its budget. */
void throttle_gate_note_key(struct api_call *c, const char *kty, unsigned bits);
/* After the handler: counts the rest of a weighted operation's cost. */
void throttle_gate_settle(struct api_call *c, const struct route *r);

/* errors.c: the status and default code of an error kind. */
int errors_status(enum kl_errc code);

/* body.c: request bodies. */
int body_object(const struct api_req *req, json_t **out, struct kl_err *err);
/* Optional string member: absent or null leaves *out NULL; wrong type is KL_EINVAL. */
int body_opt_string(json_t *obj, const char *field, const char **out, struct kl_err *err);
/* Optional boolean member (obj may be NULL): absent or null is false; wrong type is KL_EINVAL. */
int body_opt_bool(json_t *obj, const char *field, bool *out, struct kl_err *err);
/* attributes {enabled, nbf, exp} into a patch (only what is present). */
int body_attrs(json_t *obj, struct obj_patch *p, struct kl_err *err);
/* tags into a patch; *tags is allocated (free with body_tags_free). */
int body_tags(json_t *obj, struct obj_patch *p, struct obj_tag **tags, struct kl_err *err);
void body_tags_free(struct obj_tag *tags, size_t n);
/* The attributes (enabled defaults to true) and tags of a new object into in. The tags and any
 * content_type the caller sets are borrowed from the parsed body: body_new_object_done gives them
 * back, and must run before obj_clear(in) and before the body is freed. */
int body_new_object(json_t *body, struct obj *in, struct obj_tag **tags, struct kl_err *err);
void body_new_object_done(struct obj *in, struct obj_tag *tags);
/* Number of UTF-8 characters of s (jansson has validated the encoding). */
size_t body_utf8_chars(const char *s);

/* data/bundle.c: Azure JSON for objects. The collection is "secrets" or "keys". */
json_t *bundle_attributes(const struct api_call *c, const struct obj *o);
/* "https://HOST/COLLECTION/NAME[/VERSION]" in the request's arena (util/arena.h): it lives until
 * the request ends and is never freed alone. NULL when out of memory. */
char *bundle_id(const struct api_call *c, const char *collection, const char *name,
		const char *version);
/* The members every object bundle shares, added to b in the service's order: attributes, tags,
 * managed, and for a deleted object recoveryId (under deleted_collection), deletedDate and
 * scheduledPurgeDate. -1 on allocation failure. */
int bundle_common(const struct api_call *c, json_t *b, const struct obj *o,
		  const char *deleted_collection);
json_t *bundle_secret(const struct api_call *c, const struct obj *o, const char *value,
		      size_t value_len, bool is_item);

/* data/paging.c: maxresults and $skiptoken in, nextLink out. */
int paging_args(const struct api_req *req, size_t *max, bool *max_given, char *after,
		size_t after_size, struct kl_err *err);
/* Sets "nextLink" on page (null when next is empty). path is the collection path. */
int paging_next_link(const struct api_call *c, const char *path, const char *next, size_t max,
		     bool max_given, json_t *page);
/* A page object {"value": items, "nextLink": ...}. */
json_t *paging_page(const struct api_call *c, const char *path, json_t *items,
		    const struct obj_page *p, size_t max, bool max_given);

/* Replies 200 with a page whose items item() builds (versioned: ids carry the version). */
typedef json_t *(*paging_item_fn)(const struct api_call *c, const struct obj *o, bool versioned);
int paging_reply(struct api_call *c, const char *path, const struct obj_page *p, size_t max,
		 bool max_given, paging_item_fn item, bool versioned);

/* A whole list operation: paging arguments, the vault scan, the page reply. name is the object
 * for PAGING_VERSIONS (NULL otherwise); path the collection path for nextLink. */
enum paging_mode { PAGING_LIVE, PAGING_VERSIONS, PAGING_DELETED };
int paging_list(struct api_call *c, enum obj_kind kind, enum paging_mode mode, const char *name,
		const char *path, paging_item_fn item);

/* data/idempotency.c: the idempotency of a create that makes a version of name (vault/idem.h), into
 * idem; *out is idem, or NULL when the request has no x-ms-client-request-id (then nothing is
 * computed). The caller wipes idem when done. -1 with c->err when the digests fail. */
struct obj_idem;
int api_idempotency(struct api_call *c, const char *name, struct obj_idem *idem,
		    const struct obj_idem **out);

/* data/backup.c: POST .../backup and .../restore for any kind of object. */
int api_backup(struct api_call *c, enum obj_kind kind, const char *name);
int api_restore(struct api_call *c, enum obj_kind kind, struct obj *out);

/* data/keys.c: KeyBundle / KeyItem JSON (m may be NULL for items; versioned: the kid names the
 * version). */
struct key_meta;
json_t *bundle_key(const struct api_call *c, const struct obj *o, const struct key_meta *m,
		   bool is_item, bool versioned);

/* data/certs.c, certpolicy.c, certop.c: certificates (vault/certs.h) on the wire. */
struct cert;
struct cert_policy;
struct cert_op;
/* CertificateBundle (policy only when with_policy and loaded) and CertificateItem. */
json_t *bundle_cert(const struct api_call *c, const struct cert *ct, bool with_policy);
json_t *item_cert(const struct api_call *c, const struct cert *ct, bool versioned);
int reply_cert(struct api_call *c, int status, const struct cert *ct, bool with_policy);
/* Replies 200 with a page of CertificateItems (versioned: ids carry the version). */
struct cert_page;
int certs_page_reply(struct api_call *c, const char *path, struct cert_page *p, size_t max,
		     bool max_given, bool versioned);
/* The name of a certificate in a create or import path: the literal segments of the collection
 * (contacts, issuers, restore) are not names (C1). NULL with c->err set. */
const char *certs_new_name(struct api_call *c);
/* attributes.enabled, tags and preserveCertOrder of a create, import or merge body; *tags is
 * allocated (free it), its strings borrowed from body. */
struct cert_new;
int certs_read_new(struct api_call *c, json_t *body, struct cert_new *in, struct obj_tag **tags);
/* CertificatePolicy JSON j into p (p->given marks the members present); NULL j gives nothing. */
int certpolicy_read(struct api_call *c, json_t *j, struct cert_policy *p);
json_t *certpolicy_json(const struct api_call *c, const char *name, const struct cert_policy *p);
json_t *certop_json(const struct api_call *c, const char *name, const struct cert_op *op);

/* Handlers, by folder of src/api/. Here: health.c, observe.c (GET /metrics). */
int health_get(struct api_call *c);
int health_writable(struct api_call *c);
int metrics_get(struct api_call *c);
/* data/: the Azure Key Vault data plane: secrets.c, keys.c, crypto_ops.c, policy.c */
int secrets_set(struct api_call *c);
int secrets_get(struct api_call *c);
int secrets_update(struct api_call *c);
int secrets_list(struct api_call *c);
int secrets_list_versions(struct api_call *c);
int secrets_delete(struct api_call *c);
int secrets_backup(struct api_call *c);
int secrets_restore(struct api_call *c);
int deleted_secrets_get(struct api_call *c);
int deleted_secrets_list(struct api_call *c);
int deleted_secrets_recover(struct api_call *c);
int deleted_secrets_purge(struct api_call *c);
int keys_create(struct api_call *c);
int keys_import(struct api_call *c);
int keys_get(struct api_call *c);
int keys_update(struct api_call *c);
int keys_list(struct api_call *c);
int keys_list_versions(struct api_call *c);
int keys_delete(struct api_call *c);
int keys_backup(struct api_call *c);
int keys_restore(struct api_call *c);
int keys_rotate(struct api_call *c);
int keys_release(struct api_call *c);
int keys_attestation(struct api_call *c);
int keys_random(struct api_call *c);
int keys_policy_get(struct api_call *c);
int keys_policy_set(struct api_call *c);
int keys_encrypt(struct api_call *c);
int keys_decrypt(struct api_call *c);
int keys_wrap(struct api_call *c);
int keys_unwrap(struct api_call *c);
int keys_sign(struct api_call *c);
int keys_verify(struct api_call *c);
int deleted_keys_get(struct api_call *c);
int deleted_keys_list(struct api_call *c);
int deleted_keys_recover(struct api_call *c);
int deleted_keys_purge(struct api_call *c);
/* data/cert_issuers.c, cert_contacts.c: certificate issuers and contacts */
int certificate_issuer_set(struct api_call *c);
int certificate_issuer_update(struct api_call *c);
int certificate_issuer_get(struct api_call *c);
int certificate_issuer_delete(struct api_call *c);
int certificate_issuers_list(struct api_call *c);
int certificate_contacts_set(struct api_call *c);
int certificate_contacts_get(struct api_call *c);
int certificate_contacts_delete(struct api_call *c);
/* data/certs.c, certop.c, certpolicy.c, certimport.c, certlife.c: certificates (C1 #1-#19) */
int certs_create(struct api_call *c);
int certs_import(struct api_call *c);
int certs_get(struct api_call *c);
int certs_list(struct api_call *c);
int certs_list_versions(struct api_call *c);
int certs_update(struct api_call *c);
int certs_merge(struct api_call *c);
int certs_policy_get(struct api_call *c);
int certs_policy_update(struct api_call *c);
int certs_op_get(struct api_call *c);
int certs_op_cancel(struct api_call *c);
int certs_op_delete(struct api_call *c);
int certs_delete(struct api_call *c);
int certs_backup(struct api_call *c);
int certs_restore(struct api_call *c);
int deleted_certs_get(struct api_call *c);
int deleted_certs_list(struct api_call *c);
int deleted_certs_recover(struct api_call *c);
int deleted_certs_purge(struct api_call *c);
/* mgmt/arm_vaults.c: the management plane */
int arm_vault_get(struct api_call *c);
int arm_vault_put(struct api_call *c);
int arm_vault_patch(struct api_call *c);
int arm_vault_delete(struct api_call *c);
int arm_access_policies_put(struct api_call *c);
int arm_vaults_list_sub(struct api_call *c);
int arm_vaults_list_rg(struct api_call *c);
int arm_resources_list(struct api_call *c);
int arm_deleted_list(struct api_call *c);
int arm_deleted_get(struct api_call *c);
int arm_deleted_purge(struct api_call *c);
int arm_check_name(struct api_call *c);
int arm_operations_list(struct api_call *c);
/* mgmt/arm_objects.c: the management plane's secrets and keys */
int arm_secret_put(struct api_call *c);
int arm_secret_patch(struct api_call *c);
int arm_secret_get(struct api_call *c);
int arm_secrets_list(struct api_call *c);
int arm_key_put(struct api_call *c);
int arm_key_get(struct api_call *c);
int arm_keys_list(struct api_call *c);
int arm_key_versions_list(struct api_call *c);
/* mgmt/arm_metadata.c: the cloud's metadata and the subscriptions (az login) */
int arm_metadata_endpoints(struct api_call *c);
int arm_subscriptions_list(struct api_call *c);
int arm_subscription_get(struct api_call *c);
/* admin/admin.c, admin_region.c, admin_roles.c: the administration API (docs/admin-api.md) */
int admin_deployment(struct api_call *c);
int admin_region_get(struct api_call *c);
int admin_region_promote(struct api_call *c);
int admin_region_switchover(struct api_call *c);
int admin_vaults_list(struct api_call *c);
int admin_vault_get(struct api_call *c);
int admin_principal_create(struct api_call *c);
int admin_principals_list(struct api_call *c);
int admin_principal_get(struct api_call *c);
int admin_principal_delete(struct api_call *c);
int admin_principal_update(struct api_call *c);
int admin_token_create(struct api_call *c);
int admin_token_revoke(struct api_call *c);
int admin_roles_list(struct api_call *c);
int admin_assignment_create(struct api_call *c);
int admin_assignments_list(struct api_call *c);
int admin_assignment_get(struct api_call *c);
int admin_assignment_delete(struct api_call *c);
/* identity/identity_errors.c: the identity provider's step of api_begin (no bearer token: the
 * Host header and the query checked, OAuth errors) and its OAuth error bodies
 * (identity/identity_internal.h). */
int identity_begin(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp);
/* c->err (a failure before or in a handler of PLANE_IDENTITY) as an OAuth error in c->resp. */
void identity_reply_error(struct api_call *c);
/* identity/identity_discovery.c, identity_token.c, identity_msi.c: the identity provider */
int identity_openid_config(struct api_call *c);
int identity_openid_config_v2(struct api_call *c);
int identity_jwks_get(struct api_call *c);
int identity_token_v2(struct api_call *c);
int identity_token_v1(struct api_call *c);
int identity_msi_token(struct api_call *c);
/* admin/admin_credentials.c: a principal's client secrets and client certificates */
int admin_secrets_list(struct api_call *c);
int admin_secret_create(struct api_call *c);
int admin_secret_revoke(struct api_call *c);
int admin_certificates_list(struct api_call *c);
int admin_certificate_create(struct api_call *c);
int admin_certificate_revoke(struct api_call *c);
/* admin/admin_masterkey.c: the master key's status and rotation */
int admin_master_key_get(struct api_call *c);
int admin_master_key_rotate(struct api_call *c);
/* admin/admin_identity.c: the access token signing keys */
int admin_signing_keys_list(struct api_call *c);
int admin_signing_keys_rotate(struct api_call *c);

#endif
