"""What the identity provider's suites share (test_token_service.py, raw/test_identity_hostile.py):
raw requests to the token endpoints, JWT decoding, client assertions signed with the openssl
command line, the OAuth error shape check, the admin calls that make principals and their
credentials. Python's standard library and the openssl CLI only, so raw/ may use it too.
"""

import base64
import hashlib
import json
import os
import re
import subprocess
import tempfile
import time
import urllib.parse
import uuid


JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
VAULT_SCOPE = "https://vault.azure.net/.default"
MGMT_SCOPE = "https://management.azure.com/.default"
FORM = "application/x-www-form-urlencoded"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def jwt_parts(token):
    """(header, claims) of a JWT, unverified."""
    h, c, _ = token.split(".")
    return json.loads(b64url_decode(h)), json.loads(b64url_decode(c))


def host_of(srv):
    return f"localhost:{srv.port}"


def post_form(srv, path, fields, headers=None, host="localhost"):
    """POST path with fields (a dict, or raw bytes/str as the body) as a form."""
    body = fields if isinstance(fields, (bytes, str)) else urllib.parse.urlencode(fields)
    hdrs = {"Content-Type": FORM}
    hdrs.update(headers or {})
    return srv.request("POST", path, body=body, headers=hdrs, token=False, host=host)


def token_request(srv, client_id, tenant="adfs", scope=VAULT_SCOPE, **fields):
    """A client credentials request to /{tenant}/oauth2/v2.0/token."""
    form = {"client_id": client_id, "grant_type": "client_credentials", "scope": scope}
    form.update(fields)
    return post_form(srv, f"/{tenant}/oauth2/v2.0/token", form)


def msi(srv, header, query="api-version=2019-08-01&resource=https://vault.azure.net"):
    """GET /msi/token with X-IDENTITY-HEADER header (None: without)."""
    h = {} if header is None else {"X-IDENTITY-HEADER": header}
    return srv.request("GET", f"/msi/token?{query}", headers=h, token=False, host="localhost")


def assert_oauth_error(tc, r, status, error, code=None, secrets=()):
    """r is Entra ID's OAuth error: error, error_description "AADSTS<n>: ...", error_codes [n],
    timestamp, trace_id, correlation_id; no-store; none of secrets in it."""
    tc.assertEqual(r.status, status, r)
    j = r.json
    tc.assertIsInstance(j, dict, r)
    tc.assertEqual(j.get("error"), error, r)
    tc.assertRegex(j.get("error_description", ""), r"^AADSTS\d+: ", r)
    tc.assertIsInstance(j.get("error_codes"), list, r)
    tc.assertEqual(len(j["error_codes"]), 1, r)
    n = j["error_codes"][0]
    tc.assertTrue(j["error_description"].startswith(f"AADSTS{n}: "), r)
    if code is not None:
        tc.assertEqual(n, code, r)
    tc.assertRegex(j.get("timestamp", ""), r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$", r)
    tc.assertEqual(j.get("trace_id"), r.headers.get("x-ms-request-id"), r)
    tc.assertTrue(j.get("correlation_id"), r)
    tc.assertEqual(r.headers.get("cache-control"), "no-store", r.headers)
    tc.assertRegex(r.headers.get("content-type", ""), r"^application/json", r.headers)
    for s in secrets:
        tc.assertNotIn(s, r.text)
    return j


# --- principals and their credentials (admin API) ------------------------------------------

def principal(srv, name, role="secrets-user", vault="default"):
    """A new principal with role on vault (vault None: deployment scope): (id, kluis token)."""
    r = srv.request("POST", "/kluis/v1/principals", body={"name": name}, host="localhost")
    assert r.status == 201, r
    if role:
        body = {"principal": name, "role": role}
        if vault:
            body["vault"] = vault
        a = srv.request("POST", "/kluis/v1/roleAssignments", body=body, host="localhost")
        assert a.status == 201, a
    return r.json["id"], r.json["token"]


def token_id_of(srv, pid):
    """The id of the principal's (first) kluis token."""
    r = srv.request("GET", f"/kluis/v1/principals/{pid}", host="localhost")
    assert r.status == 200, r
    return r.json["tokens"][0]["id"]


def add_secret(srv, pid):
    """A new client secret: (credential id, secret text)."""
    r = srv.request("POST", f"/kluis/v1/principals/{pid}/secrets",
                    body={"description": "e2e"}, host="localhost")
    assert r.status == 201, r
    return r.json["id"], r.json["secret"]


def add_cert(srv, pid, cert_pem):
    r = srv.request("POST", f"/kluis/v1/principals/{pid}/certificates",
                    body={"certificate": cert_pem.decode() if isinstance(cert_pem, bytes)
                          else cert_pem, "description": "e2e"}, host="localhost")
    assert r.status == 201, r
    return r.json["id"]


# --- certificates and client assertions with the openssl CLI -------------------------------

class CertKey:
    """A self-signed RSA certificate and its key, made by the openssl CLI in a temporary dir."""

    def __init__(self, cn="kluis-e2e-client"):
        self.dir = tempfile.mkdtemp(prefix="kluis-e2e-idp-")
        self.key = os.path.join(self.dir, "key.pem")
        self.cert = os.path.join(self.dir, "cert.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                        self.key, "-out", self.cert, "-days", "2", "-subj", f"/CN={cn}"],
                       check=True, capture_output=True)
        with open(self.cert, "rb") as f:
            self.cert_pem = f.read()
        der = base64.b64decode(b"".join(l for l in self.cert_pem.splitlines()
                                        if not l.startswith(b"-----")))
        self.x5t = base64.urlsafe_b64encode(hashlib.sha1(der).digest()).decode()  # padded: msal Py
        self.x5t_s256 = b64url(hashlib.sha256(der).digest())

    def sign(self, data, pss=False):
        args = ["openssl", "dgst", "-sha256", "-sign", self.key]
        if pss:
            args += ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"]
        return subprocess.run(args, input=data, check=True, capture_output=True).stdout

    def assertion(self, client_id, aud, alg="RS256", thumb="x5t", **claims):
        """A client assertion as MSAL makes one (Py: RS256 + x5t; JS: PS256 + x5t#S256)."""
        now = int(time.time())
        header = {"alg": alg, "typ": "JWT"}
        header[thumb] = self.x5t if thumb == "x5t" else self.x5t_s256
        body = {"aud": aud, "iss": client_id, "sub": client_id, "jti": str(uuid.uuid4()),
                "iat": now, "nbf": now, "exp": now + 600}
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        signing_input = (b64url(json.dumps(header).encode()) + "." +
                         b64url(json.dumps(body).encode())).encode()
        sig = self.sign(signing_input, pss=alg == "PS256")
        return signing_input.decode() + "." + b64url(sig)


def token_url(srv, tenant="adfs", v2=True):
    return f"https://{host_of(srv)}/{tenant}/oauth2/{'v2.0/' if v2 else ''}token"


def metric(srv, grant, outcome):
    r = srv.request("GET", "/metrics", token=False, host="127.0.0.1")
    m = re.search(r'^kluis_identity_tokens_total\{grant="%s",outcome="%s"\} (\d+)$'
                  % (grant, outcome), r.text, re.M)
    assert r.status == 200 and m, r.text[-2000:]
    return int(m.group(1))
