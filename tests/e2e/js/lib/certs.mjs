// Helpers for the certificates suites: the `openssl` command line (a CA of the test's own that
// signs CSRs, PFX and PEM files to import), X.509 inspection with node's crypto and `openssl x509
// -text`, and the shapes of the wire contract (shared/spec/certificates.md) the tests compare.
// Everything runs in a private temporary directory per call; nothing here talks to kluisd.

import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export const API = "api-version=7.6";
export const VERSION_RE = /^[0-9a-f]{32}$/;
/** The poll interval of every poller in these suites: short, so a 2 s issuance costs ~2 s. */
export const POLL = { intervalInMs: 100 };

/** Runs openssl with args in dir; returns stdout (Buffer). Throws with stderr on failure. */
export function openssl(args, { cwd, input } = {}) {
	try {
		return execFileSync("openssl", args, {
			cwd,
			input,
			stdio: ["pipe", "pipe", "pipe"],
			timeout: 60000,
		});
	} catch (e) {
		throw new Error(`openssl ${args.join(" ")}: ${e.stderr?.toString() || e.message}`);
	}
}

/** A fresh temporary directory, removed by the caller with rmTmp(). */
export function tmpDir(prefix = "kluis-e2e-cert-") {
	return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function rmTmp(dir) {
	if (dir && !process.env.KLUIS_KEEP) fs.rmSync(dir, { recursive: true, force: true });
}

/** openssl -newkey argument for a key type: "rsa:2048", "ec:P-256" ... */
function newkeyArgs(dir, kind) {
	if (kind.startsWith("rsa:")) return ["-newkey", kind];
	const curve = { "ec:P-256": "prime256v1", "ec:P-384": "secp384r1", "ec:P-521": "secp521r1" }[kind];
	if (!curve) throw new Error(`unknown key kind ${kind}`);
	const params = path.join(dir, `${curve}.params`);
	openssl(["ecparam", "-name", curve, "-out", params]);
	return ["-newkey", `ec:${params}`];
}

/**
 * A CA of the test's own, made with `openssl req -x509`: {dir, cert (PEM path), key (path),
 * pem (text), der (Buffer)}.
 */
export function makeCa(subject = "/CN=kluis e2e test CA/O=kluis") {
	const dir = tmpDir("kluis-e2e-ca-");
	const cert = path.join(dir, "ca.pem");
	const key = path.join(dir, "ca.key");
	openssl([
		"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
		"-subj", subject, "-days", "30", "-sha256",
		"-addext", "basicConstraints=critical,CA:TRUE",
		"-addext", "keyUsage=critical,keyCertSign,cRLSign",
	]);
	const pem = fs.readFileSync(cert, "utf8");
	return { dir, cert, key, pem, der: pemToDer(pem) };
}

/**
 * Signs a PKCS#10 CSR (DER bytes, as the SDK's CertificateOperation.csr gives it) with the CA;
 * the CSR's extensions are copied. Returns {pem, der} of the issued certificate.
 */
export function signCsr(ca, csrDer, days = 30) {
	const dir = tmpDir();
	try {
		fs.writeFileSync(path.join(dir, "req.der"), csrDer);
		openssl(["req", "-inform", "DER", "-in", "req.der", "-out", "req.pem"], { cwd: dir });
		// The CSR must carry a valid self-signature: openssl req -verify checks it.
		openssl(["req", "-in", "req.pem", "-verify", "-noout"], { cwd: dir });
		openssl(
			[
				"x509", "-req", "-in", "req.pem", "-CA", ca.cert, "-CAkey", ca.key,
				"-CAcreateserial", "-days", String(days), "-sha256", "-copy_extensions", "copy",
				"-out", "leaf.pem",
			],
			{ cwd: dir },
		);
		const pem = fs.readFileSync(path.join(dir, "leaf.pem"), "utf8");
		return { pem, der: pemToDer(pem) };
	} finally {
		rmTmp(dir);
	}
}

/**
 * A key pair and self-signed certificate made by openssl, as files to import:
 * {keyPem (PKCS#8), certPem, certDer, pfx(password) -> Buffer, pemBundle (key then cert)}.
 */
export function makeSelfSigned({
	kind = "rsa:2048",
	subject = "/CN=imported.example",
	days = 30,
	san,
	keyUsage = "critical,digitalSignature,keyEncipherment",
} = {}) {
	const dir = tmpDir();
	try {
		const args = [
			"req", "-x509", ...newkeyArgs(dir, kind), "-nodes", "-keyout", "key.pem",
			"-out", "cert.pem", "-subj", subject, "-days", String(days), "-sha256",
		];
		// the key's operations follow the leaf's key usages (C3, C5): none, no operations
		if (keyUsage) args.push("-addext", `keyUsage=${keyUsage.replace(/keyEncipherment/, kind.startsWith("ec") ? "keyAgreement" : "keyEncipherment")}`);
		if (san) args.push("-addext", `subjectAltName=${san}`);
		openssl(args, { cwd: dir });
		// -newkey writes PKCS#8 ("PRIVATE KEY") in OpenSSL 3; pkey makes sure of it.
		const keyPem = openssl(["pkey", "-in", "key.pem"], { cwd: dir }).toString();
		const certPem = fs.readFileSync(path.join(dir, "cert.pem"), "utf8");
		return {
			keyPem,
			certPem,
			certDer: pemToDer(certPem),
			pemBundle: keyPem + certPem,
			pfx: (password = "") => makePfx(keyPem, certPem, password),
		};
	} finally {
		rmTmp(dir);
	}
}

/**
 * openssl pkcs12 -export of a PEM key and certificate(s) with a password (may be empty).
 * how: "matched" (openssl checks key and leaf match), "unchecked" (the certificates go in as
 * -certfile, so a key and a certificate that do not match), "nokey" (certificates only).
 */
export function makePfx(keyPem, certPem, password = "", how = "matched") {
	const dir = tmpDir();
	try {
		fs.writeFileSync(path.join(dir, "key.pem"), keyPem || "");
		fs.writeFileSync(path.join(dir, "cert.pem"), certPem);
		const what = {
			matched: ["-inkey", "key.pem", "-in", "cert.pem"],
			unchecked: ["-inkey", "key.pem", "-certfile", "cert.pem", "-nocerts"],
			nokey: ["-nokeys", "-in", "cert.pem"],
		}[how];
		openssl(["pkcs12", "-export", ...what, "-out", "c.pfx", "-passout", `pass:${password}`], { cwd: dir });
		return fs.readFileSync(path.join(dir, "c.pfx"));
	} finally {
		rmTmp(dir);
	}
}

/** Opens a PFX with `openssl pkcs12 -passin pass:PW -nodes` (no -legacy): the PEM text out. */
export function openPfx(pfx, password = "") {
	const dir = tmpDir();
	try {
		fs.writeFileSync(path.join(dir, "c.pfx"), pfx);
		return openssl(["pkcs12", "-in", "c.pfx", "-passin", `pass:${password}`, "-nodes"], { cwd: dir }).toString();
	} finally {
		rmTmp(dir);
	}
}

/** `openssl x509 -text` of a DER certificate. */
export function x509Text(der) {
	return openssl(["x509", "-inform", "DER", "-noout", "-text"], { input: der }).toString();
}

/** `openssl req -text` of a DER CSR (and its self-signature verified). */
export function csrText(der) {
	return openssl(["req", "-inform", "DER", "-noout", "-text", "-verify"], { input: der }).toString();
}

export function pemToDer(pem, label = "CERTIFICATE") {
	const m = new RegExp(`-----BEGIN ${label}-----([^-]+)-----END ${label}-----`).exec(pem);
	if (!m) throw new Error(`no ${label} block`);
	return Buffer.from(m[1].replace(/\s+/g, ""), "base64");
}

/** Every CERTIFICATE block of a PEM text, in order, as DER. */
export function pemCerts(pem) {
	return [...pem.matchAll(/-----BEGIN CERTIFICATE-----([^-]+)-----END CERTIFICATE-----/g)].map((m) =>
		Buffer.from(m[1].replace(/\s+/g, ""), "base64"),
	);
}

/** x5t as the spec says: base64url without padding of SHA-1 over the leaf DER. */
export function x5tOf(der) {
	return crypto.createHash("sha1").update(der).digest("base64url");
}

export function sha1Hex(der) {
	return crypto.createHash("sha1").update(der).digest("hex");
}

/** The policy Python/JS tests build most: Self-signed, a subject, a short poll. */
export function selfPolicy(extra = {}) {
	return { issuerName: "Self", subject: "CN=e2e.example", ...extra };
}

/** Waits until fn() is truthy (bounded); returns its value. For state that follows the clock. */
export async function until(fn, what, timeoutMs = 20000) {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const v = await fn();
		if (v) return v;
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
		await new Promise((r) => setTimeout(r, 100));
	}
}

/**
 * The certificate operation as the SDK shows it: through getCertificateOperation's poller, whose
 * state carries it (the create poller's public state does not). Returns {poller, op}.
 */
export async function operationOf(client, name) {
	const poller = await client.getCertificateOperation(name, POLL);
	return { poller, op: poller.getOperationState().certificateOperation };
}

/** A key and a certificate for it issued by ca (openssl req -new, then signCsr): {keyPem, certPem, certDer}. */
export function makeCaSigned(ca, { kind = "rsa:2048", subject = "/CN=leaf.example", san } = {}) {
	const dir = tmpDir();
	try {
		const args = ["req", "-new", ...newkeyArgs(dir, kind), "-nodes", "-keyout", "key.pem", "-subj", subject, "-outform", "DER", "-out", "req.der"];
		if (san) args.push("-addext", `subjectAltName=${san}`);
		openssl(args, { cwd: dir });
		const keyPem = openssl(["pkey", "-in", "key.pem"], { cwd: dir }).toString();
		const leaf = signCsr(ca, fs.readFileSync(path.join(dir, "req.der")));
		return { keyPem, certPem: leaf.pem, certDer: leaf.der };
	} finally {
		rmTmp(dir);
	}
}

/** A PKCS#8 PEM key rewritten in the traditional form (BEGIN RSA/EC PRIVATE KEY). */
export function traditionalKey(keyPem) {
	return openssl(["pkey", "-traditional"], { input: keyPem }).toString();
}

/** The PKCS#8 DER of a PEM private key (any form), to compare keys. */
export function pkcs8Der(keyPem) {
	return crypto.createPrivateKey(keyPem).export({ format: "der", type: "pkcs8" });
}

/**
 * One request through each SDK client, in turn, so that each has answered its 401 challenge
 * before a test sends requests in parallel (a fresh JS client strips the body of its first
 * request; concurrent first requests have been seen to go out with the token and no body).
 */
export async function warmUp(...clients) {
	for (const c of clients) {
		const pages = c.listPropertiesOfIssuers?.() ?? c.listPropertiesOfKeys?.() ?? c.listPropertiesOfSecrets?.();
		for await (const _ of pages.byPage()) break;
	}
}
