"""Replayed and tampered backup blobs (stdlib only).

A secret and a key are backed up. Their blobs are then restored twice, restored over an object
that exists or was soft-deleted, restored as the other kind, bit-flipped in every part (magic,
format, nonce, ciphertext, tag), truncated at every part, extended, re-encoded (standard base64,
padding, whitespace), taken from another deployment with another master key, and sent in bodies of
the wrong shape. Each refusal is a 400 (409 for a name that exists) with an Azure error body; a
blob that cannot be restored (damaged, foreign, of the other kind, not base64url) gets exactly the
service's answer, as recorded from it: code "Malformed backup blob", "Backup blob contains invalid
or corrupt version." for secrets and keys alike, while the precise reason goes to the server log with the request
id; a blob kluis sealed is accepted only where its name is free; and the snapshot of the vault
shows that no refusal stored anything.

Run: cd tests/e2e/raw && /usr/bin/python3 -m unittest -v test_backup_blobs
"""

import base64
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rawlib import (API, assert_error, assign, dp, make_principal, make_vault,  # noqa: E402
                    snapshot, start_server)


BAD_BLOB = {
    "secrets": "Backup blob contains invalid or corrupt version.",
    "keys": "Backup blob contains invalid or corrupt version.",
}


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def unb64u(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class BackupBlobs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = start_server()
        cls.other = start_server()  # another deployment: another master key and data key
        for srv in (cls.srv, cls.other):
            for v in ("one", "two"):
                r = dp(srv, "default", "PUT", "/secrets/bk-secret", {"value": f"secret {v}",
                                                                    "tags": {"v": v}})
                assert r.status == 200, r
            r = dp(srv, "default", "POST", "/keys/bk-key/create", {"kty": "EC", "crv": "P-256"})
            assert r.status == 200, r
        cls.blob = {}
        cls.foreign = {}
        for kind, name in (("secrets", "bk-secret"), ("keys", "bk-key")):
            r = dp(cls.srv, "default", "POST", f"/{kind}/{name}/backup")
            assert r.status == 200, r
            cls.blob[kind] = unb64u(r.json["value"])
            r = dp(cls.other, "default", "POST", f"/{kind}/{name}/backup")
            cls.foreign[kind] = unb64u(r.json["value"])
        make_vault(cls.srv, "bk-elsewhere")
        pid, cls.user = make_principal(cls.srv, "bk-restorer")
        assign(cls.srv, pid, "Key Vault Secrets Officer", "default")
        cls.before = snapshot(cls.srv, "default")

    @classmethod
    def tearDownClass(cls):
        cls.other.close()
        cls.srv.close()

    def tearDown(self):
        self.assertIsNone(self.srv.proc.poll(), f"kluisd died:\n{self.srv.stderr[-4000:]}")
        self.assertEqual(snapshot(self.srv, "default"), self.before, "vault default unchanged")

    def restore(self, kind, value, vault="default", token=None):
        body = {"value": b64u(value)} if isinstance(value, bytes) else value
        return dp(self.srv, vault, "POST", f"/{kind}/restore", body, token=token)

    def refused(self, r, what, status=400):
        assert_error(self, r, status, msg=f"{what}: {r}")

    def bad_blob(self, r, kind, what):
        """The service's answer to a blob it cannot restore, word for word."""
        err = assert_error(self, r, 400, "Malformed backup blob", msg=f"{what}: {r}")
        self.assertEqual(err["message"], BAD_BLOB[kind], f"{what}: {r}")
        return r.headers.get("x-ms-request-id")

    def test_restored_over_a_live_object(self):
        """A blob replayed while its object exists: 409, nothing changes (also for a principal
        that may restore)."""
        for kind in ("secrets", "keys"):
            self.refused(self.restore(kind, self.blob[kind]), f"{kind} replayed", 409)
        self.refused(self.restore("secrets", self.blob["secrets"], token=self.user), "replayed", 409)

    def test_restored_twice_and_over_a_deleted_object(self):
        """Restore in a vault of its own: the first works, the second is 409; once deleted
        (soft) still 409 (recover it instead); purged, it restores again, to the same versions."""
        vault = "bk-elsewhere"
        for kind, name in (("secrets", "bk-secret"), ("keys", "bk-key")):
            r = self.restore(kind, self.blob[kind], vault)
            self.assertEqual(r.status, 200, r)
            versions = sorted(i.get("id") or i.get("kid") for i in
                              dp(self.srv, vault, "GET", f"/{kind}/{name}/versions").json["value"])
            self.refused(self.restore(kind, self.blob[kind], vault), "restored twice", 409)
            self.assertEqual(dp(self.srv, vault, "DELETE", f"/{kind}/{name}").status, 200)
            self.refused(self.restore(kind, self.blob[kind], vault), "over a deleted one", 409)
            self.assertEqual(dp(self.srv, vault, "DELETE", f"/deleted{kind}/{name}").status, 204)
            r = self.restore(kind, self.blob[kind], vault)
            self.assertEqual(r.status, 200, r)
            again = sorted(i.get("id") or i.get("kid") for i in
                           dp(self.srv, vault, "GET", f"/{kind}/{name}/versions").json["value"])
            self.assertEqual(again, versions)
        r = dp(self.srv, vault, "GET", "/secrets/bk-secret")
        self.assertEqual(r.json["value"], "secret two")

    def test_as_the_other_kind(self):
        self.bad_blob(self.restore("keys", self.blob["secrets"]), "keys", "a secret blob as a key")
        self.bad_blob(self.restore("secrets", self.blob["keys"]), "secrets", "a key blob as a secret")

    def test_bit_flips(self):
        """One bit flipped in the magic, the format, the seal's format byte, its nonce, the
        ciphertext (start, middle, end) and the tag."""
        for kind in ("secrets", "keys"):
            blob = self.blob[kind]
            for i in sorted({0, 3, 4, 5, 6, 10, 17, 18, 30, len(blob) // 2, len(blob) - 17,
                             len(blob) - 16, len(blob) - 8, len(blob) - 1}):
                for bit in (0x01, 0x80):
                    bad = bytearray(blob)
                    bad[i] ^= bit
                    self.bad_blob(self.restore(kind, bytes(bad), "bk-elsewhere"), kind,
                                  f"{kind} byte {i} ^ {bit:#x}")

    def test_truncated_and_extended(self):
        for kind in ("secrets", "keys"):
            blob = self.blob[kind]
            for n in sorted({0, 1, 4, 5, 6, 17, 18, 33, len(blob) // 2, len(blob) - 16,
                             len(blob) - 1}):
                self.bad_blob(self.restore(kind, blob[:n], "bk-elsewhere"), kind, f"{kind} cut at {n}")
            for tail in (b"\0", b"\0" * 16, blob[-16:], blob):
                self.bad_blob(self.restore(kind, blob + tail, "bk-elsewhere"), kind, f"{kind} extended")
            self.bad_blob(self.restore(kind, blob[:5] + blob[5:][::-1], "bk-elsewhere"), kind,
                          "reversed")
            two = self.blob["keys" if kind == "secrets" else "secrets"]
            self.bad_blob(self.restore(kind, blob[:len(blob) // 2] + two[len(two) // 2:],
                                       "bk-elsewhere"), kind, f"{kind} spliced with another blob")
            # The SDKs' own test: a zero-filled buffer of a few kilobytes.
            self.bad_blob(self.restore(kind, bytes(4728), "bk-elsewhere"), kind, f"{kind} zeros")

    def test_from_another_deployment(self):
        """Sealed under another deployment's data key: refused, with the same answer as damage."""
        for kind in ("secrets", "keys"):
            for vault in ("default", "bk-elsewhere"):
                rid = self.bad_blob(self.restore(kind, self.foreign[kind], vault), kind,
                                    f"foreign {kind}")
                # The precise reason stays in the server's log, under the request id.
                pattern = rf"{rid}.*restore of a \w+ refused: The backup blob"
                self.assertRegex(self.srv.wait_stderr(pattern), pattern)
            if kind == "secrets":  # a principal that may restore gets the same answer
                self.bad_blob(self.restore(kind, self.foreign[kind], token=self.user), kind, "foreign")

    def test_encodings_and_body_shapes(self):
        blob = self.blob["secrets"]
        std = base64.b64encode(blob).decode()
        odd = [
            {"value": std + "!"}, {"value": b64u(blob) + "==="}, {"value": " " + b64u(blob)},
            {"value": b64u(blob)[:-1] + "*"}, {"value": b64u(blob) + "\n"},
            {"value": ""}, {"value": None}, {"value": 1}, {"value": [b64u(blob)]},
            {"Value": b64u(blob)}, {}, [], "x", {"value": "A" * 1000},
        ]
        for body in odd:
            r = self.restore("secrets", body, "bk-elsewhere")
            is_string = isinstance(body, dict) and isinstance(body.get("value"), str)
            if r.status == 200:  # a lenient decoder may read it: then it is the real blob's
                self.assertEqual(dp(self.srv, "bk-elsewhere", "GET", "/secrets/bk-secret").json["value"],
                                 "secret two")
                self.assertEqual(dp(self.srv, "bk-elsewhere", "DELETE", "/secrets/bk-secret").status, 200)
                self.assertEqual(dp(self.srv, "bk-elsewhere", "DELETE", "/deletedsecrets/bk-secret").status, 204)
                continue
            if is_string:  # not base64url, or not a blob: the service's words
                rid = self.bad_blob(r, "secrets", f"body {str(body)[:40]}")
                if body["value"].endswith("!"):
                    pattern = rf"{rid}.*not valid base64url"
                    self.assertRegex(self.srv.wait_stderr(pattern), pattern)
            else:  # not a blob at all: a message of kluis's own
                self.refused(r, f"body {str(body)[:40]}")

    def test_restore_needs_the_permission(self):
        """A principal without secrets/restore on the vault: 403 before the blob is looked at."""
        r = self.restore("secrets", self.blob["secrets"], "bk-elsewhere", token=self.user)
        assert_error(self, r, 403, "Forbidden")
        r = self.restore("keys", self.blob["keys"], token=self.user)
        assert_error(self, r, 403, "Forbidden")
        r = dp(self.srv, "default", "POST", "/secrets/restore?x=1", {"value": b64u(self.blob["secrets"])},
               token=False)
        assert_error(self, r, 401)


if __name__ == "__main__":
    unittest.main()
