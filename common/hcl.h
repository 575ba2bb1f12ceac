/* hcl.h - hand-written HCL2 (native syntax, as Nomad job files use it) parser into a generic AST.
 *
 * A file is a body: a sequence of attributes (`name = expr`) and blocks
 * (`type "label" ident { body }`). Expressions are reduced to literal values where they are
 * literals (strings, numbers, bools, null, lists, objects). Anything else - references such as
 * `var.image`, function calls, operators, conditionals, for-expressions - is kept as
 * HCL_EXPR holding the raw source text of the expression (`var.image`, `upper("x")`); the
 * consumer decides how to evaluate it (jobspec substitutes `var.x` defaults and otherwise
 * wraps the text as the interpolation "${var.x}").
 *
 * Strings: escapes \n \r \t \" \\ \uXXXX \UXXXXXXXX are decoded; `${...}` and `%{...}` template
 * sequences are kept verbatim (nested braces and quotes included); the template escapes `$${`
 * and `%%{` decode to `${` and `%{`. Heredoc bodies (`<<EOF`, `<<-EOF`) are kept raw (no
 * escape processing); `<<-` strips the smallest common leading whitespace.
 *
 * Every node records its 1-based line and column (columns count bytes). Every error is
 * reported as "FILE:LINE:COL: expected X, found Y". Nesting deeper than HCL_MAX_DEPTH is an
 * error, so hostile input cannot exhaust the stack.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct error;

#define HCL_MAX_DEPTH 64

enum hcl_kind {
        HCL_NULL,
        HCL_BOOL,
        HCL_INT,
        HCL_FLOAT,
        HCL_STRING,
        HCL_LIST,
        HCL_OBJECT,
        HCL_EXPR, /* unevaluated expression; str holds its raw source text */
};

struct hcl_value {
        enum hcl_kind kind;
        int line, col;
        bool b;    /* HCL_BOOL */
        int64_t i; /* HCL_INT */
        double f;  /* HCL_FLOAT (also set for HCL_INT) */
        char *str; /* HCL_STRING (decoded) / HCL_EXPR (raw text) */
        size_t n;  /* HCL_LIST / HCL_OBJECT element count */
        struct hcl_value **items;
        char **keys; /* HCL_OBJECT only, n entries */
        /* HCL_STRING holding a template sequence (`${`, `%{`, or their escapes `$${`, `%%{`):
         * the template source, for hcl_eval.c to evaluate: the text between the quotes with
         * its escapes not decoded, or the heredoc body (indentation already stripped, no
         * backslash escapes). tmpl_line/tmpl_col locate its first byte. NULL otherwise. */
        char *tmpl;
        bool tmpl_heredoc;
        int tmpl_line, tmpl_col;
};

struct hcl_body;

struct hcl_item {
        bool is_block;
        char *name; /* attribute name or block type */
        int line, col;
        struct hcl_value *value; /* attribute */
        char **labels;           /* block */
        size_t n_labels;
        struct hcl_body *body; /* block */
};

struct hcl_body {
        struct hcl_item *items;
        size_t n;
        int line, col;
};

/* Parse src (len bytes, need not be NUL-terminated). filename is used in error messages. */
int hcl_parse(const char *src, size_t len, const char *filename, struct hcl_body **ret_body, struct error *err);

struct hcl_body *hcl_body_free(struct hcl_body *b);
void hcl_body_freep(struct hcl_body **b);

const char *hcl_kind_name(enum hcl_kind k);

/* Free what an item owns (not the item itself). */
void hcl_item_clear(struct hcl_item *it);

/* Free a value tree (NULL is fine); returns NULL. */
struct hcl_value *hcl_value_free(struct hcl_value *v);
