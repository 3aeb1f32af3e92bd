"""Guessing bearer tokens against a real kluisd (stdlib only).

Hundreds of wrong tokens, of the real format and not, on one keep-alive connection and on many:
every one gets 401 with the challenge, and the answer to an unknown token is the same, byte for
byte but for the request id, as the answer to a revoked token, an expired one, one of a deleted
principal, or one that differs from a valid token in its last character: nothing tells a guesser
how close it came or that a token once existed. Wrong tokens never open a write, and nothing
stored changes. The time each kind takes is printed (figures, not judged: timing belongs to bench/;
tokens are looked up by their SHA-256 digest, so no prefix of a guess can match early).

Run: cd tests/e2e/raw && /usr/bin/python3 -m unittest -v test_tokens
"""

import base64
import os
import secrets
import statistics
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rawlib import (API, Raw, admin, assert_azure_error, assign, make_principal,  # noqa: E402
                    snapshot, start_server)

GUESSES = 300


def kl1_token():
    """A random token of the format kluis issues."""
    return "kl1." + base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()


class TokenGuessing(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = start_server()
        r = cls.srv.request("PUT", f"/secrets/canary?{API}", body={"value": "canary value"})
        assert r.status == 200, r
        pid, cls.good = make_principal(cls.srv, "guess-target")
        assign(cls.srv, pid, "Key Vault Secrets Officer", "default")
        # A revoked token, an expiring one and the token of a principal deleted afterwards.
        r = admin(cls.srv, "POST", f"/kluis/v1/principals/{pid}/tokens")
        cls.revoked, tid = r.json["token"], r.json["id"]
        assert admin(cls.srv, "DELETE", f"/kluis/v1/principals/{pid}/tokens/{tid}").status == 200
        cls.expiry = int(time.time()) + 2
        r = admin(cls.srv, "POST", f"/kluis/v1/principals/{pid}/tokens", {"expiresOn": cls.expiry})
        cls.expiring = r.json["token"]
        gone_id, cls.gone = make_principal(cls.srv, "guess-gone")
        assign(cls.srv, gone_id, "Key Vault Secrets Officer", "default")
        assert admin(cls.srv, "DELETE", f"/kluis/v1/principals/{gone_id}").status == 200
        cls.before = snapshot(cls.srv, "default")

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def tearDown(self):
        self.assertIsNone(self.srv.proc.poll(), f"kluisd died:\n{self.srv.stderr[-4000:]}")
        self.assertEqual(snapshot(self.srv, "default"), self.before, "nothing stored changed")

    def ask(self, conn, token, method="GET", body=b""):
        head = (f"{method} /secrets/canary?{API} HTTP/1.1\r\nHost: {self.srv.vault_host}:{self.srv.port}\r\n"
                f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n")
        t0 = time.monotonic()
        resp = conn.request(head, body)
        return resp, time.monotonic() - t0

    def normalised(self, resp):
        """The answer without what differs per request: status, headers, body."""
        status, headers, body = resp
        h = {k: v for k, v in headers.items() if k not in ("date", "x-ms-request-id")}
        return status, tuple(sorted(h.items())), body

    def test_wrong_tokens_always_401_and_indistinguishable(self):
        conn = Raw(self.srv)
        timings = {}
        answers = {}
        try:
            kinds = {
                "unknown (kl1 format)": [kl1_token() for _ in range(GUESSES)],
                "valid but last char": [self.good[:-1] + ("A" if self.good[-1] != "A" else "B")],
                "valid plus a char": [self.good + "A"],
                "valid prefix": [self.good[:20]],
                "revoked": [self.revoked],
                "deleted principal": [self.gone],
                "not the format": ["x", "A" * 43, "kl1.", "kl2." + kl1_token()[4:], "eyJhbGciOiJub25lIn0.e30.",
                                   "Zm9vOmJhcg=="],
            }
            for kind, tokens in kinds.items():
                for tok in tokens:
                    resp, dt = self.ask(conn, tok)
                    if resp is None:  # the server may close a connection: carry on on a new one
                        conn.close()
                        conn = Raw(self.srv)
                        resp, dt = self.ask(conn, tok)
                    self.assertIsNotNone(resp, kind)
                    status, headers, body = resp
                    assert_azure_error(self, status, headers, body, 401, "Unauthorized", kind)
                    self.assertTrue(headers.get("www-authenticate"), kind)
                    self.assertNotIn(tok.encode(), body, "the token is never echoed")
                    timings.setdefault(kind, []).append(dt)
                    answers.setdefault(self.normalised(resp), []).append(kind)
            # The expiring token, once its expiresOn has passed (the server's clock is ours).
            time.sleep(max(0.0, self.expiry + 1 - time.time()))
            resp, dt = self.ask(conn, self.expiring)
            timings["expired"] = [dt]
            answers.setdefault(self.normalised(resp), []).append("expired")
        finally:
            conn.close()
        self.assertEqual(len(answers), 1, "one answer for every wrong token:\n" +
                         "\n".join(f"{sorted(set(k))}: {a}" for a, k in answers.items()))
        print("\n  401 latency median (ms): " + ", ".join(
            f"{k} {statistics.median(v) * 1000:.2f}" for k, v in timings.items()), file=sys.stderr)

    def test_wrong_tokens_never_write(self):
        conn = Raw(self.srv)
        try:
            for tok in [kl1_token() for _ in range(50)] + [self.revoked, self.gone]:
                resp, _ = self.ask(conn, tok, "PUT", b'{"value":"written by a guesser"}')
                if resp is None:
                    conn.close()
                    conn = Raw(self.srv)
                    continue  # refused before the body: the connection closes
                self.assertEqual(resp[0], 401, resp)
                conn.close()  # a refused request with a body closes its connection
                conn = Raw(self.srv)
        finally:
            conn.close()

    def test_many_connections_of_guesses(self):
        """Each guess on its own connection (a new TLS handshake each), as a distributed guesser
        would: 401 every time, and the valid token still works afterwards."""
        for _ in range(40):
            r = self.srv.request("GET", f"/secrets/canary?{API}", token=kl1_token())
            self.assertEqual(r.status, 401, r)
        r = self.srv.request("GET", f"/secrets/canary?{API}", token=self.good)
        self.assertEqual((r.status, r.json["value"]), (200, "canary value"))


if __name__ == "__main__":
    unittest.main()
