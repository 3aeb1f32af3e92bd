"""An application as its users write it for Azure Key Vault: one credential of azure.identity, made
with no arguments at all, handed to a Key Vault client. Everything else (which identity, which
endpoint, which CA) comes from the environment, which is the point of issue 14: the identity
suites (test_identity_sdk*.py) run this file as a child process with nothing but environment
variables set, never importing it.

    /usr/bin/python3 identity_app.py CREDENTIAL OP VAULT_URL NAME

CREDENTIAL: default (DefaultAzureCredential), managed (ManagedIdentityCredential) or environment
(EnvironmentCredential). Debian's azure.identity 1.13.0b2 has no WorkloadIdentityCredential: its
workload route is ManagedIdentityCredential's token exchange (docs/identity.md).
OP:
  secret  reads secret NAME twice; prints {"value", "firstMs", "secondMs"}: the first read pays for
          the challenge and the token, the second uses the cached token.
  sign    signs a random SHA-256 digest with key NAME (ES256, CryptographyClient) and verifies the
          signature with the same client; prints {"kid", "valid", "firstMs"}.
  wrap    wraps 32 random bytes with key NAME (RSA-OAEP-256, CryptographyClient) and unwraps them;
          prints {"kid", "same", "firstMs"}.
  watch   reads secret NAME every 200 ms, printing {"ok": true, "t": ms} a line, until a read
          fails; then prints {"error", "status", "message", "t"} and exits 1.
Any failure prints {"error": <the exception's class>, "status", "message"} and exits 1; a usage
error exits 2. No retries or timeouts of its own: the caller bounds the process.
"""

import hashlib
import json
import os
import sys
import time

from azure.identity import DefaultAzureCredential, EnvironmentCredential, ManagedIdentityCredential
from azure.keyvault.keys.crypto import CryptographyClient
from azure.keyvault.secrets import SecretClient

MAKERS = {
    "default": DefaultAzureCredential,
    "managed": ManagedIdentityCredential,
    "environment": EnvironmentCredential,
}
STARTED = time.monotonic()


def ms(t0):
    return round((time.monotonic() - t0) * 1000)


def say(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def failure(e):
    return {"error": type(e).__name__, "status": getattr(e, "status_code", None),
            "message": str(e)[:2000]}


def run(kind, op, vault_url, name):
    credential = MAKERS[kind]()
    if op in ("secret", "watch"):
        client = SecretClient(vault_url, credential)
        if op == "watch":
            while True:
                try:
                    client.get_secret(name)
                except Exception as e:  # noqa: BLE001 (the first failure is the answer)
                    say({**failure(e), "t": ms(STARTED)})
                    return 1
                say({"ok": True, "t": ms(STARTED)})
                time.sleep(0.2)
        t0 = time.monotonic()
        first = client.get_secret(name)
        first_ms = ms(t0)
        t0 = time.monotonic()
        second = client.get_secret(name)
        if second.value != first.value:
            raise RuntimeError("two reads disagree")
        say({"value": first.value, "firstMs": first_ms, "secondMs": ms(t0)})
        return 0
    client = CryptographyClient(f"{vault_url.rstrip('/')}/keys/{name}", credential)
    t0 = time.monotonic()
    if op == "sign":
        digest = hashlib.sha256(os.urandom(32)).digest()
        signed = client.sign("ES256", digest)
        first_ms = ms(t0)
        verified = client.verify("ES256", digest, signed.signature)
        say({"kid": signed.key_id, "valid": verified.is_valid, "firstMs": first_ms})
    else:
        cek = os.urandom(32)
        wrapped = client.wrap_key("RSA-OAEP-256", cek)
        first_ms = ms(t0)
        unwrapped = client.unwrap_key("RSA-OAEP-256", wrapped.encrypted_key)
        say({"kid": wrapped.key_id, "same": unwrapped.key == cek, "firstMs": first_ms})
    return 0


def main(argv):
    if len(argv) != 4 or argv[0] not in MAKERS or \
            argv[1] not in ("secret", "sign", "wrap", "watch"):
        sys.stderr.write("usage: identity_app.py default|managed|environment "
                         "secret|sign|wrap|watch VAULT_URL NAME\n")
        return 2
    try:
        return run(*argv)
    except Exception as e:  # noqa: BLE001 (reported to the suite, which judges it)
        say(failure(e))
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
