"""What the drills share: a deployment made by deploy/cluster.sh for the class (purged at the end,
by a guard process if the test dies first), tests/e2e/js/drill/load.mjs run through its HAProxy,
events placed on the load's clock, and the end of a run: history, summary, the exactly-once
check and plot."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "cluster"))
from clusterlib import CLUSTER_SH, GUARD, UP_TIMEOUT_S, cluster  # noqa: E402

REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
LOAD_MJS = os.path.join(REPO, "tests", "e2e", "js", "drill", "load.mjs")
PLOT_PY = os.path.join(HERE, "plot.py")
LONG = os.environ.get("KLUIS_DRILL_LONG", "") not in ("", "0")
CONCURRENCY, RATE = 8, 150  # the load: workers, calls a second in all
# the counts of load.mjs's exactly-once check that go into result.json
ONCE_KEYS = ("writes", "acknowledged", "names", "versions", "duplicates", "unknown", "lost",
             "unchecked")


def say(msg):
    print(f"[drill] {msg}", file=sys.stderr, flush=True)


class DrillTest(unittest.TestCase):
    """UP_ARGS: the extra arguments of `cluster.sh up`; OUT_PREFIX: of the default output dir."""

    UP_ARGS = ()
    OUT_PREFIX = "kluis-drill-"

    @classmethod
    def setUpClass(cls):
        cls.out = os.environ.get("KLUIS_DRILL_OUT") or tempfile.mkdtemp(prefix=cls.OUT_PREFIX)
        os.makedirs(cls.out, exist_ok=True)
        cls.load = None
        cls.tmp = tempfile.mkdtemp(prefix=cls.OUT_PREFIX + "cluster-")
        os.chmod(cls.tmp, 0o711)  # the postgres user must reach DIR/pg below it
        cls.dir = os.path.join(cls.tmp, "deployment")
        cls.guard = subprocess.Popen([sys.executable, "-c", GUARD, CLUSTER_SH, cls.dir, cls.tmp],
                                     stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        t0 = time.monotonic()
        try:
            cls.node = os.environ.get("KLUIS_NODE") or shutil.which("node")
            if not cls.node:
                raise AssertionError("node not found (set KLUIS_NODE or install nodejs)")
            if not os.path.isdir(os.path.join(REPO, "tests", "e2e", "js", "node_modules",
                                              "@azure", "keyvault-keys")):
                raise AssertionError("the JS SDKs are missing: run `npm ci` in tests/e2e/js")
            _, out, _ = cluster("up", *cls.UP_ARGS, cls.dir, timeout=UP_TIMEOUT_S)
        except BaseException:
            cls.tearDownClass()
            raise
        say(f"up took {time.monotonic() - t0:.1f} s\n{out}")

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.load is not None and cls.load.poll() is None:
                cls.load.send_signal(signal.SIGTERM)  # it stops, checks and writes its summary
                try:
                    cls.load.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    cls.load.kill()
                    cls.load.wait(timeout=10)
            logs = os.path.join(cls.dir, "logs")
            if os.path.isdir(logs):
                shutil.copytree(logs, os.path.join(cls.out, "logs"), dirs_exist_ok=True)
            if os.path.exists(os.path.join(cls.dir, "cluster.env")):
                rc, _, err = cluster("down", "--purge", cls.dir, timeout=180, check=False)
                if rc != 0:
                    say(f"down --purge exited {rc}: {err}")
        finally:
            cls.guard.stdin.close()  # the guard finds nothing left to do and removes tmp
            try:
                cls.guard.wait(timeout=60)
            except subprocess.TimeoutExpired:
                pass
            say(f"output in {cls.out}")

    # --- the deployment ------------------------------------------------------------------------

    def status(self):
        """`cluster.sh status`: (exit status, table); self.topology is refreshed."""
        rc, out, _ = cluster("status", self.dir, check=False)
        with open(os.path.join(self.dir, "topology.json")) as f:
            self.topology = json.load(f)
        return rc, out

    # --- the load and its clock ----------------------------------------------------------------

    def now(self):
        """Seconds on the load's clock."""
        return time.time() - self.start_unix

    def event(self, label, kind=None, t=None):
        e = {"t": round(self.now() if t is None else t, 3), "label": label}
        if kind:
            e["kind"] = kind
        self.events.append(e)
        say(f"T+{e['t']:.2f} s: {label}")
        with open(os.path.join(self.out, "events.json"), "w") as f:
            json.dump(self.events, f, indent=1)

    def wait_until(self, t):
        """Sleeps until the load's clock reads t; fails if the load ended before."""
        while self.now() < t:
            if self.load.poll() is not None:
                self.fail(f"load.mjs exited ({self.load.returncode}) before T+{t} s; "
                          f"see {self.out}/load.log")
            time.sleep(min(0.05, max(0.0, t - self.now())))

    def start_load(self, duration_s):
        """Starts load.mjs through HAProxy and waits until its workers run (time 0)."""
        self.events = []
        for f in ("history.jsonl", "started.json", "summary.json", "events.json", "drill.png",
                  "acked.json", "writes.json"):
            if os.path.exists(os.path.join(self.out, f)):
                os.remove(os.path.join(self.out, f))
        self.status()
        topo = self.topology
        env = {k: v for k, v in os.environ.items()
               if k not in ("NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "SSL_CERT_DIR")}
        cmd = [self.node, LOAD_MJS, "--url", topo["url"], "--ca", topo["ca"],
               "--token-file", topo["admin_token_file"], "--duration-s", str(duration_s),
               "--concurrency", str(CONCURRENCY), "--rate", str(RATE), "--out", self.out]
        say(f"{'long' if LONG else 'short'} drill: {' '.join(cmd)}")
        with open(os.path.join(self.out, "load.log"), "w") as log:
            type(self).load = subprocess.Popen(cmd, stdout=log, stderr=log, env=env,
                                               start_new_session=True)
        started = os.path.join(self.out, "started.json")
        deadline = time.monotonic() + 60
        while not os.path.exists(started):
            self.assertIsNone(self.load.poll(), f"load.mjs exited before its load started; "
                                                f"see {self.out}/load.log")
            self.assertLess(time.monotonic(), deadline, "load.mjs did not start its load")
            time.sleep(0.05)
        with open(started) as f:
            self.start_unix = json.load(f)["unix"]

    def finish_load(self, duration_s, title=None):
        """Waits for load.mjs to end; draws the plot. Returns (exit status, history, summary)."""
        try:
            rc = self.load.wait(timeout=duration_s + 100)
        except subprocess.TimeoutExpired:
            self.fail("load.mjs did not end within its bound")
        with open(os.path.join(self.out, "history.jsonl")) as f:
            history = [json.loads(line) for line in f if line.strip()]
        with open(os.path.join(self.out, "summary.json")) as f:
            summary = json.load(f)
        p = subprocess.run([sys.executable, PLOT_PY, self.out] + (["--title", title] if title
                                                                   else []),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
        if p.returncode != 0:
            say(f"plot.py failed: {p.stderr}")
        return rc, history, summary

    def exactly_once(self, summary):
        """The load's check of every written name's versions (summary.json, verify.exactly_once),
        printed: its counts and (in full in summary.json) up to 20 examples. Returns it."""
        x = summary.get("verify", {}).get("exactly_once")
        self.assertIsNotNone(x, f"load.mjs did not check the versions; see {self.out}/load.log")
        say(f"exactly once: {x['writes']} writes sent, {x['acknowledged']} acknowledged; "
            f"{x['versions']} versions of {x['names']} names: {x['duplicates']} duplicates, "
            f"{x['lost']} lost, {x['unknown']} of unknown value, {x['unchecked']} names not "
            f"checked; {summary.get('request_id_changed')} SDK calls changed their request id "
            f"between attempts")
        for e in x["examples"]:
            say(f"  {e['what']}: {json.dumps(e)}")
        return x

    def assert_exactly_once(self, x):
        """No write made two versions, none acknowledged is lost, no version holds a value never
        sent, and every written name was checked."""
        self.assertEqual({k: x[k] for k in ("duplicates", "lost", "unknown", "unchecked")},
                         {"duplicates": 0, "lost": 0, "unknown": 0, "unchecked": 0},
                         json.dumps(x["examples"] + x["unchecked_names"], indent=1))

    def write_result(self, figures, problems):
        with open(os.path.join(self.out, "result.json"), "w") as f:
            json.dump({**figures, "problems": problems}, f, indent=1)
