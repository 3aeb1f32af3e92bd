// The e2e harness: one real kluisd on a free loopback port with a fresh data dir.
//
// Every server started in one test run shares one CA: run.mjs makes a template CA once (by
// starting kluisd on an empty dir) and exports KLUIS_CA_DIR and NODE_EXTRA_CA_CERTS, which node
// reads only at process start. startServer() copies ca.pem and ca-key.pem into DIR/tls before
// the first start; kluisd reuses an existing CA and issues its server certificate from it. So the
// SDK clients of every test file trust every server of the run without any option of theirs.
//
// Raw HTTP checks (headers, error bodies) go through request(), which pins the CA itself.
//
// With KLUIS_E2E_STORE=postgres every kluisd keeps its store in PostgreSQL instead of LMDB: the
// first server of a test run starts a private PostgreSQL 15 server (see postgres()), which
// run.mjs hands on to the test processes through KLUIS_E2E_PG; each data dir gets a database of
// its own (a restart on the same dir finds its data again). The process that started the server
// stops it and removes its directory when it exits, and a guard does so if that process dies.

import { execFileSync, spawn, spawnSync } from "node:child_process";
import crypto from "node:crypto";
import { once } from "node:events";
import fs from "node:fs";
import fsp from "node:fs/promises";
import https from "node:https";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, "../../../..");
export const KLUISD = process.env.KLUISD || path.join(repoRoot, "build", "kluisd");
const STARTUP_MS = 20000;
/** Where kluisd keeps its store: "lmdb" (DIR/store) or "postgres" (a private server). */
export const STORE = process.env.KLUIS_E2E_STORE || "lmdb";
if (STORE !== "lmdb" && STORE !== "postgres")
	throw new Error(`KLUIS_E2E_STORE=${STORE}: expected lmdb or postgres`);
const PG_BIN = "/usr/lib/postgresql/15/bin";
const PG_USER = "kluis"; // the private server's superuser

/** A free TCP port on 127.0.0.1 (bound then released; the short race is accepted). */
export async function freePort() {
	const srv = net.createServer();
	srv.listen(0, "127.0.0.1");
	await once(srv, "listening");
	const { port } = srv.address();
	srv.close();
	await once(srv, "close");
	return port;
}

/** The credential both SDKs accept: a fixed bearer token. */
export function staticCredential(token) {
	return {
		getToken: async () => ({ token, expiresOnTimestamp: Date.now() + 3600e3 }),
	};
}

function delay(ms) {
	return new Promise((r) => setTimeout(r, ms));
}

/**
 * One HTTPS request, raw. opts: {host (Host header name, default the vault host), port, ca,
 * headers, body (string|Buffer), token (string; false = no Authorization), timeoutMs}.
 * Resolves {status, headers, text, json} (json undefined when the body is not JSON).
 */
export function rawRequest(method, pathAndQuery, opts) {
	const hostName = opts.host;
	const headers = { ...(opts.headers || {}) };
	if (!Object.keys(headers).some((h) => h.toLowerCase() === "host"))
		headers.host = `${hostName}:${opts.port}`;
	if (opts.token) headers.authorization = `Bearer ${opts.token}`;
	let body = opts.body;
	if (body !== undefined && typeof body !== "string" && !Buffer.isBuffer(body)) {
		body = JSON.stringify(body);
		headers["content-type"] ??= "application/json";
	}
	const hasLength = Object.keys(headers).some((h) => h.toLowerCase() === "content-length");
	// Without a length node would send a chunked body on POST/PUT/PATCH; the SDKs never do.
	if (body !== undefined && !hasLength) headers["content-length"] = Buffer.byteLength(body);
	else if (body === undefined && !hasLength && method !== "GET" && method !== "HEAD")
		headers["content-length"] = 0;
	return new Promise((resolve, reject) => {
		const req = https.request(
			{
				host: "127.0.0.1",
				port: opts.port,
				method,
				path: pathAndQuery,
				headers,
				ca: opts.ca,
				// SNI and the certificate check use the name asked for (or the IP).
				servername: net.isIP(hostName) ? undefined : hostName,
				agent: false,
				timeout: opts.timeoutMs ?? 15000,
			},
			(res) => {
				const chunks = [];
				res.on("data", (c) => chunks.push(c));
				res.on("end", () => {
					const text = Buffer.concat(chunks).toString("utf8");
					let json;
					try {
						json = text.length ? JSON.parse(text) : undefined;
					} catch {
						json = undefined;
					}
					resolve({ status: res.statusCode, headers: res.headers, text, json });
				});
				res.on("error", reject);
			},
		);
		req.on("timeout", () => req.destroy(new Error(`timeout: ${method} ${pathAndQuery}`)));
		req.on("error", reject);
		if (body !== undefined) req.write(body);
		req.end();
	});
}

// --- a private PostgreSQL server (KLUIS_E2E_STORE=postgres) -----------------------------------

// The guard of a private PostgreSQL server: a shell in a session of its own, forked off by
// `setsid -f` so that it is not in the tree of this process (a ctest timeout kills that tree).
// It polls this process (a pipe's end of file would be more immediate, but node closes a child's
// stdin pipe when the child, setsid, exits) and once it is gone, however it ended (even SIGKILL),
// stops the server (an immediate shutdown) and removes its directory. $1 is this process's pid,
// $2 the directory, the rest the command that runs a tool as the server's user (none unless root).
const PG_GUARD = `trap '' INT TERM HUP
pid=$1 dir=$2; shift 2
while kill -0 "$pid" 2>/dev/null; do sleep 0.5; done
"$@" ${PG_BIN}/pg_ctl -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1
[ -n "$KLUIS_KEEP" ] || rm -rf "$dir"
`;

// This process's server: {dir, port, owned, databases: Map name -> oid}; null until needed.
let pg = null;

// PostgreSQL refuses to run as root: as root its tools run as the system user postgres (from
// Debian's postgresql package), which then owns the directory.
function asPostgres() {
	return process.getuid?.() === 0 ? ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"] : [];
}

function pgLogTail(dir, name) {
	try {
		return fs.readFileSync(path.join(dir, name), "utf8").slice(-6000);
	} catch {
		return "";
	}
}

/** Runs a PostgreSQL tool as the server's user, in dir, output to dir/tools.log; its exit status. */
function pgTool(dir, tool, ...args) {
	const log = fs.openSync(path.join(dir, "tools.log"), "a");
	try {
		const argv = [...asPostgres(), path.join(PG_BIN, tool), ...args];
		const r = spawnSync(argv[0], argv.slice(1), { cwd: dir, stdio: ["ignore", log, log], timeout: 120000 });
		return r.status;
	} finally {
		fs.closeSync(log);
	}
}

/** freePort(), synchronously (in a child node: node has no synchronous bind). */
function freePortSync() {
	const js = 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })';
	return Number(execFileSync(process.execPath, ["-e", js], { encoding: "utf8" }).trim());
}

/**
 * Starts a private PostgreSQL 15 server (initdb into a fresh temporary directory, postgres on
 * 127.0.0.1 on a free port, its unix socket in that directory too, trust authentication, fsync
 * and synchronous_commit off) owned by this process, or attaches to the one named by KLUIS_E2E_PG
 * (the run's, from run.mjs). Synchronous: kluisd's arguments are.
 */
function postgres() {
	if (pg) return pg;
	if (process.env.KLUIS_E2E_PG) {
		const { dir, port } = JSON.parse(process.env.KLUIS_E2E_PG);
		pg = { dir, port, owned: false, databases: new Map() };
		return pg;
	}
	const asPg = asPostgres();
	const dir = fs.mkdtempSync(path.join(asPg.length ? "/tmp" : os.tmpdir(), "kluis-e2e-pg-"));
	const self = { dir, port: null, owned: true, databases: new Map() };
	try {
		if (asPg.length) {
			const id = (opt) => Number(execFileSync("id", [opt, "postgres"], { encoding: "utf8" }).trim());
			let uid, gid;
			try {
				[uid, gid] = [id("-u"), id("-g")];
			} catch {
				throw new Error("no user postgres to run PostgreSQL as (install postgresql-15)");
			}
			fs.chownSync(dir, uid, gid);
		}
		// From here on the guard cleans up, whatever happens to this process.
		const g = spawnSync("setsid", ["-f", "sh", "-c", PG_GUARD, "kluis-pg-guard", String(process.pid), dir, ...asPg], {
			stdio: "ignore",
		});
		if (g.status !== 0) throw new Error(`setsid: cannot start the guard (${g.error || g.status})`);
		if (pgTool(dir, "initdb", "-D", "data", "-U", PG_USER, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync") !== 0)
			throw new Error(`initdb failed:\n${pgLogTail(dir, "tools.log")}`);
		for (let attempt = 0; attempt < 5 && self.port === null; attempt++) {
			const port = freePortSync(); // it may be taken before postgres binds it: try again
			const opts =
				`-c listen_addresses=127.0.0.1 -p ${port} -c unix_socket_directories=${dir}` +
				" -c fsync=off -c synchronous_commit=off -c full_page_writes=off" +
				" -c max_connections=200 -c shared_buffers=16MB";
			if (pgTool(dir, "pg_ctl", "-D", "data", "-l", "server.log", "-w", "-t", "30", "-o", opts, "start") === 0)
				self.port = port;
		}
		if (self.port === null)
			throw new Error(`postgres did not start:\n${pgLogTail(dir, "tools.log")}\n${pgLogTail(dir, "server.log")}`);
	} catch (e) {
		stopPostgres(self);
		throw e;
	}
	pg = self;
	process.env.KLUIS_E2E_PG = JSON.stringify({ dir, port: self.port }); // for child processes
	return pg;
}

/** Stops a server this process started and removes its directory (the guard then finds nothing to do). */
function stopPostgres(p) {
	if (!p?.owned || !p.dir) return;
	try {
		if (p.port !== null) pgTool(p.dir, "pg_ctl", "-D", "data", "-m", "fast", "-w", "-t", "30", "stop");
	} finally {
		if (!process.env.KLUIS_KEEP) fs.rmSync(p.dir, { recursive: true, force: true });
		p.dir = null;
	}
}

function psql(sql) {
	const p = postgres();
	const r = spawnSync(
		path.join(PG_BIN, "psql"),
		["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", String(p.port), "-U", PG_USER, "-d", "postgres", "-c", sql],
		{ stdio: ["ignore", "pipe", "pipe"], encoding: "utf8", timeout: 60000 },
	);
	if (r.status !== 0) throw new Error(`psql ${sql}: ${r.stderr || r.error}`);
	return r.stdout.trim();
}

/** The database of a kluisd data dir (made on first use): {name, oid}. */
function pgDatabase(dataDir) {
	const p = postgres();
	const name = "kluis_" + crypto.createHash("sha256").update(path.resolve(dataDir)).digest("hex").slice(0, 24);
	if (!p.databases.has(name)) {
		const find = () => psql(`SELECT oid FROM pg_database WHERE datname = '${name}'`);
		let oid = find();
		if (!oid) {
			// FILE_COPY: no WAL record of the whole template, so faster and a smaller pg_wal.
			psql(`CREATE DATABASE "${name}" STRATEGY FILE_COPY`);
			oid = find();
		}
		p.databases.set(name, oid);
	}
	return { name, oid: p.databases.get(name) };
}

/** kluisd's flags for where the store of dataDir lives: none for LMDB (in DIR/store). */
export function storeArgs(dataDir) {
	if (STORE !== "postgres") return [];
	const { name } = pgDatabase(dataDir);
	return ["--postgres", `host=127.0.0.1 port=${postgres().port} dbname=${name} user=${PG_USER} sslmode=disable`];
}

function walkFiles(dir, skip = () => false) {
	const out = [];
	let entries;
	try {
		entries = fs.readdirSync(dir, { withFileTypes: true });
	} catch {
		return out; // vanished meanwhile
	}
	for (const e of entries) {
		const p = path.join(dir, e.name);
		if (skip(p)) continue;
		if (e.isDirectory()) out.push(...walkFiles(p, skip));
		else if (e.isFile()) out.push(p);
	}
	return out;
}

// Every kluisd still running when this process exits is killed, whatever failed before; then
// the PostgreSQL server this process started, if any, is stopped and removed.
const live = new Set();
process.on("exit", () => {
	for (const p of live) p.kill("SIGKILL");
	stopPostgres(pg);
});

export class KluisServer {
	constructor(opts) {
		this.opts = opts;
		this.port = opts.port;
		this.dataDir = opts.dataDir;
		this.vaultName = opts.defaultVault || "default";
		this.dnsSuffix = opts.dnsSuffix || "vault.localhost";
		this.vaultHost = `${this.vaultName}.${this.dnsSuffix}`;
		this.vaultUrl = `https://${this.vaultHost}:${this.port}`;
		this.url = `https://127.0.0.1:${this.port}`;
		this.caPath = path.join(this.dataDir, "tls", "ca.pem");
		this.proc = null;
		this.stderr = "";
		this.exitCode = null;
	}

	args() {
		const a = ["--data-dir", this.dataDir, "--listen", `127.0.0.1:${this.port}`];
		if (this.opts.dnsSuffix) a.push("--dns-suffix", this.opts.dnsSuffix);
		if (this.opts.defaultVault) a.push("--default-vault", this.opts.defaultVault);
		if (this.opts.retentionDays !== undefined)
			a.push("--retention-days", String(this.opts.retentionDays));
		if (this.opts.maxBody !== undefined) a.push("--max-body", String(this.opts.maxBody));
		return a.concat(storeArgs(this.dataDir), this.opts.extraArgs || []);
	}

	/**
	 * [path, contents] of every regular file that holds this server's data at rest: those under
	 * the data dir and, under PostgreSQL, those of its server but other databases'. A file that
	 * vanishes while being listed (PostgreSQL renames and removes some) is left out.
	 */
	filesAtRest() {
		const files = walkFiles(this.dataDir);
		if (STORE === "postgres") {
			const { oid } = pgDatabase(this.dataDir);
			const base = path.join(postgres().dir, "data", "base");
			files.push(...walkFiles(postgres().dir, (p) => path.dirname(p) === base && path.basename(p) !== oid));
		}
		const out = [];
		for (const f of files) {
			try {
				out.push([f, fs.readFileSync(f)]);
			} catch (e) {
				if (e.code !== "ENOENT") throw e;
			}
		}
		return out;
	}

	/** Spawns kluisd and waits until /health answers 200 over TLS with the dir's CA. */
	async start() {
		if (this.proc) throw new Error("already running");
		this.exitCode = null;
		const proc = spawn(KLUISD, this.args(), { stdio: ["ignore", "ignore", "pipe"] });
		this.proc = proc;
		live.add(proc);
		proc.on("exit", () => live.delete(proc));
		proc.stderr.setEncoding("utf8");
		proc.stderr.on("data", (d) => {
			this.stderr += d;
			if (this.stderr.length > 1 << 20) this.stderr = this.stderr.slice(-(1 << 19));
		});
		this.exited = new Promise((resolve) => {
			proc.on("exit", (code, signal) => {
				this.exitCode = code;
				this.exitSignal = signal;
				if (this.proc === proc) this.proc = null;
				resolve({ code, signal });
			});
		});
		const deadline = Date.now() + STARTUP_MS;
		let lastErr = "";
		while (Date.now() < deadline) {
			if (this.proc !== proc)
				throw new Error(
					`kluisd exited (code ${this.exitCode}, signal ${this.exitSignal}) before serving:\n${this.stderr}`,
				);
			if (fs.existsSync(this.caPath)) {
				let r;
				try {
					r = await this.request("GET", "/health", { token: false, host: "127.0.0.1", timeoutMs: 2000 });
				} catch (e) {
					lastErr = String(e);
				}
				// The store is the one asked for (KLUIS_E2E_STORE), never silently another.
				if (r?.status === 200 && r.json?.storage !== STORE) {
					await this.kill9();
					throw new Error(`kluisd's storage is ${r.json?.storage}, not ${STORE}: ${r.text}`);
				}
				try {
					if (r?.status === 200) {
						this.token = fs.readFileSync(path.join(this.dataDir, "admin-token"), "utf8").trim();
						this.credential = staticCredential(this.token);
						return this;
					}
					if (r) lastErr = `/health answered ${r.status}`;
				} catch (e) {
					lastErr = String(e);
				}
			}
			await delay(50);
		}
		await this.kill9();
		throw new Error(`kluisd did not serve /health within ${STARTUP_MS} ms (${lastErr}):\n${this.stderr}`);
	}

	/** SIGTERM and wait; returns the exit code (the contract: 0). */
	async stop() {
		if (!this.proc) return this.exitCode;
		this.proc.kill("SIGTERM");
		const { code, signal } = await this.exited;
		if (signal) throw new Error(`kluisd died by ${signal} on SIGTERM:\n${this.stderr}`);
		return code;
	}

	async kill9() {
		if (!this.proc) return;
		this.proc.kill("SIGKILL");
		await this.exited;
	}

	async restart() {
		const code = await this.stop();
		await this.start();
		return code;
	}

	/** Stops the server (if running) and removes its data dir unless KLUIS_KEEP is set. */
	async close() {
		let code = 0;
		if (this.proc) {
			try {
				code = await this.stop();
			} catch (e) {
				await this.kill9();
				throw e;
			} finally {
				if (!process.env.KLUIS_KEEP) await fsp.rm(this.dataDir, { recursive: true, force: true });
			}
		} else if (!process.env.KLUIS_KEEP) await fsp.rm(this.dataDir, { recursive: true, force: true });
		// The contract: SIGTERM exits 0 (under a sanitizer, a leak at exit would not).
		if (code !== 0) throw new Error(`kluisd exited ${code} on SIGTERM:\n${this.stderr.slice(-4000)}`);
	}

	get ca() {
		return fs.readFileSync(this.caPath);
	}

	/** The management plane's (and the admin API's) base URL: the same listener, as localhost. */
	get armUrl() {
		return `https://localhost:${this.port}`;
	}

	/** The deployment's tenant id, read from the data plane's 401 challenge (then cached). */
	async tenantId() {
		if (this._tenant) return this._tenant;
		const r = await this.request("GET", "/secrets?api-version=7.5", { token: false });
		const m = /authorization(?:_uri)?="[^"]*\/([0-9a-fA-F-]{36})"/.exec(r.headers["www-authenticate"] || "");
		if (r.status !== 401 || !m)
			throw new Error(`no tenant in the challenge: ${r.status} ${r.headers["www-authenticate"]}`);
		this._tenant = m[1];
		return this._tenant;
	}

	/** Raw HTTPS request to this server; token defaults to the admin token; host to the vault host. */
	request(method, pathAndQuery, opts = {}) {
		return rawRequest(method, pathAndQuery, {
			port: this.port,
			ca: this.ca,
			host: opts.host ?? this.vaultHost,
			...opts,
			token: opts.token === undefined ? this.token : opts.token,
		});
	}
}

/**
 * Starts a kluisd on a free port and a fresh data dir (or opts.dataDir). opts: retentionDays,
 * maxBody, dnsSuffix, defaultVault, extraArgs, dataDir, shareCa (default true).
 */
export async function startServer(opts = {}) {
	let lastErr;
	for (let attempt = 0; attempt < 3; attempt++) {
		const dataDir = opts.dataDir || (await fsp.mkdtemp(path.join(os.tmpdir(), "kluis-e2e-js-")));
		const caDir = process.env.KLUIS_CA_DIR;
		if (opts.shareCa !== false && caDir && !fs.existsSync(path.join(dataDir, "tls", "ca.pem"))) {
			await fsp.mkdir(path.join(dataDir, "tls"), { recursive: true, mode: 0o700 });
			for (const f of ["ca.pem", "ca-key.pem"])
				await fsp.copyFile(path.join(caDir, f), path.join(dataDir, "tls", f));
			await fsp.chmod(path.join(dataDir, "tls", "ca-key.pem"), 0o600);
		}
		const srv = new KluisServer({ ...opts, dataDir, port: opts.port || (await freePort()) });
		try {
			return await srv.start();
		} catch (e) {
			lastErr = e;
			// A port taken between freePort() and bind: try another one.
			if (!/address already in use|EADDRINUSE|bind/i.test(String(e)) || opts.port) throw e;
			if (!opts.dataDir) await fsp.rm(dataDir, { recursive: true, force: true });
		}
	}
	throw lastErr;
}

/** Makes a CA template dir by starting kluisd once on an empty dir; returns DIR/tls. */
export async function makeCaTemplate() {
	const srv = await startServer({ shareCa: false });
	const code = await srv.stop();
	if (code !== 0) throw new Error(`kluisd exited ${code} on SIGTERM:\n${srv.stderr}`);
	return { tlsDir: path.join(srv.dataDir, "tls"), dataDir: srv.dataDir };
}

/** A unique name for a test object. */
let counter = 0;
export function uniqueName(prefix = "s") {
	counter += 1;
	return `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter}`;
}

/** Collects an async iterable into an array. */
export async function collect(iter) {
	const out = [];
	for await (const x of iter) out.push(x);
	return out;
}

/** Expects fn to reject with a RestError of the given status (and error code, if given). */
export async function expectRestError(fn, status, code) {
	let err;
	try {
		await fn();
	} catch (e) {
		err = e;
	}
	if (!err) throw new Error(`expected a ${status} error, but the call succeeded`);
	if (err.statusCode !== status || (code && err.code !== code))
		throw new Error(
			`expected ${status}${code ? " " + code : ""}, got ${err.statusCode} ${err.code}: ${err.message}`,
		);
	return err;
}
