/* dev_config.c - Nomad's agent configuration file for `drover dev` (dev_config.h). */
#include "cli/dev_config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/agent_file.h"
#include "common/error.h"
#include "common/flags.h"
#include "common/macros.h"

#define F(field) offsetof(struct dev_config, field)

/* Not command-line flags: the settings the file gives (drover dev passes them on to
 * the server and the agent it starts). Bounds as drover dev's own -port. */
static const struct flag fields[] = {
    {"port", FLAG_INT, "0", 0, 65525, F(port), "the API port (Raft on port+1, the agent on port+10)"},
    {"data-dir", FLAG_STR, "", 0, 0, F(data_dir), "data directory, kept on Ctrl-C"},
    {"acl-enabled", FLAG_BOOL, "false", 0, 0, F(acl), "the server's -acl-enabled"},
    {"log-level", FLAG_STR, "", 0, 0, F(log_level), "both daemons' -log-level"},
    {"region", FLAG_STR, "", 0, 0, F(region), "the server's -region"},
    {"dc", FLAG_STR, "", 0, 0, F(datacenter), "the server's and the agent's -dc"},
    {"node-name", FLAG_STR, "", 0, 0, F(name), "the server's -name and the agent's -node-name"},
    {"node-class", FLAG_STR, "", 0, 0, F(node_class), "the agent's -node-class"},
    {"node-pool", FLAG_STR, "", 0, 0, F(node_pool), "the agent's -node-pool"},
    {"config", FLAG_STR, "", 0, 0, F(config), "the last -config"},
};

/* The command-line flags: the fields above a user sets directly. A port given on
 * the command line is at least 1 (0 in the file's field means "not set"). */
static const struct flag cli_flags[] = {
    {"port", FLAG_INT, "4646", 1, 65525, F(port), "HTTP API port"},
    {"data-dir", FLAG_STR, "", 0, 0, F(data_dir), "data directory"},
    {"config", FLAG_STR, "", 0, 0, F(config), "Nomad's agent configuration file or directory"},
};

static const struct agent_file_key file_keys[] = {
    {"ports.http", AGENT_FILE_PORT, "port"},
    {"data_dir", AGENT_FILE_SET, "data-dir"},
    {"acl.enabled", AGENT_FILE_SET, "acl-enabled"},
    {"log_level", AGENT_FILE_LEVEL, "log-level"},
    {"region", AGENT_FILE_SET, "region"},
    {"datacenter", AGENT_FILE_SET, "dc"},
    {"name", AGENT_FILE_SET, "node-name"},
    {"client.node_class", AGENT_FILE_SET, "node-class"},
    {"client.node_pool", AGENT_FILE_SET, "node-pool"},
};

static const struct agent_file_spec file_spec = {
    .program = "drover dev",
    .keys = file_keys,
    .n_keys = ARRAY_SIZE(file_keys),
    .flags = fields,
    .n_flags = ARRAY_SIZE(fields),
};

int dev_config_init(struct dev_config *cfg) {
        *cfg = (struct dev_config){0};
        return flags_defaults(cfg, fields, ARRAY_SIZE(fields), NULL);
}

void dev_config_free(struct dev_config *cfg) {
        flags_free(cfg, fields, ARRAY_SIZE(fields));
        cfg->reader = agent_file_destroy(cfg->reader);
}

static int reader(struct dev_config *cfg, struct error *err) {
        return cfg->reader ? 0 : agent_file_create(&file_spec, &cfg->reader, err);
}

int dev_config_load(struct dev_config *cfg, const char *path, struct error *err) {
        int r = reader(cfg, err);
        if (r < 0)
                return r;
        r = agent_file_load(cfg->reader, cfg, path, err);
        snprintf(cfg->notes, sizeof(cfg->notes), "%s", agent_file_notes(cfg->reader));
        return r;
}

int dev_config_parse_args(struct dev_config *cfg, int argc, char **argv, struct error *err) {
        int r = reader(cfg, err);
        if (r < 0)
                return r;
        r = agent_file_load_args(cfg->reader, cfg, argc, argv, err);
        snprintf(cfg->notes, sizeof(cfg->notes), "%s", agent_file_notes(cfg->reader));
        return r < 0 ? r : flags_parse(cfg, cli_flags, ARRAY_SIZE(cli_flags), argc, argv, err);
}
