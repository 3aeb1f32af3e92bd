// Issue 14, the security properties of kluis access tokens, end to end with @azure/identity and an
// unchanged app (lib/identity_app.mjs) configured by environment variables only:
// - a token's audience is its plane: a management token is refused on the data plane (401 with
//   the challenge) and a data-plane token on the management plane, whatever the principal's roles;
//   the admin token is never an App Service identity header;
// - revoking the credential a running app got its token with (its kluis token, client secret or
//   certificate), or deleting its principal, makes the app's next request fail, although the
//   token is still cached in the app and not expired;
// - after `kluis identity signing-key rotate` the tokens signed before keep working, new ones
//   carry the new kid, and the discovery keys list both.

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { SecretClient } from "@azure/keyvault-secrets";
import { makeSelfSigned } from "./lib/certs.mjs";
import {
	MGMT,
	OidcIssuer,
	addCertificate,
	addSecret,
	admin,
	appEnv,
	caVars,
	cli,
	dataResource,
	decodeJwt,
	expectValue,
	makePrincipal,
	runApp,
	secretGrant,
	tmpDir,
	watchApp,
} from "./lib/identity.mjs";
import { startServer, uniqueName } from "./lib/server.mjs";

/** A running app must fail on its first request after a revocation: one read every 200 ms, and
 * the deadline leaves room for a slow machine, not for a cache. */
const REVOKED_WITHIN_MS = 5000;

describe("access tokens: audience, revocation, signing key rotation (@azure/identity)", () => {
	let srv;
	let dir;
	let home;
	let issuer;
	let secretName;
	let secretValue;
	const apps = [];

	const env = (vars) => appEnv(home, { ...caVars(srv), ...vars });
	const msiEnv = (token) => env({ IDENTITY_ENDPOINT: `${srv.armUrl}/msi/token`, IDENTITY_HEADER: token });
	const clientEnv = (id, vars) => env({ AZURE_TENANT_ID: "adfs", AZURE_CLIENT_ID: id, AZURE_AUTHORITY_HOST: srv.armUrl, ...vars });
	const dataGet = (token) => srv.request("GET", `/secrets/${secretName}?api-version=7.6`, { token });

	/** Starts app (watch mode), runs revoke(), and expects the app's next read to fail with 401. */
	async function revokedStopsApp(what, app, revoke) {
		const w = await watchApp({ vaultUrl: srv.vaultUrl, name: secretName, ...app });
		apps.push(w);
		const t0 = performance.now();
		await revoke();
		let timer;
		const { line, at } = await Promise.race([
			w.failed,
			new Promise((r) => (timer = setTimeout(() => r({ line: { error: "still reading" }, at: performance.now() }), REVOKED_WITHIN_MS + 5000))),
		]);
		clearTimeout(timer);
		w.stop();
		assert.equal(line.status, 401, `${what}: the running app fails with 401: ${JSON.stringify(line)}\n${w.stderr}`);
		const ms = Math.round(at - t0);
		console.log(`${what}: the running app failed ${ms} ms after the revocation`);
		assert.ok(ms < REVOKED_WITHIN_MS, `${what}: failed after ${ms} ms`);
	}

	before(async () => {
		dir = tmpDir();
		home = path.join(dir, "home");
		fs.mkdirSync(home);
		issuer = new OidcIssuer(dir);
		srv = await startServer({ extraArgs: issuer.kluisdArgs() });
		secretName = uniqueName("sec");
		secretValue = `value-${secretName}`;
		await new SecretClient(srv.vaultUrl, srv.credential).setSecret(secretName, secretValue);
	});

	after(async () => {
		for (const a of apps) a.stop();
		await srv?.close();
		if (dir && !process.env.KLUIS_KEEP) fs.rmSync(dir, { recursive: true, force: true });
	});

	test("a management token is refused on the data plane, a data token on the management plane", async () => {
		// a principal that may do everything, so that only the audience can refuse
		const ops = await makePrincipal(srv, "ops-admin");
		await admin(srv, "POST", "/kluis/v1/roleAssignments", { principal: ops.id, role: "kluis-administrator" }, 201);
		const { secret } = await addSecret(srv, ops.id);
		const data = await secretGrant(srv, ops.id, secret, dataResource(srv));
		const mgmt = await secretGrant(srv, ops.id, secret, MGMT);
		for (const [tok, aud] of [[data, dataResource(srv)], [mgmt, MGMT]]) {
			const { header, claims } = decodeJwt(tok);
			assert.match(header.kid, /^kl-/);
			assert.equal(header.alg, "RS256");
			assert.equal(claims.aud.replace(/\/$/, ""), aud.replace(/\/$/, ""));
			assert.equal(claims.sub, ops.id);
			assert.equal(claims.tid, await srv.tenantId());
			assert.ok(claims.exp > claims.iat && claims.exp - claims.iat <= 3600, JSON.stringify(claims));
		}
		assert.equal((await dataGet(data)).status, 200);
		const refused = await dataGet(mgmt);
		assert.equal(refused.status, 401, refused.text);
		assert.match(refused.headers["www-authenticate"] || "", /^Bearer authorization="/);
		assert.ok(!refused.text.includes(secretValue));
		const onMgmt = (tok) => srv.request("GET", "/kluis/v1/vaults", { host: "localhost", token: tok });
		assert.equal((await onMgmt(mgmt)).status, 200);
		assert.equal((await onMgmt(data)).status, 401);
		// the same through the App Service endpoint
		const msi = await srv.request("GET", `/msi/token?api-version=2019-08-01&resource=${encodeURIComponent(MGMT)}`, {
			host: "localhost",
			token: false,
			headers: { "x-identity-header": ops.token },
		});
		assert.equal(msi.status, 200, msi.text);
		assert.equal((await dataGet(msi.json.access_token)).status, 401);
	});

	test("the admin token is not an identity: IDENTITY_HEADER=<admin token> gets no access token", async () => {
		const r = await srv.request("GET", `/msi/token?api-version=2019-08-01&resource=${encodeURIComponent(dataResource(srv))}`, {
			host: "localhost",
			token: false,
			headers: { "x-identity-header": srv.token },
		});
		assert.equal(r.status, 401, r.text);
		assert.ok(!r.json?.access_token);
		const app = await runApp({ credential: "managed", vaultUrl: srv.vaultUrl, name: secretName, env: msiEnv(srv.token), timeoutMs: 90000 });
		assert.equal(app.code, 1, app.stdout);
		assert.ok(!app.stdout.includes(secretValue));
	});

	test("App Service: revoking the kluis token stops the running app and the next start", async () => {
		const p = await makePrincipal(srv, "revoke-msi");
		await revokedStopsApp("kluis token revoked", { credential: "default", env: msiEnv(p.token) }, () =>
			admin(srv, "DELETE", `/kluis/v1/principals/${p.id}/tokens/${p.tokenId}`, undefined, 200),
		);
		const again = await runApp({ credential: "managed", vaultUrl: srv.vaultUrl, name: secretName, env: msiEnv(p.token), timeoutMs: 90000 });
		assert.equal(again.code, 1, again.stdout);
		assert.ok(!again.stdout.includes(secretValue));
	});

	test("client secret: revoking it stops the running app and the next start", async () => {
		const p = await makePrincipal(srv, "revoke-secret");
		const cred = await addSecret(srv, p.id);
		const e = clientEnv(p.id, { AZURE_CLIENT_SECRET: cred.secret });
		await revokedStopsApp("client secret revoked", { credential: "default", env: e }, () =>
			admin(srv, "DELETE", `/kluis/v1/principals/${p.id}/secrets/${cred.id}`, undefined, 200),
		);
		const again = await runApp({ credential: "environment", vaultUrl: srv.vaultUrl, name: secretName, env: e });
		assert.equal(again.code, 1, again.stdout);
		assert.match(again.stdout, /invalid_client|7000215/, "MSAL shows the token endpoint's error");
	});

	test("client certificate: revoking it stops the running app and the next start", async () => {
		const p = await makePrincipal(srv, "revoke-cert");
		const { certPem, pemBundle } = makeSelfSigned({ subject: "/CN=revoke-cert" });
		const pem = path.join(dir, "revoke-cert.pem");
		fs.writeFileSync(pem, pemBundle, { mode: 0o600 });
		const cred = await addCertificate(srv, p.id, certPem);
		const e = clientEnv(p.id, { AZURE_CLIENT_CERTIFICATE_PATH: pem });
		await revokedStopsApp("client certificate revoked", { credential: "environment", env: e }, () =>
			admin(srv, "DELETE", `/kluis/v1/principals/${p.id}/certificates/${cred.id}`, undefined, 200),
		);
		const again = await runApp({ credential: "environment", vaultUrl: srv.vaultUrl, name: secretName, env: e });
		assert.equal(again.code, 1, again.stdout);
		assert.match(again.stdout, /invalid_client|700027/);
	});

	test("workload: deleting the principal stops the running app", async () => {
		const subject = "system:serviceaccount:jobs:nightly";
		const p = await makePrincipal(srv, "revoke-workload", { subject });
		const e = clientEnv(p.id, { AZURE_FEDERATED_TOKEN_FILE: issuer.tokenFile(dir, subject, "nightly-token") });
		await revokedStopsApp("principal deleted", { credential: "workload", env: e }, () =>
			admin(srv, "DELETE", `/kluis/v1/principals/${p.id}`, undefined, 200),
		);
	});

	test("signing key rotation: old tokens keep working, new ones carry the new kid", async () => {
		const p = await makePrincipal(srv, "rotation");
		const { secret } = await addSecret(srv, p.id);
		const before = await secretGrant(srv, p.id, secret, dataResource(srv));
		const oldKid = decodeJwt(before).header.kid;
		const w = await watchApp({ credential: "default", vaultUrl: srv.vaultUrl, name: secretName, env: msiEnv(p.token) });
		apps.push(w);
		const seen = w.lines.length;

		await cli(srv, ["identity", "signing-key", "rotate"]);
		const keys = (await admin(srv, "GET", "/kluis/v1/identity/signingKeys", undefined, 200)).json.value;
		const active = keys.filter((k) => !k.retired);
		assert.equal(active.length, 1, JSON.stringify(keys));
		assert.notEqual(active[0].kid, oldKid);
		assert.ok(keys.some((k) => k.kid === oldKid && k.retired), "the old key is retired, not gone");

		assert.equal((await dataGet(before)).status, 200, "a token signed before the rotation still works");
		const after_ = await secretGrant(srv, p.id, secret, dataResource(srv));
		assert.equal(decodeJwt(after_).header.kid, active[0].kid);
		assert.equal((await dataGet(after_)).status, 200);
		const jwks = await srv.request("GET", "/adfs/discovery/v2.0/keys", { host: "localhost", token: false });
		assert.equal(jwks.status, 200, jwks.text);
		const kids = jwks.json.keys.map((k) => k.kid);
		assert.ok(kids.includes(oldKid) && kids.includes(active[0].kid), JSON.stringify(kids));

		// the running app, its token signed by the old key, keeps reading
		const deadline = Date.now() + 10000;
		while (w.lines.length < seen + 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
		w.stop();
		assert.ok(w.lines.length >= seen + 3 && w.lines.every((l) => l.ok), JSON.stringify(w.lines.slice(-3)));
		// and a new start gets a token of the new key
		expectValue(await runApp({ credential: "default", vaultUrl: srv.vaultUrl, name: secretName, env: msiEnv(p.token) }), secretValue, "after rotation");
	});
});
