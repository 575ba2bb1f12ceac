/* test_http_req.c - the answers every transport shares (controlplane/api/http_req.c):
 * a transport that records what reaches its ops->answer, and one that provides
 * only the required ops. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/api/http_req.h"

struct rec_req {
        struct http_req req; /* first */
        int answers;
        int status;
        char *buf;
        size_t len;
        const char *content_type;
        uint64_t index;
        char next_token[256]; /* the shared fields as answer saw them */
        bool leader_known;
        uint64_t last_contact_ms;
};

static const char *rec_query(const struct http_req *r, const char *key) {
        (void)r;
        return strcmp(key, "stale") == 0 ? "" : NULL;
}
static size_t rec_query_values(const struct http_req *r, const char *key, const char **ret, size_t max) {
        (void)r, (void)key, (void)ret, (void)max;
        return 0;
}
static bool rec_has_query(const struct http_req *r, const char *key) {
        return rec_query(r, key) != NULL;
}
static char *rec_query_string(const struct http_req *r) {
        (void)r;
        return strdup("stale");
}
static const char *rec_header(const struct http_req *r, const char *key) {
        (void)r, (void)key;
        return NULL;
}
static void rec_answer(struct http_req *req, int status, char *buf, size_t len, const char *content_type,
                       uint64_t index) {
        struct rec_req *r = (struct rec_req *)req;
        r->answers++;
        r->status = status;
        free(r->buf);
        r->buf = buf;
        r->len = len;
        r->content_type = content_type;
        r->index = index;
        memcpy(r->next_token, req->next_token, sizeof(r->next_token));
        r->leader_known = req->leader_known;
        r->last_contact_ms = req->last_contact_ms;
}

/* Only the required ops: no client_gone, no streams. */
static const struct http_req_ops rec_ops = {
    .query = rec_query,
    .query_values = rec_query_values,
    .has_query = rec_has_query,
    .query_string = rec_query_string,
    .header = rec_header,
    .answer = rec_answer,
};

static struct rec_req rec;

static void rec_init(void) {
        memset(&rec, 0, sizeof(rec));
        rec.req.ops = &rec_ops;
        rec.req.method = "GET";
        rec.req.path = "/v1/jobs";
}
static void rec_fini(void) {
        free(rec.buf);
}
TestSuite(http_req, .init = rec_init, .fini = rec_fini);

Test(http_req, json_answers_compact_json_and_null_for_no_body) {
        http_req_respond_json(&rec.req, 200, json_pack("{s:i}", "A", 1), 7);
        cr_assert_eq(rec.answers, 1);
        cr_expect_eq(rec.status, 200);
        cr_expect_str_eq(rec.buf, "{\"A\":1}");
        cr_expect_eq(rec.len, strlen("{\"A\":1}"));
        cr_expect_str_eq(rec.content_type, "application/json");
        cr_expect_eq(rec.index, 7);
        http_req_respond_json(&rec.req, 404, NULL, 0);
        cr_expect_str_eq(rec.buf, "null");
        cr_expect_eq(rec.len, 4);
}

Test(http_req, text_is_formatted_plain_text_without_an_index) {
        http_req_respond_text(&rec.req, 400, "job \"%s\": count must be >= 0 (got %d)", "web", -1);
        cr_assert_eq(rec.answers, 1);
        cr_expect_eq(rec.status, 400);
        cr_expect_str_eq(rec.buf, "job \"web\": count must be >= 0 (got -1)");
        cr_expect_eq(rec.len, strlen(rec.buf));
        cr_expect_str_eq(rec.content_type, "text/plain; charset=utf-8");
        cr_expect_eq(rec.index, 0);
}

Test(http_req, bytes_are_copied_with_a_terminating_nul_and_their_own_length) {
        char src[] = {'a', '\0', 'b'};
        http_req_respond_bytes(&rec.req, 200, "application/octet-stream", src, sizeof(src), 9);
        src[0] = 'x'; /* the answer owns a copy */
        cr_assert_eq(rec.len, 3);
        cr_expect_eq(memcmp(rec.buf, "a\0b", 3), 0);
        cr_expect_eq(rec.buf[3], '\0');
        cr_expect_eq(rec.index, 9);
        http_req_respond_raw(&rec.req, 200, "text/plain", "", 0);
        cr_expect_eq(rec.answers, 2);
        cr_expect_eq(rec.len, 0);
        cr_expect_str_eq(rec.buf, "");
        cr_expect_eq(rec.index, 0, "raw answers carry no index");
}

Test(http_req, the_answer_sees_next_token_and_leader_set_before_it) {
        char long_token[400];
        memset(long_token, 'n', sizeof(long_token) - 1);
        long_token[sizeof(long_token) - 1] = '\0';
        http_req_set_next_token(&rec.req, long_token);
        http_req_set_leader(&rec.req, true, 42);
        http_req_respond_json(&rec.req, 200, json_array(), 3);
        cr_expect_eq(strlen(rec.next_token), 255, "cut to 255 bytes");
        cr_expect(rec.leader_known);
        cr_expect_eq(rec.last_contact_ms, 42);
        http_req_set_next_token(&rec.req, NULL);
        cr_expect_str_eq(rec.req.next_token, "", "NULL clears it");
}

Test(http_req, shared_fields_and_a_transport_without_optional_ops) {
        static const char body[] = "{}";
        rec.req.body = body;
        rec.req.body_len = 2;
        size_t len = 99;
        cr_expect_str_eq(http_req_body(&rec.req, &len), "{}");
        cr_expect_eq(len, 2);
        rec.req.body = NULL;
        rec.req.body_len = 0;
        cr_expect_str_eq(http_req_body(&rec.req, NULL), "", "no body reads as empty");
        cr_expect_str_eq(http_req_method(&rec.req), "GET");
        cr_expect_str_eq(http_req_path(&rec.req), "/v1/jobs");
        cr_expect(http_req_has_query(&rec.req, "stale"));
        cr_expect_null(http_req_query(&rec.req, "index"));
        int slot;
        http_req_set_data(&rec.req, &slot);
        cr_expect_eq(http_req_data(&rec.req), &slot);
        cr_expect_not(http_req_client_gone(&rec.req), "no client_gone: the client never leaves");
        cr_expect_eq(http_req_stream_begin(&rec.req, 200, "application/json", 0, NULL, NULL), -EOPNOTSUPP);
        cr_expect_eq(http_req_stream_write(&rec.req, "x", 1), -EPIPE);
        http_req_stream_end(&rec.req, "x", 1);
        cr_expect_eq(http_req_stream_buffered(&rec.req), 0);
        cr_expect_eq(rec.answers, 0, "a refused stream leaves the request to be answered");
}
