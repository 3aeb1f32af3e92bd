/* The command table: each command group (vault, secret, key, cert, principal, role, status,
 * master-key, region, identity; identity-agent is agent*.c) is one file that exports its table;
 * main.c dispatches. Shared helpers for commands live in cmd_util.c. */
#ifndef KLUIS_CLI_CMD_H
#define KLUIS_CLI_CMD_H

#include <jansson.h>
#include <stddef.h>

#include "cli/args.h"
#include "cli/client.h"

struct cmd {
	const char *name;	/* "set"; NULL ends a group's table */
	const char *usage;	/* after "kluis ", e.g. "secret get NAME [--version V]" */
	const char *summary;
	const struct opt *opts;	/* the command's own options (NULL: none) */
	size_t min_pos, max_pos;	/* positional arguments */
	int (*run)(struct cli *c, const struct args *a);	/* returns a CLI status */
};

struct cmd_group {
	const char *name;
	const char *summary;
	const struct cmd *cmds;	/* subcommands; or, when single is set, the group itself */
	bool single;		/* "kluis status": no subcommand word */
};

extern const struct cmd_group cmd_vault_group;
extern const struct cmd_group cmd_secret_group;
extern const struct cmd_group cmd_key_group;
extern const struct cmd_group cmd_cert_group;
extern const struct cmd_group cmd_principal_group;
extern const struct cmd_group cmd_role_group;
extern const struct cmd_group cmd_status_group;
extern const struct cmd_group cmd_master_key_group;
extern const struct cmd_group cmd_region_group;
extern const struct cmd_group cmd_identity_group;	/* cmd_identity.c */
extern const struct cmd_group cmd_identity_agent_group;	/* agent.c */

/* cmd_credential.c: `principal secret VERB ...` and `principal cert VERB ...` (add, list,
 * revoke), entries of the principal group; each returns a CLI status. */
int cmd_principal_secret(struct cli *c, const struct args *a);
int cmd_principal_cert(struct cli *c, const struct args *a);
extern const struct opt cmd_principal_secret_opts[];
extern const struct opt cmd_principal_cert_opts[];

/* cmd_util.c: small things several groups need. */

/* Prints "kluis: MSG" to stderr and returns CLI_EUSAGE (main then prints the usage). */
int cmd_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints v as JSON (--output json) and returns CLI_OK; or, for tables, calls table(v). */
int cmd_print(const struct cli *c, const json_t *v, int (*table)(const json_t *v));

/* Calls method on url (freed here; NULL: out of memory) with body, authenticated, and prints the
 * answer with cmd_print and table. A CLI status. A secret or token in the answer is wiped when it
 * is freed (the wiping allocator). */
int cmd_call_print(struct cli *c, const char *method, char *url, const json_t *body,
		   int (*table)(const json_t *v));

/* Prints "field  value" lines for pairs of (label, dotted path) until a NULL label; a path
 * starting with '@' is Unix seconds, shown as a date; one starting with '=' is a literal. */
int cmd_print_fields(const json_t *v, const char *const *pairs);

/* A column of a listing: its head and the item's member at path, as text; a path starting with
 * '@' is Unix seconds, shown as a date. With collection set, path holds an object id under that
 * collection and the column shows the object's name. */
struct cmd_column {
	const char *head;
	const char *path;
	const char *collection;
};

/* Prints the array items as a table of the n (at most TABLE_MAX_COLS) columns cols. A CLI
 * status. */
int cmd_print_columns(const json_t *items, const struct cmd_column *cols, size_t n);

/* Lists every page of a vault's collection ("secrets", "keys"): --output json prints
 * {"value":[...all pages...]}, tables go through table(items). A CLI status. */
int cmd_list_collection(struct cli *c, const char *collection, int (*table)(const json_t *items));

/* For commands whose answer has nothing to show: "WHAT NAME (KEY EXTRA)" or, as JSON,
 * {"name":NAME,"result":WHAT,KEY:EXTRA}. extra may be NULL. CLI_OK. */
int cmd_print_done(const struct cli *c, const char *what, const char *name, const char *extra_key,
		   const char *extra);

/* The verbs secrets, keys and certificates share, on collection ("secrets", "keys",
 * "certificates") of the configured vault; each returns a CLI status. An answer's "value" member
 * (a secret's value) is never printed: only `secret get` shows one. */

/* Runs method on url (owned and freed here; NULL means out of memory) with body (may be NULL),
 * and prints the answer with table, or as JSON. */
int cmd_vault_call(struct cli *c, const char *method, char *url, const json_t *body,
		   int (*table)(const json_t *v));

/* The table of a deleted object: recovery id, deletion and purge dates, id. */
int cmd_print_deleted(const json_t *v);

/* DELETE collection/NAME, printing the deleted object. */
int cmd_object_delete(struct cli *c, const char *collection, const char *name);

/* POST deleted<collection>/NAME/recover, printing the recovered object with table. */
int cmd_object_recover(struct cli *c, const char *collection, const char *name,
		       int (*table)(const json_t *v));

/* DELETE deleted<collection>/NAME: purges it for good. */
int cmd_object_purge(struct cli *c, const char *collection, const char *name);

/* POST collection/NAME/backup and writes the blob (base64url text) to file, mode 0600. */
int cmd_object_backup(struct cli *c, const char *collection, const char *name, const char *file);

/* POST collection/restore with the blob read from file (trailing blanks dropped), printing the
 * restored object with table. */
int cmd_object_restore(struct cli *c, const char *collection, const char *file,
		       int (*table)(const json_t *v));

/* Reads a whole file (at most max bytes) into a wiping buffer: CLI_OK, or CLI_EUSAGE after
 * printing why (the user named the file). "-" is stdin. */
int cmd_read_file(const char *path, size_t max, struct buf *out);

/* Writes p[0..n) to path, created or truncated with mode 0600: CLI_OK or CLI_EFAIL. */
int cmd_write_file(const char *path, const void *p, size_t n);

/* Decodes base64url text given in option opt into out (a wiping buffer): CLI_OK or
 * CLI_EUSAGE. */
int cmd_b64url_arg(const char *opt, const char *text, struct buf *out);

/* Parses an expiry: Unix seconds, or RFC 3339 ("2026-12-31T00:00:00Z", "...+02:00"). -1 after
 * printing why. */
int cmd_parse_time(const char *s, long long *out);

#endif
