#!/bin/sh
# dev.sh BIN_DIR - what `make dev` runs: start `drover dev` in the background,
# run examples/hello.hcl, print what its three allocations said, and leave the
# cluster running.
set -eu
bin=$(cd "$1" && pwd)
port=${DROVER_DEV_PORT:-4646}
addr="http://127.0.0.1:$port"
state=${TMPDIR:-/tmp}/drover-dev.pid
log=${TMPDIR:-/tmp}/drover-dev.log

if [ -f "$state" ] && kill -0 "$(cat "$state")" 2>/dev/null; then
        echo "==> A drover dev cluster is already running (pid $(cat "$state")); reusing it."
else
        if curl -fs "$addr/v1/status/leader" >/dev/null 2>&1; then
                echo "error: something else already answers on $addr; stop it or set DROVER_DEV_PORT" >&2
                exit 1
        fi
        nohup "$bin/drover" dev -port="$port" >"$log" 2>&1 &
        echo $! >"$state"
        i=0
        until grep -q "cluster running" "$log" 2>/dev/null; do
                i=$((i + 1))
                if [ $i -gt 150 ] || ! kill -0 "$(cat "$state")" 2>/dev/null; then
                        echo "error: drover dev did not start; its output:" >&2
                        cat "$log" >&2
                        exit 1
                fi
                sleep 0.2
        done
        cat "$log"
fi

export DROVER_ADDR="$addr"
echo
echo "==> drover job run examples/hello.hcl"
"$bin/drover" job run examples/hello.hcl
echo
# Wait for the three batch allocations to finish, then show what each printed.
i=0
while :; do
        done_count=$(curl -fs "$addr/v1/job/hello/allocations" | grep -o '"ClientStatus":"complete"' | wc -l)
        [ "$done_count" -ge 3 ] && break
        i=$((i + 1))
        if [ $i -gt 100 ]; then
                echo "error: the hello allocations did not complete; see $log" >&2
                "$bin/drover" job status hello >&2 || true
                exit 1
        fi
        sleep 0.2
done
echo "==> drover job status hello"
"$bin/drover" job status hello
echo
echo "==> Output of each allocation (drover alloc logs <id>):"
for id in $(curl -fs "$addr/v1/job/hello/allocations" | grep -o '"ID":"[0-9a-f-]*"' | cut -d'"' -f4); do
        printf '    %s: ' "$(echo "$id" | cut -c1-8)"
        "$bin/drover" alloc logs "$id"
done
cat <<MSG

==> The dev cluster is still running (pid $(cat "$state"), log $log).
    Use it:   export DROVER_ADDR=$addr; $bin/drover job status
    Stop it:  kill $(cat "$state")     (or: make dev-stop)
MSG
