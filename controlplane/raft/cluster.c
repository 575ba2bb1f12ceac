/* cluster.c - see cluster.h. */
#include "controlplane/raft/cluster.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/http_client.h"
#include "common/jsonx.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/macros.h"
#include "controlplane/api/routes_acl.h"
#include "controlplane/raft/curl_loop.h"
#include "controlplane/raft/raft_node.h"

#define MAX_SERVERS 16
#define PROBE_TIMEOUT_MS 2000
#define PROBE_CONNECT_MS 1000
#define PROBE_MAX_ANSWER ((size_t)64 * 1024) /* raft/self and join answers: a server's own record */
#define DISCOVER_EVERY_MS 1000

enum phase { PHASE_DISCOVER, PHASE_JOIN, PHASE_MEMBER };

struct known {
        uint64_t id;
        char http[64];
        char agent[64];              /* its node agents' listener; "": none or not told */
        char name[CLUSTER_NAME_MAX]; /* "": not told (an older server) */
        char dc[CLUSTER_NAME_MAX];
        int64_t heard_ns; /* monotonic time of its last answer to a probe; 0: none yet */
};

struct answer {
        bool ok;
        uint64_t id;
        char raft[64];
        char http[64];
        bool configured; /* it has a Raft configuration: a cluster exists */
        bool leader;
        json_t *servers; /* its known servers: [{ID, HTTPAddr, Name, Datacenter}] */
        json_t *voters;  /* its Raft configuration's voters: [{ID, Address}] */
        int64_t at_ns;   /* monotonic time of the answer */
};

/* "X-Drover-Join-Token: <token>", or "" without a join token. */
#define JOIN_HDR_MAX (sizeof(API_JOIN_TOKEN_HEADER) + 2 + HTTP_CLIENT_TOKEN_MAX + 1)

struct probe {
        uv_work_t work;
        struct cluster *c;
        char join_hdr[JOIN_HDR_MAX];
        size_t n;
        char addrs[MAX_SERVERS][64];
        struct answer ans[MAX_SERVERS];
        bool join; /* ask a leader among them to add us */
        char join_body[256];
        bool joined;
        char join_err[256];
};

struct cluster {
        struct cluster_config cfg;
        char *self_raft, *self_http;
        char join_hdr[JOIN_HDR_MAX]; /* from cfg.join_token */
        char addrs[MAX_SERVERS][64]; /* -join, split */
        size_t n_addrs;
        struct known known[MAX_SERVERS];
        size_t n_known;
        enum phase phase;
        uv_timer_t timer;
        bool timer_init;
        bool busy;    /* a probe is on the pool */
        int forwards[2]; /* forwarded requests in flight (on a curl_loop), per FWD_* class */
        bool closing; /* destroyed while busy: the probe frees us */
        /* the forwards whose caller was not answered yet */
        struct forward *forward_list;
        /* forwards waiting for a place in their class (forward_max), oldest first */
        struct forward *wait_head[2], *wait_tail[2];
        /* forwards' transfers and kept connections, to one server: cl_id (0: not a
         * known one, then cl_addr); NULL before the first forward */
        struct curl_loop *cl;
        uint64_t cl_id;
        char cl_addr[64];
        bool timer_closed;
};

/* ---- on the pool ------------------------------------------------------------------ */

static const char *scheme(const struct cluster *c) {
        return c->cfg.tls ? "https" : "http";
}

static void probe_one(const char *scheme_, const char *join_hdr, const char *addr, struct answer *a) {
        char url[128];
        snprintf(url, sizeof(url), "%s://%s/v1/internal/raft/self", scheme_, addr);
        struct http_response r = {0};
        struct error err = {0};
        const char *headers[] = {join_hdr[0] ? join_hdr : NULL, NULL};
        if (http_perform_max("GET", url, NULL, 0, NULL, headers, PROBE_MAX_ANSWER, PROBE_TIMEOUT_MS, PROBE_CONNECT_MS,
                             NULL, NULL, &r, &err) < 0 ||
            r.status != 200) {
                http_response_clear(&r);
                return;
        }
        json_t *j = json_loadb(r.body, r.len, 0, NULL);
        http_response_clear(&r);
        if (!json_is_object(j)) {
                json_decref(j);
                return;
        }
        a->id = (uint64_t)jx_int(j, "ID", 0);
        snprintf(a->raft, sizeof(a->raft), "%s", jx_str(j, "Address", ""));
        snprintf(a->http, sizeof(a->http), "%s", jx_str(j, "HTTPAddr", ""));
        a->configured = jx_bool(j, "Configured", false);
        a->leader = jx_bool(j, "IsLeader", false);
        a->servers = json_incref(json_object_get(j, "Servers"));
        a->voters = json_incref(json_object_get(j, "Voters"));
        a->ok = a->id > 0 && *a->raft && *a->http;
        a->at_ns = clock_monotonic_ns();
        json_decref(j);
}

static void probe_work(uv_work_t *w) {
        struct probe *p = w->data;
        for (size_t i = 0; i < p->n; i++)
                probe_one(scheme(p->c), p->join_hdr, p->addrs[i], &p->ans[i]);
        if (!p->join)
                return;
        /* The leader first; any member forwards it to the leader otherwise. */
        for (int pass = 0; pass < 2 && !p->joined; pass++)
                for (size_t i = 0; i < p->n && !p->joined; i++) {
                        struct answer *a = &p->ans[i];
                        if (!a->ok || !a->configured || (pass == 0 && !a->leader))
                                continue;
                        char url[128];
                        snprintf(url, sizeof(url), "%s://%s/v1/operator/raft/join", scheme(p->c), a->http);
                        struct http_response r = {0};
                        struct error err = {0};
                        /* adding a voter waits for it to catch up: give it time */
                        const char *headers[] = {p->join_hdr[0] ? p->join_hdr : NULL, NULL};
                        int rc = http_perform_max("PUT", url, p->join_body, strlen(p->join_body), NULL, headers,
                                                  PROBE_MAX_ANSWER, 30000, PROBE_CONNECT_MS, NULL, NULL, &r, &err);
                        if (rc == 0 && r.status == 200)
                                p->joined = true;
                        else
                                snprintf(p->join_err, sizeof(p->join_err), "%.60s: %.180s", a->http,
                                         rc < 0 ? err.msg : (r.body ? r.body : "no answer"));
                        http_response_clear(&r);
                }
}

/* ---- on the loop ------------------------------------------------------------------- */

/* A name or datacenter a peer told: kept when it fits and is printable, else
 * not (the peer is then shown as an older one is). */
static void set_label(char dst[CLUSTER_NAME_MAX], const char *v) {
        if (!v || !*v || strlen(v) >= CLUSTER_NAME_MAX)
                return;
        for (const char *p = v; *p; p++)
                if ((unsigned char)*p < 0x20 || *p == 0x7f)
                        return;
        memcpy(dst, v, strlen(v) + 1);
}

void cluster_learn_member(struct cluster *c, uint64_t id, const char *http_addr, const char *name,
                          const char *datacenter) {
        if (!c || id == 0 || !http_addr || !*http_addr)
                return;
        struct known *k = NULL;
        for (size_t i = 0; i < c->n_known && !k; i++)
                if (c->known[i].id == id)
                        k = &c->known[i];
        if (!k) {
                if (c->n_known == MAX_SERVERS)
                        return;
                k = &c->known[c->n_known++];
                *k = (struct known){.id = id};
        }
        snprintf(k->http, sizeof(k->http), "%s", http_addr);
        set_label(k->name, name);
        set_label(k->dc, datacenter);
}

void cluster_learn(struct cluster *c, uint64_t id, const char *http_addr) {
        cluster_learn_member(c, id, http_addr, NULL, NULL);
}

void cluster_learn_agent(struct cluster *c, uint64_t id, const char *agent_addr) {
        if (!c || !agent_addr || !*agent_addr || strlen(agent_addr) >= sizeof(c->known[0].agent) ||
            strspn(agent_addr, "0123456789abcdefABCDEF.:[]") != strlen(agent_addr) ||
            strncmp(agent_addr, "0.0.0.0:", 8) == 0 || strncmp(agent_addr, "[::]:", 5) == 0)
                return; /* an unspecified address names no server: forwards use its HTTP address */
        for (size_t i = 0; i < c->n_known; i++)
                if (c->known[i].id == id)
                        snprintf(c->known[i].agent, sizeof(c->known[i].agent), "%s", agent_addr);
}

const char *cluster_agent_addr(const struct cluster *c, uint64_t id) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n_known; i++)
                if (c->known[i].id == id)
                        return c->known[i].agent[0] ? c->known[i].agent : NULL;
        return NULL;
}

const char *cluster_http_addr(const struct cluster *c, uint64_t id) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n_known; i++)
                if (c->known[i].id == id)
                        return c->known[i].http;
        return NULL;
}

const char *cluster_phase(const struct cluster *c) {
        if (!c)
                return "member";
        return c->phase == PHASE_DISCOVER ? "discovering" : c->phase == PHASE_JOIN ? "joining" : "member";
}

static int cmp_peer(const void *a, const void *b) {
        const struct raft_node_peer *x = a, *y = b;
        return x->id < y->id ? -1 : x->id > y->id;
}

static void schedule(struct cluster *c);

/* Discovery: enough servers without a cluster to bootstrap, or one with a cluster to join. */
static void decide(struct cluster *c, struct probe *p) {
        bool cluster_exists = false;
        struct raft_node_peer voters[MAX_SERVERS] = {0};
        size_t n = 0;
        for (size_t i = 0; i < p->n; i++) {
                if (!p->ans[i].ok || !p->ans[i].configured)
                        continue;
                cluster_exists = true;
                /* A peer bootstrapped already, with this server among its voters: a
                 * server of the same -bootstrap-expect round. Bootstrap with exactly
                 * its configuration, so that the first entry is the same everywhere. */
                size_t k;
                json_t *v;
                bool self_in = false;
                n = 0;
                json_array_foreach(p->ans[i].voters, k, v) {
                        if (n == MAX_SERVERS)
                                break;
                        voters[n].id = (uint64_t)jx_int(v, "ID", 0);
                        snprintf(voters[n].address, sizeof(voters[n].address), "%s", jx_str(v, "Address", ""));
                        self_in |= voters[n].id == c->cfg.id && strcmp(voters[n].address, c->self_raft) == 0;
                        n++;
                }
                if (self_in && c->cfg.bootstrap_expect > 0) {
                        log_info("cluster: %s bootstrapped with this server among %zu voters; doing the same",
                                 p->ans[i].http, n);
                        if (c->cfg.ops->start_raft(c->cfg.data, voters, n) < 0)
                                return;
                        c->phase = PHASE_MEMBER;
                        return;
                }
        }
        n = 0;
        if (cluster_exists || c->cfg.bootstrap_expect == 0) {
                log_info("cluster: %s; starting Raft empty and asking the leader to add this server",
                         cluster_exists ? "a cluster already exists" : "no -bootstrap-expect");
                if (c->cfg.ops->start_raft(c->cfg.data, NULL, 0) < 0)
                        return;
                c->phase = PHASE_JOIN;
                return;
        }
        voters[n].id = c->cfg.id;
        snprintf(voters[n].address, sizeof(voters[n].address), "%s", c->self_raft);
        n++;
        for (size_t i = 0; i < p->n; i++) {
                struct answer *a = &p->ans[i];
                bool dup = !a->ok;
                for (size_t k = 0; k < n && !dup; k++)
                        dup = voters[k].id == a->id;
                if (dup)
                        continue;
                voters[n].id = a->id;
                snprintf(voters[n].address, sizeof(voters[n].address), "%s", a->raft);
                n++;
        }
        if (n < c->cfg.bootstrap_expect) {
                log_info("cluster: %zu of %u servers found; waiting for the others", n, c->cfg.bootstrap_expect);
                return;
        }
        if (n > c->cfg.bootstrap_expect) {
                log_warn("cluster: found %zu servers, more than -bootstrap-expect %u; using them all", n,
                         c->cfg.bootstrap_expect);
        }
        qsort(voters, n, sizeof(voters[0]), cmp_peer);
        log_info("cluster: %zu servers found; bootstrapping Raft with all of them as voters", n);
        if (c->cfg.ops->start_raft(c->cfg.data, voters, n) < 0)
                return;
        c->phase = PHASE_MEMBER;
}

static void probe_done(uv_work_t *w, int status) {
        struct probe *p = w->data;
        struct cluster *c = p->c;
        c->busy = false;
        if (c->closing) {
                for (size_t i = 0; i < p->n; i++) {
                        json_decref(p->ans[i].servers);
                        json_decref(p->ans[i].voters);
                }
                explicit_bzero(p->join_hdr, sizeof(p->join_hdr));
                free(p);
                if (c->timer_closed)
                        free(c);
                return;
        }
        for (size_t i = 0; i < p->n; i++) {
                struct answer *a = &p->ans[i];
                if (!a->ok)
                        continue;
                cluster_learn(c, a->id, a->http);
                for (size_t k = 0; k < c->n_known; k++)
                        if (c->known[k].id == a->id && a->id != c->cfg.id)
                                c->known[k].heard_ns = a->at_ns;
                size_t k;
                json_t *s;
                json_array_foreach(a->servers, k, s) {
                        if (!json_is_object(s))
                                continue;
                        cluster_learn_member(c, (uint64_t)jx_int(s, "ID", 0), jx_str(s, "HTTPAddr", ""),
                                             jx_str(s, "Name", NULL), jx_str(s, "Datacenter", NULL));
                        cluster_learn_agent(c, (uint64_t)jx_int(s, "ID", 0), jx_str(s, "AgentAddr", NULL));
                }
        }
        if (status == 0) {
                if (c->phase == PHASE_DISCOVER)
                        decide(c, p);
                else if (c->phase == PHASE_JOIN && p->joined) {
                        log_info("cluster: the leader added this server");
                        c->phase = PHASE_MEMBER;
                } else if (c->phase == PHASE_JOIN && p->join_err[0]) {
                        log_info("cluster: join not done yet (will retry): %s", p->join_err);
                }
        }
        for (size_t i = 0; i < p->n; i++) {
                json_decref(p->ans[i].servers);
                json_decref(p->ans[i].voters);
        }
        explicit_bzero(p->join_hdr, sizeof(p->join_hdr));
        free(p);
        schedule(c);
}

static void on_timer(uv_timer_t *t) {
        struct cluster *c = t->data;
        if (c->busy || c->closing || (c->n_addrs == 0 && c->n_known <= 1))
                return;
        struct probe *p = calloc(1, sizeof(*p));
        if (!p)
                return;
        p->work.data = p;
        p->c = c;
        memcpy(p->join_hdr, c->join_hdr, sizeof(p->join_hdr));
        /* -join, and every server heard of since (a member not in -join). */
        p->n = c->n_addrs;
        memcpy(p->addrs, c->addrs, sizeof(p->addrs));
        for (size_t i = 0; i < c->n_known && p->n < MAX_SERVERS; i++) {
                bool dup = c->known[i].id == c->cfg.id;
                for (size_t k = 0; k < p->n && !dup; k++)
                        dup = strcmp(p->addrs[k], c->known[i].http) == 0;
                if (!dup)
                        snprintf(p->addrs[p->n++], sizeof(p->addrs[0]), "%s", c->known[i].http);
        }
        if (c->phase == PHASE_JOIN) {
                p->join = true;
                snprintf(p->join_body, sizeof(p->join_body), "{\"ID\":%llu,\"Address\":\"%s\",\"HTTPAddr\":\"%s\"}",
                         (unsigned long long)c->cfg.id, c->self_raft, c->self_http);
        }
        if (uv_queue_work(c->cfg.loop, &p->work, probe_work, probe_done) < 0) {
                free(p);
                return;
        }
        c->busy = true;
}

static void schedule(struct cluster *c) {
        uint64_t every = c->phase == PHASE_MEMBER ? CLUSTER_PROBE_EVERY_MS : DISCOVER_EVERY_MS;
        uv_timer_start(&c->timer, on_timer, every, 0);
}

struct cluster *cluster_create(const struct cluster_config *cfg) {
        struct cluster *c = calloc(1, sizeof(*c));
        if (!c)
                return NULL;
        c->cfg = *cfg;
        c->self_raft = strdup(cfg->raft_addr);
        c->self_http = strdup(cfg->http_addr);
        if (!c->self_raft || !c->self_http) {
                free(c->self_raft);
                free(c->self_http);
                free(c);
                return NULL;
        }
        c->cfg.raft_addr = c->self_raft;
        c->cfg.http_addr = c->self_http;
        c->cfg.join = NULL;
        c->cfg.join_token = NULL;
        const char *jt = cfg->join_token ? cfg->join_token : "";
        if (strlen(jt) > HTTP_CLIENT_TOKEN_MAX || strpbrk(jt, "\r\n")) {
                free(c->self_raft);
                free(c->self_http);
                free(c);
                return NULL;
        }
        if (*jt)
                snprintf(c->join_hdr, sizeof(c->join_hdr), "%s: %s", API_JOIN_TOKEN_HEADER, jt);
        const char *p = cfg->join ? cfg->join : "";
        while (*p && c->n_addrs < MAX_SERVERS) {
                size_t len = strcspn(p, ", ");
                if (len > 0 && len < sizeof(c->addrs[0]) &&
                    (len != strlen(c->self_http) || strncmp(p, c->self_http, len) != 0)) {
                        memcpy(c->addrs[c->n_addrs], p, len);
                        c->addrs[c->n_addrs][len] = '\0';
                        c->n_addrs++;
                }
                p += len;
                p += strspn(p, ", ");
        }
        char host[CLUSTER_NAME_MAX] = "localhost"; /* the API's default name too (routes.c) */
        const char *name = cfg->name && *cfg->name ? cfg->name : host;
        if (name == host && (gethostname(host, sizeof(host) - 1) < 0 || !*host))
                snprintf(host, sizeof(host), "localhost");
        cluster_learn_member(c, cfg->id, c->self_http, name,
                             cfg->datacenter && *cfg->datacenter ? cfg->datacenter : "dc1");
        cluster_learn_agent(c, cfg->id, cfg->agent_addr);
        c->cfg.agent_addr = NULL; /* copied into known[] */
        uv_timer_init(cfg->loop, &c->timer);
        c->timer.data = c;
        c->timer_init = true;
        return c;
}

void cluster_start(struct cluster *c, bool raft_started) {
        c->phase = raft_started ? PHASE_MEMBER : PHASE_DISCOVER;
        uv_timer_start(&c->timer, on_timer, raft_started ? 0 : 10, 0);
}

static void on_timer_closed(uv_handle_t *h) {
        struct cluster *c = h->data;
        c->timer_closed = true;
        if (!c->busy)
                free(c);
}

static void forwards_cancel(struct cluster *c);

struct cluster *cluster_destroy(struct cluster *c) {
        if (!c)
                return NULL;
        c->closing = true;
        /* The callers of forwards are answered now, while their connections
         * exist; the transfers stop here and their connections close. */
        forwards_cancel(c);
        explicit_bzero(c->join_hdr, sizeof(c->join_hdr));
        free(c->self_raft);
        free(c->self_http);
        c->self_raft = c->self_http = NULL;
        uv_timer_stop(&c->timer);
        uv_close((uv_handle_t *)&c->timer, on_timer_closed);
        return NULL;
}

json_t *cluster_servers_json(const struct cluster *c) {
        json_t *out = json_array();
        int64_t now = clock_monotonic_ns();
        for (size_t i = 0; c && i < c->n_known; i++) {
                const struct known *k = &c->known[i];
                json_t *srv = json_pack("{s:I,s:s}", "ID", (json_int_t)k->id, "HTTPAddr", k->http);
                if (srv && k->agent[0])
                        json_object_set_new(srv, "AgentAddr", json_string(k->agent));
                if (srv && k->name[0])
                        json_object_set_new(srv, "Name", json_string(k->name));
                if (srv && k->dc[0])
                        json_object_set_new(srv, "Datacenter", json_string(k->dc));
                if (srv && k->heard_ns > 0 && now >= k->heard_ns)
                        json_object_set_new(srv, "LastContact",
                                            json_integer((json_int_t)((now - k->heard_ns) / 1000000)));
                json_array_append_new(out, srv);
        }
        return out;
}

/* ---- forwarding a request to the leader --------------------------------------------- */

/* A blocking query forwarded to the leader waits there at most this long (a
 * forwarded request times out after 30 s); the client then asks again, as it does
 * after any early answer of a blocking query. */
#define FORWARDED_MAX_WAIT_MS 25000

/* Milliseconds of a "wait" value ("30s", "500ms", "5m", "1h"; a bare number is
 * seconds); -1 when absent or not understood. */
static int64_t wait_ms(const char *v) {
        if (!v || !*v)
                return -1;
        char *end;
        errno = 0;
        long long n = strtoll(v, &end, 10);
        if (errno || end == v || n < 0)
                return -1;
        if (!*end || strcmp(end, "s") == 0)
                return n > INT64_MAX / 1000 ? -1 : n * 1000;
        if (strcmp(end, "ms") == 0)
                return n;
        if (strcmp(end, "m") == 0)
                return n > INT64_MAX / 60000 ? -1 : n * 60000;
        if (strcmp(end, "h") == 0)
                return n > INT64_MAX / 3600000 ? -1 : n * 3600000;
        return -1;
}

/* The query string less its "wait" argument, in place. */
static void drop_wait(char *qs) {
        char *out = qs;
        for (char *p = qs, *next; p && *p; p = next) {
                next = strchr(p, '&');
                size_t n = next ? (size_t)(next - p) : strlen(p);
                if (next)
                        next++;
                if ((n == 4 && strncmp(p, "wait", 4) == 0) || strncmp(p, "wait=", 5) == 0)
                        continue;
                if (out != qs)
                        *out++ = '&';
                memmove(out, p, n);
                out += n;
        }
        *out = '\0';
}

char *cluster_forward_target(const char *path, const char *query, bool blocking, const char *wait,
                             const char *forwarded_arg) {
        char *qs = strdup(query);
        if (!qs)
                return NULL;
        char w[48] = "";
        if (blocking) {
                int64_t ms = wait_ms(wait);
                drop_wait(qs);
                snprintf(w, sizeof(w), "wait=%lldms&",
                         (long long)(ms < 0 || ms > FORWARDED_MAX_WAIT_MS ? FORWARDED_MAX_WAIT_MS : ms));
        }
        char *target = NULL;
        if (asprintf(&target, "%s?%s%s%s%s=1", path, qs, *qs ? "&" : "", w, forwarded_arg) < 0)
                target = NULL;
        free(qs);
        return target;
}

#define FORWARD_TIMEOUT_MS 30000
/* "X-Drover-Server-Secret: <secret>" */
#define SECRET_HDR_MAX (sizeof(API_SERVER_SECRET_HEADER) + 2 + CLUSTER_SECRET_MAX + 1)

/* Forwards in flight at once, each on a connection of its own to the leader (HTTP/1.1
 * sends one request at a time on a connection), kept open for the next: they run on
 * the loop (curl_loop.c) and hold no thread. The others wait their turn on a list, so
 * that a burst (writes held during an election, sent at once) opens no more than
 * this many connections to the new leader. */
#define FORWARDS_IN_FLIGHT_MAX 32
/* Blocking queries (a GET with ?index) have places of their own: each holds its
 * connection for up to 25 s at the leader, and node agents watch their allocations
 * that way, so with the writes' 32 places a follower with more agents than that would
 * keep every write (heartbeats among them) waiting behind the watches. */
#define BLOCKING_FORWARDS_MAX 1024
enum { FWD_WRITE, FWD_BLOCKING }; /* the classes: any other request, a blocking query */

static int forward_max(int class) {
        return class == FWD_BLOCKING ? BLOCKING_FORWARDS_MAX : FORWARDS_IN_FLIGHT_MAX;
}

struct forward {
        struct cluster *c;
        struct forward *next, *prev; /* c->forward_list, until answered */
        struct forward *wait_next;   /* c->wait_head[class]'s list, until started */
        int class;                   /* FWD_WRITE or FWD_BLOCKING */
        struct curl_loop *cl;        /* the one running it; NULL while waiting */
        struct http_xfer *x;
        char *method, *url, *body, *addr;
        size_t body_len;
        size_t max_answer;                          /* forward_answer_max */
        bool reuse;                                 /* GET or PUT: on a kept connection (http_client.h) */
        char token_hdr[HTTP_CLIENT_TOKEN_MAX + 32]; /* "X-Nomad-Token: ..." or "" */
        char join_hdr[JOIN_HDR_MAX];                /* a join's X-Drover-Join-Token, or "" */
        char secret_hdr[SECRET_HDR_MAX];            /* a server's own call: the servers' secret, or "" */
        long timeout_ms;
        cluster_forward_cb cb;
        void *arg;
        int64_t queued_ns, started_ns, setup_ns; /* CLOCK_MONOTONIC, for the debug log */
};

static void forward_unlink(struct forward *f) {
        if (f->prev)
                f->prev->next = f->next;
        else
                f->c->forward_list = f->next;
        if (f->next)
                f->next->prev = f->prev;
        f->next = f->prev = NULL;
}

static void forward_free(struct forward *f) {
        http_xfer_destroy(f->x);
        free(f->method);
        free(f->url);
        free(f->body);
        free(f->addr);
        explicit_bzero(f->join_hdr, sizeof(f->join_hdr));
        explicit_bzero(f->secret_hdr, sizeof(f->secret_hdr));
        free(f);
}

/* The server addr belongs to (its HTTP or agents' listener), or 0 when not known. */
static uint64_t server_of(const struct cluster *c, const char *addr) {
        for (size_t i = 0; i < c->n_known; i++)
                if (strcmp(c->known[i].http, addr) == 0 || strcmp(c->known[i].agent, addr) == 0)
                        return c->known[i].id;
        return 0;
}

/* The loop's time in libcurl for the forwards to addr so far (debug). */
static void log_loop_stats(const char *why, const char *addr, const struct curl_loop *cl) {
        struct curl_loop_stats st;
        curl_loop_stats(cl, &st);
        if (st.transfers)
                log_debug("cluster: forwards to %s (%s): %llu done, %llu calls into libcurl on the loop, %.1f us of "
                          "them per forward",
                          addr, why, (unsigned long long)st.transfers, (unsigned long long)st.actions,
                          (double)st.curl_ns / 1e3 / (double)st.transfers);
}

static void forward_done(void *arg, struct http_xfer *x, int curl_code);

/* The curl_loop for a forward to addr: the one in use when addr is the same
 * server's, else a new one, the old one retired (its connections close once its
 * forwards end: the leader changed). NULL when out of memory. */
static struct curl_loop *loop_for(struct cluster *c, const char *addr) {
        uint64_t id = server_of(c, addr);
        if (c->cl && (id ? id == c->cl_id : !c->cl_id && strcmp(addr, c->cl_addr) == 0))
                return c->cl;
        if (c->cl) {
                log_loop_stats("another leader: its connections close", c->cl_addr, c->cl);
                curl_loop_retire(c->cl);
        }
        c->cl = curl_loop_create(c->cfg.loop, FORWARDS_IN_FLIGHT_MAX, forward_done, c);
        c->cl_id = id;
        snprintf(c->cl_addr, sizeof(c->cl_addr), "%s", addr);
        return c->cl;
}

/* Start f on the loop: 0, or negative with why. */
static int forward_begin(struct cluster *c, struct forward *f, struct error *err) {
        f->started_ns = clock_monotonic_ns();
        const char *headers[4] = {0};
        size_t nh = 0;
        if (f->token_hdr[0])
                headers[nh++] = f->token_hdr;
        if (f->join_hdr[0])
                headers[nh++] = f->join_hdr;
        if (f->secret_hdr[0])
                headers[nh++] = f->secret_hdr;
        struct curl_loop *cl = loop_for(c, f->addr);
        if (!cl)
                return errorf(err, -ENOMEM, "cannot create the forwarding client");
        f->x = http_xfer_create(f->method, f->url, f->body, f->body_len, headers, f->max_answer, f->timeout_ms,
                                PROBE_CONNECT_MS, f->reuse, err);
        if (!f->x)
                return -ENOMEM;
        http_xfer_set_user(f->x, f);
        int r = curl_loop_add(cl, f->x);
        if (r < 0)
                return errorf(err, r, "cannot start the forward");
        f->cl = cl;
        f->setup_ns = clock_monotonic_ns() - f->started_ns;
        return 0;
}

/* Start class k's waiting forwards while it has places (forward_max); one that
 * cannot start is answered with why. */
static void forwards_start_class(struct cluster *c, int k) {
        while (c->wait_head[k] && c->forwards[k] < forward_max(k) && !c->closing) {
                struct forward *f = c->wait_head[k];
                c->wait_head[k] = f->wait_next;
                if (!c->wait_head[k])
                        c->wait_tail[k] = NULL;
                f->wait_next = NULL;
                struct error err = {0};
                int r = forward_begin(c, f, &err);
                if (r < 0) {
                        forward_unlink(f);
                        f->cb(f->arg, r, NULL, err.msg);
                        forward_free(f);
                        continue;
                }
                c->forwards[k]++;
        }
}

static void forwards_start(struct cluster *c) {
        forwards_start_class(c, FWD_WRITE);
        forwards_start_class(c, FWD_BLOCKING);
}

/* A forward's times (debug), and every 50 forwards the loop's time in libcurl. */
static void forward_log(const struct forward *f, struct curl_loop *cl, int64_t read_ns) {
        log_debug("cluster: %s forwarded: %.2f ms waiting for a place, %.3f ms on the loop to start it, %.2f ms "
                  "until the leader's answer was read (%s connection)",
                  f->method, (double)(f->started_ns - f->queued_ns) / 1e6, (double)f->setup_ns / 1e6,
                  (double)(read_ns - f->started_ns - f->setup_ns) / 1e6, http_xfer_reused(f->x) ? "a kept" : "a new");
        struct curl_loop_stats st;
        curl_loop_stats(cl, &st);
        if (st.transfers % 50 == 0)
                log_loop_stats("so far", f->addr, cl);
}

static void forward_done(void *arg, struct http_xfer *x, int curl_code) {
        struct cluster *c = arg;
        struct forward *f = http_xfer_user(x);
        int64_t read_ns = clock_monotonic_ns();
        c->forwards[f->class]--;
        forward_log(f, f->cl, read_ns);
        f->cl = NULL;
        const struct http_response *resp = NULL;
        struct error err = {0};
        int rc = http_xfer_result(x, curl_code, &resp, &err);
        forward_unlink(f);
        if (rc < 0)
                f->cb(f->arg, rc, NULL, err.msg);
        else
                f->cb(f->arg, (int)resp->status, resp, NULL);
        forward_free(f);
        forwards_start(c); /* its place, to the next one waiting (none once cb stopped the server) */
}

/* Every caller answered, now; the forwards running leave their loop, the
 * waiting ones are freed. */
static void forwards_cancel(struct cluster *c) {
        struct forward *f;
        while ((f = c->forward_list)) {
                forward_unlink(f);
                if (f->cl) {
                        curl_loop_remove(f->cl, f->x);
                        c->forwards[f->class]--;
                } else {
                        f->wait_next = NULL;
                }
                f->cb(f->arg, -ECANCELED, NULL, "the server is shutting down");
                forward_free(f);
        }
        for (int k = 0; k < 2; k++)
                c->wait_head[k] = c->wait_tail[k] = NULL;
        if (c->cl) {
                log_loop_stats("the server stops: its connections close", c->cl_addr, c->cl);
                curl_loop_destroy(c->cl);
                c->cl = NULL;
        }
}

/* How much of the leader's answer to path_query a forward reads (common/limits.h):
 * the whole state for GET /v1/operator/snapshot, else LIMIT_FORWARD_ANSWER. */
static size_t forward_answer_max(const char *path_query) {
        static const char snap[] = "/v1/operator/snapshot";
        size_t n = sizeof(snap) - 1;
        return strncmp(path_query, snap, n) == 0 && strchr("?", path_query[n]) ? LIMIT_SNAPSHOT_BODY
                                                                               : LIMIT_FORWARD_ANSWER;
}

/* A GET whose query has index=: a blocking query (cluster_forward_target). */
static bool is_blocking_query(const char *method, const char *path_query) {
        const char *q = strchr(path_query, '?');
        if (strcmp(method, "GET") != 0 || !q)
                return false;
        for (q++; *q; q += strcspn(q, "&"), q += *q == '&')
                if (strncmp(q, "index=", 6) == 0)
                        return true;
        return false;
}

/* Queue one request for the loop: token (X-Nomad-Token) and secret (the servers'
 * secret) may be NULL. */
static int forward_queue(struct cluster *c, const char *http_addr, const char *method, const char *path_query,
                         const char *body, size_t len, const char *token, const char *secret, long timeout_ms,
                         cluster_forward_cb cb, void *arg) {
        if (!c || c->closing || !http_addr || !*http_addr)
                return -ENOTCONN;
        if (token && (strlen(token) > HTTP_CLIENT_TOKEN_MAX || strpbrk(token, "\r\n")))
                return -EINVAL;
        if (secret && (strlen(secret) > CLUSTER_SECRET_MAX || strpbrk(secret, "\r\n")))
                return -EINVAL;
        struct forward *f = calloc(1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        f->c = c;
        f->cb = cb;
        f->arg = arg;
        f->timeout_ms = timeout_ms;
        f->queued_ns = clock_monotonic_ns();
        if (token && *token)
                snprintf(f->token_hdr, sizeof(f->token_hdr), "X-Nomad-Token: %s", token);
        if (secret && *secret)
                snprintf(f->secret_hdr, sizeof(f->secret_hdr), "%s: %s", API_SERVER_SECRET_HEADER, secret);
        /* A join this server let in (it checked the join token or operator:write
         * before forwarding) reaches the leader with this server's join token. */
        if (strncmp(path_query, "/v1/operator/raft/join", 22) == 0 && strchr("?", path_query[22]))
                memcpy(f->join_hdr, c->join_hdr, sizeof(f->join_hdr));
        f->method = strdup(method);
        f->addr = strdup(http_addr);
        f->reuse = f->method && (strcmp(method, "GET") == 0 || strcmp(method, "PUT") == 0);
        f->max_answer = forward_answer_max(path_query);
        f->body = len ? malloc(len + 1) : NULL;
        if (f->body) {
                memcpy(f->body, body, len);
                f->body[len] = '\0';
        }
        f->body_len = len;
        if (asprintf(&f->url, "%s://%s%s", scheme(c), http_addr, path_query) < 0)
                f->url = NULL;
        if (!f->method || !f->addr || !f->url || (len && !f->body)) {
                forward_free(f);
                return -ENOMEM;
        }
        f->next = c->forward_list;
        if (f->next)
                f->next->prev = f;
        c->forward_list = f;
        f->class = is_blocking_query(method, path_query) ? FWD_BLOCKING : FWD_WRITE;
        if (c->wait_tail[f->class])
                c->wait_tail[f->class]->wait_next = f;
        else
                c->wait_head[f->class] = f;
        c->wait_tail[f->class] = f;
        forwards_start(c);
        return 0;
}

int cluster_forward(struct cluster *c, const char *http_addr, const char *method, const char *path_query,
                    const char *body, size_t len, const char *token, cluster_forward_cb cb, void *arg) {
        return forward_queue(c, http_addr, method, path_query, body, len, token, NULL, FORWARD_TIMEOUT_MS, cb, arg);
}

int cluster_call_server(struct cluster *c, const char *http_addr, const char *method, const char *path_query,
                        const char *secret, unsigned timeout_ms, cluster_forward_cb cb, void *arg) {
        if (!secret || !*secret)
                return -EACCES;
        return forward_queue(c, http_addr, method, path_query, NULL, 0, NULL, secret,
                             timeout_ms < 100 ? 100 : (long)timeout_ms, cb, arg);
}
