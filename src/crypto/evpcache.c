/* evpcache.c owns the fetched algorithms of crypto/ and each thread's reusable OpenSSL contexts
 * (evpcache.h). A thread's contexts are freed by a thread-specific destructor when the thread
 * ends; the fetched algorithms live as long as the process. A GCM context keeps no key between
 * uses: evpcache_gcm_done keys it with zeros. Its few globals (the once, the thread key, the
 * algorithms) are written once and only read after: an exception to "no mutable globals outside
 * main.c" that decisions.md 30 explains. */
#include <pthread.h>
#include <stdlib.h>

#include <openssl/crypto.h>

#include "crypto/evpcache.h"


struct thread_ctx {
	EVP_CIPHER_CTX *gcm[2];	/* [0] decrypt, [1] encrypt */
	EVP_MD_CTX *md;
};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_key_t key;
static bool has_key;
static EVP_MD *sha[3];		/* 256, 384, 512 */
static EVP_CIPHER *aes_gcm;

static void thread_ctx_free(void *p)
{
	struct thread_ctx *t = p;

	if (t == NULL)
		return;
	EVP_CIPHER_CTX_free(t->gcm[0]);
	EVP_CIPHER_CTX_free(t->gcm[1]);
	EVP_MD_CTX_free(t->md);
	free(t);
}

static void fetch_once(void)
{
	sha[0] = EVP_MD_fetch(NULL, "SHA2-256", NULL);
	sha[1] = EVP_MD_fetch(NULL, "SHA2-384", NULL);
	sha[2] = EVP_MD_fetch(NULL, "SHA2-512", NULL);
	aes_gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	has_key = pthread_key_create(&key, thread_ctx_free) == 0;
}

const EVP_MD *evpcache_sha(int bits)
{
	pthread_once(&once, fetch_once);
	return bits == 256 ? sha[0] : bits == 384 ? sha[1] : bits == 512 ? sha[2] : NULL;
}

static struct thread_ctx *thread_ctx(void)
{
	struct thread_ctx *t;

	pthread_once(&once, fetch_once);
	if (!has_key)
		return NULL;
	if ((t = pthread_getspecific(key)) == NULL) {
		if ((t = calloc(1, sizeof(*t))) == NULL)
			return NULL;
		if (pthread_setspecific(key, t) != 0) {
			free(t);
			return NULL;
		}
	}
	return t;
}

EVP_CIPHER_CTX *evpcache_gcm(bool encrypt)
{
	struct thread_ctx *t = thread_ctx();
	EVP_CIPHER_CTX *c;

	if (t == NULL || aes_gcm == NULL)
		return NULL;
	if (t->gcm[encrypt] == NULL) {
		if ((c = EVP_CIPHER_CTX_new()) == NULL)
			return NULL;
		if (EVP_CipherInit_ex(c, aes_gcm, NULL, NULL, NULL, encrypt) != 1 ||
		    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, EVPCACHE_GCM_IV_LEN, NULL) != 1) {
			EVP_CIPHER_CTX_free(c);
			return NULL;
		}
		t->gcm[encrypt] = c;
	}
	return t->gcm[encrypt];
}

void evpcache_gcm_done(EVP_CIPHER_CTX *ctx)
{
	static const unsigned char zeros[32];

	/* no key of a caller stays in the schedule; failing that, the context goes */
	if (ctx != NULL && EVP_CipherInit_ex(ctx, NULL, NULL, zeros, NULL, -1) != 1) {
		struct thread_ctx *t = pthread_getspecific(key);

		if (t != NULL && t->gcm[0] == ctx)
			t->gcm[0] = NULL;
		if (t != NULL && t->gcm[1] == ctx)
			t->gcm[1] = NULL;
		EVP_CIPHER_CTX_free(ctx);
	}
}

EVP_MD_CTX *evpcache_md_ctx(void)
{
	struct thread_ctx *t = thread_ctx();

	if (t == NULL)
		return NULL;
	if (t->md == NULL)
		t->md = EVP_MD_CTX_new();
	return t->md;
}
