"""The kluis command-line tool against a real kluisd, driven as a user drives it: subprocesses,
settings from flags, the environment and config files, output as tables and as JSON.

Run from tests/e2e/py: KLUISD=.../kluisd KLUIS_CLI=.../kluis /usr/bin/python3 -m unittest -v test_cli

Every run checks that no token and no secret value reaches the CLI's stderr. Exit statuses are the
CLI's contract (docs/cli.md): 0 done, 1 the server refused, 2 usage, 3 unreachable/TLS/bad URL,
4 `key verify` said invalid.
"""

import base64
import json
import os
import shutil
import socket
import stat
import subprocess
import tempfile
import time
import unittest

import harness
import keyutil
from harness import b64url, unique_name

CLI = os.environ.get("KLUIS_CLI") or os.path.join(harness.REPO, "build", "kluis")
RUN_TIMEOUT_S = 60


def unb64url(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class Result:
    def __init__(self, proc):
        self.code = proc.returncode
        self.out = proc.stdout.decode("utf-8", "replace")
        self.err = proc.stderr.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.out)

    def fields(self):
        """A `field  value` listing as a dict."""
        out = {}
        for line in self.out.splitlines():
            if line.strip():
                k, _, v = line.partition(" ")
                out[k] = v.strip()
        return out

    def table(self):
        """A table as a list of dicts keyed by its header (cells hold no blanks in these tests)."""
        lines = [l for l in self.out.splitlines() if l.strip()]
        head = lines[0].split()
        return [dict(zip(head, l.split())) for l in lines[1:]]

    def __repr__(self):
        return f"<exit {self.code}\nstdout: {self.out[:2000]}\nstderr: {self.err[:2000]}>"


class CliCase(unittest.TestCase):
    """Starts one kluisd per class; run() calls the CLI with a clean environment (HOME in a temp
    dir, no KLUIS_* unless given) and checks that stderr holds no token or secret."""

    @classmethod
    def setUpClass(cls):
        if not os.access(CLI, os.X_OK):
            raise RuntimeError(f"no kluis CLI at {CLI} (set KLUIS_CLI)")
        cls.srv = harness.start_server()
        cls.home = tempfile.mkdtemp(prefix="kluis-cli-home-")
        cls.secrets = {cls.srv.token}
        cls.token_file = os.path.join(cls.home, "admin-token")
        shutil.copy(os.path.join(cls.srv.data_dir, "admin-token"), cls.token_file)

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()
        shutil.rmtree(cls.home, ignore_errors=True)

    def base_env(self):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.home, "LANG": "C.UTF-8"}
        for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):  # sanitizer builds
            if var in os.environ:
                env[var] = os.environ[var]
        return env

    def env_auth(self, token=None):
        """The usual settings, all from the environment."""
        env = self.base_env()
        env.update(KLUIS_URL=self.srv.url, KLUIS_CA=self.srv.ca,
                   KLUIS_TOKEN=self.srv.token if token is None else token)
        return env

    def run_cli(self, *args, env=None, input=None, expect=0, secrets=()):
        proc = subprocess.run([CLI, *args], env=self.env_auth() if env is None else env,
                              input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=RUN_TIMEOUT_S)
        r = Result(proc)
        for s in list(self.secrets) + list(secrets):
            self.assertNotIn(s, r.err, f"a secret reached stderr: {r!r}")
        if expect is not None:
            self.assertEqual(r.code, expect, r)
        return r


class CliBasicsTest(CliCase):
    """Help, usage errors, where settings come from, failures to reach or trust the server,
    wrong tokens, status."""

    def test_version(self):
        r = self.run_cli("--version", env=self.base_env())
        self.assertRegex(r.out, r"^kluis \d+\.\d+\.\d+\n$")

    def test_help(self):
        r = self.run_cli("--help", env=self.base_env())
        for word in ("vault", "secret", "key", "cert", "principal", "role", "status", "exit status",
                     "--url", "--token-file", "--ca", "--vault", "--output"):
            self.assertIn(word, r.out)
        r = self.run_cli("secret", "set", "--help", env=self.base_env())
        self.assertIn("usage: kluis secret set NAME", r.out)
        self.assertIn("--content-type", r.out)
        r = self.run_cli("key", "--help", env=self.base_env())
        self.assertIn("kluis key verify", r.out)
        r = self.run_cli("status", "-h", env=self.base_env())
        self.assertIn("--node", r.out)

    def test_usage_errors_exit_2_with_reason_and_usage(self):
        cases = [
            (["frobnicate"], "unknown command"),
            (["secret", "frobnicate"], "unknown command"),
            (["secret"], "needs a command"),
            ([], "no command"),
            (["secret", "get"], "missing argument"),
            (["secret", "get", "a", "b"], "too many arguments"),
            (["secret", "get", "x", "--bogus"], "unknown option --bogus"),
            (["secret", "get", "x", "--version"], "needs a value"),
            (["-o", "xml", "secret", "list"], "table or json"),
            (["key", "sign", "k", "--alg", "RS256"], "exactly one of"),
            (["key", "sign", "k", "--alg", "RS256", "--digest", "!!!"], "base64url"),
            (["key", "create", "k"], "--kty"),
            (["secret", "backup", "x"], "--file"),
            (["role", "assign", "--role", "reader"], "--principal"),
            (["principal", "create", "p", "--expires", "tomorrow"], "not a time"),
        ]
        for args, why in cases:
            with self.subTest(args=args):
                r = self.run_cli(*args, expect=2)
                self.assertIn(why, r.err)
                self.assertIn("usage", r.err)
                self.assertEqual(r.out, "")
        r = self.run_cli("secret", "get", "x", "--frob", expect=2)
        self.assertIn("usage: kluis secret get NAME", r.err)

    def test_option_values_never_echoed(self):
        r = self.run_cli("secret", "get", "x", "--tokn=hunter2-token", expect=2)
        self.assertNotIn("hunter2-token", r.err)
        r = self.run_cli("secret", "frob", "--token", "hunter3-token", expect=2)
        self.assertNotIn("hunter3-token", r.err)

    def test_no_url_is_a_usage_error(self):
        r = self.run_cli("secret", "list", env=self.base_env(), expect=2)
        self.assertIn("--url", r.err)

    def test_settings_from_flags(self):
        name = unique_name("flags")
        self.run_cli("--url", self.srv.url, "--ca", self.srv.ca, "--token-file", self.token_file,
                     "secret", "set", name, "--value", "from-flags", env=self.base_env())
        r = self.run_cli("secret", "get", name, "--url", self.srv.url + "/", "--ca", self.srv.ca,
                         "--token", self.srv.token, env=self.base_env())
        self.assertEqual(r.out, "from-flags\n")
        r = self.run_cli("secret", "get", name, f"--url={self.srv.url}", f"--ca={self.srv.ca}",
                         f"--token-file={self.token_file}", env=self.base_env())
        self.assertEqual(r.out, "from-flags\n")

    def test_settings_from_environment(self):
        name = unique_name("env")
        self.run_cli("secret", "set", name, "--value", "from-env")
        self.assertEqual(self.run_cli("secret", "get", name).out, "from-env\n")
        env = self.env_auth()
        env["KLUIS_VAULT"] = "default"
        self.assertEqual(self.run_cli("secret", "get", name, env=env).out, "from-env\n")

    def write_config(self, path, text, mode=0o600):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def test_settings_from_config_files(self):
        name = unique_name("cfg")
        self.run_cli("secret", "set", name, "--value", "from-config")
        d = tempfile.mkdtemp(dir=self.home)
        shutil.copy(self.token_file, os.path.join(d, "tok"))
        body = (f"# kluis settings\nurl = {self.srv.url}   # the test server\n"
                f"ca = {self.srv.ca}\n\ntoken_file = tok\nvault = default\n")
        explicit = self.write_config(os.path.join(d, "explicit.conf"), body)
        # --config, with token_file relative to the file's directory
        r = self.run_cli("--config", explicit, "secret", "get", name, env=self.base_env())
        self.assertEqual(r.out, "from-config\n")
        # $KLUIS_CONFIG
        env = self.base_env()
        env["KLUIS_CONFIG"] = explicit
        self.assertEqual(self.run_cli("secret", "get", name, env=env).out, "from-config\n")
        # $XDG_CONFIG_HOME/kluis/config, with the token inline
        xdg = os.path.join(d, "xdg")
        self.write_config(os.path.join(xdg, "kluis", "config"),
                          f"url={self.srv.url}\nca={self.srv.ca}\ntoken={self.srv.token}\n")
        env = self.base_env()
        env["XDG_CONFIG_HOME"] = xdg
        self.assertEqual(self.run_cli("secret", "get", name, env=env).out, "from-config\n")
        # ~/.config/kluis/config
        home = os.path.join(d, "home")
        self.write_config(os.path.join(home, ".config", "kluis", "config"),
                          f"url = {self.srv.url}\nca = {self.srv.ca}\ntoken = {self.srv.token}\n")
        env = self.base_env()
        env["HOME"] = home
        self.assertEqual(self.run_cli("secret", "get", name, env=env).out, "from-config\n")
        # a named config file that does not exist is an error; unknown settings too
        self.run_cli("--config", os.path.join(d, "nope"), "secret", "list", env=self.base_env(),
                     expect=2)
        bad = self.write_config(os.path.join(d, "bad.conf"), "url = x\ncolour = blue\n")
        r = self.run_cli("--config", bad, "secret", "list", env=self.base_env(), expect=2)
        self.assertIn("bad.conf:2", r.err)
        # a token in a file others can read draws a warning
        loose = self.write_config(os.path.join(d, "loose.conf"), body.replace(
            "token_file = tok", f"token = {self.srv.token}"), mode=0o644)
        r = self.run_cli("--config", loose, "secret", "get", name, env=self.base_env())
        self.assertIn("warning", r.err)

    def test_precedence_flag_then_env_then_file(self):
        name = unique_name("prec")
        self.run_cli("secret", "set", name, "--value", "precedence")
        unused = f"https://127.0.0.1:{harness.free_port()}"
        cfg = self.write_config(os.path.join(self.home, "prec.conf"),
                                f"url = {unused}\nca = /nonexistent\ntoken = wrong-token\n")
        env = self.base_env()
        env.update(KLUIS_CONFIG=cfg)
        # the file alone: wrong everything
        self.run_cli("secret", "get", name, env=env, expect=3)
        # the environment beats the file
        env.update(KLUIS_URL=self.srv.url, KLUIS_CA=self.srv.ca, KLUIS_TOKEN=self.srv.token)
        self.assertEqual(self.run_cli("secret", "get", name, env=env).out, "precedence\n")
        # flags beat the environment
        env.update(KLUIS_URL=unused, KLUIS_TOKEN="wrong-token")
        r = self.run_cli("--url", self.srv.url, "--token-file", self.token_file, "secret", "get",
                         name, env=env)
        self.assertEqual(r.out, "precedence\n")

    def test_wrong_or_missing_token_is_unauthorized_exit_1(self):
        for token in ("kl1.not-a-real-token", ""):
            with self.subTest(token=token):
                r = self.run_cli("secret", "list", env=self.env_auth(token=token), expect=1,
                                 secrets=[token] if token else [])
                self.assertIn("Unauthorized", r.err)
                self.assertIn("check --token/KLUIS_TOKEN", r.err)
                self.assertIn("401", r.err)
        r = self.run_cli("vault", "list", env=self.env_auth(token="kl1.wrong"), expect=1,
                         secrets=["kl1.wrong"])
        self.assertIn("Unauthorized", r.err)

    def test_unreachable_and_bad_urls_exit_3(self):
        port = harness.free_port()
        for url in (f"https://127.0.0.1:{port}", f"http://127.0.0.1:{self.srv.port}", "not a url"):
            with self.subTest(url=url):
                env = self.env_auth()
                env["KLUIS_URL"] = url
                r = self.run_cli("secret", "list", env=env, expect=3)
                self.assertTrue(r.err.startswith("kluis: "), r)
                self.assertEqual(r.out, "")

    def test_untrusted_certificate_exit_3(self):
        env = self.env_auth()
        env["KLUIS_CA"] = "/etc/ssl/certs/ca-certificates.crt"  # not kluisd's CA
        r = self.run_cli("secret", "list", env=env, expect=3)
        self.assertIn("TLS", r.err)
        env["KLUIS_CA"] = os.path.join(self.home, "no-such-ca.pem")
        self.run_cli("secret", "list", env=env, expect=3)

    def test_token_and_value_wiped_from_argv_and_environ(self):
        """ps and /proc/PID/{cmdline,environ} stop showing --token, --value and KLUIS_TOKEN once
        the CLI has read them. A listener that never answers holds the CLI in its TLS handshake."""
        token, value = "kl1.argv-" + unique_name("t"), "argv-value-" + unique_name("v")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as lst:
            lst.bind(("127.0.0.1", 0))
            lst.listen(4)
            url = f"https://127.0.0.1:{lst.getsockname()[1]}"
            env = self.base_env()
            env.update(KLUIS_TOKEN=token, KLUIS_VAULT="control-marker")
            runs = [([CLI, "--url", url, "--ca", self.srv.ca, "--token", token, "secret", "set",
                      "x", "--value", value], self.base_env(), "cmdline", b"--url"),
                    ([CLI, "--url", url, "--ca", self.srv.ca, "secret", "list"], env, "environ",
                     b"control-marker")]
            for argv, run_env, where, control in runs:
                with self.subTest(where=where):
                    proc = subprocess.Popen(argv, env=run_env, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL)
                    try:
                        deadline, seen = time.monotonic() + 8, b""
                        while time.monotonic() < deadline:
                            with open(f"/proc/{proc.pid}/{where}", "rb") as f:
                                seen = f.read()
                            # control: this is the CLI's own memory, not the forked Python's
                            if control in seen and token.encode() not in seen and \
                                    value.encode() not in seen:
                                break
                            time.sleep(0.01)
                        self.assertIn(control, seen)
                        self.assertNotIn(token.encode(), seen)
                        self.assertNotIn(value.encode(), seen)
                    finally:
                        proc.kill()
                        proc.wait()

    def test_status(self):
        r = self.run_cli("status", env=self.env_auth(token=""))
        rows = r.table()
        self.assertEqual(r.out.split("\n")[0].split(),
                         ["NODE", "STATUS", "MODE", "REGION", "STORAGE", "ROLE", "LAG"])
        self.assertEqual(rows[0]["NODE"], self.srv.url)
        self.assertEqual(rows[0]["STATUS"], "ok")
        self.assertEqual(rows[0]["MODE"], "read-write")
        self.assertEqual(rows[0]["LAG"], "-")
        r = self.run_cli("-o", "json", "status")
        self.assertEqual(r.json()["value"][0]["mode"], "read-write")
        self.assertEqual(r.json()["value"][0]["node"], self.srv.url)
        # another node that answers, and one that does not
        down = f"https://127.0.0.1:{harness.free_port()}"
        r = self.run_cli("status", "--node", f"https://localhost:{self.srv.port}", "--node", down,
                         expect=3)
        rows = r.table()
        self.assertEqual([row["STATUS"] for row in rows], ["ok", "ok", "unreachable"])
        self.assertEqual(rows[2]["NODE"], down)
        # only --node, no configured URL
        env = self.base_env()
        env["KLUIS_CA"] = self.srv.ca
        r = self.run_cli("status", "--node", self.srv.url, env=env)
        self.assertEqual(len(r.table()), 1)


class CliSecretsTest(CliCase):
    """Secrets of the default vault (no --vault: the deployment URL) and by name."""

    def test_set_from_value_file_stdin_and_get(self):
        name = unique_name("sec")
        value = "p@ss wörd 🔑"
        self.secrets.add(value)
        r = self.run_cli("secret", "set", name, "--value", value, "--content-type", "text/plain",
                         "--tag", "env=dev", "--tag", "team=ops")
        f = r.fields()
        self.assertEqual(f["name"], name)
        self.assertEqual(f["content-type"], "text/plain")
        self.assertNotIn(value, r.out)  # set never echoes the value
        v1 = f["version"]
        self.assertEqual(self.run_cli("secret", "get", name).out, value + "\n")
        bundle = self.run_cli("secret", "get", name, "-o", "json").json()
        self.assertEqual(bundle["value"], value)
        self.assertEqual(bundle["tags"], {"env": "dev", "team": "ops"})
        self.assertEqual(bundle["contentType"], "text/plain")
        # from a file, byte for byte (the final newline is kept)
        path = os.path.join(self.home, "value.txt")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write("line one\nline two\n")
        self.run_cli("secret", "set", name, "--file", path)
        got = self.run_cli("secret", "get", name, "-o", "json").json()
        self.assertEqual(got["value"], "line one\nline two\n")
        # from stdin: one final newline dropped, as echo adds it
        self.run_cli("secret", "set", name, input=b"from stdin\n")
        self.assertEqual(self.run_cli("secret", "get", name).out, "from stdin\n")
        self.run_cli("secret", "set", name, input=b"two\n\n")
        self.assertEqual(self.run_cli("secret", "get", name, "-o", "json").json()["value"], "two\n")
        # an older version
        self.assertEqual(self.run_cli("secret", "get", name, "--version", v1).out, value + "\n")
        # both sources at once is a usage error
        self.run_cli("secret", "set", name, "--value", "x", "--file", path, expect=2)

    def test_named_vault_and_vault_uri(self):
        name = unique_name("named")
        env = self.env_auth()
        env["KLUIS_VAULT"] = "default"
        r = self.run_cli("secret", "set", name, "--value", "named", "-o", "json", env=env)
        self.assertTrue(r.json()["id"].startswith(f"https://default.vault.localhost:{self.srv.port}/secrets/"),
                        r.json()["id"])
        self.assertNotIn("value", r.json())
        self.assertEqual(self.run_cli("--vault", "default", "secret", "get", name).out, "named\n")

    def test_get_missing_is_exit_1_with_code(self):
        r = self.run_cli("secret", "get", unique_name("missing"), expect=1)
        self.assertRegex(r.err, r"^kluis: SecretNotFound: .* \(HTTP 404\)\n$")

    def test_list_follows_next_link(self):
        prefix = unique_name("page")
        names = {f"{prefix}-{i}" for i in range(30)}  # more than one page of 25
        for n in names:
            resp = self.srv.request("PUT", f"/secrets/{n}?api-version=7.6", body={"value": "v"})
            self.assertEqual(resp.status, 200, resp)
        listed = {os.path.basename(os.path.dirname(i["id"] + "/"))
                  for i in self.run_cli("secret", "list", "-o", "json").json()["value"]}
        self.assertLessEqual(names, listed)
        rows = self.run_cli("secret", "list").table()
        self.assertLessEqual(names, {row["NAME"] for row in rows})

    def test_delete_recover_purge(self):
        name = unique_name("del")
        self.run_cli("secret", "set", name, "--value", "doomed")
        r = self.run_cli("secret", "delete", name)
        self.assertIn("deletedsecrets", r.fields()["recovery-id"])
        self.run_cli("secret", "get", name, expect=1)
        r = self.run_cli("secret", "recover", name)
        self.assertEqual(r.fields()["name"], name)
        self._wait_get(name, "doomed")
        self.run_cli("secret", "delete", name, "-o", "json")
        r = self.run_cli("secret", "purge", name)
        self.assertIn("purged", r.out)
        r = self.run_cli("secret", "recover", name, expect=1)
        self.assertIn("404", r.err)

    def _wait_get(self, name, value):
        # recover is synchronous in kluis; one retry loop guards against a future async one
        for _ in range(50):
            r = self.run_cli("secret", "get", name, expect=None)
            if r.code == 0:
                self.assertEqual(r.out, value + "\n")
                return
            time.sleep(0.1)
        self.fail(f"secret {name} did not come back")

    def test_backup_restore(self):
        name = unique_name("bak")
        value = "backed-up-secret-value"
        self.secrets.add(value)
        self.run_cli("secret", "set", name, "--value", value)
        path = os.path.join(self.home, f"{name}.blob")
        r = self.run_cli("secret", "backup", name, "--file", path)
        self.assertIn(path, r.out)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        with open(path, encoding="ascii") as fh:
            blob = fh.read()
        self.assertNotIn(value, blob)
        unb64url(blob.strip())  # base64url
        self.run_cli("secret", "delete", name)
        self.run_cli("secret", "purge", name)
        self.run_cli("secret", "get", name, expect=1)
        r = self.run_cli("secret", "restore", "--file", path, "-o", "json")
        self.assertTrue(r.json()["id"].split("/secrets/")[1].startswith(name + "/"))
        self.assertEqual(self.run_cli("secret", "get", name).out, value + "\n")
        # restoring over an existing secret is the server's refusal: exit 1
        self.run_cli("secret", "restore", "--file", path, expect=1)
        self.run_cli("secret", "restore", "--file", os.path.join(self.home, "nope"), expect=2)

    def test_values_never_on_stderr_on_errors(self):
        value = "must-not-leak-" + unique_name("v")
        env = self.env_auth()
        env["KLUIS_VAULT"] = "no-such-vault"
        r = self.run_cli("secret", "set", "x", "--value", value, env=env, expect=1, secrets=[value])
        self.assertIn("404", r.err)
        r = self.run_cli("secret", "set", "bad name!", env=self.env_auth(), input=value.encode(),
                         expect=1, secrets=[value])
        r = self.run_cli("secret", "set", "x", "--value", value, env=self.env_auth(token="kl1.bad"),
                         expect=1, secrets=[value, "kl1.bad"])
        self.assertIn("Unauthorized", r.err)

    def test_json_output_parses(self):
        name = unique_name("js")
        for args in (["secret", "set", name, "--value", "j"], ["secret", "get", name],
                     ["secret", "list"], ["secret", "delete", name], ["secret", "purge", name],
                     ["status"]):
            with self.subTest(args=args):
                self.assertIsInstance(self.run_cli("-o", "json", *args).json(), dict)


class CliKeysTest(CliCase):
    """Keys: create, list, show, and sign/verify/encrypt/decrypt checked against `cryptography`."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.data = os.path.join(cls.home, "document.bin")
        with open(cls.data, "wb") as f:
            f.write(os.urandom(100_000) + b"the end")  # several SHA-2 blocks and a tail

    def create(self, *args):
        name = unique_name("k")
        r = self.run_cli("key", "create", name, *args, "-o", "json")
        return name, r.json()

    def test_create_list_show(self):
        rsa, bundle = self.create("--kty", "RSA", "--size", "3072", "--ops", "sign,verify")
        self.assertEqual(bundle["key"]["kty"], "RSA")
        self.assertEqual(len(unb64url(bundle["key"]["n"])) * 8, 3072)
        self.assertEqual(sorted(bundle["key"]["key_ops"]), ["sign", "verify"])
        ec, bundle = self.create("--kty", "EC", "--curve", "P-384")
        self.assertEqual(bundle["key"]["crv"], "P-384")
        octk, _ = self.create("--kty", "oct", "--size", "256")
        names = {row["NAME"] for row in self.run_cli("key", "list").table()}
        self.assertLessEqual({rsa, ec, octk}, names)
        f = self.run_cli("key", "show", ec).fields()
        self.assertEqual((f["name"], f["kty"], f["crv"]), (ec, "EC", "P-384"))
        ver = f["version"]
        self.assertEqual(self.run_cli("key", "show", ec, "--version", ver).fields()["version"], ver)
        self.run_cli("key", "show", unique_name("nokey"), expect=1)
        r = self.run_cli("key", "create", unique_name("k"), "--kty", "XYZ", expect=1)
        self.assertIn("400", r.err)

    def sign_and_check(self, alg, name, jwk):
        sig = self.run_cli("key", "sign", name, "--alg", alg, "--data-file", self.data).out.strip()
        with open(self.data, "rb") as f:
            dgst = keyutil.digest(alg, f.read())
        self.assertTrue(keyutil.verify(alg, keyutil.public_key(jwk), dgst, unb64url(sig)),
                        f"{alg}: the signature over the file does not verify locally")
        r = self.run_cli("key", "verify", name, "--alg", alg, "--data-file", self.data,
                         "--signature", sig)
        self.assertEqual(r.out, "valid\n")
        r = self.run_cli("key", "verify", name, "--alg", alg, "--digest", b64url(dgst),
                         "--signature", sig, "-o", "json")
        self.assertIs(r.json()["value"], True)
        # a signature over something else: invalid, exit 4
        other = b64url(keyutil.digest(alg, b"something else"))
        r = self.run_cli("key", "verify", name, "--alg", alg, "--digest", other, "--signature", sig,
                         expect=4)
        self.assertEqual(r.out, "invalid\n")
        # --digest: the server signs exactly what it is given
        sig2 = self.run_cli("key", "sign", name, "--alg", alg, "--digest", other).out.strip()
        self.assertTrue(keyutil.verify(alg, keyutil.public_key(jwk), unb64url(other), unb64url(sig2)))

    def test_sign_verify_rsa(self):
        name, bundle = self.create("--kty", "RSA")
        for alg in keyutil.RSA_SIGN_ALGS:
            with self.subTest(alg=alg):
                self.sign_and_check(alg, name, bundle["key"])

    def test_sign_verify_ec(self):
        for crv, (_, _, alg, _) in keyutil.CURVES.items():
            with self.subTest(crv=crv):
                name, bundle = self.create("--kty", "EC", "--curve", crv)
                self.sign_and_check(alg, name, bundle["key"])

    def test_encrypt_decrypt_rsa(self):
        name, bundle = self.create("--kty", "RSA")
        pub = keyutil.public_key(bundle["key"])
        plain = b"attack at dawn \x00\xff"
        self.secrets.add(b64url(plain))
        inp = os.path.join(self.home, "plain.bin")
        with open(inp, "wb") as f:
            f.write(plain)
        for alg in keyutil.RSA_ENC_ALGS:
            with self.subTest(alg=alg):
                # the CLI encrypts, the CLI decrypts (base64url in and out)
                ct = self.run_cli("key", "encrypt", name, "--alg", alg, "--in", inp).out.strip()
                r = self.run_cli("key", "decrypt", name, "--alg", alg, "--value", ct)
                self.assertEqual(unb64url(r.out.strip()), plain)
                # `cryptography` encrypts, the CLI decrypts into a 0600 file
                ctf = os.path.join(self.home, f"ct-{alg}.bin")
                with open(ctf, "wb") as f:
                    f.write(keyutil.rsa_encrypt(alg, pub, plain))
                out = os.path.join(self.home, f"pt-{alg}.bin")
                r = self.run_cli("key", "decrypt", name, "--alg", alg, "--in", ctf, "--out", out)
                self.assertEqual(r.out, "")
                with open(out, "rb") as f:
                    self.assertEqual(f.read(), plain)
                self.assertEqual(stat.S_IMODE(os.stat(out).st_mode), 0o600)
        r = self.run_cli("key", "decrypt", name, "--alg", "RSA-OAEP", "--value", b64url(b"junk" * 64),
                         expect=1)
        self.assertIn("(HTTP 400)", r.err)

    def test_encrypt_decrypt_aes_gcm(self):
        name, _ = self.create("--kty", "oct", "--size", "256")
        plain = b64url(b"gcm plaintext")
        aad = b64url(b"context")
        r = self.run_cli("key", "encrypt", name, "--alg", "A256GCM", "--value", plain, "--aad", aad,
                         "-o", "json").json()
        args = ["--value", r["value"], "--iv", r["iv"], "--tag", r["tag"], "--aad", aad]
        out = self.run_cli("key", "decrypt", name, "--alg", "A256GCM", *args).out.strip()
        self.assertEqual(unb64url(out), b"gcm plaintext")
        f = self.run_cli("key", "encrypt", name, "--alg", "A256GCM", "--value", plain).fields()
        self.assertTrue(f["iv"] and f["tag"] and f["value"])
        bad = ["--value", r["value"], "--iv", r["iv"], "--tag", r["tag"]]  # no aad: tag fails
        self.run_cli("key", "decrypt", name, "--alg", "A256GCM", *bad, expect=1)


class CliCertsTest(CliCase):
    """Certificates: create (waiting for the operation), get, list, and download of the
    certificate (PEM, DER) and of its key (PFX, PEM), checked with `cryptography`."""

    def path(self, name):
        return os.path.join(self.home, name)

    def load_file(self, path):
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        with open(path, "rb") as f:
            return f.read()

    def test_create_get_list_download(self):
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import pkcs12, load_pem_private_key
        name = unique_name("cert")
        r = self.run_cli("cert", "create", name, "--subject", "CN=cli.example.net", "--san-dns",
                         "cli.example.net", "--san-dns", "www.cli.example.net",
                         "--validity-months", "6")
        f = r.fields()
        self.assertEqual((f["name"], f["subject"], f["issuer"], f["enabled"]),
                         (name, "CN=cli.example.net", "Self", "true"))
        self.assertEqual(len(f["x5t"]), 27)
        got = self.run_cli("cert", "get", name, "-o", "json").json()
        self.assertEqual(got["x5t"], f["x5t"])
        self.assertEqual(self.run_cli("cert", "get", name, "--version", f["version"]).fields()["x5t"],
                         f["x5t"])
        self.assertIn(name, {row["NAME"] for row in self.run_cli("cert", "list").table()})
        der = base64.b64decode(got["cer"])

        # the certificate: PEM (default) and DER, mode 0600
        self.run_cli("cert", "download", name, "--file", self.path("c.pem"))
        cert = x509.load_pem_x509_certificate(self.load_file(self.path("c.pem")))
        self.assertEqual(cert.public_bytes(serialization_der()), der)
        self.run_cli("cert", "download", name, "--file", self.path("c.der"), "--format", "der")
        self.assertEqual(self.load_file(self.path("c.der")), der)
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        self.assertEqual(sorted(sans.get_values_for_type(x509.DNSName)),
                         ["cli.example.net", "www.cli.example.net"])

        # with the key: the PFX as stored (empty password), its key matching the certificate
        self.run_cli("cert", "download", name, "--file", self.path("c.pfx"), "--with-key")
        key, leaf, _ = pkcs12.load_key_and_certificates(self.load_file(self.path("c.pfx")), b"")
        self.assertEqual(leaf.public_bytes(serialization_der()), der)
        self.assertEqual(key.public_key().public_numbers(), cert.public_key().public_numbers())

        # an EC certificate whose secret is PEM
        ec = unique_name("cert")
        self.run_cli("cert", "create", ec, "--subject", "CN=ec", "--kty", "EC", "--curve",
                     "P-384", "--content-type", "pem")
        self.run_cli("cert", "download", ec, "--file", self.path("ec.pem"), "--with-key")
        pem = self.load_file(self.path("ec.pem"))
        self.assertIn(b"-----BEGIN PRIVATE KEY-----", pem)
        key = load_pem_private_key(pem, None)
        self.assertEqual(key.curve.name, "secp384r1")
        ec_cert = x509.load_pem_x509_certificate(pem[pem.index(b"-----BEGIN CERTIFICATE"):])
        self.assertEqual(ec_cert.public_key().public_numbers(), key.public_key().public_numbers())
        # what was written never reaches the terminal
        r = self.run_cli("cert", "download", ec, "--file", self.path("ec2.pem"), "--with-key")
        self.assertNotIn("PRIVATE", r.out + r.err)

    def test_unknown_issuer_and_errors(self):
        name = unique_name("cert")
        r = self.run_cli("cert", "create", name, "--subject", "CN=merge.me", "--issuer", "Unknown")
        f = r.fields()
        self.assertEqual((f["status"], f["issuer"]), ("inProgress", "Unknown"))
        # pending: no certificate to write yet
        self.run_cli("cert", "download", name, "--file", self.path("none.pem"), expect=1)
        self.run_cli("cert", "get", unique_name("nocert"), expect=1)
        r = self.run_cli("cert", "create", unique_name("c"), "--subject", "CN=x", "--issuer",
                         "NoSuchIssuer", expect=1)
        self.assertIn("400", r.err)
        for args in (("cert", "create", "x"),  # neither subject nor SAN
                     ("cert", "create", "x", "--subject", "CN=x", "--validity-months", "0"),
                     ("cert", "create", "x", "--subject", "CN=x", "--content-type", "doc"),
                     ("cert", "download", "x"),
                     ("cert", "download", "x", "--file", "f", "--format", "txt"),
                     ("cert", "download", "x", "--file", "f", "--format", "der", "--with-key"),
                     ("cert", "import", "x"),
                     ("cert", "import", "x", "--file", "f", "--password-file", "p",
                      "--password-stdin"),
                     ("cert", "backup", "x"), ("cert", "restore")):
            with self.subTest(args=args):
                self.run_cli(*args, expect=2)


class CliCertsImportLifeTest(CliCase):
    """Certificates: import from PFX (password from a file or stdin, never argv) and PEM; delete,
    recover and purge."""

    def path(self, name):
        return os.path.join(self.home, name)

    def make_files(self, cn):
        """A self-signed RSA certificate: (PFX under password "pfx-pw", PEM bundle, DER)."""
        import datetime
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.hazmat.primitives.serialization import pkcs12
        from cryptography.x509.oid import NameOID
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=90))
                .sign(key, hashes.SHA256()))
        pfx = pkcs12.serialize_key_and_certificates(
            b"imp", key, cert, None, serialization.BestAvailableEncryption(b"pfx-pw"))
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()) + \
            cert.public_bytes(serialization.Encoding.PEM)
        return pfx, pem, cert.public_bytes(serialization.Encoding.DER)

    def write(self, name, data):
        with open(self.path(name), "wb") as f:
            f.write(data)
        return self.path(name)

    def test_import_pfx_and_pem(self):
        pfx, pem, der = self.make_files("imported.example")
        self.write("in.pfx", pfx)
        self.write("pw.txt", b"pfx-pw\n")
        self.write("bad-pw.txt", b"nope")
        self.write("in.pem", pem)
        self.secrets.add("pfx-pw")
        a = unique_name("imp")
        f = self.run_cli("cert", "import", a, "--file", self.path("in.pfx"), "--password-file",
                         self.path("pw.txt")).fields()
        self.assertEqual((f["name"], f["subject"]), (a, "CN=imported.example"))
        self.run_cli("cert", "download", a, "--file", self.path("a.der"), "--format", "der")
        with open(self.path("a.der"), "rb") as fh:
            self.assertEqual(fh.read(), der)
        b = unique_name("imp")
        self.run_cli("cert", "import", b, "--file", self.path("in.pfx"), "--password-stdin",
                     input=b"pfx-pw\n")
        r = self.run_cli("cert", "import", unique_name("imp"), "--file", self.path("in.pfx"),
                         "--password-file", self.path("bad-pw.txt"), expect=1)
        self.assertIn("400", r.err)
        c = unique_name("imp")
        self.run_cli("cert", "import", c, "--file", self.path("in.pem"))
        self.run_cli("cert", "download", c, "--file", self.path("c.pem"), "--with-key")
        with open(self.path("c.pem"), "rb") as fh:
            self.assertIn(b"-----BEGIN PRIVATE KEY-----", fh.read())

    def test_delete_recover_purge(self):
        name = unique_name("life")
        self.run_cli("cert", "create", name, "--subject", "CN=life")
        f = self.run_cli("cert", "delete", name).fields()
        self.assertTrue(f["recovery-id"].endswith(f"/deletedcertificates/{name}"))
        self.run_cli("cert", "get", name, expect=1)
        self.assertEqual(self.run_cli("cert", "recover", name).fields()["name"], name)
        self.run_cli("cert", "get", name)
        self.run_cli("cert", "delete", name)
        self.assertEqual(self.run_cli("cert", "purge", name, "-o", "json").json()["result"], "purged")
        self.run_cli("cert", "recover", name, expect=1)


class CliCertsBackupTest(CliCase):
    """kluis cert backup and restore."""

    def test_backup_restore(self):
        path = os.path.join(self.home, "cert.bak")
        name = unique_name("bak")
        x5t = self.run_cli("cert", "create", name, "--subject", "CN=backed.up").fields()["x5t"]
        r = self.run_cli("cert", "backup", name, "--file", path)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        self.assertIn(path, r.out)
        self.run_cli("cert", "restore", "--file", path, expect=1)  # the name is live: 409
        self.run_cli("cert", "delete", name)
        self.run_cli("cert", "purge", name)
        f = self.run_cli("cert", "restore", "--file", path).fields()
        self.assertEqual((f["name"], f["x5t"]), (name, x5t))
        self.assertEqual(self.run_cli("cert", "get", name).fields()["subject"], "CN=backed.up")
        with open(os.path.join(self.home, "junk.bak"), "w") as fh:
            fh.write("AAAA")
        r = self.run_cli("cert", "restore", "--file", os.path.join(self.home, "junk.bak"), expect=1)
        self.assertIn("400", r.err)


def serialization_der():
    from cryptography.hazmat.primitives.serialization import Encoding
    return Encoding.DER


class CliAdminTest(CliCase):
    """Vaults, principals, role assignments: the administration API and the management plane."""

    def test_vault_create_list_show_delete(self):
        name = unique_name("v")[:20].rstrip("-")
        r = self.run_cli("vault", "create", name, "--retention-days", "7", "--purge-protection")
        f = r.fields()
        self.assertEqual(f["name"], name)
        self.assertEqual(f["uri"], f"https://{name}.vault.localhost:{self.srv.port}/")
        self.assertEqual((f["retention-days"], f["purge-protection"], f["rbac"]), ("7", "true", "true"))
        rows = {row["NAME"]: row for row in self.run_cli("vault", "list").table()}
        self.assertIn("default", rows)
        self.assertEqual(rows[name]["RETENTION"], "7")
        self.assertEqual(rows[name]["PURGE-PROTECTION"], "true")
        self.assertEqual(rows[name]["RBAC"], "true")
        v = self.run_cli("vault", "show", name, "-o", "json").json()
        self.assertEqual(v["properties"]["vaultUri"], f["uri"])
        self.assertTrue(v["id"].endswith(f"/providers/Microsoft.KeyVault/vaults/{name}"), v["id"])
        self.assertEqual(v["location"], "local")
        # the data plane of the new vault, found through its vaultUri
        self.run_cli("--vault", name, "secret", "set", "inside", "--value", "in-new-vault")
        self.assertEqual(self.run_cli("--vault", name, "secret", "get", "inside").out, "in-new-vault\n")
        self.run_cli("secret", "get", "inside", expect=1)  # not in the default vault
        # access policies, another location and resource group
        ap = unique_name("ap")[:20].rstrip("-")
        r = self.run_cli("vault", "create", ap, "--access-policies", "--location", "westeurope",
                         "--resource-group", "rg-cli", "-o", "json")
        self.assertIs(r.json()["properties"]["enableRbacAuthorization"], False)
        self.assertEqual(r.json()["location"], "westeurope")
        self.assertIn("/resourceGroups/rg-cli/", r.json()["id"])
        # delete
        self.assertIn("deleted", self.run_cli("vault", "delete", ap).out)
        self.run_cli("vault", "show", ap, expect=1)
        self.assertNotIn(ap, {row["NAME"] for row in self.run_cli("vault", "list").table()})
        self.run_cli("vault", "delete", unique_name("nov")[:20].rstrip("-"), expect=1)
        r = self.run_cli("vault", "create", "x", expect=1)  # too short a name: the server says so
        self.assertIn("(HTTP 400)", r.err)
        r = self.run_cli("--vault", unique_name("nov")[:20].rstrip("-"), "secret", "list", expect=1)
        self.assertIn("404", r.err)

    def create_principal(self, *args):
        name = unique_name("p")
        r = self.run_cli("principal", "create", name, *args)
        token = r.fields()["token"]
        self.assertTrue(token.startswith("kl1."), r)
        self.assertIn("only this once", r.err)
        self.secrets.add(token)
        return name, token, r.fields()

    def test_principal_role_and_what_a_token_may_do(self):
        vault = unique_name("rv")[:20].rstrip("-")
        other = unique_name("ro")[:20].rstrip("-")
        self.run_cli("vault", "create", vault)
        self.run_cli("vault", "create", other)
        self.run_cli("--vault", vault, "secret", "set", "readable", "--value", "for-alice")
        self.run_cli("--vault", other, "secret", "set", "hidden", "--value", "not-for-alice")
        name, token, f = self.create_principal("--type", "user")
        self.assertEqual(f["type"], "user")
        rows = {row["NAME"]: row for row in self.run_cli("principal", "list").table()}
        self.assertEqual(rows[name]["LIVE-TOKENS"], "1")
        self.assertEqual(rows[name]["ID"], f["id"])
        alice = self.env_auth(token=token)
        # no role yet: cannot even see the vault
        self.run_cli("--vault", vault, "secret", "get", "readable", env=alice, expect=1)
        # secrets-user on one vault
        r = self.run_cli("role", "assign", "--principal", name, "--role", "secrets-user",
                         "--vault", vault)
        a = r.fields()
        self.assertEqual(a["role"], "Key Vault Secrets User")
        self.assertEqual(a["scope"], f"/vaults/{vault}")
        listed = self.run_cli("role", "list", "--principal", name, "-o", "json").json()["value"]
        self.assertEqual([x["id"] for x in listed], [a["id"]])
        self.assertIn(a["id"], {x["id"] for x in
                                self.run_cli("role", "list", "--vault", vault, "-o", "json").json()["value"]})
        self.assertEqual(self.run_cli("role", "list", "--vault", other, "--principal", name,
                                      "-o", "json").json()["value"], [])
        # with it: read yes, write no, other vault no
        r = self.run_cli("--vault", vault, "secret", "get", "readable", env=alice)
        self.assertEqual(r.out, "for-alice\n")
        self.run_cli("--vault", vault, "secret", "list", env=alice)
        r = self.run_cli("--vault", vault, "secret", "set", "nope", "--value", "x", env=alice, expect=1)
        self.assertIn("Forbidden", r.err)
        self.assertIn("(HTTP 403)", r.err)
        r = self.run_cli("--vault", other, "secret", "get", "hidden", env=alice, expect=1)
        self.assertNotIn("not-for-alice", r.out + r.err)
        r = self.run_cli("principal", "list", env=alice, expect=1)
        self.assertIn("Forbidden", r.err)
        # the vault resource is for Reader or above on it (docs/admin-api.md): her secrets role
        # lets her use the vault's secrets above, not read the vault and its access policies
        names = {row["NAME"] for row in self.run_cli("vault", "list", env=alice).table()}
        self.assertNotIn(vault, names)
        self.assertNotIn(other, names)
        # remove the assignment: reading stops
        self.assertIn("removed", self.run_cli("role", "remove", a["id"]).out)
        self.run_cli("--vault", vault, "secret", "get", "readable", env=alice, expect=1)
        self.run_cli("role", "remove", a["id"], expect=1)
        # a deployment-scope role (no --vault) reaches every vault
        r = self.run_cli("role", "assign", "--principal", name, "--role", "Key Vault Secrets Officer")
        self.assertEqual(r.fields()["scope"], "/")
        self.run_cli("--vault", other, "secret", "set", "by-alice", "--value", "v", env=alice)
        r = self.run_cli("role", "assign", "--principal", name, "--role", "no-such-role", expect=1)
        self.assertIn("400", r.err)

    def test_tokens_rotate_and_revoke(self):
        name, first, f = self.create_principal()
        self.run_cli("role", "assign", "--principal", name, "--role", "reader")
        expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 86400))
        r = self.run_cli("principal", "token", name, "--expires", expires)
        t = r.fields()
        second = t["token"]
        self.secrets.add(second)
        self.assertIn("only this once", r.err)
        self.assertNotEqual(t["expires"], "-")
        shown = self.run_cli("principal", "show", f["id"], "-o", "json").json()
        self.assertEqual(len(shown["tokens"]), 2)
        exp = [x["expiresOn"] for x in shown["tokens"] if x["id"] == t["token-id"]][0]
        self.assertAlmostEqual(exp, time.time() + 86400, delta=120)
        for tok in (first, second):
            self.run_cli("secret", "list", env=self.env_auth(token=tok))
        # revoke one token: it stops, the other goes on
        r = self.run_cli("principal", "revoke", name, "--token-id", t["token-id"])
        self.assertIn("revoked", r.out)
        r = self.run_cli("secret", "list", env=self.env_auth(token=second), expect=1)
        self.assertIn("Unauthorized", r.err)
        self.run_cli("secret", "list", env=self.env_auth(token=first))
        # revoke the principal: everything stops
        self.run_cli("principal", "revoke", name)
        r = self.run_cli("secret", "list", env=self.env_auth(token=first), expect=1)
        self.assertIn("Unauthorized", r.err)
        self.assertNotIn(name, {row["NAME"] for row in self.run_cli("principal", "list").table()})
        self.run_cli("principal", "revoke", name, expect=1)

    def test_principal_json_and_expiry(self):
        name = unique_name("pj")
        r = self.run_cli("principal", "create", name, "--expires", str(int(time.time()) + 3600),
                         "-o", "json")
        p = r.json()
        self.secrets.add(p["token"])
        self.assertEqual(p["name"], name)
        self.assertEqual(p["type"], "application")
        self.assertTrue(p["token"].startswith("kl1."))
        self.assertAlmostEqual(p["tokens"][0]["expiresOn"], time.time() + 3600, delta=120)
        # an expiry in the past is the server's refusal
        r = self.run_cli("principal", "token", name, "--expires", "2001-01-01T00:00:00+01:00",
                         expect=1)
        self.assertIn("400", r.err)
        r = self.run_cli("principal", "create", name, expect=1)  # exists
        self.assertIn("409", r.err)
        for args in (["principal", "list"], ["role", "list"], ["vault", "list"],
                     ["principal", "show", name]):
            with self.subTest(args=args):
                self.assertIsInstance(self.run_cli("-o", "json", *args).json(), dict)


if __name__ == "__main__":
    unittest.main()
