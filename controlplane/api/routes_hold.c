/* routes_hold.c - a request that finds no leader is held, not answered (Nomad's
 * rpc_hold_timeout, api_config.hold_timeout_ms): the server the client called
 * keeps it on a bounded list (hold.h) and runs it through api_handle again after
 * a short backoff or as soon as the leader changes (api_hold_kick), until it is
 * forwarded, proposed here, or its time is up; then the route answers as it would
 * without holding (500 "No cluster leader"). A held request holds no thread: it is
 * a slot of the list. Only what cannot have reached a leader is held: no leader
 * known, this server elected but its barrier not applied yet, a forward whose
 * connection could not be made or that the other server refused for want of a
 * leader, a proposal refused because this server no longer leads. */
#include <stdlib.h>

#include "common/clock.h"
#include "common/waitlist.h"
#include "controlplane/api/hold.h"
#include "controlplane/api/http_req.h"
#include "controlplane/api/routes_internal.h"

int api_hold_init(struct api *a, int64_t timeout_ms) {
        if (timeout_ms <= 0)
                return 0;
        const struct hold_config hc = {.max = API_HOLD_MAX,
                                       .backoff_min_ns = API_HOLD_BACKOFF_MIN_MS * NS_PER_MS,
                                       .backoff_max_ns = API_HOLD_BACKOFF_MAX_MS * NS_PER_MS,
                                       .seed = (uint64_t)clock_monotonic_ns() | 1};
        a->hold = hold_create(&hc);
        a->hold_timeout_ns = timeout_ms * NS_PER_MS;
        return a->hold ? 0 : -1;
}

bool api_hold_request(struct api *a, struct http_req *req) {
        /* the server the client called holds it; the one it forwarded to answers at once */
        if (!a || !a->hold || http_req_has_query(req, FORWARDED_ARG))
                return false;
        int64_t now = clock_monotonic_ns();
        bool first = req->held_since_ns == 0;
        int64_t since = first ? now : req->held_since_ns;
        if (now >= since + a->hold_timeout_ns)
                return false;
        if (hold_add(a->hold, &req->held_node, req->held_tries, since + a->hold_timeout_ns, now) < 0) {
                a->hold_refused++;
                return false;
        }
        req->held_since_ns = since;
        req->held_tries++;
        a->held_total += first;
        return true;
}

void api_hold_kick(struct api *a) {
        if (a && a->hold)
                hold_kick(a->hold);
}

/* Run a held request again: the route holds it again, forwards or proposes it, or
 * (its time up) answers it as without holding. */
static void hold_retry(void *arg, struct waitlist_node *w, enum waitlist_why why) {
        struct api *a = arg;
        struct http_req *req = waitlist_entry(w, struct http_req, held_node);
        if (http_req_client_gone(req)) {
                a->hold_gone++;
                http_req_respond_text(req, 503, "client went away");
                return;
        }
        if (why == WAITLIST_MARKED)
                req->held_tries = 0; /* a new leader: back off from the start again */
        api_handle(a, req);
}

void api_hold_wake(struct api *a) {
        /* those held again at this `now` wait for the next wake (due no sooner than now + backoff) */
        if (a && a->hold)
                hold_wake(a->hold, clock_monotonic_ns(), hold_retry, a);
}

size_t api_hold_count(const struct api *a) {
        return a ? hold_count(a->hold) : 0;
}

static void hold_answer_shutdown(void *arg, struct waitlist_node *w, enum waitlist_why why) {
        (void)arg;
        (void)why;
        http_req_respond_text(waitlist_entry(w, struct http_req, held_node), 503, "server shutting down");
}

void api_hold_drop(struct api *a) {
        if (a && a->hold)
                hold_release_all(a->hold, hold_answer_shutdown, NULL);
}

void api_hold_free(struct api *a) {
        api_hold_drop(a);
        a->hold = hold_destroy(a->hold);
}
