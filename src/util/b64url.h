/* base64url (RFC 4648 section 5) without padding on output. Input may be padded and may use the
 * standard alphabet (+/), as the Azure service accepts. */
#ifndef KLUIS_UTIL_B64URL_H
#define KLUIS_UTIL_B64URL_H

#include <stddef.h>

#include "util/buf.h"

/* Appends the encoding of in[0..n) to out. */
int b64url_encode(const void *in, size_t n, struct buf *out, struct kl_err *err);

/* Appends the bytes encoded by in[0..n) to out. KL_EINVAL for characters outside both alphabets,
 * misplaced padding, an impossible length (n % 4 == 1) or non-zero trailing bits. */
int b64url_decode(const char *in, size_t n, struct buf *out, struct kl_err *err);

/* Standard base64 (RFC 4648 section 4) with padding, appended to out: for the members the
 * service sends in that form (certificates' cer, csr, PFX secrets). */
int b64_std_encode(const void *in, size_t n, struct buf *out, struct kl_err *err);

#endif
