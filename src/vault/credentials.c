/* credentials.c owns the credentials a principal proves itself with at the token endpoint,
 * besides its kluis tokens (vault/identity.h): client secrets and registered client
 * certificates, under C/<principal id>/<credential id>. It stores a secret's SHA-256 only, never
 * its text, and hands the text out once, to the caller of identity_secret_add. It must never log
 * a secret or put one in an error message, never compare a secret other than in constant time,
 * and never keep a certificate's private key (input holding one is refused). No JSON, no HTTP.
 *
 * Why SHA-256 and not a slow password hash for client secrets: a secret is 256 random bits made
 * here, not a password a person chose. Nobody can guess it or search a dictionary for it, so a
 * stolen digest cannot be reversed at any cost per guess; a slow hash would only make every
 * token request slower (and each one an easy way to load the server). The same reasoning as for
 * kluis tokens (crypto/token.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/rand.h"
#include "crypto/token.h"
#include "crypto/x509.h"
#include "util/b64url.h"
#include "util/clock.h"
#include "util/hex.h"
#include "util/rec.h"
#include "util/secbuf.h"
#include "util/utf8.h"
#include "vault/identity.h"
#include "vault/internal.h"

#define CRED_FORMAT 1
#define CRED_SECRET 's'
#define CRED_CERT 'c'
#define SECRET_PREFIX "kls1."
#define SECRET_RANDOM_BYTES 32
#define SECRET_TEXT_MAX 1024	/* longer than any secret we made: refused without hashing */
#define CRED_RECORD_MAX (64u * 1024)	/* a DER certificate (X509_CERT_MAX) and its facts fit */

/* A stored credential: what lists show, plus a secret's digest. */
struct cred_rec {
	struct identity_credential c;
	int64_t created_ms;	/* orders a list: many are made within one second */
	unsigned char digest[TOKEN_DIGEST_LEN];	/* a secret's SHA-256 */
};

static bool is_live(const struct identity_credential *c, int64_t now)
{
	return !c->revoked && (c->expires == 0 || now < c->expires);
}

static int fail_cred_not_found(struct kl_err *err, const char *cred_id)
{
	return kl_fail_az(err, KL_ENOTFOUND, "CredentialNotFound", NULL,
			  "The credential '%.40s' does not exist.", cred_id);
}

/* ---- records ---- */

static int cred_encode(const struct cred_rec *r, const void *der, size_t der_len, struct buf *out,
		       struct kl_err *err)
{
	const struct identity_credential *c = &r->c;
	bool secret = c->type == IDENTITY_CLIENT_SECRET;

	if (rec_put_u8(out, CRED_FORMAT, err) != 0 ||
	    rec_put_u8(out, secret ? CRED_SECRET : CRED_CERT, err) != 0 ||
	    rec_put_str(out, c->id, err) != 0 || rec_put_str(out, c->description, err) != 0 ||
	    rec_put_i64(out, c->created, err) != 0 || rec_put_i64(out, c->expires, err) != 0 ||
	    rec_put_u8(out, c->revoked, err) != 0 || rec_put_i64(out, r->created_ms, err) != 0)
		return -1;
	if (secret)
		return rec_put_str(out, c->hint, err) != 0 ||
		       rec_put_bytes(out, r->digest, sizeof(r->digest), err) != 0 ? -1 : 0;
	return rec_put_str(out, c->sha256, err) != 0 || rec_put_str(out, c->sha1, err) != 0 ||
	       rec_put_str(out, c->subject, err) != 0 ||
	       rec_put_bytes(out, der, der_len, err) != 0 ? -1 : 0;
}

/* Decodes into *r; for a certificate, *der (when not NULL) points at its DER inside data. */
static int cred_decode(const void *data, size_t n, struct cred_rec *r, const unsigned char **der,
		       size_t *der_len, struct kl_err *err)
{
	struct identity_credential *c = &r->c;
	const unsigned char *p, *d = NULL;
	struct rec_reader rd;
	size_t len = 0, dlen = 0;
	uint8_t type;

	rec_reader_init(&rd, data, n);
	memset(r, 0, sizeof(*r));
	if (rec_get_u8(&rd) != CRED_FORMAT)
		goto bad;
	type = rec_get_u8(&rd);
	if ((type != CRED_SECRET && type != CRED_CERT) ||
	    !rec_get_fixed_str(&rd, c->id, sizeof(c->id)) ||
	    !rec_get_fixed_str(&rd, c->description, sizeof(c->description)))
		goto bad;
	c->type = type == CRED_SECRET ? IDENTITY_CLIENT_SECRET : IDENTITY_CLIENT_CERT;
	c->created = rec_get_i64(&rd);
	c->expires = rec_get_i64(&rd);
	c->revoked = rec_get_u8(&rd) != 0;
	r->created_ms = rec_get_i64(&rd);
	if (type == CRED_SECRET) {
		if (!rec_get_fixed_str(&rd, c->hint, sizeof(c->hint)) ||
		    (p = rec_get_bytes(&rd, &len)) == NULL || len != sizeof(r->digest))
			goto bad;
		memcpy(r->digest, p, len);
	} else if (!rec_get_fixed_str(&rd, c->sha256, sizeof(c->sha256)) ||
		   !rec_get_fixed_str(&rd, c->sha1, sizeof(c->sha1)) ||
		   !rec_get_fixed_str(&rd, c->subject, sizeof(c->subject)) ||
		   (d = rec_get_bytes(&rd, &dlen)) == NULL || dlen == 0) {
		goto bad;
	}
	if (!rec_done(&rd))
		goto bad;
	if (der != NULL) {
		*der = d;
		*der_len = dlen;
	}
	return 0;
bad:
	return kl_fail(err, KL_ECORRUPT, "a stored credential is damaged");
}

/* ---- reading ---- */

struct cred_scan {
	struct cred_rec *list;
	size_t n;
};

static int collect(void *arg, const void *key, size_t key_len, const void *val, size_t val_len,
		   uint64_t version, struct kl_err *err)
{
	struct cred_scan *s = arg;
	struct cred_rec *grown;

	(void)key;
	(void)key_len;
	(void)version;
	if ((grown = realloc(s->list, (s->n + 1) * sizeof(*grown))) == NULL)
		return kl_fail(err, KL_ENOMEM, "out of memory");
	s->list = grown;
	if (cred_decode(val, val_len, &s->list[s->n], NULL, NULL, err) != 0)
		return -1;
	s->n++;
	return 0;
}

static int cmp_created(const void *a, const void *b)
{
	const struct cred_rec *x = a, *y = b;

	if (x->created_ms != y->created_ms)
		return x->created_ms < y->created_ms ? -1 : 1;
	return strcmp(x->c.id, y->c.id);
}

/* The stored credentials of principal pid (an id), oldest first; *out is malloc'd (digests in
 * it: the caller wipes it with free_recs). */
static int load_all(struct vault_core *core, const char *pid, struct cred_rec **out, size_t *n,
		    struct kl_err *err)
{
	struct cred_scan s = { 0 };
	char prefix[KEYBUF];

	*out = NULL;
	*n = 0;
	keyspace_credential(prefix, pid, NULL);
	if (store_scan(core->st, prefix, strlen(prefix), NULL, 0, collect, &s, err) != 0) {
		if (s.list != NULL)
			secure_wipe(s.list, s.n * sizeof(*s.list));
		free(s.list);
		return -1;
	}
	if (s.n > 1)
		qsort(s.list, s.n, sizeof(*s.list), cmp_created);
	*out = s.list;
	*n = s.n;
	return 0;
}

static void free_recs(struct cred_rec *list, size_t n)
{
	if (list != NULL)
		secure_wipe(list, n * sizeof(*list));
	free(list);
}

static void ref_of(const struct principal *p, struct principal_ref *who)
{
	memset(who, 0, sizeof(*who));
	memcpy(who->id, p->id, sizeof(who->id));
	memcpy(who->name, p->name, sizeof(who->name));
	memcpy(who->client_cert, p->client_cert, sizeof(who->client_cert));
}

int identity_credentials_list(struct vault_core *core, const char *id,
			      struct identity_credential **out, size_t *n, struct kl_err *err)
{
	struct cred_rec *recs = NULL;
	struct identity_credential *list = NULL;
	struct principal p;
	size_t count = 0, i;
	int rc = -1;

	*out = NULL;
	*n = 0;
	if (principal_get(core, id, &p, err) != 0 || load_all(core, p.id, &recs, &count, err) != 0)
		goto out;
	if (count > 0 && (list = calloc(count, sizeof(*list))) == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < count; i++)
		list[i] = recs[i].c;
	*out = list;
	*n = count;
	rc = 0;
out:
	free_recs(recs, count);
	return rc;
}

/* ---- adding ---- */

/* A description: at most 128 bytes of UTF-8 with no control characters; NULL is "". */
static int description_check(const char *d, char out[129], struct kl_err *err)
{
	const unsigned char *s = (const unsigned char *)(d != NULL ? d : "");
	size_t n = strlen((const char *)s), i = 0, step;

	if (n >= 129)
		return kl_fail(err, KL_EINVAL, "A description is at most 128 bytes.");
	while (i < n) {
		if (s[i] < 0x20 || s[i] == 0x7f || (step = utf8_seq_len(s + i, n - i)) == 0)
			return kl_fail(err, KL_EINVAL, "A description is UTF-8 text without control "
				       "characters.");
		i += step;
	}
	memcpy(out, s, n + 1);
	return 0;
}

/* Stores r (with der for a certificate) for principal pid, unless the principal changed since
 * its version pversion was read (deleted meanwhile: PrincipalNotFound). */
static int cred_put(struct vault_core *core, const char *pid, uint64_t pversion,
		    const struct cred_rec *r, const void *der, size_t der_len, struct kl_err *err)
{
	char pkey[KEYBUF], ckey[KEYBUF];
	struct buf rec;
	int rc = -1;

	buf_init(&rec, CRED_RECORD_MAX);
	keyspace_principal(pkey, pid);
	keyspace_credential(ckey, pid, r->c.id);
	if (cred_encode(r, der, der_len, &rec, err) != 0)
		goto out;
	struct store_op ops[] = {
		{ .kind = STORE_CHECK, .key = pkey, .key_len = strlen(pkey), .version = pversion },
		{ .kind = STORE_PUT, .key = ckey, .key_len = strlen(ckey), .val = rec.data,
		  .val_len = rec.len },
	};
	if (store_txn(core->st, ops, 2, err) != 0) {
		if (err->code == KL_ECONFLICT)
			kl_fail_az(err, KL_ECONFLICT, "Conflict", NULL,
				   "The principal changed meanwhile; try again.");
		goto out;
	}
	rc = 0;
out:
	buf_clear(&rec);
	return rc;
}

/* The principal id_or_name names, the version of its record (for cred_put's check) and its
 * credentials; KL_ECONFLICT "TooManyCredentials" when it has IDENTITY_CREDENTIALS_MAX live. */
static int prepare_add(struct vault_core *core, const char *id_or_name, struct principal *p,
		       uint64_t *pversion, struct cred_rec **recs, size_t *n, struct kl_err *err)
{
	char pkey[KEYBUF];
	struct buf val;
	int64_t now = clock_now_s();
	size_t i, live = 0;
	int rc = -1;

	*recs = NULL;
	*n = 0;
	buf_init(&val, CRED_RECORD_MAX);
	if (principal_get(core, id_or_name, p, err) != 0)
		goto out;
	keyspace_principal(pkey, p->id);
	if (store_get(core->st, pkey, strlen(pkey), &val, pversion, err) != 0) {
		if (err->code == KL_ENOTFOUND)
			kl_fail_az(err, KL_ENOTFOUND, "PrincipalNotFound", NULL,
				   "The principal '%.64s' does not exist.", id_or_name);
		goto out;
	}
	if (load_all(core, p->id, recs, n, err) != 0)
		goto out;
	for (i = 0; i < *n; i++)
		live += is_live(&(*recs)[i].c, now);
	if (live >= IDENTITY_CREDENTIALS_MAX) {
		kl_fail_az(err, KL_ECONFLICT, "TooManyCredentials", NULL,
			   "The principal already has %d live client secrets and certificates: "
			   "revoke one first.", IDENTITY_CREDENTIALS_MAX);
		goto out;
	}
	rc = 0;
out:
	if (rc != 0) {
		free_recs(*recs, *n);
		*recs = NULL;
		*n = 0;
	}
	buf_clear(&val);
	return rc;
}

/* A new secret's text: the prefix, then 256 random bits in base64url (43 characters). */
static int secret_new(char out[IDENTITY_SECRET_TEXT_LEN], struct kl_err *err)
{
	unsigned char r[SECRET_RANDOM_BYTES];
	struct buf text;
	int rc = -1;

	buf_init_secret(&text, IDENTITY_SECRET_TEXT_LEN - 1);
	out[0] = '\0';
	if (crypto_random(r, sizeof(r), err) != 0 ||
	    buf_append_str(&text, SECRET_PREFIX, err) != 0 ||
	    b64url_encode(r, sizeof(r), &text, err) != 0)
		goto out;
	memcpy(out, text.data, text.len);
	out[text.len] = '\0';
	rc = 0;
out:
	secure_wipe(r, sizeof(r));
	buf_clear(&text);
	return rc;
}

int identity_secret_add(struct vault_core *core, const char *id_or_name, const char *description,
			int64_t expires, struct identity_credential *out,
			char secret[IDENTITY_SECRET_TEXT_LEN], struct kl_err *err)
{
	struct cred_rec r, *recs = NULL;
	struct principal p;
	uint64_t pversion = 0;
	size_t n = 0;
	int rc = -1;

	memset(&r, 0, sizeof(r));
	secret[0] = '\0';
	if (description_check(description, r.c.description, err) != 0)
		goto out;
	if (expires < 0 || (expires != 0 && expires <= clock_now_s())) {
		kl_fail(err, KL_EINVAL, "A client secret's expiry must be in the future.");
		goto out;
	}
	if (prepare_add(core, id_or_name, &p, &pversion, &recs, &n, err) != 0 ||
	    crypto_random_uuid(r.c.id, err) != 0 || secret_new(secret, err) != 0 ||
	    token_digest(secret, strlen(secret), r.digest, err) != 0)
		goto out;
	r.c.type = IDENTITY_CLIENT_SECRET;
	r.created_ms = clock_now_ms();
	r.c.created = r.created_ms / 1000;
	r.c.expires = expires;
	memcpy(r.c.hint, secret + strlen(SECRET_PREFIX), 3);
	r.c.hint[3] = '\0';
	if (cred_put(core, p.id, pversion, &r, NULL, 0, err) != 0)
		goto out;
	*out = r.c;
	rc = 0;
out:
	if (rc != 0)
		secure_wipe(secret, IDENTITY_SECRET_TEXT_LEN);
	secure_wipe(&r, sizeof(r));
	free_recs(recs, n);
	return rc;
}

/* s into out (n bytes), cut at a UTF-8 boundary with "..." when it does not fit. */
static void text_fit(char *out, size_t n, const char *s)
{
	size_t len = strlen(s), cut;

	if (len < n) {
		memcpy(out, s, len + 1);
		return;
	}
	cut = n - 4;
	while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
		cut--;	/* not inside a sequence */
	memcpy(out, s, cut);
	memcpy(out + cut, "...", 4);
}

int identity_cert_add(struct vault_core *core, const char *id_or_name, const void *cert,
		      size_t cert_len, const char *description, struct identity_credential *out,
		      struct kl_err *err)
{
	unsigned char sha1[20], sha256[32];
	struct cred_rec r, *recs = NULL;
	struct x509_info info;
	struct principal p;
	struct buf der;
	uint64_t pversion = 0;
	size_t n = 0, i;
	int rc = -1;

	memset(&r, 0, sizeof(r));
	x509_info_init(&info);
	buf_init(&der, X509_CERT_MAX);
	if (description_check(description, r.c.description, err) != 0 ||
	    x509_read_public_cert(cert, cert_len, &der, err) != 0 ||
	    x509_info_of(der.data, der.len, &info, err) != 0 ||
	    x509_thumbprints(der.data, der.len, sha1, sha256, err) != 0)
		goto out;
	if (info.not_after <= clock_now_s()) {
		kl_fail(err, KL_EINVAL, "The certificate has expired.");
		goto out;
	}
	/* The keys an assertion can be checked with (crypto/jws.h), at Azure's key sizes. */
	if (info.kty == KEYOPS_RSA && (info.bits < 2048 || info.bits > 4096)) {
		kl_fail(err, KL_EINVAL, "The certificate's RSA key has %u bits; a client certificate "
			"needs 2048 to 4096.", info.bits);
		goto out;
	}
	if (info.kty != KEYOPS_RSA && !(info.kty == KEYOPS_EC && strcmp(info.crv, "P-256") == 0)) {
		kl_fail(err, KL_EINVAL, "The certificate's key is not RSA or EC P-256: client "
			"assertions are checked with RS256, PS256 or ES256.");
		goto out;
	}
	r.c.type = IDENTITY_CLIENT_CERT;
	r.c.expires = info.not_after;
	hex_encode(sha1, sizeof(sha1), r.c.sha1);
	hex_encode(sha256, sizeof(sha256), r.c.sha256);
	text_fit(r.c.subject, sizeof(r.c.subject), info.subject != NULL ? info.subject : "");
	if (prepare_add(core, id_or_name, &p, &pversion, &recs, &n, err) != 0)
		goto out;
	for (i = 0; i < n; i++) {
		if (recs[i].c.type == IDENTITY_CLIENT_CERT && !recs[i].c.revoked &&
		    strcmp(recs[i].c.sha256, r.c.sha256) == 0) {
			kl_fail_az(err, KL_ECONFLICT, "CertificateAlreadyRegistered", NULL,
				   "This certificate is already registered for the principal "
				   "(credential '%s').", recs[i].c.id);
			goto out;
		}
	}
	if (crypto_random_uuid(r.c.id, err) != 0)
		goto out;
	r.created_ms = clock_now_ms();
	r.c.created = r.created_ms / 1000;
	if (cred_put(core, p.id, pversion, &r, der.data, der.len, err) != 0)
		goto out;
	*out = r.c;
	rc = 0;
out:
	x509_info_clear(&info);
	buf_clear(&der);
	free_recs(recs, n);
	return rc;
}

/* ---- revoking ---- */

int identity_credential_revoke(struct vault_core *core, const char *id, const char *cred_id,
			       struct identity_credential *out, struct kl_err *err)
{
	const unsigned char *der = NULL;
	char ckey[KEYBUF];
	struct cred_rec r;
	struct principal p;
	struct buf val, rec;
	uint64_t version = 0;
	size_t der_len = 0;
	int rc = -1;

	memset(&r, 0, sizeof(r));
	buf_init(&val, CRED_RECORD_MAX);
	buf_init(&rec, CRED_RECORD_MAX);
	if (principal_get(core, id, &p, err) != 0)
		goto out;
	if (!hex_is_uuid(cred_id)) {
		fail_cred_not_found(err, cred_id);
		goto out;
	}
	keyspace_credential(ckey, p.id, cred_id);
	if (store_get(core->st, ckey, strlen(ckey), &val, &version, err) != 0) {
		if (err->code == KL_ENOTFOUND)
			fail_cred_not_found(err, cred_id);
		goto out;
	}
	if (cred_decode(val.data, val.len, &r, &der, &der_len, err) != 0)
		goto out;
	if (!r.c.revoked) {
		r.c.revoked = true;
		if (cred_encode(&r, der, der_len, &rec, err) != 0)
			goto out;
		struct store_op ops[] = {
			{ .kind = STORE_CHECK, .key = ckey, .key_len = strlen(ckey),
			  .version = version },
			{ .kind = STORE_PUT, .key = ckey, .key_len = strlen(ckey), .val = rec.data,
			  .val_len = rec.len },
		};
		if (store_txn(core->st, ops, 2, err) != 0) {
			if (err->code == KL_ECONFLICT)	/* deleted with its principal meanwhile */
				fail_cred_not_found(err, cred_id);
			goto out;
		}
	}
	*out = r.c;
	rc = 0;
out:
	secure_wipe(&r, sizeof(r));
	buf_clear(&val);
	buf_clear(&rec);
	return rc;
}

/* ---- authenticating ---- */

int identity_secret_check(struct vault_core *core, const char *client_id, const char *secret,
			  size_t secret_len, struct principal_ref *who, char *cred_id,
			  struct kl_err *err)
{
	struct cred_rec *recs = NULL;
	const struct cred_rec *found = NULL;
	struct principal p;
	int64_t now = clock_now_s();
	size_t n = 0, i;
	int rc = -1;

	memset(who, 0, sizeof(*who));
	cred_id[0] = '\0';
	if (principal_get(core, client_id, &p, err) != 0 || load_all(core, p.id, &recs, &n, err) != 0)
		goto out;
	/* Every secret of the principal is compared, whatever matched before, so the time taken
	 * says nothing of which one matched or how much of one did. */
	for (i = 0; i < n; i++) {
		bool match = recs[i].c.type == IDENTITY_CLIENT_SECRET &&
			     secret_len > 0 && secret_len <= SECRET_TEXT_MAX &&
			     token_matches(secret, secret_len, recs[i].digest);

		if (match && is_live(&recs[i].c, now) && found == NULL)
			found = &recs[i];
	}
	if (found == NULL) {
		kl_fail_az(err, KL_EUNAUTH, "InvalidClientSecret", NULL,
			   "Invalid client secret provided for '%.64s'.", client_id);
		goto out;
	}
	ref_of(&p, who);
	snprintf(cred_id, IDENTITY_CRED_ID_MAX + 1, "%s", found->c.id);
	rc = 0;
out:
	free_recs(recs, n);
	return rc;
}

int identity_cert_find(struct vault_core *core, const char *client_id, const unsigned char *thumb,
		       size_t thumb_len, struct principal_ref *who, char *cred_id, struct buf *der,
		       struct kl_err *err)
{
	const unsigned char *d = NULL;
	char want[2 * 32 + 1], ckey[KEYBUF];
	struct cred_rec *recs = NULL, r;
	const struct cred_rec *found = NULL;
	struct principal p;
	struct buf val;
	int64_t now = clock_now_s();
	size_t n = 0, i, dlen = 0;
	int rc = -1;

	memset(who, 0, sizeof(*who));
	cred_id[0] = '\0';
	buf_init(&val, CRED_RECORD_MAX);
	if (principal_get(core, client_id, &p, err) != 0)
		goto out;
	if (thumb == NULL || (thumb_len != 20 && thumb_len != 32)) {
		kl_fail(err, KL_EUNAUTH, "a certificate thumbprint is 20 (SHA-1) or 32 (SHA-256) "
			"bytes");
		goto out;
	}
	hex_encode(thumb, thumb_len, want);
	if (load_all(core, p.id, &recs, &n, err) != 0)
		goto out;
	for (i = 0; i < n && found == NULL; i++) {
		const struct identity_credential *c = &recs[i].c;

		if (c->type == IDENTITY_CLIENT_CERT && is_live(c, now) &&
		    strcmp(thumb_len == 20 ? c->sha1 : c->sha256, want) == 0)
			found = &recs[i];
	}
	if (found == NULL) {
		kl_fail(err, KL_EUNAUTH, "no live certificate of '%.64s' has this thumbprint",
			client_id);
		goto out;
	}
	keyspace_credential(ckey, p.id, found->c.id);
	if (store_get(core->st, ckey, strlen(ckey), &val, NULL, err) != 0) {
		if (err->code == KL_ENOTFOUND)	/* deleted since the scan */
			kl_fail(err, KL_EUNAUTH, "the certificate was deleted meanwhile");
		goto out;
	}
	if (cred_decode(val.data, val.len, &r, &d, &dlen, err) != 0)
		goto out;
	if (!is_live(&r.c, now)) {	/* revoked since the scan */
		kl_fail(err, KL_EUNAUTH, "the certificate was revoked meanwhile");
		goto out;
	}
	if (buf_append(der, d, dlen, err) != 0)
		goto out;
	ref_of(&p, who);
	snprintf(cred_id, IDENTITY_CRED_ID_MAX + 1, "%s", r.c.id);
	rc = 0;
out:
	free_recs(recs, n);
	buf_clear(&val);
	return rc;
}

int identity_credential_live(struct vault_core *core, const char *principal_id,
			     const char *cred_id, int64_t *expires_s, struct kl_err *err)
{
	char ckey[KEYBUF];
	struct cred_rec r;
	struct buf val;
	int64_t ignored;
	int rc = -1;

	if (expires_s == NULL)
		expires_s = &ignored;
	*expires_s = 0;
	buf_init(&val, CRED_RECORD_MAX);
	if (!hex_is_uuid(principal_id) || !hex_is_uuid(cred_id)) {
		kl_fail(err, KL_EUNAUTH, "no such credential");
		goto out;
	}
	keyspace_credential(ckey, principal_id, cred_id);
	if (store_get(core->st, ckey, strlen(ckey), &val, NULL, err) != 0) {
		if (err->code == KL_ENOTFOUND)
			kl_fail(err, KL_EUNAUTH, "the credential is gone");
		goto out;
	}
	if (cred_decode(val.data, val.len, &r, NULL, NULL, err) != 0)
		goto out;
	if (!is_live(&r.c, clock_now_s())) {
		kl_fail(err, KL_EUNAUTH, "the credential is revoked or expired");
		goto out;
	}
	*expires_s = r.c.expires;
	rc = 0;
out:
	secure_wipe(&r, sizeof(r));
	buf_clear(&val);
	return rc;
}
