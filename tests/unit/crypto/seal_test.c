/* crypto/seal: round trips, the blob format (checked with OpenSSL directly), tampering at every
 * byte, truncation, wrong aad/key/master, and the master key file's creation and refusals. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "crypto/seal.h"

struct fixture {
	char dir[64];
	char path[128];
	struct seal_key *master;
	struct seal_key *dk;
	struct buf sealed;
	const char *aad;
	const char *aad_other;
};

static const char plain_text[] = "the secret value \x00 with a NUL and more bytes after it";

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct kl_err err = { 0 };

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/kluis-seal-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/master.key", f->dir);
	f->aad = "s/default/secret-a/0123";
	f->aad_other = "s/default/secret-b/0123";
	buf_init(&f->sealed, 4096);
	if ((f->master = seal_master_load(f->path, 1, &err)) == NULL ||
	    (f->dk = seal_key_generate(&err)) == NULL ||
	    seal_seal(f->dk, f->aad, strlen(f->aad), plain_text, sizeof(plain_text), &f->sealed,
		      &err) != 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	seal_key_free(f->master);
	seal_key_free(f->dk);
	buf_clear(&f->sealed);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static void assert_refused(const struct seal_key *k, const char *aad, const void *sealed,
			   size_t len)
{
	struct secbuf *plain = NULL;
	struct kl_err err = { 0 };

	assert_int_equal(seal_open(k, aad, strlen(aad), sealed, len, &plain, &err), -1);
	assert_null(plain);
	assert_int_equal(err.code, KL_ECORRUPT);
	assert_string_equal(err.msg, "sealed record failed authentication");
}

static void test_round_trip(void **state)
{
	struct fixture *f = *state;
	struct secbuf *plain = NULL;
	struct kl_err err = { 0 };

	assert_int_equal(seal_open(f->dk, f->aad, strlen(f->aad), f->sealed.data, f->sealed.len,
				   &plain, &err),
			 0);
	assert_int_equal(plain->len, sizeof(plain_text));
	assert_memory_equal(plain->data, plain_text, sizeof(plain_text));
	assert_int_equal(plain->data[plain->len], '\0');
	secbuf_free(plain);
}

static void test_empty_value_and_empty_aad(void **state)
{
	struct fixture *f = *state;
	struct secbuf *plain = NULL;
	struct kl_err err = { 0 };
	struct buf b;

	buf_init(&b, 100);
	assert_int_equal(seal_seal(f->dk, NULL, 0, NULL, 0, &b, &err), 0);
	assert_int_equal(b.len, 1 + 12 + 16);
	assert_int_equal(seal_open(f->dk, NULL, 0, b.data, b.len, &plain, &err), 0);
	assert_int_equal(plain->len, 0);
	secbuf_free(plain);
	assert_refused(f->dk, "x", b.data, b.len);
	buf_clear(&b);
}

static void test_format_and_fresh_nonces(void **state)
{
	struct fixture *f = *state;
	struct kl_err err = { 0 };
	struct buf again;

	assert_int_equal(f->sealed.len, 1 + 12 + sizeof(plain_text) + 16);
	assert_int_equal(f->sealed.data[0], 0x01);
	buf_init(&again, 4096);
	assert_int_equal(seal_seal(f->dk, f->aad, strlen(f->aad), plain_text, sizeof(plain_text),
				   &again, &err),
			 0);
	assert_int_equal(again.len, f->sealed.len);
	assert_memory_not_equal(again.data + 1, f->sealed.data + 1, 12);	/* nonce */
	assert_memory_not_equal(again.data + 13, f->sealed.data + 13, sizeof(plain_text));
	buf_clear(&again);
}

static void test_tampered_byte_at_every_position(void **state)
{
	struct fixture *f = *state;
	unsigned char *copy = malloc(f->sealed.len);
	size_t i;
	int bit;

	assert_non_null(copy);
	for (i = 0; i < f->sealed.len; i++) {
		for (bit = 0; bit < 8; bit += 7) {
			memcpy(copy, f->sealed.data, f->sealed.len);
			copy[i] ^= (unsigned char)(1u << bit);
			assert_refused(f->dk, f->aad, copy, f->sealed.len);
		}
	}
	free(copy);
}

static void test_truncated_at_every_length(void **state)
{
	struct fixture *f = *state;
	size_t len;

	for (len = 0; len < f->sealed.len; len++)
		assert_refused(f->dk, f->aad, f->sealed.data, len);
}

static void test_extended_is_refused(void **state)
{
	struct fixture *f = *state;
	struct kl_err err = { 0 };
	struct buf b;

	buf_init(&b, 4096);
	assert_int_equal(buf_append(&b, f->sealed.data, f->sealed.len, &err), 0);
	assert_int_equal(buf_putc(&b, 0, &err), 0);
	assert_refused(f->dk, f->aad, b.data, b.len);
	buf_clear(&b);
}

static void test_open_refuses_record_moved_to_other_key(void **state)
{
	struct fixture *f = *state;

	assert_refused(f->dk, f->aad_other, f->sealed.data, f->sealed.len);
	assert_refused(f->dk, "", f->sealed.data, f->sealed.len);
}

static void test_wrong_key_refused(void **state)
{
	struct fixture *f = *state;
	struct kl_err err = { 0 };
	struct seal_key *other = seal_key_generate(&err);

	assert_non_null(other);
	assert_refused(other, f->aad, f->sealed.data, f->sealed.len);
	assert_refused(f->master, f->aad, f->sealed.data, f->sealed.len);
	seal_key_free(other);
}

static void test_wrap_unwrap_round_trip(void **state)
{
	struct fixture *f = *state;
	struct seal_key *dk2 = NULL;
	struct secbuf *plain = NULL;
	struct kl_err err = { 0 };
	struct buf wrapped;

	buf_init(&wrapped, 4096);
	assert_int_equal(seal_key_wrap(f->master, f->dk, &wrapped, &err), 0);
	/* Format 2: 0x02, the master key's 8-byte id, then a sealed record of the 32 key bytes. */
	assert_int_equal(wrapped.len, 1 + 8 + 1 + 12 + 32 + 16);
	assert_int_equal(wrapped.data[0], 0x02);
	assert_int_equal(wrapped.data[9], 0x01);
	dk2 = seal_key_unwrap(f->master, wrapped.data, wrapped.len, &err);
	assert_non_null(dk2);
	/* The unwrapped key opens what the original sealed. */
	assert_int_equal(seal_open(dk2, f->aad, strlen(f->aad), f->sealed.data, f->sealed.len,
				   &plain, &err),
			 0);
	assert_memory_equal(plain->data, plain_text, sizeof(plain_text));
	secbuf_free(plain);
	seal_key_free(dk2);
	buf_clear(&wrapped);
}

static void test_key_wrapped_under_another_master_refused(void **state)
{
	struct fixture *f = *state;
	struct seal_key *other = NULL, *dk2 = NULL;
	struct kl_err err = { 0 };
	struct buf wrapped;
	char path[160], id_other[SEAL_KEY_ID_HEX + 1], id_master[SEAL_KEY_ID_HEX + 1];

	snprintf(path, sizeof(path), "%s/other.key", f->dir);
	other = seal_master_load(path, 1, &err);
	assert_non_null(other);
	buf_init(&wrapped, 4096);
	assert_int_equal(seal_key_wrap(other, f->dk, &wrapped, &err), 0);
	dk2 = seal_key_unwrap(f->master, wrapped.data, wrapped.len, &err);
	assert_null(dk2);
	assert_int_equal(err.code, KL_ECORRUPT);
	/* The message names both keys by their ids, never by any of their bytes. */
	seal_key_id(other, id_other);
	seal_key_id(f->master, id_master);
	assert_non_null(strstr(err.msg, id_other));
	assert_non_null(strstr(err.msg, id_master));
	/* A data key is not a record: the wrap aad keeps the two apart. */
	assert_refused(other, f->aad, wrapped.data, wrapped.len);
	assert_refused(other, f->aad, wrapped.data + 9, wrapped.len - 9);
	wrapped.data[wrapped.len - 1] ^= 1;
	assert_null(seal_key_unwrap(other, wrapped.data, wrapped.len, &err));
	assert_int_equal(err.code, KL_ECORRUPT);
	seal_key_free(other);
	buf_clear(&wrapped);
}

/* A data key wrapped before master keys had ids (format 1: a plain sealed record under the wrap
 * aad) still opens, and wrapping it again gives format 2 of the same key. */
static void test_format_1_wrapped_key_still_opens(void **state)
{
	struct fixture *f = *state;
	static const unsigned char raw[32] = "0123456789abcdef0123456789abcdef";
	struct seal_key *dk1 = NULL, *dk2 = NULL;
	struct kl_err err = { 0 };
	struct buf v1, v2;
	char id[SEAL_KEY_ID_HEX + 1];

	buf_init(&v1, 4096);
	buf_init(&v2, 4096);
	assert_int_equal(seal_seal(f->master, "kluis/data-key/v1", 17, raw, sizeof(raw), &v1, &err),
			 0);
	assert_false(seal_wrapped_key_id(v1.data, v1.len, id));
	assert_non_null(dk1 = seal_key_unwrap(f->master, v1.data, v1.len, &err));
	assert_int_equal(seal_key_wrap(f->master, dk1, &v2, &err), 0);
	assert_true(seal_wrapped_key_id(v2.data, v2.len, id));
	assert_non_null(dk2 = seal_key_unwrap(f->master, v2.data, v2.len, &err));
	assert_true(seal_key_equal(dk1, dk2));
	assert_false(seal_key_equal(dk1, f->dk));
	seal_key_free(dk1);
	seal_key_free(dk2);
	buf_clear(&v1);
	buf_clear(&v2);
}

/* The id in a format 2 wrapped key is authenticated: changing it, or any other byte, fails. */
static void test_wrapped_key_id_is_bound(void **state)
{
	struct fixture *f = *state;
	struct kl_err err = { 0 };
	struct buf w;
	char id[SEAL_KEY_ID_HEX + 1], mid[SEAL_KEY_ID_HEX + 1];
	size_t i;

	buf_init(&w, 4096);
	assert_int_equal(seal_key_wrap(f->master, f->dk, &w, &err), 0);
	assert_true(seal_wrapped_key_id(w.data, w.len, id));
	seal_key_id(f->master, mid);
	assert_string_equal(id, mid);
	assert_int_equal(strlen(id), 16);
	for (i = 0; i < w.len; i++) {
		struct seal_key *k;

		w.data[i] ^= 0x40;
		k = seal_key_unwrap(f->master, w.data, w.len, &err);
		assert_null(k);
		assert_int_equal(err.code, KL_ECORRUPT);
		w.data[i] ^= 0x40;
	}
	for (i = 0; i < w.len; i++)	/* truncated anywhere */
		assert_null(seal_key_unwrap(f->master, w.data, i, &err));
	assert_false(seal_wrapped_key_id(w.data, 5, id));
	buf_clear(&w);
}

/* seal_master_create makes a new 0600 file and never overwrites one. */
static void test_master_create_never_overwrites(void **state)
{
	struct fixture *f = *state;
	struct seal_key *k = NULL, *again = NULL;
	struct kl_err err = { 0 };
	struct stat st;
	char path[160], a[SEAL_KEY_ID_HEX + 1], b[SEAL_KEY_ID_HEX + 1];

	snprintf(path, sizeof(path), "%s/master.key.new", f->dir);
	assert_non_null(k = seal_master_create(path, &err));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_null(seal_master_create(path, &err));
	assert_int_equal(err.code, KL_ECONFLICT);
	assert_non_null(again = seal_master_load(path, 0, &err));
	assert_true(seal_key_equal(k, again));
	seal_key_id(k, a);
	seal_key_id(f->master, b);
	assert_string_not_equal(a, b);
	assert_int_equal(unlink(path), 0);
	seal_key_free(k);
	seal_key_free(again);
}

static void test_unwrap_refuses_wrong_length_payload(void **state)
{
	struct fixture *f = *state;
	struct kl_err err = { 0 };
	struct buf b;

	buf_init(&b, 4096);
	/* Sealed with the wrap aad but 31 bytes long. */
	assert_int_equal(seal_seal(f->master, "kluis/data-key/v1", 17,
				   "0123456789012345678901234567890", 31, &b, &err),
			 0);
	assert_null(seal_key_unwrap(f->master, b.data, b.len, &err));
	assert_int_equal(err.code, KL_ECORRUPT);
	buf_clear(&b);
}

static void test_created_master_file_is_0600_and_reloads(void **state)
{
	struct fixture *f = *state;
	struct seal_key *again = NULL, *dk2 = NULL;
	struct kl_err err = { 0 };
	struct buf wrapped;
	struct stat st;

	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, 32);
	again = seal_master_load(f->path, 0, &err);
	assert_non_null(again);
	buf_init(&wrapped, 4096);
	assert_int_equal(seal_key_wrap(f->master, f->dk, &wrapped, &err), 0);
	dk2 = seal_key_unwrap(again, wrapped.data, wrapped.len, &err);
	assert_non_null(dk2);
	seal_key_free(dk2);
	seal_key_free(again);
	/* create=1 on an existing file reads it, never replaces it. */
	again = seal_master_load(f->path, 1, &err);
	assert_non_null(again);
	dk2 = seal_key_unwrap(again, wrapped.data, wrapped.len, &err);
	assert_non_null(dk2);
	seal_key_free(dk2);
	seal_key_free(again);
	buf_clear(&wrapped);
}

static void test_created_under_a_loose_umask_is_still_0600(void **state)
{
	struct fixture *f = *state;
	struct seal_key *k = NULL;
	struct kl_err err = { 0 };
	struct stat st;
	char path[160];
	mode_t old = umask(0);

	snprintf(path, sizeof(path), "%s/umask.key", f->dir);
	k = seal_master_load(path, 1, &err);
	umask(old);
	assert_non_null(k);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	seal_key_free(k);
}

static void test_master_file_readable_by_others_refused(void **state)
{
	struct fixture *f = *state;
	struct seal_key *k = NULL;
	struct kl_err err = { 0 };
	char path[160];

	snprintf(path, sizeof(path), "%s/copy.key", f->dir);
	k = seal_master_load(path, 1, &err);
	assert_non_null(k);
	seal_key_free(k);
	assert_int_equal(chmod(path, 0644), 0);
	assert_null(seal_master_load(path, 0, &err));
	assert_int_equal(err.code, KL_EFORBIDDEN);
	assert_non_null(strstr(err.msg, "must not be readable by group or others (chmod 600)"));
	assert_int_equal(chmod(path, 0604), 0);
	assert_null(seal_master_load(path, 1, &err));	/* and create does not replace it */
	assert_int_equal(err.code, KL_EFORBIDDEN);
	assert_int_equal(chmod(path, 0400), 0);
	k = seal_master_load(path, 0, &err);
	assert_non_null(k);
	seal_key_free(k);
}

static void test_master_file_wrong_size_refused(void **state)
{
	struct fixture *f = *state;
	struct kl_err err = { 0 };
	char path[160];
	int fd;

	snprintf(path, sizeof(path), "%s/short.key", f->dir);
	fd = open(path, O_CREAT | O_WRONLY | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "0123456789012345678901234567890", 31), 31);
	close(fd);
	assert_null(seal_master_load(path, 1, &err));
	assert_int_equal(err.code, KL_ECORRUPT);
	assert_non_null(strstr(err.msg, "31 bytes"));
	assert_null(strstr(err.msg, "0123456789"));	/* never the key bytes */
	fd = open(path, O_WRONLY | O_APPEND);
	assert_int_equal(write(fd, "01", 2), 2);
	close(fd);
	assert_null(seal_master_load(path, 0, &err));
	assert_int_equal(err.code, KL_ECORRUPT);
}

static void test_master_file_missing_without_create(void **state)
{
	struct fixture *f = *state;
	struct kl_err err = { 0 };
	struct stat st;
	char path[160];

	snprintf(path, sizeof(path), "%s/absent.key", f->dir);
	assert_null(seal_master_load(path, 0, &err));
	assert_int_not_equal(err.code, KL_OK);
	assert_int_not_equal(stat(path, &st), 0);
	snprintf(path, sizeof(path), "%s/no/such/dir.key", f->dir);
	assert_null(seal_master_load(path, 1, &err));
	assert_int_not_equal(err.code, KL_OK);
}

/* Interop: a known master key, sealed here, opened by plain OpenSSL EVP calls. */
static void test_openssl_interop(void **state)
{
	struct fixture *f = *state;
	unsigned char key[32], out[64];
	struct seal_key *k = NULL;
	struct kl_err err = { 0 };
	EVP_CIPHER_CTX *ctx;
	struct buf b;
	char path[160];
	int fd, n = 0, fin = 0, i;

	for (i = 0; i < 32; i++)
		key[i] = (unsigned char)(i * 7 + 1);
	snprintf(path, sizeof(path), "%s/known.key", f->dir);
	fd = open(path, O_CREAT | O_WRONLY | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, key, 32), 32);
	close(fd);
	k = seal_master_load(path, 0, &err);
	assert_non_null(k);
	buf_init(&b, 4096);
	assert_int_equal(seal_seal(k, "aad!", 4, "hello, world", 12, &b, &err), 0);
	assert_int_equal(b.len, 1 + 12 + 12 + 16);
	ctx = EVP_CIPHER_CTX_new();
	assert_non_null(ctx);
	assert_int_equal(EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, b.data + 1), 1);
	assert_int_equal(EVP_DecryptUpdate(ctx, NULL, &n, (const unsigned char *)"aad!", 4), 1);
	assert_int_equal(EVP_DecryptUpdate(ctx, out, &n, b.data + 13, 12), 1);
	assert_int_equal(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, b.data + 25), 1);
	assert_int_equal(EVP_DecryptFinal_ex(ctx, out + n, &fin), 1);
	assert_memory_equal(out, "hello, world", 12);
	EVP_CIPHER_CTX_free(ctx);
	seal_key_free(k);
	buf_clear(&b);
}

static void test_seal_respects_out_ceiling(void **state)
{
	struct fixture *f = *state;
	struct kl_err err = { 0 };
	struct buf b;

	buf_init(&b, 40);
	assert_int_equal(buf_append_str(&b, "x", &err), 0);
	assert_int_equal(seal_seal(f->dk, "a", 1, plain_text, sizeof(plain_text), &b, &err), -1);
	assert_int_equal(err.code, KL_ETOOBIG);
	assert_string_equal(buf_cstr(&b), "x");
	buf_clear(&b);
	seal_key_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_empty_value_and_empty_aad),
		cmocka_unit_test(test_format_and_fresh_nonces),
		cmocka_unit_test(test_tampered_byte_at_every_position),
		cmocka_unit_test(test_truncated_at_every_length),
		cmocka_unit_test(test_extended_is_refused),
		cmocka_unit_test(test_open_refuses_record_moved_to_other_key),
		cmocka_unit_test(test_wrong_key_refused),
		cmocka_unit_test(test_wrap_unwrap_round_trip),
		cmocka_unit_test(test_key_wrapped_under_another_master_refused),
		cmocka_unit_test(test_unwrap_refuses_wrong_length_payload),
		cmocka_unit_test(test_format_1_wrapped_key_still_opens),
		cmocka_unit_test(test_wrapped_key_id_is_bound),
		cmocka_unit_test(test_master_create_never_overwrites),
		cmocka_unit_test(test_created_master_file_is_0600_and_reloads),
		cmocka_unit_test(test_created_under_a_loose_umask_is_still_0600),
		cmocka_unit_test(test_master_file_readable_by_others_refused),
		cmocka_unit_test(test_master_file_wrong_size_refused),
		cmocka_unit_test(test_master_file_missing_without_create),
		cmocka_unit_test(test_openssl_interop),
		cmocka_unit_test(test_seal_respects_out_ceiling),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
