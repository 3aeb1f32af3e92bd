"""The challenge as Debian's azure.keyvault.secrets verifies it, tokens, vault addressing."""

import re
import unittest

from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError

import harness
from harness import StaticCredential, unique_name

CHALLENGE = re.compile(r'^Bearer authorization="(https://[^"]+)", resource="([^"]+)"$')


class AuthTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.start_server()
        cls.client = cls.srv.secret_client()
        cls.name = unique_name("auth")
        cls.client.set_secret(cls.name, "guarded")

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.srv.close()

    def test_challenge_shape(self):
        r = self.srv.request("GET", f"/secrets/{self.name}?api-version=7.3", token=False)
        self.assertEqual(r.status, 401, r)
        m = CHALLENGE.match(r.headers.get("www-authenticate", ""))
        self.assertTrue(m, r.headers.get("www-authenticate"))
        self.assertEqual(m.group(2), f"https://vault.localhost:{self.srv.port}")
        self.assertRegex(m.group(1), r"^https://[^/]+/[0-9a-fA-F-]{36}$")
        self.assertEqual(r.error_code(), "Unauthorized")

    def test_credential_gets_scope_and_tenant(self):
        cred = StaticCredential(self.srv.token)
        # The challenge may already be cached for this authority (Python caches it per process):
        # a new client asks its credential for a token with the cached scope and tenant anyway.
        with self.srv.secret_client(credential=cred) as c:
            self.assertEqual(c.get_secret(self.name).value, "guarded")
        self.assertTrue(cred.calls)
        scopes, kwargs = cred.calls[0]
        self.assertEqual(scopes, (f"https://vault.localhost:{self.srv.port}/.default",))
        self.assertTrue(kwargs.get("tenant_id"), kwargs)

    def test_wrong_token(self):
        with self.srv.secret_client(credential=StaticCredential("wrong")) as c:
            with self.assertRaises(ClientAuthenticationError):
                c.get_secret(self.name)
            with self.assertRaises(ClientAuthenticationError):
                c.set_secret(unique_name("nope"), "x")
        r = self.srv.request("GET", f"/secrets/{self.name}?api-version=7.3", token="wrong")
        self.assertEqual(r.status, 401)
        self.assertTrue(r.headers.get("www-authenticate"))
        self.assertNotIn("guarded", r.text)

    def test_ip_and_localhost_address_default_vault(self):
        for url in (self.srv.url, f"https://localhost:{self.srv.port}"):
            with self.srv.secret_client(url=url, verify_challenge_resource=False) as c:
                got = c.get_secret(self.name)
                self.assertEqual(got.value, "guarded")
                self.assertTrue(got.id.startswith(f"{url}/secrets/{self.name}/"), got.id)
                n2 = unique_name("ip")
                c.set_secret(n2, "via ip")
            self.assertEqual(self.client.get_secret(n2).value, "via ip")

    def test_unknown_vault_404(self):
        with self.srv.secret_client(url=f"https://nosuch.vault.localhost:{self.srv.port}") as c:
            with self.assertRaises(HttpResponseError) as cm:
                c.get_secret(self.name)
            self.assertEqual(cm.exception.status_code, 404)
        r = self.srv.request("GET", f"/secrets/{self.name}?api-version=7.3", host="nosuch.vault.localhost")
        self.assertEqual(r.status, 404, r)
        self.assertTrue(r.error_code(), r)

    def test_unknown_and_missing_api_version(self):
        r = self.srv.request("GET", f"/secrets/{self.name}?api-version=6.0")
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.error_code(), "BadParameter")
        self.assertTrue(r.json["error"]["message"].startswith("The specified version (6.0) is not recognized"))
        r = self.srv.request("GET", f"/secrets/{self.name}")
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.error_code(), "BadParameter")

    def test_health(self):
        r = self.srv.request("GET", "/health", token=False, host="127.0.0.1")
        self.assertEqual(r.status, 200)
        self.assertIsInstance(r.json, dict)

    def test_not_found_surface(self):
        with self.assertRaises(ResourceNotFoundError) as cm:
            self.client.get_secret(unique_name("nope"))
        self.assertIn("was not found", cm.exception.error.message)


if __name__ == "__main__":
    unittest.main()
