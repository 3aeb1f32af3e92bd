"""Helpers for the certificates suites: the certificates client of a harness server, the openssl
command line (a CA of the test's own that signs CSRs, PFX and PEM files to import), and X.509
checks with python3-cryptography. Nothing here talks to kluisd but through the SDK clients it
builds.
"""

import base64
import os
import shutil
import subprocess
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa  # noqa: F401 (re-exported)
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

# Every poller of these suites polls this often (seconds): a 2 s issuance then costs ~2 s. The
# SDK's begin_* methods take it as the keyword _polling_interval (default 5 s for create, 2 s for
# delete and recover).
POLL = 0.1
DP = "api-version=7.6"
DEFAULT_EKUS = ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]


def cert_client(srv, url=None, credential=None, **kwargs):
    from azure.keyvault.certificates import CertificateClient
    return CertificateClient(url or srv.vault_url, credential or srv.credential,
                             connection_verify=srv.ca, **kwargs)


def openssl(*args, cwd=None, input=None):
    """Runs openssl; returns stdout bytes; raises with stderr on failure."""
    r = subprocess.run(["openssl", *args], cwd=cwd, input=input, capture_output=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)}: {r.stderr.decode('utf-8', 'replace')}")
    return r.stdout


class TmpDir:
    def __init__(self, prefix="kluis-e2e-cert-"):
        self.path = tempfile.mkdtemp(prefix=prefix)

    def __enter__(self):
        return self.path

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if not os.environ.get("KLUIS_KEEP"):
            shutil.rmtree(self.path, ignore_errors=True)

    def file(self, name, data=None):
        p = os.path.join(self.path, name)
        if data is not None:
            with open(p, "wb") as f:
                f.write(data if isinstance(data, bytes) else data.encode())
        return p

    def read(self, name):
        with open(os.path.join(self.path, name), "rb") as f:
            return f.read()


_CURVES = {"P-256": "prime256v1", "P-384": "secp384r1", "P-521": "secp521r1"}


def _newkey(d, kind):
    if kind.startswith("rsa:"):
        return ["-newkey", kind]
    curve = _CURVES[kind.split(":", 1)[1]]
    params = os.path.join(d, f"{curve}.params")
    openssl("ecparam", "-name", curve, "-out", params)
    return ["-newkey", f"ec:{params}"]


class Ca:
    """A CA made with `openssl req -x509`; close() removes its files."""

    def __init__(self, subject="/CN=kluis e2e py CA/O=kluis"):
        self.tmp = TmpDir("kluis-e2e-ca-")
        self.cert = self.tmp.file("ca.pem")
        self.key = self.tmp.file("ca.key")
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", self.key,
                "-out", self.cert, "-subj", subject, "-days", "30", "-sha256",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        self.pem = self.tmp.read("ca.pem")
        self.der = x509.load_pem_x509_certificate(self.pem).public_bytes(serialization.Encoding.DER)

    def sign_csr(self, csr_der, days=30):
        """Signs a DER CSR (the operation's csr), copying its extensions; (pem, der) of the leaf."""
        with TmpDir() as d:
            with open(os.path.join(d, "req.der"), "wb") as f:
                f.write(csr_der)
            openssl("req", "-inform", "DER", "-in", "req.der", "-out", "req.pem", cwd=d)
            openssl("req", "-in", "req.pem", "-verify", "-noout", cwd=d)
            openssl("x509", "-req", "-in", "req.pem", "-CA", self.cert, "-CAkey", self.key,
                    "-CAcreateserial", "-days", str(days), "-sha256", "-copy_extensions", "copy",
                    "-out", "leaf.pem", cwd=d)
            with open(os.path.join(d, "leaf.pem"), "rb") as f:
                pem = f.read()
        return pem, x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)

    def issue(self, kind="rsa:2048", subject="/CN=leaf.example"):
        """A new key and a certificate for it from this CA: (key_pem, cert_pem, cert_der)."""
        with TmpDir() as d:
            openssl("req", "-new", *_newkey(d, kind), "-nodes", "-keyout", "key.pem",
                    "-subj", subject, "-outform", "DER", "-out", "req.der", cwd=d)
            key_pem = openssl("pkey", "-in", "key.pem", cwd=d)
            with open(os.path.join(d, "req.der"), "rb") as f:
                csr = f.read()
        pem, der = self.sign_csr(csr)
        return key_pem, pem, der

    def close(self):
        self.tmp.close()


class SelfSigned:
    """A key and self-signed certificate made by openssl req -x509."""

    def __init__(self, kind="rsa:2048", subject="/CN=imported.example", days=30, san=None):
        with TmpDir() as d:
            args = ["req", "-x509", *_newkey(d, kind), "-nodes", "-keyout", "key.pem",
                    "-out", "cert.pem", "-subj", subject, "-days", str(days), "-sha256"]
            if san:
                args += ["-addext", f"subjectAltName={san}"]
            openssl(*args, cwd=d)
            self.key_pem = openssl("pkey", "-in", "key.pem", cwd=d)  # PKCS#8
            with open(os.path.join(d, "cert.pem"), "rb") as f:
                self.cert_pem = f.read()
        self.cert = x509.load_pem_x509_certificate(self.cert_pem)
        self.cert_der = self.cert.public_bytes(serialization.Encoding.DER)

    def pfx(self, password=""):
        return make_pfx(self.key_pem, self.cert_pem, password)


def make_pfx(key_pem, cert_pem, password="", how="matched"):
    """openssl pkcs12 -export. how: matched, unchecked (key and certificate need not match),
    nokey (certificates only)."""
    with TmpDir() as d:
        open(os.path.join(d, "key.pem"), "wb").write(key_pem or b"")
        open(os.path.join(d, "cert.pem"), "wb").write(cert_pem)
        what = {"matched": ["-inkey", "key.pem", "-in", "cert.pem"],
                "unchecked": ["-inkey", "key.pem", "-certfile", "cert.pem", "-nocerts"],
                "nokey": ["-nokeys", "-in", "cert.pem"]}[how]
        openssl("pkcs12", "-export", *what, "-out", "c.pfx", "-passout", f"pass:{password}", cwd=d)
        with open(os.path.join(d, "c.pfx"), "rb") as f:
            return f.read()


def openssl_pkcs12_text(pfx, password=""):
    """`openssl pkcs12 -passin pass:PW -nodes` (no -legacy) of a PFX: its PEM text."""
    with TmpDir() as d:
        with open(os.path.join(d, "c.pfx"), "wb") as f:
            f.write(pfx)
        return openssl("pkcs12", "-in", "c.pfx", "-passin", f"pass:{password}", "-nodes", cwd=d).decode()


def traditional(key_pem):
    return openssl("pkey", "-traditional", input=key_pem)


def pem_certs(text):
    """Every CERTIFICATE block of a PEM text, as DER, in order."""
    if isinstance(text, str):
        text = text.encode()
    return [c.public_bytes(serialization.Encoding.DER) for c in x509.load_pem_x509_certificates(text)] \
        if hasattr(x509, "load_pem_x509_certificates") else _pem_certs_slow(text)


def _pem_certs_slow(text):
    out = []
    begin = b"-----BEGIN CERTIFICATE-----"
    end = b"-----END CERTIFICATE-----"
    i = 0
    while True:
        s = text.find(begin, i)
        if s < 0:
            return out
        e = text.find(end, s)
        block = text[s:e + len(end)]
        out.append(x509.load_pem_x509_certificate(block).public_bytes(serialization.Encoding.DER))
        i = e + len(end)


def pkcs8_der(key):
    """The PKCS#8 DER of a private key (object or PEM bytes): to compare keys."""
    if isinstance(key, (bytes, str)):
        key = serialization.load_pem_private_key(key if isinstance(key, bytes) else key.encode(), None)
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def spki(public_key):
    return public_key.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)


def verify_with_cert(cert, alg, data, signature):
    """Verifies a Key Vault signature (alg RS/PS/ES*) over data with the certificate's public key
    in python3-cryptography; raises InvalidSignature if it does not verify."""
    h = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}[alg[2:]]
    pub = cert.public_key()
    if alg.startswith("RS"):
        pub.verify(signature, data, padding.PKCS1v15(), h)
    elif alg.startswith("PS"):
        pub.verify(signature, data, padding.PSS(padding.MGF1(h), h.digest_size), h)
    else:
        n = len(signature) // 2
        der = encode_dss_signature(int.from_bytes(signature[:n], "big"),
                                   int.from_bytes(signature[n:], "big"))
        pub.verify(der, data, ec.ECDSA(h))


def digest(alg, data):
    h = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}[alg[2:]]
    d = hashes.Hash(h)
    d.update(data)
    return d.finalize()


def months_rounded_up(a, b):
    """Calendar months from datetime a to b, rounded up."""
    m = (b.year - a.year) * 12 + (b.month - a.month)
    y, mo = divmod(a.month - 1 + m, 12)
    import calendar
    day = min(a.day, calendar.monthrange(a.year + y, mo + 1)[1])
    if a.replace(year=a.year + y, month=mo + 1, day=day) < b:
        m += 1
    return m


def b64(data):
    return base64.b64encode(data).decode()


__all__ = ["rsa", "ec"]
