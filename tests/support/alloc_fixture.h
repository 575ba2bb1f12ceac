/* alloc_fixture.h - what the alloc runner suites (test_agent_alloc.c,
 * test_agent_lifecycle.c) share: their per-test setup (a data directory, a log
 * collector, a loop), the allocation they run, the allocation the servers would
 * send back to a restarted agent, and the removal of a test's data directory.
 * Criterion asserts: test code only. */
#pragma once

#include <uv.h>

struct alloc;
struct alloc_runner;
struct logmon;

struct alloc_fixture {
        char dir[64];       /* the agent's data directory */
        uv_loop_t loop;     /* the runners' */
        struct logmon *lm;  /* the log collector the tasks start through */
};

/* raw_exec enabled, a fresh /tmp/drover-<name>-XXXXXX, a log collector on it, a loop,
 * warnings only. */
void alloc_fixture_setup(struct alloc_fixture *f, const char *name);
/* Let the loop's closes finish, close it, stop the collector, remove the directory. */
void alloc_fixture_teardown(struct alloc_fixture *f);
/* Allocation id ("web.api[<index>]" as name) of job "web", group "api" (count 1), the
 * job of that type with that group restart policy (JSON) and tasks (the JSON of the
 * Tasks array's elements); a new reference. */
struct alloc *alloc_fixture_alloc(const char *id, const char *name, const char *type, const char *restart,
                                  const char *tasks);
/* Run f's loop until every task of ar is dead, or ms pass. */
void alloc_fixture_run_until_finished(struct alloc_fixture *f, struct alloc_runner *ar, int ms);

/* The alloc as the servers would send it back: with the task states last reported
 * (a new reference). */
struct alloc *alloc_fixture_as_reported(struct alloc *a, struct alloc_runner *ar);
/* Detach the secrets/ of every allocation under data_dir/alloc (tasks a test left
 * running keep theirs for the next agent), then remove data_dir. */
void alloc_fixture_remove(const char *data_dir);
