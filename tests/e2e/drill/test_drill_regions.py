"""The regional drill: the whole primary region killed and restored under load, then frozen and
thawed, as clients with the official JavaScript SDK see it.

Run (as root, or as a user for whom PostgreSQL 15, pg_auto_failover and HAProxy are installed;
Debian's /usr/bin/python3 with python3-matplotlib, and node with `npm ci` done in tests/e2e/js):

    cd tests/e2e/drill && KLUISD=/path/to/kluisd /usr/bin/python3 -m unittest -v test_drill_regions

It brings up a fresh two-region deployment (deploy/cluster.sh up --regions 2) in a temporary
directory and runs tests/e2e/js/drill/load.mjs through HAProxy (reads, writes and ES256 signs,
the SDKs' default retry policy). On the load's clock, for each cycle starting at B:

    B+6 s   kill -9 of every r1 process at once: both kluisd nodes, both PostgreSQL servers with
            their keepers, the pg_auto_failover monitor (HAProxy and r2 stay)
    B+14 s  `cluster.sh up`, which starts r1 again on its data

or, in a freeze cycle, the same processes stopped with SIGSTOP at B+6 s (a data centre that
hangs: its sockets stay open, nothing answers) and woken with SIGCONT at B+14 s. A kill cycle
at T+0 and a freeze cycle at T+30 s, and the load ending 22 s after the last cycle's r1 is
writable (T+66 s when restores take their usual 8 s; KLUIS_DRILL_LONG=1: four cycles, kill and
freeze alternating). A cycle starts at
its time or, when the previous restore took longer (a slow or busy machine), 8 s after r1 could
write again, so that every kill meets a healed deployment and the failback is measured under
load (a fixed schedule once ran its second restore past the load's end: failback "None"). It passes when: every acknowledged write is read back afterwards (load.mjs
checks them all, through HAProxy, so in r1); every write sent made at most one version, with its
value, and every acknowledged one is in the version its answer named (load.mjs lists and reads
every version of every name written); no read and no sign failed; every failed write failed
with VaultIsReadOnly, between a kill (or freeze) and 5 s after r1 could write again; the
failover (the last success answered by r1 before the kill to the first answered by r2) and the
failback (an r1 node answering /health/writable 200 to the first write that succeeded after it)
each took under 5 s. A frozen region's calls are not answered by anyone: HAProxy takes its nodes
out when their agents stop answering and cuts their connections, so the SDK's retries reach r2.
The figures are printed; history, events, result and the plot (drill.png) go to KLUIS_DRILL_OUT
(default: a new temporary directory, printed at the end).
"""

import http.client
import json
import signal
import ssl
import threading
import time
import unittest

from drilllib import LONG, ONCE_KEYS, UP_TIMEOUT_S, DrillTest, say
from clusterlib import cluster, kill_region, signal_region

CYCLES = [0, 30, 60, 90] if LONG else [0, 30]
FREEZE = [False, True, False, True]  # a cycle kills r1, or freezes it (by its position)
DURATION_S = CYCLES[-1] + 36
KILL_S, RESTORE_S = 6, 14  # within a cycle
HEALED_S = 8  # steady load after r1 is writable again, before the next cycle's kill counts down
TAIL_S = 22  # load after the last restore's r1 is writable
BOUND_S = DURATION_S + 240  # the load's own limit: restores slower than this fail the drill
TARGET_S = 5.0


def verdict(history, events):
    """(figures, problems) of a run: problems lists the rules broken, empty when it passed."""
    problems = []
    ok = [h for h in history if h["ok"]]
    failed = [h for h in history if not h["ok"]]
    for h in failed:
        if h["op"] in ("read", "sign"):
            problems.append(f"a {h['op']} failed: {json.dumps(h)}")
    cycles = []
    kills = [e for e in events if e.get("kind") in ("kill-region", "freeze-region")]
    for e in kills:
        nxt = next((w for w in events if w.get("kind") == "writable" and w["t"] > e["t"]), None)
        c = {"kill_t": e["t"], "label": e["label"], "writable_t": nxt["t"] if nxt else None}
        before = [h["t1"] for h in ok if h.get("region") == "r1" and h["t1"] <= e["t"] + 1.5]
        after = [h["t1"] for h in ok if h.get("region") == "r2" and h["t1"] > e["t"]]
        c["failover_s"] = round(min(after) - max(before), 3) if before and after else None
        if nxt is None:
            problems.append(f"r1 never became writable after the kill at {e['t']:.2f} s")
        else:
            back = [h["t1"] for h in ok if h["op"] == "write" and h["t1"] > nxt["t"]]
            c["failback_s"] = round(min(back) - nxt["t"], 3) if back else None
            c["writes_failed"] = sum(1 for h in failed if h["op"] == "write"
                                     and e["t"] <= h["t1"] and h["t0"] <= nxt["t"] + TARGET_S)
            c["served_by_r2"] = sum(1 for h in ok if h.get("region") == "r2"
                                    and e["t"] <= h["t1"] <= nxt["t"] + TARGET_S)
        for k in ("failover_s", "failback_s"):
            if c.get(k) is None or c[k] >= TARGET_S:
                problems.append(f"{k} after the kill at {e['t']:.2f} s: {c.get(k)} (target "
                                f"under {TARGET_S} s)")
        cycles.append(c)
    for h in failed:
        if h["op"] != "write":
            continue
        inside = any(c["kill_t"] <= h["t1"] and c["writable_t"] is not None
                     and h["t0"] <= c["writable_t"] + TARGET_S for c in cycles)
        if not inside or h["code"] != "VaultIsReadOnly":
            problems.append(f"a write failed outside a regional failover, or not read-only: "
                            f"{json.dumps(h)}")
    by_op = {}
    for op in ("read", "write", "sign"):
        hs = [h for h in history if h["op"] == op]
        lat = sorted(h["latency_ms"] for h in hs if h["ok"])
        by_op[op] = {"ok": sum(1 for h in hs if h["ok"]),
                     "failed": sum(1 for h in hs if not h["ok"]),
                     "by_r2": sum(1 for h in hs if h["ok"] and h.get("region") == "r2"),
                     "latency_ms_p50": lat[len(lat) // 2] if lat else None,
                     "latency_ms_max": lat[-1] if lat else None}
    return {"ops": by_op, "cycles": cycles}, problems


class DrillRegionsTest(DrillTest):
    UP_ARGS = ("--regions", "2")
    OUT_PREFIX = "kluis-drill2-"

    def r1_writable(self, topo):
        """Polls the r1 nodes' /health/writable until one answers 200; returns that moment."""
        ctx = ssl.create_default_context(cafile=topo["ca"])
        nodes = [p for p in topo["processes"] if p["kind"] == "kluisd" and p["region"] == "r1"]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            for p in nodes:
                conn = http.client.HTTPSConnection("127.0.0.1", p["port"], timeout=0.5,
                                                   context=ctx)
                try:
                    conn.request("GET", "/health/writable")
                    if conn.getresponse().status == 200:
                        return self.now()
                except OSError:
                    pass
                finally:
                    conn.close()
            time.sleep(0.05)
        self.fail("no r1 node writable within 120 s of the restore")

    def cycle(self, base, freeze):
        """One kill and restore (or freeze and thaw) from base on the load's clock; returns when
        r1 was writable."""
        self.wait_until(base + KILL_S)
        self.status()
        topo = self.topology
        if freeze:
            signal_region(topo["processes"], "r1", signal.SIGSTOP)
            self.event("r1 frozen (SIGSTOP)", "freeze-region")
            try:
                self.wait_until(base + RESTORE_S)
            finally:
                signal_region(topo["processes"], "r1", signal.SIGCONT)
            self.event("r1 thawed (SIGCONT)", "restore")
            writable = self.r1_writable(topo)
            self.event("r1 writable", "writable", t=writable)
            return writable
        names = kill_region(topo["processes"], "r1")
        self.event(f"kill -9 r1 ({len(names)} processes)", "kill-region")
        self.wait_until(base + RESTORE_S)
        self.status()
        topo = self.topology
        self.event("cluster.sh up (r1 restored)", "restore")
        up = threading.Thread(target=cluster, args=("up", self.dir),
                              kwargs={"timeout": UP_TIMEOUT_S}, daemon=True)
        up.start()
        writable = self.r1_writable(topo)
        self.event("r1 writable", "writable", t=writable)
        up.join(timeout=UP_TIMEOUT_S)
        return writable

    def test_drill(self):
        self.start_load(BOUND_S)
        healed = None
        for base, freeze in zip(CYCLES, FREEZE):
            late = healed + HEALED_S - KILL_S if healed is not None else base
            healed = self.cycle(max(base, late), freeze)
        self.wait_until(max(DURATION_S, healed + TAIL_S))
        self.load.send_signal(signal.SIGTERM)  # it stops, checks every write and exits
        rc, history, summary = self.finish_load(
            BOUND_S, "kluis: region r1 killed and restored, then frozen and thawed, under load")
        figures, problems = verdict(history, self.events)
        once = self.exactly_once(summary)
        figures.update({"acked_writes": summary.get("acked_writes"),
                        "exactly_once": {k: once[k] for k in ONCE_KEYS},
                        "verify_ok": summary["verify"].get("ok"), "events": self.events})
        self.write_result(figures, problems)
        for op, o in figures["ops"].items():
            say(f"{op}: {o['ok']} ok ({o['by_r2']} answered by r2), {o['failed']} failed, p50 "
                f"{o['latency_ms_p50']} ms, max {o['latency_ms_max']} ms")
        for c in figures["cycles"]:
            say(f"{c['label']} at T+{c['kill_t']:.2f} s: failover {c['failover_s']} s; r1 writable "
                f"at T+{c['writable_t']} s, failback {c.get('failback_s')} s; "
                f"{c.get('served_by_r2')} calls served by r2, {c.get('writes_failed')} writes "
                f"failed (read-only)")
        say(f"{figures['acked_writes']} acknowledged writes, all read back: "
            f"{figures['verify_ok']}")
        self.assert_exactly_once(once)
        self.assertEqual(rc, 0, f"load.mjs exited {rc}; see {self.out}/load.log")
        self.assertTrue(summary["verify"]["ok"], json.dumps(summary["verify"], indent=1))
        self.assertEqual(problems, [], "\n".join(problems[:20]))


if __name__ == "__main__":
    unittest.main(verbosity=2)
