/* test_leadership.c - a new leader starts its duties only from a Raft barrier's
 * completion, in the term that sent it; a lost leadership is revoked; nothing
 * runs after stop. Raft is a fake driven by the test. */
#include <criterion/criterion.h>
#include <errno.h>

#include "controlplane/leader/leadership.h"

struct fake_raft {
        bool leader;
        uint64_t term;
        int barriers;     /* sent */
        int barrier_fail; /* > 0: the next sends fail at once */
        int established, revoked;
        uint64_t established_index;
};

static bool fake_leader(void *data, uint64_t *ret_term) {
        struct fake_raft *f = data;
        *ret_term = f->term;
        return f->leader;
}

static int fake_barrier(void *data) {
        struct fake_raft *f = data;
        if (f->barrier_fail > 0) {
                f->barrier_fail--;
                return -EAGAIN;
        }
        f->barriers++;
        return 0;
}

static void fake_establish(void *data, uint64_t index) {
        struct fake_raft *f = data;
        f->established++;
        f->established_index = index;
}

static void fake_revoke(void *data) {
        ((struct fake_raft *)data)->revoked++;
}

static const struct leadership_ops ops = {
    .raft_leader = fake_leader, .barrier = fake_barrier, .establish = fake_establish, .revoke = fake_revoke};

Test(leadership, duties_start_from_the_barrier_not_from_the_election) {
        struct fake_raft f = {0};
        struct leadership *l = leadership_create(&ops, &f);
        leadership_observe(l);
        cr_assert_eq(f.barriers, 0, "a follower sends no barrier");
        f.leader = true, f.term = 3;
        leadership_observe(l);
        cr_assert_eq(f.barriers, 1);
        cr_assert_eq(f.established, 0, "elected is not enough: the state may lack committed entries");
        cr_assert_not(leadership_established(l));
        leadership_observe(l);
        leadership_observe(l);
        cr_assert_eq(f.barriers, 1, "one barrier in flight at a time");
        leadership_barrier_done(l, 0, 42);
        cr_assert_eq(f.established, 1);
        cr_assert_eq(f.established_index, 42, "the duties know the state's applied index");
        cr_assert(leadership_established(l));
        leadership_observe(l);
        cr_assert_eq(f.barriers, 1, "no barrier while established in the same term");
        cr_assert_eq(f.established, 1);
        leadership_destroy(l);
}

Test(leadership, lost_while_the_barrier_commits_does_nothing) {
        struct fake_raft f = {.leader = true, .term = 5};
        struct leadership *l = leadership_create(&ops, &f);
        leadership_observe(l);
        cr_assert_eq(f.barriers, 1);
        f.leader = false; /* stepped down; libraft may still report the barrier applied */
        leadership_barrier_done(l, 0, 10);
        cr_assert_eq(f.established, 0, "no duties after leadership was lost");
        /* won again in a later term: the old term's barrier does not count */
        f.leader = true, f.term = 7;
        leadership_observe(l);
        cr_assert_eq(f.barriers, 2, "a new term sends its own barrier");
        f.term = 8; /* lost and won once more before it completed */
        leadership_barrier_done(l, 0, 12);
        cr_assert_eq(f.established, 0, "a barrier of term 7 does not start term 8's duties");
        leadership_observe(l);
        cr_assert_eq(f.barriers, 3);
        leadership_barrier_done(l, 0, 15);
        cr_assert_eq(f.established, 1);
        cr_assert_eq(f.established_index, 15);
        cr_assert_eq(f.revoked, 0, "nothing was established before, nothing to revoke");
        leadership_destroy(l);
}

Test(leadership, failed_barrier_is_retried_and_loss_is_revoked) {
        struct fake_raft f = {.leader = true, .term = 2, .barrier_fail = 1};
        struct leadership *l = leadership_create(&ops, &f);
        leadership_observe(l);
        cr_assert_eq(f.barriers, 0, "the first send failed");
        cr_assert_not(leadership_barrier_pending(l));
        leadership_observe(l);
        cr_assert_eq(f.barriers, 1, "retried at the next look");
        leadership_barrier_done(l, -EIO, 0);
        cr_assert_eq(f.established, 0, "a failed barrier starts nothing");
        leadership_observe(l);
        cr_assert_eq(f.barriers, 2, "and is sent again while this server leads");
        leadership_barrier_done(l, 0, 9);
        cr_assert_eq(f.established, 1);
        f.leader = false;
        leadership_observe(l);
        cr_assert_eq(f.revoked, 1);
        cr_assert_not(leadership_established(l));
        leadership_observe(l);
        cr_assert_eq(f.revoked, 1, "revoked once");
        /* lost and won again between two looks: the old term's duties end, a barrier first */
        f.leader = true, f.term = 4;
        leadership_observe(l);
        leadership_barrier_done(l, 0, 20);
        cr_assert_eq(f.established, 2);
        f.term = 6;
        leadership_observe(l);
        cr_assert_eq(f.revoked, 2, "a new term without a look in between is revoked too");
        cr_assert_eq(f.barriers, 4);
        cr_assert_eq(f.established, 2, "and re-established only after its barrier");
        leadership_destroy(l);
}

Test(leadership, nothing_runs_after_stop) {
        struct fake_raft f = {.leader = true, .term = 1};
        struct leadership *l = leadership_create(&ops, &f);
        leadership_observe(l);
        leadership_stop(l);
        leadership_barrier_done(l, 0, 3); /* Raft closing completes the barrier */
        cr_assert_eq(f.established, 0, "a stopping server starts no leader duty");
        leadership_observe(l);
        cr_assert_eq(f.barriers, 1);
        leadership_destroy(l);
}
