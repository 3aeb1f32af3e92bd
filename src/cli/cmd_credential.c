/* `kluis principal secret ...` and `kluis principal cert ...`: a principal's client secrets and
 * registered client certificates, the credentials of kluisd's token endpoint (the administration
 * API, /kluis/v1/principals/{p}/secrets and /certificates). A new client secret is printed once,
 * labelled, on stdout, and nowhere else; its JSON is freed through the wiping allocator. A
 * certificate file's private key never leaves this process: only its CERTIFICATE blocks are
 * sent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cmd.h"
#include "cli/output.h"
#include "util/b64url.h"
#include "util/secbuf.h"

#define CERT_FILE_MAX (256u * 1024)	/* as kluisd's X509_UPLOAD_MAX */
#define EXPIRES_DAYS_MAX 36500

static char *cred_url(const struct cli *c, const char *principal, const char *collection,
		      const char *cred_id)
{
	return client_url(c->cfg.url, NULL, "kluis", "v1", "principals", principal, collection,
			  cred_id, NULL);
}

/* ---- printing ---- */

static int print_new_secret(const json_t *v)
{
	static const char *const fields[] = {
		"id", "id", "description", "description", "created", "@created",
		"expires", "@expires", "secret", "secret", NULL,
	};

	fprintf(stderr, "kluis: the client secret is shown only this once: store it now "
			"(e.g. as AZURE_CLIENT_SECRET)\n");
	return cmd_print_fields(v, fields);
}

static int print_secret(const json_t *v)
{
	static const char *const fields[] = {
		"id", "id", "description", "description", "hint", "hint", "created", "@created",
		"expires", "@expires", "revoked", "revoked", NULL,
	};

	return cmd_print_fields(v, fields);
}

static int print_cert(const json_t *v)
{
	static const char *const fields[] = {
		"id", "id", "subject", "subject", "thumbprint", "thumbprint", "x5t", "x5t",
		"description", "description", "created", "@created", "expires", "@expires",
		"revoked", "revoked", NULL,
	};

	return cmd_print_fields(v, fields);
}

static int print_secrets(const json_t *list)
{
	static const struct cmd_column cols[] = {
		{ "ID", "id", NULL }, { "HINT", "hint", NULL }, { "CREATED", "@created", NULL },
		{ "EXPIRES", "@expires", NULL }, { "REVOKED", "revoked", NULL },
		{ "DESCRIPTION", "description", NULL },
	};

	return cmd_print_columns(json_object_get(list, "value"), cols, 6);
}

static int print_certs(const json_t *list)
{
	static const struct cmd_column cols[] = {
		{ "ID", "id", NULL }, { "SUBJECT", "subject", NULL },
		{ "THUMBPRINT", "thumbprint", NULL }, { "EXPIRES", "@expires", NULL },
		{ "REVOKED", "revoked", NULL }, { "DESCRIPTION", "description", NULL },
	};

	return cmd_print_columns(json_object_get(list, "value"), cols, 6);
}

/* ---- the certificate file ---- */

static const char *mem_find(const unsigned char *p, size_t n, const char *s)
{
	return memmem(p, n, s, strlen(s));
}

#define PEM_BEGIN_CERT "-----BEGIN CERTIFICATE-----"
#define PEM_END_CERT "-----END CERTIFICATE-----"

/* What the server gets for the file in f: PEM text keeps its CERTIFICATE blocks only (a private
 * key beside them stays here), DER becomes base64. CLI_OK, or CLI_EUSAGE after saying why. */
static int cert_text(const char *path, const struct buf *f, struct buf *out)
{
	const unsigned char *p = f->data, *end = f->data + f->len, *b, *e;
	struct kl_err err = { 0 };
	bool has_key;

	if (f->len == 0) {
		fprintf(stderr, "kluis: %.200s is empty\n", path);
		return CLI_EUSAGE;
	}
	if (mem_find(p, f->len, "-----BEGIN ") == NULL) {
		if (p[0] != 0x30) {
			fprintf(stderr, "kluis: %.200s is neither PEM nor DER\n", path);
			return CLI_EUSAGE;
		}
		return b64_std_encode(p, f->len, out, &err) == 0 ? CLI_OK : client_nomem();
	}
	has_key = mem_find(p, f->len, "PRIVATE KEY-----") != NULL;
	while ((b = (const unsigned char *)mem_find(p, (size_t)(end - p), PEM_BEGIN_CERT)) != NULL) {
		if ((e = (const unsigned char *)mem_find(b, (size_t)(end - b), PEM_END_CERT)) == NULL)
			break;
		e += strlen(PEM_END_CERT);
		if (buf_append(out, b, (size_t)(e - b), &err) != 0 || buf_putc(out, '\n', &err) != 0)
			return client_nomem();
		p = e;
	}
	if (out->len == 0) {
		fprintf(stderr, "kluis: %.200s holds no CERTIFICATE block\n", path);
		return CLI_EUSAGE;
	}
	if (has_key)
		fprintf(stderr, "kluis: %.200s also holds a private key: only the certificate is "
				"sent, the key stays here\n", path);
	return CLI_OK;
}

/* ---- the verbs ---- */

static int secret_add(struct cli *c, const struct args *a)
{
	const char *desc = args_get(a, "description"), *days = args_get(a, "expires");
	json_t *body = json_object();
	char *end = NULL;
	long n;
	int rc = CLI_OK;

	if (body == NULL)
		return client_nomem();
	if (days != NULL) {
		n = strtol(days, &end, 10);
		if (end == days || *end != '\0' || n < 1 || n > EXPIRES_DAYS_MAX) {
			rc = cmd_usage_error("--expires is a number of days, 1 to %d",
					     EXPIRES_DAYS_MAX);
			goto out;
		}
		if (json_object_set_new(body, "expires",
					json_integer((json_int_t)time(NULL) + n * 86400)) != 0) {
			rc = client_nomem();
			goto out;
		}
	}
	if (desc != NULL && json_object_set_new(body, "description", json_string(desc)) != 0) {
		rc = cmd_usage_error("--description must be UTF-8 text");
		goto out;
	}
	rc = cmd_call_print(c, "POST", cred_url(c, a->pos[1], "secrets", NULL), body, print_new_secret);
out:
	json_decref(body);
	return rc;
}

static int cert_add(struct cli *c, const struct args *a)
{
	const char *desc = args_get(a, "description");
	struct buf file, text;
	json_t *body = NULL;
	int rc;

	buf_init_secret(&file, CERT_FILE_MAX);
	buf_init_secret(&text, 2 * CERT_FILE_MAX);
	if ((rc = cmd_read_file(a->pos[2], CERT_FILE_MAX, &file)) != CLI_OK ||
	    (rc = cert_text(a->pos[2], &file, &text)) != CLI_OK)
		goto out;
	if ((body = json_pack("{s:s%}", "certificate", (const char *)text.data, text.len)) ==
	    NULL) {
		rc = cmd_usage_error("%.200s is not text a JSON string can hold", a->pos[2]);
		goto out;
	}
	if (desc != NULL && json_object_set_new(body, "description", json_string(desc)) != 0) {
		rc = cmd_usage_error("--description must be UTF-8 text");
		goto out;
	}
	rc = cmd_call_print(c, "POST", cred_url(c, a->pos[1], "certificates", NULL), body, print_cert);
out:
	json_decref(body);
	buf_clear(&file);
	buf_clear(&text);
	return rc;
}

/* The arguments and options of verb (pos[0] of `principal secret|cert VERB NAME [...]`): one
 * table entry holds the three verbs, so what each takes is checked here. A CLI status. */
static int verb_args(const struct args *a, size_t n_pos, bool takes_expires,
		     bool takes_description)
{
	if (a->n_pos != n_pos)
		return cmd_usage_error("%s needs %zu argument%s", a->pos[0], n_pos - 1,
				       n_pos == 2 ? "" : "s");
	if (!takes_expires && args_get(a, "expires") != NULL)
		return cmd_usage_error("--expires does not apply to %s", a->pos[0]);
	if (!takes_description && args_get(a, "description") != NULL)
		return cmd_usage_error("--description does not apply to %s", a->pos[0]);
	return CLI_OK;
}

int cmd_principal_secret(struct cli *c, const struct args *a)
{
	const char *verb = a->pos[0];
	int rc;

	if (client_need_url(c) != CLI_OK)
		return CLI_EUSAGE;
	if (strcmp(verb, "add") == 0)
		return (rc = verb_args(a, 2, true, true)) != CLI_OK ? rc : secret_add(c, a);
	if (strcmp(verb, "list") == 0)
		return (rc = verb_args(a, 2, false, false)) != CLI_OK
			       ? rc
			       : cmd_call_print(c, "GET", cred_url(c, a->pos[1], "secrets", NULL), NULL,
					    print_secrets);
	if (strcmp(verb, "revoke") == 0)
		return (rc = verb_args(a, 3, false, false)) != CLI_OK
			       ? rc
			       : cmd_call_print(c, "DELETE", cred_url(c, a->pos[1], "secrets", a->pos[2]),
					    NULL, print_secret);
	return cmd_usage_error("unknown command 'principal secret %.64s'", verb);
}

int cmd_principal_cert(struct cli *c, const struct args *a)
{
	const char *verb = a->pos[0];
	int rc;

	if (client_need_url(c) != CLI_OK)
		return CLI_EUSAGE;
	if (strcmp(verb, "add") == 0)
		return (rc = verb_args(a, 3, false, true)) != CLI_OK ? rc : cert_add(c, a);
	if (strcmp(verb, "list") == 0)
		return (rc = verb_args(a, 2, false, false)) != CLI_OK
			       ? rc
			       : cmd_call_print(c, "GET", cred_url(c, a->pos[1], "certificates", NULL),
					    NULL, print_certs);
	if (strcmp(verb, "revoke") == 0)
		return (rc = verb_args(a, 3, false, false)) != CLI_OK
			       ? rc
			       : cmd_call_print(c, "DELETE",
					    cred_url(c, a->pos[1], "certificates", a->pos[2]), NULL,
					    print_cert);
	return cmd_usage_error("unknown command 'principal cert %.64s'", verb);
}

const struct opt cmd_principal_secret_opts[] = {
	{ "description", 0, OPT_VALUE, "D", "what the secret is for (add)" },
	{ "expires", 0, OPT_VALUE, "DAYS", "the secret expires after DAYS days (add; default: "
	  "never)" },
	{ NULL, 0, 0, NULL, NULL },
};

const struct opt cmd_principal_cert_opts[] = {
	{ "description", 0, OPT_VALUE, "D", "what the certificate is for (add)" },
	{ NULL, 0, 0, NULL, NULL },
};
