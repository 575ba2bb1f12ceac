/* dev_config.c - Nomad's agent configuration file for `drover dev` (dev_config.h). */
#include "cli/dev_config.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/hcl.h"
#include "common/macros.h"

#define CONFIG_MAX_BYTES (1 << 20)

enum key_kind { K_BLOCK, K_INT, K_STR, K_BOOL, K_UNUSED };

/* Nomad's agent configuration layout: what drover dev reads (a field), and what it
 * accepts and ignores with a note (K_UNUSED, any value or block). */
static const struct key {
        const char *path; /* "ports.http" */
        enum key_kind kind;
        size_t off, size; /* the field of struct dev_config */
} keys[] = {
    {"name", K_STR, offsetof(struct dev_config, name), sizeof(((struct dev_config *)0)->name)},
    {"region", K_STR, offsetof(struct dev_config, region), sizeof(((struct dev_config *)0)->region)},
    {"datacenter", K_STR, offsetof(struct dev_config, datacenter), sizeof(((struct dev_config *)0)->datacenter)},
    {"data_dir", K_STR, offsetof(struct dev_config, data_dir), sizeof(((struct dev_config *)0)->data_dir)},
    {"log_level", K_STR, offsetof(struct dev_config, log_level), sizeof(((struct dev_config *)0)->log_level)},
    {"bind_addr", K_UNUSED, 0, 0},
    {"ports", K_BLOCK, 0, 0},
    {"ports.http", K_INT, offsetof(struct dev_config, port), 0},
    {"ports.rpc", K_UNUSED, 0, 0},
    {"ports.serf", K_UNUSED, 0, 0},
    {"server", K_BLOCK, 0, 0},
    {"server.enabled", K_UNUSED, 0, 0},
    {"server.bootstrap_expect", K_UNUSED, 0, 0},
    {"server.server_join", K_UNUSED, 0, 0},
    {"client", K_BLOCK, 0, 0},
    {"client.enabled", K_UNUSED, 0, 0},
    {"client.servers", K_UNUSED, 0, 0},
    {"client.node_class", K_STR, offsetof(struct dev_config, node_class), sizeof(((struct dev_config *)0)->node_class)},
    {"client.node_pool", K_STR, offsetof(struct dev_config, node_pool), sizeof(((struct dev_config *)0)->node_pool)},
    {"client.meta", K_UNUSED, 0, 0},
    {"client.options", K_UNUSED, 0, 0},
    {"acl", K_BLOCK, 0, 0},
    {"acl.enabled", K_BOOL, offsetof(struct dev_config, acl), 0},
    {"tls", K_UNUSED, 0, 0},
    {"telemetry", K_BLOCK, 0, 0},
    {"telemetry.prometheus_metrics", K_UNUSED, 0, 0},
};

void dev_config_init(struct dev_config *cfg) {
        *cfg = (struct dev_config){.acl = -1};
}

static const struct key *key_find(const char *path) {
        for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
                if (strcmp(keys[i].path, path) == 0)
                        return &keys[i];
        return NULL;
}

static void note(struct dev_config *cfg, const char *where, const char *path) {
        size_t used = strlen(cfg->notes);
        snprintf(cfg->notes + used, sizeof(cfg->notes) - used, "%s: %s: not used by drover dev; ignored\n", where,
                 path);
}

/* One plain value: is_int/i, str, or is_bool/b (exactly one set). */
struct value {
        bool is_int, is_bool;
        long long i;
        const char *str;
        bool b;
};

static int set(struct dev_config *cfg, const struct key *k, const struct value *v, const char *where,
               struct error *err) {
        char *base = (char *)cfg;
        switch (k->kind) {
        case K_INT:
                if (!v->is_int || v->i <= 0 || v->i > 65525)
                        return errorf(err, -EINVAL, "%s: %s: expected a port number from 1 to 65525", where, k->path);
                *(int *)(base + k->off) = (int)v->i;
                return 0;
        case K_BOOL:
                if (!v->is_bool)
                        return errorf(err, -EINVAL, "%s: %s: expected true or false", where, k->path);
                *(int *)(base + k->off) = v->b;
                return 0;
        case K_STR:
                if (!v->str)
                        return errorf(err, -EINVAL, "%s: %s: expected a string", where, k->path);
                if (strlen(v->str) >= k->size)
                        return errorf(err, -EINVAL, "%s: %s: longer than %zu bytes", where, k->path, k->size - 1);
                memcpy(base + k->off, v->str, strlen(v->str) + 1);
                return 0;
        default:
                return errorf(err, -EINVAL, "%s: %s: expected a block", where, k->path);
        }
}

/* The key for prefix.name, or an error naming where. */
static int lookup(const char *prefix, const char *name, const char *where, char *path, size_t size,
                  const struct key **ret, struct error *err) {
        if ((size_t)snprintf(path, size, "%s%s%s", prefix, *prefix ? "." : "", name) >= size)
                return errorf(err, -EINVAL, "%s: setting name too long", where);
        const struct key *k = key_find(path);
        if (!k)
                return errorf(err, -EINVAL, "%s: unknown setting \"%s\"%s%s (see drover dev -help)", where, name,
                              *prefix ? " in " : "", prefix);
        *ret = k;
        return 0;
}

/* ---- HCL ------------------------------------------------------------------------------- */

static int walk_hcl(struct dev_config *cfg, const char *file, const struct hcl_body *b, const char *prefix,
                    struct error *err) {
        for (size_t i = 0; i < b->n; i++) {
                const struct hcl_item *it = &b->items[i];
                char where[PATH_MAX + 32], path[128];
                snprintf(where, sizeof(where), "%s:%d:%d", file, it->line, it->col);
                const struct key *k = NULL;
                int r = lookup(prefix, it->name, where, path, sizeof(path), &k, err);
                if (r < 0)
                        return r;
                if (k->kind == K_UNUSED) {
                        note(cfg, where, path);
                        continue;
                }
                if (it->is_block != (k->kind == K_BLOCK))
                        return errorf(err, -EINVAL, "%s: %s: expected %s", where, path,
                                      k->kind == K_BLOCK ? "a block" : "a value, not a block");
                if (it->is_block) {
                        if (it->n_labels)
                                return errorf(err, -EINVAL, "%s: %s: takes no label", where, path);
                        r = walk_hcl(cfg, file, it->body, path, err);
                        if (r < 0)
                                return r;
                        continue;
                }
                const struct hcl_value *hv = it->value;
                struct value v = {.is_int = hv->kind == HCL_INT,
                                  .i = hv->i,
                                  .is_bool = hv->kind == HCL_BOOL,
                                  .b = hv->b,
                                  .str = hv->kind == HCL_STRING && !hv->tmpl ? hv->str : NULL};
                r = set(cfg, k, &v, where, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- JSON ------------------------------------------------------------------------------ */

static int walk_json(struct dev_config *cfg, const char *file, const json_t *o, const char *prefix,
                     struct error *err) {
        const char *name;
        json_t *val;
        json_object_foreach((json_t *)o, name, val) {
                char where[PATH_MAX + 8], path[128];
                snprintf(where, sizeof(where), "%s", file);
                const struct key *k = NULL;
                int r = lookup(prefix, name, where, path, sizeof(path), &k, err);
                if (r < 0)
                        return r;
                if (k->kind == K_UNUSED) {
                        note(cfg, where, path);
                        continue;
                }
                if (k->kind == K_BLOCK) {
                        /* {"ports": {...}} or, as HCL's JSON form allows, {"ports": [{...}]} */
                        const json_t *body = json_is_array(val) && json_array_size(val) == 1 ? json_array_get(val, 0)
                                                                                                : val;
                        if (!json_is_object(body))
                                return errorf(err, -EINVAL, "%s: %s: expected an object", where, path);
                        r = walk_json(cfg, file, body, path, err);
                        if (r < 0)
                                return r;
                        continue;
                }
                struct value v = {.is_int = json_is_integer(val),
                                  .i = json_is_integer(val) ? json_integer_value(val) : 0,
                                  .is_bool = json_is_boolean(val),
                                  .b = json_is_true(val),
                                  .str = json_string_value(val)};
                r = set(cfg, k, &v, where, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

int dev_config_load(struct dev_config *cfg, const char *path, struct error *err) {
        FILE *f = fopen(path, "re");
        if (!f)
                return errorf(err, -errno, "-config %s: %s", path, strerror(errno));
        _cleanup_free_ char *buf = malloc(CONFIG_MAX_BYTES + 1);
        size_t len = buf ? fread(buf, 1, CONFIG_MAX_BYTES + 1, f) : 0;
        fclose(f);
        if (!buf)
                return errorf(err, -ENOMEM, "-config %s: out of memory", path);
        if (len > CONFIG_MAX_BYTES)
                return errorf(err, -EFBIG, "-config %s: larger than %d bytes", path, CONFIG_MAX_BYTES);
        buf[len] = '\0';
        size_t n = strlen(path);
        if (n >= 5 && strcmp(path + n - 5, ".json") == 0) {
                json_error_t je;
                json_t *root = json_loadb(buf, len, 0, &je);
                if (!root)
                        return errorf(err, -EINVAL, "%s:%d:%d: %s", path, je.line, je.column, je.text);
                int r = json_is_object(root) ? walk_json(cfg, path, root, "", err)
                                             : errorf(err, -EINVAL, "%s: expected a JSON object", path);
                json_decref(root);
                return r;
        }
        struct hcl_body *body = NULL;
        int r = hcl_parse(buf, len, path, &body, err);
        if (r < 0)
                return r;
        r = walk_hcl(cfg, path, body, "", err);
        hcl_body_free(body);
        return r;
}
