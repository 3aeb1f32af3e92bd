"""Read-only mode end to end (DESIGN.md, Modes): a kluisd started with --read-only on a data
directory that holds secrets and keys serves every read, backup and cryptographic operation,
through the Python SDKs and the management plane, and refuses every change before it touches the
store: 503, Retry-After, and an error whose code says why. /health says read-only and
/health/writable answers 503, which takes the node out of a load balancer's writable pool.

Run: cd tests/e2e/py && /usr/bin/python3 -m unittest -v test_read_only
"""

import unittest

import harness

DP = "api-version=7.6"


class ReadOnly(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.start_server()
        cls.srv.secret_client().set_secret("kept", "as it was")
        cls.key = cls.srv.key_client().create_ec_key("signer", curve="P-256")
        cls.srv.stop()
        cls.srv.extra_args += ["--read-only", "--region", "westeurope"]
        cls.srv.start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def test_reads_and_crypto_work(self):
        from azure.keyvault.keys.crypto import CryptographyClient, SignatureAlgorithm
        secrets = self.srv.secret_client()
        self.assertEqual(secrets.get_secret("kept").value, "as it was")
        self.assertEqual([s.name for s in secrets.list_properties_of_secrets()], ["kept"])
        self.assertTrue(secrets.backup_secret("kept"))
        crypto = CryptographyClient(self.key.id, self.srv.credential, connection_verify=self.srv.ca)
        digest = bytes(32)
        sig = crypto.sign(SignatureAlgorithm.es256, digest).signature
        self.assertTrue(crypto.verify(SignatureAlgorithm.es256, digest, sig).is_valid)
        r = self.srv.request("GET", "/subscriptions/s/providers/Microsoft.KeyVault/vaults"
                             "?api-version=2026-02-01", host="localhost")
        self.assertEqual(r.status, 200, r)

    def test_changes_are_refused_before_the_store(self):
        cases = [
            ("PUT", f"/secrets/kept?{DP}", {"value": "changed"}, None),
            ("PATCH", f"/secrets/kept/?{DP}", {"contentType": "x"}, None),
            ("DELETE", f"/secrets/kept?{DP}", None, None),
            ("POST", f"/keys/new/create?{DP}", {"kty": "EC"}, None),
            ("POST", f"/keys/signer/rotate?{DP}", None, None),
            ("PUT", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/newvault"
                    "?api-version=2026-02-01",
             {"location": "x", "properties": {"tenantId": "t", "sku": {"family": "A", "name": "standard"}}},
             "localhost"),
            ("POST", "/kluis/v1/principals", {"name": "nobody"}, "localhost"),
        ]
        for method, path, body, host in cases:
            with self.subTest(f"{method} {path}"):
                r = self.srv.request(method, path, body, host=host)
                self.assertEqual(r.status, 503, r)
                self.assertEqual(r.headers.get("retry-after"), "1")
                self.assertEqual(r.error_code(), "VaultIsReadOnly")
                self.assertEqual(r.json["error"]["innererror"]["code"], "RegionalFailover")
        self.assertEqual(self.srv.secret_client().get_secret("kept").value, "as it was")
        versions = list(self.srv.secret_client().list_properties_of_secret_versions("kept"))
        self.assertEqual(len(versions), 1)

    def test_health(self):
        r = self.srv.request("GET", "/health", token=False)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json["mode"], "read-only")
        self.assertEqual(r.json["storageRole"], "primary")
        self.assertEqual(r.json["region"], "westeurope")
        r = self.srv.request("GET", "/health/writable", token=False)
        self.assertEqual(r.status, 503)
        self.assertEqual(r.json["mode"], "read-only")

    def test_sdk_sees_a_service_error_not_an_auth_error(self):
        from azure.core.exceptions import HttpResponseError
        client = self.srv.secret_client(retry_total=0)
        with self.assertRaises(HttpResponseError) as cm:
            client.set_secret("kept", "changed")
        self.assertEqual(cm.exception.status_code, 503)


class RegionFlag(unittest.TestCase):
    def test_bad_region_is_a_usage_error(self):
        import subprocess
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            for bad in ("", "West-Europe", "a" * 33, "eu_west"):
                r = subprocess.run([harness.KLUISD, "--data-dir", d, "--region", bad],
                                   capture_output=True, timeout=30)
                self.assertEqual(r.returncode, 2, (bad, r.stderr))
                self.assertIn(b"--region", r.stderr)


if __name__ == "__main__":
    unittest.main()
