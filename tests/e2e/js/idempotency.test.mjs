// Idempotency records of creates (docs/availability.md, "Retried creates") through the JS SDKs:
// an answer lost after the server committed (a policy after the retry policy lets the request
// through, then throws ECONNRESET instead of the 200), and the SDK's own retry, which resends the
// same request with the same x-ms-client-request-id, gets the first version: one version in all.
// Unlike Python's, the JS retry policy retries a POST on a connection error, so CreateKey and
// RotateKey are covered here as well as SetSecret.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { RestError } from "@azure/core-rest-pipeline";
import { KeyClient } from "@azure/keyvault-keys";
import { SecretClient } from "@azure/keyvault-secrets";
import { collect, startServer, uniqueName } from "./lib/server.mjs";

/** A per-retry policy that loses the first 200 answer to a request that match() selects. */
function loseFirstAnswer(match) {
	const state = { lost: 0, sent: [] };
	state.policy = {
		name: "loseFirstAnswer",
		async sendRequest(request, next) {
			const response = await next(request);
			if (match(request)) {
				state.sent.push([request.headers.get("x-ms-client-request-id"), response.status]);
				if (response.status === 200 && state.lost === 0) {
					state.lost++;
					throw new RestError("socket hang up", { code: "ECONNRESET", request });
				}
			}
			return response;
		},
	};
	return state;
}

function options(loser) {
	return { additionalPolicies: [{ policy: loser.policy, position: "perRetry" }] };
}

/** The SDK sent the request twice, with one id, and the server answered both with 200. */
function assertResentOnce(loser) {
	assert.equal(loser.lost, 1);
	const ok = loser.sent.filter(([, status]) => status === 200);
	assert.equal(ok.length, 2, JSON.stringify(loser.sent));
	assert.ok(ok[0][0]);
	assert.equal(ok[1][0], ok[0][0]);
}

describe("idempotency: a lost answer retried by the SDK", () => {
	let srv;

	before(async () => {
		srv = await startServer();
	});
	after(async () => {
		await srv?.close();
	});

	test("createKey: one version, and the SDK returns it", async () => {
		const name = uniqueName("k");
		const loser = loseFirstAnswer((r) => r.method === "POST" && r.url.includes("/create?"));
		const client = new KeyClient(srv.vaultUrl, srv.credential, options(loser));
		const key = await client.createEcKey(name, { curve: "P-256" });
		assertResentOnce(loser);
		const versions = await collect(new KeyClient(srv.vaultUrl, srv.credential).listPropertiesOfKeyVersions(name));
		assert.deepEqual(versions.map((p) => p.version), [key.properties.version]);
		const got = await client.getKey(name);
		assert.deepEqual(Buffer.from(got.key.x), Buffer.from(key.key.x), "the first key, not the retry's");
	});

	test("rotateKey: one new version", async () => {
		const name = uniqueName("k");
		const plain = new KeyClient(srv.vaultUrl, srv.credential);
		const first = await plain.createEcKey(name, { curve: "P-256" });
		const loser = loseFirstAnswer((r) => r.method === "POST" && r.url.includes("/rotate?"));
		const rotated = await new KeyClient(srv.vaultUrl, srv.credential, options(loser)).rotateKey(name);
		assertResentOnce(loser);
		const versions = (await collect(plain.listPropertiesOfKeyVersions(name))).map((p) => p.version).sort();
		assert.deepEqual(versions, [first.properties.version, rotated.properties.version].sort());
	});

	test("setSecret: one version", async () => {
		const name = uniqueName("s");
		const loser = loseFirstAnswer((r) => r.method === "PUT");
		const secret = await new SecretClient(srv.vaultUrl, srv.credential, options(loser)).setSecret(name, "value");
		assertResentOnce(loser);
		const versions = await collect(new SecretClient(srv.vaultUrl, srv.credential).listPropertiesOfSecretVersions(name));
		assert.deepEqual(versions.map((p) => p.version), [secret.properties.version]);
		assert.equal(secret.value, "value");
	});
});
