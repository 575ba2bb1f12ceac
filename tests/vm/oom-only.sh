#!/bin/sh
# oom-only.sh BIN_DIR - run only the OOM block of tests/vm/init.sh in the VM (a
# few minutes less than the whole tier): init.sh's setup up to its first job,
# then the lines between "---- oom: BEGIN" and "---- oom: END".
set -eu
here=$(cd "$(dirname "$0")" && pwd)
init=$(mktemp /tmp/drover-vm-oom.XXXXXX)
trap 'rm -f "$init"' EXIT
sed -n '1,/^job probe batch/p' "$here/init.sh" | sed '$d' >"$init"
sed -n '/^# ---- oom: BEGIN/,/^# ---- oom: END/p' "$here/init.sh" >>"$init"
printf '%s\n' 'echo "---- agent log (tail)"' 'tail -n 15 /tmp/agent.log' 'echo "VMTEST END"' 'poweroff -f' >>"$init"
VM_INIT="$init" "$here/run.sh" "$1"
