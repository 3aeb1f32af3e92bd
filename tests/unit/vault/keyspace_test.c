/* vault/keyspace.c: every key builder gives exactly the bytes that stores already hold (a store
 * written before keyspace.c existed must still be read, so these literals must never change),
 * and the node caches watch the prefixes of every record they hold. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "vault/internal.h"
#include "vault/keyspace.h"

static void test_object_keys_are_unchanged(void **state)
{
	struct vault v = { 0 };
	char k[KEYBUF];

	(void)state;
	snprintf(v.name, sizeof(v.name), "%s", "myvault");
	keyspace_obj_head(k, &v, OBJ_SECRET, 'h', "db-password");
	assert_string_equal(k, "o/myvault/s/h/db-password");
	keyspace_obj_head(k, &v, OBJ_KEY, 'd', "k1");
	assert_string_equal(k, "o/myvault/k/d/k1");
	keyspace_obj_head(k, &v, OBJ_CERT, 'h', "c1");
	assert_string_equal(k, "o/myvault/c/h/c1");
	keyspace_obj_version(k, &v, OBJ_KEY, "k1", "0123456789abcdef0123456789abcdef");
	assert_string_equal(k, "o/myvault/k/v/k1/0123456789abcdef0123456789abcdef");
	keyspace_obj_versions(k, "myvault", 's', "n");
	assert_string_equal(k, "o/myvault/s/v/n/");
	keyspace_obj_side(k, "myvault", 'k', "k1");
	assert_string_equal(k, "o/myvault/k/r/k1");
	keyspace_obj_side(k, "myvault", 'c', "c1");
	assert_string_equal(k, "o/myvault/c/r/c1");
	keyspace_cert_operation(k, "myvault", "c1");
	assert_string_equal(k, "o/myvault/c/q/c1");
	keyspace_cert_issuer(k, "myvault", "iss");
	assert_string_equal(k, "o/myvault/i/iss");
	keyspace_cert_contacts(k, "myvault");
	assert_string_equal(k, "o/myvault/n");
	keyspace_purge_schedule(k, 0x65f0a1b2, "myvault", 's', "n");
	assert_string_equal(k, "p/0000000065f0a1b2/myvault/s/n");
	keyspace_rotation_index(k, "myvault", "k1");
	assert_string_equal(k, "r/myvault/k1");
	keyspace_renewal_index(k, "myvault", "c1");
	assert_string_equal(k, "a/myvault/c1");
	{
		unsigned char digest[32];
		size_t i;

		for (i = 0; i < sizeof(digest); i++)
			digest[i] = (unsigned char)(i * 9 + 1);
		keyspace_idempotency(k, "myvault", digest);
		assert_string_equal(k, "i/myvault/010a131c252e374049525b646d767f88"
				       "919aa3acb5bec7d0d9e2ebf4fd060f18");
		assert_string_equal(KEYSPACE_IDEMPOTENCY, "i/");
	}
}

static void test_deployment_keys_are_unchanged(void **state)
{
	const char *pid = "0f8fad5b-d9cb-469f-a165-70867728950e";
	char k[KEYBUF];

	(void)state;
	assert_true(keyspace_vault(k, "MyVault"));
	assert_string_equal(k, "V/myvault");
	keyspace_principal(k, pid);
	assert_string_equal(k, "P/0f8fad5b-d9cb-469f-a165-70867728950e");
	keyspace_principal_name(k, "ci-robot");
	assert_string_equal(k, "N/ci-robot");
	keyspace_principal_token(k, pid, "t1");
	assert_string_equal(k, "Q/0f8fad5b-d9cb-469f-a165-70867728950e/t1");
	keyspace_principal_token(k, pid, NULL);
	assert_string_equal(k, "Q/0f8fad5b-d9cb-469f-a165-70867728950e/");
	keyspace_token(k, "ab12");
	assert_string_equal(k, "T/ab12");
	keyspace_credential(k, pid, "c1");
	assert_string_equal(k, "C/0f8fad5b-d9cb-469f-a165-70867728950e/c1");
	keyspace_credential(k, pid, NULL);
	assert_string_equal(k, "C/0f8fad5b-d9cb-469f-a165-70867728950e/");
	keyspace_assignment(k, "myvault", pid, "r1");
	assert_string_equal(k, "A/myvault/0f8fad5b-d9cb-469f-a165-70867728950e/r1");
	keyspace_assignment(k, "", pid, "r1");
	assert_string_equal(k, "A/-/0f8fad5b-d9cb-469f-a165-70867728950e/r1");
	keyspace_assignment_id(k, "a1");
	assert_string_equal(k, "I/a1");
	keyspace_signing_key(k, "kl-abc");
	assert_string_equal(k, "K/kl-abc");
	assert_string_equal(KEYSPACE_REPLAY, "J/");
	assert_string_equal(KEYSPACE_SUBJECTS, "S/");
	assert_string_equal(KEYSPACE_META_FORMAT, "m/format");
	assert_string_equal(KEYSPACE_META_TENANT, "m/tenant");
	assert_string_equal(KEYSPACE_META_ADMIN, "m/admin");
	assert_string_equal(KEYSPACE_META_DATA_KEY, "m/datakey");
	assert_string_equal(KEYSPACE_META_SIGNKEY, "m/signkey");
	assert_string_equal(KEYSPACE_META_JOBS_LEASE, "m/lease/jobs");
	assert_string_equal(KEYSPACE_META_AUTH_EPOCH, "m/authepoch");
}

/* A vault name too long for a key is refused, not cut. */
static void test_vault_key_refuses_an_overlong_name(void **state)
{
	char k[KEYBUF], name[KEYBUF + 8];

	(void)state;
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	assert_false(keyspace_vault(k, name));
}

/* The caches hold tokens, principals, subjects, credentials, assignments, vaults and signing
 * keys: each of those prefixes is watched, and no object prefix is (a SET must not drop them). */
static void test_watched_prefixes(void **state)
{
	static const char *const want[] = { "T/", "Q/", "P/", "S/", "C/", "A/", "V/", "K/" };
	size_t i, j;

	(void)state;
	assert_int_equal(keyspace_n_watched, sizeof(want) / sizeof(want[0]));
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		for (j = 0; j < keyspace_n_watched; j++)
			if (strcmp(keyspace_watched[j], want[i]) == 0)
				break;
		assert_true(j < keyspace_n_watched);
	}
	for (j = 0; j < keyspace_n_watched; j++)
		assert_string_not_equal(keyspace_watched[j], KEYSPACE_OBJECTS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_object_keys_are_unchanged),
		cmocka_unit_test(test_deployment_keys_are_unchanged),
		cmocka_unit_test(test_vault_key_refuses_an_overlong_name),
		cmocka_unit_test(test_watched_prefixes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
