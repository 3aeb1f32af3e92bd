/* The body of a token request: application/x-www-form-urlencoded (the URL standard's form
 * encoding: '&' between fields, '=' between a name and its value, '+' for a space, %XX for a
 * byte). Its values hold client secrets and assertions, so the decoded text lives in one wiping
 * buffer (util/secbuf.h) that form_clear wipes.
 *
 * Refused (KL_EINVAL, a message that quotes no value): a bad percent-encoding, %00, text that is
 * not UTF-8, an empty or overlong name, a name given twice, more than FORM_MAX_FIELDS fields;
 * KL_ETOOBIG past FORM_MAX_BYTES. Empty fields ("a=1&&b=2", a trailing '&') are skipped, and a
 * field without '=' has the value "".
 * Thread safety: none needed; a form belongs to one request. */
#ifndef KLUIS_API_IDENTITY_FORM_H
#define KLUIS_API_IDENTITY_FORM_H

#include <stddef.h>

#include "util/err.h"
#include "util/secbuf.h"

#define FORM_MAX_BYTES (64u * 1024)	/* a client assertion with a certificate chain fits */
#define FORM_MAX_FIELDS 32		/* MSAL sends about 14 */
#define FORM_NAME_MAX 64

struct form_field {
	const char *name;	/* decoded, NUL-terminated, inside form.text */
	const char *value;	/* decoded, NUL-terminated, inside form.text */
	size_t value_len;
};

struct form {
	struct secbuf *text;	/* every decoded name and value; NULL for an empty form */
	struct form_field fields[FORM_MAX_FIELDS];
	size_t n;
};

void form_init(struct form *f);

/* Parses body[0..len) into f (form_init'ed). On failure f is left empty. */
int form_parse(const char *body, size_t len, struct form *f, struct kl_err *err);

/* The value of field name (exact, case-sensitive), NULL when absent; *len its length when len is
 * not NULL. Points into f: valid until form_clear. */
const char *form_get(const struct form *f, const char *name, size_t *len);

/* Decodes one form-encoded string s[0..n) into out (room for n + 1 bytes), NUL-terminated, as
 * form_parse decodes a value; *out_len gets its length. -1 for a bad or NUL escape or text that
 * is not UTF-8. For the parts of an HTTP Basic client authentication (RFC 6749 section 2.3.1). */
int form_decode(const char *s, size_t n, char *out, size_t *out_len);

/* Wipes and frees f's text; f is empty again. */
void form_clear(struct form *f);

#endif
