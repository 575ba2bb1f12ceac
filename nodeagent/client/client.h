/* client.h - the agent's side of the server HTTP API.
 *
 * Register, heartbeat at about half the TTL, watch this node's allocations as
 * a blocking query, and send batched allocation updates. Every HTTP call runs
 * on libuv's thread pool (uv_queue_work) with its own curl handle; results
 * come back to the loop thread, which owns all state. The long poll and the
 * heartbeats are separate calls, so a held watch never delays a heartbeat.
 * Servers that cannot be reached are retried with backoff (rotating through
 * -servers); tasks are unaffected.
 */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct alloc;
struct error;
struct node;
struct client;

/* What the client saw of the servers (client_ops.servers). */
enum client_event {
        CLIENT_WATCH_ANSWER, /* a watch answer, at index; before its allocations are handed over */
        CLIENT_REREGISTERED, /* the servers did not know the node (404); it registered again */
        CLIENT_CALL_FAILED,  /* a call failed: unreachable, or an error answer */
};

struct client_ops {
        /* The server's current list of this node's allocations (full objects),
         * after each answer of the watch. Borrowed for the call. */
        void (*allocs)(struct alloc **allocs, size_t n, void *data);
        /* Optional: while the changed allocations of one answer are fetched in
         * batches, each batch but the last as it comes (borrowed for the call), so
         * that new ones start before the rest arrive. Only some of the node's
         * allocations: an allocation missing here is not gone. allocs follows with
         * the whole list once every batch is in. */
        void (*allocs_partial)(struct alloc **allocs, size_t n, void *data);
        /* Take the pending allocation updates: the text of a JSON array of
         * {"ID","ClientStatus","ClientDescription","TaskStates"} (malloc'd, the
         * caller frees it) and in *ret_count how many, or NULL when there is none. */
        char *(*collect_updates)(size_t *ret_count, void *data);
        /* A batch could not be delivered: mark these allocation IDs pending again
         * (allocs: the collected text, parsed). */
        void (*requeue_updates)(const json_t *allocs, void *data);
        /* Optional: each event of enum client_event, index only for
         * CLIENT_WATCH_ANSWER (its X-Nomad-Index; 0 for the others). The agent tells
         * a server data loss from them (nodeagent/server_loss.h). */
        void (*servers)(enum client_event ev, uint64_t index, void *data);
        void *data;
};

/* servers: the -servers list. node: registered as is (a reference is taken). */
int client_create(uv_loop_t *loop, const char *servers, struct node *node, const struct client_ops *ops,
                  struct client **ret, struct error *err);
/* The servers' node registration secret, sent with every registration (before
 * client_start; NULL or "" sends none). 0 or -ENOMEM. */
int client_set_registration_secret(struct client *c, const char *secret);
void client_start(struct client *c);
/* The node was fingerprinted again and changed: register it again (a
 * reference is taken), right away or after the register/heartbeat in flight. */
void client_update_node(struct client *c, struct node *node);
/* Some allocation changed: send an update within about 50 ms (coalesced). */
void client_updates_pending(struct client *c);
/* Stop heartbeats and the watch, abort calls in flight, send one last batch
 * of updates (within flush_timeout_ms), then call done on the loop. */
void client_shutdown(struct client *c, uint64_t flush_timeout_ms, void (*done)(void *data), void *data);
/* After done was called (or before client_start). Frees asynchronously. */
void client_destroy(struct client *c);
