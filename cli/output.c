/* output.c - the global -json and -t output modes of `drover` commands, and
 * the Go-template subset -t takes:
 *
 *   {{.}}  {{.Field}}  {{.Field.Sub}}    the value (strings bare, numbers, bools,
 *                                        null as <no value>, objects/arrays as JSON)
 *   {{range .}}...{{end}}                each element of a list (or value of an
 *   {{range .Field}}...{{end}}           object, in key order); inside, . is it
 *   {{if .Field}}...{{else}}...{{end}}   non-empty, non-zero, non-false
 *   {{- and -}}                          trim the white space on that side
 *
 * Bounds: templates of CLI_TEMPLATE_MAX bytes, CLI_TEMPLATE_DEPTH nested
 * blocks. Anything else between {{ }} is an error naming its offset. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/error.h"

#define CLI_TEMPLATE_MAX 65536
#define CLI_TEMPLATE_DEPTH 16

struct tpl {
        const char *s; /* the whole template */
        FILE *out;     /* NULL: only check */
        struct error *err;
        int depth;
};

/* The action at p (just after "{{"): its text (trimmed) in buf, *ret_end just after
 * "}}", and whether it trims on the left or the right. -EINVAL when unclosed. */
static int action(struct tpl *t, const char *p, char *buf, size_t size, const char **ret_end, bool *ret_ltrim,
                  bool *ret_rtrim) {
        const char *close = strstr(p, "}}");
        if (!close)
                return errorf(t->err, -EINVAL, "template: unclosed action at offset %d", (int)(p - t->s) - 2);
        *ret_ltrim = *p == '-' && isspace((unsigned char)p[1]);
        if (*ret_ltrim)
                p++;
        *ret_rtrim = close - p >= 2 && close[-1] == '-' && isspace((unsigned char)close[-2]);
        const char *e = *ret_rtrim ? close - 1 : close;
        while (p < e && isspace((unsigned char)*p))
                p++;
        while (e > p && isspace((unsigned char)e[-1]))
                e--;
        if ((size_t)(e - p) >= size)
                return errorf(t->err, -EINVAL, "template: action too long at offset %d", (int)(p - t->s));
        memcpy(buf, p, (size_t)(e - p));
        buf[e - p] = '\0';
        *ret_end = close + 2;
        return 0;
}

/* ".", ".A.B": the value, or NULL when absent. -EINVAL for anything else. */
static int field(struct tpl *t, const char *expr, const json_t *dot, const json_t **ret, const char *at) {
        if (expr[0] != '.')
                return errorf(t->err, -EINVAL,
                              "template: unsupported action \"%s\" at offset %d (only .Field, range, "
                              "if, else and end)",
                              expr, (int)(at - t->s));
        const json_t *v = dot;
        const char *p = expr + 1;
        while (*p) { /* the whole path is checked, also past a missing field */
                const char *dotp = strchr(p, '.');
                size_t len = dotp ? (size_t)(dotp - p) : strlen(p);
                char key[256];
                if (len == 0 || len >= sizeof(key))
                        return errorf(t->err, -EINVAL, "template: bad field \"%s\" at offset %d", expr,
                                      (int)(at - t->s));
                for (size_t i = 0; i < len; i++)
                        if (!isalnum((unsigned char)p[i]) && p[i] != '_')
                                return errorf(t->err, -EINVAL, "template: bad field \"%s\" at offset %d", expr,
                                              (int)(at - t->s));
                memcpy(key, p, len);
                key[len] = '\0';
                v = v && json_is_object(v) ? json_object_get(v, key) : NULL;
                p += len + (dotp ? 1 : 0);
        }
        *ret = v;
        return 0;
}

static void emit(struct tpl *t, const char *p, size_t n) {
        if (t->out && n)
                fwrite(p, 1, n, t->out);
}

static void emit_value(struct tpl *t, const json_t *v) {
        if (!t->out)
                return;
        if (!v || json_is_null(v)) {
                fputs("<no value>", t->out);
        } else if (json_is_string(v)) {
                fputs(json_string_value(v), t->out);
        } else if (json_is_integer(v)) {
                fprintf(t->out, "%lld", (long long)json_integer_value(v));
        } else if (json_is_real(v)) {
                fprintf(t->out, "%g", json_real_value(v));
        } else if (json_is_boolean(v)) {
                fputs(json_is_true(v) ? "true" : "false", t->out);
        } else {
                char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
                if (s)
                        fputs(s, t->out);
                free(s);
        }
}

static bool truthy(const json_t *v) {
        if (!v || json_is_null(v) || json_is_false(v))
                return false;
        if (json_is_string(v))
                return *json_string_value(v) != '\0';
        if (json_is_integer(v))
                return json_integer_value(v) != 0;
        if (json_is_real(v))
                return json_real_value(v) != 0;
        if (json_is_array(v))
                return json_array_size(v) > 0;
        if (json_is_object(v))
                return json_object_size(v) > 0;
        return true;
}

enum stop { STOP_EOF, STOP_END, STOP_ELSE };

/* Render from *pp until the end of the template or a matching {{end}}/{{else}}
 * (*ret_stop says which; *pp is left after it). dot may be NULL. With out NULL in
 * t (a skipped branch), checks syntax only. */
static int render(struct tpl *t, const char **pp, const json_t *dot, enum stop *ret_stop, bool *trim_next) {
        const char *p = *pp;
        for (;;) {
                const char *open = strstr(p, "{{");
                const char *text_end = open ? open : p + strlen(p);
                const char *text = p;
                if (*trim_next)
                        while (text < text_end && isspace((unsigned char)*text))
                                text++;
                *trim_next = false;
                char buf[512];
                const char *after = NULL;
                bool ltrim = false, rtrim = false;
                if (open) {
                        int r = action(t, open + 2, buf, sizeof(buf), &after, &ltrim, &rtrim);
                        if (r < 0)
                                return r;
                }
                const char *te = text_end;
                if (ltrim)
                        while (te > text && isspace((unsigned char)te[-1]))
                                te--;
                emit(t, text, (size_t)(te - text));
                if (!open) {
                        *pp = text_end;
                        *ret_stop = STOP_EOF;
                        return 0;
                }
                *trim_next = rtrim;
                p = after;
                if (strcmp(buf, "end") == 0 || strcmp(buf, "else") == 0) {
                        *pp = p;
                        *ret_stop = buf[0] == 'e' && buf[1] == 'n' ? STOP_END : STOP_ELSE;
                        return 0;
                }
                bool is_range = strncmp(buf, "range ", 6) == 0, is_if = strncmp(buf, "if ", 3) == 0;
                if (!is_range && !is_if) {
                        const json_t *v;
                        int r = field(t, buf, dot, &v, open);
                        if (r < 0)
                                return r;
                        emit_value(t, v);
                        continue;
                }
                if (++t->depth > CLI_TEMPLATE_DEPTH)
                        return errorf(t->err, -EINVAL, "template: blocks nested more than %d deep", CLI_TEMPLATE_DEPTH);
                const char *expr = buf + (is_range ? 6 : 3);
                while (*expr == ' ')
                        expr++;
                const json_t *v;
                int r = field(t, expr, dot, &v, open);
                if (r < 0)
                        return r;
                FILE *saved = t->out;
                enum stop stop;
                const char *body = p;
                bool trim_body = *trim_next;
                if (is_range) {
                        size_t n = json_is_array(v) ? json_array_size(v) : json_is_object(v) ? json_object_size(v) : 0;
                        /* one pass per element; a pass with output off when there is none, to find {{end}} */
                        size_t passes = n ? n : 1;
                        void *it = json_is_object(v) ? json_object_iter((json_t *)v) : NULL;
                        for (size_t i = 0; i < passes; i++) {
                                const json_t *elem = NULL;
                                if (json_is_array(v))
                                        elem = n ? json_array_get(v, i) : NULL;
                                else if (it) {
                                        elem = json_object_iter_value(it);
                                        it = json_object_iter_next((json_t *)v, it);
                                }
                                if (!n)
                                        t->out = NULL;
                                p = body;
                                bool tr = trim_body;
                                if ((r = render(t, &p, elem, &stop, &tr)) < 0)
                                        return r;
                                t->out = saved;
                                if (stop != STOP_END)
                                        return errorf(t->err, -EINVAL, "template: range without {{end}}");
                                *trim_next = tr;
                        }
                } else {
                        bool yes = truthy(v);
                        if (!yes)
                                t->out = NULL;
                        bool tr = trim_body;
                        if ((r = render(t, &p, dot, &stop, &tr)) < 0)
                                return r;
                        t->out = saved;
                        if (stop == STOP_ELSE) {
                                if (yes)
                                        t->out = NULL;
                                if ((r = render(t, &p, dot, &stop, &tr)) < 0)
                                        return r;
                                t->out = saved;
                        }
                        if (stop != STOP_END)
                                return errorf(t->err, -EINVAL, "template: if without {{end}}");
                        *trim_next = tr;
                }
                t->depth--;
        }
}

int cli_template_render(const char *tmpl, const json_t *data, FILE *out, struct error *err) {
        if (strlen(tmpl) > CLI_TEMPLATE_MAX)
                return errorf(err, -EINVAL, "template: longer than %d bytes", CLI_TEMPLATE_MAX);
        /* check the whole template first, so that nothing is printed for a bad one */
        for (int pass = 0; pass < 2; pass++) {
                struct tpl t = {.s = tmpl, .out = pass ? out : NULL, .err = err};
                const char *p = tmpl;
                enum stop stop;
                bool trim = false;
                int r = render(&t, &p, data, &stop, &trim);
                if (r < 0)
                        return r;
                if (stop != STOP_EOF)
                        return errorf(err, -EINVAL, "template: {{%s}} without a block",
                                      stop == STOP_END ? "end" : "else");
        }
        return 0;
}

int cli_output(struct cli *c, const json_t *data) {
        if (c->tmpl) {
                struct error err = {0};
                if (cli_template_render(c->tmpl, data, stdout, &err) < 0) {
                        fprintf(stderr, "Error formatting the output: %s\n", err.msg);
                        return 1;
                }
                return 0;
        }
        if (c->json) {
                char *s = json_dumps(data, JSON_INDENT(4) | JSON_ENCODE_ANY);
                if (!s) {
                        fprintf(stderr, "Error formatting the output: out of memory\n");
                        return 1;
                }
                printf("%s\n", s);
                free(s);
                return 0;
        }
        return -1;
}
