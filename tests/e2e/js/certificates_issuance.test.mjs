// Certificate operations beyond Self through @azure/keyvault-certificates, unchanged, against a
// real kluisd (shared/spec/certificates.md C4, C6, C8): the Unknown issuer (the CSR of the
// pending operation signed by a CA the test makes with the openssl command line, then merged
// back), cancel and delete of an operation, the 409 while one is in progress, a create naming an
// issuer object (the operation fails: kluis orders from no CA), contacts and issuers.

import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { CertificateClient } from "@azure/keyvault-certificates";
import { CryptographyClient } from "@azure/keyvault-keys";
import { SecretClient } from "@azure/keyvault-secrets";
import { collect, expectRestError, startServer, uniqueName } from "./lib/server.mjs";
import { API, POLL, csrText, operationOf, makeCa, makeSelfSigned, openPfx, openssl, pemCerts, rmTmp, signCsr, x509Text } from "./lib/certs.mjs";

const MERGE_DETAILS = "Pending certificate created. Please Perform Merge to complete the request.";
const SELF_DETAILS =
	"Pending certificate created. Certificate request is in progress. This may take some time based on the issuer provider. Please check again later.";

describe("certificates: issuance, operations, contacts, issuers", () => {
	let srv, client, secrets, ca;

	before(async () => {
		srv = await startServer();
		client = new CertificateClient(srv.vaultUrl, srv.credential);
		secrets = new SecretClient(srv.vaultUrl, srv.credential);
		ca = makeCa();
	});
	after(async () => {
		rmTmp(ca?.dir);
		await srv?.close();
	});

	async function pendingUnknown(name, extra = {}) {
		const poller = await client.beginCreateCertificate(
			name,
			{ issuerName: "Unknown", subject: `CN=${name}.example`, subjectAlternativeNames: { dnsNames: [`${name}.example`] }, ...extra },
			POLL,
		);
		assert.equal(poller.isDone(), false, "JS polls an Unknown operation until merge");
		const { op } = await operationOf(client, name);
		assert.equal(op.status, "inProgress");
		assert.equal(op.issuerName, "Unknown");
		assert.equal(op.statusDetails, MERGE_DETAILS);
		assert.equal(op.cancellationRequested, false);
		assert.match(op.requestId, /^[0-9a-f]{32}$/);
		return { poller, op };
	}

	test("Unknown issuer: the CSR signed by an openssl CA and merged back, chain and all", async () => {
		const name = uniqueName("merge");
		const { poller, op } = await pendingUnknown(name, { keyType: "RSA", keySize: 3072 });
		const text = csrText(Buffer.from(op.csr));
		assert.match(text, new RegExp(`CN ?= ?${name}\\.example`));
		assert.match(text, new RegExp(`DNS:${name}\\.example`));
		assert.match(text, /3072 bit/);
		// While pending: the certificate is the pending version, disabled, without cer.
		const pending = await client.getCertificate(name);
		assert.equal(pending.properties.enabled, false);
		assert.equal(pending.cer, undefined);
		assert.equal(pending.keyId, undefined);

		const leaf = signCsr(ca, Buffer.from(op.csr));
		// Both SDKs' own tests pass the base64 text of the DER: the wire carries it twice encoded.
		const merged = await client.mergeCertificate(name, [
			Buffer.from(leaf.der.toString("base64")),
			Buffer.from(ca.der.toString("base64")),
		]);
		assert.deepEqual(Buffer.from(merged.cer), leaf.der);
		assert.equal(merged.properties.enabled, true);
		assert.equal(merged.policy.issuerName, "Unknown");
		assert.deepEqual(merged.policy.lifetimeActions, [
			{ action: "EmailContacts", lifetimePercentage: 80, daysBeforeExpiry: undefined },
		]);
		assert.equal(merged.properties.version, pending.properties.version);
		// The operation is completed, and the poller that waited for the merge ends with it.
		const done = await poller.pollUntilDone();
		assert.equal((await operationOf(client, name)).op.status, "completed");
		assert.deepEqual(Buffer.from(done.cer), leaf.der);
		// The secret holds key, leaf and CA; openssl verifies the leaf against our CA.
		const pfxText = openPfx(Buffer.from((await secrets.getSecret(name)).value, "base64"), "");
		assert.match(pfxText, /-----BEGIN PRIVATE KEY-----/);
		const certs = pemCerts(pfxText);
		assert.equal(certs.length, 2, "leaf and CA in the PFX");
		assert.ok(certs.some((c) => c.equals(leaf.der)));
		assert.ok(certs.some((c) => c.equals(ca.der)));
		const dir = fs.mkdtempSync(path.join(ca.dir, "v-"));
		fs.writeFileSync(path.join(dir, "leaf.pem"), leaf.pem);
		assert.match(openssl(["verify", "-CAfile", ca.cert, path.join(dir, "leaf.pem")]).toString(), /OK/);
		// The key is the one of the CSR: a signature verifies with the CA-issued certificate.
		const digest = crypto.createHash("sha256").update("merged").digest();
		const { result } = await new CryptographyClient(merged.keyId, srv.credential).sign("RS256", digest);
		assert.ok(crypto.verify("sha256", Buffer.from("merged"), new crypto.X509Certificate(leaf.der).publicKey, Buffer.from(result)));
		// A second merge: the operation is finished.
		await expectRestError(() => client.mergeCertificate(name, [leaf.der]), 403, "Forbidden");
	});

	test("merge takes DER and PEM as well; a certificate of another key is 400", async () => {
		const a = uniqueName("merge-der");
		const b = uniqueName("merge-pem");
		const { op: opA } = await pendingUnknown(a);
		const { op: opB } = await pendingUnknown(b, { keyType: "EC", keyCurveName: "P-256" });
		const foreign = makeSelfSigned();
		const e = await expectRestError(() => client.mergeCertificate(a, [foreign.certDer]), 400, "BadParameter");
		assert.ok(e.message.length > 0);
		assert.equal((await client.getCertificate(a)).cer, undefined, "nothing merged");
		const la = signCsr(ca, Buffer.from(opA.csr));
		const ma = await client.mergeCertificate(a, [la.der]);
		assert.deepEqual(Buffer.from(ma.cer), la.der);
		const lb = signCsr(ca, Buffer.from(opB.csr));
		const mb = await client.mergeCertificate(b, [Buffer.from(lb.pem)]);
		assert.deepEqual(Buffer.from(mb.cer), lb.der);
		assert.match(x509Text(lb.der), /ASN1 OID: prime256v1/);
		await expectRestError(() => client.mergeCertificate(uniqueName("nothing"), [la.der]), 404, "PendingCertificateNotFound");
	});

	test("create or import while an operation is in progress is 409", async () => {
		const name = uniqueName("busy");
		await pendingUnknown(name);
		const e = await expectRestError(
			() => client.beginCreateCertificate(name, { issuerName: "Self", subject: "CN=x" }, POLL),
			409,
			"Forbidden",
		);
		assert.equal(
			e.message,
			"A new key vault certificate can not be created or imported while a pending key vault certificate's status is inProgress.",
		);
		const pfx = makeSelfSigned().pfx("");
		await expectRestError(() => client.importCertificate(name, pfx), 409, "Forbidden");
	});

	test("cancel an in-progress Self creation, then delete the operation", async () => {
		const name = uniqueName("cancel");
		await client.beginCreateCertificate(name, { issuerName: "Self", subject: "CN=cancel" }, POLL);
		const { poller, op: before } = await operationOf(client, name);
		assert.equal(before.status, "inProgress");
		assert.equal(before.statusDetails, SELF_DETAILS);
		await poller.cancelOperation();
		const afterCancel = poller.getOperationState().certificateOperation;
		assert.equal(afterCancel.cancellationRequested, true);
		assert.equal(afterCancel.status, "inProgress", "the PATCH answer still says inProgress (observed)");
		const opPoller = await client.getCertificateOperation(name, POLL);
		const op = opPoller.getOperationState().certificateOperation;
		assert.equal(op.status, "cancelled");
		assert.equal(op.cancellationRequested, true);
		// A finished operation cannot be cancelled again.
		const e = await expectRestError(() => opPoller.cancelOperation(), 403, "Forbidden");
		assert.equal(e.message, "Pending status must be in progress to allow update.");
		// Never issued: the pending version stays disabled, without cer.
		const skeleton = await client.getCertificate(name);
		assert.equal(skeleton.properties.enabled, false);
		assert.equal(skeleton.cer, undefined);
		const deleted = await client.deleteCertificateOperation(name);
		assert.equal(deleted.status, "cancelled");
		assert.equal(deleted.id, `${srv.vaultUrl}/certificates/${name}/pending`);
		const e2 = await expectRestError(() => client.getCertificateOperation(name, POLL), 404, "PendingCertificateNotFound");
		assert.match(e2.message, new RegExp(`pending certificate not found: ${name}`, "i"));
		await expectRestError(() => client.deleteCertificateOperation(name), 404, "PendingCertificateNotFound");
		const still = await client.getCertificate(name);
		assert.equal(still.cer, undefined);
		// The name can be used again.
		const poller2 = await client.beginCreateCertificate(name, { issuerName: "Self", subject: "CN=again" }, POLL);
		const cert = await poller2.pollUntilDone();
		assert.ok(cert.cer.length > 100);
	});

	test("delete an operation in progress: the poller then has nothing to follow", async () => {
		const name = uniqueName("delop");
		await pendingUnknown(name);
		const op = await client.deleteCertificateOperation(name);
		assert.equal(op.status, "inProgress");
		assert.equal(op.issuerName, "Unknown");
		await expectRestError(() => client.getCertificateOperation(name, POLL), 404, "PendingCertificateNotFound");
		await expectRestError(() => client.mergeCertificate(name, [makeSelfSigned().certDer]), 404, "PendingCertificateNotFound");
	});

	test("a completed operation stays readable with its target", async () => {
		const name = uniqueName("opdone");
		const poller = await client.beginCreateCertificate(name, { issuerName: "Self", subject: "CN=done" }, POLL);
		await poller.pollUntilDone();
		const r = await srv.request("GET", `/certificates/${name}/pending?${API}`);
		assert.equal(r.status, 200, r.text);
		assert.equal(r.json.status, "completed");
		assert.equal(r.json.target, `${srv.vaultUrl}/certificates/${name}`);
		assert.equal(r.json.status_details, undefined);
		assert.equal(r.json.issuer.name, "Self");
		// request_id filters
		const ok = await srv.request("GET", `/certificates/${name}/pending?${API}&request_id=${r.json.request_id}`);
		assert.equal(ok.status, 200);
		const miss = await srv.request("GET", `/certificates/${name}/pending?${API}&request_id=${"0".repeat(32)}`);
		assert.equal(miss.status, 404);
		assert.equal(miss.json.error.code, "PendingCertificateNotFound");
	});

	test("a create naming an issuer object fails in the operation: kluis orders from no CA", async () => {
		const issuer = uniqueName("iss");
		await client.createIssuer(issuer, "Test");
		const name = uniqueName("ordered");
		const poller = await client.beginCreateCertificate(name, { issuerName: issuer, subject: "CN=ordered.example" }, POLL);
		assert.equal(poller.isDone(), false);
		const { op: first } = await operationOf(client, name);
		assert.equal(first.status, "inProgress");
		assert.equal(first.issuerName, issuer);
		// merge is forbidden while an issuer's order is in progress
		const em = await expectRestError(() => client.mergeCertificate(name, [makeSelfSigned().certDer]), 403, "Forbidden");
		assert.equal(em.message, `Merge is forbidden on pending object created with issuer : ${issuer} while it is in progess.`);
		await assert.rejects(poller.pollUntilDone(), (e) => {
			assert.equal(e.message, "kluis cannot order certificates from provider Test.");
			return true;
		});
		// getCertificateOperation's poller throws the operation's error on its first poll
		await assert.rejects(client.getCertificateOperation(name, POLL), /kluis cannot order certificates from provider Test\./);
		const r = await srv.request("GET", `/certificates/${name}/pending?${API}`);
		assert.equal(r.status, 200, r.text);
		assert.equal(r.json.status, "failed");
		assert.equal(r.json.error.code, "Certificate issuer error");
		assert.equal(r.json.error.message, "kluis cannot order certificates from provider Test.");
		assert.equal(r.json.issuer.name, issuer);
		const cert = await client.getCertificate(name);
		assert.equal(cert.cer, undefined, "never issued");
		assert.equal(cert.policy.issuerName, issuer);
		// lifetime action default for issuer objects: AutoRenew
		assert.equal(cert.policy.lifetimeActions[0].action, "AutoRenew");
	});

	test("contacts: none, set, get, delete", async () => {
		const e = await expectRestError(() => client.getContacts(), 404, "ContactsNotFound");
		assert.equal(e.message, "Contacts not found");
		await expectRestError(() => client.deleteContacts(), 404, "ContactsNotFound");
		const contacts = [
			{ email: "ops@example.com", name: "Ops", phone: "+31 20 123 4567" },
			{ email: "sec@example.com" },
		];
		const set = await client.setContacts(contacts);
		assert.deepEqual(set, [
			{ email: "ops@example.com", name: "Ops", phone: "+31 20 123 4567" },
			{ email: "sec@example.com", name: undefined, phone: undefined },
		]);
		assert.deepEqual(await client.getContacts(), set);
		const r = await srv.request("GET", `/certificates/contacts?${API}`);
		assert.equal(r.json.id, `${srv.vaultUrl}/certificates/contacts`);
		// PUT replaces the list
		const replaced = await client.setContacts([{ email: "only@example.com", name: "Only" }]);
		assert.equal(replaced.length, 1);
		// JS 4.10.3's deleteContacts reads a member the wire does not have (contactList) and
		// always gives []: the removed list is checked on the wire.
		assert.ok(Array.isArray(await client.deleteContacts()));
		await expectRestError(() => client.getContacts(), 404, "ContactsNotFound");
		await client.setContacts([{ email: "only@example.com", name: "Only" }]);
		const del = await srv.request("DELETE", `/certificates/contacts?${API}`);
		assert.equal(del.status, 200, del.text);
		assert.deepEqual(del.json.contacts, [{ email: "only@example.com", name: "Only" }]);
		await expectRestError(() => client.getContacts(), 404, "ContactsNotFound");
		// an empty list and a contact without e-mail are refused
		const empty = await srv.request("PUT", `/certificates/contacts?${API}`, { body: { contacts: [] } });
		assert.equal(empty.status, 400, empty.text);
		const noMail = await srv.request("PUT", `/certificates/contacts?${API}`, { body: { contacts: [{ name: "x" }] } });
		assert.equal(noMail.status, 400, noMail.text);
	});

	test("issuers: create, get, update, list, delete", async () => {
		const name = uniqueName("issuer");
		const created = await client.createIssuer(name, "DigiCert", {
			accountId: "acct-1",
			password: "issuer-secret-pw",
			organizationId: "org-1",
			administratorContacts: [{ firstName: "Ada", lastName: "Lovelace", email: "ada@example.com", phone: "123" }],
			enabled: true,
		});
		assert.equal(created.id, `${srv.vaultUrl}/certificates/issuers/${name}`);
		// (created.name: JS parses the id as /certificates/{name}/{version}, so it says "issuers")
		assert.equal(created.provider, "DigiCert");
		assert.equal(created.accountId, "acct-1");
		assert.equal(created.password, undefined, "the password is never returned");
		assert.equal(created.organizationId, "org-1");
		assert.deepEqual(created.administratorContacts, [
			{ firstName: "Ada", lastName: "Lovelace", email: "ada@example.com", phone: "123" },
		]);
		assert.equal(created.enabled, true);
		assert.ok(created.createdOn instanceof Date);
		const got = await client.getIssuer(name);
		assert.equal(got.provider, "DigiCert");
		assert.equal(got.accountId, "acct-1");
		// PATCH merges: the account id stays, the provider changes
		// (JS 4.10.3 sends attributes only when enabled is truthy: it cannot disable an issuer)
		const updated = await client.updateIssuer(name, { provider: "GlobalSign" });
		assert.equal(updated.provider, "GlobalSign");
		assert.equal(updated.accountId, "acct-1");
		assert.equal(updated.organizationId, "org-1");
		assert.equal(updated.enabled, true);
		const off = await srv.request("PATCH", `/certificates/issuers/${name}?${API}`, { body: { attributes: { enabled: false } } });
		assert.equal(off.status, 200, off.text);
		assert.equal(off.json.attributes.enabled, false);
		assert.equal(off.json.provider, "GlobalSign");
		assert.equal((await client.getIssuer(name)).enabled, false);
		const other = uniqueName("issuer2");
		await client.createIssuer(other, "OneCertV2-PublicCA");
		const listed = await collect(client.listPropertiesOfIssuers());
		const issuerName = (i) => i.id.split("/").at(-1);
		const byName = Object.fromEntries(listed.map((i) => [issuerName(i), i.provider]));
		assert.equal(byName[name], "GlobalSign");
		assert.equal(byName[other], "OneCertV2-PublicCA");
		for (const i of listed) assert.match(i.id, new RegExp(`^${srv.vaultUrl}/certificates/issuers/[0-9A-Za-z-]+$`));
		const deleted = await client.deleteIssuer(name);
		assert.equal(deleted.provider, "GlobalSign");
		const e = await expectRestError(() => client.getIssuer(name), 404, "CertificateIssuerNotFound");
		assert.equal(e.message, "Issuer not found");
		await expectRestError(() => client.updateIssuer(name, { provider: "x" }), 404, "CertificateIssuerNotFound");
		await expectRestError(() => client.deleteIssuer(name), 404, "CertificateIssuerNotFound");
		assert.ok(!(await collect(client.listPropertiesOfIssuers())).some((i) => issuerName(i) === name));
		// reserved names and a missing provider
		await expectRestError(() => client.createIssuer("Self", "Test"), 400, "BadParameter");
		await expectRestError(() => client.createIssuer("unknown", "Test"), 400, "BadParameter");
		const r = await srv.request("PUT", `/certificates/issuers/${uniqueName("noprov")}?${API}`, { body: {} });
		assert.equal(r.status, 400, r.text);
		// the raw answer never carries the password
		const raw = await srv.request("GET", `/certificates/issuers/${other}?${API}`);
		assert.equal(raw.json.credentials?.pwd, undefined);
	});

	test("a deleted issuer makes later creates that name it 400", async () => {
		const issuer = uniqueName("gone");
		await client.createIssuer(issuer, "Test");
		await client.deleteIssuer(issuer);
		await expectRestError(
			() => client.beginCreateCertificate(uniqueName("c"), { issuerName: issuer, subject: "CN=x" }, POLL),
			400,
			"BadParameter",
		);
	});
});
