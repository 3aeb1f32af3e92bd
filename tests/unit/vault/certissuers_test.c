/* vault/certissuers.c on a real LMDB deployment: issuers set, merged, read, listed and removed;
 * reserved names and limits; the password sealed under the data key and absent from the stored
 * bytes; contacts; damaged records. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "vault_fixture.h"
#include "vault/certissuers.h"
#include "util/rec.h"
#include "vault/internal.h"

static int setup(void **state)
{
	return vault_env_setup(state, 7, true);
}

static int teardown(void **state)
{
	return vault_env_teardown(state);
}

static void expect_issuer_not_found(const struct kl_err *err)
{
	assert_int_equal(err->code, KL_ENOTFOUND);
	assert_string_equal(err->azure_code, "CertificateIssuerNotFound");
	assert_string_equal(err->msg, "Issuer not found");
}

static void expect_contacts_not_found(const struct kl_err *err)
{
	assert_int_equal(err->code, KL_ENOTFOUND);
	assert_string_equal(err->azure_code, "ContactsNotFound");
	assert_string_equal(err->msg, "Contacts not found");
}

/* The raw stored record of issuer lname into out. */
static void raw_issuer(struct vault_env *e, const char *lname, struct buf *out)
{
	char key[KEYBUF];
	struct kl_err err = { 0 };

	snprintf(key, sizeof(key), "o/default/i/%s", lname);
	buf_init(out, 1u << 20);
	assert_int_equal(store_get(e->core->st, key, strlen(key), out, NULL, &err), 0);
}

static bool contains(const struct buf *b, const char *s)
{
	size_t i, n = strlen(s);

	for (i = 0; i + n <= b->len; i++)
		if (memcmp(b->data + i, s, n) == 0)
			return true;
	return false;
}

static void test_set_get_replace_update_delete(void **state)
{
	struct vault_env *e = *state;
	struct cert_admin admins[] = { { "Ada", "Lovelace", "ada@example.com", "+1 555" },
				       { NULL, NULL, "ops@example.com", NULL } };
	struct cert_issuer_in in = { .provider = "DigiCert",
				     .account_id = "acct-1",
				     .pwd = "hunter2",
				     .pwd_len = 7,
				     .org_id = "org-9",
				     .set_admins = true,
				     .admins = admins,
				     .n_admins = 2 };
	struct cert_issuer out, got;
	struct kl_err err = { 0 };
	char provider[CERT_PROVIDER_MAX + 1];
	bool enabled = false;
	int64_t created;

	assert_int_equal(cert_issuer_set(&e->v, "MyIssuer", &in, &out, &err), 0);
	assert_string_equal(out.name, "MyIssuer");
	assert_string_equal(out.provider, "DigiCert");
	assert_true(out.has_credentials && out.has_pwd && out.enabled);
	assert_string_equal(out.account_id, "acct-1");
	assert_string_equal(out.org_id, "org-9");
	assert_int_equal(out.n_admins, 2);
	assert_string_equal(out.admins[0].last_name, "Lovelace");
	assert_null(out.admins[1].first_name);
	assert_true(out.created > 0 && out.created == out.updated);
	created = out.created;
	cert_issuer_clear(&out);

	/* any case reads it; the display name stays as first given */
	assert_int_equal(cert_issuer_get(&e->v, "MYISSUER", &got, &err), 0);
	assert_string_equal(got.name, "MyIssuer");
	assert_string_equal(got.admins[1].email, "ops@example.com");
	cert_issuer_clear(&got);
	assert_int_equal(cert_issuer_provider(&e->v, "myissuer", provider, &enabled, &err), 0);
	assert_string_equal(provider, "DigiCert");
	assert_true(enabled);

	/* update merges: only org_details given keeps the credentials and the password */
	struct cert_admin one[] = { { "Grace", NULL, NULL, NULL } };
	struct cert_issuer_in patch = { .set_admins = true, .admins = one, .n_admins = 1,
					.set_enabled = true, .enabled = false };
	assert_int_equal(cert_issuer_update(&e->v, "myissuer", &patch, &out, &err), 0);
	assert_string_equal(out.provider, "DigiCert");
	assert_string_equal(out.account_id, "acct-1");
	assert_string_equal(out.org_id, "org-9");
	assert_true(out.has_pwd && !out.enabled);
	assert_int_equal(out.n_admins, 1);
	assert_string_equal(out.admins[0].first_name, "Grace");
	assert_int_equal(out.created, created);
	cert_issuer_clear(&out);
	assert_int_equal(cert_issuer_provider(&e->v, "MyIssuer", provider, &enabled, &err), 0);
	assert_false(enabled);

	/* an empty update changes nothing but the time */
	struct cert_issuer_in nothing = { 0 };
	assert_int_equal(cert_issuer_update(&e->v, "MyIssuer", &nothing, &out, &err), 0);
	assert_string_equal(out.account_id, "acct-1");
	assert_int_equal(out.n_admins, 1);
	cert_issuer_clear(&out);

	/* set replaces the whole issuer: what is not given is gone; created is kept */
	struct cert_issuer_in bare = { .provider = "GlobalSign" };
	assert_int_equal(cert_issuer_set(&e->v, "myissuer", &bare, &out, &err), 0);
	assert_string_equal(out.name, "MyIssuer");
	assert_string_equal(out.provider, "GlobalSign");
	assert_false(out.has_credentials || out.has_pwd);
	assert_null(out.account_id);
	assert_null(out.org_id);
	assert_int_equal(out.n_admins, 0);
	assert_true(out.enabled);
	assert_int_equal(out.created, created);
	cert_issuer_clear(&out);

	/* delete answers what it was, for good */
	assert_int_equal(cert_issuer_delete(&e->v, "MYissuer", &out, &err), 0);
	assert_string_equal(out.provider, "GlobalSign");
	cert_issuer_clear(&out);
	assert_int_equal(cert_issuer_get(&e->v, "MyIssuer", &got, &err), -1);
	expect_issuer_not_found(&err);
	assert_int_equal(cert_issuer_delete(&e->v, "MyIssuer", &got, &err), -1);
	expect_issuer_not_found(&err);
}

static void test_missing_issuer(void **state)
{
	struct vault_env *e = *state;
	struct cert_issuer_in in = { .provider = "x" };
	struct cert_issuer out;
	struct kl_err err = { 0 };
	char provider[CERT_PROVIDER_MAX + 1];
	bool enabled;

	assert_int_equal(cert_issuer_get(&e->v, "nothing", &out, &err), -1);
	expect_issuer_not_found(&err);
	assert_int_equal(cert_issuer_update(&e->v, "nothing", &in, &out, &err), -1);
	expect_issuer_not_found(&err);
	assert_int_equal(cert_issuer_delete(&e->v, "nothing", &out, &err), -1);
	expect_issuer_not_found(&err);
	assert_int_equal(cert_issuer_provider(&e->v, "nothing", provider, &enabled, &err), -1);
	expect_issuer_not_found(&err);
	/* the built-in issuers are no issuer objects; names that cannot be stored are absent */
	assert_int_equal(cert_issuer_provider(&e->v, "Self", provider, &enabled, &err), -1);
	expect_issuer_not_found(&err);
	assert_int_equal(cert_issuer_get(&e->v, "bad_name", &out, &err), -1);
	expect_issuer_not_found(&err);
	assert_int_equal(cert_issuer_delete(&e->v, "", &out, &err), -1);
	expect_issuer_not_found(&err);
	assert_int_equal(cert_issuer_get(&e->v, NULL, &out, &err), -1);
	expect_issuer_not_found(&err);
}

static void test_names_and_limits_are_400(void **state)
{
	struct vault_env *e = *state;
	char long_provider[CERT_PROVIDER_MAX + 2], long_field[CERT_FIELD_MAX + 2];
	char long_pwd[CERT_ISSUER_PWD_MAX + 1];
	struct cert_admin many[CERT_ISSUER_ADMINS_MAX + 1];
	struct cert_admin big[] = { { NULL, NULL, NULL, long_field } };
	static const char *const bad_names[] = { "Self",    "self", "SELF", "Unknown",
						 "uNKNOWN", "a_b",  "",     "a/b" };
	struct cert_issuer out;
	struct kl_err err = { 0 };
	size_t i;

	memset(long_provider, 'p', sizeof(long_provider) - 1);
	long_provider[sizeof(long_provider) - 1] = '\0';
	memset(long_field, 'f', sizeof(long_field) - 1);
	long_field[sizeof(long_field) - 1] = '\0';
	memset(long_pwd, 'w', sizeof(long_pwd));
	memset(many, 0, sizeof(many));
	const struct cert_issuer_in bad_ins[] = {
		{ .provider = NULL },
		{ .provider = "" },
		{ .provider = long_provider },
		{ .provider = "p", .account_id = long_field },
		{ .provider = "p", .org_id = long_field },
		{ .provider = "p", .pwd = long_pwd, .pwd_len = sizeof(long_pwd) },
		{ .provider = "p",
		  .set_admins = true,
		  .admins = many,
		  .n_admins = CERT_ISSUER_ADMINS_MAX + 1 },
		{ .provider = "p", .set_admins = true, .admins = big, .n_admins = 1 },
	};
	struct cert_issuer_in ok = { .provider = "p" };

	for (i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		assert_int_equal(cert_issuer_set(&e->v, bad_names[i], &ok, &out, &err), -1);
		assert_int_equal(err.code, KL_EINVAL);
		assert_int_equal(cert_issuer_update(&e->v, bad_names[i], &ok, &out, &err), -1);
		assert_int_equal(err.code, KL_EINVAL);
	}
	for (i = 0; i < sizeof(bad_ins) / sizeof(bad_ins[0]); i++) {
		assert_int_equal(cert_issuer_set(&e->v, "limits", &bad_ins[i], &out, &err), -1);
		assert_int_equal(err.code, KL_EINVAL);
	}
	assert_int_equal(cert_issuer_get(&e->v, "limits", &out, &err), -1);	/* nothing stored */
	expect_issuer_not_found(&err);

	/* exactly at the limits is fine; an update past them changes nothing */
	long_provider[CERT_PROVIDER_MAX] = '\0';
	long_field[CERT_FIELD_MAX] = '\0';
	struct cert_issuer_in edge = { .provider = long_provider, .account_id = long_field,
				       .pwd = long_pwd, .pwd_len = CERT_ISSUER_PWD_MAX,
				       .set_admins = true, .admins = many,
				       .n_admins = CERT_ISSUER_ADMINS_MAX };
	assert_int_equal(cert_issuer_set(&e->v, "limits", &edge, &out, &err), 0);
	assert_int_equal(out.n_admins, CERT_ISSUER_ADMINS_MAX);
	cert_issuer_clear(&out);
	long_provider[CERT_PROVIDER_MAX] = 'p';	/* one past the limits again */
	long_field[CERT_FIELD_MAX] = 'f';
	for (i = 1; i < sizeof(bad_ins) / sizeof(bad_ins[0]); i++) {
		assert_int_equal(cert_issuer_update(&e->v, "limits", &bad_ins[i], &out, &err), -1);
		assert_int_equal(err.code, KL_EINVAL);
	}
	assert_int_equal(cert_issuer_get(&e->v, "limits", &out, &err), 0);
	assert_int_equal(strlen(out.provider), CERT_PROVIDER_MAX);
	assert_int_equal(out.n_admins, CERT_ISSUER_ADMINS_MAX);
	cert_issuer_clear(&out);
}

/* The password is stored only sealed under the data key, bound to the issuer's store key. */
static void test_password_is_sealed(void **state)
{
	struct vault_env *e = *state;
	static const char pwd[] = "Pa55-w0rd-never-stored-in-clear";
	struct cert_issuer_in in = { .provider = "DigiCert", .account_id = "acct", .pwd = pwd,
				     .pwd_len = strlen(pwd) };
	struct cert_issuer out;
	struct buf raw, sealed;
	struct secbuf *plain = NULL;
	struct kl_err err = { 0 };
	const char *key = "o/default/i/sealed", *other = "o/default/i/other";

	assert_int_equal(cert_issuer_set(&e->v, "Sealed", &in, &out, &err), 0);
	cert_issuer_clear(&out);
	raw_issuer(e, "sealed", &raw);
	assert_false(contains(&raw, pwd));
	assert_false(contains(&raw, "Pa55"));
	assert_true(contains(&raw, "acct"));	/* the account id is plain metadata */

	/* the sealed bytes open under the data key with the record's key, and with no other */
	struct rec_reader r;
	const unsigned char *s;
	size_t s_len;
	char *str;

	rec_reader_init(&r, raw.data, raw.len);
	assert_int_equal(rec_get_u8(&r), 1);
	free(rec_get_str(&r));				/* name */
	free(rec_get_str(&r));				/* provider */
	assert_int_equal(rec_get_u8(&r), 1);		/* has_credentials */
	str = rec_get_str(&r);
	assert_string_equal(str, "acct");
	free(str);
	assert_int_equal(rec_get_u8(&r), 1);		/* has_pwd */
	assert_non_null(s = rec_get_bytes(&r, &s_len));
	buf_init(&sealed, 4096);
	assert_int_equal(buf_append(&sealed, s, s_len, &err), 0);
	assert_int_equal(seal_open(e->core->data_key, key, strlen(key), sealed.data, sealed.len,
				   &plain, &err), 0);
	assert_int_equal(plain->len, strlen(pwd));
	assert_memory_equal(plain->data, pwd, plain->len);
	secbuf_free(plain);
	plain = NULL;
	assert_int_equal(seal_open(e->core->data_key, other, strlen(other), sealed.data, sealed.len,
				   &plain, &err), -1);
	assert_null(plain);

	/* an update without a password keeps the sealed one byte for byte; with one, reseals */
	struct cert_issuer_in rename = { .provider = "GlobalSign" };
	struct buf raw2;

	assert_int_equal(cert_issuer_update(&e->v, "sealed", &rename, &out, &err), 0);
	assert_true(out.has_pwd);
	cert_issuer_clear(&out);
	raw_issuer(e, "sealed", &raw2);
	assert_true(contains(&raw2, "GlobalSign"));
	assert_true(memmem(raw2.data, raw2.len, sealed.data, sealed.len) != NULL);
	buf_clear(&raw2);
	struct cert_issuer_in repwd = { .pwd = "second-secret", .pwd_len = 13 };
	assert_int_equal(cert_issuer_update(&e->v, "sealed", &repwd, &out, &err), 0);
	cert_issuer_clear(&out);
	raw_issuer(e, "sealed", &raw2);
	assert_false(contains(&raw2, "second-secret"));
	assert_null(memmem(raw2.data, raw2.len, sealed.data, sealed.len));
	buf_clear(&raw2);
	/* a set without one drops it */
	assert_int_equal(cert_issuer_set(&e->v, "sealed", &rename, &out, &err), 0);
	assert_false(out.has_pwd || out.has_credentials);
	cert_issuer_clear(&out);
	raw_issuer(e, "sealed", &raw2);
	assert_null(memmem(raw2.data, raw2.len, sealed.data, sealed.len));
	buf_clear(&raw2);
	buf_clear(&sealed);
	buf_clear(&raw);
}

static void test_list_pages(void **state)
{
	struct vault_env *e = *state;
	struct cert_issuer_page page;
	struct cert_issuer_in in = { .provider = "OneCertV2-PublicCA" };
	struct cert_issuer out;
	struct kl_err err = { 0 };
	char name[32], after[OBJ_NAME_MAX + 1] = "", seen[40] = { 0 };
	size_t total = 0, pages = 0, i;
	int k;

	for (k = 0; k < 30; k++) {
		snprintf(name, sizeof(name), "Page-%02d", k);
		assert_int_equal(cert_issuer_set(&e->v, name, &in, &out, &err), 0);
		cert_issuer_clear(&out);
	}
	do {
		assert_int_equal(cert_issuer_list(&e->v, after, 7, &page, &err), 0);
		for (i = 0; i < page.n; i++) {
			if (strncmp(page.items[i].name, "Page-", 5) != 0)
				continue;	/* other tests' issuers */
			k = atoi(page.items[i].name + 5);
			assert_false(seen[k]);
			seen[k] = 1;
			total++;
			assert_string_equal(page.items[i].provider, "OneCertV2-PublicCA");
		}
		pages++;
		snprintf(after, sizeof(after), "%s", page.next);
	} while (after[0] != '\0');
	assert_int_equal(total, 30);
	assert_true(pages >= 5);
	assert_int_equal(cert_issuer_list(&e->v, NULL, 0, &page, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	assert_int_equal(cert_issuer_list(&e->v, NULL, OBJ_PAGE_MAX + 1, &page, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	assert_int_equal(cert_issuer_list(&e->v, "Page-01", 5, &page, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	assert_int_equal(cert_issuer_list(&e->v, "page_01", 5, &page, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	assert_int_equal(cert_issuer_list(&e->v, "page-29", 25, &page, &err), 0);
	for (i = 0; i < page.n; i++)
		assert_true(strncmp(page.items[i].name, "Page-", 5) != 0);
}

static void test_contacts(void **state)
{
	struct vault_env *e = *state;
	struct cert_contact two[] = { { "a@example.com", "A", "+31 20" },
				      { "b@example.com", NULL, NULL } };
	struct cert_contact one[] = { { "c@example.com", "C", NULL } };
	struct cert_contact no_email[] = { { NULL, "nobody", NULL } };
	struct cert_contact empty_email[] = { { "", NULL, NULL } };
	struct cert_contact many[CERT_CONTACTS_MAX + 1];
	char long_field[CERT_FIELD_MAX + 2];
	struct cert_contact big[] = { { "d@example.com", long_field, NULL } };
	struct cert_contacts got = { 0 };
	struct kl_err err = { 0 };
	size_t i;

	memset(long_field, 'n', sizeof(long_field) - 1);
	long_field[sizeof(long_field) - 1] = '\0';
	for (i = 0; i < CERT_CONTACTS_MAX + 1; i++)
		many[i] = (struct cert_contact){ "m@example.com", NULL, NULL };

	assert_int_equal(cert_contacts_get(&e->v, &got, &err), -1);
	expect_contacts_not_found(&err);
	assert_int_equal(cert_contacts_delete(&e->v, &got, &err), -1);
	expect_contacts_not_found(&err);

	assert_int_equal(cert_contacts_set(&e->v, two, 0, &got, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	assert_int_equal(cert_contacts_set(&e->v, no_email, 1, &got, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	assert_int_equal(cert_contacts_set(&e->v, empty_email, 1, &got, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	assert_int_equal(cert_contacts_set(&e->v, many, CERT_CONTACTS_MAX + 1, &got, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	assert_int_equal(cert_contacts_set(&e->v, big, 1, &got, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	assert_int_equal(cert_contacts_get(&e->v, &got, &err), -1);	/* nothing stored */
	expect_contacts_not_found(&err);

	assert_int_equal(cert_contacts_set(&e->v, many, CERT_CONTACTS_MAX, &got, &err), 0);
	assert_int_equal(got.n, CERT_CONTACTS_MAX);
	cert_contacts_clear(&got);
	assert_int_equal(cert_contacts_set(&e->v, two, 2, &got, &err), 0);
	assert_int_equal(got.n, 2);
	cert_contacts_clear(&got);
	assert_int_equal(cert_contacts_get(&e->v, &got, &err), 0);
	assert_int_equal(got.n, 2);
	assert_string_equal(got.items[0].email, "a@example.com");
	assert_string_equal(got.items[0].name, "A");
	assert_string_equal(got.items[0].phone, "+31 20");
	assert_null(got.items[1].name);
	assert_null(got.items[1].phone);
	cert_contacts_clear(&got);

	/* set replaces the list; delete answers the removed list */
	assert_int_equal(cert_contacts_set(&e->v, one, 1, &got, &err), 0);
	cert_contacts_clear(&got);
	assert_int_equal(cert_contacts_delete(&e->v, &got, &err), 0);
	assert_int_equal(got.n, 1);
	assert_string_equal(got.items[0].email, "c@example.com");
	cert_contacts_clear(&got);
	assert_int_equal(cert_contacts_get(&e->v, &got, &err), -1);
	expect_contacts_not_found(&err);
}

static void test_damaged_records(void **state)
{
	struct vault_env *e = *state;
	struct cert_issuer out;
	struct cert_issuer_page page;
	struct cert_contacts got = { 0 };
	struct cert_issuer_in in = { .provider = "p" };
	struct kl_err err = { 0 };
	char provider[CERT_PROVIDER_MAX + 1];
	bool enabled;

	assert_int_equal(store_put(e->core->st, "o/default/i/broken", 18, "\x01garbage", 8, &err),
			 0);
	assert_int_equal(cert_issuer_get(&e->v, "broken", &out, &err), -1);
	assert_int_equal(err.code, KL_ECORRUPT);
	assert_int_equal(cert_issuer_provider(&e->v, "broken", provider, &enabled, &err), -1);
	assert_int_equal(err.code, KL_ECORRUPT);
	assert_int_equal(cert_issuer_update(&e->v, "broken", &in, &out, &err), -1);
	assert_int_equal(err.code, KL_ECORRUPT);
	assert_int_equal(cert_issuer_list(&e->v, NULL, 25, &page, &err), -1);
	assert_int_equal(err.code, KL_ECORRUPT);
	/* a set replaces it whole, so a damaged issuer can be repaired */
	assert_int_equal(cert_issuer_set(&e->v, "broken", &in, &out, &err), 0);
	assert_string_equal(out.name, "broken");
	cert_issuer_clear(&out);
	assert_int_equal(cert_issuer_delete(&e->v, "broken", &out, &err), 0);
	cert_issuer_clear(&out);

	assert_int_equal(store_put(e->core->st, "o/default/n", 11, "\x01\x00", 2, &err), 0);
	assert_int_equal(cert_contacts_get(&e->v, &got, &err), -1);
	assert_int_equal(err.code, KL_ECORRUPT);
	assert_int_equal(cert_contacts_delete(&e->v, &got, &err), -1);
	assert_int_equal(err.code, KL_ECORRUPT);
	assert_int_equal(store_del(e->core->st, "o/default/n", 11, &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_get_replace_update_delete),
		cmocka_unit_test(test_missing_issuer),
		cmocka_unit_test(test_names_and_limits_are_400),
		cmocka_unit_test(test_password_is_sealed),
		cmocka_unit_test(test_list_pages),
		cmocka_unit_test(test_contacts),
		cmocka_unit_test(test_damaged_records),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
