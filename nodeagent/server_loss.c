/* server_loss.c - the grace period after a possible server data loss (server_loss.h). */
#include "nodeagent/server_loss.h"

void server_loss_init(struct server_loss *s, int64_t grace_ns) {
        *s = (struct server_loss){.grace_ns = grace_ns > 0 ? grace_ns : 0};
}

bool server_loss_in_grace(const struct server_loss *s, int64_t now) {
        return s->grace_ns > 0 && s->stable_since > 0 && now - s->stable_since < s->grace_ns;
}

void server_loss_sign(struct server_loss *s, enum server_loss_sign sign, int64_t now) {
        (void)sign; /* every sign weighs the same; the agent logs which it was */
        if (s->grace_ns > 0)
                s->stable_since = now > 0 ? now : 1;
}

bool server_loss_watch_index(struct server_loss *s, uint64_t index, int64_t now) {
        if (index == 0)
                return false;
        bool back = index < s->max_index;
        s->max_index = index; /* after a regression: the new servers' history */
        if (back)
                server_loss_sign(s, SERVER_LOSS_INDEX_BACK, now);
        return back;
}

void server_loss_failed(struct server_loss *s, int64_t now) {
        if (server_loss_in_grace(s, now))
                s->stable_since = now;
}

int64_t server_loss_hold_until(const struct server_loss *s, int64_t now) {
        return server_loss_in_grace(s, now) ? s->stable_since + s->grace_ns : 0;
}
