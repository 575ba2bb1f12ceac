/* leave.c - see leave.h. */
#include "controlplane/raft/leave.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "common/clock.h"
#include "common/http_client.h"
#include "common/log.h"
#include "controlplane/api/routes.h"
#include "controlplane/raft/cluster.h"
#include "controlplane/raft/raft_node.h"
#include "controlplane/state/state_acl.h"

#define LEAVE_STEP_MS 100

struct leave {
        struct leave_config cfg;
        uv_timer_t timer;
        int64_t deadline_ns;
        bool transferring; /* asked libraft to hand leadership over */
        bool in_flight;    /* a removal request on the pool */
        bool finished;     /* done was called */
        bool timer_closed;
        char last[160]; /* why the last step did not succeed, for the timeout's message */
};

static void maybe_free(struct leave *l) {
        if (l->finished && l->timer_closed && !l->in_flight)
                free(l);
}

static void on_timer_closed(uv_handle_t *h) {
        struct leave *l = h->data;
        l->timer_closed = true;
        maybe_free(l);
}

static void finish(struct leave *l, int status, const char *msg) {
        if (l->finished)
                return;
        l->finished = true;
        uv_timer_stop(&l->timer);
        uv_close((uv_handle_t *)&l->timer, on_timer_closed);
        l->cfg.done(l->cfg.arg, status, msg);
}

static void on_removed(void *arg, int status, const struct http_response *resp, const char *why) {
        struct leave *l = arg;
        l->in_flight = false;
        if (l->finished) {
                maybe_free(l);
                return;
        }
        if (status == 200) {
                finish(l, 0, "the leader removed this server from the Raft configuration");
                return;
        }
        if (status < 0)
                snprintf(l->last, sizeof(l->last), "the leader could not be reached: %.120s", why ? why : "");
        else
                snprintf(l->last, sizeof(l->last), "the leader answered %d: %.100s", status,
                         resp && resp->body ? resp->body : "");
        log_debug("leave: %s; asking again", l->last);
}

/* Where this server stands in the configuration: false when it is not in it. */
static bool find_self(struct raft_node *rn, uint64_t id, bool *ret_voter, size_t *ret_voters) {
        struct raft_node_peer *peers = NULL;
        size_t n = 0;
        bool in = false;
        *ret_voter = false;
        *ret_voters = 0;
        if (raft_node_peers(rn, &peers, &n) < 0)
                return true; /* no memory: as if still in it; the next step looks again */
        for (size_t i = 0; i < n; i++) {
                *ret_voters += peers[i].voter;
                if (peers[i].id == id) {
                        in = true;
                        *ret_voter = peers[i].voter;
                }
        }
        free(peers);
        return in;
}

static void ask_leader(struct leave *l, struct raft_node *rn, struct cluster *c, int64_t now) {
        uint64_t leader = 0;
        raft_node_leader_address(rn, &leader);
        const char *http = leader ? cluster_http_addr(c, leader) : NULL;
        if (!http) {
                snprintf(l->last, sizeof(l->last), "no leader known");
                return;
        }
        const char *secret = *l->cfg.state ? state_acl_server_secret(*l->cfg.state) : NULL;
        char path[96];
        snprintf(path, sizeof(path), "/v1/internal/raft/peer?id=%" PRIu64 "&%s=1", l->cfg.id, FORWARDED_ARG);
        unsigned left_ms = (unsigned)((l->deadline_ns - now) / NS_PER_MS);
        int r = cluster_call_server(c, http, "DELETE", path, secret, left_ms, on_removed, l);
        if (r < 0) {
                snprintf(l->last, sizeof(l->last), "cannot ask the leader (%s): %s", http,
                         r == -EACCES ? "the servers' secret is not known yet" : strerror(-r));
                return;
        }
        l->in_flight = true;
}

static void step(uv_timer_t *t) {
        struct leave *l = t->data;
        struct raft_node *rn = *l->cfg.raft;
        struct cluster *c = *l->cfg.cluster;
        if (!rn || !c) {
                finish(l, -ECANCELED, "the server stopped before it left the Raft configuration");
                return;
        }
        bool voter;
        size_t voters;
        if (!find_self(rn, l->cfg.id, &voter, &voters)) {
                finish(l, 0, "this server is no longer in the Raft configuration");
                return;
        }
        if (voter && voters <= 1) {
                finish(l, -EBUSY, "this server is the only voter: it stays in the configuration");
                return;
        }
        int64_t now = clock_monotonic_ns();
        if (now >= l->deadline_ns) {
                char msg[256];
                snprintf(msg, sizeof(msg), "not removed within %u ms (%s); stopping anyway, still in the configuration",
                         l->cfg.timeout_ms, l->last[0] ? l->last : "no answer");
                finish(l, -ETIMEDOUT, msg);
                return;
        }
        if (raft_node_is_leader(rn)) {
                int r = raft_node_transfer(rn);
                if (r < 0)
                        snprintf(l->last, sizeof(l->last), "cannot hand leadership over: %s", strerror(-r));
                else if (!l->transferring)
                        log_info("leave: this server is the leader: handing leadership over first");
                l->transferring = r == 0;
        } else if (!l->in_flight) {
                raft_node_no_campaign(rn);
                ask_leader(l, rn, c, now);
        }
        uv_timer_start(&l->timer, step, LEAVE_STEP_MS, 0);
}

int leave_start(const struct leave_config *cfg) {
        struct leave *l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->cfg = *cfg;
        if (!l->cfg.timeout_ms)
                l->cfg.timeout_ms = LEAVE_TIMEOUT_MS;
        l->deadline_ns = clock_monotonic_ns() + (int64_t)l->cfg.timeout_ms * NS_PER_MS;
        uv_timer_init(cfg->loop, &l->timer);
        l->timer.data = l;
        uv_timer_start(&l->timer, step, 0, 0);
        return 0;
}
