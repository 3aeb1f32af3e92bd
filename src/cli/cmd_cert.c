/* `kluis cert ...`: the certificates of one vault, over the data plane (api-version 7.6). create
 * polls the certificate operation until it is done; import reads the PFX or PEM from a file and
 * its password from a file or stdin, never from argv; download writes the certificate, or with
 * --with-key the managed secret (PFX bytes or PEM text), to a file with mode 0600. The password,
 * the PFX and the private key travel only in wiping buffers and the JSON body, and are never
 * printed. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cli/cmd.h"
#include "cli/output.h"
#include "util/b64url.h"

#define CERT_INPUT_MAX (1u << 20)	/* a PFX or PEM bundle; the server's own limit is lower */
#define PASSWORD_MAX 4096
#define POLL_INTERVAL_MS 1000
#define POLL_DEFAULT_S 300

#define CERT_URL(base, ...) client_url((base), "api-version=" CLI_DATA_API_VERSION, __VA_ARGS__)

static int print_cert(const json_t *v)
{
	char name[258] = "=", version[130] = "=";
	const char *fields[] = {
		"name", name, "version", version, "subject", "policy.x509_props.subject",
		"issuer", "policy.issuer.name", "x5t", "x5t", "enabled", "attributes.enabled",
		"not-before", "@attributes.nbf", "expires", "@attributes.exp",
		"content-type", "policy.secret_props.contentType", "created", "@attributes.created",
		"updated", "@attributes.updated", "id", "id", NULL,
	};

	output_id_part(v, "id", "certificates", 0, name + 1, sizeof(name) - 1);
	output_id_part(v, "id", "certificates", 1, version + 1, sizeof(version) - 1);
	return cmd_print_fields(v, fields);
}

static int print_operation(const json_t *v)
{
	const char *fields[] = {
		"status", "status", "issuer", "issuer.name", "details", "status_details",
		"error", "error.message", "target", "target", "request-id", "request_id",
		"id", "id", NULL,
	};

	return cmd_print_fields(v, fields);
}

/* --content-type: the two MIME types, or pfx/pkcs12/pem for short. NULL when unknown. */
static const char *content_type(const char *s)
{
	if (strcasecmp(s, "application/x-pkcs12") == 0 || strcasecmp(s, "pfx") == 0 ||
	    strcasecmp(s, "pkcs12") == 0)
		return "application/x-pkcs12";
	if (strcasecmp(s, "application/x-pem-file") == 0 || strcasecmp(s, "pem") == 0)
		return "application/x-pem-file";
	return NULL;
}

/* A positive number option into *n (0 when absent): CLI_OK or CLI_EUSAGE. */
static int number_opt(const struct args *a, const char *name, long max, long *n)
{
	const char *s = args_get(a, name);
	char *end;

	*n = 0;
	if (s == NULL)
		return CLI_OK;
	*n = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || *n <= 0 || *n > max)
		return cmd_usage_error("--%s wants a number from 1 to %ld", name, max);
	return CLI_OK;
}

/* The CertificatePolicy of create from the options. */
static int create_policy(const struct args *a, json_t **out)
{
	const char *subject = args_get(a, "subject"), *kty = args_get(a, "kty");
	const char *crv = args_get(a, "curve"), *ct = args_get(a, "content-type");
	const char *issuer = args_get(a, "issuer"), *dns;
	json_t *policy = NULL, *key = NULL, *x509 = NULL, *names = NULL;
	long months, bits;
	size_t it = 0;
	int rc;

	*out = NULL;
	if ((rc = number_opt(a, "validity-months", 1200, &months)) != CLI_OK ||
	    (rc = number_opt(a, "size", 16384, &bits)) != CLI_OK)
		return rc;
	if (ct != NULL && content_type(ct) == NULL)
		return cmd_usage_error("--content-type wants pem or pfx (application/x-pem-file or "
				       "application/x-pkcs12)");
	if (subject == NULL && args_get(a, "san-dns") == NULL)
		return cmd_usage_error("cert create needs --subject or --san-dns");
	if ((policy = json_object()) == NULL || (key = json_object()) == NULL ||
	    (x509 = json_object()) == NULL || (names = json_array()) == NULL)
		goto nomem;
	while ((dns = args_next(a, "san-dns", &it)) != NULL)
		if (json_array_append_new(names, json_string(dns)) != 0)
			goto bad;
	if ((subject != NULL && json_object_set_new(x509, "subject", json_string(subject)) != 0) ||
	    (json_array_size(names) > 0 &&
	     json_object_set_new(x509, "sans", json_pack("{s:O}", "dns_names", names)) != 0) ||
	    (months > 0 &&
	     json_object_set_new(x509, "validity_months", json_integer(months)) != 0) ||
	    (kty != NULL && json_object_set_new(key, "kty", json_string(kty)) != 0) ||
	    (bits > 0 && json_object_set_new(key, "key_size", json_integer(bits)) != 0) ||
	    (crv != NULL && json_object_set_new(key, "crv", json_string(crv)) != 0) ||
	    json_object_set_new(policy, "issuer",
				json_pack("{s:s}", "name", issuer ? issuer : "Self")) != 0)
		goto bad;
	if (ct != NULL &&
	    json_object_set_new(policy, "secret_props",
				json_pack("{s:s}", "contentType", content_type(ct))) != 0)
		goto nomem;
	json_object_set(policy, "x509_props", x509);
	if (json_object_size(key) > 0)
		json_object_set(policy, "key_props", key);
	*out = policy;
	policy = NULL;
	rc = CLI_OK;
	goto out;
bad:
	rc = cmd_usage_error(
		"--subject, --san-dns, --kty, --curve and --issuer must be UTF-8 text");
	goto out;
nomem:
	rc = client_nomem();
out:
	json_decref(names);
	json_decref(x509);
	json_decref(key);
	json_decref(policy);
	return rc;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0)
		;
}

/* Polls GET /certificates/NAME/pending until the operation is no longer in progress (or it
 * waits for a merge: issuer Unknown), at most wait_s seconds. *op is the last answer. */
static int poll_operation(struct cli *c, const char *base, const char *name, long wait_s,
			  json_t **op)
{
	char *url = CERT_URL(base, "certificates", name, "pending", NULL);
	time_t end = time(NULL) + wait_s;
	int rc = CLI_OK;

	if (url == NULL)
		return client_nomem();
	for (;;) {
		const char *status = json_string_value(json_object_get(*op, "status"));
		const char *issuer = json_string_value(output_path(*op, "issuer.name"));

		if (status == NULL || strcasecmp(status, "inProgress") != 0 ||
		    (issuer != NULL && strcasecmp(issuer, "Unknown") == 0))
			break;
		if (time(NULL) >= end) {
			fprintf(stderr,
				"kluis: the certificate operation of %.127s is still in "
				"progress after %ld s; see `kluis cert get %.127s`\n",
				name, wait_s, name);
			rc = CLI_EFAIL;
			break;
		}
		sleep_ms(POLL_INTERVAL_MS);
		json_decref(*op);
		*op = NULL;
		if ((rc = client_call(c, "GET", url, NULL, true, op)) != CLI_OK)
			break;
	}
	free(url);
	return rc;
}

static int cert_create(struct cli *c, const struct args *a)
{
	const char *base, *status;
	json_t *policy = NULL, *body = NULL, *op = NULL;
	long wait_s;
	char *url = NULL;
	int rc;

	if ((rc = number_opt(a, "wait", 86400, &wait_s)) != CLI_OK ||
	    (rc = create_policy(a, &policy)) != CLI_OK)
		goto out;
	if ((body = json_pack("{s:O}", "policy", policy)) == NULL) {
		rc = client_nomem();
		goto out;
	}
	if ((rc = client_vault_base(c, &base)) != CLI_OK)
		goto out;
	if ((url = CERT_URL(base, "certificates", a->pos[0], "create", NULL)) == NULL) {
		rc = client_nomem();
		goto out;
	}
	if ((rc = client_call(c, "POST", url, body, true, &op)) != CLI_OK)
		goto out;
	if (!args_has(a, "no-wait") &&
	    (rc = poll_operation(c, base, a->pos[0], wait_s ? wait_s : POLL_DEFAULT_S, &op)) != 0)
		goto out;
	status = json_string_value(json_object_get(op, "status"));
	if (status != NULL && strcasecmp(status, "completed") == 0) {
		free(url);
		url = CERT_URL(base, "certificates", a->pos[0], "", NULL);
		rc = cmd_vault_call(c, "GET", url, NULL, print_cert);
		url = NULL;
		goto out;
	}
	rc = cmd_print(c, op, print_operation);
	if (rc == CLI_OK && status != NULL &&
	    (strcasecmp(status, "failed") == 0 || strcasecmp(status, "cancelled") == 0)) {
		fprintf(stderr, "kluis: the certificate operation of %.127s ended %s\n", a->pos[0],
			status);
		rc = CLI_EFAIL;
	}
out:
	json_decref(op);
	json_decref(body);
	json_decref(policy);
	free(url);
	return rc;
}

/* Standard base64 (padded) of p[0..n) as a JSON string: what import's value carries. */
static json_t *base64_json(const void *p, size_t n)
{
	struct buf b;
	struct kl_err err;
	json_t *j = NULL;
	size_t i;

	buf_init_secret(&b, 2 * n + 16);
	if (b64url_encode(p, n, &b, &err) == 0) {
		for (i = 0; i < b.len; i++)
			b.data[i] = b.data[i] == '-' ? '+' : b.data[i] == '_' ? '/' : b.data[i];
		while (b.len % 4 != 0 && buf_putc(&b, '=', &err) == 0)
			;
		j = json_stringn((const char *)b.data, b.len);
	}
	buf_clear(&b);
	return j;
}

/* The password of import: --password-file PATH, or --password-stdin; one final newline dropped.
 * *pwd stays NULL without either (an empty password). */
static int read_password(const struct args *a, json_t **pwd)
{
	const char *file = args_get(a, "password-file");
	struct buf b;
	int rc;

	*pwd = NULL;
	if (file != NULL && args_has(a, "password-stdin"))
		return cmd_usage_error("give --password-file or --password-stdin, not both");
	if (file == NULL && !args_has(a, "password-stdin"))
		return CLI_OK;
	if (file == NULL && isatty(STDIN_FILENO))
		fprintf(stderr, "kluis: reading the password from stdin (end with Ctrl-D)\n");
	buf_init_secret(&b, PASSWORD_MAX);
	if ((rc = cmd_read_file(file ? file : "-", PASSWORD_MAX, &b)) != CLI_OK)
		goto out;
	if (b.len > 0 && b.data[b.len - 1] == '\n')
		buf_truncate(&b, b.len - 1);
	if (b.len > 0 && b.data[b.len - 1] == '\r')
		buf_truncate(&b, b.len - 1);
	if ((*pwd = json_stringn((const char *)buf_cstr(&b), b.len)) == NULL)
		rc = cmd_usage_error("the password is not UTF-8 text without NUL bytes");
out:
	buf_clear(&b);
	return rc;
}

static int cert_import(struct cli *c, const struct args *a)
{
	const char *base, *file = args_get(a, "file"), *ct = args_get(a, "content-type");
	json_t *body = NULL, *value = NULL, *pwd = NULL;
	struct buf in;
	int rc;

	buf_init_secret(&in, CERT_INPUT_MAX);
	if (file == NULL)
		return cmd_usage_error("cert import needs --file PATH (a PFX or PEM file)");
	if (ct != NULL && content_type(ct) == NULL)
		return cmd_usage_error("--content-type wants pem or pfx");
	if ((rc = read_password(a, &pwd)) != CLI_OK ||
	    (rc = cmd_read_file(file, CERT_INPUT_MAX, &in)) != CLI_OK)
		goto out;
	/* PEM goes as its text, anything else (a PFX) as standard base64 */
	if (in.len >= 10 && memcmp(in.data, "-----BEGIN", 10) == 0)
		value = json_stringn((const char *)in.data, in.len);
	else
		value = base64_json(in.data, in.len);
	if (value == NULL) {
		rc = cmd_usage_error("%.200s is not a PFX or PEM file", file);
		goto out;
	}
	if ((body = json_pack("{s:O}", "value", value)) == NULL ||
	    (pwd != NULL && json_object_set(body, "pwd", pwd) != 0) ||
	    (ct != NULL && json_object_set_new(body, "policy",
					       json_pack("{s:{s:s}}", "secret_props", "contentType",
							 content_type(ct))) != 0)) {
		rc = client_nomem();
		goto out;
	}
	if ((rc = client_vault_base(c, &base)) == CLI_OK)
		rc = cmd_vault_call(c, "POST",
				    CERT_URL(base, "certificates", a->pos[0], "import", NULL), body,
				    print_cert);
out:
	json_decref(body);
	json_decref(value);
	json_decref(pwd);
	buf_clear(&in);
	return rc;
}

static int cert_get(struct cli *c, const struct args *a)
{
	const char *base, *version = args_get(a, "version");
	int rc = client_vault_base(c, &base);

	if (rc != CLI_OK)
		return rc;
	return cmd_vault_call(c, "GET",
			      CERT_URL(base, "certificates", a->pos[0], version ? version : "", NULL),
			      NULL, print_cert);
}

static const struct cmd_column list_columns[] = {
	{ "NAME", "id", "certificates" },
	{ "ENABLED", "attributes.enabled", NULL },
	{ "EXPIRES", "@attributes.exp", NULL },
	{ "X5T", "x5t", NULL },
};

static int print_list(const json_t *items)
{
	return cmd_print_columns(items, list_columns,
				 sizeof(list_columns) / sizeof(list_columns[0]));
}

static int cert_list(struct cli *c, const struct args *a)
{
	(void)a;
	return cmd_list_collection(c, "certificates", print_list);
}

/* The DER of the certificate (cer, standard base64) as PEM text into out. */
static int der_to_pem(const struct buf *der, struct buf *out)
{
	struct buf b64;
	struct kl_err err;
	size_t i;
	int rc = -1;

	buf_init(&b64, 2 * der->len + 16);
	if (b64url_encode(der->data, der->len, &b64, &err) != 0)
		goto out;
	for (i = 0; i < b64.len; i++)
		b64.data[i] = b64.data[i] == '-' ? '+' : b64.data[i] == '_' ? '/' : b64.data[i];
	while (b64.len % 4 != 0)
		if (buf_putc(&b64, '=', &err) != 0)
			goto out;
	if (buf_append_str(out, "-----BEGIN CERTIFICATE-----\n", &err) != 0)
		goto out;
	for (i = 0; i < b64.len; i += 64)
		if (buf_append(out, b64.data + i, b64.len - i < 64 ? b64.len - i : 64, &err) != 0 ||
		    buf_putc(out, '\n', &err) != 0)
			goto out;
	rc = buf_append_str(out, "-----END CERTIFICATE-----\n", &err);
out:
	buf_clear(&b64);
	return rc;
}

/* The certificate alone: cer, as DER or PEM. */
static int write_certificate(const json_t *bundle, const char *format, const char *file)
{
	const json_t *cer = json_object_get(bundle, "cer");
	struct buf der, pem;
	struct kl_err err;
	int rc = CLI_EFAIL;

	buf_init(&der, CERT_INPUT_MAX);
	buf_init(&pem, 2 * CERT_INPUT_MAX);
	if (!json_is_string(cer) ||
	    b64url_decode(json_string_value(cer), json_string_length(cer), &der, &err) != 0) {
		fprintf(stderr, "kluis: the answer holds no certificate (is it still pending?)\n");
		goto out;
	}
	if (strcasecmp(format, "der") == 0) {
		rc = cmd_write_file(file, der.data, der.len);
	} else if (der_to_pem(&der, &pem) != 0) {
		rc = client_nomem();
	} else {
		rc = cmd_write_file(file, pem.data, pem.len);
	}
out:
	buf_clear(&der);
	buf_clear(&pem);
	return rc;
}

/* The managed secret of that version: PFX bytes (its value is base64) or PEM text. */
static int write_with_key(struct cli *c, const char *base, const char *name, const char *version,
			  const char *file)
{
	json_t *secret = NULL, *value, *ct;
	struct buf pfx;
	struct kl_err err;
	char *url = CERT_URL(base, "secrets", name, version, NULL);
	int rc;

	buf_init_secret(&pfx, CERT_INPUT_MAX);
	if (url == NULL) {
		rc = client_nomem();
		goto out;
	}
	if ((rc = client_call(c, "GET", url, NULL, true, &secret)) != CLI_OK)
		goto out;
	value = json_object_get(secret, "value");
	ct = json_object_get(secret, "contentType");
	if (!json_is_string(value)) {
		fprintf(stderr, "kluis: the certificate's secret holds no value\n");
		rc = CLI_EFAIL;
	} else if (json_is_string(ct) &&
		   strcmp(json_string_value(ct), "application/x-pem-file") == 0) {
		rc = cmd_write_file(file, json_string_value(value), json_string_length(value));
	} else if (b64url_decode(json_string_value(value), json_string_length(value), &pfx, &err) !=
		   0) {
		fprintf(stderr, "kluis: the certificate's secret is not a base64 PFX\n");
		rc = CLI_EFAIL;
	} else {
		rc = cmd_write_file(file, pfx.data, pfx.len);
	}
out:
	json_decref(secret);	/* jansson's allocator wipes the value */
	buf_clear(&pfx);
	free(url);
	return rc;
}

static int cert_download(struct cli *c, const struct args *a)
{
	const char *base, *file = args_get(a, "file"), *format = args_get(a, "format");
	const char *version = args_get(a, "version");
	char ver[130];
	json_t *bundle = NULL;
	char *url = NULL;
	int rc;

	if (file == NULL)
		return cmd_usage_error("cert download needs --file PATH");
	if (format != NULL && strcasecmp(format, "pem") != 0 && strcasecmp(format, "der") != 0)
		return cmd_usage_error("--format wants pem or der");
	if (format != NULL && args_has(a, "with-key"))
		return cmd_usage_error("--with-key writes the secret as stored (PFX or PEM): no "
				       "--format");
	if ((rc = client_vault_base(c, &base)) != CLI_OK)
		return rc;
	if ((url = CERT_URL(base, "certificates", a->pos[0], version ? version : "", NULL)) == NULL)
		return client_nomem();
	if ((rc = client_call(c, "GET", url, NULL, true, &bundle)) != CLI_OK)
		goto out;
	if (args_has(a, "with-key")) {
		/* the version the bundle names, so certificate and key match */
		output_id_part(bundle, "id", "certificates", 1, ver, sizeof(ver));
		if (strcmp(ver, "-") == 0) {
			fprintf(stderr, "kluis: the answer names no certificate version\n");
			rc = CLI_EFAIL;
			goto out;
		}
		rc = write_with_key(c, base, a->pos[0], ver, file);
	} else {
		rc = write_certificate(bundle, format ? format : "pem", file);
	}
	if (rc == CLI_OK)
		rc = cmd_print_done(c, "downloaded", a->pos[0], "file", file);
out:
	json_decref(bundle);
	free(url);
	return rc;
}

static int cert_delete(struct cli *c, const struct args *a)
{
	return cmd_object_delete(c, "certificates", a->pos[0]);
}

static int cert_recover(struct cli *c, const struct args *a)
{
	return cmd_object_recover(c, "certificates", a->pos[0], print_cert);
}

static int cert_purge(struct cli *c, const struct args *a)
{
	return cmd_object_purge(c, "certificates", a->pos[0]);
}

static int cert_backup(struct cli *c, const struct args *a)
{
	const char *file = args_get(a, "file");

	if (file == NULL)
		return cmd_usage_error("cert backup needs --file PATH");
	return cmd_object_backup(c, "certificates", a->pos[0], file);
}

static int cert_restore(struct cli *c, const struct args *a)
{
	const char *file = args_get(a, "file");

	if (file == NULL)
		return cmd_usage_error("cert restore needs --file PATH");
	return cmd_object_restore(c, "certificates", file, print_cert);
}

static const struct opt create_opts[] = {
	{ "subject", 0, OPT_VALUE, "DN", "the subject, e.g. CN=www.example.com" },
	{ "san-dns", 0, OPT_VALUE, "NAME", "a DNS subject alternative name (repeatable)" },
	{ "validity-months", 0, OPT_VALUE, "N", "validity (default: the server's, 12)" },
	{ "kty", 0, OPT_VALUE, "RSA|EC", "key type (default RSA)" },
	{ "size", 0, OPT_VALUE, "BITS", "RSA key size: 2048, 3072 or 4096" },
	{ "curve", 0, OPT_VALUE, "CRV", "EC curve: P-256, P-384, P-521 or P-256K" },
	{ "content-type", 0, OPT_VALUE, "pfx|pem", "format of the secret holding the key" },
	{ "issuer", 0, OPT_VALUE, "NAME", "Self (default), Unknown (merge later) or an issuer" },
	{ "wait", 0, OPT_VALUE, "SECONDS", "how long to wait for the operation (default 300)" },
	{ "no-wait", 0, OPT_FLAG, NULL, "print the operation at once, without waiting" },
	{ NULL, 0, 0, NULL, NULL },
};
static const struct opt import_opts[] = {
	{ "file", 0, OPT_VALUE, "PATH", "the PFX or PEM file (certificate and private key)" },
	{ "password-file", 0, OPT_VALUE, "PATH", "read the PFX or key password from PATH" },
	{ "password-stdin", 0, OPT_FLAG, NULL, "read the password from standard input" },
	{ "content-type", 0, OPT_VALUE, "pfx|pem", "store the secret in this format" },
	{ NULL, 0, 0, NULL, NULL },
};
static const struct opt get_opts[] = {
	{ "version", 0, OPT_VALUE, "VERSION", "that version (default: the latest)" },
	{ NULL, 0, 0, NULL, NULL },
};
static const struct opt download_opts[] = {
	{ "file", 0, OPT_VALUE, "PATH", "where to write (mode 0600)" },
	{ "format", 0, OPT_VALUE, "pem|der", "the certificate's encoding (default pem)" },
	{ "with-key", 0, OPT_FLAG, NULL, "the certificate with its private key (PFX or PEM)" },
	{ "version", 0, OPT_VALUE, "VERSION", "that version (default: the latest)" },
	{ NULL, 0, 0, NULL, NULL },
};
static const struct opt file_opts[] = {
	{ "file", 0, OPT_VALUE, "PATH", "the backup file (written with mode 0600)" },
	{ NULL, 0, 0, NULL, NULL },
};

static const struct cmd cert_cmds[] = {
	{ "create",
	  "cert create NAME (--subject DN | --san-dns NAME ...) [--validity-months N] "
	  "[--kty RSA|EC] [--size BITS] [--curve CRV] [--content-type pfx|pem] [--issuer NAME] "
	  "[--wait SECONDS | --no-wait]",
	  "create a certificate and wait until it is issued", create_opts, 1, 1, cert_create },
	{ "import",
	  "cert import NAME --file PATH [--password-file PATH | --password-stdin] "
	  "[--content-type pfx|pem]",
	  "import a certificate with its key from a PFX or PEM file", import_opts, 1, 1,
	  cert_import },
	{ "get", "cert get NAME [--version V]", "show a certificate", get_opts, 1, 1, cert_get },
	{ "list", "cert list", "list the certificates of the vault", NULL, 0, 0, cert_list },
	{ "download",
	  "cert download NAME --file PATH [--format pem|der | --with-key] [--version V]",
	  "write the certificate, or with --with-key also its private key, to PATH", download_opts,
	  1, 1, cert_download },
	{ "delete", "cert delete NAME", "delete (recoverable while soft-deleted)", NULL, 1, 1,
	  cert_delete },
	{ "recover", "cert recover NAME", "recover a deleted certificate", NULL, 1, 1,
	  cert_recover },
	{ "purge", "cert purge NAME", "purge a deleted certificate for good", NULL, 1, 1,
	  cert_purge },
	{ "backup", "cert backup NAME --file PATH", "write a backup blob to PATH", file_opts, 1, 1,
	  cert_backup },
	{ "restore", "cert restore --file PATH", "restore a certificate from a backup blob",
	  file_opts, 0, 0, cert_restore },
	{ NULL, NULL, NULL, NULL, 0, 0, NULL },
};

const struct cmd_group cmd_cert_group = {
	"cert", "certificates of a vault (--vault NAME)", cert_cmds, false,
};
