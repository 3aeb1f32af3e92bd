// The certificate lifecycle through @azure/keyvault-certificates, unchanged, against a real kluisd
// (shared/spec/certificates.md C3, C9): delete (the managed key and secret go with it), get and
// list deleted, recover, purge, backup and restore (every version, key and secret back with
// their ids), the conflicts on a deleted or live name, the malformed backup blob.
//
// Issuance timing is not under test here: kluisd runs with --certificate-issue-delay 0, so a
// Self creation is complete at once.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { CertificateClient } from "@azure/keyvault-certificates";
import { KeyClient } from "@azure/keyvault-keys";
import { SecretClient } from "@azure/keyvault-secrets";
import { collect, expectRestError, startServer, uniqueName } from "./lib/server.mjs";
import { API, POLL, makeSelfSigned } from "./lib/certs.mjs";

describe("certificates: delete, recover, purge, backup, restore", () => {
	let srv, client, keys, secrets;

	before(async () => {
		srv = await startServer({ extraArgs: ["--certificate-issue-delay", "0"] });
		client = new CertificateClient(srv.vaultUrl, srv.credential);
		keys = new KeyClient(srv.vaultUrl, srv.credential);
		secrets = new SecretClient(srv.vaultUrl, srv.credential);
	});
	after(async () => {
		await srv?.close();
	});

	async function create(name, policyExtra = {}, options = {}) {
		const poller = await client.beginCreateCertificate(
			name,
			{ issuerName: "Self", subject: `CN=${name}`, ...policyExtra },
			{ ...POLL, ...options },
		);
		return poller.pollUntilDone();
	}
	async function remove(name) {
		const poller = await client.beginDeleteCertificate(name, POLL);
		return poller.pollUntilDone();
	}

	test("delete takes the key and secret along; get and list deleted", async () => {
		const name = uniqueName("del");
		const cert = await create(name, {}, { tags: { k: "v" } });
		const deleted = await remove(name);
		assert.equal(deleted.name, name);
		assert.equal(deleted.recoveryId, `${srv.vaultUrl}/deletedcertificates/${name}`);
		assert.ok(deleted.deletedOn instanceof Date);
		assert.ok(deleted.scheduledPurgeDate > deleted.deletedOn);
		const days = (deleted.scheduledPurgeDate - deleted.deletedOn) / 86400e3;
		assert.ok(Math.abs(days - 90) < 0.01, `purge in 90 days: ${days}`);
		assert.deepEqual(Buffer.from(deleted.cer), Buffer.from(cert.cer));
		assert.equal(deleted.policy.subject, `CN=${name}`, "the deleted bundle carries the policy");
		assert.equal(deleted.properties.version, cert.properties.version);
		await expectRestError(() => client.getCertificate(name), 404, "CertificateNotFound");
		await expectRestError(() => client.getCertificatePolicy(name), 404, "CertificateNotFound");
		await expectRestError(() => keys.getKey(name), 404);
		await expectRestError(() => secrets.getSecret(name), 404);
		const got = await client.getDeletedCertificate(name);
		assert.equal(got.recoveryId, deleted.recoveryId);
		assert.equal(got.properties.version, cert.properties.version);
		assert.equal(got.policy.subject, `CN=${name}`);
		// the managed key and secret are readable as deleted, but not listed there (C3)
		assert.equal((await keys.getDeletedKey(name)).properties.version, cert.properties.version);
		assert.equal((await secrets.getDeletedSecret(name)).properties.version, cert.properties.version);
		assert.ok(!(await collect(keys.listDeletedKeys())).some((k) => k.name === name));
		assert.ok(!(await collect(secrets.listDeletedSecrets())).some((s) => s.name === name));
		const listed = (await collect(client.listDeletedCertificates())).find((c) => c.name === name);
		assert.ok(listed, "listed as deleted");
		assert.equal(listed.recoveryId, deleted.recoveryId);
		assert.equal(listed.properties.id, `${srv.vaultUrl}/certificates/${name}`);
		assert.deepEqual(listed.properties.tags, { k: "v" });
		assert.ok(listed.deletedOn instanceof Date);
		const withPending = await collect(client.listDeletedCertificates({ includePending: true }));
		assert.ok(withPending.some((c) => c.name === name));
		// a deleted pending-only certificate (Unknown, never merged) shows with includePending
		const pend = uniqueName("del-pending");
		await client.beginCreateCertificate(pend, { issuerName: "Unknown", subject: "CN=p" }, POLL);
		await remove(pend);
		assert.ok((await collect(client.listDeletedCertificates({ includePending: true }))).some((c) => c.name === pend));
		assert.ok(!(await collect(client.listPropertiesOfCertificates())).some((c) => c.name === name));
		// a deleted name cannot be reused
		const e = await expectRestError(
			() => client.beginCreateCertificate(name, { issuerName: "Self", subject: "CN=x" }, POLL),
			409,
			"Conflict",
		);
		assert.equal(
			e.message,
			`Certificate ${name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the certificate can only be recovered or purged.`,
		);
		await expectRestError(() => client.importCertificate(name, makeSelfSigned().pfx("")), 409, "Conflict");
		// deleting again, or something that never existed
		await expectRestError(() => remove(name), 404, "CertificateNotFound");
		await expectRestError(() => remove(uniqueName("never")), 404, "CertificateNotFound");
		const e2 = await expectRestError(() => client.getDeletedCertificate(uniqueName("never")), 404, "CertificateNotFound");
		assert.match(e2.message, /^Deleted Certificate not found: /);
	});

	test("recover brings back every version with its key and secret", async () => {
		const name = uniqueName("rec");
		const v1 = await create(name);
		const v2 = await create(name, { subject: "CN=second" });
		const before = (await secrets.getSecret(name)).value;
		await remove(name);
		const poller = await client.beginRecoverDeletedCertificate(name, POLL);
		const rec = await poller.pollUntilDone();
		assert.equal(rec.properties.version, v2.properties.version);
		assert.equal(rec.policy.subject, "CN=second");
		assert.equal((await client.getCertificate(name)).properties.version, v2.properties.version);
		const versions = await collect(client.listPropertiesOfCertificateVersions(name));
		assert.deepEqual(versions.map((v) => v.version).sort(), [v1.properties.version, v2.properties.version].sort());
		assert.equal((await secrets.getSecret(name)).value, before);
		assert.equal((await keys.getKey(name)).properties.version, v2.properties.version);
		await expectRestError(() => client.getDeletedCertificate(name), 404, "CertificateNotFound");
		await expectRestError(
			async () => (await client.beginRecoverDeletedCertificate(uniqueName("never"), POLL)).pollUntilDone(),
			404,
			"CertificateNotFound",
		);
	});

	test("purge removes certificate, key and secret for good; the name is free again", async () => {
		const name = uniqueName("purge");
		await create(name);
		await remove(name);
		assert.equal(await client.purgeDeletedCertificate(name), null);
		await expectRestError(() => client.getDeletedCertificate(name), 404, "CertificateNotFound");
		await expectRestError(() => keys.getDeletedKey(name), 404);
		await expectRestError(() => secrets.getDeletedSecret(name), 404);
		await expectRestError(() => client.purgeDeletedCertificate(name), 404, "CertificateNotFound");
		const fresh = await create(name);
		assert.equal((await collect(client.listPropertiesOfCertificateVersions(name))).length, 1);
		assert.ok(fresh.cer.length > 100);
		// a raw purge answers 204 with no body
		await remove(name);
		const r = await srv.request("DELETE", `/deletedcertificates/${name}?${API}`);
		assert.equal(r.status, 204);
		assert.equal(r.text, "");
	});

	test("backup and restore: every version, the policy, key and secret with their ids", async () => {
		const name = uniqueName("bak");
		const v1 = await create(name, { contentType: "application/x-pem-file" });
		const v2 = await create(name, { contentType: "application/x-pem-file" }, { tags: { two: "2" } });
		const secretBefore = (await secrets.getSecret(name)).value;
		const backup = await client.backupCertificate(name);
		assert.ok(backup instanceof Uint8Array && backup.length > 100);
		// the blob is opaque: it must not show the private key
		assert.ok(!Buffer.from(backup).toString("latin1").includes("PRIVATE KEY"));
		// over a live name: 409 Conflict with the observed text
		const conflict = await expectRestError(() => client.restoreCertificateBackup(backup), 409, "Conflict");
		await remove(name);
		// while deleted: 409 as well
		await expectRestError(() => client.restoreCertificateBackup(backup), 409, "Conflict");
		await client.purgeDeletedCertificate(name);
		const restored = await client.restoreCertificateBackup(backup);
		assert.equal(restored.name, name);
		assert.equal(restored.properties.version, v2.properties.version);
		assert.deepEqual(restored.properties.tags, { two: "2" });
		assert.equal(restored.policy.contentType, "application/x-pem-file");
		assert.deepEqual(Buffer.from(restored.cer), Buffer.from(v2.cer));
		const versions = await collect(client.listPropertiesOfCertificateVersions(name));
		assert.deepEqual(versions.map((v) => v.version).sort(), [v1.properties.version, v2.properties.version].sort());
		const s = await secrets.getSecret(name);
		assert.equal(s.value, secretBefore, "the same private key and certificate");
		assert.equal(s.properties.managed, true);
		assert.equal(s.properties.version, v2.properties.version);
		assert.equal((await keys.getKey(name, { version: v1.properties.version })).id, v1.keyId);
		assert.equal((await client.getCertificatePolicy(name)).contentType, "application/x-pem-file");
		await expectRestError(() => client.backupCertificate(uniqueName("never")), 404, "CertificateNotFound");
		// the observed text names the id of the latest version (checked last: the rest first)
		assert.ok(
			conflict.message.startsWith(
				`There was a conflict restoring the certificate '${srv.vaultUrl}/certificates/${name}/${v2.properties.version}'. This can happen if either:`,
			),
			conflict.message,
		);
	});

	test("a malformed backup blob is 400 with the text the JS SDK's test compares", async () => {
		const e = await expectRestError(() => client.restoreCertificateBackup(new Uint8Array(4728)), 400, "Malformed backup blob");
		assert.equal(e.message, "Backup blob contains invalid or corrupt version.");
		const name = uniqueName("tamper");
		await create(name);
		const good = Buffer.from(await client.backupCertificate(name));
		await remove(name);
		await client.purgeDeletedCertificate(name);
		const bad = Buffer.from(good);
		bad[Math.floor(bad.length / 2)] ^= 0x01;
		const e2 = await expectRestError(() => client.restoreCertificateBackup(bad), 400, "Malformed backup blob");
		assert.equal(e2.message, "Backup blob contains invalid or corrupt version.");
		await expectRestError(() => client.getCertificate(name), 404, "CertificateNotFound");
		// a secret's backup is not a certificate's
		const sname = uniqueName("plain-secret");
		await secrets.setSecret(sname, "x");
		const sbak = await secrets.backupSecret(sname);
		await expectRestError(() => client.restoreCertificateBackup(sbak), 400, "Malformed backup blob");
	});

	test("an unmanaged key or secret holding the name blocks create and import (409)", async () => {
		const a = uniqueName("taken-secret");
		await secrets.setSecret(a, "mine");
		await expectRestError(
			() => client.beginCreateCertificate(a, { issuerName: "Self", subject: "CN=x" }, POLL),
			409,
			"Conflict",
		);
		const b = uniqueName("taken-key");
		await keys.createKey(b, "EC");
		await expectRestError(() => client.importCertificate(b, makeSelfSigned().pfx("")), 409, "Conflict");
		assert.equal((await secrets.getSecret(a)).value, "mine");
	});
});
