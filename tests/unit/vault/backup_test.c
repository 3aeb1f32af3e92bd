/* vault/backup.c against payloads that pass the seal: a key version whose description does not
 * parse is refused by restore instead of being stored, where every later GET of the key answered
 * 500 (found by tests/fuzz/backup_fuzz.c, which seals fuzzed payloads under the data key as only
 * a holder of that key could). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "crypto/seal.h"
#include "fixture.h"
#include "util/json.h"
#include "util/rec.h"
#include "vault/internal.h"
#include "vault/keys.h"

#define AAD_KEY "kluis/backup/v1/"	/* + the kind's tag, as vault/backup.c */

struct env {
	struct fixture_dir dir;
	struct vault_core *core;
	struct vault v;
	struct buf blob;	/* a backup of key "k" */
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	struct key_spec spec = { .kty = "EC", .crv = "P-256" };
	struct kl_err err = { 0 };
	struct key_meta m;
	struct obj in, out;

	if (e == NULL || fixture_dir_make(&e->dir) != 0 ||
	    (e->core = fixture_core_open(&e->dir, 7, &err)) == NULL ||
	    vault_open(e->core, "default", &e->v, &err) != 0)
		return -1;
	key_meta_init(&m);
	obj_init(&in);
	obj_init(&out);
	in.attrs.enabled = true;
	buf_init(&e->blob, 1024 * 1024);
	if (key_create(&e->v, "k", &spec, &in, NULL, &out, &m, &err) != 0 ||
	    obj_backup(&e->v, OBJ_KEY, "k", &e->blob, &err) != 0) {
		fprintf(stderr, "setup: %s\n", err.msg);
		return -1;
	}
	obj_clear(&out);
	obj_init(&out);
	if (key_delete(&e->v, "k", &out, &err) != 0 || key_purge(&e->v, "k", &err) != 0) {
		fprintf(stderr, "setup: %s\n", err.msg);
		return -1;
	}
	obj_clear(&in);
	obj_clear(&out);
	key_meta_clear(&m);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	buf_clear(&e->blob);
	vault_core_close(e->core);
	fixture_dir_remove(&e->dir);
	free(e);
	return 0;
}

/* e's backup with the description (pub) of its one version cut short by a byte, sealed again
 * under the data key into out. */
static void forge_damaged_description(struct env *e, struct buf *out)
{
	char aad[32];
	struct kl_err err = { 0 };
	struct secbuf *payload = NULL;
	struct rec_reader rd;
	struct buf rebuilt, rec;
	const unsigned char *vrec, *m;
	size_t vrec_len, m_len;
	char *display, *latest;
	bool has_m;
	struct obj o;

	snprintf(aad, sizeof(aad), AAD_KEY "%c", obj_kinds[OBJ_KEY].tag);
	assert_int_equal(seal_open(e->core->data_key, aad, strlen(aad), e->blob.data + 5,
				   e->blob.len - 5, &payload, &err), 0);
	rec_reader_init(&rd, payload->data, payload->len);
	assert_int_equal(rec_get_u8(&rd), (uint8_t)obj_kinds[OBJ_KEY].tag);
	display = rec_get_str(&rd);
	latest = rec_get_str(&rd);
	assert_int_equal(rec_get_u64(&rd), 1);
	assert_non_null(vrec = rec_get_bytes(&rd, &vrec_len));
	assert_true(rec_done(&rd));
	obj_init(&o);
	assert_int_equal(version_decode(vrec, vrec_len, &o, &has_m, &m, &m_len, &err), 0);
	assert_true(o.pub.len > 1);
	buf_truncate(&o.pub, o.pub.len - 1);
	buf_init_secret(&rec, 1024 * 1024);
	buf_init_secret(&rebuilt, 1024 * 1024);
	assert_int_equal(version_encode(&o, has_m, m, m_len, &rec, &err), 0);
	assert_int_equal(rec_put_u8(&rebuilt, (uint8_t)obj_kinds[OBJ_KEY].tag, &err), 0);
	assert_int_equal(rec_put_str(&rebuilt, display, &err), 0);
	assert_int_equal(rec_put_str(&rebuilt, latest, &err), 0);
	assert_int_equal(rec_put_u64(&rebuilt, 1, &err), 0);
	assert_int_equal(rec_put_bytes(&rebuilt, rec.data, rec.len, &err), 0);
	assert_int_equal(buf_append(out, e->blob.data, 5, &err), 0);	/* magic, format */
	assert_int_equal(seal_seal(e->core->data_key, aad, strlen(aad), rebuilt.data, rebuilt.len,
				   out, &err), 0);
	obj_clear(&o);
	buf_clear(&rec);
	buf_clear(&rebuilt);
	free(display);
	free(latest);
	secbuf_free(payload);
}

static void test_restore_refuses_a_key_it_could_not_serve(void **state)
{
	struct env *e = *state;
	struct kl_err err = { 0 };
	struct buf forged;
	struct obj o;

	buf_init(&forged, 1024 * 1024);
	forge_damaged_description(e, &forged);
	obj_init(&o);
	assert_int_equal(obj_restore(&e->v, OBJ_KEY, forged.data, forged.len, &o, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	assert_int_equal(obj_get(&e->v, OBJ_KEY, "k", NULL, &o, NULL, &err), -1);
	assert_int_equal(err.code, KL_ENOTFOUND);	/* nothing was stored */
	/* The backup it was forged from restores, so the refusal is the description's. */
	assert_int_equal(obj_restore(&e->v, OBJ_KEY, e->blob.data, e->blob.len, &o, &err), 0);
	obj_clear(&o);
	buf_clear(&forged);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_restore_refuses_a_key_it_could_not_serve, setup,
						teardown),
	};

	json_util_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
