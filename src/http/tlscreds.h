/* The server's TLS certificate chain and private key, read from two PEM files and replaced whole
 * by a reload (SIGHUP), for GnuTLS's certificate callback. Every handshake takes its own copies of
 * the current pair under a mutex and GnuTLS frees them with the session, so a reload never frees
 * what a handshake or an open connection uses: connections keep the certificate they were opened
 * with, new ones get the new one. Included only by http/ files.
 *
 * Thread safety: tlscreds_retrieve runs on any worker thread; tlscreds_reload may run on another
 * thread at the same time. load, activate and free are called from one thread (main, through
 * http/server.c), free only once no handshake can start any more. */
#ifndef KLUIS_HTTP_TLSCREDS_H
#define KLUIS_HTTP_TLSCREDS_H

#include <stdbool.h>
#include <stddef.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>

#include "util/err.h"

struct tlscreds;
struct secbuf;

/* Reads a PEM file of at most 256 KiB into wiped memory, NUL-terminated (as libmicrohttpd and
 * GnuTLS want it). is_key: the file must not be readable by group or others. */
int tlscreds_read_pem(const char *path, bool is_key, struct secbuf **out, struct kl_err *err);

/* Reads and checks the pair: cert_path holds the server certificate first, then any
 * intermediates (PEM); key_path its private key (unencrypted PEM, PKCS#8 or traditional), a
 * regular file that neither group nor others may read. Refused: KL_EFORBIDDEN for a key file
 * others can read (the message says to chmod 600), KL_EINVAL for a file that is missing, not
 * PEM, an encrypted key, a key that is not the certificate's, or a certificate that has expired. */
struct tlscreds *tlscreds_load(const char *cert_path, const char *key_path, struct kl_err *err);

/* Reads the same two paths again and, only when the new pair passes every check of
 * tlscreds_load, makes it the one new handshakes get. On failure the current pair stays in use
 * and err says why. */
int tlscreds_reload(struct tlscreds *c, struct kl_err *err);

/* "serial S, SHA-256 F, expires DATE" of the pair in use, for the log. */
void tlscreds_describe(struct tlscreds *c, char *out, size_t n);

/* The SHA-256 fingerprint of the certificate in use, as 64 lowercase hex digits. */
void tlscreds_fingerprint(struct tlscreds *c, char out[65]);

/* Makes c the pair tlscreds_retrieve hands out (NULL: none; handshakes then fail). GnuTLS's
 * retrieve callback has no argument of its own, so this is the one process-wide pointer of
 * http/ (decisions.md). */
void tlscreds_activate(struct tlscreds *c);

/* GnuTLS's gnutls_certificate_retrieve_function3 (libmicrohttpd's
 * MHD_OPTION_HTTPS_CERT_CALLBACK2): copies of the active pair, for GnuTLS to free
 * (GNUTLS_CERT_RETR_DEINIT_ALL). */
int tlscreds_retrieve(gnutls_session_t session, const struct gnutls_cert_retr_st *info,
		      gnutls_pcert_st **certs, unsigned int *n_certs, gnutls_ocsp_data_st **ocsp,
		      unsigned int *n_ocsp, gnutls_privkey_t *key, unsigned int *flags);

/* Wipes and frees; NULL is a no-op. Must not be active. */
void tlscreds_free(struct tlscreds *c);

#endif
