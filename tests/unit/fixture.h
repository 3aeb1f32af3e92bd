/* A real deployment in a fresh temporary directory for unit tests of vault/ and api/: an LMDB
 * store, a master key, the default vault "default". Header-only so each test binary stands
 * alone. */
#ifndef KLUIS_TESTS_FIXTURE_H
#define KLUIS_TESTS_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store_lmdb.h"
#include "vault/core.h"

struct fixture_dir {
	char path[256];
	char store[300];
};

static inline int fixture_dir_make(struct fixture_dir *d)
{
	snprintf(d->path, sizeof(d->path), "/tmp/kluis-unit-XXXXXX");
	if (mkdtemp(d->path) == NULL)
		return -1;
	snprintf(d->store, sizeof(d->store), "%s/store", d->path);
	return mkdir(d->store, 0700);
}

static inline void fixture_dir_remove(struct fixture_dir *d)
{
	char cmd[400];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->path);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", d->path);
}

/* Opens (or reopens) the deployment in d, read-only when asked. NULL on failure with err filled. */
static inline struct vault_core *fixture_core_open_mode(struct fixture_dir *d, int retention_days,
							bool read_only, struct kl_err *err)
{
	struct vault_core_config cfg = { .data_dir = d->path, .default_vault = "default",
					 .retention_days = retention_days, .read_only = read_only };
	struct store *st = store_lmdb_open(d->store, 64u * 1024 * 1024, err);

	if (st == NULL)
		return NULL;
	return vault_core_open(&cfg, st, err);
}

/* Opens (or reopens) the deployment in d. NULL on failure with err filled. */
static inline struct vault_core *fixture_core_open(struct fixture_dir *d, int retention_days,
						  struct kl_err *err)
{
	return fixture_core_open_mode(d, retention_days, false, err);
}

/* The admin token written at initialisation, without its newline. */
static inline int fixture_admin_token(struct fixture_dir *d, char *out, size_t n)
{
	char path[320];
	FILE *f;
	size_t len;

	snprintf(path, sizeof(path), "%s/admin-token", d->path);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	len = fread(out, 1, n - 1, f);
	fclose(f);
	while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == '\r'))
		len--;
	out[len] = '\0';
	return 0;
}

#endif
