/* A fresh temporary directory for the tests of kluisd's configuration file (src/main/), the files
 * they write in it, and its removal. Header-only so each test binary stands alone. */
#ifndef KLUIS_TESTS_MAIN_TMPCONF_H
#define KLUIS_TESTS_MAIN_TMPCONF_H

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct tmpconf {
	char dir[64];
};

/* cmocka setup: a new directory in *state. */
static inline int tmpconf_setup(void **state)
{
	struct tmpconf *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return -1;
	snprintf(t->dir, sizeof(t->dir), "/tmp/kluis-conf-XXXXXX");
	if (mkdtemp(t->dir) == NULL) {
		free(t);
		return -1;
	}
	*state = t;
	return 0;
}

/* cmocka teardown: removes what the test left in the directory (files, FIFOs, empty
 * directories), then the directory. */
static inline int tmpconf_teardown(void **state)
{
	struct tmpconf *t = *state;
	char path[400];
	struct dirent *e;
	DIR *d = opendir(t->dir);
	int rc = 0;

	while (d != NULL && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", t->dir, e->d_name);
		rc |= remove(path);
	}
	if (d != NULL)
		closedir(d);
	rc |= rmdir(t->dir);
	free(t);
	return rc == 0 ? 0 : -1;
}

/* The path of name in t's directory, into out. */
static inline const char *tmpconf_path(const struct tmpconf *t, const char *name, char *out,
				       size_t n)
{
	snprintf(out, n, "%s/%s", t->dir, name);
	return out;
}

/* Writes len bytes of text to name in t's directory; its path, into out (NULL on failure). */
static inline const char *tmpconf_write_n(const struct tmpconf *t, const char *name,
					  const void *text, size_t len, char *out, size_t n)
{
	FILE *f = fopen(tmpconf_path(t, name, out, n), "w");
	bool ok = f != NULL && fwrite(text, 1, len, f) == len;

	if (f != NULL && fclose(f) != 0)
		ok = false;
	return ok ? out : NULL;
}

/* Writes the string text to name in t's directory; its path, into out (NULL on failure). */
static inline const char *tmpconf_write(const struct tmpconf *t, const char *name,
					const char *text, char *out, size_t n)
{
	return tmpconf_write_n(t, name, text, strlen(text), out, n);
}

#endif
