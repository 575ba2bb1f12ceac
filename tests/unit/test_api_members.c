/* test_api_members.c - /v1/agent/members through the in-process harness: each
 * member's Status is what this server knows of it (itself, the leader it hears
 * from, the others by how long ago they last answered), and its Tags are Nomad's. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "tests/support/api_harness.h"

API_HARNESS_SUITE(api_members, s);

static json_t *members(void) {
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

Test(api_members, a_lone_server_is_alive_with_nomads_tags) {
        cr_assert_eq(api_harness_set_identity(s, "eu-west", "dc-a", "s1"), 0);
        json_t *j = members();
        json_t *m = member_at(j, 4647);
        cr_assert_not_null(m, "%s", json_dumps(j, 0));
        cr_expect_str_eq(status(m), "alive");
        cr_expect_str_eq(tag(m, "role"), "nomad");
        cr_expect_str_eq(tag(m, "region"), "eu-west");
        cr_expect_str_eq(tag(m, "dc"), "dc-a");
        cr_expect_str_eq(tag(m, "port"), "4647");
        cr_expect_str_eq(tag(m, "rpc_addr"), "127.0.0.1");
        cr_expect_str_eq(tag(m, "raft_vsn"), "3");
        cr_expect_str_neq(tag(m, "build"), "(none)");
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
        cr_assert_eq(api_harness_set_identity(s, "global", "dc1", "s1"), 0);
        json_t *j = members();
        json_t *self = member_at(j, 4647), *leader = member_at(j, 5647), *nine = member_at(j, 6647);
        cr_assert(self && leader && nine, "%s", json_dumps(j, 0));
        cr_expect_str_eq(status(self), "alive");
        cr_expect_str_eq(status(leader), "alive");
        cr_expect_str_eq(status(nine), "failed");
        cr_expect_str_eq(tag(self, "id"), "1");
        cr_expect_str_eq(tag(leader, "id"), "7");
        cr_expect_str_eq(tag(nine, "id"), "9");
        cr_expect_str_eq(tag(leader, "leader"), "true");
        cr_expect_str_eq(tag(nine, "raft_vsn"), "2");
        cr_expect_str_eq(tag(leader, "raft_vsn"), "3");
        cr_expect_str_eq(tag(nine, "port"), "6647");
        json_decref(j);
}

Test(api_members, a_peer_that_answers_is_alive_a_silent_leader_failed) {
        s->raft_configuration = three_servers;
        s->raft_self = leader_silent;
        cr_assert_eq(api_harness_set_identity(s, "global", "dc1", "s1"), 0);
        json_t *j = members();
        json_t *leader = member_at(j, 5647), *nine = member_at(j, 6647);
        cr_assert(leader && nine, "%s", json_dumps(j, 0));
        cr_expect_str_eq(status(nine), "alive");
        cr_expect_str_eq(status(leader), "failed");
        json_decref(j);
}
