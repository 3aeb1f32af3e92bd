/* kluis, the command-line client of kluisd: finds the command in argv, loads the settings and
 * runs it. It speaks only HTTPS to kluisd (never the store); exit statuses are its contract:
 * 0 done, 1 the server refused (or a local step failed), 2 usage, 3 unreachable or untrusted,
 * 4 `key verify` found the signature invalid. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cli/cmd.h"
#include "cli/config.h"
#include "util/json.h"

static const struct cmd_group *const groups[] = {
	&cmd_vault_group, &cmd_secret_group, &cmd_key_group, &cmd_cert_group,
	&cmd_principal_group, &cmd_role_group, &cmd_status_group, &cmd_master_key_group,
	&cmd_region_group,
	&cmd_identity_group, &cmd_identity_agent_group,
};
#define N_GROUPS (sizeof(groups) / sizeof(groups[0]))

static const char exit_codes[] =
	"exit status: 0 done; 1 the server answered with an error; 2 usage error;\n"
	"             3 cannot reach the server, TLS failure or bad URL; 4 key verify: invalid\n";

static void print_group_usage(const struct cmd_group *g, FILE *f)
{
	const struct cmd *cmd;

	for (cmd = g->cmds; cmd->name != NULL; cmd++)
		fprintf(f, "  kluis %s\n", cmd->usage);
}

static void print_top_help(FILE *f)
{
	size_t i;

	fprintf(f, "usage: kluis [OPTIONS] COMMAND ...\n\n"
		   "A client of kluisd, the key vault server with the Azure Key Vault REST API.\n\n"
		   "commands:\n");
	for (i = 0; i < N_GROUPS; i++)
		print_group_usage(groups[i], f);
	fprintf(f, "\noptions (any command; highest first: flag, environment, config file):\n");
	args_print_help(config_opts, f);
	fprintf(f, "\nkluis COMMAND --help shows a command's own options.\n%s", exit_codes);
}

static void print_group_help(const struct cmd_group *g, FILE *f)
{
	const struct cmd *cmd;

	fprintf(f, "kluis %s: %s\n\n", g->name, g->summary);
	for (cmd = g->cmds; cmd->name != NULL; cmd++)
		fprintf(f, "  kluis %s\n      %s\n", cmd->usage, cmd->summary);
	fprintf(f, "\nkluis %s COMMAND --help shows a command's options; kluis --help the global "
		   "ones.\n", g->name);
}

static void print_cmd_help(const struct cmd *cmd, FILE *f)
{
	fprintf(f, "usage: kluis %s\n\n%s\n", cmd->usage, cmd->summary);
	if (cmd->opts != NULL && cmd->opts[0].name != NULL) {
		fprintf(f, "\noptions:\n");
		args_print_help(cmd->opts, f);
	}
	fprintf(f, "\nglobal options:\n");
	args_print_help(config_opts, f);
	fprintf(f, "\n%s", exit_codes);
}

/* The usage lines of the deepest level reached, after a one-line reason was printed. */
static int usage_error(const struct cmd_group *g, const struct cmd *cmd)
{
	if (cmd != NULL) {
		fprintf(stderr, "usage: kluis %s\n", cmd->usage);
	} else if (g != NULL) {
		fprintf(stderr, "usage:\n");
		print_group_usage(g, stderr);
	} else {
		fprintf(stderr, "usage: kluis [OPTIONS] COMMAND ... (kluis --help lists them)\n");
	}
	return CLI_EUSAGE;
}

static const struct cmd_group *find_group(const char *name)
{
	size_t i;

	for (i = 0; i < N_GROUPS; i++)
		if (strcmp(groups[i]->name, name) == 0)
			return groups[i];
	return NULL;
}

static const struct cmd *find_cmd(const struct cmd_group *g, const char *name)
{
	const struct cmd *cmd;

	for (cmd = g->cmds; cmd->name != NULL; cmd++)
		if (strcmp(cmd->name, name) == 0)
			return cmd;
	return NULL;
}

/* What the option just read asks for: 1 --help, 2 --version (flags of the global table; the
 * command tables are searched first, so `secret get --version V` is the command's). */
static int wants(const struct args *a, size_t before)
{
	const struct opt *o;

	if (a->n_seen == before)	/* "--" */
		return 0;
	o = a->seen[a->n_seen - 1].o;
	if (o->kind != OPT_FLAG)
		return 0;
	return strcmp(o->name, "help") == 0 ? 1 : strcmp(o->name, "version") == 0 ? 2 : 0;
}

/* A positional word: the group, the command, or an argument of the command. -1 after printing
 * a usage error. */
static int take_word(const char *w, struct args *a, const struct cmd_group **g,
		     const struct cmd **cmd)
{
	if (*g == NULL) {
		if ((*g = find_group(w)) == NULL) {
			fprintf(stderr, "kluis: unknown command '%.64s'\n", w);
			return -1;
		}
		if ((*g)->single)
			*cmd = &(*g)->cmds[0];
	} else if (*cmd == NULL) {
		if ((*cmd = find_cmd(*g, w)) == NULL) {
			fprintf(stderr, "kluis: unknown command '%s %.64s'\n", (*g)->name, w);
			return -1;
		}
	} else if (a->n_pos == ARGS_MAX_POS) {
		fprintf(stderr, "kluis: too many arguments\n");
		return -1;
	} else {
		a->pos[a->n_pos++] = w;
	}
	return 0;
}

/* Reads argv into a: finds the group and command, collects options and positionals. -1 for a
 * usage error (printed with the usage), 1 when --help or --version was answered, 0 to go on. */
static int parse(int argc, char **argv, struct args *a, const struct cmd_group **g,
		 const struct cmd **cmd)
{
	const struct opt *tables[2];
	const char *w;
	size_t before;
	int i = 1;

	while (i < argc) {
		tables[0] = *cmd && (*cmd)->opts ? (*cmd)->opts : config_opts;
		tables[1] = config_opts;
		before = a->n_seen;
		switch (args_step(a, argc, argv, &i, tables, 2, &w)) {
		case ARGS_ERROR:
			goto usage;
		case ARGS_OPTION:
			if (wants(a, before) == 1) {
				if (*cmd)
					print_cmd_help(*cmd, stdout);
				else if (*g)
					print_group_help(*g, stdout);
				else
					print_top_help(stdout);
				return 1;
			}
			if (wants(a, before) == 2) {
				printf("kluis %s\n", KLUIS_VERSION);
				return 1;
			}
			break;
		case ARGS_POSITIONAL:
			if (take_word(w, a, g, cmd) != 0)
				goto usage;
			break;
		}
	}
	if (*g == NULL) {
		fprintf(stderr, "kluis: no command given\n");
		goto usage;
	}
	if (*cmd == NULL) {
		fprintf(stderr, "kluis: %s needs a command\n", (*g)->name);
		goto usage;
	}
	if (a->n_pos < (*cmd)->min_pos || a->n_pos > (*cmd)->max_pos) {
		fprintf(stderr, "kluis: %s\n",
			a->n_pos < (*cmd)->min_pos ? "missing argument" : "too many arguments");
		goto usage;
	}
	return 0;
usage:
	usage_error(*g, *cmd);
	return -1;
}

int main(int argc, char **argv)
{
	const struct rlimit no_core = { 0, 0 };
	const struct cmd_group *g = NULL;
	const struct cmd *cmd = NULL;
	struct cli c = { 0 };
	struct args a;
	bool curl_up = false;
	int rc;

	setrlimit(RLIMIT_CORE, &no_core);	/* a core file would hold the token */
	json_util_init();
	args_init(&a);
	if ((rc = parse(argc, argv, &a, &g, &cmd)) != 0) {
		rc = rc > 0 ? CLI_OK : CLI_EUSAGE;
		goto out;
	}
	if (config_load(&c.cfg, &a) != 0) {
		rc = usage_error(g, cmd);
		goto out;
	}
	if (http_global_init() != 0) {
		rc = CLI_EFAIL;
		goto out;
	}
	curl_up = true;
	if ((c.http = http_new(c.cfg.ca)) == NULL) {
		rc = CLI_EFAIL;
		goto out;
	}
	rc = cmd->run(&c, &a);
	if (rc == CLI_EUSAGE)
		usage_error(g, cmd);
out:
	http_free(c.http);
	if (curl_up)
		http_global_cleanup();
	free(c.vault_uri);
	config_clear(&c.cfg);
	args_clear(&a);
	fflush(stdout);
	if (ferror(stdout) && rc == CLI_OK) {
		fprintf(stderr, "kluis: cannot write to stdout\n");
		rc = CLI_EFAIL;
	}
	return rc;
}
