/* tlsgen.c owns the node's TLS files: a private CA (ca.pem, ca-key.pem) and the server certificate
 * it signs (server.pem, server-key.pem), created on first start and reissued when they no longer
 * fit. It must never overwrite a file it cannot parse, never write a file in place (always a
 * temporary file renamed over it), never create a private key readable by others, and never put
 * key material in a log or an error message. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto/rand.h"
#include "crypto/tlsgen.h"
#include "util/log.h"
#include "util/secbuf.h"

#define TLS_CA_DAYS 3650
/* Apple's and some other clients' ceiling for a server certificate from a private CA. */
#define TLS_SERVER_DAYS 825
#define TLS_RENEW_DAYS 30
/* Validity starts an hour back, so a client whose clock is a little behind still accepts it. */
#define TLS_BACKDATE_S 3600
#define TLS_FILE_MAX (64 * 1024)
#define TLS_SUFFIX_MAX 253

struct tls_paths {
	char ca[PATH_MAX];
	char ca_key[PATH_MAX];
	char server[PATH_MAX];
	char server_key[PATH_MAX];
};

/* The loaded state of the directory; any member may be NULL (file missing). */
struct tls_state {
	X509 *ca;
	EVP_PKEY *ca_key;
	X509 *server;
	EVP_PKEY *server_key;
};

/* OpenSSL's reason for the last failure, for the log (never holds key material). */
static const char *ossl_reason(void)
{
	const char *r = ERR_reason_error_string(ERR_get_error());

	ERR_clear_error();
	return r != NULL ? r : "unknown reason";
}

static int tls_ossl_fail(struct kl_err *err, const char *what)
{
	LOG_ERROR(NULL, "%s: %s", what, ossl_reason());
	return kl_fail(err, KL_EINTERNAL, "cannot create TLS material: %s", what);
}

/* Never prompt on a terminal for the passphrase of an encrypted key: refuse it. */
static int tls_no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* DNS names only: letters, digits, '-' and '.', no empty label. It ends up in an extension
 * string that OpenSSL parses, so nothing else may pass. */
static bool tls_suffix_ok(const char *s)
{
	size_t i, len = strlen(s), label = 0;
	bool ok = len > 0 && len <= TLS_SUFFIX_MAX;

	for (i = 0; ok && i <= len; i++) {
		char c = s[i];

		if (c == '.' || c == '\0') {
			ok = label > 0 && label <= 63 && s[i - 1] != '-';
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			   (c >= '0' && c <= '9') || (c == '-' && label > 0)) {
			label++;
		} else {
			ok = false;
		}
	}
	return ok;
}

static int tls_path(char *out, const char *dir, const char *name, struct kl_err *err)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);

	return n < 0 || n >= PATH_MAX ? kl_fail(err, KL_EINVAL, "TLS directory path too long") : 0;
}

/* Reads path whole into a secbuf (key files are secret). *out stays NULL when it is missing. */
static int tls_read_file(const char *path, struct secbuf **out, struct kl_err *err)
{
	struct secbuf *data = NULL;
	struct stat st;
	size_t off = 0;
	ssize_t r;
	int fd = -1, rc = -1;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			rc = 0;
		else
			kl_fail(err, KL_EINTERNAL, "cannot open %.120s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > TLS_FILE_MAX) {
		kl_fail(err, KL_ECORRUPT, "%.120s is not a regular file of at most %d bytes", path,
			TLS_FILE_MAX);
		goto out;
	}
	if ((data = secbuf_new((size_t)st.st_size, err)) == NULL)
		goto out;
	while (off < data->len) {
		r = read(fd, data->data + off, data->len - off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			kl_fail(err, KL_ECORRUPT, "cannot read %.120s: %s", path,
				r < 0 ? strerror(errno) : "file shrank while reading");
			goto out;
		}
		off += (size_t)r;
	}
	*out = data;
	data = NULL;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	secbuf_free(data);
	return rc;
}

/* Loads a PEM certificate (want_key false) or private key; NULL result when the file is missing,
 * KL_ECORRUPT when it is there but does not parse. */
static int tls_load(const char *path, bool want_key, X509 **cert, EVP_PKEY **key,
		    struct kl_err *err)
{
	struct secbuf *data = NULL;
	BIO *bio = NULL;
	int rc = -1;

	if (tls_read_file(path, &data, err) != 0)
		goto out;
	if (data == NULL) {
		rc = 0;
		goto out;
	}
	if ((bio = BIO_new_mem_buf(data->data, (int)data->len)) == NULL) {
		tls_ossl_fail(err, "BIO_new_mem_buf");
		goto out;
	}
	if (want_key)
		*key = PEM_read_bio_PrivateKey(bio, NULL, tls_no_password, NULL);
	else
		*cert = PEM_read_bio_X509(bio, NULL, tls_no_password, NULL);
	if (want_key ? *key == NULL : *cert == NULL) {
		ERR_clear_error();
		kl_fail(err, KL_ECORRUPT, "%.120s does not hold %s; move it away to have kluis "
			"create a new one", path, want_key ? "an unencrypted PEM private key" :
			"a PEM certificate");
		goto out;
	}
	rc = 0;
out:
	BIO_free(bio);
	secbuf_free(data);
	return rc;
}

/* Writes len bytes to path atomically: a temporary file in the same directory with the final
 * mode, fsync'd, then renamed over path. The caller syncs the directory. */
static int tls_write_file(const char *path, const void *p, size_t len, mode_t mode,
			  struct kl_err *err)
{
	char tmp[PATH_MAX + 16];
	const unsigned char *b = p;
	size_t off = 0;
	ssize_t w;
	int fd = -1, rc = -1, n;

	n = snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", path);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		kl_fail(err, KL_EINVAL, "TLS directory path too long");
		goto out;
	}
	/* mkstemp creates the file 0600: nobody else can open it before the fchmod. */
	if ((fd = mkstemp(tmp)) < 0) {
		tmp[0] = '\0';
		kl_fail(err, KL_EINTERNAL, "cannot create a file next to %.120s: %s", path,
			strerror(errno));
		goto out;
	}
	if (fchmod(fd, mode) != 0) {
		kl_fail(err, KL_EINTERNAL, "cannot chmod %.120s: %s", tmp, strerror(errno));
		goto out;
	}
	while (off < len) {
		w = write(fd, b + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			kl_fail(err, KL_EINTERNAL, "cannot write %.120s: %s", tmp,
				w < 0 ? strerror(errno) : "short write");
			goto out;
		}
		off += (size_t)w;
	}
	if (fsync(fd) != 0) {
		kl_fail(err, KL_EINTERNAL, "cannot sync %.120s: %s", tmp, strerror(errno));
		goto out;
	}
	n = close(fd);
	fd = -1;
	if (n != 0 || rename(tmp, path) != 0) {
		kl_fail(err, KL_EINTERNAL, "cannot write %.120s: %s", path, strerror(errno));
		goto out;
	}
	tmp[0] = '\0';
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (tmp[0] != '\0' && rc != 0)
		unlink(tmp);
	return rc;
}

/* PEM-encodes a certificate (0644) or an unencrypted PKCS#8 private key (0600) into path. */
static int tls_write_pem(const char *path, X509 *cert, EVP_PKEY *key, struct kl_err *err)
{
	BIO *bio = NULL;
	char *p = NULL;
	long len;
	int rc = -1;

	/* The key's PEM lives in OpenSSL's secure memory BIO, which is cleansed when freed. */
	if ((bio = BIO_new(key != NULL ? BIO_s_secmem() : BIO_s_mem())) == NULL) {
		tls_ossl_fail(err, "BIO_new");
		goto out;
	}
	if (key != NULL ? PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1
			: PEM_write_bio_X509(bio, cert) != 1) {
		tls_ossl_fail(err, "PEM encoding");
		goto out;
	}
	if ((len = BIO_get_mem_data(bio, &p)) <= 0) {
		tls_ossl_fail(err, "BIO_get_mem_data");
		goto out;
	}
	if (tls_write_file(path, p, (size_t)len, key != NULL ? 0600 : 0644, err) != 0)
		goto out;
	rc = 0;
out:
	BIO_free(bio);
	return rc;
}

static int tls_sync_dir(const char *dir, struct kl_err *err)
{
	int fd, rc = -1;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 || fsync(fd) != 0) {
		kl_fail(err, KL_EINTERNAL, "cannot sync %.120s: %s", dir, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

static EVP_PKEY *tls_new_key(struct kl_err *err)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");

	if (key == NULL)
		tls_ossl_fail(err, "P-256 key generation");
	return key;
}

/* Version 3, a random positive 128-bit serial, and validity from an hour ago for days. */
static int tls_cert_basics(X509 *x, long days, struct kl_err *err)
{
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	time_t now = time(NULL);
	int rc = -1;

	if (crypto_random(serial, sizeof(serial), err) != 0)
		goto out;
	serial[0] = (unsigned char)((serial[0] & 0x7f) | 0x01);	/* positive, never zero */
	if (X509_set_version(x, X509_VERSION_3) != 1 ||
	    (bn = BN_bin2bn(serial, sizeof(serial), NULL)) == NULL ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL ||
	    X509_time_adj_ex(X509_getm_notBefore(x), 0, -TLS_BACKDATE_S, &now) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), (int)days, -TLS_BACKDATE_S, &now) == NULL) {
		tls_ossl_fail(err, "certificate fields");
		goto out;
	}
	rc = 0;
out:
	BN_free(bn);
	return rc;
}

/* Adds one extension written in OpenSSL's configuration syntax; issuer may be x itself. */
static int tls_add_ext(X509 *x, X509 *issuer, int nid, const char *value, struct kl_err *err)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext = NULL;
	int rc = -1;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL ||
	    X509_add_ext(x, ext, -1) != 1) {
		tls_ossl_fail(err, "certificate extension");
		goto out;
	}
	rc = 0;
out:
	X509_EXTENSION_free(ext);
	return rc;
}

/* A new self-signed CA certificate for key. */
static X509 *tls_make_ca(EVP_PKEY *key, struct kl_err *err)
{
	char hex[17], cn[64];
	X509 *x = NULL;
	X509 *res = NULL;
	X509_NAME *name;

	if (crypto_random_hex(hex, 8, err) != 0)
		goto out;
	snprintf(cn, sizeof(cn), "kluis local CA %s", hex);
	if ((x = X509_new()) == NULL) {
		tls_ossl_fail(err, "X509_new");
		goto out;
	}
	if (tls_cert_basics(x, TLS_CA_DAYS, err) != 0)
		goto out;
	name = X509_get_subject_name(x);
	if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
				       0) != 1 ||
	    X509_set_issuer_name(x, name) != 1 || X509_set_pubkey(x, key) != 1) {
		tls_ossl_fail(err, "CA certificate fields");
		goto out;
	}
	/* pathlen:0: this CA signs server certificates, never another CA. */
	if (tls_add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0", err) != 0 ||
	    tls_add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign", err) != 0 ||
	    tls_add_ext(x, x, NID_subject_key_identifier, "hash", err) != 0 ||
	    tls_add_ext(x, x, NID_authority_key_identifier, "keyid:always", err) != 0)
		goto out;
	if (X509_sign(x, key, EVP_sha256()) <= 0) {
		tls_ossl_fail(err, "signing the CA certificate");
		goto out;
	}
	res = x;
	x = NULL;
out:
	X509_free(x);
	return res;
}

/* A new server certificate for key, signed by the CA. */
static X509 *tls_make_server(EVP_PKEY *key, X509 *ca, EVP_PKEY *ca_key, const char *suffix,
			     struct kl_err *err)
{
	char san[2 * TLS_SUFFIX_MAX + 80];
	X509 *x = NULL;
	X509 *res = NULL;

	snprintf(san, sizeof(san), "DNS:localhost,DNS:%s,DNS:*.%s,IP:127.0.0.1,IP:::1", suffix,
		 suffix);
	if ((x = X509_new()) == NULL) {
		tls_ossl_fail(err, "X509_new");
		goto out;
	}
	if (tls_cert_basics(x, TLS_SERVER_DAYS, err) != 0)
		goto out;
	if (X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				       (const unsigned char *)"kluis", -1, -1, 0) != 1 ||
	    X509_set_issuer_name(x, X509_get_subject_name(ca)) != 1 ||
	    X509_set_pubkey(x, key) != 1) {
		tls_ossl_fail(err, "server certificate fields");
		goto out;
	}
	if (tls_add_ext(x, ca, NID_basic_constraints, "critical,CA:FALSE", err) != 0 ||
	    tls_add_ext(x, ca, NID_key_usage, "critical,digitalSignature", err) != 0 ||
	    tls_add_ext(x, ca, NID_ext_key_usage, "serverAuth", err) != 0 ||
	    tls_add_ext(x, ca, NID_subject_key_identifier, "hash", err) != 0 ||
	    tls_add_ext(x, ca, NID_authority_key_identifier, "keyid:always", err) != 0 ||
	    tls_add_ext(x, ca, NID_subject_alt_name, san, err) != 0)
		goto out;
	if (X509_sign(x, ca_key, EVP_sha256()) <= 0) {
		tls_ossl_fail(err, "signing the server certificate");
		goto out;
	}
	res = x;
	x = NULL;
out:
	X509_free(x);
	return res;
}

/* Is name (DNS names compare without case) among the certificate's DNS names? */
static bool tls_has_dns(const GENERAL_NAMES *gens, const char *name)
{
	size_t len = strlen(name);
	bool found = false;
	int i;

	for (i = 0; !found && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);

		found = g->type == GEN_DNS && (size_t)ASN1_STRING_length(g->d.dNSName) == len &&
			strncasecmp((const char *)ASN1_STRING_get0_data(g->d.dNSName), name,
				    len) == 0;
	}
	return found;
}

static bool tls_has_ip(const GENERAL_NAMES *gens, const unsigned char *ip, size_t len)
{
	bool found = false;
	int i;

	for (i = 0; !found && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);

		found = g->type == GEN_IPADD && (size_t)ASN1_STRING_length(g->d.iPAddress) == len &&
			memcmp(ASN1_STRING_get0_data(g->d.iPAddress), ip, len) == 0;
	}
	return found;
}

/* Does x name every host kluis answers for? */
static bool tls_names_ok(X509 *x, const char *suffix)
{
	static const unsigned char ip4[4] = { 127, 0, 0, 1 };
	static const unsigned char ip6[16] = { [15] = 1 };
	char wildcard[TLS_SUFFIX_MAX + 3];
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	bool ok;

	snprintf(wildcard, sizeof(wildcard), "*.%s", suffix);
	ok = gens != NULL && tls_has_dns(gens, "localhost") && tls_has_dns(gens, suffix) &&
	     tls_has_dns(gens, wildcard) && tls_has_ip(gens, ip4, sizeof(ip4)) &&
	     tls_has_ip(gens, ip6, sizeof(ip6));
	GENERAL_NAMES_free(gens);
	return ok;
}

/* Why the server certificate must be (re)issued, or NULL when it is fine. */
static const char *tls_server_problem(const struct tls_state *s, const char *suffix)
{
	const char *why = NULL;
	time_t now = time(NULL);
	time_t renew = now + (time_t)TLS_RENEW_DAYS * 86400;

	if (s->server == NULL || s->server_key == NULL)
		why = "missing";
	else if (EVP_PKEY_eq(X509_get0_pubkey(s->server), s->server_key) != 1)
		why = "server-key.pem does not match server.pem";
	else if (X509_check_issued(s->ca, s->server) != X509_V_OK ||
		 X509_verify(s->server, X509_get0_pubkey(s->ca)) != 1)
		why = "not signed by ca.pem";
	else if (X509_cmp_time(X509_get0_notAfter(s->server), &renew) <= 0)
		why = "expires within 30 days";
	else if (X509_cmp_time(X509_get0_notBefore(s->server), &now) >= 0)
		why = "not yet valid";
	else if (!tls_names_ok(s->server, suffix))
		why = "does not name every required host";
	ERR_clear_error();
	return why;
}

/* A private key file that group or others can read is refused, as ssh refuses such keys: the
 * operator fixes the mode (never silently done here) and looks into who could have read it. */
static int tls_check_mode(const char *path, struct kl_err *err)
{
	struct stat st;

	if (stat(path, &st) == 0 && (st.st_mode & 077) != 0)
		return kl_fail(err, KL_EFORBIDDEN, "the private key file %.100s is readable by group "
			       "or others (mode %03o): chmod 600 it", path,
			       (unsigned)(st.st_mode & 0777));
	return 0;
}

/* A new CA key and certificate, written key first: a crash between leaves ca-key.pem without
 * ca.pem, which the next start refuses rather than silently replacing a key. */
static int tls_create_ca(const char *dir, const struct tls_paths *pa, struct tls_state *s,
			 struct kl_err *err)
{
	int rc = -1;

	if ((s->ca_key = tls_new_key(err)) == NULL ||
	    (s->ca = tls_make_ca(s->ca_key, err)) == NULL ||
	    tls_write_pem(pa->ca_key, NULL, s->ca_key, err) != 0 ||
	    tls_write_pem(pa->ca, s->ca, NULL, err) != 0 || tls_sync_dir(dir, err) != 0)
		goto out;
	LOG_INFO(NULL, "created a new local CA in %.200s (trust ca.pem in clients)", pa->ca);
	rc = 0;
out:
	return rc;
}

/* A new server key and certificate, written key first: a crash between leaves a key that does
 * not match the certificate, which the next start reissues. */
static int tls_issue_server(const char *dir, const struct tls_paths *pa, struct tls_state *s,
			    const char *suffix, struct kl_err *err)
{
	int rc = -1;

	EVP_PKEY_free(s->server_key);
	X509_free(s->server);
	s->server = NULL;
	if ((s->server_key = tls_new_key(err)) == NULL ||
	    (s->server = tls_make_server(s->server_key, s->ca, s->ca_key, suffix, err)) == NULL ||
	    tls_write_pem(pa->server_key, NULL, s->server_key, err) != 0 ||
	    tls_write_pem(pa->server, s->server, NULL, err) != 0 || tls_sync_dir(dir, err) != 0)
		goto out;
	rc = 0;
out:
	return rc;
}

int tlsgen_ensure(const char *dir, const char *dns_suffix, struct kl_err *err)
{
	struct tls_paths pa;
	struct tls_state s = { 0 };
	struct stat st;
	const char *why;
	int rc = -1;

	if (!tls_suffix_ok(dns_suffix)) {
		kl_fail(err, KL_EINVAL, "the DNS suffix is not a valid DNS name");
		goto out;
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		kl_fail(err, KL_EINTERNAL, "cannot create %.120s: %s", dir, strerror(errno));
		goto out;
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		kl_fail(err, KL_EINTERNAL, "%.120s is not a directory", dir);
		goto out;
	}
	if (tls_path(pa.ca, dir, "ca.pem", err) != 0 ||
	    tls_path(pa.ca_key, dir, "ca-key.pem", err) != 0 ||
	    tls_path(pa.server, dir, "server.pem", err) != 0 ||
	    tls_path(pa.server_key, dir, "server-key.pem", err) != 0)
		goto out;
	/* Everything is parsed before anything is written: a damaged file stops us untouched. */
	if (tls_check_mode(pa.ca_key, err) != 0 || tls_check_mode(pa.server_key, err) != 0 ||
	    tls_load(pa.ca, false, &s.ca, NULL, err) != 0 ||
	    tls_load(pa.ca_key, true, NULL, &s.ca_key, err) != 0 ||
	    tls_load(pa.server, false, &s.server, NULL, err) != 0 ||
	    tls_load(pa.server_key, true, NULL, &s.server_key, err) != 0)
		goto out;

	if (s.ca == NULL && s.ca_key != NULL) {
		kl_fail(err, KL_ECORRUPT, "%.120s exists without ca.pem; move it away to have "
			"kluis create a new CA", pa.ca_key);
		goto out;
	}
	if (s.ca == NULL) {
		if (tls_create_ca(dir, &pa, &s, err) != 0)
			goto out;
	} else if (X509_check_ca(s.ca) == 0) {
		kl_fail(err, KL_ECORRUPT, "%.120s is not a CA certificate", pa.ca);
		goto out;
	} else if (s.ca_key != NULL && EVP_PKEY_eq(X509_get0_pubkey(s.ca), s.ca_key) != 1) {
		kl_fail(err, KL_ECORRUPT, "%.120s does not match ca.pem", pa.ca_key);
		goto out;
	}
	ERR_clear_error();
	if (X509_cmp_current_time(X509_get0_notAfter(s.ca)) <= 0)
		LOG_WARN(NULL, "the CA certificate %.200s has expired", pa.ca);

	if ((why = tls_server_problem(&s, dns_suffix)) != NULL) {
		if (s.ca_key == NULL) {
			kl_fail(err, KL_ECORRUPT, "the server certificate must be issued (%s) but "
				"ca-key.pem is missing", why);
			goto out;
		}
		if (tls_issue_server(dir, &pa, &s, dns_suffix, err) != 0)
			goto out;
		LOG_INFO(NULL, "issued a new server certificate %.200s (old one: %s)", pa.server,
			 why);
	}
	rc = 0;
out:
	X509_free(s.ca);
	EVP_PKEY_free(s.ca_key);
	X509_free(s.server);
	EVP_PKEY_free(s.server_key);
	return rc;
}
