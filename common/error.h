/* error.h - caller-owned error buffer passed across module boundaries. */
#pragma once

#include <stdarg.h>

struct error {
        int code;      /* negative errno, 0 when unset */
        char msg[256]; /* "outer: inner" context chain */
};

/* Fill err (may be NULL) with a formatted message; returns code (negative). */
int errorf(struct error *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prefix an existing message with more context: "ctx: old". Returns err->code. */
int error_prefix(struct error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void error_clear(struct error *err);
