/* caps.h - the task's capabilities: Nomad exec's default set, the rest dropped.
 *
 * Names are parsed and printed with libcap in the parent; the child applies a
 * precomputed 64-bit mask with raw prctl/capset calls (async-signal-safe).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct error;

/* Nomad's exec default: audit_write chown dac_override fowner fsetid kill mknod
 * net_bind_service setfcap setgid setpcap setuid sys_chroot. */
uint64_t caps_default_mask(void);

/* The default mask plus add[] minus drop[] (NULL-terminated, names with or
 * without "CAP_", any case; "all" in drop clears everything first). */
int caps_compute(const char *const *add, const char *const *drop, uint64_t *ret, struct error *err);

/* "cap_chown,cap_kill" (libcap's names), "" for none; -ENOSPC when it does not fit. */
int caps_format(uint64_t mask, char *buf, size_t size);

/* The highest capability this kernel knows (/proc/sys/kernel/cap_last_cap). */
int caps_last_cap(void);

/* In the child, async-signal-safe. */
/* Drop every bounding capability not in keep, up to last_cap. */
int caps_drop_bounding(uint64_t keep, int last_cap);
/* Set effective, permitted and inheritable to mask and raise it as ambient
 * (so that it survives execve of a non-root user's program). */
int caps_apply(uint64_t mask, int last_cap);
