/* Two nodes of one deployment on one PostgreSQL store (pg_fixture.h): one signing key for both
 * (identity_signing_ensure on each makes one), a token issued on one node verifies on the other,
 * a rotation on one node reaches the other through the unknown-kid reload, and a revocation on
 * one node stops the token on the other at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "crypto/jws.h"
#include "fixture.h"
#include "pg_fixture.h"
#include "store/store_pg.h"
#include "util/json.h"
#include "vault/identity.h"
#include "vault/principals.h"

struct node {
	struct fixture_dir dir;
	struct vault_core *core;
};

static struct pg_fixture pg;

static struct vault_core *open_node(struct node *n, struct kl_err *err)
{
	struct vault_core_config cfg = { .data_dir = n->dir.path, .default_vault = "default",
					 .retention_days = 7 };
	struct identity_config icfg = { .dns_suffix = "vault.localhost" };
	struct store *st = store_pg_open(pg.conninfo, 4, err);

	if (st == NULL || (n->core = vault_core_open(&cfg, st, err)) == NULL)
		return NULL;
	identity_configure(n->core, &icfg);
	return n->core;
}

static void kid_of(const struct buf *tok, char *kid)
{
	struct kl_err err = { 0 };
	struct jws_parts p;

	jws_parts_init(&p);
	assert_int_equal(jws_parse((const char *)tok->data, tok->len, &p, &err), 0);
	snprintf(kid, IDENTITY_KID_MAX + 1, "%s", json_string_value(json_object_get(p.header, "kid")));
	jws_parts_clear(&p);
}

static void test_two_nodes(void **state)
{
	struct node a = { 0 }, b = { 0 };
	struct identity_signing_key *list = NULL, made;
	struct principal p;
	struct principal_token t, out;
	struct principal_ref who = { 0 }, got;
	struct identity_grant g = { .who = &who, .cred_kind = IDENTITY_CRED_TOKEN,
				    .resource = "https://vault.azure.net", .issuer = "https://a/adfs" };
	struct kl_err err = { 0 };
	char text[TOKEN_TEXT_LEN], cmd[1024], kid1[IDENTITY_KID_MAX + 1], kid2[IDENTITY_KID_MAX + 1];
	struct buf tok1, tok2;
	size_t n = 0;
	int64_t exp;

	(void)state;
	json_util_init();
	assert_int_equal(fixture_dir_make(&a.dir), 0);
	assert_int_equal(fixture_dir_make(&b.dir), 0);
	if (open_node(&a, &err) == NULL)
		fail_msg("node a: %s", err.msg);
	/* the second node shares the master key and admin token, as deploy/ copies them */
	snprintf(cmd, sizeof(cmd), "cp -p '%s/master.key' '%s/admin-token' '%s/'", a.dir.path,
		 a.dir.path, b.dir.path);
	assert_int_equal(system(cmd), 0);
	if (open_node(&b, &err) == NULL)
		fail_msg("node b: %s", err.msg);
	assert_int_equal(identity_signing_ensure(a.core, &err), 0);
	assert_int_equal(identity_signing_ensure(b.core, &err), 0);
	assert_int_equal(identity_signing_list(b.core, &list, &n, &err), 0);
	assert_int_equal(n, 1);	/* b found a's key and made none */
	free(list);

	assert_int_equal(principal_create(a.core, "app", "application", NULL, 0, &p, &t, text, &err),
			 0);
	memcpy(who.id, p.id, sizeof(who.id));
	g.cred_id = t.id;
	buf_init_secret(&tok1, JWS_MAX_BYTES);
	buf_init_secret(&tok2, JWS_MAX_BYTES);
	assert_int_equal(identity_token_issue(a.core, &g, &tok1, &exp, &err), 0);
	assert_int_equal(identity_token_verify(b.core, (const char *)tok1.data, tok1.len, &got, &err),
			 0);
	assert_string_equal(got.id, p.id);

	/* rotated on a: b has the old key cached, and learns the new one from the token's kid */
	assert_int_equal(identity_signing_rotate(a.core, &made, &err), 0);
	assert_int_equal(identity_token_issue(a.core, &g, &tok2, &exp, &err), 0);
	kid_of(&tok1, kid1);
	kid_of(&tok2, kid2);
	assert_string_equal(kid2, made.kid);
	assert_string_not_equal(kid1, kid2);
	if (identity_token_verify(b.core, (const char *)tok2.data, tok2.len, &got, &err) != 0)
		fail_msg("b: %s", err.msg);
	assert_int_equal(identity_token_verify(b.core, (const char *)tok1.data, tok1.len, &got, &err),
			 0);

	/* revoked on b: a refuses both tokens at once */
	assert_int_equal(principal_token_revoke(b.core, p.id, t.id, &out, &err), 0);
	assert_int_equal(identity_token_verify(a.core, (const char *)tok1.data, tok1.len, &got, &err),
			 -1);
	assert_int_equal(err.code, KL_EUNAUTH);
	assert_int_equal(identity_token_verify(a.core, (const char *)tok2.data, tok2.len, &got, &err),
			 -1);
	buf_clear(&tok1);
	buf_clear(&tok2);
	vault_core_close(a.core);
	vault_core_close(b.core);
	fixture_dir_remove(&a.dir);
	fixture_dir_remove(&b.dir);
}

static int setup(void **state)
{
	(void)state;
	return pg_fixture_start(&pg);
}

static int teardown(void **state)
{
	(void)state;
	pg_fixture_stop(&pg);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_nodes),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
