/* Lifetime actions of certificate policies (C7), run by the writing job on the node that holds
 * the jobs lease: AutoRenew of Self certificates makes a new version as POST create does;
 * EmailContacts sends no mail but writes a log record naming the certificate, version, trigger
 * and contacts; both are reported to the audit log as job events. Each action acts once per certificate version: the index entry a/<vault>/<name>
 * remembers "<version> <action bits>" of what was done. Never runs on a read-only node (the job
 * does not start there) and never touches versions itself (cert_create does). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "vault/certissuers.h"
#include "vault/certs_internal.h"


/* When action a falls due for a version valid from nbf to exp. */
static int64_t due_at(const struct cert_lifetime_action *a, int64_t nbf, int64_t exp)
{
	if (a->percentage > 0)
		return nbf + (exp - nbf) * a->percentage / 100;
	return exp - (int64_t)a->days_before_expiry * 86400;
}

/* The job's memory of lname: the version it last acted on and the action bits done for it. */
static void memory_load(struct vault *v, const char *ikey, char *version, unsigned *done)
{
	struct buf val;
	struct kl_err e = { 0 };
	unsigned bits = 0;
	char ver[OBJ_VERSION_LEN + 1];

	version[0] = '\0';
	*done = 0;
	buf_init(&val, 128);
	if (store_get(v->core->st, ikey, strlen(ikey), &val, NULL, &e) == 0 && val.len > 0 &&
	    sscanf(buf_cstr(&val), "%32s %u", ver, &bits) == 2) {
		memcpy(version, ver, sizeof(ver));
		*done = bits;
	}
	buf_clear(&val);
}

static void memory_save(struct vault *v, const char *ikey, const char *version, unsigned done)
{
	char val[64];
	struct kl_err e = { 0 };

	snprintf(val, sizeof(val), "%s %u", version, done);
	if (store_put(v->core->st, ikey, strlen(ikey), val, strlen(val), &e) != 0)
		LOG_WARN(NULL, "cannot record a certificate lifetime action: %s", e.msg);
}

/* The emails of the vault's certificate contacts, comma-separated and capped, or "(none)". */
static void contacts_text(struct vault *v, char *out, size_t n)
{
	struct cert_contacts c = { 0 };
	struct kl_err e = { 0 };
	size_t i, len = 0;

	snprintf(out, n, "(none)");
	if (cert_contacts_get(v, &c, &e) != 0)
		return;
	for (i = 0; i < c.n && len + 1 < n; i++)
		len +=
		    (size_t)snprintf(out + len, n - len, "%s%.64s", i ? "," : "", c.items[i].email);
	cert_contacts_clear(&c);
}

/* Runs the due actions of one certificate; *n counts them. */
/* Tells the audit log (vault_core_on_job_event) what the job did, with no principal behind it. */
static void job_event(const struct vault *v, const char *operation, const char *name,
		      const char *version, const char *result)
{
	struct vault_job_event ev = { .vault = v->name, .operation = operation, .object = name,
				      .version = version, .result = result };

	if (v->core->job_event != NULL)
		v->core->job_event(v->core->job_event_arg, &ev);
}

static void act_on(struct vault *v, const char *lname, int64_t now, size_t *n)
{
	char ikey[KEYBUF], version[OBJ_VERSION_LEN + 1];
	struct cert ct;
	struct cert_op op;
	struct kl_err e = { 0 };
	unsigned done;
	size_t i;

	cert_init(&ct);
	cert_op_init(&op);
	cert_key_index(ikey, v, lname);
	if (cert_get(v, lname, "", &ct, &e) != 0 || !ct.issued || !ct.o.attrs.has_nbf ||
	    !ct.o.attrs.has_exp)
		goto out; /* deleted, or nothing issued yet */
	memory_load(v, ikey, version, &done);
	if (strcmp(version, ct.o.version) != 0)
		done = 0; /* a new version: its actions are still to do */
	for (i = 0; i < ct.policy.n_actions; i++) {
		const struct cert_lifetime_action *a = &ct.policy.actions[i];
		unsigned bit = 1u << a->action;
		char trigger[48];

		if ((done & bit) || now < due_at(a, ct.o.attrs.nbf, ct.o.attrs.exp))
			continue;
		if (a->percentage > 0)
			snprintf(trigger, sizeof(trigger), "lifetime_percentage %d", a->percentage);
		else
			snprintf(trigger, sizeof(trigger), "days_before_expiry %d",
				 a->days_before_expiry);
		if (a->action == CERT_EMAIL_CONTACTS) {
			char to[256];

			/* no mail: an audit-worthy record for the operators, naming whom to tell */
			contacts_text(v, to, sizeof(to));
			LOG_INFO(NULL,
				 "certificate lifetime action EmailContacts: vault %s, certificate "
				 "%s, version %s, trigger %s, expires %lld, contacts %s",
				 v->name, ct.o.name, ct.o.version, trigger,
				 (long long)ct.o.attrs.exp, to);
			job_event(v, "CertificateLifetimeEmailContacts", ct.o.name, ct.o.version,
				  "Due");
		} else if (!cert_issuer_is_self(ct.policy.issuer)) {
			/* AutoRenew needs a CA signature kluis cannot obtain: stored, never acts */
		} else if (cert_op_get(v, ct.o.name, &op, &e) == 0 &&
			   op.status == CERT_OP_IN_PROGRESS) {
			continue; /* a version is on its way; look again next round */
		} else {
			struct cert_new in = { .enabled = true,
					       .has_tags = ct.o.has_tags,
					       .tags = ct.o.tags,
					       .n_tags = ct.o.n_tags,
					       .preserve_order = ct.preserve_order };

			kl_err_clear(&e);
			cert_op_clear(&op);
			if (cert_create(v, ct.o.name, NULL, &in, &op, &e) != 0) {
				LOG_WARN(NULL, "automatic renewal of certificate %s/%s failed: %s",
					 v->name, ct.o.name, e.msg);
				kl_err_clear(&e);
				continue; /* tried again next round */
			}
			LOG_INFO(NULL,
				 "certificate lifetime action AutoRenew: vault %s, certificate %s, "
				 "version %s renewed as %s, trigger %s",
				 v->name, ct.o.name, ct.o.version, op.version, trigger);
			job_event(v, "CertificateLifetimeAutoRenew", ct.o.name, op.version, "OK");
		}
		done |= bit;
		(*n)++;
	}
	memory_save(v, ikey, ct.o.version, done);
out:
	cert_op_clear(&op);
	cert_clear(&ct);
}

struct lifetime_run {
	int64_t now;
	size_t *n_acted;
};

/* One entry of the lifetime index: acts on certificate lname of vault vname. */
static void act_one(struct vault_core *core, const char *vname, const char *lname, void *arg)
{
	struct lifetime_run *run = arg;
	struct vault v;
	struct kl_err e = { 0 };

	if (vault_name_is_valid_object(lname) && vault_open(core, vname, &v, &e) == 0)
		act_on(&v, lname, run->now, run->n_acted);
}

int cert_lifetime_due(struct vault_core *core, int64_t now, size_t *n_acted, struct kl_err *err)
{
	struct lifetime_run run = { .now = now, .n_acted = n_acted };

	*n_acted = 0;
	return jobindex_walk(core, KEYSPACE_RENEWAL_INDEX, act_one, &run, err);
}
