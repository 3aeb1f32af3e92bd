// The management plane (Microsoft.KeyVault/vaults) through @azure/arm-keyvault, unchanged,
// pointed at a real kluisd: create, get, update, delete, the lists, name checks, deleted vaults
// (get, list, recover, purge), purge protection, subscriptions and resource groups as labels,
// and the new vault answering at its vaultUri through @azure/keyvault-secrets/-keys. Bad input
// goes over raw HTTPS.

import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { KeyVaultManagementClient } from "@azure/arm-keyvault";
import { KeyClient } from "@azure/keyvault-keys";
import { SecretClient } from "@azure/keyvault-secrets";
import { collect, expectRestError, startServer } from "./lib/server.mjs";

const DAY = 86400;
const TYPE = "Microsoft.KeyVault/vaults";
const LOCATION = "westeurope";
const ARM_VERSION = "2026-02-01"; // what @azure/arm-keyvault 5.0.0 sends

let counter = 0;
/** A valid vault name: a letter first, 3-24 of [a-z0-9-], no "--", unique in this run. */
function vaultName(prefix = "kv") {
	counter += 1;
	return `${prefix}${randomBytes(4).toString("hex")}${counter}`.slice(0, 24);
}

describe("management plane (Microsoft.KeyVault/vaults)", () => {
	let srv;
	let tenant;
	let sub;
	let mgmt;

	const mgmtClient = (subscription, options = {}) =>
		new KeyVaultManagementClient(srv.credential, subscription, {
			endpoint: srv.armUrl,
			credentials: { scopes: [`${srv.armUrl}/.default`] },
			...options,
		});
	const params = (properties = {}, extra = {}) => ({
		location: LOCATION,
		...extra,
		properties: { tenantId: tenant, sku: { family: "A", name: "standard" }, ...properties },
	});
	const create = (rg, name, properties, extra, client = mgmt) =>
		client.vaults.beginCreateOrUpdateAndWait(rg, name, params(properties, extra));
	const vaultId = (subscription, rg, name) =>
		`/subscriptions/${subscription}/resourceGroups/${rg}/providers/Microsoft.KeyVault/vaults/${name}`;
	const vaultUri = (name) => `https://${name.toLowerCase()}.vault.localhost:${srv.port}/`;
	const secretClient = (v) => new SecretClient(v.properties.vaultUri, srv.credential);
	const keyClient = (v) => new KeyClient(v.properties.vaultUri, srv.credential);
	/** Raw request to the management plane (host localhost). */
	const arm = (method, path, opts = {}) => srv.request(method, path, { host: "localhost", ...opts });
	const armPath = (subscription, rg, name, apiVersion = ARM_VERSION) =>
		`${vaultId(subscription, rg, name)}${apiVersion === null ? "" : `?api-version=${apiVersion}`}`;

	before(async () => {
		srv = await startServer();
		tenant = await srv.tenantId();
		sub = randomUUID();
		mgmt = mgmtClient(sub);
	});
	after(async () => {
		await srv?.close();
	});

	test("create returns the Vault resource; get returns the same", async () => {
		const name = vaultName();
		const policy = {
			tenantId: tenant,
			objectId: randomUUID(),
			permissions: { secrets: ["get", "list"], keys: ["get", "wrapKey", "unwrapKey"] },
		};
		const v = await create("rg-one", name, { accessPolicies: [policy] }, { tags: { env: "test", team: "e2e" } });
		assert.equal(v.id, vaultId(sub, "rg-one", name));
		assert.equal(v.name, name);
		assert.equal(v.type, TYPE);
		assert.equal(v.location, LOCATION);
		assert.deepEqual(v.tags, { env: "test", team: "e2e" });
		const p = v.properties;
		assert.equal(p.tenantId, tenant);
		assert.deepEqual(p.sku, { family: "A", name: "standard" });
		assert.equal(p.vaultUri, vaultUri(name));
		assert.equal(p.enableSoftDelete, true);
		assert.equal(p.softDeleteRetentionInDays, 90);
		assert.notEqual(p.enablePurgeProtection, true);
		assert.equal(p.enableRbacAuthorization, true, "the default from api-version 2026-02-01 on");
		assert.equal(p.provisioningState, "Succeeded");
		assert.equal(p.accessPolicies.length, 1);
		assert.equal(p.accessPolicies[0].tenantId, policy.tenantId);
		assert.equal(p.accessPolicies[0].objectId, policy.objectId);
		assert.deepEqual(p.accessPolicies[0].permissions.secrets, ["get", "list"]);
		assert.deepEqual(p.accessPolicies[0].permissions.keys, ["get", "wrapKey", "unwrapKey"]);

		const got = await mgmt.vaults.get("rg-one", name);
		assert.equal(got.id, v.id);
		assert.equal(got.name, name);
		assert.equal(got.type, TYPE);
		assert.equal(got.location, LOCATION);
		assert.deepEqual(got.tags, v.tags);
		assert.equal(got.properties.vaultUri, p.vaultUri);
		assert.equal(got.properties.tenantId, tenant);
		assert.deepEqual(got.properties.sku, p.sku);
		assert.equal(got.properties.softDeleteRetentionInDays, 90);
		assert.equal(got.properties.enableRbacAuthorization, true);
		assert.equal(got.properties.provisioningState, "Succeeded");
		assert.equal(got.properties.accessPolicies.length, 1);
	});

	test("create with premium sku, retention, purge protection; the raw PUT answers 200 or 201", async () => {
		const name = vaultName();
		const r = await arm("PUT", armPath(sub, "rg-one", name), {
			body: params({ sku: { family: "A", name: "premium" }, softDeleteRetentionInDays: 7, enablePurgeProtection: true }),
		});
		assert.ok(r.status === 200 || r.status === 201, `${r.status} ${r.text}`);
		assert.equal(r.json.properties.provisioningState, "Succeeded");
		assert.deepEqual(r.json.properties.sku, { family: "A", name: "premium" });
		assert.equal(r.json.properties.softDeleteRetentionInDays, 7);
		assert.equal(r.json.properties.enablePurgeProtection, true);
		assert.match(r.headers["content-type"] || "", /^application\/json/);
		const got = await mgmt.vaults.get("rg-one", name);
		assert.equal(got.properties.sku.name, "premium");
		assert.equal(got.properties.softDeleteRetentionInDays, 7);
		assert.equal(got.properties.enablePurgeProtection, true);
	});

	test("vaultUri is lower case; names are unique case-insensitively", async () => {
		const name = vaultName("KvMixed");
		const v = await create("rg-one", name);
		assert.equal(v.properties.vaultUri, vaultUri(name));
		assert.equal(v.name.toLowerCase(), name.toLowerCase());
		await expectRestError(() => create("rg-two", name.toLowerCase()), 409, "VaultAlreadyExists");
		const got = await mgmt.vaults.get("rg-one", name.toLowerCase());
		assert.equal(got.properties.vaultUri, v.properties.vaultUri);
	});

	test("enableRbacAuthorization defaults to false before api-version 2026-02-01", async () => {
		const old = mgmtClient(sub, { apiVersion: "2022-07-01" });
		const name = vaultName();
		const v = await create("rg-one", name, {}, {}, old);
		assert.equal(v.properties.enableRbacAuthorization, false);
		const explicit = await create("rg-one", vaultName(), { enableRbacAuthorization: true }, {}, old);
		assert.equal(explicit.properties.enableRbacAuthorization, true);
		const off = await create("rg-one", vaultName(), { enableRbacAuthorization: false });
		assert.equal(off.properties.enableRbacAuthorization, false);
	});

	test("a vault is found only under its subscription and resource group; names are deployment-wide", async () => {
		const name = vaultName();
		const v = await create("rg-one", name);
		await expectRestError(() => mgmt.vaults.get("rg-two", name), 404, "ResourceNotFound");
		const otherSub = mgmtClient(randomUUID());
		await expectRestError(() => otherSub.vaults.get("rg-one", name), 404, "ResourceNotFound");
		await expectRestError(() => create("rg-two", name), 409, "VaultAlreadyExists");
		await expectRestError(() => create("rg-one", name, {}, {}, otherSub), 409, "VaultAlreadyExists");
		// A DELETE under another resource group finds nothing (204) and deletes nothing.
		const del = await arm("DELETE", armPath(sub, "rg-two", name));
		assert.equal(del.status, 204, del.text);
		const delOther = await arm("DELETE", armPath(randomUUID(), "rg-one", name));
		assert.equal(delOther.status, 204, delOther.text);
		await expectRestError(
			() => mgmt.vaults.update("rg-two", name, { tags: { x: "y" } }),
			404,
			"ResourceNotFound",
		);
		const still = await mgmt.vaults.get("rg-one", name);
		assert.equal(still.id, v.id);
		assert.ok(!still.tags || !("x" in still.tags));
	});

	test("create-or-update on an existing vault updates it in place", async () => {
		const name = vaultName();
		const v1 = await create("rg-one", name, {}, { tags: { a: "1" } });
		const s = await secretClient(v1).setSecret("kept", "value");
		const v2 = await create("rg-one", name, { sku: { family: "A", name: "premium" } }, { tags: { b: "2" } });
		assert.equal(v2.id, v1.id);
		assert.deepEqual(v2.tags, { b: "2" });
		assert.equal(v2.properties.sku.name, "premium");
		assert.equal(v2.properties.vaultUri, v1.properties.vaultUri);
		const got = await secretClient(v2).getSecret("kept");
		assert.equal(got.value, "value");
		assert.equal(got.properties.version, s.properties.version);
	});

	test("create-or-update cannot move an existing vault to another location", async () => {
		// Resource Manager refuses a PUT that names another location for an existing resource
		// (InvalidResourceLocation: "The resource 'X' already exists in location 'centralus' in
		// resource group 'G'. A resource with the same name cannot be created in location
		// 'eastus'."; 400 or 409, not pinned here); the vault stays where it is.
		const name = vaultName();
		await create("rg-one", name);
		const e = await create("rg-one", name, {}, { location: "eastus" }).then(
			() => null,
			(err) => err,
		);
		const got = await mgmt.vaults.get("rg-one", name);
		assert.equal(got.location, LOCATION, "the location did not change");
		assert.ok(e, "a PUT with another location must fail");
		assert.ok(e.statusCode === 400 || e.statusCode === 409, `${e.statusCode} ${e.message}`);
		assert.equal(e.code, "InvalidResourceLocation");
	});

	test("update (PATCH): tags, retention, purge protection on only, RBAC both ways", async () => {
		const name = vaultName();
		await create("rg-one", name, {}, { tags: { a: "1" } });

		const t = await mgmt.vaults.update("rg-one", name, { tags: { b: "2", c: "3" } });
		assert.deepEqual(t.tags, { b: "2", c: "3" });
		assert.equal(t.properties.softDeleteRetentionInDays, 90, "properties untouched by a tags-only patch");
		assert.equal(t.properties.enableRbacAuthorization, true);

		const r = await mgmt.vaults.update("rg-one", name, { properties: { softDeleteRetentionInDays: 90 } });
		assert.equal(r.properties.softDeleteRetentionInDays, 90);
		assert.deepEqual(r.tags, { b: "2", c: "3" }, "tags untouched by a properties-only patch");
		const s = await secretClient(r).setSecret("after-patch", "x");
		assert.equal(s.properties.recoverableDays, 90);
		// The retention is fixed when the vault is created: another value is refused.
		await expectRestError(
			() => mgmt.vaults.update("rg-one", name, { properties: { softDeleteRetentionInDays: 30 } }),
			400,
		);

		await expectRestError(
			() => mgmt.vaults.update("rg-one", name, { properties: { softDeleteRetentionInDays: 6 } }),
			400,
		);

		const rb = await mgmt.vaults.update("rg-one", name, { properties: { enableRbacAuthorization: false } });
		assert.equal(rb.properties.enableRbacAuthorization, false);
		const rb2 = await mgmt.vaults.update("rg-one", name, { properties: { enableRbacAuthorization: true } });
		assert.equal(rb2.properties.enableRbacAuthorization, true);

		const pp = await mgmt.vaults.update("rg-one", name, { properties: { enablePurgeProtection: true } });
		assert.equal(pp.properties.enablePurgeProtection, true);
		const off = await expectRestError(
			() => mgmt.vaults.update("rg-one", name, { properties: { enablePurgeProtection: false } }),
			400,
		);
		assert.ok(off.message, "an error message");
		const got = await mgmt.vaults.get("rg-one", name);
		assert.equal(got.properties.enablePurgeProtection, true, "purge protection cannot be turned off");
		assert.equal(got.properties.softDeleteRetentionInDays, 90);
		assert.deepEqual(got.tags, { b: "2", c: "3" });

		await expectRestError(
			() => mgmt.vaults.update("rg-one", vaultName("missing"), { tags: {} }),
			404,
			"ResourceNotFound",
		);
	});

	test("invalid vault names and retention out of range are refused with 400", async () => {
		for (const bad of ["ab", "a".repeat(25), "1abc", "abc-", "ab--cd", "ab_cd"]) {
			await expectRestError(() => create("rg-one", bad), 400, "VaultNameNotValid");
		}
		// The edges that are valid.
		await create("rg-one", `a${randomBytes(1).toString("hex")}`.slice(0, 3));
		const long = `v${randomBytes(12).toString("hex")}`.slice(0, 24);
		assert.equal(long.length, 24);
		await create("rg-one", long);
		for (const days of [6, 91, 0]) await expectRestError(() => create("rg-one", vaultName(), { softDeleteRetentionInDays: days }), 400);
		await create("rg-one", vaultName(), { softDeleteRetentionInDays: 7 });
		await create("rg-one", vaultName(), { softDeleteRetentionInDays: 90 });
	});

	test("list by subscription, by resource group, and the generic list", async () => {
		const lsub = randomUUID();
		const client = mgmtClient(lsub);
		const one = [vaultName("la"), vaultName("lb"), vaultName("lc")];
		const two = [vaultName("ld"), vaultName("le")];
		for (const n of one) await create("rg-one", n, {}, { tags: { n } }, client);
		for (const n of two) await create("rg-two", n, {}, {}, client);
		// Another subscription's vault must not show.
		const foreign = vaultName("lf");
		await create("rg-one", foreign);

		const bySub = await collect(client.vaults.listBySubscription());
		assert.deepEqual(bySub.map((v) => v.name).sort(), [...one, ...two].sort());
		for (const v of bySub) {
			const rg = one.includes(v.name) ? "rg-one" : "rg-two";
			assert.equal(v.id, vaultId(lsub, rg, v.name));
			assert.equal(v.type, TYPE);
			assert.equal(v.location, LOCATION);
			assert.equal(v.properties.vaultUri, vaultUri(v.name));
			assert.equal(v.properties.tenantId, tenant);
		}

		const byRg = await collect(client.vaults.listByResourceGroup("rg-one"));
		assert.deepEqual(byRg.map((v) => v.name).sort(), [...one].sort());
		assert.equal(byRg.find((v) => v.name === one[0]).tags.n, one[0]);
		const byRg2 = await collect(client.vaults.listByResourceGroup("rg-two"));
		assert.deepEqual(byRg2.map((v) => v.name).sort(), [...two].sort());
		const none = await collect(client.vaults.listByResourceGroup("rg-empty"));
		assert.deepEqual(none, []);

		const generic = await collect(client.vaults.list());
		assert.deepEqual(generic.map((v) => v.name).sort(), [...one, ...two].sort());
		for (const r of generic) {
			const rg = one.includes(r.name) ? "rg-one" : "rg-two";
			assert.equal(r.id, vaultId(lsub, rg, r.name));
			assert.equal(r.type, TYPE);
			assert.equal(r.location, LOCATION);
		}
		assert.equal(generic.find((r) => r.name === one[1]).tags.n, one[1]);

		// $top: whatever the page size, following nextLink yields every vault once.
		const topped = await collect(client.vaults.listBySubscription({ top: 2 }));
		assert.deepEqual(topped.map((v) => v.name).sort(), [...one, ...two].sort());
		const toppedRg = await collect(client.vaults.listByResourceGroup("rg-one", { top: 1 }));
		assert.deepEqual(toppedRg.map((v) => v.name).sort(), [...one].sort());
		const toppedGeneric = await collect(client.vaults.list({ top: 2 }));
		assert.deepEqual(toppedGeneric.map((v) => v.name).sort(), [...one, ...two].sort());
		const pages = [];
		for await (const page of client.vaults.listBySubscription({ top: 2 }).byPage()) pages.push(page.length);
		assert.ok(pages.every((n) => n <= 2), `pages of at most 2 with $top=2: ${pages}`);
	});

	test("the default vault is listed under the deployment's tenant and resource group kluis", async () => {
		const own = mgmtClient(tenant);
		const all = await collect(own.vaults.listBySubscription());
		const d = all.find((v) => v.name === "default");
		assert.ok(d, `default among ${all.map((v) => v.name)}`);
		assert.equal(d.id, vaultId(tenant, "kluis", "default"));
		assert.equal(d.type, TYPE);
		assert.equal(d.properties.vaultUri, `https://default.vault.localhost:${srv.port}/`);
		assert.equal(d.properties.tenantId, tenant);
		assert.equal(d.properties.provisioningState, "Succeeded");
		const got = await own.vaults.get("kluis", "default");
		assert.equal(got.id, d.id);
		const inRg = await collect(own.vaults.listByResourceGroup("kluis"));
		assert.ok(inRg.some((v) => v.name === "default"));
		// Not under this test's random subscription.
		const mine = await collect(mgmt.vaults.listBySubscription());
		assert.ok(!mine.some((v) => v.name === "default"));
		await expectRestError(() => create("rg-one", "default"), 409, "VaultAlreadyExists");
	});

	test("check name availability", async () => {
		const taken = vaultName();
		await create("rg-one", taken);
		const free = await mgmt.vaults.checkNameAvailability({ name: vaultName("free"), type: TYPE });
		assert.equal(free.nameAvailable, true);
		const t = await mgmt.vaults.checkNameAvailability({ name: taken, type: TYPE });
		assert.equal(t.nameAvailable, false);
		assert.equal(t.reason, "AlreadyExists");
		assert.ok(t.message, "a message");
		const upper = await mgmt.vaults.checkNameAvailability({ name: taken.toUpperCase(), type: TYPE });
		assert.equal(upper.nameAvailable, false, "case-insensitive");
		// Taken in any subscription.
		const other = await mgmtClient(randomUUID()).vaults.checkNameAvailability({ name: taken, type: TYPE });
		assert.equal(other.nameAvailable, false);
		const dflt = await mgmt.vaults.checkNameAvailability({ name: "default", type: TYPE });
		assert.equal(dflt.nameAvailable, false);
		for (const bad of ["ab", "a".repeat(25), "1abc", "abc-", "ab--cd", "ab_cd"]) {
			const r = await mgmt.vaults.checkNameAvailability({ name: bad, type: TYPE });
			assert.equal(r.nameAvailable, false, bad);
			assert.equal(r.reason, "AccountNameInvalid", bad);
		}
	});

	test("the new vault answers at its vaultUri at once, with its retention as recoverableDays", async () => {
		const name = vaultName();
		const v = await create("rg-one", name, { softDeleteRetentionInDays: 7 });
		const secrets = secretClient(v);
		const s = await secrets.setSecret("hello", "world");
		assert.equal(s.properties.vaultUrl, v.properties.vaultUri.replace(/\/$/, ""));
		assert.equal(s.properties.id, `${v.properties.vaultUri}secrets/hello/${s.properties.version}`);
		assert.equal(s.properties.recoverableDays, 7);
		assert.equal(s.properties.recoveryLevel, "CustomizedRecoverable+Purgeable");
		assert.equal((await secrets.getSecret("hello")).value, "world");
		const keys = keyClient(v);
		const k = await keys.createKey("k1", "EC", { curve: "P-256" });
		assert.equal(k.id, `${v.properties.vaultUri}keys/k1/${k.properties.version}`);
		assert.equal(k.properties.recoverableDays, 7);
		const del = await (await secrets.beginDeleteSecret("hello")).pollUntilDone();
		assert.equal(del.scheduledPurgeDate.getTime() / 1000 - del.deletedOn.getTime() / 1000, 7 * DAY);
		// The default vault knows nothing of it.
		const dflt = new SecretClient(srv.vaultUrl, srv.credential);
		await expectRestError(() => dflt.getDeletedSecret("hello"), 404);
	});

	test("purge protection: Recoverable, purging a deleted secret is refused", async () => {
		const v = await create("rg-one", vaultName(), { enablePurgeProtection: true });
		const secrets = secretClient(v);
		const s = await secrets.setSecret("guarded", "x");
		assert.equal(s.properties.recoveryLevel, "Recoverable");
		assert.equal(s.properties.recoverableDays, 90);
		await (await secrets.beginDeleteSecret("guarded")).pollUntilDone();
		await expectRestError(() => secrets.purgeDeletedSecret("guarded"), 403);
		const k = await keyClient(v).createKey("gk", "RSA");
		assert.equal(k.properties.recoveryLevel, "Recoverable");
		await (await keyClient(v).beginDeleteKey("gk")).pollUntilDone();
		await expectRestError(() => keyClient(v).purgeDeletedKey("gk"), 403);
		// A vault without it: Recoverable+Purgeable and the purge works.
		const plain = await create("rg-one", vaultName());
		const ps = secretClient(plain);
		assert.equal((await ps.setSecret("p", "x")).properties.recoveryLevel, "Recoverable+Purgeable");
		await (await ps.beginDeleteSecret("p")).pollUntilDone();
		await ps.purgeDeletedSecret("p");
		// Turning purge protection on later applies to the vault's objects from then on.
		const later = await create("rg-one", vaultName());
		const ls = secretClient(later);
		await ls.setSecret("l", "x");
		await mgmt.vaults.update("rg-one", later.name, { properties: { enablePurgeProtection: true } });
		assert.equal((await ls.getSecret("l")).properties.recoveryLevel, "Recoverable");
		await (await ls.beginDeleteSecret("l")).pollUntilDone();
		await expectRestError(() => ls.purgeDeletedSecret("l"), 403);
	});

	test("delete -> deleted vault (get, list) -> name held -> recover brings the secrets back", async () => {
		const name = vaultName();
		const v = await create("rg-one", name, { softDeleteRetentionInDays: 10 }, { tags: { keep: "me" } });
		const secrets = secretClient(v);
		const s = await secrets.setSecret("survivor", "still here");
		await keyClient(v).createKey("kk", "EC");

		const t0 = Date.now() / 1000;
		await mgmt.vaults.delete("rg-one", name);
		await expectRestError(() => mgmt.vaults.get("rg-one", name), 404, "ResourceNotFound");
		assert.ok(!(await collect(mgmt.vaults.listBySubscription())).some((x) => x.name === name));
		assert.ok(!(await collect(mgmt.vaults.list())).some((x) => x.name === name));
		// Deleting again finds nothing: 200/204, no error.
		await mgmt.vaults.delete("rg-one", name);
		const again = await arm("DELETE", armPath(sub, "rg-one", name));
		assert.equal(again.status, 204, again.text);

		// The data plane is gone with it.
		await expectRestError(() => new SecretClient(v.properties.vaultUri, srv.credential).getSecret("survivor"), 404);
		await expectRestError(() => secrets.getSecret("survivor"), 404);

		const dv = await mgmt.vaults.getDeleted(name, LOCATION);
		assert.equal(dv.name, name);
		assert.equal(dv.id, `/subscriptions/${sub}/providers/Microsoft.KeyVault/locations/${LOCATION}/deletedVaults/${name}`);
		assert.equal(dv.type, "Microsoft.KeyVault/deletedVaults");
		assert.equal(dv.properties.vaultId, v.id);
		assert.equal(dv.properties.location, LOCATION);
		assert.deepEqual(dv.properties.tags, { keep: "me" });
		assert.notEqual(dv.properties.purgeProtectionEnabled, true);
		const deletion = dv.properties.deletionDate.getTime() / 1000;
		assert.ok(Math.abs(deletion - t0) < 30, `deletionDate ${dv.properties.deletionDate}`);
		assert.equal(dv.properties.scheduledPurgeDate.getTime() / 1000 - deletion, 10 * DAY);

		const listed = await collect(mgmt.vaults.listDeleted());
		const item = listed.find((x) => x.name === name);
		assert.ok(item, `listed among deleted vaults: ${listed.map((x) => x.name)}`);
		assert.equal(item.properties.vaultId, v.id);
		// Deleted vaults are per subscription.
		const otherSub = mgmtClient(randomUUID());
		assert.ok(!(await collect(otherSub.vaults.listDeleted())).some((x) => x.name === name));
		await expectRestError(() => mgmt.vaults.getDeleted(vaultName("never"), LOCATION), 404);

		// The name is held: a default create conflicts, here and under another resource group.
		await expectRestError(() => create("rg-one", name), 409, "ConflictError");
		await expectRestError(() => create("rg-two", name), 409);
		const avail = await mgmt.vaults.checkNameAvailability({ name, type: TYPE });
		assert.equal(avail.nameAvailable, false, "a soft-deleted vault's name is not available");

		const back = await create("rg-one", name, { createMode: "recover" });
		assert.equal(back.id, v.id);
		assert.equal(back.properties.vaultUri, v.properties.vaultUri);
		assert.equal(back.properties.provisioningState, "Succeeded");
		assert.equal(back.properties.softDeleteRetentionInDays, 10);
		const got = await mgmt.vaults.get("rg-one", name);
		assert.deepEqual(got.tags, { keep: "me" });
		assert.ok(!(await collect(mgmt.vaults.listDeleted())).some((x) => x.name === name));
		await expectRestError(() => mgmt.vaults.getDeleted(name, LOCATION), 404);

		const fresh = new SecretClient(back.properties.vaultUri, srv.credential);
		const got2 = await fresh.getSecret("survivor");
		assert.equal(got2.value, "still here");
		assert.equal(got2.properties.version, s.properties.version);
		assert.equal((await secrets.getSecret("survivor")).value, "still here");
		assert.equal((await keyClient(back).getKey("kk")).name, "kk");
	});

	test("a deleted vault belongs to its subscription, resource group and location", async () => {
		const name = vaultName();
		const v = await create("rg-one", name);
		await secretClient(v).setSecret("mine", "x");
		await mgmt.vaults.delete("rg-one", name);
		const otherSub = mgmtClient(randomUUID());
		// Looked up elsewhere: not found.
		await expectRestError(() => mgmt.vaults.getDeleted(name, "eastus"), 404);
		await expectRestError(() => otherSub.vaults.getDeleted(name, LOCATION), 404);
		await expectRestError(() => otherSub.vaults.beginPurgeDeletedAndWait(name, LOCATION), 404);
		await expectRestError(() => mgmt.vaults.beginPurgeDeletedAndWait(name, "eastus"), 404);
		// Recovered elsewhere: refused, and nothing is recovered anywhere.
		const refused = async (fn, what) => {
			const e = await fn().then(
				(res) => assert.fail(`${what}: succeeded with ${res.id}`),
				(err) => err,
			);
			assert.ok(e.statusCode >= 400 && e.statusCode < 500, `${what}: 4xx, got ${e.statusCode} ${e.message}`);
		};
		await refused(() => create("rg-one", name, { createMode: "recover" }, {}, otherSub), "recover under another subscription");
		await refused(() => create("rg-two", name, { createMode: "recover" }), "recover under another resource group");
		await expectRestError(() => mgmt.vaults.get("rg-one", name), 404);
		await expectRestError(() => otherSub.vaults.get("rg-one", name), 404);
		assert.ok((await collect(mgmt.vaults.listDeleted())).some((x) => x.name === name), "still deleted");
		// In its own place it comes back.
		const back = await create("rg-one", name, { createMode: "recover" });
		assert.equal(back.id, v.id);
		assert.equal((await secretClient(back).getSecret("mine")).value, "x");
	});

	test("recover needs a deleted vault", async () => {
		const name = vaultName("norec");
		const e = await create("rg-one", name, { createMode: "recover" }).then(
			() => null,
			(err) => err,
		);
		// Azure answers 404 (no deleted vault of that name); any 4xx will do, never a new vault.
		assert.ok(e, "recover of a name that was never deleted must fail");
		assert.ok(e.statusCode >= 400 && e.statusCode < 500, `4xx, got ${e.statusCode} ${e.message}`);
		await expectRestError(() => mgmt.vaults.get("rg-one", name), 404);
	});

	test("purge frees the name; a new vault of that name is empty", async () => {
		const name = vaultName();
		const v = await create("rg-one", name);
		await secretClient(v).setSecret("old", "data");
		await keyClient(v).createKey("oldkey", "EC");
		await mgmt.vaults.delete("rg-one", name);
		await mgmt.vaults.beginPurgeDeletedAndWait(name, LOCATION);
		assert.ok(!(await collect(mgmt.vaults.listDeleted())).some((x) => x.name === name));
		await expectRestError(() => mgmt.vaults.getDeleted(name, LOCATION), 404);
		const avail = await mgmt.vaults.checkNameAvailability({ name, type: TYPE });
		assert.equal(avail.nameAvailable, true);
		await expectRestError(() => mgmt.vaults.beginPurgeDeletedAndWait(name, LOCATION), 404);

		// The name may now go to another resource group, and the vault starts empty.
		const v2 = await create("rg-two", name);
		assert.equal(v2.id, vaultId(sub, "rg-two", name));
		assert.equal(v2.properties.vaultUri, v.properties.vaultUri);
		const sc = secretClient(v2);
		await expectRestError(() => sc.getSecret("old"), 404);
		assert.deepEqual(await collect(sc.listPropertiesOfSecrets()), []);
		assert.deepEqual(await collect(sc.listDeletedSecrets()), []);
		assert.deepEqual(await collect(keyClient(v2).listPropertiesOfKeys()), []);
	});

	test("a vault with purge protection cannot be purged before its retention ends", async () => {
		const name = vaultName();
		await create("rg-one", name, { enablePurgeProtection: true, softDeleteRetentionInDays: 7 });
		await mgmt.vaults.delete("rg-one", name);
		const dv = await mgmt.vaults.getDeleted(name, LOCATION);
		assert.equal(dv.properties.purgeProtectionEnabled, true);
		const e = await mgmt.vaults.beginPurgeDeletedAndWait(name, LOCATION).then(
			() => null,
			(err) => err,
		);
		assert.ok(e, "the purge must be refused");
		assert.ok(e.statusCode >= 400 && e.statusCode < 500, `4xx, got ${e.statusCode} ${e.message}`);
		assert.ok((await collect(mgmt.vaults.listDeleted())).some((x) => x.name === name), "still deleted, not purged");
		// It can still be recovered.
		const back = await create("rg-one", name, { createMode: "recover" });
		assert.equal(back.properties.enablePurgeProtection, true);
	});

	test("concurrent creates of one name: exactly one wins, the others get 409", async () => {
		const name = vaultName("race");
		const rgs = ["rg-r1", "rg-r2", "rg-r3", "rg-r4", "rg-r5"];
		const results = await Promise.allSettled(rgs.map((rg) => create(rg, name)));
		const won = results.filter((r) => r.status === "fulfilled");
		assert.equal(won.length, 1, results.map((r) => r.status === "fulfilled" ? "ok" : `${r.reason.statusCode} ${r.reason.code}`).join(", "));
		for (const r of results.filter((x) => x.status === "rejected")) {
			assert.equal(r.reason.statusCode, 409, r.reason.message);
			assert.equal(r.reason.code, "VaultAlreadyExists");
		}
		const listed = (await collect(mgmt.vaults.listBySubscription())).filter((v) => v.name === name);
		assert.equal(listed.length, 1);
		assert.equal(listed[0].id, won[0].value.id);
	});

	test("access policies: add, replace, remove through updateAccessPolicy", async () => {
		const name = vaultName();
		await create("rg-one", name, { enableRbacAuthorization: false });
		const x = randomUUID();
		const y = randomUUID();
		const entry = (objectId, secrets) => ({ tenantId: tenant, objectId, permissions: { secrets } });
		const policies = async () => (await mgmt.vaults.get("rg-one", name)).properties.accessPolicies || [];

		const added = await mgmt.vaults.updateAccessPolicy("rg-one", name, "add", {
			properties: { accessPolicies: [entry(x, ["get", "list"]), entry(y, ["get"])] },
		});
		assert.equal(added.properties.accessPolicies.length, 2);
		assert.deepEqual((await policies()).map((p) => p.objectId).sort(), [x, y].sort());
		// Adding for an object that has an entry updates that entry (no second entry).
		await mgmt.vaults.updateAccessPolicy("rg-one", name, "add", { properties: { accessPolicies: [entry(x, ["set"])] } });
		const afterAdd = await policies();
		assert.equal(afterAdd.filter((p) => p.objectId === x).length, 1);
		// ... by adding to its permissions, as Resource Manager merges them.
		assert.deepEqual(afterAdd.find((p) => p.objectId === x).permissions.secrets.sort(), ["get", "list", "set"]);
		// Removing names permissions to take away; an entry left with none goes.
		await mgmt.vaults.updateAccessPolicy("rg-one", name, "remove", { properties: { accessPolicies: [entry(x, ["get"])] } });
		assert.deepEqual((await policies()).find((p) => p.objectId === x).permissions.secrets.sort(), ["list", "set"]);

		await mgmt.vaults.updateAccessPolicy("rg-one", name, "replace", { properties: { accessPolicies: [entry(y, ["list"])] } });
		const replaced = await policies();
		assert.deepEqual(replaced.map((p) => p.objectId), [y]);
		assert.deepEqual(replaced[0].permissions.secrets, ["list"]);

		await mgmt.vaults.updateAccessPolicy("rg-one", name, "remove", { properties: { accessPolicies: [entry(y, ["list"])] } });
		assert.deepEqual(await policies(), []);
		await expectRestError(
			() => mgmt.vaults.updateAccessPolicy("rg-one", vaultName("missing"), "add", { properties: { accessPolicies: [entry(x, ["get"])] } }),
			404,
		);
	});

	test("bad input over raw HTTPS: 400s, 401, error bodies", async () => {
		const name = vaultName();
		const body = params();
		const expectError = (r, status, code) => {
			assert.equal(r.status, status, `${r.status} ${r.text}`);
			assert.ok(r.json && r.json.error && typeof r.json.error.message === "string", `error body: ${r.text}`);
			if (code) assert.equal(r.json.error.code, code, r.text);
			else assert.equal(typeof r.json.error.code, "string", r.text);
		};
		// No location.
		expectError(await arm("PUT", armPath(sub, "rg-one", name), { body: { properties: body.properties } }), 400);
		// No properties / no sku / no tenantId.
		expectError(await arm("PUT", armPath(sub, "rg-one", name), { body: { location: LOCATION } }), 400);
		expectError(
			await arm("PUT", armPath(sub, "rg-one", name), {
				body: { location: LOCATION, properties: { tenantId: tenant } },
			}),
			400,
		);
		// Malformed JSON.
		expectError(
			await arm("PUT", armPath(sub, "rg-one", name), {
				body: '{"location": "x", "properties": {',
				headers: { "content-type": "application/json" },
			}),
			400,
		);
		expectError(
			await arm("PATCH", armPath(sub, "rg-one", name), { body: "not json", headers: { "content-type": "application/json" } }),
			400,
		);
		// api-version unknown or missing.
		expectError(await arm("PUT", armPath(sub, "rg-one", name, "1999-01-01"), { body }), 400, "InvalidApiVersionParameter");
		expectError(await arm("GET", armPath(sub, "rg-one", name, "1999-01-01")), 400, "InvalidApiVersionParameter");
		expectError(await arm("PUT", armPath(sub, "rg-one", name, null), { body }), 400, "MissingApiVersionParameter");
		expectError(
			await arm("GET", `/subscriptions/${sub}/providers/Microsoft.KeyVault/vaults`),
			400,
			"MissingApiVersionParameter",
		);
		// Nothing was created by any of the above.
		expectError(await arm("GET", armPath(sub, "rg-one", name)), 404, "ResourceNotFound");
		// Bad names over raw HTTPS.
		expectError(await arm("PUT", armPath(sub, "rg-one", "a_b"), { body }), 400);
		expectError(await arm("PUT", armPath(sub, "rg-one", "9lives"), { body }), 400);
		// No token, and a wrong one.
		const noTok = await arm("GET", armPath(sub, "rg-one", name), { token: false });
		expectError(noTok, 401);
		assert.ok(noTok.headers["www-authenticate"], "a 401 carries WWW-Authenticate");
		expectError(await arm("PUT", armPath(sub, "rg-one", name), { body, token: false }), 401);
		expectError(await arm("GET", `/subscriptions/${sub}/providers/Microsoft.KeyVault/vaults?api-version=${ARM_VERSION}`, { token: "kl1.not-a-token" }), 401);
		expectError(await arm("GET", armPath(sub, "rg-one", name)), 404, "ResourceNotFound");
		// The SDK surfaces a 401 as a RestError.
		const anon = new KeyVaultManagementClient(
			{ getToken: async () => ({ token: "kl1.bogus", expiresOnTimestamp: Date.now() + 3600e3 }) },
			sub,
			{ endpoint: srv.armUrl, credentials: { scopes: [`${srv.armUrl}/.default`] } },
		);
		await expectRestError(() => anon.vaults.get("rg-one", name), 401);
	});

	// Last: restarts the server.
	test("vaults, their labels, contents and deleted vaults survive a restart", async () => {
		const name = vaultName("dur");
		const gone = vaultName("durdel");
		const v = await create("rg-two", name, { softDeleteRetentionInDays: 14, enablePurgeProtection: true }, { tags: { d: "1" } });
		await secretClient(v).setSecret("persisted", "yes");
		await create("rg-one", gone);
		await mgmt.vaults.delete("rg-one", gone);
		const before = (await collect(mgmt.vaults.listBySubscription())).map((x) => x.name).sort();

		assert.equal(await srv.restart(), 0, "SIGTERM exits 0");

		const got = await mgmt.vaults.get("rg-two", name);
		assert.equal(got.id, v.id);
		assert.deepEqual(got.tags, { d: "1" });
		assert.equal(got.location, LOCATION);
		assert.equal(got.properties.softDeleteRetentionInDays, 14);
		assert.equal(got.properties.enablePurgeProtection, true);
		assert.equal(got.properties.vaultUri, v.properties.vaultUri);
		assert.equal(got.properties.enableRbacAuthorization, v.properties.enableRbacAuthorization);
		await expectRestError(() => mgmt.vaults.get("rg-one", name), 404);
		assert.deepEqual((await collect(mgmt.vaults.listBySubscription())).map((x) => x.name).sort(), before);
		const s = await new SecretClient(v.properties.vaultUri, srv.credential).getSecret("persisted");
		assert.equal(s.value, "yes");
		assert.equal(s.properties.recoverableDays, 14);
		assert.equal(s.properties.recoveryLevel, "CustomizedRecoverable");
		const dv = await mgmt.vaults.getDeleted(gone, LOCATION);
		assert.equal(dv.properties.vaultId, vaultId(sub, "rg-one", gone));
		await expectRestError(() => create("rg-one", gone), 409, "ConflictError");
		await expectRestError(() => create("rg-one", name), 409, "VaultAlreadyExists");
	});
});
