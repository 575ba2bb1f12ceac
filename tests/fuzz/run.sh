#!/bin/sh
# run.sh - build each libFuzzer target with clang and run it for a bounded time.
# FUZZ_SECONDS (default 30) per target; seeds come from the conformance corpus.
set -eu
cd "$(dirname "$0")/../.."
secs=${FUZZ_SECONDS:-30}
out=build/fuzz
mkdir -p "$out"
scripts/deps.sh clang libclang-rt-14-dev
CFLAGS="-g -O1 -std=gnu11 -D_GNU_SOURCE -I. -fsanitize=fuzzer,address,undefined $(pkg-config --cflags jansson)"
LIBS="$(pkg-config --libs jansson)"
common="common/error.c common/jsonx.c common/model.c common/model_json.c common/hcl.c common/jobspec.c"
[ -f common/jobspec_schema.c ] && common="$common common/jobspec_schema.c"
status=0
for t in tests/fuzz/fuzz_*.c; do
        name=$(basename "$t" .c)
        echo "==> $name ($secs s)"
        clang $CFLAGS $common "$t" $LIBS -o "$out/$name"
        corpus="$out/$name.corpus"
        mkdir -p "$corpus"
        if [ "$name" = fuzz_jobspec ]; then
                cp ../shared/conformance/nomad-jobspecs/*.hcl ../shared/conformance/nomad-jobspecs/*.nomad "$corpus/" 2>/dev/null || true
        else
                cp ../shared/conformance/nomad-jobspecs/*.json "$corpus/" 2>/dev/null || true
        fi
        if ! "$out/$name" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 "$corpus" >"$out/$name.log" 2>&1; then
                echo "FAIL: $name found a crash; see $out/$name.log"
                tail -n 40 "$out/$name.log"
                status=1
        else
                grep -E "^#[0-9]+ *DONE" "$out/$name.log" || tail -n 1 "$out/$name.log"
        fi
done
exit $status
