/* task_control.c - alloc restart / alloc signal from the HTTP thread onto the loop. */
#include "nodeagent/task_control.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "nodeagent/alloc/alloc_runner.h"
#include "nodeagent/drivers/driver.h"

#define CALL_TIMEOUT_S 10

struct tc_req {
        struct tc_req *next;
        const char *alloc_id, *action, *task, *signal;
        bool all;
        bool taken; /* the loop is carrying it out: the caller waits for done */
        bool done;
        int status;
        char msg[256];
};

struct task_control {
        uv_async_t async;
        task_control_lookup_fn lookup;
        void *data;
        pthread_mutex_t lock; /* queue, closed, each request's taken/done/status/msg */
        pthread_cond_t cond;
        struct tc_req *head, *tail;
        bool closed;
};

/* On the loop. */
static int carry_out(struct task_control *tc, const struct tc_req *q, char *msg, size_t size) {
        struct alloc_runner *ar = tc->lookup(tc->data, q->alloc_id);
        if (!ar) {
                snprintf(msg, size, "Unknown allocation \"%s\" on this node", q->alloc_id);
                return 404;
        }
        struct error err = {0};
        int r;
        if (strcmp(q->action, "restart") == 0) {
                if (q->all && q->task && *q->task) {
                        snprintf(msg, size, "Task name cannot be set when restarting all tasks");
                        return 400;
                }
                r = alloc_runner_restart(ar, q->task, q->all, &err);
        } else {
                int sig = q->signal && *q->signal ? signal_parse(q->signal) : SIGKILL;
                if (sig <= 0) {
                        snprintf(msg, size, "Unknown signal \"%s\"", q->signal);
                        return 400;
                }
                r = alloc_runner_signal(ar, q->task, sig, &err);
        }
        if (r == 0) {
                snprintf(msg, size, "{}");
                return 200;
        }
        snprintf(msg, size, "%s", err.msg);
        return r == -ENOENT ? 404 : r == -ESRCH ? 409 : 500;
}

static void on_async(uv_async_t *h) {
        struct task_control *tc = h->data;
        for (;;) {
                pthread_mutex_lock(&tc->lock);
                struct tc_req *q = tc->head;
                if (q) {
                        tc->head = q->next;
                        if (!tc->head)
                                tc->tail = NULL;
                        q->taken = true;
                }
                pthread_mutex_unlock(&tc->lock);
                if (!q)
                        return;
                char msg[256];
                int status = carry_out(tc, q, msg, sizeof(msg));
                pthread_mutex_lock(&tc->lock);
                q->status = status;
                memcpy(q->msg, msg, sizeof(msg));
                q->done = true;
                pthread_cond_broadcast(&tc->cond);
                pthread_mutex_unlock(&tc->lock);
        }
}

int task_control_create(uv_loop_t *loop, task_control_lookup_fn lookup, void *data, struct task_control **ret,
                        struct error *err) {
        struct task_control *tc = calloc(1, sizeof(*tc));
        if (!tc)
                return errorf(err, -ENOMEM, "out of memory");
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&tc->cond, &ca);
        pthread_condattr_destroy(&ca);
        pthread_mutex_init(&tc->lock, NULL);
        tc->lookup = lookup;
        tc->data = data;
        int r = uv_async_init(loop, &tc->async, on_async);
        if (r < 0) {
                pthread_cond_destroy(&tc->cond);
                pthread_mutex_destroy(&tc->lock);
                free(tc);
                return errorf(err, r, "uv_async_init: %s", uv_strerror(r));
        }
        tc->async.data = tc;
        *ret = tc;
        return 0;
}

static void on_closed(uv_handle_t *h) {
        struct task_control *tc = h->data;
        pthread_cond_destroy(&tc->cond);
        pthread_mutex_destroy(&tc->lock);
        free(tc);
}

void task_control_close(struct task_control *tc) {
        if (!tc)
                return;
        pthread_mutex_lock(&tc->lock);
        tc->closed = true;
        for (struct tc_req *q = tc->head; q; q = q->next) {
                q->status = 503; /* never carried out */
                snprintf(q->msg, sizeof(q->msg), "the agent is stopping");
                q->done = true;
        }
        tc->head = tc->tail = NULL;
        pthread_cond_broadcast(&tc->cond);
        pthread_mutex_unlock(&tc->lock);
        uv_close((uv_handle_t *)&tc->async, on_closed);
}

int task_control_call(struct task_control *tc, const char *alloc_id, const char *action, const char *task,
                      const char *signal, bool all, char *ret_msg, size_t msg_size) {
        if (strcmp(action, "restart") != 0 && strcmp(action, "signal") != 0) {
                snprintf(ret_msg, msg_size, "unknown action \"%s\"", action);
                return 404;
        }
        struct tc_req q = {.alloc_id = alloc_id, .action = action, .task = task, .signal = signal, .all = all};
        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += CALL_TIMEOUT_S;
        pthread_mutex_lock(&tc->lock);
        if (tc->closed) {
                pthread_mutex_unlock(&tc->lock);
                snprintf(ret_msg, msg_size, "the agent is stopping");
                return 503;
        }
        if (tc->tail)
                tc->tail->next = &q;
        else
                tc->head = &q;
        tc->tail = &q;
        uv_async_send(&tc->async);
        int status = 504;
        while (!q.done) {
                if (pthread_cond_timedwait(&tc->cond, &tc->lock, &deadline) != ETIMEDOUT || q.done || q.taken)
                        continue; /* taken: the loop answers promptly, wait for it */
                struct tc_req **pp = &tc->head, *prev = NULL; /* unlink: the loop has not seen it */
                while (*pp && *pp != &q) {
                        prev = *pp;
                        pp = &(*pp)->next;
                }
                if (*pp) {
                        *pp = q.next;
                        if (tc->tail == &q)
                                tc->tail = prev;
                }
                snprintf(ret_msg, msg_size, "the agent's loop did not answer within %d s", CALL_TIMEOUT_S);
                break;
        }
        if (q.done) {
                status = q.status;
                snprintf(ret_msg, msg_size, "%s", q.msg);
        }
        pthread_mutex_unlock(&tc->lock);
        return status;
}
