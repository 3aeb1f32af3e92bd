"""Certificates made by kluis in the hands of OpenSSL (shared/spec/certificates.md C3, C4, C6),
through Debian's azure.keyvault.certificates and azure.keyvault.secrets, unchanged:

- `openssl verify -x509_strict` of a Self-signed certificate against itself;
- `openssl s_server` serving the downloaded PFX (opened by `openssl pkcs12 -passin pass:`) and
  PEM on a free 127.0.0.1 port, `openssl s_client -verify_return_error -CAfile` verifying the
  server, its name and the handshake; each server accepts one connection and stops by itself,
  and every process has a deadline;
- the CSR of an Unknown-issuer operation signed by a CA made with `openssl req -x509`, merged,
  then served from the PFX and verified against that CA.

Run: cd tests/e2e/py && /usr/bin/python3 -m unittest -v test_certificates_interop
"""

import base64
import os
import subprocess
import time
import unittest

import certutil
import harness
from certutil import POLL
from harness import unique_name

DEADLINE_S = 30


class Interop(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.start_server()
        cls.client = certutil.cert_client(cls.srv)
        cls.secrets = cls.srv.secret_client()
        cls.tmp = certutil.TmpDir("kluis-e2e-interop-")
        cls.ca = certutil.Ca()

    @classmethod
    def tearDownClass(cls):
        cls.ca.close()
        cls.tmp.close()
        cls.srv.close()

    def create(self, name, **kwargs):
        from azure.keyvault.certificates import CertificatePolicy
        kwargs.setdefault("subject", f"CN={name}.example")
        kwargs.setdefault("san_dns_names", [f"{name}.example"])
        poller = self.client.begin_create_certificate(
            name, CertificatePolicy(kwargs.pop("issuer", "Self"), **kwargs), _polling_interval=POLL)
        return poller.result(60)

    def secret_pem(self, name):
        """The managed secret as a PEM file with key and certificates: the PFX opened by
        `openssl pkcs12 -passin pass:` (no -legacy), or the PEM as it is."""
        s = self.secrets.get_secret(name)
        if s.properties.content_type == "application/x-pkcs12":
            text = certutil.openssl_pkcs12_text(base64.b64decode(s.value), "")
        else:
            text = s.value
        self.assertIn("PRIVATE KEY-----", text)
        return self.tmp.file(f"{name}.pem", text)

    def serve_and_verify(self, server_pem, ca_file, host):
        """openssl s_server with server_pem (key and certificates) for one connection on a free
        127.0.0.1 port; openssl s_client verifies it against ca_file and host. Returns the
        s_client output."""
        port = harness.free_port()
        server = subprocess.Popen(
            ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", server_pem,
             "-key", server_pem, "-naccept", "1", "-no_dhe"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            # s_server prints ACCEPT once it listens
            deadline = time.monotonic() + DEADLINE_S
            line = b""
            while b"ACCEPT" not in line:
                self.assertLess(time.monotonic(), deadline, "s_server did not start")
                line = server.stdout.readline()
                self.assertNotEqual(line, b"", f"s_server exited: {server.poll()}")
            client = subprocess.run(
                ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", host,
                 "-verify_hostname", host, "-verify_return_error", "-CAfile", ca_file,
                 "-x509_strict", "-brief"],
                input=b"", capture_output=True, timeout=DEADLINE_S)
            out = (client.stdout + client.stderr).decode("utf-8", "replace")
            self.assertEqual(client.returncode, 0, out)
            self.assertIn("Verification: OK", out)
            server.wait(DEADLINE_S)  # -naccept 1: it stops after the one connection
            return out
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
            server.stdout.close()
            server.stdin.close()

    def test_openssl_verifies_a_self_signed_certificate(self):
        for kw in ({}, {"key_type": "EC", "key_curve_name": "P-384"}):
            with self.subTest(**kw):
                name = unique_name("py-verify")
                cert = self.create(name, **kw)
                path = self.tmp.file(f"{name}.crt", bytes(cert.cer))
                pem = self.tmp.file(f"{name}-cert.pem",
                                    certutil.openssl("x509", "-inform", "DER", "-in", path))
                out = certutil.openssl("verify", "-x509_strict", "-purpose", "sslserver",
                                       "-CAfile", pem, pem)
                self.assertEqual(out.strip(), f"{pem}: OK".encode())
                # and not against another certificate
                other = certutil.SelfSigned()
                other_pem = self.tmp.file(f"{name}-other.pem", other.cert_pem)
                r = subprocess.run(["openssl", "verify", "-CAfile", other_pem, pem],
                                   capture_output=True, timeout=DEADLINE_S)
                self.assertNotEqual(r.returncode, 0)

    def test_s_server_with_the_pfx_and_s_client_verifies(self):
        name = unique_name("py-tls-pfx")
        self.create(name)
        server_pem = self.secret_pem(name)
        ca = self.tmp.file(f"{name}-ca.pem", certutil.openssl("x509", "-in", server_pem))
        out = self.serve_and_verify(server_pem, ca, f"{name}.example")
        self.assertIn(f"{name}.example", out)

    def test_s_server_with_the_pem_and_s_client_verifies(self):
        name = unique_name("py-tls-pem")
        self.create(name, content_type="application/x-pem-file", key_type="EC", key_curve_name="P-256")
        server_pem = self.secret_pem(name)
        with open(server_pem) as f:
            self.assertTrue(f.read().startswith("-----BEGIN PRIVATE KEY-----\n"))
        ca = self.tmp.file(f"{name}-ca.pem", certutil.openssl("x509", "-in", server_pem))
        self.serve_and_verify(server_pem, ca, f"{name}.example")

    def test_csr_signed_by_openssl_ca_merged_and_served(self):
        name = unique_name("py-tls-merge")
        self.create(name, issuer="Unknown")  # done at once: Python does not wait for a merge
        op = self.client.get_certificate_operation(name)
        self.assertEqual(op.status, "inProgress")
        _, leaf = self.ca.sign_csr(bytes(op.csr))
        merged = self.client.merge_certificate(name, [leaf, self.ca.der])
        self.assertEqual(bytes(merged.cer), leaf)
        server_pem = self.secret_pem(name)
        out = self.serve_and_verify(server_pem, self.ca.cert, f"{name}.example")
        self.assertIn("Verification: OK", out)
        # against kluis's own CA (or any other) it does not verify
        other_ca = self.tmp.file("other-ca.pem", certutil.SelfSigned().cert_pem)
        with self.assertRaises(AssertionError):
            self.serve_and_verify(server_pem, other_ca, f"{name}.example")
        self.assertTrue(os.path.exists(server_pem))


if __name__ == "__main__":
    unittest.main()
