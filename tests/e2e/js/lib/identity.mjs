// Helpers of the identity suites (identity*.test.mjs, issue 14): an unchanged application
// (identity_app.mjs) run as a child process with nothing but environment variables, the `kluis`
// CLI (`identity env`, `identity-agent`), a test OpenID issuer whose tokens kluisd trusts
// (--oidc-issuer/--oidc-audience/--oidc-jwks), principals and their credentials through the
// admin API, and raw calls to the token endpoints. Every child process has a deadline: a test
// fails, it never hangs.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, repoRoot } from "./server.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
export const KLUIS_CLI = process.env.KLUIS_CLI || path.join(repoRoot, "build", "kluis");
export const APP = path.join(here, "identity_app.mjs");
/** The audience Azure's workload identity tokens carry (and kluisd is told to accept). */
export const WORKLOAD_AUDIENCE = "api://AzureADTokenExchange";
export const OIDC_ISSUER = "https://oidc.kluis.test/cluster-1";
/** The management plane's resource, whose tokens the data plane refuses. */
export const MGMT = "https://management.azure.com/";

const b64u = (x) => Buffer.from(x).toString("base64url");

// Agents and watching apps still running when this process exits are killed, whatever failed.
const live = new Set();
process.on("exit", () => {
	for (const c of live) c.kill("SIGKILL");
});
function track(child) {
	live.add(child);
	child.on("exit", () => live.delete(child));
	return child;
}

/** The claims and header of a JWT, not verified. */
export function decodeJwt(jwt) {
	const [h, p] = String(jwt).split(".");
	return { header: JSON.parse(Buffer.from(h, "base64url")), claims: JSON.parse(Buffer.from(p, "base64url")) };
}

/**
 * A test OpenID issuer: an RSA key, its JWKS written to dir/jwks.json, and tokens signed with it.
 * kluisdArgs() are the flags that make kluisd trust it.
 */
export class OidcIssuer {
	constructor(dir) {
		const { privateKey, publicKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
		this.key = privateKey;
		this.kid = "workload-1";
		this.jwksPath = path.join(dir, "jwks.json");
		const jwk = publicKey.export({ format: "jwk" });
		fs.writeFileSync(this.jwksPath, JSON.stringify({ keys: [{ ...jwk, kid: this.kid, use: "sig", alg: "RS256" }] }));
	}

	kluisdArgs() {
		return ["--oidc-issuer", OIDC_ISSUER, "--oidc-audience", WORKLOAD_AUDIENCE, "--oidc-jwks", this.jwksPath];
	}

	/** A service-account token for subject, as Kubernetes projects it (RS256, 10 minutes). */
	token(subject, over = {}) {
		const now = Math.floor(Date.now() / 1000);
		const claims = { iss: OIDC_ISSUER, aud: [WORKLOAD_AUDIENCE], sub: subject, iat: now, nbf: now, exp: now + 600, ...over };
		const input = `${b64u(JSON.stringify({ alg: "RS256", kid: this.kid, typ: "JWT" }))}.${b64u(JSON.stringify(claims))}`;
		return `${input}.${b64u(crypto.sign("sha256", Buffer.from(input), this.key))}`;
	}

	/** Writes a token to a 0600 file (no newline, as the kubelet writes it); returns its path. */
	tokenFile(dir, subject, name = "azure-identity-token") {
		const p = path.join(dir, name);
		fs.writeFileSync(p, this.token(subject), { mode: 0o600 });
		return p;
	}
}

/** A fresh private temporary directory. */
export function tmpDir(prefix = "kluis-e2e-id-") {
	return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * The environment of an application: PATH and an empty HOME of its own (so that no Azure CLI
 * login or VS Code account of the machine joins DefaultAzureCredential's chain), plus vars.
 * Nothing else of the test's environment leaks in: not NODE_EXTRA_CA_CERTS (each route gives its
 * own CA variables), not a proxy.
 */
export function appEnv(home, vars = {}) {
	return { PATH: process.env.PATH, HOME: home, ...vars };
}

/** The CA variables every route sets (what `kluis identity env` prints too). */
export function caVars(srv) {
	return { NODE_EXTRA_CA_CERTS: srv.caPath, REQUESTS_CA_BUNDLE: srv.caPath, SSL_CERT_FILE: srv.caPath };
}

/**
 * Runs argv with env, stdin closed; kills it (SIGKILL) after timeoutMs. Resolves
 * {code, signal, stdout, stderr, ms, timedOut}.
 */
export function run(argv, { env, cwd, timeoutMs = 60000 } = {}) {
	return new Promise((resolve, reject) => {
		const t0 = performance.now();
		const child = spawn(argv[0], argv.slice(1), { env, cwd, stdio: ["ignore", "pipe", "pipe"] });
		let stdout = "";
		let stderr = "";
		let timedOut = false;
		child.stdout.setEncoding("utf8").on("data", (d) => (stdout += d));
		child.stderr.setEncoding("utf8").on("data", (d) => (stderr += d));
		const timer = setTimeout(() => {
			timedOut = true;
			child.kill("SIGKILL");
		}, timeoutMs);
		child.on("error", (e) => {
			clearTimeout(timer);
			reject(e);
		});
		child.on("close", (code, signal) => {
			clearTimeout(timer);
			resolve({ code, signal, stdout, stderr, ms: Math.round(performance.now() - t0), timedOut });
		});
	});
}

/** The last JSON line of a child's stdout (the app's answer), or undefined. */
function lastJson(stdout) {
	const lines = stdout.trim().split("\n").filter(Boolean);
	try {
		return JSON.parse(lines.at(-1));
	} catch {
		return undefined;
	}
}

/**
 * Runs the unchanged app: {credential, op, vaultUrl, name, env, timeoutMs}. Resolves the child's
 * result plus `answer` (its JSON line). shell: a bash script run instead of node directly, with
 * $APP_ARGS... (the script ends with `exec node "$APP" "$@"`).
 */
export async function runApp({ credential = "default", op = "secret", vaultUrl, name, env, cwd, script, timeoutMs = 60000 }) {
	const args = [APP, credential, op, vaultUrl, name];
	const argv = script
		? ["bash", "-c", `${script}\nexec "${process.execPath}" "$@"`, "app", ...args]
		: [process.execPath, ...args];
	const r = await run(argv, { env, cwd, timeoutMs });
	return { ...r, answer: lastJson(r.stdout) };
}

/** Throws with the child's output unless the app read value (and says how long it took). */
export function expectValue(r, value, what) {
	if (r.code !== 0 || r.answer?.value !== value)
		throw new Error(
			`${what}: app exited ${r.code}${r.timedOut ? " (timed out)" : ""} after ${r.ms} ms\n` +
				`stdout: ${r.stdout.slice(-3000)}\nstderr: ${r.stderr.slice(-3000)}`,
		);
	return r.answer;
}

/**
 * Starts the app in watch mode; resolves once it has read the secret once. Returns
 * {lines, failed: Promise<{line, at}> (the failure line and when it came, performance.now()),
 * stop()}.
 */
export function watchApp({ credential = "default", vaultUrl, name, env, timeoutMs = 60000 }) {
	return new Promise((resolve, reject) => {
		const child = track(spawn(process.execPath, [APP, credential, "watch", vaultUrl, name], { env, stdio: ["ignore", "pipe", "pipe"] }));
		const lines = [];
		let stderr = "";
		let buf = "";
		let resolveFailed;
		const failed = new Promise((r) => (resolveFailed = r));
		const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
		const handle = { lines, failed, stop: () => child.kill("SIGKILL"), get stderr() { return stderr; } };
		child.stderr.setEncoding("utf8").on("data", (d) => (stderr += d));
		child.stdout.setEncoding("utf8").on("data", (d) => {
			buf += d;
			let i;
			while ((i = buf.indexOf("\n")) >= 0) {
				const line = JSON.parse(buf.slice(0, i));
				buf = buf.slice(i + 1);
				lines.push(line);
				if (line.ok && lines.length === 1) resolve(handle);
				if (line.error) resolveFailed({ line, at: performance.now() });
			}
		});
		child.on("close", (code) => {
			clearTimeout(timer);
			resolveFailed({ line: { error: `exited ${code} without a failure line`, stderr }, at: performance.now() });
			if (!lines.some((l) => l.ok)) reject(new Error(`watch app never read the secret (exit ${code}):\n${stderr}\n${JSON.stringify(lines)}`));
		});
	});
}

/** The `kluis` CLI against srv as its administrator: --url, --ca and --token-file flags. */
export function cliArgs(srv) {
	return [KLUIS_CLI, "--url", srv.armUrl, "--ca", srv.caPath, "--token-file", path.join(srv.dataDir, "admin-token")];
}

/** Runs `kluis ARGS...` as the administrator; throws unless it exits 0; returns stdout. */
export async function cli(srv, args, { env = process.env, cwd, timeoutMs = 30000 } = {}) {
	const r = await run([...cliArgs(srv), ...args], { env, cwd, timeoutMs });
	if (r.code !== 0) throw new Error(`kluis ${args.join(" ")} exited ${r.code}:\n${r.stderr}\n${r.stdout}`);
	return r.stdout;
}

/** The shell words of the CLI invocation (for `eval "$(kluis ...)"` scripts). */
export function cliWords(srv) {
	return cliArgs(srv).map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
}

/**
 * Starts `kluis identity-agent` on a free loopback port with identities (["token:PATH", ...]);
 * resolves {url, port, stop(), stderr} once it accepts connections.
 */
export async function startAgent(srv, identities) {
	const port = await freePort();
	const argv = [...cliArgs(srv), "identity-agent", "--listen", `127.0.0.1:${port}`];
	for (const id of identities) argv.push("--identity", id);
	const child = track(spawn(argv[0], argv.slice(1), { stdio: ["ignore", "ignore", "pipe"] }));
	let stderr = "";
	let exited = null;
	child.stderr.setEncoding("utf8").on("data", (d) => (stderr += d));
	child.on("exit", (code, signal) => (exited = { code, signal }));
	const agent = {
		port,
		url: `http://127.0.0.1:${port}`,
		get stderr() { return stderr; },
		stop: () => {
			if (!exited) child.kill("SIGTERM");
		},
	};
	const deadline = Date.now() + 10000;
	for (;;) {
		if (exited) throw new Error(`identity-agent exited (${JSON.stringify(exited)}) before listening:\n${stderr}`);
		const up = await new Promise((r) => {
			const s = net.connect(port, "127.0.0.1", () => (s.end(), r(true)));
			s.on("error", () => r(false));
		});
		if (up) return agent;
		if (Date.now() > deadline) {
			child.kill("SIGKILL");
			throw new Error(`identity-agent did not listen on ${port} within 10 s:\n${stderr}`);
		}
		await new Promise((r) => setTimeout(r, 50));
	}
}

/** Admin API call on the management host; throws unless the status is want. */
export async function admin(srv, method, p, body, want) {
	const r = await srv.request(method, p, { host: "localhost", body });
	if (want !== undefined && r.status !== want) throw new Error(`${method} ${p}: ${r.status} ${r.text}`);
	return r;
}

/**
 * A principal with a role on the default vault (and an OpenID subject, for the workload route):
 * {id, name, token (its first kluis token), tokenId}.
 */
export async function makePrincipal(srv, name, { role = "secrets-user", subject } = {}) {
	const r = await admin(srv, "POST", "/kluis/v1/principals", { name, ...(subject ? { subject } : {}) }, 201);
	const p = r.json;
	await admin(srv, "POST", "/kluis/v1/roleAssignments", { principal: p.id, role, vault: "default" }, 201);
	assert.equal(p.tokens?.length, 1, JSON.stringify(p));
	return { id: p.id, name, token: p.token, tokenId: p.tokens[0].id };
}

/** A new client secret of principal id: {id, secret}. */
export async function addSecret(srv, id, description = "e2e") {
	const r = await admin(srv, "POST", `/kluis/v1/principals/${id}/secrets`, { description }, 201);
	return r.json;
}

/** Registers certPem for principal id: the credential ({id, thumbprint, x5t, ...}). */
export async function addCertificate(srv, id, certPem, description = "e2e") {
	const r = await admin(srv, "POST", `/kluis/v1/principals/${id}/certificates`, { certificate: certPem, description }, 201);
	return r.json;
}

/** POST form to a token endpoint of srv (default the ADFS-style one); resolves the raw response. */
export function tokenRequest(srv, form, p = "/adfs/oauth2/v2.0/token") {
	return srv.request("POST", p, {
		host: "localhost",
		token: false,
		headers: { "content-type": "application/x-www-form-urlencoded" },
		body: new URLSearchParams(form).toString(),
	});
}

/** An access token for principal id by its client secret, for resource; throws unless 200. */
export async function secretGrant(srv, clientId, secret, resource) {
	const r = await tokenRequest(srv, {
		grant_type: "client_credentials",
		client_id: clientId,
		client_secret: secret,
		scope: `${resource.replace(/\/$/, "")}/.default`,
	});
	if (r.status !== 200 || !r.json?.access_token) throw new Error(`token endpoint: ${r.status} ${r.text}`);
	return r.json.access_token;
}

/** The data plane's resource of srv, as its challenge names it (https://vault.localhost:PORT). */
export function dataResource(srv) {
	return `https://${srv.dnsSuffix}:${srv.port}`;
}
