/* test_hcl.c - HCL lexer/parser: literals, escapes, templates, heredocs, comments, positions, errors. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/hcl.h"
#include "common/macros.h"

static struct hcl_body *parse_ok(const char *src) {
        struct hcl_body *b = NULL;
        struct error err = {0};
        int r = hcl_parse(src, strlen(src), "t.hcl", &b, &err);
        cr_assert_eq(r, 0, "parse failed: %s\ninput:\n%s", err.msg, src);
        cr_assert_not_null(b);
        return b;
}

static void parse_err(const char *src, const char *want) {
        struct hcl_body *b = NULL;
        struct error err = {0};
        int r = hcl_parse(src, strlen(src), "web.hcl", &b, &err);
        cr_assert_lt(r, 0, "parse unexpectedly succeeded: %s", src);
        cr_assert_null(b);
        cr_assert_eq(err.code, r);
        cr_assert(strstr(err.msg, want), "error \"%s\" does not contain \"%s\"", err.msg, want);
}

/* Value of attribute `name` in body b. */
static const struct hcl_value *attr(const struct hcl_body *b, const char *name) {
        for (size_t k = 0; k < b->n; k++)
                if (!b->items[k].is_block && strcmp(b->items[k].name, name) == 0)
                        return b->items[k].value;
        cr_assert_fail("no attribute %s", name);
        return NULL;
}

static const char *str_attr(const struct hcl_body *b, const char *name) {
        const struct hcl_value *v = attr(b, name);
        cr_assert_eq(v->kind, HCL_STRING, "%s is %s, not a string", name, hcl_kind_name(v->kind));
        return v->str;
}

Test(hcl, string_escapes) {
        _cleanup_(hcl_body_freep) struct hcl_body *b =
            parse_ok("a = \"x\\n\\t\\\"q\\\"\\\\\\u00e9\\U0001F600y\"\nb = \"\"\n");
        cr_assert_str_eq(str_attr(b, "a"), "x\n\t\"q\"\\\xC3\xA9\xF0\x9F\x98\x80y");
        cr_assert_str_eq(str_attr(b, "b"), "");
}

Test(hcl, interpolation_kept_verbatim_with_nested_braces_and_quotes) {
        _cleanup_(hcl_body_freep) struct hcl_body *b =
            parse_ok("a = \"pre ${lookup(var.m, \"k}\\\"\", { x = \"${y}\" })} post\"\n"
                     "b = \"%{ if x }yes%{ else }no%{ endif }\"\n"
                     "c = \"$${literal} %%{lit}\"\n"
                     "d = \"${NOMAD_ALLOC_DIR}/x\"\n");
        cr_assert_str_eq(str_attr(b, "a"), "pre ${lookup(var.m, \"k}\\\"\", { x = \"${y}\" })} post");
        cr_assert_str_eq(str_attr(b, "b"), "%{ if x }yes%{ else }no%{ endif }");
        cr_assert_str_eq(str_attr(b, "c"), "${literal} %{lit}");
        cr_assert_str_eq(str_attr(b, "d"), "${NOMAD_ALLOC_DIR}/x");
}

Test(hcl, template_source_kept_for_the_evaluator) {
        _cleanup_(hcl_body_freep) struct hcl_body *b = parse_ok("a = \"plain \\n\"\n"
                                                                "b = \"x\\t${y}\"\n"
                                                                "c = \"$${z}\"\n"
                                                                "d = <<EOT\n  ${q}\nEOT\n");
        cr_assert_null(attr(b, "a")->tmpl);
        cr_assert_str_eq(attr(b, "b")->tmpl, "x\\t${y}"); /* escapes not decoded */
        cr_assert_eq(attr(b, "b")->tmpl_line, 2);
        cr_assert_eq(attr(b, "b")->tmpl_col, 6);
        cr_assert_str_eq(attr(b, "c")->tmpl, "$${z}");
        cr_assert_str_eq(attr(b, "d")->tmpl, "  ${q}\n");
        cr_assert(attr(b, "d")->tmpl_heredoc);
        cr_assert_eq(attr(b, "d")->tmpl_line, 5);
}

Test(hcl, heredoc_plain_and_indented) {
        _cleanup_(hcl_body_freep) struct hcl_body *b = parse_ok("job \"x\" {\n"
                                                                "  a = <<EOF\n"
                                                                "  line1 ${X}\n"
                                                                "    line2 \\n\n"
                                                                "EOF\n"
                                                                "  b = <<-EOT\n"
                                                                "      one\n"
                                                                "\n"
                                                                "        two\n"
                                                                "      EOT\n"
                                                                "  c = 1\n"
                                                                "}\n");
        cr_assert_eq(b->n, 1);
        const struct hcl_body *jb = b->items[0].body;
        cr_assert_str_eq(str_attr(jb, "a"), "  line1 ${X}\n    line2 \\n\n");
        cr_assert_str_eq(str_attr(jb, "b"), "one\n\n  two\n");
        cr_assert_eq(attr(jb, "c")->i, 1);
        cr_assert_eq(attr(jb, "c")->line, 11);
}

Test(hcl, comments_of_all_kinds) {
        _cleanup_(hcl_body_freep) struct hcl_body *b = parse_ok("# hash\n"
                                                                "// slashes\n"
                                                                "/* block\n comment */ a = 1 # trailing\n"
                                                                "b = /* inline */ \"x # not a comment\" // end\n");
        cr_assert_eq(b->n, 2);
        cr_assert_eq(attr(b, "a")->i, 1);
        cr_assert_eq(attr(b, "a")->line, 4);
        cr_assert_str_eq(str_attr(b, "b"), "x # not a comment");
}

Test(hcl, numbers_bools_null) {
        _cleanup_(hcl_body_freep) struct hcl_body *b =
            parse_ok("i = 42\nn = -7\nf = 3.25\ne = 1e3\nneg = -0.5\nbig = 21474836470\nt = true\nz = null\n");
        cr_assert_eq(attr(b, "i")->kind, HCL_INT);
        cr_assert_eq(attr(b, "i")->i, 42);
        cr_assert_eq(attr(b, "n")->i, -7);
        cr_assert_eq(attr(b, "f")->kind, HCL_FLOAT);
        cr_assert_float_eq(attr(b, "f")->f, 3.25, 1e-12);
        cr_assert_eq(attr(b, "e")->kind, HCL_FLOAT);
        cr_assert_float_eq(attr(b, "e")->f, 1000.0, 1e-9);
        cr_assert_float_eq(attr(b, "neg")->f, -0.5, 1e-12);
        cr_assert_eq(attr(b, "big")->i, 21474836470LL);
        cr_assert_eq(attr(b, "t")->kind, HCL_BOOL);
        cr_assert(attr(b, "t")->b);
        cr_assert_eq(attr(b, "z")->kind, HCL_NULL);
}

Test(hcl, lists_and_objects) {
        _cleanup_(hcl_body_freep) struct hcl_body *b = parse_ok("l = [\n  \"a\",\n  2,\n  [true],\n]\n"
                                                                "e = []\n"
                                                                "o = { k = 1, \"k2\" = \"v\"\n  k3: [1, 2]\n}\n"
                                                                "m = {}\n");
        const struct hcl_value *l = attr(b, "l");
        cr_assert_eq(l->kind, HCL_LIST);
        cr_assert_eq(l->n, 3);
        cr_assert_str_eq(l->items[0]->str, "a");
        cr_assert_eq(l->items[1]->i, 2);
        cr_assert_eq(l->items[2]->kind, HCL_LIST);
        cr_assert_eq(l->items[1]->line, 3);
        cr_assert_eq(l->items[1]->col, 3);
        cr_assert_eq(attr(b, "e")->n, 0);
        const struct hcl_value *o = attr(b, "o");
        cr_assert_eq(o->kind, HCL_OBJECT);
        cr_assert_eq(o->n, 3);
        cr_assert_str_eq(o->keys[0], "k");
        cr_assert_str_eq(o->keys[1], "k2");
        cr_assert_str_eq(o->keys[2], "k3");
        cr_assert_eq(o->items[2]->n, 2);
        cr_assert_eq(attr(b, "m")->kind, HCL_OBJECT);
        cr_assert_eq(attr(b, "m")->n, 0);
}

Test(hcl, blocks_labels_and_positions) {
        _cleanup_(hcl_body_freep) struct hcl_body *b = parse_ok("job \"web\" {\n"
                                                                "  group api {\n"
                                                                "    port \"http\" {}\n"
                                                                "    x \"a\" b \"c\" { k = 1 }\n"
                                                                "  }\n"
                                                                "}\n");
        cr_assert_eq(b->n, 1);
        const struct hcl_item *job = &b->items[0];
        cr_assert(job->is_block);
        cr_assert_str_eq(job->name, "job");
        cr_assert_eq(job->n_labels, 1);
        cr_assert_str_eq(job->labels[0], "web");
        const struct hcl_item *g = &job->body->items[0];
        cr_assert_str_eq(g->labels[0], "api");
        cr_assert_eq(g->line, 2);
        cr_assert_eq(g->col, 3);
        cr_assert_eq(g->body->n, 2);
        cr_assert_eq(g->body->items[0].body->n, 0);
        const struct hcl_item *x = &g->body->items[1];
        cr_assert_eq(x->n_labels, 3);
        cr_assert_str_eq(x->labels[2], "c");
        cr_assert_eq(attr(x->body, "k")->i, 1);
        cr_assert_eq(attr(x->body, "k")->col, 23);
        cr_assert_eq(x->body->items[0].col, 19);
}

Test(hcl, references_and_calls_kept_as_expression_text) {
        _cleanup_(hcl_body_freep) struct hcl_body *b = parse_ok("a = var.image\n"
                                                                "b = upper(\"x\", [1,\n 2])\n"
                                                                "c = var.n + 1\n"
                                                                "d = var.list[0].name\n"
                                                                "e = x ? \"y\" : \"z\"\n"
                                                                "f = [for s in var.l : upper(s)]\n");
        cr_assert_eq(attr(b, "a")->kind, HCL_EXPR);
        cr_assert_str_eq(attr(b, "a")->str, "var.image");
        cr_assert_str_eq(attr(b, "b")->str, "upper(\"x\", [1,\n 2])");
        cr_assert_str_eq(attr(b, "c")->str, "var.n + 1");
        cr_assert_str_eq(attr(b, "d")->str, "var.list[0].name");
        cr_assert_str_eq(attr(b, "e")->str, "x ? \"y\" : \"z\"");
        cr_assert_str_eq(attr(b, "f")->str, "[for s in var.l : upper(s)]");
}

Test(hcl, error_missing_equals_names_position) {
        parse_err("job \"web\" {\n  group \"g\" {\n  count      }\n}\n",
                  "web.hcl:3:14: expected '=' or a block label after \"count\", found '}'");
}

Test(hcl, error_unterminated_string) {
        parse_err("a = \"abc\nb = 1\n", "web.hcl:1:5: expected '\"' closing the string, found newline");
}

Test(hcl, error_unclosed_block) {
        parse_err("job \"x\" {\n  a = 1\n",
                  "web.hcl:3:1: expected an attribute or block name or '}', found end of file");
}

Test(hcl, error_two_attributes_on_one_line) {
        parse_err("a = 1 b = 2\n", "web.hcl:1:7: expected newline after attribute \"a\", found identifier \"b\"");
}

Test(hcl, error_bad_list_separator) {
        parse_err("a = [1 2]\n", "web.hcl:1:8: expected ',' or ']' in the list, found number 2");
}

Test(hcl, error_bad_escape_and_character) {
        parse_err("a = \"\\q\"\n", "web.hcl:1:6: expected an escape sequence");
        parse_err("a = 1\n@\n", "web.hcl:2:1: expected a token, found invalid character '@'");
        parse_err("a = \n", "web.hcl:1:5: expected an expression, found newline");
        parse_err("a = <<EOF\nnever closed\n", "web.hcl:1:5: expected heredoc terminator \"EOF\", found end of file");
        parse_err("/* open", "web.hcl:1:1: expected '*/' closing the comment, found end of file");
        parse_err("a = \"${x\"\n", "web.hcl:1:9: expected '\"' closing the string, found newline");
        parse_err("o = { k 1 }\n", "web.hcl:1:9: expected '=' or ':' after object key \"k\", found number 1");
}

static char *repeat(const char *s, size_t n) {
        size_t l = strlen(s);
        char *out = malloc(l * n + 1);
        cr_assert_not_null(out);
        for (size_t k = 0; k < n; k++)
                memcpy(out + k * l, s, l);
        out[l * n] = '\0';
        return out;
}

Test(hcl, nesting_within_limit_parses) {
        _cleanup_free_ char *open = repeat("[", 40);
        _cleanup_free_ char *close = repeat("]", 40);
        _cleanup_free_ char *src = NULL;
        cr_assert_gt(asprintf(&src, "a = %s1%s\n", open, close), 0);
        _cleanup_(hcl_body_freep) struct hcl_body *b = parse_ok(src);
        const struct hcl_value *v = attr(b, "a");
        for (int d = 0; d < 40; d++) {
                cr_assert_eq(v->kind, HCL_LIST);
                v = v->items[0];
        }
        cr_assert_eq(v->i, 1);
}

Test(hcl, depth_limit_rejects_hostile_nesting) {
        _cleanup_free_ char *lists = NULL, *objs = NULL, *neg = NULL;
        _cleanup_free_ char *open = repeat("[", 100000);
        cr_assert_gt(asprintf(&lists, "a = %s", open), 0);
        parse_err(lists, "levels of nesting");
        _cleanup_free_ char *bl = repeat("b {\n", 5000);
        parse_err(bl, "levels of nesting");
        _cleanup_free_ char *ob = repeat("{ a = ", 5000);
        cr_assert_gt(asprintf(&objs, "x = %s", ob), 0);
        parse_err(objs, "levels of nesting");
        _cleanup_free_ char *minus = repeat("-", 5000);
        cr_assert_gt(asprintf(&neg, "x = %s1\n", minus), 0);
        parse_err(neg, "levels of nesting");
        _cleanup_free_ char *interp = repeat("${\"", 5000);
        _cleanup_free_ char *src = NULL;
        cr_assert_gt(asprintf(&src, "x = \"%s\n", interp), 0);
        parse_err(src, "web.hcl:1:");
}

static const char *valid_file = "variable \"image\" { default = \"busybox:1\" }\n"
                                "job \"web\" {\n"
                                "  datacenters = [\"dc1\", \"dc2\",]\n"
                                "  meta { team = \"a\" }\n"
                                "  group \"g\" {\n"
                                "    count = 3 # three\n"
                                "    network {\n"
                                "      port \"http\" { static = 80 }\n"
                                "    }\n"
                                "    task \"t\" {\n"
                                "      driver = \"docker\"\n"
                                "      config {\n"
                                "        image = var.image\n"
                                "        args  = [\"-c\", \"echo ${NOMAD_ALLOC_ID} \\\"q\\\"\"]\n"
                                "        map   = { a = 1, \"b\" = -2.5 }\n"
                                "      }\n"
                                "      template {\n"
                                "        data = <<-EOT\n"
                                "          hello {{ key \"x\" }}\n"
                                "        EOT\n"
                                "      }\n"
                                "      /* resources */\n"
                                "      resources { cpu = 100 }\n"
                                "    }\n"
                                "  }\n"
                                "}\n";

Test(hcl, truncations_and_corruptions_never_crash) {
        size_t len = strlen(valid_file);
        _cleanup_(hcl_body_freep) struct hcl_body *full = parse_ok(valid_file);
        cr_assert_eq(full->n, 2);
        size_t failures = 0;
        for (size_t n = 0; n <= len; n++) {
                /* heap copy without a terminator so ASan catches any read past len */
                char *copy = malloc(n ? n : 1);
                cr_assert_not_null(copy);
                memcpy(copy, valid_file, n);
                struct hcl_body *b = NULL;
                struct error err = {0};
                int r = hcl_parse(copy, n, "t.hcl", &b, &err);
                if (r < 0) {
                        failures++;
                        cr_assert_null(b);
                        cr_assert(strncmp(err.msg, "t.hcl:", 6) == 0, "error without position: %s", err.msg);
                } else {
                        cr_assert_not_null(b);
                }
                hcl_body_free(b);
                free(copy);
        }
        cr_assert_gt(failures, len / 2, "most truncations must be syntax errors (%zu of %zu)", failures, len);
        static const char junk[] = "\"{}[]=\n\\$<-#/*,:.0a\x80";
        char *copy = malloc(len);
        cr_assert_not_null(copy);
        for (size_t pos = 0; pos < len; pos++) {
                for (size_t j = 0; j < sizeof(junk) - 1; j++) {
                        memcpy(copy, valid_file, len);
                        copy[pos] = junk[j];
                        struct hcl_body *b = NULL;
                        struct error err = {0};
                        if (hcl_parse(copy, len, "t.hcl", &b, &err) < 0)
                                cr_assert(err.msg[0] != '\0');
                        hcl_body_free(b);
                }
        }
        free(copy);
}

Test(hcl, empty_input_and_free_null) {
        _cleanup_(hcl_body_freep) struct hcl_body *b = parse_ok("");
        cr_assert_eq(b->n, 0);
        _cleanup_(hcl_body_freep) struct hcl_body *c = parse_ok("\n\n# only a comment\n");
        cr_assert_eq(c->n, 0);
        cr_assert_null(hcl_body_free(NULL));
}
