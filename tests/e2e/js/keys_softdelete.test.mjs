// The soft-delete cycle of keys through @azure/keyvault-keys (spec §5): delete, get deleted,
// list deleted, the 409 on a deleted name, crypto refused while deleted, recover (the same key
// material signs again), purge (the name is free, the old material gone), retention days.

import assert from "node:assert/strict";
import crypto from "node:crypto";
import { after, before, describe, test } from "node:test";
import { KeyClient } from "@azure/keyvault-keys";
import { collect, expectRestError, startServer, uniqueName } from "./lib/server.mjs";
import { API, digestOf, keyPath, nodeVerify, publicKeyOf, rawOp, rsaKeyPair, sdkJwkFromPrivate, unb64u } from "./lib/keys.mjs";

const DAY = 86400;
const secs = (d) => d.getTime() / 1000;

describe("keys: soft delete", () => {
	let srv;
	let client;

	before(async () => {
		srv = await startServer();
		client = new KeyClient(srv.vaultUrl, srv.credential);
	});
	after(async () => {
		await srv?.close();
	});

	test("delete -> get deleted -> list deleted -> 409 -> recover -> the same key signs again", async () => {
		const name = uniqueName("sd");
		const v1 = await client.createRsaKey(name, { tags: { v: "1" } });
		const v2 = await client.createRsaKey(name, { tags: { v: "2" }, keyOps: ["sign", "verify"] });
		const data = Buffer.from("signed before delete");
		const digest = digestOf("RS256", data);
		const before1 = unb64u((await rawOp(srv, keyPath(v1.id), "sign", { alg: "RS256", value: digest })).json.value);

		const t0 = Date.now() / 1000;
		const deleted = await (await client.beginDeleteKey(name)).pollUntilDone();
		assert.equal(deleted.name, name);
		assert.equal(deleted.properties.recoveryId, `${srv.vaultUrl}/deletedkeys/${name}`);
		assert.equal(deleted.id, v2.id, "the deleted bundle is the latest version");
		assert.equal(deleted.key.kid, v2.id);
		assert.deepEqual(Buffer.from(deleted.key.n), Buffer.from(v2.key.n), "the deleted bundle carries the public key");
		assert.equal(deleted.key.d, undefined);
		assert.deepEqual(deleted.keyOperations, ["sign", "verify"]);
		assert.ok(Math.abs(secs(deleted.properties.deletedOn) - t0) < 30, `deletedOn ${deleted.properties.deletedOn}`);
		assert.equal(secs(deleted.properties.scheduledPurgeDate), secs(deleted.properties.deletedOn) + 90 * DAY);
		assert.equal(deleted.properties.recoveryLevel, "Recoverable+Purgeable");
		assert.equal(deleted.properties.recoverableDays, 90);
		assert.deepEqual(deleted.properties.tags, { v: "2" });

		const raw = await srv.request("GET", `/deletedkeys/${name}?${API}`);
		assert.equal(raw.status, 200, raw.text);
		assert.equal(raw.json.recoveryId, `${srv.vaultUrl}/deletedkeys/${name}`);
		assert.equal(typeof raw.json.deletedDate, "number");
		assert.equal(typeof raw.json.scheduledPurgeDate, "number");
		for (const m of ["d", "p", "q", "dp", "dq", "qi"]) assert.equal(raw.json.key[m], undefined, m);

		await expectRestError(() => client.getKey(name), 404, "KeyNotFound");
		await expectRestError(() => client.getKey(name, { version: v1.properties.version }), 404, "KeyNotFound");
		// No crypto with a deleted key, by any version.
		for (const path of [keyPath(v1.id), keyPath(v2.id), `/keys/${name}/`]) {
			const r = await rawOp(srv, path, "sign", { alg: "RS256", value: digest });
			assert.equal(r.status, 404, `${path}: ${r.text}`);
			assert.equal(r.json?.error?.code, "KeyNotFound");
		}
		const upd = await srv.request("PATCH", `/keys/${name}/${v2.properties.version}?${API}`, { body: { tags: {} } });
		assert.equal(upd.status, 404, upd.text);

		const got = await client.getDeletedKey(name);
		assert.equal(got.properties.recoveryId, deleted.properties.recoveryId);
		assert.equal(got.properties.deletedOn.getTime(), deleted.properties.deletedOn.getTime());
		assert.equal(got.properties.scheduledPurgeDate.getTime(), deleted.properties.scheduledPurgeDate.getTime());
		assert.deepEqual(Buffer.from(got.key.n), Buffer.from(v2.key.n));

		const item = (await collect(client.listDeletedKeys())).find((d) => d.name === name);
		assert.ok(item, "listed among deleted keys");
		assert.equal(item.properties.recoveryId, deleted.properties.recoveryId);
		assert.equal(item.id, `${srv.vaultUrl}/keys/${name}`, "deleted list items carry the versionless kid");
		assert.ok(!(await collect(client.listPropertiesOfKeys())).some((p) => p.name === name), "not in the live list");

		const conflict = await expectRestError(() => client.createRsaKey(name), 409, "Conflict");
		assert.match(conflict.message, /deleted but recoverable/);
		const { privateKey } = rsaKeyPair();
		await expectRestError(() => client.importKey(name, sdkJwkFromPrivate(privateKey)), 409, "Conflict");
		const rawc = await srv.request("POST", `/keys/${name}/create?${API}`, { body: { kty: "EC" } });
		assert.equal(rawc.status, 409);
		assert.equal(rawc.json?.error?.innererror?.code, "ObjectIsDeletedButRecoverable");
		await expectRestError(() => client.rotateKey(name), 404, "KeyNotFound");
		// Delete again: the name is not live.
		await expectRestError(async () => (await client.beginDeleteKey(name)).pollUntilDone(), 404, "KeyNotFound");

		const recovered = await (await client.beginRecoverDeletedKey(name)).pollUntilDone();
		assert.equal(recovered.name, name);
		assert.equal(recovered.id, v2.id);
		const back = await client.getKey(name);
		assert.deepEqual(Buffer.from(back.key.n), Buffer.from(v2.key.n));
		assert.deepEqual(back.keyOperations, ["sign", "verify"]);
		assert.deepEqual(back.properties.tags, { v: "2" });
		assert.equal((await collect(client.listPropertiesOfKeyVersions(name))).length, 2);
		await expectRestError(() => client.getDeletedKey(name), 404, "KeyNotFound");
		// The same private keys: v1 signs identically (RS256 is deterministic), v2 verifies with its public key.
		const after1 = unb64u((await rawOp(srv, keyPath(v1.id), "sign", { alg: "RS256", value: digest })).json.value);
		assert.deepEqual(after1, before1, "v1 signs as before the delete");
		const s2 = unb64u((await rawOp(srv, `/keys/${name}/`, "sign", { alg: "RS256", value: digest })).json.value);
		assert.ok(nodeVerify("RS256", data, publicKeyOf(v2), s2));
		// Live again: a new version can be created.
		await client.createRsaKey(name);
		assert.equal((await collect(client.listPropertiesOfKeyVersions(name))).length, 3);
	});

	test("purge: 204, the name is free, the old key material is gone", async () => {
		const name = uniqueName("purge");
		const old = await client.createEcKey(name);
		const digest = crypto.randomBytes(32);
		await (await client.beginDeleteKey(name)).pollUntilDone();
		const r = await srv.request("DELETE", `/deletedkeys/${name}?${API}`);
		assert.equal(r.status, 204, r.text);
		assert.equal(r.text, "");
		await expectRestError(() => client.getDeletedKey(name), 404, "KeyNotFound");
		await expectRestError(() => client.getKey(name), 404, "KeyNotFound");
		assert.ok(!(await collect(client.listDeletedKeys())).some((d) => d.name === name));
		const opOld = await rawOp(srv, keyPath(old.id), "sign", { alg: "ES256", value: digest });
		assert.equal(opOld.status, 404, opOld.text);
		// The name is free: a fresh key, new material, one version.
		const fresh = await client.createEcKey(name);
		assert.notDeepEqual(Buffer.from(fresh.key.x), Buffer.from(old.key.x));
		assert.equal((await collect(client.listPropertiesOfKeyVersions(name))).length, 1);
		const msg = Buffer.from("fresh");
		const s2 = unb64u((await rawOp(srv, `/keys/${name}/`, "sign", { alg: "ES256", value: digestOf("ES256", msg) })).json.value);
		assert.ok(nodeVerify("ES256", msg, publicKeyOf(fresh), s2), "the new key signs");
		assert.ok(!nodeVerify("ES256", msg, publicKeyOf(old), s2), "not with the purged key");
		await expectRestError(() => client.rotateKey(uniqueName("missing")), 404, "KeyNotFound");
	});

	test("the rotation policy: 404 while deleted, kept by recover, gone with purge", async () => {
		const name = uniqueName("sdpol");
		await client.createEcKey(name);
		await client.updateKeyRotationPolicy(name, { expiresIn: "P90D", lifetimeActions: [{ action: "Rotate", timeAfterCreate: "P60D" }] });
		await (await client.beginDeleteKey(name)).pollUntilDone();
		await expectRestError(() => client.getKeyRotationPolicy(name), 404, "KeyNotFound");
		await expectRestError(
			() => client.updateKeyRotationPolicy(name, { expiresIn: "P90D", lifetimeActions: [{ action: "Rotate", timeAfterCreate: "P30D" }] }),
			404,
			"KeyNotFound",
		);
		await (await client.beginRecoverDeletedKey(name)).pollUntilDone();
		const kept = await client.getKeyRotationPolicy(name);
		assert.equal(kept.expiresIn, "P90D");
		assert.equal(kept.lifetimeActions[0].timeAfterCreate, "P60D");
		await (await client.beginDeleteKey(name)).pollUntilDone();
		await client.purgeDeletedKey(name);
		await client.createEcKey(name);
		const fresh = await client.getKeyRotationPolicy(name);
		assert.deepEqual(fresh.lifetimeActions ?? [], [], "a purged key's policy does not come back with the name");
		assert.equal(fresh.expiresIn, undefined);
	});

	test("purge of a live or unknown name, recover of an unknown name: 404", async () => {
		const name = uniqueName("live");
		await client.createEcKey(name);
		await expectRestError(() => client.purgeDeletedKey(name), 404, "KeyNotFound");
		await expectRestError(() => client.purgeDeletedKey(uniqueName("missing")), 404, "KeyNotFound");
		await expectRestError(async () => (await client.beginRecoverDeletedKey(uniqueName("missing"))).pollUntilDone(), 404, "KeyNotFound");
		assert.ok(await client.getKey(name));
	});

	test("a disabled key can be deleted, listed as deleted and recovered", async () => {
		const name = uniqueName("sddis");
		await client.createEcKey(name, { enabled: false });
		const d = await (await client.beginDeleteKey(name)).pollUntilDone();
		assert.equal(d.properties.enabled, false);
		const back = await (await client.beginRecoverDeletedKey(name)).pollUntilDone();
		assert.equal(back.properties.enabled, false);
	});

	test("deleted keys list pages with maxresults", async () => {
		const prefix = uniqueName("sdpage");
		for (let i = 0; i < 4; i++) {
			await client.createOctKey(`${prefix}-${i}`, { keySize: 128 });
			await (await client.beginDeleteKey(`${prefix}-${i}`)).pollUntilDone();
		}
		const seen = [];
		let path = `/deletedkeys?${API}&maxresults=1`;
		while (path) {
			const r = await srv.request("GET", path);
			assert.equal(r.status, 200, r.text);
			assert.ok(r.json.value.length <= 1);
			for (const i of r.json.value) {
				assert.ok(i.kid && i.recoveryId && i.deletedDate && i.scheduledPurgeDate, JSON.stringify(i));
				assert.equal(i.key, undefined, "deleted list items carry no JWK");
				seen.push(i.kid);
			}
			path = r.json.nextLink ? new URL(r.json.nextLink).pathname + new URL(r.json.nextLink).search : null;
		}
		for (let i = 0; i < 4; i++) assert.ok(seen.includes(`${srv.vaultUrl}/keys/${prefix}-${i}`), `${prefix}-${i} listed`);
	});

	test("a short retention shows in scheduledPurgeDate and the recovery level", async () => {
		const short = await startServer({ retentionDays: 7 });
		try {
			const c = new KeyClient(short.vaultUrl, short.credential);
			const name = uniqueName("ret");
			const k = await c.createEcKey(name);
			assert.equal(k.properties.recoverableDays, 7);
			assert.equal(k.properties.recoveryLevel, "CustomizedRecoverable+Purgeable");
			const d = await (await c.beginDeleteKey(name)).pollUntilDone();
			assert.equal(secs(d.properties.scheduledPurgeDate), secs(d.properties.deletedOn) + 7 * DAY);
		} finally {
			await short.close();
		}
	});
});
