/* `kluis identity ...`: configuring an unchanged application for a principal (`identity env`:
 * the credential it needs, made through the administration API, and the environment variables
 * of one route, printed as shell lines for eval), and the keys that sign access tokens
 * (`identity signing-key list|rotate`). A credential is printed once, on stdout only, inside the
 * lines to eval; every copy of it is in wiping memory. Files it writes (a kluis token for the
 * identity agent, a certificate's private key) are 0600 under the CLI's config directory. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/agent.h"
#include "cli/cmd.h"
#include "cli/output.h"
#include "crypto/keyops.h"
#include "crypto/x509.h"
#include "util/json.h"

#define ENV_OUT_MAX (64u * 1024)
#define CERT_DAYS 365

/* Every variable that changes which credential DefaultAzureCredential and
 * ManagedIdentityCredential pick, in either SDK (spec identity.md §1): a route unsets the ones it
 * does not set, so that what the shell had before cannot take over. */
static const char *const route_vars[] = {
	"AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET",
	"AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_CLIENT_CERTIFICATE_PASSWORD",
	"AZURE_CLIENT_SEND_CERTIFICATE_CHAIN",
	"AZURE_USERNAME", "AZURE_PASSWORD", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_AUTHORITY_HOST",
	"AZURE_POD_IDENTITY_AUTHORITY_HOST", "AZURE_TOKEN_CREDENTIALS", "IDENTITY_ENDPOINT",
	"IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT", "MSI_ENDPOINT",
	"MSI_SECRET",
};
#define N_ROUTE_VARS (sizeof(route_vars) / sizeof(route_vars[0]))
#define FEDERATED_DEFAULT "/var/run/secrets/azure/tokens/azure-identity-token"

/* The lines being built: variables set (name -> value, values may be secrets) and comments. */
struct env_out {
	json_t *set;		/* insertion order is the print order */
	json_t *notes;		/* comment lines */
	const char *raw_name;	/* one variable whose value is shell text, not quoted */
};

static int set_var(struct env_out *o, const char *name, const char *value)
{
	return json_object_set_new(o->set, name, json_string(value)) == 0 ? CLI_OK
									  : client_nomem();
}

/* Appends s single-quoted for a POSIX shell. */
static int shell_quote(struct buf *b, const char *s, struct kl_err *err)
{
	if (buf_putc(b, '\'', err) != 0)
		return -1;
	for (; *s != '\0'; s++)
		if ((*s == '\'' ? buf_append_str(b, "'\\''", err) : buf_putc(b, *s, err)) != 0)
			return -1;
	return buf_putc(b, '\'', err);
}

static int print_env(const struct cli *c, const char *route, const struct env_out *o)
{
	struct kl_err err;
	const char *name;
	json_t *v, *doc;
	struct buf b;
	size_t i;
	bool any = false;
	int rc = CLI_EFAIL;

	if (c->cfg.output == OUTPUT_JSON) {
		doc = json_pack("{s:s, s:O, s:O}", "route", route, "environment", o->set, "notes",
				o->notes);
		if (doc == NULL)
			return client_nomem();
		output_json(doc);
		json_decref(doc);
		return CLI_OK;
	}
	buf_init_secret(&b, ENV_OUT_MAX);
	json_array_foreach(o->notes, i, v)
		if (buf_printf(&b, &err, "# %s\n", json_string_value(v)) != 0)
			goto out;
	for (i = 0; i < N_ROUTE_VARS; i++) {
		if (json_object_get(o->set, route_vars[i]) != NULL)
			continue;
		if (buf_append_str(&b, any ? " " : "unset ", &err) != 0 ||
		    buf_append_str(&b, route_vars[i], &err) != 0)
			goto out;
		any = true;
	}
	if (any && buf_putc(&b, '\n', &err) != 0)
		goto out;
	json_object_foreach(o->set, name, v) {
		if (buf_printf(&b, &err, "export %s=", name) != 0)
			goto out;
		if (o->raw_name != NULL && strcmp(name, o->raw_name) == 0 ?
			    buf_append_str(&b, json_string_value(v), &err) != 0 :
			    shell_quote(&b, json_string_value(v), &err) != 0)
			goto out;
		if (buf_putc(&b, '\n', &err) != 0)
			goto out;
	}
	fwrite(b.data, 1, b.len, stdout);
	rc = CLI_OK;
out:
	if (rc != CLI_OK)
		fprintf(stderr, "kluis: out of memory\n");
	buf_clear(&b);
	return rc;
}

/* ---- the credentials ---- */

static char *principal_url(const struct cli *c, const char *id, const char *what)
{
	return client_url(c->cfg.url, NULL, "kluis", "v1", "principals", id, what, NULL);
}

/* POST body to the principal's collection what ("tokens", "secrets", "certificates"): the new
 * credential's JSON in *out. */
static int create_credential(struct cli *c, const char *id, const char *what, json_t *body,
			     json_t **out)
{
	char *url = principal_url(c, id, what);
	int rc;

	if (url == NULL)
		return client_nomem();
	rc = client_call(c, "POST", url, body, true, out);
	free(url);
	return rc;
}

/* A new kluis token of principal id (expiry from --expires): its text in *tok (owned by *j). */
static int new_token(struct cli *c, const struct args *a, const char *id, json_t **j,
		     const char **tok)
{
	const char *e = args_get(a, "expires");
	json_t *body = json_object();
	long long t;
	int rc;

	if (body == NULL)
		return client_nomem();
	if (e != NULL && (cmd_parse_time(e, &t) != 0 ||
			  json_object_set_new(body, "expiresOn", json_integer(t)) != 0)) {
		json_decref(body);
		return CLI_EUSAGE;
	}
	rc = create_credential(c, id, "tokens", body, j);
	json_decref(body);
	if (rc == CLI_OK && (*tok = json_string_value(json_object_get(*j, "token"))) == NULL) {
		fprintf(stderr, "kluis: the server's answer holds no token\n");
		rc = CLI_EFAIL;
	}
	return rc;
}

/* mkdir -p path, each directory made 0700 (the ones that exist are left as they are). */
static int make_dirs(const char *path)
{
	char p[PATH_MAX];
	size_t i;

	snprintf(p, sizeof(p), "%s", path);
	for (i = 1; p[i - 1] != '\0'; i++) {
		if (p[i] != '/' && p[i] != '\0')
			continue;
		p[i] = '\0';
		if (mkdir(p, 0700) != 0 && errno != EEXIST) {
			fprintf(stderr, "kluis: cannot make %.200s: %s\n", p, strerror(errno));
			return CLI_EFAIL;
		}
		p[i] = path[i];
	}
	return CLI_OK;
}

/* The CLI's config directory's subdirectory "identity" (made 0700), for files env writes. */
static int identity_dir(char *out, size_t n)
{
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	char base[PATH_MAX];

	if (xdg != NULL && *xdg == '/')
		snprintf(base, sizeof(base), "%s/kluis", xdg);
	else if (home != NULL && *home != '\0')
		snprintf(base, sizeof(base), "%s/.config/kluis", home);
	else
		return cmd_usage_error("no HOME or XDG_CONFIG_HOME for the files: give --file "
				       "PATH");
	if ((size_t)snprintf(out, n, "%s/identity", base) >= n)
		return cmd_usage_error("the config directory's path is too long: give --file PATH");
	return make_dirs(out);
}

/* Where a file of this principal goes: --file, or DIR/NAME-SUFFIX.EXT. Absolute. */
static int file_for(const struct args *a, const char *name, const char *suffix, const char *ext,
		    char *out, size_t n)
{
	const char *given = args_get(a, "file");
	char dir[PATH_MAX], cwd[PATH_MAX];
	int rc;

	if (given != NULL) {
		if (given[0] == '/')
			return (size_t)snprintf(out, n, "%s", given) < n ? CLI_OK
					: cmd_usage_error("--file is too long");
		if (getcwd(cwd, sizeof(cwd)) == NULL || (size_t)snprintf(out, n, "%s/%s", cwd,
									 given) >= n)
			return cmd_usage_error("--file is too long");
		return CLI_OK;
	}
	if ((rc = identity_dir(dir, sizeof(dir))) != CLI_OK)
		return rc;
	if ((size_t)snprintf(out, n, "%s/%s-%.8s.%s", dir, name, suffix, ext) >= n)
		return cmd_usage_error("the file's path is too long: give --file PATH");
	return CLI_OK;
}

/* A new RSA key and a self-signed certificate for principal name: PEM of both into key_pem (a
 * wiping buffer), PEM of the certificate alone into cert_pem. */
static int make_certificate(const char *name, const char *id, struct buf *key_pem,
			    struct buf *cert_pem)
{
	struct x509_profile prof = { 0 };
	struct keyops_key *k = NULL;
	struct x509_chain chain;
	struct kl_err err = { 0 };
	char subject[160];
	struct buf der;
	time_t now = time(NULL);
	int rc = CLI_EFAIL;

	x509_chain_init(&chain);
	buf_init(&der, X509_CERT_MAX);
	snprintf(subject, sizeof(subject), "CN=%s", name);
	if (x509_subject_check(subject, &err) != 0)	/* a name the DN syntax does not take */
		snprintf(subject, sizeof(subject), "CN=kluis principal %s", id);
	prof.subject = subject;
	prof.key_usage = X509_KU_DIGITAL_SIGNATURE;
	prof.not_before = now - 300;	/* clocks of other nodes may lag a little */
	prof.not_after = now + (int64_t)CERT_DAYS * 86400;
	if ((k = keyops_generate_rsa(2048, 0, &err)) == NULL ||
	    x509_self_sign(k, &prof, &der, &err) != 0 ||
	    x509_chain_add(&chain, der.data, der.len, &err) != 0 ||
	    x509_export_pem(k, &chain, key_pem, &err) != 0 ||
	    x509_export_pem(NULL, &chain, cert_pem, &err) != 0) {
		fprintf(stderr, "kluis: cannot make a certificate: %s\n", err.msg);
		goto out;
	}
	rc = CLI_OK;
out:
	keyops_free(k);
	x509_chain_clear(&chain);
	buf_clear(&der);
	return rc;
}

/* ---- the routes ---- */

struct principal_info {
	const char *id, *name, *subject;	/* in the principal's JSON */
};

static int route_app_service(struct cli *c, const struct args *a, const struct principal_info *p,
			     struct env_out *o, json_t **cred)
{
	const char *tok = NULL;
	char endpoint[1024];
	int rc;

	if ((rc = new_token(c, a, p->id, cred, &tok)) != CLI_OK)
		return rc;
	snprintf(endpoint, sizeof(endpoint), "%s/msi/token", c->cfg.url);
	if ((rc = set_var(o, "IDENTITY_ENDPOINT", endpoint)) == CLI_OK)
		rc = set_var(o, "IDENTITY_HEADER", tok);
	return rc;
}

/* The identity agent's command line for the token in path, its words quoted for the shell. */
static int agent_command(const struct cli *c, const char *path, long port, struct buf *out)
{
	struct kl_err err;
	char spec[PATH_MAX + 8];

	snprintf(spec, sizeof(spec), "token:%s", path);
	if (buf_append_str(out, "kluis identity-agent --url ", &err) != 0 ||
	    shell_quote(out, c->cfg.url, &err) != 0 ||
	    (c->cfg.ca != NULL && (buf_append_str(out, " --ca ", &err) != 0 ||
				   shell_quote(out, c->cfg.ca, &err) != 0)) ||
	    buf_append_str(out, " --identity ", &err) != 0 || shell_quote(out, spec, &err) != 0 ||
	    buf_printf(out, &err, " --listen 127.0.0.1:%ld", port) != 0)
		return client_nomem();
	return CLI_OK;
}

static int route_imds(struct cli *c, const struct args *a, const struct principal_info *p,
		      struct env_out *o, json_t **cred)
{
	const char *port = args_get(a, "agent-port"), *tok = NULL, *tid;
	char path[PATH_MAX], host[64], note[2 * PATH_MAX + 512], *end;
	long pn = port ? strtol(port, &end, 10) : AGENT_DEFAULT_PORT;
	struct buf cmd;
	int rc;

	if (port != NULL && (*end != '\0' || pn < 1 || pn > 65535))
		return cmd_usage_error("--agent-port must be a port number");
	if ((rc = new_token(c, a, p->id, cred, &tok)) != CLI_OK)
		return rc;
	tid = json_string_value(json_object_get(*cred, "id"));
	if ((rc = file_for(a, p->name, tid ? tid : "token", "token", path, sizeof(path))) !=
		    CLI_OK ||
	    (rc = cmd_write_file(path, tok, strlen(tok))) != CLI_OK)
		return rc;
	snprintf(host, sizeof(host), "http://127.0.0.1:%ld", pn);
	buf_init(&cmd, 3 * PATH_MAX + 4096);
	if ((rc = agent_command(c, path, pn, &cmd)) == CLI_OK) {
		snprintf(note, sizeof(note), "the kluis token is in %s (0600); run beside the "
			 "application: %s", path, buf_cstr(&cmd));
		if (json_array_append_new(o->notes, json_string(note)) != 0)
			rc = client_nomem();
	}
	buf_clear(&cmd);
	if (rc != CLI_OK)
		return rc;
	snprintf(note, sizeof(note), "az login --identity reaches the same agent with "
		 "MSI_ENDPOINT=%s/msi/token (not exported: it would change the SDKs' choice)",
		 host);
	if (json_array_append_new(o->notes, json_string(note)) != 0)
		return client_nomem();
	return set_var(o, "AZURE_POD_IDENTITY_AUTHORITY_HOST", host);
}

/* The variables of the adfs authority every Entra-style route sets. */
static int set_authority(const struct cli *c, const struct principal_info *p, struct env_out *o)
{
	int rc;

	if ((rc = set_var(o, "AZURE_TENANT_ID", "adfs")) == CLI_OK &&
	    (rc = set_var(o, "AZURE_CLIENT_ID", p->id)) == CLI_OK)
		rc = set_var(o, "AZURE_AUTHORITY_HOST", c->cfg.url);
	return rc;
}

static int route_secret(struct cli *c, const struct args *a, const struct principal_info *p,
			struct env_out *o, json_t **cred)
{
	json_t *body = json_pack("{s:s}", "description", "kluis identity env");
	const char *secret;
	int rc;

	(void)a;
	if (body == NULL)
		return client_nomem();
	rc = create_credential(c, p->id, "secrets", body, cred);
	json_decref(body);
	if (rc != CLI_OK)
		return rc;
	if ((secret = json_string_value(json_object_get(*cred, "secret"))) == NULL) {
		fprintf(stderr, "kluis: the server's answer holds no secret\n");
		return CLI_EFAIL;
	}
	if ((rc = set_authority(c, p, o)) == CLI_OK)
		rc = set_var(o, "AZURE_CLIENT_SECRET", secret);
	return rc;
}

static int route_certificate(struct cli *c, const struct args *a, const struct principal_info *p,
			     struct env_out *o, json_t **cred)
{
	char path[PATH_MAX], stamp[32];
	struct buf key_pem, cert_pem;
	json_t *body = NULL;
	bool written = false;
	int rc;

	buf_init_secret(&key_pem, X509_UPLOAD_MAX);
	buf_init(&cert_pem, X509_UPLOAD_MAX);
	snprintf(stamp, sizeof(stamp), "%lld", (long long)time(NULL));
	if ((rc = file_for(a, p->name, stamp, "pem", path, sizeof(path))) != CLI_OK ||
	    (rc = make_certificate(p->name, p->id, &key_pem, &cert_pem)) != CLI_OK ||
	    (rc = cmd_write_file(path, key_pem.data, key_pem.len)) != CLI_OK)
		goto out;
	written = true;
	if ((body = json_pack("{s:s, s:s}", "certificate", buf_cstr(&cert_pem), "description",
			      "kluis identity env")) == NULL) {
		rc = client_nomem();
		goto out;
	}
	if ((rc = create_credential(c, p->id, "certificates", body, cred)) != CLI_OK)
		goto out;
	if ((rc = set_authority(c, p, o)) == CLI_OK)
		rc = set_var(o, "AZURE_CLIENT_CERTIFICATE_PATH", path);
out:
	if (rc != CLI_OK && written)
		unlink(path);	/* a key kluisd does not know is of no use */
	json_decref(body);
	buf_clear(&key_pem);
	buf_clear(&cert_pem);
	return rc;
}

static int route_workload(struct cli *c, const struct args *a, const struct principal_info *p,
			  struct env_out *o, json_t **cred)
{
	int rc;

	(void)a, (void)cred;
	if (p->subject == NULL || *p->subject == '\0') {
		fprintf(stderr, "kluis: principal %.64s has no OpenID subject: kluisd trades a "
				"workload's token (from its --oidc-issuer) only for the principal "
				"its sub maps to, set when the principal is created (admin API: "
				"POST /kluis/v1/principals {\"name\":..., \"subject\":...})\n",
			p->name);
		return CLI_EFAIL;
	}
	o->raw_name = "AZURE_FEDERATED_TOKEN_FILE";
	if ((rc = set_authority(c, p, o)) == CLI_OK)
		rc = set_var(o, "AZURE_FEDERATED_TOKEN_FILE",
			     "\"${AZURE_FEDERATED_TOKEN_FILE:-" FEDERATED_DEFAULT "}\"");
	return rc;
}

struct route_def {
	const char *name;
	int (*make)(struct cli *c, const struct args *a, const struct principal_info *p,
		    struct env_out *o, json_t **cred);
	const char *shown_once;	/* what stderr says is shown once, NULL: nothing is */
};

static const struct route_def route_defs[] = {
	{ "app-service", route_app_service, "the kluis token in IDENTITY_HEADER" },
	{ "imds", route_imds, NULL },
	{ "secret", route_secret, "the client secret in AZURE_CLIENT_SECRET" },
	{ "certificate", route_certificate, NULL },
	{ "workload", route_workload, NULL },
};

/* The CA variables: the CA file as an absolute path (the application runs elsewhere). */
static int set_ca(const struct cli *c, struct env_out *o)
{
	char abs[PATH_MAX];
	int rc;

	if (c->cfg.ca == NULL)
		return json_array_append_new(o->notes, json_string("no --ca/KLUIS_CA: the "
					     "application trusts its system's CAs")) == 0
			       ? CLI_OK : client_nomem();
	if (realpath(c->cfg.ca, abs) == NULL) {
		fprintf(stderr, "kluis: the CA file %.200s: %s\n", c->cfg.ca, strerror(errno));
		return CLI_EUSAGE;
	}
	if ((rc = set_var(o, "NODE_EXTRA_CA_CERTS", abs)) == CLI_OK &&
	    (rc = set_var(o, "REQUESTS_CA_BUNDLE", abs)) == CLI_OK)
		rc = set_var(o, "SSL_CERT_FILE", abs);
	return rc;
}

static int identity_env(struct cli *c, const struct args *a)
{
	const char *route = args_get(a, "route");
	const struct route_def *r = NULL;
	struct env_out o = { 0 };
	struct principal_info p;
	json_t *principal = NULL, *cred = NULL;
	char *url = NULL;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(route_defs) / sizeof(route_defs[0]); i++)
		if (strcmp(route ? route : "app-service", route_defs[i].name) == 0)
			r = &route_defs[i];
	if (r == NULL)
		return cmd_usage_error("--route must be app-service, imds, workload, secret or "
				       "certificate");
	if ((rc = client_need_url(c)) != CLI_OK)
		return rc;
	if ((o.set = json_object()) == NULL || (o.notes = json_array()) == NULL ||
	    (url = principal_url(c, a->pos[0], NULL)) == NULL) {
		rc = client_nomem();
		goto out;
	}
	if ((rc = client_call(c, "GET", url, NULL, true, &principal)) != CLI_OK)
		goto out;
	p.id = json_string_value(json_object_get(principal, "id"));
	p.name = json_string_value(json_object_get(principal, "name"));
	p.subject = json_string_value(json_object_get(principal, "subject"));
	if (p.id == NULL || p.name == NULL) {
		fprintf(stderr, "kluis: the server's principal has no id or name\n");
		rc = CLI_EFAIL;
		goto out;
	}
	if ((rc = set_ca(c, &o)) != CLI_OK || (rc = r->make(c, a, &p, &o, &cred)) != CLI_OK)
		goto out;
	if (r->shown_once != NULL)
		fprintf(stderr, "kluis: %s is shown only this once\n", r->shown_once);
	rc = print_env(c, r->name, &o);
out:
	json_decref(cred);	/* the wiping allocator wipes the credential in it */
	json_decref(principal);
	json_decref(o.set);
	json_decref(o.notes);
	free(url);
	return rc;
}

/* ---- signing keys ---- */

static int print_keys(const json_t *v)
{
	static const char *const head[] = { "KID", "CREATED", "RETIRED" };
	char created[32], retired[32];
	struct table *t = table_new(3, head);
	const json_t *k;
	size_t i;

	if (t == NULL)
		return client_nomem();
	json_array_foreach(json_object_get(v, "value"), i, k) {
		const json_t *ret = json_object_get(k, "retired");
		const char *row[] = {
			json_string_value(json_object_get(k, "kid")),
			output_time(k, "created", created, sizeof(created)),
			json_integer_value(ret) > 0 ? output_time(k, "retired", retired,
								  sizeof(retired))
						    : "active",
		};

		if (table_add(t, row) != 0) {
			table_free(t);
			return client_nomem();
		}
	}
	table_print(t, stdout);
	return CLI_OK;
}

static int print_new_key(const json_t *v)
{
	static const char *const fields[] = { "kid", "kid", "created", "@created", NULL };

	return cmd_print_fields(v, fields);
}

static int signing_key(struct cli *c, const struct args *a)
{
	const char *verb = a->pos[0];
	bool rotate = strcmp(verb, "rotate") == 0;
	json_t *out = NULL;
	char *url;
	int rc;

	if (!rotate && strcmp(verb, "list") != 0)
		return cmd_usage_error("signing-key takes list or rotate, not '%.32s'", verb);
	if ((rc = client_need_url(c)) != CLI_OK)
		return rc;
	url = client_url(c->cfg.url, NULL, "kluis", "v1", "identity", "signingKeys",
			 rotate ? "rotate" : NULL, NULL);
	if (url == NULL)
		return client_nomem();
	if ((rc = client_call(c, rotate ? "POST" : "GET", url, NULL, true, &out)) == CLI_OK)
		rc = cmd_print(c, out, rotate ? print_new_key : print_keys);
	json_decref(out);
	free(url);
	return rc;
}

static const struct opt env_opts[] = {
	{ "route", 0, OPT_VALUE, "ROUTE",
	  "app-service (default: IDENTITY_ENDPOINT/IDENTITY_HEADER, no extra process), imds (the "
	  "identity agent), secret, certificate (tenant adfs) or workload (a federated token)" },
	{ "agent-port", 0, OPT_VALUE, "PORT", "imds: the identity agent's port (default 40342)" },
	{ "file", 0, OPT_VALUE, "PATH",
	  "imds, certificate: where to write the token or key (default: under ~/.config/kluis/"
	  "identity)" },
	{ "expires", 0, OPT_VALUE, "TIME",
	  "app-service, imds: the new kluis token's expiry (RFC 3339 or Unix seconds)" },
	{ NULL, 0, 0, NULL, NULL },
};

static const struct cmd identity_cmds[] = {
	{ "env", "identity env PRINCIPAL [--route app-service|imds|workload|secret|certificate] "
	  "[--agent-port N] [--file PATH] [--expires TIME]",
	  "make the credential an unchanged application needs to be PRINCIPAL on that route and "
	  "print the shell lines that configure it: eval \"$(kluis identity env NAME)\"",
	  env_opts, 1, 1, identity_env },
	{ "signing-key", "identity signing-key list|rotate",
	  "list the keys that sign access tokens, or make a new one (the old one verifies its "
	  "tokens until they expire)", NULL, 1, 1, signing_key },
	{ NULL, NULL, NULL, NULL, 0, 0, NULL },
};

const struct cmd_group cmd_identity_group = {
	"identity", "configure applications: access tokens, their routes and signing keys",
	identity_cmds, false,
};
