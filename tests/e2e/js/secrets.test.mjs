// Every live-secret operation through @azure/keyvault-secrets, unchanged, against a real kluisd:
// set, get (latest, by version), update, limits of values, names and tags, disabled versions,
// api-versions. Soft delete, backup, paging and durability have their own files.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { SecretClient } from "@azure/keyvault-secrets";
import { collect, expectRestError, startServer, uniqueName } from "./lib/server.mjs";

const VERSION_RE = /^[0-9a-f]{32}$/;

describe("secrets", () => {
	let srv;
	let client;

	before(async () => {
		srv = await startServer();
		client = new SecretClient(srv.vaultUrl, srv.credential);
	});
	after(async () => {
		await srv?.close();
	});

	test("set returns the value, a new hex version and an id on the vault authority", async () => {
		const name = uniqueName();
		const t0 = Math.floor(Date.now() / 1000) - 5;
		const s = await client.setSecret(name, "first value", {
			contentType: "text/plain",
			tags: { env: "test", owner: "e2e" },
		});
		assert.equal(s.name, name);
		assert.equal(s.value, "first value");
		assert.match(s.properties.version, VERSION_RE);
		assert.equal(s.properties.id, `${srv.vaultUrl}/secrets/${name}/${s.properties.version}`);
		assert.equal(s.properties.vaultUrl, srv.vaultUrl);
		assert.equal(s.properties.contentType, "text/plain");
		assert.deepEqual(s.properties.tags, { env: "test", owner: "e2e" });
		assert.equal(s.properties.enabled, true);
		assert.equal(s.properties.recoveryLevel, "Recoverable+Purgeable");
		assert.equal(s.properties.recoverableDays, 90);
		assert.ok(s.properties.createdOn instanceof Date);
		const created = s.properties.createdOn.getTime() / 1000;
		assert.ok(created >= t0 && created <= Date.now() / 1000 + 5, `createdOn ${s.properties.createdOn}`);
		assert.equal(s.properties.updatedOn.getTime(), s.properties.createdOn.getTime());
		assert.equal(s.properties.notBefore, undefined);
		assert.equal(s.properties.expiresOn, undefined);

		const s2 = await client.setSecret(name, "second value");
		assert.match(s2.properties.version, VERSION_RE);
		assert.notEqual(s2.properties.version, s.properties.version);
		// A set without contentType/tags makes a version without them.
		assert.equal(s2.properties.contentType, undefined);
		assert.ok(!s2.properties.tags || Object.keys(s2.properties.tags).length === 0);
	});

	test("get latest and get a given version", async () => {
		const name = uniqueName();
		const v1 = await client.setSecret(name, "one");
		const v2 = await client.setSecret(name, "two");
		const latest = await client.getSecret(name);
		assert.equal(latest.value, "two");
		assert.equal(latest.properties.version, v2.properties.version);
		assert.equal(latest.properties.id, v2.properties.id);
		const old = await client.getSecret(name, { version: v1.properties.version });
		assert.equal(old.value, "one");
		assert.equal(old.properties.id, v1.properties.id);
		const cur = await client.getSecret(name, { version: v2.properties.version });
		assert.equal(cur.value, "two");
	});

	test("names are case-insensitive and keep the case of their creation", async () => {
		const name = uniqueName("MixedCase");
		await client.setSecret(name, "a");
		const got = await client.getSecret(name.toLowerCase());
		assert.equal(got.value, "a");
		assert.equal(got.name, name);
		await client.setSecret(name.toUpperCase(), "b");
		const versions = await collect(client.listPropertiesOfSecretVersions(name));
		assert.equal(versions.length, 2);
		const latest = await client.getSecret(name);
		assert.equal(latest.value, "b");
		assert.equal(latest.name, name);
	});

	test("get of an unknown name or version is 404 SecretNotFound", async () => {
		await expectRestError(() => client.getSecret(uniqueName("missing")), 404, "SecretNotFound");
		const name = uniqueName();
		await client.setSecret(name, "x");
		await expectRestError(
			() => client.getSecret(name, { version: "0123456789abcdef0123456789abcdef" }),
			404,
			"SecretNotFound",
		);
	});

	test("update changes contentType, tags, enabled, nbf and exp, never the value", async () => {
		const name = uniqueName();
		const s = await client.setSecret(name, "keep me", { contentType: "a", tags: { a: "1", b: "2" } });
		const nbf = new Date(Math.floor(Date.now() / 1000 - 3600) * 1000);
		const exp = new Date(Math.floor(Date.now() / 1000 + 86400 * 30) * 1000);
		const p = await client.updateSecretProperties(name, s.properties.version, {
			contentType: "application/x-updated",
			tags: { c: "3" },
			notBefore: nbf,
			expiresOn: exp,
		});
		assert.equal(p.contentType, "application/x-updated");
		assert.deepEqual(p.tags, { c: "3" }, "tags in an update replace the whole set");
		assert.equal(p.notBefore.getTime(), nbf.getTime());
		assert.equal(p.expiresOn.getTime(), exp.getTime());
		assert.equal(p.enabled, true);
		assert.equal(p.version, s.properties.version);
		assert.ok(p.updatedOn.getTime() >= s.properties.updatedOn.getTime());
		const got = await client.getSecret(name);
		assert.equal(got.value, "keep me");
		assert.equal(got.properties.contentType, "application/x-updated");
		assert.deepEqual(got.properties.tags, { c: "3" });
		assert.equal(got.properties.notBefore.getTime(), nbf.getTime());
		assert.equal(got.properties.expiresOn.getTime(), exp.getTime());
		// Only one version: update makes none.
		assert.equal((await collect(client.listPropertiesOfSecretVersions(name))).length, 1);
		// An update that names no tags keeps them.
		const p2 = await client.updateSecretProperties(name, s.properties.version, { contentType: "b" });
		assert.deepEqual(p2.tags, { c: "3" });
		assert.equal(p2.contentType, "b");
	});

	test("update of the latest version with an empty version segment", async () => {
		const name = uniqueName();
		await client.setSecret(name, "v1");
		const v2 = await client.setSecret(name, "v2");
		const p = await client.updateSecretProperties(name, "", { contentType: "latest" });
		assert.equal(p.version, v2.properties.version);
		assert.equal((await client.getSecret(name)).properties.contentType, "latest");
	});

	test("update response carries no value", async () => {
		const name = uniqueName();
		const s = await client.setSecret(name, "hidden");
		const r = await srv.request(
			"PATCH",
			`/secrets/${name}/${s.properties.version}?api-version=7.6`,
			{ body: { contentType: "x" } },
		);
		assert.equal(r.status, 200, r.text);
		assert.equal(r.json.value, undefined);
		assert.equal(r.json.contentType, "x");
	});

	test("update of an unknown name or version is 404", async () => {
		await expectRestError(
			() => client.updateSecretProperties(uniqueName("missing"), "0123456789abcdef0123456789abcdef", { enabled: false }),
			404,
			"SecretNotFound",
		);
	});

	test("a disabled version is 403 on get, and still listed, updatable and re-enableable", async () => {
		const name = uniqueName();
		const v1 = await client.setSecret(name, "enabled one");
		const v2 = await client.setSecret(name, "disabled one", { enabled: false });
		assert.equal(v2.properties.enabled, false);
		const err = await expectRestError(() => client.getSecret(name), 403, "Forbidden");
		assert.doesNotMatch(err.message, /disabled one/);
		await expectRestError(() => client.getSecret(name, { version: v2.properties.version }), 403, "Forbidden");
		const raw = await srv.request("GET", `/secrets/${name}/?api-version=7.6`);
		assert.equal(raw.status, 403);
		assert.equal(raw.json?.error?.code, "Forbidden");
		assert.equal(raw.json?.error?.innererror?.code, "SecretDisabled");
		assert.ok(!raw.text.includes("disabled one"));
		// The other version still reads.
		assert.equal((await client.getSecret(name, { version: v1.properties.version })).value, "enabled one");
		// Listed with enabled:false.
		const items = await collect(client.listPropertiesOfSecrets());
		const item = items.find((i) => i.name === name);
		assert.ok(item, "disabled secret is listed");
		assert.equal(item.enabled, false);
		// Update works on a disabled version, and re-enables it.
		const p = await client.updateSecretProperties(name, v2.properties.version, { enabled: true, contentType: "back" });
		assert.equal(p.enabled, true);
		const got = await client.getSecret(name);
		assert.equal(got.value, "disabled one");
		assert.equal(got.properties.contentType, "back");
		// And disabling by update blocks get again.
		await client.updateSecretProperties(name, v1.properties.version, { enabled: false });
		await expectRestError(() => client.getSecret(name, { version: v1.properties.version }), 403, "Forbidden");
	});

	test("nbf and exp are informational: get works outside the window", async () => {
		const name = uniqueName();
		const past = new Date(Math.floor(Date.now() / 1000 - 86400) * 1000);
		const future = new Date(Math.floor(Date.now() / 1000 + 86400) * 1000);
		await client.setSecret(name, "expired", { expiresOn: past });
		assert.equal((await client.getSecret(name)).value, "expired");
		const n2 = uniqueName();
		const s = await client.setSecret(n2, "not yet", { notBefore: future });
		assert.equal(s.properties.notBefore.getTime(), future.getTime());
		assert.equal((await client.getSecret(n2)).value, "not yet");
	});

	test("an empty value is accepted and read back empty", async () => {
		const name = uniqueName();
		const s = await client.setSecret(name, "");
		assert.equal(s.value, "");
		const got = await client.getSecret(name);
		assert.equal(got.value, "");
	});

	test("unicode, quotes, backslashes and control characters round-trip", async () => {
		const values = [
			"héllo wörld ✓ 🔑 日本語 Ελληνικά",
			'quote " backslash \\ slash / tab \t newline \n cr \r',
			"\u0001\u001f\u007f\u2028\u2029\ufeff",
			"-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n",
			"  leading and trailing spaces  ",
		];
		for (const v of values) {
			const name = uniqueName("u");
			const s = await client.setSecret(name, v);
			assert.equal(s.value, v);
			assert.equal((await client.getSecret(name)).value, v);
		}
	});

	test("a value of 25600 bytes is accepted; 25601 bytes is 400 BadParameter", async () => {
		const name = uniqueName();
		const big = "x".repeat(25600);
		const s = await client.setSecret(name, big);
		assert.equal(s.value.length, 25600);
		assert.equal((await client.getSecret(name)).value, big);
		// The limit is in UTF-8 bytes: 12800 two-byte characters fit, one more ASCII does not.
		const wide = "é".repeat(12800);
		assert.equal((await client.setSecret(uniqueName(), wide)).value, wide);
		const before = await collect(client.listPropertiesOfSecretVersions(name));
		await expectRestError(() => client.setSecret(name, big + "y"), 400, "BadParameter");
		await expectRestError(() => client.setSecret(uniqueName(), wide + "y"), 400, "BadParameter");
		const afterV = await collect(client.listPropertiesOfSecretVersions(name));
		assert.equal(afterV.length, before.length, "a refused set makes no version");
	});

	test("names: 127 characters accepted, 128 and bad characters refused with 400", async () => {
		const n127 = "a".repeat(100) + "-" + "B".repeat(20) + "012345";
		assert.equal(n127.length, 127);
		assert.equal((await client.setSecret(n127, "ok")).name, n127);
		assert.equal((await client.getSecret(n127)).value, "ok");
		for (const bad of ["a".repeat(128), "bad_name", "a.b", "spa ce", "ünï"]) {
			await expectRestError(() => client.setSecret(bad, "v"), 400, "BadParameter");
		}
	});

	test("tags: 15 accepted, 16 refused; contentType up to 255 characters", async () => {
		const tags15 = Object.fromEntries(Array.from({ length: 15 }, (_, i) => [`k${i}`, `v${i}`]));
		const name = uniqueName();
		const s = await client.setSecret(name, "t", { tags: tags15 });
		assert.deepEqual(s.properties.tags, tags15);
		const tags16 = { ...tags15, k15: "v15" };
		await expectRestError(() => client.setSecret(uniqueName(), "t", { tags: tags16 }), 400, "BadParameter");
		await expectRestError(
			() => client.updateSecretProperties(name, s.properties.version, { tags: tags16 }),
			400,
			"BadParameter",
		);
		assert.deepEqual((await client.getSecret(name)).properties.tags, tags15, "refused update changed nothing");
		const ct255 = "c".repeat(255);
		assert.equal((await client.setSecret(uniqueName(), "t", { contentType: ct255 })).properties.contentType, ct255);
		await expectRestError(
			() => client.setSecret(uniqueName(), "t", { contentType: ct255 + "c" }),
			400,
			"BadParameter",
		);
	});

	test("literal route segments are names under PUT: a secret named restore, versions, backup", async () => {
		for (const name of ["restore", "versions", "backup"]) {
			const s = await client.setSecret(name, `named ${name}`);
			assert.equal(s.name, name);
			assert.equal((await client.getSecret(name)).value, `named ${name}`);
		}
	});

	test("every supported api-version works for set and get", async () => {
		for (const serviceVersion of ["7.0", "7.1", "7.2", "7.3", "7.4", "7.5", "7.6", "2025-07-01"]) {
			const c = new SecretClient(srv.vaultUrl, srv.credential, { serviceVersion });
			const name = uniqueName("api");
			const s = await c.setSecret(name, serviceVersion);
			assert.equal(s.value, serviceVersion);
			assert.equal((await c.getSecret(name)).value, serviceVersion, `api-version ${serviceVersion}`);
			assert.ok((await collect(c.listPropertiesOfSecretVersions(name))).length === 1);
		}
	});

	test("responses carry x-ms-request-id and echo x-ms-client-request-id", async () => {
		const name = uniqueName();
		await client.setSecret(name, "h");
		const ids = new Set();
		for (const [path, status] of [
			[`/secrets/${name}?api-version=7.6`, 200],
			[`/secrets/${uniqueName("missing")}?api-version=7.6`, 404],
			[`/secrets?api-version=7.6`, 200],
		]) {
			const cid = `client-${Math.random().toString(16).slice(2)}`;
			const r = await srv.request("GET", path, { headers: { "x-ms-client-request-id": cid } });
			assert.equal(r.status, status, r.text);
			assert.equal(r.headers["x-ms-client-request-id"], cid);
			assert.ok(r.headers["x-ms-request-id"], "x-ms-request-id present");
			ids.add(r.headers["x-ms-request-id"]);
			assert.match(r.headers["content-type"] ?? "", /^application\/json/);
		}
		assert.equal(ids.size, 3, "request ids are unique");
		const unauth = await srv.request("GET", `/secrets/${name}?api-version=7.6`, {
			token: false,
			headers: { "x-ms-client-request-id": "cid-401" },
		});
		assert.equal(unauth.status, 401);
		assert.equal(unauth.headers["x-ms-client-request-id"], "cid-401");
		assert.ok(unauth.headers["x-ms-request-id"]);
	});

	test("the SDK's own client request id is echoed", async () => {
		const name = uniqueName();
		let seen;
		await client.setSecret(name, "x", {
			onResponse: (raw) => {
				seen = raw;
			},
		});
		assert.ok(seen, "onResponse was called");
		const sent = seen.request.headers.get("x-ms-client-request-id");
		assert.ok(sent);
		assert.equal(seen.headers.get("x-ms-client-request-id"), sent);
		assert.ok(seen.headers.get("x-ms-request-id"));
	});
});
