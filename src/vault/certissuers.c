/* Certificate issuers (one record per name, replaced or merged whole, removed for good) and the
 * certificate contacts of a vault (one list). Owns their store keys and record layout. An issuer's
 * password is sealed under the data key with the record's store key as additional data as soon as
 * it arrives, and is never opened here: nothing in kluis orders from a CA, so nothing needs it
 * back.
 * Must never return, log or put in an error message a password. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "util/log.h"
#include "util/rec.h"
#include "vault/certissuers.h"
#include "vault/internal.h"

#define ISSUER_FORMAT 1
#define CONTACTS_FORMAT 1
#define RECORD_MAX (256u * 1024)	/* far above what the limits of the members allow */
#define TXN_ATTEMPTS 16

static int fail_issuer_not_found(struct kl_err *err)
{
	return kl_fail_az(err, KL_ENOTFOUND, "CertificateIssuerNotFound", NULL, "Issuer not found");
}

static int fail_contacts_not_found(struct kl_err *err)
{
	return kl_fail_az(err, KL_ENOTFOUND, "ContactsNotFound", NULL, "Contacts not found");
}

/* ---- small helpers ---- */

/* *out = copy of s (NULL stays NULL). */
static int dup_opt(const char *s, char **out, struct kl_err *err)
{
	*out = NULL;
	if (s != NULL && (*out = strdup(s)) == NULL)
		return kl_fail(err, KL_ENOMEM, "out of memory");
	return 0;
}

static int check_field(const char *s, const char *what, struct kl_err *err)
{
	if (s != NULL && strlen(s) > CERT_FIELD_MAX)
		return kl_fail(err, KL_EINVAL, "%s is longer than %d bytes.", what, CERT_FIELD_MAX);
	return 0;
}

static void admins_free(struct cert_admin *a, size_t n)
{
	size_t i;

	for (i = 0; a != NULL && i < n; i++) {
		free(a[i].first_name);
		free(a[i].last_name);
		free(a[i].email);
		free(a[i].phone);
	}
	free(a);
}

static int admins_copy(const struct cert_admin *in, size_t n, struct cert_admin **out,
		       struct kl_err *err)
{
	struct cert_admin *a = NULL;
	size_t i;

	*out = NULL;
	if (n == 0)
		return 0;
	if ((a = calloc(n, sizeof(*a))) == NULL)
		return kl_fail(err, KL_ENOMEM, "out of memory");
	for (i = 0; i < n; i++)
		if (dup_opt(in[i].first_name, &a[i].first_name, err) != 0 ||
		    dup_opt(in[i].last_name, &a[i].last_name, err) != 0 ||
		    dup_opt(in[i].email, &a[i].email, err) != 0 ||
		    dup_opt(in[i].phone, &a[i].phone, err) != 0) {
			admins_free(a, n);
			return -1;
		}
	*out = a;
	return 0;
}

void cert_issuer_clear(struct cert_issuer *i)
{
	free(i->account_id);
	free(i->org_id);
	admins_free(i->admins, i->n_admins);
	memset(i, 0, sizeof(*i));
}

/* Valid, unreserved issuer name: its lowercase store form into lname (OBJ_NAME_MAX + 1). */
static int check_issuer_name(const char *name, char *lname, struct kl_err *err)
{
	if (name == NULL || !vault_name_is_valid_object(name) ||
	    !lower_copy(lname, OBJ_NAME_MAX + 1, name))
		return kl_fail(err, KL_EINVAL,
			       "The issuer name '%.64s' is not valid: names are 1 to "
			       "127 characters of letters, digits and hyphens.",
			       name ? name : "");
	if (strcmp(lname, "self") == 0 || strcmp(lname, "unknown") == 0)
		return kl_fail(err, KL_EINVAL,
			       "The issuer name '%.64s' is reserved: Self and Unknown "
			       "name the built-in issuers.",
			       name);
	return 0;
}

/* The members of in against their limits; a set also needs a provider. */
static int check_issuer_in(const struct cert_issuer_in *in, bool is_set, struct kl_err *err)
{
	size_t i;

	if (in->provider == NULL && is_set)
		return kl_fail(err, KL_EINVAL, "The field 'provider' is required.");
	if (in->provider != NULL &&
	    (in->provider[0] == '\0' || strlen(in->provider) > CERT_PROVIDER_MAX))
		return kl_fail(err, KL_EINVAL, "The provider must be 1 to %d bytes.",
			       CERT_PROVIDER_MAX);
	if (in->pwd != NULL && in->pwd_len > CERT_ISSUER_PWD_MAX)
		return kl_fail(err, KL_EINVAL, "The issuer password is longer than %d bytes.",
			       CERT_ISSUER_PWD_MAX);
	if (in->set_admins && in->n_admins > CERT_ISSUER_ADMINS_MAX)
		return kl_fail(err, KL_EINVAL, "At most %d admin_details entries are allowed.",
			       CERT_ISSUER_ADMINS_MAX);
	if (check_field(in->account_id, "account_id", err) != 0 ||
	    check_field(in->org_id, "org_details.id", err) != 0)
		return -1;
	for (i = 0; in->set_admins && i < in->n_admins; i++)
		if (check_field(in->admins[i].first_name, "first_name", err) != 0 ||
		    check_field(in->admins[i].last_name, "last_name", err) != 0 ||
		    check_field(in->admins[i].email, "email", err) != 0 ||
		    check_field(in->admins[i].phone, "phone", err) != 0)
			return -1;
	return 0;
}

/* ---- the issuer record ---- */

static int issuer_encode(const struct cert_issuer *i, const struct buf *sealed_pwd, struct buf *out,
			 struct kl_err *err)
{
	size_t k;

	if (rec_put_u8(out, ISSUER_FORMAT, err) != 0 || rec_put_str(out, i->name, err) != 0 ||
	    rec_put_str(out, i->provider, err) != 0 ||
	    rec_put_u8(out, i->has_credentials, err) != 0 ||
	    rec_put_str(out, i->account_id, err) != 0 || rec_put_u8(out, i->has_pwd, err) != 0 ||
	    rec_put_bytes(out, sealed_pwd->data, i->has_pwd ? sealed_pwd->len : 0, err) != 0 ||
	    rec_put_str(out, i->org_id, err) != 0 || rec_put_u64(out, i->n_admins, err) != 0)
		return -1;
	for (k = 0; k < i->n_admins; k++)
		if (rec_put_str(out, i->admins[k].first_name, err) != 0 ||
		    rec_put_str(out, i->admins[k].last_name, err) != 0 ||
		    rec_put_str(out, i->admins[k].email, err) != 0 ||
		    rec_put_str(out, i->admins[k].phone, err) != 0)
			return -1;
	if (rec_put_u8(out, i->enabled, err) != 0 || rec_put_i64(out, i->created, err) != 0 ||
	    rec_put_i64(out, i->updated, err) != 0)
		return -1;
	return 0;
}

/* Decodes into i (zeroed here); the sealed password, kept as is, into sealed_pwd (may be NULL). */
static int issuer_decode(const void *p, size_t n, struct cert_issuer *i, struct buf *sealed_pwd,
			 struct kl_err *err)
{
	struct rec_reader r;
	const unsigned char *sealed;
	size_t sealed_len, k;
	uint64_t n_admins;

	memset(i, 0, sizeof(*i));
	rec_reader_init(&r, p, n);
	if (rec_get_u8(&r) != ISSUER_FORMAT ||
	    !rec_get_fixed_str(&r, i->name, sizeof(i->name)) ||
	    !rec_get_fixed_str(&r, i->provider, sizeof(i->provider)))
		goto bad;
	i->has_credentials = rec_get_u8(&r) != 0;
	i->account_id = rec_get_str(&r);
	i->has_pwd = rec_get_u8(&r) != 0;
	sealed = rec_get_bytes(&r, &sealed_len);
	i->org_id = rec_get_str(&r);
	n_admins = rec_get_u64(&r);
	if (r.bad || sealed == NULL || n_admins > CERT_ISSUER_ADMINS_MAX)
		goto bad;
	if (n_admins > 0 && (i->admins = calloc(n_admins, sizeof(*i->admins))) == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto fail;
	}
	i->n_admins = n_admins;
	for (k = 0; k < n_admins; k++) {
		i->admins[k].first_name = rec_get_str(&r);
		i->admins[k].last_name = rec_get_str(&r);
		i->admins[k].email = rec_get_str(&r);
		i->admins[k].phone = rec_get_str(&r);
	}
	i->enabled = rec_get_u8(&r) != 0;
	i->created = rec_get_i64(&r);
	i->updated = rec_get_i64(&r);
	if (!rec_done(&r))
		goto bad;
	if (sealed_pwd != NULL && sealed_len > 0 &&
	    buf_append(sealed_pwd, sealed, sealed_len, err) != 0)
		goto fail;
	return 0;
bad:
	rec_fail(&r, err, "a stored certificate issuer is damaged");
fail:
	cert_issuer_clear(i);
	return -1;
}

/* Loads the issuer of lowercase name lname: KL_ENOTFOUND (the service's) when absent. */
static int issuer_load(const struct vault *v, const char *lname, struct cert_issuer *i,
		       struct buf *sealed_pwd, uint64_t *version, struct kl_err *err)
{
	char key[KEYBUF];
	struct buf val;
	int rc = -1;

	buf_init(&val, RECORD_MAX);
	keyspace_cert_issuer(key, v->name, lname);
	if (store_get(v->core->st, key, strlen(key), &val, version, err) != 0) {
		if (err->code == KL_ENOTFOUND)
			fail_issuer_not_found(err);
		goto out;
	}
	rc = issuer_decode(val.data, val.len, i, sealed_pwd, err);
out:
	buf_clear(&val);
	return rc;
}

static void copy_checked(char *out, size_t n, const char *s)
{
	size_t len = strnlen(s, n - 1);

	memcpy(out, s, len);
	out[len] = '\0';
}

/* Builds the new state of an issuer into next (and its sealed password into sealed, which holds
 * the old one on entry) from the old state (NULL when absent) and in. */
static int issuer_apply(const struct vault *v, const char *key, const char *name,
			const struct cert_issuer *old, const struct cert_issuer_in *in, bool is_set,
			struct cert_issuer *next, struct buf *sealed, struct kl_err *err)
{
	const struct cert_admin *admins = NULL;
	size_t n_admins = 0;

	memset(next, 0, sizeof(*next));
	/* both were checked against their sizes */
	copy_checked(next->name, sizeof(next->name), old ? old->name : name);
	copy_checked(next->provider, sizeof(next->provider),
		     in->provider ? in->provider : old->provider);
	if (in->set_admins) {
		admins = in->admins;
		n_admins = in->n_admins;
	} else if (!is_set) {
		admins = old->admins;
		n_admins = old->n_admins;
	}
	if (dup_opt(in->account_id || is_set ? in->account_id : old->account_id, &next->account_id,
		    err) != 0 ||
	    dup_opt(in->org_id || is_set ? in->org_id : old->org_id, &next->org_id, err) != 0 ||
	    admins_copy(admins, n_admins, &next->admins, err) != 0)
		return -1;
	next->n_admins = n_admins;
	next->has_pwd = in->pwd != NULL || (!is_set && old->has_pwd);
	next->has_credentials = in->account_id != NULL || in->pwd != NULL ||
				(!is_set && old->has_credentials);
	next->enabled = in->set_enabled ? in->enabled : (is_set || old->enabled);
	next->updated = clock_now_s();
	next->created = old ? old->created : next->updated;
	if (in->pwd != NULL) {
		buf_reset(sealed);
		if (seal_seal(v->core->data_key, key, strlen(key), in->pwd, in->pwd_len, sealed,
			      err) != 0)
			return -1;
	} else if (is_set) {
		buf_reset(sealed);
	}
	return 0;
}

/* One set or update of an issuer: what each attempt reads and writes. */
struct issuer_txn {
	struct vault *v;
	const char *name, *lname, *key;
	const struct cert_issuer_in *in;
	bool is_set;
	struct cert_issuer old, next;
	struct buf sealed, rec;
	struct store_op ops[2];
};

static int issuer_build(void *arg, int attempt, const struct store_op **ops, size_t *n_ops,
			struct kl_err *err)
{
	struct issuer_txn *t = arg;
	uint64_t version;
	bool exists;

	(void)attempt;
	cert_issuer_clear(&t->old);
	cert_issuer_clear(&t->next);
	buf_reset(&t->sealed);
	buf_reset(&t->rec);
	exists = issuer_load(t->v, t->lname, &t->old, &t->sealed, &version, err) == 0;
	if (!exists) {
		if (!t->is_set || (err->code != KL_ENOTFOUND && err->code != KL_ECORRUPT))
			return -1;
		/* a set replaces the whole record, so it repairs a damaged one */
		if (err->code == KL_ECORRUPT)
			LOG_WARN(NULL, "replacing the damaged certificate issuer %.64s", t->lname);
		else
			version = 0;
		kl_err_clear(err);
		buf_reset(&t->sealed);
	}
	if (issuer_apply(t->v, t->key, t->name, exists ? &t->old : NULL, t->in, t->is_set,
			 &t->next, &t->sealed, err) != 0 ||
	    issuer_encode(&t->next, &t->sealed, &t->rec, err) != 0)
		return -1;
	t->ops[0] = (struct store_op){ .kind = STORE_CHECK, .key = t->key,
				       .key_len = strlen(t->key), .version = version };
	t->ops[1] = (struct store_op){ .kind = STORE_PUT, .key = t->key, .key_len = strlen(t->key),
				       .val = t->rec.data, .val_len = t->rec.len };
	*ops = t->ops;
	*n_ops = 2;
	return 0;
}

static const struct vault_txn issuer_write_txn = { .build = issuer_build,
						   .attempts = TXN_ATTEMPTS,
						   .what = "record" };

/* Set (is_set) or update: read, merge, write with a compare on the record, again on a race. */
static int issuer_write(struct vault *v, const char *name, const struct cert_issuer_in *in,
			bool is_set, struct cert_issuer *out, struct kl_err *err)
{
	char lname[OBJ_NAME_MAX + 1], key[KEYBUF];
	struct issuer_txn t = { .v = v, .name = name, .lname = lname, .key = key, .in = in,
				.is_set = is_set };
	int rc = -1;

	buf_init(&t.sealed, RECORD_MAX);
	buf_init(&t.rec, RECORD_MAX);
	memset(out, 0, sizeof(*out));
	if (check_issuer_name(name, lname, err) != 0 || check_issuer_in(in, is_set, err) != 0)
		goto out;
	keyspace_cert_issuer(key, v->name, lname);
	if (vault_txn_retry(v->core, &issuer_write_txn, &t, err) != 0)
		goto out;
	*out = t.next;
	memset(&t.next, 0, sizeof(t.next));
	rc = 0;
out:
	cert_issuer_clear(&t.old);
	cert_issuer_clear(&t.next);
	buf_clear(&t.sealed);
	buf_clear(&t.rec);
	return rc;
}

/* ---- issuers ---- */

int cert_issuer_set(struct vault *v, const char *name, const struct cert_issuer_in *in,
		    struct cert_issuer *out, struct kl_err *err)
{
	return issuer_write(v, name, in, true, out, err);
}

int cert_issuer_update(struct vault *v, const char *name, const struct cert_issuer_in *in,
		       struct cert_issuer *out, struct kl_err *err)
{
	return issuer_write(v, name, in, false, out, err);
}

/* A name that can be stored; otherwise the issuer cannot exist: not found. */
static int lookup_name(const char *name, char *lname, struct kl_err *err)
{
	if (name == NULL || !vault_name_is_valid_object(name) ||
	    !lower_copy(lname, OBJ_NAME_MAX + 1, name))
		return fail_issuer_not_found(err);
	return 0;
}

int cert_issuer_get(struct vault *v, const char *name, struct cert_issuer *out,
		    struct kl_err *err)
{
	char lname[OBJ_NAME_MAX + 1];

	memset(out, 0, sizeof(*out));
	if (lookup_name(name, lname, err) != 0)
		return -1;
	return issuer_load(v, lname, out, NULL, NULL, err);
}

int cert_issuer_provider(struct vault *v, const char *name, char *provider, bool *enabled,
			 struct kl_err *err)
{
	struct cert_issuer i;

	if (cert_issuer_get(v, name, &i, err) != 0)
		return -1;
	memcpy(provider, i.provider, sizeof(i.provider));
	*enabled = i.enabled;
	cert_issuer_clear(&i);
	return 0;
}

/* One delete of a record (an issuer, the contacts): the record read by each attempt. */
struct drop_txn {
	struct vault *v;
	const char *lname, *key;
	void *out;		/* struct cert_issuer or struct cert_contacts */
	struct store_op ops[2];
};

static void drop_ops(struct drop_txn *t, uint64_t version, const struct store_op **ops,
		     size_t *n_ops)
{
	t->ops[0] = (struct store_op){ .kind = STORE_CHECK, .key = t->key,
				       .key_len = strlen(t->key), .version = version };
	t->ops[1] = (struct store_op){ .kind = STORE_DEL, .key = t->key, .key_len = strlen(t->key) };
	*ops = t->ops;
	*n_ops = 2;
}

static int issuer_drop_build(void *arg, int attempt, const struct store_op **ops, size_t *n_ops,
			     struct kl_err *err)
{
	struct drop_txn *t = arg;
	uint64_t version;

	(void)attempt;
	cert_issuer_clear(t->out);
	if (issuer_load(t->v, t->lname, t->out, NULL, &version, err) != 0)
		return -1;
	drop_ops(t, version, ops, n_ops);
	return 0;
}

static const struct vault_txn issuer_drop_txn = { .build = issuer_drop_build,
						  .attempts = TXN_ATTEMPTS,
						  .what = "record" };

int cert_issuer_delete(struct vault *v, const char *name, struct cert_issuer *out,
		       struct kl_err *err)
{
	char lname[OBJ_NAME_MAX + 1], key[KEYBUF];
	struct drop_txn t = { .v = v, .lname = lname, .key = key, .out = out };

	memset(out, 0, sizeof(*out));
	if (lookup_name(name, lname, err) != 0)
		return -1;
	keyspace_cert_issuer(key, v->name, lname);
	if (vault_txn_retry(v->core, &issuer_drop_txn, &t, err) != 0) {
		cert_issuer_clear(out);
		return -1;
	}
	return 0;
}

struct issuer_scan {
	const struct vault *v;
	size_t prefix_len, max;
	bool more;
	struct cert_issuer_page *page;
	char last[OBJ_NAME_MAX + 1];
};

static int collect_issuer(void *arg, const void *key, size_t key_len, const void *val,
			  size_t val_len, uint64_t version, struct kl_err *err)
{
	struct issuer_scan *s = arg;
	struct cert_issuer i;
	size_t name_len = key_len - s->prefix_len;

	(void)version;
	if (s->page->n == s->max) {
		s->more = true;
		return 1;
	}
	if (name_len == 0 || name_len > OBJ_NAME_MAX)
		return kl_fail(err, KL_ECORRUPT, "a stored certificate issuer key is damaged");
	if (issuer_decode(val, val_len, &i, NULL, err) != 0)
		return -1;
	memcpy(s->page->items[s->page->n].name, i.name, sizeof(i.name));
	memcpy(s->page->items[s->page->n].provider, i.provider, sizeof(i.provider));
	memcpy(s->last, (const char *)key + s->prefix_len, name_len);
	s->last[name_len] = '\0';
	s->page->n++;
	cert_issuer_clear(&i);
	return 0;
}

int cert_issuer_list(struct vault *v, const char *after, size_t max, struct cert_issuer_page *page,
		     struct kl_err *err)
{
	struct issuer_scan s = { .v = v, .max = max, .page = page };
	char prefix[KEYBUF], from[KEYBUF];
	size_t i;
	bool has_after = after != NULL && *after != '\0';

	memset(page, 0, sizeof(*page));
	if (max < 1 || max > OBJ_PAGE_MAX)
		return kl_fail(err, KL_EINVAL, "maxresults must be between 1 and %d", OBJ_PAGE_MAX);
	/* the cursor is a stored (lowercase) name */
	for (i = 0; has_after && after[i] != '\0'; i++)
		if (after[i] >= 'A' && after[i] <= 'Z')
			return kl_fail(err, KL_EINVAL, "The skip token is not valid.");
	if (has_after && !vault_name_is_valid_object(after))
		return kl_fail(err, KL_EINVAL, "The skip token is not valid.");
	keyspace_cert_issuer(prefix, v->name, "");
	s.prefix_len = strlen(prefix);
	snprintf(from, sizeof(from), "%s%s", prefix, has_after ? after : "");
	if (store_scan(v->core->st, prefix, s.prefix_len, has_after ? from : NULL,
		       has_after ? strlen(from) : 0, collect_issuer, &s, err) != 0) {
		memset(page, 0, sizeof(*page));
		return -1;
	}
	if (s.more && page->n > 0)
		snprintf(page->next, sizeof(page->next), "%s", s.last);
	return 0;
}

/* ---- contacts ---- */

void cert_contacts_clear(struct cert_contacts *c)
{
	size_t i;

	for (i = 0; c->items != NULL && i < c->n; i++) {
		free(c->items[i].email);
		free(c->items[i].name);
		free(c->items[i].phone);
	}
	free(c->items);
	c->items = NULL;
	c->n = 0;
}

static int contacts_copy(const struct cert_contact *in, size_t n, struct cert_contacts *out,
			 struct kl_err *err)
{
	size_t i;

	out->items = NULL;
	out->n = 0;
	if ((out->items = calloc(n, sizeof(*out->items))) == NULL)
		return kl_fail(err, KL_ENOMEM, "out of memory");
	out->n = n;
	for (i = 0; i < n; i++)
		if (dup_opt(in[i].email, &out->items[i].email, err) != 0 ||
		    dup_opt(in[i].name, &out->items[i].name, err) != 0 ||
		    dup_opt(in[i].phone, &out->items[i].phone, err) != 0) {
			cert_contacts_clear(out);
			return -1;
		}
	return 0;
}

static int contacts_decode(const void *p, size_t n, struct cert_contacts *out, struct kl_err *err)
{
	struct rec_reader r;
	uint64_t count;
	size_t i;

	out->items = NULL;
	out->n = 0;
	rec_reader_init(&r, p, n);
	if (rec_get_u8(&r) != CONTACTS_FORMAT || (count = rec_get_u64(&r)) == 0 ||
	    count > CERT_CONTACTS_MAX)
		goto bad;
	if ((out->items = calloc(count, sizeof(*out->items))) == NULL)
		return kl_fail(err, KL_ENOMEM, "out of memory");
	out->n = count;
	for (i = 0; i < count; i++) {
		out->items[i].email = rec_get_str(&r);
		out->items[i].name = rec_get_str(&r);
		out->items[i].phone = rec_get_str(&r);
	}
	if (rec_done(&r))
		return 0;
bad:
	cert_contacts_clear(out);
	return rec_fail(&r, err, "the stored certificate contacts are damaged");
}

int cert_contacts_set(struct vault *v, const struct cert_contact *in, size_t n,
		      struct cert_contacts *out, struct kl_err *err)
{
	char key[KEYBUF];
	struct buf rec;
	size_t i;
	int rc = -1;

	buf_init(&rec, RECORD_MAX);
	out->items = NULL;
	out->n = 0;
	if (n == 0 || n > CERT_CONTACTS_MAX) {
		kl_fail(err, KL_EINVAL, "contacts must hold 1 to %d contacts.", CERT_CONTACTS_MAX);
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (in[i].email == NULL || in[i].email[0] == '\0') {
			kl_fail(err, KL_EINVAL, "Each contact needs an email address.");
			goto out;
		}
		if (check_field(in[i].email, "email", err) != 0 ||
		    check_field(in[i].name, "name", err) != 0 ||
		    check_field(in[i].phone, "phone", err) != 0)
			goto out;
	}
	if (rec_put_u8(&rec, CONTACTS_FORMAT, err) != 0 || rec_put_u64(&rec, n, err) != 0)
		goto out;
	for (i = 0; i < n; i++)
		if (rec_put_str(&rec, in[i].email, err) != 0 ||
		    rec_put_str(&rec, in[i].name, err) != 0 ||
		    rec_put_str(&rec, in[i].phone, err) != 0)
			goto out;
	keyspace_cert_contacts(key, v->name);
	if (store_put(v->core->st, key, strlen(key), rec.data, rec.len, err) != 0)
		goto out;
	rc = contacts_copy(in, n, out, err);
out:
	buf_clear(&rec);
	return rc;
}

static int contacts_load(const struct vault *v, struct cert_contacts *out, uint64_t *version,
			 struct kl_err *err)
{
	char key[KEYBUF];
	struct buf val;
	int rc = -1;

	buf_init(&val, RECORD_MAX);
	out->items = NULL;
	out->n = 0;
	keyspace_cert_contacts(key, v->name);
	if (store_get(v->core->st, key, strlen(key), &val, version, err) != 0) {
		if (err->code == KL_ENOTFOUND)
			fail_contacts_not_found(err);
		goto out;
	}
	rc = contacts_decode(val.data, val.len, out, err);
out:
	buf_clear(&val);
	return rc;
}

int cert_contacts_get(struct vault *v, struct cert_contacts *out, struct kl_err *err)
{
	return contacts_load(v, out, NULL, err);
}

static int contacts_drop_build(void *arg, int attempt, const struct store_op **ops,
			       size_t *n_ops, struct kl_err *err)
{
	struct drop_txn *t = arg;
	uint64_t version;

	if (attempt > 0)
		cert_contacts_clear(t->out);	/* the contacts read by the attempt that conflicted */
	if (contacts_load(t->v, t->out, &version, err) != 0)
		return -1;
	drop_ops(t, version, ops, n_ops);
	return 0;
}

static const struct vault_txn contacts_drop_txn = { .build = contacts_drop_build,
						    .attempts = TXN_ATTEMPTS,
						    .what = "record" };

int cert_contacts_delete(struct vault *v, struct cert_contacts *out, struct kl_err *err)
{
	char key[KEYBUF];
	struct drop_txn t = { .v = v, .key = key, .out = out };

	keyspace_cert_contacts(key, v->name);
	if (vault_txn_retry(v->core, &contacts_drop_txn, &t, err) != 0) {
		cert_contacts_clear(out);	/* a no-op when the load failed */
		return -1;
	}
	return 0;
}
