/* kluisd's command line (src/main/options.c): defaults, every kind of flag in and out of range,
 * the usage errors' exact text (on stderr; a conninfo is never echoed), the checks that span
 * flags, abbreviations and unknown flags; the --config file (every kind of value, flags over it
 * in either order, each error with its line, conninfo values never echoed) and --check-config. */
#include <errno.h>
#include <getopt.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "main/options.h"
#include "main/tmpconf.h"

/* What one options_parse() wrote on stdout and on stderr. */
struct io {
	char out[4096], err[1024];
};

/* From here on, what goes to fd (STDOUT_FILENO or STDERR_FILENO) lands in *tmp; returns a
 * duplicate of fd for release(). */
static int capture(int fd, FILE **tmp)
{
	int saved;

	*tmp = tmpfile();
	assert_non_null(*tmp);
	fflush(NULL);
	saved = dup(fd);
	assert_true(saved >= 0 && dup2(fileno(*tmp), fd) >= 0);
	return saved;
}

/* Puts fd back and reads what went to tmp into buf. */
static void release(int fd, int saved, FILE *tmp, char *buf, size_t n)
{
	size_t got;

	fflush(NULL);
	dup2(saved, fd);
	close(saved);
	rewind(tmp);
	got = fread(buf, 1, n - 1, tmp);
	buf[got] = '\0';
	fclose(tmp);
}

/* options_parse on "kluisd" and the NULL-terminated args in ap; what it wrote on stderr into
 * err, and on stdout into out unless out is NULL. */
static int vparse(struct options *o, char *out, size_t out_n, char *err, size_t err_n,
		  va_list ap)
{
	char *argv[96] = { "kluisd" };
	int argc = 1, rc, saved_out = -1, saved_err;
	FILE *tmp_out = NULL, *tmp_err;

	while (argc < 95 && (argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	if (out != NULL)
		saved_out = capture(STDOUT_FILENO, &tmp_out);
	saved_err = capture(STDERR_FILENO, &tmp_err);
	optind = 0;	/* GNU getopt: start afresh */
	rc = options_parse(argc, argv, o);
	release(STDERR_FILENO, saved_err, tmp_err, err, err_n);
	if (out != NULL)
		release(STDOUT_FILENO, saved_out, tmp_out, out, out_n);
	return rc;
}

/* options_parse on "kluisd" and the NULL-terminated args; what it wrote on stderr into err. */
static int parse(struct options *o, char *err, size_t n, ...)
{
	va_list ap;
	int rc;

	va_start(ap, n);
	rc = vparse(o, NULL, 0, err, n, ap);
	va_end(ap);
	return rc;
}

/* options_parse on "kluisd" and the NULL-terminated args; what it wrote, in *io. */
static int parse_io(struct options *o, struct io *io, ...)
{
	va_list ap;
	int rc;

	va_start(ap, io);
	rc = vparse(o, io->out, sizeof(io->out), io->err, sizeof(io->err), ap);
	va_end(ap);
	return rc;
}

#define REFUSED(o, err, expect, ...)                                                   \
	do {                                                                           \
		assert_int_equal(parse(o, err, sizeof(err), __VA_ARGS__, NULL), -1);   \
		assert_non_null(strstr(err, expect));                                  \
	} while (0)

static void test_defaults(void **state)
{
	struct options o;
	char err[512];

	(void)state;
	assert_int_equal(parse(&o, err, sizeof(err), NULL), 0);
	assert_string_equal(err, "");
	assert_string_equal(o.data_dir, "./data");
	assert_false(o.has_lb_agent);
	assert_string_equal(o.default_vault, "default");
	assert_string_equal(o.dns_suffix, "vault.localhost");
	assert_int_equal(o.retention_days, 90);
	assert_int_equal(o.cert_issue_delay_s, 2);
	assert_int_equal(o.threads, 0);
	assert_int_equal(o.max_body, 0);
	assert_false(o.read_only);
	assert_null(o.postgres);
	assert_null(o.region);
	assert_int_equal(o.log_level, LOG_LV_INFO);
}

static void test_values_land_in_their_fields(void **state)
{
	struct options o;
	char err[512];

	(void)state;
	assert_int_equal(parse(&o, err, sizeof(err), "--data-dir", "/tmp/d", "--threads", "256",
			       "--retention-days", "7", "--max-body", "268435456",
			       "--max-connections", "10", "--max-connections-per-ip", "0",
			       "--idle-timeout", "86400", "--request-timeout", "1",
			       "--jobs-interval", "5", "--certificate-issue-delay", "0",
			       "--access-token-lifetime", "300", "--read-only", "--region", "eu-1",
			       "--dns-suffix", "Vault.Example", "--default-vault", "pay-1",
			       "--log-level", "debug", "--postgres", "host=db", "--peer-postgres",
			       "host=peer", "--postgres-monitor", "host=mon",
			       "--postgres-formation", "f", "--tls-cert", "c.pem", "--tls-key",
			       "k.pem", "--client-ca", "ca.pem", "--audit-log", "-",
			       "--allow-core-dumps",
			       "--rotate-master-key", "--throttle", "off", "--listen",
			       "127.0.0.1:9443", "--lb-agent", "127.0.0.1:9444", NULL), 0);
	assert_string_equal(o.data_dir, "/tmp/d");
	assert_true(o.has_lb_agent);
	assert_int_equal(o.lb_agent.port, 9444);
	assert_int_equal(o.threads, 256);
	assert_int_equal(o.retention_days, 7);
	assert_int_equal(o.max_body, 268435456);
	assert_int_equal(o.max_conns, 10);
	assert_int_equal(o.max_conns_per_ip, 0);
	assert_int_equal(o.idle_timeout_s, 86400);
	assert_int_equal(o.request_timeout_s, 1);
	assert_int_equal(o.jobs_interval_s, 5);
	assert_int_equal(o.cert_issue_delay_s, 0);
	assert_int_equal(o.access_token_lifetime_s, 300);
	assert_true(o.read_only && o.allow_core_dumps && o.rotate_master_key);
	assert_string_equal(o.region, "eu-1");
	assert_string_equal(o.dns_suffix, "vault.example");
	assert_string_equal(o.default_vault, "pay-1");
	assert_int_equal(o.log_level, LOG_LV_DEBUG);
	assert_string_equal(o.postgres, "host=db");
	assert_string_equal(o.peer_postgres, "host=peer");
	assert_string_equal(o.pg_monitor, "host=mon");
	assert_string_equal(o.pg_formation, "f");
	assert_string_equal(o.tls_cert, "c.pem");
	assert_string_equal(o.tls_key, "k.pem");
	assert_string_equal(o.client_ca, "ca.pem");
	assert_string_equal(o.audit_log, "-");
	/* an unambiguous abbreviation, as getopt_long allows */
	assert_int_equal(parse(&o, err, sizeof(err), "--retention", "30", NULL), 0);
	assert_int_equal(o.retention_days, 30);
}

static void test_usage_errors_say_which_flag_and_why(void **state)
{
	struct options o;
	char err[512];

	(void)state;
	REFUSED(&o, err, "kluisd: --threads '0': must be a number from 1 to 256\n"
		"Try 'kluisd --help' for more information.\n", "--threads", "0");
	REFUSED(&o, err, "--threads '257': must be a number from 1 to 256", "--threads", "257");
	REFUSED(&o, err, "--threads '+1': must be a number", "--threads", "+1");
	REFUSED(&o, err, "--retention-days '91': must be a number from 7 to 90",
		"--retention-days", "91");
	REFUSED(&o, err, "--max-body '268435457': must be a number of bytes from 1 to 268435456",
		"--max-body", "268435457");
	REFUSED(&o, err, "--max-connections '0': must be a number from 1 to 1000000",
		"--max-connections", "0");
	REFUSED(&o, err, "--idle-timeout '86401': must be a number of seconds from 1 to 86400",
		"--idle-timeout", "86401");
	REFUSED(&o, err, "--access-token-lifetime '299': must be a number of seconds from 300 "
		"to 86400", "--access-token-lifetime", "299");
	REFUSED(&o, err, "--data-dir '': must be a path of 1 to 4064 bytes", "--data-dir", "");
	REFUSED(&o, err, "--region 'West-Europe': must be 1 to 32 of a-z", "--region",
		"West-Europe");
	REFUSED(&o, err, "--dns-suffix 'localhost': must be a DNS name of at least two labels",
		"--dns-suffix", "localhost");
	REFUSED(&o, err, "--default-vault 'a--b': must be 3-24 letters", "--default-vault",
		"a--b");
	REFUSED(&o, err, "--log-level 'loud': must be debug, info, warn or error", "--log-level",
		"loud");
	REFUSED(&o, err, "--listen 'nowhere':", "--listen", "nowhere");
	REFUSED(&o, err, "--lb-agent '127.0.0.1:0':", "--lb-agent", "127.0.0.1:0");
	REFUSED(&o, err, "--throttle 'secrets=x':", "--throttle", "secrets=x");
	REFUSED(&o, err, "unexpected argument 'extra': kluisd takes only options", "extra");
	REFUSED(&o, err, "Try 'kluisd --help'", "--no-such-flag");
}

static void test_conninfo_is_never_echoed(void **state)
{
	struct options o;
	char err[512], longer[1100];

	(void)state;
	memset(longer, 'x', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	REFUSED(&o, err, "--peer-postgres '': must be 1-1024 characters", "--postgres", "h",
		"--peer-postgres", longer);
	assert_null(strstr(err, "xxxx"));
	REFUSED(&o, err, "--postgres-monitor '': needs --postgres", "--postgres-monitor",
		"password=hunter2");
	assert_null(strstr(err, "hunter2"));
	REFUSED(&o, err, "--postgres '': must be a libpq connection string", "--postgres", "");
}

static void test_flags_that_go_together(void **state)
{
	struct options o;
	struct io io;
	char err[512];

	(void)state;
	REFUSED(&o, err, "--oidc-issuer, --oidc-audience and --oidc-jwks go together",
		"--oidc-issuer", "https://i", "--oidc-audience", "a");
	REFUSED(&o, err, "--tls-key 'k.pem': --tls-cert and --tls-key go together", "--tls-key",
		"k.pem");
	REFUSED(&o, err, "--postgres-formation 'f': needs --postgres", "--postgres-formation",
		"f");
	assert_int_equal(parse_io(&o, &io, "--help", NULL), 1);
	assert_non_null(strstr(io.out, "Usage: kluisd [OPTION]..."));
}

/* --config's file: one "key = value" per flag, the flag's name without its dashes. */
static void test_config_file_sets_every_kind_of_value(void **state)
{
	struct tmpconf *t = *state;
	struct options o;
	struct io io;
	char path[128], text[512];

	snprintf(text, sizeof(text),
		 "# kluisd.conf: every kind of value\n"
		 "\n"
		 "data-dir = %s/data\n"			/* text */
		 "listen = [::1]:9443\n"			/* a checked address */
		 "  # an indented comment\n"
		 "threads = 12\n"				/* a number */
		 "read-only = yes\n"				/* a boolean flag */
		 "allow-core-dumps = Off\n"
		 "rotate-master-key = 1\n"
		 "dns-suffix = Vault.Example\n"		/* checked, stored lowercased */
		 "postgres = host=db dbname=kluis application_name=a#b\n"
		 "postgres-formation = \"  f  \"\n"	/* quotes keep the blanks */
		 "\t\n"
		 "throttle = scale=1,window=5\r\n"		/* a file from Windows */
		 "log-level = warn",				/* no newline at the end */
		 t->dir);
	assert_non_null(tmpconf_write(t, "kluisd.conf", text, path, sizeof(path)));
	assert_int_equal(parse_io(&o, &io, "--config", path, NULL), 0);
	assert_string_equal(io.err, "");
	assert_string_equal(io.out, "");
	assert_string_equal(o.config, path);
	assert_false(o.check_config);
	snprintf(text, sizeof(text), "%s/data", t->dir);
	assert_string_equal(o.data_dir, text);
	assert_true(o.listen.is_ipv6);
	assert_int_equal(o.listen.port, 9443);
	assert_int_equal(o.threads, 12);
	assert_true(o.read_only && o.rotate_master_key);
	assert_false(o.allow_core_dumps);
	assert_string_equal(o.dns_suffix, "vault.example");
	assert_string_equal(o.postgres, "host=db dbname=kluis application_name=a#b");
	assert_string_equal(o.pg_formation, "  f  ");
	assert_int_equal(o.throttle.window_s, 5);
	assert_int_equal(o.log_level, LOG_LV_WARN);
	assert_int_equal(o.retention_days, 90);	/* not in the file: the default */
	assert_non_null(o.config_text);
	options_clear(&o);
	assert_null(o.config_text);
	assert_null(o.postgres);
	options_clear(&o);	/* harmless twice */
}

static void test_flags_override_the_file_in_either_order(void **state)
{
	struct tmpconf *t = *state;
	struct options o;
	struct io io;
	char path[128];

	assert_non_null(tmpconf_write(t, "kluisd.conf", "listen = 127.0.0.1:9001\nthreads = 4\n"
				      "read-only = false\nregion = eu-1\n", path, sizeof(path)));
	assert_int_equal(parse_io(&o, &io, "--listen", "127.0.0.1:9002", "--read-only",
				  "--config", path, NULL), 0);
	assert_int_equal(o.listen.port, 9002);
	assert_true(o.read_only);
	assert_int_equal(o.threads, 4);
	assert_string_equal(o.region, "eu-1");
	options_clear(&o);
	assert_int_equal(parse_io(&o, &io, "--config", path, "--listen", "127.0.0.1:9002",
				  "--read-only", "--region", "us-2", NULL), 0);
	assert_int_equal(o.listen.port, 9002);
	assert_true(o.read_only);
	assert_int_equal(o.threads, 4);
	assert_string_equal(o.region, "us-2");
	options_clear(&o);
	/* a flag's bad value is the flag's error, wherever --config is */
	assert_int_equal(parse_io(&o, &io, "--threads", "0", "--config", path, NULL), -1);
	assert_string_equal(io.err, "kluisd: --threads '0': must be a number from 1 to 256\n"
			    "Try 'kluisd --help' for more information.\n");
}

/* The file of text must be refused with exactly "kluisd: PATH" and then expect. */
static void file_refused(struct tmpconf *t, const char *text, const char *expect)
{
	struct options o;
	struct io io;
	char path[128], want[1024];

	assert_non_null(tmpconf_write(t, "kluisd.conf", text, path, sizeof(path)));
	snprintf(want, sizeof(want), "kluisd: %s%s\n", path, expect);
	assert_int_equal(parse_io(&o, &io, "--config", path, NULL), -1);
	assert_string_equal(io.err, want);
	assert_string_equal(io.out, "");
	assert_null(strstr(io.err, "hunter2"));
	assert_null(o.config_text);	/* nothing left to free */
}

static void test_config_errors_give_the_line_and_why(void **state)
{
	struct tmpconf *t = *state;
	struct options o;
	struct io io;
	char path[128], want[512], *text = malloc(8300);

	file_refused(t, "listen = 127.0.0.1:1\n\nlisen = 127.0.0.1:2\n",
		     ":3: unknown key 'lisen': the keys are kluisd's flags without their leading "
		     "dashes (kluisd --help)");
	file_refused(t, "--listen = 127.0.0.1:2\n", ":1: unknown key '--listen': the keys are "
		     "kluisd's flags without their leading dashes (kluisd --help)");
	file_refused(t, "threads = 2\n# more\nthreads = 3\n",
		     ":3: threads is set twice (first on line 1)");
	file_refused(t, "threads = 2\nread-only\n", ":2: no '=': a line is 'key = value', a "
		     "comment starting with '#', or blank");
	file_refused(t, "\n = 5\n", ":2: no key before '='");
	file_refused(t, "region = \"eu-1\n",
		     ":1: the value starts with '\"' but does not end with one");
	file_refused(t, "threads = 0\n", ":1: threads '0': must be a number from 1 to 256");
	file_refused(t, "max-body = 268435457\n", ":1: max-body '268435457': must be a number of "
		     "bytes from 1 to 268435456");
	file_refused(t, "read-only = maybe\n",
		     ":1: read-only 'maybe': must be true or false (or yes/no, on/off, 1/0)");
	file_refused(t, "data-dir =\n", ":1: data-dir '': must be a path of 1 to 4064 bytes");
	file_refused(t, "listen = nowhere\n", ":1: listen 'nowhere': the listen address "
		     "'nowhere' has no port (expected HOST:PORT)");
	file_refused(t, "# nested\nconfig = /etc/kluis/other.conf\n",
		     ":2: config cannot be set in a configuration file, only on the command line");
	file_refused(t, "check-config = true\n", ":1: check-config cannot be set in a "
		     "configuration file, only on the command line");
	/* a line over 8 KiB: its text is not echoed */
	assert_non_null(text);
	strcpy(text, "# fine\ndata-dir = /hunter2/");
	memset(text + strlen(text), 'd', 8200);
	text[8250] = '\0';
	file_refused(t, text, ":2: the line is longer than 8192 bytes");
	free(text);
	/* the file as a whole: the path and why */
	snprintf(want, sizeof(want), "kluisd: %s: cannot open: No such file or directory\n",
		 tmpconf_path(t, "missing.conf", path, sizeof(path)));
	assert_int_equal(parse_io(&o, &io, "--config", path, NULL), -1);
	assert_string_equal(io.err, want);
	assert_int_equal(mkdir(tmpconf_path(t, "conf.d", path, sizeof(path)), 0700), 0);
	snprintf(want, sizeof(want), "kluisd: %s: not a regular file: it is a directory\n", path);
	assert_int_equal(parse_io(&o, &io, "--config", path, NULL), -1);
	assert_string_equal(io.err, want);
	assert_int_equal(parse_io(&o, &io, "--config", "", NULL), -1);
	assert_string_equal(io.err, "kluisd: --config '': must be a path of 1 to 4095 bytes\n"
			    "Try 'kluisd --help' for more information.\n");
}

static void test_config_never_echoes_a_conninfo(void **state)
{
	struct tmpconf *t = *state;
	char text[1300];

	file_refused(t, "postgres = \"\"\n", ":1: postgres (value not shown): must be a libpq "
		     "connection string or URI (e.g. 'host=db dbname=kluis')");
	snprintf(text, sizeof(text), "postgres = host=db\npeer-postgres = password=hunter2 ");
	memset(text + strlen(text), 'x', 1100);
	text[sizeof(text) - 1] = '\0';
	file_refused(t, text, ":2: peer-postgres (value not shown): must be 1-1024 characters");
	/* the key is what comes before the first '=': only it is echoed */
	file_refused(t, "postgres password=hunter2\n", ":1: unknown key 'postgres password': the "
		     "keys are kluisd's flags without their leading dashes (kluisd --help)");
	file_refused(t, "password hunter2\n", ":1: no '=': a line is 'key = value', a comment "
		     "starting with '#', or blank");
}

/* A conninfo from the file that fails a check spanning flags is not echoed either. */
static void test_config_checks_that_span_flags(void **state)
{
	struct tmpconf *t = *state;
	struct options o;
	struct io io;
	char path[128];

	assert_non_null(tmpconf_write(t, "kluisd.conf", "postgres-monitor = password=hunter2\n",
				      path, sizeof(path)));
	assert_int_equal(parse_io(&o, &io, "--config", path, NULL), -1);
	assert_string_equal(io.err, "kluisd: --postgres-monitor '': needs --postgres\n"
			    "Try 'kluisd --help' for more information.\n");
	/* the file and argv together satisfy it */
	assert_int_equal(parse_io(&o, &io, "--config", path, "--postgres", "host=db", NULL), 0);
	assert_string_equal(o.pg_monitor, "password=hunter2");
	options_clear(&o);
}

static void test_check_config(void **state)
{
	struct tmpconf *t = *state;
	struct options o;
	struct io io;
	char path[128], data[128], text[256], want[256];

	tmpconf_path(t, "data", data, sizeof(data));
	snprintf(text, sizeof(text), "data-dir = %s\nlisten = 127.0.0.1:1\n", data);
	assert_non_null(tmpconf_write(t, "kluisd.conf", text, path, sizeof(path)));
	snprintf(want, sizeof(want), "%s: ok\n", path);
	assert_int_equal(parse_io(&o, &io, "--config", path, "--check-config", NULL), 1);
	assert_string_equal(io.out, want);
	assert_string_equal(io.err, "");
	assert_int_equal(parse_io(&o, &io, "--check-config", "--threads", "3", "--config", path,
				  NULL), 1);
	assert_string_equal(io.out, want);
	assert_null(o.config_text);	/* answered: nothing left to free */
	/* it opened nothing: the data directory was not created */
	assert_int_equal(access(data, F_OK), -1);
	assert_int_equal(errno, ENOENT);
	/* the first error, and nothing on stdout */
	assert_int_equal(parse_io(&o, &io, "--check-config", "--config", path, "--threads", "0",
				  NULL), -1);
	assert_string_equal(io.out, "");
	assert_non_null(strstr(io.err, "--threads '0': must be a number from 1 to 256"));
	assert_int_equal(parse_io(&o, &io, "--check-config", "--config", path, "--tls-cert",
				  "c.pem", NULL), -1);
	assert_string_equal(io.out, "");
	assert_non_null(strstr(io.err, "--tls-cert and --tls-key go together"));
	assert_non_null(tmpconf_write(t, "kluisd.conf", "listen = 127.0.0.1:1\nthreads = many\n",
				      path, sizeof(path)));
	snprintf(want, sizeof(want), "kluisd: %s:2: threads 'many': must be a number from 1 to "
		 "256\n", path);
	assert_int_equal(parse_io(&o, &io, "--config", path, "--check-config", NULL), -1);
	assert_string_equal(io.out, "");
	assert_string_equal(io.err, want);
	/* only with --config */
	assert_int_equal(parse_io(&o, &io, "--check-config", NULL), -1);
	assert_string_equal(io.err, "kluisd: --check-config needs --config FILE\n"
			    "Try 'kluisd --help' for more information.\n");
	/* --help answers first, and lists both */
	assert_int_equal(parse_io(&o, &io, "--check-config", "--help", NULL), 1);
	assert_non_null(strstr(io.out, "\n  --config FILE "));
	assert_non_null(strstr(io.out, "\n  --check-config "));
	assert_string_equal(io.err, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_values_land_in_their_fields),
		cmocka_unit_test(test_usage_errors_say_which_flag_and_why),
		cmocka_unit_test(test_conninfo_is_never_echoed),
		cmocka_unit_test(test_flags_that_go_together),
		cmocka_unit_test_setup_teardown(test_config_file_sets_every_kind_of_value,
						tmpconf_setup, tmpconf_teardown),
		cmocka_unit_test_setup_teardown(test_flags_override_the_file_in_either_order,
						tmpconf_setup, tmpconf_teardown),
		cmocka_unit_test_setup_teardown(test_config_errors_give_the_line_and_why,
						tmpconf_setup, tmpconf_teardown),
		cmocka_unit_test_setup_teardown(test_config_never_echoes_a_conninfo, tmpconf_setup,
						tmpconf_teardown),
		cmocka_unit_test_setup_teardown(test_config_checks_that_span_flags, tmpconf_setup,
						tmpconf_teardown),
		cmocka_unit_test_setup_teardown(test_check_config, tmpconf_setup,
						tmpconf_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
