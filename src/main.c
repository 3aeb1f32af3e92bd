/* kluisd: flags, configuration, signals, start and stop. Owns the process: its exit status, its
 * signal mask, and the order in which the layers are opened (store, core, api, http) and closed
 * (the reverse). Must never serve a request or touch stored data itself, never write a PID file
 * or log anywhere but stderr and the --audit-log file, and never overwrite anything in the data
 * directory (the layers it opens refuse what they cannot trust). SIGHUP reopens the audit log
 * (log rotation) and reloads the TLS certificate and key. Exit: 0 after SIGTERM/SIGINT (or a
 * --rotate-master-key done), 1 when start-up fails, 2 for a usage error. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "api/throttle.h"
#include "crypto/jwt.h"
#include "crypto/tlsgen.h"
#include "http/addr.h"
#include "http/server.h"
#include "store/store.h"
#include "store/store_lmdb.h"
#include "store/store_pg.h"
#include "util/err.h"
#include "util/json.h"
#include "util/log.h"
#include "util/logfile.h"
#include "vault/core.h"
#include "vault/fence.h"
#include "vault/identity.h"
#include "vault/masterkey.h"
#include "vault/vault.h"

#define EXIT_USAGE 2
#define DEFAULT_DATA_DIR "./data"
#define DEFAULT_LISTEN "127.0.0.1:8443"
#define DEFAULT_DNS_SUFFIX "vault.localhost"
#define DEFAULT_VAULT "default"
#define DEFAULT_RETENTION_DAYS 90
#define MAX_THREADS 256
#define MAX_BODY_LIMIT (256ull * 1024 * 1024)
#define DNS_NAME_MAX 253
#define DNS_LABEL_MAX 63
/* The longest name under the data directory that kluisd builds. */
#define DATA_DIR_MAX (PATH_MAX - 32)

struct options {
	const char *data_dir;
	const char *postgres;			/* NULL: LMDB in DIR/store */
	const char *pg_monitor;			/* pg_auto_failover's monitor; NULL: none */
	const char *pg_formation;		/* NULL: "default" */
	const char *peer_postgres;		/* the other region's database; NULL: none */
	bool read_only;
	const char *region;			/* reported on /health; NULL: "local" */
	struct http_addr listen;
	char dns_suffix[DNS_NAME_MAX + 1];	/* lowercased */
	const char *default_vault;
	unsigned threads;			/* 0 until parsed: then four per online CPU */
	int retention_days;
	int jobs_interval_s;			/* --jobs-interval; 0: the core's default */
	int cert_issue_delay_s;			/* --certificate-issue-delay */
	size_t max_body;			/* 0: the API's default */
	struct throttle_config throttle;	/* --throttle */
	unsigned max_conns, max_conns_per_ip;	/* 0: http/'s default, no per-address limit */
	unsigned idle_timeout_s, request_timeout_s;	/* 0: http/'s defaults */
	enum log_level log_level;
	const char *oidc_issuer, *oidc_audience, *oidc_jwks;	/* all three, or none */
	const char *audit_log;			/* path, "-" for stderr; NULL: none */
	const char *tls_cert, *tls_key;		/* both or neither; NULL: DIR/tls, self-issued */
	const char *client_ca;			/* NULL: no client certificates asked for */
	bool allow_core_dumps;			/* else not dumpable (PR_SET_DUMPABLE 0) */
	bool rotate_master_key;			/* rotate it and exit, serving nothing */
	int access_token_lifetime_s;		/* --access-token-lifetime; 0: the default */
};

enum {
	OPT_DATA_DIR = 256,
	OPT_LISTEN,
	OPT_DNS_SUFFIX,
	OPT_DEFAULT_VAULT,
	OPT_THREADS,
	OPT_RETENTION_DAYS,
	OPT_MAX_BODY,
	OPT_THROTTLE,
	OPT_MAX_CONNS,
	OPT_MAX_CONNS_PER_IP,
	OPT_IDLE_TIMEOUT,
	OPT_REQUEST_TIMEOUT,
	OPT_JOBS_INTERVAL,
	OPT_LOG_LEVEL,
	OPT_OIDC_ISSUER,
	OPT_OIDC_AUDIENCE,
	OPT_OIDC_JWKS,
	OPT_POSTGRES,
	OPT_POSTGRES_MONITOR,
	OPT_POSTGRES_FORMATION,
	OPT_PEER_POSTGRES,
	OPT_READ_ONLY,
	OPT_REGION,
	OPT_AUDIT_LOG,
	OPT_TLS_CERT,
	OPT_TLS_KEY,
	OPT_CLIENT_CA,
	OPT_ALLOW_CORE_DUMPS,
	OPT_ROTATE_MASTER_KEY,
	OPT_CERT_ISSUE_DELAY,
	OPT_ACCESS_TOKEN_LIFETIME,
};

static const struct option long_options[] = {
	{ "data-dir", required_argument, NULL, OPT_DATA_DIR },
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "dns-suffix", required_argument, NULL, OPT_DNS_SUFFIX },
	{ "default-vault", required_argument, NULL, OPT_DEFAULT_VAULT },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "retention-days", required_argument, NULL, OPT_RETENTION_DAYS },
	{ "max-body", required_argument, NULL, OPT_MAX_BODY },
	{ "throttle", required_argument, NULL, OPT_THROTTLE },
	{ "max-connections", required_argument, NULL, OPT_MAX_CONNS },
	{ "max-connections-per-ip", required_argument, NULL, OPT_MAX_CONNS_PER_IP },
	{ "idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT },
	{ "jobs-interval", required_argument, NULL, OPT_JOBS_INTERVAL },
	{ "request-timeout", required_argument, NULL, OPT_REQUEST_TIMEOUT },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "oidc-issuer", required_argument, NULL, OPT_OIDC_ISSUER },
	{ "oidc-audience", required_argument, NULL, OPT_OIDC_AUDIENCE },
	{ "oidc-jwks", required_argument, NULL, OPT_OIDC_JWKS },
	{ "postgres", required_argument, NULL, OPT_POSTGRES },
	{ "postgres-monitor", required_argument, NULL, OPT_POSTGRES_MONITOR },
	{ "postgres-formation", required_argument, NULL, OPT_POSTGRES_FORMATION },
	{ "peer-postgres", required_argument, NULL, OPT_PEER_POSTGRES },
	{ "read-only", no_argument, NULL, OPT_READ_ONLY },
	{ "region", required_argument, NULL, OPT_REGION },
	{ "audit-log", required_argument, NULL, OPT_AUDIT_LOG },
	{ "tls-cert", required_argument, NULL, OPT_TLS_CERT },
	{ "tls-key", required_argument, NULL, OPT_TLS_KEY },
	{ "client-ca", required_argument, NULL, OPT_CLIENT_CA },
	{ "allow-core-dumps", no_argument, NULL, OPT_ALLOW_CORE_DUMPS },
	{ "rotate-master-key", no_argument, NULL, OPT_ROTATE_MASTER_KEY },
	{ "certificate-issue-delay", required_argument, NULL, OPT_CERT_ISSUE_DELAY },
	{ "access-token-lifetime", required_argument, NULL, OPT_ACCESS_TOKEN_LIFETIME },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void print_help(void)
{
	printf("Usage: kluisd [OPTION]...\n"
	       "A key vault server speaking the Azure Key Vault REST API over HTTPS. Runs in\n"
	       "the foreground and logs to stderr; SIGTERM or SIGINT finishes the requests in\n"
	       "flight, closes the store and exits 0; SIGHUP reopens the audit log and\n"
	       "reloads the TLS certificate and key.\n"
	       "\n"
	       "  --data-dir DIR         where the store, master key, admin token and TLS\n"
	       "                         files live; created (mode 0700) and initialised on\n"
	       "                         first start (default %s)\n"
	       "  --postgres CONNINFO    keep the store in PostgreSQL instead of LMDB in\n"
	       "                         DIR/store: a libpq connection string or URI, e.g.\n"
	       "                         'host=db1,db2 dbname=kluis\n"
	       "                         target_session_attrs=read-write'; the table\n"
	       "                         kluis_kv is created when missing. Keep a password\n"
	       "                         in ~/.pgpass, not here: others can read argv\n"
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
	       "                         (scale: times Azure's limits; see README, Throttling;\n"
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
	       "Exit status: 0 stopped by a signal, 1 start-up failed, 2 bad usage.\n",
	       DEFAULT_DATA_DIR, DEFAULT_LISTEN, DEFAULT_DNS_SUFFIX, DEFAULT_VAULT, MAX_THREADS,
	       DEFAULT_RETENTION_DAYS, MAX_BODY_LIMIT, API_DEFAULT_MAX_BODY, IDENTITY_LIFETIME_MIN_S,
	       IDENTITY_LIFETIME_MAX_S, IDENTITY_LIFETIME_DEFAULT_S);
}

/* "kluisd: --flag 'value': why" and a pointer to --help, on stderr. */
static void usage_error(const char *flag, const char *value, const char *why)
{
	fprintf(stderr, "kluisd: %s '%.200s': %s\nTry 'kluisd --help' for more information.\n",
		flag, value, why);
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

/* SUFFIX: at least two DNS labels of [a-z0-9-] (lowercased here), none empty, none starting or
 * ending with '-'. */
static bool parse_dns_suffix(const char *s, char *out, size_t n)
{
	size_t i, len = strlen(s), label = 0, labels = 1;

	if (len == 0 || len > DNS_NAME_MAX || len >= n)
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

static bool parse_log_level(const char *s, enum log_level *out)
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

	for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if (strcmp(s, levels[i].name) == 0) {
			*out = levels[i].lv;
			return true;
		}
	return false;
}

/* Fills *o from argv. Returns 0 to run, 1 when --help was answered, -1 after a usage error
 * (reported on stderr). */
static int parse_options(int argc, char **argv, struct options *o)
{
	struct kl_err err = { 0 };
	unsigned long long v;
	int c, rc = -1;

	memset(o, 0, sizeof(*o));
	o->data_dir = DEFAULT_DATA_DIR;
	o->default_vault = DEFAULT_VAULT;
	o->retention_days = DEFAULT_RETENTION_DAYS;
	o->cert_issue_delay_s = 2;
	o->log_level = LOG_LV_INFO;
	throttle_config_default(&o->throttle);
	snprintf(o->dns_suffix, sizeof(o->dns_suffix), "%s", DEFAULT_DNS_SUFFIX);
	if (http_addr_parse(DEFAULT_LISTEN, &o->listen, &err) != 0)
		goto out;	/* cannot happen: the default is valid */

	while ((c = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
		switch (c) {
		case 'h':
			print_help();
			rc = 1;
			goto out;
		case OPT_DATA_DIR:
			if (optarg[0] == '\0' || strlen(optarg) > DATA_DIR_MAX) {
				usage_error("--data-dir", optarg,
					    "must be a path of 1 to 4064 bytes");
				goto out;
			}
			o->data_dir = optarg;
			break;
		case OPT_LISTEN:
			if (http_addr_parse(optarg, &o->listen, &err) != 0) {
				usage_error("--listen", optarg, err.msg);
				goto out;
			}
			break;
		case OPT_DNS_SUFFIX:
			if (!parse_dns_suffix(optarg, o->dns_suffix, sizeof(o->dns_suffix))) {
				usage_error("--dns-suffix", optarg,
					    "must be a DNS name of at least two labels of a-z, 0-9 "
					    "and '-' (e.g. vault.localhost)");
				goto out;
			}
			break;
		case OPT_DEFAULT_VAULT:
			if (!vault_name_is_valid_vault(optarg)) {
				usage_error("--default-vault", optarg,
					    "must be 3-24 letters, digits and '-', start with a "
					    "letter, end with a letter or digit, and have no '--'");
				goto out;
			}
			o->default_vault = optarg;
			break;
		case OPT_THREADS:
			if (!parse_number(optarg, 1, MAX_THREADS, &v)) {
				usage_error("--threads", optarg, "must be a number from 1 to 256");
				goto out;
			}
			o->threads = (unsigned)v;
			break;
		case OPT_RETENTION_DAYS:
			if (!parse_number(optarg, 7, 90, &v)) {
				usage_error("--retention-days", optarg,
					    "must be a number from 7 to 90");
				goto out;
			}
			o->retention_days = (int)v;
			break;
		case OPT_JOBS_INTERVAL:
			if (!parse_number(optarg, 1, 3600, &v)) {
				usage_error("--jobs-interval", optarg,
					    "must be a number of seconds from 1 to 3600");
				goto out;
			}
			o->jobs_interval_s = (int)v;
			break;
		case OPT_CERT_ISSUE_DELAY:
			if (!parse_number(optarg, 0, 3600, &v)) {
				usage_error("--certificate-issue-delay", optarg,
					    "must be a number of seconds from 0 to 3600");
				goto out;
			}
			o->cert_issue_delay_s = (int)v;
			break;
		case OPT_ACCESS_TOKEN_LIFETIME:
			if (!parse_number(optarg, IDENTITY_LIFETIME_MIN_S, IDENTITY_LIFETIME_MAX_S, &v)) {
				usage_error("--access-token-lifetime", optarg,
					    "must be a number of seconds from 300 to 86400");
				goto out;
			}
			o->access_token_lifetime_s = (int)v;
			break;
		case OPT_MAX_BODY:
			if (!parse_number(optarg, 1, MAX_BODY_LIMIT, &v)) {
				usage_error("--max-body", optarg,
					    "must be a number of bytes from 1 to 268435456");
				goto out;
			}
			o->max_body = (size_t)v;
			break;
		case OPT_THROTTLE:
			if (throttle_config_parse(optarg, &o->throttle, &err) != 0) {
				usage_error("--throttle", optarg, err.msg);
				goto out;
			}
			break;
		case OPT_MAX_CONNS:
		case OPT_MAX_CONNS_PER_IP:
			if (!parse_number(optarg, c == OPT_MAX_CONNS, 1000000, &v)) {
				usage_error(c == OPT_MAX_CONNS ? "--max-connections"
					    : "--max-connections-per-ip", optarg, c == OPT_MAX_CONNS
					    ? "must be a number from 1 to 1000000"
					    : "must be a number from 0 (no limit) to 1000000");
				goto out;
			}
			*(c == OPT_MAX_CONNS ? &o->max_conns : &o->max_conns_per_ip) = (unsigned)v;
			break;
		case OPT_IDLE_TIMEOUT:
		case OPT_REQUEST_TIMEOUT:
			if (!parse_number(optarg, 1, c == OPT_IDLE_TIMEOUT ? 86400 : 3600, &v)) {
				usage_error(c == OPT_IDLE_TIMEOUT ? "--idle-timeout"
					    : "--request-timeout", optarg, c == OPT_IDLE_TIMEOUT
					    ? "must be a number of seconds from 1 to 86400"
					    : "must be a number of seconds from 1 to 3600");
				goto out;
			}
			*(c == OPT_IDLE_TIMEOUT ? &o->idle_timeout_s : &o->request_timeout_s) =
				(unsigned)v;
			break;
		case OPT_LOG_LEVEL:
			if (!parse_log_level(optarg, &o->log_level)) {
				usage_error("--log-level", optarg,
					    "must be debug, info, warn or error");
				goto out;
			}
			break;
		case OPT_READ_ONLY:
			o->read_only = true;
			break;
		case OPT_REGION:
			if (!vault_region_name_ok(optarg)) {
				usage_error("--region", optarg,
					    "must be 1 to 32 of a-z, 0-9 and '-' (e.g. westeurope)");
				goto out;
			}
			o->region = optarg;
			break;
		case OPT_AUDIT_LOG:
			if (optarg[0] == '\0' || strlen(optarg) > DATA_DIR_MAX) {
				usage_error("--audit-log", optarg,
					    "must be a path of 1 to 4064 bytes, or - for stderr");
				goto out;
			}
			o->audit_log = optarg;
			break;
		case OPT_TLS_CERT:
		case OPT_TLS_KEY:
		case OPT_CLIENT_CA:
			if (optarg[0] == '\0' || strlen(optarg) >= PATH_MAX) {
				usage_error(c == OPT_TLS_CERT ? "--tls-cert" : c == OPT_TLS_KEY
					    ? "--tls-key" : "--client-ca", optarg,
					    "must be a path of 1 to 4095 bytes");
				goto out;
			}
			*(c == OPT_TLS_CERT ? &o->tls_cert : c == OPT_TLS_KEY ? &o->tls_key
			  : &o->client_ca) = optarg;
			break;
		case OPT_ALLOW_CORE_DUMPS:
			o->allow_core_dumps = true;
			break;
		case OPT_ROTATE_MASTER_KEY:
			o->rotate_master_key = true;
			break;
		case OPT_POSTGRES:
			if (optarg[0] == '\0') {
				usage_error("--postgres", optarg,
					    "must be a libpq connection string or URI (e.g. "
					    "'host=db dbname=kluis')");
				goto out;
			}
			o->postgres = optarg;
			break;
		case OPT_POSTGRES_MONITOR:
		case OPT_POSTGRES_FORMATION:
		case OPT_PEER_POSTGRES:
			if (optarg[0] == '\0' || strlen(optarg) > 1024) {
				usage_error(c == OPT_POSTGRES_MONITOR ? "--postgres-monitor"
					    : c == OPT_PEER_POSTGRES ? "--peer-postgres"
					    : "--postgres-formation",
					    c == OPT_POSTGRES_FORMATION ? optarg : "",
					    "must be 1-1024 characters");
				goto out;
			}
			*(c == OPT_POSTGRES_MONITOR ? &o->pg_monitor : c == OPT_PEER_POSTGRES
			  ? &o->peer_postgres : &o->pg_formation) = optarg;
			break;
		case OPT_OIDC_ISSUER:
		case OPT_OIDC_AUDIENCE:
		case OPT_OIDC_JWKS:
			if (optarg[0] == '\0' || strlen(optarg) > 1024) {
				usage_error(c == OPT_OIDC_ISSUER ? "--oidc-issuer" : c == OPT_OIDC_AUDIENCE
					    ? "--oidc-audience" : "--oidc-jwks", optarg,
					    "must be 1 to 1024 bytes");
				goto out;
			}
			*(c == OPT_OIDC_ISSUER ? &o->oidc_issuer : c == OPT_OIDC_AUDIENCE
			  ? &o->oidc_audience : &o->oidc_jwks) = optarg;
			break;
		default:	/* getopt_long has said what is wrong */
			fprintf(stderr, "Try 'kluisd --help' for more information.\n");
			goto out;
		}
	}
	if (optind < argc) {
		usage_error("unexpected argument", argv[optind], "kluisd takes only options");
		goto out;
	}
	if ((o->oidc_issuer != NULL) != (o->oidc_audience != NULL) ||
	    (o->oidc_issuer != NULL) != (o->oidc_jwks != NULL)) {
		usage_error("--oidc-issuer", o->oidc_issuer ? o->oidc_issuer : "",
			    "--oidc-issuer, --oidc-audience and --oidc-jwks go together");
		goto out;
	}
	if (o->postgres == NULL && (o->pg_monitor != NULL || o->pg_formation != NULL ||
				    o->peer_postgres != NULL)) {
		/* conninfo values are not echoed: they may hold a password */
		if (o->pg_monitor != NULL || o->peer_postgres != NULL)
			usage_error(o->pg_monitor ? "--postgres-monitor" : "--peer-postgres", "",
				    "needs --postgres");
		else
			usage_error("--postgres-formation", o->pg_formation, "needs --postgres");
		goto out;
	}
	if ((o->tls_cert != NULL) != (o->tls_key != NULL)) {
		usage_error(o->tls_cert ? "--tls-cert" : "--tls-key",
			    o->tls_cert ? o->tls_cert : o->tls_key,
			    "--tls-cert and --tls-key go together");
		goto out;
	}
	rc = 0;
out:
	return rc;
}

/* mkdir -p with mode 0700 for what it creates; the last component must end up a directory. */
static int make_dirs(const char *path, struct kl_err *err)
{
	char p[PATH_MAX];
	struct stat st;
	size_t i, n = strlen(path);

	if (n == 0 || n >= sizeof(p))
		return kl_fail(err, KL_EINVAL, "the data directory path is empty or too long");
	memcpy(p, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (p[i] != '/' && p[i] != '\0')
			continue;
		if (p[i - 1] == '/')
			continue;	/* "a//b", or a trailing '/' */
		p[i] = '\0';
		if (mkdir(p, 0700) != 0 && errno != EEXIST)
			return kl_fail(err, KL_EINVAL, "cannot create %.128s: %s", p,
				       strerror(errno));
		if (stat(p, &st) != 0)
			return kl_fail(err, KL_EINVAL, "cannot use %.128s: %s", p, strerror(errno));
		if (!S_ISDIR(st.st_mode))
			return kl_fail(err, KL_EINVAL, "%.128s exists and is not a directory", p);
		if (i < n)
			p[i] = '/';
	}
	return 0;
}

/* Blocks the stop signals and SIGHUP in this thread, and so in every thread started after it,
 * and ignores SIGPIPE: those signals are then only ever taken by sigwait() in main, which acts on
 * them in ordinary code (no handler runs, so nothing has to be async-signal-safe). */
static int block_signals(sigset_t *stop, struct kl_err *err)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	sigemptyset(stop);
	sigaddset(stop, SIGTERM);
	sigaddset(stop, SIGINT);
	sigaddset(stop, SIGHUP);
	if (sigaction(SIGPIPE, &sa, NULL) != 0 || pthread_sigmask(SIG_BLOCK, stop, NULL) != 0)
		return kl_fail(err, KL_EINTERNAL, "cannot set up signal handling: %s",
			       strerror(errno));
	return 0;
}

/* Worker threads without --threads: four per online CPU. A worker waits while its request's
 * store call does (a PostgreSQL round trip, the sync of an LMDB group), so more workers than
 * cores keep the cores busy and let concurrent writes share one commit (decisions.md §27). */
static unsigned default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		n = 1;
	return n * 4 > MAX_THREADS ? MAX_THREADS : (unsigned)(n * 4);
}

/* The other region's database, for the write fence: two connections (the fence's checks, a
 * promotion's), and no waiting for it when it does not answer. */
static struct store *open_peer(void *arg, struct kl_err *err)
{
	struct store *st = store_pg_open(arg, 2, err);

	if (st != NULL)
		store_pg_set_failover_wait(st, 0);
	return st;
}

/* PostgreSQL connections: one per worker thread, and one for the background jobs, but at most
 * POOL_MAX: more workers wait for a free connection, and five nodes stay under PostgreSQL's
 * default max_connections of 100. */
#define POOL_MAX 17
static size_t store_pool_size(const struct options *o)
{
	return o->threads + 1 < POOL_MAX ? (size_t)o->threads + 1 : POOL_MAX;
}

static void log_tls(struct http_server *srv, const char *cert_path, const char *what)
{
	char desc[256];

	http_server_tls_describe(srv, desc, sizeof(desc));
	LOG_INFO(NULL, "%s the TLS certificate %s (%s)", what, cert_path, desc);
}

/* SIGHUP: a certificate renewed or replaced on disk is served to new connections; open ones
 * keep theirs. The self-issued one is first reissued when it is due (tlsgen_ensure). Anything
 * wrong keeps the pair in use: a node never stops serving over a bad file. */
static void reload_tls(const struct options *o, struct http_server *srv, const char *tls_dir,
		       const char *cert_path)
{
	struct kl_err err = { 0 };

	if ((o->tls_cert == NULL && tlsgen_ensure(tls_dir, o->dns_suffix, &err) != 0) ||
	    http_server_reload_tls(srv, &err) != 0) {
		LOG_ERROR(NULL, "SIGHUP: the TLS certificate was not reloaded, the one in use stays: "
			  "%s", err.msg);
		return;
	}
	log_tls(srv, cert_path, "SIGHUP: now serving");
}

/* Keys, tokens and secret values pass through this process's memory: unless asked otherwise it
 * is not dumpable, so a crash leaves no core file and other processes of the same user can
 * neither ptrace it nor read /proc/PID/mem. The pages of the data and master keys are kept out of
 * core dumps and swap even when it is dumpable (util/lockedmem.h). */
static void protect_memory(const struct options *o)
{
	struct rlimit no_core = { 0, 0 };

	if (o->allow_core_dumps) {
		LOG_WARN(NULL, "--allow-core-dumps: a core dump of kluisd may hold secret values");
		return;
	}
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 || setrlimit(RLIMIT_CORE, &no_core) != 0)
		LOG_WARN(NULL, "cannot turn core dumps off: %s", strerror(errno));
}

/* --rotate-master-key: the rotation a running node does on POST /kluis/v1/masterKey/rotate,
 * for a node that is stopped. */
static int rotate_offline(struct vault_core *core, struct kl_err *err)
{
	char old_id[MASTERKEY_ID_HEX + 1], new_id[MASTERKEY_ID_HEX + 1];

	if (masterkey_rotate(core, old_id, new_id, err) != 0)
		return -1;
	printf("rotated the master key: %s retired, %s in use\n", old_id, new_id);
	return 0;
}

/* Starts every layer, serves until a stop signal, stops them. Returns the exit status. */
static int run(const struct options *o)
{
	char store_dir[PATH_MAX], tls_dir[PATH_MAX], cert[PATH_MAX], key[PATH_MAX];
	char tdesc[320];
	struct vault_core_config vcfg = { 0 };
	struct api_config acfg = { 0 };
	struct http_config hcfg = { 0 };
	struct identity_config icfg = { 0 };
	struct kl_err err = { 0 };
	struct store *st = NULL;
	struct vault_core *core = NULL;
	struct api_ctx *api = NULL;
	struct http_server *srv = NULL;
	struct jwt_keyset *oidc = NULL;
	struct logfile *audit = NULL;
	sigset_t stop;
	int sig = 0, status = EXIT_FAILURE;

	/* Paths fit: --data-dir is at most DATA_DIR_MAX bytes. */
	snprintf(store_dir, sizeof(store_dir), "%s/store", o->data_dir);
	snprintf(tls_dir, sizeof(tls_dir), "%s/tls", o->data_dir);
	snprintf(cert, sizeof(cert), "%s/tls/server.pem", o->data_dir);
	snprintf(key, sizeof(key), "%s/tls/server-key.pem", o->data_dir);

	log_set_min_level(o->log_level);
	protect_memory(o);	/* before any key is read */
	json_util_init();
	if (block_signals(&stop, &err) != 0 || make_dirs(o->data_dir, &err) != 0 ||
	    (o->postgres == NULL && make_dirs(store_dir, &err) != 0) ||
	    (o->tls_cert == NULL && tlsgen_ensure(tls_dir, o->dns_suffix, &err) != 0))
		goto out;
	st = o->postgres != NULL ? store_pg_open(o->postgres, store_pool_size(o), &err)
				 : store_lmdb_open(store_dir, 0, &err);
	if (st == NULL || (o->pg_monitor != NULL &&
			   store_pg_set_monitor(st, o->pg_monitor, o->pg_formation ? o->pg_formation
						: "default", &err) != 0))
		goto out;
	vcfg.data_dir = o->data_dir;
	vcfg.default_vault = o->default_vault;
	vcfg.retention_days = o->retention_days;
	vcfg.purge_interval_s = o->jobs_interval_s;
	vcfg.cert_issue_delay_s = o->cert_issue_delay_s;
	vcfg.read_only = o->read_only;
	vcfg.region = o->region;
	if (o->peer_postgres != NULL) {
		vcfg.open_peer = open_peer;
		vcfg.open_peer_arg = (void *)o->peer_postgres;
	}
	core = vault_core_open(&vcfg, st, &err);
	st = NULL;	/* the core owns the store now, even when it failed to open */
	if (core == NULL)
		goto out;
	if (o->rotate_master_key) {
		if (rotate_offline(core, &err) == 0)
			status = EXIT_SUCCESS;
		goto out;
	}
	if (o->oidc_jwks != NULL) {
		if ((oidc = jwt_keyset_load(o->oidc_jwks, &err)) == NULL)
			goto out;
		vault_core_trust_oidc(core, oidc, o->oidc_issuer, o->oidc_audience);
		LOG_INFO(NULL, "accepting OpenID tokens of %s for %s (%zu keys)", o->oidc_issuer,
			 o->oidc_audience, jwt_keyset_size(oidc));
	}
	icfg.dns_suffix = o->dns_suffix;
	icfg.lifetime_s = o->access_token_lifetime_s;
	identity_configure(core, &icfg);
	/* A read-only node makes nothing: it signs with the key a writable node made. */
	if (identity_signing_ensure(core, &err) != 0)
		goto out;
	if (o->audit_log != NULL && (audit = logfile_open(o->audit_log, &err)) == NULL)
		goto out;
	acfg.audit = audit;
	acfg.dns_suffix = o->dns_suffix;
	acfg.default_vault = o->default_vault;
	acfg.max_body = o->max_body;
	acfg.throttle = &o->throttle;
	throttle_config_describe(&o->throttle, tdesc, sizeof(tdesc));
	LOG_INFO(NULL, "throttle: %s", tdesc);
	acfg.region = o->region;
	if ((api = api_ctx_new(&acfg, core, &err)) == NULL)
		goto out;
	/* the jobs start once their events have somewhere to go (they stop before api is freed) */
	vault_core_on_job_event(core, api_audit_job_event, api);
	if (vault_core_start_jobs(core, &err) != 0)
		goto out;
	hcfg.listen = &o->listen;
	hcfg.cert_pem_path = o->tls_cert != NULL ? o->tls_cert : cert;
	hcfg.key_pem_path = o->tls_key != NULL ? o->tls_key : key;
	hcfg.client_ca_pem_path = o->client_ca;
	hcfg.threads = o->threads;
	hcfg.max_connections = o->max_conns;
	hcfg.max_connections_per_ip = o->max_conns_per_ip;
	hcfg.conn_timeout_s = o->idle_timeout_s;
	hcfg.request_timeout_s = o->request_timeout_s;
	if ((srv = http_server_start(&hcfg, api, &err)) == NULL)
		goto out;
	LOG_INFO(NULL,
		 "kluisd listening on https://%s:%u (vault URL https://%s.%s:%u/, "
		 "CA %s/tls/ca.pem)",
		 o->listen.host, o->listen.port, o->default_vault, o->dns_suffix, o->listen.port,
		 o->data_dir);
	log_tls(srv, hcfg.cert_pem_path, "serving");

	for (;;) {
		if (sigwait(&stop, &sig) != 0)
			continue;
		if (sig != SIGHUP)
			break;
		/* Log rotation: the audit log's path is opened anew; writers switch at once. */
		if (audit != NULL && logfile_reopen(audit, &err) != 0)
			LOG_WARN(NULL, "SIGHUP: %s; still writing to the file open before",
				 err.msg);
		else if (audit != NULL)
			LOG_INFO(NULL, "SIGHUP: audit log %s reopened", logfile_path(audit));
		reload_tls(o, srv, tls_dir, hcfg.cert_pem_path);
	}
	LOG_INFO(NULL, "%s received: finishing requests in flight", strsignal(sig));
	status = EXIT_SUCCESS;
out:
	if (status != EXIT_SUCCESS)
		LOG_ERROR(NULL, "%s: %s", o->rotate_master_key ? "kluisd --rotate-master-key failed"
			  : "kluisd cannot start", err.msg);
	http_server_stop(srv);	/* first: nothing calls into api/ after it */
	vault_core_close(core);	/* stops the jobs, closes the store */
	api_ctx_free(api);
	logfile_free(audit);	/* after the server: no request writes to it any more */
	jwt_keyset_free(oidc);	/* after the core: nothing verifies tokens any more */
	store_close(st);
	if (status == EXIT_SUCCESS)
		LOG_INFO(NULL, "kluisd stopped");
	return status;
}

int main(int argc, char **argv)
{
	struct options o;
	int rc = parse_options(argc, argv, &o);

	if (rc != 0)
		return rc > 0 ? EXIT_SUCCESS : EXIT_USAGE;
	if (o.threads == 0)
		o.threads = default_threads();
	return run(&o);
}
