// Interoperability with the `openssl` command line (OpenSSL 3): the public key exported from
// GET /keys (JWK -> PEM with node's crypto.createPublicKey({format: "jwk"})) verifies kluis'
// signatures with `openssl pkeyutl -verify` (RS*, PS*, ES* after r||s -> DER) and encrypts with
// `openssl pkeyutl -encrypt` what kluis decrypts (RSA1_5, RSA-OAEP, RSA-OAEP-256); keys made by
// `openssl genpkey` and imported sign with openssl and verify in kluis, and kluis encrypts what
// `openssl pkeyutl -decrypt` decrypts.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { KeyClient } from "@azure/keyvault-keys";
import { startServer, uniqueName } from "./lib/server.mjs";
import { CURVES, SIGN_ALGS, digestOf, keyPath, publicKeyOf, rawOp, sdkJwkFromPrivate, unb64u } from "./lib/keys.mjs";

/** r||s (each half the curve size) -> DER ECDSA-Sig-Value. */
function rsToDer(sig) {
	const half = sig.length / 2;
	const int = (b) => {
		let i = 0;
		while (i < b.length - 1 && b[i] === 0) i++;
		b = b.subarray(i);
		if (b[0] & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
		return Buffer.concat([Buffer.from([0x02]), derLen(b.length), b]);
	};
	const body = Buffer.concat([int(sig.subarray(0, half)), int(sig.subarray(half))]);
	return Buffer.concat([Buffer.from([0x30]), derLen(body.length), body]);
}
function derLen(n) {
	if (n < 0x80) return Buffer.from([n]);
	if (n < 0x100) return Buffer.from([0x81, n]);
	return Buffer.from([0x82, n >> 8, n & 0xff]);
}
/** DER ECDSA-Sig-Value -> r||s of size bytes each. */
function derToRs(der, size) {
	let p = 2;
	if (der[1] & 0x80) p = 2 + (der[1] & 0x7f);
	const out = [];
	for (let k = 0; k < 2; k++) {
		assert.equal(der[p], 0x02);
		let len = der[p + 1];
		let q = p + 2;
		if (len & 0x80) {
			const nb = len & 0x7f;
			len = 0;
			for (let i = 0; i < nb; i++) len = (len << 8) | der[q + i];
			q += nb;
		}
		let v = der.subarray(q, q + len);
		while (v.length > size && v[0] === 0) v = v.subarray(1);
		out.push(Buffer.concat([Buffer.alloc(size - v.length), v]));
		p = q + len;
	}
	return Buffer.concat(out);
}

describe("keys: openssl command line interop", () => {
	let srv;
	let client;
	let dir;

	before(async () => {
		srv = await startServer();
		client = new KeyClient(srv.vaultUrl, srv.credential);
		dir = fs.mkdtempSync(path.join(os.tmpdir(), "kluis-openssl-"));
		const v = spawnSync("openssl", ["version"], { encoding: "utf8" });
		assert.equal(v.status, 0, `openssl not available: ${v.error || v.stderr}`);
	});
	after(async () => {
		if (dir && !process.env.KLUIS_KEEP) fs.rmSync(dir, { recursive: true, force: true });
		await srv?.close();
	});

	let seq = 0;
	function file(name, data) {
		const p = path.join(dir, `${++seq}-${name}`);
		if (data !== undefined) fs.writeFileSync(p, data);
		return p;
	}
	function openssl(args, what) {
		const r = spawnSync("openssl", args, { encoding: "utf8" });
		return { ok: r.status === 0, out: `${what}: openssl ${args.join(" ")}\nexit ${r.status}\n${r.stdout}${r.stderr}` };
	}
	/** The PEM of a key as GET /keys returns it (raw JWK through node). */
	async function pemFromGet(kid) {
		const r = await srv.request("GET", `${keyPath(kid)}?api-version=7.6`);
		assert.equal(r.status, 200, r.text);
		return file("pub.pem", publicKeyOf(r.json.key).export({ type: "spki", format: "pem" }));
	}
	const pssOpts = (alg) => ["-pkeyopt", "rsa_padding_mode:pss", "-pkeyopt", `rsa_pss_saltlen:${SIGN_ALGS[alg].len}`];

	test("openssl pkeyutl -verify accepts kluis' RS256/384/512 and PS256/384/512 signatures", async () => {
		const k = await client.createRsaKey(uniqueName("osslrsa"), { keySize: 3072 });
		const pub = await pemFromGet(k.id);
		for (const alg of ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]) {
			const data = crypto.randomBytes(200);
			const digest = digestOf(alg, data);
			const r = await rawOp(srv, keyPath(k.id), "sign", { alg, value: digest });
			assert.equal(r.status, 200, r.text);
			const sig = unb64u(r.json.value);
			assert.equal(sig.length, 384);
			const args = ["pkeyutl", "-verify", "-pubin", "-inkey", pub, "-in", file("digest", digest), "-sigfile", file("sig", sig),
				"-pkeyopt", `digest:${SIGN_ALGS[alg].hash}`];
			if (alg.startsWith("PS")) args.push(...pssOpts(alg));
			const v = openssl(args, alg);
			assert.ok(v.ok, v.out);
			// openssl dgst hashes the data itself: the same signature verifies over the message.
			const dg = ["dgst", `-${SIGN_ALGS[alg].hash}`, "-verify", pub, "-signature", file("sig", sig)];
			if (alg.startsWith("PS")) dg.push("-sigopt", "rsa_padding_mode:pss", "-sigopt", `rsa_pss_saltlen:${SIGN_ALGS[alg].len}`);
			const d = openssl([...dg, file("data", data)], `${alg} dgst`);
			assert.ok(d.ok, d.out);
			// A tampered signature does not verify.
			sig[7] ^= 1;
			const tampered = [...args];
			tampered[tampered.indexOf("-sigfile") + 1] = file("sig", sig);
			assert.ok(!openssl(tampered, `${alg} tampered`).ok, `${alg}: tampered accepted`);
		}
	});

	test("openssl verifies kluis' ES256/ES256K/ES384/ES512 signatures (r||s converted to DER)", async () => {
		for (const [crv, spec] of Object.entries(CURVES)) {
			const k = await client.createEcKey(uniqueName("osslec"), { curve: crv });
			const pub = await pemFromGet(k.id);
			const data = crypto.randomBytes(300);
			const digest = digestOf(spec.alg, data);
			const r = await rawOp(srv, keyPath(k.id), "sign", { alg: spec.alg, value: digest });
			assert.equal(r.status, 200, r.text);
			const rs = unb64u(r.json.value);
			assert.equal(rs.length, 2 * spec.size);
			const der = file("sig.der", rsToDer(rs));
			const v = openssl(["pkeyutl", "-verify", "-pubin", "-inkey", pub, "-in", file("digest", digest), "-sigfile", der], spec.alg);
			assert.ok(v.ok, v.out);
			const d = openssl(["dgst", `-${spec.hash}`, "-verify", pub, "-signature", der, file("data", data)], `${spec.alg} dgst`);
			assert.ok(d.ok, d.out);
		}
	});

	test("what openssl pkeyutl -encrypt makes with the exported public key, kluis decrypts", async () => {
		const k = await client.createRsaKey(uniqueName("osslenc"));
		const pub = await pemFromGet(k.id);
		const modes = {
			RSA1_5: ["-pkeyopt", "rsa_padding_mode:pkcs1"],
			"RSA-OAEP": ["-pkeyopt", "rsa_padding_mode:oaep"],
			"RSA-OAEP-256": ["-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256"],
		};
		for (const [alg, opts] of Object.entries(modes)) {
			const pt = crypto.randomBytes(48);
			const out = file("ct");
			const e = openssl(["pkeyutl", "-encrypt", "-pubin", "-inkey", pub, "-in", file("pt", pt), "-out", out, ...opts], alg);
			assert.ok(e.ok, e.out);
			const ct = fs.readFileSync(out);
			assert.equal(ct.length, 256);
			for (const op of ["decrypt", "unwrapkey"]) {
				const r = await rawOp(srv, keyPath(k.id), op, { alg, value: ct });
				assert.equal(r.status, 200, `${alg} ${op}: ${r.text}`);
				assert.deepEqual(unb64u(r.json.value), pt, `${alg} ${op}`);
			}
		}
	});

	test("keys made by openssl genpkey import, sign with openssl, verify in kluis; kluis encrypts, openssl decrypts", async () => {
		const rsaPem = file("rsa.pem");
		let g = openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", rsaPem], "genpkey rsa");
		assert.ok(g.ok, g.out);
		const rsaPriv = crypto.createPrivateKey(fs.readFileSync(rsaPem));
		const rk = await client.importKey(uniqueName("osslimp"), sdkJwkFromPrivate(rsaPriv));
		for (const alg of ["RS256", "PS384", "RS512"]) {
			const digest = digestOf(alg, crypto.randomBytes(30));
			const out = file("sig");
			const args = ["pkeyutl", "-sign", "-inkey", rsaPem, "-in", file("digest", digest), "-out", out, "-pkeyopt", `digest:${SIGN_ALGS[alg].hash}`];
			if (alg.startsWith("PS")) args.push(...pssOpts(alg));
			const s = openssl(args, `sign ${alg}`);
			assert.ok(s.ok, s.out);
			const v = await rawOp(srv, keyPath(rk.id), "verify", { alg, digest, value: fs.readFileSync(out) });
			assert.equal(v.status, 200, v.text);
			assert.equal(v.json.value, true, `kluis verifies openssl's ${alg}`);
		}
		const modes = {
			RSA1_5: ["-pkeyopt", "rsa_padding_mode:pkcs1"],
			"RSA-OAEP": ["-pkeyopt", "rsa_padding_mode:oaep"],
			"RSA-OAEP-256": ["-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256"],
		};
		for (const [alg, opts] of Object.entries(modes)) {
			const pt = crypto.randomBytes(32);
			const r = await rawOp(srv, keyPath(rk.id), "encrypt", { alg, value: pt });
			assert.equal(r.status, 200, r.text);
			const out = file("pt");
			const d = openssl(["pkeyutl", "-decrypt", "-inkey", rsaPem, "-in", file("ct", unb64u(r.json.value)), "-out", out, ...opts], `decrypt ${alg}`);
			assert.ok(d.ok, d.out);
			assert.deepEqual(fs.readFileSync(out), pt, `openssl decrypts kluis ${alg}`);
		}

		for (const [crv, spec] of Object.entries(CURVES)) {
			const ecPem = file("ec.pem");
			g = openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", `ec_paramgen_curve:${spec.openssl}`, "-out", ecPem], `genpkey ${crv}`);
			assert.ok(g.ok, g.out);
			const ek = await client.importKey(uniqueName("osslimpec"), sdkJwkFromPrivate(crypto.createPrivateKey(fs.readFileSync(ecPem))));
			assert.equal(ek.key.crv, crv);
			const digest = digestOf(spec.alg, crypto.randomBytes(30));
			const out = file("sig.der");
			const s = openssl(["pkeyutl", "-sign", "-inkey", ecPem, "-in", file("digest", digest), "-out", out], `sign ${spec.alg}`);
			assert.ok(s.ok, s.out);
			const v = await rawOp(srv, keyPath(ek.id), "verify", { alg: spec.alg, digest, value: derToRs(fs.readFileSync(out), spec.size) });
			assert.equal(v.status, 200, v.text);
			assert.equal(v.json.value, true, `kluis verifies openssl's ${spec.alg}`);
		}
	});

	test("the exported public key is the one openssl derives from the imported private key", async () => {
		const pem = file("k.pem");
		const g = openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:4096", "-out", pem], "genpkey");
		assert.ok(g.ok, g.out);
		const k = await client.importKey(uniqueName("osslpub"), sdkJwkFromPrivate(crypto.createPrivateKey(fs.readFileSync(pem))));
		const fromKluis = fs.readFileSync(await pemFromGet(k.id), "utf8");
		const out = file("pub-openssl.pem");
		const p = openssl(["pkey", "-in", pem, "-pubout", "-out", out], "pkey -pubout");
		assert.ok(p.ok, p.out);
		assert.equal(fromKluis.trim(), fs.readFileSync(out, "utf8").trim());
	});
});
