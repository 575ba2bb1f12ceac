/* routes_scaling.c - /v1/job/:id/scale (status and scaling a group) and
 * /v1/scaling/policies (the `scaling` blocks of the jobs' groups).
 *
 * Scaling a group registers a new version of the job with the group's new
 * count, through the same JobRegister command as a job run (eval triggered by
 * "job-scaling"). The scaling events (Count, PreviousCount, Message, Error,
 * Meta, EvalID) go through Raft as ScalingEvent commands (controlplane/raft/
 * fsm_scaling.h) into the state store (controlplane/state/state_scaling.h), so
 * every server answers the same events, after a restart or a change of leader
 * too; a scale with a count proposes the event and the JobRegister together. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/ids.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/jsonx.h"
#include "common/macros.h"
#include "common/model.h"
#include "controlplane/api/http.h"
#include "controlplane/api/routes_internal.h"
#include "controlplane/state/state.h"
#include "controlplane/state/state_scaling.h"

#define SCALE_MESSAGE_MAX 1024

/* The group's events from the replicated state, newest first (as Nomad lists them). */
static json_t *group_events(struct route_ctx *c, const struct job *j, const char *group) {
        const json_t *list = json_object_get(state_scaling_events(ctx_state(c), j->namespace, j->id), group);
        json_t *arr = json_is_array(list) ? json_deep_copy(list) : json_array();
        return arr ? arr : json_array();
}

/* A ScalingEvent command (controlplane/raft/fsm_scaling.h) for group of job cur. */
static json_t *scaling_event_cmd(const struct job *cur, const char *group, const json_t *count, int64_t previous,
                                 const json_t *message, bool is_error, const json_t *meta, const char *eval_id) {
        json_t *ev = json_pack("{s:I,s:I,s:s,s:b}", "Time", (json_int_t)clock_now_ns(), "PreviousCount",
                               (json_int_t)previous, "Message", json_is_string(message) ? json_string_value(message) : "",
                               "Error", is_error);
        if (!ev)
                return NULL;
        json_object_set_new(ev, "Count", json_is_integer(count) ? json_incref((json_t *)count) : json_null());
        json_object_set_new(ev, "Meta", json_is_object(meta) ? json_deep_copy(meta) : json_null());
        json_object_set_new(ev, "EvalID", eval_id ? json_string(eval_id) : json_null());
        return json_pack("{s:s,s:s,s:s,s:s,s:o}", "Type", "ScalingEvent", "Namespace", cur->namespace, "JobID", cur->id,
                         "TaskGroup", group, "Event", ev);
}

/* The event's own proposal, when a JobRegister follows it (the client hears the
 * JobRegister's outcome; both go in the same Raft batch, in order). */
static void on_event_applied(void *arg, int status, uint64_t index, const char *msg) {
        (void)arg;
        if (status < 0)
                log_warn("scaling event not recorded at index %llu: %s", (unsigned long long)index,
                         msg && *msg ? msg : strerror(-status));
}

/* The job of the path, or NULL after a 404. */
static const struct job *scale_job(struct route_ctx *c) {
        const struct job *j = state_job_get(ctx_state(c), ns_of(c), c->param[0]);
        if (!j)
                http_req_respond_text(c->req, 404, "job not found");
        return j;
}

static bool count_placed(void *arg, const struct alloc *al) {
        struct {
                const char *group;
                int placed, running;
        } *t = arg;
        if (!al->task_group || strcmp(al->task_group, t->group) != 0 || al->desired_status != ALLOC_DESIRED_RUN ||
            alloc_client_terminal(al->client_status))
                return true;
        t->placed++;
        if (al->client_status == ALLOC_CLIENT_RUNNING)
                t->running++;
        return true;
}

void h_job_scale_status(struct route_ctx *c) {
        const struct job *j = scale_job(c);
        if (!j || block_until_newer(c, STATE_TABLE_ALLOCS))
                return;
        json_t *groups = json_object();
        for (size_t g = 0; g < j->n_groups; g++) {
                struct {
                        const char *group;
                        int placed, running;
                } t = {.group = j->groups[g].name};
                state_allocs_by_job_foreach(ctx_state(c), j->namespace, j->id, count_placed, &t);
                /* Healthy/Unhealthy come from deployments' health checks; none here. */
                json_object_set_new(groups, j->groups[g].name,
                                    json_pack("{s:i,s:i,s:i,s:i,s:i,s:o}", "Desired", j->stop ? 0 : j->groups[g].count,
                                              "Placed", t.placed, "Running", t.running, "Healthy", 0, "Unhealthy", 0,
                                              "Events", group_events(c, j, j->groups[g].name)));
        }
        json_t *out = json_pack("{s:s,s:s,s:I,s:I,s:b,s:o}", "JobID", j->id, "Namespace", j->namespace,
                                "JobCreateIndex", (json_int_t)j->create_index, "JobModifyIndex",
                                (json_int_t)j->job_modify_index, "JobStopped", j->stop, "TaskGroups", groups);
        http_req_respond_json(c->req, 200, out, query_index(c, STATE_TABLE_ALLOCS));
}

/* PUT/POST {Count, Target {Group}, Message, Error, Meta, PolicyOverride}. */
void h_job_scale(struct route_ctx *c) {
        if (!job_write_allowed(c))
                return;
        _cleanup_json_ json_t *body = parse_body(c);
        if (!body)
                return;
        const struct job *cur = scale_job(c);
        if (!cur)
                return;
        json_t *target = json_object_get(body, "Target");
        const char *group = jx_str(target, "Group", NULL);
        if (!json_is_object(body) || !group || !*group) {
                http_req_respond_text(c->req, 400, "Target.Group: missing (the task group to scale)");
                return;
        }
        const struct task_group *tg = job_group(cur, group);
        if (!tg) {
                http_req_respond_text(c->req, 400, "Target.Group: job \"%s\" has no task group \"%s\"", cur->id, group);
                return;
        }
        json_t *count = json_object_get(body, "Count");
        json_t *message = json_object_get(body, "Message");
        json_t *meta = json_object_get(body, "Meta");
        if ((count && !json_is_null(count) && !json_is_integer(count)) ||
            (json_is_integer(count) && (json_integer_value(count) < 0 || json_integer_value(count) > LIMIT_COUNT))) {
                http_req_respond_text(c->req, 400, "Count: expected an integer from 0 to %d", LIMIT_COUNT);
                return;
        }
        if ((message && !json_is_null(message) && !json_is_string(message)) ||
            (json_is_string(message) && strlen(json_string_value(message)) > SCALE_MESSAGE_MAX)) {
                http_req_respond_text(c->req, 400, "Message: expected a string of at most %d bytes", SCALE_MESSAGE_MAX);
                return;
        }
        if (meta && !json_is_null(meta) && (!json_is_object(meta) || json_object_size(meta) > 64)) {
                http_req_respond_text(c->req, 400, "Meta: expected an object of at most 64 keys");
                return;
        }
        bool is_error = jx_bool(body, "Error", false);
        if (json_is_integer(count) && is_error) {
                http_req_respond_text(c->req, 400, "Count: an error event cannot change the count");
                return;
        }
        if (!json_is_integer(count)) {
                /* An event only (Nomad: Count null records it, changes nothing). */
                json_t *cmd = scaling_event_cmd(cur, group, count, tg->count, message, is_error, meta, NULL);
                json_t *reply = json_pack("{s:s,s:I,s:I,s:s}", "EvalID", "", "EvalCreateIndex", 0, "JobModifyIndex",
                                          (json_int_t)cur->job_modify_index, "Warnings", "");
                if (!cmd || !reply) {
                        json_decref(cmd);
                        json_decref(reply);
                        http_req_respond_text(c->req, 500, "out of memory");
                        return;
                }
                propose(c, cmd, reply, false);
                return;
        }
        struct job *j = job_copy(cur);
        if (!j) {
                http_req_respond_text(c->req, 500, "out of memory");
                return;
        }
        for (size_t g = 0; g < j->n_groups; g++)
                if (strcmp(j->groups[g].name, group) == 0)
                        j->groups[g].count = (int)json_integer_value(count);
        struct error err = {0};
        if (job_validate(j, &err) < 0) {
                job_unref(j);
                http_req_respond_text(c->req, 400, "%s", err.msg);
                return;
        }
        j->submit_time = clock_now_ns();
        j->stop = false;
        struct eval *e = new_eval(j, "job-scaling", NULL);
        json_t *ev_cmd = scaling_event_cmd(cur, group, count, tg->count, message, is_error, meta, e->id);
        if (!ev_cmd || c->s->ops->propose(c->s->data, ev_cmd, on_event_applied, NULL) < 0)
                log_warn("job \"%s\" group \"%s\": scaling event not proposed", cur->id, group);
        job_register_propose(c, j, e, "job-scaling", json_pack("{s:s,s:s}", "EvalID", "", "Warnings", ""));
        job_unref(j);
        eval_unref(e);
}

/* A stable policy ID: the UUID shape of two FNV-1a hashes of namespace/job/group. */
static void policy_id(const struct job *j, const char *group, char buf[ID_BUF]) {
        uint64_t h[2] = {1469598103934665603ULL, 1099511628211ULL * 31};
        const char *parts[] = {j->namespace, "\x1f", j->id, "\x1f", group};
        for (int k = 0; k < 2; k++)
                for (size_t p = 0; p < ARRAY_SIZE(parts); p++)
                        for (const unsigned char *s = (const unsigned char *)parts[p]; *s; s++)
                                h[k] = (h[k] ^ *s) * 1099511628211ULL;
        snprintf(buf, ID_BUF, "%08x-%04x-%04x-%04x-%012llx", (unsigned)(h[0] >> 32), (unsigned)(h[0] >> 16) & 0xffff,
                 (unsigned)h[0] & 0xffff, (unsigned)(h[1] >> 48), (unsigned long long)(h[1] & 0xffffffffffffULL));
}

/* l->arg: ?job=, the one job whose policies are listed. */
static bool add_policies(void *arg, const struct job *j) {
        struct list_ctx *l = arg;
        if (l->arg && strcmp(l->arg, j->id) != 0)
                return true;
        for (size_t g = 0; g < j->n_groups; g++) {
                const json_t *sc = json_object_get(j->groups[g].extra, "Scaling");
                if (!json_is_object(sc))
                        continue;
                char id[ID_BUF];
                policy_id(j, j->groups[g].name, id);
                json_t *enabled = json_object_get(sc, "Enabled");
                const char *type = jx_str(sc, "Type", "horizontal");
                json_array_append_new(l->out, json_pack("{s:s,s:b,s:s,s:{s:s,s:s,s:s},s:I,s:I}", "ID", id, "Enabled",
                                                        enabled ? json_is_true(enabled) : 1, "Type",
                                                        *type ? type : "horizontal", "Target", "Namespace",
                                                        j->namespace, "Job", j->id, "Group", j->groups[g].name,
                                                        "CreateIndex", (json_int_t)j->create_index, "ModifyIndex",
                                                        (json_int_t)j->job_modify_index));
        }
        return true;
}

static void build_policies(struct list_ctx *l) {
        state_jobs_foreach(l->st, l->ns, add_policies, l);
}

void h_scaling_policies(struct route_ctx *c) {
        if (!block_until_newer(c, STATE_TABLE_JOBS))
                list_offload(c, build_policies, NULL, http_req_query(c->req, "job"), query_index(c, STATE_TABLE_JOBS));
}
