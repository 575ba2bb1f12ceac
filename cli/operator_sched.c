/* operator_sched.c - `drover operator scheduler get-config|set-config`: the
 * replicated scheduler configuration (GET/PUT /v1/operator/scheduler/configuration),
 * in Nomad's layout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/error.h"
#include "common/jsonx.h"
#include "common/macros.h"

static const char get_help[] =
    "Usage: drover operator scheduler get-config [-json | -t=<template>]\n\n"
    "  Display the scheduler configuration: algorithm, preemption per scheduler,\n"
    "  whether job registration is rejected, and its modify index.\n";

static const char set_help[] =
    "Usage: drover operator scheduler set-config [options]\n\n"
    "  Change the scheduler configuration; options left out keep their value.\n\n"
    "Options:\n"
    "  -scheduler-algorithm=<binpack|spread|dotproduct>\n"
    "  -preempt-system-scheduler=<true|false>\n"
    "  -preempt-sysbatch-scheduler=<true|false>\n"
    "  -preempt-batch-scheduler=<true|false>\n"
    "  -preempt-service-scheduler=<true|false>\n"
    "  -reject-job-registration=<true|false>\n"
    "  -memory-oversubscription=<true|false>  (drover: only false)\n"
    "  -pause-eval-broker=<true|false>        (drover: only false)\n"
    "  -check-index=<n>  only when the configuration's ModifyIndex is <n> (check-and-set)\n"
    "Exit codes: 0 updated; 1 error, or -check-index did not match.\n";

static const char *yes_no(const json_t *o, const char *key) {
        return jx_bool(o, key, false) ? "true" : "false";
}

static int get_config(struct cli *c, int argc, char **argv) {
        if (argc > 0) {
                fprintf(stderr, "This command takes no arguments\n\n%s", get_help);
                return 1;
        }
        struct error err = {0};
        _cleanup_json_ json_t *resp = NULL;
        if (cli_get(c, "/v1/operator/scheduler/configuration", &resp, NULL, &err) < 0) {
                fprintf(stderr, "Error querying scheduler configuration: %s\n", err.msg);
                return 1;
        }
        json_t *sc = jx_obj(resp, "SchedulerConfig");
        int o = cli_output(c, sc);
        if (o >= 0)
                return o;
        json_t *pc = jx_obj(sc, "PreemptionConfig");
        char idx[32];
        snprintf(idx, sizeof(idx), "%lld", (long long)jx_int(sc, "ModifyIndex", 0));
        const char *keys[] = {"Scheduler Algorithm",           "Memory Oversubscription",
                              "Reject Job Registration",       "Pause Eval Broker",
                              "Preemption System Scheduler",   "Preemption Service Scheduler",
                              "Preemption Batch Scheduler",    "Preemption SysBatch Scheduler",
                              "Modify Index"};
        const char *vals[] = {jx_str(sc, "SchedulerAlgorithm", ""),
                              yes_no(sc, "MemoryOversubscriptionEnabled"),
                              yes_no(sc, "RejectJobRegistration"),
                              yes_no(sc, "PauseEvalBroker"),
                              yes_no(pc, "SystemSchedulerEnabled"),
                              yes_no(pc, "ServiceSchedulerEnabled"),
                              yes_no(pc, "BatchSchedulerEnabled"),
                              yes_no(pc, "SysBatchSchedulerEnabled"),
                              idx};
        cli_print_kv(keys, vals, (int)ARRAY_SIZE(keys));
        return 0;
}

struct bool_flag {
        const char *flag;  /* "-preempt-batch-scheduler" */
        const char *field; /* "BatchSchedulerEnabled" */
        bool in_preemption;
};

static const struct bool_flag bool_flags[] = {
    {"-preempt-system-scheduler", "SystemSchedulerEnabled", true},
    {"-preempt-sysbatch-scheduler", "SysBatchSchedulerEnabled", true},
    {"-preempt-batch-scheduler", "BatchSchedulerEnabled", true},
    {"-preempt-service-scheduler", "ServiceSchedulerEnabled", true},
    {"-reject-job-registration", "RejectJobRegistration", false},
    {"-memory-oversubscription", "MemoryOversubscriptionEnabled", false},
    {"-pause-eval-broker", "PauseEvalBroker", false},
};

/* "-name=V" or "-name V": the value, or NULL when argv[*i] is not -name. */
static const char *flag_value(const char *name, int argc, char **argv, int *i) {
        size_t n = strlen(name);
        if (strncmp(argv[*i], name, n) != 0)
                return NULL;
        if (argv[*i][n] == '=')
                return argv[*i] + n + 1;
        if (argv[*i][n] == '\0' && *i + 1 < argc)
                return argv[++*i];
        return NULL;
}

static int set_config(struct cli *c, int argc, char **argv) {
        struct error err = {0};
        _cleanup_json_ json_t *resp = NULL;
        if (cli_get(c, "/v1/operator/scheduler/configuration", &resp, NULL, &err) < 0) {
                fprintf(stderr, "Error querying scheduler configuration: %s\n", err.msg);
                return 1;
        }
        _cleanup_json_ json_t *sc = json_deep_copy(jx_obj(resp, "SchedulerConfig"));
        if (!json_is_object(sc)) {
                fprintf(stderr, "Error querying scheduler configuration: the answer has no SchedulerConfig\n");
                return 1;
        }
        json_t *pc = json_object_get(sc, "PreemptionConfig");
        if (!json_is_object(pc)) {
                pc = json_object();
                json_object_set_new(sc, "PreemptionConfig", pc);
        }
        const char *check = NULL;
        int changes = 0;
        for (int i = 0; i < argc; i++) {
                const char *v;
                if ((v = flag_value("-check-index", argc, argv, &i))) {
                        check = v;
                        continue;
                }
                if ((v = flag_value("-scheduler-algorithm", argc, argv, &i))) {
                        if (strcmp(v, "binpack") && strcmp(v, "spread") && strcmp(v, "dotproduct")) {
                                fprintf(stderr, "-scheduler-algorithm: binpack, spread or dotproduct (got \"%s\")\n",
                                        v);
                                return 1;
                        }
                        json_object_set_new(sc, "SchedulerAlgorithm", json_string(v));
                        changes++;
                        continue;
                }
                bool matched = false;
                for (size_t k = 0; k < ARRAY_SIZE(bool_flags) && !matched; k++) {
                        if (!(v = flag_value(bool_flags[k].flag, argc, argv, &i)))
                                continue;
                        matched = true;
                        if (strcmp(v, "true") && strcmp(v, "false")) {
                                fprintf(stderr, "%s: true or false (got \"%s\")\n", bool_flags[k].flag, v);
                                return 1;
                        }
                        json_object_set_new(bool_flags[k].in_preemption ? pc : sc, bool_flags[k].field,
                                            json_boolean(strcmp(v, "true") == 0));
                        changes++;
                }
                if (!matched) {
                        fprintf(stderr, "Unknown flag or argument \"%s\"\n\n%s", argv[i], set_help);
                        return 1;
                }
        }
        if (changes == 0) {
                fprintf(stderr, "No changes: give at least one option\n\n%s", set_help);
                return 1;
        }
        char path[96] = "/v1/operator/scheduler/configuration";
        if (check) {
                char *end;
                unsigned long long n = strtoull(check, &end, 10);
                if (!*check || *end || *check == '-') {
                        fprintf(stderr, "-check-index: expected a ModifyIndex (got \"%s\")\n", check);
                        return 1;
                }
                snprintf(path, sizeof(path), "/v1/operator/scheduler/configuration?cas=%llu", n);
        }
        json_object_del(sc, "CreateIndex");
        json_object_del(sc, "ModifyIndex");
        _cleanup_json_ json_t *out = NULL;
        if (cli_send(c, "PUT", path, sc, &out, &err) < 0) {
                fprintf(stderr, "Error setting scheduler configuration: %s\n", err.msg);
                return 1;
        }
        if (!jx_bool(out, "Updated", false)) {
                printf("Scheduler configuration could not be atomically updated, please try again\n");
                return 1;
        }
        printf("Scheduler configuration updated!\n");
        return 0;
}

const struct cli_command cli_operator_scheduler_commands[] = {
    {"get-config", "Display the current scheduler configuration", get_help, get_config},
    {"set-config", "Modify the current scheduler configuration", set_help, set_config},
    {NULL, NULL, NULL, NULL},
};
