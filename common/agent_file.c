/* agent_file.c - Nomad's agent configuration file, read for one program (agent_file.h). */
#include "common/agent_file.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/error.h"
#include "common/flags.h"
#include "common/hashmap.h"
#include "common/hcl.h"
#include "common/limits.h"
#include "common/macros.h"

#define PATH_LEN 512 /* a key path ("client.options.driver.raw_exec.enable") */
#define WHERE_LEN 600
#define NOTES_LOCATED 64 /* notes whose JSON key's line is looked up (each look is a scan of the file) */

/* ---- Nomad's layout ------------------------------------------------------------------- */

enum shape {
        S_BLOCK, /* a block (HCL) or object (JSON) of the keys listed under it */
        S_VALUE, /* a value: string, number, bool or list */
        S_MAP,   /* a block or object of free keys (client.meta, client.options) */
        S_ANY,   /* a block or a value, not looked into (consul { ... }, plugin "x" { ... }) */
};

static const struct {
        const char *path;
        enum shape shape;
} layout[] = {
    {"name", S_VALUE},
    {"region", S_VALUE},
    {"datacenter", S_VALUE},
    {"data_dir", S_VALUE},
    {"bind_addr", S_VALUE},
    {"log_level", S_VALUE},
    {"log_json", S_VALUE},
    {"log_file", S_VALUE},
    {"log_include_location", S_VALUE},
    {"log_rotate_bytes", S_VALUE},
    {"log_rotate_duration", S_VALUE},
    {"log_rotate_max_files", S_VALUE},
    {"enable_syslog", S_VALUE},
    {"syslog_facility", S_VALUE},
    {"enable_debug", S_VALUE},
    {"disable_update_check", S_VALUE},
    {"disable_anonymous_signature", S_VALUE},
    {"leave_on_interrupt", S_VALUE},
    {"leave_on_terminate", S_VALUE},
    {"plugin_dir", S_VALUE},
    {"addresses", S_ANY},
    {"advertise", S_ANY},
    {"audit", S_ANY},
    {"autopilot", S_ANY},
    {"consul", S_ANY},
    {"http_api_response_headers", S_ANY},
    {"keyring", S_ANY},
    {"limits", S_ANY},
    {"plugin", S_ANY},
    {"reporting", S_ANY},
    {"sentinel", S_ANY},
    {"ui", S_ANY},
    {"vault", S_ANY},
    {"ports", S_BLOCK},
    {"ports.http", S_VALUE},
    {"ports.rpc", S_VALUE},
    {"ports.serf", S_VALUE},
    {"server", S_BLOCK},
    {"server.enabled", S_VALUE},
    {"server.bootstrap_expect", S_VALUE},
    {"server.data_dir", S_VALUE},
    {"server.encrypt", S_VALUE},
    {"server.raft_protocol", S_VALUE},
    {"server.raft_multiplier", S_VALUE},
    {"server.num_schedulers", S_VALUE},
    {"server.enabled_schedulers", S_VALUE},
    {"server.node_gc_threshold", S_VALUE},
    {"server.job_gc_interval", S_VALUE},
    {"server.job_gc_threshold", S_VALUE},
    {"server.eval_gc_threshold", S_VALUE},
    {"server.batch_eval_gc_threshold", S_VALUE},
    {"server.deployment_gc_threshold", S_VALUE},
    {"server.csi_volume_claim_gc_threshold", S_VALUE},
    {"server.csi_plugin_gc_threshold", S_VALUE},
    {"server.acl_token_gc_threshold", S_VALUE},
    {"server.one_time_token_gc_threshold", S_VALUE},
    {"server.root_key_gc_threshold", S_VALUE},
    {"server.heartbeat_grace", S_VALUE},
    {"server.min_heartbeat_ttl", S_VALUE},
    {"server.max_heartbeats_per_second", S_VALUE},
    {"server.failover_heartbeat_ttl", S_VALUE},
    {"server.rejoin_after_leave", S_VALUE},
    {"server.retry_join", S_VALUE},
    {"server.retry_interval", S_VALUE},
    {"server.retry_max", S_VALUE},
    {"server.start_join", S_VALUE},
    {"server.server_join", S_BLOCK},
    {"server.server_join.retry_join", S_VALUE},
    {"server.server_join.retry_interval", S_VALUE},
    {"server.server_join.retry_max", S_VALUE},
    {"server.server_join.start_join", S_VALUE},
    {"server.authoritative_region", S_VALUE},
    {"server.non_voting_server", S_VALUE},
    {"server.redundancy_zone", S_VALUE},
    {"server.upgrade_version", S_VALUE},
    {"server.license_path", S_VALUE},
    {"server.raft_snapshot_threshold", S_VALUE},
    {"server.raft_snapshot_interval", S_VALUE},
    {"server.raft_trailing_logs", S_VALUE},
    {"server.event_buffer_size", S_VALUE},
    {"server.job_max_priority", S_VALUE},
    {"server.job_default_priority", S_VALUE},
    {"server.deployment_query_rate_limit", S_VALUE},
    {"server.default_scheduler_config", S_ANY},
    {"server.plan_rejection_tracker", S_ANY},
    {"server.search", S_ANY},
    {"server.raft_boltdb", S_ANY},
    {"server.join_token", S_VALUE}, /* drover's: the servers' join credential */
    {"server.agent_addr", S_VALUE}, /* drover's: the node agents' listener (-agent-addr) */
    {"server.rpc_hold_timeout", S_VALUE}, /* drover's: Nomad's RPCHoldTimeout, not in its file (-rpc-hold-timeout) */
    {"client", S_BLOCK},
    {"client.enabled", S_VALUE},
    {"client.state_dir", S_VALUE},
    {"client.alloc_dir", S_VALUE},
    {"client.servers", S_VALUE},
    {"client.server_join", S_ANY},
    {"client.node_class", S_VALUE},
    {"client.node_pool", S_VALUE},
    {"client.meta", S_MAP},
    {"client.options", S_MAP},
    {"client.network_interface", S_VALUE},
    {"client.network_speed", S_VALUE},
    {"client.cpu_total_compute", S_VALUE},
    {"client.memory_total_mb", S_VALUE},
    {"client.disk_total_mb", S_VALUE},
    {"client.disk_free_mb", S_VALUE},
    {"client.min_dynamic_port", S_VALUE},
    {"client.max_dynamic_port", S_VALUE},
    {"client.reserved", S_ANY},
    {"client.reservable_cores", S_VALUE},
    {"client.max_kill_timeout", S_VALUE},
    {"client.disable_remote_exec", S_VALUE},
    {"client.template", S_ANY},
    {"client.host_volume", S_ANY},
    {"client.host_network", S_ANY},
    {"client.chroot_env", S_ANY},
    {"client.artifact", S_ANY},
    {"client.drain_on_shutdown", S_ANY},
    {"client.gc_interval", S_VALUE},
    {"client.gc_disk_usage_threshold", S_VALUE},
    {"client.gc_inode_usage_threshold", S_VALUE},
    {"client.gc_max_allocs", S_VALUE},
    {"client.server_loss_grace", S_VALUE}, /* drover's own (Nomad has none) */
    {"client.gc_parallel_destroys", S_VALUE},
    {"client.no_host_uuid", S_VALUE},
    {"client.cni_path", S_VALUE},
    {"client.cni_config_dir", S_VALUE},
    {"client.bridge_network_name", S_VALUE},
    {"client.bridge_network_subnet", S_VALUE},
    {"client.cgroup_parent", S_VALUE},
    {"client.preferred_address_family", S_VALUE},
    {"acl", S_BLOCK},
    {"acl.enabled", S_VALUE},
    {"acl.token_ttl", S_VALUE},
    {"acl.policy_ttl", S_VALUE},
    {"acl.role_ttl", S_VALUE},
    {"acl.token_min_expiration_ttl", S_VALUE},
    {"acl.token_max_expiration_ttl", S_VALUE},
    {"acl.replication_token", S_VALUE},
    {"tls", S_BLOCK},
    {"tls.http", S_VALUE},
    {"tls.rpc", S_VALUE},
    {"tls.ca_file", S_VALUE},
    {"tls.cert_file", S_VALUE},
    {"tls.key_file", S_VALUE},
    {"tls.verify_server_hostname", S_VALUE},
    {"tls.verify_https_client", S_VALUE},
    {"tls.rpc_upgrade_mode", S_VALUE},
    {"tls.tls_min_version", S_VALUE},
    {"tls.tls_cipher_suites", S_VALUE},
    {"tls.tls_prefer_server_cipher_suites", S_VALUE},
    {"telemetry", S_BLOCK},
    {"telemetry.prometheus_metrics", S_VALUE},
    {"telemetry.collection_interval", S_VALUE},
    {"telemetry.disable_hostname", S_VALUE},
    {"telemetry.use_node_name", S_VALUE},
    {"telemetry.publish_allocation_metrics", S_VALUE},
    {"telemetry.publish_node_metrics", S_VALUE},
    {"telemetry.statsd_address", S_VALUE},
    {"telemetry.statsite_address", S_VALUE},
    {"telemetry.datadog_address", S_VALUE},
    {"telemetry.datadog_tags", S_VALUE},
    {"telemetry.filter_default", S_VALUE},
    {"telemetry.prefix_filter", S_VALUE},
    {"telemetry.in_memory_collection_interval", S_VALUE},
    {"telemetry.in_memory_retention_period", S_VALUE},
    {"telemetry.disable_dispatched_job_summary_metrics", S_VALUE},
};

static int layout_find(const char *path) {
        for (size_t i = 0; i < ARRAY_SIZE(layout); i++)
                if (strcmp(layout[i].path, path) == 0)
                        return (int)i;
        return -1;
}

/* ---- the reader ------------------------------------------------------------------------ */

struct agent_file {
        const struct agent_file_spec *spec;
        char notes[AGENT_FILE_NOTES];
        struct hashmap *noted; /* key paths noted, each once */
        char *sources;         /* "a.hcl,b.json" */
        size_t n_files;
        /* the file being read */
        void *cfg;
        const char *file;
        const char *src; /* JSON: its text, to find a key's line */
        size_t src_len;
};

int agent_file_create(const struct agent_file_spec *spec, struct agent_file **ret, struct error *err) {
        struct agent_file *af = calloc(1, sizeof(*af));
        if (!af || !(af->sources = strdup("")) || !(af->noted = hashmap_create(HASHMAP_OWN_KEYS))) {
                agent_file_destroy(af);
                return errorf(err, -ENOMEM, "out of memory");
        }
        af->spec = spec;
        *ret = af;
        return 0;
}

struct agent_file *agent_file_destroy(struct agent_file *af) {
        if (!af)
                return NULL;
        hashmap_destroy(af->noted);
        free(af->sources);
        free(af);
        return NULL;
}

void agent_file_destroyp(struct agent_file **af) {
        agent_file_destroy(*af);
}

const char *agent_file_notes(const struct agent_file *af) {
        return af->notes;
}

const char *agent_file_sources(const struct agent_file *af) {
        return af->sources;
}

/* One key met in a file: an HCL attribute or block, an entry of an HCL object, or a
 * JSON member. line is 0 for JSON until located. */
struct entry {
        const char *name;
        int line, col;
        const struct hcl_item *block; /* HCL block */
        const struct hcl_value *hv;   /* HCL value (attribute or object entry) */
        const json_t *j;              /* JSON value */
};

/* The line and column of the JSON key at path (keys joined with '.', arrays looked
 * through), by a linear scan of the text jansson already accepted; 0 if not found. */
static void json_locate(const char *s, size_t len, const char *target, int *ret_line, int *ret_col) {
        char path[PATH_LEN];
        size_t base[LIMIT_JSON_DEPTH + 2];
        bool obj[LIMIT_JSON_DEPTH + 2], want_key[LIMIT_JSON_DEPTH + 2];
        size_t cur = 0;
        int depth = 0, line = 1, col = 1;
        *ret_line = *ret_col = 0;
        path[0] = '\0';
        base[0] = 0;
        obj[0] = false;
        for (size_t i = 0; i < len; i++, col++) {
                char c = s[i];
                if (c == '\n') {
                        line++;
                        col = 0;
                } else if (c == '"') {
                        int kline = line, kcol = col;
                        size_t start = ++i;
                        while (i < len && s[i] != '"')
                                i += s[i] == '\\' ? 2 : 1;
                        col += (int)(i - start) + 1;
                        if (depth > 0 && obj[depth] && want_key[depth]) {
                                want_key[depth] = false;
                                size_t klen = i - start, b = base[depth];
                                if (b + klen + 2 > sizeof(path))
                                        continue;
                                if (b)
                                        path[b++] = '.';
                                memcpy(path + b, s + start, klen);
                                path[b + klen] = '\0';
                                cur = b + klen;
                                if (strcmp(path, target) == 0) {
                                        *ret_line = kline;
                                        *ret_col = kcol;
                                        return;
                                }
                        }
                } else if (c == '{' || c == '[') {
                        if (depth > LIMIT_JSON_DEPTH)
                                return;
                        size_t b = depth == 0 ? 0 : obj[depth] ? cur : base[depth];
                        depth++;
                        base[depth] = b;
                        obj[depth] = c == '{';
                        want_key[depth] = true;
                        path[b] = '\0';
                } else if ((c == '}' || c == ']') && depth > 0) {
                        depth--;
                } else if (c == ',' && depth > 0) {
                        want_key[depth] = true;
                }
        }
}

static const char *where(struct agent_file *af, const struct entry *e, const char *path, char *buf) {
        int line = e->line, col = e->col;
        if (e->j && !line)
                json_locate(af->src, af->src_len, path, &line, &col);
        if (line)
                snprintf(buf, WHERE_LEN, "%s:%d:%d", af->file, line, col);
        else
                snprintf(buf, WHERE_LEN, "%s", af->file);
        return buf;
}

static void note(struct agent_file *af, const struct entry *e, const char *path) {
        if (hashmap_contains(af->noted, path) || hashmap_put(af->noted, path, NULL, NULL) < 0)
                return;
        /* a JSON key's line costs a scan of the text: for the first notes only */
        struct entry at = *e;
        if (at.j && hashmap_count(af->noted) > NOTES_LOCATED)
                at.j = NULL;
        char w[WHERE_LEN];
        size_t used = strlen(af->notes);
        snprintf(af->notes + used, sizeof(af->notes) - used, "config: %s is not used by %s (%s)\n", path,
                 af->spec->program, where(af, &at, path, w));
}

/* ---- values of either format --------------------------------------------------------- */

enum vkind { V_STRING, V_INT, V_BOOL, V_LIST, V_OBJECT, V_OTHER };

static enum vkind hcl_kind(const struct hcl_value *v) {
        switch (v->kind) {
        case HCL_STRING:
                return v->tmpl ? V_OTHER : V_STRING;
        case HCL_INT:
                return V_INT;
        case HCL_BOOL:
                return V_BOOL;
        case HCL_LIST:
                return V_LIST;
        case HCL_OBJECT:
                return V_OBJECT;
        default:
                return V_OTHER;
        }
}

static enum vkind json_kind(const json_t *j) {
        if (json_is_string(j))
                return V_STRING;
        if (json_is_integer(j))
                return V_INT;
        if (json_is_boolean(j))
                return V_BOOL;
        if (json_is_object(j))
                return V_OBJECT;
        /* HCL's JSON form writes a block as a list of objects */
        if (json_is_array(j) && json_array_size(j) > 0 && json_is_object(json_array_get(j, 0)))
                return V_OBJECT;
        if (json_is_array(j))
                return V_LIST;
        return V_OTHER;
}

static enum vkind entry_kind(const struct entry *e) {
        if (e->block)
                return V_OBJECT;
        return e->hv ? hcl_kind(e->hv) : json_kind(e->j);
}

/* A scalar's text: strings as they are, numbers in decimal, bools as true/false. */
static int scalar_text(const struct hcl_value *hv, const json_t *j, char *buf, size_t size) {
        enum vkind k = hv ? hcl_kind(hv) : json_kind(j);
        const char *s = NULL;
        if (k == V_STRING)
                s = hv ? hv->str : json_string_value(j);
        else if (k == V_INT)
                return snprintf(buf, size, "%lld", hv ? (long long)hv->i : (long long)json_integer_value(j)), 0;
        else if (k == V_BOOL)
                s = (hv ? hv->b : json_is_true(j)) ? "true" : "false";
        else
                return -EINVAL;
        if (strlen(s) >= size)
                return -E2BIG;
        memcpy(buf, s, strlen(s) + 1);
        return 0;
}

static const char *kind_name(enum vkind k) {
        static const char *names[] = {"a string", "a number", "a bool", "a list", "a block", "another value"};
        return names[k];
}

static int wrong_type(struct agent_file *af, const struct entry *e, const char *path, const char *want,
                      struct error *err) {
        char w[WHERE_LEN];
        enum vkind k = entry_kind(e);
        bool tmpl = e->hv && e->hv->kind == HCL_STRING && e->hv->tmpl;
        return errorf(err, -EINVAL, "%s: %s: expected %s (got %s)", where(af, e, path, w), path, want,
                      tmpl ? "a template string: ${...} is not evaluated in a config file" : kind_name(k));
}

/* ---- containers: an HCL body, an HCL object, a JSON object or a list of them ---------- */

typedef int (*visit_fn)(struct agent_file *af, const char *prefix, const struct entry *e, bool in_map,
                        struct error *err);

static int each_entry(struct agent_file *af, const struct entry *parent, const char *prefix, bool in_map, visit_fn fn,
                      struct error *err) {
        int r = 0;
        if (parent->block) {
                const struct hcl_body *b = parent->block->body;
                for (size_t i = 0; i < b->n && r == 0; i++) {
                        const struct hcl_item *it = &b->items[i];
                        struct entry e = {.name = it->name, .line = it->line, .col = it->col};
                        if (it->is_block)
                                e.block = it;
                        else
                                e.hv = it->value;
                        r = fn(af, prefix, &e, in_map, err);
                }
                return r;
        }
        if (parent->hv) {
                const struct hcl_value *v = parent->hv;
                for (size_t i = 0; i < v->n && r == 0; i++) {
                        struct entry e = {
                            .name = v->keys[i], .line = v->items[i]->line, .col = v->items[i]->col, .hv = v->items[i]};
                        r = fn(af, prefix, &e, in_map, err);
                }
                return r;
        }
        const json_t *objs = parent->j;
        size_t n = json_is_array(objs) ? json_array_size(objs) : 1;
        for (size_t i = 0; i < n && r == 0; i++) {
                const json_t *o = json_is_array(objs) ? json_array_get(objs, i) : objs;
                if (!json_is_object(o)) {
                        char w[WHERE_LEN];
                        return errorf(err, -EINVAL, "%s: %s: expected an object", where(af, parent, prefix, w), prefix);
                }
                const char *k;
                json_t *v;
                json_object_foreach((json_t *)o, k, v) {
                        struct entry e = {.name = k, .j = v};
                        r = fn(af, prefix, &e, in_map, err);
                        if (r < 0)
                                break;
                }
        }
        return r;
}

/* ---- applying a value to an option ----------------------------------------------------- */

static const struct flag *key_flag(struct agent_file *af, const struct agent_file_key *k) {
        return k->flag ? flags_find(af->spec->flags, af->spec->n_flags, k->flag, strlen(k->flag)) : NULL;
}

static const char *flag_text(struct agent_file *af, const struct flag *f) {
        return *(char **)((char *)af->cfg + f->offset);
}

static int set_flag(struct agent_file *af, const struct flag *f, const struct entry *e, const char *path,
                    const char *text, struct error *err) {
        int r = flags_set(af->cfg, f, text, err);
        if (r < 0) {
                char w[WHERE_LEN];
                error_prefix(err, "%s: %s", where(af, e, path, w), path);
        }
        return r;
}

/* Grow-only text buffer for lists and maps (bounded by the file size). */
struct text {
        char *s;
        size_t len, cap;
};

/* The option set to t's text when r is 0; t freed; r or set_flag's result. */
static int set_text(struct agent_file *af, const struct flag *f, const struct entry *e, const char *path,
                    struct text *t, int r, struct error *err) {
        if (r == -ENOMEM)
                r = errorf(err, r, "out of memory");
        if (r == 0)
                r = set_flag(af, f, e, path, t->s, err);
        free(t->s);
        t->s = NULL;
        return r;
}

static int text_add(struct text *t, const char *a, const char *b, const char *c) {
        size_t n = strlen(a) + strlen(b) + strlen(c);
        if (t->len + n + 1 > t->cap) {
                size_t cap = MAX(t->cap * 2, t->len + n + 64);
                char *s = realloc(t->s, cap);
                if (!s)
                        return -ENOMEM;
                t->s = s;
                t->cap = cap;
        }
        t->len += (size_t)snprintf(t->s + t->len, t->cap - t->len, "%s%s%s", a, b, c);
        return 0;
}

static int apply_list(struct agent_file *af, const struct flag *f, const struct entry *e, const char *path, bool urls,
                      struct error *err) {
        char w[WHERE_LEN];
        if (entry_kind(e) != V_LIST)
                return wrong_type(af, e, path, "a list of strings", err);
        size_t n = e->hv ? e->hv->n : json_array_size(e->j);
        if (n > AGENT_FILE_MAX_LIST)
                return errorf(err, -E2BIG, "%s: %s: more than %d entries", where(af, e, path, w), path,
                              AGENT_FILE_MAX_LIST);
        _cleanup_free_ char *buf = malloc(AGENT_FILE_MAX_STRING);
        struct text t = {0};
        int r = buf ? text_add(&t, "", "", "") : -ENOMEM;
        for (size_t i = 0; i < n && r == 0; i++) {
                const struct hcl_value *hv = e->hv ? e->hv->items[i] : NULL;
                const json_t *j = e->hv ? NULL : json_array_get(e->j, i);
                if ((hv ? hcl_kind(hv) : json_kind(j)) != V_STRING ||
                    scalar_text(hv, j, buf, AGENT_FILE_MAX_STRING) < 0 || strchr(buf, ','))
                        r = errorf(err, -EINVAL, "%s: %s: entry %zu: expected a string of at most %d bytes without ','",
                                   where(af, e, path, w), path, i + 1, AGENT_FILE_MAX_STRING - 1);
                else
                        r = text_add(&t, i ? "," : "", urls && !strstr(buf, "://") ? "http://" : "", buf);
        }
        return set_text(af, f, e, path, &t, r, err);
}

static int merge_pairs(const char *old, struct text *t);

static int apply_map(struct agent_file *af, const struct flag *f, const struct entry *e, const char *path,
                     struct error *err) {
        if (entry_kind(e) != V_OBJECT)
                return wrong_type(af, e, path, "a block of key = value", err);
        struct text t = {0};
        int r = text_add(&t, "", "", "");
        char w[WHERE_LEN];
        _cleanup_free_ char *val = malloc(AGENT_FILE_MAX_STRING);
        if (r < 0 || !val) {
                free(t.s);
                return errorf(err, -ENOMEM, "out of memory");
        }
        /* the entries, through the same container walk as blocks */
        size_t count = 0;
        const struct hcl_body *b = e->block ? e->block->body : NULL;
        size_t n = b ? b->n : e->hv ? e->hv->n : 0;
        const json_t *jo = e->j && json_is_array(e->j) ? json_array_get(e->j, 0) : e->j;
        if (jo && (!json_is_object(jo) || (json_is_array(e->j) && json_array_size(e->j) != 1))) {
                free(t.s);
                return wrong_type(af, e, path, "one object of key: value", err);
        }
        void *it = jo ? json_object_iter((json_t *)jo) : NULL;
        for (size_t i = 0; r == 0 && (jo ? it != NULL : i < n); i++) {
                const char *k;
                const struct hcl_value *hv = NULL;
                const json_t *j = NULL;
                struct entry sub = {0};
                if (b) {
                        k = b->items[i].name;
                        sub = (struct entry){.name = k, .line = b->items[i].line, .col = b->items[i].col};
                        if (b->items[i].is_block) {
                                r = errorf(err, -EINVAL, "%s: %s.%s: expected a value, not a block",
                                           where(af, &sub, path, w), path, k);
                                break;
                        }
                        hv = b->items[i].value;
                } else if (e->hv) {
                        k = e->hv->keys[i];
                        hv = e->hv->items[i];
                        sub = (struct entry){.name = k, .line = hv->line, .col = hv->col};
                } else {
                        k = json_object_iter_key(it);
                        j = json_object_iter_value(it);
                        it = json_object_iter_next((json_t *)jo, it);
                        sub = (struct entry){.name = k, .j = j};
                }
                sub.hv = hv;
                if (++count > LIMIT_MAP_ENTRIES)
                        r = errorf(err, -E2BIG, "%s: %s: more than %d entries", where(af, e, path, w), path,
                                   LIMIT_MAP_ENTRIES);
                else if (!*k || strlen(k) > LIMIT_KEY_LEN || strpbrk(k, "=,"))
                        r = errorf(err, -EINVAL, "%s: %s: key \"%.64s\": 1 to %d bytes without '=' or ','",
                                   where(af, &sub, path, w), path, k, LIMIT_KEY_LEN);
                else if (scalar_text(hv, j, val, AGENT_FILE_MAX_STRING) < 0 || strchr(val, ','))
                        r = errorf(err, -EINVAL,
                                   "%s: %s.%s: expected a string, number or bool of at most %d bytes "
                                   "without ','",
                                   where(af, &sub, path, w), path, k, AGENT_FILE_MAX_STRING - 1);
                else
                        r = text_add(&t, t.len ? "," : "", k, "=") < 0 || text_add(&t, val, "", "") < 0
                                ? errorf(err, -ENOMEM, "out of memory")
                                : 0;
        }
        if (r == 0)
                r = merge_pairs(flag_text(af, f), &t);
        return set_text(af, f, e, path, &t, r, err);
}

/* Whether the "k=v,k=v" list holds key (len bytes). */
static bool pairs_have(const char *list, const char *key, size_t len) {
        for (const char *p = list; *p;) {
                size_t n = strcspn(p, ",");
                if (n > len && p[len] == '=' && memcmp(p, key, len) == 0)
                        return true;
                p += n + (p[n] == ',');
        }
        return false;
}

/* t = the pairs of old whose key t does not set, then t's own. Linear in each
 * list's length times the other's entries (both bounded by LIMIT_MAP_ENTRIES). */
static int merge_pairs(const char *old, struct text *t) {
        struct text out = {0};
        int r = text_add(&out, "", "", "");
        for (const char *p = old; *p && r == 0;) {
                size_t n = strcspn(p, ","), k = strcspn(p, "=,");
                if (k < n && !pairs_have(t->s, p, k)) {
                        char pair[LIMIT_KEY_LEN + AGENT_FILE_MAX_STRING + 2];
                        snprintf(pair, sizeof(pair), "%.*s", (int)n, p);
                        r = text_add(&out, out.len ? "," : "", pair, "");
                }
                p += n + (p[n] == ',');
        }
        if (r == 0 && t->len)
                r = text_add(&out, out.len ? "," : "", t->s, "");
        if (r < 0) {
                free(out.s);
                return r;
        }
        free(t->s);
        *t = out;
        return 0;
}

/* Replace the host (host = true) or the port of the option's "ip:port". */
static int apply_hostport(struct agent_file *af, const struct flag *f, const struct entry *e, const char *path,
                          const char *value, bool host, struct error *err) {
        const char *old = flag_text(af, f);
        const char *colon = strrchr(old, ':');
        char w[WHERE_LEN];
        if (!colon)
                return errorf(err, -EINVAL, "%s: %s: -%s \"%s\" is not ip:port", where(af, e, path, w), path, f->name,
                              old);
        char buf[AGENT_FILE_MAX_STRING + 16];
        if (host) {
                bool v6 = strchr(value, ':') != NULL;
                snprintf(buf, sizeof(buf), "%s%s%s%s", v6 ? "[" : "", value, v6 ? "]" : "", colon);
        } else {
                snprintf(buf, sizeof(buf), "%.*s:%s", (int)(colon - old), old, value);
        }
        return set_flag(af, f, e, path, buf, err);
}

static int apply(struct agent_file *af, const struct agent_file_key *k, const char *path, const struct entry *e,
                 struct error *err) {
        char w[WHERE_LEN];
        const struct flag *f = key_flag(af, k);
        if (k->how != AGENT_FILE_TRUE && !f)
                return errorf(err, -EINVAL, "%s: %s: no option \"%s\" in %s (a bug)", where(af, e, path, w), path,
                              k->flag ? k->flag : "", af->spec->program);
        enum vkind kind = entry_kind(e);
        if (k->how == AGENT_FILE_LIST || k->how == AGENT_FILE_URLS)
                return apply_list(af, f, e, path, k->how == AGENT_FILE_URLS, err);
        if (k->how == AGENT_FILE_MAP)
                return apply_map(af, f, e, path, err);
        char text[AGENT_FILE_MAX_STRING];
        if (k->how == AGENT_FILE_TRUE) {
                if (kind != V_BOOL || !(e->hv ? e->hv->b : json_is_true(e->j)))
                        return errorf(err, -EINVAL, "%s: %s: %s (expected true)", where(af, e, path, w), path, k->why);
                return 0;
        }
        enum vkind want = V_STRING;
        const char *want_text = "a string";
        if (k->how == AGENT_FILE_PORT)
                want = V_INT, want_text = "a port number";
        else if (k->how == AGENT_FILE_SET && f->type == FLAG_INT)
                want = V_INT, want_text = "a number";
        else if (k->how == AGENT_FILE_SET && f->type == FLAG_BOOL)
                want = V_BOOL, want_text = "true or false";
        else if (k->how == AGENT_FILE_SET && f->type == FLAG_DURATION_MS)
                want_text = "a duration string such as \"10s\"";
        /* a bool may be written as a string, as client.options values are ("1", "true") */
        if (kind != want && !(want == V_BOOL && kind == V_STRING))
                return wrong_type(af, e, path, want_text, err);
        if (scalar_text(e->hv, e->j, text, sizeof(text)) < 0)
                return errorf(err, -E2BIG, "%s: %s: longer than %d bytes", where(af, e, path, w), path,
                              AGENT_FILE_MAX_STRING - 1);
        switch (k->how) {
        case AGENT_FILE_LEVEL: {
                for (char *p = text; *p; p++)
                        *p = (char)tolower((unsigned char)*p);
                const char *lvl = strcmp(text, "trace") == 0 ? "debug" : strcmp(text, "err") == 0 ? "error" : text;
                if (strcmp(lvl, "debug") && strcmp(lvl, "info") && strcmp(lvl, "warn") && strcmp(lvl, "error"))
                        return errorf(err, -EINVAL, "%s: %s: expected trace, debug, info, warn or error (got \"%s\")",
                                      where(af, e, path, w), path, text);
                return set_flag(af, f, e, path, lvl, err);
        }
        case AGENT_FILE_HOST:
                if (!*text || strpbrk(text, " /[]"))
                        return errorf(err, -EINVAL, "%s: %s: expected an IP address (got \"%.64s\")",
                                      where(af, e, path, w), path, text);
                return apply_hostport(af, f, e, path, text, true, err);
        case AGENT_FILE_PORT: {
                long long port = e->hv ? (long long)e->hv->i : (long long)json_integer_value(e->j);
                if (port < 1 || port > 65535)
                        return errorf(err, -EINVAL, "%s: %s: expected a port number from 1 to 65535 (got %lld)",
                                      where(af, e, path, w), path, port);
                return f->type == FLAG_STR ? apply_hostport(af, f, e, path, text, false, err)
                                           : set_flag(af, f, e, path, text, err);
        }
        default:
                return set_flag(af, f, e, path, text, err);
        }
}

/* ---- the walk ------------------------------------------------------------------------- */

static bool honours_below(const struct agent_file_spec *spec, const char *path) {
        size_t n = strlen(path);
        for (size_t i = 0; i < spec->n_keys; i++)
                if (strncmp(spec->keys[i].path, path, n) == 0 && spec->keys[i].path[n] == '.')
                        return true;
        return false;
}

static int visit(struct agent_file *af, const char *prefix, const struct entry *e, bool in_map, struct error *err) {
        char path[PATH_LEN], w[WHERE_LEN];
        if ((size_t)snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", e->name) >= sizeof(path))
                return errorf(err, -EINVAL, "%s: a key path longer than %d bytes", where(af, e, prefix, w),
                              PATH_LEN - 1);
        enum shape shape = S_VALUE;
        if (!in_map) {
                int l = layout_find(path);
                if (l < 0)
                        return errorf(err, -EINVAL, "%s: unknown setting \"%.64s\"%s%s (%s; see %s -help)",
                                      where(af, e, path, w), e->name, *prefix ? " in " : "", prefix, path,
                                      af->spec->program);
                shape = layout[l].shape;
        }
        if (e->block && e->block->n_labels && shape != S_ANY)
                return errorf(err, -EINVAL, "%s: %s: takes no label", where(af, e, path, w), path);
        bool honoured = false;
        for (size_t i = 0; i < af->spec->n_keys; i++)
                if (strcmp(af->spec->keys[i].path, path) == 0) {
                        int r = apply(af, &af->spec->keys[i], path, e, err);
                        if (r < 0)
                                return r;
                        honoured = true;
                }
        if (honoured)
                return 0;
        bool object = entry_kind(e) == V_OBJECT;
        if (shape == S_BLOCK && !object)
                return wrong_type(af, e, path, "a block", err);
        if (shape == S_VALUE && e->block)
                return errorf(err, -EINVAL, "%s: %s: expected a value, not a block", where(af, e, path, w), path);
        if (shape == S_BLOCK || (shape == S_MAP && object && honours_below(af->spec, path)))
                return each_entry(af, e, path, shape == S_MAP, visit, err);
        if (shape == S_MAP && !object)
                return wrong_type(af, e, path, "a block of key = value", err);
        note(af, e, path);
        return 0;
}

static bool is_json(const char *path, const char *buf, size_t len) {
        size_t n = strlen(path);
        if (n >= 5 && strcmp(path + n - 5, ".json") == 0)
                return true;
        if (n >= 4 && strcmp(path + n - 4, ".hcl") == 0)
                return false;
        size_t i = 0;
        while (i < len && isspace((unsigned char)buf[i]))
                i++;
        return i < len && buf[i] == '{'; /* an HCL body cannot start with '{' */
}

static int load_one(struct agent_file *af, const char *path, struct error *err) {
        if (af->n_files >= AGENT_FILE_MAX_FILES)
                return errorf(err, -E2BIG, "-config %s: more than %d files", path, AGENT_FILE_MAX_FILES);
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f)
                return errorf(err, -errno, "-config %s: %s", path, strerror(errno));
        _cleanup_free_ char *buf = malloc(AGENT_FILE_MAX_BYTES + 1);
        if (!buf)
                return errorf(err, -ENOMEM, "-config %s: out of memory", path);
        size_t len = fread(buf, 1, AGENT_FILE_MAX_BYTES + 1, f);
        if (ferror(f))
                return errorf(err, -EIO, "-config %s: cannot read it", path);
        if (len > AGENT_FILE_MAX_BYTES)
                return errorf(err, -EFBIG, "-config %s: larger than %d bytes", path, AGENT_FILE_MAX_BYTES);
        buf[len] = '\0';
        af->n_files++;
        size_t slen = strlen(af->sources);
        char *s = realloc(af->sources, slen + strlen(path) + 2);
        if (!s)
                return errorf(err, -ENOMEM, "out of memory");
        snprintf(s + slen, strlen(path) + 2, "%s%s", slen ? "," : "", path);
        af->sources = s;
        af->file = path;
        int r;
        if (is_json(path, buf, len)) {
                r = limits_json_prescan(buf, len, err);
                if (r < 0)
                        return error_prefix(err, "%s", path);
                json_error_t je;
                json_t *root = json_loadb(buf, len, 0, &je);
                if (!root)
                        return errorf(err, -EINVAL, "%s:%d:%d: %s", path, je.line, je.column, je.text);
                af->src = buf;
                af->src_len = len;
                struct entry top = {.name = "", .j = root};
                r = json_is_object(root) ? each_entry(af, &top, "", false, visit, err)
                                         : errorf(err, -EINVAL, "%s: expected a JSON object", path);
                json_decref(root);
        } else {
                struct hcl_body *body = NULL;
                r = hcl_parse(buf, len, path, &body, err);
                if (r < 0)
                        return r;
                struct hcl_item item = {.is_block = true, .body = body};
                struct entry top = {.name = "", .block = &item};
                r = each_entry(af, &top, "", false, visit, err);
                hcl_body_free(body);
        }
        af->src = NULL;
        af->file = NULL;
        return r;
}

static int by_name(const struct dirent **a, const struct dirent **b) {
        return strcmp((*a)->d_name, (*b)->d_name);
}

static int config_file_name(const struct dirent *d) {
        size_t n = strlen(d->d_name);
        return d->d_name[0] != '.' && ((n > 4 && strcmp(d->d_name + n - 4, ".hcl") == 0) ||
                                       (n > 5 && strcmp(d->d_name + n - 5, ".json") == 0));
}

int agent_file_load(struct agent_file *af, void *cfg, const char *path, struct error *err) {
        af->cfg = cfg;
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
                struct dirent **names = NULL;
                int n = scandir(path, &names, config_file_name, by_name);
                if (n < 0)
                        return errorf(err, -errno, "-config %s: %s", path, strerror(errno));
                int r = n > AGENT_FILE_MAX_FILES
                            ? errorf(err, -E2BIG, "-config %s: more than %d files", path, AGENT_FILE_MAX_FILES)
                            : 0;
                for (int i = 0; i < n; i++) {
                        char file[PATH_MAX];
                        if (r == 0 &&
                            (size_t)snprintf(file, sizeof(file), "%s/%s", path, names[i]->d_name) >= sizeof(file))
                                r = errorf(err, -ENAMETOOLONG, "-config %s: a name too long", path);
                        if (r == 0) {
                                struct stat fst;
                                if (stat(file, &fst) == 0 && S_ISREG(fst.st_mode))
                                        r = load_one(af, file, err);
                        }
                        free(names[i]);
                }
                free(names);
                return r;
        }
        return load_one(af, path, err);
}

int agent_file_load_args(struct agent_file *af, void *cfg, int argc, char **argv, struct error *err) {
        int count = 0;
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i], *file = NULL;
                if (a[0] != '-')
                        continue;
                a += a[1] == '-' ? 2 : 1;
                if (strcmp(a, "config") == 0 && i + 1 < argc)
                        file = argv[++i];
                else if (strncmp(a, "config=", 7) == 0)
                        file = a + 7;
                if (!file)
                        continue;
                int r = agent_file_load(af, cfg, file, err);
                if (r < 0)
                        return r;
                count++;
        }
        return count;
}

int agent_file_parse_args(const struct agent_file_spec *spec, void *cfg, int argc, char **argv, char **ret_notes,
                          struct error *err) {
        _cleanup_(agent_file_destroyp) struct agent_file *af = NULL;
        int r = agent_file_create(spec, &af, err);
        if (r == 0)
                r = agent_file_load_args(af, cfg, argc, argv, err);
        if (r >= 0)
                r = flags_parse(cfg, spec->flags, spec->n_flags, argc, argv, err);
        const struct flag *f = flags_find(spec->flags, spec->n_flags, "config", 6);
        if (r == 0 && f && af->n_files)
                r = flags_set(cfg, f, af->sources, err);
        if (r < 0)
                return r;
        char *notes = strdup(af->notes);
        if (!notes)
                return errorf(err, -ENOMEM, "out of memory");
        *ret_notes = notes;
        return r;
}

void agent_file_print_notes(const char *notes, FILE *out) {
        for (const char *n = notes ? notes : ""; *n;) {
                size_t len = strcspn(n, "\n");
                fprintf(out, "# %.*s\n", (int)len, n);
                n += len + (n[len] == '\n');
        }
}

/* ---- help ------------------------------------------------------------------------------- */

static const char *how_text(enum agent_file_how how) {
        switch (how) {
        case AGENT_FILE_LIST:
                return " (list)";
        case AGENT_FILE_URLS:
                return " (list; host:port gets http://)";
        case AGENT_FILE_MAP:
                return " (k=v,...)";
        case AGENT_FILE_HOST:
                return " (its ip)";
        case AGENT_FILE_PORT:
                return " (its port)";
        default:
                return "";
        }
}

void agent_file_print_help(const struct agent_file_spec *spec, FILE *out) {
        fprintf(out,
                "\nConfiguration file (-config FILE or DIR, repeatable; Nomad's agent layout, HCL or JSON;\n"
                "later files win, then the flags). Keys %s honours:\n",
                spec->program);
        for (size_t i = 0; i < spec->n_keys; i++) {
                const struct agent_file_key *k = &spec->keys[i];
                if (k->how == AGENT_FILE_TRUE)
                        fprintf(out, "  %-40s must be true\n", k->path);
                else
                        fprintf(out, "  %-40s -%s%s\n", k->path, k->flag, how_text(k->how));
        }
        fprintf(out, "Accepted and ignored (with a note): the rest of Nomad's layout:");
        size_t col = 80;
        bool first = true;
        for (size_t i = 0; i < ARRAY_SIZE(layout); i++) {
                const char *p = layout[i].path, *dot = strrchr(p, '.');
                bool honoured = honours_below(spec, p);
                for (size_t k = 0; k < spec->n_keys && !honoured; k++)
                        honoured = strcmp(spec->keys[k].path, p) == 0;
                if (honoured)
                        continue;
                /* shown once at the highest level wholly ignored */
                if (dot) {
                        char parent[PATH_LEN];
                        snprintf(parent, sizeof(parent), "%.*s", (int)(dot - p), p);
                        if (!honours_below(spec, parent))
                                continue;
                }
                size_t n = strlen(p) + 2;
                if (!first)
                        fputc(',', out);
                if (col + n > 78) {
                        fprintf(out, "\n   ");
                        col = 3;
                }
                fprintf(out, " %s", p);
                col += n;
                first = false;
        }
        fprintf(out, "\nAny other key is an error naming FILE:LINE:COL.\n");
}
