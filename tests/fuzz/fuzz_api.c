/* fuzz_api.c - libFuzzer target: sequences of HTTP requests against the routes
 * and the FSM (tests/support/api_harness). Input: requests separated by a line
 * "---"; each is "METHOD /target" on its first line, then the body.
 * Property checked besides memory safety: a request answered 4xx leaves the
 * state exactly as it was (same latest index). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "controlplane/raft/fsm.h"
#include "controlplane/state/state.h"
#include "tests/support/api_harness.h"

static void one(struct api_harness *s, const char *req, size_t len) {
        const char *nl = memchr(req, '\n', len);
        size_t first = nl ? (size_t)(nl - req) : len;
        char line[512];
        if (first >= sizeof(line))
                return;
        memcpy(line, req, first);
        line[first] = '\0';
        char *sp = strchr(line, ' ');
        if (!sp)
                return;
        *sp = '\0';
        const char *target = sp + 1;
        const char *body = nl ? nl + 1 : NULL;
        size_t blen = nl ? len - first - 1 : 0;
        uint64_t before = state_latest_index(s->state);
        struct api_reply r;
        api_harness_request(s, line, target, body, blen, &r);
        if (r.status >= 400 && r.status < 500 && state_latest_index(s->state) != before) {
                fprintf(stderr, "fuzz_api: %s %s answered %d but changed the state (%s)\n", line, target, r.status,
                        r.body);
                abort();
        }
        if (r.status == 0 || r.status >= 600) {
                fprintf(stderr, "fuzz_api: %s %s: bad status %d\n", line, target, r.status);
                abort();
        }
        api_reply_clear(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static int init;
        if (!init) {
                log_set_level(LOG_LVL_ERROR);
                init = 1;
        }
        struct api_harness *s = api_harness_new();
        if (!s)
                return 0;
        char *buf = malloc(size + 1);
        memcpy(buf, data, size);
        buf[size] = '\0';
        char *p = buf, *end = buf + size;
        while (p < end) {
                char *sep = strstr(p, "\n---\n");
                size_t len = sep ? (size_t)(sep - p) : (size_t)(end - p);
                one(s, p, len);
                if (!sep)
                        break;
                p = sep + 5;
        }
        free(buf);
        api_harness_free(s);
        return 0;
}
