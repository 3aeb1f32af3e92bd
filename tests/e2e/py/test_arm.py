"""The management plane (Microsoft.KeyVault/vaults) through Debian's azure.mgmt.keyvault (10.x,
api-version 2022-07-01), unchanged, pointed at a real kluisd: create, get, update, delete, the
lists, name checks, deleted vaults (get, list, recover, purge), purge protection, subscriptions
and resource groups as labels, and each new vault answering at its vaultUri through
azure.keyvault.secrets/keys. Version-dependent defaults and bad input go over raw HTTPS."""

import os
import time
import unittest
import uuid

from azure.core.exceptions import (ClientAuthenticationError, HttpResponseError,
                                   ResourceExistsError, ResourceNotFoundError)
from azure.mgmt.keyvault.models import (AccessPolicyEntry, Permissions, Sku,
                                        VaultAccessPolicyParameters, VaultAccessPolicyProperties,
                                        VaultCheckNameAvailabilityParameters,
                                        VaultCreateOrUpdateParameters, VaultPatchParameters,
                                        VaultPatchProperties, VaultProperties)

import harness

DAY = 86400
TYPE = "Microsoft.KeyVault/vaults"
LOCATION = "westeurope"
ARM = "2022-07-01"  # what azure.mgmt.keyvault 10.x sends
BAD_NAMES = ["ab", "a" * 25, "1abc", "abc-", "ab--cd", "ab_cd"]

_counter = [0]


def vault_name(prefix="kv"):
    """A valid vault name: a letter first, 3-24 of [a-z0-9-], no '--', unique in this run."""
    _counter[0] += 1
    return f"{prefix}{os.urandom(4).hex()}{_counter[0]}"[:24]


class ArmTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.start_server()
        cls.tenant = cls.srv.tenant_id()
        cls.sub = str(uuid.uuid4())
        cls.mgmt = cls.srv.mgmt_client(cls.sub)
        cls._clients = [cls.mgmt]

    @classmethod
    def tearDownClass(cls):
        for c in cls._clients:
            c.close()
        cls.srv.close()

    # --- helpers ---------------------------------------------------------------------------

    @classmethod
    def client(cls, subscription):
        c = cls.srv.mgmt_client(subscription)
        cls._clients.append(c)
        return c

    def params(self, tags=None, location=LOCATION, sku="standard", **props):
        return VaultCreateOrUpdateParameters(
            location=location, tags=tags,
            properties=VaultProperties(tenant_id=self.tenant, sku=Sku(family="A", name=sku), **props))

    def create(self, rg, name, tags=None, client=None, **props):
        return (client or self.mgmt).vaults.begin_create_or_update(
            rg, name, self.params(tags=tags, **props)).result()

    def vault_id(self, sub, rg, name):
        return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults/{name}"

    def vault_uri(self, name):
        return f"https://{name.lower()}.vault.localhost:{self.srv.port}/"

    def secrets(self, vault):
        c = self.srv.secret_client(url=vault.properties.vault_uri)
        self._clients.append(c)
        return c

    def keys(self, vault):
        c = self.srv.key_client(url=vault.properties.vault_uri)
        self._clients.append(c)
        return c

    def arm(self, method, path, body=None, token=None, headers=None):
        return self.srv.request(method, path, body, token=token, host="localhost", headers=headers)

    def arm_path(self, sub, rg, name, api_version=ARM):
        p = self.vault_id(sub, rg, name)
        return p if api_version is None else f"{p}?api-version={api_version}"

    def raw_body(self, **props):
        return {"location": LOCATION,
                "properties": {"tenantId": self.tenant, "sku": {"family": "A", "name": "standard"},
                               **props}}

    def assertHttpError(self, status, code, fn, *args, **kwargs):
        with self.assertRaises(HttpResponseError) as cm:
            fn(*args, **kwargs)
        e = cm.exception
        self.assertEqual(e.status_code, status, str(e))
        if code:
            self.assertEqual(e.error.code if e.error else None, code, str(e))
        return e

    def assertRawError(self, r, status, code=None):
        self.assertEqual(r.status, status, r)
        self.assertIsInstance(r.json, dict, r)
        self.assertIsInstance(r.json.get("error"), dict, r)
        self.assertIsInstance(r.json["error"].get("message"), str, r)
        if code:
            self.assertEqual(r.json["error"].get("code"), code, r)
        else:
            self.assertIsInstance(r.json["error"].get("code"), str, r)

    def names(self, items):
        return sorted(v.name for v in items)

    # --- tests -------------------------------------------------------------------------------

    def test_create_and_get(self):
        name = vault_name()
        policy = AccessPolicyEntry(tenant_id=self.tenant, object_id=str(uuid.uuid4()),
                                   permissions=Permissions(secrets=["get", "list"],
                                                           keys=["get", "wrapKey", "unwrapKey"]))
        v = self.create("rg-one", name, tags={"env": "test", "team": "e2e"}, access_policies=[policy])
        self.assertEqual(v.id, self.vault_id(self.sub, "rg-one", name))
        self.assertEqual(v.name, name)
        self.assertEqual(v.type, TYPE)
        self.assertEqual(v.location, LOCATION)
        self.assertEqual(v.tags, {"env": "test", "team": "e2e"})
        p = v.properties
        self.assertEqual(p.tenant_id, self.tenant)
        self.assertEqual((p.sku.family, p.sku.name), ("A", "standard"))
        self.assertEqual(p.vault_uri, self.vault_uri(name))
        self.assertIs(p.enable_soft_delete, True)
        self.assertEqual(p.soft_delete_retention_in_days, 90)
        self.assertNotEqual(p.enable_purge_protection, True)
        # azure.mgmt.keyvault sends enableRbacAuthorization: false (its model default).
        self.assertIs(p.enable_rbac_authorization, False)
        self.assertEqual(p.provisioning_state, "Succeeded")
        self.assertEqual(len(p.access_policies), 1)
        self.assertEqual(p.access_policies[0].object_id, policy.object_id)
        self.assertEqual(p.access_policies[0].tenant_id, self.tenant)
        self.assertEqual(p.access_policies[0].permissions.secrets, ["get", "list"])
        self.assertEqual(p.access_policies[0].permissions.keys, ["get", "wrapKey", "unwrapKey"])

        got = self.mgmt.vaults.get("rg-one", name)
        self.assertEqual(got.id, v.id)
        self.assertEqual(got.name, name)
        self.assertEqual(got.type, TYPE)
        self.assertEqual(got.location, LOCATION)
        self.assertEqual(got.tags, v.tags)
        self.assertEqual(got.properties.vault_uri, p.vault_uri)
        self.assertEqual(got.properties.soft_delete_retention_in_days, 90)
        self.assertIs(got.properties.enable_rbac_authorization, False)
        self.assertEqual(got.properties.provisioning_state, "Succeeded")
        self.assertEqual(len(got.properties.access_policies), 1)

    def test_premium_retention_purge_protection(self):
        name = vault_name()
        v = self.create("rg-one", name, sku="premium", soft_delete_retention_in_days=7,
                        enable_purge_protection=True)
        self.assertEqual(v.properties.sku.name, "premium")
        self.assertEqual(v.properties.soft_delete_retention_in_days, 7)
        self.assertIs(v.properties.enable_purge_protection, True)
        got = self.mgmt.vaults.get("rg-one", name)
        self.assertEqual(got.properties.sku.name, "premium")
        self.assertEqual(got.properties.soft_delete_retention_in_days, 7)
        self.assertIs(got.properties.enable_purge_protection, True)

    def test_rbac_default_depends_on_api_version(self):
        # What each SDK omits, over raw HTTPS: no enableRbacAuthorization in the body.
        for version, expected in (("2026-04-01", True), ("2026-02-01", True), ("2025-05-01", False),
                                  ("2022-07-01", False), ("2019-09-01", False)):
            name = vault_name()
            r = self.arm("PUT", self.arm_path(self.sub, "rg-one", name, version), self.raw_body())
            self.assertIn(r.status, (200, 201), r)
            self.assertIs(r.json["properties"]["enableRbacAuthorization"], expected, (version, r))
            self.assertIs(self.mgmt.vaults.get("rg-one", name).properties.enable_rbac_authorization,
                          expected, version)
        v = self.create("rg-one", vault_name(), enable_rbac_authorization=True)
        self.assertIs(v.properties.enable_rbac_authorization, True)

    def test_mixed_case_name(self):
        name = vault_name("KvMixed")
        v = self.create("rg-one", name)
        self.assertEqual(v.properties.vault_uri, self.vault_uri(name))
        self.assertEqual(v.name.lower(), name.lower())
        with self.assertRaises(ResourceExistsError) as cm:
            self.create("rg-two", name.lower())
        self.assertEqual(cm.exception.error.code, "VaultAlreadyExists")
        self.assertEqual(self.mgmt.vaults.get("rg-one", name.lower()).properties.vault_uri,
                         v.properties.vault_uri)

    def test_scoped_to_subscription_and_resource_group(self):
        name = vault_name()
        v = self.create("rg-one", name)
        with self.assertRaises(ResourceNotFoundError) as cm:
            self.mgmt.vaults.get("rg-two", name)
        self.assertEqual(cm.exception.error.code, "ResourceNotFound")
        other = self.client(str(uuid.uuid4()))
        with self.assertRaises(ResourceNotFoundError):
            other.vaults.get("rg-one", name)
        with self.assertRaises(ResourceExistsError) as cm:
            self.create("rg-two", name)
        self.assertEqual(cm.exception.error.code, "VaultAlreadyExists")
        with self.assertRaises(ResourceExistsError) as cm:
            self.create("rg-one", name, client=other)
        self.assertEqual(cm.exception.error.code, "VaultAlreadyExists")
        # Delete under another resource group or subscription: nothing there (204), nothing gone.
        self.mgmt.vaults.delete("rg-two", name)
        other.vaults.delete("rg-one", name)
        self.assertEqual(self.arm("DELETE", self.arm_path(self.sub, "rg-two", name)).status, 204)
        with self.assertRaises(ResourceNotFoundError):
            self.mgmt.vaults.update("rg-two", name, VaultPatchParameters(tags={"x": "y"}))
        still = self.mgmt.vaults.get("rg-one", name)
        self.assertEqual(still.id, v.id)
        self.assertNotIn("x", still.tags or {})

    def test_create_or_update_existing(self):
        name = vault_name()
        v1 = self.create("rg-one", name, tags={"a": "1"})
        s = self.secrets(v1).set_secret("kept", "value")
        v2 = self.create("rg-one", name, tags={"b": "2"}, sku="premium")
        self.assertEqual(v2.id, v1.id)
        self.assertEqual(v2.tags, {"b": "2"})
        self.assertEqual(v2.properties.sku.name, "premium")
        self.assertEqual(v2.properties.vault_uri, v1.properties.vault_uri)
        got = self.secrets(v2).get_secret("kept")
        self.assertEqual(got.value, "value")
        self.assertEqual(got.properties.version, s.properties.version)

    def test_location_cannot_change(self):
        # Resource Manager refuses a PUT naming another location for an existing resource
        # (InvalidResourceLocation; 400 or 409, not pinned here); the vault stays where it is.
        name = vault_name()
        self.create("rg-one", name)
        with self.assertRaises(HttpResponseError) as cm:
            self.create("rg-one", name, location="eastus")
        self.assertEqual(self.mgmt.vaults.get("rg-one", name).location, LOCATION)
        self.assertIn(cm.exception.status_code, (400, 409), str(cm.exception))
        self.assertEqual(cm.exception.error.code, "InvalidResourceLocation")

    def test_access_policies(self):
        name = vault_name()
        self.create("rg-one", name)
        x, y = str(uuid.uuid4()), str(uuid.uuid4())
        entry = lambda oid, secrets: AccessPolicyEntry(tenant_id=self.tenant, object_id=oid,
                                                       permissions=Permissions(secrets=secrets))
        upd = lambda kind, *entries: self.mgmt.vaults.update_access_policy(
            "rg-one", name, kind,
            VaultAccessPolicyParameters(properties=VaultAccessPolicyProperties(access_policies=list(entries))))
        policies = lambda: self.mgmt.vaults.get("rg-one", name).properties.access_policies or []

        r = upd("add", entry(x, ["get", "list"]), entry(y, ["get"]))
        self.assertEqual(len(r.properties.access_policies), 2)
        self.assertEqual(sorted(p.object_id for p in policies()), sorted([x, y]))
        upd("add", entry(x, ["set"]))
        mine = [p for p in policies() if p.object_id == x]
        self.assertEqual(len(mine), 1)
        self.assertEqual(sorted(mine[0].permissions.secrets), ["get", "list", "set"])  # merged
        upd("remove", entry(x, ["get"]))
        mine = [p for p in policies() if p.object_id == x]
        self.assertEqual(sorted(mine[0].permissions.secrets), ["list", "set"])
        upd("replace", entry(y, ["list"]))
        self.assertEqual([(p.object_id, p.permissions.secrets) for p in policies()], [(y, ["list"])])
        upd("remove", entry(y, ["list"]))
        self.assertEqual(policies(), [])
        with self.assertRaises(ResourceNotFoundError):
            self.mgmt.vaults.update_access_policy(
                "rg-one", vault_name("missing"), "add",
                VaultAccessPolicyParameters(properties=VaultAccessPolicyProperties(access_policies=[entry(x, ["get"])])))

    def test_update_patch(self):
        name = vault_name()
        self.create("rg-one", name, tags={"a": "1"})
        upd = lambda **kw: self.mgmt.vaults.update("rg-one", name, VaultPatchParameters(**kw))

        t = upd(tags={"b": "2", "c": "3"})
        self.assertEqual(t.tags, {"b": "2", "c": "3"})
        self.assertEqual(t.properties.soft_delete_retention_in_days, 90)
        self.assertIs(t.properties.enable_rbac_authorization, False)

        r = upd(properties=VaultPatchProperties(soft_delete_retention_in_days=90))
        self.assertEqual(r.properties.soft_delete_retention_in_days, 90)
        self.assertEqual(r.tags, {"b": "2", "c": "3"})
        self.assertEqual(self.secrets(r).set_secret("after-patch", "x").properties.recoverable_days, 90)
        # the retention is fixed when the vault is created
        self.assertHttpError(400, None, upd, properties=VaultPatchProperties(soft_delete_retention_in_days=30))
        self.assertHttpError(400, None, upd, properties=VaultPatchProperties(soft_delete_retention_in_days=91))

        self.assertIs(upd(properties=VaultPatchProperties(enable_rbac_authorization=True))
                      .properties.enable_rbac_authorization, True)
        self.assertIs(upd(properties=VaultPatchProperties(enable_rbac_authorization=False))
                      .properties.enable_rbac_authorization, False)

        self.assertIs(upd(properties=VaultPatchProperties(enable_purge_protection=True))
                      .properties.enable_purge_protection, True)
        self.assertHttpError(400, None, upd, properties=VaultPatchProperties(enable_purge_protection=False))
        got = self.mgmt.vaults.get("rg-one", name)
        self.assertIs(got.properties.enable_purge_protection, True)
        self.assertEqual(got.properties.soft_delete_retention_in_days, 90)
        self.assertEqual(got.tags, {"b": "2", "c": "3"})

        with self.assertRaises(ResourceNotFoundError):
            self.mgmt.vaults.update("rg-one", vault_name("missing"), VaultPatchParameters(tags={}))

    def test_invalid_names_and_retention(self):
        for bad in BAD_NAMES:
            self.assertHttpError(400, "VaultNameNotValid", self.create, "rg-one", bad)
        self.create("rg-one", ("a" + os.urandom(1).hex())[:3])
        self.create("rg-one", ("v" + os.urandom(12).hex())[:24])
        for days in (6, 91, 0):
            self.assertHttpError(400, None, self.create, "rg-one", vault_name(),
                                 soft_delete_retention_in_days=days)
        self.create("rg-one", vault_name(), soft_delete_retention_in_days=7)

    def test_lists(self):
        lsub = str(uuid.uuid4())
        client = self.client(lsub)
        one = [vault_name("la"), vault_name("lb"), vault_name("lc")]
        two = [vault_name("ld"), vault_name("le")]
        for n in one:
            self.create("rg-one", n, tags={"n": n}, client=client)
        for n in two:
            self.create("rg-two", n, client=client)
        self.create("rg-one", vault_name("lf"))  # another subscription's

        by_sub = list(client.vaults.list_by_subscription())
        self.assertEqual(self.names(by_sub), sorted(one + two))
        for v in by_sub:
            rg = "rg-one" if v.name in one else "rg-two"
            self.assertEqual(v.id, self.vault_id(lsub, rg, v.name))
            self.assertEqual(v.type, TYPE)
            self.assertEqual(v.location, LOCATION)
            self.assertEqual(v.properties.vault_uri, self.vault_uri(v.name))
        by_rg = list(client.vaults.list_by_resource_group("rg-one"))
        self.assertEqual(self.names(by_rg), sorted(one))
        self.assertEqual(next(v for v in by_rg if v.name == one[0]).tags, {"n": one[0]})
        self.assertEqual(self.names(client.vaults.list_by_resource_group("rg-two")), sorted(two))
        self.assertEqual(list(client.vaults.list_by_resource_group("rg-empty")), [])

        generic = list(client.vaults.list())
        self.assertEqual(self.names(generic), sorted(one + two))
        for r in generic:
            rg = "rg-one" if r.name in one else "rg-two"
            self.assertEqual(r.id, self.vault_id(lsub, rg, r.name))
            self.assertEqual(r.type, TYPE)
            self.assertEqual(r.location, LOCATION)
        self.assertEqual(next(r for r in generic if r.name == one[1]).tags, {"n": one[1]})

        # $top: following nextLink yields every vault once, pages of at most $top.
        self.assertEqual(self.names(client.vaults.list_by_subscription(top=2)), sorted(one + two))
        self.assertEqual(self.names(client.vaults.list_by_resource_group("rg-one", top=1)), sorted(one))
        self.assertEqual(self.names(client.vaults.list(top=2)), sorted(one + two))
        pages = [len(list(p)) for p in client.vaults.list_by_subscription(top=2).by_page()]
        self.assertTrue(all(n <= 2 for n in pages), pages)

    def test_default_vault(self):
        own = self.client(self.tenant)
        d = next((v for v in own.vaults.list_by_subscription() if v.name == "default"), None)
        self.assertIsNotNone(d)
        self.assertEqual(d.id, self.vault_id(self.tenant, "kluis", "default"))
        self.assertEqual(d.type, TYPE)
        self.assertEqual(d.properties.vault_uri, f"https://default.vault.localhost:{self.srv.port}/")
        self.assertEqual(d.properties.tenant_id, self.tenant)
        self.assertEqual(own.vaults.get("kluis", "default").id, d.id)
        self.assertIn("default", self.names(own.vaults.list()))
        self.assertNotIn("default", self.names(self.mgmt.vaults.list_by_subscription()))
        with self.assertRaises(ResourceExistsError):
            self.create("rg-one", "default")

    def test_check_name_availability(self):
        taken = vault_name()
        self.create("rg-one", taken)
        check = lambda n, c=None: (c or self.mgmt).vaults.check_name_availability(
            VaultCheckNameAvailabilityParameters(name=n))
        free = check(vault_name("free"))
        self.assertIs(free.name_available, True)
        t = check(taken)
        self.assertIs(t.name_available, False)
        self.assertEqual(t.reason, "AlreadyExists")
        self.assertTrue(t.message)
        self.assertIs(check(taken.upper()).name_available, False)
        self.assertIs(check(taken, self.client(str(uuid.uuid4()))).name_available, False)
        self.assertIs(check("default").name_available, False)
        for bad in BAD_NAMES:
            r = check(bad)
            self.assertIs(r.name_available, False, bad)
            self.assertEqual(r.reason, "AccountNameInvalid", bad)

    def test_new_vault_answers_at_its_uri(self):
        v = self.create("rg-one", vault_name(), soft_delete_retention_in_days=7)
        sc = self.secrets(v)
        s = sc.set_secret("hello", "world")
        self.assertEqual(s.id, f"{v.properties.vault_uri}secrets/hello/{s.properties.version}")
        self.assertEqual(s.properties.recoverable_days, 7)
        self.assertEqual(s.properties.recovery_level, "CustomizedRecoverable+Purgeable")
        self.assertEqual(sc.get_secret("hello").value, "world")
        k = self.keys(v).create_ec_key("k1", curve="P-256")
        self.assertEqual(k.id, f"{v.properties.vault_uri}keys/k1/{k.properties.version}")
        self.assertEqual(k.properties.recoverable_days, 7)
        d = sc.begin_delete_secret("hello").result()
        self.assertEqual(int(d.scheduled_purge_date.timestamp() - d.deleted_date.timestamp()), 7 * DAY)
        dflt = self.srv.secret_client()
        self._clients.append(dflt)
        with self.assertRaises(ResourceNotFoundError):
            dflt.get_deleted_secret("hello")

    def test_purge_protection_on_the_data_plane(self):
        v = self.create("rg-one", vault_name(), enable_purge_protection=True)
        sc, kc = self.secrets(v), self.keys(v)
        s = sc.set_secret("guarded", "x")
        self.assertEqual(s.properties.recovery_level, "Recoverable")
        self.assertEqual(s.properties.recoverable_days, 90)
        sc.begin_delete_secret("guarded").result()
        self.assertHttpError(403, None, sc.purge_deleted_secret, "guarded")
        self.assertEqual(kc.create_rsa_key("gk").properties.recovery_level, "Recoverable")
        kc.begin_delete_key("gk").result()
        self.assertHttpError(403, None, kc.purge_deleted_key, "gk")

        plain = self.secrets(self.create("rg-one", vault_name()))
        self.assertEqual(plain.set_secret("p", "x").properties.recovery_level, "Recoverable+Purgeable")
        plain.begin_delete_secret("p").result()
        plain.purge_deleted_secret("p")

    def test_delete_then_recover(self):
        name = vault_name()
        v = self.create("rg-one", name, tags={"keep": "me"}, soft_delete_retention_in_days=10,
                        enable_rbac_authorization=True)
        sc = self.secrets(v)
        s = sc.set_secret("survivor", "still here")
        self.keys(v).create_ec_key("kk")

        t0 = time.time()
        self.mgmt.vaults.delete("rg-one", name)
        with self.assertRaises(ResourceNotFoundError):
            self.mgmt.vaults.get("rg-one", name)
        self.assertNotIn(name, self.names(self.mgmt.vaults.list_by_subscription()))
        self.assertNotIn(name, self.names(self.mgmt.vaults.list()))
        self.mgmt.vaults.delete("rg-one", name)  # again: 204, no error

        with self.assertRaises(ResourceNotFoundError):
            sc.get_secret("survivor")
        with self.assertRaises(ResourceNotFoundError):
            self.secrets(v).get_secret("survivor")

        dv = self.mgmt.vaults.get_deleted(name, LOCATION)
        self.assertEqual(dv.name, name)
        self.assertEqual(
            dv.id, f"/subscriptions/{self.sub}/providers/Microsoft.KeyVault/locations/{LOCATION}/deletedVaults/{name}")
        self.assertEqual(dv.type, "Microsoft.KeyVault/deletedVaults")
        self.assertEqual(dv.properties.vault_id, v.id)
        self.assertEqual(dv.properties.location, LOCATION)
        self.assertEqual(dv.properties.tags, {"keep": "me"})
        self.assertNotEqual(dv.properties.purge_protection_enabled, True)
        deletion = dv.properties.deletion_date.timestamp()
        self.assertLess(abs(deletion - t0), 30)
        self.assertEqual(int(dv.properties.scheduled_purge_date.timestamp() - deletion), 10 * DAY)
        listed = {d.name: d for d in self.mgmt.vaults.list_deleted()}
        self.assertIn(name, listed)
        self.assertEqual(listed[name].properties.vault_id, v.id)
        self.assertNotIn(name, [d.name for d in self.client(str(uuid.uuid4())).vaults.list_deleted()])
        with self.assertRaises(ResourceNotFoundError):
            self.mgmt.vaults.get_deleted(vault_name("never"), LOCATION)

        with self.assertRaises(ResourceExistsError) as cm:
            self.create("rg-one", name)
        self.assertEqual(cm.exception.error.code, "ConflictError")
        with self.assertRaises(ResourceExistsError):
            self.create("rg-two", name)
        self.assertIs(self.mgmt.vaults.check_name_availability(
            VaultCheckNameAvailabilityParameters(name=name)).name_available, False)

        # The Python model sends its defaults (retention 90, enableRbacAuthorization false) with
        # createMode recover too, as `az keyvault recover` does: the recovered vault keeps its own.
        back = self.create("rg-one", name, create_mode="recover")
        self.assertEqual(back.id, v.id)
        self.assertEqual(back.properties.vault_uri, v.properties.vault_uri)
        self.assertEqual(back.properties.provisioning_state, "Succeeded")
        self.assertEqual(back.properties.soft_delete_retention_in_days, 10)
        self.assertIs(back.properties.enable_rbac_authorization, True)
        self.assertEqual(self.mgmt.vaults.get("rg-one", name).tags, {"keep": "me"})
        self.assertNotIn(name, [d.name for d in self.mgmt.vaults.list_deleted()])
        with self.assertRaises(ResourceNotFoundError):
            self.mgmt.vaults.get_deleted(name, LOCATION)

        got = self.secrets(back).get_secret("survivor")
        self.assertEqual(got.value, "still here")
        self.assertEqual(got.properties.version, s.properties.version)
        self.assertEqual(sc.get_secret("survivor").value, "still here")
        self.assertEqual(self.keys(back).get_key("kk").name, "kk")

    def test_deleted_vault_belongs_to_its_place(self):
        name = vault_name()
        v = self.create("rg-one", name)
        self.secrets(v).set_secret("mine", "x")
        self.mgmt.vaults.delete("rg-one", name)
        other = self.client(str(uuid.uuid4()))
        with self.assertRaises(ResourceNotFoundError):
            self.mgmt.vaults.get_deleted(name, "eastus")
        with self.assertRaises(ResourceNotFoundError):
            other.vaults.get_deleted(name, LOCATION)
        with self.assertRaises(ResourceNotFoundError):
            other.vaults.begin_purge_deleted(name, LOCATION).result()
        with self.assertRaises(ResourceNotFoundError):
            self.mgmt.vaults.begin_purge_deleted(name, "eastus").result()
        for what, rg, client in (("another subscription", "rg-one", other),
                                 ("another resource group", "rg-two", self.mgmt)):
            try:
                res = self.create(rg, name, client=client, create_mode="recover")
            except HttpResponseError as e:
                self.assertTrue(400 <= e.status_code < 500, f"{what}: {e}")
            else:
                self.fail(f"recover under {what}: succeeded with {res.id}")
        with self.assertRaises(ResourceNotFoundError):
            self.mgmt.vaults.get("rg-one", name)
        self.assertIn(name, [d.name for d in self.mgmt.vaults.list_deleted()])
        back = self.create("rg-one", name, create_mode="recover")
        self.assertEqual(back.id, v.id)
        self.assertEqual(self.secrets(back).get_secret("mine").value, "x")

    def test_recover_needs_a_deleted_vault(self):
        name = vault_name("norec")
        with self.assertRaises(HttpResponseError) as cm:
            self.create("rg-one", name, create_mode="recover")
        self.assertTrue(400 <= cm.exception.status_code < 500, str(cm.exception))
        with self.assertRaises(ResourceNotFoundError):
            self.mgmt.vaults.get("rg-one", name)

    def test_purge(self):
        name = vault_name()
        v = self.create("rg-one", name)
        self.secrets(v).set_secret("old", "data")
        self.keys(v).create_ec_key("oldkey")
        self.mgmt.vaults.delete("rg-one", name)
        self.mgmt.vaults.begin_purge_deleted(name, LOCATION).result()
        self.assertNotIn(name, [d.name for d in self.mgmt.vaults.list_deleted()])
        with self.assertRaises(ResourceNotFoundError):
            self.mgmt.vaults.get_deleted(name, LOCATION)
        self.assertIs(self.mgmt.vaults.check_name_availability(
            VaultCheckNameAvailabilityParameters(name=name)).name_available, True)
        with self.assertRaises(ResourceNotFoundError):
            self.mgmt.vaults.begin_purge_deleted(name, LOCATION).result()

        v2 = self.create("rg-two", name)
        self.assertEqual(v2.id, self.vault_id(self.sub, "rg-two", name))
        sc = self.secrets(v2)
        with self.assertRaises(ResourceNotFoundError):
            sc.get_secret("old")
        self.assertEqual(list(sc.list_properties_of_secrets()), [])
        self.assertEqual(list(sc.list_deleted_secrets()), [])
        self.assertEqual(list(self.keys(v2).list_properties_of_keys()), [])

    def test_purge_protected_vault_is_not_purged(self):
        name = vault_name()
        self.create("rg-one", name, enable_purge_protection=True, soft_delete_retention_in_days=7)
        self.mgmt.vaults.delete("rg-one", name)
        self.assertIs(self.mgmt.vaults.get_deleted(name, LOCATION).properties.purge_protection_enabled, True)
        with self.assertRaises(HttpResponseError) as cm:
            self.mgmt.vaults.begin_purge_deleted(name, LOCATION).result()
        self.assertTrue(400 <= cm.exception.status_code < 500, str(cm.exception))
        self.assertIn(name, [d.name for d in self.mgmt.vaults.list_deleted()])
        back = self.create("rg-one", name, create_mode="recover")
        self.assertIs(back.properties.enable_purge_protection, True)

    def test_bad_input_raw(self):
        name = vault_name()
        body = self.raw_body()
        path = self.arm_path(self.sub, "rg-one", name)
        self.assertRawError(self.arm("PUT", path, {"properties": body["properties"]}), 400)
        self.assertRawError(self.arm("PUT", path, {"location": LOCATION}), 400)
        self.assertRawError(self.arm("PUT", path, '{"location": "x", "properties": {',
                                     headers={"Content-Type": "application/json"}), 400)
        self.assertRawError(self.arm("PATCH", path, "[1, 2",
                                     headers={"Content-Type": "application/json"}), 400)
        self.assertRawError(self.arm("PUT", self.arm_path(self.sub, "rg-one", name, "1999-01-01"), body),
                            400, "InvalidApiVersionParameter")
        self.assertRawError(self.arm("PUT", self.arm_path(self.sub, "rg-one", name, None), body),
                            400, "MissingApiVersionParameter")
        self.assertRawError(self.arm("GET", f"/subscriptions/{self.sub}/providers/Microsoft.KeyVault/vaults"),
                            400, "MissingApiVersionParameter")
        self.assertRawError(self.arm("GET", path), 404, "ResourceNotFound")
        noauth = self.arm("GET", path, token=False)
        self.assertRawError(noauth, 401)
        self.assertIn("www-authenticate", noauth.headers)
        self.assertRawError(self.arm("PUT", path, body, token=False), 401)
        self.assertRawError(self.arm("GET", path), 404, "ResourceNotFound")
        bogus = self.srv.mgmt_client(self.sub, credential=harness.StaticCredential("kl1.bogus"))
        self._clients.append(bogus)
        with self.assertRaises(ClientAuthenticationError):
            bogus.vaults.get("rg-one", name)

    def test_zz_survives_restart(self):
        # Runs last (unittest orders by name): restarts the server.
        name, gone = vault_name("dur"), vault_name("durdel")
        v = self.create("rg-two", name, tags={"d": "1"}, soft_delete_retention_in_days=14,
                        enable_purge_protection=True)
        self.secrets(v).set_secret("persisted", "yes")
        self.create("rg-one", gone)
        self.mgmt.vaults.delete("rg-one", gone)
        before = self.names(self.mgmt.vaults.list_by_subscription())
        self.assertEqual(self.srv.restart(), 0)
        got = self.mgmt.vaults.get("rg-two", name)
        self.assertEqual(got.id, v.id)
        self.assertEqual(got.tags, {"d": "1"})
        self.assertEqual(got.properties.soft_delete_retention_in_days, 14)
        self.assertIs(got.properties.enable_purge_protection, True)
        self.assertEqual(got.properties.vault_uri, v.properties.vault_uri)
        self.assertEqual(self.names(self.mgmt.vaults.list_by_subscription()), before)
        s = self.secrets(v).get_secret("persisted")
        self.assertEqual(s.value, "yes")
        self.assertEqual(s.properties.recovery_level, "CustomizedRecoverable")
        self.assertEqual(self.mgmt.vaults.get_deleted(gone, LOCATION).properties.vault_id,
                         self.vault_id(self.sub, "rg-one", gone))
        with self.assertRaises(ResourceExistsError):
            self.create("rg-one", gone)


if __name__ == "__main__":
    unittest.main()
