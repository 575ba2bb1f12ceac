/* http_loop.c - see http_loop.h. */
#include "tests/support/http_loop.h"

#include <criterion/criterion.h>

#include "common/error.h"

static void on_stop(uv_async_t *h) {
        struct http_loop *l = h->data;
        if (l->before_destroy)
                l->before_destroy();
        l->srv = http_server_destroy(l->srv);
        if (l->after_destroy)
                l->after_destroy();
        uv_close((uv_handle_t *)h, NULL);
}

static void *run_loop(void *arg) {
        struct http_loop *l = arg;
        uv_run(&l->loop, UV_RUN_DEFAULT);
        return NULL;
}

void http_loop_start(struct http_loop *l, const struct http_server_opts *o, http_handler_fn handler, void *data) {
        l->srv = NULL;
        l->port = 0;
        cr_assert_eq(uv_loop_init(&l->loop), 0);
        cr_assert_eq(uv_async_init(&l->loop, &l->stop_async, on_stop), 0);
        l->stop_async.data = l;
        if (l->setup)
                l->setup(&l->loop);
        struct error err = {0};
        cr_assert_eq(http_server_start(&l->loop, o, handler, data, &l->srv, &err), 0, "%s", err.msg);
        l->port = http_server_port(l->srv);
        cr_assert_eq(pthread_create(&l->thread, NULL, run_loop, l), 0);
}

void http_loop_stop(struct http_loop *l) {
        uv_async_send(&l->stop_async);
        pthread_join(l->thread, NULL);
        uv_loop_close(&l->loop);
}
