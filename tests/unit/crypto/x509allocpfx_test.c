/* crypto/x509 (x509export.c) with OpenSSL's Nth allocation failing: the PFX export either
 * succeeds with a file that reads back (key and certificate) or fails cleanly (an error code,
 * nothing appended), and under ASan leaks nothing. Every fifth N rather than every N: each run
 * derives four keys of 2048 iterations over some 20000 allocations (every N takes minutes).
 * (Every third N found PKCS12_create reporting success for a file without the certificate; kluis
 * now builds the file bag by bag and checks each step.) */
#include "x509alloc_support.h"

static int op_export_pfx(struct kl_err *err)
{
	struct keyops_key *k = NULL;
	struct x509_chain c;
	struct buf out;
	int rc;

	buf_init_secret(&out, X509_UPLOAD_MAX);
	x509_chain_init(&c);
	rc = x509_export_pfx(in.key, &in.chain, &out, err);
	disarm();
	if (rc == 0) {
		if (x509_parse_pfx(out.data, out.len, NULL, false, &k, &c, err) != 0)
			fail_msg("export at %ld: %s", alloc_fail_at, err->msg);
		assert_int_equal(c.n, 1);
		assert_true(x509_matches_key(c.der[0].data, c.der[0].len, in.key));
	} else {
		assert_int_equal(out.len, 0);
	}
	keyops_free(k);
	x509_chain_clear(&c);
	buf_clear(&out);
	return rc;
}

static void test_export_pfx(void **state)
{
	(void)state;
	every_allocation(op_export_pfx, 50, 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_export_pfx),
	};

	if (CRYPTO_set_mem_functions(t_malloc, t_realloc, t_free) != 1)
		return 1;
	return cmocka_run_group_tests(tests, setup, teardown);
}
