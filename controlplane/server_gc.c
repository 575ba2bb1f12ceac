/* server_gc.c - the leader's garbage-collection runs (controlplane/leader/gc.h collects,
 * this file schedules and proposes): the periodic one and PUT /v1/system/gc. */
#include "controlplane/server_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "controlplane/leader/gc.h"
#include "controlplane/state/state.h"

/* A GC run collects every command due (gc_collect_all: at most GC_MAX_OBJECTS IDs
 * each, GC_MAX_ROUNDS a run) in one pass over a snapshot of the state, on libuv's
 * pool, not the loop; then proposes them one after the other, each once the
 * previous one is applied (each names the snapshot's index: what changed since is
 * kept for the next run, gc.h). A command's apply holds every server's loop: with
 * O(1) index deletes, 1,000 objects cost ~5-10 ms of CPU (cluster_gc.sh logs each
 * apply's time), well under the ~50 ms a loop may stall. The periodic GC (every
 * -gc-interval, Nomad's thresholds) runs the same way, one run at a time; PUT
 * /v1/system/gc runs one with zero thresholds, as Nomad's forced GC, and is
 * answered after its last command is committed. */
#define GC_MAX_OBJECTS 1000
#define GC_MAX_ROUNDS 1000

struct gc_run {
        uv_work_t work;
        struct server *s;
        struct gc_thresholds t;
        api_apply_cb cb; /* NULL: the periodic run */
        void *arg;
        int rounds;
        struct state_store *view; /* the snapshot collected from, on the pool */
        int64_t now_ns;
        json_t *cmds; /* what the pool collected */
        int rc;
        double collect_ms;
};

static void gc_run_next(struct gc_run *g, uint64_t index);

static void gc_run_end(struct gc_run *g, int status, uint64_t index, const char *msg) {
        if (g->cb)
                g->cb(g->arg, status, index, msg);
        else
                g->s->gc_running = false;
        json_decref(g->cmds);
        free(g);
}

static void on_gc_round(void *arg, int status, uint64_t index, const char *msg) {
        struct gc_run *g = arg;
        if (status < 0)
                gc_run_end(g, status, index, msg);
        else
                gc_run_next(g, index);
}

static void gc_run_next(struct gc_run *g, uint64_t index) {
        struct server *s = g->s;
        json_t *cmd = s->stopping || !s->leader || (size_t)g->rounds >= json_array_size(g->cmds)
                          ? NULL
                          : json_incref(json_array_get(g->cmds, (size_t)g->rounds));
        if (!cmd) {
                if (g->rounds)
                        log_info("gc: %s run done in %d command(s), collected in %.1f ms off the loop",
                                 g->cb ? "forced" : "periodic", g->rounds, g->collect_ms);
                gc_run_end(g, 0, index ? index : state_latest_index(s->state), NULL);
                return;
        }
        g->rounds++;
        log_info("gc: %s, round %d: collecting %zu evaluation(s), %zu allocation(s), %zu job(s), %zu node(s)",
                 g->cb ? "forced" : "periodic", g->rounds, json_array_size(json_object_get(cmd, "Evals")),
                 json_array_size(json_object_get(cmd, "Allocs")), json_array_size(json_object_get(cmd, "Jobs")),
                 json_array_size(json_object_get(cmd, "Nodes")));
        int r = server_propose(s, cmd, on_gc_round, g);
        if (r < 0)
                gc_run_end(g, r, 0, r == -EAGAIN ? "not the leader" : strerror(-r));
}

static void gc_collect_work(uv_work_t *w) {
        struct gc_run *g = w->data;
        int64_t t0 = clock_monotonic_ns();
        g->rc = gc_collect_all(g->view, g->now_ns, &g->t, GC_MAX_OBJECTS, GC_MAX_ROUNDS, &g->cmds);
        g->view = state_destroy(g->view);
        g->collect_ms = (double)(clock_monotonic_ns() - t0) / 1e6;
}

static void gc_collect_done(uv_work_t *w, int status) {
        struct gc_run *g = w->data;
        struct server *s = g->s;
        s->gc_collects--;
        if (status < 0 || g->rc < 0)
                gc_run_end(g, status < 0 ? -ECANCELED : g->rc, 0, "cannot collect the GC's commands");
        else
                gc_run_next(g, 0);
        server_finish_stop(s);
}

int server_gc_start(struct server *s, const struct gc_thresholds *t, api_apply_cb cb, void *arg) {
        struct gc_run *g = calloc(1, sizeof(*g));
        if (!g)
                return -ENOMEM;
        *g = (struct gc_run){.s = s, .t = *t, .cb = cb, .arg = arg, .now_ns = clock_now_ns()};
        g->view = state_snapshot(s->state);
        g->work.data = g;
        if (!g->view || uv_queue_work(s->loop, &g->work, gc_collect_work, gc_collect_done) < 0) {
                state_destroy(g->view);
                free(g);
                return -ENOMEM;
        }
        s->gc_collects++;
        if (!cb)
                s->gc_running = true;
        return 0;
}

int server_gc_op(void *data, api_apply_cb cb, void *arg) {
        static const struct gc_thresholds now = {0, 0, 0};
        return server_gc_start(data, &now, cb, arg);
}
