/* Principals and tokens (principals.h). A token's digest is the key of its live record, so
 * authenticating is one store read; revoking deletes that record and marks the metadata. Token
 * text exists only in the caller's buffer, which the caller wipes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/rand.h"
#include "util/clock.h"
#include "util/hex.h"
#include "util/rec.h"
#include "util/secbuf.h"
#include "vault/assignments.h"
#include "vault/core.h"
#include "vault/internal.h"
#include "vault/principals.h"

#define PRINCIPAL_FORMAT 3	/* 1 had no subject, 2 no client certificate */
#define TOKEN_FORMAT 1

static int fail_no_principal(struct kl_err *err, const char *what)
{
	return kl_fail_az(err, KL_ENOTFOUND, "PrincipalNotFound", NULL,
			  "The principal '%.64s' does not exist.", what);
}

bool principal_name_is_valid(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		char c = s[i];
		bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');

		if (i >= PRINCIPAL_NAME_MAX || !(alnum || (i > 0 && (c == '.' || c == '_' || c == '-'))))
			return false;
	}
	return i > 0;
}

/* S/<hex SHA-256 of the subject>: subjects may hold any byte, keys should not. */
static int subject_key(char *out, const char *subject, struct kl_err *err)
{
	unsigned char d[TOKEN_DIGEST_LEN];

	if (token_digest(subject, strlen(subject), d, err) != 0)
		return -1;
	memcpy(out, KEYSPACE_SUBJECTS, 2);
	hex_encode(d, sizeof(d), out + 2);
	return 0;
}

/* ---- records ---- */

static int principal_encode(const struct principal *p, struct buf *out, struct kl_err *err)
{
	if (rec_put_u8(out, PRINCIPAL_FORMAT, err) != 0 || rec_put_str(out, p->id, err) != 0 ||
	    rec_put_str(out, p->name, err) != 0 || rec_put_str(out, p->type, err) != 0 ||
	    rec_put_i64(out, p->created, err) != 0 || rec_put_str(out, p->subject, err) != 0 ||
	    rec_put_str(out, p->client_cert, err) != 0)
		return -1;
	return 0;
}

static int principal_decode(const void *data, size_t n, struct principal *p, struct kl_err *err)
{
	struct rec_reader r;

	uint8_t format;

	rec_reader_init(&r, data, n);
	memset(p, 0, sizeof(*p));
	format = rec_get_u8(&r);
	if (format < 1 || format > PRINCIPAL_FORMAT ||
	    !rec_get_fixed_str(&r, p->id, sizeof(p->id)) ||
	    !rec_get_fixed_str(&r, p->name, sizeof(p->name)) ||
	    !rec_get_fixed_str(&r, p->type, sizeof(p->type)))
		return kl_fail(err, KL_ECORRUPT, "a stored principal is damaged");
	p->created = rec_get_i64(&r);
	if (format >= 2 && !rec_get_fixed_str(&r, p->subject, sizeof(p->subject)))
		return kl_fail(err, KL_ECORRUPT, "a stored principal is damaged");
	if (format >= 3 &&
	    !rec_get_fixed_str(&r, p->client_cert, sizeof(p->client_cert)))
		return kl_fail(err, KL_ECORRUPT, "a stored principal is damaged");
	if (!rec_done(&r))
		return kl_fail(err, KL_ECORRUPT, "a stored principal is damaged");
	return 0;
}

/* Token metadata (Q/) and the live token (T/) share one layout: principal id, token id, digest
 * in hex, dates, revoked. */
struct token_rec {
	char principal_id[37];
	struct principal_token t;
	char digest[2 * TOKEN_DIGEST_LEN + 1];
};

static int token_encode(const struct token_rec *t, struct buf *out, struct kl_err *err)
{
	if (rec_put_u8(out, TOKEN_FORMAT, err) != 0 || rec_put_str(out, t->principal_id, err) != 0 ||
	    rec_put_str(out, t->t.id, err) != 0 || rec_put_str(out, t->digest, err) != 0 ||
	    rec_put_i64(out, t->t.created, err) != 0 || rec_put_i64(out, t->t.expires, err) != 0 ||
	    rec_put_u8(out, t->t.revoked, err) != 0)
		return -1;
	return 0;
}

static int token_decode(const void *data, size_t n, struct token_rec *t, struct kl_err *err)
{
	struct rec_reader r;

	rec_reader_init(&r, data, n);
	memset(t, 0, sizeof(*t));
	if (rec_get_u8(&r) != TOKEN_FORMAT ||
	    !rec_get_fixed_str(&r, t->principal_id, sizeof(t->principal_id)) ||
	    !rec_get_fixed_str(&r, t->t.id, sizeof(t->t.id)) ||
	    !rec_get_fixed_str(&r, t->digest, sizeof(t->digest)))
		return kl_fail(err, KL_ECORRUPT, "a stored token record is damaged");
	t->t.created = rec_get_i64(&r);
	t->t.expires = rec_get_i64(&r);
	t->t.revoked = rec_get_u8(&r) != 0;
	if (!rec_done(&r))
		return kl_fail(err, KL_ECORRUPT, "a stored token record is damaged");
	return 0;
}

/* ---- reading ---- */

static int load_by_id(struct vault_core *core, const char *id, struct principal *out,
		      uint64_t *version, struct kl_err *err)
{
	char key[KEYBUF];
	struct buf val;
	int rc = -1;

	buf_init(&val, 64 * 1024);
	if (!hex_is_uuid(id)) {
		fail_no_principal(err, id);
		goto out;
	}
	keyspace_principal(key, id);
	if (store_get(core->st, key, strlen(key), &val, version, err) != 0) {
		if (err->code == KL_ENOTFOUND)
			fail_no_principal(err, id);
		goto out;
	}
	rc = principal_decode(val.data, val.len, out, err);
out:
	buf_clear(&val);
	return rc;
}

int principal_get(struct vault_core *core, const char *id_or_name, struct principal *out,
		  struct kl_err *err)
{
	char key[KEYBUF], lname[PRINCIPAL_NAME_MAX + 1];
	struct buf val;
	int rc = -1;

	if (hex_is_uuid(id_or_name)) {
		if (load_by_id(core, id_or_name, out, NULL, err) == 0)
			return 0;
		if (err->code != KL_ENOTFOUND)
			return -1;
		kl_err_clear(err);	/* a name may look like an id */
	}
	if (!principal_name_is_valid(id_or_name) || !lower_copy(lname, sizeof(lname), id_or_name))
		return fail_no_principal(err, id_or_name);
	buf_init(&val, 64);
	keyspace_principal_name(key, lname);
	if (store_get(core->st, key, strlen(key), &val, NULL, err) != 0 || buf_append(&val, "", 1, err) != 0) {
		if (err->code == KL_ENOTFOUND)
			fail_no_principal(err, id_or_name);
		goto out;
	}
	rc = load_by_id(core, (const char *)val.data, out, NULL, err);
out:
	buf_clear(&val);
	return rc;
}

struct each_scan {
	principal_fn fn;
	void *arg;
	struct vault_core *core;
};

static int each_name(void *arg, const void *key, size_t key_len, const void *val, size_t val_len,
		     uint64_t version, struct kl_err *err)
{
	struct each_scan *e = arg;
	struct principal p;
	char id[37];

	(void)key;
	(void)key_len;
	(void)version;
	if (val_len != 36)
		return kl_fail(err, KL_ECORRUPT, "a stored principal name index is damaged");
	memcpy(id, val, 36);
	id[36] = '\0';
	if (load_by_id(e->core, id, &p, NULL, err) != 0)
		return -1;
	return e->fn(e->arg, &p, err);
}

int principal_each(struct vault_core *core, principal_fn fn, void *arg, struct kl_err *err)
{
	struct each_scan e = { .fn = fn, .arg = arg, .core = core };

	return store_scan(core->st, KEYSPACE_PRINCIPAL_NAMES, 2, NULL, 0, each_name, &e, err);
}

struct tokens_scan {
	struct principal_token *list;
	size_t n;
};

static int collect_token(void *arg, const void *key, size_t key_len, const void *val, size_t val_len,
			 uint64_t version, struct kl_err *err)
{
	struct tokens_scan *s = arg;
	struct principal_token *grown;
	struct token_rec t;

	(void)key;
	(void)key_len;
	(void)version;
	if (token_decode(val, val_len, &t, err) != 0)
		return -1;
	if ((grown = realloc(s->list, (s->n + 1) * sizeof(*grown))) == NULL)
		return kl_fail(err, KL_ENOMEM, "out of memory");
	s->list = grown;
	s->list[s->n++] = t.t;
	return 0;
}

static int cmp_created(const void *a, const void *b)
{
	const struct principal_token *x = a, *y = b;

	if (x->created != y->created)
		return x->created < y->created ? -1 : 1;
	return strcmp(x->id, y->id);
}

int principal_tokens(struct vault_core *core, const char *id, struct principal_token **out,
		     size_t *n, struct kl_err *err)
{
	struct tokens_scan s = { 0 };
	char prefix[KEYBUF];

	*out = NULL;
	*n = 0;
	if (!hex_is_uuid(id))
		return fail_no_principal(err, id);
	keyspace_principal_token(prefix, id, NULL);
	if (store_scan(core->st, prefix, strlen(prefix), NULL, 0, collect_token, &s, err) != 0) {
		free(s.list);
		return -1;
	}
	if (s.n > 1)
		qsort(s.list, s.n, sizeof(*s.list), cmp_created);
	*out = s.list;
	*n = s.n;
	return 0;
}

/* ---- writing ---- */

/* A new token for principal pid: its text into token_out, its records into t, the ops that
 * store them into ops (two puts; keys and values live in the buffers given). */
static int new_token(const char *pid, int64_t expires, struct token_rec *t, char *token_out,
		     char *qkey, char *tkey, struct buf *rec, struct kl_err *err)
{
	unsigned char digest[TOKEN_DIGEST_LEN];

	memset(t, 0, sizeof(*t));
	memcpy(t->principal_id, pid, 37);
	if (token_new(token_out, err) != 0 || token_digest(token_out, strlen(token_out), digest, err) != 0 ||
	    crypto_random_uuid(t->t.id, err) != 0)
		return -1;
	hex_encode(digest, sizeof(digest), t->digest);
	t->t.created = clock_now_s();
	t->t.expires = expires;
	keyspace_principal_token(qkey, pid, t->t.id);
	keyspace_token(tkey, t->digest);
	return token_encode(t, rec, err);
}

int principal_create(struct vault_core *core, const char *name, const char *type,
		     const char *subject, int64_t expires, struct principal *out,
		     struct principal_token *tok, char token_out[TOKEN_TEXT_LEN], struct kl_err *err)
{
	char pkey[KEYBUF], nkey[KEYBUF], qkey[KEYBUF], tkey[KEYBUF], skey[KEYBUF];
	char lname[PRINCIPAL_NAME_MAX + 1];
	struct buf sval;
	size_t n_ops;
	struct buf prec, trec;
	struct token_rec t;
	int rc = -1;

	buf_init(&prec, 4096);
	buf_init(&trec, 4096);
	memset(out, 0, sizeof(*out));
	if (!principal_name_is_valid(name) || !lower_copy(lname, sizeof(lname), name)) {
		kl_fail(err, KL_EINVAL, "A principal name is 1 to %d characters of letters, digits, '.', "
			"'_' and '-', starting with a letter or digit.", PRINCIPAL_NAME_MAX);
		goto out;
	}
	/* Lookups take an id before a name, and audit lines call the bootstrap administrator
	 * "admin": a principal named like an id, or "admin", would be mistaken for another. */
	if (hex_is_uuid(lname) || strcmp(lname, "admin") == 0) {
		kl_fail(err, KL_EINVAL, "A principal name may not have the form of a principal id, "
			"nor be \"admin\" (the bootstrap administrator's name).");
		goto out;
	}
	if (strcmp(type, "user") != 0 && strcmp(type, "application") != 0) {
		kl_fail(err, KL_EINVAL, "A principal's type is \"user\" or \"application\".");
		goto out;
	}
	if (subject != NULL && (*subject == '\0' || strlen(subject) > PRINCIPAL_SUBJECT_MAX)) {
		kl_fail(err, KL_EINVAL, "A subject is 1 to %d bytes.", PRINCIPAL_SUBJECT_MAX);
		goto out;
	}
	if (subject != NULL) {
		snprintf(out->subject, sizeof(out->subject), "%s", subject);
		if (subject_key(skey, subject, err) != 0)
			goto out;
		buf_init(&sval, 64);
		if (store_get(core->st, skey, strlen(skey), &sval, NULL, err) == 0) {
			buf_clear(&sval);
			kl_fail_az(err, KL_ECONFLICT, "SubjectAlreadyMapped", NULL,
				   "Another principal already has this subject.");
			goto out;
		}
		buf_clear(&sval);
		if (err->code != KL_ENOTFOUND)
			goto out;
		kl_err_clear(err);
	}
	if (crypto_random_uuid(out->id, err) != 0)
		goto out;
	snprintf(out->name, sizeof(out->name), "%s", name);
	snprintf(out->type, sizeof(out->type), "%s", type);
	out->created = clock_now_s();
	keyspace_principal(pkey, out->id);
	keyspace_principal_name(nkey, lname);
	if (principal_encode(out, &prec, err) != 0 ||
	    new_token(out->id, expires, &t, token_out, qkey, tkey, &trec, err) != 0)
		goto out;
	struct store_op ops[] = {
		{ .kind = STORE_CHECK, .key = nkey, .key_len = strlen(nkey), .version = 0 },
		{ .kind = STORE_PUT, .key = nkey, .key_len = strlen(nkey), .val = out->id, .val_len = 36 },
		{ .kind = STORE_PUT, .key = pkey, .key_len = strlen(pkey), .val = prec.data, .val_len = prec.len },
		{ .kind = STORE_PUT, .key = qkey, .key_len = strlen(qkey), .val = trec.data, .val_len = trec.len },
		{ .kind = STORE_PUT, .key = tkey, .key_len = strlen(tkey), .val = trec.data, .val_len = trec.len },
		{ .kind = STORE_CHECK, .key = skey, .key_len = 0, .version = 0 },
		{ .kind = STORE_PUT, .key = skey, .key_len = 0, .val = out->id, .val_len = 36 },
	};
	n_ops = sizeof(ops) / sizeof(ops[0]);
	if (subject != NULL) {
		ops[5].key_len = ops[6].key_len = strlen(skey);
	} else {
		n_ops -= 2;
	}
	if (store_txn(core->st, ops, n_ops, err) != 0) {
		if (err->code == KL_ECONFLICT)
			kl_fail_az(err, KL_ECONFLICT, "PrincipalAlreadyExists", NULL,
				   "A principal named '%.64s' (or with this subject) already exists.", name);
		goto out;
	}
	*tok = t.t;
	rc = 0;
out:
	if (rc != 0)
		secure_wipe(token_out, TOKEN_TEXT_LEN);
	buf_clear(&prec);
	buf_clear(&trec);
	return rc;
}

int principal_token_add(struct vault_core *core, const char *id, int64_t expires,
			struct principal_token *tok, char token_out[TOKEN_TEXT_LEN],
			struct kl_err *err)
{
	char pkey[KEYBUF], qkey[KEYBUF], tkey[KEYBUF];
	struct principal p;
	struct principal_token *list = NULL;
	struct buf trec;
	struct token_rec t;
	uint64_t pversion;
	size_t n = 0, i, live = 0;
	int rc = -1;

	buf_init(&trec, 4096);
	if (load_by_id(core, id, &p, &pversion, err) != 0 || principal_tokens(core, id, &list, &n, err) != 0)
		goto out;
	for (i = 0; i < n; i++)
		live += !list[i].revoked;
	if (live >= PRINCIPAL_TOKENS_MAX) {
		kl_fail_az(err, KL_ECONFLICT, "TooManyTokens", NULL,
			   "The principal already has %d live tokens: revoke one first.",
			   PRINCIPAL_TOKENS_MAX);
		goto out;
	}
	keyspace_principal(pkey, id);
	if (new_token(id, expires, &t, token_out, qkey, tkey, &trec, err) != 0)
		goto out;
	struct store_op ops[] = {
		{ .kind = STORE_CHECK, .key = pkey, .key_len = strlen(pkey), .version = pversion },
		{ .kind = STORE_PUT, .key = qkey, .key_len = strlen(qkey), .val = trec.data, .val_len = trec.len },
		{ .kind = STORE_PUT, .key = tkey, .key_len = strlen(tkey), .val = trec.data, .val_len = trec.len },
	};
	if (store_txn(core->st, ops, sizeof(ops) / sizeof(ops[0]), err) != 0) {
		if (err->code == KL_ECONFLICT)
			fail_no_principal(err, id);	/* deleted meanwhile */
		goto out;
	}
	*tok = t.t;
	rc = 0;
out:
	if (rc != 0)
		secure_wipe(token_out, TOKEN_TEXT_LEN);
	free(list);
	buf_clear(&trec);
	return rc;
}

/* Revokes the token whose metadata is at qkey (value in val, version qversion). */
static int revoke(struct vault_core *core, const char *qkey, const struct buf *val, uint64_t qversion,
		  struct principal_token *out, struct kl_err *err)
{
	char tkey[KEYBUF];
	struct token_rec t;
	struct buf rec;
	int rc;

	if (token_decode(val->data, val->len, &t, err) != 0)
		return -1;
	if (out != NULL)
		*out = t.t;
	if (t.t.revoked)
		return 0;
	t.t.revoked = true;
	if (out != NULL)
		out->revoked = true;
	keyspace_token(tkey, t.digest);
	buf_init(&rec, 4096);
	rc = token_encode(&t, &rec, err);
	if (rc == 0) {
		struct store_op ops[] = {
			{ .kind = STORE_CHECK, .key = qkey, .key_len = strlen(qkey), .version = qversion },
			{ .kind = STORE_PUT, .key = qkey, .key_len = strlen(qkey), .val = rec.data,
			  .val_len = rec.len },
			{ .kind = STORE_DEL, .key = tkey, .key_len = strlen(tkey) },
		};
		rc = store_txn(core->st, ops, 3, err);
	}
	buf_clear(&rec);
	return rc;
}

int principal_token_revoke(struct vault_core *core, const char *id, const char *token_id,
			   struct principal_token *out, struct kl_err *err)
{
	char qkey[KEYBUF];
	struct buf val;
	uint64_t version;
	int rc = -1;

	buf_init(&val, 4096);
	if (!hex_is_uuid(id) || !hex_is_uuid(token_id)) {
		kl_fail_az(err, KL_ENOTFOUND, "TokenNotFound", NULL, "The token '%.40s' does not exist.",
			   token_id);
		goto out;
	}
	keyspace_principal_token(qkey, id, token_id);
	if (store_get(core->st, qkey, strlen(qkey), &val, &version, err) != 0) {
		if (err->code == KL_ENOTFOUND)
			kl_fail_az(err, KL_ENOTFOUND, "TokenNotFound", NULL,
				   "The token '%.40s' does not exist.", token_id);
		goto out;
	}
	rc = revoke(core, qkey, &val, version, out, err);
out:
	buf_clear(&val);
	return rc;
}

int principal_delete(struct vault_core *core, const char *id, struct kl_err *err)
{
	char pkey[KEYBUF], nkey[KEYBUF], skey[KEYBUF] = KEYSPACE_SUBJECTS, prefix[KEYBUF];
	char lname[PRINCIPAL_NAME_MAX + 1];
	struct principal_token *list = NULL;
	struct principal p;
	size_t n = 0, i;
	int rc = -1;

	if (load_by_id(core, id, &p, NULL, err) != 0 || principal_tokens(core, id, &list, &n, err) != 0)
		goto out;
	/* The name first: from here the principal cannot be found, so nothing new is granted. */
	lower_copy(lname, sizeof(lname), p.name);
	keyspace_principal(pkey, id);
	keyspace_principal_name(nkey, lname);
	for (i = 0; i < n; i++) {
		char qkey[KEYBUF];
		struct buf val;
		uint64_t version;
		int r;

		keyspace_principal_token(qkey, id, list[i].id);
		buf_init(&val, 4096);
		r = store_get(core->st, qkey, strlen(qkey), &val, &version, err) == 0
			    ? revoke(core, qkey, &val, version, NULL, err) : -1;
		buf_clear(&val);
		if (r != 0 && err->code != KL_ENOTFOUND)
			goto out;
		kl_err_clear(err);
	}
	if (p.subject[0] != '\0' && subject_key(skey, p.subject, err) != 0)
		goto out;
	struct store_op ops[] = {
		{ .kind = STORE_DEL, .key = nkey, .key_len = strlen(nkey) },
		{ .kind = STORE_DEL, .key = pkey, .key_len = strlen(pkey) },
		{ .kind = STORE_DEL, .key = skey, .key_len = strlen(skey) },
	};
	if (store_txn(core->st, ops, p.subject[0] != '\0' ? 3 : 2, err) != 0 ||
	    assignments_drop_principal(core, id, err) != 0)
		goto out;
	keyspace_principal_token(prefix, id, NULL);
	if (store_del_prefix(core->st, prefix, NULL, NULL, NULL, err) != 0)
		goto out;
	/* Its client secrets and certificates (vault/identity.h): access tokens they got stop with
	 * the principal already; the records go too. */
	keyspace_credential(prefix, id, NULL);
	rc = store_del_prefix(core->st, prefix, NULL, NULL, NULL, err);
out:
	free(list);
	return rc;
}

/* The kluis token tok: its principal into *who, its id into token_id (37 bytes), its expiry into
 * *expires_s. KL_EUNAUTH for an unknown, revoked or expired token, or one whose principal is
 * gone. */
static int token_lookup(struct vault_core *core, const char *tok, size_t tok_len,
			struct principal_ref *who, char token_id[37], int64_t *expires_s,
			struct kl_err *err)
{
	unsigned char digest[TOKEN_DIGEST_LEN];
	char key[2 + 2 * TOKEN_DIGEST_LEN + 1];
	struct principal p;
	struct token_rec t;
	struct buf val;
	int rc = -1;

	buf_init(&val, 4096);
	if (token_digest(tok, tok_len, digest, err) != 0)
		goto out;
	memcpy(key, KEYSPACE_TOKENS, 2);
	hex_encode(digest, sizeof(digest), key + 2);
	if (store_get(core->st, key, strlen(key), &val, NULL, err) != 0) {
		if (err->code == KL_ENOTFOUND)
			kl_fail(err, KL_EUNAUTH, "unknown token");
		goto out;
	}
	if (token_decode(val.data, val.len, &t, err) != 0)
		goto out;
	if (t.t.revoked || (t.t.expires != 0 && clock_now_s() >= t.t.expires)) {
		kl_fail(err, KL_EUNAUTH, "expired or revoked token");
		goto out;
	}
	if (load_by_id(core, t.principal_id, &p, NULL, err) != 0) {
		if (err->code == KL_ENOTFOUND)
			kl_fail(err, KL_EUNAUTH, "the token's principal is gone");
		goto out;
	}
	memcpy(who->id, p.id, sizeof(who->id));
	memcpy(who->name, p.name, sizeof(who->name));
	memcpy(who->client_cert, p.client_cert, sizeof(who->client_cert));
	memcpy(token_id, t.t.id, 37);
	*expires_s = t.t.expires;
	rc = 0;
out:
	secure_wipe(digest, sizeof(digest));
	buf_clear(&val);
	return rc;
}

int principal_authenticate_token(struct vault_core *core, const char *tok, size_t tok_len,
				 struct principal_ref *who, char token_id[37], int64_t *expires_s,
				 struct kl_err *err)
{
	int64_t ignored;

	if (expires_s == NULL)
		expires_s = &ignored;
	*expires_s = 0;
	memset(who, 0, sizeof(*who));
	token_id[0] = '\0';
	/* Nothing longer than a kluis token is looked up (a JWT is not one), and the admin token,
	 * which has the same shape, names no principal to issue for. */
	if (tok == NULL || tok_len == 0 || tok_len >= TOKEN_TEXT_LEN)
		return kl_fail(err, KL_EUNAUTH, "not a kluis token");
	if (vault_core_token_ok(core, tok, tok_len))
		return kl_fail(err, KL_EUNAUTH, "the admin token has no identity to issue for");
	return token_lookup(core, tok, tok_len, who, token_id, expires_s, err);
}

int principal_token_live(struct vault_core *core, const char *id, const char *token_id,
			 int64_t *expires_s, struct kl_err *err)
{
	char qkey[KEYBUF];
	struct token_rec t;
	struct buf val;
	int64_t ignored;
	int rc = -1;

	if (expires_s == NULL)
		expires_s = &ignored;
	*expires_s = 0;
	buf_init(&val, 4096);
	if (!hex_is_uuid(id) || !hex_is_uuid(token_id)) {
		kl_fail(err, KL_EUNAUTH, "no such token");
		goto out;
	}
	keyspace_principal_token(qkey, id, token_id);
	if (store_get(core->st, qkey, strlen(qkey), &val, NULL, err) != 0) {
		if (err->code == KL_ENOTFOUND)
			kl_fail(err, KL_EUNAUTH, "the token is gone");
		goto out;
	}
	if (token_decode(val.data, val.len, &t, err) != 0)
		goto out;
	if (t.t.revoked || (t.t.expires != 0 && clock_now_s() >= t.t.expires) ||
	    strcmp(t.principal_id, id) != 0) {
		kl_fail(err, KL_EUNAUTH, "the token is revoked or expired");
		goto out;
	}
	*expires_s = t.t.expires;
	rc = 0;
out:
	buf_clear(&val);
	return rc;
}

int principal_by_subject(struct vault_core *core, const char *subject, struct principal_ref *who,
			 struct kl_err *err)
{
	char key[KEYBUF];
	struct principal p;
	struct buf val;
	int rc = -1;

	memset(who, 0, sizeof(*who));
	buf_init(&val, 64);
	if (subject_key(key, subject, err) != 0)
		goto out;
	if (store_get(core->st, key, strlen(key), &val, NULL, err) != 0 ||
	    buf_append(&val, "", 1, err) != 0) {
		if (err->code == KL_ENOTFOUND)
			kl_fail(err, KL_EUNAUTH, "no principal has this OpenID subject");
		goto out;
	}
	if (load_by_id(core, (const char *)val.data, &p, NULL, err) != 0) {
		if (err->code == KL_ENOTFOUND)
			kl_fail(err, KL_EUNAUTH, "the subject's principal is gone");
		goto out;
	}
	memcpy(who->id, p.id, sizeof(who->id));
	memcpy(who->name, p.name, sizeof(who->name));
	memcpy(who->client_cert, p.client_cert, sizeof(who->client_cert));
	rc = 0;
out:
	buf_clear(&val);
	return rc;
}

bool principal_cert_parse(const char *s, char out[PRINCIPAL_CERT_HEX + 1])
{
	size_t i, o = 0;

	for (i = 0; s[i] != '\0'; i++) {
		char c = s[i];

		if (c == ':' && o > 0 && o % 2 == 0 && s[i + 1] != '\0' && s[i + 1] != ':')
			continue;	/* between bytes only */
		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) || o >= PRINCIPAL_CERT_HEX)
			return false;
		out[o++] = c;
	}
	out[o] = '\0';
	return o == PRINCIPAL_CERT_HEX;
}

int principal_set_client_cert(struct vault_core *core, const char *id_or_name, const char *cert,
			      struct principal *out, struct kl_err *err)
{
	char key[KEYBUF];
	struct principal p;
	struct buf rec;
	uint64_t version = 0;
	int rc = -1;

	buf_init(&rec, 64 * 1024);
	if (cert[0] != '\0' && strlen(cert) != PRINCIPAL_CERT_HEX) {
		kl_fail(err, KL_EINVAL, "A client certificate fingerprint is 64 hex digits.");
		goto out;
	}
	if (principal_get(core, id_or_name, &p, err) != 0 ||
	    load_by_id(core, p.id, &p, &version, err) != 0)
		goto out;
	snprintf(p.client_cert, sizeof(p.client_cert), "%s", cert);
	keyspace_principal(key, p.id);
	if (principal_encode(&p, &rec, err) != 0)
		goto out;
	{
		struct store_op ops[] = {
			{ .kind = STORE_CHECK, .key = key, .key_len = strlen(key), .version = version },
			{ .kind = STORE_PUT, .key = key, .key_len = strlen(key), .val = rec.data,
			  .val_len = rec.len },
		};

		if (store_txn(core->st, ops, 2, err) != 0) {
			if (err->code == KL_ECONFLICT)	/* deleted or changed meanwhile */
				kl_fail_az(err, KL_ECONFLICT, "Conflict", NULL,
					   "The principal changed meanwhile; try again.");
			goto out;
		}
	}
	*out = p;
	rc = 0;
out:
	buf_clear(&rec);
	return rc;
}
