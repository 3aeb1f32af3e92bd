"""The kluis benchmark: kluisd under load next to the references of the same machine, same run.

Started by bench/run.sh, which builds kluisd (release) and bench/build/loadgen first:
    /usr/bin/python3 bench/bench.py [--smoke] --kluisd PATH --loadgen PATH

Everything listens on 127.0.0.1 only, on free ports, with data in a fresh temporary directory;
every load is bounded in time (and in requests), and every process started here is stopped here.
Prints a table and writes bench/results/latest.json and latest.png (smoke.json and smoke.png with
--smoke).

Issue 15's phases (bench/scaleout.py) run on the same LMDB node before its cold starts: GET with
a principal's token, kluisd on a private PostgreSQL 15, the one-region deployment of
deploy/cluster.sh, and the allocations per request (bench/alloccount.c); --skip leaves any of
them out, and the scale phase too.

Exit status: 0 when every secrets scenario, reference, start-up measurement and issue-15 phase ran
cleanly (a missed target is reported, not a failure), 1 otherwise. Key scenarios whose set-up
fails (the keys API missing or broken) are reported as "unavailable" and do not fail the run.
"""

import argparse
import http.client
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import scaleout
from benchlib import (API, DIGEST, HERE, PLAIN, REPO, SECRET_VALUE, SUFFIX,
                      VAULT, BenchError, Kluisd, Loadgen, Nginx, b64url, cpu_shares, is_clean,
                      log, machine_cpu, problem, proc_status)

MODES = {
    # duration of each load (s), connections, hot set, scale sizes, openssl speed seconds,
    # cold starts, seeding connections, GET/nginx pairs, LMDB/PostgreSQL and LMDB/deployment
    # pairs, request counts of the two loads whose allocations are compared
    "full": dict(duration=5.0, conns=16, hot=1000, sizes=[1000, 100_000, 1_000_000],
                 speed_s=3, cold_runs=7, seed_conns=32, seed_timeout=900, pairs=5, pg_pairs=3,
                 alloc_requests=(500, 2500)),
    "smoke": dict(duration=1.0, conns=2, hot=200, sizes=[200, 1000],
                  speed_s=1, cold_runs=3, seed_conns=4, seed_timeout=60, pairs=1, pg_pairs=1,
                  alloc_requests=(100, 300)),
}

SKIPPABLE = {"principal", "postgres", "deployment", "allocations", "scale"}  # --skip

TARGETS = {
    "get_vs_nginx": 0.85,       # GET secret rate / nginx static rate, at least (issue 15)
    "rsa_sign_vs_openssl": 0.8,  # RS256 over HTTPS / openssl speed rsa2048 sign, at least
    "p99_half_load_ms": 5.0,    # GET p99 at half of peak load, at most
    "idle_rss_mb": 20.0,        # at most
    "cold_start_ms": 100.0,     # at most
    "scale_latency_ratio": 1.5,  # GET/list latency at the largest size / at the smallest, at most
}


# --- references ---------------------------------------------------------------------------------

def openssl_speed(n, seconds):
    """sign/s and verify/s for RSA-2048 and ECDSA P-256 over n processes."""
    cmd = ["openssl", "speed", "-multi", str(n), "-seconds", str(seconds), "rsa2048", "ecdsap256"]
    mach0, ru0 = machine_cpu(), resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=8 * seconds + 60)
    mach = [b - a for a, b in zip(mach0, machine_cpu())]
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    mine = (ru.ru_utime - ru0.ru_utime) + (ru.ru_stime - ru0.ru_stime)
    out = p.stdout + p.stderr
    rsa = re.search(r"^rsa\s+2048 bits\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)", out, re.M)
    ec = re.search(r"^\s*256 bits ecdsa \(nistp256\)\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)", out, re.M)
    if p.returncode != 0 or not rsa or not ec:
        raise BenchError(f"cannot parse `{' '.join(cmd)}`: {out[-600:]}")
    return {"command": " ".join(cmd),
            "rsa2048_sign_per_s": float(rsa.group(1)), "rsa2048_verify_per_s": float(rsa.group(2)),
            # OpenSSL 3.0's speed has no RSA decrypt figure: a decrypt is one private-key
            # operation, like a sign, so the sign rate stands for it.
            "rsa2048_decrypt_per_s": float(rsa.group(1)),
            "ecdsap256_sign_per_s": float(ec.group(1)),
            "ecdsap256_verify_per_s": float(ec.group(2)),
            "machine_cpu": cpu_shares(mach, mine)}


def fsync_rate(directory, seconds):
    """4 KiB writes each followed by fdatasync, one at a time, in directory (on the disk of
    kluisd's store): the ceiling of durable commits here, the reference for SET."""
    path = os.path.join(directory, "fsync-probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    n = 0
    try:
        block = os.urandom(4096)
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            os.pwrite(fd, block, (n % 256) * 4096)
            os.fdatasync(fd)
            n += 1
        elapsed = time.monotonic() - t0
    finally:
        os.close(fd)
        os.unlink(path)
    return {"fdatasync_per_s": round(n / elapsed, 1), "seconds": round(elapsed, 2)}


# --- the run --------------------------------------------------------------------------------------

class Run:
    def __init__(self, opts):
        self.opts = opts
        self.mode = "smoke" if opts.smoke else "full"
        self.m = dict(MODES[self.mode])
        if opts.duration:
            self.m["duration"] = opts.duration
        if opts.conns:
            self.m["conns"] = opts.conns
        self.threads = opts.threads or os.cpu_count() or 1     # nginx workers, openssl -multi
        self.kluisd_threads = opts.threads                     # None: kluisd's own default
        self.tmp = tempfile.mkdtemp(prefix="kbench-")
        self.servers = []
        self.failures = []
        self.scenarios = []   # dicts: name, group, status, reason, result, reference...
        self.refs = {}
        self.scale = []
        self.scale_pairs = []
        self.startup = {}
        self.meta = {}
        self.lg = None
        self.pg = None           # bench/pgserver.py's server while the PostgreSQL phase runs
        self.allocations = {}    # store -> scaleout.allocations(); "method": how counted
        self.skip = set(opts.skip.split(",")) if opts.skip else set()

    # helpers ----------------------------------------------------------------------------------

    def fail(self, what):
        log(f"FAILED: {what}")
        self.failures.append(what)

    def add(self, name, label, group, result=None, status="ok", reason="", **extra):
        sc = dict(name=name, label=label, group=group, status=status, reason=reason,
                  result=result, **extra)
        self.scenarios.append(sc)
        if result is not None:
            lat = result["latency_us"]
            log(f"{label}: {result['rps']:.0f}/s p50 {lat['p50'] / 1000:.2f} ms "
                f"p99 {lat['p99'] / 1000:.2f} ms" + (f" [{status}: {reason}]" if reason else ""))
        else:
            log(f"{label}: {status} ({reason})")
        return sc

    def load(self, server, templates, token=None, **kw):
        kw.setdefault("conns", self.m["conns"])
        kw.setdefault("duration", self.m["duration"])
        return self.lg.run(server, templates, f"{VAULT}.{SUFFIX}", token, **kw)

    def core(self, name, label, server, templates, **kw):
        """A secrets scenario: anything but a clean run fails the harness."""
        res = self.load(server, templates, server.token, **kw)
        if is_clean(res):
            return self.add(name, label, "secrets", res)
        self.fail(f"{label}: {problem(res)}")
        return self.add(name, label, "secrets", res, "failed", problem(res))

    def seed(self, srv, prefix, start, count):
        """PUTs prefix-start .. prefix-(start+count-1), many at a time; returns the rate."""
        if count <= 0:
            return None
        res = self.load(srv, [f"1 PUT /secrets/{prefix}-{{seq}}?{API} "
                              f'{{"value":"{SECRET_VALUE}"}}'],
                        srv.token, conns=self.m["seed_conns"], duration=self.m["seed_timeout"],
                        requests=count, seq_start=start)
        if not is_clean(res) or res["ok"] != count:
            raise BenchError(f"seeding {count} secrets {prefix}-*: {res['ok']} stored; "
                             f"{problem(res)}")
        return res["rps"]

    # phases -----------------------------------------------------------------------------------

    def start_main(self):
        data = os.path.join(self.tmp, "main")
        srv = Kluisd(self.opts.kluisd, data, self.kluisd_threads,
                     os.path.join(self.tmp, "kluisd.log"))
        self.servers.append(srv)
        self.startup["first_start_ms"] = round(srv.start(), 1)
        time.sleep(0.3)
        st = proc_status(srv.proc.pid)
        self.startup["idle_rss_kb"] = st["VmRSS"]
        self.startup["idle_rss_anon_kb"] = st.get("RssAnon")
        self.startup["idle_hwm_kb"] = st["VmHWM"]
        log(f"kluisd up on 127.0.0.1:{srv.port} in {self.startup['first_start_ms']} ms "
            f"(new data dir), idle RSS {st['VmRSS'] / 1024:.1f} MB")
        return srv

    def probe_tls(self, srv):
        """The TLS suite and group kluisd negotiates with OpenSSL's defaults: pinned for every
        later load on both servers, so that nginx is measured with the same cipher."""
        lg = Loadgen(self.opts.loadgen, [])
        res = lg.run(srv, ["1 GET /health"], f"{VAULT}.{SUFFIX}", None, conns=1, duration=5,
                     requests=1, pin_tls=False)
        if not is_clean(res):
            raise BenchError(f"probing kluisd over TLS: {problem(res)}")
        tls = res["tls"]
        opts = []
        if tls["version"] == "TLSv1.3":
            opts += ["--ciphersuites", tls["cipher"]]
        else:
            opts += ["--tls12"]
        if tls["group"] and tls["group"] != "?":
            opts += ["--groups", tls["group"]]
        self.meta["tls"] = tls
        self.lg = Loadgen(self.opts.loadgen, opts)
        log(f"TLS: {tls['version']} {tls['cipher']} {tls['group']} (pinned for all loads)")

    def secrets(self, srv):
        hot = self.m["hot"]
        rate = self.seed(srv, "hot", 0, hot)
        log(f"seeded {hot} hot secrets at {rate:.0f}/s")
        status, body = srv.get_raw(f"/secrets/hot-0?{API}")
        if status != 200:
            raise BenchError(f"GET /secrets/hot-0 answered {status}")
        self.secret_body = body.encode()
        get = [f"1 GET /secrets/hot-{{rand:{hot}}}?{API}"]
        put = f'PUT /secrets/hot-{{rand:{hot}}}?{API} {{"value":"{SECRET_VALUE}"}}'
        g = self.core("get_secret", "GET secret (hot set)", srv, get)
        self.core("set_secret", "SET secret (new version)", srv, [f"1 {put}"])
        self.core("mixed_90_10", "mixed 90% GET / 10% SET", srv, [get[0].replace("1 ", "9 ", 1),
                                                                 f"1 {put}"])
        self.core("new_tls_conn", "new TLS connection + GET /health", srv, ["1 GET /health"],
                  new_conn=True)
        if g["status"] == "ok":
            half = g["result"]["rps"] / 2
            self.core("get_secret_half_load", "GET secret at half of peak (open loop)", srv, get,
                      rate=half)

    def keys(self, srv):
        """Key scenarios: each reported 'unavailable' when its set-up does not work."""
        def create(name, bodies):
            last = None
            for b in bodies:
                status, body = srv.request("POST", f"/keys/{name}/create?{API}", b)
                if status == 200:
                    return None
                last = f"create {b}: {status} {str(body)[:160]}"
            return last

        def op(name, what, body, field="value"):
            status, resp = srv.request("POST", f"/keys/{name}//{what}?{API}", body)
            if status != 200 or not isinstance(resp, dict) or field not in resp:
                raise BenchError(f"{what}: {status} {str(resp)[:160]}")
            return resp[field]

        made = {"bench-rsa": create("bench-rsa", [{"kty": "RSA", "key_size": 2048}]),
                "bench-ec": create("bench-ec", [{"kty": "EC", "crv": "P-256"}]),
                "bench-oct": create("bench-oct", [{"kty": "oct", "key_size": 256},
                                                  {"kty": "oct-HSM", "key_size": 256}])}

        def scenario(name, label, key, what, body_fn):
            if made[key] is not None:
                self.add(name, label, "keys", status="unavailable", reason=made[key])
                return
            try:
                body = body_fn()
            except (BenchError, OSError, http.client.HTTPException) as e:
                self.add(name, label, "keys", status="unavailable", reason=f"set-up: {e}")
                return
            tmpl = f"1 POST /keys/{key}//{what}?{API} {json.dumps(body, separators=(',', ':'))}"
            res = self.load(srv, [tmpl], srv.token)
            if is_clean(res):
                self.add(name, label, "keys", res)
            elif res["ok"] == 0:
                self.add(name, label, "keys", res, "unavailable", problem(res))
            else:
                self.add(name, label, "keys", res, "errors", problem(res))

        def verify_body():
            sig = op("bench-ec", "sign", {"alg": "ES256", "value": DIGEST})
            body = {"alg": "ES256", "digest": DIGEST, "value": sig}
            if op("bench-ec", "verify", body) is not True:
                raise BenchError("verify of a fresh signature is not true")
            return {"alg": "ES256", "digest": DIGEST, "value": sig}

        def decrypt_body():
            ct = op("bench-rsa", "encrypt", {"alg": "RSA-OAEP-256", "value": PLAIN})
            if op("bench-rsa", "decrypt", {"alg": "RSA-OAEP-256", "value": ct}) != PLAIN:
                raise BenchError("decrypt does not give the plaintext back")
            return {"alg": "RSA-OAEP-256", "value": ct}

        def unwrap_body():
            wk = op("bench-oct", "wrapkey", {"alg": "A256KW", "value": PLAIN})
            if op("bench-oct", "unwrapkey", {"alg": "A256KW", "value": wk}) != PLAIN:
                raise BenchError("unwrapkey does not give the key back")
            return {"alg": "A256KW", "value": wk}

        def checked(key, what, body):
            def fn():
                op(key, what, body)
                return body
            return fn

        sign_rs = {"alg": "RS256", "value": DIGEST}
        sign_es = {"alg": "ES256", "value": DIGEST}
        enc = {"alg": "RSA-OAEP-256", "value": PLAIN}
        wrap = {"alg": "A256KW", "value": PLAIN}
        scenario("sign_rs256", "sign RS256 (RSA-2048)", "bench-rsa", "sign",
                 checked("bench-rsa", "sign", sign_rs))
        scenario("sign_es256", "sign ES256 (P-256)", "bench-ec", "sign",
                 checked("bench-ec", "sign", sign_es))
        scenario("verify_es256", "verify ES256 (P-256)", "bench-ec", "verify", verify_body)
        scenario("encrypt_rsa_oaep256", "encrypt RSA-OAEP-256", "bench-rsa", "encrypt",
                 checked("bench-rsa", "encrypt", enc))
        scenario("decrypt_rsa_oaep256", "decrypt RSA-OAEP-256", "bench-rsa", "decrypt",
                 decrypt_body)
        scenario("wrap_a256kw", "wrapkey A256KW", "bench-oct", "wrapkey",
                 checked("bench-oct", "wrapkey", wrap))
        scenario("unwrap_a256kw", "unwrapkey A256KW", "bench-oct", "unwrapkey", unwrap_body)

    def nginx(self, srv):
        health = srv.request("GET", "/health", auth=False)[1]
        files = {"secret.json": self.secret_body,
                 "health.json": json.dumps(health, separators=(",", ":")).encode()}
        ng = Nginx(os.path.join(self.tmp, "nginx"), self.threads,
                   os.path.join(srv.data_dir, "tls", "server.pem"),
                   os.path.join(srv.data_dir, "tls", "server-key.pem"), files)
        self.servers.append(ng)
        ng.start()
        ng.token = srv.token  # sent along, ignored: the same request bytes as to kluisd
        for name, label, tmpl, kw in (
                ("nginx_static", f"nginx static {len(self.secret_body)} B JSON", "1 GET /secret",
                 {}),
                ("nginx_new_conn", "nginx new TLS connection + GET", "1 GET /health",
                 {"new_conn": True})):
            res = self.load(ng, [tmpl], ng.token, **kw)
            if not is_clean(res):
                self.fail(f"{label}: {problem(res)}")
            self.refs[name] = res
            lat = res["latency_us"]
            log(f"{label}: {res['rps']:.0f}/s p50 {lat['p50'] / 1000:.2f} ms "
                f"p99 {lat['p99'] / 1000:.2f} ms")
        if self.refs["nginx_static"]["tls"]["cipher"] != self.meta["tls"]["cipher"]:
            self.fail("nginx negotiated another cipher than kluisd")
        self.get_pairs(srv, ng)
        ng.stop()
        self.servers.remove(ng)

    def get_pairs(self, srv, ng):
        """GET secret and nginx static loaded back to back, a few times: the rate on these
        machines drifts by a quarter between loads seconds apart, so the GET target is judged
        on the median of the paired ratios rather than on one pair."""
        get = [f"1 GET /secrets/hot-{{rand:{self.m['hot']}}}?{API}"]
        pairs = []
        for _ in range(self.m["pairs"]):
            a = self.load(srv, get, srv.token)
            b = self.load(ng, ["1 GET /secret"], ng.token)
            if not (is_clean(a) and is_clean(b)) or not b["rps"]:
                self.fail(f"GET/nginx pair: {problem(b) if is_clean(a) else problem(a)}")
                return
            pairs.append({"get_rps": a["rps"], "nginx_rps": b["rps"],
                          "get_cpu_us_per_op": a["server_cpu_us_per_op"],
                          "nginx_cpu_us_per_op": b["server_cpu_us_per_op"],
                          "ratio": round(a["rps"] / b["rps"], 3)})
        self.refs["get_nginx_pairs"] = pairs
        log("GET / nginx in pairs: " + ", ".join(f"{p['ratio']:.2f}" for p in pairs))

    def cold_starts(self, srv, runs):
        """Restarts srv runs times; milliseconds from spawn to the first 200 on /health."""
        out = []
        for _ in range(runs):
            code, stop_ms = srv.stop()
            if code != 0:
                raise BenchError(f"kluisd exited {code} on SIGTERM; log: {srv.log_tail()}")
            out.append(round(srv.start(), 1))
        return out, stop_ms

    def scale_phase(self):
        """A second kluisd on its own data dir, grown through the sizes. Seeding runs under
        eatmydata when present (fsync made a no-op: a million durable PUTs would take ten
        minutes on this disk); reads never call fsync, so the measurements are unaffected."""
        wrapper = [shutil.which("eatmydata")] if shutil.which("eatmydata") else []
        srv = Kluisd(self.opts.kluisd, os.path.join(self.tmp, "scale"), self.kluisd_threads,
                     os.path.join(self.tmp, "kluisd-scale.log"), wrapper)
        self.servers.append(srv)
        srv.start()
        have = 0
        for size in self.m["sizes"]:
            t0 = time.monotonic()
            rate = self.seed(srv, "s", have, size - have)
            seed_s = time.monotonic() - t0
            have = size
            log(f"scale: {size} secrets stored (seeded in {seed_s:.1f} s"
                + (f", {rate:.0f}/s)" if rate else ")"))
            mid = b64url(f"kl1:s-{size // 2}".encode())
            row = {"size": size, "seed_s": round(seed_s, 1), "seed_rate": rate}
            for key, tmpl in (("get", f"1 GET /secrets/s-{{rand:{size}}}?{API}"),
                              ("list_first", f"1 GET /secrets?{API}&maxresults=25"),
                              ("list_mid", f"1 GET /secrets?{API}&maxresults=25&$skiptoken={mid}")):
                res = self.load(srv, [tmpl], srv.token)
                if not is_clean(res):
                    self.fail(f"scale {size} {key}: {problem(res)}")
                row[key] = res
            st = proc_status(srv.proc.pid)
            row["rss_kb"], row["hwm_kb"] = st["VmRSS"], st["VmHWM"]
            row["rss_anon_kb"], row["rss_file_kb"] = st.get("RssAnon"), st.get("RssFile")
            row["store_bytes"] = sum(os.path.getsize(os.path.join(dp, f))
                                     for dp, _, fs in os.walk(os.path.join(srv.data_dir, "store"))
                                     for f in fs)
            self.scale.append(row)
            log(f"scale {size}: GET {row['get']['rps']:.0f}/s p50 "
                f"{row['get']['latency_us']['p50'] / 1000:.2f} ms, list "
                f"{row['list_first']['rps']:.0f}/s p50 "
                f"{row['list_first']['latency_us']['p50'] / 1000:.2f} ms, "
                f"peak RSS {st['VmHWM'] / 1024:.1f} MB")
        self.scale_paired(srv, have)
        # Cold start with the largest store, without eatmydata.
        srv.wrapper = []
        runs, _ = self.cold_starts(srv, max(1, self.m["cold_runs"] // 2))
        self.startup["cold_start_largest_ms"] = runs
        self.startup["cold_start_largest_size"] = have
        code, _ = srv.stop()
        self.servers.remove(srv)
        if code != 0:
            self.fail(f"scale kluisd exited {code} on SIGTERM")
        # The list scenario of the issue: the page at 100k (or the largest smoke size).
        at = next((r for r in self.scale if r["size"] >= 100_000), self.scale[-1])
        sc = self.add("list_secrets", f"list secrets, {at['size']} stored (first page of 25)",
                 "secrets", at["list_first"], "ok" if is_clean(at["list_first"]) else "failed")
        self.scenarios.remove(sc)  # shown with the other secrets scenarios
        last = max(i for i, s in enumerate(self.scenarios) if s["group"] == "secrets")
        self.scenarios.insert(last + 1, sc)

    def scale_paired(self, big, big_size):
        """The scale target, measured in pairs: a second kluisd holding the smallest size, and
        the grown one, loaded alternately seconds apart, several times. The grown server's
        early measurement at the smallest size lies minutes before its last one, and the machine
        drifts by a quarter in that time; a ratio of neighbours, medianed, does not."""
        small_size = self.m["sizes"][0]
        if big_size <= small_size:
            return
        wrapper = [shutil.which("eatmydata")] if shutil.which("eatmydata") else []
        small = Kluisd(self.opts.kluisd, os.path.join(self.tmp, "scale-small"),
                       self.kluisd_threads,
                       os.path.join(self.tmp, "kluisd-scale-small.log"), wrapper)
        self.servers.append(small)
        small.start()
        self.seed(small, "s", 0, small_size)
        loads = {
            "get": lambda n: [f"1 GET /secrets/s-{{rand:{n}}}?{API}"],
            "list_first": lambda n: [f"1 GET /secrets?{API}&maxresults=25"],
        }
        for _ in range(self.m["pairs"]):
            pair = {}
            for key, tmpl in loads.items():
                a = self.load(small, tmpl(small_size), small.token)
                b = self.load(big, tmpl(big_size), big.token)
                if not (is_clean(a) and is_clean(b)):
                    self.fail(f"scale pair {key}: {problem(b) if is_clean(a) else problem(a)}")
                    break
                ma, mb = a["latency_us"]["mean"], b["latency_us"]["mean"]
                pair[key] = {"small_mean_us": ma, "big_mean_us": mb,
                             "small_cpu_us_per_op": a["server_cpu_us_per_op"],
                             "big_cpu_us_per_op": b["server_cpu_us_per_op"],
                             "ratio": round(mb / ma, 3) if ma else None}
            else:
                self.scale_pairs.append(pair)
                continue
            break
        code, _ = small.stop()
        self.servers.remove(small)
        if code != 0:
            self.fail(f"small scale kluisd exited {code} on SIGTERM")
        log(f"scale in pairs ({big_size} / {small_size}): " + "; ".join(
            ", ".join(f"{k} {p[k]['ratio']:.2f}" for k in p) for p in self.scale_pairs))

    def run(self):
        self.meta = {"mode": self.mode, "kluisd_threads": self.kluisd_threads or "default",
                     "ref_threads": self.threads,
                     "conns": self.m["conns"], "duration_s": self.m["duration"],
                     "hot_set": self.m["hot"], "cpus": os.cpu_count(),
                     "machine": platform.platform(), "cpu_model": cpu_model(),
                     "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                     "git": git_rev()}
        t_all = time.monotonic()
        srv = self.start_main()
        self.probe_tls(srv)
        self.refs["openssl_speed"] = openssl_speed(self.threads, self.m["speed_s"])
        o = self.refs["openssl_speed"]
        log(f"openssl speed -multi {self.threads}: RSA-2048 sign {o['rsa2048_sign_per_s']:.0f}/s, "
            f"P-256 sign {o['ecdsap256_sign_per_s']:.0f}/s verify "
            f"{o['ecdsap256_verify_per_s']:.0f}/s")
        self.refs["disk"] = fsync_rate(self.tmp, min(2.0, self.m["duration"]))
        log(f"disk: {self.refs['disk']['fdatasync_per_s']:.0f} fdatasync/s")
        self.secrets(srv)
        self.nginx(srv)
        self.keys(srv)
        st = proc_status(srv.proc.pid)
        self.startup["after_load_rss_kb"], self.startup["after_load_hwm_kb"] = (st["VmRSS"],
                                                                              st["VmHWM"])
        self.scale_out(srv)
        runs, stop_ms = self.cold_starts(srv, self.m["cold_runs"])
        self.startup["cold_start_ms"] = runs
        self.startup["cold_start_median_ms"] = statistics.median(runs)
        self.startup["stop_ms"] = round(stop_ms, 1)
        code, _ = srv.stop()
        self.servers.remove(srv)
        if code != 0:
            self.fail(f"kluisd exited {code} on SIGTERM")
        log(f"cold start (restart): median {self.startup['cold_start_median_ms']} ms of {runs}")
        if "scale" in self.skip:
            log("scale: skipped (--skip)")
        else:
            self.scale_phase()
        self.meta["wall_s"] = round(time.monotonic() - t_all, 1)

    def scale_out(self, srv):
        """Issue 15's phases (bench/scaleout.py), each on its own: one that fails is recorded
        and the others still run."""
        so = scaleout.ScaleOut(self, srv)
        phases = (("principal", so.principal), ("postgres", so.postgres),
                  ("deployment", so.deployment),
                  ("allocations", self.allocation_phase))
        if "allocations" not in self.skip:
            self.allocations["method"] = scaleout.ALLOC_METHOD
        for name, fn in phases:
            if name in self.skip:
                log(f"{name}: skipped (--skip)")
                continue
            if name == "allocations" and not self.opts.alloc_shim:
                self.fail("allocations: no --alloc-shim (bench/run.sh builds bench/alloccount.so)")
                continue
            t0 = time.monotonic()
            try:
                fn()
            except BenchError as e:
                self.fail(f"{name}: {e}")
            self.meta.setdefault("phase_s", {})[name] = round(time.monotonic() - t0, 1)

    def allocation_phase(self):
        self.allocations["lmdb"] = scaleout.allocations(self, self.opts.alloc_shim)

    def cleanup(self):
        for s in self.servers:
            try:
                if isinstance(s, Nginx):
                    s.stop()
                else:
                    s.kill()
            except Exception as e:  # keep going: the rest must stop too
                log(f"cleanup: {e}")
        self.servers = []
        if self.pg is not None:
            self.pg.stop()
            self.pg = None
        if os.environ.get("KLUIS_KEEP"):
            log(f"kept {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def git_rev():
    try:
        rev = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--", "src"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "?"


# --- results ------------------------------------------------------------------------------------

def targets(run):
    """The issue's targets: value, target, whether met (None: not measured)."""
    sc = {s["name"]: s for s in run.scenarios}
    out = []

    def ok(name):
        return name in sc and sc[name]["status"] == "ok"

    def add(name, desc, value, target, at_most, unit=""):
        met = None if value is None else (value <= target if at_most else value >= target)
        out.append({"name": name, "description": desc, "value": value, "target": target,
                    "at_most": at_most, "unit": unit, "met": met})

    ng = run.refs.get("nginx_static")
    get_ratio = (sc["get_secret"]["result"]["rps"] / ng["rps"]
                 if ok("get_secret") and ng and ng["rps"] else None)
    pairs = [p["ratio"] for p in run.refs.get("get_nginx_pairs") or []]
    if get_ratio is not None and pairs:
        get_ratio = statistics.median([get_ratio] + pairs)
    add("get_vs_nginx", "GET secret rate / nginx static rate, same concurrency (median of "
        f"{1 + len(pairs)} back-to-back pairs)",
        round(get_ratio, 3) if get_ratio is not None else None, TARGETS["get_vs_nginx"], False)
    sp = run.refs.get("openssl_speed")
    rsa = (sc["sign_rs256"]["result"]["rps"] / sp["rsa2048_sign_per_s"]
           if ok("sign_rs256") and sp else None)
    add("rsa_sign_vs_openssl", "RS256 sign over HTTPS / openssl speed rsa2048 sign",
        round(rsa, 3) if rsa is not None else None, TARGETS["rsa_sign_vs_openssl"], False)
    half = sc.get("get_secret_half_load")
    add("p99_half_load_ms", "GET secret p99 at half of peak load",
        round(half["result"]["latency_us"]["p99"] / 1000, 3) if half and half["result"] else None,
        TARGETS["p99_half_load_ms"], True, "ms")
    rss = run.startup.get("idle_rss_kb")
    add("idle_rss_mb", "idle RSS after start", round(rss / 1024, 1) if rss else None,
        TARGETS["idle_rss_mb"], True, "MB")
    cold = run.startup.get("cold_start_median_ms")
    add("cold_start_ms", "cold start to first 200 on /health (median)", cold,
        TARGETS["cold_start_ms"], True, "ms")
    if len(run.scale) >= 2:
        lo, hi = run.scale[0], run.scale[-1]
        pairs = getattr(run, "scale_pairs", None) or []
        # The mean, not p50: at a fixed number of connections in a closed loop the mean is
        # connections / rate, steady from run to run, where p50 moves with how the connections
        # happen to share the server's threads. Judged on the median of the paired ratios
        # (Run.scale_paired) when there are pairs.
        for key, desc in (("get", "GET"), ("list_first", "list first page")):
            rs = sorted(p[key]["ratio"] for p in pairs if p.get(key, {}).get("ratio"))
            if rs:
                add(f"scale_{key}_latency_ratio",
                    f"{desc} mean latency, {hi['size']} / {lo['size']} secrets stored "
                    f"(median of {len(rs)} pairs)",
                    rs[len(rs) // 2], TARGETS["scale_latency_ratio"], True)
                continue
            a, b = lo[key]["latency_us"]["mean"], hi[key]["latency_us"]["mean"]
            add(f"scale_{key}_latency_ratio",
                f"{desc} mean latency, {hi['size']} / {lo['size']} secrets stored",
                round(b / a, 3) if a else None, TARGETS["scale_latency_ratio"], True)
    scaleout.targets(run, add)
    return out


def ratios(run):
    """Each scenario's rate next to its reference."""
    sp = run.refs.get("openssl_speed") or {}
    ng = run.refs.get("nginx_static") or {}
    nc = run.refs.get("nginx_new_conn") or {}

    def speed(key):
        # openssl speed keeps its processes busy: CPU per operation is processes / rate.
        rate = sp.get(key)
        return rate, run.threads * 1e6 / rate if rate else None

    disk = (run.refs.get("disk") or {}).get("fdatasync_per_s")
    ref = {"get_secret": ("nginx static", ng.get("rps"), ng.get("server_cpu_us_per_op")),
           "set_secret": ("disk fdatasync", disk, None),
           "new_tls_conn": ("nginx new conn", nc.get("rps"), nc.get("server_cpu_us_per_op")),
           "sign_rs256": ("openssl RSA-2048 sign",) + speed("rsa2048_sign_per_s"),
           "decrypt_rsa_oaep256": ("openssl RSA-2048 private op",) + speed("rsa2048_decrypt_per_s"),
           "encrypt_rsa_oaep256": ("openssl RSA-2048 public op",) + speed("rsa2048_verify_per_s"),
           "sign_es256": ("openssl P-256 sign",) + speed("ecdsap256_sign_per_s"),
           "verify_es256": ("openssl P-256 verify",) + speed("ecdsap256_verify_per_s")}
    for s in run.scenarios:
        name, rate, cpu = ref.get(s["name"], (None, None, None))
        if name and rate and s["result"] and s["status"] in ("ok", "errors"):
            s["reference"] = name
            s["reference_rate"] = rate
            s["ratio"] = round(s["result"]["rps"] / rate, 3)
            mine = s["result"]["server_cpu_us_per_op"]
            if cpu and mine:
                s["reference_cpu_us_per_op"] = round(cpu, 1)
                s["cpu_ratio"] = round(mine / cpu, 3)


def fmt_ms(us):
    return f"{us / 1000:.2f}"


OTHERS_MAX = 0.05  # share of the machine other processes may use before a figure is marked


def disturbed(res):
    return " (*)" if res and res.get("machine_cpu", {}).get("others", 0) > OTHERS_MAX else ""


def load_row(label, r, ref):
    lat = r["latency_us"]
    return (label + disturbed(r), f"{r['rps']:.0f}", fmt_ms(lat["p50"]), fmt_ms(lat["p90"]),
            fmt_ms(lat["p99"]), fmt_ms(lat["p999"]),
            f"{r['server_cpu_us_per_op']:.0f}" if r["server_cpu_us_per_op"] else "", ref)


def print_table(run, tg):
    rows = [("scenario", "ops/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "srv µs/op",
             "vs reference")]
    for s in run.scenarios:
        r = s["result"]
        if s["status"] in ("unavailable",) or r is None:
            rows.append((s["label"], s["status"], "", "", "", "", "", s["reason"][:60]))
            continue
        ref = ""
        if s.get("ratio") is not None:
            ref = f"{s['ratio']:.2f}× the rate of {s['reference']}"
            if s.get("cpu_ratio") is not None:
                ref += f", {s['cpu_ratio']:.2f}× its CPU/op"
            if s.get("ratio_note"):
                ref += f" ({s['ratio_note']})"
        if r.get("db_statements_per_op") is not None:
            ref += f"; {r['db_statements_per_op']} SQL statements/op"
        if s["status"] != "ok":
            ref = f"[{s['status']}] " + ref
        rows.append(load_row(s["label"], r, ref))
    for key in ("nginx_static", "nginx_new_conn"):
        if run.refs.get(key):
            rows.append(load_row(f"ref: {key.replace('_', ' ')}", run.refs[key], ""))
    sp = run.refs.get("openssl_speed")
    if sp:
        rows.append((f"ref: openssl speed -multi {run.threads}" + disturbed(sp),
                     f"RSA-2048 sign {sp['rsa2048_sign_per_s']:.0f}, verify "
                     f"{sp['rsa2048_verify_per_s']:.0f}; P-256 sign "
                     f"{sp['ecdsap256_sign_per_s']:.0f}, verify "
                     f"{sp['ecdsap256_verify_per_s']:.0f}", "", "", "", "", "", ""))
    if run.refs.get("disk"):
        rows.append(("ref: disk", f"{run.refs['disk']['fdatasync_per_s']:.0f} fdatasync/s "
                     "(4 KiB writes, one at a time)", "", "", "", "", "", ""))
    widths = [max(len(r[i]) for r in rows if not r[0].startswith(("ref: openssl", "ref: disk"))
                  or i == 0)
              for i in range(len(rows[0]))]
    tls = run.meta.get("tls", {})
    print()
    print(f"kluis benchmark ({run.mode}): kluisd --threads {run.kluisd_threads or 'default'}, "
          f"{run.m['conns']} "
          f"connections, {run.m['duration']} s per load, {tls.get('version')} "
          f"{tls.get('cipher')} {tls.get('group')}, {run.meta.get('cpus')} CPUs "
          f"({run.meta.get('cpu_model')})")
    print("ops/s: answers per second; pNN: latency percentiles; srv µs/op: server CPU time "
          "(user + system) per answer")
    for r in rows:
        if r[0].startswith(("ref: openssl", "ref: disk")):
            print(f"{r[0].ljust(widths[0])}  {r[1]}")
            continue
        print("  ".join(c.ljust(widths[i]) if i in (0, 7) else c.rjust(widths[i])
                        for i, c in enumerate(r)).rstrip())
    if run.scale:
        print()
        print("stored  | GET ops/s mean ms  p99 ms  µs/op | list ops/s mean ms  p99 ms  µs/op | "
              "list@mid mean ms | RSS MB (anon + file)  peak MB | store MB")
        for row in run.scale:
            g, lf, lm = row["get"], row["list_first"], row["list_mid"]
            mark = "".join(disturbed(x) for x in (g, lf, lm))[:4]
            mix = (f"({(row.get('rss_anon_kb') or 0) / 1024:.1f} + "
                   f"{(row.get('rss_file_kb') or 0) / 1024:.1f})")
            print(f"{row['size']:>7} | {g['rps']:>9.0f} {fmt_ms(g['latency_us']['mean']):>7} "
                  f"{fmt_ms(g['latency_us']['p99']):>7} {g['server_cpu_us_per_op'] or 0:>6.0f} | "
                  f"{lf['rps']:>10.0f} {fmt_ms(lf['latency_us']['mean']):>7} "
                  f"{fmt_ms(lf['latency_us']['p99']):>7} {lf['server_cpu_us_per_op'] or 0:>6.0f} | "
                  f"{fmt_ms(lm['latency_us']['mean']):>16} | {row['rss_kb'] / 1024:>6.1f} "
                  f"{mix:>13} {row['hwm_kb'] / 1024:>8.1f} | {row['store_bytes'] / 1048576:>8.1f}"
                  f"{mark}")
    marked = ([s for s in run.scenarios if disturbed(s["result"])] +
              [k for k in ("nginx_static", "nginx_new_conn", "openssl_speed")
               if disturbed(run.refs.get(k))] +
              [r for r in run.scale for k in ("get", "list_first", "list_mid") if disturbed(r[k])])
    if marked:
        print(f"\n(*) other processes used more than {OTHERS_MAX:.0%} of the machine during this "
              "load: the figure is unreliable")
    scaleout.print_allocations(run)
    su = run.startup
    print()
    parts = []
    if "first_start_ms" in su:
        parts.append(f"new data dir {su['first_start_ms']} ms")
    if "cold_start_ms" in su:
        parts.append(f"restart median {su['cold_start_median_ms']} ms {su['cold_start_ms']}")
    if "cold_start_largest_ms" in su:
        parts.append(f"with {su['cold_start_largest_size']} secrets "
                     f"{su['cold_start_largest_ms']} ms")
    if "stop_ms" in su:
        parts.append(f"SIGTERM to exit {su['stop_ms']} ms")
    if "deployment_up_s" in su:
        parts.append(f"deploy/cluster.sh up {su['deployment_up_s']} s")
    print("start-up (spawn to first 200 on /health): " + "; ".join(parts))
    if "idle_rss_kb" in su:
        mem = f"memory: idle RSS {su['idle_rss_kb'] / 1024:.1f} MB"
        if "after_load_rss_kb" in su:
            mem += (f"; after the loads RSS {su['after_load_rss_kb'] / 1024:.1f} MB, peak "
                    f"{su['after_load_hwm_kb'] / 1024:.1f} MB")
        print(mem)
    print()
    print("targets:")
    for t in tg:
        v = "not measured" if t["value"] is None else f"{t['value']}{t['unit']}"
        mark = {True: "met", False: "MISSED", None: "-"}[t["met"]]
        op = "<=" if t["at_most"] else ">="
        print(f"  {t['description']}: {v} (target {op} {t['target']}{t['unit']}): {mark}")
    print()


def plot(run, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        log(f"no plot: {e}")
        return False
    done = [s for s in run.scenarios if s["result"] is not None and s["status"] != "unavailable"]
    if not done and not run.scale:
        return False
    bars = [(s["label"], s["result"]) for s in done]
    for key, label in (("nginx_static", "ref: nginx static"),
                       ("nginx_new_conn", "ref: nginx new conn")):
        if key in run.refs:
            bars.append((label, run.refs[key]))
    fig, axes = plt.subplots(1, 4, figsize=(26, 7),
                             gridspec_kw={"width_ratios": [1.2, 1, 1, 1]})
    ax = axes[0]
    names = [b[0] for b in bars][::-1]
    ax.barh(names, [b[1]["rps"] for b in bars][::-1],
            color=["#999999" if n.startswith("ref") else "#2b6cb0" for n in names])
    sp = run.refs.get("openssl_speed")
    if sp:
        for v, lab in ((sp["rsa2048_sign_per_s"], "openssl RSA-2048 sign"),
                       (sp["ecdsap256_sign_per_s"], "openssl P-256 sign")):
            ax.axvline(v, ls="--", lw=1, color="#c05621")
            ax.text(v, -0.6, f" {lab}", rotation=90, va="bottom", ha="right", fontsize=7,
                    color="#c05621")
    ax.set_xscale("log")
    ax.set_xlabel("operations/s (log)")
    ax.set_title("throughput")
    ax.tick_params(axis="y", labelsize=8)
    ax = axes[1]
    qs = (("p50", "#2b6cb0"), ("p90", "#38a169"), ("p99", "#d69e2e"), ("p999", "#c53030"))
    w = 0.2
    for k, (q, col) in enumerate(qs):
        ax.barh([i + (k - 1.5) * w for i in range(len(names))],
                [b[1]["latency_us"][q] / 1000 for b in bars][::-1], height=w, color=col,
                label=q.replace("p999", "p99.9"))
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels([])  # the same rows as the throughput panel
    ax.set_xscale("log")
    ax.set_xlabel("latency ms (log)")
    ax.set_title("latency percentiles")
    ax.legend(fontsize=8)
    ax = axes[2]
    if run.scale:
        sizes = [r["size"] for r in run.scale]
        for key, lab, col in (("get", "GET", "#2b6cb0"),
                              ("list_first", "list first page", "#38a169"),
                              ("list_mid", "list mid page", "#805ad5")):
            ax.plot(sizes, [r[key]["latency_us"]["mean"] / 1000 for r in run.scale], "o-",
                    color=col, label=f"{lab} mean")
            ax.plot(sizes, [r[key]["latency_us"]["p99"] / 1000 for r in run.scale], "o--",
                    color=col, label=f"{lab} p99")
        ax2 = ax.twinx()
        ax2.plot(sizes, [r["hwm_kb"] / 1024 for r in run.scale], "s:", color="#718096",
                 label="peak RSS MB")
        ax2.set_ylabel("peak RSS MB")
        ax2.set_ylim(bottom=0)
        ax.set_xscale("log")
        ax.set_ylim(bottom=0)
        ax.set_xlabel("secrets stored (log)")
        ax.set_ylabel("latency ms")
        ax.set_title("scale")
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="best")
    plot_targets(axes[3], targets(run))
    tls = run.meta.get("tls", {})
    fig.suptitle(f"kluis {run.meta.get('git')} ({run.mode}): kluisd threads "
                 f"{run.kluisd_threads or 'default'}, "
                 f"{run.m['conns']} connections, {tls.get('version')} {tls.get('cipher')}, "
                 f"{run.meta.get('cpus')} × {run.meta.get('cpu_model')}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def plot_targets(ax, tg):
    """Each measured target as its margin: value / target for an at-least target, target /
    value for an at-most one, so that a bar reaching 1 is a target met."""
    done = [t for t in tg if t["value"] is not None and t["value"] > 0][::-1]
    margin = [(t["target"] / t["value"]) if t["at_most"] else (t["value"] / t["target"])
              for t in done]
    ax.barh([t["name"] for t in done], margin,
            color=["#38a169" if t["met"] else "#c53030" for t in done])
    for i, t in enumerate(done):
        ax.text(margin[i], i, f" {t['value']}{t['unit']} ({'<=' if t['at_most'] else '>='} "
                f"{t['target']})", va="center", fontsize=7)
    ax.axvline(1.0, ls="--", lw=1, color="#4a5568")
    ax.set_xscale("log")
    ax.set_xlabel("margin (log): 1 = target, more is better")
    ax.set_title("targets (green met, red missed)")
    ax.tick_params(axis="y", labelsize=7)


def render(path):
    """The table and plot of a results file, for re-reading a run."""
    with open(path, encoding="utf-8") as f:
        d = json.load(f)
    meta = d["meta"]
    run = argparse.Namespace(scenarios=d["scenarios"], refs=d["references"], scale=d["scale"],
                             startup=d["startup"], meta=meta, mode=d["mode"],
                             allocations=d.get("allocations"), scale_pairs=d.get("scale_pairs"),
                             kluisd_threads=meta["kluisd_threads"],
                             threads=meta.get("ref_threads", meta.get("cpus", 1)),
                             m={"conns": meta["conns"], "duration": meta["duration_s"]})
    print_table(run, targets(run))
    plot(run, os.path.splitext(path)[0] + ".png")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="seconds, tiny sizes (CI)")
    ap.add_argument("--kluisd")
    ap.add_argument("--loadgen")
    ap.add_argument("--render", metavar="JSON",
                    help="print the table of an earlier run and redraw its PNG; no load")
    ap.add_argument("--threads", type=int, help="kluisd --threads, nginx's workers and openssl's "
                    "processes (default: kluisd's own default, and the CPUs for the references)")
    ap.add_argument("--conns", type=int, help="connections per load")
    ap.add_argument("--duration", type=float, help="seconds per load")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--name", help="results file stem (default: latest, smoke with --smoke)")
    ap.add_argument("--alloc-shim", help="bench/alloccount.so, built by run.sh")
    ap.add_argument("--skip", help="phases to leave out, comma-separated: principal, postgres, "
                    "deployment, allocations, scale (the growth to a million secrets)")
    opts = ap.parse_args()
    if opts.render:
        return render(opts.render)
    if not opts.kluisd or not opts.loadgen:
        ap.error("--kluisd and --loadgen are required")
    unknown = set(opts.skip.split(",") if opts.skip else ()) - SKIPPABLE
    if unknown:
        ap.error(f"--skip: unknown phase {', '.join(sorted(unknown))} (phases: "
                 f"{', '.join(sorted(SKIPPABLE))})")

    def on_signal(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)

    run = Run(opts)
    crashed = None
    try:
        run.run()
    except BenchError as e:
        crashed = str(e)
        run.fail(crashed)
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        run.cleanup()
    ratios(run)
    tg = targets(run)
    os.makedirs(opts.out, exist_ok=True)
    stem = opts.name or ("smoke" if opts.smoke else "latest")
    result = {"meta": run.meta, "mode": run.mode, "ok": not run.failures,
              "failures": run.failures, "targets": tg, "references": run.refs,
              "scenarios": run.scenarios, "scale": run.scale, "scale_pairs": run.scale_pairs,
              "startup": run.startup, "allocations": run.allocations}
    with open(os.path.join(opts.out, f"{stem}.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    print_table(run, tg)
    if plot(run, os.path.join(opts.out, f"{stem}.png")):
        log(f"wrote {os.path.join(opts.out, stem)}.json and {stem}.png")
    if run.failures:
        log(f"{len(run.failures)} failure(s): " + " | ".join(run.failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
