// The drills' load: reads, writes and signs against one vault with the official Azure SDKs for
// JavaScript and their default retry policy, each call recorded as it ended, then a check that
// every acknowledged write is still there with its value, and that every write, acknowledged or
// not, made at most one version.
//
//   node load.mjs --url VAULT_URL --ca CA_FILE --token-file FILE --duration-s N --concurrency C
//                 --out DIR [--read-pct 60] [--write-pct 25] [--sign-pct 15] [--rate OPS_PER_S]
//                 [--stop-file PATH] [--verify-s 60]
//
// Setup (retried for up to 20 s): 8 secrets and one EC P-256 key. Then C workers loop until
// N seconds have passed (or PATH exists, or SIGINT/SIGTERM), each picking an operation by the
// percentages (and, with --rate, pacing the whole load to that many operations a second):
//   read   getSecret(name, {version}) of a write acknowledged before; the value must match
//   write  setSecret of a new name or a new version of an acknowledged one, with a unique value;
//          acknowledged only when the SDK call resolved
//   sign   CryptographyClient.sign("ES256", SHA-256 digest); the signature is verified locally
// Each SDK call (with all the retries the SDK made inside it) is one line of DIR/history.jsonl:
//   {"t0": s, "t1": s, "op": "read|write|sign", "ok": bool, "status": final HTTP status or null,
//    "code": Azure error code (or system error code or error name) or null, "region": the
//    x-ms-keyvault-region of the last response received (the SDK's onResponse callback) or null,
//    "latency_ms": ms, "attempts": HTTP attempts the SDK made, "worker": i, "request_id": the
//    x-ms-client-request-id the SDK sent, and "request_ids": every one, when its attempts did not
//    all carry the same; when the SDK retried, "trail": [[t, HTTP status or error code] for each
//    attempt, t when it ended]; when it failed, "message"}
// with times in seconds since the load started; DIR/started.json holds that moment as Unix time
// (so that a drill can place its events on the same clock), written when the load starts.
// At the end: DIR/acked.json (every acknowledged write: name, version, value, t1),
// DIR/writes.json (every write sent, setup's too, acknowledged or not: name, value, request_id
// [, request_ids], ok, version when acknowledged, t1, attempts[, code][, setup]), the check
// (every acknowledged write read back by version, retried for up to --verify-s; then every
// version of every written name listed and read: a value in two versions is a duplicate, a value
// no write sent is unknown, an acknowledged write not in the version its answer named is lost),
// and DIR/summary.json. Exits 0, or 1 when setup or the final check failed, 2 on bad arguments.
// One progress line a second on stderr. Whatever happens, it ends within N + 90 s.
//
// Trust: the CA file is given to the SDK clients (tlsOptions.ca). *.vault.localhost names need
// nss-myhostname (docs/usage.md); when the vault host does not resolve, the load goes to
// https://localhost:PORT (the default vault) with the challenge resource check off.

import { AsyncLocalStorage } from "node:async_hooks";
import crypto from "node:crypto";
import dns from "node:dns/promises";
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { CryptographyClient, KeyClient } from "@azure/keyvault-keys";
import { SecretClient } from "@azure/keyvault-secrets";

const SETUP_S = 20; // setup is retried this long
const OP_TIMEOUT_S = 20; // one SDK call, retries included, is abandoned (AbortError) after this
const SEED = 8; // secrets written at setup
const WRITE_NAMES = 64; // writes go to this many names per run (new names, then new versions)
const HARD_MARGIN_S = 90; // the process ends within duration + this

function usage(msg) {
	if (msg) console.error(`load.mjs: ${msg}`);
	console.error(
		"usage: node load.mjs --url VAULT_URL --ca CA_FILE --token-file FILE --duration-s N " +
			"--concurrency C --out DIR [--read-pct 60] [--write-pct 25] [--sign-pct 15] " +
			"[--rate OPS_PER_S] [--stop-file PATH] [--verify-s 60]",
	);
	process.exit(2);
}

let args;
try {
	({ values: args } = parseArgs({
		options: {
			url: { type: "string" },
			ca: { type: "string" },
			"token-file": { type: "string" },
			"duration-s": { type: "string" },
			concurrency: { type: "string", default: "4" },
			out: { type: "string" },
			"read-pct": { type: "string", default: "60" },
			"write-pct": { type: "string", default: "25" },
			"sign-pct": { type: "string", default: "15" },
			rate: { type: "string", default: "0" },
			"stop-file": { type: "string" },
			"verify-s": { type: "string", default: "60" },
		},
	}));
} catch (e) {
	usage(e.message);
}
for (const k of ["url", "ca", "token-file", "duration-s", "out"]) if (!args[k]) usage(`--${k} is required`);
const num = (k, min) => {
	const v = Number(args[k]);
	if (!Number.isFinite(v) || v < min) usage(`--${k} must be a number >= ${min}`);
	return v;
};
const durationS = num("duration-s", 1);
const concurrency = Math.floor(num("concurrency", 1));
const rate = num("rate", 0);
const verifyS = Math.min(num("verify-s", 1), 60);
const mix = { read: num("read-pct", 0), write: num("write-pct", 0), sign: num("sign-pct", 0) };
const mixTotal = mix.read + mix.write + mix.sign;
if (mixTotal <= 0) usage("the percentages add up to 0");

const processStart = Date.now();
const hardDeadline = processStart + (durationS + HARD_MARGIN_S - 2) * 1000;
const outDir = path.resolve(args.out);
fs.mkdirSync(outDir, { recursive: true });
const ca = fs.readFileSync(args.ca);
const token = fs.readFileSync(args["token-file"], "utf8").trim();
const credential = { getToken: async () => ({ token, expiresOnTimestamp: Date.now() + 3600e3 }) };
const runId = crypto.randomBytes(3).toString("hex");

const sleep = (ms) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
const log = (msg) => process.stderr.write(`[load] ${msg}\n`);

// The whole process has a deadline: if anything hangs past it, say so and leave.
const watchdog = setTimeout(() => {
	log(`still running ${durationS + HARD_MARGIN_S} s after start: giving up`);
	writeJson("summary.json", { ...summaryBase(), error: "hard deadline passed", verify: { ok: false } });
	process.exit(1);
}, hardDeadline + 1500 - Date.now());
watchdog.unref();

function writeJson(name, obj) {
	const file = path.join(outDir, name);
	fs.writeFileSync(`${file}.tmp`, JSON.stringify(obj, null, 1) + "\n");
	fs.renameSync(`${file}.tmp`, file);
}

// --- the SDK clients ---------------------------------------------------------------------------

let loadStart = null; // Date.now() at the load's t = 0 (null during setup)
let loadEnd = null;

// Seconds since the load started (since the process started, during setup).
const since = () => +((Date.now() - (loadStart ?? processStart)) / 1000).toFixed(4);

// The operation in progress (one per async call chain), for the per-attempt policy below.
const current = new AsyncLocalStorage();

// What one SDK call's attempts saw, filled by attemptPolicy.
const newRec = () => ({ attempts: 0, trail: [], ids: [], lastRegion: null, region: null, status: null });

// Sees every HTTP attempt the SDK makes inside one call (after its retry policy, so once per
// try), without changing anything: counts the attempts, keeps each one's outcome (HTTP status or
// error code), the last response's region and the x-ms-client-request-ids sent (each distinct
// one once: the SDK sets it before its retry policy, so one is expected per call).
// The 401 of the SDK's first-request challenge is not an attempt of the operation.
const attemptPolicy = {
	name: "drillAttempts",
	async sendRequest(request, next) {
		const rec = current.getStore();
		const id = request.headers.get("x-ms-client-request-id") ?? null;
		if (rec && !rec.ids.includes(id)) rec.ids.push(id);
		try {
			const res = await next(request);
			if (rec && !(res.status === 401 && res.headers.get("www-authenticate"))) {
				rec.attempts += 1;
				rec.trail.push([since(), res.status]);
				rec.lastRegion = res.headers.get("x-ms-keyvault-region") ?? rec.lastRegion;
			}
			return res;
		} catch (e) {
			if (rec) {
				rec.attempts += 1;
				rec.trail.push([since(), e.code ?? e.name ?? "Error"]);
			}
			throw e;
		}
	},
};

async function resolveUrl(url) {
	const u = new URL(url);
	try {
		await dns.lookup(u.hostname);
		return { url, extra: {} };
	} catch {
		log(`${u.hostname} does not resolve: using https://localhost:${u.port} (the default vault)`);
		return { url: `https://localhost:${u.port}`, extra: { disableChallengeResourceVerification: true } };
	}
}

const target = await resolveUrl(args.url);
const clientOptions = {
	...target.extra,
	tlsOptions: { ca },
	additionalPolicies: [{ policy: attemptPolicy, position: "perRetry" }],
};
const newSecretClient = () => new SecretClient(target.url, credential, clientOptions);

// One SDK call of the load as one history record. fn gets the options every SDK call takes
// (abortSignal, onResponse) and returns the call's promise; it may also throw to fail a call that
// resolved with a wrong answer.
const history = [];
let historyFd = null;
async function record(op, worker, fn) {
	const rec = newRec();
	const t0 = Date.now();
	const options = {
		abortSignal: AbortSignal.timeout(OP_TIMEOUT_S * 1000),
		onResponse: (raw) => {
			rec.status = raw.status;
			rec.region = raw.headers.get("x-ms-keyvault-region") ?? null;
		},
	};
	let ok = false;
	let code = null;
	let message = null;
	let result;
	try {
		result = await current.run(rec, () => fn(options));
		ok = true;
	} catch (e) {
		code = e.code ?? e.name ?? "Error";
		message = String(e.message ?? e).split("\n")[0].slice(0, 200);
		if (e.statusCode !== undefined) rec.status = e.statusCode;
	}
	const t1 = Date.now();
	const h = {
		t0: +((t0 - loadStart) / 1000).toFixed(4),
		t1: +((t1 - loadStart) / 1000).toFixed(4),
		op,
		ok,
		status: rec.status ?? null,
		code,
		region: rec.region ?? rec.lastRegion,
		latency_ms: t1 - t0,
		attempts: rec.attempts,
		worker,
		request_id: rec.ids[0] ?? null,
	};
	if (rec.ids.length > 1) h.request_ids = rec.ids; // the SDK changed the id between attempts
	if (rec.attempts > 1) h.trail = rec.trail; // what each try got, when the SDK retried
	if (message) h.message = message;
	history.push(h);
	fs.writeSync(historyFd, JSON.stringify(h) + "\n");
	return { ok, result, h, rec };
}

// --- setup -------------------------------------------------------------------------------------

const acked = []; // {name, version, value, t1, setup?}
const writes = []; // every write sent, acknowledged or not: see noteWrite()

// One write into writes: its attempts' request ids, and its version when acknowledged.
function noteWrite(name, value, rec, ok, version, t1, code, setup) {
	const w = { name, value, request_id: rec.ids[0] ?? null, ok, t1, attempts: rec.attempts };
	if (rec.ids.length > 1) w.request_ids = rec.ids;
	if (ok) w.version = version;
	else w.code = code;
	if (setup) w.setup = true;
	writes.push(w);
}

const names = []; // write names created so far (a write picks a new one until WRITE_NAMES)
const setupLog = { attempts: 0, errors: [] };

async function setup() {
	const secrets = newSecretClient();
	const keys = new KeyClient(target.url, credential, clientOptions);
	const deadline = Date.now() + SETUP_S * 1000;
	let key = null;
	const seeded = new Map();
	for (;;) {
		setupLog.attempts += 1;
		try {
			for (let i = 0; i < SEED; i++) {
				const name = `drill-${runId}-seed-${i}`;
				if (seeded.has(name)) continue;
				const value = `seed-${i}-${crypto.randomUUID()}`;
				const rec = newRec();
				let s;
				try {
					s = await current.run(rec, () => secrets.setSecret(name, value));
				} catch (e) {
					noteWrite(name, value, rec, false, null, 0, e.code ?? e.name ?? "Error", true);
					throw e;
				}
				noteWrite(name, value, rec, true, s.properties.version, 0, null, true);
				seeded.set(name, { name, version: s.properties.version, value, t1: 0, setup: true });
			}
			key ??= await keys.createEcKey(`drill-${runId}-ec`, { curve: "P-256" });
			break;
		} catch (e) {
			setupLog.errors.push(`${e.code ?? e.name}: ${String(e.message).split("\n")[0].slice(0, 160)}`);
			if (Date.now() >= deadline) return null;
			await sleep(1000);
		}
	}
	acked.push(...seeded.values());
	return key;
}

// --- the load ----------------------------------------------------------------------------------

const rnd = (n) => Math.floor(Math.random() * n);
function pickOp() {
	const r = Math.random() * mixTotal;
	return r < mix.read ? "read" : r < mix.read + mix.write ? "write" : "sign";
}

let stopping = false;
let stopReason = null;
const stop = (why) => {
	if (!stopping) {
		stopping = true;
		stopReason = why;
	}
};
process.on("SIGINT", () => stop("SIGINT"));
process.on("SIGTERM", () => stop("SIGTERM"));

let nextSlot = 0; // with --rate: the time (ms) the next operation may start
let writeSeq = 0;

async function worker(i, key) {
	const secrets = newSecretClient();
	const crypt = new CryptographyClient(key, credential, clientOptions);
	const pub = crypto.createPublicKey({
		key: {
			kty: "EC",
			crv: "P-256",
			x: Buffer.from(key.key.x).toString("base64url"),
			y: Buffer.from(key.key.y).toString("base64url"),
		},
		format: "jwk",
	});
	while (!stopping) {
		if (rate > 0) {
			const now = Date.now();
			const at = Math.max(now, nextSlot);
			nextSlot = at + 1000 / rate;
			await sleep(at - now);
			if (stopping) break;
		}
		const op = pickOp();
		if (op === "read") {
			const a = acked[rnd(acked.length)];
			await record("read", i, async (o) => {
				const s = await secrets.getSecret(a.name, { ...o, version: a.version });
				if (s.value !== a.value) {
					const e = new Error(`${a.name}/${a.version}: another value than the one written`);
					e.name = "WrongValue";
					throw e;
				}
			});
		} else if (op === "write") {
			writeSeq += 1;
			const name = names.length < WRITE_NAMES ? `drill-${runId}-w-${names.length}` : names[rnd(names.length)];
			if (names.length < WRITE_NAMES) names.push(name);
			const value = `${runId}-${i}-${writeSeq}-${crypto.randomUUID()}`;
			const r = await record("write", i, (o) => secrets.setSecret(name, value, o));
			const version = r.ok ? r.result.properties.version : null;
			noteWrite(name, value, r.rec, r.ok, version, r.h.t1, r.h.code);
			if (r.ok) acked.push({ name, version, value, t1: r.h.t1 });
		} else {
			const data = crypto.randomBytes(32);
			const digest = crypto.createHash("sha256").update(data).digest();
			await record("sign", i, async (o) => {
				const s = await crypt.sign("ES256", digest, o);
				const sig = Buffer.from(s.result);
				const good = crypto.verify("sha256", data, { key: pub, dsaEncoding: "ieee-p1363" }, sig);
				if (!good) {
					const e = new Error("the signature does not verify with the key's public part");
					e.name = "BadSignature";
					throw e;
				}
			});
		}
	}
}

function progress(prevCount) {
	const n = history.length;
	const slice = history.slice(prevCount);
	const by = { read: 0, write: 0, sign: 0 };
	let fails = 0;
	for (const h of slice) {
		by[h.op] += 1;
		if (!h.ok) fails += 1;
	}
	const total = history.filter((h) => !h.ok).length;
	const t = (Date.now() - loadStart) / 1000;
	log(
		`t=${t.toFixed(0)}s ${slice.length} ops/s (read ${by.read} write ${by.write} sign ${by.sign}) ` +
			`failed ${fails}/s, ${total} in all; ${acked.length} acked writes`,
	);
	return n;
}

// --- the final check ---------------------------------------------------------------------------

const readBack = new Map(); // "name/version" -> value, as verify() read it

async function verify() {
	const start = Date.now();
	const deadline = Math.min(start + verifyS * 1000, hardDeadline);
	const pending = new Map(acked.map((a) => [`${a.name}/${a.version}`, { ...a, last: null }]));
	let rounds = 0;
	while (pending.size > 0 && Date.now() < deadline) {
		rounds += 1;
		const items = [...pending.values()];
		let next = 0;
		const check = async () => {
			const c = newSecretClient();
			while (next < items.length && Date.now() < deadline) {
				const a = items[next++];
				try {
					const s = await c.getSecret(a.name, {
						version: a.version,
						abortSignal: AbortSignal.timeout(Math.max(1000, deadline - Date.now())),
					});
					readBack.set(`${a.name}/${a.version}`, s.value);
					if (s.value === a.value) pending.delete(`${a.name}/${a.version}`);
					else a.last = "WrongValue";
				} catch (e) {
					a.last = `${e.statusCode ?? ""} ${e.code ?? e.name}`.trim();
				}
			}
		};
		await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, check));
		if (pending.size > 0) await sleep(1000);
	}
	const bad = [...pending.values()];
	const exactlyOnce = await checkVersions();
	return {
		ok: bad.length === 0 && exactlyOnce.ok,
		checked: acked.length,
		unreadable: bad.length,
		rounds,
		duration_s: +((Date.now() - start) / 1000).toFixed(2),
		failures: bad.slice(0, 20).map((a) => ({ name: a.name, version: a.version, t1: a.t1, last: a.last })),
		exactly_once: exactlyOnce,
	};
}

// Every version of every written name, listed and read (retried for up to --verify-s), against
// writes: every write sends a value of its own, so a value in two versions of a name is a
// duplicate (one write made two versions), a value no write of the name sent is unknown, and an
// acknowledged write whose value is not in the version its answer named is lost.
async function checkVersions() {
	const start = Date.now();
	const deadline = Math.min(start + verifyS * 1000, hardDeadline);
	const sent = new Map(); // name -> Map(value -> write)
	for (const w of writes) {
		if (!sent.has(w.name)) sent.set(w.name, new Map());
		sent.get(w.name).set(w.value, w);
	}
	const stored = new Map(); // name -> [{version, value}], once listed and read in full
	const last = new Map(); // name -> the last error met listing or reading it
	while (stored.size < sent.size && Date.now() < deadline) {
		const todo = [...sent.keys()].filter((n) => !stored.has(n));
		const one = async () => {
			const c = newSecretClient();
			while (todo.length > 0 && Date.now() < deadline) {
				const name = todo.pop();
				const abortSignal = AbortSignal.timeout(Math.max(1000, deadline - Date.now()));
				try {
					const versions = [];
					for await (const p of c.listPropertiesOfSecretVersions(name, { abortSignal })) {
						const key = `${name}/${p.version}`;
						if (!readBack.has(key))
							readBack.set(key, (await c.getSecret(name, { version: p.version, abortSignal })).value);
						versions.push({ version: p.version, value: readBack.get(key) });
					}
					stored.set(name, versions);
				} catch (e) {
					last.set(name, `${e.statusCode ?? ""} ${e.code ?? e.name}`.trim());
				}
			}
		};
		await Promise.all(Array.from({ length: Math.min(concurrency, todo.length) }, one));
		if (stored.size < sent.size) await sleep(1000);
	}
	const r = { versions: 0, duplicates: 0, unknown: 0, lost: 0, unchecked: sent.size - stored.size };
	const examples = [];
	const about = (w) => w && { request_id: w.request_id, request_ids: w.request_ids, ok: w.ok,
		version: w.version, attempts: w.attempts, t1: w.t1, code: w.code };
	for (const [name, versions] of stored) {
		r.versions += versions.length;
		const byValue = new Map();
		for (const v of versions) byValue.set(v.value, [...(byValue.get(v.value) ?? []), v.version]);
		for (const [value, vs] of byValue) {
			const w = sent.get(name).get(value);
			if (!w) r.unknown += vs.length;
			else if (vs.length > 1) r.duplicates += vs.length - 1;
			else continue;
			examples.push({ what: w ? "duplicate" : "unknown", name, versions: vs, value, write: about(w) });
		}
	}
	for (const w of writes.filter((x) => x.ok && stored.has(x.name))) {
		const where = stored.get(w.name).filter((v) => v.value === w.value).map((v) => v.version);
		if (where.includes(w.version)) continue;
		r.lost += 1;
		examples.push({ what: "lost", name: w.name, versions: where, value: w.value, write: about(w) });
	}
	return {
		ok: r.duplicates === 0 && r.unknown === 0 && r.lost === 0 && r.unchecked === 0,
		writes: writes.length,
		acknowledged: writes.filter((w) => w.ok).length,
		names: stored.size,
		...r,
		duration_s: +((Date.now() - start) / 1000).toFixed(2),
		examples: examples.slice(0, 20),
		unchecked_names: [...sent.keys()].filter((n) => !stored.has(n)).slice(0, 20)
			.map((n) => ({ name: n, last: last.get(n) ?? null })),
	};
}

// --- summary -----------------------------------------------------------------------------------

function pct(sorted, p) {
	if (sorted.length === 0) return null;
	return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function summaryBase() {
	const ops = {};
	for (const op of ["read", "write", "sign"]) {
		const hs = history.filter((h) => h.op === op);
		const lat = hs.filter((h) => h.ok).map((h) => h.latency_ms).sort((a, b) => a - b);
		ops[op] = {
			total: hs.length,
			ok: hs.length - hs.filter((h) => !h.ok).length,
			failed: hs.filter((h) => !h.ok).length,
			retried: hs.filter((h) => h.attempts > 1).length,
			latency_ms: { p50: pct(lat, 50), p99: pct(lat, 99), max: lat.length ? lat[lat.length - 1] : null },
		};
	}
	// Failures grouped by what they were: op, status, code; with when the first and last ended.
	const groups = new Map();
	for (const h of history.filter((x) => !x.ok)) {
		const k = `${h.op} ${h.status} ${h.code}`;
		const g = groups.get(k) ?? {
			op: h.op,
			status: h.status,
			code: h.code,
			count: 0,
			first_t1: h.t1,
			last_t1: h.t1,
			message: h.message,
		};
		g.count += 1;
		g.first_t1 = Math.min(g.first_t1, h.t1);
		g.last_t1 = Math.max(g.last_t1, h.t1);
		groups.set(k, g);
	}
	const regions = {};
	for (const h of history) regions[h.region ?? "none"] = (regions[h.region ?? "none"] ?? 0) + 1;
	return {
		url: target.url,
		run_id: runId,
		started_unix: loadStart === null ? null : loadStart / 1000,
		load_s: loadEnd === null || loadStart === null ? null : +((loadEnd - loadStart) / 1000).toFixed(2),
		stop_reason: stopReason,
		concurrency,
		rate,
		mix,
		setup: setupLog,
		ops,
		regions,
		failures: [...groups.values()],
		acked_writes: acked.length,
		// calls whose attempts did not all carry the same x-ms-client-request-id
		request_id_changed: history.filter((h) => h.request_ids).length,
	};
}

// --- main --------------------------------------------------------------------------------------

const key = await setup();
if (!key) {
	log(`setup failed for ${SETUP_S} s: ${setupLog.errors.slice(-3).join("; ")}`);
	writeJson("summary.json", { ...summaryBase(), error: "setup failed", verify: { ok: false } });
	process.exit(1);
}

historyFd = fs.openSync(path.join(outDir, "history.jsonl"), "w");
loadStart = Date.now();
writeJson("started.json", { unix: loadStart / 1000, setup_s: (loadStart - processStart) / 1000 });
log(`load: ${concurrency} workers for ${durationS} s, read/write/sign ${mix.read}/${mix.write}/${mix.sign}` +
	`${rate > 0 ? `, ${rate} ops/s` : ""} on ${target.url}`);

let shown = 0;
const ticker = setInterval(() => {
	shown = progress(shown);
	if (args["stop-file"] && fs.existsSync(args["stop-file"])) stop("stop file");
}, 1000);
const timer = setTimeout(() => stop("duration"), durationS * 1000);
await Promise.all(Array.from({ length: concurrency }, (_, i) => worker(i, key)));
loadEnd = Date.now();
clearTimeout(timer);
clearInterval(ticker);
progress(shown);
fs.closeSync(historyFd);

writeJson("acked.json", acked);
writeJson("writes.json", writes);
log(`load ended (${stopReason}) after ${((loadEnd - loadStart) / 1000).toFixed(1)} s; ` +
	`checking ${acked.length} acknowledged writes`);
const v = await verify();
const summary = { ...summaryBase(), verify: v };
writeJson("summary.json", summary);
for (const op of ["read", "write", "sign"])
	log(`${op}: ${summary.ops[op].ok} ok, ${summary.ops[op].failed} failed, ` +
		`${summary.ops[op].retried} retried by the SDK`);
for (const g of summary.failures)
	log(`failed: ${g.count} x ${g.op} ${g.status ?? "-"} ${g.code} ` +
		`(t1 ${g.first_t1}..${g.last_t1} s): ${g.message ?? ""}`);
log(`check: ${v.unreadable === 0 ? "every" : `NOT every (${v.unreadable} unreadable)`} ` +
	`acknowledged write of ${v.checked} read back in ${v.duration_s} s`);
const x = v.exactly_once;
log(`exactly once: ${x.writes} writes sent, ${x.acknowledged} acknowledged; ${x.versions} versions ` +
	`of ${x.names} names: ${x.duplicates} duplicates, ${x.unknown} unknown, ${x.lost} lost, ` +
	`${x.unchecked} names not checked; ${summary.request_id_changed} calls changed request id`);
for (const e of x.examples) log(`  ${e.what}: ${JSON.stringify(e)}`);
process.exit(v.ok ? 0 : 1);
