/* agent_state.c - the agent's local state store over SQLite (see agent_state.h). */
#include "nodeagent/state/agent_state.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

/* 1: task_handles. 2: allocs, the definition of every allocation this agent ran
 * (CREATE TABLE IF NOT EXISTS: a version 1 file gains it and keeps its handles).
 * 3: jobs, one row per job version (namespace/id@JobModifyIndex@Version), and
 * allocs.job_key: an allocation's definition without its job, which the 1,000
 * allocations of one job share (a version 2 file gains the column; its rows keep
 * their job inline, job_key NULL). 4: task_restarts, each task's restart tracker
 * (failures in the policy's interval, when the interval began) and when a pending
 * restart delay ends (a version 3 file gains the table). */
#define SCHEMA_VERSION 4

enum stmt {
        S_PUT,
        S_GET,
        S_DEL,
        S_DEL_ALLOC,
        S_COUNT,
        S_ALLOCS,
        S_PUT_DEF,
        S_GET_DEF,
        S_DEL_DEF,
        S_DEL_JOB,
        S_IDLE_DEFS,
        S_HAS_JOB,
        S_PUT_JOB,
        S_PUT_RESTART,
        S_GET_RESTART,
        S_DEL_RESTARTS,
        S_MAX
};

static const char *const stmt_sql[S_MAX] = {
    [S_PUT] = "INSERT OR REPLACE INTO task_handles (alloc_id, task, driver, pid, start_ticks, started_at) "
              "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [S_GET] = "SELECT driver, pid, start_ticks, started_at FROM task_handles WHERE alloc_id = ?1 AND task = ?2",
    [S_DEL] = "DELETE FROM task_handles WHERE alloc_id = ?1 AND task = ?2",
    [S_DEL_ALLOC] = "DELETE FROM task_handles WHERE alloc_id = ?1",
    [S_COUNT] = "SELECT count(*) FROM task_handles WHERE alloc_id = ?1",
    [S_ALLOCS] = "SELECT DISTINCT alloc_id FROM task_handles",
    [S_PUT_DEF] = "INSERT OR REPLACE INTO allocs (alloc_id, definition, job_key) VALUES (?1, ?2, ?3)",
    [S_GET_DEF] = "SELECT a.definition, j.definition FROM allocs a LEFT JOIN jobs j ON j.job_key = a.job_key "
                  "WHERE a.alloc_id = ?1",
    [S_DEL_DEF] = "DELETE FROM allocs WHERE alloc_id = ?1",
    /* before S_DEL_DEF: the allocation's job, when no other allocation has it */
    [S_DEL_JOB] = "DELETE FROM jobs WHERE job_key = (SELECT job_key FROM allocs WHERE alloc_id = ?1) "
                  "AND NOT EXISTS (SELECT 1 FROM allocs o WHERE o.job_key = jobs.job_key AND o.alloc_id != ?1)",
    [S_HAS_JOB] = "SELECT 1 FROM jobs WHERE job_key = ?1",
    [S_PUT_JOB] = "INSERT OR REPLACE INTO jobs (job_key, definition) VALUES (?1, ?2)",
    [S_IDLE_DEFS] = "SELECT alloc_id FROM allocs WHERE alloc_id NOT IN (SELECT alloc_id FROM task_handles)",
    [S_PUT_RESTART] = "INSERT OR REPLACE INTO task_restarts (alloc_id, task, attempts, window_start, next_start) "
                      "VALUES (?1, ?2, ?3, ?4, ?5)",
    [S_GET_RESTART] = "SELECT attempts, window_start, next_start FROM task_restarts WHERE alloc_id = ?1 AND task = ?2",
    [S_DEL_RESTARTS] = "DELETE FROM task_restarts WHERE alloc_id = ?1",
};

struct agent_state {
        sqlite3 *db;
        bool batching; /* writes join one open transaction until agent_state_commit */
        bool in_txn;
        sqlite3_stmt *stmt[S_MAX];
        char path[4096];
};

static int db_error(struct agent_state *s, struct error *err, const char *what) {
        return errorf(err, -EIO, "agent state %s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

struct agent_state *agent_state_close(struct agent_state *s) {
        if (!s)
                return NULL;
        if (s->in_txn)
                sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
        for (int i = 0; i < S_MAX; i++)
                sqlite3_finalize(s->stmt[i]);
        sqlite3_close(s->db);
        free(s);
        return NULL;
}

int agent_state_open(const char *data_dir, struct agent_state **ret, struct error *err) {
        struct agent_state *s = calloc(1, sizeof(*s));
        if (!s)
                return errorf(err, -ENOMEM, "out of memory");
        snprintf(s->path, sizeof(s->path), "%s/agent.db", data_dir);
        if (sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
            SQLITE_OK) {
                int r = s->db ? db_error(s, err, "open") : errorf(err, -ENOMEM, "out of memory");
                agent_state_close(s);
                return r;
        }
        sqlite3_busy_timeout(s->db, 2000);
        /* The first read: a file that is not SQLite's (or not readable) fails here. */
        sqlite3_stmt *v = NULL;
        int version = -1;
        if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &v, NULL) == SQLITE_OK &&
            sqlite3_step(v) == SQLITE_ROW)
                version = sqlite3_column_int(v, 0);
        sqlite3_finalize(v);
        if (version < 0) {
                int r = db_error(s, err, "read");
                agent_state_close(s);
                return r;
        }
        if (version > SCHEMA_VERSION) {
                int r = errorf(err, -EPROTO, "agent state %s: schema version %d is newer than this agent's (%d)",
                               s->path, version, SCHEMA_VERSION);
                agent_state_close(s);
                return r;
        }
        char *msg = NULL;
        int rc = sqlite3_exec(s->db,
                              "PRAGMA journal_mode = WAL;"
                              "PRAGMA synchronous = NORMAL;"
                              /* A few rows per task: 64 pages of cache, not SQLite's 2 MB default
                               * (resident memory the agent never needed). */
                              "PRAGMA cache_size = 64;",
                              NULL, NULL, &msg);
        /* The upgrade in one transaction: a version 2 file gains allocs.job_key once. */
        if (rc == SQLITE_OK)
                rc = sqlite3_exec(s->db,
                                  "BEGIN;"
                                  "CREATE TABLE IF NOT EXISTS task_handles ("
                                  "  alloc_id TEXT NOT NULL, task TEXT NOT NULL, driver TEXT NOT NULL,"
                                  "  pid INTEGER NOT NULL, start_ticks INTEGER NOT NULL, started_at INTEGER NOT NULL,"
                                  "  PRIMARY KEY (alloc_id, task));"
                                  "CREATE TABLE IF NOT EXISTS allocs ("
                                  "  alloc_id TEXT PRIMARY KEY NOT NULL, definition TEXT NOT NULL, job_key TEXT);"
                                  "CREATE TABLE IF NOT EXISTS jobs ("
                                  "  job_key TEXT PRIMARY KEY NOT NULL, definition TEXT NOT NULL);"
                                  "CREATE TABLE IF NOT EXISTS task_restarts ("
                                  "  alloc_id TEXT NOT NULL, task TEXT NOT NULL, attempts INTEGER NOT NULL,"
                                  "  window_start INTEGER NOT NULL, next_start INTEGER NOT NULL,"
                                  "  PRIMARY KEY (alloc_id, task));",
                                  NULL, NULL, &msg);
        if (rc == SQLITE_OK && version == 2)
                rc = sqlite3_exec(s->db, "ALTER TABLE allocs ADD COLUMN job_key TEXT", NULL, NULL, &msg);
        if (rc == SQLITE_OK)
                rc = sqlite3_exec(s->db,
                                  "CREATE INDEX IF NOT EXISTS allocs_job ON allocs (job_key);"
                                  "PRAGMA user_version = 4;"
                                  "COMMIT;",
                                  NULL, NULL, &msg);
        if (rc != SQLITE_OK) {
                int r = errorf(err, -EIO, "agent state %s: create schema: %s", s->path, msg ? msg : "?");
                sqlite3_free(msg);
                agent_state_close(s);
                return r;
        }
        for (int i = 0; i < S_MAX; i++)
                if (sqlite3_prepare_v2(s->db, stmt_sql[i], -1, &s->stmt[i], NULL) != SQLITE_OK) {
                        int r = db_error(s, err, "prepare");
                        agent_state_close(s);
                        return r;
                }
        *ret = s;
        return 0;
}

void agent_state_set_batching(struct agent_state *s, bool on) {
        s->batching = on;
}

int agent_state_commit(struct agent_state *s, struct error *err) {
        if (!s || !s->in_txn)
                return 0;
        s->in_txn = false;
        if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
                int r = db_error(s, err, "commit");
                sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
                return r;
        }
        return 0;
}

/* Run a statement to completion (bound by the caller); reset it whatever happens. A write
 * while batching opens the transaction that agent_state_commit ends. */
static int run(struct agent_state *s, sqlite3_stmt *st, struct error *err, const char *what) {
        if (s->batching && !s->in_txn) {
                if (sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
                        sqlite3_reset(st);
                        sqlite3_clear_bindings(st);
                        return db_error(s, err, "begin");
                }
                s->in_txn = true;
        }
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return rc == SQLITE_DONE ? 0 : db_error(s, err, what);
}

int agent_state_put_handle(struct agent_state *s, const char *alloc_id, const char *task, const struct driver_handle *h,
                           struct error *err) {
        sqlite3_stmt *st = s->stmt[S_PUT];
        sqlite3_bind_text(st, 1, alloc_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, task, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, h->driver, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 4, h->pid);
        sqlite3_bind_int64(st, 5, (sqlite3_int64)h->start_ticks);
        sqlite3_bind_int64(st, 6, h->started_at);
        return run(s, st, err, "save task handle");
}

int agent_state_get_handle(struct agent_state *s, const char *alloc_id, const char *task, struct driver_handle *ret,
                           struct error *err) {
        sqlite3_stmt *st = s->stmt[S_GET];
        sqlite3_bind_text(st, 1, alloc_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, task, -1, SQLITE_TRANSIENT);
        int rc = sqlite3_step(st);
        int r = 0;
        if (rc == SQLITE_ROW) {
                struct driver_handle h = {0};
                const unsigned char *d = sqlite3_column_text(st, 0);
                snprintf(h.driver, sizeof(h.driver), "%s", d ? (const char *)d : "");
                h.pid = (int32_t)sqlite3_column_int64(st, 1);
                h.start_ticks = (uint64_t)sqlite3_column_int64(st, 2);
                h.started_at = sqlite3_column_int64(st, 3);
                *ret = h;
        } else if (rc == SQLITE_DONE) {
                r = -ENOENT;
        } else {
                r = db_error(s, err, "read task handle");
        }
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return r;
}

int agent_state_del_handle(struct agent_state *s, const char *alloc_id, const char *task, struct error *err) {
        sqlite3_stmt *st = s->stmt[S_DEL];
        sqlite3_bind_text(st, 1, alloc_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, task, -1, SQLITE_TRANSIENT);
        return run(s, st, err, "forget task handle");
}

int agent_state_del_alloc(struct agent_state *s, const char *alloc_id, struct error *err) {
        sqlite3_stmt *st = s->stmt[S_DEL_ALLOC];
        sqlite3_bind_text(st, 1, alloc_id, -1, SQLITE_TRANSIENT);
        int r = run(s, st, err, "forget allocation");
        if (r < 0)
                return r;
        st = s->stmt[S_DEL_JOB];
        sqlite3_bind_text(st, 1, alloc_id, -1, SQLITE_TRANSIENT);
        if ((r = run(s, st, err, "forget a job no allocation has")) < 0)
                return r;
        st = s->stmt[S_DEL_RESTARTS];
        sqlite3_bind_text(st, 1, alloc_id, -1, SQLITE_TRANSIENT);
        if ((r = run(s, st, err, "forget restart trackers")) < 0)
                return r;
        st = s->stmt[S_DEL_DEF];
        sqlite3_bind_text(st, 1, alloc_id, -1, SQLITE_TRANSIENT);
        return run(s, st, err, "forget allocation definition");
}

int agent_state_put_restart(struct agent_state *s, const char *alloc_id, const char *task,
                            const struct task_restart_state *rs, struct error *err) {
        sqlite3_stmt *st = s->stmt[S_PUT_RESTART];
        sqlite3_bind_text(st, 1, alloc_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, task, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, rs->attempts);
        sqlite3_bind_int64(st, 4, rs->window_start_ns);
        sqlite3_bind_int64(st, 5, rs->next_start_ns);
        return run(s, st, err, "save restart tracker");
}

int agent_state_get_restart(struct agent_state *s, const char *alloc_id, const char *task,
                            struct task_restart_state *ret, struct error *err) {
        sqlite3_stmt *st = s->stmt[S_GET_RESTART];
        sqlite3_bind_text(st, 1, alloc_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, task, -1, SQLITE_TRANSIENT);
        int rc = sqlite3_step(st);
        int r = 0;
        if (rc == SQLITE_ROW) {
                sqlite3_int64 attempts = sqlite3_column_int64(st, 0);
                *ret = (struct task_restart_state){.attempts = attempts < 0         ? 0
                                                               : attempts > INT_MAX ? INT_MAX
                                                                                    : (int)attempts,
                                                   .window_start_ns = sqlite3_column_int64(st, 1),
                                                   .next_start_ns = sqlite3_column_int64(st, 2)};
        } else {
                r = rc == SQLITE_DONE ? -ENOENT : db_error(s, err, "read restart tracker");
        }
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return r;
}

int agent_state_put_alloc(struct agent_state *s, const char *alloc_id, const char *definition, const char *job_key,
                          struct error *err) {
        sqlite3_stmt *st = s->stmt[S_PUT_DEF];
        sqlite3_bind_text(st, 1, alloc_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, definition, -1, SQLITE_TRANSIENT);
        if (job_key)
                sqlite3_bind_text(st, 3, job_key, -1, SQLITE_TRANSIENT);
        return run(s, st, err, "save allocation definition");
}

int agent_state_has_job(struct agent_state *s, const char *job_key, struct error *err) {
        sqlite3_stmt *st = s->stmt[S_HAS_JOB];
        sqlite3_bind_text(st, 1, job_key, -1, SQLITE_TRANSIENT);
        int rc = sqlite3_step(st);
        int r = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : db_error(s, err, "look up a job");
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return r;
}

int agent_state_put_job(struct agent_state *s, const char *job_key, const char *definition, struct error *err) {
        sqlite3_stmt *st = s->stmt[S_PUT_JOB];
        sqlite3_bind_text(st, 1, job_key, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, definition, -1, SQLITE_TRANSIENT);
        return run(s, st, err, "save job definition");
}

/* The allocation's JSON object with "Job": job put first. NULL when out of memory. */
static char *with_job(const char *def, const char *job) {
        while (*def == ' ' || *def == '\n' || *def == '\t')
                def++;
        if (*def != '{')
                return NULL;
        def++;
        const char *rest = def;
        while (*rest == ' ' || *rest == '\n' || *rest == '\t')
                rest++;
        char *out = NULL;
        return asprintf(&out, "{\"Job\":%s%s%s", job, *rest == '}' ? "" : ",", def) < 0 ? NULL : out;
}

int agent_state_get_alloc(struct agent_state *s, const char *alloc_id, char **ret, struct error *err) {
        sqlite3_stmt *st = s->stmt[S_GET_DEF];
        sqlite3_bind_text(st, 1, alloc_id, -1, SQLITE_TRANSIENT);
        int rc = sqlite3_step(st);
        int r = 0;
        if (rc == SQLITE_ROW) {
                const unsigned char *d = sqlite3_column_text(st, 0);
                const unsigned char *j = sqlite3_column_text(st, 1);
                *ret = j ? with_job(d ? (const char *)d : "{}", (const char *)j) : strdup(d ? (const char *)d : "");
                if (!*ret)
                        r = j ? errorf(err, -EINVAL, "allocation %s: its saved definition is not a JSON object",
                                       alloc_id)
                              : errorf(err, -ENOMEM, "out of memory");
        } else if (rc == SQLITE_DONE) {
                r = -ENOENT;
        } else {
                r = db_error(s, err, "read allocation definition");
        }
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return r;
}

int agent_state_count_handles(struct agent_state *s, const char *alloc_id, struct error *err) {
        sqlite3_stmt *st = s->stmt[S_COUNT];
        sqlite3_bind_text(st, 1, alloc_id, -1, SQLITE_TRANSIENT);
        int rc = sqlite3_step(st);
        int r = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : db_error(s, err, "count task handles");
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return r;
}

/* fn(alloc_id) for each row of st (alloc_id in column 0); see agent_state_foreach_alloc. */
static int foreach_id(struct agent_state *s, sqlite3_stmt *st, int (*fn)(const char *alloc_id, void *data), void *data,
                      struct error *err, const char *what) {
        int rc = SQLITE_DONE, r = 0;
        while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
                const unsigned char *id = sqlite3_column_text(st, 0);
                if (id)
                        r = fn((const char *)id, data);
        }
        if (r == 0 && rc != SQLITE_DONE)
                r = db_error(s, err, what);
        sqlite3_reset(st);
        return r;
}

int agent_state_foreach_alloc(struct agent_state *s, int (*fn)(const char *alloc_id, void *data), void *data,
                              struct error *err) {
        return foreach_id(s, s->stmt[S_ALLOCS], fn, data, err, "list allocations with task handles");
}

int agent_state_foreach_idle_alloc(struct agent_state *s, int (*fn)(const char *alloc_id, void *data), void *data,
                                   struct error *err) {
        return foreach_id(s, s->stmt[S_IDLE_DEFS], fn, data, err, "list allocation definitions without handles");
}
