/* offload.c - leader work on libuv's pool. See offload.h. */
#include "controlplane/leader/offload.h"

#include <errno.h>
#include <stdlib.h>
#include <uv.h>

struct offload {
        uv_work_t work;
        void (*run)(void *arg);
        void (*done)(void *arg, bool canceled);
        void *arg;
};

static void offload_work(uv_work_t *w) {
        struct offload *o = w->data;
        o->run(o->arg);
}

static void offload_done(uv_work_t *w, int status) {
        struct offload *o = w->data;
        o->done(o->arg, status < 0);
        free(o);
}

int offload_run(struct uv_loop_s *loop, void (*work)(void *arg), void (*done)(void *arg, bool canceled), void *arg) {
        struct offload *o = calloc(1, sizeof(*o));
        if (!o)
                return -ENOMEM;
        *o = (struct offload){.run = work, .done = done, .arg = arg};
        o->work.data = o;
        int r = uv_queue_work(loop, &o->work, offload_work, offload_done);
        if (r < 0)
                free(o);
        return r;
}
