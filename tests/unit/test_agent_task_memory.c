/* test_agent_task_memory.c - memory_max is enforced only where the cluster
 * oversubscribes memory (Nomad's MemoryOversubscriptionEnabled); else
 * memory.max is the task's memory. */
#include <criterion/criterion.h>
#include <string.h>

#include "common/error.h"
#include "isolation/cgroup.h"
#include "nodeagent/alloc/task_memory.h"

#define MIB (1024 * 1024)

/* The cgroup file's value for the limits a task gets, "" when not written. */
static const char *value_of(const struct task_memory *m, const char *file) {
        static struct cgroup_value v[16];
        struct cgroup_limits l = {.memory_bytes = (int64_t)m->memory_mb * MIB,
                                  .memory_max_bytes = (int64_t)m->memory_max_mb * MIB};
        struct error err = {0};
        int n = cgroup_limit_values(&l, v, 16, &err);
        cr_assert_geq(n, 0, "%s", err.msg);
        for (int i = 0; i < n; i++)
                if (strcmp(v[i].file, file) == 0)
                        return v[i].value;
        return "";
}

Test(agent_task_memory, memory_max_is_ignored_without_oversubscription) {
        struct task_memory m = task_memory_limits(32, 256, false);
        cr_assert_eq(m.memory_mb, 32);
        cr_assert_eq(m.memory_max_mb, 0);
        cr_assert(m.max_ignored);
        cr_assert_str_eq(value_of(&m, "memory.max"), "33554432"); /* 32 MiB, not 256 */
        cr_assert_str_eq(value_of(&m, "memory.high"), "");
}

Test(agent_task_memory, memory_max_is_enforced_with_oversubscription) {
        struct task_memory m = task_memory_limits(32, 256, true);
        cr_assert_eq(m.memory_mb, 32);
        cr_assert_eq(m.memory_max_mb, 256);
        cr_assert_not(m.max_ignored);
        cr_assert_str_eq(value_of(&m, "memory.high"), "33554432");
        cr_assert_str_eq(value_of(&m, "memory.max"), "268435456");
}

Test(agent_task_memory, nothing_to_warn_about_without_a_memory_max_above_memory) {
        for (int over = 0; over < 2; over++) {
                struct task_memory unset = task_memory_limits(64, 0, over);
                cr_assert_eq(unset.memory_max_mb, 0);
                cr_assert_not(unset.max_ignored);
                struct task_memory same = task_memory_limits(64, 64, over);
                cr_assert_eq(same.memory_max_mb, 0);
                cr_assert_not(same.max_ignored);
                cr_assert_str_eq(value_of(&same, "memory.max"), "67108864");
        }
}
