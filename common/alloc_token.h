/* alloc_token.h - the token that lets a caller read one allocation's files on its node.
 *
 * token = hex(HMAC-SHA256(key = the node's SecretID, message = the allocation ID)).
 * The servers know every node's secret and hand the token out with the
 * allocation (GET /v1/allocation/:id, "AllocToken"); the agent, which knows its
 * own secret, recomputes it. A token opens that allocation on that node only,
 * and the node secret never leaves the servers and the node.
 */
#pragma once

#include <stdbool.h>

#define ALLOC_TOKEN_BUF 65 /* 64 hex digits and a NUL */

/* Returns 0, or negative errno when the HMAC cannot be computed. */
int alloc_token(const char *node_secret, const char *alloc_id, char ret[ALLOC_TOKEN_BUF]);

/* Constant-time comparison of a presented token with the expected one. */
bool alloc_token_equal(const char *presented, const char *expected);
