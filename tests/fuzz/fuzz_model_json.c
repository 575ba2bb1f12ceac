/* fuzz_model_json.c - libFuzzer target: the API's JSON decoders (job, node,
 * allocation, evaluation) and job validation on arbitrary bytes; and
 * common/json_fast.c against jansson: what its scan takes, jansson parses to the
 * same tree with its keys in the same order, json_fast_loadb gives jansson's
 * answer (tree or error message) for every input, and json_fast_dumps writes what
 * json_dumps writes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/json_fast.h"
#include "common/model.h"

static void same_dump(const json_t *a, const json_t *b) {
        char *da = json_dumps(a, JSON_COMPACT), *db = json_dumps(b, JSON_COMPACT);
        if (!da || !db || strcmp(da, db) != 0)
                abort();
        free(da);
        free(db);
}

static void check_json_fast(const char *data, size_t size, const json_t *jansson, const json_error_t *je) {
        json_t *scanned = json_fast_scan(data, size);
        if (scanned && !jansson)
                abort(); /* took what jansson refuses */
        if (scanned)
                same_dump(scanned, jansson);
        json_decref(scanned);
        json_error_t fe;
        json_t *f = json_fast_loadb(data, size, &fe);
        if (!f != !jansson || (!f && strcmp(fe.text, je->text) != 0))
                abort();
        if (f)
                same_dump(f, jansson);
        json_decref(f);
        if (!jansson)
                return;
        for (int k = 0; k < 2; k++) { /* json_fast_dumps writes what json_dumps writes */
                size_t flags = JSON_COMPACT | (k ? JSON_ENCODE_ANY : 0);
                char *a = json_dumps(jansson, flags), *b = json_fast_dumps(jansson, flags);
                if (!a != !b || (a && strcmp(a, b) != 0))
                        abort();
                free(a);
                free(b);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        json_error_t je;
        json_t *o = json_loadb((const char *)data, size, 0, &je);
        check_json_fast((const char *)data, size, o, &je);
        if (!o)
                return 0;
        struct error err = {0};
        struct job *j = NULL;
        if (job_from_json(o, &j, &err) == 0) {
                job_canonicalize(j);
                job_validate(j, &err);
                json_t *back = job_to_json(j);
                json_decref(back);
                job_unref(j);
        }
        struct node *n = NULL;
        if (node_from_json(o, &n, &err) == 0)
                node_unref(n);
        struct alloc *a = NULL;
        if (alloc_from_json(o, &a, &err) == 0)
                alloc_unref(a);
        struct eval *e = NULL;
        if (eval_from_json(o, &e, &err) == 0)
                eval_unref(e);
        json_decref(o);
        return 0;
}
