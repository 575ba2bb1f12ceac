/* transport_tls.h - a libraft transport (struct raft_uv_transport) whose
 * connections between servers run over mutual TLS (GnuTLS).
 *
 * Every connection, accepted or dialled, is a TLS session in which both sides
 * present a certificate signed by the cluster CA and carrying the server role
 * (a SAN or CN equal to server_name, "server.global.nomad" by default, as
 * Nomad's verify_server_hostname). A peer without one is closed before libraft
 * sees a byte: it can neither join nor read the log. After the handshake the
 * dialling side sends its Raft ID and address (a fixed, bounded preamble); then
 * libraft is handed one end of a socketpair(AF_UNIX) in a uv_pipe_t, and a
 * bridge thread copies plaintext between the other end and the TLS session.
 *
 * Threads: the handshake, the preamble and the copying run on one thread per
 * connection (bounded by TRANSPORT_TLS_MAX_CONNS); they touch no Raft state
 * and report to the loop through a uv_async_t. Every libraft callback runs on
 * the loop. Handshake, connect and preamble together are bounded by
 * handshake_timeout_ms. The process must ignore SIGPIPE (drover-server does):
 * libuv writes to socketpairs whose other end a refused peer's bridge closed. */
#pragma once

struct error;
struct raft_uv_transport;
struct uv_loop_s;

/* Connections (accepted, dialled, in handshake or bridged) alive at once; more
 * are closed at once. A cluster of 7 servers uses at most 12 per server. */
#define TRANSPORT_TLS_MAX_CONNS 64
/* Longest Raft address a peer may announce in its preamble. */
#define TRANSPORT_TLS_ADDR_MAX 255

struct transport_tls_config {
        const char *ca_file;   /* the cluster CA: peers' certificates must verify against it */
        const char *cert_file; /* this server's certificate (presented on both sides) */
        const char *key_file;
        const char *server_name;       /* role each peer must hold; NULL: "server.global.nomad" */
        unsigned handshake_timeout_ms; /* 0: 10000 */
        /* the largest message an accepted peer may send (frame_guard.h): one over it
         * closes the connection; 0: FRAME_GUARD_DEFAULT_MAX */
        unsigned long long max_message;
};

/* Fill t (its function table and impl) for loop. Reads and checks the PEM
 * files now; strings of cfg are copied. */
int transport_tls_init(struct raft_uv_transport *t, struct uv_loop_s *loop, const struct transport_tls_config *cfg,
                       struct error *err);
/* Release the memory of t, after libraft has closed it (raft_uv_close), as
 * raft_uv_tcp_close does for the TCP transport. */
void transport_tls_free(struct raft_uv_transport *t);
