/* crypto/tlsgen: files and modes, reuse, reissue (suffix, expiry, other CA, key mismatch), refusal
 * of damaged files without touching them, the certificate's names and extensions, strict chain
 * verification, and a TLS handshake in memory as a client trusting only ca.pem would do it. */
#include <dirent.h>
#include <fcntl.h>
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
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto/tlsgen.h"

#define SUFFIX "vault.localhost"

struct fixture {
	char base[64];
	char dir[96];
};

struct snap {
	unsigned char *data[4];
	size_t len[4];
};

static const char *const names[4] = { "ca.pem", "ca-key.pem", "server.pem", "server-key.pem" };

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->base, sizeof(f->base), "/tmp/kluis-tls-XXXXXX");
	if (mkdtemp(f->base) == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/tls", f->base);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->base);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static void path_of(char *out, size_t n, const char *dir, const char *name)
{
	snprintf(out, n, "%s/%s", dir, name);
}

/* The whole file, or NULL when it is missing. */
static unsigned char *slurp(const char *path, size_t *len)
{
	unsigned char *p = NULL;
	struct stat st;
	FILE *fp = fopen(path, "rb");

	*len = 0;
	if (fp == NULL)
		return NULL;
	assert_int_equal(fstat(fileno(fp), &st), 0);
	p = malloc((size_t)st.st_size + 1);
	assert_non_null(p);
	*len = fread(p, 1, (size_t)st.st_size, fp);
	fclose(fp);
	return p;
}

static void spit(const char *path, const void *p, size_t n, mode_t mode)
{
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	close(fd);
}

static void snap_take(struct snap *s, const char *dir)
{
	char path[160];
	int i;

	for (i = 0; i < 4; i++) {
		path_of(path, sizeof(path), dir, names[i]);
		s->data[i] = slurp(path, &s->len[i]);
	}
}

static void snap_free(struct snap *s)
{
	int i;

	for (i = 0; i < 4; i++)
		free(s->data[i]);
}

static bool snap_same(const struct snap *a, const struct snap *b, int i)
{
	if (a->data[i] == NULL || b->data[i] == NULL)
		return a->data[i] == b->data[i];
	return a->len[i] == b->len[i] && memcmp(a->data[i], b->data[i], a->len[i]) == 0;
}

static X509 *load_cert(const char *dir, const char *name)
{
	char path[160];
	X509 *x;
	FILE *fp;

	path_of(path, sizeof(path), dir, name);
	fp = fopen(path, "r");
	assert_non_null(fp);
	x = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	assert_non_null(x);
	return x;
}

static EVP_PKEY *load_key(const char *dir, const char *name)
{
	char path[160];
	EVP_PKEY *k;
	FILE *fp;

	path_of(path, sizeof(path), dir, name);
	fp = fopen(path, "r");
	assert_non_null(fp);
	k = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	fclose(fp);
	assert_non_null(k);
	return k;
}

static void ensure_ok(const char *dir, const char *suffix)
{
	struct kl_err err = { 0 };

	if (tlsgen_ensure(dir, suffix, &err) != 0)
		fail_msg("tlsgen_ensure: %s", err.msg);
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* Verifies dir's server.pem against dir's ca.pem alone, strictly, for a host or an IP. */
static int verify_chain(const char *dir, const char *host, const char *ip)
{
	X509 *ca = load_cert(dir, "ca.pem"), *srv = load_cert(dir, "server.pem");
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	X509_VERIFY_PARAM *param;
	int ok;

	assert_int_equal(X509_STORE_add_cert(store, ca), 1);
	assert_int_equal(X509_STORE_CTX_init(ctx, store, srv, NULL), 1);
	param = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_X509_STRICT);
	assert_int_equal(X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER), 1);
	if (host != NULL)
		assert_int_equal(X509_VERIFY_PARAM_set1_host(param, host, 0), 1);
	if (ip != NULL)
		assert_int_equal(X509_VERIFY_PARAM_set1_ip_asc(param, ip), 1);
	ok = X509_verify_cert(ctx);
	if (ok != 1)
		print_message("verify: %s\n",
			      X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	X509_free(ca);
	X509_free(srv);
	return ok;
}

static void test_creates_files_with_modes(void **state)
{
	struct fixture *f = *state;
	unsigned char *p;
	char path[160];
	struct stat st;
	size_t len;
	int i;

	ensure_ok(f->dir, SUFFIX);
	assert_int_equal(stat(f->dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	for (i = 0; i < 4; i++) {
		path_of(path, sizeof(path), f->dir, names[i]);
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 0777, strstr(names[i], "key") ? 0600 : 0644);
	}
	assert_int_equal(count_entries(f->dir), 4);	/* no temporary files left */
	/* Unencrypted PKCS#8 keys, PEM certificates. */
	path_of(path, sizeof(path), f->dir, "server-key.pem");
	p = slurp(path, &len);
	assert_true(len > 28 && memcmp(p, "-----BEGIN PRIVATE KEY-----\n", 28) == 0);
	free(p);
	path_of(path, sizeof(path), f->dir, "ca-key.pem");
	p = slurp(path, &len);
	assert_true(len > 28 && memcmp(p, "-----BEGIN PRIVATE KEY-----\n", 28) == 0);
	free(p);
	path_of(path, sizeof(path), f->dir, "server.pem");
	p = slurp(path, &len);
	assert_true(len > 28 && memcmp(p, "-----BEGIN CERTIFICATE-----\n", 28) == 0);
	free(p);
}

static void test_second_call_reuses_files(void **state)
{
	struct fixture *f = *state;
	struct snap a, b;
	int i;

	ensure_ok(f->dir, SUFFIX);
	snap_take(&a, f->dir);
	ensure_ok(f->dir, SUFFIX);
	ensure_ok(f->dir, "VAULT.LOCALHOST");	/* DNS names compare without case */
	snap_take(&b, f->dir);
	for (i = 0; i < 4; i++) {
		assert_non_null(a.data[i]);
		assert_true(snap_same(&a, &b, i));
	}
	snap_free(&a);
	snap_free(&b);
}

static void test_names_and_extensions(void **state)
{
	struct fixture *f = *state;
	X509 *ca, *srv;
	EVP_PKEY *key;
	char cn[128];
	int days = 0, secs = 0;
	unsigned char ip4[4] = { 127, 0, 0, 1 };

	ensure_ok(f->dir, SUFFIX);
	ca = load_cert(f->dir, "ca.pem");
	srv = load_cert(f->dir, "server.pem");
	/* Names (SAN only; the CN is not a name). */
	assert_int_equal(X509_check_host(srv, "default.vault.localhost", 0, 0, NULL), 1);
	assert_int_equal(X509_check_host(srv, "vault.localhost", 0, 0, NULL), 1);
	assert_int_equal(X509_check_host(srv, "localhost", 0, 0, NULL), 1);
	assert_int_equal(X509_check_ip_asc(srv, "127.0.0.1", 0), 1);
	assert_int_equal(X509_check_ip_asc(srv, "::1", 0), 1);
	assert_int_equal(X509_check_ip(srv, ip4, 4, 0), 1);
	assert_int_equal(X509_check_host(srv, "a.b.vault.localhost", 0, 0, NULL), 0);
	assert_int_equal(X509_check_host(srv, "kluis", 0, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT,
					 NULL),
			 0);
	assert_int_equal(X509_check_host(srv, "example.com", 0, 0, NULL), 0);
	assert_int_equal(X509_check_ip_asc(srv, "10.0.0.1", 0), 0);
	/* Subjects. */
	assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(srv), NID_commonName, cn,
					      sizeof(cn)) > 0);
	assert_string_equal(cn, "kluis");
	assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(ca), NID_commonName, cn,
					      sizeof(cn)) > 0);
	assert_int_equal(strncmp(cn, "kluis local CA ", 15), 0);
	assert_int_equal(strlen(cn), 15 + 16);
	assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(srv), X509_get_subject_name(ca)), 0);
	/* Roles. */
	assert_int_not_equal(X509_check_ca(ca), 0);
	assert_int_equal(X509_check_ca(srv), 0);
	assert_true((X509_get_key_usage(ca) & (KU_KEY_CERT_SIGN | KU_CRL_SIGN)) ==
		    (KU_KEY_CERT_SIGN | KU_CRL_SIGN));
	assert_true(X509_get_key_usage(srv) & KU_DIGITAL_SIGNATURE);
	assert_false(X509_get_key_usage(srv) & KU_KEY_CERT_SIGN);
	assert_true(X509_get_extended_key_usage(srv) & XKU_SSL_SERVER);
	assert_non_null(X509_get0_subject_key_id(ca));
	assert_non_null(X509_get0_subject_key_id(srv));
	assert_non_null(X509_get0_authority_key_id(srv));
	assert_int_equal(ASN1_STRING_cmp(X509_get0_authority_key_id(srv),
					 X509_get0_subject_key_id(ca)),
			 0);
	/* Algorithms: ECDSA P-256 with SHA-256 throughout. */
	assert_int_equal(X509_get_signature_nid(srv), NID_ecdsa_with_SHA256);
	assert_int_equal(X509_get_signature_nid(ca), NID_ecdsa_with_SHA256);
	key = X509_get0_pubkey(srv);
	assert_true(EVP_PKEY_is_a(key, "EC"));
	assert_int_equal(EVP_PKEY_get_bits(key), 256);
	assert_int_equal(X509_get_version(srv), X509_VERSION_3);
	/* Validity: 825 days for the server, 10 years for the CA, valid now. */
	assert_int_equal(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(srv),
					X509_get0_notAfter(srv)),
			 1);
	assert_int_equal(days, 825);
	assert_int_equal(secs, 0);
	assert_int_equal(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(ca),
					X509_get0_notAfter(ca)),
			 1);
	assert_int_equal(days, 3650);
	assert_true(X509_cmp_current_time(X509_get0_notBefore(srv)) < 0);
	/* Serials are positive, 128 bits wide at most, and differ. */
	assert_int_equal(ASN1_STRING_type(X509_get0_serialNumber(srv)), V_ASN1_INTEGER);
	assert_true(ASN1_STRING_length(X509_get0_serialNumber(srv)) <= 16);
	assert_int_not_equal(ASN1_INTEGER_cmp(X509_get0_serialNumber(srv),
					      X509_get0_serialNumber(ca)),
			     0);
	X509_free(ca);
	X509_free(srv);
}

static void test_chain_verifies_strictly(void **state)
{
	struct fixture *f = *state;

	ensure_ok(f->dir, SUFFIX);
	assert_int_equal(verify_chain(f->dir, "default.vault.localhost", NULL), 1);
	assert_int_equal(verify_chain(f->dir, "localhost", NULL), 1);
	assert_int_equal(verify_chain(f->dir, NULL, "127.0.0.1"), 1);
	assert_int_equal(verify_chain(f->dir, NULL, "::1"), 1);
	assert_int_equal(verify_chain(f->dir, "default.other.test", NULL), 0);
}

/* One in-memory TLS handshake: a client that trusts only ca.pem and checks host or ip. */
static int handshake(const char *dir, const char *host, const char *ip)
{
	char ca[160], crt[160], key[160];
	SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	SSL *srv = NULL, *cli = NULL;
	BIO *b1 = NULL, *b2 = NULL;
	int i, rs = 0, rc = 0, ok;

	path_of(ca, sizeof(ca), dir, "ca.pem");
	path_of(crt, sizeof(crt), dir, "server.pem");
	path_of(key, sizeof(key), dir, "server-key.pem");
	assert_non_null(sctx);
	assert_non_null(cctx);
	assert_int_equal(SSL_CTX_use_certificate_file(sctx, crt, SSL_FILETYPE_PEM), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey_file(sctx, key, SSL_FILETYPE_PEM), 1);
	assert_int_equal(SSL_CTX_check_private_key(sctx), 1);
	assert_int_equal(SSL_CTX_load_verify_locations(cctx, ca, NULL), 1);
	SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);
	X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(cctx), X509_V_FLAG_X509_STRICT);
	assert_int_equal(SSL_CTX_set_min_proto_version(cctx, TLS1_2_VERSION), 1);
	srv = SSL_new(sctx);
	cli = SSL_new(cctx);
	assert_int_equal(BIO_new_bio_pair(&b1, 0, &b2, 0), 1);
	SSL_set_bio(cli, b1, b1);
	SSL_set_bio(srv, b2, b2);
	SSL_set_accept_state(srv);
	SSL_set_connect_state(cli);
	if (host != NULL) {
		assert_int_equal(SSL_set_tlsext_host_name(cli, host), 1);
		assert_int_equal(SSL_set1_host(cli, host), 1);
	}
	if (ip != NULL)
		assert_int_equal(X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(cli), ip), 1);
	for (i = 0; i < 50 && (rc != 1 || rs != 1); i++) {
		if (rc != 1) {
			rc = SSL_do_handshake(cli);
			if (rc != 1 && SSL_get_error(cli, rc) != SSL_ERROR_WANT_READ)
				break;
		}
		if (rs != 1) {
			rs = SSL_do_handshake(srv);
			if (rs != 1 && SSL_get_error(srv, rs) != SSL_ERROR_WANT_READ)
				break;
		}
	}
	ok = rc == 1 && rs == 1 && SSL_get_verify_result(cli) == X509_V_OK;
	ERR_clear_error();
	SSL_free(cli);
	SSL_free(srv);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
	return ok;
}

static void test_tls_handshake_trusting_ca(void **state)
{
	struct fixture *f = *state;

	ensure_ok(f->dir, SUFFIX);
	assert_true(handshake(f->dir, "default.vault.localhost", NULL));
	assert_true(handshake(f->dir, "vault.localhost", NULL));
	assert_true(handshake(f->dir, NULL, "127.0.0.1"));
	assert_true(handshake(f->dir, NULL, "::1"));
	assert_false(handshake(f->dir, "evil.example", NULL));
	assert_false(handshake(f->dir, NULL, "192.0.2.1"));
}

static void test_reissues_when_suffix_changes(void **state)
{
	struct fixture *f = *state;
	struct snap a, b;
	X509 *srv;

	ensure_ok(f->dir, SUFFIX);
	snap_take(&a, f->dir);
	ensure_ok(f->dir, "kv.example.test");
	snap_take(&b, f->dir);
	assert_true(snap_same(&a, &b, 0));	/* the CA is kept */
	assert_true(snap_same(&a, &b, 1));
	assert_false(snap_same(&a, &b, 2));	/* new certificate, new key */
	assert_false(snap_same(&a, &b, 3));
	srv = load_cert(f->dir, "server.pem");
	assert_int_equal(X509_check_host(srv, "x.kv.example.test", 0, 0, NULL), 1);
	assert_int_equal(X509_check_host(srv, "kv.example.test", 0, 0, NULL), 1);
	assert_int_equal(X509_check_host(srv, "default.vault.localhost", 0, 0, NULL), 0);
	X509_free(srv);
	assert_int_equal(verify_chain(f->dir, "x.kv.example.test", NULL), 1);
	assert_true(handshake(f->dir, "x.kv.example.test", NULL));
	snap_free(&a);
	snap_free(&b);
}

/* Writes a certificate for a fresh key into dir, signed by dir's CA, valid for days. */
static void plant_server_cert(const char *dir, long days, const char *san)
{
	X509 *ca = load_cert(dir, "ca.pem");
	EVP_PKEY *ca_key = load_key(dir, "ca-key.pem");
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_EXTENSION *ext;
	X509V3_CTX ctx;
	char path[160];
	FILE *fp;

	assert_non_null(key);
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 12345), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -86400));
	assert_non_null(X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, NULL));
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"kluis", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(ca));
	X509_set_pubkey(x, key);
	X509V3_set_ctx(&ctx, ca, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, san);
	assert_non_null(ext);
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier, "keyid:always");
	assert_non_null(ext);
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	assert_true(X509_sign(x, ca_key, EVP_sha256()) > 0);
	path_of(path, sizeof(path), dir, "server.pem");
	fp = fopen(path, "w");
	assert_int_equal(PEM_write_X509(fp, x), 1);
	fclose(fp);
	path_of(path, sizeof(path), dir, "server-key.pem");
	fp = fopen(path, "w");
	assert_int_equal(PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL), 1);
	fclose(fp);
	assert_int_equal(chmod(path, 0600), 0);
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ca_key);
}

static const char all_names[] =
	"DNS:localhost,DNS:vault.localhost,DNS:*.vault.localhost,IP:127.0.0.1,IP:::1";

static void test_keeps_a_planted_cert_that_fits(void **state)
{
	struct fixture *f = *state;
	struct snap a, b;

	ensure_ok(f->dir, SUFFIX);
	plant_server_cert(f->dir, 365, all_names);
	snap_take(&a, f->dir);
	ensure_ok(f->dir, SUFFIX);
	snap_take(&b, f->dir);
	assert_true(snap_same(&a, &b, 2));	/* the planted helper is itself acceptable */
	assert_true(snap_same(&a, &b, 3));
	snap_free(&a);
	snap_free(&b);
}

static void test_reissues_when_expiring_within_30_days(void **state)
{
	struct fixture *f = *state;
	struct snap a, b;
	X509 *srv;
	time_t later = time(NULL) + 800L * 86400;

	ensure_ok(f->dir, SUFFIX);
	plant_server_cert(f->dir, 29, all_names);
	snap_take(&a, f->dir);
	ensure_ok(f->dir, SUFFIX);
	snap_take(&b, f->dir);
	assert_true(snap_same(&a, &b, 0));
	assert_false(snap_same(&a, &b, 2));
	assert_false(snap_same(&a, &b, 3));
	srv = load_cert(f->dir, "server.pem");
	assert_true(X509_cmp_time(X509_get0_notAfter(srv), &later) > 0);
	X509_free(srv);
	snap_free(&a);
	snap_free(&b);
}

static void test_reissues_when_a_name_is_missing(void **state)
{
	struct fixture *f = *state;
	struct snap a, b;

	ensure_ok(f->dir, SUFFIX);
	plant_server_cert(f->dir, 365,
			  "DNS:localhost,DNS:vault.localhost,DNS:*.vault.localhost,IP:127.0.0.1");
	snap_take(&a, f->dir);
	ensure_ok(f->dir, SUFFIX);
	snap_take(&b, f->dir);
	assert_false(snap_same(&a, &b, 2));
	assert_int_equal(verify_chain(f->dir, NULL, "::1"), 1);
	snap_free(&a);
	snap_free(&b);
}

static void test_reissues_cert_of_another_ca_and_mismatched_key(void **state)
{
	struct fixture *f = *state;
	char other[128], from[160], to[160];
	unsigned char *p;
	struct snap a, b;
	size_t len;

	snprintf(other, sizeof(other), "%s/other", f->base);
	ensure_ok(f->dir, SUFFIX);
	ensure_ok(other, SUFFIX);
	/* Both server files from another CA: valid pair, wrong issuer. */
	path_of(from, sizeof(from), other, "server.pem");
	path_of(to, sizeof(to), f->dir, "server.pem");
	p = slurp(from, &len);
	spit(to, p, len, 0644);
	free(p);
	path_of(from, sizeof(from), other, "server-key.pem");
	path_of(to, sizeof(to), f->dir, "server-key.pem");
	p = slurp(from, &len);
	spit(to, p, len, 0600);
	free(p);
	snap_take(&a, f->dir);
	assert_int_equal(verify_chain(f->dir, "localhost", NULL), 0);
	ensure_ok(f->dir, SUFFIX);
	snap_take(&b, f->dir);
	assert_false(snap_same(&a, &b, 2));
	assert_int_equal(verify_chain(f->dir, "localhost", NULL), 1);
	snap_free(&a);
	snap_free(&b);
	/* Only the key swapped: it no longer matches the certificate. */
	path_of(from, sizeof(from), other, "server-key.pem");
	p = slurp(from, &len);
	spit(to, p, len, 0600);
	free(p);
	snap_take(&a, f->dir);
	ensure_ok(f->dir, SUFFIX);
	snap_take(&b, f->dir);
	assert_false(snap_same(&a, &b, 2));
	assert_false(snap_same(&a, &b, 3));
	assert_true(handshake(f->dir, "default.vault.localhost", NULL));
	snap_free(&a);
	snap_free(&b);
}

static void test_garbage_ca_refused_and_untouched(void **state)
{
	struct fixture *f = *state;
	static const char garbage[] = "this is not a certificate\n";
	struct kl_err err = { 0 };
	unsigned char *p;
	char path[160];
	size_t len;

	assert_int_equal(mkdir(f->dir, 0700), 0);
	path_of(path, sizeof(path), f->dir, "ca.pem");
	spit(path, garbage, strlen(garbage), 0644);
	assert_int_equal(tlsgen_ensure(f->dir, SUFFIX, &err), -1);
	assert_int_equal(err.code, KL_ECORRUPT);
	assert_non_null(strstr(err.msg, "ca.pem"));
	p = slurp(path, &len);
	assert_int_equal(len, strlen(garbage));
	assert_memory_equal(p, garbage, len);
	free(p);
	assert_int_equal(count_entries(f->dir), 1);	/* nothing else written */
}

/* Key files that group or others can read are refused, like ssh refuses such keys, and left as
 * they are: kluis never fixes the mode itself. */
static void test_key_readable_by_others_refused(void **state)
{
	struct fixture *f = *state;
	static const char *const keys[] = { "ca-key.pem", "server-key.pem" };
	struct kl_err err = { 0 };
	struct snap a, b;
	struct stat st;
	char path[160];
	size_t i;

	ensure_ok(f->dir, SUFFIX);
	for (i = 0; i < 2; i++) {
		path_of(path, sizeof(path), f->dir, keys[i]);
		assert_int_equal(chmod(path, i == 0 ? 0640 : 0604), 0);
		snap_take(&a, f->dir);
		assert_int_equal(tlsgen_ensure(f->dir, SUFFIX, &err), -1);
		assert_int_equal(err.code, KL_EFORBIDDEN);
		assert_non_null(strstr(err.msg, keys[i]));
		assert_non_null(strstr(err.msg, "chmod 600"));
		snap_take(&b, f->dir);
		for (int j = 0; j < 4; j++)
			assert_true(snap_same(&a, &b, j));
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 0777, i == 0 ? 0640 : 0604);
		snap_free(&a);
		snap_free(&b);
		assert_int_equal(chmod(path, 0600), 0);
		ensure_ok(f->dir, SUFFIX);
	}
}

static void test_garbage_in_a_complete_set_refused_and_untouched(void **state)
{
	struct fixture *f = *state;
	static const char garbage[] =
		"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
	struct kl_err err = { 0 };
	struct snap a, b;
	char dir[128], path[160];
	int i, j;

	for (i = 0; i < 4; i++) {
		snprintf(dir, sizeof(dir), "%s/set%d", f->base, i);
		ensure_ok(dir, SUFFIX);
		path_of(path, sizeof(path), dir, names[i]);
		spit(path, garbage, strlen(garbage), 0600);
		snap_take(&a, dir);
		assert_int_equal(tlsgen_ensure(dir, SUFFIX, &err), -1);
		assert_int_equal(err.code, KL_ECORRUPT);
		assert_non_null(strstr(err.msg, names[i]));
		/* A suffix change would reissue, but nothing is written past a damaged file. */
		assert_int_equal(tlsgen_ensure(dir, "other.test", &err), -1);
		assert_int_equal(err.code, KL_ECORRUPT);
		snap_take(&b, dir);
		for (j = 0; j < 4; j++)
			assert_true(snap_same(&a, &b, j));
		assert_int_equal(count_entries(dir), 4);
		snap_free(&a);
		snap_free(&b);
	}
}

static void test_encrypted_key_refused_without_prompting(void **state)
{
	struct fixture *f = *state;
	struct kl_err err = { 0 };
	EVP_PKEY *key;
	char path[160];
	FILE *fp;

	ensure_ok(f->dir, SUFFIX);
	key = load_key(f->dir, "server-key.pem");
	path_of(path, sizeof(path), f->dir, "server-key.pem");
	fp = fopen(path, "w");
	assert_int_equal(PEM_write_PKCS8PrivateKey(fp, key, EVP_aes_128_cbc(), NULL, 0, NULL,
						   (void *)"passphrase"),
			 1);
	fclose(fp);
	EVP_PKEY_free(key);
	assert_int_equal(tlsgen_ensure(f->dir, SUFFIX, &err), -1);
	assert_int_equal(err.code, KL_ECORRUPT);
	assert_non_null(strstr(err.msg, "server-key.pem"));
}

static void test_missing_ca_key(void **state)
{
	struct fixture *f = *state;
	struct kl_err err = { 0 };
	char path[160];

	ensure_ok(f->dir, SUFFIX);
	path_of(path, sizeof(path), f->dir, "ca-key.pem");
	assert_int_equal(unlink(path), 0);
	ensure_ok(f->dir, SUFFIX);	/* nothing to issue: fine without the CA key */
	assert_int_equal(tlsgen_ensure(f->dir, "other.test", &err), -1);
	assert_int_equal(err.code, KL_ECORRUPT);
	assert_non_null(strstr(err.msg, "ca-key.pem is missing"));
	path_of(path, sizeof(path), f->dir, "server.pem");
	assert_int_equal(unlink(path), 0);
	assert_int_equal(tlsgen_ensure(f->dir, SUFFIX, &err), -1);
	assert_int_equal(err.code, KL_ECORRUPT);
}

static void test_ca_key_without_ca_refused(void **state)
{
	struct fixture *f = *state;
	struct kl_err err = { 0 };
	char path[160];

	ensure_ok(f->dir, SUFFIX);
	path_of(path, sizeof(path), f->dir, "ca.pem");
	assert_int_equal(unlink(path), 0);
	assert_int_equal(tlsgen_ensure(f->dir, SUFFIX, &err), -1);
	assert_int_equal(err.code, KL_ECORRUPT);
	assert_non_null(strstr(err.msg, "ca-key.pem"));
}

static void test_ca_key_not_matching_ca_refused(void **state)
{
	struct fixture *f = *state;
	char other[128], from[160], to[160];
	struct kl_err err = { 0 };
	unsigned char *p;
	size_t len;

	snprintf(other, sizeof(other), "%s/other", f->base);
	ensure_ok(f->dir, SUFFIX);
	ensure_ok(other, SUFFIX);
	path_of(from, sizeof(from), other, "ca-key.pem");
	path_of(to, sizeof(to), f->dir, "ca-key.pem");
	p = slurp(from, &len);
	spit(to, p, len, 0600);
	free(p);
	assert_int_equal(tlsgen_ensure(f->dir, SUFFIX, &err), -1);
	assert_int_equal(err.code, KL_ECORRUPT);
	assert_non_null(strstr(err.msg, "does not match"));
}

static void test_invalid_suffix_refused(void **state)
{
	struct fixture *f = *state;
	static const char *bad[] = { "", "a..b", ".a", "a.", "-a.b", "a-.b", "a,DNS:evil.com",
				     "a b", "a/b", "a*b", "é.test" };
	struct kl_err err = { 0 };
	struct stat st;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(tlsgen_ensure(f->dir, bad[i], &err), -1);
		assert_int_equal(err.code, KL_EINVAL);
	}
	assert_int_not_equal(stat(f->dir, &st), 0);	/* nothing created */
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_creates_files_with_modes),
		T(test_second_call_reuses_files),
		T(test_names_and_extensions),
		T(test_chain_verifies_strictly),
		T(test_tls_handshake_trusting_ca),
		T(test_reissues_when_suffix_changes),
		T(test_keeps_a_planted_cert_that_fits),
		T(test_reissues_when_expiring_within_30_days),
		T(test_reissues_when_a_name_is_missing),
		T(test_reissues_cert_of_another_ca_and_mismatched_key),
		T(test_garbage_ca_refused_and_untouched),
		T(test_garbage_in_a_complete_set_refused_and_untouched),
		T(test_key_readable_by_others_refused),
		T(test_encrypted_key_refused_without_prompting),
		T(test_missing_ca_key),
		T(test_ca_key_without_ca_refused),
		T(test_ca_key_not_matching_ca_refused),
		T(test_invalid_suffix_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
