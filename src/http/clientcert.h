/* The TLS client certificate of a connection, for principals bound to one (a second factor next
 * to their bearer token). Included only by http/ files, after <microhttpd.h>. */
#ifndef KLUIS_HTTP_CLIENTCERT_H
#define KLUIS_HTTP_CLIENTCERT_H

struct MHD_Connection;

/* The SHA-256 fingerprint (64 lowercase hex digits) of the certificate the client presented in
 * the handshake, when it verifies against the server's client CA (--client-ca) for TLS client
 * authentication, now; "" otherwise (none sent, untrusted, expired, not for client use). Costs a
 * chain verification when a certificate was sent, nothing when none was. Thread-safe. */
void http_client_cert(struct MHD_Connection *conn, char out[65]);

#endif
