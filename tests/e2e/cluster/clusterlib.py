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
import threading
import time
import unittest
import urllib.parse
import uuid

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


def children(pid):
    """The pids of the processes whose parent is pid (a postmaster's backends and helpers)."""
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    kids.append(int(d))
        except (OSError, IndexError, ValueError):
            pass
    return kids


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


def signal_region(processes, region, sig):
    """signal_processes() of every process of a region but HAProxy (in front of both regions):
    its kluisd nodes, postmasters and keepers, the monitor."""
    signal_processes([p for p in processes if p["region"] == region and p["kind"] != "haproxy"],
                     sig)


def signal_processes(victims, sig):
    """sig (SIGSTOP: a frozen machine; SIGCONT: it wakes) to each process of victims (entries of
    topology.json) with everything it runs: a postmaster's backends, a keeper's process group.
    SIGCONT first to the children, SIGSTOP first to the parents, so that nothing runs half
    frozen longer than it must."""
    pids = []
    for p in victims:
        for pid in (p.get("pid"), p.get("keeper_pid")):
            if pid:
                pids.append(pid)
                pids.extend(children(pid))
    if sig == signal.SIGCONT:
        pids.reverse()
    for p in victims:
        if p.get("keeper_pid"):
            try:
                os.killpg(p["keeper_pid"], sig)
            except OSError:
                pass
    for pid in pids:
        try:
            os.kill(pid, sig)
        except OSError:
            pass


def haproxy_servers(deployment_dir):
    """HAProxy's view of each kluisd node, from its admin socket: {server name: (status, open
    connections summed over the backends)}; status is that of the backend listed first (UP,
    DOWN, DRAIN (agent), ...)."""
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(5)
    sock.connect(os.path.join(deployment_dir, "haproxy", "admin.sock"))
    try:
        sock.sendall(b"show stat\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    finally:
        sock.close()
    out = {}
    for line in data.decode().splitlines():
        f = line.split(",")
        if len(f) > 18 and f[1].startswith("kluisd-"):
            status, conns = out.get(f[1], (f[17], 0))
            out[f[1]] = (status, conns + int(f[4] or 0))
    return out


class WriteLog:
    """Every secret write a test sent, acknowledged or not, for DeploymentTest.exactly_once().
    Each write has a value of its own (no two writes send the same one) and one dict here:
    name, value, request_ids (the distinct x-ms-client-request-ids its attempts carried, in order),
    outcome (the final HTTP status, or the error's name), ok (acknowledged) and version (the one
    the answer named, when acknowledged). Threads may add at once."""

    def __init__(self):
        self.lock = threading.Lock()
        self.writes = []

    def add(self, name, value, request_ids, outcome, ok, version=None):
        with self.lock:
            self.writes.append({"name": name, "value": value, "request_ids": list(request_ids),
                                "outcome": outcome, "ok": ok, "version": version})

    def snapshot(self):
        with self.lock:
            return list(self.writes)


def version_of(secret_id):
    """The version in a secret identifier: https://host/secrets/NAME/VERSION."""
    return secret_id.rstrip("/").rsplit("/", 1)[1]


def exactly_once_problems(writes, stored):
    """What the store holds against what was sent: writes as WriteLog keeps them, stored as
    {name: [(version, value), ...]} for every written name. Returns (counts, problems).

    - a duplicate: a version whose value another version of the name has too (every write sends
      a value of its own, so one write made two versions; a name written once has at most one);
    - unknown: a version whose value no write of that name sent;
    - lost: an acknowledged write whose value is in no version, or not in the version its answer
      named."""
    sent, problems, duplicates, unknown, lost = {}, [], 0, 0, 0
    for w in writes:
        if w["value"] in sent.setdefault(w["name"], {}):
            problems.append(f"{w['name']}: two writes sent {w['value']!r} (a test's mistake: "
                            f"their versions cannot be told apart)")
        sent[w["name"]][w["value"]] = w
    for name, versions in sorted(stored.items()):
        by_value = {}
        for version, value in versions:
            by_value.setdefault(value, []).append(version)
        for value, vs in by_value.items():
            w = sent.get(name, {}).get(value)
            if w is None:
                unknown += len(vs)
                problems.append(f"{name}: versions {vs} hold a value never sent")
            elif len(vs) > 1:
                duplicates += len(vs) - 1
                problems.append(f"{name}: one write made {len(vs)} versions {vs} (request ids "
                                f"{w['request_ids']}, outcome {w['outcome']}, acknowledged "
                                f"{w['ok']} as version {w['version']})")
    for w in writes:
        if not w["ok"]:
            continue
        versions = stored.get(w["name"], [])
        where = [v for v, value in versions if value == w["value"]]
        if not where or (w["version"] and w["version"] not in where):
            lost += 1
            problems.append(f"{w['name']}: acknowledged as version {w['version']} (request ids "
                            f"{w['request_ids']}), but its value is in {where or 'no version'} "
                            f"of the {len(versions)} there")
    counts = {"attempted": len(writes), "acknowledged": sum(1 for w in writes if w["ok"]),
              "names": len(stored), "versions": sum(len(v) for v in stored.values()),
              "duplicates": duplicates, "unknown": unknown, "lost": lost,
              "ids_changed": sum(1 for w in writes if len(w["request_ids"]) > 1)}
    return counts, problems


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
        cls.writes = WriteLog()  # every secret write sent, acknowledged or not
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
        keep = os.environ.get("KLUIS_KEEP_LOGS") == "1"  # kept after a pass too
        if (cls.failed or keep) and os.path.isdir(logs):
            kept = tempfile.mkdtemp(prefix="kluis-cluster-logs-")
            shutil.copytree(logs, os.path.join(kept, "logs"))
            print(f"[cluster] {'a step failed: ' if cls.failed else ''}the deployment's logs are "
                  f"kept in {kept}", file=sys.stderr)
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
            # *.localhost does not resolve here (docs/usage.md): the default vault on localhost.
            url = f"https://localhost:{port}"
            kwargs["verify_challenge_resource"] = False
        return url, kwargs

    def client(self, port=None, **kwargs):
        from azure.keyvault.secrets import SecretClient

        url, extra = self.vault_url(port)
        return SecretClient(url, self.credential(), connection_verify=self.ca, **extra, **kwargs)

    def raw(self, method, port, path, body=None, timeout=3.0, with_headers=False, headers=None):
        """One request on a new connection, no retries, with headers added to the bearer token:
        (status, parsed JSON or None), and the response headers (lower-case names) when
        with_headers."""
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout,
                                           context=self.ssl_ctx)
        try:
            headers = {"Authorization": f"Bearer {self.token}", **(headers or {})}
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
        """client.set_secret(name, value) with the SDK's retries, logged in self.writes whatever
        its outcome, and kept in self.written when acknowledged. Returns the secret; raises what
        the SDK raised. The request ids logged are the distinct ones of the first attempt
        (azure-core 1.26 calls a per-call raw_request_hook on the first attempt only) and of every
        attempt answered: more than one would mean the SDK changed the id between retries."""
        ids, outcome = [], [None]
        then = kwargs.pop("raw_response_hook", None)

        def seen(rid):
            if rid not in ids:
                ids.append(rid)

        def sent(request):
            seen(request.http_request.headers.get("x-ms-client-request-id"))

        def answered(response):
            seen(response.http_request.headers.get("x-ms-client-request-id"))
            outcome[0] = response.http_response.status_code
            if then:
                then(response)

        try:
            secret = client.set_secret(name, value, raw_request_hook=sent,
                                       raw_response_hook=answered, **kwargs)
        except Exception as e:
            self.writes.add(name, value, ids, outcome[0] or type(e).__name__, False)
            raise
        self.writes.add(name, value, ids, outcome[0], True, secret.properties.version)
        type(self).written[name] = value
        return secret

    def raw_write(self, port, name, value, timeout=3.0):
        """One PUT of a secret with raw(), a fresh x-ms-client-request-id, logged in self.writes
        whatever its outcome. Returns the HTTP status, or the error's name."""
        rid = str(uuid.uuid4())
        try:
            status, body = self.raw("PUT", port, f"/secrets/{name}?{API}", {"value": value},
                                    timeout=timeout, headers={"x-ms-client-request-id": rid})
        except Exception as e:  # noqa: BLE001 (no answer: the outcome is unknown, and logged)
            self.writes.add(name, value, [rid], type(e).__name__, False)
            return type(e).__name__
        ok = status == 200
        self.writes.add(name, value, [rid], status, ok, version_of(body["id"]) if ok else None)
        return status

    def stored_versions(self, name, port):
        """[(version, value)] of every version of a secret (none: [] when the name does not
        exist), listed with GET /secrets/{name}/versions and its nextLinks, each value read."""
        def get(path):
            return self.wait_for(f"GET {path} on {port}", lambda: (
                lambda r: r if r[0] in (200, 404) else None)(self.raw("GET", port, path)), 10)

        versions, path = [], f"/secrets/{name}/versions?{API}"
        while path:
            status, page = get(path)
            if status == 404:
                return []
            versions += [version_of(item["id"]) for item in page["value"]]
            link = page.get("nextLink")
            path = "/" + link.split("//", 1)[1].split("/", 1)[1] if link else None
        out = []
        for v in versions:
            status, body = get(f"/secrets/{name}/{v}?{API}")
            self.assertEqual(status, 200, f"{name}/{v} is listed but not readable")
            out.append((v, body["value"]))
        return out

    def assert_exactly_once(self, tag, port=None):
        """Every write in self.writes against every version of every written name, read at port
        (default: through HAProxy): no duplicate, no unknown value, no lost acknowledged write
        (exactly_once_problems()). Prints the counts after [tag]; returns them."""
        writes = self.writes.snapshot()
        port = port or self.lb_port
        stored = {name: self.stored_versions(name, port) for name in {w["name"] for w in writes}}
        counts, problems = exactly_once_problems(writes, stored)
        print(f"[{tag}] exactly once (at port {port}): {counts['attempted']} writes attempted, "
              f"{counts['acknowledged']} acknowledged; {counts['versions']} versions of "
              f"{counts['names']} names found: {counts['duplicates']} duplicates, "
              f"{counts['lost']} lost, {counts['unknown']} of unknown value; "
              f"{counts['ids_changed']} writes whose attempts carried more than one request id",
              file=sys.stderr)
        for p in problems[:20]:
            print(f"[{tag}]   {p}", file=sys.stderr)
        self.assertEqual(problems, [], f"not exactly once: {len(problems)} problems")
        return counts

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
