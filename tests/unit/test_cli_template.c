/* test_cli_template.c - the Go-template subset of `drover ... -t` (cli/output.c):
 * fields, range over lists and objects, if/else, trim markers, and every error. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/error.h"

static const char *DATA = "[{\"ID\":\"a\",\"Count\":2,\"Stop\":false,\"Meta\":{\"k\":\"v\"},\"Tags\":[\"x\",\"y\"]},"
                          "{\"ID\":\"b\",\"Count\":0,\"Stop\":true,\"Meta\":{},\"Tags\":[]}]";

static char *render(const char *tmpl, const char *data, int *ret_r, char *errbuf) {
        json_t *d = json_loads(data, JSON_DECODE_ANY, NULL);
        cr_assert_not_null(d);
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        struct error err = {0};
        *ret_r = cli_template_render(tmpl, d, f, &err);
        fclose(f);
        json_decref(d);
        if (errbuf)
                strcpy(errbuf, err.msg);
        return buf;
}

static void expect(const char *tmpl, const char *data, const char *want) {
        int r;
        char errbuf[256];
        char *got = render(tmpl, data, &r, errbuf);
        cr_expect_eq(r, 0, "%s: %s", tmpl, errbuf);
        cr_expect_str_eq(got, want, "template %s", tmpl);
        free(got);
}

static void expect_error(const char *tmpl, const char *what) {
        int r;
        char errbuf[256];
        char *got = render(tmpl, DATA, &r, errbuf);
        cr_expect_lt(r, 0, "%s should fail", tmpl);
        cr_expect_str_eq(got, "", "nothing printed for a bad template (%s)", tmpl);
        cr_expect(strstr(errbuf, what) != NULL, "%s: %s lacks %s", tmpl, errbuf, what);
        free(got);
}

Test(cli_template, fields_and_values) {
        expect("{{.ID}} {{.Count}} {{.Stop}}", "{\"ID\":\"a\",\"Count\":2,\"Stop\":false}", "a 2 false");
        expect("{{.Meta.k}}", "{\"Meta\":{\"k\":\"v\"}}", "v");
        expect("[{{.Missing}}]", "{}", "[<no value>]");
        expect("{{.Tags}}", "{\"Tags\":[\"x\"]}", "[\"x\"]");
        expect("{{.}}", "\"plain\"", "plain");
        expect("no actions", "{}", "no actions");
}

Test(cli_template, range_over_lists_and_objects) {
        expect("{{range .}}{{.ID}};{{end}}", DATA, "a;b;");
        expect("{{range .}}{{range .Tags}}{{.}}{{end}}|{{end}}", DATA, "xy||");
        expect("{{range .Meta}}{{.}}{{end}}", "{\"Meta\":{\"k\":\"v\"}}", "v");
        expect("{{range .}}x{{end}}", "[]", "");
}

Test(cli_template, if_else_and_trim) {
        expect("{{range .}}{{if .Stop}}stopped{{else}}{{.ID}}{{end}} {{end}}", DATA, "a stopped ");
        expect("{{if .Count}}yes{{end}}", "{\"Count\":0}", "");
        expect("{{range .}}\n  {{- .ID -}}\n{{end}}", DATA, "ab");
}

Test(cli_template, errors) {
        expect_error("{{.ID", "unclosed");
        expect_error("{{printf \"%s\" .ID}}", "unsupported");
        expect_error("{{range .}}{{.ID}}", "without {{end}}");
        expect_error("{{end}}", "without a block");
        expect_error("{{.a..b}}", "bad field");
        expect_error("{{if .ID}}x", "without {{end}}");
        char deep[1024] = "";
        for (int i = 0; i < 17; i++)
                strcat(deep, "{{range .}}");
        for (int i = 0; i < 17; i++)
                strcat(deep, "{{end}}");
        expect_error(deep, "nested");
}
