/* log_api.h - the agent's own small HTTP endpoint for task logs.
 *
 * Logs stay on the node, as in Nomad: `drover alloc logs` asks the server
 * which node runs the allocation and then reads
 *   GET http(s)://<node HTTPAddr>/v1/client/fs/logs/<alloc-id>?task=<t>&type=stdout|stderr&plain=true
 * from the agent. Files are <data-dir>/alloc/<alloc-id>/alloc/logs/<task>.<type>.<n>,
 * rotated files concatenated in order.
 *
 * It also serves GET /v1/client/allocation/<alloc-id>/stats: Nomad's
 * AllocResourceUsage of the allocation's running tasks (nodeagent/drivers/task_stats.h),
 * found through the pid file each task runner writes (TASK_PID_FILE); CPU
 * percentages against the previous request's sample of the same task. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct error;
struct log_api;
struct tls_config;

/* listen "ip:port" (port 0 = any); data_dir is the agent's -data-dir. A request
 * must carry X-Drover-Token: the allocation's token (common/alloc_token.h, made
 * with node_secret) or node_secret itself; 401 without, 403 when wrong. */
int log_api_start(const char *listen, const char *data_dir, const char *node_secret, struct log_api **ret,
                  struct error *err);
/* The same over HTTPS when tls->http (tls NULL: plain HTTP): the agent's
 * certificate and key, and with tls->verify_client a client certificate signed
 * by tls->ca_file on every request (403 with the reason otherwise). Plain HTTP
 * to an HTTPS endpoint fails its handshake and gets no answer. */
int log_api_start_tls(const char *listen, const char *data_dir, const char *node_secret, const struct tls_config *tls,
                      struct log_api **ret, struct error *err);
/* PUT (or POST) /v1/client/allocation/<alloc-id>/{restart,signal}?task=&signal=&all=
 * (same token rule) call fn on the HTTP thread (nodeagent/task_control.h); it
 * returns the HTTP status and fills msg. Without fn: 501. */
typedef int (*log_api_control_fn)(void *data, const char *alloc_id, const char *action, const char *task,
                                  const char *signal, bool all, char *msg, size_t msg_size);
void log_api_set_control(struct log_api *a, log_api_control_fn fn, void *data);
/* The port actually bound. */
int log_api_port(const struct log_api *a);
struct log_api *log_api_stop(struct log_api *a);
