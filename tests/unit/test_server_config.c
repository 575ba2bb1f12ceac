/* test_server_config.c - drover-server's options: the -config file (Nomad's server
 * block) under the flags, its errors with file:line:col. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "controlplane/config.h"
#include "tests/unit/tmpdir.h"

static char dir[TMPDIR_SIZE];
static char path[TMPDIR_PATH_MAX]; /* the -config file */

static void setup(void) {
        tmpdir_create(dir, "test-config");
}

static void teardown(void) {
        tmpdir_remove(dir);
}

TestSuite(server_config, .init = setup, .fini = teardown);

/* The -config file (one a test, written again by each call). */
static void write_config(const char *text) {
        snprintf(path, sizeof(path), "%s", tmpdir_put(dir, "server.hcl", text));
}

static int parse(struct server_config *cfg, const char *extra, struct error *err) {
        char *argv[] = {"drover-server", "-config", path, (char *)extra, NULL};
        return server_config_parse(cfg, extra ? 4 : 3, argv, err);
}

Test(server_config, the_server_block_and_retry_join_set_the_cluster_options) {
        write_config("data_dir = \"/tmp/x\"\n"
                     "server {\n  enabled = true\n  bootstrap_expect = 3\n  raft_snapshot_threshold = 100\n"
                     "  server_join {\n    retry_join = [\"127.0.0.1:4646\", \"127.0.0.2:4646\"]\n  }\n}\n");
        struct server_config cfg;
        struct error err = {0};
        cr_assert_eq(parse(&cfg, NULL, &err), 0, "%s", err.msg);
        cr_expect_eq(cfg.bootstrap_expect, 3);
        cr_expect_eq(cfg.raft_snapshot_threshold, 100);
        cr_expect_str_eq(cfg.join, "127.0.0.1:4646,127.0.0.2:4646");
        cr_expect_str_eq(cfg.data_dir, "/tmp/x");
        cr_expect(server_config_clustered(&cfg));
        server_config_free(&cfg);
        /* a flag wins over the file */
        cr_assert_eq(parse(&cfg, "-raft-snapshot-threshold=200", &err), 0, "%s", err.msg);
        cr_expect_eq(cfg.raft_snapshot_threshold, 200);
        server_config_free(&cfg);
}

Test(server_config, unknown_settings_and_bad_values_say_where) {
        struct server_config cfg;
        struct error err = {0};
        int r;
        write_config("server {\n  bootstrap_expekt = 3\n}\n");
        r = parse(&cfg, NULL, &err);
        cr_expect_lt(r, 0);
        cr_expect(strstr(err.msg, ":2:3: unknown setting \"bootstrap_expekt\" in server"), "%s", err.msg);
        server_config_free(&cfg);
        write_config("server {\n  bootstrap_expect = 99\n}\n");
        r = parse(&cfg, NULL, &err);
        cr_expect_lt(r, 0);
        cr_expect(strstr(err.msg, ":2:3: server.bootstrap_expect: -bootstrap-expect: expected an integer"), "%s",
                  err.msg);
        server_config_free(&cfg);
        write_config("server {\n  server_join {\n    retry_join = \"one\"\n  }\n}\n");
        r = parse(&cfg, NULL, &err);
        cr_expect_lt(r, 0);
        cr_expect(strstr(err.msg, "retry_join: expected a list"), "%s", err.msg);
        server_config_free(&cfg);
        snprintf(path, sizeof(path), "/nonexistent/drover.hcl");
        r = parse(&cfg, NULL, &err);
        cr_expect_lt(r, 0);
        cr_expect(strstr(err.msg, "-config /nonexistent/drover.hcl"), "%s", err.msg);
        server_config_free(&cfg);
}

Test(server_config, the_tls_block_sets_rpc_and_rpc_needs_all_three_files) {
        struct server_config cfg;
        struct error err = {0};
        write_config("tls {\n  rpc = true\n  ca_file = \"/c/ca.pem\"\n  cert_file = \"/c/s.pem\"\n"
                     "  key_file = \"/c/s-key.pem\"\n}\n");
        cr_assert_eq(parse(&cfg, NULL, &err), 0, "%s", err.msg);
        cr_expect(cfg.tls_rpc);
        cr_expect(!cfg.tls_http);
        cr_expect_str_eq(cfg.tls_ca_file, "/c/ca.pem");
        cr_expect_str_eq(cfg.tls_key_file, "/c/s-key.pem");
        server_config_free(&cfg);
        /* without the CA, peers could not be verified: refused with a message */
        write_config("tls {\n  rpc = true\n  cert_file = \"/c/s.pem\"\n  key_file = \"/c/s-key.pem\"\n}\n");
        cr_expect_lt(parse(&cfg, NULL, &err), 0);
        cr_expect(strstr(err.msg, "-tls-rpc needs -tls-ca-file"), "%s", err.msg);
        server_config_free(&cfg);
}

Test(server_config, the_region_names_the_raft_role_and_is_a_dns_label) {
        write_config("region = \"eu\"\n");
        struct server_config cfg;
        struct error err = {0};
        cr_assert_eq(parse(&cfg, NULL, &err), 0, "%s", err.msg);
        cr_expect_str_eq(cfg.region, "eu");
        server_config_free(&cfg);
        write_config("data_dir = \"/tmp/x\"\n");
        cr_assert_eq(parse(&cfg, NULL, &err), 0, "%s", err.msg);
        cr_expect_str_eq(cfg.region, "global", "the default, as Nomad's");
        server_config_free(&cfg);
        const char *bad[] = {"region = \"eu.west\"\n", "region = \"\"\n", "region = \"../x\"\n"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                write_config(bad[i]);
                memset(&err, 0, sizeof(err));
                cr_expect_lt(parse(&cfg, NULL, &err), 0, "%s", bad[i]);
                cr_expect(strstr(err.msg, "a region is 1 to 63 letters") != NULL, "%s: %s", bad[i], err.msg);
                server_config_free(&cfg);
        }
}

Test(server_config, datacenter_and_name_come_from_the_file_under_the_flags_and_are_bounded) {
        write_config("name = \"s1\"\ndatacenter = \"eu-west-1a\"\n");
        struct server_config cfg;
        struct error err = {0};
        cr_assert_eq(parse(&cfg, NULL, &err), 0, "%s", err.msg);
        cr_expect_str_eq(cfg.name, "s1");
        cr_expect_str_eq(cfg.datacenter, "eu-west-1a");
        cr_expect(cfg.config_notes == NULL || strstr(cfg.config_notes, "datacenter") == NULL, "%s", cfg.config_notes);
        server_config_free(&cfg);
        cr_assert_eq(parse(&cfg, "-dc=dc-flag", &err), 0, "%s", err.msg);
        cr_expect_str_eq(cfg.datacenter, "dc-flag", "the flag wins over the file");
        server_config_free(&cfg);
        write_config("data_dir = \"/tmp/x\"\n");
        cr_assert_eq(parse(&cfg, NULL, &err), 0, "%s", err.msg);
        cr_expect_str_eq(cfg.datacenter, "dc1", "Nomad's default");
        cr_expect_str_eq(cfg.name, "", "the host name, taken by the API");
        server_config_free(&cfg);
        const char *bad[][2] = {{"datacenter = \"\"\n", "a datacenter is 1 to 128"},
                                {"datacenter = \"a b\"\n", "a datacenter is 1 to 128"},
                                {"name = \"a b\"\n", "-name \"a b\": at most 128 printable"}};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                write_config(bad[i][0]);
                memset(&err, 0, sizeof(err));
                cr_expect_lt(parse(&cfg, NULL, &err), 0, "%s", bad[i][0]);
                cr_expect(strstr(err.msg, bad[i][1]) != NULL, "%s: %s", bad[i][0], err.msg);
                server_config_free(&cfg);
        }
}

Test(server_config, the_join_token_comes_from_the_server_block_is_bounded_and_acls_with_join_need_it) {
        write_config("acl {\n  enabled = true\n}\nserver {\n  bootstrap_expect = 3\n  join_token = \"0123456789abcdef\"\n"
                     "  server_join {\n    retry_join = [\"127.0.0.1:4646\"]\n  }\n}\n");
        struct server_config cfg;
        struct error err = {0};
        cr_assert_eq(parse(&cfg, NULL, &err), 0, "%s", err.msg);
        cr_expect_str_eq(cfg.join_token, "0123456789abcdef");
        server_config_free(&cfg);
        cr_expect_lt(parse(&cfg, "-join-token=short", &err), 0);
        cr_expect(strstr(err.msg, "16 to 128"), "%s", err.msg);
        server_config_free(&cfg);
        cr_expect_lt(parse(&cfg, "-join-token=0123456789abcdef\x01", &err), 0, "a control character");
        server_config_free(&cfg);
        write_config("acl {\n  enabled = true\n}\nserver {\n  bootstrap_expect = 3\n"
                     "  server_join {\n    retry_join = [\"127.0.0.1:4646\"]\n  }\n}\n");
        cr_expect_lt(parse(&cfg, NULL, &err), 0);
        cr_expect(strstr(err.msg, "-join-token"), "ACLs and -join without a join token: %s", err.msg);
        server_config_free(&cfg);
}

Test(server_config, tls_verify_server_hostname_is_accepted_true_and_refused_false) {
        write_config("tls {\n  verify_server_hostname = true\n}\n");
        struct server_config cfg;
        struct error err = {0};
        cr_expect_eq(parse(&cfg, NULL, &err), 0, "%s", err.msg);
        server_config_free(&cfg);
        write_config("tls {\n  verify_server_hostname = false\n}\n");
        cr_expect_lt(parse(&cfg, NULL, &err), 0);
        cr_expect(strstr(err.msg, "verify_server_hostname") && strstr(err.msg, ":2:"), "%s", err.msg);
        server_config_free(&cfg);
}

Test(server_config, json_and_nomads_ports_and_bind_addr_set_the_listeners) {
        const char *json =
            tmpdir_put(dir, "server.json",
                       "{\"bind_addr\": \"10.1.2.3\", \"ports\": {\"http\": 5646, \"rpc\": 5647},\n"
                       " \"server\": [{\"enabled\": true, \"num_schedulers\": 3}], \"client\": {\"enabled\": true}}");
        write_config("log_level = \"ERR\"\n");
        char *argv[] = {"drover-server", "-config", path, "-config", (char *)json, NULL};
        struct server_config cfg;
        struct error err = {0};
        cr_assert_eq(server_config_parse(&cfg, 5, argv, &err), 0, "%s", err.msg);
        cr_expect_str_eq(cfg.http_addr, "10.1.2.3:5646");
        cr_expect_str_eq(cfg.raft_addr, "127.0.0.1:5647", "bind_addr is not the advertised Raft address");
        cr_expect_eq(cfg.num_schedulers, 3);
        cr_expect_str_eq(cfg.log_level, "error");
        cr_expect(strstr(cfg.config_file, ",") != NULL, "both files: %s", cfg.config_file);
        cr_expect(strstr(cfg.config_notes, "config: client.enabled is not used by drover-server ("), "%s",
                  cfg.config_notes);
        server_config_free(&cfg);
}

Test(server_config, the_agents_listener_comes_from_the_server_block_and_is_off_by_default) {
        write_config("server {\n  enabled = true\n}\n");
        struct server_config cfg;
        struct error err = {0};
        cr_assert_eq(parse(&cfg, NULL, &err), 0, "%s", err.msg);
        cr_expect_str_eq(cfg.agent_addr, "", "off unless set");
        server_config_free(&cfg);
        write_config("server {\n  agent_addr = \"127.0.0.1:4648\"\n}\n");
        cr_assert_eq(parse(&cfg, "-agent-max-parked=100", &err), 0, "%s", err.msg);
        cr_expect_str_eq(cfg.agent_addr, "127.0.0.1:4648");
        cr_expect_eq(cfg.agent_max_parked, 100);
        cr_expect_eq(cfg.agent_max_conns, 8192);
        server_config_free(&cfg);
        cr_expect_lt(parse(&cfg, "-agent-addr=127.0.0.1:4646", &err), 0, "the HTTP API's own address");
        cr_expect(strstr(err.msg, "other than -http-addr"), "%s", err.msg);
        server_config_free(&cfg);
        cr_expect_lt(parse(&cfg, "-agent-addr=4648", &err), 0, "no ip:port");
        server_config_free(&cfg);
}

Test(server_config, rpc_hold_timeout_is_5s_by_default_from_the_server_block_and_0_turns_holding_off) {
        write_config("server {\n  enabled = true\n}\n");
        struct server_config cfg;
        struct error err = {0};
        cr_assert_eq(parse(&cfg, NULL, &err), 0, "%s", err.msg);
        cr_expect_eq(cfg.rpc_hold_timeout_ms, 5000, "Nomad's default");
        server_config_free(&cfg);
        write_config("server {\n  enabled = true\n  rpc_hold_timeout = \"2500ms\"\n}\n");
        cr_assert_eq(parse(&cfg, NULL, &err), 0, "%s", err.msg);
        cr_expect_eq(cfg.rpc_hold_timeout_ms, 2500);
        server_config_free(&cfg);
        cr_assert_eq(parse(&cfg, "-rpc-hold-timeout=0", &err), 0, "%s", err.msg);
        cr_expect_eq(cfg.rpc_hold_timeout_ms, 0, "the flag wins over the file");
        server_config_free(&cfg);
        cr_expect_lt(parse(&cfg, "-rpc-hold-timeout=11m", &err), 0, "at most 10 minutes");
        server_config_free(&cfg);
}
