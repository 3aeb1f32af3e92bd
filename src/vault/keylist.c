/* Lists of store keys gathered by a scan and acted on after it (a scan callback must not write),
 * and deleting a whole prefix in bounded transactions. */
#include <stdlib.h>
#include <string.h>

#include "vault/internal.h"

#define DEL_BATCH 512

void key_list_clear(struct key_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->keys[i]);
	free(l->keys);
	memset(l, 0, sizeof(*l));
}

int key_list_add(struct key_list *l, const void *key, size_t len, struct kl_err *err)
{
	char **grown, *copy;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;

		if ((grown = realloc(l->keys, cap * sizeof(*grown))) == NULL)
			return kl_fail(err, KL_ENOMEM, "out of memory");
		l->keys = grown;
		l->cap = cap;
	}
	if ((copy = malloc(len + 1)) == NULL)
		return kl_fail(err, KL_ENOMEM, "out of memory");
	memcpy(copy, key, len);
	copy[len] = '\0';
	l->keys[l->n++] = copy;
	return 0;
}

int key_list_collect(void *arg, const void *key, size_t key_len, const void *val, size_t val_len,
		     uint64_t version, struct kl_err *err)
{
	(void)val;
	(void)val_len;
	(void)version;
	return key_list_add(arg, key, key_len, err);
}

struct batch_scan {
	struct key_list keys;
	bool (*keep)(const char *key, void *arg);
	void *arg;
	char last[KEYBUF];	/* where the next scan starts: kept keys are passed over */
	size_t last_len;
	bool more;
};

static int collect_batch(void *arg, const void *key, size_t key_len, const void *val,
			 size_t val_len, uint64_t version, struct kl_err *err)
{
	struct batch_scan *b = arg;
	char k[KEYBUF];

	(void)val;
	(void)val_len;
	(void)version;
	if (key_len >= sizeof(k))
		return kl_fail(err, KL_ECORRUPT, "a stored key is longer than any kluis writes");
	memcpy(k, key, key_len);
	k[key_len] = '\0';
	memcpy(b->last, k, key_len + 1);
	b->last_len = key_len;
	if (b->keep != NULL && b->keep(k, b->arg))
		return 0;
	if (key_list_add(&b->keys, k, key_len, err) != 0)
		return -1;
	if (b->keys.n >= DEL_BATCH) {
		b->more = true;
		return 1;
	}
	return 0;
}

int store_del_prefix(struct store *st, const char *prefix, bool (*keep)(const char *key, void *arg),
		     void *arg, size_t *n, struct kl_err *err)
{
	struct batch_scan b;
	struct store_op *ops = NULL;
	size_t i;
	int rc = -1;

	memset(&b, 0, sizeof(b));
	b.keep = keep;
	b.arg = arg;
	if ((ops = calloc(DEL_BATCH, sizeof(*ops))) == NULL)
		return kl_fail(err, KL_ENOMEM, "out of memory");
	do {
		key_list_clear(&b.keys);
		b.more = false;
		if (store_scan(st, prefix, strlen(prefix), b.last_len ? b.last : NULL, b.last_len,
			       collect_batch, &b, err) != 0)
			goto out;
		for (i = 0; i < b.keys.n; i++)
			ops[i] = (struct store_op){ .kind = STORE_DEL, .key = b.keys.keys[i],
						    .key_len = strlen(b.keys.keys[i]) };
		if (b.keys.n > 0 && store_txn(st, ops, b.keys.n, err) != 0)
			goto out;
		if (n != NULL)
			*n += b.keys.n;
	} while (b.more);
	rc = 0;
out:
	key_list_clear(&b.keys);
	free(ops);
	return rc;
}
