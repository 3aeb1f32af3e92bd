/* vault/vaults.c, principals.c and assignments.c on a real LMDB deployment: the life of a vault
 * (create, update, soft delete, recover, purge with everything it held), records of the first
 * format, principals and their tokens, role assignments and what removes them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "vault_fixture.h"
#include "util/clock.h"
#include "util/json.h"
#include "util/rec.h"
#include "vault/authenticate.h"
#include "vault/assignments.h"
#include "vault/internal.h"
#include "vault/object.h"
#include "vault/principals.h"
#include "vault/secrets.h"
#include "vault/vaults.h"

static int setup(void **state)
{
	return vault_env_setup(state, 7, false);
}

static int teardown(void **state)
{
	return vault_env_teardown(state);
}

static void create(struct vault_env *e, const char *name, int days, bool protect)
{
	struct vault_info vi;
	struct kl_err err = { 0 };

	vault_info_init(&vi);
	snprintf(vi.name, sizeof(vi.name), "%s", name);
	snprintf(vi.subscription, sizeof(vi.subscription), "sub-1");
	snprintf(vi.resource_group, sizeof(vi.resource_group), "rg-1");
	snprintf(vi.location, sizeof(vi.location), "westeurope");
	vi.retention_days = days;
	vi.purge_protection = protect;
	vi.rbac = true;
	assert_int_equal(buf_append_str(&vi.props, "{\"tags\":{\"a\":\"b\"}}", &err), 0);
	assert_int_equal(vaults_create(e->core, &vi, &err), 0);
	vault_info_clear(&vi);
}

static void put_secret(struct vault_env *e, const char *vault, const char *name, const char *value)
{
	struct vault v;
	struct obj in, out;
	struct kl_err err = { 0 };

	assert_int_equal(vault_open(e->core, vault, &v, &err), 0);
	obj_init(&in);
	obj_init(&out);
	in.attrs.enabled = true;
	assert_int_equal(obj_create(&v, OBJ_SECRET, name, &in, value, strlen(value), &out, &err), 0);
	obj_clear(&in);
	obj_clear(&out);
}

static int count_secrets(struct vault_env *e, const char *vault)
{
	struct vault v;
	struct obj_page p;
	struct kl_err err = { 0 };
	int n;

	assert_int_equal(vault_open(e->core, vault, &v, &err), 0);
	memset(&p, 0, sizeof(p));
	assert_int_equal(obj_list(&v, OBJ_SECRET, "", 25, &p, &err), 0);
	n = (int)p.n;
	obj_page_clear(&p);
	return n;
}

static void test_create_update_and_conflicts(void **state)
{
	struct vault_env *e = *state;
	struct vault_info vi, in;
	struct vault v;
	struct kl_err err = { 0 };
	uint64_t version;

	create(e, "Alpha-1", 30, false);
	vault_info_init(&vi);
	vault_info_init(&in);
	assert_int_equal(vaults_get(e->core, "alpha-1", false, &vi, &version, &err), 0);
	assert_string_equal(vi.name, "Alpha-1");
	assert_string_equal(vi.resource_group, "rg-1");
	assert_int_equal(vi.retention_days, 30);
	assert_true(vi.props.len > 0);
	assert_int_equal(vault_open(e->core, "ALPHA-1", &v, &err), 0);
	assert_string_equal(v.name, "alpha-1");
	assert_int_equal(v.retention_days, 30);

	/* the name is taken, in any case */
	snprintf(in.name, sizeof(in.name), "ALPHA-1");
	in.retention_days = 90;
	assert_int_equal(vaults_create(e->core, &in, &err), -1);
	assert_int_equal(err.code, KL_ECONFLICT);
	assert_string_equal(err.azure_code, "VaultAlreadyExists");
	kl_err_clear(&err);

	/* bad names and retention */
	snprintf(in.name, sizeof(in.name), "1abc");
	assert_int_equal(vaults_create(e->core, &in, &err), -1);
	assert_string_equal(err.azure_code, "VaultNameNotValid");
	kl_err_clear(&err);
	snprintf(in.name, sizeof(in.name), "good-name");
	in.retention_days = 6;
	assert_int_equal(vaults_create(e->core, &in, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	kl_err_clear(&err);

	/* an update needs the version it read; purge protection only goes on */
	memcpy(&in, &vi, offsetof(struct vault_info, props));
	in.retention_days = 60;
	in.purge_protection = true;
	assert_int_equal(vaults_update(e->core, &in, version + 1, &err), -1);
	assert_int_equal(err.code, KL_ECONFLICT);
	kl_err_clear(&err);
	assert_int_equal(vaults_update(e->core, &in, version, &err), 0);
	assert_int_equal(vaults_get(e->core, "alpha-1", false, &vi, &version, &err), 0);
	assert_int_equal(vi.retention_days, 60);
	assert_true(vi.purge_protection);
	assert_int_equal(vi.props.len, 0);	/* props are replaced, not merged, by the core */
	in.purge_protection = false;
	assert_int_equal(vaults_update(e->core, &in, version, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	vault_info_clear(&vi);
	vault_info_clear(&in);
}

struct names {
	char list[8][VAULT_NAME_MAX + 1];
	size_t n;
};

static int add_name(void *arg, const struct vault_info *vi, struct kl_err *err)
{
	struct names *n = arg;

	(void)err;
	if (n->n < 8)
		snprintf(n->list[n->n++], sizeof(n->list[0]), "%s", vi->name);
	return 0;
}

static void test_delete_recover_purge(void **state)
{
	struct vault_env *e = *state;
	struct vault_info vi;
	struct names live = { 0 }, deleted = { 0 };
	struct vault v;
	struct kl_err err = { 0 };

	create(e, "beta", 7, false);
	put_secret(e, "beta", "s1", "one");
	put_secret(e, "default", "s1", "kept");
	assert_int_equal(vaults_delete(e->core, "beta", &err), 0);
	assert_int_equal(vault_open(e->core, "beta", &v, &err), -1);
	assert_int_equal(err.code, KL_ENOTFOUND);
	kl_err_clear(&err);
	assert_int_equal(vaults_each(e->core, false, add_name, &live, &err), 0);
	assert_int_equal(vaults_each(e->core, true, add_name, &deleted, &err), 0);
	assert_int_equal(live.n, 1);
	assert_string_equal(live.list[0], "default");
	assert_int_equal(deleted.n, 1);
	vault_info_init(&vi);
	assert_int_equal(vaults_get(e->core, "beta", true, &vi, NULL, &err), 0);
	assert_true(vi.scheduled_purge == vi.deleted_date + 7 * 86400);
	vault_info_clear(&vi);
	/* a deleted name is not free */
	create(e, "gamma", 7, false);
	vault_info_init(&vi);
	snprintf(vi.name, sizeof(vi.name), "beta");
	vi.retention_days = 7;
	assert_int_equal(vaults_create(e->core, &vi, &err), -1);
	assert_string_equal(err.azure_code, "ConflictError");
	kl_err_clear(&err);
	vault_info_clear(&vi);

	assert_int_equal(vaults_recover(e->core, "beta", &err), 0);
	assert_int_equal(count_secrets(e, "beta"), 1);
	assert_int_equal(vaults_recover(e->core, "beta", &err), -1);	/* not deleted now */
	kl_err_clear(&err);

	/* purge: only a deleted vault; everything it held goes, other vaults keep theirs */
	assert_int_equal(store_put(e->core->st, "a/beta/c1", 9, "", 0, &err), 0);
	assert_int_equal(store_put(e->core->st, "a/default/c1", 12, "", 0, &err), 0);
	assert_int_equal(store_put(e->core->st, "i/beta/r1", 9, "", 0, &err), 0);
	assert_int_equal(store_put(e->core->st, "i/default/r1", 12, "", 0, &err), 0);
	assert_int_equal(vaults_purge(e->core, "beta", &err), -1);
	kl_err_clear(&err);
	assert_int_equal(vaults_delete(e->core, "beta", &err), 0);
	assert_int_equal(vaults_purge(e->core, "beta", &err), 0);
	assert_int_equal(vaults_get(e->core, "beta", true, &vi, NULL, &err), -1);
	kl_err_clear(&err);
	create(e, "beta", 7, false);
	assert_int_equal(count_secrets(e, "beta"), 0);
	assert_int_equal(count_secrets(e, "default"), 1);
	{	/* the certificate renewal index went with the vault, */
		struct buf val;

		buf_init(&val, 64);
		assert_int_equal(store_get(e->core->st, "a/beta/c1", 9, &val, NULL, &err), -1);
		assert_int_equal(err.code, KL_ENOTFOUND);
		assert_int_equal(store_get(e->core->st, "a/default/c1", 12, &val, NULL, &err), 0);
		/* and its idempotency records */
		assert_int_equal(store_get(e->core->st, "i/beta/r1", 9, &val, NULL, &err), -1);
		assert_int_equal(err.code, KL_ENOTFOUND);
		assert_int_equal(store_get(e->core->st, "i/default/r1", 12, &val, NULL, &err), 0);
		buf_clear(&val);
	}
}

static void test_purge_protection_and_due_purge(void **state)
{
	struct vault_env *e = *state;
	struct kl_err err = { 0 };
	size_t n = 0;

	create(e, "locked", 7, true);
	put_secret(e, "locked", "s", "v");
	assert_int_equal(vaults_delete(e->core, "locked", &err), 0);
	assert_int_equal(vaults_purge(e->core, "locked", &err), -1);
	assert_int_equal(err.code, KL_ECONFLICT);
	kl_err_clear(&err);
	assert_int_equal(vaults_purge_due(e->core, clock_now_s(), &n, &err), 0);
	assert_int_equal(n, 0);
	assert_int_equal(vaults_purge_due(e->core, clock_now_s() + 8 * 86400, &n, &err), 0);
	assert_int_equal(n, 1);
	create(e, "locked", 7, false);
	assert_int_equal(count_secrets(e, "locked"), 0);
}

/* A vault record as the first release wrote it still opens, as a live RBAC vault. */
static void test_format_one_record(void **state)
{
	struct vault_env *e = *state;
	struct kl_err err = { 0 };
	struct vault_info vi;
	struct vault v;
	struct buf rec;

	buf_init(&rec, 4096);
	assert_int_equal(rec_put_u8(&rec, 1, &err), 0);
	assert_int_equal(rec_put_str(&rec, "Old-Vault", &err), 0);
	assert_int_equal(rec_put_i64(&rec, 1700000000, &err), 0);
	assert_int_equal(rec_put_u64(&rec, 14, &err), 0);
	assert_int_equal(rec_put_u8(&rec, 1, &err), 0);
	assert_int_equal(store_put(e->core->st, "V/old-vault", 11, rec.data, rec.len, &err), 0);
	buf_clear(&rec);
	assert_int_equal(vault_open(e->core, "old-vault", &v, &err), 0);
	assert_int_equal(v.retention_days, 14);
	assert_true(v.purge_protection);
	assert_true(v.rbac);
	vault_info_init(&vi);
	assert_int_equal(vaults_get(e->core, "old-vault", false, &vi, NULL, &err), 0);
	assert_string_equal(vi.name, "Old-Vault");
	assert_string_equal(vi.subscription, "");
	vault_info_clear(&vi);
}

static void test_principals_and_tokens(void **state)
{
	struct vault_env *e = *state;
	char tok[TOKEN_TEXT_LEN], tok2[TOKEN_TEXT_LEN];
	struct principal p, q;
	struct principal_token t, t2, *list = NULL;
	struct principal_ref who;
	struct kl_err err = { 0 };
	size_t n;

	assert_int_equal(principal_create(e->core, "ci.bot_1", "application", NULL, 0, &p, &t, tok, &err), 0);
	assert_int_equal(strncmp(tok, "kl1.", 4), 0);
	assert_int_equal(principal_create(e->core, "CI.BOT_1", "user", NULL, 0, &q, &t2, tok2, &err), -1);
	assert_string_equal(err.azure_code, "PrincipalAlreadyExists");
	kl_err_clear(&err);
	assert_int_equal(principal_create(e->core, "-bad", "user", NULL, 0, &q, &t2, tok2, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	kl_err_clear(&err);
	assert_int_equal(principal_create(e->core, "x", "robot", NULL, 0, &q, &t2, tok2, &err), -1);
	kl_err_clear(&err);

	assert_int_equal(principal_get(e->core, "ci.BOT_1", &q, &err), 0);
	assert_string_equal(q.id, p.id);
	assert_int_equal(principal_get(e->core, p.id, &q, &err), 0);

	assert_int_equal(authenticate_bearer(e->core, tok, strlen(tok), &who, &err), 0);
	assert_false(who.is_admin);
	assert_string_equal(who.id, p.id);
	assert_int_equal(authenticate_bearer(e->core, "kl1.nope", 8, &who, &err), -1);
	assert_int_equal(err.code, KL_EUNAUTH);
	kl_err_clear(&err);

	/* a second token; revoking the first leaves the second working */
	assert_int_equal(principal_token_add(e->core, p.id, clock_now_s() + 3600, &t2, tok2, &err), 0);
	assert_int_equal(principal_token_revoke(e->core, p.id, t.id, NULL, &err), 0);
	assert_int_equal(authenticate_bearer(e->core, tok, strlen(tok), &who, &err), -1);
	kl_err_clear(&err);
	assert_int_equal(authenticate_bearer(e->core, tok2, strlen(tok2), &who, &err), 0);
	assert_int_equal(principal_tokens(e->core, p.id, &list, &n, &err), 0);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++) {	/* both made within a second: any order */
		assert_int_equal(list[i].revoked, strcmp(list[i].id, t.id) == 0);
		assert_int_equal(list[i].expires > 0, strcmp(list[i].id, t2.id) == 0);
	}
	free(list);

	/* deleting the principal kills every token */
	assert_int_equal(principal_delete(e->core, p.id, &err), 0);
	assert_int_equal(authenticate_bearer(e->core, tok2, strlen(tok2), &who, &err), -1);
	kl_err_clear(&err);
	assert_int_equal(principal_get(e->core, "ci.bot_1", &q, &err), -1);
	assert_int_equal(err.code, KL_ENOTFOUND);
}

static void test_expired_token_refused(void **state)
{
	struct vault_env *e = *state;
	char tok[TOKEN_TEXT_LEN];
	struct principal p;
	struct principal_token t;
	struct principal_ref who;
	struct kl_err err = { 0 };

	assert_int_equal(principal_create(e->core, "brief", "user", NULL, clock_now_s() + 1, &p, &t, tok, &err), 0);
	assert_int_equal(authenticate_bearer(e->core, tok, strlen(tok), &who, &err), 0);
	sleep(2);
	assert_int_equal(authenticate_bearer(e->core, tok, strlen(tok), &who, &err), -1);
	assert_int_equal(err.code, KL_EUNAUTH);
}

static void test_assignments(void **state)
{
	struct vault_env *e = *state;
	char tok[TOKEN_TEXT_LEN], roles[8][ASSIGN_ROLE_MAX + 1];
	struct principal p;
	struct principal_token t;
	struct assignment a, b, c, got;
	struct kl_err err = { 0 };
	size_t n;

	create(e, "delta", 7, false);
	assert_int_equal(principal_create(e->core, "app", "application", NULL, 0, &p, &t, tok, &err), 0);
	memset(&a, 0, sizeof(a));
	memcpy(a.principal_id, p.id, sizeof(a.principal_id));
	snprintf(a.role_id, sizeof(a.role_id), "role-on-vault");
	snprintf(a.vault, sizeof(a.vault), "DELTA");
	assert_int_equal(assignment_create(e->core, &a, &err), 0);
	assert_string_equal(a.vault, "delta");
	b = a;
	assert_int_equal(assignment_create(e->core, &b, &err), -1);
	assert_string_equal(err.azure_code, "RoleAssignmentExists");
	kl_err_clear(&err);
	memset(&c, 0, sizeof(c));
	memcpy(c.principal_id, p.id, sizeof(c.principal_id));
	snprintf(c.role_id, sizeof(c.role_id), "role-on-deployment");
	assert_int_equal(assignment_create(e->core, &c, &err), 0);
	snprintf(b.vault, sizeof(b.vault), "nosuchvault");
	assert_int_equal(assignment_create(e->core, &b, &err), -1);
	assert_int_equal(err.code, KL_ENOTFOUND);
	kl_err_clear(&err);

	assert_int_equal(assignment_roles(e->core, "delta", p.id, roles, 8, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(assignment_roles(e->core, "default", p.id, roles, 8, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(roles[0], "role-on-deployment");
	assert_int_equal(assignment_get(e->core, a.id, &got, &err), 0);
	assert_string_equal(got.role_id, "role-on-vault");

	/* purging the vault drops its assignments, not the deployment's */
	assert_int_equal(vaults_delete(e->core, "delta", &err), 0);
	assert_int_equal(vaults_purge(e->core, "delta", &err), 0);
	assert_int_equal(assignment_get(e->core, a.id, &got, &err), -1);
	kl_err_clear(&err);
	assert_int_equal(assignment_get(e->core, c.id, &got, &err), 0);
	/* deleting the principal drops the rest */
	assert_int_equal(principal_delete(e->core, p.id, &err), 0);
	assert_int_equal(assignment_get(e->core, c.id, &got, &err), -1);
	assert_int_equal(err.code, KL_ENOTFOUND);
}

/* The writing jobs' lease: one holder at a time, taken back by the same node at once, by another
 * only once it expired, and given up on close. */
static void test_jobs_lease(void **state)
{
	struct vault_env *e = *state;
	unsigned char other[44];
	struct kl_err err = { 0 };
	struct buf cur;
	int64_t now = clock_now_s();

	/* the core's own background thread may hold it already: that is this node */
	assert_true(vault_jobs_lease(e->core, now, 180));
	assert_true(vault_jobs_lease(e->core, now + 1, 180));	/* renewed */
	memcpy(other, "00000000-0000-4000-8000-000000000001", 36);
	rec_be64(other + 36, (uint64_t)(now + 100));
	assert_int_equal(store_put(e->core->st, "m/lease/jobs", 12, other, sizeof(other), &err), 0);
	assert_false(vault_jobs_lease(e->core, now, 180));	/* another node holds it */
	vault_jobs_release(e->core);				/* not ours: stays */
	buf_init(&cur, 256);
	assert_int_equal(store_get(e->core->st, "m/lease/jobs", 12, &cur, NULL, &err), 0);
	assert_memory_equal(cur.data, other, 36);
	buf_clear(&cur);
	assert_true(vault_jobs_lease(e->core, now + 101, 180));	/* it expired */
	vault_jobs_release(e->core);
	buf_init(&cur, 256);
	assert_int_equal(store_get(e->core->st, "m/lease/jobs", 12, &cur, NULL, &err), -1);
	assert_int_equal(err.code, KL_ENOTFOUND);
	buf_clear(&cur);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_update_and_conflicts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_recover_purge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_purge_protection_and_due_purge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_format_one_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_principals_and_tokens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expired_token_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_assignments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_jobs_lease, setup, teardown),
	};

	json_util_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
