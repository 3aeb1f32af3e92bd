"""The operations assets of deploy/monitoring/ against promtool and a real kluisd.

- `promtool check rules` accepts kluis-alerts.yml and `promtool test rules` passes its unit tests
  (kluis-alerts.test.yml: each alert fires on its failure after its `for`, and not before or on
  a healthy deployment). promtool comes with Debian's prometheus package (scripts/test.sh
  installs it).
- Every PromQL expression of the Grafana dashboard (kluis-dashboard.json) parses: promtool checks
  them as recording rules, with Grafana's variables replaced by what Grafana would put there.
- Every kluis_* metric that an alert or a panel names is one that a real kluisd exports: read
  from its GET /metrics by prometheus_client's parser, after requests of several statuses, so
  that the names cannot drift apart. Only the replication metrics, which a node reports on a
  standby only, are allowed to be missing from a standalone node.
- Every alert has its runbook: a section of docs/observability.md that its `runbook` annotation
  points to, and the dashboard is importable as Grafana expects (unique panel ids, a layout
  within 24 columns, the data source and node variables that its queries use).
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import yaml
from prometheus_client.parser import text_string_to_metric_families

import harness

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
MONITORING = os.path.join(REPO, "deploy", "monitoring")
RULES = os.path.join(MONITORING, "kluis-alerts.yml")
RULE_TESTS = os.path.join(MONITORING, "kluis-alerts.test.yml")
DASHBOARD = os.path.join(MONITORING, "kluis-dashboard.json")
OBSERVABILITY = os.path.join(REPO, "docs", "observability.md")
STANDBY_ONLY = {"kluis_replication_lag_seconds", "kluis_replication_streaming"}
METRIC_RE = re.compile(r"\bkluis_[a-z_]+")


def promtool(*args, cwd=MONITORING):
    exe = shutil.which("promtool")
    if exe is None:
        raise AssertionError("promtool is missing: apt-get install prometheus (scripts/test.sh "
                             "does)")
    return subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def load_yaml(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def rule_exprs():
    """(alert name, expr, runbook) of every alert in kluis-alerts.yml."""
    return [(r["alert"], r["expr"], r["annotations"]["runbook"])
            for g in load_yaml(RULES)["groups"] for r in g["rules"]]


def dashboard_exprs(dash):
    return [(p["title"], t["expr"]) for p in dash["panels"] for t in p.get("targets", [])]


class MonitoringTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(DASHBOARD, encoding="utf-8") as f:
            cls.dash = json.load(f)
        cls.rules = rule_exprs()

    def test_rules_check_and_unit_tests(self):
        r = promtool("check", "rules", RULES)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn(f"SUCCESS: {len(self.rules)} rules found", r.stdout)
        r = promtool("test", "rules", RULE_TESTS)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("SUCCESS", r.stdout)
        # every alert is exercised by the unit tests
        tested = {t["alertname"] for case in load_yaml(RULE_TESTS)["tests"]
                  for t in case["alert_rule_test"]}
        self.assertEqual(tested, {name for name, _, _ in self.rules})

    def test_dashboard_queries_parse(self):
        tmp = tempfile.mkdtemp(prefix="kluis-monitoring-")
        try:
            path = os.path.join(tmp, "dashboard-rules.yml")
            rules = [{"record": f"dashboard_query_{i}",
                      "expr": expr.replace("$__rate_interval", "1m")
                      .replace('"$instance"', '".*"')}
                     for i, (_, expr) in enumerate(dashboard_exprs(self.dash))]
            with open(path, "w", encoding="utf-8") as f:
                yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)
            r = promtool("check", "rules", path)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_dashboard_layout_and_variables(self):
        ids = [p["id"] for p in self.dash["panels"]]
        self.assertEqual(len(ids), len(set(ids)), "panel ids are unique")
        for p in self.dash["panels"]:
            g = p["gridPos"]
            self.assertLessEqual(g["x"] + g["w"], 24, p["title"])
            if p["type"] != "row":
                self.assertTrue(p["targets"], p["title"])
                self.assertEqual(p["datasource"]["uid"], "${datasource}", p["title"])
        names = {v["name"] for v in self.dash["templating"]["list"]}
        self.assertEqual(names, {"datasource", "instance"})
        for title, expr in dashboard_exprs(self.dash):
            if "kluis_" in expr:
                self.assertIn('instance=~"$instance"', expr, title)
        self.assertEqual(self.dash["uid"], "kluis-overview")

    def test_runbooks_exist(self):
        with open(OBSERVABILITY, encoding="utf-8") as f:
            headings = {re.sub(r"[^a-z0-9-]", "", line[4:].strip().lower())
                        for line in f if line.startswith("### ")}
        for name, _, runbook in self.rules:
            self.assertEqual(runbook, f"docs/observability.md#{name.lower()}")
            self.assertIn(name.lower(), headings, f"no runbook section for {name}")

    def test_every_metric_named_is_exported(self):
        srv = harness.start_server(extra_args=["--audit-log", "-"])
        try:
            # answers of several statuses and classes, so that their series exist
            self.assertEqual(srv.request("GET", f"/secrets/none?api-version=7.5").status, 404)
            self.assertEqual(srv.request("PUT", f"/secrets/m1?api-version=7.5",
                                         {"value": "v"}).status, 200)
            self.assertEqual(srv.request("GET", f"/secrets/m1?api-version=7.5",
                                         token="wrong").status, 401)
            r = srv.request("GET", "/metrics", token=False, host="127.0.0.1")
            self.assertEqual(r.status, 200, r)
            exported = {s.name for fam in text_string_to_metric_families(r.text)
                        for s in fam.samples}
        finally:
            srv.close()
        named = {}
        for name, expr, _ in self.rules:
            for m in METRIC_RE.findall(expr):
                named.setdefault(m, []).append(f"alert {name}")
        for title, expr in dashboard_exprs(self.dash):
            for m in METRIC_RE.findall(expr):
                named.setdefault(m, []).append(f"panel {title!r}")
        missing = {m: where for m, where in named.items()
                   if m not in exported and m not in STANDBY_ONLY}
        self.assertEqual(missing, {}, "metrics named but not exported by kluisd")
        # and the other way round: every kluis_* metric kluisd exports is on the dashboard (a
        # histogram by any of its series)
        def base(m):
            return re.sub(r"_(bucket|count|sum)$", "", m)
        on_dashboard = {base(m) for _, expr in dashboard_exprs(self.dash)
                        for m in METRIC_RE.findall(expr)}
        exported_bases = {base(m) for m in exported if m.startswith("kluis_")}
        self.assertEqual(exported_bases - on_dashboard, set(), "exported but on no panel")


if __name__ == "__main__":
    unittest.main(verbosity=2)
