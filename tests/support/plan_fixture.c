/* plan_fixture.c - a plan evaluated and committed for the applier suites (plan_fixture.h). */
#include "tests/support/plan_fixture.h"

#include <criterion/criterion.h>

#include "common/error.h"
#include "controlplane/plan/applier.h"
#include "controlplane/state/state.h"

struct plan_result *plan_fixture_commit(struct state_store *s, const struct plan *p, uint64_t index) {
        struct plan_result *r = NULL;
        struct error err = {0};
        cr_assert_eq(plan_evaluate(s, p, &r, &err), 0, "plan of %s: %s", p->eval_id, err.msg);
        cr_assert_not_null(r);
        if (index)
                cr_assert_eq(plan_result_apply(s, index, r), 0, "plan of %s applied at %llu", p->eval_id,
                             (unsigned long long)index);
        return r;
}
