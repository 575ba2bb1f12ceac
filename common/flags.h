/* flags.h - table-driven command-line flags for the drover programs.
 *
 * A program describes its options once, as an array of struct flag whose
 * `offset` points into its config struct; the same table fills defaults,
 * parses argv (-name value, -name=value, --name=value; a bool alone means
 * true), prints -help and the effective configuration, and frees strings.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct error;

enum flag_type {
        FLAG_STR,         /* char *, malloc'd */
        FLAG_BOOL,        /* bool: true/false/1/0 */
        FLAG_INT,         /* int64_t within [min, max] */
        FLAG_DURATION_MS, /* int64_t milliseconds from "500ms", "10s", "2m", "1h" or a number of ms, within [min, max] */
};

struct flag {
        const char *name; /* without the dash */
        enum flag_type type;
        const char *def; /* default, in the syntax of a value on the command line */
        int64_t min, max;
        size_t offset; /* offsetof(config struct, field) */
        const char *help;
        bool secret; /* flags_print_values shows "<redacted>" instead of a set value */
};

/* The flag called name (without the dash), or NULL. */
const struct flag *flags_find(const struct flag *flags, size_t n, const char *name, size_t name_len);
/* Parse one value into cfg's field. Returns 0 or negative with err naming the flag. */
int flags_set(void *cfg, const struct flag *f, const char *val, struct error *err);
/* Zero nothing; set every field to its default. */
int flags_defaults(void *cfg, const struct flag *flags, size_t n, struct error *err);
/* Apply argv[1..]. Returns 0, 1 when -h/-help/--help was given (nothing printed:
 * the caller prints its help), or negative with err. */
int flags_parse(void *cfg, const struct flag *flags, size_t n, int argc, char **argv, struct error *err);
/* "  -name    help (default X)" lines, the name column `width` wide. */
void flags_print_help(const struct flag *flags, size_t n, int width);
/* "name = value" lines of the effective configuration. */
void flags_print_values(const void *cfg, const struct flag *flags, size_t n);
/* Free the string fields (and set them NULL). */
void flags_free(void *cfg, const struct flag *flags, size_t n);
/* "10s", "500ms", "2m", "1h" or a plain number of milliseconds. 0 or -EINVAL. */
int flags_parse_duration_ms(const char *s, int64_t *ret);
