"""Several vaults in one deployment, through Debian's azure.mgmt.keyvault and
azure.keyvault.secrets/keys: three vaults made over the management plane hold the same secret and
key names with different values. Each vault sees only its own objects (get, versions, lists,
deleted lists); delete, recover and purge in one leave the others alone; a backup from one vault
restores into another (allowed in Azure within a geography) and then lives only there; crypto in
one vault cannot name a key of another; deleting a whole vault leaves the rest untouched."""

import hashlib
import os
import unittest
import uuid

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.keyvault.keys.crypto import CryptographyClient, EncryptionAlgorithm, SignatureAlgorithm
from azure.mgmt.keyvault.models import Sku, VaultCreateOrUpdateParameters, VaultProperties

import harness

LOCATION = "westeurope"


class Vault:
    def __init__(self, srv, vault, rg):
        self.vault = vault
        self.rg = rg
        self.name = vault.name
        self.uri = vault.properties.vault_uri.rstrip("/")
        self.secrets = srv.secret_client(url=vault.properties.vault_uri)
        self.keys = srv.key_client(url=vault.properties.vault_uri)

    def close(self):
        self.secrets.close()
        self.keys.close()


class VaultIsolation(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.start_server()
        cls.tenant = cls.srv.tenant_id()
        cls.mgmt = cls.srv.mgmt_client(str(uuid.uuid4()))
        cls.v = {}
        for k, rg in (("a", "rg-one"), ("b", "rg-one"), ("c", "rg-two")):
            vault = cls.mgmt.vaults.begin_create_or_update(
                rg, f"iso{k}{os.urandom(5).hex()}", cls.params()).result()
            cls.v[k] = Vault(cls.srv, vault, rg)
        cls.dflt = cls.srv.secret_client()
        cls._closeables = []

    @classmethod
    def tearDownClass(cls):
        for x in cls.v.values():
            x.close()
        for c in cls._closeables:
            c.close()
        cls.dflt.close()
        cls.mgmt.close()
        cls.srv.close()

    @classmethod
    def params(cls, **props):
        return VaultCreateOrUpdateParameters(
            location=LOCATION,
            properties=VaultProperties(tenant_id=cls.tenant, sku=Sku(family="A", name="standard"), **props))

    def crypto(self, key_or_id):
        c = CryptographyClient(key_or_id, self.srv.credential, connection_verify=self.srv.ca)
        self._closeables.append(c)
        return c

    @staticmethod
    def names(items, prefix=""):
        return sorted(x.name for x in items if x.name.startswith(prefix))

    def versions_or_none(self, client, name):
        """Versions of a name the vault lacks: an empty list or 404 (the spec does not say which)."""
        try:
            return list(client(name))
        except ResourceNotFoundError:
            return []

    # --- tests ---------------------------------------------------------------------------------

    def test_vaults_are_distinct(self):
        uris = {x.uri for x in self.v.values()}
        self.assertEqual(len(uris), 3)
        for x in self.v.values():
            self.assertRegex(x.uri, r"^https://iso[abc][0-9a-f]{10}\.vault\.localhost:\d+$")

    def test_same_secret_name_different_values(self):
        a, b, c = self.v["a"], self.v["b"], self.v["c"]
        sa = a.secrets.set_secret("shared", "value in a")
        sb = b.secrets.set_secret("shared", "value in b")
        b.secrets.set_secret("shared", "value in b, v2")
        self.assertEqual(sa.id, f"{a.uri}/secrets/shared/{sa.properties.version}")
        self.assertEqual(sb.id, f"{b.uri}/secrets/shared/{sb.properties.version}")
        self.assertEqual(a.secrets.get_secret("shared").value, "value in a")
        self.assertEqual(b.secrets.get_secret("shared").value, "value in b, v2")
        self.assertEqual(b.secrets.get_secret("shared", sb.properties.version).value, "value in b")
        with self.assertRaises(ResourceNotFoundError):
            c.secrets.get_secret("shared")
        with self.assertRaises(ResourceNotFoundError):
            self.dflt.get_secret("shared")
        with self.assertRaises(ResourceNotFoundError):
            a.secrets.get_secret("shared", sb.properties.version)
        self.assertEqual(len(list(a.secrets.list_properties_of_secret_versions("shared"))), 1)
        self.assertEqual(len(list(b.secrets.list_properties_of_secret_versions("shared"))), 2)
        self.assertEqual(self.versions_or_none(c.secrets.list_properties_of_secret_versions, "shared"), [])
        a.secrets.update_secret_properties("shared", sa.properties.version, tags={"where": "a"})
        self.assertNotIn("where", b.secrets.get_secret("shared").properties.tags or {})

    def test_lists_show_only_own_secrets(self):
        a, b, c = self.v["a"], self.v["b"], self.v["c"]
        a.secrets.set_secret("list-a-only", "1")
        b.secrets.set_secret("list-b-only", "2")
        a.secrets.set_secret("list-both", "a")
        b.secrets.set_secret("list-both", "b")
        self.assertEqual(self.names(a.secrets.list_properties_of_secrets(), "list-"), ["list-a-only", "list-both"])
        self.assertEqual(self.names(b.secrets.list_properties_of_secrets(), "list-"), ["list-b-only", "list-both"])
        self.assertEqual(self.names(c.secrets.list_properties_of_secrets(), "list-"), [])
        self.assertEqual(self.names(self.dflt.list_properties_of_secrets(), "list-"), [])
        for p in a.secrets.list_properties_of_secrets():
            self.assertTrue(p.id.startswith(f"{a.uri}/secrets/"), p.id)

    def test_same_key_name_different_keys(self):
        a, b, c = self.v["a"], self.v["b"], self.v["c"]
        ka = a.keys.create_rsa_key("shared-key", size=2048)
        kb = b.keys.create_ec_key("shared-key", curve="P-256")
        self.assertEqual(ka.id, f"{a.uri}/keys/shared-key/{ka.properties.version}")
        self.assertEqual(kb.id, f"{b.uri}/keys/shared-key/{kb.properties.version}")
        self.assertEqual(a.keys.get_key("shared-key").key_type, "RSA")
        self.assertEqual(b.keys.get_key("shared-key").key_type, "EC")
        with self.assertRaises(ResourceNotFoundError):
            c.keys.get_key("shared-key")
        with self.assertRaises(ResourceNotFoundError):
            a.keys.get_key("shared-key", kb.properties.version)
        self.assertEqual(self.names(c.keys.list_properties_of_keys()), [])

    def test_crypto_cannot_name_another_vaults_key(self):
        a, b = self.v["a"], self.v["b"]
        kb = b.keys.create_rsa_key("b-only-key", size=2048)
        ka = a.keys.create_rsa_key("a-crypto-key", size=2048)
        with self.assertRaises(ResourceNotFoundError):
            a.keys.get_key("b-only-key")
        digest = hashlib.sha256(b"payload").digest()
        wrong = self.crypto(f"{a.uri}/keys/b-only-key/{kb.properties.version}")
        with self.assertRaises(ResourceNotFoundError):
            wrong.sign(SignatureAlgorithm.rs256, digest)
        with self.assertRaises(ResourceNotFoundError):
            wrong.decrypt(EncryptionAlgorithm.rsa_oaep, b"\x01" * 256)
        mixed = self.crypto(f"{a.uri}/keys/a-crypto-key/{kb.properties.version}")
        with self.assertRaises(ResourceNotFoundError):
            mixed.sign(SignatureAlgorithm.rs256, digest)
        right = self.crypto(kb)
        sig = right.sign(SignatureAlgorithm.rs256, digest).signature
        self.assertTrue(right.verify(SignatureAlgorithm.rs256, digest, sig).is_valid)
        self.assertFalse(self.crypto(ka).verify(SignatureAlgorithm.rs256, digest, sig).is_valid)

    def test_delete_secret_in_one_vault_only(self):
        a, b, c = self.v["a"], self.v["b"], self.v["c"]
        a.secrets.set_secret("del-shared", "a1")
        b.secrets.set_secret("del-shared", "b1")
        c.secrets.set_secret("del-shared", "c1")
        d = a.secrets.begin_delete_secret("del-shared").result()
        self.assertEqual(d.recovery_id, f"{a.uri}/deletedsecrets/del-shared")
        with self.assertRaises(ResourceNotFoundError):
            a.secrets.get_secret("del-shared")
        self.assertEqual(b.secrets.get_secret("del-shared").value, "b1")
        self.assertEqual(c.secrets.get_secret("del-shared").value, "c1")
        self.assertIn("del-shared", self.names(a.secrets.list_deleted_secrets()))
        self.assertNotIn("del-shared", self.names(b.secrets.list_deleted_secrets()))
        self.assertNotIn("del-shared", self.names(c.secrets.list_deleted_secrets()))
        with self.assertRaises(ResourceNotFoundError):
            b.secrets.get_deleted_secret("del-shared")
        with self.assertRaises(ResourceExistsError):
            a.secrets.set_secret("del-shared", "again")
        self.assertEqual(b.secrets.set_secret("del-shared", "b2").value, "b2")
        b.secrets.begin_delete_secret("del-shared").result()
        a.secrets.purge_deleted_secret("del-shared")
        with self.assertRaises(ResourceNotFoundError):
            a.secrets.get_deleted_secret("del-shared")
        self.assertEqual(b.secrets.get_deleted_secret("del-shared").recovery_id,
                         f"{b.uri}/deletedsecrets/del-shared")
        b.secrets.begin_recover_deleted_secret("del-shared").result()
        self.assertEqual(b.secrets.get_secret("del-shared").value, "b2")
        a.secrets.set_secret("del-shared", "a-new")
        self.assertEqual(a.secrets.get_secret("del-shared").value, "a-new")
        self.assertEqual(b.secrets.get_secret("del-shared").value, "b2")
        self.assertEqual(c.secrets.get_secret("del-shared").value, "c1")

    def test_delete_key_in_one_vault_only(self):
        a, b = self.v["a"], self.v["b"]
        a.keys.create_ec_key("del-key")
        kb = b.keys.create_ec_key("del-key")
        a.keys.begin_delete_key("del-key").result()
        self.assertEqual(b.keys.get_key("del-key").id, kb.id)
        self.assertIn("del-key", self.names(a.keys.list_deleted_keys()))
        self.assertNotIn("del-key", self.names(b.keys.list_deleted_keys()))
        with self.assertRaises(ResourceNotFoundError):
            b.keys.get_deleted_key("del-key")
        with self.assertRaises(ResourceNotFoundError):
            b.keys.purge_deleted_key("del-key")
        a.keys.begin_recover_deleted_key("del-key").result()
        self.assertEqual(a.keys.get_key("del-key").name, "del-key")

    def test_secret_backup_restores_into_another_vault(self):
        a, b, c = self.v["a"], self.v["b"], self.v["c"]
        orig = a.secrets.set_secret("moving", "travels", content_type="text/plain", tags={"t": "1"})
        blob = a.secrets.backup_secret("moving")
        self.assertTrue(blob)
        restored = b.secrets.restore_secret_backup(blob)
        self.assertEqual(restored.name, "moving")
        self.assertEqual(restored.vault_url, b.uri)
        got = b.secrets.get_secret("moving")
        self.assertEqual(got.value, "travels")
        self.assertEqual(got.properties.version, orig.properties.version)
        self.assertEqual(got.id, f"{b.uri}/secrets/moving/{orig.properties.version}")
        self.assertEqual(got.properties.content_type, "text/plain")
        self.assertEqual(got.properties.tags, {"t": "1"})
        with self.assertRaises(ResourceNotFoundError):
            c.secrets.get_secret("moving")
        with self.assertRaises(ResourceExistsError):
            a.secrets.restore_secret_backup(blob)
        b.secrets.begin_delete_secret("moving").result()
        self.assertEqual(a.secrets.get_secret("moving").value, "travels")
        a.secrets.set_secret("moving", "travels more")
        b.secrets.begin_recover_deleted_secret("moving").result()
        self.assertEqual(b.secrets.get_secret("moving").value, "travels")
        self.assertEqual(len(list(b.secrets.list_properties_of_secret_versions("moving"))), 1)
        self.assertEqual(len(list(a.secrets.list_properties_of_secret_versions("moving"))), 2)

    def test_key_backup_restores_into_another_vault(self):
        a, b, c = self.v["a"], self.v["b"], self.v["c"]
        ka = a.keys.create_rsa_key("moving-key", size=2048)
        blob = a.keys.backup_key("moving-key")
        kb = b.keys.restore_key_backup(blob)
        self.assertEqual(kb.name, "moving-key")
        self.assertEqual(kb.id, f"{b.uri}/keys/moving-key/{ka.properties.version}")
        self.assertEqual(kb.key.n, ka.key.n)
        with self.assertRaises(ResourceNotFoundError):
            c.keys.get_key("moving-key")
        plaintext = b"sixteen byte msg"
        ct = self.crypto(ka).encrypt(EncryptionAlgorithm.rsa_oaep, plaintext).ciphertext
        pt = self.crypto(kb).decrypt(EncryptionAlgorithm.rsa_oaep, ct)
        self.assertEqual(pt.plaintext, plaintext)
        self.assertEqual(pt.key_id, kb.id)
        b.keys.begin_delete_key("moving-key").result()
        self.assertEqual(a.keys.get_key("moving-key").id, ka.id)
        with self.assertRaises(ResourceExistsError):
            a.keys.restore_key_backup(blob)

    def test_z_delete_whole_vault(self):
        # Runs last (unittest orders by name): c goes away and comes back.
        a, b, c = self.v["a"], self.v["b"], self.v["c"]
        c.secrets.set_secret("c-goes", "away")
        self.dflt.set_secret("iso-default", "stays")
        a.secrets.set_secret("a-stays", "here")
        self.mgmt.vaults.delete(c.rg, c.name)
        with self.assertRaises(ResourceNotFoundError):
            c.secrets.get_secret("c-goes")
        self.assertEqual(a.secrets.get_secret("a-stays").value, "here")
        self.assertEqual(self.dflt.get_secret("iso-default").value, "stays")
        self.assertEqual(self.names(self.mgmt.vaults.list_by_subscription()), sorted([a.name, b.name]))
        self.mgmt.vaults.begin_create_or_update(c.rg, c.name, self.params(create_mode="recover")).result()
        self.assertEqual(c.secrets.get_secret("c-goes").value, "away")
        with self.assertRaises(ResourceNotFoundError):
            c.secrets.get_secret("a-stays")


if __name__ == "__main__":
    unittest.main()
