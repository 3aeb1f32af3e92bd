/* kluisd: flags, configuration, signals, start and stop. Owns the process: its exit status, its
 * signal mask, and the order in which the layers are opened (store, core, api, http) and closed
 * (the reverse). Must never serve a request or touch stored data itself, never write a PID file
 * or log anywhere but stderr and the --audit-log file, and never overwrite anything in the data
 * directory (the layers it opens refuse what they cannot trust). SIGHUP reopens the audit log
 * (log rotation) and reloads the TLS certificate and key. Exit: 0 after SIGTERM/SIGINT (or a
 * --rotate-master-key done), 1 when start-up fails, 2 for a usage error. */
#include <errno.h>
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
#include "main/options.h"
#include "api/throttle.h"
#include "crypto/jwt.h"
#include "crypto/tlsgen.h"
#include "http/addr.h"
#include "http/lbagent.h"
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
	return n * 4 > OPTIONS_MAX_THREADS ? OPTIONS_MAX_THREADS : (unsigned)(n * 4);
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

/* The load balancer agent's question (http/lbagent.h): does this node take writes now? */
static bool core_takes_writes(void *core)
{
	return vault_core_writable(core);
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
	struct lbagent *agent = NULL;
	struct jwt_keyset *oidc = NULL;
	struct logfile *audit = NULL;
	sigset_t stop;
	int sig = 0, status = EXIT_FAILURE;

	/* Paths fit: --data-dir is at most OPTIONS_DATA_DIR_MAX bytes. */
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
	if (o->has_lb_agent) {
		if ((agent = lbagent_start(&o->lb_agent, core_takes_writes, core, &err)) == NULL)
			goto out;
		LOG_INFO(NULL, "load balancer agent on %s:%u", o->lb_agent.host, o->lb_agent.port);
	}

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
	lbagent_stop(agent);	/* before the core it asks */
	http_server_stop(srv);	/* nothing calls into api/ after it */
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
	int rc = options_parse(argc, argv, &o);

	if (rc != 0)
		return rc > 0 ? EXIT_SUCCESS : EXIT_USAGE;
	if (o.threads == 0)
		o.threads = default_threads();
	rc = run(&o);
	options_clear(&o);	/* the --config file's text, wiped: it may hold a password */
	return rc;
}
