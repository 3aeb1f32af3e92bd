/* kluisd: flags, configuration, signals, start and stop. Owns the process: its exit status, its
 * signal mask, and the order in which the layers are opened (store, core, api, http) and closed
 * (the reverse). Must never serve a request or touch stored data itself, never write a PID file
 * or log anywhere but stderr and the --audit-log file, and never overwrite anything in the data
 * directory (the layers it opens refuse what they cannot trust). SIGHUP reopens the audit log
 * (log rotation). Exit: 0 after SIGTERM/SIGINT, 1 when start-up fails, 2 for a usage error. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
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
	bool read_only;
	const char *region;			/* reported on /health; NULL: "local" */
	struct http_addr listen;
	char dns_suffix[DNS_NAME_MAX + 1];	/* lowercased */
	const char *default_vault;
	unsigned threads;			/* 0: one per online CPU */
	int retention_days;
	size_t max_body;			/* 0: the API's default */
	enum log_level log_level;
	const char *oidc_issuer, *oidc_audience, *oidc_jwks;	/* all three, or none */
	const char *audit_log;			/* path, "-" for stderr; NULL: none */
};

enum {
	OPT_DATA_DIR = 256,
	OPT_LISTEN,
	OPT_DNS_SUFFIX,
	OPT_DEFAULT_VAULT,
	OPT_THREADS,
	OPT_RETENTION_DAYS,
	OPT_MAX_BODY,
	OPT_LOG_LEVEL,
	OPT_OIDC_ISSUER,
	OPT_OIDC_AUDIENCE,
	OPT_OIDC_JWKS,
	OPT_POSTGRES,
	OPT_READ_ONLY,
	OPT_REGION,
	OPT_AUDIT_LOG,
};

static const struct option long_options[] = {
	{ "data-dir", required_argument, NULL, OPT_DATA_DIR },
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "dns-suffix", required_argument, NULL, OPT_DNS_SUFFIX },
	{ "default-vault", required_argument, NULL, OPT_DEFAULT_VAULT },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "retention-days", required_argument, NULL, OPT_RETENTION_DAYS },
	{ "max-body", required_argument, NULL, OPT_MAX_BODY },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "oidc-issuer", required_argument, NULL, OPT_OIDC_ISSUER },
	{ "oidc-audience", required_argument, NULL, OPT_OIDC_AUDIENCE },
	{ "oidc-jwks", required_argument, NULL, OPT_OIDC_JWKS },
	{ "postgres", required_argument, NULL, OPT_POSTGRES },
	{ "read-only", no_argument, NULL, OPT_READ_ONLY },
	{ "region", required_argument, NULL, OPT_REGION },
	{ "audit-log", required_argument, NULL, OPT_AUDIT_LOG },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void print_help(void)
{
	printf("Usage: kluisd [OPTION]...\n"
	       "A key vault server speaking the Azure Key Vault REST API over HTTPS. Runs in\n"
	       "the foreground and logs to stderr; SIGTERM or SIGINT finishes the requests in\n"
	       "flight, closes the store and exits 0; SIGHUP reopens the audit log.\n"
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
	       "  --threads N            worker threads, 1-%d (default: one per online CPU)\n"
	       "  --retention-days N     days a deleted object is kept before it is purged, 7-90\n"
	       "                         (default %d)\n"
	       "  --max-body BYTES       largest request body accepted, 1-%llu; a larger\n"
	       "                         one gets 413 (default %d)\n"
	       "  --log-level LEVEL      debug, info, warn or error (default info)\n"
	       "  --audit-log PATH       append one JSON line per request to PATH ('-':\n"
	       "                         stderr), created 0600; SIGHUP reopens it after a\n"
	       "                         rotation (default: no audit log)\n"
	       "  --oidc-issuer URL      also accept OpenID tokens (JWTs, RS256 or ES256) whose\n"
	       "  --oidc-audience AUD    iss and aud are these, signed by a key of the JWKS\n"
	       "  --oidc-jwks FILE       file, for the principal their sub is mapped to (all\n"
	       "                         three together; see docs/admin-api.md)\n"
	       "  -h, --help             show this help and exit\n"
	       "\n"
	       "Clients trust DIR/tls/ca.pem and authenticate with the bearer token in\n"
	       "DIR/admin-token.\n"
	       "Exit status: 0 stopped by a signal, 1 start-up failed, 2 bad usage.\n",
	       DEFAULT_DATA_DIR, DEFAULT_LISTEN, DEFAULT_DNS_SUFFIX, DEFAULT_VAULT, MAX_THREADS,
	       DEFAULT_RETENTION_DAYS, MAX_BODY_LIMIT, API_DEFAULT_MAX_BODY);
}

/* "kluisd: --flag 'value': why" and a pointer to --help, on stderr. */
static void usage_error(const char *flag, const char *value, const char *why)
{
	fprintf(stderr, "kluisd: %s '%.200s': %s\nTry 'kluisd --help' for more information.\n",
		flag, value, why);
}

/* A region name: 1-32 of a-z, 0-9 and '-'. */
static bool parse_region(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (i >= 32 || !((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
				 s[i] == '-'))
			return false;
	return i > 0;
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
	o->log_level = LOG_LV_INFO;
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
		case OPT_MAX_BODY:
			if (!parse_number(optarg, 1, MAX_BODY_LIMIT, &v)) {
				usage_error("--max-body", optarg,
					    "must be a number of bytes from 1 to 268435456");
				goto out;
			}
			o->max_body = (size_t)v;
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
			if (!parse_region(optarg)) {
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
		case OPT_POSTGRES:
			if (optarg[0] == '\0') {
				usage_error("--postgres", optarg,
					    "must be a libpq connection string or URI (e.g. "
					    "'host=db dbname=kluis')");
				goto out;
			}
			o->postgres = optarg;
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

/* PostgreSQL connections: one per worker thread, and one for the background jobs. */
static size_t store_pool_size(const struct options *o)
{
	long n = o->threads;

	if (n == 0 && (n = sysconf(_SC_NPROCESSORS_ONLN)) < 1)
		n = 1;
	return (size_t)(n > MAX_THREADS ? MAX_THREADS : n) + 1;
}

/* Starts every layer, serves until a stop signal, stops them. Returns the exit status. */
static int run(const struct options *o)
{
	char store_dir[PATH_MAX], tls_dir[PATH_MAX], cert[PATH_MAX], key[PATH_MAX];
	struct vault_core_config vcfg = { 0 };
	struct api_config acfg = { 0 };
	struct http_config hcfg = { 0 };
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
	json_util_init();
	if (block_signals(&stop, &err) != 0 || make_dirs(o->data_dir, &err) != 0 ||
	    (o->postgres == NULL && make_dirs(store_dir, &err) != 0) ||
	    tlsgen_ensure(tls_dir, o->dns_suffix, &err) != 0)
		goto out;
	st = o->postgres != NULL ? store_pg_open(o->postgres, store_pool_size(o), &err)
				 : store_lmdb_open(store_dir, 0, &err);
	if (st == NULL)
		goto out;
	vcfg.data_dir = o->data_dir;
	vcfg.default_vault = o->default_vault;
	vcfg.retention_days = o->retention_days;
	vcfg.read_only = o->read_only;
	core = vault_core_open(&vcfg, st, &err);
	st = NULL;	/* the core owns the store now, even when it failed to open */
	if (core == NULL)
		goto out;
	if (o->oidc_jwks != NULL) {
		if ((oidc = jwt_keyset_load(o->oidc_jwks, &err)) == NULL)
			goto out;
		vault_core_trust_oidc(core, oidc, o->oidc_issuer, o->oidc_audience);
		LOG_INFO(NULL, "accepting OpenID tokens of %s for %s (%zu keys)", o->oidc_issuer,
			 o->oidc_audience, jwt_keyset_size(oidc));
	}
	if (vault_core_start_jobs(core, &err) != 0)
		goto out;
	if (o->audit_log != NULL && (audit = logfile_open(o->audit_log, &err)) == NULL)
		goto out;
	acfg.audit = audit;
	acfg.dns_suffix = o->dns_suffix;
	acfg.default_vault = o->default_vault;
	acfg.max_body = o->max_body;
	acfg.region = o->region;
	if ((api = api_ctx_new(&acfg, core, &err)) == NULL)
		goto out;
	hcfg.listen = &o->listen;
	hcfg.cert_pem_path = cert;
	hcfg.key_pem_path = key;
	hcfg.threads = o->threads;
	if ((srv = http_server_start(&hcfg, api, &err)) == NULL)
		goto out;
	LOG_INFO(NULL,
		 "kluisd listening on https://%s:%u (vault URL https://%s.%s:%u/, "
		 "CA %s/tls/ca.pem)",
		 o->listen.host, o->listen.port, o->default_vault, o->dns_suffix, o->listen.port,
		 o->data_dir);

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
	}
	LOG_INFO(NULL, "%s received: finishing requests in flight", strsignal(sig));
	status = EXIT_SUCCESS;
out:
	if (status != EXIT_SUCCESS)
		LOG_ERROR(NULL, "kluisd cannot start: %s", err.msg);
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
	return run(&o);
}
