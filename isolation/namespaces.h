/* namespaces.h - which namespaces a task gets, as clone3 flags.
 *
 * pid, mount, uts and ipc always; network optional (host network by default);
 * user optional (off by default): the task's uid and gid are the only ids
 * mapped (to themselves), so the capabilities it holds count inside its own
 * namespaces and on its own files only, not on the host's (root-owned) ones.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct error;

struct ns_options {
        bool net;  /* a new, empty network namespace (loopback only) */
        bool user; /* a new user namespace (process.c writes the id maps) */
};

uint64_t namespaces_clone_flags(const struct ns_options *o);
/* Does the kernel offer every namespace of flags (/proc/self/ns/...)? */
int namespaces_check(uint64_t flags, struct error *err);
/* "pid,mnt,uts,ipc" (tests, diagnostics). */
void namespaces_format(uint64_t flags, char *buf, unsigned long size);
