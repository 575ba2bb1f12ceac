/* storage.c - the storage fingerprinter: statvfs of the data dir (or its nearest existing parent).
 *
 * Attributes: unique.storage.volume, unique.storage.bytestotal,
 * unique.storage.bytesfree (Nomad's names); NodeResources.Disk.DiskMB is the free space.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

#include "common/error.h"
#include "common/model.h"
#include "nodeagent/fingerprint/fp_sources.h"
#include "nodeagent/fingerprint/fp_util.h"

static int fp_storage_run(const struct fingerprint_ctx *ctx, struct node *n, struct error *err) {
        char dir[4096];
        snprintf(dir, sizeof(dir), "%s", ctx->data_dir && *ctx->data_dir ? ctx->data_dir : "/");
        struct statvfs st;
        /* The data dir may not exist yet: measure the nearest existing parent. */
        while (statvfs(dir, &st) < 0) {
                char *slash = strrchr(dir, '/');
                if (errno != ENOENT || !slash)
                        return errorf(err, -errno, "statvfs %s: %s", dir, strerror(errno));
                if (slash == dir)
                        dir[1] = '\0';
                else
                        *slash = '\0';
        }
        unsigned long long total = (unsigned long long)st.f_blocks * st.f_frsize;
        unsigned long long avail = (unsigned long long)st.f_bavail * st.f_frsize;
        int r = 0;
        r |= fp_set(n, "unique.storage.volume", dir);
        r |= fp_set_ll(n, "unique.storage.bytestotal", (long long)total);
        r |= fp_set_ll(n, "unique.storage.bytesfree", (long long)avail);
        if (r < 0)
                return errorf(err, -ENOMEM, "out of memory");
        n->disk_mb = (int64_t)(avail / (1024 * 1024));
        return 0;
}

const struct fingerprint_ops fp_storage = {.name = "storage", .run = fp_storage_run};
