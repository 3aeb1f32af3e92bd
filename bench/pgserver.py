"""The benchmark's private PostgreSQL 15 server, for kluisd nodes on PostgreSQL (bench/scaleout.py).

initdb into a fresh temporary directory, postgres on 127.0.0.1 on a free port (its unix socket in
that directory), trust authentication on loopback, one database per kluisd data dir. Unlike the
e2e harness (tests/e2e/py/harness.py, which this follows) the server is durable, as a
deployment's would be: fsync, synchronous_commit and full_page_writes keep their defaults, so
that a SET on PostgreSQL is compared with a SET on LMDB that syncs too. pg_stat_statements is
loaded, so that the statements a request costs can be counted (counters()). PostgreSQL refuses to
run as root: as root its tools run as the system user postgres (Debian's postgresql-15 package).

A guard shell in a session of its own (setsid -f) polls this process and, once it is gone however
it ended, stops the server (immediate shutdown) and removes the directory; stop() does both
first when the run ends normally, and the guard then finds nothing to do. Owns that directory and
that server only; never touches another PostgreSQL.
"""

import hashlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile

PG_BIN = "/usr/lib/postgresql/15/bin"
PG_USER = "kluis"  # the private server's superuser

_GUARD = """trap '' INT TERM HUP
pid=$1 dir=$2; shift 2
while kill -0 "$pid" 2>/dev/null; do sleep 0.5; done
"$@" %s/pg_ctl -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1
[ -n "$KLUIS_KEEP" ] || rm -rf "$dir"
""" % PG_BIN


class PgError(Exception):
    """PostgreSQL could not be set up: the scenarios that need it cannot run."""


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def available():
    """None when PostgreSQL 15's server tools are installed, else why not."""
    for tool in ("initdb", "pg_ctl", "postgres", "psql"):
        if not os.access(os.path.join(PG_BIN, tool), os.X_OK):
            return f"{PG_BIN}/{tool} missing (install postgresql-15)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "no system user postgres to run PostgreSQL as (install postgresql-15)"
    return None


class PgServer:
    def __init__(self, shared_buffers_mb=128, max_connections=200):
        self.dir = None
        self.port = None
        self.shared_buffers_mb = shared_buffers_mb
        self.max_connections = max_connections
        self._databases = {}
        self._as_pg = []
        if os.geteuid() == 0:
            self._as_pg = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"]

    def log_tail(self, name="server.log", n=3000):
        try:
            with open(os.path.join(self.dir, name), "rb") as f:
                return f.read()[-n:].decode("utf-8", "replace")
        except (OSError, TypeError):
            return ""

    def _tool(self, *argv, timeout=120):
        with open(os.path.join(self.dir, "tools.log"), "ab") as log:
            return subprocess.run(self._as_pg + [os.path.join(PG_BIN, argv[0]), *argv[1:]],
                                  cwd=self.dir, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                  timeout=timeout).returncode

    def start(self):
        why = available()
        if why:
            raise PgError(why)
        self.dir = tempfile.mkdtemp(prefix="kbench-pg-")
        if self._as_pg:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        subprocess.run(["setsid", "-f", "sh", "-c", _GUARD, "kbench-pg-guard", str(os.getpid()),
                        self.dir, *self._as_pg], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        if self._tool("initdb", "-D", "data", "-U", PG_USER, "-A", "trust", "-E", "UTF8",
                      "--locale=C", "--no-sync") != 0:
            raise PgError(f"initdb failed: {self.log_tail('tools.log')}")
        for _ in range(5):  # the port may be taken between _free_port() and postgres' bind
            port = _free_port()
            opts = (f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={self.dir}"
                    f" -c max_connections={self.max_connections}"
                    f" -c shared_buffers={self.shared_buffers_mb}MB"
                    " -c shared_preload_libraries=pg_stat_statements"
                    " -c pg_stat_statements.track=all")
            if self._tool("pg_ctl", "-D", "data", "-l", "server.log", "-w", "-t", "60",
                          "-o", opts, "start") == 0:
                self.port = port
                self.psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
                return self
        raise PgError(f"postgres did not start: {self.log_tail('tools.log')} "
                      f"{self.log_tail()}")

    def psql(self, sql, db="postgres"):
        r = subprocess.run([os.path.join(PG_BIN, "psql"), "-X", "-A", "-t", "-q",
                            "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(self.port),
                            "-U", PG_USER, "-d", db, "-c", sql],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        if r.returncode != 0:
            raise PgError(f"psql {sql!r}: {r.stderr.decode('utf-8', 'replace').strip()}")
        return r.stdout.decode().strip()

    def conninfo(self, data_dir):
        """A libpq conninfo for the database of a kluisd data dir, made on first use."""
        name = self.database(data_dir)
        return f"host=127.0.0.1 port={self.port} dbname={name} user={PG_USER} sslmode=disable"

    def database(self, data_dir):
        """The name of the database of a kluisd data dir, made on first use."""
        name = "kluis_" + hashlib.sha256(os.path.realpath(data_dir).encode()).hexdigest()[:24]
        if name not in self._databases:
            self.psql(f'CREATE DATABASE "{name}"')
            self._databases[name] = True
        return name

    def statements(self, data_dir):
        """How many statements the database of data_dir's kluisd has executed so far
        (pg_stat_statements: counted as each ends, BEGIN and COMMIT included)."""
        name = self.database(data_dir)
        row = self.psql("SELECT coalesce(sum(calls), 0) FROM pg_stat_statements s JOIN "
                        f"pg_database d ON d.oid = s.dbid WHERE d.datname = '{name}'")
        try:
            return int(row)
        except ValueError as e:
            raise PgError(f"reading pg_stat_statements for {name}: {row!r}") from e

    def postmaster_pid(self):
        try:
            with open(os.path.join(self.dir, "data", "postmaster.pid"), encoding="ascii") as f:
                return int(f.readline())
        except (OSError, ValueError, TypeError):
            return None

    def settings(self):
        """The settings that decide a write's cost, as the server runs with them."""
        out = {}
        for name in ("fsync", "synchronous_commit", "full_page_writes", "wal_sync_method",
                     "shared_buffers", "server_version"):
            try:
                out[name] = self.psql(f"SHOW {name}")
            except PgError:
                out[name] = None
        return out

    def stop(self):
        if self.dir is None:
            return
        try:
            if self.port is not None:
                self._tool("pg_ctl", "-D", "data", "-m", "fast", "-w", "-t", "60", "stop")
        finally:
            if not os.environ.get("KLUIS_KEEP"):
                shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
            self.port = None
