/* test_agent_config_file.c - drover-agent -config: Nomad's client configuration
 * (nodeagent/config.c's key table over common/agent_file.c) sets the agent's
 * options, the node's metadata reaches the node, flags win. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/model.h"
#include "nodeagent/config.h"

static char path[64];

static void write_config(const char *suffix, const char *text) {
        snprintf(path, sizeof(path), "/tmp/drover-agentcfg-XXXXXX%s", suffix);
        int fd = mkstemps(path, (int)strlen(suffix));
        cr_assert_geq(fd, 0);
        cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
        close(fd);
}

static int parse(struct agent_config *cfg, const char *extra, struct error *err) {
        char *argv[] = {"drover-agent", "-config", path, (char *)extra, NULL};
        return agent_config_parse(cfg, extra ? 4 : 3, argv, err);
}

Test(agent_config_file, nomads_client_block_sets_the_agent_options) {
        unsetenv("DROVER_ADDR");
        write_config(".hcl", "name = \"n1\"\ndatacenter = \"eu\"\ndata_dir = \"/tmp/a\"\nlog_level = \"WARN\"\n"
                             "bind_addr = \"0.0.0.0\"\nports { http = 5656 }\n"
                             "client {\n  enabled = true\n  servers = [\"10.0.0.1:4646\", \"https://10.0.0.2:4646\"]\n"
                             "  node_class = \"big\"\n  node_pool = \"gpu\"\n  gc_max_allocs = 9\n"
                             "  meta { rack = \"r1\" }\n  options = { \"driver.raw_exec.enable\" = \"true\" }\n}\n"
                             "server { enabled = true }\n");
        struct agent_config cfg;
        struct error err = {0};
        cr_assert_eq(parse(&cfg, NULL, &err), 0, "%s", err.msg);
        cr_expect_str_eq(cfg.node_name, "n1");
        cr_expect_str_eq(cfg.dc, "eu");
        cr_expect_str_eq(cfg.data_dir, "/tmp/a");
        cr_expect_str_eq(cfg.log_level, "warn");
        cr_expect_str_eq(cfg.http_addr, "0.0.0.0:5656");
        cr_expect_str_eq(cfg.servers, "http://10.0.0.1:4646,https://10.0.0.2:4646", "host:port gets http://");
        cr_expect_str_eq(cfg.node_class, "big");
        cr_expect_str_eq(cfg.node_pool, "gpu");
        cr_expect_eq(cfg.gc_max_allocs, 9);
        cr_expect(cfg.raw_exec);
        cr_expect_str_eq(cfg.config_file, path);
        cr_expect(strstr(cfg.config_notes, "config: server.enabled is not used by drover-agent ("), "%s",
                  cfg.config_notes);
        struct strmap meta = {0};
        cr_assert_eq(agent_config_meta(&cfg, &meta, &err), 0, "%s", err.msg);
        cr_expect_str_eq(strmap_get(&meta, "rack"), "r1");
        strmap_clear(&meta);
        agent_config_free(&cfg);
        /* flags win: -meta replaces the file's meta */
        cr_assert_eq(parse(&cfg, "-meta=zone=z1,rack=r9", &err), 0, "%s", err.msg);
        cr_assert_eq(agent_config_meta(&cfg, &meta, &err), 0, "%s", err.msg);
        cr_expect_str_eq(strmap_get(&meta, "rack"), "r9");
        cr_expect_str_eq(strmap_get(&meta, "zone"), "z1");
        strmap_clear(&meta);
        agent_config_free(&cfg);
        unlink(path);
}

Test(agent_config_file, what_the_agent_cannot_be_is_refused_with_where) {
        struct agent_config cfg;
        struct error err = {0};
        write_config(".json", "{\n  \"client\": {\"enabled\": false}\n}\n");
        cr_expect_lt(parse(&cfg, NULL, &err), 0);
        cr_expect(strstr(err.msg, ".json:2:14: client.enabled: drover-agent is always a client (expected true)"), "%s",
                  err.msg);
        agent_config_free(&cfg);
        unlink(path);
        write_config(".hcl", "client {\n  servers = [\"ftp://x:1\"]\n}\n");
        cr_expect_lt(parse(&cfg, NULL, &err), 0);
        cr_expect(strstr(err.msg, "must start with http:// or https://"), "%s", err.msg);
        agent_config_free(&cfg);
        unlink(path);
        write_config(".hcl", "");
        cr_expect_lt(parse(&cfg, "-meta=novalue", &err), 0);
        cr_expect(strstr(err.msg, "-meta: \"novalue\" is not key=value"), "%s", err.msg);
        agent_config_free(&cfg);
        unlink(path);
}
