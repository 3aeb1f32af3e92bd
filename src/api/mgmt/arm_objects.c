/* The management plane's secrets and keys (Microsoft.KeyVault/vaults/secrets and /keys), which
 * deployment templates use: a secret can be set and its metadata read, a key created if it does
 * not exist and read, never a secret value or private key material. Writes are translated into
 * the data plane's request and run by its handler, so both planes validate alike; reads render
 * the stored object in Resource Manager's shape. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/internal.h"
#include "api/mgmt/arm.h"
#include "util/json.h"
#include "vault/keys.h"
#include "vault/object.h"

#define ARM_OBJ_PAGE 25
#define DP_VERSION "7.6"

/* Opens the vault of the path (sub, rg, vault, ...) as c->vault; *authority receives its data-plane
 * authority ("name.suffix:port") and *location the vault's location, both malloc'd. */
static int open_path_vault(struct api_call *c, char **authority, char **location)
{
	struct vault_info vi;
	char *uri = NULL;
	int rc = -1;

	*authority = *location = NULL;
	vault_info_init(&vi);
	if (arm_vault_of_path(c, &vi, NULL) != 0 ||
	    vault_open(c->ctx->core, vi.name, &c->vault, &c->err) != 0)
		goto out;
	if ((uri = arm_vault_uri(c, vi.name)) == NULL || strlen(uri) < 9) {
		kl_fail(&c->err, KL_ENOMEM, "out of memory");
		goto out;
	}
	uri[strlen(uri) - 1] = '\0';		/* the trailing '/' */
	*location = strdup(vi.location[0] ? vi.location : VAULT_DEFAULT_LOCATION);
	if ((*authority = strdup(uri + 8)) == NULL || *location == NULL) {	/* past "https://" */
		kl_fail(&c->err, KL_ENOMEM, "out of memory");
		goto out;
	}
	rc = 0;
out:
	free(uri);
	vault_info_clear(&vi);
	return rc;
}

/* ARM attributes: Unix seconds; keys also say how they recover and that they never leave. */
static json_t *attributes_json(const struct obj *o, const struct vault *key_vault)
{
	json_t *a = json_pack("{s:b, s:I, s:I}", "enabled", o->attrs.enabled, "created",
			      (json_int_t)o->attrs.created, "updated", (json_int_t)o->attrs.updated);

	if (a == NULL)
		return NULL;
	if (o->attrs.has_nbf)
		json_object_set_new(a, "nbf", json_integer(o->attrs.nbf));
	if (o->attrs.has_exp)
		json_object_set_new(a, "exp", json_integer(o->attrs.exp));
	if (key_vault != NULL) {
		json_object_set_new(a, "recoveryLevel", json_string(vault_recovery_level(key_vault)));
		json_object_set_new(a, "exportable", json_false());
	}
	return a;
}

static json_t *tags_json(const struct obj *o)
{
	json_t *t = json_object();
	size_t i;

	for (i = 0; t != NULL && i < o->n_tags; i++)
		json_object_set_new(t, o->tags[i].name, json_string(o->tags[i].value));
	return t;
}

/* The resource envelope of an object: id, name, type, tags; properties filled by the caller. */
static json_t *envelope(const struct api_call *c, const char *collection, const struct obj *o,
		       const char *location)
{
	char *id = NULL;
	json_t *j;

	if (asprintf(&id, "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.KeyVault/vaults/%s/%s/%s",
		     api_param(c, 0), api_param(c, 1), api_param(c, 2), collection, o->name) < 0)
		return NULL;
	j = json_pack("{s:s, s:s, s:s, s:s, s:o, s:{}}", "id", id, "name", o->name, "type",
		      strcmp(collection, "keys") == 0 ? "Microsoft.KeyVault/vaults/keys"
						      : "Microsoft.KeyVault/vaults/secrets",
		      "location", location, "tags", tags_json(o), "properties");
	free(id);
	return j;
}

static json_t *secret_json(const struct api_call *c, const struct obj *o, const char *location)
{
	json_t *j = envelope(c, "secrets", o, location), *p;
	char *uri = bundle_id(c, "secrets", o->name, NULL), *uriv = bundle_id(c, "secrets", o->name, o->version);

	if (j == NULL || uri == NULL || uriv == NULL) {
		json_decref(j);
		j = NULL;
		goto out;
	}
	p = json_object_get(j, "properties");
	if (o->content_type != NULL)
		json_object_set_new(p, "contentType", json_string(o->content_type));
	json_object_set_new(p, "attributes", attributes_json(o, NULL));
	json_object_set_new(p, "secretUri", json_string(uri));
	json_object_set_new(p, "secretUriWithVersion", json_string(uriv));
out:
	return j;	/* uri, uriv: in the request's arena */
}

static json_t *key_json(const struct api_call *c, const struct obj *o, const struct key_meta *m,
		       const char *location)
{
	json_t *j = envelope(c, "keys", o, location), *p;
	char *uri = bundle_id(c, "keys", o->name, NULL), *uriv = bundle_id(c, "keys", o->name, o->version);

	if (j == NULL || uri == NULL || uriv == NULL) {
		json_decref(j);
		j = NULL;
		goto out;
	}
	p = json_object_get(j, "properties");
	json_object_set_new(p, "attributes", attributes_json(o, &c->vault));
	json_object_set_new(p, "kty", json_string(m->kty));
	json_object_set_new(p, "keyOps", jwk_key_ops_json(m->key_ops));
	if (strncmp(m->kty, "RSA", 3) == 0)
		json_object_set_new(p, "keySize", json_integer(m->bits));
	if (m->pub.crv[0] != '\0')
		json_object_set_new(p, "curveName", json_string(m->pub.crv));
	json_object_set_new(p, "keyUri", json_string(uri));
	json_object_set_new(p, "keyUriWithVersion", json_string(uriv));
out:
	return j;	/* uri, uriv: in the request's arena */
}

/* Runs a data-plane handler on body (the object's name and "latest" as its path), as if the
 * client had called it on the vault; its answer is left in c->resp. */
static int run_data_plane(struct api_call *c, api_handler handler, const char *name, json_t *body)
{
	char *saved[API_MAX_PARAMS], empty[1] = "";
	const char *version = c->api_version;
	size_t n = c->st->n_params;
	int rc;

	buf_reset(&c->req->body);
	if (json_util_dump(body, &c->req->body, &c->err) != 0)
		return -1;
	memcpy(saved, c->st->params, sizeof(saved));
	c->st->params[0] = (char *)name;
	c->st->params[1] = empty;
	c->st->n_params = 2;
	c->api_version = DP_VERSION;
	rc = handler(c);
	c->api_version = version;
	memcpy(c->st->params, saved, sizeof(saved));
	c->st->n_params = n;
	buf_reset(&c->resp->body);	/* the data plane's answer; the caller replies its own */
	return rc;
}

/* The data plane's request for an ARM body: the members of props named in map (ARM name, data
 * plane name), and the body's tags. NULL with c->err when out of memory. */
static json_t *data_plane_body(struct api_call *c, json_t *body, json_t *props,
			       const char *const map[][2], size_t n)
{
	json_t *dp = json_object(), *v;
	size_t i;

	for (i = 0; dp != NULL && i < n; i++)
		if ((v = json_object_get(props, map[i][0])) != NULL &&
		    json_object_set(dp, map[i][1], v) != 0)
			goto nomem;
	if (dp == NULL || ((v = json_object_get(body, "tags")) != NULL &&
			   json_object_set(dp, "tags", v) != 0))
		goto nomem;
	return dp;
nomem:
	json_decref(dp);
	kl_fail(&c->err, KL_ENOMEM, "out of memory");
	return NULL;
}

/* ---- secrets ---- */

static int reply_secret(struct api_call *c, int status, const char *name, const char *location)
{
	struct obj o;
	int rc;

	obj_init(&o);
	rc = obj_get(&c->vault, OBJ_SECRET, name, "", &o, NULL, &c->err);
	if (rc == 0)
		rc = api_reply_json(c, status, secret_json(c, &o, location));
	obj_clear(&o);
	return rc;
}

static int secret_write(struct api_call *c, bool is_patch)
{
	static const char *const map[][2] = {
		{ "value", "value" }, { "contentType", "contentType" }, { "attributes", "attributes" },
	};
	const char *name = api_param(c, 3);
	json_t *body = NULL, *dp = NULL, *props;
	char *authority = NULL, *location = NULL;
	const char *saved_host = c->host;
	struct obj o;
	bool existed;
	int rc = -1;

	obj_init(&o);
	if (body_object(c->req, &body, &c->err) != 0 || open_path_vault(c, &authority, &location) != 0)
		goto out;
	c->host = authority;	/* ids name the vault's own URL */
	if (!vault_name_is_valid_object(name)) {
		kl_fail(&c->err, KL_EINVAL, "The secret name '%.64s' is not valid.", name);
		goto out;
	}
	props = json_object_get(body, "properties");
	if (props != NULL && !json_is_object(props)) {
		kl_fail_az(&c->err, KL_EINVAL, "BadRequest", NULL, "properties must be an object.");
		goto out;
	}
	existed = obj_get(&c->vault, OBJ_SECRET, name, "", &o, NULL, &c->err) == 0;
	if (!existed && (is_patch || c->err.code != KL_ENOTFOUND))
		goto out;	/* a patch needs the secret; anything but absent is an error */
	kl_err_clear(&c->err);
	if ((dp = data_plane_body(c, body, props, map, sizeof(map) / sizeof(map[0]))) == NULL)
		goto out;
	if (is_patch)
		json_object_del(dp, "value");	/* a patch changes metadata only */
	if (run_data_plane(c, is_patch ? secrets_update : secrets_set, name, dp) != 0)
		goto out;
	rc = reply_secret(c, existed || is_patch ? 200 : 201, name, location);
out:
	c->host = saved_host;
	free(authority);
	free(location);
	obj_clear(&o);
	json_decref(dp);
	json_decref(body);
	return rc;
}

int arm_secret_put(struct api_call *c)
{
	return secret_write(c, false);
}

int arm_secret_patch(struct api_call *c)
{
	return secret_write(c, true);
}

int arm_secret_get(struct api_call *c)
{
	const char *saved_host = c->host;
	char *authority = NULL, *location = NULL;
	int rc = -1;

	if (open_path_vault(c, &authority, &location) == 0) {
		c->host = authority;
		rc = reply_secret(c, 200, api_param(c, 3), location);
		c->host = saved_host;
	}
	free(authority);
	free(location);
	return rc;
}

/* ---- keys ---- */

static int reply_key(struct api_call *c, int status, const char *name, const char *version,
		     const char *location)
{
	struct key_meta m;
	struct obj o;
	int rc;

	obj_init(&o);
	key_meta_init(&m);
	rc = key_get(&c->vault, name, version, &o, &m, &c->err);
	if (rc == 0)
		rc = api_reply_json(c, status, key_json(c, &o, &m, location));
	obj_clear(&o);
	key_meta_clear(&m);
	return rc;
}

int arm_key_put(struct api_call *c)
{
	static const char *const map[][2] = {
		{ "kty", "kty" }, { "keySize", "key_size" }, { "curveName", "crv" },
		{ "keyOps", "key_ops" }, { "attributes", "attributes" },
	};
	const char *name = api_param(c, 3), *saved_host = c->host;
	json_t *body = NULL, *dp = NULL, *props;
	char *authority = NULL, *location = NULL;
	struct obj o;
	int rc = -1;

	obj_init(&o);
	if (body_object(c->req, &body, &c->err) != 0 || open_path_vault(c, &authority, &location) != 0)
		goto out;
	c->host = authority;
	if (!vault_name_is_valid_object(name)) {
		kl_fail(&c->err, KL_EINVAL, "The key name '%.64s' is not valid.", name);
		goto out;
	}
	/* create if it does not exist: an existing key is returned as it is */
	if (obj_get(&c->vault, OBJ_KEY, name, "", &o, NULL, &c->err) == 0) {
		rc = reply_key(c, 200, name, "", location);
		goto out;
	}
	if (c->err.code != KL_ENOTFOUND)
		goto out;
	kl_err_clear(&c->err);
	props = json_object_get(body, "properties");
	if (!json_is_object(props)) {
		kl_fail_az(&c->err, KL_EINVAL, "BadRequest", NULL, "properties (with kty) is required.");
		goto out;
	}
	if ((dp = data_plane_body(c, body, props, map, sizeof(map) / sizeof(map[0]))) == NULL)
		goto out;
	if (run_data_plane(c, keys_create, name, dp) != 0)
		goto out;
	rc = reply_key(c, 200, name, "", location);
out:
	c->host = saved_host;
	free(authority);
	free(location);
	obj_clear(&o);
	json_decref(dp);
	json_decref(body);
	return rc;
}

int arm_key_get(struct api_call *c)
{
	const char *saved_host = c->host;
	char *authority = NULL, *location = NULL;
	int rc = -1;

	if (open_path_vault(c, &authority, &location) == 0) {
		c->host = authority;
		rc = reply_key(c, 200, api_param(c, 3), api_param(c, 4), location);
		c->host = saved_host;
	}
	free(authority);
	free(location);
	return rc;
}

/* ---- lists ---- */

static int list(struct api_call *c, enum obj_kind kind, bool versions)
{
	const char *top = api_query(c->req, "$top"), *skip = api_query(c->req, "$skiptoken");
	const char *saved_host = c->host;
	char *authority = NULL, *location = NULL, *link = NULL;
	struct obj_page p;
	struct key_meta m;
	json_t *items = NULL, *page = NULL, *item;
	size_t max = ARM_OBJ_PAGE, i;
	int rc = -1;

	memset(&p, 0, sizeof(p));
	key_meta_init(&m);
	if (open_path_vault(c, &authority, &location) != 0)
		goto out;
	c->host = authority;
	if (top != NULL && *top != '\0') {
		char *end;
		long n = strtol(top, &end, 10);

		if (*end != '\0' || n < 1) {
			kl_fail_az(&c->err, KL_EINVAL, "BadRequest", NULL, "$top must be a positive integer.");
			goto out;
		}
		max = n < ARM_OBJ_PAGE ? (size_t)n : ARM_OBJ_PAGE;
	}
	if (skip == NULL)
		skip = "";
	if (*skip != '\0' && !vault_name_is_valid_object(skip)) {
		kl_fail_az(&c->err, KL_EINVAL, "BadRequest", NULL, "The $skiptoken is not valid.");
		goto out;
	}
	if ((versions ? obj_list_versions(&c->vault, kind, api_param(c, 3), skip, max, &p, &c->err)
		      : obj_list(&c->vault, kind, skip, max, &p, &c->err)) != 0)
		goto out;
	if ((items = json_array()) == NULL)
		goto nomem;
	for (i = 0; i < p.n; i++) {
		if (kind == OBJ_KEY) {
			key_meta_clear(&m);
			key_meta_init(&m);
			if (key_meta_of(&p.items[i], &m, &c->err) != 0)
				goto out;
			item = key_json(c, &p.items[i], &m, location);
		} else {
			item = secret_json(c, &p.items[i], location);
		}
		if (item == NULL || json_array_append_new(items, item) != 0)
			goto nomem;
	}
	page = json_pack("{s:O}", "value", items);
	if (page == NULL)
		goto nomem;
	if (p.next[0] != '\0') {
		c->host = saved_host;
		if (asprintf(&link, "https://%s%s?api-version=%s&$top=%zu&$skiptoken=%s", c->host,
			     c->req->path, c->api_version, max, p.next) < 0)
			goto nomem;
		json_object_set_new(page, "nextLink", json_string(link));
	}
	rc = api_reply_json(c, 200, page);
	page = NULL;
	goto out;
nomem:
	kl_fail(&c->err, KL_ENOMEM, "out of memory");
out:
	c->host = saved_host;
	free(link);
	free(authority);
	free(location);
	json_decref(items);
	json_decref(page);
	obj_page_clear(&p);
	key_meta_clear(&m);
	return rc;
}

int arm_secrets_list(struct api_call *c)
{
	return list(c, OBJ_SECRET, false);
}

int arm_keys_list(struct api_call *c)
{
	return list(c, OBJ_KEY, false);
}

int arm_key_versions_list(struct api_call *c)
{
	return list(c, OBJ_KEY, true);
}
