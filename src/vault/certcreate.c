/* Creating certificate versions (C4): Self, a self-signed version issued at created + D; Unknown,
 * a key and a CSR awaiting merge; an issuer object, an order that fails at created + D. One
 * cert_write transaction each. Private keys stay in keyops keys and wiping buffers; they must
 * never reach a log or an error message. Import and merge are certimport.c's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/rand.h"
#include "util/clock.h"
#include "vault/certissuers.h"
#include "vault/certs_internal.h"

int cert_fail_in_progress(struct kl_err *err)
{
	return kl_fail_az(
	    err, KL_ECONFLICT, "Forbidden", NULL,
	    "A new key vault certificate can not be created or imported while a pending "
	    "key vault certificate's status is inProgress.");
}

static int bad(struct kl_err *err, const char *msg)
{
	return kl_fail_az(err, KL_EINVAL, "BadParameter", NULL, "%s", msg);
}

int cert_live_latest(struct vault *v, const char *name, const char *lname, char *latest,
		     struct kl_err *err)
{
	struct head h;
	uint64_t dv;

	latest[0] = '\0';
	if (obj_head_version(v, OBJ_CERT, 'd', lname, &dv, err) != 0)
		return -1;
	if (dv != 0)
		return obj_fail_is_deleted(err, OBJ_CERT, name);
	if (obj_head_load(v, OBJ_CERT, 'h', lname, &h, NULL, err) != 0) {
		if (err->code != KL_ENOTFOUND)
			return -1;
		kl_err_clear(err);
		return 0;
	}
	memcpy(latest, h.latest, OBJ_VERSION_LEN + 1);
	return 0;
}

/* Shared by create and import (certs_internal.h). */
int cert_new_version_check(struct vault *v, const char *name, char *lname, char *latest,
			   struct cert_op *op, uint64_t *op_version, struct kl_err *err)
{
	bool found;

	if (obj_check_name(OBJ_CERT, name, lname, err) != 0 ||
	    cert_live_latest(v, name, lname, latest, err) != 0 ||
	    cert_op_load(v, lname, op, &found, op_version, err) != 0)
		return -1;
	if (found && op->status == CERT_OP_IN_PROGRESS)
		return cert_fail_in_progress(err);
	return 0;
}

/* The policy a create uses: the given one completed with the defaults, else the stored one. */
static int create_policy(struct vault *v, const char *name, const struct cert_policy *given,
			 struct cert_policy *p, struct kl_err *err)
{
	if (given != NULL && given->given != 0) {
		if (cert_policy_copy(p, given, err) != 0 || cert_policy_complete(p, err) != 0)
			return -1;
		p->created = p->updated = clock_now_s();
		return 0;
	}
	if (cert_policy_load(v, name, p, err) == 0)
		return 0;
	if (err->code != KL_ENOTFOUND)
		return -1;
	kl_err_clear(err);
	if (given !=
	    NULL) { /* a policy that gives nothing ("{}"): the defaults say what is missing */
		if (cert_policy_copy(p, given, err) != 0 || cert_policy_complete(p, err) != 0)
			return -1;
		p->created = p->updated = clock_now_s();
		return 0;
	}
	return bad(err,
		   "The field 'policy' is required to create the first version of a certificate.");
}

/* The key of a new version: the current key's material when the policy says reuse_key and a
 * version exists, else a new pair. */
static struct keyops_key *new_key(struct vault *v, const char *lname, const struct cert_policy *p,
				  struct kl_err *err)
{
	struct head h;

	if (p->reuse_key && obj_head_load(v, OBJ_KEY, 'h', lname, &h, NULL, err) == 0)
		return cert_load_key(v, lname, h.latest, err);
	kl_err_clear(err);
	if (strncmp(p->kty, "EC", 2) == 0)
		return keyops_generate_ec(p->crv, err);
	return keyops_generate_rsa(p->key_size, 0, err);
}

int cert_create(struct vault *v, const char *name, const struct cert_policy *policy,
		const struct cert_new *in, struct cert_op *out, struct kl_err *err)
{
	char lname[OBJ_NAME_MAX + 1], latest[OBJ_VERSION_LEN + 1], version[OBJ_VERSION_LEN + 1];
	char san_subject[80];
	struct cert_write w = { .name = name, .check_op = true, .check_no_unmanaged = true };
	struct cert_policy p;
	struct cert_op op;
	struct cert_issue is;
	struct x509_profile prof;
	struct x509_chain chain;
	struct keyops_key *k = NULL;
	uint64_t ov;
	bool enabled = true;
	int64_t now = clock_now_s(), nbf, exp;
	int rc = -1;

	cert_policy_init(&p);
	cert_op_init(&op);
	cert_issue_init(&is);
	x509_chain_init(&chain);
	if (cert_new_version_check(v, name, lname, latest, &op, &ov, err) != 0)
		goto out;
	if (create_policy(v, name, policy, &p, err) != 0)
		goto out;
	cert_op_clear(&op);
	op.kind = cert_issuer_is_self(p.issuer)      ? CERT_OP_SELF
		  : cert_issuer_is_unknown(p.issuer) ? CERT_OP_UNKNOWN
						     : CERT_OP_ISSUER;
	if (op.kind == CERT_OP_ISSUER &&
	    cert_issuer_provider(v, p.issuer, op.provider, &enabled, err) != 0) {
		if (err->code == KL_ENOTFOUND)
			kl_fail_az(
			    err, KL_EINVAL, "BadParameter", NULL,
			    "The issuer '%.64s' of the policy does not exist; create it with PUT "
			    "/certificates/issuers/{name} or use Self or Unknown.",
			    p.issuer);
		goto out;
	}
	if ((k = new_key(v, lname, &p, err)) == NULL || crypto_random_hex(version, 16, err) != 0 ||
	    crypto_random_hex(op.request_id, 16, err) != 0)
		goto out;
	cert_validity(&p, now, &nbf, &exp);
	cert_profile_of(&p, nbf, exp, &prof);
	if (prof.subject[0] == '\0') {
		/* a policy of SANs only: the subject names the first of them (kluis) */
		const char *first = p.sans.n_dns      ? p.sans.dns[0]
				    : p.sans.n_emails ? p.sans.emails[0]
				    : p.sans.n_upns   ? p.sans.upns[0]
				    : p.sans.n_uris   ? p.sans.uris[0]
						      : p.sans.ips[0];

		snprintf(san_subject, sizeof(san_subject), "CN=\"%.*s\"", 64, first);
		for (char *q = san_subject + 4; *q != '\0' && q[1] != '\0'; q++)
			if (*q == '"' || *q == '\\')
				*q = '_';
		prof.subject = san_subject;
	}
	if (x509_csr(k, &prof, &op.csr, err) != 0)
		goto out;
	if (op.kind == CERT_OP_SELF) {
		struct buf der;

		buf_init(&der, X509_CERT_MAX);
		rc = x509_self_sign(k, &prof, &der, err) == 0 &&
			     x509_chain_add(&chain, der.data, der.len, err) == 0
			 ? 0
			 : -1;
		buf_clear(&der);
		if (rc != 0)
			goto out;
		rc = -1;
	}
	if (cert_issue_build(&p, k, op.kind == CERT_OP_SELF ? &chain : NULL, version, latest,
			     in->preserve_order, in, &is, err) != 0)
		goto out;
	/* one clock reading for the whole version: nbf = created - 600 exactly (C4) */
	is.key.attrs.created = is.key.attrs.updated = now;
	is.secret.attrs.created = is.secret.attrs.updated = now;
	is.cert.attrs.created = is.cert.attrs.updated = now;
	if (op.kind != CERT_OP_SELF) { /* the planned dates */
		is.cert.attrs.nbf = is.key.attrs.nbf = nbf;
		is.cert.attrs.exp = is.key.attrs.exp = exp;
	}
	snprintf(op.version, sizeof(op.version), "%s", version);
	snprintf(op.issuer, sizeof(op.issuer), "%s", p.issuer);
	snprintf(op.cty, sizeof(op.cty), "%s", p.cty ? p.cty : "");
	op.has_transparency = p.has_transparency;
	op.transparency = p.transparency;
	/* D counts from the write, not from the start: a slow key generation (RSA 4096 on a busy
	 * machine) must not let the 202 already say completed */
	op.created_ms = clock_now_ms();
	op.delay_s = cert_issue_delay(v);
	op.preserve_order = in->preserve_order;
	w.objs[OBJ_KEY] = (struct cert_write_obj){ .present = true,
						   .o = &is.key,
						   .move_head = true,
						   .material = is.key_val.data,
						   .material_len = is.key_val.len };
	w.objs[OBJ_CERT] =
	    (struct cert_write_obj){ .present = true, .o = &is.cert, .move_head = true };
	if (op.kind == CERT_OP_SELF)
		w.objs[OBJ_SECRET] = (struct cert_write_obj){ .present = true,
							      .o = &is.secret,
							      .move_head = true,
							      .material = is.secret_val.data,
							      .material_len = is.secret_val.len };
	w.policy = &p;
	w.op = &op;
	w.op_version = ov;
	if (cert_write_run(v, &w, err) != 0) {
		if (err->code == KL_ECONFLICT && err->azure_code == NULL)
			cert_fail_in_progress(err); /* another create won the race */
		goto out;
	}
	op.status = cert_op_status_at(&op, clock_now_ms());
	*out = op;
	cert_op_init(&op);
	rc = 0;
out:
	keyops_free(k);
	x509_chain_clear(&chain);
	cert_issue_clear(&is);
	cert_op_clear(&op);
	cert_policy_clear(&p);
	return rc;
}
