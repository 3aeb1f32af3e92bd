/* The certificate operation on the wire (C1 #16-#18): CertificateOperation JSON, and GET, PATCH
 * (cancel) and DELETE of /certificates/{name}/pending. The state shown is the vault's, computed
 * at the time of the read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/internal.h"
#include "util/b64url.h"
#include "vault/certs.h"

static const char *const status_names[] = {
	[CERT_OP_IN_PROGRESS] = "inProgress",
	[CERT_OP_COMPLETED] = "completed",
	[CERT_OP_CANCELLED] = "cancelled",
	[CERT_OP_FAILED] = "failed",
};

json_t *certop_json(const struct api_call *c, const char *name, const struct cert_op *op)
{
	json_t *j = json_object(), *is = json_object();
	struct buf csr;
	struct kl_err err;
	char *id = NULL, *target = NULL;

	buf_init(&csr, 64 * 1024);
	if (j == NULL || is == NULL ||
	    asprintf(&id, "https://%s/certificates/%s/pending", c->host, name) < 0 ||
	    asprintf(&target, "https://%s/certificates/%s", c->host, name) < 0 ||
	    b64_std_encode(op->csr.data, op->csr.len, &csr, &err) != 0)
		goto fail;
	json_object_set_new(j, "id", json_string(id));
	json_object_set_new(is, "name", json_string(op->issuer));
	if (op->cty[0] != '\0')
		json_object_set_new(is, "cty", json_string(op->cty));
	if (op->has_transparency)
		json_object_set_new(is, "cert_transparency", json_boolean(op->transparency));
	json_object_set_new(j, "issuer", is);
	is = NULL;
	if (op->csr.len > 0)
		json_object_set_new(j, "csr", json_string(buf_cstr(&csr)));
	json_object_set_new(j, "cancellation_requested", json_boolean(op->cancellation_requested));
	json_object_set_new(j, "status", json_string(status_names[op->status]));
	if (op->status == CERT_OP_IN_PROGRESS)
		json_object_set_new(
		    j, "status_details",
		    json_string(
			op->kind == CERT_OP_UNKNOWN
			    ? "Pending certificate created. Please Perform Merge to complete the "
			      "request."
			    : "Pending certificate created. Certificate request is in progress. "
			      "This "
			      "may take some time based on the issuer provider. Please check again "
			      "later."));
	if (op->status == CERT_OP_FAILED) {
		char msg[160];

		snprintf(msg, sizeof(msg), "kluis cannot order certificates from provider %s.",
			 op->provider);
		json_object_set_new(j, "status_details", json_string(""));
		json_object_set_new(
		    j, "error",
		    json_pack("{s:s, s:s}", "code", "Certificate issuer error", "message", msg));
	}
	if (op->status == CERT_OP_COMPLETED)
		json_object_set_new(j, "target", json_string(target));
	json_object_set_new(j, "request_id", json_string(op->request_id));
	json_object_set_new(j, "preserveCertOrder", json_boolean(op->preserve_order));
	free(id);
	free(target);
	buf_clear(&csr);
	return j;
fail:
	free(id);
	free(target);
	buf_clear(&csr);
	json_decref(is);
	json_decref(j);
	return NULL;
}

int certs_op_get(struct api_call *c)
{
	const char *name, *rid = api_query(c->req, "request_id");
	struct cert_op op;
	int rc = -1;

	cert_op_init(&op);
	if ((name = api_name_param(c, "certificate")) == NULL ||
	    cert_op_get(&c->vault, name, &op, &c->err) != 0)
		goto out;
	if (rid != NULL && *rid != '\0' && strcasecmp(rid, op.request_id) != 0) {
		kl_fail_az(&c->err, KL_ENOTFOUND, "PendingCertificateNotFound", NULL,
			   "Pending certificate not found: %.127s", name);
		goto out;
	}
	rc = api_reply_json(c, 200, certop_json(c, name, &op));
out:
	cert_op_clear(&op);
	return rc;
}

int certs_op_cancel(struct api_call *c)
{
	struct cert_op op;
	json_t *body = NULL, *cr;
	const char *name;
	int rc = -1;

	cert_op_init(&op);
	if ((name = api_name_param(c, "certificate")) == NULL ||
	    body_object(c->req, &body, &c->err) != 0)
		goto out;
	cr = json_object_get(body, "cancellation_requested");
	if (!json_is_boolean(cr)) {
		kl_fail(&c->err, KL_EINVAL,
			"The field 'cancellation_requested' is required and must be "
			"a boolean.");
		goto out;
	}
	if (cert_op_cancel(&c->vault, name, json_is_true(cr), &op, &c->err) != 0)
		goto out;
	rc = api_reply_json(c, 200, certop_json(c, name, &op));
out:
	cert_op_clear(&op);
	json_decref(body);
	return rc;
}

int certs_op_delete(struct api_call *c)
{
	struct cert_op op;
	const char *name;
	int rc = -1;

	cert_op_init(&op);
	if ((name = api_name_param(c, "certificate")) != NULL &&
	    cert_op_delete(&c->vault, name, &op, &c->err) == 0)
		rc = api_reply_json(c, 200, certop_json(c, name, &op));
	cert_op_clear(&op);
	return rc;
}
