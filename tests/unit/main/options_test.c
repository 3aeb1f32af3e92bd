/* kluisd's command line (src/main/options.c): defaults, every kind of flag in and out of range,
 * the usage errors' exact text (on stderr; a conninfo is never echoed), the checks that span
 * flags, abbreviations and unknown flags. */
#include <getopt.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "main/options.h"

/* options_parse on "kluisd" and the NULL-terminated args; what it wrote on stderr into err. */
static int parse(struct options *o, char *err, size_t n, ...)
{
	char *argv[96] = { "kluisd" };
	int argc = 1, rc, saved;
	FILE *tmp = tmpfile();
	va_list ap;
	size_t got;

	va_start(ap, n);
	while (argc < 95 && (argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	assert_non_null(tmp);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	dup2(fileno(tmp), STDERR_FILENO);
	optind = 0;	/* GNU getopt: start afresh */
	rc = options_parse(argc, argv, o);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(tmp);
	got = fread(err, 1, n - 1, tmp);
	err[got] = '\0';
	fclose(tmp);
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
			       "host=peer", "--postgres-monitor", "host=mon", "--postgres-formation",
			       "f", "--tls-cert", "c.pem", "--tls-key", "k.pem", "--client-ca",
			       "ca.pem", "--audit-log", "-", "--allow-core-dumps",
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
	char err[512];

	(void)state;
	REFUSED(&o, err, "--oidc-issuer, --oidc-audience and --oidc-jwks go together",
		"--oidc-issuer", "https://i", "--oidc-audience", "a");
	REFUSED(&o, err, "--tls-key 'k.pem': --tls-cert and --tls-key go together", "--tls-key",
		"k.pem");
	REFUSED(&o, err, "--postgres-formation 'f': needs --postgres", "--postgres-formation",
		"f");
	assert_int_equal(parse(&o, err, sizeof(err), "--help", NULL), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_values_land_in_their_fields),
		cmocka_unit_test(test_usage_errors_say_which_flag_and_why),
		cmocka_unit_test(test_conninfo_is_never_echoed),
		cmocka_unit_test(test_flags_that_go_together),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
