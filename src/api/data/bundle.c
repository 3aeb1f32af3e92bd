/* Domain objects to the service's JSON: SecretBundle, SecretItem, DeletedSecretBundle and their
 * attributes and ids. Ids carry the authority the client used, so the SDKs' id parsers and
 * their follow-up requests land on the same vault. Optional fields are omitted, not null. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"

char *bundle_id(const struct api_call *c, const char *collection, const char *name,
		const char *version)
{
	const char *sep = version && *version ? "/" : "";
	char *id;
	int n;

	version = version ? version : "";
	n = snprintf(NULL, 0, "https://%s/%s/%s%s%s", c->host, collection, name, sep, version);
	if (n < 0 || (id = arena_alloc(&c->req->arena, (size_t)n + 1)) == NULL)
		return NULL;
	snprintf(id, (size_t)n + 1, "https://%s/%s/%s%s%s", c->host, collection, name, sep, version);
	return id;
}

json_t *bundle_attributes(const struct api_call *c, const struct obj *o)
{
	json_t *a = json_object();

	if (a == NULL)
		return NULL;
	json_object_set_new(a, "enabled", json_boolean(o->attrs.enabled));
	if (o->attrs.has_nbf)
		json_object_set_new(a, "nbf", json_integer(o->attrs.nbf));
	if (o->attrs.has_exp)
		json_object_set_new(a, "exp", json_integer(o->attrs.exp));
	json_object_set_new(a, "created", json_integer(o->attrs.created));
	json_object_set_new(a, "updated", json_integer(o->attrs.updated));
	json_object_set_new(a, "recoveryLevel", json_string(vault_recovery_level(&c->vault)));
	json_object_set_new(a, "recoverableDays", json_integer(c->vault.retention_days));
	return a;
}

static int set_id(json_t *b, const char *field, char *id)
{
	if (id == NULL)
		return -1;
	json_object_set_new(b, field, json_string(id));	/* id: in the request's arena */
	return 0;
}

int bundle_common(const struct api_call *c, json_t *b, const struct obj *o,
		  const char *deleted_collection)
{
	json_t *tags;
	size_t i;

	json_object_set_new(b, "attributes", bundle_attributes(c, o));
	if (o->has_tags) {
		tags = json_object();
		for (i = 0; tags != NULL && i < o->n_tags; i++)
			json_object_set_new(tags, o->tags[i].name, json_string(o->tags[i].value));
		json_object_set_new(b, "tags", tags);
	}
	if (o->managed)
		json_object_set_new(b, "managed", json_true());
	if (o->is_deleted) {
		if (set_id(b, "recoveryId", bundle_id(c, deleted_collection, o->name, NULL)) != 0)
			return -1;
		json_object_set_new(b, "deletedDate", json_integer(o->deleted_date));
		json_object_set_new(b, "scheduledPurgeDate", json_integer(o->scheduled_purge));
	}
	return 0;
}

json_t *bundle_secret(const struct api_call *c, const struct obj *o, const char *value,
		      size_t value_len, bool is_item)
{
	json_t *b = json_object();

	if (b == NULL)
		return NULL;
	if (value != NULL)
		json_object_set_new(b, "value", json_stringn(value, value_len));
	if (set_id(b, "id", bundle_id(c, "secrets", o->name, is_item ? NULL : o->version)) != 0)
		goto fail;
	if (o->content_type != NULL)
		json_object_set_new(b, "contentType", json_string(o->content_type));
	/* the secret of a certificate names its key: same name, same version (C3) */
	if (o->managed && !is_item &&
	    set_id(b, "kid", bundle_id(c, "keys", o->name, o->version)) != 0)
		goto fail;
	if (bundle_common(c, b, o, "deletedsecrets") != 0)
		goto fail;
	return b;
fail:
	json_decref(b);
	return NULL;
}
