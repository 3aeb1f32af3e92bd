/* Certificate policies: the struct's life, the defaults and validation rules of C7, the
 * member-wise update, the record codec and the one record per name (o/<vault>/c/r/<name>) with
 * its index entry for the lifetime-action job (a/<vault>/<name>). Never touches versions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crypto/x509.h"
#include "util/clock.h"
#include "util/rec.h"
#include "vault/certs.h"
#include "vault/certs_internal.h"
#include "vault/internal.h"

#define POLICY_FORMAT 1
#define POLICY_REC_MAX (512u * 1024)

const char *const cert_key_usage_names[CERT_KU_COUNT] = {
	"digitalSignature", "nonRepudiation", "keyEncipherment", "dataEncipherment", "keyAgreement",
	"keyCertSign",      "cRLSign",        "encipherOnly",    "decipherOnly",
};

void cert_policy_init(struct cert_policy *p)
{
	memset(p, 0, sizeof(*p));
}

static void strv_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; v != NULL && i < n; i++)
		free(v[i]);
	free(v);
}

static void sans_clear(struct cert_sans *s)
{
	strv_free(s->dns, s->n_dns);
	strv_free(s->emails, s->n_emails);
	strv_free(s->upns, s->n_upns);
	strv_free(s->uris, s->n_uris);
	strv_free(s->ips, s->n_ips);
	memset(s, 0, sizeof(*s));
}

void cert_policy_clear(struct cert_policy *p)
{
	free(p->subject);
	sans_clear(&p->sans);
	strv_free(p->ekus, p->n_ekus);
	free(p->cty);
	cert_policy_init(p);
}

static int strv_copy(char ***dst, size_t *n_dst, char *const *src, size_t n, struct kl_err *err)
{
	size_t i;

	*dst = NULL;
	*n_dst = 0;
	if (n == 0)
		return 0;
	if ((*dst = calloc(n, sizeof(**dst))) == NULL)
		return kl_fail(err, KL_ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		if (((*dst)[i] = strdup(src[i])) == NULL)
			return kl_fail(err, KL_ENOMEM, "out of memory");
		(*n_dst)++;
	}
	return 0;
}

static int sans_copy(struct cert_sans *d, const struct cert_sans *s, struct kl_err *err)
{
	return strv_copy(&d->dns, &d->n_dns, s->dns, s->n_dns, err) != 0 ||
		       strv_copy(&d->emails, &d->n_emails, s->emails, s->n_emails, err) != 0 ||
		       strv_copy(&d->upns, &d->n_upns, s->upns, s->n_upns, err) != 0 ||
		       strv_copy(&d->uris, &d->n_uris, s->uris, s->n_uris, err) != 0 ||
		       strv_copy(&d->ips, &d->n_ips, s->ips, s->n_ips, err) != 0
		   ? -1
		   : 0;
}

static int str_copy(char **dst, const char *src, struct kl_err *err)
{
	*dst = NULL;
	if (src != NULL && (*dst = strdup(src)) == NULL)
		return kl_fail(err, KL_ENOMEM, "out of memory");
	return 0;
}

int cert_policy_copy(struct cert_policy *dst, const struct cert_policy *src, struct kl_err *err)
{
	cert_policy_clear(dst);
	*dst = *src;
	dst->subject = dst->cty = NULL;
	memset(&dst->sans, 0, sizeof(dst->sans));
	dst->ekus = NULL;
	dst->n_ekus = 0;
	if (str_copy(&dst->subject, src->subject, err) != 0 ||
	    str_copy(&dst->cty, src->cty, err) != 0 ||
	    sans_copy(&dst->sans, &src->sans, err) != 0 ||
	    strv_copy(&dst->ekus, &dst->n_ekus, src->ekus, src->n_ekus, err) != 0) {
		cert_policy_clear(dst);
		return -1;
	}
	return 0;
}

bool cert_issuer_is_self(const char *issuer)
{
	return strcasecmp(issuer, "Self") == 0;
}

bool cert_issuer_is_unknown(const char *issuer)
{
	return strcasecmp(issuer, "Unknown") == 0;
}

static bool kty_is_ec(const char *kty)
{
	return strcmp(kty, "EC") == 0 || strcmp(kty, "EC-HSM") == 0;
}

static bool kty_is_hsm(const char *kty)
{
	return strstr(kty, "-HSM") != NULL;
}

/* The field size of a curve name, 0 when unknown. */
static unsigned curve_bits(const char *crv)
{
	if (strcmp(crv, "P-256") == 0 || strcmp(crv, "P-256K") == 0)
		return 256;
	if (strcmp(crv, "P-384") == 0)
		return 384;
	if (strcmp(crv, "P-521") == 0)
		return 521;
	return 0;
}

int cert_policy_complete(struct cert_policy *p, struct kl_err *err)
{
	static const char *const ekus[] = { "1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2" };

	if (!(p->given & CERT_P_KTY))
		snprintf(p->kty, sizeof(p->kty), "RSA");
	if (!(p->given & CERT_P_EXPORTABLE))
		p->exportable = !kty_is_hsm(p->kty);
	if (kty_is_ec(p->kty)) {
		if (!(p->given & CERT_P_CRV) || p->crv[0] == '\0')
			snprintf(p->crv, sizeof(p->crv), "%s",
				 !(p->given & CERT_P_KEY_SIZE) || p->key_size == 256 ? "P-256"
				 : p->key_size == 384                                ? "P-384"
				 : p->key_size == 521                                ? "P-521"
										     : "P-256");
		if (!(p->given & CERT_P_KEY_SIZE))
			p->key_size = curve_bits(p->crv);
	} else if (!(p->given & CERT_P_KEY_SIZE)) {
		p->key_size = 2048;
	}
	if (!(p->given & CERT_P_REUSE_KEY))
		p->reuse_key = false;
	if (!(p->given & CERT_P_CONTENT_TYPE))
		snprintf(p->content_type, sizeof(p->content_type), CERT_CT_PKCS12);
	if (!(p->given & CERT_P_EKUS) &&
	    strv_copy(&p->ekus, &p->n_ekus, (char *const *)ekus, 2, err) != 0)
		return -1;
	if (!(p->given & CERT_P_KEY_USAGE))
		p->key_usage = kty_is_ec(p->kty)
				   ? X509_KU_DIGITAL_SIGNATURE
				   : X509_KU_DIGITAL_SIGNATURE | X509_KU_KEY_ENCIPHERMENT;
	if (!(p->given & CERT_P_VALIDITY))
		p->validity_months = 12;
	if (!(p->given & CERT_P_ISSUER) || p->issuer[0] == '\0')
		snprintf(p->issuer, sizeof(p->issuer), "Unknown");
	if (!(p->given & CERT_P_ACTIONS)) {
		p->n_actions = 1;
		p->actions[0] = (struct cert_lifetime_action){
			.percentage = 80,
			.action = cert_issuer_is_unknown(p->issuer) ? CERT_EMAIL_CONTACTS
								    : CERT_AUTO_RENEW,
		};
	}
	if (!(p->given & CERT_P_ENABLED))
		p->enabled = true;
	return cert_policy_validate(p, err);
}

static bool is_dotted_oid(const char *s)
{
	size_t arcs = 0;

	while (*s != '\0') {
		if (*s < '0' || *s > '9')
			return false;
		while (*s >= '0' && *s <= '9')
			s++;
		arcs++;
		if (*s == '.' && s[1] != '\0')
			s++;
		else if (*s != '\0')
			return false;
	}
	return arcs >= 2;
}

static size_t sans_count(const struct cert_sans *s)
{
	return s->n_dns + s->n_emails + s->n_upns + s->n_uris + s->n_ips;
}

static int bad(struct kl_err *err, const char *msg)
{
	return kl_fail_az(err, KL_EINVAL, "BadParameter", NULL, "%s", msg);
}

int cert_policy_validate(const struct cert_policy *p, struct kl_err *err)
{
	bool ec = kty_is_ec(p->kty);
	size_t i, j;

	if ((p->subject == NULL || p->subject[0] == '\0') && sans_count(&p->sans) == 0)
		return bad(err, "The policy needs x509_props.subject or at least one subject "
				"alternative name.");
	if (p->subject != NULL && p->subject[0] != '\0') {
		if (strlen(p->subject) > CERT_SUBJECT_MAX)
			return bad(err, "x509_props.subject is too long.");
		if (x509_subject_check(p->subject, err) != 0) {
			err->azure_code = "BadParameter";
			return -1;
		}
	}
	if (strcmp(p->kty, "RSA") != 0 && strcmp(p->kty, "RSA-HSM") != 0 && !ec)
		return bad(err, "key_props.kty must be RSA, RSA-HSM, EC or EC-HSM.");
	if (!ec && p->key_size != 2048 && p->key_size != 3072 && p->key_size != 4096)
		return bad(err, "key_props.key_size of an RSA key must be 2048, 3072 or 4096.");
	if (!ec && p->crv[0] != '\0')
		return bad(err, "key_props.crv applies to EC keys only.");
	if (ec && curve_bits(p->crv) == 0)
		return bad(err, "key_props.crv must be P-256, P-256K, P-384 or P-521.");
	if (ec && p->key_size != curve_bits(p->crv))
		return bad(err, "key_props.key_size does not match the curve key_props.crv.");
	if (p->exportable && kty_is_hsm(p->kty))
		return bad(err, "key_props.exportable cannot be true for an HSM key type.");
	if (strcmp(p->content_type, CERT_CT_PKCS12) != 0 &&
	    strcmp(p->content_type, CERT_CT_PEM) != 0)
		return bad(err, "secret_props.contentType must be application/x-pkcs12 or "
				"application/x-pem-file.");
	if (p->key_usage >= 1u << CERT_KU_COUNT)
		return bad(err, "x509_props.key_usage holds an unknown value.");
	if (p->n_ekus > CERT_EKUS_MAX)
		return bad(err, "x509_props.ekus has too many entries.");
	for (i = 0; i < p->n_ekus; i++)
		if (!is_dotted_oid(p->ekus[i]))
			return bad(err, "x509_props.ekus entries must be dotted OIDs such as "
					"1.3.6.1.5.5.7.3.1.");
	if (p->validity_months < 1 || p->validity_months > 1200)
		return bad(err, "x509_props.validity_months must be from 1 to 1200.");
	if (p->n_actions > CERT_MAX_ACTIONS)
		return bad(err,
			   "lifetime_actions may hold one EmailContacts and one AutoRenew action.");
	for (i = 0; i < p->n_actions; i++) {
		const struct cert_lifetime_action *a = &p->actions[i];

		if ((a->percentage != 0) == (a->days_before_expiry != 0))
			return bad(err, "A lifetime action trigger needs exactly one of "
					"lifetime_percentage and days_before_expiry.");
		if (a->percentage != 0 && (a->percentage < 1 || a->percentage > 99))
			return bad(err, "trigger.lifetime_percentage must be from 1 to 99.");
		if (a->days_before_expiry != 0 &&
		    (a->days_before_expiry < 1 || a->days_before_expiry > p->validity_months * 27))
			return bad(err,
				   "trigger.days_before_expiry must be from 1 to validity_months "
				   "times 27.");
		if (a->action != CERT_EMAIL_CONTACTS && a->action != CERT_AUTO_RENEW)
			return bad(err, "action.action_type must be EmailContacts or AutoRenew.");
		for (j = 0; j < i; j++)
			if (p->actions[j].action == a->action)
				return bad(err,
					   "lifetime_actions may hold one action of each type.");
	}
	if (p->issuer[0] == '\0')
		return bad(err, "issuer.name must not be empty.");
	return 0;
}

int cert_policy_merge(struct cert_policy *s, const struct cert_policy *in, struct kl_err *err)
{
	unsigned g = in->given;

	if (g & CERT_P_EXPORTABLE)
		s->exportable = in->exportable;
	if (g & CERT_P_KTY)
		memcpy(s->kty, in->kty, sizeof(s->kty));
	if (g & CERT_P_KEY_SIZE)
		s->key_size = in->key_size;
	if (g & CERT_P_REUSE_KEY)
		s->reuse_key = in->reuse_key;
	if (g & CERT_P_CRV)
		memcpy(s->crv, in->crv, sizeof(s->crv));
	if ((g & CERT_P_KTY) && !kty_is_ec(s->kty) && !(g & CERT_P_CRV))
		s->crv[0] = '\0'; /* EC to RSA: the curve goes with it */
	if ((g & CERT_P_KTY) && kty_is_ec(s->kty) && !(g & CERT_P_CRV) && s->crv[0] == '\0')
		snprintf(s->crv, sizeof(s->crv), "P-256");
	if ((g & (CERT_P_KTY | CERT_P_CRV)) && kty_is_ec(s->kty) && !(g & CERT_P_KEY_SIZE))
		s->key_size = curve_bits(s->crv);
	if ((g & CERT_P_KTY) && !kty_is_ec(s->kty) && !(g & CERT_P_KEY_SIZE) && s->key_size < 2048)
		s->key_size = 2048;
	if (g & CERT_P_CONTENT_TYPE)
		memcpy(s->content_type, in->content_type, sizeof(s->content_type));
	if (g & CERT_P_SUBJECT) {
		free(s->subject);
		if (str_copy(&s->subject, in->subject, err) != 0)
			return -1;
	}
	if (g & CERT_P_SANS) {
		sans_clear(&s->sans);
		s->has_sans = true;
		if (sans_copy(&s->sans, &in->sans, err) != 0)
			return -1;
	}
	if (g & CERT_P_EKUS) {
		strv_free(s->ekus, s->n_ekus);
		if (strv_copy(&s->ekus, &s->n_ekus, in->ekus, in->n_ekus, err) != 0)
			return -1;
	}
	if (g & CERT_P_KEY_USAGE)
		s->key_usage = in->key_usage;
	if (g & CERT_P_VALIDITY)
		s->validity_months = in->validity_months;
	if (g & CERT_P_ACTIONS) {
		memcpy(s->actions, in->actions, sizeof(s->actions));
		s->n_actions = in->n_actions;
	}
	if (g & CERT_P_ISSUER)
		memcpy(s->issuer, in->issuer, sizeof(s->issuer));
	if (g & CERT_P_CTY) {
		free(s->cty);
		if (str_copy(&s->cty, in->cty, err) != 0)
			return -1;
	}
	if (g & CERT_P_TRANSPARENCY) {
		s->has_transparency = in->has_transparency;
		s->transparency = in->transparency;
	}
	if (g & CERT_P_ENABLED)
		s->enabled = in->enabled;
	s->given = 0;
	return cert_policy_validate(s, err);
}

/* ---- codec ---- */

static int put_strv(struct buf *b, char *const *v, size_t n, struct kl_err *err)
{
	size_t i;

	if (rec_put_u64(b, n, err) != 0)
		return -1;
	for (i = 0; i < n; i++)
		if (rec_put_str(b, v[i], err) != 0)
			return -1;
	return 0;
}

static int get_strv(struct rec_reader *r, char ***v, size_t *n, size_t max)
{
	uint64_t count = rec_get_u64(r), i;

	*v = NULL;
	*n = 0;
	if (r->bad || count > max)
		return -1;
	if (count == 0)
		return 0;
	if ((*v = calloc(count, sizeof(**v))) == NULL) {
		r->bad = r->nomem = true;
		return -1;
	}
	for (i = 0; i < count; i++) {
		if (((*v)[i] = rec_get_str(r)) == NULL)
			return -1;
		(*n)++;
	}
	return 0;
}

int cert_policy_encode(const struct cert_policy *p, struct buf *out, struct kl_err *err)
{
	const struct cert_sans *s = &p->sans;
	size_t i;

	if (rec_put_u8(out, POLICY_FORMAT, err) != 0 || rec_put_u8(out, p->exportable, err) != 0 ||
	    rec_put_str(out, p->kty, err) != 0 || rec_put_u64(out, p->key_size, err) != 0 ||
	    rec_put_u8(out, p->reuse_key, err) != 0 || rec_put_str(out, p->crv, err) != 0 ||
	    rec_put_str(out, p->content_type, err) != 0 || rec_put_str(out, p->subject, err) != 0 ||
	    rec_put_u8(out, p->has_sans, err) != 0 || put_strv(out, s->dns, s->n_dns, err) != 0 ||
	    put_strv(out, s->emails, s->n_emails, err) != 0 ||
	    put_strv(out, s->upns, s->n_upns, err) != 0 ||
	    put_strv(out, s->uris, s->n_uris, err) != 0 ||
	    put_strv(out, s->ips, s->n_ips, err) != 0 ||
	    put_strv(out, p->ekus, p->n_ekus, err) != 0 ||
	    rec_put_u64(out, p->key_usage, err) != 0 ||
	    rec_put_i64(out, p->validity_months, err) != 0 ||
	    rec_put_u64(out, p->n_actions, err) != 0)
		return -1;
	for (i = 0; i < p->n_actions; i++)
		if (rec_put_i64(out, p->actions[i].percentage, err) != 0 ||
		    rec_put_i64(out, p->actions[i].days_before_expiry, err) != 0 ||
		    rec_put_u8(out, (uint8_t)p->actions[i].action, err) != 0)
			return -1;
	if (rec_put_str(out, p->issuer, err) != 0 || rec_put_str(out, p->cty, err) != 0 ||
	    rec_put_u8(out, p->has_transparency, err) != 0 ||
	    rec_put_u8(out, p->transparency, err) != 0 || rec_put_u8(out, p->enabled, err) != 0 ||
	    rec_put_i64(out, p->created, err) != 0 || rec_put_i64(out, p->updated, err) != 0)
		return -1;
	return 0;
}

int cert_policy_decode(const void *data, size_t n, struct cert_policy *p, struct kl_err *err)
{
	struct cert_sans *s = &p->sans;
	struct rec_reader r;
	uint64_t count, i;

	cert_policy_clear(p);
	rec_reader_init(&r, data, n);
	if (rec_get_u8(&r) != POLICY_FORMAT)
		goto bad;
	p->exportable = rec_get_u8(&r) != 0;
	if (!rec_get_fixed_str(&r, p->kty, sizeof(p->kty)))
		goto bad;
	p->key_size = (unsigned)rec_get_u64(&r);
	p->reuse_key = rec_get_u8(&r) != 0;
	if (!rec_get_fixed_str(&r, p->crv, sizeof(p->crv)) ||
	    !rec_get_fixed_str(&r, p->content_type, sizeof(p->content_type)))
		goto bad;
	p->subject = rec_get_str(&r);
	p->has_sans = rec_get_u8(&r) != 0;
	if (r.bad || get_strv(&r, &s->dns, &s->n_dns, CERT_SAN_MAX) != 0 ||
	    get_strv(&r, &s->emails, &s->n_emails, CERT_SAN_MAX) != 0 ||
	    get_strv(&r, &s->upns, &s->n_upns, CERT_SAN_MAX) != 0 ||
	    get_strv(&r, &s->uris, &s->n_uris, CERT_SAN_MAX) != 0 ||
	    get_strv(&r, &s->ips, &s->n_ips, CERT_SAN_MAX) != 0 ||
	    get_strv(&r, &p->ekus, &p->n_ekus, CERT_EKUS_MAX) != 0)
		goto bad;
	p->key_usage = (unsigned)rec_get_u64(&r);
	p->validity_months = (int)rec_get_i64(&r);
	if ((count = rec_get_u64(&r)) > CERT_MAX_ACTIONS)
		goto bad;
	p->n_actions = count;
	for (i = 0; i < count; i++) {
		p->actions[i].percentage = (int)rec_get_i64(&r);
		p->actions[i].days_before_expiry = (int)rec_get_i64(&r);
		p->actions[i].action = rec_get_u8(&r);
	}
	if (!rec_get_fixed_str(&r, p->issuer, sizeof(p->issuer)))
		goto bad;
	p->cty = rec_get_str(&r);
	p->has_transparency = rec_get_u8(&r) != 0;
	p->transparency = rec_get_u8(&r) != 0;
	p->enabled = rec_get_u8(&r) != 0;
	p->created = rec_get_i64(&r);
	p->updated = rec_get_i64(&r);
	if (!rec_done(&r))
		goto bad;
	return 0;
bad:
	cert_policy_clear(p);
	return rec_fail(&r, err, "a stored certificate policy is damaged");
}

/* ---- the record ---- */

void cert_key_policy(char *out, const struct vault *v, const char *lname)
{
	keyspace_obj_side(out, v->name, 'c', lname);
}

void cert_key_index(char *out, const struct vault *v, const char *lname)
{
	keyspace_renewal_index(out, v->name, lname);
}

int cert_policy_load(struct vault *v, const char *name, struct cert_policy *out, struct kl_err *err)
{
	char lname[OBJ_NAME_MAX + 1], key[KEYBUF];
	struct buf val;
	int rc = -1;

	buf_init(&val, POLICY_REC_MAX);
	if (obj_check_name(OBJ_CERT, name, lname, err) != 0)
		goto out;
	cert_key_policy(key, v, lname);
	if (store_get(v->core->st, key, strlen(key), &val, NULL, err) != 0 ||
	    cert_policy_decode(val.data, val.len, out, err) != 0)
		goto out;
	rc = 0;
out:
	buf_clear(&val);
	return rc;
}

int cert_policy_get(struct vault *v, const char *name, struct cert_policy *out, struct kl_err *err)
{
	char lname[OBJ_NAME_MAX + 1];
	uint64_t hv;

	if (obj_check_name(OBJ_CERT, name, lname, err) != 0 ||
	    obj_head_version(v, OBJ_CERT, 'h', lname, &hv, err) != 0)
		return -1;
	if (hv == 0)
		return obj_fail_not_found(err, OBJ_CERT, name, NULL);
	if (cert_policy_load(v, name, out, err) != 0) {
		if (err->code == KL_ENOTFOUND)
			obj_fail_not_found(err, OBJ_CERT, name, NULL);
		return -1;
	}
	return 0;
}

int cert_policy_ops(const struct vault *v, const char *lname, const struct cert_policy *p,
		    struct cert_policy_rec *rec, struct kl_err *err)
{
	cert_key_policy(rec->key, v, lname);
	cert_key_index(rec->index_key, v, lname);
	buf_reset(&rec->val);
	if (cert_policy_encode(p, &rec->val, err) != 0)
		return -1;
	rec->ops[0] = (struct store_op){ .kind = STORE_PUT,
					 .key = rec->key,
					 .key_len = strlen(rec->key),
					 .val = rec->val.data,
					 .val_len = rec->val.len };
	/* the job's index: present while the policy has lifetime actions; its value is the job's
	 * memory of what it did (certrenew.c), which a new policy resets */
	if (p->n_actions > 0)
		rec->ops[1] = (struct store_op){ .kind = STORE_PUT,
						 .key = rec->index_key,
						 .key_len = strlen(rec->index_key),
						 .val = "",
						 .val_len = 0 };
	else
		rec->ops[1] = (struct store_op){ .kind = STORE_DEL,
						 .key = rec->index_key,
						 .key_len = strlen(rec->index_key) };
	return 0;
}

/* One update of a certificate's policy: what each attempt reads and writes. */
struct policy_txn {
	struct vault *v;
	const char *name, *lname, *hkey;
	const struct cert_policy *in;
	struct cert_policy p;
	struct cert_policy_rec rec;
	struct store_op ops[4];
};

static int policy_build(void *arg, int attempt, const struct store_op **ops, size_t *n_ops,
			struct kl_err *err)
{
	struct policy_txn *t = arg;
	struct buf val;
	uint64_t hv, pv;

	(void)attempt;
	if (obj_head_version(t->v, OBJ_CERT, 'h', t->lname, &hv, err) != 0)
		return -1;
	if (hv == 0)
		return obj_fail_not_found(err, OBJ_CERT, t->name, NULL);
	cert_key_policy(t->rec.key, t->v, t->lname);
	buf_init(&val, POLICY_REC_MAX);
	if (store_get(t->v->core->st, t->rec.key, strlen(t->rec.key), &val, &pv, err) != 0 ||
	    cert_policy_decode(val.data, val.len, &t->p, err) != 0) {
		buf_clear(&val);
		if (err->code == KL_ENOTFOUND)
			obj_fail_not_found(err, OBJ_CERT, t->name, NULL);
		return -1;
	}
	buf_clear(&val);
	if (cert_policy_merge(&t->p, t->in, err) != 0)
		return -1;
	t->p.updated = clock_now_s();
	if (cert_policy_ops(t->v, t->lname, &t->p, &t->rec, err) != 0)
		return -1;
	t->ops[0] = (struct store_op){ .kind = STORE_CHECK, .key = t->hkey,
				       .key_len = strlen(t->hkey), .version = hv };
	t->ops[1] = (struct store_op){ .kind = STORE_CHECK, .key = t->rec.key,
				       .key_len = strlen(t->rec.key), .version = pv };
	t->ops[2] = t->rec.ops[0];
	t->ops[3] = t->rec.ops[1];
	*ops = t->ops;
	*n_ops = 4;
	return 0;
}

static const struct vault_txn policy_update_txn = { .build = policy_build,
						    .attempts = 16,
						    .what = "certificate" };

int cert_policy_update(struct vault *v, const char *name, const struct cert_policy *in,
		       struct cert_policy *out, struct kl_err *err)
{
	char lname[OBJ_NAME_MAX + 1], hkey[KEYBUF];
	struct policy_txn t = { .v = v, .name = name, .lname = lname, .hkey = hkey, .in = in };
	int rc = -1;

	cert_policy_init(&t.p);
	buf_init(&t.rec.val, POLICY_REC_MAX);
	if (obj_check_name(OBJ_CERT, name, lname, err) != 0)
		goto out;
	keyspace_obj_head(hkey, v, OBJ_CERT, 'h', lname);
	if (vault_txn_retry(v->core, &policy_update_txn, &t, err) != 0)
		goto out;
	*out = t.p;
	cert_policy_init(&t.p);
	rc = 0;
out:
	cert_policy_clear(&t.p);
	buf_clear(&t.rec.val);
	return rc;
}
