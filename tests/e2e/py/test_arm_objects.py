"""The management plane's secrets and keys (Microsoft.KeyVault/vaults/secrets, /keys) through
Debian's azure.mgmt.keyvault: set a secret and read its metadata (never its value), create a key
if it does not exist, list both, and see the same objects on the data plane.

Run: cd tests/e2e/py && /usr/bin/python3 -m unittest -v test_arm_objects
"""

import json
import unittest
import uuid

import harness

SUB = str(uuid.uuid4())
RG = "objects-rg"
VAULT = "armobjects"


class ArmObjects(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from azure.mgmt.keyvault import KeyVaultManagementClient
        cls.srv = harness.start_server()
        base = f"https://localhost:{cls.srv.port}"
        cls.mgmt = KeyVaultManagementClient(cls.srv.credential, SUB, base_url=base,
                                            credential_scopes=[f"{base}/.default"],
                                            connection_verify=cls.srv.ca)
        cls.vault = cls.mgmt.vaults.begin_create_or_update(RG, VAULT, {
            "location": "local",
            "properties": {"tenant_id": str(uuid.uuid4()),
                           "sku": {"family": "A", "name": "standard"},
                           "enable_rbac_authorization": True}}).result()
        cls.secrets = cls.srv.secret_client(url=cls.vault.properties.vault_uri)
        cls.keys = cls.srv.key_client(url=cls.vault.properties.vault_uri)

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def test_secret_set_get_update_list(self):
        s = self.mgmt.secrets.create_or_update(RG, VAULT, "db-password", {
            "tags": {"team": "payments"},
            "properties": {"value": "hunter2", "content_type": "text/plain",
                           "attributes": {"enabled": True}}})
        self.assertEqual(s.name, "db-password")
        self.assertEqual(s.type, "Microsoft.KeyVault/vaults/secrets")
        self.assertEqual(s.location, "local")
        self.assertIsNone(s.properties.value)  # never returned by the management plane
        self.assertEqual(s.properties.content_type, "text/plain")
        self.assertTrue(s.properties.secret_uri.startswith(self.vault.properties.vault_uri))
        self.assertTrue(s.properties.secret_uri_with_version.startswith(s.properties.secret_uri + "/"))
        self.assertEqual(s.tags, {"team": "payments"})
        # the data plane sees the same secret, with its value
        self.assertEqual(self.secrets.get_secret("db-password").value, "hunter2")

        g = self.mgmt.secrets.get(RG, VAULT, "db-password")
        self.assertEqual(g.properties.secret_uri_with_version, s.properties.secret_uri_with_version)
        self.assertIsNone(g.properties.value)
        u = self.mgmt.secrets.update(RG, VAULT, "db-password", {
            "properties": {"content_type": "application/x-password", "attributes": {"enabled": False}}})
        self.assertEqual(u.properties.content_type, "application/x-password")
        self.assertFalse(u.properties.attributes.enabled)
        self.assertEqual(u.properties.secret_uri_with_version, s.properties.secret_uri_with_version)

        s2 = self.mgmt.secrets.create_or_update(RG, VAULT, "db-password",
                                                {"properties": {"value": "hunter3"}})
        self.assertNotEqual(s2.properties.secret_uri_with_version, s.properties.secret_uri_with_version)
        for i in range(30):
            self.mgmt.secrets.create_or_update(RG, VAULT, f"many-{i:02d}", {"properties": {"value": "v"}})
        names = [x.name for x in self.mgmt.secrets.list(RG, VAULT)]
        self.assertIn("db-password", names)
        self.assertEqual(len([n for n in names if n.startswith("many-")]), 30)
        self.assertEqual(len(names), len(set(names)))
        page = next(self.mgmt.secrets.list(RG, VAULT, top=5).by_page())
        self.assertEqual(len(list(page)), 5)

    def test_key_create_if_not_exist_get_versions(self):
        k = self.mgmt.keys.create_if_not_exist(RG, VAULT, "signing", {
            "tags": {"use": "jwt"},
            "properties": {"kty": "EC", "curve_name": "P-256", "key_ops": ["sign", "verify"]}})
        self.assertEqual(k.type, "Microsoft.KeyVault/vaults/keys")
        self.assertEqual(k.location, "local")
        self.assertFalse(k.attributes.exportable)
        self.assertEqual(k.kty, "EC")
        self.assertEqual(k.curve_name, "P-256")
        self.assertEqual(sorted(k.key_ops), ["sign", "verify"])
        self.assertTrue(k.key_uri_with_version.startswith(k.key_uri + "/"))
        again = self.mgmt.keys.create_if_not_exist(RG, VAULT, "signing", {
            "properties": {"kty": "RSA", "key_size": 4096}})
        self.assertEqual(again.key_uri_with_version, k.key_uri_with_version)
        self.assertEqual(again.kty, "EC")  # an existing key is left as it is

        r = self.mgmt.keys.create_if_not_exist(RG, VAULT, "wrapping", {
            "properties": {"kty": "RSA", "key_size": 3072}})
        self.assertEqual(r.key_size, 3072)
        dp = self.keys.get_key("wrapping")
        self.assertEqual(dp.id, r.key_uri_with_version)
        self.keys.rotate_key("wrapping")
        versions = list(self.mgmt.keys.list_versions(RG, VAULT, "wrapping"))
        self.assertEqual(len(versions), 2)
        version = r.key_uri_with_version.rsplit("/", 1)[1]
        one = self.mgmt.keys.get_version(RG, VAULT, "wrapping", version)
        self.assertEqual(one.key_uri_with_version, r.key_uri_with_version)
        self.assertEqual(sorted(x.name for x in self.mgmt.keys.list(RG, VAULT)),
                         ["signing", "wrapping"])

    def test_errors(self):
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
        with self.assertRaises(ResourceNotFoundError):
            self.mgmt.secrets.get(RG, VAULT, "absent")
        with self.assertRaises(ResourceNotFoundError):
            self.mgmt.secrets.get("other-rg", VAULT, "absent")
        with self.assertRaises(ResourceNotFoundError):
            self.mgmt.keys.get(RG, VAULT, "absent")
        with self.assertRaises(ResourceNotFoundError):
            self.mgmt.keys.get_version(RG, VAULT, "absent", "0" * 32)
        with self.assertRaises(HttpResponseError) as cm:
            self.mgmt.keys.create_if_not_exist(RG, VAULT, "bad", {"properties": {"kty": "DSA"}})
        self.assertEqual(cm.exception.status_code, 400)
        with self.assertRaises(HttpResponseError) as cm:
            self.mgmt.secrets.create_or_update(RG, VAULT, "bad_name", {"properties": {"value": "v"}})
        self.assertEqual(cm.exception.status_code, 400)
        with self.assertRaises(ResourceNotFoundError):
            self.mgmt.secrets.update(RG, VAULT, "absent", {"properties": {"content_type": "x"}})
        r = self.srv.request("PUT", f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/"
                             f"Microsoft.KeyVault/vaults/{VAULT}/secrets/nov?api-version=2022-07-01",
                             {"properties": {"contentType": "x"}}, host="localhost")
        self.assertEqual(r.status, 400, r)  # a value is required
        r = self.srv.request("GET", f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/"
                             f"Microsoft.KeyVault/vaults/{VAULT}/secrets?api-version=2022-07-01"
                             "&$skiptoken=%2F%2E%2E", host="localhost")
        self.assertEqual(r.status, 400, r)

    def test_operations_list(self):
        names = [o.name for o in self.mgmt.operations.list()]
        self.assertIn("Microsoft.KeyVault/vaults/write", names)


if __name__ == "__main__":
    unittest.main()
