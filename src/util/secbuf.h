/* Heap memory for secret material: wiped before it is freed, kept out of core dumps where the
 * platform allows. Not thread-safe; one owner. */
#ifndef KLUIS_UTIL_SECBUF_H
#define KLUIS_UTIL_SECBUF_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

struct secbuf {
	size_t len;
	unsigned char *data;	/* len bytes, plus one NUL byte after them */
};

/* A zeroed secbuf of len bytes. NULL with KL_ENOMEM. */
struct secbuf *secbuf_new(size_t len, struct kl_err *err);
/* A copy of p[0..n). */
struct secbuf *secbuf_dup(const void *p, size_t n, struct kl_err *err);
/* Wipe and free; NULL is a no-op. */
void secbuf_free(struct secbuf *s);

/* Wipe n bytes at p in a way the compiler cannot drop. */
void secure_wipe(void *p, size_t n);
/* Whether a[0..n) and b[0..n) are equal, in time that depends on n only (digests of secrets). */
bool secure_equal(const void *a, const void *b, size_t n);

#endif
