// The process and its data dir: first-start layout, restart persistence, kill -9 durability,
// sealing (no secret value on disk in any common encoding), refusal of a dir sealed by another
// master key or corrupt, the command-line contract.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { SecretClient } from "@azure/keyvault-secrets";
import { KLUISD, STORE, collect, expectRestError, freePort, startServer, storeArgs, uniqueName } from "./lib/server.mjs";

function walk(dir) {
	const out = [];
	for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
		const p = path.join(dir, e.name);
		if (e.isDirectory()) out.push(...walk(p));
		else if (e.isFile()) out.push(p);
	}
	return out;
}

/** Digest of every file under dir, except LMDB's lock file (rewritten on every open). */
function hashTree(dir) {
	const h = {};
	for (const f of walk(dir)) {
		if (path.basename(f) === "lock.mdb") continue;
		h[path.relative(dir, f)] = crypto.createHash("sha256").update(fs.readFileSync(f)).digest("hex");
	}
	return h;
}

/**
 * Every way the needle could sit in a file in a common encoding: raw, hex, and base64 /
 * base64url at each of the three alignments (the quanta that mix in neighbouring bytes are cut).
 */
function encodings(needle) {
	const buf = Buffer.from(needle, "utf8");
	const out = [["plain", buf], ["hex", Buffer.from(buf.toString("hex"))], ["HEX", Buffer.from(buf.toString("hex").toUpperCase())]];
	for (let k = 0; k < 3; k++) {
		const shifted = Buffer.concat([Buffer.alloc(k, 0), buf]);
		for (const enc of ["base64", "base64url"]) {
			let s = shifted.toString(enc).replace(/=+$/, "");
			s = s.slice(k ? 4 : 0, s.length - 4); // drop quanta shared with unknown neighbours
			out.push([`${enc}+${k}`, Buffer.from(s)]);
		}
	}
	return out;
}

function runKluisd(args, timeoutMs = 15000) {
	return spawnSync(KLUISD, args, { encoding: "utf8", timeout: timeoutMs, killSignal: "SIGKILL" });
}

describe("data dir and process", () => {
	let srv;
	before(async () => {
		srv = await startServer();
	});
	after(async () => {
		await srv?.close();
	});

	test("first start lays out master.key, admin-token (0600), tls/ca.pem and store/ (LMDB only)", () => {
		const mode = (p) => fs.statSync(path.join(srv.dataDir, p)).mode & 0o777;
		assert.equal(mode("master.key"), 0o600);
		assert.equal(mode("admin-token"), 0o600);
		if (STORE === "lmdb") assert.ok(fs.statSync(path.join(srv.dataDir, "store")).isDirectory());
		else assert.ok(!fs.existsSync(path.join(srv.dataDir, "store")), "no store/ with --postgres");
		assert.match(fs.readFileSync(srv.caPath, "utf8"), /-----BEGIN CERTIFICATE-----/);
		const tok = fs.readFileSync(path.join(srv.dataDir, "admin-token"), "utf8");
		assert.equal(tok.trim().split("\n").length, 1, "one line");
		assert.ok(tok.trim().length >= 20, "a token of some length");
		for (const f of walk(srv.dataDir)) {
			const m = fs.statSync(f).mode & 0o777;
			assert.equal(m & 0o002, 0, `${f} is not world-writable`);
			if (/key|token/.test(path.basename(f))) assert.equal(m & 0o077, 0, `${f} is private`);
		}
	});

	test("GET /health is 200 JSON without a token", async () => {
		for (const host of ["127.0.0.1", srv.vaultHost, "localhost"]) {
			const r = await srv.request("GET", "/health", { token: false, host });
			assert.equal(r.status, 200, `${host}: ${r.text}`);
			assert.equal(typeof r.json, "object", `${host}: JSON body`);
		}
	});

	test("the server certificate covers the vault host, localhost and 127.0.0.1 (TLS verified)", async () => {
		for (const host of ["localhost", "127.0.0.1", srv.vaultHost, `other.${srv.dnsSuffix}`]) {
			const r = await srv.request("GET", "/health", { token: false, host });
			assert.equal(r.status, 200, host);
		}
	});

	// Under PostgreSQL, its server's files (WAL included) are searched too.
	test("secret values, the token and backups leave no readable trace under DIR", async () => {
		const client = new SecretClient(srv.vaultUrl, srv.credential);
		const needle = `kluis-needle-${crypto.randomBytes(24).toString("hex")}`;
		const name = uniqueName("needle");
		await client.setSecret(name, needle, { contentType: "text/plain" });
		await client.setSecret(name, `${needle}-second`);
		await client.updateSecretProperties(name, "", { tags: { a: "b" } });
		const blob = await client.backupSecret(name);
		await (await client.beginDeleteSecret(name)).pollUntilDone();
		await client.purgeDeletedSecret(name);
		await client.restoreSecretBackup(blob);
		const kept = uniqueName("needle-kept");
		await client.setSecret(kept, needle);
		await (await client.beginDeleteSecret(kept)).pollUntilDone(); // deleted, still stored

		const scan = () => {
			const files = srv.filesAtRest();
			assert.ok(files.length > 0);
			const tokenBytes = Buffer.from(srv.token);
			for (const [f, data] of files) {
				for (const [enc, pat] of encodings(needle))
					assert.equal(data.indexOf(pat), -1, `secret value (${enc}) found in ${f}`);
				if (path.basename(f) !== "admin-token")
					assert.equal(data.indexOf(tokenBytes), -1, `admin token found in ${f}`);
			}
		};
		scan(); // while serving
		assert.equal(await srv.stop(), 0);
		scan(); // after a clean shutdown (everything flushed)
		await srv.start();
		// And the value is really there, sealed.
		assert.equal((await client.getSecret(name)).value, `${needle}-second`);
	});

	test("restart on the same dir keeps secrets, versions, attributes, deleted state and token", async () => {
		const client = new SecretClient(srv.vaultUrl, srv.credential);
		const name = uniqueName("persist");
		const v1 = await client.setSecret(name, "p1", { contentType: "ct", tags: { k: "v" } });
		const v2 = await client.setSecret(name, "p2", { enabled: false });
		const gone = uniqueName("persist-del");
		await client.setSecret(gone, "deleted one");
		const del = await (await client.beginDeleteSecret(gone)).pollUntilDone();
		const token = srv.token;

		assert.equal(await srv.restart(), 0, "SIGTERM exits 0");
		assert.equal(srv.token, token, "the admin token is kept");

		// The same client instance keeps working (same URL, same CA, same token).
		const got1 = await client.getSecret(name, { version: v1.properties.version });
		assert.equal(got1.value, "p1");
		assert.equal(got1.properties.contentType, "ct");
		assert.deepEqual(got1.properties.tags, { k: "v" });
		assert.equal(got1.properties.createdOn.getTime(), v1.properties.createdOn.getTime());
		await expectRestError(() => client.getSecret(name), 403, "Forbidden");
		assert.equal((await client.getSecret(name, { version: v2.properties.version }).catch((e) => e)).statusCode, 403);
		const d = await client.getDeletedSecret(gone);
		assert.equal(d.deletedOn.getTime(), del.deletedOn.getTime());
		assert.equal(d.scheduledPurgeDate.getTime(), del.scheduledPurgeDate.getTime());
		await expectRestError(() => client.setSecret(gone, "x"), 409);
		await (await client.beginRecoverDeletedSecret(gone)).pollUntilDone();
		assert.equal((await client.getSecret(gone)).value, "deleted one");
		// A fresh client too.
		const fresh = new SecretClient(srv.vaultUrl, srv.credential);
		assert.equal((await collect(fresh.listPropertiesOfSecretVersions(name))).length, 2);
	});

	test("SIGINT also stops the server with exit 0", async () => {
		srv.proc.kill("SIGINT");
		const { code, signal } = await srv.exited;
		assert.equal(signal, null);
		assert.equal(code, 0);
		await srv.start();
	});

	test("200 acknowledged writes survive kill -9", async () => {
		const client = new SecretClient(srv.vaultUrl, srv.credential);
		const prefix = uniqueName("k9");
		const N = 200;
		const acked = new Map();
		await client.getSecret("warm-up").catch(() => {}); // the challenge round trip, alone (see paging)
		const worker = async (w) => {
			for (let i = w; i < N; i += 8) {
				const name = `${prefix}-${i % 50}`; // 50 names, 4 versions each
				const value = `durable ${i} ${crypto.randomBytes(8).toString("hex")}`;
				const s = await client.setSecret(name, value);
				acked.set(`${name}/${s.properties.version}`, value);
			}
		};
		await Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
		assert.equal(acked.size, N);
		await srv.kill9();
		assert.equal(srv.exitSignal, "SIGKILL");
		await srv.start();
		for (const [key, value] of acked) {
			const [name, version] = key.split("/");
			assert.equal((await client.getSecret(name, { version })).value, value, key);
		}
		const versions = await collect(client.listPropertiesOfSecretVersions(`${prefix}-0`));
		assert.equal(versions.length, 4);
	});

	test("a dir sealed with another master key is refused, files untouched", async () => {
		assert.equal(await srv.stop(), 0);
		const keyPath = path.join(srv.dataDir, "master.key");
		const original = fs.readFileSync(keyPath);
		try {
			fs.writeFileSync(keyPath, crypto.randomBytes(original.length), { mode: 0o600 });
			const before = hashTree(srv.dataDir);
			const r = runKluisd(["--data-dir", srv.dataDir, "--listen", `127.0.0.1:${srv.port}`, ...storeArgs(srv.dataDir)]);
			assert.notEqual(r.status, 0, `started with a foreign master key: ${r.stderr}`);
			assert.equal(r.signal, null, `did not exit by itself (killed by ${r.signal}): ${r.stderr}`);
			assert.ok(r.stderr.trim().length > 0, "a message on stderr");
			assert.deepEqual(hashTree(srv.dataDir), before, "files untouched");
		} finally {
			fs.writeFileSync(keyPath, original, { mode: 0o600 });
		}
		await srv.start();
		assert.ok((await collect(new SecretClient(srv.vaultUrl, srv.credential).listPropertiesOfSecrets())).length > 0);
	});

	test("a corrupt store is refused, files untouched", { skip: STORE !== "lmdb" && "the LMDB files under DIR/store: none with --postgres" }, async () => {
		assert.equal(await srv.stop(), 0);
		const storeFiles = walk(path.join(srv.dataDir, "store")).filter((f) => path.basename(f) !== "lock.mdb");
		assert.ok(storeFiles.length > 0, "the store has files");
		const saved = storeFiles.map((f) => [f, fs.readFileSync(f)]);
		try {
			for (const [f, data] of saved) fs.writeFileSync(f, crypto.randomBytes(data.length));
			const before = hashTree(srv.dataDir);
			const r = runKluisd(["--data-dir", srv.dataDir, "--listen", `127.0.0.1:${srv.port}`]);
			assert.notEqual(r.status, 0, `started on a corrupt store: ${r.stderr}`);
			assert.equal(r.signal, null, `did not exit by itself: ${r.stderr}`);
			assert.ok(r.stderr.trim().length > 0);
			assert.deepEqual(hashTree(srv.dataDir), before, "files untouched");
		} finally {
			for (const [f, data] of saved) fs.writeFileSync(f, data);
		}
		await srv.start();
	});

	test("a damaged CA file is refused, not overwritten", async () => {
		assert.equal(await srv.stop(), 0);
		const ca = fs.readFileSync(srv.caPath);
		try {
			fs.writeFileSync(srv.caPath, "-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n");
			const r = runKluisd(["--data-dir", srv.dataDir, "--listen", `127.0.0.1:${srv.port}`, ...storeArgs(srv.dataDir)]);
			assert.notEqual(r.status, 0, r.stderr);
			assert.equal(r.signal, null, `did not exit by itself: ${r.stderr}`);
			assert.match(fs.readFileSync(srv.caPath, "utf8"), /garbage/);
		} finally {
			fs.writeFileSync(srv.caPath, ca);
		}
		await srv.start();
	});
});

describe("command line", () => {
	let tmp;
	before(() => {
		tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kluis-e2e-cli-"));
	});
	after(() => fs.rmSync(tmp, { recursive: true, force: true }));

	test("--help documents every flag and exits 0", () => {
		const r = runKluisd(["--help"]);
		assert.equal(r.status, 0, r.stderr);
		const text = r.stdout + r.stderr;
		for (const flag of ["--data-dir", "--listen", "--dns-suffix", "--default-vault", "--retention-days", "--max-body"])
			assert.ok(text.includes(flag), `--help mentions ${flag}`);
	});

	test("unknown flags and bad values exit 2 with a message", async () => {
		const port = await freePort();
		const base = ["--data-dir", path.join(tmp, "d"), "--listen", `127.0.0.1:${port}`];
		const cases = [
			["--no-such-flag"],
			["--listen", "not-an-address"],
			["--listen", "127.0.0.1:99999"],
			["--retention-days", "abc"],
			["--retention-days", "0"],
			["--retention-days", "91"],
			["--max-body", "-5"],
			["--max-body", "lots"],
			["--dns-suffix", "bad suffix!"],
			["--default-vault", "bad_vault!"],
			["--data-dir"],
		];
		for (const extra of cases) {
			const r = runKluisd([...base, ...extra], 10000);
			assert.equal(r.signal, null, `${extra.join(" ")}: still running after 10 s (accepted?)`);
			assert.equal(r.status, 2, `${extra.join(" ")}: exit ${r.status}\n${r.stderr}`);
			assert.ok(r.stderr.trim().length > 0, `${extra.join(" ")}: a message`);
		}
	});
});
