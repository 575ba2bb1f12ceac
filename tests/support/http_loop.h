/* http_loop.h - a unit test's HTTP listener (controlplane/api/http.c) on an event
 * loop of its own thread, as a daemon runs it: the tests of tests/unit/http start one,
 * drive it over sockets from the test thread, and stop it. */
#pragma once

#include <pthread.h>
#include <uv.h>

#include "controlplane/api/http.h"

struct http_loop {
        uv_loop_t loop;
        uv_async_t stop_async;
        pthread_t thread;
        struct http_server *srv;
        int port;
        /* Optional, each on the loop: setup before the thread starts (more handles
         * on the loop); before_destroy and after_destroy around http_server_destroy
         * when the test stops it (answer what the test held, close its handles). */
        void (*setup)(uv_loop_t *loop);
        void (*before_destroy)(void);
        void (*after_destroy)(void);
};

/* Start l's server with o and handler (Criterion asserts on failure); the hooks set
 * in l are kept, the rest is reset. */
void http_loop_start(struct http_loop *l, const struct http_server_opts *o, http_handler_fn handler, void *data);
/* Stop it on its loop (the hooks, the server destroyed), join the thread, close the loop. */
void http_loop_stop(struct http_loop *l);
