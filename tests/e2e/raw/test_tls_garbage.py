"""Bytes that are not TLS, or TLS cut short or corrupted, sent to kluisd's TLS port (stdlib only).

Random bytes, a plaintext HTTP request, a ClientHello truncated at every interesting length, a
ClientHello followed by garbage, garbage records after a finished handshake, a plaintext request
after the handshake. The server must never answer in plaintext, never crash, close what it cannot
use (or leave it to its idle timeout), and keep serving TLS clients; after every test /health
answers and the stored canary is unchanged.

Run: cd tests/e2e/raw && /usr/bin/python3 -m unittest -v test_tls_garbage
"""

import os
import socket
import ssl
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rawlib import API, Raw, snapshot, start_server  # noqa: E402


def client_hello(srv, host=None):
    """A real ClientHello from Python's TLS stack for host (default: the vault host)."""
    ctx = srv.ssl_context()
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=host or srv.vault_host)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


class TlsGarbage(unittest.TestCase):
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
        r = self.srv.request("GET", f"/secrets/canary?{API}")
        self.assertEqual((r.status, r.json["value"]), (200, "canary value"))
        self.assertEqual(snapshot(self.srv, "default"), self.before, "nothing stored changed")

    def exchange(self, payload, wait_s=5, half_close=True):
        """Sends payload on a plain TCP connection (then, with half_close, ends the sending side as
        a client that gives up would); returns what came back before the server closed it or
        wait_s passed, and whether it closed."""
        s = socket.create_connection(("127.0.0.1", self.srv.port), 10)
        got, closed = b"", False
        try:
            try:
                s.sendall(payload)
                if half_close:
                    s.shutdown(socket.SHUT_WR)
            except OSError:  # reset or already closed by the server
                closed = True
            s.settimeout(wait_s)
            while True:
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    break
                except ConnectionResetError:
                    closed = True
                    break
                if not chunk:
                    closed = True
                    break
                got += chunk
        finally:
            s.close()
        return got, closed

    def assertNoPlaintext(self, got, what):
        self.assertNotIn(b"HTTP/", got, f"{what}: answered in plaintext: {got[:200]!r}")
        self.assertNotIn(b"canary value", got, what)
        if got:  # a TLS alert record (content type 21) is the only thing a server may send
            self.assertIn(got[0], (0x15, 0x16), f"{what}: {got[:40]!r}")

    def test_random_bytes(self):
        for n in (1, 5, 64, 4096, 65536):
            got, closed = self.exchange(os.urandom(n))
            self.assertNoPlaintext(got, f"{n} random bytes")

    def test_random_bytes_with_a_tls_record_header(self):
        """A handshake record header announcing 16 KiB of random bytes, and one of the maximum
        length 2^14 + 2048 plus one."""
        for length in (16, 0x4000, 0x4801, 0xffff):
            payload = bytes([0x16, 0x03, 0x01, length >> 8, length & 0xff]) + os.urandom(min(length, 0x4801))
            got, closed = self.exchange(payload)
            self.assertNoPlaintext(got, f"handshake record of {length} random bytes")

    def test_plaintext_http_on_the_tls_port(self):
        for req in (f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{self.srv.port}\r\n\r\n",
                    f"GET /secrets/canary?{API} HTTP/1.1\r\nHost: {self.srv.vault_host}\r\n"
                    f"Authorization: Bearer {self.srv.token}\r\n\r\n",
                    "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"):
            got, closed = self.exchange(req.encode())
            self.assertNoPlaintext(got, req[:30])

    def test_truncated_client_hello(self):
        """Cut at the record header, inside the handshake header, inside the random, in the
        cipher suites and in the extensions: nothing is answered but an alert, and the server
        still completes handshakes with others while these wait."""
        hello = client_hello(self.srv)
        self.assertEqual(hello[0], 0x16)
        held = []
        try:
            for cut in (1, 3, 5, 6, 9, 20, 43, 60, len(hello) // 2, len(hello) - 1):
                s = socket.create_connection(("127.0.0.1", self.srv.port), 10)
                s.sendall(hello[:cut])
                held.append(s)
            r = self.srv.request("GET", f"/secrets/canary?{API}")
            self.assertEqual(r.status, 200, "served while truncated handshakes wait")
        finally:
            for s in held:
                s.close()
        for cut in (5, len(hello) // 2):
            got, _ = self.exchange(hello[:cut], wait_s=2, half_close=False)
            self.assertNoPlaintext(got, f"{cut} bytes of a ClientHello")
            got, closed = self.exchange(hello[:cut])
            self.assertNoPlaintext(got, f"{cut} bytes of a ClientHello, then end of stream")
            self.assertTrue(closed, "a handshake cut by the client's end of stream is closed")

    def test_client_hello_then_garbage(self):
        hello = client_hello(self.srv)
        for tail in (os.urandom(512), b"\x14\x03\x03\x00\x01\x01" + os.urandom(64),
                     b"\x17\x03\x03\x00\x20" + os.urandom(32), b"\x15\x03\x03\x00\x02\x02\x28"):
            got, closed = self.exchange(hello + tail)
            self.assertNoPlaintext(got, "hello then garbage")

    def test_corrupted_client_hellos(self):
        """Every 13th byte of the ClientHello flipped in turn (the record and handshake lengths,
        the version, the session id, the suites, the extensions)."""
        hello = client_hello(self.srv)
        for i in list(range(0, 12)) + list(range(12, len(hello), 13)):
            bad = bytearray(hello)
            bad[i] ^= 0xff
            got, _ = self.exchange(bytes(bad))
            self.assertNoPlaintext(got, f"hello with byte {i} flipped")

    def test_garbage_after_the_handshake(self):
        """A finished handshake, then bytes that are not a TLS record (or a record that does not
        authenticate): the connection ends, nothing is answered in plaintext."""
        for garbage in (os.urandom(100), b"\x17\x03\x03\x00\x40" + os.urandom(64),
                        f"GET /secrets/canary?{API} HTTP/1.1\r\nHost: x\r\n\r\n".encode()):
            raw = Raw(self.srv, timeout=5)  # the handshake is done by wrap_socket
            try:
                plain = socket.socket(fileno=os.dup(raw.sock.fileno()))
                try:
                    plain.sendall(garbage)  # under TLS: raw bytes on the TCP stream
                    plain.settimeout(5)
                    try:
                        got = plain.recv(65536)
                    except (socket.timeout, ConnectionResetError):
                        got = b""
                finally:
                    plain.close()
                self.assertNotIn(b"HTTP/", got, "no plaintext answer on a TLS connection")
                self.assertNotIn(b"canary value", got)
            finally:
                raw.close()

    def test_sni_of_no_vault_still_answers_by_host(self):
        """The TLS server name plays no part in routing: an unknown or absent SNI still completes
        the handshake (one certificate) and the Host header decides."""
        for sni in ("nosuch.vault.localhost", "localhost", "x" * 60):
            ctx = self.srv.ssl_context()
            ctx.check_hostname = False
            s = socket.create_connection(("127.0.0.1", self.srv.port), 10)
            t = ctx.wrap_socket(s, server_hostname=sni)
            try:
                t.sendall((f"GET /secrets/canary?{API} HTTP/1.1\r\nHost: {self.srv.vault_host}\r\n"
                           f"Authorization: Bearer {self.srv.token}\r\nConnection: close\r\n\r\n").encode())
                data = b""
                while True:
                    c = t.recv(65536)
                    if not c:
                        break
                    data += c
                self.assertIn(b" 200 ", data.split(b"\r\n", 1)[0], sni)
                self.assertIn(b"canary value", data)
            finally:
                t.close()


if __name__ == "__main__":
    unittest.main()
