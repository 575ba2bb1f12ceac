/* test_agent_client.c - the agent's server client (nodeagent/client/client.c) against a
 * fake server on loopback: fetched allocations handed over batch by batch, and a watch
 * answer that changes nothing not handed over again. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "common/error.h"
#include "common/model.h"
#include "nodeagent/client/client.h"

#define N_ALLOCS 100
#define SAME_ANSWERS 3 /* watch answers after the first, each with the same list */

static int lfd = -1;
static int port;
static pthread_t server;
static atomic_int watches, fetches, stop_server;
/* delta: the server answers &since= with what changed (nothing) and the count of
 * live ones; after REMOVE_AT watches one allocation is gone. Asks with and
 * without since are counted. */
#define REMOVE_AT 4
static atomic_int delta, since_asks, full_asks;
/* fetches whose body named the job version the agent holds ("Jobs") */
static atomic_int fetches_naming_the_job;
#define JOB_KEY "/web@0@0" /* no namespace, JobModifyIndex 0, Version 0 */

static char *alloc_id(int i, char *buf) {
        snprintf(buf, 37, "6f1d0c1e-0000-4000-8000-%012d", i);
        return buf;
}

/* Read one request: head and body (Content-Length). */
static int read_request(int fd, char *buf, size_t size) {
        size_t n = 0;
        for (;;) {
                ssize_t r = read(fd, buf + n, size - 1 - n);
                if (r <= 0)
                        return -1;
                n += (size_t)r;
                buf[n] = '\0';
                char *end = strstr(buf, "\r\n\r\n");
                if (!end)
                        continue;
                const char *cl = strcasestr(buf, "Content-Length:");
                size_t want = (size_t)(end + 4 - buf) + (cl && cl < end ? strtoul(cl + 15, NULL, 10) : 0);
                if (n >= want || n == size - 1)
                        return 0;
        }
}

static void reply(int fd, uint64_t index, const char *body) {
        char head[256];
        int n = snprintf(head, sizeof(head),
                         "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Nomad-Index: %llu\r\n"
                         "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                         (unsigned long long)index, strlen(body));
        /* MSG_NOSIGNAL: a client that gave up (shutdown aborts the watch) is no SIGPIPE */
        if (send(fd, head, (size_t)n, MSG_NOSIGNAL) < 0 || send(fd, body, strlen(body), MSG_NOSIGNAL) < 0)
                return;
}

/* PUT /v1/node/<id>/allocations: the last body, how many came; answered 500 while
 * fail_updates is set. update_body is written before update_puts is raised. */
static atomic_int update_puts, fail_updates;
static char update_body[8192];

static void serve(int fd) {
        static char req[1 << 20];
        if (read_request(fd, req, sizeof(req)) < 0)
                return;
        char *body = strstr(req, "\r\n\r\n") + 4;
        if (strncmp(req, "PUT /v1/node/register", 21) == 0) {
                reply(fd, 1, "{\"HeartbeatTTL\":10000000000}");
        } else if (strstr(req, "/heartbeat")) {
                reply(fd, 1, "{\"HeartbeatTTL\":10000000000}");
        } else if (strncmp(req, "GET /v1/node/", 13) == 0 && strstr(req, "light=true")) {
                /* The same list every time, the index one higher each answer (as when
                 * the agent's own status updates move it), then nothing new. */
                int k = atomic_fetch_add(&watches, 1);
                if (k > SAME_ANSWERS)
                        usleep(200000);
                bool since = strstr(req, "&since=") != NULL;
                atomic_fetch_add(since ? &since_asks : &full_asks, 1);
                int live = atomic_load(&delta) && k >= REMOVE_AT ? N_ALLOCS - 1 : N_ALLOCS;
                json_t *m = json_object();
                char id[40];
                for (int i = 0; i < live && !(atomic_load(&delta) && since); i++)
                        json_object_set_new(m, alloc_id(i, id), json_integer(5));
                json_t *o = json_pack("{s:o}", "Allocs", m);
                if (atomic_load(&delta) && since)
                        json_object_set_new(o, "Count", json_integer(live));
                char *s = json_dumps(o, JSON_COMPACT);
                reply(fd, (uint64_t)(10 + (k < SAME_ANSWERS ? k : SAME_ANSWERS)), s);
                free(s);
                json_decref(o);
        } else if (strncmp(req, "POST /v1/node/", 14) == 0 && strstr(req, "/allocations/batch")) {
                atomic_fetch_add(&fetches, 1);
                json_t *in = json_loads(body, 0, NULL);
                json_t *out = json_array();
                size_t i;
                json_t *v;
                bool held = false;
                json_array_foreach(json_object_get(in, "Jobs"), i, v) held |= strcmp(json_string_value(v), JOB_KEY) == 0;
                atomic_fetch_add(&fetches_naming_the_job, held);
                /* As the server: the job once per answer, none when the agent has it;
                 * every allocation names it (JobKey). */
                json_array_foreach(json_object_get(in, "AllocIDs"), i, v) {
                        json_t *a = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:{s:s,s:s,s:s,s:[{s:s,s:i,s:[]}]}}", "ID",
                                              json_string_value(v), "Name", "web.api[0]", "JobID", "web", "TaskGroup",
                                              "api", "DesiredStatus", "run", "ClientStatus", "pending",
                                              "AllocModifyIndex", 5, "Job", "ID", "web", "Name", "web", "Type", "batch",
                                              "TaskGroups", "Name", "api", "Count", N_ALLOCS, "Tasks");
                        if (held || i > 0)
                                json_object_del(a, "Job");
                        json_object_set_new(a, "JobKey", json_string(JOB_KEY));
                        json_array_append_new(out, a);
                }
                char *s = json_dumps(out, JSON_COMPACT);
                reply(fd, 10, s);
                free(s);
                json_decref(out);
                json_decref(in);
        } else if (strncmp(req, "PUT /v1/node/", 13) == 0 && strstr(req, "/allocations ")) {
                snprintf(update_body, sizeof(update_body), "%s", body);
                atomic_fetch_add(&update_puts, 1);
                if (atomic_load(&fail_updates)) {
                        static const char err[] = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n"
                                                  "Connection: close\r\n\r\nbusy";
                        if (send(fd, err, sizeof(err) - 1, MSG_NOSIGNAL) < 0)
                                return;
                } else {
                        reply(fd, 1, "{}");
                }
        } else {
                reply(fd, 1, "{}");
        }
}

static void *server_main(void *arg) {
        while (!atomic_load(&stop_server)) {
                int fd = accept(lfd, NULL, NULL);
                if (fd < 0)
                        continue;
                serve(fd);
                close(fd);
        }
        return NULL;
}

static void setup(void) {
        lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        cr_assert_geq(lfd, 0);
        /* A port of 25900-25999 (this test's range on a shared host), the first free. */
        port = 0;
        for (int p = 25900; p < 26000 && !port; p++) {
                struct sockaddr_in sa = {
                    .sin_family = AF_INET, .sin_port = htons((uint16_t)p), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
                if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
                        port = p;
        }
        cr_assert_neq(port, 0, "no free port in 25900-25999");
        cr_assert_eq(listen(lfd, 16), 0);
        struct timeval tv = {0, 100000}; /* accept wakes up to see stop_server */
        setsockopt(lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        atomic_store(&watches, 0);
        atomic_store(&fetches, 0);
        atomic_store(&stop_server, 0);
        atomic_store(&delta, 0);
        atomic_store(&since_asks, 0);
        atomic_store(&full_asks, 0);
        atomic_store(&fetches_naming_the_job, 0);
        cr_assert_eq(pthread_create(&server, NULL, server_main, NULL), 0);
}

static void teardown(void) {
        atomic_store(&stop_server, 1);
        pthread_join(server, NULL);
        close(lfd);
}

TestSuite(agent_client, .init = setup, .fini = teardown, .timeout = 60);

static int full_calls, partial_calls, partial_sizes[8], full_size;

static void on_allocs(struct alloc **allocs, size_t n, void *data);
static void on_partial(struct alloc **allocs, size_t n, void *data);
static char *no_updates(size_t *ret_count, void *data);
static char *(*collect_fn)(size_t *ret_count, void *data) = no_updates;
static void requeue(const json_t *allocs, void *data);

static struct client *start_client(uv_loop_t *loop, struct node **ret_node) {
        struct node *n = node_new();
        n->id = strdup("11111111-2222-4333-8444-555555555555");
        n->secret_id = strdup("s");
        n->name = strdup("n1");
        n->datacenter = strdup("dc1");
        n->node_pool = strdup("default");
        char servers[64];
        snprintf(servers, sizeof(servers), "http://127.0.0.1:%d", port);
        static struct client_ops ops;
        ops = (struct client_ops){.allocs = on_allocs,
                                  .allocs_partial = on_partial,
                                  .collect_updates = collect_fn,
                                  .requeue_updates = requeue};
        struct client *c = NULL;
        struct error err = {0};
        cr_assert_eq(client_create(loop, servers, n, &ops, &c, &err), 0, "%s", err.msg);
        client_start(c);
        *ret_node = n;
        return c;
}

/* Until the server has answered the watch `answers` times (and the client has read
 * those answers: it asks again only after reading one), at most 20 s. */
static void run_until_watches(uv_loop_t *loop, int answers) {
        struct timespec t0, t;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        while (atomic_load(&watches) < answers) {
                uv_run(loop, UV_RUN_ONCE);
                clock_gettime(CLOCK_MONOTONIC, &t);
                if (t.tv_sec - t0.tv_sec > 20)
                        break;
        }
        cr_assert_geq(atomic_load(&watches), answers, "the client kept watching");
}

static void stop_client(uv_loop_t *loop, struct client *c, struct node *n);

static void on_allocs(struct alloc **allocs, size_t n, void *data) {
        full_calls++;
        full_size = (int)n;
}

static void on_partial(struct alloc **allocs, size_t n, void *data) {
        if (partial_calls < 8)
                partial_sizes[partial_calls] = (int)n;
        partial_calls++;
        cr_expect_eq(full_calls, 0, "batches come before the whole list");
}

static char *no_updates(size_t *ret_count, void *data) {
        return NULL;
}

static char requeued[2][40];
static int n_requeued;

static void requeue(const json_t *allocs, void *data) {
        size_t i;
        json_t *u;
        json_array_foreach(allocs, i, u) {
                if (n_requeued < 2)
                        snprintf(requeued[n_requeued], sizeof(requeued[0]), "%s",
                                 json_string_value(json_object_get(u, "ID")));
                n_requeued++;
        }
}

static int collected;
static const char two_updates_text[] =
    "[{\"ID\":\"a1\",\"ClientStatus\":\"complete\",\"ClientDescription\":\"\",\"TaskStates\":{}},"
    "{\"ID\":\"a2\",\"ClientStatus\":\"failed\",\"ClientDescription\":\"x\",\"TaskStates\":{}}]";

/* Two updates, once. */
static char *two_updates(size_t *ret_count, void *data) {
        if (collected++)
                return NULL;
        *ret_count = 2;
        return strdup(two_updates_text);
}

static void on_done(void *data) {
        *(bool *)data = true;
}

Test(agent_client, batches_are_handed_over_as_they_come_and_an_unchanged_list_once) {
        uv_loop_t loop;
        uv_loop_init(&loop);
        struct node *n = NULL;
        struct client *c = start_client(&loop, &n);
        run_until_watches(&loop, SAME_ANSWERS + 2);
        cr_expect_eq(atomic_load(&fetches), 2, "100 new allocations: two fetches (64, then 36)");
        cr_expect_eq(atomic_load(&fetches_naming_the_job), 1, "the second names the job the first brought");
        cr_expect_eq(partial_calls, 1, "the first batch handed over as it came, not the last");
        cr_expect_eq(partial_sizes[0], 64);
        cr_expect_eq(full_calls, 1, "the same list at the same indexes is handed over once (got %d)", full_calls);
        cr_expect_eq(full_size, N_ALLOCS);
        stop_client(&loop, c, n);
}

Test(agent_client, after_a_full_list_only_changes_are_asked_for_and_a_removal_brings_the_list_again) {
        atomic_store(&delta, 1);
        uv_loop_t loop;
        uv_loop_init(&loop);
        struct node *n = NULL;
        struct client *c = start_client(&loop, &n);
        run_until_watches(&loop, REMOVE_AT + 4);
        cr_expect_eq(atomic_load(&fetches), 2, "fetched once: the delta answers list nothing new");
        cr_expect_eq(atomic_load(&full_asks), 2, "the first list, and one after the count fell (got %d)",
                     atomic_load(&full_asks));
        cr_expect_geq(atomic_load(&since_asks), REMOVE_AT, "the others ask &since=");
        cr_expect_eq(full_calls, 2, "handed over: the first list and the one without the removed allocation");
        cr_expect_eq(full_size, N_ALLOCS - 1);
        stop_client(&loop, c, n);
}

static void stop_client(uv_loop_t *loop, struct client *c, struct node *n) {
        bool done = false;
        client_shutdown(c, 0, on_done, &done);
        while (!done)
                uv_run(loop, UV_RUN_ONCE);
        client_destroy(c);
        uv_run(loop, UV_RUN_DEFAULT);
        uv_loop_close(loop);
        node_unref(n);
}

Test(agent_client, updates_go_as_collected_and_a_failed_batch_is_requeued) {
        atomic_store(&fail_updates, 1);
        collect_fn = two_updates;
        uv_loop_t loop;
        uv_loop_init(&loop);
        struct node *n = NULL;
        struct client *c = start_client(&loop, &n);
        struct timespec t0, t;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        while (n_requeued == 0) {
                client_updates_pending(c); /* a flush once registered */
                uv_run(&loop, UV_RUN_NOWAIT);
                usleep(2000);
                clock_gettime(CLOCK_MONOTONIC, &t);
                if (t.tv_sec - t0.tv_sec > 20)
                        break;
        }
        cr_assert_eq(atomic_load(&update_puts), 1, "one update sent");
        json_t *body = json_loads(update_body, 0, NULL);
        cr_assert_not_null(body, "the body is JSON: %s", update_body);
        cr_expect_str_eq(json_string_value(json_object_get(body, "SecretID")), "s");
        json_t *want = json_loads(two_updates_text, 0, NULL);
        cr_expect(json_equal(json_object_get(body, "Allocs"), want), "the collected updates, as they were");
        json_decref(want);
        json_decref(body);
        cr_assert_eq(n_requeued, 2, "the 500 sends both back");
        cr_expect_str_eq(requeued[0], "a1");
        cr_expect_str_eq(requeued[1], "a2");
        stop_client(&loop, c, n);
        collect_fn = no_updates;
}
