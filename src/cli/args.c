/* args.c owns reading argv: long options (--name VALUE, --name=VALUE), the few short ones (-o,
 * -h) and "--". It must never print an option's value (it may be a token or a secret) and
 * never keep a secret value in argv after reading it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "util/secbuf.h"

void args_init(struct args *a)
{
	memset(a, 0, sizeof(*a));
}

void args_clear(struct args *a)
{
	size_t i;

	for (i = 0; i < a->n_seen; i++) {
		if (a->seen[i].owned != NULL) {
			secure_wipe(a->seen[i].owned, strlen(a->seen[i].owned));
			free(a->seen[i].owned);
		}
	}
	args_init(a);
}

static const struct opt *find_long(const struct opt *const *tables, size_t n, const char *name,
				   size_t len)
{
	const struct opt *o;
	size_t t;

	for (t = 0; t < n; t++)
		for (o = tables[t]; o != NULL && o->name != NULL; o++)
			if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
				return o;
	return NULL;
}

static const struct opt *find_short(const struct opt *const *tables, size_t n, char c)
{
	const struct opt *o;
	size_t t;

	for (t = 0; t < n; t++)
		for (o = tables[t]; o != NULL && o->name != NULL; o++)
			if (o->short_name != '\0' && o->short_name == c)
				return o;
	return NULL;
}

/* Records o with value v (argv memory). A secret value is copied and its argv bytes wiped:
 * argv strings are writable, and the kernel shows them to anyone who reads /proc/PID/cmdline. */
static enum args_step record(struct args *a, const struct opt *o, char *v)
{
	struct args_seen *s;

	if (a->n_seen == ARGS_MAX_OPTS) {
		fprintf(stderr, "kluis: too many options\n");
		return ARGS_ERROR;
	}
	s = &a->seen[a->n_seen];
	s->o = o;
	s->value = v;
	s->owned = NULL;
	if (o->kind == OPT_SECRET) {
		if ((s->owned = strdup(v)) == NULL) {
			fprintf(stderr, "kluis: out of memory\n");
			return ARGS_ERROR;
		}
		secure_wipe(v, strlen(v));
		s->value = s->owned;
	}
	a->n_seen++;
	return ARGS_OPTION;
}

enum args_step args_step(struct args *a, int argc, char **argv, int *i,
			 const struct opt *const *tables, size_t n_tables, const char **pos)
{
	char *arg = argv[*i], *eq;
	const struct opt *o;
	size_t len;

	(*i)++;
	if (a->no_more_opts || arg[0] != '-' || arg[1] == '\0') {	/* "-" is a positional */
		*pos = arg;
		return ARGS_POSITIONAL;
	}
	if (strcmp(arg, "--") == 0) {
		a->no_more_opts = true;
		return ARGS_OPTION;
	}
	if (arg[1] != '-') {	/* -o json, -h */
		o = arg[2] == '\0' ? find_short(tables, n_tables, arg[1]) : NULL;
		eq = NULL;
	} else {
		eq = strchr(arg + 2, '=');
		len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
		o = find_long(tables, n_tables, arg + 2, len);
	}
	if (o == NULL) {
		/* Only the name, cut at '=': "--tokn=..." must not echo a token. */
		len = eq ? (size_t)(eq - arg) : strlen(arg);
		fprintf(stderr, "kluis: unknown option %.*s\n", (int)(len > 64 ? 64 : len), arg);
		return ARGS_ERROR;
	}
	if (o->kind == OPT_FLAG) {
		if (eq != NULL) {
			fprintf(stderr, "kluis: option --%s takes no value\n", o->name);
			return ARGS_ERROR;
		}
		return record(a, o, NULL);
	}
	if (eq != NULL)
		return record(a, o, eq + 1);
	if (*i >= argc) {
		fprintf(stderr, "kluis: option --%s needs a value (%s)\n", o->name, o->arg);
		return ARGS_ERROR;
	}
	return record(a, o, argv[(*i)++]);
}

const char *args_get(const struct args *a, const char *name)
{
	size_t i = a->n_seen;

	while (i-- > 0)
		if (strcmp(a->seen[i].o->name, name) == 0)
			return a->seen[i].value ? a->seen[i].value : "";
	return NULL;
}

bool args_has(const struct args *a, const char *name)
{
	return args_get(a, name) != NULL;
}

const char *args_next(const struct args *a, const char *name, size_t *iter)
{
	while (*iter < a->n_seen) {
		const struct args_seen *s = &a->seen[(*iter)++];

		if (strcmp(s->o->name, name) == 0)
			return s->value ? s->value : "";
	}
	return NULL;
}

void args_print_help(const struct opt *table, FILE *f)
{
	const struct opt *o;
	char left[64];

	for (o = table; o != NULL && o->name != NULL; o++) {
		if (o->help == NULL)
			continue;
		if (o->short_name != '\0')
			snprintf(left, sizeof(left), "-%c, --%s%s%s", o->short_name, o->name,
				 o->arg ? " " : "", o->arg ? o->arg : "");
		else
			snprintf(left, sizeof(left), "    --%s%s%s", o->name, o->arg ? " " : "",
				 o->arg ? o->arg : "");
		fprintf(f, "  %-28s %s\n", left, o->help);
	}
}
