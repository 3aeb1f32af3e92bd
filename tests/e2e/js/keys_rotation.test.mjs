// Key rotation through @azure/keyvault-keys (spec §3 "Rotation policy"): rotate on demand (same
// type, size or curve and key_ops, new material, old versions keep working), the rotation policy
// (empty before one is set, the Notify action appended, expiryTime applied to new versions, bad
// policies refused with 400, 404 for a missing key), and automatic rotation by the background job.

import assert from "node:assert/strict";
import crypto from "node:crypto";
import { after, before, describe, test } from "node:test";
import { KeyClient } from "@azure/keyvault-keys";
import { collect, expectRestError, startServer, uniqueName } from "./lib/server.mjs";
import { API, digestOf, keyPath, nodeVerify, publicKeyOf, rawOp, rsaKeyPair, sdkJwkFromPrivate, unb64u } from "./lib/keys.mjs";

const DAY = 86400;

describe("keys: rotation", () => {
	let srv;
	let client;

	before(async () => {
		srv = await startServer();
		client = new KeyClient(srv.vaultUrl, srv.credential);
	});
	after(async () => {
		await srv?.close();
	});

	test("rotate RSA: a new version, same size and key_ops, new modulus; the old version still signs", async () => {
		const name = uniqueName("rot");
		const v1 = await client.createRsaKey(name, { keySize: 3072, keyOps: ["sign", "verify", "encrypt"], tags: { t: "1" } });
		const v2 = await client.rotateKey(name);
		assert.equal(v2.name, name);
		assert.notEqual(v2.properties.version, v1.properties.version);
		assert.equal(v2.id, `${srv.vaultUrl}/keys/${name}/${v2.properties.version}`);
		assert.equal(v2.keyType, "RSA");
		assert.equal(v2.key.n.length, 384, "same size");
		assert.notDeepEqual(Buffer.from(v2.key.n), Buffer.from(v1.key.n), "new key material");
		assert.deepEqual([...v2.keyOperations].sort(), ["encrypt", "sign", "verify"], "same key_ops");
		assert.equal((await client.getKey(name)).id, v2.id, "the rotated version is the latest");
		assert.equal((await collect(client.listPropertiesOfKeyVersions(name))).length, 2);
		const data = Buffer.from("after rotation");
		const s1 = unb64u((await rawOp(srv, keyPath(v1.id), "sign", { alg: "PS256", value: digestOf("PS256", data) })).json.value);
		assert.ok(nodeVerify("PS256", data, publicKeyOf(v1), s1), "v1 keeps its key");
		const s2 = unb64u((await rawOp(srv, `/keys/${name}/`, "sign", { alg: "PS256", value: digestOf("PS256", data) })).json.value);
		assert.ok(nodeVerify("PS256", data, publicKeyOf(v2), s2), "latest signs with v2");
	});

	test("rotate EC keeps the curve; rotate oct keeps the size; -HSM labels are kept", async () => {
		const ec = await client.createEcKey(uniqueName("rotec"), { curve: "P-521", hsm: true });
		const ec2 = await client.rotateKey(ec.name);
		assert.equal(ec2.keyType, "EC-HSM");
		assert.equal(ec2.key.crv, "P-521");
		assert.equal(ec2.key.x.length, 66);
		assert.notDeepEqual(Buffer.from(ec2.key.x), Buffer.from(ec.key.x));
		const oct = await client.createOctKey(uniqueName("rotoct"), { keySize: 192 });
		const oct2 = await client.rotateKey(oct.name);
		assert.equal(oct2.keyType, "oct");
		const ok = await rawOp(srv, keyPath(oct2.id), "encrypt", { alg: "A192GCM", value: Buffer.from("x") });
		assert.equal(ok.status, 200, `the rotated oct key is 192 bits: ${ok.text}`);
		const no = await rawOp(srv, keyPath(oct2.id), "encrypt", { alg: "A256GCM", value: Buffer.from("x") });
		assert.equal(no.status, 400, no.text);
	});

	test("rotate a missing key is 404 KeyNotFound", async () => {
		await expectRestError(() => client.rotateKey(uniqueName("missing")), 404, "KeyNotFound");
	});

	test("the policy of a key that never had one is empty", async () => {
		const name = uniqueName("nopol");
		await client.createEcKey(name);
		const p = await client.getKeyRotationPolicy(name);
		assert.deepEqual(p.lifetimeActions ?? [], []);
		assert.equal(p.expiresIn, undefined);
		const r = await srv.request("GET", `/keys/${name}/rotationpolicy?${API}`);
		assert.equal(r.status, 200, r.text);
		assert.deepEqual(r.json.lifetimeActions, []);
		assert.deepEqual(r.json.attributes, {});
		await expectRestError(() => client.getKeyRotationPolicy(uniqueName("missing")), 404, "KeyNotFound");
	});

	test("set a policy: Rotate kept, Notify P30D appended, expiryTime kept, id and dates", async () => {
		const name = uniqueName("pol");
		await client.createRsaKey(name);
		const t0 = Date.now() / 1000 - 5;
		const p = await client.updateKeyRotationPolicy(name, {
			expiresIn: "P90D",
			lifetimeActions: [{ action: "Rotate", timeAfterCreate: "P60D" }],
		});
		assert.equal(p.id, `${srv.vaultUrl}/keys/${name}/rotationpolicy`);
		assert.equal(p.expiresIn, "P90D");
		assert.ok(p.createdOn && p.createdOn.getTime() / 1000 >= t0, `createdOn ${p.createdOn}`);
		assert.ok(p.updatedOn);
		const actions = p.lifetimeActions.map((a) => ({ action: a.action, timeAfterCreate: a.timeAfterCreate, timeBeforeExpiry: a.timeBeforeExpiry }));
		assert.deepEqual(actions, [
			{ action: "Rotate", timeAfterCreate: "P60D", timeBeforeExpiry: undefined },
			{ action: "Notify", timeAfterCreate: undefined, timeBeforeExpiry: "P30D" },
		]);
		const got = await client.getKeyRotationPolicy(name);
		assert.equal(got.id, p.id);
		assert.equal(got.expiresIn, "P90D");
		assert.deepEqual(got.lifetimeActions.map((a) => a.action), ["Rotate", "Notify"]);
	});

	test("a policy with its own Notify gets none appended; months and years are durations too", async () => {
		const name = uniqueName("pol2");
		await client.createEcKey(name);
		const p = await client.updateKeyRotationPolicy(name, {
			expiresIn: "P2Y",
			lifetimeActions: [
				{ action: "Rotate", timeAfterCreate: "P18M" },
				{ action: "Notify", timeBeforeExpiry: "P10D" },
			],
		});
		assert.equal(p.expiresIn, "P2Y");
		assert.deepEqual(
			p.lifetimeActions.map((a) => [a.action, a.timeAfterCreate ?? a.timeBeforeExpiry]),
			[
				["Rotate", "P18M"],
				["Notify", "P10D"],
			],
		);
		// An update replaces the policy.
		const p2 = await client.updateKeyRotationPolicy(name, { lifetimeActions: [{ action: "Notify", timeBeforeExpiry: "P45D" }] });
		assert.deepEqual(p2.lifetimeActions.map((a) => [a.action, a.timeBeforeExpiry]), [["Notify", "P45D"]]);
	});

	test("a policy read back writes back unchanged (the SDK README's get-then-update sample)", async () => {
		// @azure/keyvault-keys' README: `const myPolicy = await client.getKeyRotationPolicy(keyName);
		// const setPolicy = await client.updateKeyRotationPolicy(keyName, myPolicy);`
		for (const first of [
			{ lifetimeActions: [{ action: "Rotate", timeAfterCreate: "P30D" }] },
			{ lifetimeActions: [] },
			{ expiresIn: "P90D", lifetimeActions: [{ action: "Rotate", timeBeforeExpiry: "P30D" }] },
		]) {
			const name = uniqueName("polround");
			await client.createEcKey(name);
			const set = await client.updateKeyRotationPolicy(name, first);
			const read = await client.getKeyRotationPolicy(name);
			const again = await client.updateKeyRotationPolicy(name, read);
			const shape = (p) => ({
				expiresIn: p.expiresIn,
				actions: p.lifetimeActions.map((a) => [a.action, a.timeAfterCreate, a.timeBeforeExpiry]),
			});
			assert.deepEqual(shape(again), shape(set), JSON.stringify(first));
		}
	});

	test("action types compare case-insensitively and come back capitalised", async () => {
		const name = uniqueName("polcase");
		await client.createEcKey(name);
		const r = await srv.request("PUT", `/keys/${name}/rotationpolicy?${API}`, {
			body: {
				lifetimeActions: [{ trigger: { timeAfterCreate: "P30D" }, action: { type: "rotate" } }],
				attributes: { expiryTime: "P60D" },
			},
		});
		assert.equal(r.status, 200, r.text);
		assert.equal(r.json.lifetimeActions[0].action.type, "Rotate");
		assert.equal(r.json.lifetimeActions[1].action.type, "Notify");
		assert.equal(r.json.lifetimeActions[1].trigger.timeBeforeExpiry, "P30D");
		assert.equal(r.json.attributes.expiryTime, "P60D");
		assert.equal(typeof r.json.attributes.created, "number");
	});

	test("rotation with an expiryTime gives the new version exp = now + expiryTime", async () => {
		const name = uniqueName("polexp");
		await client.createRsaKey(name);
		await client.updateKeyRotationPolicy(name, { expiresIn: "P90D", lifetimeActions: [{ action: "Rotate", timeBeforeExpiry: "P30D" }] });
		const t0 = Date.now() / 1000;
		const v2 = await client.rotateKey(name);
		assert.ok(v2.properties.expiresOn, "the rotated version expires");
		const exp = v2.properties.expiresOn.getTime() / 1000;
		assert.ok(Math.abs(exp - (t0 + 90 * DAY)) < 60, `exp ${v2.properties.expiresOn} is now + 90 days`);
	});

	test("bad policies are 400 BadParameter and change nothing; a missing key is 404", async () => {
		const name = uniqueName("polbad");
		await client.createEcKey(name);
		const good = await client.updateKeyRotationPolicy(name, { expiresIn: "P90D", lifetimeActions: [{ action: "Rotate", timeAfterCreate: "P60D" }] });
		const bodies = [
			{ attributes: { expiryTime: "P7D" } },
			{ attributes: { expiryTime: "P27D" } },
			{ attributes: { expiryTime: "90 days" } },
			{ attributes: { expiryTime: "P" } },
			{ attributes: { expiryTime: 90 } },
			{ lifetimeActions: [{ trigger: { timeAfterCreate: "P30D" }, action: { type: "Explode" } }] },
			{ lifetimeActions: [{ trigger: { timeAfterCreate: "soon" }, action: { type: "Rotate" } }] },
			{ lifetimeActions: [{ trigger: {}, action: { type: "Rotate" } }] },
			{ lifetimeActions: [{ trigger: { timeAfterCreate: "P30D" } }] },
			{ lifetimeActions: "Rotate" },
		];
		for (const body of bodies) {
			const r = await srv.request("PUT", `/keys/${name}/rotationpolicy?${API}`, { body });
			assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.status} ${r.text}`);
			assert.equal(r.json?.error?.code, "BadParameter", r.text);
		}
		const after1 = await client.getKeyRotationPolicy(name);
		assert.equal(after1.expiresIn, good.expiresIn);
		assert.deepEqual(after1.lifetimeActions.map((a) => a.action), ["Rotate", "Notify"]);
		// P28D is the least expiryTime allowed.
		const r = await srv.request("PUT", `/keys/${name}/rotationpolicy?${API}`, { body: { attributes: { expiryTime: "P28D" } } });
		assert.equal(r.status, 200, r.text);
		await expectRestError(
			() =>
				client.updateKeyRotationPolicy(uniqueName("missing"), {
					expiresIn: "P90D",
					lifetimeActions: [{ action: "Rotate", timeAfterCreate: "P60D" }],
				}),
			404,
			"KeyNotFound",
		);
	});

	test("rotate an imported RSA-HSM key: same type and size, new material", async () => {
		const { privateKey } = rsaKeyPair(3072);
		const k = await client.importKey(uniqueName("rotimp"), sdkJwkFromPrivate(privateKey), { hardwareProtected: true });
		const r = await client.rotateKey(k.name);
		assert.equal(r.keyType, "RSA-HSM");
		assert.equal(r.key.n.length, 384);
		assert.notDeepEqual(Buffer.from(r.key.n), Buffer.from(k.key.n));
	});

	test("automatic rotation: the background job rotates a key whose Rotate trigger is due, once", async () => {
		// A Rotate action 30 days before expiry on a key that expires in 10 days is due at once.
		// The job runs at start and then every --jobs-interval (60 s by default; 1 s here, so
		// that the test waits seconds, not a minute): wait for it, then restart (another run at
		// start) and check it rotated exactly once.
		const auto = await startServer({ extraArgs: ["--jobs-interval", "1"] });
		try {
			const c = new KeyClient(auto.vaultUrl, auto.credential);
			const name = uniqueName("autorot");
			const due = await c.createRsaKey(name, {
				keyOps: ["sign", "verify"],
				expiresOn: new Date(Math.floor(Date.now() / 1000 + 10 * DAY) * 1000),
			});
			const notDue = await c.createEcKey(uniqueName("autorot-later"), {
				expiresOn: new Date(Math.floor(Date.now() / 1000 + 200 * DAY) * 1000),
			});
			const policy = { expiresIn: "P90D", lifetimeActions: [{ action: "Rotate", timeBeforeExpiry: "P30D" }] };
			await c.updateKeyRotationPolicy(notDue.name, policy);
			await c.updateKeyRotationPolicy(name, policy);
			const deadline = Date.now() + 30000;
			let versions;
			while (Date.now() < deadline) {
				versions = await collect(c.listPropertiesOfKeyVersions(name));
				if (versions.length > 1) break;
				await new Promise((r) => setTimeout(r, 1000));
			}
			assert.equal(versions.length, 2, "rotated by the background job within 30 s");
			const latest = await c.getKey(name);
			assert.notEqual(latest.id, due.id);
			assert.equal(latest.keyType, "RSA");
			assert.equal(latest.key.n.length, 256);
			assert.deepEqual([...latest.keyOperations].sort(), ["sign", "verify"]);
			const exp = latest.properties.expiresOn.getTime() / 1000;
			assert.ok(Math.abs(exp - (Date.now() / 1000 + 90 * DAY)) < 120, `new version expires in 90 days: ${latest.properties.expiresOn}`);
			assert.equal((await collect(c.listPropertiesOfKeyVersions(notDue.name))).length, 1, "a key whose trigger is not due is left alone");
			assert.equal(await auto.restart(), 0);
			await new Promise((r) => setTimeout(r, 2000));
			assert.equal((await collect(c.listPropertiesOfKeyVersions(name))).length, 2, "rotated once, not again");
			assert.equal((await collect(c.listPropertiesOfKeyVersions(notDue.name))).length, 1);
		} finally {
			await auto.close();
		}
	});

	test("automatic rotation leaves a deleted key alone", async () => {
		const auto = await startServer();
		try {
			const c = new KeyClient(auto.vaultUrl, auto.credential);
			const name = uniqueName("autodel");
			const witness = uniqueName("autowitness");
			for (const n of [name, witness]) {
				await c.createEcKey(n, { expiresOn: new Date(Math.floor(Date.now() / 1000 + 200 * DAY) * 1000) });
				await c.updateKeyRotationPolicy(n, { expiresIn: "P90D", lifetimeActions: [{ action: "Rotate", timeBeforeExpiry: "P30D" }] });
			}
			// Make both due, delete one at once, then restart: the job runs at start.
			const soon = new Date(Math.floor(Date.now() / 1000 + 5 * DAY) * 1000);
			await c.updateKeyProperties(name, { expiresOn: soon });
			await (await c.beginDeleteKey(name)).pollUntilDone();
			await c.updateKeyProperties(witness, { expiresOn: soon });
			assert.equal(await auto.restart(), 0);
			const deadline = Date.now() + 15000;
			while (Date.now() < deadline && (await collect(c.listPropertiesOfKeyVersions(witness))).length < 2)
				await new Promise((r) => setTimeout(r, 500));
			assert.equal((await collect(c.listPropertiesOfKeyVersions(witness))).length, 2, "the job ran at start");
			await (await c.beginRecoverDeletedKey(name)).pollUntilDone();
			assert.equal((await collect(c.listPropertiesOfKeyVersions(name))).length, 1, "the deleted key was not rotated");
		} finally {
			await auto.close();
		}
	});

	test("the policy survives a restart", async () => {
		const name = uniqueName("polrestart");
		await client.createEcKey(name);
		await client.updateKeyRotationPolicy(name, { expiresIn: "P100D", lifetimeActions: [{ action: "Rotate", timeAfterCreate: "P70D" }] });
		assert.equal(await srv.restart(), 0);
		const p = await client.getKeyRotationPolicy(name);
		assert.equal(p.expiresIn, "P100D");
		assert.equal(p.lifetimeActions[0].timeAfterCreate, "P70D");
		const digest = crypto.randomBytes(32);
		assert.equal((await rawOp(srv, `/keys/${name}/`, "sign", { alg: "ES256", value: digest })).status, 200, "keys work after a restart");
	});
});
