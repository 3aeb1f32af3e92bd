/* config.c owns kluis's settings and where each comes from, highest first: flags, environment,
 * config file (--config, $KLUIS_CONFIG, $XDG_CONFIG_HOME/kluis/config, ~/.config/kluis/config).
 * It must never print a token, and never leave one in memory it frees: the file is read through
 * a stdio buffer of ours that is wiped, lines are wiped, KLUIS_TOKEN is wiped from environ. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/config.h"

#define CONFIG_LINE_MAX 4096
#define TOKEN_FILE_MAX 4096

const struct opt config_opts[] = {
	{ "url", 0, OPT_VALUE, "URL", "the deployment's URL (KLUIS_URL): https://localhost:8443" },
	{ "token", 0, OPT_SECRET, "TOKEN", "bearer token (KLUIS_TOKEN); prefer --token-file" },
	{ "token-file", 0, OPT_VALUE, "PATH", "read the bearer token from PATH" },
	{ "ca", 0, OPT_VALUE, "PATH", "CA certificate to trust (KLUIS_CA): DATA_DIR/tls/ca.pem" },
	{ "config", 0, OPT_VALUE, "PATH", "settings file (KLUIS_CONFIG; ~/.config/kluis/config)" },
	{ "vault", 0, OPT_VALUE, "NAME", "vault for secret and key commands (KLUIS_VAULT)" },
	{ "output", 'o', OPT_VALUE, "FORMAT", "table (default) or json" },
	{ "help", 'h', OPT_FLAG, NULL, "show help for the command" },
	{ "version", 0, OPT_FLAG, NULL, "print the version of kluis" },
	{ NULL, 0, 0, NULL, NULL },
};

/* What the config file said; paths already resolved against the file's directory. */
struct file_settings {
	char *url, *ca, *vault, *token_file, *output;
	struct secbuf *token;
};

static void file_settings_clear(struct file_settings *fs)
{
	free(fs->url);
	free(fs->ca);
	free(fs->vault);
	free(fs->token_file);
	free(fs->output);
	secbuf_free(fs->token);
	memset(fs, 0, sizeof(*fs));
}

static char *trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' || end[-1] == '\r'))
		*--end = '\0';
	return s;
}

/* A path from the file: relative ones are relative to the file's own directory. */
static char *file_path(const char *file, const char *value)
{
	const char *slash = strrchr(file, '/');
	char *p = NULL;

	if (value[0] == '/' || slash == NULL)
		return strdup(value);
	if (asprintf(&p, "%.*s/%s", (int)(slash - file), file, value) < 0)
		return NULL;
	return p;
}

/* Stores one key = value; -1 after printing why. */
static int file_set(struct file_settings *fs, const char *path, int line, const char *key,
		    const char *value)
{
	struct kl_err err;
	char **slot = NULL;
	bool is_path = false;

	if (strcmp(key, "token") == 0) {
		secbuf_free(fs->token);
		if ((fs->token = secbuf_dup(value, strlen(value), &err)) == NULL)
			goto nomem;
		return 0;
	}
	if (strcmp(key, "url") == 0) {
		slot = &fs->url;
	} else if (strcmp(key, "ca") == 0) {
		slot = &fs->ca;
		is_path = true;
	} else if (strcmp(key, "token_file") == 0) {
		slot = &fs->token_file;
		is_path = true;
	} else if (strcmp(key, "vault") == 0) {
		slot = &fs->vault;
	} else if (strcmp(key, "output") == 0) {
		slot = &fs->output;
	} else {
		fprintf(stderr, "kluis: %s:%d: unknown setting '%.64s'\n", path, line, key);
		return -1;
	}
	free(*slot);
	if ((*slot = is_path ? file_path(path, value) : strdup(value)) == NULL)
		goto nomem;
	return 0;
nomem:
	fprintf(stderr, "kluis: out of memory\n");
	return -1;
}

/* Parses "key = value" lines; '#' starts a comment at the start of a line or after a blank. */
static int parse_line(struct file_settings *fs, const char *path, int n, char *line)
{
	char *key, *value, *eq, *hash;

	for (hash = line; (hash = strchr(hash, '#')) != NULL; hash++) {
		if (hash == line || hash[-1] == ' ' || hash[-1] == '\t') {
			*hash = '\0';
			break;
		}
	}
	key = trim(line);
	if (*key == '\0')
		return 0;
	if ((eq = strchr(key, '=')) == NULL) {
		fprintf(stderr, "kluis: %s:%d: expected 'key = value'\n", path, n);
		return -1;
	}
	*eq = '\0';
	key = trim(key);
	value = trim(eq + 1);
	return file_set(fs, path, n, key, value);
}

/* Reads the config file; a missing file is an error only when it was named explicitly. */
static int file_load(struct file_settings *fs, const char *path, bool must_exist)
{
	char iobuf[BUFSIZ], line[CONFIG_LINE_MAX];
	struct stat st;
	FILE *f;
	int n = 0, rc = -1;

	if ((f = fopen(path, "re")) == NULL) {
		if (errno == ENOENT && !must_exist)
			return 0;
		fprintf(stderr, "kluis: cannot read config file %s: %s\n", path, strerror(errno));
		return -1;
	}
	setvbuf(f, iobuf, _IOFBF, sizeof(iobuf));	/* ours, so it can be wiped */
	while (fgets(line, sizeof(line), f) != NULL) {
		n++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			fprintf(stderr, "kluis: %s:%d: line too long\n", path, n);
			goto out;
		}
		if (parse_line(fs, path, n, line) != 0)
			goto out;
	}
	if (ferror(f)) {
		fprintf(stderr, "kluis: cannot read config file %s\n", path);
		goto out;
	}
	if (fs->token != NULL && fstat(fileno(f), &st) == 0 && (st.st_mode & 077) != 0)
		fprintf(stderr, "kluis: warning: %s holds a token and others may read it "
				"(chmod 600)\n", path);
	rc = 0;
out:
	fclose(f);
	secure_wipe(line, sizeof(line));
	secure_wipe(iobuf, sizeof(iobuf));
	return rc;
}

static int file_load_default(struct file_settings *fs, const struct args *a)
{
	const char *explicit = args_get(a, "config"), *xdg, *home;
	char *path = NULL;
	int rc;

	if (explicit == NULL && (explicit = getenv("KLUIS_CONFIG")) != NULL && *explicit == '\0')
		explicit = NULL;
	if (explicit != NULL)
		return file_load(fs, explicit, true);
	if ((xdg = getenv("XDG_CONFIG_HOME")) != NULL && *xdg == '/')
		rc = asprintf(&path, "%s/kluis/config", xdg);
	else if ((home = getenv("HOME")) != NULL && *home != '\0')
		rc = asprintf(&path, "%s/.config/kluis/config", home);
	else
		return 0;
	if (rc < 0) {
		fprintf(stderr, "kluis: out of memory\n");
		return -1;
	}
	rc = file_load(fs, path, false);
	free(path);
	return rc;
}

struct secbuf *config_read_token_file(const char *path)
{
	char raw[TOKEN_FILE_MAX + 1];
	struct secbuf *tok = NULL;
	struct kl_err err;
	size_t len = 0, start = 0;
	ssize_t got;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "kluis: cannot read token file %s: %s\n", path, strerror(errno));
		return NULL;
	}
	while (len < sizeof(raw) && (got = read(fd, raw + len, sizeof(raw) - len)) != 0) {
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			fprintf(stderr, "kluis: cannot read token file %s: %s\n", path,
				strerror(errno));
			goto out;
		}
		len += (size_t)got;
	}
	if (len > TOKEN_FILE_MAX) {
		fprintf(stderr, "kluis: token file %s is larger than %d bytes\n", path,
			TOKEN_FILE_MAX);
		goto out;
	}
	while (start < len && (raw[start] == ' ' || raw[start] == '\t' || raw[start] == '\n' ||
			       raw[start] == '\r'))
		start++;
	for (len = start; len < sizeof(raw) - 1 && raw[len] > ' '; len++)
		;	/* the token ends at the first blank or control character */
	if (len == start) {
		fprintf(stderr, "kluis: token file %s is empty\n", path);
		goto out;
	}
	if ((tok = secbuf_dup(raw + start, len - start, &err)) == NULL)
		fprintf(stderr, "kluis: out of memory\n");
out:
	close(fd);
	secure_wipe(raw, sizeof(raw));
	return tok;
}

/* KLUIS_TOKEN: copied, then its bytes in environ are wiped, as argv's are for --token. */
static struct secbuf *token_from_env(void)
{
	struct kl_err err;
	struct secbuf *tok;
	char *v = getenv("KLUIS_TOKEN");

	if (v == NULL || *v == '\0')
		return NULL;
	if ((tok = secbuf_dup(v, strlen(v), &err)) == NULL)
		return NULL;
	secure_wipe(v, strlen(v));
	unsetenv("KLUIS_TOKEN");
	return tok;
}

static const char *pick(const struct args *a, const char *flag, const char *env, const char *file)
{
	const char *v = args_get(a, flag);

	if (v == NULL && env != NULL && (v = getenv(env)) != NULL && *v == '\0')
		v = NULL;
	return v != NULL ? v : file;
}

static int set_str(char **slot, const char *v)
{
	if (v == NULL)
		return 0;
	if ((*slot = strdup(v)) == NULL) {
		fprintf(stderr, "kluis: out of memory\n");
		return -1;
	}
	return 0;
}

static int load_token(struct config *cfg, const struct args *a, struct file_settings *fs)
{
	struct kl_err err;
	const char *flag = args_get(a, "token"), *flag_file = args_get(a, "token-file");

	if (flag != NULL && flag_file != NULL) {
		fprintf(stderr, "kluis: give --token or --token-file, not both\n");
		return -1;
	}
	if (flag != NULL) {
		if ((cfg->token = secbuf_dup(flag, strlen(flag), &err)) == NULL) {
			fprintf(stderr, "kluis: out of memory\n");
			return -1;
		}
		return 0;
	}
	if (flag_file != NULL)
		return (cfg->token = config_read_token_file(flag_file)) != NULL ? 0 : -1;
	if ((cfg->token = token_from_env()) != NULL)
		return 0;
	if (fs->token != NULL && fs->token_file != NULL) {
		fprintf(stderr, "kluis: the config file sets both token and token_file\n");
		return -1;
	}
	if (fs->token != NULL) {
		cfg->token = fs->token;
		fs->token = NULL;
		return 0;
	}
	if (fs->token_file != NULL)
		return (cfg->token = config_read_token_file(fs->token_file)) != NULL ? 0 : -1;
	return 0;	/* none: the server will answer 401, and we say how to give one */
}

int config_load(struct config *cfg, const struct args *a)
{
	struct file_settings fs = { 0 };
	const char *output;
	size_t n;
	int rc = -1;

	memset(cfg, 0, sizeof(*cfg));
	if (file_load_default(&fs, a) != 0 ||
	    set_str(&cfg->url, pick(a, "url", "KLUIS_URL", fs.url)) != 0 ||
	    set_str(&cfg->ca, pick(a, "ca", "KLUIS_CA", fs.ca)) != 0 ||
	    set_str(&cfg->vault, pick(a, "vault", "KLUIS_VAULT", fs.vault)) != 0 ||
	    load_token(cfg, a, &fs) != 0)
		goto out;
	if (cfg->url != NULL)	/* "https://host:8443/" and "https://host:8443" are one URL */
		for (n = strlen(cfg->url); n > 0 && cfg->url[n - 1] == '/'; n--)
			cfg->url[n - 1] = '\0';
	if (cfg->vault != NULL && *cfg->vault == '\0') {
		free(cfg->vault);
		cfg->vault = NULL;
	}
	output = pick(a, "output", NULL, fs.output);
	if (output == NULL || strcmp(output, "table") == 0) {
		cfg->output = OUTPUT_TABLE;
	} else if (strcmp(output, "json") == 0) {
		cfg->output = OUTPUT_JSON;
	} else {
		fprintf(stderr, "kluis: --output must be table or json, not '%.32s'\n", output);
		goto out;
	}
	rc = 0;
out:
	file_settings_clear(&fs);
	if (rc != 0)
		config_clear(cfg);
	return rc;
}

void config_clear(struct config *cfg)
{
	free(cfg->url);
	free(cfg->ca);
	free(cfg->vault);
	secbuf_free(cfg->token);
	memset(cfg, 0, sizeof(*cfg));
}
