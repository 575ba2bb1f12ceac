/* routes_job_kinds.c - job versions and the job kinds that launch children:
 * GET /v1/job/:id/versions, PUT /v1/job/:id/revert, PUT /v1/job/:id/periodic/force,
 * PUT /v1/job/:id/dispatch. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/ids.h"
#include "common/jsonx.h"
#include "common/macros.h"
#include "common/model.h"
#include "controlplane/api/http.h"
#include "controlplane/api/routes_internal.h"
#include "controlplane/leader/periodic.h"
#include "controlplane/state/state.h"
#include "controlplane/state/state_versions.h"

/* The job of the path, or NULL after a 404 (Nomad's text). */
static const struct job *kind_job(struct route_ctx *c) {
        const struct job *j = state_job_get(ctx_state(c), ns_of(c), c->param[0]);
        if (!j)
                http_req_respond_text(c->req, 404, "job not found");
        return j;
}

/* ---- versions --------------------------------------------------------------------------- */

void h_job_versions(struct route_ctx *c) {
        if (block_until_newer(c, STATE_TABLE_JOBS))
                return;
        const struct job *j = kind_job(c);
        if (!j)
                return;
        size_t n;
        struct job *const *v = state_job_versions(ctx_state(c), j->namespace, j->id, &n);
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
                json_array_append_new(arr, job_to_json(v[i]));
        if (n == 0) /* a store restored from an old snapshot: at least the current one */
                json_array_append_new(arr, job_to_json(j));
        http_req_respond_json(c->req, 200, json_pack("{s:o,s:n}", "Versions", arr, "Diffs"),
                              query_index(c, STATE_TABLE_JOBS));
}

/* ---- revert ------------------------------------------------------------------------------- */

void h_job_revert(struct route_ctx *c) {
        if (!is_leader_or_fail(c))
                return;
        _cleanup_json_ json_t *body = parse_body(c);
        if (!body)
                return;
        const struct job *cur = kind_job(c);
        if (!cur)
                return;
        json_t *ver = json_object_get(body, "JobVersion");
        if (!json_is_integer(ver) || json_integer_value(ver) < 0) {
                http_req_respond_text(c->req, 400, "JobVersion must be a version number (see `drover job history`)");
                return;
        }
        uint64_t want = (uint64_t)json_integer_value(ver);
        json_t *enforce = json_object_get(body, "EnforcePriorVersion");
        if (enforce && !json_is_null(enforce) &&
            (!json_is_integer(enforce) || (uint64_t)json_integer_value(enforce) != cur->version)) {
                http_req_respond_text(c->req, 400, "Current job has version %llu; enforcing version %lld",
                                      (unsigned long long)cur->version,
                                      json_is_integer(enforce) ? (long long)json_integer_value(enforce) : -1LL);
                return;
        }
        if (want == cur->version) {
                http_req_respond_text(c->req, 400, "can't revert to current version");
                return;
        }
        const struct job *old = state_job_version(ctx_state(c), cur->namespace, cur->id, want);
        if (!old) {
                http_req_respond_text(c->req, 404,
                                      "job \"%s\" at version %llu not found (the last %d versions are kept)", cur->id,
                                      (unsigned long long)want, STATE_JOB_VERSIONS_MAX);
                return;
        }
        struct job *j = job_copy(old);
        if (!j) {
                http_req_respond_text(c->req, 500, "out of memory");
                return;
        }
        j->submit_time = clock_now_ns();
        job_register_propose(c, j, NULL, "job-register", json_pack("{s:s,s:s}", "EvalID", "", "Warnings", ""));
        job_unref(j);
}

/* ---- periodic force ----------------------------------------------------------------------- */

void h_job_periodic_force(struct route_ctx *c) {
        if (!is_leader_or_fail(c))
                return;
        const struct job *j = kind_job(c);
        if (!j)
                return;
        if (!job_is_periodic(j)) {
                http_req_respond_text(c->req, 400, "can't force run non-periodic job");
                return;
        }
        if (j->stop) {
                http_req_respond_text(c->req, 400, "can't force run a stopped periodic job");
                return;
        }
        struct job *child = NULL;
        if (periodic_child(j, clock_now_ns() / NS_PER_SEC, &child) < 0) {
                http_req_respond_text(c->req, 500, "out of memory");
                return;
        }
        job_register_propose(c, child, NULL, "periodic-job", json_object());
        job_unref(child);
}

/* ---- dispatch ----------------------------------------------------------------------------- */

#define DISPATCH_PAYLOAD_MAX (16 * 1024) /* bytes, decoded (Nomad's DispatchPayloadSizeLimit) */

static bool in_list(const json_t *arr, const char *s) {
        size_t i;
        const json_t *v;
        json_array_foreach(arr, i, v) {
                if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
                        return true;
        }
        return false;
}

/* Check the request against the parent's ParameterizedJob; 400 answered when not. */
static bool dispatch_ok(struct route_ctx *c, const struct job *j, const char *payload, const json_t *meta) {
        const json_t *pj = json_object_get(j->extra, "ParameterizedJob");
        const char *mode = jx_str(pj, "Payload", "optional");
        if (!*mode)
                mode = "optional";
        ssize_t len = payload && *payload ? base64_decoded_len(payload) : 0;
        if (len < 0) {
                http_req_respond_text(c->req, 400, "Payload must be base64 (standard alphabet, padded)");
                return false;
        }
        if (len > DISPATCH_PAYLOAD_MAX) {
                http_req_respond_text(c->req, 400, "Payload exceeds maximum size; %zd > %d", len, DISPATCH_PAYLOAD_MAX);
                return false;
        }
        if (strcmp(mode, "forbidden") == 0 && len > 0) {
                http_req_respond_text(c->req, 400, "Payload is not allowed");
                return false;
        }
        if (strcmp(mode, "required") == 0 && len == 0) {
                http_req_respond_text(c->req, 400, "Payload is not provided but required by parameterized job");
                return false;
        }
        const json_t *req = json_object_get(pj, "MetaRequired"), *opt = json_object_get(pj, "MetaOptional");
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)meta, k, v) {
                if (!json_is_string(v)) {
                        http_req_respond_text(c->req, 400, "Meta[%s] must be a string", k);
                        return false;
                }
                if (!in_list(req, k) && !in_list(opt, k)) {
                        http_req_respond_text(c->req, 400,
                                              "Dispatch request included unpermitted metadata keys: [%s] (allowed: "
                                              "meta_required and meta_optional of the job)",
                                              k);
                        return false;
                }
        }
        size_t i;
        json_array_foreach(req, i, v) {
                if (json_is_string(v) && !json_object_get(meta, json_string_value(v))) {
                        http_req_respond_text(c->req, 400, "Dispatch did not provide required meta keys: [%s]",
                                              json_string_value(v));
                        return false;
                }
        }
        return true;
}

void h_job_dispatch(struct route_ctx *c) {
        if (!job_write_allowed(c))
                return;
        _cleanup_json_ json_t *body = parse_body(c);
        if (!body)
                return;
        const struct job *j = kind_job(c);
        if (!j)
                return;
        if (!job_is_parameterized(j)) {
                http_req_respond_text(c->req, 400, "Specified job \"%s\" is not a parameterized job", j->id);
                return;
        }
        if (j->stop) {
                http_req_respond_text(c->req, 400, "Specified job \"%s\" is stopped", j->id);
                return;
        }
        json_t *meta = json_object_get(body, "Meta");
        json_t *payload = json_object_get(body, "Payload");
        if ((meta && !json_is_null(meta) && !json_is_object(meta)) ||
            (payload && !json_is_null(payload) && !json_is_string(payload))) {
                http_req_respond_text(c->req, 400, "Meta must be an object of strings and Payload a base64 string");
                return;
        }
        _cleanup_json_ json_t *no_meta = json_object();
        if (!json_is_object(meta))
                meta = no_meta;
        const char *pl = json_is_string(payload) ? json_string_value(payload) : "";
        if (!dispatch_ok(c, j, pl, meta))
                return;
        struct job *child = job_copy(j);
        char *id = NULL;
        char rnd[ID_BUF];
        id_generate(rnd);
        if (!child ||
            asprintf(&id, "%s/dispatch-%lld-%.8s", j->id, (long long)(clock_now_ns() / NS_PER_SEC), rnd) < 0) {
                job_unref(child);
                http_req_respond_text(c->req, 500, "out of memory");
                return;
        }
        free(child->id);
        free(child->name);
        child->id = id;
        child->name = strdup(id);
        if (!child->extra)
                child->extra = json_object();
        json_object_set_new(child->extra, "ParentID", json_string(j->id));
        json_object_set_new(child->extra, "Dispatched", json_true());
        json_object_set_new(child->extra, "Payload", *pl ? json_string(pl) : json_null());
        const char *k;
        json_t *v;
        json_object_foreach(meta, k, v) strmap_set(&child->meta, k, json_string_value(v));
        child->submit_time = clock_now_ns();
        json_t *reply = json_pack("{s:s,s:s,s:i}", "DispatchedJobID", id, "EvalID", "", "JobCreateIndex", 0);
        job_register_propose(c, child, NULL, "job-register", reply);
        job_unref(child);
}
