"""A principal's client secrets and client certificates (docs/admin-api.md), the credentials of
the token endpoint, against a real kluisd: the administration API and the kluis CLI.

Run from tests/e2e/py: KLUISD=.../kluisd KLUIS_CLI=.../kluis /usr/bin/python3 -m unittest -v test_credentials

A client secret is shown once, in the answer that made it: never in a list, a later answer, the
audit log, the server's log or the CLI's stderr. Revoking a credential shows it revoked; deleting
the principal takes its credentials along.
"""

import base64
import datetime
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import harness
from harness import unique_name

CLI = os.environ.get("KLUIS_CLI") or os.path.join(harness.REPO, "build", "kluis")
ADMIN_HOST = "localhost"
SECRET_LEN = 48  # "kls1." + 43 base64url characters


def make_cert(cn, days=30, not_before_days=-1):
    """A self-signed EC certificate: (key, certificate)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now + datetime.timedelta(days=not_before_days))
            .not_valid_after(now + datetime.timedelta(days=days))
            .sign(key, hashes.SHA256()))
    return key, cert


def der_of(cert):
    return cert.public_bytes(serialization.Encoding.DER)


def pem_of(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode("ascii")


class CredentialsCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="kluis-e2e-creds-")
        cls.audit = os.path.join(cls.tmp, "audit.log")
        cls.srv = harness.start_server(extra_args=["--audit-log", cls.audit,
                                                   "--log-level", "debug"])
        cls.shown = set()  # every secret and token seen: none may leak anywhere else

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def admin(self, method, path, body=None, token=None):
        r = self.srv.request(method, path, body, host=ADMIN_HOST, token=token)
        try:
            r.json = json.loads(r.body) if r.body else None
        except ValueError:
            r.json = None
        return r

    def principal(self):
        name = unique_name("cp")
        r = self.admin("POST", "/kluis/v1/principals", {"name": name})
        self.assertEqual(r.status, 201, r)
        self.shown.add(r.json["token"])
        return name, r.json["id"], r.json["token"]

    def leaks(self, data):
        """The secrets and tokens shown so far that appear in data (text or bytes)."""
        if isinstance(data, bytes):
            data = data.decode("utf-8", "replace")
        return [s for s in self.shown if s in data]


class AdminApiTest(CredentialsCase):
    def test_secret_create_list_revoke(self):
        name, pid, _ = self.principal()
        base = f"/kluis/v1/principals/{name}/secrets"
        self.assertEqual(self.admin("GET", base).json, {"value": []})

        r = self.admin("POST", base, {"description": "ci deploy"})
        self.assertEqual(r.status, 201, r)
        s = r.json
        secret = s["secret"]
        self.shown.add(secret)
        self.assertEqual(len(secret), SECRET_LEN)
        self.assertTrue(secret.startswith("kls1."), secret[:5])
        self.assertEqual(s["type"], "secret")
        self.assertEqual(s["description"], "ci deploy")
        self.assertEqual(s["hint"], secret[5:8])
        self.assertIsNone(s["expires"])
        self.assertIs(s["revoked"], False)
        self.assertAlmostEqual(s["created"], time.time(), delta=120)
        self.assertRegex(s["id"], r"^[0-9a-f-]{36}$")

        # An empty body is fine too; an expiry in Unix seconds is kept.
        r2 = self.admin("POST", f"/kluis/v1/principals/{pid}/secrets")
        self.assertEqual(r2.status, 201, r2)
        self.shown.add(r2.json["secret"])
        self.assertNotEqual(r2.json["secret"], secret)
        exp = int(time.time()) + 86400
        r3 = self.admin("POST", base, {"expires": exp})
        self.assertEqual(r3.status, 201, r3)
        self.shown.add(r3.json["secret"])
        self.assertEqual(r3.json["expires"], exp)

        # Listed (by name or id), never with the secret.
        for who in (name, pid, name.upper()):
            listed = self.admin("GET", f"/kluis/v1/principals/{who}/secrets")
            self.assertEqual(listed.status, 200, listed)
            self.assertEqual([x["id"] for x in listed.json["value"]],
                             [s["id"], r2.json["id"], r3.json["id"]])
            self.assertEqual(self.leaks(listed.body), [])
            for x in listed.json["value"]:
                self.assertNotIn("secret", x)
        # Not among the certificates, nor in the principal's own answer.
        self.assertEqual(self.admin("GET", f"/kluis/v1/principals/{name}/certificates").json,
                         {"value": []})
        self.assertEqual(self.leaks(self.admin("GET", f"/kluis/v1/principals/{name}").body), [])

        # Revoke: 200 with it revoked, shown so in the list; again is harmless.
        r = self.admin("DELETE", f"{base}/{s['id']}")
        self.assertEqual(r.status, 200, r)
        self.assertIs(r.json["revoked"], True)
        self.assertNotIn("secret", r.json)
        self.assertEqual(self.admin("DELETE", f"{base}/{s['id']}").status, 200)
        listed = {x["id"]: x for x in self.admin("GET", base).json["value"]}
        self.assertIs(listed[s["id"]]["revoked"], True)
        self.assertIs(listed[r2.json["id"]]["revoked"], False)
        # A secret's id is not a certificate's.
        r = self.admin("DELETE", f"/kluis/v1/principals/{name}/certificates/{r2.json['id']}")
        self.assertEqual((r.status, r.json["error"]["code"]), (404, "CredentialNotFound"))

        # Deleting the principal takes its credentials along.
        self.assertEqual(self.admin("DELETE", f"/kluis/v1/principals/{pid}").status, 200)
        r = self.admin("GET", f"/kluis/v1/principals/{pid}/secrets")
        self.assertEqual((r.status, r.json["error"]["code"]), (404, "PrincipalNotFound"))
        name2 = name  # the same name again starts empty
        r = self.admin("POST", "/kluis/v1/principals", {"name": name2})
        self.shown.add(r.json["token"])
        self.assertEqual(self.admin("GET", f"/kluis/v1/principals/{name2}/secrets").json,
                         {"value": []})

    def test_certificate_create_list_revoke(self):
        name, pid, _ = self.principal()
        base = f"/kluis/v1/principals/{name}/certificates"
        key, cert = make_cert("app one")
        der = der_of(cert)

        r = self.admin("POST", base, {"certificate": pem_of(cert), "description": "laptop"})
        self.assertEqual(r.status, 201, r)
        c = r.json
        self.assertEqual(c["type"], "certificate")
        self.assertEqual(c["thumbprint"], hashlib.sha256(der).hexdigest())
        self.assertEqual(c["x5t"], hashlib.sha1(der).hexdigest())
        self.assertEqual(c["subject"], "CN=app one")
        self.assertEqual(c["description"], "laptop")
        self.assertEqual(c["expires"], int(cert.not_valid_after.replace(tzinfo=datetime.timezone.utc).timestamp()))
        self.assertIs(c["revoked"], False)

        # The same certificate again (as base64 DER): 409. Another one as base64 DER: 201.
        r = self.admin("POST", base, {"certificate": base64.b64encode(der).decode()})
        self.assertEqual((r.status, r.json["error"]["code"]), (409, "CertificateAlreadyRegistered"))
        _, cert2 = make_cert("second")
        r2 = self.admin("POST", f"/kluis/v1/principals/{pid}/certificates",
                        {"certificate": base64.b64encode(der_of(cert2)).decode()})
        self.assertEqual(r2.status, 201, r2)
        self.assertEqual(r2.json["subject"], "CN=second")
        listed = self.admin("GET", base).json["value"]
        self.assertEqual([x["id"] for x in listed], [c["id"], r2.json["id"]])
        self.assertEqual(self.admin("GET", f"/kluis/v1/principals/{name}/secrets").json,
                         {"value": []})

        # Revoked: listed so; it may then be registered again.
        r = self.admin("DELETE", f"{base}/{c['id']}")
        self.assertEqual(r.status, 200, r)
        self.assertIs(r.json["revoked"], True)
        self.assertEqual(r.json["thumbprint"], c["thumbprint"])
        r = self.admin("POST", base, {"certificate": pem_of(cert)})
        self.assertEqual(r.status, 201, r)
        self.assertNotEqual(r.json["id"], c["id"])
        r = self.admin("DELETE", f"/kluis/v1/principals/{name}/secrets/{r2.json['id']}")
        self.assertEqual((r.status, r.json["error"]["code"]), (404, "CredentialNotFound"))

        # Refused: a private key with it (the key is not echoed), an expired certificate,
        # garbage, two certificates.
        with_key = key_pem(key) + pem_of(cert)
        r = self.admin("POST", base, {"certificate": with_key})
        self.assertEqual((r.status, r.json["error"]["code"]), (400, "BadParameter"), r)
        self.assertIn("private key", r.json["error"]["message"])
        self.assertNotIn("PRIVATE", r.body.decode())
        _, old = make_cert("old", days=-1, not_before_days=-10)
        r = self.admin("POST", base, {"certificate": pem_of(old)})
        self.assertEqual(r.status, 400, r)
        self.assertIn("expired", r.json["error"]["message"])
        for junk in ("not a certificate", "MIIB", base64.b64encode(b"\x30\x03\x02\x01\x01").decode(),
                     pem_of(cert2) + pem_of(old)):
            r = self.admin("POST", base, {"certificate": junk})
            self.assertEqual(r.status, 400, (junk[:20], r))

    def test_bad_requests(self):
        name, pid, token = self.principal()
        sec = f"/kluis/v1/principals/{name}/secrets"
        crt = f"/kluis/v1/principals/{name}/certificates"
        cases = [
            (sec, "not json"),
            (sec, "[1]"),
            (sec, {"description": 5}),
            (sec, {"description": "x" * 200}),
            (sec, {"description": "line\nbreak"}),
            (sec, {"expires": "tomorrow"}),
            (sec, {"expires": 1000}),
            (sec, {"expires": 1.5e12}),
            (crt, None),
            (crt, {}),
            (crt, {"certificate": 5}),
            (crt, {"certificate": ""}),
            (crt, {"certificate": None}),
            (crt, {"description": "no certificate"}),
        ]
        for path, body in cases:
            r = self.admin("POST", path, body)
            self.assertEqual(r.status, 400, (path, body, r))
            self.assertEqual(r.json["error"]["code"], "BadParameter", (path, body, r))
        self.assertEqual(self.admin("GET", sec).json, {"value": []}, "nothing was made")

        # 404s: an unknown principal, an unknown credential.
        for method, path in (("GET", "/kluis/v1/principals/nobody-here/secrets"),
                             ("POST", "/kluis/v1/principals/nobody-here/secrets"),
                             ("GET", "/kluis/v1/principals/nobody-here/certificates"),
                             ("DELETE", "/kluis/v1/principals/nobody-here/secrets/"
                                        "00000000-0000-0000-0000-000000000000")):
            r = self.admin(method, path, {} if method == "POST" else None)
            self.assertEqual((r.status, r.json["error"]["code"]), (404, "PrincipalNotFound"),
                             (method, path, r))
        _, cert = make_cert("x")
        r = self.admin("POST", "/kluis/v1/principals/nobody-here/certificates",
                       {"certificate": pem_of(cert)})
        self.assertEqual(r.status, 404, r)
        for path in (f"{sec}/00000000-0000-0000-0000-000000000000", f"{sec}/not-an-id",
                     f"{crt}/00000000-0000-0000-0000-000000000000"):
            r = self.admin("DELETE", path)
            self.assertEqual((r.status, r.json["error"]["code"]), (404, "CredentialNotFound"),
                             (path, r))

        # The limit: 16 live credentials.
        for _ in range(16):
            r = self.admin("POST", sec, {})
            self.assertEqual(r.status, 201, r)
            self.shown.add(r.json["secret"])
        r = self.admin("POST", sec, {})
        self.assertEqual((r.status, r.json["error"]["code"]), (409, "TooManyCredentials"))
        r = self.admin("POST", crt, {"certificate": pem_of(cert)})
        self.assertEqual((r.status, r.json["error"]["code"]), (409, "TooManyCredentials"))

        # Not an administrator: 403, whatever the route; no token: 401.
        for method, path in (("GET", sec), ("POST", sec), ("GET", crt), ("POST", crt),
                             ("DELETE", f"{sec}/00000000-0000-0000-0000-000000000000")):
            r = self.admin(method, path, {} if method == "POST" else None, token=token)
            self.assertEqual(r.status, 403, (method, path, r))
            self.assertEqual(self.leaks(r.body), [])
            r = self.admin(method, path, {} if method == "POST" else None, token=False)
            self.assertEqual(r.status, 401, (method, path, r))

    def test_secret_never_in_audit_or_log(self):
        name, _, _ = self.principal()
        r = self.admin("POST", f"/kluis/v1/principals/{name}/secrets", {"description": "audit"})
        self.assertEqual(r.status, 201)
        secret = r.json["secret"]
        self.shown.add(secret)
        self.admin("GET", f"/kluis/v1/principals/{name}/secrets")
        self.admin("DELETE", f"/kluis/v1/principals/{name}/secrets/{r.json['id']}")
        last = self.admin("GET", "/kluis/v1/deployment")
        rid = last.headers["x-ms-request-id"]
        log = self.srv.wait_stderr(rid)
        with open(self.audit, "rb") as f:
            audit = f.read().decode("utf-8")
        ops = [json.loads(line)["operation"] for line in audit.splitlines()]
        for op in ("CreateClientSecret", "ListClientSecrets", "RevokeClientSecret"):
            self.assertIn(op, ops)
        for text, where in ((audit, "audit log"), (log, "server log")):
            for s in (secret, secret[5:], base64.b64encode(secret.encode()).decode()):
                self.assertNotIn(s, text, f"the secret in the {where}")
            self.assertEqual(self.leaks(text), [], where)
        # Only its digest is stored: the text is in no file of the deployment.
        for path, data in self.srv.files_at_rest():
            self.assertNotIn(secret[5:].encode(), data, path)
        if harness.STORE == "lmdb":  # PostgreSQL may not have written its pages yet
            digest = hashlib.sha256(secret.encode()).digest()
            self.assertTrue(any(digest in data for _, data in self.srv.files_at_rest()),
                            "the digest is what is kept")


class CliTest(CredentialsCase):
    def setUp(self):
        if not os.access(CLI, os.X_OK):
            self.skipTest(f"no kluis CLI at {CLI} (set KLUIS_CLI)")
        self.home = tempfile.mkdtemp(prefix="kluis-cli-creds-", dir=self.tmp)

    def cli(self, *args, expect=0, token=None):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.home,
               "LANG": "C.UTF-8", "KLUIS_URL": self.srv.url, "KLUIS_CA": self.srv.ca,
               "KLUIS_TOKEN": token or self.srv.token}
        for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if var in os.environ:
                env[var] = os.environ[var]
        p = subprocess.run([CLI, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=60)
        out, err = p.stdout.decode(), p.stderr.decode()
        self.assertEqual(p.returncode, expect, f"{args}: {out}\n{err}")
        self.assertEqual(self.leaks(err), [], f"a secret reached stderr: {err}")
        return out, err

    @staticmethod
    def fields(out):
        f = {}
        for line in out.splitlines():
            k, _, v = line.partition(" ")
            f[k] = v.strip()
        return f

    @staticmethod
    def table(out):
        lines = [l for l in out.splitlines() if l.strip()]
        head = lines[0].split()
        return [dict(zip(head, l.split(None, len(head) - 1))) for l in lines[1:]]

    def test_secret_add_list_revoke(self):
        name, _, _ = self.principal()
        out, err = self.cli("principal", "secret", "add", name, "--description", "from-cli",
                            "--expires", "30")
        self.assertIn("only this once", err)
        f = self.fields(out)
        secret = f["secret"]
        self.shown.add(secret)
        self.assertTrue(secret.startswith("kls1.") and len(secret) == SECRET_LEN, secret[:5])
        self.assertEqual(f["description"], "from-cli")
        self.assertNotEqual(f["expires"], "-")

        out, _ = self.cli("principal", "secret", "list", name)
        self.assertEqual(self.leaks(out), [])
        rows = self.table(out)
        self.assertEqual([(r["ID"], r["HINT"], r["REVOKED"]) for r in rows],
                         [(f["id"], secret[5:8], "false")])
        listed = json.loads(self.cli("principal", "secret", "list", name, "-o", "json")[0])
        self.assertEqual([x["id"] for x in listed["value"]], [f["id"]])
        self.assertNotIn("secret", listed["value"][0])

        out, _ = self.cli("principal", "secret", "revoke", name, f["id"])
        self.assertEqual(self.fields(out)["revoked"], "true")
        self.assertEqual(self.table(self.cli("principal", "secret", "list", name)[0])[0]["REVOKED"],
                         "true")
        _, err = self.cli("principal", "secret", "revoke", name,
                          "00000000-0000-0000-0000-000000000000", expect=1)
        self.assertIn("404", err)
        _, err = self.cli("principal", "secret", "list", "nobody-here", expect=1)
        self.assertIn("404", err)

        # Usage errors: exit 2, nothing sent.
        for args in (["principal", "secret", "add", name, "--expires", "0"],
                     ["principal", "secret", "add", name, "--expires", "soon"],
                     ["principal", "secret", "list", name, "--expires", "3"],
                     ["principal", "secret", "revoke", name],
                     ["principal", "secret", "frob", name],
                     ["principal", "secret", "add"]):
            self.cli(*args, expect=2)
        self.assertEqual(len(self.table(self.cli("principal", "secret", "list", name)[0])), 1)

    def test_cert_add_list_revoke(self):
        name, _, token = self.principal()
        key, cert = make_cert("cli-cert")
        der = der_of(cert)
        pem_path = os.path.join(self.home, "both.pem")
        with open(pem_path, "w") as f:  # as the identity agent keeps it: key and certificate
            f.write(key_pem(key) + pem_of(cert))
        out, err = self.cli("principal", "cert", "add", name, pem_path, "--description", "agent")
        self.assertIn("private key", err)  # said, and not sent
        f = self.fields(out)
        self.assertEqual(f["thumbprint"], hashlib.sha256(der).hexdigest())
        self.assertEqual(f["x5t"], hashlib.sha1(der).hexdigest())
        self.assertEqual(f["subject"], "CN=cli-cert")
        with open(self.audit, "rb") as a:
            self.assertNotIn(b"PRIVATE", a.read())

        _, cert2 = make_cert("cli-der")
        der_path = os.path.join(self.home, "c.der")
        with open(der_path, "wb") as fh:
            fh.write(der_of(cert2))
        f2 = self.fields(self.cli("principal", "cert", "add", name, der_path)[0])
        self.assertEqual(f2["thumbprint"], hashlib.sha256(der_of(cert2)).hexdigest())
        _, err = self.cli("principal", "cert", "add", name, der_path, expect=1)
        self.assertIn("409", err)

        rows = self.table(self.cli("principal", "cert", "list", name)[0])
        self.assertEqual([(r["ID"], r["THUMBPRINT"]) for r in rows],
                         [(f["id"], f["thumbprint"]), (f2["id"], f2["thumbprint"])])
        self.assertEqual(self.fields(self.cli("principal", "cert", "revoke", name, f["id"])[0])
                         ["revoked"], "true")
        self.assertEqual([r["REVOKED"] for r in
                          self.table(self.cli("principal", "cert", "list", name)[0])],
                         ["true", "false"])

        junk = os.path.join(self.home, "junk.txt")
        with open(junk, "w") as fh:
            fh.write("hello")
        self.cli("principal", "cert", "add", name, junk, expect=2)
        self.cli("principal", "cert", "add", name, os.path.join(self.home, "absent"), expect=2)
        self.cli("principal", "cert", "add", name, der_path, "--expires", "3", expect=2)
        # Not an administrator.
        _, err = self.cli("principal", "cert", "list", name, token=token, expect=1)
        self.assertIn("403", err)


if __name__ == "__main__":
    unittest.main()
