/* test_task_control.c - alloc restart/signal requests from the HTTP thread are
 * carried out on the agent's loop and answered back; unknown allocations and
 * actions, and a closed control, get their statuses. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "common/error.h"
#include "nodeagent/task_control.h"

struct call {
        struct task_control *tc;
        const char *alloc_id, *action;
        int status;
        char msg[256];
        atomic_bool done;
};

static int lookups;

static struct alloc_runner *lookup_none(void *data, const char *id) {
        (void)data, (void)id;
        lookups++; /* on the loop thread */
        return NULL;
}

static void *caller(void *arg) {
        struct call *c = arg;
        c->status = task_control_call(c->tc, c->alloc_id, c->action, "t", "SIGHUP", false, c->msg, sizeof(c->msg));
        atomic_store(&c->done, true);
        return NULL;
}

/* Run the call on a thread of its own while this thread turns the loop. */
static void run_call(uv_loop_t *loop, struct call *c) {
        pthread_t th;
        cr_assert_eq(pthread_create(&th, NULL, caller, c), 0);
        for (int i = 0; i < 10000 && !atomic_load(&c->done); i++)
                uv_run(loop, UV_RUN_NOWAIT), usleep(1000);
        pthread_join(th, NULL);
}

Test(task_control, a_request_is_carried_out_on_the_loop_and_answered) {
        uv_loop_t loop;
        uv_loop_init(&loop);
        struct task_control *tc = NULL;
        struct error err = {0};
        cr_assert_eq(task_control_create(&loop, lookup_none, NULL, &tc, &err), 0);
        lookups = 0;
        struct call c = {.tc = tc, .alloc_id = "0b9f0e1e-5c3a-4b4e-9a51-0e0d6a0c1f22", .action = "restart"};
        run_call(&loop, &c);
        cr_expect_eq(c.status, 404);
        cr_expect(strstr(c.msg, "Unknown allocation") != NULL, "%s", c.msg);
        cr_expect_eq(lookups, 1, "looked up once, on the loop");

        struct call bad = {.tc = tc, .alloc_id = c.alloc_id, .action = "explode"};
        run_call(&loop, &bad);
        cr_expect_eq(bad.status, 404, "an unknown action never reaches the loop");
        cr_expect_eq(lookups, 1);

        task_control_close(tc);
        struct call late = {.tc = tc, .alloc_id = c.alloc_id, .action = "signal"};
        /* closed: refused at once (the struct is freed only when the loop runs again) */
        late.status = task_control_call(tc, late.alloc_id, late.action, NULL, NULL, false, late.msg, sizeof(late.msg));
        cr_expect_eq(late.status, 503);
        uv_run(&loop, UV_RUN_DEFAULT);
        cr_expect_eq(uv_loop_close(&loop), 0, "the async handle is closed");
}
