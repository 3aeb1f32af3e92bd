/* The node caches (vault/authcache.c): what an entry is good for (its epoch tag, a watched write
 * and only a watched write, its own expiry, the poller's freshness), what is never cached (the
 * admin token, a refusal), and two nodes on one PostgreSQL store (pg_fixture.h): a change on one
 * node voids the other's entries at its next epoch poll, and its poller thread makes that poll by
 * itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fixture.h"
#include "pg_fixture.h"
#include "store/store.h"
#include "store/store_pg.h"
#include "util/clock.h"
#include "util/json.h"
#include "util/secbuf.h"
#include "vault/authcache.h"
#include "crypto/jws.h"
#include "vault/authenticate.h"
#include "vault/identity.h"
#include "vault/internal.h"
#include "vault/principals.h"

static struct pg_fixture pg;

struct env {
	struct fixture_dir dir;
	struct vault_core *core;
};

static int setup_lmdb(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	struct kl_err err = { 0 };

	if (e == NULL || fixture_dir_make(&e->dir) != 0 ||
	    (e->core = fixture_core_open(&e->dir, 7, &err)) == NULL) {
		fprintf(stderr, "setup: %s\n", err.msg);
		return -1;
	}
	*state = e;
	return 0;
}

static int teardown_lmdb(void **state)
{
	struct env *e = *state;

	vault_core_close(e->core);
	fixture_dir_remove(&e->dir);
	free(e);
	return 0;
}

static void digest_of(const char *s, unsigned char d[TOKEN_DIGEST_LEN])
{
	struct kl_err err = { 0 };

	assert_int_equal(token_digest(s, strlen(s), d, &err), 0);
}

static struct principal_ref ref_of(const char *id, const char *name)
{
	struct principal_ref r = { 0 };

	snprintf(r.id, sizeof(r.id), "%s", id);
	snprintf(r.name, sizeof(r.name), "%s", name);
	return r;
}

static void test_entries_and_their_tags(void **state)
{
	struct env *e = *state;
	struct vault_core *core = e->core;
	unsigned char d1[TOKEN_DIGEST_LEN], d2[TOKEN_DIGEST_LEN];
	struct principal_ref in = ref_of("11111111-1111-1111-1111-111111111111", "one"), out;
	struct kl_err err = { 0 };
	struct vault v = { 0 }, got;
	uint64_t epoch = authcache_epoch(core), perms;

	digest_of("kl1.first", d1);
	digest_of("kl1.second", d2);
	assert_false(authcache_who_find(core, d1, &out));
	authcache_who_put(core, d1, &in, 0, epoch);
	assert_true(authcache_who_find(core, d1, &out));
	assert_string_equal(out.name, "one");
	assert_false(authcache_who_find(core, d2, &out));	/* another credential */

	authcache_rights_put(core, in.id, "default", 7, epoch);
	authcache_rights_put(core, in.id, AUTHCACHE_SCOPE_DEPLOYMENT, 1, epoch);
	assert_true(authcache_rights_find(core, in.id, "default", &perms));
	assert_int_equal(perms, 7);
	assert_true(authcache_rights_find(core, in.id, AUTHCACHE_SCOPE_DEPLOYMENT, &perms));
	assert_int_equal(perms, 1);
	assert_false(authcache_rights_find(core, in.id, "other", &perms));
	assert_false(authcache_rights_find(core, "22222222-2222-2222-2222-222222222222", "default",
					   &perms));

	v.core = core;
	snprintf(v.name, sizeof(v.name), "default");
	v.retention_days = 33;
	authcache_vault_put(core, &v, epoch);
	assert_true(authcache_vault_find(core, "default", &got));
	assert_int_equal(got.retention_days, 33);

	/* a write outside the watched prefixes keeps them ... */
	assert_int_equal(store_put(core->st, "o/default/x", 11, "v", 1, &err), 0);
	assert_int_equal(authcache_epoch(core), epoch);
	assert_true(authcache_who_find(core, d1, &out));
	/* ... a watched one voids every entry, and a fill tagged before it is never kept */
	assert_int_equal(store_put(core->st, "A/-/x/y", 7, "v", 1, &err), 0);
	assert_true(authcache_epoch(core) > epoch);
	assert_false(authcache_who_find(core, d1, &out));
	assert_false(authcache_rights_find(core, in.id, "default", &perms));
	assert_false(authcache_vault_find(core, "default", &got));
	authcache_who_put(core, d1, &in, 0, epoch);
	assert_false(authcache_who_find(core, d1, &out));
}

static void test_never_past_expiry_nor_for_the_admin(void **state)
{
	struct env *e = *state;
	struct vault_core *core = e->core;
	unsigned char d[TOKEN_DIGEST_LEN];
	struct principal_ref in = ref_of("11111111-1111-1111-1111-111111111111", "one"), out;
	char admin[128];

	digest_of("kl1.expiring", d);
	authcache_who_put(core, d, &in, clock_now_s(), authcache_epoch(core));
	assert_false(authcache_who_find(core, d, &out));	/* expired as it was put */
	authcache_who_put(core, d, &in, clock_now_s() + 3600, authcache_epoch(core));
	assert_true(authcache_who_find(core, d, &out));

	assert_int_equal(fixture_admin_token(&e->dir, admin, sizeof(admin)), 0);
	digest_of(admin, d);
	in = ref_of("", "admin");
	in.is_admin = true;
	authcache_who_put(core, d, &in, 0, authcache_epoch(core));
	assert_false(authcache_who_find(core, d, &out));
	secure_wipe(admin, sizeof(admin));
}

/* A kluis token that expires is refused once it has, though its entry is younger than the
 * backstop and nothing changed in the store. */
static void test_token_expiry_ends_the_entry(void **state)
{
	struct env *e = *state;
	struct vault_core *core = e->core;
	char text[TOKEN_TEXT_LEN];
	struct principal p;
	struct principal_token t;
	struct principal_ref who;
	struct kl_err err = { 0 };
	uint64_t h0, m0, h1, m1;
	int64_t expires = clock_now_s() + 2;

	assert_int_equal(principal_create(core, "brief", "application", NULL, expires, &p, &t, text,
					  &err),
			 0);
	assert_int_equal(authenticate_bearer(core, text, strlen(text), &who, &err), 0);
	authcache_stats(core, &h0, &m0);
	assert_int_equal(authenticate_bearer(core, text, strlen(text), &who, &err), 0);
	authcache_stats(core, &h1, &m1);
	assert_int_equal(h1, h0 + 1);	/* from the cache */
	assert_string_equal(who.id, p.id);
	while (clock_now_s() < expires)
		usleep(50 * 1000);	/* waits for the clock; asserts nothing about time */
	assert_int_equal(authenticate_bearer(core, text, strlen(text), &who, &err), -1);
	assert_int_equal(err.code, KL_EUNAUTH);
	secure_wipe(text, sizeof(text));
}

/* An access token outlives the client secret it came from: its entry ends with the secret. */
static void test_access_token_entry_ends_with_its_credential(void **state)
{
	struct env *e = *state;
	struct vault_core *core = e->core;
	char text[TOKEN_TEXT_LEN], secret[IDENTITY_SECRET_TEXT_LEN];
	struct principal p;
	struct principal_token t;
	struct principal_ref who = { 0 };
	struct identity_grant g = { .who = &who, .cred_kind = IDENTITY_CRED_SECRET,
				    .resource = "https://vault.azure.net",
				    .issuer = "https://x/t" };
	struct identity_credential cred;
	struct kl_err err = { 0 };
	uint64_t h0, m0, h1, m1;
	int64_t expires = clock_now_s() + 2, exp;
	struct buf tok;

	buf_init_secret(&tok, JWS_MAX_BYTES);
	assert_int_equal(identity_signing_ensure(core, &err), 0);
	assert_int_equal(principal_create(core, "app", "application", NULL, 0, &p, &t, text, &err),
			 0);
	assert_int_equal(identity_secret_add(core, p.id, "brief", expires, &cred, secret, &err), 0);
	memcpy(who.id, p.id, sizeof(who.id));
	g.cred_id = cred.id;
	assert_int_equal(identity_token_issue(core, &g, &tok, &exp, &err), 0);
	assert_true(exp > expires);	/* the token alone would live on */
	assert_int_equal(authenticate_bearer(core, (const char *)tok.data, tok.len, &who, &err), 0);
	authcache_stats(core, &h0, &m0);
	assert_int_equal(authenticate_bearer(core, (const char *)tok.data, tok.len, &who, &err), 0);
	authcache_stats(core, &h1, &m1);
	assert_int_equal(h1, h0 + 1);	/* from the cache */
	while (clock_now_s() < expires)
		usleep(50 * 1000);	/* waits for the clock; asserts nothing about time */
	assert_int_equal(authenticate_bearer(core, (const char *)tok.data, tok.len, &who, &err),
			 -1);
	assert_int_equal(err.code, KL_EUNAUTH);
	buf_clear(&tok);
	secure_wipe(text, sizeof(text));
	secure_wipe(secret, sizeof(secret));
}

/* An unknown token is refused every time and its refusal is not kept; a token made later is
 * accepted at once. */
static void test_refusals_are_not_cached(void **state)
{
	struct env *e = *state;
	struct vault_core *core = e->core;
	struct principal_ref who;
	struct kl_err err = { 0 };
	char text[TOKEN_TEXT_LEN];
	struct principal p;
	struct principal_token t;
	uint64_t h0, m0, h1, m1;

	assert_int_equal(authenticate_bearer(core, "kl1.unknown", 11, &who, &err), -1);
	authcache_stats(core, &h0, &m0);
	assert_int_equal(authenticate_bearer(core, "kl1.unknown", 11, &who, &err), -1);
	assert_int_equal(err.code, KL_EUNAUTH);
	authcache_stats(core, &h1, &m1);
	assert_int_equal(h1, h0);
	assert_int_equal(principal_create(core, "later", "user", NULL, 0, &p, &t, text, &err), 0);
	assert_int_equal(authenticate_bearer(core, text, strlen(text), &who, &err), 0);
	secure_wipe(text, sizeof(text));
}

/* Without a poller watching the epoch, nothing is answered from the caches. */
static void test_no_poller_no_cache(void **state)
{
	struct env *e = *state;
	struct vault_core *core = e->core;
	unsigned char d[TOKEN_DIGEST_LEN];
	struct principal_ref in = ref_of("11111111-1111-1111-1111-111111111111", "one"), out;
	struct kl_err err = { 0 };

	digest_of("kl1.polled", d);
	authcache_who_put(core, d, &in, 0, authcache_epoch(core));
	assert_true(authcache_who_find(core, d, &out));
	authcache_stop(core);
	assert_false(authcache_who_find(core, d, &out));
	assert_int_equal(authcache_start(core, &err), 0);
	assert_true(authcache_who_find(core, d, &out));	/* nothing changed meanwhile */
}

/* ---- two nodes on one PostgreSQL store ---- */

struct node {
	struct fixture_dir dir;
	struct vault_core *core;
};

static void open_node(struct node *n, const char *copy_from)
{
	struct vault_core_config cfg = { .data_dir = n->dir.path, .default_vault = "default",
					 .retention_days = 7 };
	struct kl_err err = { 0 };
	struct store *st;
	char cmd[1024];

	assert_int_equal(fixture_dir_make(&n->dir), 0);
	if (copy_from != NULL) {	/* the master key and admin token, as deploy/ copies them */
		snprintf(cmd, sizeof(cmd), "cp -p '%s/master.key' '%s/admin-token' '%s/'",
			 copy_from, copy_from, n->dir.path);
		assert_int_equal(system(cmd), 0);
	}
	if ((st = store_pg_open(pg.conninfo, 4, &err)) == NULL ||
	    (n->core = vault_core_open(&cfg, st, &err)) == NULL)
		fail_msg("node: %s", err.msg);
}

static void close_node(struct node *n)
{
	vault_core_close(n->core);
	fixture_dir_remove(&n->dir);
}

static void test_two_nodes(void **state)
{
	struct node a = { 0 }, b = { 0 };
	struct principal p;
	struct principal_token t, t2, out;
	struct principal_ref who;
	struct kl_err err = { 0 };
	char text[TOKEN_TEXT_LEN], text2[TOKEN_TEXT_LEN];
	uint64_t h0, m0, h1, m1, deadline, epoch;
	int tries;

	(void)state;
	json_util_init();
	open_node(&a, NULL);
	open_node(&b, a.dir.path);
	assert_int_equal(principal_create(a.core, "shared", "application", NULL, 0, &p, &t, text,
					  &err),
			 0);
	assert_int_equal(principal_token_add(a.core, p.id, 0, &t2, text2, &err), 0);
	/* b caches both tokens. b's poller may see a's writes after b filled its entries (that
	 * drops them, rightly); the hit is checked over a stretch where b's epoch stood still. */
	for (tries = 0;; tries++) {
		epoch = store_epoch(b.core->st);
		assert_int_equal(authenticate_bearer(b.core, text, strlen(text), &who, &err), 0);
		assert_int_equal(authenticate_bearer(b.core, text2, strlen(text2), &who, &err), 0);
		authcache_stats(b.core, &h0, &m0);
		assert_int_equal(authenticate_bearer(b.core, text, strlen(text), &who, &err), 0);
		authcache_stats(b.core, &h1, &m1);
		if (store_epoch(b.core->st) == epoch || tries == 20)
			break;
		usleep(AUTHCACHE_POLL_MS * 1000);
	}
	assert_int_equal(h1, h0 + 1);

	/* revoked on a: b refuses it once its epoch poll has seen the change */
	assert_int_equal(principal_token_revoke(a.core, p.id, t.id, &out, &err), 0);
	assert_int_equal(store_epoch_poll(b.core->st, &err), 0);
	assert_int_equal(authenticate_bearer(b.core, text, strlen(text), &who, &err), -1);
	assert_int_equal(err.code, KL_EUNAUTH);

	/* and b's poller thread makes that poll by itself, with no request on b meanwhile (well
	 * before the 10 s backstop) */
	assert_int_equal(authenticate_bearer(b.core, text2, strlen(text2), &who, &err), 0);
	epoch = store_epoch(b.core->st);
	assert_int_equal(principal_token_revoke(a.core, p.id, t2.id, &out, &err), 0);
	deadline = clock_mono_ms() + AUTHCACHE_LIFETIME_MS / 2;
	while (store_epoch(b.core->st) == epoch && clock_mono_ms() < deadline)
		usleep(20 * 1000);
	assert_true(store_epoch(b.core->st) != epoch);
	assert_int_equal(authenticate_bearer(b.core, text2, strlen(text2), &who, &err), -1);
	assert_int_equal(err.code, KL_EUNAUTH);
	secure_wipe(text, sizeof(text));
	secure_wipe(text2, sizeof(text2));
	close_node(&a);
	close_node(&b);
}

static int setup_pg(void **state)
{
	(void)state;
	return pg_fixture_start(&pg);
}

static int teardown_pg(void **state)
{
	(void)state;
	pg_fixture_stop(&pg);
	return 0;
}

int main(void)
{
	const struct CMUnitTest lmdb[] = {
		cmocka_unit_test_setup_teardown(test_entries_and_their_tags, setup_lmdb,
						teardown_lmdb),
		cmocka_unit_test_setup_teardown(test_never_past_expiry_nor_for_the_admin,
						setup_lmdb, teardown_lmdb),
		cmocka_unit_test_setup_teardown(test_token_expiry_ends_the_entry, setup_lmdb,
						teardown_lmdb),
		cmocka_unit_test_setup_teardown(test_access_token_entry_ends_with_its_credential,
						setup_lmdb, teardown_lmdb),
		cmocka_unit_test_setup_teardown(test_refusals_are_not_cached, setup_lmdb,
						teardown_lmdb),
		cmocka_unit_test_setup_teardown(test_no_poller_no_cache, setup_lmdb, teardown_lmdb),
	};
	const struct CMUnitTest postgres[] = {
		cmocka_unit_test(test_two_nodes),
	};
	int failed = cmocka_run_group_tests_name("lmdb", lmdb, NULL, NULL);

	return failed + cmocka_run_group_tests_name("postgres", postgres, setup_pg, teardown_pg);
}
