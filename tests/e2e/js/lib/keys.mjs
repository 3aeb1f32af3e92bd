// Helpers for the keys suites: JWK conversions between the SDK's JsonWebKey (Uint8Array members,
// Key Vault curve names) and node's JWK (base64url strings, JOSE curve names), digests, the
// algorithm tables of the wire contract (spec §3), and raw crypto-operation requests.

import crypto from "node:crypto";

export const API = "api-version=7.6";

export const b64u = (buf) => Buffer.from(buf).toString("base64url");
export const unb64u = (s) => Buffer.from(s, "base64url");

/** Key Vault curve name -> node's JWK crv and OpenSSL name; the r||s signature size; hash. */
export const CURVES = {
	"P-256": { jose: "P-256", openssl: "prime256v1", size: 32, alg: "ES256", hash: "sha256" },
	"P-256K": { jose: "secp256k1", openssl: "secp256k1", size: 32, alg: "ES256K", hash: "sha256" },
	"P-384": { jose: "P-384", openssl: "secp384r1", size: 48, alg: "ES384", hash: "sha384" },
	"P-521": { jose: "P-521", openssl: "secp521r1", size: 66, alg: "ES512", hash: "sha512" },
};

/** Signature algorithm -> hash, digest length and family. */
export const SIGN_ALGS = {
	RS256: { hash: "sha256", len: 32, kind: "rsa" },
	RS384: { hash: "sha384", len: 48, kind: "rsa" },
	RS512: { hash: "sha512", len: 64, kind: "rsa" },
	PS256: { hash: "sha256", len: 32, kind: "pss" },
	PS384: { hash: "sha384", len: 48, kind: "pss" },
	PS512: { hash: "sha512", len: 64, kind: "pss" },
	ES256: { hash: "sha256", len: 32, kind: "ec", crv: "P-256" },
	ES256K: { hash: "sha256", len: 32, kind: "ec", crv: "P-256K" },
	ES384: { hash: "sha384", len: 48, kind: "ec", crv: "P-384" },
	ES512: { hash: "sha512", len: 64, kind: "ec", crv: "P-521" },
};
export const RSA_SIGN_ALGS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"];
export const RSA_ENC_ALGS = ["RSA1_5", "RSA-OAEP", "RSA-OAEP-256"];

/** AES algorithm -> key bytes, node cipher name, mode. */
export const AES_ALGS = {
	A128GCM: { bytes: 16, cipher: "aes-128-gcm", mode: "gcm" },
	A192GCM: { bytes: 24, cipher: "aes-192-gcm", mode: "gcm" },
	A256GCM: { bytes: 32, cipher: "aes-256-gcm", mode: "gcm" },
	A128CBC: { bytes: 16, cipher: "aes-128-cbc", mode: "cbc" },
	A192CBC: { bytes: 24, cipher: "aes-192-cbc", mode: "cbc" },
	A256CBC: { bytes: 32, cipher: "aes-256-cbc", mode: "cbc" },
	A128CBCPAD: { bytes: 16, cipher: "aes-128-cbc", mode: "cbcpad" },
	A192CBCPAD: { bytes: 24, cipher: "aes-192-cbc", mode: "cbcpad" },
	A256CBCPAD: { bytes: 32, cipher: "aes-256-cbc", mode: "cbcpad" },
	A128KW: { bytes: 16, cipher: "id-aes128-wrap", mode: "kw" },
	A192KW: { bytes: 24, cipher: "id-aes192-wrap", mode: "kw" },
	A256KW: { bytes: 32, cipher: "id-aes256-wrap", mode: "kw" },
};
export const KW_IV = Buffer.from("A6A6A6A6A6A6A6A6", "hex");

export function digestOf(alg, data) {
	return crypto.createHash(SIGN_ALGS[alg].hash).update(data).digest();
}

/** The SDK's JsonWebKey (public part, as returned) -> node JWK object. */
export function toNodeJwk(k) {
	const kty = String(k.kty).replace(/-HSM$/, "");
	if (kty === "RSA") return { kty: "RSA", n: b64u(k.n), e: b64u(k.e) };
	if (kty === "EC") return { kty: "EC", crv: CURVES[k.crv].jose, x: b64u(k.x), y: b64u(k.y) };
	throw new Error(`no public key for kty ${k.kty}`);
}

/** A wire JWK (base64url strings, as in a raw response) -> node JWK object (public). */
export function wireToNodeJwk(k) {
	const kty = String(k.kty).replace(/-HSM$/, "");
	if (kty === "RSA") return { kty: "RSA", n: k.n, e: k.e };
	if (kty === "EC") return { kty: "EC", crv: CURVES[k.crv].jose, x: k.x, y: k.y };
	throw new Error(`no public key for kty ${k.kty}`);
}

/** The public KeyObject of a KeyVaultKey (SDK), an SDK JsonWebKey, a raw bundle or a wire JWK. */
export function publicKeyOf(x) {
	const jwk = x.kty === undefined && x.key && typeof x.key === "object" ? x.key : x;
	const wire = typeof jwk.n === "string" || typeof jwk.x === "string";
	return crypto.createPublicKey({ key: wire ? wireToNodeJwk(jwk) : toNodeJwk(jwk), format: "jwk" });
}

/** A node private KeyObject -> the SDK's JsonWebKey for importKey (Uint8Array members). */
export function sdkJwkFromPrivate(priv, extra = {}) {
	const j = priv.export({ format: "jwk" });
	const out = { ...extra };
	if (j.kty === "RSA") {
		out.kty = extra.kty || "RSA";
		for (const m of ["n", "e", "d", "p", "q", "dp", "dq", "qi"]) out[m] = unb64u(j[m]);
	} else if (j.kty === "EC") {
		out.kty = extra.kty || "EC";
		out.crv = Object.keys(CURVES).find((c) => CURVES[c].jose === j.crv);
		for (const m of ["x", "y", "d"]) out[m] = unb64u(j[m]);
	} else throw new Error(`unexpected kty ${j.kty}`);
	return out;
}

/** A node private KeyObject -> a wire JWK (base64url strings, Key Vault curve names). */
export function wireJwkFromPrivate(priv, extra = {}) {
	const j = priv.export({ format: "jwk" });
	if (j.kty === "EC") j.crv = Object.keys(CURVES).find((c) => CURVES[c].jose === j.crv);
	return { ...j, ...extra };
}

export function rsaKeyPair(bits = 2048) {
	return crypto.generateKeyPairSync("rsa", { modulusLength: bits, publicExponent: 65537 });
}

export function ecKeyPair(kvCurve) {
	return crypto.generateKeyPairSync("ec", { namedCurve: CURVES[kvCurve].openssl });
}

/** Node verification of a kluis signature over digestOf(alg, data). */
export function nodeVerify(alg, data, publicKey, signature) {
	const a = SIGN_ALGS[alg];
	if (a.kind === "rsa") return crypto.verify(a.hash, data, { key: publicKey, padding: crypto.constants.RSA_PKCS1_PADDING }, signature);
	if (a.kind === "pss")
		return crypto.verify(
			a.hash,
			data,
			{ key: publicKey, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: a.len },
			signature,
		);
	return crypto.verify(a.hash, data, { key: publicKey, dsaEncoding: "ieee-p1363" }, signature);
}

/** Node signature (as kluis should accept it) over data with hash of alg. */
export function nodeSign(alg, data, privateKey) {
	const a = SIGN_ALGS[alg];
	if (a.kind === "rsa") return crypto.sign(a.hash, data, { key: privateKey, padding: crypto.constants.RSA_PKCS1_PADDING });
	if (a.kind === "pss")
		return crypto.sign(a.hash, data, { key: privateKey, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: a.len });
	return crypto.sign(a.hash, data, { key: privateKey, dsaEncoding: "ieee-p1363" });
}

/** Node RSA encryption as each Key Vault algorithm means it. */
export function nodeRsaEncrypt(alg, publicKey, data) {
	if (alg === "RSA1_5") return crypto.publicEncrypt({ key: publicKey, padding: crypto.constants.RSA_PKCS1_PADDING }, data);
	if (alg === "RSA-OAEP")
		return crypto.publicEncrypt({ key: publicKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha1" }, data);
	if (alg === "RSA-OAEP-256")
		return crypto.publicEncrypt({ key: publicKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, data);
	throw new Error(alg);
}

export function nodeRsaDecrypt(alg, privateKey, data) {
	if (alg === "RSA1_5") {
		// node >= 20.11 refuses PKCS#1 v1.5 private decryption (CVE-2023-46809): do the raw RSA
		// operation and check the type 2 padding (00 02 PS{>=8 non-zero} 00 M) here.
		const em = crypto.privateDecrypt({ key: privateKey, padding: crypto.constants.RSA_NO_PADDING }, data);
		const sep = em.indexOf(0, 2);
		if (em[0] !== 0 || em[1] !== 2 || sep < 10) throw new Error("bad PKCS#1 v1.5 encryption padding");
		return em.subarray(sep + 1);
	}
	if (alg === "RSA-OAEP")
		return crypto.privateDecrypt({ key: privateKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha1" }, data);
	if (alg === "RSA-OAEP-256")
		return crypto.privateDecrypt({ key: privateKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, data);
	throw new Error(alg);
}

/** AES with node, as each Key Vault algorithm means it. Returns {value, iv, tag}. */
export function nodeAesEncrypt(alg, key, plaintext, { iv, aad } = {}) {
	const a = AES_ALGS[alg];
	if (a.mode === "kw") {
		const c = crypto.createCipheriv(a.cipher, key, KW_IV);
		return { value: Buffer.concat([c.update(plaintext), c.final()]) };
	}
	if (a.mode === "gcm") {
		iv ??= crypto.randomBytes(12);
		const c = crypto.createCipheriv(a.cipher, key, iv);
		if (aad) c.setAAD(aad);
		const value = Buffer.concat([c.update(plaintext), c.final()]);
		return { value, iv, tag: c.getAuthTag() };
	}
	iv ??= crypto.randomBytes(16);
	const c = crypto.createCipheriv(a.cipher, key, iv);
	c.setAutoPadding(a.mode === "cbcpad");
	return { value: Buffer.concat([c.update(plaintext), c.final()]), iv };
}

export function nodeAesDecrypt(alg, key, ciphertext, { iv, aad, tag } = {}) {
	const a = AES_ALGS[alg];
	if (a.mode === "kw") {
		const d = crypto.createDecipheriv(a.cipher, key, KW_IV);
		return Buffer.concat([d.update(ciphertext), d.final()]);
	}
	const d = crypto.createDecipheriv(a.cipher, key, iv);
	if (a.mode === "gcm") {
		if (aad) d.setAAD(aad);
		d.setAuthTag(tag);
	} else d.setAutoPadding(a.mode === "cbcpad");
	return Buffer.concat([d.update(ciphertext), d.final()]);
}

/** The key path of a kid: /keys/NAME/VERSION. */
export function keyPath(kid) {
	return new URL(kid).pathname;
}

/**
 * One raw crypto operation: POST /keys/NAME/VERSION/OP with a JSON body whose binary members
 * (Buffers) are sent base64url. Resolves the raw response; json members stay strings.
 */
export function rawOp(srv, path, op, body, api = API) {
	const wire = {};
	for (const [k, v] of Object.entries(body)) wire[k] = Buffer.isBuffer(v) || v instanceof Uint8Array ? b64u(v) : v;
	return srv.request("POST", `${path}/${op}?${api}`, { body: wire });
}

/** Asserts an Azure-style error body with code (and innererror code, when given). */
export function errorCodes(r) {
	return { status: r.status, code: r.json?.error?.code, inner: r.json?.error?.innererror?.code };
}
