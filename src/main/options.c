/* options.c: kluisd's flags as one table (name, kind, field, range, reason), the getopt loop that
 * applies it, the --config file's keys (the same table, the same checks), the checks that span
 * several flags, and --help. It must never echo a quiet value (a conninfo may hold a password),
 * never open anything but the --config file, and never exit: main.c does. */
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "main/conffile.h"
#include "main/options.h"
#include "util/err.h"
#include "util/secbuf.h"
#include "vault/fence.h"
#include "vault/identity.h"
#include "vault/vault.h"

#define DEFAULT_DATA_DIR "./data"
#define DEFAULT_LISTEN "127.0.0.1:8443"
#define DEFAULT_DNS_SUFFIX "vault.localhost"
#define DEFAULT_VAULT "default"
#define DEFAULT_RETENTION_DAYS 90
#define MAX_BODY_LIMIT (256ull * 1024 * 1024)
#define DNS_LABEL_MAX 63
#define CONNINFO_MAX 1024

enum kind {
	K_FLAG,		/* no argument: sets a bool; in the file, true or false */
	K_NUMBER,	/* a decimal number in [min, max], into an int, unsigned or size_t */
	K_TEXT,		/* 1 to max bytes, kept as a pointer into argv or the file's text */
	K_CHECKED,	/* its own check, which stores what it accepts */
};

enum width { W_INT, W_UNSIGNED, W_SIZE };

struct flag {
	const char *name;		/* without the dashes */
	enum kind kind;
	size_t off;			/* of its field in struct options */
	enum width width;		/* K_NUMBER */
	unsigned long long min, max;	/* K_NUMBER: the range; K_TEXT: max is the longest */
	const char *why;		/* the usage error's reason; K_CHECKED: unless it has one */
	bool quiet;			/* never echo the value: a conninfo may hold a password */
	bool (*check)(const char *arg, struct options *o, struct kl_err *err);	/* K_CHECKED */
	bool argv_only;			/* --config, --check-config: not a key of the file */
};

/* "kluisd: --flag 'value': why" and a pointer to --help, on stderr. */
static void usage_error(const char *flag, const char *value, const char *why)
{
	fprintf(stderr, "kluisd: %s '%.200s': %s\nTry 'kluisd --help' for more information.\n",
		flag, value, why);
}

/* A boolean flag's value in the file: true/false, yes/no, on/off or 1/0, in any case. */
static bool parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (strcasecmp(s, yes[i]) == 0 || strcasecmp(s, no[i]) == 0) {
			*out = strcasecmp(s, yes[i]) == 0;
			return true;
		}
	return false;
}

/* A decimal number in [min, max]: digits only, no sign, no spaces, no overflow. */
static bool parse_number(const char *s, unsigned long long min, unsigned long long max,
			 unsigned long long *out)
{
	unsigned long long v = 0;
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9' || v > (ULLONG_MAX - 9) / 10)
			return false;
		v = v * 10 + (unsigned long long)(s[i] - '0');
	}
	if (i == 0 || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* --dns-suffix: at least two DNS labels of [a-z0-9-] (lowercased into o), none empty, none
 * starting or ending with '-'. */
static bool check_dns_suffix(const char *s, struct options *o, struct kl_err *err)
{
	char *out = o->dns_suffix;
	size_t i, len = strlen(s), label = 0, labels = 1;

	(void)err;
	if (len == 0 || len > OPTIONS_DNS_NAME_MAX || len >= sizeof(o->dns_suffix))
		return false;
	for (i = 0; i <= len; i++) {
		char c = s[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		out[i] = c;
		if (c == '.' || c == '\0') {
			if (label == 0 || label > DNS_LABEL_MAX || out[i - 1] == '-')
				return false;
			labels += c == '.';
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') {
			if (label == 0 && c == '-')
				return false;
			label++;
		} else {
			return false;
		}
	}
	return labels >= 2;
}

static bool check_log_level(const char *s, struct options *o, struct kl_err *err)
{
	static const struct {
		const char *name;
		enum log_level lv;
	} levels[] = {
		{ "debug", LOG_LV_DEBUG },
		{ "info", LOG_LV_INFO },
		{ "warn", LOG_LV_WARN },
		{ "error", LOG_LV_ERROR },
	};
	size_t i;

	(void)err;
	for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if (strcmp(s, levels[i].name) == 0) {
			o->log_level = levels[i].lv;
			return true;
		}
	return false;
}

static bool check_listen(const char *arg, struct options *o, struct kl_err *err)
{
	return http_addr_parse(arg, &o->listen, err) == 0;
}

static bool check_lb_agent(const char *arg, struct options *o, struct kl_err *err)
{
	o->has_lb_agent = true;
	return http_addr_parse(arg, &o->lb_agent, err) == 0;
}

static bool check_default_vault(const char *arg, struct options *o, struct kl_err *err)
{
	(void)err;
	if (!vault_name_is_valid_vault(arg))
		return false;
	o->default_vault = arg;
	return true;
}

static bool check_throttle(const char *arg, struct options *o, struct kl_err *err)
{
	return throttle_config_parse(arg, &o->throttle, err) == 0;
}

static bool check_region(const char *arg, struct options *o, struct kl_err *err)
{
	(void)err;
	if (!vault_region_name_ok(arg))
		return false;
	o->region = arg;
	return true;
}

#define F(field) offsetof(struct options, field)
#define NUMBER(name, field, width, min, max, why) \
	{ name, K_NUMBER, F(field), width, min, max, why, false, NULL, false }
#define TEXT(name, field, max, why, quiet) \
	{ name, K_TEXT, F(field), W_INT, 1, max, why, quiet, NULL, false }
#define FLAG(name, field) { name, K_FLAG, F(field), W_INT, 0, 0, BOOL_WHY, false, NULL, false }
#define CHECKED(name, fn, why) { name, K_CHECKED, 0, W_INT, 0, 0, why, false, fn, false }
#define BOOL_WHY "must be true or false (or yes/no, on/off, 1/0)"

static const struct flag flags[] = {
	TEXT("data-dir", data_dir, OPTIONS_DATA_DIR_MAX, "must be a path of 1 to 4064 bytes",
	     false),
	CHECKED("listen", check_listen, NULL),
	CHECKED("lb-agent", check_lb_agent, NULL),
	CHECKED("dns-suffix", check_dns_suffix,
		"must be a DNS name of at least two labels of a-z, 0-9 and '-' (e.g. "
		"vault.localhost)"),
	CHECKED("default-vault", check_default_vault,
		"must be 3-24 letters, digits and '-', start with a letter, end with a letter or "
		"digit, and have no '--'"),
	NUMBER("threads", threads, W_UNSIGNED, 1, OPTIONS_MAX_THREADS,
	       "must be a number from 1 to 256"),
	NUMBER("retention-days", retention_days, W_INT, 7, 90, "must be a number from 7 to 90"),
	NUMBER("max-body", max_body, W_SIZE, 1, MAX_BODY_LIMIT,
	       "must be a number of bytes from 1 to 268435456"),
	CHECKED("throttle", check_throttle, NULL),
	NUMBER("max-connections", max_conns, W_UNSIGNED, 1, 1000000,
	       "must be a number from 1 to 1000000"),
	NUMBER("max-connections-per-ip", max_conns_per_ip, W_UNSIGNED, 0, 1000000,
	       "must be a number from 0 (no limit) to 1000000"),
	NUMBER("idle-timeout", idle_timeout_s, W_UNSIGNED, 1, 86400,
	       "must be a number of seconds from 1 to 86400"),
	NUMBER("jobs-interval", jobs_interval_s, W_INT, 1, 3600,
	       "must be a number of seconds from 1 to 3600"),
	NUMBER("request-timeout", request_timeout_s, W_UNSIGNED, 1, 3600,
	       "must be a number of seconds from 1 to 3600"),
	CHECKED("log-level", check_log_level, "must be debug, info, warn or error"),
	TEXT("oidc-issuer", oidc_issuer, CONNINFO_MAX, "must be 1 to 1024 bytes", false),
	TEXT("oidc-audience", oidc_audience, CONNINFO_MAX, "must be 1 to 1024 bytes", false),
	TEXT("oidc-jwks", oidc_jwks, CONNINFO_MAX, "must be 1 to 1024 bytes", false),
	TEXT("postgres", postgres, ULLONG_MAX,
	     "must be a libpq connection string or URI (e.g. 'host=db dbname=kluis')", true),
	TEXT("postgres-monitor", pg_monitor, CONNINFO_MAX, "must be 1-1024 characters", true),
	TEXT("postgres-formation", pg_formation, CONNINFO_MAX, "must be 1-1024 characters", false),
	TEXT("peer-postgres", peer_postgres, CONNINFO_MAX, "must be 1-1024 characters", true),
	FLAG("read-only", read_only),
	CHECKED("region", check_region, "must be 1 to 32 of a-z, 0-9 and '-' (e.g. westeurope)"),
	TEXT("audit-log", audit_log, OPTIONS_DATA_DIR_MAX,
	     "must be a path of 1 to 4064 bytes, or - for stderr", false),
	TEXT("tls-cert", tls_cert, PATH_MAX - 1, "must be a path of 1 to 4095 bytes", false),
	TEXT("tls-key", tls_key, PATH_MAX - 1, "must be a path of 1 to 4095 bytes", false),
	TEXT("client-ca", client_ca, PATH_MAX - 1, "must be a path of 1 to 4095 bytes", false),
	FLAG("allow-core-dumps", allow_core_dumps),
	FLAG("rotate-master-key", rotate_master_key),
	NUMBER("certificate-issue-delay", cert_issue_delay_s, W_INT, 0, 3600,
	       "must be a number of seconds from 0 to 3600"),
	NUMBER("access-token-lifetime", access_token_lifetime_s, W_INT, IDENTITY_LIFETIME_MIN_S,
	       IDENTITY_LIFETIME_MAX_S, "must be a number of seconds from 300 to 86400"),
	/* only in argv: where the file is, and whether to check it and stop */
	{ "config", K_TEXT, F(config), W_INT, 1, PATH_MAX - 1, "must be a path of 1 to 4095 bytes",
	  false, NULL, true },
	{ "check-config", K_FLAG, F(check_config), W_INT, 0, 0, BOOL_WHY, false, NULL, true },
};

#define N_FLAGS (sizeof(flags) / sizeof(flags[0]))
#define OPT_FIRST 256	/* getopt_long's value for flags[0] */

/* Applies flag f with argument arg to *o: the one check of a value, from argv or the file. arg
 * is NULL for a K_FLAG in argv (it sets the flag), a boolean word in the file. Returns NULL, or
 * why arg is refused; a quiet flag's reason is its own, never a check's that might quote arg. */
static const char *apply(const struct flag *f, const char *arg, struct options *o,
			 struct kl_err *err)
{
	char *field = (char *)o + f->off;
	unsigned long long v;

	err->msg[0] = '\0';
	switch (f->kind) {
	case K_FLAG:
		if (arg == NULL)
			*(bool *)field = true;
		else if (!parse_bool(arg, (bool *)field))
			break;
		return NULL;
	case K_NUMBER:
		if (!parse_number(arg, f->min, f->max, &v))
			break;
		if (f->width == W_INT)
			*(int *)field = (int)v;
		else if (f->width == W_UNSIGNED)
			*(unsigned *)field = (unsigned)v;
		else
			*(size_t *)field = (size_t)v;
		return NULL;
	case K_TEXT:
		if (arg[0] == '\0' || strlen(arg) > f->max)
			break;
		*(const char **)field = arg;
		return NULL;
	case K_CHECKED:
		if (f->check(arg, o, err))
			return NULL;
		break;
	}
	return f->quiet || err->msg[0] == '\0' ? f->why : err->msg;
}

/* Applies a flag of argv; false after saying why on stderr. */
static bool apply_arg(const struct flag *f, const char *arg, struct options *o)
{
	struct kl_err err = { 0 };
	const char *why = apply(f, arg, o, &err);
	char name[48];

	if (why == NULL)
		return true;
	snprintf(name, sizeof(name), "--%s", f->name);
	usage_error(name, f->quiet ? "" : arg, why);
	return false;
}

static const struct flag *flag_by_name(const char *name)
{
	size_t i;

	for (i = 0; i < N_FLAGS; i++)
		if (strcmp(flags[i].name, name) == 0)
			return &flags[i];
	return NULL;
}

/* "kluisd: FILE:LINE: why" on stderr: the shape compilers use, which editors jump to. */
static void file_error(const char *path, size_t line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void file_error(const char *path, size_t line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "kluisd: %s:%zu: ", path, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Applies the --config file at path to *o, line by line, through apply(); false after saying
 * on stderr what is wrong with it (its first error). On success o->config_text keeps the text
 * the values point into. */
static bool apply_file(const char *path, struct options *o)
{
	struct conffile cf = { 0 };
	struct kl_err err = { 0 };
	size_t seen[N_FLAGS] = { 0 };	/* the line that set each flag; 0: none yet */
	const char *key, *value, *why;
	const struct flag *f;
	bool ok = false;
	int got;

	if (conffile_read(path, &cf, &err) != 0) {
		fprintf(stderr, "kluisd: %s: %s\n", path, err.msg);
		goto out;
	}
	while ((got = conffile_next(&cf, &key, &value, &err)) == 1) {
		if ((f = flag_by_name(key)) == NULL) {
			file_error(path, cf.line, "unknown key '%.64s': the keys are kluisd's "
				   "flags without their leading dashes (kluisd --help)", key);
			goto out;
		}
		if (f->argv_only) {
			file_error(path, cf.line, "%s cannot be set in a configuration file, only "
				   "on the command line", f->name);
			goto out;
		}
		if (seen[f - flags] != 0) {
			file_error(path, cf.line, "%s is set twice (first on line %zu)", f->name,
				   seen[f - flags]);
			goto out;
		}
		seen[f - flags] = cf.line;
		if ((why = apply(f, value, o, &err)) == NULL)
			continue;
		if (f->quiet)
			file_error(path, cf.line, "%s (value not shown): %s", f->name, why);
		else
			file_error(path, cf.line, "%s '%.200s': %s", f->name, value, why);
		goto out;
	}
	if (got < 0) {
		file_error(path, cf.line, "%s", err.msg);
		goto out;
	}
	o->config_text = cf.text;	/* the values point into it: o owns it now */
	cf.text = NULL;
	ok = true;
out:
	conffile_clear(&cf);
	return ok;
}

/* The checks that span several flags. */
static bool consistent(const struct options *o)
{
	if ((o->oidc_issuer != NULL) != (o->oidc_audience != NULL) ||
	    (o->oidc_issuer != NULL) != (o->oidc_jwks != NULL)) {
		usage_error("--oidc-issuer", o->oidc_issuer ? o->oidc_issuer : "",
			    "--oidc-issuer, --oidc-audience and --oidc-jwks go together");
		return false;
	}
	if (o->postgres == NULL && (o->pg_monitor != NULL || o->pg_formation != NULL ||
				    o->peer_postgres != NULL)) {
		/* conninfo values are not echoed: they may hold a password */
		if (o->pg_monitor != NULL || o->peer_postgres != NULL)
			usage_error(o->pg_monitor ? "--postgres-monitor" : "--peer-postgres", "",
				    "needs --postgres");
		else
			usage_error("--postgres-formation", o->pg_formation, "needs --postgres");
		return false;
	}
	if ((o->tls_cert != NULL) != (o->tls_key != NULL)) {
		usage_error(o->tls_cert ? "--tls-cert" : "--tls-key",
			    o->tls_cert ? o->tls_cert : o->tls_key,
			    "--tls-cert and --tls-key go together");
		return false;
	}
	return true;
}

static void print_help(void)
{
	printf("Usage: kluisd [OPTION]...\n"
	       "A key vault server speaking the Azure Key Vault REST API over HTTPS. Runs in\n"
	       "the foreground and logs to stderr; SIGTERM or SIGINT finishes the requests in\n"
	       "flight, closes the store and exits 0; SIGHUP reopens the audit log and\n"
	       "reloads the TLS certificate and key.\n"
	       "\n"
	       "  --config FILE          read flags from FILE before those given here, which\n"
	       "                         override it: one 'name = value' a line, the flag's\n"
	       "                         name without dashes ('listen = 127.0.0.1:8443',\n"
	       "                         'read-only = true'); a line starting with '#' is a\n"
	       "                         comment (docs/configuration.md)\n"
	       "  --check-config         with --config: check FILE and the other flags, print\n"
	       "                         'FILE: ok' and exit 0, or the first error and exit 2,\n"
	       "                         opening nothing else\n"
	       "  --data-dir DIR         where the store, master key, admin token and TLS\n"
	       "                         files live; created (mode 0700) and initialised on\n"
	       "                         first start (default %s)\n"
	       "  --postgres CONNINFO    keep the store in PostgreSQL instead of LMDB in\n"
	       "                         DIR/store: a libpq connection string or URI, e.g.\n"
	       "                         'host=db1,db2 dbname=kluis\n"
	       "                         target_session_attrs=read-write'; the table\n"
	       "                         kluis_kv is created when missing. Keep a password\n"
	       "                         in ~/.pgpass or the --config file, not in argv,\n"
	       "                         which others can read\n"
	       "  --postgres-monitor CONNINFO\n"
	       "                         pg_auto_failover's monitor (e.g. 'postgres://\n"
	       "                         autoctl_node@mon/pg_auto_failover'): a new connection\n"
	       "                         to a server the monitor is failing over from is not\n"
	       "                         used (docs/availability.md)\n"
	       "  --postgres-formation NAME\n"
	       "                         the monitor's formation of --postgres (default\n"
	       "                         'default')\n"
	       "  --peer-postgres CONNINFO\n"
	       "                         the other region's database: this node keeps checking\n"
	       "                         it, and refuses every write once that region has been\n"
	       "                         promoted over this one (docs/deploy.md, Promotion)\n"
	       "  --region NAME          the region this node serves, reported on /health\n"
	       "                         (1-32 of a-z, 0-9 and '-'; default local)\n"
	       "  --read-only            refuse every change (503) whatever the storage is; a\n"
	       "                         node on a standby database is read-only anyway\n"
	       "  --listen HOST:PORT     address to serve HTTPS on: an IPv4 address, an IPv6\n"
	       "                         address in brackets ([::1]:8443) or localhost\n"
	       "                         (default %s)\n"
	       "  --lb-agent HOST:PORT   also answer HAProxy's agent check there, in plain TCP:\n"
	       "                         'ready 100%%' while this node takes writes, 'drain'\n"
	       "                         while it does not (docs/deploy.md; default: none)\n"
	       "  --dns-suffix SUFFIX    vaults are addressed as NAME.SUFFIX in the Host header;\n"
	       "                         the server certificate covers *.SUFFIX\n"
	       "                         (default %s)\n"
	       "  --default-vault NAME   the vault created on first start and served for hosts\n"
	       "                         outside SUFFIX (localhost, IP addresses); 3-24\n"
	       "                         letters, digits and '-', starting with a letter\n"
	       "                         (default %s)\n"
	       "  --threads N            worker threads, 1-%d (default: four per online CPU)\n"
	       "  --retention-days N     days a deleted object is kept before it is purged, 7-90\n"
	       "                         (default %d)\n"
	       "  --jobs-interval SECONDS\n"
	       "                         how often the background jobs run (purges, key\n"
	       "                         rotation, certificate lifetime actions, sweeps), 1-3600\n"
	       "                         (default 60)\n"
	       "  --certificate-issue-delay SECONDS\n"
	       "                         how long a self-signed certificate's operation stays\n"
	       "                         inProgress after create, 0-3600 (default 2)\n"
	       "  --max-body BYTES       largest request body accepted, 1-%llu; a larger\n"
	       "                         one gets 413 (default %d)\n"
	       "  --throttle SPEC        request budgets per vault and per caller, in the shape\n"
	       "                         of Azure Key Vault's service limits: 'off', or a list\n"
	       "                         like 'scale=1,window=10,secrets=100,principal.keys=50'\n"
	       "                         (scale: times Azure's limits; docs/configuration.md;\n"
	       "                         default scale=1000,window=10); identity=N: requests\n"
	       "                         to the token endpoints per client address (200)\n"
	       "  --max-connections N    concurrent connections, 1-1000000 (default 1024);\n"
	       "                         past it the connection idle the longest is closed\n"
	       "                         to make room, or the new one when none is idle\n"
	       "  --max-connections-per-ip N\n"
	       "                         concurrent connections from one address, 0-1000000,\n"
	       "                         made room for the same way; 0: no limit (default 0:\n"
	       "                         behind a proxy every client has the proxy's address)\n"
	       "  --idle-timeout S       close a kept-alive connection that has not sent its\n"
	       "                         next request line for S seconds, 1-86400 (default\n"
	       "                         600: clients pool idle connections for minutes); a\n"
	       "                         new connection gets the shorter of S and the request\n"
	       "                         timeout for its first request line\n"
	       "  --request-timeout S    close a connection whose request (headers and body)\n"
	       "                         is not in S seconds after its first line, or whose\n"
	       "                         answer stalls for S seconds, 1-3600 (default 30)\n"
	       "  --log-level LEVEL      debug, info, warn or error (default info)\n"
	       "  --audit-log PATH       append one JSON line per request to PATH ('-':\n"
	       "                         stderr), created 0600; SIGHUP reopens it after a\n"
	       "                         rotation (default: no audit log)\n"
	       "  --tls-cert FILE        serve this certificate chain (PEM, leaf first) instead\n"
	       "  --tls-key FILE         of the one issued from DIR/tls/ca.pem; the key is PEM,\n"
	       "                         unencrypted, mode 0600 or stricter (both together).\n"
	       "                         SIGHUP reads them again; a bad new pair is refused\n"
	       "                         and the old one kept\n"
	       "  --client-ca FILE       ask every TLS client for a certificate (optional) and\n"
	       "                         verify those sent against these CA certificates (PEM);\n"
	       "                         a principal bound to a certificate needs it\n"
	       "  --allow-core-dumps     let the process dump core and be traced by its user;\n"
	       "                         by default it is not dumpable (its memory holds\n"
	       "                         secret values and keys)\n"
	       "  --rotate-master-key    wrap the data key under a new DIR/master.key and\n"
	       "                         exit, serving nothing (a running node does it with\n"
	       "                         POST /kluis/v1/masterKey/rotate; docs/operations.md)\n"
	       "  --oidc-issuer URL      also accept OpenID tokens (JWTs, RS256 or ES256) whose\n"
	       "  --oidc-audience AUD    iss and aud are these, signed by a key of the JWKS\n"
	       "  --oidc-jwks FILE       file, for the principal their sub is mapped to (all\n"
	       "                         three together; see docs/admin-api.md)\n"
	       "  --access-token-lifetime S\n"
	       "                         seconds the access tokens of the token service\n"
	       "                         live, %d-%d (default %d; docs/identity.md)\n"
	       "  -h, --help             show this help and exit\n"
	       "\n"
	       "Clients trust DIR/tls/ca.pem and authenticate with the bearer token in\n"
	       "DIR/admin-token.\n"
	       "Exit status: 0 stopped by a signal, 1 start-up failed, 2 bad usage or a bad\n"
	       "configuration file.\n",
	       DEFAULT_DATA_DIR, DEFAULT_LISTEN, DEFAULT_DNS_SUFFIX, DEFAULT_VAULT,
	       OPTIONS_MAX_THREADS, DEFAULT_RETENTION_DAYS, MAX_BODY_LIMIT, API_DEFAULT_MAX_BODY,
	       IDENTITY_LIFETIME_MIN_S, IDENTITY_LIFETIME_MAX_S, IDENTITY_LIFETIME_DEFAULT_S);
}

/* The defaults, before the file and argv; false if they fail their own checks. */
static bool set_defaults(struct options *o)
{
	struct kl_err err = { 0 };

	memset(o, 0, sizeof(*o));
	o->data_dir = DEFAULT_DATA_DIR;
	o->default_vault = DEFAULT_VAULT;
	o->retention_days = DEFAULT_RETENTION_DAYS;
	o->cert_issue_delay_s = 2;
	o->log_level = LOG_LV_INFO;
	throttle_config_default(&o->throttle);
	snprintf(o->dns_suffix, sizeof(o->dns_suffix), "%s", DEFAULT_DNS_SUFFIX);
	return http_addr_parse(DEFAULT_LISTEN, &o->listen, &err) == 0;
}

/* A flag of argv, kept until the file has been applied. */
struct given {
	const struct flag *f;
	const char *arg;
};

/* Applies the flags of argv that are (argv_only) or are not file keys, in their order. */
static bool apply_given(const struct given *given, size_t n, bool argv_only, struct options *o)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (given[i].f->argv_only == argv_only && !apply_arg(given[i].f, given[i].arg, o))
			return false;
	return true;
}

int options_parse(int argc, char **argv, struct options *o)
{
	struct option longs[N_FLAGS + 2];
	struct given *given = NULL;
	size_t i, n = 0;
	int c, rc = -1;

	if (!set_defaults(o))
		goto out;	/* cannot happen: the defaults are valid */
	for (i = 0; i < N_FLAGS; i++)
		longs[i] = (struct option){ flags[i].name, flags[i].kind == K_FLAG ? no_argument
				: required_argument, NULL, OPT_FIRST + (int)i };
	longs[N_FLAGS] = (struct option){ "help", no_argument, NULL, 'h' };
	longs[N_FLAGS + 1] = (struct option){ NULL, 0, NULL, 0 };
	/* each flag takes at least one of argv's argc - 1 arguments */
	if ((given = calloc((size_t)argc, sizeof(*given))) == NULL) {
		fprintf(stderr, "kluisd: out of memory\n");
		goto out;
	}
	while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
		if (c == 'h') {
			print_help();
			rc = 1;
			goto out;
		}
		if (c < OPT_FIRST || c >= OPT_FIRST + (int)N_FLAGS) {
			/* getopt_long has said what is wrong */
			fprintf(stderr, "Try 'kluisd --help' for more information.\n");
			goto out;
		}
		given[n++] = (struct given){ &flags[c - OPT_FIRST], optarg };
	}
	if (optind < argc) {
		usage_error("unexpected argument", argv[optind], "kluisd takes only options");
		goto out;
	}
	/* The file first, whole, then every other flag of argv over it, wherever --config was. */
	if (!apply_given(given, n, true, o))
		goto out;
	if (o->check_config && o->config == NULL) {
		fprintf(stderr, "kluisd: --check-config needs --config FILE\n"
			"Try 'kluisd --help' for more information.\n");
		goto out;
	}
	if ((o->config != NULL && !apply_file(o->config, o)) || !apply_given(given, n, false, o) ||
	    !consistent(o))
		goto out;
	if (o->check_config) {
		printf("%s: ok\n", o->config);
		rc = 1;
		goto out;
	}
	rc = 0;
out:
	free(given);
	if (rc != 0)
		options_clear(o);	/* nothing for the caller to free */
	return rc;
}

void options_clear(struct options *o)
{
	secbuf_free(o->config_text);
	memset(o, 0, sizeof(*o));
}
