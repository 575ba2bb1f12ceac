/* main.c - drover-server: parse options, build the hub, run the loop. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "common/error.h"
#include "common/log.h"
#include "controlplane/api/routes.h"
#include "controlplane/broker/blocked.h"
#include "controlplane/broker/broker.h"
#include "controlplane/config.h"
#include "controlplane/leader/heartbeat.h"
#include "controlplane/raft/fsm.h"
#include "controlplane/leader/periodic.h"
#include "controlplane/server.h"
#include "controlplane/state/state.h"

int main(int argc, char **argv) {
        struct server_config cfg;
        struct error err = {0};
        int r = server_config_parse(&cfg, argc, argv, &err);
        if (r == 1) {
                server_config_free(&cfg);
                return 0;
        }
        if (r < 0) {
                fprintf(stderr, "drover-server: %s\n", err.msg);
                server_config_free(&cfg);
                return 2;
        }
        if (cfg.print_config) {
                server_config_print(&cfg);
                server_config_free(&cfg);
                return 0;
        }
        enum log_level lvl;
        if (log_parse_level(cfg.log_level, &lvl) < 0) {
                fprintf(stderr, "drover-server: -log-level: expected debug, info, warn or error (got \"%s\")\n",
                        cfg.log_level);
                server_config_free(&cfg);
                return 2;
        }
        log_set_level(lvl);
        log_set_prefix("drover-server");
        for (const char *n = cfg.config_notes ? cfg.config_notes : ""; *n;) { /* keys of -config not used */
                size_t len = strcspn(n, "\n");
                log_info("%.*s", (int)len, n);
                n += len + (n[len] == '\n');
        }
        /* A peer that dies mid-write must cost an EPIPE on that connection, not the process. */
        signal(SIGPIPE, SIG_IGN);
        /* Requests forwarded to the leader and peer probes wait on libuv's pool: more
         * than its default 4 threads, so that a slow leader does not stall them all. */
        setenv("UV_THREADPOOL_SIZE", "16", 0);
        uv_loop_t loop;
        uv_loop_init(&loop);
        struct server s = {.loop = &loop, .cfg = &cfg};
        r = server_start(&s, &err);
        if (r < 0) {
                log_error("cannot start: %s", err.msg);
                server_stop(&s);
        }
        uv_run(&loop, UV_RUN_DEFAULT);
        api_destroy(s.api);
        fsm_destroy(s.fsm);
        blocked_destroy(s.blocked);
        broker_destroy(s.broker);
        heartbeats_destroy(s.heartbeats);
        periodic_destroy(s.periodic);
        state_destroy(s.state);
        uv_loop_close(&loop);
        server_config_free(&cfg);
        return r < 0 ? 1 : 0;
}
