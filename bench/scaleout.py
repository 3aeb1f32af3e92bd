"""Issue 15's scenarios: kluisd on PostgreSQL and the whole one-region deployment, each load next
to the same load on one LMDB node of the same run, and the allocations kluisd makes per request.

Called by bench.py's Run (self.run below is that Run: its servers, loads, scenarios and failures):
  - principal(): GET secret with a principal's token (Key Vault Secrets Officer) on the LMDB node;
  - postgres(): a private PostgreSQL 15 (bench/pgserver.py) and a kluisd on it: GET with the
    principal's token, GET with the admin token, SET, ES256 sign, each loaded back to back with
    the same load on the LMDB node, a few times, judged on the median of the paired ratios;
  - deployment(): `deploy/cluster.sh up --regions 1` into a temporary directory (HAProxy, two
    kluisd nodes, PostgreSQL with its synchronous standby under pg_auto_failover), loaded through
    HAProxy in pairs with the LMDB node the same way (GET, GET with the principal's token, SET,
    ES256 sign), and `down --purge` at the end (a guard process does it if the harness dies);
  - allocations(): a kluisd of its own with bench/alloccount.so preloaded, counting its calls of
    malloc and friends; allocations per request are the difference between two loads of known
    request counts (what a connection costs cancels out), less the idle rate of the process.

A load that does not run cleanly on a server that did start fails the run (the harness or kluisd
failed); missing PostgreSQL or deployment tools fail it too, since run.sh installs them. Owns the
servers, directories and deployment it starts, and stops every one of them.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

import pgserver
from benchlib import (API, DIGEST, REPO, SECRET_VALUE, VAULT, BenchError, Kluisd, children,
                      is_clean, log, problem)

ROLE = "Key Vault Secrets Officer"
CLUSTER_SH = os.path.join(REPO, "deploy", "cluster.sh")
COUNTERS = ("malloc", "calloc", "realloc", "memalign", "free")  # bench/alloccount.c's order

# Runs `down --purge` once the harness is gone (its end of the pipe closes, however it dies).
_GUARD = r"""
import os, subprocess, sys, shutil
sh, d, tmp = sys.argv[1:4]
try:
    sys.stdin.buffer.read()
except BaseException:
    pass
if os.path.exists(os.path.join(d, "cluster.env")):
    subprocess.run(["bash", sh, "down", "--purge", d], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=300)
shutil.rmtree(tmp, ignore_errors=True)
"""


def admin_call(srv, method, path, body=None):
    """A /kluis/v1 administration request with the admin token; the parsed answer or BenchError."""
    status, resp = srv.request(method, path, body, host="localhost")
    if status not in (200, 201):
        raise BenchError(f"{method} {path}: {status} {str(resp)[:200]}")
    return resp


def make_principal(srv, name):
    """A principal with the Key Vault Secrets Officer role on the default vault; its token, checked
    to read a secret of the hot set."""
    p = admin_call(srv, "POST", "/kluis/v1/principals", {"name": name})
    admin_call(srv, "POST", "/kluis/v1/roleAssignments",
               {"principal": p["id"], "role": ROLE, "vault": VAULT})
    status, resp = srv.request("GET", f"/secrets/hot-0?{API}", token=p["token"])
    if status != 200:
        raise BenchError(f"the principal's GET /secrets/hot-0 answered {status}: {str(resp)[:200]}")
    return p["token"]


def make_ec_key(srv, name):
    """An EC P-256 key that signs: BenchError when it cannot be made."""
    status, resp = srv.request("POST", f"/keys/{name}/create?{API}", {"kty": "EC", "crv": "P-256"})
    if status != 200:
        raise BenchError(f"create key {name}: {status} {str(resp)[:200]}")
    status, resp = srv.request("POST", f"/keys/{name}//sign?{API}",
                               {"alg": "ES256", "value": DIGEST})
    if status != 200:
        raise BenchError(f"sign with {name}: {status} {str(resp)[:200]}")


def get_tmpl(hot):
    return f"1 GET /secrets/hot-{{rand:{hot}}}?{API}"


def set_tmpl(hot):
    return f'1 PUT /secrets/hot-{{rand:{hot}}}?{API} {{"value":"{SECRET_VALUE}"}}'


SIGN_TMPL = f'1 POST /keys/bench-ec15//sign?{API} {{"alg":"ES256","value":"{DIGEST}"}}'


class Endpoint(Kluisd):
    """The deployment's HAProxy as the load generator sees it: its port, the deployment's CA and
    admin token; its pids are those of every process of the deployment (kluisd nodes, HAProxy,
    PostgreSQL servers and their backends), whose CPU is the deployment's."""

    def __init__(self, topology):
        super().__init__(None, os.path.dirname(os.path.dirname(topology["ca"])), 0, os.devnull)
        self.ca = topology["ca"]
        self.port = int(topology["url"].rsplit(":", 1)[1])
        with open(topology["admin_token_file"], encoding="ascii") as f:
            self.token = f.read().strip()
        self.topology = topology

    @property
    def pids(self):
        out = []
        for p in self.topology["processes"]:
            if p.get("pid"):
                out.append(p["pid"])
                if p["kind"] in ("postgres", "monitor"):
                    out += children(p["pid"])
        # The first pid's threads are reported: the first kluisd node's.
        out.sort(key=lambda pid: 0 if any(p["pid"] == pid and p["kind"] == "kluisd"
                                           for p in self.topology["processes"]) else 1)
        return out


class ScaleOut:
    """The PostgreSQL and deployment phases of one run, each compared with the run's LMDB node,
    which gets a principal and an ES256 key of its own the first time a phase needs them."""

    def __init__(self, run, lmdb):
        self.run = run
        self.lmdb = lmdb  # the LMDB node of the run, seeded with the hot set
        self.hot = run.m["hot"]
        self.pairs = run.m["pg_pairs"]
        self.lmdb_principal = None
        self.lmdb_has_key = False

    # --- loads -----------------------------------------------------------------------------------

    def lmdb_ready(self):
        if self.lmdb_principal is None:
            self.lmdb_principal = make_principal(self.lmdb, "bench-principal")
        if not self.lmdb_has_key:
            make_ec_key(self.lmdb, "bench-ec15")
            self.lmdb_has_key = True

    def paired(self, name, label, group, other, other_token, lmdb_token, templates,
               statements=None):
        """The same load on the LMDB node and on other, back to back, self.pairs times: adds the
        scenario name (other's figures, from the pair of the median ratio) with its ratio to the
        LMDB node. statements(): the count of statements other's database has executed, read
        around each load of other for the statements per request. A load that is not clean
        fails the run."""
        pairs = []
        for _ in range(self.pairs):
            a = self.run.load(self.lmdb, templates, lmdb_token)
            s0 = statements() if statements else None
            b = self.run.load(other, templates, other_token)
            if statements and b["ok"]:
                # A request still in flight when the load ended is not in ok: a slight excess.
                b["db_statements_per_op"] = round((statements() - s0) / b["ok"], 2)
            if not is_clean(a) or not is_clean(b):
                bad = f"LMDB node: {problem(a)}" if not is_clean(a) else problem(b)
                self.run.fail(f"{label}: {bad}")
                return self.run.add(name, label, group, b, "failed", bad)
            pairs.append((round(b["rps"] / a["rps"], 3), a, b))
        pairs.sort(key=lambda p: p[0])
        ratio, a, b = pairs[len(pairs) // 2]
        return self.run.add(name, label, group, b, reference="LMDB node, same load",
                            reference_rate=a["rps"], ratio=ratio,
                            pairs=[{"ratio": r, "lmdb_rps": x["rps"], "rps": y["rps"]}
                                   for r, x, y in pairs],
                            ratio_note=f"median of {len(pairs)} back-to-back pairs")

    # --- phases ----------------------------------------------------------------------------------

    def principal(self):
        """GET with a principal's token on the LMDB node, next to the admin token's GET."""
        self.lmdb_ready()
        res = self.run.load(self.lmdb, [get_tmpl(self.hot)], self.lmdb_principal)
        if is_clean(res):
            return self.run.add("get_secret_principal", "GET secret, principal token", "secrets",
                                res)
        self.run.fail(f"GET secret, principal token: {problem(res)}")
        return self.run.add("get_secret_principal", "GET secret, principal token", "secrets",
                            res, "failed", problem(res))

    def postgres(self):
        run = self.run
        self.lmdb_ready()
        pg = pgserver.PgServer()
        try:
            pg.start()
        except (pgserver.PgError, OSError, subprocess.SubprocessError) as e:
            pg.stop()
            raise BenchError(f"PostgreSQL 15 for the benchmark: {e}") from e
        run.pg = pg
        srv = None
        try:
            run.refs["postgres"] = pg.settings()
            data = os.path.join(run.tmp, "pg-node")
            srv = Kluisd(run.opts.kluisd, data, run.kluisd_threads, os.path.join(run.tmp,
                         "kluisd-pg.log"), extra_args=["--postgres", pg.conninfo(data)])
            srv.extra_pids = lambda: children(pg.postmaster_pid() or 0)
            run.servers.append(srv)
            srv.start(timeout=60)
            log(f"kluisd on PostgreSQL {run.refs['postgres'].get('server_version')} "
                f"(127.0.0.1:{pg.port}, fsync {run.refs['postgres'].get('fsync')}, "
                f"synchronous_commit {run.refs['postgres'].get('synchronous_commit')}) up on "
                f"127.0.0.1:{srv.port}")
            rate = run.seed(srv, "hot", 0, self.hot)
            log(f"PostgreSQL: seeded {self.hot} hot secrets at {rate:.0f}/s")
            token = make_principal(srv, "bench-principal")
            make_ec_key(srv, "bench-ec15")
            g = "postgres"
            stmts = lambda: pg.statements(data)  # noqa: E731
            self.paired("pg_get_secret_principal", "PG: GET secret, principal token", g, srv,
                        token, self.lmdb_principal, [get_tmpl(self.hot)], stmts)
            self.paired("pg_get_secret", "PG: GET secret, admin token", g, srv, srv.token,
                        self.lmdb.token, [get_tmpl(self.hot)], stmts)
            self.paired("pg_set_secret", "PG: SET secret (new version)", g, srv, srv.token,
                        self.lmdb.token, [set_tmpl(self.hot)], stmts)
            self.paired("pg_sign_es256", "PG: sign ES256 (P-256)", g, srv, srv.token,
                        self.lmdb.token, [SIGN_TMPL], stmts)
            code, _ = srv.stop()
            run.servers.remove(srv)
            if code != 0:
                run.fail(f"kluisd on PostgreSQL exited {code} on SIGTERM; log: {srv.log_tail()}")
            if run.opts.alloc_shim and "allocations" not in run.skip:
                data = os.path.join(run.tmp, "pg-allocs")
                run.allocations["postgres"] = allocations(
                    run, run.opts.alloc_shim, "postgres",
                    ["--postgres", pg.conninfo(data)], data)
        finally:
            if srv is not None and srv in run.servers:
                srv.kill()
                run.servers.remove(srv)
            pg.stop()
            run.pg = None

    def deployment(self):
        run = self.run
        self.lmdb_ready()
        tmp = tempfile.mkdtemp(prefix="kbench-cluster-")
        os.chmod(tmp, 0o711)  # the postgres user must reach DIR/pg below it
        d = os.path.join(tmp, "deployment")
        guard = subprocess.Popen([sys.executable, "-c", _GUARD, CLUSTER_SH, d, tmp],
                                 stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, start_new_session=True)
        env = dict(os.environ, KLUISD=os.path.abspath(run.opts.kluisd),
                   KLUISD_ARGS="--log-level warn" + (f" --threads {run.kluisd_threads}"
                                                         if run.kluisd_threads else ""))
        logf = os.path.join(run.tmp, "cluster.log")
        try:
            t0 = time.monotonic()
            self._cluster(env, logf, "up", "--regions", "1", d, timeout=600)
            run.startup["deployment_up_s"] = round(time.monotonic() - t0, 1)
            with open(os.path.join(d, "topology.json"), encoding="utf-8") as f:
                topo = json.load(f)
            ep = Endpoint(topo)
            run.refs["deployment"] = {
                "up_s": run.startup["deployment_up_s"], "url": topo["url"],
                "processes": [{k: p.get(k) for k in ("name", "kind", "role", "running")}
                              for p in topo["processes"]]}
            log(f"deployment up in {run.startup['deployment_up_s']} s: HAProxy on {topo['url']}, "
                + ", ".join(f"{p['name']} {p['role']}" for p in topo["processes"]))
            rate = run.seed(ep, "hot", 0, self.hot)
            log(f"deployment: seeded {self.hot} hot secrets at {rate:.0f}/s")
            token = make_principal(ep, "bench-principal")
            make_ec_key(ep, "bench-ec15")
            g = "deployment"
            self.paired("deploy_get_secret", "deployment: GET secret", g, ep, ep.token,
                        self.lmdb.token, [get_tmpl(self.hot)])
            self.paired("deploy_get_secret_principal", "deployment: GET secret, principal token",
                        g, ep, token, self.lmdb_principal, [get_tmpl(self.hot)])
            self.paired("deploy_set_secret", "deployment: SET secret (new version)", g, ep,
                        ep.token, self.lmdb.token, [set_tmpl(self.hot)])
            self.paired("deploy_sign_es256", "deployment: sign ES256 (P-256)", g, ep, ep.token,
                        self.lmdb.token, [SIGN_TMPL])
        finally:
            try:
                if os.path.exists(os.path.join(d, "cluster.env")):
                    t0 = time.monotonic()
                    self._cluster(env, logf, "down", "--purge", d, timeout=300)
                    log(f"deployment down and purged in {time.monotonic() - t0:.1f} s")
            finally:
                guard.stdin.close()  # the guard finds nothing left and removes tmp
                try:
                    guard.wait(timeout=120)
                except subprocess.TimeoutExpired:
                    log(f"the deployment's guard still runs (pid {guard.pid})")

    @staticmethod
    def _cluster(env, logf, *args, timeout):
        with open(logf, "ab") as out:
            try:
                p = subprocess.run(["bash", CLUSTER_SH, *args], stdin=subprocess.DEVNULL,
                                   stdout=out, stderr=out, env=env, timeout=timeout)
            except subprocess.TimeoutExpired as e:
                raise BenchError(f"deploy/cluster.sh {args[0]} took over {timeout} s") from e
        if p.returncode != 0:
            with open(logf, "rb") as f:
                tail = f.read()[-1500:].decode("utf-8", "replace")
            raise BenchError(f"deploy/cluster.sh {' '.join(args)} exited {p.returncode}: {tail}")


# --- allocations ---------------------------------------------------------------------------------

def read_counters(path):
    with open(path, "rb") as f:
        raw = f.read(8 * len(COUNTERS))
    if len(raw) != 8 * len(COUNTERS):
        raise BenchError(f"the allocation counter file {path} holds {len(raw)} bytes")
    return dict(zip(COUNTERS, (int.from_bytes(raw[i:i + 8], "little")
                               for i in range(0, len(raw), 8))))


def allocs(c):
    return c["malloc"] + c["calloc"] + c["realloc"] + c["memalign"]


ALLOC_METHOD = ("calls of malloc, calloc, realloc, posix_memalign/aligned_alloc/memalign in "
                "kluisd (LD_PRELOAD bench/alloccount.so): (allocations of a load of n2 requests "
                "- those of a load of n1) / (n2 - n1), on fresh connections each, less the idle "
                "rate of the process over the loads' time")


def allocations(run, shim, store="lmdb", extra_args=(), data=None):
    """Allocations per request of a kluisd of its own (on LMDB, or on what extra_args say) with
    the counting shim preloaded: admin GET, principal GET, SET, ES256 and RS256 sign. Returns
    the dict stored in latest.json under allocations.STORE."""
    data = data or os.path.join(run.tmp, f"allocs-{store}")
    counter = os.path.join(run.tmp, f"alloc-counter-{store}")
    env = dict(os.environ, LD_PRELOAD=os.path.abspath(shim), KLUIS_ALLOC_COUNTER=counter)
    srv = Kluisd(run.opts.kluisd, data, run.kluisd_threads,
                 os.path.join(run.tmp, f"kluisd-allocs-{store}.log"), extra_args=extra_args,
                 env=env)
    run.servers.append(srv)
    out = {"ops": {}}
    try:
        srv.start()
        if not os.path.exists(counter) or allocs(read_counters(counter)) == 0:
            raise BenchError("kluisd with bench/alloccount.so preloaded counted no allocation")
        hot = 50
        run.seed(srv, "hot", 0, hot)
        token = make_principal(srv, "bench-principal")
        make_ec_key(srv, "bench-ec15")
        status, resp = srv.request("POST", f"/keys/bench-rsa15/create?{API}",
                                   {"kty": "RSA", "key_size": 2048})
        if status != 200:
            raise BenchError(f"create RSA key: {status} {str(resp)[:200]}")
        c0 = read_counters(counter)
        time.sleep(1.0)
        idle_per_s = allocs(read_counters(counter)) - allocs(c0)
        out["idle_per_s"] = idle_per_s
        n1, n2 = run.m["alloc_requests"]
        conns = 2
        ops = (("get_secret", [get_tmpl(hot)], None),
               ("get_secret_principal", [get_tmpl(hot)], token),
               ("set_secret", [set_tmpl(hot)], None),
               ("sign_es256", [SIGN_TMPL], None),
               ("sign_rs256", [f'1 POST /keys/bench-rsa15//sign?{API} '
                               f'{{"alg":"RS256","value":"{DIGEST}"}}'], None))
        for name, tmpl, tok in ops:
            # A warm-up: caches filled, pools grown, as in the steady state.
            run.load(srv, tmpl, tok or srv.token, conns=conns, duration=60, requests=n1)
            deltas = []
            for n in (n1, n2):
                c0, t0 = read_counters(counter), time.monotonic()
                res = run.load(srv, tmpl, tok or srv.token, conns=conns, duration=60, requests=n)
                c1, secs = read_counters(counter), time.monotonic() - t0
                if not is_clean(res) or res["ok"] != n:
                    raise BenchError(f"allocations, {name}: {res['ok']} of {n} answered; "
                                     f"{problem(res)}")
                deltas.append({k: c1[k] - c0[k] for k in COUNTERS} | {"seconds": secs})
            d1, d2 = deltas
            idle = idle_per_s * (d2["seconds"] - d1["seconds"])
            per = (allocs(d2) - allocs(d1) - idle) / (n2 - n1)
            out["ops"][name] = {
                "allocs_per_op": round(per, 1),
                "frees_per_op": round((d2["free"] - d1["free"]) / (n2 - n1), 1),
                "by_function_per_op": {k: round((d2[k] - d1[k]) / (n2 - n1), 1)
                                       for k in COUNTERS if k != "free"},
                "allocs_per_op_with_connection": round(allocs(d2) / n2, 1),
                "requests": [n1, n2], "conns": conns}
            log(f"allocations per {name} ({store}): {per:.1f} (with the connection's share "
                f"{allocs(d2) / n2:.1f})")
        code, _ = srv.stop()
        run.servers.remove(srv)
        if code != 0:
            run.fail(f"kluisd ({store}) with the allocation counter exited {code} on SIGTERM")
    finally:
        if srv in run.servers:
            srv.kill()
            run.servers.remove(srv)
    return out


# --- targets -------------------------------------------------------------------------------------

TARGETS = {
    "pg_get_principal_vs_lmdb": 0.5,   # PG / LMDB, GET with a principal's token, at least
    "pg_get_admin_vs_lmdb": 0.6,       # PG / LMDB, GET with the admin token, at least
    "pg_set_vs_lmdb": 0.8,             # PG / LMDB, SET, at least
    "lmdb_set_vs_fdatasync": 1.0,      # LMDB SET rate / one-at-a-time fdatasync rate, at least
    "es256_sign_vs_nginx": 0.6,        # ES256 sign over HTTPS / nginx static, at least
    "deploy_get_vs_lmdb": 0.4,         # deployment GET / one LMDB node, at least
    "allocs_per_get": 30.0,            # allocations per GET, at most
}


def targets(run, add):
    """Issue 15's targets, through bench.py's add(name, description, value, target, at_most)."""
    sc = {s["name"]: s for s in run.scenarios}

    def ratio(name):
        s = sc.get(name)
        return s["ratio"] if s and s["status"] == "ok" and s.get("ratio") is not None else None

    def rate(name):
        s = sc.get(name)
        return s["result"]["rps"] if s and s["status"] == "ok" and s["result"] else None

    for key, name, desc in (
            ("pg_get_principal_vs_lmdb", "pg_get_secret_principal",
             "GET secret, principal token: PostgreSQL / LMDB (median of back-to-back pairs)"),
            ("pg_get_admin_vs_lmdb", "pg_get_secret",
             "GET secret, admin token: PostgreSQL / LMDB (median of back-to-back pairs)"),
            ("pg_set_vs_lmdb", "pg_set_secret",
             "SET secret: PostgreSQL / LMDB (median of back-to-back pairs)"),
            ("deploy_get_vs_lmdb", "deploy_get_secret",
             "GET secret: one-region deployment through HAProxy / one LMDB node (median of "
             "back-to-back pairs)")):
        add(key, desc, ratio(name), TARGETS[key], False)
    disk = (run.refs.get("disk") or {}).get("fdatasync_per_s")
    s = rate("set_secret")
    add("lmdb_set_vs_fdatasync", "SET secret on LMDB / disk fdatasync rate (one at a time)",
        round(s / disk, 3) if s and disk else None, TARGETS["lmdb_set_vs_fdatasync"], False)
    ng = (run.refs.get("nginx_static") or {}).get("rps")
    s = rate("sign_es256")
    add("es256_sign_vs_nginx", "ES256 sign over HTTPS / nginx static rate",
        round(s / ng, 3) if s and ng else None, TARGETS["es256_sign_vs_nginx"], False)
    ops = ((run.allocations or {}).get("lmdb") or {}).get("ops", {})
    gets = [ops[k]["allocs_per_op"] for k in ("get_secret", "get_secret_principal") if k in ops]
    add("allocs_per_get", "allocations per GET secret on LMDB (the larger of admin and principal "
        "token)", max(gets) if gets else None, TARGETS["allocs_per_get"], True)


def print_allocations(run):
    for store, a in (run.allocations or {}).items():
        if not isinstance(a, dict) or not a.get("ops"):
            continue
        print(f"allocations per request, kluisd on {store} (bench/alloccount.so; idle "
              f"{a.get('idle_per_s', 0)}/s): " + ", ".join(
                  f"{k} {v['allocs_per_op']}" for k, v in a["ops"].items()))
