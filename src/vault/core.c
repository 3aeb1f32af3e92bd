/* The deployment: opening or initialising its metadata (data key, tenant, admin credential,
 * default vault) and the background purge job. Owns the master key only for the moment it takes
 * to unwrap the data key; owns the admin token only while writing DIR/admin-token. Refuses,
 * never repairs, a data directory that does not add up. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crypto/rand.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/secbuf.h"
#include "vault/authcache.h"
#include "vault/certs.h"
#include "vault/core.h"
#include "vault/hint.h"
#include "vault/idem.h"
#include "vault/identity_internal.h"
#include "vault/internal.h"
#include "vault/keys.h"
#include "vault/masterkey.h"

#define META_FORMAT KEYSPACE_META_FORMAT
#define META_DATA_KEY VAULT_META_DATA_KEY
#define META_TENANT KEYSPACE_META_TENANT
#define META_ADMIN KEYSPACE_META_ADMIN
#define FORMAT_V1 "kluis-store-1"
#define KEYCACHE_SLOTS 4096
#define HINT_SLOTS 8192	/* latest-version hints: ~230 bytes each */

static int path_join(char *out, size_t n, const char *dir, const char *file, struct kl_err *err)
{
	if ((size_t)snprintf(out, n, "%s/%s", dir, file) >= n)
		return kl_fail(err, KL_EINVAL, "data directory path too long");
	return 0;
}

/* Writes data to path atomically with mode 0600: temp file, fsync, rename, fsync dir. */
static int write_private_file(const char *dir, const char *name, const void *data, size_t len,
			      struct kl_err *err)
{
	char path[4096], tmp[4096];
	int fd = -1, dfd = -1, rc = -1;

	char tmpname[256];

	snprintf(tmpname, sizeof(tmpname), ".%s.tmp", name);
	if (path_join(path, sizeof(path), dir, name, err) != 0 ||
	    path_join(tmp, sizeof(tmp), dir, tmpname, err) != 0)
		goto out;
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, data, len) != (ssize_t)len || fsync(fd) != 0) {
		kl_fail(err, KL_EINTERNAL, "cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (close(fd) != 0 || rename(tmp, path) != 0) {
		fd = -1;
		kl_fail(err, KL_EINTERNAL, "cannot write %s: %s", path, strerror(errno));
		goto out;
	}
	fd = -1;
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0)
		fsync(dfd);
	rc = 0;
out:
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	if (dfd >= 0)
		close(dfd);
	return rc;
}

/* The record of a vault that the deployment makes itself (the default vault): in the
 * deployment's own subscription (its tenant id) and resource group, with role assignments. */
static int vault_put_op(const struct vault_core *core, const char *name, int retention_days,
			struct buf *rec, char *key, struct kl_err *err)
{
	struct vault_info r;
	int rc;

	vault_info_init(&r);
	snprintf(r.name, sizeof(r.name), "%s", name);
	snprintf(r.subscription, sizeof(r.subscription), "%s", core->tenant);
	snprintf(r.resource_group, sizeof(r.resource_group), "%s", VAULT_DEFAULT_RG);
	snprintf(r.location, sizeof(r.location), "%s", VAULT_DEFAULT_LOCATION);
	r.created = r.updated = clock_now_s();
	r.retention_days = retention_days;
	r.rbac = true;
	if (!keyspace_vault(key, name))
		rc = kl_fail(err, KL_EINVAL, "vault name too long");
	else
		rc = vault_rec_encode(&r, rec, err);
	vault_info_clear(&r);
	return rc;
}

/* First start: a new data key under a (new) master key, tenant, admin token, default vault. */
static int initialise(struct vault_core *core, const struct vault_core_config *cfg,
		      struct kl_err *err)
{
	char mpath[4096], token[TOKEN_TEXT_LEN + 1], vkey[KEYBUF];
	struct seal_key *master = NULL;
	struct buf wrapped, vrec;
	int rc = -1;

	buf_init(&wrapped, 4096);
	buf_init(&vrec, 4096);
	memset(token, 0, sizeof(token));
	if (path_join(mpath, sizeof(mpath), cfg->data_dir, "master.key", err) != 0 ||
	    (master = seal_master_load(mpath, 1, err)) == NULL ||
	    (core->data_key = seal_key_generate(err)) == NULL ||
	    seal_key_wrap(master, core->data_key, &wrapped, err) != 0 ||
	    crypto_random_uuid(core->tenant, err) != 0 || token_new(token, err) != 0 ||
	    token_digest(token, strlen(token), core->admin_digest, err) != 0 ||
	    vault_put_op(core, cfg->default_vault, cfg->retention_days, &vrec, vkey, err) != 0)
		goto out;
	/* The token file first: if the metadata commit below fails, the next start redoes both. */
	token[strlen(token)] = '\n';
	if (write_private_file(cfg->data_dir, "admin-token", token, strlen(token), err) != 0)
		goto out;
	struct store_op ops[] = {
		{ .kind = STORE_CHECK, .key = META_FORMAT, .key_len = strlen(META_FORMAT), .version = 0 },
		{ .kind = STORE_PUT, .key = META_FORMAT, .key_len = strlen(META_FORMAT), .val = FORMAT_V1,
		  .val_len = strlen(FORMAT_V1) },
		{ .kind = STORE_PUT, .key = META_DATA_KEY, .key_len = strlen(META_DATA_KEY),
		  .val = wrapped.data, .val_len = wrapped.len },
		{ .kind = STORE_PUT, .key = META_TENANT, .key_len = strlen(META_TENANT), .val = core->tenant,
		  .val_len = strlen(core->tenant) },
		{ .kind = STORE_PUT, .key = META_ADMIN, .key_len = strlen(META_ADMIN),
		  .val = core->admin_digest, .val_len = sizeof(core->admin_digest) },
		{ .kind = STORE_PUT, .key = vkey, .key_len = strlen(vkey), .val = vrec.data,
		  .val_len = vrec.len },
	};
	if (store_txn(core->st, ops, sizeof(ops) / sizeof(ops[0]), err) != 0)
		goto out;
	LOG_INFO(NULL, "initialised a new deployment in %s (admin token in %s/admin-token)",
		 cfg->data_dir, cfg->data_dir);
	rc = 0;
out:
	secure_wipe(token, sizeof(token));
	seal_key_free(master);
	buf_clear(&wrapped);
	buf_clear(&vrec);
	return rc;
}

static int load_meta(struct store *st, const char *key, struct buf *val, struct kl_err *err)
{
	if (store_get(st, key, strlen(key), val, NULL, err) == 0)
		return 0;
	if (err->code == KL_ENOTFOUND)
		kl_fail(err, KL_ECORRUPT, "the store lacks its %s record: the data directory is damaged",
			key);
	return -1;
}

/* The admin token file, when there, must be private like the keys: it is a bearer credential. */
static int check_admin_token_mode(const char *dir, struct kl_err *err)
{
	char path[4096];
	struct stat st;

	if (path_join(path, sizeof(path), dir, "admin-token", err) != 0)
		return -1;
	if (stat(path, &st) == 0 && (st.st_mode & 077) != 0)
		return kl_fail(err, KL_EFORBIDDEN, "%.120s is readable by group or others (mode "
			       "%03o): chmod 600 it", path, (unsigned)(st.st_mode & 0777));
	return 0;
}

/* Later starts: everything must be there and the data key must open under the master key. */
static int load(struct vault_core *core, const struct vault_core_config *cfg, struct buf *format,
		struct kl_err *err)
{
	struct buf val;
	int rc = -1;

	buf_init(&val, 4096);
	if (format->len != strlen(FORMAT_V1) || memcmp(format->data, FORMAT_V1, format->len) != 0) {
		kl_fail(err, KL_ECORRUPT, "the store has an unknown format (%.32s)", buf_cstr(format));
		goto out;
	}
	if (check_admin_token_mode(cfg->data_dir, err) != 0 ||
	    load_meta(core->st, META_DATA_KEY, &val, err) != 0 ||
	    masterkey_open_data_key(core, cfg->data_dir, val.data, val.len, err) != 0)
		goto out;
	buf_reset(&val);
	if (load_meta(core->st, META_TENANT, &val, err) != 0)
		goto out;
	if (val.len != 36) {
		kl_fail(err, KL_ECORRUPT, "the stored tenant id is damaged");
		goto out;
	}
	memcpy(core->tenant, val.data, 36);
	core->tenant[36] = '\0';
	buf_reset(&val);
	if (load_meta(core->st, META_ADMIN, &val, err) != 0)
		goto out;
	if (val.len != sizeof(core->admin_digest)) {
		kl_fail(err, KL_ECORRUPT, "the stored admin credential is damaged");
		goto out;
	}
	memcpy(core->admin_digest, val.data, val.len);
	rc = 0;
out:
	buf_clear(&val);
	return rc;
}

/* A --default-vault that names a vault not created yet gets created. */
static int ensure_default_vault(struct vault_core *core, const struct vault_core_config *cfg,
				struct kl_err *err)
{
	char vkey[KEYBUF];
	struct buf vrec;
	int rc;

	if (vault_core_vault_exists(core, cfg->default_vault, err) == 1)
		return 0;
	if (err->code != KL_OK)
		return -1;
	buf_init(&vrec, 4096);
	rc = vault_put_op(core, cfg->default_vault, cfg->retention_days, &vrec, vkey, err);
	if (rc == 0) {
		struct store_op ops[] = {
			{ .kind = STORE_CHECK, .key = vkey, .key_len = strlen(vkey), .version = 0 },
			{ .kind = STORE_PUT, .key = vkey, .key_len = strlen(vkey), .val = vrec.data,
			  .val_len = vrec.len },
		};
		rc = store_txn(core->st, ops, 2, err);
		if (rc != 0 && err->code == KL_ECONFLICT) {
			kl_err_clear(err);
			rc = 0;
		}
	}
	buf_clear(&vrec);
	return rc;
}

/* This node's id, kept in DIR/node-id so that a restarted node is the same node (it takes its
 * jobs lease back at once); made on first start. */
static int load_node_id(struct vault_core *core, const char *dir, struct kl_err *err)
{
	char path[4096], text[64];
	FILE *f;
	size_t n = 0;

	if (path_join(path, sizeof(path), dir, "node-id", err) != 0)
		return -1;
	if ((f = fopen(path, "re")) != NULL) {
		n = fread(text, 1, sizeof(text) - 1, f);
		fclose(f);
		while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
			n--;
		if (n != 36)
			return kl_fail(err, KL_ECORRUPT, "%s is not a node id: remove it to make a new one",
				       path);
		memcpy(core->node_id, text, 36);
		core->node_id[36] = '\0';
		return 0;
	}
	if (errno != ENOENT)
		return kl_fail(err, KL_EINTERNAL, "cannot read %s: %s", path, strerror(errno));
	if (crypto_random_uuid(core->node_id, err) != 0)
		return -1;
	memcpy(text, core->node_id, 36);
	text[36] = '\n';
	return write_private_file(dir, "node-id", text, 37, err);
}

struct vault_core *vault_core_open(const struct vault_core_config *cfg, struct store *st,
				   struct kl_err *err)
{
	struct vault_core *core = NULL, *ret = NULL;
	struct buf format;

	buf_init(&format, 256);
	if (cfg->retention_days < 7 || cfg->retention_days > 90) {
		kl_fail(err, KL_EINVAL, "retention must be 7 to 90 days");
		store_close(st);
		goto out;
	}
	if ((core = calloc(1, sizeof(*core))) == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		store_close(st);
		goto out;
	}
	core->st = st;	/* vault_core_close closes it from here on */
	pthread_mutex_init(&core->job_mu, NULL);
	pthread_mutex_init(&core->master_mu, NULL);
	pthread_cond_init(&core->job_cv, NULL);
	core->purge_interval_s = cfg->purge_interval_s > 0 ? cfg->purge_interval_s : 60;
	core->cert_issue_delay_s = cfg->cert_issue_delay_s > 0 ? cfg->cert_issue_delay_s : 0;
	core->mode_poll_ms = cfg->mode_poll_ms > 0 ? cfg->mode_poll_ms : 1000;
	core->forced_read_only = cfg->read_only;
	atomic_init(&core->mode, cfg->read_only ? VAULT_MODE_READ_ONLY : VAULT_MODE_READ_WRITE);
	atomic_init(&core->storage_role, VAULT_STORAGE_PRIMARY);
	if ((core->data_dir = strdup(cfg->data_dir)) == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	if (crypto_random(core->id_base, sizeof(core->id_base), err) != 0 ||
	    load_node_id(core, cfg->data_dir, err) != 0)
		goto out;
	if ((core->hints = hint_new(HINT_SLOTS)) == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	if ((core->keys = keycache_new(KEYCACHE_SLOTS)) == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	core->id_lifetime_s = IDENTITY_LIFETIME_DEFAULT_S;
	/* The caches' change epoch is watched before any write, and before any thread shares st. */
	if (authcache_watch(st, err) != 0 || (core->auth = authcache_new(err)) == NULL)
		goto out;
	if ((core->signkeys = signkeys_new(err)) == NULL || (core->replay = replay_mem_new(err)) == NULL)
		goto out;
	if (store_get(st, META_FORMAT, strlen(META_FORMAT), &format, NULL, err) == 0) {
		if (load(core, cfg, &format, err) != 0)
			goto out;
	} else if (err->code == KL_ENOTFOUND) {
		kl_err_clear(err);
		if (initialise(core, cfg, err) != 0)
			goto out;
	} else {
		goto out;
	}
	vault_mode_refresh(core);	/* the mode before the first request */
	/* A read-only node (a standby's) serves what is there and creates nothing. */
	if (vault_core_mode(core) == VAULT_MODE_READ_WRITE && ensure_default_vault(core, cfg, err) != 0)
		goto out;
	/* The fence from here on: a first start's own writes (above) come before any promotion. */
	if (fence_open(core, cfg, err) != 0 || authcache_start(core, err) != 0 ||
	    fence_start(core, err) != 0)
		goto out;
	ret = core;
	core = NULL;
out:
	vault_core_close(core);
	buf_clear(&format);
	return ret;
}

/* The writing jobs: purge what is due, rotate keys whose policy says so, run the lifetime
 * actions of certificate policies, forget client assertions past their exp and idempotency
 * records past their retention, and the store's own housekeeping. */
static void run_jobs(struct vault_core *core)
{
	struct kl_err err = { 0 };
	size_t n;

	if (obj_purge_due(core, clock_now_s(), &n, &err) != 0)
		LOG_WARN(NULL, "purge of due deleted objects failed: %s", err.msg);
	else if (n > 0)
		LOG_INFO(NULL, "purged %zu deleted objects whose retention ended", n);
	kl_err_clear(&err);
	if (vaults_purge_due(core, clock_now_s(), &n, &err) != 0)
		LOG_WARN(NULL, "purge of deleted vaults failed: %s", err.msg);
	else if (n > 0)
		LOG_INFO(NULL, "purged %zu deleted vaults whose retention ended", n);
	kl_err_clear(&err);
	if (key_rotate_due(core, clock_now_s(), &n, &err) != 0)
		LOG_WARN(NULL, "automatic key rotation failed: %s", err.msg);
	else if (n > 0)
		LOG_INFO(NULL, "rotated %zu keys as their rotation policies say", n);
	kl_err_clear(&err);
	if (cert_lifetime_due(core, clock_now_s(), &n, &err) != 0)
		LOG_WARN(NULL, "certificate lifetime actions failed: %s", err.msg);
	else if (n > 0)
		LOG_INFO(NULL, "ran %zu certificate lifetime actions", n);
	kl_err_clear(&err);
	if (identity_replay_sweep(core, clock_now_s(), &err) != 0)
		LOG_WARN(NULL, "removal of expired client assertion records failed: %s", err.msg);
	kl_err_clear(&err);
	if (idem_sweep(core, clock_now_s(), &n, &err) != 0)
		LOG_WARN(NULL, "removal of expired idempotency records failed: %s", err.msg);
	else if (n > 0)
		LOG_DEBUG(NULL, "removed %zu expired idempotency records", n);
	kl_err_clear(&err);
	if (store_maintain(core->st, &err) != 0)
		LOG_WARN(NULL, "the store's housekeeping failed: %s", err.msg);
}

/* The background thread: polls the storage's role every mode_poll_ms (the mode follows it),
 * and every purge_interval_s runs the writing jobs, only in read-write mode and only while this
 * node holds the jobs lease, so that one node of a cluster at a time runs them. */
static void *background(void *arg)
{
	struct vault_core *core = arg;
	struct timespec until;
	uint64_t next_jobs = 0, now_ms;

	pthread_mutex_lock(&core->job_mu);
	while (!core->job_stop) {
		pthread_mutex_unlock(&core->job_mu);
		vault_mode_refresh(core);
		now_ms = clock_mono_ms();
		if (now_ms >= next_jobs) {
			next_jobs = now_ms + (uint64_t)core->purge_interval_s * 1000;
			if (vault_core_writable(core) &&
			    vault_jobs_lease(core, clock_now_s(), 3 * (int64_t)core->purge_interval_s))
				run_jobs(core);
		}
		pthread_mutex_lock(&core->job_mu);
		until = clock_after_ms(CLOCK_REALTIME, (unsigned)core->mode_poll_ms);
		while (!core->job_stop &&
		       pthread_cond_timedwait(&core->job_cv, &core->job_mu, &until) == 0)
			;
	}
	pthread_mutex_unlock(&core->job_mu);
	return NULL;
}

void vault_core_on_job_event(struct vault_core *core, vault_job_event_fn fn, void *arg)
{
	core->job_event = fn;
	core->job_event_arg = arg;
}

int vault_core_start_jobs(struct vault_core *core, struct kl_err *err)
{
	int rc;

	if (core->job_running)
		return 0;
	core->job_stop = false;
	rc = pthread_create(&core->job, NULL, background, core);
	if (rc != 0)
		return kl_fail(err, KL_EINTERNAL, "cannot start the purge job: %s", strerror(rc));
	core->job_running = true;
	return 0;
}

void vault_core_close(struct vault_core *core)
{
	if (core == NULL)
		return;
	authcache_stop(core);	/* its poller reads the store */
	fence_close(core);	/* so does the fence */
	if (core->job_running) {
		pthread_mutex_lock(&core->job_mu);
		core->job_stop = true;
		pthread_cond_broadcast(&core->job_cv);
		pthread_mutex_unlock(&core->job_mu);
		pthread_join(core->job, NULL);
		vault_jobs_release(core);	/* another node need not wait for it to expire */
	}
	pthread_cond_destroy(&core->job_cv);
	pthread_mutex_destroy(&core->job_mu);
	pthread_mutex_destroy(&core->master_mu);
	free(core->data_dir);
	store_close(core->st);
	keycache_free(core->keys);
	hint_free(core->hints);
	signkeys_free(core->signkeys);
	replay_mem_free(core->replay);
	authcache_free(core->auth);
	seal_key_free(core->data_key);
	secure_wipe(core, sizeof(*core));
	free(core);
}

const char *vault_core_tenant(const struct vault_core *core)
{
	return core->tenant;
}

void vault_core_trust_oidc(struct vault_core *core, const struct jwt_keyset *keys,
			   const char *issuer, const char *audience)
{
	core->oidc_keys = keys;
	core->oidc_issuer = issuer;
	core->oidc_audience = audience;
}

bool vault_core_token_ok(const struct vault_core *core, const char *tok, size_t tok_len)
{
	return token_matches(tok, tok_len, core->admin_digest);
}

int vault_core_vault_exists(struct vault_core *core, const char *name, struct kl_err *err)
{
	struct vault v;

	if (vault_open(core, name, &v, err) == 0)
		return 1;
	if (err->code != KL_ENOTFOUND)
		return -1;
	kl_err_clear(err);
	return 0;
}

void vault_core_request_id(struct vault_core *core, char out[37])
{
	static const char hex[] = "0123456789abcdef";
	uint64_t seq = atomic_fetch_add(&core->id_seq, 1);
	unsigned char b[16];
	size_t i, o;

	memcpy(b, core->id_base, sizeof(b));
	for (i = 0; i < 8; i++)
		b[8 + i] ^= (unsigned char)(seq >> (8 * (7 - i)));
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);	/* version 4 */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);	/* RFC 4122 variant */
	/* By hand: a printf of sixteen conversions was the costliest call left on a GET. */
	for (i = 0, o = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 15];
	}
	out[o] = '\0';
}

const char *vault_core_storage(const struct vault_core *core)
{
	return core->st->vt->name;
}

void vault_core_keycache_stats(const struct vault_core *core, uint64_t *hits, uint64_t *misses)
{
	keycache_stats(core->keys, hits, misses);
}

void vault_core_authcache_stats(const struct vault_core *core, uint64_t *hits, uint64_t *misses)
{
	authcache_stats(core, hits, misses);
}
