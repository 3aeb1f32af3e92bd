"""Certificate import through Debian's azure.keyvault.certificates, unchanged, against a real
kluisd (shared/spec/certificates.md C5): PKCS#12 made by the openssl command line with and
without a password, PEM (Python base64-encodes it: the third form kluis accepts) with a PEM
policy, a chain, the derived policy, and the 400s (wrong password, key not matching the
certificate, garbage, no key, traditional key, RSA-1024, key_props contradicting the key).

Run: cd tests/e2e/py && /usr/bin/python3 -m unittest -v test_certificates_import
"""

import base64
import unittest

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

import certutil
import harness
from certutil import DP
from harness import unique_name


class CertificateImport(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.start_server()
        cls.client = certutil.cert_client(cls.srv)
        cls.secrets = cls.srv.secret_client()
        cls.ca = certutil.Ca()

    @classmethod
    def tearDownClass(cls):
        cls.ca.close()
        cls.srv.close()

    def pem_policy(self):
        from azure.keyvault.certificates import CertificateContentType, CertificatePolicy
        return CertificatePolicy(content_type=CertificateContentType.pem)

    def secret_parts(self, name):
        """(secret, private key or None, [certificate DER]) of the managed secret."""
        s = self.secrets.get_secret(name)
        if s.properties.content_type == "application/x-pkcs12":
            key, leaf, extra = pkcs12.load_key_and_certificates(base64.b64decode(s.value), None)
            # without a key, OpenSSL's PKCS12_parse puts every certificate among the extras
            certs = [c.public_bytes(serialization.Encoding.DER) for c in [leaf] + list(extra) if c]
        else:
            key = None
            if "PRIVATE KEY" in s.value:
                key = serialization.load_pem_private_key(s.value.encode(), None)
            certs = certutil.pem_certs(s.value)
        return s, key, certs

    def test_pfx_without_password(self):
        name = unique_name("py-imp")
        src = certutil.SelfSigned(subject="/CN=KeyVaultTest/O=Kluis", days=400,
                                  san="DNS:py-imp.example,email:imp@example.com")
        cert = self.client.import_certificate(name, src.pfx(""), tags={"from": "openssl"})
        self.assertEqual(bytes(cert.cer), src.cert_der)
        self.assertEqual(cert.properties.tags, {"from": "openssl"})
        self.assertTrue(cert.properties.enabled)
        self.assertEqual(cert.properties.not_before.replace(tzinfo=None), src.cert.not_valid_before)
        self.assertEqual(cert.properties.expires_on.replace(tzinfo=None), src.cert.not_valid_after)
        p = cert.policy
        self.assertEqual(p.issuer_name, "Unknown")
        # the leaf DN in kluis's order (RFC 4514: the last RDN of the DER first), which is also
        # how a create's subject string maps to DER, so the two round-trip
        self.assertEqual(p.subject, "O=Kluis, CN=KeyVaultTest")
        self.assertEqual(p.san_dns_names, ["py-imp.example"])
        self.assertEqual(p.san_emails, ["imp@example.com"])
        self.assertEqual((p.key_type, p.key_size, p.exportable, p.reuse_key), ("RSA", 2048, True, False))
        self.assertEqual(p.content_type, "application/x-pkcs12")
        self.assertEqual(p.validity_in_months,
                         certutil.months_rounded_up(src.cert.not_valid_before, src.cert.not_valid_after))
        self.assertEqual([(a.action, a.lifetime_percentage) for a in p.lifetime_actions],
                         [("EmailContacts", 80)])
        s, key, certs = self.secret_parts(name)
        self.assertEqual(s.properties.content_type, "application/x-pkcs12")
        self.assertEqual(certutil.pkcs8_der(key), certutil.pkcs8_der(src.key_pem))
        self.assertEqual(certs, [src.cert_der])
        # an import makes no operation
        from azure.core.exceptions import ResourceNotFoundError
        with self.assertRaises(ResourceNotFoundError):
            self.client.get_certificate_operation(name)

    def test_pfx_with_password_and_ec(self):
        for kind, crv, size in (("ec:P-256", "P-256", 256), ("ec:P-521", "P-521", 521),
                                ("rsa:4096", None, 4096)):
            with self.subTest(kind=kind):
                name = unique_name("py-imp-pw")
                src = certutil.SelfSigned(kind=kind, subject=f"/CN={name}")
                cert = self.client.import_certificate(name, src.pfx("s3cret ü"), password="s3cret ü")
                self.assertEqual(bytes(cert.cer), src.cert_der)
                self.assertEqual(cert.policy.key_size, size)
                if crv:
                    self.assertEqual(cert.policy.key_type, "EC")
                    self.assertEqual(cert.policy.key_curve_name, crv)
                _, key, _ = self.secret_parts(name)
                self.assertEqual(certutil.pkcs8_der(key), certutil.pkcs8_der(src.key_pem))

    def test_pem_with_chain(self):
        name = unique_name("py-imp-pem")
        key_pem, leaf_pem, leaf_der = self.ca.issue(kind="ec:P-384", subject="/CN=py-pem.example")
        # the CA first, then the leaf, then the key: the leaf is found by its key
        cert = self.client.import_certificate(name, self.ca.pem + leaf_pem + key_pem,
                                              policy=self.pem_policy())
        self.assertEqual(bytes(cert.cer), leaf_der)
        self.assertEqual(cert.policy.content_type, "application/x-pem-file")
        s, key, certs = self.secret_parts(name)
        self.assertEqual(s.properties.content_type, "application/x-pem-file")
        self.assertTrue(s.value.startswith("-----BEGIN PRIVATE KEY-----\n"))
        self.assertEqual(certs, [leaf_der, self.ca.der], "leaf first, then the chain")
        self.assertEqual(certutil.pkcs8_der(key), certutil.pkcs8_der(key_pem))
        # PEM without a PEM policy: the secret takes the input's format (kluis)
        other = unique_name("py-imp-pem2")
        src = certutil.SelfSigned()
        c2 = self.client.import_certificate(other, src.key_pem + src.cert_pem)
        self.assertEqual(bytes(c2.cer), src.cert_der)
        self.assertEqual(self.secrets.get_secret(other).properties.content_type, "application/x-pem-file")
        # a PEM import into a PKCS#12 secret, by policy
        from azure.keyvault.certificates import CertificatePolicy
        third = unique_name("py-imp-pem3")
        self.client.import_certificate(third, src.key_pem + src.cert_pem,
                                       policy=CertificatePolicy(content_type="application/x-pkcs12"))
        s3, key3, _ = self.secret_parts(third)
        self.assertEqual(s3.properties.content_type, "application/x-pkcs12")
        self.assertEqual(certutil.pkcs8_der(key3), certutil.pkcs8_der(src.key_pem))

    def test_bad_imports_are_400(self):
        from azure.core.exceptions import HttpResponseError
        a, b = certutil.SelfSigned(), certutil.SelfSigned()
        cases = [
            ("wrong password", a.pfx("right-pw"), {"password": "wrong-pw"}),
            ("password missing", a.pfx("right-pw"), {}),
            ("key not matching (PFX)", certutil.make_pfx(a.key_pem, b.cert_pem, "", "unchecked"), {}),
            ("key not matching (PEM)", a.key_pem + b.cert_pem, {"policy": self.pem_policy()}),
            ("garbage", b"\x00\x01garbage" * 40, {}),
            ("no key (PFX)", certutil.make_pfx(None, a.cert_pem, "", "nokey"), {}),
            ("no key (PEM)", a.cert_pem, {"policy": self.pem_policy()}),
            ("no certificate (PEM)", a.key_pem, {"policy": self.pem_policy()}),
            ("traditional key (PEM)", certutil.traditional(a.key_pem) + a.cert_pem, {"policy": self.pem_policy()}),
            ("RSA-1024", certutil.SelfSigned(kind="rsa:1024").pfx(""), {}),
        ]
        for what, data, kwargs in cases:
            with self.subTest(what):
                name = unique_name("py-imp-bad")
                with self.assertRaises(HttpResponseError) as cm:
                    self.client.import_certificate(name, data, **kwargs)
                self.assertEqual(cm.exception.status_code, 400, str(cm.exception))
                self.assertEqual(cm.exception.error.code, "BadParameter")
                self.assertNotIn("right-pw", str(cm.exception))
                self.assertNotIn("wrong-pw", str(cm.exception))
                self.assertEqual(self.srv.request("GET", f"/certificates/{name}/?{DP}").status, 404)
                self.assertEqual(self.srv.request("GET", f"/secrets/{name}/?{DP}").status, 404)

    def test_policy_contradicting_the_key_is_400(self):
        from azure.core.exceptions import HttpResponseError
        from azure.keyvault.certificates import CertificatePolicy
        src = certutil.SelfSigned()
        for policy in (CertificatePolicy(key_type="EC", key_curve_name="P-256"),
                       CertificatePolicy(key_type="RSA", key_size=4096)):
            with self.assertRaises(HttpResponseError) as cm:
                self.client.import_certificate(unique_name("py-imp-contra"), src.pfx(), policy=policy)
            self.assertEqual(cm.exception.status_code, 400)
        # a consistent policy is stored after defaults
        name = unique_name("py-imp-pol")
        cert = self.client.import_certificate(
            name, src.pfx(), policy=CertificatePolicy(key_type="RSA", key_size=2048, exportable=False,
                                                      content_type="application/x-pkcs12"))
        self.assertFalse(cert.policy.exportable)
        _, key, certs = self.secret_parts(name)
        self.assertIsNone(key, "not exportable: no private key in the secret")
        self.assertEqual(certs, [src.cert_der])
        leaf = x509.load_der_x509_certificate(bytes(cert.cer))
        self.assertEqual(leaf, src.cert)


if __name__ == "__main__":
    unittest.main()
