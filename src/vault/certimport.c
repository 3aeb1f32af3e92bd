/* New certificate versions from outside: import of a PKCS#12 or PEM upload (C5) and merge of
 * the CA's certificates into a pending version (C6), each one cert_write transaction. Uploads and
 * private keys stay in wiping buffers and keyops keys; they must never reach a log or an error
 * message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/rand.h"
#include "util/b64url.h"
#include "util/clock.h"
#include "vault/certs_internal.h"

#define UPLOAD_MAX X509_UPLOAD_MAX

static int bad(struct kl_err *err, const char *msg)
{
	return kl_fail_az(err, KL_EINVAL, "BadParameter", NULL, "%s", msg);
}

/* ---- import ---- */

static bool starts_pem(const void *p, size_t n)
{
	return n >= 10 && memcmp(p, "-----BEGIN", 10) == 0;
}

/* C5: PEM text, base64 of a PFX, or base64 of PEM text. *is_pem says which came. */
static int parse_upload(const char *value, size_t len, const char *pwd, bool preserve,
			struct keyops_key **k, struct x509_chain *chain, bool *is_pem,
			struct kl_err *err)
{
	struct buf raw;
	int rc = -1;

	buf_init_secret(&raw, UPLOAD_MAX);
	*is_pem = false;
	while (len > 0 && (value[0] == ' ' || value[0] == '\n' || value[0] == '\r')) {
		value++;
		len--;
	}
	if (starts_pem(value, len)) {
		*is_pem = true;
		rc = x509_parse_pem(value, len, pwd, preserve, k, chain, err);
		goto out;
	}
	if (len > UPLOAD_MAX / 3 * 4 + 4 || b64url_decode(value, len, &raw, err) != 0) {
		bad(err,
		    "The certificate value must be PEM text or base64 of a PKCS#12 (PFX) file.");
		goto out;
	}
	if (raw.len > 0 && raw.data[0] == 0x30) {
		rc = x509_parse_pfx(raw.data, raw.len, pwd, preserve, k, chain, err);
	} else if (starts_pem(raw.data, raw.len)) {
		*is_pem = true;
		rc = x509_parse_pem((const char *)raw.data, raw.len, pwd, preserve, k, chain, err);
	} else {
		bad(err,
		    "The certificate value must be PEM text or base64 of a PKCS#12 (PFX) file.");
	}
out:
	if (rc != 0 && err->code == KL_EINVAL && err->azure_code == NULL)
		err->azure_code = "BadParameter";
	buf_clear(&raw);
	return rc;
}

static int add_strv(char ***dst, size_t *n, char *const *src, size_t count, struct kl_err *err)
{
	size_t i;

	if (count == 0)
		return 0;
	if ((*dst = calloc(count, sizeof(**dst))) == NULL)
		return kl_fail(err, KL_ENOMEM, "out of memory");
	for (i = 0; i < count; i++) {
		if (((*dst)[i] = strdup(src[i])) == NULL)
			return kl_fail(err, KL_ENOMEM, "out of memory");
		(*n)++;
	}
	return 0;
}

/* Calendar months from a to b, a part of a month counting as one (observed: 297 for 2015-04-29
 * to 2039-12-31). At least 1, at most 1200. */
static int64_t calendar_months(int64_t a, int64_t b)
{
	time_t ta = (time_t)a, tb = (time_t)b;
	struct tm ma, mb;
	int64_t m;

	if (b <= a)
		return 1;
	gmtime_r(&ta, &ma);
	gmtime_r(&tb, &mb);
	m = (int64_t)(mb.tm_year - ma.tm_year) * 12 + (mb.tm_mon - ma.tm_mon);
	if (mb.tm_mday * 86400 + mb.tm_hour * 3600 + mb.tm_min * 60 + mb.tm_sec >
	    ma.tm_mday * 86400 + ma.tm_hour * 3600 + ma.tm_min * 60 + ma.tm_sec)
		m++;
	return m < 1 ? 1 : m > 1200 ? 1200 : m;
}

/* The policy of an import without one (C5), from the leaf. */
static int policy_of_leaf(const struct x509_info *info, bool is_pem, struct cert_policy *p,
			  struct kl_err *err)
{
	int64_t months;

	cert_policy_clear(p);
	p->exportable = true;
	snprintf(p->kty, sizeof(p->kty), "%s", info->kty == KEYOPS_EC ? "EC" : "RSA");
	p->key_size = info->bits;
	snprintf(p->crv, sizeof(p->crv), "%s", info->crv);
	snprintf(p->content_type, sizeof(p->content_type), "%s",
		 is_pem ? CERT_CT_PEM : CERT_CT_PKCS12);
	if (info->subject != NULL && (p->subject = strdup(info->subject)) == NULL)
		return kl_fail(err, KL_ENOMEM, "out of memory");
	p->has_sans = info->sans.n_dns + info->sans.n_emails + info->sans.n_upns +
			  info->sans.n_uris + info->sans.n_ips >
		      0;
	if (add_strv(&p->sans.dns, &p->sans.n_dns, info->sans.dns, info->sans.n_dns, err) != 0 ||
	    add_strv(&p->sans.emails, &p->sans.n_emails, info->sans.emails, info->sans.n_emails,
		     err) != 0 ||
	    add_strv(&p->sans.upns, &p->sans.n_upns, info->sans.upns, info->sans.n_upns, err) !=
		0 ||
	    add_strv(&p->sans.uris, &p->sans.n_uris, info->sans.uris, info->sans.n_uris, err) !=
		0 ||
	    add_strv(&p->sans.ips, &p->sans.n_ips, info->sans.ips, info->sans.n_ips, err) != 0 ||
	    add_strv(&p->ekus, &p->n_ekus, info->ekus, info->n_ekus, err) != 0)
		return -1;
	p->key_usage = info->has_key_usage ? info->key_usage : 0;
	months = calendar_months(info->not_before, info->not_after);
	p->validity_months = (int)(months > 1200 ? 1200 : months);
	p->n_actions = 1;
	p->actions[0] =
	    (struct cert_lifetime_action){ .percentage = 80, .action = CERT_EMAIL_CONTACTS };
	snprintf(p->issuer, sizeof(p->issuer), "Unknown");
	p->enabled = true;
	p->created = p->updated = clock_now_s();
	return 0;
}

/* A given policy must describe the uploaded key (C5). */
static int policy_matches_key(const struct cert_policy *p, const struct x509_info *info,
			      struct kl_err *err)
{
	bool ec = strncmp(p->kty, "EC", 2) == 0;

	if (ec != (info->kty == KEYOPS_EC))
		return bad(
		    err, "key_props.kty of the policy does not match the key of the certificate.");
	if (!ec && (p->given & CERT_P_KEY_SIZE) && p->key_size != info->bits)
		return bad(err, "key_props.key_size of the policy does not match the key of the "
				"certificate.");
	if (ec && (p->given & CERT_P_CRV) && strcmp(p->crv, info->crv) != 0)
		return bad(
		    err, "key_props.crv of the policy does not match the key of the certificate.");
	return 0;
}

int cert_import(struct vault *v, const char *name, const char *value, size_t value_len,
		const char *pwd, const struct cert_policy *policy, const struct cert_new *in,
		struct cert *out, struct kl_err *err)
{
	char lname[OBJ_NAME_MAX + 1], latest[OBJ_VERSION_LEN + 1], version[OBJ_VERSION_LEN + 1];
	struct cert_write w = {
		.name = name, .check_op = true, .drop_op = true, .check_no_unmanaged = true
	};
	struct cert_policy p;
	struct cert_op op;
	struct cert_issue is;
	struct x509_chain chain;
	struct x509_info info;
	struct keyops_key *k = NULL;
	uint64_t ov;
	bool is_pem;
	int rc = -1;

	cert_policy_init(&p);
	cert_op_init(&op);
	cert_issue_init(&is);
	x509_chain_init(&chain);
	x509_info_init(&info);
	if (cert_new_version_check(v, name, lname, latest, &op, &ov, err) != 0)
		goto out;
	if (parse_upload(value, value_len, pwd, in->preserve_order, &k, &chain, &is_pem, err) !=
		0 ||
	    x509_info_of(chain.der[0].data, chain.der[0].len, &info, err) != 0)
		goto out;
	if (policy != NULL && policy->given != 0) {
		if (cert_policy_copy(&p, policy, err) != 0)
			goto out;
		if (!(p.given & CERT_P_KTY))
			snprintf(p.kty, sizeof(p.kty), "%s", info.kty == KEYOPS_EC ? "EC" : "RSA");
		if (!(p.given & CERT_P_KEY_SIZE)) {
			p.key_size = info.bits;
			p.given |= CERT_P_KEY_SIZE;
		}
		if (!(p.given & CERT_P_CRV) && info.kty == KEYOPS_EC) {
			snprintf(p.crv, sizeof(p.crv), "%s", info.crv);
			p.given |= CERT_P_CRV;
		}
		if (!(p.given & CERT_P_CONTENT_TYPE)) {
			snprintf(p.content_type, sizeof(p.content_type), "%s",
				 is_pem ? CERT_CT_PEM : CERT_CT_PKCS12);
			p.given |= CERT_P_CONTENT_TYPE;
		}
		if (!(p.given & (CERT_P_SUBJECT | CERT_P_SANS)) && info.subject != NULL) {
			if ((p.subject = strdup(info.subject)) == NULL) {
				kl_fail(err, KL_ENOMEM, "out of memory");
				goto out;
			}
			p.given |= CERT_P_SUBJECT;
		}
		p.given |= CERT_P_KTY;
		if (policy_matches_key(&p, &info, err) != 0 || cert_policy_complete(&p, err) != 0)
			goto out;
		p.created = p.updated = clock_now_s();
	} else if (policy_of_leaf(&info, is_pem, &p, err) != 0) {
		goto out;
	}
	if (crypto_random_hex(version, 16, err) != 0 ||
	    cert_issue_build(&p, k, &chain, version, latest, in->preserve_order, in, &is, err) != 0)
		goto out;
	w.objs[OBJ_KEY] = (struct cert_write_obj){ .present = true,
						   .o = &is.key,
						   .move_head = true,
						   .material = is.key_val.data,
						   .material_len = is.key_val.len };
	w.objs[OBJ_SECRET] = (struct cert_write_obj){ .present = true,
						      .o = &is.secret,
						      .move_head = true,
						      .material = is.secret_val.data,
						      .material_len = is.secret_val.len };
	w.objs[OBJ_CERT] =
	    (struct cert_write_obj){ .present = true, .o = &is.cert, .move_head = true };
	w.policy = &p;
	w.op_version = ov;
	if (cert_write_run(v, &w, err) != 0) {
		if (err->code == KL_ECONFLICT && err->azure_code == NULL)
			cert_fail_in_progress(err);
		goto out;
	}
	rc = cert_get(v, name, "", out, err);
out:
	keyops_free(k);
	x509_info_clear(&info);
	x509_chain_clear(&chain);
	cert_issue_clear(&is);
	cert_op_clear(&op);
	cert_policy_clear(&p);
	return rc;
}

/* ---- merge ---- */

int cert_merge(struct vault *v, const char *name, const struct buf *items, size_t n_items,
	       const struct cert_new *in, struct cert *out, struct kl_err *err)
{
	char lname[OBJ_NAME_MAX + 1];
	struct cert_write w = { .name = name, .check_op = true };
	struct cert_policy p;
	struct cert_op op;
	struct cert_issue is;
	struct x509_chain chain;
	struct cert old;
	struct keyops_key *k = NULL;
	uint64_t ov, hv, sv;
	bool found;
	size_t i;
	int rc = -1;

	cert_policy_init(&p);
	cert_op_init(&op);
	cert_issue_init(&is);
	cert_init(&old);
	x509_chain_init(&chain);
	if (name == NULL || !vault_name_is_valid_object(name) ||
	    !lower_copy(lname, sizeof(lname), name) ||
	    obj_head_version(v, OBJ_CERT, 'h', lname, &hv, err) != 0 ||
	    cert_op_load(v, lname, &op, &found, &ov, err) != 0)
		goto out;
	if (hv == 0 || !found) {
		uint64_t dv = 0;

		if (name != NULL && vault_name_is_valid_object(name) &&
		    obj_head_version(v, OBJ_CERT, 'd', lname, &dv, err) == 0 && dv != 0)
			obj_fail_is_deleted(err, OBJ_CERT, name);
		else
			kl_fail_az(err, KL_ENOTFOUND, "PendingCertificateNotFound", NULL,
				   "Pending certificate not found: %.127s", name ? name : "");
		goto out;
	}
	if (op.status == CERT_OP_IN_PROGRESS && op.kind != CERT_OP_UNKNOWN) {
		kl_fail_az(
		    err, KL_EFORBIDDEN, "Forbidden", NULL,
		    "Merge is forbidden on pending object created with issuer : %.64s while it "
		    "is in progess.",
		    op.issuer);
		goto out;
	}
	if (op.status == CERT_OP_COMPLETED) {
		kl_fail_az(err, KL_EFORBIDDEN, "Forbidden", NULL,
			   "The certificate operation of %.127s has completed; there is nothing to "
			   "merge.",
			   name);
		goto out;
	}
	if (n_items == 0) {
		bad(err, "The field 'x5c' must hold at least one certificate.");
		goto out;
	}
	for (i = 0; i < n_items; i++)
		if (x509_parse_merge_item(items[i].data, items[i].len, &chain, err) != 0) {
			if (err->code == KL_EINVAL)
				err->azure_code = "BadParameter";
			goto out;
		}
	if ((k = cert_load_key(v, lname, op.version, err)) == NULL)
		goto out;
	if (x509_chain_leaf_first(&chain, k, err) != 0) {
		if (err->code == KL_EINVAL)
			err->azure_code = "BadParameter";
		goto out;
	}
	if (obj_version_load(v, OBJ_CERT, lname, op.version, &old.o, &sv, NULL, err) != 0 ||
	    cert_pub_decode(old.o.pub.data, old.o.pub.len, &old, err) != 0 ||
	    cert_policy_load(v, name, &p, err) != 0)
		goto out;
	{
		struct cert_new nin = *in;

		if (!in->has_tags && old.o.has_tags) { /* the pending version's tags stay */
			nin.has_tags = true;
			nin.tags = old.o.tags;
			nin.n_tags = old.o.n_tags;
		}
		if (cert_issue_build(&p, k, &chain, op.version, old.prev, op.preserve_order, &nin,
				     &is, err) != 0)
			goto out;
	}
	is.cert.attrs.created = old.o.attrs.created;
	w.objs[OBJ_SECRET] = (struct cert_write_obj){ .present = true,
						      .o = &is.secret,
						      .move_head = true,
						      .material = is.secret_val.data,
						      .material_len = is.secret_val.len };
	w.objs[OBJ_CERT] = (struct cert_write_obj){
		.present = true, .o = &is.cert, .replace = true, .replace_version = sv
	};
	{
		/* a cancelled Self version already has a secret version: the merge replaces it */
		struct obj prior;
		uint64_t psv = 0;

		obj_init(&prior);
		if (obj_version_load(v, OBJ_SECRET, lname, op.version, &prior, &psv, NULL, err) ==
		    0) {
			w.objs[OBJ_SECRET].replace = true;
			w.objs[OBJ_SECRET].replace_version = psv;
		} else if (err->code != KL_ENOTFOUND) {
			obj_clear(&prior);
			goto out;
		}
		kl_err_clear(err);
		obj_clear(&prior);
	}
	op.merged = true;
	w.op = &op;
	w.op_version = ov;
	if (cert_write_run(v, &w, err) != 0) {
		if (err->code == KL_ECONFLICT && err->azure_code == NULL)
			kl_fail(err, KL_EUNAVAIL, "the certificate changed concurrently; retry");
		goto out;
	}
	rc = cert_get(v, name, "", out, err);
out:
	keyops_free(k);
	x509_chain_clear(&chain);
	cert_issue_clear(&is);
	cert_clear(&old);
	cert_op_clear(&op);
	cert_policy_clear(&p);
	return rc;
}
