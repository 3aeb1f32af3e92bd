"""Soft delete, recovery, purge and retention through azure.keyvault.secrets."""

import time
import unittest

from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

import harness
from harness import unique_name

DAY = 86400


class SoftDeleteTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.start_server()
        cls.client = cls.srv.secret_client()

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.srv.close()

    def test_cycle_delete_recover(self):
        name = unique_name("sd")
        v1 = self.client.set_secret(name, "first")
        v2 = self.client.set_secret(name, "second", content_type="c2", tags={"t": "2"})
        t0 = time.time()
        d = self.client.begin_delete_secret(name).result()
        self.assertEqual(d.name, name)
        self.assertEqual(d.recovery_id, f"{self.srv.vault_url}/deletedsecrets/{name}")
        self.assertEqual(d.id, v2.id)
        self.assertLess(abs(d.deleted_date.timestamp() - t0), 30)
        self.assertEqual(d.scheduled_purge_date.timestamp(), d.deleted_date.timestamp() + 90 * DAY)
        self.assertEqual(d.properties.recovery_level, "Recoverable+Purgeable")
        self.assertEqual(d.properties.recoverable_days, 90)
        self.assertEqual(d.properties.content_type, "c2")

        with self.assertRaises(ResourceNotFoundError):
            self.client.get_secret(name)
        with self.assertRaises(ResourceNotFoundError):
            self.client.get_secret(name, v1.properties.version)
        g = self.client.get_deleted_secret(name)
        self.assertEqual(g.recovery_id, d.recovery_id)
        self.assertEqual(g.deleted_date, d.deleted_date)
        self.assertEqual(g.scheduled_purge_date, d.scheduled_purge_date)
        deleted = {x.name: x for x in self.client.list_deleted_secrets()}
        self.assertIn(name, deleted)
        self.assertEqual(deleted[name].recovery_id, d.recovery_id)
        self.assertNotIn(name, [p.name for p in self.client.list_properties_of_secrets()])

        with self.assertRaises(ResourceExistsError) as cm:
            self.client.set_secret(name, "third")
        self.assertEqual(cm.exception.error.code, "Conflict")
        self.assertIn("deleted but recoverable", cm.exception.error.message)
        with self.assertRaises(ResourceNotFoundError):
            self.client.begin_delete_secret(name).result()

        r = self.client.begin_recover_deleted_secret(name).result()
        self.assertEqual(r.name, name)
        self.assertEqual(r.version, v2.properties.version)
        back = self.client.get_secret(name)
        self.assertEqual(back.value, "second")
        self.assertEqual(back.properties.tags, {"t": "2"})
        self.assertEqual(self.client.get_secret(name, v1.properties.version).value, "first")
        self.assertEqual(len(list(self.client.list_properties_of_secret_versions(name))), 2)
        with self.assertRaises(ResourceNotFoundError):
            self.client.get_deleted_secret(name)
        self.assertEqual(self.client.set_secret(name, "third").value, "third")

    def test_delete_purge_frees_name(self):
        name = unique_name("purge")
        self.client.set_secret(name, "old 1")
        self.client.set_secret(name, "old 2")
        self.client.begin_delete_secret(name).result()
        self.assertIsNone(self.client.purge_deleted_secret(name))
        with self.assertRaises(ResourceNotFoundError):
            self.client.get_deleted_secret(name)
        with self.assertRaises(ResourceNotFoundError):
            self.client.purge_deleted_secret(name)
        self.assertNotIn(name, [x.name for x in self.client.list_deleted_secrets()])
        fresh = self.client.set_secret(name, "new")
        versions = list(self.client.list_properties_of_secret_versions(name))
        self.assertEqual([v.version for v in versions], [fresh.properties.version])

    def test_poller_wait(self):
        name = unique_name("wait")
        self.client.set_secret(name, "w")
        poller = self.client.begin_delete_secret(name)
        poller.wait()  # polls GET /deletedsecrets/NAME until 200: must be readable at once
        self.assertTrue(poller.done())
        rp = self.client.begin_recover_deleted_secret(name)
        rp.wait()
        self.assertEqual(self.client.get_secret(name).value, "w")

    def test_wrong_state_is_404(self):
        missing = unique_name("missing")
        for fn in (lambda: self.client.begin_delete_secret(missing).result(),
                   lambda: self.client.get_deleted_secret(missing),
                   lambda: self.client.purge_deleted_secret(missing),
                   lambda: self.client.begin_recover_deleted_secret(missing).result()):
            with self.assertRaises(ResourceNotFoundError):
                fn()
        live = unique_name("live")
        self.client.set_secret(live, "v")
        for fn in (lambda: self.client.get_deleted_secret(live),
                   lambda: self.client.purge_deleted_secret(live),
                   lambda: self.client.begin_recover_deleted_secret(live).result()):
            with self.assertRaises(ResourceNotFoundError):
                fn()
        self.assertEqual(self.client.get_secret(live).value, "v")

    def test_get_deleted_of_disabled_latest_is_403(self):
        name = unique_name("sddis")
        self.client.set_secret(name, "v", enabled=False)
        self.client.begin_delete_secret(name).result()
        with self.assertRaises(HttpResponseError) as cm:
            self.client.get_deleted_secret(name)
        self.assertEqual(cm.exception.status_code, 403)

    def test_deleted_list_pages(self):
        prefix = unique_name("many")
        names = [f"{prefix}-{i}" for i in range(27)]
        for n in names:
            self.client.set_secret(n, "x")
        for n in names:
            self.client.begin_delete_secret(n).result()
        seen = []
        for page in self.client.list_deleted_secrets(max_page_size=10).by_page():
            page = list(page)
            self.assertLessEqual(len(page), 10)
            seen += [d.name for d in page]
        self.assertEqual(len(seen), len(set(seen)))
        for n in names:
            self.assertIn(n, seen)


class RetentionSevenDaysTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.start_server(retention_days=7)
        cls.client = cls.srv.secret_client()

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.srv.close()

    def test_customized_recovery_level(self):
        name = unique_name("r7")
        s = self.client.set_secret(name, "x")
        self.assertEqual(s.properties.recovery_level, "CustomizedRecoverable+Purgeable")
        self.assertEqual(s.properties.recoverable_days, 7)
        d = self.client.begin_delete_secret(name).result()
        self.assertEqual(d.scheduled_purge_date.timestamp(), d.deleted_date.timestamp() + 7 * DAY)


if __name__ == "__main__":
    unittest.main()
