"""Slow clients against a real kluisd (stdlib only): many connections that trickle a request a
byte at a time, stall in the TLS handshake, or promise a body and send it drop by drop, while a
normal client keeps asking. The normal client must get every answer; the time each took is printed
(figures, not judged: timing belongs to bench/), and afterwards the server is healthy and what it
stores is unchanged.

The slow clients connect from 127.0.0.2 and the normal one from 127.0.0.1, as different hosts
would: a limit on connections per client address must not turn the test into a measure of itself.

Run: cd tests/e2e/raw && /usr/bin/python3 -m unittest -v test_slowloris
"""

import os
import socket
import ssl
import statistics
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rawlib import API, Raw, snapshot, start_server  # noqa: E402

ATTACKER = "127.0.0.2"
N_TRICKLE = 150     # TLS done, the request head sent a byte per round
N_HANDSHAKE = 50    # half a ClientHello, then nothing
N_TCP = 50          # a TCP connection and not one byte
N_BODY = 30         # a whole head, then a promised body a byte per round
ROUND_S = 0.25      # one byte to every slow connection per round


def partial_client_hello(srv):
    """The first half of a real ClientHello for the server's vault host."""
    ctx = srv.ssl_context()
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=srv.vault_host)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = out.read()
    return hello[: len(hello) // 2]


class Slowloris(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = start_server()
        r = cls.srv.request("PUT", f"/secrets/canary?{API}", body={"value": "canary value"})
        assert r.status == 200, r
        cls.before = snapshot(cls.srv, "default")

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def tearDown(self):
        self.assertIsNone(self.srv.proc.poll(), f"kluisd died:\n{self.srv.stderr[-4000:]}")
        self.assertEqual(snapshot(self.srv, "default"), self.before, "nothing stored changed")

    def open_slow(self):
        """The slow connections: (sockets or Raw, bytes each still has to trickle)."""
        conns = []
        head = (f"GET /secrets/canary?{API} HTTP/1.1\r\nHost: {self.srv.vault_host}:{self.srv.port}\r\n"
                f"Authorization: Bearer {self.srv.token}\r\nX-Pad: {'p' * 200}\r\n\r\n").encode()
        body_head = (f"PUT /secrets/canary?{API} HTTP/1.1\r\nHost: {self.srv.vault_host}:{self.srv.port}\r\n"
                     f"Authorization: Bearer {self.srv.token}\r\nContent-Type: application/json\r\n"
                     "Content-Length: 100000\r\n\r\n").encode()
        hello = partial_client_hello(self.srv)
        refused = 0
        for kind, n in (("trickle", N_TRICKLE), ("body", N_BODY), ("handshake", N_HANDSHAKE),
                        ("tcp", N_TCP)):
            for _ in range(n):
                try:
                    if kind in ("trickle", "body"):
                        c = Raw(self.srv, timeout=10, source=ATTACKER)
                        if kind == "body":
                            c.send(body_head)
                        conns.append([c, head if kind == "trickle" else b'{"value":"' + b"x" * 9000])
                    else:
                        s = socket.create_connection(("127.0.0.1", self.srv.port), 10,
                                                     source_address=(ATTACKER, 0))
                        if kind == "handshake":
                            s.sendall(hello)
                        conns.append([s, b""])
                except (OSError, ssl.SSLError):
                    refused += 1  # a connection limit may refuse some: that is a defence too
        return conns, refused

    def test_normal_client_served_while_slow_clients_hold_connections(self):
        conns, refused = self.open_slow()
        stop = threading.Event()
        dropped = [0]

        def trickle():
            while not stop.is_set():
                for c in conns:
                    obj, rest = c
                    if not rest:
                        continue
                    try:
                        (obj.send if isinstance(obj, Raw) else obj.sendall)(rest[:1])
                        c[1] = rest[1:]
                    except (OSError, ssl.SSLError):
                        c[1] = b""
                        dropped[0] += 1
                stop.wait(ROUND_S)  # pacing the attack, not waiting for a result

        t = threading.Thread(target=trickle, daemon=True)
        t.start()
        latencies, statuses = [], []
        try:
            for i in range(40):
                t0 = time.monotonic()
                try:
                    r = self.srv.request("GET", f"/secrets/canary?{API}", timeout=20)
                    statuses.append(r.status)
                    if r.status == 200:
                        self.assertEqual(r.json["value"], "canary value")
                except OSError as e:
                    statuses.append(repr(e))
                latencies.append(time.monotonic() - t0)
            h = self.srv.request("GET", "/health", token=False, host="127.0.0.1")
            self.assertEqual(h.status, 200)
        finally:
            stop.set()
            t.join(10)
            for obj, _ in conns:
                try:
                    obj.close()
                except OSError:
                    pass
        print(f"\n  slow connections: {len(conns)} open ({refused} refused, {dropped[0]} dropped by the "
              f"server while trickling); normal client: 40 requests, latency median "
              f"{statistics.median(latencies) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms",
              file=sys.stderr)
        self.assertEqual(statuses, [200] * 40, "every request of the normal client answered")

    def test_slow_body_never_stores_anything(self):
        """A body sent a byte at a time and then abandoned half-way changes nothing."""
        c = Raw(self.srv, timeout=10, source=ATTACKER)
        try:
            c.send((f"PUT /secrets/canary?{API} HTTP/1.1\r\nHost: {self.srv.vault_host}:{self.srv.port}\r\n"
                    f"Authorization: Bearer {self.srv.token}\r\nContent-Type: application/json\r\n"
                    "Content-Length: 40\r\n\r\n").encode())
            for b in b'{"value":"changed by a slow':
                c.send(bytes([b]))
        finally:
            c.close()
        r = self.srv.request("GET", f"/secrets/canary?{API}")
        self.assertEqual(r.json["value"], "canary value")


if __name__ == "__main__":
    unittest.main()
