/* `kluis principal ...`: users and applications, and their bearer tokens (the administration
 * API, /kluis/v1/principals). A new token is printed once, labelled, on stdout, and nowhere
 * else; its JSON is freed through the wiping allocator. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cmd.h"
#include "cli/output.h"

static char *admin_url(const struct cli *c, const char *a1, const char *a2, const char *a3)
{
	return client_url(c->cfg.url, NULL, "kluis", "v1", "principals", a1, a2, a3, NULL);
}

/* Tokens not revoked and not expired. */
static size_t live_tokens(const json_t *p)
{
	const json_t *t, *exp;
	size_t i, n = 0;
	time_t now = time(NULL);

	json_array_foreach(json_object_get(p, "tokens"), i, t) {
		exp = json_object_get(t, "expiresOn");
		if (!json_is_true(json_object_get(t, "revoked")) &&
		    (!json_is_integer(exp) || json_integer_value(exp) > now))
			n++;
	}
	return n;
}

static int print_new_principal(const json_t *v)
{
	static const char *const fields[] = {
		"name", "name", "type", "type", "id", "id", "created", "@created",
		"expires", "@tokens.0.expiresOn", "token", "token", NULL,
	};

	fprintf(stderr, "kluis: the token is shown only this once: store it now "
			"(e.g. in a file for --token-file)\n");
	return cmd_print_fields(v, fields);
}

static int print_new_token(const json_t *v)
{
	static const char *const fields[] = {
		"token-id", "id", "created", "@created", "expires", "@expiresOn",
		"token", "token", NULL,
	};

	fprintf(stderr, "kluis: the token is shown only this once: store it now\n");
	return cmd_print_fields(v, fields);
}

static int print_tokens(const json_t *p)
{
	static const char *const head[] = { "TOKEN-ID", "CREATED", "EXPIRES", "REVOKED" };
	char created[32], expires[32], revoked[8];
	struct table *t = table_new(4, head);
	const json_t *tok;
	size_t i;

	if (t == NULL)
		return client_nomem();
	json_array_foreach(json_object_get(p, "tokens"), i, tok) {
		const char *row[] = {
			json_string_value(json_object_get(tok, "id")),
			output_time(tok, "created", created, sizeof(created)),
			output_time(tok, "expiresOn", expires, sizeof(expires)),
			output_text(tok, "revoked", revoked, sizeof(revoked)),
		};

		if (table_add(t, row) != 0) {
			table_free(t);
			return client_nomem();
		}
	}
	table_print(t, stdout);
	return CLI_OK;
}

static int print_principal(const json_t *v)
{
	static const char *const fields[] = {
		"name", "name", "type", "type", "id", "id", "created", "@created",
		"client-cert", "clientCertificateSha256", NULL,
	};

	cmd_print_fields(v, fields);
	fputc('\n', stdout);
	return print_tokens(v);
}

static int print_list(const json_t *list)
{
	static const char *const head[] = { "NAME", "TYPE", "ID", "CREATED", "LIVE-TOKENS" };
	char name[128], type[32], id[64], created[32], live[16];
	struct table *t = table_new(5, head);
	const json_t *p;
	size_t i;

	if (t == NULL)
		return client_nomem();
	json_array_foreach(json_object_get(list, "value"), i, p) {
		const char *row[] = {
			output_text(p, "name", name, sizeof(name)),
			output_text(p, "type", type, sizeof(type)),
			output_text(p, "id", id, sizeof(id)),
			output_time(p, "created", created, sizeof(created)),
			live,
		};

		snprintf(live, sizeof(live), "%zu", live_tokens(p));
		if (table_add(t, row) != 0) {
			table_free(t);
			return client_nomem();
		}
	}
	table_print(t, stdout);
	return CLI_OK;
}

/* cmd_call_print once the deployment's URL is known; url is freed. */
static int call_print(struct cli *c, const char *method, char *url, const json_t *body,
		      int (*table)(const json_t *v))
{
	int rc;

	if (url == NULL)
		return client_nomem();
	if ((rc = client_need_url(c)) != CLI_OK) {
		free(url);
		return rc;
	}
	return cmd_call_print(c, method, url, body, table);
}

/* --expires into body[field] as Unix seconds, when given. */
static int add_expiry(const struct args *a, json_t *body, const char *field)
{
	const char *e = args_get(a, "expires");
	long long t;

	if (e == NULL)
		return CLI_OK;
	if (cmd_parse_time(e, &t) != 0)
		return CLI_EUSAGE;
	return json_object_set_new(body, field, json_integer(t)) == 0 ? CLI_OK : client_nomem();
}

static int principal_create(struct cli *c, const struct args *a)
{
	const char *type = args_get(a, "type");
	json_t *body;
	int rc;

	if (client_need_url(c) != CLI_OK)
		return CLI_EUSAGE;
	if ((body = json_pack("{s:s, s:s}", "name", a->pos[0], "type",
			      type ? type : "application")) == NULL)
		return cmd_usage_error("the name and --type must be UTF-8 text");
	if (args_get(a, "client-cert-sha256") != NULL &&
	    json_object_set_new(body, "clientCertificateSha256",
				json_string(args_get(a, "client-cert-sha256"))) != 0) {
		json_decref(body);
		return cmd_usage_error("--client-cert-sha256 must be 64 hex digits");
	}
	if ((rc = add_expiry(a, body, "tokenExpiresOn")) == CLI_OK)
		rc = call_print(c, "POST", admin_url(c, NULL, NULL, NULL), body,
				print_new_principal);
	json_decref(body);
	return rc;
}

/* `principal bind-cert NAME SHA256|none`: a second factor for its tokens (docs/admin-api.md). */
static int principal_bind_cert(struct cli *c, const struct args *a)
{
	const char *fp = a->pos[1];
	json_t *body;
	int rc;

	if (client_need_url(c) != CLI_OK)
		return CLI_EUSAGE;
	body = strcmp(fp, "none") == 0 ? json_pack("{s:n}", "clientCertificateSha256")
				       : json_pack("{s:s}", "clientCertificateSha256", fp);
	if (body == NULL)
		return cmd_usage_error("the fingerprint must be 64 hex digits, or none");
	rc = call_print(c, "PATCH", admin_url(c, a->pos[0], NULL, NULL), body, print_principal);
	json_decref(body);
	return rc;
}

static int principal_list(struct cli *c, const struct args *a)
{
	(void)a;
	if (client_need_url(c) != CLI_OK)
		return CLI_EUSAGE;
	return call_print(c, "GET", admin_url(c, NULL, NULL, NULL), NULL, print_list);
}

static int principal_show(struct cli *c, const struct args *a)
{
	if (client_need_url(c) != CLI_OK)
		return CLI_EUSAGE;
	return call_print(c, "GET", admin_url(c, a->pos[0], NULL, NULL), NULL, print_principal);
}

static int principal_token(struct cli *c, const struct args *a)
{
	json_t *body = json_object();
	int rc;

	if (client_need_url(c) != CLI_OK)
		return CLI_EUSAGE;
	if (body == NULL)
		return client_nomem();
	if ((rc = add_expiry(a, body, "expiresOn")) == CLI_OK)
		rc = call_print(c, "POST", admin_url(c, a->pos[0], "tokens", NULL), body,
				print_new_token);
	json_decref(body);
	return rc;
}

static int principal_revoke(struct cli *c, const struct args *a)
{
	const char *tid = args_get(a, "token-id");
	char *url;
	int rc;

	if ((rc = client_need_url(c)) != CLI_OK)
		return rc;
	url = tid ? admin_url(c, a->pos[0], "tokens", tid) : admin_url(c, a->pos[0], NULL, NULL);
	if (url == NULL)
		return client_nomem();
	if ((rc = client_call(c, "DELETE", url, NULL, true, NULL)) == CLI_OK && tid != NULL)
		rc = cmd_print_done(c, "revoked token", tid, "principal", a->pos[0]);
	else if (rc == CLI_OK)
		rc = cmd_print_done(c, "removed principal", a->pos[0], "tokens", "all revoked");
	free(url);
	return rc;
}

static const struct opt create_opts[] = {
	{ "type", 0, OPT_VALUE, "TYPE", "user or application (default: application)" },
	{ "expires", 0, OPT_VALUE, "TIME", "the first token's expiry: RFC 3339 or Unix seconds" },
	{ "client-cert-sha256", 0, OPT_VALUE, "SHA256",
	  "its tokens work only with this TLS client certificate (kluisd --client-ca)" },
	{ NULL, 0, 0, NULL, NULL },
};
static const struct opt token_opts[] = {
	{ "expires", 0, OPT_VALUE, "TIME", "the token's expiry: RFC 3339 or Unix seconds" },
	{ NULL, 0, 0, NULL, NULL },
};
static const struct opt revoke_opts[] = {
	{ "token-id", 0, OPT_VALUE, "TOKEN_ID", "revoke only this token (see principal show)" },
	{ NULL, 0, 0, NULL, NULL },
};

static const struct cmd principal_cmds[] = {
	{ "create", "principal create NAME [--type user|application] [--expires TIME] "
	  "[--client-cert-sha256 SHA256]",
	  "create a principal; prints its first token, once", create_opts, 1, 1, principal_create },
	{ "bind-cert", "principal bind-cert NAME_OR_ID SHA256|none",
	  "accept its tokens only with this TLS client certificate (none: unbind)", NULL, 2, 2,
	  principal_bind_cert },
	{ "list", "principal list", "list principals", NULL, 0, 0, principal_list },
	{ "show", "principal show NAME_OR_ID", "show a principal and its tokens", NULL, 1, 1,
	  principal_show },
	{ "token", "principal token NAME_OR_ID [--expires TIME]",
	  "give a principal one more token (rotation); prints it, once", token_opts, 1, 1,
	  principal_token },
	{ "revoke", "principal revoke NAME_OR_ID [--token-id TOKEN_ID]",
	  "remove a principal and all its tokens, or revoke just one token", revoke_opts, 1, 1,
	  principal_revoke },
	{ "secret", "principal secret add NAME_OR_ID [--description D] [--expires DAYS]\n"
	  "  kluis principal secret list NAME_OR_ID\n"
	  "  kluis principal secret revoke NAME_OR_ID CRED_ID",
	  "client secrets for the token endpoint (AZURE_CLIENT_SECRET); add prints one, once",
	  cmd_principal_secret_opts, 2, 3, cmd_principal_secret },
	{ "cert", "principal cert add NAME_OR_ID FILE [--description D]\n"
	  "  kluis principal cert list NAME_OR_ID\n"
	  "  kluis principal cert revoke NAME_OR_ID CRED_ID",
	  "client certificates for the token endpoint (AZURE_CLIENT_CERTIFICATE_PATH); FILE is "
	  "PEM or DER, a private key in it is not sent", cmd_principal_cert_opts, 2, 3,
	  cmd_principal_cert },
	{ NULL, NULL, NULL, NULL, 0, 0, NULL },
};

const struct cmd_group cmd_principal_group = {
	"principal", "users and applications, their tokens, client secrets and certificates",
	principal_cmds, false,
};
