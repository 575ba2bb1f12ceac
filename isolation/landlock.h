/* landlock.h - confine the task's filesystem access with Landlock (5.13+).
 *
 * Raw syscalls (no library exists in Debian). The ruleset is created in the
 * parent; its rules name paths inside the task's root, so the child opens
 * them (O_PATH) and adds them after pivot_root, then restricts itself.
 * Rules are "MODE:PATH" with MODE letters r (read), w (write), x (execute),
 * c (create/remove), as exec2's unveil list.
 */
#pragma once

#include <stdint.h>

struct error;
struct landlock_ruleset;

/* The kernel's Landlock ABI version, or negative (-EOPNOTSUPP: disabled at
 * boot, -ENOSYS: not built in). */
int landlock_abi(void);

/* Parse "rwc:/path"; ret_access gets the access bits. */
int landlock_rule_parse(const char *rule, uint64_t *ret_access, const char **ret_path, struct error *err);

/* A ruleset allowing rules[] (NULL-terminated "MODE:PATH") and nothing else. */
int landlock_ruleset_create(const char *const *rules, struct landlock_ruleset **ret, struct error *err);
int landlock_ruleset_count(const struct landlock_ruleset *r);
/* In the child, after pivot_root and no_new_privs: add the rules and restrict. */
int landlock_ruleset_apply(const struct landlock_ruleset *r);

struct landlock_ruleset *landlock_ruleset_free(struct landlock_ruleset *r);
static inline void landlock_ruleset_freep(struct landlock_ruleset **r) {
        landlock_ruleset_free(*r);
}
