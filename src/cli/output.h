/* What kluis prints on stdout: aligned tables, "field  value" listings, and JSON passed
 * through pretty-printed. Text from the server is printed with control characters replaced,
 * so a crafted name cannot drive the terminal. Not thread-safe. */
#ifndef KLUIS_CLI_OUTPUT_H
#define KLUIS_CLI_OUTPUT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define TABLE_MAX_COLS 8

struct table;

/* A table with ncols columns named by headers[0..ncols). NULL when out of memory. */
struct table *table_new(size_t ncols, const char *const *headers);
/* Appends one row of ncols cells (copied; NULL prints as "-"). -1 when out of memory. */
int table_add(struct table *t, const char *const *cells);
/* Prints header and rows, columns two spaces apart, and frees t. */
void table_print(struct table *t, FILE *f);
void table_free(struct table *t);

/* Prints v to stdout, indented, with a final newline. */
void output_json(const json_t *v);

/* The member at a dotted path ("properties.vaultUri", "tokens.0.id"), or NULL. */
json_t *output_path(const json_t *v, const char *path);
/* The member at path as text in buf: strings as they are, numbers, true/false; "-" when it is
 * missing or null. Returns buf. */
const char *output_text(const json_t *v, const char *path, char *buf, size_t size);
/* The member at path, Unix seconds, as "2026-01-31T12:00:00Z"; "-" when missing. */
const char *output_time(const json_t *v, const char *path, char *buf, size_t size);
/* A segment of an object id URL after its collection: part 0 of "https://v/secrets/NAME/VER"
 * under "secrets" is NAME, part 1 is VER; "-" when there is none. Returns buf. */
const char *output_id_part(const json_t *v, const char *path, const char *collection, size_t part,
			   char *buf, size_t size);
/* Prints s with control characters replaced by '?'. */
void output_clean(FILE *f, const char *s);

#endif
