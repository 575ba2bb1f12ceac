/* user.h - who the task runs as: a named user, or a dynamic workload UID/GID
 * taken from a configured range, unique among running tasks (as Nomad's exec2).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct error;
struct uid_pool;

#define UID_POOL_DEFAULT_MIN 80000
#define UID_POOL_DEFAULT_MAX 89999

/* "80000-89999" -> min, max (1 <= min <= max < 2^31, at most 1M ids). */
int uid_range_parse(const char *s, uint32_t *ret_min, uint32_t *ret_max, struct error *err);

int uid_pool_create(uint32_t min, uint32_t max, struct uid_pool **ret, struct error *err);
/* Take the lowest free id; -EBUSY when every id is in use. */
int uid_pool_take(struct uid_pool *p, uint32_t *ret);
/* Mark id as in use (a task an earlier agent started). -ERANGE outside the range. */
int uid_pool_mark(struct uid_pool *p, uint32_t id);
bool uid_pool_contains(const struct uid_pool *p, uint32_t id);
void uid_pool_release(struct uid_pool *p, uint32_t id);
uint32_t uid_pool_in_use(const struct uid_pool *p);
struct uid_pool *uid_pool_free(struct uid_pool *p);

/* A user name or numeric id from the host's user database. */
int user_lookup(const char *name, uid_t *ret_uid, gid_t *ret_gid, struct error *err);

/* The real uid of pid (/proc/<pid>/status). */
int user_of_pid(int pid, uid_t *ret, struct error *err);

/* In the child, async-signal-safe: drop supplementary groups, set gid then uid,
 * keeping the permitted capabilities for caps_apply(). */
int user_switch(uid_t uid, gid_t gid);

/* A new user namespace's id maps (pid: its first process, written by the
 * parent): the task's uid and gid map to themselves, one id each. Host root
 * is not mapped, so the task's capabilities count only for what its own
 * namespaces and its own uid own, never for the host's files. */
int user_ns_map(int pid, uid_t uid, gid_t gid, struct error *err);
