/* transport_guard.h - libraft's plain TCP transport with every incoming message
 * bounded (frame_guard.h).
 *
 * The wire is libraft's own (its handshake and framing, so servers with and
 * without the guard talk to each other). Dialling goes through raft_uv_tcp, which
 * leaves Nagle's algorithm on: each dialled socket gets TCP_NODELAY here (libraft
 * only writes on it, so a message must not wait for the peer's delayed ACK). A
 * connection a peer opens is handed, once libraft's TCP
 * transport has read its handshake, to a relay on the same event loop that copies
 * its bytes to one end of a socketpair(AF_UNIX), parsing libraft's framing on the
 * way; libraft reads the other end (a uv_pipe_t). Writes go out at once when the
 * socket takes them; past 4 MiB queued towards a side, the other is not read until
 * it drains. A message over the cap, or malformed, closes
 * the connection before libraft has allocated anything for it: logged (once per
 * connection) and counted. At most TRANSPORT_GUARD_MAX_CONNS such connections
 * at once; more are closed. With -tls-rpc, transport_tls.c does the same in its
 * bridge. The process must ignore SIGPIPE (drover-server does). */
#pragma once

#include <stdint.h>

struct error;
struct raft_uv_transport;
struct uv_loop_s;

#define TRANSPORT_GUARD_MAX_CONNS 64

/* Fill t: libraft's TCP transport inside, incoming messages of at most max_message
 * bytes (0: FRAME_GUARD_DEFAULT_MAX). */
int transport_guard_init(struct raft_uv_transport *t, struct uv_loop_s *loop, uint64_t max_message,
                         struct error *err);
/* Release t after libraft closed it (raft_uv_close). */
void transport_guard_free(struct raft_uv_transport *t);
/* Incoming connections closed for a message over the cap or malformed, since init. */
uint64_t transport_guard_rejected(const struct raft_uv_transport *t);
