/* cgroup.c - the cgroup fingerprinter: which hierarchy is mounted where, and its controllers.
 *
 * Attributes: os.cgroups.version (Nomad's: "2" when /sys/fs/cgroup is the
 * unified hierarchy, "1" otherwise), unique.cgroup.mountpoint (Nomad's: the
 * cgroup2 mount, also in hybrid setups), os.cgroups.controllers (the root's
 * cgroup.controllers, comma-separated) and os.cgroups.subtree_control (what
 * the root delegates to its children). Read from /proc/self/mountinfo.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "common/macros.h"
#include "common/model.h"
#include "nodeagent/fingerprint/fp_sources.h"
#include "nodeagent/fingerprint/fp_util.h"

static void spaces_to_commas(char *s) {
        fp_trim(s);
        char *w = s;
        bool sep = false;
        for (char *p = s; *p; p++) {
                if (*p == ' ' || *p == '\t' || *p == '\n') {
                        sep = true;
                        continue;
                }
                if (sep && w != s)
                        *w++ = ',';
                sep = false;
                *w++ = *p;
        }
        *w = '\0';
}

static int fp_cgroup_run(const struct fingerprint_ctx *ctx, struct node *n, struct error *err) {
        char path[4096];
        _cleanup_fclose_ FILE *f = fopen(fp_path(ctx, "/proc/self/mountinfo", path, sizeof(path)), "re");
        if (!f)
                return errorf(err, -errno, "read %s: %s", path, strerror(errno));
        char line[4096], v2[1024] = "";
        bool root_is_v2 = false, any_v1 = false;
        while (fgets(line, sizeof(line), f)) {
                /* id parent maj:min root mountpoint opts [optional...] - fstype source superopts */
                char mnt[1024];
                if (sscanf(line, "%*s %*s %*s %*s %1023s", mnt) != 1)
                        continue;
                const char *dash = strstr(line, " - ");
                if (!dash)
                        continue;
                char fstype[64];
                if (sscanf(dash + 3, "%63s", fstype) != 1)
                        continue;
                if (strcmp(fstype, "cgroup2") == 0) {
                        if (!*v2 || strcmp(mnt, "/sys/fs/cgroup") == 0)
                                snprintf(v2, sizeof(v2), "%s", mnt);
                        if (strcmp(mnt, "/sys/fs/cgroup") == 0)
                                root_is_v2 = true;
                } else if (strcmp(fstype, "cgroup") == 0) {
                        any_v1 = true;
                }
        }
        int r = fp_set(n, "os.cgroups.version", root_is_v2 ? "2" : "1");
        if (*v2) {
                char buf[1024];
                r |= fp_set(n, "unique.cgroup.mountpoint", v2);
                snprintf(path, sizeof(path), "%s/cgroup.controllers", v2);
                fp_read(ctx, path, buf, sizeof(buf));
                spaces_to_commas(buf);
                r |= fp_set(n, "os.cgroups.controllers", buf);
                snprintf(path, sizeof(path), "%s/cgroup.subtree_control", v2);
                fp_read(ctx, path, buf, sizeof(buf));
                spaces_to_commas(buf);
                r |= fp_set(n, "os.cgroups.subtree_control", buf);
        } else if (!any_v1) {
                return errorf(err, -ENOENT, "%s: no cgroup or cgroup2 mount", path);
        }
        if (r < 0)
                return errorf(err, -ENOMEM, "out of memory");
        return 0;
}

const struct fingerprint_ops fp_cgroup = {.name = "cgroup", .run = fp_cgroup_run};
