/* clientcert.c reads the client certificate of a TLS connection through GnuTLS. It must never
 * report a certificate that did not verify against the configured client CA, and never log
 * anything of a certificate but why it was not accepted. */
#include <stddef.h>
#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>

#include "http/clientcert.h"
#include "util/hex.h"
#include "util/log.h"

void http_client_cert(struct MHD_Connection *conn, char out[65])
{
	const union MHD_ConnectionInfo *ci;
	const gnutls_datum_t *peers;
	gnutls_session_t session;
	gnutls_typed_vdata_st purpose = { .type = GNUTLS_DT_KEY_PURPOSE_OID,
					  .data = (void *)GNUTLS_KP_TLS_WWW_CLIENT };
	unsigned char fp[32];
	size_t fp_len = sizeof(fp);
	unsigned int n = 0, status = 0;
	int r;

	out[0] = '\0';
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (ci == NULL || (session = ci->tls_session) == NULL)
		return;
	peers = gnutls_certificate_get_peers(session, &n);
	if (peers == NULL || n == 0)
		return;	/* none sent: the usual case */
	/* Against the trusted CAs of the credentials (MHD_OPTION_HTTPS_MEM_TRUST), with the time
	 * checks and the extended key usage of a TLS client. */
	if ((r = gnutls_certificate_verify_peers(session, &purpose, 1, &status)) < 0 || status != 0) {
		LOG_INFO(NULL, "a client certificate was not accepted: %s",
			 r < 0 ? gnutls_strerror(r) : "it does not verify against --client-ca");
		return;
	}
	if (gnutls_fingerprint(GNUTLS_DIG_SHA256, &peers[0], fp, &fp_len) < 0 || fp_len != 32)
		return;
	hex_encode(fp, 32, out);
}
