/* test_operator_snapshot.c - GET/PUT /v1/operator/snapshot through the routes and the
 * FSM (tests/support/api_harness): a saved state restored replaces what came after. */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "common/limits.h"
#include "common/model.h"
#include "controlplane/api/http_req.h"
#include "controlplane/api/routes.h"
#include "controlplane/raft/fsm.h"
#include "controlplane/raft/raft_node.h"
#include "controlplane/state/state.h"
#include "tests/support/api_harness.h"
#include "tests/unit/fixtures.h"

API_HARNESS_SUITE(operator_snapshot, s);

static int req(const char *method, const char *target, const char *body, char **ret_body) {
        struct api_reply r;
        api_harness_request(s, method, target, body, body ? strlen(body) : 0, &r);
        if (ret_body)
                *ret_body = r.body ? strdup(r.body) : NULL;
        int status = r.status;
        api_reply_clear(&r);
        return status;
}

#define JOB(id)                                                                                                        \
        "{\"Job\":{\"ID\":\"" id "\",\"Type\":\"batch\",\"TaskGroups\":[{\"Name\":\"g\",\"Count\":1,"                  \
        "\"Tasks\":[{\"Name\":\"t\",\"Driver\":\"raw_exec\",\"Config\":{\"command\":\"/bin/true\"}}]}]}}"

Test(operator_snapshot, save_then_restore_brings_back_the_saved_state) {
        cr_assert_eq(req("PUT", "/v1/jobs", JOB("kept"), NULL), 200);
        char *snap = NULL;
        cr_assert_eq(req("GET", "/v1/operator/snapshot", NULL, &snap), 200);
        json_t *doc = json_loads(snap, 0, NULL);
        cr_assert_not_null(doc, "%s", snap);
        cr_expect_str_eq(json_string_value(json_object_get(doc, "Drover")), "snapshot");
        cr_expect(json_is_object(json_object_get(doc, "State")));
        json_decref(doc);
        cr_assert_eq(req("PUT", "/v1/jobs", JOB("later"), NULL), 200);
        cr_assert_eq(req("DELETE", "/v1/job/kept?purge=true", NULL, NULL), 200);
        cr_assert_null(state_job_get(s->state, "default", "kept"));
        cr_assert_eq(req("PUT", "/v1/operator/snapshot", snap, NULL), 200);
        cr_expect_not_null(state_job_get(s->state, "default", "kept"), "the saved job is back");
        cr_expect_null(state_job_get(s->state, "default", "later"), "what came after the save is gone");
        free(snap);
}

/* n allocations of one job on one node, written to the harness's state in one go. */
static void add_allocs(int n) {
        struct node *nd = fx_node("n1", "dc1", 1000000, 1000000);
        cr_assert_eq(state_upsert_node(s->state, state_latest_index(s->state) + 1, nd), 0);
        node_unref(nd);
        struct job *j = fx_job("big", JOB_BATCH, n, 1, 1);
        cr_assert_eq(state_upsert_job(s->state, state_latest_index(s->state) + 1, j), 0);
        struct alloc **v = calloc((size_t)n, sizeof(*v));
        cr_assert_not_null(v);
        for (int i = 0; i < n; i++) {
                char id[64];
                snprintf(id, sizeof(id), "%08x-0000-4000-8000-%012d", i, i);
                v[i] = fx_alloc(id, j, "n1", i, 1, 1);
        }
        cr_assert_eq(state_upsert_allocs(s->state, state_latest_index(s->state) + 1, v, (size_t)n), 0);
        for (int i = 0; i < n; i++)
                alloc_unref(v[i]);
        free(v);
        job_unref(j);
}

/* A snapshot larger than the usual request body limit (16 MiB: 30,000 allocations)
 * restores whole; the same document with one allocation broken is refused with 400
 * and the reason, and changes nothing. */
Test(operator_snapshot, a_snapshot_past_the_usual_body_limit_restores_and_a_broken_one_changes_nothing) {
        enum { N = 30000 };
        add_allocs(N);
        char *snap = NULL;
        cr_assert_eq(req("GET", "/v1/operator/snapshot", NULL, &snap), 200);
        size_t len = strlen(snap);
        cr_assert_gt(len, LIMIT_HTTP_BODY, "a snapshot of %d allocations is %zu bytes", N, len);
        cr_assert_eq(req("PUT", "/v1/jobs", JOB("later"), NULL), 200);
        /* a document the store refuses: an allocation whose ID is a number */
        char *bad = strdup(snap);
        char *id = strstr(bad, "\"ID\":\"00000007-");
        cr_assert_not_null(id);
        memcpy(id, "\"ID\":7,\"X\":\"000", 15); /* same length: the rest of the ID is X's */
        char *answer = NULL;
        cr_expect_eq(req("PUT", "/v1/operator/snapshot", bad, &answer), 400, "%s", answer ? answer : "");
        cr_expect(answer && strstr(answer, "snapshot: "), "%s", answer ? answer : "");
        free(answer);
        answer = NULL;
        cr_expect_not_null(state_job_get(s->state, "default", "later"), "a refused snapshot changes nothing");
        cr_expect_eq(state_count(s->state, STATE_TABLE_ALLOCS), N);
        free(bad);
        cr_assert_eq(req("PUT", "/v1/operator/snapshot", snap, &answer), 200, "%s", answer ? answer : "");
        cr_expect_null(state_job_get(s->state, "default", "later"), "what came after the save is gone");
        cr_expect_eq(state_count(s->state, STATE_TABLE_ALLOCS), N);
        free(answer);
        free(snap);
}

/* api_snapshot_restore_command, which the server runs off its loop: the command of
 * a valid document, and the reason for each kind of bad one. */
Test(operator_snapshot, the_restore_command_is_built_or_refused_with_a_reason) {
        cr_assert_eq(req("PUT", "/v1/jobs", JOB("kept"), NULL), 200);
        char *snap = NULL;
        cr_assert_eq(req("GET", "/v1/operator/snapshot", NULL, &snap), 200);
        json_t *cmd = NULL;
        struct error err = {0};
        cr_assert_eq(api_snapshot_restore_command(snap, strlen(snap), &cmd, &err), 0, "%s", err.msg);
        cr_expect_str_eq(json_string_value(json_object_get(cmd, "Type")), "StateRestore");
        cr_expect(json_is_object(json_object_get(cmd, "State")));
        json_decref(cmd);
        free(snap);
        static const struct {
                const char *doc, *why;
        } bad[] = {
            {"{\"Drover\":\"snapshot\"", "Failed to decode request body"},
            {"{\"Drover\":\"snapshot\",\"Version\":2,\"State\":{}}", "not a drover snapshot"},
            {"[1,2]", "not a drover snapshot"},
            {"{\"Drover\":\"snapshot\",\"Version\":1,\"State\":{\"Jobs\":[{\"ID\":5}]}}", "snapshot: "},
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                cmd = NULL;
                err.msg[0] = '\0';
                cr_expect_eq(api_snapshot_restore_command(bad[i].doc, strlen(bad[i].doc), &cmd, &err), -EINVAL, "%s",
                             bad[i].doc);
                cr_expect(strstr(err.msg, bad[i].why), "%s: %s", bad[i].doc, err.msg);
                cr_expect_null(cmd);
        }
}

/* The server's FSM builds the StateRestore command's state off the loop (raft_node.h:
 * heavy, prepare on the pool, install on the loop): the command as proposed is seen
 * as heavy, the built state replaces the live one only once installed, and the one
 * it replaced goes back to be freed; a command that cannot be built is refused. */
Test(operator_snapshot, the_restore_command_is_built_apart_and_swapped_in) {
        cr_assert_eq(req("PUT", "/v1/jobs", JOB("kept"), NULL), 200);
        char *snap = NULL;
        cr_assert_eq(req("GET", "/v1/operator/snapshot", NULL, &snap), 200);
        cr_assert_eq(req("PUT", "/v1/jobs", JOB("later"), NULL), 200);
        json_t *cmd = NULL;
        struct error err = {0};
        cr_assert_eq(api_snapshot_restore_command(snap, strlen(snap), &cmd, &err), 0, "%s", err.msg);
        char *buf = json_dumps(cmd, JSON_COMPACT);
        json_decref(cmd);
        const struct raft_fsm_ops *ops = &fsm_raft_ops;
        cr_assert(ops->heavy(s->fsm, buf, strlen(buf)), "the command as proposed is built off the loop");
        cr_expect_not(ops->heavy(s->fsm, JOB("x"), strlen(JOB("x"))), "other commands are not");
        void *prepared = NULL;
        cr_assert_eq(ops->prepare(buf, strlen(buf), false, &prepared, &err), 0, "%s", err.msg);
        cr_expect_not_null(state_job_get(s->state, "default", "later"), "built apart: the live state is untouched");
        uint64_t index = state_latest_index(s->state) + 1;
        cr_assert_eq(ops->install(s->fsm, index, prepared, &err), 0, "%s", err.msg);
        cr_expect_null(state_job_get(s->state, "default", "later"), "installed: what came after the save is gone");
        cr_expect_not_null(state_job_get(s->state, "default", "kept"));
        ops->discard(prepared); /* the replaced state */
        free(buf);
        free(snap);
        static const char broken[] = "{\"Type\":\"StateRestore\",\"State\":{\"Jobs\":[{\"ID\":5}]}}";
        prepared = NULL;
        cr_expect(ops->heavy(s->fsm, broken, strlen(broken)));
        cr_expect_lt(ops->prepare(broken, strlen(broken), false, &prepared, &err), 0, "a state that cannot be built");
        cr_expect_null(prepared);
        cr_expect_lt(ops->prepare("{\"Type\":\"StateRestore\"", 22, false, &prepared, &err), 0, "undecodable");
        cr_expect(strstr(err.msg, "undecodable"), "%s", err.msg);
}

/* The listener's grant of a body past 16 MiB: only for this route, and with ACLs on
 * only for a management token (as the route itself). */
Test(operator_snapshot, only_the_restore_route_may_take_a_larger_body) {
        cr_expect(api_large_body("PUT", "/v1/operator/snapshot"));
        cr_expect(api_large_body("POST", "/v1/operator/snapshot"));
        cr_expect_not(api_large_body("GET", "/v1/operator/snapshot"));
        cr_expect_not(api_large_body("PUT", "/v1/jobs"));
        cr_expect_not(api_large_body("PUT", "/v1/operator/snapshot/x"));
}

/* A state with more jobs than a request may usually hold in one list (10,000) is
 * restored all the same: the snapshot body is bounded by its size, not by the job
 * limits of other requests. */
Test(operator_snapshot, a_state_with_more_than_ten_thousand_jobs_restores) {
        json_t *doc = json_loads(JOB("j"), 0, NULL);
        struct job *proto = NULL;
        struct error err = {0};
        cr_assert_eq(job_from_json(json_object_get(doc, "Job"), &proto, &err), 0, "%s", err.msg);
        json_decref(doc);
        if (!proto->namespace)
                proto->namespace = strdup("default");
        enum { N = 10050 };
        for (int i = 0; i < N; i++) {
                struct job *j = job_copy(proto);
                cr_assert_not_null(j);
                free(j->id);
                cr_assert_geq(asprintf(&j->id, "job-%05d", i), 0);
                cr_assert_eq(state_upsert_job(s->state, state_latest_index(s->state) + 1, j), 0);
                job_unref(j);
        }
        job_unref(proto);
        char *snap = NULL;
        cr_assert_eq(req("GET", "/v1/operator/snapshot", NULL, &snap), 200);
        cr_assert_eq(req("PUT", "/v1/jobs", JOB("later"), NULL), 200);
        char *answer = NULL;
        cr_assert_eq(req("PUT", "/v1/operator/snapshot", snap, &answer), 200, "%s", answer ? answer : "");
        cr_expect_null(state_job_get(s->state, "default", "later"), "what came after the save is gone");
        cr_expect_not_null(state_job_get(s->state, "default", "job-10049"));
        cr_expect_eq(state_count(s->state, STATE_TABLE_JOBS), N);
        free(answer);
        free(snap);
}

Test(operator_snapshot, a_document_that_is_not_a_snapshot_changes_nothing) {
        cr_assert_eq(req("PUT", "/v1/jobs", JOB("stay"), NULL), 200);
        char *body = NULL;
        cr_expect_eq(req("PUT", "/v1/operator/snapshot", "{\"State\":{}}", &body), 400);
        cr_expect(body && strstr(body, "not a drover snapshot"), "%s", body ? body : "");
        free(body);
        cr_expect_eq(req("PUT", "/v1/operator/snapshot",
                         "{\"Drover\":\"snapshot\",\"Version\":1,\"State\":"
                         "{\"Jobs\":[{\"ID\":5}]}}",
                         NULL),
                     400);
        cr_expect_eq(req("DELETE", "/v1/operator/snapshot", NULL, NULL), 405);
        cr_expect_not_null(state_job_get(s->state, "default", "stay"));
}

Test(operator_snapshot, a_follower_reads_it_from_the_leader_unless_stale) {
        s->leader = false;
        cr_expect_eq(req("GET", "/v1/operator/snapshot", NULL, NULL), 500, "no leader known: refused");
        cr_expect_eq(req("GET", "/v1/operator/snapshot?stale", NULL, NULL), 200, "stale: this server's state");
}

/* What api_body_limit reads of a request: its X-Nomad-Token (req.data), nothing else. */
static const char *token_header(const struct http_req *r, const char *key) {
        return strcasecmp(key, "X-Nomad-Token") == 0 ? r->data : NULL;
}
static const struct http_req_ops token_ops = {.header = token_header};

static size_t limit_for(struct api_harness *h, const char *token) {
        struct http_req r = {.ops = &token_ops, .method = "PUT", .path = "/v1/operator/snapshot", .data = (void *)token};
        return api_body_limit(h->api, &r);
}

/* The listener asks api_body_limit before it keeps a byte past 16 MiB: with ACLs on,
 * only a management token (the route's own permission) gets the larger cap. */
Test(operator_snapshot_acl, the_larger_body_is_granted_to_a_management_token_only) {
        struct api_harness *h = api_harness_new_acl(true);
        struct api_reply r;
        api_harness_request(h, "POST", "/v1/acl/bootstrap", NULL, 0, &r);
        cr_assert_eq(r.status, 200, "%s", r.body);
        json_t *j = json_loads(r.body, 0, NULL);
        char mgmt[64];
        snprintf(mgmt, sizeof(mgmt), "%s", json_string_value(json_object_get(j, "SecretID")));
        json_decref(j);
        api_reply_clear(&r);
        cr_expect_eq(limit_for(h, NULL), 0, "anonymous: the usual cap");
        cr_expect_eq(limit_for(h, "00000000-0000-4000-8000-000000000000"), 0, "an unknown token: the usual cap");
        cr_expect_eq(limit_for(h, mgmt), LIMIT_SNAPSHOT_BODY);
        api_harness_free(h);
        h = api_harness_new_acl(false);
        cr_expect_eq(limit_for(h, NULL), LIMIT_SNAPSHOT_BODY, "ACLs off: everyone may restore");
        api_harness_free(h);
}
