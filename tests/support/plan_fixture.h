/* plan_fixture.h - what the plan applier suites (test_plan.c, test_preempt_record.c)
 * share: a plan evaluated against a store the way the leader's applier does it, and
 * committed. Criterion asserts: test code only. */
#pragma once

#include <stdint.h>

struct plan;
struct plan_result;
struct state_store;

/* plan_evaluate of p against s (asserted to succeed, with the applier's message) and,
 * when index is not 0, plan_result_apply of the result at index (asserted). Returns
 * the result; the caller frees it. */
struct plan_result *plan_fixture_commit(struct state_store *s, const struct plan *p, uint64_t index);
