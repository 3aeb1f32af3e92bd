/* vault/certbackup.c on a real LMDB deployment: a certificate's backup brings back, after a
 * purge, the certificate, its key and its secret with their version ids, material and managed
 * flags, and its policy; restore refuses a live or deleted name (as certificate, key or secret),
 * and refuses with the service's one text every blob that is not an intact certificate backup of
 * this deployment: zeros, flipped bytes, cut blobs, key and secret backups, another's blobs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "vault_fixture.h"
#include "certfixture.h"
#include "util/rec.h"
#include "vault/certlife.h"
#include "vault/internal.h"
#include "vault/keys.h"
#include "vault/secrets.h"

#define INVALID "Backup blob contains invalid or corrupt version."

struct env {
	struct fixture_dir dir;
	struct vault_core *core;
	struct vault v;
	char v1[33], v2[33];	/* versions of certificate "Bk" */
	struct buf blob;	/* its backup, made before the purge */
};

static void drop(struct env *e, const char *name)
{
	struct kl_err err = { 0 };
	struct obj o;

	obj_init(&o);
	assert_int_equal(cert_delete(&e->v, name, &o, &err), 0);
	obj_clear(&o);
	assert_int_equal(cert_purge(&e->v, name, &err), 0);
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	struct kl_err err = { 0 };

	if (e == NULL || vault_env_open(&e->dir, &e->core, &e->v, 7) != 0)
		return -1;
	*state = e;
	certfix_version(&e->v, "Bk", false, e->v1);
	certfix_version(&e->v, "Bk", false, e->v2);
	certfix_side(&e->v, "bk", 'r', "the policy record");
	certfix_side(&e->v, "bk", 'q', "an operation");
	certfix_side(&e->v, "bk", 'a', "");
	buf_init(&e->blob, 1u << 22);
	if (cert_backup(&e->v, "BK", &e->blob, &err) != 0) {
		fprintf(stderr, "setup: %s\n", err.msg);
		return -1;
	}
	drop(e, "bk");
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	buf_clear(&e->blob);
	vault_env_close(&e->dir, e->core);
	free(e);
	return 0;
}

static void expect_invalid(struct kl_err *err)
{
	assert_int_equal(err->code, KL_EINVAL);
	assert_string_equal(err->msg, INVALID);
	kl_err_clear(err);
}

/* Nothing of "bk" is in the store. */
static void expect_nothing(struct env *e)
{
	struct key_list l = { 0 };
	struct kl_err err = { 0 };

	assert_int_equal(store_scan(e->core->st, "o/default/", 10, NULL, 0, key_list_collect, &l,
				    &err), 0);
	assert_int_equal(l.n, 0);
	assert_int_equal(store_scan(e->core->st, "a/", 2, NULL, 0, key_list_collect, &l, &err), 0);
	assert_int_equal(l.n, 0);
}

static void expect_secret_value(struct env *e, const char *ver)
{
	struct secbuf *value = NULL;
	struct kl_err err = { 0 };
	char want[CERTFIX_MAX];
	struct obj o;

	obj_init(&o);
	snprintf(want, sizeof(want), "pfx Bk %s", ver);
	assert_int_equal(secret_get(&e->v, "bk", ver, &o, &value, &err), 0);
	assert_true(o.managed);
	assert_string_equal(o.content_type, "application/x-pkcs12");
	assert_int_equal(value->len, strlen(want));
	assert_memory_equal(value->data, want, value->len);
	secbuf_free(value);
	obj_clear(&o);
}

static void test_round_trip(void **state)
{
	struct env *e = *state;
	unsigned char digest[32] = { 9 };
	struct key_op_in kin = { .value = digest, .value_len = sizeof(digest) };
	struct key_op_out kout;
	struct kl_err err = { 0 };
	struct buf sig;
	struct obj o;
	const char *v[2] = { e->v1, e->v2 };
	size_t i;

	obj_init(&o);
	assert_null(memmem(e->blob.data, e->blob.len, "pfx Bk", 6));
	assert_null(memmem(e->blob.data, e->blob.len, "the policy record", 17));
	expect_nothing(e);
	assert_int_equal(cert_restore(&e->v, e->blob.data, e->blob.len, &o, &err), 0);
	assert_string_equal(o.name, "Bk");
	assert_string_equal(o.version, e->v2);
	assert_false(o.managed);
	obj_clear(&o);
	for (i = 0; i < 2; i++) {
		assert_int_equal(obj_get(&e->v, OBJ_CERT, "bk", v[i], &o, NULL, &err), 0);
		obj_clear(&o);
		assert_int_equal(obj_get(&e->v, OBJ_KEY, "bk", v[i], &o, NULL, &err), 0);
		assert_true(o.managed);
		obj_clear(&o);
		expect_secret_value(e, v[i]);
	}
	/* the key's material came back: it signs, and the signature verifies */
	buf_init_secret(&sig, 4096);
	memset(&kout, 0, sizeof(kout));
	kout.out = &sig;
	assert_int_equal(key_operate(&e->v, "bk", e->v1, KEY_OP_SIGN, "ES256", &kin, &kout, &o, &err),
			 0);
	obj_clear(&o);
	kin.signature = sig.data;
	kin.signature_len = sig.len;
	assert_int_equal(key_operate(&e->v, "bk", e->v1, KEY_OP_VERIFY, "ES256", &kin, &kout, &o,
				     &err), 0);
	assert_true(kout.valid);
	obj_clear(&o);
	buf_clear(&sig);
	/* the policy and the renewal index came back; the operation did not travel */
	assert_true(certfix_has_side(&e->v, "bk", 'r'));
	assert_true(certfix_has_side(&e->v, "bk", 'a'));
	assert_false(certfix_has_side(&e->v, "bk", 'q'));
	/* and the restored certificate lives on as one */
	assert_int_equal(obj_delete(&e->v, OBJ_SECRET, "bk", &o, &err), -1);
	assert_int_equal(err.code, KL_EFORBIDDEN);
	drop(e, "bk");
	expect_nothing(e);
}

static void test_restore_refuses_taken_names(void **state)
{
	struct env *e = *state;
	struct kl_err err = { 0 };
	struct obj in, o;
	char want[512], ver[33];
	struct key_spec spec = { .kty = "EC" };
	struct key_meta m;

	obj_init(&in);
	obj_init(&o);
	key_meta_init(&m);
	in.attrs.enabled = true;
	/* live as a certificate */
	assert_int_equal(cert_restore(&e->v, e->blob.data, e->blob.len, &o, &err), 0);
	obj_clear(&o);
	obj_init(&o);
	assert_int_equal(cert_restore(&e->v, e->blob.data, e->blob.len, &o, &err), -1);
	assert_int_equal(err.code, KL_ECONFLICT);
	assert_string_equal(err.azure_code, "Conflict");
	assert_null(err.inner_code);
	snprintf(want, sizeof(want), "There was a conflict restoring the certificate "
		 "'certificates/Bk/%s'. This can happen", e->v2);
	assert_memory_equal(err.msg, want, strlen(want));
	assert_string_equal(o.name, "Bk");
	assert_string_equal(o.version, e->v2);
	obj_clear(&o);
	/* deleted */
	assert_int_equal(cert_delete(&e->v, "bk", &o, &err), 0);
	obj_clear(&o);
	assert_int_equal(cert_restore(&e->v, e->blob.data, e->blob.len, &o, &err), -1);
	assert_int_equal(err.code, KL_ECONFLICT);
	assert_string_equal(err.inner_code, "ObjectIsDeletedButRecoverable");
	assert_string_equal(err.msg, "Certificate Bk is currently in a deleted but recoverable "
			    "state, and its name cannot be reused; in this state, the certificate "
			    "can only be recovered or purged.");
	assert_int_equal(cert_purge(&e->v, "bk", &err), 0);
	/* live as an ordinary secret, then as an ordinary key; deleted as a secret */
	assert_int_equal(obj_create(&e->v, OBJ_SECRET, "bk", &in, "s", 1, &o, &err), 0);
	obj_clear(&o);
	assert_int_equal(cert_restore(&e->v, e->blob.data, e->blob.len, &o, &err), -1);
	assert_int_equal(err.code, KL_ECONFLICT);
	assert_null(err.inner_code);
	obj_clear(&o);
	assert_int_equal(obj_delete(&e->v, OBJ_SECRET, "bk", &o, &err), 0);
	obj_clear(&o);
	assert_int_equal(cert_restore(&e->v, e->blob.data, e->blob.len, &o, &err), -1);
	assert_string_equal(err.inner_code, "ObjectIsDeletedButRecoverable");
	assert_int_equal(obj_purge(&e->v, OBJ_SECRET, "bk", &err), 0);
	assert_int_equal(key_create(&e->v, "bk", &spec, &in, NULL, &o, &m, &err), 0);
	snprintf(ver, sizeof(ver), "%s", o.version);
	obj_clear(&o);
	assert_int_equal(cert_restore(&e->v, e->blob.data, e->blob.len, &o, &err), -1);
	assert_int_equal(err.code, KL_ECONFLICT);
	obj_clear(&o);
	/* the ordinary key was left as it was */
	assert_int_equal(obj_get(&e->v, OBJ_KEY, "bk", NULL, &o, NULL, &err), 0);
	assert_string_equal(o.version, ver);
	assert_false(o.managed);
	obj_clear(&o);
	assert_int_equal(obj_get(&e->v, OBJ_CERT, "bk", NULL, &o, NULL, &err), -1);
	obj_clear(&in);
	key_meta_clear(&m);
}

static void test_restore_refuses_bad_blobs(void **state)
{
	struct env *e = *state;
	struct kl_err err = { 0 };
	struct fixture_dir other_dir;
	struct vault_core *other;
	struct vault ov;
	struct buf zeros, plain_blob, foreign;
	struct obj in, o;
	size_t i;

	obj_init(&in);
	obj_init(&o);
	buf_init(&zeros, 8192);
	buf_init(&plain_blob, 1u << 20);
	buf_init(&foreign, 1u << 22);
	in.attrs.enabled = true;
	/* what the JS test sends: 4,728 zero bytes */
	for (i = 0; i < 4728; i++)
		assert_int_equal(buf_append(&zeros, "", 1, &err), 0);
	assert_int_equal(cert_restore(&e->v, zeros.data, zeros.len, &o, &err), -1);
	expect_invalid(&err);
	assert_int_equal(cert_restore(&e->v, "", 0, &o, &err), -1);
	expect_invalid(&err);
	/* every flipped byte, a cut blob */
	for (i = 0; i < e->blob.len; i += 11) {
		e->blob.data[i] ^= 0x20;
		assert_int_equal(cert_restore(&e->v, e->blob.data, e->blob.len, &o, &err), -1);
		expect_invalid(&err);
		e->blob.data[i] ^= 0x20;
	}
	assert_int_equal(cert_restore(&e->v, e->blob.data, e->blob.len - 1, &o, &err), -1);
	expect_invalid(&err);
	/* a secret's backup is no certificate's, and the certificate's is no secret's or key's */
	assert_int_equal(obj_create(&e->v, OBJ_SECRET, "bk", &in, "s", 1, &o, &err), 0);
	obj_clear(&o);
	assert_int_equal(obj_backup(&e->v, OBJ_SECRET, "bk", &plain_blob, &err), 0);
	assert_int_equal(obj_delete(&e->v, OBJ_SECRET, "bk", &o, &err), 0);
	obj_clear(&o);
	assert_int_equal(obj_purge(&e->v, OBJ_SECRET, "bk", &err), 0);
	assert_int_equal(cert_restore(&e->v, plain_blob.data, plain_blob.len, &o, &err), -1);
	expect_invalid(&err);
	assert_int_equal(obj_restore(&e->v, OBJ_SECRET, e->blob.data, e->blob.len, &o, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	assert_int_equal(obj_restore(&e->v, OBJ_KEY, e->blob.data, e->blob.len, &o, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	assert_int_equal(obj_restore(&e->v, OBJ_CERT, e->blob.data, e->blob.len, &o, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	expect_nothing(e);
	/* another deployment's backup of a certificate of the same name */
	assert_int_equal(fixture_dir_make(&other_dir), 0);
	assert_non_null(other = fixture_core_open(&other_dir, 7, &err));
	assert_int_equal(vault_open(other, "default", &ov, &err), 0);
	{
		char ver[33];

		certfix_version(&ov, "Bk", false, ver);
	}
	assert_int_equal(cert_backup(&ov, "bk", &foreign, &err), 0);
	vault_core_close(other);
	fixture_dir_remove(&other_dir);
	assert_int_equal(cert_restore(&e->v, foreign.data, foreign.len, &o, &err), -1);
	expect_invalid(&err);
	expect_nothing(e);
	/* the intact blob still works after all that */
	assert_int_equal(cert_restore(&e->v, e->blob.data, e->blob.len, &o, &err), 0);
	assert_string_equal(o.version, e->v2);
	obj_clear(&o);
	obj_clear(&in);
	buf_clear(&zeros);
	buf_clear(&plain_blob);
	buf_clear(&foreign);
}

static void test_backup_of_missing_and_pending(void **state)
{
	struct env *e = *state;
	struct kl_err err = { 0 };
	struct buf blob;
	struct obj o;
	char ver[33];

	obj_init(&o);
	buf_init(&blob, 1u << 22);
	assert_int_equal(cert_backup(&e->v, "bk", &blob, &err), -1);
	assert_int_equal(err.code, KL_ENOTFOUND);
	assert_string_equal(err.azure_code, "CertificateNotFound");
	assert_int_equal(cert_backup(&e->v, "no_such", &blob, &err), -1);
	assert_int_equal(err.code, KL_ENOTFOUND);
	assert_int_equal(blob.len, 0);
	/* a certificate still pending: its key and no secret, as they were */
	certfix_version(&e->v, "wait", true, ver);
	assert_int_equal(cert_backup(&e->v, "wait", &blob, &err), 0);
	assert_int_equal(cert_delete(&e->v, "wait", &o, &err), 0);
	obj_clear(&o);
	assert_int_equal(cert_backup(&e->v, "wait", &blob, &err), -1);	/* deleted */
	assert_int_equal(err.code, KL_ENOTFOUND);
	assert_int_equal(cert_purge(&e->v, "wait", &err), 0);
	assert_int_equal(cert_restore(&e->v, blob.data, blob.len, &o, &err), 0);
	assert_string_equal(o.version, ver);
	obj_clear(&o);
	assert_int_equal(obj_get(&e->v, OBJ_KEY, "wait", ver, &o, NULL, &err), 0);
	obj_clear(&o);
	assert_int_equal(obj_get(&e->v, OBJ_SECRET, "wait", NULL, &o, NULL, &err), -1);
	assert_int_equal(err.code, KL_ENOTFOUND);
	buf_clear(&blob);
}

/* ---- payloads that pass the seal, as only a holder of the data key could make ---- */

enum forgery { FORGE_VALID, FORGE_UNMANAGED_KEY, FORGE_LATEST_MISSING, FORGE_TRAILING,
	       FORGE_OTHER_LATEST, FORGE_BAD_NAME };

static void put_version(struct buf *payload, const char *ver, bool managed, const struct buf *pub)
{
	struct kl_err err = { 0 };
	struct buf rec;
	struct obj o;

	obj_init(&o);
	buf_init_secret(&rec, 1u << 20);
	snprintf(o.version, sizeof(o.version), "%s", ver);
	o.attrs.enabled = true;
	o.managed = managed;
	assert_int_equal(buf_append(&o.pub, pub->data, pub->len, &err), 0);
	assert_int_equal(version_encode(&o, true, "material", 8, &rec, &err), 0);
	assert_int_equal(rec_put_bytes(payload, rec.data, rec.len, &err), 0);
	obj_clear(&o);
	buf_clear(&rec);
}

/* A certificate "Fg" with one version and its key (no secret), sealed into blob; f spoils it. */
static void forge(struct env *e, enum forgery f, struct buf *blob)
{
	const char *ver = "00112233445566778899aabbccddeeff";
	const char *other = "ffeeddccbbaa99887766554433221100";
	const char *aad = "kluis/backup/v2/certificate";
	struct key_spec spec = { .kty = "EC" };
	struct kl_err err = { 0 };
	struct key_meta m;
	struct buf payload;
	struct obj in, k;

	key_meta_init(&m);
	obj_init(&in);
	obj_init(&k);
	buf_init_secret(&payload, 1u << 20);
	in.attrs.enabled = true;
	assert_int_equal(key_create(&e->v, "forge-src", &spec, &in, NULL, &k, &m, &err), 0);
	assert_int_equal(rec_put_u8(&payload, 'c', &err), 0);
	assert_int_equal(rec_put_str(&payload, f == FORGE_BAD_NAME ? "F_g" : "Fg", &err), 0);
	assert_int_equal(rec_put_str(&payload, f == FORGE_OTHER_LATEST ? other : ver, &err), 0);
	assert_int_equal(rec_put_u8(&payload, 1, &err), 0);
	assert_int_equal(rec_put_bytes(&payload, "policy", 6, &err), 0);
	assert_int_equal(rec_put_u8(&payload, 0, &err), 0);
	assert_int_equal(rec_put_bytes(&payload, "", 0, &err), 0);
	assert_int_equal(rec_put_u8(&payload, 'c', &err), 0);
	assert_int_equal(rec_put_u8(&payload, 1, &err), 0);
	assert_int_equal(rec_put_str(&payload, ver, &err), 0);
	assert_int_equal(rec_put_u64(&payload, 1, &err), 0);
	put_version(&payload, f == FORGE_LATEST_MISSING ? other : ver, false, &k.pub);
	assert_int_equal(rec_put_u8(&payload, 'k', &err), 0);
	assert_int_equal(rec_put_u8(&payload, 1, &err), 0);
	assert_int_equal(rec_put_str(&payload, ver, &err), 0);
	assert_int_equal(rec_put_u64(&payload, 1, &err), 0);
	put_version(&payload, ver, f != FORGE_UNMANAGED_KEY, &k.pub);
	assert_int_equal(rec_put_u8(&payload, 's', &err), 0);
	assert_int_equal(rec_put_u8(&payload, 0, &err), 0);
	if (f == FORGE_TRAILING)
		assert_int_equal(rec_put_u8(&payload, 0, &err), 0);
	buf_reset(blob);
	assert_int_equal(buf_append(blob, "KLBK\x02", 5, &err), 0);
	assert_int_equal(seal_seal(e->core->data_key, aad, strlen(aad), payload.data, payload.len,
				   blob, &err), 0);
	obj_clear(&k);
	obj_init(&k);
	assert_int_equal(key_delete(&e->v, "forge-src", &k, &err), 0);
	assert_int_equal(key_purge(&e->v, "forge-src", &err), 0);
	obj_clear(&in);
	obj_clear(&k);
	key_meta_clear(&m);
	buf_clear(&payload);
}

static void test_restore_refuses_forged_payloads(void **state)
{
	struct env *e = *state;
	enum forgery bad[] = { FORGE_UNMANAGED_KEY, FORGE_LATEST_MISSING, FORGE_TRAILING,
			       FORGE_OTHER_LATEST, FORGE_BAD_NAME };
	struct kl_err err = { 0 };
	struct buf blob;
	struct obj o;
	size_t i;

	obj_init(&o);
	buf_init(&blob, 1u << 20);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		forge(e, bad[i], &blob);
		assert_int_equal(cert_restore(&e->v, blob.data, blob.len, &o, &err), -1);
		expect_invalid(&err);
		expect_nothing(e);
	}
	/* the same forgery unspoilt restores: the refusals above are the spoiling's */
	forge(e, FORGE_VALID, &blob);
	assert_int_equal(cert_restore(&e->v, blob.data, blob.len, &o, &err), 0);
	assert_string_equal(o.name, "Fg");
	obj_clear(&o);
	assert_true(certfix_has_side(&e->v, "fg", 'r'));
	assert_false(certfix_has_side(&e->v, "fg", 'a'));
	buf_clear(&blob);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_refuses_taken_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_refuses_bad_blobs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backup_of_missing_and_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_refuses_forged_payloads, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
