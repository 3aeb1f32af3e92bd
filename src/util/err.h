/* Error kinds shared by every layer. Statuses and wire codes are chosen only in api/errors.c;
 * the core names a kind, an optional Azure code (e.g. "SecretNotFound") and an inner code. */
#ifndef KLUIS_UTIL_ERR_H
#define KLUIS_UTIL_ERR_H

enum kl_errc {
	KL_OK,
	KL_EINVAL,	/* the client sent something malformed: 400 */
	KL_EUNAUTH,	/* no or bad credentials: 401 */
	KL_EFORBIDDEN,	/* valid credentials, operation refused: 403 */
	KL_ENOTFOUND,	/* 404 */
	KL_ECONFLICT,	/* 409, or a failed compare inside a store transaction */
	KL_ETOOBIG,	/* 413 */
	KL_ETHROTTLED,	/* 429 */
	KL_EREADONLY,	/* 503 with Retry-After: the node is read-only */
	KL_EUNAVAIL,	/* 503 with Retry-After: a dependency is down */
	KL_ECORRUPT,	/* stored or supplied data failed authentication or parsing */
	KL_ENOMEM,
	KL_EINTERNAL,
	KL_EMETHOD,	/* 405: path known, method not */
	KL_EOUTCOME,	/* 503: a write's outcome is unknown (the store was lost during its
			   commit): it may or may not have been applied; never retried as if not */
};

struct kl_err {
	enum kl_errc code;
	const char *azure_code;	/* static string or NULL: error.code on the wire */
	const char *inner_code;	/* static string or NULL: error.innererror.code */
	char msg[768];		/* shown to clients: never secrets; room for the service's longest texts */
};

/* Fills *err (when err is not NULL) and returns -1, so callers can write
 * `return kl_fail(err, KL_EINVAL, "...")`. */
int kl_fail(struct kl_err *err, enum kl_errc code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Same, with the wire codes the API layer should use for this failure. */
int kl_fail_az(struct kl_err *err, enum kl_errc code, const char *azure_code, const char *inner_code,
	       const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Resets *err to KL_OK with an empty message. */
void kl_err_clear(struct kl_err *err);

/* A short name for a kind, for logs ("EINVAL"). */
const char *kl_errc_name(enum kl_errc code);

#endif
