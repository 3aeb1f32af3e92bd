"""What the identity agent's suites share (test_identity_agent.py, test_identity_env.py,
test_az.py): principals made through the admin API, token files, the real `kluis identity-agent`
process on a free loopback port, raw HTTP to it, and child processes whose environment alone
configures an unchanged Azure SDK application."""

import base64
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse

import harness

CLI = os.environ.get("KLUIS_CLI") or os.path.join(harness.REPO, "build", "kluis")
START_S = 20.0

# Every variable that steers the SDKs' credential choice: a child starts without them, so that
# only what a test sets counts.
ROUTE_VARS = (
    "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_CLIENT_CERTIFICATE_PASSWORD", "AZURE_USERNAME", "AZURE_PASSWORD",
    "AZURE_FEDERATED_TOKEN_FILE", "AZURE_AUTHORITY_HOST", "AZURE_POD_IDENTITY_AUTHORITY_HOST",
    "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT",
    "MSI_ENDPOINT", "MSI_SECRET", "AZURE_TOKEN_CREDENTIALS",
)


def need_cli():
    if not os.access(CLI, os.X_OK):
        raise RuntimeError(f"no kluis CLI at {CLI} (set KLUIS_CLI)")


def make_principal(srv, name, role="secrets-user", vault="default"):
    """A principal with role on vault: (id, kluis token, token id)."""
    r = srv.request("POST", "/kluis/v1/principals", {"name": name}, host="localhost")
    if r.status != 201:
        raise RuntimeError(f"create principal {name}: {r!r}")
    pid, tok = r.json["id"], r.json["token"]
    tid = r.json["tokens"][0]["id"] if r.json.get("tokens") else None
    if role:
        a = srv.request("POST", "/kluis/v1/roleAssignments",
                        {"principal": name, "role": role, "vault": vault}, host="localhost")
        if a.status != 201:
            raise RuntimeError(f"role for {name}: {a!r}")
    return pid, tok, tid


def write_secret_file(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    return path


def jwt_claims(token):
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def clean_env(**extra):
    """The test process's environment without any credential variable, plus extra."""
    env = {k: v for k, v in os.environ.items() if k not in ROUTE_VARS and not k.startswith("KLUIS_")}
    env.update({k: v for k, v in extra.items() if v is not None})
    return env


class Agent:
    """A real `kluis identity-agent` on 127.0.0.1, a port the system picks (--listen ...:0, read
    back from its "listening on" line). Its stderr is collected in .log."""

    def __init__(self, srv, identities, url=None, extra=()):
        need_cli()
        self.srv = srv
        self.args = [CLI, "identity-agent", "--url", url or srv.url, "--ca", srv.ca,
                     "--listen", "127.0.0.1:0", *extra]
        for spec in identities:
            self.args += ["--identity", spec]
        self.proc = None
        self.port = None
        self._chunks = []
        self._reader = None

    @property
    def log(self):
        return b"".join(self._chunks).decode("utf-8", "replace")

    def _drain(self):
        for chunk in iter(lambda: self.proc.stderr.read1(65536), b""):
            self._chunks.append(chunk)

    def start(self):
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, env=clean_env(),
                                     preexec_fn=harness._die_with_parent)
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline:
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", self.log)
            if m:
                self.port = int(m.group(1))
                return self
            if self.proc.poll() is not None:
                self._reader.join(2)
                self.proc.stderr.close()
                raise RuntimeError(f"identity-agent exited {self.proc.returncode}:\n{self.log}")
            time.sleep(0.02)
        self.proc.kill()
        raise RuntimeError(f"identity-agent did not listen in {START_S} s:\n{self.log}")

    def run_to_exit(self, timeout=30):
        """Runs the command expecting it to exit (a refused start): (code, log)."""
        p = subprocess.run(self.args, stdin=subprocess.DEVNULL, capture_output=True,
                           env=clean_env(), timeout=timeout)
        return p.returncode, p.stderr.decode("utf-8", "replace")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def stop(self, sig=signal.SIGTERM):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        code = self.proc.wait(30)
        self._reader.join(2)
        self.proc.stderr.close()
        return code

    def wait_log(self, pattern, timeout_s=10):
        deadline = time.monotonic() + timeout_s
        while not re.search(pattern, self.log) and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.log

    def request(self, method, path, params=None, headers=None, body=None):
        """One raw request: (status, parsed JSON body or text)."""
        if params:
            path += "?" + urllib.parse.urlencode(params)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read().decode("utf-8", "replace")
        finally:
            conn.close()
        try:
            return resp.status, json.loads(data)
        except ValueError:
            return resp.status, data

    def imds(self, resource, headers=None, **ids):
        h = {"Metadata": "true"} if headers is None else headers
        return self.request("GET", "/metadata/identity/oauth2/token",
                            {"api-version": "2018-02-01", "resource": resource, **ids}, h)


# An unchanged application: DefaultAzureCredential or ManagedIdentityCredential, configured by
# its environment only, reading one secret. Prints the value, or "ERROR <type>: <message>".
APP = r"""
import sys
from azure.identity import DefaultAzureCredential, ManagedIdentityCredential
from azure.keyvault.secrets import SecretClient
kind, url, name = sys.argv[1:4]
cred = DefaultAzureCredential() if kind == "default" else ManagedIdentityCredential()
try:
    print(SecretClient(url, cred).get_secret(name).value)
except Exception as e:
    print("ERROR %s: %s" % (type(e).__name__, str(e).replace("\n", " ")))
"""


def run_app(kind, url, name, env, timeout=120):
    """Runs APP with /usr/bin/python3 and exactly env: (stdout stripped, stderr)."""
    p = subprocess.run(["/usr/bin/python3", "-c", APP, kind, url, name], env=env,
                       capture_output=True, timeout=timeout)
    return p.stdout.decode().strip(), p.stderr.decode("utf-8", "replace")


def sdk_env(srv, **extra):
    """A child's environment: the CA for requests, nothing that picks a credential, plus extra."""
    return clean_env(REQUESTS_CA_BUNDLE=srv.ca, SSL_CERT_FILE=srv.ca, **extra)
