/* Certificate-like triples for unit tests of vault/ and api/ (and the certificate backup fuzz
 * target), made with the vault's internal helpers before the certificate layer exists: a version
 * id shared by a managed key version (a real EC P-256 key, so key operations work), a managed
 * secret version holding a known value, and a certificate version. Header-only, like fixture.h;
 * a failure fails the test through CERTFIX_CHECK (cmocka's assert_true unless defined before). */
#ifndef KLUIS_TESTS_CERTFIXTURE_H
#define KLUIS_TESTS_CERTFIXTURE_H

#include <stdio.h>
#include <string.h>

#include "util/clock.h"
#include "vault/internal.h"
#include "vault/keys.h"

#define CERTFIX_MAX 256

#ifndef CERTFIX_CHECK
#define CERTFIX_CHECK(cond) assert_true(cond)
#endif

/* Writes one version ver of kind k of name (managed as asked, material sealed under its record
 * key when given) and points the name's live head at it, in one transaction. */
static inline void certfix_put_version(struct vault *v, enum obj_kind k, const char *name,
				       const char *ver, bool managed, const char *content_type,
				       const char *material)
{
	char lname[OBJ_NAME_MAX + 1], vkey[KEYBUF], hkey[KEYBUF];
	struct kl_err err = { 0 };
	struct buf sealed, rec, hrec;
	struct head h;
	struct obj o;

	obj_init(&o);
	buf_init(&sealed, 1u << 20);
	buf_init(&rec, 1u << 20);
	buf_init(&hrec, 4096);
	CERTFIX_CHECK(lower_copy(lname, sizeof(lname), name));
	snprintf(o.version, sizeof(o.version), "%s", ver);
	o.attrs.enabled = true;
	o.attrs.created = o.attrs.updated = clock_now_s();
	o.managed = managed;
	if (content_type != NULL)
		CERTFIX_CHECK((o.content_type = strdup(content_type)) != NULL);
	CERTFIX_CHECK(buf_append_str(&o.pub, "pub of ", &err) == 0);
	CERTFIX_CHECK(buf_append_str(&o.pub, obj_kinds[k].lower, &err) == 0);
	keyspace_obj_version(vkey, v, k, lname, ver);
	keyspace_obj_head(hkey, v, k, 'h', lname);
	if (material != NULL)
		CERTFIX_CHECK(seal_seal(v->core->data_key, vkey, strlen(vkey), material,
					strlen(material), &sealed, &err) == 0);
	CERTFIX_CHECK(version_encode(&o, material != NULL, sealed.data, sealed.len, &rec, &err) ==
		      0);
	memset(&h, 0, sizeof(h));
	snprintf(h.display, sizeof(h.display), "%s", name);
	snprintf(h.latest, sizeof(h.latest), "%s", ver);
	CERTFIX_CHECK(head_encode(&h, &hrec, &err) == 0);
	struct store_op ops[] = {
		{ .kind = STORE_PUT, .key = vkey, .key_len = strlen(vkey), .val = rec.data, .val_len = rec.len },
		{ .kind = STORE_PUT, .key = hkey, .key_len = strlen(hkey), .val = hrec.data, .val_len = hrec.len },
	};
	CERTFIX_CHECK(store_txn(v->core->st, ops, 2, &err) == 0);
	obj_clear(&o);
	buf_clear(&sealed);
	buf_clear(&rec);
	buf_clear(&hrec);
}

/* A managed version of key name holding a fresh EC P-256 key, made under a scratch name and
 * created as the certificate layer would (in.managed); its version id lands in ver. */
static inline void certfix_key_version(struct vault *v, const char *name, char ver[33])
{
	struct key_spec spec = { .kty = "EC", .crv = "P-256" };
	struct kl_err err = { 0 };
	struct secbuf *material = NULL;
	struct key_meta m;
	struct obj in, made, scratch, out;

	key_meta_init(&m);
	obj_init(&in);
	obj_init(&made);
	obj_init(&scratch);
	obj_init(&out);
	in.attrs.enabled = true;
	CERTFIX_CHECK(key_create(v, "certfix-scratch", &spec, &in, NULL, &made, &m, &err) == 0);
	CERTFIX_CHECK(obj_version_load(v, OBJ_KEY, "certfix-scratch", made.version, &scratch,
				     NULL, &material, &err) == 0);
	in.managed = true;
	CERTFIX_CHECK(buf_append(&in.pub, scratch.pub.data, scratch.pub.len, &err) == 0);
	CERTFIX_CHECK(obj_create(v, OBJ_KEY, name, &in, material->data, material->len, &out,
				 &err) == 0);
	CERTFIX_CHECK(out.managed);
	snprintf(ver, 33, "%s", out.version);
	obj_clear(&out);
	obj_init(&out);
	CERTFIX_CHECK(key_delete(v, "certfix-scratch", &out, &err) == 0);
	CERTFIX_CHECK(obj_purge_name(v->core, v->name, OBJ_KEY, "certfix-scratch", NULL, &err) ==
		      0);
	secbuf_free(material);
	obj_clear(&in);
	obj_clear(&made);
	obj_clear(&scratch);
	obj_clear(&out);
	key_meta_clear(&m);
}

/* A new issued version of certificate name: key, secret (value "pfx <name> <n>") and certificate
 * with one version id, in ver. With pending, the secret is left out (a version not yet issued). */
static inline void certfix_version(struct vault *v, const char *name, bool pending, char ver[33])
{
	char value[CERTFIX_MAX];

	certfix_key_version(v, name, ver);
	snprintf(value, sizeof(value), "pfx %s %s", name, ver);
	if (!pending)
		certfix_put_version(v, OBJ_SECRET, name, ver, true, "application/x-pkcs12", value);
	certfix_put_version(v, OBJ_CERT, name, ver, false, NULL, NULL);
}

/* Puts a side record of the certificate (policy 'r', operation 'q') or its renewal index entry
 * (side 'a'). */
static inline void certfix_side(struct vault *v, const char *lname, char side, const char *val)
{
	char key[KEYBUF];
	struct kl_err err = { 0 };

	if (side == 'a')
		snprintf(key, sizeof(key), "a/%s/%s", v->name, lname);
	else
		snprintf(key, sizeof(key), "o/%s/c/%c/%s", v->name, side, lname);
	CERTFIX_CHECK(store_put(v->core->st, key, strlen(key), val, strlen(val), &err) == 0);
}

/* Whether that side record exists. */
static inline bool certfix_has_side(struct vault *v, const char *lname, char side)
{
	char key[KEYBUF];
	struct kl_err err = { 0 };
	struct buf val;
	int rc;

	buf_init(&val, 1u << 16);
	if (side == 'a')
		snprintf(key, sizeof(key), "a/%s/%s", v->name, lname);
	else
		snprintf(key, sizeof(key), "o/%s/c/%c/%s", v->name, side, lname);
	rc = store_get(v->core->st, key, strlen(key), &val, NULL, &err);
	buf_clear(&val);
	return rc == 0;
}

#endif
