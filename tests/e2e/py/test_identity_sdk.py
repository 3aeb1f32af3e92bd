"""Issue 14 with Debian's azure.identity 1.13.0b2: an unchanged application (identity_app.py: one
credential made with no arguments, a SecretClient or CryptographyClient) reads from kluisd with
nothing but environment variables set, on every route, with DefaultAzureCredential and the route's
own credential class:
- App Service managed identity: IDENTITY_ENDPOINT + IDENTITY_HEADER (a kluis token);
- instance metadata through `kluis identity-agent`: AZURE_POD_IDENTITY_AUTHORITY_HOST, system- and
  user-assigned (AZURE_CLIENT_ID, which DefaultAzureCredential passes on, picks an identity), and
  the agent's Cloud Shell endpoint (MSI_ENDPOINT, az's route);
- workload identity: AZURE_FEDERATED_TOKEN_FILE with a token of a test OpenID issuer kluisd trusts
  (--oidc-issuer), exchanged by ManagedIdentityCredential (1.13 has no WorkloadIdentityCredential);
- client secret and client certificate: AZURE_TENANT_ID=adfs with AZURE_AUTHORITY_HOST;
- a key operation (sign, and wrap/unwrap) through CryptographyClient with the same credential;
and the routes again as `eval "$(kluis identity env billing-app --route R)"`, then the app. The
first read's time per route is printed (docs/identity.md quotes it); only outcomes are judged.

Run: cd tests/e2e/py && /usr/bin/python3 -m unittest -v test_identity_sdk
"""

import base64
import datetime
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

import harness

HERE = os.path.dirname(os.path.abspath(__file__))
APP = os.path.join(HERE, "identity_app.py")
KLUIS_CLI = os.environ.get("KLUIS_CLI") or os.path.join(harness.REPO, "build", "kluis")
ISSUER = "https://oidc.kluis.test/cluster-1"
WORKLOAD_AUDIENCE = "api://AzureADTokenExchange"
SUBJECT = "system:serviceaccount:billing:billing-app"
APP_TIMEOUT_S = 90  # a child that has not answered by then is killed: the test fails, never hangs


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Issuer:
    """A test OpenID issuer: an RSA key, its JWKS in a file, service-account tokens signed by it."""

    def __init__(self, directory):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        n = self.key.public_key().public_numbers()
        self.jwks = os.path.join(directory, "jwks.json")
        with open(self.jwks, "w") as f:
            json.dump({"keys": [{"kty": "RSA", "kid": "workload-1", "use": "sig", "alg": "RS256",
                                 "n": b64(n.n.to_bytes(256, "big")),
                                 "e": b64(n.e.to_bytes(3, "big"))}]}, f)

    def args(self):
        return ["--oidc-issuer", ISSUER, "--oidc-audience", WORKLOAD_AUDIENCE,
                "--oidc-jwks", self.jwks]

    def token_file(self, directory, subject, name="azure-identity-token", end=""):
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": [WORKLOAD_AUDIENCE], "sub": subject, "iat": now, "nbf": now,
                  "exp": now + 600}
        head = {"alg": "RS256", "kid": "workload-1", "typ": "JWT"}
        signing_input = f"{b64(json.dumps(head).encode())}.{b64(json.dumps(claims).encode())}"
        sig = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        path = os.path.join(directory, name)
        # as the kubelet writes it: the token alone, no newline (end="\n": as `echo` would), 0600
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"{signing_input}.{b64(sig)}{end}")
        return path


def self_signed(cn):
    """A key and a self-signed certificate: (PEM of the certificate, PEM of key + certificate)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .sign(key, hashes.SHA256()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert_pem.decode(), (key_pem + cert_pem).decode()


def write_private(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


class IdentitySdk(unittest.TestCase):
    timings = []

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="kluis-e2e-id-")
        cls.home = os.path.join(cls.tmp, "home")
        os.mkdir(cls.home)
        cls.agents = []
        cls.issuer = Issuer(cls.tmp)
        cls.srv = harness.start_server(extra_args=cls.issuer.args())
        cls.secret_name = harness.unique_name("id")
        cls.secret_value = f"value-{cls.secret_name}"
        with cls.srv.secret_client() as c:
            c.set_secret(cls.secret_name, cls.secret_value)
        cls.billing = cls.principal("billing-app", subject=SUBJECT)
        cls.admin("POST", "/kluis/v1/roleAssignments",
                  {"principal": cls.billing["id"], "role": "crypto-user", "vault": "default"}, 201)
        # a vault only the second identity may read: which identity the agent used shows in who
        # can read what
        cls.cli("vault", "create", "reports")
        cls.reports_url = f"https://reports.{cls.srv.dns_suffix}:{cls.srv.port}"
        with cls.srv.secret_client(url=cls.reports_url) as c:
            c.set_secret(cls.secret_name, "reports-only")
        cls.reports = cls.principal("reports-app", vault="reports")

    @classmethod
    def tearDownClass(cls):
        for a in cls.agents:
            a.kill()
            a.wait(timeout=10)
        cls.srv.close()
        if not os.environ.get("KLUIS_KEEP"):
            shutil.rmtree(cls.tmp, ignore_errors=True)
        if cls.timings:
            print("\nfirst read (challenge + token + GET) per route, ms:", file=sys.stderr)
            for route, cred, first, wall in cls.timings:
                print(f"  {route:36} {cred:12} {first:6}  (process {wall})", file=sys.stderr)

    # --- helpers -------------------------------------------------------------------------------

    @classmethod
    def admin(cls, method, path, body=None, want=None):
        r = cls.srv.request(method, path, body, host="localhost")
        if want is not None and r.status != want:
            raise AssertionError(f"{method} {path}: {r!r}")
        return r

    @classmethod
    def principal(cls, name, subject=None, role="secrets-user", vault="default"):
        body = {"name": name}
        if subject:
            body["subject"] = subject
        p = cls.admin("POST", "/kluis/v1/principals", body, 201).json
        cls.admin("POST", "/kluis/v1/roleAssignments",
                  {"principal": p["id"], "role": role, "vault": vault}, 201)
        return {"id": p["id"], "name": name, "token": p["token"]}

    @classmethod
    def cli_args(cls):
        return [KLUIS_CLI, "--url", cls.srv.arm_url, "--ca", cls.srv.ca, "--token-file",
                os.path.join(cls.srv.data_dir, "admin-token")]

    @classmethod
    def cli(cls, *args, cwd=None):
        r = subprocess.run(cls.cli_args() + list(args), capture_output=True, text=True, timeout=30,
                           cwd=cwd, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise AssertionError(f"kluis {' '.join(args)} exited {r.returncode}:\n"
                                 f"{r.stderr}{r.stdout}")
        return r.stdout

    def env(self, **vars_):
        """PATH, an empty HOME of the app's own (no az login of the machine joins the chain), the
        CA variables, and vars; nothing else of this process's environment."""
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.home,
                "PYTHONDONTWRITEBYTECODE": "1", "REQUESTS_CA_BUNDLE": self.srv.ca,
                "SSL_CERT_FILE": self.srv.ca, **vars_}

    def run_app(self, credential, env, op="secret", url=None, name=None, script=None):
        args = [sys.executable, APP, credential, op, url or self.srv.vault_url,
                name or self.secret_name]
        argv = ["bash", "-c", f"{script}\nexec {shlex.join(args)}"] if script else args
        t0 = time.monotonic()
        try:
            r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=APP_TIMEOUT_S,
                               cwd=self.tmp, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            self.fail(f"the app did not finish within {APP_TIMEOUT_S} s: {e.stdout} {e.stderr}")
        lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
        answer = json.loads(lines[-1]) if lines else None
        return r.returncode, answer, r, round((time.monotonic() - t0) * 1000)

    def reads(self, route, credential, env, url=None, value=None, script=None):
        code, answer, r, wall = self.run_app(credential, env, url=url, script=script)
        want = value or self.secret_value
        self.assertEqual((code, (answer or {}).get("value")), (0, want),
                         f"{route} ({credential}):\nstdout: {r.stdout[-3000:]}\n"
                         f"stderr: {r.stderr[-3000:]}")
        self.timings.append((route, credential, answer["firstMs"], wall))

    def msi_env(self, token):
        return self.env(IDENTITY_ENDPOINT=f"{self.srv.arm_url}/msi/token", IDENTITY_HEADER=token)

    def start_agent(self, *identities):
        port = harness.free_port()
        argv = self.cli_args() + ["identity-agent", "--listen", f"127.0.0.1:{port}"]
        for i in identities:
            argv += ["--identity", i]
        # it dies with this process, however this one ends (as the harness's kluisd does)
        log = os.path.join(self.tmp, f"agent-{port}.log")  # a file: a pipe nobody reads fills up
        with open(log, "wb") as err:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=err, preexec_fn=harness._die_with_parent)
        self.agents.append(p)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if p.poll() is not None:
                with open(log) as f:
                    self.fail(f"identity-agent exited {p.returncode}: {f.read()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return f"http://127.0.0.1:{port}"
            except OSError:
                time.sleep(0.05)
        self.fail("identity-agent did not listen within 10 s")

    # --- the routes ----------------------------------------------------------------------------

    def test_app_service(self):
        env = self.msi_env(self.billing["token"])
        self.reads("app-service", "default", env)
        self.reads("app-service", "managed", env)

    def test_key_operations_with_the_same_credential(self):
        with self.srv.key_client() as kc:
            ec = kc.create_ec_key(harness.unique_name("idec"), curve="P-256")
            rsa_key = kc.create_rsa_key(harness.unique_name("idrsa"), size=2048)
        env = self.msi_env(self.billing["token"])
        code, answer, r, _ = self.run_app("default", env, op="sign", name=ec.name)
        self.assertEqual(code, 0, r.stdout + r.stderr)
        self.assertTrue(answer["valid"])
        self.assertEqual(answer["kid"], ec.id)
        code, answer, r, _ = self.run_app("managed", env, op="wrap", name=rsa_key.name)
        self.assertEqual(code, 0, r.stdout + r.stderr)
        self.assertTrue(answer["same"])

    def test_instance_metadata_through_the_agent(self):
        billing = write_private(os.path.join(self.tmp, "billing.token"), self.billing["token"])
        reports = write_private(os.path.join(self.tmp, "reports.token"), self.reports["token"])
        agent = self.start_agent(f"token:{billing}", f"token:{reports}")
        env = self.env(AZURE_POD_IDENTITY_AUTHORITY_HOST=agent)
        self.reads("imds (agent), system-assigned", "default", env)
        self.reads("imds (agent), system-assigned", "managed", env)
        code, answer, r, _ = self.run_app("default", env, url=self.reports_url)
        self.assertEqual((code, (answer or {}).get("status")), (1, 403), r.stdout)
        user = {**env, "AZURE_CLIENT_ID": self.reports["id"]}
        self.reads("imds (agent), user-assigned", "default", user, url=self.reports_url,
                   value="reports-only")
        code, answer, r, _ = self.run_app("default", user)
        self.assertEqual((code, (answer or {}).get("status")), (1, 403), r.stdout)
        # the agent's Cloud Shell endpoint (az's route)
        shell = self.env(MSI_ENDPOINT=f"{agent}/msi/token")
        self.reads("cloud shell (agent)", "default", shell)
        self.reads("cloud shell (agent)", "managed", shell)

    def test_workload_identity(self):
        env = self.env(AZURE_TENANT_ID="adfs", AZURE_CLIENT_ID=self.billing["id"],
                       AZURE_AUTHORITY_HOST=self.srv.arm_url,
                       AZURE_FEDERATED_TOKEN_FILE=self.issuer.token_file(self.tmp, SUBJECT))
        self.reads("workload", "default", env)
        self.reads("workload", "managed", env)
        # Python 1.13 posts the file as read: a trailing newline is not part of the token
        env["AZURE_FEDERATED_TOKEN_FILE"] = self.issuer.token_file(self.tmp, SUBJECT, "echoed", "\n")
        self.reads("workload, token file ends in a newline", "managed", env)

    def test_client_secret(self):
        cred = self.admin("POST", f"/kluis/v1/principals/{self.billing['id']}/secrets",
                          {"description": "py e2e"}, 201).json
        env = self.env(AZURE_TENANT_ID="adfs", AZURE_CLIENT_ID=self.billing["id"],
                       AZURE_CLIENT_SECRET=cred["secret"], AZURE_AUTHORITY_HOST=self.srv.arm_url)
        self.reads("client secret", "default", env)
        self.reads("client secret", "environment", env)

    def test_client_certificate(self):
        cert_pem, bundle = self_signed("billing-app-py")
        pem = write_private(os.path.join(self.tmp, "billing-app.pem"), bundle)
        self.admin("POST", f"/kluis/v1/principals/{self.billing['id']}/certificates",
                   {"certificate": cert_pem, "description": "py e2e"}, 201)
        env = self.env(AZURE_TENANT_ID="adfs", AZURE_CLIENT_ID=self.billing["id"],
                       AZURE_CLIENT_CERTIFICATE_PATH=pem, AZURE_AUTHORITY_HOST=self.srv.arm_url)
        self.reads("client certificate", "default", env)
        self.reads("client certificate", "environment", env)

    def test_eval_identity_env_then_the_app(self):
        cli = shlex.join(self.cli_args())
        token_file = self.issuer.token_file(self.tmp, SUBJECT, "projected-token")
        for route in ("", "app-service", "secret", "certificate", "workload"):
            with self.subTest(route=route or "(default)"):
                flag = f" --route {route}" if route else ""
                script = f'set -e\neval "$({cli} identity env billing-app{flag})"'
                env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.home}
                if route == "workload":
                    env["AZURE_FEDERATED_TOKEN_FILE"] = token_file
                self.reads(f"eval identity env{flag or ' (app-service)'}", "default", env,
                           script=script)


if __name__ == "__main__":
    unittest.main()
