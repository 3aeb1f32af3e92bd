/* The roles a principal can hold, modelled on Azure's built-in Key Vault roles (same names and
 * ids), and the permissions of each. The one table that says which role may do what; the vault
 * core stores only role ids. */
#ifndef KLUIS_API_ROLES_H
#define KLUIS_API_ROLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct role_def {
	const char *id;			/* Azure's role definition id where there is one */
	const char *name;		/* "Key Vault Secrets User" */
	const char *short_name;		/* "secrets-user" */
	const char *description;
	uint64_t perms;			/* PERM_BIT()s of api/internal.h */
	bool deployment_only;		/* assignable only at deployment scope */
};

const struct role_def *roles_table(size_t *n);
/* By name (case-insensitive), id or short name; NULL when unknown. */
const struct role_def *roles_find(const char *s);
/* The names of the permissions in perms, for role definitions: writes up to max into out. */
size_t roles_perm_names(uint64_t perms, const char **out, size_t max);

#endif
