/* The role table and access-policy permissions (api/roles.c, api/authz.c) for certificates: which
 * built-in role grants which certificate permission, and the names access policies use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "api/authz.h"
#include "api/internal.h"
#include "api/roles.h"
#include "util/json.h"

#define B(p) PERM_BIT(p)
#define CERT_READ (B(PERM_CERT_GET) | B(PERM_CERT_LIST))
#define ISSUERS (B(PERM_CERT_ISSUERS_GET) | B(PERM_CERT_ISSUERS_LIST) | B(PERM_CERT_ISSUERS_SET) | \
		 B(PERM_CERT_ISSUERS_DELETE))
#define CERT_ALL (CERT_READ | ISSUERS | B(PERM_CERT_CREATE) | B(PERM_CERT_IMPORT) | \
		  B(PERM_CERT_UPDATE) | B(PERM_CERT_DELETE) | B(PERM_CERT_RECOVER) | \
		  B(PERM_CERT_PURGE) | B(PERM_CERT_BACKUP) | B(PERM_CERT_RESTORE) | \
		  B(PERM_CERT_CONTACTS))

static uint64_t cert_bits(uint64_t perms)
{
	return perms & CERT_ALL;
}

static void test_roles_grant_certificate_permissions(void **state)
{
	const struct role_def *r;

	(void)state;
	assert_non_null(r = roles_find("Key Vault Administrator"));
	assert_int_equal(cert_bits(r->perms), CERT_ALL);
	assert_non_null(r = roles_find("kluis-administrator"));
	assert_int_equal(cert_bits(r->perms), CERT_ALL);

	/* the officer: every certificate permission, nothing else */
	assert_non_null(r = roles_find("a4417e6f-fecd-4de8-b567-7b0420556985"));
	assert_ptr_equal(r, roles_find("Key Vault Certificates Officer"));
	assert_ptr_equal(r, roles_find("CERTIFICATES-OFFICER"));
	assert_int_equal(r->perms, CERT_ALL);
	assert_false(r->deployment_only);

	/* the user: read certificates, and the managed secret and key to download the PFX */
	assert_non_null(r = roles_find("db79e9a7-68ee-4b58-9aeb-b90e7c24fcba"));
	assert_ptr_equal(r, roles_find("Key Vault Certificate User"));
	assert_ptr_equal(r, roles_find("certificate-user"));
	assert_int_equal(r->perms, CERT_READ | B(PERM_SECRET_GET) | B(PERM_SECRET_LIST) |
					   B(PERM_KEY_GET) | B(PERM_KEY_LIST));

	/* the reader: certificates and issuers, never contacts or anything that writes */
	assert_non_null(r = roles_find("reader"));
	assert_int_equal(cert_bits(r->perms), CERT_READ | B(PERM_CERT_ISSUERS_GET) |
						      B(PERM_CERT_ISSUERS_LIST));
	assert_false(r->perms & B(PERM_SECRET_GET));

	/* roles of other objects get none */
	assert_int_equal(cert_bits(roles_find("secrets-officer")->perms), 0);
	assert_int_equal(cert_bits(roles_find("crypto-officer")->perms), 0);
	assert_int_equal(cert_bits(roles_find("secrets-user")->perms), 0);
}

static void test_certificate_permissions_have_names(void **state)
{
	const char *names[64];
	size_t n;

	(void)state;
	n = roles_perm_names(CERT_ALL, names, 64);
	assert_int_equal(n, 15);
	n = roles_perm_names(B(PERM_CERT_CONTACTS), names, 64);
	assert_int_equal(n, 1);
	assert_string_equal(names[0], "certificates/managecontacts");
}

/* authz_policy_perms over a vault's properties holding one access policy for "p1". */
static uint64_t policy_perms(const char *certificates, const char *who)
{
	struct buf props;
	struct kl_err err = { 0 };
	uint64_t perms;

	buf_init(&props, 4096);
	assert_int_equal(buf_printf(&props, &err,
				    "{\"p\":{\"accessPolicies\":[{\"objectId\":\"p1\","
				    "\"permissions\":{\"certificates\":%s}}]}}",
				    certificates),
			 0);
	perms = authz_policy_perms(&props, who);
	buf_clear(&props);
	return perms;
}

static void test_access_policy_names(void **state)
{
	static const struct {
		const char *name;
		uint64_t perms;
	} one[] = {
		{ "get", B(PERM_CERT_GET) },
		{ "List", B(PERM_CERT_LIST) },
		{ "CREATE", B(PERM_CERT_CREATE) },
		{ "import", B(PERM_CERT_IMPORT) },
		{ "update", B(PERM_CERT_UPDATE) },
		{ "delete", B(PERM_CERT_DELETE) },
		{ "recover", B(PERM_CERT_RECOVER) },
		{ "purge", B(PERM_CERT_PURGE) },
		{ "backup", B(PERM_CERT_BACKUP) },
		{ "restore", B(PERM_CERT_RESTORE) },
		{ "ManageContacts", B(PERM_CERT_CONTACTS) },
		{ "getissuers", B(PERM_CERT_ISSUERS_GET) },
		{ "ListIssuers", B(PERM_CERT_ISSUERS_LIST) },
		{ "setissuers", B(PERM_CERT_ISSUERS_SET) },
		{ "DeleteIssuers", B(PERM_CERT_ISSUERS_DELETE) },
		{ "manageissuers", ISSUERS },
		{ "All", CERT_ALL },
		{ "nosuchthing", 0 },
	};
	char list[64];
	size_t i;

	(void)state;
	json_util_init();
	for (i = 0; i < sizeof(one) / sizeof(one[0]); i++) {
		snprintf(list, sizeof(list), "[\"%s\"]", one[i].name);
		if (policy_perms(list, "p1") != one[i].perms)
			fail_msg("%s", one[i].name);
	}
	assert_int_equal(policy_perms("[\"get\",\"managecontacts\",7]", "P1"),
			 B(PERM_CERT_GET) | B(PERM_CERT_CONTACTS));
	/* another principal, or certificate names under keys or secrets, grant nothing here */
	assert_int_equal(policy_perms("[\"all\"]", "p2"), 0);
	assert_int_equal(policy_perms("\"all\"", "p1"), 0);
	{
		struct buf props;
		struct kl_err err = { 0 };

		buf_init(&props, 4096);
		assert_int_equal(
			buf_printf(&props, &err,
				   "{\"p\":{\"accessPolicies\":[{\"objectId\":"
				   "\"p1\",\"permissions\":{\"secrets\":[\"all\"],\"keys\":"
				   "[\"managecontacts\"]}}]}}"),
			0);
		assert_int_equal(cert_bits(authz_policy_perms(&props, "p1")), 0);
		buf_clear(&props);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roles_grant_certificate_permissions),
		cmocka_unit_test(test_certificate_permissions_have_names),
		cmocka_unit_test(test_access_policy_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
