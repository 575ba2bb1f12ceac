/* task_memory.c - a task's memory limits (task_memory.h). */
#include "nodeagent/alloc/task_memory.h"

struct task_memory task_memory_limits(int memory_mb, int memory_max_mb, bool oversubscription) {
        bool above = memory_max_mb > memory_mb;
        return (struct task_memory){
            .memory_mb = memory_mb,
            .memory_max_mb = above && oversubscription ? memory_max_mb : 0,
            .max_ignored = above && !oversubscription,
        };
}
