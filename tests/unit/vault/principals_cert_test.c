/* vault/principals: binding a principal to a client certificate fingerprint, the fingerprint
 * parser, and what authentication reports for a bound principal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "vault_fixture.h"
#include "vault/authenticate.h"
#include "vault/principals.h"

#define FP "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static int setup(void **state)
{
	return vault_env_setup(state, 7, false);
}

static int teardown(void **state)
{
	return vault_env_teardown(state);
}

static void test_parse(void **state)
{
	char out[PRINCIPAL_CERT_HEX + 1];
	static const char *const bad[] = {
		"", "00", FP "00", "0" FP, "zz112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
		":" FP, FP ":", "0:0112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
		"00::112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
		" " FP,
	};
	size_t i;

	(void)state;
	assert_true(principal_cert_parse(FP, out));
	assert_string_equal(out, FP);
	assert_true(principal_cert_parse("00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF",
					 out));
	assert_string_equal(out, FP);
	assert_true(principal_cert_parse("00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:"
					 "00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff", out));
	assert_string_equal(out, FP);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (principal_cert_parse(bad[i], out))
			fail_msg("accepted '%s'", bad[i]);
}

static void test_bind_and_authenticate(void **state)
{
	struct vault_env *e = *state;
	struct principal p, got;
	struct principal_token t;
	struct principal_ref who;
	struct kl_err err = { 0 };
	char token[TOKEN_TEXT_LEN];

	assert_int_equal(principal_create(e->core, "bound-app", "application", NULL, 0, &p, &t,
					  token, &err), 0);
	assert_string_equal(p.client_cert, "");
	assert_int_equal(authenticate_bearer(e->core, token, strlen(token), &who, &err), 0);
	assert_string_equal(who.client_cert, "");

	assert_int_equal(principal_set_client_cert(e->core, "BOUND-APP", FP, &got, &err), 0);
	assert_string_equal(got.client_cert, FP);
	assert_string_equal(got.id, p.id);
	assert_int_equal(principal_get(e->core, p.id, &got, &err), 0);
	assert_string_equal(got.client_cert, FP);
	assert_string_equal(got.name, "bound-app");
	assert_int_equal(authenticate_bearer(e->core, token, strlen(token), &who, &err), 0);
	assert_string_equal(who.client_cert, FP);

	/* Survives a restart (the record's format 3). */
	vault_core_close(e->core);
	assert_non_null(e->core = fixture_core_open(&e->dir, 7, &err));
	assert_int_equal(principal_get(e->core, "bound-app", &got, &err), 0);
	assert_string_equal(got.client_cert, FP);

	assert_int_equal(principal_set_client_cert(e->core, p.id, "", &got, &err), 0);
	assert_string_equal(got.client_cert, "");
	assert_int_equal(authenticate_bearer(e->core, token, strlen(token), &who, &err), 0);
	assert_string_equal(who.client_cert, "");

	assert_int_equal(principal_set_client_cert(e->core, p.id, "abc", &got, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	assert_int_equal(principal_set_client_cert(e->core, "nobody", FP, &got, &err), -1);
	assert_int_equal(err.code, KL_ENOTFOUND);
}

/* An OpenID subject mapped to a bound principal brings the binding along. */
static void test_subject_of_bound_principal(void **state)
{
	struct vault_env *e = *state;
	struct principal p, got;
	struct principal_token t;
	struct principal_ref who;
	struct kl_err err = { 0 };
	char token[TOKEN_TEXT_LEN];

	assert_int_equal(principal_create(e->core, "workload", "application", "system:sa:app", 0,
					  &p, &t, token, &err), 0);
	assert_int_equal(principal_set_client_cert(e->core, "workload", FP, &got, &err), 0);
	assert_string_equal(got.subject, "system:sa:app");
	assert_int_equal(principal_by_subject(e->core, "system:sa:app", &who, &err), 0);
	assert_string_equal(who.client_cert, FP);
	assert_string_equal(who.id, p.id);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test_setup_teardown(test_bind_and_authenticate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_subject_of_bound_principal, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
