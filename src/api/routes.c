/* The route table: every operation of the API, the class the read-only gate reads and the
 * permission it needs. Matching is literal-first by table order; "//" is kept, so an empty
 * version segment means "latest" as the SDKs send it. Owns no state. */
#include <string.h>
#include <strings.h>

#include "api/internal.h"

static const struct route routes[] = {
	/* method    path                                 handler                  class         permission           op */
	{ "GET",    "/health",                           health_get,              ROUTE_PUBLIC, PERM_NONE,           "Health" },
	{ "GET",    "/health/writable",                  health_writable,         ROUTE_PUBLIC, PERM_NONE,           "HealthWritable" },
	{ "GET",    "/metrics",                          metrics_get,             ROUTE_PUBLIC, PERM_NONE,           "GetMetrics" },
	/* the Azure Key Vault data plane (data/): the vault the Host names */
	{ "GET",    "/secrets",                          secrets_list,            ROUTE_READ,   PERM_SECRET_LIST,    "GetSecrets" },
	{ "POST",   "/secrets/restore",                  secrets_restore,         ROUTE_WRITE,  PERM_SECRET_RESTORE, "RestoreSecret" },
	{ "PUT",    "/secrets/{name}",                   secrets_set,             ROUTE_WRITE,  PERM_SECRET_SET,     "SetSecret" },
	{ "DELETE", "/secrets/{name}",                   secrets_delete,          ROUTE_WRITE,  PERM_SECRET_DELETE,  "DeleteSecret" },
	{ "GET",    "/secrets/{name}/versions",          secrets_list_versions,   ROUTE_READ,   PERM_SECRET_LIST,    "GetSecretVersions" },
	{ "POST",   "/secrets/{name}/backup",            secrets_backup,          ROUTE_READ,   PERM_SECRET_BACKUP,  "BackupSecret" },
	{ "GET",    "/secrets/{name}/{version?}",        secrets_get,             ROUTE_READ,   PERM_SECRET_GET,     "GetSecret" },
	{ "PATCH",  "/secrets/{name}/{version?}",        secrets_update,          ROUTE_WRITE,  PERM_SECRET_SET,     "UpdateSecret" },
	{ "GET",    "/deletedsecrets",                   deleted_secrets_list,    ROUTE_READ,   PERM_SECRET_LIST,    "GetDeletedSecrets" },
	{ "GET",    "/deletedsecrets/{name}",            deleted_secrets_get,     ROUTE_READ,   PERM_SECRET_LIST,    "GetDeletedSecret" },
	{ "DELETE", "/deletedsecrets/{name}",            deleted_secrets_purge,   ROUTE_WRITE,  PERM_SECRET_PURGE,   "PurgeDeletedSecret" },
	{ "POST",   "/deletedsecrets/{name}/recover",    deleted_secrets_recover, ROUTE_WRITE,  PERM_SECRET_RECOVER, "RecoverDeletedSecret" },
	{ "GET",    "/keys",                             keys_list,               ROUTE_READ,   PERM_KEY_LIST,       "GetKeys" },
	{ "POST",   "/keys/restore",                     keys_restore,            ROUTE_WRITE,  PERM_KEY_RESTORE,    "RestoreKey" },
	{ "PUT",    "/keys/{name}",                      keys_import,             ROUTE_WRITE,  PERM_KEY_IMPORT,     "ImportKey" },
	{ "DELETE", "/keys/{name}",                      keys_delete,             ROUTE_WRITE,  PERM_KEY_DELETE,     "DeleteKey" },
	{ "POST",   "/keys/{name}/create",               keys_create,             ROUTE_WRITE,  PERM_KEY_CREATE,     "CreateKey" },
	{ "POST",   "/keys/{name}/rotate",               keys_rotate,             ROUTE_WRITE,  PERM_KEY_ROTATE,     "RotateKey" },
	{ "POST",   "/keys/{name}/backup",               keys_backup,             ROUTE_READ,   PERM_KEY_BACKUP,     "BackupKey" },
	{ "GET",    "/keys/{name}/versions",             keys_list_versions,      ROUTE_READ,   PERM_KEY_LIST,       "GetKeyVersions" },
	{ "POST",   "/keys/{name}/release",              keys_release,            ROUTE_WRITE,  PERM_KEY_RELEASE,    "ReleaseKey" },
	{ "GET",    "/keys/{name}/attestation",          keys_attestation,        ROUTE_READ,   PERM_KEY_GET,        "GetKeyAttestation" },
	{ "GET",    "/keys/{name}/rotationpolicy",       keys_policy_get,         ROUTE_READ,   PERM_KEY_GET_POLICY, "GetKeyRotationPolicy" },
	{ "PUT",    "/keys/{name}/rotationpolicy",       keys_policy_set,         ROUTE_WRITE,  PERM_KEY_SET_POLICY, "UpdateKeyRotationPolicy" },
	{ "GET",    "/keys/{name}/{version?}",           keys_get,                ROUTE_READ,   PERM_KEY_GET,        "GetKey" },
	{ "PATCH",  "/keys/{name}/{version?}",           keys_update,             ROUTE_WRITE,  PERM_KEY_UPDATE,     "UpdateKey" },
	{ "POST",   "/keys/{name}/{version}/encrypt",    keys_encrypt,            ROUTE_CRYPTO, PERM_KEY_ENCRYPT,    "Encrypt" },
	{ "POST",   "/keys/{name}/{version}/decrypt",    keys_decrypt,            ROUTE_CRYPTO, PERM_KEY_DECRYPT,    "Decrypt" },
	{ "POST",   "/keys/{name}/{version}/wrapkey",    keys_wrap,               ROUTE_CRYPTO, PERM_KEY_WRAP,       "WrapKey" },
	{ "POST",   "/keys/{name}/{version}/unwrapkey",  keys_unwrap,             ROUTE_CRYPTO, PERM_KEY_UNWRAP,     "UnwrapKey" },
	{ "POST",   "/keys/{name}/{version}/sign",       keys_sign,               ROUTE_CRYPTO, PERM_KEY_SIGN,       "Sign" },
	{ "POST",   "/keys/{name}/{version}/verify",     keys_verify,             ROUTE_CRYPTO, PERM_KEY_VERIFY,     "Verify" },
	{ "GET",    "/keys/{name}/{version}/attestation", keys_attestation,       ROUTE_READ,   PERM_KEY_GET,        "GetKeyAttestation" },
	{ "POST",   "/keys/{name}/{version}/release",    keys_release,            ROUTE_WRITE,  PERM_KEY_RELEASE,    "ReleaseKey" },
	{ "GET",    "/deletedkeys",                      deleted_keys_list,       ROUTE_READ,   PERM_KEY_LIST,       "GetDeletedKeys" },
	{ "GET",    "/deletedkeys/{name}",               deleted_keys_get,        ROUTE_READ,   PERM_KEY_LIST,       "GetDeletedKey" },
	{ "DELETE", "/deletedkeys/{name}",               deleted_keys_purge,      ROUTE_WRITE,  PERM_KEY_PURGE,      "PurgeDeletedKey" },
	{ "POST",   "/deletedkeys/{name}/recover",       deleted_keys_recover,    ROUTE_WRITE,  PERM_KEY_RECOVER,    "RecoverDeletedKey" },
	/* certificates (docs/spec certificates.md C1): literal segments after /certificates/ first */
	{ "GET",    "/certificates",                     certs_list,              ROUTE_READ,   PERM_CERT_LIST,      "GetCertificates" },
	{ "POST",   "/certificates/restore",             certs_restore,           ROUTE_WRITE,  PERM_CERT_RESTORE,   "RestoreCertificate" },
	/* certificate contacts and issuers: literal segments, before any /certificates/{name} row */
	{ "PUT",    "/certificates/contacts",            certificate_contacts_set,    ROUTE_WRITE, PERM_CERT_CONTACTS,       "SetCertificateContacts" },
	{ "GET",    "/certificates/contacts",            certificate_contacts_get,    ROUTE_READ,  PERM_CERT_CONTACTS,       "GetCertificateContacts" },
	{ "DELETE", "/certificates/contacts",            certificate_contacts_delete, ROUTE_WRITE, PERM_CERT_CONTACTS,       "DeleteCertificateContacts" },
	{ "GET",    "/certificates/issuers",             certificate_issuers_list,    ROUTE_READ,  PERM_CERT_ISSUERS_LIST,   "GetCertificateIssuers" },
	{ "PUT",    "/certificates/issuers/{name}",      certificate_issuer_set,      ROUTE_WRITE, PERM_CERT_ISSUERS_SET,    "SetCertificateIssuer" },
	{ "PATCH",  "/certificates/issuers/{name}",      certificate_issuer_update,   ROUTE_WRITE, PERM_CERT_ISSUERS_SET,    "UpdateCertificateIssuer" },
	{ "GET",    "/certificates/issuers/{name}",      certificate_issuer_get,      ROUTE_READ,  PERM_CERT_ISSUERS_GET,    "GetCertificateIssuer" },
	{ "DELETE", "/certificates/issuers/{name}",      certificate_issuer_delete,   ROUTE_WRITE, PERM_CERT_ISSUERS_DELETE, "DeleteCertificateIssuer" },
	{ "DELETE", "/certificates/{name}",              certs_delete,            ROUTE_WRITE,  PERM_CERT_DELETE,    "DeleteCertificate" },
	{ "POST",   "/certificates/{name}/create",       certs_create,            ROUTE_WRITE,  PERM_CERT_CREATE,    "CreateCertificate" },
	{ "POST",   "/certificates/{name}/backup",       certs_backup,            ROUTE_READ,   PERM_CERT_BACKUP,    "BackupCertificate" },
	{ "POST",   "/certificates/{name}/import",       certs_import,            ROUTE_WRITE,  PERM_CERT_IMPORT,    "ImportCertificate" },
	{ "GET",    "/certificates/{name}/versions",     certs_list_versions,     ROUTE_READ,   PERM_CERT_LIST,      "GetCertificateVersions" },
	{ "GET",    "/certificates/{name}/policy",       certs_policy_get,        ROUTE_READ,   PERM_CERT_GET,       "GetCertificatePolicy" },
	{ "PATCH",  "/certificates/{name}/policy",       certs_policy_update,     ROUTE_WRITE,  PERM_CERT_UPDATE,    "UpdateCertificatePolicy" },
	{ "GET",    "/certificates/{name}/pending",      certs_op_get,            ROUTE_READ,   PERM_CERT_GET,       "GetCertificateOperation" },
	{ "PATCH",  "/certificates/{name}/pending",      certs_op_cancel,         ROUTE_WRITE,  PERM_CERT_UPDATE,    "UpdateCertificateOperation" },
	{ "DELETE", "/certificates/{name}/pending",      certs_op_delete,         ROUTE_WRITE,  PERM_CERT_UPDATE,    "DeleteCertificateOperation" },
	{ "POST",   "/certificates/{name}/pending/merge", certs_merge,            ROUTE_WRITE,  PERM_CERT_CREATE,    "MergeCertificate" },
	{ "GET",    "/certificates/{name}/{version?}",   certs_get,               ROUTE_READ,   PERM_CERT_GET,       "GetCertificate" },
	{ "PATCH",  "/certificates/{name}/{version?}",   certs_update,            ROUTE_WRITE,  PERM_CERT_UPDATE,    "UpdateCertificate" },
	{ "GET",    "/deletedcertificates",              deleted_certs_list,      ROUTE_READ,   PERM_CERT_LIST,      "GetDeletedCertificates" },
	{ "GET",    "/deletedcertificates/{name}",       deleted_certs_get,       ROUTE_READ,   PERM_CERT_GET,       "GetDeletedCertificate" },
	{ "DELETE", "/deletedcertificates/{name}",       deleted_certs_purge,     ROUTE_WRITE,  PERM_CERT_PURGE,     "PurgeDeletedCertificate" },
	{ "POST",   "/deletedcertificates/{name}/recover", deleted_certs_recover, ROUTE_WRITE,  PERM_CERT_RECOVER,   "RecoverDeletedCertificate" },
	{ "POST",   "/rng",                              keys_random,             ROUTE_CRYPTO, PERM_RNG,            "GetRandomBytes" },
#define SUB "/subscriptions/{sub}"
#define RGP "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.KeyVault"
#define KVP "/subscriptions/{sub}/providers/Microsoft.KeyVault"
	/* the management plane (mgmt/, Resource Manager's shapes) */
	{ "GET",    RGP "/vaults/{name}",                arm_vault_get,           ROUTE_READ,   PERM_MGMT_READ,      "VaultsGet" },
	{ "PUT",    RGP "/vaults/{name}",                arm_vault_put,           ROUTE_WRITE,  PERM_MGMT_WRITE,     "VaultsCreateOrUpdate" },
	{ "PATCH",  RGP "/vaults/{name}",                arm_vault_patch,         ROUTE_WRITE,  PERM_MGMT_WRITE,     "VaultsUpdate" },
	{ "DELETE", RGP "/vaults/{name}",                arm_vault_delete,        ROUTE_WRITE,  PERM_MGMT_WRITE,     "VaultsDelete" },
	{ "PUT",    RGP "/vaults/{name}/accessPolicies/{kind}", arm_access_policies_put, ROUTE_WRITE, PERM_MGMT_WRITE, "VaultsUpdateAccessPolicy" },
	{ "PUT",    RGP "/vaults/{name}/secrets/{secret}", arm_secret_put,        ROUTE_WRITE,  PERM_MGMT_WRITE,     "SecretsCreateOrUpdate" },
	{ "PATCH",  RGP "/vaults/{name}/secrets/{secret}", arm_secret_patch,      ROUTE_WRITE,  PERM_MGMT_WRITE,     "SecretsUpdate" },
	{ "GET",    RGP "/vaults/{name}/secrets/{secret}", arm_secret_get,        ROUTE_READ,   PERM_MGMT_READ,      "SecretsGet" },
	{ "GET",    RGP "/vaults/{name}/secrets",        arm_secrets_list,        ROUTE_READ,   PERM_MGMT_READ,      "SecretsList" },
	{ "PUT",    RGP "/vaults/{name}/keys/{key}",     arm_key_put,             ROUTE_WRITE,  PERM_MGMT_WRITE,     "KeysCreateIfNotExist" },
	{ "GET",    RGP "/vaults/{name}/keys/{key}",     arm_key_get,             ROUTE_READ,   PERM_MGMT_READ,      "KeysGet" },
	{ "GET",    RGP "/vaults/{name}/keys",           arm_keys_list,           ROUTE_READ,   PERM_MGMT_READ,      "KeysList" },
	{ "GET",    RGP "/vaults/{name}/keys/{key}/versions", arm_key_versions_list, ROUTE_READ, PERM_MGMT_READ,     "KeysListVersions" },
	{ "GET",    RGP "/vaults/{name}/keys/{key}/versions/{version}", arm_key_get, ROUTE_READ, PERM_MGMT_READ,     "KeysGetVersion" },
	{ "GET",    RGP "/vaults",                       arm_vaults_list_rg,      ROUTE_READ,   PERM_MGMT_READ,      "VaultsListByResourceGroup" },
	{ "GET",    KVP "/vaults",                       arm_vaults_list_sub,     ROUTE_READ,   PERM_MGMT_READ,      "VaultsListBySubscription" },
	{ "GET",    SUB "/resources",                    arm_resources_list,      ROUTE_READ,   PERM_MGMT_READ,      "VaultsList" },
	{ "GET",    KVP "/deletedVaults",                arm_deleted_list,        ROUTE_READ,   PERM_MGMT_READ,      "VaultsListDeleted" },
	{ "GET",    KVP "/locations/{loc}/deletedVaults/{name}", arm_deleted_get, ROUTE_READ,   PERM_MGMT_READ,      "VaultsGetDeleted" },
	{ "POST",   KVP "/locations/{loc}/deletedVaults/{name}/purge", arm_deleted_purge, ROUTE_WRITE, PERM_MGMT_WRITE, "VaultsPurgeDeleted" },
	{ "GET",    "/providers/Microsoft.KeyVault/operations", arm_operations_list, ROUTE_READ, PERM_MGMT_READ,     "OperationsList" },
	{ "POST",   KVP "/checkNameAvailability",        arm_check_name,          ROUTE_READ,   PERM_MGMT_READ,      "VaultsCheckNameAvailability" },
	/* Resource Manager's own (az login, az cloud register): "//" is the path az asks for when the
	 * cloud's resource manager URL ends in '/', as Azure's does */
	{ "GET",    "/metadata/endpoints",               arm_metadata_endpoints,  ROUTE_PUBLIC, PERM_NONE,           "GetCloudMetadata" },
	{ "GET",    "//metadata/endpoints",              arm_metadata_endpoints,  ROUTE_PUBLIC, PERM_NONE,           "GetCloudMetadata" },
	{ "GET",    "/subscriptions",                    arm_subscriptions_list,  ROUTE_READ,   PERM_MGMT_SIGNED_IN, "SubscriptionsList" },
	{ "GET",    SUB,                                 arm_subscription_get,    ROUTE_READ,   PERM_MGMT_SIGNED_IN, "SubscriptionsGet" },
	/* the administration API (admin/, docs/admin-api.md) */
	{ "GET",    "/kluis/v1/deployment",              admin_deployment,        ROUTE_READ,   PERM_DEPLOYMENT,     "GetDeployment" },
	{ "GET",    "/kluis/v1/deployment/region",       admin_region_get,        ROUTE_READ,   PERM_ADMIN,          "GetRegion" },
	/* ROUTE_READ: it runs on a read-only node (a standby's) and makes its own way to writes. */
	{ "POST",   "/kluis/v1/deployment/region/promote", admin_region_promote,  ROUTE_READ,   PERM_ADMIN,          "PromoteRegion" },
	{ "POST",   "/kluis/v1/deployment/region/switchover", admin_region_switchover, ROUTE_READ, PERM_ADMIN,      "SwitchoverRegion" },
	{ "GET",    "/kluis/v1/vaults",                  admin_vaults_list,       ROUTE_READ,   PERM_DEPLOYMENT,     "ListVaults" },
	{ "GET",    "/kluis/v1/vaults/{name}",           admin_vault_get,         ROUTE_READ,   PERM_DEPLOYMENT,     "GetVault" },
	{ "POST",   "/kluis/v1/principals",              admin_principal_create,  ROUTE_ADMIN,  PERM_ADMIN,          "CreatePrincipal" },
	{ "GET",    "/kluis/v1/principals",              admin_principals_list,   ROUTE_READ,   PERM_ADMIN,          "ListPrincipals" },
	{ "GET",    "/kluis/v1/principals/{id}",         admin_principal_get,     ROUTE_READ,   PERM_ADMIN,          "GetPrincipal" },
	{ "DELETE", "/kluis/v1/principals/{id}",         admin_principal_delete,  ROUTE_ADMIN,  PERM_ADMIN,          "DeletePrincipal" },
	{ "PATCH",  "/kluis/v1/principals/{id}",         admin_principal_update,  ROUTE_ADMIN,  PERM_ADMIN,          "UpdatePrincipal" },
	{ "POST",   "/kluis/v1/principals/{id}/tokens",  admin_token_create,      ROUTE_ADMIN,  PERM_ADMIN,          "CreateToken" },
	{ "DELETE", "/kluis/v1/principals/{id}/tokens/{token}", admin_token_revoke, ROUTE_ADMIN, PERM_ADMIN,         "RevokeToken" },
	{ "GET",    "/kluis/v1/principals/{id}/secrets", admin_secrets_list,      ROUTE_READ,   PERM_ADMIN,          "ListClientSecrets" },
	{ "POST",   "/kluis/v1/principals/{id}/secrets", admin_secret_create,     ROUTE_ADMIN,  PERM_ADMIN,          "CreateClientSecret" },
	{ "DELETE", "/kluis/v1/principals/{id}/secrets/{cred}", admin_secret_revoke, ROUTE_ADMIN, PERM_ADMIN,         "RevokeClientSecret" },
	{ "GET",    "/kluis/v1/principals/{id}/certificates", admin_certificates_list, ROUTE_READ, PERM_ADMIN,       "ListClientCertificates" },
	{ "POST",   "/kluis/v1/principals/{id}/certificates", admin_certificate_create, ROUTE_ADMIN, PERM_ADMIN,     "CreateClientCertificate" },
	{ "DELETE", "/kluis/v1/principals/{id}/certificates/{cred}", admin_certificate_revoke, ROUTE_ADMIN, PERM_ADMIN, "RevokeClientCertificate" },
	{ "GET",    "/kluis/v1/roleDefinitions",         admin_roles_list,        ROUTE_READ,   PERM_ADMIN,          "ListRoleDefinitions" },
	{ "POST",   "/kluis/v1/roleAssignments",         admin_assignment_create, ROUTE_ADMIN,  PERM_ADMIN,          "CreateRoleAssignment" },
	{ "GET",    "/kluis/v1/roleAssignments",         admin_assignments_list,  ROUTE_READ,   PERM_ADMIN,          "ListRoleAssignments" },
	{ "GET",    "/kluis/v1/roleAssignments/{id}",    admin_assignment_get,    ROUTE_READ,   PERM_ADMIN,          "GetRoleAssignment" },
	{ "DELETE", "/kluis/v1/roleAssignments/{id}",    admin_assignment_delete, ROUTE_ADMIN,  PERM_ADMIN,          "DeleteRoleAssignment" },
	{ "GET",    "/kluis/v1/masterKey",               admin_master_key_get,    ROUTE_READ,   PERM_ADMIN,          "GetMasterKey" },
	{ "POST",   "/kluis/v1/masterKey/rotate",        admin_master_key_rotate, ROUTE_ADMIN,  PERM_ADMIN,          "RotateMasterKey" },
	{ "GET",    "/kluis/v1/identity/signingKeys",    admin_signing_keys_list, ROUTE_READ,   PERM_ADMIN,          "ListSigningKeys" },
	{ "POST",   "/kluis/v1/identity/signingKeys/rotate", admin_signing_keys_rotate, ROUTE_ADMIN, PERM_ADMIN,       "RotateSigningKey" },
	/* the identity provider (identity/, docs/identity.md): last, so that no row above is
	 * shadowed; a {tenant} that is not one kluis serves is a 400 invalid_tenant from the
	 * handler */
	{ "GET",    "/adfs/adfs/.well-known/openid-configuration", identity_openid_config, ROUTE_READ, PERM_IDENTITY, "GetOpenIdConfiguration" },
	{ "GET",    "/{tenant}/.well-known/openid-configuration", identity_openid_config, ROUTE_READ, PERM_IDENTITY, "GetOpenIdConfiguration" },
	{ "GET",    "/{tenant}/v2.0/.well-known/openid-configuration", identity_openid_config_v2, ROUTE_READ, PERM_IDENTITY, "GetOpenIdConfiguration" },
	{ "GET",    "/{tenant}/discovery/v2.0/keys",     identity_jwks_get,       ROUTE_READ,   PERM_IDENTITY,       "GetOpenIdKeys" },
	{ "GET",    "/{tenant}/discovery/keys",          identity_jwks_get,       ROUTE_READ,   PERM_IDENTITY,       "GetOpenIdKeys" },
	{ "POST",   "/{tenant}/oauth2/v2.0/token",       identity_token_v2,       ROUTE_READ,   PERM_IDENTITY,       "IssueAccessToken" },
	{ "POST",   "/{tenant}/oauth2/token",            identity_token_v1,       ROUTE_READ,   PERM_IDENTITY,       "IssueAccessToken" },
	{ "GET",    "/msi/token",                        identity_msi_token,      ROUTE_READ,   PERM_IDENTITY,       "IssueManagedIdentityToken" },
#undef SUB
#undef RGP
#undef KVP
};

enum route_plane route_plane_of(const struct route *r)
{
	switch (r->perm) {
	case PERM_NONE:
		return PLANE_PUBLIC;
	case PERM_MGMT_READ:
	case PERM_MGMT_WRITE:
	case PERM_MGMT_SIGNED_IN:
		return PLANE_ARM;
	case PERM_DEPLOYMENT:
	case PERM_ADMIN:
		return PLANE_ADMIN;
	case PERM_IDENTITY:
		return PLANE_IDENTITY;
	default:
		return PLANE_DATA;
	}
}

const struct route *routes_table(size_t *n)
{
	*n = sizeof(routes) / sizeof(routes[0]);
	return routes;
}

/* Next segment of a path after *p (which points at a '/'): its start and length. */
static bool next_segment(const char **p, const char **seg, size_t *len)
{
	const char *s = *p, *end;

	if (*s != '/')
		return false;
	s++;
	end = strchr(s, '/');
	*seg = s;
	*len = end ? (size_t)(end - s) : strlen(s);
	*p = s + *len;
	return true;
}

/* Does path match pattern? Path parameters are recorded (pointers into req->path are not kept:
 * they are copied into the request state's params when the whole route matches). */
static bool match(const char *pattern, const char *path, const char **params, size_t *lens,
		  size_t *n_params)
{
	const char *pp = pattern, *ps = path, *pseg, *sseg;
	size_t plen, slen;

	*n_params = 0;
	while (*pp != '\0') {
		if (!next_segment(&pp, &pseg, &plen))
			return false;
		if (plen >= 2 && pseg[0] == '{') {
			bool optional = pseg[plen - 2] == '?';

			if (*ps == '\0' && optional && *pp == '\0') {	/* segment missing: latest */
				params[*n_params] = ps;
				lens[(*n_params)++] = 0;
				return true;
			}
			if (!next_segment(&ps, &sseg, &slen) || *n_params >= API_MAX_PARAMS)
				return false;
			params[*n_params] = sseg;
			lens[(*n_params)++] = slen;
			continue;
		}
		if (!next_segment(&ps, &sseg, &slen) || slen != plen || strncasecmp(sseg, pseg, plen) != 0)
			return false;
	}
	return *ps == '\0';
}

int routes_match(struct api_req *req, struct api_state *st, const struct route **out,
		 struct kl_err *err)
{
	const char *params[API_MAX_PARAMS];
	size_t lens[API_MAX_PARAMS], n, i, j;
	bool method_mismatch = false;

	*out = NULL;
	for (i = 0; req->path != NULL && i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (!match(routes[i].path, req->path, params, lens, &n))
			continue;
		if (strcmp(routes[i].method, req->method) != 0) {
			method_mismatch = true;
			continue;
		}
		for (j = 0; j < n; j++) {
			st->params[j] = arena_alloc(&req->arena, lens[j] + 1);
			if (st->params[j] == NULL) {
				st->n_params = j;
				return kl_fail(err, KL_ENOMEM, "out of memory");
			}
			memcpy(st->params[j], params[j], lens[j]);
			st->params[j][lens[j]] = '\0';
		}
		st->n_params = n;
		*out = &routes[i];
		return 0;
	}
	if (method_mismatch)
		return kl_fail_az(err, KL_EMETHOD, "MethodNotAllowed", NULL,
				  "The method %.16s is not allowed on this resource.", req->method);
	return kl_fail_az(err, KL_ENOTFOUND, "NotFound", NULL,
			  "The requested resource was not found: %.64s",
			  req->path ? req->path : "");
}
