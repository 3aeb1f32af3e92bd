"""Access token signing keys on a real kluisd: a writable start makes one, the admin API lists and
rotates them (the old key stays, retired), they survive a restart, a read-only node serves the
list but refuses a rotation, a read-only start on a fresh data dir does not fail for want of a
key, and --access-token-lifetime is range-checked.

Run: cd tests/e2e/py && /usr/bin/python3 -m unittest -v test_signing_keys
"""

import shutil
import subprocess
import tempfile
import unittest

import harness

PATH = "/kluis/v1/identity/signingKeys"


class SigningKeysTest(unittest.TestCase):
    def keys(self, srv):
        r = srv.request("GET", PATH, host="127.0.0.1")
        self.assertEqual(r.status, 200, r.text)
        return r.json["value"]

    def test_made_at_start_rotated_and_kept(self):
        srv = harness.start_server(extra_args=["--access-token-lifetime", "900"])
        try:
            first = self.keys(srv)
            self.assertEqual(len(first), 1)
            kid = first[0]["kid"]
            self.assertRegex(kid, r"^kl-[0-9a-f]{16}$")
            self.assertIsNone(first[0]["retired"])
            self.assertIsInstance(first[0]["created"], int)

            r = srv.request("POST", PATH + "/rotate", host="127.0.0.1")
            self.assertEqual(r.status, 200, r.text)
            new = r.json["kid"]
            self.assertNotEqual(new, kid)
            self.assertIsNone(r.json["retired"])
            after = self.keys(srv)
            self.assertEqual([k["kid"] for k in after], [new, kid])
            self.assertIsInstance(after[1]["retired"], int)

            # no admin token, no list
            self.assertEqual(srv.request("GET", PATH, host="127.0.0.1", token=False).status, 401)

            # a restart keeps both and makes none
            srv.restart()
            self.assertEqual([k["kid"] for k in self.keys(srv)], [new, kid])

            # read-only: the list still, no rotation
            srv.stop()
            srv.extra_args.append("--read-only")
            srv.start()
            self.assertEqual([k["kid"] for k in self.keys(srv)], [new, kid])
            r = srv.request("POST", PATH + "/rotate", host="127.0.0.1")
            self.assertEqual(r.status, 503, r.text)
        finally:
            srv.close()

    def test_read_only_start_without_a_key(self):
        srv = harness.start_server(extra_args=["--read-only"])
        try:
            self.assertEqual(self.keys(srv), [])
        finally:
            srv.close()

    def test_lifetime_flag_range(self):
        d = tempfile.mkdtemp(prefix="kluis-e2e-py-")
        try:
            for bad in ("299", "86401", "x", ""):
                p = subprocess.run([harness.KLUISD, "--data-dir", d, "--access-token-lifetime", bad],
                                   capture_output=True, text=True, timeout=10)
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertIn("--access-token-lifetime", p.stderr)
        finally:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
