/* update_text.h - an allocation's status update written straight as JSON text.
 *
 * The agent sends the servers, per changed allocation, its ID, client status and
 * task states (Nomad's Allocation.TaskStates with every event). Building that as a
 * jansson tree, dumping it and freeing it took a quarter of the agent's loop thread
 * in a 1,000-task batch (a malloc per key, value and event; bench/RESULTS.md,
 * e2efast). This writes the same document into one growing buffer: the text parses
 * to what task_states_to_json (common/model_json.c) builds, which the unit test
 * test_agent_update_text checks field by field.
 *
 * Strings are escaped as JSON requires; a byte that is not part of valid UTF-8 is
 * written as U+FFFD (jansson refused such a string, and the update with it). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct task_state;

struct text_buf {
        char *data; /* NUL-terminated once anything was written */
        size_t len, cap;
        bool failed; /* out of memory, or past TEXT_BUF_MAX: data is not to be sent */
};

#define TEXT_BUF_MAX (64u * 1024 * 1024) /* bytes of one update body */

void text_buf_put(struct text_buf *b, const char *s, size_t n);
void text_buf_puts(struct text_buf *b, const char *s);
/* s as a JSON string, quotes included; NULL as "". */
void text_buf_json_str(struct text_buf *b, const char *s);
/* Take the text (NULL when failed or empty); b is empty afterwards. */
char *text_buf_take(struct text_buf *b);
void text_buf_clear(struct text_buf *b);

/* {"ID":...,"ClientStatus":...,"ClientDescription":...,"TaskStates":{...}} */
void update_text_write(struct text_buf *b, const char *alloc_id, const char *client_status, const char *description,
                       const struct task_state *ts, size_t n);
