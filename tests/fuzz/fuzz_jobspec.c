/* fuzz_jobspec.c - libFuzzer target: the HCL job-file parser must answer any
 * input with a job or an error, never a crash, leak or hang. */
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/jobspec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct error err = {0};
        json_t *job = NULL;
        if (jobspec_parse((const char *)data, size, "fuzz.hcl", &job, &err) == 0)
                json_decref(job);
        return 0;
}
