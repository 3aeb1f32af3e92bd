/* The certificate issuer and contacts operations through api_begin and api_dispatch on a real
 * deployment: wire shapes and statuses, the service's errors, bad bodies, paging, the password
 * never answered, the read-only classes, and which roles may call them. */
#include "api_fixture.h"

struct result {
	int status;
	json_t *body;
	char text[8192];	/* the body as sent */
};

static void result_clear(struct result *r)
{
	json_decref(r->body);
	memset(r, 0, sizeof(*r));
}

#define HOST "default.vault.localhost:8443"
#define ADMIN_HOST "localhost:8443"
#define V "api-version=7.5"

/* Sends one request; query is "a=b&c=d" already decoded, or NULL. */
static void send_req(struct api_env *e, const char *method, const char *host, const char *path,
		     const char *query, const char *authz, const char *body, struct result *out)
{
	const struct api_drive_req d = { .method = method, .host = host, .path = path,
					 .query = query, .authorization = authz, .body = body,
					 .body_len = api_drive_len(body) };
	struct api_resp resp;

	memset(out, 0, sizeof(*out));
	api_env_drive(e, &d, &resp);
	out->status = resp.status;
	if (resp.body.len > 0) {
		api_drive_body_copy(&resp, out->text, sizeof(out->text));
		assert_non_null(out->body = api_drive_json(&resp));
	}
	api_resp_free(&resp);
}

static const char *err_member(const struct result *r, const char *m)
{
	return json_string_value(json_object_get(json_object_get(r->body, "error"), m));
}

static const char *str_at(json_t *j, const char *a, const char *b)
{
	json_t *v = json_object_get(j, a);

	return json_string_value(b ? json_object_get(v, b) : v);
}

/* Sends and expects status; the result is cleared unless keep. */
static void expect(struct api_env *e, const char *method, const char *path, const char *body,
		   int status, const char *code, struct result *keep)
{
	struct result r;

	send_req(e, method, HOST, path, V, e->bearer, body, &r);
	if (r.status != status)
		fail_msg("%s %s: %d (%s), expected %d", method, path, r.status, r.text, status);
	if (code != NULL)
		assert_string_equal(err_member(&r, "code"), code);
	if (keep != NULL)
		*keep = r;
	else
		result_clear(&r);
}

static void test_issuer_crud_shapes(void **state)
{
	struct api_env *e = *state;
	struct result r;
	json_t *org, *admin, *attrs;
	int64_t created;

	expect(e, "PUT", "/certificates/issuers/DigiIssuer",
	       "{\"provider\":\"DigiCert\",\"credentials\":{\"account_id\":\"keyvaultuser\","
	       "\"pwd\":\"Top-Secret-Pwd\"},\"org_details\":{\"id\":\"org-1\",\"admin_details\":"
	       "[{\"first_name\":\"John\",\"last_name\":\"Doe\",\"email\":\"admin@microsoft.com\","
	       "\"phone\":\"4255555555\"}]},\"attributes\":{\"enabled\":true},\"ignored\":1}",
	       200, NULL, &r);
	assert_string_equal(str_at(r.body, "id", NULL),
			    "https://" HOST "/certificates/issuers/DigiIssuer");
	assert_string_equal(str_at(r.body, "provider", NULL), "DigiCert");
	assert_string_equal(str_at(r.body, "credentials", "account_id"), "keyvaultuser");
	assert_int_equal(json_object_size(json_object_get(r.body, "credentials")), 1);
	assert_null(strstr(r.text, "Top-Secret-Pwd"));
	assert_null(strstr(r.text, "pwd"));
	org = json_object_get(r.body, "org_details");
	assert_string_equal(str_at(org, "id", NULL), "org-1");
	admin = json_array_get(json_object_get(org, "admin_details"), 0);
	assert_string_equal(str_at(admin, "first_name", NULL), "John");
	assert_string_equal(str_at(admin, "last_name", NULL), "Doe");
	assert_string_equal(str_at(admin, "email", NULL), "admin@microsoft.com");
	assert_string_equal(str_at(admin, "phone", NULL), "4255555555");
	attrs = json_object_get(r.body, "attributes");
	assert_true(json_is_true(json_object_get(attrs, "enabled")));
	created = json_integer_value(json_object_get(attrs, "created"));
	assert_true(created > 0);
	assert_int_equal(json_integer_value(json_object_get(attrs, "updated")), created);
	assert_int_equal(json_object_size(attrs), 3);
	result_clear(&r);

	/* get, any case; the password is never answered */
	expect(e, "GET", "/certificates/issuers/digiissuer", NULL, 200, NULL, &r);
	assert_string_equal(str_at(r.body, "id", NULL),
			    "https://" HOST "/certificates/issuers/DigiIssuer");
	assert_null(strstr(r.text, "Top-Secret-Pwd"));
	assert_null(strstr(r.text, "pwd"));
	result_clear(&r);

	/* PATCH with org_details only keeps the credentials; credentials {} keeps account_id */
	expect(e, "PATCH", "/certificates/issuers/DigiIssuer",
	       "{\"org_details\":{\"admin_details\":[{\"email\":\"ops@example.com\"}]}}", 200, NULL,
	       &r);
	assert_string_equal(str_at(r.body, "credentials", "account_id"), "keyvaultuser");
	assert_string_equal(str_at(r.body, "provider", NULL), "DigiCert");
	org = json_object_get(r.body, "org_details");
	assert_string_equal(str_at(org, "id", NULL), "org-1");
	admin = json_array_get(json_object_get(org, "admin_details"), 0);
	assert_string_equal(str_at(admin, "email", NULL), "ops@example.com");
	assert_null(json_object_get(admin, "first_name"));
	result_clear(&r);
	expect(e, "PATCH", "/certificates/issuers/DigiIssuer",
	       "{\"credentials\":{},\"provider\":\"GlobalSign\",\"attributes\":{\"enabled\":false}"
	       "}",
	       200, NULL, &r);
	assert_string_equal(str_at(r.body, "credentials", "account_id"), "keyvaultuser");
	assert_string_equal(str_at(r.body, "provider", NULL), "GlobalSign");
	assert_true(
		json_is_false(json_object_get(json_object_get(r.body, "attributes"), "enabled")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r.body, "attributes"),
							    "created")), created);
	result_clear(&r);

	/* PUT replaces the whole issuer: no credentials, enabled by default */
	expect(e, "PUT", "/certificates/issuers/DigiIssuer", "{\"provider\":\"Test\"}", 200, NULL,
	       &r);
	assert_null(json_object_get(r.body, "credentials"));
	assert_int_equal(json_array_size(json_object_get(json_object_get(r.body, "org_details"),
							 "admin_details")), 0);
	assert_true(
		json_is_true(json_object_get(json_object_get(r.body, "attributes"), "enabled")));
	result_clear(&r);

	/* DELETE answers the issuer as it was, for good */
	expect(e, "DELETE", "/certificates/issuers/DIGIISSUER", NULL, 200, NULL, &r);
	assert_string_equal(str_at(r.body, "provider", NULL), "Test");
	assert_string_equal(str_at(r.body, "id", NULL),
			    "https://" HOST "/certificates/issuers/DigiIssuer");
	result_clear(&r);
	expect(e, "GET", "/certificates/issuers/DigiIssuer", NULL, 404, "CertificateIssuerNotFound",
	       &r);
	assert_string_equal(err_member(&r, "message"), "Issuer not found");
	result_clear(&r);
}

static void test_issuer_errors(void **state)
{
	struct api_env *e = *state;
	static const char *const bodies[] = {
		"",
		"{",
		"[]",
		"{}",
		"{\"provider\":null}",
		"{\"provider\":5}",
		"{\"provider\":\"\"}",
		"{\"provider\":\"p\",\"credentials\":[]}",
		"{\"provider\":\"p\",\"credentials\":{\"account_id\":1}}",
		"{\"provider\":\"p\",\"credentials\":{\"pwd\":true}}",
		"{\"provider\":\"p\",\"org_details\":\"x\"}",
		"{\"provider\":\"p\",\"org_details\":{\"admin_details\":{}}}",
		"{\"provider\":\"p\",\"org_details\":{\"admin_details\":[1]}}",
		"{\"provider\":\"p\",\"org_details\":{\"admin_details\":[{\"email\":2}]}}",
		"{\"provider\":\"p\",\"org_details\":{\"id\":\"a\\u0000b\"}}",
		"{\"provider\":\"p\",\"attributes\":{\"enabled\":\"yes\"}}",
		"{\"provider\":\"p\",\"attributes\":7}",
		("{\"provider\":"
		 "\"0123456789012345678901234567890123456789012345678901234567890123X\"}"),
	};
	char big[4096];
	size_t i, o;
	struct result r;

	expect(e, "PUT", "/certificates/issuers/keep", "{\"provider\":\"Original\"}", 200, NULL,
	       NULL);
	for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		send_req(e, "PUT", HOST, "/certificates/issuers/keep", V, e->bearer, bodies[i], &r);
		if (r.status != 400)
			fail_msg("PUT %s: %d", bodies[i], r.status);
		assert_string_equal(err_member(&r, "code"), "BadParameter");
		result_clear(&r);
		if (i < 3 || strcmp(bodies[i], "{}") == 0 || strstr(bodies[i], "null") != NULL)
			continue;	/* an empty PATCH is fine */
		send_req(e, "PATCH", HOST, "/certificates/issuers/keep", V, e->bearer, bodies[i],
			 &r);
		if (r.status != 400)
			fail_msg("PATCH %s: %d", bodies[i], r.status);
		result_clear(&r);
	}
	/* 17 admins: one past the limit */
	o = (size_t)snprintf(big, sizeof(big),
			     "{\"provider\":\"p\",\"org_details\":{\"admin_details\":[");
	for (i = 0; i < 17; i++)
		o += (size_t)snprintf(big + o, sizeof(big) - o, "%s{\"email\":\"a@b\"}",
				      i ? "," : "");
	snprintf(big + o, sizeof(big) - o, "]}}");
	expect(e, "PUT", "/certificates/issuers/keep", big, 400, "BadParameter", NULL);
	expect(e, "GET", "/certificates/issuers/keep", NULL, 200, NULL, &r);
	assert_string_equal(str_at(r.body, "provider", NULL), "Original");
	result_clear(&r);

	/* reserved and invalid names */
	expect(e, "PUT", "/certificates/issuers/Self", "{\"provider\":\"p\"}", 400, "BadParameter",
	       NULL);
	expect(e, "PUT", "/certificates/issuers/UNKNOWN", "{\"provider\":\"p\"}", 400,
	       "BadParameter", NULL);
	expect(e, "PUT", "/certificates/issuers/bad_name", "{\"provider\":\"p\"}", 400,
	       "BadParameter", NULL);
	expect(e, "GET", "/certificates/issuers/bad_name", NULL, 400, "BadParameter", NULL);

	/* missing: the service's code and exact message */
	expect(e, "PATCH", "/certificates/issuers/nothing", "{\"provider\":\"p\"}", 404,
	       "CertificateIssuerNotFound", &r);
	assert_string_equal(err_member(&r, "message"), "Issuer not found");
	result_clear(&r);
	expect(e, "DELETE", "/certificates/issuers/nothing", NULL, 404, "CertificateIssuerNotFound",
	       NULL);
	expect(e, "GET", "/certificates/issuers/Self", NULL, 404, "CertificateIssuerNotFound",
	       NULL);
	expect(e, "POST", "/certificates/issuers/keep", NULL, 405, NULL, NULL);
}

static void test_issuer_list_pages(void **state)
{
	struct api_env *e = *state;
	struct result r;
	char path[64], next[1024];
	size_t seen = 0, pages = 0;
	json_t *it;
	size_t i;
	int k;

	for (k = 0; k < 5; k++) {
		snprintf(path, sizeof(path), "/certificates/issuers/list-%d", k);
		expect(e, "PUT", path, "{\"provider\":\"OneCertV2-PublicCA\"}", 200, NULL, NULL);
	}
	snprintf(next, sizeof(next), "%s", V "&maxresults=2");
	for (;;) {
		json_t *nl;

		send_req(e, "GET", HOST, "/certificates/issuers", next, e->bearer, NULL, &r);
		assert_int_equal(r.status, 200);
		json_array_foreach(json_object_get(r.body, "value"), i, it) {
			assert_int_equal(json_object_size(it), 2);
			if (strncmp(str_at(it, "id", NULL),
				    "https://" HOST "/certificates/issuers/list-",
				    strlen("https://" HOST "/certificates/issuers/list-")) != 0)
				continue;
			assert_string_equal(str_at(it, "provider", NULL), "OneCertV2-PublicCA");
			seen++;
		}
		pages++;
		nl = json_object_get(r.body, "nextLink");
		if (json_is_null(nl)) {
			result_clear(&r);
			break;
		}
		assert_memory_equal(json_string_value(nl), "https://" HOST "/certificates/issuers?",
				    strlen("https://" HOST "/certificates/issuers?"));
		snprintf(next, sizeof(next), "%s", strchr(json_string_value(nl), '?') + 1);
		result_clear(&r);
	}
	assert_int_equal(seen, 5);
	assert_true(pages >= 3);
	send_req(e, "GET", HOST, "/certificates/issuers", V "&$skiptoken=garbage!", e->bearer, NULL,
		 &r);
	assert_int_equal(r.status, 400);
	result_clear(&r);
}

static void test_contacts(void **state)
{
	struct api_env *e = *state;
	static const char *const bad[] = {
		"{}", "{\"contacts\":null}", "{\"contacts\":{}}", "{\"contacts\":[]}",
		"{\"contacts\":[1]}", "{\"contacts\":[{\"name\":\"no email\"}]}",
		"{\"contacts\":[{\"email\":\"\"}]}", "{\"contacts\":[{\"email\":5}]}",
		"{\"contacts\":[{\"email\":\"a@b\",\"phone\":[]}]}",
	};
	struct result r;
	json_t *c0;
	size_t i;

	expect(e, "GET", "/certificates/contacts", NULL, 404, "ContactsNotFound", &r);
	assert_string_equal(err_member(&r, "message"), "Contacts not found");
	result_clear(&r);
	expect(e, "DELETE", "/certificates/contacts", NULL, 404, "ContactsNotFound", NULL);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect(e, "PUT", "/certificates/contacts", bad[i], 400, "BadParameter", NULL);
	expect(e, "GET", "/certificates/contacts", NULL, 404, "ContactsNotFound", NULL);

	expect(e, "PUT", "/certificates/contacts",
	       "{\"contacts\":[{\"email\":\"admin@contoso.com\",\"name\":\"John Doe\",\"phone\":"
	       "\"1111111111\"},{\"email\":\"b@contoso.com\"}]}", 200, NULL, &r);
	assert_string_equal(str_at(r.body, "id", NULL), "https://" HOST "/certificates/contacts");
	assert_int_equal(json_array_size(json_object_get(r.body, "contacts")), 2);
	c0 = json_array_get(json_object_get(r.body, "contacts"), 0);
	assert_string_equal(str_at(c0, "email", NULL), "admin@contoso.com");
	assert_string_equal(str_at(c0, "name", NULL), "John Doe");
	assert_string_equal(str_at(c0, "phone", NULL), "1111111111");
	assert_int_equal(json_object_size(json_array_get(json_object_get(r.body, "contacts"), 1)),
			 1);
	result_clear(&r);
	expect(e, "GET", "/certificates/contacts", NULL, 200, NULL, &r);
	assert_int_equal(json_array_size(json_object_get(r.body, "contacts")), 2);
	result_clear(&r);
	/* PUT replaces; DELETE answers the removed list; then none */
	expect(e, "PUT", "/certificates/contacts", "{\"contacts\":[{\"email\":\"c@contoso.com\"}]}",
	       200, NULL, NULL);
	expect(e, "DELETE", "/certificates/contacts", NULL, 200, NULL, &r);
	assert_int_equal(json_array_size(json_object_get(r.body, "contacts")), 1);
	assert_string_equal(str_at(json_array_get(json_object_get(r.body, "contacts"), 0), "email",
				   NULL), "c@contoso.com");
	assert_string_equal(str_at(r.body, "id", NULL), "https://" HOST "/certificates/contacts");
	result_clear(&r);
	expect(e, "GET", "/certificates/contacts", NULL, 404, "ContactsNotFound", NULL);
}

/* The eight operations' rows: reads pass the read-only gate, writes do not; each names its
 * certificate permission. */
static void test_route_rows(void **state)
{
	static const struct {
		const char *method, *path, *op;
		enum route_class cls;
		enum route_perm perm;
	} rows[] = {
		{ "PUT", "/certificates/contacts", "SetCertificateContacts", ROUTE_WRITE,
		  PERM_CERT_CONTACTS },
		{ "GET", "/certificates/contacts", "GetCertificateContacts", ROUTE_READ,
		  PERM_CERT_CONTACTS },
		{ "DELETE", "/certificates/contacts", "DeleteCertificateContacts", ROUTE_WRITE,
		  PERM_CERT_CONTACTS },
		{ "GET", "/certificates/issuers", "GetCertificateIssuers", ROUTE_READ,
		  PERM_CERT_ISSUERS_LIST },
		{ "PUT", "/certificates/issuers/i", "SetCertificateIssuer", ROUTE_WRITE,
		  PERM_CERT_ISSUERS_SET },
		{ "PATCH", "/certificates/issuers/i", "UpdateCertificateIssuer", ROUTE_WRITE,
		  PERM_CERT_ISSUERS_SET },
		{ "GET", "/certificates/issuers/i", "GetCertificateIssuer", ROUTE_READ,
		  PERM_CERT_ISSUERS_GET },
		{ "DELETE", "/certificates/issuers/i", "DeleteCertificateIssuer", ROUTE_WRITE,
		  PERM_CERT_ISSUERS_DELETE },
	};
	struct api_req req;
	struct api_state st;
	const struct route *r;
	struct kl_err err = { 0 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		memset(&st, 0, sizeof(st));
		memset(&req, 0, sizeof(req));
		snprintf(req.method, sizeof(req.method), "%s", rows[i].method);
		req.path = (char *)rows[i].path;
		assert_int_equal(routes_match(&req, &st, &r, &err), 0);
		assert_string_equal(r->op, rows[i].op);
		assert_int_equal(r->cls, rows[i].cls);
		assert_int_equal(r->perm, rows[i].perm);
		arena_free(&req.arena);	/* the path parameters live in it */
	}
}

/* A principal with role on the default vault; its "Bearer ..." into bearer. */
static void make_principal(struct api_env *e, const char *name, const char *role, char *bearer,
			   size_t n)
{
	api_env_make_principal(e, ADMIN_HOST, name, role, bearer, n);
}

/* Who may call what: 403 when the role lacks the permission, otherwise the operation's answer. */
static void test_roles_on_issuers_and_contacts(void **state)
{
	struct api_env *e = *state;
	static const struct {
		const char *method, *path, *body;
		int officer, reader, user, secrets_officer;
	} ops[] = {
		{ "PUT", "/certificates/issuers/roles", "{\"provider\":\"p\"}", 200, 403, 403,
		  403 },
		{ "GET", "/certificates/issuers/roles", NULL, 200, 200, 403, 403 },
		{ "GET", "/certificates/issuers", NULL, 200, 200, 403, 403 },
		{ "PATCH", "/certificates/issuers/roles", "{}", 200, 403, 403, 403 },
		{ "PUT", "/certificates/contacts", "{\"contacts\":[{\"email\":\"a@b\"}]}", 200, 403,
		  403, 403 },
		{ "GET", "/certificates/contacts", NULL, 200, 403, 403, 403 },
		{ "DELETE", "/certificates/contacts", NULL, 200, 403, 403, 403 },
		{ "DELETE", "/certificates/issuers/roles", NULL, 200, 403, 403, 403 },
	};
	char officer[200], reader[200], user[200], so[200];
	struct result r;
	size_t i, k;

	make_principal(e, "cert-officer", "certificates-officer", officer, sizeof(officer));
	make_principal(e, "cert-reader", "Key Vault Reader", reader, sizeof(reader));
	make_principal(e, "cert-user", "db79e9a7-68ee-4b58-9aeb-b90e7c24fcba", user, sizeof(user));
	make_principal(e, "sec-officer", "secrets-officer", so, sizeof(so));
	/* the reader's and the user's reads first, while the issuer exists */
	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		const char *who[] = { reader, user, so, officer };
		const int want[] = { ops[i].reader, ops[i].user, ops[i].secrets_officer,
				     ops[i].officer };

		for (k = 0; k < 4; k++) {
			send_req(e, ops[i].method, HOST, ops[i].path, V, who[k], ops[i].body, &r);
			if (r.status != want[k])
				fail_msg("%s %s as #%zu: %d (%s), expected %d", ops[i].method,
					 ops[i].path, k, r.status, r.text, want[k]);
			if (r.status == 403)
				assert_string_equal(err_member(&r, "code"), "Forbidden");
			result_clear(&r);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_issuer_crud_shapes),
		cmocka_unit_test(test_issuer_errors),
		cmocka_unit_test(test_issuer_list_pages),
		cmocka_unit_test(test_contacts),
		cmocka_unit_test(test_route_rows),
		cmocka_unit_test(test_roles_on_issuers_and_contacts),
	};

	return cmocka_run_group_tests(tests, api_env_setup_default, api_env_teardown);
}
