"""Principals, tokens and roles end to end: every role of docs/admin-api.md walked against every
data-plane operation on its vault (allowed, or 403 Forbidden) and on another vault (always 403);
the management plane and the administration API refused to non-administrators; vaults that use
access policies; revoked, expired and deleted principals' tokens; the Python SDK with a
principal's token.

Run: cd tests/e2e/py && /usr/bin/python3 -m unittest -v test_roles
"""

import time
import unittest
import uuid

import harness

SUB = str(uuid.uuid4())
ARM = "2026-02-01"
DP = "7.6"
AAAA = harness.b64url(bytes(32))

# What each role may do, as docs/admin-api.md states it (the test's own copy of the table).
SECRETS_ALL = {"secrets/get", "secrets/list", "secrets/set", "secrets/delete", "secrets/backup",
               "secrets/restore", "secrets/recover", "secrets/purge"}
KEYS_CRYPTO = {"keys/encrypt", "keys/decrypt", "keys/wrapKey", "keys/unwrapKey", "keys/sign",
               "keys/verify"}
KEYS_ALL = {"keys/get", "keys/list", "keys/create", "keys/import", "keys/update", "keys/delete",
            "keys/backup", "keys/restore", "keys/recover", "keys/purge", "keys/rotate",
            "keys/getrotationpolicy", "keys/setrotationpolicy", "keys/release"} | KEYS_CRYPTO
CERTS_READ = {"certificates/get", "certificates/list"}
CERTS_ISSUERS = {"certificates/getissuers", "certificates/listissuers", "certificates/setissuers",
                 "certificates/deleteissuers"}
CERTS_ALL = CERTS_READ | CERTS_ISSUERS | {
    "certificates/create", "certificates/import", "certificates/update", "certificates/delete",
    "certificates/recover", "certificates/purge", "certificates/backup", "certificates/restore",
    "certificates/managecontacts"}
ROLES = {
    "Key Vault Administrator": SECRETS_ALL | KEYS_ALL | CERTS_ALL | {"rng"},
    "Key Vault Certificates Officer": CERTS_ALL,
    "Key Vault Certificate User": CERTS_READ | {"secrets/get", "secrets/list", "keys/get",
                                                "keys/list"},
    "Key Vault Secrets Officer": SECRETS_ALL,
    "Key Vault Secrets User": {"secrets/get", "secrets/list"},
    "Key Vault Crypto Officer": KEYS_ALL | {"rng"},
    "Key Vault Crypto User": {"keys/get", "keys/list", "keys/update", "keys/backup",
                              "keys/getrotationpolicy", "rng"} | KEYS_CRYPTO,
    "Key Vault Crypto Service Encryption User": {"keys/get", "keys/list", "keys/wrapKey",
                                                 "keys/unwrapKey"},
    "Key Vault Reader": {"keys/get", "keys/list", "keys/getrotationpolicy", "secrets/list",
                         "certificates/getissuers", "certificates/listissuers"} | CERTS_READ,
}


def operations(tag):
    """(permission, method, path, body): one request per data-plane operation. Targets that do
    not exist are fine: an allowed request then gets 404 or 400, never 403."""
    enc = {"alg": "RSA-OAEP-256", "value": AAAA}
    return [
        ("secrets/get", "GET", "/secrets/s1/", None),
        ("secrets/list", "GET", "/secrets", None),
        ("secrets/list", "GET", "/secrets/s1/versions", None),
        ("secrets/list", "GET", "/deletedsecrets", None),
        ("secrets/list", "GET", "/deletedsecrets/nothing", None),
        ("secrets/set", "PUT", f"/secrets/set-{tag}", {"value": "v"}),
        ("secrets/set", "PATCH", "/secrets/s1/", {"contentType": "text/plain"}),
        ("secrets/delete", "DELETE", "/secrets/nothing", None),
        ("secrets/backup", "POST", "/secrets/s1/backup", None),
        ("secrets/restore", "POST", "/secrets/restore", {"value": AAAA}),
        ("secrets/recover", "POST", "/deletedsecrets/nothing/recover", None),
        ("secrets/purge", "DELETE", "/deletedsecrets/nothing", None),
        ("keys/get", "GET", "/keys/k1/", None),
        ("keys/list", "GET", "/keys", None),
        ("keys/list", "GET", "/keys/k1/versions", None),
        ("keys/list", "GET", "/deletedkeys", None),
        ("keys/create", "POST", f"/keys/made-{tag}/create", {"kty": "EC", "crv": "P-256"}),
        ("keys/import", "PUT", f"/keys/imp-{tag}", {"key": {"kty": "oct"}}),
        ("keys/update", "PATCH", "/keys/k1/", {"tags": {"t": tag}}),
        ("keys/delete", "DELETE", "/keys/nothing", None),
        ("keys/backup", "POST", "/keys/k1/backup", None),
        ("keys/restore", "POST", "/keys/restore", {"value": AAAA}),
        ("keys/recover", "POST", "/deletedkeys/nothing/recover", None),
        ("keys/purge", "DELETE", "/deletedkeys/nothing", None),
        ("keys/rotate", "POST", "/keys/nothing/rotate", None),
        ("keys/getrotationpolicy", "GET", "/keys/k1/rotationpolicy", None),
        ("keys/setrotationpolicy", "PUT", "/keys/nothing/rotationpolicy", {"attributes": {}}),
        ("keys/encrypt", "POST", "/keys/k1//encrypt", enc),
        ("keys/decrypt", "POST", "/keys/k1//decrypt", enc),
        ("keys/wrapKey", "POST", "/keys/k1//wrapkey", enc),
        ("keys/unwrapKey", "POST", "/keys/k1//unwrapkey", enc),
        ("keys/sign", "POST", "/keys/k1//sign", {"alg": "RS256", "value": AAAA}),
        ("keys/verify", "POST", "/keys/k1//verify",
         {"alg": "RS256", "digest": AAAA, "value": AAAA}),
        ("keys/release", "POST", "/keys/k1/release", {"target": "x"}),
        ("rng", "POST", "/rng", {"count": 8}),
        ("certificates/managecontacts", "GET", "/certificates/contacts", None),
        ("certificates/managecontacts", "PUT", "/certificates/contacts",
         {"contacts": [{"email": f"{tag}@example.com"}]}),
        ("certificates/setissuers", "PUT", f"/certificates/issuers/iss-{tag}", {"provider": "Test"}),
        ("certificates/setissuers", "PATCH", "/certificates/issuers/nothing", {"provider": "Test"}),
        ("certificates/getissuers", "GET", "/certificates/issuers/nothing", None),
        ("certificates/listissuers", "GET", "/certificates/issuers", None),
        ("certificates/deleteissuers", "DELETE", "/certificates/issuers/nothing", None),
    ]


class Roles(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.start_server()
        for name in ("role-a", "role-b"):
            r = cls.arm("PUT", f"/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/{name}",
                        {"location": "here", "properties": {
                            "tenantId": str(uuid.uuid4()),
                            "sku": {"family": "A", "name": "standard"}}})
            assert r.status == 201, r
            cls.seed(name)

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    @classmethod
    def arm(cls, method, path, body=None, token=None):
        return cls.srv.request(method, f"/subscriptions/{SUB}{path}?api-version={ARM}", body,
                               host="localhost", token=token)

    @classmethod
    def admin(cls, method, path, body=None, token=None):
        return cls.srv.request(method, path, body, host="localhost", token=token)

    @classmethod
    def dp(cls, vault, method, path, body=None, token=None):
        sep = "&" if "?" in path else "?"
        return cls.srv.request(method, f"{path}{sep}api-version={DP}", body,
                               host=f"{vault}.vault.localhost", token=token)

    @classmethod
    def seed(cls, vault):
        assert cls.dp(vault, "PUT", "/secrets/s1", {"value": "top secret"}).status == 200
        r = cls.dp(vault, "POST", "/keys/k1/create", {"kty": "RSA", "key_size": 2048})
        assert r.status == 200, r

    @classmethod
    def principal(cls, name):
        r = cls.admin("POST", "/kluis/v1/principals", {"name": name})
        assert r.status == 201, r
        return r.json["id"], r.json["token"]

    def assign(self, principal, role, vault=None):
        body = {"principal": principal, "role": role}
        if vault:
            body["vault"] = vault
        r = self.admin("POST", "/kluis/v1/roleAssignments", body)
        self.assertEqual(r.status, 201, r)
        return r.json

    def test_role_matrix(self):
        """Every role against every operation, on its vault and on another one."""
        for i, (role, allowed) in enumerate(ROLES.items()):
            pid, tok = self.principal(f"matrix-{i}")
            a = self.assign(pid, role, "role-a")
            self.assertEqual(a["role"], role)
            self.assertEqual(a["scope"], "/vaults/role-a")
            for perm, method, path, body in operations(f"m{i}"):
                with self.subTest(role=role, op=f"{method} {path}"):
                    r = self.dp("role-a", method, path, body, token=tok)
                    if perm in allowed:
                        self.assertNotIn(r.status, (401, 403), r)
                    else:
                        self.assertEqual(r.status, 403, r)
                        self.assertEqual(r.error_code(), "Forbidden")
                    other = self.dp("role-b", method, path, body, token=tok)
                    self.assertEqual(other.status, 403, other)
            # a role without secrets/get never sees a value, whatever else it may do
            if "secrets/get" not in allowed:
                r = self.dp("role-a", "GET", "/secrets/s1/", token=tok)
                self.assertNotIn(b"top secret", r.body)

    def test_secrets_user_value_and_no_write(self):
        pid, tok = self.principal("reader-app")
        self.assign(pid, "secrets-user", "role-a")
        r = self.dp("role-a", "GET", "/secrets/s1/", token=tok)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["value"], "top secret")
        r = self.dp("role-a", "PUT", "/secrets/s1", {"value": "overwritten"}, token=tok)
        self.assertEqual(r.status, 403, r)
        self.assertEqual(r.json["error"]["innererror"]["code"], "ForbiddenByRbac")
        r = self.dp("role-a", "GET", "/secrets/s1/")
        self.assertEqual(r.json["value"], "top secret")

    def test_deployment_scope_roles(self):
        """A vault role at deployment scope applies to every vault; Kluis Administrator may
        also use the management plane and the administration API."""
        pid, tok = self.principal("everywhere-reader")
        a = self.assign(pid, "reader")
        self.assertEqual(a["scope"], "/")
        for vault in ("role-a", "role-b", "default"):
            self.assertEqual(self.dp(vault, "GET", "/keys", token=tok).status, 200)
            self.assertEqual(self.dp(vault, "GET", "/secrets/s1/", token=tok).status, 403)
        self.assertEqual(self.arm("GET", "/providers/Microsoft.KeyVault/vaults", token=tok).status, 403)

        pid, tok = self.principal("second-admin")
        r = self.admin("POST", "/kluis/v1/roleAssignments",
                       {"principal": pid, "role": "Kluis Administrator", "vault": "role-a"})
        self.assertEqual(r.status, 400, r)  # deployment scope only
        self.assign(pid, "kluis-administrator")
        r = self.arm("GET", "/providers/Microsoft.KeyVault/vaults", token=tok)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.admin("GET", "/kluis/v1/principals", token=tok).status, 200)
        self.assertEqual(self.dp("role-b", "GET", "/secrets/s1/", token=tok).status, 200)

    def test_non_admins_refused_outside_the_data_plane(self):
        pid, tok = self.principal("plain-app")
        self.assign(pid, "Key Vault Administrator", "role-a")
        checks = [
            self.arm("GET", "/providers/Microsoft.KeyVault/vaults", token=tok),
            self.arm("GET", "/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/role-a", token=tok),
            self.arm("PUT", "/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/sneaky",
                     {"location": "x", "properties": {"tenantId": "t", "sku": {"family": "A", "name": "standard"}}},
                     token=tok),
            self.arm("DELETE", "/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/role-a", token=tok),
        ]
        for r in checks:
            self.assertEqual(r.status, 403, r)
            self.assertEqual(r.error_code(), "AuthorizationFailed")
        for method, path, body in (("GET", "/kluis/v1/principals", None),
                                   ("POST", "/kluis/v1/principals", {"name": "escalate"}),
                                   ("POST", "/kluis/v1/roleAssignments",
                                    {"principal": pid, "role": "kluis-administrator"}),
                                   ("GET", "/kluis/v1/roleAssignments", None)):
            r = self.admin(method, path, body, token=tok)
            self.assertEqual(r.status, 403, r)
        # what it may see: the deployment and its own vault only
        r = self.admin("GET", "/kluis/v1/vaults", token=tok)
        self.assertEqual(r.status, 200, r)
        self.assertEqual([v["name"] for v in r.json["value"]], ["role-a"])
        self.assertEqual(self.admin("GET", "/kluis/v1/vaults/role-b", token=tok).status, 404)
        r = self.admin("GET", "/kluis/v1/deployment", token=tok)
        self.assertEqual(r.json["caller"]["name"], "plain-app")
        self.assertFalse(r.json["caller"]["isAdministrator"])
        self.assertEqual(self.arm("GET", "/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/role-a").status, 200)

    def test_vault_resource_needs_reader_or_above(self):
        """The vault resource (properties, access policies) is the management plane's: a
        principal with data plane rights only (secrets, keys, certificates) does not see it
        through the admin API; Key Vault Reader or Administrator on the vault does."""
        for role, sees in (("secrets-user", False), ("crypto-officer", False),
                           ("certificates-officer", False), ("reader", True),
                           ("administrator", True)):
            with self.subTest(role=role):
                pid, tok = self.principal(harness.unique_name("res"))
                self.assign(pid, role, "role-a")
                r = self.admin("GET", "/kluis/v1/vaults", token=tok)
                self.assertEqual(r.status, 200, r)
                self.assertEqual([v["name"] for v in r.json["value"]], ["role-a"] if sees else [])
                r = self.admin("GET", "/kluis/v1/vaults/role-a", token=tok)
                self.assertEqual(r.status, 200 if sees else 404, r)
                if not sees:
                    self.assertNotIn("accessPolicies", r.text)

    def test_access_policy_vault(self):
        """enableRbacAuthorization false: the vault's access policies decide, roles on it do not."""
        pid, tok = self.principal("policy-app")
        other, other_tok = self.principal("policy-other")
        r = self.arm("PUT", "/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/role-p",
                     {"location": "here", "properties": {
                         "tenantId": str(uuid.uuid4()), "sku": {"family": "A", "name": "standard"},
                         "enableRbacAuthorization": False,
                         "accessPolicies": [{"tenantId": str(uuid.uuid4()), "objectId": pid,
                                             "permissions": {"secrets": ["Get", "list"],
                                                             "keys": ["get", "wrapKey"],
                                                             "certificates": ["GetIssuers",
                                                                              "managecontacts"]}}]}})
        self.assertEqual(r.status, 201, r)
        self.assertFalse(r.json["properties"]["enableRbacAuthorization"])
        self.seed("role-p")
        self.assign(other, "Key Vault Administrator", "role-p")
        self.assertEqual(self.dp("role-p", "GET", "/secrets/s1/", token=tok).status, 200)
        self.assertEqual(self.dp("role-p", "GET", "/secrets", token=tok).status, 200)
        r = self.dp("role-p", "PUT", "/secrets/s2", {"value": "x"}, token=tok)
        self.assertEqual(r.status, 403, r)
        self.assertEqual(r.json["error"]["innererror"]["code"], "ForbiddenByPolicy")
        self.assertEqual(self.dp("role-p", "POST", "/keys/k1//wrapkey",
                                 {"alg": "RSA-OAEP-256", "value": AAAA}, token=tok).status, 200)
        self.assertEqual(self.dp("role-p", "POST", "/keys/k1//sign",
                                 {"alg": "RS256", "value": AAAA}, token=tok).status, 403)
        self.assertEqual(self.dp("role-p", "GET", "/secrets/s1/", token=other_tok).status, 403)
        # certificates: getissuers and managecontacts, and nothing else
        self.assertEqual(self.dp("role-p", "GET", "/certificates/issuers/none", token=tok).status, 404)
        self.assertEqual(self.dp("role-p", "GET", "/certificates/issuers", token=tok).status, 403)
        self.assertEqual(self.dp("role-p", "PUT", "/certificates/issuers/i1", {"provider": "p"},
                                 token=tok).status, 403)
        self.assertEqual(self.dp("role-p", "PUT", "/certificates/contacts",
                                 {"contacts": [{"email": "a@b"}]}, token=tok).status, 200)
        # adding a policy (the management plane's accessPolicies/add) grants at once
        r = self.arm("PUT", "/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/role-p/accessPolicies/add",
                     {"properties": {"accessPolicies": [{"tenantId": "t", "objectId": other,
                                                         "permissions": {"secrets": ["all"]}}]}})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(r.json["properties"]["accessPolicies"]), 2)
        self.assertEqual(self.dp("role-p", "PUT", "/secrets/s3", {"value": "y"}, token=other_tok).status, 200)
        r = self.arm("PUT", "/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/role-p/accessPolicies/remove",
                     {"properties": {"accessPolicies": [{"tenantId": "t", "objectId": pid,
                                                         "permissions": {}}]}})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.dp("role-p", "GET", "/secrets/s1/", token=tok).status, 403)

    def test_tokens_revoked_expired_deleted(self):
        pid, tok = self.principal("token-life")
        self.assign(pid, "secrets-user", "role-a")
        r = self.admin("POST", f"/kluis/v1/principals/{pid}/tokens",
                       {"expiresOn": int(time.time()) + 2})
        self.assertEqual(r.status, 201, r)
        short, short_id = r.json["token"], r.json["id"]
        self.assertNotEqual(short, tok)
        self.assertEqual(self.dp("role-a", "GET", "/secrets/s1/", token=short).status, 200)
        # the token is shown once: never in a later listing
        r = self.admin("GET", f"/kluis/v1/principals/{pid}")
        self.assertNotIn(tok, r.text)
        self.assertNotIn(short, r.text)
        self.assertEqual(len(r.json["tokens"]), 2)
        time.sleep(3)
        r = self.dp("role-a", "GET", "/secrets/s1/", token=short)
        self.assertEqual(r.status, 401, r)
        self.assertIn("www-authenticate", r.headers)
        first_id = [t["id"] for t in self.admin("GET", f"/kluis/v1/principals/{pid}").json["tokens"]
                    if t["id"] != short_id][0]
        r = self.admin("DELETE", f"/kluis/v1/principals/token-life/tokens/{first_id}")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.json["revoked"])
        self.assertEqual(self.dp("role-a", "GET", "/secrets/s1/", token=tok).status, 401)
        # deleting the principal removes its assignments too
        r = self.admin("POST", f"/kluis/v1/principals/{pid}/tokens")
        fresh = r.json["token"]
        self.assertEqual(self.dp("role-a", "GET", "/secrets/s1/", token=fresh).status, 200)
        self.assertEqual(self.admin("DELETE", f"/kluis/v1/principals/{pid}").status, 200)
        self.assertEqual(self.dp("role-a", "GET", "/secrets/s1/", token=fresh).status, 401)
        r = self.admin("GET", f"/kluis/v1/roleAssignments?principal={pid}")
        self.assertEqual(r.status, 404, r)  # the principal is gone
        r = self.admin("GET", "/kluis/v1/roleAssignments?vault=role-a")
        self.assertNotIn(pid, r.text)

    def test_admin_api_bad_input(self):
        cases = [
            ("POST", "/kluis/v1/principals", {"name": "bad name"}, 400),
            ("POST", "/kluis/v1/principals", {"name": "x" * 65}, 400),
            ("POST", "/kluis/v1/principals", {"name": "ok", "type": "robot"}, 400),
            ("POST", "/kluis/v1/principals", {"name": "ok", "tokenExpiresOn": 5}, 400),
            ("POST", "/kluis/v1/principals", {"name": 5}, 400),
            ("POST", "/kluis/v1/principals", "{not json", 400),
            ("POST", "/kluis/v1/roleAssignments", {"principal": "nobody", "role": "reader"}, 404),
            ("POST", "/kluis/v1/roleAssignments", {"principal": "dup", "role": "no-such-role"}, 400),
            ("POST", "/kluis/v1/roleAssignments", {"principal": "dup", "role": "reader",
                                                   "vault": "no-such-vault"}, 404),
            ("GET", "/kluis/v1/principals/" + str(uuid.uuid4()), None, 404),
            ("GET", "/kluis/v1/roleAssignments/nope", None, 404),
            ("DELETE", "/kluis/v1/roleAssignments/" + str(uuid.uuid4()), None, 404),
        ]
        # A name that is another principal's id (in any case), or the bootstrap administrator's
        # name, would make lookups and audit lines land on the wrong principal.
        other = self.admin("POST", "/kluis/v1/principals", {"name": harness.unique_name("idname")}).json
        for name in (other["id"], other["id"].upper(), str(uuid.uuid4()), "admin", "Admin"):
            with self.subTest(name=name):
                r = self.admin("POST", "/kluis/v1/principals", {"name": name})
                self.assertEqual(r.status, 400, r)
        self.assertEqual(self.admin("GET", f"/kluis/v1/principals/{other['id']}").json["name"],
                         other["name"])
        self.principal("dup")
        r = self.admin("POST", "/kluis/v1/principals", {"name": "DUP"})
        self.assertEqual(r.status, 409, r)
        self.assertEqual(r.error_code(), "PrincipalAlreadyExists")
        a = self.assign("dup", "reader", "role-a")
        r = self.admin("POST", "/kluis/v1/roleAssignments",
                       {"principal": "dup", "role": "Key Vault Reader", "vault": "role-a"})
        self.assertEqual(r.status, 409, r)
        self.assertEqual(r.error_code(), "RoleAssignmentExists")
        for method, path, body, status in cases:
            with self.subTest(path=path, body=body):
                r = self.admin(method, path, body)
                self.assertEqual(r.status, status, r)
                self.assertIsInstance(r.json["error"]["code"], str)
        r = self.admin("GET", "/kluis/v1/roleDefinitions")
        self.assertEqual(len(r.json["value"]), 10)
        self.assertEqual(self.admin("DELETE", f"/kluis/v1/roleAssignments/{a['id']}").status, 200)
        self.assertEqual(self.admin("GET", f"/kluis/v1/roleAssignments/{a['id']}").status, 404)
        self.assertEqual(self.admin("GET", "/kluis/v1/principals", token=False).status, 401)
        self.assertEqual(self.admin("GET", "/kluis/v1/principals", token="kl1.wrong").status, 401)

    def test_python_sdk_with_a_principal_token(self):
        from azure.core.exceptions import HttpResponseError
        pid, tok = self.principal("sdk-app")
        self.assign(pid, "Key Vault Secrets User", "role-a")
        client = self.srv.secret_client(url=f"https://role-a.vault.localhost:{self.srv.port}",
                                        credential=harness.StaticCredential(tok))
        self.assertEqual(client.get_secret("s1").value, "top secret")
        with self.assertRaises(HttpResponseError) as cm:
            client.set_secret("s1", "nope")
        self.assertEqual(cm.exception.status_code, 403)
        other = self.srv.secret_client(url=f"https://role-b.vault.localhost:{self.srv.port}",
                                       credential=harness.StaticCredential(tok))
        with self.assertRaises(HttpResponseError) as cm:
            other.get_secret("s1")
        self.assertEqual(cm.exception.status_code, 403)


    # --- certificates (shared/spec/certificates.md C10) ----------------------------------------

    def cert_client(self, token=None, vault="role-a"):
        import certutil
        cred = harness.StaticCredential(token) if token else None
        return certutil.cert_client(self.srv, url=f"https://{vault}.vault.localhost:{self.srv.port}",
                                    credential=cred)

    def admin_certificate(self, name, vault="role-a"):
        """A Self-signed certificate made by the administrator, issued."""
        import certutil
        from azure.keyvault.certificates import CertificatePolicy
        return self.cert_client(vault=vault).begin_create_certificate(
            name, CertificatePolicy("Self", subject=f"CN={name}"),
            _polling_interval=certutil.POLL).result()

    def test_certificates_officer(self):
        """All of the certificate operations, but never the private key: no secret value, no
        key operation."""
        import certutil
        from azure.core.exceptions import HttpResponseError
        from azure.keyvault.certificates import CertificateContact, CertificatePolicy
        pid, tok = self.principal("cert-officer")
        self.assign(pid, "Key Vault Certificates Officer", "role-a")
        client = self.cert_client(tok)
        cert = client.begin_create_certificate(
            "officer-made", CertificatePolicy("Self", subject="CN=officer.example"),
            _polling_interval=certutil.POLL).result()
        self.assertTrue(cert.cer)
        self.assertIn("officer-made", [c.name for c in client.list_properties_of_certificates()])
        self.assertEqual(client.get_certificate_policy("officer-made").subject, "CN=officer.example")
        client.update_certificate_properties("officer-made", tags={"by": "officer"})
        self.assertTrue(client.backup_certificate("officer-made"))
        client.create_issuer("officer-issuer", "Test")
        client.set_contacts([CertificateContact(email="officer@example.com")])
        # the private key stays out of reach: the managed secret's value and the key's operations
        r = self.dp("role-a", "GET", "/secrets/officer-made/", token=tok)
        self.assertEqual(r.status, 403, r)
        self.assertNotIn("PRIVATE", r.text)
        self.assertNotIn(b"MII", r.body)
        r = self.dp("role-a", "POST", "/keys/officer-made//sign", {"alg": "RS256", "value": AAAA},
                    token=tok)
        self.assertEqual(r.status, 403, r)
        with self.assertRaises(HttpResponseError) as cm:
            self.srv.secret_client(url=f"https://role-a.vault.localhost:{self.srv.port}",
                                   credential=harness.StaticCredential(tok)).get_secret("officer-made")
        self.assertEqual(cm.exception.status_code, 403)
        # the administrator does read it: the certificate was made, with its key
        r = self.dp("role-a", "GET", "/secrets/officer-made/")
        self.assertEqual(r.status, 200, r)
        # and only on its own vault
        r = self.dp("role-b", "GET", "/certificates", token=tok)
        self.assertEqual(r.status, 403, r)
        client.begin_delete_certificate("officer-made", _polling_interval=certutil.POLL).result()
        client.purge_deleted_certificate("officer-made")

    def test_reader_sees_certificate_metadata_only(self):
        import certutil
        from azure.keyvault.certificates import CertificatePolicy
        self.admin_certificate("reader-visible")
        admin = self.cert_client()
        admin.begin_create_certificate("reader-pending", CertificatePolicy("Unknown", subject="CN=p"),
                                       _polling_interval=certutil.POLL).result()
        self.admin_certificate("reader-deleted")
        admin.begin_delete_certificate("reader-deleted", _polling_interval=certutil.POLL).result()
        admin.create_issuer("reader-issuer", "Test")
        pid, tok = self.principal("cert-reader")
        self.assign(pid, "Key Vault Reader", "role-a")
        client = self.cert_client(tok)
        cert = client.get_certificate("reader-visible")
        self.assertTrue(cert.cer, "the public certificate is metadata")
        self.assertEqual(client.get_certificate_policy("reader-visible").subject, "CN=reader-visible")
        self.assertIn("reader-visible", [c.name for c in client.list_properties_of_certificates()])
        self.assertEqual(len(list(client.list_properties_of_certificate_versions("reader-visible"))), 1)
        self.assertEqual(client.get_certificate_operation("reader-pending").status, "inProgress")
        self.assertEqual(client.get_deleted_certificate("reader-deleted").name, "reader-deleted")
        self.assertIn("reader-deleted", [d.name for d in client.list_deleted_certificates()])
        self.assertEqual(client.get_issuer("reader-issuer").provider, "Test")
        self.assertIn("reader-issuer", [i.name for i in client.list_properties_of_issuers()])
        # no values, no contacts, no changes
        refused = [
            ("GET", "/secrets/reader-visible/", None),
            ("GET", "/certificates/contacts", None),
            ("POST", "/certificates/reader-new/create",
             {"policy": {"issuer": {"name": "Self"}, "x509_props": {"subject": "CN=x"}}}),
            ("PATCH", "/certificates/reader-visible/", {"tags": {"x": "y"}}),
            ("DELETE", "/certificates/reader-visible", None),
            ("POST", "/certificates/reader-visible/backup", None),
            ("PATCH", "/certificates/reader-visible/policy", {"x509_props": {"subject": "CN=z"}}),
            ("PATCH", "/certificates/reader-pending/pending", {"cancellation_requested": True}),
            ("PUT", "/certificates/issuers/reader-issuer", {"provider": "Other"}),
            ("DELETE", "/certificates/issuers/reader-issuer", None),
            ("PUT", "/certificates/contacts", {"contacts": [{"email": "r@example.com"}]}),
            ("POST", "/deletedcertificates/reader-deleted/recover", None),
            ("DELETE", "/deletedcertificates/reader-deleted", None),
        ]
        for method, path, body in refused:
            with self.subTest(f"{method} {path}"):
                r = self.dp("role-a", method, path, body, token=tok)
                self.assertEqual(r.status, 403, r)
                self.assertEqual(r.error_code(), "Forbidden")
        self.assertNotIn("PRIVATE", self.dp("role-a", "GET", "/secrets/reader-visible/", token=tok).text)
        self.assertEqual(admin.get_certificate("reader-visible").properties.tags, cert.properties.tags)

    def test_certificate_user_downloads_the_pfx(self):
        import base64
        from cryptography.hazmat.primitives.serialization import pkcs12
        self.admin_certificate("user-download")
        pid, tok = self.principal("cert-user")
        self.assign(pid, "Key Vault Certificate User", "role-a")
        client = self.cert_client(tok)
        cert = client.get_certificate("user-download")
        secret = self.srv.secret_client(url=f"https://role-a.vault.localhost:{self.srv.port}",
                                        credential=harness.StaticCredential(tok)).get_secret("user-download")
        key, leaf, _ = pkcs12.load_key_and_certificates(base64.b64decode(secret.value), None)
        self.assertIsNotNone(key)
        from cryptography.hazmat.primitives.serialization import Encoding
        self.assertEqual(leaf.public_bytes(Encoding.DER), bytes(cert.cer))
        r = self.dp("role-a", "POST", "/certificates/user-new/create",
                    {"policy": {"issuer": {"name": "Self"}, "x509_props": {"subject": "CN=x"}}}, token=tok)
        self.assertEqual(r.status, 403, r)


if __name__ == "__main__":
    unittest.main()
