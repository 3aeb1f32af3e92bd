/* The sweep of expired idempotency records (idem.h, keyspace.h i/): a job of the background
 * thread (core.c run_jobs). It reads each record's creation time only (never opens its sealed
 * fingerprint) and deletes a record only at the store version it read, so a create that replaced
 * an expired record meanwhile keeps its new one. Never touches anything outside i/. */
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "vault/idem.h"
#include "vault/internal.h"

struct sweep_scan {
	int64_t now;
	struct key_list keys;		/* expired records of this batch ... */
	uint64_t versions[IDEM_SWEEP_BATCH];	/* ... at these store versions */
	char last[KEYBUF];		/* where the next batch's scan starts */
	size_t last_len;
	bool full;
};

static int collect_expired(void *arg, const void *key, size_t key_len, const void *val,
			   size_t val_len, uint64_t version, struct kl_err *err)
{
	struct sweep_scan *s = arg;
	int64_t created;

	if (key_len >= sizeof(s->last))
		return 0;	/* not one of ours: they are far shorter */
	memcpy(s->last, key, key_len);
	s->last_len = key_len;
	/* a damaged record answers nothing (idem_judge replaces it): it goes too */
	if (idem_rec_created(val, val_len, &created) && s->now - created < IDEM_RETENTION_S)
		return 0;
	if (key_list_add(&s->keys, key, key_len, err) != 0)
		return -1;
	s->versions[s->keys.n - 1] = version;
	s->full = s->keys.n == IDEM_SWEEP_BATCH;
	return s->full ? 1 : 0;
}

int idem_sweep(struct vault_core *core, int64_t now, size_t *n_deleted, struct kl_err *err)
{
	static const char prefix[] = KEYSPACE_IDEMPOTENCY;
	struct sweep_scan *s = NULL;
	struct store_op *ops = NULL;
	size_t i;
	int rc = -1;

	*n_deleted = 0;
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (ops = calloc(2 * IDEM_SWEEP_BATCH, sizeof(*ops))) == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	s->now = now;
	do {
		key_list_clear(&s->keys);
		s->full = false;
		if (store_scan(core->st, prefix, sizeof(prefix) - 1, s->last, s->last_len,
			       collect_expired, s, err) != 0)
			goto out;
		if (s->keys.n == 0)
			break;
		for (i = 0; i < s->keys.n; i++) {
			ops[2 * i] = (struct store_op){ .kind = STORE_CHECK, .key = s->keys.keys[i],
							.key_len = strlen(s->keys.keys[i]),
							.version = s->versions[i] };
			ops[2 * i + 1] = (struct store_op){ .kind = STORE_DEL,
							    .key = s->keys.keys[i],
							    .key_len = strlen(s->keys.keys[i]) };
		}
		if (store_txn(core->st, ops, 2 * s->keys.n, err) == 0) {
			*n_deleted += s->keys.n;
		} else {
			if (err->code != KL_ECONFLICT)
				goto out;
			/* one was rewritten: this batch waits for the next sweep */
			kl_err_clear(err);
		}
	} while (s->full);
	rc = 0;
out:
	if (s != NULL)
		key_list_clear(&s->keys);
	free(s);
	free(ops);
	return rc;
}
