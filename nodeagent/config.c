/* config.c - the option table of drover-agent. */
#include "nodeagent/config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/macros.h"

enum opt_type { OPT_STR, OPT_BOOL };

struct opt {
        const char *name;
        enum opt_type type;
        const char *def;
        size_t offset;
        const char *help;
};

#define F(field) offsetof(struct agent_config, field)

static const struct opt options[] = {
    {"servers", OPT_STR, "http://127.0.0.1:4646", F(servers),
     "comma-separated server HTTP addresses (env DROVER_ADDR is the default when set)"},
    {"data-dir", OPT_STR, "/var/lib/drover-agent", F(data_dir), "node identity, allocation directories and task logs"},
    {"node-name", OPT_STR, "", F(node_name), "node name (empty = the host name)"},
    {"dc", OPT_STR, "dc1", F(dc), "datacenter of this node"},
    {"node-class", OPT_STR, "", F(node_class), "node class, for constraints"},
    {"node-pool", OPT_STR, "default", F(node_pool), "node pool"},
    {"http-addr", OPT_STR, "0.0.0.0:4656", F(http_addr),
     "ip:port of the agent's log endpoint, advertised as the node's HTTPAddr (empty = none)"},
    {"dev", OPT_BOOL, "false", F(dev), "development mode: tasks are stopped when the agent stops"},
    {"log-level", OPT_STR, "info", F(log_level), "debug, info, warn or error"},
    {"fingerprint", OPT_BOOL, "false", F(fingerprint), "print the node's attributes as JSON and exit"},
    {"print-config", OPT_BOOL, "false", F(print_config), "print the effective configuration and exit"},
};

static int set_opt(struct agent_config *cfg, const struct opt *o, const char *val, struct error *err) {
        char *base = (char *)cfg + o->offset;
        switch (o->type) {
        case OPT_STR: {
                char **p = (char **)base;
                char *v = strdup(val);
                if (!v)
                        return errorf(err, -ENOMEM, "out of memory");
                free(*p);
                *p = v;
                return 0;
        }
        case OPT_BOOL: {
                bool *p = (bool *)base;
                if (strcmp(val, "true") == 0 || strcmp(val, "1") == 0)
                        *p = true;
                else if (strcmp(val, "false") == 0 || strcmp(val, "0") == 0)
                        *p = false;
                else
                        return errorf(err, -EINVAL, "-%s: expected true or false (got \"%s\")", o->name, val);
                return 0;
        }
        }
        return -EINVAL;
}

void agent_config_help(void) {
        printf("Usage: drover-agent [options]\n\n"
               "  The drover node agent: fingerprints this host, registers it with the\n"
               "  servers, runs the allocations placed on it and reports their state.\n\n"
               "Options (also accepted as --name=value or -name=value):\n");
        for (size_t i = 0; i < ARRAY_SIZE(options); i++)
                printf("  -%-14s %s (default \"%s\")\n", options[i].name, options[i].help, options[i].def);
}

int agent_config_servers(const char *list, char **ret, int max, struct error *err) {
        int n = 0;
        const char *p = list;
        while (*p) {
                const char *comma = strchr(p, ',');
                size_t len = comma ? (size_t)(comma - p) : strlen(p);
                while (len && (*p == ' ' || *p == '\t'))
                        p++, len--;
                while (len && (p[len - 1] == ' ' || p[len - 1] == '/'))
                        len--;
                if (len) {
                        int r = 0;
                        if (strncmp(p, "http://", 7) != 0 && strncmp(p, "https://", 8) != 0)
                                r = errorf(err, -EINVAL, "-servers: \"%.*s\" must start with http:// or https://",
                                           (int)len, p);
                        else if (n == max)
                                r = errorf(err, -E2BIG, "-servers: at most %d servers", max);
                        else if (!(ret[n] = strndup(p, len)))
                                r = errorf(err, -ENOMEM, "out of memory");
                        if (r < 0) {
                                while (n > 0)
                                        free(ret[--n]);
                                return r;
                        }
                        n++;
                }
                if (!comma)
                        break;
                p = comma + 1;
        }
        if (n == 0)
                return errorf(err, -EINVAL, "-servers: no server address given (expected http://host:port)");
        return n;
}

int agent_config_parse(struct agent_config *cfg, int argc, char **argv, struct error *err) {
        memset(cfg, 0, sizeof(*cfg));
        for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
                const char *def = options[i].def;
                if (options[i].offset == F(servers) && getenv("DROVER_ADDR") && *getenv("DROVER_ADDR"))
                        def = getenv("DROVER_ADDR");
                int r = set_opt(cfg, &options[i], def, err);
                if (r < 0)
                        return r;
        }
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                if (strcmp(a, "-h") == 0 || strcmp(a, "-help") == 0 || strcmp(a, "--help") == 0) {
                        agent_config_help();
                        return 1;
                }
                if (a[0] != '-' || !a[1])
                        return errorf(err, -EINVAL, "unexpected argument \"%s\" (see -help)", a);
                a += a[1] == '-' ? 2 : 1;
                const char *eq = strchr(a, '=');
                size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
                const struct opt *o = NULL;
                for (size_t k = 0; k < ARRAY_SIZE(options); k++)
                        if (strlen(options[k].name) == nlen && strncmp(options[k].name, a, nlen) == 0)
                                o = &options[k];
                if (!o)
                        return errorf(err, -EINVAL, "unknown flag \"%s\" (see -help)", argv[i]);
                const char *val = eq ? eq + 1 : NULL;
                if (!val) {
                        if (o->type == OPT_BOOL)
                                val = "true";
                        else if (i + 1 < argc)
                                val = argv[++i];
                        else
                                return errorf(err, -EINVAL, "flag -%s needs a value", o->name);
                }
                int r = set_opt(cfg, o, val, err);
                if (r < 0)
                        return r;
        }
        if (!*cfg->data_dir)
                return errorf(err, -EINVAL, "-data-dir must not be empty");
        if (!*cfg->dc)
                return errorf(err, -EINVAL, "-dc must not be empty");
        if (!*cfg->node_pool)
                return errorf(err, -EINVAL, "-node-pool must not be empty");
        char *servers[16];
        int n = agent_config_servers(cfg->servers, servers, (int)ARRAY_SIZE(servers), err);
        if (n < 0)
                return n;
        while (n > 0)
                free(servers[--n]);
        return 0;
}

void agent_config_print(const struct agent_config *cfg) {
        for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
                const char *base = (const char *)cfg + options[i].offset;
                if (options[i].type == OPT_STR)
                        printf("%s = \"%s\"\n", options[i].name, *(char *const *)base);
                else
                        printf("%s = %s\n", options[i].name, *(const bool *)base ? "true" : "false");
        }
}

void agent_config_free(struct agent_config *cfg) {
        for (size_t i = 0; i < ARRAY_SIZE(options); i++)
                if (options[i].type == OPT_STR) {
                        char **p = (char **)((char *)cfg + options[i].offset);
                        free(*p);
                        *p = NULL;
                }
}
