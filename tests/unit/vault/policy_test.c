/* Rotation policies and automatic rotation on a real deployment, and the ISO 8601 durations they
 * are written in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "vault_fixture.h"
#include "util/clock.h"
#include "util/json.h"
#include "vault/keys.h"

static void test_durations(void **state)
{
	static const struct {
		const char *text;
		int64_t seconds;
	} ok[] = { { "P90D", 90 * 86400 }, { "P1Y", 365 * 86400 }, { "P2M", 60 * 86400 },
		   { "P1W", 7 * 86400 },   { "PT12H", 43200 },       { "P1DT1H1M1S", 90061 },
		   { "P28D", 28 * 86400 } };
	static const char *const bad[] = { "", "P", "90D", "PT", "P1H", "PD", "P1D1Y", "P-1D",
					   "P1DT", "P1.5D", "PT1D", "P1Y1Y" };
	struct kl_err err = { 0 };
	int64_t s;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(key_duration_parse(ok[i].text, &s, &err), 0);
		assert_int_equal(s, ok[i].seconds);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(key_duration_parse(bad[i], &s, &err), -1);
		assert_int_equal(err.code, KL_EINVAL);
	}
}

static int setup(void **state)
{
	return vault_env_setup(state, 90, true);
}

static int teardown(void **state)
{
	return vault_env_teardown(state);
}

static void make_key(struct vault_env *e, const char *name, struct obj *out)
{
	struct key_spec spec = { .kty = "EC", .crv = "P-256" };
	struct key_meta m;
	struct obj in;
	struct kl_err err = { 0 };

	key_meta_init(&m);
	obj_init(&in);
	in.attrs.enabled = true;
	assert_int_equal(key_create(&e->v, name, &spec, &in, NULL, out, &m, &err), 0);
	obj_clear(&in);
	key_meta_clear(&m);
}

static void test_policy_defaults_and_rules(void **state)
{
	struct vault_env *e = *state;
	struct key_policy in, out;
	struct obj o;
	struct kl_err err = { 0 };

	obj_init(&o);
	make_key(e, "pk", &o);
	obj_clear(&o);
	assert_int_equal(key_policy_get(&e->v, "pk", &out, &err), 0);
	assert_false(out.is_set);
	memset(&in, 0, sizeof(in));
	in.has_expiry = true;
	snprintf(in.expiry, sizeof(in.expiry), "P27D");
	assert_int_equal(key_policy_set(&e->v, "pk", &in, &out, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	snprintf(in.expiry, sizeof(in.expiry), "P90D");
	in.n_actions = 1;
	in.actions[0].trigger = POLICY_AFTER_CREATE;
	in.actions[0].action = POLICY_ROTATE;
	snprintf(in.actions[0].duration, sizeof(in.actions[0].duration), "P30D");
	assert_int_equal(key_policy_set(&e->v, "pk", &in, &out, &err), 0);
	assert_int_equal(out.n_actions, 2);	/* the service's Notify default was added */
	assert_int_equal(out.actions[1].action, POLICY_NOTIFY);
	assert_int_equal(key_policy_get(&e->v, "pk", &out, &err), 0);
	assert_true(out.is_set);
	assert_int_equal(out.expiry_seconds, 90 * 86400);
	assert_int_equal(key_policy_set(&e->v, "missing", &in, &out, &err), -1);
	assert_int_equal(err.code, KL_ENOTFOUND);
}

static void test_rotation_when_due(void **state)
{
	struct vault_env *e = *state;
	struct key_policy in, out;
	struct key_meta m;
	struct obj first, latest;
	struct kl_err err = { 0 };
	size_t n;

	obj_init(&first);
	obj_init(&latest);
	key_meta_init(&m);
	make_key(e, "rot", &first);
	memset(&in, 0, sizeof(in));
	in.has_expiry = true;
	snprintf(in.expiry, sizeof(in.expiry), "P60D");
	in.n_actions = 1;
	in.actions[0].trigger = POLICY_AFTER_CREATE;
	in.actions[0].action = POLICY_ROTATE;
	snprintf(in.actions[0].duration, sizeof(in.actions[0].duration), "P10D");
	assert_int_equal(key_policy_set(&e->v, "rot", &in, &out, &err), 0);
	assert_int_equal(key_rotate_due(e->core, clock_now_s() + 86400, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_int_equal(key_rotate_due(e->core, clock_now_s() + 11 * 86400, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(key_get(&e->v, "rot", NULL, &latest, &m, &err), 0);
	assert_string_not_equal(latest.version, first.version);
	assert_string_equal(m.pub.crv, "P-256");
	assert_true(latest.attrs.has_exp);	/* expiryTime applies to the new version */
	assert_true(latest.attrs.exp - latest.attrs.created == 60 * 86400);
	obj_clear(&first);
	obj_clear(&latest);
	key_meta_clear(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_policy_defaults_and_rules),
		cmocka_unit_test(test_rotation_when_due),
	};

	json_util_init();
	return cmocka_run_group_tests(tests, setup, teardown);
}
