/* The life of a certificate on the wire (C1 #7-#13): delete, get and list deleted, recover,
 * purge, backup and restore. Thin: the cascade over the certificate, its key and its secret is
 * vault/certlife.h's; here the answers are rendered. Never touches keys or secrets itself. */
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "vault/certlife.h"
#include "vault/certs.h"

/* Renders o (a certificate version just returned by vault/certlife.h) with its policy. */
static int reply_obj(struct api_call *c, struct obj *o)
{
	struct cert ct;
	int rc = -1;

	cert_init(&ct);
	if (cert_from_obj(&c->vault, o, &ct, &c->err) != 0)
		goto out;
	if (cert_policy_load(&c->vault, ct.o.name, &ct.policy, &c->err) == 0)
		ct.has_policy = true;
	else if (c->err.code == KL_ENOTFOUND)
		kl_err_clear(&c->err);	/* a certificate restored without policy: answer without */
	else
		goto out;
	rc = reply_cert(c, 200, &ct, true);
out:
	cert_clear(&ct);
	return rc;
}

int certs_delete(struct api_call *c)
{
	struct obj o;
	const char *name;
	int rc = -1;

	obj_init(&o);
	if ((name = api_name_param(c, "certificate")) != NULL &&
	    cert_delete(&c->vault, name, &o, &c->err) == 0)
		rc = reply_obj(c, &o);
	obj_clear(&o);
	return rc;
}

int deleted_certs_get(struct api_call *c)
{
	struct obj o;
	const char *name;
	int rc = -1;

	obj_init(&o);
	if ((name = api_name_param(c, "certificate")) != NULL &&
	    cert_get_deleted(&c->vault, name, &o, &c->err) == 0)
		rc = reply_obj(c, &o);
	obj_clear(&o);
	return rc;
}

int deleted_certs_recover(struct api_call *c)
{
	struct obj o;
	const char *name;
	int rc = -1;

	obj_init(&o);
	if ((name = api_name_param(c, "certificate")) != NULL &&
	    cert_recover(&c->vault, name, &o, &c->err) == 0)
		rc = reply_obj(c, &o);
	obj_clear(&o);
	return rc;
}

int deleted_certs_purge(struct api_call *c)
{
	const char *name;

	if ((name = api_name_param(c, "certificate")) == NULL ||
	    cert_purge(&c->vault, name, &c->err) != 0)
		return -1;
	return api_reply_empty(c, 204);
}
