# shellcheck shell=bash
# ports.sh - picking free TCP ports on 127.0.0.1, the one definition the test and bench
# scripts share (sourced, not run; bash: /dev/tcp, local). tests/integration/lib.sh and
# tests/security/lib.sh source it, so their scripts have it; the cluster scripts and the
# bench/ scripts source it themselves (from the repository: nothing else is needed).
# Each script keeps its own port base variable and range and passes them to pick_port.

# port_listens PORT: a connection to it is accepted.
port_listens() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# port_free PORT: nothing listens on it and no socket uses it, at either end, in any
# state (not even one in TIME_WAIT, which would make bind fail: test ports may lie in
# the kernel's ephemeral range, where an outgoing connection may hold one and
# connecting would not tell). Without ss, only the first test.
port_free() {
        ! port_listens "$1" &&
                { ! command -v ss >/dev/null || [ -z "$(ss -Htan "( sport = :$1 or dport = :$1 )" 2>/dev/null)" ]; }
}

# pick_port BASE SPAN OFFSET...: set PORT to a port in [BASE, BASE + SPAN) with PORT and
# PORT + each OFFSET free; PORT_TRIES (default 50) tries. 0; 1 when none was free (PORT
# is then the last one tried: a caller that goes on anyway finds out at bind).
pick_port() {
        local base=$1 span=$2 o ok
        shift 2
        for _ in $(seq 1 "${PORT_TRIES:-50}"); do
                PORT=$((base + RANDOM % span))
                ok=1
                for o in 0 "$@"; do
                        port_free $((PORT + o)) || {
                                ok=0
                                break
                        }
                done
                [ $ok = 1 ] && return 0
        done
        return 1
}

# pick_servers BASE SPAN N [OFFSET...]: the port layout of the scripts that start N servers
# on 127.0.0.1: server I (from 0) serves HTTP on P + 1 + 10 I and Raft on P + 2 + 10 I.
# Sets P (a base with those ports and each extra OFFSET from it free, as pick_port), defines
# `http I` and `raft I` (each prints 127.0.0.1:PORT; defined here, so a script that has its
# own layout keeps its own) and JOIN (the first three servers' HTTP addresses, the -join
# list). Returns pick_port's status.
# shellcheck disable=SC2034,SC2317 # JOIN, http and raft are for the caller
pick_servers() {
        local base=$1 span=$2 n=$3 i r offsets=()
        shift 3
        for ((i = 0; i < n; i++)); do offsets+=($((1 + i * 10)) $((2 + i * 10))); done
        pick_port "$base" "$span" "${offsets[@]}" "$@"
        r=$?
        P=$PORT
        http() { echo "127.0.0.1:$((P + 1 + $1 * 10))"; }
        raft() { echo "127.0.0.1:$((P + 2 + $1 * 10))"; }
        JOIN="$(http 0),$(http 1),$(http 2)"
        return $r
}
