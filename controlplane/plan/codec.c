/* codec.c - the compact binary form of a plan result. See codec.h. */
#include "controlplane/plan/codec.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/model.h"
#include "controlplane/scheduler/plan.h"

/* Every count, length, index and tag is an unsigned LEB128 varint (uv); a string is
 * uv(length + 1) and its bytes, 0 for NULL. */
#define REF_NULL 0u
#define REF_NEW 1u  /* a literal follows and joins the table */
#define REF_ONCE 2u /* a literal follows (the table is full) */
#define REF_BASE 3u /* REF_BASE + i: entry i of the table */
#define MAX_REFS 256 /* repeated strings kept per result (node names included) */
#define REF_HASH 512 /* the writer's table of them: open addressing, at most half full */
#define ID_NULL 0u
#define ID_UUID 1u /* 16 bytes: a canonical lowercase UUID */
#define ID_TEXT 2u /* ID_TEXT + length, then the bytes */
#define NAME_TEXT 3u /* NAME_TEXT + length, then the bytes; below: "<prefix>[<index>]" */
#define NAME_SAME 1u /* the previous alloc's prefix, then uv(index) */
#define NAME_NEW 2u  /* uv(prefix length), the prefix, uv(index) */
#define NAME_MAX_INDEX 999999999u
#define UV_MAX_BYTES 10
#define UUID_LEN 36
#define FORM_COMPACT 0
#define FORM_JSON 1

/* ---- writing ------------------------------------------------------------------------ */

enum ref_field {
        REF_NAMESPACE,
        REF_EVAL,
        REF_NODE_NAME,
        REF_JOB,
        REF_GROUP,
        REF_DESIRED_DESC,
        REF_CLIENT_DESC,
        REF_STOP_DESC,
        REF_FIELDS
};

struct wbuf {
        unsigned char *p;
        size_t len, cap;
        bool oom;
        const char *refs[MAX_REFS];
        uint32_t n_refs;
        uint16_t ref_slot[REF_HASH]; /* index + 1 into refs, by the string's hash; 0: empty */
        uint32_t last_ref[REF_FIELDS]; /* index + 1 of each field's previous string; 0: none */
        const json_t **metrics;
        uint32_t n_metrics, cap_metrics;
        uint32_t last_metric;
        const char *name_prefix; /* the previous alloc's name prefix (name_len bytes) */
        size_t name_len;
};

static void put(struct wbuf *w, const void *src, size_t n) {
        if (w->oom)
                return;
        if (w->len + n > w->cap) {
                size_t cap = w->cap ? w->cap : 4096;
                while (cap < w->len + n)
                        cap *= 2;
                unsigned char *p = realloc(w->p, cap);
                if (!p) {
                        w->oom = true;
                        return;
                }
                w->p = p;
                w->cap = cap;
        }
        memcpy(w->p + w->len, src, n);
        w->len += n;
}

static void put_u64(struct wbuf *w, uint64_t v) {
        unsigned char b[8];
        for (int i = 0; i < 8; i++)
                b[i] = (unsigned char)(v >> (8 * i));
        put(w, b, 8);
}

static void put_uv(struct wbuf *w, uint64_t v) {
        unsigned char b[UV_MAX_BYTES];
        size_t n = 0;
        do {
                b[n] = (unsigned char)(v & 0x7f);
                v >>= 7;
                if (v)
                        b[n] |= 0x80;
                n++;
        } while (v);
        put(w, b, n);
}

/* A signed value as a varint (zigzag: small magnitudes, either sign, take few bytes). */
static void put_sv(struct wbuf *w, int64_t v) {
        put_uv(w, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

static void put_u8(struct wbuf *w, uint8_t v) {
        put(w, &v, 1);
}

static void put_str(struct wbuf *w, const char *s) {
        if (!s) {
                put_uv(w, 0);
                return;
        }
        size_t n = strlen(s);
        put_uv(w, (uint64_t)n + 1);
        put(w, s, n);
}

static int hexval(char c) {
        return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Whether s is a UUID as drover writes them (8-4-4-4-12 lowercase hex): 16 bytes in out. */
static bool uuid_pack(const char *s, size_t n, unsigned char out[16]) {
        if (n != UUID_LEN)
                return false;
        size_t k = 0;
        for (size_t i = 0; i < UUID_LEN; i++) {
                if (i == 8 || i == 13 || i == 18 || i == 23) {
                        if (s[i] != '-')
                                return false;
                        continue;
                }
                int h = hexval(s[i]), l = hexval(s[i + 1]);
                if (h < 0 || l < 0)
                        return false;
                out[k++] = (unsigned char)(h << 4 | l);
                i++;
        }
        return true;
}

/* An ID: 16 bytes when it is a UUID (alloc and node IDs), else its text. */
static void put_id(struct wbuf *w, const char *s) {
        if (!s) {
                put_uv(w, ID_NULL);
                return;
        }
        size_t n = strlen(s);
        unsigned char u[16];
        if (uuid_pack(s, n, u)) {
                put_uv(w, ID_UUID);
                put(w, u, 16);
                return;
        }
        put_uv(w, ID_TEXT + (uint64_t)n);
        put(w, s, n);
}

/* An alloc's name: "<job>.<group>[<index>]" as the previous alloc's prefix (or a new
 * one) and the index; any other name as its text. The index has no leading zero, so
 * the name is rebuilt exactly. */
static void put_name(struct wbuf *w, const char *s) {
        if (!s) {
                put_uv(w, 0);
                return;
        }
        size_t n = strlen(s);
        const char *open = NULL;
        for (size_t i = n >= 3 && s[n - 1] == ']' ? n - 1 : 0; i > 0 && !open; i--)
                if (s[i - 1] == '[')
                        open = s + i - 1;
        uint64_t idx = 0;
        size_t digits = open ? (size_t)(s + n - 1 - open - 1) : 0;
        bool indexed = open && digits >= 1 && digits <= 9 && (digits == 1 || open[1] != '0');
        for (size_t i = 0; indexed && i < digits; i++) {
                char c = open[1 + i];
                indexed = c >= '0' && c <= '9';
                idx = idx * 10 + (uint64_t)(c - '0');
        }
        if (!indexed) {
                put_uv(w, NAME_TEXT + (uint64_t)n);
                put(w, s, n);
                return;
        }
        size_t plen = (size_t)(open - s);
        if (w->name_prefix && w->name_len == plen && memcmp(w->name_prefix, s, plen) == 0) {
                put_uv(w, NAME_SAME);
        } else {
                put_uv(w, NAME_NEW);
                put_uv(w, plen);
                put(w, s, plen);
                w->name_prefix = s;
                w->name_len = plen;
        }
        put_uv(w, idx);
}

static uint32_t str_hash(const char *s) {
        uint32_t h = 2166136261u; /* FNV-1a */
        for (; *s; s++)
                h = (h ^ (unsigned char)*s) * 16777619u;
        return h;
}

/* A string that repeats within a result: an index into the table after its first
 * time. field names which of the alloc's strings it is: most are the previous
 * alloc's, found without hashing. */
static void put_ref(struct wbuf *w, const char *s, enum ref_field field) {
        if (!s) {
                put_uv(w, REF_NULL);
                return;
        }
        uint32_t last = w->last_ref[field];
        if (last && (w->refs[last - 1] == s || strcmp(w->refs[last - 1], s) == 0)) {
                put_uv(w, REF_BASE + last - 1);
                return;
        }
        uint32_t h = str_hash(s) & (REF_HASH - 1);
        for (; w->ref_slot[h]; h = (h + 1) & (REF_HASH - 1)) {
                uint32_t i = w->ref_slot[h];
                if (w->refs[i - 1] == s || strcmp(w->refs[i - 1], s) == 0) {
                        w->last_ref[field] = i;
                        put_uv(w, REF_BASE + i - 1);
                        return;
                }
        }
        if (w->n_refs < MAX_REFS) {
                w->refs[w->n_refs++] = s;
                w->ref_slot[h] = (uint16_t)w->n_refs;
                w->last_ref[field] = w->n_refs;
                put_uv(w, REF_NEW);
        } else {
                put_uv(w, REF_ONCE);
        }
        put_str(w, s);
}

static void put_json(struct wbuf *w, const json_t *j) {
        if (!j) {
                put_uv(w, 0);
                return;
        }
        char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!s) {
                w->oom = true;
                return;
        }
        put_str(w, s);
        free(s);
}

/* The index of a metrics object in the result's table (objects compared by identity:
 * the scheduler shares one per group and attempt). */
static int32_t metric_index(struct wbuf *w, const json_t *m) {
        if (!m)
                return -1;
        if (w->last_metric < w->n_metrics && w->metrics[w->last_metric] == m)
                return (int32_t)w->last_metric;
        for (uint32_t i = 0; i < w->n_metrics; i++)
                if (w->metrics[i] == m)
                        return (int32_t)(w->last_metric = i);
        if (w->n_metrics == w->cap_metrics) {
                uint32_t cap = w->cap_metrics ? w->cap_metrics * 2 : 8;
                const json_t **v = realloc(w->metrics, cap * sizeof(*v));
                if (!v) {
                        w->oom = true;
                        return -1;
                }
                w->metrics = v;
                w->cap_metrics = cap;
        }
        w->metrics[w->n_metrics] = m;
        return (int32_t)(w->last_metric = w->n_metrics++);
}

static bool compact_ok(const struct plan_result *r, const struct plan_node *pn, const struct alloc *a) {
        /* deployment fields travel in the JSON form (older logs stay readable), so do
         * the scheduler's assignments (AllocatedResources: ports, devices) */
        return a->n_task_states == 0 && !a->allocated && !a->deployment_id && a->deploy_health == DEPLOY_HEALTH_UNSET &&
               !a->deploy_canary && (!a->job || a->job == r->job) && a->node_id &&
               strcmp(a->node_id, pn->node_id) == 0;
}

static void put_alloc(struct wbuf *w, const struct plan_result *r, const struct plan_node *pn, const struct alloc *a,
                      const int32_t *metric_of) {
        if (!compact_ok(r, pn, a)) {
                put_u8(w, FORM_JSON);
                json_t *j = alloc_to_json(a);
                if (j && r->job && a->job == r->job)
                        json_object_del(j, "Job");
                put_json(w, j);
                put_u8(w, a->job && a->job == r->job);
                json_decref(j);
                return;
        }
        put_u8(w, FORM_COMPACT);
        put_id(w, a->id);
        put_ref(w, a->namespace, REF_NAMESPACE);
        put_ref(w, a->eval_id, REF_EVAL);
        put_name(w, a->name);
        put_ref(w, a->node_name, REF_NODE_NAME);
        put_ref(w, a->job_id, REF_JOB);
        put_ref(w, a->task_group, REF_GROUP);
        put_u8(w, a->job != NULL);
        put_uv(w, (uint64_t)a->resources.cpu);
        put_uv(w, (uint64_t)a->resources.memory_mb);
        put_uv(w, (uint64_t)a->resources.disk_mb);
        put_u8(w, (uint8_t)a->desired_status);
        put_ref(w, a->desired_description, REF_DESIRED_DESC);
        put_u8(w, (uint8_t)a->client_status);
        put_ref(w, a->client_description, REF_CLIENT_DESC);
        put_id(w, a->previous_allocation);
        put_id(w, a->next_allocation);
        put_uv(w, (uint64_t)(uint32_t)(*metric_of + 1)); /* 0: none */
        put_uv(w, a->create_index);
        put_uv(w, a->modify_index);
        put_uv(w, a->alloc_modify_index);
        /* times as their distance from the result's (wrapping: exact for any value) */
        put_sv(w, (int64_t)((uint64_t)a->create_time - (uint64_t)r->timestamp_ns));
        put_sv(w, (int64_t)((uint64_t)a->modify_time - (uint64_t)r->timestamp_ns));
        put_json(w, a->extra);
}

int plan_result_encode(const struct plan_result *r, void **ret_buf, size_t *ret_len) {
        struct wbuf w = {0};
        /* the metrics table goes before the allocations: collect it first */
        size_t n_allocs = plan_result_count_place(r);
        int32_t *metric_of = calloc(n_allocs ? n_allocs : 1, sizeof(*metric_of));
        if (!metric_of)
                return -ENOMEM;
        size_t k = 0;
        for (size_t i = 0; i < r->n_nodes; i++)
                for (size_t j = 0; j < r->nodes[i].n_place; j++)
                        metric_of[k++] = metric_index(&w, r->nodes[i].place[j]->metrics);
        put(&w, PLAN_CODEC_MAGIC, 4);
        put_str(&w, r->eval_id);
        put_u64(&w, (uint64_t)r->timestamp_ns);
        put_uv(&w, r->refresh_index);
        put_uv(&w, r->alloc_index);
        json_t *job = r->job ? job_to_json(r->job) : NULL;
        put_json(&w, job);
        json_decref(job);
        put_uv(&w, w.n_metrics);
        for (uint32_t i = 0; i < w.n_metrics; i++)
                put_json(&w, w.metrics[i]);
        put_uv(&w, r->n_rejected);
        for (size_t i = 0; i < r->n_rejected; i++)
                put_str(&w, r->rejected_nodes[i]);
        put_uv(&w, r->n_nodes);
        k = 0;
        for (size_t i = 0; i < r->n_nodes; i++) {
                const struct plan_node *pn = &r->nodes[i];
                put_id(&w, pn->node_id);
                put_uv(&w, pn->n_place);
                for (size_t j = 0; j < pn->n_place; j++)
                        put_alloc(&w, r, pn, pn->place[j], &metric_of[k++]);
                put_uv(&w, pn->n_stop);
                for (size_t j = 0; j < pn->n_stop; j++) {
                        const struct plan_stop *s = &pn->stop[j];
                        put_id(&w, s->alloc->id);
                        put_u8(&w, (uint8_t)s->desired);
                        put_ref(&w, s->description, REF_STOP_DESC);
                        put_sv(&w, s->client_status);
                }
        }
        free(metric_of);
        free(w.metrics);
        if (w.oom) {
                free(w.p);
                return -ENOMEM;
        }
        *ret_buf = w.p;
        *ret_len = w.len;
        return 0;
}

/* ---- reading ------------------------------------------------------------------------ */

struct rbuf {
        const unsigned char *p;
        size_t len, off;
        bool bad;
        char *refs[MAX_REFS]; /* in arena */
        uint32_t n_refs;
        /* The repeated strings and node IDs, shared by the decoded allocs (each holds a
         * reference): one copy per result, not one per alloc. */
        struct str_arena *arena;
        const char *name_prefix; /* the previous alloc's name prefix (name_len bytes, in the buffer) */
        size_t name_len;
};

static bool take(struct rbuf *b, size_t n, const unsigned char **ret) {
        if (b->bad || n > b->len - b->off) {
                b->bad = true;
                return false;
        }
        *ret = b->p + b->off;
        b->off += n;
        return true;
}

static uint64_t get_u64(struct rbuf *b) {
        const unsigned char *p;
        uint64_t v = 0;
        if (take(b, 8, &p))
                for (int i = 7; i >= 0; i--)
                        v = v << 8 | p[i];
        return v;
}

static uint64_t get_uv(struct rbuf *b) {
        uint64_t v = 0;
        for (int i = 0; i < UV_MAX_BYTES; i++) {
                const unsigned char *p;
                if (!take(b, 1, &p))
                        return 0;
                if (i == UV_MAX_BYTES - 1 && *p > 1) /* more than 64 bits */
                        break;
                v |= (uint64_t)(*p & 0x7f) << (7 * i);
                if (!(*p & 0x80))
                        return v;
        }
        b->bad = true;
        return 0;
}

/* A varint that must fit 32 bits. */
static uint32_t get_uv32(struct rbuf *b) {
        uint64_t v = get_uv(b);
        if (v > UINT32_MAX) {
                b->bad = true;
                return 0;
        }
        return (uint32_t)v;
}

static int64_t get_sv(struct rbuf *b) {
        uint64_t v = get_uv(b);
        return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static uint8_t get_u8(struct rbuf *b) {
        const unsigned char *p;
        return take(b, 1, &p) ? p[0] : 0;
}

/* n bytes of the buffer: a NUL-terminated copy in the arena (NULL and bad when they
 * are not there or memory is short). */
static char *get_bytes(struct rbuf *b, uint64_t n) {
        const unsigned char *p;
        if (n > b->len - b->off || !take(b, (size_t)n, &p))
                return b->bad = true, NULL;
        char *s = str_arena_add(b->arena, (const char *)p, (size_t)n);
        if (!s)
                b->bad = true;
        return s;
}

/* A string in the arena: NULL for a null string (or a bad buffer). */
static char *get_str_in(struct rbuf *b) {
        uint64_t n = get_uv(b);
        return n == 0 || b->bad ? NULL : get_bytes(b, n - 1);
}

/* A malloc'd copy (NULL for a null string or a bad buffer). */
static char *get_str(struct rbuf *b) {
        uint64_t n = get_uv(b);
        const unsigned char *p;
        if (n == 0 || b->bad || n - 1 > b->len - b->off || !take(b, (size_t)(n - 1), &p))
                return NULL;
        char *s = malloc((size_t)n);
        if (!s) {
                b->bad = true;
                return NULL;
        }
        memcpy(s, p, (size_t)(n - 1));
        s[n - 1] = '\0';
        return s;
}

/* An ID (put_id), in the arena. */
static char *get_id_in(struct rbuf *b) {
        uint64_t tag = get_uv(b);
        if (tag == ID_NULL || b->bad)
                return NULL;
        if (tag >= ID_TEXT)
                return get_bytes(b, tag - ID_TEXT);
        const unsigned char *u;
        char *s = take(b, 16, &u) ? str_arena_alloc(b->arena, UUID_LEN + 1) : NULL;
        if (!s) {
                b->bad = true;
                return NULL;
        }
        static const char digits[] = "0123456789abcdef";
        for (size_t i = 0, k = 0; i < UUID_LEN; i++) {
                if (i == 8 || i == 13 || i == 18 || i == 23) {
                        s[i] = '-';
                        continue;
                }
                s[i++] = digits[u[k] >> 4];
                s[i] = digits[u[k++] & 15];
        }
        s[UUID_LEN] = '\0';
        return s;
}

/* An ID as a malloc'd copy. */
static char *get_id(struct rbuf *b) {
        char *s = get_id_in(b);
        char *c = s ? strdup(s) : NULL;
        if (s && !c)
                b->bad = true;
        return c;
}

/* An alloc's name (put_name), in the arena. */
static char *get_name_in(struct rbuf *b) {
        uint64_t tag = get_uv(b);
        if (tag == 0 || b->bad)
                return NULL;
        if (tag >= NAME_TEXT)
                return get_bytes(b, tag - NAME_TEXT);
        if (tag == NAME_NEW) {
                uint64_t n = get_uv(b);
                const unsigned char *p;
                if (b->bad || n > b->len - b->off || !take(b, (size_t)n, &p))
                        return b->bad = true, NULL;
                b->name_prefix = (const char *)p;
                b->name_len = (size_t)n;
        } else if (!b->name_prefix) { /* NAME_SAME first */
                return b->bad = true, NULL;
        }
        uint64_t idx = get_uv(b);
        if (b->bad || idx > NAME_MAX_INDEX)
                return b->bad = true, NULL;
        char num[16];
        int k = snprintf(num, sizeof(num), "[%u]", (unsigned)idx);
        char *s = str_arena_alloc(b->arena, b->name_len + (size_t)k + 1);
        if (!s)
                return b->bad = true, NULL;
        memcpy(s, b->name_prefix, b->name_len);
        memcpy(s + b->name_len, num, (size_t)k + 1);
        return s;
}

/* A repeated string: in the arena (NULL for a null one or a bad buffer). */
static char *get_shared(struct rbuf *b) {
        uint64_t tag = get_uv(b);
        if (tag == REF_NULL || b->bad)
                return NULL;
        if (tag == REF_ONCE || tag == REF_NEW) {
                if (tag == REF_NEW && b->n_refs == MAX_REFS)
                        return b->bad = true, NULL;
                char *s = get_str_in(b);
                if (!s)
                        return b->bad = true, NULL;
                if (tag == REF_NEW)
                        b->refs[b->n_refs++] = s;
                return s;
        }
        if (tag - REF_BASE >= b->n_refs)
                return b->bad = true, NULL;
        return b->refs[tag - REF_BASE];
}

/* A repeated string as a malloc'd copy. */
static char *get_ref(struct rbuf *b) {
        char *s = get_shared(b);
        char *c = s ? strdup(s) : NULL;
        if (s && !c)
                b->bad = true;
        return c;
}

static json_t *get_json(struct rbuf *b) {
        uint64_t n = get_uv(b);
        const unsigned char *p;
        if (n == 0 || b->bad || n - 1 > b->len - b->off || !take(b, (size_t)(n - 1), &p))
                return NULL;
        json_t *j = json_loadb((const char *)p, (size_t)(n - 1), JSON_DECODE_ANY, NULL);
        if (!j)
                b->bad = true;
        return j;
}

static struct alloc *get_alloc(struct rbuf *b, struct plan_result *r, const char *node_id, json_t **metrics,
                               uint32_t n_metrics, struct error *err) {
        uint8_t form = get_u8(b);
        if (form == FORM_JSON) {
                json_t *j = get_json(b);
                bool result_job = get_u8(b);
                struct alloc *a = NULL;
                if (!j || b->bad || alloc_from_json(j, &a, err) < 0) {
                        json_decref(j);
                        b->bad = true;
                        return NULL;
                }
                json_decref(j);
                if (!a->job && result_job)
                        a->job = job_ref(r->job);
                return a;
        }
        if (form != FORM_COMPACT) {
                b->bad = true;
                return NULL;
        }
        struct alloc *a = alloc_new_in(b->arena); /* no malloc per alloc of a result */
        if (!a) {
                b->bad = true;
                return NULL;
        }
        a->id = get_id_in(b);
        a->namespace = get_shared(b);
        a->eval_id = get_shared(b);
        a->name = get_name_in(b);
        a->node_id = (char *)node_id; /* in the arena */
        a->node_name = get_shared(b);
        a->job_id = get_shared(b);
        a->task_group = get_shared(b);
        if (get_u8(b))
                a->job = job_ref(r->job);
        a->resources.cpu = (int64_t)get_uv(b);
        a->resources.memory_mb = (int64_t)get_uv(b);
        a->resources.disk_mb = (int64_t)get_uv(b);
        a->desired_status = (enum alloc_desired)get_u8(b);
        a->desired_description = get_shared(b);
        a->client_status = (enum alloc_client)get_u8(b);
        a->client_description = get_shared(b);
        a->previous_allocation = get_id_in(b);
        a->next_allocation = get_id_in(b);
        uint32_t m = get_uv32(b);
        if (m != 0) {
                if (m - 1 >= n_metrics)
                        b->bad = true;
                else
                        a->metrics = json_incref(metrics[m - 1]);
        }
        a->create_index = get_uv(b);
        a->modify_index = get_uv(b);
        a->alloc_modify_index = get_uv(b);
        a->create_time = (int64_t)((uint64_t)get_sv(b) + (uint64_t)r->timestamp_ns);
        a->modify_time = (int64_t)((uint64_t)get_sv(b) + (uint64_t)r->timestamp_ns);
        a->extra = get_json(b);
        alloc_arena_sealed(a); /* every string above is in the arena */
        if (b->bad || !a->id || !a->node_id) {
                b->bad = true;
                return alloc_unref(a);
        }
        return a;
}

static void free_node(struct plan_node *pn) {
        for (size_t i = 0; i < pn->n_place; i++)
                alloc_unref(pn->place[i]);
        for (size_t i = 0; i < pn->n_stop; i++) {
                alloc_unref(pn->stop[i].alloc);
                free(pn->stop[i].description);
        }
        free(pn->place);
        free(pn->stop);
        free(pn->node_id);
        *pn = (struct plan_node){0};
}

/* One node's placements and stops. Every count is checked against what is left
 * of the buffer (an alloc takes at least one byte, a stop at least four). */
static int get_node(struct rbuf *b, struct plan_result *r, json_t **metrics, uint32_t n_metrics, struct error *err) {
        struct plan_node pn = {0};
        pn.node_id = get_id(b);
        uint32_t n = get_uv32(b);
        if (!pn.node_id || b->bad || n > b->len - b->off)
                goto bad;
        /* the placements' NodeID: one copy in the arena for all of them */
        const char *shared_node_id = n ? str_arena_add(b->arena, pn.node_id, strlen(pn.node_id)) : NULL;
        if (n && !shared_node_id)
                goto oom;
        if (n && !(pn.place = calloc(n, sizeof(*pn.place))))
                goto oom;
        for (uint32_t i = 0; i < n; i++) {
                struct alloc *a = get_alloc(b, r, shared_node_id, metrics, n_metrics, err);
                if (!a)
                        goto bad;
                pn.place[pn.n_place++] = a;
        }
        n = get_uv32(b);
        if (b->bad || n > (b->len - b->off) / 4)
                goto bad;
        if (n && !(pn.stop = calloc(n, sizeof(*pn.stop))))
                goto oom;
        for (uint32_t i = 0; i < n; i++) {
                struct alloc *a = alloc_new();
                if (!a)
                        goto oom;
                a->id = get_id(b);
                a->node_id = strdup(pn.node_id);
                struct plan_stop *s = &pn.stop[pn.n_stop++];
                s->alloc = a;
                s->desired = (enum alloc_desired)get_u8(b);
                s->description = get_ref(b);
                int64_t cs = get_sv(b);
                if (cs < INT32_MIN || cs > INT32_MAX)
                        b->bad = true;
                s->client_status = (int)cs;
                if (b->bad || !a->id || !a->node_id)
                        goto bad;
        }
        if (plan_result_add_node(r, &pn) < 0)
                goto oom;
        free_node(&pn);
        return 0;
oom:
        free_node(&pn);
        return errorf(err, -ENOMEM, "plan result: out of memory");
bad:
        if (err && err->code)
                error_prefix(err, "plan result: node %s", pn.node_id ? pn.node_id : "?");
        else
                errorf(err, -EINVAL, "plan result: truncated or corrupt at byte %zu", b->off);
        free_node(&pn);
        return err && err->code ? err->code : -EINVAL;
}

int plan_result_decode(const void *buf, size_t len, struct plan_result **ret, struct error *err) {
        struct rbuf b = {.p = buf, .len = len};
        const unsigned char *magic;
        if (!take(&b, 4, &magic) || memcmp(magic, PLAN_CODEC_MAGIC, 4) != 0)
                return errorf(err, -EINVAL, "plan result: not in the compact form");
        struct plan_result *r = plan_result_new();
        json_t **metrics = NULL;
        uint32_t n_metrics = 0;
        int rc = -EINVAL;
        b.arena = str_arena_new();
        if (!r || !b.arena) {
                plan_result_free(r);
                str_arena_unref(b.arena);
                return errorf(err, -ENOMEM, "plan result: out of memory");
        }
        r->eval_id = get_str(&b);
        r->timestamp_ns = (int64_t)get_u64(&b);
        r->refresh_index = get_uv(&b);
        r->alloc_index = get_uv(&b);
        json_t *job = get_json(&b);
        if (job) {
                rc = job_from_json(job, &r->job, err);
                json_decref(job);
                if (rc < 0) {
                        error_prefix(err, "plan result: Job");
                        goto fail;
                }
        }
        uint32_t n = get_uv32(&b); /* a metrics object takes at least two bytes */
        if (b.bad || n > (b.len - b.off) / 2)
                goto corrupt;
        if (n && !(metrics = calloc(n, sizeof(*metrics))))
                goto oom;
        for (; n_metrics < n; n_metrics++)
                if (!(metrics[n_metrics] = get_json(&b)))
                        goto corrupt;
        n = get_uv32(&b);
        if (b.bad || n > b.len - b.off)
                goto corrupt;
        for (uint32_t i = 0; i < n; i++) {
                char *node = get_str(&b);
                if (!node)
                        goto corrupt;
                rc = plan_result_reject(r, node);
                free(node);
                if (rc < 0)
                        goto oom;
        }
        n = get_uv32(&b); /* a node takes at least three bytes */
        if (b.bad || n > (b.len - b.off) / 3)
                goto corrupt;
        for (uint32_t i = 0; i < n; i++)
                if ((rc = get_node(&b, r, metrics, n_metrics, err)) < 0)
                        goto fail;
        if (b.bad || b.off != b.len)
                goto corrupt;
        rc = 0;
        *ret = r;
        r = NULL;
        goto out;
corrupt:
        rc = errorf(err, -EINVAL, "plan result: truncated or corrupt at byte %zu", b.off);
        goto fail;
oom:
        rc = errorf(err, -ENOMEM, "plan result: out of memory");
fail:
        plan_result_free(r);
out:
        for (uint32_t i = 0; i < n_metrics; i++)
                json_decref(metrics[i]);
        free(metrics);
        str_arena_unref(b.arena); /* the decoded allocs hold their own references */
        return rc;
}

/* ---- inside JSON: hex chunks --------------------------------------------------------- */

#define WIRE_CHUNK (256u * 1024) /* bytes per string: 512 KiB of hex */

json_t *plan_result_to_wire(const struct plan_result *r) {
        unsigned char *buf = NULL;
        size_t len = 0;
        if (plan_result_encode(r, (void **)&buf, &len) < 0)
                return NULL;
        static const char digits[] = "0123456789abcdef";
        json_t *arr = json_array();
        char *hex = malloc(2 * WIRE_CHUNK);
        for (size_t off = 0; arr && hex && off < len; off += WIRE_CHUNK) {
                size_t n = len - off < WIRE_CHUNK ? len - off : WIRE_CHUNK;
                for (size_t i = 0; i < n; i++) {
                        hex[2 * i] = digits[buf[off + i] >> 4];
                        hex[2 * i + 1] = digits[buf[off + i] & 15];
                }
                if (json_array_append_new(arr, json_stringn(hex, 2 * n)) < 0) {
                        json_decref(arr);
                        arr = NULL;
                }
        }
        if (!hex) {
                json_decref(arr);
                arr = NULL;
        }
        free(hex);
        free(buf);
        return arr;
}

static int unhex(char c) {
        return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int plan_result_from_wire(const json_t *wire, struct plan_result **ret, struct error *err) {
        if (!json_is_array(wire))
                return errorf(err, -EINVAL, "plan result: expected an array of hex strings");
        size_t total = 0, i;
        const json_t *v;
        json_array_foreach(wire, i, v) {
                if (!json_is_string(v) || json_string_length(v) % 2)
                        return errorf(err, -EINVAL, "plan result: part %zu is not hex", i);
                total += json_string_length(v) / 2;
        }
        unsigned char *buf = malloc(total ? total : 1), *p = buf;
        if (!buf)
                return errorf(err, -ENOMEM, "out of memory");
        json_array_foreach(wire, i, v) {
                const char *s = json_string_value(v);
                for (size_t k = 0; k < json_string_length(v); k += 2) { /* even length, checked above */
                        int hi = unhex(s[k]), lo = unhex(s[k + 1]);
                        if (hi < 0 || lo < 0) {
                                free(buf);
                                return errorf(err, -EINVAL, "plan result: part %zu is not hex", i);
                        }
                        *p++ = (unsigned char)(hi << 4 | lo);
                }
        }
        int r = plan_result_decode(buf, (size_t)(p - buf), ret, err);
        free(buf);
        return r;
}
