/* libFuzzer target: PEM text from clients. The input is read as the PEM form of an import
 * (x509_parse_pem, password "pw" and none) and as one merge item (x509_parse_merge_item: DER, PEM,
 * or base64 of either). What must hold: a refusal is the client's fault (KL_EINVAL, or KL_ENOMEM)
 * and leaves no key and an empty chain; an accepted import gives a key whose certificate is first
 * and exports as PEM that reads back the same; merge appends 1 to X509_CHAIN_MAX certificates,
 * each of which x509_info_of reads or refuses as the client's fault. And as a principal's client
 * certificate (x509_read_public_cert): the DER of one certificate, or refused cleanly. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/keyops.h"
#include "crypto/x509.h"
#include "util/log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_set_min_level(LOG_LV_ERROR);
	return 0;
}

static void refused_cleanly(const struct kl_err *err, const struct keyops_key *k,
			    const struct x509_chain *c, const char *what)
{
	if ((err->code != KL_EINVAL && err->code != KL_ENOMEM) || k != NULL || c->n != 0) {
		fprintf(stderr, "%s refused with %s: %s\n", what, kl_errc_name(err->code),
			err->msg);
		abort();
	}
}

static void import_round_trip(const struct keyops_key *k, const struct x509_chain *c)
{
	struct kl_err err = { 0 };
	struct keyops_key *back = NULL;
	struct x509_chain again;
	struct buf pem;
	size_t i;

	if (c->n == 0 || c->n > X509_CHAIN_MAX ||
	    !x509_matches_key(c->der[0].data, c->der[0].len, k))
		abort();
	x509_chain_init(&again);
	buf_init_secret(&pem, 4 * X509_UPLOAD_MAX);
	if (x509_export_pem(k, c, &pem, &err) != 0 ||
	    x509_parse_pem((const char *)pem.data, pem.len, NULL, false, &back, &again,
			   &err) != 0 ||
	    again.n != c->n) {
		fprintf(stderr, "accepted PEM does not round-trip: %s\n", err.msg);
		abort();
	}
	for (i = 0; i < c->n; i++) {
		if (again.der[i].len != c->der[i].len ||
		    memcmp(again.der[i].data, c->der[i].data, c->der[i].len) != 0)
			abort();
	}
	keyops_free(back);
	x509_chain_clear(&again);
	buf_clear(&pem);
}

/* A principal's client certificate: refused as the client's fault with nothing appended, or
 * accepted as the DER of one certificate, which the merge reader reads back the same. */
static void public_cert(const uint8_t *data, size_t size)
{
	struct kl_err err = { 0 };
	struct x509_chain c;
	struct buf der;

	buf_init(&der, X509_CERT_MAX);
	x509_chain_init(&c);
	if (x509_read_public_cert(data, size, &der, &err) != 0) {
		if ((err.code != KL_EINVAL && err.code != KL_ENOMEM) || der.len != 0) {
			fprintf(stderr, "client certificate refused with %s: %s\n",
				kl_errc_name(err.code), err.msg);
			abort();
		}
	} else if (x509_chain_add(&c, der.data, der.len, &err) != 0) {
		fprintf(stderr, "an accepted client certificate is not one: %s\n", err.msg);
		abort();
	}
	x509_chain_clear(&c);
	buf_clear(&der);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const pwds[] = { NULL, "pw" };
	struct x509_info info;
	struct keyops_key *k;
	struct x509_chain c;
	struct kl_err err;
	size_t i;

	for (i = 0; i < 2; i++) {
		memset(&err, 0, sizeof(err));
		k = NULL;
		x509_chain_init(&c);
		if (x509_parse_pem((const char *)data, size, pwds[i], false, &k, &c, &err) == 0)
			import_round_trip(k, &c);
		else
			refused_cleanly(&err, k, &c, "PEM import");
		keyops_free(k);
		x509_chain_clear(&c);
	}
	memset(&err, 0, sizeof(err));
	x509_chain_init(&c);
	if (x509_parse_merge_item(data, size, &c, &err) != 0) {
		refused_cleanly(&err, NULL, &c, "merge item");
	} else if (c.n == 0 || c.n > X509_CHAIN_MAX) {
		abort();
	}
	for (i = 0; i < c.n; i++) {
		x509_info_init(&info);
		memset(&err, 0, sizeof(err));
		if (x509_info_of(c.der[i].data, c.der[i].len, &info, &err) != 0 &&
		    err.code != KL_EINVAL && err.code != KL_ENOMEM) {
			fprintf(stderr, "info refused with %s: %s\n", kl_errc_name(err.code),
				err.msg);
			abort();
		}
		x509_info_clear(&info);
	}
	x509_chain_clear(&c);
	public_cert(data, size);
	return 0;
}
