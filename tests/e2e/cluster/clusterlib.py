"""What the deployment tests share: deploy/cluster.sh driven from Python, with a guard process that
purges the deployment however the test process ends, and a base class for step-by-step tests of
one deployment (test_cluster.py: one region; test_regions.py: two)."""

import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
CLUSTER_SH = os.path.join(REPO, "deploy", "cluster.sh")
UP_TIMEOUT_S = 150 if os.environ.get("KLUISD") else 600  # without KLUISD it also builds
API = "api-version=7.6"
PG_USER = "postgres" if os.geteuid() == 0 else None  # the OS user cluster.sh runs PostgreSQL as

# Runs `down --purge` once the test process is gone (its end of the pipe closes, however it dies).
GUARD = r"""
import os, subprocess, sys, shutil
sh, d, tmp = sys.argv[1:4]
try:
    sys.stdin.buffer.read()
except BaseException:
    pass
if os.path.exists(os.path.join(d, "cluster.env")):
    subprocess.run(["bash", sh, "down", "--purge", d], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=180)
shutil.rmtree(tmp, ignore_errors=True)
"""


class StaticCredential:
    """A fixed bearer token, as both SDKs accept it."""

    def __init__(self, token):
        self.token = token

    def get_token(self, *scopes, **kwargs):
        from azure.core.credentials import AccessToken

        return AccessToken(self.token, int(time.time()) + 3600)


def cluster(*args, timeout=120, check=True):
    """Runs deploy/cluster.sh; returns (exit status, stdout, stderr)."""
    p = subprocess.run(["bash", CLUSTER_SH, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=timeout, env=os.environ.copy())
    if check and p.returncode != 0:
        raise AssertionError(f"cluster.sh {' '.join(args)} exited {p.returncode}\n"
                             f"--- stdout\n{p.stdout}\n--- stderr\n{p.stderr}")
    return p.returncode, p.stdout, p.stderr


def alive(pid):
    """True for a live process; a zombie (PID 1 may not reap orphans here) is dead."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def kill_region(processes, region):
    """kill -9 of every process of a region as topology.json lists them, at once, but HAProxy
    (in front of both regions): kluisd nodes, postmasters, and the pg_autoctl keepers with their
    process groups (a keeper's service processes would otherwise start its postmaster again).
    Returns the names killed."""
    victims = [p for p in processes if p["region"] == region and p["kind"] != "haproxy"]
    for p in victims:
        if p.get("keeper_pid"):
            try:
                os.killpg(p["keeper_pid"], signal.SIGKILL)
            except OSError:
                pass
        for pid in (p.get("pid"), p.get("keeper_pid")):
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
    return [p["name"] for p in victims]


def psql(port, sql, db="kluis"):
    args = ["psql", "-X", "-q", "-A", "-t", "-w", "-h", "127.0.0.1", "-p", str(port), "-d", db,
            "-c", sql]
    if PG_USER:
        args[1:1] = ["-U", PG_USER]
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=10, env={**os.environ, "PGCONNECT_TIMEOUT": "2"})
    if p.returncode != 0:
        raise RuntimeError(f"psql on port {port}: {p.stderr.strip()}")
    return p.stdout.strip()


class DeploymentTest(unittest.TestCase):
    """A deployment made by `cluster.sh up *UP_ARGS` in a temporary directory for the whole class,
    purged at the end. The steps (test_NN_*) run in the order of their names and share it; after
    a step fails, the later ones are skipped."""

    UP_ARGS = ()

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="kluis-cluster-")
        os.chmod(cls.tmp, 0o711)  # the postgres user must reach DIR/pg below it
        cls.dir = os.path.join(cls.tmp, "deployment")
        cls.guard = subprocess.Popen([sys.executable, "-c", GUARD, CLUSTER_SH, cls.dir, cls.tmp],
                                     stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        cls.written = {}  # name -> value of every secret whose write was acknowledged
        cls.failed = False
        t0 = time.monotonic()
        try:
            _, out, _ = cluster("up", *cls.UP_ARGS, cls.dir, timeout=UP_TIMEOUT_S)
        except BaseException:
            cls.tearDownClass()
            raise
        print(f"\n[cluster] up took {time.monotonic() - t0:.1f} s\n{out}", file=sys.stderr)
        cls.load_topology()
        with open(cls.topology["admin_token_file"]) as f:
            cls.token = f.read().strip()
        cls.ca = cls.topology["ca"]
        # The machine may preset these to the system bundle; the SDK's transport reads them.
        os.environ["REQUESTS_CA_BUNDLE"] = cls.ca
        os.environ["CURL_CA_BUNDLE"] = cls.ca
        cls.ssl_ctx = ssl.create_default_context(cafile=cls.ca)
        cls.url = cls.topology["url"]
        cls.lb_port = int(cls.url.rsplit(":", 1)[1])

    @classmethod
    def tearDownClass(cls):
        logs = os.path.join(cls.dir, "logs")
        if cls.failed and os.path.isdir(logs):
            kept = tempfile.mkdtemp(prefix="kluis-cluster-logs-")
            shutil.copytree(logs, os.path.join(kept, "logs"))
            print(f"[cluster] a step failed: the deployment's logs are kept in {kept}",
                  file=sys.stderr)
        try:
            if os.path.exists(os.path.join(cls.dir, "cluster.env")):
                rc, out, err = cluster("down", "--purge", cls.dir, timeout=180, check=False)
                if rc != 0:
                    print(f"[cluster] down --purge exited {rc}: {err}", file=sys.stderr)
        finally:
            cls.guard.stdin.close()  # the guard finds nothing left to do and removes tmp
            try:
                cls.guard.wait(timeout=60)
            except subprocess.TimeoutExpired:
                pass

    @classmethod
    def load_topology(cls):
        with open(os.path.join(cls.dir, "topology.json")) as f:
            cls.topology = json.load(f)
        return cls.topology

    def setUp(self):
        if type(self).failed:
            self.skipTest("an earlier step failed")

    def run(self, result=None):
        before = len(result.failures) + len(result.errors) if result else 0
        out = super().run(result)
        if result and len(result.failures) + len(result.errors) > before:
            type(self).failed = True
        return out

    # --- helpers -------------------------------------------------------------------------------

    def procs(self, kind=None, role=None):
        return [p for p in self.topology["processes"]
                if (kind is None or p["kind"] == kind) and (role is None or p["role"] == role)]

    def proc(self, name):
        return next(p for p in self.topology["processes"] if p["name"] == name)

    def status(self):
        rc, out, _ = cluster("status", self.dir, check=False)
        self.load_topology()
        return rc, out

    def credential(self):
        return StaticCredential(self.token)

    def vault_url(self, port=None):
        """The default vault's URL through HAProxy, or at the node listening on port; and the
        SDK keyword arguments it needs."""
        port = port or self.lb_port
        url, kwargs = f"https://default.vault.localhost:{port}", {}
        try:
            socket.getaddrinfo("default.vault.localhost", None)
        except socket.gaierror:
            # *.localhost does not resolve here (see README): the default vault on localhost.
            url = f"https://localhost:{port}"
            kwargs["verify_challenge_resource"] = False
        return url, kwargs

    def client(self, port=None, **kwargs):
        from azure.keyvault.secrets import SecretClient

        url, extra = self.vault_url(port)
        return SecretClient(url, self.credential(), connection_verify=self.ca, **extra, **kwargs)

    def raw(self, method, port, path, body=None, timeout=3.0, with_headers=False):
        """One request on a new connection, no retries: (status, parsed JSON or None), and the
        response headers (lower-case names) when with_headers."""
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout,
                                           context=self.ssl_ctx)
        try:
            headers = {"Authorization": f"Bearer {self.token}"}
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=data, headers=headers)
            r = conn.getresponse()
            raw = r.read()
            try:
                parsed = json.loads(raw) if raw else None
            except ValueError:
                parsed = None
            if with_headers:
                return r.status, parsed, {k.lower(): v for k, v in r.getheaders()}
            return r.status, parsed
        finally:
            conn.close()

    def as_token(self, method, port, path, token, body=None, form=None, timeout=3.0):
        """raw() with another bearer token (None: none), or a form body (a token request)."""
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout,
                                           context=self.ssl_ctx)
        try:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            data = None
            if form is not None:
                data = urllib.parse.urlencode(form).encode()
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            elif body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=data, headers=headers)
            r = conn.getresponse()
            raw = r.read()
            try:
                return r.status, json.loads(raw) if raw else None
            except ValueError:
                return r.status, None
        finally:
            conn.close()

    def access_token(self, port, client_id, secret, resource="https://vault.azure.net"):
        """An access token from the node on port by the client credentials grant (issue 14)."""
        status, body = self.as_token("POST", port, "/adfs/oauth2/v2.0/token", None, form={
            "grant_type": "client_credentials", "client_id": client_id, "client_secret": secret,
            "scope": f"{resource}/.default"})
        if status != 200:
            raise AssertionError(f"token endpoint on {port}: {status} {body}")
        return body["access_token"]

    def write(self, client, name, value, **kwargs):
        client.set_secret(name, value, **kwargs)
        type(self).written[name] = value

    def sync_standby_names(self):
        primaries = [p for p in self.procs("postgres") if p["role"] == "primary" and p["running"]]
        if len(primaries) != 1:
            return None
        return psql(primaries[0]["port"], "show synchronous_standby_names")

    def wait_for(self, what, fn, timeout):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = fn()
                if last:
                    return last
            except Exception as e:  # noqa: BLE001 (polling: the last error is reported)
                last = e
            time.sleep(0.25)
        self.fail(f"{what}: not within {timeout} s (last: {last!r})")
