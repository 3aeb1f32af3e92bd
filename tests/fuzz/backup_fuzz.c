/* libFuzzer target: restore of secret and key backups (POST /secrets/restore, /keys/restore), the
 * one place where the server parses a binary format a client brings back. The first input byte:
 *   bit 0  the kind restored: 0 secret, 1 key
 *   bit 1  0: the rest is a backup payload, sealed here under the deployment's data key as
 *             obj_backup seals it, so the fuzzer reaches the parser behind the seal (as only an
 *             attacker holding the data key could); 1: the rest is a blob as a client sends it
 *   bit 2  seal with the other kind's additional data (a secret backup presented as a key's)
 * What must hold: a client's blob (bit 1) and a blob sealed for the other kind (bit 2) are refused
 * with 400 and an Azure error body, whatever they hold (the seal cannot be forged), and store
 * nothing. A sealed payload may be refused (400, 409) or restored; whatever restore stored backs
 * up again (vault layer), is refused while it exists (a backup restored twice), and once purged
 * restores again with the same versions. Only a holder of the data key can present a payload
 * whose restored object does not render (say, tags that are not UTF-8): its answer may be a 5xx,
 * never a crash. Vault default is empty between inputs.
 *
 * Seeds: KLUIS_FUZZ_WRITE_SEEDS=DIR ./backup_fuzz -runs=0 writes, for objects made in a fresh
 * deployment (a secret of two versions, EC, RSA and oct keys, a rotated key), the opened payloads
 * (flag 0/1) and the blobs themselves (flag 2/3: from another deployment once the run ends). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "api_drive.h"
#include "crypto/seal.h"
#include "fixture.h"
#include "util/b64url.h"
#include "util/json.h"
#include "util/log.h"
#include "util/rec.h"
#include "vault/internal.h"
#include "vault/keys.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define BLOB_MAX (1024u * 1024)

static struct fixture_dir dir;
static struct vault_core *core;
static struct api_ctx *api;
static char bearer[160];

/* One admin request to vault default; returns the status, the body in *out when asked. */
static int call(const char *method, const char *path, const void *body, size_t len, json_t **out)
{
	const struct api_drive_req d = { .method = method, .host = "default.vault.localhost",
					 .path = path, .api_version = "7.6",
					 .authorization = bearer, .body = body, .body_len = len };
	struct kl_err err = { 0 };
	int status = api_drive_status(api, &d, out, &err);

	if (status < 0)
		abort();
	return status;
}

static void must(int got, int want, const char *what)
{
	if (got != want) {
		fprintf(stderr, "backup_fuzz: %s: %d, not %d\n", what, got, want);
		abort();
	}
}

static void aad_of(char out[32], enum obj_kind kind)
{
	snprintf(out, 32, "kluis/backup/v1/%c", obj_kinds[kind].tag);	/* as vault/backup.c */
}

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

/* Backs name up and writes its payload and its blob as seeds. */
static void write_seeds(const char *dirname, struct vault *v, enum obj_kind kind, const char *name)
{
	struct kl_err err = { 0 };
	struct secbuf *payload = NULL;
	struct buf blob;
	char aad[32], file[128];

	buf_init(&blob, BLOB_MAX);
	aad_of(aad, kind);
	if (obj_backup(v, kind, name, &blob, &err) != 0 ||
	    seal_open(core->data_key, aad, strlen(aad), blob.data + 5, blob.len - 5, &payload,
		      &err) != 0)
		abort();
	snprintf(file, sizeof(file), "payload_%s", name);
	write_file(dirname, file, (uint8_t)kind, payload->data, payload->len);
	snprintf(file, sizeof(file), "blob_%s", name);
	write_file(dirname, file, (uint8_t)(2 | kind), blob.data, blob.len);
	secbuf_free(payload);
	buf_clear(&blob);
}

static void make_seeds(const char *dirname)
{
	static const struct {
		const char *path, *body;
	} objs[] = {
		{ "/secrets/sec", "{\"value\":\"one\"}" },
		{ "/secrets/sec", "{\"value\":\"two\",\"contentType\":\"text/plain\",\"tags\":{\"a\":"
				  "\"b\"},\"attributes\":{\"exp\":4000000000,\"nbf\":1}}" },
		{ "/keys/ec/create", "{\"kty\":\"EC\",\"crv\":\"P-256\",\"key_ops\":[\"sign\"]}" },
		{ "/keys/ec/rotate", NULL },
		{ "/keys/rsa/create", "{\"kty\":\"RSA\",\"key_size\":2048}" },
		{ "/keys/oct/create", "{\"kty\":\"oct\",\"key_size\":256,\"tags\":{\"t\":\"1\"}}" },
	};
	struct kl_err err = { 0 };
	struct vault v;
	size_t i;

	for (i = 0; i < sizeof(objs) / sizeof(objs[0]); i++)
		must(call(objs[i].path[1] == 's' ? "PUT" : "POST", objs[i].path, objs[i].body,
			  objs[i].body ? strlen(objs[i].body) : 0, NULL), 200, objs[i].path);
	if (vault_open(core, "default", &v, &err) != 0)
		abort();
	write_seeds(dirname, &v, OBJ_SECRET, "sec");
	write_seeds(dirname, &v, OBJ_KEY, "ec");
	write_seeds(dirname, &v, OBJ_KEY, "rsa");
	write_seeds(dirname, &v, OBJ_KEY, "oct");
	for (i = 0; i < sizeof(objs) / sizeof(objs[0]); i++) {	/* leave vault default empty */
		char path[64];
		const char *kind = objs[i].path[1] == 's' ? "secrets" : "keys";
		const char *name = strchr(objs[i].path + 1, '/') + 1;
		size_t n = strcspn(name, "/");

		snprintf(path, sizeof(path), "/%s/%.*s", kind, (int)n, name);
		if (call("DELETE", path, NULL, 0, NULL) == 200) {
			snprintf(path, sizeof(path), "/deleted%s/%.*s", kind, (int)n, name);
			must(call("DELETE", path, NULL, 0, NULL), 204, "purge");
		}
	}
}

static void cleanup(void)
{
	api_ctx_free(api);
	vault_core_close(core);
	fixture_dir_remove(&dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct api_config cfg = { .dns_suffix = "vault.localhost", .default_vault = "default" };
	struct kl_err err = { 0 };
	const char *seeds = getenv("KLUIS_FUZZ_WRITE_SEEDS");
	char token[128];

	(void)argc;
	(void)argv;
	json_util_init();
	log_set_min_level(LOG_LV_ERROR);
	if (fixture_dir_make(&dir) != 0 || (core = fixture_core_open(&dir, 90, &err)) == NULL ||
	    (api = api_ctx_new(&cfg, core, &err)) == NULL ||
	    fixture_admin_token(&dir, token, sizeof(token)) != 0)
		abort();
	snprintf(bearer, sizeof(bearer), "Bearer %s", token);
	atexit(cleanup);
	if (seeds != NULL)
		make_seeds(seeds);
	return 0;
}

/* Restores blob through the API as a client would: the status, the body in *out. */
static int restore(enum obj_kind kind, const struct buf *blob, json_t **out)
{
	struct kl_err err = { 0 };
	struct buf body;
	int status;

	buf_init(&body, BLOB_MAX * 2);
	if (buf_append_str(&body, "{\"value\":\"", &err) != 0 ||
	    b64url_encode(blob->data, blob->len, &body, &err) != 0 ||
	    buf_append_str(&body, "\"}", &err) != 0)
		abort();
	status = call("POST", kind == OBJ_SECRET ? "/secrets/restore" : "/keys/restore", body.data,
		      body.len, out);
	buf_clear(&body);
	return status;
}

/* The name of the one live object of kind in vault default, or false when there is none. */
static bool live_name(enum obj_kind kind, char name[OBJ_NAME_MAX + 1])
{
	struct kl_err err = { 0 };
	struct obj_page *p = calloc(1, sizeof(*p));
	struct vault v;
	bool found;

	if (p == NULL || vault_open(core, "default", &v, &err) != 0 ||
	    obj_list(&v, kind, "", OBJ_PAGE_MAX, p, &err) != 0 || p->n > 1)
		abort();
	found = p->n == 1;
	if (found)
		snprintf(name, OBJ_NAME_MAX + 1, "%s", p->items[0].name);
	obj_page_clear(p);
	free(p);
	return found;
}

/* Deletes and purges name in the vault layer, which renders nothing and so cannot fail on what
 * a payload held. */
static void remove_object(struct vault *v, enum obj_kind kind, const char *name)
{
	struct kl_err err = { 0 };
	struct obj o;

	int rc;

	obj_init(&o);
	if (kind == OBJ_KEY)
		rc = key_delete(v, name, &o, &err) != 0 || key_purge(v, name, &err) != 0;
	else
		rc = obj_delete(v, kind, name, &o, &err) != 0 || obj_purge(v, kind, name, &err) != 0;
	if (rc != 0) {
		fprintf(stderr, "backup_fuzz: cannot remove %s: %s\n", name, err.msg);
		abort();
	}
	obj_clear(&o);
}

/* What restore stored backs up again, and that backup restores once the name is purged, to the
 * same versions: the format reads back what it writes. Leaves vault default empty. */
static void round_trip(enum obj_kind kind, const char *name)
{
	struct kl_err err = { 0 };
	struct obj_page *before = calloc(1, sizeof(*before)), *after = calloc(1, sizeof(*after));
	struct buf blob;
	struct obj o;
	struct vault v;
	size_t i;

	buf_init(&blob, 64u * 1024 * 1024);
	obj_init(&o);
	if (before == NULL || after == NULL || vault_open(core, "default", &v, &err) != 0)
		abort();
	if (obj_list_versions(&v, kind, name, "", OBJ_PAGE_MAX, before, &err) != 0 ||
	    obj_backup(&v, kind, name, &blob, &err) != 0) {
		fprintf(stderr, "backup_fuzz: a restored object does not back up: %s\n", err.msg);
		abort();
	}
	if (obj_restore(&v, kind, blob.data, blob.len, &o, &err) != -1 || err.code != KL_ECONFLICT)
		abort();	/* restored twice: refused while it exists */
	remove_object(&v, kind, name);
	obj_clear(&o);
	obj_init(&o);
	if (obj_restore(&v, kind, blob.data, blob.len, &o, &err) != 0 ||
	    obj_list_versions(&v, kind, name, "", OBJ_PAGE_MAX, after, &err) != 0 ||
	    after->n != before->n) {
		fprintf(stderr, "backup_fuzz: a backup of a restored object does not restore: %s\n",
			err.msg);
		abort();
	}
	for (i = 0; i < after->n; i++)
		if (strcmp(after->items[i].version, before->items[i].version) != 0)
			abort();
	remove_object(&v, kind, name);
	obj_clear(&o);
	obj_page_clear(before);
	obj_page_clear(after);
	free(before);
	free(after);
	buf_clear(&blob);
}

/* Between inputs vault default holds nothing, live or deleted. */
static void check_empty(void)
{
	struct kl_err err = { 0 };
	struct obj_page *p = calloc(1, sizeof(*p));
	struct vault v;
	int k;

	if (p == NULL || vault_open(core, "default", &v, &err) != 0)
		abort();
	for (k = OBJ_SECRET; k <= OBJ_KEY; k++) {
		if (obj_list(&v, (enum obj_kind)k, "", 1, p, &err) != 0 || p->n != 0)
			abort();
		obj_page_clear(p);
		if (obj_list_deleted(&v, (enum obj_kind)k, "", 1, p, &err) != 0 || p->n != 0)
			abort();
		obj_page_clear(p);
	}
	free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum obj_kind kind;
	struct kl_err err = { 0 };
	struct buf blob;
	json_t *j = NULL;
	char aad[32], name[OBJ_NAME_MAX + 1];
	const char *code;
	bool is_client_blob;
	int status;

	if (size < 1 || size > BLOB_MAX / 2)
		return 0;
	kind = (data[0] & 1) ? OBJ_KEY : OBJ_SECRET;
	is_client_blob = (data[0] & 6) != 0;
	buf_init(&blob, BLOB_MAX);
	if (data[0] & 2) {
		if (buf_append(&blob, data + 1, size - 1, &err) != 0)
			abort();
	} else {
		aad_of(aad, (data[0] & 4) ? (kind == OBJ_KEY ? OBJ_SECRET : OBJ_KEY) : kind);
		if (buf_append(&blob, "KLBK\x01", 5, &err) != 0 ||
		    seal_seal(core->data_key, aad, strlen(aad), data + 1, size - 1, &blob, &err) != 0)
			abort();
	}
	status = restore(kind, &blob, &j);
	code = json_string_value(json_object_get(json_object_get(j, "error"), "code"));
	if (status == 429) {
		/* The throttle (api/throttle.h) refused before restore ran: nothing to judge. */
	} else if (is_client_blob) {
		/* What a client can send: refused as its fault, with an Azure error, storing nothing. */
		if (status != 400 || code == NULL) {
			fprintf(stderr, "backup_fuzz: a blob kluis did not seal got %d (%s)\n", status,
				code ? code : "no error body");
			abort();
		}
	} else if (status != 200 && status != 400 && status != 409) {
		/* Only a holder of the data key gets here. The object may be stored yet not render
		 * (tags or a content type that are not UTF-8): not a client's concern, and not a
		 * crash; what was stored must still round-trip below. */
		if (code == NULL && status < 500)
			abort();
	} else if (status >= 400 && code == NULL) {
		abort();
	}
	json_decref(j);
	if (live_name(kind, name))
		round_trip(kind, name);
	check_empty();
	buf_clear(&blob);
	return 0;
}
