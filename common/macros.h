/* macros.h - ownership helpers in the systemd/crun style. */
#pragma once

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void freep(void *p) {
        free(*(void **)p);
}
static inline void closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}
static inline void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Hand ownership out of a cleanup-managed local. */
#define TAKE_PTR(p)                                \
        ({                                         \
                __typeof__(p) _tp_ = (p);          \
                (p) = NULL;                        \
                _tp_;                              \
        })
#define TAKE_FD(fd)                                \
        ({                                         \
                int _tfd_ = (fd);                  \
                (fd) = -1;                         \
                _tfd_;                             \
        })

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#ifndef MIN
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#endif
#ifndef MAX
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#endif
#define UNUSED __attribute__((unused))

/* jansson */
#define _cleanup_json_ _cleanup_(json_decrefp)
