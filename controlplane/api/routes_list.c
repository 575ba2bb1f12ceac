/* routes_list.c - the list options every list endpoint takes, applied to the
 * list it built (after ?prefix): ?filter (common/filter.h, compiled once per
 * request, 400 with the column of a syntax error), then the order by ID and
 * ?next_token / ?per_page pagination (X-Nomad-NextToken: the ID the next page
 * starts at), as Nomad's paginator. The list is built, paged and serialised on
 * libuv's pool from a snapshot of the state (api_ops.offload), at most
 * LIST_BUILDS_MAX at once, the others waiting in order: a list of every allocation
 * of a large cluster takes seconds to encode, and the loop must not stop for it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/dlist.h"
#include "common/error.h"
#include "common/filter.h"
#include "common/json_fast.h"
#include "common/macros.h"
#include "controlplane/api/http.h"
#include "controlplane/api/routes_internal.h"
#include "controlplane/state/state.h"

#define PER_PAGE_MAX 100000

static const char *id_of(const json_t *o) {
        const char *id = json_string_value(json_object_get(o, "ID"));
        return id ? id : "";
}

static int by_id(const void *a, const void *b) {
        return strcmp(id_of(*(json_t *const *)a), id_of(*(json_t *const *)b));
}

/* ?per_page: 0 (no pages) when absent; -1 after a 400. */
static long per_page(struct route_ctx *c) {
        const char *v = http_req_query(c->req, "per_page");
        if (!v || !*v)
                return 0;
        char *end;
        errno = 0;
        long n = strtol(v, &end, 10);
        if (errno || *end || n < 0 || n > PER_PAGE_MAX || *v == '-' || *v == '+') {
                http_req_respond_text(c->req, 400, "Invalid per_page: \"%s\" (expected 0 to %d)", v, PER_PAGE_MAX);
                return -1;
        }
        return n;
}

/* One list request: what its build may read (copied: the request's strings stay on
 * the loop), the options applied after it, and its answer. */
struct list_build {
        struct dlink link; /* api->lists_waiting, while it waits for a place on the pool */
        struct api *api;
        struct http_req *req;
        list_build_fn build;
        struct state_store *st; /* a snapshot (off the loop), or the live state (inline) */
        bool own_st;            /* st is a snapshot, destroyed after the build */
        char *prefix, *ns, *key, *arg, *token;
        struct filter *f;
        long page;
        uint64_t index;
        char *body; /* the answer, JSON; NULL: out of memory */
        size_t len;
        char next[256]; /* X-Nomad-NextToken, or "" */
};

/* The list arr (borrowed) with the filter, the order by ID and the page applied; the
 * ID the next page starts at in next ("" on the last page). */
static json_t *list_page(json_t *arr, const struct filter *f, long page, const char *token, char *next,
                         size_t next_size) {
        size_t n = json_array_size(arr);
        _cleanup_free_ json_t **items = n ? malloc(n * sizeof(*items)) : NULL;
        if (n && !items)
                return NULL;
        size_t kept = 0;
        for (size_t i = 0; i < n; i++) {
                json_t *o = json_array_get(arr, i);
                if (!f || filter_match(f, o))
                        items[kept++] = o;
        }
        if (kept > 1)
                qsort(items, kept, sizeof(*items), by_id);
        size_t start = 0;
        if (token && *token)
                while (start < kept && strcmp(id_of(items[start]), token) < 0)
                        start++;
        json_t *out = json_array();
        size_t end = page > 0 && kept - start > (size_t)page ? start + (size_t)page : kept;
        for (size_t i = start; out && i < end; i++)
                json_array_append(out, items[i]);
        snprintf(next, next_size, "%s", end < kept ? id_of(items[end]) : "");
        return out;
}

/* Build, page and serialise (on the pool, or inline): reads only b. */
static void list_work(void *arg) {
        struct list_build *b = arg;
        struct list_ctx l = {.st = b->st, .prefix = b->prefix, .ns = b->ns, .key = b->key, .arg = b->arg,
                             .out = json_array()};
        if (l.out)
                b->build(&l);
        json_t *page = l.out ? list_page(l.out, b->f, b->page, b->token, b->next, sizeof(b->next)) : NULL;
        b->body = page ? json_fast_dumps(page, JSON_COMPACT) : NULL;
        b->len = b->body ? strlen(b->body) : 0;
        json_decref(page);
        json_decref(l.out);
        if (b->own_st)
                b->st = state_destroy(b->st);
}

static void list_build_free(struct list_build *b) {
        if (b->own_st)
                state_destroy(b->st);
        filter_free(b->f);
        free(b->prefix);
        free(b->ns);
        free(b->key);
        free(b->arg);
        free(b->token);
        free(b->body);
        free(b);
}

static void list_start(struct api *a, struct list_build *b);

/* The answer, on the loop; the next list waiting takes the place on the pool. */
static void list_done(void *arg, bool canceled) {
        struct list_build *b = arg;
        struct api *a = b->api;
        if (canceled || !b->body) {
                http_req_respond_text(b->req, 500, "%s", canceled ? "the list was canceled" : "out of memory");
        } else {
                http_req_set_next_token(b->req, b->next[0] ? b->next : NULL);
                http_req_respond_owned(b->req, 200, "application/json", b->body, b->len, b->index);
                b->body = NULL;
        }
        list_build_free(b);
        if (a) {
                a->lists_building--;
                struct list_build *w = dlist_shift_entry(&a->lists_waiting, struct list_build, link);
                if (w)
                        list_start(a, w);
        }
}

/* On the pool from a snapshot of the state, when the server has one (an O(1) copy:
 * the loop goes on serving while thousands of objects are encoded); inline
 * otherwise. */
static void list_start(struct api *a, struct list_build *b) {
        if (a->ops->offload) {
                b->st = state_snapshot(*a->state);
                b->own_st = true;
                if (b->st && a->ops->offload(a->data, list_work, list_done, b) == 0) {
                        b->api = a;
                        a->lists_building++;
                        return;
                }
                b->st = state_destroy(b->st);
                b->own_st = false;
        }
        b->st = *a->state;
        list_work(b);
        list_done(b, false);
}

static char *dup_or_null(const char *s) {
        return s ? strdup(s) : NULL;
}

void list_offload(struct route_ctx *c, list_build_fn build, const char *key, const char *arg, uint64_t index) {
        long page = per_page(c);
        if (page < 0)
                return;
        const char *expr = http_req_query(c->req, "filter");
        struct filter *f = NULL;
        if (expr && *expr) {
                struct error err = {0};
                int r = filter_compile(expr, &f, &err);
                if (r < 0) {
                        http_req_respond_text(c->req, r == -ENOMEM ? 500 : 400, "failed to read filter expression: %s",
                                              r == -ENOMEM ? "out of memory" : err.msg);
                        return;
                }
        }
        struct list_build *b = calloc(1, sizeof(*b));
        if (b)
                *b = (struct list_build){.req = c->req, .build = build, .f = f, .page = page, .index = index,
                                         .prefix = dup_or_null(http_req_query(c->req, "prefix")),
                                         .ns = dup_or_null(ns_of(c)), .key = dup_or_null(key), .arg = dup_or_null(arg),
                                         .token = dup_or_null(http_req_query(c->req, "next_token"))};
        if (!b || (http_req_query(c->req, "prefix") && !b->prefix) || (ns_of(c) && !b->ns) || (key && !b->key) ||
            (arg && !b->arg) || (http_req_query(c->req, "next_token") && !b->token)) {
                if (b)
                        list_build_free(b);
                else
                        filter_free(f);
                http_req_respond_text(c->req, 500, "out of memory");
                return;
        }
        if (c->s->ops->offload && c->s->lists_building >= LIST_BUILDS_MAX) {
                dlist_append(&c->s->lists_waiting, &b->link); /* started by the next list_done */
                return;
        }
        list_start(c->s, b);
}

void api_drop_lists(struct api *a) {
        struct list_build *b;
        while ((b = dlist_shift_entry(&a->lists_waiting, struct list_build, link))) {
                http_req_respond_text(b->req, 503, "server shutting down");
                list_build_free(b);
        }
}
