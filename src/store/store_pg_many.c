/* store_pg_many.c owns store_get_many on PostgreSQL: grouped reads. A GET is one round trip, and
 * on this backend a round trip costs more in context switches and socket calls (kluisd's worker
 * waits, the server's backend wakes, both go back to sleep) than the statement itself. So
 * callers that arrive while a read is in flight queue up, and the next group's leader (the first
 * of them) sends every queued caller's keys in one statement (key = ANY($1)), then hands each
 * caller its own rows. A caller alone leads at once: no added wait.
 *
 * Every caller's keys are read by one statement, so in one snapshot, which started after the
 * caller arrived: a read still sees every write acknowledged before it was asked. One group runs
 * at a time; a group holds at most GROUP_KEYS keys. A statement that fails fails each caller of its
 * group with the same error; a value too large for one caller's buffer fails that caller only.
 * Never logs or copies a key or a value anywhere but into the caller's buffers. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_pg.h"
#include "store/store_pg_internal.h"

#define GROUP_KEYS 64	/* keys of one statement: about 32 GETs (head and version each) */

struct pg_reader {
	struct store_read *reads;
	size_t n;
	int rc;
	struct kl_err err;
	bool done;		/* rc and err are set */
	bool lead;		/* handed the lead: run the next group */
	pthread_cond_t cv;	/* signalled when done or lead is set */
	struct pg_reader *next;
};

void store_pg_many_init(struct store_pg *s)
{
	pthread_mutex_init(&s->read_mu, NULL);
	s->read_head = s->read_tail = NULL;
	s->read_leading = false;
	atomic_init(&s->read_groups, 0);
	atomic_init(&s->read_calls, 0);
}

void store_pg_many_destroy(struct store_pg *s)
{
	pthread_mutex_destroy(&s->read_mu);
}

/* Takes the group off the head of the queue (read_mu held): the leader, which is at the head,
 * and those after it while their keys fit; its last member's next becomes NULL. */
static void take_group(struct store_pg *s, size_t *n_keys)
{
	struct pg_reader *last = s->read_head;

	*n_keys = last->n;
	while (last->next != NULL && *n_keys + last->next->n <= GROUP_KEYS) {
		last = last->next;
		*n_keys += last->n;
	}
	s->read_head = last->next;
	if (s->read_head == NULL)
		s->read_tail = NULL;
	last->next = NULL;
}

/* Gives row's key, value and version to every read of the group that asked for that key. */
static void deliver_row(struct pg_reader *group, const PGresult *r, int row, uint64_t ver)
{
	const char *key = PQgetvalue(r, row, 0);
	size_t key_len = (size_t)PQgetlength(r, row, 0), i;
	struct pg_reader *m;

	for (m = group; m != NULL; m = m->next) {
		for (i = 0; i < m->n && m->rc == 0; i++) {
			struct store_read *rd = &m->reads[i];

			if (rd->found || store_pg_key_cmp(key, key_len, rd->key, rd->key_len) != 0)
				continue;
			if (buf_append(rd->val, PQgetvalue(r, row, 1), (size_t)PQgetlength(r, row, 1),
				       &m->err) != 0) {
				m->rc = -1;	/* this caller's buffer: the others go on */
				break;
			}
			rd->found = true;
			rd->version = ver;
		}
	}
}

/* Runs one statement for every key of the group and sets each member's rc and err. */
static void run_group(struct store_pg *s, struct pg_reader *group, size_t n_keys)
{
	struct kl_err err = { 0 };
	struct pg_reader *m;
	struct buf arr;
	const void *p[1];
	size_t len[1], i;
	PGresult *r = NULL;
	uint64_t ver;
	int row, rc = -1;

	buf_init(&arr, (size_t)20 + n_keys * (4 + STORE_KEY_MAX));
	if (store_pg_array_begin(&arr, BYTEA_OID, n_keys, &err) != 0)
		goto out;
	for (m = group; m != NULL; m = m->next)
		for (i = 0; i < m->n; i++)
			if (store_pg_array_elem(&arr, m->reads[i].key, m->reads[i].key_len, &err) != 0)
				goto out;
	p[0] = arr.data;
	len[0] = arr.len;
	if (store_pg_run_read(s, ST_GET_MANY, 1, p, len, "get", true, &r, &err) != 0)
		goto out;
	atomic_fetch_add(&s->read_groups, 1);
	for (row = 0; row < PQntuples(r); row++) {
		if (store_pg_row_version(r, row, 2, &ver, &err) != 0)
			goto out;
		deliver_row(group, r, row, ver);
	}
	rc = 0;
out:
	for (m = group; m != NULL; m = m->next) {
		if (rc != 0) {
			m->rc = -1;
			m->err = err;
		}
		if (m->rc != 0)	/* nothing half read reaches a caller that failed */
			for (i = 0; i < m->n; i++)
				m->reads[i].found = false;
	}
	PQclear(r);
	buf_clear(&arr);
}

int store_pg_get_many(struct store *st, struct store_read *reads, size_t n, struct kl_err *err)
{
	struct store_pg *s = (struct store_pg *)st;
	struct pg_reader me = { .reads = reads, .n = n };
	struct pg_reader *group, *m, *next;
	size_t n_keys;

	pthread_cond_init(&me.cv, NULL);
	pthread_mutex_lock(&s->read_mu);
	if (s->read_tail != NULL)
		s->read_tail->next = &me;
	else
		s->read_head = &me;
	s->read_tail = &me;
	if (!s->read_leading) {
		s->read_leading = true;	/* nobody leads, so the queue was empty: me at its head */
		me.lead = true;
	}
	while (!me.done && !me.lead)
		pthread_cond_wait(&me.cv, &s->read_mu);
	if (me.done)
		goto out;
	/* The leader is at the head of the queue: take a group, run it without the lock. */
	group = s->read_head;
	take_group(s, &n_keys);
	pthread_mutex_unlock(&s->read_mu);
	run_group(s, group, n_keys);
	atomic_fetch_add(&s->read_calls, 1);
	pthread_mutex_lock(&s->read_mu);
	for (m = group; m != NULL; m = next) {
		next = m->next;	/* m may be gone once signalled */
		m->done = true;
		if (m != &me) {
			atomic_fetch_add(&s->read_calls, 1);
			pthread_cond_signal(&m->cv);
		}
	}
	if (s->read_head != NULL) {
		s->read_head->lead = true;
		pthread_cond_signal(&s->read_head->cv);
	} else {
		s->read_leading = false;
	}
out:
	pthread_mutex_unlock(&s->read_mu);
	pthread_cond_destroy(&me.cv);
	if (me.rc != 0)
		*err = me.err;
	return me.rc;
}

void store_pg_read_stats(struct store *st, struct store_pg_read_stats *out)
{
	struct store_pg *s = (struct store_pg *)st;
	const struct pg_reader *m;

	pthread_mutex_lock(&s->read_mu);
	out->calls = atomic_load(&s->read_calls);
	out->statements = atomic_load(&s->read_groups);
	out->running = s->read_leading;
	out->waiting = 0;
	for (m = s->read_head; m != NULL; m = m->next)
		out->waiting++;
	pthread_mutex_unlock(&s->read_mu);
}
