/* hcl_expr.h - HCL2 expression and template syntax tree (internal to hcl_eval.c, hcl_funcs.c).
 *
 * hcl.c keeps every non-literal expression as its raw source text (HCL_EXPR) and every string
 * holding a template sequence with its template source (hcl_value.tmpl). hcl_expr_parse()
 * turns such text into this tree; hcl_eval.c evaluates it. Positions are absolute: the text's
 * own line/col in the file plus the offset inside the text.
 *
 * Bounds: nesting deeper than HCL_EXPR_MAX_DEPTH and more than HCL_EXPR_MAX_NODES nodes per
 * text are errors, so that hostile text can exhaust neither the stack nor memory.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct error;

#define HCL_EXPR_MAX_DEPTH 64
#define HCL_EXPR_MAX_NODES 20000

enum hn_kind {
        HN_LIT,        /* lit */
        HN_TEMPLATE,   /* kids: parts (literals, interpolations, HN_TIF, HN_TFOR) */
        HN_REF,        /* name: root variable (var, local, an iterator, a for variable) */
        HN_RUNTIME,    /* name: source text of a run-time reference (attr.x, NOMAD_ALLOC_ID) */
        HN_TUPLE,      /* kids: elements */
        HN_OBJECT,     /* kids: key0, value0, key1, value1... */
        HN_CALL,       /* name: function; kids: arguments; expand: last argument is `...` */
        HN_UNARY,      /* op; a */
        HN_BINARY,     /* op; a, b */
        HN_COND,       /* a ? b : c */
        HN_INDEX,      /* a[b] */
        HN_GETATTR,    /* a.name */
        HN_SPLAT,      /* a[*] then b applied to each element (b is rooted at HN_SPLAT_ITEM) */
        HN_SPLAT_ITEM, /* the current element of the innermost splat */
        HN_FOR,        /* [for name, name2 in a : c if d] or {for ... : b => c (expand) if d} */
        HN_TIF,        /* %{ if a }b%{ else }c%{ endif } */
        HN_TFOR,       /* %{ for name, name2 in a }b%{ endfor } */
};

enum hn_op {
        OP_NONE,
        OP_NEG,
        OP_NOT,
        OP_MUL,
        OP_DIV,
        OP_MOD,
        OP_ADD,
        OP_SUB,
        OP_LT,
        OP_LE,
        OP_GT,
        OP_GE,
        OP_EQ,
        OP_NE,
        OP_AND,
        OP_OR,
};

struct hn {
        enum hn_kind kind;
        int line, col;
        json_t *lit;
        char *name;  /* see kinds; HN_FOR/HN_TFOR: key variable, or the value one when name2 is NULL */
        char *name2; /* HN_FOR/HN_TFOR: value variable when there are two */
        enum hn_op op;
        bool expand;    /* HN_CALL: f(args...); HN_FOR: grouping `...` */
        bool is_object; /* HN_FOR: { } form */
        struct hn **kids;
        size_t n;
        struct hn *a, *b, *c, *d;
};

enum hcl_text_mode {
        HCL_TEXT_EXPR,     /* an expression */
        HCL_TEXT_QUOTED,   /* the inside of a quoted string: escapes decoded, a template */
        HCL_TEXT_TEMPLATE, /* a heredoc body: a template, no backslash escapes */
};

/* Parse text (len bytes) found at file:line:col. Errors are "FILE:LINE:COL: ...". */
int hcl_expr_parse(const char *text, size_t len, enum hcl_text_mode mode, const char *file, int line, int col,
                   struct hn **ret, struct error *err);

struct hn *hn_free(struct hn *n);
void hn_freep(struct hn **n);

/* Roots kept for run-time interpolation: attr, node, meta, env, device, NOMAD_*, DROVER_*. */
bool hcl_runtime_root(const char *name, size_t len);
