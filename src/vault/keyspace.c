/* The store keyspace (keyspace.h): builds every store key kluis writes, from the prefixes that
 * keyspace.h documents. Must never change a key's bytes (existing stores are read by them), read
 * or write the store, or see a value. */
#include <stdio.h>
#include <string.h>

#include "util/hex.h"
#include "vault/internal.h"
#include "vault/keyspace.h"

const char *const keyspace_watched[] = {
	KEYSPACE_TOKENS,      KEYSPACE_PRINCIPAL_TOKENS, KEYSPACE_PRINCIPALS,
	KEYSPACE_SUBJECTS,    KEYSPACE_CREDENTIALS,	 KEYSPACE_ASSIGNMENTS,
	KEYSPACE_VAULTS,      KEYSPACE_SIGNING_KEYS,
};
const size_t keyspace_n_watched = sizeof(keyspace_watched) / sizeof(keyspace_watched[0]);

void keyspace_obj_head(char *out, const struct vault *v, enum obj_kind k, char state,
		       const char *lname)
{
	snprintf(out, KEYBUF, "o/%s/%c/%c/%s", v->name, obj_kinds[k].tag, state, lname);
}

void keyspace_obj_version(char *out, const struct vault *v, enum obj_kind k, const char *lname,
			  const char *ver)
{
	snprintf(out, KEYBUF, "o/%s/%c/v/%s/%s", v->name, obj_kinds[k].tag, lname, ver);
}

void keyspace_obj_versions(char *out, const char *vname, char tag, const char *lname)
{
	snprintf(out, KEYBUF, "o/%s/%c/v/%s/", vname, tag, lname);
}

void keyspace_obj_side(char *out, const char *vname, char tag, const char *lname)
{
	snprintf(out, KEYBUF, "o/%s/%c/r/%s", vname, tag, lname);
}

void keyspace_cert_operation(char *out, const char *vname, const char *lname)
{
	snprintf(out, KEYBUF, "o/%s/c/q/%s", vname, lname);
}

void keyspace_cert_issuer(char *out, const char *vname, const char *lname)
{
	snprintf(out, KEYBUF, "o/%s/i/%s", vname, lname);
}

void keyspace_cert_contacts(char *out, const char *vname)
{
	snprintf(out, KEYBUF, "o/%s/n", vname);
}

void keyspace_purge_schedule(char *out, int64_t when, const char *vname, char tag,
			     const char *lname)
{
	snprintf(out, KEYBUF, "p/%016llx/%s/%c/%s", (unsigned long long)when, vname, tag, lname);
}

void keyspace_rotation_index(char *out, const char *vname, const char *lname)
{
	snprintf(out, KEYBUF, "r/%s/%s", vname, lname);
}

void keyspace_renewal_index(char *out, const char *vname, const char *lname)
{
	snprintf(out, KEYBUF, "a/%s/%s", vname, lname);
}

void keyspace_idempotency(char *out, const char *vname, const unsigned char digest[32])
{
	char hex[65];

	hex_encode(digest, 32, hex);
	snprintf(out, KEYBUF, "i/%s/%s", vname, hex);
}

bool keyspace_vault(char *out, const char *name)
{
	memcpy(out, KEYSPACE_VAULTS, 3);
	return lower_copy(out + 2, KEYBUF - 2, name);
}

void keyspace_principal(char *out, const char *id)
{
	snprintf(out, KEYBUF, "P/%s", id);
}

void keyspace_principal_name(char *out, const char *lname)
{
	snprintf(out, KEYBUF, "N/%s", lname);
}

void keyspace_principal_token(char *out, const char *pid, const char *token_id)
{
	snprintf(out, KEYBUF, "Q/%s/%s", pid, token_id != NULL ? token_id : "");
}

void keyspace_token(char *out, const char *digest_hex)
{
	snprintf(out, KEYBUF, "T/%s", digest_hex);
}

void keyspace_credential(char *out, const char *pid, const char *cred_id)
{
	snprintf(out, KEYBUF, "C/%s/%s", pid, cred_id != NULL ? cred_id : "");
}

void keyspace_assignment(char *out, const char *vault, const char *pid, const char *role_id)
{
	snprintf(out, KEYBUF, "A/%s/%s/%s", vault[0] != '\0' ? vault : KEYSPACE_DEPLOYMENT_SCOPE,
		 pid, role_id);
}

void keyspace_assignment_id(char *out, const char *id)
{
	snprintf(out, KEYBUF, "I/%s", id);
}

void keyspace_signing_key(char *out, const char *kid)
{
	snprintf(out, KEYBUF, "K/%s", kid);
}
