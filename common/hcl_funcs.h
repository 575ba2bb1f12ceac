/* hcl_funcs.h - what hcl_funcs.c (collections, numbers, encodings, conversions, files and
 * the table) and hcl_funcs_str.c (strings and regular expressions) share. Internal. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct hcl_eval;
struct hn;

/* A bounded string builder (HCL_EVAL_MAX_STRING). */
struct hf_sb {
        char *s;
        size_t n, cap;
};

#define HF_MAX_WIDTH 4096

/* Arguments: conversions that fill the context's error with the call's position. */
int hf_arg_str(struct hcl_eval *ev, const struct hn *at, json_t *v, char **ret, size_t *len);
int hf_arg_num(struct hcl_eval *ev, const struct hn *at, json_t *v, double *ret);
int hf_arg_int(struct hcl_eval *ev, const struct hn *at, json_t *v, long long *ret);
int hf_arg_list(struct hcl_eval *ev, const struct hn *at, json_t *v, const char *fname);
int hf_arg_map(struct hcl_eval *ev, const struct hn *at, json_t *v, const char *fname);
int hf_new_list(struct hcl_eval *ev, json_t **ret);
int hf_list_add(struct hcl_eval *ev, const struct hn *at, json_t *list, json_t *v /* stolen */);
int hf_ret_str(struct hcl_eval *ev, const struct hn *at, const char *s, size_t n, json_t **ret);
bool hf_is_cont(unsigned char c);
size_t hf_utf8_count(const char *s, size_t n);
size_t hf_utf8_offset(const char *s, size_t n, size_t cp);
size_t hf_cp_len_at(const char *s, size_t n, size_t k);
size_t hf_cp_len_before(const char *s, size_t k);
int hf_sb_put(struct hcl_eval *ev, const struct hn *at, struct hf_sb *b, const char *s, size_t n);
void hf_sb_freep(struct hf_sb *b);
int hf_sb_done(struct hcl_eval *ev, const struct hn *at, struct hf_sb *b, json_t **ret);

/* The string family (hcl_funcs_str.c). */
int hf_upper(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret);
int hf_lower(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret);
int hf_title(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret);
int hf_trimspace(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret);
int hf_trim(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret);
int hf_trimprefix(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret);
int hf_trimsuffix(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret);
int hf_startswith(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret);
int hf_endswith(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret);
int hf_strcontains(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret);
int hf_format(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret);
int hf_formatlist(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret);
int hf_join(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret);
int hf_split(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret);
int hf_regex(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret);
int hf_regexall(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret);
int hf_replace(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret);
int hf_substr(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret);
int hf_strrev(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret);
int hf_chomp(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret);
int hf_indent(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret);

/* Datetime without the clock (hcl_funcs_time.c). */
int hf_timeadd(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret);
int hf_timecmp(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret);
int hf_formatdate(struct hcl_eval *ev, const struct hn *at, json_t **a, size_t n, json_t **ret);
