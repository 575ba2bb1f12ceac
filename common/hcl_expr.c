/* hcl_expr.c - recursive-descent parser of HCL2 expressions and templates (see hcl_expr.h).
 *
 * Precedence, loosest first: `? :`, `||`, `&&`, `== !=`, `< <= > >=`, `+ -`, `* / %`,
 * unary `- !`, then postfix traversals (.attr, [index], [*], .*). Inside ( ) and [ ] newlines
 * are blanks; inside { } a newline ends an element's value, as in hclsyntax.
 */
#include "common/hcl_expr.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/macros.h"

struct ep {
        const char *s;
        size_t len, pos;
        int line, col;
        const char *file;
        struct error *err;
        int depth;
        size_t nodes;
        bool nl_sens;    /* inside { }: a newline ends the current value */
        bool strip_next; /* a `~}` asked to trim the leading blanks of the next literal */
        int r;
};

static int fail(struct ep *p, int line, int col, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int fail(struct ep *p, int line, int col, const char *fmt, ...) {
        if (p->r < 0)
                return p->r;
        char msg[200];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        p->r = errorf(p->err, -EINVAL, "%s:%d:%d: %s", p->file, line, col, msg);
        return p->r;
}

static int oom(struct ep *p) {
        if (p->r < 0)
                return p->r;
        p->r = errorf(p->err, -ENOMEM, "%s: out of memory", p->file);
        return p->r;
}

static int cur(const struct ep *p) {
        return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1;
}

static int at(const struct ep *p, size_t k) {
        return p->pos + k < p->len ? (unsigned char)p->s[p->pos + k] : -1;
}

static void adv(struct ep *p, size_t n) {
        while (n-- && p->pos < p->len) {
                if (p->s[p->pos] == '\n') {
                        p->line++;
                        p->col = 1;
                } else {
                        p->col++;
                }
                p->pos++;
        }
}

static bool id_start(int c) {
        return c == '_' || (c >= 0 && c < 0x80 && isalpha(c)) || c >= 0x80;
}

static bool id_char(int c) {
        return id_start(c) || (c >= '0' && c <= '9') || c == '-';
}

/* Skip blanks and comments; true when a newline was among them. */
static bool skip_ws(struct ep *p) {
        bool nl = false;
        for (;;) {
                int c = cur(p);
                if (c == ' ' || c == '\t' || c == '\r') {
                        adv(p, 1);
                } else if (c == '\n') {
                        nl = true;
                        adv(p, 1);
                } else if (c == '#' || (c == '/' && at(p, 1) == '/')) {
                        while (cur(p) >= 0 && cur(p) != '\n')
                                adv(p, 1);
                } else if (c == '/' && at(p, 1) == '*') {
                        adv(p, 2);
                        while (cur(p) >= 0 && !(cur(p) == '*' && at(p, 1) == '/'))
                                adv(p, 1);
                        adv(p, 2);
                } else {
                        return nl;
                }
        }
}

static bool looking_at(const struct ep *p, const char *t) {
        size_t n = strlen(t);
        return p->pos + n <= p->len && memcmp(p->s + p->pos, t, n) == 0;
}

/* The keyword kw at the cursor, not followed by an identifier character. */
static bool at_keyword(const struct ep *p, const char *kw) {
        size_t n = strlen(kw);
        return looking_at(p, kw) && !id_char(at(p, n));
}

static int expect(struct ep *p, const char *t, const char *what) {
        skip_ws(p);
        if (looking_at(p, t)) {
                adv(p, strlen(t));
                return 0;
        }
        if (cur(p) < 0)
                return fail(p, p->line, p->col, "expected %s, found end of expression", what);
        return fail(p, p->line, p->col, "expected %s, found '%c'", what, isprint(cur(p)) ? cur(p) : '?');
}

struct hn *hn_free(struct hn *n) {
        if (!n)
                return NULL;
        json_decref(n->lit);
        free(n->name);
        free(n->name2);
        for (size_t k = 0; k < n->n; k++)
                hn_free(n->kids[k]);
        free(n->kids);
        hn_free(n->a);
        hn_free(n->b);
        hn_free(n->c);
        hn_free(n->d);
        free(n);
        return NULL;
}

void hn_freep(struct hn **n) {
        hn_free(*n);
}

static struct hn *node(struct ep *p, enum hn_kind k, int line, int col) {
        if (++p->nodes > HCL_EXPR_MAX_NODES) {
                fail(p, line, col, "expected at most %d expression nodes, found more", HCL_EXPR_MAX_NODES);
                return NULL;
        }
        struct hn *n = calloc(1, sizeof(*n));
        if (!n) {
                oom(p);
                return NULL;
        }
        n->kind = k;
        n->line = line;
        n->col = col;
        return n;
}

static int push(struct ep *p, struct hn *parent, struct hn *kid) {
        struct hn **k = realloc(parent->kids, (parent->n + 1) * sizeof(*k));
        if (!k) {
                hn_free(kid);
                return oom(p);
        }
        parent->kids = k;
        parent->kids[parent->n++] = kid;
        return 0;
}

static int enter(struct ep *p) {
        if (++p->depth > HCL_EXPR_MAX_DEPTH)
                return fail(p, p->line, p->col, "expected at most %d levels of nesting, found deeper nesting",
                            HCL_EXPR_MAX_DEPTH);
        return 0;
}

bool hcl_runtime_root(const char *name, size_t len) {
        static const char *const roots[] = {"attr", "node", "meta", "env", "device"};
        for (size_t k = 0; k < ARRAY_SIZE(roots); k++)
                if (strlen(roots[k]) == len && memcmp(name, roots[k], len) == 0)
                        return true;
        return (len > 6 && memcmp(name, "NOMAD_", 6) == 0) || (len > 7 && memcmp(name, "DROVER_", 7) == 0);
}

static int parse_expr(struct ep *p, struct hn **ret);
static int parse_template(struct ep *p, enum hcl_text_mode mode, struct hn **ret, char *ret_kw);

static char *read_ident(struct ep *p) {
        size_t s = p->pos;
        while (id_char(cur(p)))
                adv(p, 1);
        char *id = strndup(p->s + s, p->pos - s);
        if (!id)
                oom(p);
        return id;
}

/* ---- templates ------------------------------------------------------------------------- */

static int put_utf8(char *o, uint32_t cp) {
        if (cp < 0x80) {
                o[0] = (char)cp;
                return 1;
        }
        if (cp < 0x800) {
                o[0] = (char)(0xC0 | (cp >> 6));
                o[1] = (char)(0x80 | (cp & 0x3F));
                return 2;
        }
        if (cp < 0x10000) {
                o[0] = (char)(0xE0 | (cp >> 12));
                o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
                o[2] = (char)(0x80 | (cp & 0x3F));
                return 3;
        }
        o[0] = (char)(0xF0 | (cp >> 18));
        o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[3] = (char)(0x80 | (cp & 0x3F));
        return 4;
}

static bool blank(char c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Append a literal part (text of n bytes) to template t, honouring a pending `~}`. */
static int push_literal(struct ep *p, struct hn *t, const char *text, size_t n, int line, int col) {
        if (!n)
                return 0; /* a pending `~}` applies to the next text there is */
        if (p->strip_next) {
                while (n && blank(*text)) {
                        text++;
                        n--;
                }
                p->strip_next = false;
        }
        if (!n)
                return 0;
        struct hn *l = node(p, HN_LIT, line, col);
        if (!l)
                return p->r;
        l->lit = json_stringn(text, n);
        if (!l->lit) {
                hn_free(l);
                return fail(p, line, col, "expected valid UTF-8 text in the string");
        }
        return push(p, t, l);
}

/* `${~` and `%{~` trim the trailing blanks of the literal before them. */
static int strip_previous(struct ep *p, struct hn *t) {
        if (!t->n || t->kids[t->n - 1]->kind != HN_LIT)
                return 0;
        struct hn *l = t->kids[t->n - 1];
        const char *s = json_string_value(l->lit);
        size_t n = json_string_length(l->lit);
        while (n && blank(s[n - 1]))
                n--;
        json_t *nl = json_stringn(s, n);
        if (!nl)
                return oom(p);
        json_decref(l->lit);
        l->lit = nl;
        return 0;
}

/* After `${` or `%{` (and an optional `~`): the closing `}` with its optional `~`. */
static int close_seq(struct ep *p) {
        skip_ws(p);
        if (cur(p) == '~') {
                adv(p, 1);
                p->strip_next = true;
        }
        return expect(p, "}", "'}' closing the template sequence");
}

/* After the `for` keyword of a for expression or a %{ for } directive: `name[, name2] in`,
 * into n->name (and n->name2). after and where name the construct in error messages. */
static int parse_for_vars(struct ep *p, struct hn *n, const char *after, const char *where) {
        skip_ws(p);
        if (!id_start(cur(p)))
                return fail(p, p->line, p->col, "expected a variable name after %s", after);
        if (!(n->name = read_ident(p)))
                return p->r;
        skip_ws(p);
        if (cur(p) == ',') {
                adv(p, 1);
                skip_ws(p);
                if (!id_start(cur(p)))
                        return fail(p, p->line, p->col, "expected a variable name after ','");
                if (!(n->name2 = read_ident(p)))
                        return p->r;
                skip_ws(p);
        }
        if (!at_keyword(p, "in"))
                return fail(p, p->line, p->col, "expected 'in' in %s", where);
        adv(p, 2);
        return 0;
}

static int parse_directive(struct ep *p, enum hcl_text_mode mode, struct hn *t, char *ret_kw, int line, int col) {
        /* at the keyword, after `%{` and `~` */
        if (at_keyword(p, "if")) {
                adv(p, 2);
                _cleanup_(hn_freep) struct hn *d = node(p, HN_TIF, line, col);
                if (!d || parse_expr(p, &d->a) < 0 || close_seq(p) < 0)
                        return p->r;
                char kw = 0;
                if (parse_template(p, mode, &d->b, &kw) < 0)
                        return p->r;
                if (kw == 'e') {
                        if (parse_template(p, mode, &d->c, &kw) < 0)
                                return p->r;
                }
                if (kw != 'i')
                        return fail(p, line, col, "expected %%{ endif } closing this %%{ if }, found %s",
                                    kw ? "another directive" : "end of template");
                return push(p, t, TAKE_PTR(d));
        }
        if (at_keyword(p, "for")) {
                adv(p, 3);
                _cleanup_(hn_freep) struct hn *d = node(p, HN_TFOR, line, col);
                if (!d)
                        return p->r;
                if (parse_for_vars(p, d, "%{ for", "the %{ for } directive") < 0 || parse_expr(p, &d->a) < 0 ||
                    close_seq(p) < 0)
                        return p->r;
                char kw = 0;
                if (parse_template(p, mode, &d->b, &kw) < 0)
                        return p->r;
                if (kw != 'f')
                        return fail(p, line, col, "expected %%{ endfor } closing this %%{ for }, found %s",
                                    kw ? "another directive" : "end of template");
                return push(p, t, TAKE_PTR(d));
        }
        static const struct {
                const char *kw;
                char code;
        } ends[] = {{"else", 'e'}, {"endif", 'i'}, {"endfor", 'f'}};
        for (size_t k = 0; k < ARRAY_SIZE(ends); k++) {
                if (at_keyword(p, ends[k].kw)) {
                        if (!ret_kw)
                                return fail(p, line, col, "unexpected %%{ %s } outside a directive", ends[k].kw);
                        adv(p, strlen(ends[k].kw));
                        if (close_seq(p) < 0)
                                return p->r;
                        *ret_kw = ends[k].code;
                        return 1;
                }
        }
        return fail(p, line, col, "expected if, else, endif, for or endfor after '%%{'");
}

/* Parse template parts until the end of text, a closing '"' (QUOTED inside an expression,
 * not consumed) or an else/endif/endfor directive (reported in *ret_kw). */
static int parse_template(struct ep *p, enum hcl_text_mode mode, struct hn **ret, char *ret_kw) {
        if (enter(p) < 0)
                return p->r;
        _cleanup_(hn_freep) struct hn *t = node(p, HN_TEMPLATE, p->line, p->col);
        if (!t)
                return p->r;
        _cleanup_free_ char *lit = malloc(p->len - p->pos + 1);
        if (!lit)
                return oom(p);
        size_t n = 0;
        int lline = p->line, lcol = p->col;
        bool in_quotes = mode == HCL_TEXT_QUOTED;
        for (;;) {
                int c = cur(p);
                if (c < 0 || (in_quotes && c == '"'))
                        break;
                if (in_quotes && c == '\n')
                        return fail(p, p->line, p->col, "expected '\"' closing the string, found newline");
                if ((c == '$' || c == '%') && at(p, 1) == c && at(p, 2) == '{') {
                        lit[n++] = (char)c;
                        lit[n++] = '{';
                        adv(p, 3);
                        continue;
                }
                if ((c == '$' || c == '%') && at(p, 1) == '{') {
                        int line = p->line, col = p->col;
                        if (push_literal(p, t, lit, n, lline, lcol) < 0)
                                return p->r;
                        n = 0;
                        adv(p, 2);
                        if (cur(p) == '~') {
                                adv(p, 1);
                                if (strip_previous(p, t) < 0)
                                        return p->r;
                        }
                        p->strip_next = false;
                        if (c == '$') {
                                bool save = p->nl_sens;
                                p->nl_sens = false;
                                struct hn *e = NULL;
                                if (parse_expr(p, &e) < 0)
                                        return p->r;
                                p->nl_sens = save;
                                if (push(p, t, e) < 0 || close_seq(p) < 0)
                                        return p->r;
                        } else {
                                skip_ws(p);
                                int r = parse_directive(p, mode, t, ret_kw, line, col);
                                if (r < 0)
                                        return r;
                                if (r > 0)
                                        break;
                        }
                        lline = p->line;
                        lcol = p->col;
                        continue;
                }
                if (c == '\\' && mode == HCL_TEXT_QUOTED) {
                        int eline = p->line, ecol = p->col;
                        int e = at(p, 1);
                        adv(p, 2);
                        switch (e) {
                        case 'n':
                                lit[n++] = '\n';
                                break;
                        case 't':
                                lit[n++] = '\t';
                                break;
                        case 'r':
                                lit[n++] = '\r';
                                break;
                        case '"':
                                lit[n++] = '"';
                                break;
                        case '\\':
                                lit[n++] = '\\';
                                break;
                        case 'u':
                        case 'U': {
                                int digits = e == 'u' ? 4 : 8;
                                uint32_t cp = 0;
                                for (int k = 0; k < digits; k++) {
                                        int h = cur(p);
                                        int v = h >= '0' && h <= '9'   ? h - '0'
                                                : h >= 'a' && h <= 'f' ? h - 'a' + 10
                                                : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                                                       : -1;
                                        if (v < 0)
                                                return fail(p, eline, ecol, "expected %d hex digits after \\%c", digits,
                                                            e);
                                        cp = cp * 16 + (uint32_t)v;
                                        adv(p, 1);
                                }
                                if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                                        return fail(p, eline, ecol, "expected a valid Unicode code point");
                                n += (size_t)put_utf8(lit + n, cp); /* at most 4 bytes for >= 6 read */
                                break;
                        }
                        default:
                                return fail(p, eline, ecol, "expected an escape sequence, found '\\%c'",
                                            e > 0 && isprint(e) ? e : '?');
                        }
                        continue;
                }
                lit[n++] = (char)c;
                adv(p, 1);
        }
        if (push_literal(p, t, lit, n, lline, lcol) < 0)
                return p->r;
        p->depth--;
        *ret = TAKE_PTR(t);
        return 0;
}

/* A quoted string inside an expression, at '"'. A template of one literal is a literal. */
static int parse_quoted(struct ep *p, struct hn **ret) {
        int line = p->line, col = p->col;
        adv(p, 1);
        struct hn *t = NULL;
        if (parse_template(p, HCL_TEXT_QUOTED, &t, NULL) < 0)
                return p->r;
        if (cur(p) != '"') {
                hn_free(t);
                return fail(p, line, col, "expected '\"' closing the string, found end of expression");
        }
        adv(p, 1);
        t->line = line;
        t->col = col;
        if (t->n == 0) {
                t->kind = HN_LIT;
                t->lit = json_string("");
        } else if (t->n == 1 && t->kids[0]->kind == HN_LIT) {
                struct hn *l = t->kids[0];
                t->n = 0;
                hn_free(t);
                t = l;
        }
        if (t->kind == HN_LIT && !t->lit) {
                hn_free(t);
                return oom(p);
        }
        *ret = t;
        return 0;
}

/* A heredoc inside an expression: `<<EOF` or `<<-EOF`, lines, the marker on a line of its own. */
static int parse_heredoc(struct ep *p, struct hn **ret) {
        int line = p->line, col = p->col;
        adv(p, 2);
        bool indent = cur(p) == '-';
        if (indent)
                adv(p, 1);
        size_t ms = p->pos;
        while (id_char(cur(p)))
                adv(p, 1);
        size_t ml = p->pos - ms;
        if (!ml || cur(p) != '\n')
                return fail(p, line, col, "expected a heredoc marker and a newline after '<<'");
        adv(p, 1);
        size_t bs = p->pos, be = p->pos;
        int bline = p->line;
        for (;;) {
                if (p->pos >= p->len)
                        return fail(p, line, col, "expected heredoc terminator \"%.*s\", found end of expression",
                                    (int)MIN(ml, 40), p->s + ms);
                size_t ls = p->pos, le = ls;
                while (le < p->len && p->s[le] != '\n')
                        le++;
                size_t a = ls;
                while (a < le && (p->s[a] == ' ' || p->s[a] == '\t'))
                        a++;
                if (le - a == ml && memcmp(p->s + a, p->s + ms, ml) == 0) {
                        be = ls;
                        adv(p, le - ls);
                        break;
                }
                adv(p, le - ls + 1);
        }
        /* body with the common indentation removed when `<<-` */
        size_t strip = 0;
        if (indent) {
                strip = SIZE_MAX;
                for (size_t k = bs; k < be;) {
                        size_t w = 0;
                        while (k + w < be && (p->s[k + w] == ' ' || p->s[k + w] == '\t'))
                                w++;
                        if (k + w < be && p->s[k + w] != '\n')
                                strip = MIN(strip, w);
                        while (k < be && p->s[k] != '\n')
                                k++;
                        k++;
                }
                if (strip == SIZE_MAX)
                        strip = 0;
        }
        _cleanup_free_ char *body = malloc(be - bs + 1);
        if (!body)
                return oom(p);
        size_t n = 0;
        for (size_t k = bs; k < be;) {
                size_t w = 0;
                while (w < strip && k + w < be && (p->s[k + w] == ' ' || p->s[k + w] == '\t'))
                        w++;
                k += w;
                while (k < be && p->s[k] != '\n')
                        body[n++] = p->s[k++];
                if (k < be)
                        body[n++] = p->s[k++];
        }
        struct ep sub = {.s = body,
                         .len = n,
                         .line = bline,
                         .col = 1,
                         .file = p->file,
                         .err = p->err,
                         .depth = p->depth,
                         .nodes = p->nodes};
        struct hn *t = NULL;
        int r = parse_template(&sub, HCL_TEXT_TEMPLATE, &t, NULL);
        p->nodes = sub.nodes;
        if (r < 0) {
                p->r = r;
                return r;
        }
        *ret = t;
        return 0;
}

/* ---- expressions ----------------------------------------------------------------------- */

static int parse_number(struct ep *p, struct hn **ret) {
        int line = p->line, col = p->col;
        size_t s = p->pos;
        bool frac = false;
        while (isdigit(cur(p)))
                adv(p, 1);
        if (cur(p) == '.' && isdigit(at(p, 1))) {
                frac = true;
                adv(p, 1);
                while (isdigit(cur(p)))
                        adv(p, 1);
        }
        if (cur(p) == 'e' || cur(p) == 'E') {
                size_t k = (at(p, 1) == '+' || at(p, 1) == '-') ? 2 : 1;
                if (isdigit(at(p, k))) {
                        frac = true;
                        adv(p, k);
                        while (isdigit(cur(p)))
                                adv(p, 1);
                }
        }
        char txt[64];
        size_t n = MIN(p->pos - s, sizeof(txt) - 1);
        memcpy(txt, p->s + s, n);
        txt[n] = '\0';
        struct hn *l = node(p, HN_LIT, line, col);
        if (!l)
                return p->r;
        errno = 0;
        long long ll = frac ? 0 : strtoll(txt, NULL, 10);
        if (!frac && errno == 0)
                l->lit = json_integer(ll);
        else
                l->lit = json_real(strtod(txt, NULL));
        if (!l->lit) {
                hn_free(l);
                return fail(p, line, col, "expected a finite number, found %s", txt);
        }
        *ret = l;
        return 0;
}

/* [ ... ] or { ... } starting with `for`. */
static int parse_for(struct ep *p, bool object, int line, int col, struct hn **ret) {
        _cleanup_(hn_freep) struct hn *f = node(p, HN_FOR, line, col);
        if (!f)
                return p->r;
        f->is_object = object;
        adv(p, 3);
        if (parse_for_vars(p, f, "'for'", "the for expression") < 0 || parse_expr(p, &f->a) < 0 ||
            expect(p, ":", "':' in the for expression") < 0)
                return p->r;
        if (object) {
                if (parse_expr(p, &f->b) < 0 || expect(p, "=>", "'=>' in the object for expression") < 0)
                        return p->r;
        }
        if (parse_expr(p, &f->c) < 0)
                return p->r;
        skip_ws(p);
        if (object && looking_at(p, "...")) {
                adv(p, 3);
                f->expand = true;
                skip_ws(p);
        }
        if (at_keyword(p, "if")) {
                adv(p, 2);
                if (parse_expr(p, &f->d) < 0)
                        return p->r;
        }
        if (expect(p, object ? "}" : "]",
                   object ? "'}' closing the for expression" : "']' closing the for expression") < 0)
                return p->r;
        *ret = TAKE_PTR(f);
        return 0;
}

static int parse_tuple(struct ep *p, struct hn **ret) {
        int line = p->line, col = p->col;
        adv(p, 1);
        bool save = p->nl_sens;
        p->nl_sens = false;
        skip_ws(p);
        if (at_keyword(p, "for")) {
                int r = parse_for(p, false, line, col, ret);
                p->nl_sens = save;
                return r;
        }
        _cleanup_(hn_freep) struct hn *t = node(p, HN_TUPLE, line, col);
        if (!t)
                return p->r;
        for (;;) {
                skip_ws(p);
                if (cur(p) == ']')
                        break;
                struct hn *e = NULL;
                if (parse_expr(p, &e) < 0 || push(p, t, e) < 0)
                        return p->r;
                skip_ws(p);
                if (cur(p) == ',') {
                        adv(p, 1);
                        continue;
                }
                if (cur(p) != ']')
                        return expect(p, "]", "',' or ']' in the list");
        }
        adv(p, 1);
        p->nl_sens = save;
        *ret = TAKE_PTR(t);
        return 0;
}

static int parse_object(struct ep *p, struct hn **ret) {
        int line = p->line, col = p->col;
        adv(p, 1);
        bool save = p->nl_sens;
        skip_ws(p);
        if (at_keyword(p, "for")) {
                p->nl_sens = false;
                int r = parse_for(p, true, line, col, ret);
                p->nl_sens = save;
                return r;
        }
        p->nl_sens = true;
        _cleanup_(hn_freep) struct hn *o = node(p, HN_OBJECT, line, col);
        if (!o)
                return p->r;
        for (;;) {
                skip_ws(p);
                if (cur(p) == '}')
                        break;
                struct hn *k = NULL;
                int kline = p->line, kcol = p->col;
                if (id_start(cur(p))) {
                        /* a bare identifier key is a literal string */
                        size_t s = p->pos;
                        while (id_char(cur(p)))
                                adv(p, 1);
                        if (!(k = node(p, HN_LIT, kline, kcol)))
                                return p->r;
                        k->lit = json_stringn(p->s + s, p->pos - s);
                        if (!k->lit) {
                                hn_free(k);
                                return oom(p);
                        }
                } else {
                        bool sv = p->nl_sens;
                        p->nl_sens = false;
                        if (parse_expr(p, &k) < 0)
                                return p->r;
                        p->nl_sens = sv;
                }
                if (push(p, o, k) < 0)
                        return p->r;
                skip_ws(p);
                if (cur(p) == '=' && at(p, 1) != '=' && at(p, 1) != '>')
                        adv(p, 1);
                else if (cur(p) == ':')
                        adv(p, 1);
                else
                        return fail(p, p->line, p->col, "expected '=' or ':' after an object key");
                struct hn *v = NULL;
                if (parse_expr(p, &v) < 0 || push(p, o, v) < 0)
                        return p->r;
                skip_ws(p);
                if (cur(p) == ',')
                        adv(p, 1);
        }
        adv(p, 1);
        p->nl_sens = save;
        *ret = TAKE_PTR(o);
        return 0;
}

static int parse_call(struct ep *p, char *name, int line, int col, struct hn **ret) {
        _cleanup_free_ char *nm = name;
        _cleanup_(hn_freep) struct hn *c = node(p, HN_CALL, line, col);
        if (!c)
                return p->r;
        c->name = TAKE_PTR(nm);
        adv(p, 1); /* ( */
        bool save = p->nl_sens;
        p->nl_sens = false;
        for (;;) {
                skip_ws(p);
                if (cur(p) == ')')
                        break;
                struct hn *a = NULL;
                if (parse_expr(p, &a) < 0 || push(p, c, a) < 0)
                        return p->r;
                skip_ws(p);
                if (looking_at(p, "...")) {
                        adv(p, 3);
                        c->expand = true;
                        skip_ws(p);
                        if (cur(p) != ')')
                                return fail(p, p->line, p->col, "expected ')' after the expanded argument '...'");
                        break;
                }
                if (cur(p) == ',') {
                        adv(p, 1);
                        continue;
                }
                if (cur(p) != ')')
                        return expect(p, ")", "',' or ')' in the function call");
        }
        adv(p, 1);
        p->nl_sens = save;
        *ret = TAKE_PTR(c);
        return 0;
}

/* .attr .N [expr] [*] .* applied to *node. */
static int parse_traversals(struct ep *p, struct hn **node_io, bool in_splat) {
        for (;;) {
                size_t save_pos = p->pos;
                int save_line = p->line, save_col = p->col;
                bool nl = skip_ws(p);
                if (nl && p->nl_sens)
                        goto restore;
                int line = p->line, col = p->col;
                if (cur(p) == '.' && at(p, 1) != '.') {
                        adv(p, 1);
                        skip_ws(p);
                        if (cur(p) == '*') {
                                if (in_splat)
                                        return fail(p, line, col, "expected one splat per traversal");
                                adv(p, 1);
                                goto splat;
                        }
                        struct hn *g = node(p, HN_GETATTR, (*node_io)->line, (*node_io)->col);
                        if (!g)
                                return p->r;
                        g->a = *node_io;
                        *node_io = g;
                        if (isdigit(cur(p))) {
                                size_t s = p->pos;
                                while (isdigit(cur(p)))
                                        adv(p, 1);
                                g->kind = HN_INDEX;
                                if (!(g->b = node(p, HN_LIT, line, col)))
                                        return p->r;
                                g->b->lit = json_integer(strtoll(p->s + s, NULL, 10));
                                if (!g->b->lit)
                                        return oom(p);
                        } else if (id_start(cur(p))) {
                                if (!(g->name = read_ident(p)))
                                        return p->r;
                        } else {
                                return fail(p, p->line, p->col, "expected an attribute name after '.'");
                        }
                        continue;
                }
                if (cur(p) == '[') {
                        adv(p, 1);
                        skip_ws(p);
                        if (cur(p) == '*') {
                                adv(p, 1);
                                if (expect(p, "]", "']' after '[*'") < 0)
                                        return p->r;
                                if (in_splat)
                                        return fail(p, line, col, "expected one splat per traversal");
                                goto splat;
                        }
                        struct hn *ix = node(p, HN_INDEX, (*node_io)->line, (*node_io)->col);
                        if (!ix)
                                return p->r;
                        ix->a = *node_io;
                        *node_io = ix;
                        bool save = p->nl_sens;
                        p->nl_sens = false;
                        if (parse_expr(p, &ix->b) < 0 || expect(p, "]", "']' closing the index") < 0)
                                return p->r;
                        p->nl_sens = save;
                        continue;
                }
        restore:
                p->pos = save_pos;
                p->line = save_line;
                p->col = save_col;
                return 0;
        splat : {
                struct hn *s = node(p, HN_SPLAT, line, col);
                if (!s)
                        return p->r;
                s->a = *node_io;
                *node_io = s;
                if (!(s->b = node(p, HN_SPLAT_ITEM, line, col)))
                        return p->r;
                return parse_traversals(p, &s->b, true);
        }
        }
}

static int parse_primary(struct ep *p, struct hn **ret) {
        skip_ws(p);
        int line = p->line, col = p->col;
        int c = cur(p);
        _cleanup_(hn_freep) struct hn *n = NULL;
        if (c < 0)
                return fail(p, line, col, "expected an expression, found end of expression");
        if (isdigit(c)) {
                if (parse_number(p, &n) < 0)
                        return p->r;
        } else if (c == '"') {
                if (parse_quoted(p, &n) < 0)
                        return p->r;
        } else if (c == '<' && at(p, 1) == '<') {
                if (parse_heredoc(p, &n) < 0)
                        return p->r;
        } else if (c == '[') {
                if (parse_tuple(p, &n) < 0)
                        return p->r;
        } else if (c == '{') {
                if (parse_object(p, &n) < 0)
                        return p->r;
        } else if (c == '(') {
                adv(p, 1);
                bool save = p->nl_sens;
                p->nl_sens = false;
                if (parse_expr(p, &n) < 0 || expect(p, ")", "')'") < 0)
                        return p->r;
                p->nl_sens = save;
        } else if (id_start(c)) {
                size_t s = p->pos;
                _cleanup_free_ char *id = read_ident(p);
                if (!id)
                        return p->r;
                if (cur(p) == '(') {
                        if (parse_call(p, TAKE_PTR(id), line, col, &n) < 0)
                                return p->r;
                } else if (strcmp(id, "true") == 0 || strcmp(id, "false") == 0 || strcmp(id, "null") == 0) {
                        if (!(n = node(p, HN_LIT, line, col)))
                                return p->r;
                        n->lit = id[0] == 't' ? json_true() : id[0] == 'f' ? json_false() : json_null();
                } else if (hcl_runtime_root(id, strlen(id))) {
                        /* kept as its source text, whatever follows */
                        _cleanup_(hn_freep) struct hn *tmp = node(p, HN_REF, line, col);
                        if (!tmp || parse_traversals(p, &tmp, false) < 0)
                                return p->r;
                        if (!(n = node(p, HN_RUNTIME, line, col)))
                                return p->r;
                        if (!(n->name = strndup(p->s + s, p->pos - s)))
                                return oom(p);
                        *ret = TAKE_PTR(n);
                        return 0;
                } else {
                        if (!(n = node(p, HN_REF, line, col)))
                                return p->r;
                        n->name = TAKE_PTR(id);
                }
        } else {
                return fail(p, line, col, "expected an expression, found '%c'", isprint(c) ? c : '?');
        }
        if (parse_traversals(p, &n, false) < 0)
                return p->r;
        *ret = TAKE_PTR(n);
        return 0;
}

static int parse_unary(struct ep *p, struct hn **ret) {
        skip_ws(p);
        int line = p->line, col = p->col;
        if (cur(p) == '-' || (cur(p) == '!' && at(p, 1) != '=')) {
                enum hn_op op = cur(p) == '-' ? OP_NEG : OP_NOT;
                adv(p, 1);
                if (enter(p) < 0)
                        return p->r;
                _cleanup_(hn_freep) struct hn *u = node(p, HN_UNARY, line, col);
                if (!u || parse_unary(p, &u->a) < 0)
                        return p->r;
                p->depth--;
                u->op = op;
                *ret = TAKE_PTR(u);
                return 0;
        }
        return parse_primary(p, ret);
}

/* Binary operator at the cursor for precedence level lvl (0 loosest); its length or 0. */
static size_t binop_at(const struct ep *p, int lvl, enum hn_op *op) {
        int c = cur(p), c1 = at(p, 1);
        switch (lvl) {
        case 0:
                *op = OP_OR;
                return c == '|' && c1 == '|' ? 2 : 0;
        case 1:
                *op = OP_AND;
                return c == '&' && c1 == '&' ? 2 : 0;
        case 2:
                if (c == '=' && c1 == '=') {
                        *op = OP_EQ;
                        return 2;
                }
                *op = OP_NE;
                return c == '!' && c1 == '=' ? 2 : 0;
        case 3:
                if ((c == '<' || c == '>') && c1 == '=') {
                        *op = c == '<' ? OP_LE : OP_GE;
                        return 2;
                }
                if ((c == '<' && c1 != '<') || c == '>') {
                        *op = c == '<' ? OP_LT : OP_GT;
                        return 1;
                }
                return 0;
        case 4:
                if (c == '+' || (c == '-' && c1 != '>')) {
                        *op = c == '+' ? OP_ADD : OP_SUB;
                        return 1;
                }
                return 0;
        case 5:
                if (c == '*' || (c == '/' && c1 != '/' && c1 != '*') || c == '%') {
                        *op = c == '*' ? OP_MUL : c == '/' ? OP_DIV : OP_MOD;
                        return 1;
                }
                return 0;
        }
        return 0;
}

static int parse_binary(struct ep *p, int lvl, struct hn **ret) {
        if (lvl > 5)
                return parse_unary(p, ret);
        _cleanup_(hn_freep) struct hn *lhs = NULL;
        if (parse_binary(p, lvl + 1, &lhs) < 0)
                return p->r;
        for (;;) {
                size_t save_pos = p->pos;
                int save_line = p->line, save_col = p->col;
                bool nl = skip_ws(p);
                enum hn_op op = OP_NONE;
                size_t n = (nl && p->nl_sens) ? 0 : binop_at(p, lvl, &op);
                if (!n) {
                        p->pos = save_pos;
                        p->line = save_line;
                        p->col = save_col;
                        break;
                }
                struct hn *b = node(p, HN_BINARY, p->line, p->col);
                if (!b)
                        return p->r;
                adv(p, n);
                b->op = op;
                b->a = TAKE_PTR(lhs);
                lhs = b;
                if (enter(p) < 0 || parse_binary(p, lvl + 1, &b->b) < 0)
                        return p->r;
                p->depth--;
        }
        *ret = TAKE_PTR(lhs);
        return 0;
}

static int parse_expr(struct ep *p, struct hn **ret) {
        if (enter(p) < 0)
                return p->r;
        _cleanup_(hn_freep) struct hn *c = NULL;
        if (parse_binary(p, 0, &c) < 0)
                return p->r;
        size_t save_pos = p->pos;
        int save_line = p->line, save_col = p->col;
        bool nl = skip_ws(p);
        if (cur(p) == '?' && !(nl && p->nl_sens)) {
                _cleanup_(hn_freep) struct hn *q = node(p, HN_COND, p->line, p->col);
                if (!q)
                        return p->r;
                adv(p, 1);
                q->a = TAKE_PTR(c);
                bool save = p->nl_sens;
                p->nl_sens = false;
                if (parse_expr(p, &q->b) < 0 || expect(p, ":", "':' in the conditional expression") < 0)
                        return p->r;
                p->nl_sens = save;
                if (parse_expr(p, &q->c) < 0)
                        return p->r;
                c = TAKE_PTR(q);
        } else {
                p->pos = save_pos;
                p->line = save_line;
                p->col = save_col;
        }
        p->depth--;
        *ret = TAKE_PTR(c);
        return 0;
}

int hcl_expr_parse(const char *text, size_t len, enum hcl_text_mode mode, const char *file, int line, int col,
                   struct hn **ret, struct error *err) {
        struct ep p = {.s = text, .len = len, .line = line, .col = col, .file = file ? file : "<input>", .err = err};
        struct hn *n = NULL;
        if (mode == HCL_TEXT_EXPR) {
                if (parse_expr(&p, &n) == 0) {
                        skip_ws(&p);
                        if (cur(&p) >= 0)
                                fail(&p, p.line, p.col, "expected the end of the expression, found '%c'",
                                     isprint(cur(&p)) ? cur(&p) : '?');
                }
        } else {
                parse_template(&p, mode, &n, NULL);
        }
        if (p.r < 0) {
                hn_free(n);
                return p.r;
        }
        *ret = n;
        return 0;
}
