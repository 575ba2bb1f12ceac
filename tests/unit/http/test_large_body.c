/* test_large_body.c - the listener's body cap (controlplane/api/http.c): LIMIT_HTTP_BODY
 * for every request, and more only on a route large_body names, for a request
 * body_limit lets in on the loop once its body passed LIMIT_HTTP_BODY (the snapshot
 * restore's, for a management token). The handler answers the body's length, so a
 * body read whole is told from one cut. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "common/error.h"
#include "common/http_client.h"
#include "common/limits.h"
#include "controlplane/api/http.h"
#include "tests/support/http_loop.h"

#define GRANTED ((size_t)40 * 1024 * 1024)

static struct http_loop hl;
static atomic_int asked; /* body_limit calls */

static void handler(void *data, struct http_req *r) {
        (void)data;
        size_t len = 0;
        http_req_body(r, &len);
        http_req_respond_text(r, 200, "%zu", len);
}

static bool large_body(const char *method, const char *path) {
        return strcmp(method, "PUT") == 0 && strcmp(path, "/big") == 0;
}

/* Loop thread: the request's headers decide, as the API's ACL check does. */
static size_t body_limit(void *data, struct http_req *r) {
        (void)data;
        atomic_fetch_add(&asked, 1);
        const char *t = http_req_header(r, "X-Nomad-Token");
        return t && strcmp(t, "operator") == 0 ? GRANTED : 0;
}

static void start(void) {
        atomic_store(&asked, 0);
        struct http_server_opts o = {.addr = "127.0.0.1", .large_body = large_body, .body_limit = body_limit};
        http_loop_start(&hl, &o, handler, NULL);
}

static void stop(void) {
        http_loop_stop(&hl);
}

/* PUT size bytes to path (with the token when not NULL): the status, the answer in ret. */
static long put(const char *path, size_t size, const char *token, char *ret, size_t cap) {
        char *body = malloc(size);
        cr_assert_not_null(body);
        memset(body, 'x', size);
        char url[128], hdr[64];
        snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", hl.port, path);
        snprintf(hdr, sizeof(hdr), "X-Nomad-Token: %s", token ? token : "");
        const char *headers[] = {token ? hdr : NULL, NULL};
        struct http_response resp;
        struct error err = {0};
        int r = http_perform_body("PUT", url, body, size, "application/octet-stream", headers, 30000, 2000, NULL, NULL,
                                  &resp, &err);
        free(body);
        /* a refused body may end with the connection before curl sent it all */
        if (r < 0) {
                snprintf(ret, cap, "%s", err.msg);
                return 0;
        }
        snprintf(ret, cap, "%s", resp.body);
        long status = resp.status;
        http_response_clear(&resp);
        return status;
}

Test(http_large_body, the_usual_cap_holds_for_every_route_and_caller, .init = start, .fini = stop) {
        char out[256];
        cr_expect_eq(put("/small", 1000, NULL, out, sizeof(out)), 200);
        cr_expect_str_eq(out, "1000");
        cr_expect_eq(put("/small", LIMIT_HTTP_BODY, NULL, out, sizeof(out)), 200, "the cap itself is allowed");
        long st = put("/small", LIMIT_HTTP_BODY + 1, "operator", out, sizeof(out));
        cr_expect(st == 413 || st == 0, "another route: never more (%ld %s)", st, out);
        if (st == 413)
                cr_expect(strstr(out, "larger than 16777216 bytes"), "%s", out);
        st = put("/big", LIMIT_HTTP_BODY + 1, NULL, out, sizeof(out));
        cr_expect(st == 413 || st == 0, "the large route without the grant (%ld %s)", st, out);
        cr_expect_eq(atomic_load(&asked), 1, "asked once, for /big only");
}

Test(http_large_body, a_granted_caller_sends_more_up_to_its_grant, .init = start, .fini = stop) {
        char out[256];
        cr_expect_eq(put("/big", 1000, "operator", out, sizeof(out)), 200);
        cr_expect_eq(atomic_load(&asked), 0, "a body under the usual cap asks nothing");
        size_t size = 3 * LIMIT_HTTP_BODY / 2;
        cr_expect_eq(put("/big", size, "operator", out, sizeof(out)), 200, "%s", out);
        char want[32];
        snprintf(want, sizeof(want), "%zu", size);
        cr_expect_str_eq(out, want, "read whole");
        cr_expect_eq(put("/big", GRANTED, "operator", out, sizeof(out)), 200, "%s", out);
        long st = put("/big", GRANTED + 1, "operator", out, sizeof(out));
        cr_expect(st == 413 || st == 0, "past the grant (%ld %s)", st, out);
        if (st == 413)
                cr_expect(strstr(out, "larger than 41943040 bytes"), "%s", out);
        cr_expect_eq(put("/small", 10, NULL, out, sizeof(out)), 200, "the listener still serves");
}
