/* api/data/certimport.c through api_dispatch: import of PFX and PEM uploads in every form C5
 * accepts, the policy of an import, and merge (C6) of CA certificates made with the openssl tool
 * into a pending version; the refusals of both. Also delete and recover render their bundles. */
#include <sys/wait.h>

#include "certs_support.h"
#include "util/b64url.h"

static int setup(void **state)
{
	return env_open(state, 0);
}

static int setup_later(void **state)
{
	return env_open(state, 3600);
}

static int teardown(void **state)
{
	return env_close(state);
}

/* Runs a shell command in the test's directory; its exit status. */
static int sh(struct api_env *e, const char *cmd)
{
	char full[2048];

	snprintf(full, sizeof(full), "cd '%s' && (%s) >/dev/null 2>&1", e->dir.path, cmd);
	return WEXITSTATUS(system(full));
}

static void write_file(struct api_env *e, const char *name, const void *p, size_t n)
{
	char path[400];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", e->dir.path, name);
	assert_non_null(f = fopen(path, "wb"));
	assert_int_equal(fwrite(p, 1, n, f), n);
	fclose(f);
}

/* The contents of a file of the test directory, NUL-terminated, in b. */
static void read_file(struct api_env *e, const char *name, struct buf *b)
{
	char path[400], chunk[4096];
	struct kl_err err = { 0 };
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", e->dir.path, name);
	assert_non_null(f = fopen(path, "rb"));
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		assert_int_equal(buf_append(b, chunk, n, &err), 0);
	fclose(f);
}

/* The secret of name as downloaded, decoded from base64 when decode. */
static void download(struct api_env *e, const char *name, bool decode, struct buf *out)
{
	struct kl_err err = { 0 };
	struct res r;
	char path[200];
	const char *v;

	snprintf(path, sizeof(path), "/secrets/%s", name);
	assert_int_equal(req(e, "GET", path, NULL, &r), 200);
	v = jstr(r.body, "value");
	if (decode)
		assert_int_equal(b64url_decode(v, strlen(v), out, &err), 0);
	else
		assert_int_equal(buf_append_str(out, v, &err), 0);
	res_clear(&r);
}

/* {"value": s} with s escaped for JSON, plus extra members. */
static char *import_body(const char *value, const char *extra)
{
	json_t *j = json_pack("{s:s}", "value", value);
	json_t *x = extra ? json_loads(extra, 0, NULL) : NULL;
	char *s;

	if (x != NULL)
		json_object_update(j, x);
	json_malloc_t m;
	json_free_t f;
	char *d = json_dumps(j, JSON_COMPACT);

	json_get_alloc_funcs(&m, &f);
	s = strdup(d); /* the test frees it with free() */
	f(d);
	json_decref(j);
	json_decref(x);
	return s;
}

static void test_import_pfx_and_pem_forms(void **state)
{
	struct api_env *e = *state;
	struct kl_err err = { 0 };
	struct buf pfx, b64, pem, pem64;
	struct res r, src;
	char *body;

	buf_init(&pfx, 1 << 20);
	buf_init(&b64, 1 << 20);
	buf_init(&pem, 1 << 20);
	buf_init(&pem64, 1 << 20);
	assert_int_equal(
	    st(e, "POST", "/certificates/src/create",
	       "{\"policy\":{\"x509_props\":{\"subject\":\"CN=src\",\"sans\":{\"dns_names\":"
	       "[\"src.example\"]}},\"issuer\":{\"name\":\"Self\"}}}"),
	    202);
	assert_int_equal(req(e, "GET", "/certificates/src", NULL, &src), 200);
	download(e, "src", true, &pfx);
	/* (2) base64 of a PFX: the policy comes from the leaf */
	assert_int_equal(b64_std_encode(pfx.data, pfx.len, &b64, &err), 0);
	body = import_body(buf_cstr(&b64), "{\"tags\":{\"t\":\"1\"}}");
	assert_int_equal(req(e, "POST", "/certificates/imp1/import", body, &r), 200);
	free(body);
	assert_string_equal(jstr(r.body, "x5t"), jstr(src.body, "x5t"));
	assert_string_equal(jstr(r.body, "cer"), jstr(src.body, "cer"));
	assert_string_equal(jstr(r.body, "tags.t"), "1");
	assert_string_equal(jstr(r.body, "policy.issuer.name"), "Unknown");
	assert_string_equal(jstr(r.body, "policy.x509_props.subject"), "CN=src");
	assert_string_equal(
	    jstr(json_array_get(jget(r.body, "policy.x509_props.sans.dns_names"), 0), ""),
	    "src.example");
	assert_int_equal(json_integer_value(jget(r.body, "policy.x509_props.validity_months")), 13);
	assert_string_equal(jstr(r.body, "policy.secret_props.contentType"),
			    "application/x-pkcs12");
	assert_int_equal(json_integer_value(jget(r.body, "attributes.exp")),
			 json_integer_value(jget(src.body, "attributes.exp")));
	assert_string_equal(
	    jstr(json_array_get(jget(r.body, "policy.lifetime_actions"), 0), "action.action_type"),
	    "EmailContacts");
	res_clear(&r);
	assert_int_equal(st(e, "GET", "/certificates/imp1/pending", NULL), 404);
	/* (1) PEM text: the secret becomes PEM */
	write_file(e, "src.pfx", pfx.data, pfx.len);
	assert_int_equal(sh(e, "openssl pkcs12 -in src.pfx -passin pass: -nodes | "
			       "sed -n '/-----BEGIN/,/-----END/p' > src.pem"),
			 0);
	read_file(e, "src.pem", &pem);
	body = import_body(buf_cstr(&pem), NULL);
	assert_int_equal(req(e, "POST", "/certificates/imp2/import", body, &r), 200);
	free(body);
	assert_string_equal(jstr(r.body, "contentType"), "application/x-pem-file");
	res_clear(&r);
	buf_reset(&pfx);
	download(e, "imp2", false, &pfx);
	assert_int_equal(strncmp(buf_cstr(&pfx), "-----BEGIN PRIVATE KEY-----\n", 28), 0);
	/* (3) base64 of PEM text, with a policy that asks for PKCS#12 */
	assert_int_equal(b64_std_encode(pem.data, pem.len, &pem64, &err), 0);
	body =
	    import_body(buf_cstr(&pem64), "{\"policy\":{\"secret_props\":{\"contentType\":"
					  "\"application/x-pkcs12\"},\"key_props\":{\"exportable\":"
					  "true}}}");
	assert_int_equal(req(e, "POST", "/certificates/imp3/import", body, &r), 200);
	free(body);
	assert_string_equal(jstr(r.body, "contentType"), "application/x-pkcs12");
	assert_string_equal(jstr(r.body, "policy.x509_props.subject"), "CN=src");
	assert_int_equal(json_integer_value(jget(r.body, "policy.key_props.key_size")), 2048);
	res_clear(&r);
	/* a policy contradicting the key */
	body = import_body(buf_cstr(&pem64), "{\"policy\":{\"key_props\":{\"kty\":\"EC\"}}}");
	assert_int_equal(req(e, "POST", "/certificates/imp4/import", body, &r), 400);
	free(body);
	assert_string_equal(err_code(&r), "BadParameter");
	res_clear(&r);
	body = import_body(buf_cstr(&pem64), "{\"policy\":{\"key_props\":{\"key_size\":4096}}}");
	assert_int_equal(st(e, "POST", "/certificates/imp4/import", body), 400);
	free(body);
	/* garbage, a wrong password, a missing value */
	assert_int_equal(
	    req(e, "POST", "/certificates/imp4/import", "{\"value\":\"bm90aGluZw==\"}", &r), 400);
	assert_string_equal(err_code(&r), "BadParameter");
	res_clear(&r);
	body = import_body(buf_cstr(&b64), "{\"pwd\":\"wrong\"}");
	assert_int_equal(st(e, "POST", "/certificates/imp4/import", body), 400);
	free(body);
	assert_int_equal(st(e, "POST", "/certificates/imp4/import", "{\"pwd\":\"\"}"), 400);
	assert_int_equal(st(e, "GET", "/certificates/imp4", NULL), 404);
	/* a new version of an existing certificate */
	body = import_body(buf_cstr(&b64), NULL);
	assert_int_equal(st(e, "POST", "/certificates/imp1/import", body), 200);
	free(body);
	assert_int_equal(req(e, "GET", "/certificates/imp1/versions", NULL, &r), 200);
	assert_int_equal(json_array_size(jget(r.body, "value")), 2);
	res_clear(&r);
	res_clear(&src);
	buf_clear(&pfx);
	buf_clear(&b64);
	buf_clear(&pem);
	buf_clear(&pem64);
}

/* Signs the CSR of name's operation with a new test CA: leaf.der and ca.der in the directory. */
static void ca_sign(struct api_env *e, const char *name)
{
	struct kl_err err = { 0 };
	struct buf csr;
	struct res r;
	char path[200];

	buf_init(&csr, 64 * 1024);
	snprintf(path, sizeof(path), "/certificates/%s/pending", name);
	assert_int_equal(req(e, "GET", path, NULL, &r), 200);
	assert_int_equal(
	    b64url_decode(jstr(r.body, "csr"), strlen(jstr(r.body, "csr")), &csr, &err), 0);
	res_clear(&r);
	write_file(e, "req.der", csr.data, csr.len);
	buf_clear(&csr);
	assert_int_equal(sh(e, "openssl req -new -x509 -newkey rsa:2048 -nodes -keyout ca.key "
			       "-out ca.pem -subj /CN=TestCA -days 30 && "
			       "openssl x509 -req -in req.der -inform DER -CA ca.pem -CAkey ca.key "
			       "-CAcreateserial -days 10 -outform DER -out leaf.der && "
			       "openssl x509 -in ca.pem -outform DER -out ca.der"),
			 0);
}

/* The standard base64 of a file of the directory, base64-encoded once more when twice. */
static void file_b64(struct api_env *e, const char *name, bool twice, struct buf *out)
{
	struct kl_err err = { 0 };
	struct buf raw, once;

	buf_init(&raw, 64 * 1024);
	buf_init(&once, 128 * 1024);
	read_file(e, name, &raw);
	assert_int_equal(b64_std_encode(raw.data, raw.len, &once, &err), 0);
	if (twice)
		assert_int_equal(b64_std_encode(once.data, once.len, out, &err), 0);
	else
		assert_int_equal(buf_append(out, once.data, once.len, &err), 0);
	buf_clear(&raw);
	buf_clear(&once);
}

static void test_merge_completes_a_pending_version(void **state)
{
	struct api_env *e = *state;
	struct buf leaf, ca;
	struct res r, pend;
	char body[16384];

	buf_init(&leaf, 128 * 1024);
	buf_init(&ca, 128 * 1024);
	assert_int_equal(
	    req(e, "POST", "/certificates/mg/create",
		"{\"policy\":{\"x509_props\":{\"subject\":\"CN=mg\"},\"issuer\":{\"name\":"
		"\"Unknown\"}},\"tags\":{\"a\":\"b\"}}",
		&pend),
	    202);
	ca_sign(e, "mg");
	/* the CA alone does not match the pending key */
	file_b64(e, "ca.der", false, &ca);
	snprintf(body, sizeof(body), "{\"x5c\":[\"%s\"]}", buf_cstr(&ca));
	assert_int_equal(req(e, "POST", "/certificates/mg/pending/merge", body, &r), 400);
	assert_string_equal(err_code(&r), "BadParameter");
	res_clear(&r);
	assert_int_equal(st(e, "POST", "/certificates/mg/pending/merge", "{\"x5c\":[]}"), 400);
	assert_int_equal(st(e, "POST", "/certificates/mg/pending/merge", "{\"x5c\":[\"!!\"]}"),
			 400);
	/* as the SDKs send it: base64 of base64 of the DER, CA first */
	file_b64(e, "leaf.der", true, &leaf);
	snprintf(body, sizeof(body), "{\"x5c\":[\"%s\",\"%s\"]}", buf_cstr(&ca), buf_cstr(&leaf));
	assert_int_equal(req(e, "POST", "/certificates/mg/pending/merge", body, &r), 201);
	assert_string_equal(r.location, "https://" HOST "/certificates/mg?api-version=7.6");
	assert_non_null(jstr(r.body, "kid"));
	assert_non_null(jstr(r.body, "cer"));
	assert_true(json_is_true(jget(r.body, "attributes.enabled")));
	assert_string_equal(jstr(r.body, "tags.a"), "b");
	assert_string_equal(jstr(r.body, "policy.issuer.name"), "Unknown");
	res_clear(&r);
	assert_int_equal(req(e, "GET", "/certificates/mg/pending", NULL, &r), 200);
	assert_string_equal(jstr(r.body, "status"), "completed");
	assert_string_equal(jstr(r.body, "target"), "https://" HOST "/certificates/mg");
	assert_string_equal(jstr(r.body, "request_id"), jstr(pend.body, "request_id"));
	res_clear(&r);
	assert_int_equal(req(e, "GET", "/secrets/mg", NULL, &r), 200);
	assert_true(json_is_true(jget(r.body, "managed")));
	res_clear(&r);
	/* a completed operation refuses a second merge; a Self one in progress refuses too */
	assert_int_equal(req(e, "POST", "/certificates/mg/pending/merge", body, &r), 403);
	assert_string_equal(err_code(&r), "Forbidden");
	res_clear(&r);
	assert_int_equal(req(e, "POST", "/certificates/none/pending/merge", body, &r), 404);
	assert_string_equal(err_code(&r), "PendingCertificateNotFound");
	res_clear(&r);
	res_clear(&pend);
	buf_clear(&leaf);
	buf_clear(&ca);
}

static void test_delete_and_recover_answer_with_policy(void **state)
{
	struct api_env *e = *state;
	struct res r;

	assert_int_equal(st(e, "POST", "/certificates/d1/create", SELF_POLICY("CN=d1")), 202);
	assert_int_equal(req(e, "DELETE", "/certificates/d1", NULL, &r), 200);
	assert_string_equal(jstr(r.body, "recoveryId"), "https://" HOST "/deletedcertificates/d1");
	assert_non_null(jget(r.body, "deletedDate"));
	assert_non_null(jget(r.body, "policy"));
	assert_non_null(jget(r.body, "cer"));
	res_clear(&r);
	assert_int_equal(req(e, "GET", "/deletedcertificates/d1", NULL, &r), 200);
	assert_non_null(jget(r.body, "policy"));
	res_clear(&r);
	assert_int_equal(req(e, "GET", "/deletedcertificates", NULL, &r), 200);
	assert_int_equal(json_array_size(jget(r.body, "value")), 1);
	assert_string_equal(jstr(json_array_get(jget(r.body, "value"), 0), "recoveryId"),
			    "https://" HOST "/deletedcertificates/d1");
	res_clear(&r);
	assert_int_equal(req(e, "POST", "/certificates/d1/create", "{}", &r), 409);
	assert_string_equal(jstr(r.body, "error.innererror.code"), "ObjectIsDeletedButRecoverable");
	res_clear(&r);
	assert_int_equal(req(e, "POST", "/deletedcertificates/d1/recover", NULL, &r), 200);
	assert_non_null(jget(r.body, "policy"));
	assert_null(jget(r.body, "recoveryId"));
	res_clear(&r);
	assert_int_equal(st(e, "GET", "/certificates/d1", NULL), 200);
	assert_int_equal(st(e, "DELETE", "/certificates/d1", NULL), 200);
	assert_int_equal(st(e, "DELETE", "/deletedcertificates/d1", NULL), 204);
	assert_int_equal(st(e, "GET", "/deletedcertificates/d1", NULL), 404);
	assert_int_equal(st(e, "DELETE", "/certificates/d1", NULL), 404);
}

static void test_backup_and_restore(void **state)
{
	struct api_env *e = *state;
	struct res r, b;
	struct buf zeros;
	struct kl_err err = { 0 };
	char *body;
	unsigned char z[4728] = { 0 };

	buf_init(&zeros, 16 * 1024);
	assert_int_equal(st(e, "POST", "/certificates/bk/create", SELF_POLICY("CN=bk")), 202);
	assert_int_equal(req(e, "POST", "/certificates/bk/backup", NULL, &b), 200);
	assert_non_null(jstr(b.body, "value"));
	assert_int_equal(st(e, "POST", "/certificates/nosuch/backup", NULL), 404);
	body = import_body(jstr(b.body, "value"), NULL);
	assert_int_equal(req(e, "POST", "/certificates/restore", body, &r), 409); /* live */
	assert_string_equal(err_code(&r), "Conflict");
	assert_int_equal(strncmp(jstr(r.body, "error.message"),
				 "There was a conflict restoring the certificate 'https://" HOST
				 "/certificates/bk/",
				 96),
			 0);
	res_clear(&r);
	assert_int_equal(st(e, "DELETE", "/certificates/bk", NULL), 200);
	assert_int_equal(st(e, "DELETE", "/deletedcertificates/bk", NULL), 204);
	assert_int_equal(req(e, "POST", "/certificates/restore", body, &r), 200);
	assert_non_null(jget(r.body, "policy"));
	assert_non_null(jstr(r.body, "cer"));
	res_clear(&r);
	free(body);
	assert_int_equal(st(e, "GET", "/secrets/bk", NULL), 200);
	/* the JS test's malformed blob: 4,728 zero bytes */
	assert_int_equal(b64url_encode(z, sizeof(z), &zeros, &err), 0);
	body = import_body(buf_cstr(&zeros), NULL);
	assert_int_equal(req(e, "POST", "/certificates/restore", body, &r), 400);
	assert_string_equal(err_code(&r), "Malformed backup blob");
	assert_string_equal(jstr(r.body, "error.message"),
			    "Backup blob contains invalid or corrupt version.");
	res_clear(&r);
	free(body);
	assert_int_equal(st(e, "POST", "/certificates/restore", "{\"value\":\"***\"}"), 400);
	res_clear(&b);
	buf_clear(&zeros);
}

/* A cancelled Self operation may still be completed by a merge (docs: out-of-band). */
static void test_merge_after_cancelled_self(void **state)
{
	struct api_env *e = *state;
	struct buf leaf;
	struct res r;
	char body[8192];

	buf_init(&leaf, 128 * 1024);
	assert_int_equal(st(e, "POST", "/certificates/sc/create", SELF_POLICY("CN=sc")), 202);
	/* still inProgress: the merge is refused, then cancel */
	ca_sign(e, "sc");
	file_b64(e, "leaf.der", false, &leaf);
	snprintf(body, sizeof(body), "{\"x5c\":[\"%s\"]}", buf_cstr(&leaf));
	assert_int_equal(req(e, "POST", "/certificates/sc/pending/merge", body, &r), 403);
	assert_non_null(strstr(jstr(r.body, "error.message"), "issuer : Self"));
	res_clear(&r);
	assert_int_equal(
	    st(e, "PATCH", "/certificates/sc/pending", "{\"cancellation_requested\":true}"), 200);
	assert_int_equal(req(e, "POST", "/certificates/sc/pending/merge", body, &r), 201);
	assert_non_null(jstr(r.body, "cer"));
	res_clear(&r);
	assert_int_equal(req(e, "GET", "/certificates/sc/pending", NULL, &r), 200);
	assert_string_equal(jstr(r.body, "status"), "completed");
	res_clear(&r);
	buf_clear(&leaf);
}

/* The secret of a Self version never issued is taken back by the cancel: the name's secret is
 * the one of the version before again (or none). */
static void test_cancel_takes_back_the_unissued_secret(void **state)
{
	struct api_env *e = *state;
	struct buf pem;
	struct res r, imp;
	char *body;

	buf_init(&pem, 64 * 1024);
	assert_int_equal(sh(e, "openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=back -days 5 "
			       "-keyout k.pem -out c.pem && cat k.pem c.pem > kc.pem"), 0);
	read_file(e, "kc.pem", &pem);
	body = import_body(buf_cstr(&pem), NULL);
	assert_int_equal(req(e, "POST", "/certificates/back/import", body, &imp), 200);
	free(body);
	assert_int_equal(st(e, "PATCH", "/certificates/back/policy",
			    "{\"issuer\":{\"name\":\"Self\"}}"), 200);
	assert_int_equal(st(e, "POST", "/certificates/back/create", "{}"), 202);	/* inProgress */
	assert_int_equal(st(e, "PATCH", "/certificates/back/pending",
			    "{\"cancellation_requested\":true}"), 200);
	assert_int_equal(req(e, "GET", "/secrets/back", NULL, &r), 200);
	assert_string_equal(jstr(r.body, "kid"), jstr(imp.body, "kid"));
	res_clear(&r);
	/* the certificate's latest issued version is still the import */
	assert_int_equal(req(e, "GET", "/certificates/back", NULL, &r), 200);
	assert_string_equal(jstr(r.body, "id"), jstr(imp.body, "id"));
	res_clear(&r);
	res_clear(&imp);
	/* with nothing before, the name has no secret after the cancel */
	assert_int_equal(st(e, "POST", "/certificates/alone/create", SELF_POLICY("CN=alone")), 202);
	assert_int_equal(st(e, "DELETE", "/certificates/alone/pending", NULL), 200);
	assert_int_equal(st(e, "GET", "/secrets/alone", NULL), 404);
	assert_int_equal(st(e, "GET", "/keys/alone", NULL), 200);	/* the key stays */
	buf_clear(&pem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_import_pfx_and_pem_forms, setup, teardown),
		cmocka_unit_test_setup_teardown(test_merge_completes_a_pending_version, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_delete_and_recover_answer_with_policy, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_backup_and_restore, setup, teardown),
		cmocka_unit_test_setup_teardown(test_merge_after_cancelled_self, setup_later,
						teardown),
		cmocka_unit_test_setup_teardown(test_cancel_takes_back_the_unissued_secret, setup_later,
						teardown),
	};

	json_util_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
