/* fuzz_plan_codec.c - libFuzzer target: the compact binary plan result
 * (controlplane/plan/codec.h), which every server decodes from the Raft log and the
 * leader from a follower's plan submission.
 *
 * The first byte picks the mode:
 *  - even: the rest is an encoded result. A decode must fail cleanly or give a
 *    result whose encoding decodes again to the same bytes (encode . decode is
 *    idempotent after one pass);
 *  - odd: the rest drives a result built here (IDs in UUID form or not, names in
 *    the "<job>.<group>[<index>]" form or not, resources, times, stops, rejected
 *    nodes), which must round-trip exactly: every placed allocation's JSON the same
 *    after encode and decode. Mismatches abort(). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/model.h"
#include "controlplane/plan/codec.h"
#include "controlplane/scheduler/plan.h"
#include "tests/unit/fixtures.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct src {
        const uint8_t *p;
        size_t n;
};

static unsigned take(struct src *s) {
        if (!s->n)
                return 0;
        s->n--;
        return *s->p++;
}

static uint64_t take_n(struct src *s, int bytes) {
        uint64_t v = 0;
        for (int i = 0; i < bytes; i++)
                v = v << 8 | take(s);
        return v;
}

/* An ID: a UUID most of the time (the 16-byte form), else a short free string. */
static void make_id(struct src *s, char *buf, size_t len) {
        unsigned k = take(s);
        if (k % 4) {
                uint64_t a = take_n(s, 8), b = take_n(s, 8);
                snprintf(buf, len, "%08x-%04x-%04x-%04x-%012llx", (unsigned)(a >> 32), (unsigned)(a >> 16) & 0xffff,
                         (unsigned)a & 0xffff, (unsigned)(b >> 48), (unsigned long long)(b & 0xffffffffffffULL));
        } else {
                snprintf(buf, len, "id-%u-%u", take(s), take(s));
        }
}

static const struct plan_node *node_in(const struct plan_result *r, const char *id) {
        for (size_t k = 0; k < r->n_nodes; k++)
                if (strcmp(r->nodes[k].node_id, id) == 0)
                        return &r->nodes[k];
        return NULL;
}

static char *alloc_text(const struct alloc *a) {
        json_t *j = alloc_to_json(a);
        char *t = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_decref(j);
        return t;
}

static void check_bytes(const uint8_t *data, size_t size) {
        struct plan_result *r = NULL;
        struct error err = {0};
        if (plan_result_decode(data, size, &r, &err) < 0)
                return;
        void *b1 = NULL, *b2 = NULL;
        size_t l1 = 0, l2 = 0;
        struct plan_result *r2 = NULL;
        if (plan_result_encode(r, &b1, &l1) < 0)
                abort();
        if (plan_result_decode(b1, l1, &r2, &err) < 0) {
                fprintf(stderr, "a re-encoded result does not decode: %s\n", err.msg);
                abort();
        }
        if (plan_result_encode(r2, &b2, &l2) < 0)
                abort();
        if (l1 != l2 || memcmp(b1, b2, l1) != 0) {
                /* Bytes from outside may hold an alloc kept as JSON that the model reads
                 * into another form (keys it does not know after the known ones, fields it
                 * fills in): the first re-encode is canonical, and from there the bytes
                 * must not change again. */
                struct plan_result *r3 = NULL;
                void *b3 = NULL;
                size_t l3 = 0;
                if (plan_result_decode(b2, l2, &r3, &err) < 0 || plan_result_encode(r3, &b3, &l3) < 0 || l3 != l2 ||
                    memcmp(b2, b3, l2) != 0) {
                        fprintf(stderr, "encode . decode is not stable (%zu vs %zu bytes)\n", l2, l3);
                        abort();
                }
                free(b3);
                plan_result_free(r3);
        }
        free(b1);
        free(b2);
        plan_result_free(r);
        plan_result_free(r2);
}

static void check_built(struct src *s) {
        struct job *job = fx_job(take(s) % 2 ? "web" : "job-with-a-longer-name", JOB_SERVICE, 3, 100, 100);
        struct plan_result *r = plan_result_new();
        if (!r)
                abort();
        r->eval_id = strdup("eval-0");
        r->job = job_ref(job);
        r->timestamp_ns = (int64_t)take_n(s, 8);
        unsigned n_nodes = take(s) % 4 + 1;
        for (unsigned k = 0; k < n_nodes; k++) {
                char node_id[64];
                make_id(s, node_id, sizeof(node_id));
                if (node_in(r, node_id))
                        continue; /* one entry per node, as the applier builds them */
                struct plan_node pn = {.node_id = node_id};
                unsigned n_place = take(s) % 6;
                struct alloc *placed[6];
                for (unsigned i = 0; i < n_place; i++) {
                        char id[64];
                        make_id(s, id, sizeof(id));
                        unsigned v = take(s);
                        struct alloc *a = fx_alloc(id, job, v & 1 ? node_id : "another-node", (int)take(s),
                                                   (int)take_n(s, 2), (int)take_n(s, 3));
                        if (v & 2) { /* a name outside the "<job>.<group>[<index>]" form */
                                free(a->name);
                                a->name = strdup(v & 4 ? "web.g[" : "x");
                        }
                        a->client_status = v & 8 ? ALLOC_CLIENT_PENDING : ALLOC_CLIENT_RUNNING;
                        a->create_time = (int64_t)((uint64_t)r->timestamp_ns + (uint64_t)(int64_t)(int16_t)take_n(s, 2)); /* wraps, no UB */
                        a->modify_time = (int64_t)take_n(s, 8);
                        if (v & 16)
                                a->previous_allocation = strdup(node_id);
                        if (v & 32)
                                a->metrics = json_pack("{s:i}", "NodesEvaluated", (int)take(s));
                        placed[i] = a;
                }
                pn.place = placed;
                pn.n_place = n_place;
                if (plan_result_add_node(r, &pn) < 0)
                        abort();
                for (unsigned i = 0; i < n_place; i++)
                        alloc_unref(placed[i]);
        }
        if (take(s) % 2)
                plan_result_reject(r, "rejected-node");
        void *buf = NULL;
        size_t len = 0;
        struct plan_result *back = NULL;
        struct error err = {0};
        if (plan_result_encode(r, &buf, &len) < 0)
                abort();
        if (plan_result_decode(buf, len, &back, &err) < 0) {
                fprintf(stderr, "a built result does not decode: %s\n", err.msg);
                abort();
        }
        if (back->n_nodes != r->n_nodes || back->n_rejected != r->n_rejected)
                abort();
        for (size_t k = 0; k < r->n_nodes; k++) {
                const struct plan_node *x = &r->nodes[k], *y = node_in(back, x->node_id);
                if (!y || x->n_place != y->n_place)
                        abort();
                for (size_t i = 0; i < x->n_place; i++) {
                        char *t1 = alloc_text(x->place[i]), *t2 = alloc_text(y->place[i]);
                        if (!t1 || !t2 || strcmp(t1, t2) != 0) {
                                fprintf(stderr, "alloc changed by the round trip:\n%s\n%s\n", t1, t2);
                                abort();
                        }
                        free(t1);
                        free(t2);
                }
        }
        free(buf);
        plan_result_free(back);
        plan_result_free(r);
        job_unref(job);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 1 || size > 1 << 20)
                return 0;
        if (data[0] % 2 == 0) {
                check_bytes(data + 1, size - 1);
        } else {
                struct src s = {data + 1, size - 1};
                check_built(&s);
        }
        return 0;
}
