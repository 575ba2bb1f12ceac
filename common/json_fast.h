/* json_fast.h - json_loadb's result, faster, for the JSON drover writes itself.
 *
 * jansson's parser reads its input one character at a time through a stream
 * object; on a follower of bench/raft, parsing the registrations' commands
 * (~1.8 KB jobs) was a third of its event loop's work. json_fast_loadb scans the
 * buffer directly and builds the same jansson tree, for the subset of JSON that
 * json_dumps writes for drover's commands: objects and arrays (at most
 * JSON_FAST_MAX_DEPTH deep), ASCII strings with the short escapes (\" \\ \/ \b
 * \f \n \r \t), integers within int64_t, true, false and null. On anything
 * else (a \u escape, a byte >= 0x80, a real number, a larger integer, deeper
 * nesting) and on every error, it hands the whole input to json_loadb, whose
 * answer (the tree, or its error) it returns.
 *
 * So its result is json_loadb(buf, len, 0, err)'s for any input: a tree equal to
 * jansson's (json_equal, with its keys in the same order), or NULL with
 * jansson's error. tests/fuzz/fuzz_model_json.c checks this on arbitrary input. */
#pragma once

#include <jansson.h>
#include <stddef.h>

#define JSON_FAST_MAX_DEPTH 64

/* As json_loadb(buf, len, 0, err) (err may be NULL). */
json_t *json_fast_loadb(const char *buf, size_t len, json_error_t *err);
/* As json_dumps(j, flags) for flags JSON_COMPACT, with or without JSON_ENCODE_ANY
 * (other flags: json_dumps itself). Its own writing covers objects, arrays,
 * strings of ASCII without control characters other than \b \f \n \r \t,
 * integers, true, false and null, at most JSON_FAST_MAX_DEPTH deep; for anything
 * else (a real, a byte >= 0x80, deeper nesting) json_dumps writes the whole. jansson
 * formats each integer with snprintf: ~5x slower on a 1.8 KB job. */
char *json_fast_dumps(const json_t *j, size_t flags);
/* The scan alone: the tree, or NULL for input outside the subset or not JSON (the
 * tests compare it with jansson's). */
json_t *json_fast_scan(const char *buf, size_t len);
