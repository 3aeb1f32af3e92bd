// An application as its users write it for Azure Key Vault: one credential of @azure/identity,
// made with no options at all, handed to a Key Vault client. Everything else (which identity,
// which endpoint, which CA) comes from the environment, which is the point of issue 14: the
// identity suites (identity*.test.mjs) run this file as a child process with nothing but
// environment variables set, never importing it.
//
//   node identity_app.mjs CREDENTIAL OP VAULT_URL NAME
//
// CREDENTIAL: default (DefaultAzureCredential), managed (ManagedIdentityCredential), environment
// (EnvironmentCredential) or workload (WorkloadIdentityCredential).
// OP:
//   secret  reads secret NAME twice; prints {"value", "firstMs", "secondMs"}: the first read pays
//           for the challenge and the token, the second uses the cached token.
//   sign    signs a random SHA-256 digest with key NAME (ES256, CryptographyClient) and verifies
//           the signature with the same client; prints {"kid", "valid", "firstMs"}.
//   watch   reads secret NAME every 200 ms, printing {"ok": true, "t": ms} a line, until a read
//           fails; then prints {"error", "status", "message", "t"} and exits 1. The suites use it
//           to see how soon a revoked credential stops a running app (its token stays cached).
// Any failure prints {"error": <the error's name>, "status", "message"} and exits 1; a usage
// error exits 2. No retries or timeouts of its own: the caller bounds the process.

import crypto from "node:crypto";
import {
	DefaultAzureCredential,
	EnvironmentCredential,
	ManagedIdentityCredential,
	WorkloadIdentityCredential,
} from "@azure/identity";
import { CryptographyClient } from "@azure/keyvault-keys";
import { SecretClient } from "@azure/keyvault-secrets";

const makers = {
	default: () => new DefaultAzureCredential(),
	managed: () => new ManagedIdentityCredential(),
	environment: () => new EnvironmentCredential(),
	workload: () => new WorkloadIdentityCredential(),
};

const started = performance.now();
const since = () => Math.round(performance.now() - started);

function print(obj) {
	process.stdout.write(JSON.stringify(obj) + "\n");
}

function failure(e) {
	return {
		error: e?.name || "Error",
		status: e?.statusCode ?? null,
		message: String(e?.message || e).slice(0, 2000),
	};
}

async function timed(fn) {
	const t0 = performance.now();
	const value = await fn();
	return [value, Math.round(performance.now() - t0)];
}

async function main() {
	const [kind, op, vaultUrl, name] = process.argv.slice(2);
	if (!makers[kind] || !["secret", "sign", "watch"].includes(op) || !vaultUrl || !name) {
		process.stderr.write("usage: identity_app.mjs default|managed|environment|workload secret|sign|watch VAULT_URL NAME\n");
		process.exit(2);
	}
	const credential = makers[kind]();
	if (op === "secret") {
		const client = new SecretClient(vaultUrl, credential);
		const [first, firstMs] = await timed(() => client.getSecret(name));
		const [second, secondMs] = await timed(() => client.getSecret(name));
		if (second.value !== first.value) throw new Error("two reads disagree");
		print({ value: first.value, firstMs, secondMs });
	} else if (op === "sign") {
		const keyId = `${vaultUrl.replace(/\/$/, "")}/keys/${name}`;
		const client = new CryptographyClient(keyId, credential);
		const digest = crypto.createHash("sha256").update(crypto.randomBytes(32)).digest();
		const [signed, firstMs] = await timed(() => client.sign("ES256", digest));
		const verified = await client.verify("ES256", digest, signed.result);
		print({ kid: signed.keyID, valid: verified.result, firstMs });
	} else {
		const client = new SecretClient(vaultUrl, credential);
		for (;;) {
			try {
				await client.getSecret(name);
			} catch (e) {
				print({ ...failure(e), t: since() });
				process.exit(1);
			}
			print({ ok: true, t: since() });
			await new Promise((r) => setTimeout(r, 200));
		}
	}
}

main().catch((e) => {
	print(failure(e));
	process.exit(1);
});
