/* host.c - the host fingerprinter: kernel, OS and host name.
 *
 * Attributes (Nomad's): kernel.name, kernel.version, kernel.arch, os.name,
 * os.version, unique.hostname, unique.host_id (/etc/machine-id); os.pretty_name.
 * The kernel's own files (/proc/sys/kernel/{ostype,osrelease,hostname}) are read
 * under the root; uname is the fallback on the live host.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "common/error.h"
#include "common/model.h"
#include "nodeagent/fingerprint/fp_sources.h"
#include "nodeagent/fingerprint/fp_util.h"

/* KEY=value or KEY="value" from os-release. */
static void os_release_get(const char *buf, const char *key, char *out, size_t size) {
        out[0] = '\0';
        size_t klen = strlen(key);
        for (const char *line = buf; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
                if (strncmp(line, key, klen) != 0 || line[klen] != '=')
                        continue;
                const char *v = line + klen + 1;
                size_t vlen = strcspn(v, "\n");
                if (vlen >= 2 && (v[0] == '"' || v[0] == '\'') && v[vlen - 1] == v[0]) {
                        v++;
                        vlen -= 2;
                }
                snprintf(out, size, "%.*s", (int)vlen, v);
                return;
        }
}

static int fp_host_run(const struct fingerprint_ctx *ctx, struct node *n, struct error *err) {
        struct utsname u;
        if (uname(&u) < 0)
                return errorf(err, -errno, "uname: %s", strerror(errno));
        char name[80], release[256], host[256], buf[4096], id[64], version[64], pretty[256], machine_id[64];
        if (fp_read(ctx, "/proc/sys/kernel/ostype", name, sizeof(name)) <= 0)
                snprintf(name, sizeof(name), "%s", u.sysname);
        for (char *p = name; *p; p++)
                *p = (char)tolower((unsigned char)*p);
        if (fp_read(ctx, "/proc/sys/kernel/osrelease", release, sizeof(release)) <= 0)
                snprintf(release, sizeof(release), "%s", u.release);
        if (fp_read(ctx, "/proc/sys/kernel/hostname", host, sizeof(host)) <= 0 &&
            gethostname(host, sizeof(host) - 1) < 0)
                snprintf(host, sizeof(host), "%s", u.nodename);
        if (fp_read(ctx, "/etc/os-release", buf, sizeof(buf)) < 0 &&
            fp_read(ctx, "/usr/lib/os-release", buf, sizeof(buf)) < 0)
                buf[0] = '\0';
        os_release_get(buf, "ID", id, sizeof(id));
        os_release_get(buf, "VERSION_ID", version, sizeof(version));
        os_release_get(buf, "PRETTY_NAME", pretty, sizeof(pretty));
        int r = 0;
        r |= fp_set(n, "kernel.name", name);
        r |= fp_set(n, "kernel.version", release);
        r |= fp_set(n, "kernel.arch", u.machine);
        r |= fp_set(n, "os.name", *id ? id : "linux");
        r |= fp_set(n, "os.version", *version ? version : "unknown");
        if (*pretty)
                r |= fp_set(n, "os.pretty_name", pretty);
        r |= fp_set(n, "unique.hostname", host);
        if (fp_read(ctx, "/etc/machine-id", machine_id, sizeof(machine_id)) > 0)
                r |= fp_set(n, "unique.host_id", machine_id);
        if (r < 0)
                return errorf(err, -ENOMEM, "out of memory");
        return 0;
}

const struct fingerprint_ops fp_host = {.name = "host", .run = fp_host_run};
