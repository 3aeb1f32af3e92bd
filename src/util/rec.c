/* rec.c owns the binary record codec: big-endian integers and u32-length-prefixed byte strings
 * (length 0xffffffff marks an absent string). Readers must never read past r->len, and after the
 * first bad field every read returns zero/NULL, so callers check r->bad (or rec_done) once. */
#include <stdlib.h>
#include <string.h>

#include "util/rec.h"

#define REC_ABSENT UINT32_MAX

void rec_be64(unsigned char out[8], uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		out[i] = (unsigned char)v;
		v >>= 8;
	}
}

uint64_t rec_from_be64(const unsigned char in[8])
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | in[i];
	return v;
}

static void rec_be32(unsigned char out[4], uint32_t v)
{
	out[0] = (unsigned char)(v >> 24);
	out[1] = (unsigned char)(v >> 16);
	out[2] = (unsigned char)(v >> 8);
	out[3] = (unsigned char)v;
}

int rec_put_u8(struct buf *b, uint8_t v, struct kl_err *err)
{
	return buf_append(b, &v, 1, err);
}

int rec_put_u64(struct buf *b, uint64_t v, struct kl_err *err)
{
	unsigned char be[8];

	rec_be64(be, v);
	return buf_append(b, be, sizeof(be), err);
}

int rec_put_i64(struct buf *b, int64_t v, struct kl_err *err)
{
	/* Two's complement through the unsigned type: defined for every value. */
	return rec_put_u64(b, (uint64_t)v, err);
}

/* The length word and the bytes, all or nothing. */
static int rec_put_len_bytes(struct buf *b, uint32_t len_word, const void *p, size_t n,
			     struct kl_err *err)
{
	unsigned char be[4];
	size_t start = b->len;
	int rc = -1;

	rec_be32(be, len_word);
	if (buf_append(b, be, sizeof(be), err) != 0 || buf_append(b, p, n, err) != 0)
		goto out;
	rc = 0;
out:
	if (rc != 0)
		buf_truncate(b, start);
	return rc;
}

int rec_put_bytes(struct buf *b, const void *p, size_t n, struct kl_err *err)
{
	/* REC_ABSENT itself is taken: it marks a NULL string. */
	return n >= REC_ABSENT ? kl_fail(err, KL_ETOOBIG, "record field too large")
			       : rec_put_len_bytes(b, (uint32_t)n, p, n, err);
}

int rec_put_str(struct buf *b, const char *s, struct kl_err *err)
{
	return s == NULL ? rec_put_len_bytes(b, REC_ABSENT, NULL, 0, err)
			 : rec_put_bytes(b, s, strlen(s), err);
}

void rec_reader_init(struct rec_reader *r, const void *p, size_t len)
{
	r->p = p;
	r->len = p != NULL ? len : 0;
	r->off = 0;
	r->bad = false;
	r->nomem = false;
}

/* n bytes at the cursor, advancing it; NULL (and bad) when fewer remain. */
static const unsigned char *rec_take(struct rec_reader *r, size_t n)
{
	const unsigned char *p = NULL;

	if (r->bad || n > r->len - r->off) {
		r->bad = true;
		goto out;
	}
	p = r->p + r->off;
	r->off += n;
out:
	return p;
}

uint8_t rec_get_u8(struct rec_reader *r)
{
	const unsigned char *p = rec_take(r, 1);

	return p != NULL ? p[0] : 0;
}

uint64_t rec_get_u64(struct rec_reader *r)
{
	const unsigned char *p = rec_take(r, 8);

	return p != NULL ? rec_from_be64(p) : 0;
}

int64_t rec_get_i64(struct rec_reader *r)
{
	uint64_t u = rec_get_u64(r);
	int64_t v;

	/* Back from two's complement without an implementation-defined conversion. */
	memcpy(&v, &u, sizeof(v));
	return v;
}

static uint32_t rec_get_u32(struct rec_reader *r)
{
	const unsigned char *p = rec_take(r, 4);

	return p == NULL ? 0
			 : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

const unsigned char *rec_get_bytes(struct rec_reader *r, size_t *n)
{
	const unsigned char *p = NULL;
	uint32_t len = rec_get_u32(r);

	*n = 0;
	if (r->bad)
		goto out;
	if (len == REC_ABSENT) {	/* an absent string is not a byte string */
		r->bad = true;
		goto out;
	}
	if ((p = rec_take(r, len)) != NULL)
		*n = len;
out:
	return p;
}

/* The bytes of the string field at r: false, with r past it, when the field is absent; false,
 * with r bad, when it is damaged (short, or a NUL inside). */
static bool take_str(struct rec_reader *r, const unsigned char **p, uint32_t *len)
{
	if (r->bad)
		return false;
	/* Peek for the absent marker, then read the field as bytes. */
	if (r->len - r->off >= 4 && memcmp(r->p + r->off, "\xff\xff\xff\xff", 4) == 0) {
		r->off += 4;
		return false;
	}
	*len = rec_get_u32(r);
	if ((*p = rec_take(r, *len)) == NULL)
		return false;
	if (memchr(*p, '\0', *len) != NULL) {
		r->bad = true;
		return false;
	}
	return true;
}

char *rec_get_str(struct rec_reader *r)
{
	const unsigned char *p;
	uint32_t len;
	char *s;

	if (!take_str(r, &p, &len))
		return NULL;
	if ((s = malloc((size_t)len + 1)) == NULL) {
		r->bad = r->nomem = true;	/* rec_fail tells the two apart */
		return NULL;
	}
	memcpy(s, p, len);
	s[len] = '\0';
	return s;
}

/* As rec_get_str, straight into out: no allocation (a GET decodes several of these). */
bool rec_get_fixed_str(struct rec_reader *r, char *out, size_t n)
{
	const unsigned char *p;
	uint32_t len;

	if (!take_str(r, &p, &len) || (size_t)len >= n)
		return false;
	memcpy(out, p, len);
	out[len] = '\0';
	return true;
}

bool rec_done(const struct rec_reader *r)
{
	return !r->bad && r->off == r->len;
}

int rec_fail(const struct rec_reader *r, struct kl_err *err, const char *what)
{
	if (r->nomem)
		return kl_fail(err, KL_ENOMEM, "out of memory");
	return kl_fail(err, KL_ECORRUPT, "%s", what);
}
