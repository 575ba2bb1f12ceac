/* test_api_members.c - /v1/agent/members through the in-process harness: each
 * member's Status is what this server knows of it (itself, the leader it hears
 * from, the others by how long ago they last answered), and its Tags are Nomad's. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdarg.h>
#include <string.h>

#include "tests/support/api_harness.h"

API_HARNESS_SUITE(api_members, s);

/* GET /v1/agent/members of server "s1" in this region and datacenter (the routes
 * re-created with them, and with the Raft hooks the test set). */
static json_t *members(const char *region, const char *datacenter) {
        cr_assert_eq(api_harness_set_identity(s, region, datacenter, "s1"), 0);
        struct api_reply r;
        api_harness_request(s, "GET", "/v1/agent/members", NULL, 0, &r);
        cr_assert_eq(r.status, 200);
        json_t *j = json_loads(r.body ? r.body : "", 0, NULL);
        api_reply_clear(&r);
        cr_assert_not_null(j);
        return j;
}

/* The member whose Port is port, or NULL. */
static json_t *member_at(json_t *j, int port) {
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(j, "Members"), i, m) {
                if (json_integer_value(json_object_get(m, "Port")) == port)
                        return m;
        }
        return NULL;
}

static const char *tag(const json_t *m, const char *key) {
        const char *v = json_string_value(json_object_get(json_object_get(m, "Tags"), key));
        return v ? v : "(none)";
}

static const char *status(const json_t *m) {
        const char *v = json_string_value(json_object_get(m, "Status"));
        return v ? v : "(none)";
}

/* The member of j at port is there, with this Status and these Tags: "key",
 * "value" pairs, then NULL. */
__attribute__((sentinel)) static void expect_member(json_t *j, int port, const char *want_status, ...) {
        const json_t *m = member_at(j, port);
        cr_assert_not_null(m, "no member at :%d in %s", port, json_dumps(j, 0));
        cr_expect_str_eq(status(m), want_status, "member at :%d: Status", port);
        va_list ap;
        va_start(ap, want_status);
        for (const char *key; (key = va_arg(ap, const char *));) {
                const char *want = va_arg(ap, const char *);
                cr_expect_str_eq(tag(m, key), want, "member at :%d: Tags.%s", port, key);
        }
        va_end(ap);
}

Test(api_members, a_lone_server_is_alive_with_nomads_tags) {
        json_t *j = members("eu-west", "dc-a");
        expect_member(j, 4647, "alive", "role", "nomad", "region", "eu-west", "dc", "dc-a", "port", "4647", "rpc_addr",
                      "127.0.0.1", "raft_vsn", "3", NULL);
        cr_expect_str_neq(tag(member_at(j, 4647), "build"), "(none)");
        json_decref(j);
}

/* Three voters: 7 (the leader, 127.0.0.1:5647), 1 (this follower, :4647) and 9
 * (:6647); 9 speaks Raft protocol 2. */
static json_t *three_servers(struct api_harness *h) {
        (void)h;
        return json_pack("{s:I,s:[{s:s,s:s,s:b,s:b,s:s},{s:s,s:s,s:b,s:b,s:s},{s:s,s:s,s:b,s:b,s:s}]}", "Index",
                         (json_int_t)5, "Servers", "ID", "7", "Address", "127.0.0.1:5647", "Leader", true, "Voter",
                         true, "RaftProtocol", "3", "ID", "1", "Address", "127.0.0.1:4647", "Leader", false, "Voter",
                         true, "RaftProtocol", "3", "ID", "9", "Address", "127.0.0.1:6647", "Leader", false, "Voter",
                         true, "RaftProtocol", "2");
}

/* The follower heard from the leader 40 ms ago (Raft); by its probes, the leader
 * answered long ago (it is alive all the same: Raft hears it) and 9 answered
 * long ago too: 9 is failed. */
static json_t *nine_silent(struct api_harness *h) {
        (void)h;
        return json_pack("{s:I,s:b,s:s,s:I,s:[{s:I,s:s,s:s,s:I},{s:I,s:s,s:s,s:I},{s:I,s:s,s:s}]}", "ID", (json_int_t)1,
                         "IsLeader", false, "Leader", "127.0.0.1:5647", "LastContact", (json_int_t)40, "Servers", "ID",
                         (json_int_t)7, "HTTPAddr", "127.0.0.1:5646", "Name", "s7", "LastContact", (json_int_t)60000,
                         "ID", (json_int_t)9, "HTTPAddr", "127.0.0.1:6646", "Name", "s9", "LastContact",
                         (json_int_t)60000, "ID", (json_int_t)1, "HTTPAddr", "127.0.0.1:4646", "Name", "s1");
}

/* The leader not heard for a minute, by Raft nor by probes; 9 answered a second ago. */
static json_t *leader_silent(struct api_harness *h) {
        (void)h;
        return json_pack("{s:I,s:b,s:s,s:I,s:[{s:I,s:s,s:s,s:I},{s:I,s:s,s:s,s:I}]}", "ID", (json_int_t)1, "IsLeader",
                         false, "Leader", "127.0.0.1:5647", "LastContact", (json_int_t)60000, "Servers", "ID",
                         (json_int_t)9, "HTTPAddr", "127.0.0.1:6646", "Name", "s9", "LastContact", (json_int_t)1000,
                         "ID", (json_int_t)7, "HTTPAddr", "127.0.0.1:5646", "Name", "s7", "LastContact",
                         (json_int_t)60000);
}

Test(api_members, a_peer_silent_for_long_is_failed_the_leader_heard_through_raft_alive) {
        s->raft_configuration = three_servers;
        s->raft_self = nine_silent;
        json_t *j = members("global", "dc1");
        expect_member(j, 4647, "alive", "id", "1", NULL);
        expect_member(j, 5647, "alive", "id", "7", "leader", "true", "raft_vsn", "3", NULL);
        expect_member(j, 6647, "failed", "id", "9", "raft_vsn", "2", "port", "6647", NULL);
        json_decref(j);
}

Test(api_members, a_peer_that_answers_is_alive_a_silent_leader_failed) {
        s->raft_configuration = three_servers;
        s->raft_self = leader_silent;
        json_t *j = members("global", "dc1");
        expect_member(j, 6647, "alive", NULL);
        expect_member(j, 5647, "failed", NULL);
        json_decref(j);
}
