/* place.c - placement of the reconciler's slots. See place.h. */
#include "controlplane/scheduler/place.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macros.h"
#include "controlplane/scheduler/ports.h"
#include "controlplane/scheduler/preempt.h"
#include "controlplane/scheduler/rank.h"
#include "controlplane/scheduler/reschedule.h"
#include "controlplane/scheduler/sched_internal.h"

/* A copy of v in the attempt's arena (NULL v: NULL). false on ENOMEM. */
static bool arena_str(struct sched_attempt *at, const char *v, char **ret) {
        *ret = v ? str_arena_add(at->strings, v, strlen(v)) : NULL;
        return !v || *ret;
}

/* "<job>.<group>[<index>]" without printf (one per placement), in the attempt's arena.
 * NULL on ENOMEM. */
static char *alloc_name(struct sched_attempt *at, const char *job, const char *group, int index) {
        char digits[16];
        size_t nd = 0;
        unsigned v = index < 0 ? 0 : (unsigned)index;
        do
                digits[nd++] = (char)('0' + v % 10);
        while ((v /= 10) && nd < sizeof(digits));
        size_t lj = strlen(job), lg = strlen(group), len = lj + lg + nd + 3;
        char buf[512];
        _cleanup_free_ char *heap = len < sizeof(buf) ? NULL : malloc(len + 1);
        char *s = heap ? heap : buf, *p = s;
        if (len >= sizeof(buf) && !heap)
                return NULL;
        memcpy(p, job, lj);
        p += lj;
        *p++ = '.';
        memcpy(p, group, lg);
        p += lg;
        *p++ = '[';
        while (nd)
                *p++ = digits[--nd];
        *p++ = ']';
        return str_arena_add(at->strings, s, len);
}

/* The arena and the attempt-wide strings, on the attempt's first placement. */
static int attempt_strings(struct sched_attempt *at, struct sched_group *g) {
        if (!at->strings) {
                const struct job *j = at->job;
                char *ns, *ev, *job;
                if (!(at->strings = str_arena_new()) || !arena_str(at, j->namespace ? j->namespace : "default", &ns) ||
                    !arena_str(at, at->c->eval->id, &ev) || !arena_str(at, j->id, &job))
                        return -ENOMEM;
                at->s_ns = ns;
                at->s_eval = ev;
                at->s_job = job;
        }
        if (!g->s_group) {
                char *name;
                if (!arena_str(at, g->tg->name, &name))
                        return -ENOMEM;
                g->s_group = name;
        }
        return 0;
}

/* The node's ID and name in the attempt's arena, copied on its first placement. */
static bool cand_strings(struct sched_attempt *at, struct sched_cand *cd) {
        char *id, *name;
        if (cd->s_id)
                return true;
        if (!arena_str(at, cd->n->id, &id) || !arena_str(at, cd->n->name, &name))
                return false;
        cd->s_id = id;
        cd->s_name = name;
        return true;
}

static struct alloc *new_alloc(struct sched_attempt *at, struct sched_group *g, int index, struct sched_cand *cd,
                               const struct alloc *prev, json_t *metrics, int64_t now) {
        struct alloc *a = attempt_strings(at, g) == 0 ? alloc_new_in(at->strings) : NULL;
        if (!a) {
                json_decref(metrics);
                return NULL;
        }
        char id[ID_BUF];
        if (at->preempt_id)
                snprintf(id, sizeof(id), "%s", at->preempt_id);
        else
                at->c->gen_id(at->c->id_data, id);
        const struct job *j = at->job;
        /* the arena's strings are never changed in place (alloc_set_str replaces them) */
        a->namespace = (char *)at->s_ns;
        a->eval_id = (char *)at->s_eval;
        a->job_id = (char *)at->s_job;
        a->task_group = (char *)g->s_group;
        bool ok = cand_strings(at, cd) && arena_str(at, id, &a->id) &&
                  arena_str(at, prev ? prev->id : NULL, &a->previous_allocation) &&
                  (a->name = alloc_name(at, j->id, g->tg->name, index));
        a->node_id = (char *)cd->s_id; /* one copy per node and attempt */
        a->node_name = (char *)cd->s_name;
        alloc_arena_sealed(a); /* every string above is in the arena */
        a->job = job_ref((struct job *)j);
        a->resources = g->ask;
        a->resources.cpu += g->cores * sched_core_mhz(cd->n); /* reserved cores, as sched_rank */
        a->desired_status = ALLOC_DESIRED_RUN;
        a->client_status = ALLOC_CLIENT_PENDING;
        a->metrics = metrics;
        if (!ok)
                return alloc_unref(a);
        if (prev && prev->client_status == ALLOC_CLIENT_FAILED) { /* a reschedule: its tracker */
                struct resched_policy pol;
                sched_resched_policy(j, g->tg, &pol);
                if (!(a->extra = sched_resched_tracker(&pol, prev, now)))
                        return alloc_unref(a);
        }
        a->create_time = now;
        a->modify_time = now;
        return a;
}

int sched_place_on(struct sched_attempt *at, struct sched_group *g, struct sched_cand *cd, int index,
                   const struct alloc *prev, struct sched_metric *m, int64_t now) {
        return sched_place_on_id(at, g, cd, index, prev, m, now, NULL);
}

int sched_place_on_id(struct sched_attempt *at, struct sched_group *g, struct sched_cand *cd, int index,
                      const struct alloc *prev, struct sched_metric *m, int64_t now, char ret_id[ID_BUF]) {
        return sched_place_on_json(at, g, cd, index, prev, sched_metric_json(&at->pool, m, sched_now(at->c), 0), now,
                                   ret_id);
}

static void held_ports(const struct alloc *a, void *arg) {
        sched_ports_held(a, arg);
}

/* Tasks' memory_max under memory oversubscription (Nomad's AllocatedMemoryResources
 * .MemoryMaxMB): {"Memory":{"MemoryMaxMB"}} of each task that has one, in tasks.
 * Without oversubscription nothing is recorded: AllocatedResources shows 0
 * (alloc_to_json). 0 or -ENOMEM. */
static int memory_max(const struct task_group *tg, json_t *tasks) {
        for (size_t i = 0; i < tg->n_tasks; i++) {
                const struct task *t = &tg->tasks[i];
                if (t->resources.memory_max_mb <= 0)
                        continue;
                json_t *o = json_object_get(tasks, t->name);
                if (!o && json_object_set_new(tasks, t->name, o = json_object()) < 0)
                        return -ENOMEM;
                if (json_object_set_new(o, "Memory", json_pack("{s:i}", "MemoryMaxMB", t->resources.memory_max_mb)) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static bool has_memory_max(const struct task_group *tg) {
        for (size_t i = 0; i < tg->n_tasks; i++)
                if (tg->tasks[i].resources.memory_max_mb > 0)
                        return true;
        return false;
}

/* The alloc's AllocatedResources beyond cpu/memory/disk: ports, then devices, then
 * memory_max under oversubscription. 0 (and *ret, NULL when the group has none of
 * them), -ENOSPC (no port or device left), -ENOMEM. */
static int allocated_resources(struct sched_attempt *at, struct sched_group *g, struct sched_cand *cd, json_t **ret) {
        *ret = NULL;
        bool mem_max = at->c->memory_oversubscription && has_memory_max(g->tg);
        if (!g->networks && !g->devices && !mem_max)
                return 0;
        json_t *out = NULL;
        int r = 0;
        if (g->networks) {
                struct sched_portset *used = calloc(1, sizeof(*used));
                if (!used)
                        return -ENOMEM;
                sched_proposed_foreach(at, cd, held_ports, used);
                r = sched_ports_assign(g->tg, cd->n, used, &at->rng, &out);
                free(used);
        } else if (!(out = json_pack("{s:{},s:{}}", "Shared", "Tasks"))) {
                r = -ENOMEM;
        }
        if (r == 0 && g->devices) {
                json_t *devs = NULL;
                double score;
                const char *why;
                r = sched_cand_devices(at, g, cd, &score, &devs, &why);
                json_t *tasks = json_object_get(out, "Tasks");
                const char *task;
                json_t *list;
                json_object_foreach(devs, task, list) {
                        json_t *t = json_object_get(tasks, task);
                        if (!t && json_object_set_new(tasks, task, t = json_object()) < 0) {
                                r = -ENOMEM;
                                break;
                        }
                        json_object_set(t, "Devices", list);
                }
                json_decref(devs);
        }
        if (r == 0 && mem_max)
                r = memory_max(g->tg, json_object_get(out, "Tasks"));
        if (r < 0) {
                json_decref(out);
                return r;
        }
        if (g->dyn_ports && cd->ports_ready)
                cd->ports_free -= g->dyn_ports;
        *ret = out;
        return 0;
}

int sched_place_on_json(struct sched_attempt *at, struct sched_group *g, struct sched_cand *cd, int index,
                        const struct alloc *prev, json_t *mj, int64_t now, char ret_id[ID_BUF]) {
        struct alloc *a = new_alloc(at, g, index, cd, prev, mj, now);
        if (!a)
                return -ENOMEM;
        int rr = allocated_resources(at, g, cd, &a->allocated);
        if (rr < 0) {
                alloc_unref(a);
                return rr == -ENOSPC ? 1 : rr; /* ranked as fitting: only a preemption gets here */
        }
        if (ret_id)
                snprintf(ret_id, ID_BUF, "%s", a->id);
        int r = plan_add_place_at(at->plan, a, sched_cand_hash(cd), &cd->plan_ix);
        if (r == 0)
                r = sched_group_placed(g, cd->n);
        if (r == 0)
                r = sched_coll_add(at, cd, g->tg->name);
        if (r == 0) {
                cd->u.cpu += a->resources.cpu;
                cd->u.mem += a->resources.memory_mb;
                cd->u.disk += a->resources.disk_mb;
        }
        alloc_unref(a);
        return r;
}

/* The slots reqs[0..n) all belong to one group. */
static int place_group(struct sched_attempt *at, size_t group, const struct place_req *reqs, size_t n) {
        struct sched_ctx *c = at->c;
        const struct task_group *tg = &at->job->groups[group];
        struct sched_group g;
        int r = sched_group_init(at, &g, group);
        if (r < 0) {
                sched_group_free(&g);
                return r;
        }
        int queued = 0, coalesced = 0;
        bool failed = false;
        struct sched_metric fail_metric = {0};
        struct sched_metric m = {0}; /* restarted per placement, its buffers kept */
        /* The AllocationMetric of the group's first placement in this attempt, shared by
         * the group's other new allocs (one JSON object, not one of about 10 KB each). */
        json_t *shared = NULL;
        for (size_t i = 0; i < n && r == 0; i++) {
                if (failed) { /* Nomad coalesces the failures of a group */
                        queued++;
                        coalesced++;
                        continue;
                }
                int64_t now = sched_now(c);
                sched_metric_restart(&m, now, shared != NULL);
                const struct alloc *prev = reqs[i].prev;
                g.penalty_node = prev && prev->client_status == ALLOC_CLIENT_FAILED ? prev->node_id : NULL;
                struct sched_cand *cd = at->n_cands ? sched_select(at, &g, &m) : NULL;
                if (!cd && sched_preempt_enabled(c)) {
                        r = sched_preempt_select(at, &g, reqs[i].index, reqs[i].prev, &m, now);
                        if (r != 0) {
                                r = r > 0 ? 0 : r;
                                continue;
                        }
                }
                if (!cd) {
                        failed = true;
                        queued++;
                        fail_metric = m; /* moved */
                        m = (struct sched_metric){0};
                        continue;
                }
                if (!shared && !(shared = sched_metric_json(&at->pool, &m, sched_now(c), 0)))
                        r = -ENOMEM;
                if (r == 0)
                        r = sched_place_on_json(at, &g, cd, reqs[i].index, reqs[i].prev, json_incref(shared), now,
                                                NULL);
                if (r > 0) { /* no port or device after all */
                        r = 0;
                        failed = true;
                        queued++;
                        sched_metric_exhaust(&m, cd->n, "devices or ports");
                        fail_metric = m; /* moved */
                        m = (struct sched_metric){0};
                        continue;
                }
                if (r == 0 && reqs[i].canary) { /* the alloc just added: the plan's only holder */
                        const struct plan_node *pn = sched_cand_plan_node(at, cd);
                        if (pn && pn->n_place)
                                pn->place[pn->n_place - 1]->deploy_canary = true;
                }
        }
        sched_metric_free(&m);
        json_decref(shared);
        if (failed && r == 0)
                json_object_set_new(c->failed_tg, tg->name,
                                    sched_metric_json(&at->pool, &fail_metric, sched_now(c), coalesced));
        sched_metric_free(&fail_metric);
        if (queued)
                json_object_set_new(c->queued, tg->name, json_integer(queued));
        if (g.escaped)
                c->escaped = true;
        sched_group_free(&g);
        return r;
}

int sched_place(struct sched_attempt *at, const struct place_req *reqs, size_t n_reqs) {
        const struct job *j = at->job;
        for (size_t gi = 0; gi < j->n_groups; gi++)
                json_object_set_new(at->c->queued, j->groups[gi].name, json_integer(0));
        for (size_t i = 0; i < n_reqs;) {
                size_t k = i;
                while (k < n_reqs && reqs[k].group == reqs[i].group)
                        k++;
                int r = place_group(at, reqs[i].group, reqs + i, k - i);
                if (r < 0)
                        return r;
                i = k;
        }
        return 0;
}
