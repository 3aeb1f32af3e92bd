/* Command-line options for kluis: each command has a table of its own, the global table applies
 * everywhere, and one pass reads both. Option values that may be secrets (OPT_SECRET) are copied
 * and then wiped from argv, so they do not linger in /proc/PID/cmdline. Not thread-safe. */
#ifndef KLUIS_CLI_ARGS_H
#define KLUIS_CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum opt_kind {
	OPT_FLAG,	/* --purge-protection */
	OPT_VALUE,	/* --vault NAME or --vault=NAME */
	OPT_SECRET,	/* like OPT_VALUE; the argv copy is wiped once read */
};

struct opt {
	const char *name;	/* long name without "--"; NULL ends a table */
	char short_name;	/* '\0' for none */
	enum opt_kind kind;
	const char *arg;	/* the value's name in help ("NAME"), NULL for flags */
	const char *help;	/* NULL hides the option from --help */
};

#define ARGS_MAX_POS 8
#define ARGS_MAX_OPTS 64

struct args_seen {
	const struct opt *o;
	const char *value;	/* into argv, or owned (secret): NULL for flags */
	char *owned;		/* the copy of a secret value, wiped and freed by args_clear */
};

struct args {
	const char *pos[ARGS_MAX_POS];
	size_t n_pos;
	struct args_seen seen[ARGS_MAX_OPTS];
	size_t n_seen;
	bool no_more_opts;	/* after "--" */
};

enum args_step {
	ARGS_OPTION,		/* an option (and its value) was read */
	ARGS_POSITIONAL,	/* argv[*i] before the call is a positional; returned in *pos */
	ARGS_ERROR,		/* printed why to stderr */
};

void args_init(struct args *a);
/* Wipes and frees the copies of secret values. */
void args_clear(struct args *a);

/* Reads the argument at argv[*i] and advances *i past it and its value. Options are looked up
 * in tables[0..n_tables) (each ended by a NULL name), first match wins. */
enum args_step args_step(struct args *a, int argc, char **argv, int *i,
			 const struct opt *const *tables, size_t n_tables, const char **pos);

/* The last value given for the option name (NULL when absent; "" for a flag that was given). */
const char *args_get(const struct args *a, const char *name);
bool args_has(const struct args *a, const char *name);
/* Every value of a repeatable option, in order: start with *iter = 0; NULL at the end. */
const char *args_next(const struct args *a, const char *name, size_t *iter);

/* Prints the options of a table for --help. */
void args_print_help(const struct opt *table, FILE *f);

#endif
