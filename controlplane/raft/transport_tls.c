/* transport_tls.c - libraft's connections between servers over mutual TLS.
 *
 * Shape: the loop owns the listening socket (a uv_poll_t), libraft's callbacks
 * and a queue of finished handshakes; one thread per connection dials or
 * accepts, runs the GnuTLS handshake and the preamble with a deadline, posts
 * the result to the queue (uv_async_t), then copies plaintext between the TLS
 * session and its end of a socketpair until either side closes or the
 * transport stops (an eventfd every thread polls). */
#include "controlplane/raft/transport_tls.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <raft.h>
#include <raft/uv.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "common/error.h"
#include "common/log.h"
#include "common/macros.h"
#include "common/tls.h"
#include "controlplane/raft/frame_guard.h"

#define PREAMBLE_MAGIC "DRVRAFT1" /* 8 bytes, then id (8, LE), address length (2, LE), address */
#define BRIDGE_BUF 16384

struct tt {
        struct raft_uv_transport *t;
        uv_loop_t *loop;
        gnutls_certificate_credentials_t cred;
        char server_name[256];
        unsigned hs_ms;
        raft_id id;
        char address[TRANSPORT_TLS_ADDR_MAX + 1];
        raft_uv_accept_cb accept_cb;
        int listen_fd;
        uv_poll_t listen_poll;
        bool listening, listen_closed;
        uv_async_t async;
        bool async_init, async_closing;
        int stop_fd; /* eventfd: readable once the transport closes */
        pthread_mutex_t mu;
        struct msg *head, **tail; /* under mu */
        int live;                 /* threads alive, under mu */
        bool closing;
        raft_uv_transport_close_cb close_cb;
        uint64_t max_message;
        _Atomic uint64_t rejected; /* connections closed by the frame guard */
};

/* What a thread reports to the loop once its handshake is over. */
struct msg {
        struct msg *next;
        bool dial;
        int status; /* 0, or negative errno */
        int fd;     /* libraft's end of the socketpair, -1 on failure */
        raft_id id;
        char address[TRANSPORT_TLS_ADDR_MAX + 1];
        struct raft_uv_connect *req;
        raft_uv_connect_cb cb;
        char why[256];
};

struct conn {
        struct tt *tt;
        struct msg *m; /* handed to the loop after the handshake */
        int tcp_fd, pump_fd;
        gnutls_session_t s;
        uint64_t deadline_ms;
        char remote[80];
        unsigned char up[BRIDGE_BUF], down[BRIDGE_BUF]; /* up: libraft -> TLS; down: TLS -> libraft */
        bool guarded;             /* accepted: libraft reads it, so every message is bounded */
        struct frame_guard guard; /* frame_guard.h */
};

static uint64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Wait until fd has events, the transport stops (-ECANCELED) or the deadline
 * passes (-ETIMEDOUT; deadline 0: none). */
static int wait_fd(struct conn *c, int fd, short events) {
        for (;;) {
                int timeout = -1;
                if (c->deadline_ms) {
                        uint64_t now = now_ms();
                        if (now >= c->deadline_ms)
                                return -ETIMEDOUT;
                        timeout = (int)(c->deadline_ms - now);
                }
                struct pollfd p[2] = {{.fd = fd, .events = events}, {.fd = c->tt->stop_fd, .events = POLLIN}};
                int n = poll(p, 2, timeout);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (p[1].revents)
                        return -ECANCELED;
                if (p[0].revents)
                        return 0;
        }
}

static int tls_wait(struct conn *c) {
        return wait_fd(c, c->tcp_fd, gnutls_record_get_direction(c->s) ? POLLOUT : POLLIN);
}

static int tls_read_exact(struct conn *c, void *buf, size_t n) {
        size_t off = 0;
        while (off < n) {
                ssize_t g = gnutls_record_recv(c->s, (char *)buf + off, n - off);
                if (g == GNUTLS_E_AGAIN || g == GNUTLS_E_INTERRUPTED) {
                        int r = tls_wait(c);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (g <= 0)
                        return -ECONNRESET;
                off += (size_t)g;
        }
        return 0;
}

static int tls_write_all(struct conn *c, const void *buf, size_t n) {
        size_t off = 0;
        while (off < n) {
                ssize_t g = gnutls_record_send(c->s, (const char *)buf + off, n - off);
                if (g == GNUTLS_E_AGAIN || g == GNUTLS_E_INTERRUPTED) {
                        int r = tls_wait(c);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (g < 0)
                        return -ECONNRESET;
                off += (size_t)g;
        }
        return 0;
}

/* The peer's certificate verifies against the cluster CA and holds the server role. */
static int check_peer(struct conn *c, struct error *err) {
        int r = tls_peer_verify(c->s, err);
        if (r < 0)
                return r;
        unsigned n = 0;
        const gnutls_datum_t *certs = gnutls_certificate_get_peers(c->s, &n);
        gnutls_x509_crt_t crt = NULL;
        if (!certs || n == 0 || gnutls_x509_crt_init(&crt) < 0)
                return errorf(err, -EACCES, "no certificate");
        if (gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) < 0)
                r = errorf(err, -EACCES, "certificate cannot be parsed");
        else if (!gnutls_x509_crt_check_hostname(crt, c->tt->server_name))
                r = errorf(err, -EACCES, "certificate is not for \"%s\" (not a server of this region)",
                           c->tt->server_name);
        gnutls_x509_crt_deinit(crt);
        return r;
}

static int handshake(struct conn *c, bool server, struct error *err) {
        unsigned flags = (server ? GNUTLS_SERVER : GNUTLS_CLIENT) | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL;
        if (gnutls_init(&c->s, flags) < 0)
                return errorf(err, -ENOMEM, "out of memory");
        if (gnutls_set_default_priority(c->s) < 0 ||
            gnutls_credentials_set(c->s, GNUTLS_CRD_CERTIFICATE, c->tt->cred) < 0)
                return errorf(err, -EPROTO, "cannot set up the TLS session");
        if (server)
                gnutls_certificate_server_set_request(c->s, GNUTLS_CERT_REQUIRE);
        gnutls_transport_set_int(c->s, c->tcp_fd);
        for (;;) {
                int g = gnutls_handshake(c->s);
                if (g == 0)
                        break;
                if (g == GNUTLS_E_AGAIN || g == GNUTLS_E_INTERRUPTED || !gnutls_error_is_fatal(g)) {
                        int r = tls_wait(c);
                        if (r == -ETIMEDOUT)
                                return errorf(err, r, "TLS handshake: no answer within %u ms", c->tt->hs_ms);
                        if (r < 0)
                                return errorf(err, r, "TLS handshake: %s", strerror(-r));
                        continue;
                }
                return errorf(err, -EACCES, "TLS handshake: %s", gnutls_strerror(g));
        }
        return check_peer(c, err);
}

static void put_le(unsigned char *p, uint64_t v, int n) {
        for (int i = 0; i < n; i++)
                p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int n) {
        uint64_t v = 0;
        for (int i = n - 1; i >= 0; i--)
                v = v << 8 | p[i];
        return v;
}

static int send_preamble(struct conn *c, struct error *err) {
        unsigned char hdr[18];
        size_t alen = strlen(c->tt->address);
        memcpy(hdr, PREAMBLE_MAGIC, 8);
        put_le(hdr + 8, c->tt->id, 8);
        put_le(hdr + 16, alen, 2);
        int r = tls_write_all(c, hdr, sizeof(hdr));
        if (r == 0)
                r = tls_write_all(c, c->tt->address, alen);
        return r < 0 ? errorf(err, r, "sending the preamble: %s", strerror(-r)) : 0;
}

static int recv_preamble(struct conn *c, struct error *err) {
        unsigned char hdr[18];
        int r = tls_read_exact(c, hdr, sizeof(hdr));
        if (r < 0)
                return errorf(err, r, "reading the preamble: %s", strerror(-r));
        if (memcmp(hdr, PREAMBLE_MAGIC, 8) != 0)
                return errorf(err, -EPROTO, "not a drover Raft preamble");
        uint64_t id = get_le(hdr + 8, 8);
        size_t alen = (size_t)get_le(hdr + 16, 2);
        if (id == 0 || alen == 0 || alen > TRANSPORT_TLS_ADDR_MAX)
                return errorf(err, -EPROTO, "bad preamble (id %llu, address of %zu bytes; at most %d)",
                              (unsigned long long)id, alen, TRANSPORT_TLS_ADDR_MAX);
        r = tls_read_exact(c, c->m->address, alen);
        if (r < 0)
                return errorf(err, r, "reading the preamble: %s", strerror(-r));
        c->m->address[alen] = '\0';
        if (strlen(c->m->address) != alen)
                return errorf(err, -EPROTO, "bad preamble (NUL in the address)");
        c->m->id = id;
        return 0;
}

static int dial(struct conn *c, const char *address, struct error *err) {
        char host[TRANSPORT_TLS_ADDR_MAX + 1];
        snprintf(host, sizeof(host), "%s", address);
        char *colon = strrchr(host, ':');
        if (!colon)
                return errorf(err, -EINVAL, "address \"%s\" has no port", address);
        *colon = '\0';
        struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
        struct addrinfo *ai = NULL;
        int g = getaddrinfo(host, colon + 1, &hints, &ai);
        if (g != 0)
                return errorf(err, -EHOSTUNREACH, "resolving \"%s\": %s", address, gai_strerror(g));
        c->tcp_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        int r = 0;
        if (c->tcp_fd < 0)
                r = -errno;
        else if (connect(c->tcp_fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS)
                r = -errno;
        freeaddrinfo(ai);
        if (r == 0)
                r = wait_fd(c, c->tcp_fd, POLLOUT);
        if (r == 0) {
                int soerr = 0;
                socklen_t len = sizeof(soerr);
                if (getsockopt(c->tcp_fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
                        soerr = errno;
                r = -soerr;
        }
        return r < 0 ? errorf(err, r, "connect %s: %s", address, strerror(-r)) : 0;
}

/* Whether the peer's bytes make a message over the cap or malformed: then the
 * connection closes, logged once and counted. */
static bool guard_refuses(struct conn *c, const void *buf, size_t n) {
        uint64_t size = 0;
        int r = frame_guard_feed(&c->guard, buf, n, &size);
        if (r == 0)
                return false;
        char what[128];
        snprintf(what, sizeof(what), "raft tls: connection from %s", c->remote);
        frame_guard_log_refusal(&c->guard, r, size, what, atomic_fetch_add(&c->tt->rejected, 1) + 1);
        return true;
}

/* Copy plaintext both ways until either side closes or the transport stops. */
static void bridge(struct conn *c) {
        size_t up_len = 0, up_off = 0, down_len = 0, down_off = 0;
        c->deadline_ms = 0;
        for (;;) {
                bool pending = down_len == 0 && gnutls_record_check_pending(c->s) > 0;
                struct pollfd p[3] = {
                    {.fd = c->tcp_fd, .events = (short)((down_len == 0 ? POLLIN : 0) | (up_len > 0 ? POLLOUT : 0))},
                    {.fd = c->pump_fd, .events = (short)((up_len == 0 ? POLLIN : 0) | (down_len > 0 ? POLLOUT : 0))},
                    {.fd = c->tt->stop_fd, .events = POLLIN}};
                if (!pending) {
                        int n = poll(p, 3, -1);
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n < 0 || p[2].revents)
                                return;
                }
                if (down_len == 0 && (pending || p[0].revents)) {
                        ssize_t g = gnutls_record_recv(c->s, c->down, sizeof(c->down));
                        if (g == 0 || (g < 0 && g != GNUTLS_E_AGAIN && g != GNUTLS_E_INTERRUPTED))
                                return;
                        if (g > 0 && c->guarded && guard_refuses(c, c->down, (size_t)g))
                                return;
                        if (g > 0) {
                                down_len = (size_t)g;
                                down_off = 0;
                        }
                }
                if (down_len > 0 && (p[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
                        ssize_t n = send(c->pump_fd, c->down + down_off, down_len - down_off, MSG_NOSIGNAL);
                        if (n < 0 && errno != EAGAIN && errno != EINTR)
                                return;
                        if (n > 0) {
                                down_off += (size_t)n;
                                if (down_off == down_len)
                                        down_len = 0;
                        }
                }
                if (up_len == 0 && (p[1].revents & (POLLIN | POLLERR | POLLHUP))) {
                        ssize_t n = read(c->pump_fd, c->up, sizeof(c->up));
                        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                                return;
                        if (n > 0) {
                                up_len = (size_t)n;
                                up_off = 0;
                        }
                }
                if (up_len > 0 && (p[0].revents & (POLLOUT | POLLERR | POLLHUP))) {
                        ssize_t g = gnutls_record_send(c->s, c->up + up_off, up_len - up_off);
                        if (g < 0 && g != GNUTLS_E_AGAIN && g != GNUTLS_E_INTERRUPTED)
                                return;
                        if (g > 0) {
                                up_off += (size_t)g;
                                if (up_off == up_len)
                                        up_len = 0;
                        }
                }
        }
}

static void post(struct tt *tt, struct msg *m) {
        pthread_mutex_lock(&tt->mu);
        *tt->tail = m;
        tt->tail = &m->next;
        pthread_mutex_unlock(&tt->mu);
        uv_async_send(&tt->async);
}

static void *conn_main(void *arg) {
        struct conn *c = arg;
        struct tt *tt = c->tt;
        struct msg *m = c->m;
        struct error err = {0};
        int r = 0;
        c->deadline_ms = now_ms() + tt->hs_ms;
        if (m->dial)
                r = dial(c, m->address, &err);
        if (r == 0) {
                int one = 1;
                setsockopt(c->tcp_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                r = handshake(c, !m->dial, &err);
        }
        if (r == 0)
                r = m->dial ? send_preamble(c, &err) : recv_preamble(c, &err);
        int sp[2] = {-1, -1};
        if (r == 0 && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sp) < 0)
                r = errorf(&err, -errno, "socketpair: %s", strerror(errno));
        m->status = r;
        if (r == 0) {
                m->fd = sp[0];
                c->pump_fd = sp[1];
        } else {
                snprintf(m->why, sizeof(m->why), "%.70s%s%.170s", c->remote, *c->remote ? ": " : "", err.msg);
        }
        c->guarded = !m->dial;
        frame_guard_init(&c->guard, tt->max_message);
        c->m = NULL;
        post(tt, m); /* the loop owns m (and sp[0]) now */
        if (r == 0)
                bridge(c);
        if (c->s) {
                gnutls_deinit(c->s);
        }
        if (c->tcp_fd >= 0)
                close(c->tcp_fd);
        if (c->pump_fd >= 0)
                close(c->pump_fd);
        free(c);
        /* Wake the loop before letting go of the lock: once live is 0 and the
         * lock free, the loop may close the transport and free tt. */
        pthread_mutex_lock(&tt->mu);
        tt->live--;
        uv_async_send(&tt->async);
        pthread_mutex_unlock(&tt->mu);
        return NULL;
}

static void on_async(uv_async_t *h);

static int ensure_async(struct tt *tt) {
        if (tt->async_init)
                return 0;
        int r = uv_async_init(tt->loop, &tt->async, on_async);
        if (r < 0)
                return r;
        tt->async.data = tt;
        tt->async_init = true;
        return 0;
}

/* Start a thread for one connection: tcp_fd accepted (dial false) or to be dialled. */
static int spawn(struct tt *tt, int tcp_fd, struct msg *m, const char *remote) {
        struct conn *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->tt = tt;
        c->m = m;
        c->tcp_fd = tcp_fd;
        c->pump_fd = -1;
        snprintf(c->remote, sizeof(c->remote), "%s", remote);
        pthread_mutex_lock(&tt->mu);
        if (tt->live >= TRANSPORT_TLS_MAX_CONNS) {
                pthread_mutex_unlock(&tt->mu);
                free(c);
                return -EMFILE;
        }
        tt->live++;
        pthread_mutex_unlock(&tt->mu);
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 256 * 1024);
        pthread_t th;
        int e = pthread_create(&th, &attr, conn_main, c);
        pthread_attr_destroy(&attr);
        if (e != 0) {
                pthread_mutex_lock(&tt->mu);
                tt->live--;
                pthread_mutex_unlock(&tt->mu);
                free(c);
                return -e;
        }
        return 0;
}

static void free_pipe(uv_handle_t *h) {
        raft_free(h);
}

static uv_stream_t *wrap(struct tt *tt, int fd) {
        uv_pipe_t *p = raft_malloc(sizeof(*p));
        if (!p)
                return NULL;
        if (uv_pipe_init(tt->loop, p, 0) < 0) {
                raft_free(p);
                return NULL;
        }
        if (uv_pipe_open(p, fd) < 0) {
                /* the handle is initialised: it must be closed, and freed after */
                uv_close((uv_handle_t *)p, free_pipe);
                return NULL;
        }
        return (uv_stream_t *)p;
}

/* libraft may free the transport (transport_tls_free) from its close callback:
 * call it once libuv is done with every handle in tt. */
static void on_async_closed(uv_handle_t *h) {
        struct tt *tt = h->data;
        if (tt->close_cb)
                tt->close_cb(tt->t);
}

static void maybe_finish(struct tt *tt) {
        if (!tt->closing || !tt->listen_closed || tt->async_closing)
                return;
        pthread_mutex_lock(&tt->mu);
        bool done = tt->live == 0 && !tt->head;
        pthread_mutex_unlock(&tt->mu);
        if (!done)
                return;
        if (!tt->async_init) {
                tt->async_closing = true;
                if (tt->close_cb)
                        tt->close_cb(tt->t);
                return;
        }
        tt->async_closing = true;
        uv_close((uv_handle_t *)&tt->async, on_async_closed);
}

static void deliver(struct tt *tt, struct msg *m) {
        if (m->status == -EACCES || m->status == -EPROTO)
                log_warn("raft tls: %s connection refused: %s", m->dial ? "outgoing" : "incoming", m->why);
        else if (m->status < 0)
                log_debug("raft tls: %s connection failed: %s", m->dial ? "outgoing" : "incoming", m->why);
        if (!m->dial) {
                uv_stream_t *st = NULL;
                if (m->status == 0 && !tt->closing && tt->accept_cb && (st = wrap(tt, m->fd)))
                        tt->accept_cb(tt->t, m->id, m->address, st);
                else if (m->fd >= 0)
                        close(m->fd);
                return;
        }
        if (tt->closing) {
                if (m->fd >= 0)
                        close(m->fd);
                m->cb(m->req, NULL, RAFT_CANCELED);
                return;
        }
        uv_stream_t *st = m->status == 0 ? wrap(tt, m->fd) : NULL;
        if (!st && m->fd >= 0)
                close(m->fd);
        m->cb(m->req, st, st ? 0 : RAFT_NOCONNECTION);
}

static void on_async(uv_async_t *h) {
        struct tt *tt = h->data;
        for (;;) {
                pthread_mutex_lock(&tt->mu);
                struct msg *m = tt->head;
                if (m) {
                        tt->head = m->next;
                        if (!tt->head)
                                tt->tail = &tt->head;
                }
                pthread_mutex_unlock(&tt->mu);
                if (!m)
                        break;
                deliver(tt, m);
                free(m);
        }
        maybe_finish(tt);
}

static void on_listen_readable(uv_poll_t *h, int status, int events) {
        struct tt *tt = h->data;
        (void)events;
        if (status < 0 || tt->closing)
                return;
        for (int i = 0; i < 64; i++) {
                struct sockaddr_storage sa;
                socklen_t len = sizeof(sa);
                int fd = accept4(tt->listen_fd, (struct sockaddr *)&sa, &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (fd < 0)
                        return;
                char remote[80] = "";
                char host[64], port[16];
                if (getnameinfo((struct sockaddr *)&sa, len, host, sizeof(host), port, sizeof(port),
                                NI_NUMERICHOST | NI_NUMERICSERV) == 0)
                        snprintf(remote, sizeof(remote), "%s:%s", host, port);
                struct msg *m = calloc(1, sizeof(*m));
                if (m)
                        m->fd = -1;
                int r = m ? spawn(tt, fd, m, remote) : -ENOMEM;
                if (r < 0) {
                        log_warn("raft tls: connection from %s closed: %s", remote,
                                 r == -EMFILE ? "too many connections" : strerror(-r));
                        free(m);
                        close(fd);
                        continue;
                }
        }
}

static int tt_init(struct raft_uv_transport *t, raft_id id, const char *address) {
        struct tt *tt = t->impl;
        if (strlen(address) > TRANSPORT_TLS_ADDR_MAX) {
                snprintf(t->errmsg, sizeof(t->errmsg), "address longer than %d bytes", TRANSPORT_TLS_ADDR_MAX);
                return RAFT_INVALID;
        }
        tt->id = id;
        snprintf(tt->address, sizeof(tt->address), "%s", address);
        return 0;
}

static int tt_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb) {
        struct tt *tt = t->impl;
        char host[TRANSPORT_TLS_ADDR_MAX + 1];
        snprintf(host, sizeof(host), "%s", tt->address);
        char *colon = strrchr(host, ':');
        if (!colon) {
                snprintf(t->errmsg, sizeof(t->errmsg), "address \"%.160s\" has no port", tt->address);
                return RAFT_INVALID;
        }
        *colon = '\0';
        struct addrinfo hints = {
            .ai_family = AF_INET, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
        struct addrinfo *ai = NULL;
        if (getaddrinfo(host, colon + 1, &hints, &ai) != 0) {
                snprintf(t->errmsg, sizeof(t->errmsg), "cannot resolve \"%.160s\"", tt->address);
                return RAFT_IOERR;
        }
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        int one = 1;
        int r = fd < 0 ? -errno : 0;
        if (r == 0)
                setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (r == 0 && (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 64) < 0))
                r = -errno;
        freeaddrinfo(ai);
        if (r == 0)
                r = ensure_async(tt);
        if (r == 0)
                r = uv_poll_init(tt->loop, &tt->listen_poll, fd);
        if (r < 0) {
                snprintf(t->errmsg, sizeof(t->errmsg), "listen on %.160s: %s", tt->address, strerror(-r));
                if (fd >= 0)
                        close(fd);
                return RAFT_IOERR;
        }
        tt->listen_fd = fd;
        tt->listen_poll.data = tt;
        tt->listening = true;
        tt->listen_closed = false;
        tt->accept_cb = cb;
        uv_poll_start(&tt->listen_poll, UV_READABLE, on_listen_readable);
        return 0;
}

static int tt_connect(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id, const char *address,
                      raft_uv_connect_cb cb) {
        struct tt *tt = t->impl;
        if (tt->closing)
                return RAFT_CANCELED;
        if (strlen(address) > TRANSPORT_TLS_ADDR_MAX)
                return RAFT_INVALID;
        if (ensure_async(tt) < 0)
                return RAFT_NOMEM;
        struct msg *m = calloc(1, sizeof(*m));
        if (!m)
                return RAFT_NOMEM;
        m->dial = true;
        m->fd = -1;
        m->id = id;
        m->req = req;
        m->cb = cb;
        req->cb = cb;
        snprintf(m->address, sizeof(m->address), "%s", address);
        if (spawn(tt, -1, m, address) < 0) {
                free(m);
                return RAFT_NOCONNECTION;
        }
        return 0;
}

static void on_listen_closed(uv_handle_t *h) {
        struct tt *tt = h->data;
        close(tt->listen_fd);
        tt->listen_fd = -1;
        tt->listen_closed = true;
        maybe_finish(tt);
}

static void tt_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb) {
        struct tt *tt = t->impl;
        tt->closing = true;
        tt->close_cb = cb;
        uint64_t one = 1;
        if (write(tt->stop_fd, &one, sizeof(one)) < 0)
                log_debug("raft tls: cannot signal the bridge threads: %s", strerror(errno));
        if (tt->listening) {
                tt->listening = false;
                uv_poll_stop(&tt->listen_poll);
                uv_close((uv_handle_t *)&tt->listen_poll, on_listen_closed);
                return;
        }
        tt->listen_closed = true;
        if (tt->async_init)
                uv_async_send(&tt->async);
        else
                maybe_finish(tt);
}

int transport_tls_init(struct raft_uv_transport *t, uv_loop_t *loop, const struct transport_tls_config *cfg,
                       struct error *err) {
        struct tls_config tc = {.http = true,
                                .ca_file = cfg->ca_file,
                                .cert_file = cfg->cert_file,
                                .key_file = cfg->key_file,
                                .verify_client = true};
        struct tls_pems pems = {0};
        int r = tls_config_load(&tc, &pems, err);
        if (r < 0)
                return error_prefix(err, "raft tls");
        struct tt *tt = calloc(1, sizeof(*tt));
        if (!tt) {
                tls_pems_free(&pems);
                return errorf(err, -ENOMEM, "out of memory");
        }
        tt->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (tt->stop_fd < 0) {
                r = errorf(err, -errno, "raft tls: eventfd: %s", strerror(errno));
                goto fail;
        }
        if (gnutls_certificate_allocate_credentials(&tt->cred) < 0) {
                r = errorf(err, -ENOMEM, "out of memory");
                goto fail;
        }
        gnutls_datum_t cd = {(unsigned char *)pems.cert, (unsigned)strlen(pems.cert)};
        gnutls_datum_t kd = {(unsigned char *)pems.key, (unsigned)strlen(pems.key)};
        gnutls_datum_t ad = {(unsigned char *)pems.ca, (unsigned)strlen(pems.ca)};
        if (gnutls_certificate_set_x509_key_mem(tt->cred, &cd, &kd, GNUTLS_X509_FMT_PEM) < 0 ||
            gnutls_certificate_set_x509_trust_mem(tt->cred, &ad, GNUTLS_X509_FMT_PEM) <= 0) {
                r = errorf(err, -EINVAL, "raft tls: cannot load the certificates");
                goto fail;
        }
        snprintf(tt->server_name, sizeof(tt->server_name), "%s",
                 cfg->server_name && *cfg->server_name ? cfg->server_name : "server.global.nomad");
        tt->hs_ms = cfg->handshake_timeout_ms ? cfg->handshake_timeout_ms : 10000;
        tt->max_message = cfg->max_message;
        tt->loop = loop;
        tt->t = t;
        tt->listen_fd = -1;
        tt->listen_closed = true;
        tt->tail = &tt->head;
        pthread_mutex_init(&tt->mu, NULL);
        tls_pems_free(&pems);
        memset(t, 0, sizeof(*t));
        t->impl = tt;
        t->init = tt_init;
        t->listen = tt_listen;
        t->connect = tt_connect;
        t->close = tt_close;
        return 0;
fail:
        tls_pems_free(&pems);
        if (tt->cred)
                gnutls_certificate_free_credentials(tt->cred);
        if (tt->stop_fd >= 0)
                close(tt->stop_fd);
        free(tt);
        return r;
}

void transport_tls_free(struct raft_uv_transport *t) {
        struct tt *tt = t ? t->impl : NULL;
        if (!tt)
                return;
        gnutls_certificate_free_credentials(tt->cred);
        close(tt->stop_fd);
        pthread_mutex_destroy(&tt->mu);
        free(tt);
        t->impl = NULL;
}
