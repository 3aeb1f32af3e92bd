/* The fixture the vault/ unit tests share: a fresh deployment (fixture.h) with its core open and,
 * when asked, the default vault open. Header-only so each test binary stands alone. */
#ifndef KLUIS_TESTS_VAULT_FIXTURE_H
#define KLUIS_TESTS_VAULT_FIXTURE_H

#include "fixture.h"
#include "vault/vault.h"

/* Makes a fresh deployment in dir with the given retention and opens its core into *core; opens
 * the vault "default" into *v unless v is NULL. On failure prints why and returns -1. */
static inline int vault_env_open(struct fixture_dir *dir, struct vault_core **core,
				 struct vault *v, int retention_days)
{
	struct kl_err err = { 0 };

	if (fixture_dir_make(dir) != 0 ||
	    (*core = fixture_core_open(dir, retention_days, &err)) == NULL ||
	    (v != NULL && vault_open(*core, "default", v, &err) != 0)) {
		fprintf(stderr, "setup: %s\n", err.msg);
		return -1;
	}
	return 0;
}

/* Closes the core (if open) and removes the deployment. */
static inline void vault_env_close(struct fixture_dir *dir, struct vault_core *core)
{
	vault_core_close(core);
	fixture_dir_remove(dir);
}

/* The usual test state: the deployment, its core and the default vault. */
struct vault_env {
	struct fixture_dir dir;
	struct vault_core *core;
	struct vault v;
};

/* A cmocka setup body: a vault_env in *state, with the default vault open when open_default. */
static inline int vault_env_setup(void **state, int retention_days, bool open_default)
{
	struct vault_env *e = calloc(1, sizeof(*e));

	if (e == NULL ||
	    vault_env_open(&e->dir, &e->core, open_default ? &e->v : NULL, retention_days) != 0)
		return -1;
	*state = e;
	return 0;
}

/* The cmocka teardown for vault_env_setup. */
static inline int vault_env_teardown(void **state)
{
	struct vault_env *e = *state;

	vault_env_close(&e->dir, e->core);
	free(e);
	return 0;
}

#endif
