/* http/tlscreds: loading and checking a certificate and key (mismatch, expiry, encrypted or
 * garbage key, modes), reload that keeps the pair in use on any failure, and the GnuTLS retrieve
 * callback: copies that outlive a reload, handed out while other threads reload. */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "http/tlscreds.h"

struct fixture {
	char dir[64];
	char cert[128], key[128];
};

/* A self-signed ECDSA P-256 certificate valid from now + from_s for days, PEM into files. */
static void make_pair(const char *cert_path, const char *key_path, long from_s, int days,
		      mode_t key_mode)
{
	gnutls_x509_privkey_t key;
	gnutls_x509_crt_t crt;
	gnutls_datum_t out;
	unsigned char serial[8];
	time_t now = time(NULL);
	FILE *f;
	int fd;

	assert_int_equal(gnutls_x509_privkey_init(&key), 0);
	assert_int_equal(gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
						      GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0),
			 0);
	assert_int_equal(gnutls_x509_crt_init(&crt), 0);
	assert_int_equal(gnutls_x509_crt_set_version(crt, 3), 0);
	assert_int_equal(gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial)), 0);
	serial[0] &= 0x7f;
	assert_int_equal(gnutls_x509_crt_set_serial(crt, serial, sizeof(serial)), 0);
	assert_int_equal(gnutls_x509_crt_set_activation_time(crt, now + from_s), 0);
	assert_int_equal(gnutls_x509_crt_set_expiration_time(crt, now + from_s + days * 86400L), 0);
	assert_int_equal(gnutls_x509_crt_set_dn(crt, "CN=kluis unit", NULL), 0);
	assert_int_equal(gnutls_x509_crt_set_key(crt, key), 0);
	assert_int_equal(gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0), 0);
	assert_int_equal(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &out), 0);
	assert_non_null(f = fopen(cert_path, "w"));
	assert_int_equal(fwrite(out.data, 1, out.size, f), out.size);
	fclose(f);
	gnutls_free(out.data);
	assert_int_equal(gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &out), 0);
	unlink(key_path);
	assert_true((fd = open(key_path, O_WRONLY | O_CREAT | O_EXCL, 0600)) >= 0);
	assert_int_equal(write(fd, out.data, out.size), (ssize_t)out.size);
	close(fd);
	assert_int_equal(chmod(key_path, key_mode), 0);
	gnutls_free(out.data);
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_privkey_deinit(key);
}

static void spit(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/kluis-tlscreds-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->cert, sizeof(f->cert), "%s/cert.pem", f->dir);
	snprintf(f->key, sizeof(f->key), "%s/key.pem", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static void test_load_good_pair(void **state)
{
	struct fixture *f = *state;
	struct kl_err err = { 0 };
	struct tlscreds *c;
	char desc[256], fp[65];

	make_pair(f->cert, f->key, -60, 30, 0600);
	assert_non_null(c = tlscreds_load(f->cert, f->key, &err));
	tlscreds_describe(c, desc, sizeof(desc));
	tlscreds_fingerprint(c, fp);
	assert_int_equal(strlen(fp), 64);
	assert_non_null(strstr(desc, fp));
	assert_non_null(strstr(desc, "serial "));
	tlscreds_free(c);
	make_pair(f->cert, f->key, -60, 30, 0400);	/* stricter is fine */
	assert_non_null(c = tlscreds_load(f->cert, f->key, &err));
	tlscreds_free(c);
	tlscreds_free(NULL);
}

static void expect_refused(struct fixture *f, enum kl_errc code, const char *why)
{
	struct kl_err err = { 0 };

	assert_null(tlscreds_load(f->cert, f->key, &err));
	assert_int_equal(err.code, code);
	if (strstr(err.msg, why) == NULL)
		fail_msg("expected '%s' in '%s'", why, err.msg);
}

static void test_refusals(void **state)
{
	struct fixture *f = *state;
	char other_cert[160], other_key[160];

	snprintf(other_cert, sizeof(other_cert), "%s/other.pem", f->dir);
	snprintf(other_key, sizeof(other_key), "%s/other-key.pem", f->dir);
	make_pair(other_cert, other_key, -60, 30, 0600);

	make_pair(f->cert, f->key, -60, 30, 0640);
	expect_refused(f, KL_EFORBIDDEN, "chmod 600");
	make_pair(f->cert, f->key, -60, 30, 0604);
	expect_refused(f, KL_EFORBIDDEN, "readable by group or others");
	make_pair(f->cert, f->key, -60, 30, 0600);
	assert_int_equal(rename(other_key, f->key), 0);	/* the key of another certificate */
	expect_refused(f, KL_EINVAL, "is not that of the certificate");
	make_pair(f->cert, f->key, -3 * 86400, 1, 0600);
	expect_refused(f, KL_EINVAL, "has expired");
	make_pair(f->cert, f->key, -60, 30, 0600);
	spit(f->key, "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n");
	expect_refused(f, KL_EINVAL, "unencrypted PEM private key");
	spit(f->cert, "not a certificate\n");
	expect_refused(f, KL_EINVAL, "PEM certificate chain");
	spit(f->cert, "");
	expect_refused(f, KL_EINVAL, "not a PEM file");
	unlink(f->cert);
	expect_refused(f, KL_EINVAL, "cannot read");
	assert_int_equal(mkdir(f->cert, 0700), 0);
	expect_refused(f, KL_EINVAL, "not a PEM file");
	rmdir(f->cert);
}

static void test_not_yet_valid_is_loaded(void **state)
{
	struct fixture *f = *state;
	struct kl_err err = { 0 };
	struct tlscreds *c;

	make_pair(f->cert, f->key, 3600, 30, 0600);	/* clock skew: a warning, not a refusal */
	assert_non_null(c = tlscreds_load(f->cert, f->key, &err));
	tlscreds_free(c);
}

static void test_reload_keeps_the_pair_on_failure(void **state)
{
	struct fixture *f = *state;
	struct kl_err err = { 0 };
	struct tlscreds *c;
	char a[65], b[65], now[65];

	make_pair(f->cert, f->key, -60, 30, 0600);
	assert_non_null(c = tlscreds_load(f->cert, f->key, &err));
	tlscreds_fingerprint(c, a);
	spit(f->cert, "garbage\n");
	assert_int_equal(tlscreds_reload(c, &err), -1);
	tlscreds_fingerprint(c, now);
	assert_string_equal(now, a);
	make_pair(f->cert, f->key, -60, 30, 0644);
	assert_int_equal(tlscreds_reload(c, &err), -1);
	assert_int_equal(err.code, KL_EFORBIDDEN);
	tlscreds_fingerprint(c, now);
	assert_string_equal(now, a);
	assert_int_equal(chmod(f->key, 0600), 0);
	assert_int_equal(tlscreds_reload(c, &err), 0);
	tlscreds_fingerprint(c, b);
	assert_string_not_equal(b, a);
	tlscreds_free(c);
}

/* What the callback hands out, and that it survives the reload (and free) of its source. */
static void fingerprint_of(const gnutls_pcert_st *pc, char out[65])
{
	unsigned char d[32];
	size_t n = sizeof(d), i;

	assert_int_equal(gnutls_fingerprint(GNUTLS_DIG_SHA256, &pc->cert, d, &n), 0);
	for (i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static void release(gnutls_pcert_st *certs, unsigned n, gnutls_privkey_t key)
{
	unsigned i;

	for (i = 0; i < n; i++)
		gnutls_pcert_deinit(&certs[i]);
	gnutls_free(certs);
	gnutls_privkey_deinit(key);
}

static void test_retrieve_hands_out_copies(void **state)
{
	struct fixture *f = *state;
	struct kl_err err = { 0 };
	struct tlscreds *c;
	gnutls_pcert_st *certs = NULL;
	gnutls_ocsp_data_st *ocsp = NULL;
	gnutls_privkey_t key = NULL;
	unsigned n = 0, n_ocsp = 0, flags = 0;
	char want[65], got[65];

	tlscreds_activate(NULL);
	assert_int_equal(tlscreds_retrieve(NULL, NULL, &certs, &n, &ocsp, &n_ocsp, &key, &flags), -1);
	make_pair(f->cert, f->key, -60, 30, 0600);
	assert_non_null(c = tlscreds_load(f->cert, f->key, &err));
	tlscreds_fingerprint(c, want);
	tlscreds_activate(c);
	assert_int_equal(tlscreds_retrieve(NULL, NULL, &certs, &n, &ocsp, &n_ocsp, &key, &flags), 0);
	assert_int_equal(n, 1);
	assert_int_equal(n_ocsp, 0);
	assert_int_equal(flags, GNUTLS_CERT_RETR_DEINIT_ALL);
	assert_non_null(key);
	fingerprint_of(&certs[0], got);
	assert_string_equal(got, want);
	/* The source is replaced and then freed: the copies stay good (ASan would see otherwise). */
	make_pair(f->cert, f->key, -60, 30, 0600);
	assert_int_equal(tlscreds_reload(c, &err), 0);
	tlscreds_activate(NULL);
	tlscreds_free(c);
	fingerprint_of(&certs[0], got);
	assert_string_equal(got, want);
	{
		gnutls_datum_t data = { (unsigned char *)"sign me", 7 }, sig = { NULL, 0 };

		assert_int_equal(gnutls_privkey_sign_data(key, GNUTLS_DIG_SHA256, 0, &data, &sig), 0);
		assert_int_equal(gnutls_pubkey_verify_data2(certs[0].pubkey,
							    GNUTLS_SIGN_ECDSA_SHA256, 0, &data, &sig),
				 0);
		gnutls_free(sig.data);
	}
	release(certs, n, key);
}

struct race {
	struct tlscreds *c;
	int rounds;
	int failures;
};

static void *retriever(void *arg)
{
	struct race *r = arg;
	int i;

	for (i = 0; i < r->rounds; i++) {
		gnutls_pcert_st *certs = NULL;
		gnutls_ocsp_data_st *ocsp = NULL;
		gnutls_privkey_t key = NULL;
		unsigned n = 0, n_ocsp = 0, flags = 0;
		char fp[65];

		if (tlscreds_retrieve(NULL, NULL, &certs, &n, &ocsp, &n_ocsp, &key, &flags) != 0 ||
		    n != 1) {
			__atomic_add_fetch(&r->failures, 1, __ATOMIC_RELAXED);
			continue;
		}
		fingerprint_of(&certs[0], fp);
		release(certs, n, key);
	}
	return NULL;
}

static void test_retrieve_while_reloading(void **state)
{
	struct fixture *f = *state;
	struct kl_err err = { 0 };
	struct race r = { .rounds = 300 };
	pthread_t t[3];
	int i;

	make_pair(f->cert, f->key, -60, 30, 0600);
	assert_non_null(r.c = tlscreds_load(f->cert, f->key, &err));
	tlscreds_activate(r.c);
	for (i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&t[i], NULL, retriever, &r), 0);
	for (i = 0; i < 20; i++) {
		if (i % 5 == 4)
			spit(f->cert, "broken\n");	/* a failed reload in between */
		else
			make_pair(f->cert, f->key, -60, 30, 0600);
		(void)tlscreds_reload(r.c, &err);
	}
	for (i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(r.failures, 0);
	tlscreds_activate(NULL);
	tlscreds_free(r.c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_load_good_pair, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_yet_valid_is_loaded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_keeps_the_pair_on_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retrieve_hands_out_copies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retrieve_while_reloading, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
