/* jobcheck.c - version constraints, distinct_hosts' boolean, the update and reschedule
 * blocks, as Nomad validates them. See jobcheck.h. */
#include "common/jobcheck.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "common/error.h"
#include "common/macros.h"

/* ---- version constraints ----------------------------------------------------------------- */

static bool ident_char(char c) {
        return isalnum((unsigned char)c) || c == '-' || c == '.' || c == '~';
}

/* One version at *p (leading "v", numbers, pre-release, build), advancing *p. */
static bool version_at(const char **p, bool strict) {
        const char *s = *p;
        if (*s == 'v')
                s++;
        int parts = 0;
        for (;;) {
                if (!isdigit((unsigned char)*s))
                        return false;
                while (isdigit((unsigned char)*s))
                        s++;
                parts++;
                if (*s != '.')
                        break;
                s++;
        }
        if (strict && parts > 3)
                return false;
        if (*s == '-' || (!strict && isalpha((unsigned char)*s))) { /* pre-release */
                s += *s == '-';
                const char *start = s;
                while (ident_char(*s))
                        s++;
                if (s == start || s[-1] == '.')
                        return false;
        }
        if (*s == '+') { /* build metadata */
                const char *start = ++s;
                while (ident_char(*s))
                        s++;
                if (s == start || s[-1] == '.')
                        return false;
        }
        *p = s;
        return true;
}

bool version_constraint_valid(const char *s, bool strict) {
        static const char *const ops[] = {"~>", ">=", "<=", "!=", "=", ">", "<"};
        if (!s)
                return false;
        for (;;) {
                while (*s == ' ' || *s == '\t')
                        s++;
                for (size_t i = 0; i < ARRAY_SIZE(ops); i++)
                        if (strncmp(s, ops[i], strlen(ops[i])) == 0) {
                                s += strlen(ops[i]);
                                break;
                        }
                while (*s == ' ' || *s == '\t')
                        s++;
                if (!version_at(&s, strict))
                        return false;
                while (*s == ' ' || *s == '\t')
                        s++;
                if (!*s)
                        return true;
                if (*s++ != ',')
                        return false;
        }
}

int go_bool_parse(const char *s) {
        static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
        static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
        for (size_t i = 0; s && i < ARRAY_SIZE(yes); i++) {
                if (strcmp(s, yes[i]) == 0)
                        return 1;
                if (strcmp(s, no[i]) == 0)
                        return 0;
        }
        return -1;
}

/* ---- blocks -------------------------------------------------------------------------------- */

struct int_field {
        const char *json, *hcl; /* Nomad's API name, the job file's */
};

/* Fields that must be integers >= 0 when present. */
static int non_negative(const char *where, const char *block, const json_t *o, const struct int_field *f, size_t n,
                        struct error *err) {
        for (size_t i = 0; i < n; i++) {
                const json_t *v = json_object_get(o, f[i].json);
                if (!v || json_is_null(v))
                        continue;
                if (!json_is_integer(v))
                        return errorf(err, -EINVAL, "%s, %s: %s must be an integer", where, block, f[i].hcl);
                if (json_integer_value(v) < 0)
                        return errorf(err, -EINVAL, "%s, %s: %s must be >= 0 (got %lld)", where, block, f[i].hcl,
                                      (long long)json_integer_value(v));
        }
        return 0;
}

/* A string field whose value, when present and not "", is one of `valid`. */
static int one_of(const char *where, const char *block, const json_t *o, const char *json, const char *hcl,
                  const char *const *valid, size_t n, const char *listed, struct error *err) {
        const json_t *v = json_object_get(o, json);
        if (!v || json_is_null(v))
                return 0;
        const char *s = json_string_value(v);
        if (!s)
                return errorf(err, -EINVAL, "%s, %s: %s must be a string (%s)", where, block, hcl, listed);
        if (!*s)
                return 0;
        for (size_t i = 0; i < n; i++)
                if (strcmp(s, valid[i]) == 0)
                        return 0;
        return errorf(err, -EINVAL, "%s, %s: %s must be %s (got \"%.64s\")", where, block, hcl, listed, s);
}

static int block_object(const char *where, const char *block, const json_t *o, struct error *err) {
        if (o && !json_is_null(o) && !json_is_object(o))
                return errorf(err, -EINVAL, "%s, %s: expected an object", where, block);
        return 0;
}

int update_block_validate(const char *where, const json_t *u, struct error *err) {
        static const struct int_field ints[] = {
            {"MaxParallel", "max_parallel"},           {"Canary", "canary"},
            {"MinHealthyTime", "min_healthy_time"},    {"HealthyDeadline", "healthy_deadline"},
            {"ProgressDeadline", "progress_deadline"}, {"Stagger", "stagger"},
        };
        static const char *const checks[] = {"checks", "task_states", "manual"};
        int r;
        if ((r = block_object(where, "update", u, err)) < 0 || !json_is_object(u) ||
            (r = non_negative(where, "update", u, ints, ARRAY_SIZE(ints), err)) < 0)
                return r;
        return one_of(where, "update", u, "HealthCheck", "health_check", checks, ARRAY_SIZE(checks),
                      "\"checks\", \"task_states\" or \"manual\"", err);
}

int reschedule_block_validate(const char *where, const json_t *p, struct error *err) {
        static const struct int_field ints[] = {
            {"Attempts", "attempts"}, {"Interval", "interval"}, {"Delay", "delay"}, {"MaxDelay", "max_delay"}};
        static const char *const fns[] = {"constant", "exponential", "fibonacci"};
        int r;
        if ((r = block_object(where, "reschedule", p, err)) < 0 || !json_is_object(p) ||
            (r = non_negative(where, "reschedule", p, ints, ARRAY_SIZE(ints), err)) < 0)
                return r;
        return one_of(where, "reschedule", p, "DelayFunction", "delay_function", fns, ARRAY_SIZE(fns),
                      "\"constant\", \"exponential\" or \"fibonacci\"", err);
}
