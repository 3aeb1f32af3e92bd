/* cmd_util.c owns what several command groups share: usage errors, printing a result as
 * JSON or as a listing, files in and out, base64url arguments and times, and the verbs secrets,
 * keys and certificates share (delete, recover, purge, backup, restore). It must never print
 * the contents of a file or an argument, nor an answer's "value": they may be secrets. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cmd.h"
#include "cli/output.h"
#include "util/b64url.h"
#include "util/secbuf.h"

int cmd_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "kluis: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CLI_EUSAGE;
}

int cmd_print(const struct cli *c, const json_t *v, int (*table)(const json_t *v))
{
	if (c->cfg.output == OUTPUT_JSON) {
		output_json(v);
		return CLI_OK;
	}
	return table(v);
}

int cmd_call_print(struct cli *c, const char *method, char *url, const json_t *body,
		   int (*table)(const json_t *v))
{
	json_t *out = NULL;
	int rc;

	if (url == NULL)
		return client_nomem();
	if ((rc = client_call(c, method, url, body, true, &out)) == CLI_OK)
		rc = cmd_print(c, out, table);
	json_decref(out);
	free(url);
	return rc;
}

int cmd_print_fields(const json_t *v, const char *const *pairs)
{
	char text[1024];
	size_t i, w = 0;

	for (i = 0; pairs[i] != NULL; i += 2)
		if (strlen(pairs[i]) > w)
			w = strlen(pairs[i]);
	for (i = 0; pairs[i] != NULL; i += 2) {
		printf("%-*s  ", (int)w, pairs[i]);
		if (pairs[i + 1][0] == '@')	/* Unix seconds, shown as a date */
			output_time(v, pairs[i + 1] + 1, text, sizeof(text));
		else if (pairs[i + 1][0] == '=')	/* a literal */
			snprintf(text, sizeof(text), "%s", pairs[i + 1] + 1);
		else
			output_text(v, pairs[i + 1], text, sizeof(text));
		output_clean(stdout, text);
		fputc('\n', stdout);
	}
	secure_wipe(text, sizeof(text));	/* it held a new token, for principal create */
	return CLI_OK;
}

int cmd_read_file(const char *path, size_t max, struct buf *out)
{
	char chunk[4096];
	struct kl_err err;
	ssize_t got;
	int fd, rc = CLI_EUSAGE;

	fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	if (fd == STDIN_FILENO)
		path = "standard input";
	if (fd < 0) {
		fprintf(stderr, "kluis: cannot read %.200s: %s\n", path, strerror(errno));
		return CLI_EUSAGE;
	}
	while ((got = read(fd, chunk, sizeof(chunk))) != 0) {
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			fprintf(stderr, "kluis: cannot read %.200s: %s\n", path, strerror(errno));
			goto out;
		}
		if ((size_t)got > max - out->len ||
		    buf_append(out, chunk, (size_t)got, &err) != 0) {
			fprintf(stderr, "kluis: %.200s is larger than %zu bytes\n", path, max);
			goto out;
		}
	}
	rc = CLI_OK;
out:
	secure_wipe(chunk, sizeof(chunk));
	if (fd != STDIN_FILENO)
		close(fd);
	return rc;
}

int cmd_write_file(const char *path, const void *p, size_t n)
{
	const unsigned char *b = p;
	ssize_t put;
	int fd, rc = CLI_EFAIL;

	/* 0600 even over an existing file: what lands here is a secret or a backup of one. */
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0 ||
	    fchmod(fd, 0600) != 0) {
		fprintf(stderr, "kluis: cannot write %.200s: %s\n", path, strerror(errno));
		goto out;
	}
	while (n > 0) {
		if ((put = write(fd, b, n)) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "kluis: cannot write %.200s: %s\n", path, strerror(errno));
			goto out;
		}
		b += put;
		n -= (size_t)put;
	}
	if (fsync(fd) != 0 && errno != EINVAL) {
		fprintf(stderr, "kluis: cannot write %.200s: %s\n", path, strerror(errno));
		goto out;
	}
	rc = CLI_OK;
out:
	if (fd >= 0 && close(fd) != 0 && rc == CLI_OK) {
		fprintf(stderr, "kluis: cannot write %.200s: %s\n", path, strerror(errno));
		rc = CLI_EFAIL;
	}
	return rc;
}

int cmd_b64url_arg(const char *opt, const char *text, struct buf *out)
{
	struct kl_err err;

	if (b64url_decode(text, strlen(text), out, &err) != 0)
		return cmd_usage_error("--%s: %s", opt, err.msg);
	return CLI_OK;
}

/* Seconds east of UTC in "Z", "+02:00" or "-0530"; -1 when malformed. */
static int parse_offset(const char *s, long *off)
{
	int hh, mm, n = 0;

	if (strcmp(s, "Z") == 0 || strcmp(s, "z") == 0) {
		*off = 0;
		return 0;
	}
	if ((s[0] != '+' && s[0] != '-') ||
	    (sscanf(s + 1, "%2d:%2d%n", &hh, &mm, &n) != 2 &&
	     sscanf(s + 1, "%2d%2d%n", &hh, &mm, &n) != 2) ||
	    s[1 + n] != '\0' || hh > 23 || mm > 59)
		return -1;
	*off = (hh * 3600L + mm * 60L) * (s[0] == '-' ? -1 : 1);
	return 0;
}

int cmd_parse_time(const char *s, long long *out)
{
	struct tm tm = { 0 };
	char *end;
	const char *rest;
	long off;

	if (*s >= '0' && *s <= '9' && strspn(s, "0123456789") == strlen(s)) {
		errno = 0;
		*out = strtoll(s, &end, 10);
		if (errno == 0)
			return 0;
	} else if ((rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) != NULL ||
		   (rest = strptime(s, "%Y-%m-%d %H:%M:%S", &tm)) != NULL) {
		if (*rest == '.')	/* fractions of a second: dropped */
			rest += 1 + strspn(rest + 1, "0123456789");
		if (parse_offset(rest, &off) == 0) {
			*out = (long long)timegm(&tm) - off;
			return 0;
		}
	}
	fprintf(stderr, "kluis: '%.64s' is not a time: give Unix seconds or RFC 3339 "
			"(2026-12-31T23:59:59Z)\n", s);
	return -1;
}

int cmd_print_columns(const json_t *items, const struct cmd_column *cols, size_t n)
{
	const char *head[TABLE_MAX_COLS], *row[TABLE_MAX_COLS];
	char cell[TABLE_MAX_COLS][256];
	struct table *t;
	const json_t *it;
	size_t i, k;

	assert(n <= TABLE_MAX_COLS);
	for (k = 0; k < n; k++)
		head[k] = cols[k].head;
	if ((t = table_new(n, head)) == NULL)
		return client_nomem();
	json_array_foreach(items, i, it) {
		for (k = 0; k < n; k++) {
			if (cols[k].collection != NULL)
				row[k] = output_id_part(it, cols[k].path, cols[k].collection, 0,
							cell[k], sizeof(cell[k]));
			else if (cols[k].path[0] == '@')
				row[k] = output_time(it, cols[k].path + 1, cell[k], sizeof(cell[k]));
			else
				row[k] = output_text(it, cols[k].path, cell[k], sizeof(cell[k]));
		}
		if (table_add(t, row) != 0) {
			table_free(t);
			return client_nomem();
		}
	}
	table_print(t, stdout);
	return CLI_OK;
}

/* Lists every page of collection ("secrets", "keys") in the vault; shared with cmd_key.c. */
int cmd_list_collection(struct cli *c, const char *collection, int (*table)(const json_t *items))
{
	json_t *items = NULL, *wrap = NULL;
	const char *base;
	char *url;
	int rc;

	if ((rc = client_vault_base(c, &base)) != CLI_OK)
		return rc;
	if ((url = client_url(base, "api-version=" CLI_DATA_API_VERSION, collection, NULL)) == NULL)
		return client_nomem();
	if ((rc = client_list(c, url, &items)) == CLI_OK) {
		if (c->cfg.output == OUTPUT_TABLE)
			rc = table(items);
		else if ((wrap = json_pack("{s:O}", "value", items)) != NULL)
			output_json(wrap);
		else
			rc = client_nomem();
	}
	json_decref(wrap);
	json_decref(items);
	free(url);
	return rc;
}

/* Prints a small result object for commands whose answer has no body of interest. */
int cmd_print_done(const struct cli *c, const char *what, const char *name, const char *extra_key,
		   const char *extra)
{
	json_t *j;

	if (c->cfg.output == OUTPUT_TABLE) {
		printf("%s ", what);
		output_clean(stdout, name);
		if (extra != NULL) {
			printf(" (%s ", extra_key);
			output_clean(stdout, extra);
			fputc(')', stdout);
		}
		fputc('\n', stdout);
		return CLI_OK;
	}
	if ((j = json_pack("{s:s, s:s}", "name", name, "result", what)) == NULL)
		return client_nomem();
	if (extra != NULL)
		json_object_set_new(j, extra_key, json_string(extra));
	output_json(j);
	json_decref(j);
	return CLI_OK;
}

#define BACKUP_MAX (16u << 20)

int cmd_vault_call(struct cli *c, const char *method, char *url, const json_t *body,
		   int (*table)(const json_t *v))
{
	json_t *out = NULL;
	int rc;

	if (url == NULL)
		return client_nomem();
	rc = client_call(c, method, url, body, true, &out);
	if (rc == CLI_OK && out != NULL) {
		json_object_del(out, "value");	/* set, recover, restore: never echo a value */
		rc = cmd_print(c, out, table);
	}
	json_decref(out);
	free(url);
	return rc;
}

int cmd_print_deleted(const json_t *v)
{
	const char *fields[] = {
		"recovery-id", "recoveryId", "deleted", "@deletedDate",
		"purge-date", "@scheduledPurgeDate", "id", "id", NULL,
	};

	return cmd_print_fields(v, fields);
}

/* The URL of one object, or of the collection's deleted twin when deleted is set; NULL-ended
 * segments after the name. */
static char *object_url(const char *base, bool deleted, const char *collection, const char *name,
			const char *tail)
{
	char coll[64];

	snprintf(coll, sizeof(coll), "%s%s", deleted ? "deleted" : "", collection);
	return client_url(base, "api-version=" CLI_DATA_API_VERSION, coll, name, tail, NULL);
}

int cmd_object_delete(struct cli *c, const char *collection, const char *name)
{
	const char *base;
	int rc = client_vault_base(c, &base);

	if (rc != CLI_OK)
		return rc;
	return cmd_vault_call(c, "DELETE", object_url(base, false, collection, name, NULL), NULL,
			      cmd_print_deleted);
}

int cmd_object_recover(struct cli *c, const char *collection, const char *name,
		       int (*table)(const json_t *v))
{
	const char *base;
	int rc = client_vault_base(c, &base);

	if (rc != CLI_OK)
		return rc;
	return cmd_vault_call(c, "POST", object_url(base, true, collection, name, "recover"), NULL,
			      table);
}

int cmd_object_purge(struct cli *c, const char *collection, const char *name)
{
	const char *base;
	char *url;
	int rc;

	if ((rc = client_vault_base(c, &base)) != CLI_OK)
		return rc;
	if ((url = object_url(base, true, collection, name, NULL)) == NULL)
		return client_nomem();
	if ((rc = client_call(c, "DELETE", url, NULL, true, NULL)) == CLI_OK)
		rc = cmd_print_done(c, "purged", name, NULL, NULL);
	free(url);
	return rc;
}

int cmd_object_backup(struct cli *c, const char *collection, const char *name, const char *file)
{
	const char *base;
	json_t *out = NULL, *v;
	char *url = NULL;
	int rc;

	if ((rc = client_vault_base(c, &base)) != CLI_OK)
		return rc;
	if ((url = object_url(base, false, collection, name, "backup")) == NULL)
		return client_nomem();
	if ((rc = client_call(c, "POST", url, NULL, true, &out)) != CLI_OK)
		goto out;
	if (!json_is_string(v = json_object_get(out, "value"))) {
		fprintf(stderr, "kluis: the answer holds no backup\n");
		rc = CLI_EFAIL;
		goto out;
	}
	if ((rc = cmd_write_file(file, json_string_value(v), json_string_length(v))) == CLI_OK)
		rc = cmd_print_done(c, "backed up", name, "file", file);
out:
	json_decref(out);
	free(url);
	return rc;
}

static bool is_blank(unsigned char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* Reads a backup file written by `backup` (base64url text) into a JSON string. */
static int read_backup(const char *file, json_t **value)
{
	struct buf blob;
	int rc;

	*value = NULL;
	buf_init_secret(&blob, BACKUP_MAX);
	if ((rc = cmd_read_file(file, BACKUP_MAX, &blob)) != CLI_OK)
		goto out;
	while (blob.len > 0 && is_blank(blob.data[blob.len - 1]))	/* an editor's newline */
		buf_truncate(&blob, blob.len - 1);
	if ((*value = json_stringn(buf_cstr(&blob), blob.len)) == NULL)
		rc = cmd_usage_error("%.200s is not a kluis backup", file);
out:
	buf_clear(&blob);
	return rc;
}

int cmd_object_restore(struct cli *c, const char *collection, const char *file,
		       int (*table)(const json_t *v))
{
	const char *base;
	json_t *body = NULL, *blob = NULL;
	int rc;

	if ((rc = read_backup(file, &blob)) != CLI_OK)
		return rc;
	if ((body = json_pack("{s:o}", "value", blob)) == NULL)
		return client_nomem();
	if ((rc = client_vault_base(c, &base)) == CLI_OK)
		rc = cmd_vault_call(c, "POST",
				    client_url(base, "api-version=" CLI_DATA_API_VERSION,
					       collection, "restore", NULL),
				    body, table);
	json_decref(body);
	return rc;
}
