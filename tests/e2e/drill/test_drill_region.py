"""The in-region drill: processes killed under load, as clients with the official SDK see it.

Run (as root, or as a user for whom PostgreSQL 15, pg_auto_failover and HAProxy are installed;
Debian's /usr/bin/python3 with python3-matplotlib, and node with `npm ci` done in tests/e2e/js):

    cd tests/e2e/drill && KLUISD=/path/to/kluisd /usr/bin/python3 -m unittest -v test_drill_region

It brings up a fresh one-region deployment with deploy/cluster.sh in a temporary directory and
runs tests/e2e/js/drill/load.mjs through HAProxy: the official JavaScript SDKs with their default
retry policy, reads, writes and ES256 signs from 8 workers at 150 calls a second. Meanwhile,
on the load's clock:

    T+6 s   kill -9 of a kluisd node
    T+10 s  `cluster.sh up`, which starts that node again
    T+16 s  kill -9 of the PostgreSQL primary's postmaster (pg_auto_failover promotes the standby)
    T+26 s  the other kluisd node frozen (SIGSTOP): it hangs instead of dying
    T+34 s  thawed (SIGCONT)

then, once the deployment has healed (from T+36 s), the PostgreSQL primary frozen for 15 s
(SIGSTOP of its server, backends and keeper: a database machine that hangs; pg_auto_failover
promotes the standby), thawed (it rejoins as the standby), and 8 s more of load.
KLUIS_DRILL_LONG=1 runs the cycle four times (at T+0, 40, 80, 120 s: the kluisd nodes killed and
frozen alternate), each cycle once the deployment has healed from the one before (every process
running, a synchronous standby), then the database freeze.

It passes when: every write the SDK acknowledged is read back afterwards with its value (load.mjs
checks them all); every write sent, acknowledged or not, made at most one version, with its value
(load.mjs lists and reads every version of every name written: no duplicate, no lost acknowledged
write, no value never sent); no read and no sign failed; writes failed only between a primary's
death (or freeze) and the first successful write after it; no call waited for the whole freeze
of a kluisd node (HAProxy takes a node that stops answering its agent out and cuts its
connections, and the SDK retries elsewhere) or of the database (each store connection is cut at
its limit, decisions.md section 31). The time from the kill or freeze to the first write that
started after it and succeeded is measured and printed for each primary, and the slowest call
across each freeze.

Everything goes to KLUIS_DRILL_OUT (default: a new directory under the system's temporary
directory, printed at the end): history.jsonl, started.json, acked.json, writes.json,
summary.json (the load's), events.json (the drill's, on the load's clock), drill.png
(tests/e2e/drill/plot.py), result.json (the verdict's figures), load.log and the deployment's
logs/. The deployment is
always torn down with `down --purge`: by tearDownClass, or by a guard process when this one dies
first. The short form takes 70–110 s (up ~10 s, load about 60 s, its check and the teardown).
"""

import json
import os
import signal
import time
import unittest

from drilllib import LONG, ONCE_KEYS, UP_TIMEOUT_S, DrillTest, say
from clusterlib import alive, cluster, psql, signal_processes

DURATION_S = 160 if LONG else 36  # the cycles' end, then the database freeze
DB_FREEZE_FOR_S, TAIL_S = 15, 8  # the primary frozen that long, then load that long
BOUND_S = DURATION_S + 2 * 40 + DB_FREEZE_FOR_S + TAIL_S  # the load's own limit
CYCLES = [0, 40, 80, 120] if LONG else [0]  # a cycle's start, seconds on the load's clock
KILL_KLUISD_S, UP_S, KILL_PRIMARY_S = 6, 10, 16  # within a cycle
FREEZE_S, FREEZE_FOR_S = 26, 8  # within a cycle: a kluisd node frozen then, for that long
HEAL_TIMEOUT_S = 40  # a cycle waits this long at most for the deployment to have healed


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return None


def verdict(history, events):
    """The drill's figures and what broke its rules, from the load's history and the events.

    Returns (figures, problems): problems is a list of strings, empty when the drill passed.
    """
    problems = []
    for h in history:
        if h["op"] in ("read", "sign") and not h["ok"]:
            problems.append(f"a {h['op']} failed: {json.dumps(h)}")
    attempts = []  # (t, status or error code) of every HTTP attempt whose time is known
    for h in history:
        if "trail" in h:
            attempts += [(t, s) for t, s in h["trail"]]
        else:
            attempts.append((h["t1"], h["status"] if h["ok"] or h["status"] else h["code"]))
    windows = []
    for e in events:
        if e.get("kind") not in ("kill-primary", "freeze-primary"):
            continue
        after = [h for h in history if h["op"] == "write" and h["ok"] and h["t0"] >= e["t"]]
        first = min(after, key=lambda h: h["t1"]) if after else None
        w = {"kill_t": e["t"], "label": e["label"],
             "first_write_t": first["t1"] if first else None,
             "first_write_after_s": round(first["t1"] - e["t"], 3) if first else None}
        if first is None:
            problems.append(f"no write succeeded after {e['label']} at {e['t']:.2f} s")
        # the last error reply to any call (an HTTP attempt inside the SDK's retries) between
        # the kill and that write: until when the vault refused, at the SDK's retry cadence
        end = first["t1"] if first else float("inf")
        errs = [t for t, s in attempts if e["t"] < t < end and not (isinstance(s, int) and s < 400)]
        w["last_error_reply_after_s"] = round(max(errs) - e["t"], 3) if errs else None
        # writes in flight at the kill that still succeeded (the SDK's retries carried them)
        w["writes_across_kill_ok"] = sum(1 for h in history if h["op"] == "write" and h["ok"]
                                         and h["t0"] < e["t"] <= h["t1"])
        windows.append(w)
    failed_writes = [h for h in history if h["op"] == "write" and not h["ok"]]
    for h in failed_writes:
        inside = any(h["t1"] >= w["kill_t"] and
                     (w["first_write_t"] is None or h["t0"] <= w["first_write_t"])
                     for w in windows)
        if not inside:
            problems.append(f"a write failed outside a failover window: {json.dumps(h)}")
    for w in windows:
        end = w["first_write_t"] if w["first_write_t"] is not None else float("inf")
        w["writes_failed"] = sum(1 for h in failed_writes if h["t1"] >= w["kill_t"]
                                 and h["t0"] <= end)
    by_op = {}
    for op in ("read", "write", "sign"):
        hs = [h for h in history if h["op"] == op]
        lat = sorted(h["latency_ms"] for h in hs if h["ok"])
        by_op[op] = {"ok": sum(1 for h in hs if h["ok"]),
                     "failed": sum(1 for h in hs if not h["ok"]),
                     "retried": sum(1 for h in hs if h.get("attempts", 1) > 1),
                     "latency_ms_p50": lat[len(lat) // 2] if lat else None,
                     "latency_ms_max": lat[-1] if lat else None}
    codes = {}
    for h in history:
        if not h["ok"]:
            k = f"{h['op']} {h['status']} {h['code']}"
            codes[k] = codes.get(k, 0) + 1
    # the calls that ended within 5 s after a kluisd node's death: what clients saw of it
    node_kills = []
    for e in events:
        if e.get("kind") != "kill-kluisd":
            continue
        hs = [h for h in history if e["t"] <= h["t1"] <= e["t"] + 5]
        node_kills.append({"kill_t": e["t"], "label": e["label"], "calls_next_5s": len(hs),
                           "failed": sum(1 for h in hs if not h["ok"]),
                           "retried": sum(1 for h in hs if h.get("attempts", 1) > 1),
                           "latency_ms_max": max((h["latency_ms"] for h in hs), default=None)})
    # the calls that were in flight at some moment of a node's freeze: none may have waited for
    # all of it (they would have, had nobody cut the frozen node's connections)
    freezes = []
    for e in events:
        if e.get("kind") not in ("freeze-kluisd", "freeze-primary"):
            continue
        thaw = e["kind"].replace("freeze", "thaw")
        end = min((t["t"] for t in events if t.get("kind") == thaw and t["t"] > e["t"]),
                  default=float("inf"))
        hs = [h for h in history if h["t0"] < end and h["t1"] > e["t"]]
        slowest = max(hs, key=lambda h: h["latency_ms"], default=None)
        f = {"freeze_t": e["t"], "label": e["label"], "frozen_s": round(end - e["t"], 2),
             "calls": len(hs), "failed": sum(1 for h in hs if not h["ok"]),
             "retried": sum(1 for h in hs if h.get("attempts", 1) > 1),
             "latency_ms_max": slowest["latency_ms"] if slowest else None}
        freezes.append(f)
        if slowest is not None and slowest["latency_ms"] >= (end - e["t"] - 1) * 1000:
            problems.append(f"a call waited for the whole freeze of {e['label']}: "
                            f"{json.dumps(slowest)}")
    return {"ops": by_op, "failures_by_kind": codes, "primary_kills": windows,
            "kluisd_kills": node_kills, "freezes": freezes}, problems


class DrillRegionTest(DrillTest):
    def procs(self, kind, role=None):
        return [p for p in self.topology["processes"] if p["kind"] == kind
                and p["region"] == "r1" and (role is None or p["role"] == role)]

    def healed(self):
        """Every process runs and the primary has a synchronous standby."""
        rc, _ = self.status()
        if rc != 0:
            return False
        primaries = [p for p in self.procs("postgres", "primary") if p["running"]]
        try:
            return len(primaries) == 1 and bool(psql(primaries[0]["port"],
                                                     "show synchronous_standby_names"))
        except RuntimeError:
            return False

    # --- the drill -----------------------------------------------------------------------------

    def cycle(self, base, n):
        victim = f"kluisd-{n % 2 + 1}"
        if n > 0:
            deadline = time.monotonic() + HEAL_TIMEOUT_S
            while not self.healed():
                self.assertLess(time.monotonic(), deadline,
                                f"the deployment has not healed {HEAL_TIMEOUT_S} s after cycle {n}")
                time.sleep(0.5)
        self.wait_until(base + KILL_KLUISD_S - 1.5)
        self.status()
        node = next(p for p in self.procs("kluisd") if p["name"] == victim)
        self.assertTrue(node["running"] and alive(node["pid"]), node)
        self.wait_until(base + KILL_KLUISD_S)
        os.kill(node["pid"], signal.SIGKILL)
        self.event(f"kill -9 {victim}", "kill-kluisd")

        self.wait_until(base + UP_S)
        cluster("up", self.dir, timeout=UP_TIMEOUT_S)
        self.event(f"{victim} back (cluster.sh up)", "up")

        self.wait_until(base + KILL_PRIMARY_S - 1.5)
        self.status()
        primaries = [p for p in self.procs("postgres", "primary") if p["running"]]
        self.assertEqual(len(primaries), 1, json.dumps(self.topology, indent=1))
        primary = primaries[0]
        self.assertEqual(comm(primary["pid"]), "postgres", primary)
        self.wait_until(base + KILL_PRIMARY_S)
        os.kill(primary["pid"], signal.SIGKILL)
        self.event(f"kill -9 {primary['name']} (primary)", "kill-primary")

        frozen = f"kluisd-{(n + 1) % 2 + 1}"
        self.wait_until(base + FREEZE_S - 1.5)
        self.status()
        node = next(p for p in self.procs("kluisd") if p["name"] == frozen)
        self.assertTrue(node["running"] and alive(node["pid"]), node)
        self.wait_until(base + FREEZE_S)
        os.kill(node["pid"], signal.SIGSTOP)
        self.event(f"{frozen} frozen (SIGSTOP)", "freeze-kluisd")
        try:
            self.wait_until(base + FREEZE_S + FREEZE_FOR_S)
        finally:
            os.kill(node["pid"], signal.SIGCONT)
        self.event(f"{frozen} thawed", "thaw-kluisd")

    def freeze_primary(self):
        """The PostgreSQL primary frozen for DB_FREEZE_FOR_S once the deployment has healed:
        its server, its backends and its keeper with its service processes (SIGSTOP), then
        woken; returns when it was thawed, on the load's clock."""
        deadline = time.monotonic() + HEAL_TIMEOUT_S
        while not self.healed():
            self.assertLess(time.monotonic(), deadline,
                            f"the deployment has not healed {HEAL_TIMEOUT_S} s after the cycles")
            time.sleep(0.5)
        primary = [p for p in self.procs("postgres", "primary") if p["running"]][0]
        signal_processes([primary], signal.SIGSTOP)
        self.event(f"{primary['name']} frozen (primary, SIGSTOP)", "freeze-primary")
        try:
            time.sleep(DB_FREEZE_FOR_S)
        finally:
            signal_processes([primary], signal.SIGCONT)
        self.event(f"{primary['name']} thawed", "thaw-primary")
        return self.now()

    def test_drill(self):
        self.status()
        self.assertTrue(self.healed(), "the new deployment has no synchronous standby")
        self.start_load(BOUND_S)
        for n, base in enumerate(CYCLES):
            self.cycle(base, n)
        self.wait_until(DURATION_S)
        thawed = self.freeze_primary()
        self.wait_until(thawed + TAIL_S)
        self.load.send_signal(signal.SIGTERM)  # it stops, checks every write and exits
        rc, history, summary = self.finish_load(BOUND_S)
        healed = self.healed()
        with open(os.path.join(self.out, "load.log")) as f:
            tail = f.read()[-3000:]

        figures, problems = verdict(history, self.events)
        once = self.exactly_once(summary)
        figures.update({"long": LONG, "load_s": summary.get("load_s"),
                        "exactly_once": {k: once[k] for k in ONCE_KEYS},
                        "acked_writes": summary.get("acked_writes"),
                        "verify": {k: summary["verify"].get(k)
                                   for k in ("ok", "checked", "unreadable", "duration_s")},
                        "healed_at_end": healed, "events": self.events})
        self.write_result(figures, problems)
        ops = figures["ops"]
        say("calls: " + "; ".join(f"{op} {o['ok']} ok, {o['failed']} failed, {o['retried']} "
                                  f"retried (p50 {o['latency_ms_p50']} ms, max "
                                  f"{o['latency_ms_max']} ms)" for op, o in ops.items()))
        for k in figures["kluisd_kills"]:
            say(f"{k['label']} at T+{k['kill_t']:.2f} s: {k['calls_next_5s']} calls ended in the "
                f"next 5 s, {k['failed']} failed, {k['retried']} retried, slowest "
                f"{k['latency_ms_max']} ms")
        for f in figures["freezes"]:
            say(f"{f['label']} at T+{f['freeze_t']:.2f} s for {f['frozen_s']} s: {f['calls']} "
                f"calls in flight during it, {f['failed']} failed, {f['retried']} retried, "
                f"slowest {f['latency_ms_max']} ms")
        for w in figures["primary_kills"]:
            say(f"{w['label']} at T+{w['kill_t']:.2f} s: first successful write "
                f"{w['first_write_after_s']} s after it (the last error reply to any call "
                f"{w['last_error_reply_after_s']} s after it); {w['writes_failed']} writes failed "
                f"meanwhile, {w['writes_across_kill_ok']} in flight at the kill succeeded")
        say(f"failures by kind: {figures['failures_by_kind'] or 'none'}; "
            f"{figures['acked_writes']} acknowledged writes, read back: "
            f"{summary['verify'].get('ok')}; deployment healed at the end: {healed}")

        self.assert_exactly_once(once)
        self.assertEqual(rc, 0, f"load.mjs exited {rc}\n{tail}")
        self.assertTrue(summary["verify"]["ok"], json.dumps(summary["verify"], indent=1))
        self.assertEqual(problems, [], "\n".join(problems[:20]))


if __name__ == "__main__":
    unittest.main(verbosity=2)
