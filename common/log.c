#include "common/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum log_level cur_level = LOG_LVL_INFO;
static const char *cur_prefix = "drover";

void log_set_level(enum log_level lvl) {
        cur_level = lvl;
}

void log_set_prefix(const char *prefix) {
        cur_prefix = prefix;
}

int log_parse_level(const char *s, enum log_level *ret) {
        static const char *names[] = {"debug", "info", "warn", "error"};
        for (unsigned i = 0; i < 4; i++)
                if (strcmp(s, names[i]) == 0) {
                        *ret = (enum log_level)i;
                        return 0;
                }
        return -EINVAL;
}

void log_msg(enum log_level lvl, const char *fmt, ...) {
        static const char *tags[] = {"DEBUG", "INFO", "WARN", "ERROR"};
        if (lvl < cur_level)
                return;
        int saved = errno;
        struct timespec ts;
        struct tm tm;
        char when[32];
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
        char line[2048];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        fprintf(stderr, "%s.%03ldZ [%s] %s: %s\n", when, ts.tv_nsec / 1000000, tags[lvl], cur_prefix, line);
        errno = saved;
}
