/* The role table (roles.h). Grants follow what Azure documents for its built-in roles: officers
 * may do everything with their kind of object, users only what an application needs at run time,
 * the reader sees metadata and never a secret value. */
#include <string.h>
#include <strings.h>

#include "api/internal.h"
#include "api/roles.h"

#define SECRETS_ALL (PERM_BIT(PERM_SECRET_GET) | PERM_BIT(PERM_SECRET_LIST) | \
		     PERM_BIT(PERM_SECRET_SET) | PERM_BIT(PERM_SECRET_DELETE) | \
		     PERM_BIT(PERM_SECRET_BACKUP) | PERM_BIT(PERM_SECRET_RESTORE) | \
		     PERM_BIT(PERM_SECRET_RECOVER) | PERM_BIT(PERM_SECRET_PURGE))
#define KEYS_CRYPTO (PERM_BIT(PERM_KEY_ENCRYPT) | PERM_BIT(PERM_KEY_DECRYPT) | \
		     PERM_BIT(PERM_KEY_WRAP) | PERM_BIT(PERM_KEY_UNWRAP) | PERM_BIT(PERM_KEY_SIGN) | \
		     PERM_BIT(PERM_KEY_VERIFY))
#define KEYS_READ (PERM_BIT(PERM_KEY_GET) | PERM_BIT(PERM_KEY_LIST))
#define KEYS_ALL (KEYS_READ | KEYS_CRYPTO | PERM_BIT(PERM_KEY_CREATE) | PERM_BIT(PERM_KEY_IMPORT) | \
		  PERM_BIT(PERM_KEY_UPDATE) | PERM_BIT(PERM_KEY_DELETE) | PERM_BIT(PERM_KEY_BACKUP) | \
		  PERM_BIT(PERM_KEY_RESTORE) | PERM_BIT(PERM_KEY_RECOVER) | PERM_BIT(PERM_KEY_PURGE) | \
		  PERM_BIT(PERM_KEY_ROTATE) | PERM_BIT(PERM_KEY_GET_POLICY) | \
		  PERM_BIT(PERM_KEY_SET_POLICY) | PERM_BIT(PERM_KEY_RELEASE))
#define CERTS_READ (PERM_BIT(PERM_CERT_GET) | PERM_BIT(PERM_CERT_LIST))
#define CERTS_ISSUERS (PERM_BIT(PERM_CERT_ISSUERS_GET) | PERM_BIT(PERM_CERT_ISSUERS_LIST) | \
		       PERM_BIT(PERM_CERT_ISSUERS_SET) | PERM_BIT(PERM_CERT_ISSUERS_DELETE))
#define CERTS_ALL (CERTS_READ | CERTS_ISSUERS | PERM_BIT(PERM_CERT_CREATE) | \
		   PERM_BIT(PERM_CERT_IMPORT) | PERM_BIT(PERM_CERT_UPDATE) | PERM_BIT(PERM_CERT_DELETE) | \
		   PERM_BIT(PERM_CERT_RECOVER) | PERM_BIT(PERM_CERT_PURGE) | PERM_BIT(PERM_CERT_BACKUP) | \
		   PERM_BIT(PERM_CERT_RESTORE) | PERM_BIT(PERM_CERT_CONTACTS))
#define DATA_ALL (SECRETS_ALL | KEYS_ALL | CERTS_ALL | PERM_BIT(PERM_RNG))

static const struct role_def roles[] = {
	{ "00482a5a-887f-4fb3-b363-3b7fe8e74483", "Key Vault Administrator", "administrator",
	  "Perform all data plane operations on a vault and all objects in it.", DATA_ALL, false },
	{ "b86a8fe4-44ce-4948-aee5-eccb2c155cd7", "Key Vault Secrets Officer", "secrets-officer",
	  "Perform any action on the secrets of a vault.", SECRETS_ALL, false },
	{ "4633458b-17de-408a-b874-0445c86b69e6", "Key Vault Secrets User", "secrets-user",
	  "Read secret contents and list secrets.",
	  PERM_BIT(PERM_SECRET_GET) | PERM_BIT(PERM_SECRET_LIST), false },
	{ "14b46e9e-c2b7-41b4-b07b-48a6ebf60603", "Key Vault Crypto Officer", "crypto-officer",
	  "Perform any action on the keys of a vault.", KEYS_ALL | PERM_BIT(PERM_RNG), false },
	{ "12338af0-0e69-4776-bea7-57ae8d297424", "Key Vault Crypto User", "crypto-user",
	  "Perform cryptographic operations using keys; read, update and back up keys.",
	  KEYS_READ | KEYS_CRYPTO | PERM_BIT(PERM_KEY_UPDATE) | PERM_BIT(PERM_KEY_BACKUP) |
	  PERM_BIT(PERM_KEY_GET_POLICY) | PERM_BIT(PERM_RNG), false },
	{ "e147488a-f6f5-4113-8e2d-b22465e65bf6", "Key Vault Crypto Service Encryption User",
	  "crypto-service-encryption-user", "Read metadata of keys and perform wrap/unwrap operations.",
	  KEYS_READ | PERM_BIT(PERM_KEY_WRAP) | PERM_BIT(PERM_KEY_UNWRAP), false },
	{ "a4417e6f-fecd-4de8-b567-7b0420556985", "Key Vault Certificates Officer",
	  "certificates-officer",
	  "Perform any action on the certificates of a vault, their issuers and contacts; no secret "
	  "values, no key operations.", CERTS_ALL, false },
	{ "db79e9a7-68ee-4b58-9aeb-b90e7c24fcba", "Key Vault Certificate User", "certificate-user",
	  "Read certificates, and their private keys through the managed secrets and keys.",
	  CERTS_READ | PERM_BIT(PERM_SECRET_GET) | PERM_BIT(PERM_SECRET_LIST) | KEYS_READ, false },
	{ "21090545-7ca7-4776-b22c-e363652d74d2", "Key Vault Reader", "reader",
	  "Read metadata of a vault and its keys, secrets and certificates; never secret values.",
	  KEYS_READ | PERM_BIT(PERM_KEY_GET_POLICY) | PERM_BIT(PERM_SECRET_LIST) | CERTS_READ |
	  PERM_BIT(PERM_CERT_ISSUERS_GET) | PERM_BIT(PERM_CERT_ISSUERS_LIST), false },
	{ "6b1a3f4e-6c2d-4e0a-9f57-6b6c75697301", "Kluis Administrator", "kluis-administrator",
	  "Administer the deployment: vaults (management plane), principals and role assignments, "
	  "and every data plane operation in every vault.",
	  DATA_ALL | PERM_BIT(PERM_DEPLOYMENT) | PERM_BIT(PERM_MGMT_READ) | PERM_BIT(PERM_MGMT_WRITE) |
	  PERM_BIT(PERM_ADMIN), true },
};

static const char *const perm_names[] = {
	[PERM_NONE] = NULL,
	[PERM_SECRET_GET] = "secrets/get", [PERM_SECRET_LIST] = "secrets/list",
	[PERM_SECRET_SET] = "secrets/set", [PERM_SECRET_DELETE] = "secrets/delete",
	[PERM_SECRET_BACKUP] = "secrets/backup", [PERM_SECRET_RESTORE] = "secrets/restore",
	[PERM_SECRET_RECOVER] = "secrets/recover", [PERM_SECRET_PURGE] = "secrets/purge",
	[PERM_KEY_GET] = "keys/get", [PERM_KEY_LIST] = "keys/list", [PERM_KEY_CREATE] = "keys/create",
	[PERM_KEY_IMPORT] = "keys/import", [PERM_KEY_UPDATE] = "keys/update",
	[PERM_KEY_DELETE] = "keys/delete", [PERM_KEY_BACKUP] = "keys/backup",
	[PERM_KEY_RESTORE] = "keys/restore", [PERM_KEY_RECOVER] = "keys/recover",
	[PERM_KEY_PURGE] = "keys/purge", [PERM_KEY_ROTATE] = "keys/rotate",
	[PERM_KEY_GET_POLICY] = "keys/getrotationpolicy",
	[PERM_KEY_SET_POLICY] = "keys/setrotationpolicy", [PERM_KEY_ENCRYPT] = "keys/encrypt",
	[PERM_KEY_DECRYPT] = "keys/decrypt", [PERM_KEY_WRAP] = "keys/wrapKey",
	[PERM_KEY_UNWRAP] = "keys/unwrapKey", [PERM_KEY_SIGN] = "keys/sign",
	[PERM_KEY_VERIFY] = "keys/verify", [PERM_KEY_RELEASE] = "keys/release", [PERM_RNG] = "rng",
	[PERM_CERT_GET] = "certificates/get", [PERM_CERT_LIST] = "certificates/list",
	[PERM_CERT_CREATE] = "certificates/create", [PERM_CERT_IMPORT] = "certificates/import",
	[PERM_CERT_UPDATE] = "certificates/update", [PERM_CERT_DELETE] = "certificates/delete",
	[PERM_CERT_RECOVER] = "certificates/recover", [PERM_CERT_PURGE] = "certificates/purge",
	[PERM_CERT_BACKUP] = "certificates/backup", [PERM_CERT_RESTORE] = "certificates/restore",
	[PERM_CERT_CONTACTS] = "certificates/managecontacts",
	[PERM_CERT_ISSUERS_GET] = "certificates/getissuers",
	[PERM_CERT_ISSUERS_LIST] = "certificates/listissuers",
	[PERM_CERT_ISSUERS_SET] = "certificates/setissuers",
	[PERM_CERT_ISSUERS_DELETE] = "certificates/deleteissuers",
	[PERM_DEPLOYMENT] = "deployment/read", [PERM_MGMT_READ] = "vaults/read",
	[PERM_MGMT_WRITE] = "vaults/write",
	[PERM_MGMT_SIGNED_IN] = "subscriptions/read", [PERM_ADMIN] = "principals+roleAssignments/*",
};

const struct role_def *roles_table(size_t *n)
{
	*n = sizeof(roles) / sizeof(roles[0]);
	return roles;
}

const struct role_def *roles_find(const char *s)
{
	size_t i;

	if (s == NULL)
		return NULL;
	for (i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (strcasecmp(s, roles[i].name) == 0 || strcasecmp(s, roles[i].id) == 0 ||
		    strcasecmp(s, roles[i].short_name) == 0)
			return &roles[i];
	return NULL;
}

size_t roles_perm_names(uint64_t perms, const char **out, size_t max)
{
	size_t i, n = 0;

	for (i = 0; i < sizeof(perm_names) / sizeof(perm_names[0]) && n < max; i++)
		if (perm_names[i] != NULL && (perms & PERM_BIT(i)))
			out[n++] = perm_names[i];
	return n;
}
