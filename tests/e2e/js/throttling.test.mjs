// The throttle (kluisd --throttle, docs/configuration.md) with the JavaScript SDKs, unchanged:
// raw HTTP shows the 429 and its Retry-After; then @azure/keyvault-secrets, @azure/keyvault-keys
// and @azure/arm-keyvault each complete a burst well past a limit of five requests per second,
// their retry policy waiting out every 429's Retry-After (the JS SDKs retry a 429 only with it).

import assert from "node:assert/strict";
import { createHash, randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { KeyVaultManagementClient } from "@azure/arm-keyvault";
import { CryptographyClient, KeyClient } from "@azure/keyvault-keys";
import { SecretClient } from "@azure/keyvault-secrets";
import { startServer, uniqueName } from "./lib/server.mjs";

const DP = "api-version=7.6";
const ARM = "api-version=2026-02-01";
const MESSAGE = "Request was not processed because too many requests were received. Reason: ";

describe("throttling", () => {
	let srv;

	const throttled = async () => {
		const r = await srv.request("GET", "/metrics", { token: false, host: "127.0.0.1" });
		const m = /^kluis_throttled_requests_total (\d+)$/m.exec(r.text);
		assert.equal(r.status, 200);
		assert.ok(m, r.text.slice(0, 300));
		return Number(m[1]);
	};

	before(async () => {
		srv = await startServer({
			extraArgs: ["--throttle", "window=1,secrets=5,secret-create=5,keys=5,mgmt-read=5"],
		});
	});
	after(async () => {
		await srv?.close();
	});

	test("a 429 with Key Vault's body and a Retry-After in whole seconds", async () => {
		const seen = [];
		for (let i = 0; i < 20 && !seen.some((r) => r.status === 429); i++)
			seen.push(await srv.request("GET", `/secrets?${DP}`));
		const r = seen.find((x) => x.status === 429);
		assert.ok(r, `no 429 in ${seen.map((x) => x.status)}`);
		assert.deepEqual(r.json, { error: { code: "Throttled", message: `${MESSAGE}VaultRequestTypeLimitReached` } });
		assert.equal(r.headers["x-ms-error-code"], "Throttled");
		assert.equal(r.headers["retry-after"], "1"); // a one-second window
		assert.ok(r.headers["x-ms-request-id"]);
		// never the probes
		for (let i = 0; i < 10; i++)
			assert.equal((await srv.request("GET", "/health", { token: false, host: "127.0.0.1" })).status, 200);
	});

	test("the secrets SDK completes a burst of 20 writes and 20 reads", async () => {
		const client = new SecretClient(srv.vaultUrl, srv.credential);
		const before = await throttled();
		const names = Array.from({ length: 20 }, () => uniqueName("burst"));
		for (const [i, name] of names.entries())
			assert.equal((await client.setSecret(name, `value-${i}`)).value, `value-${i}`);
		for (const [i, name] of names.entries())
			assert.equal((await client.getSecret(name)).value, `value-${i}`);
		assert.ok((await throttled()) > before, "the burst was throttled");
	});

	test("the keys SDK completes a burst of 15 signatures", async () => {
		const keys = new KeyClient(srv.vaultUrl, srv.credential);
		const key = await keys.createEcKey(uniqueName("k"), { curve: "P-256" });
		const crypto = new CryptographyClient(key.id, srv.credential);
		const digest = createHash("sha256").update("burst").digest();
		const before = await throttled();
		for (let i = 0; i < 15; i++) {
			const { result } = await crypto.sign("ES256", digest);
			assert.equal(result.length, 64);
		}
		assert.ok((await throttled()) > before, "the burst was throttled");
	});

	test("the management SDK completes a burst of 15 reads", async () => {
		const sub = randomUUID();
		const mgmt = new KeyVaultManagementClient(srv.credential, sub, {
			endpoint: srv.armUrl,
			credentials: { scopes: [`${srv.armUrl}/.default`] },
		});
		const tenantId = await srv.tenantId();
		await mgmt.vaults.beginCreateOrUpdateAndWait("rg", "throttled", {
			location: "local",
			properties: { tenantId, sku: { family: "A", name: "standard" } },
		});
		const before = await throttled();
		for (let i = 0; i < 15; i++) assert.equal((await mgmt.vaults.get("rg", "throttled")).name, "throttled");
		assert.ok((await throttled()) > before, "the burst was throttled");
		// and Resource Manager's shape on the wire
		let r;
		for (let i = 0; i < 20 && r?.status !== 429; i++)
			r = await srv.request("GET", `/subscriptions/${sub}/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/throttled?${ARM}`, { host: "localhost" });
		assert.equal(r.status, 429);
		assert.equal(r.json.error.code, "ResourceRequestsThrottled");
		assert.match(r.json.error.message, /^Number of 'read' requests to this deployment exceeded the limit of '5' for time interval '00:00:01'\./);
		assert.equal(r.headers["retry-after"], "1");
	});
});
