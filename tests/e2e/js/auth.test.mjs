// Authentication and vault addressing: the 401 challenge the SDKs verify, wrong tokens, the
// default vault under 127.0.0.1 and localhost, unknown vaults, api-version errors.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { SecretClient } from "@azure/keyvault-secrets";
import { expectRestError, staticCredential, startServer, uniqueName } from "./lib/server.mjs";

describe("authentication and addressing", () => {
	let srv;
	let client;
	let name;

	before(async () => {
		srv = await startServer();
		client = new SecretClient(srv.vaultUrl, srv.credential);
		name = uniqueName("auth");
		await client.setSecret(name, "guarded");
	});
	after(async () => {
		await srv?.close();
	});

	test("no token: 401 Unauthorized with the challenge the SDKs verify", async () => {
		for (const [method, path, body] of [
			["GET", `/secrets/${name}?api-version=7.6`],
			["GET", "/secrets?api-version=7.3"],
			["PUT", `/secrets/${name}?api-version=2025-07-01`, ""],
			["DELETE", `/secrets/${name}?api-version=7.6`],
			["POST", `/secrets/${name}/backup?api-version=7.6`],
		]) {
			const r = await srv.request(method, path, { token: false, body });
			assert.equal(r.status, 401, `${method} ${path}: ${r.text}`);
			const www = r.headers["www-authenticate"];
			assert.ok(www, "WWW-Authenticate present");
			const m = www.match(/^Bearer authorization="(https:\/\/[^"]+)", resource="([^"]+)"$/);
			assert.ok(m, `challenge shape: ${www}`);
			const authz = new URL(m[1]);
			const tenant = authz.pathname.replace(/^\//, "");
			assert.ok(tenant.length > 0 && !tenant.includes("/"), `one tenant path segment: ${m[1]}`);
			assert.match(tenant, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, "tenant is a GUID");
			assert.equal(m[2], `https://vault.localhost:${srv.port}`);
			assert.equal(r.json?.error?.code, "Unauthorized");
			assert.ok(r.json?.error?.message);
		}
		assert.equal((await client.getSecret(name)).value, "guarded", "nothing changed");
	});

	test("wrong, empty or malformed tokens: 401 with the challenge", async () => {
		for (const authorization of [
			"Bearer wrong-token",
			`Bearer ${srv.token}x`,
			`Bearer ${srv.token.slice(0, -1)}`,
			"Bearer ",
			"Basic dXNlcjpwYXNz",
			srv.token,
			`bearer${srv.token}`,
		]) {
			const r = await srv.request("GET", `/secrets/${name}?api-version=7.6`, {
				token: false,
				headers: { authorization },
			});
			assert.equal(r.status, 401, `${authorization.slice(0, 12)}…: ${r.status}`);
			assert.ok(r.headers["www-authenticate"]);
			assert.ok(!r.text.includes("guarded"));
		}
	});

	test("the Bearer scheme is case-insensitive", async () => {
		const r = await srv.request("GET", `/secrets/${name}?api-version=7.6`, {
			token: false,
			headers: { authorization: `bearer ${srv.token}` },
		});
		assert.equal(r.status, 200, r.text);
	});

	test("an SDK client with a wrong token gets RestError 401 and writes nothing", async () => {
		const bad = new SecretClient(srv.vaultUrl, staticCredential("not-the-token"));
		const target = uniqueName("nope");
		await expectRestError(() => bad.setSecret(target, "x"), 401);
		await expectRestError(() => client.getSecret(target), 404);
	});

	test("the SDK asks its credential for the challenge's scope and tenant", async () => {
		const calls = [];
		const cred = {
			getToken: async (scopes, options) => {
				calls.push({ scopes, tenantId: options?.tenantId });
				return { token: srv.token, expiresOnTimestamp: Date.now() + 3600e3 };
			},
		};
		const c = new SecretClient(srv.vaultUrl, cred);
		assert.equal((await c.getSecret(name)).value, "guarded");
		assert.ok(calls.length >= 1);
		const scopes = [].concat(calls[0].scopes);
		assert.deepEqual(scopes, [`https://vault.localhost:${srv.port}/.default`]);
		assert.ok(calls[0].tenantId, "a tenant from the challenge");
	});

	test("127.0.0.1 and localhost address the default vault (challenge check disabled)", async () => {
		for (const url of [srv.url, `https://localhost:${srv.port}`]) {
			const c = new SecretClient(url, srv.credential, { disableChallengeResourceVerification: true });
			const got = await c.getSecret(name);
			assert.equal(got.value, "guarded", url);
			assert.ok(got.properties.id.startsWith(`${url}/secrets/${name}/`), `id on ${url}: ${got.properties.id}`);
			const n2 = uniqueName("ip");
			await c.setSecret(n2, "via ip");
			assert.equal((await client.getSecret(n2)).value, "via ip", "same vault");
		}
	});

	test("127.0.0.1 without disabling the check is refused by the SDK itself", async () => {
		const c = new SecretClient(srv.url, srv.credential);
		await assert.rejects(() => c.getSecret(name), /challenge resource/i);
	});

	test("an unknown vault name is 404 with a JSON error", async () => {
		const host = "nosuch.vault.localhost";
		const r = await srv.request("GET", `/secrets/${name}?api-version=7.6`, { host });
		assert.equal(r.status, 404, r.text);
		assert.ok(r.json?.error?.code, `JSON error body: ${r.text}`);
		const put = await srv.request("PUT", `/secrets/${name}?api-version=7.6`, { host, body: { value: "x" } });
		assert.equal(put.status, 404, put.text);
		const c = new SecretClient(`https://${host}:${srv.port}`, srv.credential);
		await expectRestError(() => c.getSecret(name), 404);
		assert.equal((await client.getSecret(name)).value, "guarded");
	});

	test("unknown api-version: 400 BadParameter with the service's message", async () => {
		const r = await srv.request("GET", `/secrets/${name}?api-version=1999-01-01`);
		assert.equal(r.status, 400, r.text);
		assert.equal(r.json?.error?.code, "BadParameter");
		assert.match(r.json.error.message, /^The specified version \(1999-01-01\) is not recognized\. Consider using the latest supported version \(.+\)\.$/);
		const c = new SecretClient(srv.vaultUrl, srv.credential, { serviceVersion: "1999-01-01" });
		await expectRestError(() => c.getSecret(name), 400, "BadParameter");
	});

	test("missing api-version: 400 BadParameter", async () => {
		for (const path of [`/secrets/${name}`, "/secrets", `/secrets/${name}?maxresults=2`]) {
			const r = await srv.request("GET", path);
			assert.equal(r.status, 400, `${path}: ${r.text}`);
			assert.equal(r.json?.error?.code, "BadParameter");
		}
	});

	test("percent-encoded query names and values are decoded", async () => {
		const r = await srv.request("GET", `/secrets/${name}?api%2Dversion=7%2E6`);
		assert.equal(r.status, 200, r.text);
		assert.equal(r.json.value, "guarded");
		const l = await srv.request("GET", "/secrets?api-version=7.6&%6Daxresults=1");
		assert.equal(l.status, 200, l.text);
		assert.equal(l.json.value.length, 1);
	});

	test("the SDK's default api-version is accepted", async () => {
		let sent;
		await client.getSecret(name, {
			onResponse: (raw) => {
				sent = raw.request.url;
			},
		});
		assert.ok(sent, "onResponse called");
		assert.match(sent, /api(-|%2D)version=/i);
	});
});
