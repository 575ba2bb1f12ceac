#!/bin/sh
# deps.sh PKG... - install the Debian packages that are missing.
# As root: apt-get update (once, when needed) and apt-get install -y.
# Not root: print the exact command to run and fail.
set -eu
missing=""
for p in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
                missing="$missing $p"
        fi
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
        echo "drover: missing Debian packages. Run as root:" >&2
        echo "  apt-get install -y$missing" >&2
        exit 1
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y --no-install-recommends $missing >/tmp/drover-apt.log 2>&1; then
        apt-get update >/tmp/drover-apt-update.log 2>&1 || { cat /tmp/drover-apt-update.log >&2; exit 1; }
        apt-get install -y --no-install-recommends $missing || exit 1
fi
