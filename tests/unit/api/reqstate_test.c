/* api/'s request object (struct api_state, made by api_begin in the request's arena) and the
 * arena itself: what dispatch, the handlers and the audit read (route, plane, vault, path
 * parameters, the principal kept whole), the request's and response's strings in the arena, and
 * the wipe when the request is freed. */
#include "api_fixture.h"

/* GET path?query on the default vault with authz, answered and done as http/ does; the request
 * is left in req for a look at what api/ made of it. */
static void get_kept(struct api_env *e, const char *path, const char *query, const char *authz,
		     struct api_req *req, struct api_resp *resp)
{
	const struct api_drive_req d = { .method = "GET", .host = "default.vault.localhost",
					 .path = path, .query = query, .authorization = authz,
					 .keep = req };

	api_env_drive(e, &d, resp);
}

/* GET /secrets/s?api-version=7.6 with authz, kept (get_kept). */
static void get_secret(struct api_env *e, struct api_req *req, struct api_resp *resp,
		       const char *authz)
{
	get_kept(e, "/secrets/s", "api-version=7.6", authz, req, resp);
}

static void put_secret(struct api_env *e)
{
	assert_int_equal(api_env_call(e, "PUT", "default.vault.localhost", "/secrets/s", "7.6",
				      "{\"value\":\"v\"}", NULL), 200);
}

static void test_state_of_an_admin_get(void **state)
{
	struct api_env *e = *state;
	struct api_req req;
	struct api_resp resp;
	const struct route *r;
	size_t i;

	put_secret(e);
	get_secret(e, &req, &resp, e->bearer);
	assert_int_equal(resp.status, 200);
	assert_non_null(req.state);
	assert_true(arena_owns(&req.arena, req.state));
	assert_non_null(r = api_req_route(&req));
	assert_string_equal(r->op, "GetSecret");
	assert_int_equal(req.state->plane, PLANE_DATA);
	assert_true(api_req_who(&req)->is_admin);
	assert_string_equal(api_req_vault(&req), "default");
	assert_true(arena_owns(&req.arena, api_req_vault(&req)));
	assert_true(req.state->n_params >= 1);
	assert_string_equal(req.state->params[0], "s");
	assert_true(arena_owns(&req.arena, req.state->params[0]));
	assert_true(arena_owns(&req.arena, req.query[0].value));
	assert_true(resp.n_headers > 0);
	for (i = 0; i < resp.n_headers; i++) {
		assert_true(resp.headers[i].in_arena);
		assert_true(arena_owns(&req.arena, resp.headers[i].value));
	}
	api_req_free(&req);	/* before the response, as tests and fuzz drivers may do */
	api_resp_free(&resp);
}

static void test_principal_kept_whole(void **state)
{
	struct api_env *e = *state;
	char bearer[512];
	struct api_req req;
	struct api_resp resp;
	const struct principal_ref *who;

	put_secret(e);
	api_env_make_principal(e, "default.vault.localhost", "reader-1", "Key Vault Secrets User",
			       bearer, sizeof(bearer));
	get_secret(e, &req, &resp, bearer);
	assert_int_equal(resp.status, 200);
	who = api_req_who(&req);
	assert_false(who->is_admin);
	assert_string_equal(who->name, "reader-1");
	assert_int_equal(strlen(who->id), 36);
	assert_ptr_equal(who, &req.state->who);
	api_resp_free(&resp);
	api_req_free(&req);
}

static void test_state_before_begin_and_unmatched(void **state)
{
	struct api_env *e = *state;
	struct api_req req;
	struct api_resp resp;
	struct kl_err err = { 0 };

	/* Refused by http/ before api_begin (a bad head): no state, audited all the same. */
	assert_int_equal(api_req_init(e->api, &req, &err), 0);
	api_resp_init(&resp);
	assert_null(api_req_route(&req));
	assert_false(api_req_who(&req)->is_admin);
	assert_string_equal(api_req_who(&req)->name, "");
	assert_null(api_req_vault(&req));
	api_req_done(e->api, &req, &resp, 0);
	api_resp_free(&resp);
	api_req_free(&req);

	/* No route: a state without one, the principal never set. */
	get_kept(e, "/nothing/here", "api-version=7.6", e->bearer, &req, &resp);
	assert_int_equal(resp.status, 404);
	assert_non_null(req.state);
	assert_null(api_req_route(&req));
	assert_false(api_req_who(&req)->is_admin);
	api_resp_free(&resp);
	api_req_free(&req);
}

static void test_free_wipes_the_arena(void **state)
{
	struct api_env *e = *state;
	static const char secret[] = "hunter2-query-value";
	struct api_req req;
	struct api_resp resp;
	char query[64];
	unsigned char *p;
	size_t i;

	snprintf(query, sizeof(query), "api-version=7.6&x=%s", secret);
	get_kept(e, "/secrets/s", query, e->bearer, &req, &resp);
	p = (unsigned char *)req.query[1].value;
	/* In the part of the arena inside struct api_req: still readable after the free. */
	assert_true(p >= req.arena.first && p < req.arena.first + sizeof(req.arena.first));
	assert_memory_equal(p, secret, sizeof(secret));
	api_resp_free(&resp);
	api_req_free(&req);
	for (i = 0; i < sizeof(secret); i++)
		assert_int_equal(p[i], 0);
	assert_null(req.state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_state_of_an_admin_get),
		cmocka_unit_test(test_principal_kept_whole),
		cmocka_unit_test(test_state_before_begin_and_unmatched),
		cmocka_unit_test(test_free_wipes_the_arena),
	};

	return cmocka_run_group_tests(tests, api_env_setup_default, api_env_teardown);
}
