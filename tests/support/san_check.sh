#!/bin/sh
# san_check.sh LOG... - the verdict on the sanitizer reports in a run's output (the
# Makefile's unit-asan keeps it): any AddressSanitizer error, UBSan runtime error or
# leak of ours fails (exit 1, the offending reports named). Criterion runs
# each test in a forked worker whose leaks never changed its exit status, so without
# this check a leak in a test or in drover's code only printed. One leak is not ours:
# Criterion 2.4's runner leaks 48 bytes of its timeout bookkeeping when two suites
# with .timeout run in parallel; a leak whose every frame past the allocator lies in
# libcriterion is noted, not failed.
set -eu
status=0
for f in "$@"; do
        if [ ! -r "$f" ]; then
                echo "san_check: no run output at $f"
                status=1
                continue
        fi
        verdict=$(awk '
                /ERROR: AddressSanitizer|runtime error:/ { bad = 1 }
                /^(Direct|Indirect) leak of/ { inleak = 1; ours = 0; next }
                inleak && /^ +#[0-9]+ / {
                        if ($1 != "#0" && $0 !~ /libcriterion\.so/) ours = 1
                        next
                }
                inleak { if (ours) bad = 1; else crit++; inleak = 0 }
                END { if (inleak && ours) bad = 1; if (inleak && !ours) crit++; print (bad ? "bad" : "ok") " " crit + 0 }
        ' "$f")
        case "$verdict" in
        bad*)
                echo "san_check: $f holds a sanitizer report of ours (above, or in $f):"
                grep -n -A12 -E "ERROR: AddressSanitizer|runtime error:|^(Direct|Indirect) leak of" "$f" | head -60
                status=1
                ;;
        *)
                n=${verdict#ok }
                [ "$n" = 0 ] || echo "san_check: $f: $n leak(s) inside libcriterion only (Criterion 2.4's runner), not ours"
                ;;
        esac
done
exit $status
