/* X.509 for the certificates API: self-signed certificates and PKCS#10 requests made with a
 * struct keyops_key, certificates and keys read from what clients upload (PKCS#12, PEM, DER
 * lists for merge), the facts a certificate bundle and an imported policy report, and the two
 * formats the managed secret of a certificate is downloaded in. OpenSSL 3 only. Errors:
 * KL_EINVAL for anything the client sent or chose (message names the problem, never key bytes),
 * KL_ENOMEM, KL_EINTERNAL (logged once with OpenSSL's error queue). Thread-safe: no state. */
#ifndef KLUIS_CRYPTO_X509_H
#define KLUIS_CRYPTO_X509_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/keyops.h"
#include "util/buf.h"
#include "util/err.h"

#define X509_CHAIN_MAX 10		/* certificates in one chain (leaf included) */
#define X509_CERT_MAX (16u * 1024)	/* bytes of one DER certificate */
#define X509_UPLOAD_MAX (256u * 1024)	/* bytes of a PKCS#12 or PEM upload */
#define X509_SANS_MAX 100		/* entries of each kind of subject alternative name */
#define X509_EKUS_MAX 20

/* keyUsage bits, in the order of the policy's names (digitalSignature first). */
enum x509_ku {
	X509_KU_DIGITAL_SIGNATURE = 1 << 0,
	X509_KU_NON_REPUDIATION = 1 << 1,
	X509_KU_KEY_ENCIPHERMENT = 1 << 2,
	X509_KU_DATA_ENCIPHERMENT = 1 << 3,
	X509_KU_KEY_AGREEMENT = 1 << 4,
	X509_KU_KEY_CERT_SIGN = 1 << 5,
	X509_KU_CRL_SIGN = 1 << 6,
	X509_KU_ENCIPHER_ONLY = 1 << 7,
	X509_KU_DECIPHER_ONLY = 1 << 8,
};

/* Subject alternative names; arrays of NUL-terminated strings. In x509_info they are owned (and
 * freed by x509_info_clear); in x509_profile they are borrowed. */
struct x509_sans {
	char **dns;
	size_t n_dns;
	char **emails;
	size_t n_emails;
	char **upns;		/* otherName 1.3.6.1.4.1.311.20.2.3 (UTF8String) */
	size_t n_upns;
	char **uris;
	size_t n_uris;
	char **ips;		/* IPv4 or IPv6 text */
	size_t n_ips;
};

/* What a new certificate or request says. Borrowed strings. */
struct x509_profile {
	const char *subject;		/* "CN=a, O=b": CN O OU L S ST C E DC STREET SERIALNUMBER,
					 * any case, values may be "quoted" */
	struct x509_sans sans;
	unsigned key_usage;		/* enum x509_ku bits; 0: no keyUsage extension */
	char **ekus;			/* dotted OIDs */
	size_t n_ekus;
	int64_t not_before, not_after;	/* Unix seconds (self-signed only) */
};

/* A chain of DER certificates, leaf first unless the caller asked to keep the given order. */
struct x509_chain {
	struct buf *der;		/* n buffers, each one DER certificate */
	size_t n;
};

void x509_chain_init(struct x509_chain *c);
void x509_chain_clear(struct x509_chain *c);
/* Appends a copy of one DER certificate (checked to parse as one). */
int x509_chain_add(struct x509_chain *c, const void *der, size_t len, struct kl_err *err);

/* Is subject a name x509_self_sign can use? KL_EINVAL naming the problem when not. */
int x509_subject_check(const char *subject, struct kl_err *err);

/* A self-signed X.509 v3 certificate for k (RSA or EC), signed with SHA-256 (RSA; EC by curve:
 * SHA-256, SHA-384, SHA-512), a 16-byte positive random serial, issuer = subject, keyUsage
 * (critical, when any), extendedKeyUsage (when any), subjectAltName (when any), basicConstraints
 * CA:FALSE and a subject key identifier. The DER is appended to der. */
int x509_self_sign(const struct keyops_key *k, const struct x509_profile *p, struct buf *der,
		   struct kl_err *err);
/* A PKCS#10 request for k with the same subject and extensions (dates unused), DER appended. */
int x509_csr(const struct keyops_key *k, const struct x509_profile *p, struct buf *der,
	     struct kl_err *err);

/* Does the certificate's public key equal k's? false also for DER that does not parse. */
bool x509_matches_key(const void *der, size_t len, const struct keyops_key *k);

/* An upload (import). PKCS#12 DER: opened with pwd (NULL or "" = empty; both the empty and the
 * absent password are tried), exactly one private key, and the certificate that matches it is the
 * leaf. PEM text: "PRIVATE KEY" (PKCS#8) or "ENCRYPTED PRIVATE KEY" (with pwd) and one or more
 * "CERTIFICATE" blocks in any order; traditional "RSA/EC PRIVATE KEY" blocks are refused. Key
 * types: RSA 2048/3072/4096, EC P-256/P-256K/P-384/P-521; others KL_EINVAL. On success *key is
 * the private key (caller frees with keyops_free) and chain holds the certificates, leaf first and
 * the rest as given, or exactly as given when preserve_order. Wrong password, bad MAC, garbage,
 * no key, no certificate matching the key, more than X509_CHAIN_MAX certificates: KL_EINVAL. */
int x509_parse_pfx(const void *p, size_t n, const char *pwd, bool preserve_order,
		   struct keyops_key **key, struct x509_chain *chain, struct kl_err *err);
int x509_parse_pem(const char *p, size_t n, const char *pwd, bool preserve_order,
		   struct keyops_key **key, struct x509_chain *chain, struct kl_err *err);

/* Certificates for merge: each item is DER, PEM text (every CERTIFICATE block is taken), or
 * standard base64 text of DER (decoded once more). Appended to chain in order. KL_EINVAL when an
 * item is none of these. */
int x509_parse_merge_item(const void *p, size_t n, struct x509_chain *chain, struct kl_err *err);
/* Moves the certificate whose key is k to the front of chain (the others keep their order);
 * KL_EINVAL "no certificate matches the key" when none does. */
int x509_chain_leaf_first(struct x509_chain *chain, const struct keyops_key *k, struct kl_err *err);

/* A client certificate a principal registers (vault/identity.h): exactly one certificate, as
 * DER, PEM text (one CERTIFICATE block) or standard base64 of DER (white space allowed); its DER
 * is appended to der (untouched on failure). KL_EINVAL when the input holds a private key (a PEM "... PRIVATE KEY" block,
 * DER PKCS#8, a traditional key or PKCS#12), more than one certificate, or is none of these. The
 * message never quotes the input. */
int x509_read_public_cert(const void *p, size_t n, struct buf *der, struct kl_err *err);

/* The thumbprints of a DER certificate: SHA-1 (x5t) and SHA-256 (x5t#S256) over its bytes. */
int x509_thumbprints(const void *der, size_t len, unsigned char sha1[20], unsigned char sha256[32],
		     struct kl_err *err);

/* What a certificate says, for bundles and for the policy of an import. */
struct x509_info {
	char *subject;			/* RFC 4514-like, most significant first: "CN=x, O=y" */
	struct x509_sans sans;
	bool has_key_usage;
	unsigned key_usage;		/* enum x509_ku bits */
	char **ekus;			/* dotted OIDs */
	size_t n_ekus;
	int64_t not_before, not_after;	/* Unix seconds */
	char x5t[28];			/* base64url (no padding) of SHA-1 over the DER */
	enum keyops_kty kty;		/* of the public key: KEYOPS_RSA or KEYOPS_EC */
	unsigned bits;			/* RSA modulus bits; EC field bits */
	char crv[8];			/* "P-256"... for EC, "" otherwise */
};

void x509_info_init(struct x509_info *i);
void x509_info_clear(struct x509_info *i);
int x509_info_of(const void *der, size_t len, struct x509_info *out, struct kl_err *err);

/* The managed secret's value. PFX: PKCS#12 with an empty password, PBES2 (PBKDF2-HMAC-SHA256,
 * AES-256-CBC) for the key and the certificates, MAC HMAC-SHA256; key NULL = certificates only.
 * Appended as DER to out (a wiping buffer). PEM: unencrypted PKCS#8 "PRIVATE KEY" (when key is
 * not NULL) then every certificate, in chain order, "\n" line ends, 64 columns, one final "\n". */
int x509_export_pfx(const struct keyops_key *key, const struct x509_chain *chain, struct buf *out,
		    struct kl_err *err);
int x509_export_pem(const struct keyops_key *key, const struct x509_chain *chain, struct buf *out,
		    struct kl_err *err);

#endif
