"""Every live-secret operation through Debian's azure.keyvault.secrets against a real kluisd."""

import datetime
import time
import unittest

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

import harness
from harness import unique_name

UTC = datetime.timezone.utc


def _utc(ts):
    return datetime.datetime.fromtimestamp(int(ts), tz=UTC)


class SecretsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.start_server()
        cls.client = cls.srv.secret_client()

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

    def test_set_returns_value_version_and_id(self):
        name = unique_name()
        t0 = time.time() - 5
        s = self.client.set_secret(name, "first value", content_type="text/plain",
                                   tags={"env": "test", "owner": "e2e"})
        self.assertEqual(s.name, name)
        self.assertEqual(s.value, "first value")
        self.assertRegex(s.properties.version, r"^[0-9a-f]{32}$")
        self.assertEqual(s.id, f"{self.srv.vault_url}/secrets/{name}/{s.properties.version}")
        self.assertEqual(s.properties.vault_url, self.srv.vault_url)
        self.assertEqual(s.properties.content_type, "text/plain")
        self.assertEqual(s.properties.tags, {"env": "test", "owner": "e2e"})
        self.assertTrue(s.properties.enabled)
        self.assertEqual(s.properties.recovery_level, "Recoverable+Purgeable")
        self.assertEqual(s.properties.recoverable_days, 90)
        created = s.properties.created_on.timestamp()
        self.assertTrue(t0 <= created <= time.time() + 5, s.properties.created_on)
        self.assertEqual(s.properties.updated_on, s.properties.created_on)
        self.assertIsNone(s.properties.not_before)
        self.assertIsNone(s.properties.expires_on)
        s2 = self.client.set_secret(name, "second value")
        self.assertNotEqual(s2.properties.version, s.properties.version)
        self.assertIsNone(s2.properties.content_type)

    def test_get_latest_and_version(self):
        name = unique_name()
        v1 = self.client.set_secret(name, "one")
        v2 = self.client.set_secret(name, "two")
        latest = self.client.get_secret(name)
        self.assertEqual(latest.value, "two")
        self.assertEqual(latest.id, v2.id)
        self.assertEqual(self.client.get_secret(name, v1.properties.version).value, "one")
        self.assertEqual(self.client.get_secret(name, v2.properties.version).value, "two")
        # An empty version is the latest too (GET /secrets/NAME/).
        self.assertEqual(self.client.get_secret(name, "").value, "two")

    def test_unknown_name_or_version_is_404(self):
        with self.assertRaises(ResourceNotFoundError) as cm:
            self.client.get_secret(unique_name("missing"))
        self.assertEqual(cm.exception.error.code, "SecretNotFound")
        name = unique_name()
        self.client.set_secret(name, "x")
        with self.assertRaises(ResourceNotFoundError):
            self.client.get_secret(name, "0123456789abcdef0123456789abcdef")

    def test_update_properties(self):
        name = unique_name()
        s = self.client.set_secret(name, "keep me", content_type="a", tags={"a": "1", "b": "2"})
        nbf = _utc(time.time() - 3600)
        exp = _utc(time.time() + 30 * 86400)
        p = self.client.update_secret_properties(name, s.properties.version, content_type="application/x-updated",
                                                 tags={"c": "3"}, not_before=nbf, expires_on=exp)
        self.assertEqual(p.content_type, "application/x-updated")
        self.assertEqual(p.tags, {"c": "3"})
        self.assertEqual(p.not_before, nbf)
        self.assertEqual(p.expires_on, exp)
        self.assertTrue(p.enabled)
        self.assertEqual(p.version, s.properties.version)
        got = self.client.get_secret(name)
        self.assertEqual(got.value, "keep me")
        self.assertEqual(got.properties.content_type, "application/x-updated")
        self.assertEqual(got.properties.not_before, nbf)
        self.assertEqual(got.properties.expires_on, exp)
        self.assertEqual(len(list(self.client.list_properties_of_secret_versions(name))), 1)
        # Latest version by omitting it.
        p2 = self.client.update_secret_properties(name, content_type="latest")
        self.assertEqual(p2.version, s.properties.version)
        self.assertEqual(p2.tags, {"c": "3"}, "tags kept when the update names none")

    def test_update_unknown_is_404(self):
        with self.assertRaises(ResourceNotFoundError):
            self.client.update_secret_properties(unique_name("missing"), "0123456789abcdef0123456789abcdef",
                                                 enabled=False)

    def test_disabled_version_is_403(self):
        name = unique_name()
        v1 = self.client.set_secret(name, "enabled one")
        v2 = self.client.set_secret(name, "disabled one", enabled=False)
        self.assertFalse(v2.properties.enabled)
        e = self.assertHttpError(403, "Forbidden", self.client.get_secret, name)
        self.assertNotIn("disabled one", str(e))
        self.assertEqual(e.error.innererror.get("code") if isinstance(e.error.innererror, dict)
                         else getattr(e.error.innererror, "code", None), "SecretDisabled")
        self.assertHttpError(403, "Forbidden", self.client.get_secret, name, v2.properties.version)
        self.assertEqual(self.client.get_secret(name, v1.properties.version).value, "enabled one")
        listed = [p for p in self.client.list_properties_of_secrets() if p.name == name]
        self.assertEqual(len(listed), 1)
        self.assertFalse(listed[0].enabled)
        p = self.client.update_secret_properties(name, v2.properties.version, enabled=True)
        self.assertTrue(p.enabled)
        self.assertEqual(self.client.get_secret(name).value, "disabled one")

    def test_nbf_exp_informational(self):
        name = unique_name()
        self.client.set_secret(name, "expired", expires_on=_utc(time.time() - 86400))
        self.assertEqual(self.client.get_secret(name).value, "expired")
        name2 = unique_name()
        self.client.set_secret(name2, "not yet", not_before=_utc(time.time() + 86400))
        self.assertEqual(self.client.get_secret(name2).value, "not yet")

    def test_empty_value(self):
        name = unique_name()
        self.assertEqual(self.client.set_secret(name, "").value, "")
        self.assertEqual(self.client.get_secret(name).value, "")

    def test_unicode_round_trip(self):
        for v in ["héllo wörld ✓ 🔑 日本語 Ελληνικά", 'quote " backslash \\ tab \t nl \n cr \r',
                  "\u0001\u001f\u007f\u2028\u2029\ufeff", "  spaces  "]:
            name = unique_name("u")
            self.assertEqual(self.client.set_secret(name, v).value, v)
            self.assertEqual(self.client.get_secret(name).value, v)

    def test_value_size_limit(self):
        name = unique_name()
        big = "x" * 25600
        self.assertEqual(self.client.set_secret(name, big).value, big)
        self.assertEqual(self.client.get_secret(name).value, big)
        wide = "é" * 12800  # 25600 bytes of UTF-8
        self.assertEqual(self.client.set_secret(unique_name(), wide).value, wide)
        self.assertHttpError(400, "BadParameter", self.client.set_secret, name, big + "y")
        self.assertHttpError(400, "BadParameter", self.client.set_secret, unique_name(), wide + "y")
        self.assertEqual(len(list(self.client.list_properties_of_secret_versions(name))), 1)

    def test_names(self):
        n127 = "a" * 100 + "-" + "B" * 20 + "012345"
        self.assertEqual(len(n127), 127)
        self.assertEqual(self.client.set_secret(n127, "ok").name, n127)
        self.assertEqual(self.client.get_secret(n127).value, "ok")
        for bad in ["a" * 128, "bad_name", "a.b", "spa ce"]:
            self.assertHttpError(400, "BadParameter", self.client.set_secret, bad, "v")

    def test_tags_and_content_type_limits(self):
        tags15 = {f"k{i}": f"v{i}" for i in range(15)}
        name = unique_name()
        s = self.client.set_secret(name, "t", tags=tags15)
        self.assertEqual(s.properties.tags, tags15)
        tags16 = dict(tags15, k15="v15")
        self.assertHttpError(400, "BadParameter", self.client.set_secret, unique_name(), "t", tags=tags16)
        self.assertHttpError(400, "BadParameter", self.client.update_secret_properties, name,
                             s.properties.version, tags=tags16)
        self.assertEqual(self.client.get_secret(name).properties.tags, tags15)
        ct = "c" * 255
        self.assertEqual(self.client.set_secret(unique_name(), "t", content_type=ct).properties.content_type, ct)
        self.assertHttpError(400, "BadParameter", self.client.set_secret, unique_name(), "t",
                             content_type=ct + "c")

    def test_api_versions(self):
        for v in ["7.0", "7.1", "7.2", "7.3"]:
            with self.srv.secret_client(api_version=v) as c:
                name = unique_name("api")
                self.assertEqual(c.set_secret(name, v).value, v)
                self.assertEqual(c.get_secret(name).value, v, v)
                self.assertEqual(len(list(c.list_properties_of_secret_versions(name))), 1)

    def test_api_version_2016_10_01(self):
        with self.srv.secret_client(api_version="2016-10-01") as c:
            name = unique_name("api2016")
            self.assertEqual(c.set_secret(name, "old").value, "old")
            self.assertEqual(c.get_secret(name).value, "old")

    def test_request_ids(self):
        name = unique_name()
        self.client.set_secret(name, "h")
        seen = {}

        def hook(response):
            seen["req"] = response.http_request.headers.get("x-ms-client-request-id")
            seen["resp"] = response.http_response.headers.get("x-ms-client-request-id")
            seen["rid"] = response.http_response.headers.get("x-ms-request-id")

        self.client.get_secret(name, raw_response_hook=hook)
        self.assertTrue(seen.get("req"))
        self.assertEqual(seen["resp"], seen["req"])
        self.assertTrue(seen["rid"])
        for path, status in [(f"/secrets/{name}?api-version=7.3", 200),
                             (f"/secrets/{unique_name('missing')}?api-version=7.3", 404)]:
            r = self.srv.request("GET", path, headers={"x-ms-client-request-id": "py-cid-1"})
            self.assertEqual(r.status, status, r)
            self.assertEqual(r.headers.get("x-ms-client-request-id"), "py-cid-1")
            self.assertTrue(r.headers.get("x-ms-request-id"))


if __name__ == "__main__":
    unittest.main()
