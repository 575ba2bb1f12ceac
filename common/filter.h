/* filter.h - Nomad's list filter expressions (go-bexpr's grammar, the subset
 * Nomad's documentation uses) over the JSON objects a list answers.
 *
 *   expr     := or
 *   or       := and ("or" and)*
 *   and      := unary ("and" unary)*
 *   unary    := "not" unary | "(" expr ")" | match
 *   match    := selector ("==" | "!=") value
 *             | selector ("contains" | "not contains") value
 *             | selector ("matches" | "not matches") value
 *             | value ("in" | "not in") selector
 *             | selector "is" ["not"] "empty"
 *   selector := name ("." name | "[" quoted "]")*       Meta.team, Meta["a.b"]
 *   value    := "quoted" | `raw` | number | true | false | a bare word
 *
 * `==` compares with the field's JSON type (a number field with the value as a
 * number, a bool with true/false); `in`/`contains` test an element of a list, a
 * key of an object or a substring of a string; `matches` is a POSIX extended
 * regexp of bounded cost (limits_check_regexp), compiled once; `is empty` is
 * true for a missing field, null, "", [] and {}. A selector that names nothing
 * makes `==`, `contains`, `in` and `matches` false and their negations true.
 *
 * Bounds: FILTER_MAX_LEN bytes of expression, FILTER_MAX_DEPTH levels of
 * parentheses and `not`, FILTER_MAX_TERMS matches, selectors of at most
 * FILTER_MAX_SELECTOR_PARTS parts. Compile once per request; matching costs
 * O(terms x selector depth) per object, plus the regexps (linear). Not thread
 * safe per filter; no global state. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#define FILTER_MAX_LEN 4096
#define FILTER_MAX_DEPTH 32
#define FILTER_MAX_TERMS 64
#define FILTER_MAX_SELECTOR_PARTS 16

struct error;
struct filter;

/* Compile expr. -EINVAL with "filter: ... at column N" in err for a syntax error
 * or a bound exceeded; -ENOMEM. */
int filter_compile(const char *expr, struct filter **ret, struct error *err);
/* Whether obj matches. */
bool filter_match(const struct filter *f, const json_t *obj);
/* Accepts NULL; returns NULL. */
struct filter *filter_free(struct filter *f);
