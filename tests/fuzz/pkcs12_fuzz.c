/* libFuzzer target: the PKCS#12 (PFX) form of a certificate import, x509_parse_pfx, opened with
 * no password, the empty one and "pw" (the seeds' password), leaf first and in the given order.
 * What must hold: a refusal is the client's fault (KL_EINVAL, or KL_ENOMEM) and leaves no key and
 * an empty chain; an accepted file gives a key and 1 to X509_CHAIN_MAX certificates, the first
 * matching the key unless the order was kept, and what was accepted exports as kluis's own PFX
 * and reads back the same. Key derivation is budgeted inside, so no input runs for long.
 * Most mutations break the MAC, so each input that decodes as PKCS#12 is also given a fresh MAC
 * (empty password, one iteration) and parsed again: the fuzzer then reaches the bags. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pkcs12.h>

#include "crypto/keyops.h"
#include "crypto/x509.h"
#include "util/log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_set_min_level(LOG_LV_ERROR);	/* a logged error is an OpenSSL surprise: keep it */
	return 0;
}

static void chains_same(const struct x509_chain *a, const struct x509_chain *b)
{
	size_t i;

	if (a->n != b->n)
		abort();
	for (i = 0; i < a->n; i++) {
		if (a->der[i].len != b->der[i].len ||
		    memcmp(a->der[i].data, b->der[i].data, a->der[i].len) != 0)
			abort();
	}
}

/* What an accepted file must also do. */
static void exercise(const struct keyops_key *k, const struct x509_chain *c, bool kept)
{
	struct kl_err err = { 0 };
	struct keyops_key *back = NULL;
	struct x509_chain again;
	struct buf pfx;

	if (k == NULL || c->n == 0 || c->n > X509_CHAIN_MAX)
		abort();
	if (!kept && !x509_matches_key(c->der[0].data, c->der[0].len, k))
		abort();
	if (kept)
		return;
	x509_chain_init(&again);
	buf_init_secret(&pfx, 4 * X509_UPLOAD_MAX);
	if (x509_export_pfx(k, c, &pfx, &err) != 0 ||
	    x509_parse_pfx(pfx.data, pfx.len, NULL, false, &back, &again, &err) != 0) {
		fprintf(stderr, "accepted PFX does not round-trip: %s\n", err.msg);
		abort();
	}
	chains_same(c, &again);
	if (!x509_matches_key(again.der[0].data, again.der[0].len, back))
		abort();
	keyops_free(back);
	x509_chain_clear(&again);
	buf_clear(&pfx);
}

static void parse_one(const void *p, size_t n, const char *pwd, bool kept)
{
	struct keyops_key *k = NULL;
	struct x509_chain c;
	struct kl_err err = { 0 };

	x509_chain_init(&c);
	if (x509_parse_pfx(p, n, pwd, kept, &k, &c, &err) == 0) {
		exercise(k, &c, kept);
	} else if ((err.code != KL_EINVAL && err.code != KL_ENOMEM) || k != NULL || c.n != 0) {
		fprintf(stderr, "PFX refused with %s: %s\n", kl_errc_name(err.code), err.msg);
		abort();
	}
	keyops_free(k);
	x509_chain_clear(&c);
}

/* The input with a MAC that verifies under the empty password, when it decodes at all. */
static void remac(const uint8_t *data, size_t size)
{
	const unsigned char *p = data;
	unsigned char *der = NULL;
	PKCS12 *p12 = d2i_PKCS12(NULL, &p, (long)size);
	int len;

	if (p12 != NULL && PKCS12_set_mac(p12, "", -1, NULL, 0, 1, EVP_sha256()) == 1 &&
	    (len = i2d_PKCS12(p12, &der)) > 0) {
		parse_one(der, (size_t)len, NULL, false);
		parse_one(der, (size_t)len, "", true);
	}
	OPENSSL_free(der);
	PKCS12_free(p12);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	parse_one(data, size, NULL, false);
	parse_one(data, size, "", false);
	parse_one(data, size, "pw", false);
	parse_one(data, size, "pw", true);
	if (size <= X509_UPLOAD_MAX)
		remac(data, size);
	return 0;
}
