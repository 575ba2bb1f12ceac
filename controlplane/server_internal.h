/* server_internal.h - what server.c shares with the files that carry its parts
 * (server_gc.c, server_sched.c); not for the rest of the server: they reach it through the ops
 * tables server.c gives them. */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "controlplane/api/routes.h"
#include "controlplane/leader/gc.h"
#include "controlplane/server.h"

/* Called with a proposal's result: status 0 (or the first rejection), the index
 * it was applied at, a message for a rejection. */
typedef void (*server_apply_cb)(void *arg, int status, uint64_t index, const char *msg);

/* Queue cmd (stolen) for the next Raft entry; cb (may be NULL) gets its result
 * once applied. -EAGAIN when this server is not the leader, -ECANCELED when it
 * is stopping, -E2BIG past an entry's bounds, -ENOMEM. */
int server_propose(struct server *s, json_t *cmd, server_apply_cb cb, void *arg);

/* Once stopping: close the HTTP listeners when nothing the server started (Raft,
 * snapshot saves and restores, GC collections, plan decodes) still runs; each of
 * those calls it as it ends. */
void server_finish_stop(struct server *s);

/* Start a GC run with thresholds t: collected on libuv's pool, then proposed one
 * command at a time. cb NULL: the periodic run (s->gc_running while it lasts);
 * else PUT /v1/system/gc, answered through cb after its last command. */
int server_gc_start(struct server *s, const struct gc_thresholds *t, api_apply_cb cb, void *arg);

/* api_ops.gc: a forced run with zero thresholds, as Nomad's. */
int server_gc_op(void *data, api_apply_cb cb, void *arg);

/* api_ops.sched_plan and api_ops.sched_rpc (server_sched.c): the leader's side of
 * the other servers' scheduler workers. */
void server_sched_plan_op(void *data, struct http_req *req, const struct api_sched_plan *f, const void *body,
                          size_t len);
void server_sched_rpc_op(void *data, const char *what, struct http_req *req, const json_t *body);
