"""Cryptographic operations through Debian's azure.keyvault.keys CryptographyClient (4.8.0b3,
api-version 7.4-preview.1), with Python's `cryptography` on the other side of every algorithm.

The SDK encrypts and wraps locally with RSA (RSA1_5, RSA-OAEP, RSA-OAEP-256) and verifies RS/PS/ES
locally; decrypt, unwrap and sign go to kluis (sdk-compatibility.md §7). So: the SDK's local
encryption is decrypted by kluis, kluis' signatures are verified by the SDK and by `cryptography`.
For the other direction and for oct keys, remote_only() clients send everything to kluis.
"""

import os
import time
import datetime
import unittest

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

import harness
import keyutil
from keyutil import CURVES, RSA_ENC_ALGS, RSA_SIGN_ALGS, SIGN_ALGS, typed
from harness import b64url, unique_name

UTC = datetime.timezone.utc


class KeysCryptoTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.start_server()
        cls.client = cls.srv.key_client()
        c = cls.client
        cls.rsa = c.create_rsa_key(unique_name("rsa"))
        cls.rsa_priv = keyutil.rsa_private()
        cls.rsa_imp = c.import_key(unique_name("rsaimp"), keyutil.sdk_jwk(cls.rsa_priv))
        cls.ec = {crv: c.create_ec_key(unique_name("ec"), curve=crv) for crv in CURVES}
        cls.ec_priv = {crv: keyutil.ec_private(crv) for crv in CURVES}
        cls.ec_imp = {crv: c.import_key(unique_name("ecimp"), keyutil.sdk_jwk(p)) for crv, p in cls.ec_priv.items()}
        cls.oct_secret = {n: os.urandom(n) for n in (16, 24, 32)}
        cls.oct_imp = {n: c.import_key(unique_name("octimp"), keyutil.sdk_jwk(s)) for n, s in cls.oct_secret.items()}
        cls.oct = {n: c.create_oct_key(unique_name("oct"), size=n * 8) for n in (16, 24, 32)}

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.srv.close()

    def cc(self, key, remote=False):
        c = self.client.get_cryptography_client(key.name, key_version=key.properties.version)
        return typed(keyutil.remote_only(c) if remote else c)

    def assertHttpError(self, status, code, fn, *args, **kwargs):
        with self.assertRaises(HttpResponseError) as cm:
            fn(*args, **kwargs)
        e = cm.exception
        self.assertEqual(e.status_code, status, str(e))
        if code:
            self.assertEqual(e.error.code if e.error else None, code, str(e))
        return e

    def inner(self, e):
        inner = e.error.innererror if e.error else None
        return inner.get("code") if isinstance(inner, dict) else getattr(inner, "code", None)

    # --- RSA -------------------------------------------------------------------------------

    def test_rsa_sdk_local_encrypt_kluis_decrypts(self):
        c = self.cc(self.rsa)
        for alg in RSA_ENC_ALGS:
            for n in (1, 64, 256 - keyutil.RSA_OVERHEAD[alg]):
                pt = os.urandom(n)
                e = c.encrypt(alg, pt)
                self.assertEqual(len(e.ciphertext), 256)
                self.assertEqual(c.decrypt(alg, e.ciphertext).plaintext, pt, f"{alg} {n}")

    def test_rsa_cryptography_encrypts_kluis_decrypts(self):
        pub = keyutil.public_key(self.rsa.key)
        c = self.cc(self.rsa)
        for alg in RSA_ENC_ALGS:
            pt = os.urandom(40)
            self.assertEqual(c.decrypt(alg, keyutil.rsa_encrypt(alg, pub, pt)).plaintext, pt, alg)
            self.assertEqual(c.unwrap_key(alg, keyutil.rsa_encrypt(alg, pub, pt)).key, pt, alg)

    def test_rsa_kluis_encrypts_cryptography_decrypts(self):
        c = self.cc(self.rsa_imp, remote=True)
        for alg in RSA_ENC_ALGS:
            pt = os.urandom(100)
            e = c.encrypt(alg, pt)
            self.assertEqual(len(e.ciphertext), 256)
            self.assertEqual(keyutil.rsa_decrypt(alg, self.rsa_priv, e.ciphertext), pt, alg)
            w = c.wrap_key(alg, pt[:32])
            self.assertEqual(keyutil.rsa_decrypt(alg, self.rsa_priv, w.encrypted_key), pt[:32], alg)

    def test_rsa_sdk_local_wrap_kluis_unwraps(self):
        c = self.cc(self.rsa)
        for alg in RSA_ENC_ALGS:
            cek = os.urandom(32)
            w = c.wrap_key(alg, cek)
            self.assertEqual(c.unwrap_key(alg, w.encrypted_key).key, cek, alg)

    def test_rsa_sign_verified_by_sdk_and_cryptography(self):
        c = self.cc(self.rsa)
        pub = keyutil.public_key(self.rsa.key)
        for alg in RSA_SIGN_ALGS:
            dg = keyutil.digest(alg, alg.encode())
            s = c.sign(alg, dg)
            self.assertEqual(len(s.signature), 256)
            self.assertEqual(s.key_id, self.rsa.id)
            self.assertTrue(keyutil.verify(alg, pub, dg, s.signature), f"cryptography verifies {alg}")
            self.assertTrue(c.verify(alg, dg, s.signature).is_valid, f"SDK (local) verifies {alg}")
            bad = bytearray(s.signature)
            bad[0] ^= 1
            self.assertFalse(c.verify(alg, dg, bytes(bad)).is_valid)

    def test_rsa_cryptography_signs_kluis_verifies(self):
        c = self.cc(self.rsa_imp, remote=True)
        for alg in RSA_SIGN_ALGS:
            dg = keyutil.digest(alg, os.urandom(20))
            sig = keyutil.sign(alg, self.rsa_priv, dg)
            self.assertTrue(c.verify(alg, dg, sig).is_valid, alg)
            bad = bytearray(sig)
            bad[-1] ^= 1
            self.assertFalse(c.verify(alg, dg, bytes(bad)).is_valid, alg)
            if alg.startswith("RS"):
                self.assertEqual(c.sign(alg, dg).signature, sig, f"{alg} is deterministic")

    # --- EC --------------------------------------------------------------------------------

    def test_ec_sign_verified_by_sdk_and_cryptography(self):
        for crv, (_, size, alg, _) in CURVES.items():
            key = self.ec[crv]
            c = self.cc(key)
            pub = keyutil.public_key(key.key)
            dg = keyutil.digest(alg, crv.encode())
            s = c.sign(alg, dg)
            self.assertEqual(len(s.signature), 2 * size, f"{alg}: raw r||s")
            self.assertTrue(keyutil.verify(alg, pub, dg, s.signature), f"cryptography verifies {alg}")
            self.assertTrue(c.verify(alg, dg, s.signature).is_valid, f"SDK verifies {alg}")
            self.assertTrue(self.cc(key, remote=True).verify(alg, dg, s.signature).is_valid, f"kluis verifies {alg}")

    def test_ec_cryptography_signs_kluis_verifies(self):
        for crv, (_, size, alg, _) in CURVES.items():
            c = self.cc(self.ec_imp[crv], remote=True)
            dg = keyutil.digest(alg, os.urandom(10))
            sig = keyutil.sign(alg, self.ec_priv[crv], dg)
            self.assertTrue(c.verify(alg, dg, sig).is_valid, alg)
            self.assertFalse(c.verify(alg, keyutil.digest(alg, b"other"), sig).is_valid, alg)
            s = c.sign(alg, dg).signature
            self.assertTrue(keyutil.verify(alg, self.ec_priv[crv].public_key(), dg, s))

    def test_wrong_digest_length_is_400(self):
        for alg, (fam, _, n, crv) in SIGN_ALGS.items():
            key = self.ec[crv] if fam == "ec" else self.rsa
            c = self.cc(key)
            for bad in (n - 1, n + 1, 20):
                self.assertHttpError(400, "BadParameter", c.sign, alg, os.urandom(bad))

    # --- AES (remote: see keyutil.remote_only) ------------------------------------------------

    def test_aes_gcm(self):
        for n, key in self.oct.items():
            alg = f"A{n * 8}GCM"
            c = self.cc(key, remote=True)
            pt = os.urandom(33)
            e = c.encrypt(alg, pt, additional_authenticated_data=b"hdr")
            self.assertEqual((len(e.iv), len(e.tag), len(e.ciphertext)), (12, 16, 33), alg)
            d = c.decrypt(alg, e.ciphertext, iv=e.iv, authentication_tag=e.tag,
                          additional_authenticated_data=b"hdr")
            self.assertEqual(d.plaintext, pt, alg)
            tag = bytearray(e.tag)
            tag[0] ^= 1
            self.assertHttpError(400, "BadParameter", c.decrypt, alg, e.ciphertext, iv=e.iv,
                                 authentication_tag=bytes(tag), additional_authenticated_data=b"hdr")

    def test_aes_gcm_interop(self):
        for n, key in self.oct_imp.items():
            alg = f"A{n * 8}GCM"
            secret = self.oct_secret[n]
            c = self.cc(key, remote=True)
            pt = os.urandom(70)
            e = c.encrypt(alg, pt, additional_authenticated_data=b"aad")
            self.assertEqual(keyutil.aes_decrypt(alg, secret, e.ciphertext, e.iv, e.tag, b"aad"), pt)
            ct, iv, tag = keyutil.aes_encrypt(alg, secret, pt, aad=b"aad")
            d = c.decrypt(alg, ct, iv=iv, authentication_tag=tag, additional_authenticated_data=b"aad")
            self.assertEqual(d.plaintext, pt, alg)

    def test_aes_cbc_and_cbcpad_interop(self):
        for n, key in self.oct_imp.items():
            secret = self.oct_secret[n]
            c = self.cc(key, remote=True)
            for alg, pt in ((f"A{n * 8}CBC", os.urandom(48)), (f"A{n * 8}CBCPAD", os.urandom(45))):
                iv = os.urandom(16)
                e = c.encrypt(alg, pt, iv=iv)
                self.assertEqual(e.ciphertext, keyutil.aes_encrypt(alg, secret, pt, iv=iv)[0], f"{alg} = cryptography")
                ct, iv2, _ = keyutil.aes_encrypt(alg, secret, pt)
                self.assertEqual(c.decrypt(alg, ct, iv=iv2).plaintext, pt, alg)
            self.assertHttpError(400, "BadParameter", c.encrypt, f"A{n * 8}CBC", os.urandom(17), iv=os.urandom(16))

    def test_aes_kw_interop(self):
        for n, key in self.oct_imp.items():
            alg = f"A{n * 8}KW"
            secret = self.oct_secret[n]
            c = self.cc(key, remote=True)
            cek = os.urandom(32)
            w = c.wrap_key(alg, cek)
            self.assertEqual(w.encrypted_key, keyutil.aes_encrypt(alg, secret, cek)[0], alg)
            self.assertEqual(c.unwrap_key(alg, keyutil.aes_encrypt(alg, secret, cek)[0]).key, cek, alg)
            bad = bytearray(w.encrypted_key)
            bad[3] ^= 1
            self.assertHttpError(400, "BadParameter", c.unwrap_key, alg, bytes(bad))
        for n, key in self.oct.items():
            c = self.cc(key, remote=True)
            w = c.wrap_key(f"A{n * 8}KW", b"k" * 24)
            self.assertEqual(c.unwrap_key(f"A{n * 8}KW", w.encrypted_key).key, b"k" * 24)

    def test_alg_not_fitting_the_key_is_400(self):
        self.assertHttpError(400, "BadParameter", self.cc(self.rsa, remote=True).sign, "ES256", os.urandom(32))
        self.assertHttpError(400, "BadParameter", self.cc(self.ec["P-256"], remote=True).sign, "ES384", os.urandom(48))
        self.assertHttpError(400, "BadParameter", self.cc(self.ec["P-384"], remote=True).sign, "RS256", os.urandom(32))
        self.assertHttpError(400, "BadParameter", self.cc(self.oct[16], remote=True).encrypt, "A256GCM", b"x")
        self.assertHttpError(400, "BadParameter", self.cc(self.oct[32], remote=True).wrap_key, "A128KW", b"k" * 16)
        self.assertHttpError(400, "BadParameter", self.cc(self.rsa, remote=True).encrypt, "A128GCM", b"x")

    # --- enforcement: Python sends what JS refuses locally ----------------------------------------

    def test_key_ops_enforced_by_the_server(self):
        name = unique_name("ops")
        k = self.client.create_rsa_key(name, key_operations=["encrypt", "verify"])
        c = self.cc(k)
        ct = c.encrypt("RSA-OAEP", b"secret").ciphertext  # local
        e = self.assertHttpError(403, "Forbidden", c.decrypt, "RSA-OAEP", ct)  # the SDK sends it anyway
        self.assertEqual(self.inner(e), "KeyOperationForbidden")
        self.assertIn("not permitted", e.error.message)
        self.assertHttpError(403, "Forbidden", c.sign, "RS256", os.urandom(32))
        self.assertHttpError(403, "Forbidden", c.unwrap_key, "RSA-OAEP", ct)
        # Local wrap is not in key_ops: the SDK logs and falls back to the server, which refuses.
        self.assertHttpError(403, "Forbidden", c.wrap_key, "RSA-OAEP", os.urandom(32))
        self.client.update_key_properties(name, k.properties.version, key_operations=["decrypt"])
        self.assertEqual(self.cc(k).decrypt("RSA-OAEP", ct).plaintext, b"secret")

    def test_disabled_key(self):
        name = unique_name("dis")
        k = self.client.create_rsa_key(name)
        ct = keyutil.rsa_encrypt("RSA-OAEP-256", keyutil.public_key(k.key), b"x")
        self.client.update_key_properties(name, k.properties.version, enabled=False)
        c = self.cc(k)
        for fn, args in ((c.decrypt, ("RSA-OAEP-256", ct)), (c.sign, ("PS256", os.urandom(32))),
                         (c.unwrap_key, ("RSA-OAEP-256", ct))):
            e = self.assertHttpError(403, "Forbidden", fn, *args)
            self.assertEqual(self.inner(e), "KeyDisabled")
        r = self.cc(k, remote=True)
        for fn, args in ((r.encrypt, ("RSA-OAEP", b"x")), (r.wrap_key, ("RSA-OAEP", b"k" * 32)),
                         (r.verify, ("RS256", os.urandom(32), os.urandom(256)))):
            self.assertHttpError(403, "Forbidden", fn, *args)

    def test_expired_key_decrypts_and_verifies_but_does_not_sign(self):
        priv = keyutil.rsa_private()
        k = self.client.import_key(unique_name("expired"), keyutil.sdk_jwk(priv),
                                   expires_on=datetime.datetime.fromtimestamp(int(time.time()) - 600, tz=UTC))
        c = self.cc(k)
        ct = keyutil.rsa_encrypt("RSA1_5", priv.public_key(), b"old mail")
        self.assertEqual(c.decrypt("RSA1_5", ct).plaintext, b"old mail")
        self.assertEqual(c.unwrap_key("RSA1_5", ct).key, b"old mail")
        self.assertHttpError(403, "Forbidden", c.sign, "RS256", os.urandom(32))
        dg = keyutil.digest("RS384", b"z")
        self.assertTrue(self.cc(k, remote=True).verify("RS384", dg, keyutil.sign("RS384", priv, dg)).is_valid)
        self.assertHttpError(403, "Forbidden", self.cc(k, remote=True).encrypt, "RSA-OAEP", b"x")

    def test_unknown_key_is_404(self):
        c = typed(self.client.get_cryptography_client(unique_name("missing")))
        with self.assertRaises(ResourceNotFoundError) as cm:
            c.sign("RS256", os.urandom(32))
        self.assertEqual(cm.exception.error.code, "KeyNotFound")

    def test_latest_version_client(self):
        name = unique_name("latest")
        self.client.create_ec_key(name, curve="P-256K")
        v2 = self.client.create_ec_key(name, curve="P-256K")
        c = typed(self.client.get_cryptography_client(name))  # GET /keys/NAME/ then the versioned kid
        dg = keyutil.digest("ES256K", b"latest")
        s = c.sign("ES256K", dg)
        self.assertEqual(s.key_id, v2.id)
        self.assertTrue(keyutil.verify("ES256K", keyutil.public_key(v2.key), dg, s.signature))
        self.assertTrue(c.verify("ES256K", dg, s.signature).is_valid)

    def test_raw_results_are_base64url(self):
        r = self.srv.request("POST", f"/keys/{self.rsa.name}/{self.rsa.properties.version}/sign?api-version=7.4-preview.1",
                             body={"alg": "RS256", "value": b64url(os.urandom(32))})
        self.assertEqual(r.status, 200, r)
        self.assertRegex(r.json["value"], r"^[A-Za-z0-9_-]{342}$")
        self.assertEqual(r.json["kid"], self.rsa.id)


if __name__ == "__main__":
    unittest.main()
