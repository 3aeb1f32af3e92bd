/* `kluis key ...`: keys of one vault and the operations with them, over the data plane. The
 * CLI hashes --data-file itself (SHA-2, per the algorithm) and sends only the digest, as
 * Azure's clients do. Plaintexts (encrypt's input, decrypt's output) stay in wiping buffers and
 * reach only stdout or the --out file (mode 0600). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cmd.h"
#include "cli/output.h"
#include "crypto/digest.h"
#include "util/b64url.h"

#define KEY_INPUT_MAX (1u << 20)	/* an encrypt or decrypt input; RSA takes far less */
#define DATA_FILE_CHUNK 16384

#define KEY_URL(base, ...) client_url((base), "api-version=" CLI_DATA_API_VERSION, __VA_ARGS__)

static void ops_text(const json_t *v, char *buf, size_t size)
{
	const json_t *ops = output_path(v, "key.key_ops"), *op;
	size_t i, used = 0;

	snprintf(buf, size, "-");
	json_array_foreach(ops, i, op) {
		if (json_is_string(op) && used < size)
			used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? "," : "",
						 json_string_value(op));
	}
}

static int print_key(const json_t *v)
{
	char name[258] = "=", version[130] = "=", ops[258] = "=";
	const char *fields[] = {
		"name", name, "version", version, "kty", "key.kty", "crv", "key.crv",
		"key-ops", ops, "enabled", "attributes.enabled", "created", "@attributes.created",
		"updated", "@attributes.updated", "kid", "key.kid", NULL,
	};

	output_id_part(v, "key.kid", "keys", 0, name + 1, sizeof(name) - 1);
	output_id_part(v, "key.kid", "keys", 1, version + 1, sizeof(version) - 1);
	ops_text(v, ops + 1, sizeof(ops) - 1);
	return cmd_print_fields(v, fields);
}

/* "sign,verify" into a JSON array. */
static json_t *ops_json(const char *list)
{
	json_t *arr = json_array();
	const char *p = list, *comma;
	size_t n;

	while (arr != NULL && *p != '\0') {
		comma = strchr(p, ',');
		n = comma ? (size_t)(comma - p) : strlen(p);
		if (json_array_append_new(arr, json_stringn(p, n)) != 0)
			break;
		p = comma ? comma + 1 : p + strlen(p);
	}
	return arr;
}

static int key_create(struct cli *c, const struct args *a)
{
	const char *kty = args_get(a, "kty"), *size = args_get(a, "size");
	const char *crv = args_get(a, "curve"), *ops = args_get(a, "ops"), *base;
	json_t *body = NULL;
	char *end;
	long bits = 0;
	int rc = CLI_EUSAGE;

	if (kty == NULL)
		return cmd_usage_error("key create needs --kty RSA|EC|oct");
	if (size != NULL && ((bits = strtol(size, &end, 10)) <= 0 || *end != '\0' || bits > 65536))
		return cmd_usage_error("--size wants a number of bits");
	if ((body = json_pack("{s:s}", "kty", kty)) == NULL)
		return client_nomem();
	if ((size != NULL && json_object_set_new(body, "key_size", json_integer(bits)) != 0) ||
	    (crv != NULL && json_object_set_new(body, "crv", json_string(crv)) != 0) ||
	    (ops != NULL && json_object_set_new(body, "key_ops", ops_json(ops)) != 0)) {
		cmd_usage_error("bad --kty, --curve or --ops");
		goto out;
	}
	if ((rc = client_vault_base(c, &base)) == CLI_OK)
		rc = cmd_vault_call(c, "POST", KEY_URL(base, "keys", a->pos[0], "create", NULL),
				    body, print_key);
out:
	json_decref(body);
	return rc;
}

static int key_show(struct cli *c, const struct args *a)
{
	const char *base, *version = args_get(a, "version");
	int rc = client_vault_base(c, &base);

	if (rc != CLI_OK)
		return rc;
	return cmd_vault_call(c, "GET",
			      KEY_URL(base, "keys", a->pos[0], version ? version : "", NULL), NULL,
			      print_key);
}

static const struct cmd_column list_columns[] = {
	{ "NAME", "kid", "keys" },
	{ "ENABLED", "attributes.enabled", NULL },
	{ "UPDATED", "@attributes.updated", NULL },
};

static int print_list(const json_t *items)
{
	return cmd_print_columns(items, list_columns,
				 sizeof(list_columns) / sizeof(list_columns[0]));
}

static int key_list(struct cli *c, const struct args *a)
{
	(void)a;
	return cmd_list_collection(c, "keys", print_list);
}

/* The SHA-2 size an algorithm signs with: RS256, PS256, ES256, ES256K -> 256, and so on. */
static int alg_bits(const char *alg)
{
	size_t n = strlen(alg);

	if (n > 0 && alg[n - 1] == 'K')	/* ES256K */
		n--;
	if (n < 5)
		return 0;
	if (strncmp(alg + n - 3, "256", 3) == 0)
		return 256;
	if (strncmp(alg + n - 3, "384", 3) == 0)
		return 384;
	if (strncmp(alg + n - 3, "512", 3) == 0)
		return 512;
	return 0;
}

static int hash_file(const char *path, const char *alg_name, struct buf *digest)
{
	unsigned char md[CRYPTO_DIGEST_MAX], chunk[DATA_FILE_CHUNK];
	struct crypto_digest *d = NULL;
	struct kl_err err = { 0 };
	FILE *f = NULL;
	size_t n;
	int bits = alg_bits(alg_name), rc = CLI_EUSAGE;

	if ((d = crypto_digest_new(bits, &err)) == NULL)
		return cmd_usage_error("no digest is known for --alg %.32s (RS256, ES384...)",
				       alg_name);
	if ((f = fopen(path, "rbe")) == NULL) {
		cmd_usage_error("cannot read %.200s", path);
		goto out;
	}
	setvbuf(f, NULL, _IONBF, 0);	/* no stdio copy of the document to wipe */
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (crypto_digest_update(d, chunk, n, &err) != 0)
			break;
	if (ferror(f) || err.code != KL_OK) {
		cmd_usage_error("cannot read %.200s", path);
		goto out;
	}
	if (crypto_digest_final(d, md, &err) != 0) {
		rc = client_nomem();
		goto out;
	}
	rc = b64url_encode(md, (size_t)bits / 8, digest, &err) == 0 ? CLI_OK : client_nomem();
out:
	secure_wipe(md, sizeof(md));
	secure_wipe(chunk, sizeof(chunk));
	crypto_digest_free(d);
	if (f != NULL)
		fclose(f);
	return rc;
}

/* The digest to sign or verify, base64url: --digest as given (checked), or --data-file hashed. */
static int get_digest(const struct args *a, const char *alg, struct buf *digest)
{
	const char *d = args_get(a, "digest"), *file = args_get(a, "data-file");
	struct kl_err err;
	struct buf raw;
	int rc;

	if ((d != NULL) == (file != NULL))
		return cmd_usage_error("give exactly one of --digest B64URL and --data-file PATH");
	if (file != NULL)
		return hash_file(file, alg, digest);
	buf_init(&raw, KEY_INPUT_MAX);
	if ((rc = cmd_b64url_arg("digest", d, &raw)) == CLI_OK &&
	    b64url_encode(raw.data, raw.len, digest, &err) != 0)
		rc = client_nomem();
	buf_clear(&raw);
	return rc;
}

/* POSTs body to /keys/NAME/VERSION/op and returns the answer in *out. */
static int key_op(struct cli *c, const struct args *a, const char *op, const json_t *body,
		  json_t **out)
{
	const char *base, *version = args_get(a, "version");
	char *url;
	int rc;

	if ((rc = client_vault_base(c, &base)) != CLI_OK)
		return rc;
	if ((url = KEY_URL(base, "keys", a->pos[0], version ? version : "", op, NULL)) == NULL)
		return client_nomem();
	rc = client_call(c, "POST", url, body, true, out);
	free(url);
	return rc;
}

/* Prints member "value" of out (table) or all of out (json). */
static int print_value(const struct cli *c, const json_t *out)
{
	const json_t *v = json_object_get(out, "value");

	if (c->cfg.output == OUTPUT_JSON) {
		output_json(out);
		return CLI_OK;
	}
	if (!json_is_string(v)) {
		fprintf(stderr, "kluis: the answer holds no value\n");
		return CLI_EFAIL;
	}
	output_clean(stdout, json_string_value(v));
	fputc('\n', stdout);
	return CLI_OK;
}

static int key_sign(struct cli *c, const struct args *a)
{
	const char *alg = args_get(a, "alg");
	json_t *body = NULL, *out = NULL;
	struct buf digest;
	int rc;

	if (alg == NULL)
		return cmd_usage_error("key sign needs --alg ALG");
	buf_init(&digest, KEY_INPUT_MAX * 2);
	if ((rc = get_digest(a, alg, &digest)) != CLI_OK)
		goto out;
	if ((body = json_pack("{s:s, s:s}", "alg", alg, "value", buf_cstr(&digest))) == NULL) {
		rc = client_nomem();
		goto out;
	}
	if ((rc = key_op(c, a, "sign", body, &out)) == CLI_OK)
		rc = print_value(c, out);
out:
	json_decref(out);
	json_decref(body);
	buf_clear(&digest);
	return rc;
}

static int key_verify(struct cli *c, const struct args *a)
{
	const char *alg = args_get(a, "alg"), *sig = args_get(a, "signature");
	json_t *body = NULL, *out = NULL, *v;
	struct buf digest, raw;
	int rc;

	if (alg == NULL || sig == NULL)
		return cmd_usage_error("key verify needs --alg ALG and --signature B64URL");
	buf_init(&digest, KEY_INPUT_MAX * 2);
	buf_init(&raw, KEY_INPUT_MAX);
	if ((rc = get_digest(a, alg, &digest)) != CLI_OK ||
	    (rc = cmd_b64url_arg("signature", sig, &raw)) != CLI_OK)
		goto out;
	if ((body = json_pack("{s:s, s:s, s:s}", "alg", alg, "digest", buf_cstr(&digest), "value",
			      sig)) == NULL) {
		rc = client_nomem();
		goto out;
	}
	if ((rc = key_op(c, a, "verify", body, &out)) != CLI_OK)
		goto out;
	if (!json_is_boolean(v = json_object_get(out, "value"))) {
		fprintf(stderr, "kluis: the answer holds no verdict\n");
		rc = CLI_EFAIL;
		goto out;
	}
	if (c->cfg.output == OUTPUT_JSON)
		output_json(out);
	else
		printf("%s\n", json_is_true(v) ? "valid" : "invalid");
	rc = json_is_true(v) ? CLI_OK : CLI_EINVALID;
out:
	json_decref(out);
	json_decref(body);
	buf_clear(&digest);
	buf_clear(&raw);
	return rc;
}

/* The input of encrypt/decrypt as base64url: --value as given (checked), or --in's bytes. */
static int crypt_input(const struct args *a, struct buf *b64)
{
	const char *v = args_get(a, "value"), *in = args_get(a, "in");
	struct kl_err err;
	struct buf raw;
	int rc;

	if ((v != NULL) == (in != NULL))
		return cmd_usage_error("give exactly one of --value B64URL and --in PATH");
	buf_init_secret(&raw, KEY_INPUT_MAX);
	rc = v != NULL ? cmd_b64url_arg("value", v, &raw) : cmd_read_file(in, KEY_INPUT_MAX, &raw);
	if (rc == CLI_OK && b64url_encode(raw.data, raw.len, b64, &err) != 0)
		rc = client_nomem();
	buf_clear(&raw);
	return rc;
}

/* --iv, --aad, --tag (AES-GCM and CBC) go into body as given, after a check. */
static int add_extras(const struct args *a, json_t *body, const char *const *names)
{
	struct buf raw;
	const char *v;
	int rc = CLI_OK;

	for (; rc == CLI_OK && *names != NULL; names++) {
		if ((v = args_get(a, *names)) == NULL)
			continue;
		buf_init(&raw, KEY_INPUT_MAX);
		if ((rc = cmd_b64url_arg(*names, v, &raw)) == CLI_OK &&
		    json_object_set_new(body, *names, json_string(v)) != 0)
			rc = client_nomem();
		buf_clear(&raw);
	}
	return rc;
}

/* The result: base64url on stdout (with iv/tag/aad lines when the algorithm gives them), or
 * with --out the raw bytes in a 0600 file. */
static int crypt_output(const struct cli *c, const struct args *a, const json_t *out)
{
	const char *file = args_get(a, "out");
	const json_t *v = json_object_get(out, "value");
	static const char *const names[] = { "value", "iv", "tag", "aad" };
	const char *fields[2 * 4 + 1];
	struct buf raw;
	size_t i, n = 0;
	int rc;

	if (!json_is_string(v)) {
		fprintf(stderr, "kluis: the answer holds no value\n");
		return CLI_EFAIL;
	}
	if (file != NULL) {
		buf_init_secret(&raw, KEY_INPUT_MAX * 2);
		if ((rc = cmd_b64url_arg("value", json_string_value(v), &raw)) == CLI_OK)
			rc = cmd_write_file(file, buf_cstr(&raw), raw.len);
		buf_clear(&raw);
		return rc != CLI_OK ? CLI_EFAIL : CLI_OK;
	}
	if (c->cfg.output == OUTPUT_TABLE && (json_object_get(out, "iv") != NULL ||
					      json_object_get(out, "tag") != NULL)) {
		for (i = 0; i < 4; i++)	/* AES: the iv and tag are needed to decrypt */
			if (json_is_string(json_object_get(out, names[i]))) {
				fields[n++] = names[i];
				fields[n++] = names[i];
			}
		fields[n] = NULL;
		return cmd_print_fields(out, fields);
	}
	return print_value(c, out);
}

static int key_crypt(struct cli *c, const struct args *a, const char *op,
		     const char *const *extras)
{
	const char *alg = args_get(a, "alg");
	json_t *body = NULL, *out = NULL;
	struct buf input;
	int rc;

	if (alg == NULL)
		return cmd_usage_error("key %s needs --alg ALG", op);
	buf_init_secret(&input, KEY_INPUT_MAX * 2);
	if ((rc = crypt_input(a, &input)) != CLI_OK)
		goto out;
	if ((body = json_pack("{s:s, s:s}", "alg", alg, "value", buf_cstr(&input))) == NULL) {
		rc = client_nomem();
		goto out;
	}
	if ((rc = add_extras(a, body, extras)) != CLI_OK)
		goto out;
	if ((rc = key_op(c, a, op, body, &out)) == CLI_OK)
		rc = crypt_output(c, a, out);
out:
	json_decref(out);
	json_decref(body);
	buf_clear(&input);
	return rc;
}

static int key_encrypt(struct cli *c, const struct args *a)
{
	static const char *const extras[] = { "iv", "aad", NULL };

	return key_crypt(c, a, "encrypt", extras);
}

static int key_decrypt(struct cli *c, const struct args *a)
{
	static const char *const extras[] = { "iv", "aad", "tag", NULL };

	return key_crypt(c, a, "decrypt", extras);
}

#define OPT_VERSION { "version", 0, OPT_VALUE, "VERSION", "that key version (default: the latest)" }
#define OPT_ALG(what) { "alg", 0, OPT_VALUE, "ALG", what }
#define OPT_END { NULL, 0, 0, NULL, NULL }

static const struct opt create_opts[] = {
	{ "kty", 0, OPT_VALUE, "KTY", "RSA, EC or oct (also RSA-HSM, EC-HSM, oct-HSM)" },
	{ "size", 0, OPT_VALUE, "BITS", "RSA: 2048, 3072, 4096; oct: 128, 192, 256" },
	{ "curve", 0, OPT_VALUE, "CRV", "EC: P-256, P-384, P-521, P-256K" },
	{ "ops", 0, OPT_VALUE, "OP,OP", "allowed: sign,verify,encrypt,decrypt,wrapKey,unwrapKey" },
	OPT_END,
};
static const struct opt show_opts[] = { OPT_VERSION, OPT_END };
static const struct opt sign_opts[] = {
	OPT_ALG("RS256, PS384, ES256K, ES512... (picks SHA-256/384/512 for --data-file)"),
	{ "digest", 0, OPT_VALUE, "B64URL", "the digest to sign, base64url" },
	{ "data-file", 0, OPT_VALUE, "PATH", "hash PATH here and sign its digest" },
	OPT_VERSION, OPT_END,
};
static const struct opt verify_opts[] = {
	OPT_ALG("the algorithm of the signature"),
	{ "digest", 0, OPT_VALUE, "B64URL", "the digest that was signed, base64url" },
	{ "data-file", 0, OPT_VALUE, "PATH", "hash PATH here and verify against its digest" },
	{ "signature", 0, OPT_VALUE, "B64URL", "the signature, base64url" },
	OPT_VERSION, OPT_END,
};
static const struct opt encrypt_opts[] = {
	OPT_ALG("RSA-OAEP, RSA-OAEP-256, RSA1_5, A256GCM, A256CBCPAD..."),
	{ "value", 0, OPT_SECRET, "B64URL", "the plaintext, base64url" },
	{ "in", 0, OPT_VALUE, "PATH", "read the plaintext bytes from PATH" },
	{ "out", 0, OPT_VALUE, "PATH", "write the ciphertext bytes to PATH (mode 0600)" },
	{ "iv", 0, OPT_VALUE, "B64URL", "AES: the initialization vector" },
	{ "aad", 0, OPT_VALUE, "B64URL", "AES-GCM: additional authenticated data" },
	OPT_VERSION, OPT_END,
};
static const struct opt decrypt_opts[] = {
	OPT_ALG("the algorithm of the ciphertext"),
	{ "value", 0, OPT_VALUE, "B64URL", "the ciphertext, base64url" },
	{ "in", 0, OPT_VALUE, "PATH", "read the ciphertext bytes from PATH" },
	{ "out", 0, OPT_VALUE, "PATH", "write the plaintext bytes to PATH (mode 0600)" },
	{ "iv", 0, OPT_VALUE, "B64URL", "AES: the initialization vector" },
	{ "aad", 0, OPT_VALUE, "B64URL", "AES-GCM: additional authenticated data" },
	{ "tag", 0, OPT_VALUE, "B64URL", "AES-GCM: the authentication tag" },
	OPT_VERSION, OPT_END,
};

static const struct cmd key_cmds[] = {
	{ "create", "key create NAME --kty RSA|EC|oct [--size N] [--curve CRV] [--ops OP,OP...]",
	  "create a key (or a new version of it)", create_opts, 1, 1, key_create },
	{ "list", "key list", "list the keys of the vault", NULL, 0, 0, key_list },
	{ "show", "key show NAME [--version V]", "show a key's public part and attributes",
	  show_opts, 1, 1, key_show },
	{ "sign", "key sign NAME --alg ALG (--digest B64URL | --data-file PATH)",
	  "sign a digest; prints the signature, base64url", sign_opts, 1, 1, key_sign },
	{ "verify", "key verify NAME --alg ALG (--digest B64URL | --data-file PATH) "
		    "--signature B64URL",
	  "verify a signature; prints valid (exit 0) or invalid (exit 4)", verify_opts, 1, 1,
	  key_verify },
	{ "encrypt", "key encrypt NAME --alg ALG (--value B64URL | --in PATH) [--out PATH]",
	  "encrypt; prints the ciphertext, base64url", encrypt_opts, 1, 1, key_encrypt },
	{ "decrypt", "key decrypt NAME --alg ALG (--value B64URL | --in PATH) [--out PATH]",
	  "decrypt; prints the plaintext, base64url, or writes it to --out", decrypt_opts, 1, 1,
	  key_decrypt },
	{ NULL, NULL, NULL, NULL, 0, 0, NULL },
};

const struct cmd_group cmd_key_group = {
	"key", "keys of a vault (--vault NAME) and operations with them", key_cmds, false,
};
