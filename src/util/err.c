/* err.c owns struct kl_err: filling it and naming its kinds. It never decides an HTTP status or
 * wire code (api/errors.c does) and never logs: the failing site logs a library's detail once. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/err.h"

static void err_vfill(struct kl_err *err, enum kl_errc code, const char *azure_code,
		      const char *inner_code, const char *fmt, va_list ap)
	__attribute__((format(printf, 5, 0)));

static void err_vfill(struct kl_err *err, enum kl_errc code, const char *azure_code,
		      const char *inner_code, const char *fmt, va_list ap)
{
	err->code = code;
	err->azure_code = azure_code;
	err->inner_code = inner_code;
	/* vsnprintf truncates a long message, which is what the fixed msg[] wants. */
	if (vsnprintf(err->msg, sizeof(err->msg), fmt, ap) < 0)
		err->msg[0] = '\0';
}

int kl_fail(struct kl_err *err, enum kl_errc code, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL) {
		va_start(ap, fmt);
		err_vfill(err, code, NULL, NULL, fmt, ap);
		va_end(ap);
	}
	return -1;
}

int kl_fail_az(struct kl_err *err, enum kl_errc code, const char *azure_code,
	       const char *inner_code, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL) {
		va_start(ap, fmt);
		err_vfill(err, code, azure_code, inner_code, fmt, ap);
		va_end(ap);
	}
	return -1;
}

void kl_err_clear(struct kl_err *err)
{
	if (err != NULL) {
		memset(err, 0, sizeof(*err));
		err->code = KL_OK;
	}
}

const char *kl_errc_name(enum kl_errc code)
{
	const char *name = "EUNKNOWN";

	switch (code) {
	case KL_OK: name = "OK"; break;
	case KL_EINVAL: name = "EINVAL"; break;
	case KL_EUNAUTH: name = "EUNAUTH"; break;
	case KL_EFORBIDDEN: name = "EFORBIDDEN"; break;
	case KL_ENOTFOUND: name = "ENOTFOUND"; break;
	case KL_ECONFLICT: name = "ECONFLICT"; break;
	case KL_ETOOBIG: name = "ETOOBIG"; break;
	case KL_ETHROTTLED: name = "ETHROTTLED"; break;
	case KL_EREADONLY: name = "EREADONLY"; break;
	case KL_EUNAVAIL: name = "EUNAVAIL"; break;
	case KL_ECORRUPT: name = "ECORRUPT"; break;
	case KL_ENOMEM: name = "ENOMEM"; break;
	case KL_EINTERNAL: name = "EINTERNAL"; break;
	case KL_EMETHOD: name = "EMETHOD"; break;
	case KL_EOUTCOME: name = "EOUTCOME"; break;
	}
	return name;
}
