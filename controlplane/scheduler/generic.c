/* generic.c - the generic (service and batch) scheduler: reconcile a job's groups
 * against its allocations, place what is missing through a feasibility / bin-pack
 * ranking over a deterministic shuffle of the nodes, submit, retry on partial commit.
 * Follows Nomad's scheduler/generic_sched.go, reconciler and feasible/stack.go.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/hashmap.h"
#include "common/macros.h"
#include "controlplane/scheduler/feasible.h"
#include "controlplane/scheduler/sched_internal.h"
#include "controlplane/state/state.h"

#define MAX_SKIP 3           /* LimitIterator: options scoring <= 0 set aside */
#define AFFINITY_LIMIT 100   /* NodeLimitForFeasibilityChecks */
#define SCORE_META_TOP 5

static const char alloc_not_needed[] = "alloc not needed due to job update";
static const char alloc_lost[] = "alloc is lost since its node is down";

struct usage {
        int64_t cpu, mem, disk;
};

struct cand {
        const struct node *n;
        struct usage u;
        bool usage_ready;
};

struct memo {
        int state; /* 1 feasible, -1 filtered */
        char reason[160];
};

struct req {
        int index;
        const struct alloc *prev; /* the alloc it replaces, if any */
};

struct metric {
        int evaluated, filtered, exhausted;
        json_t *class_filtered, *constraint_filtered, *class_exhausted, *dimension_exhausted;
        json_t *score_meta; /* [{NodeID, Scores, NormScore}] best first */
        int64_t start_ns;
};

struct attempt {
        struct sched_ctx *c;
        const struct job *job;
        struct plan *plan;
        struct cand *cands;
        size_t n_cands, cursor;
        int nodes_in_pool;
        /* per datacenter seen (a few): does the job take it, how many of its nodes
         * are ready; matched once per datacenter, counted while walking, JSON once */
        struct dc_count {
                const char *dc;
                bool match;
                json_int_t n;
        } *dcs;
        size_t n_dcs;
        json_t *nodes_available;
        uint64_t rng;
};

int64_t sched_now(const struct sched_ctx *c) {
        return c->clock->now_ns(c->clock->data);
}

void sched_ctx_release(struct sched_ctx *c) {
        json_decref(c->failed_tg);
        json_decref(c->queued);
        json_decref(c->class_elig);
        c->failed_tg = c->queued = c->class_elig = NULL;
        c->owned_snap = state_destroy(c->owned_snap);
}

/* ---- deterministic shuffle (Nomad: seed = last 8 bytes of the eval ID ^ index) ------- */

static uint64_t splitmix(uint64_t *s) {
        uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

static uint64_t shuffle_seed(const char *eval_id, uint64_t index) {
        uint64_t seed = 0;
        size_t len = eval_id ? strlen(eval_id) : 0;
        const char *p = len >= 8 ? eval_id + len - 8 : eval_id;
        for (size_t i = 0; p && i < 8 && p[i]; i++)
                seed = (seed << 8) | (unsigned char)p[i];
        return (seed ^ index) >> 2;
}

static void shuffle(struct attempt *at) {
        for (size_t i = at->n_cands; i > 1; i--) {
                size_t j = (size_t)(splitmix(&at->rng) % i);
                struct cand t = at->cands[i - 1];
                at->cands[i - 1] = at->cands[j];
                at->cands[j] = t;
        }
}

/* ---- candidate nodes --------------------------------------------------------------- */

static bool pool_match(const struct job *j, const struct node *n) {
        const char *want = j->node_pool ? j->node_pool : "default";
        const char *have = n->node_pool ? n->node_pool : "default";
        return strcmp(want, "all") == 0 || strcmp(want, have) == 0;
}

static bool dc_match(const struct job *j, const struct node *n) {
        if (j->n_datacenters == 0)
                return true;
        for (size_t i = 0; i < j->n_datacenters; i++)
                if (sched_dc_match(j->datacenters[i], n->datacenter))
                        return true;
        return false;
}

static bool add_cand(void *arg, const struct node *n) {
        struct attempt *at = arg;
        if (!pool_match(at->job, n))
                return true;
        at->nodes_in_pool++;
        const char *dc = n->datacenter ? n->datacenter : "";
        size_t k = 0;
        while (k < at->n_dcs && at->dcs[k].dc != dc && strcmp(at->dcs[k].dc, dc) != 0)
                k++;
        if (k == at->n_dcs) /* room for one per node was reserved */
                at->dcs[at->n_dcs++] = (struct dc_count){.dc = dc, .match = dc_match(at->job, n)};
        if (!at->dcs[k].match || n->status != NODE_READY || !n->eligible || n->drain)
                return true;
        at->dcs[k].n++;
        at->cands[at->n_cands++] = (struct cand){.n = n};
        return true;
}

static int build_cands(struct attempt *at) {
        size_t n = state_count(at->c->snap, STATE_TABLE_NODES);
        at->cands = calloc(n ? n : 1, sizeof(*at->cands));
        at->dcs = malloc((n ? n : 1) * sizeof(*at->dcs));
        at->nodes_available = json_object();
        if (!at->cands || !at->dcs || !at->nodes_available)
                return -ENOMEM;
        state_nodes_foreach(at->c->snap, add_cand, at); /* ID order, then shuffled */
        for (size_t k = 0; k < at->n_dcs; k++)
                if (at->dcs[k].n &&
                    json_object_set_new(at->nodes_available, at->dcs[k].dc, json_integer(at->dcs[k].n)) < 0)
                        return -ENOMEM;
        at->rng = shuffle_seed(at->c->eval->id, state_latest_index(at->c->snap));
        shuffle(at);
        return 0;
}

/* ---- proposed allocations on a node (existing - plan stops + plan placements) ------ */

static bool stopped_in_plan(const struct plan_node *pn, const char *alloc_id) {
        for (size_t i = 0; pn && i < pn->n_stop; i++)
                if (strcmp(pn->stop[i].alloc->id, alloc_id) == 0)
                        return true;
        return false;
}

static void cand_usage(struct attempt *at, struct cand *cd) {
        if (cd->usage_ready)
                return;
        const struct plan_node *pn = plan_node_find(at->plan, cd->n->id);
        size_t n;
        struct alloc *const *list = state_allocs_by_node(at->c->snap, cd->n->id, &n);
        struct usage u = {0};
        for (size_t i = 0; i < n; i++) {
                if (alloc_terminal(list[i]) || stopped_in_plan(pn, list[i]->id))
                        continue;
                u.cpu += list[i]->resources.cpu;
                u.mem += list[i]->resources.memory_mb;
                u.disk += list[i]->resources.disk_mb;
        }
        for (size_t i = 0; pn && i < pn->n_place; i++) {
                u.cpu += pn->place[i]->resources.cpu;
                u.mem += pn->place[i]->resources.memory_mb;
                u.disk += pn->place[i]->resources.disk_mb;
        }
        cd->u = u;
        cd->usage_ready = true;
}

/* Allocs of this job (and of group when not NULL) proposed on the node. */
static int collisions(struct attempt *at, const struct cand *cd, const char *group) {
        const struct plan_node *pn = plan_node_find(at->plan, cd->n->id);
        size_t n;
        struct alloc *const *list = state_allocs_by_node(at->c->snap, cd->n->id, &n);
        int k = 0;
        for (size_t i = 0; i < n; i++) {
                const struct alloc *a = list[i];
                if (alloc_terminal(a) || stopped_in_plan(pn, a->id) || !a->job_id ||
                    strcmp(a->job_id, at->job->id) != 0 ||
                    strcmp(a->namespace ? a->namespace : "default", at->job->namespace ? at->job->namespace : "default"))
                        continue;
                if (group && (!a->task_group || strcmp(a->task_group, group) != 0))
                        continue;
                k++;
        }
        for (size_t i = 0; pn && i < pn->n_place; i++)
                if (!group || strcmp(pn->place[i]->task_group, group) == 0)
                        k++;
        return k;
}

/* ---- metrics --------------------------------------------------------------------------- */

static void bump_key(json_t **obj, const char *key) {
        if (!*obj)
                *obj = json_object();
        if (!*obj || !key)
                return;
        json_t *cur = json_object_get(*obj, key);
        json_object_set_new(*obj, key, json_integer(json_integer_value(cur) + 1));
}

static void metric_free(struct metric *m) {
        json_decref(m->class_filtered);
        json_decref(m->constraint_filtered);
        json_decref(m->class_exhausted);
        json_decref(m->dimension_exhausted);
        json_decref(m->score_meta);
        memset(m, 0, sizeof(*m));
}

static void metric_filter(struct metric *m, const struct node *n, const char *reason) {
        m->filtered++;
        if (n->node_class && *n->node_class)
                bump_key(&m->class_filtered, n->node_class);
        bump_key(&m->constraint_filtered, reason);
}

static void metric_exhaust(struct metric *m, const struct node *n, const char *dim) {
        m->exhausted++;
        if (n->node_class && *n->node_class)
                bump_key(&m->class_exhausted, n->node_class);
        bump_key(&m->dimension_exhausted, dim);
}

static json_t *or_empty(json_t *o) {
        return o ? json_incref(o) : json_object();
}

static json_t *metric_json(const struct attempt *at, const struct metric *m, int64_t now, int coalesced) {
        json_t *scores = json_object();
        size_t i;
        json_t *v;
        json_array_foreach(m->score_meta, i, v) {
                const char *nid = json_string_value(json_object_get(v, "NodeID"));
                const char *k;
                json_t *s;
                json_object_foreach(json_object_get(v, "Scores"), k, s) {
                        char key[160];
                        snprintf(key, sizeof(key), "%s.%s", nid, k);
                        json_object_set(scores, key, s);
                }
        }
        json_t *o = json_object();
        json_object_set_new(o, "NodesEvaluated", json_integer(m->evaluated));
        json_object_set_new(o, "NodesFiltered", json_integer(m->filtered));
        json_object_set_new(o, "NodesInPool", json_integer(at->nodes_in_pool));
        json_object_set_new(o, "NodePool", json_string(at->job->node_pool ? at->job->node_pool : "default"));
        json_object_set_new(o, "NodesAvailable", json_incref(at->nodes_available)); /* fixed once built */
        json_object_set_new(o, "ClassFiltered", or_empty(m->class_filtered));
        json_object_set_new(o, "ConstraintFiltered", or_empty(m->constraint_filtered));
        json_object_set_new(o, "NodesExhausted", json_integer(m->exhausted));
        json_object_set_new(o, "ClassExhausted", or_empty(m->class_exhausted));
        json_object_set_new(o, "DimensionExhausted", or_empty(m->dimension_exhausted));
        json_object_set_new(o, "QuotaExhausted", json_null());
        json_object_set_new(o, "ResourcesExhausted", json_null());
        json_object_set_new(o, "Scores", scores);
        json_object_set_new(o, "ScoreMetaData", m->score_meta ? json_incref(m->score_meta) : json_array());
        json_object_set_new(o, "AllocationTime", json_integer(now - m->start_ns));
        json_object_set_new(o, "CoalescedFailures", json_integer(coalesced));
        return o;
}

/* ---- feasibility ------------------------------------------------------------------------ */

struct group_ctx {
        const struct task_group *tg;
        int gi;
        struct res_ask ask;
        struct hashmap *memo;   /* computed class -> struct memo * */
        bool escaped;           /* some constraint refers to unique.* */
        bool distinct_job, distinct_group;
        bool has_affinity;
        int limit;
};

static bool distinct_hosts(const struct constraint *c) {
        return c->operand && strcmp(c->operand, "distinct_hosts") == 0 &&
               (!c->rtarget || !*c->rtarget || strcmp(c->rtarget, "true") == 0);
}

/* Visit job, group and task constraints. Returns false as soon as fn does. */
static bool each_constraint(const struct job *j, const struct task_group *tg,
                            bool (*fn)(void *arg, const struct constraint *c), void *arg) {
        for (size_t i = 0; i < j->n_constraints; i++)
                if (!fn(arg, &j->constraints[i]))
                        return false;
        for (size_t i = 0; i < tg->n_constraints; i++)
                if (!fn(arg, &tg->constraints[i]))
                        return false;
        for (size_t t = 0; t < tg->n_tasks; t++)
                for (size_t i = 0; i < tg->tasks[t].n_constraints; i++)
                        if (!fn(arg, &tg->tasks[t].constraints[i]))
                                return false;
        return true;
}

struct check_arg {
        const struct node *n;
        bool want_escaped; /* check only escaped (true) or only memoisable (false) constraints */
        char *reason;
        size_t reason_size;
};

static bool check_one(void *arg, const struct constraint *c) {
        struct check_arg *a = arg;
        if (sched_constraint_escapes(c) != a->want_escaped || distinct_hosts(c))
                return true;
        if (sched_node_meets(a->n, c))
                return true;
        sched_constraint_string(c, a->reason, a->reason_size);
        return false;
}

static bool mark_escaped(void *arg, const struct constraint *c) {
        if (sched_constraint_escapes(c))
                *(bool *)arg = true;
        return true;
}

/* NULL when the node is feasible for the group, else the reason. */
static const char *feasible(struct attempt *at, struct group_ctx *g, const struct cand *cd, char *buf, size_t size) {
        const struct node *n = cd->n;
        for (size_t t = 0; t < g->tg->n_tasks; t++)
                if (g->tg->tasks[t].driver && !node_has_driver(n, g->tg->tasks[t].driver))
                        return "missing drivers";
        const char *cls = n->computed_class ? n->computed_class : "";
        struct memo *m = hashmap_get(g->memo, cls);
        if (!m) {
                m = calloc(1, sizeof(*m));
                if (!m)
                        return "out of memory";
                struct check_arg a = {n, false, m->reason, sizeof(m->reason)};
                m->state = each_constraint(at->job, g->tg, check_one, &a) ? 1 : -1;
                if (hashmap_put(g->memo, cls, m, NULL) < 0) {
                        free(m);
                        return "out of memory";
                }
                json_t *ce = at->c->class_elig;
                if (ce && *cls) {
                        json_t *prev = json_object_get(ce, cls);
                        json_object_set_new(ce, cls, json_boolean(m->state > 0 || json_is_true(prev)));
                }
        }
        if (m->state < 0)
                return m->reason;
        if (g->escaped) {
                struct check_arg a = {n, true, buf, size};
                if (!each_constraint(at->job, g->tg, check_one, &a))
                        return buf;
        }
        if (g->distinct_job && collisions(at, cd, NULL) > 0)
                return "distinct_hosts";
        if (g->distinct_group && collisions(at, cd, g->tg->name) > 0)
                return "distinct_hosts";
        return NULL;
}

/* ---- ranking ------------------------------------------------------------------------------ */

struct option {
        struct cand *cd;
        double final;
        double binpack, anti, affinity;
        bool has_anti, has_affinity;
};

static double affinity_score(const struct job *j, const struct task_group *tg, const struct node *n) {
        double sum = 0, total = 0;
        const struct affinity *lists[3] = {j->affinities, tg->affinities, NULL};
        size_t counts[3] = {j->n_affinities, tg->n_affinities, 0};
        for (int l = 0; l < 2; l++)
                for (size_t i = 0; i < counts[l]; i++) {
                        const struct affinity *a = &lists[l][i];
                        struct constraint c = {a->ltarget, a->rtarget, a->operand};
                        total += fabs((double)a->weight);
                        if (sched_node_meets(n, &c))
                                sum += a->weight;
                }
        for (size_t t = 0; t < tg->n_tasks; t++)
                for (size_t i = 0; i < tg->tasks[t].n_affinities; i++) {
                        const struct affinity *a = &tg->tasks[t].affinities[i];
                        struct constraint c = {a->ltarget, a->rtarget, a->operand};
                        total += fabs((double)a->weight);
                        if (sched_node_meets(n, &c))
                                sum += a->weight;
                }
        return total > 0 ? sum / total : 0;
}

/* Fit and score one node; false (and the exhausted dimension) when it does not fit. */
static bool rank(struct attempt *at, struct group_ctx *g, struct cand *cd, struct option *o, const char **dim) {
        cand_usage(at, cd);
        const struct node *n = cd->n;
        int64_t avail_cpu = n->cpu_shares - n->reserved_cpu;
        int64_t avail_mem = n->memory_mb - n->reserved_memory_mb;
        int64_t avail_disk = n->disk_mb - n->reserved_disk_mb;
        int64_t cpu = cd->u.cpu + g->ask.cpu, mem = cd->u.mem + g->ask.memory_mb, disk = cd->u.disk + g->ask.disk_mb;
        if (cpu > avail_cpu) {
                *dim = "cpu";
                return false;
        }
        if (mem > avail_mem) {
                *dim = "memory";
                return false;
        }
        if (disk > avail_disk) {
                *dim = "disk";
                return false;
        }
        *o = (struct option){.cd = cd};
        o->binpack = sched_binpack_score(avail_cpu, avail_mem, cpu, mem);
        double sum = o->binpack;
        int k = 1;
        int coll = collisions(at, cd, g->tg->name);
        if (coll > 0 && g->tg->count > 0) {
                o->has_anti = true;
                o->anti = -(double)(coll + 1) / (double)g->tg->count;
                sum += o->anti;
                k++;
        }
        if (g->has_affinity) {
                o->has_affinity = true;
                o->affinity = affinity_score(at->job, g->tg, n);
                sum += o->affinity;
                k++;
        }
        o->final = sum / k;
        return true;
}

static json_t *option_meta(const struct option *o) {
        json_t *s = json_pack("{s:f}", "binpack", o->binpack);
        if (o->has_anti)
                json_object_set_new(s, "job-anti-affinity", json_real(o->anti));
        if (o->has_affinity)
                json_object_set_new(s, "node-affinity", json_real(o->affinity));
        return json_pack("{s:s,s:o,s:f}", "NodeID", o->cd->n->id, "Scores", s, "NormScore", o->final);
}

static int cmp_option_desc(const void *a, const void *b) {
        const struct option *x = a, *y = b;
        return x->final < y->final ? 1 : x->final > y->final ? -1 : 0;
}

/* Nomad's Select: walk the shuffled nodes from where the last placement stopped,
 * keep the first `limit` feasible fitting options (setting aside up to 3 that score
 * <= 0), take the first with the strictly highest score. */
static struct cand *select_node(struct attempt *at, struct group_ctx *g, struct metric *m) {
        size_t cap = (size_t)g->limit + MAX_SKIP;
        _cleanup_free_ struct option *opts = malloc(cap * sizeof(*opts));
        struct option skipped[MAX_SKIP];
        if (!opts)
                return NULL;
        size_t n_opts = 0, n_skip = 0;
        char buf[160];
        for (size_t seen = 0; seen < at->n_cands && n_opts < (size_t)g->limit; seen++) {
                struct cand *cd = &at->cands[at->cursor];
                at->cursor = (at->cursor + 1) % at->n_cands;
                m->evaluated++;
                const char *why = feasible(at, g, cd, buf, sizeof(buf));
                if (why) {
                        metric_filter(m, cd->n, why);
                        continue;
                }
                struct option o;
                const char *dim = NULL;
                if (!rank(at, g, cd, &o, &dim)) {
                        metric_exhaust(m, cd->n, dim);
                        continue;
                }
                if (o.final <= 0.0 && n_skip < MAX_SKIP) {
                        skipped[n_skip++] = o;
                        continue;
                }
                opts[n_opts++] = o;
        }
        if (n_opts < (size_t)g->limit)
                for (size_t i = 0; i < n_skip; i++)
                        opts[n_opts++] = skipped[i];
        if (n_opts == 0)
                return NULL;
        size_t best = 0;
        for (size_t i = 1; i < n_opts; i++)
                if (opts[i].final > opts[best].final)
                        best = i;
        struct cand *winner = opts[best].cd;
        qsort(opts, n_opts, sizeof(opts[0]), cmp_option_desc);
        m->score_meta = json_array();
        for (size_t i = 0; i < n_opts && i < SCORE_META_TOP; i++)
                json_array_append_new(m->score_meta, option_meta(&opts[i]));
        return winner;
}

/* ---- reconcile ---------------------------------------------------------------------------- */

struct live {
        struct alloc *a;
        int index;
};

static int cmp_live_desc(const void *a, const void *b) {
        const struct live *x = a, *y = b;
        return y->index - x->index;
}

static bool node_lost(const struct state_store *snap, const char *node_id) {
        const struct node *n = state_node_get(snap, node_id);
        return !n || n->status == NODE_DOWN;
}

static int stop(struct attempt *at, struct alloc *a, const char *desc, int client) {
        return plan_add_stop(at->plan, a, ALLOC_DESIRED_STOP, desc, client);
}

static bool group_exists(const struct job *j, const char *name) {
        return j && name && job_group(j, name) != NULL;
}

/* Stops for everything that must go, and the indexes to place per group. */
static int reconcile(struct attempt *at, struct req **ret_reqs, size_t *ret_n) {
        const struct eval *ev = at->c->eval;
        size_t n;
        struct alloc *const *allocs = state_allocs_by_job(at->c->snap, ev->namespace, ev->job_id, &n);
        const struct job *j = at->job;
        bool stopped = !j || j->stop;
        int r;
        /* Allocs nobody wants any more: job stopped, group removed. */
        for (size_t i = 0; i < n; i++) {
                struct alloc *a = allocs[i];
                if (alloc_terminal(a))
                        continue;
                if (stopped || !group_exists(j, a->task_group))
                        if ((r = stop(at, a, alloc_not_needed, -1)) < 0)
                                return r;
        }
        if (stopped)
                return 0;
        bool batch = at->c->ops->batch;
        for (size_t g = 0; g < j->n_groups; g++) {
                const struct task_group *tg = &j->groups[g];
                _cleanup_free_ struct live *live = calloc(n + 1, sizeof(*live));
                _cleanup_free_ struct live *lost = calloc(n + 1, sizeof(*lost));
                _cleanup_free_ bool *taken = calloc((size_t)tg->count + 1, sizeof(*taken));
                if (!live || !lost || !taken)
                        return -ENOMEM;
                size_t n_live = 0, n_lost = 0, n_done = 0;
                for (size_t i = 0; i < n; i++) {
                        struct alloc *a = allocs[i];
                        if (!a->task_group || strcmp(a->task_group, tg->name) != 0 ||
                            a->desired_status != ALLOC_DESIRED_RUN)
                                continue;
                        int idx = alloc_name_index(a);
                        bool done = batch && (a->client_status == ALLOC_CLIENT_COMPLETE ||
                                              a->client_status == ALLOC_CLIENT_FAILED);
                        if (done) {
                                if (idx >= 0 && idx < tg->count && !taken[idx]) {
                                        taken[idx] = true;
                                        n_done++;
                                }
                                continue;
                        }
                        if (alloc_client_terminal(a->client_status)) { /* lost, failed service, complete service */
                                lost[n_lost++] = (struct live){a, idx};
                                continue;
                        }
                        if (node_lost(at->c->snap, a->node_id)) {
                                if ((r = stop(at, a, alloc_lost, ALLOC_CLIENT_LOST)) < 0)
                                        return r;
                                lost[n_lost++] = (struct live){a, idx};
                                continue;
                        }
                        live[n_live++] = (struct live){a, idx};
                }
                /* Too many: stop the highest indexes first. */
                qsort(live, n_live, sizeof(*live), cmp_live_desc);
                size_t excess = n_live + n_done > (size_t)tg->count ? n_live + n_done - (size_t)tg->count : 0;
                if (excess > n_live)
                        excess = n_live;
                for (size_t i = 0; i < excess; i++)
                        if ((r = stop(at, live[i].a, alloc_not_needed, -1)) < 0)
                                return r;
                for (size_t i = excess; i < n_live; i++)
                        if (live[i].index >= 0 && live[i].index < tg->count)
                                taken[live[i].index] = true;
                size_t have = n_live - excess + n_done;
                size_t need = have < (size_t)tg->count ? (size_t)tg->count - have : 0;
                if (!need)
                        continue;
                struct req *v = realloc(*ret_reqs, (*ret_n + need) * sizeof(*v) + sizeof(*v));
                if (!v)
                        return -ENOMEM;
                *ret_reqs = v;
                /* Indexes whose live alloc sits outside [0,count) or duplicates an index
                 * leave holes: fill replacements of lost allocs first (same name), then
                 * the lowest free indexes. */
                size_t added = 0;
                for (size_t i = 0; i < n_lost && added < need; i++) {
                        int idx = lost[i].index;
                        if (idx < 0 || idx >= tg->count || taken[idx])
                                continue;
                        taken[idx] = true;
                        v[*ret_n + added++] = (struct req){idx, lost[i].a};
                        v[*ret_n + added - 1].index |= (int)g << 20; /* group in the high bits */
                }
                for (int idx = 0; idx < tg->count && added < need; idx++) {
                        if (taken[idx])
                                continue;
                        taken[idx] = true;
                        v[*ret_n + added++] = (struct req){idx | (int)g << 20, NULL};
                }
                *ret_n += added;
        }
        return 0;
}

/* ---- placement ------------------------------------------------------------------------------ */

static void group_ctx_free(struct group_ctx *g) {
        if (!g->memo)
                return;
        size_t it = 0;
        void *v;
        while (hashmap_next(g->memo, &it, NULL, &v))
                free(v);
        hashmap_destroy(g->memo);
        g->memo = NULL;
}

static int group_ctx_init(struct attempt *at, struct group_ctx *g, int gi) {
        const struct job *j = at->job;
        const struct task_group *tg = &j->groups[gi];
        *g = (struct group_ctx){.tg = tg, .gi = gi, .ask = task_group_ask(tg)};
        g->memo = hashmap_create(HASHMAP_OWN_KEYS);
        if (!g->memo)
                return -ENOMEM;
        each_constraint(j, tg, mark_escaped, &g->escaped);
        for (size_t i = 0; i < j->n_constraints; i++)
                g->distinct_job |= distinct_hosts(&j->constraints[i]);
        for (size_t i = 0; i < tg->n_constraints; i++)
                g->distinct_group |= distinct_hosts(&tg->constraints[i]);
        g->has_affinity = j->n_affinities || tg->n_affinities;
        for (size_t t = 0; t < tg->n_tasks; t++)
                g->has_affinity |= tg->tasks[t].n_affinities > 0;
        bool spread = j->n_spreads || tg->n_spreads;
        if (g->has_affinity || spread) {
                g->limit = tg->count > AFFINITY_LIMIT ? tg->count : AFFINITY_LIMIT;
        } else if (at->c->ops->batch) {
                g->limit = 2;
        } else {
                int lg = at->n_cands > 0 ? (int)ceil(log2((double)at->n_cands)) : 0;
                g->limit = lg > 2 ? lg : 2;
        }
        return 0;
}

static struct alloc *new_alloc(struct attempt *at, const struct group_ctx *g, int index, const struct cand *cd,
                               const struct alloc *prev, json_t *metrics, int64_t now) {
        struct alloc *a = alloc_new();
        if (!a)
                return NULL;
        char id[ID_BUF];
        at->c->gen_id(at->c->id_data, id);
        const struct job *j = at->job;
        a->id = strdup(id);
        a->namespace = strdup(j->namespace ? j->namespace : "default");
        a->eval_id = strdup(at->c->eval->id);
        if (asprintf(&a->name, "%s.%s[%d]", j->id, g->tg->name, index) < 0)
                a->name = NULL;
        a->node_id = strdup(cd->n->id);
        a->node_name = cd->n->name ? strdup(cd->n->name) : NULL;
        a->job_id = strdup(j->id);
        a->job = job_ref((struct job *)j);
        a->task_group = strdup(g->tg->name);
        a->resources = g->ask;
        a->desired_status = ALLOC_DESIRED_RUN;
        a->client_status = ALLOC_CLIENT_PENDING;
        a->previous_allocation = prev ? strdup(prev->id) : NULL;
        a->metrics = metrics;
        a->create_time = now;
        a->modify_time = now;
        if (!a->id || !a->namespace || !a->eval_id || !a->name || !a->node_id || !a->job_id || !a->task_group ||
            (prev && !a->previous_allocation))
                return alloc_unref(a);
        return a;
}

static int place(struct attempt *at, const struct req *reqs, size_t n_reqs) {
        const struct job *j = at->job;
        struct sched_ctx *c = at->c;
        int r = 0;
        for (size_t gi = 0; gi < j->n_groups && r == 0; gi++) {
                struct group_ctx g = {0};
                bool failed = false;
                int queued = 0, coalesced = 0;
                struct metric fail_metric = {0};
                for (size_t i = 0; i < n_reqs && r == 0; i++) {
                        if ((size_t)(reqs[i].index >> 20) != gi)
                                continue;
                        if (!g.memo && (r = group_ctx_init(at, &g, (int)gi)) < 0)
                                break;
                        if (failed) { /* Nomad coalesces the failures of a group */
                                queued++;
                                coalesced++;
                                continue;
                        }
                        int64_t now = sched_now(c);
                        struct metric m = {.start_ns = now};
                        struct cand *cd = at->n_cands ? select_node(at, &g, &m) : NULL;
                        if (!cd) {
                                failed = true;
                                queued++;
                                fail_metric = m;
                                continue;
                        }
                        json_t *mj = metric_json(at, &m, sched_now(c), 0);
                        metric_free(&m);
                        struct alloc *a = new_alloc(at, &g, reqs[i].index & 0xfffff, cd, reqs[i].prev, mj, now);
                        if (!a) {
                                r = -ENOMEM;
                                break;
                        }
                        r = plan_add_place(at->plan, a);
                        if (r == 0) {
                                cd->u.cpu += a->resources.cpu;
                                cd->u.mem += a->resources.memory_mb;
                                cd->u.disk += a->resources.disk_mb;
                        }
                        alloc_unref(a);
                }
                if (failed && r == 0)
                        json_object_set_new(c->failed_tg, j->groups[gi].name,
                                            metric_json(at, &fail_metric, sched_now(c), coalesced));
                metric_free(&fail_metric);
                json_object_set_new(c->queued, j->groups[gi].name, json_integer(queued));
                if (g.escaped)
                        c->escaped = true;
                group_ctx_free(&g);
        }
        return r;
}

/* ---- one attempt: reconcile, place, submit ------------------------------------------------------ */

static void attempt_free(struct attempt *at) {
        free(at->cands);
        free(at->dcs);
        json_decref(at->nodes_available);
        plan_free(at->plan);
}

static int run_attempt(struct sched_ctx *c, bool *ret_done, bool *ret_progress) {
        const struct eval *ev = c->eval;
        struct attempt at = {.c = c};
        int r;
        *ret_done = true;
        *ret_progress = false;
        json_decref(c->failed_tg);
        json_decref(c->queued);
        json_decref(c->class_elig);
        c->failed_tg = json_object();
        c->queued = json_object();
        c->class_elig = json_object();
        c->escaped = false;
        if (!c->failed_tg || !c->queued || !c->class_elig)
                return errorf(c->err, -ENOMEM, "scheduler: out of memory");
        at.job = state_job_get(c->snap, ev->namespace, ev->job_id);
        at.plan = plan_new(ev->id, NULL, (struct job *)at.job);
        if (!at.plan)
                return errorf(c->err, -ENOMEM, "scheduler: out of memory");
        at.plan->snapshot_index = state_latest_index(c->snap);
        at.plan->timestamp_ns = sched_now(c);
        _cleanup_free_ struct req *reqs = NULL;
        size_t n_reqs = 0;
        if ((r = reconcile(&at, &reqs, &n_reqs)) < 0)
                goto oom;
        if (n_reqs) {
                if ((r = build_cands(&at)) < 0 || (r = place(&at, reqs, n_reqs)) < 0)
                        goto oom;
        } else if (at.job && !at.job->stop) {
                for (size_t g = 0; g < at.job->n_groups; g++)
                        json_object_set_new(c->queued, at.job->groups[g].name, json_integer(0));
        }
        if (plan_is_noop(at.plan)) {
                attempt_free(&at);
                return 0;
        }
        struct plan_result *res = NULL;
        struct state_store *fresh = NULL;
        r = c->planner->submit_plan(c->planner_data, at.plan, &res, &fresh, c->err);
        attempt_free(&at);
        if (r < 0) {
                state_destroy(fresh);
                return error_prefix(c->err, "scheduler: eval %s", ev->id);
        }
        *ret_progress = !plan_result_is_noop(res);
        if (plan_result_refresh_index(res)) {
                *ret_done = false;
                if (!fresh) {
                        plan_result_free(res);
                        return errorf(c->err, -EAGAIN, "scheduler: eval %s: missing state refresh after partial commit",
                                      ev->id);
                }
        }
        if (fresh) {
                state_destroy(c->owned_snap);
                c->owned_snap = fresh;
                c->snap = fresh;
        }
        plan_result_free(res);
        return 0;
oom:
        attempt_free(&at);
        return errorf(c->err, r, "scheduler: eval %s: %s", ev->id, strerror(-r));
}

/* ---- evals ------------------------------------------------------------------------------------ */

static char *xstrdup(const char *s) {
        return s ? strdup(s) : NULL;
}

static int create_blocked(struct sched_ctx *c, const char *trigger) {
        const struct eval *ev = c->eval;
        struct eval *b = eval_new();
        if (!b)
                return -ENOMEM;
        c->gen_id(c->id_data, c->blocked_id);
        const struct job *j = state_job_get(c->snap, ev->namespace, ev->job_id);
        int64_t now = sched_now(c);
        b->id = strdup(c->blocked_id);
        b->namespace = xstrdup(ev->namespace);
        b->priority = ev->priority;
        b->type = ev->type;
        b->triggered_by = strdup(trigger);
        b->job_id = xstrdup(ev->job_id);
        b->job_modify_index = j ? j->job_modify_index : ev->job_modify_index;
        b->status = EVAL_BLOCKED;
        b->previous_eval = xstrdup(ev->id);
        b->class_eligibility = c->class_elig ? json_deep_copy(c->class_elig) : NULL;
        b->escaped_computed_class = c->escaped;
        b->snapshot_index = state_latest_index(c->snap);
        b->create_time = now;
        b->modify_time = now;
        int r = c->planner->create_eval(c->planner_data, b);
        eval_unref(b);
        if (r < 0)
                c->blocked_id[0] = '\0';
        return r;
}

int sched_finish_eval(struct sched_ctx *c, enum eval_status status, const char *description) {
        struct eval *e = eval_copy(c->eval);
        if (!e)
                return errorf(c->err, -ENOMEM, "scheduler: out of memory");
        e->status = status;
        free(e->status_description);
        e->status_description = xstrdup(description);
        json_decref(e->failed_tg_allocs);
        e->failed_tg_allocs = c->failed_tg && json_object_size(c->failed_tg) ? json_deep_copy(c->failed_tg) : NULL;
        json_decref(e->queued_allocations);
        e->queued_allocations = c->queued ? json_deep_copy(c->queued) : NULL;
        if (status == EVAL_BLOCKED) {
                json_decref(e->class_eligibility);
                e->class_eligibility = c->class_elig ? json_deep_copy(c->class_elig) : NULL;
                e->escaped_computed_class = c->escaped;
        }
        if (c->blocked_id[0]) {
                free(e->blocked_eval);
                e->blocked_eval = strdup(c->blocked_id);
        }
        e->snapshot_index = state_latest_index(c->snap);
        e->modify_time = sched_now(c);
        int r = c->planner->update_eval(c->planner_data, e);
        eval_unref(e);
        if (r < 0)
                return errorf(c->err, r, "scheduler: eval %s: update failed", c->eval->id);
        return 0;
}

int sched_generic_process(struct sched_ctx *c) {
        int attempts = 0;
        for (;;) {
                bool done, progress;
                int r = run_attempt(c, &done, &progress);
                if (r < 0)
                        return r;
                if (done)
                        break;
                attempts = progress ? 0 : attempts + 1;
                if (attempts >= c->ops->attempts) {
                        char msg[96];
                        snprintf(msg, sizeof(msg), "maximum attempts reached (%d)", c->ops->attempts);
                        if ((r = create_blocked(c, "max-plan-attempts")) < 0)
                                return errorf(c->err, r, "scheduler: eval %s: creating blocked eval failed",
                                              c->eval->id);
                        return sched_finish_eval(c, EVAL_FAILED, msg);
                }
        }
        if (c->failed_tg && json_object_size(c->failed_tg)) {
                if (c->eval->status == EVAL_BLOCKED)
                        return sched_finish_eval(c, EVAL_BLOCKED, NULL); /* re-block the same eval */
                int r = create_blocked(c, "queued-allocs");
                if (r < 0)
                        return errorf(c->err, r, "scheduler: eval %s: creating blocked eval failed", c->eval->id);
        }
        return sched_finish_eval(c, EVAL_COMPLETE, NULL);
}
