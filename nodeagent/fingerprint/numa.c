/* numa.c - the NUMA fingerprinter: nodes with their cpus and memory.
 *
 * Attributes: numa.node.count (Nomad's name), and for each node N
 * numa.node<N>.cpus (kernel cpu list) and numa.node<N>.memorybytes.
 * A kernel without NUMA (no /sys/devices/system/node) is one node holding
 * every online cpu and all memory, as Nomad reports it.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/macros.h"
#include "common/model.h"
#include "nodeagent/fingerprint/fp_sources.h"
#include "nodeagent/fingerprint/fp_util.h"

static void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}

/* "Node 0 MemTotal:       65536000 kB" */
static long long node_mem_bytes(const struct fingerprint_ctx *ctx, int id) {
        char buf[4096];
        if (fp_readf(ctx, buf, sizeof(buf), "/sys/devices/system/node/node%d/meminfo", id) <= 0)
                return -1;
        const char *p = strstr(buf, "MemTotal:");
        if (!p)
                return -1;
        return strtoll(p + strlen("MemTotal:"), NULL, 10) * 1024;
}

static int fp_numa_run(const struct fingerprint_ctx *ctx, struct node *n, struct error *err) {
        char path[4096], key[64], cpus[4096];
        int r = 0, count = 0;
        _cleanup_(closedirp) DIR *d = opendir(fp_path(ctx, "/sys/devices/system/node", path, sizeof(path)));
        if (d) {
                struct dirent *de;
                while ((de = readdir(d))) {
                        int id;
                        char tail;
                        if (sscanf(de->d_name, "node%d%c", &id, &tail) != 1 || id < 0)
                                continue;
                        count++;
                        snprintf(key, sizeof(key), "numa.node%d.cpus", id);
                        if (fp_readf(ctx, cpus, sizeof(cpus), "/sys/devices/system/node/node%d/cpulist", id) >= 0)
                                r |= fp_set(n, key, cpus);
                        long long mem = node_mem_bytes(ctx, id);
                        snprintf(key, sizeof(key), "numa.node%d.memorybytes", id);
                        if (mem >= 0)
                                r |= fp_set_ll(n, key, mem);
                }
        }
        if (count == 0) {
                count = 1;
                if (fp_read(ctx, "/sys/devices/system/cpu/online", cpus, sizeof(cpus)) > 0)
                        r |= fp_set(n, "numa.node0.cpus", cpus);
                const char *mem = strmap_get(&n->attributes, "memory.totalbytes");
                if (mem)
                        r |= fp_set(n, "numa.node0.memorybytes", mem);
        }
        r |= fp_set_ll(n, "numa.node.count", count);
        if (r < 0)
                return errorf(err, -ENOMEM, "out of memory");
        return 0;
}

const struct fingerprint_ops fp_numa = {.name = "numa", .run = fp_numa_run};
