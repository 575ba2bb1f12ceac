/* dev_config.h - `drover dev -config FILE`: Nomad's agent configuration file (HCL,
 * or JSON when the name ends in .json) read for the settings a one-host cluster
 * uses. Keys of Nomad's layout that drover dev does not use are accepted with a
 * note; any other key is an error naming file:line:col (JSON: the file and the key). */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

struct error;

#define DEV_CONFIG_NOTES 2048

struct dev_config {
        int port;                 /* ports { http }; 0 when not set */
        char data_dir[PATH_MAX];  /* data_dir; "" when not set */
        int acl;                  /* acl { enabled }: -1 not set, 0, 1 */
        char log_level[16];       /* log_level */
        char region[64];          /* region (the server's) */
        char datacenter[64];      /* datacenter (the agent's -dc) */
        char name[128];           /* name (the agent's -node-name) */
        char node_class[128];     /* client { node_class } */
        char node_pool[128];      /* client { node_pool } */
        char notes[DEV_CONFIG_NOTES]; /* "FILE:LINE: KEY: not used by drover dev\n"..., cut when full */
};

/* Set every field to "not set". */
void dev_config_init(struct dev_config *cfg);

/* Read one file over cfg: what it sets replaces what an earlier file set (the
 * caller applies flags afterwards, so flags win). 0, or a negative errno with err
 * saying where ("dev.hcl:3:5: unknown setting \"htp\" in ports"). Files over
 * 1 MiB are refused. */
int dev_config_load(struct dev_config *cfg, const char *path, struct error *err);
