/* The keys and secrets APIs on a certificate's managed key and secret (vault/managed.c and its
 * callers in object.c, backup.c, keys.c, policy.c, list.c): every change is refused with the
 * service's 403 and the object stays as it was; reads, lists and key operations work; deleted
 * lists leave managed objects out while the deleted objects still answer by name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fixture.h"
#include "certfixture.h"
#include "util/rec.h"
#include "vault/certlife.h"
#include "vault/internal.h"
#include "vault/keys.h"
#include "vault/secrets.h"

struct env {
	struct fixture_dir dir;
	struct vault_core *core;
	struct vault v;
	char v1[33], v2[33];	/* the two versions of certificate "web" */
	struct buf plain_blob;	/* a backup of an unmanaged secret also named "web" */
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	struct kl_err err = { 0 };
	struct obj in, out;

	if (e == NULL || fixture_dir_make(&e->dir) != 0 ||
	    (e->core = fixture_core_open(&e->dir, 7, &err)) == NULL ||
	    vault_open(e->core, "default", &e->v, &err) != 0) {
		fprintf(stderr, "setup: %s\n", err.msg);
		return -1;
	}
	*state = e;
	/* before the certificate existed, an ordinary secret of the name was backed up and purged */
	obj_init(&in);
	obj_init(&out);
	in.attrs.enabled = true;
	buf_init(&e->plain_blob, 1u << 20);
	if (obj_create(&e->v, OBJ_SECRET, "web", &in, "plain", 5, &out, &err) != 0 ||
	    obj_backup(&e->v, OBJ_SECRET, "web", &e->plain_blob, &err) != 0)
		return -1;
	obj_clear(&out);
	obj_init(&out);
	if (obj_delete(&e->v, OBJ_SECRET, "web", &out, &err) != 0 ||
	    obj_purge(&e->v, OBJ_SECRET, "web", &err) != 0)
		return -1;
	obj_clear(&out);
	certfix_version(&e->v, "Web", false, e->v1);
	certfix_version(&e->v, "Web", false, e->v2);
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	buf_clear(&e->plain_blob);
	vault_core_close(e->core);
	fixture_dir_remove(&e->dir);
	free(e);
	return 0;
}

static void expect_managed(struct kl_err *err, enum obj_kind k, const char *op)
{
	char msg[192];

	snprintf(msg, sizeof(msg), "Operation \"%s\" is not allowed as this object's lifetime is "
		 "managed by Key Vault.", op);
	assert_int_equal(err->code, KL_EFORBIDDEN);
	assert_non_null(err->azure_code);
	assert_string_equal(err->azure_code, "Forbidden");
	assert_non_null(err->inner_code);
	assert_string_equal(err->inner_code,
			    k == OBJ_KEY ? "KeyManagedByKeyVault" : "SecretManagedByKeyVault");
	assert_string_equal(err->msg, msg);
	kl_err_clear(err);
}

/* The latest version of kind k of "web" is still ver, enabled, managed and untagged. */
static void expect_unchanged(struct env *e, enum obj_kind k, const char *ver)
{
	struct kl_err err = { 0 };
	struct obj o;

	obj_init(&o);
	assert_int_equal(obj_get(&e->v, k, "web", NULL, &o, NULL, &err), 0);
	assert_string_equal(o.version, ver);
	assert_true(o.attrs.enabled && o.managed && !o.has_tags);
	obj_clear(&o);
}

static void test_writes_of_secret_refused(void **state)
{
	struct env *e = *state;
	struct obj_patch patch = { .set_enabled = true, .enabled = false };
	struct kl_err err = { 0 };
	struct buf blob;
	struct obj in, o;

	obj_init(&in);
	obj_init(&o);
	buf_init(&blob, 1u << 20);
	in.attrs.enabled = true;
	assert_int_equal(obj_create(&e->v, OBJ_SECRET, "WEB", &in, "x", 1, &o, &err), -1);
	expect_managed(&err, OBJ_SECRET, "set");
	assert_int_equal(obj_update(&e->v, OBJ_SECRET, "web", NULL, &patch, &o, &err), -1);
	expect_managed(&err, OBJ_SECRET, "update");
	assert_int_equal(obj_update(&e->v, OBJ_SECRET, "web", e->v1, &patch, &o, &err), -1);
	expect_managed(&err, OBJ_SECRET, "update");
	assert_int_equal(obj_delete(&e->v, OBJ_SECRET, "web", &o, &err), -1);
	expect_managed(&err, OBJ_SECRET, "delete");
	assert_int_equal(obj_backup(&e->v, OBJ_SECRET, "web", &blob, &err), -1);
	expect_managed(&err, OBJ_SECRET, "backup");
	assert_int_equal(blob.len, 0);
	/* restoring the old, unmanaged secret over the certificate's name */
	assert_int_equal(obj_restore(&e->v, OBJ_SECRET, e->plain_blob.data, e->plain_blob.len, &o,
				     &err), -1);
	expect_managed(&err, OBJ_SECRET, "restore");
	expect_unchanged(e, OBJ_SECRET, e->v2);
	/* the certificate layer mirrors its attributes onto its secret */
	assert_int_equal(obj_update_managed(&e->v, OBJ_SECRET, "web", e->v1, &patch, &o, &err), 0);
	assert_false(o.attrs.enabled);
	assert_true(o.managed);
	obj_clear(&o);
	obj_init(&o);
	{
		struct secbuf *value = NULL;

		assert_int_equal(secret_get(&e->v, "web", e->v1, &o, &value, &err), -1);
		assert_string_equal(err.inner_code, "SecretDisabled");
		assert_null(value);
	}
	obj_clear(&in);
	buf_clear(&blob);
}

static void test_writes_of_key_refused(void **state)
{
	struct env *e = *state;
	struct obj_patch patch = { .set_enabled = true, .enabled = false };
	struct key_spec spec = { .kty = "EC", .crv = "P-256" };
	struct key_policy pol = { 0 }, pol_out;
	struct kl_err err = { 0 };
	struct key_meta m;
	struct jwk jwk;
	struct buf blob;
	struct obj in, o;

	obj_init(&in);
	obj_init(&o);
	key_meta_init(&m);
	jwk_init(&jwk);
	buf_init(&blob, 1u << 20);
	in.attrs.enabled = true;
	assert_int_equal(key_create(&e->v, "web", &spec, &in, NULL, &o, &m, &err), -1);
	expect_managed(&err, OBJ_KEY, "create");
	snprintf(jwk.kty, sizeof(jwk.kty), "oct");
	assert_int_equal(buf_append(&jwk.k, "0123456789abcdef0123456789abcdef", 32, &err), 0);
	assert_int_equal(key_import(&e->v, "web", &jwk, false, &in, NULL, &o, &m, &err), -1);
	expect_managed(&err, OBJ_KEY, "import");
	assert_int_equal(key_update(&e->v, "web", "", &patch, false, 0, &o, &m, &err), -1);
	expect_managed(&err, OBJ_KEY, "update");
	assert_int_equal(key_update(&e->v, "web", e->v1, &patch, true, 0, &o, &m, &err), -1);
	expect_managed(&err, OBJ_KEY, "update");
	assert_int_equal(key_delete(&e->v, "web", &o, &err), -1);
	expect_managed(&err, OBJ_KEY, "delete");
	assert_int_equal(key_rotate(&e->v, "web", NULL, &o, &m, &err), -1);
	expect_managed(&err, OBJ_KEY, "rotate");
	assert_int_equal(key_policy_set(&e->v, "web", &pol, &pol_out, &err), -1);
	expect_managed(&err, OBJ_KEY, "setrotationpolicy");
	assert_int_equal(key_release(&e->v, "web", "", &err), -1);
	expect_managed(&err, OBJ_KEY, "release");
	assert_int_equal(key_release(&e->v, "web", e->v1, &err), -1);
	expect_managed(&err, OBJ_KEY, "release");
	assert_int_equal(obj_backup(&e->v, OBJ_KEY, "web", &blob, &err), -1);
	expect_managed(&err, OBJ_KEY, "backup");
	expect_unchanged(e, OBJ_KEY, e->v2);
	assert_int_equal(key_policy_get(&e->v, "web", &pol_out, &err), 0);
	assert_false(pol_out.is_set);
	/* release of an ordinary key is still the plain "not supported" */
	assert_int_equal(key_create(&e->v, "plain", &spec, &in, NULL, &o, &m, &err), 0);
	obj_clear(&o);
	assert_int_equal(key_release(&e->v, "plain", "", &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	assert_int_equal(key_release(&e->v, "nothing", "", &err), -1);
	assert_int_equal(err.code, KL_ENOTFOUND);
	obj_clear(&in);
	key_meta_clear(&m);
	jwk_clear(&jwk);
	buf_clear(&blob);
}

static void test_reads_and_key_operations_work(void **state)
{
	struct env *e = *state;
	unsigned char digest[32] = { 1, 2, 3 };
	struct key_op_in kin = { .value = digest, .value_len = sizeof(digest) };
	struct secbuf *value = NULL;
	struct kl_err err = { 0 };
	struct key_op_out kout;
	struct obj_page *page = calloc(1, sizeof(*page));
	struct buf sig;
	char want[CERTFIX_MAX];
	struct obj o;

	assert_non_null(page);
	obj_init(&o);
	assert_int_equal(secret_get(&e->v, "web", e->v1, &o, &value, &err), 0);
	snprintf(want, sizeof(want), "pfx Web %s", e->v1);
	assert_int_equal(value->len, strlen(want));
	assert_memory_equal(value->data, want, strlen(want));
	assert_true(o.managed);
	secbuf_free(value);
	obj_clear(&o);
	assert_int_equal(obj_list(&e->v, OBJ_SECRET, NULL, 25, page, &err), 0);
	assert_int_equal(page->n, 1);
	assert_true(page->items[0].managed);
	assert_int_equal(obj_list_versions(&e->v, OBJ_KEY, "web", NULL, 25, page, &err), 0);
	assert_int_equal(page->n, 2);
	/* sign with the latest key version, verify with it */
	buf_init_secret(&sig, 4096);
	memset(&kout, 0, sizeof(kout));
	kout.out = &sig;
	assert_int_equal(key_operate(&e->v, "web", "", KEY_OP_SIGN, "ES256", &kin, &kout, &o, &err),
			 0);
	assert_string_equal(o.version, e->v2);
	obj_clear(&o);
	kin.signature = sig.data;
	kin.signature_len = sig.len;
	assert_int_equal(key_operate(&e->v, "web", e->v2, KEY_OP_VERIFY, "ES256", &kin, &kout, &o,
				     &err), 0);
	assert_true(kout.valid);
	obj_page_clear(page);
	free(page);
	obj_clear(&o);
	buf_clear(&sig);
}

static void test_deleted_managed_objects(void **state)
{
	struct env *e = *state;
	struct obj_page *page = calloc(1, sizeof(*page));
	struct kl_err err = { 0 };
	struct obj in, o;

	assert_non_null(page);
	obj_init(&in);
	obj_init(&o);
	in.attrs.enabled = true;
	/* an ordinary deleted secret and key, listed as ever */
	assert_int_equal(obj_create(&e->v, OBJ_SECRET, "gone", &in, "g", 1, &o, &err), 0);
	obj_clear(&o);
	assert_int_equal(obj_delete(&e->v, OBJ_SECRET, "gone", &o, &err), 0);
	obj_clear(&o);
	assert_int_equal(cert_delete(&e->v, "web", &o, &err), 0);
	obj_clear(&o);
	/* by name they answer */
	assert_int_equal(secret_get_deleted(&e->v, "web", &o, &err), 0);
	assert_true(o.is_deleted && o.managed);
	assert_string_equal(o.version, e->v2);
	obj_clear(&o);
	assert_int_equal(obj_get_deleted(&e->v, OBJ_KEY, "WEB", &o, &err), 0);
	assert_true(o.is_deleted && o.managed);
	obj_clear(&o);
	/* the lists leave them out */
	assert_int_equal(obj_list_deleted(&e->v, OBJ_SECRET, NULL, 25, page, &err), 0);
	assert_int_equal(page->n, 1);
	assert_string_equal(page->items[0].name, "gone");
	assert_int_equal(obj_list_deleted(&e->v, OBJ_KEY, NULL, 25, page, &err), 0);
	assert_int_equal(page->n, 0);
	assert_int_equal(obj_list_deleted(&e->v, OBJ_CERT, NULL, 25, page, &err), 0);
	assert_int_equal(page->n, 1);
	assert_string_equal(page->items[0].name, "Web");
	/* and no keys or secrets API brings them back or purges them, nor takes the name */
	assert_int_equal(obj_recover(&e->v, OBJ_SECRET, "web", &o, &err), -1);
	expect_managed(&err, OBJ_SECRET, "recover");
	assert_int_equal(obj_recover(&e->v, OBJ_KEY, "web", &o, &err), -1);
	expect_managed(&err, OBJ_KEY, "recover");
	assert_int_equal(obj_purge(&e->v, OBJ_SECRET, "web", &err), -1);
	expect_managed(&err, OBJ_SECRET, "purge");
	assert_int_equal(key_purge(&e->v, "web", &err), -1);
	expect_managed(&err, OBJ_KEY, "purge");
	assert_int_equal(obj_create(&e->v, OBJ_SECRET, "web", &in, "x", 1, &o, &err), -1);
	expect_managed(&err, OBJ_SECRET, "set");
	assert_int_equal(obj_restore(&e->v, OBJ_SECRET, e->plain_blob.data, e->plain_blob.len, &o,
				     &err), -1);
	expect_managed(&err, OBJ_SECRET, "restore");
	assert_int_equal(obj_get_deleted(&e->v, OBJ_SECRET, "web", &o, &err), 0);
	obj_clear(&o);
	/* the certificate's own recovery brings all back */
	assert_int_equal(cert_recover(&e->v, "web", &o, &err), 0);
	obj_clear(&o);
	expect_unchanged(e, OBJ_SECRET, e->v2);
	expect_unchanged(e, OBJ_KEY, e->v2);
	obj_page_clear(page);
	free(page);
	obj_clear(&in);
}

/* A secret backup whose one version is marked managed, sealed under the data key as only a
 * holder of that key could: restore refuses it as managed. */
static void test_restore_of_managed_versions_refused(void **state)
{
	struct env *e = *state;
	const char *ver = "0123456789abcdef0123456789abcdef";
	struct kl_err err = { 0 };
	struct buf payload, rec, blob;
	const char *aad = "kluis/backup/v1/s";
	struct obj o;

	obj_init(&o);
	buf_init_secret(&payload, 1u << 20);
	buf_init_secret(&rec, 1u << 20);
	buf_init(&blob, 1u << 20);
	snprintf(o.version, sizeof(o.version), "%s", ver);
	o.attrs.enabled = true;
	o.managed = true;
	assert_int_equal(version_encode(&o, true, "v", 1, &rec, &err), 0);
	assert_int_equal(rec_put_u8(&payload, 's', &err), 0);
	assert_int_equal(rec_put_str(&payload, "elsewhere", &err), 0);
	assert_int_equal(rec_put_str(&payload, ver, &err), 0);
	assert_int_equal(rec_put_u64(&payload, 1, &err), 0);
	assert_int_equal(rec_put_bytes(&payload, rec.data, rec.len, &err), 0);
	assert_int_equal(buf_append(&blob, "KLBK\x01", 5, &err), 0);
	assert_int_equal(seal_seal(e->core->data_key, aad, strlen(aad), payload.data, payload.len,
				   &blob, &err), 0);
	obj_clear(&o);
	obj_init(&o);
	assert_int_equal(obj_restore(&e->v, OBJ_SECRET, blob.data, blob.len, &o, &err), -1);
	expect_managed(&err, OBJ_SECRET, "restore");
	assert_int_equal(obj_get(&e->v, OBJ_SECRET, "elsewhere", NULL, &o, NULL, &err), -1);
	assert_int_equal(err.code, KL_ENOTFOUND);
	buf_clear(&payload);
	buf_clear(&rec);
	buf_clear(&blob);
}

/* A pending certificate has a key and no secret yet: the secret's name is still the
 * certificate's. */
static void test_pending_certificate_holds_the_secret_name(void **state)
{
	struct env *e = *state;
	struct kl_err err = { 0 };
	struct obj in, o;
	char ver[33];

	obj_init(&in);
	obj_init(&o);
	in.attrs.enabled = true;
	certfix_version(&e->v, "pending", true, ver);
	assert_int_equal(obj_create(&e->v, OBJ_SECRET, "pending", &in, "x", 1, &o, &err), -1);
	expect_managed(&err, OBJ_SECRET, "set");
	assert_int_equal(obj_get(&e->v, OBJ_SECRET, "pending", NULL, &o, NULL, &err), -1);
	assert_int_equal(err.code, KL_ENOTFOUND);
	obj_clear(&in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_writes_of_secret_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writes_of_key_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reads_and_key_operations_work, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deleted_managed_objects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_of_managed_versions_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pending_certificate_holds_the_secret_name, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
