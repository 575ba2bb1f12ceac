/* heartbeat.h - the leader's node heartbeat deadlines (pure: time is passed in).
 * A node that misses its TTL plus the grace period is reported expired once;
 * the server then marks it down through Raft. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct heartbeats;

struct heartbeats *heartbeats_create(int64_t min_ttl_ns, int64_t grace_ns);
struct heartbeats *heartbeats_destroy(struct heartbeats *h);

/* The TTL a node is told to heartbeat within: max(min_ttl, n_nodes / 50 per second),
 * like Nomad, so a large cluster does not flood the leader. */
int64_t heartbeats_ttl(const struct heartbeats *h);

/* Record a heartbeat from node_id at now; returns the TTL to hand back. */
int64_t heartbeats_reset(struct heartbeats *h, const char *node_id, int64_t now_ns);
void heartbeats_remove(struct heartbeats *h, const char *node_id);
void heartbeats_clear(struct heartbeats *h);
size_t heartbeats_count(const struct heartbeats *h);

/* Move every deadline delta_ns later: the time the server's loop could not read
 * heartbeats (a stall) does not count against the nodes. */
void heartbeats_postpone(struct heartbeats *h, int64_t delta_ns);
/* Track node_id again with this exact deadline: a node-down proposal that failed
 * is retried when it comes (unless a heartbeat arrives first). */
void heartbeats_retry_at(struct heartbeats *h, const char *node_id, int64_t deadline_ns);

/* Collect (and forget) the nodes whose deadline passed. *ret is a malloc'd
 * array of malloc'd ids; returns how many. */
size_t heartbeats_expired(struct heartbeats *h, int64_t now_ns, char ***ret);
