/* test_agent_update_text.c - an allocation's status update written as text
 * (nodeagent/alloc/update_text.c) says what common/model_json.c's tree says. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/model.h"
#include "nodeagent/alloc/update_text.h"

static json_t *parse(struct text_buf *b) {
        char *text = text_buf_take(b);
        cr_assert_not_null(text);
        json_error_t je;
        json_t *j = json_loads(text, JSON_DECODE_ANY, &je);
        cr_assert_not_null(j, "not JSON (%s): %s", je.text, text);
        free(text);
        return j;
}

Test(agent_update_text, says_what_the_jansson_tree_said) {
        struct task_event ev1[] = {
            {.type = "Received", .message = "Task received by client", .time = 1764700000123456789LL},
            {.type = "Started", .message = "Task started by client", .time = 1764700000223456789LL},
            {.type = "Terminated",
             .message = "Exit Code: 3, Signal: 9",
             .time = 1764700001000000001LL,
             .exit_code = 3,
             .signal = 9},
        };
        struct task_event ev2[] = {{.type = NULL, .message = NULL, .time = 0}};
        struct task_state ts[] = {
            {.name = "web",
             .state = TASK_DEAD,
             .failed = true,
             .restarts = 2,
             .started_at = 1764700000223456789LL,
             .finished_at = 1764700001000000001LL,
             .events = ev1,
             .n_events = 3},
            {.name = "side car \"q\"", .state = TASK_PENDING, .events = ev2, .n_events = 1},
            {.name = "idle", .state = TASK_RUNNING},
        };
        struct text_buf b = {0};
        update_text_write(&b, "0b3c-id", "failed", "Failed tasks", ts, 3);
        json_t *got = parse(&b);
        json_t *want = json_pack("{s:s,s:s,s:s,s:o}", "ID", "0b3c-id", "ClientStatus", "failed", "ClientDescription",
                                 "Failed tasks", "TaskStates", task_states_to_json(ts, 3));
        cr_assert_not_null(want);
        char *g = json_dumps(got, JSON_SORT_KEYS), *w = json_dumps(want, JSON_SORT_KEYS);
        cr_assert(json_equal(got, want), "got %s\nwant %s", g, w);
        free(g);
        free(w);
        /* What a reader of the update uses, read back. */
        const json_t *term =
            json_array_get(json_object_get(json_object_get(json_object_get(got, "TaskStates"), "web"), "Events"), 2);
        cr_assert_str_eq(json_string_value(json_object_get(json_object_get(term, "Details"), "exit_code")), "3");
        cr_assert_eq(json_integer_value(json_object_get(term, "Time")), 1764700001000000001LL);
        json_decref(got);
        json_decref(want);
}

Test(agent_update_text, strings_are_escaped_and_bad_utf8_replaced) {
        struct text_buf b = {0};
        /* quote, backslash, controls, a 2- and a 4-byte character, then bytes that are
         * not UTF-8: a lone continuation byte, an overlong '/', a surrogate, a cut sequence */
        text_buf_json_str(&b, "a\"b\\c\n\t\x01 \xc3\xa9 \xf0\x9f\x98\x80 \x80 \xc0\xaf \xed\xa0\x80 \xe2\x82");
        json_t *s = parse(&b);
        cr_assert(json_is_string(s));
        cr_assert_str_eq(json_string_value(s),
                         "a\"b\\c\n\t\x01 \xc3\xa9 \xf0\x9f\x98\x80 \xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd "
                         "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd");
        json_decref(s);
        text_buf_json_str(&b, NULL);
        char *t = text_buf_take(&b);
        cr_assert_str_eq(t, "\"\"");
        free(t);
}

Test(agent_update_text, a_body_past_the_limit_is_not_sent) {
        struct text_buf b = {0};
        size_t n = 1024 * 1024;
        char *chunk = malloc(n + 1);
        cr_assert_not_null(chunk);
        memset(chunk, 'x', n);
        chunk[n] = '\0';
        for (size_t i = 0; i < TEXT_BUF_MAX / n + 1 && !b.failed; i++)
                text_buf_puts(&b, chunk);
        free(chunk);
        cr_assert(b.failed);
        cr_assert_null(text_buf_take(&b));
        cr_assert_eq(b.len, 0);
        cr_assert_null(b.data);
}
