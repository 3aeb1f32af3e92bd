/* crypto/x509 (x509pfx.c, x509pem.c) with OpenSSL's Nth allocation failing, for every N: PFX
 * and PEM import and merge items either succeed with the same key and chain or fail cleanly (an
 * error code, no key, an empty chain), and under ASan leak nothing. */
#include "x509alloc_support.h"
#include "util/b64url.h"

static int check_import(int rc, struct keyops_key *k, struct x509_chain *c)
{
	disarm();
	if (rc == 0) {
		assert_int_equal(c->n, 1);
		assert_memory_equal(c->der[0].data, in.cert.data, in.cert.len);
		assert_true(x509_matches_key(in.cert.data, in.cert.len, k));
	} else {
		assert_null(k);
		assert_int_equal(c->n, 0);
	}
	keyops_free(k);
	x509_chain_clear(c);
	return rc;
}

static int op_parse_pem(struct kl_err *err)
{
	struct keyops_key *k = NULL;
	struct x509_chain c;

	int rc;

	x509_chain_init(&c);
	rc = x509_parse_pem((const char *)in.pem.data, in.pem.len, NULL, false, &k, &c, err);
	return check_import(rc, k, &c);
}

static int op_parse_pfx(struct kl_err *err)
{
	struct keyops_key *k = NULL;
	struct x509_chain c;

	int rc;

	x509_chain_init(&c);
	rc = x509_parse_pfx(in.pfx.data, in.pfx.len, NULL, false, &k, &c, err);
	return check_import(rc, k, &c);
}

static int op_merge(struct kl_err *err)
{
	struct x509_chain c;
	int rc;

	x509_chain_init(&c);
	rc = x509_parse_merge_item(in.pem.data, in.pem.len, &c, err);
	if (rc == 0) {
		assert_int_equal(c.n, 1);
		rc = x509_chain_leaf_first(&c, in.key, err);
		disarm();
		assert_memory_equal(c.der[0].data, in.cert.data, in.cert.len);
	} else {
		disarm();
		assert_int_equal(c.n, 0);
	}
	x509_chain_clear(&c);
	return rc;
}

/* A client certificate (identity) as DER, as PEM without its key, and as base64 of the DER. */
static struct buf public_in[3];

static int op_read_public(struct kl_err *err)
{
	struct buf der;
	size_t i;
	int rc = 0;

	for (i = 0; i < 3 && rc == 0; i++) {
		buf_init(&der, X509_CERT_MAX);
		rc = x509_read_public_cert(public_in[i].data, public_in[i].len, &der, err);
		if (rc == 0) {
			assert_int_equal(der.len, in.cert.len);
			assert_memory_equal(der.data, in.cert.data, in.cert.len);
		} else {
			assert_int_equal(der.len, 0);
		}
		buf_clear(&der);
	}
	disarm();
	return rc;
}

static void test_read_public(void **state)
{
	struct kl_err err = { 0 };
	size_t i;

	(void)state;
	for (i = 0; i < 3; i++)
		buf_init(&public_in[i], X509_UPLOAD_MAX);
	assert_int_equal(buf_append(&public_in[0], in.cert.data, in.cert.len, &err), 0);
	assert_int_equal(x509_export_pem(NULL, &in.chain, &public_in[1], &err), 0);
	assert_int_equal(b64_std_encode(in.cert.data, in.cert.len, &public_in[2], &err), 0);
	every_allocation(op_read_public, 5, 1);
	for (i = 0; i < 3; i++)
		buf_clear(&public_in[i]);
}

static void test_parse_pem(void **state)
{
	(void)state;
	every_allocation(op_parse_pem, 50, 1);
}

static void test_parse_pfx(void **state)
{
	(void)state;
	every_allocation(op_parse_pfx, 50, 1);
}

static void test_merge(void **state)
{
	(void)state;
	every_allocation(op_merge, 20, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_pem),
		cmocka_unit_test(test_parse_pfx),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_read_public),
	};

	if (CRYPTO_set_mem_functions(t_malloc, t_realloc, t_free) != 1)
		return 1;
	return cmocka_run_group_tests(tests, setup, teardown);
}
