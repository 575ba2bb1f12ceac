/* memory.c - the memory fingerprinter: memory.totalbytes from /proc/meminfo. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/model.h"
#include "nodeagent/fingerprint/fp_sources.h"
#include "nodeagent/fingerprint/fp_util.h"

static int fp_memory_run(const struct fingerprint_ctx *ctx, struct node *n, struct error *err) {
        char buf[8192];
        ssize_t len = fp_read(ctx, "/proc/meminfo", buf, sizeof(buf));
        if (len < 0)
                return errorf(err, (int)len, "read %s/proc/meminfo: %s", ctx->root ? ctx->root : "",
                              strerror((int)-len));
        const char *p = strstr(buf, "MemTotal:");
        if (!p)
                return errorf(err, -EINVAL, "%s/proc/meminfo: no MemTotal line", ctx->root ? ctx->root : "");
        long long kb = strtoll(p + strlen("MemTotal:"), NULL, 10);
        if (kb <= 0)
                return errorf(err, -EINVAL, "%s/proc/meminfo: bad MemTotal", ctx->root ? ctx->root : "");
        if (fp_set_ll(n, "memory.totalbytes", kb * 1024) < 0)
                return errorf(err, -ENOMEM, "out of memory");
        n->memory_mb = kb / 1024;
        return 0;
}

const struct fingerprint_ops fp_memory = {.name = "memory", .run = fp_memory_run};
