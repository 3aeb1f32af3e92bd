"""kill -9 while many writers' secrets are being committed together (grouped commits), driven over
raw HTTPS keep-alive connections: every write kluisd acknowledged is there after a restart, and a
write cut off by the kill is there whole or not at all."""

import http.client
import json
import secrets
import signal
import ssl
import threading
import time
import unittest

import harness
from harness import unique_name

API = "api-version=7.5"
WRITERS = 16        # client threads, each with one keep-alive connection
THREADS = 16        # kluisd's worker threads: as many store_txn calls at once as writers
KILL_AFTER = 400    # acknowledged writes before the kill
WAIT_LIMIT_S = 120  # a bound on waiting for them, never an assertion on speed


class Writer(threading.Thread):
    """PUTs secrets of its own names one after another until its connection breaks."""

    def __init__(self, srv, prefix, wid, acked, lock):
        super().__init__(daemon=True)
        self.srv, self.prefix, self.wid = srv, prefix, wid
        self.acked, self.lock = acked, lock
        self.in_flight = None  # (name, value) sent and not answered
        self.failure = None    # an answer that was not 200, before the kill

    def run(self):
        conn = self.srv.connect(timeout=60)
        headers = {"Host": f"{self.srv.vault_host}:{self.srv.port}",
                   "Authorization": f"Bearer {self.srv.token}",
                   "Content-Type": "application/json"}
        i = 0
        try:
            while True:
                name = f"{self.prefix}-{self.wid}-{i}"
                value = f"group {self.wid} {i} {secrets.token_hex(8)}"
                self.in_flight = (name, value)
                conn.request("PUT", f"/secrets/{name}?{API}", body=json.dumps({"value": value}),
                             headers=headers)
                resp = conn.getresponse()
                body = resp.read()
                if resp.status != 200:
                    self.failure = f"{resp.status} {body[:300]!r}"
                    return
                version = json.loads(body)["id"].rsplit("/", 1)[1]
                with self.lock:
                    self.acked.append((name, version, value))
                self.in_flight = None
                i += 1
        except (OSError, http.client.HTTPException, ssl.SSLError):
            pass  # the kill: what was in flight has an unknown outcome
        finally:
            conn.close()


class Kill9GroupTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.start_server(extra_args=["--threads", str(THREADS)])

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def get(self, conn, path):
        conn.request("GET", f"{path}?{API}",
                     headers={"Host": f"{self.srv.vault_host}:{self.srv.port}",
                              "Authorization": f"Bearer {self.srv.token}"})
        resp = conn.getresponse()
        return resp.status, resp.read()

    def test_acked_writes_survive_kill_during_groups(self):
        prefix = unique_name("k9g")
        acked, lock = [], threading.Lock()
        writers = [Writer(self.srv, prefix, w, acked, lock) for w in range(WRITERS)]
        for w in writers:
            w.start()
        deadline = time.monotonic() + WAIT_LIMIT_S
        while len(acked) < KILL_AFTER and time.monotonic() < deadline:
            if not any(w.is_alive() for w in writers):
                break
            time.sleep(0.01)
        alive = sum(w.is_alive() for w in writers)
        with lock:
            acked_at_kill = len(acked)
        self.assertEqual(self.srv.kill9(), -signal.SIGKILL)
        for w in writers:
            w.join(60)
            self.assertFalse(w.is_alive())
            self.assertIsNone(w.failure)
        self.assertGreaterEqual(acked_at_kill, KILL_AFTER)
        self.assertEqual(alive, WRITERS, "every writer was writing when kluisd was killed")
        cut = [w.in_flight for w in writers if w.in_flight is not None]
        self.assertTrue(cut, "some writes were in flight at the kill")

        self.srv.start()
        conn = self.srv.connect(timeout=60)
        try:
            for name, version, value in acked:
                status, body = self.get(conn, f"/secrets/{name}/{version}")
                self.assertEqual(status, 200, f"acknowledged {name} lost: {body[:200]!r}")
                self.assertEqual(json.loads(body)["value"], value)
            whole = 0
            for name, value in cut:  # unknown outcome: all of it or nothing
                status, body = self.get(conn, f"/secrets/{name}")
                self.assertIn(status, (200, 404), body[:200])
                if status == 200:
                    self.assertEqual(json.loads(body)["value"], value)
                    whole += 1
        finally:
            conn.close()
        print(f"\n# {len(acked)} acknowledged writes of {WRITERS} writers all found after kill -9; "
              f"{len(cut)} cut off ({whole} committed)")
        client = self.srv.secret_client()  # and the store takes writes again
        self.assertEqual(client.set_secret(f"{prefix}-after", "after").value, "after")
        client.close()


if __name__ == "__main__":
    unittest.main()
