/* test_dev_config.c - `drover dev -config` (cli/dev_config.c): Nomad's agent file in
 * HCL and JSON, later files over earlier ones, notes for keys drover dev does not
 * use, and errors naming file:line:col for the rest. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/dev_config.h"
#include "common/error.h"
#include "tests/unit/tmpdir.h"

static char dir[TMPDIR_SIZE];

static void setup(void) {
        tmpdir_create(dir, "devcfg");
}

static void teardown(void) {
        tmpdir_remove(dir);
}

TestSuite(dev_config, .init = setup, .fini = teardown);

static const char *write_file(const char *name, const char *text) {
        return tmpdir_put(dir, name, text);
}

Test(dev_config, nomads_layout_in_hcl_sets_what_dev_uses_and_notes_the_rest) {
        const char *p = write_file("dev.hcl", "name = \"laptop\"\n"
                                              "region = \"eu\"\n"
                                              "datacenter = \"dc9\"\n"
                                              "data_dir = \"/tmp/x\"\n"
                                              "bind_addr = \"0.0.0.0\"\n"
                                              "log_level = \"debug\"\n"
                                              "ports {\n  http = 23999\n  rpc = 4647\n}\n"
                                              "server {\n  enabled = true\n  bootstrap_expect = 1\n}\n"
                                              "client {\n  enabled = true\n  node_class = \"big\"\n"
                                              "  node_pool = \"gpu\"\n  meta { rack = \"r1\" }\n}\n"
                                              "acl {\n  enabled = true\n}\n"
                                              "telemetry {\n  prometheus_metrics = true\n}\n");
        struct dev_config c;
        cr_assert_eq(dev_config_init(&c), 0);
        struct error err = {0};
        cr_assert_eq(dev_config_load(&c, p, &err), 0, "%s", err.msg);
        cr_expect_eq(c.port, 23999);
        cr_expect_str_eq(c.data_dir, "/tmp/x");
        cr_expect_eq(c.acl, 1);
        cr_expect_str_eq(c.log_level, "debug");
        cr_expect_str_eq(c.region, "eu");
        cr_expect_str_eq(c.datacenter, "dc9");
        cr_expect_str_eq(c.name, "laptop");
        cr_expect_str_eq(c.node_class, "big");
        cr_expect_str_eq(c.node_pool, "gpu");
        cr_expect(strstr(c.notes, "config: bind_addr is not used by drover dev (/") &&
                      strstr(c.notes, "/dev.hcl:5:1)\n"),
                  "%s", c.notes);
        cr_expect(strstr(c.notes, "config: ports.rpc is not used by drover dev (/") &&
                      strstr(c.notes, "/dev.hcl:9:3)\n"),
                  "%s", c.notes);
        cr_expect(strstr(c.notes, "config: client.meta is not used"), "%s", c.notes);
        cr_expect(strstr(c.notes, "config: telemetry.prometheus_metrics is not used"), "%s", c.notes);
        cr_expect_null(strstr(c.notes, "ports.http"), "a used key gets no note");
        dev_config_free(&c);
}

Test(dev_config, json_and_a_later_file_over_an_earlier_one) {
        const char *a = write_file("a.hcl", "ports { http = 1111 }\ndata_dir = \"/tmp/a\"\n");
        const char *b = write_file("b.json", "{\"ports\": {\"http\": 2222}, \"acl\": [{\"enabled\": false}],"
                                             " \"tls\": {\"http\": true}}");
        struct dev_config c;
        cr_assert_eq(dev_config_init(&c), 0);
        cr_expect(!c.acl, "off until a file sets it");
        cr_expect_eq(c.port, 0, "not set until a file sets it");
        struct error err = {0};
        cr_assert_eq(dev_config_load(&c, a, &err), 0, "%s", err.msg);
        cr_assert_eq(dev_config_load(&c, b, &err), 0, "%s", err.msg);
        cr_expect_eq(c.port, 2222);
        cr_expect_str_eq(c.data_dir, "/tmp/a");
        cr_expect(!c.acl);
        cr_expect(strstr(c.notes, "b.json:1:64)"), "%s", c.notes);
        dev_config_free(&c);
}

static void expect_error(const char *name, const char *text, const char *want) {
        const char *p = write_file(name, text);
        struct dev_config c;
        cr_assert_eq(dev_config_init(&c), 0);
        struct error err = {0};
        cr_expect_lt(dev_config_load(&c, p, &err), 0, "%s was accepted", text);
        cr_expect(strstr(err.msg, want), "error \"%s\" lacks \"%s\"", err.msg, want);
        dev_config_free(&c);
}

Test(dev_config, unknown_keys_and_bad_values_say_where) {
        expect_error("u.hcl", "ports {\n  htp = 1\n}\n", "u.hcl:2:3: unknown setting \"htp\" in ports");
        expect_error("t.hcl", "data_dri = \"x\"\n", "t.hcl:1:1: unknown setting \"data_dri\"");
        expect_error("p.hcl", "ports { http = \"x\" }\n", "p.hcl:1:9: ports.http: expected a port number");
        expect_error("r.hcl", "ports { http = 65530 }\n", "r.hcl:1:9: ports.http: -port: expected an integer from 0 to 65525");
        expect_error("b.hcl", "acl { enabled = 1 }\n", "acl.enabled: expected true or false");
        expect_error("k.hcl", "ports = 1\n", "k.hcl:1:1: ports: expected a block");
        expect_error("v.hcl", "acl {\n  enabled {\n  }\n}\n", "v.hcl:2:3: acl.enabled: expected true or false (got a block)");
        expect_error("s.hcl", "data_dir = 5\n", "data_dir: expected a string");
        expect_error("x.hcl", "data_dir = \"${env}\"\n", "data_dir: expected a string");
        expect_error("j.json", "{\"ports\": {\"htp\": 1}}", "j.json:1:12: unknown setting \"htp\" in ports (ports.htp");
        expect_error("bad.json", "{\"ports\": ", "bad.json:1:");
        expect_error("arr.json", "[1]", "expected a JSON object");
        expect_error("syn.hcl", "ports {\n", "syn.hcl:");
        static char big[5000], text[5100];
        memset(big, 'a', sizeof(big) - 1);
        snprintf(text, sizeof(text), "name = \"%s\"\n", big);
        expect_error("long.hcl", text, "long.hcl:1:1: name: longer than 4095 bytes");
        struct dev_config c;
        cr_assert_eq(dev_config_init(&c), 0);
        struct error err = {0};
        cr_expect_lt(dev_config_load(&c, "/nonexistent/dev.hcl", &err), 0);
        cr_expect(strstr(err.msg, "-config /nonexistent/dev.hcl: No such file"), "%s", err.msg);
        dev_config_free(&c);
}

/* dev_config_parse_args over argv (argv[0] the command's name); 0 or the error. */
static int parse(struct dev_config *c, struct error *err, int argc, char **argv) {
        cr_assert_eq(dev_config_init(c), 0);
        return dev_config_parse_args(c, argc, argv, err);
}

Test(dev_config, flags_take_both_forms_and_win_over_the_files) {
        const char *a = write_file("a.hcl", "ports { http = 1111 }\ndata_dir = \"/tmp/a\"\nregion = \"eu\"\n");
        char *argv[] = {"dev", "-port", "26000", "-config", (char *)a, "-data-dir=/tmp/b"};
        struct dev_config c;
        struct error err = {0};
        cr_assert_eq(parse(&c, &err, 6, argv), 0, "%s", err.msg);
        cr_expect_eq(c.port, 26000, "-port 26000 (space form) over the file's 1111");
        cr_expect_str_eq(c.data_dir, "/tmp/b");
        cr_expect_str_eq(c.region, "eu", "the file still sets what no flag gives");
        dev_config_free(&c);

        char *argv2[] = {"dev", "--port=26001", "-config=" /* filled below */};
        char cfg_flag[300];
        snprintf(cfg_flag, sizeof(cfg_flag), "-config=%s", a);
        argv2[2] = cfg_flag;
        cr_assert_eq(parse(&c, &err, 3, argv2), 0, "%s", err.msg);
        cr_expect_eq(c.port, 26001, "a flag before -config still wins over the file");
        dev_config_free(&c);

        char *none[] = {"dev"};
        cr_assert_eq(parse(&c, &err, 1, none), 0, "%s", err.msg);
        cr_expect_eq(c.port, 0, "no flag, no file: not set (dev uses 4646)");
        dev_config_free(&c);
}

static void expect_flag_error(int argc, char **argv, const char *want) {
        struct dev_config c;
        struct error err = {0};
        cr_expect_lt(parse(&c, &err, argc, argv), 0, "%s %s was accepted", argv[1], argc > 2 ? argv[2] : "");
        cr_expect(strstr(err.msg, want), "error \"%s\" lacks \"%s\"", err.msg, want);
        dev_config_free(&c);
}

Test(dev_config, bad_flags_are_refused_with_the_reason) {
        expect_flag_error(2, (char *[]){"dev", "-port=x"}, "-port: expected an integer from 1 to 65525 (got \"x\")");
        expect_flag_error(3, (char *[]){"dev", "-port", "26000x"}, "(got \"26000x\")");
        expect_flag_error(2, (char *[]){"dev", "-port=0"}, "from 1 to 65525 (got \"0\")");
        expect_flag_error(3, (char *[]){"dev", "-port", "65526"}, "(got \"65526\")");
        expect_flag_error(2, (char *[]){"dev", "-port"}, "flag -port needs a value");
        expect_flag_error(2, (char *[]){"dev", "-config"}, "flag -config needs a value");
        expect_flag_error(2, (char *[]){"dev", "-acl-enabled"}, "unknown flag \"-acl-enabled\"");
        expect_flag_error(2, (char *[]){"dev", "extra"}, "unexpected argument \"extra\"");
        expect_flag_error(3, (char *[]){"dev", "-config", "/nonexistent/dev.hcl"},
                          "-config /nonexistent/dev.hcl: No such file");
}
