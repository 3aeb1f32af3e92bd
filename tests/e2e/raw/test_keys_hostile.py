"""Hostile bytes against the keys API of a real kluisd, with nothing but Python's standard library
(and the `openssl` command line to make test keys).

Malformed JWK imports (wrong types, bad base64url, RSA without d, inconsistent RSA, EC points off
the curve or of the wrong size, oct of 17 bytes), unknown kty/crv/alg, digests and ciphertexts of
the wrong length, tampered GCM tags, huge values, bad paths. Each must get a 400 (or the stated
status) with an Azure-style JSON error body and change nothing. After every test, tearDown checks
that /health answers 200 and that a canary RSA key still signs (byte-identical RS256 signature:
PKCS#1 v1.5 is deterministic) and verifies, with its versions and attributes unchanged.
"""

import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "py"))
import harness  # noqa: E402  (stdlib only: the SDK is imported lazily there)

API = "api-version=7.6"
CANARY = "canary-key"


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode("ascii")


def unb64u(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def i2b(i, size=None):
    size = size or max(1, (i.bit_length() + 7) // 8)
    return i.to_bytes(size, "big")


def _openssl_key(args):
    """A private key made by `openssl genpkey`, as a dict of field name -> int (from -text)."""
    with tempfile.TemporaryDirectory(prefix="kluis-hostile-") as d:
        pem = os.path.join(d, "k.pem")
        subprocess.run(["openssl", "genpkey", *args, "-out", pem], check=True, capture_output=True)
        text = subprocess.run(["openssl", "pkey", "-in", pem, "-text", "-noout"], check=True,
                              capture_output=True, text=True).stdout
    fields, cur = {}, None
    for line in text.splitlines():
        m = re.match(r"^(\w+):\s*(\d+)?", line)
        if m and not line.startswith(" "):
            cur = m.group(1)
            if m.group(2):
                fields[cur] = int(m.group(2))
                cur = None
            else:
                fields[cur] = ""
        elif cur and line.startswith(" "):
            fields[cur] += line.strip().replace(":", "")
    return {k: (int(v, 16) if isinstance(v, str) and v else v) for k, v in fields.items()}


def rsa_jwk(bits=2048):
    f = _openssl_key(["-algorithm", "RSA", "-pkeyopt", f"rsa_keygen_bits:{bits}"])
    size = (f["modulus"].bit_length() + 7) // 8
    return {"kty": "RSA", "n": b64u(i2b(f["modulus"])), "e": b64u(i2b(f["publicExponent"])),
            "d": b64u(i2b(f["privateExponent"], size)), "p": b64u(i2b(f["prime1"])), "q": b64u(i2b(f["prime2"])),
            "dp": b64u(i2b(f["exponent1"])), "dq": b64u(i2b(f["exponent2"])), "qi": b64u(i2b(f["coefficient"]))}


EC_CURVES = {"P-256": ("prime256v1", 32), "P-384": ("secp384r1", 48), "P-521": ("secp521r1", 66),
             "P-256K": ("secp256k1", 32)}


def ec_jwk(crv="P-256"):
    name, size = EC_CURVES[crv]
    f = _openssl_key(["-algorithm", "EC", "-pkeyopt", f"ec_paramgen_curve:{name}"])
    pub = i2b(f["pub"], 1 + 2 * size)
    assert pub[0] == 4
    return {"kty": "EC", "crv": crv, "x": b64u(pub[1:1 + size]), "y": b64u(pub[1 + size:]),
            "d": b64u(i2b(f["priv"], size))}


class KeysHostileTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.start_server()
        r = cls.srv.request("POST", f"/keys/{CANARY}/create?{API}",
                            body={"kty": "RSA", "key_size": 2048, "tags": {"t": "1"}})
        assert r.status == 200, r
        cls.canary_kid = r.json["key"]["kid"]
        cls.canary_path = "/keys/" + cls.canary_kid.split("/keys/", 1)[1]
        cls.digest = bytes(range(32))
        cls.canary_sig = cls.sign_canary()
        cls.canary = cls.canary_state()
        cls.rsa = rsa_jwk()
        cls.rsa2 = rsa_jwk()
        cls.ec = ec_jwk("P-256")
        cls.ec384 = ec_jwk("P-384")
        r = cls.srv.request("POST", f"/keys/hostile-oct/create?{API}", body={"kty": "oct", "key_size": 256})
        assert r.status == 200, r
        cls.oct_path = "/keys/" + r.json["key"]["kid"].split("/keys/", 1)[1]
        r = cls.srv.request("POST", f"/keys/hostile-ec/create?{API}", body={"kty": "EC", "crv": "P-256"})
        assert r.status == 200, r
        cls.ec_path = "/keys/" + r.json["key"]["kid"].split("/keys/", 1)[1]

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    @classmethod
    def sign_canary(cls):
        r = cls.srv.request("POST", f"{cls.canary_path}/sign?{API}", body={"alg": "RS256", "value": b64u(cls.digest)})
        assert r.status == 200, r
        return r.json["value"]

    @classmethod
    def canary_state(cls):
        g = cls.srv.request("GET", f"/keys/{CANARY}?{API}")
        v = cls.srv.request("GET", f"/keys/{CANARY}/versions?{API}")
        assert g.status == 200 and v.status == 200, (g, v)
        return (g.json["key"], g.json.get("tags"), g.json["attributes"].get("updated"),
                g.json["attributes"].get("enabled"), sorted(i["kid"] for i in v.json["value"]))

    def tearDown(self):
        self.assertIsNone(self.srv.proc.poll(), f"kluisd died:\n{self.srv.stderr[-4000:]}")
        h = self.srv.request("GET", "/health", token=False, host="127.0.0.1")
        self.assertEqual(h.status, 200, "still healthy")
        self.assertEqual(self.canary_state(), self.canary, "canary key unchanged")
        self.assertEqual(self.sign_canary(), self.canary_sig, "canary signs the same bytes")
        r = self.srv.request("POST", f"{self.canary_path}/verify?{API}",
                             body={"alg": "RS256", "digest": b64u(self.digest), "value": self.canary_sig})
        self.assertEqual((r.status, (r.json or {}).get("value")), (200, True), r)

    # --- helpers ---------------------------------------------------------------------------

    def assertError(self, r, statuses, code=None, msg=None):
        if isinstance(statuses, int):
            statuses = (statuses,)
        self.assertIn(r.status, statuses, msg or r)
        self.assertIsInstance(r.json, dict, f"JSON error body: {r}")
        err = r.json.get("error")
        self.assertIsInstance(err, dict, f"error object: {r}")
        self.assertIsInstance(err.get("code"), str, r)
        self.assertIsInstance(err.get("message"), str, r)
        if code:
            self.assertEqual(err["code"], code, msg or r)
        self.assertRegex(r.headers.get("content-type", ""), r"^application/json")

    def post(self, path, body, **kw):
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        return self.srv.request("POST", path, body=data, headers={"Content-Type": "application/json"}, **kw)

    def put(self, path, body):
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        return self.srv.request("PUT", path, body=data, headers={"Content-Type": "application/json"})

    def imp(self, name, key, **extra):
        body = dict(extra)
        body["key"] = key
        return self.put(f"/keys/{name}?{API}", body)

    def assertNoKey(self, name):
        r = self.srv.request("GET", f"/keys/{name}?{API}")
        self.assertEqual(r.status, 404, f"{name} exists after refused requests: {r}")

    def op(self, path, op, body):
        return self.post(f"{path}/{op}?{API}", body)

    # --- malformed JSON and types ------------------------------------------------------------

    def test_malformed_json_everywhere(self):
        bodies = [b'{"kty": "RSA"', b"not json", b"{'kty': 'RSA'}", b'{"kty": "RSA"} x', b"\xef\xbb\xbf{",
                  b"[]", b"null", b"42", b'"RSA"', b"", b"\x00\x01"]
        paths = [("POST", f"/keys/fresh-key/create?{API}"), ("PUT", f"/keys/fresh-key?{API}"),
                 ("PUT", f"/keys/{CANARY}?{API}"), ("POST", f"/keys/{CANARY}/create?{API}"),
                 ("POST", f"{self.canary_path}/sign?{API}"), ("POST", f"{self.canary_path}/verify?{API}"),
                 ("POST", f"{self.canary_path}/encrypt?{API}"), ("POST", f"{self.canary_path}/decrypt?{API}"),
                 ("POST", f"{self.canary_path}/wrapkey?{API}"), ("POST", f"{self.canary_path}/unwrapkey?{API}"),
                 ("PATCH", f"{self.canary_path}?{API}"), ("PUT", f"/keys/{CANARY}/rotationpolicy?{API}"),
                 ("POST", f"/keys/restore?{API}"), ("POST", f"/rng?{API}")]
        for method, path in paths:
            for body in bodies:
                r = self.srv.request(method, path, body=body, headers={"Content-Type": "application/json"})
                self.assertError(r, 400, "BadParameter", f"{method} {path} {body[:20]!r}: {r}")
        self.assertNoKey("fresh-key")

    def test_create_wrong_types(self):
        for body in [{"kty": 1}, {"kty": None}, {"kty": ["RSA"]}, {"kty": "RSA", "key_size": "2048"},
                     {"kty": "RSA", "key_size": 2048.5}, {"kty": "RSA", "key_size": -2048},
                     {"kty": "RSA", "key_size": 1e309}, {"kty": "RSA", "key_size": 99999999999999999999},
                     {"kty": "RSA", "public_exponent": "65537"}, {"kty": "RSA", "public_exponent": 65536},
                     {"kty": "RSA", "public_exponent": 1}, {"kty": "RSA", "public_exponent": -3},
                     {"kty": "EC", "crv": 256}, {"kty": "EC", "crv": ""},
                     {"kty": "RSA", "key_ops": "sign"}, {"kty": "RSA", "key_ops": [1]},
                     {"kty": "RSA", "key_ops": ["sign", None]},
                     {"kty": "RSA", "attributes": []}, {"kty": "RSA", "attributes": {"enabled": "yes"}},
                     {"kty": "RSA", "attributes": {"exp": "tomorrow"}}, {"kty": "RSA", "attributes": {"exportable": True}},
                     {"kty": "RSA", "release_policy": {"data": "e30"}}, {"kty": "RSA", "tags": ["a"]},
                     {"kty": "RSA", "tags": {"a": 1}}, {"kty": "oct", "key_size": 100}, {"kty": "oct-HSM", "key_size": 64},
                     {"kty": "EC", "crv": "P-25"}]:
            r = self.post(f"/keys/fresh-create/create?{API}", body)
            self.assertError(r, 400, "BadParameter", f"{body}: {r}")
        self.assertNoKey("fresh-create")

    def test_unknown_kty_crv(self):
        for kty in ["DSA", "rsa", "Rsa", "RSA ", "EC-HSM2", "OKP", "OKP-HSM", "oct-hsm", "", "\u0000RSA"]:
            r = self.post(f"/keys/fresh-kty/create?{API}", {"kty": kty})
            self.assertError(r, 400, "BadParameter", f"kty {kty!r}: {r}")
        for crv in ["P-224", "P-192", "secp256k1", "SECP256K1-X", "p-256", "Ed25519", "X25519", "P-256 "]:
            r = self.post(f"/keys/fresh-kty/create?{API}", {"kty": "EC", "crv": crv})
            self.assertError(r, 400, "BadParameter", f"crv {crv!r}: {r}")
        self.assertNoKey("fresh-kty")

    # --- JWK import --------------------------------------------------------------------------

    def test_import_wrong_types(self):
        rsa = self.rsa
        cases = [None, "RSA", [], 42, {}, {"kty": 1}, {"kty": None},
                 dict(rsa, n=12345), dict(rsa, n=None), dict(rsa, n=["AQAB"]), dict(rsa, d={"x": 1}),
                 dict(rsa, e=65537), dict(rsa, key_ops="sign"), dict(rsa, key_ops=[1, 2]),
                 dict(self.ec, crv=256), dict(self.ec, x=1), dict(self.ec, d=True),
                 {"kty": "oct", "k": 16}, {"kty": "oct", "k": None}]
        for key in cases:
            self.assertError(self.imp("fresh-import", key), 400, "BadParameter", f"{str(key)[:80]}")
        for extra in [{"Hsm": "yes"}, {"Hsm": 1}, {"attributes": "x"}, {"attributes": {"enabled": 0}},
                      {"tags": "a"}, {"attributes": {"exportable": True}}, {"release_policy": {"data": "e30"}}]:
            self.assertError(self.imp("fresh-import", rsa, **extra), 400, "BadParameter", str(extra))
        self.assertError(self.put(f"/keys/fresh-import?{API}", {"Hsm": False}), 400, "BadParameter")
        self.assertError(self.put(f"/keys/fresh-import?{API}", {"key": None}), 400, "BadParameter")
        self.assertNoKey("fresh-import")

    def test_import_bad_base64url(self):
        for member in ["n", "e", "d", "p", "q", "dp", "dq", "qi"]:
            for bad in ["!!!!", "a", "ab=c", "AQ AB", "é", "%41%42", "AQAB\u0000", "====", "\\u0041"]:
                key = dict(self.rsa)
                key[member] = bad
                self.assertError(self.imp("fresh-b64", key), 400, "BadParameter", f"{member}={bad!r}")
        for member in ["x", "y", "d"]:
            for bad in ["!!!!", "a", "x=y="]:
                self.assertError(self.imp("fresh-b64", dict(self.ec, **{member: bad})), 400, "BadParameter",
                                 f"EC {member}={bad!r}")
        self.assertError(self.imp("fresh-b64", {"kty": "oct", "k": "****"}), 400, "BadParameter")
        self.assertNoKey("fresh-b64")

    def test_import_rsa_missing_or_inconsistent_parts(self):
        for missing in ["n", "e", "d"]:
            key = {k: v for k, v in self.rsa.items() if k != missing}
            self.assertError(self.imp("fresh-rsa", key), 400, "BadParameter", f"RSA without {missing}")
        pub_only = {"kty": "RSA", "n": self.rsa["n"], "e": self.rsa["e"]}
        self.assertError(self.imp("fresh-rsa", pub_only), 400, "BadParameter", "RSA public key only")
        mixed = dict(self.rsa, d=self.rsa2["d"], p=self.rsa2["p"], q=self.rsa2["q"], dp=self.rsa2["dp"],
                     dq=self.rsa2["dq"], qi=self.rsa2["qi"])
        self.assertError(self.imp("fresh-rsa", mixed), 400, "BadParameter", "n of one key, private parts of another")
        self.assertError(self.imp("fresh-rsa", dict(self.rsa, p=self.rsa2["p"])), 400, "BadParameter",
                         "p that does not divide n")
        self.assertError(self.imp("fresh-rsa", dict(self.rsa, e=b64u(i2b(3)))), 400, "BadParameter", "e not matching d")
        self.assertError(self.imp("fresh-rsa", dict(self.rsa, n=b64u(b"\x00" * 256))), 400, "BadParameter", "n = 0")
        self.assertError(self.imp("fresh-rsa", dict(self.rsa, kty="EC")), 400, "BadParameter", "RSA members as EC")
        small = rsa_jwk(1024)
        self.assertError(self.imp("fresh-rsa", small), 400, "BadParameter", "RSA 1024")
        self.assertNoKey("fresh-rsa")

    def test_import_ec_bad_points(self):
        x = bytearray(unb64u(self.ec["x"]))
        x[-1] ^= 1
        cases = {
            "point off the curve": dict(self.ec, x=b64u(bytes(x))),
            "x of 31 bytes": dict(self.ec, x=b64u(unb64u(self.ec["x"])[1:])),
            "y of 33 bytes": dict(self.ec, y=b64u(b"\x00" + unb64u(self.ec["y"]))),
            "P-384 coordinates named P-256": dict(self.ec384, crv="P-256"),
            "P-256 coordinates named P-384": dict(self.ec, crv="P-384"),
            "P-256 coordinates named P-256K": dict(self.ec, crv="P-256K"),
            "d not matching the point": dict(self.ec, d=b64u(bytes(31) + b"\x05")),
            "d = 0": dict(self.ec, d=b64u(bytes(32))),
            "d = n (the group order)": dict(self.ec, d=b64u(bytes.fromhex(
                "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551"))),
            "d of 33 bytes": dict(self.ec, d=b64u(b"\x01" + unb64u(self.ec["d"]))),
            "no d": {k: v for k, v in self.ec.items() if k != "d"},
            "no crv": {k: v for k, v in self.ec.items() if k != "crv"},
            "unknown crv": dict(self.ec, crv="P-257"),
            "point at infinity": dict(self.ec, x=b64u(bytes(32)), y=b64u(bytes(32))),
        }
        for what, key in cases.items():
            self.assertError(self.imp("fresh-ec", key), 400, "BadParameter", what)
        self.assertNoKey("fresh-ec")

    def test_import_oct_bad_sizes(self):
        for n in [0, 1, 15, 17, 31, 33, 48, 64, 1000]:
            self.assertError(self.imp("fresh-oct", {"kty": "oct", "k": b64u(os.urandom(n))}), 400, "BadParameter",
                             f"oct of {n} bytes")
        self.assertError(self.imp("fresh-oct", {"kty": "oct"}), 400, "BadParameter")
        self.assertError(self.imp("fresh-oct", {"kty": "oct-HSM", "k": b64u(os.urandom(17))}), 400, "BadParameter")
        self.assertNoKey("fresh-oct")
        # The accepted sizes, for contrast.
        for n in (16, 24, 32):
            r = self.imp(f"good-oct-{n}", {"kty": "oct", "k": b64u(os.urandom(n))})
            self.assertEqual(r.status, 200, r)
            self.assertNotIn("k", r.json["key"])

    def test_import_over_canary_refused_changes_nothing(self):
        bad = dict(self.rsa, d="!!!")
        self.assertError(self.imp(CANARY, bad), 400, "BadParameter")
        self.assertError(self.imp(CANARY, {"kty": "oct", "k": b64u(os.urandom(17))}), 400, "BadParameter")
        # (tearDown checks the canary's versions did not change)

    # --- crypto operations -------------------------------------------------------------------

    def test_unknown_and_malformed_alg(self):
        for alg in ["RS257", "rs256", "RS256 ", "", "none", "RSNULL", "HS256", "EdDSA", "\u0000", "A" * 5000]:
            r = self.op(self.canary_path, "sign", {"alg": alg, "value": b64u(self.digest)})
            self.assertError(r, 400, "BadParameter", f"alg {alg[:20]!r}: {r}")
        for alg in [1, None, ["RS256"], {"a": 1}, True]:
            r = self.op(self.canary_path, "sign", {"alg": alg, "value": b64u(self.digest)})
            self.assertError(r, 400, "BadParameter", f"alg {alg!r}: {r}")
        for alg in ["RSA-OAEP-384", "RSA_1_5", "A128GCM", "A512GCM", "CKM_FOO", ""]:
            r = self.op(self.canary_path, "encrypt", {"alg": alg, "value": b64u(b"x")})
            self.assertError(r, 400, "BadParameter", f"encrypt alg {alg!r}: {r}")

    def test_bad_values(self):
        for value in [None, 1, [], {}, "!!!", "a", "ab=c"]:
            for op, extra in [("sign", {"alg": "RS256"}), ("encrypt", {"alg": "RSA-OAEP"}),
                              ("decrypt", {"alg": "RSA-OAEP"}), ("wrapkey", {"alg": "RSA-OAEP"}),
                              ("unwrapkey", {"alg": "RSA-OAEP"}),
                              ("verify", {"alg": "RS256", "digest": b64u(self.digest)})]:
                r = self.op(self.canary_path, op, dict(extra, value=value))
                self.assertError(r, 400, "BadParameter", f"{op} value={value!r}: {r}")
        for digest in [None, 5, "!!!"]:
            r = self.op(self.canary_path, "verify", {"alg": "RS256", "digest": digest, "value": self.canary_sig})
            self.assertError(r, 400, "BadParameter", f"verify digest={digest!r}: {r}")

    def test_digests_of_the_wrong_length(self):
        for alg, ok in [("RS256", 32), ("RS384", 48), ("RS512", 64), ("PS256", 32), ("PS384", 48), ("PS512", 64)]:
            for n in [0, 1, ok - 1, ok + 1, 1000, 100000]:
                r = self.op(self.canary_path, "sign", {"alg": alg, "value": b64u(os.urandom(n))})
                self.assertError(r, 400, "BadParameter", f"{alg} digest of {n}: {r}")
        for n in [0, 31, 33, 64, 100000]:
            r = self.op(self.ec_path, "sign", {"alg": "ES256", "value": b64u(os.urandom(n))})
            self.assertError(r, 400, "BadParameter", f"ES256 digest of {n}: {r}")

    def test_signatures_of_the_wrong_length_do_not_verify(self):
        for sig in [b"", b"\x00", os.urandom(255), os.urandom(257), os.urandom(100000),
                    unb64u(self.canary_sig) + b"\x00", b"\x00" + unb64u(self.canary_sig)]:
            r = self.op(self.canary_path, "verify", {"alg": "RS256", "digest": b64u(self.digest), "value": b64u(sig)})
            if r.status == 200:
                self.assertIs(r.json.get("value"), False, f"signature of {len(sig)} bytes: {r}")
            else:
                self.assertError(r, 400, "BadParameter")
        for sig in [os.urandom(63), os.urandom(65), os.urandom(72), bytes(64), b"\xff" * 64]:
            r = self.op(self.ec_path, "verify", {"alg": "ES256", "digest": b64u(self.digest), "value": b64u(sig)})
            if r.status == 200:
                self.assertIs(r.json.get("value"), False, f"ES256 signature of {len(sig)} bytes: {r}")
            else:
                self.assertError(r, 400, "BadParameter")

    def test_ciphertexts_of_the_wrong_length(self):
        for n in [0, 1, 255, 257, 512, 100000]:
            for op in ("decrypt", "unwrapkey"):
                for alg in ("RSA1_5", "RSA-OAEP", "RSA-OAEP-256"):
                    r = self.op(self.canary_path, op, {"alg": alg, "value": b64u(os.urandom(n))})
                    self.assertError(r, 400, "BadParameter", f"{op} {alg} {n} bytes: {r}")
        # 256 bytes but >= n: not an RSA ciphertext for this modulus.
        r = self.op(self.canary_path, "decrypt", {"alg": "RSA-OAEP", "value": b64u(b"\xff" * 256)})
        self.assertError(r, 400, "BadParameter")
        iv = b64u(os.urandom(16))
        for n in [1, 15, 17, 31]:
            r = self.op(self.oct_path, "decrypt", {"alg": "A256CBC", "value": b64u(os.urandom(n)), "iv": iv})
            self.assertError(r, 400, "BadParameter", f"A256CBC {n} bytes: {r}")
            r = self.op(self.oct_path, "decrypt", {"alg": "A256CBCPAD", "value": b64u(os.urandom(n)), "iv": iv})
            self.assertError(r, 400, "BadParameter", f"A256CBCPAD {n} bytes: {r}")
        for n in [0, 8, 15, 17, 23]:
            r = self.op(self.oct_path, "unwrapkey", {"alg": "A256KW", "value": b64u(os.urandom(n))})
            self.assertError(r, 400, "BadParameter", f"A256KW unwrap {n} bytes: {r}")
        for iv_len in [0, 8, 15, 17, 32]:
            r = self.op(self.oct_path, "encrypt", {"alg": "A256CBC", "value": b64u(bytes(16)), "iv": b64u(os.urandom(iv_len))})
            self.assertError(r, 400, "BadParameter", f"A256CBC iv of {iv_len}: {r}")
        r = self.op(self.oct_path, "encrypt", {"alg": "A256CBC", "value": b64u(bytes(16))})
        self.assertError(r, 400, "BadParameter", "A256CBC without iv")

    def test_tampered_gcm(self):
        pt = b"sixteen byte msg" * 3
        r = self.op(self.oct_path, "encrypt", {"alg": "A256GCM", "value": b64u(pt), "aad": b64u(b"aad")})
        self.assertEqual(r.status, 200, r)
        ct, iv, tag = unb64u(r.json["value"]), unb64u(r.json["iv"]), unb64u(r.json["tag"])
        self.assertEqual((len(iv), len(tag)), (12, 16))
        good = {"alg": "A256GCM", "value": b64u(ct), "iv": b64u(iv), "tag": b64u(tag), "aad": b64u(b"aad")}
        ok = self.op(self.oct_path, "decrypt", good)
        self.assertEqual((ok.status, unb64u(ok.json["value"])), (200, pt), ok)
        for i in range(16):
            t = bytearray(tag)
            t[i] ^= 0x80
            r = self.op(self.oct_path, "decrypt", dict(good, tag=b64u(bytes(t))))
            self.assertError(r, 400, "BadParameter", f"tag byte {i} flipped: {r}")
            self.assertNotIn(b64u(pt), r.text)
        for what, change in [("tag of 15", {"tag": b64u(tag[:15])}), ("tag of 17", {"tag": b64u(tag + b"\x00")}),
                             ("tag of 0", {"tag": ""}), ("no tag", {"tag": None}), ("iv of 11", {"iv": b64u(iv[:11])}),
                             ("iv of 0", {"iv": ""}), ("no iv", {"iv": None}), ("ciphertext +1", {"value": b64u(ct + b"\x00")}),
                             ("ciphertext -1", {"value": b64u(ct[:-1])}), ("aad changed", {"aad": b64u(b"aae")}),
                             ("no aad", {"aad": None}), ("tag bad base64url", {"tag": "!!!"})]:
            body = {k: v for k, v in dict(good, **change).items() if v is not None}
            r = self.op(self.oct_path, "decrypt", body)
            self.assertError(r, 400, "BadParameter", f"{what}: {r}")

    def test_alg_not_fitting_the_key(self):
        cases = [(self.canary_path, "sign", {"alg": "ES256", "value": b64u(self.digest)}),
                 (self.canary_path, "encrypt", {"alg": "A256GCM", "value": b64u(b"x")}),
                 (self.canary_path, "wrapkey", {"alg": "A256KW", "value": b64u(bytes(16))}),
                 (self.ec_path, "sign", {"alg": "RS256", "value": b64u(self.digest)}),
                 (self.ec_path, "sign", {"alg": "ES512", "value": b64u(os.urandom(64))}),
                 (self.oct_path, "encrypt", {"alg": "RSA-OAEP", "value": b64u(b"x")}),
                 (self.oct_path, "encrypt", {"alg": "A128GCM", "value": b64u(b"x")}),
                 (self.oct_path, "wrapkey", {"alg": "A192KW", "value": b64u(bytes(16))})]
        for path, op, body in cases:
            self.assertError(self.op(path, op, body), 400, "BadParameter", f"{path} {op} {body['alg']}")

    def test_huge_values(self):
        big = b64u(os.urandom(600 * 1024))  # ~800 KB of base64url, under the 1 MiB body limit
        for op, body in [("sign", {"alg": "RS256", "value": big}), ("decrypt", {"alg": "RSA-OAEP", "value": big}),
                         ("encrypt", {"alg": "RSA-OAEP-256", "value": big}), ("unwrapkey", {"alg": "RSA1_5", "value": big}),
                         ("verify", {"alg": "RS256", "digest": b64u(self.digest), "value": big}),
                         ("verify", {"alg": "RS256", "digest": big, "value": self.canary_sig})]:
            r = self.op(self.canary_path, op, body)
            if op == "verify" and r.status == 200:
                self.assertIs(r.json.get("value"), False)
                continue
            self.assertError(r, 400, "BadParameter", f"{op} with a huge value: {r}")
        r = self.op(self.oct_path, "wrapkey", {"alg": "A256KW", "value": big})
        self.assertIn(r.status, (200, 400), r)
        huge_n = dict(self.rsa, n=b64u(b"\xc3" * 200000))
        self.assertError(self.imp("fresh-huge", huge_n), (400, 413), msg="a 1.6 Mbit modulus")
        self.assertError(self.imp("fresh-huge", dict(self.rsa, e=b64u(b"\x01" * 5000))), 400, "BadParameter")
        self.assertError(self.imp("fresh-huge", {"kty": "oct", "k": big}), 400, "BadParameter")
        self.assertNoKey("fresh-huge")
        for count in [129, 1000, 10 ** 9, 10 ** 30, -1, 0, "32", 1.5, None]:
            r = self.post(f"/rng?{API}", {"count": count})
            self.assertError(r, 400, "BadParameter", f"rng count {count!r}: {r}")
        ops = self.post(f"/keys/fresh-ops/create?{API}", {"kty": "EC", "key_ops": ["sign"] * 100000})
        self.assertIn(ops.status, (200, 400, 413), ops)
        tags = self.post(f"/keys/fresh-tags/create?{API}", {"kty": "EC", "tags": {f"t{i}": "v" for i in range(10000)}})
        self.assertError(tags, (400, 413))

    def test_bad_paths_and_methods(self):
        ver = self.canary_path.rsplit("/", 1)[1]
        for method, path in [("POST", f"/keys/{CANARY}/xyz/sign?{API}"), ("POST", f"/keys/{CANARY}/{'g' * 32}/sign?{API}"),
                             ("POST", f"/keys/{CANARY}/{ver}0/sign?{API}"), ("POST", f"{self.canary_path}/frobnicate?{API}"),
                             ("GET", f"{self.canary_path}/sign?{API}"), ("PUT", f"{self.canary_path}/sign?{API}"),
                             ("DELETE", f"{self.canary_path}?{API}"), ("POST", f"/keys/{CANARY}?{API}"),
                             ("PUT", f"/keys/{CANARY}/create?{API}"), ("GET", f"/keys/{CANARY}/create?{API}"),
                             ("GET", f"/keys/{CANARY}/rotate?{API}"), ("DELETE", f"/keys/{CANARY}/rotationpolicy?{API}"),
                             ("POST", f"/keys/bad_name/create?{API}"), ("POST", f"/keys/{'k' * 128}/create?{API}"),
                             ("POST", f"/keys/a%2Fb/create?{API}"), ("POST", f"/keys/%00/create?{API}"),
                             ("GET", f"/rng?{API}"), ("POST", f"/keys/{CANARY}/{ver}/sign/extra?{API}"),
                             ("POST", f"{self.canary_path}/release?{API}"), ("GET", f"/deletedkeys/{CANARY}?{API}"),
                             ("POST", f"/deletedkeys/{CANARY}/recover?{API}"), ("DELETE", f"/deletedkeys/{CANARY}?{API}")]:
            body = {"alg": "RS256", "value": b64u(self.digest)} if method in ("POST", "PUT") else None
            r = self.srv.request(method, path, body=body)
            self.assertError(r, (400, 404, 405), msg=f"{method} {path}: {r}")

    def test_bad_rotation_policies(self):
        for body in [{"lifetimeActions": [{"trigger": {"timeAfterCreate": "P1D"}, "action": {"type": 7}}]},
                     {"lifetimeActions": [{"trigger": {"timeAfterCreate": 30}, "action": {"type": "Rotate"}}]},
                     {"lifetimeActions": [{"trigger": "P30D", "action": "Rotate"}]},
                     {"lifetimeActions": [None]}, {"lifetimeActions": {}},
                     {"lifetimeActions": [{"trigger": {"timeAfterCreate": "P" + "9" * 400 + "D"}, "action": {"type": "Rotate"}}]},
                     {"attributes": {"expiryTime": "P" + "9" * 400 + "D"}},
                     {"attributes": {"expiryTime": "P1D"}}, {"attributes": {"expiryTime": "-P90D"}},
                     {"attributes": {"expiryTime": "PT1H"}}, {"attributes": []},
                     {"lifetimeActions": [{"trigger": {"timeAfterCreate": "P30D"}, "action": {"type": "Rotate"}}] * 1000}]:
            r = self.put(f"/keys/{CANARY}/rotationpolicy?{API}", body)
            if len(json.dumps(body)) > 50000 and r.status == 200:
                continue  # many identical actions: accepting them is not wrong
            self.assertError(r, 400, "BadParameter", f"{str(body)[:100]}: {r}")
        g = self.srv.request("GET", f"/keys/{CANARY}/rotationpolicy?{API}")
        self.assertEqual(g.status, 200, g)

    def test_restore_garbage(self):
        for value in ["", "!!!", b64u(os.urandom(1)), b64u(os.urandom(100000)), b64u(b'{"kty":"RSA"}'), 5, None]:
            r = self.post(f"/keys/restore?{API}", {"value": value})
            # a string that is no blob gets the service's answer; a value of the wrong type, ours
            code = "Malformed backup blob" if isinstance(value, str) else "BadParameter"
            self.assertError(r, 400, code, f"restore {str(value)[:30]!r}: {r}")

    def test_every_keys_route_needs_a_token(self):
        ver = self.canary_path.rsplit("/", 1)[1]
        routes = [("POST", f"/keys/{CANARY}/create", {"kty": "EC"}), ("PUT", f"/keys/{CANARY}", {"key": self.ec}),
                  ("GET", f"/keys/{CANARY}", None), ("GET", f"/keys/{CANARY}/{ver}", None),
                  ("PATCH", f"/keys/{CANARY}/{ver}", {"attributes": {"enabled": False}}), ("GET", "/keys", None),
                  ("GET", f"/keys/{CANARY}/versions", None), ("DELETE", f"/keys/{CANARY}", None),
                  ("GET", "/deletedkeys", None), ("GET", f"/deletedkeys/{CANARY}", None),
                  ("POST", f"/deletedkeys/{CANARY}/recover", None), ("DELETE", f"/deletedkeys/{CANARY}", None),
                  ("POST", f"/keys/{CANARY}/backup", None), ("POST", "/keys/restore", {"value": "AAAA"}),
                  ("POST", f"/keys/{CANARY}/rotate", None), ("GET", f"/keys/{CANARY}/rotationpolicy", None),
                  ("PUT", f"/keys/{CANARY}/rotationpolicy", {"attributes": {"expiryTime": "P90D"}}),
                  ("POST", "/rng", {"count": 8})]
        for op in ("sign", "verify", "encrypt", "decrypt", "wrapkey", "unwrapkey"):
            routes.append(("POST", f"{self.canary_path}/{op}", {"alg": "RS256", "value": b64u(self.digest)}))
        for method, path, body in routes:
            for token in (False, self.srv.token + "x"):
                r = self.srv.request(method, f"{path}?{API}", body=body, token=token)
                self.assertError(r, 401, "Unauthorized", f"{method} {path} token={bool(token)}: {r}")
                self.assertTrue(r.headers.get("www-authenticate"), f"{method} {path}: no challenge")
                self.assertNotIn("value", r.json, f"{method} {path}: a result without a token")

    def test_unknown_vault(self):
        for method, path, body in [("POST", f"{self.canary_path}/sign", {"alg": "RS256", "value": b64u(self.digest)}),
                                   ("GET", f"/keys/{CANARY}", None), ("POST", f"/keys/{CANARY}/create", {"kty": "EC"}),
                                   ("POST", "/rng", {"count": 8}), ("POST", f"/keys/{CANARY}/backup", None)]:
            r = self.srv.request(method, f"{path}?{API}", body=body, host="nosuch.vault.localhost")
            self.assertError(r, 404, msg=f"{method} {path} on an unknown vault: {r}")
            self.assertNotIn("value", r.json)

    def test_bad_paging_parameters(self):
        for path in ["/keys", f"/keys/{CANARY}/versions", "/deletedkeys"]:
            for bad in ["0", "-1", "abc", "1e3", "", "2.5", "%205"]:
                r = self.srv.request("GET", f"{path}?{API}&maxresults={bad}")
                self.assertError(r, 400, "BadParameter", f"{path} maxresults={bad!r}: {r}")
            for bad in ["garbage", "%FF%FE", "e30", "A" * 4096]:
                r = self.srv.request("GET", f"{path}?{API}&$skiptoken={bad}")
                self.assertError(r, 400, "BadParameter", f"{path} $skiptoken={bad[:20]!r}: {r}")

    def test_byok_blobs_are_refused(self):
        for key in [{"kty": "RSA-HSM", "key_hsm": b64u(os.urandom(300))},
                    dict(self.rsa, kty="RSA-HSM", key_hsm=b64u(os.urandom(300))),
                    {"kty": "EC-HSM", "crv": "P-256", "key_hsm": b64u(os.urandom(100))}]:
            r = self.imp("fresh-byok", key)
            if r.status == 200:
                # Importing the JWK's own private parts is fine; the BYOK blob must not be kept.
                self.assertNotIn("key_hsm", r.json["key"])
                self.srv.request("DELETE", f"/keys/fresh-byok?{API}")
                self.srv.request("DELETE", f"/deletedkeys/fresh-byok?{API}")
                continue
            self.assertError(r, 400, "BadParameter", str(key)[:60])

    def test_secret_routes_do_not_reach_keys(self):
        # A secret named like the canary key is another object; key routes never serve secrets.
        r = self.put(f"/secrets/{CANARY}?{API}", {"value": "not a key"})
        self.assertEqual(r.status, 200, r)
        g = self.srv.request("GET", f"/keys/{CANARY}?{API}")
        self.assertEqual(g.json["key"]["kty"], "RSA")
        self.assertNotIn("not a key", g.text)
        d = self.srv.request("DELETE", f"/secrets/{CANARY}?{API}")
        self.assertEqual(d.status, 200, d)


if __name__ == "__main__":
    unittest.main()
