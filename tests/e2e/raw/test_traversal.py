"""Path traversal and encoding tricks in object names, versions and paths (stdlib only).

A principal that may read the secrets of vault "default" only (Key Vault Secrets User), and the
admin, try to reach another object, another collection or another vault through names such as
%2e%2e, %2f, double encoding, overlong UTF-8, NUL, backslashes, dot segments and Unicode
lookalikes. Every such request gets 400, 404 or 405 with an Azure error body; none returns the
value of anything but the object it names by its exact (case-insensitive) name; writes through
such names create nothing; and the snapshot of both vaults is unchanged afterwards.

Run: cd tests/e2e/raw && /usr/bin/python3 -m unittest -v test_traversal
"""

import os
import sys
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rawlib import (API, RG_PATH, ARM_API, admin, arm, assert_azure_error, assert_error,  # noqa: E402
                    assign, dp, make_principal, make_vault, raw_once, snapshot, start_server)

OTHER = "trav-other"
VALUE = "value of target in default"
OTHER_VALUE = "value of target in trav-other"
KEY_HINT = "kid of k"  # a key's presence shows in the body as its kid

# Names that decode (once or twice) to something with a dot segment, a slash, a NUL, a
# backslash or a character outside the name alphabet. Each is used as an object name, a version,
# and spliced into paths.
TRICKS = [
    "%2e%2e", "%2E%2E", "..", ".", "%2e", "..%2f", "%2e%2e%2f", "..%2F..%2Fkeys%2Fk",
    "%2e%2e%2f%2e%2e%2fkeys%2fk", "target%2f..%2f..%2fkeys%2fk", "%252e%252e", "%252f",
    "target%252f..", "%25252e", "%c0%ae%c0%ae", "%c0%af", "%e0%80%ae", "%c0%2e", "%c1%9c",
    "%00", "target%00", "%00target", "target%00.json", "..%5c", "%5c..%5ckeys%5ck", "target%5c",
    "..%255c", "%2e%2e%5c", "target;..", "target%3b", "target%3fapi-version=7.6", "target%23x",
    "target%20", "%20target", "target%09", "target%0d%0aX-Injected:%201", "%ff", "%fe%ff",
    "t%D0%B0rget",            # Cyrillic a (U+0430)
    "%EF%BD%94arget",         # fullwidth t (U+FF54)
    "target%E2%80%8B",        # zero-width space
    "tar%C2%ADget",           # soft hyphen
    "target%EF%BC%8F..",      # fullwidth solidus
    "%E2%80%AEtegrat",        # right-to-left override
    "targe%CC%81t",           # combining acute
    "TARGET%E2%81%A0",        # word joiner
    "%E2%88%95..%E2%88%95keys",  # division slash
    "target-" + "a" * 200,
]


class Traversal(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = start_server()
        make_vault(cls.srv, OTHER)
        for vault, value in (("default", VALUE), (OTHER, OTHER_VALUE)):
            assert dp(cls.srv, vault, "PUT", "/secrets/target", {"value": value}).status == 200
            r = dp(cls.srv, vault, "POST", "/keys/k/create", {"kty": "EC", "crv": "P-256"})
            assert r.status == 200, r
        cls.version = dp(cls.srv, "default", "GET", "/secrets/target").json["id"].rsplit("/", 1)[1]
        pid, cls.user = make_principal(cls.srv, "trav-user")
        assign(cls.srv, pid, "Key Vault Secrets User", "default")
        cls.before = {v: snapshot(cls.srv, v) for v in ("default", OTHER)}

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def tearDown(self):
        self.assertIsNone(self.srv.proc.poll(), f"kluisd died:\n{self.srv.stderr[-4000:]}")
        for v in ("default", OTHER):
            self.assertEqual(snapshot(self.srv, v), self.before[v], f"vault {v} unchanged")

    def refused(self, r, what, allowed=(400, 403, 404, 405)):
        """Refused with an Azure error (403 too: a Secrets User may not write or back up, and the
        role is checked before the name), and nothing of another object in the answer (an
        error message may quote the path it was sent)."""
        assert_error(self, r, allowed, msg=f"{what}: {r}")
        self.assertNotIn(OTHER_VALUE, r.text, what)
        self.assertNotIn(VALUE, r.text, what)
        self.assertNotRegex(r.text, r"/keys/k/[0-9a-f]{32}", f"{what}: a key's id in the answer")

    def test_tricks_as_secret_names(self):
        for token in (self.user, None):
            who = "user" if token else "admin"
            for t in TRICKS:
                for method, path in (("GET", f"/secrets/{t}"), ("GET", f"/secrets/{t}/"),
                                     ("GET", f"/secrets/{t}/versions"),
                                     ("GET", f"/deletedsecrets/{t}"),
                                     ("POST", f"/secrets/{t}/backup")):
                    r = dp(self.srv, "default", method, path, token=token)
                    self.refused(r, f"{who} {method} {path}")

    def test_tricks_as_versions(self):
        for t in TRICKS + [f"{self.version}%2f..", f"..%2f{self.version}", f"{self.version}%00",
                           f"{self.version}/..", f"{self.version[:-1]}%c0%b0"]:
            for token in (self.user, None):
                r = dp(self.srv, "default", "GET", f"/secrets/target/{t}", token=token)
                self.refused(r, f"version {t}")

    def test_tricks_in_writes_create_nothing(self):
        for t in TRICKS:
            r = dp(self.srv, "default", "PUT", f"/secrets/{t}", {"value": "planted"})
            self.refused(r, f"PUT {t}")
            r = dp(self.srv, "default", "PATCH", f"/secrets/{t}/", {"contentType": "planted"})
            self.refused(r, f"PATCH {t}")
            r = dp(self.srv, "default", "DELETE", f"/secrets/{t}")
            self.refused(r, f"DELETE {t}")
            r = dp(self.srv, "default", "POST", f"/keys/{t}/create", {"kty": "EC"})
            self.refused(r, f"create key {t}")
            r = dp(self.srv, "default", "POST", f"/keys/{t}//sign", {"alg": "ES256", "value": "AA"})
            self.refused(r, f"sign with {t}")

    def test_dot_segments_and_slashes_in_paths(self):
        """The path is percent-decoded once, then matched segment by segment: no dot segment is
        resolved, no empty segment ignored (but the empty version the SDKs send, "/keys/k//sign").
        An encoded slash or letter is the slash or letter: it reaches nothing the plain path
        could not, so "/secrets%2ftarget" is "/secrets/target"."""
        for path in ["/secrets/../keys/k", "/secrets/./target", "/./secrets/target",
                     "/secrets/target/..", "/secrets/target/../../keys/k", "//secrets/target",
                     "/secrets//target", "/secrets/target//", "/keys/../secrets/target",
                     "/secrets/%2e%2e/keys/k", "/secrets%2ftarget", "/secrets%2Ftarget",
                     "/%73ecrets/target",  # an encoded letter decodes to the route's own name
                     "/secrets/target%2fversions", "/secrets\\target", "/SECRETS/..\\keys\\k",
                     f"/{OTHER}/secrets/target", f"/vaults/{OTHER}/secrets/target",
                     "/secrets/target/versions/..", "/deletedsecrets/../secrets/target"]:
            for token in (self.user, None):
                r = dp(self.srv, "default", "GET", path, token=token)
                if r.status == 200:
                    # Only as the decoded path itself answers, and only where that is a plain
                    # path of vault default.
                    plain = urllib.parse.unquote(path)
                    self.assertNotIn("..", plain, path)
                    self.assertNotIn("\\", plain, path)
                    self.assertEqual(r.json, dp(self.srv, "default", "GET", plain, token=token).json,
                                     path)
                    self.assertNotIn(OTHER_VALUE, r.text, path)
                else:
                    self.refused(r, path, (400, 403, 404, 405))

    def test_raw_bytes_in_the_request_target(self):
        """What http.client would not send: raw non-ASCII, spaces and tabs in the target."""
        for target in [b"/secrets/t\xd0\xb0rget", b"/secrets/\xc0\xae\xc0\xae/keys/k",
                       b"/secrets/target\x7f", b"/secrets/\xff", b"/secrets/target\x0b"]:
            head = (b"GET " + target + b"?" + API.encode() + b" HTTP/1.1\r\nHost: " +
                    self.srv.vault_host.encode() + b"\r\nAuthorization: Bearer " +
                    self.user.encode() + b"\r\n\r\n")
            resp = raw_once(self.srv, head)
            if resp is None:
                continue
            status, headers, body = resp
            self.assertNotIn(VALUE.encode(), body, target)
            self.assertNotIn(OTHER_VALUE.encode(), body, target)
            if headers.get("x-ms-request-id"):
                assert_azure_error(self, status, headers, body, (400, 404, 405), msg=f"{target!r}")
            else:
                self.assertEqual(status, 400, f"{target!r}: {status}")

    def test_case_folds_to_the_same_object_only(self):
        """Names compare case-insensitively, as in Azure: TARGET is target, never anything else."""
        r = dp(self.srv, "default", "GET", "/secrets/TARGET", token=self.user)
        self.assertEqual((r.status, r.json["value"]), (200, VALUE), r)
        r = dp(self.srv, "default", "GET", "/secrets/TaRgEt/" + self.version.upper(), token=self.user)
        self.assertIn(r.status, (200, 404), r)
        if r.status == 200:
            self.assertEqual(r.json["value"], VALUE)

    def test_tricks_on_the_management_plane_and_admin_api(self):
        for t in TRICKS[:30]:
            r = arm(self.srv, "GET", f"/vaults/{t}")
            self.refused(r, f"ARM vault {t}")
            r = arm(self.srv, "GET", f"/vaults/{OTHER}/secrets/{t}")
            self.refused(r, f"ARM secret {t}")
            r = arm(self.srv, "GET", f"/vaults/{t}%2f..%2f{OTHER}/secrets/target")
            self.refused(r, f"ARM secret via {t}")
            r = admin(self.srv, "GET", f"/kluis/v1/principals/{t}")
            self.refused(r, f"admin principal {t}")
            r = admin(self.srv, "GET", f"/kluis/v1/vaults/{t}")
            self.refused(r, f"admin vault {t}")
        r = self.srv.request("GET", f"{RG_PATH}/vaults/..%2f..%2f..%2fproviders?api-version={ARM_API}",
                             host="localhost")
        self.refused(r, "ARM traversal")


if __name__ == "__main__":
    unittest.main()
