/* fsm_server_secret.h - the FSM's ServerSecretSet command: the servers' shared
 * secret, 256 random bits that a leader commits once when the state has none
 * (the first leader of a cluster; after an upgrade; after PUT
 * /v1/operator/snapshot, whose document does not carry it). Every server then has
 * it from the log or a Raft snapshot; followers present it on the leader's
 * /v1/internal/ routes (X-Drover-Server-Secret, controlplane/api/routes_acl.h).
 *
 *   {"Type": "ServerSecretSet", "Secret": "<64 lower-case hex digits>"}
 *
 * Deterministic: the secret is drawn by the proposer, never by the FSM. The first
 * secret stays: a second command (two leaders in a row proposed one) changes
 * nothing. */
#pragma once

#include <jansson.h>
#include <stdint.h>

struct state_store;

#define FSM_SERVER_SECRET_TYPE "ServerSecretSet"

/* Apply at index: 0 (also when a secret is there already: it stays), -EINVAL for
 * a malformed command, -ENOMEM, -EROFS. */
int fsm_server_secret_apply(struct state_store *st, uint64_t index, const json_t *cmd);

/* A new command with a fresh secret (getrandom); NULL when the kernel gave no
 * randomness or out of memory. */
json_t *fsm_server_secret_command(void);
