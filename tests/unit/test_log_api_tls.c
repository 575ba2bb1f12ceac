/* test_log_api_tls.c - the agent's log endpoint (nodeagent/logs/log_api.c) over
 * HTTPS: -tls-http serves only TLS, -tls-verify-https-client asks every request
 * for a certificate of the agent's CA (403 with the reason otherwise).
 * Certificates: tests/security/pem (README there). Each Test runs in its own
 * process (criterion), so http_client_set_tls stays within one test. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/http_client.h"
#include "common/tls.h"
#include "nodeagent/logs/log_api.h"
#include "tests/unit/tmpdir.h"

#define PEM "tests/security/pem/"
#define SECRET "0123456789abcdef0123456789abcdef"
#define AID "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"

static char dir[TMPDIR_SIZE];

static void setup(void) {
        tmpdir_create(dir, "logtls");
        tmpdir_put(dir, "alloc/" AID "/alloc/logs/web.stdout.0", "over tls\n");
}

static void teardown(void) {
        tmpdir_remove(dir);
}

TestSuite(log_api_tls, .init = setup, .fini = teardown);

static const struct tls_config mtls = {.http = true,
                                       .ca_file = PEM "ca.pem",
                                       .cert_file = PEM "server.pem",
                                       .key_file = PEM "server-key.pem",
                                       .verify_client = true};

/* GET the log as a client with that certificate (NULL: none); *ret_rc the transfer's result. */
static char *get(struct log_api *api, const char *scheme, const char *cert, const char *key, long *ret_status,
                 int *ret_rc) {
        struct tls_client tc = {0};
        snprintf(tc.ca_cert, sizeof(tc.ca_cert), "%s", PEM "ca.pem");
        if (cert) {
                snprintf(tc.client_cert, sizeof(tc.client_cert), "%s", cert);
                snprintf(tc.client_key, sizeof(tc.client_key), "%s", key);
        }
        http_client_set_tls(&tc);
        char base[64];
        snprintf(base, sizeof(base), "%s://127.0.0.1:%d", scheme, log_api_port(api));
        const char *const hdrs[] = {"X-Drover-Token: " SECRET, NULL};
        struct http_response r = {0};
        struct error err = {0};
        *ret_rc =
            http_request_headers(base, "GET", "/v1/client/fs/logs/" AID "?task=web&type=stdout", hdrs, 5000, &r, &err);
        *ret_status = *ret_rc == 0 ? r.status : 0;
        char *body = strdup(*ret_rc == 0 && r.body ? r.body : err.msg);
        http_response_clear(&r);
        return body;
}

Test(log_api_tls, a_client_certificate_of_the_agents_ca_reads_logs_over_https) {
        struct log_api *api = NULL;
        struct error err = {0};
        cr_assert_eq(log_api_start_tls("127.0.0.1:0", dir, SECRET, &mtls, &api, &err), 0, "%s", err.msg);
        long st;
        int rc;
        char *b = get(api, "https", PEM "client.pem", PEM "client-key.pem", &st, &rc);
        cr_expect_eq(st, 200, "%d %ld %s", rc, st, b);
        cr_expect_str_eq(b, "over tls\n");
        free(b);
        log_api_stop(api);
}

Test(log_api_tls, no_certificate_or_another_cas_is_refused_403) {
        struct log_api *api = NULL;
        struct error err = {0};
        cr_assert_eq(log_api_start_tls("127.0.0.1:0", dir, SECRET, &mtls, &api, &err), 0, "%s", err.msg);
        long st;
        int rc;
        char *b = get(api, "https", NULL, NULL, &st, &rc);
        cr_expect_eq(st, 403, "%d %ld %s", rc, st, b);
        cr_expect(strstr(b, "client certificate"), "%s", b);
        cr_expect_null(strstr(b, "over tls"));
        free(b);
        b = get(api, "https", PEM "intruder.pem", PEM "intruder-key.pem", &st, &rc);
        cr_expect(st == 403 || rc < 0, "another CA's certificate: %d %ld %s", rc, st, b);
        cr_expect_null(strstr(b, "over tls"));
        free(b);
        log_api_stop(api);
}

Test(log_api_tls, plain_http_to_the_https_endpoint_gets_no_answer) {
        struct log_api *api = NULL;
        struct error err = {0};
        cr_assert_eq(log_api_start_tls("127.0.0.1:0", dir, SECRET, &mtls, &api, &err), 0, "%s", err.msg);
        long st;
        int rc;
        char *b = get(api, "http", PEM "client.pem", PEM "client-key.pem", &st, &rc);
        cr_expect(rc < 0 || st == 0, "plain HTTP answered %ld: %s", st, b);
        cr_expect_null(strstr(b, "over tls"));
        free(b);
        log_api_stop(api);
}

Test(log_api_tls, bad_tls_settings_stop_the_start_with_a_message) {
        struct log_api *api = NULL;
        struct error err = {0};
        struct tls_config bad = mtls;
        bad.key_file = PEM "client-key.pem";
        cr_expect_lt(log_api_start_tls("127.0.0.1:0", dir, SECRET, &bad, &api, &err), 0);
        cr_expect(strstr(err.msg, "log endpoint"), "%s", err.msg);
        cr_expect_null(api);
        bad = mtls;
        bad.ca_file = NULL;
        cr_expect_lt(log_api_start_tls("127.0.0.1:0", dir, SECRET, &bad, &api, &err), 0);
        cr_expect(strstr(err.msg, "verify_https_client needs ca_file"), "%s", err.msg);
}
