// Issue 14, end to end with @azure/identity: an unchanged application (lib/identity_app.mjs: one
// credential made with no options, a SecretClient or CryptographyClient) reads from kluisd with
// nothing but environment variables set, on every route, with DefaultAzureCredential and with the
// route's own credential class:
// - App Service managed identity: IDENTITY_ENDPOINT + IDENTITY_HEADER (a kluis token);
// - instance metadata through `kluis identity-agent`: AZURE_POD_IDENTITY_AUTHORITY_HOST, system-
//   assigned (a kluis token file) and user-assigned (a registered client certificate; picked by
//   AZURE_CLIENT_ID, the principal's id or name); its Cloud Shell endpoint (MSI_ENDPOINT) too;
// - workload identity: AZURE_FEDERATED_TOKEN_FILE holding a token of a test OpenID issuer that
//   kluisd trusts (--oidc-issuer), exchanged at the ADFS-style token endpoint;
// - client secret and client certificate: AZURE_TENANT_ID=adfs with AZURE_AUTHORITY_HOST;
// and each route again as the issue puts it: `eval "$(kluis identity env NAME --route R)"`, then
// the unchanged app. The time the app's first read took (challenge + token + read) is printed per
// route (docs/identity.md quotes it); the suites judge outcomes, never times.

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { KeyClient } from "@azure/keyvault-keys";
import { SecretClient } from "@azure/keyvault-secrets";
import { makeSelfSigned } from "./lib/certs.mjs";
import {
	OidcIssuer,
	addCertificate,
	addSecret,
	admin,
	appEnv,
	caVars,
	cli,
	cliWords,
	expectValue,
	makePrincipal,
	runApp,
	startAgent,
	tmpDir,
} from "./lib/identity.mjs";
import { startServer, uniqueName } from "./lib/server.mjs";

const SUBJECT = "system:serviceaccount:billing:billing-app";
const timings = [];

describe("unchanged apps, environment variables only (@azure/identity)", () => {
	let srv;
	let dir;
	let home;
	let issuer;
	let billing; // the app's principal: secrets-user and crypto-user on the default vault
	let reports; // a second identity of the agent: secrets-user on the vault "reports" only
	let secretName;
	let secretValue;
	let reportsUrl;
	const agents = [];

	// Runs the app with env (plus the CA variables) and checks it read the secret.
	async function readsSecret(what, credential, env, { url, value, script } = {}) {
		const r = await runApp({
			credential,
			vaultUrl: url ?? srv.vaultUrl,
			name: secretName,
			env: appEnv(home, { ...caVars(srv), ...env }),
			cwd: dir,
			script,
		});
		const answer = expectValue(r, value ?? secretValue, `${what} (${credential})`);
		timings.push({ route: what, credential, firstMs: answer.firstMs, processMs: r.ms });
		return answer;
	}

	before(async () => {
		dir = tmpDir();
		home = path.join(dir, "home");
		fs.mkdirSync(home);
		issuer = new OidcIssuer(dir);
		srv = await startServer({ extraArgs: issuer.kluisdArgs() });
		secretName = uniqueName("id");
		secretValue = `value-${secretName}`;
		await new SecretClient(srv.vaultUrl, srv.credential).setSecret(secretName, secretValue);
		billing = await makePrincipal(srv, "billing-app", { subject: SUBJECT });
		await admin(srv, "POST", "/kluis/v1/roleAssignments", { principal: billing.id, role: "crypto-user", vault: "default" }, 201);
		// "reports" is a vault only the second identity may read: which identity the agent
		// used shows in who can read what.
		await cli(srv, ["vault", "create", "reports"]);
		reportsUrl = `https://reports.${srv.dnsSuffix}:${srv.port}`;
		await new SecretClient(reportsUrl, srv.credential).setSecret(secretName, "reports-only");
		const r = await admin(srv, "POST", "/kluis/v1/principals", { name: "reports-app" }, 201);
		reports = { id: r.json.id, token: r.json.token };
		await admin(srv, "POST", "/kluis/v1/roleAssignments", { principal: reports.id, role: "secrets-user", vault: "reports" }, 201);
	});

	after(async () => {
		for (const a of agents) a.stop();
		await srv?.close();
		if (dir && !process.env.KLUIS_KEEP) fs.rmSync(dir, { recursive: true, force: true });
		if (timings.length) {
			console.log("first read (challenge + token + GET) per route, ms:");
			for (const t of timings) console.log(`  ${t.route.padEnd(34)} ${t.credential.padEnd(12)} ${String(t.firstMs).padStart(6)}  (process ${t.processMs})`);
		}
	});

	test("App Service: IDENTITY_ENDPOINT and IDENTITY_HEADER (a kluis token)", async () => {
		const env = { IDENTITY_ENDPOINT: `${srv.armUrl}/msi/token`, IDENTITY_HEADER: billing.token };
		await readsSecret("app-service", "default", env);
		await readsSecret("app-service", "managed", env);
	});

	test("App Service: a key operation (CryptographyClient sign and verify) with the same credential", async () => {
		const key = await new KeyClient(srv.vaultUrl, srv.credential).createEcKey(uniqueName("idkey"), { curve: "P-256" });
		const r = await runApp({
			credential: "default",
			op: "sign",
			vaultUrl: srv.vaultUrl,
			name: key.name,
			env: appEnv(home, { ...caVars(srv), IDENTITY_ENDPOINT: `${srv.armUrl}/msi/token`, IDENTITY_HEADER: billing.token }),
		});
		assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
		assert.equal(r.answer.valid, true);
		assert.equal(r.answer.kid, key.id);
	});

	test("instance metadata through kluis identity-agent: system-assigned and user-assigned (AZURE_CLIENT_ID)", async () => {
		// the first identity by a kluis token file, the second by a registered client certificate
		const billingFile = path.join(dir, "billing.token");
		fs.writeFileSync(billingFile, billing.token, { mode: 0o600 });
		const { certPem, pemBundle } = makeSelfSigned({ subject: "/CN=reports-app" });
		const reportsPem = path.join(dir, "reports-app.pem");
		fs.writeFileSync(reportsPem, pemBundle, { mode: 0o600 });
		await addCertificate(srv, reports.id, certPem);
		const agent = await startAgent(srv, [`token:${billingFile}`, `cert:${reportsPem}:${reports.id}`]);
		agents.push(agent);
		const env = { AZURE_POD_IDENTITY_AUTHORITY_HOST: agent.url };
		// the first identity is the system-assigned one
		await readsSecret("imds (agent), system-assigned", "default", env);
		await readsSecret("imds (agent), system-assigned", "managed", env);
		const denied = await runApp({ vaultUrl: reportsUrl, name: secretName, env: appEnv(home, { ...caVars(srv), ...env }) });
		assert.equal(denied.code, 1, denied.stdout);
		assert.equal(denied.answer?.status, 403, `billing-app may not read vault reports: ${denied.stdout}`);
		// AZURE_CLIENT_ID (DefaultAzureCredential passes it on) picks the second, by id
		const user = { ...env, AZURE_CLIENT_ID: reports.id };
		await readsSecret("imds (agent), user-assigned", "default", user, { url: reportsUrl, value: "reports-only" });
		const other = await runApp({ vaultUrl: srv.vaultUrl, name: secretName, env: appEnv(home, { ...caVars(srv), ...user }) });
		assert.equal(other.answer?.status, 403, `reports-app may not read the default vault: ${other.stdout}`);
		// by name too
		await readsSecret("imds (agent), user-assigned", "default", { ...env, AZURE_CLIENT_ID: "reports-app" }, { url: reportsUrl, value: "reports-only" });
		// the agent's Cloud Shell endpoint (az's route), system-assigned
		await readsSecret("cloud shell (agent)", "default", { MSI_ENDPOINT: `${agent.url}/msi/token` });
	});

	test("workload identity: AZURE_FEDERATED_TOKEN_FILE from the trusted OpenID issuer", async () => {
		const env = {
			AZURE_TENANT_ID: "adfs",
			AZURE_CLIENT_ID: billing.id,
			AZURE_AUTHORITY_HOST: srv.armUrl,
			AZURE_FEDERATED_TOKEN_FILE: issuer.tokenFile(dir, SUBJECT),
		};
		await readsSecret("workload", "default", env);
		await readsSecret("workload", "workload", env);
		// the managed identity credential exchanges the same token (azure-identity's own path)
		await readsSecret("workload", "managed", env);
		// the principal's name is a client id too
		await readsSecret("workload, client id = name", "workload", { ...env, AZURE_CLIENT_ID: "billing-app" });
	});

	test("client secret: AZURE_TENANT_ID=adfs, AZURE_CLIENT_SECRET, AZURE_AUTHORITY_HOST", async () => {
		const cred = await addSecret(srv, billing.id);
		const env = { AZURE_TENANT_ID: "adfs", AZURE_CLIENT_ID: billing.id, AZURE_CLIENT_SECRET: cred.secret, AZURE_AUTHORITY_HOST: srv.armUrl };
		await readsSecret("client secret", "default", env);
		await readsSecret("client secret", "environment", env);
	});

	test("client certificate: AZURE_TENANT_ID=adfs, AZURE_CLIENT_CERTIFICATE_PATH, AZURE_AUTHORITY_HOST", async () => {
		const { certPem, pemBundle } = makeSelfSigned({ subject: "/CN=billing-app" });
		const pem = path.join(dir, "billing-app.pem");
		fs.writeFileSync(pem, pemBundle, { mode: 0o600 });
		await addCertificate(srv, billing.id, certPem);
		const env = { AZURE_TENANT_ID: "adfs", AZURE_CLIENT_ID: billing.id, AZURE_CLIENT_CERTIFICATE_PATH: pem, AZURE_AUTHORITY_HOST: srv.armUrl };
		await readsSecret("client certificate", "default", env);
		await readsSecret("client certificate", "environment", env);
	});

	describe('eval "$(kluis identity env billing-app [--route R])", then the unchanged app', () => {
		// Only PATH and HOME (and, for workload, where the projected token lies): everything else
		// comes from what `kluis identity env` prints.
		async function evalRoute(route, { env = {}, extraScript = "" } = {}) {
			const flag = route ? ` --route ${route}` : "";
			const script = `set -e\neval "$(${cliWords(srv)} identity env billing-app${flag})"\n${extraScript}`;
			const r = await runApp({ vaultUrl: srv.vaultUrl, name: secretName, env: appEnv(home, env), cwd: dir, script });
			const answer = expectValue(r, secretValue, `eval identity env${flag}`);
			timings.push({ route: `eval identity env${flag || " (app-service)"}`, credential: "default", firstMs: answer.firstMs, processMs: r.ms });
		}

		test("the default route: App Service", async () => {
			await evalRoute("");
			await evalRoute("app-service");
		});

		test("secret", async () => {
			await evalRoute("secret");
		});

		test("certificate", async () => {
			await evalRoute("certificate");
		});

		test("workload", async () => {
			await evalRoute("workload", { env: { AZURE_FEDERATED_TOKEN_FILE: issuer.tokenFile(dir, SUBJECT, "projected-token") } });
		});

		test("imds: the printed agent command, then the app", async () => {
			// The agent needs the token file the command writes, so the output is read first;
			// the agent then runs on a port of this test's own (the default 40342 may be taken by
			// another suite running at the same time), which the script puts in place of the
			// printed address.
			// (HOME: the command keeps the token file under the app's home, not this process's)
			const out = await cli(srv, ["identity", "env", "billing-app", "--route", "imds"], { cwd: dir, env: appEnv(home) });
			assert.match(out, /^export AZURE_POD_IDENTITY_AUTHORITY_HOST=/m, out);
			const m = /kluis identity-agent .*--identity[ =]'?token:([^'\s]+)/.exec(out);
			assert.ok(m, `the agent command is printed: ${out}`);
			const tokenFile = path.resolve(dir, m[1]);
			assert.ok(tokenFile.startsWith(home), tokenFile);
			assert.equal(fs.statSync(tokenFile).mode & 0o777, 0o600, "the token file is 0600");
			const agent = await startAgent(srv, [`token:${tokenFile}`]);
			agents.push(agent);
			const script = `set -e\neval "$KL_ENV"\nexport AZURE_POD_IDENTITY_AUTHORITY_HOST=${agent.url}\nunset KL_ENV`;
			const r = await runApp({ vaultUrl: srv.vaultUrl, name: secretName, env: appEnv(home, { KL_ENV: out }), cwd: dir, script });
			const answer = expectValue(r, secretValue, "eval identity env --route imds");
			timings.push({ route: "eval identity env --route imds", credential: "default", firstMs: answer.firstMs, processMs: r.ms });
		});
	});
});
