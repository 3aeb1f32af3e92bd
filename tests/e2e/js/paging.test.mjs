// Paging through the SDK and on the wire: more than 25 secrets, more than 25 versions, page
// sizes, nextLink shape. One server of its own so that the vault holds exactly what we count.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { SecretClient } from "@azure/keyvault-secrets";
import { collect, startServer } from "./lib/server.mjs";

const N_SECRETS = 60;
const N_VERSIONS = 30;

async function pageSizes(iter) {
	const sizes = [];
	const items = [];
	for await (const page of iter) {
		sizes.push(page.length);
		items.push(...page);
	}
	return { sizes, items };
}

describe("paging", () => {
	let srv;
	let client;
	const names = [];

	before(async () => {
		srv = await startServer();
		client = new SecretClient(srv.vaultUrl, srv.credential);
		for (let i = 0; i < N_SECRETS; i++) names.push(`page-${String(i).padStart(3, "0")}`);
		// One request alone first: a fresh JS client strips the body of its first request for the
		// challenge round trip, and parallel first requests race in the SDK itself
		// (@azure/keyvault-common: a body can stay stripped, and the server rightly says 400).
		await client.setSecret(names[0], "value 0", { contentType: "ct-0" });
		// Then a few at a time: enough to be quick, few enough to stay polite.
		for (let i = 0; i < names.length; i += 6)
			await Promise.all(
				names.slice(i, i + 6).map((n, j) => client.setSecret(n, `value ${i + j}`, { contentType: `ct-${i + j}` })),
			);
		for (let v = 0; v < N_VERSIONS; v++) await client.setSecret("many-versions", `version ${v}`);
	});
	after(async () => {
		await srv?.close();
	});

	const all = () => [...names, "many-versions"].sort();

	test("default paging lists every secret once, in full pages of 25", async () => {
		const { sizes, items } = await pageSizes(client.listPropertiesOfSecrets().byPage());
		const got = items.map((i) => i.name).sort();
		assert.deepEqual(got, all());
		assert.deepEqual(sizes, [25, 25, 11]);
	});

	test("maxPageSize 25, 7 and 1 give pages of that size", async () => {
		for (const size of [25, 7, 1]) {
			const { sizes, items } = await pageSizes(client.listPropertiesOfSecrets().byPage({ maxPageSize: size }));
			assert.deepEqual(items.map((i) => i.name).sort(), all(), `maxPageSize ${size}`);
			const total = N_SECRETS + 1;
			const expected = Array(Math.floor(total / size)).fill(size);
			if (total % size) expected.push(total % size);
			assert.deepEqual(sizes, expected, `page sizes for maxPageSize ${size}`);
		}
	});

	test("list items carry the versionless id and the latest version's attributes, no value", async () => {
		const items = await collect(client.listPropertiesOfSecrets());
		const item = items.find((i) => i.name === "page-007");
		assert.ok(item);
		assert.equal(item.id, `${srv.vaultUrl}/secrets/page-007`);
		assert.equal(item.contentType, "ct-7");
		assert.equal(item.enabled, true);
		assert.equal(item.version, undefined);
		const r = await srv.request("GET", "/secrets?api-version=7.6&maxresults=25");
		assert.equal(r.status, 200, r.text);
		for (const i of r.json.value) assert.equal(i.value, undefined, "list items never carry a value");
		const mv = items.find((i) => i.name === "many-versions");
		assert.equal(mv.id, `${srv.vaultUrl}/secrets/many-versions`);
	});

	test("list versions pages over 30 versions with distinct versioned ids", async () => {
		const versions = await collect(client.listPropertiesOfSecretVersions("many-versions"));
		assert.equal(versions.length, N_VERSIONS);
		const ids = new Set(versions.map((v) => v.id));
		assert.equal(ids.size, N_VERSIONS);
		for (const v of versions) {
			assert.match(v.version, /^[0-9a-f]{32}$/);
			assert.equal(v.id, `${srv.vaultUrl}/secrets/many-versions/${v.version}`);
		}
		const { sizes } = await pageSizes(client.listPropertiesOfSecretVersions("many-versions").byPage({ maxPageSize: 25 }));
		assert.deepEqual(sizes, [25, 5]);
		const { sizes: s4 } = await pageSizes(client.listPropertiesOfSecretVersions("many-versions").byPage({ maxPageSize: 4 }));
		assert.equal(s4.reduce((a, b) => a + b, 0), N_VERSIONS);
		assert.ok(s4.slice(0, -1).every((n) => n === 4));
		// Every listed version reads back its own value.
		const values = new Set();
		for (const v of versions) values.add((await client.getSecret("many-versions", { version: v.version })).value);
		assert.equal(values.size, N_VERSIONS);
	});

	test("list versions of an unknown name is an empty list, as the service answers", async () => {
		assert.deepEqual(await collect(client.listPropertiesOfSecretVersions("no-such-secret")), []);
		const { sizes } = await pageSizes(client.listPropertiesOfSecretVersions("no-such-secret").byPage({ maxPageSize: 5 }));
		assert.equal(sizes.reduce((a, b) => a + b, 0), 0);
		for (const q of ["api-version=7.6", "api-version=7.6&maxresults=5"]) {
			const r = await srv.request("GET", `/secrets/no-such-secret/versions?${q}`);
			assert.equal(r.status, 200, r.text);
			assert.deepEqual(r.json, { value: [], nextLink: null });
		}
	});

	test("nextLink is absolute on the request authority, with $skiptoken and api-version", async () => {
		const r = await srv.request("GET", "/secrets?api-version=7.6&maxresults=10");
		assert.equal(r.status, 200, r.text);
		assert.equal(r.json.value.length, 10);
		const next = new URL(r.json.nextLink);
		assert.equal(next.origin, srv.vaultUrl);
		assert.equal(next.pathname, "/secrets");
		assert.ok(next.searchParams.get("$skiptoken"), r.json.nextLink);
		assert.ok(next.searchParams.get("api-version"), r.json.nextLink);
		// Following it gives the next items, none repeated.
		const seen = new Set(r.json.value.map((i) => i.id));
		let link = r.json.nextLink;
		let pages = 1;
		while (link) {
			const u = new URL(link);
			const p = await srv.request("GET", u.pathname + u.search);
			assert.equal(p.status, 200, p.text);
			for (const i of p.json.value) {
				assert.ok(!seen.has(i.id), `duplicate ${i.id}`);
				seen.add(i.id);
			}
			link = p.json.nextLink;
			pages++;
			assert.ok(pages < 20, "paging terminates");
		}
		assert.equal(seen.size, N_SECRETS + 1);
		// The last page ends with nextLink null or absent.
	});

	test("nextLink uses the authority the client used (127.0.0.1)", async () => {
		const r = await srv.request("GET", "/secrets?api-version=7.6&maxresults=5", { host: "127.0.0.1" });
		assert.equal(r.status, 200, r.text);
		assert.equal(new URL(r.json.nextLink).origin, srv.url);
		assert.ok(r.json.value.every((i) => i.id.startsWith(`${srv.url}/secrets/`)));
	});

	test("maxresults above 25 is clamped to 25", async () => {
		const r = await srv.request("GET", "/secrets?api-version=7.6&maxresults=100");
		assert.equal(r.status, 200, r.text);
		assert.equal(r.json.value.length, 25);
	});

	test("maxresults 0, -1 or non-numeric is 400 BadParameter", async () => {
		for (const bad of ["0", "-1", "abc", "2.5", ""]) {
			const r = await srv.request("GET", `/secrets?api-version=7.6&maxresults=${bad}`);
			assert.equal(r.status, 400, `maxresults=${bad}: ${r.status} ${r.text}`);
			assert.equal(r.json?.error?.code, "BadParameter");
		}
	});

	test("a garbage or foreign $skiptoken is 400", async () => {
		for (const bad of ["garbage", "%00%01", "eyJmb28iOiJiYXIifQ", "A".repeat(3000)]) {
			const r = await srv.request("GET", `/secrets?api-version=7.6&$skiptoken=${bad}`);
			assert.equal(r.status, 400, `$skiptoken=${bad.slice(0, 20)}: ${r.status} ${r.text}`);
			assert.equal(r.json?.error?.code, "BadParameter");
		}
	});
});
