/* store_pg_monitor.c owns the question a new connection asks pg_auto_failover's monitor, when
 * kluisd was told where it is (--postgres-monitor): is the server this connection landed on the
 * primary of its group, or is a failover moving writes elsewhere?
 *
 * Why: a multi-host conninfo with target_session_attrs=read-write takes any server that accepts
 * writes. pg_auto_failover 2.0 (Debian 12) can restart a killed primary's PostgreSQL, writable and
 * without synchronous replication, while the monitor is already promoting its standby
 * (hapostgres/pg_auto_failover#774). A commit there returns at once, and the demotion a few
 * seconds later rewinds it away: an acknowledged write lost. PostgreSQL alone cannot tell that
 * server from a promoted standby running alone after a failover; the monitor can.
 *
 * The rule: a server in recovery is not asked about (it takes no writes). Any other is used only
 * when the monitor's goal for it is a state that takes writes (single, wait_primary, primary,
 * join_primary, apply_settings) and no other node of its group has a goal that takes writes or
 * leads to them (a promotion under way). Otherwise the connection is closed and the call goes on
 * as when no server takes it: it tries again within the failover wait, and meets the new primary
 * once it is promoted. The monitor finds the server by the host and port the connection used, as
 * the monitor registered it (what `pg_autoctl show uri` prints).
 *
 * The monitor failing must not stop a vault whose database is fine (pg_auto_failover keeps its
 * primary serving without the monitor too): when the monitor cannot be reached, does not answer
 * within MONITOR_TIMEOUT_MS, or does not know the server, the connection is used, and that is
 * logged. The check costs one connection to the monitor per new store connection, which the pool
 * keeps; never per call. Never logs the conninfo (it may hold a password). */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_pg.h"
#include "store/store_pg_internal.h"
#include "util/log.h"

#define MONITOR_TIMEOUT_MS 2000

/* One row for the server at ($2, $3) in formation $1: its goal, and the goal of another node of
 * its group that takes writes or is becoming a primary (NULL when none). */
static const char vet_sql[] =
	"WITH n AS (SELECT group_id, node_id, nodehost, nodeport, "
	"assigned_group_state::text AS goal FROM pgautofailover.current_state($1)) "
	"SELECT me.goal, (SELECT min(o.goal) FROM n o WHERE o.group_id = me.group_id "
	"AND o.node_id <> me.node_id AND o.goal IN ('single', 'wait_primary', 'primary', "
	"'join_primary', 'apply_settings', 'prepare_promotion', 'stop_replication', 'report_lsn', "
	"'fast_forward', 'wait_forward')) "
	"FROM n me WHERE me.nodehost = $2 AND me.nodeport = $3::int";

static const char *const writable_goals[] = { "single", "wait_primary", "primary", "join_primary",
					      "apply_settings", NULL };

static const char *const monitor_keys[] = { "connect_timeout", "tcp_user_timeout",
					    "application_name", "dbname", NULL };

int store_pg_set_monitor(struct store *st, const char *conninfo, const char *formation,
			 struct kl_err *err)
{
	struct store_pg *s = (struct store_pg *)st;
	PQconninfoOption *opts = NULL;
	char *perr = NULL;
	int rc = -1;
	size_t i;

	if (conninfo == NULL || formation == NULL || formation[0] == '\0') {
		kl_fail(err, KL_EINVAL, "the monitor needs a connection string and a formation");
		goto out;
	}
	if ((opts = PQconninfoParse(conninfo, &perr)) == NULL) {
		kl_fail(err, perr != NULL ? KL_EINVAL : KL_ENOMEM,
			"the monitor's connection string is malformed (expected key=value pairs "
			"or a postgresql:// URI)");
		goto out;
	}
	if ((s->monitor = strdup(conninfo)) == NULL ||
	    (s->formation = strdup(formation)) == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	/* The connection open made was not checked: closed, so that every one the pool uses is. */
	for (i = 0; i < s->n_idle; i++) {
		PQfinish(s->idle[i].conn);
		s->idle[i].conn = NULL;
	}
	rc = 0;
out:
	PQconninfoFree(opts);
	PQfreemem(perr);
	return rc;
}

void store_pg_monitor_free(struct store_pg *s)
{
	if (s->monitor != NULL)
		explicit_bzero(s->monitor, strlen(s->monitor));
	free(s->monitor);
	free(s->formation);
}

/* Waits until m has the whole answer to what was sent, or until deadline. */
static bool await_answer(PGconn *m, uint64_t deadline)
{
	struct pollfd p = { .fd = PQsocket(m), .events = POLLIN };
	uint64_t now;

	while (PQisBusy(m)) {
		now = store_pg_mono_ms();
		if (now >= deadline)
			return false;
		if (poll(&p, 1, (int)(deadline - now)) < 0 && errno != EINTR)
			return false;
		if (!PQconsumeInput(m))
			return false;
	}
	return true;
}

/* Asks the monitor about host:port; the answer's row in *out (the caller's: PQclear). -1 when
 * the monitor could not be asked. */
static int ask(struct store_pg *s, const char *host, const char *port, PGresult **out)
{
	const char *vals[] = { "2", "10000", "kluisd", s->monitor, NULL };
	const char *params[] = { s->formation, host, port };
	uint64_t deadline = store_pg_mono_ms() + MONITOR_TIMEOUT_MS;
	PGresult *r = NULL, *last = NULL;
	PGconn *m;
	int rc = -1;

	*out = NULL;
	if ((m = PQconnectdbParams(monitor_keys, vals, 1)) == NULL ||
	    PQstatus(m) != CONNECTION_OK) {
		if (m != NULL && store_pg_log_due(s, &s->monitor_log, NULL))
			LOG_WARN(NULL, "cannot reach the pg_auto_failover monitor, so a new store "
				       "connection is used unchecked: %.*s",
				 (int)strcspn(PQerrorMessage(m), "\n"), PQerrorMessage(m));
		goto out;
	}
	if (!PQsendQueryParams(m, vet_sql, 3, NULL, params, NULL, NULL, 0) ||
	    !await_answer(m, deadline)) {
		if (store_pg_log_due(s, &s->monitor_log, NULL))
			LOG_WARN(NULL, "the pg_auto_failover monitor gave no answer within %d ms, so "
				       "a new store connection is used unchecked",
				 MONITOR_TIMEOUT_MS);
		goto out;
	}
	while ((r = PQgetResult(m)) != NULL) {
		PQclear(last);
		last = r;
	}
	if (PQresultStatus(last) != PGRES_TUPLES_OK) {
		if (store_pg_log_due(s, &s->monitor_log, NULL))
			LOG_WARN(NULL, "the pg_auto_failover monitor could not answer, so a new store "
				       "connection is used unchecked: %.*s",
				 (int)strcspn(PQresultErrorMessage(last), "\n"),
				 PQresultErrorMessage(last));
		goto out;
	}
	*out = last;
	last = NULL;
	rc = 0;
out:
	PQclear(last);
	PQfinish(m);
	return rc;
}

static bool goal_writable(const char *goal)
{
	size_t i;

	for (i = 0; writable_goals[i] != NULL; i++)
		if (strcmp(goal, writable_goals[i]) == 0)
			return true;
	return false;
}

int store_pg_monitor_vet(struct store_pg *s, PGconn *c, struct kl_err *err)
{
	const char *host = PQhost(c), *port = PQport(c), *standby;
	const char *goal, *other;
	PGresult *r = NULL;
	int rc = 0;

	standby = PQparameterStatus(c, "in_hot_standby");
	if (s->monitor == NULL || (standby != NULL && strcmp(standby, "on") == 0) ||
	    host == NULL || port == NULL || ask(s, host, port, &r) != 0)
		goto out;
	if (PQntuples(r) != 1) {
		if (store_pg_log_due(s, &s->monitor_log, NULL))
			LOG_WARN(NULL, "the pg_auto_failover monitor knows no node %s:%s in formation "
				       "'%s', so a new store connection to it is used unchecked",
				 host, port, s->formation);
		goto out;
	}
	goal = PQgetvalue(r, 0, 0);
	other = PQgetisnull(r, 0, 1) ? NULL : PQgetvalue(r, 0, 1);
	if (goal_writable(goal) && other == NULL)
		goto out;
	if (store_pg_log_due(s, &s->monitor_log, NULL))
		LOG_WARN(NULL, "PostgreSQL at %s:%s takes writes, but pg_auto_failover's monitor "
			       "has it %s%s%s: not used until a primary is settled",
			 host, port, goal, other != NULL ? " while another node is " : "",
			 other != NULL ? other : "");
	kl_fail(err, KL_EUNAVAIL, "the store's database is failing over");
	rc = -1;
out:
	PQclear(r);
	return rc;
}
