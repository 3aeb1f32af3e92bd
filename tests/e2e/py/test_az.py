"""Debian's az (azure-cli 2.45) against kluis: `az cloud register` of a kluis cloud (kluisd's
GET /metadata/endpoints), `az login --identity` through the identity agent's Cloud Shell endpoint
(MSI_ENDPOINT; kluisd's GET /subscriptions), `az account show`, `az account get-access-token`,
and `az rest` GET and PUT of a secret on the vault. A private AZURE_CONFIG_DIR in a temporary
directory; the CA through REQUESTS_CA_BUNDLE. `az keyvault` is left out: it cannot start in
Debian's package (azure.keyvault.v7_0 is missing).

Run from tests/e2e/py: KLUISD=... KLUIS_CLI=... /usr/bin/python3 -m unittest -v test_az
"""

import json
import os
import shutil
import subprocess
import tempfile
import unittest

import agentutil
import harness
from agentutil import Agent, make_principal, write_secret_file

AZ = "/usr/bin/az"
AZ_TIMEOUT_S = 180


@unittest.skipUnless(os.access(AZ, os.X_OK),
                     f"{AZ} is absent: install Debian's azure-cli (scripts/deps.sh does)")
class AzTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        agentutil.need_cli()
        cls.srv = harness.start_server()
        cls.tmp = tempfile.mkdtemp(prefix="kluis-az-")
        cls.tenant = cls.srv.tenant_id()
        cls.app = make_principal(cls.srv, harness.unique_name("az"), role="secrets-officer")
        cls.other = make_principal(cls.srv, harness.unique_name("az2"), role="secrets-user")
        files = [write_secret_file(os.path.join(cls.tmp, f"{i}.token"), p[1])
                 for i, p in enumerate((cls.app, cls.other))]
        cls.agent = Agent(cls.srv, [f"token:{f}" for f in files]).start()
        cls.config = os.path.join(cls.tmp, "azure")
        cls.vault = f"https://default.vault.localhost:{cls.srv.port}"
        cls.az_ok("cloud", "register", "-n", "kluis", "--endpoint-resource-manager",
                  f"https://localhost:{cls.srv.port}/", "--suffix-keyvault-dns",
                  f".vault.localhost:{cls.srv.port}")
        cls.az_ok("cloud", "set", "-n", "kluis")

    @classmethod
    def tearDownClass(cls):
        try:
            cls.agent.stop()
        finally:
            cls.srv.close()
            shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def az(cls, *args):
        env = agentutil.clean_env(
            HOME=cls.tmp, AZURE_CONFIG_DIR=cls.config, REQUESTS_CA_BUNDLE=cls.srv.ca,
            MSI_ENDPOINT=f"{cls.agent.url}/msi/token", AZURE_CORE_COLLECT_TELEMETRY="false",
            AZURE_CORE_SURVEY_MESSAGE="false", AZURE_CORE_NO_COLOR="true")
        p = subprocess.run([AZ, *args], env=env, capture_output=True, timeout=AZ_TIMEOUT_S)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    @classmethod
    def az_ok(cls, *args):
        code, out, err = cls.az(*args, "-o", "json")
        if code != 0:
            raise AssertionError(f"az {' '.join(args)}: exit {code}\n{err}\n{out}")
        return json.loads(out) if out.strip() else None

    def test_1_cloud_is_registered_from_metadata(self):
        cloud = self.az_ok("cloud", "show", "-n", "kluis")
        ep = cloud["endpoints"]
        self.assertEqual(ep["activeDirectory"], f"https://localhost:{self.srv.port}/adfs")
        self.assertEqual(ep["activeDirectoryResourceId"], "https://management.core.windows.net/")
        self.assertEqual(cloud["suffixes"]["keyvaultDns"], f".vault.localhost:{self.srv.port}")

    def test_2_login_identity_account_show_and_rest(self):
        accounts = self.az_ok("login", "--identity")
        self.assertEqual([a["id"] for a in accounts], [self.tenant])
        self.assertEqual(accounts[0]["user"]["type"], "servicePrincipal")
        show = self.az_ok("account", "show")
        self.assertEqual(show["id"], self.tenant)
        self.assertEqual(show["tenantId"], self.tenant)
        self.assertEqual(show["environmentName"], "kluis")
        self.assertEqual(show["user"]["name"], "systemAssignedIdentity")

        tok = self.az_ok("account", "get-access-token", "--resource", "https://vault.azure.net")
        self.assertEqual(agentutil.jwt_claims(tok["accessToken"])["oid"], self.app[0])

        name = harness.unique_name("az")
        put = self.az_ok("rest", "--method", "put", "--resource", "https://vault.azure.net",
                         "--url", f"{self.vault}/secrets/{name}?api-version=7.4",
                         "--body", json.dumps({"value": "set by az rest"}))
        self.assertEqual(put["value"], "set by az rest")
        got = self.az_ok("rest", "--method", "get", "--resource", "https://vault.azure.net",
                         "--url", f"{self.vault}/secrets/{name}?api-version=7.4")
        self.assertEqual(got["value"], "set by az rest")
        self.assertTrue(got["id"].startswith(f"{self.vault}/secrets/{name}/"), got)

        # Resource Manager through az rest: an ARM path is resolved against the cloud's endpoint
        subs = self.az_ok("rest", "--method", "get", "--url",
                          "/subscriptions?api-version=2019-11-01")
        self.assertIn(self.tenant, [s["subscriptionId"] for s in subs["value"]])

    def test_3_login_user_assigned_and_unknown(self):
        accounts = self.az_ok("login", "--identity", "--username", self.other[0])
        self.assertEqual(accounts[0]["user"]["assignedIdentityInfo"], f"MSIClient-{self.other[0]}")
        tok = self.az_ok("account", "get-access-token", "--resource", "https://vault.azure.net")
        self.assertEqual(agentutil.jwt_claims(tok["accessToken"])["oid"], self.other[0])
        code, out, err = self.az("login", "--identity", "--username",
                                 "11111111-2222-3333-4444-555555555555")
        self.assertNotEqual(code, 0, out)
        self.assertIn("Failed to connect to MSI", err)


if __name__ == "__main__":
    unittest.main()
