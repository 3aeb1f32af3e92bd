"""Reaching into another vault (stdlib only): principals of vault A on vault B, and Host header
games.

Two vaults, xv-alpha and xv-bravo, each with a secret "s" and a key "k" of its own, and a
principal for each that may do everything with secrets and keys of its own vault only (Key Vault
Secrets Officer and Crypto Officer). Every data-plane operation of alpha's principal on bravo is
403 Forbidden. Then the vault a request reaches is decided by its Host header alone: not by the
TLS server name, not by an absolute-form request target, not by X-Forwarded-Host; a repeated or
malformed Host is refused; a fully qualified host (trailing dot) is its vault; hosts that only
contain a vault's name reach no vault. After every test /health answers and the snapshot of both
vaults is unchanged.

Run: cd tests/e2e/raw && /usr/bin/python3 -m unittest -v test_cross_vault
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rawlib import (API, Raw, assert_azure_error, assert_error, assign, dp,  # noqa: E402
                    make_principal, make_vault, raw_json, snapshot, start_server)

A, B = "xv-alpha", "xv-bravo"
VALUE = {A: "the secret of alpha", B: "the secret of bravo"}
ZERO = "A" * 43  # 32 zero bytes, base64url


def operations():
    """(method, path, body) for every data-plane operation, on objects that exist in both vaults."""
    return [
        ("GET", "/secrets/s", None), ("GET", "/secrets/s/", None), ("GET", "/secrets", None),
        ("GET", "/secrets/s/versions", None), ("GET", "/deletedsecrets", None),
        ("PUT", "/secrets/s", {"value": "overwritten"}), ("PUT", "/secrets/planted", {"value": "x"}),
        ("PATCH", "/secrets/s/", {"contentType": "changed"}), ("DELETE", "/secrets/s", None),
        ("POST", "/secrets/s/backup", None), ("POST", "/secrets/restore", {"value": ZERO}),
        ("POST", "/deletedsecrets/s/recover", None), ("DELETE", "/deletedsecrets/s", None),
        ("GET", "/keys/k", None), ("GET", "/keys", None), ("GET", "/keys/k/versions", None),
        ("POST", "/keys/planted/create", {"kty": "EC"}), ("PATCH", "/keys/k/", {"tags": {"t": "x"}}),
        ("DELETE", "/keys/k", None), ("POST", "/keys/k/backup", None),
        ("POST", "/keys/k/rotate", None), ("GET", "/keys/k/rotationpolicy", None),
        ("PUT", "/keys/k/rotationpolicy", {"attributes": {"expiryTime": "P2Y"}}),
        ("POST", "/keys/k//sign", {"alg": "ES256", "value": ZERO}),
        ("POST", "/keys/k//verify", {"alg": "ES256", "digest": ZERO, "value": ZERO + ZERO}),
        ("POST", "/keys/k//encrypt", {"alg": "RSA-OAEP", "value": ZERO}),
        ("POST", "/rng", {"count": 8}),
    ]


class CrossVault(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = start_server()
        cls.token = {}
        for v in (A, B):
            make_vault(cls.srv, v)
            assert dp(cls.srv, v, "PUT", "/secrets/s", {"value": VALUE[v]}).status == 200
            r = dp(cls.srv, v, "POST", "/keys/k/create", {"kty": "EC", "crv": "P-256"})
            assert r.status == 200, r
            pid, cls.token[v] = make_principal(cls.srv, f"owner-{v}")
            assign(cls.srv, pid, "Key Vault Secrets Officer", v)
            assign(cls.srv, pid, "Key Vault Crypto Officer", v)
        cls.before = {v: snapshot(cls.srv, v) for v in (A, B, "default")}

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def tearDown(self):
        self.assertIsNone(self.srv.proc.poll(), f"kluisd died:\n{self.srv.stderr[-4000:]}")
        for v in (A, B, "default"):
            self.assertEqual(snapshot(self.srv, v), self.before[v], f"vault {v} unchanged")

    def host(self, vault):
        return f"{vault}.{self.srv.dns_suffix}"

    def test_own_vault_works(self):
        """The control: each principal reads its own vault's secret."""
        for v in (A, B):
            r = dp(self.srv, v, "GET", "/secrets/s", token=self.token[v])
            self.assertEqual((r.status, r.json["value"]), (200, VALUE[v]), r)

    def test_every_operation_on_the_other_vault_is_403(self):
        for attacker, victim in ((A, B), (B, A)):
            for method, path, body in operations():
                r = dp(self.srv, victim, method, path, body, token=self.token[attacker])
                assert_error(self, r, 403, "Forbidden", f"{attacker} {method} {path} on {victim}: {r}")
                self.assertNotIn(VALUE[victim], r.text)
            r = dp(self.srv, "default", "GET", "/secrets", token=self.token[attacker])
            assert_error(self, r, 403, "Forbidden")

    def test_management_and_admin_refused(self):
        for v in (A, B):
            for method, path in (("GET", "/kluis/v1/principals"), ("GET", "/kluis/v1/roleAssignments"),
                                 ("POST", "/kluis/v1/roleAssignments")):
                body = {"principal": f"owner-{v}", "role": "Kluis Administrator"} if method == "POST" else None
                r = self.srv.request(method, path, body, host="localhost", token=self.token[v])
                assert_error(self, r, 403, msg=f"{v} {method} {path}: {r}")

    def raw_get(self, host_header, token, sni=None, target=None, extra=""):
        target = target or f"/secrets/s?{API}"
        conn = Raw(self.srv, host=sni or self.host(A))
        try:
            return conn.request(f"GET {target} HTTP/1.1\r\n{host_header}"
                                f"Authorization: Bearer {token}\r\n{extra}Connection: close")
        finally:
            conn.close()

    def test_host_decides_not_sni(self):
        """TLS server name of bravo, Host of alpha: the request is alpha's. Bravo's principal is
        refused there; alpha's reads alpha's secret, never bravo's."""
        for port in ("", f":{self.srv.port}"):
            resp = self.raw_get(f"Host: {self.host(A)}{port}\r\n", self.token[B], sni=self.host(B))
            assert_azure_error(self, *resp, 403, "Forbidden")
            resp = self.raw_get(f"Host: {self.host(A)}{port}\r\n", self.token[A], sni=self.host(B))
            self.assertEqual((resp[0], raw_json(resp)["value"]), (200, VALUE[A]), resp)

    def test_absolute_form_target_does_not_pick_the_vault(self):
        """An absolute-form target naming bravo, with alpha's Host: never bravo's data. kluis does
        not route on the target's authority: it is not a path of the API (404)."""
        for token in (self.token[A], self.token[B]):
            for scheme in ("https", "http"):
                target = f"{scheme}://{self.host(B)}:{self.srv.port}/secrets/s?{API}"
                resp = self.raw_get(f"Host: {self.host(A)}\r\n", token, target=target)
                self.assertIsNotNone(resp)
                self.assertNotIn(VALUE[B].encode(), resp[2])
                if resp[0] == 200:
                    self.assertEqual(raw_json(resp)["value"], VALUE[A])
                else:
                    assert_azure_error(self, *resp, (400, 403, 404))

    def test_repeated_or_conflicting_host_refused(self):
        for headers in (f"Host: {self.host(A)}\r\nHost: {self.host(B)}\r\n",
                        f"Host: {self.host(B)}\r\nHost: {self.host(B)}\r\n",
                        f"Host: {self.host(A)}\r\nhost: {self.host(A)}\r\n"):
            for v in (A, B):
                resp = self.raw_get(headers, self.token[v])
                self.assertIsNotNone(resp)
                assert_azure_error(self, *resp, 400, "BadParameter")

    def test_forwarding_headers_are_ignored(self):
        for extra in (f"X-Forwarded-Host: {self.host(B)}\r\n", f"Forwarded: host={self.host(B)}\r\n",
                      f"X-Original-Host: {self.host(B)}\r\n", f"X-Host: {self.host(B)}\r\n"):
            resp = self.raw_get(f"Host: {self.host(A)}\r\n", self.token[A], extra=extra)
            self.assertEqual((resp[0], raw_json(resp)["value"]), (200, VALUE[A]), extra)
            resp = self.raw_get(f"Host: {self.host(A)}\r\n", self.token[B], extra=extra)
            assert_azure_error(self, *resp, 403, "Forbidden")

    def test_host_spellings(self):
        """Case and a trailing dot (the fully qualified form) name the same vault; hosts that only
        contain a vault's name, or carry userinfo, reach no vault; garbage is refused."""
        same = [self.host(B).upper(), self.host(B) + ".", self.host(B) + f".:{self.srv.port}",
                self.host(B).replace("vault", "VaUlT")]
        for h in same:
            resp = self.raw_get(f"Host: {h}\r\n", self.token[B])
            self.assertEqual((resp[0], raw_json(resp)["value"]), (200, VALUE[B]), f"{h}: {resp}")
            resp = self.raw_get(f"Host: {h}\r\n", self.token[A])
            assert_azure_error(self, *resp, 403, "Forbidden", f"alpha's token through {h}")
        nowhere = [f"{A}.{self.host(B)}", f"{self.host(B)}.{self.host(A)}", f"x.{self.host(B)}"]
        for h in nowhere:
            resp = self.raw_get(f"Host: {h}\r\n", self.token[B])
            assert_azure_error(self, *resp, 404, "VaultNotFound", h)
        refused = [f"{self.host(A)}@{self.host(B)}", f"{self.host(B)}/../{A}", f"{self.host(B)}%2e",
                   f"{self.host(B)} {self.host(A)}", f"{self.host(B)}\\", '"' + self.host(B) + '"']
        for h in refused:
            resp = self.raw_get(f"Host: {h}\r\n", self.token[B])
            if resp is None or not resp[1].get("x-ms-request-id"):
                continue  # refused by libmicrohttpd before kluis saw it
            self.assertNotIn(VALUE[B].encode(), resp[2], h)
            assert_azure_error(self, *resp, (400, 403, 404), msg=f"{h}: {resp}")

    def test_default_vault_hosts_are_not_the_other_vaults(self):
        """A host outside the vault DNS suffix addresses the default vault, never alpha or bravo."""
        for h in ("localhost", "127.0.0.1", f"{B}.example.com", f"{B}", f"{B}.vault"):
            resp = self.raw_get(f"Host: {h}:{self.srv.port}\r\n", self.token[B])
            assert_azure_error(self, *resp, 403, "Forbidden", h)  # bravo has no role on default
            self.assertNotIn(VALUE[B].encode(), resp[2])

    def test_restore_into_a_vault_without_rights(self):
        """Bravo's principal backs up its secret and tries to restore it into alpha: 403; the
        admin may restore it there (a backup is meant to move between the deployment's vaults,
        as in Azure), which the tearDown check would notice, so it goes into a third vault."""
        r = dp(self.srv, B, "POST", "/secrets/s/backup", token=self.token[B])
        self.assertEqual(r.status, 200, r)
        blob = r.json["value"]
        r = dp(self.srv, A, "POST", "/secrets/restore", {"value": blob}, token=self.token[B])
        assert_error(self, r, 403, "Forbidden")
        make_vault(self.srv, "xv-charlie")
        r = dp(self.srv, "xv-charlie", "POST", "/secrets/restore", {"value": blob})
        self.assertEqual(r.status, 200, r)
        r = dp(self.srv, "xv-charlie", "GET", "/secrets/s")
        self.assertEqual(r.json["value"], VALUE[B])


if __name__ == "__main__":
    unittest.main()
