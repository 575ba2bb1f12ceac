/* test_agent_state.c - the agent's SQLite store of task handles. */
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "nodeagent/state/agent_state.h"

static char dir[64];

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *f) {
        return remove(p);
}

static void setup(void) {
        snprintf(dir, sizeof(dir), "/tmp/drover-astate-XXXXXX");
        cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void) {
        nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(agent_state, .init = setup, .fini = teardown);

Test(agent_state, handles_survive_a_reopen_and_are_forgotten_on_request) {
        struct agent_state *s = NULL;
        struct error err = {0};
        cr_assert_eq(agent_state_open(dir, &s, &err), 0, "%s", err.msg);
        struct driver_handle h = {
            .driver = "raw_exec", .pid = 4242, .start_ticks = 123456789012ULL, .started_at = 1700000000000000000LL};
        cr_assert_eq(agent_state_put_handle(s, "a1", "web", &h, &err), 0, "%s", err.msg);
        h.pid = 4343;
        cr_assert_eq(agent_state_put_handle(s, "a1", "web", &h, &err), 0, "a restart replaces the handle");
        cr_assert_eq(agent_state_put_handle(s, "a1", "sidecar", &h, &err), 0);
        cr_assert_eq(agent_state_put_handle(s, "a2", "web", &h, &err), 0);
        s = agent_state_close(s);

        cr_assert_eq(agent_state_open(dir, &s, &err), 0, "%s", err.msg);
        struct driver_handle g;
        cr_assert_eq(agent_state_get_handle(s, "a1", "web", &g, &err), 0);
        cr_expect_str_eq(g.driver, "raw_exec");
        cr_expect_eq(g.pid, 4343);
        cr_expect_eq(g.start_ticks, 123456789012ULL);
        cr_expect_eq(g.started_at, 1700000000000000000LL);
        cr_expect_eq(agent_state_count_handles(s, "a1", &err), 2);
        cr_expect_eq(agent_state_get_handle(s, "a1", "nope", &g, &err), -ENOENT);
        cr_assert_eq(agent_state_del_handle(s, "a1", "sidecar", &err), 0);
        cr_assert_eq(agent_state_del_handle(s, "a1", "sidecar", &err), 0, "forgetting twice is fine");
        cr_expect_eq(agent_state_count_handles(s, "a1", &err), 1);
        cr_assert_eq(agent_state_del_alloc(s, "a1", &err), 0);
        cr_expect_eq(agent_state_count_handles(s, "a1", &err), 0);
        cr_expect_eq(agent_state_count_handles(s, "a2", &err), 1, "other allocations untouched");
        agent_state_close(s);
}

Test(agent_state, a_newer_schema_is_refused_with_a_clear_error) {
        char path[128];
        snprintf(path, sizeof(path), "%s/agent.db", dir);
        sqlite3 *db = NULL;
        cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
        cr_assert_eq(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
        struct agent_state *s = NULL;
        struct error err = {0};
        cr_expect_lt(agent_state_open(dir, &s, &err), 0);
        cr_expect(strstr(err.msg, "schema version 99 is newer") != NULL, "%s", err.msg);
}

Test(agent_state, an_unusable_data_dir_is_an_error_not_a_crash) {
        struct agent_state *s = NULL;
        struct error err = {0};
        cr_expect_lt(agent_state_open("/proc/self/nonexistent-dir", &s, &err), 0);
        cr_expect(strstr(err.msg, "agent.db") != NULL, "%s", err.msg);
}

/* A garbage agent.db (a disk error, a file written over): the open fails and says
 * so, and the file is left for the operator, not replaced by an empty store (which
 * would make the agent start the tasks still running a second time). */
Test(agent_state, a_file_that_is_not_a_database_is_refused_and_left_alone) {
        char path[128], back[64] = {0};
        snprintf(path, sizeof(path), "%s/agent.db", dir);
        static const char garbage[] = "this is not an SQLite database, just bytes that took its place\n";
        FILE *f = fopen(path, "w");
        cr_assert_not_null(f);
        for (int i = 0; i < 200; i++)
                fputs(garbage, f);
        fclose(f);
        struct agent_state *s = NULL;
        struct error err = {0};
        cr_expect_lt(agent_state_open(dir, &s, &err), 0);
        cr_expect_null(s);
        cr_expect(strstr(err.msg, "agent.db") && strstr(err.msg, "not a database"), "%s", err.msg);
        f = fopen(path, "r");
        cr_assert_not_null(f);
        cr_expect_eq(fread(back, 1, sizeof(back) - 1, f), sizeof(back) - 1);
        fclose(f);
        cr_expect_eq(strncmp(back, garbage, sizeof(back) - 1), 0, "the file is as it was: %s", back);
}

struct seen {
        char ids[8][16];
        int n, stop_after;
};

static int note_alloc(const char *id, void *data) {
        struct seen *s = data;
        if (s->n < 8)
                snprintf(s->ids[s->n], sizeof(s->ids[0]), "%s", id);
        s->n++;
        return s->stop_after && s->n == s->stop_after ? 7 : 0;
}

static bool saw(const struct seen *s, const char *id) {
        for (int i = 0; i < s->n && i < 8; i++)
                if (strcmp(s->ids[i], id) == 0)
                        return true;
        return false;
}

/* What the directory collector must leave alone: every allocation with a handle, once each. */
Test(agent_state, foreach_alloc_lists_each_allocation_with_handles_once) {
        struct agent_state *s = NULL;
        struct error err = {0};
        cr_assert_eq(agent_state_open(dir, &s, &err), 0, "%s", err.msg);
        struct seen none = {0};
        cr_expect_eq(agent_state_foreach_alloc(s, note_alloc, &none, &err), 0);
        cr_expect_eq(none.n, 0, "an empty store lists nothing");
        struct driver_handle h = {.driver = "raw_exec", .pid = 1, .start_ticks = 1, .started_at = 1};
        cr_assert_eq(agent_state_put_handle(s, "a1", "web", &h, &err), 0);
        cr_assert_eq(agent_state_put_handle(s, "a1", "sidecar", &h, &err), 0);
        cr_assert_eq(agent_state_put_handle(s, "a2", "web", &h, &err), 0);
        cr_assert_eq(agent_state_put_handle(s, "a3", "web", &h, &err), 0);
        cr_assert_eq(agent_state_del_alloc(s, "a3", &err), 0);
        struct seen all = {0};
        cr_expect_eq(agent_state_foreach_alloc(s, note_alloc, &all, &err), 0, "%s", err.msg);
        cr_expect_eq(all.n, 2, "a1 once (two handles), a2; a3 forgotten");
        cr_expect(saw(&all, "a1") && saw(&all, "a2") && !saw(&all, "a3"));
        struct seen first = {.stop_after = 1};
        cr_expect_eq(agent_state_foreach_alloc(s, note_alloc, &first, &err), 7,
                     "the callback's non-zero return stops it");
        cr_expect_eq(first.n, 1);
        struct seen again = {0};
        cr_expect_eq(agent_state_foreach_alloc(s, note_alloc, &again, &err), 0, "usable again after a stop");
        cr_expect_eq(again.n, 2);
        agent_state_close(s);
}

/* Rows in task_handles as another process (the next agent) sees them, through a
 * connection of its own. */
static int rows_seen_from_outside(void) {
        char path[128];
        snprintf(path, sizeof(path), "%s/agent.db", dir);
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        int n = -1;
        if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
            sqlite3_prepare_v2(db, "SELECT count(*) FROM task_handles", -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
                n = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
        sqlite3_close(db);
        return n;
}

Test(agent_state, batched_writes_are_seen_at_once_here_and_elsewhere_after_the_commit) {
        struct agent_state *s = NULL;
        struct error err = {0};
        cr_assert_eq(agent_state_open(dir, &s, &err), 0, "%s", err.msg);
        agent_state_set_batching(s, true);
        struct driver_handle h = {.driver = "raw_exec", .pid = 10, .start_ticks = 1, .started_at = 2};
        char task[16];
        for (int i = 0; i < 50; i++) {
                snprintf(task, sizeof(task), "t%d", i);
                cr_assert_eq(agent_state_put_handle(s, "a1", task, &h, &err), 0, "%s", err.msg);
        }
        cr_assert_eq(agent_state_del_handle(s, "a1", "t0", &err), 0);
        cr_expect_eq(agent_state_count_handles(s, "a1", &err), 49, "this connection reads its own writes");
        cr_expect_eq(rows_seen_from_outside(), 0, "nothing committed before agent_state_commit");
        cr_assert_eq(agent_state_commit(s, &err), 0, "%s", err.msg);
        cr_expect_eq(rows_seen_from_outside(), 49, "all 50 puts and the delete in one commit");
        cr_assert_eq(agent_state_commit(s, &err), 0, "a commit with nothing pending is fine");
        cr_assert_eq(agent_state_del_alloc(s, "a1", &err), 0);
        cr_expect_eq(rows_seen_from_outside(), 49);
        agent_state_close(s); /* commits */
        cr_expect_eq(rows_seen_from_outside(), 0, "closing commits what was pending");
}

/* What a restarted agent needs to stop the tasks of an allocation the servers no
 * longer list: its definition, kept until the allocation is forgotten. */
Test(agent_state, alloc_definitions_survive_a_reopen_and_go_with_the_allocation) {
        struct agent_state *s = NULL;
        struct error err = {0};
        cr_assert_eq(agent_state_open(dir, &s, &err), 0, "%s", err.msg);
        char *text = NULL;
        cr_expect_eq(agent_state_get_alloc(s, "a1", &text, &err), -ENOENT, "none saved yet");
        cr_assert_eq(agent_state_put_alloc(s, "a1", "{\"ID\":\"a1\",\"v\":1}", NULL, &err), 0, "%s", err.msg);
        cr_assert_eq(agent_state_put_alloc(s, "a1", "{\"ID\":\"a1\",\"v\":2}", NULL, &err), 0,
                     "a later one replaces it");
        cr_assert_eq(agent_state_put_alloc(s, "a2", "{\"ID\":\"a2\"}", NULL, &err), 0);
        s = agent_state_close(s);

        cr_assert_eq(agent_state_open(dir, &s, &err), 0, "%s", err.msg);
        cr_assert_eq(agent_state_get_alloc(s, "a1", &text, &err), 0, "%s", err.msg);
        cr_expect_str_eq(text, "{\"ID\":\"a1\",\"v\":2}");
        free(text);
        cr_assert_eq(agent_state_del_alloc(s, "a1", &err), 0);
        text = NULL;
        cr_expect_eq(agent_state_get_alloc(s, "a1", &text, &err), -ENOENT, "forgotten with the allocation");
        cr_expect_null(text);
        cr_assert_eq(agent_state_get_alloc(s, "a2", &text, &err), 0, "other allocations untouched");
        cr_expect_str_eq(text, "{\"ID\":\"a2\"}");
        free(text);
        agent_state_close(s);
}

/* agent.db as an older agent left it: its task_handles table, then sql. */
static void write_old_store(const char *path, const char *sql) {
        sqlite3 *db = NULL;
        cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
        cr_assert_eq(sqlite3_exec(db,
                                  "CREATE TABLE task_handles (alloc_id TEXT NOT NULL, task TEXT NOT NULL,"
                                  " driver TEXT NOT NULL, pid INTEGER NOT NULL, start_ticks INTEGER NOT NULL,"
                                  " started_at INTEGER NOT NULL, PRIMARY KEY (alloc_id, task));",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
        cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
        sqlite3_close(db);
}

/* A store written by an agent of schema version 1 (task handles only): opened, its
 * handles kept, definitions can be saved, and it is marked version 4. */
Test(agent_state, a_version_1_store_is_upgraded_and_keeps_its_handles) {
        char path[128];
        snprintf(path, sizeof(path), "%s/agent.db", dir);
        sqlite3 *db = NULL;
        write_old_store(path, "INSERT INTO task_handles VALUES ('old', 'web', 'raw_exec', 77, 5, 6);"
                              "PRAGMA user_version = 1;");
        struct agent_state *s = NULL;
        struct error err = {0};
        cr_assert_eq(agent_state_open(dir, &s, &err), 0, "%s", err.msg);
        struct driver_handle g;
        cr_assert_eq(agent_state_get_handle(s, "old", "web", &g, &err), 0, "%s", err.msg);
        cr_expect_eq(g.pid, 77);
        char *text = NULL;
        cr_expect_eq(agent_state_get_alloc(s, "old", &text, &err), -ENOENT, "an old agent saved no definition");
        cr_assert_eq(agent_state_put_alloc(s, "old", "{}", NULL, &err), 0, "%s", err.msg);
        agent_state_close(s);
        sqlite3_stmt *st = NULL;
        int version = -1;
        cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
        if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
                version = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
        sqlite3_close(db);
        cr_expect_eq(version, 4);
}

/* The definition a version 2 agent saved (its job inline) is read back as it was,
 * and the file is upgraded. */
Test(agent_state, a_version_2_store_is_upgraded_and_keeps_its_definitions) {
        char path[128];
        snprintf(path, sizeof(path), "%s/agent.db", dir);
        write_old_store(path, "CREATE TABLE allocs (alloc_id TEXT PRIMARY KEY NOT NULL, definition TEXT NOT NULL);"
                              "INSERT INTO allocs VALUES ('old', '{\"ID\":\"old\",\"Job\":{\"ID\":\"j\"}}');"
                              "PRAGMA user_version = 2;");
        struct agent_state *s = NULL;
        struct error err = {0};
        cr_assert_eq(agent_state_open(dir, &s, &err), 0, "%s", err.msg);
        char *text = NULL;
        cr_assert_eq(agent_state_get_alloc(s, "old", &text, &err), 0, "%s", err.msg);
        cr_expect_str_eq(text, "{\"ID\":\"old\",\"Job\":{\"ID\":\"j\"}}");
        free(text);
        cr_assert_eq(agent_state_put_job(s, "default/j@5@0", "{\"ID\":\"j\"}", &err), 0, "%s", err.msg);
        cr_assert_eq(agent_state_put_alloc(s, "new", "{\"ID\":\"new\"}", "default/j@5@0", &err), 0, "%s", err.msg);
        agent_state_close(s);
        cr_assert_eq(agent_state_open(dir, &s, &err), 0, "a second open (the column is there once): %s", err.msg);
        cr_assert_eq(agent_state_get_alloc(s, "new", &text, &err), 0, "%s", err.msg);
        cr_expect_str_eq(text, "{\"Job\":{\"ID\":\"j\"},\"ID\":\"new\"}");
        free(text);
        agent_state_close(s);
}

/* A job saved once for the allocations of its version; forgotten with the last of them. */
Test(agent_state, a_job_is_saved_once_and_goes_with_its_last_allocation) {
        struct agent_state *s = NULL;
        struct error err = {0};
        cr_assert_eq(agent_state_open(dir, &s, &err), 0, "%s", err.msg);
        const char *key = "default/web@7@1";
        cr_expect_eq(agent_state_has_job(s, key, &err), 0);
        cr_assert_eq(agent_state_put_job(s, key, "{\"ID\":\"web\",\"Version\":1}", &err), 0, "%s", err.msg);
        cr_expect_eq(agent_state_has_job(s, key, &err), 1);
        cr_assert_eq(agent_state_put_alloc(s, "a1", "{\"ID\":\"a1\",\"Name\":\"web[0]\"}", key, &err), 0);
        cr_assert_eq(agent_state_put_alloc(s, "a2", "{}", key, &err), 0);
        char *text = NULL;
        cr_assert_eq(agent_state_get_alloc(s, "a1", &text, &err), 0, "%s", err.msg);
        json_t *o = json_loads(text, 0, NULL);
        cr_assert_not_null(o, "JSON: %s", text);
        cr_expect_str_eq(json_string_value(json_object_get(o, "ID")), "a1");
        cr_expect_eq(json_integer_value(json_object_get(json_object_get(o, "Job"), "Version")), 1, "%s", text);
        json_decref(o);
        free(text);
        cr_assert_eq(agent_state_get_alloc(s, "a2", &text, &err), 0, "%s", err.msg);
        cr_expect_str_eq(text, "{\"Job\":{\"ID\":\"web\",\"Version\":1}}", "an empty object gets its job");
        free(text);
        cr_assert_eq(agent_state_del_alloc(s, "a1", &err), 0, "%s", err.msg);
        cr_expect_eq(agent_state_has_job(s, key, &err), 1, "a2 still has it");
        cr_assert_eq(agent_state_del_alloc(s, "a2", &err), 0, "%s", err.msg);
        cr_expect_eq(agent_state_has_job(s, key, &err), 0, "gone with the last allocation");
        agent_state_close(s);
}

/* What the agent prunes at start: definitions of allocations with no task handles. */
Test(agent_state, foreach_idle_alloc_lists_definitions_without_handles) {
        struct agent_state *s = NULL;
        struct error err = {0};
        cr_assert_eq(agent_state_open(dir, &s, &err), 0, "%s", err.msg);
        struct driver_handle h = {.driver = "raw_exec", .pid = 1, .start_ticks = 1, .started_at = 1};
        cr_assert_eq(agent_state_put_alloc(s, "running", "{}", NULL, &err), 0);
        cr_assert_eq(agent_state_put_handle(s, "running", "web", &h, &err), 0);
        cr_assert_eq(agent_state_put_alloc(s, "ended", "{}", NULL, &err), 0);
        cr_assert_eq(agent_state_put_handle(s, "ended", "web", &h, &err), 0);
        cr_assert_eq(agent_state_del_handle(s, "ended", "web", &err), 0);
        cr_assert_eq(agent_state_put_alloc(s, "never", "{}", NULL, &err), 0);
        cr_assert_eq(agent_state_put_handle(s, "nodef", "web", &h, &err), 0);
        struct seen idle = {0};
        cr_expect_eq(agent_state_foreach_idle_alloc(s, note_alloc, &idle, &err), 0, "%s", err.msg);
        cr_expect_eq(idle.n, 2);
        cr_expect(saw(&idle, "ended") && saw(&idle, "never") && !saw(&idle, "running") && !saw(&idle, "nodef"));
        cr_assert_eq(agent_state_del_alloc(s, "ended", &err), 0);
        struct seen after = {0};
        cr_expect_eq(agent_state_foreach_idle_alloc(s, note_alloc, &after, &err), 0);
        cr_expect(after.n == 1 && saw(&after, "never"));
        agent_state_close(s);
}

/* A task waiting on its restart delay when the agent stopped: the next agent reads
 * when the delay ends and the failures counted so far (the tracker), from this
 * store after a reopen; they go with the allocation. */
Test(agent_state, restart_trackers_survive_a_reopen_and_go_with_the_allocation) {
        struct agent_state *s = NULL;
        struct error err = {0};
        cr_assert_eq(agent_state_open(dir, &s, &err), 0, "%s", err.msg);
        agent_state_set_batching(s, true);
        struct task_restart_state a = {
            .attempts = 2, .window_start_ns = 1700000000123456789, .next_start_ns = 1700000010987654321};
        struct task_restart_state b = {.attempts = 1, .window_start_ns = 5, .next_start_ns = 0};
        cr_assert_eq(agent_state_put_restart(s, "a1", "web", &b, &err), 0, "%s", err.msg);
        cr_assert_eq(agent_state_put_restart(s, "a1", "web", &a, &err), 0, "the newer replaces it: %s", err.msg);
        cr_assert_eq(agent_state_put_restart(s, "a1", "side", &b, &err), 0, "%s", err.msg);
        cr_assert_eq(agent_state_put_restart(s, "a2", "web", &b, &err), 0, "%s", err.msg);
        cr_assert_eq(agent_state_commit(s, &err), 0, "%s", err.msg);
        agent_state_close(s);

        cr_assert_eq(agent_state_open(dir, &s, &err), 0, "%s", err.msg);
        struct task_restart_state g = {0};
        cr_assert_eq(agent_state_get_restart(s, "a1", "web", &g, &err), 0, "%s", err.msg);
        cr_expect_eq(g.attempts, 2);
        cr_expect_eq(g.window_start_ns, a.window_start_ns);
        cr_expect_eq(g.next_start_ns, a.next_start_ns);
        cr_assert_eq(agent_state_get_restart(s, "a1", "side", &g, &err), 0, "%s", err.msg);
        cr_expect_eq(g.attempts, 1);
        cr_expect_eq(g.next_start_ns, 0);
        cr_expect_eq(agent_state_get_restart(s, "a1", "nope", &g, &err), -ENOENT);
        cr_assert_eq(agent_state_del_alloc(s, "a1", &err), 0, "%s", err.msg);
        cr_expect_eq(agent_state_get_restart(s, "a1", "web", &g, &err), -ENOENT, "forgotten with its allocation");
        cr_expect_eq(agent_state_get_restart(s, "a1", "side", &g, &err), -ENOENT);
        cr_expect_eq(agent_state_get_restart(s, "a2", "web", &g, &err), 0, "another allocation's stays");
        agent_state_close(s);
}

/* A version 3 store (before restart trackers) gains the table and keeps its rows. */
Test(agent_state, a_version_3_store_is_upgraded_for_restart_trackers) {
        char path[128];
        snprintf(path, sizeof(path), "%s/agent.db", dir);
        write_old_store(path, "CREATE TABLE allocs (alloc_id TEXT PRIMARY KEY NOT NULL, definition TEXT NOT NULL,"
                              " job_key TEXT);"
                              "CREATE TABLE jobs (job_key TEXT PRIMARY KEY NOT NULL, definition TEXT NOT NULL);"
                              "INSERT INTO task_handles VALUES ('old', 'web', 'raw_exec', 77, 5, 6);"
                              "PRAGMA user_version = 3;");
        struct agent_state *s = NULL;
        struct error err = {0};
        cr_assert_eq(agent_state_open(dir, &s, &err), 0, "%s", err.msg);
        struct driver_handle h;
        cr_expect_eq(agent_state_get_handle(s, "old", "web", &h, &err), 0, "%s", err.msg);
        struct task_restart_state g, a = {.attempts = 1, .window_start_ns = 10, .next_start_ns = 20};
        cr_expect_eq(agent_state_get_restart(s, "old", "web", &g, &err), -ENOENT, "a version 3 agent saved none");
        cr_assert_eq(agent_state_put_restart(s, "old", "web", &a, &err), 0, "%s", err.msg);
        agent_state_close(s);
        cr_assert_eq(agent_state_open(dir, &s, &err), 0, "a second open: %s", err.msg);
        cr_expect_eq(agent_state_get_restart(s, "old", "web", &g, &err), 0, "%s", err.msg);
        cr_expect_eq(g.next_start_ns, 20);
        agent_state_close(s);
}
