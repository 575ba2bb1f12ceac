/* test_raft_tls.c - Raft over mutual TLS (controlplane/raft/transport_tls.c):
 * three voters with certificates of the cluster CA elect one leader and
 * replicate; a voter whose certificate comes from another CA, or lacks the
 * server role, never lets a two-voter cluster elect anyone (its vote never
 * arrives) and receives nothing. Certificates: tests/security/pem/raft. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <raft.h>
#include <raft/uv.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "common/error.h"
#include "controlplane/raft/raft_node.h"
#include "controlplane/raft/transport_tls.h"

#define PEM "tests/security/pem/raft/"

static const struct transport_tls_config good = {.ca_file = PEM "ca/nomad-agent-ca.pem",
                                                 .cert_file = PEM "ca/global-server-nomad.pem",
                                                 .key_file = PEM "ca/global-server-nomad-key.pem"};
static const struct transport_tls_config other_ca = {.ca_file = PEM "other/nomad-agent-ca.pem",
                                                     .cert_file = PEM "other/global-server-nomad.pem",
                                                     .key_file = PEM "other/global-server-nomad-key.pem"};
/* the cluster's CA, but a CLI certificate: no server.global.nomad */
static const struct transport_tls_config no_role = {.ca_file = PEM "ca/nomad-agent-ca.pem",
                                                    .cert_file = PEM "ca/global-cli-nomad.pem",
                                                    .key_file = PEM "ca/global-cli-nomad-key.pem"};

struct counter {
        int applied;
};

static int c_apply(void *data, uint64_t index, const void *buf, size_t len, struct error *err) {
        (void)index, (void)buf, (void)len, (void)err;
        ((struct counter *)data)->applied++;
        return 0;
}
static int c_snap_begin(void *data, void **ret_view) {
        (void)data;
        *ret_view = NULL;
        return 0;
}
static int c_snap_write(void *view, void **ret_buf, size_t *ret_len) {
        (void)view;
        *ret_buf = strdup("0");
        *ret_len = 1;
        return 0;
}
static void c_snap_end(void *view) {
        (void)view;
}
static int c_restore(void *data, const void *buf, size_t len) {
        (void)data, (void)buf, (void)len;
        return 0;
}
static const struct raft_fsm_ops ops = {.apply = c_apply,
                                        .snapshot_begin = c_snap_begin,
                                        .snapshot_write = c_snap_write,
                                        .snapshot_end = c_snap_end,
                                        .restore = c_restore};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void)st, (void)flag, (void)ftw;
        return remove(path);
}

/* A base port with n free ones above it (loopback). */
static int free_ports(int n) {
        for (int i = 0; i < 200; i++) {
                int base = 33000 + (int)((getpid() * 7919 + i * 104729) % 9000);
                bool ok = true;
                for (int k = 0; k < n && ok; k++) {
                        int fd = socket(AF_INET, SOCK_STREAM, 0);
                        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)(base + k))};
                        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
                        ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
                        close(fd);
                }
                if (ok)
                        return base;
        }
        return 0;
}

#define MAX_N 3

struct cluster {
        int n;
        struct raft_node *rn[MAX_N];
        struct counter f[MAX_N];
        uv_timer_t t;
        int ticks, max_ticks;
        int in_flight, acked, closed;
        int ever_leader; /* -1: none yet */
};

static void applied(void *arg, int status, uint64_t index, const char *msg) {
        (void)index;
        (void)msg;
        struct cluster *c = arg;
        c->in_flight--;
        if (status == 0) /* else leadership was lost (a loaded machine): proposed again */
                c->acked++;
}

static void closed(void *arg) {
        ((struct cluster *)arg)->closed++;
}

static void tick(uv_timer_t *h) {
        struct cluster *c = h->data;
        c->ticks++;
        int leader = -1;
        for (int i = 0; i < c->n; i++)
                if (raft_node_is_leader(c->rn[i]))
                        leader = i;
        if (leader >= 0 && c->ever_leader < 0)
                c->ever_leader = leader;
        if (leader >= 0 && c->in_flight == 0 && c->acked < 5)
                for (int i = c->acked; i < 5; i++)
                        if (raft_node_apply(c->rn[leader], "entry-xx", 8, applied, c) == 0)
                                c->in_flight++;
        bool all = c->acked >= 5 && c->in_flight == 0;
        for (int i = 0; i < c->n; i++)
                all = all && c->f[i].applied >= 5 && c->f[i].applied == c->f[0].applied;
        if (all || c->ticks >= c->max_ticks) {
                uv_timer_stop(h);
                uv_close((uv_handle_t *)h, NULL);
                for (int i = 0; i < c->n; i++)
                        raft_node_close(c->rn[i], closed, c);
        }
}

/* Run n voters (bootstrapped together), server i with tls[i], for at most
 * max_ticks * 10 ms or until 5 entries are applied everywhere. */
static void run(struct cluster *c, int n, const struct transport_tls_config *const *tls, int max_ticks) {
        signal(SIGPIPE, SIG_IGN); /* as drover-server: libuv writes to a peer that may have closed */
        uv_loop_t loop;
        uv_loop_init(&loop);
        char dirs[MAX_N][40], addrs[MAX_N][32];
        struct raft_node_peer voters[MAX_N] = {0};
        int base = free_ports(n);
        cr_assert_neq(base, 0, "no free loopback ports");
        *c = (struct cluster){.n = n, .max_ticks = max_ticks, .ever_leader = -1};
        for (int i = 0; i < n; i++) {
                snprintf(dirs[i], sizeof(dirs[i]), "build/raft-tls-XXXXXX");
                cr_assert_not_null(mkdtemp(dirs[i]));
                snprintf(addrs[i], sizeof(addrs[i]), "127.0.0.1:%d", base + i);
                voters[i].id = (uint64_t)(i + 1);
                snprintf(voters[i].address, sizeof(voters[i].address), "%.31s", addrs[i]);
                voters[i].voter = true;
        }
        for (int i = 0; i < n; i++) {
                struct raft_node_config cfg = {.id = (uint64_t)(i + 1),
                                               .address = addrs[i],
                                               .data_dir = dirs[i],
                                               .bootstrap = true,
                                               .voters = voters,
                                               .n_voters = (size_t)n,
                                               .election_timeout_ms = 300,
                                               .heartbeat_timeout_ms = 50,
                                               .tls = tls[i]};
                struct error err = {0};
                cr_assert_eq(raft_node_create(&loop, &cfg, &ops, &c->f[i], &c->rn[i], &err), 0, "%s", err.msg);
        }
        uv_timer_init(&loop, &c->t);
        c->t.data = c;
        uv_timer_start(&c->t, tick, 10, 10);
        uv_run(&loop, UV_RUN_DEFAULT);
        cr_assert_eq(c->closed, n, "every node closed (the transport's threads all ended)");
        for (int i = 0; i < n; i++)
                nftw(dirs[i], rm_entry, 8, FTW_DEPTH | FTW_PHYS);
        cr_assert_eq(uv_loop_close(&loop), 0, "no handle left open on the loop");
}

Test(raft_tls, three_voters_with_the_cluster_ca_elect_and_replicate, .timeout = 60) {
        const struct transport_tls_config *tls[3] = {&good, &good, &good};
        struct cluster c;
        run(&c, 3, tls, 1500);
        cr_assert_geq(c.ever_leader, 0, "a leader was elected over TLS");
        cr_expect_geq(c.acked, 5);
        for (int i = 0; i < 3; i++) /* every entry acknowledged, on every server, the same on each */
                cr_expect(c.f[i].applied >= 5 && c.f[i].applied == c.f[0].applied,
                          "server %d applied %d (server 1: %d)", i + 1, c.f[i].applied, c.f[0].applied);
}

static void no_election_with(const struct transport_tls_config *odd) {
        const struct transport_tls_config *tls[2] = {&good, odd};
        struct cluster c;
        run(&c, 2, tls, 300); /* 3 s: ten election timeouts */
        cr_expect_eq(c.ever_leader, -1, "server %d became leader without the other's vote", c.ever_leader + 1);
        cr_expect_eq(c.f[0].applied + c.f[1].applied, 0);
}

Test(raft_tls, a_voter_with_another_cas_certificate_is_never_heard, .timeout = 60) {
        no_election_with(&other_ca);
}

Test(raft_tls, a_voter_without_the_server_role_is_never_heard, .timeout = 60) {
        no_election_with(&no_role);
}

Test(raft_tls, a_key_that_does_not_match_its_certificate_is_refused_at_start) {
        struct raft_uv_transport t;
        struct transport_tls_config bad = good;
        bad.key_file = PEM "ca/global-cli-nomad-key.pem";
        struct error err = {0};
        cr_expect_lt(transport_tls_init(&t, uv_default_loop(), &bad, &err), 0);
        cr_expect(strstr(err.msg, "raft tls") && strstr(err.msg, "global-cli-nomad-key.pem"), "%s", err.msg);
        bad = good;
        bad.ca_file = NULL;
        cr_expect_lt(transport_tls_init(&t, uv_default_loop(), &bad, &err), 0);
}
