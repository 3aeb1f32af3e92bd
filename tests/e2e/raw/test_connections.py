"""Connection reuse as the SDKs rely on it, over raw TLS (stdlib only).

Each SDK client's first request carries no token and gets the 401 challenge; the client then
sends the real request on the same keep-alive connection. A server that closed the connection
after that 401 would cost every client an extra TLS handshake.

Idle connections live for minutes (clients pool them), so at a connection limit a new client
takes the place of the connection idle the longest rather than being refused; when no connection
is idle the new one is refused; and past the per-address limit only that address's own idle
connections make room (decisions.md §20).
"""

import os
import ssl
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



class ConnectionLimitTest(unittest.TestCase):
    """A server of its own per test, with room for 4 connections, 3 of one address; clients
    connect from 127.0.0.N. A connection left from the server's start-up probe, should it still be
    open, is idle longer than any of the test's, so it would make room first: harmless."""

    def setUp(self):
        self.conns = []
        self.srv = harness.start_server(extra_args=["--max-connections", "4",
                                                    "--max-connections-per-ip", "3"])

    def tearDown(self):
        for c in self.conns:
            c.close()
        self.assertIsNone(self.srv.proc.poll(), f"kluisd died:\n{self.srv.stderr[-4000:]}")
        self.srv.stop()

    def connect(self, source):
        c = Raw(self.srv, source=source, timeout=10)
        self.conns.append(c)
        return c

    def get(self, raw):
        """One GET on raw: its status, or None when the server had closed the connection."""
        head = (f"GET /secrets/none?{API} HTTP/1.1\r\nHost: {self.srv.vault_host}:{self.srv.port}\r\n"
                f"Authorization: Bearer {self.srv.token}\r\n\r\n")
        try:
            raw.send(head.encode())
        except OSError:
            return None
        r = raw.read_response()
        return r[0] if r else None

    def idle_clients(self, sources):
        """A connection per source, each answered once, idle in that order (the first longest)."""
        out = []
        for src in sources:
            c = self.connect(src)
            self.assertEqual(self.get(c), 404, src)
            out.append(c)
        return out

    def test_full_server_takes_a_new_client_in_place_of_the_longest_idle(self):
        a, b, c, d = self.idle_clients(["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"])
        e = self.connect("127.0.0.6")  # the fifth: over the total limit
        self.assertEqual(self.get(e), 404, "the new client is served")
        self.assertIsNone(self.get(a), "the connection idle the longest made room")
        for other in (b, c, d, e):
            self.assertEqual(self.get(other), 404, "the others are kept")
        self.assertIn("connection limit reached: closed the connection idle the longest to make room",
                      self.srv.stderr)

    def test_full_server_with_nothing_idle_refuses_the_new_client(self):
        body = b'{"value":"held"}'
        busy = []
        for src in ("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"):
            c = self.connect(src)
            # a head whose body is still to come: busy reading once "100 Continue" is back
            c.send((f"PUT /secrets/held?{API} HTTP/1.1\r\nHost: {self.srv.vault_host}:{self.srv.port}\r\n"
                    f"Authorization: Bearer {self.srv.token}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n").encode())
            self.assertEqual(c.read_response()[0], 100)
            busy.append(c)
        try:
            late = self.connect("127.0.0.6")
            self.assertIsNone(self.get(late), "no connection idle: the new one is refused")
        except (OSError, ssl.SSLError):
            pass  # refused before the handshake ended: as good
        for c in busy:  # the requests still finish
            c.send(body)
            r = c.read_response()
            self.assertEqual(r[0] if r else None, 200)

    def test_per_address_limit_takes_only_that_address_idle_connection(self):
        other = self.idle_clients(["127.0.0.9"])[0]  # idle the longest, another address
        mine = self.idle_clients(["127.0.0.7"] * 3)
        fourth = self.connect("127.0.0.7")
        self.assertEqual(self.get(fourth), 404)
        self.assertIsNone(self.get(mine[0]), "the address's own longest idle made room")
        self.assertEqual(self.get(other), 404, "another address's connection is never taken")
        for c in mine[1:]:
            self.assertEqual(self.get(c), 404)


if __name__ == "__main__":
    unittest.main()
