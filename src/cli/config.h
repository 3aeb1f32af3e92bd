/* Where kluis finds its server, credentials and defaults: flags, then the environment
 * (KLUIS_URL, KLUIS_TOKEN, KLUIS_CA, KLUIS_VAULT), then a config file. Owns the global option
 * table. The token lives only in a secbuf and is wiped by config_clear. Not thread-safe. */
#ifndef KLUIS_CLI_CONFIG_H
#define KLUIS_CLI_CONFIG_H

#include "cli/args.h"
#include "util/secbuf.h"

enum output_fmt { OUTPUT_TABLE, OUTPUT_JSON };

struct config {
	char *url;		/* the deployment's base URL, no trailing '/'; NULL when unset */
	char *ca;		/* CA file; NULL: the system's trust store */
	char *vault;		/* vault for secret/key commands; NULL: the deployment's default */
	struct secbuf *token;	/* NULL when none was configured */
	enum output_fmt output;
};

/* The options every command accepts (--url, --token, --vault, -o, --help...). */
extern const struct opt config_opts[];

/* Fills cfg from the global options in a, the environment and the config file. On failure
 * prints why to stderr and returns -1 (a usage error); cfg is then cleared. */
int config_load(struct config *cfg, const struct args *a);
void config_clear(struct config *cfg);

/* Reads a token file: the first line, surrounding white space removed. NULL after printing
 * why to stderr. */
struct secbuf *config_read_token_file(const char *path);

#endif
