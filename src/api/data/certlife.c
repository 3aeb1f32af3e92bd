/* The life of a certificate on the wire (C1 #7, #8, #10-#13): delete, get deleted, recover,
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
		kl_err_clear(&c->err); /* a certificate restored without policy: answer without */
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

int certs_backup(struct api_call *c)
{
	const char *name = api_name_param(c, "certificate");

	return name == NULL ? -1 : api_backup(c, OBJ_CERT, name);
}

/* The service's restore conflict names the full id of the latest version; the vault, which knows
 * no host, names it from "certificates/": the host goes in front here. */
static void conflict_names_host(struct api_call *c)
{
	static const char prefix[] = "There was a conflict restoring the certificate '";
	char rest[sizeof(c->err.msg)];

	if (c->err.code != KL_ECONFLICT || strncmp(c->err.msg, prefix, strlen(prefix)) != 0 ||
	    strncmp(c->err.msg + strlen(prefix), "certificates/", 13) != 0)
		return;
	struct buf m;
	struct kl_err e = { 0 };

	snprintf(rest, sizeof(rest), "%s", c->err.msg + strlen(prefix));
	buf_init(&m, 1024);
	if (buf_printf(&m, &e, "%shttps://%s/%s", prefix, c->host, rest) == 0) {
		/* the message is capped as every error message is */
		size_t n = m.len < sizeof(c->err.msg) - 1 ? m.len : sizeof(c->err.msg) - 1;

		memcpy(c->err.msg, m.data, n);
		c->err.msg[n] = '\0';
	}
	buf_clear(&m);
}

int certs_restore(struct api_call *c)
{
	struct obj o;
	int rc = -1;

	obj_init(&o);
	if (api_restore(c, OBJ_CERT, &o) != 0) {
		conflict_names_host(c);
		goto out;
	}
	rc = reply_obj(c, &o);
out:
	obj_clear(&o);
	return rc;
}
