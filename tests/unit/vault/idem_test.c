/* vault/idem.c, idemsweep.c and the creates of objcreate.c that carry an idempotency record, on
 * a store that counts the test thread's calls (one round trip each on PostgreSQL) and can play a
 * concurrent writer: the same id and body replays the first version and writes nothing, another
 * body is refused and writes nothing, no id (or another principal) makes a version each time,
 * concurrent attempts of one id make one version (on LMDB, then on two nodes of one PostgreSQL),
 * a record past its retention answers nothing and is swept, and the sweep yields to a writer. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fixture.h"
#include "pg_fixture.h"
#include "store/store_pg.h"
#include "util/clock.h"
#include "probe_store.h"
#include "vault/idem.h"
#include "vault/internal.h"
#include "vault/keys.h"
#include "vault/principals.h"
#include "vault/secrets.h"

static const char *const PID = "0f8fad5b-d9cb-469f-a165-70867728950e";

/* Store calls since the last call of this: round trips, and transactions among them. */
static unsigned calls(struct probe_env *e, unsigned *txns)
{
	*txns = atomic_exchange(&e->st->txns, 0);
	return atomic_exchange(&e->st->gets, 0) + atomic_exchange(&e->st->many, 0) +
	       atomic_exchange(&e->st->scans, 0) + *txns;
}

/* --- helpers --------------------------------------------------------------------------------- */

/* The idempotency of a SetSecret of value by the admin (pid NULL) or principal pid. */
static void idem_of(struct obj_idem *out, const char *pid, const char *request_id, const char *op,
		    const char *name, const char *value)
{
	struct principal_ref who = { 0 };
	struct kl_err err = { 0 };
	char body[256];

	who.is_admin = pid == NULL;
	if (pid != NULL)
		snprintf(who.id, sizeof(who.id), "%s", pid);
	snprintf(body, sizeof(body), "{\"value\":\"%s\"}", value);
	if (idem_prepare(out, &who, request_id, op, name, body, strlen(body), &err) != 0)
		fail_msg("idem_prepare: %s", err.msg);
}

/* obj_create_idem of secret name = value: its rc, *out and err. */
static int set_secret(struct vault *v, const char *name, const char *value,
		      const struct obj_idem *idem, struct obj *out, struct kl_err *err)
{
	struct obj in;
	int rc;

	obj_init(&in);
	in.attrs.enabled = true;
	obj_init(out);
	rc = obj_create_idem(v, OBJ_SECRET, name, &in, value, strlen(value), idem, out, err);
	obj_clear(&in);
	return rc;
}

static int count_one(void *arg, const void *key, size_t key_len, const void *val, size_t val_len,
		     uint64_t version, struct kl_err *err)
{
	(void)key;
	(void)key_len;
	(void)val;
	(void)val_len;
	(void)version;
	(void)err;
	(*(size_t *)arg)++;
	return 0;
}

/* The versions of object lname of kind tag in v's store, counted in the store itself. */
static size_t versions_of(struct vault *v, char tag, const char *lname)
{
	char prefix[KEYBUF];
	struct kl_err err = { 0 };
	size_t n = 0;

	keyspace_obj_versions(prefix, v->name, tag, lname);
	assert_int_equal(store_scan(v->core->st, prefix, strlen(prefix), NULL, 0, count_one, &n,
				    &err),
			 0);
	return n;
}

static size_t records_in(struct vault_core *core)
{
	struct kl_err err = { 0 };
	size_t n = 0;

	assert_int_equal(store_scan(core->st, KEYSPACE_IDEMPOTENCY, 2, NULL, 0, count_one, &n,
				    &err),
			 0);
	return n;
}

/* The stored record of idem in v, decoded; its raw bytes and store version too when asked. */
static void record_of(struct vault *v, const struct obj_idem *idem, struct idem_rec *rec,
		      struct buf *raw, uint64_t *version)
{
	char key[KEYBUF];
	struct buf val;
	struct kl_err err = { 0 };

	keyspace_idempotency(key, v->name, idem->id);
	buf_init(&val, 4096);
	if (store_get(v->core->st, key, strlen(key), &val, version, &err) != 0 ||
	    idem_rec_decode(v->core, key, val.data, val.len, rec, &err) != 0)
		fail_msg("record: %s", err.msg);
	if (raw != NULL)
		assert_int_equal(buf_append(raw, val.data, val.len, &err), 0);
	buf_clear(&val);
}

/* Moves idem's record back in time by age seconds, as if it had been written then. */
static void age_record(struct vault *v, const struct obj_idem *idem, int64_t age)
{
	char key[KEYBUF];
	struct idem_rec rec;
	struct buf val;
	struct kl_err err = { 0 };

	record_of(v, idem, &rec, NULL, NULL);
	rec.created -= age;
	keyspace_idempotency(key, v->name, idem->id);
	buf_init(&val, 4096);
	assert_int_equal(idem_rec_encode(v->core, key, &rec, &val, &err), 0);
	assert_int_equal(store_put(v->core->st, key, strlen(key), val.data, val.len, &err), 0);
	buf_clear(&val);
}

static void expect_latest(struct vault *v, const char *name, const char *value,
			  const char *version)
{
	struct secbuf *s = NULL;
	struct kl_err err = { 0 };
	struct obj o;

	obj_init(&o);
	if (secret_get(v, name, NULL, &o, &s, &err) != 0)
		fail_msg("secret_get: %s", err.msg);
	assert_string_equal(o.version, version);
	assert_int_equal(s->len, strlen(value));
	assert_memory_equal(s->data, value, s->len);
	secbuf_free(s);
	obj_clear(&o);
}

/* --- the digests ----------------------------------------------------------------------------- */

/* Each input part counts, and parts do not run into each other. */
static void test_prepare_separates_every_part(void **state)
{
	struct principal_ref admin = { .is_admin = true }, p = { 0 };
	struct obj_idem a, b;
	struct kl_err err = { 0 };

	(void)state;
	snprintf(p.id, sizeof(p.id), "%s", PID);
	assert_int_equal(idem_prepare(&a, &admin, "r1", "SetSecret", "n", "{}", 2, &err), 0);
	assert_int_equal(idem_prepare(&b, &admin, "r1", "SetSecret", "n", "{}", 2, &err), 0);
	assert_memory_equal(&a, &b, sizeof(a));
	assert_int_equal(idem_prepare(&b, &p, "r1", "SetSecret", "n", "{}", 2, &err), 0);
	assert_memory_not_equal(a.id, b.id, sizeof(a.id));	/* another principal */
	assert_memory_equal(a.fingerprint, b.fingerprint, sizeof(a.fingerprint));
	assert_int_equal(idem_prepare(&b, &admin, "r2", "SetSecret", "n", "{}", 2, &err), 0);
	assert_memory_not_equal(a.id, b.id, sizeof(a.id));
	assert_int_equal(idem_prepare(&b, &admin, "r1", "SetSecret", "n", "{ }", 3, &err), 0);
	assert_memory_equal(a.id, b.id, sizeof(a.id));
	assert_memory_not_equal(a.fingerprint, b.fingerprint, sizeof(a.fingerprint));
	assert_int_equal(idem_prepare(&b, &admin, "r1", "SetSecret", "N", "{}", 2, &err), 0);
	assert_memory_not_equal(a.fingerprint, b.fingerprint, sizeof(a.fingerprint));
	assert_int_equal(idem_prepare(&b, &admin, "r1", "CreateKey", "n", "{}", 2, &err), 0);
	assert_memory_not_equal(a.fingerprint, b.fingerprint, sizeof(a.fingerprint));
	/* "ab" + "c" is not "a" + "bc" */
	assert_int_equal(idem_prepare(&a, &admin, "r1", "ab", "c", "", 0, &err), 0);
	assert_int_equal(idem_prepare(&b, &admin, "r1", "a", "bc", "", 0, &err), 0);
	assert_memory_not_equal(a.fingerprint, b.fingerprint, sizeof(a.fingerprint));
}

/* --- creates --------------------------------------------------------------------------------- */

/* The retry of a create whose answer was lost: the first version again, nothing written, no more
 * round trips than a create. */
static void test_same_id_same_body_replays(void **state)
{
	struct probe_env *e = *state;
	struct obj_idem idem;
	struct kl_err err = { 0 };
	struct obj first, again;
	unsigned txns;

	idem_of(&idem, NULL, "req-1", "SetSecret", "Replayed", "v1");
	calls(e, &txns);
	assert_int_equal(set_secret(&e->v, "Replayed", "v1", &idem, &first, &err), 0);
	assert_int_equal(calls(e, &txns), 2);	/* heads and record in one read, one commit */
	assert_int_equal(txns, 1);
	assert_int_equal(records_in(e->core), 1);
	calls(e, &txns);
	assert_int_equal(set_secret(&e->v, "Replayed", "v1", &idem, &again, &err), 0);
	assert_int_equal(calls(e, &txns), 2);	/* the same read, then the version */
	assert_int_equal(txns, 0);		/* nothing written */
	assert_string_equal(again.version, first.version);
	assert_string_equal(again.name, "Replayed");
	assert_int_equal(again.attrs.created, first.attrs.created);
	assert_int_equal(again.attrs.updated, first.attrs.updated);
	assert_true(again.attrs.enabled);
	assert_false(again.is_deleted);
	assert_int_equal(versions_of(&e->v, 's', "replayed"), 1);
	assert_int_equal(records_in(e->core), 1);
	expect_latest(&e->v, "Replayed", "v1", first.version);
	obj_clear(&first);
	obj_clear(&again);
}

/* The same id with another body, name or operation: refused, nothing written, the record kept. */
static void test_same_id_other_request_is_refused(void **state)
{
	struct probe_env *e = *state;
	struct obj_idem idem, other;
	struct kl_err err = { 0 };
	struct buf before, after;
	struct idem_rec rec;
	struct obj first, o;

	buf_init(&before, 4096);
	buf_init(&after, 4096);
	idem_of(&idem, NULL, "req-2", "SetSecret", "held", "v1");
	assert_int_equal(set_secret(&e->v, "held", "v1", &idem, &first, &err), 0);
	record_of(&e->v, &idem, &rec, &before, NULL);
	idem_of(&other, NULL, "req-2", "SetSecret", "held", "v2");
	assert_int_equal(set_secret(&e->v, "held", "v2", &other, &o, &err), -1);
	assert_int_equal(err.code, KL_ECONFLICT);
	assert_string_equal(err.azure_code, "Conflict");
	assert_string_equal(err.inner_code, "ClientRequestIdReused");
	assert_non_null(strstr(err.msg, "x-ms-client-request-id"));
	kl_err_clear(&err);
	/* another name with that id: refused too, and that name not made */
	idem_of(&other, NULL, "req-2", "SetSecret", "elsewhere", "v1");
	assert_int_equal(set_secret(&e->v, "elsewhere", "v1", &other, &o, &err), -1);
	assert_int_equal(err.code, KL_ECONFLICT);
	kl_err_clear(&err);
	assert_int_equal(versions_of(&e->v, 's', "held"), 1);
	assert_int_equal(versions_of(&e->v, 's', "elsewhere"), 0);
	expect_latest(&e->v, "held", "v1", first.version);
	record_of(&e->v, &idem, &rec, &after, NULL);
	assert_int_equal(before.len, after.len);
	assert_memory_equal(before.data, after.data, before.len);
	assert_string_equal(rec.version, first.version);
	/* and the first request still replays */
	assert_int_equal(set_secret(&e->v, "held", "v1", &idem, &o, &err), 0);
	assert_string_equal(o.version, first.version);
	obj_clear(&o);
	obj_clear(&first);
	buf_clear(&before);
	buf_clear(&after);
}

/* No id: a version each time, and no record. One id from two principals: two requests. */
static void test_no_id_or_another_principal_makes_versions(void **state)
{
	struct probe_env *e = *state;
	struct obj_idem admin, principal;
	struct kl_err err = { 0 };
	struct obj a, b;
	unsigned txns;

	calls(e, &txns);
	assert_int_equal(set_secret(&e->v, "plain", "v", NULL, &a, &err), 0);
	assert_int_equal(calls(e, &txns), 2);	/* as before records existed */
	assert_int_equal(set_secret(&e->v, "plain", "v", NULL, &b, &err), 0);
	assert_string_not_equal(a.version, b.version);
	assert_int_equal(versions_of(&e->v, 's', "plain"), 2);
	assert_int_equal(records_in(e->core), 0);
	obj_clear(&a);
	obj_clear(&b);
	idem_of(&admin, NULL, "shared-id", "SetSecret", "two", "v");
	idem_of(&principal, PID, "shared-id", "SetSecret", "two", "v");
	assert_int_equal(set_secret(&e->v, "two", "v", &admin, &a, &err), 0);
	assert_int_equal(set_secret(&e->v, "two", "v", &principal, &b, &err), 0);
	assert_string_not_equal(a.version, b.version);	/* never the other's answer */
	assert_int_equal(versions_of(&e->v, 's', "two"), 2);
	assert_int_equal(records_in(e->core), 2);
	obj_clear(&a);
	obj_clear(&b);
}

/* A key's replay gives the first key, not the one generated for the retry. */
static void test_key_create_and_rotate_replay(void **state)
{
	struct probe_env *e = *state;
	struct key_spec spec = { .kty = "EC", .crv = "P-256" };
	struct obj_idem idem, rot;
	struct key_meta m1, m2;
	struct kl_err err = { 0 };
	struct obj in, k1, k2;
	struct principal_ref admin = { .is_admin = true };

	key_meta_init(&m1);
	key_meta_init(&m2);
	obj_init(&in);
	obj_init(&k1);
	obj_init(&k2);
	in.attrs.enabled = true;
	assert_int_equal(idem_prepare(&idem, &admin, "req-k", "CreateKey", "k", "{\"kty\":\"EC\"}",
				      12, &err),
			 0);
	assert_int_equal(key_create(&e->v, "k", &spec, &in, &idem, &k1, &m1, &err), 0);
	assert_int_equal(key_create(&e->v, "k", &spec, &in, &idem, &k2, &m2, &err), 0);
	assert_string_equal(k2.version, k1.version);
	assert_int_equal(m2.pub.x.len, m1.pub.x.len);
	assert_memory_equal(m2.pub.x.data, m1.pub.x.data, m1.pub.x.len);
	assert_int_equal(versions_of(&e->v, 'k', "k"), 1);
	obj_clear(&k1);
	obj_clear(&k2);
	key_meta_clear(&m1);
	key_meta_clear(&m2);
	assert_int_equal(idem_prepare(&rot, &admin, "req-r", "RotateKey", "k", "", 0, &err), 0);
	assert_int_equal(key_rotate(&e->v, "k", &rot, &k1, &m1, &err), 0);
	assert_int_equal(key_rotate(&e->v, "k", &rot, &k2, &m2, &err), 0);
	assert_string_equal(k2.version, k1.version);
	assert_memory_equal(m2.pub.x.data, m1.pub.x.data, m1.pub.x.len);
	assert_int_equal(versions_of(&e->v, 'k', "k"), 2);	/* the create's and one rotation */
	obj_clear(&in);
	obj_clear(&k1);
	obj_clear(&k2);
	key_meta_clear(&m1);
	key_meta_clear(&m2);
}

/* A record whose version was purged since answers nothing: the retry creates again. */
static void test_replay_of_a_purged_version_creates_again(void **state)
{
	struct probe_env *e = *state;
	struct obj_idem idem;
	struct kl_err err = { 0 };
	struct idem_rec rec;
	struct obj a, d, b;

	idem_of(&idem, NULL, "req-p", "SetSecret", "gone", "v");
	assert_int_equal(set_secret(&e->v, "gone", "v", &idem, &a, &err), 0);
	obj_init(&d);
	assert_int_equal(obj_delete(&e->v, OBJ_SECRET, "gone", &d, &err), 0);
	assert_int_equal(obj_purge(&e->v, OBJ_SECRET, "gone", &err), 0);
	assert_int_equal(set_secret(&e->v, "gone", "v", &idem, &b, &err), 0);
	assert_string_not_equal(b.version, a.version);
	assert_int_equal(versions_of(&e->v, 's', "gone"), 1);
	record_of(&e->v, &idem, &rec, NULL, NULL);
	assert_string_equal(rec.version, b.version);
	obj_clear(&a);
	obj_clear(&b);
	obj_clear(&d);
}

/* --- concurrent attempts of one id ----------------------------------------------------------- */

#define RACERS 8

struct racer {
	struct vault *v;
	const char *name;
	struct obj_idem idem;
	pthread_barrier_t *start;
	struct obj out;
	struct kl_err err;
	int rc;
};

static void *race(void *arg)
{
	struct racer *r = arg;

	pthread_barrier_wait(r->start);
	r->rc = set_secret(r->v, r->name, "same value", &r->idem, &r->out, &r->err);
	return NULL;
}

/* Runs the RACERS at once with client request id id; names[i % n_names] is racer i's object. */
static void run_racers(struct racer *r, struct vault *const *vs, size_t n_vs, const char *id,
		       const char *const *names, size_t n_names)
{
	pthread_t t[RACERS];
	pthread_barrier_t start;
	int i;

	assert_int_equal(pthread_barrier_init(&start, NULL, RACERS), 0);
	for (i = 0; i < RACERS; i++) {
		r[i] = (struct racer){ .v = vs[(size_t)i % n_vs], .name = names[(size_t)i % n_names],
				       .start = &start };
		idem_of(&r[i].idem, NULL, id, "SetSecret", r[i].name, "same value");
		assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
	}
	for (i = 0; i < RACERS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	pthread_barrier_destroy(&start);
}

/* RACERS threads send one request at once, on the vaults vs (one per node, in turn): one version,
 * and every one of them answers with it. Then RACERS different requests (other names) with one id
 * at once: exactly one is made, the others are refused, and the record names the one made. */
static void race_one_id(struct vault *const *vs, size_t n_vs)
{
	static const char *const same[] = { "raced" };
	static const char *const others[] = { "other-0", "other-1", "other-2", "other-3",
					      "other-4", "other-5", "other-6", "other-7" };
	struct racer r[RACERS];
	struct idem_rec rec;
	int i, won = -1;
	size_t made = 0;

	run_racers(r, vs, n_vs, "req-race", same, 1);
	for (i = 0; i < RACERS; i++) {
		if (r[i].rc != 0)
			fail_msg("racer %d: %s %s", i, kl_errc_name(r[i].err.code), r[i].err.msg);
		assert_string_equal(r[i].out.version, r[0].out.version);
		assert_int_equal(r[i].out.attrs.created, r[0].out.attrs.created);
	}
	assert_int_equal(versions_of(vs[0], 's', "raced"), 1);
	expect_latest(vs[n_vs - 1], "raced", "same value", r[0].out.version);
	for (i = 0; i < RACERS; i++)
		obj_clear(&r[i].out);
	run_racers(r, vs, n_vs, "req-race-others", others, RACERS);
	for (i = 0; i < RACERS; i++) {
		made += versions_of(vs[0], 's', others[i]);
		if (r[i].rc == 0) {
			assert_int_equal(won, -1);	/* one winner */
			won = i;
			continue;
		}
		if (r[i].err.code != KL_ECONFLICT ||
		    strcmp(r[i].err.inner_code ? r[i].err.inner_code : "", "ClientRequestIdReused"))
			fail_msg("racer %d: %s %s", i, kl_errc_name(r[i].err.code), r[i].err.msg);
	}
	assert_true(won >= 0);
	assert_int_equal(made, 1);
	record_of(vs[0], &r[won].idem, &rec, NULL, NULL);
	assert_string_equal(rec.version, r[won].out.version);
	for (i = 0; i < RACERS; i++)
		obj_clear(&r[i].out);
}

static void test_concurrent_attempts_make_one_version(void **state)
{
	struct probe_env *e = *state;
	struct vault *vs[] = { &e->v };

	race_one_id(vs, 1);
}

struct node {
	struct fixture_dir dir;
	struct vault_core *core;
	struct vault v;
};

static void open_node(struct node *n, const char *conninfo)
{
	struct vault_core_config cfg = { .data_dir = n->dir.path, .default_vault = "default",
					 .retention_days = 7 };
	struct kl_err err = { 0 };
	struct store *st = store_pg_open(conninfo, 4, &err);

	if (st == NULL || (n->core = vault_core_open(&cfg, st, &err)) == NULL ||
	    vault_open(n->core, "default", &n->v, &err) != 0)
		fail_msg("node: %s", err.msg);
}

/* The same on two nodes of one PostgreSQL, as a retry through the load balancer may land on the
 * other node while the first attempt still runs. */
static void test_concurrent_attempts_on_two_nodes(void **state)
{
	struct pg_fixture pg;
	struct node a = { 0 }, b = { 0 };
	char cmd[1024];

	(void)state;
	if (pg_fixture_start(&pg) != 0) {
		pg_fixture_stop(&pg);
		fail_msg("cannot start PostgreSQL");
	}
	assert_int_equal(fixture_dir_make(&a.dir), 0);
	assert_int_equal(fixture_dir_make(&b.dir), 0);
	open_node(&a, pg.conninfo);
	snprintf(cmd, sizeof(cmd), "cp -p '%s/master.key' '%s/admin-token' '%s/'", a.dir.path,
		 a.dir.path, b.dir.path);
	assert_int_equal(system(cmd), 0);
	open_node(&b, pg.conninfo);
	{
		struct vault *vs[] = { &a.v, &b.v };

		race_one_id(vs, 2);
	}
	vault_core_close(a.core);
	vault_core_close(b.core);
	fixture_dir_remove(&a.dir);
	fixture_dir_remove(&b.dir);
	pg_fixture_stop(&pg);
}

/* --- retention and the sweep ----------------------------------------------------------------- */

/* Past the retention a record answers nothing: the same id makes a new version (and the record
 * then names it); another body is no longer refused. The sweep removes it then, not before. */
static void test_expired_record_is_ignored_and_swept(void **state)
{
	struct probe_env *e = *state;
	struct obj_idem idem, other;
	struct kl_err err = { 0 };
	struct idem_rec rec;
	struct obj a, b, c;
	size_t n;

	idem_of(&idem, NULL, "req-old", "SetSecret", "aged", "v");
	assert_int_equal(set_secret(&e->v, "aged", "v", &idem, &a, &err), 0);
	age_record(&e->v, &idem, IDEM_RETENTION_S - 5);	/* not yet */
	assert_int_equal(set_secret(&e->v, "aged", "v", &idem, &b, &err), 0);
	assert_string_equal(b.version, a.version);
	obj_clear(&b);
	age_record(&e->v, &idem, 5);	/* now the retention has passed */
	assert_int_equal(set_secret(&e->v, "aged", "v", &idem, &b, &err), 0);
	assert_string_not_equal(b.version, a.version);
	assert_int_equal(versions_of(&e->v, 's', "aged"), 2);
	record_of(&e->v, &idem, &rec, NULL, NULL);
	assert_string_equal(rec.version, b.version);
	assert_true(clock_now_s() - rec.created < 5);
	age_record(&e->v, &idem, IDEM_RETENTION_S);
	idem_of(&other, NULL, "req-old", "SetSecret", "aged", "another body");
	assert_int_equal(set_secret(&e->v, "aged", "another body", &other, &c, &err), 0);
	assert_int_equal(versions_of(&e->v, 's', "aged"), 3);
	/* the sweep: nothing before the retention ends, the record after */
	assert_int_equal(idem_sweep(e->core, clock_now_s(), &n, &err), 0);
	assert_int_equal(n, 0);
	assert_int_equal(records_in(e->core), 1);
	assert_int_equal(idem_sweep(e->core, clock_now_s() + IDEM_RETENTION_S + 5, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(records_in(e->core), 0);
	assert_int_equal(versions_of(&e->v, 's', "aged"), 3);	/* the versions stay */
	obj_clear(&a);
	obj_clear(&b);
	obj_clear(&c);
}

/* Many records, expired and live interleaved: the sweep takes the expired ones in several
 * batches and leaves every live one. */
static void test_sweep_in_batches(void **state)
{
	enum { N = 2 * IDEM_SWEEP_BATCH + 44 };
	struct probe_env *e = *state;
	static char keys[2 * N][KEYBUF];
	static struct buf vals[2 * N];
	struct store_op *ops = calloc(2 * N, sizeof(*ops));
	struct kl_err err = { 0 };
	int64_t now = clock_now_s();
	size_t i, n;

	assert_non_null(ops);
	for (i = 0; i < 2 * N; i++) {
		struct idem_rec rec = { .tag = 's', .created = i % 2 ? now : now - IDEM_RETENTION_S };
		unsigned char digest[IDEM_DIGEST_LEN] = { 0 };

		digest[0] = (unsigned char)(i >> 8);
		digest[1] = (unsigned char)i;
		snprintf(rec.version, sizeof(rec.version), "%032zx", i);
		keyspace_idempotency(keys[i], "default", digest);
		buf_init(&vals[i], 4096);
		assert_int_equal(idem_rec_encode(e->core, keys[i], &rec, &vals[i], &err), 0);
		ops[i] = (struct store_op){ .kind = STORE_PUT, .key = keys[i],
					    .key_len = strlen(keys[i]), .val = vals[i].data,
					    .val_len = vals[i].len };
	}
	assert_int_equal(store_txn(e->core->st, ops, 2 * N, &err), 0);
	assert_int_equal(idem_sweep(e->core, now, &n, &err), 0);
	assert_int_equal(n, N);
	assert_int_equal(records_in(e->core), N);
	for (i = 1; i < 2 * N; i += 2) {	/* exactly the live ones are left */
		struct buf val;

		buf_init(&val, 4096);
		assert_int_equal(store_get(e->core->st, keys[i], strlen(keys[i]), &val, NULL, &err),
				 0);
		buf_clear(&val);
	}
	for (i = 0; i < 2 * N; i++)
		buf_clear(&vals[i]);
	free(ops);
}

/* A record rewritten between the sweep's read and its commit is kept: the writer wins, the sweep
 * reports no error and deletes it on a later run. */
static void test_sweep_yields_to_a_writer(void **state)
{
	struct probe_env *e = *state;
	struct obj_idem idem;
	struct kl_err err = { 0 };
	struct buf val;
	struct obj a;
	char key[KEYBUF];
	size_t n;

	idem_of(&idem, NULL, "req-w", "SetSecret", "written", "v");
	assert_int_equal(set_secret(&e->v, "written", "v", &idem, &a, &err), 0);
	keyspace_idempotency(key, e->v.name, idem.id);
	atomic_store(&e->st->racing, true);
	assert_int_equal(idem_sweep(e->core, clock_now_s() + IDEM_RETENTION_S, &n, &err), 0);
	assert_false(atomic_load(&e->st->racing));	/* the race ran */
	assert_int_equal(n, 0);
	buf_init(&val, 64);
	assert_int_equal(store_get(e->core->st, key, strlen(key), &val, NULL, &err), 0);
	assert_int_equal(val.len, 9);
	assert_memory_equal(val.data, "rewritten", 9);	/* the writer's, kept */
	buf_clear(&val);
	assert_int_equal(idem_sweep(e->core, clock_now_s(), &n, &err), 0);	/* damaged: swept */
	assert_int_equal(n, 1);
	assert_int_equal(records_in(e->core), 0);
	obj_clear(&a);
}

/* A damaged record answers nothing and is replaced by the next create with its id. */
static void test_damaged_record_is_replaced(void **state)
{
	struct probe_env *e = *state;
	struct obj_idem idem;
	struct kl_err err = { 0 };
	struct idem_rec rec;
	char key[KEYBUF];
	struct obj a;

	idem_of(&idem, NULL, "req-d", "SetSecret", "damaged", "v");
	keyspace_idempotency(key, e->v.name, idem.id);
	assert_int_equal(store_put(e->core->st, key, strlen(key), "junk", 4, &err), 0);
	assert_int_equal(set_secret(&e->v, "damaged", "v", &idem, &a, &err), 0);
	record_of(&e->v, &idem, &rec, NULL, NULL);
	assert_string_equal(rec.version, a.version);
	obj_clear(&a);
}

int main(void)
{
#define ENV(t) cmocka_unit_test_setup_teardown(t, probe_env_setup, probe_env_teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prepare_separates_every_part),
		ENV(test_same_id_same_body_replays),
		ENV(test_same_id_other_request_is_refused),
		ENV(test_no_id_or_another_principal_makes_versions),
		ENV(test_key_create_and_rotate_replay),
		ENV(test_replay_of_a_purged_version_creates_again),
		ENV(test_concurrent_attempts_make_one_version),
		ENV(test_expired_record_is_ignored_and_swept),
		ENV(test_sweep_in_batches),
		ENV(test_sweep_yields_to_a_writer),
		ENV(test_damaged_record_is_replaced),
		cmocka_unit_test(test_concurrent_attempts_on_two_nodes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
