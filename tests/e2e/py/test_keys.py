"""Key management through Debian's azure.keyvault.keys (4.8.0b3, api-version 7.4-preview.1)
against a real kluisd: create, import, get, update, list, soft delete, backup and restore,
rotation and its policy, random bytes, the exact public JWK (spec §3, §5)."""

import datetime
import os
import time
import unittest

from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.keyvault.keys import (ApiVersion, KeyCurveName, KeyRotationLifetimeAction, KeyRotationPolicy,
                                 KeyRotationPolicyAction, KeyType)

import harness
import keyutil
from harness import b64url, unique_name

UTC = datetime.timezone.utc
DAY = 86400
RSA_OPS = ["decrypt", "encrypt", "sign", "unwrapKey", "verify", "wrapKey"]
EC_OPS = ["sign", "verify"]
OCT_OPS = ["decrypt", "encrypt", "unwrapKey", "wrapKey"]
PRIVATE = ["d", "p", "q", "dp", "dq", "qi", "k", "key_hsm", "t"]


def _utc(ts):
    return datetime.datetime.fromtimestamp(int(ts), tz=UTC)


def _ops(key):
    return sorted(str(o.value if hasattr(o, "value") else o) for o in (key.key_operations or []))


class KeysTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.start_server()
        cls.client = cls.srv.key_client()

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.srv.close()

    def assertHttpError(self, status, code, fn, *args, **kwargs):
        with self.assertRaises(HttpResponseError) as cm:
            fn(*args, **kwargs)
        e = cm.exception
        self.assertEqual(e.status_code, status, str(e))
        if code:
            self.assertEqual(e.error.code if e.error else None, code, str(e))
        return e

    def wire(self, name, version=""):
        r = self.srv.request("GET", f"/keys/{name}/{version}?api-version=7.4-preview.1")
        self.assertEqual(r.status, 200, r)
        for m in PRIVATE:
            self.assertNotIn(m, r.json["key"], f"private member {m} in {r.text}")
        self.assertNotIn("=", r.text, "base64url without padding")
        return r.json

    # --- create ----------------------------------------------------------------------------

    def test_create_rsa(self):
        name = unique_name("rsa")
        t0 = time.time() - 5
        k = self.client.create_rsa_key(name)
        self.assertEqual(k.name, name)
        self.assertEqual(k.key_type, KeyType.rsa)
        self.assertRegex(k.properties.version, r"^[0-9a-f]{32}$")
        self.assertEqual(k.id, f"{self.srv.vault_url}/keys/{name}/{k.properties.version}")
        self.assertEqual(k.key.kid, k.id)
        self.assertEqual(len(k.key.n), 256)
        self.assertTrue(k.key.n[0] & 0x80)
        self.assertEqual(k.key.e, b"\x01\x00\x01")
        self.assertIsNone(k.key.d)
        self.assertEqual(_ops(k), RSA_OPS)
        self.assertTrue(k.properties.enabled)
        self.assertEqual(k.properties.recovery_level, "Recoverable+Purgeable")
        self.assertEqual(k.properties.recoverable_days, 90)
        self.assertTrue(t0 <= k.properties.created_on.timestamp() <= time.time() + 5)
        w = self.wire(name)
        self.assertEqual(w["key"]["e"], "AQAB")
        self.assertEqual(len(w["key"]["n"]), 342)

    def test_create_rsa_sizes_and_exponent(self):
        for bits in (3072, 4096):
            k = self.client.create_rsa_key(unique_name("rsa"), size=bits)
            self.assertEqual(len(k.key.n), bits // 8)
            self.assertEqual(keyutil.public_key(k.key).key_size, bits)
        k = self.client.create_rsa_key(unique_name("rsae"), public_exponent=3)
        self.assertEqual(k.key.e, b"\x03")
        self.assertEqual(keyutil.public_key(k.key).public_numbers().e, 3)

    def test_create_ec_every_curve(self):
        self.assertEqual(self.client.create_ec_key(unique_name("ec")).key.crv, KeyCurveName.p_256)
        for crv, (cls, size, _, _) in keyutil.CURVES.items():
            k = self.client.create_ec_key(unique_name("ec"), curve=crv)
            self.assertEqual(k.key_type, KeyType.ec)
            self.assertEqual(k.key.crv, crv)
            self.assertEqual(len(k.key.x), size)
            self.assertEqual(len(k.key.y), size)
            self.assertIsNone(k.key.d)
            self.assertEqual(_ops(k), EC_OPS)
            pub = keyutil.public_key(k.key)  # raises if the point is not on the curve
            self.assertIsInstance(pub.curve, cls)

    def test_create_oct_and_hsm_types(self):
        for size in (128, 192, 256):
            name = unique_name("oct")
            k = self.client.create_oct_key(name, size=size)
            self.assertEqual(k.key_type, KeyType.oct)
            self.assertIsNone(k.key.k)
            self.assertEqual(_ops(k), OCT_OPS)
            self.assertEqual(sorted(self.wire(name)["key"]), ["key_ops", "kid", "kty"])
        self.assertEqual(self.client.create_oct_key(unique_name("octh"), size=256, hardware_protected=True).key_type,
                         KeyType.oct_hsm)
        self.assertEqual(self.client.create_rsa_key(unique_name("rsah"), hardware_protected=True).key_type,
                         KeyType.rsa_hsm)
        ech = self.client.create_ec_key(unique_name("ech"), curve="P-521", hardware_protected=True)
        self.assertEqual(ech.key_type, KeyType.ec_hsm)
        self.assertEqual(self.client.get_key(ech.name).key_type, KeyType.ec_hsm)

    def test_create_with_attributes(self):
        name = unique_name("attrs")
        nbf, exp = _utc(time.time() - 3600), _utc(time.time() + 30 * DAY)
        k = self.client.create_rsa_key(name, key_operations=["sign", "verify"], tags={"a": "1"},
                                       not_before=nbf, expires_on=exp, enabled=False)
        self.assertEqual(_ops(k), ["sign", "verify"])
        self.assertEqual(k.properties.tags, {"a": "1"})
        self.assertEqual(k.properties.not_before, nbf)
        self.assertEqual(k.properties.expires_on, exp)
        self.assertFalse(k.properties.enabled)
        self.assertFalse(self.client.get_key(name).properties.enabled)

    def test_create_refusals(self):
        name = unique_name("bad")
        self.assertHttpError(400, "BadParameter", self.client.create_key, name, "DSA")
        self.assertHttpError(400, "BadParameter", self.client.create_rsa_key, name, size=1024)
        self.assertHttpError(400, "BadParameter", self.client.create_oct_key, name, size=512)
        self.assertHttpError(400, "BadParameter", self.client.create_ec_key, name, curve="P-192")
        self.assertHttpError(400, "BadParameter", self.client.create_rsa_key, name, exportable=True)
        with self.assertRaises(ResourceNotFoundError):
            self.client.get_key(name)

    # --- import ----------------------------------------------------------------------------

    def test_import_rsa_ec_oct(self):
        priv = keyutil.rsa_private(2048)
        jwk = keyutil.sdk_jwk(priv)
        name = unique_name("imp")
        k = self.client.import_key(name, jwk, tags={"src": "py"})
        self.assertEqual(k.key.n, jwk.n)
        self.assertEqual(k.key.e, jwk.e)
        self.assertEqual(_ops(k), RSA_OPS)
        for m in ("d", "p", "q", "dp", "dq", "qi"):
            self.assertIsNone(getattr(k.key, m), m)
        self.assertEqual(self.wire(name)["key"]["n"], b64url(jwk.n))
        h = self.client.import_key(unique_name("imph"), keyutil.sdk_jwk(priv, key_ops=["sign", "verify"]),
                                   hardware_protected=True)
        self.assertEqual(h.key_type, KeyType.rsa_hsm)
        self.assertEqual(_ops(h), ["sign", "verify"])
        for crv in keyutil.CURVES:
            p = keyutil.ec_private(crv)
            j = keyutil.sdk_jwk(p)
            e = self.client.import_key(unique_name("impec"), j)
            self.assertEqual((e.key.crv, e.key.x, e.key.y), (crv, j.x, j.y))
            self.assertIsNone(e.key.d)
        for size in (16, 24, 32):
            o = self.client.import_key(unique_name("impoct"), keyutil.sdk_jwk(os.urandom(size)))
            self.assertEqual(o.key_type, KeyType.oct)
            self.assertIsNone(o.key.k)

    def test_import_refusals(self):
        name = unique_name("impbad")
        jwk = keyutil.sdk_jwk(keyutil.rsa_private())
        jwk.d = None
        self.assertHttpError(400, "BadParameter", self.client.import_key, name, jwk)
        self.assertHttpError(400, "BadParameter", self.client.import_key, name,
                             keyutil.sdk_jwk(keyutil.rsa_private(1024)))
        self.assertHttpError(400, "BadParameter", self.client.import_key, name, keyutil.sdk_jwk(os.urandom(17)))
        with self.assertRaises(ResourceNotFoundError):
            self.client.get_key(name)

    # --- get, update, list ---------------------------------------------------------------

    def test_get_versions_and_404(self):
        name = unique_name("get")
        v1 = self.client.create_ec_key(name)
        v2 = self.client.create_ec_key(name)
        self.assertEqual(self.client.get_key(name).id, v2.id)
        self.assertEqual(self.client.get_key(name, "").id, v2.id)
        self.assertEqual(self.client.get_key(name, v1.properties.version).key.x, v1.key.x)
        with self.assertRaises(ResourceNotFoundError) as cm:
            self.client.get_key(unique_name("missing"))
        self.assertEqual(cm.exception.error.code, "KeyNotFound")
        with self.assertRaises(ResourceNotFoundError):
            self.client.get_key(name, "0123456789abcdef0123456789abcdef")

    def test_update(self):
        name = unique_name("upd")
        k = self.client.create_rsa_key(name, tags={"a": "1"})
        exp = _utc(time.time() + 10 * DAY)
        u = self.client.update_key_properties(name, k.properties.version, key_operations=["verify"],
                                              enabled=False, expires_on=exp, tags={"b": "2"})
        self.assertEqual(_ops(u), ["verify"])
        self.assertFalse(u.properties.enabled)
        self.assertEqual(u.properties.expires_on, exp)
        self.assertEqual(u.properties.tags, {"b": "2"})
        self.assertEqual(u.key.n, k.key.n)
        self.assertEqual(len(list(self.client.list_properties_of_key_versions(name))), 1)
        u2 = self.client.update_key_properties(name, enabled=True)
        self.assertTrue(u2.properties.enabled)
        self.assertEqual(u2.properties.tags, {"b": "2"})
        self.assertEqual(_ops(u2), ["verify"])
        with self.assertRaises(ResourceNotFoundError):
            self.client.update_key_properties(unique_name("missing"), "0123456789abcdef0123456789abcdef",
                                              enabled=False)

    def test_list(self):
        name = unique_name("list")
        made = [self.client.create_ec_key(name) for _ in range(3)]
        items = [p for p in self.client.list_properties_of_keys() if p.name == name]
        self.assertEqual(len(items), 1)
        self.assertEqual(items[0].id, f"{self.srv.vault_url}/keys/{name}")
        vs = list(self.client.list_properties_of_key_versions(name, max_page_size=1))
        self.assertEqual(sorted(v.id for v in vs), sorted(m.id for m in made))

    # --- soft delete, backup, rotation -------------------------------------------------------

    def test_soft_delete_cycle(self):
        name = unique_name("sd")
        k = self.client.create_rsa_key(name)
        t0 = time.time()
        d = self.client.begin_delete_key(name).result()
        self.assertEqual(d.recovery_id, f"{self.srv.vault_url}/deletedkeys/{name}")
        self.assertEqual(d.id, k.id)
        self.assertEqual(d.key.n, k.key.n)
        self.assertLess(abs(d.deleted_date.timestamp() - t0), 30)
        self.assertEqual(d.scheduled_purge_date.timestamp(), d.deleted_date.timestamp() + 90 * DAY)
        with self.assertRaises(ResourceNotFoundError):
            self.client.get_key(name)
        self.assertEqual(self.client.get_deleted_key(name).recovery_id, d.recovery_id)
        self.assertIn(name, [x.name for x in self.client.list_deleted_keys()])
        with self.assertRaises(ResourceExistsError) as cm:
            self.client.create_rsa_key(name)
        self.assertEqual(cm.exception.error.code, "Conflict")
        with self.assertRaises(ResourceExistsError):
            self.client.import_key(name, keyutil.sdk_jwk(keyutil.rsa_private()))
        r = self.client.begin_recover_deleted_key(name).result()
        self.assertEqual(r.id, k.id)
        self.assertEqual(self.client.get_key(name).key.n, k.key.n)
        self.client.begin_delete_key(name).wait()
        self.client.purge_deleted_key(name)
        with self.assertRaises(ResourceNotFoundError):
            self.client.get_deleted_key(name)
        self.assertNotEqual(self.client.create_rsa_key(name).key.n, k.key.n)

    def test_backup_restore(self):
        name = unique_name("bk")
        priv = keyutil.rsa_private()
        v1 = self.client.import_key(name, keyutil.sdk_jwk(priv))
        v2 = self.client.create_rsa_key(name, enabled=False)
        blob = self.client.backup_key(name)
        self.assertIsInstance(blob, bytes)
        for m, raw in keyutil.private_members(priv).items():
            self.assertNotIn(raw, blob, m)
            self.assertNotIn(b64url(raw).encode(), blob, m)
        with self.assertRaises(ResourceExistsError):
            self.client.restore_key_backup(blob)
        self.client.begin_delete_key(name).wait()
        with self.assertRaises(ResourceExistsError):
            self.client.restore_key_backup(blob)
        self.client.purge_deleted_key(name)
        r = self.client.restore_key_backup(blob)
        self.assertEqual(r.id, v2.id)
        self.assertEqual(sorted(v.id for v in self.client.list_properties_of_key_versions(name)),
                         sorted([v1.id, v2.id]))
        self.assertEqual(self.client.get_key(name, v1.properties.version).key.n, v1.key.n)
        self.assertHttpError(400, "Malformed backup blob", self.client.restore_key_backup, b"not a backup")
        with self.assertRaises(ResourceNotFoundError):
            self.client.backup_key(unique_name("missing"))

    def test_rotate_and_policy(self):
        name = unique_name("rot")
        k = self.client.create_ec_key(name, curve="P-384", key_operations=["sign", "verify"])
        empty = self.client.get_key_rotation_policy(name)
        self.assertEqual(empty.lifetime_actions or [], [])
        self.assertIsNone(empty.expires_in)
        policy = KeyRotationPolicy(expires_in="P90D", lifetime_actions=[
            KeyRotationLifetimeAction(KeyRotationPolicyAction.rotate, time_after_create="P60D")])
        p = self.client.update_key_rotation_policy(name, policy)
        self.assertEqual(p.id, f"{self.srv.vault_url}/keys/{name}/rotationpolicy")
        self.assertEqual(p.expires_in, "P90D")
        acts = [(getattr(a.action, "value", a.action), a.time_after_create, a.time_before_expiry)
                for a in p.lifetime_actions]
        self.assertEqual(acts, [("Rotate", "P60D", None), ("Notify", None, "P30D")])
        got = self.client.get_key_rotation_policy(name)
        self.assertEqual(got.expires_in, "P90D")
        # What was read writes back (get, then update with the same object).
        again = self.client.update_key_rotation_policy(name, got)
        self.assertEqual([(getattr(a.action, "value", a.action), a.time_after_create, a.time_before_expiry)
                          for a in again.lifetime_actions], acts)
        t0 = time.time()
        r = self.client.rotate_key(name)
        self.assertNotEqual(r.properties.version, k.properties.version)
        self.assertEqual(r.key.crv, "P-384")
        self.assertNotEqual(r.key.x, k.key.x)
        self.assertEqual(_ops(r), ["sign", "verify"])
        self.assertLess(abs(r.properties.expires_on.timestamp() - (t0 + 90 * DAY)), 60)
        self.assertHttpError(400, "BadParameter", self.client.update_key_rotation_policy, name,
                             KeyRotationPolicy(expires_in="P7D"))
        with self.assertRaises(ResourceNotFoundError):
            self.client.rotate_key(unique_name("missing"))
        with self.assertRaises(ResourceNotFoundError):
            self.client.get_key_rotation_policy(unique_name("missing"))

    def test_policy_without_expiry_round_trips(self):
        # The server's own default policy (Notify 30 days before expiry, no expiryTime) must be
        # accepted back: a client that reads a policy and writes it back unchanged gets it stored.
        name = unique_name("polrt")
        self.client.create_ec_key(name)
        p = self.client.update_key_rotation_policy(name, KeyRotationPolicy(lifetime_actions=[
            KeyRotationLifetimeAction(KeyRotationPolicyAction.rotate, time_after_create="P30D")]))
        self.assertIsNone(p.expires_in)
        got = self.client.get_key_rotation_policy(name)
        again = self.client.update_key_rotation_policy(name, got)
        self.assertEqual([(getattr(a.action, "value", a.action), a.time_after_create, a.time_before_expiry)
                          for a in again.lifetime_actions],
                         [("Rotate", "P30D", None), ("Notify", None, "P30D")])

    def test_random_bytes(self):
        a = self.client.get_random_bytes(32)
        b = self.client.get_random_bytes(32)
        self.assertEqual((len(a), len(b)), (32, 32))
        self.assertNotEqual(a, b)
        self.assertEqual(len(self.client.get_random_bytes(128)), 128)
        self.assertHttpError(400, "BadParameter", self.client.get_random_bytes, 129)
        # The SDK refuses 0 itself; the server must too.
        r = self.srv.request("POST", "/rng?api-version=7.4-preview.1", body={"count": 0})
        self.assertEqual((r.status, r.error_code()), (400, "BadParameter"), r)

    def test_api_versions(self):
        for v in ApiVersion:
            with self.srv.key_client(api_version=v) as c:
                name = unique_name("api")
                k = c.create_ec_key(name) if v != ApiVersion.V2016_10_01 else c.create_key(name, "EC")
                self.assertEqual(c.get_key(name).id, k.id, v)
                self.assertEqual(len(list(c.list_properties_of_key_versions(name))), 1, v)
                crypt = keyutil.typed(c.get_cryptography_client(name, key_version=k.properties.version))
                dg = keyutil.digest("ES256", v.value.encode())
                sig = crypt.sign("ES256", dg).signature
                self.assertTrue(keyutil.verify("ES256", keyutil.public_key(k.key), dg, sig), v)


if __name__ == "__main__":
    unittest.main()
