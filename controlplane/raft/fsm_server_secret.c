/* fsm_server_secret.c - the ServerSecretSet command (see fsm_server_secret.h). */
#include "controlplane/raft/fsm_server_secret.h"

#include <errno.h>
#include <string.h>

#include "common/jsonx.h"
#include "controlplane/acl/secret.h"
#include "controlplane/state/state_acl.h"

int fsm_server_secret_apply(struct state_store *st, uint64_t index, const json_t *cmd) {
        const char *secret = jx_str(cmd, "Secret", "");
        if (!secret_is_hex64(secret))
                return -EINVAL;
        int r = state_acl_server_secret_set(st, index, secret);
        return r == -EEXIST ? 0 : r;
}

json_t *fsm_server_secret_command(void) {
        char secret[SECRET_HASH_HEX];
        if (secret_random_hex(secret) < 0)
                return NULL;
        json_t *cmd = json_pack("{s:s,s:s}", "Type", FSM_SERVER_SECRET_TYPE, "Secret", secret);
        explicit_bzero(secret, sizeof(secret));
        return cmd;
}
