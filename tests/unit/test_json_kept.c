/* json_kept: the leader's own JSON commands, kept with their bytes for its FSM, which
 * applies the kept object for a part with exactly those bytes and parses any other. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "controlplane/raft/batch.h"
#include "controlplane/raft/fsm.h"
#include "controlplane/raft/json_kept.h"
#include "controlplane/raft/raft_node.h"
#include "controlplane/state/state.h"

/* cmd dumped as a proposal does it; *ret_len its length. */
static char *dump(json_t *cmd, size_t *ret_len) {
        char *s = json_dumps(cmd, JSON_COMPACT);
        cr_assert_not_null(s);
        *ret_len = strlen(s);
        return s;
}

/* The same for a command nobody keeps (released). */
static char *dump_free(json_t *cmd, size_t *ret_len) {
        char *s = dump(cmd, ret_len);
        json_decref(cmd);
        return s;
}

static char *keep(struct json_kept *k, json_t *cmd, size_t *ret_len) {
        char *bytes = dump(cmd, ret_len);
        char *copy = strdup(bytes);
        json_kept_put(k, copy, *ret_len, cmd);
        return bytes;
}

Test(json_kept, a_part_gets_the_object_its_bytes_were_dumped_from) {
        struct json_kept *k = json_kept_create();
        json_t *a = json_pack("{s:s,s:i}", "Type", "A", "N", 1), *b = json_pack("{s:s,s:i}", "Type", "B", "N", 2);
        size_t la, lb;
        char *ba = keep(k, a, &la), *bb = keep(k, b, &lb);
        cr_expect_eq(json_kept_count(k), 2);
        json_t *got = json_kept_take(k, ba, la);
        cr_expect_eq(got, a, "the very object, not a copy");
        json_decref(got);
        got = json_kept_take(k, bb, lb);
        cr_expect_eq(got, b);
        json_decref(got);
        cr_expect_eq(json_kept_count(k), 0);
        json_kept_destroy(k);
        free(ba);
        free(bb);
}

Test(json_kept, other_bytes_find_nothing_and_keep_what_is_kept) {
        struct json_kept *k = json_kept_create();
        size_t la;
        char *ba = keep(k, json_pack("{s:s}", "Type", "A"), &la);
        const char *other = "{\"Type\":\"B\"}"; /* same length, other bytes: another leader's entry */
        cr_assert_eq(strlen(other), la);
        cr_expect_null(json_kept_take(k, other, la));
        cr_expect_null(json_kept_take(k, ba, la - 1));
        cr_expect_eq(json_kept_count(k), 1, "nothing dropped for a part that is not kept");
        json_t *got = json_kept_take(k, ba, la);
        cr_expect_not_null(got);
        json_decref(got);
        json_kept_destroy(k);
        free(ba);
}

Test(json_kept, those_kept_before_the_one_taken_are_dropped) {
        struct json_kept *k = json_kept_create();
        size_t l[3];
        char *b[3];
        for (int i = 0; i < 3; i++)
                b[i] = keep(k, json_pack("{s:s,s:i}", "Type", "X", "I", i), &l[i]);
        json_t *got = json_kept_take(k, b[2], l[2]); /* the two before: proposals that failed */
        cr_expect_eq(json_integer_value(json_object_get(got, "I")), 2);
        json_decref(got);
        cr_expect_eq(json_kept_count(k), 0);
        cr_expect_null(json_kept_take(k, b[0], l[0]), "dropped");
        json_kept_destroy(k);
        for (int i = 0; i < 3; i++)
                free(b[i]);
}

Test(json_kept, bounded_by_count_and_scan) {
        struct json_kept *k = json_kept_create();
        size_t l0, l;
        char *first = keep(k, json_pack("{s:i}", "I", -1), &l0);
        for (int i = 0; i < JSON_KEPT_MAX; i++) {
                char *b = keep(k, json_pack("{s:i}", "I", i), &l);
                free(b);
        }
        cr_expect_eq(json_kept_count(k), JSON_KEPT_MAX);
        cr_expect_null(json_kept_take(k, first, l0), "the oldest was dropped for the newest");
        /* the last one is beyond JSON_KEPT_SCAN from the head: not looked for */
        json_t *last = json_pack("{s:i}", "I", JSON_KEPT_MAX - 1);
        char *lb = dump(last, &l);
        cr_expect_null(json_kept_take(k, lb, l));
        cr_expect_eq(json_kept_count(k), JSON_KEPT_MAX, "a miss drops nothing");
        json_decref(last);
        free(lb);
        free(first);
        json_kept_destroy(k);
}

Test(json_kept, an_object_too_large_is_not_kept) {
        struct json_kept *k = json_kept_create();
        char *big = malloc(JSON_KEPT_MAX_BYTES + 1);
        cr_assert_not_null(big);
        json_kept_put(k, big, JSON_KEPT_MAX_BYTES + 1, json_object()); /* both released */
        cr_expect_eq(json_kept_count(k), 0);
        json_kept_put(NULL, strdup("{}"), 2, json_object()); /* no store: released too */
        json_kept_destroy(k);
}

/* ---- the FSM applies the kept object ---- */

static int hook_calls, hook_hits;

static json_t *hook_json(void *data, const void *buf, size_t len) {
        hook_calls++;
        json_t *o = json_kept_take(data, buf, len);
        hook_hits += o != NULL;
        return o;
}

static json_t *node_cmd(const char *id, const char *name) {
        return json_pack("{s:s,s:{s:s,s:s,s:s,s:s,s:s}}", "Type", "NodeRegister", "Node", "ID", id, "SecretID", "s",
                         "Name", name, "Datacenter", "dc1", "Status", "ready");
}

/* The object the hook gives is what is applied: a kept object whose bytes say
 * otherwise (never the case in the server: they were dumped from it) shows which
 * one the FSM wrote. A part nobody kept is parsed. */
Test(json_kept, the_fsm_applies_the_kept_object_and_parses_the_rest) {
        struct json_kept *k = json_kept_create();
        struct state_store *st = state_create();
        struct fsm_hooks hooks = {.json_decoded = hook_json};
        struct fsm *f = fsm_create(&st, &hooks, k);
        size_t l1, l2;
        char *b1 = dump_free(node_cmd("00000000-0000-4000-8000-000000000001", "from-bytes"), &l1);
        json_kept_put(k, strdup(b1), l1, node_cmd("00000000-0000-4000-8000-000000000001", "kept"));
        char *b2 = dump_free(node_cmd("00000000-0000-4000-8000-000000000002", "parsed"), &l2);
        struct batch_part parts[2] = {{BATCH_JSON, b1, l1}, {BATCH_JSON, b2, l2}};
        void *entry = NULL;
        size_t len = 0;
        cr_assert_eq(batch_encode(parts, 2, &entry, &len), 0);
        struct error err = {0};
        cr_assert_eq(fsm_raft_ops.apply(f, 10, entry, len, &err), 0, "%s", err.msg);
        const char *msg = NULL;
        cr_expect_eq(fsm_batch_status(f, 10, 0, &msg), 0, "%s", msg ? msg : "");
        cr_expect_eq(fsm_batch_status(f, 10, 1, &msg), 0, "%s", msg ? msg : "");
        cr_expect_eq(hook_calls, 2);
        cr_expect_eq(hook_hits, 1);
        const struct node *n1 = state_node_get(st, "00000000-0000-4000-8000-000000000001");
        const struct node *n2 = state_node_get(st, "00000000-0000-4000-8000-000000000002");
        cr_assert(n1 && n2);
        cr_expect_str_eq(n1->name, "kept", "the kept object was applied, not parsed");
        cr_expect_str_eq(n2->name, "parsed");
        /* a lone command (an entry that is not a batch) takes the same way */
        size_t l3;
        char *b3 = dump_free(node_cmd("00000000-0000-4000-8000-000000000003", "lone-bytes"), &l3);
        json_kept_put(k, strdup(b3), l3, node_cmd("00000000-0000-4000-8000-000000000003", "lone-kept"));
        cr_assert_eq(fsm_raft_ops.apply(f, 11, b3, l3, &err), 0, "%s", err.msg);
        cr_expect_str_eq(state_node_get(st, "00000000-0000-4000-8000-000000000003")->name, "lone-kept");
        cr_expect_eq(json_kept_count(k), 0);
        fsm_destroy(f);
        state_destroy(st);
        json_kept_destroy(k);
        free(entry);
        free(b1);
        free(b2);
        free(b3);
}
