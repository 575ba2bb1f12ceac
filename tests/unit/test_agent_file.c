/* test_agent_file.c - the shared reader of Nomad's agent configuration file
 * (common/agent_file.c), driven with a program table of its own: HCL and JSON give
 * the same options, later files and then flags win, a directory is read in name
 * order, ignored keys are noted once, unknown keys and bad values name FILE:LINE:COL
 * and the key path, and the bounds hold. */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/agent_file.h"
#include "common/error.h"
#include "common/flags.h"
#include "common/macros.h"
#include "tests/unit/tmpdir.h"

struct prog {
        char *data_dir, *http_addr, *servers, *meta, *level, *pool;
        int64_t expect, grace_ms;
        bool acl, raw_exec;
};

#define F(field) offsetof(struct prog, field)
static const struct flag flags[] = {
    {"data-dir", FLAG_STR, "/var/lib/x", 0, 0, F(data_dir), ""},
    {"http-addr", FLAG_STR, "127.0.0.1:4646", 0, 0, F(http_addr), ""},
    {"servers", FLAG_STR, "", 0, 0, F(servers), ""},
    {"meta", FLAG_STR, "", 0, 0, F(meta), ""},
    {"log-level", FLAG_STR, "info", 0, 0, F(level), ""},
    {"node-pool", FLAG_STR, "default", 0, 0, F(pool), ""},
    {"bootstrap-expect", FLAG_INT, "0", 0, 7, F(expect), ""},
    {"heartbeat-grace", FLAG_DURATION_MS, "10s", 0, 3600000, F(grace_ms), ""},
    {"acl-enabled", FLAG_BOOL, "false", 0, 0, F(acl), ""},
    {"raw-exec", FLAG_BOOL, "false", 0, 0, F(raw_exec), ""},
};
static const struct agent_file_key keys[] = {
    {"data_dir", AGENT_FILE_SET, "data-dir"},
    {"log_level", AGENT_FILE_LEVEL, "log-level"},
    {"bind_addr", AGENT_FILE_HOST, "http-addr"},
    {"ports.http", AGENT_FILE_PORT, "http-addr"},
    {"server.enabled", AGENT_FILE_TRUE, NULL, "test-prog is always a server"},
    {"server.bootstrap_expect", AGENT_FILE_SET, "bootstrap-expect"},
    {"server.heartbeat_grace", AGENT_FILE_SET, "heartbeat-grace"},
    {"server.server_join.retry_join", AGENT_FILE_LIST, "servers"},
    {"client.node_pool", AGENT_FILE_SET, "node-pool"},
    {"client.meta", AGENT_FILE_MAP, "meta"},
    {"client.options.driver.raw_exec.enable", AGENT_FILE_SET, "raw-exec"},
    {"acl.enabled", AGENT_FILE_SET, "acl-enabled"},
};
static const struct agent_file_spec spec = {
    .program = "test-prog", .keys = keys, .n_keys = ARRAY_SIZE(keys), .flags = flags, .n_flags = ARRAY_SIZE(flags)};

static char dir[TMPDIR_SIZE];
static struct prog cfg;
static struct agent_file *af;

static void setup(void) {
        tmpdir_create(dir, "agentfile");
        memset(&cfg, 0, sizeof(cfg));
        cr_assert_eq(flags_defaults(&cfg, flags, ARRAY_SIZE(flags), NULL), 0);
        cr_assert_eq(agent_file_create(&spec, &af, NULL), 0);
}

static void teardown(void) {
        af = agent_file_destroy(af);
        flags_free(&cfg, flags, ARRAY_SIZE(flags));
        tmpdir_remove(dir);
}

TestSuite(agent_file, .init = setup, .fini = teardown);

static const char *put(const char *name, const char *text) {
        return tmpdir_put(dir, name, text);
}

static int load(const char *path, struct error *err) {
        return agent_file_load(af, &cfg, path, err);
}

static const char hcl_text[] =
    "data_dir = \"/srv/d\"\n"
    "log_level = \"DEBUG\"\n"
    "bind_addr = \"10.0.0.5\"\n"
    "ports {\n  http = 5646\n  serf = 5648\n}\n"
    "server {\n  enabled = true\n  bootstrap_expect = 3\n  heartbeat_grace = \"30s\"\n"
    "  server_join {\n    retry_join = [\"10.0.0.1:4646\", \"10.0.0.2:4646\"]\n  }\n}\n"
    "client {\n  node_pool = \"gpu\"\n  meta {\n    rack = \"r1\"\n    slots = 4\n  }\n"
    "  options = { \"driver.raw_exec.enable\" = \"1\", \"driver.allowlist\" = \"exec\" }\n}\n"
    "acl {\n  enabled = true\n}\n"
    "telemetry {\n  prometheus_metrics = true\n}\n";

static const char json_text[] =
    "{\n"
    "  \"data_dir\": \"/srv/d\",\n"
    "  \"log_level\": \"DEBUG\",\n"
    "  \"bind_addr\": \"10.0.0.5\",\n"
    "  \"ports\": {\"http\": 5646, \"serf\": 5648},\n"
    "  \"server\": [{\"enabled\": true, \"bootstrap_expect\": 3, \"heartbeat_grace\": \"30s\",\n"
    "              \"server_join\": {\"retry_join\": [\"10.0.0.1:4646\", \"10.0.0.2:4646\"]}}],\n"
    "  \"client\": {\"node_pool\": \"gpu\", \"meta\": {\"rack\": \"r1\", \"slots\": 4},\n"
    "             \"options\": {\"driver.raw_exec.enable\": \"1\", \"driver.allowlist\": \"exec\"}},\n"
    "  \"acl\": {\"enabled\": true},\n"
    "  \"telemetry\": {\"prometheus_metrics\": true}\n"
    "}\n";

static void expect_full(void) {
        cr_expect_str_eq(cfg.data_dir, "/srv/d");
        cr_expect_str_eq(cfg.level, "debug", "Nomad's upper-case level, lowered");
        cr_expect_str_eq(cfg.http_addr, "10.0.0.5:5646", "bind_addr and ports.http make one ip:port");
        cr_expect_eq(cfg.expect, 3);
        cr_expect_eq(cfg.grace_ms, 30000);
        cr_expect_str_eq(cfg.servers, "10.0.0.1:4646,10.0.0.2:4646");
        cr_expect_str_eq(cfg.pool, "gpu");
        cr_expect_str_eq(cfg.meta, "rack=r1,slots=4");
        cr_expect(cfg.raw_exec, "client.options \"driver.raw_exec.enable\" = \"1\"");
        cr_expect(cfg.acl);
}

Test(agent_file, hcl_and_json_give_the_same_options_and_notes) {
        struct error err = {0};
        cr_assert_eq(load(put("a.hcl", hcl_text), &err), 0, "%s", err.msg);
        expect_full();
        const char *n = agent_file_notes(af);
        cr_expect(strstr(n, "config: ports.serf is not used by test-prog (") && strstr(n, "a.hcl:6:3)\n"), "%s", n);
        cr_expect(strstr(n, "config: client.options.driver.allowlist is not used by test-prog"), "%s", n);
        cr_expect(strstr(n, "config: telemetry.prometheus_metrics is not used by test-prog ("), "%s", n);
        cr_expect_null(strstr(n, "data_dir"), "an honoured key is not noted: %s", n);

        struct prog hcl = cfg;
        memset(&cfg, 0, sizeof(cfg));
        cr_assert_eq(flags_defaults(&cfg, flags, ARRAY_SIZE(flags), NULL), 0);
        cr_assert_eq(load(put("b.json", json_text), &err), 0, "%s", err.msg);
        expect_full();
        cr_expect_eq(hcl.raw_exec, cfg.raw_exec);
        flags_free(&hcl, flags, ARRAY_SIZE(flags));
        cr_expect(strstr(agent_file_sources(af), "/a.hcl,") && strstr(agent_file_sources(af), "/b.json"), "%s",
                  agent_file_sources(af));
        /* the JSON key's position is found in the text */
        af = agent_file_destroy(af);
        cr_assert_eq(agent_file_create(&spec, &af, NULL), 0);
        cr_assert_eq(load(put("c.json", json_text), &err), 0, "%s", err.msg);
        cr_expect(strstr(agent_file_notes(af), "config: ports.serf is not used by test-prog (") &&
                      strstr(agent_file_notes(af), "c.json:5:27)"),
                  "%s", agent_file_notes(af));
}

Test(agent_file, a_later_file_wins_maps_merge_and_an_ignored_key_is_noted_once) {
        struct error err = {0};
        cr_assert_eq(load(put("1.hcl", "data_dir = \"/one\"\nports { http = 1111 }\nname = \"a\"\n"
                                       "client {\n  meta { rack = \"r1\"\n  zone = \"z1\" }\n}\n"),
                          &err),
                     0, "%s", err.msg);
        cr_assert_eq(load(put("2.json", "{\"ports\": {\"http\": 2222}, \"name\": \"b\", "
                                        "\"client\": {\"meta\": {\"rack\": \"r2\"}}}"),
                          &err),
                     0, "%s", err.msg);
        cr_expect_str_eq(cfg.data_dir, "/one", "what the later file does not set stays");
        cr_expect_str_eq(cfg.http_addr, "127.0.0.1:2222");
        cr_expect_str_eq(cfg.meta, "zone=z1,rack=r2", "the later file's rack replaces the earlier one");
        const char *n = agent_file_notes(af);
        const char *first = strstr(n, "config: name is not used");
        cr_expect(first && !strstr(first + 1, "config: name is not used"), "noted once: %s", n);
        cr_expect(strstr(agent_file_sources(af), "1.hcl,") && strstr(agent_file_sources(af), "2.json"), "%s",
                  agent_file_sources(af));
        /* the program's flags come after the files, and win */
        char *argv[] = {"prog", "-data-dir", "/flag"};
        cr_assert_eq(flags_parse(&cfg, flags, ARRAY_SIZE(flags), 3, argv, &err), 0, "%s", err.msg);
        cr_expect_str_eq(cfg.data_dir, "/flag");
}

Test(agent_file, a_directory_is_read_in_name_order_and_args_find_every_config) {
        char sub[300];
        snprintf(sub, sizeof(sub), "%s/conf.d", dir);
        cr_assert_eq(mkdir(sub, 0755), 0);
        put("conf.d/20-b.json", "{\"data_dir\": \"/b\"}");
        put("conf.d/10-a.hcl", "data_dir = \"/a\"\nports { http = 3000 }\n");
        put("conf.d/30-c.txt", "not read = at all");
        put("conf.d/.hidden.hcl", "bad bad");
        put("z.conf", "{\"acl\": {\"enabled\": true}}"); /* JSON by its content */
        struct error err = {0};
        char zpath[300];
        snprintf(zpath, sizeof(zpath), "%s/z.conf", dir);
        char *argv[] = {"prog", "-config", sub, "-data-dir=/x", "--config=", NULL};
        char eq[320];
        snprintf(eq, sizeof(eq), "--config=%s", zpath);
        argv[4] = eq;
        cr_assert_eq(agent_file_load_args(af, &cfg, 5, argv, &err), 2, "%s", err.msg);
        cr_expect_str_eq(cfg.data_dir, "/b", "20-b.json after 10-a.hcl");
        cr_expect_str_eq(cfg.http_addr, "127.0.0.1:3000");
        cr_expect(cfg.acl);
        cr_expect(strstr(agent_file_sources(af), "10-a.hcl") < strstr(agent_file_sources(af), "20-b.json"), "%s",
                  agent_file_sources(af));
}

static void expect_error(const char *name, const char *text, const char *want) {
        const char *p = put(name, text);
        struct error err = {0};
        cr_expect_lt(load(p, &err), 0, "%s was accepted", text);
        cr_expect(strstr(err.msg, want), "error \"%s\" lacks \"%s\"", err.msg, want);
}

Test(agent_file, unknown_keys_name_file_line_col_and_the_key_path) {
        expect_error("u.hcl", "server {\n  enabled = true\n  bootstrap_expekt = 3\n}\n",
                     "u.hcl:3:3: unknown setting \"bootstrap_expekt\" in server (server.bootstrap_expekt");
        expect_error("t.hcl", "\n\ndata_dri = \"x\"\n", "t.hcl:3:1: unknown setting \"data_dri\" (data_dri");
        expect_error("u.json", "{\n  \"server\": {\n    \"enabled\": true,\n    \"foo\": 1\n  }\n}\n",
                     "u.json:4:5: unknown setting \"foo\" in server (server.foo");
        expect_error("l.hcl", "server \"x\" {\n}\n", "l.hcl:1:1: server: takes no label");
}

Test(agent_file, bad_types_and_values_say_where) {
        expect_error("p.hcl", "ports { http = \"x\" }\n",
                     "p.hcl:1:9: ports.http: expected a port number (got a string)");
        expect_error("r.hcl", "ports { http = 70000 }\n", "ports.http: expected a port number from 1 to 65535");
        expect_error("b.hcl", "acl { enabled = 2 }\n", "acl.enabled: expected true or false (got a number)");
        expect_error("bs.hcl", "acl { enabled = \"maybe\" }\n", "acl.enabled: -acl-enabled: expected true or false");
        expect_error("i.hcl", "server { bootstrap_expect = 9 }\n",
                     "i.hcl:1:10: server.bootstrap_expect: -bootstrap-expect: expected an integer from 0 to 7");
        expect_error("d.hcl", "server { heartbeat_grace = \"soon\" }\n", "server.heartbeat_grace: -heartbeat-grace");
        expect_error("d2.hcl", "server { heartbeat_grace = 30 }\n",
                     "server.heartbeat_grace: expected a duration string such as \"10s\" (got a number)");
        expect_error("s.hcl", "data_dir = [\"a\"]\n", "data_dir: expected a string (got a list)");
        expect_error("x.hcl", "data_dir = \"${env}\"\n", "data_dir: expected a string (got a template string");
        expect_error("j.hcl", "server { server_join { retry_join = \"one\" } }\n",
                     "server.server_join.retry_join: expected a list of strings (got a string)");
        expect_error("c.hcl", "server { server_join { retry_join = [\"a,b\"] } }\n", "entry 1: expected a string");
        expect_error("k.hcl", "ports = 1\n", "k.hcl:1:1: ports: expected a block (got a number)");
        expect_error("m.hcl", "client { meta = [\"a\"] }\n",
                     "client.meta: expected a block of key = value (got a list)");
        expect_error("mk.hcl", "client { meta = { \"a=b\" = \"c\" } }\n", "client.meta: key \"a=b\"");
        expect_error("lv.hcl", "log_level = \"loud\"\n", "log_level: expected trace, debug, info, warn or error");
        expect_error("h.hcl", "bind_addr = \"10.0.0.1/8\"\n", "bind_addr: expected an IP address");
        expect_error("e.hcl", "server { enabled = false }\n",
                     "e.hcl:1:10: server.enabled: test-prog is always a server (expected true)");
        expect_error("v.hcl", "data_dir {\n}\n", "v.hcl:1:1: data_dir: expected a string (got a block)");
        expect_error("n.hcl", "name {\n}\n", "n.hcl:1:1: name: expected a value, not a block");
        expect_error("bad.json", "{\"ports\": ", "bad.json:1:");
        expect_error("arr.json", "[1]", "arr.json: expected a JSON object");
        expect_error("syn.hcl", "ports {\n", "syn.hcl:");
        struct error err = {0};
        cr_expect_lt(load("/nonexistent/a.hcl", &err), 0);
        cr_expect(strstr(err.msg, "-config /nonexistent/a.hcl: No such file"), "%s", err.msg);
}

Test(agent_file, bounds_size_nesting_and_string_length) {
        /* a file over the size limit */
        static char big[AGENT_FILE_MAX_BYTES + 64];
        memset(big, '\n', sizeof(big) - 1);
        memcpy(big, "data_dir = \"/x\"", 15);
        expect_error("big.hcl", big, "larger than 1048576 bytes");
        /* nesting */
        static char deep[400];
        size_t n = 0;
        n += (size_t)snprintf(deep + n, sizeof(deep) - n, "{\"x\": ");
        for (int i = 0; i < 70; i++)
                deep[n++] = '[';
        for (int i = 0; i < 70; i++)
                deep[n++] = ']';
        snprintf(deep + n, sizeof(deep) - n, "}");
        expect_error("deep.json", deep, "nested deeper than 64 levels");
        /* a string */
        static char longs[AGENT_FILE_MAX_STRING + 64];
        memset(longs, 'a', sizeof(longs));
        memcpy(longs, "data_dir = \"", 12);
        memcpy(longs + sizeof(longs) - 3, "\"\n", 3);
        expect_error("long.hcl", longs, "long.hcl:1:1: data_dir: longer than 4095 bytes");
        cr_expect_str_eq(cfg.data_dir, "/var/lib/x", "nothing was set by the refused files");
}

Test(agent_file, help_lists_what_the_program_honours_and_ignores) {
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        cr_assert_not_null(f);
        agent_file_print_help(&spec, f);
        fclose(f);
        cr_expect(strstr(text, "ports.http") && strstr(text, "-http-addr (its port)"), "%s", text);
        cr_expect(strstr(text, "server.enabled") && strstr(text, "must be true"), "%s", text);
        cr_expect(strstr(text, " consul,"), "a top-level block the program ignores: %s", text);
        cr_expect(strstr(text, " ports.serf,"), "%s", text);
        cr_expect_null(strstr(text, " ports,"), "ports is partly honoured, so not listed whole: %s", text);
        free(text);
}
