"""Certificates through Debian's azure.keyvault.certificates (4.7.0b1), unchanged, against a real
kluisd (shared/spec/certificates.md): Self-signed creation with every key type, subject, SANs,
key usages, EKUs, validity, content types and exportability; the create poller (inProgress, then
completed); get latest and by version, list (include_pending), list versions, update of
attributes and tags, disable, get/update policy; and the managed key and secret behind each
version: sign with the key and verify with the certificate in python3-cryptography, the PFX or
PEM in the secret, the keys/secrets APIs refusing to change them.

kluisd runs with --certificate-issue-delay 1 (the default is 2 s; one is enough for pollers that
poll every 0.1 s (_polling_interval) to see inProgress, and saves the suite a second per
certificate).

Run: cd tests/e2e/py && /usr/bin/python3 -m unittest -v test_certificates
"""

import base64
import datetime
import unittest
from concurrent.futures import ThreadPoolExecutor

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

import certutil
import harness
from certutil import DEFAULT_EKUS, DP, POLL
from harness import unique_name

UPN_OID = x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2.3")


class Certificates(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.start_server(extra_args=["--certificate-issue-delay", "1"])
        cls.client = certutil.cert_client(cls.srv)
        cls.keys = cls.srv.key_client()
        cls.secrets = cls.srv.secret_client()
        # the certificates package answers its challenge once per process: before any thread does
        list(cls.client.list_properties_of_issuers())

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def create(self, name, policy, client=None, **kwargs):
        """begin_create_certificate with a fast poller: the result a KeyVaultCertificate, the
        last status completed (that the first one is inProgress has a test of its own)."""
        client = client or self.client
        poller = client.begin_create_certificate(name, policy, _polling_interval=POLL, **kwargs)
        cert = poller.result(60)
        self.assertEqual(poller.status(), "completed")
        self.assertEqual(type(cert).__name__, "KeyVaultCertificate")
        return cert

    def policy(self, **kwargs):
        from azure.keyvault.certificates import CertificatePolicy
        kwargs.setdefault("subject", "CN=py.example")
        return CertificatePolicy(issuer_name=kwargs.pop("issuer_name", "Self"), **kwargs)

    # --- creation ----------------------------------------------------------------------------

    def test_poller_sees_in_progress_then_completed(self):
        name = unique_name("py-poller")
        poller = self.client.begin_create_certificate(name, self.policy(subject=f"CN={name}"),
                                                      _polling_interval=POLL)
        # the 202 body is the poller's first state
        self.assertEqual(poller.status(), "inprogress", "the 202 said inProgress")
        self.assertFalse(poller.done())
        op = self.client.get_certificate_operation(name)
        self.assertEqual(op.status, "inProgress")
        self.assertEqual(op.issuer_name, "Self")
        self.assertFalse(op.cancellation_requested)
        self.assertEqual(op.status_details,
                         "Pending certificate created. Certificate request is in progress. This may "
                         "take some time based on the issuer provider. Please check again later.")
        self.assertIsNone(op.target)
        self.assertIsNone(op.error)
        self.assertTrue(x509.load_der_x509_csr(bytes(op.csr)).is_signature_valid)
        cert = poller.result(60)
        self.assertEqual(type(cert).__name__, "KeyVaultCertificate")
        self.assertEqual(poller.status(), "completed")
        done = self.client.get_certificate_operation(name)
        self.assertEqual(done.status, "completed")
        self.assertEqual(done.target, f"{self.srv.vault_url}/certificates/{name}")
        self.assertEqual(done.request_id, op.request_id)

    def test_202_is_in_progress_even_when_key_generation_is_slow(self):
        """C4: the 202 answers inProgress (Python's poller starts from it: a 202 that already
        says completed leaves result() None). Six RSA-4096 creates at once make key generation
        take seconds on a small machine: the issue delay must count from the write, not from
        the request. (A read queued behind the other creates may come after the delay: only
        the 202 is checked here.)"""
        import threading
        names = [unique_name("py-slow") for _ in range(6)]
        seen = {}

        def one(name):
            r = self.srv.request("POST", f"/certificates/{name}/create?{DP}", {
                "policy": {"issuer": {"name": "Self"}, "x509_props": {"subject": "CN=slow"},
                           "key_props": {"kty": "RSA", "key_size": 4096}}}, timeout=120)
            seen[name] = (r.status, (r.json or {}).get("status"))

        threads = [threading.Thread(target=one, args=(n,)) for n in names]
        for t in threads:
            t.start()
        for t in threads:
            t.join(180)
        for name in names:
            self.assertEqual(seen.get(name), (202, "inProgress"), name)

    def test_create_every_key_type(self):
        kinds = [("RSA", 2048, None), ("RSA", 3072, None), ("RSA", 4096, None),
                 ("EC", None, "P-256"), ("EC", None, "P-384"), ("EC", None, "P-521")]
        curves = {"P-256": "secp256r1", "P-384": "secp384r1", "P-521": "secp521r1"}
        sizes = {"P-256": 256, "P-384": 384, "P-521": 521}

        def one(kind):
            kty, size, crv = kind
            name = unique_name(f"py-{kty}-{size or crv}")
            kw = {"key_type": kty}
            if size:
                kw["key_size"] = size
            if crv:
                kw["key_curve_name"] = crv
            client = certutil.cert_client(self.srv)
            t0 = datetime.datetime.now(datetime.timezone.utc)
            cert = self.create(name, self.policy(subject=f"CN={name}", **kw), client=client)
            return kind, name, t0, cert

        with ThreadPoolExecutor(len(kinds)) as pool:
            results = list(pool.map(one, kinds))
        for (kty, size, crv), name, t0, cert in results:
            with self.subTest(kty=kty, size=size, crv=crv):
                v = cert.properties.version
                self.assertRegex(v, r"^[0-9a-f]{32}$")
                self.assertEqual(cert.id, f"{self.srv.vault_url}/certificates/{name}/{v}")
                self.assertEqual(cert.key_id, f"{self.srv.vault_url}/keys/{name}/{v}")
                self.assertEqual(cert.secret_id, f"{self.srv.vault_url}/secrets/{name}/{v}")
                self.assertTrue(cert.properties.enabled)
                x = x509.load_der_x509_certificate(bytes(cert.cer))
                self.assertEqual(cert.properties.x509_thumbprint, x.fingerprint(hashes.SHA1()))
                self.assertEqual(x.subject.rfc4514_string(), f"CN={name}")
                self.assertEqual(x.issuer, x.subject)
                self.assertEqual(x.version, x509.Version.v3)
                self.assertGreater(x.serial_number, 0)
                pub = x.public_key()
                if kty == "RSA":
                    self.assertEqual(pub.key_size, size)
                    self.assertEqual(x.signature_hash_algorithm.name, "sha256")
                else:
                    self.assertEqual(pub.curve.name, curves[crv])
                # the self-signature verifies
                if kty == "RSA":
                    from cryptography.hazmat.primitives.asymmetric import padding
                    pub.verify(x.signature, x.tbs_certificate_bytes, padding.PKCS1v15(),
                               x.signature_hash_algorithm)
                else:
                    from cryptography.hazmat.primitives.asymmetric import ec
                    pub.verify(x.signature, x.tbs_certificate_bytes,
                               ec.ECDSA(x.signature_hash_algorithm))
                nbf = x.not_valid_before.replace(tzinfo=datetime.timezone.utc)
                exp = x.not_valid_after.replace(tzinfo=datetime.timezone.utc)
                self.assertEqual(cert.properties.not_before, nbf)
                self.assertEqual(cert.properties.expires_on, exp)
                self.assertLessEqual(abs((t0 - nbf).total_seconds() - 600), 30, "nbf = create - 600 s")
                self.assertTrue(365 <= (exp - nbf).days <= 367)
                bc = x.extensions.get_extension_for_oid(ExtensionOID.BASIC_CONSTRAINTS).value
                self.assertFalse(bc.ca)
                ku = x.extensions.get_extension_for_oid(ExtensionOID.KEY_USAGE)
                self.assertTrue(ku.critical)
                self.assertTrue(ku.value.digital_signature)
                self.assertEqual(ku.value.key_encipherment, kty == "RSA")
                eku = x.extensions.get_extension_for_oid(ExtensionOID.EXTENDED_KEY_USAGE).value
                self.assertEqual([o.dotted_string for o in eku], DEFAULT_EKUS)
                x.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_KEY_IDENTIFIER)
                p = cert.policy
                self.assertEqual(p.issuer_name, "Self")
                self.assertEqual(p.key_type, kty)
                self.assertEqual(p.key_size, size or sizes[crv])
                if crv:
                    self.assertEqual(p.key_curve_name, crv)
                self.assertTrue(p.exportable)
                self.assertFalse(p.reuse_key)
                self.assertEqual(p.content_type, "application/x-pkcs12")
                self.assertEqual(p.validity_in_months, 12)
                self.assertEqual(p.enhanced_key_usage, DEFAULT_EKUS)
                self.assertEqual(sorted(getattr(k, "value", k) for k in p.key_usage),
                                 ["digitalSignature", "keyEncipherment"] if kty == "RSA"
                                 else ["digitalSignature"])
                self.assertEqual([(a.action, a.lifetime_percentage) for a in p.lifetime_actions],
                                 [("AutoRenew", 80)])
                key = self.keys.get_key(name, v)
                self.assertTrue(key.properties.managed)
                self.assertEqual(key.key_type, kty)
                if kty == "EC":
                    self.assertNotIn("wrapKey", key.key_operations)
                    self.assertNotIn("encrypt", key.key_operations)

    def test_subject_sans_usages_ekus_validity(self):
        name = unique_name("py-ext")
        policy = self.policy(
            subject="CN=py-ext.example, O=Kluis Test, OU=E2E, L=Amsterdam, C=NL",
            san_dns_names=["py-ext.example", "alt.py-ext.example"],
            san_emails=["admin@py-ext.example"],
            san_user_principal_names=["user@py-ext.example"],
            key_usage=["digitalSignature", "keyCertSign", "cRLSign", "keyAgreement"],
            enhanced_key_usage=["1.3.6.1.5.5.7.3.2", "1.3.6.1.5.5.7.3.4"],
            validity_in_months=24,
            key_type="EC", key_curve_name="P-256")
        poller = self.client.begin_create_certificate(name, policy, _polling_interval=POLL)
        op = self.client.get_certificate_operation(name)
        self.assertEqual(op.status, "inProgress")
        csr = x509.load_der_x509_csr(bytes(op.csr))
        self.assertTrue(csr.is_signature_valid)
        self.assertEqual(csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value,
                         "py-ext.example")
        csr_san = csr.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
        self.assertEqual(csr_san.get_values_for_type(x509.DNSName),
                         ["py-ext.example", "alt.py-ext.example"])
        cert = poller.result(60)
        x = x509.load_der_x509_certificate(bytes(cert.cer))
        self.assertEqual(x.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value, "Kluis Test")
        self.assertEqual(x.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value, "E2E")
        self.assertEqual(x.subject.get_attributes_for_oid(NameOID.LOCALITY_NAME)[0].value, "Amsterdam")
        self.assertEqual(x.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value, "NL")
        san = x.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
        self.assertEqual(san.get_values_for_type(x509.DNSName), ["py-ext.example", "alt.py-ext.example"])
        self.assertEqual(san.get_values_for_type(x509.RFC822Name), ["admin@py-ext.example"])
        upns = [o for o in san.get_values_for_type(x509.OtherName) if o.type_id == UPN_OID]
        self.assertEqual(len(upns), 1)
        self.assertIn(b"user@py-ext.example", upns[0].value)
        ku = x.extensions.get_extension_for_oid(ExtensionOID.KEY_USAGE).value
        self.assertTrue(ku.digital_signature and ku.key_cert_sign and ku.crl_sign and ku.key_agreement)
        self.assertFalse(ku.key_encipherment or ku.data_encipherment or ku.content_commitment)
        eku = x.extensions.get_extension_for_oid(ExtensionOID.EXTENDED_KEY_USAGE).value
        self.assertEqual(list(eku), [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.EMAIL_PROTECTION])
        # notBefore = created - 600 s, notAfter = created + 24 calendar months
        created = x.not_valid_before + datetime.timedelta(seconds=600)
        self.assertEqual(certutil.months_rounded_up(created, x.not_valid_after), 24)
        self.assertEqual((x.not_valid_after.day, x.not_valid_after.hour, x.not_valid_after.minute),
                         (created.day, created.hour, created.minute))
        self.assertEqual(x.signature_hash_algorithm.name, "sha256")
        p = cert.policy
        self.assertEqual(p.subject, "CN=py-ext.example, O=Kluis Test, OU=E2E, L=Amsterdam, C=NL")
        self.assertEqual(p.san_dns_names, ["py-ext.example", "alt.py-ext.example"])
        self.assertEqual(p.san_emails, ["admin@py-ext.example"])
        self.assertEqual(p.san_user_principal_names, ["user@py-ext.example"])
        # (kluis answers the usages in its own order; Python turns them into KeyUsageType)
        self.assertEqual(sorted(str(getattr(k, "value", k)) for k in p.key_usage),
                         sorted(["digitalSignature", "keyCertSign", "cRLSign", "keyAgreement"]))
        self.assertEqual(p.enhanced_key_usage, ["1.3.6.1.5.5.7.3.2", "1.3.6.1.5.5.7.3.4"])
        self.assertEqual(p.validity_in_months, 24)
        # key_ops from the usages: sign/verify only (keyAgreement maps to none)
        key = self.keys.get_key(name)
        self.assertEqual(sorted(key.key_operations), ["sign", "verify"])

    def test_content_types_and_exportability(self):
        cases = [("application/x-pkcs12", True), ("application/x-pkcs12", False),
                 ("application/x-pem-file", True), ("application/x-pem-file", False)]

        def one(case):
            ctype, exportable = case
            name = unique_name("py-ct")
            # (key_type too: Python sends key_props only when one of them is truthy)
            cert = self.create(name, self.policy(subject=f"CN={name}", content_type=ctype,
                                                 exportable=exportable, key_type="RSA"),
                               client=certutil.cert_client(self.srv))
            return case, name, cert

        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(one, cases))
        for (ctype, exportable), name, cert in results:
            with self.subTest(ctype=ctype, exportable=exportable):
                self.assertEqual(cert.policy.content_type, ctype)
                self.assertEqual(cert.policy.exportable, exportable)
                secret = self.secrets.get_secret(name)
                self.assertEqual(secret.id, cert.secret_id)
                self.assertEqual(secret.properties.content_type, ctype)
                self.assertTrue(secret.properties.managed)
                self.assertEqual(secret.properties.key_id, cert.key_id)
                leaf = x509.load_der_x509_certificate(bytes(cert.cer))
                if ctype == "application/x-pkcs12":
                    data = base64.b64decode(secret.value, validate=True)
                    key, c, extra = pkcs12.load_key_and_certificates(data, None)
                    # without a key, OpenSSL's PKCS12_parse puts the certificate among the extras
                    self.assertEqual([x for x in [c] + list(extra) if x], [leaf])
                    # b"" opens it as well
                    pkcs12.load_key_and_certificates(data, b"")
                    text = certutil.openssl_pkcs12_text(data, "")
                    self.assertEqual(certutil.pem_certs(text), [bytes(cert.cer)])
                    self.assertEqual("PRIVATE KEY-----" in text, exportable)
                else:
                    text = secret.value
                    self.assertNotIn("\r", text)
                    self.assertTrue(text.endswith("-----END CERTIFICATE-----\n"))
                    self.assertFalse(text.endswith("\n\n"))
                    self.assertEqual(text.startswith("-----BEGIN PRIVATE KEY-----\n"), exportable)
                    self.assertNotIn("RSA PRIVATE KEY", text)
                    self.assertEqual(certutil.pem_certs(text)[-1], bytes(cert.cer))
                    key = None
                    if exportable:
                        from cryptography.hazmat.primitives import serialization
                        key = serialization.load_pem_private_key(text.encode(), None)
                if exportable:
                    self.assertEqual(certutil.spki(key.public_key()), certutil.spki(leaf.public_key()))
                else:
                    self.assertIsNone(key)

    def test_managed_key_signs_verified_with_the_certificate(self):
        from azure.keyvault.keys.crypto import CryptographyClient
        rsa_name, ec_name = unique_name("py-sign-rsa"), unique_name("py-sign-ec")
        with ThreadPoolExecutor(2) as pool:
            rsa_cert, ec_cert = pool.map(
                lambda a: self.create(a[0], self.policy(subject=f"CN={a[0]}", **a[1]),
                                      client=certutil.cert_client(self.srv)),
                [(rsa_name, {}), (ec_name, {"key_type": "EC", "key_curve_name": "P-521"})])
        data = b"signed by the managed key of a certificate"
        for cert, alg in ((rsa_cert, "RS256"), (rsa_cert, "PS384"), (rsa_cert, "RS512"),
                          (ec_cert, "ES512")):
            with self.subTest(alg=alg):
                cc = CryptographyClient(cert.key_id, self.srv.credential, connection_verify=self.srv.ca)
                sig = cc.sign(alg, certutil.digest(alg, data)).signature
                leaf = x509.load_der_x509_certificate(bytes(cert.cer))
                certutil.verify_with_cert(leaf, alg, data, sig)  # raises if it does not verify
                with self.assertRaises(Exception):
                    certutil.verify_with_cert(leaf, alg, data + b"!", sig)

    def test_managed_key_and_secret_refuse_changes(self):
        from azure.core.exceptions import HttpResponseError
        name = unique_name("py-managed")
        cert = self.create(name, self.policy(subject=f"CN={name}"))
        v = cert.properties.version
        calls = [
            ("secret set", lambda: self.secrets.set_secret(name, "overwritten"), "SecretManagedByKeyVault"),
            ("secret update", lambda: self.secrets.update_secret_properties(name, v, content_type="x"), None),
            ("secret delete", lambda: self.secrets.begin_delete_secret(name).result(), None),
            ("secret backup", lambda: self.secrets.backup_secret(name), None),
            ("key create", lambda: self.keys.create_rsa_key(name), "KeyManagedByKeyVault"),
            ("key update", lambda: self.keys.update_key_properties(name, v, tags={"a": "b"}), None),
            ("key delete", lambda: self.keys.begin_delete_key(name).result(), None),
            ("key backup", lambda: self.keys.backup_key(name), None),
            ("key rotate", lambda: self.keys.rotate_key(name), None),
        ]
        for what, call, inner in calls:
            with self.subTest(what):
                with self.assertRaises(HttpResponseError) as cm:
                    call()
                self.assertEqual(cm.exception.status_code, 403, str(cm.exception))
                self.assertEqual(cm.exception.error.code, "Forbidden")
                if inner:
                    self.assertEqual(cm.exception.error.innererror["code"], inner)
                    self.assertRegex(cm.exception.error.message,
                                     r'^Operation "[a-z]+" is not allowed as this object\'s lifetime is managed by Key Vault\.$')
        self.assertEqual(self.secrets.get_secret(name).properties.version, v)
        self.assertEqual(len(list(self.secrets.list_properties_of_secret_versions(name))), 1)
        self.assertEqual(len(list(self.keys.list_properties_of_key_versions(name))), 1)
        listed = [s for s in self.secrets.list_properties_of_secrets() if s.name == name]
        self.assertTrue(listed and listed[0].managed)
        listed = [k for k in self.keys.list_properties_of_keys() if k.name == name]
        self.assertTrue(listed and listed[0].managed)

    # --- reads ------------------------------------------------------------------------------

    def test_get_latest_and_version(self):
        from azure.core.exceptions import ResourceNotFoundError
        name = unique_name("py-ver")
        v1 = self.create(name, self.policy(subject="CN=first"))
        v2 = self.create(name, self.policy(subject="CN=second"))
        latest = self.client.get_certificate(name)
        self.assertEqual(latest.properties.version, v2.properties.version)
        self.assertEqual(latest.policy.subject, "CN=second")
        old = self.client.get_certificate_version(name, v1.properties.version)
        self.assertEqual(bytes(old.cer), bytes(v1.cer))
        self.assertEqual(old.id, v1.id)
        self.assertIsNone(old.policy, "no policy with an explicit version")
        with self.assertRaises(ResourceNotFoundError) as cm:
            self.client.get_certificate_version(name, "0" * 32)
        self.assertEqual(cm.exception.error.code, "CertificateNotFound")
        self.assertIn(f"{name}/versions/{'0' * 32}", cm.exception.error.message)
        missing = unique_name("py-missing")
        with self.assertRaises(ResourceNotFoundError) as cm:
            self.client.get_certificate(missing)
        self.assertEqual(cm.exception.error.message,
                         f"A certificate with (name/id) {missing} was not found in this key vault. If you "
                         "recently deleted this certificate you may be able to recover it using the correct "
                         "recovery command. For help resolving this issue, please see "
                         "https://go.microsoft.com/fwlink/?linkid=2125182")
        # names are case-insensitive
        self.assertEqual(self.client.get_certificate(name.upper()).properties.version, v2.properties.version)
        # raw: x5t base64url of SHA-1, cer standard base64
        r = self.srv.request("GET", f"/certificates/{name}/?{DP}")
        self.assertEqual(r.status, 200, r)
        import hashlib
        self.assertEqual(r.json["x5t"], harness.b64url(hashlib.sha1(bytes(v2.cer)).digest()))
        self.assertEqual(len(r.json["x5t"]), 27)
        self.assertEqual(r.json["cer"], base64.b64encode(bytes(v2.cer)).decode())
        self.assertEqual(r.json["policy"]["id"], f"{self.srv.vault_url}/certificates/{name}/policy")
        self.assertEqual(r.headers.get("content-type", "").split(";")[0], "application/json")

    def test_list_and_include_pending(self):
        name = unique_name("py-list")
        pending = unique_name("py-pend")
        cert = self.create(name, self.policy(), tags={"env": "e2e"})
        poller = self.client.begin_create_certificate(
            pending, self.policy(issuer_name="Unknown"), _polling_interval=POLL)
        # Python's poller is done at once with Unknown (its result is then None: LROPoller
        # never runs a polling method that is finished from the start)
        self.assertTrue(poller.done())
        self.assertEqual(self.client.get_certificate_operation(pending).status, "inProgress")
        items = {p.name: p for p in self.client.list_properties_of_certificates()}
        self.assertIn(name, items)
        self.assertNotIn(pending, items)
        self.assertEqual(items[name].id, f"{self.srv.vault_url}/certificates/{name}")
        self.assertEqual(items[name].x509_thumbprint, cert.properties.x509_thumbprint)
        self.assertEqual(items[name].tags, {"env": "e2e"})
        with_pending = [p.name for p in self.client.list_properties_of_certificates(include_pending=True)]
        self.assertIn(pending, with_pending)
        self.assertIn(name, with_pending)
        self.assertEqual(len(with_pending), len(set(with_pending)))
        self.assertNotIn(pending, [p.name for p in self.client.list_properties_of_certificates(include_pending=False)])
        # paging with one item a page
        pages = list(self.client.list_properties_of_certificates(include_pending=True, max_page_size=1).by_page())
        self.assertGreaterEqual(len(pages), 2)

    def test_list_versions(self):
        name = unique_name("py-lv")
        v1 = self.create(name, self.policy())
        v2 = self.create(name, self.policy())
        versions = list(self.client.list_properties_of_certificate_versions(name))
        self.assertEqual(sorted(v.version for v in versions),
                         sorted([v1.properties.version, v2.properties.version]))
        for v in versions:
            self.assertEqual(v.id, f"{self.srv.vault_url}/certificates/{name}/{v.version}")
            self.assertEqual(len(v.x509_thumbprint), 20)
        self.assertEqual(list(self.client.list_properties_of_certificate_versions(unique_name("py-none"))), [])
        r = self.srv.request("GET", f"/certificates/{unique_name('py-none')}/versions?{DP}")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {"value": [], "nextLink": None})

    # --- changes ----------------------------------------------------------------------------

    def test_update_attributes_tags_and_disable(self):
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
        name = unique_name("py-upd")
        cert = self.create(name, self.policy(), tags={"a": "1"})
        v = cert.properties.version
        u = self.client.update_certificate_properties(name, v, tags={"b": "2"})
        self.assertEqual(u.properties.tags, {"b": "2"})
        u = self.client.update_certificate_properties(name, tags={"c": "3"})  # latest
        self.assertEqual(u.properties.version, v)
        self.assertEqual(u.properties.tags, {"c": "3"})
        d = self.client.update_certificate_properties(name, v, enabled=False)
        self.assertFalse(d.properties.enabled)
        self.assertEqual(d.properties.tags, {"c": "3"})
        got = self.client.get_certificate(name)
        self.assertFalse(got.properties.enabled)
        self.assertEqual(bytes(got.cer), bytes(cert.cer), "a disabled certificate stays readable")
        with self.assertRaises(HttpResponseError) as cm:
            self.secrets.get_secret(name)
        self.assertEqual(cm.exception.status_code, 403)
        self.assertEqual(cm.exception.error.innererror["code"], "SecretDisabled")
        self.assertFalse(self.keys.get_key(name).properties.enabled)
        self.client.update_certificate_properties(name, v, enabled=True)
        self.assertTrue(self.secrets.get_secret(name).value)
        with self.assertRaises(ResourceNotFoundError):
            self.client.update_certificate_properties(unique_name("py-nope"), enabled=False)

    def test_policy_get_and_update(self):
        from azure.keyvault.certificates import LifetimeAction, CertificatePolicyAction
        name = unique_name("py-pol")
        cert = self.create(name, self.policy(subject="CN=before", san_dns_names=["a.example"]))
        p = self.client.get_certificate_policy(name)
        self.assertEqual(p.subject, "CN=before")
        self.assertEqual(p.san_dns_names, ["a.example"])
        self.assertEqual(p.key_type, "RSA")
        before_updated = p.updated_on
        new = self.client.update_certificate_policy(name, self.policy(
            subject="CN=after", key_type="EC", key_curve_name="P-384", key_size=384,
            validity_in_months=6, content_type="application/x-pem-file",
            lifetime_actions=[LifetimeAction(CertificatePolicyAction.email_contacts, days_before_expiry=20)]))
        self.assertEqual(new.subject, "CN=after")
        self.assertEqual(new.key_type, "EC")
        self.assertEqual(new.key_curve_name, "P-384")
        self.assertEqual(new.validity_in_months, 6)
        self.assertEqual(new.content_type, "application/x-pem-file")
        self.assertEqual([(a.action, a.days_before_expiry) for a in new.lifetime_actions],
                         [("EmailContacts", 20)])
        self.assertGreaterEqual(new.updated_on, before_updated)
        # existing versions untouched; the next one follows the new policy
        self.assertEqual(bytes(self.client.get_certificate(name).cer), bytes(cert.cer))
        r = self.srv.request("POST", f"/certificates/{name}/create?{DP}", {})
        self.assertEqual(r.status, 202, r)
        self.assertEqual(r.json["status"], "inProgress")
        self.assertTrue(r.headers["location"].startswith(
            f"{self.srv.vault_url}/certificates/{name}/pending?"), r.headers)
        self.assertIn(f"request_id={r.json['request_id']}", r.headers["location"])
        deadline = datetime.datetime.now() + datetime.timedelta(seconds=20)
        while self.client.get_certificate_operation(name).status == "inProgress":
            self.assertLess(datetime.datetime.now(), deadline)
            import time
            time.sleep(POLL)
        nxt = self.client.get_certificate(name)
        self.assertNotEqual(nxt.properties.version, cert.properties.version)
        x = x509.load_der_x509_certificate(bytes(nxt.cer))
        self.assertEqual(x.subject.rfc4514_string(), "CN=after")
        self.assertEqual(x.public_key().curve.name, "secp384r1")
        self.assertTrue(self.secrets.get_secret(name).value.startswith("-----BEGIN PRIVATE KEY-----"))
        # Python sent "sans":{} (it always does): "nothing given" (C1), so the SANs stay
        self.assertEqual(new.san_dns_names, ["a.example"], "absent members keep theirs")

    def test_reuse_key(self):
        """reuse_key: the next version keeps the key material (under a new key version); without
        it, a new key pair."""
        spki = {}
        for reuse in (True, False):
            name = unique_name(f"py-reuse-{reuse}")
            c1 = self.create(name, self.policy(subject=f"CN={name}", key_type="RSA", reuse_key=reuse))
            self.assertEqual(c1.policy.reuse_key, reuse)
            c2 = self.create(name, self.policy(subject=f"CN={name}", key_type="RSA", reuse_key=reuse))
            self.assertNotEqual(c1.properties.version, c2.properties.version)
            k1, k2 = (certutil.spki(x509.load_der_x509_certificate(bytes(c.cer)).public_key())
                      for c in (c1, c2))
            spki[reuse] = (k1 == k2)
            self.assertNotEqual(self.keys.get_key(name, c1.properties.version).id,
                                self.keys.get_key(name, c2.properties.version).id)
        self.assertEqual(spki, {True: True, False: False})

    def test_bad_policies_are_400(self):
        from azure.core.exceptions import HttpResponseError
        from azure.keyvault.certificates import LifetimeAction
        bad = [
            {"key_type": "RSA", "key_size": 1024},
            {"key_type": "RSA", "key_size": 2047},
            {"key_type": "EC", "key_curve_name": "P-999"},
            {"key_type": "EC", "key_curve_name": "P-384", "key_size": 256},
            {"key_type": "EC-HSM", "exportable": True},
            {"key_type": "oct"},
            {"content_type": "application/json"},
            {"key_usage": ["signEverything"]},
            {"enhanced_key_usage": ["not-an-oid"]},
            {"validity_in_months": 1201},
            {"lifetime_actions": [LifetimeAction("AutoRenew", lifetime_percentage=0)]},
            {"lifetime_actions": [LifetimeAction("AutoRenew")]},
            {"lifetime_actions": [LifetimeAction("SendPigeon", lifetime_percentage=50)]},
            {"lifetime_actions": [LifetimeAction("AutoRenew", lifetime_percentage=50),
                                  LifetimeAction("AutoRenew", days_before_expiry=5)]},
            {"subject": "CN"},
        ]
        for kw in bad:
            with self.subTest(kw=repr(kw)):
                name = unique_name("py-bad")
                with self.assertRaises(HttpResponseError) as cm:
                    self.client.begin_create_certificate(name, self.policy(**kw), _polling_interval=POLL)
                self.assertEqual(cm.exception.status_code, 400, str(cm.exception))
                self.assertEqual(cm.exception.error.code, "BadParameter")
                r = self.srv.request("GET", f"/certificates/{name}/?{DP}")
                self.assertEqual(r.status, 404, "nothing stored")
        # The SDK refuses a policy with neither subject nor SAN itself; the server does too.
        with self.assertRaises(ValueError):
            from azure.keyvault.certificates import CertificatePolicy
            self.client.begin_create_certificate(unique_name("py-x"), CertificatePolicy("Self"))
        r = self.srv.request("POST", f"/certificates/{unique_name('py-x')}/create?{DP}",
                             {"policy": {"issuer": {"name": "Self"}}})
        self.assertEqual(r.status, 400, r)
        r = self.srv.request("POST", f"/certificates//create?{DP}",
                             {"policy": {"issuer": {"name": "Self"}, "x509_props": {"subject": "CN=x"}}})
        self.assertEqual(r.status, 400, r)
        r = self.srv.request("POST", f"/certificates/{'a' * 128}/create?{DP}",
                             {"policy": {"issuer": {"name": "Self"}, "x509_props": {"subject": "CN=x"}}})
        self.assertEqual(r.status, 400, r)


if __name__ == "__main__":
    unittest.main()
