/* Certificates of a vault: versioned objects of kind OBJ_CERT, each issued version backed by a
 * managed key version and a managed secret version of the same name and the same version id,
 * written in one store transaction with it; the policy, the pending certificate operation,
 * creation (self-signed, or a CSR completed by merge), import, reads and updates. No JSON, no
 * HTTP: api/ translates. Thread-safe like object.h.
 *
 * Store layout, besides the object records of object.h under kinds 'c', 'k' and 's':
 *   o/<vault>/c/r/<name>   the certificate's policy (one record per name, not versioned)
 *   o/<vault>/c/q/<name>   the certificate operation (pending, completed, cancelled, failed)
 *   a/<vault>/<name>       index of names whose policy has lifetime actions (the renewal job)
 * A delete keeps r and a (the deleted certificate still answers with its policy) and drops q; a
 * purge removes all three; a backup carries r. */
#ifndef KLUIS_VAULT_CERTS_H
#define KLUIS_VAULT_CERTS_H

#include "vault/object.h"

#endif
