/* json_fast: json_loadb's answer for every input, from its own scan for the subset
 * drover writes (json_fast.h) and from jansson for the rest. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/json_fast.h"
#include "common/model.h"

/* Both parsers on text: the same tree with its keys in the same order (the compact
 * dumps are equal), or both refuse it with the same message. */
static void same_as_jansson(const char *text) {
        json_error_t je, fe;
        json_t *j = json_loadb(text, strlen(text), 0, &je);
        json_t *f = json_fast_loadb(text, strlen(text), &fe);
        if (!j) {
                cr_assert_null(f, "json_fast_loadb took what jansson refuses: %s", text);
                cr_assert_str_eq(fe.text, je.text);
                cr_assert_eq(fe.position, je.position);
                return;
        }
        cr_assert_not_null(f, "json_fast_loadb refused %s: %s", text, fe.text);
        char *jd = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY), *fd = json_dumps(f, JSON_COMPACT | JSON_ENCODE_ANY);
        cr_assert_str_eq(fd, jd);
        cr_assert_str_eq(fe.text, "");
        free(jd);
        free(fd);
        json_decref(j);
        json_decref(f);
}

Test(json_fast, the_subset_is_scanned_to_jansson_s_tree) {
        const char *docs[] = {
            "{}",
            "[]",
            " \t\r\n{ \"a\" : 1 , \"b\":[ true,false , null,-0,0,-12,123456789012345678 ],\"c\":{\"d\":\"\"}}\n",
            "{\"esc\":\"q\\\" b\\\\ s\\/ \\b\\f\\n\\r\\t end\",\"k\\n\":\"\\\"\"}",
            "{\"dup\":1,\"x\":2,\"dup\":3}", /* replaced in place, as jansson does */
            "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
            "[1796353423195985855,9223372036854775807,-9223372036854775808,-1000000000000000000]",
            "{\"\":{\"\":[]}}",
        };
        for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
                json_t *f = json_fast_scan(docs[i], strlen(docs[i]));
                cr_assert_not_null(f, "outside the subset: %s", docs[i]);
                json_decref(f);
                same_as_jansson(docs[i]);
        }
}

Test(json_fast, what_it_does_not_scan_jansson_parses) {
        const char *docs[] = {
            "{\"u\":\"\\u00e9\\ud83d\\ude00\"}", /* \u escapes */
            "{\"utf8\":\"caf\xc3\xa9\"}",        /* raw UTF-8 */
            "[1.5,2e3,-0.0,1E-2]",               /* reals */
            "[9223372036854775808]",             /* past int64_t */
            "[-9223372036854775809]",
            "[12345678901234567890]",            /* 20 digits */
        };
        for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
                cr_assert_null(json_fast_scan(docs[i], strlen(docs[i])), "scanned: %s", docs[i]);
                same_as_jansson(docs[i]);
        }
        /* deeper than JSON_FAST_MAX_DEPTH: jansson's, which goes to 2048 */
        char deep[2 * (JSON_FAST_MAX_DEPTH + 1) + 1];
        for (int i = 0; i <= JSON_FAST_MAX_DEPTH; i++) {
                deep[i] = '[';
                deep[JSON_FAST_MAX_DEPTH + 1 + i] = ']';
        }
        deep[sizeof(deep) - 1] = '\0';
        cr_assert_null(json_fast_scan(deep, strlen(deep)));
        same_as_jansson(deep);
}

Test(json_fast, what_jansson_refuses_is_refused_with_its_message) {
        const char *docs[] = {
            "",           "   ",          "1",          "\"s\"",        "true",      "{",
            "[1,]",       "{\"a\":1,}",   "{\"a\" 1}",  "{a:1}",        "[01]",      "[-]",
            "[+1]",       "[1 2]",        "[tru]",      "[truex]",      "[nul]",     "{} x",
            "[] []",      "[\"a\nb\"]",   "[\"open]",   "[\"\\x\"]",    "[\"\\",     "{\"a\":}",
            "[1.]",       "[1e]",         "[99999999999999999999]",  "[9999999999999999999]",     "[\"\xff\"]", "{\"a\":[}",
        };
        for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
                cr_assert_null(json_fast_scan(docs[i], strlen(docs[i])), "scanned: %s", docs[i]);
                same_as_jansson(docs[i]);
        }
        /* a NUL byte inside the buffer */
        static const char nul[] = "{\"a\":\"x\0y\"}";
        json_error_t je, fe;
        cr_assert_null(json_fast_scan(nul, sizeof(nul) - 1));
        json_t *j = json_loadb(nul, sizeof(nul) - 1, 0, &je), *f = json_fast_loadb(nul, sizeof(nul) - 1, &fe);
        cr_assert_null(j);
        cr_assert_null(f);
        cr_assert_str_eq(fe.text, je.text);
}

/* What the FSM parses: a command holding a canonical job, as a leader dumps it. */
Test(json_fast, a_job_command_is_scanned_whole) {
        json_t *in = json_pack("{s:s,s:s,s:s,s:i,s:[{s:s,s:i,s:[{s:s,s:s,s:{s:s,s:[s,s]},s:{s:i,s:i}}]}]}", "ID",
                               "web", "Name", "web", "Type", "service", "Priority", 50, "TaskGroups", "Name", "g",
                               "Count", 3, "Tasks", "Name", "t", "Driver", "raw_exec", "Config", "command",
                               "/bin/sh", "args", "-c", "echo \"hi\"\n", "Resources", "CPU", 100, "MemoryMB", 64);
        struct job *j = NULL;
        struct error err = {0};
        cr_assert_eq(job_from_json(in, &j, &err), 0, "%s", err.msg);
        job_canonicalize(j);
        json_t *cmd = json_pack("{s:s,s:o}", "Type", "JobRegister", "Job", job_to_json(j));
        char *text = json_dumps(cmd, JSON_COMPACT);
        json_t *f = json_fast_scan(text, strlen(text));
        cr_assert_not_null(f);
        char *back = json_dumps(f, JSON_COMPACT);
        cr_assert_str_eq(back, text);
        free(back);
        free(text);
        json_decref(f);
        json_decref(cmd);
        json_decref(in);
        job_unref(j);
}

/* Both writers on j with flags: the same text, or both NULL. */
static void dumps_as_jansson(const json_t *j, size_t flags) {
        char *a = json_dumps(j, flags), *b = json_fast_dumps(j, flags);
        if (!a) {
                cr_assert_null(b);
                return;
        }
        cr_assert_not_null(b);
        cr_assert_str_eq(b, a);
        free(a);
        free(b);
}

Test(json_fast, dumps_writes_what_jansson_writes) {
        const char *docs[] = {
            "{}",
            "[]",
            "{\"a\":1,\"b\":[true,false,null,-0,0,-12,-9223372036854775808,9223372036854775807],\"c\":{\"d\":\"\"}}",
            "{\"esc\":\"q\\\" b\\\\ s\\/ \\b\\f\\n\\r\\t end \\u007f\",\"k\\n\\\"\":\"\\\"\"}",
            /* what json_dumps writes itself: control characters, UTF-8, reals */
            "{\"ctl\":\"a\\u0001b\\u001f\"}",
            "{\"\\u0002key\":1}",
            "{\"utf8\":\"caf\\u00e9 \\ud83d\\ude00\"}",
            "[1.5,2e300,-0.0,0.1]",
        };
        for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
                json_error_t je;
                json_t *j = json_loadb(docs[i], strlen(docs[i]), 0, &je);
                cr_assert_not_null(j, "%s: %s", docs[i], je.text);
                dumps_as_jansson(j, JSON_COMPACT);
                dumps_as_jansson(j, JSON_COMPACT | JSON_ENCODE_ANY);
                dumps_as_jansson(j, JSON_INDENT(2)); /* other flags: jansson's */
                json_decref(j);
        }
        /* deeper than JSON_FAST_MAX_DEPTH */
        json_t *deep = json_integer(1);
        for (int i = 0; i <= JSON_FAST_MAX_DEPTH; i++) {
                json_t *a = json_array();
                json_array_append_new(a, deep);
                deep = a;
        }
        dumps_as_jansson(deep, JSON_COMPACT);
        json_decref(deep);
        /* a string with a NUL byte, keys in insertion order, scalars with and without ENCODE_ANY */
        json_t *o = json_object();
        json_object_set_new(o, "z", json_stringn("a\0b", 3));
        json_object_set_new(o, "a", json_integer(1));
        json_object_set_new(o, "m", json_string("x"));
        dumps_as_jansson(o, JSON_COMPACT);
        json_object_del(o, "z");
        json_object_set_new(o, "z", json_string("again"));
        char *text = json_fast_dumps(o, JSON_COMPACT);
        cr_assert_str_eq(text, "{\"a\":1,\"m\":\"x\",\"z\":\"again\"}");
        free(text);
        dumps_as_jansson(o, JSON_COMPACT);
        json_decref(o);
        json_t *scalars[] = {json_string("s"), json_integer(-7), json_true(), json_null(), json_real(0.5)};
        for (size_t i = 0; i < sizeof(scalars) / sizeof(scalars[0]); i++) {
                dumps_as_jansson(scalars[i], JSON_COMPACT); /* NULL: not an object or an array */
                dumps_as_jansson(scalars[i], JSON_COMPACT | JSON_ENCODE_ANY);
                json_decref(scalars[i]);
        }
        cr_assert_null(json_fast_dumps(NULL, JSON_COMPACT));
}
