/* Role assignments: a principal holds a role on one vault, or on the whole deployment. Roles are
 * opaque ids here (the API layer defines them and what they permit). Records:
 *   A/<scope>/<principal id>/<role id>  the assignment's id and date; scope is a vault's lowercase
 *                                       name, or "-" for the deployment
 *   I/<assignment id>                   the same assignment, found by its id
 * so the roles of a principal on a vault are two short prefix scans. No JSON, no HTTP. */
#ifndef KLUIS_VAULT_ASSIGNMENTS_H
#define KLUIS_VAULT_ASSIGNMENTS_H

#include <stdbool.h>
#include <stdint.h>

#include "util/err.h"
#include "vault/vault.h"

struct vault_core;

#define ASSIGN_ROLE_MAX 36
#define ASSIGN_ROLES_MAX 16	/* roles one principal may hold on one scope */

struct assignment {
	char id[37];
	char principal_id[37];
	char role_id[ASSIGN_ROLE_MAX + 1];
	char vault[VAULT_NAME_MAX + 1];	/* lowercase; "" for the deployment */
	int64_t created;
};

/* Creates in (its id and date are set here). The vault, when named, must exist (live); the
 * principal too. KL_ECONFLICT "RoleAssignmentExists" for the same principal, role and scope. */
int assignment_create(struct vault_core *core, struct assignment *in, struct kl_err *err);

/* KL_ENOTFOUND "RoleAssignmentNotFound". */
int assignment_get(struct vault_core *core, const char *id, struct assignment *out,
		   struct kl_err *err);
int assignment_delete(struct vault_core *core, const char *id, struct assignment *out,
		      struct kl_err *err);

/* Every assignment on vault (lowercase; NULL: any scope, "" the deployment only) of principal
 * (NULL: any), in scope order. fn returns 0 to go on, 1 to stop, -1 to fail. */
typedef int (*assignment_fn)(void *arg, const struct assignment *a, struct kl_err *err);
int assignment_each(struct vault_core *core, const char *vault, const char *principal_id,
		    assignment_fn fn, void *arg, struct kl_err *err);

/* The role ids principal holds on vault (lowercase name) or on the deployment, into roles; *n
 * of them (at most max; more are ignored). */
int assignment_roles(struct vault_core *core, const char *vault, const char *principal_id,
		     char roles[][ASSIGN_ROLE_MAX + 1], size_t max, size_t *n, struct kl_err *err);

/* Removes every assignment on a vault (its purge), or of a principal (its deletion). */
int assignments_drop_vault(struct vault_core *core, const char *vault, struct kl_err *err);
int assignments_drop_principal(struct vault_core *core, const char *principal_id,
			       struct kl_err *err);

#endif
