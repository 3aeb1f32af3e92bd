/* tlscreds.c owns the server's certificate chain and private key as GnuTLS objects, and the swap
 * that a reload makes. It must never free a pair while a handshake may copy from it (copies are
 * made under the mutex the swap takes), never replace the pair in use with one that failed a
 * check, never accept a private key file that others can read, and never put key bytes in a log
 * or an error message. The PEM text is read into wiped memory and wiped once parsed. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "http/tlscreds.h"
#include "util/hex.h"
#include "util/log.h"
#include "util/secbuf.h"

#define TLS_PEM_MAX_BYTES (256u * 1024)
#define TLS_CHAIN_MAX 16

/* One certificate chain with its key: immutable once made. */
struct tls_pair {
	gnutls_x509_crt_t *chain;	/* leaf first; gnutls_free'd array */
	unsigned int n;
	gnutls_x509_privkey_t key;
	char fingerprint[65];		/* SHA-256 of the leaf, hex */
	char serial[41];		/* hex, up to 20 bytes */
	time_t not_after;
};

struct tlscreds {
	char *cert_path;
	char *key_path;
	pthread_mutex_t mu;	/* guards cur: held while a handshake copies from it */
	struct tls_pair *cur;
};

/* The pair handshakes get: GnuTLS's retrieve callback takes no argument of its own. */
static _Atomic(struct tlscreds *) active;

static void pair_free(struct tls_pair *p)
{
	unsigned int i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n; i++)
		gnutls_x509_crt_deinit(p->chain[i]);
	gnutls_free(p->chain);
	if (p->key != NULL)
		gnutls_x509_privkey_deinit(p->key);	/* GnuTLS clears the key's numbers */
	free(p);
}

/* Reads path whole into wiped memory, NUL-terminated. A private key file (is_key) must be a
 * regular file that neither group nor others can read: refused like ssh refuses such keys. */
int tlscreds_read_pem(const char *path, bool is_key, struct secbuf **out, struct kl_err *err)
{
	struct secbuf *sb = NULL;
	struct stat st;
	size_t got = 0;
	ssize_t n;
	int fd = -1, rc = -1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0 || fstat(fd, &st) != 0) {
		kl_fail(err, KL_EINVAL, "cannot read %.128s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size <= 0 || (uint64_t)st.st_size > TLS_PEM_MAX_BYTES) {
		kl_fail(err, KL_EINVAL, "%.128s is not a PEM file of at most %u bytes", path,
			TLS_PEM_MAX_BYTES);
		goto out;
	}
	if (is_key && (st.st_mode & 077) != 0) {
		kl_fail(err, KL_EFORBIDDEN, "the private key file %.100s is readable by group or "
			"others (mode %03o): chmod 600 it", path, (unsigned)(st.st_mode & 0777));
		goto out;
	}
	if ((sb = secbuf_new((size_t)st.st_size, err)) == NULL)
		goto out;
	while (got < sb->len) {
		n = read(fd, sb->data + got, sb->len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			kl_fail(err, KL_EINVAL, "cannot read %.128s: %s", path,
				n < 0 ? strerror(errno) : "file shrank while read");
			goto out;
		}
		got += (size_t)n;
	}
	sb->data[sb->len] = '\0';
	*out = sb;	/* the caller owns it now */
	sb = NULL;
	rc = 0;
out:
	secbuf_free(sb);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* The leaf's SHA-256 fingerprint, serial and expiry, for logs and tests. */
static int pair_describe(struct tls_pair *p, const char *cert_path, struct kl_err *err)
{
	unsigned char buf[64];
	size_t n = sizeof(buf);

	if (gnutls_x509_crt_get_fingerprint(p->chain[0], GNUTLS_DIG_SHA256, buf, &n) < 0 ||
	    n != 32)
		return kl_fail(err, KL_EINVAL, "cannot fingerprint the certificate of %.128s",
			       cert_path);
	hex_encode(buf, 32, p->fingerprint);
	n = sizeof(buf);
	if (gnutls_x509_crt_get_serial(p->chain[0], buf, &n) < 0 || n > 20)
		return kl_fail(err, KL_EINVAL, "the certificate of %.128s has no usable serial",
			       cert_path);
	hex_encode(buf, n, p->serial);
	p->not_after = gnutls_x509_crt_get_expiration_time(p->chain[0]);
	return 0;
}

/* Is key the private half of the leaf's public key? Compared by SHA-256 key ids. */
static bool pair_matches(struct tls_pair *p)
{
	unsigned char a[32], b[32];
	size_t na = sizeof(a), nb = sizeof(b);

	return gnutls_x509_crt_get_key_id(p->chain[0], GNUTLS_KEYID_USE_SHA256, a, &na) == 0 &&
	       gnutls_x509_privkey_get_key_id(p->key, GNUTLS_KEYID_USE_SHA256, b, &nb) == 0 &&
	       na == nb && memcmp(a, b, na) == 0;
}

static struct tls_pair *pair_load(const char *cert_path, const char *key_path, struct kl_err *err)
{
	struct secbuf *cert_pem = NULL, *key_pem = NULL;
	struct tls_pair *p = NULL, *res = NULL;
	gnutls_datum_t d;
	time_t now = time(NULL);
	int r;

	if (tlscreds_read_pem(cert_path, false, &cert_pem, err) != 0 ||
	    tlscreds_read_pem(key_path, true, &key_pem, err) != 0)
		goto out;
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	d.data = cert_pem->data;
	d.size = (unsigned int)cert_pem->len;
	r = gnutls_x509_crt_list_import2(&p->chain, &p->n, &d, GNUTLS_X509_FMT_PEM,
					 GNUTLS_X509_CRT_LIST_FAIL_IF_UNSORTED);
	if (r < 0 || p->n == 0 || p->n > TLS_CHAIN_MAX) {
		if (r < 0)
			p->n = 0;
		kl_fail(err, KL_EINVAL, "%.128s does not hold a PEM certificate chain, leaf first "
			"(%s)", cert_path, r < 0 ? gnutls_strerror(r) : "too many certificates");
		goto out;
	}
	d.data = key_pem->data;
	d.size = (unsigned int)key_pem->len;
	if (gnutls_x509_privkey_init(&p->key) < 0) {
		p->key = NULL;
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	if ((r = gnutls_x509_privkey_import2(p->key, &d, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
		kl_fail(err, KL_EINVAL, "%.128s does not hold an unencrypted PEM private key (%s)",
			key_path, gnutls_strerror(r));
		goto out;
	}
	if (!pair_matches(p)) {
		kl_fail(err, KL_EINVAL, "the private key of %.100s is not that of the certificate "
			"in %.100s", key_path, cert_path);
		goto out;
	}
	if (pair_describe(p, cert_path, err) != 0)
		goto out;
	if (p->not_after != (time_t)-1 && p->not_after <= now) {
		kl_fail(err, KL_EINVAL, "the certificate in %.128s has expired", cert_path);
		goto out;
	}
	if (gnutls_x509_crt_get_activation_time(p->chain[0]) > now)
		LOG_WARN(NULL, "the certificate in %.200s is not valid yet (clock skew?)",
			 cert_path);
	res = p;
	p = NULL;
out:
	pair_free(p);
	secbuf_free(cert_pem);
	secbuf_free(key_pem);
	return res;
}

struct tlscreds *tlscreds_load(const char *cert_path, const char *key_path, struct kl_err *err)
{
	struct tlscreds *c = NULL, *res = NULL;

	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->cert_path = strdup(cert_path)) == NULL ||
	    (c->key_path = strdup(key_path)) == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	if (pthread_mutex_init(&c->mu, NULL) != 0) {
		kl_fail(err, KL_EINTERNAL, "cannot create a mutex");
		goto out;
	}
	if ((c->cur = pair_load(cert_path, key_path, err)) == NULL) {
		pthread_mutex_destroy(&c->mu);
		goto out;
	}
	res = c;
	c = NULL;
out:
	if (c != NULL) {
		free(c->cert_path);
		free(c->key_path);
		free(c);
	}
	return res;
}

int tlscreds_reload(struct tlscreds *c, struct kl_err *err)
{
	struct tls_pair *p, *old;

	if ((p = pair_load(c->cert_path, c->key_path, err)) == NULL)
		return -1;
	pthread_mutex_lock(&c->mu);
	old = c->cur;
	c->cur = p;
	pthread_mutex_unlock(&c->mu);
	/* No handshake holds old: they copy from the pair under the mutex, and own the copies. */
	pair_free(old);
	return 0;
}

void tlscreds_describe(struct tlscreds *c, char *out, size_t n)
{
	struct tm tm;
	char date[32] = "?";

	pthread_mutex_lock(&c->mu);
	if (c->cur->not_after != (time_t)-1 && gmtime_r(&c->cur->not_after, &tm) != NULL)
		strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(out, n, "serial %s, SHA-256 %s, expires %s", c->cur->serial, c->cur->fingerprint,
		 date);
	pthread_mutex_unlock(&c->mu);
}

void tlscreds_fingerprint(struct tlscreds *c, char out[65])
{
	pthread_mutex_lock(&c->mu);
	memcpy(out, c->cur->fingerprint, 65);
	pthread_mutex_unlock(&c->mu);
}

void tlscreds_activate(struct tlscreds *c)
{
	atomic_store(&active, c);
}

int tlscreds_retrieve(gnutls_session_t session, const struct gnutls_cert_retr_st *info,
		      gnutls_pcert_st **certs, unsigned int *n_certs, gnutls_ocsp_data_st **ocsp,
		      unsigned int *n_ocsp, gnutls_privkey_t *key, unsigned int *flags)
{
	struct tlscreds *c = atomic_load(&active);
	gnutls_pcert_st *pc = NULL;
	gnutls_privkey_t k = NULL;
	unsigned int i, done = 0;
	int rc = -1;

	(void)session;
	(void)info;
	*certs = NULL;
	*n_certs = 0;
	*ocsp = NULL;
	*n_ocsp = 0;
	*key = NULL;
	*flags = 0;
	if (c == NULL)
		return -1;
	pthread_mutex_lock(&c->mu);
	if ((pc = gnutls_calloc(c->cur->n, sizeof(*pc))) == NULL)
		goto out;
	for (done = 0; done < c->cur->n; done++)
		if (gnutls_pcert_import_x509(&pc[done], c->cur->chain[done], 0) < 0)
			goto out;
	if (gnutls_privkey_init(&k) < 0) {
		k = NULL;
		goto out;
	}
	if (gnutls_privkey_import_x509(k, c->cur->key, GNUTLS_PRIVKEY_IMPORT_COPY) < 0)
		goto out;
	*certs = pc;
	*n_certs = done;
	*key = k;
	*flags = GNUTLS_CERT_RETR_DEINIT_ALL;	/* GnuTLS frees them with the session */
	pc = NULL;
	k = NULL;
	rc = 0;
out:
	pthread_mutex_unlock(&c->mu);
	if (rc != 0)
		LOG_ERROR(NULL, "cannot hand the server certificate to a TLS handshake");
	if (k != NULL)
		gnutls_privkey_deinit(k);
	if (pc != NULL) {
		for (i = 0; i < done; i++)
			gnutls_pcert_deinit(&pc[i]);
		gnutls_free(pc);
	}
	return rc;
}

void tlscreds_free(struct tlscreds *c)
{
	if (c == NULL)
		return;
	pair_free(c->cur);
	pthread_mutex_destroy(&c->mu);
	free(c->cert_path);
	free(c->key_path);
	free(c);
}
