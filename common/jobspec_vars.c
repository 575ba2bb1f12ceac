/* jobspec_vars.c - a job file's `variable` and `locals` blocks, with values from -var,
 * -var-file and NOMAD_VAR_* (see jobspec.h for the precedence). */
#include "common/jobspec_vars.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/hcl.h"
#include "common/hcl_eval.h"
#include "common/jobspec.h"
#include "common/macros.h"

#define MAX_VARIABLES 256
#define MAX_VAR_FILE (1u << 20)

struct var {
        const struct hcl_item *block;
        const char *name;
        const struct hcl_value *type, *def;
        json_t *input; /* value given from outside, before conversion */
        const char *input_from;
};

static int fail(struct error *err, const char *file, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int fail(struct error *err, const char *file, int line, int col, const char *fmt, ...) {
        char msg[220];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        return errorf(err, -EINVAL, "%s:%d:%d: %s", file, line, col, msg);
}

static struct var *find_var(struct var *vars, size_t n, const char *name) {
        for (size_t k = 0; k < n; k++)
                if (strcmp(vars[k].name, name) == 0)
                        return &vars[k];
        return NULL;
}

/* A type given as a plain word that a raw string converts to (string, number, bool, any). */
static bool raw_string_type(const struct hcl_value *type) {
        if (!type)
                return true;
        if (type->kind != HCL_EXPR)
                return false;
        return strcmp(type->str, "string") == 0 || strcmp(type->str, "number") == 0 || strcmp(type->str, "bool") == 0 ||
               strcmp(type->str, "any") == 0;
}

/* The value text of -var or NOMAD_VAR_x: a raw string for primitive types, else HCL. */
static int text_value(struct var *v, const char *text, const char *from, const char *dir, struct error *err) {
        json_t *j = NULL;
        if (raw_string_type(v->type)) {
                j = json_string(text);
                if (!j)
                        return errorf(err, -EINVAL, "%s: value of variable \"%s\" is not UTF-8 text", from, v->name);
        } else {
                _cleanup_(hcl_eval_freep) struct hcl_eval *tmp = NULL;
                int r = hcl_eval_create(from, dir, &tmp, err);
                if (r < 0 || (r = hcl_eval_text(tmp, text, from, 1, 1, &j, err)) < 0)
                        return r;
        }
        json_decref(v->input);
        v->input = j;
        v->input_from = from;
        return 0;
}

static int read_file(const char *path, char **ret, size_t *ret_len, struct error *err) {
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f)
                return errorf(err, -errno, "open var file '%s': %s", path, strerror(errno));
        _cleanup_free_ char *buf = malloc(MAX_VAR_FILE + 1);
        if (!buf)
                return errorf(err, -ENOMEM, "out of memory");
        size_t n = fread(buf, 1, MAX_VAR_FILE + 1, f);
        if (ferror(f))
                return errorf(err, -EIO, "read var file '%s'", path);
        if (n > MAX_VAR_FILE)
                return errorf(err, -EFBIG, "var file '%s' is larger than %u bytes", path, MAX_VAR_FILE);
        buf[n] = '\0';
        *ret = TAKE_PTR(buf);
        *ret_len = n;
        return 0;
}

static int var_file(struct var *vars, size_t n, const char *path, const char *dir, struct error *err) {
        _cleanup_free_ char *src = NULL;
        size_t len = 0;
        int r = read_file(path, &src, &len, err);
        if (r < 0)
                return r;
        _cleanup_(hcl_body_freep) struct hcl_body *b = NULL;
        if ((r = hcl_parse(src, len, path, &b, err)) < 0)
                return r;
        _cleanup_(hcl_eval_freep) struct hcl_eval *tmp = NULL;
        if ((r = hcl_eval_create(path, dir, &tmp, err)) < 0)
                return r;
        for (size_t k = 0; k < b->n; k++) {
                const struct hcl_item *it = &b->items[k];
                if (it->is_block)
                        return fail(err, path, it->line, it->col,
                                    "expected NAME = value lines in a var file, found block \"%s\"", it->name);
                struct var *v = find_var(vars, n, it->name);
                if (!v)
                        return fail(err, path, it->line, it->col,
                                    "undefined variable \"%s\": the job file declares no variable \"%s\"", it->name,
                                    it->name);
                json_t *j = NULL;
                if ((r = hcl_eval_value(tmp, it->value, &j, err)) < 0)
                        return r;
                json_decref(v->input);
                v->input = j;
                v->input_from = path;
        }
        return 0;
}

static int collect_variable(const struct hcl_item *it, const char *file, struct var *v, struct error *err) {
        if (it->n_labels != 1)
                return fail(err, file, it->line, it->col, "variable block: expected one label (the name), found %zu",
                            it->n_labels);
        *v = (struct var){.block = it, .name = it->labels[0]};
        for (size_t k = 0; k < it->body->n; k++) {
                const struct hcl_item *e = &it->body->items[k];
                if (e->is_block) {
                        if (strcmp(e->name, "validation") != 0 || e->n_labels)
                                return fail(err, file, e->line, e->col,
                                            "variable \"%s\": unsupported block type \"%s\"", v->name, e->name);
                        continue;
                }
                if (strcmp(e->name, "default") == 0)
                        v->def = e->value;
                else if (strcmp(e->name, "type") == 0)
                        v->type = e->value;
                else if (strcmp(e->name, "description") != 0 && strcmp(e->name, "sensitive") != 0)
                        return fail(err, file, e->line, e->col,
                                    "variable \"%s\": unsupported argument \"%s\" (expected type, default, "
                                    "description or validation)",
                                    v->name, e->name);
        }
        return 0;
}

static int validate(struct hcl_eval *ev, const struct var *v, const char *file, struct error *err) {
        const struct hcl_item *it = v->block;
        for (size_t k = 0; k < it->body->n; k++) {
                const struct hcl_item *blk = &it->body->items[k];
                if (!blk->is_block)
                        continue;
                const struct hcl_value *cond = NULL, *msg = NULL;
                for (size_t j = 0; j < blk->body->n; j++) {
                        const struct hcl_item *e = &blk->body->items[j];
                        if (!e->is_block && strcmp(e->name, "condition") == 0)
                                cond = e->value;
                        else if (!e->is_block && strcmp(e->name, "error_message") == 0)
                                msg = e->value;
                        else
                                return fail(err, file, e->line, e->col,
                                            "variable \"%s\": validation: unsupported %s \"%s\" (expected condition "
                                            "and error_message)",
                                            v->name, e->is_block ? "block" : "argument", e->name);
                }
                if (!cond || !msg)
                        return fail(err, file, blk->line, blk->col,
                                    "variable \"%s\": validation: expected a condition and an error_message", v->name);
                _cleanup_json_ json_t *c = NULL, *m = NULL;
                int r = hcl_eval_value(ev, cond, &c, err);
                if (r < 0)
                        return r;
                if (!json_is_boolean(c))
                        return fail(err, file, cond->line, cond->col,
                                    "variable \"%s\": validation condition: expected a bool", v->name);
                if (json_is_true(c))
                        continue;
                if ((r = hcl_eval_value(ev, msg, &m, err)) < 0)
                        return r;
                return fail(err, file, cond->line, cond->col, "variable \"%s\": invalid value: %s", v->name,
                            json_is_string(m) ? json_string_value(m) : "(error_message is not a string)");
        }
        return 0;
}

int jobspec_vars_setup(struct hcl_eval *ev, const struct hcl_body *body, const char *file, const struct jobspec_opts *o,
                       struct error *err) {
        struct var vars[MAX_VARIABLES];
        size_t n = 0;
        int r = 0;
        for (size_t k = 0; k < body->n; k++) {
                const struct hcl_item *it = &body->items[k];
                if (!it->is_block || strcmp(it->name, "variable") != 0)
                        continue;
                if (n == MAX_VARIABLES)
                        return fail(err, file, it->line, it->col, "expected at most %d variables", MAX_VARIABLES);
                if ((r = collect_variable(it, file, &vars[n], err)) < 0)
                        goto out;
                struct var *dup = find_var(vars, n, vars[n].name);
                if (dup) {
                        r = fail(err, file, it->line, it->col, "duplicate variable \"%s\" (first at line %d)",
                                 vars[n].name, dup->block->line);
                        goto out;
                }
                n++;
        }
        const char *dir = o ? o->dir : NULL;
        if (o && o->env) {
                for (size_t k = 0; k < n; k++) {
                        char name[300];
                        snprintf(name, sizeof(name), "NOMAD_VAR_%s", vars[k].name);
                        const char *val = getenv(name);
                        if (val && (r = text_value(&vars[k], val, "NOMAD_VAR_ environment", dir, err)) < 0)
                                goto out;
                }
        }
        for (size_t k = 0; o && k < o->n_var_files; k++)
                if ((r = var_file(vars, n, o->var_files[k], dir, err)) < 0)
                        goto out;
        for (size_t k = 0; o && k < o->n_vars; k++) {
                const char *kv = o->vars[k];
                const char *eq = strchr(kv, '=');
                if (!eq || eq == kv) {
                        r = errorf(err, -EINVAL, "-var \"%.80s\": expected NAME=VALUE", kv);
                        goto out;
                }
                char name[256];
                snprintf(name, sizeof(name), "%.*s", (int)MIN((size_t)(eq - kv), sizeof(name) - 1), kv);
                struct var *v = find_var(vars, n, name);
                if (!v) {
                        r = errorf(err, -EINVAL,
                                   "-var \"%s\": undefined variable; the job file declares no variable "
                                   "\"%s\"",
                                   name, name);
                        goto out;
                }
                if ((r = text_value(v, eq + 1, "-var", dir, err)) < 0)
                        goto out;
        }
        for (size_t k = 0; k < n; k++) {
                struct var *v = &vars[k];
                _cleanup_json_ json_t *raw = json_incref(v->input), *val = NULL;
                if (!raw && v->def) {
                        _cleanup_(hcl_eval_freep) struct hcl_eval *tmp = NULL;
                        if ((r = hcl_eval_create(file, dir, &tmp, err)) < 0 ||
                            (r = hcl_eval_value(tmp, v->def, &raw, err)) < 0)
                                goto out;
                }
                if (!raw) {
                        r = fail(err, file, v->block->line, v->block->col,
                                 "variable \"%s\": no value given; set a default, or pass -var %s=VALUE, a -var-file "
                                 "or NOMAD_VAR_%s",
                                 v->name, v->name, v->name);
                        goto out;
                }
                char what[300];
                snprintf(what, sizeof(what), "variable \"%.200s\"%s%s", v->name, v->input_from ? " from " : "",
                         v->input_from ? v->input_from : "");
                const struct hcl_value *at = v->input ? NULL : v->def;
                if ((r = hcl_eval_convert(ev, v->type, raw, what, at ? at->line : v->block->line,
                                          at ? at->col : v->block->col, &val, err)) < 0 ||
                    (r = hcl_eval_set_var(ev, v->name, val, err)) < 0)
                        goto out;
        }
        for (size_t k = 0; k < n; k++)
                if ((r = validate(ev, &vars[k], file, err)) < 0)
                        goto out;
        for (size_t k = 0; k < body->n; k++) {
                const struct hcl_item *it = &body->items[k];
                if (!it->is_block || strcmp(it->name, "locals") != 0)
                        continue;
                if (it->n_labels) {
                        r = fail(err, file, it->line, it->col, "locals block: expected no labels, found %zu",
                                 it->n_labels);
                        goto out;
                }
                for (size_t j = 0; j < it->body->n; j++) {
                        const struct hcl_item *e = &it->body->items[j];
                        if (e->is_block) {
                                r = fail(err, file, e->line, e->col,
                                         "locals: expected NAME = value, found block \"%s\"", e->name);
                                goto out;
                        }
                        if ((r = hcl_eval_add_local(ev, e->name, e->value, e->line, e->col, err)) < 0)
                                goto out;
                }
        }
        r = 0;
out:
        for (size_t k = 0; k < n; k++)
                json_decref(vars[k].input);
        return r;
}
