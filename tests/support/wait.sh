# wait.sh - the bounded poll the test scripts share (sourced, not run: tests/integration/lib.sh
# and tests/security/lib.sh source it, so their scripts have it, tests/api/ too;
# bench/agent.sh sources it itself). tests/vm/init.sh keeps its own: it runs as PID 1
# in the VM's busybox initramfs, and tests/vm/run.sh copies no file of tests/support there.
#
# wait_for SECONDS COMMAND...: run COMMAND (its output discarded) every 0.1 s until it
# succeeds: 0 then. After SECONDS * 10 tries it gives up: it says on stderr what it waited
# for (the command, or WAIT_WHAT when set) and returns 1, and the caller reports the
# failure. The bound counts tries, not the wall clock, so that a loaded machine, where
# each try is slow, gets more time rather than less; a try is bounded only if COMMAND is
# (give curl its -m). COMMAND may be a shell function: name one after what it checks
# (`canary_ready`), and the message reads as what was awaited.
# Its counter has a name of its own: bash's locals are dynamically scoped, so a
# COMMAND function looping with a non-local `i` would reset a counter named i and
# make the wait endless (seen: tests/security/tls.sh's replicated, session 26).
wait_for() {
        local secs=$1 limit=$(($1 * 10)) wait_for_tries=0
        shift
        until "$@" >/dev/null 2>&1; do
                wait_for_tries=$((wait_for_tries + 1))
                if [ $wait_for_tries -ge $limit ]; then
                        local what=${WAIT_WHAT:-$*}
                        printf 'wait_for: gave up after %s s (%d tries) waiting for: %.300s\n' "$secs" "$wait_for_tries" "$what" >&2
                        return 1
                fi
                sleep 0.1
        done
}
