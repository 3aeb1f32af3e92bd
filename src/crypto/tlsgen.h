/* The node's TLS material: a private CA and a server certificate it signs, created on first
 * start under a directory and reused after. */
#ifndef KLUIS_CRYPTO_TLSGEN_H
#define KLUIS_CRYPTO_TLSGEN_H

#include "util/err.h"

/* Makes sure dir holds ca.pem, ca-key.pem (0600), server.pem and server-key.pem (0600).
 * Missing CA: creates one (ECDSA P-256, 10 years). The server certificate is (re)issued by the
 * CA when missing, expiring within 30 days, or not covering every name required: DNS localhost,
 * DNS *.dns_suffix, DNS dns_suffix, IP 127.0.0.1, IP ::1. A damaged file is refused with
 * KL_ECORRUPT, never overwritten; a key file that group or others can read with KL_EFORBIDDEN.
 * dir is created (0700) when missing. */
int tlsgen_ensure(const char *dir, const char *dns_suffix, struct kl_err *err);

#endif
