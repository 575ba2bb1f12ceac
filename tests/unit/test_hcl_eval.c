/* test_hcl_eval.c - HCL2 evaluation: operators, templates, for expressions, functions,
 * variables, locals, dynamic blocks and every error path. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/hcl.h"
#include "common/hcl_eval.h"
#include "common/jobspec.h"
#include "common/jsonx.h"
#include "common/macros.h"

/* Evaluate `x = <expr>` (with `locals` lines before it, and var.v = {"n": 3, "s": "a"});
 * returns the compact JSON of the value, or NULL with err filled. Caller frees. */
static char *eval_src(const char *locals, const char *expr, struct error *err) {
        char *src = NULL;
        cr_assert_geq(asprintf(&src, "%s\nx = %s\n", locals ? locals : "", expr), 0);
        struct hcl_body *b = NULL;
        int r = hcl_parse(src, strlen(src), "e.hcl", &b, err);
        char *out = NULL;
        if (r == 0) {
                struct hcl_eval *ev = NULL;
                cr_assert_eq(hcl_eval_create("e.hcl", NULL, &ev, err), 0);
                json_t *vars = json_pack("{s:i,s:s,s:[i,i,i]}", "n", 3, "s", "a", "l", 1, 2, 3);
                const char *k;
                json_t *v;
                json_object_foreach(vars, k, v) cr_assert_eq(hcl_eval_set_var(ev, k, v, err), 0);
                json_decref(vars);
                for (size_t i = 0; r == 0 && i + 1 < b->n; i++)
                        r = hcl_eval_add_local(ev, b->items[i].name, b->items[i].value, b->items[i].line,
                                               b->items[i].col, err);
                json_t *val = NULL;
                if (r == 0)
                        r = hcl_eval_value(ev, b->items[b->n - 1].value, &val, err);
                if (r == 0) {
                        out = json_dumps(val, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
                        json_decref(val);
                }
                hcl_eval_free(ev);
        }
        hcl_body_free(b);
        free(src);
        return out;
}

static void ok_l(const char *locals, const char *expr, const char *want) {
        struct error err = {0};
        _cleanup_free_ char *got = eval_src(locals, expr, &err);
        cr_assert_not_null(got, "%s: %s", expr, err.msg);
        cr_assert_str_eq(got, want, "%s", expr);
}

static void ok(const char *expr, const char *want) {
        ok_l(NULL, expr, want);
}

static void bad_l(const char *locals, const char *expr, const char *want) {
        struct error err = {0};
        _cleanup_free_ char *got = eval_src(locals, expr, &err);
        cr_assert_null(got, "%s: unexpectedly gave %s", expr, got);
        cr_assert(strstr(err.msg, want), "%s: error \"%s\" does not contain \"%s\"", expr, err.msg, want);
}

static void bad(const char *expr, const char *want) {
        bad_l(NULL, expr, want);
}

Test(hcl_eval, operators_and_precedence) {
        ok("1 + 2 * 3", "7");
        ok("(1 + 2) * 3", "9");
        ok("10 - 4 - 3", "3");
        ok("7 / 2", "3.5");
        ok("8 / 2", "4");
        ok("7 % 3", "1");
        ok("-3 + 1", "-2");
        ok("1 + 2 == 3 && !false", "true");
        ok("1 < 2 || 1 / 1 == 5", "true");
        ok("2 >= 2 && 3 > 2 && 1 <= 0", "false");
        ok("\"a\" == \"a\" && [1, 2] == [1, 2] && {a = 1} != {a = 2}", "true");
        ok("true ? 1 : 2", "1");
        ok("1 > 2 ? \"x\" : var.n > 2 ? \"y\" : \"z\"", "\"y\"");
        ok("\"5\" + 1", "6");
        ok("!true == false", "true");
}

Test(hcl_eval, collections_index_attr_splat) {
        ok("[1, \"a\", true, null]", "[1,\"a\",true,null]");
        ok("{ a = 1, \"b\" = 2, c: 3 }", "{\"a\":1,\"b\":2,\"c\":3}");
        ok("{\n a = 1\n b = [1,\n 2]\n}", "{\"a\":1,\"b\":[1,2]}");
        ok("var.l[1]", "2");
        ok("var.l.2", "3");
        ok("{ a = { b = [10, 20] } }.a.b[1]", "20");
        ok("{ k = 1 }[\"k\"]", "1");
        ok("[{ n = 1 }, { n = 2 }][*].n", "[1,2]");
        ok("[{ n = [1] }, { n = [2] }].*.n", "[[1],[2]]");
        ok("null[*]", "[]");
        ok("{ n = 5 }[*].n", "[5]");
        ok("var", "{\"l\":[1,2,3],\"n\":3,\"s\":\"a\"}");
        ok("{ (var.s) = 1, (\"k${var.n}\") = 2 }", "{\"a\":1,\"k3\":2}");
}

Test(hcl_eval, templates) {
        ok("\"n=${var.n}, s=${upper(var.s)}\"", "\"n=3, s=A\"");
        ok("\"${var.n}\"", "3"); /* a lone interpolation keeps its type */
        ok("\"$${var.n} %%{x}\"", "\"${var.n} %{x}\"");
        ok("\"a\\tb\\\"c\\u00e9\"", "\"a\\tb\\\"cé\"");
        ok("\"%{ if var.n > 2 }big%{ else }small%{ endif }\"", "\"big\"");
        ok("\"%{ for i, v in var.l }${i}=${v};%{ endfor }\"", "\"0=1;1=2;2=3;\"");
        ok("\"%{ for v in [\"a\", \"b\"] }[${v}]%{ endfor }\"", "\"[a][b]\"");
        ok("\"a  ${~ \"b\" ~}  c\"", "\"abc\"");
        ok("\"x\\n%{~ if true ~}\\n y %{~ endif ~}\"", "\"xy\"");
        ok("<<EOT\nhello ${var.s}\nEOT\n", "\"hello a\\n\"");
        ok("<<-EOT\n    a ${var.n}\n      b\n    EOT\n", "\"a 3\\n  b\\n\"");
        ok("\"nested ${\"in ${var.s}\"}\"", "\"nested in a\"");
        ok("<<-EOT\n  %{ for v in var.l ~}\n  ${v}\n  %{ endfor ~}\n  EOT\n", "\"1\\n2\\n3\\n\"");
}

Test(hcl_eval, runtime_references_stay_text) {
        ok("\"${NOMAD_ALLOC_DIR}/x\"", "\"${NOMAD_ALLOC_DIR}/x\"");
        ok("\"${attr.unique.network.ip-address}:${node.datacenter}-${meta.rack}\"",
           "\"${attr.unique.network.ip-address}:${node.datacenter}-${meta.rack}\"");
        ok("\"${env.PATH} ${DROVER_ALLOC_ID} ${device.attr.memory}\"",
           "\"${env.PATH} ${DROVER_ALLOC_ID} ${device.attr.memory}\"");
        ok("\"${var.s}-${NOMAD_TASK_NAME}\"", "\"a-${NOMAD_TASK_NAME}\"");
        bad("upper(NOMAD_TASK_NAME)", "upper: argument 1 is a run-time value");
        bad("attr.x == \"a\"", "cannot compare a run-time value");
        bad("\"${attr.x + 1}\"", "expected a number, found run-time value");
}

Test(hcl_eval, for_expressions) {
        ok("[for v in var.l : v * 2]", "[2,4,6]");
        ok("[for i, v in var.l : i + v if v != 2]", "[1,5]");
        ok("{for k, v in { b = 2, a = 1 } : upper(k) => v}", "{\"A\":1,\"B\":2}");
        ok("{for v in [\"a\", \"b\", \"a\"] : v => v...}", "{\"a\":[\"a\",\"a\"],\"b\":[\"b\"]}");
        ok("[for k, v in { b = 2, a = 1 } : k]", "[\"a\",\"b\"]");
        ok("[for v in [[1, 2], [3]] : [for w in v : w + 1]]", "[[2,3],[4]]");
        bad("{for v in [\"a\", \"a\"] : v => 1}", "duplicate key \"a\"");
        bad("[for v in 3 : v]", "expected a list or a map to iterate over, found number");
        bad("[for v in [1] : v if 1]", "expected a bool, found number");
}

Test(hcl_eval, locals_and_cycles) {
        ok_l("a = \"web\"\nb = \"${local.a}-${var.n}\"", "local.b", "\"web-3\"");
        ok_l("b = local.a + 1\na = 2", "local.b", "3");
        bad_l("a = local.b\nb = local.a", "local.a", "refers to itself (a cycle among locals)");
        bad_l("a = local.a", "local.a", "cycle");
        bad("local.nope", "e.hcl:2:5: undefined local value \"nope\"");
        bad("var.nope", "e.hcl:2:5: undefined variable \"nope\"");
        bad("nope", "e.hcl:2:5: undefined variable \"nope\"");
        bad("local", "expected local.NAME");
}

Test(hcl_eval, string_functions) {
        ok("upper(\"abc\")", "\"ABC\"");
        ok("lower(\"AbC\")", "\"abc\"");
        ok("title(\"hello big world\")", "\"Hello Big World\"");
        ok("upper(\"straße café ÿ ąčž αβγς жёлтый 日本\")", "\"STRAßE CAFÉ Ÿ ĄČŽ ΑΒΓΣ ЖЁЛТЫЙ 日本\"");
        ok("lower(\"ÀÉÎ ĄČŽ ΑΒΓ ЖЁЛТЫЙ\")", "\"àéî ąčž αβγ жёлтый\"");
        ok("title(\"élan vital-ça\")", "\"Élan Vital-Ça\"");
        ok("trimspace(\"  a b \\n\")", "\"a b\"");
        ok("trim(\"?!hi!?\", \"!?\")", "\"hi\"");
        ok("trimprefix(\"helloworld\", \"hello\")", "\"world\"");
        ok("trimsuffix(\"helloworld\", \"world\")", "\"hello\"");
        ok("trimprefix(\"abc\", \"x\")", "\"abc\"");
        ok("format(\"%s-%d-%05.2f-%t-%q-%x-%5s|%-3s|%%\", \"a\", 42, 3.14159, true, \"q\", 255, \"r\", \"l\")",
           "\"a-42-03.14-true-\\\"q\\\"-ff-    r|l  |%\"");
        ok("format(\"%v %v\", [1, 2], 7)", "\"[1,2] 7\"");
        ok("formatlist(\"%s=%d\", [\"a\", \"b\"], [1, 2])", "[\"a=1\",\"b=2\"]");
        ok("formatlist(\"x-%s\", [\"a\", \"b\"])", "[\"x-a\",\"x-b\"]");
        ok("join(\", \", [\"a\", \"b\", 3])", "\"a, b, 3\"");
        ok("split(\",\", \"a,b,,c\")", "[\"a\",\"b\",\"\",\"c\"]");
        ok("replace(\"a-b-c\", \"-\", \"+\")", "\"a+b+c\"");
        ok("replace(\"v1.2.3\", \"/([0-9]+)\\\\.([0-9]+)/\", \"$2.$1\")", "\"v2.1.3\"");
        ok("substr(\"héllo\", 1, 3)", "\"éll\"");
        ok("substr(\"hello\", -3, -1)", "\"llo\"");
        ok("strrev(\"abé\")", "\"éba\"");
        ok("regex(\"[a-z]+\", \"123abc456\")", "\"abc\"");
        ok("regex(\"([0-9]+)-([0-9]+)\", \"x 10-20\")", "[\"10\",\"20\"]");
        ok("regexall(\"[0-9]+\", \"a1b22c333\")", "[\"1\",\"22\",\"333\"]");
        ok("chomp(\"line\\r\\n\\n\")", "\"line\"");
        ok("indent(2, \"a\\nb\")", "\"a\\n  b\"");
        ok("startswith(\"hello\", \"he\") && endswith(\"hello\", \"lo\") && strcontains(\"hello\", \"ll\")", "true");
        bad("regex(\"x\", \"abc\")", "does not match");
        bad("regex(\"(\", \"abc\")", "invalid regular expression");
        bad("format(\"%d\", \"x\")", "expected a number, found string \"x\"");
        bad("format(\"%s %s\", 1)", "not enough arguments");
        bad("format(\"%s\", 1, 2)", "too many arguments");
        bad("format(\"%99999s\", 1)", "width and precision of at most");
        bad("substr(\"abc\", 5, 1)", "offset out of range");
}

Test(hcl_eval, collection_functions) {
        ok("length(\"héllo\") + length([1, 2]) + length({a = 1})", "8");
        ok("concat([1], [2, 3], [])", "[1,2,3]");
        ok("contains([\"a\", \"b\"], \"b\")", "true");
        ok("keys({b = 1, a = 2})", "[\"a\",\"b\"]");
        ok("values({b = 1, a = 2})", "[2,1]");
        ok("lookup({a = 1}, \"a\", 0) + lookup({a = 1}, \"z\", 10)", "11");
        ok("merge({a = 1, b = 2}, {b = 3}, null)", "{\"a\":1,\"b\":3}");
        ok("element([\"a\", \"b\"], 3)", "\"b\"");
        ok("flatten([[1, [2]], 3, []])", "[1,2,3]");
        ok("distinct([1, 2, 1, \"1\"])", "[1,2,\"1\"]");
        ok("range(3)", "[0,1,2]");
        ok("range(1, 7, 2)", "[1,3,5]");
        ok("range(3, 0)", "[3,2,1]");
        ok("slice([1, 2, 3, 4], 1, 3)", "[2,3]");
        ok("sort([\"b\", \"a\", \"c\"])", "[\"a\",\"b\",\"c\"]");
        ok("reverse([1, 2, 3])", "[3,2,1]");
        ok("zipmap([\"a\", \"b\"], [1, 2])", "{\"a\":1,\"b\":2}");
        ok("coalesce(null, \"\", \"x\", \"y\")", "\"x\"");
        ok("compact([\"a\", \"\", null, \"b\"])", "[\"a\",\"b\"]");
        ok("index([\"a\", \"b\"], \"b\")", "1");
        ok("sum([1, 2, 3.5])", "6.5");
        ok("alltrue([true, true]) && anytrue([false, true])", "true");
        ok("chunklist([1, 2, 3, 4, 5], 2)", "[[1,2],[3,4],[5]]");
        ok("coalescelist([], [1], [2])", "[1]");
        ok("[one([]), one([7])]", "[null,7]");
        ok("setunion([1, 2], [2, 3])", "[1,2,3]");
        ok("setintersection([1, 2, 3], [3, 2, 9])", "[2,3]");
        ok("setsubtract([1, 2, 3], [2])", "[1,3]");
        bad("one([1, 2])", "one: expected a list of zero or one element");
        ok("max(var.l...) + min([4, 5]...)", "7");
        ok("try(var.nope, local.nope, \"fallback\")", "\"fallback\"");
        ok("try({a = 1}.a, 2)", "1");
        ok("[can(var.l[5]), can(var.l[0])]", "[false,true]");
        bad("try(var.nope)", "undefined variable \"nope\"");
        bad("can(1, 2)", "can: expected 1 argument");
        bad("try([for i in range(100000) : [for j in range(100) : j]], 1)", "evaluation steps");
        bad("lookup({a = 1}, \"z\")", "no key \"z\"");
        bad("element([], 0)", "empty list");
        bad("range(0, 1, 0)", "step must not be zero");
        bad("range(1000000)", "range: expected at most 100000 elements");
        bad("slice([1], 0, 5)", "slice: expected");
        bad("index([1], 2)", "not in the list");
        bad("coalesce(null, \"\")", "no non-null");
        bad("zipmap([\"a\"], [])", "same length");
        bad("[1, 2][2]", "index 2 out of range");
        bad("{a = 1}.b", "no attribute \"b\"");
        bad("{a = 1}[\"b\"]", "no element \"b\"");
        bad("\"s\".x", "expected an object with attribute \"x\", found string");
}

Test(hcl_eval, numeric_functions) {
        ok("abs(-2.5)", "2.5");
        ok("ceil(1.2) + floor(1.8)", "3");
        ok("min(3, 1, 2) + max(3, 1, 2)", "4");
        ok("pow(2, 10)", "1024");
        ok("parseint(\"ff\", 16) + parseint(\"-101\", 2)", "250");
        ok("signum(-4) + signum(0) + signum(9)", "0");
        ok("log(8, 2)", "3");
        bad("parseint(\"12\", 1)", "base from 2 to 62");
        bad("parseint(\"1z\", 10)", "cannot parse");
        bad("1 / 0", "e.hcl:2:7: division by zero");
        bad("1 % 0", "modulo by zero");
        bad("pow(10, 400)", "out of range");
}

Test(hcl_eval, encoding_and_conversion_functions) {
        ok("jsonencode({b = [1, true, null], a = \"x\"})", "\"{\\\"a\\\":\\\"x\\\",\\\"b\\\":[1,true,null]}\"");
        ok("jsondecode(\"{\\\"a\\\": [1, 2.5, 3.0]}\")", "{\"a\":[1,2.5,3]}");
        ok("base64encode(\"hello!?\")", "\"aGVsbG8hPw==\"");
        ok("base64decode(\"aGVsbG8hPw==\")", "\"hello!?\"");
        ok("urlencode(\"a b&c=é\")", "\"a+b%26c%3D%C3%A9\"");
        ok("csvdecode(\"a,b\\n1,\\\"x,y\\\"\\n\")", "[{\"a\":\"1\",\"b\":\"x,y\"}]");
        ok("tostring(12) == \"12\" && tonumber(\"1.5\") == 1.5 && tobool(\"true\")", "true");
        ok("tolist([1]) == [1] && tomap({a = 1}) == {a = 1}", "true");
        ok("toset([\"b\", \"a\", \"b\"])", "[\"a\",\"b\"]");
        ok("[basename(\"/a/b.txt\"), basename(\"a/b/\"), basename(\"/\"), basename(\"\"), basename(\"x\")]",
           "[\"b.txt\",\"b\",\"/\",\".\",\"x\"]");
        ok("[dirname(\"/a/b.txt\"), dirname(\"a/b/\"), dirname(\"/x\"), dirname(\"x\"), dirname(\"\")]",
           "[\"/a\",\"a\",\"/\",\".\",\".\"]");
        ok("yamlencode({b = [1, {c = \"x\"}], a = {}, d = null})",
           "\"\\\"a\\\": {}\\n\\\"b\\\":\\n  - 1\\n  -\\n    \\\"c\\\": \\\"x\\\"\\n\\\"d\\\": null\\n\"");
        bad("jsonencode([attr.x])", "jsonencode: argument 1 is a run-time value");
        bad("jsondecode(\"{\")", "jsondecode: invalid JSON");
        bad("base64decode(\"!!!!\")", "invalid base64 character");
        bad("tonumber(\"x\")", "expected a number");
        bad("tobool(1)", "expected a bool");
        bad("tolist(\"a\")", "tolist: expected a list");
}

Test(hcl_eval, datetime_functions) {
        ok("timeadd(\"2024-02-28T23:30:00Z\", \"1h\")", "\"2024-02-29T00:30:00Z\"");
        ok("timeadd(\"2024-01-01T00:00:00+02:00\", \"-90m\")", "\"2023-12-31T22:30:00+02:00\"");
        ok("timecmp(\"2024-01-01T00:00:00Z\", \"2024-01-01T01:00:00+02:00\")", "1");
        ok("timecmp(\"2024-01-01T00:00:00.5Z\", \"2024-01-01T00:00:00.5Z\")", "0");
        ok("formatdate(\"EEEE, DD MMM YYYY hh:mm:ss ZZZ\", \"2018-01-02T23:12:01Z\")",
           "\"Tuesday, 02 Jan 2018 23:12:01 UTC\"");
        ok("formatdate(\"H:mmaa 'on' MMMM D, YY ''ZZZZZ\", \"2018-01-02T23:12:01-08:00\")",
           "\"11:12pm on January 2, 18 '-08:00\"");
        bad("timeadd(\"2024-01-01\", \"1h\")", "expected an RFC 3339 timestamp");
        bad("timeadd(\"2024-01-01T00:00:00Z\", \"soon\")", "expected a duration");
        bad("formatdate(\"YYY\", \"2024-01-01T00:00:00Z\")", "invalid date format verb \"YYY\"");
        bad("formatdate(\"'x\", \"2024-01-01T00:00:00Z\")", "unterminated quoted literal");
}

Test(hcl_eval, call_errors) {
        bad("nosuch(1)", "e.hcl:2:5: unknown function \"nosuch\"");
        bad("upper()", "upper: expected 1 argument, found 0");
        bad("upper(\"a\", \"b\")", "upper: expected 1 argument, found 2");
        bad("lookup({})", "lookup: expected 2 to 3 arguments, found 1");
        bad("join(\",\")", "join: expected at least 2 arguments");
        bad("upper([1])", "expected a string, found list");
        bad("length(1)", "length: expected a string, list or map");
        bad("file(\"x\")", "file: not available for a job that was not read from a file");
        bad("\"a${null}\"", "found null");
        ok("\"${null}\"", "null");
        bad("1 +", "expected an expression");
        bad("\"%{ if true }x\"", "expected %{ endif }");
        bad("[for x in [1] x]", "expected ':'");
}

Test(hcl_eval, bounds) {
        /* nesting */
        char deep[400];
        size_t n = 0;
        for (int k = 0; k < 120; k++)
                deep[n++] = '(';
        deep[n++] = '1';
        for (int k = 0; k < 120; k++)
                deep[n++] = ')';
        deep[n] = '\0';
        bad(deep, "levels of nesting");
        /* string size */
        bad("join(\"\", [for i in range(20000) : format(\"%0100d\", i)])", "at most 1048576 bytes");
        /* total work */
        bad("length([for i in range(100000) : [for j in range(100) : j]])", "evaluation steps");
        bad("indent(5000, \"a\\nb\")", "indent: expected 0 to 4096 spaces");
        /* shared values written out many times */
        bad_l("big = [for i in range(50000) : i]", "jsonencode([for i in range(100) : local.big])",
              "expected a value of at most 1048576 bytes");
        bad_l("big = [for i in range(50000) : i]", "format(\"%v\", [local.big, local.big])",
              "expected a value of at most 1048576 bytes");
}

/* ---- variables, locals and dynamic blocks through the job file parser -------------------- */

static json_t *job_opts(const char *src, const struct jobspec_opts *o, struct error *err) {
        json_t *j = NULL;
        if (jobspec_parse_opts(src, strlen(src), "job.hcl", o, &j, err) < 0)
                return NULL;
        return j;
}

/* Walk "A.0.B" (numbers index arrays); NULL when absent. */
static json_t *jx_path(json_t *root, const char *path) {
        char buf[256];
        snprintf(buf, sizeof(buf), "%s", path);
        json_t *cur = root;
        for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok && cur; tok = strtok_r(NULL, ".", &save))
                cur = json_is_array(cur) ? json_array_get(cur, strtoul(tok, NULL, 10)) : json_object_get(cur, tok);
        return cur;
}

static const char *jstr(json_t *root, const char *path) {
        json_t *v = jx_path(root, path);
        return json_is_string(v) ? json_string_value(v) : NULL;
}

Test(hcl_eval_job, locals_functions_end_to_end) {
        const char *src = "variable \"image\" {\n"
                          "  type    = string\n"
                          "  default = \"redis:7\"\n"
                          "}\n"
                          "variable \"ports\" {\n"
                          "  type    = list(number)\n"
                          "  default = [6379, \"6380\"]\n"
                          "}\n"
                          "locals {\n"
                          "  name = \"web\"\n"
                          "  full = \"${local.name}-${split(\":\", var.image)[1]}\"\n"
                          "}\n"
                          "job \"j\" {\n"
                          "  meta = { owner = upper(local.name) }\n"
                          "  group \"g\" {\n"
                          "    count = length(var.ports)\n"
                          "    task \"t\" {\n"
                          "      driver = \"exec\"\n"
                          "      config { image = var.image\n"
                          "        args = [for p in var.ports : \"--port=${p}\"] }\n"
                          "      env {\n"
                          "        X    = \"${local.name}\"\n"
                          "        FULL = local.full\n"
                          "        DIR  = \"${NOMAD_ALLOC_DIR}/${local.name}\"\n"
                          "        BIG  = var.ports[0] > 1000 ? \"yes\" : \"no\"\n"
                          "      }\n"
                          "    }\n"
                          "  }\n"
                          "}\n";
        struct error err = {0};
        _cleanup_json_ json_t *j = job_opts(src, NULL, &err);
        cr_assert_not_null(j, "%s", err.msg);
        cr_assert_str_eq(jstr(j, "Meta.owner"), "WEB");
        cr_assert_eq(json_integer_value(jx_path(j, "TaskGroups.0.Count")), 2);
        cr_assert_str_eq(jstr(j, "TaskGroups.0.Tasks.0.Config.image"), "redis:7");
        cr_assert_str_eq(jstr(j, "TaskGroups.0.Tasks.0.Config.args.1"), "--port=6380");
        cr_assert_str_eq(jstr(j, "TaskGroups.0.Tasks.0.Env.X"), "web");
        cr_assert_str_eq(jstr(j, "TaskGroups.0.Tasks.0.Env.FULL"), "web-7");
        cr_assert_str_eq(jstr(j, "TaskGroups.0.Tasks.0.Env.DIR"), "${NOMAD_ALLOC_DIR}/web");
        cr_assert_str_eq(jstr(j, "TaskGroups.0.Tasks.0.Env.BIG"), "yes");

        /* -var beats NOMAD_VAR_ beats the default; list types parse their text as HCL */
        setenv("NOMAD_VAR_image", "nginx:1", 1);
        const char *vars[] = {"ports=[1, 2, 3]"};
        struct jobspec_opts o = {.vars = vars, .n_vars = 1, .env = true};
        _cleanup_json_ json_t *j2 = job_opts(src, &o, &err);
        cr_assert_not_null(j2, "%s", err.msg);
        cr_assert_str_eq(jstr(j2, "TaskGroups.0.Tasks.0.Config.image"), "nginx:1");
        cr_assert_eq(json_integer_value(jx_path(j2, "TaskGroups.0.Count")), 3);
        const char *vars2[] = {"image=alpine:3"};
        struct jobspec_opts o2 = {.vars = vars2, .n_vars = 1, .env = true};
        _cleanup_json_ json_t *j3 = job_opts(src, &o2, &err);
        cr_assert_not_null(j3, "%s", err.msg);
        cr_assert_str_eq(jstr(j3, "TaskGroups.0.Tasks.0.Env.FULL"), "web-3");
        unsetenv("NOMAD_VAR_image");
}

Test(hcl_eval_job, var_file_and_file_function) {
        char dir[] = "/tmp/drover-hcl-XXXXXX";
        cr_assert_not_null(mkdtemp(dir));
        char vf[256], job[256], data[256];
        snprintf(vf, sizeof(vf), "%s/vars.hcl", dir);
        snprintf(job, sizeof(job), "%s/job.hcl", dir);
        snprintf(data, sizeof(data), "%s/motd.txt", dir);
        FILE *f = fopen(vf, "w");
        fputs("count = 4\nname = \"from-file\"\n", f);
        fclose(f);
        f = fopen(data, "w");
        fputs("hello from a file\n", f);
        fclose(f);
        f = fopen(job, "w");
        fputs("variable \"count\" { type = number }\n"
              "variable \"name\" { default = \"d\" }\n"
              "job \"j\" {\n"
              "  group \"g\" {\n"
              "    count = var.count\n"
              "    task \"t\" {\n"
              "      driver = \"exec\"\n"
              "      env { MOTD = trimspace(file(\"motd.txt\"))\n"
              "            HAS = fileexists(\"motd.txt\") && !fileexists(\"none.txt\") ? \"yes\" : \"no\"\n"
              "            NAME = var.name }\n"
              "    }\n"
              "  }\n"
              "}\n",
              f);
        fclose(f);
        const char *files[] = {vf};
        struct jobspec_opts o = {.var_files = files, .n_var_files = 1};
        struct error err = {0};
        json_t *j = NULL;
        cr_assert_eq(jobspec_parse_file_opts(job, &o, &j, &err), 0, "%s", err.msg);
        cr_assert_eq(json_integer_value(jx_path(j, "TaskGroups.0.Count")), 4);
        cr_assert_str_eq(jstr(j, "TaskGroups.0.Tasks.0.Env.MOTD"), "hello from a file");
        cr_assert_str_eq(jstr(j, "TaskGroups.0.Tasks.0.Env.NAME"), "from-file");
        cr_assert_str_eq(jstr(j, "TaskGroups.0.Tasks.0.Env.HAS"), "yes", "fileexists: relative to the job file");
        json_decref(j);
        /* without the var file, "count" has no value */
        j = NULL;
        cr_assert_lt(jobspec_parse_file(job, &j, &err), 0);
        cr_assert(strstr(err.msg, "job.hcl:1:1: variable \"count\": no value given"), "%s", err.msg);
        /* a var file naming an undeclared variable */
        f = fopen(vf, "w");
        fputs("count = 1\nother = 2\n", f);
        fclose(f);
        cr_assert_lt(jobspec_parse_file_opts(job, &o, &j, &err), 0);
        cr_assert(strstr(err.msg, "vars.hcl:2:1: undefined variable \"other\""), "%s", err.msg);
        unlink(vf);
        unlink(job);
        unlink(data);
        rmdir(dir);
}

static void job_err(const char *src, const struct jobspec_opts *o, const char *want) {
        struct error err = {0};
        json_t *j = job_opts(src, o, &err);
        cr_assert_null(j, "unexpectedly parsed:\n%s", src);
        cr_assert(strstr(err.msg, want), "error \"%s\" does not contain \"%s\"", err.msg, want);
}

Test(hcl_eval_job, variable_errors) {
        job_err("variable \"n\" {\n  type = number\n  default = \"abc\"\n}\njob \"j\" {}\n", NULL,
                "job.hcl:3:13: variable \"n\": expected a value of type number, found string");
        job_err("variable \"n\" {\n  type = list(string)\n  default = \"abc\"\n}\njob \"j\" {}\n", NULL,
                "expected a value of type list(string), found string");
        job_err("variable \"n\" {\n  type = strin\n  default = 1\n}\njob \"j\" {}\n", NULL, "unknown type strin");
        job_err("variable \"n\" {\n  default = 1\n  validation {\n    condition = var.n > 5\n"
                "    error_message = \"n must be above 5\"\n  }\n}\njob \"j\" {}\n",
                NULL, "job.hcl:4:17: variable \"n\": invalid value: n must be above 5");
        job_err("variable \"n\" { default = 1 }\nvariable \"n\" { default = 2 }\njob \"j\" {}\n", NULL,
                "duplicate variable \"n\"");
        job_err("variable \"n\" { defaul = 1 }\njob \"j\" {}\n", NULL, "unsupported argument \"defaul\"");
        const char *vars[] = {"m=1"};
        struct jobspec_opts o = {.vars = vars, .n_vars = 1};
        job_err("variable \"n\" { default = 1 }\njob \"j\" {}\n", &o, "-var \"m\": undefined variable");
        const char *vars2[] = {"n"};
        struct jobspec_opts o2 = {.vars = vars2, .n_vars = 1};
        job_err("variable \"n\" { default = 1 }\njob \"j\" {}\n", &o2, "expected NAME=VALUE");
        const char *vars3[] = {"n=abc"};
        struct jobspec_opts o3 = {.vars = vars3, .n_vars = 1};
        job_err("variable \"n\" {\n type = number\n}\njob \"j\" {}\n", &o3,
                "variable \"n\" from -var: expected a value of type number, found string");
        job_err("locals {\n  a = local.b\n  b = local.a\n}\njob \"j\" {}\n", NULL, "cycle among locals");
        job_err("locals {\n  a = 1\n}\nlocals {\n  a = 2\n}\njob \"j\" {}\n", NULL,
                "job.hcl:5:3: duplicate local value \"a\"");
        job_err("job \"j\" {\n  meta = { a = upper(local.x) }\n}\n", NULL, "job.hcl:2:22: undefined local value \"x\"");
        job_err("job \"j\" {\n  meta = { a = \"${foo.bar}\" }\n}\n", NULL, "job.hcl:2:19: undefined variable \"foo\"");
        job_err("job \"j\" {\n  region = nofunc(1)\n}\n", NULL, "job.hcl:2:12: unknown function \"nofunc\"");
        /* a value that shares one big list 200 times would be copied 200 times: a bound stops it */
        job_err("locals {\n  big = [for i in range(20000) : \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx${i}\"]\n}\n"
                "job \"j\" {\n  meta = { a = \"b\" }\n  group \"g\" {\n    task \"t\" {\n      driver = \"exec\"\n"
                "      config { x = [for i in range(200) : local.big] }\n    }\n  }\n}\n",
                NULL, "job.hcl:9:20: expected at most");
}

Test(hcl_eval_job, dynamic_blocks) {
        const char *src = "locals {\n"
                          "  ports = { http = 8080, admin = 9090 }\n"
                          "  tasks = [\"a\", \"b\"]\n"
                          "}\n"
                          "job \"j\" {\n"
                          "  group \"g\" {\n"
                          "    network {\n"
                          "      dynamic \"port\" {\n"
                          "        for_each = local.ports\n"
                          "        labels   = [port.key]\n"
                          "        content { static = port.value }\n"
                          "      }\n"
                          "    }\n"
                          "    dynamic \"task\" {\n"
                          "      for_each = local.tasks\n"
                          "      iterator = t\n"
                          "      labels   = [\"task-${t.value}\"]\n"
                          "      content {\n"
                          "        driver = \"exec\"\n"
                          "        env { INDEX = t.key }\n"
                          "      }\n"
                          "    }\n"
                          "  }\n"
                          "}\n";
        struct error err = {0};
        _cleanup_json_ json_t *j = job_opts(src, NULL, &err);
        cr_assert_not_null(j, "%s", err.msg);
        cr_assert_str_eq(jstr(j, "TaskGroups.0.Networks.0.ReservedPorts.0.Label"), "admin");
        cr_assert_eq(json_integer_value(jx_path(j, "TaskGroups.0.Networks.0.ReservedPorts.0.Value")), 9090);
        cr_assert_str_eq(jstr(j, "TaskGroups.0.Networks.0.ReservedPorts.1.Label"), "http");
        cr_assert_str_eq(jstr(j, "TaskGroups.0.Tasks.0.Name"), "task-a");
        cr_assert_str_eq(jstr(j, "TaskGroups.0.Tasks.1.Name"), "task-b");
        cr_assert_str_eq(jstr(j, "TaskGroups.0.Tasks.1.Env.INDEX"), "1");

        job_err("job \"j\" {\n  dynamic \"group\" {\n    content {}\n  }\n}\n", NULL,
                "job.hcl:2:3: dynamic \"group\": expected a for_each argument");
        job_err("job \"j\" {\n  dynamic \"group\" {\n    for_each = 1\n    content {}\n  }\n}\n", NULL,
                "job.hcl:3:16: dynamic \"group\": for_each: expected a list or a map, found number");
        job_err("job \"j\" {\n  dynamic \"group\" {\n    for_each = [1]\n    foo = 1\n    content {}\n  }\n}\n", NULL,
                "unsupported argument \"foo\"");
}
