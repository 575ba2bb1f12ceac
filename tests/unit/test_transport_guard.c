/* test_transport_guard.c - the connections libraft dials through
 * controlplane/raft/transport_guard.c carry messages one way, so they must not wait
 * on Nagle's algorithm: each dialled socket has TCP_NODELAY (without it, a commit
 * could wait 40 ms for the peer's delayed acknowledgement). */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <raft.h>
#include <raft/uv.h>
#include <stdio.h>
#include <sys/socket.h>
#include <uv.h>

#include "common/error.h"
#include "controlplane/raft/transport_guard.h"

struct dial_test {
        uv_tcp_t listener, peer;
        bool accepted, peer_open;
        int status;
        int nodelay; /* of the dialled socket: -1 until dialled */
        uv_stream_t *dialled;
        bool transport_closed;
};

static void on_peer(uv_stream_t *server, int status) {
        struct dial_test *d = server->data;
        cr_assert_eq(status, 0);
        uv_tcp_init(server->loop, &d->peer);
        cr_assert_eq(uv_accept(server, (uv_stream_t *)&d->peer), 0);
        d->accepted = d->peer_open = true;
}

static void on_dialled(struct raft_uv_connect *req, struct uv_stream_s *stream, int status) {
        struct dial_test *d = req->data;
        d->status = status;
        d->dialled = stream;
        uv_os_fd_t fd;
        cr_assert_eq(status, 0, "dialled: %d", status);
        cr_assert_eq(uv_fileno((uv_handle_t *)stream, &fd), 0);
        socklen_t len = sizeof(d->nodelay);
        cr_assert_eq(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &d->nodelay, &len), 0);
}

static void on_transport_closed(struct raft_uv_transport *t) {
        struct dial_test *d = t->data;
        d->transport_closed = true;
}

static void free_stream(uv_handle_t *h) {
        free(h);
}

Test(transport_guard, a_dialled_connection_has_tcp_nodelay, .timeout = 20) {
        uv_loop_t loop;
        cr_assert_eq(uv_loop_init(&loop), 0);
        struct dial_test d = {.nodelay = -1, .status = 1};
        uv_tcp_init(&loop, &d.listener);
        d.listener.data = &d;
        struct sockaddr_in sa;
        uv_ip4_addr("127.0.0.1", 0, &sa);
        cr_assert_eq(uv_tcp_bind(&d.listener, (const struct sockaddr *)&sa, 0), 0);
        cr_assert_eq(uv_listen((uv_stream_t *)&d.listener, 4, on_peer), 0);
        struct sockaddr_in bound;
        int blen = sizeof(bound);
        uv_tcp_getsockname(&d.listener, (struct sockaddr *)&bound, &blen);
        char peer_addr[64];
        snprintf(peer_addr, sizeof(peer_addr), "127.0.0.1:%d", ntohs(bound.sin_port));

        struct raft_uv_transport t;
        struct error err = {0};
        cr_assert_eq(transport_guard_init(&t, &loop, 0, &err), 0, "%s", err.msg);
        t.data = &d;
        cr_assert_eq(t.init(&t, 1, "127.0.0.1:1"), 0, "%s", t.errmsg);
        struct raft_uv_connect req = {.data = &d};
        cr_assert_eq(t.connect(&t, &req, 2, peer_addr, on_dialled), 0, "%s", t.errmsg);
        for (int i = 0; i < 2000 && (d.status == 1 || !d.accepted); i++)
                uv_run(&loop, UV_RUN_ONCE);
        cr_assert_eq(d.status, 0, "the connection was dialled");
        cr_expect_eq(d.nodelay, 1, "TCP_NODELAY on the dialled socket (got %d)", d.nodelay);

        uv_close((uv_handle_t *)d.dialled, free_stream); /* libraft's to close: the stream is the caller's */
        uv_close((uv_handle_t *)&d.peer, NULL);
        uv_close((uv_handle_t *)&d.listener, NULL);
        t.close(&t, on_transport_closed);
        for (int i = 0; i < 2000 && !d.transport_closed; i++)
                uv_run(&loop, UV_RUN_NOWAIT);
        cr_assert(d.transport_closed);
        uv_run(&loop, UV_RUN_DEFAULT);
        transport_guard_free(&t);
        cr_expect_eq(uv_loop_close(&loop), 0);
}
