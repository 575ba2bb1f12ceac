/* test_plan_codec.c - the compact binary form of plan results (plan/codec.h), the
 * batch entries that carry several FSM commands (raft/batch.h, fsm_batch_status), and
 * the leader's plans decoded ahead on the pool (raft/plan_predecode.h). */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "common/error.h"
#include "common/ids.h"
#include "controlplane/plan/applier.h"
#include "controlplane/plan/codec.h"
#include "controlplane/raft/batch.h"
#include "controlplane/raft/fsm.h"
#include "controlplane/raft/plan_predecode.h"
#include "controlplane/raft/raft_node.h"
#include "controlplane/state/state.h"
#include "tests/unit/fixtures.h"

static struct state_store *st;
static struct job *job;
static struct plan_result *sample_result; /* sample()'s, freed by teardown */
static struct alloc *sample_old;          /* the previous allocation sample() stores, freed by teardown */

/* A store with job at index 1 and nodes n1, n2 at index 2. */
static struct state_store *store_with_job(void) {
        struct state_store *s = state_create();
        state_upsert_job(s, 1, job);
        const char *ids[] = {"n1", "n2"};
        for (int i = 0; i < 2; i++) {
                struct node *n = fx_node(ids[i], "dc1", 1000, 1000);
                state_upsert_node(s, 2, n);
                node_unref(n);
        }
        return s;
}

static void setup(void) {
        job = fx_job("web", JOB_SERVICE, 4, 10, 10);
        st = store_with_job();
}

static void teardown(void) {
        plan_result_free(sample_result);
        sample_result = NULL;
        sample_old = alloc_unref(sample_old);
        job_unref(job);
        state_destroy(st);
}

TestSuite(plan_codec, .init = setup, .fini = teardown);

/* A result with what the compact form must keep: shared metrics, descriptions, a
 * previous allocation, an alloc with task states and one with assigned devices and
 * ports (written as JSON), stops, rejections; timestamp 42. Teardown frees it and
 * the previous allocation (sample_old). */
static struct plan_result *sample(void) {
        struct alloc *old = fx_alloc("old", job, "n2", 0, 10, 10);
        state_upsert_allocs(st, 3, &old, 1);
        struct plan *p = plan_new("e1", "token", job);
        json_t *metrics = json_pack("{s:i,s:{s:i}}", "NodesEvaluated", 2, "ScoreMetaData", "x", 1);
        for (int i = 0; i < 6; i++) {
                char id[16];
                snprintf(id, sizeof(id), "a-%d", i);
                struct alloc *a = fx_alloc(id, job, i % 2 ? "n2" : "n1", i, 10, 10);
                a->client_status = ALLOC_CLIENT_PENDING;
                a->metrics = json_incref(metrics);
                a->create_time = a->modify_time = 1234567890123LL + i;
                if (i == 1)
                        a->previous_allocation = strdup("old");
                if (i == 4) /* the scheduler's assignments: a device and a port */
                        a->allocated = json_pack("{s:{s:{s:[{s:s,s:s,s:s,s:[s]}]}},s:{s:[{s:s,s:i}]}}", "Tasks", "t",
                                                 "Devices", "Vendor", "nvidia", "Type", "gpu", "Name", "H100",
                                                 "DeviceIDs", "0000:18:00.0", "Shared", "Ports", "Label", "http",
                                                 "Value", 8080);
                if (i == 2) { /* a task state: not expressible compactly */
                        a->task_states = calloc(1, sizeof(*a->task_states));
                        a->task_states[0].name = strdup("t");
                        a->n_task_states = 1;
                }
                cr_assert_eq(plan_add_place(p, a), 0);
                alloc_unref(a);
        }
        json_decref(metrics);
        plan_add_stop(p, old, ALLOC_DESIRED_STOP, "alloc is lost since its node is down", ALLOC_CLIENT_LOST);
        struct plan_result *r = NULL;
        cr_assert_eq(plan_evaluate(st, p, &r, NULL), 0);
        cr_assert_eq(plan_result_reject(r, "n9"), 0);
        r->timestamp_ns = 42;
        plan_free(p);
        sample_old = old;
        return sample_result = r;
}

static char *alloc_text(const struct alloc *a) {
        json_t *j = alloc_to_json(a);
        char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(j);
        return s;
}

/* The sample result encoded with timestamp ts: distinct bytes for each ts. */
static void encode_at(struct plan_result *r, int64_t ts, void **ret_buf, size_t *ret_len) {
        r->timestamp_ns = ts;
        cr_assert_eq(plan_result_encode(r, ret_buf, ret_len), 0);
}

/* The node of r called node_id (asserted to be there). */
static const struct plan_node *node_named(const struct plan_result *r, const char *node_id) {
        for (size_t k = 0; k < r->n_nodes; k++)
                if (strcmp(r->nodes[k].node_id, node_id) == 0)
                        return &r->nodes[k];
        cr_assert_fail("node %s is not in the result", node_id);
        return NULL;
}

/* got places what want places, in order: the same JSON and the same times. */
static void expect_same_places(const struct plan_node *want, const struct plan_node *got) {
        cr_assert_eq(got->n_place, want->n_place, "node %s", want->node_id);
        for (size_t k = 0; k < want->n_place; k++) {
                char *a = alloc_text(want->place[k]), *b = alloc_text(got->place[k]);
                cr_expect_str_eq(b, a, "alloc %zu (%s) on %s differs after the round trip", k, want->place[k]->id,
                                 want->node_id);
                free(a);
                free(b);
                cr_expect_eq(got->place[k]->create_time, want->place[k]->create_time);
                cr_expect_eq(got->place[k]->modify_time, want->place[k]->modify_time);
        }
}

Test(plan_codec, round_trip_keeps_every_field_and_shares_metrics) {
        struct plan_result *r = sample();
        void *buf = NULL;
        size_t len = 0;
        encode_at(r, 42, &buf, &len);
        json_t *j = plan_result_to_json(r);
        char *text = json_dumps(j, JSON_COMPACT);
        cr_expect_lt(len, strlen(text), "compact form %zu bytes, JSON %zu", len, strlen(text));
        struct plan_result *back = NULL;
        struct error err = {0};
        cr_assert_eq(plan_result_decode(buf, len, &back, &err), 0, "%s", err.msg);
        cr_assert_str_eq(back->eval_id, "e1");
        cr_expect_eq(back->timestamp_ns, 42);
        cr_assert_eq(back->n_rejected, 1);
        cr_expect_str_eq(back->rejected_nodes[0], "n9");
        cr_assert_eq(plan_result_count_place(back), 6);
        cr_assert_eq(plan_result_count_stop(back), 1);
        const json_t *shared = NULL;
        for (size_t i = 0; i < r->n_nodes; i++) {
                const struct plan_node *pn = &r->nodes[i], *bn = node_named(back, pn->node_id);
                expect_same_places(pn, bn);
                for (size_t k = 0; k < pn->n_place; k++) {
                        if (bn->place[k]->n_task_states == 0 && !bn->place[k]->allocated) {
                                cr_expect(bn->place[k]->job == back->job, "placements share the result's job");
                                if (!shared)
                                        shared = bn->place[k]->metrics;
                                cr_expect(bn->place[k]->metrics == shared, "one metrics object, shared");
                        }
                }
                for (size_t k = 0; k < pn->n_stop; k++) {
                        cr_expect_str_eq(bn->stop[k].alloc->id, pn->stop[k].alloc->id);
                        cr_expect_str_eq(bn->stop[k].description, pn->stop[k].description);
                        cr_expect_eq(bn->stop[k].client_status, pn->stop[k].client_status);
                        cr_expect_eq(bn->stop[k].desired, pn->stop[k].desired);
                }
        }
        /* applied, it gives the state the JSON form gives */
        cr_assert_eq(plan_result_apply(st, 20, back), 0);
        cr_expect_eq(state_alloc_get(st, "old")->client_status, ALLOC_CLIENT_LOST);
        cr_expect_str_eq(state_alloc_get(st, "a-1")->previous_allocation, "old");
        const struct alloc *a4 = state_alloc_get(st, "a-4");
        cr_assert_not_null(a4);
        json_t *dev = json_array_get(json_object_get(json_object_get(json_object_get(a4->allocated, "Tasks"), "t"), "Devices"), 0);
        cr_expect_str_eq(json_string_value(json_array_get(json_object_get(dev, "DeviceIDs"), 0)), "0000:18:00.0",
                         "the device assignment comes through the compact form");
        cr_expect_eq(json_integer_value(json_object_get(
                         json_array_get(json_object_get(json_object_get(a4->allocated, "Shared"), "Ports"), 0), "Value")),
                     8080);
        free(text);
        json_decref(j);
        free(buf);
        plan_result_free(back);
}

/* What a scheduler writes: UUID IDs, "<job>.<group>[<index>]" names, times near the
 * result's, new allocs with no indexes yet, node names (300: some beyond the table of
 * repeated strings). Each such alloc takes a few dozen bytes and
 * comes back exactly; IDs that are not canonical UUIDs and names that are not indexed
 * (a leading zero, a negative or huge index, upper case) come back as they were. */
Test(plan_codec, scheduler_allocs_are_small_and_exact) {
        struct plan_result *r = plan_result_new();
        r->job = job_ref(job);
        r->eval_id = strdup("e1");
        r->timestamp_ns = 1764680000123456789LL;
        static const char *odd_ids[] = {"A0000000-0000-4000-8000-000000000000", "0000000-00000-4000-8000-000000000000",
                                        "short", ""};
        static const char *odd_names[] = {"web.g[07]", "web.g[-1]", "web.g[12345678901]", "web.g[]", "[3]", "x]"};
        enum { N = 400 };
        const char *nodes[] = {"n1", "n2"};
        for (int i = 0; i < N; i++) {
                char id[ID_BUF];
                id_generate(id);
                struct alloc *a = fx_alloc(i < 4 ? odd_ids[i] : id, job, nodes[i % 2], i, 100, 256);
                if (i >= 4 && i < 10) {
                        free(a->name);
                        a->name = strdup(odd_names[i - 4]);
                }
                if (i == 11) {
                        free(a->name);
                        a->name = NULL;
                }
                if (i == 12)
                        a->previous_allocation = strdup(odd_ids[0]);
                /* more distinct names than the table of repeated strings holds */
                if (asprintf(&a->node_name, "node-%d", i % 300) < 0)
                        abort();
                a->create_time = r->timestamp_ns + i;
                a->modify_time = i == 13 ? INT64_MIN : r->timestamp_ns - i;
                struct plan_node pn = {.node_id = (char *)nodes[i % 2], .place = &a, .n_place = 1};
                cr_assert_eq(plan_result_add_node(r, &pn), 0);
                alloc_unref(a);
        }
        void *buf = NULL;
        size_t len = 0;
        cr_assert_eq(plan_result_encode(r, &buf, &len), 0);
        size_t job_bytes = 0;
        {
                json_t *jj = job_to_json(job);
                char *t = json_dumps(jj, JSON_COMPACT);
                job_bytes = strlen(t);
                free(t);
                json_decref(jj);
        }
        cr_expect_lt(len - job_bytes, (size_t)N * 56, "%zu bytes for %d allocs (job %zu)", len, N, job_bytes);
        struct plan_result *back = NULL;
        struct error err = {0};
        cr_assert_eq(plan_result_decode(buf, len, &back, &err), 0, "%s", err.msg);
        cr_assert_eq(plan_result_count_place(back), N);
        for (size_t i = 0; i < r->n_nodes; i++)
                expect_same_places(&r->nodes[i], node_named(back, r->nodes[i].node_id));
        /* a varint longer than 64 bits is refused (the refresh index's, after the header) */
        size_t off = 4 + 1 + strlen("e1") + 8;
        unsigned char *bad = malloc(len + 10);
        memcpy(bad, buf, off);
        memset(bad + off, 0xff, 10);
        memcpy(bad + off + 10, (unsigned char *)buf + off, len - off);
        plan_result_free(back);
        back = NULL;
        cr_expect_eq(plan_result_decode(bad, len + 10, &back, &err), -EINVAL);
        cr_expect_null(back);
        free(bad);
        free(buf);
        plan_result_free(r);
}

Test(plan_codec, every_truncation_and_a_bad_magic_are_refused) {
        struct plan_result *r = sample();
        unsigned char *buf = NULL;
        size_t len = 0;
        encode_at(r, 42, (void **)&buf, &len);
        for (size_t cut = 0; cut < len; cut++) {
                struct plan_result *back = NULL;
                struct error err = {0};
                cr_assert_lt(plan_result_decode(buf, cut, &back, &err), 0, "a result cut at %zu of %zu bytes", cut,
                             len);
                cr_assert_null(back);
        }
        /* a count far beyond the buffer (the metrics table's, after the header) */
        unsigned char *bad = malloc(len);
        memcpy(bad, buf, len);
        memcpy(bad, "XXXX", 4);
        struct plan_result *back = NULL;
        struct error err = {0};
        cr_expect_eq(plan_result_decode(bad, len, &back, &err), -EINVAL);
        cr_expect(strstr(err.msg, "compact form"), "%s", err.msg);
        free(bad);
        free(buf);
}

Test(batch, encode_count_foreach_and_corruption) {
        struct batch_part parts[] = {{BATCH_JSON, "{\"a\":1}", 7}, {BATCH_PLAN, "xyz", 3}, {BATCH_JSON, "", 0}};
        unsigned char *buf = NULL;
        size_t len = 0;
        cr_assert_eq(batch_encode(parts, 3, (void **)&buf, &len), 0);
        cr_assert(batch_is_batch(buf, len));
        cr_expect_eq(batch_count(buf, len), 3);
        for (size_t cut = 8; cut < len; cut++)
                cr_expect_eq(batch_count(buf, cut), -EINVAL, "cut at %zu", cut);
        cr_expect_eq(batch_count(buf, len - 1), -EINVAL);
        cr_expect(!batch_is_batch("{\"Type\":\"x\"}", 12), "a JSON command is not a batch");
        free(buf);
}

/* The two-step encoding (into a buffer the caller owns, as the leader writes an entry
 * straight into libraft's) gives the bytes batch_encode gives, and says how many. */
Test(batch, encode_to_writes_what_encode_gives) {
        struct batch_part parts[] = {{BATCH_JSON, "{\"a\":1}", 7}, {BATCH_PLAN, "xyz", 3}, {BATCH_JSON, "", 0}};
        unsigned char *buf = NULL;
        size_t len = 0, len2 = 0;
        cr_assert_eq(batch_encode(parts, 3, (void **)&buf, &len), 0);
        cr_assert_eq(batch_encoded_len(parts, 3, &len2), 0);
        cr_assert_eq(len2, len);
        unsigned char *dst = malloc(len + 1);
        cr_assert_not_null(dst);
        dst[len] = 0xA5;
        batch_encode_to(parts, 3, dst);
        cr_expect_eq(memcmp(dst, buf, len), 0);
        cr_expect_eq(dst[len], 0xA5, "nothing written past the size given");
        cr_expect_eq(batch_encoded_len(parts, BATCH_MAX_PARTS + 1, &len2), -E2BIG);
        free(dst);
        free(buf);
}

/* Parts are applied in order, each on its own: a rejected one does not stop the next,
 * and each proposer reads its own outcome. */
Test(batch, fsm_applies_every_part_and_keeps_each_outcome) {
        struct state_store *live = state_create();
        struct fsm *f = fsm_create(&live, NULL, NULL);
        const char *reg = "{\"Type\":\"JobRegister\",\"Job\":{\"ID\":\"j1\",\"Type\":\"batch\",\"TaskGroups\":[{"
                          "\"Name\":\"g\",\"Count\":1,\"Tasks\":[{\"Name\":\"t\",\"Driver\":\"raw_exec\"}]}]}}";
        const char *dereg = "{\"Type\":\"JobDeregister\",\"Namespace\":\"default\",\"JobID\":\"nonesuch\"}";
        const char *reg2 = "{\"Type\":\"JobRegister\",\"Job\":{\"ID\":\"j2\",\"Type\":\"batch\",\"TaskGroups\":[{"
                           "\"Name\":\"g\",\"Count\":1,\"Tasks\":[{\"Name\":\"t\",\"Driver\":\"raw_exec\"}]}]}}";
        struct batch_part parts[] = {{BATCH_JSON, reg, strlen(reg)},
                                     {BATCH_JSON, dereg, strlen(dereg)},
                                     {BATCH_PLAN, PLAN_CODEC_MAGIC, 4},
                                     {BATCH_JSON, reg2, strlen(reg2)}};
        void *buf = NULL;
        size_t len = 0;
        cr_assert_eq(batch_encode(parts, 4, &buf, &len), 0);
        struct error err = {0};
        cr_assert_eq(fsm_raft_ops.apply(f, 7, buf, len, &err), 0, "%s", err.msg);
        const char *msg = NULL;
        cr_expect_eq(fsm_batch_status(f, 7, 0, &msg), 0);
        cr_expect_eq(fsm_batch_status(f, 7, 1, &msg), -ENOENT);
        cr_expect(msg && strstr(msg, "JobDeregister of job \"nonesuch\""), "%s", msg ? msg : "(null)");
        cr_expect_eq(fsm_batch_status(f, 7, 2, &msg), -EINVAL, "a corrupt plan result is rejected");
        cr_expect(msg && strstr(msg, "PlanApply at index 7"), "%s", msg ? msg : "(null)");
        cr_expect_eq(fsm_batch_status(f, 7, 3, &msg), 0);
        cr_expect_eq(fsm_batch_status(f, 6, 0, &msg), -EIO, "another entry's outcome is not known");
        cr_expect_not_null(state_job_get(live, "default", "j1"));
        cr_expect_not_null(state_job_get(live, "default", "j2"), "applied after the rejected parts");
        cr_expect_eq(state_job_get(live, "default", "j2")->modify_index, 7);
        /* a corrupt batch is refused whole */
        cr_expect_lt(fsm_raft_ops.apply(f, 8, buf, len - 1, &err), 0);
        free(buf);
        fsm_destroy(f);
        state_destroy(live);
}

/* A follower's worker and the leader exchange plans and results as hex chunks in JSON. */
Test(plan_codec, wire_form_round_trips_and_refuses_what_is_not_hex) {
        struct plan_result *r = sample();
        json_t *wire = plan_result_to_wire(r);
        cr_assert(json_is_array(wire));
        char *text = json_dumps(wire, JSON_COMPACT);
        json_t *back_json = json_loads(text, 0, NULL);
        struct plan_result *back = NULL;
        struct error err = {0};
        cr_assert_eq(plan_result_from_wire(back_json, &back, &err), 0, "%s", err.msg);
        cr_expect_eq(plan_result_count_place(back), 6);
        cr_expect_eq(plan_result_count_stop(back), 1);
        cr_expect_str_eq(back->eval_id, "e1");
        plan_result_free(back);
        json_t *bad = json_pack("[s]", "zz");
        cr_expect_eq(plan_result_from_wire(bad, &back, &err), -EINVAL);
        json_decref(bad);
        bad = json_pack("[s]", "abc");
        cr_expect_eq(plan_result_from_wire(bad, &back, &err), -EINVAL, "odd length");
        json_decref(bad);
        bad = json_string("00");
        cr_expect_eq(plan_result_from_wire(bad, &back, &err), -EINVAL, "not an array");
        json_decref(bad);
        json_decref(back_json);
        free(text);
        json_decref(wire);
}

/* Decoded placements share one copy of their repeated strings (namespace, eval, job,
 * group, node) through a reference-counted arena that outlives the result; the store's
 * in-place update of such an alloc and a copy of it own their replaced strings. */
Test(plan_codec, decoded_allocs_share_their_repeated_strings) {
        struct plan_result *r = sample();
        void *buf = NULL;
        size_t len = 0;
        encode_at(r, 42, &buf, &len);
        struct plan_result *back = NULL;
        cr_assert_eq(plan_result_decode(buf, len, &back, NULL), 0);
        const struct alloc *first = NULL;
        size_t compact = 0;
        for (size_t i = 0; i < back->n_nodes; i++) {
                const struct plan_node *bn = &back->nodes[i];
                for (size_t k = 0; k < bn->n_place; k++) {
                        const struct alloc *a = bn->place[k];
                        if (a->n_task_states || a->allocated) /* sent as JSON: its own strings */
                                continue;
                        compact++;
                        cr_assert_not_null(a->strings);
                        cr_expect(str_arena_owns(a->strings, a->job_id));
                        cr_expect(str_arena_owns(a->strings, a->node_id));
                        cr_expect(str_arena_owns(a->strings, a->id) && str_arena_owns(a->strings, a->name),
                                  "the ID and the name are in the arena too (no malloc per string)");
                        cr_expect_str_eq(a->node_id, bn->node_id);
                        if (!first)
                                first = a;
                        cr_expect(a->job_id == first->job_id && a->namespace == first->namespace &&
                                      a->task_group == first->task_group && a->eval_id == first->eval_id,
                                  "one copy of the job's strings");
                }
        }
        cr_assert_eq(compact, 4);
        /* a-3 (on n2) is stored first with a client description; the decoded one updates it in place */
        struct alloc *prior = fx_alloc("a-3", job, "n2", 3, 10, 10);
        prior->client_description = strdup("running on the client");
        cr_assert_eq(state_upsert_allocs(st, 5, &prior, 1), 0);
        alloc_unref(prior);
        cr_assert_eq(plan_result_apply(st, 20, back), 0);
        plan_result_free(back);
        free(buf);
        const struct alloc *a3 = state_alloc_get(st, "a-3");
        cr_assert_not_null(a3);
        cr_expect_str_eq(a3->client_description, "running on the client");
        cr_expect_eq(a3->create_index, 5);
        cr_expect_str_eq(a3->job_id, "web", "the arena outlives the decoded result");
        cr_expect_str_eq(a3->node_id, "n2");
        struct alloc *c = alloc_copy(a3);
        cr_assert_null(c->strings);
        cr_expect(c->job_id != a3->job_id);
        cr_assert_eq(alloc_set_str(c, &c->job_id, "other"), 0);
        cr_expect_str_eq(c->job_id, "other");
        alloc_unref(c);
        cr_assert_eq(state_stop_alloc(st, 21, "a-0", ALLOC_DESIRED_STOP, "stopped", -1, 0), 0);
        cr_expect_str_eq(state_alloc_get(st, "a-0")->task_group, state_alloc_get(st, "a-2")->task_group);
}

Test(plan_codec, arena_keeps_strings_and_knows_its_own) {
        struct str_arena *s = str_arena_new();
        cr_assert_not_null(s);
        char big[5000];
        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        char *a = str_arena_add(s, "abc", 3), *e = str_arena_add(s, "", 0), *b = str_arena_add(s, big, strlen(big));
        cr_assert(a && e && b);
        cr_expect_str_eq(a, "abc");
        cr_expect_str_eq(e, "");
        cr_expect_str_eq(b, big);
        cr_expect(str_arena_owns(s, a) && str_arena_owns(s, e) && str_arena_owns(s, b + 4998));
        char *own = strdup("abc");
        cr_expect(!str_arena_owns(s, own));
        cr_expect(!str_arena_owns(s, NULL));
        cr_expect(!str_arena_owns(NULL, a));
        free(own);
        cr_assert_eq(str_arena_ref(s), s);
        cr_assert_null(str_arena_unref(s));
        cr_expect_str_eq(a, "abc", "alive while referenced");
        str_arena_unref(s);
}

/* ---- plan_predecode ----------------------------------------------------------------- */

/* Every placement of a and b, compared as JSON. */
static void expect_same_result(const struct plan_result *a, const struct plan_result *b) {
        cr_assert_str_eq(a->eval_id, b->eval_id);
        cr_assert_eq(a->timestamp_ns, b->timestamp_ns);
        cr_assert_eq(a->n_nodes, b->n_nodes);
        for (size_t i = 0; i < a->n_nodes; i++) {
                cr_assert_str_eq(a->nodes[i].node_id, b->nodes[i].node_id);
                expect_same_places(&a->nodes[i], &b->nodes[i]);
        }
}

/* Only exactly the bytes queued give a result, once, and it is their decoding. */
Test(plan_codec, predecode_gives_the_decoding_of_the_same_bytes_once) {
        struct plan_result *r = sample();
        unsigned char *buf = NULL;
        size_t len = 0;
        encode_at(r, 42, (void **)&buf, &len);
        uv_loop_t loop;
        uv_loop_init(&loop);
        struct plan_predecode *pp = plan_predecode_create(&loop);
        cr_assert_eq(plan_predecode_start(pp, buf, len), 0);
        uv_run(&loop, UV_RUN_DEFAULT); /* until the decoding is back */
        buf[len - 1] ^= 1;
        cr_expect_null(plan_predecode_take(pp, buf, len), "other bytes of the same length");
        buf[len - 1] ^= 1;
        cr_expect_null(plan_predecode_take(pp, buf, len - 1), "a prefix");
        cr_expect_eq(plan_predecode_count(pp), 1, "kept for its own bytes");
        struct plan_result *got = plan_predecode_take(pp, buf, len);
        cr_assert_not_null(got);
        struct plan_result *direct = NULL;
        cr_assert_eq(plan_result_decode(buf, len, &direct, NULL), 0);
        expect_same_result(got, direct);
        cr_expect_null(plan_predecode_take(pp, buf, len), "taken once");
        cr_expect_eq(plan_predecode_count(pp), 0);
        cr_expect_null(plan_predecode_take(NULL, buf, len));
        cr_expect_eq(plan_predecode_start(NULL, buf, len), -EINVAL);
        /* applied, it writes what the FSM's own decoding writes */
        cr_assert_eq(plan_result_apply(st, 20, got), 0);
        cr_expect_str_eq(state_alloc_get(st, "a-1")->previous_allocation, "old");
        cr_expect_eq(state_alloc_get(st, "old")->client_status, ALLOC_CLIENT_LOST);
        plan_result_free(got);
        plan_result_free(direct);
        plan_predecode_destroy(pp);
        cr_expect_eq(uv_loop_close(&loop), 0);
        free(buf);
}

/* A buffer handed over (the leader's own encoded plan, no copy) is decoded as a copy
 * would be and freed with the queue; one handed to no queue is freed at once (ASan's
 * leak check sees either one kept). */
Test(plan_codec, predecode_owned_buffer_is_decoded_and_freed) {
        struct plan_result *r = sample();
        void *buf = NULL;
        size_t len = 0;
        encode_at(r, 7, &buf, &len);
        void *same = malloc(len);
        cr_assert_not_null(same);
        memcpy(same, buf, len);
        uv_loop_t loop;
        uv_loop_init(&loop);
        struct plan_predecode *pp = plan_predecode_create(&loop);
        cr_assert_eq(plan_predecode_start_owned(pp, buf, len), 0); /* buf is the queue's now */
        uv_run(&loop, UV_RUN_DEFAULT);
        struct plan_result *got = plan_predecode_take(pp, same, len);
        cr_assert_not_null(got, "found by its bytes");
        cr_expect_eq(got->timestamp_ns, 7);
        plan_result_free(got);
        void *lost = malloc(len);
        cr_assert_not_null(lost);
        cr_expect_eq(plan_predecode_start_owned(NULL, lost, len), -EINVAL);
        plan_predecode_destroy(pp);
        cr_expect_eq(uv_loop_close(&loop), 0);
        free(same);
}

/* A result decoded already (the plan applier's, on its pool thread) is put with its
 * bytes and taken like one decoded by the queue: no task on the pool. */
Test(plan_codec, predecode_put_gives_the_result_given_for_its_bytes) {
        struct plan_result *r = sample();
        void *buf = NULL;
        size_t len = 0;
        encode_at(r, 9, &buf, &len);
        struct plan_result *dec = NULL;
        cr_assert_eq(plan_result_decode(buf, len, &dec, NULL), 0);
        void *same = malloc(len);
        cr_assert_not_null(same);
        memcpy(same, buf, len);
        uv_loop_t loop;
        uv_loop_init(&loop);
        struct plan_predecode *pp = plan_predecode_create(&loop);
        cr_assert_eq(plan_predecode_put(pp, buf, len, dec), 0); /* both the queue's now */
        cr_expect(plan_predecode_ready(pp, same, len), "ready at once");
        cr_expect_eq(uv_run(&loop, UV_RUN_NOWAIT), 0, "nothing was queued on the pool");
        struct plan_result *got = plan_predecode_take(pp, same, len);
        cr_expect_eq(got, dec, "the very result put");
        plan_result_free(got);
        cr_expect_eq(plan_predecode_count(pp), 0);
        void *lost = malloc(len);
        cr_assert_not_null(lost);
        cr_expect_eq(plan_predecode_put(NULL, lost, len, NULL), -EINVAL);
        plan_predecode_destroy(pp);
        cr_expect_eq(uv_loop_close(&loop), 0);
        free(same);
}

/* Taking one drops those queued before it; one not back on the loop is either
 * cancelled (not begun: NULL, the FSM decodes it) or waited for, never both, and its
 * request frees itself, as do those left at destroy; the queue keeps at most
 * PLAN_PREDECODE_MAX. */
Test(plan_codec, predecode_drops_earlier_unfinished_and_excess_results) {
        struct plan_result *r = sample();
        void *a = NULL, *b = NULL, *c = NULL;
        size_t la = 0, lb = 0, lc = 0;
        encode_at(r, 1, &a, &la);
        encode_at(r, 2, &b, &lb);
        encode_at(r, 3, &c, &lc);
        uv_loop_t loop;
        uv_loop_init(&loop);
        struct plan_predecode *pp = plan_predecode_create(&loop);
        cr_assert_eq(plan_predecode_start(pp, a, la), 0);
        cr_assert_eq(plan_predecode_start(pp, b, lb), 0);
        uv_run(&loop, UV_RUN_DEFAULT);
        struct plan_result *got = plan_predecode_take(pp, b, lb);
        cr_assert_not_null(got);
        cr_expect_eq(got->timestamp_ns, 2);
        plan_result_free(got);
        cr_expect_eq(plan_predecode_count(pp), 0, "the one proposed before it is dropped");
        cr_expect_null(plan_predecode_take(pp, a, la));
        cr_assert_eq(plan_predecode_start(pp, c, lc), 0);
        struct plan_result *early = plan_predecode_take(pp, c, lc); /* cancelled, or waited for */
        if (early)
                cr_expect_eq(early->timestamp_ns, 3);
        plan_result_free(early);
        cr_expect_eq(plan_predecode_count(pp), 0);
        uv_run(&loop, UV_RUN_DEFAULT); /* its decoding comes back and is freed */
        for (int i = 0; i < PLAN_PREDECODE_MAX + 1; i++)
                cr_assert_eq(plan_predecode_start(pp, i % 2 ? a : b, i % 2 ? la : lb), 0);
        cr_expect_eq(plan_predecode_count(pp), PLAN_PREDECODE_MAX, "bounded");
        cr_assert_eq(plan_predecode_start(pp, c, lc), 0);
        plan_predecode_destroy(pp); /* with decodings on the pool */
        uv_run(&loop, UV_RUN_DEFAULT);
        cr_expect_eq(uv_loop_close(&loop), 0);
        free(a);
        free(b);
        free(c);
}

/* A decoding done on the pool but not yet back on the loop (its uv_work_t callback
 * not run) is given: the FSM does not decode the same bytes a second time. */
Test(plan_codec, predecode_gives_a_decoding_done_on_the_pool_before_it_is_back) {
        struct plan_result *r = sample();
        void *a = NULL;
        size_t la = 0;
        encode_at(r, 7, &a, &la);
        uv_loop_t loop;
        uv_loop_init(&loop);
        struct plan_predecode *pp = plan_predecode_create(&loop);
        cr_assert_eq(plan_predecode_start(pp, a, la), 0);
        usleep(300 * 1000); /* a pool thread decodes it meanwhile; the loop does not run */
        struct plan_result *got = plan_predecode_take(pp, a, la);
        cr_assert_not_null(got, "decoded on the pool: given, not decoded again");
        cr_expect_eq(got->timestamp_ns, 7);
        plan_result_free(got);
        plan_predecode_destroy(pp);
        uv_run(&loop, UV_RUN_DEFAULT); /* its request comes back and frees itself */
        cr_expect_eq(uv_loop_close(&loop), 0);
        free(a);
}

/* Pool threads held busy, so that a decoding queued after them has not begun. */
static pthread_mutex_t block_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t block_cv = PTHREAD_COND_INITIALIZER;
static bool block_released;

static void block_work(uv_work_t *w) {
        (void)w;
        pthread_mutex_lock(&block_mu);
        while (!block_released)
                pthread_cond_wait(&block_cv, &block_mu);
        pthread_mutex_unlock(&block_mu);
}

static void block_done(uv_work_t *w, int status) {
        (void)status;
        free(w);
}

/* ready: false while the decoding is still to do (every pool thread busy), and take
 * then cancels it (NULL: the FSM decodes, once); true for bytes never queued and
 * once a decoding is done, before it is back on the loop. */
Test(plan_codec, predecode_ready_until_decoded_and_a_decoding_not_begun_is_cancelled) {
        struct plan_result *r = sample();
        void *a = NULL, *b = NULL;
        size_t la = 0, lb = 0;
        encode_at(r, 1, &a, &la);
        encode_at(r, 2, &b, &lb);
        uv_loop_t loop;
        uv_loop_init(&loop);
        struct plan_predecode *pp = plan_predecode_create(&loop);
        const char *env = getenv("UV_THREADPOOL_SIZE");
        int threads = env && atoi(env) > 0 ? atoi(env) : 4;
        for (int i = 0; i < threads; i++)
                cr_assert_eq(uv_queue_work(&loop, calloc(1, sizeof(uv_work_t)), block_work, block_done), 0);
        cr_assert_eq(plan_predecode_start(pp, a, la), 0);
        cr_expect(plan_predecode_ready(pp, b, lb), "never queued: nothing to wait for");
        cr_expect_not(plan_predecode_ready(pp, a, la), "queued behind busy threads: not decoded");
        cr_expect_null(plan_predecode_take(pp, a, la), "not begun: cancelled, not waited for");
        cr_assert_eq(plan_predecode_start(pp, b, lb), 0);
        pthread_mutex_lock(&block_mu);
        block_released = true;
        pthread_cond_broadcast(&block_cv);
        pthread_mutex_unlock(&block_mu);
        usleep(300 * 1000); /* a pool thread decodes b meanwhile; the loop does not run */
        cr_expect(plan_predecode_ready(pp, b, lb), "decoded on the pool");
        struct plan_result *got = plan_predecode_take(pp, b, lb);
        cr_assert_not_null(got);
        cr_expect_eq(got->timestamp_ns, 2);
        plan_result_free(got);
        plan_predecode_destroy(pp);
        uv_run(&loop, UV_RUN_DEFAULT);
        cr_expect_eq(uv_loop_close(&loop), 0);
        free(a);
        free(b);
}

static int hook_calls;

static struct plan_result *hook_decoded(void *data, const void *buf, size_t len) {
        hook_calls++;
        return plan_predecode_take(data, buf, len);
}

/* The FSM applies the result the hook gives for a plan part (and its own decoding
 * when the hook gives none): the same state either way. */
Test(plan_codec, fsm_applies_the_result_decoded_ahead) {
        struct plan_result *r = sample();
        void *plan = NULL;
        size_t plen = 0;
        encode_at(r, 42, &plan, &plen);
        uv_loop_t loop;
        uv_loop_init(&loop);
        struct plan_predecode *pp = plan_predecode_create(&loop);
        cr_assert_eq(plan_predecode_start(pp, plan, plen), 0);
        uv_run(&loop, UV_RUN_DEFAULT);
        /* a second store with what setup and sample wrote into st */
        struct state_store *ahead = st, *inline_ = store_with_job();
        struct alloc *old2 = alloc_copy(sample_old);
        state_upsert_allocs(inline_, 3, &old2, 1);
        alloc_unref(old2);
        struct fsm_hooks hooks = {.plan_decoded = hook_decoded};
        struct fsm *f1 = fsm_create(&ahead, &hooks, pp), *f2 = fsm_create(&inline_, &hooks, pp);
        struct batch_part part = {BATCH_PLAN, plan, plen};
        void *entry = NULL;
        size_t len = 0;
        cr_assert_eq(batch_encode(&part, 1, &entry, &len), 0);
        struct error err = {0};
        cr_assert_eq(fsm_raft_ops.apply(f1, 30, entry, len, &err), 0, "%s", err.msg);
        cr_expect_eq(plan_predecode_count(pp), 0, "taken by the FSM");
        cr_assert_eq(fsm_raft_ops.apply(f2, 30, entry, len, &err), 0, "%s", err.msg);
        cr_expect_eq(hook_calls, 2);
        const char *msg = NULL;
        cr_expect_eq(fsm_batch_status(f1, 30, 0, &msg), 0);
        cr_expect_eq(fsm_batch_status(f2, 30, 0, &msg), 0);
        for (int i = 0; i < 6; i++) {
                char id[16];
                snprintf(id, sizeof(id), "a-%d", i);
                const struct alloc *x = state_alloc_get(ahead, id), *y = state_alloc_get(inline_, id);
                cr_assert(x && y, "%s placed", id);
                cr_expect_eq(x->create_index, 30);
                char *tx = alloc_text(x), *ty = alloc_text(y);
                cr_expect_str_eq(tx, ty, "%s the same either way", id);
                free(tx);
                free(ty);
        }
        cr_expect_eq(state_alloc_get(ahead, "old")->client_status, ALLOC_CLIENT_LOST);
        fsm_destroy(f1);
        fsm_destroy(f2);
        state_destroy(inline_);
        plan_predecode_destroy(pp);
        cr_expect_eq(uv_loop_close(&loop), 0);
        free(entry);
        free(plan);
}
