/* caps.c - the task's capability set (see caps.h). */
#include "isolation/caps.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/error.h"
#include "common/macros.h"

uint64_t caps_default_mask(void) {
        static const int set[] = {CAP_AUDIT_WRITE, CAP_CHOWN,  CAP_DAC_OVERRIDE,     CAP_FOWNER,  CAP_FSETID,
                                  CAP_KILL,        CAP_MKNOD,  CAP_NET_BIND_SERVICE, CAP_SETFCAP, CAP_SETGID,
                                  CAP_SETPCAP,     CAP_SETUID, CAP_SYS_CHROOT};
        uint64_t m = 0;
        for (size_t i = 0; i < ARRAY_SIZE(set); i++)
                m |= 1ULL << set[i];
        return m;
}

static int parse_cap(const char *name, int *ret, struct error *err) {
        char buf[64];
        if (strncasecmp(name, "cap_", 4) == 0)
                name += 4;
        if (snprintf(buf, sizeof(buf), "cap_%s", name) >= (int)sizeof(buf))
                return errorf(err, -EINVAL, "capability \"%s\": name too long", name);
        for (char *p = buf; *p; p++)
                *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        cap_value_t v;
        if (cap_from_name(buf, &v) < 0 || v < 0 || v > 63)
                return errorf(err, -EINVAL, "unknown capability \"%s\"", name);
        *ret = v;
        return 0;
}

int caps_compute(const char *const *add, const char *const *drop, uint64_t *ret, struct error *err) {
        uint64_t m = caps_default_mask();
        for (size_t i = 0; drop && drop[i]; i++) {
                if (strcasecmp(drop[i], "all") == 0) {
                        m = 0;
                        continue;
                }
                int c, r = parse_cap(drop[i], &c, err);
                if (r < 0)
                        return error_prefix(err, "cap_drop");
                m &= ~(1ULL << c);
        }
        for (size_t i = 0; add && add[i]; i++) {
                int c, r = parse_cap(add[i], &c, err);
                if (r < 0)
                        return error_prefix(err, "cap_add");
                m |= 1ULL << c;
        }
        *ret = m;
        return 0;
}

int caps_format(uint64_t mask, char *buf, size_t size) {
        size_t len = 0;
        if (size)
                buf[0] = '\0';
        for (int c = 0; c < 64; c++) {
                if (!(mask & (1ULL << c)))
                        continue;
                char *name = cap_to_name(c);
                if (!name)
                        return -ENOMEM;
                int n = snprintf(buf + len, size > len ? size - len : 0, "%s%s", len ? "," : "", name);
                cap_free(name);
                if (n < 0 || len + (size_t)n >= size)
                        return -ENOSPC;
                len += (size_t)n;
        }
        return (int)len;
}

int caps_last_cap(void) {
        char buf[16] = "";
        _cleanup_close_ int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
        if (fd < 0 || read(fd, buf, sizeof(buf) - 1) <= 0)
                return CAP_LAST_CAP;
        int v = atoi(buf);
        return v > 0 && v < 64 ? v : CAP_LAST_CAP;
}

int caps_drop_bounding(uint64_t keep, int last_cap) {
        for (int c = 0; c <= last_cap; c++)
                if (!(keep & (1ULL << c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
                        return -errno;
        return 0;
}

int caps_apply(uint64_t mask, int last_cap) {
        struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
        struct __user_cap_data_struct data[2];
        memset(data, 0, sizeof(data));
        for (int i = 0; i < 2; i++) {
                uint32_t w = (uint32_t)(mask >> (32 * i));
                data[i].effective = data[i].permitted = data[i].inheritable = w;
        }
        if (syscall(SYS_capset, &hdr, data) < 0)
                return -errno;
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
                return -errno;
        for (int c = 0; c <= last_cap; c++)
                if ((mask & (1ULL << c)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
                        return -errno;
        return 0;
}
