/* main.c - drover-agent: parse the option table, then run the agent hub.
 *
 * SIGINT/SIGTERM stop the agent cleanly. Tasks keep running (so that an agent
 * restart or upgrade does not kill the workload; re-attaching to them comes
 * with the local state store); with -dev they are stopped first, like
 * `nomad agent -dev`.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "common/http_client.h"
#include "common/log.h"
#include "common/model.h"
#include "common/tls.h"
#include "nodeagent/agent.h"
#include "nodeagent/config.h"
#include "nodeagent/drivers/driver.h"
#include "nodeagent/fingerprint/fingerprint.h"

static int print_fingerprint(const struct agent_config *cfg) {
        struct node *n = node_new();
        struct error err = {0};
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (!n || fingerprint_node_ctx(&(struct fingerprint_ctx){.data_dir = cfg->data_dir, .root = cfg->fingerprint_root}, n, &err) < 0)
                fprintf(stderr, "drover-agent: warning: %s\n", n ? err.msg : "out of memory");
        if (!n)
                return 1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        log_debug("fingerprint took %.3f ms",
                  (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
        json_t *j = fingerprint_attributes_json(n);
        if (cfg->fingerprint_devices) {
                json_t *nj = node_to_json(n);
                json_t *full = json_pack("{s:o,s:O}", "Attributes", j, "NodeResources",
                                         json_object_get(nj, "NodeResources"));
                json_decref(nj);
                j = full;
        }
        char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
        printf("%s\n", s ? s : "{}");
        free(s);
        json_decref(j);
        node_unref(n);
        return 0;
}

int main(int argc, char **argv) {
        /* One malloc arena for every thread: glibc gives each thread-pool thread (the
         * servers' HTTP calls, allocation directories) an arena of its own, whose
         * freed memory stays resident; they allocate little and rarely at once. */
        mallopt(M_ARENA_MAX, 1);
        struct agent_config cfg;
        struct error err = {0};
        int r = agent_config_parse(&cfg, argc, argv, &err);
        if (r != 0) {
                if (r < 0)
                        fprintf(stderr, "drover-agent: %s\n", err.msg);
                agent_config_free(&cfg);
                return r < 0 ? 2 : 0;
        }
        enum log_level lvl;
        if (log_parse_level(cfg.log_level, &lvl) < 0) {
                fprintf(stderr, "drover-agent: -log-level: expected debug, info, warn or error (got \"%s\")\n",
                        cfg.log_level);
                agent_config_free(&cfg);
                return 2;
        }
        log_set_level(lvl);
        log_set_prefix("drover-agent");
        struct driver_settings ds;
        agent_config_driver_settings(&cfg, &ds);
        driver_configure(&ds);
        if (cfg.print_config) {
                agent_config_print(&cfg);
                agent_config_free(&cfg);
                return 0;
        }
        if (cfg.fingerprint) {
                r = print_fingerprint(&cfg);
                agent_config_free(&cfg);
                return r;
        }
        for (const char *n = cfg.config_notes ? cfg.config_notes : ""; *n;) { /* keys of -config not used */
                size_t len = strcspn(n, "\n");
                log_info("%.*s", (int)len, n);
                n += len + (n[len] == '\n');
        }
        struct tls_client tc;
        agent_config_tls_client(&cfg, &tc);
        http_client_set_tls(&tc);
        /* Heartbeats, watches and status updates (GET, PUT) over kept connections: a TCP
         * connection per call was a tenth of the agent's CPU in a burst of 1,000 tasks. */
        http_client_keep_connections(true);
        http_client_direct(true); /* to its servers, never through the environment's proxy */
        struct agent *a = NULL;
        r = agent_create(&cfg, &a, &err);
        if (r < 0) {
                fprintf(stderr, "drover-agent: %s\n", err.msg);
                agent_config_free(&cfg);
                return 1;
        }
        int rc = agent_run(a);
        agent_destroy(a);
        agent_config_free(&cfg);
        return rc;
}
