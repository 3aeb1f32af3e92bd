// Key management through @azure/keyvault-keys' KeyClient, unchanged, against a real kluisd:
// create (RSA, EC, oct and their -HSM twins), import, get, update, list, names, tags, random
// bytes, api-versions, and the exact public JWK on the wire (spec §3). Crypto operations, soft
// delete, backup, rotation and OpenSSL interop have their own files.

import assert from "node:assert/strict";
import crypto from "node:crypto";
import { after, before, describe, test } from "node:test";
import { KeyClient } from "@azure/keyvault-keys";
import { collect, expectRestError, startServer, uniqueName } from "./lib/server.mjs";
import {
	API,
	CURVES,
	b64u,
	ecKeyPair,
	publicKeyOf,
	rsaKeyPair,
	sdkJwkFromPrivate,
	wireJwkFromPrivate,
} from "./lib/keys.mjs";

const VERSION_RE = /^[0-9a-f]{32}$/;
const B64URL_RE = /^[A-Za-z0-9_-]+$/;
const RSA_OPS = ["decrypt", "encrypt", "sign", "unwrapKey", "verify", "wrapKey"];
const EC_OPS = ["sign", "verify"];
const OCT_OPS = ["decrypt", "encrypt", "unwrapKey", "wrapKey"];
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "k", "key_hsm", "t"];
const sorted = (a) => [...(a || [])].sort();
const secsDate = (s) => new Date(Math.floor(s) * 1000);

describe("keys: management", () => {
	let srv;
	let client;

	before(async () => {
		srv = await startServer();
		client = new KeyClient(srv.vaultUrl, srv.credential);
	});
	after(async () => {
		await srv?.close();
	});

	/** GET the key raw and check the wire JWK carries public members only, base64url unpadded. */
	async function wireKey(name, version = "") {
		const r = await srv.request("GET", `/keys/${name}/${version}?${API}`);
		assert.equal(r.status, 200, r.text);
		const jwk = r.json.key;
		for (const m of PRIVATE_MEMBERS) assert.equal(jwk[m], undefined, `response JWK carries private member ${m}: ${r.text}`);
		for (const m of ["n", "e", "x", "y"])
			if (jwk[m] !== undefined) assert.match(jwk[m], B64URL_RE, `${m} is base64url without padding`);
		assert.ok(!r.text.includes("="), "no base64 padding anywhere in the bundle");
		return r.json;
	}

	test("create RSA (default 2048): kid, exact public JWK, default key_ops, attributes", async () => {
		const name = uniqueName("rsa");
		const t0 = Date.now() / 1000 - 5;
		const k = await client.createRsaKey(name);
		assert.equal(k.name, name);
		assert.equal(k.keyType, "RSA");
		assert.match(k.properties.version, VERSION_RE);
		assert.equal(k.id, `${srv.vaultUrl}/keys/${name}/${k.properties.version}`);
		assert.equal(k.key.kid, k.id);
		assert.equal(k.properties.vaultUrl, srv.vaultUrl);
		assert.equal(k.key.n.length, 256, "a 2048-bit n is 256 bytes, no leading zero");
		assert.ok(k.key.n[0] & 0x80, "n has its top bit set");
		assert.deepEqual(Buffer.from(k.key.e), Buffer.from([1, 0, 1]));
		assert.deepEqual(sorted(k.keyOperations), RSA_OPS);
		assert.equal(k.key.d, undefined);
		assert.equal(k.properties.enabled, true);
		assert.equal(k.properties.recoveryLevel, "Recoverable+Purgeable");
		assert.equal(k.properties.recoverableDays, 90);
		const created = k.properties.createdOn.getTime() / 1000;
		assert.ok(created >= t0 && created <= Date.now() / 1000 + 5, `createdOn ${k.properties.createdOn}`);
		assert.equal(k.properties.updatedOn.getTime(), k.properties.createdOn.getTime());
		assert.equal(k.properties.notBefore, undefined);
		assert.equal(k.properties.expiresOn, undefined);
		assert.equal(k.properties.exportable ?? false, false);

		const w = await wireKey(name);
		assert.equal(w.key.kty, "RSA");
		assert.equal(w.key.n.length, 342, "a 2048-bit n is 342 base64url characters");
		assert.equal(w.key.e, "AQAB");
		assert.equal(w.key.kid, k.id);
		// The modulus is a usable RSA public key of 2048 bits.
		const pub = publicKeyOf(k);
		assert.equal(pub.asymmetricKeyDetails.modulusLength, 2048);
		assert.equal(pub.asymmetricKeyDetails.publicExponent, 65537n);
	});

	test("create RSA 3072 and 4096, with an explicit public exponent", async () => {
		for (const [bits, bytes] of [
			[3072, 384],
			[4096, 512],
		]) {
			const name = uniqueName(`rsa${bits}`);
			const k = await client.createRsaKey(name, { keySize: bits, publicExponent: 65537 });
			assert.equal(k.key.n.length, bytes, `${bits}-bit n`);
			assert.ok(k.key.n[0] & 0x80);
			assert.equal(publicKeyOf(k).asymmetricKeyDetails.modulusLength, bits);
			assert.equal((await wireKey(name)).key.e, "AQAB");
		}
		// public_exponent is honoured (spec §3: "default 65537"). Raw: @azure/keyvault-keys 4.10.2
		// drops the publicExponent option of createRsaKey and never sends it.
		const name = uniqueName("rsae3");
		const r = await srv.request("POST", `/keys/${name}/create?${API}`, { body: { kty: "RSA", public_exponent: 3 } });
		assert.equal(r.status, 200, r.text);
		assert.equal(r.json.key.e, "Aw", "e = 3 is the single byte 03");
		assert.equal((await wireKey(name)).key.e, "Aw");
		// The e = 3 key works: its RS256 signature verifies with node.
		const data = Buffer.from("e is three");
		const sig = await srv.request("POST", `/keys/${name}//sign?${API}`, {
			body: { alg: "RS256", value: b64u(crypto.createHash("sha256").update(data).digest()) },
		});
		assert.equal(sig.status, 200, sig.text);
		const pub3 = crypto.createPublicKey({ key: { kty: "RSA", n: r.json.key.n, e: r.json.key.e }, format: "jwk" });
		assert.ok(crypto.verify("sha256", data, pub3, Buffer.from(sig.json.value, "base64url")), "e = 3 signature verifies");
		const r2 = await srv.request("POST", `/keys/${name}/create?${API}`, { body: { kty: "RSA", public_exponent: 65537 } });
		assert.equal(r2.status, 200, r2.text);
		assert.equal(r2.json.key.e, "AQAB");
	});

	test("create EC on every curve, P-256 by default; x and y fixed length and on the curve", async () => {
		const dflt = await client.createEcKey(uniqueName("ecdef"));
		assert.equal(dflt.keyType, "EC");
		assert.equal(dflt.key.crv, "P-256", "P-256 is the default curve");
		assert.deepEqual(sorted(dflt.keyOperations), EC_OPS);
		for (const [crv, c] of Object.entries(CURVES)) {
			const name = uniqueName("ec");
			const k = await client.createEcKey(name, { curve: crv });
			assert.equal(k.key.crv, crv);
			assert.equal(k.key.x.length, c.size, `${crv} x is ${c.size} bytes`);
			assert.equal(k.key.y.length, c.size, `${crv} y is ${c.size} bytes`);
			assert.equal(k.key.d, undefined);
			assert.deepEqual(sorted(k.keyOperations), EC_OPS);
			// createPublicKey refuses a point that is not on the curve.
			const pub = publicKeyOf(k);
			assert.equal(pub.asymmetricKeyDetails.namedCurve, c.openssl);
			const w = await wireKey(name);
			assert.equal(w.key.crv, crv);
			assert.equal(w.key.kty, "EC");
			assert.equal(w.key.n, undefined);
		}
	});

	test("create oct 128/192/256: the JWK carries kid, kty and key_ops only", async () => {
		for (const size of [128, 192, 256]) {
			const name = uniqueName(`oct${size}`);
			const k = await client.createOctKey(name, { keySize: size });
			assert.equal(k.keyType, "oct");
			assert.deepEqual(sorted(k.keyOperations), OCT_OPS);
			assert.equal(k.key.k, undefined);
			const w = await wireKey(name);
			assert.deepEqual(Object.keys(w.key).sort(), ["key_ops", "kid", "kty"], `oct JWK members: ${JSON.stringify(w.key)}`);
			assert.equal(w.key.kty, "oct");
		}
	});

	test("-HSM key types are accepted and keep their label", async () => {
		const rsa = await client.createKey(uniqueName("rsahsm"), "RSA-HSM");
		assert.equal(rsa.keyType, "RSA-HSM");
		assert.equal(rsa.key.n.length, 256);
		const rsa2 = await client.createRsaKey(uniqueName("rsahsm2"), { hsm: true, keySize: 3072 });
		assert.equal(rsa2.keyType, "RSA-HSM");
		assert.equal(rsa2.key.n.length, 384);
		const ec = await client.createEcKey(uniqueName("echsm"), { hsm: true, curve: "P-384" });
		assert.equal(ec.keyType, "EC-HSM");
		assert.equal(ec.key.x.length, 48);
		const oct = await client.createOctKey(uniqueName("octhsm"), { hsm: true, keySize: 256 });
		assert.equal(oct.keyType, "oct-HSM");
		assert.deepEqual(sorted(oct.keyOperations), OCT_OPS);
		const w = await wireKey(rsa.name);
		assert.equal(w.key.kty, "RSA-HSM");
		assert.equal((await client.getKey(ec.name)).keyType, "EC-HSM");
	});

	test("create with key_ops, tags, enabled, nbf and exp", async () => {
		const name = uniqueName("attrs");
		const nbf = secsDate(Date.now() / 1000 - 3600);
		const exp = secsDate(Date.now() / 1000 + 86400 * 30);
		const k = await client.createRsaKey(name, {
			keyOps: ["sign", "verify"],
			tags: { env: "test", owner: "e2e" },
			notBefore: nbf,
			expiresOn: exp,
			enabled: false,
		});
		assert.deepEqual(k.keyOperations, ["sign", "verify"]);
		assert.deepEqual(k.properties.tags, { env: "test", owner: "e2e" });
		assert.equal(k.properties.notBefore.getTime(), nbf.getTime());
		assert.equal(k.properties.expiresOn.getTime(), exp.getTime());
		assert.equal(k.properties.enabled, false);
		// Metadata of a disabled key can always be read.
		const got = await client.getKey(name);
		assert.equal(got.properties.enabled, false);
		assert.deepEqual(got.keyOperations, ["sign", "verify"]);
		assert.deepEqual(Buffer.from(got.key.n), Buffer.from(k.key.n));
	});

	test("create refuses unknown kty, bad sizes, unknown curves (400) and stores nothing", async () => {
		const name = uniqueName("badcreate");
		const bodies = [
			{ kty: "DSA" },
			{ kty: "rsa" },
			{ kty: "" },
			{ kty: "OKP" },
			{ kty: "RSA", key_size: 1024 },
			{ kty: "RSA", key_size: 1000 },
			{ kty: "RSA", key_size: 2047 },
			{ kty: "RSA", key_size: 8192 },
			{ kty: "oct", key_size: 64 },
			{ kty: "oct", key_size: 512 },
			{ kty: "oct", key_size: 129 },
			{ kty: "EC", crv: "P-999" },
			{ kty: "EC", crv: "p-256" },
			{ kty: "EC", crv: "Ed25519" },
			{ kty: "RSA", key_size: "2048" },
			{ kty: "RSA", key_ops: "sign" },
			{},
		];
		for (const body of bodies) {
			const r = await srv.request("POST", `/keys/${name}/create?${API}`, { body });
			assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.status} ${r.text}`);
			assert.equal(r.json?.error?.code, "BadParameter", `${JSON.stringify(body)}: ${r.text}`);
		}
		await expectRestError(() => client.createKey(name, "FOO"), 400, "BadParameter");
		await expectRestError(() => client.createEcKey(name, { curve: "P-192" }), 400, "BadParameter");
		await expectRestError(() => client.getKey(name), 404, "KeyNotFound");
	});

	test("exportable keys and release policies are refused with 400 (key release is not supported)", async () => {
		const name = uniqueName("exp");
		const policy = {
			encodedPolicy: new TextEncoder().encode(JSON.stringify({ anyOf: [], version: "1.0.0" })),
			immutable: false,
		};
		await expectRestError(() => client.createRsaKey(name, { exportable: true, releasePolicy: policy }), 400, "BadParameter");
		await expectRestError(() => client.createRsaKey(name, { exportable: true }), 400, "BadParameter");
		await expectRestError(() => client.createRsaKey(name, { releasePolicy: policy }), 400, "BadParameter");
		const { privateKey } = rsaKeyPair();
		await expectRestError(
			() => client.importKey(name, sdkJwkFromPrivate(privateKey), { exportable: true, releasePolicy: policy }),
			400,
			"BadParameter",
		);
		await expectRestError(() => client.getKey(name), 404, "KeyNotFound");
		// release is out of scope: 400, never a released key.
		const k = await client.createEcKey(name);
		const r = await srv.request("POST", `/keys/${name}/${k.properties.version}/release?${API}`, {
			body: { target: "eyJhbGciOiJub25lIn0.e30." },
		});
		assert.ok([400, 404, 405].includes(r.status), `release: ${r.status} ${r.text}`);
		assert.ok(!/"value"/.test(r.text), "nothing released");
	});

	test("import RSA: the public part comes back exactly, default key_ops, private parts never", async () => {
		const { privateKey } = rsaKeyPair(2048);
		const jwk = sdkJwkFromPrivate(privateKey);
		const name = uniqueName("imprsa");
		const k = await client.importKey(name, jwk, { tags: { src: "node" } });
		assert.equal(k.keyType, "RSA");
		assert.deepEqual(Buffer.from(k.key.n), Buffer.from(jwk.n));
		assert.deepEqual(Buffer.from(k.key.e), Buffer.from(jwk.e));
		assert.deepEqual(sorted(k.keyOperations), RSA_OPS, "RSA import without key_ops gets the six defaults");
		assert.deepEqual(k.properties.tags, { src: "node" });
		for (const m of ["d", "p", "q", "dp", "dq", "qi"]) assert.equal(k.key[m], undefined, m);
		const w = await wireKey(name);
		assert.equal(w.key.n, b64u(jwk.n));
		// Importing again makes a new version.
		const k2 = await client.importKey(name, jwk);
		assert.notEqual(k2.properties.version, k.properties.version);
		assert.equal((await collect(client.listPropertiesOfKeyVersions(name))).length, 2);
	});

	test("import with Hsm, key_ops, attributes; import of 3072/4096-bit RSA", async () => {
		const { privateKey } = rsaKeyPair(3072);
		const name = uniqueName("imphsm");
		const exp = secsDate(Date.now() / 1000 + 86400);
		const k = await client.importKey(name, sdkJwkFromPrivate(privateKey, { keyOps: ["sign", "verify"] }), {
			hardwareProtected: true,
			enabled: true,
			expiresOn: exp,
		});
		assert.equal(k.keyType, "RSA-HSM", "Hsm: true stores the key as RSA-HSM");
		assert.deepEqual(k.keyOperations, ["sign", "verify"]);
		assert.equal(k.key.n.length, 384);
		assert.equal(k.properties.expiresOn.getTime(), exp.getTime());
		const big = rsaKeyPair(4096).privateKey;
		const k4 = await client.importKey(uniqueName("imp4096"), sdkJwkFromPrivate(big));
		assert.equal(k4.key.n.length, 512);
	});

	test("import EC on every curve and oct of 128/192/256 bits", async () => {
		for (const crv of Object.keys(CURVES)) {
			const { privateKey } = ecKeyPair(crv);
			const jwk = sdkJwkFromPrivate(privateKey);
			const name = uniqueName("impec");
			const k = await client.importKey(name, jwk);
			assert.equal(k.keyType, "EC");
			assert.equal(k.key.crv, crv);
			assert.deepEqual(Buffer.from(k.key.x), Buffer.from(jwk.x), `${crv} x`);
			assert.deepEqual(Buffer.from(k.key.y), Buffer.from(jwk.y), `${crv} y`);
			assert.equal(k.key.d, undefined);
			assert.deepEqual(sorted(k.keyOperations), EC_OPS, `${crv} EC import default key_ops`);
		}
		for (const bytes of [16, 24, 32]) {
			const name = uniqueName("impoct");
			const k = await client.importKey(name, { kty: "oct", k: crypto.randomBytes(bytes) });
			assert.equal(k.keyType, "oct");
			assert.equal(k.key.k, undefined);
			assert.deepEqual(sorted(k.keyOperations), OCT_OPS);
			const w = await wireKey(name);
			assert.deepEqual(Object.keys(w.key).sort(), ["key_ops", "kid", "kty"]);
		}
		const h = await client.importKey(uniqueName("impocthsm"), { kty: "oct", k: crypto.randomBytes(32) }, { hardwareProtected: true });
		assert.equal(h.keyType, "oct-HSM");
	});

	test("a JWK whose kty is RSA-HSM or EC-HSM imports as that type", async () => {
		const rsa = await client.importKey(uniqueName("imprsahsm"), sdkJwkFromPrivate(rsaKeyPair().privateKey, { kty: "RSA-HSM" }));
		assert.equal(rsa.keyType, "RSA-HSM");
		const ec = await client.importKey(uniqueName("impechsm"), sdkJwkFromPrivate(ecKeyPair("P-384").privateKey, { kty: "EC-HSM" }));
		assert.equal(ec.keyType, "EC-HSM");
		assert.equal((await wireKey(ec.name)).key.kty, "EC-HSM");
		const oct = await client.importKey(uniqueName("impocthsm2"), { kty: "oct-HSM", k: crypto.randomBytes(16) });
		assert.equal(oct.keyType, "oct-HSM");
	});

	test("key attestation and release are out of scope: 400 BadParameter (spec §3)", async () => {
		const name = uniqueName("attest");
		const k = await client.createEcKey(name);
		// The spec names GET /keys/{n}/{v}/attestation; without a version the SDK sends
		// /keys/{n}/attestation, which may as well read as an unknown version (404).
		const e = await expectRestError(() => client.getKeyAttestation(name), 400).catch(() =>
			expectRestError(() => client.getKeyAttestation(name), 404),
		);
		assert.ok(e);
		const r = await srv.request("GET", `/keys/${name}/${k.properties.version}/attestation?api-version=2025-07-01`);
		assert.equal(r.status, 400, `GET .../{v}/attestation: ${r.text}`);
		assert.equal(r.json?.error?.code, "BadParameter");
		await expectRestError(() => client.getKeyAttestation(name, { version: k.properties.version }), 400, "BadParameter");
		await expectRestError(() => client.releaseKey(name, "eyJhbGciOiJub25lIn0.e30."), 400, "BadParameter");
	});

	test("import refuses an RSA key without d, a point off the curve and a 1024-bit key (400)", async () => {
		const name = uniqueName("impbad");
		const { privateKey } = rsaKeyPair();
		const jwk = sdkJwkFromPrivate(privateKey);
		delete jwk.d;
		await expectRestError(() => client.importKey(name, jwk), 400, "BadParameter");
		const small = crypto.generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey;
		await expectRestError(() => client.importKey(name, sdkJwkFromPrivate(small)), 400, "BadParameter");
		const ec = sdkJwkFromPrivate(ecKeyPair("P-256").privateKey);
		ec.y = Buffer.from(ec.y);
		ec.y[31] ^= 1;
		await expectRestError(() => client.importKey(name, ec), 400, "BadParameter");
		// A public key only: nothing to keep in a vault.
		const pubOnly = wireJwkFromPrivate(ecKeyPair("P-256").privateKey);
		delete pubOnly.d;
		const r = await srv.request("PUT", `/keys/${name}?${API}`, { body: { key: pubOnly } });
		assert.equal(r.status, 400, r.text);
		assert.equal(r.json?.error?.code, "BadParameter");
		await expectRestError(() => client.getKey(name), 404, "KeyNotFound");
	});

	test("get latest, by version and by an empty version segment; 404 KeyNotFound", async () => {
		const name = uniqueName("get");
		const v1 = await client.createEcKey(name);
		const v2 = await client.createEcKey(name, { enabled: false });
		const latest = await client.getKey(name);
		assert.equal(latest.id, v2.id, "latest is the newest version, enabled or not");
		assert.deepEqual(Buffer.from(latest.key.x), Buffer.from(v2.key.x));
		const old = await client.getKey(name, { version: v1.properties.version });
		assert.equal(old.id, v1.id);
		assert.deepEqual(Buffer.from(old.key.x), Buffer.from(v1.key.x));
		for (const path of [`/keys/${name}/?${API}`, `/keys/${name}?${API}`]) {
			const r = await srv.request("GET", path);
			assert.equal(r.status, 200, `${path}: ${r.text}`);
			assert.equal(r.json.key.kid, v2.id);
		}
		const missing = uniqueName("missing");
		const e = await expectRestError(() => client.getKey(missing), 404, "KeyNotFound");
		assert.match(e.message, /was not found/);
		await expectRestError(() => client.getKey(name, { version: "0123456789abcdef0123456789abcdef" }), 404, "KeyNotFound");
	});

	test("names are case-insensitive and keep the case of their creation", async () => {
		const name = uniqueName("MixedCaseKey");
		const k = await client.createEcKey(name);
		const got = await client.getKey(name.toLowerCase());
		assert.equal(got.name, name);
		assert.equal(got.id, k.id);
		await client.createEcKey(name.toUpperCase());
		assert.equal((await collect(client.listPropertiesOfKeyVersions(name))).length, 2);
		assert.equal((await client.getKey(name)).name, name);
	});

	test("names: 127 characters accepted; 128, underscores, dots refused with 400", async () => {
		const n127 = "k".repeat(100) + "-" + "K".repeat(20) + "012345";
		assert.equal((await client.createEcKey(n127)).name, n127);
		assert.equal((await client.getKey(n127)).name, n127);
		for (const bad of ["k".repeat(128), "bad_name", "a.b", "spa ce"]) {
			await expectRestError(() => client.createEcKey(bad), 400, "BadParameter");
		}
	});

	test("literal route segments are key names in their own place", async () => {
		for (const name of ["restore", "versions", "backup", "create", "rotate", "rotationpolicy"]) {
			const k = await client.createEcKey(name);
			assert.equal(k.name, name);
			assert.equal((await client.getKey(name)).id, k.id);
			assert.equal((await collect(client.listPropertiesOfKeyVersions(name))).length, 1, name);
		}
	});

	test("update key_ops, enabled, nbf, exp and tags; the key material never changes", async () => {
		const name = uniqueName("upd");
		const k = await client.createRsaKey(name, { tags: { a: "1", b: "2" } });
		const nbf = secsDate(Date.now() / 1000 - 3600);
		const exp = secsDate(Date.now() / 1000 + 86400 * 30);
		const u = await client.updateKeyProperties(name, k.properties.version, {
			keyOps: ["sign", "verify"],
			tags: { c: "3" },
			notBefore: nbf,
			expiresOn: exp,
			enabled: false,
		});
		assert.deepEqual(u.keyOperations, ["sign", "verify"], "key_ops in an update replace the list");
		assert.deepEqual(u.properties.tags, { c: "3" }, "tags in an update replace the whole set");
		assert.equal(u.properties.notBefore.getTime(), nbf.getTime());
		assert.equal(u.properties.expiresOn.getTime(), exp.getTime());
		assert.equal(u.properties.enabled, false);
		assert.equal(u.properties.version, k.properties.version);
		assert.deepEqual(Buffer.from(u.key.n), Buffer.from(k.key.n));
		assert.ok(u.properties.updatedOn.getTime() >= k.properties.updatedOn.getTime());
		const got = await client.getKey(name);
		assert.deepEqual(got.keyOperations, ["sign", "verify"]);
		assert.equal(got.properties.enabled, false);
		assert.equal((await collect(client.listPropertiesOfKeyVersions(name))).length, 1, "update makes no version");
		// Only what is named changes; an empty version means the latest.
		const u2 = await client.updateKeyProperties(name, { enabled: true });
		assert.equal(u2.properties.version, k.properties.version);
		assert.deepEqual(u2.properties.tags, { c: "3" });
		assert.deepEqual(u2.keyOperations, ["sign", "verify"]);
		assert.equal(u2.properties.expiresOn.getTime(), exp.getTime());
		// The response JWK still has no private parts.
		const r = await srv.request("PATCH", `/keys/${name}/${k.properties.version}?${API}`, { body: { tags: { d: "4" } } });
		assert.equal(r.status, 200, r.text);
		assert.equal(r.json.key.d, undefined);
		assert.deepEqual(r.json.tags, { d: "4" });
	});

	test("an update to key_ops [] leaves a key that does nothing, but can be widened again", async () => {
		const name = uniqueName("noops");
		const k = await client.createEcKey(name);
		const u = await client.updateKeyProperties(name, k.properties.version, { keyOps: [] });
		assert.deepEqual(u.keyOperations ?? [], []);
		const digest = crypto.randomBytes(32);
		const r = await srv.request("POST", `/keys/${name}/${k.properties.version}/sign?${API}`, { body: { alg: "ES256", value: b64u(digest) } });
		assert.equal(r.status, 403, r.text);
		assert.equal(r.json?.error?.innererror?.code, "KeyOperationForbidden");
		await client.updateKeyProperties(name, k.properties.version, { keyOps: ["sign"] });
		const ok = await srv.request("POST", `/keys/${name}/${k.properties.version}/sign?${API}`, { body: { alg: "ES256", value: b64u(digest) } });
		assert.equal(ok.status, 200, ok.text);
	});

	test("update refuses unknown key_ops and bad attributes (400); unknown key is 404", async () => {
		const name = uniqueName("updbad");
		const k = await client.createEcKey(name);
		for (const body of [{ key_ops: ["frobnicate"] }, { key_ops: "sign" }, { attributes: { enabled: "no" } }, { tags: [1] }]) {
			const r = await srv.request("PATCH", `/keys/${name}/${k.properties.version}?${API}`, { body });
			assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
			assert.equal(r.json?.error?.code, "BadParameter");
		}
		assert.deepEqual(sorted((await client.getKey(name)).keyOperations), EC_OPS, "refused update changed nothing");
		await expectRestError(
			() => client.updateKeyProperties(uniqueName("missing"), "0123456789abcdef0123456789abcdef", { enabled: false }),
			404,
			"KeyNotFound",
		);
	});

	test("tags: 15 accepted, 16 refused", async () => {
		const tags15 = Object.fromEntries(Array.from({ length: 15 }, (_, i) => [`k${i}`, `v${i}`]));
		const k = await client.createEcKey(uniqueName("tags"), { tags: tags15 });
		assert.deepEqual(k.properties.tags, tags15);
		await expectRestError(() => client.createEcKey(uniqueName("tags"), { tags: { ...tags15, k15: "x" } }), 400, "BadParameter");
	});

	test("list keys: one item per name with the versionless kid and the latest attributes, no key material", async () => {
		const name = uniqueName("list");
		await client.createEcKey(name, { tags: { v: "1" } });
		await client.createEcKey(name, { tags: { v: "2" }, enabled: false });
		const items = (await collect(client.listPropertiesOfKeys())).filter((p) => p.name === name);
		assert.equal(items.length, 1);
		assert.equal(items[0].id, `${srv.vaultUrl}/keys/${name}`);
		assert.equal(items[0].enabled, false);
		assert.deepEqual(items[0].tags, { v: "2" });
		let raw;
		for (let path = `/keys?${API}`; path && !raw; ) {
			const r = await srv.request("GET", path);
			assert.equal(r.status, 200, r.text);
			raw = r.json.value.find((i) => i.kid === `${srv.vaultUrl}/keys/${name}`);
			path = r.json.nextLink ? new URL(r.json.nextLink).pathname + new URL(r.json.nextLink).search : null;
		}
		assert.ok(raw, "raw list item uses kid");
		assert.equal(raw.key, undefined, "list items carry no JWK");
		assert.equal(raw.id, undefined, "key list items use kid, not id");
	});

	test("list versions: full kids, paged with maxresults and an absolute nextLink", async () => {
		const name = uniqueName("versions");
		const made = [];
		for (let i = 0; i < 5; i++) made.push(await client.createEcKey(name));
		const versions = await collect(client.listPropertiesOfKeyVersions(name));
		assert.deepEqual(versions.map((v) => v.id).sort(), made.map((m) => m.id).sort());
		for (const v of versions) assert.match(v.version, VERSION_RE);
		const seen = [];
		let path = `/keys/${name}/versions?${API}&maxresults=2`;
		let pages = 0;
		while (path) {
			const r = await srv.request("GET", path);
			assert.equal(r.status, 200, r.text);
			assert.ok(r.json.value.length <= 2);
			seen.push(...r.json.value.map((i) => i.kid));
			pages++;
			if (!r.json.nextLink) break;
			const next = new URL(r.json.nextLink);
			assert.equal(next.origin, srv.vaultUrl, "nextLink is absolute on the request authority");
			path = next.pathname + next.search;
		}
		assert.ok(pages >= 3, `${pages} pages`);
		assert.deepEqual(seen.sort(), made.map((m) => m.id).sort());
		// Versions of an unknown name, and of a deleted one: an empty page, as the service answers.
		const missing = uniqueName("missing");
		assert.deepEqual(await collect(client.listPropertiesOfKeyVersions(missing)), []);
		await (await client.beginDeleteKey(name)).pollUntilDone();
		assert.deepEqual(await collect(client.listPropertiesOfKeyVersions(name)), []);
		for (const n of [missing, name]) {
			for (const q of [API, `${API}&maxresults=2`]) {
				const r = await srv.request("GET", `/keys/${n}/versions?${q}`);
				assert.equal(r.status, 200, r.text);
				assert.deepEqual(r.json, { value: [], nextLink: null });
			}
		}
	});

	test("list keys pages through more than 25 names", async () => {
		const prefix = uniqueName("many");
		for (let i = 0; i < 27; i++) await client.createOctKey(`${prefix}-${i}`, { keySize: 128 });
		const names = (await collect(client.listPropertiesOfKeys())).map((p) => p.name).filter((n) => n.startsWith(`${prefix}-`));
		assert.equal(names.length, 27);
		assert.equal(new Set(names).size, 27);
		const r = await srv.request("GET", `/keys?${API}&maxresults=30`);
		assert.equal(r.status, 200);
		assert.equal(r.json.value.length, 25, "maxresults above 25 is clamped");
		assert.ok(r.json.nextLink);
	});

	test("random bytes: 1..128 bytes, different every call; 0 and 129 are 400", async () => {
		for (const n of [1, 16, 32, 128]) {
			const b = await client.getRandomBytes(n);
			assert.equal(b.length, n);
		}
		const a = Buffer.from(await client.getRandomBytes(32));
		const b = Buffer.from(await client.getRandomBytes(32));
		assert.notDeepEqual(a, b);
		assert.notDeepEqual(a, Buffer.alloc(32));
		for (const count of [0, 129, -1]) await expectRestError(() => client.getRandomBytes(count), 400, "BadParameter");
		const r = await srv.request("POST", `/rng?${API}`, { body: { count: 20 } });
		assert.equal(r.status, 200, r.text);
		assert.match(r.json.value, B64URL_RE);
		assert.equal(Buffer.from(r.json.value, "base64url").length, 20);
		for (const body of [{}, { count: "8" }, { count: 1.5 }]) {
			const bad = await srv.request("POST", `/rng?${API}`, { body });
			assert.equal(bad.status, 400, `${JSON.stringify(body)}: ${bad.text}`);
		}
	});

	test("every supported api-version works for create, get, list and sign", async () => {
		for (const serviceVersion of ["7.0", "7.1", "7.2", "7.3", "7.4", "7.5", "7.6", "2025-07-01"]) {
			const c = new KeyClient(srv.vaultUrl, srv.credential, { serviceVersion });
			const name = uniqueName("api");
			const k = await c.createEcKey(name);
			assert.equal((await c.getKey(name)).id, k.id, serviceVersion);
			assert.equal((await collect(c.listPropertiesOfKeyVersions(name))).length, 1, serviceVersion);
			const crypt = c.getCryptographyClient(name, { keyVersion: k.properties.version });
			const digest = crypto.createHash("sha256").update(serviceVersion).digest();
			const sig = await crypt.sign("ES256", digest);
			assert.equal(sig.result.length, 64, serviceVersion);
			assert.equal((await crypt.verify("ES256", digest, sig.result)).result, true, serviceVersion);
		}
	});
});
