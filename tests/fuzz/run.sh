#!/bin/sh
# run.sh - build each libFuzzer target with clang and run it for a bounded time:
# fuzz_jobspec (HCL job files), fuzz_model_json (the JSON decoders), fuzz_api
# (HTTP request sequences through the routes and the FSM; a 4xx must change nothing),
# fuzz_acl_policy (ACL policies: parse, merge, checks), fuzz_http (the HTTP
# listener itself, controlplane/api/http.c: raw request bytes, 413, parked and
# held requests, streams, the server stopped under them) and fuzz_agent_logs (the
# agent's log endpoint: targets, offsets, origins, ../ and symlinks) and
# fuzz_plan_codec (the binary plan result of the Raft log and of a follower's plan:
# corrupt bytes refused, built results round-trip exactly).
# FUZZ_SECONDS (default 60, CI's budget) per target; FUZZ_TARGETS="fuzz_http ..."
# runs only those. Seeds: the conformance corpus and tests/fuzz/*-seeds; every
# input in tests/fuzz/regressions/<target>/ (crashes found and fixed) is run once
# first and must pass. FUZZ_SANITIZER=thread builds the targets with
# ThreadSanitizer instead of ASan/UBSan (make unit-tsan, for fuzz_http and
# fuzz_agent_logs: the listener threads against the loop thread), into build/fuzz-tsan.
set -eu
cd "$(dirname "$0")/../.."
secs=${FUZZ_SECONDS:-60}
san=${FUZZ_SANITIZER:-address,undefined}
out=build/fuzz
[ "$san" = thread ] && out=build/fuzz-tsan
mkdir -p "$out"
scripts/deps.sh clang libclang-rt-14-dev
PKGS="jansson raft libuv libcurl gnutls libmicrohttpd"
CFLAGS="-g -O1 -std=gnu11 -D_GNU_SOURCE -I. -fsanitize=fuzzer,$san $(pkg-config --cflags $PKGS)"
LIBS="$(pkg-config --libs $PKGS) -lm -lpthread"
# The job-file and JSON targets need the model and parsers; the API target the
# routes, the FSM and the state store behind the in-process harness.
common="common/*.c" # every file of common/: a hand-kept list broke each time a file was added
api="common/*.c controlplane/state/*.c controlplane/api/routes*.c controlplane/api/hold.c controlplane/api/http_req.c controlplane/api/job_fields.c controlplane/raft/fsm*.c controlplane/raft/batch.c controlplane/raft/raft_node.c controlplane/raft/segment_alloc.c controlplane/raft/transport_tls.c controlplane/raft/transport_guard.c controlplane/raft/frame_guard.c
     controlplane/leader/*.c controlplane/plan/*.c controlplane/scheduler/*.c
     controlplane/acl/*.c controlplane/events/*.c tests/support/api_harness.c"
status=0
for t in tests/fuzz/fuzz_*.c; do
        name=$(basename "$t" .c)
        if [ -n "${FUZZ_TARGETS:-}" ] && ! printf ' %s ' "$FUZZ_TARGETS" | grep -q " $name "; then
                continue
        fi
        echo "==> $name ($secs s)"
        corpus="$out/$name.corpus"
        mkdir -p "$corpus"
        case "$name" in
        fuzz_api)
                # shellcheck disable=SC2086
                clang $CFLAGS $api "$t" $LIBS -o "$out/$name"
                cp tests/fuzz/api-seeds/* "$corpus/"
                ;;
        fuzz_acl_policy)
                # shellcheck disable=SC2086
                clang $CFLAGS $common controlplane/acl/*.c "$t" $LIBS -o "$out/$name"
                cp tests/fuzz/acl-seeds/* "$corpus/"
                ;;
        fuzz_http)
                # shellcheck disable=SC2086
                clang $CFLAGS $common controlplane/api/http.c controlplane/api/http_req.c "$t" $LIBS -o "$out/$name"
                cp tests/fuzz/http-seeds/* "$corpus/"
                ;;
        fuzz_agent_logs)
                # shellcheck disable=SC2086
                clang $CFLAGS $common nodeagent/logs/log_api.c nodeagent/logs/logmeta.c nodeagent/drivers/task_stats.c "$t" $LIBS -o "$out/$name"
                cp tests/fuzz/agent-logs-seeds/* "$corpus/"
                ;;
        fuzz_plan_codec)
                # shellcheck disable=SC2086
                clang $CFLAGS $common controlplane/plan/codec.c controlplane/scheduler/plan.c "$t" $LIBS -o "$out/$name"
                cp tests/fuzz/plan-seeds/* "$corpus/"
                ;;
        fuzz_jobspec)
                # shellcheck disable=SC2086
                clang $CFLAGS $common "$t" $LIBS -o "$out/$name"
                cp tests/conformance/nomad-jobspecs/*.hcl tests/conformance/nomad-jobspecs/*.nomad \
                   tests/fuzz/jobspec-seeds/*.hcl "$corpus/" 2>/dev/null || true
                ;;
        *)
                # shellcheck disable=SC2086
                clang $CFLAGS $common "$t" $LIBS -o "$out/$name"
                cp tests/conformance/nomad-jobspecs/*.json "$corpus/" 2>/dev/null || true
                ;;
        esac
        regs=tests/fuzz/regressions/$name
        if [ -d "$regs" ] && [ -n "$(ls -A "$regs")" ] && ! "$out/$name" -runs=50 "$regs"/* >"$out/$name.regressions.log" 2>&1; then
                echo "FAIL: $name: a kept regression input fails again; see $out/$name.regressions.log"
                tail -n 40 "$out/$name.regressions.log"
                status=1
                continue
        fi
        if ! "$out/$name" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -artifact_prefix="$out/$name-" "$corpus" >"$out/$name.log" 2>&1; then
                echo "FAIL: $name found a crash; see $out/$name.log"
                tail -n 40 "$out/$name.log"
                status=1
        else
                grep -E "^#[0-9]+ *DONE" "$out/$name.log" || tail -n 1 "$out/$name.log"
        fi
done
exit $status
