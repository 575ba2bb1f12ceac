/* alloc_fixture.h - what the alloc runner suites (test_agent_alloc.c,
 * test_agent_lifecycle.c) share: the allocation the servers would send back to a
 * restarted agent, and the removal of a test's data directory. Criterion asserts:
 * test code only. */
#pragma once

struct alloc;
struct alloc_runner;

/* The alloc as the servers would send it back: with the task states last reported
 * (a new reference). */
struct alloc *alloc_fixture_as_reported(struct alloc *a, struct alloc_runner *ar);
/* Detach the secrets/ of every allocation under data_dir/alloc (tasks a test left
 * running keep theirs for the next agent), then remove data_dir. */
void alloc_fixture_remove(const char *data_dir);
