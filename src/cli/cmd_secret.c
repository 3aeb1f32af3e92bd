/* `kluis secret ...`: the secrets of one vault, over the data plane (api-version 7.6). A value
 * comes from --value, --file or stdin and travels only in wiping buffers and the JSON body; it
 * is printed only by `secret get`, to stdout, and never in an error. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cmd.h"
#include "cli/output.h"

#define SECRET_INPUT_MAX (1u << 20)	/* the server's own limit is lower; it says so */

/* The URL of /secrets/... (or /deletedsecrets/...) in the vault; segments NULL-terminated. */
#define VAULT_URL(base, ...) client_url((base), "api-version=" CLI_DATA_API_VERSION, __VA_ARGS__)

static int print_secret(const json_t *v)
{
	char name[258] = "=", version[130] = "=";
	const char *fields[] = {
		"name", name, "version", version, "content-type", "contentType",
		"enabled", "attributes.enabled", "created", "@attributes.created",
		"updated", "@attributes.updated", "recovery-level", "attributes.recoveryLevel",
		"id", "id", NULL,
	};

	output_id_part(v, "id", "secrets", 0, name + 1, sizeof(name) - 1);
	output_id_part(v, "id", "secrets", 1, version + 1, sizeof(version) - 1);
	return cmd_print_fields(v, fields);
}

/* The value to set: --value, --file, or stdin (one final newline dropped, as `echo` adds). */
static int read_value(const struct args *a, struct buf *value)
{
	struct kl_err err;
	const char *v = args_get(a, "value"), *file = args_get(a, "file");
	int rc;

	if (v != NULL && file != NULL)
		return cmd_usage_error("give --value or --file, not both");
	if (v != NULL)
		return buf_append_str(value, v, &err) == 0 ? CLI_OK : client_nomem();
	if (file != NULL)
		return cmd_read_file(file, SECRET_INPUT_MAX, value);
	if (isatty(STDIN_FILENO))
		fprintf(stderr, "kluis: reading the secret value from stdin (end with Ctrl-D)\n");
	if ((rc = cmd_read_file("-", SECRET_INPUT_MAX, value)) != CLI_OK)
		return rc;
	if (value->len > 0 && value->data[value->len - 1] == '\n') {
		buf_truncate(value, value->len - 1);
		if (value->len > 0 && value->data[value->len - 1] == '\r')
			buf_truncate(value, value->len - 1);	/* "\r\n" from a Windows pipe */
	}
	return CLI_OK;
}

static int tags_json(const struct args *a, json_t *tags)
{
	const char *t, *eq;
	char key[512];
	size_t it = 0;

	while ((t = args_next(a, "tag", &it)) != NULL) {
		if ((eq = strchr(t, '=')) == NULL || eq == t || (size_t)(eq - t) >= sizeof(key))
			return cmd_usage_error("--tag wants KEY=VALUE");
		snprintf(key, sizeof(key), "%.*s", (int)(eq - t), t);
		if (json_object_set_new(tags, key, json_string(eq + 1)) != 0)
			return cmd_usage_error("--tag %.64s: not UTF-8 text", key);
	}
	return CLI_OK;
}

static int secret_set(struct cli *c, const struct args *a)
{
	json_t *body = NULL, *jv, *tags = NULL;
	const char *base, *ct = args_get(a, "content-type");
	struct buf value;
	int rc;

	buf_init_secret(&value, SECRET_INPUT_MAX);
	if ((rc = read_value(a, &value)) != CLI_OK)
		goto out;
	rc = CLI_EUSAGE;
	if ((jv = json_stringn((const char *)buf_cstr(&value), value.len)) == NULL) {
		cmd_usage_error("the secret value is not UTF-8 text without NUL bytes");
		goto out;
	}
	if ((body = json_pack("{s:o}", "value", jv)) == NULL || (tags = json_object()) == NULL) {
		rc = client_nomem();
		goto out;
	}
	if (ct != NULL && json_object_set_new(body, "contentType", json_string(ct)) != 0) {
		cmd_usage_error("--content-type must be UTF-8 text");
		goto out;
	}
	if ((rc = tags_json(a, tags)) != CLI_OK)
		goto out;
	if (json_object_size(tags) > 0 && json_object_set(body, "tags", tags) != 0) {
		rc = client_nomem();
		goto out;
	}
	if ((rc = client_vault_base(c, &base)) == CLI_OK)
		rc = cmd_vault_call(c, "PUT", VAULT_URL(base, "secrets", a->pos[0], NULL), body,
				print_secret);
out:
	json_decref(tags);
	json_decref(body);
	buf_clear(&value);
	return rc;
}

static int secret_get(struct cli *c, const struct args *a)
{
	const char *base, *version = args_get(a, "version");
	json_t *out = NULL;
	json_t *v;
	char *url = NULL;
	int rc;

	if ((rc = client_vault_base(c, &base)) != CLI_OK)
		return rc;
	if ((url = VAULT_URL(base, "secrets", a->pos[0], version ? version : "", NULL)) == NULL)
		return client_nomem();
	if ((rc = client_call(c, "GET", url, NULL, true, &out)) != CLI_OK)
		goto out;
	if (c->cfg.output == OUTPUT_JSON) {
		output_json(out);
	} else if (json_is_string(v = json_object_get(out, "value"))) {
		/* The value byte for byte, then a newline: `$(kluis secret get x)` drops it. */
		fwrite(json_string_value(v), 1, json_string_length(v), stdout);
		fputc('\n', stdout);
	} else {
		fprintf(stderr, "kluis: the answer holds no value\n");
		rc = CLI_EFAIL;
	}
out:
	json_decref(out);
	free(url);
	return rc;
}

static const struct cmd_column list_columns[] = {
	{ "NAME", "id", "secrets" },
	{ "ENABLED", "attributes.enabled", NULL },
	{ "CONTENT-TYPE", "contentType", NULL },
	{ "UPDATED", "@attributes.updated", NULL },
};

static int print_list(const json_t *items)
{
	return cmd_print_columns(items, list_columns,
				 sizeof(list_columns) / sizeof(list_columns[0]));
}

static int secret_list(struct cli *c, const struct args *a)
{
	(void)a;
	return cmd_list_collection(c, "secrets", print_list);
}

static int secret_delete(struct cli *c, const struct args *a)
{
	return cmd_object_delete(c, "secrets", a->pos[0]);
}

static int secret_recover(struct cli *c, const struct args *a)
{
	return cmd_object_recover(c, "secrets", a->pos[0], print_secret);
}

static int secret_purge(struct cli *c, const struct args *a)
{
	return cmd_object_purge(c, "secrets", a->pos[0]);
}

static int secret_backup(struct cli *c, const struct args *a)
{
	const char *file = args_get(a, "file");

	if (file == NULL)
		return cmd_usage_error("secret backup needs --file PATH");
	return cmd_object_backup(c, "secrets", a->pos[0], file);
}

static int secret_restore(struct cli *c, const struct args *a)
{
	const char *file = args_get(a, "file");

	if (file == NULL)
		return cmd_usage_error("secret restore needs --file PATH");
	return cmd_object_restore(c, "secrets", file, print_secret);
}

static const struct opt set_opts[] = {
	{ "value", 0, OPT_SECRET, "VALUE", "the value (argv is visible: prefer --file, stdin)" },
	{ "file", 0, OPT_VALUE, "PATH", "read the value from PATH, byte for byte" },
	{ "content-type", 0, OPT_VALUE, "TYPE", "the secret's content type" },
	{ "tag", 0, OPT_VALUE, "KEY=VALUE", "a tag (repeatable)" },
	{ NULL, 0, 0, NULL, NULL },
};
static const struct opt get_opts[] = {
	{ "version", 0, OPT_VALUE, "VERSION", "that version (default: the latest)" },
	{ NULL, 0, 0, NULL, NULL },
};
static const struct opt file_opts[] = {
	{ "file", 0, OPT_VALUE, "PATH", "the backup file (written with mode 0600)" },
	{ NULL, 0, 0, NULL, NULL },
};

static const struct cmd secret_cmds[] = {
	{ "set", "secret set NAME [--value V | --file PATH] [--content-type T] [--tag K=V ...]",
	  "set a new version (value from --value, --file, or stdin)", set_opts, 1, 1, secret_set },
	{ "get", "secret get NAME [--version V]", "print the value (json: the whole bundle)",
	  get_opts, 1, 1, secret_get },
	{ "list", "secret list", "list the secrets of the vault", NULL, 0, 0, secret_list },
	{ "delete", "secret delete NAME", "delete (recoverable while soft-deleted)", NULL, 1, 1,
	  secret_delete },
	{ "recover", "secret recover NAME", "recover a deleted secret", NULL, 1, 1,
	  secret_recover },
	{ "purge", "secret purge NAME", "purge a deleted secret for good", NULL, 1, 1,
	  secret_purge },
	{ "backup", "secret backup NAME --file PATH", "write a backup blob to PATH", file_opts,
	  1, 1, secret_backup },
	{ "restore", "secret restore --file PATH", "restore a secret from a backup blob", file_opts,
	  0, 0, secret_restore },
	{ NULL, NULL, NULL, NULL, 0, 0, NULL },
};

const struct cmd_group cmd_secret_group = {
	"secret", "secrets of a vault (--vault NAME)", secret_cmds, false,
};
