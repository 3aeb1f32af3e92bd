"""Hostile bytes against a real kluisd, with nothing but Python's standard library.

Run: /usr/bin/python3 -m unittest discover -s tests/e2e/raw -v   (KLUISD names the binary)

Every test sends something a well-behaved SDK never would and checks the status and the JSON
error body. After every test, tearDown checks that the server still answers /health and that a
canary secret stored at the start is unchanged (value, versions, attributes).
"""

import http.client
import json
import os
import socket
import ssl
import sys
import threading
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "py"))
import harness  # noqa: E402  (stdlib only: the SDK is imported lazily there)
from rawlib import Raw, assert_azure_error, raw_once  # noqa: E402  (test_connections imports Raw from here)

API = "api-version=7.6"
MIB = 1024 * 1024


class HostileTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.start_server()
        r = cls.srv.request("PUT", f"/secrets/canary?{API}",
                            body={"value": "canary value", "contentType": "c", "tags": {"t": "1"}})
        assert r.status == 200, r
        cls.canary = cls.canary_state()

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    @classmethod
    def canary_state(cls):
        g = cls.srv.request("GET", f"/secrets/canary?{API}")
        v = cls.srv.request("GET", f"/secrets/canary/versions?{API}")
        assert g.status == 200 and v.status == 200, (g, v)
        return (g.json["value"], g.json["id"], g.json.get("contentType"), g.json.get("tags"),
                g.json["attributes"].get("updated"), g.json["attributes"].get("enabled"),
                sorted(i["id"] for i in v.json["value"]))

    def tearDown(self):
        self.assertIsNotNone(self.srv.proc, "kluisd is running")
        self.assertIsNone(self.srv.proc.poll(), f"kluisd died:\n{self.srv.stderr[-4000:]}")
        h = self.srv.request("GET", "/health", token=False, host="127.0.0.1")
        self.assertEqual(h.status, 200, "still healthy")
        self.assertEqual(self.canary_state(), self.canary, "canary secret unchanged")

    # --- helpers ---------------------------------------------------------------------------

    def assertError(self, r, statuses, code=None, msg=None):
        """r has one of statuses and an Azure-style JSON error body (with code, if given)."""
        if isinstance(statuses, int):
            statuses = (statuses,)
        self.assertIn(r.status, statuses, msg or r)
        self.assertIsInstance(r.json, dict, f"JSON error body: {r}")
        err = r.json.get("error")
        self.assertIsInstance(err, dict, f"error object: {r}")
        self.assertIsInstance(err.get("code"), str, r)
        self.assertIsInstance(err.get("message"), str, r)
        if code:
            self.assertEqual(err["code"], code, r)
        self.assertTrue(r.headers.get("x-ms-request-id"), "x-ms-request-id on errors")
        self.assertRegex(r.headers.get("content-type", ""), r"^application/json")

    def put_raw(self, name, body, content_type="application/json", **kw):
        return self.srv.request("PUT", f"/secrets/{name}?{API}", body=body,
                                headers={"Content-Type": content_type}, **kw)

    # --- bodies ----------------------------------------------------------------------------

    def test_malformed_json(self):
        for body in [b'{"value": "x"', b"not json", b'{"value": "x",}', b"{'value': 'x'}",
                     b'{"value": "x"} trailing', b"\xef\xbb\xbf{", b"{" * 10, b"\x00\x01\x02"]:
            self.assertError(self.put_raw("canary", body), 400, "BadParameter", body)
            self.assertError(self.put_raw("fresh-name", body), 400, "BadParameter", body)
        self.assertEqual(self.srv.request("GET", f"/secrets/fresh-name?{API}").status, 404)

    def test_json_not_an_object(self):
        for body in [b"[]", b'"value"', b"null", b"42", b"true", b'[{"value":"x"}]']:
            self.assertError(self.put_raw("canary", body), 400, "BadParameter", body)

    def test_wrong_json_types(self):
        for body in [{"value": 12}, {"value": None}, {"value": {"a": 1}}, {"value": ["x"]},
                     {"value": True},
                     {"value": "x", "tags": ["a", "b"]}, {"value": "x", "tags": "a=b"},
                     {"value": "x", "tags": {"a": 1}}, {"value": "x", "tags": {"a": None}},
                     {"value": "x", "tags": {"a": {"b": "c"}}},
                     {"value": "x", "attributes": "enabled"}, {"value": "x", "attributes": []},
                     {"value": "x", "attributes": {"enabled": "true"}},
                     {"value": "x", "attributes": {"enabled": 1}},
                     {"value": "x", "attributes": {"exp": "tomorrow"}},
                     {"value": "x", "attributes": {"nbf": 1.5e300}},
                     {"value": "x", "attributes": {"exp": -1e30}},
                     {"value": "x", "contentType": 7}, {"value": "x", "contentType": ["a"]}]:
            self.assertError(self.put_raw("canary", json.dumps(body)), 400, "BadParameter", body)

    def test_wrong_types_on_update(self):
        ver = self.canary[1].rsplit("/", 1)[1]
        for body in [{"tags": ["a"]}, {"attributes": {"enabled": "false"}}, {"contentType": 1},
                     {"attributes": {"exp": "x"}}, b"not json", b"[]"]:
            data = body if isinstance(body, bytes) else json.dumps(body)
            r = self.srv.request("PATCH", f"/secrets/canary/{ver}?{API}", body=data,
                                 headers={"Content-Type": "application/json"})
            self.assertError(r, 400, "BadParameter", body)

    def test_missing_value(self):
        for body in [b"{}", b'{"contentType":"x"}', b'{"Value":"x"}', b'{"attributes":{}}']:
            self.assertError(self.put_raw("canary", body), 400, "BadParameter", body)

    def test_empty_body_on_put(self):
        self.assertError(self.put_raw("canary", b""), 400, "BadParameter")
        r = self.srv.request("PUT", f"/secrets/canary?{API}", body=b"")
        self.assertError(r, 400, "BadParameter")

    def test_oversize_value(self):
        r = self.put_raw("big-one", json.dumps({"value": "v" * 25601}))
        self.assertError(r, 400, "BadParameter")
        ok = self.put_raw("big-one", json.dumps({"value": "v" * 25600}))
        self.assertEqual(ok.status, 200, ok)
        # JSON escapes count as the characters they stand for: 25600 bytes written as \u escapes.
        esc = '{"value": "' + "\\u0041" * 25600 + '"}'
        self.assertEqual(self.put_raw("big-esc", esc).status, 200)
        esc = '{"value": "' + "\\u0041" * 25601 + '"}'
        self.assertError(self.put_raw("big-esc", esc), 400, "BadParameter")

    def test_invalid_utf8(self):
        for body in [b'{"value": "\xff\xfe"}', b'{"value": "\xc3"}', b'{"value": "\xed\xa0\x80"}',
                     b'{"value": "ok", "tags": {"\xff": "x"}}', b'{"value": "\\ud800"}']:
            self.assertError(self.put_raw("canary", body), 400, "BadParameter", body)

    def test_nul_in_value_is_refused_or_kept_exactly(self):
        r = self.put_raw("nul-value", b'{"value": "a\\u0000b"}')
        if r.status == 200:
            g = self.srv.request("GET", f"/secrets/nul-value?{API}")
            self.assertEqual(g.json["value"], "a\x00b")
        else:
            self.assertError(r, 400, "BadParameter")

    def test_deeply_nested_json(self):
        body = b'{"value": "x", "tags": ' + b"[" * 100000 + b"]" * 100000 + b"}"
        self.assertError(self.put_raw("canary", body), 400, "BadParameter")
        body = b'{"value": "x", "x": ' + b'{"a":' * 50000 + b"1" + b"}" * 50000 + b"}"
        r = self.put_raw("deep-unknown", body)
        self.assertIn(r.status, (200, 400), r)  # unknown fields are ignored, or too deep: 400

    def test_oversize_body_413(self):
        # Just over the default 1 MiB, announced: refused whether or not the client waits.
        conn = Raw(self.srv)
        try:
            conn.send((f"PUT /secrets/canary?{API} HTTP/1.1\r\nHost: {self.srv.vault_host}:{self.srv.port}\r\n"
                       f"Authorization: Bearer {self.srv.token}\r\nContent-Type: application/json\r\n"
                       f"Content-Length: {MIB + 1}\r\nExpect: 100-continue\r\n\r\n").encode())
            resp = conn.read_response()
            self.assertIsNotNone(resp, "an answer before the body")
            status, headers, body = resp
            self.assertEqual(status, 413, body)
            self.assertIsInstance(json.loads(body).get("error", {}).get("code"), str, body)
        finally:
            conn.close()
        # Sent in full with http.client: 413 (or the connection cut while we were still sending).
        big = b'{"value": "' + b"a" * (MIB + 10) + b'"}'
        try:
            r = self.put_raw("canary", big)
            self.assertError(r, 413)
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
            pass

    def test_oversize_chunked_body(self):
        conn = Raw(self.srv)
        got = None
        try:
            conn.send((f"PUT /secrets/canary?{API} HTTP/1.1\r\nHost: {self.srv.vault_host}:{self.srv.port}\r\n"
                       f"Authorization: Bearer {self.srv.token}\r\nContent-Type: application/json\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n").encode())
            chunk = b"a" * 65536
            try:
                conn.send(b'b\r\n{"value": "\r\n')
                for _ in range(40):  # 2.5 MiB
                    conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                conn.send(b'2\r\n"}\r\n0\r\n\r\n')
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                pass
            got = conn.read_response()
        finally:
            conn.close()
        if got is not None:
            self.assertEqual(got[0], 413, got[2][:200])

    def test_max_body_flag(self):
        small = harness.start_server(max_body=4096)
        try:
            ok = small.request("PUT", f"/secrets/fits?{API}", body={"value": "x" * 3000})
            self.assertEqual(ok.status, 200, ok)
            try:
                r = small.request("PUT", f"/secrets/toobig?{API}", body={"value": "x" * 5000})
                self.assertError(r, 413)
            except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
                pass
            self.assertEqual(small.request("GET", f"/secrets/toobig?{API}").status, 404)
            self.assertEqual(small.request("GET", "/health", token=False).status, 200)
        finally:
            small.close()

    # --- names, versions, paths ------------------------------------------------------------

    def test_bad_names_on_set(self):
        for name in ["bad_name", "a" * 128, "a.b", "sp%20ace", "%C3%BC", "a%00b", "-%7E-", "a%5Cb"]:
            self.assertError(self.put_raw(name, json.dumps({"value": "x"})), 400, "BadParameter", name)
        # An encoded slash decodes to another path shape: refused, whichever way.
        self.assertError(self.put_raw("a%2Fb", json.dumps({"value": "x"})), (400, 404, 405))
        for name in ["a", "a%00b", "bad_name"]:
            self.assertEqual(self.srv.request("GET", f"/secrets/{name}?{API}").status in (400, 404), True)
        self.assertEqual(self.srv.request("GET", f"/secrets/a?{API}").status, 404, "a%00b did not set 'a'")

    def test_bad_names_on_read(self):
        for name in ["bad_name", "a" * 128, "a.b", "%00", "a%2Fb", "%2e%2e", "a" * 5000]:
            for method, path in [("GET", f"/secrets/{name}?{API}"),
                                 ("GET", f"/secrets/{name}/versions?{API}"),
                                 ("DELETE", f"/secrets/{name}?{API}"),
                                 ("GET", f"/deletedsecrets/{name}?{API}"),
                                 ("POST", f"/secrets/{name}/backup?{API}")]:
                r = self.srv.request(method, path)
                # An encoded slash decodes to another path shape, where 405 is right too.
                ok = (400, 404, 405) if "%2F" in name else (400, 404)
                self.assertError(r, ok, msg=f"{method} {path[:80]}: {r}")

    def test_bad_versions(self):
        ver = self.canary[1].rsplit("/", 1)[1]
        # (Upper case is not in the list: identifiers compare case-insensitively, as in Azure.)
        for bad in ["xyz", ver + "0", ver[:-1], "g" * 32, "%00" * 3, ver[:-1] + "%2F",
                    "../" + ver]:
            r = self.srv.request("GET", f"/secrets/canary/{bad}?{API}")
            self.assertError(r, (400, 404), msg=f"version {bad}: {r}")
            r = self.srv.request("PATCH", f"/secrets/canary/{bad}?{API}", body={"contentType": "changed"})
            self.assertError(r, (400, 404), msg=f"PATCH version {bad}: {r}")

    def test_unknown_paths_and_methods(self):
        for method, path in [("GET", f"/nope?{API}"), ("GET", f"/secrets/a/b/c/d?{API}"),
                             ("POST", f"/secrets/canary?{API}"), ("PUT", f"/secrets?{API}"),
                             ("DELETE", f"/secrets?{API}"), ("PATCH", f"/secrets?{API}"),
                             ("GET", f"/%2e%2e/secrets?{API}"),
                             ("TRACE", f"/secrets?{API}"), ("GET", f"//secrets/canary?{API}")]:
            r = self.srv.request(method, path)
            self.assertError(r, (400, 404, 405, 501), msg=f"{method} {path}: {r}")

    def test_huge_url(self):
        try:
            r = self.srv.request("GET", f"/secrets/{'a' * 100000}?{API}")
            self.assertGreaterEqual(r.status, 400)
            self.assertLess(r.status, 500)
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError, http.client.RemoteDisconnected):
            pass
        try:
            r = self.srv.request("GET", f"/secrets?{API}&x={'b' * 100000}")
            self.assertGreaterEqual(r.status, 400)
            self.assertLess(r.status, 500)
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError, http.client.RemoteDisconnected):
            pass

    # --- query -----------------------------------------------------------------------------

    def test_bad_maxresults(self):
        for bad in ["0", "-1", "abc", "1e3", "0x10", "", "%205", "5abc", "2.5"]:
            r = self.srv.request("GET", f"/secrets?{API}&maxresults={bad}")
            self.assertError(r, 400, "BadParameter", f"maxresults={bad!r}: {r}")
            r = self.srv.request("GET", f"/secrets/canary/versions?{API}&maxresults={bad}")
            self.assertError(r, 400, "BadParameter", f"versions maxresults={bad!r}: {r}")

    def test_maxresults_clamped(self):
        for n in range(30):
            self.srv.request("PUT", f"/secrets/clamp-{n}?{API}", body={"value": "x"})
        for big in ["26", "1000", "99999999999999999999999"]:
            r = self.srv.request("GET", f"/secrets?{API}&maxresults={big}")
            if big == "99999999999999999999999" and r.status == 400:
                continue  # out of range for an integer: refusing is fine too
            self.assertEqual(r.status, 200, r)
            self.assertEqual(len(r.json["value"]), 25)

    def test_bad_skiptoken(self):
        for bad in ["garbage", "%FF%FE", "e30", "eyJ4IjoxfQ", "A" * 4096, "", "..%2F.."]:
            r = self.srv.request("GET", f"/secrets?{API}&$skiptoken={bad}")
            if bad == "" and r.status == 200:
                continue  # an empty token may mean "from the start"
            self.assertError(r, 400, "BadParameter", f"$skiptoken={bad[:20]!r}: {r}")

    def test_skiptoken_of_other_list(self):
        for n in range(3):
            self.srv.request("PUT", f"/secrets/tok-{n}?{API}", body={"value": "x"})
        r = self.srv.request("GET", f"/secrets?{API}&maxresults=1")
        self.assertEqual(r.status, 200, r)
        tok = urllib.parse.parse_qs(urllib.parse.urlsplit(r.json["nextLink"]).query)["$skiptoken"][0]
        # A token of the secrets list used on the deleted list or a versions list: 400 or a valid page.
        for path in ["/deletedsecrets", "/secrets/canary/versions"]:
            r2 = self.srv.request("GET", f"{path}?{API}&$skiptoken={urllib.parse.quote(tok)}")
            self.assertIn(r2.status, (200, 400), r2)
            if r2.status == 400:
                self.assertError(r2, 400, "BadParameter")

    def test_api_version_errors(self):
        r = self.srv.request("GET", "/secrets/canary?api-version=1.0")
        self.assertError(r, 400, "BadParameter")
        self.assertTrue(r.json["error"]["message"].startswith("The specified version (1.0) is not recognized."), r)
        for q in ["", "?api-version=", "?api-version=7.6x", "?api-version=%00", "?API-VERSION=bogus"]:
            r = self.srv.request("GET", f"/secrets/canary{q}")
            self.assertError(r, 400, "BadParameter", f"query {q!r}: {r}")
        r = self.srv.request("PUT", "/secrets/canary?api-version=bogus", body={"value": "changed"})
        self.assertError(r, 400, "BadParameter")

    def test_too_many_query_parameters(self):
        q = "&".join(f"p{i}=v" for i in range(200))
        r = self.srv.request("GET", f"/secrets?{API}&{q}")
        self.assertIn(r.status, (200, 400), r)
        if r.status == 400:
            self.assertError(r, 400)

    # --- authentication --------------------------------------------------------------------

    def test_missing_token(self):
        r = self.srv.request("PUT", f"/secrets/canary?{API}", body={"value": "changed"}, token=False)
        self.assertError(r, 401, "Unauthorized")
        self.assertRegex(r.headers.get("www-authenticate", ""),
                         rf'^Bearer authorization="https://[^"/]+(:\d+)?/[^"/]+", '
                         rf'resource="https://vault\.localhost:{self.srv.port}"$')

    def test_wrong_tokens(self):
        for auth in [f"Bearer {self.srv.token}0", "Bearer " + "A" * 8000, "Bearer", "Bearer \x7f",
                     "Negotiate abc", f"Bearer {self.srv.token} extra"]:
            r = self.srv.request("PUT", f"/secrets/canary?{API}", body={"value": "changed"}, token=False,
                                 headers={"Authorization": auth})
            self.assertError(r, 401, "Unauthorized", f"{auth[:20]!r}")
            self.assertTrue(r.headers.get("www-authenticate"))

    def test_unauthenticated_big_body_not_accepted(self):
        # 401 before any body byte is kept: a big unauthenticated body gets 401 or 413, never 200.
        try:
            r = self.srv.request("PUT", f"/secrets/canary?{API}", body=b"x" * (MIB // 2), token=False,
                                 headers={"Content-Type": "application/json"})
            self.assertIn(r.status, (401, 413), r)
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
            pass

    def test_unknown_vault(self):
        for host in ["nosuch.vault.localhost", "a-b.vault.localhost"]:
            r = self.srv.request("GET", f"/secrets/canary?{API}", host=host)
            self.assertError(r, 404, msg=f"{host}: {r}")
            r = self.srv.request("PUT", f"/secrets/canary?{API}", host=host, body={"value": "changed"})
            self.assertError(r, 404, msg=f"{host}: {r}")

    def test_odd_host_headers(self):
        for host_header in ["", "default.vault.localhost:1", "DEFAULT.VAULT.LOCALHOST", "x" * 300,
                            "bad host", "default.vault.localhost.evil.com"]:
            conn = Raw(self.srv)
            try:
                conn.send((f"GET /secrets/canary?{API} HTTP/1.1\r\nHost: {host_header}\r\n"
                           f"Authorization: Bearer {self.srv.token}\r\nConnection: close\r\n\r\n").encode())
                resp = conn.read_response()
            finally:
                conn.close()
            if resp is None:
                continue  # closed: acceptable for garbage
            status, _headers, body = resp
            self.assertLess(status, 500, f"Host {host_header!r}: {status} {body[:200]}")
            if status == 200:
                # Served: must be the default vault (canary), never another vault's data.
                self.assertEqual(json.loads(body)["value"], "canary value")

    # --- headers ---------------------------------------------------------------------------

    def test_16k_of_headers_accepted(self):
        headers = {f"x-pad-{i}": "p" * 150 for i in range(100)}  # ~16.5 KB
        headers["User-Agent"] = "u" * 2000
        r = self.srv.request("GET", f"/secrets/canary?{API}", headers=headers)
        self.assertEqual(r.status, 200, r)

    def test_header_flood(self):
        cases = [
            "X-Big: " + "a" * (100 * 1024) + "\r\n",
            "".join(f"X-H{i}: v\r\n" for i in range(20000)),
            "X-Folded: a\r\n" + " b\r\n" * 30000,
        ]
        for extra in cases:
            conn = Raw(self.srv)
            try:
                try:
                    conn.send((f"GET /secrets/canary?{API} HTTP/1.1\r\nHost: {self.srv.vault_host}:{self.srv.port}\r\n"
                               f"Authorization: Bearer {self.srv.token}\r\n").encode() + extra.encode() + b"\r\n")
                except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                    continue
                resp = conn.read_response()
            finally:
                conn.close()
            if resp is not None:
                self.assertTrue(400 <= resp[0] < 500, f"{resp[0]} for a header flood")

    def test_garbage_request_lines(self):
        for line in [b"GARBAGE\r\n\r\n", b"GET\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                     b"\x00\x01\x02\x03\r\n\r\n", b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
                     b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
                     b"POST /secrets/restore?" + API.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\nzz\r\n"]:
            conn = Raw(self.srv, timeout=5)
            try:
                conn.send(line)
                resp = conn.read_response()
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                resp = None
            except TimeoutError:
                resp = None  # no answer: the server waits for a request line until its timeout
            finally:
                conn.close()
            if resp is not None:  # 505 is the right answer to HTTP/9.9; no other 5xx
                self.assertTrue(resp[0] < 500 or resp[0] == 505, f"{line[:40]!r}: {resp[0]}")

    def test_malformed_heads(self):
        """Framing kluis must not guess at. kluis' own refusals carry an Azure error body; those
        libmicrohttpd gives before kluis sees the request (a line it cannot parse, a length past
        2^64) carry its short HTML page: docs/security.md, "Input limits". Never a 5xx but 505,
        never a 2xx for a request whose head is broken."""
        host = f"Host: {self.srv.vault_host}:{self.srv.port}\r\n"
        auth = f"Authorization: Bearer {self.srv.token}\r\n"
        target = f"/secrets/canary?{API}"
        azure = [  # refused by kluis (http/request.c, api/): 400 with an Azure error body
            f"GET {target} HTTP/1.1\r\n{host}{host}{auth}\r\n",
            f"GET {target} HTTP/1.1\r\n{host}{auth}{auth}\r\n",
            f"PUT {target} HTTP/1.1\r\n{host}{auth}Content-Length: 2\r\nContent-Length: 2\r\n\r\n{{}}",
            f"PUT {target} HTTP/1.1\r\n{host}{auth}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
            f"PUT {target} HTTP/1.1\r\n{host}{auth}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
        ]
        for head in azure:
            resp = raw_once(self.srv, head.encode("latin-1"))
            self.assertIsNotNone(resp, head)
            status, headers, body = resp
            self.assertEqual(status, 400, f"{head[:60]!r}: {status} {body[:200]!r}")
            self.assertEqual(json.loads(body)["error"]["code"], "BadParameter", body)
        other = [
            f"GET {target} HTTP/1.1\r\n{host}X-No-Colon\r\n{auth}\r\n",
            f"GET {target} HTTP/1.1\r\n{host}{auth}Content-Length: 99999999999999999999999\r\n\r\n",
            f"GET {target} HTTP/1.1\r\n{host}{auth}Content-Length: +5\r\n\r\nhello",
            f"PUT {target} HTTP/1.1\r\n{host}{auth}Transfer-Encoding: chunked\r\n\r\nffffffffffffffffffffff\r\n",
            f"PUT {target} HTTP/1.1\r\n{host}{auth}Transfer-Encoding: chunked\r\n\r\n5;{'e' * 20000}\r\nhello\r\n0\r\n\r\n",
            f"GET {target} HTTP/1.1\r\n{host}Authorization: Bearer\r\n {self.srv.token}\r\n\r\n",
            f"{'G' * 5000} {target} HTTP/1.1\r\n{host}{auth}\r\n",
            f"get {target} HTTP/1.1\r\n{host}{auth}\r\n",
            f"CONNECT {self.srv.vault_host}:{self.srv.port} HTTP/1.1\r\n{host}{auth}\r\n",
            f"OPTIONS * HTTP/1.1\r\n{host}{auth}\r\n",
            f"GET {target} HTTP/1.1\n{host.strip()}\n{auth.strip()}\n\n",
            f"GET {target}\tHTTP/1.1\r\n{host}{auth}\r\n",
            f"GET {target} HTTP/1.1\r\n{host}{auth}X-Nul: a\0b\r\n\r\n",
        ]
        for head in other:
            resp = raw_once(self.srv, head.encode("latin-1"), timeout=10)
            if resp is None:
                continue  # closed: fine for broken framing
            status, headers, body = resp
            self.assertTrue(status < 500 or status == 505, f"{head[:60]!r}: {status}")
            if 200 <= status < 300:  # only heads that are whole HTTP, and then the canary as it is
                self.assertIn(head.split(" ", 1)[0], ("GET",), head[:60])
                self.assertEqual(json.loads(body)["value"], "canary value")
            if headers.get("x-ms-request-id"):  # kluis answered: an Azure error body
                if status >= 400:
                    assert_azure_error(self, status, headers, body, status)

    def test_error_bodies_for_paths_that_are_not_utf8(self):
        """Regression (tests/fuzz/request_fuzz.c): an error message quoting client bytes that are
        not UTF-8, or cut in the middle of a character, lost its whole JSON body."""
        for method, path in [("GET", f"/%FF%FE?{API}"), ("GET", f"/secrets/%FF?{API}"),
                             ("GET", f"/secrets/{'a' * 63}%C3%BC?{API}"),
                             ("GET", f"/secrets/%C0%AE%C0%AE?{API}"),
                             ("PUT", f"/secrets/%ED%A0%80?{API}"),
                             ("GET", f"/keys/%F4%90%80%80/versions?{API}"),
                             ("GET", f"/secrets?api-version=%FF")]:
            r = self.srv.request(method, path, body={"value": "x"} if method == "PUT" else None)
            self.assertError(r, (400, 404, 405), msg=f"{method} {path}: {r}")

    # --- connections -----------------------------------------------------------------------

    def test_plain_http_and_tls_garbage(self):
        for payload in [b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", b"\x16\x03\x01\x00\x05hello",
                        os.urandom(4096)]:
            s = socket.create_connection(("127.0.0.1", self.srv.port), 5)
            try:
                s.sendall(payload)
                s.settimeout(2)  # an answer, a close, or silence: only the server's health counts
                try:
                    s.recv(4096)
                except (socket.timeout, ConnectionResetError):
                    pass
            finally:
                s.close()

    def test_slowloris_does_not_block_others(self):
        """Idle sockets and half-sent requests must not stop a normal client from being served."""
        held = []
        try:
            for _ in range(20):  # TCP only, no TLS handshake
                held.append(socket.create_connection(("127.0.0.1", self.srv.port), 5))
            for _ in range(20):  # TLS done, half a request line
                c = Raw(self.srv)
                c.send(f"GET /secrets/canary?{API} HTTP/1.1\r\nHost: {self.srv.vault_host}".encode())
                held.append(c)
            for _ in range(10):  # headers done, body promised and never sent
                c = Raw(self.srv)
                c.send((f"PUT /secrets/canary?{API} HTTP/1.1\r\nHost: {self.srv.vault_host}:{self.srv.port}\r\n"
                        f"Authorization: Bearer {self.srv.token}\r\nContent-Type: application/json\r\n"
                        "Content-Length: 1000\r\n\r\n{\"value\":").encode())
                held.append(c)
            results = []

            def client():
                try:
                    results.append(self.srv.request("GET", f"/secrets/canary?{API}", timeout=10).status)
                except Exception as e:  # reported below
                    results.append(repr(e))
            threads = [threading.Thread(target=client) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            self.assertEqual(results, [200] * 4, "normal clients served while others stall")
        finally:
            for h in held:
                h.close()

    def test_many_sequential_connections(self):
        for _ in range(100):
            r = self.srv.request("GET", "/health", token=False, host="127.0.0.1")
            self.assertEqual(r.status, 200)

    def test_pipelined_requests(self):
        conn = Raw(self.srv)
        try:
            req = (f"GET /secrets/canary?{API} HTTP/1.1\r\nHost: {self.srv.vault_host}:{self.srv.port}\r\n"
                   f"Authorization: Bearer {self.srv.token}\r\n\r\n").encode()
            conn.send(req * 3)
            for _ in range(3):
                resp = conn.read_response()
                self.assertIsNotNone(resp)
                self.assertEqual(resp[0], 200)
                self.assertEqual(json.loads(resp[2])["value"], "canary value")
        finally:
            conn.close()


if __name__ == "__main__":
    unittest.main()
