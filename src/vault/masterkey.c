/* masterkey.c owns the master key files of a node (DIR/master.key, DIR/master.key.new) and the
 * rewrapping of the store's data key under a new master key (masterkey.h). It must never remove a
 * key file that the store's data key may be wrapped under, never write m/datakey unless this
 * node's key opens what is there and its data key is the one in use, and never put key bytes in a
 * log or an error: keys are named by their ids. Only crypto/seal.c sees key bytes. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"
#include "vault/core.h"
#include "vault/internal.h"
#include "vault/masterkey.h"

struct key_paths {
	char cur[PATH_MAX];
	char next[PATH_MAX];
};

static int key_paths(const char *dir, struct key_paths *p, struct kl_err *err)
{
	if ((size_t)snprintf(p->cur, sizeof(p->cur), "%s/master.key", dir) >= sizeof(p->cur) ||
	    (size_t)snprintf(p->next, sizeof(p->next), "%s/master.key.new", dir) >= sizeof(p->next))
		return kl_fail(err, KL_EINVAL, "data directory path too long");
	return 0;
}

/* fsync of dir, so that a rename or an unlink in it survives a crash. */
static int sync_dir(const char *dir, struct kl_err *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || fsync(fd) != 0) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		return kl_fail(err, KL_EINTERNAL, "cannot sync %.120s: %s", dir, strerror(e));
	}
	close(fd);
	return 0;
}

/* Loads the key file path and opens wrapped with it. 0 with *dk set when it opens; 0 with *dk
 * NULL and *id filled when it is another key; -1 for a file that cannot be used at all (mode,
 * size: seal_master_load's refusals). */
static int try_key(const char *path, const void *wrapped, size_t n, struct seal_key **master,
		   struct seal_key **dk, char id[MASTERKEY_ID_HEX + 1], struct kl_err *err)
{
	struct kl_err why = { 0 };
	struct seal_key *m;

	*master = NULL;
	*dk = NULL;
	if ((m = seal_master_load(path, 0, err)) == NULL)
		return -1;
	seal_key_id(m, id);
	if ((*dk = seal_key_unwrap(m, wrapped, n, &why)) == NULL && why.code != KL_ECORRUPT) {
		*err = why;
		seal_key_free(m);
		return -1;
	}
	*master = m;
	return 0;
}

/* The data key of wrapped, opened with this node's key files: DIR/master.key, or else
 * DIR/master.key.new, which is then renamed into place (a rotation that reached the store but
 * not the rename). A master.key.new that is not needed is removed (a rotation that never reached
 * the store). *master_out (when not NULL) gets the master key that opened it. */
static int resolve(const char *dir, const void *wrapped, size_t n, struct seal_key **master_out,
		   struct seal_key **dk_out, struct kl_err *err)
{
	struct key_paths p;
	struct seal_key *m = NULL, *dk = NULL;
	char want[MASTERKEY_ID_HEX + 1], have[MASTERKEY_ID_HEX + 1] = "";
	char next_id[MASTERKEY_ID_HEX + 1];
	bool has_cur, has_next;
	int rc = -1;

	if (key_paths(dir, &p, err) != 0)
		goto out;
	has_cur = access(p.cur, F_OK) == 0;
	has_next = access(p.next, F_OK) == 0;
	if (has_cur) {
		if (try_key(p.cur, wrapped, n, &m, &dk, have, err) != 0)
			goto out;
		if (dk != NULL) {
			if (has_next) {	/* never reached the store: nothing is wrapped under it */
				if (unlink(p.next) == 0 && sync_dir(dir, err) == 0)
					LOG_WARN(NULL, "removed %.200s, left over from a master key "
						 "rotation that did not reach the store", p.next);
				else
					LOG_WARN(NULL, "cannot remove the leftover %.200s: %s", p.next,
						 strerror(errno));
				kl_err_clear(err);
			}
			goto done;
		}
		seal_key_free(m);
		m = NULL;
	}
	if (has_next) {
		if (try_key(p.next, wrapped, n, &m, &dk, next_id, err) != 0)
			goto out;
		if (dk != NULL) {	/* the rotation reached the store: finish it */
			if (rename(p.next, p.cur) != 0) {
				kl_fail(err, KL_EINTERNAL, "cannot rename %.100s to master.key: %s",
					p.next, strerror(errno));
				goto out;
			}
			if (sync_dir(dir, err) != 0)
				goto out;
			LOG_WARN(NULL, "finished an interrupted master key rotation: %.200s is now the "
				 "master key (id %s)", p.cur, next_id);
			goto done;
		}
		seal_key_free(m);
		m = NULL;
	}
	if (!has_cur) {
		kl_fail(err, KL_ECORRUPT, "%.120s is missing: the store cannot be unsealed", p.cur);
	} else if (seal_wrapped_key_id(wrapped, n, want)) {
		LOG_ERROR(NULL, "the store's data key is wrapped under master key %s; %.200s is key "
			  "%s. If the master key was rotated on another node, install that node's "
			  "master.key here (mode 0600) and start again", want, p.cur, have);
		kl_fail(err, KL_ECORRUPT, "the store was sealed by another master key than %.80s "
			"(it needs key %s, the file has %s); refusing to open it", p.cur, want, have);
	} else {
		kl_fail(err, KL_ECORRUPT, "the store was sealed by another master key than %.120s; "
			"refusing to open it", p.cur);
	}
	goto out;
done:
	*dk_out = dk;
	dk = NULL;
	if (master_out != NULL) {
		*master_out = m;
		m = NULL;
	}
	rc = 0;
out:
	seal_key_free(m);
	seal_key_free(dk);
	return rc;
}

int masterkey_open_data_key(struct vault_core *core, const char *data_dir, const void *wrapped,
			    size_t n, struct kl_err *err)
{
	return resolve(data_dir, wrapped, n, NULL, &core->data_key, err);
}

int masterkey_status(struct vault_core *core, struct masterkey_status *out, struct kl_err *err)
{
	struct key_paths p;
	struct seal_key *m = NULL, *dk = NULL;
	struct kl_err ignored = { 0 };
	struct buf val;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	buf_init(&val, 4096);
	if (key_paths(core->data_dir, &p, err) != 0 ||
	    store_get(core->st, VAULT_META_DATA_KEY, strlen(VAULT_META_DATA_KEY), &val, NULL,
		      err) != 0)
		goto out;
	(void)seal_wrapped_key_id(val.data, val.len, out->store_key_id);
	/* The file as it is now: an operator checks with this that a key was installed. */
	if (try_key(p.cur, val.data, val.len, &m, &dk, out->node_key_id, &ignored) == 0)
		out->node_key_current = dk != NULL && seal_key_equal(dk, core->data_key);
	else
		LOG_WARN(NULL, "master key status: %s", ignored.msg);
	if (out->store_key_id[0] == '\0' && out->node_key_current)	/* format 1: it is this one */
		memcpy(out->store_key_id, out->node_key_id, sizeof(out->store_key_id));
	rc = 0;
out:
	seal_key_free(m);
	seal_key_free(dk);
	buf_clear(&val);
	return rc;
}

int masterkey_rotate(struct vault_core *core, char old_id[MASTERKEY_ID_HEX + 1],
		     char new_id[MASTERKEY_ID_HEX + 1], struct kl_err *err)
{
	struct key_paths p;
	struct seal_key *cur = NULL, *dk = NULL, *next = NULL;
	struct kl_err why = { 0 };
	struct buf val, wrapped;
	uint64_t version = 0;
	bool remove_next = false;
	int rc = -1;

	buf_init(&val, 4096);
	buf_init(&wrapped, 4096);
	pthread_mutex_lock(&core->master_mu);
	if (vault_core_mode(core) == VAULT_MODE_READ_ONLY) {	/* --read-only, or a standby */
		kl_fail_az(err, KL_EREADONLY, "VaultIsReadOnly", NULL,
			   "This node is read-only: rotate the master key on a read-write node.");
		goto out;
	}
	if (key_paths(core->data_dir, &p, err) != 0 ||
	    store_get(core->st, VAULT_META_DATA_KEY, strlen(VAULT_META_DATA_KEY), &val, &version,
		      err) != 0)
		goto out;
	/* This node must hold the key the store wants, and serve with the data key it wraps. */
	if (resolve(core->data_dir, val.data, val.len, &cur, &dk, &why) != 0) {
		if (why.code != KL_ECORRUPT) {
			*err = why;
			goto out;
		}
		LOG_WARN(NULL, "master key rotation refused: %s", why.msg);
		kl_fail_az(err, KL_ECONFLICT, "MasterKeyNotCurrent", NULL,
			   "This node's master.key does not open the store's data key: the master "
			   "key was rotated on another node. Install that key here first.");
		goto out;
	}
	if (!seal_key_equal(dk, core->data_key)) {
		kl_fail_az(err, KL_ECONFLICT, "MasterKeyNotCurrent", NULL,
			   "The store's data key is not the one this node opened at start.");
		goto out;
	}
	seal_key_id(cur, old_id);
	/* From here until the store has the new wrapping, master.key.new is ours to remove. */
	if ((next = seal_master_create(p.next, err)) == NULL)
		goto out;
	remove_next = true;
	if (seal_key_wrap(next, core->data_key, &wrapped, err) != 0)
		goto out;
	{
		struct store_op ops[] = {
			{ .kind = STORE_CHECK, .key = VAULT_META_DATA_KEY,
			  .key_len = strlen(VAULT_META_DATA_KEY), .version = version },
			{ .kind = STORE_PUT, .key = VAULT_META_DATA_KEY,
			  .key_len = strlen(VAULT_META_DATA_KEY), .val = wrapped.data,
			  .val_len = wrapped.len },
		};

		if (store_txn(core->st, ops, 2, err) != 0) {
			if (err->code == KL_ECONFLICT) {
				kl_fail_az(err, KL_ECONFLICT, "MasterKeyRotationConflict", NULL,
					   "The master key was rotated by another node at the same "
					   "time; nothing was changed here.");
			} else if (err->code == KL_EUNAVAIL || err->code == KL_EOUTCOME) {
				/* The commit may or may not have happened: keep both files; a
				 * start or the next rotation keeps the one that opens the store. */
				remove_next = false;
				LOG_ERROR(NULL, "master key rotation: the store's answer to the commit "
					  "was lost; %.200s is kept, retry the rotation", p.next);
			}
			goto out;
		}
	}
	remove_next = false;	/* the store wants the new key now: never remove it */
	seal_key_id(next, new_id);
	if (rename(p.next, p.cur) != 0) {
		kl_fail(err, KL_EINTERNAL, "the data key is wrapped under the new master key %s, but "
			"master.key.new could not replace master.key (%s); the next start does it",
			new_id, strerror(errno));
		goto out;
	}
	if (sync_dir(core->data_dir, err) != 0)
		goto out;
	LOG_INFO(NULL, "rotated the master key: the data key is now wrapped under key %s (%.200s); "
		 "key %s is retired", new_id, p.cur, old_id);
	rc = 0;
out:
	if (remove_next && unlink(p.next) != 0)
		LOG_WARN(NULL, "cannot remove %.200s: %s", p.next, strerror(errno));
	pthread_mutex_unlock(&core->master_mu);
	seal_key_free(cur);
	seal_key_free(dk);
	seal_key_free(next);
	buf_clear(&val);
	buf_clear(&wrapped);
	return rc;
}
