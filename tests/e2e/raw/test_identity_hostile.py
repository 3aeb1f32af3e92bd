"""Hostile requests to the identity provider's endpoints: malformed and oversized forms, bad
percent-encoding, JSON instead of a form, assertions that are not JWTs, unsigned (alg none) and
HMAC-signed (HS256) assertions naming a registered certificate, a replayed assertion, repeated
and oversized X-IDENTITY-HEADER, bytes no client sends. Each gets a clear 4xx (never a 5xx, never
a token), the server keeps serving, and nothing stored changes: the vault's objects, the
principal's credentials and tokens are the same afterwards.

Python's standard library and the openssl CLI only.
Run: cd tests/e2e/raw && /usr/bin/python3 -m unittest -v test_identity_hostile
"""

import hashlib
import hmac
import json
import os
import shutil
import sys
import time
import unittest
import urllib.parse
import uuid

import rawlib
from rawlib import Raw

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "py"))
import idp  # noqa: E402
from harness import unique_name  # noqa: E402

TOKEN_PATH = "/adfs/oauth2/v2.0/token"


class IdentityHostileTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = rawlib.start_server(extra_args=["--throttle", "identity=100000"])
        cls.pid, cls.ktoken = idp.principal(cls.srv, unique_name("victim"))
        cls.cred, cls.secret = idp.add_secret(cls.srv, cls.pid)
        cls.ck = idp.CertKey()
        idp.add_cert(cls.srv, cls.pid, cls.ck.cert_pem)
        r = rawlib.dp(cls.srv, "default", "PUT", f"/secrets/{unique_name('keep')}",
                      {"value": "keep me"})
        assert r.status == 200, r
        cls.before = cls.stored()

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()
        shutil.rmtree(cls.ck.dir, ignore_errors=True)

    @classmethod
    def stored(cls):
        """What may not change: the vault, the principal (its tokens), its credentials."""
        srv = cls.srv
        p = srv.request("GET", f"/kluis/v1/principals/{cls.pid}", host="localhost")
        s = srv.request("GET", f"/kluis/v1/principals/{cls.pid}/secrets", host="localhost")
        c = srv.request("GET", f"/kluis/v1/principals/{cls.pid}/certificates", host="localhost")
        assert p.status == s.status == c.status == 200, (p, s, c)
        return {"vault": rawlib.snapshot(srv, "default"), "principal": p.json,
                "secrets": s.json, "certificates": c.json}

    def tearDown(self):
        r = self.srv.request("GET", "/health", token=False)
        self.assertEqual(r.status, 200, f"kluisd stopped serving:\n{self.srv.stderr[-3000:]}")

    def test_zz_nothing_stored_changed(self):
        self.assertEqual(self.stored(), self.before)
        # and the client still gets its tokens
        r = idp.token_request(self.srv, self.pid, client_secret=self.secret)
        self.assertEqual(r.status, 200, r)

    def assert_4xx(self, r, statuses=(400,), error=None):
        """An OAuth error (or, for what the HTTP layer refuses, the Azure shape), no token."""
        if isinstance(r, tuple):  # a rawlib response
            status, _, body = r
        else:
            status, body = r.status, r.body
        self.assertIn(status, statuses, (status, body[:400]))
        self.assertNotIn(b"access_token", body)
        self.assertNotIn(self.secret.encode(), body)
        doc = json.loads(body) if body else None
        if error is not None:
            self.assertEqual(doc.get("error"), error, body[:400])
        return doc

    def form(self, body, ctype=idp.FORM):
        return self.srv.request("POST", TOKEN_PATH, body=body, token=False, host="localhost",
                                headers={"Content-Type": ctype} if ctype else {})

    def good(self, **over):
        d = {"client_id": self.pid, "grant_type": "client_credentials", "scope": idp.VAULT_SCOPE,
             "client_secret": self.secret}
        d.update(over)
        return d

    def test_malformed_forms(self):
        enc = urllib.parse.urlencode(self.good())
        bodies = [
            enc + "&x=%", enc + "&x=%4", enc + "&x=%zz", enc + "&x=%00", enc + "&x=%ff%fe",
            enc + "&x=%ED%A0%80", enc + "&%00=1", enc + "&=1", enc + "&" + "n" * 65 + "=1",
            enc + "&client_id=other", enc + "&grant_type=client_credentials",
            enc + "&" + "&".join(f"f{i}=1" for i in range(40)),
            "grant_type=client_credentials&client_id=" + "%" * 300,
            "\x00\x01\x02", "&&&&&&&&", "=", "%%%%",
        ]
        for b in bodies:
            with self.subTest(b[:60]):
                self.assert_4xx(self.form(b), (400,), "invalid_request")
        # raw bytes that are not UTF-8, and a raw NUL, straight in the body
        for raw in (enc.encode() + b"&x=\xff\xfe", enc.encode() + b"&x=a\x00b",
                    b"client_id=\xc3(&grant_type=client_credentials"):
            with self.subTest(raw[-12:]):
                self.assert_4xx(self.form(raw), (400,), "invalid_request")

    def test_not_a_form(self):
        good = self.good()
        for body, ctype in ((json.dumps(good), "application/json"), (json.dumps(good), None),
                            (urllib.parse.urlencode(good), "text/plain"),
                            (urllib.parse.urlencode(good), "application/x-www-form-urlencodedX"),
                            ("<xml/>", "application/xml"), ("", idp.FORM)):
            with self.subTest(ctype=ctype, body=body[:20]):
                self.assert_4xx(self.form(body, ctype), (400,), "invalid_request")

    def test_huge_bodies(self):
        pad = "a" * (64 * 1024)
        # past the form's limit, under the server's body limit: the form's 413
        doc = self.assert_4xx(self.form(urllib.parse.urlencode(self.good(claims=pad))), (413,),
                              "invalid_request")
        self.assertIn("limit", doc["error_description"])
        # past the server's body limit (1 MiB): refused before it is read, connection closed
        big = ("claims=" + "b" * (2 * 1024 * 1024)).encode()
        r = rawlib.raw_once(self.srv, (f"POST {TOKEN_PATH} HTTP/1.1\r\nHost: localhost:"
                                       f"{self.srv.port}\r\nContent-Type: {idp.FORM}\r\n"
                                       f"Content-Length: {len(big)}\r\n\r\n").encode() + big,
                            host="localhost")
        if r is not None:
            self.assertEqual(r[0], 413, r[:2])
        # chunked, without a length: the same limits
        conn = Raw(self.srv, host="localhost")
        try:
            conn.send((f"POST {TOKEN_PATH} HTTP/1.1\r\nHost: localhost:{self.srv.port}\r\n"
                       f"Content-Type: {idp.FORM}\r\nTransfer-Encoding: chunked\r\n\r\n").encode())
            chunk = b"c" * 65536
            try:
                for _ in range(20):
                    conn.send(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                conn.send(b"0\r\n\r\n")
                r = conn.read_response()
            except (BrokenPipeError, ConnectionResetError):
                r = None
            if r is not None:
                self.assertEqual(r[0], 413, r[:2])
        finally:
            conn.close()

    def assertion_with(self, header, claims, sig=b""):
        return (idp.b64url(json.dumps(header).encode()) + "." +
                idp.b64url(json.dumps(claims).encode()) + "." + idp.b64url(sig))

    def post_assertion(self, a, client_id=None):
        return idp.post_form(self.srv, TOKEN_PATH, {
            "client_id": client_id or self.pid, "grant_type": "client_credentials",
            "scope": idp.VAULT_SCOPE, "client_assertion": a,
            "client_assertion_type": idp.JWT_BEARER})

    def test_bad_assertions(self):
        now = int(time.time())
        url = idp.token_url(self.srv)
        claims = {"aud": url, "iss": self.pid, "sub": self.pid, "jti": str(uuid.uuid4()),
                  "iat": now, "nbf": now, "exp": now + 600}
        signing = (idp.b64url(json.dumps({"alg": "HS256", "typ": "JWT", "x5t": self.ck.x5t})
                              .encode()) + "." + idp.b64url(json.dumps(claims).encode()))
        # HMAC keyed with what an attacker might hope the server uses: the certificate itself
        hs256 = signing + "." + idp.b64url(hmac.new(self.ck.cert_pem, signing.encode(),
                                                    hashlib.sha256).digest())
        bad = {
            "empty": "", "one segment": "abc", "two segments": "a.b", "four segments": "a.b.c.d",
            "not base64": "!!!.@@@.###", "padding inside": "ab=c.de=f.gh",
            "header not JSON": idp.b64url(b"{nope") + "." + idp.b64url(b"{}") + ".sig",
            "header an array": idp.b64url(b"[]") + "." + idp.b64url(b"{}") + ".sig",
            "claims not JSON": idp.b64url(b'{"alg":"RS256"}') + "." + idp.b64url(b"\xff") + ".s",
            "alg none": self.assertion_with({"alg": "none", "x5t": self.ck.x5t}, claims),
            "alg None": self.assertion_with({"alg": "None", "x5t": self.ck.x5t}, claims, b"x"),
            "alg HS256": hs256,
            "alg missing": self.assertion_with({"x5t": self.ck.x5t}, claims, b"sig"),
            "x5t garbage": self.assertion_with({"alg": "RS256", "x5t": "!!"}, claims, b"sig"),
            "x5t of nothing": self.assertion_with({"alg": "RS256", "x5t": idp.b64url(b"\0" * 20)},
                                                  claims, b"sig"),
            "tampered signature": self.ck.assertion(self.pid, url)[:-10] + "AAAAAAAAAA",
            "huge": "a" * 60000 + ".b.c",
            "nested JSON bomb": idp.b64url(b'{"alg":' + b"[" * 5000 + b"]" * 5000 + b"}") +
            ".e30.sig",
        }
        for what, a in bad.items():
            with self.subTest(what):
                r = self.post_assertion(a)
                self.assert_4xx(r, (400, 401))
                if r.status == 401:
                    self.assertEqual(r.json["error"], "invalid_client")

    def test_replayed_assertion(self):
        a = self.ck.assertion(self.pid, idp.token_url(self.srv))
        r = self.post_assertion(a)
        self.assertEqual(r.status, 200, r)
        for _ in range(3):
            self.assert_4xx(self.post_assertion(a), (401,), "invalid_client")
        # the same assertion for another client id is no better
        self.assert_4xx(self.post_assertion(a, client_id=str(uuid.uuid4())), (400, 401))

    def test_identity_header_abuse(self):
        port = self.srv.port
        q = "api-version=2019-08-01&resource=https://vault.azure.net"
        for head in (
                f"X-IDENTITY-HEADER: {self.ktoken}\r\nX-IDENTITY-HEADER: {self.ktoken}",
                f"X-IDENTITY-HEADER: {self.ktoken}\r\nx-identity-header: other",
                "X-IDENTITY-HEADER: " + "k" * 6000,
                "X-IDENTITY-HEADER: kl1.\x01\x02",
                "X-IDENTITY-HEADER: ",
                f"X-IDENTITY-HEADER: Bearer {self.ktoken}"):
            with self.subTest(head[:40]):
                r = rawlib.raw_once(self.srv, (f"GET /msi/token?{q} HTTP/1.1\r\nHost: localhost:"
                                               f"{port}\r\n{head}\r\n\r\n").encode("latin-1"),
                                    host="localhost")
                self.assertIsNotNone(r)
                self.assertIn(r[0], (400, 401, 431), r[:2])
                self.assertNotIn(b"access_token", r[2])
        for query in ("api-version=2019-08-01&resource=https://vault.azure.net%00x",
                      "api-version=2019-08-01&resource=" + "a" * 5000,
                      "api-version=2019-08-01&resource=%ff%fe",
                      "&".join(f"p{i}=1" for i in range(20)),
                      "api-version=2019-08-01&resource=https://vault.azure.net&client_id=%ff"):
            with self.subTest(query[:50]):
                r = idp.msi(self.srv, self.ktoken, query)
                self.assertIn(r.status, (400, 401, 414), r)
                self.assertNotIn("access_token", r.text)

    def test_paths_and_methods(self):
        for method, path in (("GET", "/%00/v2.0/.well-known/openid-configuration"),
                             ("GET", "/" + "t" * 3000 + "/discovery/keys"),
                             ("POST", "/adfs/oauth2/v2.0/token/extra"),
                             ("PUT", TOKEN_PATH), ("DELETE", "/msi/token"),
                             ("GET", "/adfs%2Foauth2/v2.0/token"),
                             ("POST", "/../adfs/oauth2/v2.0/token")):
            with self.subTest(f"{method} {path[:40]}"):
                r = self.srv.request(method, path, body=urllib.parse.urlencode(self.good())
                                     if method != "GET" else None, token=False, host="localhost",
                                     headers={"Content-Type": idp.FORM})
                self.assertTrue(400 <= r.status < 500, r)
                self.assertNotIn("access_token", r.text)


if __name__ == "__main__":
    unittest.main()
