/* A throwaway PostgreSQL 15 cluster for unit tests: initdb into a fresh temporary directory, one
 * postgres on 127.0.0.1 on a free port (its unix socket in that directory too), trust
 * authentication, fsync off. PostgreSQL refuses to run as root, so as root its tools run as the
 * system user "postgres" (from Debian's postgresql package), which owns the directory.
 *
 * Cleaning up does not depend on the test finishing: pg_fixture_start forks a guard process that
 * waits for the test process to close a pipe, which happens on pg_fixture_stop and also when the
 * test dies in any way (an assert, a sanitizer's abort, SIGKILL from a ctest timeout). The guard
 * then stops every server of the fixture and removes the directory. Header-only. */
#ifndef KLUIS_TESTS_PG_FIXTURE_H
#define KLUIS_TESTS_PG_FIXTURE_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG_FIXTURE_BIN "/usr/lib/postgresql/15/bin"
#define PG_FIXTURE_USER "kluis"	/* the cluster's superuser */

struct pg_fixture {
	char dir[64];		/* owned by the server's user; "" until made */
	int port;		/* the primary: DIR/data */
	int standby_port;	/* a hot standby, once pg_fixture_standby_start made DIR/standby */
	char conninfo[256];	/* the primary, as the store should reach it */
	bool drop_root;		/* run the tools as uid/gid */
	uid_t uid;
	gid_t gid;
	int guard_fd;		/* the write end of the guard's pipe; -1 when none */
	pid_t guard;
};

/* A port on 127.0.0.1 that nothing listens on right now. 0 on failure. */
static inline int pg_fixture_free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t n = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &n) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static inline void pg_fixture_show_log(const struct pg_fixture *f, const char *name)
{
	char path[128], line[512];
	FILE *in;

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	if ((in = fopen(path, "r")) == NULL)
		return;
	fprintf(stderr, "--- %s\n", path);
	while (fgets(line, sizeof(line), in) != NULL)
		fputs(line, stderr);
	fclose(in);
}

/* Runs a PostgreSQL tool (argv[0] a name in PG_FIXTURE_BIN) as the server's user, in f->dir,
 * its output appended to DIR/tools.log. 0 when it exits 0. */
static inline int pg_fixture_run(const struct pg_fixture *f, const char *const *argv)
{
	char path[128], log[128];
	int status = 0, fd;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/%s", PG_FIXTURE_BIN, argv[0]);
	snprintf(log, sizeof(log), "%s/tools.log", f->dir);
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		if ((fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600)) < 0 ||
		    dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
			_exit(126);
		close(fd);
		if ((fd = open("/dev/null", O_RDONLY)) >= 0)
			dup2(fd, STDIN_FILENO);
		if (f->drop_root &&
		    (setgroups(0, NULL) != 0 || setgid(f->gid) != 0 || setuid(f->uid) != 0))
			_exit(126);
		if (chdir(f->dir) != 0)
			_exit(126);
		execv(path, (char *const *)argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static inline int pg_fixture_remove_entry(const char *path, const struct stat *sb, int flag,
					  struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Sends sig to the server of DIR/data (data: "data" or "standby") and to every process it
 * started (its backends and helpers): SIGSTOP freezes the whole server as a hung machine would,
 * with its sockets still open; SIGCONT thaws it. 0 when the postmaster was signalled. */
static inline int pg_fixture_signal(const struct pg_fixture *f, const char *data, int sig)
{
	char path[160], line[256];
	long pm = 0, pid, ppid;
	FILE *in;
	DIR *proc;
	struct dirent *d;

	snprintf(path, sizeof(path), "%s/%s/postmaster.pid", f->dir, data);
	if ((in = fopen(path, "r")) == NULL)
		return -1;
	if (fgets(line, sizeof(line), in) != NULL)
		pm = strtol(line, NULL, 10);
	fclose(in);
	if (pm <= 0)
		return -1;
	if (sig == SIGCONT && kill((pid_t)pm, sig) != 0)	/* the parent first when thawing */
		return -1;
	if ((proc = opendir("/proc")) != NULL) {
		while ((d = readdir(proc)) != NULL) {
			if ((pid = strtol(d->d_name, NULL, 10)) <= 0)
				continue;
			snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
			if ((in = fopen(path, "r")) == NULL)
				continue;
			/* pid (comm) state ppid: comm may hold spaces, so read after its ')' */
			ppid = 0;
			if (fgets(line, sizeof(line), in) != NULL && strrchr(line, ')') != NULL)
				sscanf(strrchr(line, ')') + 1, " %*c %ld", &ppid);
			fclose(in);
			if (ppid == pm)
				kill((pid_t)pid, sig);
		}
		closedir(proc);
	}
	return sig == SIGCONT || kill((pid_t)pm, sig) == 0 ? 0 : -1;
}

/* The guard: waits until every copy of the pipe's write end is closed, then cleans up (thawing
 * first a server a test left stopped: a frozen one would not stop). */
static inline void pg_fixture_guard(struct pg_fixture *f, int rfd)
{
	const char *const stop_primary[] = { "pg_ctl", "-D", "data", "-m", "immediate", "-w",
					     "stop", NULL };
	const char *const stop_standby[] = { "pg_ctl", "-D", "standby", "-m", "immediate",
					     "-w", "stop", NULL };
	char c;

	setsid();	/* out of the test's process group: a ^C there leaves it to clean up */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	while (read(rfd, &c, 1) != 0 && errno == EINTR)
		;
	pg_fixture_signal(f, "standby", SIGCONT);
	pg_fixture_signal(f, "data", SIGCONT);
	pg_fixture_run(f, stop_standby);
	pg_fixture_run(f, stop_primary);
	if (nftw(f->dir, pg_fixture_remove_entry, 8, FTW_DEPTH | FTW_PHYS) != 0)
		fprintf(stderr, "pg_fixture: cannot remove %s: %s\n", f->dir, strerror(errno));
	_exit(0);
}

static inline int pg_fixture_start_server(struct pg_fixture *f, const char *data, int port)
{
	char opts[256];
	const char *const argv[] = { "pg_ctl", "-D", data, "-l", "server.log", "-w", "-t", "30",
				     "-o", opts, "start", NULL };

	snprintf(opts, sizeof(opts),
		 "-c listen_addresses=127.0.0.1 -p %d -c unix_socket_directories=%s "
		 "-c fsync=off -c full_page_writes=off -c max_connections=200 "
		 "-c wal_retrieve_retry_interval=100",
		 port, f->dir);
	return pg_fixture_run(f, argv);
}

/* stop, start or restart the primary; stop and restart are fast shutdowns. "crash" stops it in
 * immediate mode: every backend exits at once without finishing anything or releasing its
 * locks, so no statement that was waiting can complete on the way down (in a fast shutdown a
 * statement waiting on a lock may be granted it as the holder exits, and answer). */
static inline int pg_fixture_ctl(struct pg_fixture *f, const char *action)
{
	bool crash = strcmp(action, "crash") == 0;
	const char *const argv[] = { "pg_ctl", "-D", "data", "-m", crash ? "immediate" : "fast", "-w",
				     "-t", "30", crash ? "stop" : action, NULL };

	if (strcmp(action, "start") == 0)
		return pg_fixture_start_server(f, "data", f->port);
	return pg_fixture_run(f, argv);
}

/* A connection string for the server on port, as the store's tests use it. */
static inline void pg_fixture_conninfo(int port, char *out, size_t n)
{
	snprintf(out, n,
		 "host=127.0.0.1 port=%d user=" PG_FIXTURE_USER " dbname=postgres "
		 "sslmode=disable gssencmode=disable",
		 port);
}

/* Runs sql on the server on port, in a session that may write even where the database's default
 * is read-only. 0 on success. */
static inline int pg_fixture_sql(int port, const char *sql)
{
	char ci[320];
	PGconn *c;
	PGresult *r = NULL;
	int rc = -1;

	pg_fixture_conninfo(port, ci, sizeof(ci) - 64);
	strcat(ci, " options='-c default_transaction_read_only=off'");
	c = PQconnectdb(ci);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "pg_fixture: connect: %s", PQerrorMessage(c));
		goto out;
	}
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
		fprintf(stderr, "pg_fixture: %s: %s", sql, PQerrorMessage(c));
		goto out;
	}
	rc = 0;
out:
	PQclear(r);
	PQfinish(c);
	return rc;
}

/* A deferred trigger on kluis_kv, outcome_slow, that holds in pg_sleep(60) the COMMIT of a
 * transaction writing key: the first such COMMIT only (first_only; its runs are counted in the
 * sequence outcome_runs), or every one. The store's tests kill or cut such a COMMIT. 0 on
 * success. */
static inline int pg_fixture_slow_commit(int port, const char *key, bool first_only)
{
	char sql[1024];

	snprintf(sql, sizeof(sql),
		 "DROP SEQUENCE IF EXISTS outcome_runs; CREATE SEQUENCE outcome_runs;"
		 "CREATE OR REPLACE FUNCTION outcome_slow() RETURNS trigger "
		 "LANGUAGE plpgsql AS $$ BEGIN IF NEW.key = '%s'::bytea AND "
		 "(nextval('outcome_runs') = 1 OR %s) THEN PERFORM pg_sleep(60); END IF; "
		 "RETURN NULL; END $$;"
		 "CREATE CONSTRAINT TRIGGER outcome_slow AFTER INSERT OR UPDATE ON "
		 "kluis_kv DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE "
		 "FUNCTION outcome_slow()",
		 key, first_only ? "false" : "true");
	return pg_fixture_sql(port, sql);
}

/* Runs a query on the server on port and copies the first value of its first row into out
 * ("" for NULL). 0 on success. */
static inline int pg_fixture_query(int port, const char *sql, char *out, size_t n)
{
	char ci[320];
	PGconn *c;
	PGresult *r = NULL;
	int rc = -1;

	pg_fixture_conninfo(port, ci, sizeof(ci));
	c = PQconnectdb(ci);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "pg_fixture: connect: %s", PQerrorMessage(c));
		goto out;
	}
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) < 1 || PQnfields(r) < 1) {
		fprintf(stderr, "pg_fixture: %s: %s", sql, PQerrorMessage(c));
		goto out;
	}
	snprintf(out, n, "%s", PQgetisnull(r, 0, 0) ? "" : PQgetvalue(r, 0, 0));
	rc = 0;
out:
	PQclear(r);
	PQfinish(c);
	return rc;
}

/* Makes the cluster and starts it. On failure the caller still calls pg_fixture_stop. */
static inline int pg_fixture_start(struct pg_fixture *f)
{
	const char *const initdb[] = { "initdb", "-D", "data", "-U", PG_FIXTURE_USER, "-A", "trust",
				       "-E", "UTF8", "--locale=C", "--no-sync", NULL };
	struct passwd *pw;
	int pipefd[2], tries, rc = -1;

	memset(f, 0, sizeof(*f));
	f->guard_fd = -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/kluis-pg-XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		fprintf(stderr, "pg_fixture: mkdtemp: %s\n", strerror(errno));
		f->dir[0] = '\0';
		goto out;
	}
	if (geteuid() == 0) {
		if ((pw = getpwnam("postgres")) == NULL) {
			fprintf(stderr, "pg_fixture: no user postgres to run PostgreSQL as "
					"(install postgresql-15)\n");
			goto out;
		}
		f->drop_root = true;
		f->uid = pw->pw_uid;
		f->gid = pw->pw_gid;
		if (chown(f->dir, f->uid, f->gid) != 0)
			goto out;
	}
	/* From here on the guard cleans up, whatever happens to this process. O_CLOEXEC: the
	 * servers must not hold the write end, or the guard would never see it closed. */
	if (pipe2(pipefd, O_CLOEXEC) != 0 || (f->guard = fork()) < 0)
		goto out;
	if (f->guard == 0) {
		close(pipefd[1]);
		pg_fixture_guard(f, pipefd[0]);
	}
	close(pipefd[0]);
	f->guard_fd = pipefd[1];
	if (pg_fixture_run(f, initdb) != 0) {
		pg_fixture_show_log(f, "tools.log");
		goto out;
	}
	for (tries = 0; tries < 5 && rc != 0; tries++)	/* the port may be taken in between */
		if ((f->port = pg_fixture_free_port()) > 0)
			rc = pg_fixture_start_server(f, "data", f->port);
	if (rc != 0) {
		pg_fixture_show_log(f, "tools.log");
		pg_fixture_show_log(f, "server.log");
		goto out;
	}
	pg_fixture_conninfo(f->port, f->conninfo, sizeof(f->conninfo));
out:
	return rc;
}

/* A hot standby of the primary in DIR/standby (pg_basebackup -R), started on a free port. */
static inline int pg_fixture_standby_start(struct pg_fixture *f)
{
	char port[16];
	const char *const basebackup[] = { "pg_basebackup", "-D", "standby", "-R", "-h",
					   "127.0.0.1", "-p", port, "-U", PG_FIXTURE_USER,
					   "-X", "stream", "-c", "fast", "--no-sync", NULL };
	int rc = -1, tries;

	snprintf(port, sizeof(port), "%d", f->port);
	if (pg_fixture_run(f, basebackup) != 0) {
		pg_fixture_show_log(f, "tools.log");
		goto out;
	}
	for (tries = 0; tries < 5 && rc != 0; tries++)
		if ((f->standby_port = pg_fixture_free_port()) > 0)
			rc = pg_fixture_start_server(f, "standby", f->standby_port);
	if (rc != 0)
		pg_fixture_show_log(f, "server.log");
out:
	return rc;
}

/* promote or stop (immediate: a crash) the standby, or stop (immediate) the primary. */
static inline int pg_fixture_failover_ctl(struct pg_fixture *f, const char *data,
					  const char *action)
{
	const char *const argv[] = { "pg_ctl", "-D", data, "-m", "immediate", "-w", "-t", "30",
				     action, NULL };

	return pg_fixture_run(f, argv);
}

/* Stops every server of the fixture and removes its directory (the guard does both). */
static inline void pg_fixture_stop(struct pg_fixture *f)
{
	int status;

	if (f->guard_fd >= 0) {
		close(f->guard_fd);
		f->guard_fd = -1;
		while (waitpid(f->guard, &status, 0) < 0 && errno == EINTR)
			;
	} else if (f->dir[0] != '\0') {
		rmdir(f->dir);	/* the guard never started: the directory is still empty */
	}
	f->dir[0] = '\0';
}

#endif
