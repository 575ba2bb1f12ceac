/* test_heartbeat.c - node TTL bookkeeping on the leader. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/leader/heartbeat.h"

#define S 1000000000LL

Test(heartbeat, missed_ttl_plus_grace_expires_once) {
        struct heartbeats *h = heartbeats_create(10 * S, 10 * S);
        cr_assert_eq(heartbeats_reset(h, "a", 0), 10 * S);
        heartbeats_reset(h, "b", 5 * S);
        char **ids = NULL;
        cr_assert_eq(heartbeats_expired(h, 19 * S, &ids), 0, "expired before TTL + grace");
        free(ids);
        cr_assert_eq(heartbeats_expired(h, 20 * S, &ids), 1);
        cr_assert_str_eq(ids[0], "a");
        free(ids[0]);
        free(ids);
        cr_assert_eq(heartbeats_expired(h, 21 * S, &ids), 0, "reported twice");
        free(ids);
        /* A heartbeat pushes the deadline out. */
        heartbeats_reset(h, "b", 20 * S);
        cr_assert_eq(heartbeats_expired(h, 30 * S, &ids), 0);
        free(ids);
        heartbeats_remove(h, "b");
        cr_assert_eq(heartbeats_count(h), 0);
        heartbeats_destroy(h);
}

Test(heartbeat, ttl_grows_with_cluster_size) {
        struct heartbeats *h = heartbeats_create(10 * S, 0);
        char id[32];
        for (int i = 0; i < 1000; i++) {
                snprintf(id, sizeof(id), "n%d", i);
                heartbeats_reset(h, id, 0);
        }
        /* 1000 nodes at 50 heartbeats/s: 20 s. */
        cr_assert_eq(heartbeats_ttl(h), 20 * S);
        heartbeats_destroy(h);
}

Test(heartbeat, a_stall_of_the_loop_postpones_every_deadline) {
        struct heartbeats *h = heartbeats_create(10 * S, 10 * S);
        heartbeats_reset(h, "a", 0);
        heartbeats_reset(h, "b", 0);
        /* the loop stood still from 5 s to 35 s: the heartbeats sent meanwhile are
         * queued, not lost; the nodes are not to blame */
        heartbeats_postpone(h, 30 * S);
        char **ids = NULL;
        cr_expect_eq(heartbeats_expired(h, 35 * S, &ids), 0, "no mass node-down after a stall");
        free(ids);
        cr_expect_eq(heartbeats_expired(h, 50 * S, &ids), 2, "deadlines still hold, 30 s later");
        for (int i = 0; i < 2; i++)
                free(ids[i]);
        free(ids);
        heartbeats_destroy(h);
}

Test(heartbeat, a_failed_node_down_is_retried_at_its_deadline) {
        struct heartbeats *h = heartbeats_create(10 * S, 10 * S);
        heartbeats_reset(h, "a", 0);
        char **ids = NULL;
        cr_assert_eq(heartbeats_expired(h, 20 * S, &ids), 1);
        free(ids[0]);
        free(ids);
        /* the proposal to mark it down failed: try again one second later */
        heartbeats_retry_at(h, "a", 21 * S);
        cr_expect_eq(heartbeats_count(h), 1);
        cr_expect_eq(heartbeats_expired(h, 20 * S + S / 2, &ids), 0);
        free(ids);
        cr_expect_eq(heartbeats_expired(h, 21 * S, &ids), 1, "expired again at the retry deadline");
        free(ids[0]);
        free(ids);
        heartbeats_destroy(h);
}
