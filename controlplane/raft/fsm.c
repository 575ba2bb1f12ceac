/* fsm.c - every state change of drover-server, applied in one place.
 *
 * A command is a JSON object {"Type": "...", ...} carried by one Raft entry.
 * fsm_apply_command() decodes it and calls the state store's write functions
 * with the entry's index; it runs on every server, in log order, and must be
 * deterministic: time and IDs come inside the command, never from here.
 */
#include "controlplane/raft/fsm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/json_fast.h"
#include "common/jsonx.h"
#include "common/log.h"
#include "common/macros.h"
#include "common/model.h"
#include "controlplane/leader/gc.h"
#include "controlplane/plan/applier.h"
#include "controlplane/plan/codec.h"
#include "controlplane/raft/batch.h"
#include "controlplane/raft/fsm_scaling.h"
#include "controlplane/raft/fsm_server_secret.h"
#include "controlplane/raft/raft_node.h"
#include "controlplane/state/state.h"
#include "controlplane/state/state_acl.h"
#include "controlplane/state/state_deploy.h"
#include "controlplane/state/state_versions.h"

/* The outcome of one part of a batch entry. */
struct part_status {
        int code;
        char *msg; /* only for a rejection */
};

struct fsm {
        struct state_store **state;
        struct fsm_hooks hooks;
        void *data;
        /* the batch entry applied last: its index and the outcome of each part */
        uint64_t batch_index;
        struct part_status *parts;
        size_t n_parts, cap_parts;
};

struct fsm *fsm_create(struct state_store **state, const struct fsm_hooks *hooks, void *data) {
        struct fsm *f = calloc(1, sizeof(*f));
        if (!f)
                return NULL;
        f->state = state;
        if (hooks)
                f->hooks = *hooks;
        f->data = data;
        return f;
}

static void clear_parts(struct fsm *f) {
        for (size_t i = 0; i < f->n_parts; i++)
                free(f->parts[i].msg);
        f->n_parts = 0;
}

struct fsm *fsm_destroy(struct fsm *f) {
        if (!f)
                return NULL;
        clear_parts(f);
        free(f->parts);
        free(f);
        return NULL;
}

int fsm_batch_status(const struct fsm *f, uint64_t index, size_t part, const char **ret_msg) {
        if (index != f->batch_index || part >= f->n_parts) {
                *ret_msg = "the outcome of this command is unknown (not the batch entry applied last)";
                return -EIO;
        }
        *ret_msg = f->parts[part].msg;
        return f->parts[part].code;
}

static void state_changed(struct fsm *s) {
        if (s->hooks.state_changed)
                s->hooks.state_changed(s->data);
}

static void node_ready(struct fsm *s, const char *computed_class, uint64_t index) {
        if (s->hooks.node_ready)
                s->hooks.node_ready(s->data, computed_class, index);
}

/* Decode "Evals": [...] (or a single "Eval") into an array of evals. */
static int decode_evals(const json_t *cmd, struct eval ***ret, size_t *ret_n) {
        json_t *arr = json_object_get(cmd, "Evals");
        json_t *one = json_object_get(cmd, "Eval");
        size_t n = json_array_size(arr) + (json_is_object(one) ? 1 : 0);
        *ret = NULL;
        *ret_n = 0;
        if (n == 0)
                return 0;
        struct eval **evals = calloc(n, sizeof(*evals));
        if (!evals)
                return -ENOMEM;
        size_t k = 0;
        if (json_is_object(one) && eval_from_json(one, &evals[k], NULL) == 0)
                k++;
        for (size_t i = 0; i < json_array_size(arr); i++)
                if (eval_from_json(json_array_get(arr, i), &evals[k], NULL) == 0)
                        k++;
        *ret = evals;
        *ret_n = k;
        return 0;
}

static void free_evals(struct eval **evals, size_t n) {
        for (size_t i = 0; i < n; i++)
                eval_unref(evals[i]);
        free(evals);
}

static int apply_evals(struct fsm *s, uint64_t index, const json_t *cmd, uint64_t job_modify_index) {
        struct eval **evals;
        size_t n;
        int r = decode_evals(cmd, &evals, &n);
        if (r < 0 || n == 0)
                return r;
        for (size_t i = 0; i < n; i++)
                if (job_modify_index && !evals[i]->job_modify_index)
                        evals[i]->job_modify_index = job_modify_index;
        r = state_upsert_evals((*s->state), index, evals, n);
        if (r == 0)
                if (s->hooks.evals)
                        s->hooks.evals(s->data, evals, n);
        free_evals(evals, n);
        return r;
}

static int apply_job_register(struct fsm *s, uint64_t index, const json_t *cmd) {
        struct job *j = NULL;
        int r = job_from_json(json_object_get(cmd, "Job"), &j, NULL);
        if (r < 0)
                return r;
        r = state_upsert_job((*s->state), index, j);
        if (r == 0) /* the version's deployment, in the same entry (state_deploy.h) */
                r = state_deploy_for_job((*s->state), index, state_job_get((*s->state), j->namespace, j->id),
                                         j->submit_time);
        job_unref(j);
        if (r < 0)
                return r;
        return apply_evals(s, index, cmd, index);
}

static int apply_job_deregister(struct fsm *s, uint64_t index, const json_t *cmd) {
        int r = state_deregister_job((*s->state), index, jx_str(cmd, "Namespace", "default"), jx_str(cmd, "JobID", ""),
                                     jx_bool(cmd, "Purge", false));
        if (r < 0)
                return r;
        return apply_evals(s, index, cmd, index);
}

static int apply_node_register(struct fsm *s, uint64_t index, const json_t *cmd) {
        struct node *n = NULL;
        int r = node_from_json(json_object_get(cmd, "Node"), &n, NULL);
        if (r < 0)
                return r;
        r = state_upsert_node((*s->state), index, n);
        if (r == 0)
                node_ready(s, n->computed_class, index);
        node_unref(n);
        return r < 0 ? r : apply_evals(s, index, cmd, 0);
}

static int apply_node_status(struct fsm *s, uint64_t index, const json_t *cmd) {
        const char *id = jx_str(cmd, "NodeID", "");
        enum node_status st;
        if (node_status_parse(jx_str(cmd, "Status", ""), &st) < 0)
                return -EINVAL;
        int r = state_update_node_status((*s->state), index, id, st, jx_int(cmd, "UpdatedAt", 0));
        if (r < 0)
                return r;
        if (st == NODE_DOWN) {
                /* Its allocations cannot be reached any more: they are lost. */
                r = state_mark_node_allocs_lost((*s->state), index, id, jx_int(cmd, "UpdatedAt", 0) * 1000000000LL);
                if (r < 0)
                        return r;
        } else if (st == NODE_READY) {
                const struct node *n = state_node_get((*s->state), id);
                if (n)
                        node_ready(s, n->computed_class, index);
        }
        return apply_evals(s, index, cmd, 0);
}

static int apply_alloc_client_update(struct fsm *s, uint64_t index, const json_t *cmd) {
        json_t *allocs = json_object_get(cmd, "Allocs");
        int64_t now = jx_int(cmd, "UpdatedAt", 0);
        size_t i;
        json_t *u;
        bool freed = false;
        json_array_foreach(allocs, i, u) {
                enum alloc_client cs;
                if (alloc_client_parse(jx_str(u, "ClientStatus", ""), &cs) < 0)
                        continue;
                struct task_state *ts = NULL;
                size_t nts = 0;
                json_t *tsj = json_object_get(u, "TaskStates");
                if (json_is_object(tsj) && task_states_from_json(tsj, &ts, &nts, NULL) < 0)
                        continue;
                int r = state_update_alloc_client((*s->state), index, jx_str(u, "ID", ""), cs,
                                                  jx_str(u, "ClientDescription", ""), ts, nts, now);
                task_states_free(ts, nts);
                if (r == 0 && alloc_client_terminal(cs))
                        freed = true;
        }
        if (freed) {
                const struct node *n = state_node_get((*s->state), jx_str(cmd, "NodeID", ""));
                if (n)
                        if (s->hooks.capacity_freed)
                                s->hooks.capacity_freed(s->data, n->computed_class, index);
        }
        return apply_evals(s, index, cmd, 0);
}

static int apply_eval_update(struct fsm *s, uint64_t index, const json_t *cmd) {
        return apply_evals(s, index, cmd, 0);
}

static int apply_one_result(struct fsm *s, uint64_t index, const json_t *rj) {
        struct plan_result *res = NULL;
        int r = plan_result_from_json(rj, &res, NULL);
        if (r < 0)
                return r;
        r = plan_result_apply((*s->state), index, res);
        plan_result_free(res);
        return r;
}

/* "Result": one plan; "Results": a batch of plans, applied in order (the applier
 * checked each against the ones before it). */
static int apply_plan(struct fsm *s, uint64_t index, const json_t *cmd) {
        const json_t *batch = json_object_get(cmd, "Results");
        int r = 0;
        if (json_is_array(batch)) {
                size_t i;
                const json_t *rj;
                json_array_foreach(batch, i, rj) {
                        if ((r = apply_one_result(s, index, rj)) < 0)
                                return r;
                }
        } else if ((r = apply_one_result(s, index, json_object_get(cmd, "Result"))) < 0) {
                return r;
        }
        return apply_evals(s, index, cmd, 0);
}

struct open_evals {
        struct eval **v;
        size_t n, cap;
};

static bool push_open_eval(void *arg, const struct eval *e) {
        struct open_evals *o = arg;
        if (e->status != EVAL_PENDING && e->status != EVAL_BLOCKED)
                return true;
        if (o->n == o->cap) {
                size_t cap = o->cap ? o->cap * 2 : 16;
                struct eval **v = realloc(o->v, cap * sizeof(*v));
                if (!v)
                        return false;
                o->v = v;
                o->cap = cap;
        }
        o->v[o->n++] = eval_ref((struct eval *)e);
        return true;
}

/* ---- the whole state replaced: a StateRestore command (drover operator snapshot
 * restore) or a Raft snapshot. Built apart from the live state (on libuv's pool
 * through raft_fsm_ops.prepare, see raft_node.h), then swapped in. */

struct restored {
        struct state_store *state; /* the built one; once installed, the one it replaced */
        struct open_evals open;    /* its pending and blocked evals (a StateRestore command) */
        bool snapshot;
};

static void restored_free(void *p) {
        struct restored *rs = p;
        if (!rs)
                return;
        state_destroy(rs->state);
        free_evals(rs->open.v, rs->open.n);
        free(rs);
}

/* Any thread: a state built from doc (a snapshot, or a StateRestore command). */
static int restored_build(const json_t *doc, bool snapshot, struct restored **ret, struct error *err) {
        if (!snapshot && strcmp(jx_str(doc, "Type", ""), "StateRestore") != 0)
                return errorf(err, -EINVAL, "not a StateRestore command");
        struct restored *rs = calloc(1, sizeof(*rs));
        if (!rs)
                return errorf(err, -ENOMEM, "out of memory");
        rs->snapshot = snapshot;
        int r = state_restore(snapshot ? doc : json_object_get(doc, "State"), &rs->state, err);
        if (r == 0 && !snapshot)
                state_evals_foreach(rs->state, push_open_eval, &rs->open);
        if (r < 0) {
                restored_free(rs);
                return r;
        }
        *ret = rs;
        return 0;
}

/* On the loop, O(1) but for the broker's share: the built state in place; the
 * leader's broker learns the restored pending and blocked evals through the hook. */
static void restored_install(struct fsm *s, uint64_t index, struct restored *rs) {
        struct state_store *old = *s->state;
        *s->state = rs->state;
        rs->state = old;
        if (rs->snapshot)
                return;
        log_info("fsm: state replaced by a restored snapshot at index %llu", (unsigned long long)index);
        if (rs->open.n && s->hooks.evals)
                s->hooks.evals(s->data, rs->open.v, rs->open.n);
}

/* Applied on the loop: only when raft_node could not build it on the pool. */
static int apply_state_restore(struct fsm *s, uint64_t index, const json_t *cmd) {
        struct restored *rs = NULL;
        int r = restored_build(cmd, false, &rs, NULL);
        if (r < 0)
                return r;
        restored_install(s, index, rs);
        restored_free(rs);
        return 0;
}

/* The time each GC command holds the loop is logged: it is what bounds the
 * leader's GC batches (GC_MAX_OBJECTS in server.c). */
static int apply_gc(struct fsm *s, uint64_t index, const json_t *cmd) {
        struct timespec c0, c1;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
        int64_t t0 = clock_monotonic_ns();
        int r = gc_apply(*s->state, index, cmd);
        int64_t t1 = clock_monotonic_ns();
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
        double cpu_ms = (double)(c1.tv_sec - c0.tv_sec) * 1e3 + (double)(c1.tv_nsec - c0.tv_nsec) / 1e6;
        log_info("gc: applied %zu evaluation(s), %zu allocation(s), %zu job(s), %zu node(s) at index %llu "
                 "(%.1f ms of CPU) in %.1f ms",
                 json_array_size(json_object_get(cmd, "Evals")), json_array_size(json_object_get(cmd, "Allocs")),
                 json_array_size(json_object_get(cmd, "Jobs")), json_array_size(json_object_get(cmd, "Nodes")),
                 (unsigned long long)index, cpu_ms, (double)(t1 - t0) / 1e6);
        return r;
}

/* NodeUpdateEligibility {NodeID, Eligible, Evals}: an operator's decision. */
static int apply_node_eligibility(struct fsm *s, uint64_t index, const json_t *cmd) {
        int r = state_update_node_eligibility((*s->state), index, jx_str(cmd, "NodeID", ""),
                                              jx_bool(cmd, "Eligible", true));
        return r < 0 ? r : apply_evals(s, index, cmd, 0);
}

/* NodeUpdateDrain {NodeID, DrainStrategy (object or null), LastDrain, Eligible, Evals}. */
static int apply_node_drain(struct fsm *s, uint64_t index, const json_t *cmd) {
        const json_t *strategy = json_object_get(cmd, "DrainStrategy");
        const json_t *last = json_object_get(cmd, "LastDrain");
        int r = state_update_node_drain((*s->state), index, jx_str(cmd, "NodeID", ""),
                                        json_is_object(strategy) ? strategy : NULL, json_is_object(last) ? last : NULL,
                                        jx_bool(cmd, "Eligible", false));
        return r < 0 ? r : apply_evals(s, index, cmd, 0);
}

/* NodeDeregister {NodeID, UpdatedAt (unix s), Evals}: purge; its allocations are lost. */
static int apply_node_deregister(struct fsm *s, uint64_t index, const json_t *cmd) {
        const char *id = jx_str(cmd, "NodeID", "");
        if (!state_node_get((*s->state), id))
                return -ENOENT;
        int r = state_mark_node_allocs_lost((*s->state), index, id, jx_int(cmd, "UpdatedAt", 0) * 1000000000LL);
        if (r == 0)
                r = state_delete_node((*s->state), index, id);
        return r < 0 ? r : apply_evals(s, index, cmd, 0);
}

/* EvalDelete {EvalIDs: [...]}: absent ones are skipped. */
static int apply_eval_delete(struct fsm *s, uint64_t index, const json_t *cmd) {
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(cmd, "EvalIDs"), i, v) {
                int r = state_delete_eval((*s->state), index, json_string_value(v) ? json_string_value(v) : "");
                if (r < 0 && r != -ENOENT)
                        return r;
        }
        return 0;
}

/* AllocStop {AllocID, Description, UpdatedAt (ns), Evals}: a server-side stop (alloc
 * stop, node drain); the evals let the scheduler replace it. */
static int apply_alloc_stop(struct fsm *s, uint64_t index, const json_t *cmd) {
        int r = state_stop_alloc((*s->state), index, jx_str(cmd, "AllocID", ""), ALLOC_DESIRED_STOP,
                                 jx_str(cmd, "Description", "alloc was stopped"), -1, jx_int(cmd, "UpdatedAt", 0));
        return r < 0 ? r : apply_evals(s, index, cmd, 0);
}

/* SchedulerConfig {Algorithm, PreemptSystem, PreemptSysBatch, PreemptBatch,
 * PreemptService, RejectJobRegistration, CAS?}: the operator's scheduler
 * configuration (PUT /v1/operator/scheduler/configuration). With CAS, applied only
 * when the current ModifyIndex equals it: else -ECANCELED (the route answers
 * Updated: false). */
static int apply_scheduler_config(struct fsm *s, uint64_t index, const json_t *cmd) {
        const json_t *alg = json_object_get(cmd, "Algorithm");
        if (!json_is_integer(alg))
                return -EINVAL;
        struct state_sched_config sc = {
            .algorithm = (int)json_integer_value(alg),
            .preempt_system = json_is_true(json_object_get(cmd, "PreemptSystem")),
            .preempt_sysbatch = json_is_true(json_object_get(cmd, "PreemptSysBatch")),
            .preempt_batch = json_is_true(json_object_get(cmd, "PreemptBatch")),
            .preempt_service = json_is_true(json_object_get(cmd, "PreemptService")),
            .reject_job_registration = json_is_true(json_object_get(cmd, "RejectJobRegistration")),
        };
        if (json_integer_value(alg) < 0 || json_integer_value(alg) >= STATE_SCHED_ALGORITHMS)
                return -EINVAL;
        const json_t *cas = json_object_get(cmd, "CAS");
        if (cas && (!json_is_integer(cas) || json_integer_value(cas) < 0))
                return -EINVAL;
        return state_set_sched_config(*s->state, index, &sc, cas != NULL, cas ? (uint64_t)json_integer_value(cas) : 0);
}

/* ---- ACL commands (state_acl.h): policies and tokens, secrets only as hashes ---- */

static int apply_acl_policy_upsert(struct fsm *s, uint64_t index, const json_t *cmd) {
        json_t *p = json_object_get(cmd, "Policy");
        struct error err = {0};
        return state_acl_policy_upsert(*s->state, index, jx_str(p, "Name", ""), jx_str(p, "Description", ""),
                                       json_string_value(json_object_get(p, "Rules")), &err);
}

static int apply_acl_policy_delete(struct fsm *s, uint64_t index, const json_t *cmd) {
        return state_acl_policy_delete(*s->state, index, jx_str(cmd, "Name", ""));
}

static int apply_acl_role_upsert(struct fsm *s, uint64_t index, const json_t *cmd) {
        struct error err = {0};
        return state_acl_role_upsert(*s->state, index, json_object_get(cmd, "Role"), &err);
}

static int apply_acl_role_delete(struct fsm *s, uint64_t index, const json_t *cmd) {
        return state_acl_role_delete(*s->state, index, jx_str(cmd, "ID", ""));
}

static int apply_acl_token(struct fsm *s, uint64_t index, const json_t *cmd, bool bootstrap) {
        struct acl_token *t = NULL;
        int64_t create_time = 0;
        struct error err = {0};
        int r = state_acl_token_from_json(json_object_get(cmd, "Token"), &t, &create_time, &err);
        if (r < 0)
                return r;
        return bootstrap ? state_acl_bootstrap(*s->state, index, t, create_time)
                         : state_acl_token_upsert(*s->state, index, t, create_time);
}

static int apply_acl_token_upsert(struct fsm *s, uint64_t index, const json_t *cmd) {
        return apply_acl_token(s, index, cmd, false);
}

static int apply_acl_bootstrap(struct fsm *s, uint64_t index, const json_t *cmd) {
        return apply_acl_token(s, index, cmd, true);
}

static int apply_acl_token_delete(struct fsm *s, uint64_t index, const json_t *cmd) {
        return state_acl_token_delete(*s->state, index, jx_str(cmd, "AccessorID", ""));
}

/* ---- deployments (state_deploy.h, leader/deploy_watcher.h) ---------------------------------- */

/* {"Namespace","JobID","Version"}: a successful deployment marks that version Stable
 * (state_versions.h). */
static int mark_job_stable(struct fsm *s, uint64_t index, const json_t *sj) {
        int r = state_versions_mark_stable(*s->state, index, jx_str(sj, "Namespace", "default"),
                                           jx_str(sj, "JobID", ""), (uint64_t)jx_int(sj, "Version", -1));
        return r < 0 ? -ENOMEM : r;
}

/* {"Deployment": {...}, "Evals": [...]}: a status change (pause, resume, fail,
 * promote, successful) written as the whole object. */
static int apply_deployment_upsert(struct fsm *s, uint64_t index, const json_t *cmd) {
        struct deployment *d = NULL;
        int r = deployment_from_json(json_object_get(cmd, "Deployment"), &d, NULL);
        if (r < 0)
                return r;
        r = state_upsert_deployment((*s->state), index, d);
        deployment_unref(d);
        if (r == 0 && json_is_object(json_object_get(cmd, "StableJob")))
                r = mark_job_stable(s, index, json_object_get(cmd, "StableJob"));
        return r < 0 ? r : apply_evals(s, index, cmd, 0);
}

/* {"Healthy": [alloc IDs], "Unhealthy": [...], "Timestamp": ns, "Evals": [...]} */
static int apply_deployment_alloc_health(struct fsm *s, uint64_t index, const json_t *cmd) {
        int64_t now = jx_int(cmd, "Timestamp", 0);
        static const char *const keys[] = {"Healthy", "Unhealthy"};
        for (size_t k = 0; k < 2; k++) {
                json_t *arr = json_object_get(cmd, keys[k]);
                size_t n = json_is_array(arr) ? json_array_size(arr) : 0;
                for (size_t i = 0; i < n; i++) {
                        const char *id = json_string_value(json_array_get(arr, i));
                        int r = id ? state_deploy_set_health((*s->state), index, &id, 1, k == 0, now) : 0;
                        if (r < 0)
                                return r;
                }
        }
        return apply_evals(s, index, cmd, 0);
}

static int apply_scaling_event(struct fsm *s, uint64_t index, const json_t *cmd) {
        return fsm_scaling_event_apply(*s->state, index, cmd);
}

static int apply_server_secret(struct fsm *s, uint64_t index, const json_t *cmd) {
        return fsm_server_secret_apply(*s->state, index, cmd);
}

struct command_type {
        const char *name;
        int (*apply)(struct fsm *s, uint64_t index, const json_t *cmd);
};

static const struct command_type command_types[] = {
    {"JobRegister", apply_job_register},
    {"JobDeregister", apply_job_deregister},
    {"NodeRegister", apply_node_register},
    {"NodeStatusUpdate", apply_node_status},
    {"AllocClientUpdate", apply_alloc_client_update},
    {"EvalUpdate", apply_eval_update},
    {"PlanApply", apply_plan},
    {"GC", apply_gc},
    {"NodeUpdateEligibility", apply_node_eligibility},
    {"NodeUpdateDrain", apply_node_drain},
    {"NodeDeregister", apply_node_deregister},
    {"EvalDelete", apply_eval_delete},
    {"AllocStop", apply_alloc_stop},
    {"StateRestore", apply_state_restore},
    {"SchedulerConfig", apply_scheduler_config},
    {"ACLPolicyUpsert", apply_acl_policy_upsert},
    {"ACLPolicyDelete", apply_acl_policy_delete},
    {"ACLRoleUpsert", apply_acl_role_upsert},
    {"ACLRoleDelete", apply_acl_role_delete},
    {"ACLTokenUpsert", apply_acl_token_upsert},
    {"ACLTokenDelete", apply_acl_token_delete},
    {"ACLBootstrap", apply_acl_bootstrap},
    {"DeploymentUpsert", apply_deployment_upsert},
    {"DeploymentAllocHealth", apply_deployment_alloc_health},
    {"ScalingEvent", apply_scaling_event}, /* fsm_scaling.c */
    {FSM_SERVER_SECRET_TYPE, apply_server_secret}, /* fsm_server_secret.c */
};

/* What the command was about, for the rejection message. */
static void describe(const json_t *cmd, char *buf, size_t size) {
        const char *job = jx_str(cmd, "JobID", NULL);
        const char *node = jx_str(cmd, "NodeID", NULL);
        json_t *jj = json_object_get(cmd, "Job");
        json_t *nj = json_object_get(cmd, "Node");
        if (!job && json_is_object(jj))
                job = jx_str(jj, "ID", NULL);
        if (!node && json_is_object(nj))
                node = jx_str(nj, "ID", NULL);
        if (job)
                snprintf(buf, size, " of job \"%s\"", job);
        else if (node)
                snprintf(buf, size, " of node \"%s\"", node);
        else
                buf[0] = '\0';
}

static const char *reason(int r) {
        switch (r) {
        case -ENOENT:
                return "not found (deleted by an earlier command?)";
        case -EINVAL:
                return "invalid command";
        case -EROFS:
                return "state store is read-only";
        case -ECANCELED:
                return "check-and-set index does not match";
        default:
                return strerror(-r);
        }
}

int fsm_apply_command(struct fsm *s, uint64_t index, const json_t *cmd, struct error *err) {
        const char *type = jx_str(cmd, "Type", "");
        for (size_t i = 0; i < ARRAY_SIZE(command_types); i++)
                if (strcmp(command_types[i].name, type) == 0) {
                        int r = command_types[i].apply(s, index, cmd);
                        if (r < 0) {
                                char what[128];
                                describe(cmd, what, sizeof(what));
                                errorf(err, r, "%s%s rejected by the state store at index %llu: %s", type, what,
                                       (unsigned long long)index, reason(r));
                                log_debug("fsm: %s", err ? err->msg : type);
                        } else if (s->hooks.applied) {
                                s->hooks.applied(s->data, index, cmd, NULL);
                        }
                        state_changed(s);
                        return r;
                }
        log_warn("fsm: unknown command type \"%s\" at index %llu (newer server?); skipped", type,
                 (unsigned long long)index);
        return errorf(err, -EINVAL, "unknown command type \"%s\" at index %llu", type, (unsigned long long)index);
}

/* ---- raft_fsm_ops ------------------------------------------------------------------ */

struct batch_apply {
        struct fsm *f;
        uint64_t index;
};

/* A JSON command's object: the one it was dumped from when this server proposed
 * these very bytes (json_decoded), else parsed from them. */
static json_t *command_of(struct fsm *f, const void *buf, size_t len, json_error_t *je) {
        json_t *cmd = f->hooks.json_decoded ? f->hooks.json_decoded(f->data, buf, len) : NULL;
        return cmd ? cmd : json_fast_loadb(buf, len, je);
}

static int apply_plan_part(struct fsm *f, uint64_t index, const void *buf, size_t len, struct error *err) {
        struct plan_result *res = f->hooks.plan_decoded ? f->hooks.plan_decoded(f->data, buf, len) : NULL;
        int r = res ? 0 : plan_result_decode(buf, len, &res, err);
        if (r < 0) {
                error_prefix(err, "PlanApply at index %llu", (unsigned long long)index);
                return r;
        }
        r = plan_result_apply((*f->state), index, res);
        if (r == 0 && f->hooks.applied)
                f->hooks.applied(f->data, index, NULL, res->eval_id);
        plan_result_free(res);
        state_changed(f);
        if (r < 0)
                return errorf(err, r, "PlanApply rejected by the state store at index %llu: %s",
                              (unsigned long long)index, reason(r));
        return 0;
}

static int apply_part(void *arg, size_t i, const struct batch_part *p) {
        struct batch_apply *ba = arg;
        struct fsm *f = ba->f;
        struct error err = {0};
        int r;
        if (p->kind == BATCH_PLAN) {
                r = apply_plan_part(f, ba->index, p->buf, p->len, &err);
        } else if (p->kind == BATCH_JSON) {
                json_error_t je = {0};
                _cleanup_json_ json_t *cmd = command_of(f, p->buf, p->len, &je);
                r = cmd ? fsm_apply_command(f, ba->index, cmd, &err)
                        : errorf(&err, -EINVAL, "undecodable command %zu at index %llu: %s", i,
                                 (unsigned long long)ba->index, je.text);
        } else {
                r = errorf(&err, -EINVAL, "unknown command kind %u at index %llu", p->kind,
                           (unsigned long long)ba->index);
        }
        struct part_status *ps = &f->parts[f->n_parts++];
        ps->code = r < 0 ? r : 0;
        ps->msg = r < 0 ? strdup(err.code ? err.msg : strerror(-r)) : NULL;
        if (r < 0)
                log_debug("fsm: part %zu of entry %llu rejected: %s", i, (unsigned long long)ba->index,
                          ps->msg ? ps->msg : "");
        return 0; /* the next part is applied whatever this one's outcome */
}

/* A batch entry: every part applied in order; their outcomes kept for the proposer. */
static int apply_batch(struct fsm *f, uint64_t index, const void *buf, size_t len, struct error *err) {
        clear_parts(f);
        f->batch_index = index;
        int n = batch_count(buf, len);
        if (n < 0) {
                log_error("fsm: corrupt batch entry at index %llu", (unsigned long long)index);
                return errorf(err, -EINVAL, "corrupt batch entry at index %llu", (unsigned long long)index);
        }
        if ((size_t)n > f->cap_parts) {
                struct part_status *v = realloc(f->parts, (size_t)n * sizeof(*v));
                if (!v)
                        return errorf(err, -ENOMEM, "out of memory");
                f->parts = v;
                f->cap_parts = (size_t)n;
        }
        struct batch_apply ba = {.f = f, .index = index};
        return batch_foreach(buf, len, apply_part, &ba);
}

static int fsm_apply(void *data, uint64_t index, const void *buf, size_t len, struct error *err) {
        if (batch_is_batch(buf, len))
                return apply_batch(data, index, buf, len, err);
        json_error_t je = {0};
        _cleanup_json_ json_t *cmd = command_of(data, buf, len, &je);
        if (!cmd) {
                log_error("fsm: undecodable entry at index %llu: %s", (unsigned long long)index, je.text);
                return errorf(err, -EINVAL, "undecodable entry at index %llu: %s", (unsigned long long)index, je.text);
        }
        return fsm_apply_command(data, index, cmd, err);
}

static int queued_part(void *arg, size_t i, const struct batch_part *p) {
        struct fsm *f = arg;
        (void)i;
        if (p->kind == BATCH_PLAN)
                f->hooks.plan_queued(f->data, p->buf, p->len);
        return 0;
}

/* raft_fsm_ops.queued: the entry's plan parts to the hook, to be decoded ahead. */
static void fsm_queued(void *data, const void *buf, size_t len) {
        struct fsm *f = data;
        if (f->hooks.plan_queued && batch_is_batch(buf, len))
                batch_foreach(buf, len, queued_part, f);
}

static int ready_part(void *arg, size_t i, const struct batch_part *p) {
        struct fsm *f = arg;
        (void)i;
        return p->kind == BATCH_PLAN && !f->hooks.plan_ready(f->data, p->buf, p->len) ? -EAGAIN : 0;
}

/* raft_fsm_ops.ready: every plan part of the entry decoded ahead (or not to be). */
static bool fsm_ready(void *data, const void *buf, size_t len) {
        struct fsm *f = data;
        return !f->hooks.plan_ready || !batch_is_batch(buf, len) || batch_foreach(buf, len, ready_part, f) == 0;
}

static int fsm_snapshot_begin(void *data, void **ret_view) {
        struct fsm *s = data;
        struct state_store *view = state_snapshot(*s->state);
        if (!view)
                return -ENOMEM;
        *ret_view = view;
        return 0;
}

/* On a pool thread: the view is immutable, the live state moves on meanwhile. */
static int fsm_snapshot_write(void *view, void **ret_buf, size_t *ret_len) {
        _cleanup_json_ json_t *snap = NULL;
        int r = state_save(view, &snap);
        if (r < 0)
                return r;
        char *out = json_dumps(snap, JSON_COMPACT);
        if (!out)
                return -ENOMEM;
        *ret_buf = out;
        *ret_len = strlen(out);
        return 0;
}

static void fsm_snapshot_end(void *view) {
        state_destroy(view);
}

/* Any thread: decode and build (raft_fsm_ops.prepare). */
static int fsm_prepare(const void *buf, size_t len, bool snapshot, void **ret_prepared, struct error *err) {
        json_error_t je;
        _cleanup_json_ json_t *doc = json_loadb(buf, len, 0, &je);
        if (!doc)
                return errorf(err, -EINVAL, "undecodable %s: %s", snapshot ? "snapshot" : "StateRestore command",
                              je.text);
        struct restored *rs = NULL;
        int r = restored_build(doc, snapshot, &rs, err);
        if (r < 0)
                return r;
        *ret_prepared = rs;
        return 0;
}

/* The state-replacing entry as proposed (routes_operator.c: json_pack of Type first,
 * dumped compact in insertion order). An entry spelled otherwise is still applied
 * right, on the loop (apply_state_restore). */
#define STATE_RESTORE_PREFIX "{\"Type\":\"StateRestore\","

static bool fsm_heavy(void *data, const void *buf, size_t len) {
        (void)data;
        return len > strlen(STATE_RESTORE_PREFIX) &&
               memcmp(buf, STATE_RESTORE_PREFIX, strlen(STATE_RESTORE_PREFIX)) == 0;
}

/* On the loop, in log order (raft_fsm_ops.install): index 0 for a snapshot. */
static int fsm_install(void *data, uint64_t index, void *prepared, struct error *err) {
        struct fsm *s = data;
        (void)err;
        restored_install(s, index, prepared);
        if (index && s->hooks.applied) {
                _cleanup_json_ json_t *cmd = json_pack("{s:s}", "Type", "StateRestore");
                if (cmd)
                        s->hooks.applied(s->data, index, cmd, NULL);
        }
        state_changed(s);
        return 0;
}

/* At start (and without the pool): on the loop. */
static int fsm_restore(void *data, const void *buf, size_t len) {
        void *rs = NULL;
        struct error err = {0};
        int r = fsm_prepare(buf, len, true, &rs, &err);
        if (r < 0) {
                log_error("fsm: snapshot restore failed: %s", err.msg);
                return r;
        }
        fsm_install(data, 0, rs, &err);
        restored_free(rs);
        return 0;
}

const struct raft_fsm_ops fsm_raft_ops = {
    .apply = fsm_apply,
    .snapshot_begin = fsm_snapshot_begin,
    .snapshot_write = fsm_snapshot_write,
    .snapshot_end = fsm_snapshot_end,
    .restore = fsm_restore,
    .heavy = fsm_heavy,
    .prepare = fsm_prepare,
    .install = fsm_install,
    .discard = restored_free,
    .queued = fsm_queued,
    .ready = fsm_ready,
};
