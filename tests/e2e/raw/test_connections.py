"""Connection reuse as the SDKs rely on it, over raw TLS (stdlib only).

Each SDK client's first request carries no token and gets the 401 challenge; the client then
sends the real request on the same keep-alive connection. A server that closed the connection
after that 401 would cost every client an extra TLS handshake.
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "py"))
import harness  # noqa: E402
from test_hostile import Raw  # noqa: E402

API = "api-version=7.6"


class ConnectionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.start_server()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def request(self, raw, method, path, token=None, body=b""):
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.srv.vault_host}:{self.srv.port}\r\n"
        if token:
            head += f"Authorization: Bearer {token}\r\n"
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        raw.send(head.encode() + body)
        return raw.read_response()

    def test_challenge_keeps_the_connection(self):
        raw = Raw(self.srv)
        try:
            status, headers, _ = self.request(raw, "GET", f"/secrets/x?{API}")
            self.assertEqual(status, 401)
            self.assertNotEqual(headers.get("connection", "").lower(), "close")
            status, _, _ = self.request(raw, "PUT", f"/secrets/x?{API}", self.srv.token,
                                        b'{"value":"v"}')
            self.assertEqual(status, 200)
            status, _, body = self.request(raw, "GET", f"/secrets/x?{API}", self.srv.token)
            self.assertEqual(status, 200)
            self.assertIn(b'"value":"v"', body)
        finally:
            raw.close()

    def test_refused_request_with_body_closes(self):
        raw = Raw(self.srv)
        try:
            status, headers, _ = self.request(raw, "PUT", f"/secrets/y?{API}", None,
                                              b'{"value":"never kept"}')
            self.assertEqual(status, 401)
            self.assertEqual(headers.get("connection", "").lower(), "close")
        finally:
            raw.close()


if __name__ == "__main__":
    unittest.main()
