// Certificates through @azure/keyvault-certificates, unchanged, against a real kluisd
// (shared/spec/certificates.md): Self-signed creation with every key type, subject, SANs, key
// usages, EKUs, validity, content types and exportability, the create poller (inProgress, then
// completed), get latest and by version, list (includePending), list versions, update of
// attributes and tags, disable, get/update policy, policy validation; and the managed key and
// secret behind each version (sign with the key and verify with the certificate, the PFX/PEM in
// the secret, the keys/secrets APIs refusing to change them). Issuance by others, import and the
// lifecycle have files of their own.
//
// The server runs with --certificate-issue-delay 1 (the default is 2 s; one is enough for pollers
// that poll every 100 ms to see inProgress before completed, and saves the suite a second per
// certificate).

import assert from "node:assert/strict";
import crypto from "node:crypto";
import { after, before, describe, test } from "node:test";
import { CertificateClient } from "@azure/keyvault-certificates";
import { CryptographyClient, KeyClient } from "@azure/keyvault-keys";
import { SecretClient } from "@azure/keyvault-secrets";
import { collect, expectRestError, startServer, uniqueName } from "./lib/server.mjs";
import { API, POLL, VERSION_RE, openPfx, operationOf, warmUp, pemCerts, sha1Hex, x509Text, x5tOf } from "./lib/certs.mjs";

const DEFAULT_EKUS = ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"];

/**
 * Creates through the poller and checks the operation ends completed. Whether the first poll saw
 * inProgress is the subject of a test of its own (a loaded machine may take long over the key).
 */
async function createSelf(client, name, policy, options = {}) {
	const poller = await client.beginCreateCertificate(name, policy, { ...POLL, ...options });
	const cert = await poller.pollUntilDone();
	assert.equal(poller.isDone(), true);
	const { op: last } = await operationOf(client, name);
	assert.equal(last.status, "completed");
	assert.equal(last.target, `${client.vaultUrl}/certificates/${name}`);
	return cert;
}

function x509(cert) {
	return new crypto.X509Certificate(Buffer.from(cert.cer));
}

describe("certificates", () => {
	let srv, client, keys, secrets;

	before(async () => {
		srv = await startServer({ extraArgs: ["--certificate-issue-delay", "1"] });
		client = new CertificateClient(srv.vaultUrl, srv.credential);
		keys = new KeyClient(srv.vaultUrl, srv.credential);
		secrets = new SecretClient(srv.vaultUrl, srv.credential);
		// Each new JS client answers its first challenge once: concurrent first requests of a
		// fresh client can go out with the token but the body still stripped. One request each
		// before the parallel tests.
		await warmUp(client, keys, secrets);
	});
	after(async () => {
		await srv?.close();
	});

	test("the create poller sees inProgress, then completed", async () => {
		const name = uniqueName("poller");
		const poller = await client.beginCreateCertificate(name, { issuerName: "Self", subject: `CN=${name}` }, POLL);
		// The create poller is done after its first poll unless GET /pending said inProgress.
		assert.equal(poller.isDone(), false, "the first poll (POST create, GET pending) saw inProgress");
		const { op } = await operationOf(client, name);
		assert.equal(op.status, "inProgress");
		assert.equal(op.issuerName, "Self");
		assert.equal(op.cancellationRequested, false);
		assert.equal(
			op.statusDetails,
			"Pending certificate created. Certificate request is in progress. This may take some time based on the issuer provider. Please check again later.",
		);
		assert.match(op.requestId, /^[0-9a-f]{32}$/);
		// while in progress the certificate reads as the pending version: disabled, no cer
		const pending = await client.getCertificate(name);
		assert.equal(pending.properties.enabled, false);
		assert.equal(pending.cer, undefined);
		const cert = await poller.pollUntilDone();
		assert.ok(cert.cer.length > 100);
		assert.equal(cert.properties.enabled, true);
		assert.equal(cert.properties.version, pending.properties.version, "the pending version is issued");
		const { op: last } = await operationOf(client, name);
		assert.equal(last.status, "completed");
		assert.equal(last.target, `${srv.vaultUrl}/certificates/${name}`);
		assert.equal(last.statusDetails, undefined);
	});

	test("create Self with every key type", async () => {
		const kinds = [
			{ keyType: "RSA", keySize: 2048, bits: 2048 },
			{ keyType: "RSA", keySize: 3072, bits: 3072 },
			{ keyType: "RSA", keySize: 4096, bits: 4096 },
			{ keyType: "EC", keyCurveName: "P-256", curve: "prime256v1", size: 256 },
			{ keyType: "EC", keyCurveName: "P-384", curve: "secp384r1", size: 384 },
			{ keyType: "EC", keyCurveName: "P-521", curve: "secp521r1", size: 521 },
		];
		await Promise.all(
			kinds.map(async (k) => {
				const name = uniqueName(`kt-${k.keyType}-${k.keySize || k.keyCurveName}`);
				const t0 = Math.floor(Date.now() / 1000) - 5;
				const policy = { issuerName: "Self", subject: `CN=${name}`, keyType: k.keyType };
				if (k.keySize) policy.keySize = k.keySize;
				if (k.keyCurveName) policy.keyCurveName = k.keyCurveName;
				const cert = await createSelf(client, name, policy);
				const what = `${k.keyType} ${k.keySize || k.keyCurveName}`;
				const version = cert.properties.version;
				assert.match(version, VERSION_RE, what);
				assert.equal(cert.name, name);
				assert.equal(cert.properties.id, `${srv.vaultUrl}/certificates/${name}/${version}`);
				assert.equal(cert.keyId, `${srv.vaultUrl}/keys/${name}/${version}`);
				assert.equal(cert.secretId, `${srv.vaultUrl}/secrets/${name}/${version}`);
				assert.equal(cert.properties.enabled, true);
				assert.equal(cert.properties.recoveryLevel, "Recoverable+Purgeable");
				const der = Buffer.from(cert.cer);
				assert.equal(der[0], 0x30, "cer is DER");
				assert.equal(cert.properties.x509ThumbprintString, sha1Hex(der));
				const x = x509(cert);
				assert.equal(x.subject, `CN=${name}`);
				assert.equal(x.issuer, x.subject, "self-signed: issuer = subject");
				assert.ok(x.verify(x.publicKey), `${what}: the self-signature verifies`);
				assert.equal(x.ca, false);
				const d = x.publicKey.asymmetricKeyDetails;
				if (k.bits) {
					assert.equal(x.publicKey.asymmetricKeyType, "rsa", what);
					assert.equal(d.modulusLength, k.bits, what);
				} else {
					assert.equal(x.publicKey.asymmetricKeyType, "ec", what);
					assert.equal(d.namedCurve, k.curve, what);
				}
				// nbf/exp are the leaf's validity: 12 months by default, from just before creation.
				const nbf = new Date(x.validFrom).getTime();
				const exp = new Date(x.validTo).getTime();
				assert.equal(cert.properties.notBefore.getTime(), nbf);
				assert.equal(cert.properties.expiresOn.getTime(), exp);
				assert.ok(nbf / 1000 >= t0 - 700 && nbf <= Date.now(), `${what} nbf ${x.validFrom}`);
				const days = (exp - nbf) / 86400e3;
				assert.ok(days >= 365 && days <= 367 + 1, `${what}: ${days} days`);
				// The policy came back completed with the defaults (C7).
				const p = cert.policy;
				assert.equal(p.issuerName, "Self");
				assert.equal(p.subject, `CN=${name}`);
				assert.equal(p.keyType, k.keyType);
				assert.equal(p.exportable, true);
				assert.equal(p.reuseKey, false);
				assert.equal(p.contentType, "application/x-pkcs12");
				assert.deepEqual(p.enhancedKeyUsage, DEFAULT_EKUS);
				assert.equal(p.validityInMonths, 12);
				assert.deepEqual(p.lifetimeActions, [
					{ action: "AutoRenew", lifetimePercentage: 80, daysBeforeExpiry: undefined },
				]);
				if (k.bits) {
					assert.equal(p.keySize, k.bits);
					assert.deepEqual(p.keyUsage, ["digitalSignature", "keyEncipherment"]);
				} else {
					assert.equal(p.keyCurveName, k.keyCurveName);
					assert.equal(p.keySize, k.size);
					assert.deepEqual(p.keyUsage, ["digitalSignature"]);
				}
				// The managed key has the certificate's public key.
				const key = await keys.getKey(name, { version });
				assert.equal(key.properties.managed, true);
				assert.equal(key.id, cert.keyId);
				const pub = crypto.createPublicKey({ key: toJwk(key.key), format: "jwk" });
				assert.ok(
					pub.export({ format: "der", type: "spki" }).equals(x.publicKey.export({ format: "der", type: "spki" })),
					`${what}: the managed key is the certificate's key`,
				);
			}),
		);
	});

	test("subject, DNS/e-mail/UPN SANs, key usages, EKUs and validity reach the X.509 and the CSR", async () => {
		const name = uniqueName("ext");
		const policy = {
			issuerName: "Self",
			subject: "CN=ext.example, O=Kluis Test, OU=E2E, C=NL",
			subjectAlternativeNames: {
				dnsNames: ["ext.example", "www.ext.example"],
				emails: ["admin@ext.example"],
				userPrincipalNames: ["user@ext.example"],
			},
			keyUsage: ["digitalSignature", "nonRepudiation", "keyEncipherment", "dataEncipherment"],
			enhancedKeyUsage: ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.3"],
			validityInMonths: 3,
		};
		const poller = await client.beginCreateCertificate(name, policy, POLL);
		const { op } = await operationOf(client, name);
		assert.equal(op.status, "inProgress");
		const csr = op.csr;
		assert.ok(csr && csr.length > 100, "the operation carries the CSR");
		const cert = await poller.pollUntilDone();
		const x = x509(cert);
		const text = x509Text(Buffer.from(cert.cer));
		assert.match(x.subject, /CN=ext\.example/);
		assert.match(x.subject, /O=Kluis Test/);
		assert.match(x.subject, /OU=E2E/);
		assert.match(x.subject, /C=NL/);
		assert.match(text, /DNS:ext\.example/);
		assert.match(text, /DNS:www\.ext\.example/);
		assert.match(text, /email:admin@ext\.example/);
		assert.match(text, /user@ext\.example/, "the UPN (otherName) is in the SAN");
		assert.match(text, /X509v3 Key Usage: critical\s+Digital Signature, Non Repudiation, Key Encipherment, Data Encipherment/);
		assert.match(text, /X509v3 Extended Key Usage:\s+TLS Web Server Authentication, Code Signing/);
		assert.match(text, /CA:FALSE/);
		const days = (new Date(x.validTo) - new Date(x.validFrom)) / 86400e3;
		assert.ok(days >= 89 && days <= 93, `3 months: ${days} days`);
		// The policy keeps what was asked, the subject exactly as given.
		const p = cert.policy;
		assert.equal(p.subject, "CN=ext.example, O=Kluis Test, OU=E2E, C=NL");
		assert.deepEqual(p.subjectAlternativeNames, {
			dnsNames: ["ext.example", "www.ext.example"],
			emails: ["admin@ext.example"],
			userPrincipalNames: ["user@ext.example"],
		});
		assert.deepEqual([...p.keyUsage].sort(), [...policy.keyUsage].sort());
		assert.deepEqual(p.enhancedKeyUsage, policy.enhancedKeyUsage);
		assert.equal(p.validityInMonths, 3);
		// The managed key's operations follow the key usages (C3).
		const key = await keys.getKey(name);
		assert.deepEqual([...key.keyOperations].sort(), ["decrypt", "encrypt", "sign", "unwrapKey", "verify", "wrapKey"]);
	});

	test("a subject kept exactly as given, and a SAN-only policy", async () => {
		const a = uniqueName("case");
		const b = uniqueName("sanonly");
		const [ca, cb] = await Promise.all([
			createSelf(client, a, { issuerName: "Self", subject: "cn=MyCert" }),
			createSelf(client, b, { issuerName: "Self", subjectAlternativeNames: { dnsNames: ["only.example"] } }),
		]);
		assert.equal(ca.policy.subject, "cn=MyCert");
		assert.match(x509(ca).subject, /CN=MyCert/);
		assert.match(x509Text(Buffer.from(cb.cer)), /DNS:only\.example/);
		assert.deepEqual(cb.policy.subjectAlternativeNames, { dnsNames: ["only.example"] });
	});

	test("the managed secret: PFX or PEM, with or without the private key", async () => {
		const cases = [
			{ contentType: "application/x-pkcs12", exportable: true },
			{ contentType: "application/x-pkcs12", exportable: false },
			{ contentType: "application/x-pem-file", exportable: true },
			{ contentType: "application/x-pem-file", exportable: false },
		];
		await Promise.all(
			cases.map(async (c) => {
				const name = uniqueName(`sec-${c.contentType.endsWith("pem-file") ? "pem" : "pfx"}-${c.exportable}`);
				const cert = await createSelf(client, name, {
					issuerName: "Self",
					subject: `CN=${name}`,
					contentType: c.contentType,
					exportable: c.exportable,
				});
				assert.equal(cert.policy.contentType, c.contentType);
				assert.equal(cert.policy.exportable, c.exportable);
				const secret = await secrets.getSecret(name);
				assert.equal(secret.properties.id, cert.secretId);
				assert.equal(secret.properties.managed, true);
				assert.equal(secret.properties.contentType, c.contentType);
				assert.equal(secret.properties.certificateKeyId, cert.keyId);
				const cer = Buffer.from(cert.cer);
				let text;
				if (c.contentType === "application/x-pkcs12") {
					text = openPfx(Buffer.from(secret.value, "base64"), "");
				} else {
					text = secret.value;
					assert.ok(!text.includes("\r"), "no CRLF");
					assert.ok(text.endsWith("-----END CERTIFICATE-----\n"), "one final newline");
					for (const line of text.split("\n")) assert.ok(line.length <= 64, `64 columns: ${line}`);
					if (c.exportable) assert.ok(text.startsWith("-----BEGIN PRIVATE KEY-----\n"), text.slice(0, 40));
					// the JS SDK's own test: the last CERTIFICATE body is base64(cer)
					const lines = text.split("\n");
					lines.splice(-2, 2);
					const begin = lines.lastIndexOf("-----BEGIN CERTIFICATE-----");
					assert.equal(lines.slice(begin + 1).join(""), cer.toString("base64"));
				}
				assert.deepEqual(pemCerts(text).at(-1), cer, "the leaf is in the secret");
				assert.equal(/-----BEGIN (?:RSA |EC |)PRIVATE KEY-----/.test(text), c.exportable, text.slice(0, 200));
				if (c.exportable) {
					const m = /-----BEGIN PRIVATE KEY-----[^-]+-----END PRIVATE KEY-----/.exec(text);
					const priv = crypto.createPrivateKey(m[0]);
					const pub = crypto.createPublicKey(priv).export({ format: "der", type: "spki" });
					assert.ok(pub.equals(x509(cert).publicKey.export({ format: "der", type: "spki" })));
				}
			}),
		);
	});

	test("2025-07-01: a PFX secret read as PEM (outContentType), and previousVersion", async () => {
		const name = uniqueName("outct");
		const v1 = await createSelf(client, name, { issuerName: "Self", subject: `CN=${name}` });
		const v2 = await createSelf(client, name, { issuerName: "Self", subject: `CN=${name}` });
		const pfx = await secrets.getSecret(name);
		assert.equal(pfx.properties.contentType, "application/x-pkcs12");
		assert.equal(pfx.properties.previousVersion, v1.properties.version);
		const pem = await secrets.getSecret(name, { outContentType: "application/x-pem-file" });
		assert.equal(pem.properties.contentType, "application/x-pem-file");
		assert.ok(pem.value.startsWith("-----BEGIN PRIVATE KEY-----\n"), pem.value.slice(0, 40));
		assert.ok(pem.value.endsWith("-----END CERTIFICATE-----\n"));
		assert.deepEqual(pemCerts(pem.value).at(-1), Buffer.from(v2.cer));
		// the same key as in the PFX
		const fromPfx = /-----BEGIN PRIVATE KEY-----[^-]+-----END PRIVATE KEY-----/.exec(openPfx(Buffer.from(pfx.value, "base64"), ""))[0];
		const fromPem = /-----BEGIN PRIVATE KEY-----[^-]+-----END PRIVATE KEY-----/.exec(pem.value)[0];
		assert.ok(crypto.createPrivateKey(fromPfx).export({ format: "der", type: "pkcs8" }).equals(
			crypto.createPrivateKey(fromPem).export({ format: "der", type: "pkcs8" })));
		// the first version has no previous one
		const first = await secrets.getSecret(name, { version: v1.properties.version });
		assert.equal(first.properties.previousVersion, undefined);
		// a secret backing no certificate: 400
		const plain = uniqueName("plain");
		await secrets.setSecret(plain, "x");
		await expectRestError(() => secrets.getSecret(plain, { outContentType: "application/x-pem-file" }), 400, "BadParameter");
		// PKCS#12 asked of a PEM secret: 400
		const pemName = uniqueName("outct-pem");
		await createSelf(client, pemName, { issuerName: "Self", subject: `CN=${pemName}`, contentType: "application/x-pem-file" });
		await expectRestError(() => secrets.getSecret(pemName, { outContentType: "application/x-pkcs12" }), 400, "BadParameter");
	});

	test("the managed key signs; the signature verifies with the certificate's public key", async () => {
		const rsa = uniqueName("sign-rsa");
		const ec = uniqueName("sign-ec");
		const [crsa, cec] = await Promise.all([
			createSelf(client, rsa, { issuerName: "Self", subject: `CN=${rsa}` }),
			createSelf(client, ec, { issuerName: "Self", subject: `CN=${ec}`, keyType: "EC", keyCurveName: "P-384" }),
		]);
		const data = Buffer.from("signed by a certificate's key in kluis");
		for (const [cert, alg, hash] of [
			[crsa, "RS256", "sha256"],
			[crsa, "PS256", "sha256"],
			[cec, "ES384", "sha384"],
		]) {
			const cc = new CryptographyClient(cert.keyId, srv.credential);
			const digest = crypto.createHash(hash).update(data).digest();
			const { result } = await cc.sign(alg, digest);
			const pub = x509(cert).publicKey;
			let ok;
			if (alg.startsWith("RS")) ok = crypto.verify(hash, data, pub, Buffer.from(result));
			else if (alg.startsWith("PS"))
				ok = crypto.verify(hash, data, { key: pub, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, Buffer.from(result));
			else ok = crypto.verify(hash, data, { key: pub, dsaEncoding: "ieee-p1363" }, Buffer.from(result));
			assert.ok(ok, `${alg}: kluis's signature verifies with the certificate`);
			const v = await cc.verify(alg, digest, result);
			assert.equal(v.result, true);
		}
	});

	test("the managed key and secret refuse changes through the keys and secrets APIs (403)", async () => {
		const name = uniqueName("managed");
		const cert = await createSelf(client, name, { issuerName: "Self", subject: `CN=${name}` });
		const e1 = await expectRestError(() => secrets.setSecret(name, "overwrite"), 403, "Forbidden");
		assert.equal(e1.message, 'Operation "set" is not allowed as this object\'s lifetime is managed by Key Vault.');
		assert.equal(e1.details?.error?.innerError?.code, "SecretManagedByKeyVault");
		await expectRestError(() => secrets.updateSecretProperties(name, cert.properties.version, { contentType: "x" }), 403);
		await expectRestError(async () => (await secrets.beginDeleteSecret(name)).pollUntilDone(), 403);
		await expectRestError(() => secrets.backupSecret(name), 403);
		const e2 = await expectRestError(() => keys.createKey(name, "RSA"), 403, "Forbidden");
		assert.equal(e2.details?.error?.innerError?.code, "KeyManagedByKeyVault");
		await expectRestError(() => keys.updateKeyProperties(name, cert.properties.version, { tags: { a: "b" } }), 403);
		await expectRestError(async () => (await keys.beginDeleteKey(name)).pollUntilDone(), 403);
		await expectRestError(() => keys.backupKey(name), 403);
		await expectRestError(() => keys.rotateKey(name), 403);
		// nothing changed
		assert.equal((await secrets.getSecret(name)).properties.version, cert.properties.version);
		assert.equal((await keys.getKey(name)).properties.version, cert.properties.version);
		assert.equal((await collect(secrets.listPropertiesOfSecretVersions(name))).length, 1);
		// listed, with managed: true
		const listed = (await collect(secrets.listPropertiesOfSecrets())).find((s) => s.name === name);
		assert.equal(listed?.managed, true);
		const listedKey = (await collect(keys.listPropertiesOfKeys())).find((k) => k.name === name);
		assert.equal(listedKey?.managed, true);
	});

	test("get latest and get a version; the policy only with the latest", async () => {
		const name = uniqueName("versions");
		const v1 = await createSelf(client, name, { issuerName: "Self", subject: "CN=first" });
		const v2 = await createSelf(client, name, { issuerName: "Self", subject: "CN=second" });
		assert.notEqual(v1.properties.version, v2.properties.version);
		const latest = await client.getCertificate(name);
		assert.equal(latest.properties.version, v2.properties.version);
		assert.equal(latest.policy.subject, "CN=second");
		assert.deepEqual(Buffer.from(latest.cer), Buffer.from(v2.cer));
		const old = await client.getCertificateVersion(name, v1.properties.version);
		assert.equal(old.properties.version, v1.properties.version);
		assert.equal(old.properties.id, v1.properties.id);
		assert.deepEqual(Buffer.from(old.cer), Buffer.from(v1.cer));
		assert.equal(old.policy, undefined);
		assert.match(x509(old).subject, /CN=first/);
		// the raw answer: x5t and cer as the spec writes them
		const r = await srv.request("GET", `/certificates/${name}/${v1.properties.version}?${API}`);
		assert.equal(r.status, 200, r.text);
		assert.equal(r.json.policy, undefined);
		assert.equal(r.json.x5t, x5tOf(Buffer.from(v1.cer)));
		assert.equal(r.json.cer, Buffer.from(v1.cer).toString("base64"));
		assert.equal(r.json.kid, v1.keyId);
		assert.equal(r.json.sid, v1.secretId);
		// each version has its own key and secret version
		assert.equal((await keys.getKey(name, { version: v1.properties.version })).id, v1.keyId);
		assert.equal((await secrets.getSecret(name, { version: v1.properties.version })).properties.id, v1.secretId);
		assert.equal((await secrets.getSecret(name)).properties.id, v2.secretId);
	});

	test("get of an unknown name or version is 404 CertificateNotFound", async () => {
		const missing = uniqueName("missing");
		const e = await expectRestError(() => client.getCertificate(missing), 404, "CertificateNotFound");
		assert.match(e.message, new RegExp(`A certificate with \\(name/id\\) ${missing} was not found in this key vault`));
		const name = uniqueName("oneversion");
		await createSelf(client, name, { issuerName: "Self", subject: "CN=x" });
		await expectRestError(
			() => client.getCertificateVersion(name, "0123456789abcdef0123456789abcdef"),
			404,
			"CertificateNotFound",
		);
		await expectRestError(() => client.getCertificatePolicy(missing), 404, "CertificateNotFound");
	});

	test("list: one item per name; pending ones only with includePending", async () => {
		const done = uniqueName("list-done");
		const pending = uniqueName("list-pending");
		const cert = await createSelf(client, done, { issuerName: "Self", subject: "CN=done" }, { tags: { t: "1" } });
		// Unknown issuer: stays pending until a merge
		await client.beginCreateCertificate(pending, { issuerName: "Unknown", subject: "CN=pending" }, POLL);
		const plain = await collect(client.listPropertiesOfCertificates());
		const names = plain.map((p) => p.name);
		assert.ok(names.includes(done), names.join());
		assert.ok(!names.includes(pending), "pending names are left out by default");
		const item = plain.find((p) => p.name === done);
		assert.equal(item.id, `${srv.vaultUrl}/certificates/${done}`, "base id in the list");
		assert.equal(item.x509ThumbprintString, cert.properties.x509ThumbprintString);
		assert.deepEqual(item.tags, { t: "1" });
		assert.equal(item.enabled, true);
		const withPending = await collect(client.listPropertiesOfCertificates({ includePending: true }));
		const pnames = withPending.map((p) => p.name);
		assert.ok(pnames.includes(pending), pnames.join());
		assert.ok(pnames.includes(done));
		assert.equal(new Set(pnames).size, pnames.length, "one item per name");
		const off = await collect(client.listPropertiesOfCertificates({ includePending: false }));
		assert.ok(!off.map((p) => p.name).includes(pending));
	});

	test("list versions: every version with its id; an unknown name gives an empty list", async () => {
		const name = uniqueName("listv");
		const v1 = await createSelf(client, name, { issuerName: "Self", subject: "CN=a" });
		const v2 = await createSelf(client, name, { issuerName: "Self", subject: "CN=b" });
		const versions = await collect(client.listPropertiesOfCertificateVersions(name));
		assert.deepEqual(versions.map((v) => v.version).sort(), [v1.properties.version, v2.properties.version].sort());
		for (const v of versions) {
			assert.equal(v.id, `${srv.vaultUrl}/certificates/${name}/${v.version}`);
			assert.match(v.x509ThumbprintString, /^[0-9a-f]{40}$/);
		}
		assert.deepEqual(await collect(client.listPropertiesOfCertificateVersions(uniqueName("never"))), []);
		// paging with a small page size keeps every version
		const pages = [];
		for await (const page of client.listPropertiesOfCertificateVersions(name).byPage({ maxPageSize: 1 })) pages.push(page);
		assert.equal(pages.flat().length, 2);
	});

	test("update attributes and tags; disable keeps the certificate readable and the secret refused", async () => {
		const name = uniqueName("update");
		const cert = await createSelf(client, name, { issuerName: "Self", subject: "CN=upd" }, { tags: { a: "1" } });
		assert.deepEqual(cert.properties.tags, { a: "1" });
		const version = cert.properties.version;
		const u = await client.updateCertificateProperties(name, version, { tags: { b: "2", c: "3" } });
		assert.deepEqual(u.properties.tags, { b: "2", c: "3" }, "tags replace the set");
		assert.equal(u.properties.enabled, true);
		assert.equal((await client.getCertificate(name)).properties.tags.b, "2");
		// latest, with an empty version
		const u2 = await client.updateCertificateProperties(name, "", { tags: { d: "4" } });
		assert.equal(u2.properties.version, version);
		assert.deepEqual(u2.properties.tags, { d: "4" });

		const d = await client.updateCertificateProperties(name, version, { enabled: false });
		assert.equal(d.properties.enabled, false);
		assert.deepEqual(d.properties.tags, { d: "4" }, "an update without tags keeps them");
		const got = await client.getCertificate(name);
		assert.equal(got.properties.enabled, false);
		assert.deepEqual(Buffer.from(got.cer), Buffer.from(cert.cer));
		const e = await expectRestError(() => secrets.getSecret(name), 403, "Forbidden");
		assert.equal(e.details?.error?.innerError?.code, "SecretDisabled");
		const key = await keys.getKey(name);
		assert.equal(key.properties.enabled, false, "the key is disabled with it");
		await client.updateCertificateProperties(name, version, { enabled: true });
		assert.ok((await secrets.getSecret(name)).value.length > 100);
		await expectRestError(
			() => client.updateCertificateProperties(uniqueName("nope"), "", { enabled: false }),
			404,
			"CertificateNotFound",
		);
	});

	test("get and update policy: members given replace, the next version follows it", async () => {
		const name = uniqueName("policy");
		const cert = await createSelf(client, name, {
			issuerName: "Self",
			subject: "CN=policy.example",
			subjectAlternativeNames: { dnsNames: ["a.example"] },
		});
		const p = await client.getCertificatePolicy(name);
		assert.equal(p.subject, "CN=policy.example");
		assert.equal(p.keyType, "RSA");
		assert.equal(p.keySize, 2048);
		assert.deepEqual(p.subjectAlternativeNames, { dnsNames: ["a.example"] });
		const r = await srv.request("GET", `/certificates/${name}/policy?${API}`);
		assert.equal(r.json.id, `${srv.vaultUrl}/certificates/${name}/policy`);

		// JS 4.10.3's updateCertificatePolicy returns a policy built from nothing (it never keeps
		// the response): what the PATCH stored is read back with getCertificatePolicy.
		await client.updateCertificatePolicy(name, {
			issuerName: "Self",
			subject: "CN=renewed.example",
			keyType: "EC",
			keyCurveName: "P-256",
			keySize: 256, // key_props merge member-wise: the stored 2048 must not stay
			validityInMonths: 6,
			contentType: "application/x-pem-file",
			lifetimeActions: [{ action: "EmailContacts", daysBeforeExpiry: 30 }],
		});
		const np = await client.getCertificatePolicy(name);
		assert.equal(np.subject, "CN=renewed.example");
		assert.equal(np.keyType, "EC");
		assert.equal(np.keyCurveName, "P-256");
		assert.equal(np.validityInMonths, 6);
		assert.equal(np.contentType, "application/x-pem-file");
		assert.deepEqual(np.lifetimeActions, [{ action: "EmailContacts", daysBeforeExpiry: 30, lifetimePercentage: undefined }]);
		// existing versions keep their certificate
		const same = await client.getCertificateVersion(name, cert.properties.version);
		assert.match(x509(same).subject, /CN=policy\.example/);
		// a new version without a policy in the request uses the stored one
		const r2 = await srv.request("POST", `/certificates/${name}/create?${API}`, { body: {} });
		assert.equal(r2.status, 202, r2.text);
		const poller = await client.getCertificateOperation(name, POLL);
		const next = await poller.pollUntilDone();
		assert.notEqual(next.properties.version, cert.properties.version);
		assert.match(x509(next).subject, /CN=renewed\.example/);
		assert.equal(x509(next).publicKey.asymmetricKeyType, "ec");
		assert.ok((await secrets.getSecret(name)).value.startsWith("-----BEGIN PRIVATE KEY-----"));
		await expectRestError(
			() => client.updateCertificatePolicy(uniqueName("nope"), { issuerName: "Self", subject: "CN=x" }),
			404,
			"CertificateNotFound",
		);
		// JS sends "sans":{} when the caller names none: that is "nothing given" (C1), the SANs stay
		assert.deepEqual(np.subjectAlternativeNames, { dnsNames: ["a.example"] });
	});

	test("older api-versions and path forms serve the same certificate", async () => {
		const name = uniqueName("apiv");
		const old = new CertificateClient(srv.vaultUrl, srv.credential, { serviceVersion: "7.2" });
		const cert = await (await old.beginCreateCertificate(name, { issuerName: "Self", subject: "CN=apiv" }, POLL)).pollUntilDone();
		assert.ok(cert.cer.length > 100);
		assert.equal((await client.getCertificate(name)).properties.version, cert.properties.version);
		for (const v of ["2016-10-01", "7.0", "7.3", "7.4", "7.5", "7.6", "2025-07-01"]) {
			for (const path of [`/certificates/${name}`, `/certificates/${name}/`, `/certificates/${name.toUpperCase()}/`]) {
				const r = await srv.request("GET", `${path}?api-version=${v}`);
				assert.equal(r.status, 200, `${v} ${path}: ${r.text}`);
				assert.equal(r.json.id, cert.properties.id);
			}
		}
		// tags: at most 15 (as secrets)
		const tags = Object.fromEntries([...Array(16).keys()].map((i) => [`t${i}`, "v"]));
		await expectRestError(() => client.updateCertificateProperties(name, "", { tags }), 400, "BadParameter");
		await expectRestError(
			() => client.beginCreateCertificate(uniqueName("tags"), { issuerName: "Self", subject: "CN=t" }, { ...POLL, tags }),
			400,
			"BadParameter",
		);
	});

	test("policies the spec refuses are 400 BadParameter and store nothing", async () => {
		const bad = [
			{ issuerName: "Self", subject: "CN=x", keyType: "RSA", keySize: 1024 },
			{ issuerName: "Self", subject: "CN=x", keyType: "EC", keyCurveName: "P-256", keySize: 384 },
			{ issuerName: "Self", subject: "CN=x", keyType: "RSA-HSM", exportable: true },
			{ issuerName: "Self", subject: "CN=x", contentType: "text/plain" },
			{ issuerName: "Self", subject: "CN=x", keyUsage: ["notAUsage"] },
			{ issuerName: "Self", subject: "CN=x", enhancedKeyUsage: ["server auth"] },
			{ issuerName: "Self", subject: "CN=x", validityInMonths: 0 },
			{ issuerName: "Self", subject: "CN=x", lifetimeActions: [{ action: "AutoRenew", lifetimePercentage: 100 }] },
			{ issuerName: "Self", subject: "CN=x", lifetimeActions: [{ action: "AutoRenew", lifetimePercentage: 50, daysBeforeExpiry: 10 }] },
			{ issuerName: "Self", subject: "no equals sign" },
			{ issuerName: `no-such-issuer-${process.pid}`, subject: "CN=x" },
		];
		for (const policy of bad) {
			const name = uniqueName("bad");
			const e = await expectRestError(() => client.beginCreateCertificate(name, policy, POLL), 400, "BadParameter");
			assert.ok(e.message.length > 0, JSON.stringify(policy));
			await expectRestError(() => client.getCertificate(name), 404, "CertificateNotFound");
		}
		// neither subject nor SAN (the JS SDK sends it; Python refuses it client-side)
		const r = await srv.request("POST", `/certificates/${uniqueName("nosubj")}/create?${API}`, {
			body: { policy: { issuer: { name: "Self" }, x509_props: { sans: {} } } },
		});
		assert.equal(r.status, 400, r.text);
		assert.equal(r.json.error.code, "BadParameter");
		// reserved path words are not names
		const r2 = await srv.request("POST", `/certificates/contacts/create?${API}`, {
			body: { policy: { issuer: { name: "Self" }, x509_props: { subject: "CN=x" } } },
		});
		assert.ok(r2.status === 400 || r2.status === 405, `${r2.status} ${r2.text}`);
	});
});

/** The SDK's JsonWebKey (Uint8Array members) -> node JWK (public). */
function toJwk(k) {
	const b = (u) => Buffer.from(u).toString("base64url");
	if (k.kty.startsWith("RSA")) return { kty: "RSA", n: b(k.n), e: b(k.e) };
	const crv = { "P-256": "P-256", "P-384": "P-384", "P-521": "P-521", "P-256K": "secp256k1" }[k.crv];
	return { kty: "EC", crv, x: b(k.x), y: b(k.y) };
}
