/* What the secrets API shows of a certificate's managed secret (C3, 2025-07-01): its value
 * converted to PEM on request, and the certificate version before it. The private key exists in
 * plain here only in wiping buffers and a keyops key for the length of one call; it must never
 * reach a log or an error message. */
#include <stdio.h>
#include <string.h>

#include "util/b64url.h"
#include "vault/certs_internal.h"

#define PFX_MAX (256u * 1024)

static int refuse(struct kl_err *err, const char *msg)
{
	return kl_fail_az(err, KL_EINVAL, "BadParameter", NULL, "%s", msg);
}

int cert_secret_convert(const struct obj *secret, const struct secbuf *value, const char *out_type,
			struct secbuf **out, struct kl_err *err)
{
	struct keyops_key *k = NULL;
	struct x509_chain chain;
	struct buf pfx, pem;
	const char *ct = secret->content_type ? secret->content_type : "";
	int rc = -1;

	x509_chain_init(&chain);
	buf_init_secret(&pfx, PFX_MAX);
	buf_init_secret(&pem, PFX_MAX);
	*out = NULL;
	if (!secret->managed) {
		refuse(err, "outContentType applies only to the secret of a certificate.");
		goto out;
	}
	if (strcmp(out_type, ct) == 0) { /* already in that form */
		*out = secbuf_dup(value->data, value->len, err);
		rc = *out != NULL ? 0 : -1;
		goto out;
	}
	if (strcmp(out_type, CERT_CT_PEM) != 0 || strcmp(ct, CERT_CT_PKCS12) != 0) {
		refuse(err, "outContentType may only ask for application/x-pem-file of a PKCS#12 "
			    "certificate secret.");
		goto out;
	}
	if (b64url_decode((const char *)value->data, value->len, &pfx, err) != 0 ||
	    x509_parse_pfx(pfx.data, pfx.len, "", true, &k, &chain, err) != 0) {
		kl_fail(err, KL_ECORRUPT,
			"the secret of this certificate cannot be read as PKCS#12");
		goto out;
	}
	if (x509_export_pem(k, &chain, &pem, err) != 0 ||
	    (*out = secbuf_dup(pem.data, pem.len, err)) == NULL)
		goto out;
	rc = 0;
out:
	keyops_free(k);
	x509_chain_clear(&chain);
	buf_clear(&pfx);
	buf_clear(&pem);
	return rc;
}

int cert_previous_version(struct vault *v, const char *name, const char *version, char *out,
			  struct kl_err *err)
{
	struct cert c;
	struct obj o;
	int rc = -1;

	out[0] = '\0';
	cert_init(&c);
	obj_init(&o);
	if (obj_get(v, OBJ_CERT, name, version, &o, NULL, err) != 0) {
		if (err->code == KL_ENOTFOUND) { /* no certificate version: nothing to say */
			kl_err_clear(err);
			rc = 0;
		}
		goto out;
	}
	/* previousVersion is informative: a version record it cannot read just has none */
	if (cert_pub_decode(o.pub.data, o.pub.len, &c, err) == 0)
		snprintf(out, OBJ_VERSION_LEN + 1, "%s", c.prev);
	kl_err_clear(err);
	rc = 0;
out:
	obj_clear(&o);
	cert_clear(&c);
	return rc;
}
