/* identity_form.c owns the parser of token request bodies (identity_form.h). It decodes into one
 * wiping buffer, allocated once, as large as the body plus a NUL: decoding never makes a field
 * longer, and the '=' and '&' it drops make room for the NULs. It must never copy a value
 * anywhere else, never put a value in an error message or a log, and never read past len. */
#include <stdbool.h>
#include <string.h>

#include "api/identity/identity_form.h"
#include "util/hex.h"
#include "util/utf8.h"

void form_init(struct form *f)
{
	memset(f, 0, sizeof(*f));
}

void form_clear(struct form *f)
{
	secbuf_free(f->text);	/* wipes */
	memset(f, 0, sizeof(*f));
}

int form_decode(const char *s, size_t n, char *out, size_t *out_len)
{
	size_t i = 0, o = 0, k, seq;
	int hi, lo;

	while (i < n) {
		if (s[i] == '%') {
			if (n - i < 3 || (hi = hex_value(s[i + 1])) < 0 ||
			    (lo = hex_value(s[i + 2])) < 0 || (hi | lo) == 0)
				return -1;
			out[o++] = (char)(hi * 16 + lo);
			i += 3;
		} else if (s[i] == '+') {
			out[o++] = ' ';
			i++;
		} else if (s[i] == '\0') {
			return -1;
		} else {
			out[o++] = s[i++];
		}
	}
	out[o] = '\0';
	for (k = 0; k < o; k += seq)
		if ((seq = utf8_seq_len((const unsigned char *)out + k, o - k)) == 0)
			return -1;
	*out_len = o;
	return 0;
}

static bool name_is_printable(const char *name)
{
	for (; *name != '\0'; name++)
		if ((unsigned char)*name < 0x20 || *name == 0x7f)
			return false;
	return true;
}

/* Field i's name, for a message: printable ASCII names only (others are not quoted). */
static const char *quotable(const char *name)
{
	const char *p;

	for (p = name; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e || *p == '\'')
			return "(unprintable)";
	return name;
}

int form_parse(const char *body, size_t len, struct form *f, struct kl_err *err)
{
	const char *p = body, *end, *amp, *eq;
	struct kl_err lerr = { 0 };
	char *w;
	size_t nlen, vlen, i;
	struct form_field *fd;

	form_clear(f);
	if (len > FORM_MAX_BYTES)
		return kl_fail(err, KL_ETOOBIG, "The request body is larger than the limit of %u "
			       "bytes.", FORM_MAX_BYTES);
	if (len == 0)
		return 0;	/* body may be NULL: an empty request body has no buffer */
	end = body + len;
	if ((f->text = secbuf_new(len, &lerr)) == NULL)
		return kl_fail(err, KL_ENOMEM, "out of memory");
	w = (char *)f->text->data;
	for (; p < end; p = amp + 1) {
		if ((amp = memchr(p, '&', (size_t)(end - p))) == NULL)
			amp = end;
		if (amp == p)
			continue;	/* an empty field */
		if (f->n == FORM_MAX_FIELDS) {
			kl_fail(err, KL_EINVAL, "The request body has more than %d fields.",
				FORM_MAX_FIELDS);
			goto fail;
		}
		eq = memchr(p, '=', (size_t)(amp - p));
		fd = &f->fields[f->n];
		if (form_decode(p, (size_t)((eq ? eq : amp) - p), w, &nlen) != 0 || nlen == 0 ||
		    nlen > FORM_NAME_MAX || !name_is_printable(w)) {
			kl_fail(err, KL_EINVAL, "The request body has a field whose name is empty, "
				"longer than %d bytes or badly encoded.", FORM_NAME_MAX);
			goto fail;
		}
		fd->name = w;
		w += nlen + 1;
		if (eq == NULL) {	/* no '=': the value is "", the name's own NUL */
			fd->value = w - 1;
			fd->value_len = 0;
		} else {
			if (form_decode(eq + 1, (size_t)(amp - eq - 1), w, &vlen) != 0) {
				kl_fail(err, KL_EINVAL, "The value of the field '%s' is badly "
					"percent-encoded or not UTF-8.", quotable(fd->name));
				goto fail;
			}
			fd->value = w;
			fd->value_len = vlen;
			w += vlen + 1;
		}
		for (i = 0; i < f->n; i++)
			if (strcmp(f->fields[i].name, fd->name) == 0) {
				kl_fail(err, KL_EINVAL, "The field '%s' is given more than once.",
					quotable(fd->name));
				goto fail;
			}
		f->n++;
		if (amp == end)
			break;
	}
	return 0;
fail:
	form_clear(f);
	return -1;
}

const char *form_get(const struct form *f, const char *name, size_t *len)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		if (strcmp(f->fields[i].name, name) == 0) {
			if (len != NULL)
				*len = f->fields[i].value_len;
			return f->fields[i].value;
		}
	return NULL;
}
