/* gc.c - see gc.h. */
#include "controlplane/leader/gc.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "common/jsonx.h"
#include "common/model.h"
#include "controlplane/state/state.h"

struct gc_ctx {
        const struct state_store *st;
        int64_t now;
        const struct gc_thresholds *t;
        size_t max, count;
        json_t *evals, *allocs, *jobs, *nodes;
        json_t *seen_evals; /* set of eval IDs already in the command */
        /* scratch for the per-eval / per-job scans */
        bool all_terminal;
        int64_t latest;
};

static bool eval_terminal(const struct eval *e) {
        return e->status == EVAL_COMPLETE || e->status == EVAL_FAILED || e->status == EVAL_CANCELED;
}

static bool check_alloc(void *arg, const struct alloc *a) {
        struct gc_ctx *g = arg;
        if (!alloc_terminal(a))
                g->all_terminal = false;
        if (a->modify_time > g->latest)
                g->latest = a->modify_time;
        return g->all_terminal;
}

/* Append one ID to the command while it has room (false: full, the rest next time). */
static bool take_id(struct gc_ctx *g, json_t *list, json_t *id) {
        if (g->count >= g->max || !id) {
                json_decref(id);
                return false;
        }
        json_array_append_new(list, id);
        g->count++;
        return true;
}

static bool add_alloc(void *arg, const struct alloc *a) {
        struct gc_ctx *g = arg;
        return take_id(g, g->allocs, json_string(a->id));
}

/* An eval with all its allocations terminal, nothing changed for threshold. */
static bool eval_collectable(struct gc_ctx *g, const struct eval *e, int64_t threshold) {
        if (!eval_terminal(e))
                return false;
        g->all_terminal = true;
        g->latest = e->modify_time;
        state_allocs_by_eval_foreach(g->st, e->id, check_alloc, g);
        return g->all_terminal && g->now - g->latest >= threshold;
}

static bool count_alloc(void *arg, const struct alloc *a) {
        (void)a;
        (*(size_t *)arg)++;
        return true;
}

static bool count_eval(void *arg, const struct eval *e) {
        (void)e;
        (*(size_t *)arg)++;
        return true;
}

/* An eval goes after its allocations, in the same command or a later one: an eval
 * with more allocations than the command has room for goes over several. */
static bool take_eval(struct gc_ctx *g, const struct eval *e, bool with_allocs) {
        if (json_object_get(g->seen_evals, e->id))
                return true;
        size_t n = 0;
        if (with_allocs) {
                state_allocs_by_eval_foreach(g->st, e->id, count_alloc, &n);
                if (g->count + n + 1 > g->max && g->count > 0)
                        return false; /* a whole eval next time, rather than a part now */
                size_t before = g->count;
                state_allocs_by_eval_foreach(g->st, e->id, add_alloc, g);
                if (g->count - before < n)
                        return false;
        }
        if (!take_id(g, g->evals, json_string(e->id)))
                return false;
        json_object_set_new(g->seen_evals, e->id, json_true());
        return true;
}

static bool scan_eval(void *arg, const struct eval *e) {
        struct gc_ctx *g = arg;
        if (g->count >= g->max)
                return false;
        /* an eval of a job that is still registered and live is kept while it is
         * the job's latest word; the job's own collection takes it with the job */
        if (eval_collectable(g, e, g->t->eval_ns))
                take_eval(g, e, true);
        return true;
}

struct job_scan {
        struct gc_ctx *g;
        bool ok;
};

static bool job_eval(void *arg, const struct eval *e) {
        struct job_scan *js = arg;
        if (!eval_collectable(js->g, e, js->g->t->job_ns))
                js->ok = false;
        return js->ok;
}

static bool job_alloc(void *arg, const struct alloc *a) {
        struct job_scan *js = arg;
        struct gc_ctx *g = js->g;
        if (!alloc_terminal(a) || g->now - a->modify_time < g->t->job_ns)
                js->ok = false;
        return js->ok;
}

/* A job goes after its allocations (all of them: allocs_by_job, so that none whose
 * eval is gone is left behind) and its evals, in the same command or a later one. */
static bool take_job_eval(void *arg, const struct eval *e) {
        return take_eval(arg, e, false);
}

static bool scan_job(void *arg, const struct job *j) {
        struct gc_ctx *g = arg;
        if (g->count >= g->max)
                return false;
        if (j->status != JOB_STATUS_DEAD || g->now - j->submit_time < g->t->job_ns)
                return true;
        struct job_scan js = {.g = g, .ok = true};
        state_evals_by_job_foreach(g->st, j->namespace, j->id, job_eval, &js);
        if (js.ok)
                state_allocs_by_job_foreach(g->st, j->namespace, j->id, job_alloc, &js);
        if (!js.ok)
                return true;
        size_t n_allocs = 0, n_evals = 0;
        state_allocs_by_job_foreach(g->st, j->namespace, j->id, count_alloc, &n_allocs);
        state_evals_by_job_foreach(g->st, j->namespace, j->id, count_eval, &n_evals);
        if (g->count + n_allocs + n_evals + 1 > g->max && g->count > 0)
                return false; /* a whole job next time, rather than a part now */
        size_t before = g->count;
        state_allocs_by_job_foreach(g->st, j->namespace, j->id, add_alloc, g);
        if (g->count - before == n_allocs)
                state_evals_by_job_foreach(g->st, j->namespace, j->id, take_job_eval, g);
        if (g->count - before == n_allocs + n_evals)
                take_id(g, g->jobs, json_pack("{s:s,s:s}", "Namespace", j->namespace, "ID", j->id));
        return g->count < g->max;
}

static bool node_alloc(void *arg, const struct alloc *a) {
        struct gc_ctx *g = arg;
        if (!alloc_terminal(a))
                g->all_terminal = false;
        return g->all_terminal;
}

static bool scan_node(void *arg, const struct node *n) {
        struct gc_ctx *g = arg;
        if (g->count >= g->max)
                return false;
        if (n->status != NODE_DOWN || g->now - n->status_updated_at * 1000000000LL < g->t->node_ns)
                return true;
        g->all_terminal = true;
        state_allocs_by_node_foreach(g->st, n->id, node_alloc, g);
        if (g->all_terminal)
                take_id(g, g->nodes, json_string(n->id));
        return g->count < g->max;
}

json_t *gc_collect(const struct state_store *st, int64_t now_ns, const struct gc_thresholds *t, size_t max_objects) {
        struct gc_ctx g = {.st = st,
                           .now = now_ns,
                           .t = t,
                           .max = max_objects ? max_objects : 1,
                           .evals = json_array(),
                           .allocs = json_array(),
                           .jobs = json_array(),
                           .nodes = json_array(),
                           .seen_evals = json_object()};
        state_jobs_foreach(st, NULL, scan_job, &g);
        state_evals_foreach(st, scan_eval, &g);
        state_nodes_foreach(st, scan_node, &g);
        json_decref(g.seen_evals);
        json_t *cmd = NULL;
        if (g.count > 0)
                cmd = json_pack("{s:s,s:o,s:o,s:o,s:o}", "Type", "GC", "Evals", g.evals, "Allocs", g.allocs, "Jobs",
                                g.jobs, "Nodes", g.nodes);
        else {
                json_decref(g.evals);
                json_decref(g.allocs);
                json_decref(g.jobs);
                json_decref(g.nodes);
        }
        return cmd;
}

int gc_apply(struct state_store *st, uint64_t index, const json_t *cmd) {
        size_t i;
        json_t *v;
        int r;
        json_array_foreach(json_object_get(cmd, "Allocs"), i, v) {
                if ((r = state_delete_alloc(st, index, json_string_value(v) ? json_string_value(v) : "")) < 0 &&
                    r != -ENOENT)
                        return r;
        }
        json_array_foreach(json_object_get(cmd, "Evals"), i, v) {
                if ((r = state_delete_eval(st, index, json_string_value(v) ? json_string_value(v) : "")) < 0 &&
                    r != -ENOENT)
                        return r;
        }
        json_array_foreach(json_object_get(cmd, "Jobs"), i, v) {
                if ((r = state_delete_job(st, index, jx_str(v, "Namespace", "default"), jx_str(v, "ID", ""))) < 0 &&
                    r != -ENOENT)
                        return r;
        }
        json_array_foreach(json_object_get(cmd, "Nodes"), i, v) {
                if ((r = state_delete_node(st, index, json_string_value(v) ? json_string_value(v) : "")) < 0 &&
                    r != -ENOENT)
                        return r;
        }
        return 0;
}
