"""Restart persistence, kill -9 durability and sealing on disk, driven with azure.keyvault.secrets."""

import base64
import os
import secrets
import signal
import unittest
from concurrent.futures import ThreadPoolExecutor

from azure.core.exceptions import HttpResponseError, ResourceExistsError

import harness
from harness import unique_name


def encodings(needle):
    """The needle raw, in hex, and in base64/base64url at each alignment (edge quanta cut)."""
    raw = needle.encode()
    out = [("plain", raw), ("hex", raw.hex().encode()), ("HEX", raw.hex().upper().encode())]
    for k in range(3):
        shifted = b"\x00" * k + raw
        for enc, fn in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
            s = fn(shifted).rstrip(b"=")
            s = s[4 if k else 0:len(s) - 4]
            out.append((f"{enc}+{k}", s))
    return out


class ProcessTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.start_server()

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def test_restart_persistence(self):
        client = self.srv.secret_client()
        name = unique_name("persist")
        v1 = client.set_secret(name, "p1", content_type="ct", tags={"k": "v"})
        client.set_secret(name, "p2", enabled=False)
        gone = unique_name("persist-del")
        client.set_secret(gone, "deleted one")
        d = client.begin_delete_secret(gone).result()
        token = self.srv.token
        self.assertEqual(self.srv.restart(), 0, "SIGTERM exits 0")
        self.assertEqual(self.srv.token, token)
        got = client.get_secret(name, v1.properties.version)  # same client keeps working
        self.assertEqual(got.value, "p1")
        self.assertEqual(got.properties.tags, {"k": "v"})
        self.assertEqual(got.properties.created_on, v1.properties.created_on)
        with self.assertRaises(HttpResponseError) as cm:
            client.get_secret(name)
        self.assertEqual(cm.exception.status_code, 403)
        g = client.get_deleted_secret(gone)
        self.assertEqual(g.deleted_date, d.deleted_date)
        with self.assertRaises(ResourceExistsError):
            client.set_secret(gone, "x")
        client.close()

    def test_sigint_exits_zero(self):
        self.assertEqual(self.srv.stop(signal.SIGINT), 0)
        self.srv.start()

    def test_kill9_durability(self):
        client = self.srv.secret_client()
        prefix = unique_name("k9")
        n = 200

        def write(i):
            name = f"{prefix}-{i % 40}"
            value = f"durable {i} {secrets.token_hex(8)}"
            s = client.set_secret(name, value)
            return name, s.properties.version, value

        with ThreadPoolExecutor(8) as ex:
            acked = list(ex.map(write, range(n)))
        self.assertEqual(len(acked), n)
        self.assertEqual(self.srv.kill9(), -signal.SIGKILL)
        self.srv.start()
        for name, version, value in acked:
            self.assertEqual(client.get_secret(name, version).value, value)
        self.assertEqual(len(list(client.list_properties_of_secret_versions(f"{prefix}-0"))), 5)
        client.close()

    def test_no_value_on_disk(self):
        client = self.srv.secret_client()
        needle = f"kluis-py-needle-{secrets.token_hex(24)}"
        name = unique_name("needle")
        client.set_secret(name, needle)
        client.set_secret(name, needle + "-v2", content_type="x")
        client.backup_secret(name)
        kept = unique_name("needle-del")
        client.set_secret(kept, needle)
        client.begin_delete_secret(kept).result()

        def scan():
            token = self.srv.token.encode()
            for f, data in self.srv.files_at_rest():  # under PostgreSQL its files too
                for enc, pat in encodings(needle):
                    self.assertNotIn(pat, data, f"secret value ({enc}) in {f}")
                if os.path.basename(f) != "admin-token":
                    self.assertNotIn(token, data, f"admin token in {f}")

        scan()
        self.assertEqual(self.srv.stop(), 0)
        scan()
        self.srv.start()
        self.assertEqual(client.get_secret(name).value, needle + "-v2")
        client.close()


if __name__ == "__main__":
    unittest.main()
