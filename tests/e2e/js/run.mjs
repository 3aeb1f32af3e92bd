// Runs the JS e2e suites: node run.mjs [file.test.mjs ...]
//
// NODE_EXTRA_CA_CERTS is read by node only at process start, and every kluis data dir has its
// own CA. So this launcher first makes one CA (by starting kluisd once on an empty dir), then runs
// `node --test` with NODE_EXTRA_CA_CERTS pointing at it and KLUIS_CA_DIR telling the harness
// (lib/server.mjs) to seed every new data dir with that CA. Each test file starts its own
// servers; the SDK clients in every file trust them all, with nothing but the environment.

import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { KLUISD, makeCaTemplate } from "./lib/server.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));

if (!fs.existsSync(KLUISD)) {
	console.error(`run.mjs: kluisd not found at ${KLUISD} (set KLUISD)`);
	process.exit(2);
}

let files = process.argv.slice(2);
if (files.length === 0)
	files = fs
		.readdirSync(here)
		.filter((f) => f.endsWith(".test.mjs"))
		.sort()
		.map((f) => path.join(here, f));

const template = await makeCaTemplate();
const env = {
	...process.env,
	KLUISD,
	KLUIS_CA_DIR: template.tlsDir,
	NODE_EXTRA_CA_CERTS: path.join(template.tlsDir, "ca.pem"),
};
// The machine's preset bundles must not decide what a test trusts.
delete env.SSL_CERT_FILE;
delete env.SSL_CERT_DIR;

const child = spawn(process.execPath, ["--test", "--test-reporter=spec", ...files], {
	env,
	stdio: "inherit",
});
const forward = (sig) => child.kill(sig);
process.on("SIGINT", forward);
process.on("SIGTERM", forward);
child.on("exit", (code, signal) => {
	if (!process.env.KLUIS_KEEP) fs.rmSync(template.dataDir, { recursive: true, force: true });
	process.exit(signal ? 1 : code);
});
