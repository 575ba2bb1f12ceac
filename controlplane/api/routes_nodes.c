/* routes_nodes.c - /v1/nodes and /v1/node/:id/...: what client agents call
 * (register, heartbeat, allocation updates) and what operators call. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/hashmap.h"
#include "common/jsonx.h"
#include "common/macros.h"
#include "common/model.h"
#include "controlplane/acl/secret.h"
#include "controlplane/api/http.h"
#include "controlplane/api/routes_internal.h"
#include "common/log.h"
#include "controlplane/leader/drainer.h"
#include "controlplane/leader/heartbeat.h"
#include "controlplane/scheduler/reschedule.h"
#include "controlplane/scheduler/scheduler.h"
#include "controlplane/state/state.h"

/* RFC 3339 in UTC (Go's time.Time in JSON); 0 is Go's zero time. */
static json_t *rfc3339(int64_t ns) {
        if (ns <= 0)
                return json_string("0001-01-01T00:00:00Z");
        char buf[64];
        time_t secs = (time_t)(ns / NS_PER_SEC);
        struct tm tm;
        gmtime_r(&secs, &tm);
        size_t len = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(buf + len, sizeof(buf) - len, ".%09lldZ", (long long)(ns % NS_PER_SEC));
        return json_string(buf);
}

/* The drain as Nomad's API shows it. The state keeps what the drainer reads
 * (DrainStrategy {DrainSpec {Deadline, IgnoreSystemJobs}, ForceDeadline ns,
 * StartedAt ns}; LastDrain with unix seconds); Nomad's DrainStrategy embeds its
 * DrainSpec (Deadline and IgnoreSystemJobs at the top) and its times are RFC 3339. */
static void node_drain_fields(json_t *o, const struct node *n) {
        const json_t *ds = json_object_get(n->extra, "DrainStrategy");
        if (json_is_object(ds)) {
                const json_t *spec = json_object_get(ds, "DrainSpec");
                json_object_set_new(o, "DrainStrategy",
                                    json_pack("{s:I,s:b,s:o,s:o}", "Deadline", (json_int_t)jx_int(spec, "Deadline", 0),
                                              "IgnoreSystemJobs", jx_bool(spec, "IgnoreSystemJobs", false),
                                              "ForceDeadline", rfc3339(jx_int(ds, "ForceDeadline", 0)), "StartedAt",
                                              rfc3339(jx_int(ds, "StartedAt", 0))));
        } else {
                json_object_set_new(o, "DrainStrategy", json_null());
        }
        const json_t *last = json_object_get(n->extra, "LastDrain");
        if (json_is_object(last)) {
                json_t *meta = json_object_get(last, "Meta");
                json_object_set_new(o, "LastDrain",
                                    json_pack("{s:s,s:o,s:o,s:s,s:O}", "Status", jx_str(last, "Status", ""),
                                              "StartedAt", rfc3339(jx_int(last, "StartedAt", 0) * NS_PER_SEC),
                                              "UpdatedAt", rfc3339(jx_int(last, "UpdatedAt", 0) * NS_PER_SEC),
                                              "AccessorID", jx_str(last, "AccessorID", ""), "Meta",
                                              json_is_object(meta) ? meta : json_null()));
        } else {
                json_object_set_new(o, "LastDrain", json_null());
        }
}

json_t *node_public_json(const struct node *n) {
        json_t *o = node_to_json(n);
        json_object_del(o, "SecretID");
        node_drain_fields(o, n);
        return o;
}

static bool add_node_stub(void *arg, const struct node *n) {
        struct list_ctx *l = arg;
        if (l->prefix && strncmp(n->id, l->prefix, strlen(l->prefix)) != 0)
                return true;
        json_t *o = node_to_stub_json(n);
        node_drain_fields(o, n);
        json_object_del(o, "DrainStrategy"); /* the list has LastDrain only, as Nomad's */
        json_array_append_new(l->out, o);
        return true;
}

/* A node joining or back to ready: an eval per system/sysbatch job (Nomad's createNodeEvals). */
static json_t *node_evals_json(struct route_ctx *c, const char *node_id) {
        json_t *arr = json_array();
        struct eval **ev = NULL;
        size_t n = 0;
        if (scheduler_node_evals(ctx_state(c), node_id, NULL, &ev, &n) == 0)
                for (size_t i = 0; i < n; i++) {
                        json_array_append_new(arr, eval_to_json(ev[i]));
                        eval_unref(ev[i]);
                }
        free(ev);
        return arr;
}

void h_node_register(struct route_ctx *c) {
        if (!is_leader_or_fail(c))
                return;
        _cleanup_json_ json_t *body = parse_body(c);
        if (!body)
                return;
        /* Proof that the node belongs here: the registration secret, or a client
         * certificate from the cluster's CA (docs/security.md). */
        if (*c->s->node_secret && !http_req_client_verified(c->req) &&
            !secret_equal(jx_str(body, "RegistrationSecret", NULL), c->s->node_secret)) {
                http_req_respond_text(c->req, 403,
                                      "node registration refused: this server requires the node registration secret "
                                      "(drover-agent -node-secret or DROVER_NODE_SECRET) or a client certificate");
                return;
        }
        json_t *nj = json_object_get(body, "Node");
        struct error err = {0};
        struct node *n = NULL;
        if (!json_is_object(nj)) {
                http_req_respond_text(c->req, 400, "missing node: the body is {\"Node\": {...}}");
                return;
        }
        if (node_from_json(nj, &n, &err) < 0) {
                http_req_respond_text(c->req, 400, "%s", err.msg);
                return;
        }
        if (node_validate(n, &err) < 0 || !n->secret_id || !*n->secret_id) {
                http_req_respond_text(c->req, 400, "%s", err.code ? err.msg : "node: missing SecretID");
                node_unref(n);
                return;
        }
        /* A node is in the region of the servers it registers with (${node.region}); one
         * that says another region has come to the wrong cluster. */
        if (n->region && *n->region && strcmp(n->region, c->s->region) != 0) {
                http_req_respond_text(c->req, 400, "node %s: region \"%.64s\" is not this cluster's region \"%s\"",
                                      n->id, n->region, c->s->region);
                node_unref(n);
                return;
        }
        free(n->region);
        if (!(n->region = strdup(c->s->region))) {
                http_req_respond_text(c->req, 500, "out of memory");
                node_unref(n);
                return;
        }
        const struct node *old = state_node_get(ctx_state(c), n->id);
        if (old && old->secret_id && !secret_equal(old->secret_id, n->secret_id)) {
                http_req_respond_text(c->req, 403, "node secret ID does not match; refusing to re-register node %s",
                                      n->id);
                node_unref(n);
                return;
        }
        /* An operator's drain outlives the agent's re-registration (its flags are kept by
         * the state store; the strategy lives in extra). */
        if (old && old->extra) {
                static const char *const kept[] = {"DrainStrategy", "LastDrain"};
                for (size_t k = 0; k < ARRAY_SIZE(kept); k++) {
                        json_t *v = json_object_get(old->extra, kept[k]);
                        if (v) {
                                if (!n->extra)
                                        n->extra = json_object();
                                json_object_set_new(n->extra, kept[k], json_deep_copy(v));
                        }
                }
        }
        n->status = NODE_READY;
        n->status_updated_at = clock_now_ns() / NS_PER_SEC;
        node_compute_class(n);
        int64_t ttl = heartbeats_reset(c->s->heartbeats, n->id, clock_monotonic_ns());
        json_t *cmd = json_pack("{s:s,s:o,s:o}", "Type", "NodeRegister", "Node", node_to_json(n), "Evals",
                                node_evals_json(c, n->id));
        json_t *reply = json_pack("{s:I,s:s}", "HeartbeatTTL", (json_int_t)ttl, "NodeID", n->id);
        node_unref(n);
        propose(c, cmd, reply, false);
}

static bool secret_ok(struct route_ctx *c, const struct node *n, const json_t *body) {
        const char *secret = jx_str(body, "SecretID", NULL);
        if (!secret_equal(secret, n->secret_id)) {
                http_req_respond_text(c->req, 403, "node secret ID does not match for node %s", n->id);
                return false;
        }
        return true;
}

/* The prelude of an agent's own call on the leader: the body, the node of the path
 * (404, with hint) and the node's SecretID in the body (403). NULL once answered. */
static const struct node *agent_call(struct route_ctx *c, json_t **ret_body, const char *hint) {
        if (!is_leader_or_fail(c))
                return NULL;
        *ret_body = parse_body(c);
        if (!*ret_body)
                return NULL;
        const struct node *n = state_node_get(ctx_state(c), c->param[0]);
        if (!n) {
                http_req_respond_text(c->req, 404, "node %s not found%s", c->param[0], hint);
                return NULL;
        }
        return secret_ok(c, n, *ret_body) ? n : NULL;
}

void h_node_heartbeat(struct route_ctx *c) {
        const char *id = c->param[0];
        _cleanup_json_ json_t *body = NULL;
        const struct node *n = agent_call(c, &body, "; register first");
        if (!n)
                return;
        int64_t ttl = heartbeats_reset(c->s->heartbeats, id, clock_monotonic_ns());
        if (n->status == NODE_READY) {
                http_req_respond_json(c->req, 200, json_pack("{s:I}", "HeartbeatTTL", (json_int_t)ttl),
                                      state_latest_index(ctx_state(c)));
                return;
        }
        /* Down (or initializing) and back: mark ready through Raft. */
        json_t *cmd =
            json_pack("{s:s,s:s,s:s,s:I,s:o}", "Type", "NodeStatusUpdate", "NodeID", id, "Status", "ready", "UpdatedAt",
                      (json_int_t)(clock_now_ns() / NS_PER_SEC), "Evals", node_evals_json(c, id));
        propose(c, cmd, json_pack("{s:I}", "HeartbeatTTL", (json_int_t)ttl), false);
}

/* ---- failed allocations: their reschedule evaluations (Nomad's Node.UpdateAlloc) ---------- */

struct failed_jobs {
        struct route_ctx *c;
        int64_t now;
        json_t *evals; /* the evaluations to commit with the update */
        /* "ns\x1fjob" (owned keys) -> the job's groups by name (a hashmap, built at its first
         * failed alloc), or &job_evaluated once its eval is in evals */
        struct hashmap *jobs;
};

static char job_evaluated;

static void failed_jobs_done(struct failed_jobs *fj) {
        size_t it = 0;
        void *v;
        while (fj->jobs && hashmap_next(fj->jobs, &it, NULL, &v))
                if (v != &job_evaluated)
                        hashmap_destroy(v);
        hashmap_destroy(fj->jobs);
        json_decref(fj->evals);
}

/* The groups of j by name (names borrowed from j, which the state keeps for the request). */
static struct hashmap *group_index(const struct job *j) {
        struct hashmap *m = hashmap_create(0);
        if (!m || hashmap_reserve(m, j->n_groups) < 0)
                return hashmap_destroy(m);
        for (size_t g = 0; g < j->n_groups; g++)
                if (hashmap_put(m, j->groups[g].name, (void *)&j->groups[g], NULL) < 0)
                        return hashmap_destroy(m);
        return m;
}

/* An update that fails alloc a (the state's version, before the update): one evaluation
 * (TriggeredBy alloc-failure, the job's priority and type) for a's job, at most one per job
 * and request, when a was not terminal already, its job exists, is not stopped and is a
 * service or batch job (system and sysbatch jobs reschedule nothing), and its group's
 * reschedule policy leaves it an attempt (Nomad's RescheduleEligible; the scheduler applies
 * the delay). 0, or -ENOMEM. Linear in the failed allocs and their jobs' groups. */
static int failed_alloc_eval(struct failed_jobs *fj, const struct alloc *a) {
        if (alloc_terminal(a) || !a->job_id || !a->task_group)
                return 0;
        const char *ns = a->namespace ? a->namespace : "default";
        const struct job *j = state_job_get(ctx_state(fj->c), ns, a->job_id);
        if (!j || j->stop || (j->type != JOB_SERVICE && j->type != JOB_BATCH))
                return 0; /* system and sysbatch jobs have no reschedule policy (Nomad's) */
        if (!fj->jobs && !(fj->jobs = hashmap_create(HASHMAP_OWN_KEYS)))
                return -ENOMEM;
        _cleanup_free_ char *key = NULL;
        if (asprintf(&key, "%s\x1f%s", ns, a->job_id) < 0)
                return -ENOMEM;
        struct hashmap *groups = hashmap_get(fj->jobs, key);
        if ((void *)groups == &job_evaluated)
                return 0;
        if (!groups) {
                if (!(groups = group_index(j)))
                        return -ENOMEM;
                if (hashmap_put(fj->jobs, key, groups, NULL) < 0) {
                        hashmap_destroy(groups);
                        return -ENOMEM;
                }
        }
        const struct task_group *tg = hashmap_get(groups, a->task_group);
        struct resched_policy pol;
        int64_t when;
        if (!tg)
                return 0; /* a group the job no longer has: the scheduler stops it anyway */
        sched_resched_policy(j, tg, &pol);
        if (!sched_resched_when(&pol, a, fj->now, &when))
                return 0;
        struct eval *e = new_eval(j, "alloc-failure", NULL);
        if (!e || json_array_append_new(fj->evals, eval_to_json(e)) < 0) {
                eval_unref(e);
                return -ENOMEM;
        }
        eval_unref(e);
        hashmap_put(fj->jobs, key, &job_evaluated, NULL); /* the key is there: no allocation */
        hashmap_destroy(groups);
        return 0;
}

void h_node_alloc_update(struct route_ctx *c) {
        const char *id = c->param[0];
        _cleanup_json_ json_t *body = NULL;
        const struct node *n = agent_call(c, &body, "");
        if (!n)
                return;
        json_t *allocs = json_object_get(body, "Allocs");
        if (!json_is_array(allocs)) {
                http_req_respond_text(c->req, 400, "Allocs must be a list of allocation updates");
                return;
        }
        _cleanup_(failed_jobs_done) struct failed_jobs fj = {.c = c, .now = clock_now_ns(), .evals = json_array()};
        json_t *updates = json_array();
        size_t i;
        json_t *u;
        json_array_foreach(allocs, i, u) {
                const char *aid = jx_str(u, "ID", NULL);
                const char *cs = jx_str(u, "ClientStatus", NULL);
                enum alloc_client st;
                if (!aid || !cs || alloc_client_parse(cs, &st) < 0) {
                        http_req_respond_text(
                            c->req, 400, "Allocs[%zu]: need ID and ClientStatus (pending, running, complete, failed)",
                            i);
                        json_decref(updates);
                        return;
                }
                const struct alloc *a = state_alloc_get(ctx_state(c), aid);
                if (!a || !a->node_id || strcmp(a->node_id, id) != 0)
                        continue; /* gone (GC) or not this node's: ignore, like Nomad */
                json_t *ts = json_object_get(u, "TaskStates");
                if (ts && !json_is_object(ts)) {
                        http_req_respond_text(c->req, 400, "Allocs[%zu].TaskStates must be an object", i);
                        json_decref(updates);
                        return;
                }
                struct task_state *states = NULL;
                size_t ns = 0;
                struct error err = {0};
                if (ts && task_states_from_json(ts, &states, &ns, &err) < 0) {
                        http_req_respond_text(c->req, 400, "Allocs[%zu]: %s", i, err.msg);
                        json_decref(updates);
                        return;
                }
                task_states_free(states, ns);
                if (st == ALLOC_CLIENT_FAILED && failed_alloc_eval(&fj, a) < 0) {
                        http_req_respond_text(c->req, 500, "out of memory");
                        json_decref(updates);
                        return;
                }
                json_array_append_new(updates, json_pack("{s:s,s:s,s:s,s:O*}", "ID", aid, "ClientStatus", cs,
                                                         "ClientDescription", jx_str(u, "ClientDescription", ""),
                                                         "TaskStates", ts));
        }
        if (json_array_size(updates) == 0) {
                json_decref(updates);
                http_req_respond_json(c->req, 200,
                                      json_pack("{s:I}", "Index", (json_int_t)state_latest_index(ctx_state(c))),
                                      state_latest_index(ctx_state(c)));
                return;
        }
        json_t *cmd = json_pack("{s:s,s:s,s:o,s:I}", "Type", "AllocClientUpdate", "NodeID", id, "Allocs", updates,
                                "UpdatedAt", (json_int_t)fj.now);
        if (cmd && json_array_size(fj.evals))
                json_object_set(cmd, "Evals", fj.evals);
        propose(c, cmd, NULL, false);
}

static void build_nodes(struct list_ctx *l) {
        state_nodes_foreach(l->st, add_node_stub, l);
}

void h_nodes_list(struct route_ctx *c) {
        if (!block_until_newer(c, STATE_TABLE_NODES))
                list_offload(c, build_nodes, NULL, NULL, query_index(c, STATE_TABLE_NODES));
}

void h_node_read(struct route_ctx *c) {
        if (block_until_newer(c, STATE_TABLE_NODES))
                return;
        const struct node *n = state_node_get(ctx_state(c), c->param[0]);
        if (!n)
                http_req_respond_text(c->req, 404, "node not found");
        else
                http_req_respond_json(c->req, 200, node_public_json(n), n->modify_index);
}

/* The node of the path when the caller may read its allocations, or NULL after a
 * 404 or 403. A node's agent authenticates with its secret (Nomad's node SecretID
 * as the token): another node's secret gets nothing. */
static const struct node *alloc_reader_node(struct route_ctx *c, bool need_secret) {
        const struct node *n = state_node_get(ctx_state(c), c->param[0]);
        if (!n) {
                http_req_respond_text(c->req, 404, "node not found");
                return NULL;
        }
        /* Anyone but the node's agent needs node:read: with ACLs, an ACL token (or the
         * anonymous policy) that grants it. */
        const char *tok = http_req_header(c->req, "X-Nomad-Token");
        if (!(tok && *tok && secret_equal(tok, n->secret_id))) {
                struct error err = {0};
                if (need_secret || (!c->s->acl_enabled && tok && *tok)) {
                        http_req_respond_text(c->req, 403, "token is not the secret of node %s", c->param[0]);
                        return NULL;
                }
                if (api_authorize(c->s->acl_enabled, ctx_state(c), tok, PERM_NODE_READ, NULL, &err) < 0) {
                        http_req_respond_text(c->req, 403, "%s (nor the secret of node %s)", err.msg, c->param[0]);
                        return NULL;
                }
        }
        return n;
}

struct light_ctx {
        json_t *out;
        uint64_t since; /* only allocations with a larger AllocModifyIndex */
        json_int_t count; /* all of the node's */
};

static bool add_alloc_light(void *arg, const struct alloc *a) {
        struct light_ctx *l = arg;
        l->count++;
        if (a->alloc_modify_index > l->since)
                json_object_set_new(l->out, a->id, json_integer((json_int_t)a->alloc_modify_index));
        return true;
}

/* GET /v1/node/:id/allocations: the node's allocations, in full (with their jobs).
 * With ?light=true, the agent's watch (Nomad's Node.GetClientAllocs):
 * {"Allocs": {ID: AllocModifyIndex}}, an index that changes only when the servers
 * change the allocation (not with the agent's own status updates); the agent
 * fetches the changed ones with POST /v1/node/:id/allocations/batch.
 * With &since=S as well (S: the X-Nomad-Index of an earlier answer, at most the
 * allocations table's index): only the allocations whose AllocModifyIndex is above
 * S, every one the servers created or changed after that answer, and "Count", how
 * many the node has in all; a caller that holds the list of that answer sees a
 * removal by the count (its list plus the new IDs is larger). An agent holding
 * thousands of terminal allocations no longer gets them all per answer, and the
 * watch wakes at each status update of a burst. */
void h_node_allocations(struct route_ctx *c) {
        if (!alloc_reader_node(c, false))
                return;
        if (block_until_newer(c, STATE_TABLE_ALLOCS))
                return;
        if (query_flag(c, "light")) {
                const char *since_s = http_req_query(c->req, "since");
                char *end = NULL;
                unsigned long long since = since_s ? strtoull(since_s, &end, 10) : 0;
                bool delta = since_s && *since_s && end && !*end &&
                             since <= state_table_index(ctx_state(c), STATE_TABLE_ALLOCS);
                struct light_ctx l = {.out = json_object(), .since = delta ? since : 0};
                state_allocs_by_node_foreach(ctx_state(c), c->param[0], add_alloc_light, &l);
                json_t *out = delta ? json_pack("{s:o,s:I}", "Allocs", l.out, "Count", l.count)
                                    : json_pack("{s:o}", "Allocs", l.out);
                http_req_respond_json(c->req, 200, out, query_index(c, STATE_TABLE_ALLOCS));
                return;
        }
        struct list_ctx l = {.st = ctx_state(c), .out = json_array()};
        state_allocs_by_node_foreach(ctx_state(c), c->param[0], add_alloc_full, &l);
        http_req_respond_json(c->req, 200, l.out, query_index(c, STATE_TABLE_ALLOCS));
}

/* The agent's name of a job version: "namespace/id@JobModifyIndex@Version". */
static void alloc_job_key(const struct job *j, char *buf, size_t size) {
        snprintf(buf, size, "%s/%s@%lld@%lld", j->namespace ? j->namespace : "", j->id ? j->id : "",
                 (long long)j->job_modify_index, (long long)j->version);
}

/* POST /v1/node/:id/allocations/batch {"AllocIDs": [...], "Jobs": [...]}: those
 * of the node's allocations, in full (Nomad's Alloc.GetAllocs); IDs that are
 * unknown or of another node are left out. With "Jobs" (the keys of the job
 * versions the caller holds, at most ALLOC_BATCH_MAX; an agent that sends it, even
 * empty, reads "JobKey") each job version goes once: an allocation whose job the
 * answer carried already, or the caller holds, comes without "Job" and with
 * "JobKey", that key ("namespace/id@JobModifyIndex@Version"); the first of a
 * version carries it with its "JobKey". Without "Jobs" (an older agent), every
 * allocation has its job. A batch of 512 of one job was 512
 * copies to build, send and parse. Only for the node's agent: X-Nomad-Token must
 * be the node's secret. Answered by the leader, as the light watch is. */
void h_node_allocations_batch(struct route_ctx *c) {
        if (!is_leader_or_fail(c) || !alloc_reader_node(c, true))
                return;
        _cleanup_(json_decrefp) json_t *body = parse_body(c);
        if (!body)
                return;
        json_t *ids = json_object_get(body, "AllocIDs");
        if (!json_is_array(ids) || json_array_size(ids) > ALLOC_BATCH_MAX) {
                http_req_respond_text(c->req, 400, "AllocIDs must be an array of at most %d allocation IDs",
                                      ALLOC_BATCH_MAX);
                return;
        }
        json_t *held = json_object_get(body, "Jobs");
        if (held && (!json_is_array(held) || json_array_size(held) > ALLOC_BATCH_MAX)) {
                http_req_respond_text(c->req, 400, "Jobs must be an array of at most %d job keys", ALLOC_BATCH_MAX);
                return;
        }
        _cleanup_(json_decrefp) json_t *sent = json_object(); /* job keys the caller has or this answer carries */
        size_t i;
        json_t *v;
        json_array_foreach(held, i, v) {
                if (json_is_string(v))
                        json_object_set(sent, json_string_value(v), json_true());
        }
        json_t *out = json_array();
        json_array_foreach(ids, i, v) {
                const char *id = json_string_value(v);
                const struct alloc *a = id ? state_alloc_get(ctx_state(c), id) : NULL;
                if (!a || !a->node_id || strcmp(a->node_id, c->param[0]) != 0)
                        continue;
                if (!a->job || !held) {
                        json_array_append_new(out, alloc_to_json(a));
                        continue;
                }
                char key[600];
                alloc_job_key(a->job, key, sizeof(key));
                bool carried = json_object_get(sent, key) != NULL;
                struct alloc bare = *a; /* a shallow copy without its job, only read */
                if (carried)
                        bare.job = NULL;
                json_t *o = alloc_to_json(&bare);
                if (carried) {
                        json_object_del(o, "Job");
                        json_object_set_new(o, "JobVersion", json_integer((json_int_t)a->job->version));
                } else
                        json_object_set(sent, key, json_true());
                json_object_set_new(o, "JobKey", json_string(key));
                json_array_append_new(out, o);
        }
        http_req_respond_json(c->req, 200, out, state_latest_index(ctx_state(c)));
}

/* ---- operator actions on a node ------------------------------------------------------------ */

/* The node of the path, or NULL after a 404. */
static const struct node *path_node(struct route_ctx *c) {
        const struct node *n = state_node_get(ctx_state(c), c->param[0]);
        if (!n)
                http_req_respond_text(c->req, 404, "node not found");
        return n;
}

struct job_set {
        struct route_ctx *c;
        const char *node_id;
        json_t *evals; /* array of eval JSON */
        json_t *seen;  /* "ns\x1fid" -> true */
};

static void add_job_eval(struct job_set *js, const struct job *j) {
        char key[512];
        snprintf(key, sizeof(key), "%s\x1f%s", j->namespace ? j->namespace : "default", j->id);
        if (json_object_get(js->seen, key))
                return;
        json_object_set_new(js->seen, key, json_true());
        struct eval *e = new_eval(j, "node-update", js->node_id);
        json_array_append_new(js->evals, eval_to_json(e));
        eval_unref(e);
}

/* One eval per job with an allocation on the node, plus one per system job
 * (Nomad's createNodeEvals). A new array. */
json_t *node_job_evals(struct route_ctx *c, const char *node_id) {
        struct job_set js = {.c = c, .node_id = node_id, .evals = json_array(), .seen = json_object()};
        size_t n = 0;
        struct alloc *const *allocs = state_allocs_by_node(ctx_state(c), node_id, &n);
        for (size_t i = 0; i < n; i++) {
                const struct job *j = state_job_get(
                    ctx_state(c), allocs[i]->namespace ? allocs[i]->namespace : "default", allocs[i]->job_id);
                if (j)
                        add_job_eval(&js, j);
        }
        json_t *sys = node_evals_json(c, node_id);
        size_t i;
        json_t *e;
        json_array_foreach(sys, i, e) {
                const struct job *j =
                    state_job_get(ctx_state(c), jx_str(e, "Namespace", "default"), jx_str(e, "JobID", ""));
                if (j)
                        add_job_eval(&js, j);
        }
        json_decref(sys);
        json_decref(js.seen);
        return js.evals;
}

static json_t *eval_ids(const json_t *evals) {
        json_t *ids = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(evals, i, e) json_array_append_new(ids, json_string(jx_str(e, "ID", "")));
        return ids;
}

/* {EvalIDs, EvalCreateIndex, NodeModifyIndex} once applied. */
static json_t *node_update_reply(const json_t *evals) {
        /* the indexes are filled in when the command is applied (on_write_applied) */
        return json_pack("{s:o,s:i,s:i}", "EvalIDs", eval_ids(evals), "EvalCreateIndex", 0, "NodeModifyIndex", 0);
}

void h_node_eligibility(struct route_ctx *c) {
        if (!is_leader_or_fail(c))
                return;
        _cleanup_json_ json_t *body = parse_body(c);
        if (!body)
                return;
        const struct node *n = path_node(c);
        if (!n)
                return;
        const char *want = jx_str(body, "Eligibility", "");
        bool eligible;
        if (strcmp(want, "eligible") == 0)
                eligible = true;
        else if (strcmp(want, "ineligible") == 0)
                eligible = false;
        else {
                http_req_respond_text(c->req, 400, "invalid scheduling eligibility \"%s\" (eligible or ineligible)",
                                      want);
                return;
        }
        if (eligible && n->drain) {
                http_req_respond_text(c->req, 400,
                                      "can not set node's scheduling eligibility to eligible while it is draining");
                return;
        }
        /* Back to eligible: system jobs may place there again. */
        json_t *evals = eligible ? node_evals_json(c, n->id) : json_array();
        json_t *reply = node_update_reply(evals);
        json_t *cmd = json_pack("{s:s,s:s,s:b,s:o}", "Type", "NodeUpdateEligibility", "NodeID", n->id, "Eligible",
                                eligible, "Evals", evals);
        propose(c, cmd, reply, false);
}

#define DRAIN_MAX_DEADLINE_NS (365LL * 24 * 3600 * NS_PER_SEC)

void h_node_drain(struct route_ctx *c) {
        if (!is_leader_or_fail(c))
                return;
        _cleanup_json_ json_t *body = parse_body(c);
        if (!body)
                return;
        const struct node *n = path_node(c);
        if (!n)
                return;
        json_t *spec = json_object_get(body, "DrainSpec");
        int64_t now = clock_now_ns();
        json_t *cmd;
        json_t *evals;
        if (json_is_object(spec)) {
                json_t *dl = json_object_get(spec, "Deadline");
                int64_t deadline = jx_int(spec, "Deadline", 0);
                if ((dl && !json_is_integer(dl)) || deadline > DRAIN_MAX_DEADLINE_NS) {
                        http_req_respond_text(
                            c->req, 400, "DrainSpec.Deadline: nanoseconds, at most a year (-1: force now, 0: none)");
                        return;
                }
                bool ignore_sys = jx_bool(spec, "IgnoreSystemJobs", false);
                /* ForceDeadline: unix ns; 0 = no deadline; a negative Deadline drains at once. */
                int64_t force = deadline > 0 ? now + deadline : deadline < 0 ? now : 0;
                json_t *strategy = json_pack("{s:{s:I,s:b},s:I,s:I}", "DrainSpec", "Deadline", (json_int_t)deadline,
                                             "IgnoreSystemJobs", ignore_sys, "ForceDeadline", (json_int_t)force,
                                             "StartedAt", (json_int_t)now);
                json_t *last =
                    json_pack("{s:s,s:I,s:I,s:O?}", "Status", "draining", "StartedAt", (json_int_t)(now / NS_PER_SEC),
                              "UpdatedAt", (json_int_t)(now / NS_PER_SEC), "Meta", json_object_get(body, "Meta"));
                evals = json_array();
                cmd = json_pack("{s:s,s:s,s:o,s:o,s:b,s:O}", "Type", "NodeUpdateDrain", "NodeID", n->id,
                                "DrainStrategy", strategy, "LastDrain", last, "Eligible", false, "Evals", evals);
        } else {
                bool mark = jx_bool(body, "MarkEligible", false);
                json_t *last = NULL;
                if (n->drain)
                        last =
                            json_pack("{s:s,s:I}", "Status", "canceled", "UpdatedAt", (json_int_t)(now / NS_PER_SEC));
                /* The node stays ineligible unless asked otherwise (Nomad). */
                evals = mark ? node_evals_json(c, n->id) : json_array();
                cmd = json_pack("{s:s,s:s,s:n,s:o?,s:b,s:O}", "Type", "NodeUpdateDrain", "NodeID", n->id,
                                "DrainStrategy", "LastDrain", last, "Eligible", mark || n->eligible, "Evals", evals);
        }
        json_t *reply = node_update_reply(evals);
        json_decref(evals);
        propose(c, cmd, reply, false);
}

void h_node_evaluate(struct route_ctx *c) {
        if (!is_leader_or_fail(c))
                return;
        const struct node *n = path_node(c);
        if (!n)
                return;
        json_t *evals = node_job_evals(c, n->id);
        json_t *reply = node_update_reply(evals);
        json_t *cmd = json_pack("{s:s,s:o}", "Type", "EvalUpdate", "Evals", evals);
        propose(c, cmd, reply, false);
}

void h_node_purge(struct route_ctx *c) {
        if (!is_leader_or_fail(c))
                return;
        const struct node *n = path_node(c);
        if (!n)
                return;
        json_t *evals = node_job_evals(c, n->id);
        /* The system-job evals name the node, which is going: only the jobs it ran matter. */
        json_t *reply = node_update_reply(evals);
        json_t *cmd = json_pack("{s:s,s:s,s:I,s:o}", "Type", "NodeDeregister", "NodeID", n->id, "UpdatedAt",
                                (json_int_t)(clock_now_ns() / NS_PER_SEC), "Evals", evals);
        heartbeats_remove(c->s->heartbeats, n->id);
        propose(c, cmd, reply, false);
}

/* ---- the drainer's clock ------------------------------------------------------------------- */

#define DRAIN_TICK_NS (250 * NS_PER_MS)

static void on_drain_applied(void *arg, int status, uint64_t index, const char *msg) {
        struct api *s = arg;
        if (status < 0)
                log_warn("drainer: command rejected at index %llu: %s", (unsigned long long)index,
                         msg ? msg : "unknown error");
        s->drain_inflight--;
}

void api_drain_tick(struct api *s) {
        if (s->drain_inflight > 0 || !s->ops->is_leader(s->data))
                return;
        int64_t now = clock_monotonic_ns();
        if (now - s->drain_last_ns < DRAIN_TICK_NS)
                return;
        s->drain_last_ns = now;
        json_t *cmds = NULL;
        if (drainer_step(*s->state, clock_now_ns(), NULL, &cmds) < 0)
                return;
        size_t i;
        json_t *cmd;
        json_array_foreach(cmds, i, cmd) {
                s->drain_inflight++;
                if (s->ops->propose(s->data, json_incref(cmd), on_drain_applied, s) < 0)
                        s->drain_inflight--;
        }
        json_decref(cmds);
}
