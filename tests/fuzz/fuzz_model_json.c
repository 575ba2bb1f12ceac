/* fuzz_model_json.c - libFuzzer target: the API's JSON decoders (job, node,
 * allocation, evaluation) and job validation on arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        json_t *o = json_loadb((const char *)data, size, 0, NULL);
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
