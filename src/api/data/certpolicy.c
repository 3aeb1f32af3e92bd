/* Certificate policies on the wire: CertificatePolicy JSON to struct cert_policy (only the
 * members a request carries count as given: "{}" and null give nothing) and back, with the
 * service's exact enum spellings; GET and PATCH /certificates/{name}/policy. Validation of
 * values beyond their JSON types is the vault's (vault/certpolicy.c). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/internal.h"
#include "vault/certs.h"

static int bad(struct api_call *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int bad(struct api_call *c, const char *fmt, ...)
{
	char msg[sizeof(c->err.msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return kl_fail(&c->err, KL_EINVAL, "%s", msg);
}

/* obj[field] when present and not null, else NULL. */
static json_t *member(json_t *obj, const char *field)
{
	json_t *v = json_is_object(obj) ? json_object_get(obj, field) : NULL;

	return v == NULL || json_is_null(v) ? NULL : v;
}

static int get_bool(struct api_call *c, json_t *obj, const char *field, bool *out, bool *given)
{
	json_t *v = member(obj, field);

	*given = false;
	if (v == NULL)
		return 0;
	if (!json_is_boolean(v))
		return bad(c, "The policy member '%s' must be a boolean.", field);
	*out = json_is_true(v);
	*given = true;
	return 0;
}

static int get_int(struct api_call *c, json_t *obj, const char *field, long long min, long long max,
		   long long *out, bool *given)
{
	json_t *v = member(obj, field);

	*given = false;
	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return bad(c, "The policy member '%s' must be an integer in range.", field);
	*out = json_integer_value(v);
	*given = true;
	return 0;
}

static int get_str(struct api_call *c, json_t *obj, const char *field, size_t max, const char **out)
{
	json_t *v = member(obj, field);

	*out = NULL;
	if (v == NULL)
		return 0;
	if (!json_is_string(v) || json_string_length(v) > max ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return bad(c, "The policy member '%s' must be a string of reasonable length.",
			   field);
	*out = json_string_value(v);
	return 0;
}

/* An array of strings into an owned vector; *given says it was there. */
static int get_strv(struct api_call *c, json_t *obj, const char *field, size_t max, char ***out,
		    size_t *n, bool *given)
{
	json_t *v = member(obj, field), *e;
	size_t i;

	*given = false;
	if (v == NULL)
		return 0;
	if (!json_is_array(v) || json_array_size(v) > max)
		return bad(c, "The policy member '%s' must be an array of at most 100 strings.",
			   field);
	*given = true;
	if (json_array_size(v) == 0)
		return 0;
	if ((*out = calloc(json_array_size(v), sizeof(**out))) == NULL)
		return kl_fail(&c->err, KL_ENOMEM, "out of memory");
	json_array_foreach(v, i, e)
	{
		if (!json_is_string(e) || json_string_length(e) > CERT_SAN_CHARS ||
		    json_string_length(e) == 0 ||
		    strlen(json_string_value(e)) != json_string_length(e))
			return bad(c, "Every entry of '%s' must be a non-empty string.", field);
		if (((*out)[i] = strdup(json_string_value(e))) == NULL)
			return kl_fail(&c->err, KL_ENOMEM, "out of memory");
		(*n)++;
	}
	return 0;
}

static int read_key_props(struct api_call *c, json_t *kp, struct cert_policy *p)
{
	const char *kty = NULL, *crv = NULL;
	long long size = 0;
	bool g;

	if (kp != NULL && !json_is_object(kp))
		return bad(c, "The policy member '%s' must be an object.", "key_props");
	if (get_bool(c, kp, "exportable", &p->exportable, &g) != 0)
		return -1;
	p->given |= g ? CERT_P_EXPORTABLE : 0;
	if (get_bool(c, kp, "reuse_key", &p->reuse_key, &g) != 0)
		return -1;
	p->given |= g ? CERT_P_REUSE_KEY : 0;
	if (get_int(c, kp, "key_size", 1, 16384, &size, &g) != 0)
		return -1;
	if (g) {
		p->key_size = (unsigned)size;
		p->given |= CERT_P_KEY_SIZE;
	}
	if (get_str(c, kp, "kty", 16, &kty) != 0 || get_str(c, kp, "crv", 16, &crv) != 0)
		return -1;
	if (kty != NULL) {
		if (strlen(kty) >= sizeof(p->kty))
			return bad(c, "key_props.kty must be RSA, RSA-HSM, EC or EC-HSM.%s", "");
		snprintf(p->kty, sizeof(p->kty), "%s", kty);
		p->given |= CERT_P_KTY;
	}
	if (crv != NULL) {
		if (strlen(crv) >= sizeof(p->crv))
			return bad(c, "key_props.crv must be P-256, P-256K, P-384 or P-521.%s", "");
		snprintf(p->crv, sizeof(p->crv), "%s", crv);
		p->given |= CERT_P_CRV;
	}
	return 0;
}

static int read_x509(struct api_call *c, json_t *x, struct cert_policy *p)
{
	json_t *sans = member(x, "sans"), *ku = member(x, "key_usage"), *e;
	struct cert_sans *s = &p->sans;
	const char *subject = NULL;
	long long months = 0;
	size_t i, k;
	bool g;

	if (x != NULL && !json_is_object(x))
		return bad(c, "The policy member '%s' must be an object.", "x509_props");
	if (get_str(c, x, "subject", CERT_SUBJECT_MAX, &subject) != 0)
		return -1;
	if (subject != NULL) {
		if ((p->subject = strdup(subject)) == NULL)
			return kl_fail(&c->err, KL_ENOMEM, "out of memory");
		p->given |= CERT_P_SUBJECT;
	}
	if (sans != NULL) {
		if (!json_is_object(sans))
			return bad(c, "The policy member '%s' must be an object.",
				   "x509_props.sans");
		bool g2, g3, g4, g5;

		if (get_strv(c, sans, "dns_names", CERT_SAN_MAX, &s->dns, &s->n_dns, &g) != 0 ||
		    get_strv(c, sans, "emails", CERT_SAN_MAX, &s->emails, &s->n_emails, &g2) != 0 ||
		    get_strv(c, sans, "upns", CERT_SAN_MAX, &s->upns, &s->n_upns, &g3) != 0 ||
		    get_strv(c, sans, "uris", CERT_SAN_MAX, &s->uris, &s->n_uris, &g4) != 0 ||
		    get_strv(c, sans, "ipAddresses", CERT_SAN_MAX, &s->ips, &s->n_ips, &g5) != 0)
			return -1;
		/* Python always sends "sans":{}: an object without members gives nothing (C1) */
		if (g || g2 || g3 || g4 || g5) {
			p->has_sans = true;
			p->given |= CERT_P_SANS;
		}
	}
	if (get_strv(c, x, "ekus", CERT_EKUS_MAX, &p->ekus, &p->n_ekus, &g) != 0)
		return -1;
	p->given |= g ? CERT_P_EKUS : 0;
	if (ku != NULL) {
		if (!json_is_array(ku))
			return bad(c, "The policy member '%s' must be an array of strings.",
				   "x509_props.key_usage");
		json_array_foreach(ku, i, e)
		{
			for (k = 0; k < CERT_KU_COUNT; k++)
				if (json_is_string(e) &&
				    strcasecmp(json_string_value(e), cert_key_usage_names[k]) == 0)
					break;
			if (k == CERT_KU_COUNT)
				return bad(c,
					   "x509_props.key_usage holds an unknown value; use %s.",
					   "digitalSignature, nonRepudiation, keyEncipherment, "
					   "dataEncipherment, keyAgreement, keyCertSign, cRLSign, "
					   "encipherOnly or decipherOnly");
			p->key_usage |= 1u << k;
		}
		p->given |= CERT_P_KEY_USAGE;
	}
	if (get_int(c, x, "validity_months", -1000000, 1000000, &months, &g) != 0)
		return -1;
	if (g) {
		p->validity_months = (int)months;
		p->given |= CERT_P_VALIDITY;
	}
	return 0;
}

static int read_actions(struct api_call *c, json_t *la, struct cert_policy *p)
{
	json_t *a;
	size_t i;

	if (!json_is_array(la) || json_array_size(la) > CERT_MAX_ACTIONS)
		return bad(c,
			   "The policy member '%s' must be an array of at most one EmailContacts "
			   "and one AutoRenew action.",
			   "lifetime_actions");
	json_array_foreach(la, i, a)
	{
		json_t *trigger = member(a, "trigger"), *action = member(a, "action");
		struct cert_lifetime_action *r = &p->actions[i];
		const char *type = NULL;
		long long n = 0;
		bool g;

		if (!json_is_object(trigger) || !json_is_object(action))
			return bad(c, "Each of '%s' needs a trigger and an action.",
				   "lifetime_actions");
		if (get_int(c, trigger, "lifetime_percentage", -1000000, 1000000, &n, &g) != 0)
			return -1;
		r->percentage = g ? (n == 0 ? -1 : (int)n) : 0;
		if (get_int(c, trigger, "days_before_expiry", -1000000, 1000000, &n, &g) != 0)
			return -1;
		r->days_before_expiry = g ? (n == 0 ? -1 : (int)n) : 0;
		if (get_str(c, action, "action_type", 32, &type) != 0)
			return -1;
		if (type != NULL && strcasecmp(type, "EmailContacts") == 0)
			r->action = CERT_EMAIL_CONTACTS;
		else if (type != NULL && strcasecmp(type, "AutoRenew") == 0)
			r->action = CERT_AUTO_RENEW;
		else
			return bad(c, "%s must be EmailContacts or AutoRenew.",
				   "action.action_type");
		p->n_actions++;
	}
	p->given |= CERT_P_ACTIONS;
	return 0;
}

int certpolicy_read(struct api_call *c, json_t *j, struct cert_policy *p)
{
	json_t *kp = member(j, "key_props"), *sp = member(j, "secret_props");
	json_t *x = member(j, "x509_props"), *la = member(j, "lifetime_actions");
	json_t *is = member(j, "issuer"), *at = member(j, "attributes");
	const char *ct = NULL, *iname = NULL, *cty = NULL;
	bool g;

	if (j == NULL)
		return 0;
	if (!json_is_object(j))
		return bad(c, "The field '%s' must be an object.", "policy");
	if (read_key_props(c, kp, p) != 0 || read_x509(c, x, p) != 0)
		return -1;
	if (sp != NULL && !json_is_object(sp))
		return bad(c, "The policy member '%s' must be an object.", "secret_props");
	if (get_str(c, sp, "contentType", 64, &ct) != 0)
		return -1;
	if (ct != NULL) {
		if (strlen(ct) >= sizeof(p->content_type))
			return bad(c, "%s must be application/x-pkcs12 or application/x-pem-file.",
				   "secret_props.contentType");
		snprintf(p->content_type, sizeof(p->content_type), "%s", ct);
		p->given |= CERT_P_CONTENT_TYPE;
	}
	if (la != NULL && read_actions(c, la, p) != 0)
		return -1;
	if (is != NULL && !json_is_object(is))
		return bad(c, "The policy member '%s' must be an object.", "issuer");
	if (get_str(c, is, "name", CERT_ISSUER_MAX, &iname) != 0 ||
	    get_str(c, is, "cty", CERT_CTY_MAX, &cty) != 0 ||
	    get_bool(c, is, "cert_transparency", &p->transparency, &g) != 0)
		return -1;
	if (iname != NULL) {
		snprintf(p->issuer, sizeof(p->issuer), "%s", iname);
		p->given |= CERT_P_ISSUER;
	}
	if (cty != NULL) {
		if ((p->cty = strdup(cty)) == NULL)
			return kl_fail(&c->err, KL_ENOMEM, "out of memory");
		p->given |= CERT_P_CTY;
	}
	if (g) {
		p->has_transparency = true;
		p->given |= CERT_P_TRANSPARENCY;
	}
	if (at != NULL && !json_is_object(at))
		return bad(c, "The policy member '%s' must be an object.", "attributes");
	if (get_bool(c, at, "enabled", &p->enabled, &g) != 0)
		return -1;
	p->given |= g ? CERT_P_ENABLED : 0;
	return 0;
}

static json_t *strv_json(char *const *v, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a != NULL && i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

json_t *certpolicy_json(const struct api_call *c, const char *name, const struct cert_policy *p)
{
	json_t *j = json_object(), *kp = json_object(), *x = json_object(), *ku = json_array();
	json_t *la = json_array(), *is = json_object();
	const struct cert_sans *s = &p->sans;
	char *id = NULL;
	size_t i;

	if (j == NULL || kp == NULL || x == NULL || ku == NULL || la == NULL || is == NULL ||
	    asprintf(&id, "https://%s/certificates/%s/policy", c->host, name) < 0) {
		id = NULL;
		goto fail;
	}
	json_object_set_new(j, "id", json_string(id));
	free(id);
	json_object_set_new(kp, "exportable", json_boolean(p->exportable));
	json_object_set_new(kp, "kty", json_string(p->kty));
	json_object_set_new(kp, "key_size", json_integer(p->key_size));
	json_object_set_new(kp, "reuse_key", json_boolean(p->reuse_key));
	if (p->crv[0] != '\0')
		json_object_set_new(kp, "crv", json_string(p->crv));
	json_object_set_new(j, "key_props", kp);
	kp = NULL;
	json_object_set_new(j, "secret_props", json_pack("{s:s}", "contentType", p->content_type));
	if (p->subject != NULL)
		json_object_set_new(x, "subject", json_string(p->subject));
	if (p->has_sans || s->n_dns + s->n_emails + s->n_upns + s->n_uris + s->n_ips > 0) {
		json_t *sj = json_object();

		if (s->n_emails)
			json_object_set_new(sj, "emails", strv_json(s->emails, s->n_emails));
		if (s->n_dns)
			json_object_set_new(sj, "dns_names", strv_json(s->dns, s->n_dns));
		if (s->n_upns)
			json_object_set_new(sj, "upns", strv_json(s->upns, s->n_upns));
		if (s->n_uris)
			json_object_set_new(sj, "uris", strv_json(s->uris, s->n_uris));
		if (s->n_ips)
			json_object_set_new(sj, "ipAddresses", strv_json(s->ips, s->n_ips));
		json_object_set_new(x, "sans", sj);
	}
	json_object_set_new(x, "ekus", strv_json(p->ekus, p->n_ekus));
	for (i = 0; i < CERT_KU_COUNT; i++)
		if (p->key_usage & (1u << i))
			json_array_append_new(ku, json_string(cert_key_usage_names[i]));
	json_object_set_new(x, "key_usage", ku);
	ku = NULL;
	json_object_set_new(x, "validity_months", json_integer(p->validity_months));
	json_object_set_new(x, "basic_constraints", json_pack("{s:b}", "ca", 0));
	json_object_set_new(j, "x509_props", x);
	x = NULL;
	for (i = 0; i < p->n_actions; i++) {
		const struct cert_lifetime_action *a = &p->actions[i];

		json_array_append_new(
		    la,
		    json_pack("{s:{s:I}, s:{s:s}}", "trigger",
			      a->percentage ? "lifetime_percentage" : "days_before_expiry",
			      (json_int_t)(a->percentage ? a->percentage : a->days_before_expiry),
			      "action", "action_type",
			      a->action == CERT_AUTO_RENEW ? "AutoRenew" : "EmailContacts"));
	}
	json_object_set_new(j, "lifetime_actions", la);
	la = NULL;
	json_object_set_new(is, "name", json_string(p->issuer));
	if (p->cty != NULL)
		json_object_set_new(is, "cty", json_string(p->cty));
	if (p->has_transparency)
		json_object_set_new(is, "cert_transparency", json_boolean(p->transparency));
	json_object_set_new(j, "issuer", is);
	is = NULL;
	json_object_set_new(j, "attributes",
			    json_pack("{s:b, s:I, s:I}", "enabled", p->enabled, "created",
				      (json_int_t)p->created, "updated", (json_int_t)p->updated));
	return j;
fail:
	json_decref(j);
	json_decref(kp);
	json_decref(x);
	json_decref(ku);
	json_decref(la);
	json_decref(is);
	return NULL;
}

int certs_policy_get(struct api_call *c)
{
	struct cert_policy p;
	const char *name;
	int rc = -1;

	cert_policy_init(&p);
	if ((name = api_name_param(c, "certificate")) != NULL &&
	    cert_policy_get(&c->vault, name, &p, &c->err) == 0)
		rc = api_reply_json(c, 200, certpolicy_json(c, name, &p));
	cert_policy_clear(&p);
	return rc;
}

int certs_policy_update(struct api_call *c)
{
	struct cert_policy in, out;
	json_t *body = NULL;
	const char *name;
	int rc = -1;

	cert_policy_init(&in);
	cert_policy_init(&out);
	if ((name = api_name_param(c, "certificate")) == NULL ||
	    body_object(c->req, &body, &c->err) != 0 || certpolicy_read(c, body, &in) != 0 ||
	    cert_policy_update(&c->vault, name, &in, &out, &c->err) != 0)
		goto out;
	rc = api_reply_json(c, 200, certpolicy_json(c, name, &out));
out:
	cert_policy_clear(&in);
	cert_policy_clear(&out);
	json_decref(body);
	return rc;
}
