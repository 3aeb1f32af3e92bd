"""Connection and request limits over raw TLS (stdlib only): the header ceiling, connections per
client address and in all (--max-connections-per-ip, --max-connections), and the deadlines that
libmicrohttpd's inactivity timeout alone does not give (--idle-timeout, --request-timeout): a
client that trickles its request line, its headers or its body a byte at a time, never inactive,
is still closed. After each test the server must still answer /health.

Run: cd tests/e2e/raw && /usr/bin/python3 -m unittest -v test_limits
"""

import os
import select
import socket
import ssl
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "py"))
import harness  # noqa: E402
from test_hostile import Raw  # noqa: E402

API = "api-version=7.6"
CLOSED_ERRORS = (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError)


def tls(srv, source="127.0.0.1", timeout=10):
    """A TLS connection from source (any 127.x address reaches the loopback listener); raises
    when the server refuses it (closes it before or during the handshake)."""
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout, source_address=(source, 0))
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as harness._LoopbackHTTPS
        return srv.ssl_context().wrap_socket(sock, server_hostname=srv.vault_host)
    except BaseException:
        sock.close()
        raise


def is_refused(srv, source="127.0.0.1", timeout=3):
    """Refused: closed at once (a per-address limit), or left waiting in the listen backlog
    (the total limit: libmicrohttpd stops accepting until a connection ends)."""
    try:
        s = tls(srv, source, timeout)
    except CLOSED_ERRORS:
        return True
    # The handshake may complete before the server closes: then the first request fails.
    try:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        return not s.recv(1)
    except CLOSED_ERRORS:
        return True
    finally:
        s.close()


def health(srv, conn):
    """GET /health on conn; its status, the whole answer read (None if closed first)."""
    conn.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    return read_status(conn)


BUSY_BODY = b'{"value":"held"}'


def start_busy(srv, conn):
    """The head of a PUT whose body is still to come: once the server's "100 Continue" is read,
    conn is known to be busy (reading a request), not idle, so no new connection can take its
    place (decisions.md §20)."""
    conn.sendall((f"PUT /secrets/held?{API} HTTP/1.1\r\nHost: {srv.vault_host}\r\n"
                  f"Authorization: Bearer {srv.token}\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {len(BUSY_BODY)}\r\nExpect: 100-continue\r\n\r\n").encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(1)
        if not chunk:
            raise AssertionError("closed before 100 Continue")
        data += chunk
    assert data.startswith(b"HTTP/1.1 100"), data


def finish_busy(conn):
    """The body of the request start_busy began; the answer's status (None if closed first)."""
    conn.sendall(BUSY_BODY)
    return read_status(conn)


def read_status(conn):
    """The status of the next answer on conn, the whole answer read (None if closed first)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = conn.recv(4096)
        if not chunk:
            return None
        body += chunk
    return int(head.split(b" ", 2)[1])


def is_closed(conn, wait_s):
    """Did the server end conn within wait_s seconds? (Anything it sends meanwhile is dropped.)"""
    deadline = time.monotonic() + wait_s
    while True:
        left = deadline - time.monotonic()
        pending = isinstance(conn, ssl.SSLSocket) and conn.pending() > 0
        if left <= 0 or not (pending or select.select([conn], [], [], left)[0]):
            return False
        try:
            if conn.recv(4096) == b"":
                return True
        except ssl.SSLWantReadError:
            continue
        except CLOSED_ERRORS:
            return True


def trickle(conn, pieces, every_s, limit_s):
    """Sends pieces one every every_s seconds (so the connection is never inactive) until the
    server closes it; returns the seconds that took, or None when it was still open after
    limit_s."""
    t0 = time.monotonic()
    for piece in pieces:
        if time.monotonic() - t0 > limit_s:
            return None
        try:
            conn.sendall(piece)
        except CLOSED_ERRORS:
            return time.monotonic() - t0
        if is_closed(conn, every_s):
            return time.monotonic() - t0
    return None


class HeaderLimitTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.start_server()

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def tearDown(self):
        self.assertIsNone(self.srv.proc.poll(), f"kluisd died:\n{self.srv.stderr[-4000:]}")
        self.assertEqual(self.srv.request("GET", "/health", token=False, host="127.0.0.1").status, 200)

    def test_64k_header_is_431_or_a_close(self):
        for extra in ("X-Big: " + "a" * 65536 + "\r\n",
                      "".join(f"X-H{i}: {'v' * 60}\r\n" for i in range(1000))):
            conn = Raw(self.srv)
            try:
                try:
                    conn.send((f"GET /secrets?{API} HTTP/1.1\r\nHost: {self.srv.vault_host}\r\n"
                               f"Authorization: Bearer {self.srv.token}\r\n{extra}\r\n").encode())
                    resp = conn.read_response()
                except CLOSED_ERRORS:
                    resp = None
            finally:
                conn.close()
            if resp is not None:  # libmicrohttpd answers 431 and closes
                self.assertIn(resp[0], (413, 431), resp[:2])
                self.assertEqual(resp[1].get("connection", "").lower(), "close")

    def test_headers_under_the_ceiling_pass(self):
        r = self.srv.request("GET", f"/secrets?{API}", headers={"X-Pad": "p" * 12000})
        self.assertEqual(r.status, 200, r)


class ConnectionLimitTest(unittest.TestCase):
    def test_per_address_and_total_limits(self):
        """Held connections busy in a request: past a limit a new one is refused. (With idle
        ones, the idle longest makes room instead: test_connections.py.)"""
        srv = harness.start_server(extra_args=["--threads", "1", "--max-connections", "5",
                                               "--max-connections-per-ip", "3"])
        held = []
        try:
            for _ in range(3):
                held.append(tls(srv))
                self.assertEqual(health(srv, held[-1]), 200)
                start_busy(srv, held[-1])
            self.assertTrue(is_refused(srv), "a 4th connection from 127.0.0.1")
            # another address has its own count, up to the total of 5
            for _ in range(2):
                held.append(tls(srv, "127.0.0.2"))
                self.assertEqual(health(srv, held[-1]), 200)
                start_busy(srv, held[-1])
            self.assertTrue(is_refused(srv, "127.0.0.3"), "a 6th connection in all")
            # every held connection still works
            for c in held:
                self.assertEqual(finish_busy(c), 200)
            # once one closes, its address may connect again
            held.pop(0).close()
            deadline = time.monotonic() + 10
            while is_refused(srv) and time.monotonic() < deadline:
                time.sleep(0.1)
            c = tls(srv)
            held.append(c)
            self.assertEqual(health(srv, c), 200)
        finally:
            for c in held:
                c.close()
            srv.close()

    def test_no_per_address_limit_by_default(self):
        """Behind HAProxy every client has the proxy's address: the default must not limit it."""
        srv = harness.start_server()
        held = []
        try:
            for _ in range(40):
                held.append(tls(srv))
            for c in held:
                self.assertEqual(health(srv, c), 200)
        finally:
            for c in held:
                c.close()
            srv.close()

    def test_bad_values_exit_2(self):
        for args in (["--max-connections", "0"], ["--max-connections", "1000001"],
                     ["--max-connections-per-ip", "-1"], ["--max-connections-per-ip", "x"],
                     ["--idle-timeout", "0"], ["--idle-timeout", "86401"],
                     ["--request-timeout", "0"], ["--request-timeout", "3601"]):
            p = subprocess.run([harness.KLUISD, *args], capture_output=True, timeout=30)
            self.assertEqual(p.returncode, 2, (args, p.stderr))
            self.assertIn(args[0].encode(), p.stderr)


class SlowClientTest(unittest.TestCase):
    """Two-second deadlines; every trickle sends a piece every quarter second, so libmicrohttpd's
    inactivity timeout (also two seconds) alone would never close any of them."""

    LIMIT_S = 20  # far above 2 s plus a sweep: only "never" fails

    @classmethod
    def setUpClass(cls):
        cls.srv = harness.start_server(extra_args=["--idle-timeout", "2", "--request-timeout", "2"])

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def tearDown(self):
        self.assertIsNone(self.srv.proc.poll(), f"kluisd died:\n{self.srv.stderr[-4000:]}")
        self.assertEqual(self.srv.request("GET", "/health", token=False, host="127.0.0.1").status, 200)

    def head(self, method="GET", path=None, extra=""):
        return (f"{method} {path or '/secrets?' + API} HTTP/1.1\r\nHost: {self.srv.vault_host}\r\n"
                f"Authorization: Bearer {self.srv.token}\r\n{extra}").encode()

    def assertClosedByDeadline(self, took):
        self.assertIsNotNone(took, f"still open after {self.LIMIT_S} s of trickling")
        self.assertGreaterEqual(took, 1.5)  # not at once: the deadline, not a refusal

    def test_trickled_request_line(self):
        conn = tls(self.srv)
        try:
            line = self.head()
            took = trickle(conn, [line[i:i + 1] for i in range(len(line))], 0.25, self.LIMIT_S)
        finally:
            conn.close()
        self.assertClosedByDeadline(took)

    def test_trickled_headers(self):
        conn = tls(self.srv)
        try:
            conn.sendall(self.head())
            took = trickle(conn, (f"X-Slow-{i}: x\r\n".encode() for i in range(10000)), 0.25,
                           self.LIMIT_S)
        finally:
            conn.close()
        self.assertClosedByDeadline(took)

    def test_trickled_body(self):
        conn = tls(self.srv)
        try:
            conn.sendall(self.head("PUT", f"/secrets/slow?{API}", "Content-Type: application/json\r\n"
                                   "Content-Length: 100000\r\n\r\n"))
            took = trickle(conn, (b"x" for _ in range(100000)), 0.25, self.LIMIT_S)
        finally:
            conn.close()
        self.assertClosedByDeadline(took)
        self.assertEqual(self.srv.request("GET", f"/secrets/slow?{API}").status, 404)

    def test_kept_alive_connection_serves_then_idles_out(self):
        conn = tls(self.srv)
        try:
            for _ in range(3):  # requests a second apart: within the idle timeout each time
                self.assertEqual(health(self.srv, conn), 200)
                time.sleep(1)
            self.assertTrue(is_closed(conn, self.LIMIT_S), "closed once idle for 2 s")
        finally:
            conn.close()

    def test_slow_handshake(self):
        """A TLS ClientHello trickled a byte at a time: the connection is idle, never inactive."""
        sock = socket.create_connection(("127.0.0.1", self.srv.port), 10)
        try:
            hello = bytes.fromhex("16030100c8010000c40303") + os.urandom(200)
            took = trickle(sock, [hello[i:i + 1] for i in range(len(hello))], 0.25, self.LIMIT_S)
        finally:
            sock.close()
        self.assertClosedByDeadline(took)



class NewConnectionDeadlineTest(unittest.TestCase):
    """A long idle timeout is for kept-alive connections (decisions.md §20): one that has not
    asked anything yet gets the shorter request timeout, TLS handshake done or not."""

    def test_silent_connections_get_the_request_timeout(self):
        srv = harness.start_server(extra_args=["--idle-timeout", "600", "--request-timeout", "2"])
        conns = []
        try:
            conns.append(tls(srv))  # TLS done, no request
            conns.append(socket.create_connection(("127.0.0.1", srv.port), 10))  # no byte at all
            t0 = time.monotonic()
            for c in conns:
                self.assertTrue(is_closed(c, 20), "closed after the request timeout")
            self.assertGreaterEqual(time.monotonic() - t0, 1.5)  # the deadline, not a refusal
            # answered once, the same kind of connection stays (600 s idle)
            kept = tls(srv)
            conns.append(kept)
            self.assertEqual(health(srv, kept), 200)
            self.assertFalse(is_closed(kept, 4), "a kept-alive connection is not closed at 2 s")
            self.assertEqual(health(srv, kept), 200)
        finally:
            for c in conns:
                c.close()
            srv.close()

if __name__ == "__main__":
    unittest.main()
