"""OpenID tokens: kluisd started with --oidc-issuer/--oidc-audience/--oidc-jwks accepts JWTs signed
by the issuer's keys (RS256 and ES256) for the principal their sub is mapped to, with that
principal's roles, and refuses every token that fails a check with 401 and the usual challenge.

Run: cd tests/e2e/py && /usr/bin/python3 -m unittest -v test_oidc
"""

import base64
import json
import os
import subprocess
import tempfile
import time
import unittest

from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

import harness

ISSUER = "https://login.example.test/tenant-1/v2.0"
AUDIENCE = "api://kluis"


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def uint(n, size):
    return b64(n.to_bytes(size, "big"))


def jwt(key, alg, kid, claims, header_extra=None):
    header = {"alg": alg, "typ": "JWT"}
    if kid is not None:
        header["kid"] = kid
    header.update(header_extra or {})
    signing_input = (b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())).encode()
    if alg == "RS256":
        sig = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    elif alg == "ES256":
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    elif alg == "HS256":
        h = hmac.HMAC(key, hashes.SHA256())
        h.update(signing_input)
        sig = h.finalize()
    else:
        sig = b""
    return signing_input.decode() + "." + b64(sig)


class Oidc(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        cls.ec = ec.generate_private_key(ec.SECP256R1())
        cls.other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        rn = cls.rsa.public_key().public_numbers()
        en = cls.ec.public_key().public_numbers()
        jwks = {"keys": [
            {"kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256",
             "n": uint(rn.n, 256), "e": uint(rn.e, 3), "x5t": "ignored"},
            {"kty": "EC", "kid": "ec-1", "crv": "P-256", "x": uint(en.x, 32), "y": uint(en.y, 32)},
            {"kty": "RSA", "kid": "enc-1", "use": "enc", "n": uint(rn.n, 256), "e": uint(rn.e, 3)},
            {"kty": "OKP", "kid": "ed-1", "crv": "Ed25519", "x": b64(b"\x00" * 32)},
        ]}
        cls.tmp = tempfile.mkdtemp(prefix="kluis-oidc-")
        cls.jwks = os.path.join(cls.tmp, "jwks.json")
        with open(cls.jwks, "w") as f:
            json.dump(jwks, f)
        cls.srv = harness.start_server(extra_args=[
            "--oidc-issuer", ISSUER, "--oidc-audience", AUDIENCE, "--oidc-jwks", cls.jwks])
        r = cls.srv.request("POST", "/kluis/v1/principals",
                            {"name": "workload", "subject": "spiffe://cluster/ns/app"}, host="localhost")
        assert r.status == 201, r
        cls.pid = r.json["id"]
        assert r.json["subject"] == "spiffe://cluster/ns/app"
        r = cls.srv.request("POST", "/kluis/v1/roleAssignments",
                            {"principal": cls.pid, "role": "secrets-user", "vault": "default"},
                            host="localhost")
        assert r.status == 201, r
        assert cls.srv.request("PUT", "/secrets/app-secret?api-version=7.6", {"value": "42"}).status == 200

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def claims(self, **over):
        now = int(time.time())
        c = {"iss": ISSUER, "aud": AUDIENCE, "sub": "spiffe://cluster/ns/app", "iat": now,
             "nbf": now - 10, "exp": now + 600}
        c.update(over)
        return {k: v for k, v in c.items() if v is not None}

    def get(self, token):
        return self.srv.request("GET", "/secrets/app-secret/?api-version=7.6", token=token)

    def test_rs256_and_es256_tokens_act_as_their_principal(self):
        for key, alg, kid in ((self.rsa, "RS256", "rsa-1"), (self.ec, "ES256", "ec-1")):
            with self.subTest(alg=alg):
                tok = jwt(key, alg, kid, self.claims())
                r = self.get(tok)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.json["value"], "42")
                r = self.srv.request("PUT", "/secrets/app-secret?api-version=7.6", {"value": "x"}, token=tok)
                self.assertEqual(r.status, 403, r)  # its role does not allow writes
        # an audience list that holds ours is fine
        self.assertEqual(self.get(jwt(self.rsa, "RS256", "rsa-1",
                                      self.claims(aud=["other", AUDIENCE]))).status, 200)

    def test_every_failed_check_is_401(self):
        now = int(time.time())
        pem = self.rsa.public_key().public_bytes(serialization.Encoding.PEM,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
        good = jwt(self.rsa, "RS256", "rsa-1", self.claims())
        h, p, s = good.split(".")
        tampered = h + "." + b64(json.dumps(self.claims(sub="spiffe://cluster/ns/admin")).encode()) + "." + s
        cases = {
            "wrong audience": jwt(self.rsa, "RS256", "rsa-1", self.claims(aud="api://other")),
            "no audience": jwt(self.rsa, "RS256", "rsa-1", self.claims(aud=None)),
            "wrong issuer": jwt(self.rsa, "RS256", "rsa-1", self.claims(iss="https://evil.test/")),
            "expired": jwt(self.rsa, "RS256", "rsa-1", self.claims(exp=now - 3600)),
            "no exp": jwt(self.rsa, "RS256", "rsa-1", self.claims(exp=None)),
            "not yet valid": jwt(self.rsa, "RS256", "rsa-1", self.claims(nbf=now + 3600)),
            "unmapped subject": jwt(self.rsa, "RS256", "rsa-1", self.claims(sub="someone-else")),
            "unknown kid": jwt(self.rsa, "RS256", "rsa-9", self.claims()),
            "key of another issuer": jwt(self.other, "RS256", "rsa-1", self.claims()),
            "tampered payload": tampered,
            "alg none": jwt(None, "none", "rsa-1", self.claims()),
            "HS256 with the public key as secret": jwt(pem, "HS256", "rsa-1", self.claims()),
            "ES256 header on the RSA key": jwt(self.ec, "ES256", "rsa-1", self.claims()),
            "encryption key": jwt(self.rsa, "RS256", "enc-1", self.claims()),
            "truncated": good[:-10],
            "not json": "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24." + s,
            # RFC 7515 4.1.11: a critical extension kluis does not understand, validly signed
            "crit header": jwt(self.rsa, "RS256", "rsa-1", self.claims(),
                               {"crit": ["exp"], "exp": now + 60}),
        }
        for what, tok in cases.items():
            with self.subTest(what):
                r = self.get(tok)
                self.assertEqual(r.status, 401, r)
                self.assertIn("www-authenticate", r.headers)
                self.assertNotIn(tok, r.text)
        self.assertEqual(self.get(good).status, 200)

    def test_python_sdk_with_an_openid_token(self):
        tok = jwt(self.ec, "ES256", "ec-1", self.claims())
        client = self.srv.secret_client(credential=harness.StaticCredential(tok))
        self.assertEqual(client.get_secret("app-secret").value, "42")

    def test_subject_unique_and_released_by_delete(self):
        r = self.srv.request("POST", "/kluis/v1/principals",
                             {"name": "copycat", "subject": "spiffe://cluster/ns/app"}, host="localhost")
        self.assertEqual(r.status, 409, r)
        r = self.srv.request("POST", "/kluis/v1/principals",
                             {"name": "short-lived", "subject": "job-7"}, host="localhost")
        self.assertEqual(r.status, 201, r)
        pid = r.json["id"]
        self.srv.request("POST", "/kluis/v1/roleAssignments",
                         {"principal": pid, "role": "reader"}, host="localhost")
        tok = jwt(self.rsa, "RS256", "rsa-1", self.claims(sub="job-7"))
        self.assertEqual(self.srv.request("GET", "/keys?api-version=7.6", token=tok).status, 200)
        self.assertEqual(self.srv.request("DELETE", f"/kluis/v1/principals/{pid}", host="localhost").status, 200)
        self.assertEqual(self.srv.request("GET", "/keys?api-version=7.6", token=tok).status, 401)
        r = self.srv.request("POST", "/kluis/v1/principals",
                             {"name": "again", "subject": "job-7"}, host="localhost")
        self.assertEqual(r.status, 201, r)

    def test_kluis_tokens_still_work(self):
        self.assertEqual(self.get(self.srv.token).status, 200)

    def test_flags_go_together_and_need_a_usable_key_set(self):
        base = [harness.KLUISD, "--data-dir", os.path.join(self.tmp, "d"), "--listen",
                f"127.0.0.1:{harness.free_port()}"]
        r = subprocess.run(base + ["--oidc-issuer", ISSUER], capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 2, r.stderr)
        empty = os.path.join(self.tmp, "empty.json")
        with open(empty, "w") as f:
            json.dump({"keys": [{"kty": "oct", "k": "AAAA"}]}, f)
        r = subprocess.run(base + ["--oidc-issuer", ISSUER, "--oidc-audience", AUDIENCE,
                                   "--oidc-jwks", empty], capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(b"no RSA or EC signing key", r.stderr)


if __name__ == "__main__":
    unittest.main()
