"""`kluis identity env` end to end: for each route, `eval "$(kluis identity env NAME --route R)"`
in a shell, then an unchanged application (Debian's azure.identity DefaultAzureCredential with
azure.keyvault.secrets) reads a secret as that principal. Also the shape of the printed lines
(unset of what would change the credential's choice, shell quoting, the CA variables, JSON), the
certificate route's files and the identity agent's certificate route, the workload route's
requirement, and `kluis identity signing-key list|rotate`.

Run from tests/e2e/py: KLUISD=... KLUIS_CLI=... /usr/bin/python3 -m unittest -v test_identity_env
"""

import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import tempfile
import unittest

import agentutil
import harness
from agentutil import APP, CLI, Agent, jwt_claims, make_principal, write_secret_file

SECRET = "env-secret"
VALUE = "read after eval"


class EnvCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        agentutil.need_cli()
        cls.srv = harness.start_server()
        cls.home = tempfile.mkdtemp(prefix="kluis-env-home-")
        cls.admin_file = write_secret_file(os.path.join(cls.home, "admin-token"), cls.srv.token)
        r = cls.srv.request("PUT", f"/secrets/{SECRET}?api-version=7.5", {"value": VALUE})
        assert r.status == 200, r

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()
        shutil.rmtree(cls.home, ignore_errors=True)

    def cli_env(self):
        return agentutil.clean_env(HOME=self.home, XDG_CONFIG_HOME=None, KLUIS_URL=self.srv.url,
                                   KLUIS_CA=self.srv.ca, KLUIS_TOKEN_FILE=None)

    def env_lines(self, name, *args, expect=0):
        p = subprocess.run([CLI, "identity", "env", name, "--token-file", self.admin_file, *args],
                           env=self.cli_env(), capture_output=True, timeout=60)
        out, err = p.stdout.decode(), p.stderr.decode()
        self.assertEqual(p.returncode, expect, f"stdout: {out}\nstderr: {err}")
        self.assertNotIn(self.srv.token, out + err)
        return out, err

    def eval_and_run(self, lines, extra="", env=None):
        """Runs the unchanged app in `sh` after eval of lines: its output."""
        script = (f'eval {shlex.quote(lines)}\n{extra}\n'
                  f'exec /usr/bin/python3 -c {shlex.quote(APP)} default '
                  f'{shlex.quote(self.srv.vault_url)} {SECRET}')
        p = subprocess.run(["sh", "-c", script], env=env or agentutil.clean_env(HOME=self.home),
                           capture_output=True, timeout=180)
        return p.stdout.decode().strip() + p.stderr.decode()[-2000:]

    def exports(self, lines):
        """The variables lines set, as a shell sees them after eval."""
        script = f'eval {shlex.quote(lines)}\nenv -0'
        p = subprocess.run(["sh", "-c", script], env=agentutil.clean_env(), capture_output=True,
                           timeout=30, check=True)
        return dict(kv.split("=", 1) for kv in p.stdout.decode().split("\0") if "=" in kv)

    # --- the routes -------------------------------------------------------------------------

    def test_app_service_route_is_the_default(self):
        pid, _, _ = make_principal(self.srv, harness.unique_name("as"))
        out, err = self.env_lines(pid)
        self.assertIn("shown only this once", err)
        env = self.exports(out)
        self.assertEqual(env["IDENTITY_ENDPOINT"], f"{self.srv.url}/msi/token")
        self.assertTrue(env["IDENTITY_HEADER"].startswith("kl1."), env)
        self.assertNotIn(env["IDENTITY_HEADER"], err)
        for var in ("NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
            self.assertEqual(env[var], os.path.realpath(self.srv.ca))
        unset = re.search(r"^unset (.*)$", out, re.M).group(1).split()
        for var in ("MSI_ENDPOINT", "MSI_SECRET", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT",
                    "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE"):
            self.assertIn(var, unset)
        self.assertNotIn("IDENTITY_HEADER", unset)
        # what the shell had before must not take over: a stale client secret, an MSI_ENDPOINT
        stale = agentutil.clean_env(HOME=self.home, MSI_ENDPOINT="http://127.0.0.1:9/x",
                                    AZURE_CLIENT_ID="stale", AZURE_TENANT_ID="stale",
                                    AZURE_CLIENT_SECRET="stale")
        self.assertEqual(self.eval_and_run(out, env=stale).splitlines()[0], VALUE)

    def test_imds_route_with_the_agent_it_names(self):
        name = harness.unique_name("im")
        make_principal(self.srv, name)
        port = harness.free_port()
        tokfile = os.path.join(self.home, "im.token")
        out, _ = self.env_lines(name, "--route", "imds", "--agent-port", str(port),
                                "--file", tokfile)
        self.assertEqual(stat.S_IMODE(os.stat(tokfile).st_mode), 0o600)
        m = re.search(r"^# .*run beside the application: (kluis identity-agent .*)$", out, re.M)
        self.assertIsNotNone(m, out)
        argv = shlex.split(m.group(1))
        self.assertIn(f"token:{tokfile}", argv)
        self.assertIn(f"127.0.0.1:{port}", argv)
        self.assertEqual(self.exports(out)["AZURE_POD_IDENTITY_AUTHORITY_HOST"],
                         f"http://127.0.0.1:{port}")
        agent = Agent(self.srv, [f"token:{tokfile}"])
        agent.args[agent.args.index("127.0.0.1:0")] = f"127.0.0.1:{port}"
        agent.start()
        try:
            self.assertEqual(self.eval_and_run(out).splitlines()[0], VALUE)
        finally:
            self.assertEqual(agent.stop(), 0, agent.log)

    def test_secret_route(self):
        pid, _, _ = make_principal(self.srv, harness.unique_name("sec"))
        out, err = self.env_lines(pid, "--route", "secret")
        self.assertIn("shown only this once", err)
        env = self.exports(out)
        self.assertEqual(env["AZURE_TENANT_ID"], "adfs")
        self.assertEqual(env["AZURE_CLIENT_ID"], pid)
        self.assertEqual(env["AZURE_AUTHORITY_HOST"], self.srv.url)
        self.assertNotIn(env["AZURE_CLIENT_SECRET"], err)
        self.assertEqual(self.eval_and_run(out).splitlines()[0], VALUE)

    def test_certificate_route_and_the_agents_certificate_identity(self):
        name = harness.unique_name("crt")
        pid, _, _ = make_principal(self.srv, name)
        pem = os.path.join(self.home, "it's here.pem")  # a quote and a blank, quoted right
        out, _ = self.env_lines(name, "--route", "certificate", "--file", pem)
        env = self.exports(out)
        self.assertEqual(env["AZURE_CLIENT_CERTIFICATE_PATH"], pem)
        self.assertEqual(stat.S_IMODE(os.stat(pem).st_mode), 0o600)
        with open(pem) as f:
            text = f.read()
        self.assertIn("PRIVATE KEY", text)
        self.assertIn("CERTIFICATE", text)
        r = self.srv.request("GET", f"/kluis/v1/principals/{pid}/certificates", host="localhost")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(r.json["value"]), 1)
        self.assertEqual(self.eval_and_run(out).splitlines()[0], VALUE)
        # the same PEM held by the identity agent (by name, then by id): a client assertion
        for client in (name, pid):
            agent = Agent(self.srv, [f"cert:{pem}:{client}"]).start()
            try:
                status, body = agent.imds("https://vault.azure.net")
                self.assertEqual(status, 200, body)
                self.assertEqual(jwt_claims(body["access_token"])["oid"], pid)
                self.assertEqual(body["client_id"], pid)
                status, body = agent.imds("https://vault.azure.net", client_id=name)
                self.assertEqual(status, 200, body)
            finally:
                self.assertEqual(agent.stop(), 0, agent.log)
            self.assertNotIn(body["access_token"], agent.log)

    def test_workload_route_needs_a_subject(self):
        name = harness.unique_name("wl")
        make_principal(self.srv, name)
        _, err = self.env_lines(name, "--route", "workload", expect=1)
        self.assertIn("has no OpenID subject", err)
        r = self.srv.request("POST", "/kluis/v1/principals",
                             {"name": harness.unique_name("wls"), "subject": "system:sa:ns:app"},
                             host="localhost")
        self.assertEqual(r.status, 201, r)
        out, _ = self.env_lines(r.json["id"], "--route", "workload")
        env = self.exports(out)
        self.assertEqual(env["AZURE_FEDERATED_TOKEN_FILE"],
                         "/var/run/secrets/azure/tokens/azure-identity-token")
        self.assertEqual(env["AZURE_CLIENT_ID"], r.json["id"])
        self.assertEqual(env["AZURE_TENANT_ID"], "adfs")
        self.assertNotRegex(out, r"unset .*AZURE_FEDERATED_TOKEN_FILE")
        script = f'AZURE_FEDERATED_TOKEN_FILE=/my/token; eval {shlex.quote(out)}; echo "$AZURE_FEDERATED_TOKEN_FILE"'
        p = subprocess.run(["sh", "-c", script], env=agentutil.clean_env(), capture_output=True,
                           timeout=30, check=True)
        self.assertEqual(p.stdout.decode().strip(), "/my/token")

    def test_usage_errors_and_json(self):
        pid, _, _ = make_principal(self.srv, harness.unique_name("js"))
        _, err = self.env_lines(pid, "--route", "carrier-pigeon", expect=2)
        self.assertIn("--route must be", err)
        _, err = self.env_lines("no-such-principal", expect=1)
        self.assertIn("404", err)
        out, _ = self.env_lines(pid, "-o", "json")
        doc = json.loads(out)
        self.assertEqual(doc["route"], "app-service")
        self.assertTrue(doc["environment"]["IDENTITY_HEADER"].startswith("kl1."))


class SigningKeyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        agentutil.need_cli()
        cls.srv = harness.start_server()
        cls.home = tempfile.mkdtemp(prefix="kluis-sk-home-")
        cls.admin_file = write_secret_file(os.path.join(cls.home, "admin-token"), cls.srv.token)

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()
        shutil.rmtree(cls.home, ignore_errors=True)

    def cli(self, *args):
        p = subprocess.run([CLI, "--url", self.srv.url, "--ca", self.srv.ca, "--token-file",
                            self.admin_file, *args], env=agentutil.clean_env(HOME=self.home),
                           capture_output=True, timeout=60)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def test_list_and_rotate(self):
        code, out, err = self.cli("identity", "signing-key", "list", "-o", "json")
        self.assertEqual(code, 0, err)
        before = json.loads(out)["value"]
        self.assertEqual(len([k for k in before if not k.get("retired")]), 1, before)
        code, out, err = self.cli("identity", "signing-key", "rotate")
        self.assertEqual(code, 0, err)
        kid = re.search(r"^kid\s+(\S+)", out, re.M).group(1)
        self.assertTrue(kid.startswith("kl-"), out)
        code, out, err = self.cli("identity", "signing-key", "list")
        self.assertEqual(code, 0, err)
        rows = [l.split() for l in out.splitlines()[1:] if l.strip()]
        self.assertEqual(rows[0][0], kid)
        self.assertEqual(rows[0][2], "active")
        self.assertIn(before[0]["kid"], [r[0] for r in rows[1:]])
        self.assertEqual(self.cli("identity", "signing-key", "spin")[0], 2)


if __name__ == "__main__":
    unittest.main()
