/* task_proc.c - exit watching and kill escalation for one task process. */
#include "nodeagent/drivers/task_proc.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"

struct task_proc {
        const struct driver_ops *ops;
        struct driver_handle handle;
        int exit_fd;
        uv_poll_t poll;
        uv_timer_t kill_timer;
        int open_handles;
        bool exited;
        bool killing;
        bool freed;
        task_proc_exit_fn on_exit;
        void *data;
        /* While the driver starts it (->start_async): no handles yet. */
        uv_loop_t *loop;
        bool starting;
        task_proc_started_fn on_started;
        bool kill_pending; /* task_proc_kill while starting: applied once it runs */
        int kill_sig;
        int64_t kill_timeout_ns;
};

static void on_handle_closed(uv_handle_t *h) {
        struct task_proc *p = h->data;
        if (--p->open_handles == 0) {
                if (p->exit_fd >= 0)
                        close(p->exit_fd);
                free(p);
        }
}

static void on_exit_readable(uv_poll_t *poll, int status, int events) {
        struct task_proc *p = poll->data;
        struct driver_exit ex = {0};
        struct error err = {0};
        int r = p->ops->wait(&p->handle, p->exit_fd, &ex, &err);
        if (r == -EAGAIN)
                return;
        if (r < 0) {
                log_debug("task process %d: %s", (int)p->handle.pid, err.msg);
                ex.unknown = true;
        }
        uv_poll_stop(&p->poll);
        uv_timer_stop(&p->kill_timer);
        p->exited = true;
        if (p->on_exit)
                p->on_exit(p, &ex, p->data);
}

static void on_kill_timeout(uv_timer_t *t) {
        struct task_proc *p = t->data;
        if (p->exited)
                return;
        log_debug("task process %d: kill timeout passed, sending SIGKILL", (int)p->handle.pid);
        p->ops->signal(&p->handle, SIGKILL, NULL);
}

/* Watch p's exit fd on the loop. On failure the fd is closed and p freed. */
static int watch(uv_loop_t *loop, struct task_proc *p, struct task_proc **ret, struct error *err) {
        int r = uv_poll_init(loop, &p->poll, p->exit_fd);
        if (r < 0) {
                close(p->exit_fd);
                free(p);
                return errorf(err, r, "watch task process: %s", uv_strerror(r));
        }
        if (ret)
                *ret = p;
        uv_timer_init(loop, &p->kill_timer);
        p->poll.data = p;
        p->kill_timer.data = p;
        p->open_handles = 2;
        uv_poll_start(&p->poll, UV_READABLE, on_exit_readable);
        return 0;
}

int task_proc_start(uv_loop_t *loop, const struct driver_ops *ops, const struct driver_spec *spec,
                    task_proc_exit_fn on_exit, void *data, struct task_proc **ret, struct error *err) {
        struct task_proc *p = calloc(1, sizeof(*p));
        if (!p)
                return errorf(err, -ENOMEM, "out of memory");
        p->ops = ops;
        p->exit_fd = -1;
        p->on_exit = on_exit;
        p->data = data;
        int r = ops->start(spec, &p->handle, &p->exit_fd, err);
        if (r < 0) {
                free(p);
                return r;
        }
        struct driver_handle h = p->handle;
        r = watch(loop, p, ret, err);
        if (r < 0)
                ops->signal(&h, SIGKILL, NULL);
        return r;
}

/* The driver's answer to ->start_async. */
static void on_started(void *data, int r, const struct driver_handle *h, int exit_fd, const struct error *derr) {
        struct task_proc *p = data;
        struct error err = {0};
        if (derr)
                err = *derr;
        p->starting = false;
        if (r == 0) {
                p->handle = *h;
                p->exit_fd = exit_fd;
                if (p->freed) { /* nobody wants it any more: it would run untracked */
                        log_debug("task process %d: started after its runner went away; killing it", (int)h->pid);
                        p->ops->signal(&p->handle, SIGKILL, NULL);
                        close(p->exit_fd);
                        free(p);
                        return;
                }
                struct driver_handle copy = p->handle;
                const struct driver_ops *ops = p->ops;
                task_proc_started_fn cb = p->on_started;
                void *cb_data = p->data;
                r = uv_poll_init(p->loop, &p->poll, p->exit_fd);
                if (r < 0) {
                        ops->signal(&copy, SIGKILL, NULL);
                        close(p->exit_fd);
                        p->exit_fd = -1;
                        errorf(&err, r, "watch task process: %s", uv_strerror(r));
                } else {
                        uv_timer_init(p->loop, &p->kill_timer);
                        p->poll.data = p;
                        p->kill_timer.data = p;
                        p->open_handles = 2;
                        uv_poll_start(&p->poll, UV_READABLE, on_exit_readable);
                        cb(p, 0, NULL, cb_data);
                        /* A stop that came while it started (cb may have freed p: then
                         * freed is set and the handles are closing, p still allocated). */
                        if (!p->freed && p->kill_pending)
                                task_proc_kill(p, p->kill_sig, p->kill_timeout_ns);
                        return;
                }
        }
        if (p->freed) {
                free(p);
                return;
        }
        /* Not started: the caller frees p (task_proc_free). */
        p->exited = true;
        p->on_started(p, r, &err, p->data);
}

int task_proc_start_async(uv_loop_t *loop, const struct driver_ops *ops, const struct driver_spec *spec,
                          task_proc_started_fn on_started_cb, task_proc_exit_fn on_exit, void *data,
                          struct task_proc **ret, struct error *err) {
        if (!ops->start_async) {
                int r = task_proc_start(loop, ops, spec, on_exit, data, ret, err);
                return r < 0 ? r : 1;
        }
        struct task_proc *p = calloc(1, sizeof(*p));
        if (!p)
                return errorf(err, -ENOMEM, "out of memory");
        p->ops = ops;
        p->exit_fd = -1;
        p->on_exit = on_exit;
        p->on_started = on_started_cb;
        p->data = data;
        p->loop = loop;
        p->starting = true;
        int r = ops->start_async(spec, on_started, p, err);
        if (r == -EOPNOTSUPP) {
                free(p);
                r = task_proc_start(loop, ops, spec, on_exit, data, ret, err);
                return r < 0 ? r : 1;
        }
        if (r < 0) {
                free(p);
                return r;
        }
        *ret = p;
        return 0;
}

bool task_proc_starting(const struct task_proc *p) {
        return p->starting;
}

int task_proc_attach(uv_loop_t *loop, const struct driver_ops *ops, const struct driver_handle *h,
                     task_proc_exit_fn on_exit, void *data, struct task_proc **ret, struct error *err) {
        if (!ops->recover)
                return errorf(err, -ENOTSUP, "driver %s cannot re-attach to tasks", ops->name);
        struct task_proc *p = calloc(1, sizeof(*p));
        if (!p)
                return errorf(err, -ENOMEM, "out of memory");
        p->ops = ops;
        p->handle = *h;
        p->on_exit = on_exit;
        p->data = data;
        int r = ops->recover(&p->handle, &p->exit_fd, err);
        if (r < 0) {
                free(p);
                return r;
        }
        return watch(loop, p, ret, err);
}

int task_proc_kill(struct task_proc *p, int sig, int64_t timeout_ns) {
        if (p->exited)
                return -ESRCH;
        if (p->starting) {
                if (!p->kill_pending) {
                        p->kill_pending = true;
                        p->kill_sig = sig;
                        p->kill_timeout_ns = timeout_ns;
                }
                return 0;
        }
        int r = p->ops->signal(&p->handle, sig, NULL);
        if (!p->killing) {
                p->killing = true;
                uv_update_time(p->kill_timer.loop); /* the loop's cached time may be stale */
                uint64_t ms = timeout_ns > 0 ? (uint64_t)((timeout_ns + 999999) / 1000000) : 0;
                uv_timer_start(&p->kill_timer, on_kill_timeout, ms, 0);
        }
        return r;
}

const struct driver_handle *task_proc_handle(const struct task_proc *p) {
        return &p->handle;
}

bool task_proc_exited(const struct task_proc *p) {
        return p->exited;
}

void task_proc_free(struct task_proc *p) {
        if (!p || p->freed)
                return;
        p->freed = true;
        p->on_exit = NULL;
        /* Starting: freed (its task killed) when the driver answers. */
        if (p->starting)
                return;
        /* It never started: no handles to close. */
        if (p->open_handles == 0) {
                if (p->exit_fd >= 0)
                        close(p->exit_fd);
                free(p);
                return;
        }
        uv_poll_stop(&p->poll);
        uv_timer_stop(&p->kill_timer);
        uv_close((uv_handle_t *)&p->poll, on_handle_closed);
        uv_close((uv_handle_t *)&p->kill_timer, on_handle_closed);
}
