"""Hostile bytes against the certificates API of a real kluisd (Python's standard library and the
`openssl` command line only).

Malformed PKCS#12 and PEM uploads (garbage, cut files, a traditional RSA key, a key that does not
match, a chain of twelve, an upload past the size limit, members of the wrong type), policies with
wrong types and values out of range, and merges that do not fit the pending key. Each must get a
400 with an Azure-style error body and change nothing: before and after every case the test takes
a snapshot of everything the vault holds (secrets, keys, certificates with every version, their
policies and operations, the deleted items), and a canary certificate keeps its managed key,
which still signs.

Run: cd tests/e2e/raw && /usr/bin/python3 -m unittest -v test_certs_hostile
"""

import base64
import json
import os
import subprocess
import tempfile
import unittest

from rawlib import _all_pages, assert_error, dp, snapshot, start_server

CANARY = "canary-cert"
PENDING = "pending-cert"


def b64(b):
    return base64.b64encode(b).decode("ascii")


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def read(d, name):
    with open(os.path.join(d, name), "rb") as f:
        return f.read()


class CertsHostile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="kluis-certs-hostile-")
        d = cls.d = cls.tmp.name
        cls.srv = start_server(extra_args=["--certificate-issue-delay", "0"])
        # uploads made by openssl: a key and its certificate, another key, a traditional key
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "k.pem", "-out",
                "c.pem", "-subj", "/CN=hostile", "-days", "30", cwd=d)
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out",
                "other.pem", cwd=d)
        openssl("pkey", "-in", "k.pem", "-traditional", "-out", "trad.pem", cwd=d)
        openssl("pkcs12", "-export", "-in", "c.pem", "-inkey", "k.pem", "-passout", "pass:pw",
                "-out", "c.pfx", cwd=d)
        cls.pfx, cls.cert, cls.key = read(d, "c.pfx"), read(d, "c.pem"), read(d, "k.pem")
        cls.other, cls.trad = read(d, "other.pem"), read(d, "trad.pem")
        r = cls.post(f"/certificates/{CANARY}/create",
                     {"policy": {"issuer": {"name": "Self"}, "x509_props": {"subject": "CN=canary"},
                                 "key_props": {"kty": "EC", "crv": "P-256"}}})
        assert r.status == 202, r
        r = cls.post(f"/certificates/{PENDING}/create",
                     {"policy": {"issuer": {"name": "Unknown"},
                                 "x509_props": {"subject": "CN=pending"}}})
        assert r.status == 202, r
        cls.digest = b64(os.urandom(32)).replace("+", "-").replace("/", "_").rstrip("=")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.tmp.cleanup()

    @classmethod
    def post(cls, path, body):
        return dp(cls.srv, "default", "POST", path, body)

    def state(self):
        """rawlib's snapshot, plus every certificate version, policy and operation."""
        s = snapshot(self.srv, "default")
        for item in _all_pages(self.srv, "default", "/certificates"):
            name = item["id"].rstrip("/").split("/")[-1]
            versions = []
            for v in _all_pages(self.srv, "default", f"/certificates/{name}/versions"):
                g = dp(self.srv, "default", "GET", "/" + v["id"].split("/", 3)[3])
                self.assertEqual(g.status, 200, g)
                versions.append(json.dumps(g.json, sort_keys=True))
            s[f"cert:{name}"] = sorted(versions)
            for part in ("policy", "pending"):
                g = dp(self.srv, "default", "GET", f"/certificates/{name}/{part}")
                s[f"cert:{name}:{part}"] = (g.status, json.dumps(g.json, sort_keys=True))
        s["deletedcerts"] = sorted(json.dumps(i, sort_keys=True) for i in
                                   _all_pages(self.srv, "default", "/deletedcertificates"))
        return s

    def setUp(self):
        self.before = self.state()

    def tearDown(self):
        self.assertEqual(self.srv.request("GET", "/health", token=False).status, 200)
        self.assertEqual(self.state(), self.before, "a refused request changed the vault")
        r = self.post(f"/keys/{CANARY}//sign", {"alg": "ES256", "value": self.digest})
        self.assertEqual(r.status, 200, r)

    def refused(self, path, body, what):
        r = self.post(path, body)
        assert_error(self, r, 400, msg=f"{what}: {r}")

    def test_malformed_uploads(self):
        chain12 = b"".join([self.cert] * 12) + self.key
        cases = {
            "empty": {"value": ""},
            "not base64": {"value": "!!!not base64!!!"},
            "random bytes": {"value": b64(os.urandom(600))},
            "a PFX cut short": {"value": b64(self.pfx[: len(self.pfx) // 2]), "pwd": "pw"},
            "a PFX with a wrong password": {"value": b64(self.pfx), "pwd": "wrong"},
            "a PFX with one byte flipped": {"value": b64(self.pfx[:100] + bytes([self.pfx[100] ^ 1])
                                                        + self.pfx[101:]), "pwd": "pw"},
            "PEM: a certificate only": {"value": self.cert.decode()},
            "PEM: a key only": {"value": self.key.decode()},
            "PEM: a traditional RSA key": {"value": (self.trad + self.cert).decode()},
            "PEM: a key that is not the certificate's": {"value": (self.other + self.cert).decode()},
            "PEM: a chain of twelve": {"value": chain12.decode()},
            "PEM: cut in a block": {"value": (self.key + self.cert[:200]).decode()},
            "an upload past the limit": {"value": b64(self.pfx) * 200, "pwd": "pw"},
            "value of the wrong type": {"value": 5},
            "pwd of the wrong type": {"value": b64(self.pfx), "pwd": 5},
            "policy of the wrong type": {"value": b64(self.pfx), "pwd": "pw", "policy": "x"},
            "tags of the wrong type": {"value": b64(self.pfx), "pwd": "pw", "tags": ["x"]},
        }
        for what, body in cases.items():
            with self.subTest(what):
                self.refused("/certificates/imported/import", body, what)

    def test_bad_policies(self):
        def policy(**members):
            p = {"issuer": {"name": "Self"}, "x509_props": {"subject": "CN=p"}}
            for k, v in members.items():
                p[k] = v
            return {"policy": p}

        cases = {
            "policy of the wrong type": {"policy": 5},
            "RSA 1024": policy(key_props={"kty": "RSA", "key_size": 1024}),
            "an unknown kty": policy(key_props={"kty": "DSA"}),
            "an unknown curve": policy(key_props={"kty": "EC", "crv": "P-192"}),
            "key_size of the wrong type": policy(key_props={"kty": "RSA", "key_size": "2048"}),
            "exportable HSM key": policy(key_props={"kty": "RSA-HSM", "exportable": True}),
            "an unknown content type": policy(secret_props={"contentType": "text/plain"}),
            "validity 0 months": policy(x509_props={"subject": "CN=p", "validity_months": 0}),
            "validity 100000 months": policy(x509_props={"subject": "CN=p",
                                                          "validity_months": 100000}),
            "validity of the wrong type": policy(x509_props={"subject": "CN=p",
                                                              "validity_months": "12"}),
            "an unknown key usage": policy(x509_props={"subject": "CN=p", "key_usage": ["bogus"]}),
            "an EKU that is no OID": policy(x509_props={"subject": "CN=p", "ekus": ["not.an oid"]}),
            "no subject and no SAN": policy(x509_props={}),
            "an unparsable subject": policy(x509_props={"subject": "no equals sign"}),
            "a subject of 10,000 bytes": policy(x509_props={"subject": "CN=" + "a" * 10000}),
            "x509_props of the wrong type": policy(x509_props="CN=p"),
            "lifetime percentage 150": policy(lifetime_actions=[
                {"trigger": {"lifetime_percentage": 150}, "action": {"action_type": "AutoRenew"}}]),
            "a trigger with both": policy(lifetime_actions=[
                {"trigger": {"lifetime_percentage": 50, "days_before_expiry": 5},
                 "action": {"action_type": "AutoRenew"}}]),
            "an unknown action": policy(lifetime_actions=[
                {"trigger": {"lifetime_percentage": 50}, "action": {"action_type": "Explode"}}]),
            "an issuer that does not exist": policy(issuer={"name": "nobody-issues-this"}),
        }
        for what, body in cases.items():
            with self.subTest(what):
                self.refused("/certificates/fresh/create", body, what)

    def test_mismatched_merges(self):
        foreign = b64(self.cert)  # a valid certificate, not of the pending key
        cases = {
            "a certificate of another key": {"x5c": [foreign]},
            "x5c of the wrong type": {"x5c": foreign},
            "an x5c item of the wrong type": {"x5c": [5]},
            "an empty x5c": {"x5c": []},
            "garbage": {"x5c": [b64(b"garbage")]},
            "twelve certificates": {"x5c": [foreign] * 12},
        }
        for what, body in cases.items():
            with self.subTest(what):
                self.refused(f"/certificates/{PENDING}/pending/merge", body, what)


if __name__ == "__main__":
    unittest.main()
