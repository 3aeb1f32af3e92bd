// Cryptographic operations through @azure/keyvault-keys' CryptographyClient, with node's crypto
// on the other side of every algorithm of spec §3, in both directions: what node encrypts or
// wraps with the public key (or the imported secret key) kluis decrypts and unwraps; what kluis
// signs node verifies, and the other way round. Then enforcement: key_ops, enabled, nbf/exp,
// algorithms that do not fit the key, wrong digest and ciphertext lengths, tampered GCM tags.
//
// The SDK does some operations locally (sdk-compatibility.md §7): RSA1_5/RSA-OAEP encrypt and
// wrapKey, and (when it has the key's attributes) nbf/exp and key_ops checks. Where the server's
// answer is what is being tested, the request is sent raw (rawOp).

import assert from "node:assert/strict";
import crypto from "node:crypto";
import { after, before, describe, test } from "node:test";
import { KeyClient } from "@azure/keyvault-keys";
import { expectRestError, startServer, uniqueName } from "./lib/server.mjs";
import {
	AES_ALGS,
	CURVES,
	RSA_ENC_ALGS,
	RSA_SIGN_ALGS,
	SIGN_ALGS,
	b64u,
	digestOf,
	ecKeyPair,
	errorCodes,
	keyPath,
	nodeAesDecrypt,
	nodeAesEncrypt,
	nodeRsaDecrypt,
	nodeRsaEncrypt,
	nodeSign,
	nodeVerify,
	publicKeyOf,
	rawOp,
	rsaKeyPair,
	sdkJwkFromPrivate,
	unb64u,
} from "./lib/keys.mjs";

const MAX_PT = { RSA1_5: 11, "RSA-OAEP": 42, "RSA-OAEP-256": 66 }; // k - overhead

describe("keys: cryptographic operations", () => {
	let srv;
	let client;
	// Keys made once: created in kluis (private part unknown to the test) and imported (known).
	let rsa; // created RSA 2048
	let rsaImp; // imported RSA 2048 {key, priv, pub}
	let ecKeys; // crv -> created EC key
	let ecImp; // crv -> {key, priv}
	let octImp; // bytes -> {key, secret}
	let octKeys; // bytes -> created oct key

	before(async () => {
		srv = await startServer();
		client = new KeyClient(srv.vaultUrl, srv.credential);
		rsa = await client.createRsaKey(uniqueName("rsa"));
		const pair = rsaKeyPair(2048);
		rsaImp = {
			key: await client.importKey(uniqueName("rsaimp"), sdkJwkFromPrivate(pair.privateKey)),
			priv: pair.privateKey,
			pub: pair.publicKey,
		};
		ecKeys = {};
		ecImp = {};
		for (const crv of Object.keys(CURVES)) {
			ecKeys[crv] = await client.createEcKey(uniqueName("ec"), { curve: crv });
			const p = ecKeyPair(crv);
			ecImp[crv] = { key: await client.importKey(uniqueName("ecimp"), sdkJwkFromPrivate(p.privateKey)), priv: p.privateKey };
		}
		octImp = {};
		octKeys = {};
		for (const bytes of [16, 24, 32]) {
			const secret = crypto.randomBytes(bytes);
			octImp[bytes] = { key: await client.importKey(uniqueName("octimp"), { kty: "oct", k: secret }), secret };
			octKeys[bytes] = await client.createOctKey(uniqueName("oct"), { keySize: bytes * 8 });
		}
	});
	after(async () => {
		await srv?.close();
	});

	const cc = (key) => client.getCryptographyClient(key.name, { keyVersion: key.properties.version });

	async function expectOpError(path, op, body, status, code, inner) {
		const r = await rawOp(srv, path, op, body);
		const got = errorCodes(r);
		assert.equal(got.status, status, `${op} ${JSON.stringify(body).slice(0, 120)}: ${r.status} ${r.text}`);
		if (code) assert.equal(got.code, code, `${op}: ${r.text}`);
		if (inner) assert.equal(got.inner, inner, `${op} innererror: ${r.text}`);
		return r;
	}

	// --- RSA encryption ------------------------------------------------------------------------

	test("RSA: what node encrypts with the public key (PKCS#1, OAEP-SHA1, OAEP-SHA256) kluis decrypts", async () => {
		const pub = publicKeyOf(rsa);
		const c = cc(rsa);
		for (const alg of RSA_ENC_ALGS) {
			for (const len of [1, 32, 256 - MAX_PT[alg]]) {
				const pt = crypto.randomBytes(len);
				const ct = nodeRsaEncrypt(alg, pub, pt);
				const d = await c.decrypt({ algorithm: alg, ciphertext: ct });
				assert.deepEqual(Buffer.from(d.result), pt, `${alg} ${len} bytes`);
				assert.equal(d.keyID, rsa.id);
			}
		}
	});

	test("RSA: the SDK encrypts (locally for RSA1_5/RSA-OAEP, remotely for RSA-OAEP-256) and kluis decrypts", async () => {
		const c = cc(rsa);
		for (const alg of RSA_ENC_ALGS) {
			const pt = Buffer.from(`plaintext for ${alg}`);
			const e = await c.encrypt({ algorithm: alg, plaintext: pt });
			assert.equal(e.result.length, 256, `${alg} ciphertext is the modulus length`);
			const d = await c.decrypt({ algorithm: alg, ciphertext: e.result });
			assert.deepEqual(Buffer.from(d.result), pt, alg);
		}
	});

	test("RSA: what kluis encrypts node decrypts with the private key; output is k bytes and randomised", async () => {
		const path = keyPath(rsaImp.key.id);
		for (const alg of RSA_ENC_ALGS) {
			const pt = crypto.randomBytes(256 - MAX_PT[alg]);
			const r1 = await rawOp(srv, path, "encrypt", { alg, value: pt });
			assert.equal(r1.status, 200, `${alg}: ${r1.text}`);
			assert.equal(r1.json.kid, rsaImp.key.id);
			assert.match(r1.json.value, /^[A-Za-z0-9_-]+$/, "base64url without padding");
			const ct = unb64u(r1.json.value);
			assert.equal(ct.length, 256, alg);
			assert.deepEqual(nodeRsaDecrypt(alg, rsaImp.priv, ct), pt, alg);
			const r2 = await rawOp(srv, path, "encrypt", { alg, value: pt });
			assert.notEqual(r2.json.value, r1.json.value, `${alg} encryption is randomised`);
		}
	});

	test("RSA: plaintext one byte over k-11 / k-42 / k-66 is 400; ciphertext of the wrong length is 400", async () => {
		const path = keyPath(rsa.id);
		for (const alg of RSA_ENC_ALGS) {
			await expectOpError(path, "encrypt", { alg, value: crypto.randomBytes(256 - MAX_PT[alg] + 1) }, 400, "BadParameter");
			await expectOpError(path, "decrypt", { alg, value: crypto.randomBytes(255) }, 400, "BadParameter");
			await expectOpError(path, "decrypt", { alg, value: crypto.randomBytes(257) }, 400, "BadParameter");
			await expectOpError(path, "decrypt", { alg, value: Buffer.alloc(0) }, 400, "BadParameter");
		}
		// A ciphertext of the right length that is not a valid encryption: 400, not a 500, not garbage.
		const ct = nodeRsaEncrypt("RSA-OAEP-256", publicKeyOf(rsa), Buffer.from("x"));
		ct[10] ^= 0xff;
		await expectOpError(path, "decrypt", { alg: "RSA-OAEP-256", value: ct }, 400, "BadParameter");
		// OAEP-SHA1 ciphertext decrypted as OAEP-SHA256: refused.
		const sha1 = nodeRsaEncrypt("RSA-OAEP", publicKeyOf(rsa), Buffer.from("x"));
		await expectOpError(path, "decrypt", { alg: "RSA-OAEP-256", value: sha1 }, 400, "BadParameter");
	});

	test("RSA 3072 and 4096: node encrypts, kluis decrypts; kluis signs, node verifies; sizes are k bytes", async () => {
		for (const bits of [3072, 4096]) {
			const k = await client.createRsaKey(uniqueName(`rsa${bits}`), { keySize: bits });
			const pub = publicKeyOf(k);
			const c = cc(k);
			const kb = bits / 8;
			for (const alg of RSA_ENC_ALGS) {
				const pt = crypto.randomBytes(kb - MAX_PT[alg]);
				assert.deepEqual(Buffer.from((await c.decrypt({ algorithm: alg, ciphertext: nodeRsaEncrypt(alg, pub, pt) })).result), pt, `${bits} ${alg}`);
			}
			for (const alg of RSA_SIGN_ALGS) {
				const data = crypto.randomBytes(10);
				const s = Buffer.from((await c.sign(alg, digestOf(alg, data))).result);
				assert.equal(s.length, kb, `${bits} ${alg} signature length`);
				assert.ok(nodeVerify(alg, data, pub, s), `${bits} ${alg}`);
			}
		}
	});

	// --- RSA key wrap --------------------------------------------------------------------------

	test("RSA wrap: node and the SDK wrap with the public key, kluis unwraps; kluis wraps, node unwraps", async () => {
		const c = cc(rsa);
		for (const alg of RSA_ENC_ALGS) {
			const cek = crypto.randomBytes(32);
			const w = await c.wrapKey(alg, cek);
			assert.equal(w.result.length, 256);
			assert.deepEqual(Buffer.from((await c.unwrapKey(alg, w.result)).result), cek, `SDK wrap ${alg}`);
			const nodeWrapped = nodeRsaEncrypt(alg, publicKeyOf(rsa), cek);
			assert.deepEqual(Buffer.from((await c.unwrapKey(alg, nodeWrapped)).result), cek, `node wrap ${alg}`);
			const r = await rawOp(srv, keyPath(rsaImp.key.id), "wrapkey", { alg, value: cek });
			assert.equal(r.status, 200, r.text);
			assert.deepEqual(nodeRsaDecrypt(alg, rsaImp.priv, unb64u(r.json.value)), cek, `kluis wrap ${alg}`);
		}
	});

	// --- RSA signatures ------------------------------------------------------------------------

	test("RSA sign RS/PS 256/384/512: node verifies kluis' signature; kluis verifies it too", async () => {
		const pub = publicKeyOf(rsa);
		const c = cc(rsa);
		for (const alg of RSA_SIGN_ALGS) {
			const data = Buffer.from(`data signed with ${alg}`);
			const digest = digestOf(alg, data);
			const s = await c.sign(alg, digest);
			assert.equal(s.result.length, 256, `${alg} signature is the modulus length`);
			assert.equal(s.keyID, rsa.id);
			assert.ok(nodeVerify(alg, data, pub, Buffer.from(s.result)), `node verifies kluis ${alg}`);
			assert.equal((await c.verify(alg, digest, s.result)).result, true, `kluis verifies ${alg}`);
			const bad = Buffer.from(s.result);
			bad[100] ^= 1;
			assert.equal((await c.verify(alg, digest, bad)).result, false, `kluis rejects a tampered ${alg}`);
			const otherDigest = digestOf(alg, Buffer.from("other data"));
			assert.equal((await c.verify(alg, otherDigest, s.result)).result, false, `${alg} over another digest`);
		}
	});

	test("RSA: RS* signatures equal node's (PKCS#1 v1.5 is deterministic); PS* use salt = hash length", async () => {
		const c = cc(rsaImp.key);
		for (const alg of RSA_SIGN_ALGS) {
			const data = crypto.randomBytes(100);
			const s = Buffer.from((await c.sign(alg, digestOf(alg, data))).result);
			if (SIGN_ALGS[alg].kind === "rsa") assert.deepEqual(s, nodeSign(alg, data, rsaImp.priv), `${alg} is byte-identical`);
			else assert.ok(nodeVerify(alg, data, rsaImp.pub, s), `${alg} verifies with saltLength ${SIGN_ALGS[alg].len}`);
		}
	});

	test("RSA: what node signs kluis verifies (RS/PS); a PS signature is not an RS one", async () => {
		const c = cc(rsaImp.key);
		for (const alg of RSA_SIGN_ALGS) {
			const data = crypto.randomBytes(64);
			const sig = nodeSign(alg, data, rsaImp.priv);
			assert.equal((await c.verify(alg, digestOf(alg, data), sig)).result, true, alg);
			const twin = alg.replace(/^RS/, "XX").replace(/^PS/, "RS").replace(/^XX/, "PS");
			assert.equal((await c.verify(twin, digestOf(alg, data), sig)).result, false, `${alg} signature checked as ${twin}`);
		}
	});

	test("signData/verifyData: the SDK hashes, kluis signs, node and the SDK verify", async () => {
		const c = cc(rsa);
		const data = Buffer.from("sign me whole");
		const s = await c.signData("RS256", data);
		assert.ok(nodeVerify("RS256", data, publicKeyOf(rsa), Buffer.from(s.result)));
		assert.equal((await c.verifyData("RS256", data, s.result)).result, true);
		const e = cc(ecKeys["P-384"]);
		const es = await e.signData("ES384", data);
		assert.ok(nodeVerify("ES384", data, publicKeyOf(ecKeys["P-384"]), Buffer.from(es.result)));
		assert.equal((await e.verifyData("ES384", data, es.result)).result, true);
	});

	// --- EC signatures -------------------------------------------------------------------------

	test("EC: ES256/ES256K/ES384/ES512 signatures are raw r||s that node verifies (ieee-p1363)", async () => {
		for (const [crv, spec] of Object.entries(CURVES)) {
			const key = ecKeys[crv];
			const c = cc(key);
			const pub = publicKeyOf(key);
			const seen = new Set();
			for (let i = 0; i < 3; i++) {
				const data = crypto.randomBytes(50);
				const digest = digestOf(spec.alg, data);
				const s = Buffer.from((await c.sign(spec.alg, digest)).result);
				assert.equal(s.length, 2 * spec.size, `${spec.alg} signature is ${2 * spec.size} bytes, not DER`);
				assert.ok(nodeVerify(spec.alg, data, pub, s), `node verifies ${spec.alg}`);
				assert.equal((await c.verify(spec.alg, digest, s)).result, true, `kluis verifies ${spec.alg}`);
				const bad = Buffer.from(s);
				bad[5] ^= 0x40;
				assert.equal((await c.verify(spec.alg, digest, bad)).result, false, `tampered ${spec.alg}`);
				seen.add(s.toString("hex"));
			}
			assert.equal(seen.size, 3);
		}
	});

	test("EC: what node signs (r||s) kluis verifies on every curve; a DER signature is not accepted as valid", async () => {
		for (const [crv, spec] of Object.entries(CURVES)) {
			const { key, priv } = ecImp[crv];
			const c = cc(key);
			const data = crypto.randomBytes(77);
			const digest = digestOf(spec.alg, data);
			const sig = nodeSign(spec.alg, data, priv);
			assert.equal((await c.verify(spec.alg, digest, sig)).result, true, `${crv}: node signature`);
			const der = crypto.sign(spec.hash, data, { key: priv, dsaEncoding: "der" });
			const r = await rawOp(srv, keyPath(key.id), "verify", { alg: spec.alg, digest, value: der });
			if (r.status === 200) assert.equal(r.json.value, false, `${crv}: DER accepted as r||s: ${r.text}`);
			else assert.equal(errorCodes(r).code, "BadParameter", r.text);
			// And kluis' signature verifies with node on the imported key too.
			const s = Buffer.from((await c.sign(spec.alg, digest)).result);
			assert.ok(nodeVerify(spec.alg, data, priv, s));
		}
	});

	test("sign over a digest of the wrong length is 400 for every algorithm; so is verify", async () => {
		const keys = { rsa: rsa, pss: rsa };
		for (const [alg, a] of Object.entries(SIGN_ALGS)) {
			const key = a.kind === "ec" ? ecKeys[a.crv] : keys[a.kind];
			const path = keyPath(key.id);
			for (const len of [0, 20, a.len - 1, a.len + 1, 128]) {
				await expectOpError(path, "sign", { alg, value: crypto.randomBytes(len) }, 400, "BadParameter");
			}
			const sig = unb64u((await rawOp(srv, path, "sign", { alg, value: crypto.randomBytes(a.len) })).json.value);
			await expectOpError(path, "verify", { alg, digest: crypto.randomBytes(a.len + 1), value: sig }, 400, "BadParameter");
			await expectRestError(() => cc(key).sign(alg, crypto.randomBytes(a.len === 32 ? 48 : 32)), 400, "BadParameter");
		}
	});

	test("verify of a junk signature is 200 {value:false}, whatever its length", async () => {
		for (const [alg, a] of Object.entries(SIGN_ALGS)) {
			const key = a.kind === "ec" ? ecKeys[a.crv] : rsa;
			const digest = crypto.randomBytes(a.len);
			const size = a.kind === "ec" ? 2 * CURVES[a.crv].size : 256;
			const r = await rawOp(srv, keyPath(key.id), "verify", { alg, digest, value: crypto.randomBytes(size) });
			assert.equal(r.status, 200, `${alg}: ${r.text}`);
			assert.equal(r.json.value, false, alg);
			for (const junk of [Buffer.alloc(size), Buffer.alloc(size, 0xff), crypto.randomBytes(size - 1), crypto.randomBytes(3)]) {
				const r2 = await rawOp(srv, keyPath(key.id), "verify", { alg, digest, value: junk });
				if (r2.status === 200) assert.equal(r2.json.value, false, `${alg} junk of ${junk.length}`);
				else assert.deepEqual([r2.status, errorCodes(r2).code], [400, "BadParameter"], `${alg}: ${r2.text}`);
			}
		}
	});

	// --- AES -----------------------------------------------------------------------------------

	test("AES-GCM: kluis makes a 12-byte iv and 16-byte tag; round trip with and without aad", async () => {
		for (const [bytes, key] of Object.entries(octKeys)) {
			const alg = `A${bytes * 8}GCM`;
			const c = cc(key);
			const pt = crypto.randomBytes(45);
			const aad = Buffer.from("header");
			const e = await c.encrypt({ algorithm: alg, plaintext: pt, additionalAuthenticatedData: aad });
			assert.equal(e.iv.length, 12, `${alg} iv`);
			assert.equal(e.authenticationTag.length, 16, `${alg} tag`);
			assert.equal(e.result.length, pt.length, `${alg} ciphertext length`);
			const d = await c.decrypt({
				algorithm: alg,
				ciphertext: e.result,
				iv: e.iv,
				authenticationTag: e.authenticationTag,
				additionalAuthenticatedData: aad,
			});
			assert.deepEqual(Buffer.from(d.result), pt, alg);
			const e2 = await c.encrypt({ algorithm: alg, plaintext: pt });
			assert.notDeepEqual(Buffer.from(e2.iv), Buffer.from(e.iv), "a fresh iv every call");
			const d2 = await c.decrypt({ algorithm: alg, ciphertext: e2.result, iv: e2.iv, authenticationTag: e2.authenticationTag });
			assert.deepEqual(Buffer.from(d2.result), pt);
		}
	});

	test("AES-GCM interop: kluis encrypts, node decrypts; node encrypts, kluis decrypts", async () => {
		for (const [bytes, { key, secret }] of Object.entries(octImp)) {
			const alg = `A${bytes * 8}GCM`;
			const path = keyPath(key.id);
			const pt = crypto.randomBytes(100);
			const aad = crypto.randomBytes(20);
			const r = await rawOp(srv, path, "encrypt", { alg, value: pt, aad });
			assert.equal(r.status, 200, `${alg}: ${r.text}`);
			for (const m of ["value", "iv", "tag"]) assert.match(r.json[m] ?? "", /^[A-Za-z0-9_-]+$/, `${m} base64url`);
			const got = nodeAesDecrypt(alg, secret, unb64u(r.json.value), { iv: unb64u(r.json.iv), tag: unb64u(r.json.tag), aad });
			assert.deepEqual(got, pt, `node decrypts kluis ${alg}`);
			const n = nodeAesEncrypt(alg, secret, pt, { aad });
			const d = await rawOp(srv, path, "decrypt", { alg, value: n.value, iv: n.iv, tag: n.tag, aad });
			assert.equal(d.status, 200, d.text);
			assert.deepEqual(unb64u(d.json.value), pt, `kluis decrypts node ${alg}`);
		}
	});

	test("AES-GCM: a tampered tag, ciphertext, iv or aad is 400, never plaintext", async () => {
		const { key, secret } = octImp[32];
		const path = keyPath(key.id);
		const pt = Buffer.from("attack at dawn, attack at dawn!!");
		const aad = Buffer.from("aad");
		const n = nodeAesEncrypt("A256GCM", secret, pt, { aad });
		const flip = (b, i = 0) => {
			const c = Buffer.from(b);
			c[i] ^= 1;
			return c;
		};
		const cases = {
			tag: { value: n.value, iv: n.iv, tag: flip(n.tag, 15), aad },
			ciphertext: { value: flip(n.value, 3), iv: n.iv, tag: n.tag, aad },
			iv: { value: n.value, iv: flip(n.iv), tag: n.tag, aad },
			aad: { value: n.value, iv: n.iv, tag: n.tag, aad: flip(aad) },
			"aad missing": { value: n.value, iv: n.iv, tag: n.tag },
			"tag missing": { value: n.value, iv: n.iv, aad },
			"tag truncated": { value: n.value, iv: n.iv, tag: n.tag.subarray(0, 8), aad },
			"iv missing": { value: n.value, tag: n.tag, aad },
		};
		for (const [what, body] of Object.entries(cases)) {
			const r = await expectOpError(path, "decrypt", { alg: "A256GCM", ...body }, 400, "BadParameter");
			assert.ok(!r.text.includes(b64u(pt)), `${what}: no plaintext in the error`);
		}
		const ok = await rawOp(srv, path, "decrypt", { alg: "A256GCM", value: n.value, iv: n.iv, tag: n.tag, aad });
		assert.deepEqual(unb64u(ok.json.value), pt);
	});

	test("AES-CBC (no padding): caller iv, multiple of 16, byte-identical to node both ways", async () => {
		for (const [bytes, { key, secret }] of Object.entries(octImp)) {
			const alg = `A${bytes * 8}CBC`;
			const path = keyPath(key.id);
			const pt = crypto.randomBytes(64);
			const iv = crypto.randomBytes(16);
			const r = await rawOp(srv, path, "encrypt", { alg, value: pt, iv });
			assert.equal(r.status, 200, `${alg}: ${r.text}`);
			assert.deepEqual(unb64u(r.json.value), nodeAesEncrypt(alg, secret, pt, { iv }).value, `${alg} = node`);
			const n = nodeAesEncrypt(alg, secret, pt);
			const d = await cc(key).decrypt({ algorithm: alg, ciphertext: n.value, iv: n.iv });
			assert.deepEqual(Buffer.from(d.result), pt, `kluis decrypts node ${alg}`);
			await expectOpError(path, "encrypt", { alg, value: crypto.randomBytes(33), iv }, 400, "BadParameter");
			await expectOpError(path, "encrypt", { alg, value: pt, iv: crypto.randomBytes(12) }, 400, "BadParameter");
			await expectOpError(path, "decrypt", { alg, value: crypto.randomBytes(31), iv }, 400, "BadParameter");
		}
	});

	test("AES-CBCPAD: PKCS#7 padding, byte-identical to node; bad padding is 400", async () => {
		for (const [bytes, { key, secret }] of Object.entries(octImp)) {
			const alg = `A${bytes * 8}CBCPAD`;
			const path = keyPath(key.id);
			for (const len of [0, 1, 15, 16, 17, 100]) {
				const pt = crypto.randomBytes(len);
				const iv = crypto.randomBytes(16);
				const r = await rawOp(srv, path, "encrypt", { alg, value: pt, iv });
				if (len === 0 && r.status === 400) continue; // an empty plaintext may be refused
				assert.equal(r.status, 200, `${alg} ${len}: ${r.text}`);
				const ct = unb64u(r.json.value);
				assert.equal(ct.length, (Math.floor(len / 16) + 1) * 16, `${alg} ${len}: padded length`);
				assert.deepEqual(ct, nodeAesEncrypt(alg, secret, pt, { iv }).value, `${alg} ${len} = node`);
				const n = nodeAesEncrypt(alg, secret, pt);
				const d = await rawOp(srv, path, "decrypt", { alg, value: n.value, iv: n.iv });
				assert.equal(d.status, 200, d.text);
				assert.deepEqual(unb64u(d.json.value ?? ""), pt, `kluis decrypts node ${alg} ${len}`);
			}
			// Decrypt a block whose padding is wrong: node's no-padding encryption of 16 bytes ending in 0x00.
			const iv = crypto.randomBytes(16);
			const noPad = nodeAesEncrypt(`A${bytes * 8}CBC`, secret, Buffer.alloc(16, 0), { iv }).value;
			await expectOpError(path, "decrypt", { alg, value: noPad, iv }, 400, "BadParameter");
		}
		// The SDK, with the key fetched from kluis (no k in it), sends CBCPAD to the server.
		const created = octKeys[32];
		const c = cc(created);
		const iv = crypto.randomBytes(16);
		const e = await c.encrypt({ algorithm: "A256CBCPAD", plaintext: Buffer.from("sdk cbcpad"), iv });
		const d = await c.decrypt({ algorithm: "A256CBCPAD", ciphertext: e.result, iv });
		assert.equal(Buffer.from(d.result).toString(), "sdk cbcpad");
	});

	test("AES-KW (RFC 3394): kluis wraps byte-identical to node; unwraps node's; integrity failure is 400", async () => {
		for (const [bytes, { key, secret }] of Object.entries(octImp)) {
			const alg = `A${bytes * 8}KW`;
			const path = keyPath(key.id);
			for (const cekLen of [16, 24, 32, 64]) {
				const cek = crypto.randomBytes(cekLen);
				const r = await rawOp(srv, path, "wrapkey", { alg, value: cek });
				assert.equal(r.status, 200, `${alg} ${cekLen}: ${r.text}`);
				assert.deepEqual(unb64u(r.json.value), nodeAesEncrypt(alg, secret, cek).value, `${alg} ${cekLen} = node`);
				const u = await cc(key).unwrapKey(alg, nodeAesEncrypt(alg, secret, cek).value);
				assert.deepEqual(Buffer.from(u.result), cek, `kluis unwraps node ${alg}`);
			}
			const wrapped = nodeAesEncrypt(alg, secret, crypto.randomBytes(32)).value;
			wrapped[0] ^= 1;
			await expectOpError(path, "unwrapkey", { alg, value: wrapped }, 400, "BadParameter");
			await expectOpError(path, "wrapkey", { alg, value: crypto.randomBytes(15) }, 400, "BadParameter");
			await expectOpError(path, "wrapkey", { alg, value: crypto.randomBytes(20) }, 400, "BadParameter");
			await expectOpError(path, "wrapkey", { alg, value: crypto.randomBytes(8) }, 400, "BadParameter");
			await expectOpError(path, "unwrapkey", { alg, value: crypto.randomBytes(17) }, 400, "BadParameter");
		}
		for (const [bytes, key] of Object.entries(octKeys)) {
			const alg = `A${bytes * 8}KW`;
			const cek = crypto.randomBytes(32);
			const c = cc(key);
			const w = await c.wrapKey(alg, cek);
			assert.equal(w.result.length, 40);
			assert.deepEqual(Buffer.from((await c.unwrapKey(alg, w.result)).result), cek, alg);
		}
	});

	// --- algorithms that do not fit --------------------------------------------------------------

	test("an algorithm that does not fit the key type, size or curve is 400 BadParameter", async () => {
		const cases = [
			[rsa, "sign", { alg: "ES256", value: crypto.randomBytes(32) }],
			[rsa, "encrypt", { alg: "A128GCM", value: crypto.randomBytes(16) }],
			[rsa, "encrypt", { alg: "A128CBC", value: crypto.randomBytes(16), iv: crypto.randomBytes(16) }],
			[rsa, "wrapkey", { alg: "A128KW", value: crypto.randomBytes(16) }],
			[ecKeys["P-256"], "sign", { alg: "RS256", value: crypto.randomBytes(32) }],
			[ecKeys["P-256"], "sign", { alg: "PS256", value: crypto.randomBytes(32) }],
			[ecKeys["P-256"], "sign", { alg: "ES384", value: crypto.randomBytes(48) }],
			[ecKeys["P-256"], "sign", { alg: "ES256K", value: crypto.randomBytes(32) }],
			[ecKeys["P-256K"], "sign", { alg: "ES256", value: crypto.randomBytes(32) }],
			[ecKeys["P-384"], "sign", { alg: "ES256", value: crypto.randomBytes(32) }],
			[ecKeys["P-521"], "sign", { alg: "ES384", value: crypto.randomBytes(48) }],
			[ecKeys["P-256"], "verify", { alg: "ES384", digest: crypto.randomBytes(48), value: crypto.randomBytes(96) }],
			[octKeys[16], "encrypt", { alg: "A256GCM", value: crypto.randomBytes(16) }],
			[octKeys[16], "encrypt", { alg: "A192GCM", value: crypto.randomBytes(16) }],
			[octKeys[32], "encrypt", { alg: "A128GCM", value: crypto.randomBytes(16) }],
			[octKeys[16], "encrypt", { alg: "A256CBC", value: crypto.randomBytes(16), iv: crypto.randomBytes(16) }],
			[octKeys[24], "encrypt", { alg: "A128CBCPAD", value: crypto.randomBytes(16), iv: crypto.randomBytes(16) }],
			[octKeys[16], "wrapkey", { alg: "A256KW", value: crypto.randomBytes(16) }],
			[octKeys[32], "wrapkey", { alg: "A128KW", value: crypto.randomBytes(16) }],
			[octKeys[32], "encrypt", { alg: "RSA-OAEP", value: crypto.randomBytes(16) }],
			[octKeys[32], "wrapkey", { alg: "RSA1_5", value: crypto.randomBytes(16) }],
		];
		for (const [key, op, body] of cases) {
			await expectOpError(keyPath(key.id), op, body, 400, "BadParameter");
		}
	});

	test("unknown, reserved and wrongly cased algorithms are 400", async () => {
		const path = keyPath(rsa.id);
		for (const alg of ["RSA-OAEP-512", "rsa-oaep", "RSA_OAEP", "", "RSNULL", "HS256", "none", "A128CBC-HS256"]) {
			await expectOpError(path, "encrypt", { alg, value: crypto.randomBytes(16) }, 400, "BadParameter");
		}
		for (const alg of ["RSNULL", "rs256", "RS1", "PS1", "ES256", "EdDSA"]) {
			await expectOpError(path, "sign", { alg, value: crypto.randomBytes(32) }, 400, "BadParameter");
		}
		await expectOpError(path, "sign", { value: crypto.randomBytes(32) }, 400, "BadParameter");
		await expectOpError(path, "sign", { alg: "RS256" }, 400, "BadParameter");
		await expectOpError(path, "verify", { alg: "RS256", value: crypto.randomBytes(256) }, 400, "BadParameter");
		await expectOpError(path, "encrypt", { alg: "RSA-OAEP", value: "not*base64url!" }, 400, "BadParameter");
	});

	// --- versions and ids ------------------------------------------------------------------------

	test("an empty version segment means the latest; an old version keeps its own key", async () => {
		const name = uniqueName("vers");
		const v1 = await client.createEcKey(name);
		const v2 = await client.createEcKey(name);
		const data = Buffer.from("which version?");
		const digest = digestOf("ES256", data);
		const r = await srv.request("POST", `/keys/${name}//sign?api-version=7.6`, { body: { alg: "ES256", value: b64u(digest) } });
		assert.equal(r.status, 200, r.text);
		assert.equal(r.json.kid, v2.id, "//sign answers with the latest version's kid");
		assert.ok(nodeVerify("ES256", data, publicKeyOf(v2), unb64u(r.json.value)));
		assert.ok(!nodeVerify("ES256", data, publicKeyOf(v1), unb64u(r.json.value)));
		const old = await rawOp(srv, keyPath(v1.id), "sign", { alg: "ES256", value: digest });
		assert.equal(old.json.kid, v1.id);
		assert.ok(nodeVerify("ES256", data, publicKeyOf(v1), unb64u(old.json.value)));
		// The SDK's client for a key name without a version: GET /keys/NAME/ then //sign.
		const c = client.getCryptographyClient(name);
		const s = await c.sign("ES256", digest);
		assert.ok(nodeVerify("ES256", data, publicKeyOf(v2), Buffer.from(s.result)));
		assert.equal((await c.verify("ES256", digest, s.result)).result, true);
		// A new version after the client was made: //verify follows the latest.
		const v3 = await client.createEcKey(name);
		const s3 = await srv.request("POST", `/keys/${name}//sign?api-version=7.6`, { body: { alg: "ES256", value: b64u(digest) } });
		assert.equal(s3.json.kid, v3.id);
	});

	test("names and versions in operation paths compare case-insensitively; the kid keeps the creation case", async () => {
		const name = uniqueName("CaseKey");
		const k = await client.createEcKey(name);
		const digest = crypto.randomBytes(32);
		for (const path of [
			`/keys/${name.toUpperCase()}/${k.properties.version}`,
			`/keys/${name.toLowerCase()}/${k.properties.version.toUpperCase()}`,
			`/keys/${name.toLowerCase()}/`,
		]) {
			const r = await rawOp(srv, path, "sign", { alg: "ES256", value: digest });
			assert.equal(r.status, 200, `${path}: ${r.text}`);
			assert.equal(r.json.kid, k.id, path);
		}
	});

	test("concurrent operations, rotations and updates stay consistent: every kid matches its signature", async () => {
		const name = uniqueName("race");
		const first = await client.createEcKey(name);
		const pubs = new Map([[first.id, publicKeyOf(first)]]);
		const data = Buffer.from("race");
		const digest = digestOf("ES256", data);
		const results = [];
		const signers = Array.from({ length: 8 }, async () => {
			for (let i = 0; i < 25; i++) {
				const r = await rawOp(srv, `/keys/${name}/`, "sign", { alg: "ES256", value: digest });
				results.push(r);
			}
		});
		const writer = (async () => {
			for (let i = 0; i < 6; i++) {
				const v = await client.createEcKey(name);
				pubs.set(v.id, publicKeyOf(v));
				await client.updateKeyProperties(name, v.properties.version, { tags: { i: String(i) } });
			}
		})();
		await Promise.all([...signers, writer]);
		assert.equal(results.length, 200);
		for (const r of results) {
			assert.equal(r.status, 200, r.text);
			assert.ok(pubs.has(r.json.kid), `unknown kid ${r.json.kid}`);
			assert.ok(nodeVerify("ES256", data, pubs.get(r.json.kid), unb64u(r.json.value)), `signature does not match ${r.json.kid}`);
		}
		// Toggling enabled while others sign: every answer is a valid signature or a 403, never anything else.
		const latest = await client.getKey(name);
		const toggles = (async () => {
			for (let i = 0; i < 10; i++) await client.updateKeyProperties(name, latest.properties.version, { enabled: i % 2 === 1 });
		})();
		const mixed = [];
		await Promise.all([
			toggles,
			...Array.from({ length: 4 }, async () => {
				for (let i = 0; i < 20; i++) mixed.push(await rawOp(srv, keyPath(latest.id), "sign", { alg: "ES256", value: digest }));
			}),
		]);
		for (const r of mixed) {
			if (r.status === 403) assert.equal(r.json?.error?.innererror?.code, "KeyDisabled", r.text);
			else {
				assert.equal(r.status, 200, r.text);
				assert.ok(nodeVerify("ES256", data, publicKeyOf(latest), unb64u(r.json.value)));
			}
		}
		assert.equal((await client.getKey(name)).properties.enabled, true, "the last toggle enabled it");
	});

	test("operations on an unknown key or version are 404 KeyNotFound", async () => {
		const body = { alg: "RS256", value: crypto.randomBytes(32) };
		await expectOpError(`/keys/${uniqueName("missing")}/0123456789abcdef0123456789abcdef`, "sign", body, 404, "KeyNotFound");
		await expectOpError(`/keys/${uniqueName("missing")}/`, "sign", body, 404, "KeyNotFound");
		await expectOpError(`/keys/${rsa.name}/0123456789abcdef0123456789abcdef`, "sign", body, 404, "KeyNotFound");
		await expectRestError(() => client.getCryptographyClient(uniqueName("missing")).sign("RS256", crypto.randomBytes(32)), 404, "KeyNotFound");
	});

	// --- enforcement -----------------------------------------------------------------------------

	test("key_ops: an operation outside them is 403 KeyOperationForbidden, checked on every call", async () => {
		const name = uniqueName("ops");
		const k = await client.createRsaKey(name, { keyOps: ["sign", "verify"] });
		const path = keyPath(k.id);
		const ct = nodeRsaEncrypt("RSA-OAEP", publicKeyOf(k), Buffer.from("x"));
		const forbidden = [
			["encrypt", { alg: "RSA-OAEP", value: Buffer.from("x") }],
			["decrypt", { alg: "RSA-OAEP", value: ct }],
			["wrapkey", { alg: "RSA-OAEP", value: crypto.randomBytes(32) }],
			["unwrapkey", { alg: "RSA-OAEP", value: ct }],
		];
		for (const [op, body] of forbidden) {
			const r = await expectOpError(path, op, body, 403, "Forbidden", "KeyOperationForbidden");
			assert.match(r.json.error.message, /not permitted/, r.text);
		}
		const digest = crypto.randomBytes(32);
		const s = await rawOp(srv, path, "sign", { alg: "RS256", value: digest });
		assert.equal(s.status, 200, s.text);
		// The JS SDK refuses locally too (sdk-compatibility.md §7 item 24).
		await assert.rejects(() => cc(k).decrypt({ algorithm: "RSA-OAEP", ciphertext: ct }), /not supported/);

		// Widen: decrypt works now; narrow: sign is refused now (no stale cache).
		await client.updateKeyProperties(name, k.properties.version, { keyOps: ["decrypt", "verify"] });
		const d = await rawOp(srv, path, "decrypt", { alg: "RSA-OAEP", value: ct });
		assert.equal(d.status, 200, d.text);
		assert.equal(unb64u(d.json.value).toString(), "x");
		await expectOpError(path, "sign", { alg: "RS256", value: digest }, 403, "Forbidden", "KeyOperationForbidden");
		const v = await rawOp(srv, path, "verify", { alg: "RS256", digest, value: unb64u(s.json.value) });
		assert.equal(v.status, 200, v.text);
		assert.equal(v.json.value, true);
		// The empty version segment is checked the same way.
		await expectOpError(`/keys/${name}/`, "sign", { alg: "RS256", value: digest }, 403, "Forbidden", "KeyOperationForbidden");
		// An EC key (sign, verify) refuses wrapKey for the same reason.
		const e = await client.createEcKey(uniqueName("ecops"), { keyOps: ["verify"] });
		await expectOpError(keyPath(e.id), "sign", { alg: "ES256", value: digest }, 403, "Forbidden", "KeyOperationForbidden");
	});

	test("a disabled key is 403 KeyDisabled for every operation; metadata still reads; re-enable works", async () => {
		const name = uniqueName("dis");
		const k = await client.createRsaKey(name);
		const path = keyPath(k.id);
		const digest = crypto.randomBytes(32);
		const sig = unb64u((await rawOp(srv, path, "sign", { alg: "RS256", value: digest })).json.value);
		const ct = nodeRsaEncrypt("RSA-OAEP", publicKeyOf(k), Buffer.from("y"));
		await client.updateKeyProperties(name, k.properties.version, { enabled: false });
		const ops = [
			["encrypt", { alg: "RSA-OAEP", value: Buffer.from("y") }],
			["decrypt", { alg: "RSA-OAEP", value: ct }],
			["wrapkey", { alg: "RSA-OAEP", value: crypto.randomBytes(32) }],
			["unwrapkey", { alg: "RSA-OAEP", value: ct }],
			["sign", { alg: "RS256", value: digest }],
			["verify", { alg: "RS256", digest, value: sig }],
		];
		for (const [op, body] of ops) await expectOpError(path, op, body, 403, "Forbidden", "KeyDisabled");
		for (const [op, body] of ops) await expectOpError(`/keys/${name}/`, op, body, 403, "Forbidden", "KeyDisabled");
		assert.equal((await client.getKey(name)).properties.enabled, false, "GET of a disabled key works");
		await client.updateKeyProperties(name, k.properties.version, { enabled: true });
		for (const [op, body] of ops) {
			const r = await rawOp(srv, path, op, body);
			assert.equal(r.status, 200, `${op} after re-enable: ${r.text}`);
		}
		// A disabled older version: only that version is refused.
		const v2 = await client.createRsaKey(name);
		await client.updateKeyProperties(name, k.properties.version, { enabled: false });
		await expectOpError(path, "sign", { alg: "RS256", value: digest }, 403, "Forbidden", "KeyDisabled");
		assert.equal((await rawOp(srv, keyPath(v2.id), "sign", { alg: "RS256", value: digest })).status, 200);
	});

	test("outside nbf/exp: encrypt, wrap and sign are 403; decrypt, unwrap and verify still work", async () => {
		const now = Date.now() / 1000;
		for (const [what, opts] of [
			["expired", { expiresOn: new Date(Math.floor(now - 3600) * 1000) }],
			["not yet valid", { notBefore: new Date(Math.floor(now + 3600) * 1000) }],
		]) {
			const { privateKey } = rsaKeyPair();
			const k = await client.importKey(uniqueName("window"), sdkJwkFromPrivate(privateKey), opts);
			const path = keyPath(k.id);
			const pub = publicKeyOf(k);
			const data = Buffer.from(what);
			const digest = digestOf("RS256", data);
			for (const [op, body] of [
				["encrypt", { alg: "RSA-OAEP-256", value: Buffer.from("z") }],
				["wrapkey", { alg: "RSA-OAEP", value: crypto.randomBytes(32) }],
				["sign", { alg: "RS256", value: digest }],
			]) {
				await expectOpError(path, op, body, 403, "Forbidden", "KeyDisabled");
			}
			const ct = nodeRsaEncrypt("RSA-OAEP-256", pub, Buffer.from("still readable"));
			const d = await rawOp(srv, path, "decrypt", { alg: "RSA-OAEP-256", value: ct });
			assert.equal(d.status, 200, `${what} decrypt: ${d.text}`);
			assert.equal(unb64u(d.json.value).toString(), "still readable");
			const cek = crypto.randomBytes(32);
			const u = await rawOp(srv, path, "unwrapkey", { alg: "RSA1_5", value: nodeRsaEncrypt("RSA1_5", pub, cek) });
			assert.equal(u.status, 200, `${what} unwrap: ${u.text}`);
			assert.deepEqual(unb64u(u.json.value), cek);
			const v = await rawOp(srv, path, "verify", { alg: "RS256", digest, value: nodeSign("RS256", data, privateKey) });
			assert.equal(v.status, 200, `${what} verify: ${v.text}`);
			assert.equal(v.json.value, true);
		}
	});

	test("an update that ends the window takes effect at once", async () => {
		const name = uniqueName("winupd");
		const k = await client.createEcKey(name, { curve: "P-384" });
		const digest = crypto.randomBytes(48);
		assert.equal((await rawOp(srv, keyPath(k.id), "sign", { alg: "ES384", value: digest })).status, 200);
		await client.updateKeyProperties(name, k.properties.version, { expiresOn: new Date(Math.floor(Date.now() / 1000 - 60) * 1000) });
		await expectOpError(keyPath(k.id), "sign", { alg: "ES384", value: digest }, 403, "Forbidden");
		await client.updateKeyProperties(name, k.properties.version, { expiresOn: new Date(Math.floor(Date.now() / 1000 + 3600) * 1000) });
		assert.equal((await rawOp(srv, keyPath(k.id), "sign", { alg: "ES384", value: digest })).status, 200);
	});

	test("RSA-HSM, EC-HSM and oct-HSM keys do the same operations as their software twins", async () => {
		const rh = await client.createKey(uniqueName("rsahsm"), "RSA-HSM");
		const data = Buffer.from("hsm");
		const s = await cc(rh).sign("PS256", digestOf("PS256", data));
		assert.ok(nodeVerify("PS256", data, publicKeyOf(rh), Buffer.from(s.result)));
		const ct = nodeRsaEncrypt("RSA-OAEP-256", publicKeyOf(rh), data);
		assert.deepEqual(Buffer.from((await cc(rh).decrypt({ algorithm: "RSA-OAEP-256", ciphertext: ct })).result), data);
		const eh = await client.createEcKey(uniqueName("echsm"), { hsm: true, curve: "P-521" });
		const es = await cc(eh).sign("ES512", digestOf("ES512", data));
		assert.ok(nodeVerify("ES512", data, publicKeyOf(eh), Buffer.from(es.result)));
		const oh = await client.createOctKey(uniqueName("octhsm"), { hsm: true, keySize: 256 });
		const e = await cc(oh).encrypt({ algorithm: "A256GCM", plaintext: data });
		const d = await cc(oh).decrypt({ algorithm: "A256GCM", ciphertext: e.result, iv: e.iv, authenticationTag: e.authenticationTag });
		assert.deepEqual(Buffer.from(d.result), data);
	});

	test("the operations' results are base64url without padding and name the versioned kid", async () => {
		const r = await rawOp(srv, keyPath(ecKeys["P-521"].id), "sign", { alg: "ES512", value: crypto.randomBytes(64) });
		assert.equal(r.status, 200, r.text);
		assert.equal(r.json.kid, ecKeys["P-521"].id);
		assert.match(r.json.value, /^[A-Za-z0-9_-]{176}$/, "132 bytes = 176 base64url characters");
		// Padded and standard-alphabet input is accepted (spec §1).
		const digest = crypto.randomBytes(64);
		for (const enc of [digest.toString("base64"), digest.toString("base64url")]) {
			const s = await srv.request("POST", `${keyPath(ecKeys["P-521"].id)}/sign?api-version=7.6`, { body: { alg: "ES512", value: enc } });
			assert.equal(s.status, 200, `${enc}: ${s.text}`);
		}
	});
});
