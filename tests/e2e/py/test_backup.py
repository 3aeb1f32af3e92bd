"""Backup and restore through azure.keyvault.secrets, including refused blobs."""

import unittest

from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

import harness
from harness import b64url, unique_name


class BackupTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.start_server()
        cls.client = cls.srv.secret_client()
        cls.other = harness.start_server()  # another data dir, another master key
        cls.other_client = cls.other.secret_client()

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.other_client.close()
        try:
            cls.srv.close()
        finally:
            cls.other.close()

    def snapshot(self):
        live = sorted(f"{p.id}|{p.updated_on}" for p in self.client.list_properties_of_secrets())
        deleted = sorted(d.name for d in self.client.list_deleted_secrets())
        return live, deleted

    def three_versions(self, name):
        return [self.client.set_secret(name, "value one", content_type="ct1", tags={"v": "1"}),
                self.client.set_secret(name, "value two", enabled=False),
                self.client.set_secret(name, "value three", content_type="ct3")]

    def test_restore_after_purge(self):
        name = unique_name("bk")
        vs = self.three_versions(name)
        blob = self.client.backup_secret(name)
        self.assertIsInstance(blob, bytes)
        for v in (b"value one", b"value two", b"value three"):
            self.assertNotIn(v, blob)
            self.assertNotIn(b64url(v)[:-2], b64url(blob))
        self.client.begin_delete_secret(name).result()
        with self.assertRaises(ResourceExistsError):
            self.client.restore_secret_backup(blob)
        self.client.purge_deleted_secret(name)
        restored = self.client.restore_secret_backup(blob)
        self.assertEqual(restored.name, name)
        self.assertEqual(restored.version, vs[2].properties.version)
        self.assertEqual(restored.id, vs[2].id)
        got = sorted(v.version for v in self.client.list_properties_of_secret_versions(name))
        self.assertEqual(got, sorted(v.properties.version for v in vs))
        one = self.client.get_secret(name, vs[0].properties.version)
        self.assertEqual(one.value, "value one")
        self.assertEqual(one.properties.content_type, "ct1")
        self.assertEqual(one.properties.tags, {"v": "1"})
        self.assertEqual(one.properties.created_on, vs[0].properties.created_on)
        with self.assertRaises(HttpResponseError) as cm:
            self.client.get_secret(name, vs[1].properties.version)
        self.assertEqual(cm.exception.status_code, 403)
        self.assertEqual(self.client.get_secret(name).value, "value three")

    def test_restore_over_live_name_is_409(self):
        name = unique_name("bklive")
        self.three_versions(name)
        blob = self.client.backup_secret(name)
        newer = self.client.set_secret(name, "newer")
        with self.assertRaises(ResourceExistsError):
            self.client.restore_secret_backup(blob)
        latest = self.client.get_secret(name)
        self.assertEqual(latest.value, "newer")
        self.assertEqual(latest.properties.version, newer.properties.version)
        self.assertEqual(len(list(self.client.list_properties_of_secret_versions(name))), 4)

    def test_backup_missing_is_404(self):
        with self.assertRaises(ResourceNotFoundError):
            self.client.backup_secret(unique_name("missing"))

    def test_tampered_blobs_refused(self):
        name = unique_name("bktamper")
        self.three_versions(name)
        blob = self.client.backup_secret(name)
        self.client.begin_delete_secret(name).result()
        self.client.purge_deleted_secret(name)
        before = self.snapshot()
        bad = []
        for pos in (0, 7, len(blob) // 2, len(blob) - 1):
            t = bytearray(blob)
            t[pos] ^= 0x80
            bad.append((f"flip {pos}", bytes(t)))
        bad += [("truncated", blob[:-16]), ("extended", blob + b"x"), ("garbage", b"garbage" * 10),
                ("empty-ish", b"\x00")]
        for what, b in bad:
            with self.assertRaises(HttpResponseError, msg=what) as cm:
                self.client.restore_secret_backup(b)
            self.assertEqual(cm.exception.status_code, 400, f"{what}: {cm.exception}")
            self.assertEqual(cm.exception.error.code, "Malformed backup blob", what)
            # The service's words, which the SDKs' own tests compare.
            self.assertEqual(cm.exception.error.message,
                             "Backup blob contains invalid or corrupt version.", what)
        self.assertEqual(self.snapshot(), before)
        with self.assertRaises(ResourceNotFoundError):
            self.client.get_secret(name)
        self.assertEqual(self.client.restore_secret_backup(blob).name, name)

    def test_foreign_blob_refused(self):
        name = unique_name("foreign")
        self.other_client.set_secret(name, "from elsewhere")
        blob = self.other_client.backup_secret(name)
        before = self.snapshot()
        with self.assertRaises(HttpResponseError) as cm:
            self.client.restore_secret_backup(blob)
        self.assertEqual(cm.exception.status_code, 400, str(cm.exception))
        self.assertEqual(self.snapshot(), before)
        with self.assertRaises(ResourceNotFoundError):
            self.client.get_secret(name)


if __name__ == "__main__":
    unittest.main()
