"""The certificate lifecycle through Debian's azure.keyvault.certificates, unchanged, against a
real kluisd (shared/spec/certificates.md C3, C9): delete (key and secret go with it), get and
list deleted, recover, purge, backup and restore, the conflicts, the malformed backup blob.

Issuance timing is not under test here: kluisd runs with --certificate-issue-delay 0.

Run: cd tests/e2e/py && /usr/bin/python3 -m unittest -v test_certificates_lifecycle
"""

import unittest

import certutil
import harness
from certutil import DP, POLL
from harness import unique_name


class CertificateLifecycle(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.start_server(extra_args=["--certificate-issue-delay", "0"])
        cls.client = certutil.cert_client(cls.srv)
        cls.secrets = cls.srv.secret_client()
        cls.keys = cls.srv.key_client()

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def create(self, name, **kwargs):
        from azure.keyvault.certificates import CertificatePolicy
        tags = kwargs.pop("tags", None)
        kwargs.setdefault("subject", f"CN={name}")
        poller = self.client.begin_create_certificate(name, CertificatePolicy("Self", **kwargs),
                                                      tags=tags, _polling_interval=POLL)
        # With a delay of 0 the 202 already says completed: Python's poller is done at once and,
        # never having run, its result() is None. The certificate is read instead.
        self.assertTrue(poller.done())
        self.assertEqual(poller.status(), "completed")
        cert = self.client.get_certificate(name)
        self.assertTrue(cert.cer)
        return cert

    def delete(self, name):
        return self.client.begin_delete_certificate(name, _polling_interval=POLL).result()

    def test_delete_get_and_list_deleted(self):
        from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
        name = unique_name("py-del")
        cert = self.create(name, tags={"t": "1"})
        d = self.delete(name)
        self.assertEqual(d.recovery_id, f"{self.srv.vault_url}/deletedcertificates/{name}")
        self.assertEqual(d.properties.version, cert.properties.version)
        self.assertEqual(bytes(d.cer), bytes(cert.cer))
        self.assertEqual(d.policy.subject, f"CN={name}")
        self.assertEqual((d.scheduled_purge_date - d.deleted_on).days, 90)
        got = self.client.get_deleted_certificate(name)
        self.assertEqual(got.recovery_id, d.recovery_id)
        self.assertEqual(got.policy.subject, f"CN={name}")
        for call in (lambda: self.client.get_certificate(name), lambda: self.keys.get_key(name),
                     lambda: self.secrets.get_secret(name)):
            with self.assertRaises(ResourceNotFoundError):
                call()
        self.assertEqual(self.keys.get_deleted_key(name).properties.version, cert.properties.version)
        self.assertEqual(self.secrets.get_deleted_secret(name).properties.version, cert.properties.version)
        self.assertNotIn(name, [k.name for k in self.keys.list_deleted_keys()])
        self.assertNotIn(name, [s.name for s in self.secrets.list_deleted_secrets()])
        listed = {c.name: c for c in self.client.list_deleted_certificates()}
        self.assertIn(name, listed)
        self.assertEqual(listed[name].recovery_id, d.recovery_id)
        self.assertEqual(listed[name].properties.tags, {"t": "1"})
        self.assertIn(name, [c.name for c in self.client.list_deleted_certificates(include_pending=True)])
        with self.assertRaises(ResourceExistsError) as cm:
            self.create(name)
        self.assertEqual(cm.exception.error.code, "Conflict")
        self.assertEqual(cm.exception.error.innererror["code"], "ObjectIsDeletedButRecoverable")
        with self.assertRaises(ResourceExistsError):
            self.client.import_certificate(name, certutil.SelfSigned().pfx())
        with self.assertRaises(ResourceNotFoundError) as cm:
            self.delete(name)
        self.assertEqual(cm.exception.error.code, "CertificateNotFound")
        with self.assertRaises(ResourceNotFoundError) as cm:
            self.client.get_deleted_certificate(unique_name("py-never"))
        self.assertTrue(cm.exception.error.message.startswith("Deleted Certificate not found: "))

    def test_recover(self):
        from azure.core.exceptions import ResourceNotFoundError
        name = unique_name("py-rec")
        v1 = self.create(name)
        v2 = self.create(name, content_type="application/x-pem-file")
        value = self.secrets.get_secret(name).value
        self.delete(name)
        rec = self.client.begin_recover_deleted_certificate(name, _polling_interval=POLL).result()
        self.assertEqual(rec.properties.version, v2.properties.version)
        self.assertEqual(rec.policy.content_type, "application/x-pem-file")
        self.assertEqual(sorted(v.version for v in self.client.list_properties_of_certificate_versions(name)),
                         sorted([v1.properties.version, v2.properties.version]))
        self.assertEqual(self.secrets.get_secret(name).value, value)
        self.assertEqual(self.keys.get_key(name).properties.version, v2.properties.version)
        with self.assertRaises(ResourceNotFoundError):
            self.client.get_deleted_certificate(name)
        with self.assertRaises(ResourceNotFoundError) as cm:
            self.client.begin_recover_deleted_certificate(unique_name("py-never"), _polling_interval=POLL).result()
        self.assertEqual(cm.exception.error.code, "CertificateNotFound")

    def test_purge(self):
        from azure.core.exceptions import ResourceNotFoundError
        name = unique_name("py-purge")
        self.create(name)
        self.delete(name)
        self.assertIsNone(self.client.purge_deleted_certificate(name))
        for call in (lambda: self.client.get_deleted_certificate(name),
                     lambda: self.keys.get_deleted_key(name),
                     lambda: self.secrets.get_deleted_secret(name),
                     lambda: self.client.purge_deleted_certificate(name)):
            with self.assertRaises(ResourceNotFoundError):
                call()
        self.create(name)
        self.assertEqual(len(list(self.client.list_properties_of_certificate_versions(name))), 1)

    def test_backup_and_restore(self):
        from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
        name = unique_name("py-bak")
        v1 = self.create(name)
        v2 = self.create(name, tags={"v": "2"})
        value = self.secrets.get_secret(name).value
        blob = self.client.backup_certificate(name)
        self.assertIsInstance(blob, bytes)
        self.assertNotIn(value.encode(), blob)
        with self.assertRaises(ResourceExistsError) as cm:
            self.client.restore_certificate_backup(blob)
        self.assertEqual(cm.exception.error.code, "Conflict")
        conflict = cm.exception.error.message
        self.delete(name)
        with self.assertRaises(ResourceExistsError):
            self.client.restore_certificate_backup(blob)
        self.client.purge_deleted_certificate(name)
        restored = self.client.restore_certificate_backup(blob)
        self.assertEqual(restored.name, name)
        self.assertEqual(restored.properties.version, v2.properties.version)
        self.assertEqual(restored.properties.tags, {"v": "2"})
        self.assertEqual(restored.policy.subject, f"CN={name}")
        self.assertEqual(sorted(v.version for v in self.client.list_properties_of_certificate_versions(name)),
                         sorted([v1.properties.version, v2.properties.version]))
        self.assertEqual(self.secrets.get_secret(name).value, value)
        self.assertTrue(self.secrets.get_secret(name).properties.managed)
        self.assertEqual(self.keys.get_key(name, v1.properties.version).id, v1.key_id)
        with self.assertRaises(ResourceNotFoundError):
            self.client.backup_certificate(unique_name("py-never"))
        # the observed text names the id of the latest version (checked last: the rest first)
        self.assertTrue(conflict.startswith(
            f"There was a conflict restoring the certificate '{self.srv.vault_url}/certificates/{name}/{v2.properties.version}'."),
            conflict)

    def test_malformed_backup(self):
        from azure.core.exceptions import HttpResponseError
        for blob in (bytes(4728), b"not a backup", self.tampered()):
            with self.assertRaises(HttpResponseError) as cm:
                self.client.restore_certificate_backup(blob)
            self.assertEqual(cm.exception.status_code, 400)
            self.assertEqual(cm.exception.error.code, "Malformed backup blob")
            self.assertEqual(cm.exception.error.message, "Backup blob contains invalid or corrupt version.")
        r = self.srv.request("POST", f"/certificates/restore?{DP}", {})
        self.assertEqual(r.status, 400, r)

    def tampered(self):
        name = unique_name("py-tamper")
        self.create(name)
        blob = bytearray(self.client.backup_certificate(name))
        self.delete(name)
        self.client.purge_deleted_certificate(name)
        blob[len(blob) // 2] ^= 0x40
        return bytes(blob)


if __name__ == "__main__":
    unittest.main()
