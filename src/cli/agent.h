/* `kluis identity-agent`: a loopback token endpoint in the shape of Azure's instance metadata
 * service (IMDS) and Cloud Shell's, for applications whose credential library is configured by
 * environment variables only. It holds the credentials of one or more principals (a kluis token
 * file, or a client certificate and its key) and trades them at kluisd for short-lived access
 * tokens, which it caches per (identity, resource). agent.c runs the command; agent_ids.c owns
 * the identities, the cache and every conversation with kluisd; agent_http.c owns the loopback
 * HTTP server (the CLI's only includer of <microhttpd.h>). */
#ifndef KLUIS_CLI_AGENT_H
#define KLUIS_CLI_AGENT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "cli/http.h"
#include "util/buf.h"
#include "util/secbuf.h"

#define AGENT_IDENTITIES_MAX 16
#define AGENT_CACHE_MAX 256		/* (identity, resource) tokens kept */
#define AGENT_REFRESH_MARGIN_S 300	/* a cached token is used until this long before it ends */
#define AGENT_FETCH_TIMEOUT_S 20L	/* one request to kluisd */
#define AGENT_RESOURCE_MAX 255		/* bytes of a resource (as kluisd limits it) */
#define AGENT_ID_MAX 36			/* a principal id (a UUID) */
#define AGENT_NAME_MAX 64		/* a principal name */
#define AGENT_DEFAULT_PORT 40342	/* what `kluis identity env --route imds` assumes */

enum agent_id_kind {
	AGENT_ID_TOKEN,	/* token:PATH, traded at GET /msi/token with X-IDENTITY-HEADER */
	AGENT_ID_CERT,	/* cert:PATH:CLIENT_ID, a client assertion posted to the adfs token URL */
};

struct keyops_key;

struct agent_identity {
	enum agent_id_kind kind;
	char *path;			/* the token file or the PEM, for messages */
	char *client_id;		/* cert: as given (the principal's id or name); else NULL */
	struct secbuf *token;		/* token: the kluis token */
	struct keyops_key *key;		/* cert: the private key */
	char x5t_s256[48];		/* cert: base64url of the SHA-256 of the certificate */
	/* Learnt from kluisd (under struct agent's lock): who the credential belongs to. */
	bool resolved;
	char id[AGENT_ID_MAX + 1];
	char name[AGENT_NAME_MAX + 1];
};

struct agent_cached {
	size_t identity;		/* index in struct agent's ids */
	char *resource;			/* as the application asked for it */
	struct secbuf *token;
	int64_t expires_on;		/* Unix seconds */
};

struct agent {
	const char *url;		/* kluisd's base URL, no trailing '/' (the CLI's config) */
	const char *ca;			/* its CA file, NULL: the system's */
	struct agent_identity ids[AGENT_IDENTITIES_MAX];	/* ids[0]: the system-assigned */
	size_t n_ids;
	pthread_mutex_t lock;		/* the learnt fields of ids, and the cache */
	pthread_mutex_t fetch_lock;	/* one conversation with kluisd at a time, on http */
	struct http *http;
	struct agent_cached cache[AGENT_CACHE_MAX];
	size_t n_cache;
};

/* ---- agent_ids.c ---- */

/* Sets up a with no identity; url and ca are borrowed. -1 after printing why. */
int agent_init(struct agent *a, const char *url, const char *ca);
/* Wipes and frees every credential and cached token. */
void agent_clear(struct agent *a);

/* Reads one --identity: "token:PATH" or "cert:PATH:CLIENT_ID". A CLI status, after printing why
 * it is refused (CLI_EUSAGE for a malformed spec, CLI_EFAIL for a file that cannot be used). */
int agent_add_identity(struct agent *a, const char *spec);

/* Asks kluisd whom each identity's credential belongs to. A credential kluisd refuses is a
 * CLI_EFAIL (printed); an unreachable kluisd only a warning: the identity is asked again when a
 * request needs it. */
int agent_resolve(struct agent *a);

/* SIGHUP: reads every identity's file again (a rotated kluis token, a renewed certificate; one
 * that cannot be read keeps its old credential, with a warning), forgets whom each is and every
 * cached token. Thread-safe. */
void agent_reload(struct agent *a);

/* The answer to one token request, as agent_http.c sends it. */
struct agent_answer {
	int status;			/* 200, or the HTTP status of the refusal */
	const char *error;		/* the OAuth error code of a refusal */
	char description[400];		/* its error_description: never a secret */
	struct secbuf *token;		/* 200: the access token (the caller frees it) */
	int64_t expires_on;
	char client_id[AGENT_ID_MAX + 1];
};

/* A token for resource, for the identity whose id or name sel_value names (sel_value NULL: the
 * system-assigned one, ids[0]); from the cache when it has one that lasts more than
 * AGENT_REFRESH_MARGIN_S, else fetched from kluisd. Thread-safe. */
void agent_get_token(struct agent *a, const char *resource, const char *sel_value,
		     struct agent_answer *out);

/* ---- agent_answer.c: what the agent answers ---- */

void agent_answer_clear(struct agent_answer *ans);
/* Fills a refusal: status, OAuth error code, description (printf). */
void agent_refuse(struct agent_answer *ans, int status, const char *error, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* A refusal for kluisd's error answer r to a request for what ("a token") by identity id: 400
 * stays 400, 401/403 become 403 (the credential was refused), 429 stays, anything else is 502. */
void agent_refuse_from_kluisd(struct agent_answer *ans, const struct agent_identity *id,
			      const char *what, const struct http_resp *r);
/* Settles ans from kluisd's answer r to a token request by identity id: 200 with the token,
 * expires_on and client_id read from it, or the refusal agent_refuse_from_kluisd makes (502
 * when a 200 holds no access token). */
void agent_take_token(struct agent_answer *ans, const struct agent_identity *id,
		      const struct http_resp *r);

/* Asks kluisd for a token for identity id (agent_ids.c): method on url with body (NULL: none)
 * and o; ans settled by agent_take_token, or a 503 when kluisd cannot be reached. */
void agent_ask_kluisd(struct agent *a, const struct agent_identity *id, const char *method,
		      const char *url, const struct buf *body, const struct http_opts *o,
		      struct agent_answer *ans);

/* ---- agent_cert.c: the certificate route ---- */

/* Reads id->path (a PEM with the private key and its certificate) into id->key and
 * id->x5t_s256. A CLI status, after printing why not. */
int agent_cert_load(struct agent_identity *id);
void agent_cert_free(struct agent_identity *id);
/* Signs a client assertion (RS256 for RSA, ES256 for P-256; header x5t#S256) and posts it to
 * kluisd's adfs token URL for resource (its scope: resource + "/.default"). Under fetch_lock. */
void agent_cert_fetch(struct agent *a, const struct agent_identity *id, const char *resource,
		      struct agent_answer *ans);

/* ---- agent_http.c ---- */

struct agent_server;

/* Starts serving on addr (a loopback address; the caller checked) with a thread per
 * connection. NULL after printing why. */
struct agent_server *agent_server_start(struct agent *a, const struct sockaddr *addr,
					socklen_t addr_len);
/* The port it listens on (the one the system chose for port 0). */
unsigned agent_server_port(const struct agent_server *s);
/* Stops accepting, finishes the requests in flight and frees s. NULL is a no-op. */
void agent_server_stop(struct agent_server *s);

#endif
