/* The master key of a deployment: which key wraps the store's data key, and its rotation.
 *
 * Envelope encryption: every sealed record is sealed under one data key; the store keeps that
 * data key wrapped under the master key (record m/datakey, with the master key's id in its
 * header). Rotating the master key wraps the same data key under a new master key in one store
 * transaction, so nothing else is rewritten, nothing stops, and every node already running keeps
 * serving (each holds the data key in memory). Files in the data directory:
 *   DIR/master.key       the key this node opens the store with
 *   DIR/master.key.new   only during a rotation: the next key, written before the store changes
 * A rotation writes master.key.new, rewraps the data key under it in the store (checked against
 * the version it read, so two rotations cannot interleave), then renames master.key.new over
 * master.key: the old key is gone. A crash at any point leaves a node that opens: at start the
 * key that opens the stored data key wins (master.key, else master.key.new, which is then renamed
 * into place) and a master.key.new that does not open it is left over from a rotation that never
 * reached the store and is removed. A node whose key files open nothing refuses to start, naming
 * the key id the store wants: it never writes anything under a key it does not have. */
#ifndef KLUIS_VAULT_MASTERKEY_H
#define KLUIS_VAULT_MASTERKEY_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

struct vault_core;

#define MASTERKEY_ID_HEX 16

struct masterkey_status {
	char store_key_id[MASTERKEY_ID_HEX + 1];	/* the key m/datakey is wrapped under; ""
							 * when it predates key ids */
	char node_key_id[MASTERKEY_ID_HEX + 1];		/* DIR/master.key of this node; "" when
							 * it cannot be read */
	bool node_key_current;				/* it opens the stored data key */
};

/* Where the store's data key and this node's key file stand. Reads the store and the file;
 * changes nothing. */
int masterkey_status(struct vault_core *core, struct masterkey_status *out, struct kl_err *err);

/* Rotates the master key as the header says. Needs this node's DIR/master.key to open the stored
 * data key (else KL_ECONFLICT "MasterKeyNotCurrent": the key was rotated on another node and its
 * master.key is not installed here yet), a writable store (KL_EREADONLY), and no rotation by
 * another node in between (KL_ECONFLICT "MasterKeyRotationConflict"). On success old_id and
 * new_id name the retired and the new key. KL_EUNAVAIL when the store lost the connection while
 * committing: the outcome is unknown and both files are kept; the next rotation or start settles
 * it. Serialised within the process. */
int masterkey_rotate(struct vault_core *core, char old_id[MASTERKEY_ID_HEX + 1],
		     char new_id[MASTERKEY_ID_HEX + 1], struct kl_err *err);

/* For core.c at start: the data key of the stored wrapped bytes, opened with DIR/master.key (or
 * DIR/master.key.new, finishing an interrupted rotation), into core->data_key. KL_ECORRUPT, with
 * both key ids in the message, when no key file of this node opens it; nothing is changed then. */
int masterkey_open_data_key(struct vault_core *core, const char *data_dir, const void *wrapped,
			    size_t n, struct kl_err *err);

#endif
