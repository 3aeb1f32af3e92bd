"""Paging through azure.keyvault.secrets over more than 25 secrets and 30 versions."""

import unittest
import urllib.parse

import harness

N_SECRETS = 60
N_VERSIONS = 30


class PagingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.start_server()
        cls.client = cls.srv.secret_client()
        cls.names = [f"pypage-{i:03d}" for i in range(N_SECRETS)]
        for i, n in enumerate(cls.names):
            cls.client.set_secret(n, f"value {i}", content_type=f"ct-{i}")
        for v in range(N_VERSIONS):
            cls.client.set_secret("many-versions", f"version {v}")
        cls.all = sorted(cls.names + ["many-versions"])

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.srv.close()

    def pages(self, paged):
        sizes, items = [], []
        for page in paged.by_page():
            page = list(page)
            sizes.append(len(page))
            items += page
        return sizes, items

    def test_default_paging(self):
        sizes, items = self.pages(self.client.list_properties_of_secrets())
        self.assertEqual(sorted(p.name for p in items), self.all)
        self.assertEqual(sizes, [25, 25, 11])

    def test_page_sizes(self):
        total = N_SECRETS + 1
        for size in (25, 10, 3):
            sizes, items = self.pages(self.client.list_properties_of_secrets(max_page_size=size))
            self.assertEqual(sorted(p.name for p in items), self.all, size)
            expected = [size] * (total // size) + ([total % size] if total % size else [])
            self.assertEqual(sizes, expected, size)

    def test_list_items(self):
        items = {p.name: p for p in self.client.list_properties_of_secrets()}
        p = items["pypage-007"]
        self.assertEqual(p.id, f"{self.srv.vault_url}/secrets/pypage-007")
        self.assertEqual(p.content_type, "ct-7")
        self.assertIsNone(p.version)

    def test_versions(self):
        versions = list(self.client.list_properties_of_secret_versions("many-versions"))
        self.assertEqual(len(versions), N_VERSIONS)
        self.assertEqual(len({v.version for v in versions}), N_VERSIONS)
        for v in versions:
            self.assertEqual(v.id, f"{self.srv.vault_url}/secrets/many-versions/{v.version}")
        sizes, _ = self.pages(self.client.list_properties_of_secret_versions("many-versions", max_page_size=25))
        self.assertEqual(sizes, [25, 5])
        values = {self.client.get_secret("many-versions", v.version).value for v in versions}
        self.assertEqual(values, {f"version {i}" for i in range(N_VERSIONS)})

    def test_versions_of_unknown_or_deleted_name_are_empty(self):
        gone = "pyversions-gone"
        self.client.set_secret(gone, "v")
        self.client.begin_delete_secret(gone).result()
        for name in ("no-such-secret", gone):
            self.assertEqual(list(self.client.list_properties_of_secret_versions(name)), [])
            sizes, _ = self.pages(self.client.list_properties_of_secret_versions(name, max_page_size=5))
            self.assertEqual(sum(sizes), 0)
            for q in ("api-version=7.5", "api-version=7.5&maxresults=5"):
                r = self.srv.request("GET", f"/secrets/{name}/versions?{q}")
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.json, {"value": [], "nextLink": None})

    def test_next_link_raw(self):
        r = self.srv.request("GET", "/secrets?api-version=7.3&maxresults=25")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(r.json["value"]), 25)
        link = urllib.parse.urlsplit(r.json["nextLink"])
        self.assertEqual(f"{link.scheme}://{link.netloc}", self.srv.vault_url)
        q = urllib.parse.parse_qs(link.query)
        self.assertIn("$skiptoken", q)
        self.assertIn("api-version", q)
        seen = {i["id"] for i in r.json["value"]}
        nxt = r.json["nextLink"]
        pages = 1
        while nxt:
            u = urllib.parse.urlsplit(nxt)
            p = self.srv.request("GET", f"{u.path}?{u.query}")
            self.assertEqual(p.status, 200, p)
            for i in p.json["value"]:
                self.assertNotIn(i["id"], seen)
                seen.add(i["id"])
            nxt = p.json.get("nextLink")
            pages += 1
            self.assertLess(pages, 10)
        self.assertEqual(len(seen), N_SECRETS + 1)
        self.assertEqual(pages, 3)


if __name__ == "__main__":
    unittest.main()
