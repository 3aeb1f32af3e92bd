/* The throttle: request budgets in the shape of Azure Key Vault's service limits, counted per
 * vault and per principal in fixed windows (10 seconds unless configured), on this node.
 *
 * A budget is a kind of transaction with its own limit per window, as in Azure's table: secret
 * creation, every other secret and vault transaction, key creation, every other key transaction
 * (weighted by key type: an RSA-4096 operation costs 8 units, an RSA-2048 one 1), and the
 * management plane's reads and writes. A request is admitted only when both its vault's bucket and
 * its caller's bucket of that budget have room; a refused request counts against neither (as in
 * Azure, "failed requests that return a 429 do not count"). Each bucket's window opens with its
 * first request after the previous one ended.
 *
 * Memory is fixed when the throttle is made: a set-associative table of buckets (THROTTLE_SETS
 * sets of THROTTLE_WAYS), never grown. A bucket whose window has ended holds nothing and is free
 * for reuse; when every bucket of a set is live, the one that has counted least is evicted (it
 * loses its count: counted in throttle_evictions). Names come from vaults that exist and
 * principals that authenticated, so a flood of distinct names needs that many real ones. The hot
 * path allocates nothing, takes two short striped locks (three for a refusal by the caller's
 * budget), and reads no clock (the caller passes the request's start time).
 *
 * Thread safety: throttle_admit, throttle_charge and throttle_evictions may be called from every
 * worker at once; throttle_new and throttle_free from one thread, around them. */
#ifndef KLUIS_API_THROTTLE_H
#define KLUIS_API_THROTTLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define THROTTLE_SETS 2048u	/* 16384 buckets of 72 bytes: 1.2 MB, touched only when used */
#define THROTTLE_WAYS 8u
#define THROTTLE_NAME_MAX 40	/* vault names are at most 24, principal ids 36 */
#define THROTTLE_DEFAULT_WINDOW_S 10u
#define THROTTLE_DEFAULT_SCALE_MICRO 1000000000ull	/* 1000 x Azure's (docs/decisions.md) */
#define THROTTLE_IDENTITY_PER_10S 200u	/* token requests of one client address */

enum throttle_budget {
	THROTTLE_NONE,		/* not throttled: /health, /health/writable, /metrics */
	THROTTLE_SECRETS,	/* every other secret and vault transaction (Azure: 4,000 / 10 s) */
	THROTTLE_SECRET_CREATE,	/* set and restore secret (300) */
	THROTTLE_KEYS,		/* every other key transaction, weighted by key (4,000 units) */
	THROTTLE_KEY_CREATE,	/* create, import, rotate and restore key (20 units) */
	THROTTLE_MGMT_READ,	/* management plane and admin API reads (ARM: 250 / 10 s) */
	THROTTLE_MGMT_WRITE,	/* their writes and deletes (ARM: 10 / s, so 100 / 10 s) */
	THROTTLE_IDENTITY,	/* the identity provider's requests, refused ones included, per
				 * client address (not scaled from Azure's: 200 / 10 s) */
	THROTTLE_BUDGETS
};

struct throttle_config {
	bool is_off;			/* admit everything, count nothing */
	unsigned window_s;		/* 1..3600 */
	uint64_t vault[THROTTLE_BUDGETS];	/* units per window of one vault (or the deployment,
						 * for the management plane); 0: not limited */
	uint64_t principal[THROTTLE_BUDGETS];	/* units per window of one principal, all vaults */
	/* THROTTLE_IDENTITY: vault[] holds the limit of one client address (its bucket's name);
	 * principal[] is always 0 (a token request has no principal until it succeeds). */
};

/* Azure's limits times 1000, per 10 s, a principal's the same as a vault's. */
void throttle_config_default(struct throttle_config *cfg);

/* Fills *cfg from a --throttle value: "off", or a comma-separated list of
 *   window=SECONDS       the window (1-3600; default 10)
 *   scale=X              every limit is Azure's times X (a decimal, 0.001-100000; default 1000),
 *                        prorated to the window
 *   BUDGET=N             one vault's limit of BUDGET per window (1-10^12): secrets, secret-create,
 *                        keys, key-create, mgmt-read, mgmt-write
 *   principal.BUDGET=N   one principal's; without it a principal's limit is the vault's
 *   identity=N           one client address's requests to the identity provider per window
 *                        (default THROTTLE_IDENTITY_PER_10S prorated, whatever the scale); there
 *                        is no principal.identity
 * KL_EINVAL with a message naming the bad item. */
int throttle_config_parse(const char *spec, struct throttle_config *cfg, struct kl_err *err);

/* "per 10 s per vault (per principal): secrets 4000000, ..." or "off", for the log. */
void throttle_config_describe(const struct throttle_config *cfg, char *out, size_t n);

/* The budget's name in a --throttle value ("secret-create"); "" for THROTTLE_NONE. */
const char *throttle_budget_name(enum throttle_budget b);

/* Units one operation of budget b with a key of type kty ("RSA", "EC-HSM"...) and size bits
 * costs, Azure's weights (its RSA-2048 software-key limit divided by the type's): for
 * THROTTLE_KEYS, RSA up to 2048 bits and every EC and oct key 1, RSA 3072 4, RSA 4096 8; for
 * THROTTLE_KEY_CREATE 1 whatever the type; an -HSM type twice that; 1 for other budgets. */
unsigned throttle_key_weight(enum throttle_budget b, const char *kty, unsigned bits);

struct throttle;

/* A throttle with cfg's limits (copied); NULL with KL_ENOMEM. */
struct throttle *throttle_new(const struct throttle_config *cfg, struct kl_err *err);
void throttle_free(struct throttle *t);
const struct throttle_config *throttle_config_of(const struct throttle *t);

/* Why a request was refused. */
struct throttle_verdict {
	bool by_principal;	/* the caller's budget was spent, not the vault's */
	uint64_t limit;		/* that budget's limit per window */
	unsigned retry_after_s;	/* whole seconds until its window ends, at least 1 */
};

/* Counts one unit of budget b for vault (its name; "" for the deployment) and principal (its id)
 * at now_us (monotonic microseconds). 0: admitted, counted in both. -1: refused, counted in
 * neither, *v says why. Always 0 for THROTTLE_NONE and when the throttle is off. */
int throttle_admit(struct throttle *t, enum throttle_budget b, const char *vault,
		   const char *principal, uint64_t now_us, struct throttle_verdict *v);

/* Counts extra units of b in both buckets without refusing anything: the rest of a weighted
 * operation's cost once its key is known. A bucket may go past its limit this way; its next
 * requests wait for the next window. */
void throttle_charge(struct throttle *t, enum throttle_budget b, const char *vault,
		     const char *principal, uint64_t extra, uint64_t now_us);

/* Live buckets evicted to make room since the throttle was made. */
uint64_t throttle_evictions(const struct throttle *t);

#endif
