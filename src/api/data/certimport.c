/* The certificates operations that take certificates from clients (C1 #2 import, #19 merge).
 * Uploads (import values, passwords, x5c items) stay in the parsed body, whose allocator wipes,
 * and in buffers freed here; they are handed to the vault and never logged or copied. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "util/b64url.h"
#include "vault/certs.h"

#define X5C_MAX 10
#define X5C_ITEM_MAX (64u * 1024)

int certs_import(struct api_call *c)
{
	struct obj_tag *tags = NULL;
	struct cert_policy pol;
	struct cert_new in;
	struct cert out;
	json_t *body = NULL, *jv, *jp;
	const char *name, *pwd = NULL;
	int rc = -1;

	cert_policy_init(&pol);
	cert_init(&out);
	if ((name = certs_new_name(c)) == NULL || body_object(c->req, &body, &c->err) != 0)
		goto out;
	jv = json_object_get(body, "value");
	if (!json_is_string(jv) || json_string_length(jv) == 0) {
		kl_fail(&c->err, KL_EINVAL,
			"The field 'value' (the certificate, PEM or base64 PFX) is "
			"required and must be a string.");
		goto out;
	}
	jp = json_object_get(body, "policy");
	if (body_opt_string(body, "pwd", &pwd, &c->err) != 0 ||
	    (jp != NULL && !json_is_null(jp) && certpolicy_read(c, jp, &pol) != 0) ||
	    certs_read_new(c, body, &in, &tags) != 0 ||
	    cert_import(&c->vault, name, json_string_value(jv), json_string_length(jv), pwd, &pol,
			&in, &out, &c->err) != 0)
		goto out;
	rc = reply_cert(c, 200, &out, true);
out:
	free(tags);
	cert_clear(&out);
	cert_policy_clear(&pol);
	json_decref(body);
	return rc;
}

int certs_merge(struct api_call *c)
{
	struct buf items[X5C_MAX];
	struct obj_tag *tags = NULL;
	struct cert_new in;
	struct cert out;
	json_t *body = NULL, *x5c, *e;
	const char *name;
	char *loc = NULL;
	size_t i, n = 0;
	int rc = -1;

	cert_init(&out);
	for (i = 0; i < X5C_MAX; i++)
		buf_init(&items[i], X5C_ITEM_MAX);
	if ((name = api_name_param(c, "certificate")) == NULL ||
	    body_object(c->req, &body, &c->err) != 0)
		goto out;
	x5c = json_object_get(body, "x5c");
	if (!json_is_array(x5c) || json_array_size(x5c) == 0 || json_array_size(x5c) > X5C_MAX) {
		kl_fail(&c->err, KL_EINVAL,
			"The field 'x5c' is required: an array of 1 to %d base64 "
			"certificates.",
			X5C_MAX);
		goto out;
	}
	json_array_foreach(x5c, i, e)
	{
		if (!json_is_string(e) || b64url_decode(json_string_value(e), json_string_length(e),
							&items[i], &c->err) != 0) {
			kl_fail(&c->err, KL_EINVAL, "x5c[%zu] is not a base64 string.", i);
			goto out;
		}
		n++;
	}
	if (certs_read_new(c, body, &in, &tags) != 0 ||
	    cert_merge(&c->vault, name, items, n, &in, &out, &c->err) != 0)
		goto out;
	if (asprintf(&loc, "https://%s/certificates/%s?api-version=%s", c->host, name,
		     c->api_version) < 0) {
		loc = NULL;
		kl_fail(&c->err, KL_ENOMEM, "out of memory");
		goto out;
	}
	rc = reply_cert(c, 201, &out, true);
	if (rc == 0)
		api_resp_header(c->resp, "Location", loc);
out:
	free(loc);
	free(tags);
	for (i = 0; i < X5C_MAX; i++)
		buf_clear(&items[i]);
	cert_clear(&out);
	json_decref(body);
	return rc;
}
