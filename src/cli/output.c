/* output.c owns the shape of kluis's stdout: tables, listings and pretty JSON. It must never
 * print a server's text raw (control characters become '?') and never print to stderr. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/output.h"

struct table {
	size_t ncols, nrows, cap;
	const char *const *headers;
	char **cells;	/* nrows * ncols, row-major */
};

struct table *table_new(size_t ncols, const char *const *headers)
{
	struct table *t;

	if (ncols == 0 || ncols > TABLE_MAX_COLS || (t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->ncols = ncols;
	t->headers = headers;
	return t;
}

void table_free(struct table *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

int table_add(struct table *t, const char *const *cells)
{
	size_t i, cap;
	char **grown, **row;

	if (t->nrows == t->cap) {
		cap = t->cap ? t->cap * 2 : 16;
		if (cap > SIZE_MAX / sizeof(char *) / t->ncols ||
		    (grown = realloc(t->cells, cap * t->ncols * sizeof(char *))) == NULL)
			return -1;
		t->cells = grown;
		t->cap = cap;
	}
	for (i = 0; i < t->ncols; i++) {
		row = &t->cells[t->nrows * t->ncols];
		if ((row[i] = strdup(cells[i] ? cells[i] : "-")) == NULL) {
			while (i-- > 0)
				free(row[i]);
			return -1;
		}
	}
	t->nrows++;
	return 0;
}

void output_clean(FILE *f, const char *s)
{
	for (; *s != '\0'; s++)
		fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, f);
}

/* Display width: UTF-8 continuation bytes take no column. */
static size_t width(const char *s)
{
	size_t w = 0;

	for (; *s != '\0'; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

void table_print(struct table *t, FILE *f)
{
	size_t w[TABLE_MAX_COLS] = { 0 };
	size_t r, c, pad;
	const char *cell;

	for (c = 0; c < t->ncols; c++)
		w[c] = width(t->headers[c]);
	for (r = 0; r < t->nrows; r++)
		for (c = 0; c < t->ncols; c++)
			if (width(t->cells[r * t->ncols + c]) > w[c])
				w[c] = width(t->cells[r * t->ncols + c]);
	for (r = 0; r <= t->nrows; r++) {	/* row 0 is the header */
		for (c = 0; c < t->ncols; c++) {
			cell = r == 0 ? t->headers[c] : t->cells[(r - 1) * t->ncols + c];
			output_clean(f, cell);
			if (c + 1 < t->ncols)
				for (pad = width(cell); pad < w[c] + 2; pad++)
					fputc(' ', f);
		}
		fputc('\n', f);
	}
	table_free(t);
}

void output_json(const json_t *v)
{
	json_dumpf(v, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY);
	fputc('\n', stdout);
}

json_t *output_path(const json_t *v, const char *path)
{
	const char *dot;
	char key[64];
	size_t n;

	while (v != NULL && *path != '\0') {
		dot = strchr(path, '.');
		n = dot ? (size_t)(dot - path) : strlen(path);
		if (n >= sizeof(key))
			return NULL;
		memcpy(key, path, n);
		key[n] = '\0';
		if (json_is_array(v) && n > 0 && strspn(key, "0123456789") == n)
			v = json_array_get(v, strtoul(key, NULL, 10));	/* "tokens.0.id" */
		else
			v = json_object_get(v, key);
		path += n + (dot != NULL);
	}
	return (json_t *)v;
}

const char *output_text(const json_t *v, const char *path, char *buf, size_t size)
{
	const json_t *m = output_path(v, path);

	if (json_is_string(m))
		snprintf(buf, size, "%s", json_string_value(m));
	else if (json_is_integer(m))
		snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(m));
	else if (json_is_real(m))
		snprintf(buf, size, "%g", json_real_value(m));
	else if (json_is_boolean(m))
		snprintf(buf, size, "%s", json_is_true(m) ? "true" : "false");
	else
		snprintf(buf, size, "-");
	return buf;
}

const char *output_time(const json_t *v, const char *path, char *buf, size_t size)
{
	const json_t *m = output_path(v, path);
	struct tm tm;
	time_t t;

	if (!json_is_integer(m))
		return output_text(v, path, buf, size);	/* an RFC 3339 string, or "-" */
	t = (time_t)json_integer_value(m);
	if (gmtime_r(&t, &tm) == NULL || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(m));
	return buf;
}

const char *output_id_part(const json_t *v, const char *path, const char *collection, size_t part,
			   char *buf, size_t size)
{
	const json_t *m = output_path(v, path);
	const char *id, *seg, *p, *end;
	size_t clen = strlen(collection);

	snprintf(buf, size, "-");
	if (!json_is_string(m))
		return buf;
	id = json_string_value(m);
	/* ".../COLLECTION/NAME" or ".../COLLECTION/NAME/VERSION" */
	for (seg = strchr(id, '/'); seg != NULL; seg = strchr(seg + 1, '/'))
		if (strncmp(seg + 1, collection, clen) == 0 && seg[1 + clen] == '/')
			break;
	if (seg == NULL)
		return buf;
	for (p = seg + 2 + clen; part > 0 && p != NULL; part--)
		if ((p = strchr(p, '/')) != NULL)
			p++;
	if (p == NULL || *p == '\0' || *p == '/')
		return buf;
	end = strchr(p, '/');
	snprintf(buf, size, "%.*s", (int)(end ? (size_t)(end - p) : strlen(p)), p);
	return buf;
}
