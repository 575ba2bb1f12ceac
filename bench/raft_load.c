/* raft_load.c - the load generator of bench/raft.sh: one process, libcurl's multi
 * interface, many registrations in flight at once, so that the figure measures the
 * servers and not the spawning of curl processes.
 *
 *   raft_load --servers H:P,H:P,H:P [--nodes 100] [--jobs 100] [--count 1000]
 *             [--concurrency 32] [--timeout 300] [--prefix bench-] [--latencies FILE]
 *
 * Registers --nodes fake nodes (large enough for every allocation), then --jobs
 * batch jobs of --count allocations each, each through a server picked in turn
 * (followers forward to the leader), --concurrency requests in flight. Meanwhile
 * it polls one server's job list (the groups' summaries) until every allocation is
 * placed or --timeout seconds have passed.
 *
 * Prints name=value lines: raft_jobs_acknowledged, raft_placements,
 * committed_placements_per_sec (placements in the state / seconds from the first
 * registration to the poll that saw the last one), register_per_sec,
 * commit_latency_p50_ms and commit_latency_p99_ms (a registration's HTTP request
 * to its answer, i.e. to its Raft commit on the leader, forwarding included).
 * --latencies FILE writes one line per acknowledged registration: the job's number,
 * the server it was sent to, its start (ms after the first) and its latency (ms),
 * to tell the first burst's tail from the rest, or a server's from another's.
 * Exit status 0 when every allocation was placed.
 */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_SERVERS 8
#define MAX_JOBS 100000
#define MAX_COUNT 10000
#define MAX_CONCURRENCY 1024
#define POLL_MS 200

struct opts {
        char *servers[MAX_SERVERS];
        int n_servers;
        int nodes, jobs, count, concurrency, timeout_s;
        const char *prefix;
        const char *latencies; /* --latencies FILE: one line per registration */
};

struct xfer {
        CURL *h;
        struct curl_slist *hdr;
        char *body;
        char *resp;
        size_t resp_len;
        double t0_ms;
        int job; /* -1: a node registration or a poll */
};

static double now_ms(void) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

static size_t on_data(char *p, size_t size, size_t n, void *arg) {
        struct xfer *x = arg;
        size_t len = size * n;
        char *nb = realloc(x->resp, x->resp_len + len + 1);
        if (!nb)
                return 0;
        memcpy(nb + x->resp_len, p, len);
        x->resp = nb;
        x->resp_len += len;
        nb[x->resp_len] = '\0';
        return len;
}

static struct xfer *xfer_new(const char *method, const char *server, const char *path, char *body) {
        struct xfer *x = calloc(1, sizeof(*x));
        char url[256];
        if (!x || !(x->h = curl_easy_init())) {
                free(x);
                free(body);
                return NULL;
        }
        snprintf(url, sizeof(url), "http://%s%s", server, path);
        x->body = body;
        x->job = -1;
        curl_easy_setopt(x->h, CURLOPT_URL, url);
        curl_easy_setopt(x->h, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
        curl_easy_setopt(x->h, CURLOPT_PRIVATE, x);
        curl_easy_setopt(x->h, CURLOPT_TIMEOUT, 60L);
        curl_easy_setopt(x->h, CURLOPT_NOSIGNAL, 1L);
        if (body) {
                x->hdr = curl_slist_append(NULL, "Content-Type: application/json");
                curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, x->hdr);
                curl_easy_setopt(x->h, CURLOPT_POSTFIELDS, body);
                curl_easy_setopt(x->h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        }
        x->t0_ms = now_ms();
        return x;
}

static void xfer_free(struct xfer *x) {
        if (!x)
                return;
        curl_easy_cleanup(x->h);
        curl_slist_free_all(x->hdr);
        free(x->body);
        free(x->resp);
        free(x);
}

static char *job_body(const struct opts *o, int i) {
        char *b = NULL;
        if (asprintf(&b,
                     "{\"Job\":{\"ID\":\"%s%d\",\"Type\":\"batch\",\"TaskGroups\":[{\"Name\":\"g\",\"Count\":%d,"
                     "\"Tasks\":[{\"Name\":\"t\",\"Driver\":\"raw_exec\",\"Config\":{\"command\":\"/bin/true\"},"
                     "\"Resources\":{\"CPU\":10,\"MemoryMB\":10}}]}]}}",
                     o->prefix, i, o->count) < 0)
                return NULL;
        return b;
}

static char *node_body(int i) {
        char *b = NULL;
        if (asprintf(&b,
                     "{\"Node\":{\"ID\":\"00000000-0000-4000-8000-%012d\",\"SecretID\":\"s\",\"Name\":\"bench-%d\","
                     "\"Datacenter\":\"dc1\",\"Status\":\"ready\",\"NodeResources\":{\"Cpu\":{\"CpuShares\":10000000},"
                     "\"Memory\":{\"MemoryMB\":100000000},\"Disk\":{\"DiskMB\":100000000}},"
                     "\"Drivers\":{\"raw_exec\":{\"Detected\":true,\"Healthy\":true}}}}",
                     i, i) < 0)
                return NULL;
        return b;
}

/* Placements of the bench's jobs in one server's job list (-1: no answer). */
static long count_placed(const char *resp, size_t len) {
        json_error_t je;
        json_t *arr = json_loadb(resp, len, 0, &je);
        if (!json_is_array(arr)) {
                json_decref(arr);
                return -1;
        }
        long placed = 0;
        size_t i;
        json_t *j;
        json_array_foreach(arr, i, j) {
                const char *k;
                json_t *g;
                json_object_foreach(json_object_get(json_object_get(j, "JobSummary"), "Summary"), k, g) {
                        static const char *const fields[] = {"Starting", "Running", "Complete", "Failed", "Lost"};
                        for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++)
                                placed += (long)json_integer_value(json_object_get(g, fields[f]));
                }
        }
        json_decref(arr);
        return placed;
}

static int parse_int(const char *name, const char *v, int lo, int hi, int *ret) {
        char *end;
        errno = 0;
        long n = strtol(v, &end, 10);
        if (errno || *end || n < lo || n > hi) {
                fprintf(stderr, "raft_load: %s must be an integer in [%d, %d] (got \"%s\")\n", name, lo, hi, v);
                return -EINVAL;
        }
        *ret = (int)n;
        return 0;
}

static int parse_args(int argc, char **argv, struct opts *o) {
        *o = (struct opts){
            .nodes = 100, .jobs = 100, .count = 1000, .concurrency = 32, .timeout_s = 300, .prefix = "bench-"};
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                const char *v = i + 1 < argc ? argv[i + 1] : NULL;
                int r = 0;
                if (!v) {
                        fprintf(stderr, "raft_load: %s needs a value\n", a);
                        return -EINVAL;
                }
                if (strcmp(a, "--servers") == 0) {
                        char *copy = strdup(v), *save = NULL;
                        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                                if (o->n_servers == MAX_SERVERS || strlen(t) > 100) {
                                        fprintf(stderr, "raft_load: at most %d servers of host:port\n", MAX_SERVERS);
                                        free(copy);
                                        return -EINVAL;
                                }
                                o->servers[o->n_servers++] = strdup(t);
                        }
                        free(copy);
                } else if (strcmp(a, "--nodes") == 0) {
                        r = parse_int(a, v, 1, 100000, &o->nodes);
                } else if (strcmp(a, "--jobs") == 0) {
                        r = parse_int(a, v, 1, MAX_JOBS, &o->jobs);
                } else if (strcmp(a, "--count") == 0) {
                        r = parse_int(a, v, 1, MAX_COUNT, &o->count);
                } else if (strcmp(a, "--concurrency") == 0) {
                        r = parse_int(a, v, 1, MAX_CONCURRENCY, &o->concurrency);
                } else if (strcmp(a, "--timeout") == 0) {
                        r = parse_int(a, v, 1, 3600, &o->timeout_s);
                } else if (strcmp(a, "--latencies") == 0) {
                        o->latencies = v;
                } else if (strcmp(a, "--prefix") == 0) {
                        if (strlen(v) > 40) {
                                fprintf(stderr, "raft_load: --prefix: at most 40 characters\n");
                                return -EINVAL;
                        }
                        o->prefix = v;
                } else {
                        fprintf(stderr, "raft_load: unknown option %s\n", a);
                        return -EINVAL;
                }
                if (r < 0)
                        return r;
                i++;
        }
        if (o->n_servers == 0) {
                fprintf(stderr, "raft_load: --servers H:P[,H:P...] is required\n");
                return -EINVAL;
        }
        return 0;
}

/* Register the nodes, --concurrency at a time; a node whose registration fails
 * (no leader elected yet) is tried again, for 30 s at most. Returns how many got a 2xx. */
static int run_nodes(CURLM *m, const struct opts *o) {
        int ok = 0, next = 0, running = 0, *retry = calloc((size_t)o->nodes, sizeof(int)), n_retry = 0;
        double deadline = now_ms() + 30e3;
        while ((next < o->nodes || n_retry > 0 || running > 0) && retry) {
                while ((next < o->nodes || n_retry > 0) && running < o->concurrency && now_ms() < deadline) {
                        int i = n_retry > 0 ? retry[--n_retry] : next++;
                        struct xfer *x =
                            xfer_new("PUT", o->servers[i % o->n_servers], "/v1/node/register", node_body(i + 1));
                        if (!x)
                                continue;
                        x->job = i;
                        curl_multi_add_handle(m, x->h);
                        running++;
                }
                if (running == 0 && now_ms() >= deadline)
                        break;
                int still;
                curl_multi_perform(m, &still);
                CURLMsg *msg;
                int left, done = 0;
                while ((msg = curl_multi_info_read(m, &left))) {
                        if (msg->msg != CURLMSG_DONE)
                                continue;
                        struct xfer *x;
                        long code = 0;
                        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
                        curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
                        if (msg->data.result == CURLE_OK && code / 100 == 2) {
                                ok++;
                        } else {
                                retry[n_retry++] = x->job;
                                usleep(100 * 1000);
                        }
                        curl_multi_remove_handle(m, x->h);
                        xfer_free(x);
                        running--;
                        done++;
                }
                if (done == 0) /* else the freed slots are filled at once */
                        curl_multi_poll(m, NULL, 0, 100, NULL);
        }
        free(retry);
        return ok;
}

int main(int argc, char **argv) {
        struct opts o;
        if (parse_args(argc, argv, &o) < 0)
                return 2;
        curl_global_init(CURL_GLOBAL_DEFAULT);
        CURLM *m = curl_multi_init();
        int nodes_ok = run_nodes(m, &o);
        if (nodes_ok < o.nodes)
                fprintf(stderr, "raft_load: only %d of %d nodes registered\n", nodes_ok, o.nodes);

        double *lat = calloc((size_t)o.jobs, sizeof(*lat));
        FILE *lat_file = o.latencies ? fopen(o.latencies, "w") : NULL;
        if (o.latencies && !lat_file)
                fprintf(stderr, "raft_load: --latencies %s: %s\n", o.latencies, strerror(errno));
        int n_lat = 0, next = 0, running = 0, acked = 0, failed = 0;
        long want = (long)o.jobs * o.count, placed = 0;
        struct xfer *poll = NULL;
        char poll_path[128];
        snprintf(poll_path, sizeof(poll_path), "/v1/jobs?prefix=%s", o.prefix);
        double t0 = now_ms(), t_last_reg = t0, t_done = 0, next_poll = t0 + POLL_MS;
        double deadline = t0 + o.timeout_s * 1e3;
        while (now_ms() < deadline) {
                while (next < o.jobs && running < o.concurrency) {
                        struct xfer *x = xfer_new("PUT", o.servers[next % o.n_servers], "/v1/jobs", job_body(&o, next));
                        if (!x)
                                break;
                        x->job = next++;
                        curl_multi_add_handle(m, x->h);
                        running++;
                }
                if (!poll && now_ms() >= next_poll) {
                        poll = xfer_new("GET", o.servers[0], poll_path, NULL);
                        if (poll)
                                curl_multi_add_handle(m, poll->h);
                }
                /* Completions are read right after the transfers they finish in, and
                 * their time taken then; waiting first (curl_multi_poll) would add up to
                 * its timeout to a registration whose answer perform had just read. */
                int still, freed = 0;
                curl_multi_perform(m, &still);
                CURLMsg *msg;
                int left;
                while ((msg = curl_multi_info_read(m, &left))) {
                        if (msg->msg != CURLMSG_DONE)
                                continue;
                        struct xfer *x;
                        long code = 0;
                        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
                        curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
                        bool ok = msg->data.result == CURLE_OK && code / 100 == 2;
                        double t = now_ms();
                        if (x == poll) {
                                long p = ok ? count_placed(x->resp, x->resp_len) : -1;
                                if (p >= 0)
                                        placed = p;
                                if (placed >= want && next == o.jobs && running == 0)
                                        t_done = t;
                                poll = NULL;
                                next_poll = t + POLL_MS;
                        } else {
                                running--;
                                freed++;
                                t_last_reg = t;
                                if (ok) {
                                        acked++;
                                        lat[n_lat++] = t - x->t0_ms;
                                        if (lat_file)
                                                fprintf(lat_file, "%d %s %.2f %.2f\n", x->job,
                                                        o.servers[x->job % o.n_servers], x->t0_ms - t0,
                                                        t - x->t0_ms);
                                } else if (failed++ < 5) {
                                        fprintf(stderr, "raft_load: job %d: HTTP %ld: %.200s\n", x->job, code,
                                                x->resp ? x->resp : curl_easy_strerror(msg->data.result));
                                }
                        }
                        curl_multi_remove_handle(m, x->h);
                        xfer_free(x);
                }
                if (t_done > 0)
                        break;
                if (freed == 0 || next == o.jobs) /* else the freed slots are filled at once */
                        curl_multi_poll(m, NULL, 0, 20, NULL);
        }
        if (poll) {
                curl_multi_remove_handle(m, poll->h);
                xfer_free(poll);
        }
        double end = t_done > 0 ? t_done : now_ms();
        qsort(lat, (size_t)n_lat, sizeof(*lat), cmp_double);
        double p50 = n_lat ? lat[n_lat / 2] : 0, p99 = n_lat ? lat[(n_lat * 99) / 100 - (n_lat >= 100 ? 1 : 0)] : 0;
        if (n_lat && (n_lat * 99) / 100 == 0)
                p99 = lat[n_lat - 1];
        printf("raft_jobs_acknowledged=%d\n", acked);
        printf("raft_placements=%ld\n", placed);
        printf("committed_placements_per_sec=%.0f\n", placed / ((end - t0) / 1e3));
        printf("register_per_sec=%.0f\n", acked / ((t_last_reg - t0) / 1e3 > 0 ? (t_last_reg - t0) / 1e3 : 1));
        printf("commit_latency_p50_ms=%.1f\n", p50);
        printf("commit_latency_p99_ms=%.1f\n", p99);
        free(lat);
        if (lat_file)
                fclose(lat_file);
        curl_multi_cleanup(m);
        curl_global_cleanup();
        for (int i = 0; i < o.n_servers; i++)
                free(o.servers[i]);
        return placed >= want ? 0 : 1;
}
