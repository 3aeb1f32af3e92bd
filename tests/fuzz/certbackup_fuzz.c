/* libFuzzer target: restore of certificate backups (vault/certbackup.c, cert_restore), the parser
 * of the binary format a client brings back to POST /certificates/restore. The first input byte:
 *   bit 0  0: the rest is a certificate backup payload, sealed here under the deployment's data
 *             key as cert_backup seals it, so the fuzzer reaches the parser behind the seal (as
 *             only an attacker holding the data key could); 1: the rest is a blob as a client
 *             sends it
 * What must hold: a client's blob is refused with KL_EINVAL and the service's one text, and
 * stores nothing. A sealed payload is refused the same way or restored; what was restored is a
 * certificate that backs up again, is refused while it exists (KL_ECONFLICT), and once deleted
 * and purged restores again to exactly the same records; the purge leaves vault default empty.
 *
 * Seeds: KLUIS_FUZZ_WRITE_SEEDS=DIR ./certbackup_fuzz -runs=0 writes, for a certificate of two
 * versions with a policy and for a pending one (key, no secret), the opened payloads (flag 0)
 * and the blobs themselves (flag 1: from another deployment once the run ends). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/seal.h"
#include "fixture.h"
#include "util/json.h"
#include "util/log.h"
#include "vault/certlife.h"
#include "vault/internal.h"

#define CERTFIX_CHECK(cond)                                                                        \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)
#include "certfixture.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define BLOB_MAX (1024u * 1024)
#define AAD "kluis/backup/v2/certificate"	/* as vault/certbackup.c */
#define INVALID "Backup blob contains invalid or corrupt version."

static struct fixture_dir dir;
static struct vault_core *core;
static struct vault v;

static void write_file(const char *dirname, const char *name, uint8_t flag, const void *p,
		       size_t n)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dirname, name);
	if ((f = fopen(path, "wb")) == NULL || fwrite(&flag, 1, 1, f) != 1 ||
	    fwrite(p, 1, n, f) != n || fclose(f) != 0)
		abort();
}

/* Deletes and purges certificate name. */
static void remove_cert(const char *name)
{
	struct kl_err err = { 0 };
	struct obj o;

	obj_init(&o);
	if (cert_delete(&v, name, &o, &err) != 0 || cert_purge(&v, name, &err) != 0) {
		fprintf(stderr, "certbackup_fuzz: cannot remove %s: %s\n", name, err.msg);
		abort();
	}
	obj_clear(&o);
}

/* Backs certificate name up and writes its payload and its blob as seeds. */
static void write_seeds(const char *dirname, const char *name)
{
	struct kl_err err = { 0 };
	struct secbuf *payload = NULL;
	struct buf blob;
	char file[128];

	buf_init(&blob, BLOB_MAX);
	if (cert_backup(&v, name, &blob, &err) != 0 ||
	    seal_open(core->data_key, AAD, strlen(AAD), blob.data + 5, blob.len - 5, &payload,
		      &err) != 0)
		abort();
	snprintf(file, sizeof(file), "payload_%s", name);
	write_file(dirname, file, 0, payload->data, payload->len);
	snprintf(file, sizeof(file), "blob_%s", name);
	write_file(dirname, file, 1, blob.data, blob.len);
	secbuf_free(payload);
	buf_clear(&blob);
	remove_cert(name);
}

static void make_seeds(const char *dirname)
{
	char ver[33];

	certfix_version(&v, "Issued", false, ver);
	certfix_version(&v, "Issued", false, ver);
	certfix_side(&v, "issued", 'r', "a policy record");
	certfix_side(&v, "issued", 'a', "");
	write_seeds(dirname, "issued");
	certfix_version(&v, "pending", true, ver);
	write_seeds(dirname, "pending");
}

static void cleanup(void)
{
	vault_core_close(core);
	fixture_dir_remove(&dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct kl_err err = { 0 };
	const char *seeds = getenv("KLUIS_FUZZ_WRITE_SEEDS");

	(void)argc;
	(void)argv;
	json_util_init();
	log_set_min_level(LOG_LV_ERROR);
	if (fixture_dir_make(&dir) != 0 || (core = fixture_core_open(&dir, 90, &err)) == NULL ||
	    vault_open(core, "default", &v, &err) != 0)
		abort();
	atexit(cleanup);
	if (seeds != NULL)
		make_seeds(seeds);
	return 0;
}

/* The keys of every record of vault default (objects, side records, renewal index, purge
 * schedules) into l. */
static void records(struct key_list *l)
{
	struct kl_err err = { 0 };

	if (store_scan(core->st, "o/default/", 10, NULL, 0, key_list_collect, l, &err) != 0 ||
	    store_scan(core->st, "a/default/", 10, NULL, 0, key_list_collect, l, &err) != 0 ||
	    store_scan(core->st, "p/", 2, NULL, 0, key_list_collect, l, &err) != 0)
		abort();
}

static bool same_records(const struct key_list *a, const struct key_list *b)
{
	size_t i;

	if (a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++)
		if (strcmp(a->keys[i], b->keys[i]) != 0)
			return false;
	return true;
}

/* What restore stored is a certificate: it backs up, is refused while it exists, and once
 * purged its backup restores to the same records. Leaves vault default empty. */
static void round_trip(const struct obj *restored)
{
	struct key_list before = { 0 }, after = { 0 }, empty = { 0 };
	struct kl_err err = { 0 };
	char name[OBJ_NAME_MAX + 1];
	struct buf blob;
	struct obj o;

	buf_init(&blob, 64u * 1024 * 1024);
	obj_init(&o);
	snprintf(name, sizeof(name), "%s", restored->name);
	records(&before);
	if (cert_backup(&v, name, &blob, &err) != 0) {
		fprintf(stderr, "certbackup_fuzz: a restored certificate does not back up: %s\n",
			err.msg);
		abort();
	}
	if (cert_restore(&v, blob.data, blob.len, &o, &err) != -1 || err.code != KL_ECONFLICT)
		abort();	/* restored twice: refused while it exists */
	obj_clear(&o);
	obj_init(&o);
	remove_cert(name);
	if (cert_restore(&v, blob.data, blob.len, &o, &err) != 0) {
		fprintf(stderr, "certbackup_fuzz: a backup of a restored certificate does not "
			"restore: %s\n", err.msg);
		abort();
	}
	records(&after);
	if (!same_records(&before, &after) || strcmp(o.version, restored->version) != 0)
		abort();
	remove_cert(name);
	records(&empty);
	if (empty.n != 0)
		abort();
	obj_clear(&o);
	key_list_clear(&before);
	key_list_clear(&after);
	key_list_clear(&empty);
	buf_clear(&blob);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct key_list l = { 0 };
	struct kl_err err = { 0 };
	struct buf blob;
	struct obj o;
	bool is_client_blob;
	int rc;

	if (size < 1 || size > BLOB_MAX / 2)
		return 0;
	is_client_blob = (data[0] & 1) != 0;
	buf_init(&blob, BLOB_MAX);
	obj_init(&o);
	if (is_client_blob) {
		if (buf_append(&blob, data + 1, size - 1, &err) != 0)
			abort();
	} else if (buf_append(&blob, "KLBK\x02", 5, &err) != 0 ||
		   seal_seal(core->data_key, AAD, strlen(AAD), data + 1, size - 1, &blob, &err) != 0) {
		abort();
	}
	rc = cert_restore(&v, blob.data, blob.len, &o, &err);
	if (rc != 0 && (err.code != KL_EINVAL || strcmp(err.msg, INVALID) != 0)) {
		fprintf(stderr, "certbackup_fuzz: refused with %s: %s\n", kl_errc_name(err.code),
			err.msg);
		abort();
	}
	if (rc == 0 && is_client_blob)
		abort();	/* the seal cannot be forged */
	if (rc == 0)
		round_trip(&o);
	records(&l);
	if (l.n != 0)
		abort();
	key_list_clear(&l);
	obj_clear(&o);
	buf_clear(&blob);
	return 0;
}
