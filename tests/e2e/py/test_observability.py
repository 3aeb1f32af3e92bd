"""The audit log and GET /metrics of a real kluisd (docs/observability.md), driven by Debian's
azure.keyvault.secrets and azure.keyvault.keys.

A full round of secret and key operations with distinctive secret values and key material; then
neither the audit log nor the server's own log (at debug level) may contain any of them, in any
usual encoding, nor the bearer token. Every audit line is one JSON object with every field. After
the log file is renamed, SIGHUP makes kluisd write a new one. /metrics is read by
prometheus_client's parser (python3-prometheus-client) and its counters moved by exactly the
requests made. A full disk under the audit log is counted, never fatal.
"""

import base64
import hashlib
import json
import os
import re
import shutil
import signal
import tempfile
import time
import unittest
import uuid

from prometheus_client.parser import text_string_to_metric_families

import harness
import keyutil
from harness import b64url, unique_name

AUDIT_FIELDS = {"time", "requestId", "clientRequestId", "clientAddress", "method", "operation",
                "principal", "vault", "object", "version", "status", "result", "durationMs",
                "region", "mode"}
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
REOPEN_DEADLINE_S = 20.0


def encodings(raw):
    """raw (bytes) as it could show up in a log: itself, hex, base64 and base64url."""
    out = [raw, raw.hex().encode(), raw.hex().upper().encode(), base64.b64encode(raw).rstrip(b"="),
           base64.urlsafe_b64encode(raw).rstrip(b"=")]
    return [e for e in out if len(e) >= 12]


def scrape(srv):
    """GET /metrics without a token: (content type, {(name, sorted labels): value}, families)."""
    r = srv.request("GET", "/metrics", token=False, host="127.0.0.1")
    assert r.status == 200, r
    families = list(text_string_to_metric_families(r.text))
    samples = {}
    for fam in families:
        for s in fam.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return r.headers.get("content-type"), samples, {f.name: f for f in families}


def read(path):
    with open(path, "rb") as f:
        return f.read()


def wait_for_stderr(srv, text, deadline_s=REOPEN_DEADLINE_S):
    """The server's log once it holds text: harness reads kluisd's stderr in a thread, so a line
    kluisd has written may take a moment to show up there."""
    deadline = time.monotonic() + deadline_s
    while text not in srv.stderr:
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} not in the server log:\n{srv.stderr[-3000:]}")
        time.sleep(0.02)
    return srv.stderr


def requests_total(samples, op, status):
    return samples.get(("kluis_requests_total", (("operation", op), ("status", str(status)))), 0)


class ObservabilityTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="kluis-e2e-audit-")
        cls.audit = os.path.join(cls.tmp, "audit.log")
        cls.srv = harness.start_server(extra_args=["--audit-log", cls.audit, "--log-level", "debug",
                                                   "--region", "obs-region"])

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def audit_lines(self, path=None):
        with open(path or self.audit, "rb") as f:
            data = f.read()
        self.assertTrue(data == b"" or data.endswith(b"\n"), "the last line is whole")
        return [json.loads(line) for line in data.decode("utf-8").splitlines()]

    def check_line(self, line):
        self.assertEqual(set(line), AUDIT_FIELDS, line)
        self.assertRegex(line["time"], TIME_RE)
        self.assertRegex(line["requestId"], r"^[0-9a-f-]{36}$")
        self.assertRegex(line["clientAddress"], r"^127\.0\.0\.1:\d+$")
        self.assertIsInstance(line["operation"], str)
        self.assertIsInstance(line["status"], int)
        self.assertIsInstance(line["result"], str)
        self.assertIsInstance(line["durationMs"], (int, float))
        self.assertGreaterEqual(line["durationMs"], 0)
        self.assertEqual(line["region"], "obs-region")
        self.assertEqual(line["mode"], "read-write")
        if line["status"] < 400:
            self.assertEqual(line["result"], "OK")
        else:
            self.assertNotEqual(line["result"], "OK")
        if line["principal"] is not None:
            self.assertEqual(set(line["principal"]), {"id", "name", "isAdmin"})

    # --- a full round, then nothing secret anywhere ------------------------------------------

    def test_full_round_leaks_nothing(self):
        srv = self.srv
        ctype, before, _ = scrape(srv)
        self.assertEqual(ctype, "text/plain; version=0.0.4; charset=utf-8")
        needles = {"token": srv.token.encode()}

        secrets_client = srv.secret_client()
        names = [unique_name("obs-sec") for _ in range(3)]
        marks = [uuid.uuid4().hex for _ in names]  # each also a needle of its own, should a
        values = [f"OBS-SECRET-{marks[0]}", f"obs multi\nline {marks[1]} é✓\"",  # value be
                  f"{marks[2]}" + base64.b64encode(os.urandom(48)).decode()]  # logged escaped
        for i, (name, value) in enumerate(zip(names, values)):
            needles[f"secret value {i}"] = value.encode()
            needles[f"secret value {i}'s mark"] = marks[i].encode()
            secrets_client.set_secret(name, value, content_type="text/plain", tags={"t": "1"})
        v2 = f"OBS-SECRET-V2-{uuid.uuid4().hex}"
        needles["secret value v2"] = v2.encode()
        second = secrets_client.set_secret(names[0], v2)
        gets = 0
        for name, value in zip(names, values):
            self.assertEqual(secrets_client.get_secret(name).value,
                             v2 if name == names[0] else value)
            gets += 1
        self.assertEqual(secrets_client.get_secret(names[0], second.properties.version).value, v2)
        gets += 1
        secrets_client.update_secret_properties(names[1], enabled=True, tags={"u": "2"})
        self.assertGreaterEqual(len(list(secrets_client.list_properties_of_secrets())), 3)
        self.assertEqual(len(list(secrets_client.list_properties_of_secret_versions(names[0]))), 2)
        secrets_client.backup_secret(names[2])
        secrets_client.begin_delete_secret(names[2]).result()
        secrets_client.get_deleted_secret(names[2])
        secrets_client.close()

        keys = srv.key_client()
        rsa_priv = keyutil.rsa_private()
        for member, raw in keyutil.private_members(rsa_priv).items():
            needles[f"imported RSA {member}"] = raw
        oct_k = os.urandom(32)
        needles["imported oct k"] = oct_k
        rsa_imp = keys.import_key(unique_name("obs-rsaimp"), keyutil.sdk_jwk(rsa_priv))
        oct_imp = keys.import_key(unique_name("obs-octimp"), keyutil.sdk_jwk(oct_k))
        rsa = keys.create_rsa_key(unique_name("obs-rsa"), size=2048)
        ec = keys.create_ec_key(unique_name("obs-ec"), curve="P-256")
        keys.get_key(rsa.name)
        self.assertGreaterEqual(len(list(keys.list_properties_of_keys())), 4)
        keys.backup_key(ec.name)

        plaintext = b"OBS-PLAINTEXT-" + uuid.uuid4().hex.encode()
        cek = os.urandom(32)
        needles["plaintext"] = plaintext
        needles["wrapped key"] = cek
        decrypts = signs = 0
        for key in (rsa, rsa_imp):
            cc = keyutil.typed(keyutil.remote_only(
                keys.get_cryptography_client(key.name, key_version=key.properties.version)))
            ct = cc.encrypt("RSA-OAEP-256", plaintext).ciphertext
            self.assertEqual(cc.decrypt("RSA-OAEP-256", ct).plaintext, plaintext)
            decrypts += 1
            wrapped = cc.wrap_key("RSA-OAEP", cek).encrypted_key
            self.assertEqual(cc.unwrap_key("RSA-OAEP", wrapped).key, cek)
            sig = cc.sign("RS256", hashlib.sha256(plaintext).digest()).signature
            signs += 1
            self.assertTrue(cc.verify("RS256", hashlib.sha256(plaintext).digest(), sig).is_valid)
        occ = keyutil.typed(keyutil.remote_only(
            keys.get_cryptography_client(oct_imp.name, key_version=oct_imp.properties.version)))
        enc = occ.encrypt("A256GCM", plaintext)
        self.assertEqual(occ.decrypt("A256GCM", enc.ciphertext, iv=enc.iv,
                                     authentication_tag=enc.tag).plaintext, plaintext)
        decrypts += 1
        ecc = keyutil.typed(keyutil.remote_only(
            keys.get_cryptography_client(ec.name, key_version=ec.properties.version)))
        ecc.sign("ES256", hashlib.sha256(b"x").digest())
        signs += 1
        keys.begin_delete_key(ec.name).result()
        keys.close()

        _, after, _ = scrape(srv)

        # Nothing secret in the audit log (whichever file: the rotation test may have run) or the
        # server's log, in any usual encoding. The log is read once it has the last request.
        audit = b"".join(read(os.path.join(self.tmp, f)) for f in sorted(os.listdir(self.tmp)))
        last = self.audit_lines()[-1]
        self.assertEqual(last["operation"], "GetMetrics")
        server_log = wait_for_stderr(srv, last["requestId"]).encode()
        self.assertIn(b"DEBUG", server_log, "the server log ran at debug level")
        for what, raw in needles.items():
            for enc in encodings(raw):
                self.assertNotIn(enc, audit, f"{what} in the audit log")
                self.assertNotIn(enc, server_log, f"{what} in the server log")
        self.assertNotIn(b"Bearer", audit)
        self.assertNotIn(b"Bearer", server_log)

        # Every line is one JSON object with every field; the round is all there.
        lines = self.audit_lines()
        for line in lines:
            self.check_line(line)
        ops = {(l["operation"], l["object"]) for l in lines if l["status"] < 400}
        for name in names:
            self.assertIn(("SetSecret", name), ops)
            self.assertIn(("GetSecret", name), ops)
        self.assertIn(("DeleteSecret", names[2]), ops)
        self.assertIn(("ImportKey", rsa_imp.name), ops)
        self.assertIn(("CreateKey", rsa.name), ops)
        self.assertIn(("Sign", ec.name), ops)
        self.assertIn(("Decrypt", oct_imp.name), ops)
        versioned = [l for l in lines if l["operation"] == "GetSecret" and l["version"]]
        self.assertIn(second.properties.version, {l["version"] for l in versioned})
        for l in lines:
            if l["operation"] in ("SetSecret", "GetSecret", "Sign") and l["status"] == 200:
                self.assertEqual(l["principal"], {"id": "", "name": "admin", "isAdmin": True})
                self.assertEqual(l["vault"], "default")
        challenged = [l for l in lines if l["status"] == 401]
        self.assertTrue(challenged, "each SDK client's first request is challenged")
        for l in challenged:
            self.assertIsNone(l["principal"])
            self.assertEqual(l["result"], "Unauthorized")
        self.assertEqual(len({l["requestId"] for l in lines}), len(lines), "request ids are unique")

        # The counters moved by exactly the requests made.
        def delta(op, status=200):
            return requests_total(after, op, status) - requests_total(before, op, status)

        self.assertEqual(delta("SetSecret"), 4)
        self.assertEqual(delta("GetSecret"), gets)
        self.assertEqual(delta("UpdateSecret"), 1)
        self.assertEqual(delta("BackupSecret"), 1)
        self.assertEqual(delta("DeleteSecret"), 1)
        self.assertEqual(delta("ImportKey"), 2)
        self.assertEqual(delta("CreateKey"), 2)
        self.assertEqual(delta("Decrypt"), decrypts)
        self.assertEqual(delta("Sign"), signs)
        self.assertEqual(delta("UnwrapKey"), 2)
        self.assertEqual(delta("BackupKey"), 1)
        self.assertEqual(delta("DeleteKey"), 1)
        self.assertGreaterEqual(delta("GetMetrics"), 1)  # the first scrape

        def challenged_total(samples):
            return sum(v for (n, l), v in samples.items()
                       if n == "kluis_requests_total" and dict(l)["status"] == "401")

        self.assertGreaterEqual(challenged_total(after) - challenged_total(before), 2)

        def count(cls):
            key = ("kluis_request_duration_seconds_count", (("class", cls),))
            return after.get(key, 0) - before.get(key, 0)

        self.assertGreaterEqual(count("secret-write"), 4 + 1 + 1)
        self.assertGreaterEqual(count("secret-read"), gets + 1)
        self.assertGreaterEqual(count("key-write"), 4 + 1)
        self.assertGreaterEqual(count("crypto"), decrypts + signs + 2)
        hits = after[("kluis_keycache_hits_total", ())] - before[("kluis_keycache_hits_total", ())]
        misses = (after[("kluis_keycache_misses_total", ())]
                  - before[("kluis_keycache_misses_total", ())])
        self.assertGreaterEqual(hits + misses, decrypts + signs)
        self.assertEqual(after[("kluis_audit_write_failures_total", ())], 0)
        self.assertGreater(after[("kluis_audit_lines_total", ())],
                           before[("kluis_audit_lines_total", ())])

    # --- log rotation ------------------------------------------------------------------------

    def test_sighup_reopens_after_rename(self):
        srv = self.srv
        rotated = self.audit + ".1"
        self.assertEqual(srv.request("GET", "/health", token=False).status, 200)
        os.rename(self.audit, rotated)
        srv.proc.send_signal(signal.SIGHUP)
        # The reopen happens in kluisd's main thread soon after: until then lines still go to
        # the renamed file. Probe with marked requests until one lands in a new file.
        deadline = time.monotonic() + REOPEN_DEADLINE_S
        marker = None
        while time.monotonic() < deadline:
            marker = f"probe-{uuid.uuid4().hex}"
            r = srv.request("GET", "/health", token=False,
                            headers={"x-ms-client-request-id": marker})
            self.assertEqual(r.status, 200)
            if os.path.exists(self.audit) and marker.encode() in read(self.audit):
                break
            self.assertIn(marker.encode(), read(rotated), "a line was lost")
            time.sleep(0.02)
        else:
            self.fail(f"no new audit file {REOPEN_DEADLINE_S} s after SIGHUP:\n"
                      f"{srv.stderr[-2000:]}")
        self.assertEqual(os.stat(self.audit).st_mode & 0o777, 0o600)
        # From now on every line goes to the new file, none to the old one.
        old_size = os.path.getsize(rotated)
        client = srv.secret_client()
        name = unique_name("obs-rotated")
        client.set_secret(name, "after rotation")
        client.close()
        self.assertEqual(os.path.getsize(rotated), old_size)
        new = self.audit_lines()
        for line in new:
            self.check_line(line)
        self.assertIn(("SetSecret", name), {(l["operation"], l["object"]) for l in new})
        wait_for_stderr(srv, "SIGHUP: audit log")
        self.assertIsNotNone(srv.proc)
        self.assertIsNone(srv.proc.poll(), "SIGHUP does not stop kluisd")

    # --- the exposition --------------------------------------------------------------------

    def test_metrics_parse_and_types(self):
        srv = self.srv
        self.assertEqual(srv.request("GET", "/secrets?api-version=7.5").status, 200)
        self.assertEqual(srv.request("GET", "/secrets?api-version=7.5").status, 200)
        self.assertEqual(srv.request("GET", "/no/such/path", token=False).status, 404)
        ctype, samples, fams = scrape(srv)
        self.assertEqual(ctype, "text/plain; version=0.0.4; charset=utf-8")
        types = {name: f.type for name, f in fams.items()}
        # The parser drops _total from counter family names.
        expected = {
            "kluis_requests": "counter", "kluis_request_duration_seconds": "histogram",
            "kluis_requests_in_flight": "gauge", "kluis_throttled_requests": "counter",
            "kluis_throttle_evictions": "counter",
            "kluis_mode": "gauge", "kluis_writable": "gauge", "kluis_storage_role": "gauge",
            "kluis_keycache_hits": "counter", "kluis_keycache_misses": "counter",
            "kluis_authcache_hits": "counter", "kluis_authcache_misses": "counter",
            "kluis_audit_lines": "counter", "kluis_audit_write_failures": "counter",
            "kluis_metrics_dropped": "counter", "kluis_build_info": "gauge",
            "kluis_node_info": "gauge", "kluis_start_time_seconds": "gauge",
            "kluis_identity_tokens": "counter",
        }
        for name, kind in expected.items():
            self.assertEqual(types.get(name), kind, name)
        self.assertEqual(set(types) - set(expected), set(), "every family is documented here")
        self.assertEqual(samples[("kluis_metrics_dropped_total", ())], 0)
        self.assertEqual(samples[("kluis_throttle_evictions_total", ())], 0)
        # the second list found the vault in the node's cache (filled by the first at the latest)
        self.assertGreaterEqual(samples[("kluis_authcache_hits_total", ())], 1)
        self.assertGreaterEqual(samples[("kluis_authcache_misses_total", ())], 1)
        self.assertGreaterEqual(requests_total(samples, "GetSecrets", 200), 1)
        self.assertGreaterEqual(requests_total(samples, "unknown", 404), 1)
        self.assertEqual(samples[("kluis_mode", (("mode", "read-write"),))], 1)
        self.assertEqual(samples[("kluis_mode", (("mode", "read-only"),))], 0)
        self.assertEqual(samples[("kluis_storage_role", (("role", "primary"),))], 1)
        self.assertEqual(samples[("kluis_writable", ())], 1)
        self.assertEqual(samples[("kluis_throttled_requests_total", ())], 0)
        for grant in ("client_secret", "client_assertion", "federated", "managed_identity",
                      "unknown"):  # every series present from the start
            for outcome in ("issued", "refused"):
                self.assertEqual(samples[("kluis_identity_tokens_total",
                                          (("grant", grant), ("outcome", outcome)))], 0)
        self.assertGreaterEqual(samples[("kluis_requests_in_flight", ())], 1)  # the scrape itself
        self.assertEqual(samples[("kluis_node_info", (("region", "obs-region"),
                                                      ("storage", harness.STORE)))], 1)
        self.assertNotIn("kluis_replication_lag_seconds", fams, "only a standby has a lag")
        self.assertNotIn("kluis_replication_streaming", fams)
        # Histograms: buckets cumulative, +Inf equal to _count, for every class.
        hist = fams["kluis_request_duration_seconds"]
        classes = {s.labels["class"] for s in hist.samples}
        self.assertEqual(classes, {"health", "secret-read", "secret-write", "key-read", "key-write",
                                   "certificate-read", "certificate-write", "crypto",
                                   "management", "admin", "identity", "unknown"})
        for cls in classes:
            buckets = sorted(((float(s.labels["le"]), s.value) for s in hist.samples
                              if s.name.endswith("_bucket") and s.labels["class"] == cls))
            self.assertEqual([v for _, v in buckets], sorted(v for _, v in buckets), cls)
            self.assertEqual(buckets[-1][0], float("inf"))
            self.assertEqual(buckets[-1][1],
                             samples[("kluis_request_duration_seconds_count", (("class", cls),))])
        # Bounded labels: statuses are numbers, operations come from the route table.
        for (name, labels), _ in samples.items():
            if name == "kluis_requests_total":
                d = dict(labels)
                self.assertRegex(d["status"], r"^\d{1,3}$")
                self.assertRegex(d["operation"], r"^[A-Za-z]+$")


class CertificateLeakTest(unittest.TestCase):
    """Certificates with a server of their own (the Python SDKs answer one challenge per package
    and authority for the whole process: sharing ObservabilityTest's server would take the
    challenges its full round counts)."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="kluis-e2e-audit-cert-")
        cls.audit = os.path.join(cls.tmp, "audit.log")
        cls.srv = harness.start_server(extra_args=["--audit-log", cls.audit, "--log-level", "debug"])

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def audit_lines(self):
        with open(self.audit, "rb") as f:
            return [json.loads(line) for line in f.read().decode("utf-8").splitlines()]

    # --- certificates: private keys, PFX files and import passwords -------------------------

    def test_certificate_material_leaks_nothing(self):
        """Created and imported certificates, their managed secrets downloaded: no private key
        (PEM body or any line of it, PKCS#8 DER), no PFX, no import password in either log."""
        import certutil
        from azure.keyvault.certificates import CertificateContentType, CertificatePolicy
        from cryptography.hazmat.primitives.serialization import pkcs12
        srv = self.srv
        client = certutil.cert_client(srv)
        secrets_client = srv.secret_client()
        needles = {"token": srv.token.encode()}

        pem_name = unique_name("obs-cert-pem")
        pfx_name = unique_name("obs-cert-pfx")
        for name, ctype in ((pem_name, CertificateContentType.pem), (pfx_name, CertificateContentType.pkcs12)):
            client.begin_create_certificate(
                name, CertificatePolicy("Self", subject=f"CN={name}", content_type=ctype),
                _polling_interval=certutil.POLL).result(60)
        pem = secrets_client.get_secret(pem_name).value
        body = pem.split("-----BEGIN PRIVATE KEY-----\n", 1)[1].split("-----END PRIVATE KEY-----", 1)[0]
        needles["created key, PEM body"] = body.replace("\n", "").encode()
        for i, line in enumerate(body.splitlines()[:-1]):  # every full 64-column line
            needles[f"created key, PEM line {i}"] = line.encode()
        needles["created key, PKCS#8"] = certutil.pkcs8_der(pem.encode())
        pfx = base64.b64decode(secrets_client.get_secret(pfx_name).value)
        needles["created PFX"] = pfx
        key, _, _ = pkcs12.load_key_and_certificates(pfx, None)
        needles["created PFX key, PKCS#8"] = certutil.pkcs8_der(key)

        password = f"OBS-IMPORT-PW-{uuid.uuid4().hex}"
        needles["import password"] = password.encode()
        src = certutil.SelfSigned(subject="/CN=obs-import")
        imported_pfx = src.pfx(password)
        needles["imported PFX"] = imported_pfx
        needles["imported key, PKCS#8"] = certutil.pkcs8_der(src.key_pem)
        client.import_certificate(unique_name("obs-imp-pfx"), imported_pfx, password=password)
        src2 = certutil.SelfSigned(subject="/CN=obs-import-pem")
        needles["imported PEM key, PKCS#8"] = certutil.pkcs8_der(src2.key_pem)
        client.import_certificate(unique_name("obs-imp-pem"), src2.key_pem + src2.cert_pem,
                                  policy=CertificatePolicy(content_type=CertificateContentType.pem))
        # a wrong password: the refusal must not echo it either
        wrong = f"OBS-WRONG-PW-{uuid.uuid4().hex}"
        needles["wrong import password"] = wrong.encode()
        from azure.core.exceptions import HttpResponseError
        with self.assertRaises(HttpResponseError) as cm:
            client.import_certificate(unique_name("obs-imp-bad"), imported_pfx, password=wrong)
        self.assertNotIn(wrong, str(cm.exception))
        client.backup_certificate(pfx_name)
        client.close()
        secrets_client.close()

        # the logs are read once they hold a last marked request (the server log names it by
        # the server's request id, which the audit line gives)
        marker = f"obs-cert-end-{uuid.uuid4().hex}"
        srv.request("GET", "/health", token=False, headers={"x-ms-client-request-id": marker})
        deadline = time.monotonic() + REOPEN_DEADLINE_S
        while not [l for l in self.audit_lines() if l["clientRequestId"] == marker]:
            self.assertLess(time.monotonic(), deadline, "the marked request is not audited")
            time.sleep(0.02)
        last = [l for l in self.audit_lines() if l["clientRequestId"] == marker][0]
        server_log = wait_for_stderr(srv, last["requestId"]).encode()
        audit = b"".join(read(os.path.join(self.tmp, f)) for f in sorted(os.listdir(self.tmp)))
        for what, raw in needles.items():
            for enc in encodings(raw) if len(raw) > 64 or what.endswith("password") else [raw]:
                self.assertNotIn(enc, audit, f"{what} in the audit log")
                self.assertNotIn(enc, server_log, f"{what} in the server log")
        self.assertNotIn(b"PRIVATE KEY", audit)
        self.assertNotIn(b"PRIVATE KEY", server_log)
        ops = {(l["operation"], l["object"]) for l in self.audit_lines() if l["status"] < 400}
        self.assertTrue(any(o == pem_name for _, o in ops), "the certificate requests are audited")



class AuditFailureTest(unittest.TestCase):
    """A full disk under the audit log: requests still answered, failures counted."""

    @classmethod
    def setUpClass(cls):
        cls.srv = harness.start_server(extra_args=["--audit-log", "/dev/full"])

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def test_full_disk_is_counted_not_fatal(self):
        client = self.srv.secret_client()
        name = unique_name("obs-full")
        client.set_secret(name, "still served")
        self.assertEqual(client.get_secret(name).value, "still served")
        client.close()
        _, samples, _ = scrape(self.srv)
        self.assertGreaterEqual(samples[("kluis_audit_write_failures_total", ())], 3)
        self.assertEqual(samples[("kluis_audit_lines_total", ())], 0)
        log = wait_for_stderr(self.srv, "cannot write to /dev/full")
        self.assertEqual(log.count("cannot write to /dev/full"), 1, "warned once")


class AuditToStderrTest(unittest.TestCase):
    """--audit-log -: the lines go to stderr, among the server's log lines."""

    @classmethod
    def setUpClass(cls):
        cls.srv = harness.start_server(extra_args=["--audit-log", "-"])

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def test_lines_on_stderr(self):
        marker = f"stderr-{uuid.uuid4().hex}"
        r = self.srv.request("GET", "/secrets?api-version=7.5",
                             headers={"x-ms-client-request-id": marker})
        self.assertEqual(r.status, 200)
        log = wait_for_stderr(self.srv, marker)
        lines = [json.loads(l) for l in log.splitlines() if marker in l]
        self.assertEqual(len(lines), 1)
        self.assertEqual(lines[0]["operation"], "GetSecrets")
        self.assertEqual(lines[0]["clientRequestId"], marker)
        self.assertEqual(lines[0]["principal"]["name"], "admin")
        self.assertNotIn(self.srv.token, self.srv.stderr)


if __name__ == "__main__":
    unittest.main()
