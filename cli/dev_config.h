/* dev_config.h - `drover dev -config FILE`: Nomad's agent configuration file (HCL,
 * or JSON by name or content; a directory: its *.hcl and *.json files) read by the
 * shared reader (common/agent_file.h) for the settings a one-host cluster uses.
 * Keys of Nomad's layout that drover dev does not use are accepted with a note;
 * any other key is an error naming file:line:col and the key path. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct error;
struct agent_file;

#define DEV_CONFIG_NOTES 8192

struct dev_config {
        int64_t port;                 /* ports { http }; 0 when not set */
        char *data_dir;               /* data_dir; "" when not set */
        bool acl;                     /* acl { enabled } */
        char *log_level;              /* log_level; "" when not set */
        char *region;                 /* region (the server's) */
        char *datacenter;             /* datacenter (the agent's -dc) */
        char *name;                   /* name (the agent's -node-name) */
        char *node_class;             /* client { node_class } */
        char *node_pool;              /* client { node_pool } */
        char *config;                 /* the last -config given (each one is read, in order) */
        char notes[DEV_CONFIG_NOTES]; /* "config: KEY is not used by drover dev (FILE:LINE:COL)\n"... */
        struct agent_file *reader;    /* kept across files: a key is noted once */
};

/* Set every field to "not set". 0 or -ENOMEM. */
int dev_config_init(struct dev_config *cfg);
/* Free what init and load allocated (cfg may be half-built). */
void dev_config_free(struct dev_config *cfg);

/* Read one file (or directory) over cfg: what it sets replaces what an earlier file
 * set (the caller applies flags afterwards, so flags win). 0, or a negative errno
 * with err saying where ("dev.hcl:3:5: unknown setting \"htp\" in ports (ports.htp; ...)").
 * Files over 1 MiB are refused. */
int dev_config_load(struct dev_config *cfg, const char *path, struct error *err);

/* drover dev's arguments, argv[0] being the command's name as for flags_parse: each
 * -config read in order (dev_config_load), then -port, -data-dir (and -config), given
 * as -name value, -name=value or --name=value, over what the files set, through the
 * same table-driven parser as drover-server's and drover-agent's flags. 0, 1 for
 * -help (nothing printed), or a negative errno with err naming the flag or file
 * ("-port: expected an integer from 1 to 65525 (got \"x\")"). */
int dev_config_parse_args(struct dev_config *cfg, int argc, char **argv, struct error *err);
