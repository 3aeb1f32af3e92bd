/* kluisd's configuration file (--config, docs/configuration.md): lines of "key = value", read
 * whole, then handed out one entry at a time. It knows the format, not the keys: options.c
 * decides what a key means and checks its value. Not thread-safe; one owner. */
#ifndef KLUIS_MAIN_CONFFILE_H
#define KLUIS_MAIN_CONFFILE_H

#include <stddef.h>

#include "util/err.h"
#include "util/secbuf.h"

#define CONFFILE_SIZE_MAX (1024 * 1024)	/* a configuration file, not a data file */
#define CONFFILE_LINE_MAX 8192		/* bytes, without the newline */

struct conffile {
	struct secbuf *text;	/* the whole file: keys and values are cut out of it in place */
	size_t pos;		/* where the next line starts */
	size_t line;		/* the line of the entry last returned, or of the error */
};

/* Reads the regular file at path whole into *cf (zeroed by the caller). Returns 0, or -1 with
 * err saying why, without the path: it cannot be opened or read, is not a regular file, or is
 * larger than CONFFILE_SIZE_MAX. conffile_clear() frees *cf whatever this returned. */
int conffile_read(const char *path, struct conffile *cf, struct kl_err *err);

/* The next entry: 1 with *key and *value pointing into cf->text (surrounding blanks trimmed; a
 * value in double quotes loses them and keeps its blanks), 0 at the end of the file, -1 with err.
 * cf->line is the entry's line, or the bad line's. Blank lines and lines whose first non-blank
 * character is '#' are skipped; a '#' anywhere else is part of the value. A line is bad when it
 * is longer than CONFFILE_LINE_MAX, holds a NUL byte, has no '=' or nothing before it, or its
 * value opens a double quote that does not close it. The reason never quotes the line: it may
 * hold a password. */
int conffile_next(struct conffile *cf, const char **key, const char **value, struct kl_err *err);

/* Wipes and frees cf->text (it may hold a password), unless the caller took it over to keep the
 * values alive (then it set cf->text to NULL and frees it with secbuf_free()), and zeroes *cf. */
void conffile_clear(struct conffile *cf);

#endif
