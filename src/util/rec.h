/* A small binary codec for stored records: fixed-width big-endian integers and length-prefixed
 * byte strings, read back with bounds checks. Keeps the vault core free of any text format. */
#ifndef KLUIS_UTIL_REC_H
#define KLUIS_UTIL_REC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* Writers append to b; they fail only with KL_ENOMEM or KL_ETOOBIG. */
int rec_put_u8(struct buf *b, uint8_t v, struct kl_err *err);
int rec_put_u64(struct buf *b, uint64_t v, struct kl_err *err);
int rec_put_i64(struct buf *b, int64_t v, struct kl_err *err);
/* A u32 length followed by the bytes. */
int rec_put_bytes(struct buf *b, const void *p, size_t n, struct kl_err *err);
/* Like rec_put_bytes; NULL is written as absent (distinct from ""). */
int rec_put_str(struct buf *b, const char *s, struct kl_err *err);

struct rec_reader {
	const unsigned char *p;
	size_t len;
	size_t off;
	bool bad;		/* set by the first read past the end or of a malformed field */
	bool nomem;		/* a copy could not be allocated (bad is set too) */
};

void rec_reader_init(struct rec_reader *r, const void *p, size_t len);
uint8_t rec_get_u8(struct rec_reader *r);
uint64_t rec_get_u64(struct rec_reader *r);
int64_t rec_get_i64(struct rec_reader *r);
/* Borrowed view into the reader's memory; *n its length. NULL (and bad) past the end. */
const unsigned char *rec_get_bytes(struct rec_reader *r, size_t *n);
/* A malloc'd NUL-terminated copy; NULL for an absent string or when bad (check r->bad). Strings
 * holding a NUL byte set bad. */
char *rec_get_str(struct rec_reader *r);
/* A string into out (n bytes with its NUL): false when absent, bad, or n bytes or longer (out
 * is then left as it was; r is not marked bad for the length). */
bool rec_get_fixed_str(struct rec_reader *r, char *out, size_t n);
/* True when every byte was consumed and nothing was bad. */
bool rec_done(const struct rec_reader *r);
/* Fails *err for a record r could not read: out of memory when that was why, otherwise
 * KL_ECORRUPT with the message what. Returns -1. */
int rec_fail(const struct rec_reader *r, struct kl_err *err, const char *what);

/* Big-endian helpers for building store keys. */
void rec_be64(unsigned char out[8], uint64_t v);
uint64_t rec_from_be64(const unsigned char in[8]);

#endif
