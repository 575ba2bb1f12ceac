/* cluster.h - how a drover-server finds the other servers and becomes one of them.
 *
 * With -join (HTTP addresses of other servers) the server asks each, every
 * second, who it is (GET /v1/internal/raft/self). With -bootstrap-expect N it
 * waits until N servers (itself included) know no cluster yet, then every one
 * of them bootstraps Raft with the same N voters (IDs and addresses sorted), so
 * that they all hold the same first configuration. When a server that answers
 * already has a cluster (or there is no -bootstrap-expect), this one starts
 * Raft empty and asks the leader to add it (PUT /v1/operator/raft/join); the
 * leader adds it and promotes it to voter once it has caught up.
 *
 * The HTTP requests run on libuv's thread pool (common/http_client.c), never on
 * the loop; each has a 2 s timeout and a bounded answer. The module also keeps
 * the HTTP address of every server it heard of, by Raft ID, for forwarding. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A server's name or datacenter as servers tell each other: longer ones are not kept. */
#define CLUSTER_NAME_MAX 128
/* Once a member, a server asks every other it knows about itself this often. */
#define CLUSTER_PROBE_EVERY_MS 5000

struct cluster;
struct raft_node_peer;
struct uv_loop_s;

struct cluster_ops {
        /* Start Raft: n > 0, bootstrap with these voters; n == 0, start empty and
         * wait to be added by the leader. Negative on failure (the server stops). */
        int (*start_raft)(void *data, const struct raft_node_peer *voters, size_t n);
};

struct cluster_config {
        struct uv_loop_s *loop;
        uint64_t id;               /* this server's Raft ID */
        const char *raft_addr;     /* this server's Raft address */
        const char *http_addr;     /* this server's HTTP address */
        const char *agent_addr;    /* this server's node agents' listener (-agent-addr; NULL or "": none) */
        const char *name;          /* this server's -name ("" or NULL: the host's name) */
        const char *datacenter;    /* this server's -dc ("" or NULL: "dc1") */
        const char *join;          /* comma-separated HTTP addresses of other servers */
        unsigned bootstrap_expect; /* 0: join an existing cluster */
        bool tls;                  /* the servers' HTTP API is https:// (-tls-http) */
        /* -join-token (copied): presented as X-Drover-Join-Token on the probes of
         * /v1/internal/raft/self, on /v1/operator/raft/join and on a forward of a
         * join to the leader; NULL or "": none */
        const char *join_token;
        const struct cluster_ops *ops;
        void *data;
};

struct cluster *cluster_create(const struct cluster_config *cfg);
/* Begin: with raft_started (a restart over existing Raft state) only learn the
 * other servers' HTTP addresses; else discover, then bootstrap or join. */
void cluster_start(struct cluster *c, bool raft_started);
/* Stops the timer; a probe in flight finishes on the pool and is dropped. Every
 * forward not answered yet is answered at once: cb(arg, -ECANCELED, ...). */
struct cluster *cluster_destroy(struct cluster *c);

/* The HTTP address of the server with this Raft ID, or NULL when unknown. */
const char *cluster_http_addr(const struct cluster *c, uint64_t id);
/* The address of the node agents' listener (-agent-addr) of the server with this
 * Raft ID, or NULL when it has none or it is unknown: a node agent's call that a
 * follower forwards goes there, out of reach of the public listener's floods. */
const char *cluster_agent_addr(const struct cluster *c, uint64_t id);
/* Record the agents' listener a known server told (from a peer's answer, or this
 * server's own at create); kept only when it is an IP:port other than an
 * unspecified one (0.0.0.0, [::]), else that server's forwards use its HTTP address. */
void cluster_learn_agent(struct cluster *c, uint64_t id, const char *agent_addr);
/* Record a server's HTTP address (from a join request or a peer's answer). */
void cluster_learn(struct cluster *c, uint64_t id, const char *http_addr);
/* The same with the name and datacenter it told (NULL: not told; a known one stays;
 * one of CLUSTER_NAME_MAX bytes or more, or with a control character, is not kept). */
void cluster_learn_member(struct cluster *c, uint64_t id, const char *http_addr, const char *name,
                          const char *datacenter);
/* [{ID, HTTPAddr, AgentAddr, Name, Datacenter, LastContact}] of every server known
 * (new reference); AgentAddr, Name and Datacenter only where told (older servers
 * and servers without -agent-addr do not);
 * LastContact: milliseconds since that server last answered this one's probe
 * (servers probe each other every CLUSTER_PROBE_EVERY_MS once members), only for
 * another server that ever answered. This server's own entry is among them: it is
 * how a server describes itself to the others in /v1/internal/raft/self. */
json_t *cluster_servers_json(const struct cluster *c);
/* Send a request to another server's HTTP API from the event loop (a libcurl multi
 * handle on it, raft/curl_loop.c; at most 32 in flight, the others wait their turn;
 * GET and PUT on connections kept to that server between requests, closed when
 * requests go to another server; 30 s timeout, answers up to 64 MiB, a longer one
 * an error): cb(arg, status, resp, NULL) with its answer (body, X-Nomad-Index
 * and the other X-Nomad-* headers: common/http_client.h), or cb(arg, negative,
 * NULL, why) when it could not be reached; called once, at the latest from
 * cluster_destroy (-ECANCELED), never after it. */
struct http_response;
typedef void (*cluster_forward_cb)(void *arg, int status, const struct http_response *resp, const char *why);
/* The path and query of a request forwarded to the leader: the query (re-encoded,
 * "a=b&c=d") plus forwarded_arg=1, so that it is not sent on again. A blocking query
 * (blocking: it has ?index) waits at most 25 s at the leader, within the 30 s
 * forwarding timeout: its "wait" (Nomad's "30s", "500ms", "5m", a bare number is
 * seconds) is replaced by the smaller of it and 25 s (25 s when absent or malformed).
 * malloc'd; NULL when out of memory. */
char *cluster_forward_target(const char *path, const char *query, bool blocking, const char *wait,
                             const char *forwarded_arg);
/* token: the request's X-Nomad-Token, sent on (NULL or "": none); -EINVAL when
 * longer than HTTP_CLIENT_TOKEN_MAX or holding a line break. */
int cluster_forward(struct cluster *c, const char *http_addr, const char *method, const char *path_query,
                    const char *body, size_t len, const char *token, cluster_forward_cb cb, void *arg);
/* Longest servers' secret cluster_call_server sends (SECRET_HASH_HEX's 64 digits). */
#define CLUSTER_SECRET_MAX 64
/* A server's own call to another server's internal route (PERM_SERVER): the same
 * as cluster_forward without a body, presenting the servers' secret (the
 * replicated state's; -EACCES when NULL or "", -EINVAL when longer than
 * CLUSTER_SECRET_MAX), and answered within timeout_ms (at least 100), so that its
 * caller can stop waiting on time (raft/leave.c). */
int cluster_call_server(struct cluster *c, const char *http_addr, const char *method, const char *path_query,
                        const char *secret, unsigned timeout_ms, cluster_forward_cb cb, void *arg);
/* "discovering", "joining", "member" */
const char *cluster_phase(const struct cluster *c);
