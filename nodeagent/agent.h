/* agent.h - the drover-agent hub: one libuv loop that owns the node, the
 * server client, the alloc runners and the log endpoint. main.c builds one
 * and runs it. */
#pragma once

struct agent;
struct agent_config;
struct error;
struct fingerprint_memo;
struct node;

/* Build the node this agent registers: identity from <data-dir> plus the
 * fingerprint, each fingerprinter's success recorded in memo (NULL: not kept) for
 * the periodic passes. Does not touch the network. */
int agent_build_node(const struct agent_config *cfg, struct fingerprint_memo *memo, struct node **ret,
                     struct error *err);

int agent_create(const struct agent_config *cfg, struct agent **ret, struct error *err);
/* Run until SIGINT/SIGTERM. Returns the process exit code. */
int agent_run(struct agent *a);
struct agent *agent_destroy(struct agent *a);
