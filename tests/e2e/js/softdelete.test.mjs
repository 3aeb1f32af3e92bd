// The soft-delete cycle through @azure/keyvault-secrets: delete, get deleted, list deleted,
// recover, purge, the 409 on a deleted name, retention days and recovery levels.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { SecretClient } from "@azure/keyvault-secrets";
import { collect, expectRestError, startServer, uniqueName } from "./lib/server.mjs";

const DAY = 86400;
const secs = (d) => d.getTime() / 1000;
const nowSecs = () => Date.now() / 1000;

describe("soft delete", () => {
	let srv;
	let client;

	before(async () => {
		srv = await startServer();
		client = new SecretClient(srv.vaultUrl, srv.credential);
	});
	after(async () => {
		await srv?.close();
	});

	test("delete -> get deleted -> list deleted -> 409 on set -> recover -> get", async () => {
		const name = uniqueName("sd");
		const v1 = await client.setSecret(name, "first");
		const v2 = await client.setSecret(name, "second", { contentType: "c2", tags: { t: "2" } });

		const t0 = nowSecs();
		const poller = await client.beginDeleteSecret(name);
		const deleted = await poller.pollUntilDone();
		assert.equal(deleted.name, name);
		assert.equal(deleted.value, undefined, "a deleted bundle carries no value");
		assert.equal(deleted.recoveryId, `${srv.vaultUrl}/deletedsecrets/${name}`);
		assert.equal(deleted.properties.id, v2.properties.id, "the deleted bundle is the latest version");
		assert.ok(Math.abs(secs(deleted.deletedOn) - t0) < 30, `deletedOn ${deleted.deletedOn}`);
		assert.equal(secs(deleted.scheduledPurgeDate), secs(deleted.deletedOn) + 90 * DAY);
		assert.equal(deleted.properties.recoveryLevel, "Recoverable+Purgeable");
		assert.equal(deleted.properties.recoverableDays, 90);
		assert.equal(deleted.properties.contentType, "c2");

		await expectRestError(() => client.getSecret(name), 404, "SecretNotFound");
		await expectRestError(() => client.getSecret(name, { version: v1.properties.version }), 404, "SecretNotFound");

		const got = await client.getDeletedSecret(name);
		assert.equal(got.recoveryId, deleted.recoveryId);
		assert.equal(got.deletedOn.getTime(), deleted.deletedOn.getTime());
		assert.equal(got.scheduledPurgeDate.getTime(), deleted.scheduledPurgeDate.getTime());
		assert.equal(got.value, undefined);

		const deletedList = await collect(client.listDeletedSecrets());
		const item = deletedList.find((d) => d.name === name);
		assert.ok(item, "listed among deleted secrets");
		assert.equal(item.recoveryId, deleted.recoveryId);
		assert.equal(item.scheduledPurgeDate.getTime(), deleted.scheduledPurgeDate.getTime());
		const live = await collect(client.listPropertiesOfSecrets());
		assert.ok(!live.some((p) => p.name === name), "not in the live list");

		const conflict = await expectRestError(() => client.setSecret(name, "third"), 409, "Conflict");
		assert.match(conflict.message, /deleted but recoverable/);
		const raw = await srv.request("PUT", `/secrets/${name}?api-version=7.6`, { body: { value: "x" } });
		assert.equal(raw.status, 409);
		assert.equal(raw.json?.error?.innererror?.code, "ObjectIsDeletedButRecoverable");
		// Delete again: the name is not live.
		await expectRestError(async () => (await client.beginDeleteSecret(name)).pollUntilDone(), 404, "SecretNotFound");

		const recovered = await (await client.beginRecoverDeletedSecret(name)).pollUntilDone();
		assert.equal(recovered.name, name);
		assert.equal(recovered.version, v2.properties.version);
		const back = await client.getSecret(name);
		assert.equal(back.value, "second");
		assert.equal(back.properties.contentType, "c2");
		assert.deepEqual(back.properties.tags, { t: "2" });
		assert.equal((await client.getSecret(name, { version: v1.properties.version })).value, "first");
		assert.equal((await collect(client.listPropertiesOfSecretVersions(name))).length, 2);
		await expectRestError(() => client.getDeletedSecret(name), 404);
		assert.ok(!(await collect(client.listDeletedSecrets())).some((d) => d.name === name));
		// Live again: a new version can be set.
		assert.equal((await client.setSecret(name, "third")).value, "third");
	});

	test("delete -> purge -> the name is free and starts over", async () => {
		const name = uniqueName("purge");
		await client.setSecret(name, "old 1");
		await client.setSecret(name, "old 2");
		await (await client.beginDeleteSecret(name)).pollUntilDone();
		const r = await srv.request("DELETE", `/deletedsecrets/${name}?api-version=7.6`);
		assert.equal(r.status, 204, r.text);
		assert.equal(r.text, "");
		await expectRestError(() => client.getDeletedSecret(name), 404);
		await expectRestError(() => client.purgeDeletedSecret(name), 404);
		await expectRestError(() => client.getSecret(name), 404, "SecretNotFound");
		const fresh = await client.setSecret(name, "new");
		assert.equal(fresh.value, "new");
		const versions = await collect(client.listPropertiesOfSecretVersions(name));
		assert.equal(versions.length, 1, "purged versions are gone");
		assert.equal(versions[0].version, fresh.properties.version);
	});

	test("purge through the SDK", async () => {
		const name = uniqueName("purge2");
		await client.setSecret(name, "x");
		await (await client.beginDeleteSecret(name)).pollUntilDone();
		await client.purgeDeletedSecret(name);
		assert.ok(!(await collect(client.listDeletedSecrets())).some((d) => d.name === name));
	});

	test("operations on names in the wrong state are 404", async () => {
		const missing = uniqueName("missing");
		await expectRestError(async () => (await client.beginDeleteSecret(missing)).pollUntilDone(), 404, "SecretNotFound");
		await expectRestError(() => client.getDeletedSecret(missing), 404);
		await expectRestError(() => client.purgeDeletedSecret(missing), 404);
		await expectRestError(async () => (await client.beginRecoverDeletedSecret(missing)).pollUntilDone(), 404);
		// A live name is not a deleted one.
		const live = uniqueName("live");
		await client.setSecret(live, "v");
		await expectRestError(() => client.getDeletedSecret(live), 404);
		await expectRestError(() => client.purgeDeletedSecret(live), 404);
		// (The SDK's recover poller first GETs the secret and stops there when it is live, so ask
		// the server directly.)
		const rec = await srv.request("POST", `/deletedsecrets/${live}/recover?api-version=7.6`);
		assert.equal(rec.status, 404, rec.text);
		assert.equal(rec.json?.error?.code, "SecretNotFound");
		assert.equal((await client.getSecret(live)).value, "v", "the live secret is untouched");
	});

	test("get deleted of a disabled latest version is 403", async () => {
		const name = uniqueName("sddis");
		await client.setSecret(name, "v", { enabled: false });
		// Raw DELETE: the SDK poller would poll the very GET that is refused.
		const r = await srv.request("DELETE", `/secrets/${name}?api-version=7.6`);
		assert.equal(r.status, 200, r.text);
		assert.equal(r.json.value, undefined);
		assert.ok((await collect(client.listDeletedSecrets())).some((d) => d.name === name));
		await expectRestError(() => client.getDeletedSecret(name), 403, "Forbidden");
	});

	test("the deleted list pages", async () => {
		const prefix = uniqueName("many");
		const names = Array.from({ length: 27 }, (_, i) => `${prefix}-${i}`);
		for (const n of names) await client.setSecret(n, "x");
		for (const n of names) await (await client.beginDeleteSecret(n)).pollUntilDone();
		const sizes = [];
		const seen = [];
		for await (const page of client.listDeletedSecrets().byPage({ maxPageSize: 10 })) {
			sizes.push(page.length);
			seen.push(...page.map((d) => d.name));
		}
		assert.ok(sizes.every((s) => s <= 10));
		assert.equal(new Set(seen).size, seen.length, "no duplicates");
		for (const n of names) assert.ok(seen.includes(n), `${n} listed`);
	});
});

describe("soft delete with --retention-days 7", () => {
	let srv;
	let client;

	before(async () => {
		srv = await startServer({ retentionDays: 7 });
		client = new SecretClient(srv.vaultUrl, srv.credential);
	});
	after(async () => {
		await srv?.close();
	});

	test("recoveryLevel CustomizedRecoverable+Purgeable, recoverableDays 7, purge date 7 days on", async () => {
		const name = uniqueName("r7");
		const s = await client.setSecret(name, "x");
		assert.equal(s.properties.recoveryLevel, "CustomizedRecoverable+Purgeable");
		assert.equal(s.properties.recoverableDays, 7);
		const d = await (await client.beginDeleteSecret(name)).pollUntilDone();
		assert.equal(secs(d.scheduledPurgeDate), secs(d.deletedOn) + 7 * DAY);
		assert.equal(d.properties.recoverableDays, 7);
	});
});
