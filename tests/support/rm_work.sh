#!/bin/bash
# rm_work.sh DIR...: remove a test's work dirs, first detaching every mount under them,
# deepest first. An agent running as root mounts a tmpfs on each running task's
# secrets/; a stopped agent leaves those for its successor, so rm -rf alone would fail
# on them (EBUSY) and leave the mounts and the dirs behind.
for d in "$@"; do
        [ -n "$d" ] && [ -d "$d" ] || continue
        d=$(readlink -f "$d")
        awk -v w="$d/" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
                while read -r m; do umount -l "$m" 2>/dev/null; done
        rm -rf "$d"
done
