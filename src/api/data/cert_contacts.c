/* The certificate contacts operations: the Contacts JSON of a vault in and out (set replaces the
 * list, get, delete answers the removed list). Owns no state (the list is vault/certissuers.h's)
 * and never logs a contact: names, addresses and phone numbers are personal data. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "vault/certissuers.h"

/* {id, contacts: [{email, name?, phone?}]} */
static json_t *contacts_json(const struct api_call *c, const struct cert_contacts *list)
{
	json_t *j = json_object(), *items = json_array();
	char *id = NULL;
	size_t i;

	if (j == NULL || items == NULL ||
	    asprintf(&id, "https://%s/certificates/contacts", c->host) < 0) {
		id = NULL;
		goto fail;
	}
	for (i = 0; i < list->n; i++) {
		const struct cert_contact *k = &list->items[i];
		json_t *it = json_pack("{s:s}", "email", k->email);

		if (it == NULL ||
		    (k->name && json_object_set_new(it, "name", json_string(k->name)) != 0) ||
		    (k->phone && json_object_set_new(it, "phone", json_string(k->phone)) != 0) ||
		    json_array_append_new(items, it) != 0) {
			json_decref(it);
			goto fail;
		}
	}
	if (json_object_set_new(j, "id", json_string(id)) != 0) {
		goto fail;
	}
	free(id);
	json_object_set_new(j, "contacts", items);
	return j;
fail:
	free(id);
	json_decref(items);
	json_decref(j);
	return NULL;
}

/* One contact member: absent or null is NULL; a string without NUL characters. */
static int member(struct api_call *c, json_t *o, const char *field, char **out)
{
	const char *s;

	*out = NULL;
	if (body_opt_string(o, field, &s, &c->err) != 0)
		return -1;
	if (s != NULL && strlen(s) != json_string_length(json_object_get(o, field)))
		return kl_fail(&c->err, KL_EINVAL,
			       "The field '%s' must not contain NUL characters.", field);
	*out = (char *)s;	/* borrowed from the body for the call; the vault copies it */
	return 0;
}

int certificate_contacts_set(struct api_call *c)
{
	struct cert_contacts out = { 0 };
	struct cert_contact *in = NULL;
	json_t *body = NULL, *list, *it;
	size_t i;
	int rc = -1;

	if (body_object(c->req, &body, &c->err) != 0)
		goto out;
	list = json_object_get(body, "contacts");
	if (!json_is_array(list)) {
		kl_fail(&c->err, KL_EINVAL,
			"The field 'contacts' is required: an array of contacts.");
		goto out;
	}
	if (json_array_size(list) == 0 || json_array_size(list) > CERT_CONTACTS_MAX) {
		kl_fail(&c->err, KL_EINVAL, "contacts must hold 1 to %d contacts.",
			CERT_CONTACTS_MAX);
		goto out;
	}
	if ((in = calloc(json_array_size(list), sizeof(*in))) == NULL) {
		kl_fail(&c->err, KL_ENOMEM, "out of memory");
		goto out;
	}
	json_array_foreach(list, i, it) {
		if (!json_is_object(it)) {
			kl_fail(&c->err, KL_EINVAL, "Each contact must be an object.");
			goto out;
		}
		if (member(c, it, "email", &in[i].email) != 0 ||
		    member(c, it, "name", &in[i].name) != 0 ||
		    member(c, it, "phone", &in[i].phone) != 0)
			goto out;
	}
	if (cert_contacts_set(&c->vault, in, json_array_size(list), &out, &c->err) != 0)
		goto out;
	rc = api_reply_json(c, 200, contacts_json(c, &out));
out:
	cert_contacts_clear(&out);
	free(in);
	json_decref(body);
	return rc;
}

int certificate_contacts_get(struct api_call *c)
{
	struct cert_contacts list = { 0 };
	int rc = -1;

	if (cert_contacts_get(&c->vault, &list, &c->err) == 0)
		rc = api_reply_json(c, 200, contacts_json(c, &list));
	cert_contacts_clear(&list);
	return rc;
}

int certificate_contacts_delete(struct api_call *c)
{
	struct cert_contacts list = { 0 };
	int rc = -1;

	if (cert_contacts_delete(&c->vault, &list, &c->err) == 0)
		rc = api_reply_json(c, 200, contacts_json(c, &list));
	cert_contacts_clear(&list);
	return rc;
}
