/* Growable byte buffer with a ceiling fixed at buf_init: the only way kluis grows memory from
 * client-sized input. Not thread-safe; one owner. */
#ifndef KLUIS_UTIL_BUF_H
#define KLUIS_UTIL_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

struct buf {
	unsigned char *data;	/* NULL until the first append; always NUL-terminated after it */
	size_t len;
	size_t cap;
	size_t max;		/* appends past this fail with KL_ETOOBIG */
	bool wipe;		/* wipe the memory on growth and on clear (secret contents) */
	bool borrowed;		/* data is the caller's storage (buf_init_on): never freed here */
};

/* An empty buffer that may hold at most max bytes. */
void buf_init(struct buf *b, size_t max);
/* Same, and its memory is wiped whenever it is released. */
void buf_init_secret(struct buf *b, size_t max);
/* An empty buffer that starts in the caller's storage (n >= 1 bytes, which must outlive b's
 * use), so that contents up to n - 1 bytes cost no allocation; past that it moves to the heap as
 * any buffer does (the storage is left wiped when b->wipe). buf_clear never frees the storage. */
void buf_init_on(struct buf *b, size_t max, void *storage, size_t n);

/* Makes room for extra more bytes (and the NUL) at once, so that appends up to that size
 * allocate nothing more. KL_ETOOBIG past max, KL_ENOMEM; on failure b is unchanged. */
int buf_reserve(struct buf *b, size_t extra, struct kl_err *err);
/* Append n bytes. KL_ETOOBIG past max, KL_ENOMEM; on failure b is unchanged. */
int buf_append(struct buf *b, const void *p, size_t n, struct kl_err *err);
int buf_append_str(struct buf *b, const char *s, struct kl_err *err);
int buf_putc(struct buf *b, char c, struct kl_err *err);
int buf_printf(struct buf *b, struct kl_err *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int buf_vprintf(struct buf *b, struct kl_err *err, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/* The contents as a C string ("" when empty); valid until the next change. */
const char *buf_cstr(const struct buf *b);

/* Drop everything after the first len bytes (no-op when len >= b->len); the dropped bytes are
 * wiped when b->wipe. Lets a multi-part writer undo a partial append on failure. */
void buf_truncate(struct buf *b, size_t len);

/* Forget the contents, keep the memory (wiped first when b->wipe). */
void buf_reset(struct buf *b);
/* Release the memory (wiped when b->wipe); b can be reused after buf_init. */
void buf_clear(struct buf *b);

/* Hand the memory over: returns data (malloc'd, NUL-terminated, may be NULL when empty) and its
 * length, leaving b empty. The caller frees it. A buffer still in borrowed storage hands over a
 * copy (NULL, length 0, when that cannot be allocated). */
unsigned char *buf_steal(struct buf *b, size_t *len);

#endif
