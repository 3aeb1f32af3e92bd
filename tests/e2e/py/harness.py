"""The e2e harness for the Python suites: a real kluisd on a free loopback port, fresh data dir.

Run with Debian's interpreter: /usr/bin/python3 -m unittest discover -s tests/e2e/py -v
(KLUISD names the binary; default build/kluisd).

Every server started in one process shares one CA: the first server creates it, later data dirs
are seeded with its ca.pem and ca-key.pem before their first start (kluisd reuses an existing CA
and issues its server certificate from it). REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE are set to it
(the machine presets them to the system bundle), and clients also get connection_verify=<ca>.

With KLUIS_E2E_STORE=postgres every kluisd keeps its store in PostgreSQL instead of LMDB: the first
server of the process starts a private PostgreSQL 15 server (see _Postgres), each data dir gets a
database of its own (a restart on the same dir finds its data again), and the server is stopped
and its directory removed when the process exits, however it exits.
"""

import atexit
import base64
import ctypes
import hashlib
import http.client
import json
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
KLUISD = os.environ.get("KLUISD") or os.path.join(REPO, "build", "kluisd")
STARTUP_S = 20.0
STORE = os.environ.get("KLUIS_E2E_STORE") or "lmdb"  # "lmdb" or "postgres"
if STORE not in ("lmdb", "postgres"):
    raise RuntimeError(f"KLUIS_E2E_STORE={STORE!r}: expected lmdb or postgres")
PG_BIN = "/usr/lib/postgresql/15/bin"
PG_USER = "kluis"  # the private server's superuser

_shared_ca_dir = None  # DIR/tls of the first server of this process, kept while it lives
_ca_keeper = None


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The guard of a private PostgreSQL server: a shell in a session of its own, forked off by
# `setsid -f` so that it is not in the tree of this process (a ctest timeout kills that tree).
# It polls this process (a pipe's end of file would be more immediate, but node closes a child's
# stdin pipe when the child, setsid, exits) and once it is gone, however it ended (even SIGKILL),
# stops the server (an immediate shutdown) and removes its directory. $1 is this process's pid,
# $2 the directory, the rest the command that runs a tool as the server's user (none unless root).
_PG_GUARD = """trap '' INT TERM HUP
pid=$1 dir=$2; shift 2
while kill -0 "$pid" 2>/dev/null; do sleep 0.5; done
"$@" %s/pg_ctl -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1
[ -n "$KLUIS_KEEP" ] || rm -rf "$dir"
""" % PG_BIN


class _Postgres:
    """A private PostgreSQL 15 server for the servers of this process (KLUIS_E2E_STORE=postgres):
    initdb into a fresh temporary directory, postgres on 127.0.0.1 on a free port, its unix socket
    in that directory too, trust authentication, fsync and synchronous_commit off. PostgreSQL
    refuses to run as root, so as root its tools run as the system user postgres (from Debian's
    postgresql package), which then owns the directory. One database per kluisd data dir.

    stop() (at exit) stops the server and removes the directory; the guard (_PG_GUARD) does both
    when this process dies without running it, and else finds nothing left to do."""

    def __init__(self):
        self.dir = None
        self.port = None
        self._databases = {}  # name -> oid
        self._as_pg = []
        if os.geteuid() == 0:
            self._as_pg = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"]

    def _log_tail(self, name, n=6000):
        try:
            with open(os.path.join(self.dir, name), "rb") as f:
                return f.read()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    def _tool(self, *argv):
        """Runs a PostgreSQL tool as the server's user, in DIR, output to DIR/tools.log."""
        with open(os.path.join(self.dir, "tools.log"), "ab") as log:
            return subprocess.run(self._as_pg + [os.path.join(PG_BIN, argv[0]), *argv[1:]],
                                  cwd=self.dir, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                  timeout=120).returncode

    def start(self):
        self.dir = tempfile.mkdtemp(prefix="kluis-e2e-pg-", dir="/tmp" if self._as_pg else None)
        if self._as_pg:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError("no user postgres to run PostgreSQL as (install postgresql-15)")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        # From here on the guard cleans up, whatever happens to this process.
        subprocess.run(["setsid", "-f", "sh", "-c", _PG_GUARD, "kluis-pg-guard", str(os.getpid()),
                        self.dir, *self._as_pg], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        if self._tool("initdb", "-D", "data", "-U", PG_USER, "-A", "trust", "-E", "UTF8",
                      "--locale=C", "--no-sync") != 0:
            raise RuntimeError(f"initdb failed:\n{self._log_tail('tools.log')}")
        for _ in range(5):  # the port may be taken between free_port() and postgres' bind
            port = free_port()
            opts = (f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={self.dir}"
                    " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
                    " -c max_connections=200 -c shared_buffers=16MB")
            if self._tool("pg_ctl", "-D", "data", "-l", "server.log", "-w", "-t", "30",
                          "-o", opts, "start") == 0:
                self.port = port
                return self
        raise RuntimeError(f"postgres did not start:\n{self._log_tail('tools.log')}\n"
                           f"{self._log_tail('server.log')}")

    def _psql(self, sql):
        r = subprocess.run([os.path.join(PG_BIN, "psql"), "-X", "-A", "-t", "-q",
                            "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(self.port),
                            "-U", PG_USER, "-d", "postgres", "-c", sql],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"psql {sql!r}: {r.stderr.decode('utf-8', 'replace')}")
        return r.stdout.decode().strip()

    def database(self, data_dir):
        """The database of a kluisd data dir (made on first use); (name, oid)."""
        name = "kluis_" + hashlib.sha256(os.path.realpath(data_dir).encode()).hexdigest()[:24]
        if name not in self._databases:
            oid = self._psql(f"SELECT oid FROM pg_database WHERE datname = '{name}'")
            if not oid:
                # FILE_COPY: no WAL record of the whole template, so faster and a smaller pg_wal.
                self._psql(f'CREATE DATABASE "{name}" STRATEGY FILE_COPY')
                oid = self._psql(f"SELECT oid FROM pg_database WHERE datname = '{name}'")
            self._databases[name] = oid
        return name, self._databases[name]

    def conninfo(self, data_dir):
        name, _ = self.database(data_dir)
        return f"host=127.0.0.1 port={self.port} dbname={name} user={PG_USER} sslmode=disable"

    def files(self, data_dir):
        """Every file of the server that may hold bytes of data_dir's kluisd: all but those of
        the other databases (under data/base)."""
        _, oid = self.database(data_dir)
        base = os.path.join(self.dir, "data", "base")
        for root, dirs, names in os.walk(self.dir):
            if root == base:
                dirs[:] = [d for d in dirs if d == oid]
            yield from (os.path.join(root, n) for n in names)

    def stop(self):
        if self.dir is None:
            return
        try:
            if self.port is not None:
                self._tool("pg_ctl", "-D", "data", "-m", "fast", "-w", "-t", "30", "stop")
        finally:
            if not os.environ.get("KLUIS_KEEP"):
                shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


_pg = None  # the private PostgreSQL server, once a kluisd needs it


def _postgres():
    global _pg
    if _pg is None:
        pg = _Postgres()
        try:
            pg.start()
        except BaseException:
            pg.stop()
            raise
        _pg = pg
    return _pg


def store_args(data_dir):
    """kluisd's flags for where the store of data_dir lives: none for LMDB (in DIR/store)."""
    return ["--postgres", _postgres().conninfo(data_dir)] if STORE == "postgres" else []


class StaticCredential:
    """The credential both SDKs accept: a fixed bearer token."""

    def __init__(self, token):
        self.token = token
        self.calls = []

    def get_token(self, *scopes, **kwargs):
        from azure.core.credentials import AccessToken  # here: raw/ tests use only the stdlib

        self.calls.append((scopes, kwargs))
        return AccessToken(self.token, int(time.time()) + 3600)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # dict, lower-case names
        self.body = body
        self.text = body.decode("utf-8", "replace")
        try:
            self.json = json.loads(self.text) if body else None
        except ValueError:
            self.json = None

    def error_code(self):
        return (self.json or {}).get("error", {}).get("code") if isinstance(self.json, dict) else None

    def __repr__(self):
        return f"<{self.status} {self.text[:300]!r}>"


class KluisServer:
    def __init__(self, data_dir, port, retention_days=None, max_body=None, dns_suffix=None,
                 default_vault=None, extra_args=None):
        self.data_dir = data_dir
        self.port = port
        self.retention_days = retention_days
        self.max_body = max_body
        self.dns_suffix = dns_suffix or "vault.localhost"
        self.default_vault = default_vault or "default"
        self.extra_args = list(extra_args or [])
        self._suffix_given = dns_suffix is not None
        self._vault_given = default_vault is not None
        self.vault_host = f"{self.default_vault}.{self.dns_suffix}"
        self.vault_url = f"https://{self.vault_host}:{port}"
        self.url = f"https://127.0.0.1:{port}"
        self.ca = os.path.join(data_dir, "tls", "ca.pem")
        self.proc = None
        self.token = None
        self._stderr_chunks = []
        self._reader = None

    # --- process control -------------------------------------------------------------------

    def args(self):
        a = [KLUISD, "--data-dir", self.data_dir, "--listen", f"127.0.0.1:{self.port}"]
        a += store_args(self.data_dir)
        if self._suffix_given:
            a += ["--dns-suffix", self.dns_suffix]
        if self._vault_given:
            a += ["--default-vault", self.default_vault]
        if self.retention_days is not None:
            a += ["--retention-days", str(self.retention_days)]
        if self.max_body is not None:
            a += ["--max-body", str(self.max_body)]
        return a + self.extra_args

    def files_at_rest(self):
        """(path, contents) of every regular file that holds this server's data at rest: those
        under the data dir and, under PostgreSQL, those of its server but other databases'. A
        file that vanishes while being listed (PostgreSQL renames and removes some) is left out."""
        paths = []
        for root, _dirs, names in os.walk(self.data_dir):
            paths += [os.path.join(root, n) for n in names]
        if STORE == "postgres":
            paths += _postgres().files(self.data_dir)
        for p in paths:
            if os.path.islink(p) or not os.path.isfile(p):
                continue
            try:
                with open(p, "rb") as f:
                    data = f.read()
            except FileNotFoundError:
                continue
            yield p, data

    @property
    def stderr(self):
        return b"".join(self._stderr_chunks).decode("utf-8", "replace")

    def wait_stderr(self, pattern, timeout_s=10):
        """The server's log once it matches the regex pattern: the line of a request may reach
        the reader thread a little after the answer reached the client."""
        import re
        deadline = time.monotonic() + timeout_s
        while True:
            text = self.stderr
            if re.search(pattern, text) or time.monotonic() > deadline:
                return text
            time.sleep(0.02)

    def _drain(self, pipe):
        for chunk in iter(lambda: pipe.read1(65536) if hasattr(pipe, "read1") else pipe.read(4096), b""):
            self._stderr_chunks.append(chunk)
            if len(self._stderr_chunks) > 4096:
                del self._stderr_chunks[:2048]

    def start(self):
        assert self.proc is None, "already running"
        self.proc = subprocess.Popen(self.args(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, preexec_fn=_die_with_parent)
        _live.add(self)
        self._reader = threading.Thread(target=self._drain, args=(self.proc.stderr,), daemon=True)
        self._reader.start()
        deadline = time.monotonic() + STARTUP_S
        last = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self._reader.join(2)
                self.proc.stderr.close()
                self.proc = None
                raise RuntimeError(f"kluisd exited ({code}) before serving:\n{self.stderr}")
            if os.path.exists(self.ca):
                try:
                    r = self.request("GET", "/health", token=False, host="127.0.0.1", timeout=2)
                    if r.status == 200:
                        if (r.json or {}).get("storage") != STORE:  # never silently another
                            self.kill9()
                            raise RuntimeError(f"kluisd's storage is not {STORE}: {r.text}")
                        with open(os.path.join(self.data_dir, "admin-token"), encoding="utf-8") as f:
                            self.token = f.read().strip()
                        self.credential = StaticCredential(self.token)
                        return self
                    last = f"/health answered {r.status}"
                except (OSError, http.client.HTTPException, ssl.SSLError) as e:
                    last = repr(e)
            time.sleep(0.05)
        self.kill9()
        raise RuntimeError(f"kluisd did not serve /health in {STARTUP_S} s ({last}):\n{self.stderr}")

    def stop(self, sig=signal.SIGTERM):
        """Sends sig (SIGTERM), waits, returns the exit code (the contract: 0)."""
        if self.proc is None:
            return None
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
            raise RuntimeError(f"kluisd did not stop within 30 s of {sig}:\n{self.stderr}")
        self._reader.join(2)
        self.proc.stderr.close()
        self.proc = None
        return code

    def kill9(self):
        if self.proc is None:
            return None
        self.proc.kill()
        code = self.proc.wait()
        self._reader.join(2)
        self.proc.stderr.close()
        self.proc = None
        return code

    def restart(self):
        code = self.stop()
        self.start()
        return code

    def close(self):
        """Stops the server and removes its data dir; raises if SIGTERM did not exit 0."""
        _live.discard(self)
        code = 0
        try:
            if self.proc is not None:
                code = self.stop()
        finally:
            if self.proc is not None:
                self.kill9()
            if not os.environ.get("KLUIS_KEEP"):
                shutil.rmtree(self.data_dir, ignore_errors=True)
        if code != 0:
            raise RuntimeError(f"kluisd exited {code} on SIGTERM:\n{self.stderr[-4000:]}")

    # --- clients -------------------------------------------------------------------------------

    def secret_client(self, url=None, credential=None, **kwargs):
        from azure.keyvault.secrets import SecretClient
        return SecretClient(url or self.vault_url, credential or self.credential,
                            connection_verify=self.ca, **kwargs)

    def key_client(self, url=None, credential=None, **kwargs):
        from azure.keyvault.keys import KeyClient
        return KeyClient(url or self.vault_url, credential or self.credential,
                         connection_verify=self.ca, **kwargs)

    @property
    def arm_url(self):
        """The management plane's (and the admin API's) base URL: the same listener, as localhost."""
        return f"https://localhost:{self.port}"

    def tenant_id(self):
        """The deployment's tenant id, read from the data plane's 401 challenge (then cached)."""
        if getattr(self, "_tenant", None) is None:
            import re
            r = self.request("GET", "/secrets?api-version=7.5", token=False)
            m = re.search(r'authorization(?:_uri)?="[^"]*/([0-9a-fA-F-]{36})"',
                          r.headers.get("www-authenticate", ""))
            if r.status != 401 or not m:
                raise RuntimeError(f"no tenant in the challenge: {r!r} {r.headers}")
            self._tenant = m.group(1)
        return self._tenant

    def mgmt_client(self, subscription_id, credential=None, **kwargs):
        """azure.mgmt.keyvault's KeyVaultManagementClient pointed at this server's management plane."""
        from azure.mgmt.keyvault import KeyVaultManagementClient
        kwargs.setdefault("polling_interval", 0.2)  # never the default 30 s if a poll ever happens
        return KeyVaultManagementClient(credential or self.credential, subscription_id,
                                        base_url=self.arm_url,
                                        credential_scopes=[f"{self.arm_url}/.default"],
                                        connection_verify=self.ca, **kwargs)

    def ssl_context(self):
        ctx = ssl.create_default_context(cafile=self.ca)
        return ctx

    def connect(self, host=None, timeout=15):
        """An HTTPSConnection to 127.0.0.1:port whose SNI and certificate check use host."""
        return _LoopbackHTTPS(host or self.vault_host, self.port, self.ssl_context(), timeout)

    def request(self, method, path, body=None, headers=None, token=None, host=None, timeout=15):
        """One raw request. token None = the admin token, False = none, str = that token."""
        host = host or self.vault_host
        hdrs = {"Host": f"{host}:{self.port}"}
        if token is None:
            token = self.token
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            hdrs["Content-Type"] = "application/json"
        if isinstance(body, str):
            body = body.encode("utf-8")
        if body is None and method in ("PUT", "POST", "PATCH", "DELETE"):
            body = b""
        hdrs.update(headers or {})
        conn = self.connect(host=host, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
            return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
        finally:
            conn.close()


class _LoopbackHTTPS(http.client.HTTPSConnection):
    """Connects to 127.0.0.1 but does SNI and certificate verification for another name.

    TCP_NODELAY as every SDK sets it (urllib3, Node, .NET, Netty): without it the request, written
    right after the client's TLS Finished, waits for the server's delayed ACK (40 ms a request)."""

    def __init__(self, name, port, context, timeout):
        super().__init__("127.0.0.1", port, timeout=timeout, context=context)
        self._name = name

    def connect(self):
        sock = socket.create_connection((self.host, self.port), self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = self._context.wrap_socket(sock, server_hostname=self._name)


_live = set()  # servers not closed yet: closed at exit even when a setUpClass failed half-way


def _die_with_parent():
    """In the child before exec: kluisd gets SIGKILL if this test process dies."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _at_exit():
    for srv in list(_live):
        try:
            srv.close()
        except RuntimeError as e:
            print(f"harness: {e}", file=sys.stderr)
    if _ca_keeper and not os.environ.get("KLUIS_KEEP"):
        shutil.rmtree(_ca_keeper, ignore_errors=True)
    if _pg is not None:  # after every kluisd has stopped
        _pg.stop()


atexit.register(_at_exit)


def _set_trust(ca_path):
    for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        os.environ[var] = ca_path


def start_server(**kwargs):
    """Starts a kluisd on a free port and a fresh data dir (or data_dir=...)."""
    global _shared_ca_dir, _ca_keeper
    if _shared_ca_dir is None:
        # The first server of the process: its own fresh CA becomes the shared one. A separate
        # keeper dir holds a copy so that closing that server does not take the CA away.
        keeper = tempfile.mkdtemp(prefix="kluis-e2e-py-ca-")
        first = _start(None, **kwargs)
        os.makedirs(os.path.join(keeper, "tls"), mode=0o700)
        for f in ("ca.pem", "ca-key.pem"):
            shutil.copy2(os.path.join(first.data_dir, "tls", f), os.path.join(keeper, "tls", f))
        _shared_ca_dir = os.path.join(keeper, "tls")
        _ca_keeper = keeper
        _set_trust(os.path.join(_shared_ca_dir, "ca.pem"))
        return first
    return _start(_shared_ca_dir, **kwargs)


def _start(ca_dir, data_dir=None, port=None, **kwargs):
    last = None
    for _ in range(3):
        d = data_dir or tempfile.mkdtemp(prefix="kluis-e2e-py-")
        if ca_dir and not os.path.exists(os.path.join(d, "tls", "ca.pem")):
            os.makedirs(os.path.join(d, "tls"), mode=0o700, exist_ok=True)
            for f in ("ca.pem", "ca-key.pem"):
                shutil.copy2(os.path.join(ca_dir, f), os.path.join(d, "tls", f))
            os.chmod(os.path.join(d, "tls", "ca-key.pem"), 0o600)
        srv = KluisServer(d, port or free_port(), **kwargs)
        try:
            return srv.start()
        except RuntimeError as e:
            last = e
            if port or "in use" not in str(e).lower():
                raise
            if not data_dir:
                shutil.rmtree(d, ignore_errors=True)
    raise last


_counter = [0]


def unique_name(prefix="s"):
    _counter[0] += 1
    return f"{prefix}-{os.getpid()}-{uuid.uuid4().hex[:8]}-{_counter[0]}"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
