/* util.h - small file-system helpers shared by the agent's modules. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* mkdir -p; returns 0 or negative errno. */
int mkdir_p(const char *path, mode_t mode);

/* Read a small text file into buf (NUL-terminated, trailing newline kept).
 * Returns the length or negative errno. */
ssize_t read_small_file(const char *path, char *buf, size_t size);
