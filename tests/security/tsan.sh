#!/bin/bash
# ThreadSanitizer over real daemons: tests/integration/run.sh (server, agent, CLI,
# jobs of every driver, restarts, SIGTERM) against the ThreadSanitizer build of
# drover-server, drover-agent and drover (make integration-tsan builds them into
# build/tsan/bin). Every report fails the run (a check that misses its deadline
# in the slowed daemons does not); suppressions (tests/security/tsan.supp) name
# third-party libraries only. About 9 minutes on the shared 2-core host.
# Usage: tests/security/tsan.sh BIN_DIR
set -u
BIN=$(cd "${1:-build/tsan/bin}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK=$(mktemp -d /tmp/drover-tsan-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
# Reports go to files (one per process) as they happen: a process killed with
# SIGKILL at the end of a test has written its reports already.

# First, common/tsan_close.c (libuv closes fds where TSan cannot see: the daemons
# link a syscall() that shows it): tests/security/tsan_fd.c replays CI's race
# between a closed libuv pipe and another thread's accept4. Without the shim TSan
# must report it (so the check can fail), with it nothing; and each daemon must
# carry the shim.
fd_check() { # $1: name, then extra sources
        local name=$1
        shift
        cc -D_GNU_SOURCE -I"$ROOT" -O1 -g -fsanitize=thread "$HERE/tsan_fd.c" "$@" -o "$WORK/$name" \
                $(pkg-config --cflags --libs libuv) -lpthread &&
                TSAN_OPTIONS="exitcode=66 suppressions=$HERE/tsan.supp" "$WORK/$name" >"$WORK/$name.log" 2>&1
}
fd_check tsan_fd_bare
bare=$?
fd_check tsan_fd_shim "$ROOT/common/tsan_close.c"
shim=$?
if [ "$bare" != 66 ] || [ "$shim" != 0 ]; then
        echo "FAIL: tsan_fd: without common/tsan_close.c exit $bare (want 66, a report), with it exit $shim (want 0)"
        cat "$WORK"/tsan_fd_*.log
        exit 1
fi
for b in drover-server drover-agent drover; do
        if ! nm "$BIN/$b" | grep -qE ' T syscall$'; then
                echo "FAIL: $BIN/$b does not define common/tsan_close.c's syscall()"
                exit 1
        fi
done
echo "PASS: tsan_fd: the race of a libuv-closed fd is reported without common/tsan_close.c and not with it; the daemons link it"

export TSAN_OPTIONS="log_path=$WORK/report halt_on_error=0 second_deadlock_stack=1 suppressions=$HERE/tsan.supp ${TSAN_OPTIONS:-}"
start=$(date +%s)
"$ROOT/tests/integration/run.sh" "$BIN"
rc=$?
secs=$(($(date +%s) - start))
reports=$(ls "$WORK"/report.* 2>/dev/null)
if [ -n "$reports" ]; then
        echo "FAIL: ThreadSanitizer reported in $(echo "$reports" | wc -l) process(es) (integration run: ${secs} s):"
        cat "$WORK"/report.* | grep -E "^SUMMARY" | sort | uniq -c
        echo "--- the first report"
        sed -n '1,80p' "$(echo "$reports" | head -n 1)"
        exit 1
fi
# The daemons run 5 to 15 times slower under ThreadSanitizer: checks with 1 s
# heartbeat TTLs and election timeouts may miss their deadlines. make integration
# holds those checks; this tier fails on ThreadSanitizer reports (and on a daemon
# that crashed: TSan reports a deadly signal too).
if [ "$rc" != 0 ]; then
        echo "NOTE: some integration checks missed their deadlines under ThreadSanitizer (see above); make integration runs them at full speed"
fi
echo "PASS: integration run under ThreadSanitizer with no report (${secs} s)"
