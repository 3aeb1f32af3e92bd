"""A client that pauses between calls keeps its pooled connection (Debian's python3-azure).

The Python SDK (azure-core over requests and urllib3) keeps idle connections in its pool with no
time limit of its own and reuses them without warning. With kluisd's old 60 s idle timeout, a
backup, a pause of about a minute and a restore on the same connection failed: the server closed
the connection just as the client sent on it ("EOF occurred in violation of protocol"), and a POST
is not retried. Idle connections now live for 10 minutes by default (decisions.md §20).

This suite pauses 65 s on purpose, longer than the old default: it is the behaviour under test,
not a wait for a result. It runs about 70 s; ctest starts it first (COST) so that it overlaps
the other suites (tests/e2e/CMakeLists.txt).

Run: cd tests/e2e/py && /usr/bin/python3 -m unittest -v test_idle_pool
"""

import time
import unittest

import requests
from azure.core.pipeline.transport import RequestsTransport

import harness

PAUSE_S = 65  # longer than kluisd's idle timeout before decisions.md §20 (60 s)


class IdlePoolTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.start_server()  # the default --idle-timeout

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def test_backup_pause_restore_on_one_pooled_connection(self):
        session = requests.Session()
        client = self.srv.secret_client(transport=RequestsTransport(session=session,
                                                                    session_owner=False))
        try:
            name = harness.unique_name("idle")
            client.set_secret(name, "kept across a pause")
            blob = client.backup_secret(name)
            client.begin_delete_secret(name).result()
            client.purge_deleted_secret(name)

            def connections():
                """The local ports of the connections pooled for the vault (one TCP connection
                each: a connection urllib3 found closed and opened again has a new port)."""
                pools = session.get_adapter(self.srv.vault_url).poolmanager.pools
                return [c.sock.getsockname()[1] for k in pools.keys()
                        for c in pools[k].pool.queue if c is not None and c.sock is not None]

            before = connections()
            self.assertEqual(len(before), 1, "one pooled connection so far")
            t0 = time.monotonic()
            time.sleep(PAUSE_S)  # the client's pause is what is tested
            self.assertGreaterEqual(time.monotonic() - t0, PAUSE_S)
            restored = client.restore_secret_backup(blob)
            self.assertEqual(restored.name, name)
            self.assertEqual(client.get_secret(name).value, "kept across a pause")
            self.assertEqual(connections(), before, "the same connection served after the pause")
        finally:
            client.close()
            session.close()


if __name__ == "__main__":
    unittest.main()
