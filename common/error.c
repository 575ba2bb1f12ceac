#include "common/error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int errorf(struct error *err, int code, const char *fmt, ...) {
        if (code >= 0)
                code = -EINVAL;
        if (!err)
                return code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
        err->code = code;
        return code;
}

int error_prefix(struct error *err, const char *fmt, ...) {
        if (!err)
                return -EINVAL;
        char prefix[sizeof(err->msg)];
        char old[sizeof(err->msg)];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(prefix, sizeof(prefix), fmt, ap);
        va_end(ap);
        memcpy(old, err->msg, sizeof(old));
        size_t n = strlen(prefix);
        if (n > sizeof(err->msg) - 3)
                n = sizeof(err->msg) - 3;
        memcpy(err->msg, prefix, n);
        memcpy(err->msg + n, ": ", 2);
        size_t rest = sizeof(err->msg) - n - 3;
        size_t oldlen = strnlen(old, rest);
        memcpy(err->msg + n + 2, old, oldlen);
        err->msg[n + 2 + oldlen] = '\0';
        return err->code ? err->code : -EINVAL;
}

void error_clear(struct error *err) {
        if (!err)
                return;
        err->code = 0;
        err->msg[0] = '\0';
}
