/* routes_blocking.c - blocking queries: ?index=N&wait=D parks a read until the
 * table it reads moves past N or the wait ends (Nomad's default wait: 5 minutes,
 * capped at 10). Parked requests wait on the api's waitlist (common/waitlist.h,
 * unbounded there: the listener's max_parked bounds them); api_wake_parked re-runs
 * them through api_handle, and once a second releases those whose client closed
 * its connection (they would otherwise hold a slot of the listener's max_parked
 * until their wait ends). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/waitlist.h"
#include "controlplane/api/http.h"
#include "controlplane/api/routes_internal.h"

/* The X-Nomad-Index of a read of `table`: never 0, as in Nomad, so that a client that
 * blocks on the index it got waits instead of spinning on an empty table. */
uint64_t query_index(const struct route_ctx *c, enum state_table table) {
        uint64_t i = state_table_index(ctx_state(c), table);
        return i ? i : 1;
}

struct parked_query {
        struct waitlist_node node; /* on api->parked */
        struct http_req *req;
        enum state_table table;
        uint64_t (*index_of)(const struct state_store *st); /* NULL: the table's index */
        uint64_t min_index;
        int64_t deadline_ns; /* monotonic */
        bool expired;
        bool gone; /* its client went away (found by a wake) */
};

static uint64_t pq_index(const struct parked_query *pq, const struct state_store *st) {
        return pq->index_of ? pq->index_of(st) : state_table_index(st, pq->table);
}

/* ?wait=: "5s", "500ms", "2m", "1h" (a bare number is seconds); missing: Nomad's 5
 * minutes; capped at 10 minutes. -1 when malformed. */
int64_t parse_wait_ns(const char *w) {
        if (!w || !*w)
                return 300LL * NS_PER_SEC;
        char *end;
        errno = 0;
        double v = strtod(w, &end);
        if (errno || end == w || !isfinite(v) || v < 0) /* "nan", "inf": refused before any cast */
                return -1;
        int64_t mult;
        if (!*end || strcmp(end, "s") == 0)
                mult = NS_PER_SEC;
        else if (strcmp(end, "ms") == 0)
                mult = NS_PER_MS;
        else if (strcmp(end, "m") == 0)
                mult = 60 * NS_PER_SEC;
        else if (strcmp(end, "h") == 0)
                mult = 3600 * NS_PER_SEC;
        else
                return -1;
        double ns = v * (double)mult;
        return ns > 600.0 * NS_PER_SEC ? 600LL * NS_PER_SEC : (int64_t)ns;
}

/* True when pq waits on the list (it cannot fail but for a bug: unbounded there). */
static bool park(struct api *s, struct parked_query *pq) {
        return waitlist_add(s->parked, &pq->node, clock_monotonic_ns(), pq->deadline_ns) == 0;
}

static void unpark(struct http_req *req, struct parked_query *pq) {
        http_req_set_data(req, NULL);
        free(pq);
}

/* True when the request was parked (the handler returns and runs again later) or
 * answered 400 for a malformed ?index or ?wait. */
static bool block_until(struct route_ctx *c, enum state_table table,
                        uint64_t (*index_of)(const struct state_store *st)) {
        const struct parked_query probe = {.table = table, .index_of = index_of};
        const char *idx = http_req_query(c->req, "index");
        if (!idx)
                return false;
        struct parked_query *pq = http_req_data(c->req);
        char *end;
        errno = 0;
        uint64_t min = strtoull(idx, &end, 10);
        if (!pq && (errno || end == idx || *end || *idx == '-')) {
                http_req_respond_text(c->req, 400, "Invalid index: \"%s\" (expected a Raft index, 0 or more)", idx);
                return true;
        }
        int64_t wait_ns = parse_wait_ns(http_req_query(c->req, "wait"));
        if (!pq && wait_ns < 0) {
                http_req_respond_text(c->req, 400,
                                      "Invalid wait time: \"%s\" (expected a duration such as 5s or 500ms)",
                                      http_req_query(c->req, "wait"));
                return true;
        }
        if (pq) {
                /* Re-run after a wake: answer if expired or moved, else stay parked. */
                if (pq->expired || pq_index(pq, ctx_state(c)) > pq->min_index || !park(c->s, pq)) {
                        unpark(c->req, pq);
                        return false;
                }
                return true;
        }
        if (min == 0 || pq_index(&probe, ctx_state(c)) > min)
                return false;
        pq = calloc(1, sizeof(*pq));
        if (!pq)
                return false;
        pq->req = c->req;
        pq->table = table;
        pq->index_of = index_of;
        pq->min_index = min;
        pq->deadline_ns = clock_monotonic_ns() + wait_ns;
        if (!park(c->s, pq)) {
                free(pq);
                return false;
        }
        http_req_set_data(c->req, pq);
        return true;
}

bool block_until_newer(struct route_ctx *c, enum state_table table) {
        return block_until(c, table, NULL);
}

bool block_until_newer_fn(struct route_ctx *c, uint64_t (*index_of)(const struct state_store *st)) {
        return block_until(c, STATE_TABLE_COUNT, index_of);
}

#define PARKED_CHECK_EVERY_NS NS_PER_SEC

struct wake {
        struct api *s;
        bool check_gone; /* look at the parked clients' sockets */
        bool moved;      /* wake those whose index moved (else only the expired ones) */
};

/* A parked query is due when its client went away (answered so), or its index moved. */
static bool parked_due(void *arg, struct waitlist_node *w) {
        const struct wake *k = arg;
        struct parked_query *pq = waitlist_entry(w, struct parked_query, node);
        if (k->check_gone && http_req_client_gone(pq->req)) {
                pq->gone = true;
                return true;
        }
        return k->moved && pq_index(pq, *k->s->state) > pq->min_index;
}

static void parked_answer(void *arg, struct waitlist_node *w, enum waitlist_why why) {
        const struct wake *k = arg;
        struct parked_query *pq = waitlist_entry(w, struct parked_query, node);
        if (pq->gone) {
                /* nobody reads the answer: it resumes the connection, which
                 * libmicrohttpd then closes, and gives back the listener's slot */
                struct http_req *req = pq->req;
                unpark(req, pq);
                http_req_respond_text(req, 503, "client went away");
                k->s->parked_gone++;
                return;
        }
        pq->expired = why == WAITLIST_EXPIRED;
        api_handle(k->s, pq->req); /* re-parks itself if nothing is due */
}

void api_wake_parked(struct api *s, bool timeouts_only) {
        if (!s)
                return;
        api_drain_tick(s);
        api_deploy_tick(s);
        api_events_tick(s, clock_monotonic_ns());
        api_hold_wake(s);
        int64_t now = clock_monotonic_ns();
        struct wake k = {
            .s = s, .check_gone = now - s->parked_checked_ns >= PARKED_CHECK_EVERY_NS, .moved = !timeouts_only};
        if (k.check_gone)
                s->parked_checked_ns = now;
        waitlist_sweep(s->parked, now, k.check_gone || k.moved ? parked_due : NULL, parked_answer, &k);
}

static void parked_answer_shutdown(void *arg, struct waitlist_node *w, enum waitlist_why why) {
        (void)arg;
        (void)why;
        struct parked_query *pq = waitlist_entry(w, struct parked_query, node);
        struct http_req *req = pq->req;
        unpark(req, pq);
        http_req_respond_text(req, 503, "server shutting down");
}

void api_drop_parked(struct api *s) {
        if (!s)
                return;
        waitlist_release_all(s->parked, parked_answer_shutdown, NULL);
        api_hold_drop(s);    /* held requests too */
        api_drop_lists(s);   /* and lists waiting for the pool */
        api_events_close(s); /* streams too, before the HTTP server goes */
}
