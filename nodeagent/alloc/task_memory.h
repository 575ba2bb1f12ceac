/* task_memory.h - the memory limits a task runs under: memory, and memory_max only
 * where the cluster oversubscribes memory.
 *
 * Nomad enforces a task's `memory_max` only when the cluster's scheduler
 * configuration has MemoryOversubscriptionEnabled; otherwise the limit
 * (memory.max) is the task's `memory` and memory_max is ignored, with a warning.
 * drover's servers have no memory oversubscription: their scheduler
 * configuration reports MemoryOversubscriptionEnabled false and refuses true
 * (controlplane/api/routes_operator.c), and the allocation they send carries
 * the job's memory_max unchanged in AllocatedResources, so the agent cannot take
 * it from there; it decides with TASK_MEMORY_OVERSUBSCRIPTION.
 */
#pragma once

#include <stdbool.h>

/* What the servers this agent serves allow (see above). */
#define TASK_MEMORY_OVERSUBSCRIPTION false

struct task_memory {
        int memory_mb;     /* the task's memory: memory.max, or memory.high under memory_max */
        int memory_max_mb; /* memory.max above memory; 0 = none (not asked for, or ignored) */
        bool max_ignored;  /* the task asked for memory_max above memory and does not get it */
};

/* The limits for a task's `memory` and `memory_max` (0 = unset) when the cluster
 * does (oversubscription) or does not oversubscribe memory. Pure. */
struct task_memory task_memory_limits(int memory_mb, int memory_max_mb, bool oversubscription);
