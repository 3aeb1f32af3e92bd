/* libFuzzer target: the PKCS#12 (PFX) form of a certificate import, x509_parse_pfx, opened with
 * no password, the empty one and "pw" (the seeds' password), leaf first and in the given order.
 * What must hold: a refusal is the client's fault (KL_EINVAL, or KL_ENOMEM) and leaves no key and
 * an empty chain; an accepted file gives a key and 1 to X509_CHAIN_MAX certificates, the first
 * matching the key unless the order was kept, and what was accepted exports as kluis's own PFX
 * and reads back the same. Key derivation is budgeted inside, so no input runs for long. */
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const pwds[] = { NULL, "", "pw" };
	struct keyops_key *k;
	struct x509_chain c;
	struct kl_err err;
	size_t i;

	for (i = 0; i < 4; i++) {
		bool kept = i == 3;

		memset(&err, 0, sizeof(err));
		k = NULL;
		x509_chain_init(&c);
		if (x509_parse_pfx(data, size, pwds[i % 3], kept, &k, &c, &err) == 0) {
			exercise(k, &c, kept);
		} else if ((err.code != KL_EINVAL && err.code != KL_ENOMEM) || k != NULL ||
			   c.n != 0) {
			fprintf(stderr, "PFX refused with %s: %s\n", kl_errc_name(err.code),
				err.msg);
			abort();
		}
		keyops_free(k);
		x509_chain_clear(&c);
	}
	return 0;
}
