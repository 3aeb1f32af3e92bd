"""Master key rotation and the memory that holds secrets: rotation through the admin API (and the
CLI, and kluisd --rotate-master-key on a stopped node) while the SDK keeps reading, every value
and key written before readable after (same client, after a restart, a backup made before restored
after), the retired key file refused; on a shared PostgreSQL store, a node without the new key
keeps serving but cannot rotate or restart until the key is installed. Then: kluisd is not
dumpable unless --allow-core-dumps, its data key page is locked in RAM, and a locked-memory limit
of 0 costs a warning, not the start."""

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import unittest

from azure.core.exceptions import HttpResponseError
from azure.keyvault.keys.crypto import SignatureAlgorithm

import harness
from harness import unique_name

CLI = os.environ.get("KLUIS_CLI") or os.path.join(harness.REPO, "build", "kluis")
NOBODY = 65534


def read(path):
    with open(path, "rb") as f:
        return f.read()


def write_key(path, data):
    if os.path.exists(path):
        os.unlink(path)
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
        f.write(data)


class MasterKeyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.start_server()

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def admin(self, srv, method, path, body=None):
        return srv.request(method, path, body, host="localhost")

    def key_path(self, srv):
        return os.path.join(srv.data_dir, "master.key")

    def start_fails(self, srv, *extra):
        r = subprocess.run([harness.KLUISD, "--data-dir", srv.data_dir, "--listen",
                            f"127.0.0.1:{srv.port}", *harness.store_args(srv.data_dir), *extra],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 1, r.stderr)
        return r.stderr.decode("utf-8", "replace")

    def test_rotation_online_keeps_everything_readable(self):
        srv = self.srv
        secrets = srv.secret_client()
        keys = srv.key_client()
        prefix = unique_name("mk")
        values = {f"{prefix}-{i}": f"value {i} of {prefix}" for i in range(10)}
        for name, value in values.items():
            secrets.set_secret(name, value)
        key = keys.create_rsa_key(f"{prefix}-rsa", size=2048)
        crypto = keys.get_cryptography_client(key.name, key_version=key.properties.version)
        digest = hashlib.sha256(b"signed before the rotation").digest()
        signature = crypto.sign(SignatureAlgorithm.rs256, digest).signature
        backup = secrets.backup_secret(f"{prefix}-0")

        before = self.admin(srv, "GET", "/kluis/v1/masterKey")
        self.assertEqual(before.status, 200, before)
        self.assertTrue(before.json["nodeKeyCurrent"])
        self.assertEqual(before.json["keyId"], before.json["nodeKeyId"])
        self.assertRegex(before.json["keyId"], r"^[0-9a-f]{16}$")
        old_key = read(self.key_path(srv))

        # Readers on keep-alive connections while the key is rotated, three times.
        errors, done = [], threading.Event()

        def reader():
            while not done.is_set():
                for name, value in values.items():
                    try:
                        if secrets.get_secret(name).value != value:
                            errors.append(f"{name}: wrong value")
                    except Exception as e:  # noqa: BLE001 - any failure is the finding
                        errors.append(f"{name}: {e!r}")

        threads = [threading.Thread(target=reader) for _ in range(2)]
        for t in threads:
            t.start()
        ids = [before.json["keyId"]]
        try:
            for _ in range(3):
                r = self.admin(srv, "POST", "/kluis/v1/masterKey/rotate")
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.json["previousKeyId"], ids[-1])
                self.assertTrue(r.json["nodeKeyCurrent"])
                self.assertEqual(r.json["keyId"], r.json["nodeKeyId"])
                self.assertNotIn(r.json["keyId"], ids)
                ids.append(r.json["keyId"])
        finally:
            done.set()
            for t in threads:
                t.join(60)
        self.assertEqual(errors, [])
        self.assertFalse(os.path.exists(self.key_path(srv) + ".new"))
        self.assertEqual(os.stat(self.key_path(srv)).st_mode & 0o777, 0o600)
        self.assertNotEqual(read(self.key_path(srv)), old_key)
        self.assertIn(f"key {ids[-2]} is retired", srv.stderr)
        self.assertNotIn(old_key.hex(), srv.stderr)

        # Written after the rotation too; all of it after a restart, with the same clients.
        secrets.set_secret(f"{prefix}-after", "after")
        self.assertEqual(srv.restart(), 0)
        for name, value in values.items():
            self.assertEqual(secrets.get_secret(name).value, value)
        self.assertEqual(secrets.get_secret(f"{prefix}-after").value, "after")
        self.assertTrue(crypto.verify(SignatureAlgorithm.rs256, digest, signature).is_valid)
        again = crypto.sign(SignatureAlgorithm.rs256, digest).signature
        self.assertTrue(crypto.verify(SignatureAlgorithm.rs256, digest, again).is_valid)
        # A backup made before the rotation restores after it (the data key is the same).
        secrets.begin_delete_secret(f"{prefix}-0").result()
        secrets.purge_deleted_secret(f"{prefix}-0")
        for _ in range(100):  # the purge is done before it answers; the SDK may still retry
            try:
                secrets.restore_secret_backup(backup)
                break
            except HttpResponseError as e:
                if e.status_code != 409:
                    raise
                time.sleep(0.1)
        self.assertEqual(secrets.get_secret(f"{prefix}-0").value, values[f"{prefix}-0"])

        # The retired key opens nothing any more; the message names the key the store needs.
        self.assertEqual(srv.stop(), 0)
        current = read(self.key_path(srv))
        try:
            write_key(self.key_path(srv), old_key)
            err = self.start_fails(srv)
            self.assertIn("another master key", err)
            self.assertIn(ids[-1], err)
            self.assertIn(ids[0], err)
        finally:
            write_key(self.key_path(srv), current)
        srv.start()
        self.assertEqual(secrets.get_secret(f"{prefix}-1").value, values[f"{prefix}-1"])
        secrets.close()
        keys.close()
        crypto.close()

    def test_offline_rotation_and_cli(self):
        srv = harness.start_server()
        try:
            client = srv.secret_client()
            name = unique_name("offline")
            client.set_secret(name, "kept")
            self.assertEqual(srv.stop(), 0)
            old_key = read(self.key_path(srv))
            r = subprocess.run([harness.KLUISD, "--data-dir", srv.data_dir,
                                *harness.store_args(srv.data_dir), "--rotate-master-key"],
                               stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertRegex(r.stdout.decode(),
                             r"^rotated the master key: [0-9a-f]{16} retired, [0-9a-f]{16} in use\n$")
            self.assertNotEqual(read(self.key_path(srv)), old_key)
            srv.start()
            self.assertEqual(client.get_secret(name).value, "kept")
            if not os.path.exists(CLI):
                self.skipTest(f"no kluis CLI at {CLI} (set KLUIS_CLI)")
            env = dict(os.environ, KLUIS_URL=srv.arm_url, KLUIS_CA=srv.ca)
            env.pop("KLUIS_TOKEN", None)
            tok = ["--token-file", os.path.join(srv.data_dir, "admin-token")]
            show = subprocess.run([CLI, *tok, "--output", "json", "master-key", "show"], env=env,
                                  capture_output=True, timeout=60)
            self.assertEqual(show.returncode, 0, show.stderr)
            first = json.loads(show.stdout)
            rot = subprocess.run([CLI, *tok, "master-key", "rotate"], env=env,
                                 capture_output=True, timeout=60)
            self.assertEqual(rot.returncode, 0, rot.stderr)
            out = rot.stdout.decode()
            self.assertIn(f"previous-key-id   {first['keyId']}", out)
            self.assertIn("node-key-current  true", out)
            self.assertEqual(client.get_secret(name).value, "kept")
            client.close()
        finally:
            srv.close()

    def test_rotation_refused_to_non_admins_and_on_read_only_nodes(self):
        name = unique_name("mk-user")
        r = self.admin(self.srv, "POST", "/kluis/v1/principals", {"name": name})
        self.assertEqual(r.status, 201, r)
        token = r.json["token"]
        for method, path in (("GET", "/kluis/v1/masterKey"), ("POST", "/kluis/v1/masterKey/rotate")):
            self.assertEqual(self.srv.request(method, path, token=token, host="localhost").status,
                             403)
            self.assertEqual(self.srv.request(method, path, token=False, host="localhost").status,
                             401)
        ro = harness.start_server(extra_args=["--read-only"])
        try:
            r = self.admin(ro, "POST", "/kluis/v1/masterKey/rotate")
            self.assertEqual(r.status, 503, r)
            self.assertEqual(self.admin(ro, "GET", "/kluis/v1/masterKey").status, 200)
        finally:
            ro.close()

    def test_shared_store_node_without_the_new_key_fails_closed(self):
        if harness.STORE != "postgres":
            self.skipTest("two nodes share a store only on PostgreSQL")
        a = harness.start_server()
        b = None
        try:
            d = tempfile.mkdtemp(prefix="kluis-e2e-py-")
            os.makedirs(os.path.join(d, "tls"), mode=0o700)
            for f in ("master.key", "admin-token"):
                shutil.copy2(os.path.join(a.data_dir, f), os.path.join(d, f))
            for f in ("ca.pem", "ca-key.pem"):
                shutil.copy2(os.path.join(a.data_dir, "tls", f), os.path.join(d, "tls", f))
            b = harness.KluisServer(d, harness.free_port(),
                                    extra_args=harness.store_args(a.data_dir)).start()
            ca, cb = a.secret_client(), b.secret_client()
            name = unique_name("shared")
            ca.set_secret(name, "both nodes")
            self.assertEqual(cb.get_secret(name).value, "both nodes")

            r = self.admin(a, "POST", "/kluis/v1/masterKey/rotate")
            self.assertEqual(r.status, 200, r)
            new_id, old_id = r.json["keyId"], r.json["previousKeyId"]
            # B still serves, reads and writes (its data key is the same one)...
            self.assertEqual(cb.get_secret(name).value, "both nodes")
            cb.set_secret(name, "written on b")
            self.assertEqual(ca.get_secret(name).value, "written on b")
            # ...says its key is not current, and will not rotate.
            st = self.admin(b, "GET", "/kluis/v1/masterKey").json
            self.assertEqual(st, {"keyId": new_id, "nodeKeyId": old_id, "nodeKeyCurrent": False})
            r = self.admin(b, "POST", "/kluis/v1/masterKey/rotate")
            self.assertEqual(r.status, 409, r)
            self.assertEqual(r.error_code(), "MasterKeyNotCurrent")
            self.assertEqual(self.admin(a, "GET", "/kluis/v1/masterKey").json["keyId"], new_id)
            # Restarted without the key: refused, naming the key it needs.
            self.assertEqual(b.stop(), 0)
            err = self.start_fails(b, *b.extra_args)
            self.assertIn(new_id, err)
            # The key installed: B starts and serves.
            write_key(self.key_path(b), read(self.key_path(a)))
            b.start()
            self.assertEqual(self.admin(b, "GET", "/kluis/v1/masterKey").json["nodeKeyCurrent"],
                             True)
            self.assertEqual(cb.get_secret(name).value, "written on b")
            ca.close()
            cb.close()
        finally:
            if b is not None:
                b.close()
            a.close()


class AsUser(harness.KluisServer):
    """kluisd run as another user (setpriv), with optional prefix commands (prlimit)."""

    def __init__(self, *a, prefix=(), **kw):
        super().__init__(*a, **kw)
        self.prefix = list(prefix)

    def args(self):
        return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                *self.prefix, *super().args()]


@unittest.skipUnless(os.geteuid() == 0, "needs root to run kluisd as another user")
class MemoryTest(unittest.TestCase):
    """Seen from another process of the same user: what the kernel lets it read."""

    def start_as_nobody(self, *extra, prefix=()):
        if harness._shared_ca_dir is None:  # the process's CA, when this class runs alone
            harness.start_server().close()
        d = tempfile.mkdtemp(prefix="kluis-e2e-py-")
        os.makedirs(os.path.join(d, "tls"), mode=0o700)
        for f in ("ca.pem", "ca-key.pem"):
            shutil.copy2(os.path.join(harness._shared_ca_dir, f), os.path.join(d, "tls", f))
        for root, dirs, files in os.walk(d):
            for n in [root] + [os.path.join(root, x) for x in files]:
                os.chown(n, NOBODY, NOBODY)
        os.chmod(d, 0o700)
        srv = AsUser(d, harness.free_port(), extra_args=list(extra), prefix=prefix)
        harness._live.add(srv)
        return srv.start()

    def peer_reads(self, path):
        r = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                            "cat", path], capture_output=True, timeout=30)
        return r.returncode == 0

    def status(self, pid):
        with open(f"/proc/{pid}/status") as f:
            return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)

    def test_not_dumpable_unless_asked_and_key_page_locked(self):
        srv = self.start_as_nobody()
        try:
            pid = srv.proc.pid
            self.assertFalse(self.peer_reads(f"/proc/{pid}/environ"),
                             "another process of kluisd's user read its /proc/PID/environ")
            self.assertNotIn("cannot lock", srv.stderr)
            locked_kb = int(self.status(pid)["VmLck"].split()[0])
            self.assertGreaterEqual(locked_kb, 4)
        finally:
            srv.close()
        srv = self.start_as_nobody("--allow-core-dumps")
        try:
            self.assertTrue(self.peer_reads(f"/proc/{srv.proc.pid}/environ"))
            self.assertIn("--allow-core-dumps", srv.stderr)
        finally:
            srv.close()

    def test_no_locked_memory_allowed_is_a_warning(self):
        srv = self.start_as_nobody(prefix=["prlimit", "--memlock=0:0"])
        try:
            self.assertIn("cannot lock a key's memory in RAM", srv.stderr)
            self.assertIn("ulimit -l", srv.stderr)
            with srv.secret_client() as c:
                name = unique_name("unlocked")
                c.set_secret(name, "still served")
                self.assertEqual(c.get_secret(name).value, "still served")
            self.assertEqual(self.status(srv.proc.pid)["VmLck"].split()[0], "0")
        finally:
            srv.close()


if __name__ == "__main__":
    unittest.main()
