/* config.c - the option table of drover-server. */
#include "controlplane/config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/macros.h"

enum opt_type { OPT_STR, OPT_INT, OPT_BOOL, OPT_DURATION_MS };

struct opt {
        const char *name;
        enum opt_type type;
        const char *def;
        int64_t min, max;
        size_t offset;
        const char *help;
};

#define F(field) offsetof(struct server_config, field)

static const struct opt options[] = {
    {"dev", OPT_BOOL, "false", 0, 0, F(dev), "development mode: single voter, short TTLs, state in -data-dir"},
    {"data-dir", OPT_STR, "/var/lib/drover-server", 0, 0, F(data_dir), "Raft log, snapshots and state"},
    {"http-addr", OPT_STR, "127.0.0.1:4646", 0, 0, F(http_addr), "HTTP API listen address (ip:port)"},
    {"raft-addr", OPT_STR, "127.0.0.1:4647", 0, 0, F(raft_addr), "Raft RPC listen address (ip:port)"},
    {"raft-id", OPT_INT, "1", 1, INT32_MAX, F(raft_id), "this server's Raft ID"},
    {"bootstrap", OPT_BOOL, "true", 0, 0, F(bootstrap), "form a single-voter cluster if the data dir is empty"},
    {"heartbeat-ttl", OPT_DURATION_MS, "10s", 100, 3600000, F(heartbeat_ttl_ms), "minimum node heartbeat TTL"},
    {"heartbeat-grace", OPT_DURATION_MS, "10s", 0, 3600000, F(heartbeat_grace_ms),
     "extra time after a missed TTL before a node is marked down"},
    {"num-schedulers", OPT_INT, "0", 0, 64, F(num_schedulers), "scheduler workers (0 = one per core)"},
    {"log-level", OPT_STR, "info", 0, 0, F(log_level), "debug, info, warn or error"},
    {"print-config", OPT_BOOL, "false", 0, 0, F(print_config), "print the effective configuration and exit"},
};

/* "10s", "500ms", "2m", "1h" or a plain number of milliseconds. */
static int parse_duration_ms(const char *s, int64_t *ret) {
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (errno || end == s || v < 0)
                return -EINVAL;
        double mult = 1;
        if (!*end || strcmp(end, "ms") == 0)
                mult = 1;
        else if (strcmp(end, "s") == 0)
                mult = 1000;
        else if (strcmp(end, "m") == 0)
                mult = 60000;
        else if (strcmp(end, "h") == 0)
                mult = 3600000;
        else
                return -EINVAL;
        *ret = (int64_t)(v * mult);
        return 0;
}

static int set_opt(struct server_config *cfg, const struct opt *o, const char *val, struct error *err) {
        char *base = (char *)cfg + o->offset;
        switch (o->type) {
        case OPT_STR: {
                char **p = (char **)base;
                free(*p);
                *p = strdup(val);
                return *p ? 0 : -ENOMEM;
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
        case OPT_INT: {
                char *end;
                errno = 0;
                long long v = strtoll(val, &end, 10);
                if (errno || *end || end == val || v < o->min || v > o->max)
                        return errorf(err, -EINVAL, "-%s: expected an integer from %lld to %lld (got \"%s\")",
                                      o->name, (long long)o->min, (long long)o->max, val);
                *(int64_t *)base = v;
                return 0;
        }
        case OPT_DURATION_MS: {
                int64_t v;
                if (parse_duration_ms(val, &v) < 0 || v < o->min || v > o->max)
                        return errorf(err, -EINVAL,
                                      "-%s: expected a duration such as 500ms, 10s or 2m within [%lldms, %lldms] (got \"%s\")",
                                      o->name, (long long)o->min, (long long)o->max, val);
                *(int64_t *)base = v;
                return 0;
        }
        }
        return -EINVAL;
}

static void print_help(void) {
        printf("Usage: drover-server [options]\n\n"
               "  A drover control-plane server: Raft member, state store, eval broker,\n"
               "  scheduler workers, plan applier and the HTTP API (Nomad's paths).\n\n"
               "Options (also accepted as --name=value):\n");
        for (size_t i = 0; i < ARRAY_SIZE(options); i++)
                printf("  -%-18s %s (default %s)\n", options[i].name, options[i].help, options[i].def);
}

int server_config_parse(struct server_config *cfg, int argc, char **argv, struct error *err) {
        memset(cfg, 0, sizeof(*cfg));
        for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
                int r = set_opt(cfg, &options[i], options[i].def, err);
                if (r < 0)
                        return r;
        }
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                if (strcmp(a, "-h") == 0 || strcmp(a, "-help") == 0 || strcmp(a, "--help") == 0) {
                        print_help();
                        return 1;
                }
                if (a[0] != '-')
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
        if (cfg->num_schedulers == 0) {
                long n = sysconf(_SC_NPROCESSORS_ONLN);
                cfg->num_schedulers = n > 0 ? n : 1;
        }
        return 0;
}

void server_config_print(const struct server_config *cfg) {
        for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
                const char *base = (const char *)cfg + options[i].offset;
                switch (options[i].type) {
                case OPT_STR:
                        printf("%s = \"%s\"\n", options[i].name, *(char *const *)base);
                        break;
                case OPT_BOOL:
                        printf("%s = %s\n", options[i].name, *(const bool *)base ? "true" : "false");
                        break;
                case OPT_INT:
                        printf("%s = %lld\n", options[i].name, (long long)*(const int64_t *)base);
                        break;
                case OPT_DURATION_MS:
                        printf("%s = \"%lldms\"\n", options[i].name, (long long)*(const int64_t *)base);
                        break;
                }
        }
}

void server_config_free(struct server_config *cfg) {
        for (size_t i = 0; i < ARRAY_SIZE(options); i++)
                if (options[i].type == OPT_STR) {
                        char **p = (char **)((char *)cfg + options[i].offset);
                        free(*p);
                        *p = NULL;
                }
}
