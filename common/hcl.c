/* hcl.c - HCL2 native-syntax lexer and recursive-descent parser (see hcl.h). */
#include "common/hcl.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/macros.h"

/* ---- growable byte buffer --------------------------------------------------------------- */

struct buf {
        char *s;
        size_t n, cap;
        bool oom;
};

static void buf_put(struct buf *b, const char *s, size_t n) {
        if (b->oom)
                return;
        if (b->n + n + 1 > b->cap) {
                size_t cap = b->cap ? b->cap : 32;
                while (cap < b->n + n + 1)
                        cap *= 2;
                char *p = realloc(b->s, cap);
                if (!p) {
                        b->oom = true;
                        return;
                }
                b->s = p;
                b->cap = cap;
        }
        memcpy(b->s + b->n, s, n);
        b->n += n;
        b->s[b->n] = '\0';
}

static void buf_putc(struct buf *b, char c) {
        buf_put(b, &c, 1);
}

/* Hand the string out (never NULL unless out of memory). */
static char *buf_take(struct buf *b) {
        if (b->oom) {
                free(b->s);
                b->s = NULL;
                return NULL;
        }
        if (!b->s)
                return strdup("");
        char *s = b->s;
        b->s = NULL;
        b->n = b->cap = 0;
        return s;
}

static void buf_done(struct buf *b) {
        free(b->s);
        b->s = NULL;
}

/* ---- tokens ---------------------------------------------------------------------------- */

enum tok_kind {
        T_EOF,
        T_NEWLINE,
        T_IDENT,
        T_NUMBER,
        T_STRING,
        T_HEREDOC,
        T_LBRACE,
        T_RBRACE,
        T_LBRACK,
        T_RBRACK,
        T_LPAREN,
        T_RPAREN,
        T_EQ,
        T_COLON,
        T_COMMA,
        T_DOT,
        T_ELLIPSIS,
        T_QUESTION,
        T_ARROW,
        T_OP, /* binary/unary operator: + - * / % == != < > <= >= && || ! */
};

struct token {
        enum tok_kind kind;
        size_t start, end; /* byte offsets into src */
        int line, col;
        char *sval; /* decoded text of T_STRING / T_HEREDOC */
        char *tmpl; /* template source when the string holds a template sequence */
        int tline, tcol;
};

struct parser {
        const char *src;
        size_t len, pos;
        int line, col;
        const char *file;
        struct error *err;
        struct token tok;
        size_t prev_end; /* end offset of the last consumed token */
        bool ignore_nl;  /* inside ( ) or [ ]: newlines are not tokens */
        int depth;
        int r; /* first error code, 0 while fine */
};

static int fail_at(struct parser *p, int line, int col, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int fail_at(struct parser *p, int line, int col, const char *fmt, ...) {
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

static int fail_oom(struct parser *p) {
        if (p->r < 0)
                return p->r;
        p->r = errorf(p->err, -ENOMEM, "%s: out of memory", p->file);
        return p->r;
}

static int peekc(const struct parser *p, size_t ahead) {
        return p->pos + ahead < p->len ? (unsigned char)p->src[p->pos + ahead] : -1;
}

static void advance(struct parser *p) {
        if (p->pos >= p->len)
                return;
        if (p->src[p->pos] == '\n') {
                p->line++;
                p->col = 1;
        } else {
                p->col++;
        }
        p->pos++;
}

static void advance_n(struct parser *p, size_t n) {
        while (n--)
                advance(p);
}

static bool is_ident_start(int c) {
        return c == '_' || isalpha(c) || c >= 0x80;
}

static bool is_ident_char(int c) {
        return is_ident_start(c) || isdigit(c) || c == '-';
}

/* Describe the current token for "found X". */
static void describe(const struct parser *p, const struct token *t, char *out, size_t sz) {
        size_t n = t->end - t->start;
        switch (t->kind) {
        case T_EOF:
                snprintf(out, sz, "end of file");
                return;
        case T_NEWLINE:
                snprintf(out, sz, "newline");
                return;
        case T_IDENT:
                snprintf(out, sz, "identifier \"%.*s\"", (int)MIN(n, 40), p->src + t->start);
                return;
        case T_NUMBER:
                snprintf(out, sz, "number %.*s", (int)MIN(n, 40), p->src + t->start);
                return;
        case T_STRING:
                snprintf(out, sz, "string %.*s%s", (int)MIN(n, 40), p->src + t->start, n > 40 ? "..." : "");
                return;
        case T_HEREDOC:
                snprintf(out, sz, "heredoc");
                return;
        default:
                snprintf(out, sz, "'%.*s'", (int)MIN(n, 8), p->src + t->start);
                return;
        }
}

static int fail_expected(struct parser *p, const char *what) {
        char found[96];
        describe(p, &p->tok, found, sizeof(found));
        return fail_at(p, p->tok.line, p->tok.col, "expected %s, found %s", what, found);
}

/* Skip blanks and comments; newlines are skipped only when ignore_nl. */
static int skip_space(struct parser *p) {
        for (;;) {
                int c = peekc(p, 0);
                if (c == ' ' || c == '\t' || c == '\r' || (c == '\n' && p->ignore_nl)) {
                        advance(p);
                } else if (c == '#' || (c == '/' && peekc(p, 1) == '/')) {
                        while (peekc(p, 0) >= 0 && peekc(p, 0) != '\n')
                                advance(p);
                } else if (c == '/' && peekc(p, 1) == '*') {
                        int line = p->line, col = p->col;
                        advance_n(p, 2);
                        while (!(peekc(p, 0) == '*' && peekc(p, 1) == '/')) {
                                if (peekc(p, 0) < 0)
                                        return fail_at(p, line, col,
                                                       "expected '*/' closing the comment, found end of file");
                                advance(p);
                        }
                        advance_n(p, 2);
                } else {
                        return 0;
                }
        }
}

static int copy_quoted_raw(struct parser *p, struct buf *b, int depth);

/* At "${" or "%{": copy the whole template sequence verbatim up to its matching '}'. */
static int copy_interp(struct parser *p, struct buf *b, int depth) {
        int line = p->line, col = p->col;
        if (depth > HCL_MAX_DEPTH)
                return fail_at(p, line, col, "expected at most %d levels of nesting, found deeper nesting",
                               HCL_MAX_DEPTH);
        buf_put(b, p->src + p->pos, 2);
        advance_n(p, 2);
        int braces = 1;
        for (;;) {
                int c = peekc(p, 0);
                if (c < 0)
                        return fail_at(p, line, col, "expected '}' closing the template sequence, found end of file");
                if (c == '"') {
                        int r = copy_quoted_raw(p, b, depth + 1);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (c == '{')
                        braces++;
                else if (c == '}' && --braces == 0) {
                        buf_putc(b, '}');
                        advance(p);
                        return 0;
                }
                buf_putc(b, (char)c);
                advance(p);
        }
}

/* Copy a quoted string (inside a template sequence) verbatim, quotes included. */
static int copy_quoted_raw(struct parser *p, struct buf *b, int depth) {
        int line = p->line, col = p->col;
        buf_putc(b, '"');
        advance(p);
        for (;;) {
                int c = peekc(p, 0);
                if (c < 0 || c == '\n')
                        return fail_at(p, line, col, "expected '\"' closing the string, found %s",
                                       c < 0 ? "end of file" : "newline");
                if (c == '"') {
                        buf_putc(b, '"');
                        advance(p);
                        return 0;
                }
                if (c == '\\' && peekc(p, 1) >= 0) {
                        buf_put(b, p->src + p->pos, 2);
                        advance_n(p, 2);
                        continue;
                }
                if ((c == '$' || c == '%') && peekc(p, 1) == '{') {
                        int r = copy_interp(p, b, depth + 1);
                        if (r < 0)
                                return r;
                        continue;
                }
                buf_putc(b, (char)c);
                advance(p);
        }
}

static int hexval(int c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

static void put_utf8(struct buf *b, uint32_t cp) {
        char o[4];
        if (cp < 0x80) {
                buf_putc(b, (char)cp);
        } else if (cp < 0x800) {
                o[0] = (char)(0xC0 | (cp >> 6));
                o[1] = (char)(0x80 | (cp & 0x3F));
                buf_put(b, o, 2);
        } else if (cp < 0x10000) {
                o[0] = (char)(0xE0 | (cp >> 12));
                o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
                o[2] = (char)(0x80 | (cp & 0x3F));
                buf_put(b, o, 3);
        } else {
                o[0] = (char)(0xF0 | (cp >> 18));
                o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
                o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
                o[3] = (char)(0x80 | (cp & 0x3F));
                buf_put(b, o, 4);
        }
}

/* Lex a quoted string starting at '"'; decoded text into b; *ret_tmpl set when it holds a
 * template sequence. */
static int lex_string(struct parser *p, struct buf *b, bool *ret_tmpl) {
        int line = p->line, col = p->col;
        advance(p);
        for (;;) {
                int c = peekc(p, 0);
                if (c < 0 || c == '\n')
                        return fail_at(p, line, col, "expected '\"' closing the string, found %s",
                                       c < 0 ? "end of file" : "newline");
                if (c == '"') {
                        advance(p);
                        return 0;
                }
                if ((c == '$' || c == '%') && (peekc(p, 1) == '{' || (peekc(p, 1) == c && peekc(p, 2) == '{')))
                        *ret_tmpl = true;
                if (c == '\\') {
                        int eline = p->line, ecol = p->col;
                        int e = peekc(p, 1);
                        advance_n(p, e < 0 ? 1 : 2);
                        switch (e) {
                        case 'n':
                                buf_putc(b, '\n');
                                break;
                        case 't':
                                buf_putc(b, '\t');
                                break;
                        case 'r':
                                buf_putc(b, '\r');
                                break;
                        case '"':
                                buf_putc(b, '"');
                                break;
                        case '\\':
                                buf_putc(b, '\\');
                                break;
                        case 'u':
                        case 'U': {
                                int digits = e == 'u' ? 4 : 8;
                                uint32_t cp = 0;
                                for (int k = 0; k < digits; k++) {
                                        int h = hexval(peekc(p, 0));
                                        if (h < 0)
                                                return fail_at(p, eline, ecol,
                                                               "expected %d hex digits after \\%c, found fewer", digits,
                                                               e);
                                        cp = cp * 16 + (uint32_t)h;
                                        advance(p);
                                }
                                if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                                        return fail_at(p, eline, ecol,
                                                       "expected a valid Unicode code point, found \\%c%0*X", e, digits,
                                                       cp);
                                put_utf8(b, cp);
                                break;
                        }
                        default:
                                return fail_at(p, eline, ecol,
                                               "expected an escape sequence (\\n \\r \\t \\\" \\\\ \\uXXXX), found "
                                               "'\\%c'",
                                               e < 0 ? '?' : e);
                        }
                        continue;
                }
                if ((c == '$' || c == '%') && peekc(p, 1) == c && peekc(p, 2) == '{') {
                        /* template escape: $${ -> ${ */
                        buf_putc(b, (char)c);
                        buf_putc(b, '{');
                        advance_n(p, 3);
                        continue;
                }
                if ((c == '$' || c == '%') && peekc(p, 1) == '{') {
                        int r = copy_interp(p, b, 0);
                        if (r < 0)
                                return r;
                        continue;
                }
                buf_putc(b, (char)c);
                advance(p);
        }
}

/* Lex a heredoc starting at "<<". */
static int lex_heredoc(struct parser *p, struct buf *b) {
        int line = p->line, col = p->col;
        advance_n(p, 2);
        bool indent = false;
        if (peekc(p, 0) == '-') {
                indent = true;
                advance(p);
        }
        size_t ms = p->pos;
        while (peekc(p, 0) >= 0 && is_ident_char(peekc(p, 0)))
                advance(p);
        size_t mlen = p->pos - ms;
        if (mlen == 0 || !is_ident_start((unsigned char)p->src[ms]))
                return fail_at(p, line, col, "expected a heredoc marker identifier after '<<', found %s",
                               peekc(p, 0) < 0 ? "end of file" : "something else");
        if (peekc(p, 0) == '\r')
                advance(p);
        if (peekc(p, 0) != '\n')
                return fail_at(p, p->line, p->col, "expected newline after heredoc marker \"%.*s\", found %s",
                               (int)MIN(mlen, 40), p->src + ms, peekc(p, 0) < 0 ? "end of file" : "more text");
        advance(p);

        /* Collect line spans until the terminator. */
        size_t nlines = 0, cap = 0;
        _cleanup_free_ size_t *starts = NULL, *ends = NULL; /* [start, end) including '\n' */
        for (;;) {
                if (p->pos >= p->len)
                        return fail_at(p, line, col, "expected heredoc terminator \"%.*s\", found end of file",
                                       (int)MIN(mlen, 40), p->src + ms);
                size_t ls = p->pos, le = ls;
                while (le < p->len && p->src[le] != '\n')
                        le++;
                size_t a = ls, z = le;
                while (a < z && (p->src[a] == ' ' || p->src[a] == '\t'))
                        a++;
                while (z > a && (p->src[z - 1] == ' ' || p->src[z - 1] == '\t' || p->src[z - 1] == '\r'))
                        z--;
                if (z - a == mlen && memcmp(p->src + a, p->src + ms, mlen) == 0) {
                        advance_n(p, z - ls); /* stop before the newline: it ends the attribute */
                        break;
                }
                if (nlines == cap) {
                        cap = cap ? cap * 2 : 16;
                        size_t *ns = realloc(starts, cap * sizeof(*ns));
                        if (!ns)
                                return fail_oom(p);
                        starts = ns;
                        size_t *ne = realloc(ends, cap * sizeof(*ne));
                        if (!ne)
                                return fail_oom(p);
                        ends = ne;
                }
                starts[nlines] = ls;
                ends[nlines] = le < p->len ? le + 1 : le;
                nlines++;
                advance_n(p, ends[nlines - 1] - ls);
        }
        size_t strip = 0;
        if (indent) {
                strip = SIZE_MAX;
                for (size_t k = 0; k < nlines; k++) {
                        size_t w = 0;
                        while (starts[k] + w < ends[k] &&
                               (p->src[starts[k] + w] == ' ' || p->src[starts[k] + w] == '\t'))
                                w++;
                        if (starts[k] + w == ends[k] || p->src[starts[k] + w] == '\n' || p->src[starts[k] + w] == '\r')
                                continue; /* blank lines do not count */
                        strip = MIN(strip, w);
                }
                if (strip == SIZE_MAX)
                        strip = 0;
        }
        for (size_t k = 0; k < nlines; k++) {
                size_t s = starts[k], w = 0;
                while (w < strip && s + w < ends[k] && (p->src[s + w] == ' ' || p->src[s + w] == '\t'))
                        w++;
                buf_put(b, p->src + s + w, ends[k] - s - w);
        }
        return 0;
}

/* Advance to the next token. */
static int next(struct parser *p) {
        free(p->tok.sval);
        p->tok.sval = NULL;
        free(p->tok.tmpl);
        p->tok.tmpl = NULL;
        p->prev_end = p->tok.end;
        if (p->r < 0)
                return p->r;
        int r = skip_space(p);
        if (r < 0)
                return r;
        struct token *t = &p->tok;
        t->start = p->pos;
        t->line = p->line;
        t->col = p->col;
        int c = peekc(p, 0), c1 = peekc(p, 1);
        if (c < 0) {
                t->kind = T_EOF;
        } else if (c == '\n') {
                t->kind = T_NEWLINE;
                advance(p);
        } else if (is_ident_start(c)) {
                t->kind = T_IDENT;
                while (peekc(p, 0) >= 0 && is_ident_char(peekc(p, 0)))
                        advance(p);
        } else if (isdigit(c)) {
                t->kind = T_NUMBER;
                while (isdigit(peekc(p, 0)))
                        advance(p);
                if (peekc(p, 0) == '.' && isdigit(peekc(p, 1))) {
                        advance(p);
                        while (isdigit(peekc(p, 0)))
                                advance(p);
                }
                if (peekc(p, 0) == 'e' || peekc(p, 0) == 'E') {
                        size_t k = 1;
                        if (peekc(p, 1) == '+' || peekc(p, 1) == '-')
                                k = 2;
                        if (isdigit(peekc(p, k))) {
                                advance_n(p, k);
                                while (isdigit(peekc(p, 0)))
                                        advance(p);
                        }
                }
        } else if (c == '"' || (c == '<' && c1 == '<')) {
                struct buf b = {0};
                bool tmpl = false;
                t->kind = c == '"' ? T_STRING : T_HEREDOC;
                size_t body = p->pos + 1;
                r = c == '"' ? lex_string(p, &b, &tmpl) : lex_heredoc(p, &b);
                if (r < 0) {
                        buf_done(&b);
                        return r;
                }
                t->sval = buf_take(&b);
                if (!t->sval)
                        return fail_oom(p);
                if (c == '"' && tmpl) {
                        t->tmpl = strndup(p->src + body, p->pos - 1 - body);
                        t->tline = t->line;
                        t->tcol = t->col + 1;
                } else if (c == '<' && (strstr(t->sval, "${") || strstr(t->sval, "%{"))) {
                        t->tmpl = strdup(t->sval);
                        t->tline = t->line + 1;
                        t->tcol = 1;
                }
                if ((c == '"' && tmpl) || (c == '<' && (strstr(t->sval, "${") || strstr(t->sval, "%{"))))
                        if (!t->tmpl)
                                return fail_oom(p);
        } else {
                size_t n = 1;
                switch (c) {
                case '{':
                        t->kind = T_LBRACE;
                        break;
                case '}':
                        t->kind = T_RBRACE;
                        break;
                case '[':
                        t->kind = T_LBRACK;
                        break;
                case ']':
                        t->kind = T_RBRACK;
                        break;
                case '(':
                        t->kind = T_LPAREN;
                        break;
                case ')':
                        t->kind = T_RPAREN;
                        break;
                case ':':
                        t->kind = T_COLON;
                        break;
                case ',':
                        t->kind = T_COMMA;
                        break;
                case '?':
                        t->kind = T_QUESTION;
                        break;
                case '.':
                        if (c1 == '.' && peekc(p, 2) == '.') {
                                t->kind = T_ELLIPSIS;
                                n = 3;
                        } else {
                                t->kind = T_DOT;
                        }
                        break;
                case '=':
                        t->kind = c1 == '=' ? T_OP : c1 == '>' ? T_ARROW : T_EQ;
                        n = (c1 == '=' || c1 == '>') ? 2 : 1;
                        break;
                case '!':
                case '<':
                case '>':
                        t->kind = T_OP;
                        n = c1 == '=' ? 2 : 1;
                        break;
                case '&':
                case '|':
                        if (c1 != c) {
                                return fail_at(p, p->line, p->col, "expected '%c%c', found '%c'", c, c, c);
                        }
                        t->kind = T_OP;
                        n = 2;
                        break;
                case '+':
                case '-':
                case '*':
                case '/':
                case '%':
                        t->kind = T_OP;
                        break;
                default:
                        if (isprint(c))
                                return fail_at(p, p->line, p->col, "expected a token, found invalid character '%c'", c);
                        return fail_at(p, p->line, p->col, "expected a token, found invalid byte 0x%02x", c);
                }
                advance_n(p, n);
        }
        t->end = p->pos;
        return 0;
}

static bool tok_is_op(const struct parser *p, const char *op) {
        size_t n = strlen(op);
        return p->tok.kind == T_OP && p->tok.end - p->tok.start == n && memcmp(p->src + p->tok.start, op, n) == 0;
}

static bool tok_is_ident(const struct parser *p, const char *id) {
        size_t n = strlen(id);
        return p->tok.kind == T_IDENT && p->tok.end - p->tok.start == n && memcmp(p->src + p->tok.start, id, n) == 0;
}

static char *tok_text(const struct parser *p) {
        return strndup(p->src + p->tok.start, p->tok.end - p->tok.start);
}

/* ---- AST ------------------------------------------------------------------------------- */

static struct hcl_value *value_free(struct hcl_value *v) {
        if (!v)
                return NULL;
        free(v->tmpl);
        for (size_t k = 0; k < v->n; k++) {
                value_free(v->items[k]);
                if (v->keys)
                        free(v->keys[k]);
        }
        free(v->items);
        free(v->keys);
        free(v->str);
        free(v);
        return NULL;
}

struct hcl_value *hcl_value_free(struct hcl_value *v) {
        return value_free(v);
}

static void value_freep(struct hcl_value **v) {
        value_free(*v);
}

static void item_clear(struct hcl_item *it) {
        free(it->name);
        value_free(it->value);
        for (size_t k = 0; k < it->n_labels; k++)
                free(it->labels[k]);
        free(it->labels);
        hcl_body_free(it->body);
}

void hcl_item_clear(struct hcl_item *it) {
        item_clear(it);
}

struct hcl_body *hcl_body_free(struct hcl_body *b) {
        if (!b)
                return NULL;
        for (size_t k = 0; k < b->n; k++)
                item_clear(&b->items[k]);
        free(b->items);
        free(b);
        return NULL;
}

void hcl_body_freep(struct hcl_body **b) {
        hcl_body_free(*b);
}

const char *hcl_kind_name(enum hcl_kind k) {
        static const char *const names[] = {
            [HCL_NULL] = "null",     [HCL_BOOL] = "bool", [HCL_INT] = "number",    [HCL_FLOAT] = "number",
            [HCL_STRING] = "string", [HCL_LIST] = "list", [HCL_OBJECT] = "object", [HCL_EXPR] = "expression",
        };
        return (unsigned)k < ARRAY_SIZE(names) ? names[k] : "?";
}

static struct hcl_value *value_new(struct parser *p, enum hcl_kind kind, int line, int col) {
        struct hcl_value *v = calloc(1, sizeof(*v));
        if (!v) {
                fail_oom(p);
                return NULL;
        }
        v->kind = kind;
        v->line = line;
        v->col = col;
        return v;
}

/* Append child (and key) to a list/object value; takes ownership of child and key. */
static int value_push(struct parser *p, struct hcl_value *v, struct hcl_value *child, char *key) {
        struct hcl_value **items = realloc(v->items, (v->n + 1) * sizeof(*items));
        if (!items)
                goto oom;
        v->items = items;
        if (v->kind == HCL_OBJECT) {
                char **keys = realloc(v->keys, (v->n + 1) * sizeof(*keys));
                if (!keys)
                        goto oom;
                v->keys = keys;
                v->keys[v->n] = key;
        }
        v->items[v->n++] = child;
        return 0;
oom:
        value_free(child);
        free(key);
        return fail_oom(p);
}

/* ---- parser ---------------------------------------------------------------------------- */

static int parse_expr(struct parser *p, struct hcl_value **ret);

static int enter(struct parser *p) {
        if (++p->depth > HCL_MAX_DEPTH)
                return fail_at(p, p->tok.line, p->tok.col,
                               "expected at most %d levels of nesting, found deeper nesting", HCL_MAX_DEPTH);
        return 0;
}

static struct hcl_value *raw_expr(struct parser *p, size_t start, int line, int col) {
        struct hcl_value *v = value_new(p, HCL_EXPR, line, col);
        if (!v)
                return NULL;
        v->str = strndup(p->src + start, p->prev_end - start);
        if (!v->str) {
                fail_oom(p);
                return value_free(v);
        }
        return v;
}

static int parse_list(struct parser *p, struct hcl_value **ret) {
        int line = p->tok.line, col = p->tok.col;
        size_t start = p->tok.start;
        bool save = p->ignore_nl;
        p->ignore_nl = true;
        if (next(p) < 0)
                return p->r;
        if (tok_is_ident(p, "for")) {
                /* [for x in y : z] - keep raw */
                int lvl = 1;
                while (lvl > 0) {
                        if (next(p) < 0)
                                return p->r;
                        if (p->tok.kind == T_EOF)
                                return fail_expected(p, "']' closing the for expression");
                        if (p->tok.kind == T_LBRACK || p->tok.kind == T_LBRACE || p->tok.kind == T_LPAREN)
                                lvl++;
                        if (p->tok.kind == T_RBRACK || p->tok.kind == T_RBRACE || p->tok.kind == T_RPAREN)
                                lvl--;
                }
                p->ignore_nl = save;
                if (next(p) < 0)
                        return p->r;
                *ret = raw_expr(p, start, line, col);
                return *ret ? 0 : p->r;
        }
        _cleanup_(value_freep) struct hcl_value *v = value_new(p, HCL_LIST, line, col);
        if (!v)
                return p->r;
        while (p->tok.kind != T_RBRACK) {
                struct hcl_value *e = NULL;
                if (parse_expr(p, &e) < 0)
                        return p->r;
                if (value_push(p, v, e, NULL) < 0)
                        return p->r;
                if (p->tok.kind == T_COMMA) {
                        if (next(p) < 0)
                                return p->r;
                } else if (p->tok.kind != T_RBRACK) {
                        return fail_expected(p, "',' or ']' in the list");
                }
        }
        p->ignore_nl = save;
        if (next(p) < 0)
                return p->r;
        *ret = TAKE_PTR(v);
        return 0;
}

static int parse_object(struct parser *p, struct hcl_value **ret) {
        int line = p->tok.line, col = p->tok.col;
        size_t start = p->tok.start;
        bool save = p->ignore_nl;
        p->ignore_nl = false;
        if (next(p) < 0)
                return p->r;
        while (p->tok.kind == T_NEWLINE)
                if (next(p) < 0)
                        return p->r;
        if (tok_is_ident(p, "for")) {
                int lvl = 1;
                p->ignore_nl = true;
                while (lvl > 0) {
                        if (p->tok.kind == T_EOF)
                                return fail_expected(p, "'}' closing the for expression");
                        if (p->tok.kind == T_LBRACK || p->tok.kind == T_LBRACE || p->tok.kind == T_LPAREN)
                                lvl++;
                        if (p->tok.kind == T_RBRACK || p->tok.kind == T_RBRACE || p->tok.kind == T_RPAREN)
                                lvl--;
                        if (lvl == 0)
                                p->ignore_nl = save;
                        if (next(p) < 0)
                                return p->r;
                }
                *ret = raw_expr(p, start, line, col);
                return *ret ? 0 : p->r;
        }
        _cleanup_(value_freep) struct hcl_value *v = value_new(p, HCL_OBJECT, line, col);
        if (!v)
                return p->r;
        while (p->tok.kind != T_RBRACE) {
                _cleanup_free_ char *key = NULL;
                if (p->tok.kind == T_IDENT || p->tok.kind == T_NUMBER) {
                        key = tok_text(p);
                } else if (p->tok.kind == T_STRING) {
                        key = TAKE_PTR(p->tok.sval);
                } else if (p->tok.kind == T_LPAREN) {
                        size_t ks = p->tok.start;
                        struct hcl_value *kv = NULL;
                        if (parse_expr(p, &kv) < 0)
                                return p->r;
                        value_free(kv);
                        key = strndup(p->src + ks, p->prev_end - ks);
                        if (!key)
                                return fail_oom(p);
                        goto have_key;
                } else {
                        return fail_expected(p, "an object key or '}'");
                }
                if (!key)
                        return fail_oom(p);
                if (next(p) < 0)
                        return p->r;
        have_key:
                if (p->tok.kind != T_EQ && p->tok.kind != T_COLON) {
                        char what[96];
                        snprintf(what, sizeof(what), "'=' or ':' after object key \"%.40s\"", key);
                        return fail_expected(p, what);
                }
                if (next(p) < 0)
                        return p->r;
                struct hcl_value *e = NULL;
                if (parse_expr(p, &e) < 0)
                        return p->r;
                if (value_push(p, v, e, TAKE_PTR(key)) < 0)
                        return p->r;
                if (p->tok.kind == T_COMMA) {
                        if (next(p) < 0)
                                return p->r;
                } else if (p->tok.kind != T_NEWLINE && p->tok.kind != T_RBRACE) {
                        return fail_expected(p, "',', newline or '}' after an object element");
                }
                while (p->tok.kind == T_NEWLINE)
                        if (next(p) < 0)
                                return p->r;
        }
        p->ignore_nl = save;
        if (next(p) < 0)
                return p->r;
        *ret = TAKE_PTR(v);
        return 0;
}

/* Postfix traversals: .attr, .0, .*, [expr], [*]. Returns true when any was consumed. */
static int parse_traversals(struct parser *p, bool *any) {
        for (;;) {
                if (p->tok.kind == T_DOT) {
                        if (next(p) < 0)
                                return p->r;
                        if (p->tok.kind != T_IDENT && p->tok.kind != T_NUMBER && !tok_is_op(p, "*"))
                                return fail_expected(p, "an attribute name after '.'");
                        if (next(p) < 0)
                                return p->r;
                        *any = true;
                } else if (p->tok.kind == T_LBRACK) {
                        bool save = p->ignore_nl;
                        p->ignore_nl = true;
                        if (next(p) < 0)
                                return p->r;
                        if (tok_is_op(p, "*")) {
                                if (next(p) < 0)
                                        return p->r;
                        } else {
                                struct hcl_value *ix = NULL;
                                if (parse_expr(p, &ix) < 0)
                                        return p->r;
                                value_free(ix);
                        }
                        p->ignore_nl = save;
                        if (p->tok.kind != T_RBRACK)
                                return fail_expected(p, "']' closing the index");
                        if (next(p) < 0)
                                return p->r;
                        *any = true;
                } else {
                        return 0;
                }
        }
}

static int parse_operand(struct parser *p, struct hcl_value **ret) {
        int line = p->tok.line, col = p->tok.col;
        size_t start = p->tok.start;
        _cleanup_(value_freep) struct hcl_value *v = NULL;
        bool raw = false;

        if (enter(p) < 0)
                return p->r;
        switch (p->tok.kind) {
        case T_OP:
                if (tok_is_op(p, "-") || tok_is_op(p, "!")) {
                        bool neg = tok_is_op(p, "-");
                        if (next(p) < 0)
                                return p->r;
                        if (parse_operand(p, &v) < 0)
                                return p->r;
                        if (neg && v->kind == HCL_INT && v->i != INT64_MIN) {
                                v->i = -v->i;
                                v->f = -v->f;
                        } else if (neg && v->kind == HCL_FLOAT) {
                                v->f = -v->f;
                        } else {
                                raw = true;
                        }
                        v->line = line;
                        v->col = col;
                        break;
                }
                p->depth--;
                return fail_expected(p, "an expression");
        case T_NUMBER: {
                _cleanup_free_ char *txt = tok_text(p);
                if (!txt)
                        return fail_oom(p);
                if (!(v = value_new(p, HCL_INT, line, col)))
                        return p->r;
                errno = 0;
                char *end = NULL;
                long long ll = strtoll(txt, &end, 10);
                if (*end == '\0' && errno == 0) {
                        v->i = ll;
                        v->f = (double)ll;
                } else {
                        v->kind = HCL_FLOAT;
                        v->f = strtod(txt, NULL);
                }
                if (next(p) < 0)
                        return p->r;
                break;
        }
        case T_STRING:
        case T_HEREDOC:
                if (!(v = value_new(p, HCL_STRING, line, col)))
                        return p->r;
                v->str = TAKE_PTR(p->tok.sval);
                v->tmpl = TAKE_PTR(p->tok.tmpl);
                v->tmpl_heredoc = p->tok.kind == T_HEREDOC;
                v->tmpl_line = p->tok.tline;
                v->tmpl_col = p->tok.tcol;
                if (next(p) < 0)
                        return p->r;
                break;
        case T_LBRACK:
                if (parse_list(p, &v) < 0)
                        return p->r;
                break;
        case T_LBRACE:
                if (parse_object(p, &v) < 0)
                        return p->r;
                break;
        case T_LPAREN: {
                bool save = p->ignore_nl;
                p->ignore_nl = true;
                if (next(p) < 0 || parse_expr(p, &v) < 0)
                        return p->r;
                p->ignore_nl = save;
                if (p->tok.kind != T_RPAREN)
                        return fail_expected(p, "')'");
                if (next(p) < 0)
                        return p->r;
                raw = true;
                break;
        }
        case T_IDENT:
                if (tok_is_ident(p, "true") || tok_is_ident(p, "false")) {
                        if (!(v = value_new(p, HCL_BOOL, line, col)))
                                return p->r;
                        v->b = tok_is_ident(p, "true");
                } else if (tok_is_ident(p, "null")) {
                        if (!(v = value_new(p, HCL_NULL, line, col)))
                                return p->r;
                } else {
                        raw = true;
                        if (!(v = value_new(p, HCL_NULL, line, col)))
                                return p->r;
                        if (next(p) < 0)
                                return p->r;
                        if (p->tok.kind == T_LPAREN) {
                                /* function call */
                                bool save = p->ignore_nl;
                                p->ignore_nl = true;
                                if (next(p) < 0)
                                        return p->r;
                                while (p->tok.kind != T_RPAREN) {
                                        struct hcl_value *a = NULL;
                                        if (parse_expr(p, &a) < 0)
                                                return p->r;
                                        value_free(a);
                                        if (p->tok.kind == T_ELLIPSIS && next(p) < 0)
                                                return p->r;
                                        if (p->tok.kind == T_COMMA) {
                                                if (next(p) < 0)
                                                        return p->r;
                                        } else if (p->tok.kind != T_RPAREN) {
                                                return fail_expected(p, "',' or ')' in the function call");
                                        }
                                }
                                p->ignore_nl = save;
                                if (next(p) < 0)
                                        return p->r;
                        }
                        break;
                }
                if (next(p) < 0)
                        return p->r;
                break;
        default:
                p->depth--;
                return fail_expected(p, "an expression");
        }
        bool trav = false;
        if (parse_traversals(p, &trav) < 0)
                return p->r;
        p->depth--;
        if (raw || trav) {
                value_free(TAKE_PTR(v));
                v = raw_expr(p, start, line, col);
                if (!v)
                        return p->r;
        }
        *ret = TAKE_PTR(v);
        return 0;
}

static bool at_binary_op(const struct parser *p) {
        return p->tok.kind == T_OP && !tok_is_op(p, "!");
}

static int parse_expr(struct parser *p, struct hcl_value **ret) {
        int line = p->tok.line, col = p->tok.col;
        size_t start = p->tok.start;
        _cleanup_(value_freep) struct hcl_value *v = NULL;
        if (parse_operand(p, &v) < 0)
                return p->r;
        bool raw = false;
        while (at_binary_op(p)) {
                raw = true;
                if (next(p) < 0)
                        return p->r;
                struct hcl_value *rhs = NULL;
                if (parse_operand(p, &rhs) < 0)
                        return p->r;
                value_free(rhs);
        }
        if (p->tok.kind == T_QUESTION) {
                raw = true;
                struct hcl_value *a = NULL, *b = NULL;
                if (enter(p) < 0 || next(p) < 0 || parse_expr(p, &a) < 0)
                        return p->r;
                value_free(a);
                if (p->tok.kind != T_COLON)
                        return fail_expected(p, "':' in the conditional expression");
                if (next(p) < 0 || parse_expr(p, &b) < 0)
                        return p->r;
                value_free(b);
                p->depth--;
        }
        if (raw) {
                value_free(TAKE_PTR(v));
                v = raw_expr(p, start, line, col);
                if (!v)
                        return p->r;
        }
        *ret = TAKE_PTR(v);
        return 0;
}

static int body_push(struct parser *p, struct hcl_body *b, struct hcl_item *it) {
        struct hcl_item *items = realloc(b->items, (b->n + 1) * sizeof(*items));
        if (!items) {
                item_clear(it);
                return fail_oom(p);
        }
        b->items = items;
        b->items[b->n++] = *it;
        return 0;
}

static int parse_body(struct parser *p, enum tok_kind end, struct hcl_body **ret) {
        _cleanup_(hcl_body_freep) struct hcl_body *b = calloc(1, sizeof(*b));
        if (!b)
                return fail_oom(p);
        b->line = p->tok.line;
        b->col = p->tok.col;
        for (;;) {
                while (p->tok.kind == T_NEWLINE)
                        if (next(p) < 0)
                                return p->r;
                if (p->tok.kind == end)
                        break;
                if (p->tok.kind != T_IDENT)
                        return fail_expected(p, end == T_EOF ? "an attribute or block name"
                                                             : "an attribute or block name or '}'");
                struct hcl_item it = {.line = p->tok.line, .col = p->tok.col};
                it.name = tok_text(p);
                if (!it.name)
                        return fail_oom(p);
                if (next(p) < 0)
                        goto fail;
                if (p->tok.kind == T_EQ) {
                        if (next(p) < 0 || parse_expr(p, &it.value) < 0)
                                goto fail;
                } else {
                        it.is_block = true;
                        while (p->tok.kind == T_STRING || p->tok.kind == T_IDENT) {
                                char **labels = realloc(it.labels, (it.n_labels + 1) * sizeof(*labels));
                                if (!labels) {
                                        fail_oom(p);
                                        goto fail;
                                }
                                it.labels = labels;
                                char *l = p->tok.kind == T_STRING ? TAKE_PTR(p->tok.sval) : tok_text(p);
                                if (!l) {
                                        fail_oom(p);
                                        goto fail;
                                }
                                it.labels[it.n_labels++] = l;
                                if (next(p) < 0)
                                        goto fail;
                        }
                        if (p->tok.kind != T_LBRACE) {
                                char what[120];
                                if (it.n_labels == 0)
                                        snprintf(what, sizeof(what), "'=' or a block label after \"%.60s\"", it.name);
                                else
                                        snprintf(what, sizeof(what), "'{' to open block \"%.60s\"", it.name);
                                fail_expected(p, what);
                                goto fail;
                        }
                        if (enter(p) < 0 || next(p) < 0 || parse_body(p, T_RBRACE, &it.body) < 0)
                                goto fail;
                        p->depth--;
                        if (next(p) < 0) /* consume '}' */
                                goto fail;
                }
                if (p->tok.kind != T_NEWLINE && p->tok.kind != T_EOF && p->tok.kind != end) {
                        char what[120];
                        snprintf(what, sizeof(what), "newline after %s \"%.60s\"", it.is_block ? "block" : "attribute",
                                 it.name);
                        fail_expected(p, what);
                        goto fail;
                }
                if (body_push(p, b, &it) < 0)
                        return p->r;
                continue;
        fail:
                item_clear(&it);
                return p->r;
        }
        if (end == T_RBRACE && p->tok.kind != T_RBRACE)
                return fail_expected(p, "'}'");
        *ret = TAKE_PTR(b);
        return 0;
}

int hcl_parse(const char *src, size_t len, const char *filename, struct hcl_body **ret_body, struct error *err) {
        struct parser p = {
            .src = src ? src : "",
            .len = src ? len : 0,
            .line = 1,
            .col = 1,
            .file = filename ? filename : "<input>",
            .err = err,
        };
        /* A UTF-8 byte order mark is allowed at the start. */
        if (p.len >= 3 && memcmp(p.src, "\xEF\xBB\xBF", 3) == 0)
                p.pos = 3;
        struct hcl_body *b = NULL;
        if (next(&p) == 0)
                parse_body(&p, T_EOF, &b);
        if (p.r == 0 && p.tok.kind != T_EOF)
                fail_expected(&p, "end of file");
        free(p.tok.sval);
        free(p.tok.tmpl);
        if (p.r < 0) {
                hcl_body_free(b);
                return p.r;
        }
        *ret_body = b;
        return 0;
}
