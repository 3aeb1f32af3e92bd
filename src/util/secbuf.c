/* secbuf.c owns heap memory for secret material. It must never free such memory without wiping
 * it first, and never copy it anywhere but into the caller's secbuf. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/secbuf.h"

/* Core dumps: madvise(MADV_DONTDUMP) works on whole pages, and secbufs are small and many, so
 * page-aligning each would cost more than it saves. Keeping secrets out of core dumps is the
 * process's job (prctl(PR_SET_DUMPABLE, 0) or RLIMIT_CORE 0 in main.c). */

struct secbuf *secbuf_new(size_t len, struct kl_err *err)
{
	struct secbuf *s = NULL;
	struct secbuf *res = NULL;

	if (len == SIZE_MAX) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	if ((s = malloc(sizeof(*s))) == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	s->len = len;
	if ((s->data = calloc(1, len + 1)) == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	res = s;
	s = NULL;
out:
	free(s);
	return res;
}

struct secbuf *secbuf_dup(const void *p, size_t n, struct kl_err *err)
{
	struct secbuf *s = secbuf_new(n, err);

	if (s != NULL && n > 0)
		memcpy(s->data, p, n);
	return s;
}

void secbuf_free(struct secbuf *s)
{
	if (s != NULL) {
		if (s->data != NULL) {
			secure_wipe(s->data, s->len + 1);
			free(s->data);
		}
		secure_wipe(s, sizeof(*s));
		free(s);
	}
}

void secure_wipe(void *p, size_t n)
{
	if (p != NULL && n > 0)
		explicit_bzero(p, n);
}

bool secure_equal(const void *a, const void *b, size_t n)
{
	const volatile unsigned char *x = a, *y = b;
	unsigned char d = 0;
	size_t i;

	for (i = 0; i < n; i++)
		d |= (unsigned char)(x[i] ^ y[i]);
	return d == 0;
}
