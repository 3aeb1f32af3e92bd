"""The replicated deployment of deploy/cluster.sh, end to end, with the official Python SDK.

Run (as root, or as a user for whom PostgreSQL 15, pg_auto_failover and HAProxy are installed;
Debian's /usr/bin/python3 with python3-azure):

    cd tests/e2e/cluster && KLUISD=/path/to/kluisd /usr/bin/python3 -m unittest -v test_cluster

Without KLUISD, cluster.sh builds kluisd in the repository's build/. Bounded (about a minute,
under three), loopback only. It brings up a fresh deployment in a temporary directory (a
pg_auto_failover monitor, a primary and a synchronous standby, two kluisd nodes, HAProxy), then:
secrets through HAProxy with the SDK; both nodes serve the same store; synchronous replication is
on; kill -9 of a kluisd node is invisible to the SDK and `up` brings the node back; kill -9 of the
PostgreSQL primary's postmaster makes pg_auto_failover promote the standby, and the time from the
kill to the first successful write through HAProxy is measured and printed; every secret written
before is still there. Every write is logged, acknowledged or not, with its request id, and after
each kill every written name's versions are read: no write made two versions, none acknowledged
is lost, no version holds a value never sent. The new primary is then frozen (SIGSTOP) for 20 s
under raw reads and writes: no call waits for the whole freeze, and the old primary rejoins. `status` and `down` are checked last, and `down
--purge` always runs at the end: by tearDownClass, or by a guard process when this one dies first.
"""

import os
import signal
import sys
import threading
import time
import unittest
import uuid

from clusterlib import (API, UP_TIMEOUT_S, DeploymentTest, alive, cluster, haproxy_servers,
                        psql, signal_processes)


class ClusterTest(DeploymentTest):
    """One region: the steps run in the order of their names and share one deployment."""

    def rejoin_and_read_back(self, old_primary, timeout):
        """Waits (up to timeout s) until the node old_primary is back as the synchronous
        standby, then reads every acknowledged write back through HAProxy with its value."""
        self.wait_for("the old primary back as a standby, synchronous",
                      lambda: self.status()[0] == 0
                      and self.proc(old_primary)["role"] == "standby"
                      and self.sync_standby_names(), timeout)
        with self.client() as client:
            for name, value in self.written.items():
                self.assertEqual(client.get_secret(name).value, value, name)

    # --- the steps -----------------------------------------------------------------------------

    def test_01_topology(self):
        t = self.topology
        self.assertTrue(t["url"].startswith("https://default.vault.localhost:"), t["url"])
        self.assertTrue(os.path.isfile(t["ca"]))
        self.assertTrue(os.path.isfile(t["admin_token_file"]))
        kinds = sorted(p["kind"] for p in t["processes"])
        self.assertEqual(kinds, ["haproxy", "kluisd", "kluisd", "monitor", "postgres", "postgres"])
        for p in t["processes"]:
            for field in ("name", "kind", "region", "role", "port", "pid"):
                self.assertIn(field, p)
            self.assertTrue(p["running"], p)
            self.assertTrue(alive(p["pid"]), p)
        self.assertEqual(sorted(p["role"] for p in self.procs("postgres")), ["primary", "standby"])
        self.assertEqual({p["role"] for p in self.procs("kluisd")}, {"read-write"})

    def test_02_secrets_through_haproxy(self):
        with self.client() as client:
            for i in range(10):
                self.write(client, f"before-{i}", f"value-{i}-{uuid.uuid4()}")
            for name, value in self.written.items():
                self.assertEqual(client.get_secret(name).value, value)
            names = {p.name for p in client.list_properties_of_secrets()}
        self.assertTrue(set(self.written) <= names)

    def test_03_both_nodes_serve_one_store(self):
        name, value = next(iter(self.written.items()))
        for p in self.procs("kluisd"):
            status, body = self.raw("GET", p["port"], "/health")
            self.assertEqual(status, 200, p)
            self.assertEqual(body["mode"], "read-write")
            self.assertEqual(body["storage"], "postgres")
            self.assertEqual(self.raw("GET", p["port"], "/health/writable")[0], 200)
            # a secret written through HAProxy (whichever node took it) is on every node
            status, body = self.raw("GET", p["port"], f"/secrets/{name}?{API}")
            self.assertEqual((status, body["value"]), (200, value), p["name"])
        # and one written on node 2 directly is read on node 1 at once
        k1, k2 = self.procs("kluisd")
        self.assertEqual(self.raw_write(k2["port"], "direct", "on-2"), 200)
        type(self).written["direct"] = "on-2"
        self.assertEqual(self.raw("GET", k1["port"], f"/secrets/direct?{API}")[1]["value"], "on-2")

    def test_04_synchronous_replication(self):
        names = self.sync_standby_names()
        print(f"\n[cluster] primary's synchronous_standby_names = {names!r}", file=sys.stderr)
        self.assertTrue(names, "no synchronous standby on the primary")
        primary = self.procs("postgres", "primary")[0]
        self.assertEqual(psql(primary["port"], "show synchronous_commit"), "on")
        standby = self.procs("postgres", "standby")[0]
        self.assertEqual(psql(standby["port"], "select pg_is_in_recovery()"), "t")
        # the standby has the rows (it is synchronous: every acknowledged write is there)
        self.assertGreaterEqual(int(psql(standby["port"], "select count(*) from kluis_kv")), 10)

    def test_05_kluisd_node_killed(self):
        victim = self.procs("kluisd")[0]
        errors = []
        with self.client() as client:
            client.get_secret("before-0")  # a pooled keep-alive connection, through HAProxy
            os.kill(victim["pid"], signal.SIGKILL)
            t0 = time.monotonic()
            # Reads and writes through HAProxy keep working with the SDK's default retries: on
            # the pooled connection (which may have been on the victim) and on new connections,
            # half of which HAProxy first tries on the victim until its checks mark it down.
            for i in range(20):
                try:
                    self.write(client, f"node-down-{i}", f"v{i}-{uuid.uuid4()}")
                    name = f"before-{i % 10}"
                    self.assertEqual(client.get_secret(name).value, self.written[name])
                    with self.client() as fresh:
                        self.write(fresh, f"node-down-fresh-{i}", f"f{i}-{uuid.uuid4()}")
                        self.assertEqual(fresh.get_secret(name).value, self.written[name])
                except Exception as e:  # noqa: BLE001
                    errors.append(f"{type(e).__name__}: {e}")
        print(f"\n[cluster] kluisd node {victim['name']} killed: 40 writes and 40 reads through "
              f"HAProxy in {time.monotonic() - t0:.2f} s, {len(errors)} failed {errors[:5]}",
              file=sys.stderr)
        # A write whose first attempt committed on the victim and whose answer died with it is
        # retried by the SDK (a PUT is idempotent to azure-core): no second version may come of it.
        self.assert_exactly_once("cluster")
        self.assertEqual(errors, [])
        rc, out = self.status()
        self.assertEqual(rc, 3, out)
        self.assertIn(f"down: {victim['name']}", out)
        self.assertFalse(self.proc(victim["name"])["running"])
        # `up` starts exactly what is not running
        others = {p["name"]: p["pid"] for p in self.topology["processes"] if p["running"]}
        cluster("up", self.dir, timeout=UP_TIMEOUT_S)
        rc, out = self.status()
        self.assertEqual(rc, 0, out)
        for p in self.topology["processes"]:
            self.assertTrue(p["running"], p)
            if p["name"] in others:
                self.assertEqual(p["pid"], others[p["name"]], f"{p['name']} was restarted")
        back = self.proc(victim["name"])
        self.assertNotEqual(back["pid"], victim["pid"])
        self.assertEqual(self.raw("GET", back["port"], "/health")[0], 200)
        status, body = self.raw("GET", back["port"], f"/secrets/node-down-19?{API}")
        self.assertEqual((status, body["value"]), (200, self.written["node-down-19"]))

    def test_06_postgres_primary_killed(self):
        self.status()
        primary = self.procs("postgres", "primary")[0]
        standby = self.procs("postgres", "standby")[0]
        probes = []  # raw writes, no retries: (seconds since the kill, HTTP status or error);
        # each is in self.writes too, with its own x-ms-client-request-id
        acked = {}
        sdk = {"reads": 0, "read_errors": []}
        stop = threading.Event()

        def probe():
            i = 0
            while not stop.is_set():
                i += 1
                name, value = f"probe-{i}", f"p{i}-{uuid.uuid4()}"
                status = self.raw_write(self.lb_port, name, value, timeout=5)
                probes.append((time.monotonic() - t0, status))
                if status == 200:
                    acked[name] = value
                time.sleep(0.05)

        def sdk_write():  # one write with the SDK's default retry policy, started at the kill
            with self.client() as c:
                try:
                    self.write(c, "during-failover", "sdk")
                    sdk["write"] = ("ok", time.monotonic() - t0)
                except Exception as e:  # noqa: BLE001
                    sdk["write"] = (f"{type(e).__name__}: {str(e)[:200]}", time.monotonic() - t0)

        def sdk_reads():  # reads with the SDK's default retry policy throughout
            with self.client() as c:
                while not stop.is_set():
                    name = f"before-{sdk['reads'] % 10}"
                    try:
                        if c.get_secret(name).value != self.written[name]:
                            sdk["read_errors"].append((time.monotonic() - t0, "wrong value"))
                    except Exception as e:  # noqa: BLE001
                        sdk["read_errors"].append((round(time.monotonic() - t0, 2),
                                                   type(e).__name__))
                    sdk["reads"] += 1
                    time.sleep(0.05)

        # kill -9 the primary's postmaster (its keeper, pg_autoctl, stays: it reports the loss)
        t0 = time.monotonic()
        os.kill(primary["pid"], signal.SIGKILL)
        threads = [threading.Thread(target=f, daemon=True) for f in (probe, sdk_write, sdk_reads)]
        for t in threads:
            t.start()
        try:
            # the first successful write after the kill: the failover time as a client sees it
            first_ok = self.wait_for("a write through HAProxy after the primary's death",
                                     lambda: [t for t, s in probes if s == 200][:1], 60)[0]
            time.sleep(1.5)  # writes keep succeeding after that
            self.wait_for("the SDK write to return", lambda: "write" in sdk, 60)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=60)
        failed = [(round(t, 2), s) for t, s in probes if s != 200]
        last_fail = max((t for t, s in probes if s != 200), default=0.0)
        print(f"\n[cluster] PostgreSQL primary {primary['name']} (pid {primary['pid']}) killed: "
              f"first successful write through HAProxy after {first_ok:.2f} s "
              f"({len(failed)} of {len(probes)} raw probe writes failed, the last at "
              f"{last_fail:.2f} s: {sorted({str(s) for _, s in failed})}); "
              f"an SDK write started at the kill (default retries): {sdk['write'][0]} after "
              f"{sdk['write'][1]:.2f} s; SDK reads meanwhile: {sdk['reads']}, failed: "
              f"{len(sdk['read_errors'])} {sdk['read_errors'][:5]}", file=sys.stderr)
        self.assertTrue(all(t <= first_ok + 1.0 for t, s in probes if s != 200),
                        f"writes failed after the first success: {failed}")
        type(self).written.update(acked)
        # pg_auto_failover promoted the standby
        self.wait_for("the standby promoted", lambda: self.status()
                      and self.proc(standby["name"])["role"] == "primary", 30)
        # the old primary's keeper restarts it and it rejoins as a synchronous standby; every
        # acknowledged write is there
        self.rejoin_and_read_back(primary["name"], 60)
        print(f"[cluster] all {len(self.written)} acknowledged secrets readable after the "
              f"failover; primary now {standby['name']}", file=sys.stderr)
        # and each write, acknowledged or not, made at most one version (a probe's name is
        # written once), which holds its value: none made twice, none lost, none invented
        self.assert_exactly_once("cluster")

    def test_06b_postgres_primary_frozen(self):
        """A primary that hangs instead of dying: its server, backends and keeper stopped with
        SIGSTOP for FREEZE_S, their sockets open (TCP sees nothing wrong). Raw reads and writes
        through HAProxy, no retries, a client timeout longer than the freeze: no call may wait
        for the whole freeze (decisions.md §31: each store connection is cut at its limit); the
        longest read and write are printed. Thawed, the old primary rejoins as the synchronous
        standby, and every write is there exactly once."""
        freeze_s = 20
        self.status()
        primary = self.procs("postgres", "primary")[0]
        calls = {"read": [], "write": []}  # (start since the freeze, seconds taken, status)
        acked = {}
        stop = threading.Event()

        def timed(kind, fn):
            start = time.monotonic()
            status = fn()
            calls[kind].append((round(start - t0, 2), round(time.monotonic() - start, 2),
                                status))
            return status

        def reads():
            i = 0
            while not stop.is_set():
                i += 1
                path = f"/secrets/before-{i % 10}?{API}"

                def get():
                    try:
                        return self.raw("GET", self.lb_port, path, timeout=freeze_s + 20)[0]
                    except Exception as e:  # noqa: BLE001
                        return type(e).__name__
                timed("read", get)
                time.sleep(0.05)

        def writes():
            i = 0
            while not stop.is_set():
                i += 1
                name, value = f"frozen-{i}", f"f{i}-{uuid.uuid4()}"
                if timed("write", lambda: self.raw_write(self.lb_port, name, value,
                                                          timeout=freeze_s + 20)) == 200:
                    acked[name] = value
                time.sleep(0.05)

        t0 = time.monotonic()
        signal_processes([primary], signal.SIGSTOP)  # server, backends, keeper's group
        threads = [threading.Thread(target=f, daemon=True) for f in (reads, writes)]
        try:
            for t in threads:
                t.start()
            time.sleep(freeze_s)
        finally:
            signal_processes([primary], signal.SIGCONT)
        thawed = time.monotonic() - t0
        time.sleep(2)  # calls made after the thaw
        stop.set()
        for t in threads:
            t.join(timeout=freeze_s + 30)
        during = {k: [c for c in v if c[0] < thawed] for k, v in calls.items()}
        longest = {k: max((c[1] for c in v), default=0.0) for k, v in during.items()}
        failed = {k: [(c[0], c[2]) for c in v if c[2] != 200] for k, v in during.items()}
        print(f"\n[cluster] PostgreSQL primary {primary['name']} frozen (SIGSTOP) for "
              f"{thawed:.1f} s: reads {len(during['read'])}, longest {longest['read']:.2f} s, "
              f"not 200: {len(failed['read'])} {failed['read'][:4]}; writes "
              f"{len(during['write'])}, longest {longest['write']:.2f} s, not 200: "
              f"{len(failed['write'])} {failed['write'][:4]}", file=sys.stderr)
        for kind in ("read", "write"):
            self.assertTrue(during[kind], f"no {kind} was made during the freeze")
            self.assertLess(longest[kind], freeze_s - 5,
                            f"a {kind} waited for the frozen primary: {during[kind]}")
            self.assertTrue(any(c[2] == 200 for c in during[kind]),
                            f"no {kind} succeeded while the primary was frozen")
        type(self).written.update(acked)
        self.rejoin_and_read_back(primary["name"], 90)
        self.assert_exactly_once("cluster")

    def test_06c_kluisd_node_frozen(self):
        """A kluisd node that hangs instead of dying: stopped with SIGSTOP for FREEZE_S, its
        sockets open, its kernel still accepting connections. HAProxy's checks ask each node's
        agent port (kluisd --lb-agent), which the frozen node no longer answers: HAProxy marks
        it down and cuts its connections, and the SDK retries those calls on the other node.
        Four SDK clients (two readers, two writers, one call at a time each, keep-alive
        connections through HAProxy, some of them on the frozen node), default retries: no call
        fails, and none waits for the whole freeze; the longest is printed (issue 16's target:
        3 s). Thawed, the node is back in HAProxy and serves again; every write exactly once."""
        freeze_s = 12
        victim = self.procs("kluisd")[0]
        calls = []  # (kind, start (monotonic), seconds taken, error or None)
        stop = threading.Event()
        clients = [self.client() for _ in range(4)]
        for c in clients:  # each opens its pooled connection now, before the freeze
            c.get_secret("before-0")
        on_victim = haproxy_servers(self.dir)[victim["name"]][1]
        self.assertGreater(on_victim, 0, "no connection went to the node to freeze")

        def timed(kind, fn):
            start = time.monotonic()
            try:
                fn()
                error = None
            except Exception as e:  # noqa: BLE001
                error = f"{type(e).__name__}: {str(e)[:120]}"
            calls.append((kind, start, round(time.monotonic() - start, 2), error))

        def reads(client):
            i = 0
            while not stop.is_set():
                i += 1
                name = f"before-{i % 10}"

                def get():
                    value = client.get_secret(name).value
                    if value != self.written[name]:
                        raise AssertionError(f"{name}: {value!r}")
                timed("read", get)
                time.sleep(0.05)

        def writes(client, w):
            i = 0
            while not stop.is_set():
                i += 1
                name, value = f"node-frozen-{w}-{i}", f"n{i}-{uuid.uuid4()}"
                timed("write", lambda: self.write(client, name, value))
                time.sleep(0.05)

        threads = [threading.Thread(target=reads, args=(clients[0],), daemon=True),
                   threading.Thread(target=reads, args=(clients[1],), daemon=True),
                   threading.Thread(target=writes, args=(clients[2], 0), daemon=True),
                   threading.Thread(target=writes, args=(clients[3], 1), daemon=True)]
        for t in threads:
            t.start()
        time.sleep(1)  # calls before the freeze, on every connection
        t0 = time.monotonic()
        os.kill(victim["pid"], signal.SIGSTOP)
        try:
            down = self.wait_for("HAProxy to take the frozen node out",
                                 lambda: haproxy_servers(self.dir)[victim["name"]][0] == "DOWN",
                                 freeze_s)
            marked = time.monotonic() - t0
            time.sleep(max(0.0, freeze_s - marked))
        finally:
            os.kill(victim["pid"], signal.SIGCONT)
        thawed = time.monotonic() - t0
        back = self.wait_for("HAProxy to take the node back",
                             lambda: haproxy_servers(self.dir)[victim["name"]][0] == "UP", 20)
        time.sleep(1)  # calls after the thaw
        stop.set()
        for t in threads:
            t.join(timeout=60)
        for c in clients:
            c.close()
        calls = [(k, round(start - t0, 2), took, e) for k, start, took, e in calls]
        during = [c for c in calls if 0 <= c[1] < thawed]
        failed = [c for c in calls if c[3] is not None]
        slowest = sorted(during, key=lambda c: -c[2])[:4]
        longest = {k: max((c[2] for c in during if c[0] == k), default=0.0)
                   for k in ("read", "write")}
        print(f"\n[cluster] kluisd node {victim['name']} frozen (SIGSTOP) for {thawed:.1f} s with "
              f"{on_victim} connection(s) on it: HAProxy marked it down after {marked:.2f} s; "
              f"{len(during)} calls during the freeze, longest read {longest['read']:.2f} s, "
              f"longest write {longest['write']:.2f} s; {len(failed)} failed {failed[:4]}",
              file=sys.stderr)
        self.assertTrue(down, "HAProxy never marked the frozen node down")
        self.assertTrue(back, "HAProxy did not take the thawed node back")
        self.assertEqual(failed, [])
        for kind in ("read", "write"):
            self.assertTrue(any(c[0] == kind for c in during), f"no {kind} during the freeze")
            self.assertLess(longest[kind], freeze_s - 5,
                            f"a {kind} waited for the frozen node; slowest calls: {slowest}")
        status, body = self.raw("GET", victim["port"], f"/secrets/before-1?{API}")
        self.assertEqual((status, body["value"]), (200, self.written["before-1"]))
        self.assert_exactly_once("cluster")

    def test_07_status_and_down(self):
        rc, out = self.status()
        self.assertEqual(rc, 0, out)
        self.assertIn("all 6 processes running", out)
        pids = [p["pid"] for p in self.topology["processes"]]
        pids += [p["keeper_pid"] for p in self.topology["processes"] if p.get("keeper_pid")]
        cluster("down", self.dir, timeout=180)
        gone = self.wait_for("every process stopped", lambda: not any(alive(p) for p in pids), 30)
        self.assertTrue(gone)
        rc, out = self.status()
        self.assertEqual(rc, 3, out)
        self.assertFalse(any(p["running"] for p in self.topology["processes"]), out)
        self.assertTrue(os.path.isdir(os.path.join(self.dir, "pg", "pg-1")), "data kept")
        # tearDownClass purges


if __name__ == "__main__":
    unittest.main(verbosity=2)
