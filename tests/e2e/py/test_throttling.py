"""The throttle (kluisd --throttle, docs/configuration.md) against a real kluisd with low limits.

Raw HTTP shows the 429 as Key Vault sends it (code Throttled, its message, Retry-After in whole
seconds until the window has room, x-ms-error-code) and Resource Manager's on the management
plane; a caller's budget and the vault's (both must have room; a 429 counts in neither);
unauthenticated and unauthorized requests spending nobody's budget; management and data-plane
budgets apart; kluis_throttled_requests_total moving. Then Debian's azure.keyvault.secrets and
azure.keyvault.keys complete bursts well past the limit, retrying each 429 after its Retry-After.

Run: cd tests/e2e/py && /usr/bin/python3 -m unittest -v test_throttling
"""

import hashlib
import re
import subprocess
import time
import unittest
import uuid

import harness
from harness import unique_name

DP = "api-version=7.6"
ARM = "api-version=2026-02-01"
SUB = str(uuid.uuid4())
MESSAGE = "Request was not processed because too many requests were received. Reason: "


def throttled_count(srv):
    r = srv.request("GET", "/metrics", token=False, host="127.0.0.1")
    m = re.search(r"^kluis_throttled_requests_total (\d+)$", r.text, re.M)
    assert r.status == 200 and m, r
    return int(m.group(1))


class ThrottleTest(unittest.TestCase):
    """Each test has its own kluisd, so that each starts with every budget unspent."""

    def start(self, spec, *more):
        srv = harness.start_server(extra_args=["--throttle", spec, *more])
        self.addCleanup(srv.close)
        return srv

    def principal(self, srv, name, role, vault="default"):
        """A new principal with role on vault; returns its token."""
        r = srv.request("POST", "/kluis/v1/principals", body={"name": name}, host="localhost")
        self.assertEqual(r.status, 201, r)
        token = r.json["token"]
        if role:
            r = srv.request("POST", "/kluis/v1/roleAssignments", host="localhost",
                            body={"principal": name, "role": role, "vault": vault})
            self.assertEqual(r.status, 201, r)
        return token

    def vault(self, srv, name):
        """A new vault through the management plane."""
        r = srv.request("PUT", f"/subscriptions/{SUB}/resourceGroups/rg/providers/"
                        f"Microsoft.KeyVault/vaults/{name}?{ARM}", host="localhost",
                        body={"location": "local", "properties": {
                            "tenantId": srv.tenant_id(), "enableRbacAuthorization": True,
                            "sku": {"family": "A", "name": "standard"}}})
        self.assertIn(r.status, (200, 201), r)

    def assertThrottled(self, r, reason, window_s):
        self.assertEqual(r.status, 429, r)
        self.assertEqual(r.json, {"error": {"code": "Throttled", "message": MESSAGE + reason}})
        self.assertEqual(r.headers.get("x-ms-error-code"), "Throttled")
        self.assertRegex(r.headers.get("content-type", ""), r"^application/json")
        self.assertTrue(r.headers.get("x-ms-request-id"))
        self.assertRegex(r.headers.get("retry-after", ""), r"^\d+$")
        self.assertTrue(1 <= int(r.headers["retry-after"]) <= window_s, r.headers)

    # --- raw HTTP ----------------------------------------------------------------------------

    def test_429_shape_and_retry_after(self):
        srv = self.start("window=600,secrets=3")
        before = throttled_count(srv)
        for _ in range(3):
            self.assertEqual(srv.request("GET", f"/secrets?{DP}").status, 200)
        r = srv.request("GET", f"/secrets?{DP}")
        self.assertThrottled(r, "VaultRequestTypeLimitReached", 600)
        self.assertGreaterEqual(int(r.headers["retry-after"]), 590, "until the window ends")
        # Nothing else is refused: other budgets, health probes, metrics; no token is still 401.
        self.assertEqual(srv.request("PUT", f"/secrets/s?{DP}", body={"value": "v"}).status, 200)
        self.assertEqual(srv.request("GET", f"/keys?{DP}").status, 200)
        for _ in range(10):
            self.assertEqual(srv.request("GET", "/health", token=False, host="127.0.0.1").status, 200)
        self.assertEqual(srv.request("GET", f"/secrets?{DP}", token=False).status, 401)
        # The admin's own budget (a principal's is the vault's unless set) is spent everywhere.
        self.vault(srv, "second")
        r = srv.request("GET", f"/secrets?{DP}", host="second.vault.localhost")
        self.assertThrottled(r, "PrincipalRequestTypeLimitReached", 600)
        self.assertEqual(throttled_count(srv), before + 2, "every 429 is counted")

    def test_caller_and_vault_budgets(self):
        srv = self.start("window=600,secrets=5,principal.secrets=3")
        a = self.principal(srv, "app-a", "Key Vault Secrets User")
        b = self.principal(srv, "app-b", "Key Vault Secrets User")
        c = self.principal(srv, "app-c", None)  # no role anywhere
        # Floods that fail authentication or authorization spend no one's budget.
        for _ in range(20):
            self.assertEqual(srv.request("GET", f"/secrets?{DP}", token=False).status, 401)
            self.assertEqual(srv.request("GET", f"/secrets?{DP}", token="kl1.wrong").status, 401)
            self.assertEqual(srv.request("GET", f"/secrets?{DP}", token=c).status, 403)
        for _ in range(3):
            self.assertEqual(srv.request("GET", f"/secrets?{DP}", token=a).status, 200)
        for _ in range(3):  # refused ones do not count either: b still gets the vault's last two
            self.assertThrottled(srv.request("GET", f"/secrets?{DP}", token=a),
                                 "PrincipalRequestTypeLimitReached", 600)
        for _ in range(2):
            self.assertEqual(srv.request("GET", f"/secrets?{DP}", token=b).status, 200)
        self.assertThrottled(srv.request("GET", f"/secrets?{DP}", token=b),
                             "VaultRequestTypeLimitReached", 600)
        # A caller's budget covers every vault; another vault's own budget is untouched.
        self.vault(srv, "other")
        for who in ("app-a", "app-b"):
            r = srv.request("POST", "/kluis/v1/roleAssignments", host="localhost",
                            body={"principal": who, "role": "Key Vault Secrets User",
                                  "vault": "other"})
            self.assertEqual(r.status, 201, r)
        self.assertThrottled(srv.request("GET", f"/secrets?{DP}", token=a,
                                         host="other.vault.localhost"),
                             "PrincipalRequestTypeLimitReached", 600)
        self.assertEqual(srv.request("GET", f"/secrets?{DP}", token=b,
                                     host="other.vault.localhost").status, 200)

    def test_management_and_data_plane_budgets_apart(self):
        srv = self.start("window=600,mgmt-read=3,secrets=2")
        path = f"/subscriptions/{SUB}/providers/Microsoft.KeyVault/vaults?{ARM}"
        for _ in range(3):
            self.assertEqual(srv.request("GET", path, host="localhost").status, 200)
        r = srv.request("GET", path, host="localhost")
        self.assertEqual(r.status, 429, r)
        self.assertEqual(r.json["error"]["code"], "ResourceRequestsThrottled")
        self.assertRegex(r.json["error"]["message"],
                         r"^Number of 'read' requests to this deployment exceeded the limit of '3' "
                         r"for time interval '00:10:00'\. Please try again after '\d+' seconds\.$")
        self.assertTrue(1 <= int(r.headers["retry-after"]) <= 600)
        # The administration API reads share the management plane's budget...
        self.assertEqual(srv.request("GET", "/kluis/v1/deployment", host="localhost").status, 429)
        # ...writes have their own, and the data plane is untouched.
        self.vault(srv, "made-while-throttled")
        for _ in range(2):
            self.assertEqual(srv.request("GET", f"/secrets?{DP}").status, 200)
        self.assertThrottled(srv.request("GET", f"/secrets?{DP}"), "VaultRequestTypeLimitReached",
                             600)
        self.assertEqual(srv.request("GET", path, host="localhost").status, 429, "still spent")

    def test_key_operations_weighted_by_key_type(self):
        srv = self.start("window=600,keys=12")
        for name, body in (("ec", {"kty": "EC", "crv": "P-256"}),
                           ("rsa4k", {"kty": "RSA", "key_size": 4096})):
            r = srv.request("POST", f"/keys/{name}/create?{DP}", body=body)
            self.assertEqual(r.status, 200, r)  # creation draws on key-create, not keys
        sign = {"alg": "ES256", "value": harness.b64url(hashlib.sha256(b"x").digest())}
        for _ in range(3):  # 1 unit each
            self.assertEqual(srv.request("POST", f"/keys/ec//sign?{DP}", body=sign).status, 200)
        # RSA-4096: 8 units (Azure allows 500 of them per 10 s against 4,000 RSA-2048 or EC)
        self.assertEqual(srv.request("GET", f"/keys/rsa4k?{DP}").status, 200)  # 11 of 12
        self.assertEqual(srv.request("POST", f"/keys/ec//sign?{DP}", body=sign).status, 200)
        self.assertThrottled(srv.request("POST", f"/keys/ec//sign?{DP}", body=sign),
                             "VaultRequestTypeLimitReached", 600)

    def test_bad_throttle_values_exit_2(self):
        for spec in ["", "nope=1", "secrets=0", "window=0", "scale=0", "off,secrets=1",
                     "principal.secrets=x"]:
            p = subprocess.run([harness.KLUISD, "--throttle", spec], capture_output=True,
                               timeout=30)
            self.assertEqual(p.returncode, 2, (spec, p.stderr))
            self.assertIn(b"--throttle", p.stderr)

    # --- the SDKs ----------------------------------------------------------------------------

    def test_sdk_completes_a_burst_past_the_limit(self):
        """Five requests per second per budget: the SDK's retry policy waits out each 429's
        Retry-After and every call of a burst of 20 writes and 20 reads succeeds."""
        srv = self.start("window=1,secrets=5,secret-create=5,keys=5")
        client = srv.secret_client()
        self.addCleanup(client.close)
        before = throttled_count(srv)
        names = [unique_name("burst") for _ in range(20)]
        t0 = time.monotonic()
        for i, name in enumerate(names):
            self.assertEqual(client.set_secret(name, f"value-{i}").value, f"value-{i}")
        for i, name in enumerate(names):
            self.assertEqual(client.get_secret(name).value, f"value-{i}")
        took = time.monotonic() - t0
        refused = throttled_count(srv) - before
        self.assertGreater(refused, 0, f"the burst was throttled ({took:.1f} s)")

        keys = srv.key_client()
        self.addCleanup(keys.close)
        key = keys.create_ec_key(unique_name("k"), curve="P-256")
        from azure.keyvault.keys.crypto import SignatureAlgorithm
        crypto = keys.get_cryptography_client(key.name, key_version=key.properties.version)
        self.addCleanup(crypto.close)
        digest = hashlib.sha256(b"burst").digest()
        before = throttled_count(srv)
        for _ in range(15):
            self.assertEqual(len(crypto.sign(SignatureAlgorithm.es256, digest).signature), 64)
        self.assertGreater(throttled_count(srv) - before, 0)


if __name__ == "__main__":
    unittest.main()
