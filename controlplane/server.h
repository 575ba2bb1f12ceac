/* server.h - the drover-server hub: one struct, built by main.c and passed
 * explicitly. The libuv loop thread owns it all: Raft, state-store writes,
 * the broker, the plan applier and HTTP handling. Scheduler workers run on
 * their own threads over immutable snapshots and talk to the loop through
 * worker.c's hand-off. The modules do not call the server: the FSM (fsm.h),
 * the routes (routes.h) and the workers (worker.h) get a table of callbacks
 * from server.c when it creates them. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "controlplane/config.h"

struct broker;
struct blocked_evals;
struct http_server;
struct http_req;
struct plan_predecode;
struct raft_node;
struct state_store;
struct workers;
struct heartbeats;
struct eval;
struct error;
struct fsm;
struct api;
struct cluster;
struct proposal_batch;
struct leadership;

struct server {
        uv_loop_t *loop;
        struct server_config *cfg;
        struct raft_node *raft;
        struct state_store *state; /* live; written only by fsm.c */
        struct broker *broker;
        struct blocked_evals *blocked;
        struct workers *workers;
        struct heartbeats *heartbeats;
        struct periodic *periodic; /* leader: periodic-job launches (leader/periodic.h) */
        struct fsm *fsm;
        struct plan_predecode *predecode; /* the leader's own plans, decoded ahead (raft/plan_predecode.h) */
        struct json_kept *kept;           /* the leader's own JSON commands, for its apply (raft/json_kept.h) */
        struct api *api;
        struct cluster *cluster; /* NULL for a lone server */
        struct http_server *http;
        struct http_server *agent_http; /* -agent-addr: node agents only; NULL when not set */
        struct leadership *leadership; /* leader duties start after a barrier (leader/leadership.h) */
        bool leader;                   /* the leader duties run (after the barrier) */
        bool stopping;
        uv_timer_t tick;       /* 100 ms: leadership, broker timers, heartbeats, query deadlines */
        uv_timer_t wake;       /* 0 ms: re-run parked blocking queries after a state change */
        bool wake_pending;
        uint64_t last_unblock_failed_ns; /* leader: last blocked_unblock_failed */
        uint64_t last_gc_ns;             /* leader: last periodic GC (monotonic) */
        bool gc_running;                 /* leader: a periodic GC run's commands are in flight */
        uint64_t last_acl_gc_ns;         /* leader: last look for expired ACL tokens (monotonic) */
        uint64_t last_secret_ns;         /* leader: last ServerSecretSet proposed (monotonic) */
        int64_t last_tick_ns;            /* monotonic time of the last tick (stall detection) */
        uv_signal_t sigint, sigterm;
        uv_check_t flush;                  /* after a turn's I/O: propose what it queued, as one entry */
        struct proposal_batch *proposals; /* queued for the next entry */
        bool raft_closing;                /* server_stop closed Raft; the HTTP daemon goes after it */
        int snapshot_saves;               /* GET /v1/operator/snapshot on the pool (they answer later) */
        int snapshot_restores;            /* PUT /v1/operator/snapshot bodies being checked on the pool */
        int gc_collects;                  /* GC runs collecting their commands on the pool */
        int api_offloads;                 /* the API's work on the pool (lists: api_ops.offload) */
        int plan_decodes;                 /* followers' plans being decoded on the pool (likewise) */
};

int server_start(struct server *s, struct error *err);
void server_stop(struct server *s);
