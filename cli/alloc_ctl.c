/* alloc_ctl.c - `drover alloc restart` and `drover alloc signal`: Nomad's
 * PUT /v1/client/allocation/:id/{restart,signal}, which the servers forward to
 * the node running the allocation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/error.h"
#include "common/jsonx.h"
#include "common/macros.h"

const char cli_alloc_restart_help[] =
    "Usage: drover alloc restart [options] <allocation> [<task>]\n\n"
    "  Restart a running allocation's tasks in place: each is stopped with its\n"
    "  kill_signal and started again at once, with a \"Restart Signaled\" task\n"
    "  event. Not counted against the restart policy. Without a task, every running\n"
    "  task restarts. The ID may be a unique prefix.\n\n"
    "Options:\n"
    "  -address=<addr>  API address\n"
    "  -task=<task>     restart only this task (or give it as the second argument)\n"
    "  -all-tasks       every task, those that already ran too (a completed\n"
    "                   prestart task), in lifecycle order (no -task then)\n"
    "  -verbose         full IDs\n"
    "Exit codes: 0 restarted; 1 error (unknown allocation or task, task not running).\n";

const char cli_alloc_signal_help[] =
    "Usage: drover alloc signal [options] <allocation> [<task>]\n\n"
    "  Send a signal to a running allocation's tasks (a \"Signaling\" task event).\n"
    "  Without a task, every running task gets it. The ID may be a unique prefix.\n\n"
    "Options:\n"
    "  -address=<addr>  API address\n"
    "  -s=<signal>      the signal (SIGHUP, HUP, SIGUSR1...; default SIGKILL)\n"
    "  -task=<task>     signal only this task (or give it as the second argument)\n"
    "  -verbose         full IDs\n"
    "Exit codes: 0 sent; 1 error (unknown allocation, task or signal, task not running).\n";

static int alloc_ctl(struct cli *c, int argc, char **argv, bool restart) {
        const char *help = restart ? cli_alloc_restart_help : cli_alloc_signal_help;
        const char *task = NULL, *sig = NULL, *ops[2] = {0};
        bool all = false, verbose = false; /* -verbose: IDs are printed in full already */
        const struct cli_flag restart_flags[] = {{"-task", &task, NULL, false},
                                                 {"-all-tasks", NULL, &all, true},
                                                 {"-verbose", NULL, &verbose, true},
                                                 {0}};
        const struct cli_flag signal_flags[] = {
            {"-task", &task, NULL, false}, {"-s", &sig, NULL, false}, {"-verbose", NULL, &verbose, true}, {0}};
        int n = 0;
        if (cli_args(argc, argv, restart ? restart_flags : signal_flags, 1, 2, "<allocation> [<task>]", help, ops, &n))
                return 1;
        const char *id = ops[0];
        if (n == 2)
                task = ops[1];
        if (all && task) {
                fprintf(stderr, "The -all-tasks option is not allowed when naming a task\n");
                return 1;
        }
        if ((task && strlen(task) > 128) || (sig && strlen(sig) > 32)) {
                fprintf(stderr, "The task name (at most 128 bytes) or signal (at most 32) is too long\n");
                return 1;
        }
        _cleanup_free_ char *alloc_id = NULL, *path = NULL;
        if (cli_resolve_prefix(c, "/v1/allocations", "allocation", id, &alloc_id))
                return 1;
        if (asprintf(&path, "/v1/client/allocation/%s/%s", alloc_id, restart ? "restart" : "signal") < 0)
                return 1;
        _cleanup_json_ json_t *body = restart ? json_pack("{s:s,s:b}", "TaskName", task ? task : "", "AllTasks", all)
                                              : json_pack("{s:s,s:s}", "Task", task ? task : "", "Signal",
                                                          sig && *sig ? sig : "SIGKILL");
        _cleanup_json_ json_t *resp = NULL;
        struct error err = {0};
        if (!body)
                return 1;
        if (cli_send(c, "PUT", path, body, &resp, &err) < 0) {
                fprintf(stderr, "Error %s allocation: %s\n", restart ? "restarting" : "signalling", err.msg);
                return 1;
        }
        return 0;
}

int cli_alloc_restart(struct cli *c, int argc, char **argv) {
        return alloc_ctl(c, argc, argv, true);
}

int cli_alloc_signal(struct cli *c, int argc, char **argv) {
        return alloc_ctl(c, argc, argv, false);
}
