/* blocked.c - blocked evals: one per job, unblocked by node-class capacity
 * changes; follows nomad/blocked_evals.go (see blocked.h). */
#include "controlplane/broker/blocked.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macros.h"
#include "common/model.h"
#include "common/hashmap.h"
#include "controlplane/broker/broker.h"

#define TRIGGER_MAX_PLANS "max-plan-attempts"

struct bent {
        struct eval *eval; /* reference */
        char *token;       /* reblocked by the worker holding this token, or NULL */
        char *jobkey;
        uint64_t seq;
};

struct blocked_evals {
        struct broker *broker;
        bool enabled;
        uint64_t seq;
        struct hashmap *jobs;            /* "namespace/job" -> bent */
        struct hashmap *unblock_indexes; /* computed class -> uint64_t * (latest unblock) */
        struct eval **dups;
        size_t n_dups, cap_dups;
        size_t n_escaped;
        size_t by_type[JOB_TYPE_MAX];
};

static char *job_key(const char *ns, const char *job_id) {
        char *k = NULL;
        if (asprintf(&k, "%s/%s", ns ? ns : "default", job_id ? job_id : "") < 0)
                return NULL;
        return k;
}

static void bent_free(struct bent *x) {
        eval_unref(x->eval);
        free(x->token);
        free(x->jobkey);
        free(x);
}

static bool type_ok(const struct eval *e) {
        return (unsigned)e->type < JOB_TYPE_MAX;
}

static void count(struct blocked_evals *bl, const struct eval *e, int d) {
        if (type_ok(e))
                bl->by_type[e->type] += (size_t)d;
        if (e->escaped_computed_class)
                bl->n_escaped += (size_t)d;
}

/* Take x out of the job map and the counters; the caller owns it afterwards. */
static void detach(struct blocked_evals *bl, struct bent *x) {
        hashmap_remove(bl->jobs, x->jobkey, NULL);
        count(bl, x->eval, -1);
}

static int push_dup(struct blocked_evals *bl, struct eval *e) {
        if (bl->n_dups == bl->cap_dups) {
                size_t cap = bl->cap_dups ? bl->cap_dups * 2 : 8;
                struct eval **v = realloc(bl->dups, cap * sizeof(*v));
                if (!v)
                        return -ENOMEM;
                bl->dups = v;
                bl->cap_dups = cap;
        }
        bl->dups[bl->n_dups++] = e;
        return 0;
}

/* ---- create / destroy / enable --------------------------------------------------------- */

struct blocked_evals *blocked_create(struct broker *broker) {
        if (!broker)
                return NULL;
        struct blocked_evals *bl = calloc(1, sizeof(*bl));
        if (!bl)
                return NULL;
        bl->broker = broker;
        bl->jobs = hashmap_create(HASHMAP_OWN_KEYS);
        bl->unblock_indexes = hashmap_create(HASHMAP_OWN_KEYS);
        if (!bl->jobs || !bl->unblock_indexes)
                return blocked_destroy(bl);
        return bl;
}

static void flush(struct blocked_evals *bl) {
        size_t pos = 0;
        void *v;
        if (bl->jobs) {
                while (hashmap_next(bl->jobs, &pos, NULL, &v))
                        bent_free(v);
                hashmap_clear(bl->jobs);
        }
        if (bl->unblock_indexes) {
                pos = 0;
                while (hashmap_next(bl->unblock_indexes, &pos, NULL, &v))
                        free(v);
                hashmap_clear(bl->unblock_indexes);
        }
        for (size_t i = 0; i < bl->n_dups; i++)
                eval_unref(bl->dups[i]);
        free(bl->dups);
        bl->dups = NULL;
        bl->n_dups = bl->cap_dups = 0;
        bl->n_escaped = 0;
        memset(bl->by_type, 0, sizeof(bl->by_type));
}

struct blocked_evals *blocked_destroy(struct blocked_evals *bl) {
        if (!bl)
                return NULL;
        int saved = errno;
        flush(bl);
        hashmap_destroy(bl->jobs);
        hashmap_destroy(bl->unblock_indexes);
        free(bl);
        errno = saved;
        return NULL;
}

void blocked_set_enabled(struct blocked_evals *bl, bool enabled) {
        if (!enabled && bl->enabled)
                flush(bl);
        bl->enabled = enabled;
}

bool blocked_enabled(const struct blocked_evals *bl) {
        return bl->enabled;
}

/* ---- block -------------------------------------------------------------------------------- */

/* Did an unblock the eval would have matched happen after its snapshot? */
static bool missed_unblock(const struct blocked_evals *bl, const struct eval *e) {
        uint64_t max = 0;
        size_t pos = 0;
        const char *cls;
        void *v;
        while (hashmap_next(bl->unblock_indexes, &pos, &cls, &v)) {
                uint64_t index = *(uint64_t *)v;
                max = MAX(max, index);
                if (e->snapshot_index >= index)
                        continue;
                /* Eligible, or a class the scheduler never saw (added since). */
                json_t *elig = e->class_eligibility ? json_object_get(e->class_eligibility, cls) : NULL;
                if (!json_is_false(elig))
                        return true;
        }
        return e->escaped_computed_class && e->snapshot_index < max;
}

static uint64_t latest_index(const struct eval *e) {
        return MAX(e->create_index, e->snapshot_index);
}

static int block(struct blocked_evals *bl, struct eval *e, const char *token) {
        if (!bl->enabled)
                return -ENOTCONN;
        if (!e || !e->id)
                return -EINVAL;
        if (missed_unblock(bl, e)) {
                int r = broker_enqueue_token(bl->broker, e, token);
                return r < 0 ? r : BLOCKED_REENQUEUED;
        }
        _cleanup_free_ char *key = job_key(e->namespace, e->job_id);
        _cleanup_free_ char *tok = token ? strdup(token) : NULL;
        if (!key || (token && !tok))
                return -ENOMEM;
        struct bent *old = hashmap_get(bl->jobs, key);
        if (old && strcmp(old->eval->id, e->id) == 0) {
                /* The same eval again (an update, or a restore): keep the newer copy. */
                count(bl, old->eval, -1);
                eval_unref(old->eval);
                old->eval = eval_ref(e);
                count(bl, e, +1);
                free(old->token);
                old->token = TAKE_PTR(tok);
                return BLOCKED_TRACKED;
        }
        if (old && latest_index(old->eval) > latest_index(e)) {
                int r = push_dup(bl, e);
                if (r < 0)
                        return r;
                eval_ref(e);
                return BLOCKED_DUPLICATE;
        }
        struct bent *x = calloc(1, sizeof(*x));
        if (!x)
                return -ENOMEM;
        if (old && push_dup(bl, old->eval) < 0) {
                free(x);
                return -ENOMEM;
        }
        if (old) {
                /* Its eval reference moved to the duplicates. */
                detach(bl, old);
                old->eval = NULL;
                bent_free(old);
        }
        x->eval = eval_ref(e);
        x->token = TAKE_PTR(tok);
        x->jobkey = TAKE_PTR(key);
        x->seq = ++bl->seq;
        int r = hashmap_put(bl->jobs, x->jobkey, x, NULL);
        if (r < 0) {
                bent_free(x);
                return r;
        }
        count(bl, e, +1);
        return BLOCKED_TRACKED;
}

int blocked_block(struct blocked_evals *bl, struct eval *e) {
        return block(bl, e, NULL);
}

int blocked_reblock(struct blocked_evals *bl, struct eval *e, const char *token) {
        return block(bl, e, token);
}

/* ---- unblock --------------------------------------------------------------------------------- */

typedef bool (*match_fn)(const struct bent *x, const char *cls);

static int by_seq(const void *a, const void *b) {
        const struct bent *x = *(struct bent *const *)a, *y = *(struct bent *const *)b;
        return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Enqueue (in blocking order) and forget every eval that matches. */
static size_t unblock_matching(struct blocked_evals *bl, match_fn match, const char *cls) {
        size_t n = hashmap_count(bl->jobs);
        if (n == 0)
                return 0;
        _cleanup_free_ struct bent **hit = malloc(n * sizeof(*hit));
        if (!hit)
                return 0;
        size_t k = 0, pos = 0;
        void *v;
        while (hashmap_next(bl->jobs, &pos, NULL, &v))
                if (match(v, cls))
                        hit[k++] = v;
        qsort(hit, k, sizeof(*hit), by_seq);
        for (size_t i = 0; i < k; i++) {
                detach(bl, hit[i]);
                broker_enqueue_token(bl->broker, hit[i]->eval, hit[i]->token);
                bent_free(hit[i]);
        }
        return k;
}

static bool match_class(const struct bent *x, const char *cls) {
        const struct eval *e = x->eval;
        if (e->escaped_computed_class)
                return *cls != '\0';
        json_t *elig = e->class_eligibility ? json_object_get(e->class_eligibility, cls) : NULL;
        return !json_is_false(elig);
}

static bool match_failed(const struct bent *x, const char *cls) {
        return x->eval->triggered_by && strcmp(x->eval->triggered_by, TRIGGER_MAX_PLANS) == 0;
}

size_t blocked_unblock(struct blocked_evals *bl, const char *computed_class, uint64_t index) {
        if (!bl->enabled)
                return 0;
        const char *cls = computed_class ? computed_class : "";
        uint64_t *idx = hashmap_get(bl->unblock_indexes, cls);
        if (!idx) {
                idx = calloc(1, sizeof(*idx));
                if (idx && hashmap_put(bl->unblock_indexes, cls, idx, NULL) < 0) {
                        free(idx);
                        idx = NULL;
                }
        }
        if (idx)
                *idx = MAX(*idx, index);
        return unblock_matching(bl, match_class, cls);
}

size_t blocked_unblock_failed(struct blocked_evals *bl) {
        if (!bl->enabled)
                return 0;
        return unblock_matching(bl, match_failed, "");
}

/* ---- queries ------------------------------------------------------------------------------------ */

int blocked_untrack(struct blocked_evals *bl, const char *ns, const char *job_id, struct eval **ret_eval) {
        _cleanup_free_ char *key = job_key(ns, job_id);
        struct bent *x = key ? hashmap_get(bl->jobs, key) : NULL;
        if (!x)
                return 0;
        detach(bl, x);
        if (ret_eval)
                *ret_eval = TAKE_PTR(x->eval);
        bent_free(x);
        return 1;
}

const struct eval *blocked_get(const struct blocked_evals *bl, const char *ns, const char *job_id) {
        _cleanup_free_ char *key = job_key(ns, job_id);
        const struct bent *x = key ? hashmap_get(bl->jobs, key) : NULL;
        return x ? x->eval : NULL;
}

size_t blocked_drain_duplicates(struct blocked_evals *bl, struct eval ***ret) {
        size_t n = bl->n_dups;
        *ret = n ? bl->dups : NULL;
        if (!n)
                free(bl->dups);
        bl->dups = NULL;
        bl->n_dups = bl->cap_dups = 0;
        return n;
}

void blocked_stats(const struct blocked_evals *bl, struct blocked_stats *ret) {
        struct blocked_stats s = {0};
        s.total_blocked = hashmap_count(bl->jobs);
        s.total_escaped = bl->n_escaped;
        s.total_duplicates = bl->n_dups;
        memcpy(s.by_type, bl->by_type, sizeof(s.by_type));
        *ret = s;
}
