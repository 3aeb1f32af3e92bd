/* kluisd's command line and configuration file: its flags, their defaults and checks, --config,
 * --check-config and --help (docs/configuration.md). One table lists every flag with its kind
 * and range; parsing it fills a struct options, or says on stderr what is wrong with which flag
 * or which line of the file. Not thread-safe (getopt_long). */
#ifndef KLUIS_MAIN_OPTIONS_H
#define KLUIS_MAIN_OPTIONS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "api/throttle.h"
#include "http/addr.h"
#include "util/log.h"

#define OPTIONS_DNS_NAME_MAX 253
#define OPTIONS_MAX_THREADS 256
/* --data-dir's longest: the names kluisd builds under it must fit in PATH_MAX. */
#define OPTIONS_DATA_DIR_MAX (PATH_MAX - 32)

struct secbuf;

struct options {
	const char *config;			/* --config FILE; NULL: none */
	bool check_config;			/* --check-config: check, say so, exit */
	struct secbuf *config_text;		/* the file, which the values read from it point
						   into; options_clear() wipes and frees it */
	const char *data_dir;
	const char *postgres;			/* NULL: LMDB in DIR/store */
	const char *pg_monitor;			/* pg_auto_failover's monitor; NULL: none */
	const char *pg_formation;		/* NULL: "default" */
	const char *peer_postgres;		/* the other region's database; NULL: none */
	bool read_only;
	const char *region;			/* reported on /health; NULL: "local" */
	struct http_addr listen;
	struct http_addr lb_agent;		/* --lb-agent, when has_lb_agent */
	bool has_lb_agent;
	char dns_suffix[OPTIONS_DNS_NAME_MAX + 1];	/* lowercased */
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

/* Fills *o from the defaults, then the --config file, then the other flags of argv, whatever
 * their order: a flag given in argv overrides the file's line for it. Returns 0 to run (the
 * caller then frees *o with options_clear()), 1 when --help or --check-config was answered (on
 * stdout), -1 after a usage error or a bad file (reported on stderr: "kluisd: FILE:LINE: why").
 * After 1 or -1 nothing is left to free. The values point into argv and o->config_text. */
int options_parse(int argc, char **argv, struct options *o);

/* Wipes and frees what options_parse() allocated (the file may hold a password) and zeroes *o;
 * a zeroed *o, or one cleared already, is a no-op. */
void options_clear(struct options *o);

#endif
