"""Helpers for the Python keys suites: keys made with `cryptography` as azure JsonWebKeys, the
public key of a KeyVaultKey as a `cryptography` object, local verification and encryption as each
Key Vault algorithm means it (spec §3), and a CryptographyClient forced to work remotely.

The SDK's CryptographyClient (Debian's azure.keyvault.keys 4.8.0b3) works locally when it can
(sdk-compatibility.md §7): RSA encrypt and wrap, RS/PS/ES verify. For oct keys it is worse: the
key kluis returns has no `k` (as Azure's), and the SDK's SymmetricKey.from_jwk then makes a
*random* local key and uses it for A*CBCPAD and A*KW, so its results decrypt nowhere. remote_only()
makes a client send every operation to the server, which is what these suites test.
"""

import hashlib
import os

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives import keywrap
from cryptography.hazmat.primitives import padding as sympadding
from cryptography.exceptions import InvalidSignature

CURVES = {  # Key Vault name -> (cryptography curve, coordinate size, algorithm, hash)
    "P-256": (ec.SECP256R1, 32, "ES256", "sha256"),
    "P-256K": (ec.SECP256K1, 32, "ES256K", "sha256"),
    "P-384": (ec.SECP384R1, 48, "ES384", "sha384"),
    "P-521": (ec.SECP521R1, 66, "ES512", "sha512"),
}
SIGN_ALGS = {  # alg -> (family, hash name, digest length, curve)
    "RS256": ("rsa", "sha256", 32, None), "RS384": ("rsa", "sha384", 48, None),
    "RS512": ("rsa", "sha512", 64, None),
    "PS256": ("pss", "sha256", 32, None), "PS384": ("pss", "sha384", 48, None),
    "PS512": ("pss", "sha512", 64, None),
    "ES256": ("ec", "sha256", 32, "P-256"), "ES256K": ("ec", "sha256", 32, "P-256K"),
    "ES384": ("ec", "sha384", 48, "P-384"), "ES512": ("ec", "sha512", 64, "P-521"),
}
RSA_SIGN_ALGS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]
RSA_ENC_ALGS = ["RSA1_5", "RSA-OAEP", "RSA-OAEP-256"]
RSA_OVERHEAD = {"RSA1_5": 11, "RSA-OAEP": 42, "RSA-OAEP-256": 66}
_HASHES = {"sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}


def i2b(i, size=None):
    size = size or max(1, (i.bit_length() + 7) // 8)
    return i.to_bytes(size, "big")


def b2i(b):
    return int.from_bytes(b, "big")


def digest(alg, data):
    return hashlib.new(SIGN_ALGS[alg][1], data).digest()


def rsa_private(bits=2048):
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def ec_private(crv):
    return ec.generate_private_key(CURVES[crv][0]())


def private_members(priv):
    """The private members of a cryptography key as bytes, JWK names (RSA d,p,q,dp,dq,qi; EC d)."""
    if isinstance(priv, rsa.RSAPrivateKey):
        n = priv.private_numbers()
        size = (priv.key_size + 7) // 8
        return {"d": i2b(n.d, size), "p": i2b(n.p), "q": i2b(n.q), "dp": i2b(n.dmp1),
                "dq": i2b(n.dmq1), "qi": i2b(n.iqmp)}
    n = priv.private_numbers()
    size = [v[1] for v in CURVES.values() if isinstance(priv.curve, v[0])][0]
    return {"d": i2b(n.private_value, size)}


def jwk_fields(priv):
    """A cryptography private key -> dict of JWK members as bytes (Key Vault curve names)."""
    if isinstance(priv, rsa.RSAPrivateKey):
        pub = priv.public_key().public_numbers()
        out = {"kty": "RSA", "n": i2b(pub.n), "e": i2b(pub.e)}
        out.update(private_members(priv))
        return out
    crv, (cls, size, _, _) = [(k, v) for k, v in CURVES.items() if isinstance(priv.curve, v[0])][0]
    pub = priv.public_key().public_numbers()
    return {"kty": "EC", "crv": crv, "x": i2b(pub.x, size), "y": i2b(pub.y, size),
            "d": private_members(priv)["d"]}


def sdk_jwk(priv, **extra):
    """A cryptography private key (or oct key bytes) -> azure JsonWebKey for import_key."""
    from azure.keyvault.keys import JsonWebKey
    if isinstance(priv, bytes):
        return JsonWebKey(kty="oct", k=priv, **extra)
    fields = jwk_fields(priv)
    fields.update(extra)
    return JsonWebKey(**fields)


def wire_jwk(priv, **extra):
    """A cryptography private key -> wire JWK (base64url strings)."""
    from harness import b64url
    fields = jwk_fields(priv)
    out = {k: (b64url(v) if isinstance(v, bytes) else v) for k, v in fields.items()}
    out.update(extra)
    return out


def public_key(jwk):
    """The cryptography public key of an azure JsonWebKey (bytes members) or a wire dict."""
    get = (lambda m: getattr(jwk, m)) if not isinstance(jwk, dict) else (lambda m: _unb64u(jwk[m]))
    kty = (jwk.kty if not isinstance(jwk, dict) else jwk["kty"]).replace("-HSM", "")
    if kty == "RSA":
        return rsa.RSAPublicNumbers(b2i(get("e")), b2i(get("n"))).public_key()
    crv = jwk.crv if not isinstance(jwk, dict) else jwk["crv"]
    return ec.EllipticCurvePublicNumbers(b2i(get("x")), b2i(get("y")), CURVES[crv][0]()).public_key()


def _unb64u(s):
    import base64
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def verify(alg, pub, dgst, sig):
    """Local verification of a Key Vault signature (EC signatures are raw r||s)."""
    fam, h, n, crv = SIGN_ALGS[alg]
    try:
        if fam == "rsa":
            pub.verify(sig, dgst, padding.PKCS1v15(), utils.Prehashed(_HASHES[h]()))
        elif fam == "pss":
            pub.verify(sig, dgst, padding.PSS(mgf=padding.MGF1(_HASHES[h]()), salt_length=n),
                       utils.Prehashed(_HASHES[h]()))
        else:
            half = len(sig) // 2
            if half != CURVES[crv][1]:
                return False
            der = utils.encode_dss_signature(b2i(sig[:half]), b2i(sig[half:]))
            pub.verify(der, dgst, ec.ECDSA(utils.Prehashed(_HASHES[h]())))
        return True
    except InvalidSignature:
        return False


def sign(alg, priv, dgst):
    """Local signature as Key Vault makes it (EC: raw r||s)."""
    fam, h, n, crv = SIGN_ALGS[alg]
    if fam == "rsa":
        return priv.sign(dgst, padding.PKCS1v15(), utils.Prehashed(_HASHES[h]()))
    if fam == "pss":
        return priv.sign(dgst, padding.PSS(mgf=padding.MGF1(_HASHES[h]()), salt_length=n),
                         utils.Prehashed(_HASHES[h]()))
    r, s = utils.decode_dss_signature(priv.sign(dgst, ec.ECDSA(utils.Prehashed(_HASHES[h]()))))
    size = CURVES[crv][1]
    return i2b(r, size) + i2b(s, size)


def _oaep(alg):
    h = hashes.SHA1 if alg == "RSA-OAEP" else hashes.SHA256
    return padding.OAEP(mgf=padding.MGF1(h()), algorithm=h(), label=None)


def rsa_encrypt(alg, pub, data):
    return pub.encrypt(data, padding.PKCS1v15() if alg == "RSA1_5" else _oaep(alg))


def rsa_decrypt(alg, priv, data):
    return priv.decrypt(data, padding.PKCS1v15() if alg == "RSA1_5" else _oaep(alg))


def aes_encrypt(alg, key, pt, iv=None, aad=None):
    """Returns (ciphertext, iv, tag) as Key Vault's alg means it."""
    if alg.endswith("KW"):
        return keywrap.aes_key_wrap(key, pt), None, None
    if alg.endswith("GCM"):
        iv = iv or os.urandom(12)
        out = AESGCM(key).encrypt(iv, pt, aad)
        return out[:-16], iv, out[-16:]
    iv = iv or os.urandom(16)
    if alg.endswith("CBCPAD"):
        p = sympadding.PKCS7(128).padder()
        pt = p.update(pt) + p.finalize()
    e = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return e.update(pt) + e.finalize(), iv, None


def aes_decrypt(alg, key, ct, iv=None, tag=None, aad=None):
    if alg.endswith("KW"):
        return keywrap.aes_key_unwrap(key, ct)
    if alg.endswith("GCM"):
        return AESGCM(key).decrypt(iv, ct + tag, aad)
    d = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    pt = d.update(ct) + d.finalize()
    if alg.endswith("CBCPAD"):
        u = sympadding.PKCS7(128).unpadder()
        pt = u.update(pt) + u.finalize()
    return pt


def remote_only(crypto_client):
    """Makes an azure CryptographyClient send every operation to the server."""
    from azure.keyvault.keys.crypto._providers import NoLocalCryptography
    crypto_client._initialize()  # GET /keys/NAME/VERSION once (the SDK's own first request)
    crypto_client._local_provider = NoLocalCryptography()
    crypto_client._initialized = True
    return crypto_client


def pem(pub):
    return pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


class typed:
    """Wraps a CryptographyClient so that algorithm names may be given as strings. The SDK's local
    providers call algorithm.value: a plain string there raises inside the local path, which the
    SDK swallows and silently replaces by a remote call, so the local path would never be tested."""

    def __init__(self, client):
        self._client = client

    def __getattr__(self, name):
        from azure.keyvault.keys.crypto import EncryptionAlgorithm, KeyWrapAlgorithm, SignatureAlgorithm
        conv = {"encrypt": EncryptionAlgorithm, "decrypt": EncryptionAlgorithm, "wrap_key": KeyWrapAlgorithm,
                "unwrap_key": KeyWrapAlgorithm, "sign": SignatureAlgorithm, "verify": SignatureAlgorithm}.get(name)
        f = getattr(self._client, name)
        if conv is None:
            return f
        return lambda alg, *a, **kw: f(conv(alg), *a, **kw)
