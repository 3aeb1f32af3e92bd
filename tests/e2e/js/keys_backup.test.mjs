// Backup and restore of keys through @azure/keyvault-keys (spec §3, §9): every version comes
// back with its kid, attributes and the same private key (what was signed before verifies after,
// RS256 signatures are byte-identical); the blob carries no private material in clear; live or
// deleted names refuse a restore; tampered, foreign and secret blobs are refused with 400.

import assert from "node:assert/strict";
import crypto from "node:crypto";
import { after, before, describe, test } from "node:test";
import { KeyClient } from "@azure/keyvault-keys";
import { SecretClient } from "@azure/keyvault-secrets";
import { collect, expectRestError, startServer, uniqueName } from "./lib/server.mjs";
import { API, b64u, digestOf, keyPath, nodeSign, rawOp, rsaKeyPair, sdkJwkFromPrivate, unb64u } from "./lib/keys.mjs";

describe("keys: backup and restore", () => {
	let srv;
	let client;
	let other; // another deployment: another data dir and master key

	before(async () => {
		srv = await startServer();
		client = new KeyClient(srv.vaultUrl, srv.credential);
		other = await startServer();
	});
	after(async () => {
		try {
			await srv?.close();
		} finally {
			await other?.close();
		}
	});

	async function snapshot() {
		const live = (await collect(client.listPropertiesOfKeys())).map((p) => `${p.id}|${p.updatedOn?.getTime()}`);
		const deleted = (await collect(client.listDeletedKeys())).map((d) => d.name);
		return { live: live.sort(), deleted: deleted.sort() };
	}

	async function purge(c, name) {
		await (await c.beginDeleteKey(name)).pollUntilDone();
		await c.purgeDeletedKey(name);
	}

	test("restore after purge: every version, its kid, attributes and the same private key", async () => {
		const name = uniqueName("bk");
		const pair = rsaKeyPair();
		const jwk = sdkJwkFromPrivate(pair.privateKey);
		const v1 = await client.importKey(name, jwk, { tags: { v: "1" } });
		const v2 = await client.createRsaKey(name, { enabled: false, keyOps: ["sign", "verify"] });
		const v3 = await client.createEcKey(name, { curve: "P-384", tags: { v: "3" } });
		const digest = digestOf("RS256", Buffer.from("backup"));
		const sigBefore = unb64u((await rawOp(srv, keyPath(v1.id), "sign", { alg: "RS256", value: digest })).json.value);
		assert.deepEqual(sigBefore, nodeSign("RS256", Buffer.from("backup"), pair.privateKey));

		const blob = Buffer.from(await client.backupKey(name));
		assert.ok(blob.length > 0);
		// No private member of the imported key in the blob, in any encoding.
		const text = blob.toString("latin1");
		for (const m of ["d", "p", "q", "dp", "dq", "qi"]) {
			const raw = Buffer.from(jwk[m]);
			assert.ok(!blob.includes(raw), `raw ${m} in the blob`);
			assert.ok(!text.includes(b64u(raw)), `base64url ${m} in the blob`);
			assert.ok(!text.includes(raw.toString("base64").replace(/=+$/, "")), `base64 ${m} in the blob`);
			assert.ok(!text.includes(raw.toString("hex")), `hex ${m} in the blob`);
		}

		await purge(client, name);
		const restored = await client.restoreKeyBackup(new Uint8Array(blob));
		assert.equal(restored.name, name);
		assert.equal(restored.id, v3.id, "restore answers the latest version");
		assert.equal(restored.keyType, "EC");
		const versions = await collect(client.listPropertiesOfKeyVersions(name));
		assert.deepEqual(versions.map((v) => v.id).sort(), [v1.id, v2.id, v3.id].sort(), "same version ids");
		const g1 = await client.getKey(name, { version: v1.properties.version });
		assert.deepEqual(Buffer.from(g1.key.n), Buffer.from(jwk.n));
		assert.deepEqual(g1.properties.tags, { v: "1" });
		assert.equal(g1.properties.createdOn.getTime(), v1.properties.createdOn.getTime());
		const g2 = await client.getKey(name, { version: v2.properties.version });
		assert.equal(g2.properties.enabled, false);
		assert.deepEqual(g2.keyOperations, ["sign", "verify"]);
		assert.deepEqual(Buffer.from(g2.key.n), Buffer.from(v2.key.n));
		const g3 = await client.getKey(name);
		assert.deepEqual(Buffer.from(g3.key.x), Buffer.from(v3.key.x));
		assert.equal(g3.key.crv, "P-384");
		// The same private key signs the same bytes (RS256 is deterministic).
		const sigAfter = unb64u((await rawOp(srv, keyPath(v1.id), "sign", { alg: "RS256", value: digest })).json.value);
		assert.deepEqual(sigAfter, sigBefore);
		const dis = await rawOp(srv, keyPath(v2.id), "sign", { alg: "RS256", value: digest });
		assert.equal(dis.status, 403, "the disabled version is still disabled");
	});

	test("restore over a live or a deleted name is 409 and changes nothing", async () => {
		const name = uniqueName("bklive");
		await client.createEcKey(name);
		const blob = await client.backupKey(name);
		const newer = await client.createEcKey(name);
		await expectRestError(() => client.restoreKeyBackup(blob), 409);
		assert.equal((await client.getKey(name)).id, newer.id);
		assert.equal((await collect(client.listPropertiesOfKeyVersions(name))).length, 2);
		await (await client.beginDeleteKey(name)).pollUntilDone();
		const e = await expectRestError(() => client.restoreKeyBackup(blob), 409, "Conflict");
		assert.match(e.message, /deleted/i);
		const r = await srv.request("POST", `/keys/restore?${API}`, { body: { value: b64u(blob) } });
		assert.equal(r.status, 409);
		assert.equal(r.json?.error?.innererror?.code, "ObjectIsDeletedButRecoverable");
	});

	test("backup of a missing or deleted key is 404 KeyNotFound; of a disabled key it works", async () => {
		await expectRestError(() => client.backupKey(uniqueName("missing")), 404, "KeyNotFound");
		const name = uniqueName("bkdis");
		await client.createEcKey(name, { enabled: false });
		assert.ok((await client.backupKey(name)).length > 0);
		await (await client.beginDeleteKey(name)).pollUntilDone();
		await expectRestError(() => client.backupKey(name), 404, "KeyNotFound");
	});

	test("tampered, truncated, garbage and secret blobs are 400 and change nothing", async () => {
		const name = uniqueName("bktamper");
		await client.createRsaKey(name);
		await client.createRsaKey(name);
		const blob = Buffer.from(await client.backupKey(name));
		await purge(client, name);
		const secretName = uniqueName("bksecret");
		const secrets = new SecretClient(srv.vaultUrl, srv.credential);
		await secrets.setSecret(secretName, "v");
		const secretBlob = Buffer.from(await secrets.backupSecret(secretName));
		const before = await snapshot();

		const bad = [];
		for (const pos of [0, 5, blob.length >> 1, blob.length - 1]) {
			const t = Buffer.from(blob);
			t[pos] ^= 0x01;
			bad.push([`bit flipped at ${pos}`, t]);
		}
		bad.push(["truncated", blob.subarray(0, blob.length - 17)]);
		bad.push(["extended", Buffer.concat([blob, Buffer.from("extra")])]);
		bad.push(["garbage", Buffer.from("this is not a backup blob at all")]);
		bad.push(["a secret's blob", secretBlob]);
		for (const [what, b] of bad) {
			let err;
			try {
				await client.restoreKeyBackup(new Uint8Array(b));
			} catch (e) {
				err = e;
			}
			assert.ok(err, `${what}: restore succeeded`);
			assert.equal(err.statusCode, 400, `${what}: ${err.statusCode} ${err.message}`);
			assert.equal(err.code, "Malformed backup blob", `${what}: ${err.code}`);
			// The service's words, which the SDK's own tests compare.
			assert.equal(err.message, "Backup blob contains invalid or corrupt version.", what);
		}
		// A key's blob is not a secret's either.
		const e = await expectRestError(() => secrets.restoreSecretBackup(new Uint8Array(blob)), 400, "Malformed backup blob");
		assert.equal(e.message, "Backup blob contains invalid or corrupt version.");
		for (const body of ['{"value":""}', '{"value":"!!!not base64!!!"}', '{"value":12}', "{}"]) {
			const r = await srv.request("POST", `/keys/restore?${API}`, { body, headers: { "content-type": "application/json" } });
			assert.equal(r.status, 400, `${body}: ${r.status} ${r.text}`);
			assert.equal(r.json?.error?.code, body.startsWith('{"value":"') ? "Malformed backup blob" : "BadParameter");
			if (body.startsWith('{"value":"'))
				assert.equal(r.json.error.message, "Backup blob contains invalid or corrupt version.", body);
		}
		assert.deepEqual(await snapshot(), before, "nothing changed");
		await expectRestError(() => client.getKey(name), 404);
		assert.equal((await client.restoreKeyBackup(new Uint8Array(blob))).name, name, "the untampered blob restores");
	});

	test("a blob from another deployment is refused with 400", async () => {
		const name = uniqueName("foreign");
		const otherClient = new KeyClient(other.vaultUrl, other.credential);
		await otherClient.createEcKey(name);
		const blob = await otherClient.backupKey(name);
		const before = await snapshot();
		const e = await expectRestError(() => client.restoreKeyBackup(blob), 400, "Malformed backup blob");
		assert.equal(e.message, "Backup blob contains invalid or corrupt version.");
		assert.deepEqual(await snapshot(), before);
		await purge(otherClient, name);
		assert.equal((await otherClient.restoreKeyBackup(blob)).name, name, "a good blob for its own deployment");
	});

	test("restored oct keys still decrypt what they encrypted before", async () => {
		const name = uniqueName("bkoct");
		const k = await client.createOctKey(name, { keySize: 256 });
		const pt = crypto.randomBytes(40);
		const e = await rawOp(srv, keyPath(k.id), "encrypt", { alg: "A256GCM", value: pt });
		assert.equal(e.status, 200, e.text);
		const blob = await client.backupKey(name);
		await purge(client, name);
		await client.restoreKeyBackup(blob);
		const d = await rawOp(srv, keyPath(k.id), "decrypt", {
			alg: "A256GCM",
			value: unb64u(e.json.value),
			iv: unb64u(e.json.iv),
			tag: unb64u(e.json.tag),
		});
		assert.equal(d.status, 200, d.text);
		assert.deepEqual(unb64u(d.json.value), pt);
	});

	test("backup blob on the wire is base64url without padding", async () => {
		const name = uniqueName("bkwire");
		await client.createEcKey(name);
		const r = await srv.request("POST", `/keys/${name}/backup?${API}`, { headers: { "content-length": "0" } });
		assert.equal(r.status, 200, r.text);
		assert.match(r.json.value, /^[A-Za-z0-9_-]+$/);
	});
});
