/* buf.c owns struct buf: growth under a fixed ceiling, and wiping of secret contents whenever
 * memory is released or moved. It must never grow past b->max, never leave a copy of wiped
 * contents behind (so no realloc for wipe buffers), and never leave b changed on a failure. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/secbuf.h"

#define BUF_MIN_CAP 64

void buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
	b->wipe = false;
	b->borrowed = false;
}

void buf_init_on(struct buf *b, size_t max, void *storage, size_t n)
{
	buf_init(b, max);
	if (storage != NULL && n > 0) {
		b->data = storage;
		b->data[0] = '\0';
		b->cap = n;
		b->borrowed = true;
	}
}

void buf_init_secret(struct buf *b, size_t max)
{
	buf_init(b, max);
	b->wipe = true;
}

/* Makes room for extra more bytes plus the NUL. Checks the ceiling and every sum. */
int buf_reserve(struct buf *b, size_t extra, struct kl_err *err)
{
	size_t need, cap;
	unsigned char *p = NULL;
	int rc = -1;

	/* len + extra must stay within max, and len + extra + 1 (the NUL) must not wrap. */
	if (extra > b->max || b->len > b->max - extra || extra >= SIZE_MAX - b->len) {
		kl_fail(err, KL_ETOOBIG, "data exceeds the limit of %zu bytes", b->max);
		goto out;
	}
	need = b->len + extra + 1;
	if (b->data != NULL && need <= b->cap) {
		rc = 0;
		goto out;
	}
	cap = b->cap > 0 ? b->cap : BUF_MIN_CAP;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	/* No point holding more than the ceiling allows (max + 1 cannot overflow: need <= it). */
	if (b->max < SIZE_MAX && cap > b->max + 1)
		cap = b->max + 1 > need ? b->max + 1 : need;
	if (b->wipe || b->borrowed) {
		/* realloc could leave a copy of the secret behind in the old block (and cannot move
		 * the caller's storage). */
		if ((p = malloc(cap)) == NULL) {
			kl_fail(err, KL_ENOMEM, "out of memory");
			goto out;
		}
		if (b->data != NULL) {
			memcpy(p, b->data, b->len + 1);
			if (b->wipe)
				secure_wipe(b->data, b->cap);
			if (!b->borrowed)
				free(b->data);
		}
	} else if ((p = realloc(b->data, cap)) == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	if (b->data == NULL)
		p[0] = '\0';
	b->data = p;
	b->cap = cap;
	b->borrowed = false;
	rc = 0;
out:
	return rc;
}

int buf_append(struct buf *b, const void *p, size_t n, struct kl_err *err)
{
	int rc = -1;

	if (buf_reserve(b, n, err) != 0)
		goto out;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	rc = 0;
out:
	return rc;
}

int buf_append_str(struct buf *b, const char *s, struct kl_err *err)
{
	return buf_append(b, s, strlen(s), err);
}

int buf_putc(struct buf *b, char c, struct kl_err *err)
{
	return buf_append(b, &c, 1, err);
}

int buf_printf(struct buf *b, struct kl_err *err, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = buf_vprintf(b, err, fmt, ap);
	va_end(ap);
	return rc;
}

int buf_vprintf(struct buf *b, struct kl_err *err, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;
	int rc = -1;

	va_copy(ap2, ap);
	/* First pass measures, so the ceiling is checked before any memory is touched. */
	n = vsnprintf(NULL, 0, fmt, ap);
	if (n < 0) {
		kl_fail(err, KL_EINTERNAL, "cannot format text");
		goto out;
	}
	if (buf_reserve(b, (size_t)n, err) != 0)
		goto out;
	if (vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap2) != n) {
		b->data[b->len] = '\0';
		kl_fail(err, KL_EINTERNAL, "cannot format text");
		goto out;
	}
	b->len += (size_t)n;
	rc = 0;
out:
	va_end(ap2);
	return rc;
}

const char *buf_cstr(const struct buf *b)
{
	return b->data != NULL ? (const char *)b->data : "";
}

void buf_truncate(struct buf *b, size_t len)
{
	if (b->data != NULL && len < b->len) {
		if (b->wipe)
			secure_wipe(b->data + len, b->len - len);
		b->len = len;
		b->data[len] = '\0';
	}
}

void buf_reset(struct buf *b)
{
	if (b->data != NULL) {
		if (b->wipe)
			secure_wipe(b->data, b->cap);
		b->len = 0;
		b->data[0] = '\0';
	}
}

void buf_clear(struct buf *b)
{
	if (b->data != NULL && b->wipe)
		secure_wipe(b->data, b->cap);
	if (!b->borrowed)
		free(b->data);
	b->borrowed = false;
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

unsigned char *buf_steal(struct buf *b, size_t *len)
{
	unsigned char *p = b->data;
	size_t n = b->len;

	if (b->borrowed) {
		if ((p = malloc(n + 1)) != NULL)
			memcpy(p, b->data, n + 1);
		else
			n = 0;
		if (b->wipe)
			secure_wipe(b->data, b->cap);
		b->borrowed = false;
	}
	if (len != NULL)
		*len = n;
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	return p;
}
