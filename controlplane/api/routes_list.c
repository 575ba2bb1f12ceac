/* routes_list.c - the list options every list endpoint takes, applied to the
 * list it built (after ?prefix): ?filter (common/filter.h, compiled once per
 * request, 400 with the column of a syntax error), then the order by ID and
 * ?next_token / ?per_page pagination (X-Nomad-NextToken: the ID the next page
 * starts at), as Nomad's paginator. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/filter.h"
#include "common/macros.h"
#include "controlplane/api/http.h"
#include "controlplane/api/routes_internal.h"

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

void list_respond(struct route_ctx *c, json_t *arr, uint64_t index) {
        long page = per_page(c);
        if (page < 0) {
                json_decref(arr);
                return;
        }
        const char *expr = http_req_query(c->req, "filter");
        struct filter *f = NULL;
        if (expr && *expr) {
                struct error err = {0};
                int r = filter_compile(expr, &f, &err);
                if (r < 0) {
                        json_decref(arr);
                        http_req_respond_text(c->req, r == -ENOMEM ? 500 : 400, "failed to read filter expression: %s",
                                              r == -ENOMEM ? "out of memory" : err.msg);
                        return;
                }
        }
        size_t n = json_array_size(arr);
        _cleanup_free_ json_t **items = n ? malloc(n * sizeof(*items)) : NULL;
        if (n && !items) {
                filter_free(f);
                json_decref(arr);
                http_req_respond_text(c->req, 500, "out of memory");
                return;
        }
        size_t kept = 0;
        for (size_t i = 0; i < n; i++) {
                json_t *o = json_array_get(arr, i);
                if (!f || filter_match(f, o))
                        items[kept++] = o;
        }
        filter_free(f);
        if (kept > 1)
                qsort(items, kept, sizeof(*items), by_id);
        const char *token = http_req_query(c->req, "next_token");
        size_t start = 0;
        if (token && *token)
                while (start < kept && strcmp(id_of(items[start]), token) < 0)
                        start++;
        json_t *out = json_array();
        size_t end = page > 0 && kept - start > (size_t)page ? start + (size_t)page : kept;
        for (size_t i = start; i < end; i++)
                json_array_append(out, items[i]);
        http_req_set_next_token(c->req, end < kept ? id_of(items[end]) : NULL);
        json_decref(arr);
        http_req_respond_json(c->req, 200, out, index);
}
