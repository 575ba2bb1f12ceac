/* api_harness.h - the HTTP routes and the FSM of drover-server in one process,
 * without sockets, Raft or threads: a fake http_req feeds controlplane/api/routes.c,
 * and a fake server_propose() applies each command to the state store at once
 * through fsm_apply_command(), as the single voter would. Unit tests and the
 * API fuzz target use it; it replaces api/http.c and server.c at link time. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct server;

struct api_reply {
        int status;     /* 0 when the handler answered nothing (a parked blocking query) */
        char *body;     /* malloc'd, NUL-terminated */
        uint64_t index; /* X-Nomad-Index, 0 when none */
};

struct server *api_harness_new(void);
void api_harness_free(struct server *s);
/* One request; target is "/v1/...?a=b". body may be NULL. A query the handler
 * parks (blocking) is answered at once with the harness's 504. */
void api_harness_request(struct server *s, const char *method, const char *target, const char *body, size_t len,
                         struct api_reply *ret);
void api_reply_clear(struct api_reply *r);
/* Run fn once, just before the next proposed command is applied: as if another
 * command had been committed ahead of it in the log. */
void api_harness_before_apply(void (*fn)(struct server *s, void *arg), void *arg);
