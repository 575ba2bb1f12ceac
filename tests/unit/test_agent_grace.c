/* test_agent_grace.c - when the agent stops an allocation its servers no longer list
 * (nodeagent/server_loss.c): at once normally, held for a grace period after a sign
 * that the servers lost their data, until they have been stable for its whole length. */
#include <criterion/criterion.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/macros.h"
#include "nodeagent/config.h"
#include "nodeagent/server_loss.h"

#define S 1000000000LL
#define GRACE (60 * S)

/* One thing the agent saw of its servers, at a time in seconds. */
enum ev_kind { WATCH, REREGISTER, FAILED };
struct ev {
        int64_t at_s;
        enum ev_kind kind;
        uint64_t index; /* WATCH */
};

struct grace_case {
        const char *name;
        int64_t grace_ns;
        struct ev evs[8];
        size_t n_evs;
        int64_t ask_s;        /* when an allocation is found missing */
        int64_t want_until_s; /* 0: stop it now; else held until then */
};

/* The events of a case, in order. */
#define SEEN(...) .evs = {__VA_ARGS__}, .n_evs = sizeof((struct ev[]){__VA_ARGS__}) / sizeof(struct ev)

static const struct grace_case cases[] = {
    {"no sign of loss: stop at once (a purge, a collected allocation)", GRACE,
     SEEN({10, WATCH, 5}, {20, WATCH, 9}, {30, WATCH, 9}), 40, 0},
    {"nothing seen yet (a new agent): stop at once", GRACE, SEEN({0, WATCH, 0}), 5, 0},
    {"an index that goes back opens the grace", GRACE, SEEN({10, WATCH, 500}, {100, WATCH, 3}), 101, 160},
    {"a forced registration opens the grace", GRACE, SEEN({10, WATCH, 500}, {100, REREGISTER, 0}), 130, 160},
    {"the grace ends after its whole length", GRACE, SEEN({10, WATCH, 500}, {100, REREGISTER, 0}), 160, 0},
    {"stable answers during the grace do not shorten it", GRACE,
     SEEN({10, WATCH, 500}, {100, WATCH, 3}, {110, WATCH, 4}, {120, WATCH, 8}, {150, WATCH, 9}), 155, 160},
    {"the new servers' first answer after a forced registration is a regression too: the clock runs from it", GRACE,
     SEEN({10, WATCH, 500}, {100, REREGISTER, 0}, {103, WATCH, 2}, {110, WATCH, 5}), 150, 163},
    {"a further regression starts its clock again", GRACE, SEEN({10, WATCH, 500}, {100, WATCH, 40}, {130, WATCH, 7}),
     165, 190},
    {"a failed call during the grace starts its clock again", GRACE,
     SEEN({10, WATCH, 500}, {100, REREGISTER, 0}, {140, FAILED, 0}), 180, 200},
    {"a failed call outside a grace opens none", GRACE, SEEN({10, WATCH, 500}, {100, FAILED, 0}), 101, 0},
    {"after a regression the new history is the reference: its growth is no sign", GRACE,
     SEEN({10, WATCH, 500}, {100, WATCH, 3}, {120, WATCH, 4}, {170, WATCH, 6}), 171, 0},
    {"a regression after the grace ended opens a new one", GRACE,
     SEEN({10, WATCH, 500}, {100, WATCH, 3}, {170, WATCH, 9}, {200, WATCH, 2}), 210, 260},
    {"grace 0: the protection is off", 0, SEEN({10, WATCH, 500}, {100, WATCH, 3}, {101, REREGISTER, 0}), 102, 0},
};

static void replay(struct server_loss *s, const struct grace_case *c) {
        server_loss_init(s, c->grace_ns);
        for (size_t i = 0; i < c->n_evs; i++) {
                const struct ev *e = &c->evs[i];
                switch (e->kind) {
                case WATCH:
                        server_loss_watch_index(s, e->index, e->at_s * S);
                        break;
                case REREGISTER:
                        server_loss_sign(s, SERVER_LOSS_REREGISTERED, e->at_s * S);
                        break;
                case FAILED:
                        server_loss_failed(s, e->at_s * S);
                        break;
                }
        }
}

TestSuite(agent_grace);

Test(agent_grace, table) {
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                const struct grace_case *c = &cases[i];
                struct server_loss s;
                replay(&s, c);
                int64_t until = server_loss_hold_until(&s, c->ask_s * S);
                cr_expect_eq(until, c->want_until_s * S, "%s: held until %lld s, want %lld s", c->name,
                             (long long)(until / S), (long long)c->want_until_s);
                cr_expect_eq(server_loss_in_grace(&s, c->ask_s * S), c->want_until_s != 0, "%s: in grace", c->name);
        }
}

Test(agent_grace, watch_index_reports_only_a_regression) {
        struct server_loss s;
        server_loss_init(&s, GRACE);
        cr_expect_not(server_loss_watch_index(&s, 10, 1 * S));
        cr_expect_not(server_loss_watch_index(&s, 10, 2 * S), "the same index (a wait that ran out)");
        cr_expect_not(server_loss_watch_index(&s, 0, 3 * S), "no index: no information");
        cr_expect(server_loss_watch_index(&s, 9, 4 * S));
        cr_expect_eq(s.max_index, 9);
        cr_expect_not(server_loss_watch_index(&s, 9, 5 * S), "the new history, not a second regression");
}

Test(agent_grace, a_hold_is_always_in_the_future) {
        /* However the events fall, a held allocation is held until a time after now,
         * and at that time it is stopped unless something new happened. */
        struct server_loss s;
        server_loss_init(&s, GRACE);
        server_loss_sign(&s, SERVER_LOSS_REREGISTERED, 1); /* at the clock's very start */
        for (int64_t t = 1; t < GRACE; t += GRACE / 7) {
                int64_t until = server_loss_hold_until(&s, t);
                cr_assert_gt(until, t);
                cr_expect_eq(server_loss_hold_until(&s, until), 0);
        }
}

/* -server-loss-grace and the agent file's client { server_loss_grace }: 5m by
 * default, the file sets it, the flag wins, 0 turns it off, out of range refused. */
Test(agent_grace, configured_by_flag_and_agent_file) {
        char path[] = "/tmp/drover-grace-XXXXXX.hcl";
        int fd = mkstemps(path, 4);
        cr_assert_geq(fd, 0);
        const char *text = "client {\n  server_loss_grace = \"90s\"\n}\n";
        cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
        close(fd);
        struct {
                char *args[3];
                int64_t want_ms; /* -1: refused */
        } flags[] = {
            {{NULL}, 300000},
            {{"-config", path}, 90000},
            {{"-config", path, "-server-loss-grace=2s"}, 2000},
            {{"-server-loss-grace", "0"}, 0},
            {{"-server-loss-grace=25h"}, -1},
        };
        unsetenv("DROVER_ADDR");
        for (size_t i = 0; i < ARRAY_SIZE(flags); i++) {
                char *argv[5] = {"drover-agent"};
                int argc = 1;
                for (size_t k = 0; k < 3 && flags[i].args[k]; k++)
                        argv[argc++] = flags[i].args[k];
                struct agent_config cfg;
                struct error err = {0};
                int r = agent_config_parse(&cfg, argc, argv, &err);
                if (flags[i].want_ms < 0) {
                        cr_expect_lt(r, 0, "case %zu: refused", i);
                        cr_expect(strstr(err.msg, "-server-loss-grace"), "case %zu: %s", i, err.msg);
                } else {
                        cr_expect_eq(r, 0, "case %zu: %s", i, err.msg);
                        cr_expect_eq(cfg.server_loss_grace_ms, flags[i].want_ms, "case %zu", i);
                }
                agent_config_free(&cfg);
        }
        unlink(path);
}
