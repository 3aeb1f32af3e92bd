/* libFuzzer target: token request bodies (application/x-www-form-urlencoded) through the parser of
 * api/identity/identity_form.c. Any input must be parsed or refused without a crash or a read past
 * its end; a parsed form must satisfy the parser's promises (bounded fields, distinct non-empty
 * names, values inside its buffer, lengths that match). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/identity/identity_form.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kl_err err = { 0 };
	struct form f;
	const char *text, *end;
	size_t i, j;
	char *copy;

	/* An exact-size copy, so that AddressSanitizer sees any read past the body. */
	if ((copy = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	form_init(&f);
	if (form_parse(copy, size, &f, &err) != 0) {
		if (f.text != NULL || f.n != 0 || err.code == KL_OK)
			abort();
		free(copy);
		return 0;
	}
	if (f.n > FORM_MAX_FIELDS || (f.n > 0 && f.text == NULL))
		abort();
	text = f.n ? (const char *)f.text->data : NULL;
	end = f.n ? text + f.text->len + 1 : NULL;
	for (i = 0; i < f.n; i++) {
		const struct form_field *fd = &f.fields[i];

		if (fd->name < text || fd->name >= end || fd->value < text ||
		    fd->value + fd->value_len >= end || strlen(fd->value) != fd->value_len ||
		    fd->name[0] == '\0' || strlen(fd->name) > FORM_NAME_MAX)
			abort();
		for (j = 0; j < i; j++)
			if (strcmp(f.fields[j].name, fd->name) == 0)
				abort();
		if (form_get(&f, fd->name, NULL) != fd->value)
			abort();
	}
	form_clear(&f);
	free(copy);
	return 0;
}
