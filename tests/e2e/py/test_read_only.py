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


class ReadOnlyCertificates(unittest.TestCase):
    """Certificates on a read-only node (shared/spec/certificates.md C11): every read served
    (certificates, versions, policy, the pending operation, deleted ones, contacts, issuers,
    backup, the managed secret and key), every change refused with 503 VaultIsReadOnly before it
    touches the store. A Self creation still completes there: completion follows from stored times."""

    @classmethod
    def setUpClass(cls):
        import certutil
        from azure.keyvault.certificates import CertificateContact, CertificatePolicy
        cls.srv = harness.start_server(extra_args=["--certificate-issue-delay", "3"])
        client = certutil.cert_client(cls.srv)
        cls.cert = client.begin_create_certificate(
            "ro-cert", CertificatePolicy("Self", subject="CN=ro.example"),
            _polling_interval=certutil.POLL).result()
        client.begin_create_certificate("ro-pending", CertificatePolicy("Unknown", subject="CN=p"),
                                        _polling_interval=certutil.POLL).result()
        client.begin_create_certificate("ro-gone", CertificatePolicy("Self", subject="CN=gone"),
                                        _polling_interval=certutil.POLL).result()
        client.begin_delete_certificate("ro-gone", _polling_interval=certutil.POLL).result()
        client.set_contacts([CertificateContact(email="ro@example.com")])
        client.create_issuer("ro-issuer", "Test")
        # the last: still in progress when the node turns read-only (unless the restart is slow)
        r = cls.srv.request("POST", f"/certificates/ro-late/create?{DP}",
                            {"policy": {"issuer": {"name": "Self"}, "x509_props": {"subject": "CN=late"}}})
        assert r.status == 202, r
        cls.srv.stop()
        cls.srv.extra_args += ["--read-only"]
        cls.srv.start()
        cls.client = certutil.cert_client(cls.srv)

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def test_reads(self):
        c = self.client
        got = c.get_certificate("ro-cert")
        self.assertEqual(bytes(got.cer), bytes(self.cert.cer))
        self.assertEqual(c.get_certificate_version("ro-cert", self.cert.properties.version).id, self.cert.id)
        self.assertEqual(c.get_certificate_policy("ro-cert").subject, "CN=ro.example")
        self.assertEqual(len(list(c.list_properties_of_certificate_versions("ro-cert"))), 1)
        names = {p.name for p in c.list_properties_of_certificates(include_pending=True)}
        self.assertTrue({"ro-cert", "ro-pending"} <= names, names)
        self.assertEqual(c.get_certificate_operation("ro-pending").status, "inProgress")
        self.assertEqual(c.get_certificate_operation("ro-cert").status, "completed")
        self.assertEqual(c.get_deleted_certificate("ro-gone").name, "ro-gone")
        self.assertIn("ro-gone", [d.name for d in c.list_deleted_certificates()])
        self.assertEqual([x.email for x in c.get_contacts()], ["ro@example.com"])
        self.assertEqual(c.get_issuer("ro-issuer").provider, "Test")
        self.assertIn("ro-issuer", [i.name for i in c.list_properties_of_issuers()])
        self.assertTrue(c.backup_certificate("ro-cert"))
        # the managed secret and key: read, and sign
        from azure.keyvault.keys.crypto import CryptographyClient
        self.assertTrue(self.srv.secret_client().get_secret("ro-cert").value)
        cc = CryptographyClient(self.cert.key_id, self.srv.credential, connection_verify=self.srv.ca)
        self.assertTrue(cc.sign("RS256", bytes(32)).signature)

    def test_self_issuance_completes_on_a_read_only_node(self):
        import time
        deadline = time.monotonic() + 30
        while self.client.get_certificate_operation("ro-late").status == "inProgress":
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.1)
        self.assertEqual(self.client.get_certificate_operation("ro-late").status, "completed")
        self.assertTrue(self.client.get_certificate("ro-late").cer)

    def test_writes_refused(self):
        import base64
        import certutil
        v = self.cert.properties.version
        pfx = base64.b64encode(certutil.SelfSigned().pfx()).decode()
        create = {"policy": {"issuer": {"name": "Self"}, "x509_props": {"subject": "CN=x"}}}
        blob = base64.urlsafe_b64encode(self.client.backup_certificate("ro-cert")).decode().rstrip("=")
        cases = [
            ("POST", "/certificates/ro-new/create", create),
            ("POST", "/certificates/ro-cert/create", create),
            ("POST", "/certificates/ro-imp/import", {"value": pfx}),
            ("PATCH", f"/certificates/ro-cert/{v}", {"tags": {"a": "b"}}),
            ("PATCH", "/certificates/ro-cert/", {"attributes": {"enabled": False}}),
            ("DELETE", "/certificates/ro-cert", None),
            ("POST", "/deletedcertificates/ro-gone/recover", None),
            ("DELETE", "/deletedcertificates/ro-gone", None),
            ("POST", "/certificates/restore", {"value": blob}),
            ("PATCH", "/certificates/ro-cert/policy", {"x509_props": {"subject": "CN=y"}}),
            ("PATCH", "/certificates/ro-pending/pending", {"cancellation_requested": True}),
            ("DELETE", "/certificates/ro-pending/pending", None),
            ("POST", "/certificates/ro-pending/pending/merge", {"x5c": [base64.b64encode(bytes(self.cert.cer)).decode()]}),
            ("PUT", "/certificates/contacts", {"contacts": [{"email": "x@example.com"}]}),
            ("DELETE", "/certificates/contacts", None),
            ("PUT", "/certificates/issuers/ro-issuer2", {"provider": "Test"}),
            ("PATCH", "/certificates/issuers/ro-issuer", {"provider": "Other"}),
            ("DELETE", "/certificates/issuers/ro-issuer", None),
        ]
        for method, path, body in cases:
            with self.subTest(f"{method} {path}"):
                r = self.srv.request(method, f"{path}?{DP}", body)
                self.assertEqual(r.status, 503, r)
                self.assertEqual(r.headers.get("retry-after"), "1")
                self.assertEqual(r.error_code(), "VaultIsReadOnly")
                self.assertEqual(r.json["error"]["innererror"]["code"], "RegionalFailover")
        # nothing changed
        c = self.client
        self.assertEqual(c.get_certificate("ro-cert").properties.tags, self.cert.properties.tags)
        self.assertTrue(c.get_certificate("ro-cert").properties.enabled)
        self.assertEqual(c.get_certificate_operation("ro-pending").status, "inProgress")
        self.assertEqual(c.get_issuer("ro-issuer").provider, "Test")
        self.assertEqual(len(c.get_contacts()), 1)
        self.assertEqual(c.get_deleted_certificate("ro-gone").name, "ro-gone")
        self.assertEqual(self.srv.request("GET", f"/certificates/ro-new/?{DP}").status, 404)


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
