"""The identity provider's token service (docs/identity.md) against a real kluisd, in raw HTTPS:
the OpenID configuration of every tenant form (issuer origin = the request's), the JWKS (and a
token verified with it), the client credentials grant with a client secret (form and HTTP Basic,
v2 and v1) and with client assertions (RS256 + x5t as MSAL Python signs, PS256 + x5t#S256 as
msal-node does), each token accepted on its own plane only, every refusal with its status and
OAuth error, the App Service route (GET /msi/token with X-IDENTITY-HEADER), revocation stopping
tokens at once, a read-only node still issuing tokens, throttling per client address, the audit
lines (no secret, assertion or token in them) and the counters of /metrics.

Run: cd tests/e2e/py && /usr/bin/python3 -m unittest -v test_token_service
"""

import base64
import json
import os
import shutil
import tempfile
import time
import unittest
import urllib.parse
import uuid

import harness
import idp
from harness import unique_name
from idp import MGMT_SCOPE, VAULT_SCOPE, assert_oauth_error, jwt_parts

DP = "api-version=7.6"
ARM = "api-version=2026-02-01"


class TokenServiceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="kluis-e2e-idp-")
        cls.audit = os.path.join(cls.tmp, "audit.log")
        cls.srv = harness.start_server(extra_args=["--audit-log", cls.audit,
                                                   "--throttle", "identity=100000"])
        cls.tid = cls.srv.tenant_id()
        cls.pid, cls.ktoken = idp.principal(cls.srv, unique_name("app"))
        cls.cred_id, cls.secret = idp.add_secret(cls.srv, cls.pid)
        cls.certkey = idp.CertKey()
        idp.add_cert(cls.srv, cls.pid, cls.certkey.cert_pem)
        r = cls.srv.request("PUT", f"/secrets/{unique_name('seen')}?{DP}", {"value": "x"})
        assert r.status == 200, r

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        shutil.rmtree(cls.certkey.dir, ignore_errors=True)

    def origin(self, host="localhost"):
        return f"https://{host}:{self.srv.port}"

    def issue(self, scope=VAULT_SCOPE, tenant="adfs", **kw):
        r = idp.token_request(self.srv, self.pid, tenant=tenant, scope=scope,
                              client_secret=self.secret, **kw)
        self.assertEqual(r.status, 200, r)
        return r

    def data_plane(self, token):
        return self.srv.request("GET", f"/secrets?{DP}", token=token)

    def arm(self, token):
        return self.srv.request("GET", f"/subscriptions/{uuid.uuid4()}/providers/"
                                f"Microsoft.KeyVault/vaults?{ARM}", token=token, host="localhost")

    # --- discovery -----------------------------------------------------------------------

    def test_openid_configuration_every_tenant_form(self):
        srv = self.srv
        for tenant in (self.tid, self.tid.upper(), "adfs", "ADFS", "organizations", "common"):
            for host in ("localhost", "127.0.0.1"):
                with self.subTest(tenant=tenant, host=host):
                    r = srv.request("GET", f"/{tenant}/v2.0/.well-known/openid-configuration",
                                    token=False, host=host)
                    self.assertEqual(r.status, 200, r)
                    j = r.json
                    base = f"{self.origin(host)}/{'adfs' if tenant.lower() == 'adfs' else tenant}"
                    self.assertEqual(j["token_endpoint"], f"{base}/oauth2/v2.0/token")
                    self.assertEqual(j["authorization_endpoint"],
                                     f"{base}/oauth2/v2.0/authorize")
                    self.assertEqual(j["jwks_uri"], f"{base}/discovery/v2.0/keys")
                    issuer = (f"{self.origin(host)}/adfs" if tenant.lower() == "adfs"
                              else f"{self.origin(host)}/{self.tid}/v2.0")
                    self.assertEqual(j["issuer"], issuer)
                    self.assertEqual(j["grant_types_supported"], ["client_credentials"])
                    self.assertEqual(j["id_token_signing_alg_values_supported"], ["RS256"])
                    self.assertIn("private_key_jwt", j["token_endpoint_auth_methods_supported"])
                    self.assertIn("client_secret_post", j["token_endpoint_auth_methods_supported"])
                    self.assertIn("tenant_region_scope", j)
                    self.assertIsNone(j["tenant_region_scope"])
                    self.assertEqual(j["cloud_instance_name"], "kluis")
                    self.assertTrue(j["response_types_supported"])
                    self.assertTrue(j["subject_types_supported"])
        # ADFS forms (JS and Python MSAL with tenant adfs, az with an /adfs cloud)
        for path in ("/adfs/.well-known/openid-configuration",
                     "/adfs/adfs/.well-known/openid-configuration",
                     "/ADFS/.well-known/openid-configuration"):
            r = srv.request("GET", path, token=False, host="localhost")
            self.assertEqual(r.status, 200, (path, r))
            self.assertEqual(r.json["issuer"], f"{self.origin()}/adfs")
            self.assertEqual(r.json["token_endpoint"], f"{self.origin()}/adfs/oauth2/v2.0/token")
        r = srv.request("GET", f"/{self.tid}/.well-known/openid-configuration", token=False,
                        host="localhost")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["token_endpoint"], f"{self.origin()}/{self.tid}/oauth2/v2.0/token")

    def test_unknown_tenant_and_bad_host(self):
        for path in ("/contoso/v2.0/.well-known/openid-configuration",
                     f"/{uuid.uuid4()}/.well-known/openid-configuration",
                     "/contoso/discovery/v2.0/keys"):
            r = self.srv.request("GET", path, token=False, host="localhost")
            assert_oauth_error(self, r, 400, "invalid_tenant", 90002)
        r = idp.token_request(self.srv, self.pid, tenant="consumers", client_secret=self.secret)
        assert_oauth_error(self, r, 400, "invalid_tenant", 90002, secrets=[self.secret])
        r = self.srv.request("GET", "/adfs/.well-known/openid-configuration", token=False,
                             headers={"Host": "evil/host"})
        assert_oauth_error(self, r, 400, "invalid_request")

    def test_data_plane_and_arm_paths_are_not_shadowed(self):
        # the data plane's routes still win: a 401 challenge, not an OAuth answer
        r = self.srv.request("GET", f"/secrets/oauth2/token?{DP}", token=False)
        self.assertEqual(r.status, 401, r)
        self.assertIn("www-authenticate", r.headers)
        r = self.srv.request("GET", f"/keys/discovery/keys?{DP}", token=False)
        self.assertEqual(r.status, 401, r)
        r = self.srv.request("GET", f"/secrets?{DP}")
        self.assertEqual(r.status, 200, r)

    def test_jwks_verifies_issued_tokens(self):
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding, rsa

        tok = self.issue().json["access_token"]
        header, claims = jwt_parts(tok)
        for path in (f"/{self.tid}/discovery/v2.0/keys", "/adfs/discovery/keys",
                     "/common/discovery/v2.0/keys"):
            r = self.srv.request("GET", path, token=False, host="localhost")
            self.assertEqual(r.status, 200, r)
            keys = r.json["keys"]
            self.assertTrue(keys)
            for k in keys:
                self.assertEqual((k["kty"], k["use"], k["alg"]), ("RSA", "sig", "RS256"))
                self.assertTrue(k["kid"].startswith("kl-"), k)
                self.assertNotIn("d", k)
                self.assertNotIn("p", k)
        key = next(k for k in keys if k["kid"] == header["kid"])
        pub = rsa.RSAPublicNumbers(int.from_bytes(idp.b64url_decode(key["e"]), "big"),
                                   int.from_bytes(idp.b64url_decode(key["n"]), "big")).public_key()
        signing_input, sig = tok.rsplit(".", 1)
        pub.verify(idp.b64url_decode(sig), signing_input.encode(), padding.PKCS1v15(),
                   hashes.SHA256())  # raises when it does not verify
        self.assertEqual(header["alg"], "RS256")

    # --- client secret --------------------------------------------------------------------

    def test_client_secret_token_works_on_its_plane_only(self):
        r = self.issue()
        j = r.json
        self.assertEqual(set(j), {"token_type", "expires_in", "ext_expires_in", "access_token"})
        self.assertEqual(j["token_type"], "Bearer")
        self.assertIsInstance(j["expires_in"], int)
        self.assertTrue(3500 <= j["expires_in"] <= 3600, j["expires_in"])
        self.assertEqual(r.headers.get("cache-control"), "no-store")
        _, claims = jwt_parts(j["access_token"])
        self.assertEqual(claims["aud"], "https://vault.azure.net")
        self.assertEqual(claims["tid"], self.tid)
        self.assertEqual(claims["iss"], f"{self.origin()}/adfs")
        for c in ("sub", "oid", "appid", "azp"):
            self.assertEqual(claims[c], self.pid, c)
        self.assertEqual(claims["kl_cred"], f"s:{self.cred_id}")
        tok = j["access_token"]
        self.assertEqual(self.data_plane(tok).status, 200)
        self.assertEqual(self.arm(tok).status, 401)
        self.assertEqual(self.srv.request("GET", "/kluis/v1/deployment", token=tok,
                                          host="localhost").status, 401)

    def test_mgmt_token_works_on_arm_not_on_the_data_plane(self):
        pid, _ = idp.principal(self.srv, unique_name("ops"), role="kluis-administrator",
                               vault=None)
        _, secret = idp.add_secret(self.srv, pid)
        r = idp.token_request(self.srv, pid, scope=MGMT_SCOPE, client_secret=secret)
        self.assertEqual(r.status, 200, r)
        tok = r.json["access_token"]
        self.assertEqual(jwt_parts(tok)[1]["aud"], "https://management.azure.com/")
        self.assertEqual(self.arm(tok).status, 200)
        self.assertEqual(self.srv.request("GET", "/kluis/v1/deployment", token=tok,
                                          host="localhost").status, 200)
        self.assertEqual(self.data_plane(tok).status, 401)

    def test_other_client_forms(self):
        srv = self.srv
        name = srv.request("GET", f"/kluis/v1/principals/{self.pid}", host="localhost").json["name"]
        # by name, on the deployment's tenant (issuer .../v2.0), scope without /.default
        r = idp.token_request(srv, name, tenant=self.tid, scope="https://vault.azure.net",
                              client_secret=self.secret)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(jwt_parts(r.json["access_token"])[1]["iss"],
                         f"{self.origin()}/{self.tid}/v2.0")
        # the vault's own DNS suffix as the resource (what the challenge names)
        r = idp.token_request(srv, self.pid, scope=f"https://vault.localhost:{srv.port}/.default",
                              client_secret=self.secret)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.data_plane(r.json["access_token"]).status, 200)
        # HTTP Basic (RFC 6749 2.3.1): form-encoded id and secret
        basic = base64.b64encode(f"{urllib.parse.quote_plus(self.pid)}:"
                                 f"{urllib.parse.quote_plus(self.secret)}".encode()).decode()
        r = idp.post_form(srv, "/organizations/oauth2/v2.0/token",
                          {"grant_type": "client_credentials", "scope": VAULT_SCOPE},
                          headers={"Authorization": f"Basic {basic}"})
        self.assertEqual(r.status, 200, r)
        # v1: resource=, all strings, the resource echoed
        r = idp.post_form(srv, f"/{self.tid}/oauth2/token", {
            "grant_type": "client_credentials", "client_id": self.pid,
            "client_secret": self.secret, "resource": "https://vault.azure.net"})
        self.assertEqual(r.status, 200, r)
        j = r.json
        self.assertEqual(j["resource"], "https://vault.azure.net")
        for f in ("expires_in", "expires_on", "ext_expires_in", "not_before"):
            self.assertRegex(j[f], r"^\d+$", f)
        self.assertEqual(self.data_plane(j["access_token"]).status, 200)
        # what MSAL adds is ignored
        r = idp.token_request(srv, self.pid, client_secret=self.secret, client_info="1",
                              claims='{"access_token": {"xms_cc": {"values": ["CP1"]}}}',
                              **{"x-client-SKU": "msal.js.node", "client-request-id": "abc"})
        self.assertEqual(r.status, 200, r)

    def test_refusals(self):
        srv, pid, s = self.srv, self.pid, self.secret
        good = {"client_id": pid, "grant_type": "client_credentials", "scope": VAULT_SCOPE,
                "client_secret": s}

        def without(*names, **extra):
            d = {k: v for k, v in good.items() if k not in names}
            d.update(extra)
            return d

        cases = [
            ("no grant_type", without("grant_type"), 400, "invalid_request", 900144),
            ("password grant", without(grant_type="password"), 400, "unsupported_grant_type",
             70003),
            ("no client_id", without("client_id"), 400, "invalid_request", 900144),
            ("no credential", without("client_secret"), 401, "invalid_client", 7000218),
            ("unknown client", without(client_id=str(uuid.uuid4())), 400, "unauthorized_client",
             700016),
            ("wrong secret", without(client_secret=s[:-2] + "xx"), 401, "invalid_client",
             7000215),
            ("empty secret", without(client_secret=""), 401, "invalid_client", 7000215),
            ("no scope", without("scope"), 400, "invalid_request", 900144),
            ("unknown resource", without(scope="https://graph.microsoft.com/.default"), 400,
             "invalid_scope", 500011),
            ("two resources", without(scope=f"{VAULT_SCOPE} {MGMT_SCOPE}"), 400, "invalid_scope",
             70011),
            ("secret and assertion", without(client_assertion="a.b.c",
                                             client_assertion_type=idp.JWT_BEARER), 400,
             "invalid_request", 900144),
            ("assertion type", without("client_secret", client_assertion="a.b.c",
                                       client_assertion_type="jwt"), 400, "invalid_request",
             900144),
        ]
        for what, form, status, error, code in cases:
            with self.subTest(what):
                r = idp.post_form(srv, "/adfs/oauth2/v2.0/token", form)
                assert_oauth_error(self, r, status, error, code, secrets=[s])
        r = idp.post_form(srv, "/adfs/oauth2/token", without("scope"))
        assert_oauth_error(self, r, 400, "invalid_request", 900144)
        r = idp.post_form(srv, "/adfs/oauth2/token", without("scope", resource="https://x.test"))
        assert_oauth_error(self, r, 400, "invalid_resource", 500011)
        # JSON instead of a form; a form with a bad escape; a repeated field
        r = srv.request("POST", "/adfs/oauth2/v2.0/token", body=good, token=False,
                        host="localhost")
        assert_oauth_error(self, r, 400, "invalid_request", 900144, secrets=[s])
        r = idp.post_form(srv, "/adfs/oauth2/v2.0/token", urllib.parse.urlencode(good) + "&x=%zz")
        assert_oauth_error(self, r, 400, "invalid_request", secrets=[s])
        r = idp.post_form(srv, "/adfs/oauth2/v2.0/token",
                          urllib.parse.urlencode(good) + "&client_secret=other")
        assert_oauth_error(self, r, 400, "invalid_request", secrets=[s])
        # the wrong method is a 405, never a 404 the SDKs would retry
        r = srv.request("GET", "/adfs/oauth2/v2.0/token", token=False, host="localhost")
        self.assertEqual(r.status, 405, r)

    def test_revoked_secret_stops_its_tokens(self):
        pid, _ = idp.principal(self.srv, unique_name("rev"))
        cred, secret = idp.add_secret(self.srv, pid)
        tok = idp.token_request(self.srv, pid, client_secret=secret).json["access_token"]
        self.assertEqual(self.data_plane(tok).status, 200)
        r = self.srv.request("DELETE", f"/kluis/v1/principals/{pid}/secrets/{cred}",
                             host="localhost")
        self.assertIn(r.status, (200, 204), r)
        self.assertEqual(self.data_plane(tok).status, 401)
        r = idp.token_request(self.srv, pid, client_secret=secret)
        assert_oauth_error(self, r, 401, "invalid_client", 7000215, secrets=[secret])

    # --- client assertions ----------------------------------------------------------------

    def test_client_assertions(self):
        srv, ck = self.srv, self.certkey
        url = idp.token_url(srv)

        def post(assertion, client_id=self.pid, path="/adfs/oauth2/v2.0/token"):
            return idp.post_form(srv, path, {
                "client_id": client_id, "grant_type": "client_credentials", "scope": VAULT_SCOPE,
                "client_assertion": assertion, "client_assertion_type": idp.JWT_BEARER})

        py = ck.assertion(self.pid, url)  # MSAL Python: RS256, x5t (SHA-1, padded)
        r = post(py)
        self.assertEqual(r.status, 200, r)
        claims = jwt_parts(r.json["access_token"])[1]
        self.assertTrue(claims["kl_cred"].startswith("c:"), claims)
        self.assertEqual(self.data_plane(r.json["access_token"]).status, 200)
        r = post(py)  # the same jti again
        assert_oauth_error(self, r, 401, "invalid_client", 700027, secrets=[py])
        js = ck.assertion(self.pid, url, alg="PS256", thumb="x5t#S256")  # msal-node
        self.assertEqual(post(js).status, 200)
        v1 = ck.assertion(self.pid, idp.token_url(srv, tenant=self.tid, v2=False))
        r = idp.post_form(srv, f"/{self.tid}/oauth2/token", {
            "client_id": self.pid, "grant_type": "client_credentials",
            "resource": "https://vault.azure.net", "client_assertion": v1,
            "client_assertion_type": idp.JWT_BEARER})
        self.assertEqual(r.status, 200, r)
        now = int(time.time())
        other = idp.CertKey("not-registered")
        try:
            bad = {
                "another endpoint": ck.assertion(self.pid, idp.token_url(srv, tenant="common")),
                "expired": ck.assertion(self.pid, url, iat=now - 1200, nbf=now - 1200,
                                        exp=now - 600),
                "too long-lived": ck.assertion(self.pid, url, exp=now + 86400),
                "another issuer": ck.assertion(str(uuid.uuid4()), url, sub=self.pid),
                "unregistered certificate": other.assertion(self.pid, url),
                "no jti": ck.assertion(self.pid, url, jti=None),
                "tampered": py[:-4] + ("AAAA" if not py.endswith("AAAA") else "BBBB"),
            }
        finally:
            shutil.rmtree(other.dir, ignore_errors=True)
        for what, a in bad.items():
            with self.subTest(what):
                assert_oauth_error(self, post(a), 401, "invalid_client", 700027, secrets=[a])
        r = post(ck.assertion(self.pid, url), client_id=str(uuid.uuid4()))
        self.assertIn(r.status, (400, 401), r)

    # --- App Service managed identity -----------------------------------------------------

    def test_app_service_route(self):
        srv = self.srv
        pid, ktok = idp.principal(srv, unique_name("msi"))
        name = srv.request("GET", f"/kluis/v1/principals/{pid}", host="localhost").json["name"]
        for query in ("api-version=2019-08-01&resource=https://vault.azure.net",
                      "api-version=2019-08-01&resource=https%3A%2F%2Fvault.azure.net",
                      f"api-version=2019-08-01&resource=https://vault.azure.net&client_id={pid}",
                      f"api-version=2019-08-01&resource=https://vault.azure.net/&client_id={name}"):
            with self.subTest(query):
                r = idp.msi(srv, ktok, query)
                self.assertEqual(r.status, 200, r)
                j = r.json
                self.assertEqual(set(j), {"access_token", "expires_on", "expires_in", "resource",
                                          "token_type", "client_id"})
                for f in j:
                    self.assertIsInstance(j[f], str, f)
                self.assertRegex(j["expires_on"], r"^\d+$")
                self.assertRegex(j["expires_in"], r"^\d+$")
                self.assertTrue(abs(int(j["expires_on"]) - time.time() - 3600) < 120)
                self.assertEqual(j["resource"], urllib.parse.unquote(query.split("resource=")[1]
                                                                     .split("&")[0]))
                self.assertEqual(j["token_type"], "Bearer")
                self.assertEqual(j["client_id"], pid)
                self.assertEqual(r.headers.get("cache-control"), "no-store")
                self.assertNotIn(ktok, r.text)
                self.assertEqual(jwt_parts(j["access_token"])[1]["tid"], self.tid)
        tok = idp.msi(srv, ktok).json["access_token"]
        self.assertEqual(self.data_plane(tok).status, 200)
        mg = idp.msi(srv, ktok, "api-version=2019-08-01&resource=https://management.azure.com/")
        self.assertEqual(mg.status, 200, mg)
        self.assertEqual(self.data_plane(mg.json["access_token"]).status, 401)
        # refusals: 401 for the header, 400 for the request, never 404/410/5xx
        for what, header, query, status in (
                ("no header", None, None, 401),
                ("wrong header", ktok[:-3] + "abc", None, 401),
                ("admin token", srv.token, None, 401),
                ("an access token", tok, None, 401),
                ("no api-version", ktok, "resource=https://vault.azure.net", 400),
                ("old api-version", ktok, "api-version=2017-09-01&resource=https://vault.azure.net",
                 400),
                ("no resource", ktok, "api-version=2019-08-01", 400),
                ("unknown resource", ktok, "api-version=2019-08-01&resource=https://x.test", 400),
                ("another client_id", ktok, "api-version=2019-08-01&resource="
                 f"https://vault.azure.net&client_id={uuid.uuid4()}", 400),
                ("another object_id", ktok, "api-version=2019-08-01&resource="
                 f"https://vault.azure.net&object_id={self.pid}", 400)):
            with self.subTest(what):
                r = idp.msi(srv, header, query or "api-version=2019-08-01&resource="
                            "https://vault.azure.net")
                self.assertEqual(r.status, status, r)
                self.assertEqual(r.json["error"],
                                 "invalid_client" if status == 401 else "invalid_request")
                self.assertIn("error_description", r.json)
                self.assertNotIn(ktok, r.text)
        # revoking the kluis token stops the access tokens it got, on the next request
        tid = idp.token_id_of(srv, pid)
        r = srv.request("DELETE", f"/kluis/v1/principals/{pid}/tokens/{tid}", host="localhost")
        self.assertIn(r.status, (200, 204), r)
        self.assertEqual(self.data_plane(tok).status, 401)
        self.assertEqual(idp.msi(srv, ktok).status, 401)

    # --- audit and metrics ----------------------------------------------------------------

    def test_audit_and_metrics(self):
        srv = self.srv
        before = {(g, o): idp.metric(srv, g, o) for g in ("client_secret", "client_assertion",
                                                          "managed_identity", "unknown")
                  for o in ("issued", "refused")}
        tok = self.issue().json["access_token"]
        idp.token_request(srv, self.pid, client_secret="kls1.wrong-guess-AAAAAAAAAAAA")
        a = self.certkey.assertion(self.pid, idp.token_url(srv))
        self.assertEqual(idp.token_request(srv, self.pid, client_assertion=a,
                                           client_assertion_type=idp.JWT_BEARER).status, 200)
        mtok = idp.msi(srv, self.ktoken).json["access_token"]
        idp.msi(srv, None)
        idp.post_form(srv, "/adfs/oauth2/v2.0/token", "grant_type=%zz")
        after = {k: idp.metric(srv, *k) for k in before}
        for k, n in ((("client_secret", "issued"), 1), (("client_secret", "refused"), 1),
                     (("client_assertion", "issued"), 1), (("managed_identity", "issued"), 1),
                     (("managed_identity", "refused"), 1), (("unknown", "refused"), 1)):
            self.assertGreaterEqual(after[k] - before[k], n, k)
        deadline = time.monotonic() + 10
        while True:
            with open(self.audit, "rb") as f:
                data = f.read()
            lines = [json.loads(x) for x in data.decode().splitlines()]
            toks = [x for x in lines if "token" in x]
            if any(x["token"]["grant"] == "unknown" for x in toks) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        for needle in (self.secret, tok, a, mtok, self.ktoken, "wrong-guess"):
            self.assertNotIn(needle.encode(), data)
        issued = [x for x in toks if x["token"]["outcome"] == "issued" and
                  x["token"]["grant"] == "client_secret"]
        self.assertTrue(issued)
        self.assertEqual(issued[-1]["principal"]["id"], self.pid)
        self.assertEqual(issued[-1]["operation"], "IssueAccessToken")
        self.assertEqual(issued[-1]["token"]["resource"], VAULT_SCOPE)
        refused = [x for x in toks if x["token"]["outcome"] == "refused"]
        self.assertTrue(any(x["result"] == "invalid_client" and x["status"] == 401
                            for x in refused))
        self.assertTrue(any(x["token"]["grant"] == "managed_identity" for x in toks))
        self.assertTrue(any(x["operation"] == "IssueManagedIdentityToken" for x in toks))


class TokenServiceNodeTest(unittest.TestCase):
    """Throttling by client address, and a read-only node: each with its own kluisd."""

    def test_throttled_per_client_address(self):
        srv = harness.start_server(extra_args=["--throttle", "identity=4,window=600"])
        self.addCleanup(srv.close)
        pid, _ = idp.principal(srv, unique_name("busy"))
        _, secret = idp.add_secret(srv, pid)
        self.assertEqual(idp.token_request(srv, pid, client_secret=secret).status, 200)
        for _ in range(2):  # guesses count too
            self.assertEqual(idp.token_request(srv, pid, client_secret="guess").status, 401)
        self.assertEqual(srv.request("GET", "/adfs/.well-known/openid-configuration",
                                     token=False, host="localhost").status, 200)
        r = idp.token_request(srv, pid, client_secret=secret)
        j = assert_oauth_error(self, r, 429, "temporarily_unavailable", 50196, secrets=[secret])
        self.assertRegex(r.headers.get("retry-after", ""), r"^\d+$")
        self.assertTrue(1 <= int(r.headers["retry-after"]) <= 600)
        self.assertIn("client address", j["error_description"])
        self.assertEqual(idp.metric(srv, "unknown", "refused"), 1)
        # the data plane's budgets are others
        self.assertEqual(srv.request("GET", f"/secrets?{DP}").status, 200)

    def test_read_only_node_issues_tokens(self):
        srv = harness.start_server()
        self.addCleanup(srv.close)
        pid, ktok = idp.principal(srv, unique_name("ro"))
        _, secret = idp.add_secret(srv, pid)
        ck = idp.CertKey()
        self.addCleanup(shutil.rmtree, ck.dir, True)
        idp.add_cert(srv, pid, ck.cert_pem)
        srv.stop()
        srv.extra_args.append("--read-only")
        srv.start()
        self.assertEqual(srv.request("GET", "/health", token=False).json["mode"], "read-only")
        r = idp.token_request(srv, pid, client_secret=secret)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(srv.request("GET", f"/secrets?{DP}", token=r.json["access_token"]).status,
                         200)
        a = ck.assertion(pid, idp.token_url(srv))
        r = idp.token_request(srv, pid, client_assertion=a, client_assertion_type=idp.JWT_BEARER)
        self.assertEqual(r.status, 200, r)
        r = idp.token_request(srv, pid, client_assertion=a, client_assertion_type=idp.JWT_BEARER)
        assert_oauth_error(self, r, 401, "invalid_client", 700027)  # replay, noted in memory
        self.assertEqual(idp.msi(srv, ktok).status, 200)
        self.assertEqual(srv.request("GET", "/adfs/discovery/v2.0/keys", token=False,
                                     host="localhost").status, 200)

    def test_principal_bound_to_a_client_certificate(self):
        """A principal whose tokens need its TLS client certificate gets access tokens only on a
        connection that presents it, on every route."""
        import datetime
        import ssl
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        ca_dir = harness._shared_ca_dir
        if ca_dir is None:  # the first server of the process makes the shared CA
            self.addCleanup(harness.start_server().close)
            ca_dir = harness._shared_ca_dir
        with open(os.path.join(ca_dir, "ca.pem"), "rb") as f:
            ca = x509.load_pem_x509_certificate(f.read())
        with open(os.path.join(ca_dir, "ca-key.pem"), "rb") as f:
            ca_key = serialization.load_pem_private_key(f.read(), None)
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bound")]))
                .issuer_name(ca.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(hours=1))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
                .sign(ca_key, hashes.SHA256()))
        tmp = tempfile.mkdtemp(prefix="kluis-e2e-bound-")
        self.addCleanup(shutil.rmtree, tmp, True)
        cpath, kpath = os.path.join(tmp, "c.pem"), os.path.join(tmp, "k.pem")
        with open(cpath, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        with open(kpath, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        srv = harness.start_server(extra_args=["--client-ca", os.path.join(ca_dir, "ca.pem")])
        self.addCleanup(srv.close)
        fp = cert.fingerprint(hashes.SHA256()).hex()
        r = srv.request("POST", "/kluis/v1/principals", host="localhost",
                        body={"name": "bound", "clientCertificateSha256": fp})
        self.assertEqual(r.status, 201, r)
        pid, ktok = r.json["id"], r.json["token"]
        r = srv.request("POST", "/kluis/v1/roleAssignments", host="localhost",
                        body={"principal": pid, "role": "secrets-user", "vault": "default"})
        self.assertEqual(r.status, 201, r)
        _, secret = idp.add_secret(srv, pid)

        def send(method, path, body=None, headers=None, host="localhost", with_cert=True):
            ctx = ssl.create_default_context(cafile=srv.ca)
            if with_cert:
                ctx.load_cert_chain(cpath, kpath)
            conn = harness._LoopbackHTTPS(host, srv.port, ctx, 15)
            try:
                h = {"Host": f"{host}:{srv.port}"}
                h.update(headers or {})
                conn.request(method, path, body=body, headers=h)
                resp = conn.getresponse()
                return harness.Response(resp.status, {k.lower(): v for k, v in
                                                      resp.getheaders()}, resp.read())
            finally:
                conn.close()

        form = urllib.parse.urlencode({"client_id": pid, "grant_type": "client_credentials",
                                       "scope": VAULT_SCOPE, "client_secret": secret})
        hdr = {"Content-Type": idp.FORM}
        r = send("POST", "/adfs/oauth2/v2.0/token", form, hdr, with_cert=False)
        assert_oauth_error(self, r, 401, "invalid_client", 7000215, secrets=[secret])
        self.assertIn("client certificate", r.json["error_description"])
        q = "/msi/token?api-version=2019-08-01&resource=https://vault.azure.net"
        r = send("GET", q, headers={"X-IDENTITY-HEADER": ktok}, with_cert=False)
        self.assertEqual(r.status, 401, r)
        r = send("POST", "/adfs/oauth2/v2.0/token", form, hdr)
        self.assertEqual(r.status, 200, r)
        tok = r.json["access_token"]
        r = send("GET", q, headers={"X-IDENTITY-HEADER": ktok})
        self.assertEqual(r.status, 200, r)
        auth = {"Authorization": f"Bearer {tok}"}
        self.assertEqual(send("GET", f"/secrets?{DP}", headers=auth, host=srv.vault_host)
                         .status, 200)
        self.assertEqual(send("GET", f"/secrets?{DP}", headers=auth, host=srv.vault_host,
                              with_cert=False).status, 401)


class FederatedTest(unittest.TestCase):
    """Workload identity: a token of the trusted OpenID issuer (--oidc-*) whose sub is mapped to
    the principal, exchanged as a client assertion (what WorkloadIdentityCredential posts)."""

    ISSUER = "https://issuer.example.test/cluster-1"
    AUDIENCE = "api://AzureADTokenExchange"

    def test_federated_assertion(self):
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding, rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        n = key.public_key().public_numbers()
        tmp = tempfile.mkdtemp(prefix="kluis-e2e-fed-")
        self.addCleanup(shutil.rmtree, tmp, True)
        jwks = os.path.join(tmp, "jwks.json")
        with open(jwks, "w") as f:
            json.dump({"keys": [{"kty": "RSA", "kid": "k1", "alg": "RS256",
                                 "n": idp.b64url(n.n.to_bytes(256, "big")),
                                 "e": idp.b64url(n.e.to_bytes(3, "big"))}]}, f)
        srv = harness.start_server(extra_args=["--oidc-issuer", self.ISSUER, "--oidc-audience",
                                               self.AUDIENCE, "--oidc-jwks", jwks])
        self.addCleanup(srv.close)
        subject = "system:serviceaccount:ns:app"
        r = srv.request("POST", "/kluis/v1/principals", {"name": "workload", "subject": subject},
                        host="localhost")
        self.assertEqual(r.status, 201, r)
        pid = r.json["id"]
        r = srv.request("POST", "/kluis/v1/roleAssignments", host="localhost",
                        body={"principal": pid, "role": "secrets-user", "vault": "default"})
        self.assertEqual(r.status, 201, r)

        def fed(**claims):
            now = int(time.time())
            body = {"iss": self.ISSUER, "aud": self.AUDIENCE, "sub": subject, "iat": now,
                    "nbf": now, "exp": now + 600}
            body.update(claims)
            si = (idp.b64url(json.dumps({"alg": "RS256", "kid": "k1", "typ": "JWT"}).encode())
                  + "." + idp.b64url(json.dumps(body).encode())).encode()
            return si.decode() + "." + idp.b64url(key.sign(si, padding.PKCS1v15(),
                                                            hashes.SHA256()))

        def post(assertion, client_id=pid, tenant=None):
            return idp.token_request(srv, client_id, tenant=tenant or srv.tenant_id(),
                                     client_assertion=assertion,
                                     client_assertion_type=idp.JWT_BEARER)

        a = fed()
        r = post(a)
        self.assertEqual(r.status, 200, r)
        claims = jwt_parts(r.json["access_token"])[1]
        self.assertTrue(claims["kl_cred"].startswith("f:"), claims)
        self.assertEqual(claims["sub"], pid)
        self.assertEqual(srv.request("GET", f"/secrets?{DP}", token=r.json["access_token"])
                         .status, 200)
        self.assertEqual(post(a, tenant="adfs").status, 200)  # exchanged again, as Azure allows
        # Python's azure-identity 1.13 posts a token file as read, line break included
        self.assertEqual(post(a + "\n").status, 200)
        self.assertEqual(idp.metric(srv, "federated", "issued"), 3)
        for what, bad in (("another subject", fed(sub="system:serviceaccount:ns:other")),
                          ("another audience", fed(aud="api://other")),
                          ("another issuer", fed(iss="https://evil.example.test")),
                          ("expired", fed(iat=int(time.time()) - 1200, exp=int(time.time()) - 600))):
            with self.subTest(what):
                assert_oauth_error(self, post(bad), 401, "invalid_client", 700027, secrets=[bad])
        other, _ = idp.principal(srv, unique_name("other"))
        r = post(fed(), client_id=other)  # a mapped token names its own principal only
        self.assertEqual(r.status, 401, r)
        self.assertGreaterEqual(idp.metric(srv, "federated", "refused"), 5)


if __name__ == "__main__":
    unittest.main()
