/* test_filter.c - filter expressions (common/filter.c): every operator, the
 * boolean structure, selectors, and each error path and bound. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/filter.h"

static const char *OBJ = "{\"ID\":\"web-1\",\"Status\":\"running\",\"Priority\":50,\"Stop\":false,"
                         "\"Datacenters\":[\"dc1\",\"dc2\"],\"Meta\":{\"team\":\"api\",\"a.b\":\"dotted\"},"
                         "\"Empty\":\"\",\"None\":null,\"List\":[],\"Obj\":{},"
                         "\"JobSummary\":{\"Summary\":{\"web\":{\"Running\":2}}}}";

static bool m(const char *expr) {
        json_t *o = json_loads(OBJ, 0, NULL);
        cr_assert_not_null(o);
        struct filter *f = NULL;
        struct error err = {0};
        int r = filter_compile(expr, &f, &err);
        cr_assert_eq(r, 0, "%s: %s", expr, err.msg);
        bool out = filter_match(f, o);
        filter_free(f);
        json_decref(o);
        return out;
}

static const char *compile_error(const char *expr) {
        static struct error err;
        memset(&err, 0, sizeof(err));
        struct filter *f = NULL;
        int r = filter_compile(expr, &f, &err);
        filter_free(f);
        return r < 0 ? err.msg : NULL;
}

Test(filter, equality_by_the_fields_type) {
        cr_expect(m("Status == \"running\""));
        cr_expect(m("Status == running"), "a bare word is a value");
        cr_expect_not(m("Status == \"dead\""));
        cr_expect(m("Status != \"dead\""));
        cr_expect(m("Priority == 50"));
        cr_expect_not(m("Priority == 51"));
        cr_expect_not(m("Priority == \"50\""), "a quoted value is a string, not a number");
        cr_expect(m("Stop == false"));
        cr_expect_not(m("Stop == true"));
        cr_expect(m("None == null"));
}

Test(filter, in_and_contains) {
        cr_expect(m("\"dc1\" in Datacenters"));
        cr_expect(m("dc2 in Datacenters"));
        cr_expect_not(m("\"dc3\" in Datacenters"));
        cr_expect(m("\"dc3\" not in Datacenters"));
        cr_expect(m("Datacenters contains \"dc1\""));
        cr_expect(m("Datacenters not contains \"dc9\""));
        cr_expect(m("\"team\" in Meta"), "a key of an object");
        cr_expect(m("ID contains \"eb-\""), "a substring");
        cr_expect_not(m("\"x\" in Missing"));
        cr_expect(m("\"x\" not in Missing"));
}

Test(filter, matches) {
        cr_expect(m("ID matches \"^web-[0-9]+$\""));
        cr_expect_not(m("ID matches \"^db\""));
        cr_expect(m("ID not matches \"^db\""));
        cr_expect(m("ID matches `^w.b`"), "raw strings");
        cr_expect_not(m("Priority matches \"5\""), "only strings match");
}

Test(filter, is_empty) {
        cr_expect(m("Empty is empty"));
        cr_expect(m("None is empty"));
        cr_expect(m("List is empty"));
        cr_expect(m("Obj is empty"));
        cr_expect(m("Missing is empty"));
        cr_expect(m("Datacenters is not empty"));
        cr_expect_not(m("Status is empty"));
}

Test(filter, selectors) {
        cr_expect(m("Meta.team == \"api\""));
        cr_expect(m("Meta[\"a.b\"] == \"dotted\""));
        cr_expect(m("JobSummary.Summary.web.Running == 2"));
        cr_expect_not(m("Meta.nope == \"api\""));
        cr_expect(m("Meta.nope != \"api\""));
        cr_expect_not(m("Status.deeper == \"x\""), "through a scalar: nothing");
}

Test(filter, boolean_structure_and_precedence) {
        cr_expect(m("Status == running and Priority == 50"));
        cr_expect_not(m("Status == running and Priority == 1"));
        cr_expect(m("Status == dead or Priority == 50"));
        cr_expect(m("not Status == dead"));
        cr_expect(m("not (Status == dead or Priority == 1)"));
        /* and binds tighter than or: true or (false and false) */
        cr_expect(m("Status == running or Status == dead and Priority == 1"));
        cr_expect_not(m("(Status == running or Status == dead) and Priority == 1"));
        cr_expect(m("not not Status == running"));
}

Test(filter, syntax_errors_say_where) {
        const char *e = compile_error("Status === \"x\"");
        cr_assert_not_null(e);
        cr_expect(strstr(e, "column") != NULL, "%s", e);
        cr_expect_not_null(compile_error(""));
        cr_expect_not_null(compile_error("   "));
        cr_expect_not_null(compile_error("Status =="));
        cr_expect_not_null(compile_error("Status == \"unterminated"));
        cr_expect_not_null(compile_error("(Status == x"));
        cr_expect_not_null(compile_error("Status == x)"));
        cr_expect_not_null(compile_error("Status == x and"));
        cr_expect_not_null(compile_error("Status is full"));
        cr_expect_not_null(compile_error("Status not equals x"));
        cr_expect_not_null(compile_error("\"x\" on Meta"));
        cr_expect_not_null(compile_error("Meta[team] == x"), "keys in [ ] are quoted");
        cr_expect_not_null(compile_error("ID matches \"(\""), "invalid regexp");
        cr_expect_not_null(compile_error("ID matches \"(a+)+$\""), "regexp of unbounded cost");
        cr_expect_not_null(compile_error("== x"));
}

Test(filter, bounds) {
        char *big = malloc(FILTER_MAX_LEN + 16);
        memset(big, ' ', FILTER_MAX_LEN + 8);
        memcpy(big, "ID == x", 7);
        big[FILTER_MAX_LEN + 8] = '\0';
        cr_expect_not_null(compile_error(big), "too long");
        free(big);
        char deep[512] = "";
        for (int i = 0; i < FILTER_MAX_DEPTH + 1; i++)
                strcat(deep, "(");
        strcat(deep, "ID == x");
        for (int i = 0; i < FILTER_MAX_DEPTH + 1; i++)
                strcat(deep, ")");
        const char *e = compile_error(deep);
        cr_assert_not_null(e);
        cr_expect(strstr(e, "deep") != NULL, "%s", e);
        char many[4096] = "ID == x";
        for (int i = 0; i < FILTER_MAX_TERMS; i++)
                strcat(many, " or ID == x");
        e = compile_error(many);
        cr_assert_not_null(e);
        cr_expect(strstr(e, "terms") != NULL, "%s", e);
        char sel[512] = "A";
        for (int i = 0; i < FILTER_MAX_SELECTOR_PARTS; i++)
                strcat(sel, ".b");
        strcat(sel, " == x");
        cr_expect_not_null(compile_error(sel));
        char nots[512] = "";
        for (int i = 0; i < FILTER_MAX_DEPTH + 1; i++)
                strcat(nots, "not ");
        strcat(nots, "ID == x");
        cr_expect_not_null(compile_error(nots));
}
