/* api/throttle: the --throttle grammar and its defaults, Azure's key weights, the window
 * arithmetic (Retry-After, windows opening at their first request), refusals that count in no
 * bucket, extra charges, eviction when a set is full and reuse of ended windows, and exact counts
 * under concurrent workers. Time is passed in, so nothing here sleeps. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/throttle.h"

#define S(x) ((uint64_t)(x) * 1000000u)	/* seconds to microseconds */
#define T0 S(1000)			/* a monotonic clock well past zero */

static struct throttle *make(const char *spec)
{
	struct throttle_config cfg;
	struct kl_err err = { 0 };
	struct throttle *t;

	assert_int_equal(throttle_config_parse(spec, &cfg, &err), 0);
	t = throttle_new(&cfg, &err);
	assert_non_null(t);
	return t;
}

static int admit(struct throttle *t, enum throttle_budget b, const char *vault,
		 const char *principal, uint64_t now, struct throttle_verdict *v)
{
	struct throttle_verdict dummy;

	return throttle_admit(t, b, vault, principal, now, v ? v : &dummy);
}

/* --- configuration -------------------------------------------------------------------------- */

static void test_defaults_are_azure_times_1000(void **state)
{
	struct throttle_config c;

	(void)state;
	throttle_config_default(&c);
	assert_false(c.is_off);
	assert_int_equal(c.window_s, 10);
	assert_int_equal(c.vault[THROTTLE_SECRETS], 4000000);
	assert_int_equal(c.vault[THROTTLE_SECRET_CREATE], 300000);
	assert_int_equal(c.vault[THROTTLE_KEYS], 4000000);
	assert_int_equal(c.vault[THROTTLE_KEY_CREATE], 20000);
	assert_int_equal(c.vault[THROTTLE_MGMT_READ], 250000);
	assert_int_equal(c.vault[THROTTLE_MGMT_WRITE], 100000);
	/* a principal's limits are a vault's, but for token requests, counted per address only */
	assert_memory_equal(c.vault, c.principal, THROTTLE_IDENTITY * sizeof(c.vault[0]));
	assert_int_equal(c.principal[THROTTLE_IDENTITY], 0);
	assert_int_equal(c.vault[THROTTLE_NONE], 0);
}

static void test_parse_scale_window_and_overrides(void **state)
{
	struct throttle_config c;
	struct kl_err err = { 0 };
	char desc[320];

	(void)state;
	assert_int_equal(throttle_config_parse("off", &c, &err), 0);
	assert_true(c.is_off);
	throttle_config_describe(&c, desc, sizeof(desc));
	assert_string_equal(desc, "off");

	assert_int_equal(throttle_config_parse("scale=1", &c, &err), 0);	/* exactly Azure's */
	assert_false(c.is_off);
	assert_int_equal(c.vault[THROTTLE_SECRETS], 4000);
	assert_int_equal(c.vault[THROTTLE_SECRET_CREATE], 300);
	assert_int_equal(c.vault[THROTTLE_KEY_CREATE], 20);
	assert_int_equal(c.principal[THROTTLE_MGMT_WRITE], 100);

	/* prorated to the window, rounded up, never below 1 */
	assert_int_equal(throttle_config_parse("scale=0.5,window=5", &c, &err), 0);
	assert_int_equal(c.window_s, 5);
	assert_int_equal(c.vault[THROTTLE_SECRETS], 1000);
	assert_int_equal(c.vault[THROTTLE_SECRET_CREATE], 75);
	assert_int_equal(c.vault[THROTTLE_KEY_CREATE], 5);
	assert_int_equal(throttle_config_parse("scale=0.001,window=1", &c, &err), 0);
	assert_int_equal(c.vault[THROTTLE_SECRETS], 1);	/* 0.4 */
	assert_int_equal(c.vault[THROTTLE_KEY_CREATE], 1);	/* 0.002 */
	/* the window alone keeps the default scale */
	assert_int_equal(throttle_config_parse("window=1", &c, &err), 0);
	assert_int_equal(c.vault[THROTTLE_SECRETS], 400000);

	/* a vault override sets the principal's too, unless that is given */
	assert_int_equal(throttle_config_parse("secrets=10,principal.keys=7,keys=9,"
					       "principal.mgmt-read=3", &c, &err), 0);
	assert_int_equal(c.vault[THROTTLE_SECRETS], 10);
	assert_int_equal(c.principal[THROTTLE_SECRETS], 10);
	assert_int_equal(c.vault[THROTTLE_KEYS], 9);
	assert_int_equal(c.principal[THROTTLE_KEYS], 7);
	assert_int_equal(c.vault[THROTTLE_MGMT_READ], 250000);
	assert_int_equal(c.principal[THROTTLE_MGMT_READ], 3);
	assert_int_equal(c.vault[THROTTLE_SECRET_CREATE], 300000);
	throttle_config_describe(&c, desc, sizeof(desc));
	assert_string_equal(desc, "per 10 s, per vault (per principal): secrets 10, secret-create "
			    "300000, keys 9 (7), key-create 20000, mgmt-read 250000 (3), "
			    "mgmt-write 100000; identity 200 per client address");
	/* overrides win whatever their order */
	assert_int_equal(throttle_config_parse("key-create=2,scale=1", &c, &err), 0);
	assert_int_equal(c.vault[THROTTLE_KEY_CREATE], 2);
	assert_int_equal(c.vault[THROTTLE_SECRETS], 4000);
	assert_string_equal(throttle_budget_name(THROTTLE_SECRET_CREATE), "secret-create");
	assert_string_equal(throttle_budget_name(THROTTLE_NONE), "");
}

/* Token requests: per client address only, 200 per 10 s whatever the scale, prorated. */
static void test_identity_budget(void **state)
{
	struct throttle_config c;
	struct kl_err err = { 0 };
	struct throttle_verdict v;
	struct throttle *t;
	char desc[320];
	int i;

	(void)state;
	throttle_config_default(&c);
	assert_int_equal(c.vault[THROTTLE_IDENTITY], THROTTLE_IDENTITY_PER_10S);
	assert_int_equal(c.principal[THROTTLE_IDENTITY], 0);
	assert_int_equal(throttle_config_parse("scale=1", &c, &err), 0);
	assert_int_equal(c.vault[THROTTLE_IDENTITY], 200);
	assert_int_equal(throttle_config_parse("window=1", &c, &err), 0);
	assert_int_equal(c.vault[THROTTLE_IDENTITY], 20);
	assert_int_equal(throttle_config_parse("identity=3,window=60", &c, &err), 0);
	assert_int_equal(c.vault[THROTTLE_IDENTITY], 3);
	assert_int_equal(c.principal[THROTTLE_IDENTITY], 0);
	throttle_config_describe(&c, desc, sizeof(desc));
	assert_non_null(strstr(desc, "; identity 3 per client address"));
	assert_int_equal(throttle_config_parse("principal.identity=5", &c, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	assert_string_equal(throttle_budget_name(THROTTLE_IDENTITY), "identity");
	/* one bucket per address; the principal's name plays no part */
	t = make("identity=3");
	for (i = 0; i < 3; i++)
		assert_int_equal(admit(t, THROTTLE_IDENTITY, "10.0.0.1", "", T0, NULL), 0);
	assert_int_equal(admit(t, THROTTLE_IDENTITY, "10.0.0.1", "", T0 + S(1), &v), -1);
	assert_false(v.by_principal);
	assert_int_equal(v.limit, 3);
	assert_int_equal(v.retry_after_s, 9);
	assert_int_equal(admit(t, THROTTLE_IDENTITY, "10.0.0.2", "", T0 + S(1), NULL), 0);
	assert_int_equal(admit(t, THROTTLE_IDENTITY, "10.0.0.1", "", T0 + S(10), NULL), 0);
	/* another budget of the same name is another bucket */
	assert_int_equal(admit(t, THROTTLE_SECRETS, "10.0.0.1", "p", T0 + S(1), NULL), 0);
	throttle_free(t);
}

static void test_parse_refuses_nonsense(void **state)
{
	static const char *const bad[] = {
		"", ",", "secrets=1,", ",secrets=1", "off,secrets=1", "secrets", "secrets=",
		"secrets=0", "secrets=-1", "secrets=1e3", "secrets= 1", "secrets=1000000000001",
		"secrets=99999999999999999999999", "nope=1", "principal.nope=1", "principal=5",
		"window=0", "window=3601", "window=x", "scale=0", "scale=0.0009", "scale=100001",
		"scale=1.1234567", "scale=.5", "scale=5.", "scale=-1", "scale=1,5",
		"secrets=1111111111111111111111111111111111111111111111111111111111111111111111",
		"SECRETS=1", "Off",
	};
	struct throttle_config c;
	struct kl_err err;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		kl_err_clear(&err);
		if (throttle_config_parse(bad[i], &c, &err) != -1)
			fail_msg("'%s' was accepted", bad[i]);
		assert_int_equal(err.code, KL_EINVAL);
		assert_true(err.msg[0] != '\0');
	}
}

static void test_key_weights_are_azures(void **state)
{
	(void)state;
	assert_int_equal(throttle_key_weight(THROTTLE_KEYS, "RSA", 2048), 1);
	assert_int_equal(throttle_key_weight(THROTTLE_KEYS, "RSA", 3072), 4);	/* 4000 / 1000 */
	assert_int_equal(throttle_key_weight(THROTTLE_KEYS, "RSA", 4096), 8);	/* 4000 / 500 */
	assert_int_equal(throttle_key_weight(THROTTLE_KEYS, "RSA-HSM", 2048), 2);	/* 2000 */
	assert_int_equal(throttle_key_weight(THROTTLE_KEYS, "RSA-HSM", 3072), 8);	/* 500 */
	assert_int_equal(throttle_key_weight(THROTTLE_KEYS, "RSA-HSM", 4096), 16);	/* 250 */
	assert_int_equal(throttle_key_weight(THROTTLE_KEYS, "EC", 521), 1);
	assert_int_equal(throttle_key_weight(THROTTLE_KEYS, "EC-HSM", 256), 2);
	assert_int_equal(throttle_key_weight(THROTTLE_KEYS, "oct", 256), 1);
	assert_int_equal(throttle_key_weight(THROTTLE_KEYS, "oct-HSM", 256), 2);
	assert_int_equal(throttle_key_weight(THROTTLE_KEYS, NULL, 0), 1);
	/* creation: 20 of any software key, 10 of an HSM key */
	assert_int_equal(throttle_key_weight(THROTTLE_KEY_CREATE, "RSA", 4096), 1);
	assert_int_equal(throttle_key_weight(THROTTLE_KEY_CREATE, "EC-HSM", 256), 2);
	assert_int_equal(throttle_key_weight(THROTTLE_SECRETS, "RSA", 4096), 1);
}

/* --- windows -------------------------------------------------------------------------------- */

static void test_window_fills_and_reopens_with_its_next_request(void **state)
{
	struct throttle *t = make("window=10,secrets=3");
	struct throttle_verdict v;

	(void)state;
	assert_int_equal(admit(t, THROTTLE_SECRETS, "v1", "p1", T0, NULL), 0);
	assert_int_equal(admit(t, THROTTLE_SECRETS, "v1", "p1", T0 + S(1), NULL), 0);
	assert_int_equal(admit(t, THROTTLE_SECRETS, "v1", "p1", T0 + S(2), NULL), 0);
	/* spent: until T0 + 10 s, whole seconds rounded up, never 0 */
	assert_int_equal(admit(t, THROTTLE_SECRETS, "v1", "p1", T0 + S(2), &v), -1);
	assert_false(v.by_principal);
	assert_int_equal(v.limit, 3);
	assert_int_equal(v.retry_after_s, 8);
	assert_int_equal(admit(t, THROTTLE_SECRETS, "v1", "p1", T0 + S(2) + 1, &v), -1);
	assert_int_equal(v.retry_after_s, 8);
	assert_int_equal(admit(t, THROTTLE_SECRETS, "v1", "p1", T0 + S(9) + 800000, &v), -1);
	assert_int_equal(v.retry_after_s, 1);
	assert_int_equal(admit(t, THROTTLE_SECRETS, "v1", "p1", T0 + S(10) - 1, &v), -1);
	assert_int_equal(v.retry_after_s, 1);
	/* a worker whose request started before the window opened: still inside it */
	assert_int_equal(admit(t, THROTTLE_SECRETS, "v1", "p1", T0 - S(3), &v), -1);
	assert_int_equal(v.retry_after_s, 10);
	/* the window ends; the next one opens with the next request, not on a fixed grid */
	assert_int_equal(admit(t, THROTTLE_SECRETS, "v1", "p1", T0 + S(13) + 500000, NULL), 0);
	assert_int_equal(admit(t, THROTTLE_SECRETS, "v1", "p1", T0 + S(14), NULL), 0);
	assert_int_equal(admit(t, THROTTLE_SECRETS, "v1", "p1", T0 + S(15), NULL), 0);
	assert_int_equal(admit(t, THROTTLE_SECRETS, "v1", "p1", T0 + S(15), &v), -1);
	assert_int_equal(v.retry_after_s, 9);	/* 23.5 - 15 = 8.5 */
	assert_int_equal(admit(t, THROTTLE_SECRETS, "v1", "p1", T0 + S(23) + 500000, NULL), 0);
	throttle_free(t);
}

static void test_refusals_count_nowhere(void **state)
{
	struct throttle *t = make("window=10,secrets=5,principal.secrets=2");
	struct throttle_verdict v;
	int i;

	(void)state;
	/* p1 spends its own budget: refused by the principal's bucket, the vault's unit given back */
	assert_int_equal(admit(t, THROTTLE_SECRETS, "v1", "p1", T0, NULL), 0);
	assert_int_equal(admit(t, THROTTLE_SECRETS, "v1", "p1", T0, NULL), 0);
	for (i = 0; i < 10; i++) {
		assert_int_equal(admit(t, THROTTLE_SECRETS, "v1", "p1", T0, &v), -1);
		assert_true(v.by_principal);
		assert_int_equal(v.limit, 2);
	}
	/* so the vault still has 3: p2 takes 2, p3 the last one */
	assert_int_equal(admit(t, THROTTLE_SECRETS, "v1", "p2", T0, NULL), 0);
	assert_int_equal(admit(t, THROTTLE_SECRETS, "v1", "p2", T0, NULL), 0);
	assert_int_equal(admit(t, THROTTLE_SECRETS, "v1", "p3", T0, NULL), 0);
	assert_int_equal(admit(t, THROTTLE_SECRETS, "v1", "p3", T0, &v), -1);
	assert_false(v.by_principal);
	assert_int_equal(v.limit, 5);
	/* refused by the vault: p4's bucket has not been charged for it */
	assert_int_equal(admit(t, THROTTLE_SECRETS, "v1", "p4", T0, &v), -1);
	assert_int_equal(admit(t, THROTTLE_SECRETS, "v2", "p4", T0, NULL), 0);
	assert_int_equal(admit(t, THROTTLE_SECRETS, "v2", "p4", T0, NULL), 0);
	assert_int_equal(admit(t, THROTTLE_SECRETS, "v2", "p4", T0, &v), -1);
	assert_true(v.by_principal);
	throttle_free(t);
}

static void test_budgets_vaults_and_principals_are_separate(void **state)
{
	struct throttle *t = make("window=10,secrets=1,keys=1,mgmt-read=1,principal.secrets=100");
	struct throttle_verdict v;

	(void)state;
	assert_int_equal(admit(t, THROTTLE_SECRETS, "v1", "p1", T0, NULL), 0);
	assert_int_equal(admit(t, THROTTLE_SECRETS, "v1", "p1", T0, &v), -1);
	assert_int_equal(admit(t, THROTTLE_KEYS, "v1", "p1", T0, NULL), 0);
	assert_int_equal(admit(t, THROTTLE_MGMT_READ, "", "p1", T0, NULL), 0);
	assert_int_equal(admit(t, THROTTLE_MGMT_READ, "", "p2", T0, &v), -1);	/* the deployment's */
	assert_int_equal(admit(t, THROTTLE_SECRETS, "v2", "p1", T0, NULL), 0);
	assert_int_equal(admit(t, THROTTLE_SECRETS, "v3", "p2", T0, NULL), 0);
	/* the secret-create budget of v1 is untouched; never-throttled requests stay so */
	assert_int_equal(admit(t, THROTTLE_SECRET_CREATE, "v1", "p1", T0, NULL), 0);
	assert_int_equal(admit(t, THROTTLE_NONE, "v1", "p1", T0, NULL), 0);
	/* a vault named like a principal is another bucket */
	assert_int_equal(admit(t, THROTTLE_KEYS, "p1", "v1", T0, NULL), 0);
	throttle_free(t);
}

static void test_off_admits_everything(void **state)
{
	struct throttle *t = make("off");
	int i;

	(void)state;
	for (i = 0; i < 1000; i++)
		assert_int_equal(admit(t, THROTTLE_KEY_CREATE, "v", "p", T0, NULL), 0);
	throttle_charge(t, THROTTLE_KEYS, "v", "p", 1000, T0);
	assert_int_equal(admit(t, THROTTLE_KEYS, "v", "p", T0, NULL), 0);
	assert_int_equal(throttle_evictions(t), 0);
	throttle_free(t);
	throttle_free(NULL);
}

static void test_charge_spends_the_rest_of_a_weight(void **state)
{
	struct throttle *t = make("window=10,keys=10,principal.keys=100");
	struct throttle_verdict v;

	(void)state;
	/* an RSA-4096 operation: 1 unit at the gate, 7 more once the key is known */
	assert_int_equal(admit(t, THROTTLE_KEYS, "v1", "p1", T0, NULL), 0);
	throttle_charge(t, THROTTLE_KEYS, "v1", "p1", 7, T0);
	assert_int_equal(admit(t, THROTTLE_KEYS, "v1", "p1", T0 + S(1), NULL), 0);
	assert_int_equal(admit(t, THROTTLE_KEYS, "v1", "p1", T0 + S(1), NULL), 0);
	assert_int_equal(admit(t, THROTTLE_KEYS, "v1", "p1", T0 + S(1), &v), -1);
	assert_int_equal(v.retry_after_s, 9);
	/* past the limit: still a bucket, refused until its window ends */
	throttle_charge(t, THROTTLE_KEYS, "v1", "p1", UINT64_MAX, T0 + S(2));
	assert_int_equal(admit(t, THROTTLE_KEYS, "v1", "p1", T0 + S(5), &v), -1);
	assert_int_equal(v.retry_after_s, 5);
	assert_int_equal(admit(t, THROTTLE_KEYS, "v1", "p1", T0 + S(10), NULL), 0);
	/* a charge to a bucket never seen (or whose window ended) opens a window */
	throttle_charge(t, THROTTLE_KEYS, "v9", "p9", 10, T0 + S(30));
	assert_int_equal(admit(t, THROTTLE_KEYS, "v9", "p8", T0 + S(31), &v), -1);
	assert_int_equal(v.retry_after_s, 9);
	throttle_charge(t, THROTTLE_KEYS, "v9", "p9", 0, T0 + S(30));
	throttle_free(t);
}

/* --- memory --------------------------------------------------------------------------------- */

static void test_flood_of_names_evicts_instead_of_growing(void **state)
{
	struct throttle *t = make("window=10,secrets=1,principal.secrets=1000000");
	struct throttle_verdict v;
	char name[48];
	unsigned i, n = THROTTLE_SETS * THROTTLE_WAYS;

	(void)state;
	/* a few hundred live buckets fit without evicting anyone */
	for (i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "early-%u", i);
		assert_int_equal(admit(t, THROTTLE_SECRETS, name, "p", T0, NULL), 0);
	}
	assert_int_equal(throttle_evictions(t), 0);
	for (i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "early-%u", i);
		assert_int_equal(admit(t, THROTTLE_SECRETS, name, "p", T0, &v), -1);
	}
	/* once their windows have ended their buckets are free: reused, nothing evicted */
	for (i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "later-%u", i);
		assert_int_equal(admit(t, THROTTLE_SECRETS, name, "p", T0 + S(20), NULL), 0);
	}
	assert_int_equal(throttle_evictions(t), 0);
	/* four times the table's capacity of live names: the table does not grow, buckets are
	 * evicted (the least used first), and every request is still answered */
	for (i = 0; i < 4 * n; i++) {
		snprintf(name, sizeof(name), "flood-%u-with-a-long-name-of-forty-or-more", i);
		assert_int_equal(admit(t, THROTTLE_SECRETS, name, "p", T0 + S(21), NULL), 0);
	}
	assert_true(throttle_evictions(t) >= 3 * n);
	assert_true(throttle_evictions(t) <= 5 * n);
	/* a name whose bucket survived or was made again still counts */
	assert_int_equal(admit(t, THROTTLE_SECRETS, "fresh", "p", T0 + S(22), NULL), 0);
	assert_int_equal(admit(t, THROTTLE_SECRETS, "fresh", "p", T0 + S(22), &v), -1);
	/* names longer than the bucket keeps are told apart by their hash */
	assert_int_equal(admit(t, THROTTLE_SECRETS, "a-name-longer-than-forty-bytes-0000000000-1",
			       "p", T0 + S(22), NULL), 0);
	assert_int_equal(admit(t, THROTTLE_SECRETS, "a-name-longer-than-forty-bytes-0000000000-2",
			       "p", T0 + S(22), NULL), 0);
	throttle_free(t);
}

/* --- concurrency ---------------------------------------------------------------------------- */

#define THREADS 8
#define PER_THREAD 20000
#define SHARED_LIMIT 50000

struct worker {
	struct throttle *t;
	char principal[16];
	unsigned admitted;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	struct throttle_verdict v;
	char vault[16];
	unsigned i;

	for (i = 0; i < PER_THREAD; i++) {
		snprintf(vault, sizeof(vault), "v%u", i % 4 == 0 ? i % 64 : 0);
		if (throttle_admit(w->t, THROTTLE_SECRETS, i % 4 == 0 ? vault : "shared",
				   w->principal, T0 + i, &v) == 0)
			w->admitted++;
		if (i % 16 == 0)
			throttle_charge(w->t, THROTTLE_KEYS, "shared", w->principal, 1, T0 + i);
	}
	return NULL;
}

static void test_exact_counts_under_concurrent_workers(void **state)
{
	char spec[128];
	struct throttle *t;
	struct worker w[THREADS];
	pthread_t th[THREADS];
	unsigned i, total = 0, shared_per_thread = PER_THREAD - PER_THREAD / 4;

	(void)state;
	snprintf(spec, sizeof(spec), "window=3600,secrets=%u,principal.secrets=%u", SHARED_LIMIT,
		 PER_THREAD);
	t = make(spec);
	for (i = 0; i < THREADS; i++) {
		w[i].t = t;
		w[i].admitted = 0;
		snprintf(w[i].principal, sizeof(w[i].principal), "p%u", i);
		assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
	}
	for (i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		total += w[i].admitted;
	}
	/* every request to the 64 small vaults passes (each principal's budget is PER_THREAD);
	 * of the shared vault's, exactly SHARED_LIMIT */
	assert_true(THREADS * shared_per_thread > SHARED_LIMIT);
	assert_int_equal(total, THREADS * (PER_THREAD / 4) + SHARED_LIMIT);
	assert_int_equal(throttle_evictions(t), 0);
	throttle_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_are_azure_times_1000),
		cmocka_unit_test(test_parse_scale_window_and_overrides),
		cmocka_unit_test(test_identity_budget),
		cmocka_unit_test(test_parse_refuses_nonsense),
		cmocka_unit_test(test_key_weights_are_azures),
		cmocka_unit_test(test_window_fills_and_reopens_with_its_next_request),
		cmocka_unit_test(test_refusals_count_nowhere),
		cmocka_unit_test(test_budgets_vaults_and_principals_are_separate),
		cmocka_unit_test(test_off_admits_everything),
		cmocka_unit_test(test_charge_spends_the_rest_of_a_weight),
		cmocka_unit_test(test_flood_of_names_evicts_instead_of_growing),
		cmocka_unit_test(test_exact_counts_under_concurrent_workers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
