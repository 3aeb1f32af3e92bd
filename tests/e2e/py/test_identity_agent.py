"""`kluis identity-agent` between a real kluisd and unchanged applications: Debian's azure.identity
(ManagedIdentityCredential, DefaultAzureCredential) configured only by
AZURE_POD_IDENTITY_AUTHORITY_HOST in the child's environment reads a secret through
azure.keyvault.secrets; user-assigned identities picked by AZURE_CLIENT_ID and IMDS's other ids;
the IMDS and Cloud Shell request shapes and their refusals; the cache; a revoked credential; the
certificate route; a clean stop.

Run from tests/e2e/py: KLUISD=... KLUIS_CLI=... /usr/bin/python3 -m unittest -v test_identity_agent
"""

import os
import re
import shutil
import tempfile
import unittest

import agentutil
import harness
from agentutil import Agent, jwt_claims, make_principal, run_app, sdk_env, write_secret_file

SECRET = "agent-secret"
VALUE = "read through the identity agent"


class AgentCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        agentutil.need_cli()
        cls.srv = harness.start_server()
        cls.tmp = tempfile.mkdtemp(prefix="kluis-agent-")
        r = cls.srv.request("PUT", f"/secrets/{SECRET}?api-version=7.5", {"value": VALUE})
        assert r.status == 200, r
        cls.app1 = make_principal(cls.srv, harness.unique_name("app1"))
        cls.app2 = make_principal(cls.srv, harness.unique_name("app2"))
        cls.names = {}
        cls.files = []
        for i, (pid, tok, _) in enumerate((cls.app1, cls.app2)):
            cls.files.append(write_secret_file(os.path.join(cls.tmp, f"app{i + 1}.token"), tok))
        cls.agent = Agent(cls.srv, [f"token:{f}" for f in cls.files]).start()
        cls.secrets = {cls.srv.token, cls.app1[1], cls.app2[1]}

    @classmethod
    def tearDownClass(cls):
        try:
            code = cls.agent.stop()
            assert code == 0, f"the agent exited {code} on SIGTERM:\n{cls.agent.log}"
            assert "stopping on signal" in cls.agent.log, cls.agent.log
        finally:
            cls.srv.close()
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def tearDown(self):
        for s in self.secrets:
            self.assertNotIn(s, self.agent.log, "a credential reached the agent's log")

    def imds_env(self, **extra):
        return sdk_env(self.srv, AZURE_POD_IDENTITY_AUTHORITY_HOST=self.agent.url, **extra)

    # --- unchanged applications ------------------------------------------------------------

    def test_managed_identity_credential_reads_a_secret(self):
        out, err = run_app("mi", self.srv.vault_url, SECRET, self.imds_env())
        self.assertEqual(out, VALUE, err)

    def test_default_credential_reads_a_secret(self):
        out, err = run_app("default", self.srv.vault_url, SECRET, self.imds_env())
        self.assertEqual(out, VALUE, err)

    def test_user_assigned_by_azure_client_id(self):
        out, err = run_app("default", self.srv.vault_url, SECRET,
                           self.imds_env(AZURE_CLIENT_ID=self.app2[0]))
        self.assertEqual(out, VALUE, err)
        self.agent.wait_log(r"identity 1 \([^)]*\): new token")
        self.assertRegex(self.agent.log, r"identity 1 \([^)]*\): new token for https://vault")

    def test_unknown_user_assigned_identity_is_unavailable(self):
        # IMDS's 400: the managed identity credential says "not assigned" and the chain moves on
        out, _ = run_app("default", self.srv.vault_url, SECRET,
                         self.imds_env(AZURE_CLIENT_ID="00000000-0000-0000-0000-000000000000"))
        self.assertTrue(out.startswith("ERROR ClientAuthenticationError"), out)
        self.assertIn("requested identity has not been assigned", out)

    # --- the IMDS shape ---------------------------------------------------------------------

    def test_answer_has_the_imds_body(self):
        status, body = self.agent.imds("https://vault.azure.net")
        self.assertEqual(status, 200, body)
        self.secrets.add(body["access_token"])
        self.assertEqual(set(body), {"access_token", "client_id", "expires_in", "expires_on",
                                     "resource", "token_type"})
        self.assertEqual(body["resource"], "https://vault.azure.net")
        self.assertEqual(body["token_type"], "Bearer")
        self.assertEqual(body["client_id"], self.app1[0])
        self.assertRegex(body["expires_on"], r"^\d+$")
        self.assertRegex(body["expires_in"], r"^\d+$")
        claims = jwt_claims(body["access_token"])
        self.assertEqual(claims["oid"], self.app1[0])
        self.assertEqual(claims["aud"].rstrip("/"), "https://vault.azure.net")
        self.assertEqual(int(body["expires_on"]), claims["exp"])
        self.assertIn("tid", claims)

    def test_trailing_slash_path_as_msal_sends_it(self):
        status, body = self.agent.request("GET", "/metadata/identity/oauth2/token/",
                                          {"api-version": "2018-02-01",
                                           "resource": "https://vault.azure.net"},
                                          {"Metadata": "true"})
        self.assertEqual(status, 200, body)
        self.secrets.add(body["access_token"])

    def test_user_assigned_selectors(self):
        pid, name = self.app2[0], self.agent_name(1)
        rid = ("/subscriptions/s/resourcegroups/rg/providers/Microsoft.ManagedIdentity/"
               f"userAssignedIdentities/{name}")
        for ids in ({"client_id": pid}, {"client_id": name}, {"object_id": pid},
                    {"msi_res_id": rid}, {"mi_res_id": rid}, {"client_id": pid.upper()}):
            status, body = self.agent.imds("https://vault.azure.net", **ids)
            self.assertEqual(status, 200, (ids, body))
            self.secrets.add(body["access_token"])
            self.assertEqual(jwt_claims(body["access_token"])["oid"], pid, ids)
            self.assertEqual(body["client_id"], pid)

    def agent_name(self, i):
        """The principal name of identity i, as the agent logged it at start."""
        m = re.search(rf"identity {i} \(token file [^)]*\) is principal (\S+) ", self.agent.log)
        self.assertIsNotNone(m, self.agent.log)
        return m.group(1)

    def test_refusals(self):
        cases = [
            ({}, {}, 400, "metadata header"),   # no Metadata header at all
            ({"Metadata": "false"}, {}, 400, "metadata header"),
            ({"Metadata": "true", "X-Forwarded-For": "10.0.0.1"}, {}, 400, "X-Forwarded-For"),
            ({"Metadata": "true"}, {"api-version": None}, 400, "api-version"),
            ({"Metadata": "true"}, {"api-version": "2017-09-01"}, 400, "api-version"),
            ({"Metadata": "true"}, {"resource": None}, 400, "resource"),
            ({"Metadata": "true"}, {"client_id": "nobody-here"}, 400, "Identity not found"),
            ({"Metadata": "true"}, {"client_id": self.app1[0], "object_id": self.app1[0]}, 400,
             "only one"),
            ({"Metadata": "true"}, {"resource": "https://elsewhere.example"}, 400, "kluisd"),
        ]
        for headers, change, status, text in cases:
            params = {"api-version": "2018-02-01", "resource": "https://vault.azure.net"}
            params.update(change)
            params = {k: v for k, v in params.items() if v is not None}
            got, body = self.agent.request("GET", "/metadata/identity/oauth2/token", params,
                                           headers)
            self.assertEqual(got, status, (headers, change, body))
            self.assertIn("error", body)
            self.assertIn(text.lower(), body["error_description"].lower(), body)

    def test_unknown_path_and_method(self):
        self.assertEqual(self.agent.request("GET", "/metadata/instance", {},
                                            {"Metadata": "true"})[0], 404)
        self.assertEqual(self.agent.request("POST", "/metadata/identity/oauth2/token", {},
                                            {"Metadata": "true"}, body=b"")[0], 405)
        self.assertEqual(self.agent.request("GET", "/msi/token", {"resource": "x"},
                                            {"Metadata": "true"})[0], 405)

    # --- Cloud Shell (az login --identity) --------------------------------------------------

    def test_cloud_shell_form(self):
        form = {"Metadata": "true", "Content-Type": "application/x-www-form-urlencoded"}
        status, body = self.agent.request("POST", "/msi/token", headers=form,
                                          body="resource=https%3A%2F%2Fmanagement.core.windows.net%2F")
        self.assertEqual(status, 200, body)
        self.secrets.add(body["access_token"])
        self.assertEqual(body["resource"], "https://management.core.windows.net/")
        self.assertEqual(jwt_claims(body["access_token"])["oid"], self.app1[0])
        status, body = self.agent.request(
            "POST", "/msi/token", headers=form,
            body=f"resource=https%3A%2F%2Fvault.azure.net&client_id={self.app2[0]}")
        self.assertEqual(status, 200, body)
        self.secrets.add(body["access_token"])
        self.assertEqual(jwt_claims(body["access_token"])["oid"], self.app2[0])
        # what az's user-assigned sniffing needs: an unknown id is a 400
        status, body = self.agent.request("POST", "/msi/token", headers=form,
                                          body="resource=https%3A%2F%2Fvault.azure.net&"
                                               "object_id=not-one-of-ours")
        self.assertEqual(status, 400, body)
        status, body = self.agent.request("POST", "/msi/token",
                                          headers={"Content-Type": form["Content-Type"]},
                                          body="resource=x")
        self.assertEqual(status, 400, body)
        status, body = self.agent.request("POST", "/msi/token", headers=form,
                                          body="resource=a&resource=b")
        self.assertEqual(status, 400, body)

    # --- the cache --------------------------------------------------------------------------

    def test_cache_per_identity_and_resource(self):
        res = f"https://{harness.unique_name('c')}.vault.localhost:{self.srv.port}"
        first = self.agent.imds(res)
        second = self.agent.imds(res)
        other = self.agent.imds(res, client_id=self.app2[0])
        for status, body in (first, second, other):
            self.assertEqual(status, 200, body)
            self.secrets.add(body["access_token"])
        self.assertEqual(first[1]["access_token"], second[1]["access_token"])
        self.assertNotEqual(first[1]["access_token"], other[1]["access_token"])
        # the log line of a fetch is written before its answer, but read by a thread of ours
        self.agent.wait_log(rf"new token for {re.escape(res)},(.|\n)*new token for {re.escape(res)},")
        self.assertEqual(self.agent.log.count(f"new token for {res},"), 2, self.agent.log)


class RevokedCredentialTest(unittest.TestCase):
    """A token file whose token was revoked: the agent's next fetch fails with a 403 that says
    so, and an application sees that message (not a hang, not a 5xx retry storm)."""

    @classmethod
    def setUpClass(cls):
        agentutil.need_cli()
        cls.srv = harness.start_server()
        cls.tmp = tempfile.mkdtemp(prefix="kluis-agent-rev-")

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_revoked_token_fails_clearly(self):
        name = harness.unique_name("rev")
        pid, tok, tid = make_principal(self.srv, name)
        path = write_secret_file(os.path.join(self.tmp, "rev.token"), tok)
        agent = Agent(self.srv, [f"token:{path}"]).start()
        try:
            status, body = agent.imds("https://vault.azure.net")
            self.assertEqual(status, 200, body)
            r = self.srv.request("DELETE", f"/kluis/v1/principals/{pid}/tokens/{tid}",
                                 host="localhost")
            self.assertIn(r.status, (200, 204), r)
            status, body = agent.imds(f"https://vault.localhost:{self.srv.port}")
            self.assertEqual(status, 403, body)
            self.assertIn("refused the credential", body["error_description"])
            self.assertIn(path, body["error_description"])
            out, _ = run_app("mi", self.srv.vault_url, "any", sdk_env(
                self.srv, AZURE_POD_IDENTITY_AUTHORITY_HOST=agent.url))
            self.assertTrue(out.startswith("ERROR ClientAuthenticationError"), out)
            self.assertIn("refused the credential", out)
            self.assertNotIn(tok, agent.log)
            self.assertRegex(agent.wait_log(r"no token for .*refused the credential"),
                             r"no token for .*refused the credential")
        finally:
            self.assertEqual(agent.stop(), 0, agent.log)

    def test_sighup_reads_a_rotated_token(self):
        import signal
        pid, old, tid = make_principal(self.srv, harness.unique_name("rot"))
        path = write_secret_file(os.path.join(self.tmp, "rot.token"), old)
        agent = Agent(self.srv, [f"token:{path}"]).start()
        try:
            status, first = agent.imds("https://vault.azure.net")
            self.assertEqual(status, 200, first)
            r = self.srv.request("POST", f"/kluis/v1/principals/{pid}/tokens", {},
                                 host="localhost")
            self.assertEqual(r.status, 201, r)
            new = r.json["token"]
            self.srv.request("DELETE", f"/kluis/v1/principals/{pid}/tokens/{tid}",
                             host="localhost")
            write_secret_file(path, new)
            self.assertEqual(agent.imds("https://vault.localhost")[0], 403)  # the old token
            agent.proc.send_signal(signal.SIGHUP)
            agent.wait_log(r"reloaded 1 of 1 identities")
            status, body = agent.imds("https://vault.azure.net")
            self.assertEqual(status, 200, body)
            self.assertNotEqual(body["access_token"], first["access_token"])  # cache dropped
            self.assertEqual(jwt_claims(body["access_token"])["oid"], pid)
            for tok in (old, new, body["access_token"]):
                self.assertNotIn(tok, agent.log)
        finally:
            self.assertEqual(agent.stop(), 0, agent.log)

    def test_start_refuses_bad_credentials_and_addresses(self):
        bad = write_secret_file(os.path.join(self.tmp, "bad.token"), "kl1.not-a-real-token")
        code, log = Agent(self.srv, [f"token:{bad}"]).run_to_exit()
        self.assertEqual(code, 1, log)
        self.assertIn("refused the credential", log)
        admin = os.path.join(self.srv.data_dir, "admin-token")
        code, log = Agent(self.srv, [f"token:{admin}"]).run_to_exit()
        self.assertEqual(code, 1, log)
        self.assertIn("admin token", log)
        code, log = Agent(self.srv, [f"token:{bad}"], extra=["--listen", "0.0.0.0:0"]).run_to_exit()
        self.assertEqual(code, 2, log)
        self.assertIn("not a loopback address", log)
        code, log = Agent(self.srv, []).run_to_exit()
        self.assertEqual(code, 2, log)
        code, log = Agent(self.srv, ["secret:x"]).run_to_exit()
        self.assertEqual(code, 2, log)
        code, log = Agent(self.srv, [f"token:{os.path.join(self.tmp, 'missing')}"]).run_to_exit()
        self.assertEqual(code, 1, log)
        self.assertIn("missing", log)

    def test_unreachable_kluisd_is_transient(self):
        pid, tok, _ = make_principal(self.srv, harness.unique_name("unr"))
        path = write_secret_file(os.path.join(self.tmp, "unr.token"), tok)
        dead = f"https://127.0.0.1:{harness.free_port()}"
        agent = Agent(self.srv, [f"token:{path}"], url=dead).start()
        try:
            self.assertIn("asking again when a request needs it", agent.log)
            status, body = agent.imds("https://vault.azure.net")
            self.assertEqual(status, 503, body)
            self.assertIn("cannot reach kluisd", body["error_description"])
        finally:
            self.assertEqual(agent.stop(), 0, agent.log)


if __name__ == "__main__":
    unittest.main()
