/* agent.c - wiring of drover-agent: node, client, alloc runners, signals. */
#include "nodeagent/agent.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "common/error.h"
#include "common/tls.h"
#include "common/hashmap.h"
#include "common/jsonx.h"
#include "common/log.h"
#include "common/macros.h"
#include "common/model.h"
#include "common/clock.h"
#include "nodeagent/alloc/alloc_dir.h"
#include "nodeagent/alloc/alloc_gc.h"
#include "nodeagent/alloc/alloc_runner.h"
#include "nodeagent/alloc/taskenv.h"
#include "nodeagent/alloc/update_text.h"
#include "nodeagent/client/client.h"
#include "nodeagent/config.h"
#include "nodeagent/fingerprint/fingerprint.h"
#include "nodeagent/logs/log_api.h"
#include "nodeagent/task_control.h"
#include "nodeagent/logs/logmon.h"
#include "nodeagent/server_loss.h"
#include "nodeagent/state/agent_state.h"

extern char **environ;

/* How long a stopping agent in -dev mode waits for its tasks to die. */
#define DEV_STOP_WAIT_MS 8000
#define FLUSH_ON_EXIT_MS 2000
/* New allocations started per loop iteration: a job of 1,000 arrives in one watch
 * response, and starting them all in one callback starved heartbeats (node marked
 * down) and status updates for tens of seconds. */
#define START_BATCH 4
/* Allocations whose directories are being made on libuv's thread pool at once
 * (alloc_runner_env.async_setup). Its 4 threads also carry the client's calls (the
 * allocation watch holds one for up to 5 s): 2 leaves room for an update and a
 * heartbeat. The loop starts the tasks of one while the next ones' mkdirs run. */
#define SETUP_INFLIGHT 2
/* A collection of terminal allocations' directories waits until no allocation has
 * started for this long (and none is pending), within gc_interval (on_dir_gc_timer). */
#define GC_QUIET_MS 2000

struct runner {
        struct alloc_runner *ar;
        bool dirty;
        bool on_server; /* in the server's latest list */
        /* Taken over only to kill what a previous agent left running of an
         * allocation the server already gave up (lost, stopped): it reports once
         * it has finished, never a "running" that would undo the server's verdict. */
        bool report_when_finished;
        bool start_pending; /* created, waiting for its turn in on_start_idle */
        bool held; /* missing from the servers' list during a grace period (server_loss.h); logged */
};

struct agent {
        uv_loop_t loop;
        const struct agent_config *cfg;
        struct node *node;   /* as first registered: runners borrow its id, name and dc */
        struct node *latest; /* the last fingerprint that differed from node, or NULL */
        struct fingerprint_memo *fp_memo; /* each fingerprinter's last successful part */
        struct client *client;
        struct log_api *log_api;
        struct task_control *control; /* alloc restart / signal from log_api's thread */
        struct agent_state *state; /* agent.db: the agent does not start without it */
        struct logmon *logmon;     /* the tasks' log collector */
        struct taskenv_user user;  /* the agent's user: HOME, USER, ... of tasks run as it */
        struct runner *runners;
        size_t n_runners, cap_runners;
        struct hashmap *runner_index; /* alloc ID -> index in runners + 1 */
        json_t *extra_updates; /* updates for allocations without a runner */
        uv_signal_t sigint, sigterm;
        uv_timer_t gc_timer;
        uv_timer_t stop_timer;
        uv_timer_t fp_timer;     /* periodic re-fingerprinting */
        uv_timer_t dir_gc_timer; /* terminal allocations' directories */
        uv_timer_t grace_timer;  /* the end of a grace period after a possible server data loss */
        struct server_loss loss;
        uv_idle_t start_idle;    /* starts new allocations a few per loop iteration */
        bool start_blocked;      /* start_idle stopped at SETUP_INFLIGHT: a finished setup restarts it */
        /* Runners below this index neither wait to start nor set up (on_start_idle is
         * what starts them, in order): it walks from here, not over the thousands of
         * terminal runners a node holds after a few batch jobs. 0 after runners moved. */
        size_t start_scan;
        uv_prepare_t state_commit; /* commits the state store's batched writes before each wait */
        struct alloc_gc *gc;     /* removes terminal allocations' directories off the loop */
        bool synced;             /* the servers' allocation list came at least once */
        int64_t dir_gc_deferred_since; /* monotonic ns: a collection waits for starts (alloc_gc_defer) */
        int64_t last_start;            /* monotonic ns: the last allocation started (0: none yet) */
        bool stopping;
        bool client_done;
        int exit_code;
};

/* ---- node ------------------------------------------------------------------------------- */

int agent_build_node(const struct agent_config *cfg, struct fingerprint_memo *memo, struct node **ret,
                     struct error *err) {
        char id[ID_BUF], secret[ID_BUF];
        int r = node_identity_load(cfg->data_dir, id, secret, err);
        if (r < 0)
                return r;
        struct node *n = node_new();
        if (!n)
                return errorf(err, -ENOMEM, "out of memory");
        struct error ferr = {0};
        if (fingerprint_node_memo(&(struct fingerprint_ctx){.data_dir = cfg->data_dir, .root = cfg->fingerprint_root},
                                  memo, n, &ferr) < 0)
                log_warn("%s", ferr.msg);
        const char *host = strmap_get(&n->attributes, "unique.hostname");
        n->id = strdup(id);
        n->secret_id = strdup(secret);
        n->name = strdup(*cfg->node_name ? cfg->node_name : host ? host : "localhost");
        n->datacenter = strdup(cfg->dc);
        n->node_class = *cfg->node_class ? strdup(cfg->node_class) : NULL;
        n->node_pool = strdup(cfg->node_pool);
        n->status = NODE_INIT;
        n->eligible = true;
        if (!n->id || !n->secret_id || !n->name || !n->datacenter || !n->node_pool) {
                node_unref(n);
                return errorf(err, -ENOMEM, "out of memory");
        }
        strmap_set(&n->attributes, "unique.name", n->name);
        r = agent_config_meta(cfg, &n->meta, err); /* -meta, client { meta } */
        if (r < 0) {
                node_unref(n);
                return r;
        }
        *ret = n;
        return 0;
}

/* Fingerprint the host again; register the node again when what the servers
 * schedule on changed (a GPU gone, memory added, a new kernel...). */
static void on_fp_timer(uv_timer_t *t) {
        struct agent *a = t->data;
        if (a->stopping)
                return;
        const struct node *cur = a->latest ? a->latest : a->node;
        struct node *n = node_new();
        if (!n)
                return;
        /* A fingerprinter that fails keeps its last attributes: one unreadable file
         * does not take a source's attributes off the node the servers schedule on. */
        struct error err = {0};
        if (fingerprint_node_memo(
                &(struct fingerprint_ctx){.data_dir = a->cfg->data_dir, .root = a->cfg->fingerprint_root}, a->fp_memo,
                n, &err) < 0)
                log_warn("re-fingerprint: %s", err.msg);
        n->id = strdup(cur->id);
        n->secret_id = strdup(cur->secret_id);
        n->name = strdup(cur->name);
        n->datacenter = strdup(cur->datacenter);
        n->node_class = cur->node_class ? strdup(cur->node_class) : NULL;
        n->node_pool = strdup(cur->node_pool);
        n->http_addr = cur->http_addr ? strdup(cur->http_addr) : NULL;
        n->status = cur->status;
        n->eligible = cur->eligible;
        if (!n->id || !n->secret_id || !n->name || !n->datacenter || !n->node_pool ||
            strmap_copy(&n->meta, &cur->meta) < 0 || strmap_set(&n->attributes, "unique.name", n->name) < 0) {
                node_unref(n);
                return;
        }
        if (!fingerprint_changed(cur, n)) {
                node_unref(n);
                return;
        }
        log_info("the host's fingerprint changed; registering node %s again", n->id);
        node_unref(a->latest);
        a->latest = n;
        if (a->client)
                client_update_node(a->client, n);
}

/* ---- runners ----------------------------------------------------------------------------- */

static struct runner *find_runner(struct agent *a, const char *id) {
        uintptr_t i = (uintptr_t)hashmap_get(a->runner_index, id);
        return i && i <= a->n_runners ? &a->runners[i - 1] : NULL;
}

static struct alloc_runner *control_lookup(void *data, const char *id) {
        struct runner *r = find_runner(data, id);
        return r ? r->ar : NULL;
}

static int control_call(void *data, const char *alloc_id, const char *action, const char *task, const char *signal,
                        bool all, char *msg, size_t msg_size) {
        return task_control_call(data, alloc_id, action, task, signal, all, msg, msg_size);
}

/* After runners moved (some were dropped). Out of memory leaves the index empty:
 * lookups then miss, which only delays (a runner not found is created again). */
static void reindex_runners(struct agent *a) {
        hashmap_clear(a->runner_index);
        for (size_t i = 0; i < a->n_runners; i++)
                if (hashmap_put(a->runner_index, alloc_runner_id(a->runners[i].ar), (void *)(uintptr_t)(i + 1), NULL) < 0) {
                        hashmap_clear(a->runner_index);
                        return;
                }
}

static bool all_finished(struct agent *a) {
        for (size_t i = 0; i < a->n_runners; i++)
                if (!alloc_runner_finished(a->runners[i].ar))
                        return false;
        return true;
}

static void begin_client_shutdown(struct agent *a);

static void on_gc_timer(uv_timer_t *t);
static void on_dir_gc_timer(uv_timer_t *t);

static void on_start_idle(uv_idle_t *t);

static void on_runner_changed(struct alloc_runner *ar, void *data) {
        struct agent *a = data;
        if (a->start_blocked && !alloc_runner_setting_up(ar) && !a->stopping) {
                a->start_blocked = false;
                uv_idle_start(&a->start_idle, on_start_idle);
        }
        struct runner *r = find_runner(a, alloc_runner_id(ar));
        if (r && r->ar == ar) {
                r->dirty = true;
                if (!r->on_server && alloc_runner_finished(ar))
                        uv_timer_start(&a->gc_timer, on_gc_timer, 0, 0);
                if (alloc_runner_finished(ar) && !a->stopping)
                        uv_timer_start(&a->dir_gc_timer, on_dir_gc_timer, 1000, (uint64_t)a->cfg->gc_interval_ms);
        }
        if (a->client)
                client_updates_pending(a->client);
        if (a->stopping && a->cfg->dev && all_finished(a) && uv_is_active((uv_handle_t *)&a->stop_timer)) {
                uv_timer_stop(&a->stop_timer);
                begin_client_shutdown(a);
        }
}

/* Drop runners the server no longer lists once their tasks are dead. */
static void on_gc_timer(uv_timer_t *t) {
        struct agent *a = t->data;
        size_t k = 0;
        for (size_t i = 0; i < a->n_runners; i++) {
                struct runner *r = &a->runners[i];
                if (!r->on_server && alloc_runner_finished(r->ar) &&
                    !(r->held && server_loss_in_grace(&a->loss, clock_monotonic_ns()))) {
                        log_debug("alloc %.8s: forgotten (gone from the server, tasks dead)", alloc_runner_id(r->ar));
                        struct error err = {0};
                        if (a->state && agent_state_del_alloc(a->state, alloc_runner_id(r->ar), &err) < 0)
                                log_warn("%s", err.msg);
                        alloc_runner_destroy(r->ar);
                        continue;
                }
                a->runners[k++] = *r;
        }
        if (k != a->n_runners) {
                a->n_runners = k;
                a->start_scan = 0;
                reindex_runners(a);
                if (a->start_blocked && !a->stopping) { /* one dropped may have been setting up */
                        a->start_blocked = false;
                        uv_idle_start(&a->start_idle, on_start_idle);
                }
        }
}

/* The IDs whose directories the collector must leave: a runner with tasks not
 * all dead, or task handles still in the local state (a task the last agent
 * left running). Built on the loop; the collector copies them. */
struct id_list {
        char **ids;
        size_t n, cap;
};

static int id_list_add(const char *id, void *data) {
        struct id_list *l = data;
        if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 64;
                char **n = realloc(l->ids, cap * sizeof(*n));
                if (!n)
                        return -ENOMEM;
                l->ids = n;
                l->cap = cap;
        }
        if (!(l->ids[l->n] = strdup(id)))
                return -ENOMEM;
        l->n++;
        return 0;
}

static void id_list_clear(struct id_list *l) {
        for (size_t i = 0; i < l->n; i++)
                free(l->ids[i]);
        free(l->ids);
        *l = (struct id_list){0};
}

static void on_dir_gc_done(const struct gc_outcome *o, void *data) {
        if (o->removed < 0 || *o->error)
                log_warn("%s", o->error);
        if (o->removed > 0)
                log_info("collected %d terminal allocation director%s", o->removed, o->removed == 1 ? "y" : "ies");
}

/* Terminal allocations' directories: by age, count and disk use (alloc_gc.h), on
 * the collector's own thread: the loop only lists what is in use. Only once the
 * servers' list came: before it, every directory looks unused. */
static void on_dir_gc_timer(uv_timer_t *t) {
        struct agent *a = t->data;
        if (!a->synced || a->stopping || !a->gc || alloc_gc_busy(a->gc))
                return; /* one at a time: the timer comes again */
        int64_t mono = clock_monotonic_ns();
        /* A burst: allocations started within the last GC_QUIET_MS count as pending too,
         * so that a collection does not begin in a moment between fetch batches, or at
         * a burst's tail while its last tasks end and their updates go out. */
        bool pending = a->last_start && mono - a->last_start < GC_QUIET_MS * 1000000LL;
        for (size_t i = 0; i < a->n_runners && !pending; i++)
                pending = a->runners[i].start_pending ||
                          (!alloc_runner_stopping(a->runners[i].ar) &&
                           alloc_runner_client_status(a->runners[i].ar) == ALLOC_CLIENT_PENDING);
        if (alloc_gc_defer(pending, a->dir_gc_deferred_since, mono, a->cfg->gc_interval_ms * 1000000)) {
                if (!a->dir_gc_deferred_since)
                        a->dir_gc_deferred_since = mono;
                uv_timer_start(&a->dir_gc_timer, on_dir_gc_timer, 1000, (uint64_t)a->cfg->gc_interval_ms);
                return;
        }
        a->dir_gc_deferred_since = 0;
        struct id_list in_use = {0};
        int r = 0;
        for (size_t i = 0; i < a->n_runners && r == 0; i++)
                if (!alloc_runner_finished(a->runners[i].ar))
                        r = id_list_add(alloc_runner_id(a->runners[i].ar), &in_use);
        struct error err = {0};
        if (r == 0 && a->state)
                r = agent_state_foreach_alloc(a->state, id_list_add, &in_use, &err);
        if (r < 0) {
                log_warn("allocation directory collection skipped: %s", *err.msg ? err.msg : strerror(-r));
                id_list_clear(&in_use);
                return;
        }
        int64_t now = clock_now_ns();
        struct gc_policy p = {.max_allocs = (int)a->cfg->gc_max_allocs,
                              .disk_usage_threshold = (double)a->cfg->gc_disk_usage_threshold,
                              .max_age_ns = a->cfg->gc_max_age_ms * 1000000,
                              /* created or written since the list was made: a new allocation */
                              .live_changed_after_ns = now - 1000000000LL};
        r = alloc_gc_begin(a->gc, &p, now, (const char *const *)in_use.ids, in_use.n);
        if (r < 0)
                log_warn("allocation directory collection: %s", strerror(-r));
        id_list_clear(&in_use);
}

/* Start up to START_BATCH pending runners, then yield to the loop (heartbeats,
 * updates, task exits) and come back on the next iteration while any are left.
 * An idle handle, not a 0 ms timer: libuv runs a timer re-armed at 0 ms again in
 * the same timer phase, which would never yield. */
static void on_start_idle(uv_idle_t *t) {
        struct agent *a = t->data;
        if (a->stopping) {
                uv_idle_stop(t);
                return;
        }
        int started = 0, setting_up = 0;
        while (a->start_scan < a->n_runners && !a->runners[a->start_scan].start_pending &&
               !alloc_runner_setting_up(a->runners[a->start_scan].ar))
                a->start_scan++;
        for (size_t i = a->start_scan; i < a->n_runners; i++)
                setting_up += alloc_runner_setting_up(a->runners[i].ar);
        bool more = false;
        for (size_t i = a->start_scan; i < a->n_runners; i++) {
                struct runner *r = &a->runners[i];
                if (!r->start_pending)
                        continue;
                if (started == START_BATCH || setting_up >= SETUP_INFLIGHT) {
                        more = true;
                        break;
                }
                r->start_pending = false;
                if (alloc_runner_stopping(r->ar))
                        continue; /* stopped before it started: its tasks are dead already */
                log_info("alloc %.8s: starting", alloc_runner_id(r->ar));
                alloc_runner_start(r->ar);
                a->last_start = clock_monotonic_ns();
                setting_up += alloc_runner_setting_up(r->ar);
                started++;
        }
        if (!more) {
                uv_idle_stop(t);
        } else if (setting_up >= SETUP_INFLIGHT) {
                /* No busy loop while the pool works: the next setup done starts more. */
                uv_idle_stop(t);
                a->start_blocked = true;
        }
}

/* Once per loop iteration, before it waits: the task handles saved and forgotten
 * during the iteration go to disk in one transaction. */
static void on_state_commit(uv_prepare_t *h) {
        struct agent *a = h->data;
        struct error err = {0};
        if (agent_state_commit(a->state, &err) < 0)
                log_warn("%s (a restarted agent may not re-attach to tasks started just now)", err.msg);
}

/* Keep al's definition in agent.db: a later agent that finds its tasks running
 * while the servers do not list it can still stop them (recover_orphans). Its
 * job is saved once per job version (the 1,000 allocations of a job share it),
 * the allocation's own row without it. */
static void save_definition(struct agent *a, const struct alloc *al) {
        if (!a->state)
                return;
        struct error err = {0};
        char key[600];
        int has = 0;
        if (al->job) {
                snprintf(key, sizeof(key), "%s/%s@%lld@%lld", al->job->namespace ? al->job->namespace : "",
                         al->job->id ? al->job->id : "", (long long)al->job->job_modify_index,
                         (long long)al->job->version);
                has = agent_state_has_job(a->state, key, &err);
                if (has == 0) {
                        json_t *j = job_to_json(al->job);
                        char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
                        json_decref(j);
                        has = !text ? -ENOMEM : agent_state_put_job(a->state, key, text, &err) < 0 ? -EIO : 1;
                        free(text);
                }
        }
        /* Without its job when that is saved: a shallow copy, only read. */
        struct alloc bare = *al;
        if (has == 1)
                bare.job = NULL;
        json_t *o = alloc_to_json(&bare);
        if (has == 1)
                json_object_del(o, "Job"); /* its null: agent_state_get_alloc puts the job first */
        char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        if (!text)
                log_warn("alloc %.8s: out of memory saving its definition", al->id);
        else if (agent_state_put_alloc(a->state, al->id, text, has == 1 ? key : NULL, &err) < 0)
                log_warn("%s", err.msg);
        else if (has < 0)
                log_warn("alloc %.8s: its job saved with it (%s)", al->id, *err.msg ? err.msg : strerror(-has));
        free(text);
}

/* Run al: queue it for on_start_idle, or (restore) take over from an earlier agent process. */
static int add_runner(struct agent *a, struct alloc *al, bool restore) {
        if (a->n_runners == a->cap_runners) {
                size_t cap = a->cap_runners ? a->cap_runners * 2 : 16;
                struct runner *n = realloc(a->runners, cap * sizeof(*n));
                if (!n)
                        return -ENOMEM;
                a->runners = n;
                a->cap_runners = cap;
        }
        struct alloc_runner_env env = {.loop = &a->loop,
                                       .data_dir = a->cfg->data_dir,
                                       .logmon = a->logmon,
                                       .node_id = a->node->id,
                                       .node_name = a->node->name,
                                       .dc = a->node->datacenter,
                                       .host_env = environ,
                                       .env_passthrough = a->cfg->env_passthrough,
                                       .agent_user = a->user.name ? &a->user : NULL,
                                       .state = a->state,
                                       .async_setup = true,
                                       .changed = on_runner_changed,
                                       .data = a};
        struct alloc_runner *ar = alloc_runner_create(&env, al);
        if (!ar)
                return -ENOMEM;
        save_definition(a, al);
        a->runners[a->n_runners++] = (struct runner){.ar = ar, .dirty = true, .on_server = true, .start_pending = !restore};
        if (hashmap_put(a->runner_index, alloc_runner_id(ar), (void *)(uintptr_t)a->n_runners, NULL) < 0) {
                a->n_runners--;
                alloc_runner_destroy(ar);
                return -ENOMEM;
        }
        if (restore) {
                log_info("alloc %.8s (%s): taking over from the previous agent", al->id, al->name ? al->name : "");
                alloc_runner_restore(ar);
        } else {
                uv_idle_start(&a->start_idle, on_start_idle); /* no-op when active */
        }
        return 0;
}

static bool alloc_dir_exists(struct agent *a, const char *id) {
        char path[4200];
        struct stat st;
        snprintf(path, sizeof(path), "%s/alloc/%s", a->cfg->data_dir, id);
        return stat(path, &st) == 0;
}

/* One allocation of the servers' list: a runner for a new one, a stop for one the
 * servers no longer want running. */
static void take_alloc(struct agent *a, struct alloc *al) {
        struct runner *r = find_runner(a, al->id);
        if (r) {
                r->on_server = true;
                if (r->held) { /* the servers learnt it again: kept, its status sent again */
                        log_info("alloc %.8s: back on the server; kept", al->id);
                        r->held = false;
                        r->dirty = true;
                        if (a->client)
                                client_updates_pending(a->client);
                }
                if (al->desired_status != ALLOC_DESIRED_RUN && !alloc_runner_stopping(r->ar)) {
                        log_info("alloc %.8s: the server wants it %s; stopping its tasks", al->id,
                                 alloc_desired_str(al->desired_status));
                        alloc_runner_stop(r->ar);
                }
                return;
        }
        /* Started by an earlier agent process when its directory is here. */
        bool ours_before = alloc_dir_exists(a, al->id);
        if (alloc_terminal(al)) {
                /* Stopped or given up (lost) while no agent watched: tasks the
                 * last agent left running are found and killed. */
                struct error err = {0};
                if (ours_before && a->state && agent_state_count_handles(a->state, al->id, &err) > 0 &&
                    add_runner(a, al, true) == 0) {
                        log_info("alloc %.8s: the server has it %s/%s; stopping what still runs", al->id,
                                 alloc_desired_str(al->desired_status), alloc_client_str(al->client_status));
                        a->runners[a->n_runners - 1].report_when_finished = true;
                        alloc_runner_stop(a->runners[a->n_runners - 1].ar);
                }
                return;
        }
        if (add_runner(a, al, ours_before) < 0)
                log_error("alloc %.8s: out of memory", al->id);
}

/* A batch of the allocations being fetched (client_ops.allocs_partial): only some
 * of the node's, so nothing missing from it is stopped; the whole list follows. */
static void on_allocs_partial(struct alloc **allocs, size_t n, void *data) {
        struct agent *a = data;
        if (a->stopping)
                return;
        for (size_t i = 0; i < n; i++)
                take_alloc(a, allocs[i]);
}

static void on_grace_timer(uv_timer_t *t);

/* "2026-12-02T14:05:00Z" of a unix time in ns. */
static void format_utc(int64_t unix_ns, char *buf, size_t size) {
        time_t t = (time_t)(unix_ns / NS_PER_SEC);
        struct tm tm;
        if (!gmtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                snprintf(buf, size, "%lld", (long long)(unix_ns / NS_PER_SEC));
}

/* Runners missing from the servers' last full list: stopped, or held while a
 * grace period runs after a possible server data loss (server_loss.h); the grace
 * timer comes back when it ends. */
static void stop_missing(struct agent *a) {
        int64_t now = clock_monotonic_ns();
        int64_t until = server_loss_hold_until(&a->loss, now);
        bool holding = false;
        for (size_t i = 0; i < a->n_runners; i++) {
                struct runner *r = &a->runners[i];
                if (r->on_server || alloc_runner_stopping(r->ar) || alloc_runner_finished(r->ar))
                        continue;
                if (until) {
                        holding = true;
                        if (!r->held) {
                                char when[32];
                                format_utc(clock_now_ns() + (until - now), when, sizeof(when));
                                log_warn("alloc %.8s: missing from the server after a possible server data loss; "
                                         "would stop it at %s unless it reappears",
                                         alloc_runner_id(r->ar), when);
                        }
                        r->held = true;
                        continue;
                }
                if (r->held)
                        log_info("alloc %.8s: still missing from the server after the grace period; stopping its tasks",
                                 alloc_runner_id(r->ar));
                else
                        log_info("alloc %.8s: no longer on the server; stopping its tasks", alloc_runner_id(r->ar));
                r->held = false;
                alloc_runner_stop(r->ar);
        }
        if (holding)
                uv_timer_start(&a->grace_timer, on_grace_timer, (uint64_t)((until - now) / NS_PER_MS) + 1, 0);
}

/* A grace period may have ended (or was extended: stop_missing sets the timer again). */
static void on_grace_timer(uv_timer_t *t) {
        struct agent *a = t->data;
        if (a->stopping || !a->synced)
                return;
        stop_missing(a);
        uv_timer_start(&a->gc_timer, on_gc_timer, 0, 0); /* held ones that ended meanwhile */
}

/* Log a sign of a server data loss (sign: what was seen) that server_loss took;
 * was: a grace period ran already. */
static void log_loss(struct agent *a, const char *sign, bool was) {
        double grace_s = (double)a->loss.grace_ns / (double)NS_PER_SEC;
        if (a->loss.grace_ns == 0)
                log_info("%s: they may have lost their data (-server-loss-grace 0: allocations missing from their "
                         "list are stopped at once)",
                         sign);
        else if (was)
                log_info("%s: the grace period starts again (%g s)", sign, grace_s);
        else
                log_warn("%s: they may have lost their data; allocations missing from their list keep running "
                         "until the servers have been stable for %g s",
                         sign, grace_s);
}

/* What the client saw of the servers: signs of a data loss open a grace period. */
static void on_servers(enum client_event ev, uint64_t index, void *data) {
        struct agent *a = data;
        int64_t now = clock_monotonic_ns();
        uint64_t before = a->loss.max_index;
        bool was = server_loss_in_grace(&a->loss, now);
        char sign[128];
        switch (ev) {
        case CLIENT_WATCH_ANSWER:
                if (!server_loss_watch_index(&a->loss, index, now))
                        return;
                snprintf(sign, sizeof(sign), "the servers' allocation index went back from %llu to %llu",
                         (unsigned long long)before, (unsigned long long)index);
                break;
        case CLIENT_REREGISTERED:
                server_loss_sign(&a->loss, SERVER_LOSS_REREGISTERED, now);
                snprintf(sign, sizeof(sign), "the servers did not know this node");
                break;
        default: /* CLIENT_CALL_FAILED */
                server_loss_failed(&a->loss, now);
                return;
        }
        log_loss(a, sign, was);
}

/* The saved definition of an orphan (recover_orphans) with the task states a
 * restore starts from: running for a task with a saved handle (re-attached, or
 * its end read), dead for the others (never started again by this). NULL when
 * none was saved or it cannot be read (logged). */
static struct alloc *load_orphan(struct agent *a, const char *id) {
        char *text = NULL;
        struct error err = {0};
        int r = agent_state_get_alloc(a->state, id, &text, &err);
        if (r == -ENOENT) {
                log_warn("alloc %.8s: the previous agent left tasks running that the servers do not list, and saved "
                         "no definition of it (an older agent): they are left alone",
                         id);
                return NULL;
        }
        json_t *o = r < 0 ? NULL : json_loads(text, 0, NULL);
        free(text);
        struct alloc *al = NULL;
        if (r < 0 || !o || alloc_from_json(o, &al, &err) < 0 || !al->job) {
                log_warn("alloc %.8s: its saved definition cannot be read (%s): its tasks are left alone", id,
                         *err.msg ? err.msg : "not JSON, or no job");
                json_decref(o);
                alloc_unref(al);
                return NULL;
        }
        json_decref(o);
        const struct task_group *tg = job_group(al->job, al->task_group);
        size_t n = tg ? tg->n_tasks : 0;
        struct task_state *ts = calloc(n ? n : 1, sizeof(*ts));
        for (size_t i = 0; ts && i < n; i++) {
                struct driver_handle h;
                ts[i].name = strdup(tg->tasks[i].name);
                ts[i].state = agent_state_get_handle(a->state, id, tg->tasks[i].name, &h, &err) == 0 ? TASK_RUNNING
                                                                                                     : TASK_DEAD;
                if (!ts[i].name) {
                        task_states_free(ts, i + 1);
                        ts = NULL;
                }
        }
        if (!ts) {
                log_error("alloc %.8s: out of memory", id);
                alloc_unref(al);
                return NULL;
        }
        task_states_free(al->task_states, al->n_task_states);
        al->task_states = ts;
        al->n_task_states = n;
        return al;
}

/* At start, after the servers' first full list: an allocation whose tasks the
 * previous agent left running (handles in agent.db) and that the servers do not
 * list. Lost by the servers, or purged while no agent watched: the agent cannot
 * tell, so it takes the tasks over and treats it as a possible data loss (a
 * grace period; stop_missing holds them and stops them when it ends). */
static void recover_orphans(struct agent *a, struct alloc **allocs, size_t n) {
        if (!a->state)
                return;
        struct id_list ids = {0};
        struct error err = {0};
        struct hashmap *listed = hashmap_create(HASHMAP_OWN_KEYS);
        int r = listed ? agent_state_foreach_alloc(a->state, id_list_add, &ids, &err) : -ENOMEM;
        for (size_t i = 0; i < n && r == 0; i++)
                r = hashmap_put(listed, allocs[i]->id, NULL, NULL) < 0 ? -ENOMEM : 0;
        if (r < 0) {
                log_warn("tasks of allocations the servers do not list are not looked for: %s",
                         *err.msg ? err.msg : strerror(-r));
                id_list_clear(&ids);
        }
        size_t found = 0;
        for (size_t i = 0; i < ids.n; i++) {
                if (find_runner(a, ids.ids[i]) || hashmap_contains(listed, ids.ids[i]))
                        continue;
                struct alloc *al = load_orphan(a, ids.ids[i]);
                if (!al)
                        continue;
                log_warn("alloc %.8s (%s): the previous agent ran it and the servers do not list it", al->id,
                         al->name ? al->name : "");
                if (add_runner(a, al, true) < 0) {
                        log_error("alloc %.8s: out of memory", al->id);
                } else {
                        a->runners[a->n_runners - 1].on_server = false;
                        found++;
                }
                alloc_unref(al);
        }
        /* Definitions of allocations without runner or task handles (they ended
         * under an earlier agent, which had no runner left to forget them). */
        id_list_clear(&ids);
        if (agent_state_foreach_idle_alloc(a->state, id_list_add, &ids, &err) < 0)
                log_warn("%s", err.msg);
        for (size_t i = 0; i < ids.n; i++)
                if (!find_runner(a, ids.ids[i]) && agent_state_del_alloc(a->state, ids.ids[i], &err) < 0)
                        log_warn("%s", err.msg);
        id_list_clear(&ids);
        hashmap_destroy(listed);
        if (found) {
                int64_t now = clock_monotonic_ns();
                bool was = server_loss_in_grace(&a->loss, now);
                char sign[128];
                snprintf(sign, sizeof(sign), "%zu allocation%s the previous agent ran %s missing from the servers' list",
                         found, found == 1 ? "" : "s", found == 1 ? "is" : "are");
                server_loss_sign(&a->loss, SERVER_LOSS_ORPHANS, now);
                log_loss(a, sign, was);
        }
}

static void on_allocs(struct alloc **allocs, size_t n, void *data) {
        struct agent *a = data;
        if (a->stopping)
                return;
        for (size_t i = 0; i < a->n_runners; i++)
                a->runners[i].on_server = false;
        for (size_t i = 0; i < n; i++)
                take_alloc(a, allocs[i]);
        if (!a->synced)
                recover_orphans(a, allocs, n);
        stop_missing(a);
        uv_timer_start(&a->gc_timer, on_gc_timer, 0, 0);
        if (!a->synced) {
                a->synced = true;
                uint64_t every = (uint64_t)a->cfg->gc_interval_ms;
                uv_timer_start(&a->dir_gc_timer, on_dir_gc_timer, every, every);
        }
}

static bool update_due(const struct runner *r) {
        return r->dirty && (!r->report_when_finished || alloc_runner_finished(r->ar));
}

/* The updates as JSON text, written straight from the runners' task states: the
 * jansson tree each took to build, dump and free was a quarter of this loop's CPU
 * in a 1,000-task batch (update_text.h). */
static char *collect_updates(size_t *ret_count, void *data) {
        struct agent *a = data;
        struct text_buf b = {0};
        size_t n = 0;
        text_buf_put(&b, "[", 1);
        for (size_t i = 0; i < a->n_runners; i++)
                if (update_due(&a->runners[i])) {
                        if (n++)
                                text_buf_put(&b, ",", 1);
                        alloc_runner_update_write(a->runners[i].ar, &b);
                }
        size_t k;
        json_t *u;
        json_array_foreach(a->extra_updates, k, u) {
                _cleanup_free_ char *one = json_dumps(u, JSON_COMPACT);
                if (!one)
                        continue;
                if (n++)
                        text_buf_put(&b, ",", 1);
                text_buf_puts(&b, one);
        }
        text_buf_put(&b, "]", 1);
        if (n == 0 || b.failed) { /* out of memory: all stay pending */
                text_buf_clear(&b);
                return NULL;
        }
        for (size_t i = 0; i < a->n_runners; i++)
                if (update_due(&a->runners[i]))
                        a->runners[i].dirty = false;
        json_array_clear(a->extra_updates);
        *ret_count = n;
        return text_buf_take(&b);
}

static void requeue_updates(const json_t *allocs, void *data) {
        struct agent *a = data;
        size_t i;
        json_t *u;
        json_array_foreach(allocs, i, u) {
                struct runner *r = find_runner(a, jx_str(u, "ID", ""));
                if (r)
                        r->dirty = true;
                else
                        json_array_append(a->extra_updates, u);
        }
}

/* ---- stopping ------------------------------------------------------------------------------ */

static void on_closed(uv_handle_t *h) {
}

static void on_client_done(void *data) {
        struct agent *a = data;
        a->client_done = true;
        client_destroy(a->client);
        a->client = NULL;
        /* Tasks still running stay running: a later agent re-attaches (once state is persisted). */
        for (size_t i = 0; i < a->n_runners; i++)
                alloc_runner_destroy(a->runners[i].ar);
        a->n_runners = 0;
        hashmap_clear(a->runner_index);
        task_control_close(a->control);
        a->control = NULL;
        a->log_api = log_api_stop(a->log_api);
        alloc_gc_close(a->gc);
        a->gc = NULL;
        uv_close((uv_handle_t *)&a->sigint, on_closed);
        uv_close((uv_handle_t *)&a->sigterm, on_closed);
        uv_close((uv_handle_t *)&a->gc_timer, on_closed);
        uv_close((uv_handle_t *)&a->stop_timer, on_closed);
        uv_close((uv_handle_t *)&a->fp_timer, on_closed);
        uv_close((uv_handle_t *)&a->dir_gc_timer, on_closed);
        uv_close((uv_handle_t *)&a->grace_timer, on_closed);
        uv_close((uv_handle_t *)&a->start_idle, on_closed);
        uv_close((uv_handle_t *)&a->state_commit, on_closed);
}

static void begin_client_shutdown(struct agent *a) {
        log_info("stopping: sending the last allocation updates");
        client_shutdown(a->client, FLUSH_ON_EXIT_MS, on_client_done, a);
}

static void on_stop_timer(uv_timer_t *t) {
        struct agent *a = t->data;
        log_warn("stopping: tasks did not all stop within %d ms; exiting anyway", DEV_STOP_WAIT_MS);
        begin_client_shutdown(a);
}

static void on_signal(uv_signal_t *s, int signum) {
        struct agent *a = s->data;
        if (a->stopping) {
                log_warn("second %s: exiting now", strsignal(signum));
                _exit(1);
        }
        a->stopping = true;
        if (!a->cfg->dev) {
                log_info("%s: stopping; tasks keep running", strsignal(signum));
                begin_client_shutdown(a);
                return;
        }
        log_info("%s: stopping (-dev: stopping all tasks first)", strsignal(signum));
        for (size_t i = 0; i < a->n_runners; i++)
                alloc_runner_stop(a->runners[i].ar);
        if (all_finished(a)) {
                begin_client_shutdown(a);
                return;
        }
        uv_timer_start(&a->stop_timer, on_stop_timer, DEV_STOP_WAIT_MS, 0);
}

/* ---- lifecycle ------------------------------------------------------------------------------- */

/* <data-dir>/alloc, marked so that each allocation's tree goes to a block group of
 * its own (alloc_dir_root_prepare): not fatal when it fails, each allocation's
 * setup makes the directory again and says what went wrong. */
static void spread_alloc_dirs(const char *data_dir) {
        char root[4200];
        snprintf(root, sizeof(root), "%s/alloc", data_dir);
        struct error err = {0};
        int r = alloc_dir_root_prepare(root, &err);
        if (r < 0)
                log_warn("allocation directories: %s", err.msg);
        else if (r == 0)
                log_debug("allocation directories: %s has no Orlov top-directory flag: trees stay packed", root);
}

int agent_create(const struct agent_config *cfg, struct agent **ret, struct error *err) {
        struct agent *a = calloc(1, sizeof(*a));
        if (!a)
                return errorf(err, -ENOMEM, "out of memory");
        a->cfg = cfg;
        int r = uv_loop_init(&a->loop);
        if (r < 0) {
                free(a);
                return errorf(err, r, "uv_loop_init: %s", uv_strerror(r));
        }
        a->extra_updates = json_array();
        a->runner_index = hashmap_create(HASHMAP_OWN_KEYS);
        if (!a->extra_updates || !a->runner_index) {
                r = errorf(err, -ENOMEM, "out of memory");
                goto fail;
        }
        a->fp_memo = fingerprint_memo_new();
        if (!a->fp_memo) {
                r = errorf(err, -ENOMEM, "out of memory");
                goto fail;
        }
        r = agent_build_node(cfg, a->fp_memo, &a->node, err);
        if (r < 0)
                goto fail;
        if (taskenv_user_lookup(geteuid(), &a->user) < 0)
                log_warn("uid %u is not in the user database: tasks run as the agent get no HOME, USER, LOGNAME, SHELL",
                         (unsigned)geteuid());
        /* Without it the tasks an earlier agent started cannot be re-attached, and the
         * servers' allocations would be started a second time beside them. */
        struct error serr = {0};
        r = agent_state_open(cfg->data_dir, &a->state, &serr);
        if (r < 0) {
                r = errorf(err, r,
                           "refusing to start: tasks an earlier agent started may still run and would be started "
                           "twice; move agent.db away to start afresh: %s",
                           serr.msg);
                goto fail;
        }
        spread_alloc_dirs(cfg->data_dir);
        a->logmon = logmon_create(cfg->data_dir, err);
        if (!a->logmon) {
                r = -ENOMEM;
                goto fail;
        }
        if (*cfg->http_addr) {
                struct tls_config tls;
                agent_config_tls_listener(cfg, &tls);
                r = log_api_start_tls(cfg->http_addr, cfg->data_dir, a->node->secret_id, &tls, &a->log_api, err);
                if (r < 0)
                        goto fail;
                char host[64], adv[96];
                snprintf(host, sizeof(host), "%s", cfg->http_addr);
                char *colon = strrchr(host, ':');
                if (colon)
                        *colon = '\0';
                if (strcmp(host, "0.0.0.0") == 0 || !*host) {
                        const char *ip = strmap_get(&a->node->attributes, "unique.network.ip-address");
                        snprintf(host, sizeof(host), "%s", ip ? ip : "127.0.0.1");
                }
                snprintf(adv, sizeof(adv), "%s:%d", host, log_api_port(a->log_api));
                a->node->http_addr = strdup(adv);
                r = task_control_create(&a->loop, control_lookup, a, &a->control, err);
                if (r < 0)
                        goto fail;
                log_api_set_control(a->log_api, control_call, a->control);
        }
        a->gc = alloc_gc_create(&a->loop, cfg->data_dir, on_dir_gc_done, a);
        if (!a->gc) {
                r = errorf(err, -ENOMEM, "out of memory");
                goto fail;
        }
        struct client_ops ops = {.allocs = on_allocs,
                                 .allocs_partial = on_allocs_partial,
                                 .collect_updates = collect_updates,
                                 .requeue_updates = requeue_updates,
                                 .servers = on_servers,
                                 .data = a};
        r = client_create(&a->loop, cfg->servers, a->node, &ops, &a->client, err);
        if (r == 0 && client_set_registration_secret(a->client, cfg->node_secret) < 0)
                r = errorf(err, -ENOMEM, "out of memory");
        if (r < 0)
                goto fail;
        uv_signal_init(&a->loop, &a->sigint);
        uv_signal_init(&a->loop, &a->sigterm);
        uv_timer_init(&a->loop, &a->gc_timer);
        uv_timer_init(&a->loop, &a->stop_timer);
        uv_timer_init(&a->loop, &a->fp_timer);
        uv_timer_init(&a->loop, &a->dir_gc_timer);
        uv_timer_init(&a->loop, &a->grace_timer);
        server_loss_init(&a->loss, cfg->server_loss_grace_ms * NS_PER_MS);
        a->grace_timer.data = a;
        a->sigint.data = a->sigterm.data = a->gc_timer.data = a->stop_timer.data = a->fp_timer.data = a;
        uv_idle_init(&a->loop, &a->start_idle);
        uv_prepare_init(&a->loop, &a->state_commit);
        a->dir_gc_timer.data = a->start_idle.data = a->state_commit.data = a;
        if (a->state) {
                agent_state_set_batching(a->state, true);
                uv_prepare_start(&a->state_commit, on_state_commit);
                uv_unref((uv_handle_t *)&a->state_commit); /* runs each iteration, keeps nothing alive */
        }
        *ret = a;
        return 0;
fail:;
        bool closing = a->control != NULL;
        task_control_close(a->control); /* before log_api_stop; freed by the uv_run below */
        a->control = NULL;
        a->log_api = log_api_stop(a->log_api);
        if (a->gc || closing) {
                alloc_gc_close(a->gc);
                uv_run(&a->loop, UV_RUN_DEFAULT);
        }
        hashmap_destroy(a->runner_index);
        logmon_destroy(a->logmon);
        a->state = agent_state_close(a->state);
        node_unref(a->node);
        fingerprint_memo_free(a->fp_memo);
        json_decref(a->extra_updates);
        taskenv_user_clear(&a->user);
        uv_loop_close(&a->loop);
        free(a);
        return r;
}

int agent_run(struct agent *a) {
        uv_signal_start(&a->sigint, on_signal, SIGINT);
        uv_signal_start(&a->sigterm, on_signal, SIGTERM);
        log_info("drover-agent %s: node %s (%s), data dir %s, servers %s%s%s", DROVER_AGENT_VERSION, a->node->id,
                 a->node->name, a->cfg->data_dir, a->cfg->servers, a->node->http_addr ? ", logs on " : "",
                 a->node->http_addr ? a->node->http_addr : "");
        client_start(a->client);
        uint64_t every = (uint64_t)a->cfg->fingerprint_interval_ms;
        uv_timer_start(&a->fp_timer, on_fp_timer, every, every);
        uv_run(&a->loop, UV_RUN_DEFAULT);
        log_info("stopped");
        return a->exit_code;
}

struct agent *agent_destroy(struct agent *a) {
        if (!a)
                return NULL;
        if (!a->client_done && a->client) {
                /* Never ran: the client's handles still need closing. */
                task_control_close(a->control);
                a->control = NULL;
                a->log_api = log_api_stop(a->log_api);
                client_destroy(a->client);
                alloc_gc_close(a->gc);
                a->gc = NULL;
                uv_close((uv_handle_t *)&a->sigint, on_closed);
                uv_close((uv_handle_t *)&a->sigterm, on_closed);
                uv_close((uv_handle_t *)&a->gc_timer, on_closed);
                uv_close((uv_handle_t *)&a->stop_timer, on_closed);
                uv_close((uv_handle_t *)&a->fp_timer, on_closed);
                uv_close((uv_handle_t *)&a->dir_gc_timer, on_closed);
                uv_close((uv_handle_t *)&a->grace_timer, on_closed);
                uv_close((uv_handle_t *)&a->start_idle, on_closed);
                uv_close((uv_handle_t *)&a->state_commit, on_closed);
                uv_run(&a->loop, UV_RUN_DEFAULT);
        }
        log_api_stop(a->log_api);
        agent_state_close(a->state);
        logmon_destroy(a->logmon);
        uv_loop_close(&a->loop);
        free(a->runners);
        hashmap_destroy(a->runner_index);
        json_decref(a->extra_updates);
        node_unref(a->latest);
        node_unref(a->node);
        fingerprint_memo_free(a->fp_memo);
        taskenv_user_clear(&a->user);
        free(a);
        return NULL;
}
