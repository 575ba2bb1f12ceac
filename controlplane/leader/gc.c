/* gc.c - see gc.h. */
#include "controlplane/leader/gc.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "common/jsonx.h"
#include "common/model.h"
#include "controlplane/state/state.h"

enum gc_kind { GC_EVALS, GC_ALLOCS, GC_JOBS, GC_NODES, GC_KINDS };

static const char *const gc_keys[GC_KINDS] = {"Evals", "Allocs", "Jobs", "Nodes"};

struct gc_ctx {
        const struct state_store *st;
        int64_t now;
        const struct gc_thresholds *t;
        size_t max, count;      /* IDs in the command being filled */
        size_t max_cmds;
        json_t *cmds;           /* the commands filled before it */
        json_t *lists[GC_KINDS];
        bool full;              /* max_cmds reached: the rest next run */
        size_t taken;           /* IDs taken in all */
        json_t *seen_evals;     /* set of eval IDs already taken */
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

static int new_lists(struct gc_ctx *g) {
        for (int k = 0; k < GC_KINDS; k++)
                if (!(g->lists[k] = json_array()))
                        return -ENOMEM;
        g->count = 0;
        return 0;
}

static void drop_lists(struct gc_ctx *g) {
        for (int k = 0; k < GC_KINDS; k++) {
                json_decref(g->lists[k]);
                g->lists[k] = NULL;
        }
}

/* The command being filled, appended to g->cmds (its lists taken). */
static int emit(struct gc_ctx *g) {
        json_t *cmd = json_pack("{s:s,s:I}", "Type", "GC", "Since", (json_int_t)state_latest_index(g->st));
        for (int k = 0; cmd && k < GC_KINDS; k++)
                json_object_set_new(cmd, gc_keys[k], g->lists[k]);
        if (!cmd)
                drop_lists(g);
        for (int k = 0; k < GC_KINDS; k++)
                g->lists[k] = NULL;
        return cmd && json_array_append_new(g->cmds, cmd) == 0 ? 0 : -ENOMEM;
}

/* Close the command being filled and start the next one; false when that would
 * pass max_cmds (the scan stops: the rest next run). */
static bool next_command(struct gc_ctx *g) {
        if (g->count == 0)
                return true;
        if (g->full || json_array_size(g->cmds) + 1 >= g->max_cmds || emit(g) < 0 || new_lists(g) < 0) {
                g->full = true;
                return false;
        }
        return true;
}

/* Room for n more IDs in one command: a whole job or eval goes in the next command
 * rather than in part in this one, unless this one is empty (then it goes in parts
 * over several, in order). */
static bool room_for(struct gc_ctx *g, size_t n) {
        return g->count + n <= g->max || g->count == 0 || next_command(g);
}

/* Append one ID (false: no room left in max_cmds commands, or no memory). */
static bool take_id(struct gc_ctx *g, enum gc_kind k, json_t *id) {
        if (!id || (g->count >= g->max && !next_command(g))) {
                json_decref(id);
                return false;
        }
        json_array_append_new(g->lists[k], id);
        g->count++;
        g->taken++;
        return true;
}

static bool add_alloc(void *arg, const struct alloc *a) {
        struct gc_ctx *g = arg;
        return take_id(g, GC_ALLOCS, json_string(a->id));
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

/* An eval goes after its allocations, in the same command or a later one. */
static bool take_eval(struct gc_ctx *g, const struct eval *e, bool with_allocs) {
        if (json_object_get(g->seen_evals, e->id))
                return true;
        if (with_allocs) {
                size_t n = 0;
                state_allocs_by_eval_foreach(g->st, e->id, count_alloc, &n);
                if (!room_for(g, n + 1))
                        return false;
                size_t before = g->taken;
                state_allocs_by_eval_foreach(g->st, e->id, add_alloc, g);
                if (g->taken - before < n)
                        return false;
        }
        if (!take_id(g, GC_EVALS, json_string(e->id)))
                return false;
        json_object_set_new(g->seen_evals, e->id, json_true());
        return true;
}

static bool scan_eval(void *arg, const struct eval *e) {
        struct gc_ctx *g = arg;
        /* an eval of a job that is still registered and live is kept while it is
         * the job's latest word; the job's own collection takes it with the job */
        if (eval_collectable(g, e, g->t->eval_ns))
                take_eval(g, e, true);
        return !g->full;
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
        if (!room_for(g, n_allocs + n_evals + 1))
                return false;
        size_t before = g->taken;
        state_allocs_by_job_foreach(g->st, j->namespace, j->id, add_alloc, g);
        if (g->taken - before == n_allocs)
                state_evals_by_job_foreach(g->st, j->namespace, j->id, take_job_eval, g);
        if (g->taken - before == n_allocs + n_evals)
                take_id(g, GC_JOBS, json_pack("{s:s,s:s}", "Namespace", j->namespace, "ID", j->id));
        return !g->full;
}

static bool node_alloc(void *arg, const struct alloc *a) {
        struct gc_ctx *g = arg;
        if (!alloc_terminal(a))
                g->all_terminal = false;
        return g->all_terminal;
}

static bool scan_node(void *arg, const struct node *n) {
        struct gc_ctx *g = arg;
        if (n->status != NODE_DOWN || g->now - n->status_updated_at * 1000000000LL < g->t->node_ns)
                return true;
        g->all_terminal = true;
        state_allocs_by_node_foreach(g->st, n->id, node_alloc, g);
        if (g->all_terminal)
                take_id(g, GC_NODES, json_string(n->id));
        return !g->full;
}

int gc_collect_all(const struct state_store *st, int64_t now_ns, const struct gc_thresholds *t, size_t max_objects,
                   size_t max_commands, json_t **ret_cmds) {
        struct gc_ctx g = {.st = st,
                           .now = now_ns,
                           .t = t,
                           .max = max_objects ? max_objects : 1,
                           .max_cmds = max_commands ? max_commands : 1,
                           .cmds = json_array(),
                           .seen_evals = json_object()};
        int r = g.cmds && g.seen_evals ? new_lists(&g) : -ENOMEM;
        if (r == 0) {
                state_jobs_foreach(st, NULL, scan_job, &g);
                if (!g.full)
                        state_evals_foreach(st, scan_eval, &g);
                if (!g.full)
                        state_nodes_foreach(st, scan_node, &g);
                r = g.count > 0 ? emit(&g) : 0;
        }
        drop_lists(&g);
        json_decref(g.seen_evals);
        if (r < 0) {
                json_decref(g.cmds);
                return r;
        }
        *ret_cmds = g.cmds;
        return 0;
}

json_t *gc_collect(const struct state_store *st, int64_t now_ns, const struct gc_thresholds *t, size_t max_objects) {
        json_t *cmds = NULL;
        if (gc_collect_all(st, now_ns, t, max_objects, 1, &cmds) < 0)
                return NULL;
        json_t *cmd = json_incref(json_array_get(cmds, 0));
        json_decref(cmds);
        return cmd;
}

static bool any_alloc(void *arg, const struct alloc *a) {
        (void)a;
        *(bool *)arg = true;
        return false;
}

static bool any_eval(void *arg, const struct eval *e) {
        (void)e;
        *(bool *)arg = true;
        return false;
}

/* With "Since" (the index of the state the command was collected from): what
 * changed after it, and an eval or a job that still has something of its own
 * (kept back by such a change), stays for the next run. */
static bool alloc_kept(const struct state_store *st, uint64_t since, const char *id) {
        const struct alloc *a = since ? state_alloc_get(st, id) : NULL;
        return a && a->modify_index > since;
}

static bool eval_kept(const struct state_store *st, uint64_t since, const char *id) {
        const struct eval *e = since ? state_eval_get(st, id) : NULL;
        if (!e)
                return false;
        bool any = e->modify_index > since;
        if (!any)
                state_allocs_by_eval_foreach(st, id, any_alloc, &any);
        return any;
}

static bool job_kept(const struct state_store *st, uint64_t since, const char *ns, const char *id) {
        const struct job *j = since ? state_job_get(st, ns, id) : NULL;
        if (!j)
                return false;
        bool any = j->modify_index > since;
        if (!any)
                state_allocs_by_job_foreach(st, ns, id, any_alloc, &any);
        if (!any)
                state_evals_by_job_foreach(st, ns, id, any_eval, &any);
        return any;
}

static bool node_kept(const struct state_store *st, uint64_t since, const char *id) {
        const struct node *n = since ? state_node_get(st, id) : NULL;
        return n && n->modify_index > since;
}

int gc_apply(struct state_store *st, uint64_t index, const json_t *cmd) {
        size_t i;
        json_t *v;
        int r;
        const json_t *sj = json_object_get(cmd, "Since");
        uint64_t since = json_is_integer(sj) && json_integer_value(sj) > 0 ? (uint64_t)json_integer_value(sj) : 0;
        json_array_foreach(json_object_get(cmd, "Allocs"), i, v) {
                const char *id = json_string_value(v) ? json_string_value(v) : "";
                if (!alloc_kept(st, since, id) && (r = state_delete_alloc(st, index, id)) < 0 && r != -ENOENT)
                        return r;
        }
        json_array_foreach(json_object_get(cmd, "Evals"), i, v) {
                const char *id = json_string_value(v) ? json_string_value(v) : "";
                if (!eval_kept(st, since, id) && (r = state_delete_eval(st, index, id)) < 0 && r != -ENOENT)
                        return r;
        }
        json_array_foreach(json_object_get(cmd, "Jobs"), i, v) {
                const char *ns = jx_str(v, "Namespace", "default"), *id = jx_str(v, "ID", "");
                if (!job_kept(st, since, ns, id) && (r = state_delete_job(st, index, ns, id)) < 0 && r != -ENOENT)
                        return r;
        }
        json_array_foreach(json_object_get(cmd, "Nodes"), i, v) {
                const char *id = json_string_value(v) ? json_string_value(v) : "";
                if (!node_kept(st, since, id) && (r = state_delete_node(st, index, id)) < 0 && r != -ENOENT)
                        return r;
        }
        return 0;
}
