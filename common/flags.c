/* flags.c - table-driven command-line flags (see flags.h). */
#include "common/flags.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

int flags_parse_duration_ms(const char *s, int64_t *ret) {
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (errno || end == s || v < 0)
                return -EINVAL;
        double mult;
        if (!*end || strcmp(end, "ms") == 0)
                mult = 1;
        else if (strcmp(end, "s") == 0)
                mult = 1000;
        else if (strcmp(end, "m") == 0)
                mult = 60000;
        else if (strcmp(end, "h") == 0)
                mult = 3600000;
        else
                return -EINVAL;
        *ret = (int64_t)(v * mult);
        return 0;
}

const struct flag *flags_find(const struct flag *flags, size_t n, const char *name, size_t name_len) {
        for (size_t k = 0; k < n; k++)
                if (strlen(flags[k].name) == name_len && strncmp(flags[k].name, name, name_len) == 0)
                        return &flags[k];
        return NULL;
}

int flags_set(void *cfg, const struct flag *f, const char *val, struct error *err) {
        char *base = (char *)cfg + f->offset;
        switch (f->type) {
        case FLAG_STR: {
                char *v = strdup(val);
                if (!v)
                        return errorf(err, -ENOMEM, "out of memory");
                free(*(char **)base);
                *(char **)base = v;
                return 0;
        }
        case FLAG_BOOL:
                if (strcmp(val, "true") == 0 || strcmp(val, "1") == 0)
                        *(bool *)base = true;
                else if (strcmp(val, "false") == 0 || strcmp(val, "0") == 0)
                        *(bool *)base = false;
                else
                        return errorf(err, -EINVAL, "-%s: expected true or false (got \"%s\")", f->name, val);
                return 0;
        case FLAG_INT: {
                char *end;
                errno = 0;
                long long v = strtoll(val, &end, 10);
                if (errno || *end || end == val || v < f->min || v > f->max)
                        return errorf(err, -EINVAL, "-%s: expected an integer from %lld to %lld (got \"%s\")",
                                      f->name, (long long)f->min, (long long)f->max, val);
                *(int64_t *)base = v;
                return 0;
        }
        case FLAG_DURATION_MS: {
                int64_t v;
                if (flags_parse_duration_ms(val, &v) < 0 || v < f->min || v > f->max)
                        return errorf(err, -EINVAL,
                                      "-%s: expected a duration such as 500ms, 10s or 2m within [%lldms, %lldms] (got \"%s\")",
                                      f->name, (long long)f->min, (long long)f->max, val);
                *(int64_t *)base = v;
                return 0;
        }
        }
        return errorf(err, -EINVAL, "-%s: unknown flag type", f->name);
}

int flags_defaults(void *cfg, const struct flag *flags, size_t n, struct error *err) {
        for (size_t i = 0; i < n; i++) {
                int r = flags_set(cfg, &flags[i], flags[i].def, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

int flags_parse(void *cfg, const struct flag *flags, size_t n, int argc, char **argv, struct error *err) {
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                if (strcmp(a, "-h") == 0 || strcmp(a, "-help") == 0 || strcmp(a, "--help") == 0)
                        return 1;
                if (a[0] != '-' || !a[1])
                        return errorf(err, -EINVAL, "unexpected argument \"%s\" (see -help)", a);
                a += a[1] == '-' ? 2 : 1;
                const char *eq = strchr(a, '=');
                size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
                const struct flag *f = flags_find(flags, n, a, nlen);
                if (!f)
                        return errorf(err, -EINVAL, "unknown flag \"%s\" (see -help)", argv[i]);
                const char *val = eq ? eq + 1 : NULL;
                if (!val) {
                        if (f->type == FLAG_BOOL)
                                val = "true";
                        else if (i + 1 < argc)
                                val = argv[++i];
                        else
                                return errorf(err, -EINVAL, "flag -%s needs a value", f->name);
                }
                int r = flags_set(cfg, f, val, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

void flags_print_help(const struct flag *flags, size_t n, int width) {
        for (size_t i = 0; i < n; i++)
                printf("  -%-*s %s (default %s%s%s)\n", width, flags[i].name, flags[i].help,
                       flags[i].type == FLAG_STR ? "\"" : "", flags[i].def, flags[i].type == FLAG_STR ? "\"" : "");
}

void flags_print_values(const void *cfg, const struct flag *flags, size_t n) {
        for (size_t i = 0; i < n; i++) {
                const char *base = (const char *)cfg + flags[i].offset;
                switch (flags[i].type) {
                case FLAG_STR:
                        if (flags[i].secret && **(char *const *)base)
                                printf("%s = \"<redacted>\"\n", flags[i].name);
                        else
                                printf("%s = \"%s\"\n", flags[i].name, *(char *const *)base);
                        break;
                case FLAG_BOOL:
                        printf("%s = %s\n", flags[i].name, *(const bool *)base ? "true" : "false");
                        break;
                case FLAG_INT:
                        printf("%s = %lld\n", flags[i].name, (long long)*(const int64_t *)base);
                        break;
                case FLAG_DURATION_MS:
                        printf("%s = \"%lldms\"\n", flags[i].name, (long long)*(const int64_t *)base);
                        break;
                }
        }
}

void flags_free(void *cfg, const struct flag *flags, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (flags[i].type == FLAG_STR) {
                        char **p = (char **)((char *)cfg + flags[i].offset);
                        free(*p);
                        *p = NULL;
                }
}
