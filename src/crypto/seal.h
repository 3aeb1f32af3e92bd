/* Sealing of stored secret material: AES-256-GCM under a data key, with the record's key as
 * additional authenticated data, so a sealed value cannot be moved to another record. The data
 * key is itself sealed ("wrapped") under the master key, which is read from a 0600 file and never
 * leaves this module. Keys are wiped when freed. Thread-safe for concurrent seal/open with the
 * same key. */
#ifndef KLUIS_CRYPTO_SEAL_H
#define KLUIS_CRYPTO_SEAL_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"
#include "util/secbuf.h"

struct seal_key;

/* Loads the master key from path (32 random bytes). When the file is missing and create is
 * nonzero, creates it with mode 0600 first (O_EXCL). A file of the wrong size or with group or
 * other permission bits is refused with KL_ECORRUPT / KL_EFORBIDDEN and a clear message. */
struct seal_key *seal_master_load(const char *path, int create, struct kl_err *err);

/* Creates path (mode 0600, O_EXCL, synced with its directory) holding a fresh master key, and
 * returns the key. KL_ECONFLICT when the file exists (never overwritten). */
struct seal_key *seal_master_create(const char *path, struct kl_err *err);

#define SEAL_KEY_ID_HEX 16
/* A key's id: 16 hex digits of a SHA-256 of a label and the key. Names a master key in logs, in
 * messages and on the admin API without revealing anything of it. */
void seal_key_id(const struct seal_key *k, char out[SEAL_KEY_ID_HEX + 1]);
/* The id of the master key that wrapped this data key (format 2); false for format 1 (data keys
 * wrapped before keys had ids) or bytes too short to be a wrapped key. */
bool seal_wrapped_key_id(const void *wrapped, size_t n, char out[SEAL_KEY_ID_HEX + 1]);
/* Whether two keys are the same (constant time). */
bool seal_key_equal(const struct seal_key *a, const struct seal_key *b);

/* A fresh random data key. */
struct seal_key *seal_key_generate(struct kl_err *err);

/* Appends the data key sealed under the master key to out, in format 2: the master key's id
 * first, bound to the sealed bytes as additional data. */
int seal_key_wrap(const struct seal_key *master, const struct seal_key *key, struct buf *out,
		  struct kl_err *err);
/* Unseals a wrapped data key (format 1 or 2). KL_ECORRUPT when it was wrapped by another master
 * key (format 2: the message names both keys' ids) or damaged. */
struct seal_key *seal_key_unwrap(const struct seal_key *master, const void *wrapped, size_t n,
				 struct kl_err *err);

/* Wipes and frees; NULL is a no-op. */
void seal_key_free(struct seal_key *k);

/* Appends format byte, 12-byte random nonce, ciphertext and 16-byte tag to out. */
int seal_seal(const struct seal_key *k, const void *aad, size_t aad_len, const void *plain,
	      size_t plain_len, struct buf *out, struct kl_err *err);

/* Opens what seal_seal made under the same key and aad. KL_ECORRUPT (and *out untouched) when
 * anything differs or was tampered with. On success the caller owns *out. */
int seal_open(const struct seal_key *k, const void *aad, size_t aad_len, const void *sealed,
	      size_t sealed_len, struct secbuf **out, struct kl_err *err);

#endif
