/* vault/certpolicy.c, certop.c, certrenew.c: the defaults and the member-wise update of policies,
 * the record codecs, the operation's state as a function of its facts and the clock, and the
 * lifetime-action job (AutoRenew makes a version, EmailContacts acts once per version). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "vault_fixture.h"
#include "util/clock.h"
#include "vault/certs.h"
#include "vault/certs_internal.h"

static int setup(void **state)
{
	return vault_env_setup(state, 90, true);
}

static int teardown(void **state)
{
	return vault_env_teardown(state);
}

static void policy_with_subject(struct cert_policy *p, const char *subject)
{
	cert_policy_init(p);
	assert_non_null(p->subject = strdup(subject));
	p->given = CERT_P_SUBJECT;
}

static void test_defaults(void **state)
{
	struct cert_policy p;
	struct kl_err err = { 0 };

	(void)state;
	policy_with_subject(&p, "CN=a");
	assert_int_equal(cert_policy_complete(&p, &err), 0);
	assert_string_equal(p.kty, "RSA");
	assert_int_equal(p.key_size, 2048);
	assert_true(p.exportable && !p.reuse_key && p.enabled);
	assert_string_equal(p.content_type, CERT_CT_PKCS12);
	assert_int_equal(p.n_ekus, 2);
	assert_int_equal(p.key_usage, 1u << 0 | 1u << 2); /* digitalSignature, keyEncipherment */
	assert_int_equal(p.validity_months, 12);
	assert_string_equal(p.issuer, "Unknown");
	assert_int_equal(p.n_actions, 1);
	assert_int_equal(p.actions[0].action, CERT_EMAIL_CONTACTS);
	assert_int_equal(p.actions[0].percentage, 80);
	cert_policy_clear(&p);

	policy_with_subject(&p, "CN=a");
	snprintf(p.kty, sizeof(p.kty), "EC-HSM");
	p.key_size = 384;
	snprintf(p.issuer, sizeof(p.issuer), "self");
	p.given |= CERT_P_KTY | CERT_P_KEY_SIZE | CERT_P_ISSUER;
	assert_int_equal(cert_policy_complete(&p, &err), 0);
	assert_string_equal(p.crv, "P-384");
	assert_false(p.exportable); /* HSM keys are not exportable */
	assert_int_equal(p.key_usage, 1u << 0);
	assert_int_equal(p.actions[0].action, CERT_AUTO_RENEW);
	assert_true(cert_issuer_is_self(p.issuer));
	cert_policy_clear(&p);
}

static void test_merge_and_codec(void **state)
{
	struct cert_policy s, in, back;
	struct kl_err err = { 0 };
	struct buf a, b;

	(void)state;
	buf_init(&a, 1 << 16);
	buf_init(&b, 1 << 16);
	cert_policy_init(&back);
	policy_with_subject(&s, "CN=s");
	assert_int_equal(cert_policy_complete(&s, &err), 0);
	cert_policy_init(&in);
	snprintf(in.kty, sizeof(in.kty), "EC");
	in.given = CERT_P_KTY | CERT_P_EKUS; /* ekus given empty: replaces the whole array */
	assert_int_equal(cert_policy_merge(&s, &in, &err), 0);
	assert_string_equal(s.kty, "EC");
	assert_string_equal(s.crv, "P-256");
	assert_int_equal(s.key_size, 256);
	assert_int_equal(s.n_ekus, 0);
	assert_string_equal(s.subject, "CN=s"); /* absent members keep theirs */
	/* an invalid result is refused */
	in.given = CERT_P_VALIDITY;
	in.validity_months = 0;
	assert_int_equal(cert_policy_merge(&s, &in, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	cert_policy_clear(&in);
	/* the codec round-trips */
	s.validity_months = 12;
	assert_int_equal(cert_policy_encode(&s, &a, &err), 0);
	assert_int_equal(cert_policy_decode(a.data, a.len, &back, &err), 0);
	assert_int_equal(cert_policy_encode(&back, &b, &err), 0);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	assert_int_equal(cert_policy_decode(a.data, a.len - 1, &back, &err), -1);
	assert_int_equal(err.code, KL_ECORRUPT);
	cert_policy_clear(&s);
	cert_policy_clear(&back);
	buf_clear(&a);
	buf_clear(&b);
}

static void test_operation_state_follows_the_clock(void **state)
{
	struct cert_op op, back;
	struct kl_err err = { 0 };
	struct buf rec;

	(void)state;
	cert_op_init(&op);
	cert_op_init(&back);
	buf_init(&rec, 4096);
	op.kind = CERT_OP_SELF;
	/* written at 1000.950 s: D = 2 s runs to 1002.950 s, not to the whole second 1002 (a poller
	 * reading at 1002.0 s once saw completed 1.05 s after the create) */
	op.created_ms = 1000950;
	op.delay_s = 2;
	assert_int_equal(cert_op_status_at(&op, 1001000), CERT_OP_IN_PROGRESS);
	assert_int_equal(cert_op_status_at(&op, 1002000), CERT_OP_IN_PROGRESS);
	assert_int_equal(cert_op_status_at(&op, 1002949), CERT_OP_IN_PROGRESS);
	assert_int_equal(cert_op_status_at(&op, 1002950), CERT_OP_COMPLETED);
	op.kind = CERT_OP_ISSUER;
	assert_int_equal(cert_op_status_at(&op, 1002000), CERT_OP_IN_PROGRESS);
	assert_int_equal(cert_op_status_at(&op, 1002950), CERT_OP_FAILED);
	op.kind = CERT_OP_UNKNOWN;
	assert_int_equal(cert_op_status_at(&op, 999999999), CERT_OP_IN_PROGRESS);
	op.cancellation_requested = true;
	assert_int_equal(cert_op_status_at(&op, 1001000), CERT_OP_CANCELLED);
	op.merged = true;
	assert_int_equal(cert_op_status_at(&op, 1001000), CERT_OP_COMPLETED);
	/* the record */
	snprintf(op.issuer, sizeof(op.issuer), "Unknown");
	snprintf(op.request_id, sizeof(op.request_id), "%032d", 7);
	assert_int_equal(buf_append_str(&op.csr, "csr bytes", &err), 0);
	assert_int_equal(cert_op_encode(&op, &rec, &err), 0);
	assert_int_equal(cert_op_decode(rec.data, rec.len, &back, &err), 0);
	assert_string_equal(back.request_id, op.request_id);
	assert_true(back.merged && back.cancellation_requested && back.kind == CERT_OP_UNKNOWN);
	assert_int_equal(back.csr.len, 9);
	rec.data[0] = 9; /* an unknown format */
	assert_int_equal(cert_op_decode(rec.data, rec.len, &back, &err), -1);
	cert_op_clear(&op);
	cert_op_clear(&back);
	buf_clear(&rec);
}

/* A Self certificate of name whose one lifetime action is given. */
static void create_with_action(struct vault_env *e, const char *name, enum cert_action action)
{
	struct cert_policy p;
	struct cert_new in = { .enabled = true };
	struct cert_op op;
	struct kl_err err = { 0 };

	policy_with_subject(&p, "CN=renew");
	snprintf(p.issuer, sizeof(p.issuer), "Self");
	p.n_actions = 1;
	p.actions[0] = (struct cert_lifetime_action){ .percentage = 50, .action = action };
	p.given |= CERT_P_ISSUER | CERT_P_ACTIONS;
	cert_op_init(&op);
	assert_int_equal(cert_create(&e->v, name, &p, &in, &op, &err), 0);
	assert_int_equal(op.status, CERT_OP_COMPLETED); /* the fixture's delay is 0 */
	cert_op_clear(&op);
	cert_policy_clear(&p);
}

static size_t versions_of(struct vault_env *e, const char *name)
{
	struct cert_page *p = calloc(1, sizeof(*p));
	struct kl_err err = { 0 };
	size_t n;

	assert_non_null(p);
	assert_int_equal(cert_list_versions(&e->v, name, NULL, 25, p, &err), 0);
	n = p->n;
	cert_page_clear(p);
	free(p);
	return n;
}

/* The job events a lifetime run reported (vault_core_on_job_event), as "operation object result". */
struct job_events {
	char seen[4][128];
	size_t n;
};

static void record_job_event(void *arg, const struct vault_job_event *ev)
{
	struct job_events *j = arg;

	if (j->n < 4)
		snprintf(j->seen[j->n++], sizeof(j->seen[0]), "%s %s %s %s", ev->vault, ev->operation,
			 ev->object, ev->result);
}

static void test_lifetime_actions(void **state)
{
	struct vault_env *e = *state;
	struct kl_err err = { 0 };
	struct job_events j = { 0 };
	int64_t now = clock_now_s();
	size_t n;

	vault_core_on_job_event(e->core, record_job_event, &j);
	create_with_action(e, "renewed", CERT_AUTO_RENEW);
	create_with_action(e, "mailed", CERT_EMAIL_CONTACTS);
	/* not due yet */
	assert_int_equal(cert_lifetime_due(e->core, now, &n, &err), 0);
	assert_int_equal(n, 0);
	/* seven months on: half the lifetime has passed for both */
	assert_int_equal(cert_lifetime_due(e->core, now + 210 * 86400, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(versions_of(e, "renewed"), 2);
	assert_int_equal(versions_of(e, "mailed"), 1);
	/* both reported for the audit log, in name order */
	assert_int_equal(j.n, 2);
	assert_string_equal(j.seen[0], "default CertificateLifetimeEmailContacts mailed Due");
	assert_string_equal(j.seen[1], "default CertificateLifetimeAutoRenew renewed OK");
	/* once per version: no second mail; the renewed version, made at the real time, is itself
	 * half way through its life at that time and is renewed in turn */
	assert_int_equal(cert_lifetime_due(e->core, now + 211 * 86400, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(versions_of(e, "renewed"), 3);
	assert_int_equal(versions_of(e, "mailed"), 1);
	assert_int_equal(j.n, 3);
	vault_core_on_job_event(e->core, NULL, NULL);
}

static void test_create_update_and_list(void **state)
{
	struct vault_env *e = *state;
	struct cert_page *page = calloc(1, sizeof(*page));
	struct obj k, sc, in;
	struct cert c;
	struct kl_err err = { 0 };

	assert_non_null(page);
	create_with_action(e, "three", CERT_EMAIL_CONTACTS);
	cert_init(&c);
	obj_init(&k);
	obj_init(&sc);
	assert_int_equal(cert_get(&e->v, "THREE", "", &c, &err), 0);
	assert_true(c.issued && c.has_policy && c.has_op);
	assert_int_equal(c.n_chain, 1);
	assert_int_equal(strlen(c.x5t), 27);
	assert_string_equal(c.o.name, "three");
	assert_int_equal(obj_get(&e->v, OBJ_KEY, "three", "", &k, NULL, &err), 0);
	assert_int_equal(obj_get(&e->v, OBJ_SECRET, "three", "", &sc, NULL, &err), 0);
	assert_string_equal(k.version, c.o.version);
	assert_string_equal(sc.version, c.o.version);
	assert_true(k.managed && sc.managed && !c.o.managed);
	assert_string_equal(sc.content_type, CERT_CT_PKCS12);
	obj_clear(&k);
	obj_clear(&sc);
	cert_clear(&c);
	/* enabled mirrors onto key and secret in one write */
	assert_int_equal(cert_update(&e->v, "three", "", true, false, false, NULL, 0, NULL, &c, &err), 0);
	assert_false(c.o.attrs.enabled);
	cert_clear(&c);
	assert_int_equal(obj_get(&e->v, OBJ_KEY, "three", "", &k, NULL, &err), 0);
	assert_int_equal(obj_get(&e->v, OBJ_SECRET, "three", "", &sc, NULL, &err), 0);
	assert_false(k.attrs.enabled || sc.attrs.enabled);
	obj_clear(&k);
	obj_clear(&sc);
	assert_int_equal(cert_list(&e->v, NULL, 25, false, page, &err), 0);
	assert_int_equal(page->n, 1);
	cert_page_clear(page);
	assert_int_equal(cert_list_versions(&e->v, "never", NULL, 25, page, &err), 0);
	assert_int_equal(page->n, 0);
	/* a deleted unmanaged secret holding the name blocks a certificate */
	obj_init(&in);
	in.attrs.enabled = true;
	assert_int_equal(obj_create(&e->v, OBJ_SECRET, "held", &in, "v", 1, &k, &err), 0);
	obj_clear(&k);
	assert_int_equal(obj_delete(&e->v, OBJ_SECRET, "held", &k, &err), 0);
	obj_clear(&k);
	{
		struct cert_policy p;
		struct cert_new n = { .enabled = true };
		struct cert_op op;

		policy_with_subject(&p, "CN=held");
		cert_op_init(&op);
		assert_int_equal(cert_create(&e->v, "held", &p, &n, &op, &err), -1);
		assert_int_equal(err.code, KL_ECONFLICT);
		assert_string_equal(err.azure_code, "Conflict");
		assert_int_equal(cert_get(&e->v, "held", "", &c, &err), -1);
		assert_int_equal(err.code, KL_ENOTFOUND);
		cert_op_clear(&op);
		cert_policy_clear(&p);
	}
	obj_clear(&in);
	free(page);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_merge_and_codec),
		cmocka_unit_test(test_operation_state_follows_the_clock),
		cmocka_unit_test_setup_teardown(test_lifetime_actions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_update_and_list, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
