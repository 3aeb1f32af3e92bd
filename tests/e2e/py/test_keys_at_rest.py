"""Private key material never reaches the disk in clear (issue 3: "Private material is sealed at
rest like secret values, and a test searches the data directory for it").

Keys are imported with known private members (RSA d, p, q, dp, dq, qi; EC d; oct k), used, backed
up, rotated, deleted and recovered; then every file under the data directory (LMDB store, lock
file, TLS files, anything else; with KLUIS_E2E_STORE=postgres also the PostgreSQL server's files,
its WAL included, but other databases') and kluisd's log are searched for each member as raw
bytes, hex, base64 and base64url (at each of the three byte alignments, and with line breaks
removed, so PEM and DER containers are caught too), while the server runs and again after it
stopped.
"""

import base64
import os
import unittest

import harness
import keyutil
from harness import unique_name


def _encodings(secret):
    """Byte strings that appear in any file holding secret raw, as hex, or base64(url)-encoded."""
    out = {"raw": secret, "hex": secret.hex().encode(), "HEX": secret.hex().upper().encode()}
    for shift in range(3):
        chunk = secret[shift:]
        chunk = chunk[: len(chunk) // 3 * 3]
        if len(chunk) < 12:
            continue
        out[f"base64@{shift}"] = base64.b64encode(chunk)
        out[f"base64url@{shift}"] = base64.urlsafe_b64encode(chunk)
    return out


class KeysAtRestTest(unittest.TestCase):
    def setUp(self):
        self.srv = harness.start_server()
        self.client = self.srv.key_client()
        self.secrets = {}  # label -> bytes

    def tearDown(self):
        self.client.close()
        self.srv.close()

    def remember(self, label, members):
        for m, v in members.items():
            self.secrets[f"{label}.{m}"] = v

    def search(self, when):
        found = []
        files = 0
        for path, data in self.srv.files_at_rest():  # under PostgreSQL its files too
            files += 1
            flat = data.replace(b"\n", b"").replace(b"\r", b"")
            for label, secret in self.secrets.items():
                for enc, needle in _encodings(secret).items():
                    if needle in data or needle in flat:
                        found.append(f"{label} as {enc} in {path}")
        log = self.srv.stderr.encode()
        for label, secret in self.secrets.items():
            for enc, needle in _encodings(secret).items():
                if needle in log:
                    found.append(f"{label} as {enc} in kluisd's log")
        self.assertGreater(files, 3, f"{when}: the data dir has files")
        self.assertEqual(found, [], f"{when}: private key material found")

    def test_imported_private_material_is_not_on_disk(self):
        rsa_priv = keyutil.rsa_private(2048)
        self.remember("rsa", keyutil.private_members(rsa_priv))
        rsa_name = unique_name("rest-rsa")
        rsa_key = self.client.import_key(rsa_name, keyutil.sdk_jwk(rsa_priv))
        big = keyutil.rsa_private(4096)
        self.remember("rsa4096", keyutil.private_members(big))
        self.client.import_key(unique_name("rest-rsa4096"), keyutil.sdk_jwk(big), hardware_protected=True)
        for crv in keyutil.CURVES:
            p = keyutil.ec_private(crv)
            self.remember(f"ec{crv}", keyutil.private_members(p))
            self.client.import_key(unique_name("rest-ec"), keyutil.sdk_jwk(p))
        oct_secret = os.urandom(32)
        self.remember("oct", {"k": oct_secret})
        oct_name = unique_name("rest-oct")
        self.client.import_key(oct_name, keyutil.sdk_jwk(oct_secret))
        self.search("after import")

        # Use the keys (a cache of parsed keys must not spill either), back up, rotate, delete.
        c = keyutil.typed(self.client.get_cryptography_client(rsa_name, key_version=rsa_key.properties.version))
        dg = keyutil.digest("RS256", b"use")
        self.assertTrue(keyutil.verify("RS256", rsa_priv.public_key(), dg, c.sign("RS256", dg).signature))
        oc = keyutil.typed(keyutil.remote_only(self.client.get_cryptography_client(oct_name)))
        e = oc.encrypt("A256GCM", b"x" * 40)
        self.assertEqual(oc.decrypt("A256GCM", e.ciphertext, iv=e.iv, authentication_tag=e.tag).plaintext,
                         b"x" * 40)
        blob = self.client.backup_key(rsa_name)
        for label, secret in self.secrets.items():
            if label.startswith("rsa."):
                for enc, needle in _encodings(secret).items():
                    self.assertNotIn(needle, blob, f"{label} as {enc} in the backup blob")
        self.client.rotate_key(rsa_name)
        self.client.update_key_properties(rsa_name, rsa_key.properties.version, tags={"touched": "yes"})
        self.client.begin_delete_key(oct_name).wait()
        self.client.begin_recover_deleted_key(oct_name).wait()
        self.client.begin_delete_key(rsa_name).wait()
        self.search("after use, backup, rotate, delete")

        self.client.purge_deleted_key(rsa_name)
        self.client.restore_key_backup(blob)
        self.search("after purge and restore")

        self.assertEqual(self.srv.stop(), 0)
        self.search("after shutdown")
        # And after another start and stop (anything written while loading).
        self.srv.start()
        self.client.close()
        self.client = self.srv.key_client()
        self.assertEqual(self.client.get_key(rsa_name, rsa_key.properties.version).key.n,
                         keyutil.jwk_fields(rsa_priv)["n"])
        self.assertEqual(self.srv.stop(), 0)
        self.search("after restart")
        self.srv.start()


if __name__ == "__main__":
    unittest.main()
