// Certificate import through @azure/keyvault-certificates, unchanged, against a real kluisd
// (shared/spec/certificates.md C5): PKCS#12 files made by the openssl command line with and
// without a password, PEM (key and certificates, in any order, with a chain), the policy kluis
// derives from the leaf, the managed key and secret an import makes, and the 400s: a wrong
// password, a key that does not match the certificate, garbage, a certificate alone, a
// traditional (non-PKCS#8) key, an RSA-1024 key.

import assert from "node:assert/strict";
import crypto from "node:crypto";
import { after, before, describe, test } from "node:test";
import { CertificateClient } from "@azure/keyvault-certificates";
import { CryptographyClient } from "@azure/keyvault-keys";
import { SecretClient } from "@azure/keyvault-secrets";
import { collect, expectRestError, startServer, uniqueName } from "./lib/server.mjs";
import {
	API,
	makeCa,
	makeCaSigned,
	makePfx,
	makeSelfSigned,
	openPfx,
	pemCerts,
	pkcs8Der,
	rmTmp,
	sha1Hex,
	traditionalKey,
} from "./lib/certs.mjs";

const PEM_POLICY = { policy: { contentType: "application/x-pem-file" } };

describe("certificates: import", () => {
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

	async function secretKeyAndCerts(name) {
		const s = await secrets.getSecret(name);
		const text =
			s.properties.contentType === "application/x-pkcs12" ? openPfx(Buffer.from(s.value, "base64"), "") : s.value;
		const m = /-----BEGIN PRIVATE KEY-----[^-]+-----END PRIVATE KEY-----\n/.exec(text);
		return { secret: s, keyPem: m?.[0], certs: pemCerts(text) };
	}

	test("a PKCS#12 without a password: the leaf, the derived policy, key and secret", async () => {
		const name = uniqueName("imp-pfx");
		const src = makeSelfSigned({ subject: "/CN=KeyVaultTest", san: "DNS:imp.example,email:imp@example.com", days: 60 });
		const cert = await client.importCertificate(name, src.pfx(""), { tags: { origin: "openssl" } });
		assert.deepEqual(Buffer.from(cert.cer), src.certDer);
		assert.equal(cert.properties.x509ThumbprintString, sha1Hex(src.certDer));
		assert.deepEqual(cert.properties.tags, { origin: "openssl" });
		assert.equal(cert.properties.enabled, true);
		const x = new crypto.X509Certificate(src.certDer);
		assert.equal(cert.properties.notBefore.getTime(), new Date(x.validFrom).getTime());
		assert.equal(cert.properties.expiresOn.getTime(), new Date(x.validTo).getTime());
		assert.equal(cert.keyId, `${srv.vaultUrl}/keys/${name}/${cert.properties.version}`);
		assert.equal(cert.secretId, `${srv.vaultUrl}/secrets/${name}/${cert.properties.version}`);
		// The policy kluis derives when none is given (C5).
		const p = cert.policy;
		assert.equal(p.issuerName, "Unknown");
		assert.equal(p.subject, "CN=KeyVaultTest");
		assert.deepEqual(p.subjectAlternativeNames, { dnsNames: ["imp.example"], emails: ["imp@example.com"] });
		assert.equal(p.keyType, "RSA");
		assert.equal(p.keySize, 2048);
		assert.equal(p.exportable, true);
		assert.equal(p.reuseKey, false);
		assert.equal(p.contentType, "application/x-pkcs12");
		assert.deepEqual([...p.keyUsage].sort(), ["digitalSignature", "keyEncipherment"]);
		assert.deepEqual(p.enhancedKeyUsage, []);
		assert.equal(p.validityInMonths, monthsRoundedUp(new Date(x.validFrom), new Date(x.validTo)), "60 days in months, rounded up");
		assert.deepEqual(p.lifetimeActions, [{ action: "EmailContacts", lifetimePercentage: 80, daysBeforeExpiry: undefined }]);
		// The secret is a PFX kluis rebuilt, with the same key, opening with an empty password.
		const { secret, keyPem, certs } = await secretKeyAndCerts(name);
		assert.equal(secret.properties.contentType, "application/x-pkcs12");
		assert.equal(secret.properties.managed, true);
		assert.ok(keyPem, "the private key is in the secret");
		assert.deepEqual(pkcs8Der(keyPem), pkcs8Der(src.keyPem));
		assert.deepEqual(certs, [src.certDer]);
		// The key signs; the signature verifies with the imported certificate.
		const digest = crypto.createHash("sha256").update("imported").digest();
		const { result } = await new CryptographyClient(cert.keyId, srv.credential).sign("RS256", digest);
		assert.ok(crypto.verify("sha256", Buffer.from("imported"), x.publicKey, Buffer.from(result)));
		// An import makes no certificate operation.
		await expectRestError(() => client.getCertificateOperation(name), 404, "PendingCertificateNotFound");
		// Listed like any other.
		assert.ok((await collect(client.listPropertiesOfCertificates())).some((c) => c.name === name));
	});

	test("a PKCS#12 with a password, EC keys of every curve", async () => {
		for (const [kind, crv, size] of [
			["ec:P-256", "P-256", 256],
			["ec:P-384", "P-384", 384],
			["ec:P-521", "P-521", 521],
		]) {
			const name = uniqueName(`imp-${crv}`);
			const src = makeSelfSigned({ kind, subject: `/CN=${name}` });
			const password = `pw-${crv}-é`;
			const cert = await client.importCertificate(name, src.pfx(password), { password });
			assert.deepEqual(Buffer.from(cert.cer), src.certDer, crv);
			assert.equal(cert.policy.keyType, "EC");
			assert.equal(cert.policy.keyCurveName, crv);
			assert.equal(cert.policy.keySize, size);
			const { keyPem } = await secretKeyAndCerts(name);
			assert.deepEqual(pkcs8Der(keyPem), pkcs8Der(src.keyPem), `${crv}: the secret opens without the import password`);
		}
	});

	test("PEM: key and certificate in either order, and a chain whose leaf is found by its key", async () => {
		const a = uniqueName("imp-pem");
		const src = makeSelfSigned({ subject: "/CN=pem.example" });
		const ca_ = await client.importCertificate(a, Buffer.from(src.keyPem + src.certPem), PEM_POLICY);
		assert.deepEqual(Buffer.from(ca_.cer), src.certDer);
		assert.equal(ca_.policy.contentType, "application/x-pem-file");
		const s = await secrets.getSecret(a);
		assert.equal(s.properties.contentType, "application/x-pem-file");
		assert.ok(s.value.startsWith("-----BEGIN PRIVATE KEY-----\n"));
		assert.ok(s.value.endsWith("-----END CERTIFICATE-----\n"));
		const { keyPem } = await secretKeyAndCerts(a);
		assert.deepEqual(pkcs8Der(keyPem), pkcs8Der(src.keyPem));

		const b = uniqueName("imp-chain");
		const leaf = makeCaSigned(ca, { subject: "/CN=chain.example", kind: "ec:P-256" });
		// CA first, then the key, then the leaf: kluis finds the leaf by the key and stores it first.
		const cb = await client.importCertificate(b, Buffer.from(ca.pem + leaf.keyPem + leaf.certPem), PEM_POLICY);
		assert.deepEqual(Buffer.from(cb.cer), leaf.certDer);
		const { certs } = await secretKeyAndCerts(b);
		assert.deepEqual(certs, [leaf.certDer, ca.der], "leaf first, then the chain");

		// a PFX carrying the chain, too
		const c = uniqueName("imp-pfxchain");
		const cc = await client.importCertificate(c, makePfx(leaf.keyPem, leaf.certPem + ca.pem, "x"), { password: "x" });
		assert.deepEqual(Buffer.from(cc.cer), leaf.certDer);
		const { certs: pfxCerts } = await secretKeyAndCerts(c);
		assert.equal(pfxCerts.length, 2);
		assert.ok(pfxCerts.some((d) => d.equals(ca.der)));
	});

	test("import adds a version; create after import works", async () => {
		const name = uniqueName("imp-versions");
		const one = await client.importCertificate(name, makeSelfSigned().pfx(""));
		const two = await client.importCertificate(name, makeSelfSigned({ subject: "/CN=second" }).pfx(""));
		assert.notEqual(one.properties.version, two.properties.version);
		const versions = await collect(client.listPropertiesOfCertificateVersions(name));
		assert.equal(versions.length, 2);
		assert.equal((await client.getCertificate(name)).properties.version, two.properties.version);
		assert.equal((await secrets.getSecret(name)).properties.version, two.properties.version);
	});

	test("bad imports are 400 BadParameter and store nothing", async () => {
		const a = makeSelfSigned();
		const b = makeSelfSigned();
		const rsa1024 = makeSelfSigned({ kind: "rsa:1024" });
		const RIGHT = `right-${crypto.randomBytes(6).toString("hex")}`;
		const WRONG = `wrong-${crypto.randomBytes(6).toString("hex")}`;
		const cases = [
			["wrong password", () => a.pfx(RIGHT), { password: WRONG }],
			["no password given for a protected PFX", () => a.pfx(RIGHT), {}],
			["a key that does not match the certificate (PEM)", () => Buffer.from(a.keyPem + b.certPem), PEM_POLICY],
			["a key that does not match the certificate (PFX)", () => makePfx(a.keyPem, b.certPem, "", "unchecked"), {}],
			["a PFX with a certificate only", () => makePfx(null, a.certPem, "", "nokey"), {}],
			["garbage", () => crypto.randomBytes(300), {}],
			["a certificate without a key (PEM)", () => Buffer.from(a.certPem), PEM_POLICY],
			["a key without a certificate (PEM)", () => Buffer.from(a.keyPem), PEM_POLICY],
			["a traditional RSA key (PEM)", () => Buffer.from(traditionalKey(a.keyPem) + a.certPem), PEM_POLICY],
			["an RSA-1024 key", () => rsa1024.pfx(""), {}],
		];
		for (const [what, bytes, opts] of cases) {
			const name = uniqueName("imp-bad");
			const e = await expectRestError(() => client.importCertificate(name, bytes(), opts), 400, "BadParameter");
			assert.ok(e.message.length > 0, what);
			assert.ok(!e.message.includes(RIGHT) && !e.message.includes(WRONG), `${what}: no password in the message`);
			await expectRestError(() => client.getCertificate(name), 404, "CertificateNotFound");
			await expectRestError(() => secrets.getSecret(name), 404);
		}
		// a value that is not even base64, raw
		const r = await srv.request("POST", `/certificates/${uniqueName("imp-raw")}/import?${API}`, {
			body: { value: "%%% not base64 %%%" },
		});
		assert.equal(r.status, 400, r.text);
		assert.equal(r.json.error.code, "BadParameter");
		const r2 = await srv.request("POST", `/certificates/${uniqueName("imp-raw")}/import?${API}`, { body: {} });
		assert.equal(r2.status, 400, r2.text);
	});

	test("a policy whose key_props contradict the key is 400", async () => {
		const src = makeSelfSigned();
		const r = await srv.request("POST", `/certificates/${uniqueName("imp-contra")}/import?${API}`, {
			body: {
				value: src.pfx("").toString("base64"),
				policy: { key_props: { kty: "EC", crv: "P-256" }, secret_props: { contentType: "application/x-pkcs12" } },
			},
		});
		assert.equal(r.status, 400, r.text);
		assert.equal(r.json.error.code, "BadParameter");
	});
});

/** Calendar months from a to b, rounded up (the spec's validity_months of an imported leaf). */
function monthsRoundedUp(a, b) {
	let m = (b.getUTCFullYear() - a.getUTCFullYear()) * 12 + (b.getUTCMonth() - a.getUTCMonth());
	const shifted = new Date(a.getTime());
	shifted.setUTCMonth(a.getUTCMonth() + m);
	if (shifted < b) m += 1;
	return m;
}
