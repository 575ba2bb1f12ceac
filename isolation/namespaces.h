/* namespaces.h - which namespaces a task gets, as clone3 flags.
 *
 * pid, mount, uts and ipc always; network optional (host network by default);
 * (user namespaces are not offered yet: the task runs as a plain non-root uid).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct error;

struct ns_options {
        bool net;  /* a new, empty network namespace (loopback only) */
};

uint64_t namespaces_clone_flags(const struct ns_options *o);
/* Does the kernel offer every namespace of flags (/proc/self/ns/...)? */
int namespaces_check(uint64_t flags, struct error *err);
/* "pid,mnt,uts,ipc" (tests, diagnostics). */
void namespaces_format(uint64_t flags, char *buf, unsigned long size);
