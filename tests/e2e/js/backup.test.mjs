// Backup and restore through @azure/keyvault-secrets: all versions come back with their ids and
// attributes; live or deleted names refuse a restore; tampered, truncated and foreign blobs are
// refused with 400 and change nothing.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { SecretClient } from "@azure/keyvault-secrets";
import { collect, expectRestError, startServer, uniqueName } from "./lib/server.mjs";

const BAD_BLOB = "Backup blob contains invalid or corrupt version.";
const BAD_BLOB_CODE = "Malformed backup blob";

const b64url = (buf) => Buffer.from(buf).toString("base64url");

describe("backup and restore", () => {
	let srv;
	let client;
	let other; // a second deployment: another data dir, another master key

	before(async () => {
		srv = await startServer();
		client = new SecretClient(srv.vaultUrl, srv.credential);
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
		const live = (await collect(client.listPropertiesOfSecrets())).map((p) => `${p.id}|${p.updatedOn?.getTime()}`);
		const deleted = (await collect(client.listDeletedSecrets())).map((d) => d.name);
		return { live: live.sort(), deleted: deleted.sort() };
	}

	async function makeThreeVersions(name) {
		const vs = [];
		vs.push(await client.setSecret(name, "value one", { contentType: "ct1", tags: { v: "1" } }));
		vs.push(await client.setSecret(name, "value two", { enabled: false }));
		vs.push(await client.setSecret(name, "value three", { contentType: "ct3", tags: { v: "3", w: "x" } }));
		return vs;
	}

	test("restore after purge brings back every version with its id, value and attributes", async () => {
		const name = uniqueName("bk");
		const vs = await makeThreeVersions(name);
		const blob = await client.backupSecret(name);
		assert.ok(blob instanceof Uint8Array && blob.length > 0);
		const text = Buffer.from(blob).toString("latin1");
		for (const v of ["value one", "value two", "value three"]) {
			assert.ok(!text.includes(v), "the blob does not carry values in clear");
			assert.ok(!b64url(blob).includes(b64url(Buffer.from(v))), "nor in base64url");
		}

		await (await client.beginDeleteSecret(name)).pollUntilDone();
		// A deleted name refuses the restore.
		const conflict = await expectRestError(() => client.restoreSecretBackup(blob), 409, "Conflict");
		assert.match(conflict.message, /deleted/i);
		await client.purgeDeletedSecret(name);

		const restored = await client.restoreSecretBackup(blob);
		assert.equal(restored.name, name);
		assert.equal(restored.version, vs[2].properties.version);
		assert.equal(restored.id, vs[2].properties.id);

		const versions = await collect(client.listPropertiesOfSecretVersions(name));
		assert.deepEqual(
			versions.map((v) => v.version).sort(),
			vs.map((v) => v.properties.version).sort(),
			"same version ids",
		);
		const v1 = await client.getSecret(name, { version: vs[0].properties.version });
		assert.equal(v1.value, "value one");
		assert.equal(v1.properties.contentType, "ct1");
		assert.deepEqual(v1.properties.tags, { v: "1" });
		assert.equal(v1.properties.createdOn.getTime(), vs[0].properties.createdOn.getTime());
		await expectRestError(() => client.getSecret(name, { version: vs[1].properties.version }), 403, "Forbidden");
		const latest = await client.getSecret(name);
		assert.equal(latest.value, "value three");
		assert.equal(latest.properties.version, vs[2].properties.version);
		assert.deepEqual(latest.properties.tags, { v: "3", w: "x" });
	});

	test("restore over a live name is 409 and changes nothing", async () => {
		const name = uniqueName("bklive");
		await makeThreeVersions(name);
		const blob = await client.backupSecret(name);
		const newer = await client.setSecret(name, "newer");
		await expectRestError(() => client.restoreSecretBackup(blob), 409);
		const latest = await client.getSecret(name);
		assert.equal(latest.value, "newer");
		assert.equal(latest.properties.version, newer.properties.version);
		assert.equal((await collect(client.listPropertiesOfSecretVersions(name))).length, 4);
	});

	test("backup of a disabled secret works; backup of a missing or deleted name is 404", async () => {
		const name = uniqueName("bkdis");
		await client.setSecret(name, "off", { enabled: false });
		const blob = await client.backupSecret(name);
		assert.ok(blob.length > 0);
		await expectRestError(() => client.backupSecret(uniqueName("missing")), 404, "SecretNotFound");
		// Raw DELETE: the SDK's poller would poll a get-deleted that a disabled secret refuses.
		const r = await srv.request("DELETE", `/secrets/${name}?api-version=7.6`);
		assert.equal(r.status, 200, r.text);
		await expectRestError(() => client.backupSecret(name), 404, "SecretNotFound");
	});

	test("a tampered, truncated or garbage blob is 400 and changes nothing", async () => {
		const name = uniqueName("bktamper");
		await makeThreeVersions(name);
		const blob = Buffer.from(await client.backupSecret(name));
		await (await client.beginDeleteSecret(name)).pollUntilDone();
		await client.purgeDeletedSecret(name);
		const before = await snapshot();

		const bad = [];
		for (const pos of [0, 5, Math.floor(blob.length / 2), blob.length - 1]) {
			const t = Buffer.from(blob);
			t[pos] ^= 0x01;
			bad.push([`bit flipped at ${pos}`, t]);
		}
		bad.push(["truncated", blob.subarray(0, blob.length - 17)]);
		bad.push(["half", blob.subarray(0, blob.length >> 1)]);
		bad.push(["extended", Buffer.concat([blob, Buffer.from("extra")])]);
		bad.push(["garbage", Buffer.from("this is not a backup blob at all")]);
		bad.push(["one byte", Buffer.from([0])]);
		bad.push(["zeros, as in the SDK's own test", new Uint8Array(4728)]);
		for (const [what, b] of bad) {
			let err;
			try {
				await client.restoreSecretBackup(new Uint8Array(b));
			} catch (e) {
				err = e;
			}
			assert.ok(err, `${what}: restore succeeded`);
			assert.equal(err.statusCode, 400, `${what}: ${err.statusCode} ${err.message}`);
			assert.equal(err.code, BAD_BLOB_CODE, `${what}: ${err.code}`);
			// The service's words, which the SDK's own tests compare.
			assert.equal(err.message, BAD_BLOB, what);
		}
		for (const body of ['{"value":""}', '{"value":"!!!not base64!!!"}', '{"value":12}', '{}']) {
			const r = await srv.request("POST", "/secrets/restore?api-version=7.6", {
				body,
				headers: { "content-type": "application/json" },
			});
			assert.equal(r.status, 400, `${body}: ${r.status} ${r.text}`);
			const isBlob = body.startsWith('{"value":"');
			assert.equal(r.json?.error?.code, isBlob ? BAD_BLOB_CODE : "BadParameter");
			if (isBlob) assert.equal(r.json.error.message, BAD_BLOB, body);
		}
		assert.deepEqual(await snapshot(), before, "nothing changed");
		await expectRestError(() => client.getSecret(name), 404);
		// The untampered blob still restores.
		assert.equal((await client.restoreSecretBackup(new Uint8Array(blob))).name, name);
	});

	test("a blob from another deployment is refused with 400", async () => {
		const name = uniqueName("foreign");
		const otherClient = new SecretClient(other.vaultUrl, other.credential);
		await otherClient.setSecret(name, "from elsewhere");
		const blob = await otherClient.backupSecret(name);
		const before = await snapshot();
		const e = await expectRestError(() => client.restoreSecretBackup(blob), 400, BAD_BLOB_CODE);
		assert.equal(e.message, BAD_BLOB);
		assert.deepEqual(await snapshot(), before);
		await expectRestError(() => client.getSecret(name), 404);
		// It is a good blob for its own deployment.
		await (await otherClient.beginDeleteSecret(name)).pollUntilDone();
		await otherClient.purgeDeletedSecret(name);
		assert.equal((await otherClient.restoreSecretBackup(blob)).name, name);
		assert.equal((await otherClient.getSecret(name)).value, "from elsewhere");
	});

	test("backup blob on the wire is base64url without padding", async () => {
		const name = uniqueName("bkwire");
		await client.setSecret(name, "w");
		const r = await srv.request("POST", `/secrets/${name}/backup?api-version=7.6`, {
			headers: { "content-length": "0" },
		});
		assert.equal(r.status, 200, r.text);
		assert.match(r.json.value, /^[A-Za-z0-9_-]+$/);
	});
});
