"""TLS: protocol versions and cipher suites (openssl s_client, each refusal checked against an
openssl s_server that accepts the same offer, so a refusal is the server's), the certificate and
key reloaded on SIGHUP with connections kept open (--tls-cert/--tls-key and the self-issued one),
bad new files refused with the old pair kept, key files others can read refused at start, and
principals bound to a client certificate (--client-ca)."""

import datetime
import hashlib
import http.client
import ipaddress
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import harness
from harness import unique_name

API = "api-version=7.5"
WAIT_S = 15.0


def load_ca():
    d = harness._shared_ca_dir
    with open(os.path.join(d, "ca.pem"), "rb") as f:
        ca = x509.load_pem_x509_certificate(f.read())
    with open(os.path.join(d, "ca-key.pem"), "rb") as f:
        key = serialization.load_pem_private_key(f.read(), None)
    return ca, key


def issue(ca, ca_key, cn, kind="ec", client=False, days=30, not_before=None, issuer_self=False):
    """A certificate and key: a server certificate for loopback and *.vault.localhost, or a client
    one (clientAuth). Returns (cert_pem, key_pem, cert)."""
    key = ec.generate_private_key(ec.SECP256R1()) if kind == "ec" else \
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.datetime.now(datetime.timezone.utc)
    start = not_before or now - datetime.timedelta(hours=1)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    b = (x509.CertificateBuilder().subject_name(name)
         .issuer_name(name if issuer_self else ca.subject).public_key(key.public_key())
         .serial_number(x509.random_serial_number()).not_valid_before(start)
         .not_valid_after(start + datetime.timedelta(days=days)))
    if client:
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
    else:
        b = b.add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.DNSName("vault.localhost"),
            x509.DNSName("*.vault.localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1"))]), False)
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
    cert = b.sign(key if issuer_self else ca_key, hashes.SHA256())
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem, cert


def fingerprint(cert):
    return cert.fingerprint(hashes.SHA256()).hex()


def write_atomic(path, data, mode=0o600):
    tmp = path + ".tmp"
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "wb") as f:
        f.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def peer_fingerprint(conn):
    return hashlib.sha256(conn.sock.getpeercert(binary_form=True)).hexdigest()


def wait_for(srv, needle, count):
    """Waits until needle appears more than count times in srv's log; returns the new count."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        n = srv.stderr.count(needle)
        if n > count:
            return n
        time.sleep(0.02)
    raise AssertionError(f"no new {needle!r} in the log within {WAIT_S} s:\n{srv.stderr[-3000:]}")


def hup(srv):
    """SIGHUP, then waits for the reload's outcome: True reloaded, False refused."""
    ok, bad = srv.stderr.count("SIGHUP: now serving"), srv.stderr.count("was not reloaded")
    srv.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        log = srv.stderr
        if log.count("SIGHUP: now serving") > ok:
            return True
        if log.count("was not reloaded") > bad:
            return False
        time.sleep(0.02)
    raise AssertionError(f"SIGHUP had no outcome in the log:\n{srv.stderr[-3000:]}")


def s_client(port, *args):
    """openssl s_client's handshake: the negotiated (protocol, cipher), or None when it failed."""
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}",
                        "-servername", "localhost", *args], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=30)
    out = r.stdout.decode("utf-8", "replace")
    for line in out.splitlines():
        if line.startswith("New, ") and "Cipher is" in line:
            cipher = line.split("Cipher is", 1)[1].strip()
            if cipher == "(NONE)":
                return None
            return line.split(",")[1].strip(), cipher
    return None


class Control:
    """openssl s_server on a free port with the same certificate, accepting one handshake with
    the given options: proof that an s_client offer refused by kluisd is one OpenSSL can make."""

    def __init__(self, cert, key, *args):
        self.port = harness.free_port()
        self.proc = subprocess.Popen(
            ["openssl", "s_server", "-accept", f"127.0.0.1:{self.port}", "-cert", cert, "-key",
             key, "-naccept", "1", *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line or b"ACCEPT" in line:
                break

    def close(self):
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()
        self.proc.stdin.close()


class TlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.start_server()
        cls.ca, cls.ca_key = load_ca()
        cls.tmp = tempfile.mkdtemp(prefix="kluis-e2e-tls-")

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def files(self, tag, kind="ec", **kw):
        d = tempfile.mkdtemp(dir=self.tmp)
        cert_pem, key_pem, cert = issue(self.ca, self.ca_key, f"kluis {tag}", kind, **kw)
        cert_path, key_path = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        write_atomic(cert_path, cert_pem, 0o644)
        write_atomic(key_path, key_pem, 0o600)
        return cert_path, key_path, cert

    def start_with(self, cert_path, key_path, *extra):
        return harness.start_server(extra_args=["--tls-cert", cert_path, "--tls-key", key_path,
                                                *extra])

    # --- protocols and cipher suites -------------------------------------------------------

    def test_tls_versions_and_aead_suites(self):
        port = self.srv.port
        tls = os.path.join(self.srv.data_dir, "tls")
        cert, key = os.path.join(tls, "server.pem"), os.path.join(tls, "server-key.pem")
        legacy = ["-cipher", "DEFAULT:@SECLEVEL=0"]
        cbc = ["-cipher", "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384:"
                          "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:@SECLEVEL=0"]
        for what, offer, server_opts in (("TLS 1.1", ["-tls1_1", *legacy], ["-tls1_1", *legacy]),
                                         ("TLS 1.0", ["-tls1", *legacy], ["-tls1", *legacy]),
                                         ("TLS 1.2 with CBC suites only", ["-tls1_2", *cbc],
                                          ["-tls1_2", *cbc])):
            control = Control(cert, key, *server_opts)
            try:
                self.assertIsNotNone(s_client(control.port, *offer),
                                     f"control: openssl does not make the {what} offer")
            finally:
                control.close()
            self.assertIsNone(s_client(port, *offer), f"kluisd accepted {what}")
        got = s_client(port, "-tls1_2")
        self.assertIsNotNone(got)
        self.assertEqual(got[0], "TLSv1.2")
        self.assertRegex(got[1], r"^ECDHE-ECDSA-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$")
        for suite in ("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"):
            self.assertEqual(s_client(port, "-tls1_2", "-cipher", suite), ("TLSv1.2", suite))
        got = s_client(port, "-tls1_3")
        self.assertIsNotNone(got)
        self.assertEqual(got[0], "TLSv1.3")
        self.assertEqual(s_client(port, "-tls1_3", "-ciphersuites", "TLS_AES_128_CCM_SHA256"), None,
                         "TLS 1.3 with AES-CCM only")

    def test_rsa_certificate_no_rsa_or_dhe_key_exchange(self):
        cert, key, _ = self.files("rsa", "rsa")
        srv = self.start_with(cert, key)
        try:
            self.assertEqual(s_client(srv.port, "-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"),
                             ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256"))
            for suite in ("AES128-GCM-SHA256", "AES256-GCM-SHA384", "DHE-RSA-AES128-GCM-SHA256",
                          "ECDHE-RSA-AES128-SHA256"):
                control = Control(cert, key, "-tls1_2", "-cipher", suite + ":@SECLEVEL=0")
                try:
                    self.assertIsNotNone(s_client(control.port, "-tls1_2", "-cipher", suite))
                finally:
                    control.close()
                self.assertIsNone(s_client(srv.port, "-tls1_2", "-cipher", suite), suite)
        finally:
            srv.close()

    # --- reload on SIGHUP --------------------------------------------------------------------

    def keepalive(self, srv):
        conn = srv.connect(host="localhost")
        conn.request("GET", "/health", headers={"Host": f"localhost:{srv.port}"})
        r = conn.getresponse()
        r.read()
        self.assertEqual(r.status, 200)
        return conn

    def again(self, conn, srv):
        sock, local = conn.sock, conn.sock.getsockname()
        conn.request("GET", "/health", headers={"Host": f"localhost:{srv.port}"})
        r = conn.getresponse()
        r.read()
        self.assertEqual(r.status, 200)
        self.assertIs(conn.sock, sock, "the connection was reopened")
        self.assertEqual(conn.sock.getsockname(), local)

    def new_fingerprint(self, srv):
        conn = self.keepalive(srv)
        try:
            return peer_fingerprint(conn)
        finally:
            conn.close()

    def test_reload_user_supplied_pair(self):
        cert, key, c1 = self.files("one")
        srv = self.start_with(cert, key)
        try:
            client = srv.secret_client()
            name = unique_name("reload")
            client.set_secret(name, "before the reload")
            old = self.keepalive(srv)
            self.assertEqual(peer_fingerprint(old), fingerprint(c1))
            self.assertIn(c1.serial_number.to_bytes(20, "big").hex().lstrip("0"),
                          srv.stderr.lower())

            # A new pair (an RSA key this time) replaces the files: new connections get it,
            # the open one goes on with the old certificate.
            cert_pem, key_pem, c2 = issue(self.ca, self.ca_key, "kluis two", "rsa")
            write_atomic(key, key_pem)
            write_atomic(cert, cert_pem, 0o644)
            self.assertTrue(hup(srv))
            self.assertEqual(self.new_fingerprint(srv), fingerprint(c2))
            self.again(old, srv)
            self.assertEqual(peer_fingerprint(old), fingerprint(c1))
            self.assertEqual(client.get_secret(name).value, "before the reload")
            self.assertIn(fingerprint(c2), srv.stderr)

            # Bad new files: each refused with a reason, the pair in use stays, nothing stops.
            _, other_key, _ = issue(self.ca, self.ca_key, "kluis other")
            expired_pem, expired_key, _ = issue(
                self.ca, self.ca_key, "kluis expired", days=1,
                not_before=datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=3))
            good_cert, good_key = cert_pem, key_pem
            cases = (
                ("garbage certificate", b"not a certificate\n", good_key, 0o600,
                 "does not hold a PEM certificate"),
                ("empty certificate", b"", good_key, 0o600, "not a PEM file"),
                ("key of another certificate", good_cert, other_key, 0o600, "is not that of"),
                ("expired certificate", expired_pem, expired_key, 0o600, "has expired"),
                ("key readable by others", good_cert, good_key, 0o644, "chmod 600"),
                ("garbage key", good_cert, b"-----BEGIN PRIVATE KEY-----\nAAAA\n", 0o600,
                 "private key"),
            )
            for what, cert_bytes, key_bytes, key_mode, why in cases:
                with self.subTest(what):
                    write_atomic(cert, cert_bytes, 0o644)
                    write_atomic(key, key_bytes, key_mode)
                    self.assertFalse(hup(srv), what)
                    self.assertIn(why, srv.stderr.rsplit("was not reloaded", 1)[1].split("\n")[0])
                    self.assertEqual(self.new_fingerprint(srv), fingerprint(c2), what)
                    self.again(old, srv)
            os.unlink(cert)
            self.assertFalse(hup(srv))
            self.assertEqual(self.new_fingerprint(srv), fingerprint(c2))
            self.assertIsNone(srv.proc.poll())
            self.assertEqual(client.get_secret(name).value, "before the reload")

            # Good files again: served.
            write_atomic(cert, good_cert, 0o644)
            write_atomic(key, good_key)
            cert_pem, key_pem, c3 = issue(self.ca, self.ca_key, "kluis three")
            write_atomic(key, key_pem)
            write_atomic(cert, cert_pem, 0o644)
            self.assertTrue(hup(srv))
            self.assertEqual(self.new_fingerprint(srv), fingerprint(c3))
            self.again(old, srv)
            old.close()
            client.close()
        finally:
            srv.close()

    def test_reload_self_issued(self):
        srv = harness.start_server()
        try:
            tls = os.path.join(srv.data_dir, "tls")
            before = self.new_fingerprint(srv)
            old = self.keepalive(srv)
            self.assertTrue(hup(srv))  # nothing due: the same certificate, reloaded
            self.assertEqual(self.new_fingerprint(srv), before)
            # Removed: the CA issues a new one, which new connections get.
            os.unlink(os.path.join(tls, "server.pem"))
            os.unlink(os.path.join(tls, "server-key.pem"))
            self.assertTrue(hup(srv))
            after = self.new_fingerprint(srv)
            self.assertNotEqual(after, before)
            with open(os.path.join(tls, "server.pem"), "rb") as f:
                self.assertEqual(fingerprint(x509.load_pem_x509_certificate(f.read())), after)
            self.again(old, srv)
            self.assertEqual(peer_fingerprint(old), before)
            # Damaged: refused, never overwritten, the one in use stays.
            with open(os.path.join(tls, "server.pem"), "wb") as f:
                f.write(b"damaged\n")
            self.assertFalse(hup(srv))
            self.assertEqual(self.new_fingerprint(srv), after)
            with open(os.path.join(tls, "server.pem"), "rb") as f:
                self.assertEqual(f.read(), b"damaged\n")
            old.close()
        finally:
            srv.close()

    def test_reload_under_load_drops_nothing(self):
        """SDK requests on keep-alive connections while the pair is swapped again and again."""
        import threading

        cert, key, _ = self.files("load")
        srv = self.start_with(cert, key)
        client = srv.secret_client()
        name = unique_name("load")
        client.set_secret(name, "steady")
        errors, done, count = [], threading.Event(), [0]

        def reader():
            while not done.is_set():
                try:
                    if client.get_secret(name).value != "steady":
                        errors.append("wrong value")
                    count[0] += 1
                except Exception as e:  # noqa: BLE001 - any failure is the finding
                    errors.append(repr(e))

        threads = [threading.Thread(target=reader) for _ in range(3)]
        try:
            for t in threads:
                t.start()
            for i in range(8):
                cert_pem, key_pem, _ = issue(self.ca, self.ca_key, f"kluis load {i}")
                write_atomic(key, key_pem)
                write_atomic(cert, cert_pem, 0o644)
                self.assertTrue(hup(srv))
        finally:
            done.set()
            for t in threads:
                t.join(30)
            client.close()
            srv.close()
        self.assertEqual(errors, [])
        self.assertGreater(count[0], 0)

    # --- key file permissions at start --------------------------------------------------------

    def start_fails(self, data_dir, *extra):
        port = harness.free_port()
        r = subprocess.run([harness.KLUISD, "--data-dir", data_dir, "--listen", f"127.0.0.1:{port}",
                            *harness.store_args(data_dir), *extra], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 1, r.stderr)
        return r.stderr.decode("utf-8", "replace")

    def test_key_files_others_can_read_are_refused(self):
        cert, key, _ = self.files("perm")
        os.chmod(key, 0o640)
        d = tempfile.mkdtemp(dir=self.tmp)
        err = self.start_fails(d, "--tls-cert", cert, "--tls-key", key)
        self.assertIn("chmod 600", err)
        self.assertIn(key, err)
        os.chmod(key, 0o600)

        srv = harness.start_server()
        try:
            self.assertEqual(srv.stop(), 0)
            for rel in ("master.key", "admin-token", "tls/server-key.pem", "tls/ca-key.pem"):
                with self.subTest(rel):
                    path = os.path.join(srv.data_dir, rel)
                    os.chmod(path, 0o644)
                    try:
                        err = self.start_fails(srv.data_dir)
                        self.assertIn("chmod 600", err)
                        self.assertIn(rel.split("/")[-1], err)
                    finally:
                        os.chmod(path, 0o600)
            srv.start()
        finally:
            srv.close()

    # --- client certificates as a second factor ----------------------------------------------

    def client_files(self, tag, **kw):
        d = tempfile.mkdtemp(dir=self.tmp)
        cert_pem, key_pem, cert = issue(self.ca, self.ca_key, f"client {tag}", client=True, **kw)
        cp, kp = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        write_atomic(cp, cert_pem, 0o644)
        write_atomic(kp, key_pem)
        return cp, kp, cert

    def call(self, srv, token, client_cert=None, path=f"/secrets?{API}"):
        ctx = ssl.create_default_context(cafile=srv.ca)
        if client_cert:
            ctx.load_cert_chain(*client_cert)
        conn = harness._LoopbackHTTPS(srv.vault_host, srv.port, ctx, 15)
        try:
            conn.request("GET", path, headers={"Host": f"{srv.vault_host}:{srv.port}",
                                               "Authorization": f"Bearer {token}"})
            r = conn.getresponse()
            return r.status, r.read(), r.getheader("WWW-Authenticate")
        finally:
            conn.close()

    def bound_principal(self, srv, fp):
        name = unique_name("cert")
        r = srv.request("POST", "/kluis/v1/principals",
                        {"name": name, "clientCertificateSha256": fp})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["clientCertificateSha256"], fp.replace(":", "").lower())
        r2 = srv.request("POST", "/kluis/v1/roleAssignments",
                         {"principal": name, "role": "secrets-user", "vault": srv.default_vault})
        self.assertEqual(r2.status, 201, r2)
        return name, r.json["token"]

    def test_principal_bound_to_a_client_certificate(self):
        ca_path = os.path.join(harness._shared_ca_dir, "ca.pem")
        srv = harness.start_server(extra_args=["--client-ca", ca_path])
        try:
            mine = self.client_files("mine")
            other = self.client_files("other")
            d = tempfile.mkdtemp(dir=self.tmp)
            foreign_pem, foreign_key, _ = issue(None, None, "foreign", client=True, issuer_self=True)
            foreign = (os.path.join(d, "c.pem"), os.path.join(d, "k.pem"))
            write_atomic(foreign[0], foreign_pem)
            write_atomic(foreign[1], foreign_key)
            expired = self.client_files(
                "expired", days=1,
                not_before=datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=3))
            fp = ":".join(f"{b:02X}" for b in bytes.fromhex(fingerprint(mine[2])))  # as openssl prints it
            name, token = self.bound_principal(srv, fp)

            self.assertEqual(self.call(srv, token, mine[:2])[0], 200)
            # Refused exactly as a token that never existed (docs/security.md): the answer must
            # not tell whoever holds a stolen token that it is live and only lacks its certificate.
            never = self.call(srv, "kl1." + "A" * 43)
            self.assertEqual(never[0], 401)
            for what, cert in (("no certificate", None), ("another certificate", other[:2]),
                               ("a certificate of another CA", foreign),
                               ("an expired certificate", expired[:2])):
                with self.subTest(what):
                    status, body, challenge = self.call(srv, token, cert)
                    self.assertEqual(status, 401, body)
                    self.assertEqual(body, never[1])
                    self.assertEqual(challenge, never[2])
            # The admin token is not bound; a certificate changes nothing for it.
            self.assertEqual(self.call(srv, srv.token)[0], 200)
            self.assertEqual(self.call(srv, srv.token, other[:2])[0], 200)
            # The SDK, with the certificate on its transport.
            from azure.core.pipeline.transport import RequestsTransport
            import requests
            session = requests.Session()
            session.cert = mine[:2]
            with srv.secret_client(credential=harness.StaticCredential(token),
                                   transport=RequestsTransport(session=session)) as c:
                self.assertIsInstance(list(c.list_properties_of_secrets()), list)
            # Unbound: the token alone works again; bound to other: only other works.
            r = srv.request("PATCH", f"/kluis/v1/principals/{name}", {"clientCertificateSha256": None})
            self.assertEqual(r.status, 200, r)
            self.assertNotIn("clientCertificateSha256", r.json)
            self.assertEqual(self.call(srv, token)[0], 200)
            r = srv.request("PATCH", f"/kluis/v1/principals/{name}",
                            {"clientCertificateSha256": fingerprint(other[2])})
            self.assertEqual(r.status, 200, r)
            self.assertEqual(self.call(srv, token, other[:2])[0], 200)
            self.assertEqual(self.call(srv, token, mine[:2])[0], 401)
            self.assertEqual(srv.request("GET", f"/kluis/v1/principals/{name}")
                             .json["clientCertificateSha256"], fingerprint(other[2]))
            for bad in ("abc", "zz" * 32, fingerprint(other[2]) + "00", 7, ":" + "00" * 32):
                r = srv.request("PATCH", f"/kluis/v1/principals/{name}",
                                {"clientCertificateSha256": bad})
                self.assertEqual(r.status, 400, (bad, r))
            self.assertEqual(srv.request("PATCH", f"/kluis/v1/principals/{name}", {}).status, 400)
            self.assertEqual(srv.request("PATCH", "/kluis/v1/principals/nobody",
                                         {"clientCertificateSha256": None}).status, 404)
        finally:
            srv.close()

    def test_cli_binds_and_unbinds(self):
        cli = os.environ.get("KLUIS_CLI") or os.path.join(harness.REPO, "build", "kluis")
        if not os.path.exists(cli):
            self.skipTest(f"no kluis CLI at {cli} (set KLUIS_CLI)")
        env = dict(os.environ, KLUIS_URL=self.srv.arm_url, KLUIS_CA=self.srv.ca)
        env.pop("KLUIS_TOKEN", None)
        base = [cli, "--token-file", os.path.join(self.srv.data_dir, "admin-token"),
                "--output", "json"]
        fp = fingerprint(self.client_files("cli")[2])
        name = unique_name("cli-cert")

        def run(*args, code=0):
            r = subprocess.run([*base, *args], env=env, capture_output=True, timeout=60)
            self.assertEqual(r.returncode, code, r.stderr)
            return json.loads(r.stdout) if code == 0 else r.stderr.decode()

        self.assertEqual(run("principal", "create", name, "--client-cert-sha256", fp.upper())
                         ["clientCertificateSha256"], fp)
        self.assertNotIn("clientCertificateSha256", run("principal", "bind-cert", name, "none"))
        self.assertEqual(run("principal", "bind-cert", name, fp)["clientCertificateSha256"], fp)
        self.assertIn("BadParameter", run("principal", "bind-cert", name, "12", code=1))
        self.assertEqual(run("principal", "show", name)["clientCertificateSha256"], fp)

    def test_bound_principal_without_client_ca_is_refused(self):
        """A node started without --client-ca verifies no client certificate: a bound principal's
        token is refused there, whatever the client sends (fail closed)."""
        mine = self.client_files("no-ca")
        name, token = self.bound_principal(self.srv, fingerprint(mine[2]))
        self.assertEqual(self.call(self.srv, token)[0], 401)
        self.assertEqual(self.call(self.srv, token, mine[:2])[0], 401)


if __name__ == "__main__":
    unittest.main()
