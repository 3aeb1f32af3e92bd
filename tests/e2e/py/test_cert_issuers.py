"""Certificate issuers and contacts with the Python SDK (azure-keyvault-certificates): create,
get, update (member-wise), list, delete issuers; set, get, delete contacts; the service's 404
codes and messages; the issuer password never answered; reserved issuer names.

Run: cd tests/e2e/py && /usr/bin/python3 -m unittest -v test_cert_issuers
"""

import unittest

import harness


class CertIssuers(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from azure.keyvault.certificates import CertificateClient
        cls.srv = harness.start_server()
        cls.client = CertificateClient(cls.srv.vault_url, cls.srv.credential,
                                       connection_verify=cls.srv.ca)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.srv.close()

    def test_issuer_life(self):
        from azure.core.exceptions import ResourceNotFoundError
        from azure.keyvault.certificates import AdministratorContact
        c = self.client
        admin = AdministratorContact(first_name="John", last_name="Doe",
                                     email="admin@microsoft.com", phone="4255555555")
        iss = c.create_issuer("sdk-issuer", "Test", account_id="keyvaultuser",
                              password="never-answered", organization_id="org-1",
                              admin_contacts=[admin])
        self.assertEqual((iss.name, iss.provider, iss.account_id, iss.organization_id),
                         ("sdk-issuer", "Test", "keyvaultuser", "org-1"))
        self.assertIsNone(iss.password)
        self.assertTrue(iss.enabled)
        self.assertEqual([(a.first_name, a.last_name, a.email, a.phone) for a in iss.admin_contacts],
                         [("John", "Doe", "admin@microsoft.com", "4255555555")])
        got = c.get_issuer("SDK-ISSUER")
        self.assertEqual(got.id, f"{self.srv.vault_url}/certificates/issuers/sdk-issuer")
        self.assertIsNone(got.password)
        # update merges: the admins and the organisation stay
        up = c.update_issuer("sdk-issuer", enabled=False, account_id="other")
        self.assertEqual((up.enabled, up.account_id, up.provider, up.organization_id),
                         (False, "other", "Test", "org-1"))
        self.assertEqual(len(up.admin_contacts), 1)
        c.create_issuer("sdk-issuer-2", "DigiCert")
        listed = {p.name: p.provider for p in c.list_properties_of_issuers()}
        self.assertEqual(listed.get("sdk-issuer"), "Test")
        self.assertEqual(listed.get("sdk-issuer-2"), "DigiCert")
        gone = c.delete_issuer("sdk-issuer")
        self.assertEqual(gone.provider, "Test")
        with self.assertRaises(ResourceNotFoundError) as cm:
            c.get_issuer("sdk-issuer")
        self.assertEqual(cm.exception.error.code, "CertificateIssuerNotFound")
        self.assertEqual(cm.exception.error.message, "Issuer not found")
        with self.assertRaises(ResourceNotFoundError):
            c.delete_issuer("sdk-issuer")

    def test_reserved_issuer_names(self):
        from azure.core.exceptions import HttpResponseError
        for name in ("Self", "unknown"):
            with self.assertRaises(HttpResponseError) as cm:
                self.client.create_issuer(name, "Test")
            self.assertEqual(cm.exception.status_code, 400)

    def test_contacts(self):
        from azure.core.exceptions import ResourceNotFoundError
        from azure.keyvault.certificates import CertificateContact
        c = self.client
        with self.assertRaises(ResourceNotFoundError) as cm:
            c.get_contacts()
        self.assertEqual(cm.exception.error.code, "ContactsNotFound")
        got = c.set_contacts([CertificateContact(email="a@contoso.com", name="A", phone="1"),
                              CertificateContact(email="b@contoso.com")])
        self.assertEqual([(x.email, x.name, x.phone) for x in got],
                         [("a@contoso.com", "A", "1"), ("b@contoso.com", None, None)])
        self.assertEqual([x.email for x in c.get_contacts()], ["a@contoso.com", "b@contoso.com"])
        self.assertEqual([x.email for x in c.delete_contacts()],
                         ["a@contoso.com", "b@contoso.com"])
        with self.assertRaises(ResourceNotFoundError):
            c.delete_contacts()


if __name__ == "__main__":
    unittest.main()
