/* api/data/certs.c, certop.c, certpolicy.c through api_dispatch: create (Self, Unknown, issuer
 * objects), the operation's states and its cancel/delete, bundles and items, lists, update with
 * the enabled mirror, policies and every validation error of C7. */
#include "certs_support.h"
#include "util/b64url.h"

static int setup_now(void **state)
{
	return env_open(state, 0); /* Self certificates are issued at once */
}

static int setup_later(void **state)
{
	return env_open(state, 3600); /* ... or stay inProgress through the test */
}

static int teardown(void **state)
{
	return env_close(state);
}

/* The version id at the end of an id. */
static const char *version_of(const char *id)
{
	const char *slash = strrchr(id, '/');

	return slash ? slash + 1 : "";
}

static void test_create_self_issues_three_objects_of_one_version(void **state)
{
	struct api_env *e = *state;
	struct res r, s, k;
	struct buf der;
	struct kl_err err = { 0 };
	char v[OBJ_VERSION_LEN + 1];

	assert_int_equal(req(e, "POST", "/certificates/c1/create", SELF_POLICY("CN=c1"), &r), 202);
	assert_string_equal(jstr(r.body, "status"), "completed");
	assert_string_equal(jstr(r.body, "issuer.name"), "Self");
	assert_string_equal(jstr(r.body, "target"), "https://" HOST "/certificates/c1");
	assert_string_equal(jstr(r.body, "id"), "https://" HOST "/certificates/c1/pending");
	assert_int_equal(strlen(jstr(r.body, "request_id")), 32);
	assert_non_null(strstr(r.location, "/certificates/c1/pending?api-version=7.6&request_id="));
	assert_non_null(strstr(r.location, jstr(r.body, "request_id")));
	assert_null(jget(r.body, "status_details"));
	assert_non_null(jstr(r.body, "csr"));
	res_clear(&r);

	assert_int_equal(req(e, "GET", "/certificates/c1/", NULL, &r), 200);
	snprintf(v, sizeof(v), "%s", version_of(jstr(r.body, "id")));
	assert_int_equal(strlen(v), 32);
	assert_string_equal(version_of(jstr(r.body, "kid")), v);
	assert_string_equal(version_of(jstr(r.body, "sid")), v);
	assert_int_equal(strlen(jstr(r.body, "x5t")), 27);
	assert_null(strpbrk(jstr(r.body, "x5t"), "+/="));
	buf_init(&der, 64 * 1024);
	assert_int_equal(
	    b64url_decode(jstr(r.body, "cer"), strlen(jstr(r.body, "cer")), &der, &err), 0);
	assert_int_equal(der.data[0], 0x30);
	buf_clear(&der);
	assert_true(json_is_true(jget(r.body, "attributes.enabled")));
	assert_int_equal(json_integer_value(jget(r.body, "attributes.created")) -
			     json_integer_value(jget(r.body, "attributes.nbf")),
			 600);
	assert_string_equal(jstr(r.body, "policy.issuer.name"), "Self");
	assert_string_equal(jstr(r.body, "policy.key_props.kty"), "RSA");
	assert_string_equal(jstr(r.body, "contentType"), "application/x-pkcs12");
	assert_string_equal(jstr(r.body, "pending.id"), "https://" HOST "/certificates/c1/pending");

	/* the managed secret and key of the same version */
	char path[128];

	snprintf(path, sizeof(path), "/secrets/c1/%s", v);
	assert_int_equal(req(e, "GET", path, NULL, &s), 200);
	assert_true(json_is_true(jget(s.body, "managed")));
	assert_string_equal(jstr(s.body, "kid"), jstr(r.body, "kid"));
	assert_string_equal(jstr(s.body, "contentType"), "application/x-pkcs12");
	assert_true(strlen(jstr(s.body, "value")) > 1000);
	snprintf(path, sizeof(path), "/keys/c1/%s", v);
	assert_int_equal(req(e, "GET", path, NULL, &k), 200);
	assert_true(json_is_true(jget(k.body, "managed")));
	assert_int_equal(json_array_size(jget(k.body, "key.key_ops")),
			 4); /* sign verify wrap unwrap */
	res_clear(&k);

	/* an explicit version answers without policy */
	snprintf(path, sizeof(path), "/certificates/c1/%s", v);
	assert_int_equal(req(e, "GET", path, NULL, &k), 200);
	assert_null(jget(k.body, "policy"));
	assert_string_equal(jstr(k.body, "x5t"), jstr(r.body, "x5t"));
	res_clear(&k);
	res_clear(&s);
	res_clear(&r);

	/* the signing key works through the keys API */
	snprintf(path, sizeof(path), "/keys/c1/%s/sign", v);
	assert_int_equal(st(e, "POST", path,
			    "{\"alg\":\"RS256\",\"value\":"
			    "\"47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU\"}"),
			 200);
}

static void test_pem_secret_and_non_exportable_key(void **state)
{
	struct api_env *e = *state;
	struct res r;
	const char *val;

	assert_int_equal(
	    st(e, "POST", "/certificates/p1/create",
	       "{\"policy\":{\"x509_props\":{\"subject\":\"CN=p1\"},\"issuer\":{\"name\":"
	       "\"Self\"},\"secret_props\":{\"contentType\":\"application/x-pem-file\"},"
	       "\"key_props\":{\"kty\":\"EC\",\"crv\":\"P-384\"}}}"),
	    202);
	assert_int_equal(req(e, "GET", "/secrets/p1", NULL, &r), 200);
	val = jstr(r.body, "value");
	assert_int_equal(strncmp(val, "-----BEGIN PRIVATE KEY-----\n", 28), 0);
	assert_string_equal(val + strlen(val) - 26, "-----END CERTIFICATE-----\n");
	assert_string_equal(jstr(r.body, "contentType"), "application/x-pem-file");
	res_clear(&r);
	assert_int_equal(req(e, "GET", "/keys/p1", NULL, &r), 200);
	assert_string_equal(jstr(r.body, "key.crv"), "P-384");
	assert_int_equal(json_array_size(jget(r.body, "key.key_ops")), 2); /* EC: sign, verify */
	res_clear(&r);

	assert_int_equal(
	    st(e, "POST", "/certificates/p2/create",
	       "{\"policy\":{\"x509_props\":{\"subject\":\"CN=p2\"},\"issuer\":{\"name\":"
	       "\"Self\"},\"secret_props\":{\"contentType\":\"application/x-pem-file\"},"
	       "\"key_props\":{\"exportable\":false}}}"),
	    202);
	assert_int_equal(req(e, "GET", "/secrets/p2", NULL, &r), 200);
	assert_null(strstr(jstr(r.body, "value"), "PRIVATE KEY"));
	assert_int_equal(strncmp(jstr(r.body, "value"), "-----BEGIN CERTIFICATE-----\n", 28), 0);
	res_clear(&r);
}

static void test_self_in_progress_cancel_and_delete_operation(void **state)
{
	struct api_env *e = *state;
	struct res r;

	assert_int_equal(req(e, "POST", "/certificates/s1/create", SELF_POLICY("CN=s1"), &r), 202);
	assert_string_equal(jstr(r.body, "status"), "inProgress");
	assert_non_null(strstr(jstr(r.body, "status_details"), "in progress"));
	res_clear(&r);
	assert_int_equal(req(e, "GET", "/certificates/s1/pending", NULL, &r), 200);
	assert_string_equal(jstr(r.body, "status"), "inProgress");
	assert_true(json_is_false(jget(r.body, "cancellation_requested")));
	res_clear(&r);
	/* the pending version: no key, secret, x5t or cer yet, and disabled */
	assert_int_equal(req(e, "GET", "/certificates/s1", NULL, &r), 200);
	assert_null(jget(r.body, "kid"));
	assert_null(jget(r.body, "cer"));
	assert_null(jget(r.body, "x5t"));
	assert_true(json_is_false(jget(r.body, "attributes.enabled")));
	assert_non_null(jget(r.body, "policy"));
	res_clear(&r);
	/* a second create while in progress */
	assert_int_equal(req(e, "POST", "/certificates/s1/create", "{}", &r), 409);
	assert_string_equal(err_code(&r), "Forbidden");
	res_clear(&r);
	/* lists: without includePending the name is left out */
	assert_int_equal(req(e, "GET", "/certificates", NULL, &r), 200);
	assert_int_equal(json_array_size(jget(r.body, "value")), 0);
	res_clear(&r);
	assert_int_equal(req(e, "GET", "/certificates?includePending=TRUE", NULL, &r), 200);
	assert_int_equal(json_array_size(jget(r.body, "value")), 1);
	assert_string_equal(jstr(json_array_get(jget(r.body, "value"), 0), "id"),
			    "https://" HOST "/certificates/s1");
	res_clear(&r);
	assert_int_equal(st(e, "GET", "/certificates?includePending=maybe", NULL), 400);
	assert_int_equal(req(e, "GET", "/certificates/s1/versions", NULL, &r), 200);
	assert_int_equal(json_array_size(jget(r.body, "value")), 1);
	res_clear(&r);
	/* request_id filters */
	assert_int_equal(req(e, "GET",
			     "/certificates/s1/pending?request_id=00000000000000000000000000000000",
			     NULL, &r),
			 404);
	assert_string_equal(err_code(&r), "PendingCertificateNotFound");
	res_clear(&r);
	/* false: no change; true: answered inProgress, read back cancelled */
	assert_int_equal(
	    req(e, "PATCH", "/certificates/s1/pending", "{\"cancellation_requested\":false}", &r),
	    200);
	assert_true(json_is_false(jget(r.body, "cancellation_requested")));
	res_clear(&r);
	assert_int_equal(st(e, "PATCH", "/certificates/s1/pending", "{}"), 400);
	assert_int_equal(
	    req(e, "PATCH", "/certificates/s1/pending", "{\"cancellation_requested\":true}", &r),
	    200);
	assert_string_equal(jstr(r.body, "status"), "inProgress");
	assert_true(json_is_true(jget(r.body, "cancellation_requested")));
	res_clear(&r);
	assert_int_equal(req(e, "GET", "/certificates/s1/pending", NULL, &r), 200);
	assert_string_equal(jstr(r.body, "status"), "cancelled");
	assert_null(jget(r.body, "status_details"));
	res_clear(&r);
	assert_int_equal(
	    req(e, "PATCH", "/certificates/s1/pending", "{\"cancellation_requested\":true}", &r),
	    403);
	assert_string_equal(jstr(r.body, "error.message"),
			    "Pending status must be in progress to allow update.");
	res_clear(&r);
	/* delete answers it as it stood, then it is gone; the skeleton stays */
	assert_int_equal(req(e, "DELETE", "/certificates/s1/pending", NULL, &r), 200);
	assert_string_equal(jstr(r.body, "status"), "cancelled");
	res_clear(&r);
	assert_int_equal(req(e, "GET", "/certificates/s1/pending", NULL, &r), 404);
	assert_string_equal(jstr(r.body, "error.message"), "Pending certificate not found: s1");
	res_clear(&r);
	assert_int_equal(st(e, "DELETE", "/certificates/s1/pending", NULL), 404);
	assert_int_equal(req(e, "GET", "/certificates/s1", NULL, &r), 200);
	assert_null(jget(r.body, "cer"));
	assert_null(jget(r.body, "pending"));
	res_clear(&r);
	/* a new create is allowed once nothing is in progress */
	assert_int_equal(st(e, "POST", "/certificates/s1/create", "{}"), 202);
	assert_int_equal(st(e, "GET", "/certificates/none/pending", NULL), 404);
}

static void test_unknown_issuer_waits_for_merge(void **state)
{
	struct api_env *e = *state;
	struct res r;

	assert_int_equal(req(e, "POST", "/certificates/u1/create",
			     "{\"policy\":{\"x509_props\":{\"subject\":\"CN=u1\"}}}", &r),
			 202);
	assert_string_equal(jstr(r.body, "issuer.name"), "Unknown"); /* the default issuer */
	assert_string_equal(jstr(r.body, "status"), "inProgress");
	assert_string_equal(
	    jstr(r.body, "status_details"),
	    "Pending certificate created. Please Perform Merge to complete the request.");
	res_clear(&r);
	assert_int_equal(req(e, "GET", "/certificates/u1/policy", NULL, &r), 200);
	assert_string_equal(
	    jstr(json_array_get(jget(r.body, "lifetime_actions"), 0), "action.action_type"),
	    "EmailContacts");
	res_clear(&r);
	assert_int_equal(st(e, "GET", "/keys/u1", NULL), 200);    /* the key of the CSR */
	assert_int_equal(st(e, "GET", "/secrets/u1", NULL), 404); /* no secret before merge */
	/* merge on a Self operation in progress is refused in the merge tests (certimport) */
}

static void test_issuer_objects(void **state)
{
	struct api_env *e = *state;
	struct res r;

	assert_int_equal(
	    req(e, "POST", "/certificates/i1/create",
		"{\"policy\":{\"x509_props\":{\"subject\":\"CN=i1\"},\"issuer\":{\"name\":"
		"\"NoSuch\"}}}",
		&r),
	    400);
	assert_string_equal(err_code(&r), "BadParameter");
	res_clear(&r);
	assert_int_equal(st(e, "GET", "/certificates/i1", NULL), 404); /* nothing stored */
	assert_int_equal(st(e, "PUT", "/certificates/issuers/dg", "{\"provider\":\"DigiCert\"}"),
			 200);
	assert_int_equal(
	    req(e, "POST", "/certificates/i1/create",
		"{\"policy\":{\"x509_props\":{\"subject\":\"CN=i1\"},\"issuer\":{\"name\":"
		"\"dg\",\"cty\":\"OV-SSL\",\"cert_transparency\":false}}}",
		&r),
	    202);
	/* with D = 0 the order has failed by the first read */
	assert_string_equal(jstr(r.body, "status"), "failed");
	assert_string_equal(jstr(r.body, "status_details"), "");
	assert_string_equal(jstr(r.body, "error.code"), "Certificate issuer error");
	assert_non_null(strstr(jstr(r.body, "error.message"), "DigiCert"));
	assert_string_equal(jstr(r.body, "issuer.cty"), "OV-SSL");
	assert_true(json_is_false(jget(r.body, "issuer.cert_transparency")));
	res_clear(&r);
	assert_int_equal(req(e, "GET", "/certificates/i1/policy", NULL, &r), 200);
	assert_string_equal(
	    jstr(json_array_get(jget(r.body, "lifetime_actions"), 0), "action.action_type"),
	    "AutoRenew");
	res_clear(&r);
}

static void test_validation_errors(void **state)
{
	static const char *const bodies[] = {
		"{\"policy\":{\"x509_props\":{}}}", /* neither subject nor SAN */
		"{\"policy\":{}}",
		"{\"policy\":{\"x509_props\":{\"subject\":\"nonsense\"}}}",
		"{\"policy\":{\"x509_props\":{\"subject\":\"CN=a\"},\"key_props\":{\"kty\":\"DSA\"}"
		"}}",
		"{\"policy\":{\"x509_props\":{\"subject\":\"CN=a\"},\"key_props\":{\"key_size\":"
		"1024}}}",
		"{\"policy\":{\"x509_props\":{\"subject\":\"CN=a\"},\"key_props\":{\"kty\":\"EC\","
		"\"crv\":\"P-999\"}}}",
		"{\"policy\":{\"x509_props\":{\"subject\":\"CN=a\"},\"key_props\":{\"kty\":\"EC\","
		"\"crv\":\"P-384\",\"key_size\":256}}}",
		"{\"policy\":{\"x509_props\":{\"subject\":\"CN=a\"},\"key_props\":{\"kty\":\"RSA\","
		"\"crv\":\"P-256\"}}}",
		"{\"policy\":{\"x509_props\":{\"subject\":\"CN=a\"},\"key_props\":{\"kty\":\"RSA-"
		"HSM\","
		"\"exportable\":true}}}",
		"{\"policy\":{\"x509_props\":{\"subject\":\"CN=a\"},\"secret_props\":{"
		"\"contentType\":"
		"\"text/plain\"}}}",
		"{\"policy\":{\"x509_props\":{\"subject\":\"CN=a\",\"key_usage\":[\"sign\"]}}}",
		"{\"policy\":{\"x509_props\":{\"subject\":\"CN=a\",\"ekus\":[\"server\"]}}}",
		"{\"policy\":{\"x509_props\":{\"subject\":\"CN=a\",\"validity_months\":0}}}",
		"{\"policy\":{\"x509_props\":{\"subject\":\"CN=a\",\"validity_months\":1201}}}",
		"{\"policy\":{\"x509_props\":{\"subject\":\"CN=a\"},\"lifetime_actions\":[{"
		"\"trigger\":"
		"{\"lifetime_percentage\":80,\"days_before_expiry\":3},\"action\":{\"action_type\":"
		"\"AutoRenew\"}}]}}",
		"{\"policy\":{\"x509_props\":{\"subject\":\"CN=a\"},\"lifetime_actions\":[{"
		"\"trigger\":"
		"{},\"action\":{\"action_type\":\"AutoRenew\"}}]}}",
		"{\"policy\":{\"x509_props\":{\"subject\":\"CN=a\"},\"lifetime_actions\":[{"
		"\"trigger\":"
		"{\"lifetime_percentage\":100},\"action\":{\"action_type\":\"AutoRenew\"}}]}}",
		"{\"policy\":{\"x509_props\":{\"subject\":\"CN=a\"},\"lifetime_actions\":[{"
		"\"trigger\":"
		"{\"lifetime_percentage\":0},\"action\":{\"action_type\":\"AutoRenew\"}}]}}",
		"{\"policy\":{\"x509_props\":{\"subject\":\"CN=a\",\"validity_months\":1},"
		"\"lifetime_actions\":[{\"trigger\":{\"days_before_expiry\":28},\"action\":"
		"{\"action_type\":\"AutoRenew\"}}]}}",
		"{\"policy\":{\"x509_props\":{\"subject\":\"CN=a\"},\"lifetime_actions\":[{"
		"\"trigger\":"
		"{\"days_before_expiry\":10},\"action\":{\"action_type\":\"Mail\"}}]}}",
		"{\"policy\":{\"x509_props\":{\"subject\":\"CN=a\"},\"lifetime_actions\":[{"
		"\"trigger\":"
		"{\"days_before_expiry\":10},\"action\":{\"action_type\":\"AutoRenew\"}},{"
		"\"trigger\":"
		"{\"lifetime_percentage\":50},\"action\":{\"action_type\":\"AutoRenew\"}}]}}",
		"{\"policy\":{\"x509_props\":{\"subject\":\"CN=a\"},\"key_props\":{\"exportable\":"
		"1}}}",
		"{\"policy\":{\"x509_props\":{\"subject\":\"CN=a\",\"sans\":{\"dns_names\":[1]}}}}",
		"{\"policy\":[]}",
		"{\"policy\":{\"x509_props\":{\"subject\":\"CN=a\"}},\"preserveCertOrder\":"
		"\"yes\"}",
		"{\"policy\":{\"x509_props\":{\"subject\":\"CN=a\"}},\"tags\":[]}",
		"{}", /* the first version needs a policy */
	};
	struct api_env *e = *state;
	struct res r;
	size_t i;

	for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		if (req(e, "POST", "/certificates/v1/create", bodies[i], &r) != 400)
			fail_msg("body %zu: status %d", i, r.status);
		assert_string_equal(err_code(&r), "BadParameter");
		res_clear(&r);
	}
	assert_int_equal(st(e, "GET", "/certificates/v1/policy", NULL), 404);
	/* SANs alone are enough */
	assert_int_equal(
	    st(e, "POST", "/certificates/v1/create",
	       "{\"policy\":{\"x509_props\":{\"sans\":{\"dns_names\":[\"a.example\"]}},"
	       "\"issuer\":{\"name\":\"Self\"}}}"),
	    202);
	/* reserved and empty names */
	assert_int_equal(st(e, "POST", "/certificates/issuers/create", SELF_POLICY("CN=x")), 400);
	assert_int_equal(st(e, "POST", "/certificates/Restore/create", SELF_POLICY("CN=x")), 400);
	assert_int_equal(st(e, "POST", "/certificates//create", SELF_POLICY("CN=x")), 400);
}

static void test_versions_of_unknown_name_is_an_empty_page(void **state)
{
	struct api_env *e = *state;
	struct res r;

	assert_int_equal(req(e, "GET", "/certificates/never/versions", NULL, &r), 200);
	assert_int_equal(json_array_size(jget(r.body, "value")), 0);
	assert_true(json_is_null(jget(r.body, "nextLink")));
	res_clear(&r);
	assert_int_equal(req(e, "GET", "/certificates/never", NULL, &r), 404);
	assert_string_equal(err_code(&r), "CertificateNotFound");
	res_clear(&r);
	assert_int_equal(st(e, "GET", "/certificates/never/policy", NULL), 404);
	assert_int_equal(st(e, "PATCH", "/certificates/never/", "{\"tags\":{}}"), 404);
	assert_int_equal(st(e, "PATCH", "/certificates/never/policy", "{}"), 404);
}

static void test_update_mirrors_enabled_and_replaces_tags(void **state)
{
	struct api_env *e = *state;
	struct res r;

	assert_int_equal(
	    st(e, "POST", "/certificates/m1/create",
	       "{\"policy\":{\"x509_props\":{\"subject\":\"CN=m1\"},\"issuer\":{\"name\":"
	       "\"Self\"}},\"tags\":{\"a\":\"1\"}}"),
	    202);
	assert_int_equal(req(e, "PATCH", "/certificates/m1/",
			     "{\"attributes\":{\"enabled\":false},\"tags\":{\"b\":\"2\"}}", &r),
			 200);
	assert_true(json_is_false(jget(r.body, "attributes.enabled")));
	assert_null(jget(r.body, "tags.a"));
	assert_string_equal(jstr(r.body, "tags.b"), "2");
	assert_non_null(jget(r.body, "policy"));
	res_clear(&r);
	assert_int_equal(st(e, "GET", "/certificates/m1", NULL), 200); /* still readable */
	assert_int_equal(req(e, "GET", "/secrets/m1", NULL, &r), 403);
	assert_string_equal(jstr(r.body, "error.innererror.code"), "SecretDisabled");
	res_clear(&r);
	assert_int_equal(req(e, "GET", "/keys/m1", NULL, &r), 200);
	assert_true(json_is_false(jget(r.body, "attributes.enabled")));
	res_clear(&r);
	assert_int_equal(st(e, "PATCH", "/certificates/m1", "{\"attributes\":{\"enabled\":true}}"),
			 200);
	assert_int_equal(st(e, "GET", "/secrets/m1", NULL), 200);
	/* the policy inside an update: member-wise */
	assert_int_equal(req(e, "PATCH", "/certificates/m1/",
			     "{\"policy\":{\"x509_props\":{\"validity_months\":24}}}", &r),
			 200);
	assert_int_equal(json_integer_value(jget(r.body, "policy.x509_props.validity_months")), 24);
	assert_string_equal(jstr(r.body, "policy.x509_props.subject"), "CN=m1");
	res_clear(&r);
	assert_int_equal(
	    req(e, "PATCH", "/certificates/m1/00000000000000000000000000000000", "{}", &r), 404);
	assert_non_null(
	    strstr(jstr(r.body, "error.message"),
		   "(name/id) m1/versions/00000000000000000000000000000000 was not found"));
	res_clear(&r);
	assert_int_equal(
	    req(e, "GET", "/certificates/m1/00000000000000000000000000000000", NULL, &r), 404);
	assert_string_equal(err_code(&r), "CertificateNotFound");
	assert_non_null(strstr(jstr(r.body, "error.message"), "m1/versions/0000"));
	res_clear(&r);
}

static void test_policy_update_is_member_wise(void **state)
{
	struct api_env *e = *state;
	struct res r;
	json_int_t created;

	assert_int_equal(st(e, "POST", "/certificates/q1/create", SELF_POLICY("CN=q1")), 202);
	assert_int_equal(req(e, "GET", "/certificates/q1/policy", NULL, &r), 200);
	assert_string_equal(jstr(r.body, "id"), "https://" HOST "/certificates/q1/policy");
	created = json_integer_value(jget(r.body, "attributes.created"));
	res_clear(&r);
	assert_int_equal(
	    req(e, "PATCH", "/certificates/q1/policy",
		"{\"key_props\":{\"kty\":\"EC\"},\"x509_props\":{\"sans\":{\"emails\":"
		"[\"a@b.example\"]},\"key_usage\":[\"digitalSignature\"]},\"issuer\":null}",
		&r),
	    200);
	assert_string_equal(jstr(r.body, "key_props.kty"), "EC");
	assert_string_equal(jstr(r.body, "key_props.crv"), "P-256");
	assert_int_equal(json_integer_value(jget(r.body, "key_props.key_size")), 256);
	assert_string_equal(jstr(r.body, "x509_props.subject"), "CN=q1");
	assert_string_equal(jstr(json_array_get(jget(r.body, "x509_props.sans.emails"), 0), ""),
			    "a@b.example");
	assert_string_equal(jstr(r.body, "issuer.name"), "Self");
	assert_int_equal(json_integer_value(jget(r.body, "attributes.created")), created);
	res_clear(&r);
	/* "sans":{} gives nothing (Python always sends it); an empty array does replace */
	assert_int_equal(
	    req(e, "PATCH", "/certificates/q1/policy", "{\"x509_props\":{\"sans\":{}}}", &r), 200);
	assert_int_equal(json_array_size(jget(r.body, "x509_props.sans.emails")), 1);
	res_clear(&r);
	assert_int_equal(req(e, "PATCH", "/certificates/q1/policy",
			     "{\"x509_props\":{\"sans\":{\"emails\":[]}}}", &r),
			 200);
	assert_null(jget(r.body, "x509_props.sans.emails"));
	res_clear(&r);
	assert_int_equal(req(e, "PATCH", "/certificates/q1/policy",
			     "{\"x509_props\":{\"validity_months\":5000}}", &r),
			 400);
	res_clear(&r);
	/* the next version follows the policy */
	assert_int_equal(st(e, "POST", "/certificates/q1/create", "{}"), 202);
	assert_int_equal(req(e, "GET", "/keys/q1", NULL, &r), 200);
	assert_string_equal(jstr(r.body, "key.kty"), "EC");
	res_clear(&r);
	assert_int_equal(req(e, "GET", "/certificates/q1/versions", NULL, &r), 200);
	assert_int_equal(json_array_size(jget(r.body, "value")), 2);
	res_clear(&r);
}

static void test_reuse_key_and_unmanaged_names(void **state)
{
	struct api_env *e = *state;
	struct res a, b;

	assert_int_equal(
	    st(e, "POST", "/certificates/r1/create",
	       "{\"policy\":{\"x509_props\":{\"subject\":\"CN=r1\"},\"issuer\":{\"name\":"
	       "\"Self\"},\"key_props\":{\"reuse_key\":true}}}"),
	    202);
	assert_int_equal(req(e, "GET", "/keys/r1", NULL, &a), 200);
	assert_int_equal(st(e, "POST", "/certificates/r1/create", "{}"), 202);
	assert_int_equal(req(e, "GET", "/keys/r1", NULL, &b), 200);
	assert_string_not_equal(jstr(a.body, "key.kid"), jstr(b.body, "key.kid"));
	assert_string_equal(jstr(a.body, "key.n"), jstr(b.body, "key.n"));
	res_clear(&a);
	res_clear(&b);
	/* an unmanaged secret or key holds the name */
	assert_int_equal(st(e, "PUT", "/secrets/taken", "{\"value\":\"x\"}"), 200);
	assert_int_equal(req(e, "POST", "/certificates/taken/create", SELF_POLICY("CN=t"), &a),
			 409);
	assert_string_equal(err_code(&a), "Conflict");
	res_clear(&a);
	assert_int_equal(st(e, "POST", "/keys/taken2/create", "{\"kty\":\"EC\"}"), 200);
	assert_int_equal(st(e, "POST", "/certificates/taken2/create", SELF_POLICY("CN=t")), 409);
}

static void test_secret_out_content_type_and_previous_version(void **state)
{
	struct api_env *e = *state;
	struct res a, b;

	assert_int_equal(st(e, "POST", "/certificates/o1/create", SELF_POLICY("CN=o1")), 202);
	assert_int_equal(req(e, "GET", "/certificates/o1", NULL, &a), 200);
	assert_int_equal(st(e, "POST", "/certificates/o1/create", "{}"), 202);
	assert_int_equal(
	    req(e, "GET", "/secrets/o1?outContentType=application/x-pem-file", NULL, &b), 200);
	assert_string_equal(jstr(b.body, "contentType"), "application/x-pem-file");
	assert_int_equal(strncmp(jstr(b.body, "value"), "-----BEGIN PRIVATE KEY-----\n", 28), 0);
	assert_string_equal(jstr(b.body, "previousVersion"), version_of(jstr(a.body, "id")));
	res_clear(&b);
	assert_int_equal(req(e, "GET", "/secrets/o1?outContentType=application/x-pkcs12", NULL, &b),
			 200);
	assert_string_equal(jstr(b.body, "contentType"), "application/x-pkcs12");
	res_clear(&b);
	assert_int_equal(st(e, "GET", "/secrets/o1?outContentType=text/plain", NULL), 400);
	/* the first version has no previous one */
	char path[128];

	snprintf(path, sizeof(path), "/secrets/o1/%s", version_of(jstr(a.body, "id")));
	assert_int_equal(req(e, "GET", path, NULL, &b), 200);
	assert_null(jget(b.body, "previousVersion"));
	res_clear(&b);
	res_clear(&a);
	assert_int_equal(
	    st(e, "POST", "/certificates/o2/create",
	       "{\"policy\":{\"x509_props\":{\"subject\":\"CN=o2\"},\"issuer\":{\"name\":"
	       "\"Self\"},\"secret_props\":{\"contentType\":\"application/x-pem-file\"}}}"),
	    202);
	assert_int_equal(st(e, "GET", "/secrets/o2?outContentType=application/x-pkcs12", NULL),
			 400);
	assert_int_equal(st(e, "PUT", "/secrets/plain", "{\"value\":\"v\"}"), 200);
	assert_int_equal(st(e, "GET", "/secrets/plain?outContentType=application/x-pem-file", NULL),
			 400);
}

/* Certificate operations draw on the budgets of what they do: a new version makes a key. */
static void test_throttle_budgets(void **state)
{
	const struct route *t;
	size_t n, i, seen = 0;

	(void)state;
	t = routes_table(&n);
	for (i = 0; i < n; i++) {
		if (strstr(t[i].op, "Certificate") == NULL || route_plane_of(&t[i]) != PLANE_DATA)
			continue;	/* a principal's client certificates are administration */
		seen++;
		if (strcmp(t[i].op, "CreateCertificate") == 0 ||
		    strcmp(t[i].op, "ImportCertificate") == 0 ||
		    strcmp(t[i].op, "RestoreCertificate") == 0 ||
		    strcmp(t[i].op, "MergeCertificate") == 0)
			assert_int_equal(throttle_gate_budget(&t[i]), THROTTLE_KEY_CREATE);
		else
			assert_int_equal(throttle_gate_budget(&t[i]), THROTTLE_SECRETS);
	}
	assert_true(seen >= 27);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_throttle_budgets),
		cmocka_unit_test_setup_teardown(
		    test_create_self_issues_three_objects_of_one_version, setup_now, teardown),
		cmocka_unit_test_setup_teardown(test_pem_secret_and_non_exportable_key, setup_now,
						teardown),
		cmocka_unit_test_setup_teardown(test_self_in_progress_cancel_and_delete_operation,
						setup_later, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_issuer_waits_for_merge, setup_now,
						teardown),
		cmocka_unit_test_setup_teardown(test_issuer_objects, setup_now, teardown),
		cmocka_unit_test_setup_teardown(test_validation_errors, setup_now, teardown),
		cmocka_unit_test_setup_teardown(test_versions_of_unknown_name_is_an_empty_page,
						setup_now, teardown),
		cmocka_unit_test_setup_teardown(test_update_mirrors_enabled_and_replaces_tags,
						setup_now, teardown),
		cmocka_unit_test_setup_teardown(test_policy_update_is_member_wise, setup_now,
						teardown),
		cmocka_unit_test_setup_teardown(test_reuse_key_and_unmanaged_names, setup_now,
						teardown),
		cmocka_unit_test_setup_teardown(test_secret_out_content_type_and_previous_version,
						setup_now, teardown),
	};

	json_util_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
