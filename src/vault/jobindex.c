/* jobindex.c owns the walk over a writing job's index (r/<vault>/<name> for key rotation,
 * a/<vault>/<name> for certificate lifetime actions): keys gathered a batch at a time, so no
 * store scan stays open while the job writes. It must never decide what a job does with an
 * entry, nor open a vault itself. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vault/internal.h"

#define BATCH 64

struct index_scan {
	char keys[BATCH][KEYBUF];
	size_t n;
};

static int collect(void *arg, const void *key, size_t key_len, const void *val, size_t val_len,
		   uint64_t version, struct kl_err *err)
{
	struct index_scan *s = arg;

	(void)val;
	(void)val_len;
	(void)version;
	(void)err;
	if (key_len >= KEYBUF)
		return 0;
	memcpy(s->keys[s->n], key, key_len);
	s->keys[s->n][key_len] = '\0';
	return ++s->n == BATCH ? 1 : 0;
}

int jobindex_walk(struct vault_core *core, const char *prefix,
		  void (*fn)(struct vault_core *core, const char *vname, const char *lname,
			     void *arg),
		  void *arg, struct kl_err *err)
{
	struct index_scan *s = calloc(1, sizeof(*s));
	size_t i, plen = strlen(prefix);
	char after[KEYBUF] = "";
	int rc = -1;

	if (s == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	do {
		s->n = 0;
		if (store_scan(core->st, prefix, plen, after[0] ? after : NULL, strlen(after),
			       collect, s, err) != 0)
			goto out;
		for (i = 0; i < s->n; i++) {
			/* <prefix><vault>/<lowercase name> */
			char vname[VAULT_NAME_MAX + 1], *slash = strchr(s->keys[i] + plen, '/');

			if (slash == NULL || (size_t)(slash - s->keys[i] - plen) > VAULT_NAME_MAX)
				continue;
			memcpy(vname, s->keys[i] + plen, (size_t)(slash - s->keys[i] - plen));
			vname[slash - s->keys[i] - plen] = '\0';
			fn(core, vname, slash + 1, arg);
		}
		if (s->n > 0)
			snprintf(after, sizeof(after), "%s", s->keys[s->n - 1]);
	} while (s->n == BATCH);
	rc = 0;
out:
	free(s);
	return rc;
}
