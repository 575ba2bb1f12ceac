/* routes_blocking.c - blocking queries: ?index=N&wait=D parks a read until the
 * table it reads moves past N or the wait ends (Nomad's default wait: 5 minutes,
 * capped at 10). Parked requests live on the api's list; api_wake_parked re-runs
 * them through api_handle, and once a second releases those whose client closed
 * its connection (they would otherwise hold a slot of the listener's max_parked
 * until their wait ends). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "controlplane/api/http.h"
#include "controlplane/api/routes_internal.h"

/* The X-Nomad-Index of a read of `table`: never 0, as in Nomad, so that a client that
 * blocks on the index it got waits instead of spinning on an empty table. */
uint64_t query_index(const struct route_ctx *c, enum state_table table) {
        uint64_t i = state_table_index(ctx_state(c), table);
        return i ? i : 1;
}

struct parked_query {
        struct http_req *req;
        enum state_table table;
        uint64_t (*index_of)(const struct state_store *st); /* NULL: the table's index */
        uint64_t min_index;
        int64_t deadline_ns; /* monotonic */
        bool expired;
        struct parked_query *next;
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

static void park(struct api *s, struct parked_query *pq) {
        pq->next = s->parked;
        s->parked = pq;
        s->n_parked++;
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
                if (pq->expired || pq_index(pq, ctx_state(c)) > pq->min_index) {
                        http_req_set_data(c->req, NULL);
                        free(pq);
                        return false;
                }
                park(c->s, pq);
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
        http_req_set_data(c->req, pq);
        park(c->s, pq);
        return true;
}

bool block_until_newer(struct route_ctx *c, enum state_table table) {
        return block_until(c, table, NULL);
}

bool block_until_newer_fn(struct route_ctx *c, uint64_t (*index_of)(const struct state_store *st)) {
        return block_until(c, STATE_TABLE_COUNT, index_of);
}

#define PARKED_CHECK_EVERY_NS NS_PER_SEC

void api_wake_parked(struct api *s, bool timeouts_only) {
        if (!s)
                return;
        api_drain_tick(s);
        api_deploy_tick(s);
        api_events_tick(s, clock_monotonic_ns());
        api_hold_wake(s);
        struct parked_query *list = s->parked;
        s->parked = NULL;
        s->n_parked = 0;
        int64_t now = clock_monotonic_ns();
        bool check_gone = now - s->parked_checked_ns >= PARKED_CHECK_EVERY_NS;
        if (check_gone)
                s->parked_checked_ns = now;
        while (list) {
                struct parked_query *pq = list;
                list = pq->next;
                pq->next = NULL;
                if (check_gone && http_req_client_gone(pq->req)) {
                        /* nobody reads the answer: it resumes the connection, which
                         * libmicrohttpd then closes, and gives back the listener's slot */
                        http_req_set_data(pq->req, NULL);
                        http_req_respond_text(pq->req, 503, "client went away");
                        free(pq);
                        s->parked_gone++;
                        continue;
                }
                pq->expired = now >= pq->deadline_ns;
                bool moved = pq_index(pq, *s->state) > pq->min_index;
                if (pq->expired || (!timeouts_only && moved))
                        api_handle(s, pq->req); /* re-parks itself if nothing is due */
                else
                        park(s, pq);
        }
}

void api_drop_parked(struct api *s) {
        if (!s)
                return;
        while (s->parked) {
                struct parked_query *pq = s->parked;
                s->parked = pq->next;
                s->n_parked--;
                http_req_set_data(pq->req, NULL);
                http_req_respond_text(pq->req, 503, "server shutting down");
                free(pq);
        }
        api_hold_drop(s);    /* held requests too */
        api_events_close(s); /* streams too, before the HTTP server goes */
}
