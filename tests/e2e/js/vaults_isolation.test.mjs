// Several vaults in one deployment: three vaults made through @azure/arm-keyvault, then the same
// secret and key names set in each with different values through @azure/keyvault-secrets/-keys.
// Each vault sees only its own objects (get, versions, lists, deleted lists), a delete, recover or
// purge in one leaves the others alone, a backup from one vault restores into another (allowed in
// Azure within a geography) and then lives only there, crypto in one vault cannot name a key of
// another, and deleting a whole vault leaves the others and the default vault untouched.

import assert from "node:assert/strict";
import crypto, { randomBytes, randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { KeyVaultManagementClient } from "@azure/arm-keyvault";
import { CryptographyClient, KeyClient } from "@azure/keyvault-keys";
import { SecretClient } from "@azure/keyvault-secrets";
import { collect, expectRestError, startServer } from "./lib/server.mjs";

const LOCATION = "westeurope";

function vaultName(prefix) {
	return `${prefix}${randomBytes(5).toString("hex")}`;
}

describe("vault isolation", () => {
	let srv;
	let mgmt;
	const v = {}; // a, b, c: {vault, secrets, keys, uri}
	let dflt; // the default vault's SecretClient

	const names = (items) => items.map((x) => x.name).sort();

	before(async () => {
		srv = await startServer();
		const tenant = await srv.tenantId();
		mgmt = new KeyVaultManagementClient(srv.credential, randomUUID(), {
			endpoint: srv.armUrl,
			credentials: { scopes: [`${srv.armUrl}/.default`] },
		});
		for (const [k, rg] of [["a", "rg-one"], ["b", "rg-one"], ["c", "rg-two"]]) {
			const vault = await mgmt.vaults.beginCreateOrUpdateAndWait(rg, vaultName(`iso${k}`), {
				location: LOCATION,
				properties: { tenantId: tenant, sku: { family: "A", name: "standard" } },
			});
			const uri = vault.properties.vaultUri;
			v[k] = {
				vault,
				rg,
				uri: uri.replace(/\/$/, ""),
				secrets: new SecretClient(uri, srv.credential),
				keys: new KeyClient(uri, srv.credential),
			};
		}
		dflt = new SecretClient(srv.vaultUrl, srv.credential);
	});
	after(async () => {
		await srv?.close();
	});

	test("the vaults are distinct, each with its own authority", () => {
		const uris = new Set(Object.values(v).map((x) => x.uri));
		assert.equal(uris.size, 3);
		for (const x of Object.values(v)) assert.match(x.uri, /^https:\/\/iso[abc][0-9a-f]{10}\.vault\.localhost:\d+$/);
	});

	test("the same secret name holds a different value in each vault", async () => {
		const sa = await v.a.secrets.setSecret("shared", "value in a");
		const sb = await v.b.secrets.setSecret("shared", "value in b");
		await v.b.secrets.setSecret("shared", "value in b, v2");
		assert.equal(sa.properties.id, `${v.a.uri}/secrets/shared/${sa.properties.version}`);
		assert.equal(sb.properties.id, `${v.b.uri}/secrets/shared/${sb.properties.version}`);
		assert.equal((await v.a.secrets.getSecret("shared")).value, "value in a");
		assert.equal((await v.b.secrets.getSecret("shared")).value, "value in b, v2");
		assert.equal((await v.b.secrets.getSecret("shared", { version: sb.properties.version })).value, "value in b");
		await expectRestError(() => v.c.secrets.getSecret("shared"), 404, "SecretNotFound");
		await expectRestError(() => dflt.getSecret("shared"), 404, "SecretNotFound");
		// A version of b's secret is unknown in a, though the name exists there.
		await expectRestError(() => v.a.secrets.getSecret("shared", { version: sb.properties.version }), 404);
		assert.equal((await collect(v.a.secrets.listPropertiesOfSecretVersions("shared"))).length, 1);
		assert.equal((await collect(v.b.secrets.listPropertiesOfSecretVersions("shared"))).length, 2);
		// Versions of a name the vault lacks: an empty list or 404 (the spec does not say which).
		const inC = await collect(v.c.secrets.listPropertiesOfSecretVersions("shared")).catch((e) => {
			if (e.statusCode !== 404) throw e;
			return [];
		});
		assert.deepEqual(inC, []);
		// Updating properties in one vault leaves the other's alone.
		await v.a.secrets.updateSecretProperties("shared", sa.properties.version, { tags: { where: "a" } });
		const bLatest = await v.b.secrets.getSecret("shared");
		assert.ok(!bLatest.properties.tags || !bLatest.properties.tags.where);
	});

	test("lists show only the vault's own secrets", async () => {
		await v.a.secrets.setSecret("list-a-only", "1");
		await v.b.secrets.setSecret("list-b-only", "2");
		await v.a.secrets.setSecret("list-both", "a");
		await v.b.secrets.setSecret("list-both", "b");
		const la = names(await collect(v.a.secrets.listPropertiesOfSecrets())).filter((n) => n.startsWith("list-"));
		const lb = names(await collect(v.b.secrets.listPropertiesOfSecrets())).filter((n) => n.startsWith("list-"));
		const lc = names(await collect(v.c.secrets.listPropertiesOfSecrets())).filter((n) => n.startsWith("list-"));
		assert.deepEqual(la, ["list-a-only", "list-both"]);
		assert.deepEqual(lb, ["list-b-only", "list-both"]);
		assert.deepEqual(lc, []);
		for (const p of await collect(v.a.secrets.listPropertiesOfSecrets()))
			assert.ok(p.id.startsWith(`${v.a.uri}/secrets/`), p.id);
		const ld = names(await collect(dflt.listPropertiesOfSecrets())).filter((n) => n.startsWith("list-"));
		assert.deepEqual(ld, []);
	});

	test("the same key name is a different key in each vault", async () => {
		const ka = await v.a.keys.createKey("shared-key", "RSA", { keySize: 2048 });
		const kb = await v.b.keys.createKey("shared-key", "EC", { curve: "P-256" });
		assert.equal(ka.id, `${v.a.uri}/keys/shared-key/${ka.properties.version}`);
		assert.equal(kb.id, `${v.b.uri}/keys/shared-key/${kb.properties.version}`);
		assert.equal((await v.a.keys.getKey("shared-key")).keyType, "RSA");
		assert.equal((await v.b.keys.getKey("shared-key")).keyType, "EC");
		await expectRestError(() => v.c.keys.getKey("shared-key"), 404, "KeyNotFound");
		await expectRestError(() => v.a.keys.getKey("shared-key", { version: kb.properties.version }), 404);
		assert.deepEqual(names(await collect(v.c.keys.listPropertiesOfKeys())), []);
		assert.ok(names(await collect(v.a.keys.listPropertiesOfKeys())).includes("shared-key"));
	});

	test("crypto in one vault cannot name a key that lives only in another", async () => {
		const kb = await v.b.keys.createKey("b-only-key", "RSA", { keySize: 2048 });
		const ka = await v.a.keys.createKey("a-crypto-key", "RSA", { keySize: 2048 });
		await expectRestError(() => v.a.keys.getKey("b-only-key"), 404, "KeyNotFound");
		// b's key name and version on a's authority.
		const wrong = new CryptographyClient(`${v.a.uri}/keys/b-only-key/${kb.properties.version}`, srv.credential);
		const digest = crypto.createHash("sha256").update("payload").digest();
		await expectRestError(() => wrong.sign("RS256", digest), 404);
		await expectRestError(() => wrong.decrypt({ algorithm: "RSA-OAEP", ciphertext: Buffer.alloc(256, 1) }), 404);
		await expectRestError(() => wrong.unwrapKey("RSA-OAEP", Buffer.alloc(256, 1)), 404);
		// a's key with b's version.
		const mixed = new CryptographyClient(`${v.a.uri}/keys/a-crypto-key/${kb.properties.version}`, srv.credential);
		await expectRestError(() => mixed.sign("RS256", digest), 404);
		// The right vault works, and a's key does not verify b's signature.
		const right = new CryptographyClient(kb, srv.credential);
		const sig = await right.sign("RS256", digest);
		assert.equal((await right.verify("RS256", digest, sig.result)).result, true);
		const inA = new CryptographyClient(ka, srv.credential);
		assert.equal((await inA.verify("RS256", digest, sig.result)).result, false);
	});

	test("deleting a secret in one vault leaves the same name in the others alone", async () => {
		await v.a.secrets.setSecret("del-shared", "a1");
		await v.b.secrets.setSecret("del-shared", "b1");
		await v.c.secrets.setSecret("del-shared", "c1");
		const d = await (await v.a.secrets.beginDeleteSecret("del-shared")).pollUntilDone();
		assert.equal(d.recoveryId, `${v.a.uri}/deletedsecrets/del-shared`);
		await expectRestError(() => v.a.secrets.getSecret("del-shared"), 404);
		assert.equal((await v.b.secrets.getSecret("del-shared")).value, "b1");
		assert.equal((await v.c.secrets.getSecret("del-shared")).value, "c1");
		assert.ok(names(await collect(v.a.secrets.listDeletedSecrets())).includes("del-shared"));
		assert.ok(!names(await collect(v.b.secrets.listDeletedSecrets())).includes("del-shared"));
		assert.ok(!names(await collect(v.c.secrets.listDeletedSecrets())).includes("del-shared"));
		await expectRestError(() => v.b.secrets.getDeletedSecret("del-shared"), 404);
		// The name is held in a only.
		await expectRestError(() => v.a.secrets.setSecret("del-shared", "again"), 409, "Conflict");
		assert.equal((await v.b.secrets.setSecret("del-shared", "b2")).value, "b2");
		// Deleting in b too, then purging in a, leaves b's deleted secret recoverable.
		await (await v.b.secrets.beginDeleteSecret("del-shared")).pollUntilDone();
		await v.a.secrets.purgeDeletedSecret("del-shared");
		await expectRestError(() => v.a.secrets.getDeletedSecret("del-shared"), 404);
		const bd = await v.b.secrets.getDeletedSecret("del-shared");
		assert.equal(bd.recoveryId, `${v.b.uri}/deletedsecrets/del-shared`);
		await (await v.b.secrets.beginRecoverDeletedSecret("del-shared")).pollUntilDone();
		assert.equal((await v.b.secrets.getSecret("del-shared")).value, "b2");
		// a's name is free again, b's value is untouched by the new a secret.
		await v.a.secrets.setSecret("del-shared", "a-new");
		assert.equal((await v.a.secrets.getSecret("del-shared")).value, "a-new");
		assert.equal((await v.b.secrets.getSecret("del-shared")).value, "b2");
		assert.equal((await v.c.secrets.getSecret("del-shared")).value, "c1");
	});

	test("deleting a key in one vault leaves the others alone", async () => {
		await v.a.keys.createKey("del-key", "EC");
		const kb = await v.b.keys.createKey("del-key", "EC");
		await (await v.a.keys.beginDeleteKey("del-key")).pollUntilDone();
		assert.equal((await v.b.keys.getKey("del-key")).id, kb.id);
		assert.ok(names(await collect(v.a.keys.listDeletedKeys())).includes("del-key"));
		assert.ok(!names(await collect(v.b.keys.listDeletedKeys())).includes("del-key"));
		await expectRestError(() => v.b.keys.getDeletedKey("del-key"), 404);
		await expectRestError(() => v.b.keys.purgeDeletedKey("del-key"), 404);
		await (await v.a.keys.beginRecoverDeletedKey("del-key")).pollUntilDone();
		assert.equal((await v.a.keys.getKey("del-key")).name, "del-key");
	});

	test("a secret backup from one vault restores into another and then lives only there", async () => {
		const orig = await v.a.secrets.setSecret("moving", "travels", { contentType: "text/plain", tags: { t: "1" } });
		const blob = await v.a.secrets.backupSecret("moving");
		assert.ok(blob && blob.length > 0);
		const restored = await v.b.secrets.restoreSecretBackup(blob);
		assert.equal(restored.name, "moving");
		assert.equal(restored.id, `${v.b.uri}/secrets/moving/${orig.properties.version}`);
		assert.equal(restored.vaultUrl, v.b.uri);
		const got = await v.b.secrets.getSecret("moving");
		assert.equal(got.value, "travels");
		assert.equal(got.properties.version, orig.properties.version, "versions travel with the backup");
		assert.equal(got.properties.id, `${v.b.uri}/secrets/moving/${orig.properties.version}`);
		assert.equal(got.properties.contentType, "text/plain");
		assert.deepEqual(got.properties.tags, { t: "1" });
		await expectRestError(() => v.c.secrets.getSecret("moving"), 404);
		// Restoring over a live name conflicts (a still has it).
		await expectRestError(() => v.a.secrets.restoreSecretBackup(blob), 409);
		// Deleting in b leaves a's; a new version in a does not appear in b.
		await (await v.b.secrets.beginDeleteSecret("moving")).pollUntilDone();
		assert.equal((await v.a.secrets.getSecret("moving")).value, "travels");
		await v.a.secrets.setSecret("moving", "travels more");
		await (await v.b.secrets.beginRecoverDeletedSecret("moving")).pollUntilDone();
		assert.equal((await v.b.secrets.getSecret("moving")).value, "travels");
		assert.equal((await collect(v.b.secrets.listPropertiesOfSecretVersions("moving"))).length, 1);
		assert.equal((await collect(v.a.secrets.listPropertiesOfSecretVersions("moving"))).length, 2);
		const rc = await v.c.secrets.restoreSecretBackup(blob);
		assert.equal(rc.vaultUrl, v.c.uri);
		assert.equal((await v.c.secrets.getSecret("moving")).value, "travels");
	});

	test("a key backup from one vault restores into another: same key material, own identifiers", async () => {
		const ka = await v.a.keys.createKey("moving-key", "RSA", { keySize: 2048 });
		const blob = await v.a.keys.backupKey("moving-key");
		const kb = await v.b.keys.restoreKeyBackup(blob);
		assert.equal(kb.name, "moving-key");
		assert.equal(kb.id, `${v.b.uri}/keys/moving-key/${ka.properties.version}`);
		assert.deepEqual(Buffer.from(kb.key.n), Buffer.from(ka.key.n));
		await expectRestError(() => v.c.keys.getKey("moving-key"), 404);
		// Encrypt with a's public key, decrypt in b.
		const plaintext = Buffer.from("sixteen byte msg");
		const ct = await new CryptographyClient(ka, srv.credential).encrypt({ algorithm: "RSA-OAEP", plaintext });
		const pt = await new CryptographyClient(kb, srv.credential).decrypt({ algorithm: "RSA-OAEP", ciphertext: ct.result });
		assert.deepEqual(Buffer.from(pt.result), plaintext);
		assert.equal(pt.keyID, kb.id);
		// Deleting in b leaves a's.
		await (await v.b.keys.beginDeleteKey("moving-key")).pollUntilDone();
		assert.equal((await v.a.keys.getKey("moving-key")).id, ka.id);
		await expectRestError(() => v.a.keys.restoreKeyBackup(blob), 409);
	});

	test("deleting a whole vault leaves the other vaults and the default vault untouched", async () => {
		await v.c.secrets.setSecret("c-goes", "away");
		await dflt.setSecret("iso-default", "stays");
		await mgmt.vaults.delete(v.c.rg, v.c.vault.name);
		await expectRestError(() => v.c.secrets.getSecret("c-goes"), 404);
		assert.equal((await v.a.secrets.getSecret("shared")).value, "value in a");
		assert.equal((await v.b.secrets.getSecret("shared")).value, "value in b, v2");
		assert.equal((await dflt.getSecret("iso-default")).value, "stays");
		const listed = names(await collect(mgmt.vaults.listBySubscription()));
		assert.deepEqual(listed, [v.a.vault.name, v.b.vault.name].sort());
		// Recover brings c back with its own objects only.
		const tenant = await srv.tenantId();
		await mgmt.vaults.beginCreateOrUpdateAndWait(v.c.rg, v.c.vault.name, {
			location: LOCATION,
			properties: { tenantId: tenant, sku: { family: "A", name: "standard" }, createMode: "recover" },
		});
		assert.equal((await v.c.secrets.getSecret("c-goes")).value, "away");
		await expectRestError(() => v.c.secrets.getSecret("shared"), 404);
	});
});
