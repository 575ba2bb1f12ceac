#!/bin/bash
# Blocking queries of clients that went away (docs/security.md, "Floods"). A
# drover-server with -http-max-parked 8; 8 curls park GET /v1/jobs?index=N&wait=5m,
# which fills the bound (a 9th is answered 503 at once). The curls are killed:
# within a few seconds the server has released their queries (/v1/metrics:
# drover.http.parked_queries back to 0, drover.http.parked_client_gone 8), not
# after their 5 minutes, and a new blocking query is parked and answered again.
# Usage: tests/security/parked.sh BIN_DIR
# Ports: DROVER_TEST_PORT_BASE (else PORT_LO, lib.sh) .. +999. Bounded: about 30 s.
set -u
BIN=$(cd "${1:-build/bin}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
MAXP=8
start_test parked 2
log "== drover parked blocking queries test (work dir $WORK, API $ADDR)"
start_server -http-max-parked $MAXP

metric() { # metric NAME: its value in /v1/metrics (Prometheus format: dots become _), as an integer
        curl -fs -m 5 "$ADDR/v1/metrics?format=prometheus" | awk -v n="$(echo "$1" | tr . _)" '$1 == n {print int($2)}'
}
idx=$(curl -fs -m 5 -D - -o /dev/null "$ADDR/v1/jobs" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-nomad-index" {print $2}')
[ -n "$idx" ] || { fail "X-Nomad-Index of GET /v1/jobs"; exit 1; }
curls=()
for i in $(seq 1 $MAXP); do
        curl -s -m 600 -o /dev/null "$ADDR/v1/jobs?index=$idx&wait=5m" &
        curls+=($!)
        pids+=($!)
done
parked_full() { [ "$(metric drover.http.parked_queries)" = $MAXP ]; }
if wait_for 10 parked_full; then
        code=$(curl -s -m 5 -o "$WORK/over" -w '%{http_code}' "$ADDR/v1/jobs?index=$idx&wait=5m")
        if [ "$code" = 503 ]; then
                pass "$MAXP blocking queries parked (drover.http.parked_queries=$(metric drover.http.parked_queries)); one more is refused: 503 ($(head -c 120 "$WORK/over"))"
        else
                fail "a blocking query beyond -http-max-parked $MAXP: 503 (got $code)"
        fi
else
        fail "$MAXP blocking queries parked (drover.http.parked_queries=$(metric drover.http.parked_queries))"
fi
t0=$(date +%s%N)
kill -9 "${curls[@]}" 2>/dev/null
wait "${curls[@]}" 2>/dev/null
released() { [ "$(metric drover.http.parked_queries)" = 0 ] && [ "$(metric drover.http.parked_client_gone)" = $MAXP ]; }
if wait_for 10 released; then
        pass "the $MAXP curls killed: their queries released after $((($(date +%s%N) - t0) / 1000000)) ms (parked_queries=$(metric drover.http.parked_queries), parked_client_gone=$(metric drover.http.parked_client_gone)), not after their 5 m wait"
else
        fail "the $MAXP curls killed: their queries released within 10 s (parked_queries=$(metric drover.http.parked_queries), parked_client_gone=$(metric drover.http.parked_client_gone))"
fi
# the listener's slots are free again: a new blocking query is parked and answered when its wait ends
t1=$(date +%s%N)
code=$(curl -s -m 20 -o /dev/null -w '%{http_code}' "$ADDR/v1/jobs?index=$idx&wait=2s")
ms=$((($(date +%s%N) - t1) / 1000000))
if [ "$code" = 200 ] && [ $ms -ge 1500 ]; then
        pass "a new blocking query (wait=2s) is parked and answered 200 after $ms ms"
else
        fail "a new blocking query (wait=2s) is parked and answered 200 after about 2 s (got $code after $ms ms)"
fi
end_test
