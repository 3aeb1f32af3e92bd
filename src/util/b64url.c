/* b64url.c owns base64url (RFC 4648 section 5): unpadded output, strict input that also takes the
 * standard alphabet and end padding. Decoded bytes may be secrets: it must never put input or
 * output bytes in an error message, and it wipes its scratch space. */
#include <stdint.h>
#include <string.h>

#include "util/b64url.h"
#include "util/secbuf.h"

#define B64_CHUNK 256	/* scratch size; a multiple of 4 and of 3 */
#define B64_BAD_CHAR "not valid base64url: bad character near offset %zu"

static const char b64url_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The 6-bit value of c in either alphabet, or -1. */
static int b64url_value(unsigned char c)
{
	int v = -1;

	if (c >= 'A' && c <= 'Z')
		v = c - 'A';
	else if (c >= 'a' && c <= 'z')
		v = c - 'a' + 26;
	else if (c >= '0' && c <= '9')
		v = c - '0' + 52;
	else if (c == '-' || c == '+')
		v = 62;
	else if (c == '_' || c == '/')
		v = 63;
	return v;
}

int b64url_encode(const void *in, size_t n, struct buf *out, struct kl_err *err)
{
	const unsigned char *p = in;
	char chunk[B64_CHUNK];
	size_t start = out->len, i = 0, k = 0;
	uint32_t v;
	int rc = -1;

	if (n / 3 > (SIZE_MAX - 4) / 4) {
		kl_fail(err, KL_ETOOBIG, "data too large to encode");
		goto out;
	}
	while (i + 3 <= n) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		chunk[k++] = b64url_alphabet[v >> 18 & 63];
		chunk[k++] = b64url_alphabet[v >> 12 & 63];
		chunk[k++] = b64url_alphabet[v >> 6 & 63];
		chunk[k++] = b64url_alphabet[v & 63];
		i += 3;
		if (k == sizeof(chunk)) {
			if (buf_append(out, chunk, k, err) != 0)
				goto out;
			k = 0;
		}
	}
	if (n - i == 1) {
		v = (uint32_t)p[i] << 16;
		chunk[k++] = b64url_alphabet[v >> 18 & 63];
		chunk[k++] = b64url_alphabet[v >> 12 & 63];
	} else if (n - i == 2) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		chunk[k++] = b64url_alphabet[v >> 18 & 63];
		chunk[k++] = b64url_alphabet[v >> 12 & 63];
		chunk[k++] = b64url_alphabet[v >> 6 & 63];
	}
	/* Appending nothing still gives out its NUL-terminated memory: "" encodes as "". */
	if (buf_append(out, chunk, k, err) != 0)
		goto out;
	rc = 0;
out:
	if (rc != 0)
		buf_truncate(out, start);
	secure_wipe(chunk, sizeof(chunk));
	secure_wipe(&v, sizeof(v));
	return rc;
}

int b64url_decode(const char *in, size_t n, struct buf *out, struct kl_err *err)
{
	const unsigned char *p = (const unsigned char *)in;
	unsigned char chunk[B64_CHUNK];
	size_t start = out->len, body = n, pad = 0, i, k = 0, rest;
	uint32_t v = 0;
	int d, rc = -1;

	/* Padding: only at the end, at most two, and only to complete the last quantum. */
	while (body > 0 && p[body - 1] == '=')
		body--;
	pad = n - body;
	if (pad > 0 && (pad > 2 || n % 4 != 0 || (body % 4) + pad != 4)) {
		kl_fail(err, KL_EINVAL, "not valid base64url: misplaced padding");
		goto out;
	}
	if (body % 4 == 1) {
		kl_fail(err, KL_EINVAL, "not valid base64url: impossible length");
		goto out;
	}
	for (i = 0; i + 4 <= body; i += 4) {
		int a = b64url_value(p[i]), b = b64url_value(p[i + 1]);
		int c = b64url_value(p[i + 2]);

		d = b64url_value(p[i + 3]);
		if ((a | b | c | d) < 0) {
			kl_fail(err, KL_EINVAL, B64_BAD_CHAR, i);
			goto out;
		}
		v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
		chunk[k++] = (unsigned char)(v >> 16);
		chunk[k++] = (unsigned char)(v >> 8);
		chunk[k++] = (unsigned char)v;
		if (k + 3 > sizeof(chunk)) {
			if (buf_append(out, chunk, k, err) != 0)
				goto out;
			k = 0;
		}
	}
	rest = body - i;
	if (rest > 0) {
		int a = b64url_value(p[i]), b = b64url_value(p[i + 1]);
		int c = rest == 3 ? b64url_value(p[i + 2]) : 0;

		if ((a | b | c) < 0) {
			kl_fail(err, KL_EINVAL, B64_BAD_CHAR, i);
			goto out;
		}
		v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6;
		/* The bits past the last whole byte must be zero (RFC 4648 section 3.5). */
		if ((rest == 2 && (v & 0xffff) != 0) || (rest == 3 && (v & 0xff) != 0)) {
			kl_fail(err, KL_EINVAL, "not valid base64url: non-zero trailing bits");
			goto out;
		}
		chunk[k++] = (unsigned char)(v >> 16);
		if (rest == 3)
			chunk[k++] = (unsigned char)(v >> 8);
	}
	if (buf_append(out, chunk, k, err) != 0)
		goto out;
	rc = 0;
out:
	if (rc != 0)
		buf_truncate(out, start);
	secure_wipe(chunk, sizeof(chunk));
	secure_wipe(&v, sizeof(v));
	return rc;
}

int b64_std_encode(const void *in, size_t n, struct buf *out, struct kl_err *err)
{
	size_t start = out->len, i;

	if (b64url_encode(in, n, out, err) != 0)
		return -1;
	for (i = start; i < out->len; i++) {
		if (out->data[i] == '-')
			out->data[i] = '+';
		else if (out->data[i] == '_')
			out->data[i] = '/';
	}
	while ((out->len - start) % 4 != 0) {
		if (buf_putc(out, '=', err) != 0) {
			buf_truncate(out, start);
			return -1;
		}
	}
	return 0;
}
